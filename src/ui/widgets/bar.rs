//! A usage bar: filled cells in the colour of its level, empty cells dim, then `NN%`.

use ratatui::style::{Color, Style};
use ratatui::text::Span;

use crate::config::theme::Theme;

/// The colour for a share in percent: green, yellow from `warn`, red from `crit`.
pub fn level_colour(theme: &Theme, percent: f64, warn: f64, crit: f64) -> Color {
    if percent >= crit {
        theme.error
    } else if percent >= warn {
        theme.warn
    } else {
        theme.ok
    }
}

/// VRAM thresholds: yellow at 70 %, red at 90 %, the marks of the dashboard llws replaces,
/// so its users read the colours as they did (red is where another program's allocation,
/// a desktop's or a second model's, no longer fits beside the model).
pub fn vram_colour(theme: &Theme, percent: f64) -> Color {
    level_colour(theme, percent, 70.0, 90.0)
}

/// RAM thresholds: <70 % green, <85 % yellow, else red, the dashboard's marks too: the
/// used share counts the page cache, where a memory-mapped model lives, so red means
/// little room is left before the model's pages compete with everything else.
pub fn ram_colour(theme: &Theme, percent: f64) -> Color {
    level_colour(theme, percent, 70.0, 85.0)
}

/// `width` cells of bar for `percent` (0–100) in `colour`.
pub fn bar(theme: &Theme, percent: f64, width: u16, colour: Color) -> Vec<Span<'static>> {
    let width = usize::from(width);
    let p = percent.clamp(0.0, 100.0);
    let filled = ((p / 100.0) * width as f64).round() as usize;
    vec![
        Span::styled("█".repeat(filled.min(width)), Style::default().fg(colour)),
        Span::styled(
            "░".repeat(width - filled.min(width)),
            Style::default().fg(theme.bar_empty),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_original() {
        let t = Theme::builtin_default();
        assert_eq!(vram_colour(&t, 69.9), t.ok);
        assert_eq!(vram_colour(&t, 70.0), t.warn);
        assert_eq!(vram_colour(&t, 90.0), t.error);
        assert_eq!(ram_colour(&t, 84.9), t.warn);
        assert_eq!(ram_colour(&t, 85.0), t.error);
        let spans = bar(&t, 50.0, 10, t.ok);
        assert_eq!(spans[0].content.chars().count(), 5);
        assert_eq!(spans[1].content.chars().count(), 5);
        assert_eq!(bar(&t, 150.0, 4, t.ok)[1].content, "");
    }
}
