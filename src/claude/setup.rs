//! `llws claude --setup`: prepares Claude Code's config dir for claude-local, as
//! `claude-local/install.sh` does, without needing the source tree (the seeded files are
//! built into the binary from `claude-local/home/`).
//!
//! It never touches ~/.claude itself beyond creating ~/.claude/ide, and never overwrites a
//! file the user may have edited; `.claude.json` is merged key by key.

use std::path::Path;

use anyhow::Context as _;

use crate::util::safe_fs::write_atomic;
use serde_json::{Map, Value, json};

const SETTINGS_JSON: &str = include_str!("../../claude-local/home/settings.json");
const CLAUDE_MD: &str = include_str!("../../claude-local/home/CLAUDE.md");
const SKILL_MD: &str = include_str!("../../claude-local/home/skills/project-setup/SKILL.md");

/// How far the config dir is set up for claude-local (what `llws doctor` reports and the
/// claude pane checks before it starts claude-local).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupState {
    /// Onboarding done and the project trusted: Claude Code opens on its prompt.
    Done,
    /// What Claude Code would still ask on its first screens.
    Missing(Vec<&'static str>),
    /// `.claude.json` cannot be read or is not JSON: left for the user to fix.
    Broken(String),
}

impl SetupState {
    /// One line for people: `set up` or what is missing.
    pub fn describe(&self) -> String {
        match self {
            SetupState::Done => "set up (onboarding done, project trusted)".into(),
            SetupState::Missing(what) => format!("not set up: {}", what.join(", ")),
            SetupState::Broken(why) => why.clone(),
        }
    }
}

/// Reads `.claude.json` in `config_dir`: is onboarding done and `project` trusted? Reads
/// only; a missing dir or file is "not set up".
pub fn state(config_dir: &Path, project: &Path) -> SetupState {
    let path = config_dir.join(".claude.json");
    let root = match read_no_follow(&path) {
        Ok(text) if text.trim().is_empty() => json!({}),
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(v) => v,
            Err(e) => {
                return SetupState::Broken(format!(
                    "{} is not valid JSON ({e}); fix or remove it",
                    path.display()
                ));
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return SetupState::Broken(format!("cannot read {}: {e}", path.display())),
    };
    let mut missing = Vec::new();
    if root["hasCompletedOnboarding"] != Value::Bool(true) {
        missing.push("first-run onboarding");
    }
    let key = project.display().to_string();
    if root["projects"][key.as_str()]["hasTrustDialogAccepted"] != Value::Bool(true) {
        missing.push("project not trusted");
    }
    if missing.is_empty() {
        SetupState::Done
    } else {
        SetupState::Missing(missing)
    }
}

/// Before claude-local starts in `project`: sets the config dir up (as `llws claude
/// --setup`) when it is not, so Claude Code opens on its prompt rather than its first-run
/// screens. Returns the one line that says what happened, or `None` when it was set up
/// already (or broken: the user's file is never overwritten; `llws doctor` names it).
pub fn ensure(config_dir: &Path, home: Option<&Path>, project: &Path) -> Option<String> {
    match state(config_dir, project) {
        SetupState::Done | SetupState::Broken(_) => None,
        SetupState::Missing(_) => Some(match run(config_dir, home, Some(project)) {
            Ok(_) => format!(
                "llws: set up {} for Claude Code: onboarding done, {} trusted (as `llws claude --setup`)",
                tilde(config_dir, home),
                tilde(project, home)
            ),
            Err(e) => format!(
                "llws: could not set up {}: {e:#} (`llws claude --setup` tries again)",
                config_dir.display()
            ),
        }),
    }
}

/// `path` with the home folder as `~`, for a line that must be short.
fn tilde(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

/// Reads `path`, but never through a link: the config dir is writable from a sandbox, and
/// a `.claude.json` linked to a file outside it would otherwise be read here, outside, and
/// its contents written back into the config dir for the sandbox to read.
fn read_no_follow(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other("it is a link, which llws does not follow")
            } else {
                e
            }
        })?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// What setup did, one line per action, for the user.
