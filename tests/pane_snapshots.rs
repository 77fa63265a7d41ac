//! Snapshot tests: recorded output of real programs (tests/data) and crafted sequences fed
//! to the pane's screen, rendered into a ratatui buffer exactly as the pane draws it.

use llws::pty::term::Term;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};

fn render(term: &Term) -> Buffer {
    let (rows, cols) = term.size();
    let area = Rect::new(0, 0, cols, rows);
    let mut buf = Buffer::empty(area);
    term.render(area, &mut buf, true);
    buf
}

fn replay(file: &str, rows: u16, cols: u16) -> (Term, Buffer) {
    let bytes = std::fs::read(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut term = Term::new(rows, cols, 1000);
    // Feed in small chunks, as the reader thread sees them, so sequences split across reads
    // are covered too.
    for chunk in bytes.chunks(61) {
        term.process(chunk);
    }
    assert_eq!(term.resets(), 0, "{file} must not trip the parser");
    let buf = render(&term);
    (term, buf)
}

#[test]
fn bash_session_with_colours() {
    let (_, buf) = replay("bash_colors.raw", 24, 80);
    insta::assert_debug_snapshot!(buf);
    // The prompt's bold green and ls's blue directory, as styles on the cells.
    assert_eq!(buf[(0, 0)].fg, Color::Indexed(2));
    assert!(buf[(0, 0)].modifier.contains(Modifier::BOLD));
}

#[test]
fn less_full_screen() {
    let (term, buf) = replay("less.raw", 24, 80);
    assert!(term.screen().alternate_screen());
    insta::assert_debug_snapshot!(buf);
}

#[test]
fn vim_with_syntax_highlighting() {
    let (term, buf) = replay("vim.raw", 24, 80);
    assert!(term.screen().alternate_screen());
    insta::assert_debug_snapshot!(buf);
}

#[test]
fn claude_code_first_screen() {
    let (term, buf) = replay("claude_start_120x40.raw", 40, 120);
    assert!(
        term.screen().bracketed_paste(),
        "Claude Code asks for bracketed paste"
    );
    assert_eq!(term.title(), "✳ Claude Code");
    insta::assert_debug_snapshot!(buf);
}

#[test]
fn sgr_colours_and_attributes() {
    let mut term = Term::new(8, 40, 0);
    term.process(
        b"\x1b[31mred\x1b[0m \x1b[92mbright\x1b[0m \x1b[38;5;208m208\x1b[0m \x1b[38;2;1;2;3mrgb\x1b[0m \x1b[48;2;250;0;0mbg\x1b[0m\r\n\
          \x1b[1mbold\x1b[0m \x1b[2mdim\x1b[0m \x1b[3mitalic\x1b[0m \x1b[4munder\x1b[0m \x1b[7mrev\x1b[0m\r\n\
          \x1b[1;3;4;38;5;33;48;5;236mall\x1b[0m plain",
    );
    let buf = render(&term);
    insta::assert_debug_snapshot!(buf);
    assert_eq!(buf[(0, 0)].fg, Color::Indexed(1));
    assert_eq!(buf[(4, 0)].fg, Color::Indexed(10));
    assert_eq!(buf[(11, 0)].fg, Color::Indexed(208));
    assert_eq!(buf[(15, 0)].fg, Color::Rgb(1, 2, 3));
    assert_eq!(buf[(19, 0)].bg, Color::Rgb(250, 0, 0));
    for (x, m) in [
        (0, Modifier::BOLD),
        (5, Modifier::DIM),
        (9, Modifier::ITALIC),
        (16, Modifier::UNDERLINED),
        (22, Modifier::REVERSED),
    ] {
        assert!(buf[(x, 1)].modifier.contains(m), "{m:?} at {x}");
    }
}

#[test]
fn wide_characters() {
    let mut term = Term::new(4, 20, 0);
    term.process("中文字 ok\r\n😀🎉 x\r\n123456789012345678中\r\n".as_bytes());
    let buf = render(&term);
    insta::assert_debug_snapshot!(buf);
    assert_eq!(buf[(0, 0)].symbol(), "中");
    assert_eq!(buf[(2, 0)].symbol(), "文");
    assert_eq!(buf[(7, 0)].symbol(), "o");
    assert_eq!(buf[(0, 1)].symbol(), "😀");
    assert_eq!(buf[(5, 1)].symbol(), "x");
    // A wide char that does not fit at the end of a row wraps whole.
    assert_eq!(buf[(18, 2)].symbol(), "中");
}
