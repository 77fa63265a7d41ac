//! The colours a terminal pane reports when a program asks (OSC 10, 11, 12): plain data
//! the theme derives and the pane's emulator answers with. It lives here, below both,
//! so that the theme does not depend on the terminal emulator.

/// A colour as OSC 10/11/12 report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// xterm's `rgb:rrrr/gggg/bbbb` form (16 bits a channel, as xterm itself answers).
    pub fn xterm_spec(self) -> String {
        let Rgb(r, g, b) = self;
        format!("rgb:{r:02x}{r:02x}/{g:02x}{g:02x}/{b:02x}{b:02x}")
    }

    /// Whether the colour is on the light side (perceived brightness, ITU-R BT.601 weights).
    pub fn is_light(self) -> bool {
        let Rgb(r, g, b) = self;
        299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) > 128 * 1000
    }
}

/// The colours the pane reports when a program asks (OSC 10, 11, 12). The UI sets them from
/// its theme ([`super::theme::Theme::pane_colors`]) and updates them when the theme
/// changes; a pane on its own uses [`TermColors::DARK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermColors {
    pub foreground: Rgb,
    pub background: Rgb,
    pub cursor: Rgb,
}

impl TermColors {
    /// Light text on black: what most terminals start with, and what a dark theme that
    /// leaves the pane on the terminal's own colours most likely sits on.
    pub const DARK: TermColors = TermColors {
        foreground: Rgb(0xe5, 0xe5, 0xe5),
        background: Rgb(0, 0, 0),
        cursor: Rgb(0xe5, 0xe5, 0xe5),
    };
    /// Black on white, xterm's own defaults, for light themes.
    pub const LIGHT: TermColors = TermColors {
        foreground: Rgb(0, 0, 0),
        background: Rgb(0xff, 0xff, 0xff),
        cursor: Rgb(0, 0, 0),
    };

    /// The colour OSC `code` (10 foreground, 11 background, 12 cursor) reports.
    pub fn get(&self, code: u16) -> Option<Rgb> {
        match code {
            10 => Some(self.foreground),
            11 => Some(self.background),
            12 => Some(self.cursor),
            _ => None,
        }
    }
}

impl Default for TermColors {
    fn default() -> Self {
        Self::DARK
    }
}