pub fn run(
    config_dir: &Path,
    home: Option<&Path>,
    project: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();
    std::fs::create_dir_all(config_dir)
        .with_context(|| format!("cannot create {}", config_dir.display()))?;
    // Folders inside the config dir are made one by one, never through a link (the dir is
    // writable from a sandbox, which could point `skills` anywhere).
    let mut dir = config_dir.to_path_buf();
    for part in ["skills", "project-setup"] {
        dir.push(part);
        match dir.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                anyhow::bail!("{} is a link, which llws does not follow", dir.display())
            }
            Ok(_) => {}
            Err(_) => std::fs::create_dir(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?,
        }
    }
    for (rel, text) in [
        ("settings.json", SETTINGS_JSON),
        ("CLAUDE.md", CLAUDE_MD),
        ("skills/project-setup/SKILL.md", SKILL_MD),
    ] {
        let path = config_dir.join(rel);
        // `symlink_metadata`: a link (even a dangling one) counts as there; writing through
        // it would create a file wherever it points.
        if path.symlink_metadata().is_ok() {
            report.push(format!("kept {}", path.display()));
        } else {
            write_atomic(&path, text.as_bytes(), 0o644)
                .with_context(|| format!("cannot write {}", path.display()))?;
            report.push(format!("wrote {}", path.display()));
        }
    }
    if let Some(home) = home {
        report.push(link_ide(config_dir, home)?);
    }
    let state = config_dir.join(".claude.json");
    merge_state(&state, project)?;
    report.push(match project {
        Some(p) => format!(
            "updated {} (onboarding done, {} trusted)",
            state.display(),
            p.display()
        ),
        None => format!("updated {} (onboarding done)", state.display()),
    });
    Ok(report)
}

