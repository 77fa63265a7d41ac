//! `models.conf`: the model profiles, in the INI-like format of the tool llws replaces.
//!
//! Grammar (kept compatible with existing files):
//! - `[id]` starts a section; ids match `[A-Za-z0-9_.-]+`.
//! - `KEY=VALUE` belongs to the latest section, split at the first `=`; spaces around the
//!   `=` are accepted and the value is otherwise verbatim (no quotes, no inline comments).
//! - Lines whose first non-blank character is `#` are comments; blank lines are ignored.
//! - Section order is the picker order; `bench-*` ids are bench profiles.
//!
//! Malformed input is never silently absorbed (a typo that changes nothing is worse than
//! an error): a bad header, a key
//! outside a section, a duplicate id, a missing MODEL or a bad number stops the load with
//! the file and line, and unknown keys are warnings.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::diag::{Diagnostic, LoadError};
use super::lint;

pub use super::profile::{DEFAULT_CTX_SIZE, Entry, KNOWN_KEYS, Profile, ctx_label};

/// A loaded models.conf.
#[derive(Debug, Clone)]
pub struct ProfileSet {
    pub path: PathBuf,
    pub profiles: Vec<Profile>,
    /// Problems that do not stop the load: unknown keys and the lessons in `lint`.
    pub warnings: Vec<Diagnostic>,
}

impl ProfileSet {
    pub fn get(&self, id: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.id == id)
    }

    /// The profile a request's `model` names: by id, else by one of its ALIASES.
    pub fn resolve(&self, name: &str) -> Option<&Profile> {
        self.get(name)
            .or_else(|| self.profiles.iter().find(|p| p.aliases().contains(&name)))
    }

    pub fn production(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.iter().filter(|p| !p.is_bench())
    }

    pub fn bench(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.iter().filter(|p| p.is_bench())
    }

    /// The message for an id that is not in the file, with the ids that are.
    pub fn unknown_profile_message(&self, id: &str) -> String {
        let ids: Vec<&str> = self.profiles.iter().map(|p| p.id.as_str()).collect();
        format!(
            "unknown profile '{id}' in {}.{} Known profiles: {}",
            self.path.display(),
            super::suggest::did_you_mean("", &self.closest_ids(id)),
            if ids.is_empty() {
                "(none)".to_string()
            } else {
                ids.join(", ")
            }
        )
    }

    /// The profile ids close to a mistyped `id`, best first.
    pub fn closest_ids(&self, id: &str) -> Vec<&str> {
        super::suggest::closest(id, self.profiles.iter().map(|p| p.id.as_str()))
    }

    /// Reads and parses `path`. A missing or unreadable file is one error naming it.
    pub fn load(path: &Path) -> Result<ProfileSet, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| {
            LoadError::single(
                Diagnostic::error(path, None, format!("cannot read models.conf: {e}")).with_fix(
                    "create it (see the models.conf shipped with llws) or point `models_conf` in llws.toml or `--models` at it",
                ),
            )
        })?;
        let text = String::from_utf8_lossy(&bytes);
        parse(&text, path)
    }
}

