//! `llws status|switch|logs --remote NAME`: a `[[remote]]`'s state, switch and log, through
//! its API with its token, through the SSH tunnel when the entry has `ssh` (started for the
//! one command).

use std::process::ExitCode;
use std::time::Duration;

use crate::api::client::{ApiClient, ClientError};
use crate::config::Settings;
use crate::config::remotes::RemoteSettings;
use crate::config::suggest::{closest, did_you_mean};
use crate::remote::{Tunnel, TunnelPlan};

use super::Context;

/// How long the tunnel may take to come up (ssh's own ConnectTimeout is 10 s).
const TUNNEL_WAIT: Duration = Duration::from_secs(15);
/// `/status` answers at once; this bounds a remote that stopped answering.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// The entry named `name`, or a message listing those there are.
pub fn find<'a>(settings: &'a Settings, name: &str) -> Result<&'a RemoteSettings, String> {
    if let Some(remote) = settings.remotes.iter().find(|r| r.name == name) {
        return Ok(remote);
    }
    let names: Vec<&str> = settings.remotes.iter().map(|r| r.name.as_str()).collect();
    let file = settings
        .origin
        .settings_file
        .as_ref()
        .map_or("llws.toml".to_string(), |p| p.display().to_string());
    Err(if names.is_empty() {
        format!(
            "no remote named `{name}`: {file} has no [[remote]] entries; add one (docs/remote.md)"
        )
    } else {
        format!(
            "no remote named `{name}` in {file}; there are: {}.{}",
            names.join(", "),
            did_you_mean("--remote ", &closest(name, names.iter().copied()))
        )
    })
}

/// A runtime, a client of the remote's API and the tunnel it goes through (kept while the
/// command runs), or what stands in the way, said as the command's message.
struct Reached {
    rt: tokio::runtime::Runtime,
    client: ApiClient,
    url: String,
    _tunnel: Option<Tunnel>,
}

fn reach<'a>(
    ctx: &'a Context,
    name: &str,
    timeout: Option<Duration>,
) -> Result<(&'a RemoteSettings, Reached), String> {
    let remote = find(&ctx.settings, name)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (url, tunnel) = rt.block_on(async {
        match TunnelPlan::for_remote(remote) {
            None => Ok((remote.base_url(), None)),
            Some(Err(e)) => Err(e),
            Some(Ok(plan)) => {
                let tunnel = Tunnel::start(plan);
                tunnel.first_attempt(TUNNEL_WAIT).await.map_err(|state| {
                    format!(
                        "the ssh tunnel to {} ({}) is {state}",
                        remote.name, remote.ssh
                    )
                })?;
                let url = tunnel.api_url().unwrap_or_default();
                Ok((url, Some(tunnel)))
            }
        }
    })?;
    let mut client = ApiClient::at(&url, &remote.token, timeout);
    if url != remote.base_url()
        && let Some(authority) = remote.authority()
    {
        client = client.with_host(&authority);
    }
    Ok((
        remote,
        Reached {
            rt,
            client,
            url,
            _tunnel: tunnel,
        },
    ))
}

fn refuse(e: String) -> anyhow::Result<ExitCode> {
    eprintln!("llws: {e}");
    Ok(ExitCode::FAILURE)
}

pub fn status(ctx: &Context, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (remote, reached) = match reach(ctx, name, Some(STATUS_TIMEOUT)) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    let client = &reached.client;
    let outcome = reached.rt.block_on(async {
        let answer = if json {
            client.status_text().await
        } else {
            client
                .status()
                .await
                .map(|s| super::client::render_status(&s, &remote.url))
        };
        answer.map_err(|e| explain(remote, &reached.url, e))
    });
    Ok(match outcome {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("llws: {e}");
            ExitCode::FAILURE
        }
    })
}

/// `llws switch --remote NAME PROFILE`: the remote's own controller switches (PROFILE is
/// its id there); this machine's server is not touched.
pub fn switch(ctx: &Context, name: &str, profile: &str, no_wait: bool) -> anyhow::Result<ExitCode> {
    // A waiting switch is bounded by the remote; only the connection is bounded here.
    let timeout = no_wait.then_some(STATUS_TIMEOUT);
    let (remote, reached) = match reach(ctx, name, timeout) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    // Not answering at all is said in the remote's terms (which llws, which tunnel).
    if let Err(e) = reached.rt.block_on(reached.client.status()) {
        return refuse(explain(remote, &reached.url, e));
    }
    let profile = match crate::hosts::split_qualified(profile) {
        Some((id, host)) if host == remote.name => id,
        _ => profile,
    };
    Ok(super::client::switch_through(
        &reached.rt,
        &reached.client,
        profile,
        no_wait,
        None,
    ))
}

/// `llws logs --remote NAME`: the remote's server log, as `llws logs` prints this
/// machine's.
pub fn logs(ctx: &Context, name: &str, tail: usize, follow: bool) -> anyhow::Result<ExitCode> {
    let (remote, reached) = match reach(ctx, name, None) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    if let Err(e) = reached.rt.block_on(reached.client.status()) {
        return refuse(explain(remote, &reached.url, e));
    }
    reached.rt.block_on(super::client::logs_through(
        &reached.client,
        tail,
        follow,
        None,
    ))
}

fn explain(remote: &RemoteSettings, url: &str, e: ClientError) -> String {
    let via = if url == remote.base_url() {
        String::new()
    } else {
        format!(" (through the tunnel, {url})")
    };
    match e {
        ClientError::NotRunning { .. } => format!(
            "remote {}: no llws answers at {}{via}; start `llws serve` there",
            remote.name, remote.url
        ),
        ClientError::Api { status: 401, body } => format!(
            "remote {}: its API refused the token ({}); set token in this [[remote]] to that llws's [api] token",
            remote.name, body.error
        ),
        e => format!("remote {}: {e}", remote.name),
    }
}
