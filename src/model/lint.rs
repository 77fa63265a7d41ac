//! Lessons that need the model file: its architecture and template from GGUF metadata.

use std::path::Path;

use super::files::ModelFiles;
use super::gguf::{self, Metadata};
use crate::config::diag::Diagnostic;
use crate::config::lint::{flag_value, has_flag};
use crate::config::profiles::Profile;

/// Warnings for `profile` given its (present) model files. `conf` names models.conf.
pub fn lint_model(conf: &Path, profile: &Profile, files: &ModelFiles) -> Vec<Diagnostic> {
    match gguf::read_file_metadata(files.first()) {
        Ok(meta) => lint_metadata(conf, profile, &meta),
        Err(e) => vec![
            Diagnostic::warning(
                conf,
                profile.line_of("MODEL"),
                format!(
                    "[{}] cannot read GGUF metadata of {}: {e}",
                    profile.id,
                    files.first().display()
                ),
            )
            .with_fix("check that the download finished (a truncated file fails to load)"),
        ],
    }
}

pub fn lint_metadata(conf: &Path, profile: &Profile, meta: &Metadata) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let id = &profile.id;
    let words = profile.extra_args_words().unwrap_or_default();
    let extra_line = profile.line_of("EXTRA_ARGS").or(Some(profile.line));
    let arch = meta.architecture().unwrap_or("unknown");

    // Lesson 5: shifting the context corrupts a recurrent model's state.
    if meta.is_recurrent_or_hybrid() && !has_flag(&words, &["--no-context-shift"]) {
        out.push(
            Diagnostic::warning(
                conf,
                extra_line,
                format!("[{id}] `{arch}` is a recurrent/hybrid architecture: context shifting corrupts its state"),
            )
            .with_fix("add --no-context-shift to EXTRA_ARGS"),
        );
    }
    if profile.is_bench()
        && meta.is_thinking()
        && flag_value(&words, &["--reasoning-format"]) != Some("none")
    {
        out.push(
            Diagnostic::warning(
                conf,
                extra_line,
                format!("[{id}] thinking model in a bench profile: its reasoning would be split out of the answer"),
            )
            .with_fix("add --reasoning-format none to EXTRA_ARGS"),
        );
    }
    if let Some(trained) = meta.context_length()
        && profile.ctx_size() > trained
    {
        out.push(
            Diagnostic::warning(
                conf,
                profile.line_of("CTX_SIZE").or(Some(profile.line)),
                format!("[{id}] context {} is larger than the {trained} tokens `{arch}` was trained with", profile.ctx_size()),
            )
            .with_fix(format!("set CTX_SIZE={trained} or less (or configure RoPE scaling in EXTRA_ARGS)")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;
    use crate::model::gguf::Value;
    use crate::model::gguf::tests::header;

    fn meta(entries: &[(&str, Value)]) -> Metadata {
        gguf::read_metadata(&mut header(entries).as_slice()).unwrap()
    }

    fn lint(conf: &str, entries: &[(&str, Value)]) -> Vec<String> {
        let set = parse(conf, Path::new("m.conf")).unwrap();
        lint_metadata(&set.path, &set.profiles[0], &meta(entries))
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn hybrid_without_no_context_shift_warns() {
        let arch = [("general.architecture", Value::Str("qwen3next".into()))];
        let w = lint("[q]\nMODEL=q.gguf\nEXTRA_ARGS=--jinja\n", &arch);
        assert!(
            w.iter()
                .any(|w| w.starts_with("m.conf:3: warning: [q] `qwen3next`")),
            "{w:?}"
        );
        assert!(
            lint(
                "[q]\nMODEL=q.gguf\nEXTRA_ARGS=--jinja --no-context-shift\n",
                &arch
            )
            .is_empty()
        );
    }

    #[test]
    fn thinking_bench_without_reasoning_format_none_warns() {
        let m = [
            ("general.architecture", Value::Str("glm4moe".into())),
            (
                "tokenizer.chat_template",
                Value::Str("<think></think>".into()),
            ),
        ];
        let w = lint("[bench-g]\nMODEL=g.gguf\nCTX_SIZE=10240\n", &m);
        assert!(
            w.iter().any(|w| w.contains("--reasoning-format none")),
            "{w:?}"
        );
        assert!(
            lint(
                "[bench-g]\nMODEL=g.gguf\nCTX_SIZE=10240\nEXTRA_ARGS=--reasoning-format none\n",
                &m
            )
            .is_empty()
        );
    }

    #[test]
    fn context_beyond_training_warns() {
        let m = [
            ("general.architecture", Value::Str("llama".into())),
            ("llama.context_length", Value::Uint(8192)),
        ];
        let w = lint("[s]\nMODEL=s.gguf\nCTX_SIZE=16384\n", &m);
        assert!(w.iter().any(|w| w.contains("trained with")), "{w:?}");
        assert!(lint("[s]\nMODEL=s.gguf\nCTX_SIZE=8192\n", &m).is_empty());
    }
}
