//! `llws trust [FILE]`, `llws trust --list`, `llws untrust FILE`: the files llws reads
//! although they are not the user's own settings (see `config::trust`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::GlobalArgs;
use crate::config::settings::{SettingsSource, find_settings_sources, parse_settings};
use crate::config::trust::{self, TrustStore, Verdict, sha256_hex};
use crate::util::safe_fs::write_atomic;

fn store() -> anyhow::Result<(PathBuf, TrustStore)> {
    let path = trust::store_path()
        .context("no folder to keep the trust list in: set HOME or XDG_DATA_HOME")?;
    let store = TrustStore::load_from(&path).map_err(anyhow::Error::msg)?;
    Ok((path, store))
}

fn save(path: &Path, store: &TrustStore) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(path, store.to_text().as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn trust(global: &GlobalArgs, file: Option<PathBuf>, list: bool) -> anyhow::Result<ExitCode> {
    let (store_path, mut store) = store()?;
    if list {
        if store.files.is_empty() {
            println!("No trusted files ({}).", store_path.display());
        }
        for f in &store.files {
            let state = match std::fs::read(&f.path) {
                Ok(bytes) if sha256_hex(&bytes) == f.sha256 => "trusted",
                Ok(_) => "changed",
                Err(_) => "missing",
            };
            println!("{state:<8} {}", f.path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let files = match file {
        Some(f) => vec![f],
        None => project_files(global)?,
    };
    if files.is_empty() {
        anyhow::bail!(
            "nothing to trust here: there is no ./llws.toml, and the models.conf in use is named by your own settings. Name a file: `llws trust FILE`"
        );
    }
    for path in &files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let canonical = path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        for line in review(path, &text) {
            println!("{line}");
        }
        let hash = sha256_hex(&bytes);
        let before = store.verdict(&canonical, &hash);
        store.trust(&canonical, &hash);
        println!(
            "{} {} (sha256 {})",
            if before == Verdict::Trusted {
                "already trusted:"
            } else {
                "trusted"
            },
            canonical.display(),
            &hash[..16]
        );
    }
    save(&store_path, &store)?;
    Ok(ExitCode::SUCCESS)
}

pub fn untrust(file: &Path) -> anyhow::Result<ExitCode> {
    let (store_path, mut store) = store()?;
    let canonical = file.canonicalize().unwrap_or_else(|_| {
        crate::config::paths::clean_path(&std::path::absolute(file).unwrap_or(file.into()))
    });
    if store.untrust(&canonical) {
        save(&store_path, &store)?;
        println!("no longer trusted: {}", canonical.display());
    } else {
        println!("{} was not trusted", canonical.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// What `llws trust` trusts without a FILE: this folder's llws.toml (when llws would find
/// it) and the models.conf llws would use here when it is not the user's own.
fn project_files(global: &GlobalArgs) -> anyhow::Result<Vec<PathBuf>> {
    let sources = find_settings_sources(global.config.as_deref()).map_err(anyhow::Error::from)?;
    let mut out = Vec::new();
    let models_conf = match sources.first() {
        Some(SettingsSource::CurrentFolder(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            out.push(path.clone());
            match parse_settings(&text, path) {
                Ok(settings) => Some(settings.models_conf),
                Err(e) => {
                    // Trusting a file does not need it to be valid; its models.conf cannot
                    // be known until it is.
                    eprintln!(
                        "llws: {} has errors (`llws check` lists them), so the models.conf it names was not looked for:\n{e}",
                        path.display()
                    );
                    None
                }
            }
        }
        Some(SettingsSource::Own(_)) => None,
        None => Some(std::env::current_dir()?.join("models.conf")),
    };
    if global.models.is_none()
        && let Some(m) = models_conf.filter(|m| m.is_file())
    {
        out.push(m);
    }
    Ok(out)
}

/// The keys of a settings file that choose what llws runs or reads.
const SETTINGS_KEYS: &[(&str, &str)] = &[
    ("", "backend"),
    ("", "models_conf"),
    ("", "models_dir"),
    ("server", "llama_server"),
    ("server", "image"),
    ("server", "docker_host"),
    ("server", "host"),
    ("api", "bind"),
    ("claude", "command"),
    ("claude", "args"),
    ("claude", "sandbox"),
    ("claude", "config_dir"),
    ("claude", "project_dir"),
    ("claude", "sandbox_ro"),
    ("claude", "sandbox_rw"),
    ("claude", "sandbox_env"),
    ("claude", "passthrough"),
    ("monitor", "nvml_library"),
    ("ui", "keymap"),
    ("ui", "theme"),
];

/// What the file makes llws run, for the user to see before it is trusted.
fn review(path: &Path, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if path.extension().is_some_and(|e| e == "toml") {
        let Ok(table) = text.parse::<toml::Table>() else {
            return vec![format!("{}: not valid TOML yet", path.display())];
        };
        for (section, key) in SETTINGS_KEYS {
            let value = if section.is_empty() {
                table.get(*key)
            } else {
                table
                    .get(*section)
                    .and_then(|s| s.as_table())
                    .and_then(|s| s.get(*key))
            };
            if let Some(v) = value {
                let name = if section.is_empty() {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                };
                out.push(format!("  {name} = {v}"));
            }
        }
        if !out.is_empty() {
            out.insert(0, format!("{} sets:", path.display()));
        }
    } else if let Ok(set) = crate::config::profiles::parse(text, path) {
        let models_dir = Path::new("/models");
        for p in &set.profiles {
            for r in crate::config::risky_args::risky_options(p, models_dir) {
                out.push(format!("  [{}] {} {}: {}", p.id, r.flag, r.value, r.why));
            }
        }
        if !out.is_empty() {
            out.insert(
                0,
                format!(
                    "{} passes llama-server options that reach beyond serving a model:",
                    path.display()
                ),
            );
        }
    }
    out
}
