//! `llws status`, `llws switch`, `llws stop`: clients of a running llws's API.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::api::client::{ApiClient, ClientError, LogStreamItem, SwitchReply};
use crate::api::types::{StatusResponse, SwitchResponse, TimingsInfo};
use crate::config::Settings;
use crate::config::suggest::{closest, did_you_mean};
use crate::server::owner::owner_of;
use crate::util::state_dir;

use super::Context;

/// `llws models` waits this long for a running llws, then lists without the mark.
const QUICK_TIMEOUT: Duration = Duration::from_millis(150);
/// For the answers that never wait on the server (`/status`, `/models`, `?wait=false`).
const SHORT_TIMEOUT: Duration = Duration::from_secs(10);

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The profile a running llws reports as active, if one answers at once; used to mark the
/// active profile in `llws models`.
pub fn active_profile_quick(settings: &Settings) -> Option<String> {
    if !settings.api.enabled {
        return None;
    }
    let rt = runtime().ok()?;
    let client = api_client_for(settings, Some(QUICK_TIMEOUT));
    let status = rt.block_on(client.status()).ok()?;
    match status.state.as_str() {
        "starting" | "running" => status.model,
        _ => None,
    }
}

/// A client of the API of the llws that owns the server (from its owner record), or of the
/// address in the settings when none has recorded one.
pub fn api_client(ctx: &Context, timeout: Option<Duration>) -> ApiClient {
    api_client_for(&ctx.settings, timeout)
}

fn api_client_for(settings: &Settings, timeout: Option<Duration>) -> ApiClient {
    match owner_of(settings, &state_dir()).and_then(|o| o.api_url) {
        Some(url) => ApiClient::at(&url, &settings.api.token, timeout),
        None => ApiClient::new(&settings.api, timeout),
    }
}

pub fn status(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let client = api_client(ctx, Some(SHORT_TIMEOUT));
    if json {
        return Ok(match rt.block_on(client.status_text()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            // No llws: what its state file and container say.
            Err(ClientError::NotRunning { .. }) => super::kept::status(ctx, true)?,
            Err(e) => fail(&e),
        });
    }
    Ok(match rt.block_on(client.status()) {
        Ok(status) => {
            print!("{}", render_status(&status, client.base_url()));
            ExitCode::SUCCESS
        }
        Err(ClientError::NotRunning { .. }) => super::kept::status(ctx, false)?,
        Err(e) => fail(&e),
    })
}

pub fn switch(ctx: &Context, profile: &str, no_wait: bool) -> anyhow::Result<ExitCode> {
    switch_answering(ctx, profile, no_wait, None)
}

/// [`switch`]; when a server llws did not start blocks it and `foreign` says what to do
/// about it (`llws up --replace`/`--adopt` through the owner), answered with
/// `POST /foreign`.
pub fn switch_answering(
    ctx: &Context,
    profile: &str,
    no_wait: bool,
    foreign: Option<crate::server::foreign::ForeignAction>,
) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    // A waiting switch is bounded by the server (health plus stop timeout); the client
    // only bounds the connection.
    let client = api_client(ctx, no_wait.then_some(SHORT_TIMEOUT));
    Ok(switch_through(&rt, &client, profile, no_wait, foreign))
}

/// A switch through `client` (this machine's llws, or a `[[remote]]`'s), said on stdout
/// or stderr as `llws switch` says it.
pub fn switch_through(
    rt: &tokio::runtime::Runtime,
    client: &ApiClient,
    profile: &str,
    no_wait: bool,
    foreign: Option<crate::server::foreign::ForeignAction>,
) -> ExitCode {
    let mut result = rt.block_on(client.switch(profile, !no_wait));
    if let (Ok(SwitchReply::Done(reply)), Some(action)) = (&result, foreign)
        && reply.outcome == "blocked"
    {
        eprintln!(
            "llws: {}; --{}: asking the owner to {}",
            reply.status,
            action.as_str(),
            action.as_str()
        );
        result = rt
            .block_on(client.resolve_foreign(action))
            .map(|r| SwitchReply::Done(Box::new(r)));
    }
    match result {
        Ok(SwitchReply::Accepted(_)) => {
            println!("Switching to {profile}; `llws status` shows the progress.");
            ExitCode::SUCCESS
        }
        Ok(SwitchReply::Done(reply)) if reply.success => {
            let how = if reply.outcome == "already_running" {
                " (it already was: nothing restarted)".to_string()
            } else {
                reply
                    .timings
                    .as_ref()
                    .map(|t| format!(" after {}", timings_line(t)))
                    .unwrap_or_default()
            };
            println!("{} ({profile}) is running{how}.", reply.model_name);
            ExitCode::SUCCESS
        }
        Ok(SwitchReply::Done(reply)) => {
            eprint!("{}", render_failed_switch(profile, &reply));
            ExitCode::FAILURE
        }
        Err(ClientError::Api { status: 404, body }) if body.models.is_some() => {
            let known = body.models.clone().unwrap_or_default();
            let close = closest(profile, known.iter().map(String::as_str));
            eprintln!("llws: {}.{}\n", body.error, did_you_mean("", &close));
            match rt.block_on(client.models()) {
                Ok(models) => {
                    eprintln!("Profiles of the running llws:");
                    for m in models.models {
                        let bench = if m.is_bench { "  (bench)" } else { "" };
                        eprintln!("  {:<24} {}{bench}", m.id, m.name);
                    }
                }
                Err(_) => eprintln!(
                    "Profiles of the running llws: {}",
                    body.models.unwrap_or_default().join(", ")
                ),
            }
            ExitCode::FAILURE
        }
        Err(ClientError::Api { status: 409, body }) => {
            eprintln!(
                "llws: a switch is already in progress (state: {}); try again when it is done, or `llws stop` to cancel it",
                body.state.as_deref().unwrap_or("?")
            );
            ExitCode::FAILURE
        }
        Err(e) => fail(&e),
    }
}

