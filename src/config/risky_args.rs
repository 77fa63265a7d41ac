//! llama-server options in EXTRA_ARGS that reach beyond serving a model: they make the
//! server write files, load code or weights from anywhere, download from the internet,
//! read files into what it serves, or start other processes.
//!
//! A models.conf with them is the user's business when it is theirs (`llws check` warns);
//! one that is not trusted is never read at all ([`super::trust`]), and `llws trust` lists
//! them before it trusts a file.

use std::path::{Component, Path};

use super::diag::Diagnostic;
use super::lint::flag_values;
use super::profile::Profile;

/// What an option does that makes it worth a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Risk {
    /// Writes files where its value says.
    Writes,
    /// Loads weights or adapters: fine from the models folder, not from anywhere else.
    LoadsOutsideModels,
    /// Downloads from the internet.
    Downloads,
    /// Reads a file and serves or uses its content.
    Reads,
    /// Starts other processes or reaches other machines.
    Runs,
}

const OPTIONS: &[(&[&str], Risk)] = &[
    (&["--log-file"], Risk::Writes),
    (&["--slot-save-path"], Risk::Writes),
    (&["--lora", "--lora-scaled"], Risk::LoadsOutsideModels),
    (
        &["--control-vector", "--control-vector-scaled"],
        Risk::LoadsOutsideModels,
    ),
    (&["--mmproj", "-mm"], Risk::LoadsOutsideModels),
    (&["--model-draft", "-md"], Risk::LoadsOutsideModels),
    (&["--model-vocoder", "-mv"], Risk::LoadsOutsideModels),
    (&["--model", "-m"], Risk::LoadsOutsideModels),
    (
        &[
            "--hf-repo",
            "-hf",
            "-hfr",
            "--hf-file",
            "-hff",
            "--hf-repo-draft",
            "-hfd",
            "-hfrd",
            "--hf-repo-v",
            "-hfv",
            "-hfrv",
            "--hf-file-v",
            "-hffv",
            "--model-url",
            "-mu",
            "--mmproj-url",
            "-mmu",
            "--docker-repo",
            "-dr",
        ],
        Risk::Downloads,
    ),
    (
        &[
            "--chat-template-file",
            "--grammar-file",
            "--json-schema-file",
            "-jf",
            "--api-key-file",
            "--ssl-key-file",
            "--ssl-cert-file",
            "--path",
            "--media-path",
        ],
        Risk::Reads,
    ),
    (&["--models-preset", "--models-dir", "--rpc"], Risk::Runs),
];

/// One option found, with what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskyOption {
    pub flag: String,
    pub value: String,
    pub why: String,
}

/// Whether `value` names a file inside the models folder (as the process backend sees it,
/// or as `/models` in the container).
fn inside_models(value: &str, models_dir: &Path) -> bool {
    let path = Path::new(value);
    path.is_absolute()
        && !path.components().any(|c| c == Component::ParentDir)
        && (path.starts_with(models_dir) || path.starts_with("/models"))
}

/// The options in the profile's EXTRA_ARGS that reach beyond serving its model.
pub fn risky_options(profile: &Profile, models_dir: &Path) -> Vec<RiskyOption> {
    let words = profile.extra_args_words().unwrap_or_default();
    let mut out = Vec::new();
    for (names, risk) in OPTIONS {
        for name in *names {
            for value in flag_values(&words, &[name]) {
                let why = match risk {
                    Risk::Writes => "makes llama-server write files there",
                    Risk::LoadsOutsideModels if inside_models(value, models_dir) => continue,
                    Risk::LoadsOutsideModels => {
                        "loads weights from outside the models folder into the server"
                    }
                    Risk::Downloads => "makes llama-server download files from the internet",
                    Risk::Reads => "makes llama-server read that file (or serve that folder)",
                    Risk::Runs => "makes llama-server start other servers or reach other machines",
                };
                out.push(RiskyOption {
                    flag: name.to_string(),
                    value: value.to_string(),
                    why: why.to_string(),
                });
            }
        }
    }
    out
}

/// `llws check`'s warnings for them.
pub fn diagnostics(path: &Path, profile: &Profile, models_dir: &Path) -> Vec<Diagnostic> {
    risky_options(profile, models_dir)
        .into_iter()
        .map(|r| {
            Diagnostic::warning(
                path,
                profile.line_of("EXTRA_ARGS"),
                format!("[{}] `{} {}` {}", profile.id, r.flag, r.value, r.why),
            )
            .with_fix(
                "keep it only if you put it there yourself; a models.conf that is not your own is refused until you `llws trust` it",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;

    fn profile(extra: &str) -> Profile {
        parse(
            &format!("[p]\nMODEL=m.gguf\nEXTRA_ARGS={extra}\n"),
            Path::new("m.conf"),
        )
        .unwrap()
        .profiles
        .remove(0)
    }

    #[test]
    fn options_that_write_load_or_download_are_found() {
        let p = profile(
            "--jinja --log-file /home/u/.bashrc --lora=/tmp/x.gguf --mmproj /srv/models/mm.gguf -md ../d.gguf -hf evil/repo --path / --slot-save-path /tmp",
        );
        let found: Vec<String> = risky_options(&p, Path::new("/srv/models"))
            .into_iter()
            .map(|r| format!("{} {}", r.flag, r.value))
            .collect();
        assert_eq!(
            found,
            [
                "--log-file /home/u/.bashrc",
                "--slot-save-path /tmp",
                "--lora /tmp/x.gguf",
                "-md ../d.gguf",
                "-hf evil/repo",
                "--path /",
            ]
        );
        // The models folder (and /models in the container) is where weights belong.
        assert!(
            risky_options(
                &profile("--mmproj /models/mm.gguf --jinja -np 1"),
                Path::new("/x")
            )
            .is_empty()
        );
        let d = diagnostics(Path::new("m.conf"), &p, Path::new("/srv/models"));
        assert!(d[0].to_string().contains("m.conf:3: warning: [p] `--log-file /home/u/.bashrc` makes llama-server write files there"), "{}", d[0]);
    }
}