/// Whether `id` may name a profile: letters, digits, `_`, `.` and `-` (so `id@host` names
/// another machine's profile without clashing with one here).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_key_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses the text of a models.conf. `path` only names the file in diagnostics.
pub fn parse(text: &str, path: &Path) -> Result<ProfileSet, LoadError> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    // The first `KEY = value` line: accepted, but the original's start.sh read such keys as
    // missing (parity item 4), so a file shared with it deserves a word.
    let mut spaced_line: Option<usize> = None;
    let mut profiles: Vec<Profile> = Vec::new();
    let mut first_line_of_id: HashMap<String, usize> = HashMap::new();
    // After a bad or duplicate header, its keys must not leak into the previous section.
    let mut in_broken_section = false;

    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let Some(id) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                errors.push(
                    Diagnostic::error(path, Some(line_no), format!("bad section header `{line}`"))
                        .with_fix("write headers as `[id]` on a line of their own"),
                );
                in_broken_section = true;
                continue;
            };
            let id = id.trim();
            if !is_valid_id(id) {
                errors.push(
                    Diagnostic::error(path, Some(line_no), format!("bad profile id `[{id}]`"))
                        .with_fix("ids may only hold letters, digits, `_`, `.` and `-`"),
                );
                in_broken_section = true;
                continue;
            }
            if let Some(first) = first_line_of_id.get(id) {
                errors.push(
                    Diagnostic::error(
                        path,
                        Some(line_no),
                        format!("duplicate profile id `[{id}]` (first defined on line {first})"),
                    )
                    .with_fix("rename one of them, or comment the old block out with `#`"),
                );
                in_broken_section = true;
                continue;
            }
            first_line_of_id.insert(id.to_string(), line_no);
            profiles.push(Profile {
                id: id.to_string(),
                line: line_no,
                entries: Vec::new(),
            });
            in_broken_section = false;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            errors.push(
                Diagnostic::error(path, Some(line_no), format!("not a `KEY=VALUE` line: `{line}`"))
                    .with_fix("write `KEY=VALUE`, a `[id]` header, or start the line with `#` to comment it out"),
            );
            continue;
        };
        if spaced_line.is_none()
            && (key.ends_with(char::is_whitespace) || value.starts_with(char::is_whitespace))
        {
            spaced_line = Some(line_no);
        }
        let key = key.trim();
        let value = value.trim();
        if !is_key_name(key) {
            errors.push(
                Diagnostic::error(path, Some(line_no), format!("bad key `{key}`"))
                    .with_fix("keys are words such as MODEL or CTX_SIZE"),
            );
            continue;
        }
        if in_broken_section {
            // The header above is already an error; one report is enough.
            continue;
        }
        let Some(profile) = profiles.last_mut() else {
            errors.push(
                Diagnostic::error(
                    path,
                    Some(line_no),
                    format!("`{key}` is outside any profile section"),
                )
                .with_fix("put a `[id]` header above it"),
            );
            continue;
        };
        if !KNOWN_KEYS.contains(&key) {
            let upper = key.to_ascii_uppercase();
            let mut warning = Diagnostic::warning(
                path,
                Some(line_no),
                format!("unknown key `{key}` in [{}] is ignored", profile.id),
            );
            if KNOWN_KEYS.contains(&upper.as_str()) {
                warning = warning.with_fix(format!("keys are upper case: write `{upper}`"));
            } else {
                warning = warning.with_fix(format!("known keys: {}", KNOWN_KEYS.join(", ")));
            }
            warnings.push(warning);
            continue;
        }
        if let Some(previous) = profile.entries.iter().position(|e| e.key == key) {
            let first = profile.entries.remove(previous);
            warnings.push(
                Diagnostic::warning(
                    path,
                    Some(line_no),
                    format!(
                        "`{key}` is set twice in [{}] (also on line {}); the last value wins",
                        profile.id, first.line
                    ),
                )
                .with_fix("delete one of the two lines"),
            );
        }
        profile.entries.push(Entry {
            key: key.to_string(),
            value: value.to_string(),
            line: line_no,
        });
    }

    if profiles.is_empty() && errors.is_empty() {
        errors.push(
            Diagnostic::error(path, None, "no profiles defined")
                .with_fix("add a `[id]` section with at least `MODEL=file.gguf`"),
        );
    }
    for profile in &profiles {
        validate_profile(path, profile, &mut errors);
    }
    if !errors.is_empty() {
        return Err(LoadError {
            diagnostics: errors,
        });
    }
    for profile in &profiles {
        warnings.extend(lint::lint_profile(path, profile));
    }
    warnings.extend(alias_collisions(path, &profiles));
    if let Some(line) = spaced_line {
        warnings.push(
            Diagnostic::note(
                path,
                Some(line),
                "`KEY = value` (spaces around `=`) is read as `KEY=value` by llws, but the original start.sh reads such a key as missing",
            )
            .with_fix("write `KEY=value` if the file is also used with start.sh or other older scripts; llws needs no change"),
        );
    }
    warnings.sort_by_key(|d| d.line);
    Ok(ProfileSet {
        path: path.to_path_buf(),
        profiles,
        warnings,
    })
}

