//! Themes: the workspace's colours, as TOML. The presets in `themes/` are built into the
//! binary; `ui.theme` names one of them or a file layered over one:
//! ```toml
//! preset = "nord"              # user files only: the preset this file changes
//! [colors]
//! border_focused = "#88c0d0"   # a name (red, darkgray, reset…), #rrggbb, or 0–255
//! ```

use std::path::PathBuf;

use ratatui::style::Color;
use toml::de::DeValue;

use super::diag::Diagnostic;
use super::layered::{self, Document, Layered};
use super::term_colors::{Rgb, TermColors};

/// Declares the theme's colours once: the struct's fields, the blank theme every preset
/// fills, and the table the TOML loader sets fields by name from (and lists in its error).
macro_rules! theme {
    ($($(#[doc = $doc:literal])* $field:ident,)*) => {
        /// Every colour the workspace uses, by role.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Theme {
            pub name: String,
            $($(#[doc = $doc])* pub $field: Color,)*
        }

        impl Theme {
            /// Every role on the terminal's own colours; each preset sets all of them.
            fn blank() -> Theme {
                Theme {
                    name: String::new(),
                    $($field: Color::Reset,)*
                }
            }
        }

        type Field = fn(&mut Theme) -> &mut Color;

        /// Each colour's name in theme files, and the field it sets.
        const FIELDS: &[(&str, Field)] = &[$((stringify!($field), |t| &mut t.$field),)*];
    };
}

theme! {
    text,
    dim,
    border,
    border_focused,
    title,
    /// Key labels and numbers in lists.
    accent,
    ok,
    warn,
    error,
    /// llws's own notes in the log.
    info,
    /// Switch separators in the log.
    separator,
    selection_fg,
    selection_bg,
    match_fg,
    match_bg,
    current_match_bg,
    bar_empty,
    sparkline,
    mode_fg,
    mode_normal,
    mode_prefix,
    mode_locked,
    mode_other,
    overlay_bg,
}

/// The built-in themes, shipped in `themes/`, in the order the theme key cycles them.
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("gruvbox", include_str!("../../themes/gruvbox.toml")),
    ("nord", include_str!("../../themes/nord.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

impl Theme {
    pub fn preset(name: &str) -> Option<Theme> {
        let (name, text) = PRESETS.iter().find(|(n, _)| *n == name)?;
        let path = PathBuf::from(format!("themes/{name}.toml"));
        let doc = Document::parse(&path, text).ok()?;
        let mut out = Vec::new();
        let mut theme = Theme::blank();
        apply(&mut theme, &doc, true, &mut out);
        debug_assert!(out.is_empty(), "built-in theme {name}: {out:?}");
        theme.name = (*name).to_string();
        Some(theme)
    }

    pub fn builtin_default() -> Theme {
        Self::preset("default").expect("the default theme is built in")
    }

    /// The colours the claude pane reports to a program that asks for them (OSC 10/11/12;
    /// Claude Code and neovim pick their light or dark look from the background).
    ///
    /// The pane is drawn on the terminal's own default colours, which llws cannot read, so
    /// the answer is the theme's picture of them: `overlay_bg` (the background the theme
    /// paints its own boxes on) as the background and `text` as the foreground, where the
    /// theme gives them as `#rrggbb` (gruvbox, nord, and light's background). Where it
    /// leaves them to the terminal (`reset`, or a named or numbered colour whose value is
    /// the terminal's: default, mono) the answer is the stock one for the theme's side,
    /// [`TermColors::LIGHT`] when its background is light or its text dark, else
    /// [`TermColors::DARK`]: a theme that says nothing is taken as dark, as most terminals
    /// are. The cursor is reported as the foreground, xterm's default cursor colour.
    pub fn pane_colors(&self) -> TermColors {
        let rgb = |c: Color| match c {
            Color::Rgb(r, g, b) => Some(Rgb(r, g, b)),
            _ => None,
        };
        let (fg, bg) = (rgb(self.text), rgb(self.overlay_bg));
        let light = match (bg, fg) {
            (Some(bg), _) => bg.is_light(),
            (None, Some(fg)) => !fg.is_light(),
            (None, None) => false,
        };
        let stock = if light {
            TermColors::LIGHT
        } else {
            TermColors::DARK
        };
        let foreground = fg.unwrap_or(stock.foreground);
        TermColors {
            foreground,
            background: bg.unwrap_or(stock.background),
            cursor: foreground,
        }
    }

    /// The preset names, in cycling order.
    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        PRESETS.iter().map(|(n, _)| *n)
    }
}

impl Layered for Theme {
    const KIND: &'static str = "theme";
    const SETTING: &'static str = "ui.theme";

    fn preset_names() -> Vec<&'static str> {
        Theme::preset_names().collect()
    }

    fn preset(name: &str) -> Option<Self> {
        Theme::preset(name)
    }

    fn builtin_default() -> Self {
        Theme::builtin_default()
    }

    fn apply(mut base: Self, doc: &Document<'_>, out: &mut Vec<Diagnostic>) -> Option<Self> {
        let errors = out.iter().filter(|d| d.is_error()).count();
        apply(&mut base, doc, false, out);
        (out.iter().filter(|d| d.is_error()).count() == errors).then_some(base)
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

/// The theme `ui.theme` names, and what was wrong with it (see `layered::load`).
pub fn load(value: &str) -> (Theme, Vec<Diagnostic>) {
    layered::load(value)
}

pub fn diagnostics(value: &str) -> Vec<Diagnostic> {
    load(value).1
}

fn apply(theme: &mut Theme, doc: &Document<'_>, preset: bool, out: &mut Vec<Diagnostic>) {
    let mut seen = Vec::new();
    for (key, key_span, value, value_span) in doc.entries(&doc.table) {
        match (key, value) {
            ("preset", _) => {}
            ("colors", DeValue::Table(colors)) => {
                for (name, name_span, v, v_span) in doc.entries(colors) {
                    let Some((_, field)) = FIELDS.iter().find(|(n, _)| *n == name) else {
                        out.push(
                            doc.error(name_span, format!("unknown colour `{name}`"))
                                .with_fix(format!(
                                    "the colours are {}",
                                    FIELDS
                                        .iter()
                                        .map(|(n, _)| *n)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )),
                        );
                        continue;
                    };
                    let parsed = match v {
                        DeValue::String(s) => s.parse::<Color>().ok(),
                        DeValue::Integer(i) => i.as_str().parse::<u8>().ok().map(Color::Indexed),
                        _ => None,
                    };
                    match parsed {
                        Some(c) => {
                            *field(theme) = c;
                            seen.push(name);
                        }
                        None => out.push(
                            doc.error(v_span, format!("`{name}`: not a colour"))
                                .with_fix("write a name (red, darkgray, reset, …), \"#rrggbb\" or a number 0–255"),
                        ),
                    }
                }
            }
            ("colors", _) => out.push(doc.error(value_span, "`colors` must be a table")),
            _ => out.push(
                doc.error(key_span, format!("unknown key or table `{key}`"))
                    .with_fix("a theme has `preset` and a [colors] table"),
            ),
        }
    }
    if preset {
        for (name, _) in FIELDS {
            if !seen.contains(name) {
                out.push(Diagnostic::error(
                    doc.path,
                    None,
                    format!("preset lacks `{name}`"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_sets_every_colour() {
        for (name, text) in PRESETS {
            let path = PathBuf::from(name);
            let doc = Document::parse(&path, text).unwrap();
            let mut out = Vec::new();
            apply(&mut Theme::blank(), &doc, true, &mut out);
            assert!(out.is_empty(), "{name}: {out:?}");
        }
    }

    #[test]
    fn pane_colours_follow_the_theme_and_its_side() {
        let colors = |name: &str| Theme::preset(name).unwrap().pane_colors();
        assert_eq!(colors("default"), TermColors::DARK);
        assert_eq!(colors("mono"), TermColors::DARK);
        let light = colors("light");
        assert_eq!(light.background, Rgb(0xf5, 0xf5, 0xf5));
        assert_eq!(light.foreground, TermColors::LIGHT.foreground);
        let gruvbox = colors("gruvbox");
        assert_eq!(gruvbox.background, Rgb(0x28, 0x28, 0x28));
        assert_eq!(gruvbox.foreground, Rgb(0xeb, 0xdb, 0xb2));
        assert_eq!(gruvbox.cursor, gruvbox.foreground);
        // Dark text with the background left to the terminal: a light terminal.
        let mut t = Theme::builtin_default();
        t.text = Color::Rgb(0x20, 0x20, 0x20);
        let c = t.pane_colors();
        assert_eq!(c.background, TermColors::LIGHT.background);
        assert_eq!(c.foreground, Rgb(0x20, 0x20, 0x20));
    }

    #[test]
    fn a_user_file_changes_one_colour_of_its_preset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mine.toml");
        std::fs::write(
            &file,
            "preset = \"nord\"\n[colors]\nborder_focused = \"#ff0000\"\n",
        )
        .unwrap();
        let (t, diags) = load(file.to_str().unwrap());
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(t.border_focused, Color::Rgb(255, 0, 0));
        assert_eq!(t.ok, Theme::preset("nord").unwrap().ok);
    }

    #[test]
    fn a_bad_colour_is_reported_with_its_line_and_the_default_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            "[colors]\nok = \"green\"\nwarn = \"yelow\"\nsparkles = \"red\"\n",
        )
        .unwrap();
        let (t, diags) = load(file.to_str().unwrap());
        assert_eq!(t, Theme::builtin_default());
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|d| d.contains("bad.toml:3") && d.contains("not a colour")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|d| d.contains("bad.toml:4") && d.contains("sparkles")),
            "{text:?}"
        );
        assert!(
            diagnostics("solarized")[0]
                .message
                .contains("no built-in theme")
        );
    }
}
