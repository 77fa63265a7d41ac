//! Text helpers: sizes in GiB/MiB, cutting to a width, and writing a line into a buffer.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use unicode_width::UnicodeWidthStr;

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
pub const MIB: f64 = 1024.0 * 1024.0;

/// `12.3 GiB`, or `850 MiB` below one GiB.
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", b / MIB)
    }
}

/// `12.3/24.0 GiB`.
pub fn used_of(used: u64, total: u64) -> String {
    if total as f64 >= GIB {
        format!("{:.1}/{:.1} GiB", used as f64 / GIB, total as f64 / GIB)
    } else {
        format!("{:.0}/{:.0} MiB", used as f64 / MIB, total as f64 / MIB)
    }
}

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
        assert_eq!(bytes(98_362_432), "94 MiB");
        assert_eq!(bytes(24 * 1024 * 1024 * 1024), "24.0 GiB");
        assert_eq!(used_of(512 << 20, 1 << 30), "0.5/1.0 GiB");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
