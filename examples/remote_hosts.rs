//! Remote hosts (issue 15): how late a remote's log line reaches the client's screen, and
//! how old a remote's monitor sample is when it reaches the client, on loopback and
//! through a real SSH tunnel. Prints a line per round and a summary per side.
//!
//!     LLWS_FIXTURES=~/.cache/llws-test cargo run --example remote_hosts [-- ROUNDS REQUESTS]
//!
//! The remote is `llws serve` with the tiny model (process backend, its API and server on
//! loopback); the client is the workspace in tmux (200×60) with a `[[remote]]` for it,
//! directly or through Debian's sshd on a loopback port with its own keys and config (the
//! tests' fixture, tests/harness/sshd.rs). Sides alternate which goes first each round.
//!
//! - Log delay: each request through the client's router makes the remote's llama-server
//!   write a few lines; the remote's llws stamps each line when it reads it (`time_ms` of
//!   `GET /logs`). A thread captures the client's zoomed log pane every 5 ms and notes when
//!   each row first shows; the delay is that moment less the stamp (one clock: loopback).
//!   It includes the client's frame limiter (`ui.frame_rate`, 30/s: up to 33 ms) and the
//!   capture's own cost (a few ms).
//! - Sample age: the remote's samples read from its `GET /monitor/stream` as the workspace
//!   reads them (`api::remote::follow_monitor`); the age is the arrival time less the
//!   sample's `taken_at` (the first, which the stream opens with and which may be up to one
//!   interval old, left out). What the screen shows is at most one frame older.

#[path = "../tests/harness/sshd.rs"]
mod sshd;

