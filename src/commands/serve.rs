//! `llws serve`: the controller, the monitors and the API without a screen, for a GPU box
//! reached over SSH or run as a service. State changes are printed one line each (and the
//! server log with `--logs`); SIGINT, SIGTERM and SIGHUP shut down cleanly, leaving the
//! server stopped or running as `on_exit` says.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use crate::api::types::step_name;
use crate::config::settings::OnExit;
use crate::monitor::{self, follow_server};
use crate::server::logs::LogLine;
use crate::server::state::{Event, ServerState, now_ms};
use crate::server::{ControllerHandle, spawn_controller};

use super::Context;
use crate::server::foreign::ForeignAction;
use std::io::IsTerminal as _;

pub fn run(
    ctx: Context,
    profile: Option<String>,
    logs: bool,
    foreign: Option<ForeignAction>,
) -> anyhow::Result<ExitCode> {
    if let Some(id) = &profile {
        let set = ctx.profiles()?;
        if set.get(id).is_none() && !crate::hosts::Hosts::names_a_remote(&ctx.settings, id) {
            return super::profiles::unknown(&set, id);
        }
    }
    let mut ctx = ctx;
    if let Some(note) = super::kept::adopt_direct(&mut ctx.settings) {
        eprintln!("llws: {note}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve(ctx, profile, logs, foreign))
}

async fn serve(
    ctx: Context,
    profile: Option<String>,
    logs: bool,
    foreign: Option<ForeignAction>,
) -> anyhow::Result<ExitCode> {
    // Before anything starts: a signal that arrives while starting must still shut down
    // cleanly, not kill llws with a server left behind.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    // Under `nohup` a hang-up is meant to be ignored; elsewhere it ends llws like SIGTERM.
    let mut sighup = if sighup_ignored() {
        None
    } else {
        Some(signal(SignalKind::hangup())?)
    };

    let settings = Arc::new(ctx.settings);
    // One owner per server: with another llws in control, say which and stop here.
    let local = match spawn_controller(settings.clone()) {
        Ok(ctl) => ctl,
        Err(e) => {
            eprintln!("llws: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // With [[remote]] entries, one handle over this machine's controller and theirs.
    let hosts = crate::hosts::Hosts::start(settings.clone(), local.clone());
    let ctl = hosts.handle.clone();
    let stop_printing = CancellationToken::new();
    let printer = tokio::spawn(print_events(ctl.clone(), logs, stop_printing.clone()));
    // The monitors watch this machine's server, whichever host serves.
    let monitor = monitor::spawn_for(&settings, follow_server(local.subscribe_state()));

    // The router takes the inference port before anything else answers on it.
    let router = if settings.router.enabled {
        match crate::router::serve(ctl.clone(), settings.clone()).await {
            Ok(router) => {
                hosts.attach_router(router.handle());
                Some(router)
            }
            Err(e) => {
                eprintln!("llws: {e}");
                ctl.shutdown(true).await;
                return Ok(ExitCode::FAILURE);
            }
        }
    } else {
        None
    };
    let api = if settings.api.enabled {
        match crate::api::serve_routed(
            ctl.clone(),
            Some(monitor.clone()),
            router.as_ref().map(|r| r.handle()),
            &settings.api,
            crate::api::Limits::for_settings(&settings.api),
        )
        .await
        {
            Ok(api) => Some(api),
            Err(e) => {
                eprintln!("llws: {e}");
                // Nothing was started; a server adopted from an earlier llws (maybe the
                // one holding the port) is left as it was.
                ctl.shutdown(true).await;
                return Ok(ExitCode::FAILURE);
            }
        }
    } else {
        None
    };
    let keep = settings.on_exit == OnExit::Keep;
    say(&format!(
        "llws serve: API {} · {} · {} backend · on exit the server is {}",
        match &api {
            Some(api) if settings.api.token.is_empty() => api.url(),
            Some(api) => format!("{} (bearer token required)", api.url()),
            None => "off ([api] enabled = false)".into(),
        },
        match &router {
            Some(r) => format!(
                "router {} (llama-server behind it on {})",
                settings.server.base_url(),
                r.handle().status().upstream
            ),
            None => format!("llama-server {}", settings.server.base_url()),
        },
        settings.backend,
        if keep { "kept running" } else { "stopped" },
    ));

    // The remotes' profiles and state, before a start names one (or finds one serving).
    hosts.first_contact(std::time::Duration::from_secs(5)).await;
    if let Some(id) = &profile {
        // The outcome shows in the state lines; a refusal (missing model file) ends here,
        // before anything was touched.
        match ctl.begin_switch(id) {
            Err(e) => {
                eprintln!("llws: {e}");
                if let Some(api) = api {
                    api.shutdown().await;
                }
                ctl.shutdown(true).await;
                return Ok(ExitCode::FAILURE);
            }
            // Never silent: a start kept for the backend, and how the start ended, are
            // said on stderr too (the state lines on stdout have the details).
            Ok(pending) => {
                tokio::spawn(report_start(ctl.clone(), id.clone(), pending, foreign));
            }
        }
    }

    let name = tokio::select! {
        _ = sigint.recv() => "SIGINT",
        _ = sigterm.recv() => "SIGTERM",
        _ = async {
            match sighup.as_mut() {
                Some(hup) => hup.recv().await,
                None => std::future::pending().await,
            }
        } => "SIGHUP",
    };
    say(&format!(
        "{name}: shutting down; {}",
        if keep {
            "the server is left running (on_exit = \"keep\"); the next llws adopts it"
        } else {
            "stopping the server"
        }
    ));
    if let Some(api) = api {
        api.shutdown().await;
    }
    if let Some(router) = router {
        router.shutdown().await;
    }
    ctl.shutdown(keep).await;
    stop_printing.cancel();
    let _ = printer.await;
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr when the start asked for on the command line waits for the backend,
/// and when it fails. A server llws did not start in the way is dealt with as `--replace`
/// or `--adopt` say, or as the terminal answers; otherwise it stays, and the API's
/// `POST /foreign` (or a workspace on this llws) may answer later.
async fn report_start(
    ctl: ControllerHandle,
    id: String,
    mut pending: crate::server::handle::Pending,
    foreign: Option<ForeignAction>,
) {
    // Read only once there is something to ask: serve reads stdin for nothing else.
    let mut lines = None;
    loop {
        let outcome = wait_for_start(&ctl, &id, pending).await;
        let Some(Ok(crate::server::Outcome::Blocked {
            foreign: server, ..
        })) = &outcome
        else {
            if let Some(outcome) = outcome {
                report_outcome(&id, outcome);
            }
            return;
        };
        let name = ctl.state().profile_name.unwrap_or_else(|| id.clone());
        if lines.is_none() && foreign.is_none() && std::io::stdin().is_terminal() {
            lines = Some(super::foreign::TerminalLines::start());
        }
        match super::foreign::choose(server, &name, foreign, lines.as_ref()).await {
            super::foreign::Choice::Act(action) => match ctl.begin_resolve_foreign(action) {
                Ok(next) => pending = next,
                Err(e) => {
                    eprintln!("llws: {e}");
                    return;
                }
            },
            super::foreign::Choice::Leave => {
                if foreign.is_none() && !server.offers().is_empty() {
                    eprintln!(
                        "llws: answer with `--replace` (or `--adopt`, where offered) next time, or now with POST /foreign"
                    );
                }
                return;
            }
        }
    }
}

/// The outcome of a start, or `None` when it waits for the backend (said on stderr).
async fn wait_for_start(
    ctl: &ControllerHandle,
    id: &str,
    pending: crate::server::handle::Pending,
) -> Option<Result<crate::server::Outcome, crate::server::ControlError>> {
    let mut state = ctl.subscribe_state();
    let waiting = {
        let id = id.to_string();
        async move {
            if let Ok(s) = state
                .wait_for(|s| s.pending_start.as_deref() == Some(id.as_str()))
                .await
            {
                eprintln!(
                    "llws: {}; {id} starts as soon as it is back",
                    s.backend.message
                );
            }
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        outcome = pending.outcome() => Some(outcome),
        _ = waiting => None,
    }
}

fn report_outcome(id: &str, outcome: Result<crate::server::Outcome, crate::server::ControlError>) {
    match outcome {
        Ok(crate::server::Outcome::Failed { failure, .. }) => {
            eprintln!("llws: the start of {id} failed: {}", failure.reason)
        }
        Ok(crate::server::Outcome::Cancelled) => {
            eprintln!("llws: the start of {id} was cancelled")
        }
        Err(e) => eprintln!("llws: the start of {id} failed: {e}"),
        Ok(_) => {}
    }
}

/// Whether SIGHUP was ignored when llws started (`nohup`).
fn sighup_ignored() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGHUP - 1)) != 0)
}

/// One line to stdout. A closed stdout (`llws serve | head`) must not end llws.
fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// A line of llws's own, with the time.
fn say(text: &str) {
    out(&format!("{} {text}", utc(now_ms())));
}

/// What a state line shows; a state event that changes none of it prints nothing.
#[derive(PartialEq)]
struct Shown {
    phase: &'static str,
    model: Option<String>,
    step: Option<String>,
    message: String,
}

fn print_state(state: &ServerState, last: &mut Option<Shown>) {
    let shown = Shown {
        phase: state.phase.as_str(),
        model: state.profile.clone(),
        step: state.switch.as_ref().map(|s| step_name(s.step)),
        message: state.message.clone(),
    };
    if last.as_ref() == Some(&shown) {
        return;
    }
    let first_failure = state.failure.is_some()
        && last
            .as_ref()
            .is_none_or(|l| l.phase != "failed" || l.message != shown.message);
    let line = format!(
        "state={} model={} step={} {}",
        shown.phase,
        shown.model.as_deref().unwrap_or("-"),
        shown.step.as_deref().unwrap_or("-"),
        shown.message
    );
    say(line.trim_end());
    if first_failure && let Some(failure) = &state.failure {
        for line in &failure.log_tail {
            out(&format!("    | {}", crate::util::text::for_stdout(line)));
        }
    }
    *last = Some(shown);
}

fn print_event(ctl: &ControllerHandle, event: Result<Event, RecvError>, last: &mut Option<Shown>) {
    match event {
        Ok(Event::State(state)) => print_state(&state, last),
        Ok(Event::SwitchFinished(t)) => say(&format!(
            "switch to {} {} in {:.2} s (stop {:.2} s, start {:.2} s, load {:.2} s)",
            t.profile,
            if t.ok { "ok" } else { "failed" },
            t.total_ms as f64 / 1e3,
            t.stop_ms as f64 / 1e3,
            t.start_ms as f64 / 1e3,
            t.load_ms as f64 / 1e3,
        )),
        Ok(Event::Notice { message }) => say(&format!("note: {message}")),
        // Each step also arrives as a state event, which is what is printed.
        Ok(Event::Step { .. }) | Err(RecvError::Closed) => {}
        Err(RecvError::Lagged(n)) => {
            say(&format!("({n} events skipped: printing fell behind)"));
            print_state(&ctl.state(), last);
        }
    }
}

fn print_log(line: Result<LogLine, RecvError>) {
    match line {
        Ok(line) => out(&crate::util::text::for_stdout(&line.text)),
        Err(RecvError::Lagged(n)) => say(&format!("({n} log lines skipped: printing fell behind)")),
        Err(RecvError::Closed) => {}
    }
}

async fn next_log(rx: &mut Option<Receiver<LogLine>>) -> Result<LogLine, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Prints state changes (and log lines) until `stop`, then what is still queued.
async fn print_events(ctl: ControllerHandle, logs: bool, stop: CancellationToken) {
    let mut events = ctl.subscribe_events();
    let mut log_rx = if logs {
        let (history, rx) = ctl.logs().subscribe_with_history();
        for line in history {
            out(&crate::util::text::for_stdout(&line.text));
        }
        Some(rx)
    } else {
        None
    };
    let mut last = None;
    print_state(&ctl.state(), &mut last);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            event = events.recv() => print_event(&ctl, event, &mut last),
            line = next_log(&mut log_rx) => {
                if matches!(line, Err(RecvError::Closed)) {
                    log_rx = None;
                }
                print_log(line);
            }
        }
    }
    loop {
        match events.try_recv() {
            Ok(event) => print_event(&ctl, Ok(event), &mut last),
            Err(TryRecvError::Lagged(n)) => print_event(&ctl, Err(RecvError::Lagged(n)), &mut last),
            Err(_) => break,
        }
    }
    while let Some(Ok(line)) = log_rx.as_mut().map(|rx| rx.try_recv()) {
        out(&crate::util::text::for_stdout(&line.text));
    }
}

/// `2026-11-28T06:27:01.123Z`, without a date library (days to civil date, after Howard
/// Hinnant's `civil_from_days`).
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_795_847_221_123), "2026-11-28T06:27:01.123Z");
    }
}
