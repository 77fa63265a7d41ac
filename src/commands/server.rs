//! `llws up` and `llws down`: start and stop a profile's server from the shell.
//!
//! `up` leaves the server running (a later llws adopts it) unless `--logs` keeps it in the
//! foreground, where Ctrl-C stops it, as the original's `--no-dashboard` did.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};

use crate::server::logs::LogLine;
use crate::server::owner::{OwnerInfo, owner_of};
use crate::server::state::{Phase, ServerState};
use crate::server::{ControllerHandle, Outcome, spawn_controller};
use crate::util::state_dir;

use super::Context;
use super::foreign::{Choice, TerminalLines};
use crate::server::foreign::ForeignAction;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn up(
    ctx: Context,
    profile: &str,
    logs: bool,
    foreign: Option<ForeignAction>,
) -> anyhow::Result<ExitCode> {
    let set = ctx.profiles()?;
    if set.get(profile).is_none() {
        return super::profiles::unknown(&set, profile);
    }
    // Another llws controls the server: the switch goes through it.
    if let Some(owner) = owner_of(&ctx.settings, &state_dir()) {
        return through_owner(&ctx, &owner, |ctx| {
            let code = super::client::switch_answering(ctx, profile, false, foreign)?;
            if logs && code == ExitCode::SUCCESS {
                return super::client::logs(ctx, 100, true);
            }
            Ok(code)
        });
    }
    runtime()?.block_on(up_async(ctx, profile.to_string(), logs, foreign))
}

/// Runs `then` against the owner's API, after saying so; an owner without an API is an
/// error that says where to go instead.
fn through_owner(
    ctx: &Context,
    owner: &OwnerInfo,
    then: impl FnOnce(&Context) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    if owner.api_url.is_none() {
        eprintln!(
            "llws: the server on port {} is controlled by {}; do it there",
            owner.port,
            owner.describe()
        );
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "llws: the server is controlled by {}: going through it",
        owner.describe()
    );
    then(ctx)
}

async fn up_async(
    ctx: Context,
    profile: String,
    logs: bool,
    foreign: Option<ForeignAction>,
) -> anyhow::Result<ExitCode> {
    // No llws stays to route requests after `up`: llama-server itself takes server.port
    // (direct mode); the workspace and `llws serve` put the router in front.
    let mut settings = ctx.settings;
    settings.router.enabled = false;
    let settings = Arc::new(settings);
    let handle = match spawn_controller(settings.clone()) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("llws: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let printer = tokio::spawn(print_progress(handle.clone()));
    // The original's "continue anyway?", asked before the timeout, and its "Stop it and
    // continue?": only someone at a terminal can answer.
    let lines = std::io::stdin().is_terminal().then(TerminalLines::start);
    let offer_for = |lines: &Option<TerminalLines>| {
        lines
            .clone()
            .map(|lines| tokio::spawn(offer_keep_waiting(handle.clone(), lines)))
    };
    let mut offer = offer_for(&lines);
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    let mut pending = match handle.begin_switch(&profile) {
        Ok(p) => p,
        Err(e) => {
            printer.abort();
            eprintln!("llws: {e}");
            handle.shutdown(true).await;
            return Ok(ExitCode::FAILURE);
        }
    };
    let outcome = loop {
        let outcome = tokio::select! {
            outcome = pending.outcome() => outcome,
            _ = sigint.recv() => {
                eprintln!("llws: interrupted; stopping the server");
                handle.shutdown(false).await;
                return Ok(ExitCode::from(130));
            }
            _ = sigterm.recv() => {
                handle.shutdown(false).await;
                return Ok(ExitCode::from(143));
            }
        };
        // A server llws did not start is in the way (item 17): ask, or take the flag.
        let Ok(Outcome::Blocked {
            foreign: server, ..
        }) = &outcome
        else {
            break outcome;
        };
        if let Some(offer) = offer.take() {
            offer.abort();
        }
        let name = handle
            .state()
            .profile_name
            .unwrap_or_else(|| profile.clone());
        let action = match super::foreign::choose(server, &name, foreign, lines.as_ref()).await {
            Choice::Act(action) => action,
            Choice::Leave => {
                printer.abort();
                if foreign.is_none() && lines.is_none() && !server.offers().is_empty() {
                    let ways: Vec<String> = server
                        .offers()
                        .iter()
                        .map(|a| {
                            format!(
                                "`llws up {profile} --{}` ({})",
                                a.as_str(),
                                server.action_label(*a)
                            )
                        })
                        .collect();
                    eprintln!("llws: to go on, run {}", ways.join(" or "));
                }
                handle.shutdown(true).await;
                return Ok(ExitCode::FAILURE);
            }
        };
        offer = offer_for(&lines);
        pending = match handle.begin_resolve_foreign(action) {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
    };
    printer.abort();
    if let Some(offer) = offer {
        offer.abort();
    }
    match outcome {
        Ok(Outcome::Running { .. }) | Ok(Outcome::AlreadyRunning { .. }) => {
            let state = handle.state();
            eprintln!(
                "llws: {} is ready at {}",
                state.profile_name.unwrap_or_default(),
                settings.server.base_url()
            );
        }
        Ok(Outcome::Failed { failure, .. }) => {
            eprintln!("llws: {}", failure.reason);
            for line in &failure.log_tail {
                eprintln!("  | {}", crate::util::text::for_stderr(line));
            }
            handle.shutdown(true).await;
            return Ok(ExitCode::FAILURE);
        }
        Ok(other) => {
            eprintln!("llws: {other:?}");
            handle.shutdown(true).await;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            eprintln!("llws: {e}");
            handle.shutdown(true).await;
            return Ok(ExitCode::FAILURE);
        }
    }
    if !logs {
        // Leave it running; `llws`, `llws serve` or `llws down` adopt it later.
        handle.shutdown(true).await;
        return Ok(ExitCode::SUCCESS);
    }
    follow_logs(&handle, &mut sigint, &mut sigterm).await;
    eprintln!("llws: stopping the server");
    handle.shutdown(false).await;
    Ok(ExitCode::SUCCESS)
}

/// Prints the log from its first kept line until a signal, or until the server dies.
async fn follow_logs(
    handle: &ControllerHandle,
    sigint: &mut tokio::signal::unix::Signal,
    sigterm: &mut tokio::signal::unix::Signal,
) {
    let (history, mut rx) = handle.logs().subscribe_with_history();
    for line in &history {
        print_line(line);
    }
    let mut state = handle.subscribe_state();
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Ok(line) => print_line(&line),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => eprintln!("llws: ({n} log lines skipped)"),
                Err(_) => return,
            },
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                let s = state.borrow().clone();
                if s.phase == Phase::Failed {
                    eprintln!("llws: {}", s.message);
                    return;
                }
            }
            _ = sigint.recv() => return,
            _ = sigterm.recv() => return,
        }
    }
}

