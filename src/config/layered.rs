//! The shared part of keymap and theme files: a setting names either a built-in preset or
//! a TOML file, and a file is layered over a preset (yazi's way): `preset = "NAME"` picks
//! the base, and the file lists only what it changes.

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
