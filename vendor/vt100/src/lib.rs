//! This crate parses a terminal byte stream and provides an in-memory
//! representation of the rendered contents.
//!
//! # Overview
//!
//! This is essentially the terminal parser component of a graphical terminal
//! emulator pulled out into a separate crate. Although you can use this crate
//! to build a graphical terminal emulator, it also contains functionality
//! necessary for implementing terminal applications that want to run other
//! terminal applications - programs like `screen` or `tmux` for example.
//!
//! # Synopsis
//!
//! ```
//! let mut parser = vt100::Parser::new(24, 80, 0);
//!
//! let screen = parser.screen().clone();
//! parser.process(b"this text is \x1b[31mRED\x1b[m");
//! assert_eq!(
//!     parser.screen().cell(0, 13).unwrap().fgcolor(),
//!     vt100::Color::Idx(1),
//! );
//!
//! let screen = parser.screen().clone();
//! parser.process(b"\x1b[3D\x1b[32mGREEN");
//! assert_eq!(
//!     parser.screen().contents_formatted(),
//!     &b"\x1b[?25h\x1b[m\x1b[H\x1b[Jthis text is \x1b[32mGREEN"[..],
//! );
//! assert_eq!(
//!     parser.screen().contents_diff(&screen),
//!     &b"\x1b[1;14H\x1b[32mGREEN"[..],
//! );
//! ```

#![warn(missing_docs)]
#![warn(clippy::cargo)]
#![warn(clippy::pedantic)]
#![warn(clippy::nursery)]
#![warn(clippy::as_conversions)]
#![warn(clippy::get_unwrap)]
#![allow(clippy::cognitive_complexity)]
#![allow(clippy::missing_const_for_fn)]
#![allow(clippy::similar_names)]
#![allow(clippy::struct_excessive_bools)]
#![allow(clippy::too_many_arguments)]
#![allow(clippy::too_many_lines)]
#![allow(clippy::type_complexity)]

mod attrs;
mod callbacks;
mod cell;
mod compact;
mod grid;
mod parser;
mod perform;
mod row;
mod screen;
mod term;

/// llws: whether the intake fast paths run (see README.llws.md). Always outside tests;
/// the tests turn them off to check that they change nothing.
#[cfg(not(test))]
#[inline(always)]
const fn fast_paths() -> bool {
    true
}

#[cfg(test)]
std::thread_local! {
    static FAST_PATHS: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

#[cfg(test)]
fn fast_paths() -> bool {
    FAST_PATHS.with(std::cell::Cell::get)
}

#[cfg(test)]
mod fast_path_tests {
    /// Everything a reader can see of a screen: every row on view at every scrollback
    /// offset, cell by cell, with the wrap flags, the cursor and the formatted state.
    fn seen(parser: &mut crate::Parser) -> Vec<String> {
        let mut out = Vec::new();
        let (rows, cols) = parser.screen().size();
        for offset in 0..=40 {
            parser.screen_mut().set_scrollback(offset);
            let s = parser.screen();
            out.push(format!("offset {} cursor {:?}", s.scrollback(), s.cursor_position()));
            for r in 0..rows {
                let mut line = format!("{}:", s.row_wrapped(r));
                for c in 0..cols {
                    let cell = s.cell(r, c).unwrap();
                    line.push_str(&format!(
                        "[{}|{}{}|{:?}{:?}{}{}{}{}{}]",
                        cell.contents(),
                        cell.is_wide(),
                        cell.is_wide_continuation(),
                        cell.fgcolor(),
                        cell.bgcolor(),
                        cell.bold(),
                        cell.dim(),
                        cell.italic(),
                        cell.underline(),
                        cell.inverse()
                    ));
                }
                out.push(line);
            }
            out.push(format!("{:?}", s.contents_formatted()));
        }
        parser.screen_mut().set_scrollback(0);
        out
    }

    #[test]
    fn fast_paths_change_nothing() {
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let pieces: &[&str] = &[
            "a", "b", " ", "~", "漢", "字", "\u{301}", "\u{1F600}", "\x1b[31m", "\x1b[0m",
            "\x1b[44m", "\x1b[K", "\x1b[1K", "\x1b[3C", "\x1b[2D", "\r\n", "\n", "\r", "\t",
            "\x1b[@", "\x1b[2P", "\x1b[X", "\x1b[7m", "é", "\x1b[H", "\x1b[5;8H", "\x1b[J",
            "\x1b[2J", "\x1b[L", "\x1b[M", "\x1b[2;4r", "\x1b[r", "\x1bM", "\x1b[?1049h",
            "\x1b[?1049l", "\x1b[S", "\x1b[T", "\x1b[?7l", "\x1b[?7h", "\x08",
            "0123456789", "abcdefghijklmnopqrstuvwxyz",
        ];
        for round in 0..400 {
            let mut input = String::new();
            for _ in 0..(next() % 400) {
                input.push_str(pieces[(next() as usize) % pieces.len()]);
            }
            let (rows, cols) = if round % 2 == 0 { (5, 12) } else { (7, 31) };
            let mut fast = crate::Parser::new(rows, cols, 30);
            let mut slow = crate::Parser::new(rows, cols, 30);
            fast.process(input.as_bytes());
            super::FAST_PATHS.with(|f| f.set(false));
            slow.process(input.as_bytes());
            super::FAST_PATHS.with(|f| f.set(true));
            assert_eq!(seen(&mut fast), seen(&mut slow), "{input:?}");
        }
    }
}

pub use attrs::Color;
pub use callbacks::Callbacks;
pub use cell::Cell;
pub use parser::Parser;
pub use screen::{MouseProtocolEncoding, MouseProtocolMode, Screen};