pub fn stop(ctx: &Context) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let client = api_client(ctx, None);
    Ok(match rt.block_on(client.stop()) {
        Ok(reply) if reply.success => {
            println!("Stopped; llama-server is not running.");
            ExitCode::SUCCESS
        }
        Ok(reply) => {
            eprintln!("llws: the server did not stop: {}", reply.status);
            ExitCode::FAILURE
        }
        Err(e) => fail(&e),
    })
}

/// `llws logs [-n N] [-f]`: the kept lines, and with `-f` every new one, as plain text on
/// stdout (what `llws up --logs` prints), so it pipes into grep like `docker logs`.
pub fn logs(ctx: &Context, tail: usize, follow: bool) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let client = api_client(ctx, None);
    rt.block_on(logs_through(&client, tail, follow, Some(ctx)))
}

/// The log of the llws `client` reaches (this machine's, or a `[[remote]]`'s). With
/// `kept`, what a kept server left is read when no llws answers.
pub async fn logs_through(
    client: &ApiClient,
    tail: usize,
    follow: bool,
    kept: Option<&Context>,
) -> anyhow::Result<ExitCode> {
    use futures::StreamExt;
    use std::io::Write;
    {
        if !follow {
            return Ok(match client.logs(tail).await {
                Err(ClientError::NotRunning { .. }) if kept.is_some() => {
                    super::kept::logs(kept.expect("checked"), tail, false).await?
                }
                Ok(reply) => {
                    let mut out = std::io::stdout().lock();
                    for line in &reply.lines {
                        if writeln!(out, "{}", crate::util::text::for_stdout(&line.text)).is_err() {
                            break;
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            });
        }
        let stream = match client.follow_logs(tail).await {
            Ok(stream) => stream,
            Err(ClientError::NotRunning { .. }) if kept.is_some() => {
                return super::kept::logs(kept.expect("checked"), tail, true).await;
            }
            Err(e) => return Ok(fail(&e)),
        };
        let mut stream = std::pin::pin!(stream);
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = sigint.recv() => return Ok(ExitCode::SUCCESS),
            };
            match item {
                Some(Ok(LogStreamItem::Line(line))) => {
                    // A closed pipe (`| head`) ends the follow quietly.
                    let text = crate::util::text::for_stdout(&line.text);
                    if writeln!(std::io::stdout(), "{text}").is_err() {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                Some(Ok(LogStreamItem::Skipped(n))) => {
                    eprintln!("llws: ({n} log lines skipped: this reader fell behind)")
                }
                Some(Err(e)) => return Ok(fail(&e)),
                None => {
                    eprintln!("llws: the llws at {} stopped", client.base_url());
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }
}

pub fn keep_waiting(ctx: &Context) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let client = api_client(ctx, None);
    Ok(match rt.block_on(client.keep_waiting()) {
        Ok(reply) => {
            println!(
                "Waiting longer for {}: the health check now gives up in {} s.",
                reply.model.as_deref().unwrap_or("the model"),
                reply.gives_up_in_s
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    })
}

/// `llws down` asks a running llws first, so the llws that owns the server does not see
/// an unexplained death. `None` when no llws answers (then `down` stops it itself).
pub fn stop_via_api(ctx: &Context) -> anyhow::Result<Option<ExitCode>> {
    if !ctx.settings.api.enabled {
        return Ok(None);
    }
    let rt = runtime()?;
    let client = api_client(ctx, Some(std::time::Duration::from_secs(60)));
    Ok(match rt.block_on(client.stop()) {
        Err(ClientError::NotRunning { .. }) => None,
        Ok(reply) if reply.success => {
            eprintln!(
                "llws: stopped (through the running llws at {})",
                client.base_url()
            );
            Some(ExitCode::SUCCESS)
        }
        Ok(reply) => {
            eprintln!("llws: the server did not stop: {}", reply.status);
            Some(ExitCode::FAILURE)
        }
        Err(e) => Some(fail(&e)),
    })
}

fn fail(e: &ClientError) -> ExitCode {
    match e {
        ClientError::Api { status: 401, body } => eprintln!(
            "llws: the API refused this request ({}); set [api] token in llws.toml to the running llws's token",
            body.error
        ),
        e => eprintln!("llws: {e}"),
    }
    ExitCode::FAILURE
}

fn secs(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

fn timings_line(t: &TimingsInfo) -> String {
    format!(
        "{} (stop {}, start {}, load {})",
        secs(t.total_ms),
        secs(t.stop_ms),
        secs(t.start_ms),
        secs(t.load_ms)
    )
}

fn render_failed_switch(profile: &str, reply: &SwitchResponse) -> String {
    let mut out = match reply.outcome.as_str() {
        "cancelled" => format!("llws: the switch to {profile} was cancelled by a stop\n"),
        "blocked" => format!(
            "llws: cannot switch to {profile}: {}; answer where that llws runs (its workspace asks), or with POST /foreign\n",
            reply.status
        ),
        "timed_out" => format!(
            "llws: the switch to {profile} is still running after the API's wait; `llws status` follows it\n"
        ),
        _ => format!("llws: the switch to {profile} failed: {}\n", reply.status),
    };
    if let Some(failure) = &reply.failure
        && !failure.log_tail.is_empty()
    {
        out.push_str("Last lines of the server log:\n");
        for line in &failure.log_tail {
            let _ = writeln!(out, "  {}", crate::util::text::for_stderr(line));
        }
    }
    out
}

fn duration(s: f64) -> String {
    let s = s as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s / 60 % 60),
    }
}

/// The human form of `GET /status`.
pub fn render_status(s: &StatusResponse, api_url: &str) -> String {
    let mut out = String::new();
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<9}{v}");
    };
    row("llws", api_url.to_string());
    row("state", s.state.clone());
    row(
        "model",
        match &s.model {
            Some(id) if s.model_name.is_empty() || s.model_name == *id => id.clone(),
            Some(id) => format!("{id} ({})", s.model_name),
            None => "-".into(),
        },
    );
    if !s.status.is_empty() {
        row("status", s.status.clone());
    }
    if let Some(sw) = &s.switch {
        let of = match (sw.estimate_ms, sw.progress) {
            (Some(e), Some(p)) => format!(" of about {} ({:.0} %)", secs(e), p * 100.0),
            _ => String::new(),
        };
        row(
            "switch",
            format!(
                "to {}: {}, {}{of}",
                sw.target_name,
                sw.step_label,
                secs(sw.elapsed_ms)
            ),
        );
    }
    if let Some(at) = s.load_gives_up_at_ms {
        let left = at.saturating_sub(crate::server::state::now_ms()) / 1000;
        row(
            "timeout",
            format!("the health check gives up in {left} s (`llws keep-waiting` waits longer)"),
        );
    }
    if let Some(up) = s.uptime_s {
        row("uptime", duration(up));
    }
    let mut server = s.server_url.clone();
    if let Some(pid) = s.pid {
        let _ = write!(server, " (pid {pid}, {} backend)", s.backend.kind);
    }
    row("server", server);
    if let Some(line) = &s.command_line {
        row("command", crate::util::text::for_stdout(line).into_owned());
    }
    if let Some(f) = &s.foreign {
        row(
            "blocked",
            format!(
                "{} (`llws up {} --replace`, or POST /foreign)",
                f.description, f.profile
            ),
        );
    }
    if !s.backend.reachable {
        row("backend", format!("unreachable: {}", s.backend.message));
    }
    if let Some(f) = &s.failure {
        let mut reason = f.reason.clone();
        if f.oom_killed {
            reason.push_str(" [OOM]");
        }
        row("failure", reason);
        for line in f.log_tail.iter().rev().take(10).rev() {
            row("", crate::util::text::for_stdout(line).into_owned());
        }
    }
    if let Some(t) = &s.last_switch {
        let result = if t.ok { "ok" } else { "failed" };
        row(
            "last",
            format!("{} {result} in {}", t.profile, timings_line(t)),
        );
    }
    out
}
