//! `GET /metrics`: Prometheus text format (version 0.0.4), built from the same `watch`es and
//! totals the rest of the API reads; nothing is sampled on a scrape.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::state::AppState;
use crate::monitor::{GpuState, MonitorHandle};
use crate::server::state::{Phase, ServerState, now_ms};
use crate::server::timings::{TimingTotals, TotalsKey};

pub async fn handler(State(app): State<Arc<AppState>>) -> Response {
    let mut text = render(
        &app.ctl.state(),
        &app.ctl.timing_totals(),
        app.ctl.logs().next_seq(),
        app.monitor.as_ref(),
    );
    if let Some(router) = &app.router {
        router_metrics(router, &mut text);
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// The router's request histograms and gauges.
fn router_metrics(router: &crate::router::RouterHandle, text: &mut String) {
    let status = router.status();
    let _ = writeln!(
        text,
        "# HELP llws_router_queued Requests waiting for a load or switch.\n# TYPE llws_router_queued gauge\nllws_router_queued {}",
        status.queued
    );
    let _ = writeln!(
        text,
        "# HELP llws_router_in_flight Requests the server is answering.\n# TYPE llws_router_in_flight gauge\nllws_router_in_flight {}",
        status.in_flight
    );
    if let Some(h) = router.activity().histograms() {
        h.ttft_ms.write(
            "llws_request_ttft_ms",
            "Time from a request's arrival to the first byte of its answer, in ms.",
            text,
        );
        h.gen_tps.write(
            "llws_request_generation_tokens_per_second",
            "Generation speed of each request (llama-server's timings).",
            text,
        );
        h.duration_ms.write(
            "llws_request_duration_ms",
            "Time from a request's arrival to the end of its answer, in ms.",
            text,
        );
    }
}

/// Writes one metric family at a time: `# HELP`, `# TYPE`, then its samples.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    /// A gauge with one unlabelled sample, when the value is known.
    fn gauge(&mut self, name: &str, help: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.family(name, "gauge", help);
            self.sample(name, &[], value);
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// The whole exposition.
pub fn render(
    state: &ServerState,
    totals: &BTreeMap<TotalsKey, TimingTotals>,
    log_lines: u64,
    monitor: Option<&MonitorHandle>,
) -> String {
    let mut out = Out(String::with_capacity(4096));
    out.family("llws_up", "gauge", "1 while llws (and this API) runs.");
    out.sample("llws_up", &[], 1.0);

    out.family(
        "llws_server_state",
        "gauge",
        "The llama-server's state: 1 for the current one, 0 for the others.",
    );
    for phase in [
        Phase::Idle,
        Phase::Starting,
        Phase::Running,
        Phase::Stopping,
        Phase::Failed,
    ] {
        let value = if state.phase == phase { 1.0 } else { 0.0 };
        out.sample("llws_server_state", &[("state", phase.as_str())], value);
    }
    if let Some(profile) = &state.profile {
        out.family(
            "llws_server_info",
            "gauge",
            "The profile loading, running or failed, and the backend.",
        );
        out.sample(
            "llws_server_info",
            &[
                ("profile", profile),
                ("name", state.profile_name.as_deref().unwrap_or("")),
                ("backend", &state.backend.kind.to_string()),
            ],
            1.0,
        );
    }
    out.gauge(
        "llws_backend_reachable",
        "1 when the backend (the Docker daemon) answers.",
        Some(if state.backend.reachable { 1.0 } else { 0.0 }),
    );
    out.gauge(
        "llws_server_uptime_seconds",
        "How long the running server has been healthy.",
        match (state.phase, state.running_since_ms) {
            (Phase::Running, Some(since)) => Some(now_ms().saturating_sub(since) as f64 / 1e3),
            _ => None,
        },
    );
    out.gauge(
        "llws_switch_in_progress",
        "1 while a switch or start runs.",
        Some(if state.switch.is_some() { 1.0 } else { 0.0 }),
    );
    out.gauge(
        "llws_switch_elapsed_seconds",
        "How long the switch in progress has run.",
        state.switch.as_ref().map(|s| s.elapsed().as_secs_f64()),
    );

    out.family(
        "llws_switches_total",
        "counter",
        "Finished switches and starts, by profile and result (ok|failed).",
    );
    for (key, t) in totals {
        out.sample(
            "llws_switches_total",
            &[("profile", &key.profile), ("result", result(key.ok))],
            t.count as f64,
        );
    }
    out.family(
        "llws_switch_duration_seconds",
        "summary",
        "Time spent in each step of finished switches (stop, start, load, and the total), by profile and result.",
    );
    for (key, t) in totals {
        for (step, ms) in [
            ("stop", t.stop_ms),
            ("start", t.start_ms),
            ("load", t.load_ms),
            ("total", t.total_ms),
        ] {
            let labels = [
                ("profile", key.profile.as_str()),
                ("step", step),
                ("result", result(key.ok)),
            ];
            out.sample("llws_switch_duration_seconds_sum", &labels, ms as f64 / 1e3);
            out.sample(
                "llws_switch_duration_seconds_count",
                &labels,
                t.count as f64,
            );
        }
    }
    out.family(
        "llws_log_lines_total",
        "counter",
        "Server log lines received (llws's own notes included).",
    );
    out.sample("llws_log_lines_total", &[], log_lines as f64);

    if let Some(monitor) = monitor {
        monitor_metrics(&mut out, monitor);
    }
    out.0
}

fn result(ok: bool) -> &'static str {
    if ok { "ok" } else { "failed" }
}

fn monitor_metrics(out: &mut Out, monitor: &MonitorHandle) {
    let gpu = monitor.gpu.borrow().clone();
    out.gauge(
        "llws_gpu_available",
        "1 when NVML reports at least one NVIDIA GPU.",
        Some(if matches!(gpu, GpuState::Ready(_)) {
            1.0
        } else {
            0.0
        }),
    );
    if let GpuState::Ready(snapshot) = &gpu {
        // A hung NVML call leaves the last readings in place: say how old they are.
        out.gauge(
            "llws_gpu_sample_age_seconds",
            "Age of the GPU readings below (grows while NVML does not answer).",
            Some(snapshot.age(std::time::SystemTime::now()).as_secs_f64()),
        );
        out.family(
            "llws_gpu_readable",
            "gauge",
            "1 when NVML could read this GPU in the last sample, 0 when its figures are its last good ones.",
        );
        for g in &snapshot.gpus {
            let index = g.index.to_string();
            let labels = [
                ("gpu", index.as_str()),
                ("name", g.name.as_deref().unwrap_or("")),
            ];
            out.sample(
                "llws_gpu_readable",
                &labels,
                if g.error.is_none() { 1.0 } else { 0.0 },
            );
        }
        type Field = fn(&crate::monitor::GpuSample) -> Option<f64>;
        let families: [(&str, &str, Field); 7] = [
            ("llws_gpu_memory_used_bytes", "GPU memory in use.", |g| {
                g.memory_used_bytes.map(|v| v as f64)
            }),
            ("llws_gpu_memory_total_bytes", "GPU memory in all.", |g| {
                g.memory_total_bytes.map(|v| v as f64)
            }),
            (
                "llws_gpu_model_memory_bytes",
                "GPU memory held by the llama-server's processes.",
                |g| g.model_memory_bytes.map(|v| v as f64),
            ),
            (
                "llws_gpu_utilization_percent",
                "GPU utilization over the driver's last sample period.",
                |g| g.utilization_gpu_percent.map(f64::from),
            ),
            ("llws_gpu_temperature_celsius", "GPU temperature.", |g| {
                g.temperature_c.map(f64::from)
            }),
            ("llws_gpu_power_watts", "GPU power draw.", |g| {
                g.power_draw_w
            }),
            ("llws_gpu_power_limit_watts", "GPU power limit.", |g| {
                g.power_limit_w
            }),
        ];
        for (name, help, field) in families {
            out.family(name, "gauge", help);
            for g in &snapshot.gpus {
                if let Some(value) = field(g) {
                    let index = g.index.to_string();
                    let labels = [
                        ("gpu", index.as_str()),
                        ("name", g.name.as_deref().unwrap_or("")),
                    ];
                    out.sample(name, &labels, value);
                }
            }
        }
    }

    let system = monitor.system.borrow().clone();
    if system.taken_at.is_none() {
        return;
    }
    let b = |v: u64| Some(v as f64);
    out.gauge(
        "llws_system_cpu_percent",
        "Host CPU use over the last sample, all cores (0-100).",
        Some(f64::from(system.cpu_percent)),
    );
    out.gauge(
        "llws_system_load1",
        "Host load average over 1 minute.",
        Some(system.load[0]),
    );
    out.gauge(
        "llws_system_memory_total_bytes",
        "Host RAM in all.",
        b(system.mem_total),
    );
    out.gauge(
        "llws_system_memory_used_bytes",
        "Host RAM in use, page cache excluded (MemTotal - MemAvailable).",
        b(system.used_excl_cache),
    );
    out.gauge(
        "llws_system_memory_available_bytes",
        "Host RAM the kernel can hand out (MemAvailable).",
        b(system.mem_available),
    );
    out.gauge(
        "llws_system_memory_cache_bytes",
        "Host page cache and buffers (a memory-mapped model lives here).",
        b(system.cache),
    );
    out.gauge(
        "llws_system_swap_total_bytes",
        "Host swap in all.",
        b(system.swap_total),
    );
    out.gauge(
        "llws_system_swap_used_bytes",
        "Host swap in use.",
        b(system.swap_used),
    );
    if let Some(server) = &system.server {
        out.gauge(
            "llws_server_cpu_percent",
            "The llama-server's CPU use (100 = one core).",
            Some(f64::from(server.cpu_percent)),
        );
        out.gauge(
            "llws_server_memory_bytes",
            "The llama-server's memory (resident set, or the container's usage).",
            b(server.memory_bytes),
        );
        out.gauge(
            "llws_server_mapped_file_bytes",
            "Resident file pages the llama-server maps (the model).",
            server.mapped_file_bytes.map(|v| v as f64),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::BackendKind;

    #[test]
    fn exposition_is_well_formed() {
        let mut state = ServerState::initial(BackendKind::Process);
        state.phase = Phase::Running;
        state.profile = Some("a\"b".into());
        state.profile_name = Some("Line\nbreak".into());
        state.running_since_ms = Some(now_ms());
        let mut totals = BTreeMap::new();
        totals.insert(
            TotalsKey {
                profile: "a\"b".into(),
                ok: true,
            },
            TimingTotals {
                count: 2,
                stop_ms: 100,
                start_ms: 20,
                load_ms: 1500,
                total_ms: 1620,
            },
        );
        let text = render(&state, &totals, 42, None);
        assert!(
            text.contains("llws_server_state{state=\"running\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("llws_server_state{state=\"idle\"} 0\n"));
        assert!(
            text.contains("profile=\"a\\\"b\",name=\"Line\\nbreak\""),
            "{text}"
        );
        assert!(text.contains(
            "llws_switch_duration_seconds_sum{profile=\"a\\\"b\",step=\"load\",result=\"ok\"} 1.5\n"
        ));
        assert!(text.contains("llws_switches_total{profile=\"a\\\"b\",result=\"ok\"} 2\n"));
        assert!(text.contains("llws_log_lines_total 42\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
