//! The workspace across hosts end to end (issue 15, item 3): two real llws processes on
//! loopback with their own state folders and ports. The remote is `llws serve` with the
//! tiny model; the client is the workspace in tmux with a `[[remote]]` for it, bash in its
//! claude pane. A switch chosen in the client's picker changes the remote (its `/status`);
//! the remote's log lines and system samples show in the client's panes under its name;
//! the client's router answers with the remote's model; the remote stopped is shown stale,
//! and started again is caught up without a restart of the workspace. The same again
//! through a real SSH tunnel (Debian's sshd on a loopback port with its own keys and
//! config, harness/sshd.rs), the remote's API and server on its loopback only.

mod harness;
mod support;

use std::path::Path;
use std::time::Duration;

use harness::TestEnv;
use harness::api::Api;
use harness::serve::LlwsServe;
use harness::sshd::Sshd;
use llws::config::remotes::RemoteSettings;
use llws::config::settings::BackendKind;
use nix::sys::signal::Signal;
use support::llws_bin;
use support::tmux::Tmux;

const T: Duration = Duration::from_secs(30);
const LOAD: Duration = Duration::from_secs(90);

fn prefix(t: &Tmux, key: &str) {
    t.keys(&["C-\\"]);
    t.keys(&[key]);
}

/// The number the picker gives the row that shows `id`.
fn row_number(screen: &str, id: &str) -> String {
    let line = screen
        .lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("no row for {id}:\n{screen}"));
    let at = line.find(')').expect("a numbered row");
    line[..at]
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .chars()
        .rev()
        .collect()
}

/// Requests the remote's router has seen (its `/activity`).
async fn remote_requests(remote: &Api) -> usize {
    remote.get("/activity?limit=100").await.json()["requests"]
        .as_array()
        .map_or(0, Vec::len)
}

fn start_remote(remote: &TestEnv, config: &Path, args: &[&str]) -> LlwsServe {
    LlwsServe::start(
        config,
        &remote.state_dir(),
        remote.settings.server.port,
        args,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_drives_a_remote_and_shows_its_panels() {
    across_hosts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_through_an_ssh_tunnel() {
    across_hosts(true).await;
}

async fn across_hosts(via_ssh: bool) {
    // The remote: llws serve, idle, its llama-server on a known port (its log says it).
    let mut remote = TestEnv::new(BackendKind::Process);
    let remote_upstream = support::free_port();
    remote.settings.router.upstream_port = remote_upstream;
    let remote_config = remote.write_settings_file();
    let mut serve = start_remote(&remote, &remote_config, &[]);
    let remote_api = Api::new(remote.settings.api.base_url());
    remote_api.wait_up(T).await;
    // Nothing of the remote listens beyond its loopback.
    assert!(
        remote
            .settings
            .api
            .socket_addr()
            .unwrap()
            .ip()
            .is_loopback()
    );
    let sshd = via_ssh.then(|| Sshd::start(&remote.dir.path().join("sshd")));

    // The client: the workspace with the remote as `box`, bash in the claude pane.
    let mut client = TestEnv::new(BackendKind::Process);
    client.settings.claude.command = "bash --norc --noprofile -i".into();
    client.settings.claude.project_dir = client.dir.path().to_path_buf();
    client.settings.remotes.push(RemoteSettings {
        name: "box".into(),
        url: remote.settings.api.base_url(),
        token: String::new(),
        ssh: sshd
            .as_ref()
            .map_or(String::new(), |s| s.destination.clone()),
        ssh_config: sshd
            .as_ref()
            .map_or(Default::default(), |s| s.client_config.clone()),
        server_port: remote.settings.server.port,
    });
    let config = client.write_settings_file();
    let cmd = format!(
        "env PS1='pane$ ' HISTFILE=/dev/null LLWS_STATE_DIR={} {} --config {}",
        client.state_dir().display(),
        llws_bin().display(),
        config.display()
    );
    let t = Tmux::start(200, 60, &[], &cmd);

    // Nothing runs: the picker opens, this machine's profiles first, then the remote's.
    let screen = t.wait_for("the picker grouped by host", T, |s| {
        s.contains("── this machine") && s.contains("── remote box") && s.contains("tiny-b@box")
    });
    let this = screen.find("── this machine").unwrap();
    let other = screen.find("── remote box").unwrap();
    assert!(this < other, "{screen}");

    // The remote's Tiny B, chosen in the client's picker: the remote's controller loads it.
    t.keys(&[&row_number(&screen, "tiny-b@box")]);
    t.wait_text("● Tiny B on box running", LOAD);
    let status = remote_api.status().await;
    assert_eq!(
        (status["state"].as_str(), status["model"].as_str()),
        (Some("running"), Some("tiny-b")),
        "{status}"
    );

    // The panes show the serving host: its log (zoomed, to see whole lines) and system.
    t.wait_text("server log · box", T);
    t.wait_for("the remote's system samples", T, |s| {
        s.contains("system · box") && !s.contains("stale")
    });
    prefix(&t, "2");
    prefix(&t, "z");
    t.wait_text(
        &format!("listening on http://127.0.0.1:{remote_upstream}"),
        T,
    );
    prefix(&t, "z");

    // The client's router: answered by the remote's model.
    let reply = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/completion", client.settings.server.base_url()))
        .json(&serde_json::json!({"prompt": "Hello", "n_predict": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(remote_requests(&remote_api).await, 1);
    // Through the tunnel's local end when there is one, else to the remote's own port.
    let upstream = Api::new(client.settings.api.base_url()).status().await["router"]["upstream"]
        .as_str()
        .unwrap()
        .to_string();
    let direct = format!("127.0.0.1:{}", remote.settings.server.port);
    assert_eq!(upstream == direct, !via_ssh, "router upstream {upstream}");

    // The cycle key shows this machine's panes, and again the remote's.
    prefix(&t, "n");
    t.wait_text("system · this machine", T);
    prefix(&t, "n");
    t.wait_text("system · box", T);

    // The remote goes away: its panes are marked stale, with the age of the last sample.
    serve.signal(Signal::SIGTERM);
    serve.wait_exit(T);
    t.wait_text("box (stale, last sample", T);
    // The status bar says it too: its model cannot be reached now.
    t.wait_text("stopped answering", T);

    // It comes back (with Tiny B again): the workspace catches up, state and log.
    let _serve = start_remote(&remote, &remote_config, &["--profile", "tiny-b"]);
    remote_api.wait_up(T).await;
    t.wait_for("the remote caught up", LOAD, |s| {
        s.contains("● Tiny B on box running") && !s.contains("stale")
    });
    prefix(&t, "2");
    prefix(&t, "z");
    // The new run's lines follow the old ones (the log was caught up, not restarted).
    let listening = format!("listening on http://127.0.0.1:{remote_upstream}");
    t.wait_for("the new run's log lines", T, |s| {
        s.matches(&listening).count() >= 2
    });
}
