//! What the pane draws over the terminal contents: the UI's banner, the scrollback badge
//! and the exit line. Overlays never change the PTY size, so a banner appearing during a
//! model switch does not make the program redraw.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Overlays<'a> {
    /// A line the UI wants shown (e.g. "switching to qwen3…"), centred on the top row.
    pub banner: Option<&'a str>,
    /// Lines scrolled back from the live screen; a badge shows when non-zero.
    pub scrollback: usize,
    /// How the program ended, with the restart hint, on the bottom row.
    pub exit: Option<String>,
}

pub fn draw(o: &Overlays<'_>, area: Rect, buf: &mut Buffer) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    if let Some(banner) = o.banner {
        let text = fit(&format!(" {banner} "), area.width);
        let w = text.chars().count() as u16;
        let x = area.x + (area.width - w) / 2;
        let style = Style::default()
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD);
        // A whole row of its own: no word of the screen below shows beside it.
        buf.set_string(area.x, area.y, " ".repeat(usize::from(area.width)), style);
        buf.set_string(x, area.y, &text, style);
    }
    if o.scrollback > 0 {
        let text = fit(&format!(" ↑ SCROLLBACK {} ", o.scrollback), area.width);
        let w = text.chars().count() as u16;
        let y = if o.banner.is_some() && area.height > 1 {
            area.y + 1
        } else {
            area.y
        };
        buf.set_string(
            area.x + area.width - w,
            y,
            &text,
            Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        );
    }
    if let Some(exit) = &o.exit {
        let y = area.y + area.height - 1;
        let style = Style::default()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD);
        buf.set_string(area.x, y, " ".repeat(usize::from(area.width)), style);
        buf.set_string(area.x, y, fit(&format!(" {exit} "), area.width), style);
    }
}

/// Cuts `s` to `width` cells, ending with `…` when cut. Overlay texts are ours and narrow.
fn fit(s: &str, width: u16) -> String {
    let width = usize::from(width);
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect()
    }

    #[test]
    fn badges_land_where_expected() {
        let area = Rect::new(0, 0, 40, 4);
        let mut buf = Buffer::empty(area);
        draw(
            &Overlays {
                banner: Some("switching to qwen…"),
                scrollback: 12,
                exit: Some("exited with code 1 · r: restart".into()),
            },
            area,
            &mut buf,
        );
        assert_eq!(row(&buf, 0), "           switching to qwen…           ");
        // The banner's colour runs across the whole row (issue 14: a line of its own).
        assert_eq!(buf[(0, 0)].bg, Color::Yellow);
        assert_eq!(buf[(39, 0)].bg, Color::Yellow);
        assert_eq!(row(&buf, 1), "                        ↑ SCROLLBACK 12 ");
        assert_eq!(row(&buf, 3), " exited with code 1 · r: restart        ");
    }

    #[test]
    fn long_texts_are_cut() {
        let area = Rect::new(0, 0, 10, 1);
        let mut buf = Buffer::empty(area);
        draw(
            &Overlays {
                banner: Some("a very long banner text"),
                ..Default::default()
            },
            area,
            &mut buf,
        );
        assert_eq!(row(&buf, 0), " a very l…");
    }
}