fn print_line(line: &LogLine) {
    println!("{}", crate::util::text::for_stdout(&line.text));
}

/// One line per state change on stderr while a start runs.
async fn print_progress(handle: ControllerHandle) {
    let mut rx = handle.subscribe_state();
    let mut last = String::new();
    loop {
        let text = describe(&rx.borrow().clone());
        if text != last && !text.is_empty() {
            eprintln!("llws: {text}");
            last = text;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// How long before the health check gives up `llws up` offers to keep waiting.
const OFFER_BEFORE_S: u64 = 60;

/// In the last minute of a load's health wait, says so and lets Enter give the load another
/// `health_timeout_s` (each Enter adds one), through the same handle call as the
/// workspace's key and `POST /keep-waiting`.
async fn offer_keep_waiting(handle: ControllerHandle, lines: TerminalLines) {
    let mut state = handle.subscribe_state();
    let mut offered = false;
    let extend_by = handle.settings().server.health_timeout_s;
    loop {
        let left_ms = state
            .borrow()
            .load_gives_up_at_ms
            .map(|at| at.saturating_sub(crate::server::state::now_ms()));
        match left_ms {
            Some(left) if !offered && left <= OFFER_BEFORE_S * 1000 => {
                offered = true;
                let name = state.borrow().profile_name.clone().unwrap_or_default();
                eprintln!(
                    "llws: {name} is still loading; the health check gives up in {} s. Press Enter to keep waiting another {extend_by} s.",
                    left.div_ceil(1000)
                );
            }
            _ => {}
        }
        // Wake for the offer's moment, a state change, or an Enter.
        let until_offer = left_ms.filter(|_| !offered).map(|left| {
            std::time::Duration::from_millis(left.saturating_sub(OFFER_BEFORE_S * 1000))
        });
        tokio::select! {
            changed = state.changed() => if changed.is_err() { return },
            line = lines.next() => match line {
                None => return,
                Some(_) => match handle.keep_waiting() {
                    Ok(at) => eprintln!(
                        "llws: waiting longer: the health check now gives up in {} s",
                        at.saturating_sub(crate::server::state::now_ms()).div_ceil(1000)
                    ),
                    Err(e) => eprintln!("llws: {e}"),
                },
            },
            // Nothing to offer (no load, or offered already): only the other two wake it.
            _ = tokio::time::sleep(until_offer.unwrap_or_default()), if until_offer.is_some() => {}
        }
    }
}

fn describe(s: &ServerState) -> String {
    // A server llws did not start is in the way: the question about it says it all.
    if s.foreign.is_some() {
        return String::new();
    }
    if !s.backend.reachable {
        return s.backend.message.clone();
    }
    match &s.switch {
        Some(sw) => format!("{} {}…", sw.step.label(), sw.target_name),
        None => s.message.clone(),
    }
}

pub fn down(ctx: Context) -> anyhow::Result<ExitCode> {
    // A running llws owns the server: ask it, so it does not see an unexplained death.
    if let Some(owner) = owner_of(&ctx.settings, &state_dir()) {
        return through_owner(&ctx, &owner, |ctx| {
            Ok(super::client::stop_via_api(ctx)?.unwrap_or_else(|| {
                eprintln!("llws: {} did not answer", owner.describe());
                ExitCode::FAILURE
            }))
        });
    }
    runtime()?.block_on(async move {
        // Nothing left running: say so, instead of "stopped".
        match super::kept::find(&ctx.settings).await {
            super::kept::Kept::Nothing => {
                eprintln!(
                    "llws: nothing to stop: no llws is running, and no server was left running on port {}",
                    ctx.settings.server.port
                );
                return Ok(ExitCode::FAILURE);
            }
            super::kept::Kept::Unknown(message) => {
                eprintln!("llws: {message}");
                return Ok(ExitCode::FAILURE);
            }
            _ => {}
        }
        // The server as it was started: direct (`llws up`) or behind a router.
        let settings = super::kept::kept_settings(&ctx.settings).await;
        let handle = match spawn_controller(Arc::new(settings)) {
            Ok(handle) => handle,
            Err(e) => {
                eprintln!("llws: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        // Adoption runs first in the controller; a stop queued behind it sees its result.
        match handle.stop().await {
            Ok(_) => {
                let state = handle.state();
                if !state.backend.reachable {
                    eprintln!("llws: {}", state.backend.message);
                    handle.shutdown(true).await;
                    return Ok(ExitCode::FAILURE);
                }
                eprintln!("llws: stopped");
                handle.shutdown(false).await;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("llws: {e}");
                handle.shutdown(true).await;
                Ok(ExitCode::FAILURE)
            }
        }
    })
}
