//! Text helpers: sizes (the one formatter, [`crate::util::bytes`]), cutting to a width,
//! word-wrapping, and writing lines into a buffer.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use unicode_width::UnicodeWidthStr;

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
pub const MIB: f64 = 1024.0 * 1024.0;

pub use crate::util::{bytes, used_of};

/// Cuts `s` to at most `width` columns, ending in `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Word-wraps `text` into lines of at most `width` columns, breaking at whitespace; a word
/// longer than a line is cut with [`fit`]. The one wrapper for prose (the picker's
/// description, the claude pane's start error); log lines wrap by cell instead, keeping
/// their styles (see `panes::logs`).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&fit(word, width));
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

/// Writes `lines` into `area`, one per row, cut at its width; returns the rows used.
pub fn put_lines(buf: &mut Buffer, area: Rect, lines: &[Line<'_>]) -> u16 {
    let mut y = 0;
    for line in lines.iter().take(usize::from(area.height)) {
        buf.set_line(area.x, area.y + y, line, area.width);
        y += 1;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cuts() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("abcdefghij x", 5), ["abcd…", "x"]);
        assert!(wrap("  ", 5).is_empty());
    }
}
