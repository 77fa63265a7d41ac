//! The one loader of keymap and theme files: a setting names either a built-in preset or
//! a TOML file, and a file is layered over a preset (yazi's way): `preset = "NAME"` picks
//! the base, and the file lists only what it changes. A broken file never locks a user
//! out: on any error the built-in default is used, and the diagnostics say where and why.
//! Each kind says only what is its own ([`Layered`]): its presets and how a file's tables
//! apply.

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::{Diagnostic, line_of_offset};

/// What `ui.keymap` or `ui.theme` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Preset(String),
    File(PathBuf),
}

impl Spec {
    /// A value with a `/` or a `.toml` ending is a path; anything else is a preset name.
    pub fn parse(value: &str) -> Spec {
        let v = value.trim();
        if v.contains('/') || v.ends_with(".toml") {
            Spec::File(PathBuf::from(v))
        } else {
            Spec::Preset(if v.is_empty() { "default" } else { v }.to_string())
        }
    }

    /// Whether `value` names a file (and so is resolved against the settings file).
    pub fn is_path(value: &str) -> bool {
        matches!(Spec::parse(value), Spec::File(_))
    }
}

/// A parsed user file: its text (for line numbers) and its top-level table.
pub struct Document<'t> {
    pub path: &'t Path,
    pub text: &'t str,
    pub table: DeTable<'t>,
}

impl<'t> Document<'t> {
    /// Parses `text`; a syntax error is one diagnostic with its line.
    pub fn parse(path: &'t Path, text: &'t str) -> Result<Self, Diagnostic> {
        match DeTable::parse(text) {
            Ok(table) => Ok(Self {
                path,
                text,
                table: table.into_inner(),
            }),
            Err(e) => {
                let line = e.span().map(|s| line_of_offset(text, s.start));
                Err(
                    Diagnostic::error(path, line, e.message().trim().to_string())
                        .with_fix("fix the TOML syntax on that line"),
                )
            }
        }
    }

    pub fn line(&self, span: std::ops::Range<usize>) -> usize {
        line_of_offset(self.text, span.start)
    }

    pub fn error(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.path, Some(self.line(span)), message)
    }

    /// The string value of a top-level key, with an error when it is not a string.
    pub fn string(&self, key: &str, out: &mut Vec<Diagnostic>) -> Option<Spanned<String>> {
        let (_, value) = self.table.iter().find(|(k, _)| k.get_ref() == key)?;
        match value.get_ref().as_str() {
            Some(s) => Some(Spanned::new(value.span(), s.to_string())),
            None => {
                out.push(self.error(value.span(), format!("`{key}` must be a string")));
                None
            }
        }
    }

    /// The entries of a top-level table, as (key, key span, value, value span).
    pub fn entries<'d>(
        &'d self,
        table: &'d DeTable<'t>,
    ) -> impl Iterator<
        Item = (
            &'d str,
            std::ops::Range<usize>,
            &'d DeValue<'t>,
            std::ops::Range<usize>,
        ),
    > + 'd {
        table
            .iter()
            .map(|(k, v)| (k.get_ref().as_ref(), k.span(), v.get_ref(), v.span()))
    }
}

/// Reads a user file; an unreadable file is one diagnostic naming it.
pub fn read(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::error(path, None, format!("cannot read the file: {e}"))
            .with_fix("fix the path in llws.toml, or use a built-in preset name")
    })
}

/// A kind of layered file: keymaps and themes.
pub trait Layered: Sized {
    /// `keymap` or `theme`, for messages.
    const KIND: &'static str;
    /// The setting that names it (`ui.keymap`).
    const SETTING: &'static str;
    fn preset_names() -> Vec<&'static str>;
    fn preset(name: &str) -> Option<Self>;
    fn builtin_default() -> Self;
    /// Applies a file's keys (all but `preset`) over `base`; `None` when any was wrong
    /// (each one a diagnostic in `out`).
    fn apply(base: Self, doc: &Document<'_>, out: &mut Vec<Diagnostic>) -> Option<Self>;
    /// Names it after the file it came from (the help title shows it).
    fn set_name(&mut self, name: String);
}

/// What `value` (a preset name or a file) loads, and what was wrong with it; on any error
/// the built-in default.
pub fn load<T: Layered>(value: &str) -> (T, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let unknown = |name: &str| format!("no built-in {} named `{name}`", T::KIND);
    let fix = || {
        format!(
            "use one of {} or a path to a .toml file",
            T::preset_names().join(", ")
        )
    };
    let loaded = match Spec::parse(value) {
        Spec::Preset(name) => T::preset(&name).or_else(|| {
            out.push(
                Diagnostic::error(Path::new(T::SETTING), None, unknown(&name)).with_fix(fix()),
            );
            None
        }),
        Spec::File(path) => match read(&path) {
            Ok(text) => match Document::parse(&path, &text) {
                Ok(doc) => {
                    let base = match doc.string("preset", &mut out) {
                        Some(name) => T::preset(name.get_ref()).or_else(|| {
                            out.push(
                                doc.error(name.span(), unknown(name.get_ref()))
                                    .with_fix(fix()),
                            );
                            None
                        }),
                        None => Some(T::builtin_default()),
                    };
                    base.and_then(|base| T::apply(base, &doc, &mut out))
                        .map(|mut t| {
                            t.set_name(path.display().to_string());
                            t
                        })
                }
                Err(d) => {
                    out.push(d);
                    None
                }
            },
            Err(d) => {
                out.push(d);
                None
            }
        },
    };
    match loaded {
        Some(t) if !out.iter().any(Diagnostic::is_error) => (t, out),
        _ => (T::builtin_default(), out),
    }
}
