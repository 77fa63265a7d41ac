//! What the workspace runs beside the screen: the controller, the monitors (fed with the
//! server's pid from the controller's state), and the management API.

use std::sync::Arc;

use crate::api::{self, ApiError, ApiServer};
use crate::config::Settings;
use crate::monitor::{self, MonitorHandle, follow_server};
use crate::server::{ControllerHandle, spawn_controller};
use crate::ui::router_feed::{self, RouterView};
use crate::ui::view::ApiStatus;

pub struct Services {
    pub settings: Arc<Settings>,
    pub controller: ControllerHandle,
    /// This machine and the `[[remote]]` hosts behind `controller`.
    pub hosts: crate::hosts::Hosts,
    /// Per host (by index; none for this machine): the remote's GPU and system samples,
    /// fed from its `GET /monitor/stream`, and when the last one arrived.
    pub remote_monitors: Vec<Option<(MonitorHandle, tokio::sync::watch::Receiver<Option<u64>>)>>,
    pub monitor: MonitorHandle,
    pub api: ApiStatus,
    /// Kept for its lifetime: dropping it stops the API.
    pub api_server: Option<ApiServer>,
    /// The router on the inference port (none in direct mode, for a client of another
    /// llws, or when its port was taken: the log says so).
    pub router: Option<crate::router::RouterServer>,
    /// What the screen shows of the router, fed off the render path (with the router).
    pub router_view: Option<tokio::sync::watch::Receiver<RouterView>>,
    /// Stops the feed.
    feed_stop: tokio_util::sync::CancellationToken,
}

/// Starts everything; must run inside the tokio runtime. An API that cannot start (its
/// port in use) is reported in the status bar and the log; the workspace runs on.
/// With `client_of` (the API of another llws that owns the server), this workspace is its
/// client: no controller or API of its own.
pub async fn start(settings: Arc<Settings>, client_of: Option<&str>) -> anyhow::Result<Services> {
    let local = match client_of {
        Some(url) => api::remote::connect(settings.clone(), url),
        None => spawn_controller(settings.clone())?,
    };
    // The monitors watch this machine's server, whichever host serves.
    let monitor = monitor::spawn_for(&settings, follow_server(local.subscribe_state()));
    // With [[remote]] entries, one handle over this machine's controller and theirs.
    let hosts = crate::hosts::Hosts::start(settings.clone(), local);
    let controller = hosts.handle.clone();
    let router = match client_of {
        Some(_) => None,
        None if !settings.router.enabled => None,
        None => match crate::router::serve(controller.clone(), settings.clone()).await {
            Ok(router) => {
                hosts.attach_router(router.handle());
                Some(router)
            }
            Err(e) => {
                controller.logs().note(format!("llws: {e}"));
                None
            }
        },
    };
    let served = match client_of {
        Some(url) => Err(format!("{url} (the owner's)")),
        None => Ok(api::serve_routed(
            controller.clone(),
            Some(monitor.clone()),
            router.as_ref().map(|r| r.handle()),
            &settings.api,
            api::Limits::for_settings(&settings.api),
        )
        .await),
    };
    let (api, api_server) = match served {
        Err(owners) => (ApiStatus::Serving(owners), None),
        Ok(served) => match served {
            Ok(server) => (ApiStatus::Serving(server.url()), Some(server)),
            Err(ApiError::Disabled) => (ApiStatus::Disabled, None),
            Err(e) => {
                controller.logs().note(format!("llws: {e}"));
                (ApiStatus::Failed(short_reason(&e)), None)
            }
        },
    };
    let remote_monitors = hosts
        .hosts
        .iter()
        .map(|h| {
            h.target
                .clone()
                .map(|t| api::remote::follow_monitor(&settings, t))
        })
        .collect();
    let feed_stop = tokio_util::sync::CancellationToken::new();
    let router_view = router
        .as_ref()
        .map(|r| router_feed::spawn(r.handle(), feed_stop.clone()));
    Ok(Services {
        router_view,
        feed_stop,
        settings,
        controller,
        hosts,
        remote_monitors,
        monitor,
        api,
        api_server,
        router,
    })
}

/// The status bar's few words for why the API is not serving (the log has the rest).
fn short_reason(e: &ApiError) -> String {
    match e {
        ApiError::AddressInUse { bind, .. } => format!("{bind} in use (see log)"),
        ApiError::TokenRequired { bind } => format!("{bind} needs a token (see log)"),
        ApiError::InvalidBind(_) | ApiError::Bind { .. } => "cannot bind (see log)".into(),
        ApiError::Disabled => "off".into(),
    }
}

impl Services {
    /// Stops the API (requests in flight finish) before the controller shuts down.
    pub async fn stop_api(&mut self) {
        self.feed_stop.cancel();
        if let Some(server) = self.api_server.take() {
            server.shutdown().await;
        }
        if let Some(router) = self.router.take() {
            router.shutdown().await;
        }
    }
}
