//! Client advice per model family (the original's lesson 9, parity item 72's companion):
//! what a client should send to a model (samplers, thinking and reasoning switches),
//! because most clients override the server's sampler flags with their own.
//!
//! The table is TOML: the built-in one is `client_advice.toml` beside this file; a user
//! file named by `[ui] client_advice` has the same form and its families come first, so
//! the user can add a family or override one. The family is found from the GGUF metadata
//! and the MODEL file name, never from the profile's NAME (which is free text).

use std::path::Path;

use serde::Deserialize;

use crate::config::diag::{Diagnostic, LoadError, line_of_offset};
use crate::config::profile::Profile;

use super::gguf::Metadata;

const BUILT_IN: &str = include_str!("client_advice.toml");

/// One model family and what its clients should send.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    pub name: String,
    /// Case-insensitive substrings of the GGUF's general.name, general.basename,
    /// general.architecture or the MODEL file name.
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    pub advice: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    family: Vec<Family>,
}

/// The families, the user's (if any) first.
#[derive(Debug, Clone)]
pub struct AdviceTable {
    families: Vec<Family>,
}

impl AdviceTable {
    /// The built-in table alone.
    pub fn built_in() -> Self {
        let table: Table = toml::from_str(BUILT_IN).expect("the built-in client advice parses");
        Self {
            families: table.family,
        }
    }

    /// The user's file (when `user` names one) layered before the built-in table. A file
    /// that cannot be read or parsed is reported and left out: the built-in advice stays.
    pub fn load(user: Option<&Path>) -> (Self, Vec<Diagnostic>) {
        let mut table = Self::built_in();
        let Some(path) = user.filter(|p| !p.as_os_str().is_empty()) else {
            return (table, Vec::new());
        };
        match parse_file(path) {
            Ok(mut families) => {
                families.append(&mut table.families);
                table.families = families;
                (table, Vec::new())
            }
            Err(e) => (table, e.diagnostics),
        }
    }

    /// The first family that matches the model: its metadata when the header could be
    /// read, and the MODEL file name in any case.
    pub fn for_model(&self, profile: &Profile, meta: Option<&Metadata>) -> Option<&Family> {
        let file_name = Path::new(profile.model())
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase());
        let mut names: Vec<String> = ["general.name", "general.basename", "general.architecture"]
            .iter()
            .filter_map(|key| meta.and_then(|m| m.str(key)))
            .map(str::to_lowercase)
            .collect();
        names.extend(file_name);
        self.families.iter().find(|family| {
            family.patterns.iter().any(|pattern| {
                let pattern = pattern.to_lowercase();
                !pattern.is_empty() && names.iter().any(|name| name.contains(&pattern))
            })
        })
    }
}

fn parse_file(path: &Path) -> Result<Vec<Family>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        LoadError::single(
            Diagnostic::error(
                path,
                None,
                format!("cannot read the client advice file: {e}"),
            )
            .with_fix("create it, or remove `[ui] client_advice` from llws.toml"),
        )
    })?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Vec<Family>, LoadError> {
    let table: Table = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| line_of_offset(text, span.start));
        LoadError::single(
            Diagnostic::error(path, line, e.message().to_string()).with_fix(
                "each entry is `[[family]]` with `name`, `match = [\"substring\", …]` and `advice = [\"…\", …]`",
            ),
        )
    })?;
    Ok(table.family)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse as parse_conf;
    use crate::model::gguf::{Value, read_metadata, tests::header};

    fn profile(model: &str) -> Profile {
        parse_conf(&format!("[p]\nMODEL={model}\n"), Path::new("m.conf"))
            .unwrap()
            .profiles
            .remove(0)
    }

    fn meta(entries: &[(&str, Value)]) -> Metadata {
        read_metadata(&mut header(entries).as_slice()).unwrap()
    }

    fn family(table: &AdviceTable, model: &str, meta: Option<&Metadata>) -> Option<String> {
        table
            .for_model(&profile(model), meta)
            .map(|f| f.name.clone())
    }

    #[test]
    fn families_are_found_from_the_header_before_the_file_name() {
        let table = AdviceTable::built_in();
        // GLM-4.7-Flash runs on llama.cpp's deepseek2 architecture: its name decides.
        let glm = meta(&[
            ("general.architecture", Value::Str("deepseek2".into())),
            ("general.name", Value::Str("GLM 4.7 Flash".into())),
        ]);
        assert_eq!(family(&table, "x.gguf", Some(&glm)).as_deref(), Some("GLM"));
        let deepseek = meta(&[("general.architecture", Value::Str("deepseek2".into()))]);
        assert_eq!(
            family(&table, "x.gguf", Some(&deepseek)).as_deref(),
            Some("DeepSeek")
        );
        // Without a readable header, the file name.
        assert_eq!(
            family(
                &table,
                "unsloth/Qwen3-Next-80B-A3B-Instruct-Q4_K_M.gguf",
                None
            )
            .as_deref(),
            Some("Qwen3-Next / Qwen3 2507")
        );
        assert_eq!(
            family(&table, "Qwen3-32B-Q8_0.gguf", None).as_deref(),
            Some("Qwen3")
        );
        assert_eq!(
            family(&table, "org/gpt-oss-20b-mxfp4.gguf", None).as_deref(),
            Some("gpt-oss")
        );
        assert_eq!(family(&table, "SmolLM2-135M.gguf", None), None);
    }

    #[test]
    fn a_user_file_comes_first_and_a_broken_one_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advice.toml");
        std::fs::write(
            &path,
            "[[family]]\nname = \"My GLM\"\nmatch = [\"glm\"]\nadvice = [\"temperature 0.7\"]\n",
        )
        .unwrap();
        let (table, diags) = AdviceTable::load(Some(&path));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            family(&table, "GLM-4.7.gguf", None).as_deref(),
            Some("My GLM")
        );
        assert_eq!(
            family(&table, "Qwen3-8B.gguf", None).as_deref(),
            Some("Qwen3"),
            "the built-in families stay"
        );

        std::fs::write(&path, "[[family]]\nname = \"x\"\nmatchh = [\"y\"]\n").unwrap();
        let (table, diags) = AdviceTable::load(Some(&path));
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].line, Some(3), "{}", diags[0]);
        assert!(diags[0].to_string().contains("advice.toml:3: error"));
        assert_eq!(
            family(&table, "GLM-4.7.gguf", None).as_deref(),
            Some("GLM"),
            "the built-in table is kept"
        );

        let (_, diags) = AdviceTable::load(Some(&dir.path().join("missing.toml")));
        assert!(diags[0].to_string().contains("cannot read"));
    }

    #[test]
    fn every_built_in_family_has_names_patterns_and_advice() {
        let table = AdviceTable::built_in();
        assert!(table.families.len() >= 6);
        for f in &table.families {
            assert!(!f.name.is_empty() && !f.patterns.is_empty() && !f.advice.is_empty());
        }
    }
}
