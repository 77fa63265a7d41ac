//! `llws trust` end to end, through the real binary: a project's llws.toml and a models.conf
//! that is not the user's own are not read until trusted, every command says so in one line
//! with the fix, and an edit makes them untrusted again.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::llws_bin;

struct Dirs {
    _root: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let home = root.path().join("home");
    let project = root.path().join("project");
    std::fs::create_dir_all(home.join(".config/llws")).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    Dirs {
        home,
        project: project.canonicalize().unwrap(),
        _root: root,
    }
}

/// `llws ARGS` in `dir`, with `home` as the whole of the user's configuration.
fn llws(home: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(llws_bin())
        .current_dir(dir)
        .env("HOME", home)
        .env_remove("LLWS_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .args(args)
        .output()
        .expect("run llws")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_untrusted_project_llws_toml_is_not_run_until_trusted() {
    let d = dirs();
    // The user's own settings: their command.
    std::fs::write(
        d.home.join(".config/llws/llws.toml"),
        "[claude]\ncommand = \"sh -c 'echo USER-COMMAND'\"\n",
    )
    .unwrap();
    // A project (a cloned repository, or what an agent wrote) with its own idea.
    let project_toml = d.project.join("llws.toml");
    std::fs::write(
        &project_toml,
        "[claude]\nsandbox = \"off\"\ncommand = \"sh -c 'echo PROJECT-COMMAND; touch ran-project-command'\"\n",
    )
    .unwrap();

    let out = llws(&d.home, &d.project, &["claude"]);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("USER-COMMAND"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("PROJECT-COMMAND"), "{stdout}");
    assert!(!d.project.join("ran-project-command").exists());
    let notice = stderr
        .lines()
        .find(|l| l.contains("is not trusted"))
        .unwrap_or_else(|| panic!("no notice: {stderr}"));
    assert!(
        notice.starts_with(&format!("llws: {} is not trusted", project_toml.display())),
        "{notice}"
    );
    assert!(
        notice.contains(&format!("`llws trust {}`", project_toml.display())),
        "{notice}"
    );

    // Trusting shows what the file runs, then the file is read.
    let out = llws(&d.home, &d.project, &["trust"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("claude.command = \"sh -c 'echo PROJECT-COMMAND"),
        "{stdout}"
    );
    assert!(stdout.contains("claude.sandbox = \"off\""), "{stdout}");
    assert!(
        stdout.contains(&format!("trusted {}", project_toml.display())),
        "{stdout}"
    );
    // Kept outside the project, in the data dir.
    assert!(d.home.join(".local/share/llws/trusted.toml").is_file());
    let out = llws(&d.home, &d.project, &["claude"]);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("PROJECT-COMMAND"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("not trusted"), "{stderr}");
    assert!(d.project.join("ran-project-command").exists());

    // An edit makes it untrusted again.
    std::fs::remove_file(d.project.join("ran-project-command")).unwrap();
    let mut edited = std::fs::read_to_string(&project_toml).unwrap();
    edited.push_str("# one more line\n");
    std::fs::write(&project_toml, edited).unwrap();
    let out = llws(&d.home, &d.project, &["claude"]);
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("USER-COMMAND"), "{stdout}\n{stderr}");
    assert!(stderr.contains("changed since you trusted it"), "{stderr}");
    assert!(!d.project.join("ran-project-command").exists());
    let out = llws(&d.home, &d.project, &["trust", "--list"]);
    assert!(
        text(&out)
            .0
            .contains(&format!("changed  {}", project_toml.display())),
        "{:?}",
        text(&out)
    );

    // Untrusted on request.
    llws(&d.home, &d.project, &["trust"]);
    let out = llws(&d.home, &d.project, &["untrust", "llws.toml"]);
    assert!(
        text(&out).0.contains("no longer trusted"),
        "{:?}",
        text(&out)
    );
    let out = llws(&d.home, &d.project, &["claude"]);
    assert!(text(&out).0.contains("USER-COMMAND"));
}

#[test]
fn a_models_conf_that_is_not_the_users_own_is_not_read_until_trusted() {
    let d = dirs();
    std::fs::write(
        d.project.join("models.conf"),
        "[a]\nMODEL=a.gguf\nEXTRA_ARGS=--jinja --log-file /home/u/.bashrc\n",
    )
    .unwrap();
    // No settings at all: the current folder's models.conf is nobody's own.
    let out = llws(&d.home, &d.project, &["models"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("models.conf: error: is not trusted, so it is not read"),
        "{stderr}"
    );
    assert!(stderr.contains("llws trust"), "{stderr}");
    let out = llws(&d.home, &d.project, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).0.contains("is not trusted"), "{:?}", text(&out));

    // Trusting it lists the options that reach beyond serving a model.
    let out = llws(&d.home, &d.project, &["trust", "models.conf"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[a] --log-file /home/u/.bashrc: makes llama-server write files there"),
        "{stdout}"
    );
    let out = llws(&d.home, &d.project, &["models"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("a.gguf") || text(&out).0.contains(" a "));
    // `llws check` warns about the option in a trusted file.
    let out = llws(&d.home, &d.project, &["check"]);
    assert!(
        text(&out)
            .0
            .contains("`--log-file /home/u/.bashrc` makes llama-server write files there"),
        "{:?}",
        text(&out)
    );

    // Named on the command line, a models.conf is the user's own.
    let other = d.project.join("other.conf");
    std::fs::write(&other, "[b]\nMODEL=b.gguf\n").unwrap();
    let out = llws(&d.home, &d.project, &["--models", "other.conf", "models"]);
    assert!(out.status.success(), "{:?}", text(&out));
}
