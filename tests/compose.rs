//! The compose path: docker/llama-server-from-env (the compose entrypoint) builds the same
//! llama-server argv from `llws env PROFILE` and the compose defaults as llws passes to the
//! container itself. The script runs for real under /bin/sh, with a stand-in llama-server
//! on PATH that prints the argv it was given.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What the entrypoint did: its output, and the argv its `llama-server` got (if it ran).
struct Run {
    out: Output,
    argv: Option<Vec<String>>,
}

/// Runs the entrypoint with exactly `env` (plus PATH), with a stand-in `llama-server` that
/// records its arguments, NUL-separated, in a file beside itself.
fn run_entrypoint(env: &BTreeMap<String, String>) -> Run {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let stub = bin.path().join("llama-server");
    std::fs::write(
        &stub,
        "#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$(dirname \"$0\")/argv\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("/bin/sh")
        .arg(repo().join("docker/llama-server-from-env"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .envs(env)
        .output()
        .expect("run /bin/sh docker/llama-server-from-env");
    let argv = std::fs::read_to_string(bin.path().join("argv"))
        .ok()
        .map(|text| text.split_terminator('\0').map(str::to_string).collect());
    Run { out, argv }
}

fn argv(run: &Run) -> Vec<String> {
    assert!(
        run.out.status.success(),
        "the entrypoint failed ({}): {}",
        run.out.status,
        String::from_utf8_lossy(&run.out.stderr)
    );
    run.argv.clone().expect("llama-server was not started")
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_follow_the_original_order() {
    let run = run_entrypoint(&env(&[("MODEL", "org/m.gguf")]));
    let expected = "--model /models/org/m.gguf --ctx-size 131072 --n-gpu-layers auto --host 0.0.0.0 --port 8080 --split-mode layer --main-gpu 0 --flash-attn on --cache-type-k q8_0 --cache-type-v q8_0 --fit on --fit-target 128,1024";
    assert_eq!(argv(&run).join(" "), expected);
    // The first log line names the command, as the original's did.
    assert_eq!(
        String::from_utf8_lossy(&run.out.stdout),
        format!("Starting llama-server with: {expected}\n")
    );
}

#[test]
fn optional_flags_and_quoted_extra_args() {
    let run = run_entrypoint(&env(&[
        ("MODEL", "m.gguf"),
        ("TENSOR_SPLIT", "3,1"),
        ("FLASH_ATTN", "0"),
        ("FIT_TARGET", ""),
        ("FIT_CTX", "16384"),
        ("PORT", "9090"),
        (
            "EXTRA_ARGS",
            r#"--jinja -np 1 --chat-template-kwargs '{"enable_thinking": false}' --alias "my model""#,
        ),
    ]));
    assert_eq!(
        argv(&run),
        [
            "--model",
            "/models/m.gguf",
            "--ctx-size",
            "131072",
            "--n-gpu-layers",
            "auto",
            "--host",
            "0.0.0.0",
            "--port",
            "9090",
            "--split-mode",
            "layer",
            "--tensor-split",
            "3,1",
            "--main-gpu",
            "0",
            "--cache-type-k",
            "q8_0",
            "--cache-type-v",
            "q8_0",
            "--fit",
            "on",
            "--fit-ctx",
            "16384",
            "--jinja",
            "-np",
            "1",
            "--chat-template-kwargs",
            r#"{"enable_thinking": false}"#,
            "--alias",
            "my model",
        ]
    );
}

#[test]
fn missing_model_and_bad_quoting_fail_with_a_message() {
    let run = run_entrypoint(&env(&[]));
    assert_eq!(run.out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&run.out.stderr).contains("MODEL is not set"));
    assert!(run.argv.is_none());

    let run = run_entrypoint(&env(&[("MODEL", "m.gguf"), ("EXTRA_ARGS", "--alias 'x")]));
    assert_eq!(run.out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&run.out.stderr).contains("EXTRA_ARGS is not valid shell syntax")
    );
    assert!(run.argv.is_none());
}

/// `${NAME:-default}` for each variable in the compose file's `environment:` block.
fn compose_defaults() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed == "environment:" {
            inside = true;
            continue;
        }
        if inside {
            let Some((key, value)) = trimmed.split_once(": ") else {
                break;
            };
            let default = value
                .strip_prefix(&format!("${{{key}:-"))
                .and_then(|v| v.strip_suffix('}'))
                .unwrap_or_else(|| {
                    panic!("compose passes {key} as `{value}`, not ${{{key}:-...}}")
                });
            out.insert(key.to_string(), default.to_string());
        }
    }
    out
}

/// The values of a .env file as compose reads them (the quoting llws writes: single quotes
/// are literal, double quotes take backslash escapes and `$$`).
fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (key, raw) = line.split_once('=').expect("KEY=VALUE");
        let value = if let Some(v) = raw.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            v.to_string()
        } else if let Some(v) = raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            let mut s = String::new();
            let mut chars = v.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => s.extend(chars.next()),
                    '$' if chars.peek() == Some(&'$') => {
                        chars.next();
                        s.push('$');
                    }
                    c => s.push(c),
                }
            }
            s
        } else {
            raw.to_string()
        };
        out.insert(key.to_string(), value);
    }
    out
}

/// Runs llws with default settings (an empty settings file) and the shipped models.conf.
fn llws(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("llws.toml");
    std::fs::write(&settings, "").unwrap();
    let out = Command::new(support::llws_bin())
        .arg("--config")
        .arg(&settings)
        .args(["--models", repo().join("models.conf").to_str().unwrap()])
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run llws");
    assert!(
        out.status.success(),
        "llws {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn compose_gives_the_argv_llws_gives_the_container() {
    let defaults = compose_defaults();
    let expected_keys = [
        "MODEL",
        "CTX_SIZE",
        "N_GPU_LAYERS",
        "FIT",
        "FIT_TARGET",
        "FIT_CTX",
        "SPLIT_MODE",
        "TENSOR_SPLIT",
        "MAIN_GPU",
        "FLASH_ATTN",
        "KV_CACHE_TYPE_K",
        "KV_CACHE_TYPE_V",
        "EXTRA_ARGS",
        "PORT",
    ];
    let mut keys: Vec<&str> = defaults.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = expected_keys.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "the compose file's environment keys");

    let profiles = ["demo-small", "demo-8k", "bench-demo"];
    for id in profiles {
        let dotenv = parse_dotenv(&llws(&["env", id]));
        // Compose: `${KEY:-default}` takes the .env value unless it is empty or unset.
        let container_env: BTreeMap<String, String> = defaults
            .iter()
            .map(|(key, default)| {
                let value = dotenv.get(key).filter(|v| !v.is_empty()).unwrap_or(default);
                (key.clone(), value.clone())
            })
            .collect();
        let from_env = argv(&run_entrypoint(&container_env));
        let direct: Vec<String> = serde_json::from_str(&llws(&["args", id, "--json"])).unwrap();
        assert_eq!(
            from_env, direct,
            "[{id}]: the compose entrypoint's argv differs from llws's"
        );
    }
}
