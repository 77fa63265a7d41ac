//! Themes: the workspace's colours, as TOML. The presets in `themes/` are built into the
//! binary; `ui.theme` names one of them or a file layered over one:
//! ```toml
//! preset = "nord"              # user files only: the preset this file changes
//! [colors]
//! border_focused = "#88c0d0"   # a name (red, darkgray, reset…), #rrggbb, or 0–255
//! ```

use std::path::{Path, PathBuf};

use ratatui::style::Color;
use toml::de::DeValue;

use super::diag::Diagnostic;
use super::layered::{self, Document, Spec};
use super::term_colors::{Rgb, TermColors};

/// Every colour the workspace uses, by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub text: Color,
    pub dim: Color,
    pub border: Color,
    pub border_focused: Color,
    pub title: Color,
    /// Key labels and numbers in lists.
    pub accent: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    /// llws's own notes in the log.
    pub info: Color,
    /// Switch separators in the log.
    pub separator: Color,
    pub selection_fg: Color,
    pub selection_bg: Color,
    pub match_fg: Color,
    pub match_bg: Color,
    pub current_match_bg: Color,
    pub bar_empty: Color,
    pub sparkline: Color,
    pub mode_fg: Color,
    pub mode_normal: Color,
    pub mode_prefix: Color,
    pub mode_locked: Color,
    pub mode_other: Color,
    pub overlay_bg: Color,
}

/// The built-in themes, shipped in `themes/`, in the order the theme key cycles them.
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("gruvbox", include_str!("../../themes/gruvbox.toml")),
    ("nord", include_str!("../../themes/nord.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

type Field = fn(&mut Theme) -> &mut Color;

const FIELDS: &[(&str, Field)] = &[
    ("text", |t| &mut t.text),
    ("dim", |t| &mut t.dim),
    ("border", |t| &mut t.border),
    ("border_focused", |t| &mut t.border_focused),
    ("title", |t| &mut t.title),
    ("accent", |t| &mut t.accent),
    ("ok", |t| &mut t.ok),
    ("warn", |t| &mut t.warn),
    ("error", |t| &mut t.error),
    ("info", |t| &mut t.info),
    ("separator", |t| &mut t.separator),
    ("selection_fg", |t| &mut t.selection_fg),
    ("selection_bg", |t| &mut t.selection_bg),
    ("match_fg", |t| &mut t.match_fg),
    ("match_bg", |t| &mut t.match_bg),
    ("current_match_bg", |t| &mut t.current_match_bg),
    ("bar_empty", |t| &mut t.bar_empty),
    ("sparkline", |t| &mut t.sparkline),
    ("mode_fg", |t| &mut t.mode_fg),
    ("mode_normal", |t| &mut t.mode_normal),
    ("mode_prefix", |t| &mut t.mode_prefix),
    ("mode_locked", |t| &mut t.mode_locked),
    ("mode_other", |t| &mut t.mode_other),
    ("overlay_bg", |t| &mut t.overlay_bg),
];

impl Theme {
    /// Every role on the terminal's own colours; each preset sets all of them.
    fn blank() -> Theme {
        Theme {
            name: String::new(),
            text: Color::Reset,
            dim: Color::Reset,
            border: Color::Reset,
            border_focused: Color::Reset,
            title: Color::Reset,
            accent: Color::Reset,
            ok: Color::Reset,
            warn: Color::Reset,
            error: Color::Reset,
            info: Color::Reset,
            separator: Color::Reset,
            selection_fg: Color::Reset,
            selection_bg: Color::Reset,
            match_fg: Color::Reset,
            match_bg: Color::Reset,
            current_match_bg: Color::Reset,
            bar_empty: Color::Reset,
            sparkline: Color::Reset,
            mode_fg: Color::Reset,
            mode_normal: Color::Reset,
            mode_prefix: Color::Reset,
            mode_locked: Color::Reset,
            mode_other: Color::Reset,
            overlay_bg: Color::Reset,
        }
    }

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

/// The theme `ui.theme` names, and what was wrong with it; on any error the built-in
/// default is used.
pub fn load(value: &str) -> (Theme, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let theme = match Spec::parse(value) {
        Spec::Preset(name) => Theme::preset(&name).or_else(|| {
            out.push(
                Diagnostic::error(
                    Path::new("ui.theme"),
                    None,
                    format!("no built-in theme named `{name}`"),
                )
                .with_fix(format!(
                    "use one of {} or a path to a .toml file",
                    Theme::preset_names().collect::<Vec<_>>().join(", ")
                )),
            );
            None
        }),
        Spec::File(path) => match layered::read(&path) {
            Ok(text) => load_file(&path, &text, &mut out),
            Err(d) => {
                out.push(d);
                None
            }
        },
    };
    match theme {
        Some(t) if !out.iter().any(Diagnostic::is_error) => (t, out),
        _ => (Theme::builtin_default(), out),
    }
}

pub fn diagnostics(value: &str) -> Vec<Diagnostic> {
    load(value).1
}

fn load_file(path: &Path, text: &str, out: &mut Vec<Diagnostic>) -> Option<Theme> {
    let doc = match Document::parse(path, text) {
        Ok(doc) => doc,
        Err(d) => {
            out.push(d);
            return None;
        }
    };
    let mut theme = match doc.string("preset", out) {
        Some(name) => match Theme::preset(name.get_ref()) {
            Some(t) => t,
            None => {
                out.push(doc.error(
                    name.span(),
                    format!("no built-in theme named `{}`", name.get_ref()),
                ));
                return None;
            }
        },
        None => Theme::builtin_default(),
    };
    apply(&mut theme, &doc, false, out);
    theme.name = path.display().to_string();
    Some(theme)
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
