//! The one frame every overlay (picker, help, quit, failure details) is drawn in: centred,
//! cleared, a rounded border in the focus colour on the overlay background, a bold title.
//! Its geometry is a function of the screen and the content, so the app computes scroll
//! limits from the same numbers the frame is drawn with.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Widget};

use crate::config::theme::Theme;

/// A `width` × `height` rectangle in the middle of `screen` (both cut to fit).
pub fn centred(screen: Rect, width: u16, height: u16) -> Rect {
    let (width, height) = (width.min(screen.width), height.min(screen.height));
    Rect {
        x: screen.x + (screen.width - width) / 2,
        y: screen.y + (screen.height - height) / 2,
        width,
        height,
    }
}

/// The inside of the frame drawn over `area`.
pub fn inner(area: Rect) -> Rect {
    Block::default().borders(Borders::ALL).inner(area)
}

/// Clears `area`, draws the frame with ` title `, returns the inside.
pub fn frame(buf: &mut Buffer, area: Rect, title: &str, theme: &Theme) -> Rect {
    Clear.render(area, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(theme.border_focused))
        .style(Style::default().bg(theme.overlay_bg))
        .title(Span::styled(
            format!(" {title} "),
            Style::default()
                .fg(theme.title)
                .add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// Where a box of `lines` lines at most `max_width` wide goes on `screen`.
pub fn box_area(screen: Rect, lines: usize, max_width: u16) -> Rect {
    let width = screen.width.saturating_sub(4).min(max_width);
    let height = (lines as u16 + 2).min(screen.height.saturating_sub(2));
    centred(screen, width, height)
}

/// How far a box of `lines` lines can scroll: the lines that do not fit its inside.
pub fn box_max_scroll(screen: Rect, lines: usize, max_width: u16) -> u16 {
    (lines as u16).saturating_sub(inner(box_area(screen, lines, max_width)).height)
}

/// A centred box with a title and `lines` from `scroll` on (clamped to what can scroll),
/// with a `3/7 ↑↓` mark when some do not fit.
pub fn draw_box(
    buf: &mut Buffer,
    screen: Rect,
    title: &str,
    lines: &[Line<'_>],
    scroll: u16,
    theme: &Theme,
    max_width: u16,
) {
    let area = box_area(screen, lines.len(), max_width);
    let inner = frame(buf, area, title, theme);
    let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
    let scroll = scroll.min(max_scroll);
    for (i, line) in lines
        .iter()
        .skip(usize::from(scroll))
        .take(usize::from(inner.height))
        .enumerate()
    {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
    if max_scroll > 0 {
        let mark = format!(" {}/{} ↑↓ ", scroll + 1, max_scroll + 1);
        let x = area.x + area.width.saturating_sub(mark.chars().count() as u16 + 1);
        buf.set_string(
            x,
            area.y + area.height - 1,
            mark,
            Style::default().fg(theme.dim),
        );
    }
}