/// An alias that is another profile's id or another profile's alias: the router's follow
/// mode would pick the first in the file, which is rarely what was meant.
fn alias_collisions(path: &Path, profiles: &[Profile]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, profile) in profiles.iter().enumerate() {
        for alias in profile.aliases() {
            let line = profile.line_of("ALIASES");
            if let Some(other) = profiles.iter().find(|p| p.id == alias) {
                let what = if other.id == profile.id {
                    "its own id".to_string()
                } else {
                    format!("the id of [{}]", other.id)
                };
                out.push(
                    Diagnostic::warning(
                        path,
                        line,
                        format!("[{}]: alias `{alias}` is {what}", profile.id),
                    )
                    .with_fix("remove it from ALIASES: a profile's id already names it"),
                );
            } else if let Some(other) = profiles[..i].iter().find(|p| p.aliases().contains(&alias))
            {
                out.push(
                    Diagnostic::warning(
                        path,
                        line,
                        format!(
                            "[{}]: alias `{alias}` is also an alias of [{}], which wins (it comes first)",
                            profile.id, other.id
                        ),
                    )
                    .with_fix("give each alias to one profile"),
                );
            }
        }
    }
    out
}

/// The checks that make a profile unusable, so they stop the load.
fn validate_profile(path: &Path, profile: &Profile, errors: &mut Vec<Diagnostic>) {
    let id = &profile.id;
    match profile.get("MODEL") {
        None => errors.push(
            Diagnostic::error(path, Some(profile.line), format!("[{id}] has no MODEL"))
                .with_fix("add `MODEL=<file>.gguf`, a path relative to the models folder"),
        ),
        Some(model) => {
            if let Some((part, total)) = super::lint::split_part(model)
                && (total == 0 || part == 0 || part > total)
            {
                errors.push(
                    Diagnostic::error(
                        path,
                        profile.line_of("MODEL"),
                        format!("[{id}] MODEL `{model}` names part {part} of {total}, which no split model has"),
                    )
                    .with_fix("name part 1 of the split as its file is called, `…-00001-of-0000N.gguf` with N the number of parts"),
                );
            }
            if let Some(problem) = model_path_problem(model) {
                errors.push(
                    Diagnostic::error(
                        path,
                        profile.line_of("MODEL"),
                        format!("[{id}] MODEL `{model}` {problem}"),
                    )
                    .with_fix("give the path relative to the models folder, e.g. `MODEL=org/model-Q4_K_M.gguf`"),
                );
            }
        }
    }
    for key in ["CTX_SIZE", "FIT_CTX", "MAIN_GPU"] {
        if let Some(value) = profile.get(key)
            && value.parse::<u64>().is_err()
        {
            errors.push(
                Diagnostic::error(
                    path,
                    profile.line_of(key),
                    format!("[{id}] {key} `{value}` is not a whole number"),
                )
                .with_fix(match key {
                    "CTX_SIZE" => {
                        "write the token count in digits, e.g. `CTX_SIZE=131072` for 128K"
                    }
                    "MAIN_GPU" => "write the GPU index, e.g. `MAIN_GPU=0`",
                    _ => "write a token count in digits",
                }),
            );
        }
    }
    if let Some(raw) = profile.extra_args()
        && shlex::split(raw).is_none()
    {
        errors.push(
            Diagnostic::error(
                path,
                profile.line_of("EXTRA_ARGS"),
                format!("[{id}] EXTRA_ARGS has an unclosed quote or a trailing backslash"),
            )
            .with_fix("close every ' and \" quote; quote JSON as '{\"key\": value}'"),
        );
    }
}

