//! Idle unload (`[router] idle_unload_s`): after that long without a request the server is
//! stopped (the GPU is free for something else) and the router remembers the profile; the
//! next request loads it again and waits for it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::gate::Shared;
use crate::server::state::{Phase, now_ms};

pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let limit = shared.settings.router.idle_unload_s;
    if limit == 0 {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let state = shared.ctl.state();
        if state.phase != Phase::Running || shared.in_flight() > 0 || shared.waiting() > 0 {
            continue;
        }
        let last = shared
            .last_request_ms
            .load(Ordering::Relaxed)
            .max(state.running_since_ms.unwrap_or(0));
        if now_ms().saturating_sub(last) < limit * 1000 {
            continue;
        }
        let Some(profile) = state.profile.clone() else {
            continue;
        };
        let message = format!(
            "llws router: no request for {limit} s ([router] idle_unload_s); unloading {} (the next request loads it again)",
            state
                .profile_name
                .clone()
                .unwrap_or_else(|| profile.clone())
        );
        shared.ctl.logs().note(message);
        shared.set_unloaded_idle(Some(profile));
        shared.set_ours(true);
        let _ = shared.ctl.stop().await;
        shared.set_ours(false);
    }
}