/// `CONFIG/ide -> ~/.claude/ide`: the VS Code extension writes its lock files to
/// ~/.claude/ide whatever CLAUDE_CONFIG_DIR says, and `/ide` looks in the config dir.
fn link_ide(config_dir: &Path, home: &Path) -> anyhow::Result<String> {
    let target = home.join(".claude/ide");
    std::fs::create_dir_all(&target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    let link = config_dir.join("ide");
    if link.symlink_metadata().is_ok() {
        return Ok(format!("kept {}", link.display()));
    }
    std::os::unix::fs::symlink(&target, &link)
        .with_context(|| format!("cannot link {}", link.display()))?;
    Ok(format!("linked {} -> {}", link.display(), target.display()))
}

/// Sets `hasCompletedOnboarding`, a theme when none is chosen, and (for `project`) the trust
/// and project-onboarding flags, keeping every other key of an existing file.
pub fn merge_state(path: &Path, project: Option<&Path>) -> anyhow::Result<()> {
    let mut root = match read_no_follow(path) {
        Ok(text) if !text.trim().is_empty() => serde_json::from_str::<Value>(&text)
            .with_context(|| format!("{} is not valid JSON; fix or remove it", path.display()))?,
        Ok(_) => json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let obj = root
        .as_object_mut()
        .with_context(|| format!("{} does not hold a JSON object", path.display()))?;
    obj.insert("hasCompletedOnboarding".into(), Value::Bool(true));
    obj.entry("theme")
        .or_insert_with(|| Value::String("dark".into()));
    if let Some(project) = project {
        let projects = obj
            .entry("projects")
            .or_insert_with(|| Value::Object(Map::new()));
        if !projects.is_object() {
            *projects = Value::Object(Map::new());
        }
        let entry = projects
            .as_object_mut()
            .map(|p| {
                p.entry(project.display().to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
            })
            .context("projects is not an object")?;
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Some(e) = entry.as_object_mut() {
            e.insert("hasTrustDialogAccepted".into(), Value::Bool(true));
            e.insert("hasCompletedProjectOnboarding".into(), Value::Bool(true));
        }
    }
    let text = serde_json::to_string_pretty(&root)? + "\n";
    write_atomic(path, text.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_files_links_ide_and_merges_state() {
        let base = tempfile::tempdir().unwrap();
        let home = base.path().join("home");
        let cfg = home.join(".claude-local");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("CLAUDE.md"), "mine").unwrap();
        std::fs::write(
            cfg.join(".claude.json"),
            r#"{"theme":"light","numStartups":3,"projects":{"/a":{"x":1}}}"#,
        )
        .unwrap();

        let report = run(&cfg, Some(&home), Some(Path::new("/work/p"))).unwrap();
        assert!(
            report
                .iter()
                .any(|l| l.starts_with("kept") && l.ends_with("CLAUDE.md")),
            "{report:?}"
        );
        assert_eq!(
            std::fs::read_to_string(cfg.join("CLAUDE.md")).unwrap(),
            "mine"
        );
        let settings: Value =
            serde_json::from_str(&std::fs::read_to_string(cfg.join("settings.json")).unwrap())
                .unwrap();
        assert_eq!(settings["env"]["BASH_MAX_TIMEOUT_MS"], "600000");
        assert_eq!(settings["plansDirectory"], "./claude_plans");
        assert!(cfg.join("skills/project-setup/SKILL.md").is_file());
        assert_eq!(
            std::fs::read_link(cfg.join("ide")).unwrap(),
            home.join(".claude/ide")
        );

        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(cfg.join(".claude.json")).unwrap())
                .unwrap();
        assert_eq!(state["hasCompletedOnboarding"], true);
        assert_eq!(state["theme"], "light", "a chosen theme is kept");
        assert_eq!(state["numStartups"], 3);
        assert_eq!(state["projects"]["/a"]["x"], 1);
        assert_eq!(state["projects"]["/work/p"]["hasTrustDialogAccepted"], true);
        assert_eq!(
            state["projects"]["/work/p"]["hasCompletedProjectOnboarding"],
            true
        );

        // Idempotent.
        run(&cfg, Some(&home), Some(Path::new("/work/p"))).unwrap();
        let again: Value =
            serde_json::from_str(&std::fs::read_to_string(cfg.join(".claude.json")).unwrap())
                .unwrap();
        assert_eq!(again, state);
    }

    #[test]
    fn ensure_sets_up_once_and_leaves_a_broken_file_alone() {
        let base = tempfile::tempdir().unwrap();
        let cfg = base.path().join(".claude-local");
        let project = Path::new("/work/p");
        assert_eq!(
            state(&cfg, project),
            SetupState::Missing(vec!["first-run onboarding", "project not trusted"])
        );
        let line = ensure(&cfg, None, project).expect("a line saying what was done");
        assert!(line.contains("onboarding done, /work/p trusted"), "{line}");
        let home = base.path();
        assert_eq!(tilde(&cfg, Some(home)), "~/.claude-local");
        assert_eq!(tilde(Path::new("/work/p"), Some(home)), "/work/p");
        assert_eq!(state(&cfg, project), SetupState::Done);
        assert!(cfg.join("settings.json").is_file());
        assert_eq!(
            ensure(&cfg, None, project),
            None,
            "nothing to say the second time"
        );
        // Another project is not trusted yet.
        assert_eq!(
            state(&cfg, Path::new("/work/q")),
            SetupState::Missing(vec!["project not trusted"])
        );
        std::fs::write(cfg.join(".claude.json"), "{broken").unwrap();
        assert!(matches!(state(&cfg, project), SetupState::Broken(_)));
        assert_eq!(ensure(&cfg, None, project), None);
        assert_eq!(
            std::fs::read_to_string(cfg.join(".claude.json")).unwrap(),
            "{broken",
            "the user's file is kept"
        );
        // A link planted in the config dir (writable from a sandbox) is not followed: the
        // file it points at is neither read into the dir nor changed.
        let secret = base.path().join("secret.json");
        std::fs::write(&secret, r#"{"token":"s3cret"}"#).unwrap();
        std::fs::remove_file(cfg.join(".claude.json")).unwrap();
        std::os::unix::fs::symlink(&secret, cfg.join(".claude.json")).unwrap();
        assert!(
            matches!(state(&cfg, project), SetupState::Broken(ref why) if why.contains("link")),
            "{:?}",
            state(&cfg, project)
        );
        assert_eq!(ensure(&cfg, None, project), None);
        assert!(run(&cfg, None, Some(project)).is_err());
        assert!(
            cfg.join(".claude.json")
                .symlink_metadata()
                .unwrap()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            r#"{"token":"s3cret"}"#
        );
    }

    #[test]
    fn a_fresh_state_file_gets_the_dark_theme() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".claude.json");
        merge_state(&f, None).unwrap();
        let state: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(
            state,
            json!({"hasCompletedOnboarding": true, "theme": "dark"})
        );
        std::fs::write(&f, "{not json").unwrap();
        assert!(
            merge_state(&f, None).is_err(),
            "a broken file is reported, not clobbered"
        );
    }
}