/// Why a MODEL path would escape the models folder, if it would.
fn model_path_problem(model: &str) -> Option<&'static str> {
    let path = Path::new(model);
    if path.is_absolute() || model.starts_with('~') {
        return Some("is an absolute path; it must be relative to the models folder");
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Some("climbs out of the models folder with `..`");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ProfileSet, LoadError> {
        parse(text, Path::new("models.conf"))
    }

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .expect_err("expected the load to fail")
            .diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn spaced_keys_are_read_and_get_one_note() {
        // Parity item 4: `KEY = value` works as dashboard.py read it, with a note that
        // start.sh read it as missing; one note per file, at the first such line.
        let set = load("[a]\nMODEL = a.gguf\nNAME =x\n[b]\nMODEL= b.gguf\n").unwrap();
        assert_eq!(set.profiles[0].model(), "a.gguf");
        assert_eq!(set.profiles[0].display_name(), "x");
        assert_eq!(set.profiles[1].model(), "b.gguf");
        let notes: Vec<_> = set
            .warnings
            .iter()
            .filter(|d| d.severity == crate::config::Severity::Note)
            .collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].line, Some(2));
        assert!(notes[0].to_string().contains(": note: `KEY = value`"));
        let clean = load("[a]\nMODEL=a.gguf\n").unwrap();
        assert!(clean.warnings.is_empty());
    }

    #[test]
    fn parses_sections_in_file_order_with_first_equals_split() {
        let set = load(
            "# comment\n\n[b]\nNAME=Bee\nMODEL=b.gguf\nEXTRA_ARGS=--foo=bar --x\n[a.1]\nMODEL = a.gguf\n   # indented comment\n",
        )
        .unwrap();
        let ids: Vec<_> = set.profiles.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["b", "a.1"]);
        assert_eq!(set.profiles[0].extra_args(), Some("--foo=bar --x"));
        assert_eq!(set.profiles[1].model(), "a.gguf");
        assert_eq!(set.profiles[1].display_name(), "a.1");
    }

    #[test]
    fn no_inline_comments_values_are_verbatim() {
        let set = load("[a]\nMODEL=a.gguf\nNAME=x ; y # z\n").unwrap();
        assert_eq!(set.profiles[0].display_name(), "x ; y # z");
    }

    #[test]
    fn bench_profiles_are_told_apart() {
        let set = load("[a]\nMODEL=a.gguf\n[bench-a]\nMODEL=a.gguf\nCTX_SIZE=10240\n").unwrap();
        assert_eq!(set.production().count(), 1);
        assert_eq!(set.bench().next().unwrap().id, "bench-a");
    }

    #[test]
    fn bad_header_is_an_error_and_does_not_leak_keys() {
        let errs = errors("[a]\nMODEL=a.gguf\n[bad id]\nCTX_SIZE=1\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("models.conf:3: error: bad profile id"));
        let errs = errors("[a]\nMODEL=a.gguf\n[unclosed\n");
        assert!(errs[0].starts_with("models.conf:3: error: bad section header"));
    }

    #[test]
    fn key_outside_a_section_is_an_error() {
        let errs = errors("MODEL=x.gguf\n[a]\nMODEL=a.gguf\n");
        assert!(errs[0].starts_with("models.conf:1: error: `MODEL` is outside"));
    }

    #[test]
    fn duplicate_id_is_an_error_naming_both_lines() {
        let errs = errors("[a]\nMODEL=a.gguf\n[a]\nMODEL=b.gguf\n");
        assert!(errs[0].contains("models.conf:3:"), "{errs:?}");
        assert!(errs[0].contains("first defined on line 1"));
    }

    #[test]
    fn missing_model_is_an_error() {
        let errs = errors("[a]\nNAME=x\n");
        assert!(errs[0].starts_with("models.conf:1: error: [a] has no MODEL"));
        let errs = errors("[a]\nMODEL=\n");
        assert!(errs[0].contains("has no MODEL"));
    }

    #[test]
    fn non_numeric_ctx_size_is_an_error() {
        let errs = errors("[a]\nMODEL=a.gguf\nCTX_SIZE=128k\n");
        assert!(errs[0].starts_with("models.conf:3: error: [a] CTX_SIZE `128k`"));
    }

    #[test]
    fn model_paths_may_not_escape_the_models_folder() {
        let errs = errors("[a]\nMODEL=/etc/passwd\n");
        assert!(errs[0].contains("absolute"), "{errs:?}");
        let errs = errors("[a]\nMODEL=sub/../../x.gguf\n");
        assert!(errs[0].contains("climbs out"), "{errs:?}");
        assert!(load("[a]\nMODEL=sub/x..y.gguf\n").is_ok());
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let errs = errors("X=1\n[a]\nNAME=n\n[b]\nMODEL=b.gguf\nCTX_SIZE=big\n");
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    #[test]
    fn line_without_equals_is_an_error() {
        let errs = errors("[a]\nMODEL=a.gguf\njust words\n");
        assert!(errs[0].starts_with("models.conf:3: error: not a `KEY=VALUE` line"));
    }

    #[test]
    fn aliases_resolve_and_collisions_are_warned() {
        let set =
            load("[a]\nMODEL=a.gguf\nALIASES=fast, b\n\n[b]\nMODEL=b.gguf\nALIASES=fast,big\n")
                .unwrap();
        assert_eq!(set.resolve("a").unwrap().id, "a");
        assert_eq!(set.resolve("big").unwrap().id, "b");
        assert_eq!(
            set.resolve("fast").unwrap().id,
            "a",
            "the first in the file"
        );
        assert_eq!(
            set.resolve("b").unwrap().id,
            "b",
            "an id wins over an alias"
        );
        assert!(set.resolve("gpt-4o").is_none());
        let w: Vec<String> = set.warnings.iter().map(|d| d.to_string()).collect();
        assert!(
            w.iter()
                .any(|w| w.contains("models.conf:3") && w.contains("alias `b` is the id of [b]")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.contains("models.conf:7") && w.contains("also an alias of [a]")),
            "{w:?}"
        );
    }

    #[test]
    fn unknown_keys_are_warnings_with_a_hint() {
        let set = load("[a]\nMODEL=a.gguf\nname=x\nCOLOUR=blue\n").unwrap();
        let w: Vec<String> = set.warnings.iter().map(|d| d.to_string()).collect();
        assert!(
            w.iter()
                .any(|w| w.contains("models.conf:3: warning: unknown key `name`")
                    && w.contains("write `NAME`")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains("unknown key `COLOUR`")));
    }

    #[test]
    fn a_key_set_twice_keeps_the_last_value_and_warns() {
        let set = load("[a]\nMODEL=a.gguf\nCTX_SIZE=1024\nCTX_SIZE=2048\n").unwrap();
        assert_eq!(set.profiles[0].ctx_size(), 2048);
        assert!(set.warnings.iter().any(|d| d.message.contains("set twice")));
    }

    #[test]
    fn empty_file_is_an_error() {
        let errs = errors("# nothing here\n");
        assert!(errs[0].contains("no profiles defined"));
    }

    #[test]
    fn unbalanced_quotes_in_extra_args_are_an_error() {
        let errs = errors("[a]\nMODEL=a.gguf\nEXTRA_ARGS=--x '{\"a\": 1}\n");
        assert!(errs[0].starts_with("models.conf:3: error: [a] EXTRA_ARGS"));
    }

    #[test]
    fn context_labels_follow_one_rule() {
        assert_eq!(ctx_label(262_144), "256K ctx");
        assert_eq!(ctx_label(131_072), "128K ctx");
        assert_eq!(ctx_label(10_240), "10K ctx");
        assert_eq!(ctx_label(5000), "5000 ctx");
        assert_eq!(ctx_label(0), "model's ctx");
        let set = load("[a]\nMODEL=a.gguf\n").unwrap();
        assert_eq!(set.profiles[0].ctx_label(), "128K ctx");
    }

    #[test]
    fn extra_args_split_like_a_shell() {
        let set = load(
            "[a]\nMODEL=a.gguf\nEXTRA_ARGS=--jinja --chat-template-kwargs '{\"enable_thinking\": false}'\n",
        )
        .unwrap();
        assert_eq!(
            set.profiles[0].extra_args_words().unwrap(),
            [
                "--jinja",
                "--chat-template-kwargs",
                "{\"enable_thinking\": false}"
            ]
        );
    }

    #[test]
    fn crlf_files_load() {
        let set = load("[a]\r\nMODEL=a.gguf\r\nNAME=A\r\n").unwrap();
        assert_eq!(set.profiles[0].display_name(), "A");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_random_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text, Path::new("fuzz.conf"));
        }

        #[test]
        fn never_panics_on_conf_like_text(lines in proptest::collection::vec(
            proptest::prop_oneof![
                "\\[[a-z.\\- _]{0,8}\\]",
                "[A-Z_]{1,12} ?= ?[ -~]{0,30}",
                "#[ -~]{0,10}",
                "[ -~]{0,20}",
            ], 0..40)) {
            let text = lines.join("\n");
            let _ = parse(&text, Path::new("fuzz.conf"));
        }
    }
}
