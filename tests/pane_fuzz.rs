//! Property tests: whatever a program writes, and however the pane is resized meanwhile,
//! llws does not go down and the pane keeps working afterwards.

use llws::pty::term::{MIN_COLS, MIN_ROWS, RESET_NOTE, Term};
use proptest::prelude::*;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// Pieces that make escape-sequence-like streams: introducers, parameters, finals, wide and
/// combining characters, controls.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&'static [u8]> = vec![
        b"\x1b[",
        b"\x1b[?",
        b"\x1b[>",
        b"\x1b]",
        b"\x1bP",
        b"\x1b\\",
        b"\x1b",
        b"\x07",
        b";",
        b"0",
        b"1",
        b"2",
        b"5",
        b"9",
        b"47",
        b"1049",
        b"2004",
        b"1000",
        b"1006",
        b"65535",
        b"40000",
        b"h",
        b"l",
        b"r",
        b"m",
        b"H",
        b"J",
        b"K",
        b"L",
        b"M",
        b"P",
        b"@",
        b"X",
        b"S",
        b"T",
        b"A",
        b"B",
        b"C",
        b"D",
        b"G",
        b"d",
        b"n",
        b"c",
        b"u",
        b"q",
        b"t",
        b"7",
        b"8",
        b"#8",
        b"(0",
        b"\r",
        b"\n",
        b"\x08",
        b"\t",
        b"\x0e",
        b"\x0f",
        "中".as_bytes(),
        "😀".as_bytes(),
        "\u{301}".as_bytes(),
        b"x",
    ];
    prop_oneof![
        3 => proptest::sample::select(pieces).prop_map(|p| p.to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..8),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Output(Vec<u8>),
    Resize(u16, u16),
    Scroll(i32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec(token(), 1..40).prop_map(|t| Step::Output(t.concat())),
        2 => (0u16..40, 0u16..100).prop_map(|(r, c)| Step::Resize(r, c)),
        1 => (-20i32..20).prop_map(Step::Scroll),
    ]
}

fn draw(term: &Term) {
    let (rows, cols) = term.size();
    let area = Rect::new(0, 0, cols, rows);
    let mut buf = Buffer::empty(area);
    term.render(area, &mut buf, true);
}

/// After anything, a reset and some text must show up: the pane still works.
fn still_works(term: &mut Term) {
    term.scroll_to_bottom();
    term.process(b"\x1bc\x1b[?1049l\x1b[Halive");
    assert!(
        term.contents().contains("alive"),
        "pane stopped working: {:?}",
        term.contents()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_take_llws_down(bytes in proptest::collection::vec(any::<u8>(), 0..4096), rows in 0u16..60, cols in 0u16..200) {
        let mut term = Term::new(rows, cols, 100);
        term.process(&bytes);
        draw(&term);
        prop_assert!(term.size().0 >= MIN_ROWS && term.size().1 >= MIN_COLS);
        still_works(&mut term);
    }

    #[test]
    fn escape_like_streams_with_resizes_never_take_llws_down(steps in proptest::collection::vec(step(), 1..30)) {
        let mut term = Term::new(24, 80, 50);
        for s in steps {
            match s {
                Step::Output(bytes) => term.process(&bytes),
                Step::Resize(r, c) => { term.resize(r, c); }
                Step::Scroll(d) => term.scroll_by(d),
            }
            let _ = term.take_replies();
            draw(&term);
        }
        still_works(&mut term);
    }
}

/// The proof that the containment is exercised: a known vt100 0.16.2 panic (a wide char cut
/// by a resize, then overwritten), fed through the same path, leaves a working pane with
/// the note.
#[test]
fn a_real_vt100_panic_is_contained_and_noted() {
    let mut term = Term::new(24, 80, 100);
    term.process(b"first line\r\n");
    term.process("\x1b[1;79H中".as_bytes());
    term.resize(24, 79);
    term.process(b"\x1b[1;79Hx");
    assert_eq!(term.resets(), 1);
    assert!(term.contents().contains(RESET_NOTE));
    draw(&term);
    still_works(&mut term);
}
