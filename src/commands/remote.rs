//! `llws status --remote NAME`: a `[[remote]]`'s state, read from its API with its token,
//! through the SSH tunnel when the entry has `ssh` (started for the one request).

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

pub fn status(ctx: &Context, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let remote = match find(&ctx.settings, name) {
        Ok(remote) => remote,
        Err(e) => {
            eprintln!("llws: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(async {
        // The tunnel lives as long as this block: the request goes through it.
        let (url, _tunnel) = match TunnelPlan::for_remote(remote) {
            None => (remote.base_url(), None),
            Some(Err(e)) => return Err(e),
            Some(Ok(plan)) => {
                let tunnel = Tunnel::start(plan);
                tunnel.first_attempt(TUNNEL_WAIT).await.map_err(|state| {
                    format!(
                        "the ssh tunnel to {} ({}) is {state}",
                        remote.name, remote.ssh
                    )
                })?;
                let url = tunnel.api_url().unwrap_or_default();
                (url, Some(tunnel))
            }
        };
        let mut client = ApiClient::at(&url, &remote.token, Some(STATUS_TIMEOUT));
        if url != remote.base_url()
            && let Some(authority) = remote.authority()
        {
            client = client.with_host(&authority);
        }
        let answer = if json {
            client.status_text().await
        } else {
            client
                .status()
                .await
                .map(|s| super::client::render_status(&s, &remote.url))
        };
        answer.map_err(|e| explain(remote, &url, e))
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