/// What the sshd fixture needs of the tests' support module.
mod support {
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port")
    }
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::free_port;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn fixtures() -> HashMap<String, String> {
    let dir = std::env::var("LLWS_FIXTURES")
        .unwrap_or_else(|_| format!("{}/.cache/llws-test", std::env::var("HOME").unwrap()));
    std::fs::read_to_string(Path::new(&dir).join("fixtures.env"))
        .expect("fixtures.env: run scripts/fixtures first")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn llws_bin() -> PathBuf {
    // target/<profile>/examples/remote_hosts -> target/<profile>/llws
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("llws")
}

struct Side {
    dir: tempfile::TempDir,
    config: PathBuf,
    api: String,
    router: String,
}

fn side(name: &str, extra: &str, fx: &HashMap<String, String>) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("models.conf");
    std::fs::write(
        &conf,
        format!(
            "[tiny-a]\nNAME=Tiny A\nMODEL={}\nCTX_SIZE=2048\nEXTRA_ARGS=--jinja -np 1\n",
            fx["LLWS_TEST_MODEL"]
        ),
    )
    .unwrap();
    let (port, api) = (free_port(), free_port());
    let config = dir.path().join("llws.toml");
    std::fs::write(
        &config,
        format!(
            "backend = \"process\"\nmodels_conf = \"{}\"\nmodels_dir = \"{}\"\n\n[server]\nport = {port}\nllama_server = \"{}\"\ngpus = \"none\"\n\n[api]\nbind = \"127.0.0.1:{api}\"\n\n[claude]\ncommand = \"bash --norc --noprofile -i\"\n{extra}",
            conf.display(),
            fx["LLWS_TEST_MODEL_DIR"],
            fx["LLWS_TEST_LLAMA_SERVER"],
        ),
    )
    .unwrap();
    let _ = name;
    Side {
        dir,
        config,
        api: format!("http://127.0.0.1:{api}"),
        router: format!("http://127.0.0.1:{port}"),
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }
    fn prefix(&self, key: &str) {
        self.run(&["send-keys", "C-\\"]);
        self.run(&["send-keys", key]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// One round on one side: the delays of the log lines (ms) and the sample ages (ms).
fn round(via_ssh: bool, requests: usize, fx: &HashMap<String, String>) -> (Vec<u64>, Vec<u64>) {
    let remote = side("remote", "", fx);
    let mut serve: Child = Command::new(llws_bin())
        .args([
            "--config",
            remote.config.to_str().unwrap(),
            "serve",
            "--profile",
            "tiny-a",
        ])
        .env("LLWS_STATE_DIR", remote.dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let h = http();
    wait_until("the remote running", Duration::from_secs(120), || {
        h.get(format!("{}/status", remote.api))
            .send()
            .ok()
            .and_then(|r| r.json::<serde_json::Value>().ok())
            .is_some_and(|s| s["state"] == "running")
    });
    let remote_server_port = remote.router.rsplit(':').next().unwrap().to_string();
    let sshd = via_ssh.then(|| sshd::Sshd::start(&remote.dir.path().join("sshd")));
    let ssh = sshd.as_ref().map_or(String::new(), |s| {
        format!(
            "ssh = \"{}\"\nssh_config = \"{}\"\n",
            s.destination,
            s.client_config.display()
        )
    });
    let client = side(
        "client",
        &format!(
            "\n[[remote]]\nname = \"box\"\nurl = \"{}\"\nserver_port = {remote_server_port}\n{ssh}",
            remote.api
        ),
        fx,
    );
    let socket = format!("llws-remote-hosts-{}", std::process::id());
    let t = Tmux(socket);
    let cmd = format!(
        "env LLWS_STATE_DIR={} {} --config {}",
        client.dir.path().join("state").display(),
        llws_bin().display(),
        client.config.display()
    );
    Command::new("tmux")
        .args([
            "-L",
            &t.0,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "60",
            &cmd,
        ])
        .status()
        .unwrap();
    wait_until(
        "the client following the remote",
        Duration::from_secs(60),
        || t.screen().contains("Tiny A on box running"),
    );
    t.run(&["send-keys", "Escape"]);
    t.prefix("2");
    t.prefix("z");
    std::thread::sleep(Duration::from_millis(500));

    // The screen watcher: when each log row first shows.
    let seen: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (seen, stop, socket) = (seen.clone(), stop.clone(), t.0.clone());
        std::thread::spawn(move || {
            let t = Tmux(socket);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let screen = t.screen();
                let at = now_ms();
                let mut seen = seen.lock().unwrap();
                for row in screen.lines() {
                    let inner = row
                        .trim_start_matches(['│', '┃'])
                        .trim_end_matches(['│', '┃']);
                    seen.entry(inner.trim_end().to_string()).or_insert(at);
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(5));
            }
            std::mem::forget(t); // the server belongs to the round
        })
    };
    let mut last_seq = h
        .get(format!("{}/logs?tail=1", remote.api))
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap()["next_seq"]
        .as_u64()
        .unwrap_or(0);
    let mut delays = Vec::new();
    for i in 0..requests {
        let reply = h
            .post(format!("{}/completion", client.router))
            .json(&serde_json::json!({"prompt": format!("Count to {i}"), "n_predict": 4}))
            .send()
            .unwrap();
        assert!(reply.status().is_success(), "{}", reply.status());
        std::thread::sleep(Duration::from_millis(700));
        let logs = h
            .get(format!("{}/logs?tail=200", remote.api))
            .send()
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap();
        let seen = seen.lock().unwrap();
        for line in logs["lines"].as_array().unwrap() {
            let seq = line["seq"].as_u64().unwrap();
            if seq < last_seq {
                continue;
            }
            last_seq = seq + 1;
            let text = line["text"].as_str().unwrap_or_default();
            let time = line["time_ms"].as_u64().unwrap();
            // The row shows the line from its start, cut at the pane's width.
            let shown = seen
                .iter()
                .filter(|(row, _)| row.len() > 20 && text.starts_with(row.as_str()))
                .map(|(_, at)| *at)
                .min();
            if let Some(at) = shown {
                delays.push(at.saturating_sub(time));
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();

    // Sample ages, read as the workspace reads them.
    let ages = sample_ages(&remote.api, &client.config, sshd.is_some());
    drop(t);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = serve.wait();
    drop(sshd);
    (delays, ages)
}

fn sample_ages(remote_api: &str, client_config: &Path, via_ssh: bool) -> Vec<u64> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let text = std::fs::read_to_string(client_config).unwrap();
        let settings = llws::config::settings::parse_settings(&text, client_config).unwrap();
        let remote = &settings.remotes[0];
        let mut tunnel = None;
        let address = if via_ssh {
            let plan = llws::remote::TunnelPlan::for_remote(remote)
                .unwrap()
                .unwrap();
            let t = llws::remote::Tunnel::start(plan);
            t.wait_up(Duration::from_secs(30)).await.unwrap();
            let url = t.api_url().unwrap();
            tunnel = Some(t);
            llws::api::remote::Address {
                url,
                host: remote.authority(),
            }
        } else {
            llws::api::remote::Address {
                url: remote_api.to_string(),
                host: None,
            }
        };
        let target = llws::api::remote::Target {
            address: tokio::sync::watch::channel(Some(address)).1,
            token: String::new(),
        };
        let (monitor, mut heard) = llws::api::remote::follow_monitor(&settings, target);
        let mut ages = Vec::new();
        // The stream opens with the latest sample, up to one interval old: left out.
        let mut first = true;
        while ages.len() < 10 {
            if heard.changed().await.is_err() {
                break;
            }
            let Some(at) = *heard.borrow() else { continue };
            if std::mem::take(&mut first) {
                continue;
            }
            if let Some(taken) = monitor.system.borrow().taken_at {
                let taken = taken.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
                ages.push(at.saturating_sub(taken));
            }
        }
        drop(tunnel);
        ages
    })
}

fn stats(v: &mut [u64]) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort_unstable();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "n {:>3}  median {:>4} ms  p90 {:>4} ms  min {:>3} ms  max {:>4} ms",
        v.len(),
        p(0.5),
        p(0.9),
        v[0],
        v[v.len() - 1]
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let fx = fixtures();
    let mut all: HashMap<bool, (Vec<u64>, Vec<u64>)> = HashMap::new();
    for r in 0..rounds {
        let order = if r % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for via_ssh in order {
            let (mut d, mut a) = round(via_ssh, requests, &fx);
            let side = if via_ssh { "tunnel  " } else { "loopback" };
            println!("round {r} {side} log delay: {}", stats(&mut d));
            println!("round {r} {side} sample age: {}", stats(&mut a));
            let e = all.entry(via_ssh).or_default();
            e.0.extend(d);
            e.1.extend(a);
        }
    }
    for via_ssh in [false, true] {
        let side = if via_ssh { "tunnel  " } else { "loopback" };
        if let Some((d, a)) = all.get_mut(&via_ssh) {
            println!("all {side} log delay: {}", stats(d));
            println!("all {side} sample age: {}", stats(a));
        }
    }
}
