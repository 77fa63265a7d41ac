//! Facts read from the server's own log: where the model landed (per-device model, KV and
//! compute buffers), how many graph splits it needs, the effective command line, and the
//! generation speed of the last request.
//!
//! The original author read these off the logs by hand to tune placement (fewer graph
//! splits is faster) and typed SPEED into models.conf; llws reads them as the lines pass.

use serde::{Deserialize, Serialize};

/// One device's buffers, in MiB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceBuffers {
    pub device: String,
    pub model_mib: Option<f64>,
    pub kv_mib: Option<f64>,
    pub compute_mib: Option<f64>,
}

/// Speed of one request, from llama-server's `print_timing` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestSpeed {
    pub prompt_tokens: u64,
    pub prompt_tokens_per_s: f64,
    pub generated_tokens: u64,
    pub generation_tokens_per_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadFacts {
    pub graph_splits: Option<u64>,
    pub devices: Vec<DeviceBuffers>,
    /// The context each slot got (`n_ctx_slot`), which can differ from CTX_SIZE.
    pub n_ctx_slot: Option<u64>,
    pub slots: Option<u64>,
    pub last_request: Option<RequestSpeed>,
    /// Requests seen since the server started.
    pub requests: u64,
    /// Problems worth a look (CUDA errors, out-of-memory lines).
    pub alerts: Vec<String>,
}

/// Keeps at most this many alerts: a crash loop must not grow them without bound.
const MAX_ALERTS: usize = 20;

impl LoadFacts {
    /// Reads one log line; returns whether anything changed.
    pub fn observe(&mut self, line: &str) -> bool {
        if let Some(n) = number_after(line, "graph splits = ") {
            self.graph_splits = Some(n as u64);
            return true;
        }
        for (marker, slot) in [
            (" model buffer size = ", Buffer::Model),
            (" KV buffer size = ", Buffer::Kv),
            (" compute buffer size = ", Buffer::Compute),
        ] {
            if let Some((device, mib)) = device_buffer(line, marker) {
                let entry = match self.devices.iter_mut().position(|d| d.device == device) {
                    Some(i) => &mut self.devices[i],
                    None => {
                        self.devices.push(DeviceBuffers {
                            device,
                            ..Default::default()
                        });
                        self.devices.last_mut().expect("just pushed")
                    }
                };
                let field = match slot {
                    Buffer::Model => &mut entry.model_mib,
                    Buffer::Kv => &mut entry.kv_mib,
                    Buffer::Compute => &mut entry.compute_mib,
                };
                // Several lines per device add up (e.g. CPU_Mapped and CPU for the model).
                *field = Some(field.unwrap_or(0.0) + mib);
                return true;
            }
        }
        if line.contains("n_slots = ") {
            self.slots = number_after(line, "n_slots = ").map(|n| n as u64);
            self.n_ctx_slot = number_after(line, "n_ctx_slot = ").map(|n| n as u64);
            return true;
        }
        if line.contains("prompt eval time =") {
            let speed = self.last_request.get_or_insert_with(RequestSpeed::default);
            speed.prompt_tokens = tokens(line).unwrap_or(0);
            speed.prompt_tokens_per_s = per_second(line).unwrap_or(0.0);
            return true;
        }
        if line.contains(" eval time =") {
            let speed = self.last_request.get_or_insert_with(RequestSpeed::default);
            speed.generated_tokens = tokens(line).unwrap_or(0);
            speed.generation_tokens_per_s = per_second(line).unwrap_or(0.0);
            self.requests += 1;
            return true;
        }
        let lower = line.to_ascii_lowercase();
        if (lower.contains("cuda error")
            || lower.contains("out of memory")
            || lower.contains("failed to allocate"))
            && self.alerts.len() < MAX_ALERTS
        {
            self.alerts.push(line.trim().to_string());
            return true;
        }
        false
    }
}

enum Buffer {
    Model,
    Kv,
    Compute,
}

/// The number right after `marker` (digits and a dot).
fn number_after(line: &str, marker: &str) -> Option<f64> {
    let rest = line[line.find(marker)? + marker.len()..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `load_tensors:   CUDA0 model buffer size = 12345.67 MiB` → ("CUDA0", 12345.67).
fn device_buffer(line: &str, marker: &str) -> Option<(String, f64)> {
    let at = line.find(marker)?;
    let device = line[..at].split_whitespace().last()?.trim_end_matches(':');
    let mib = number_after(line, marker)?;
    let unit = line[at + marker.len()..]
        .split_whitespace()
        .nth(1)
        .unwrap_or("MiB");
    let mib = if unit.starts_with("GiB") {
        mib * 1024.0
    } else {
        mib
    };
    Some((device.to_string(), mib))
}

/// `… /    32 tokens (` → 32.
fn tokens(line: &str) -> Option<u64> {
    let before = &line[..line.find(" tokens (")?];
    before.rsplit('/').next()?.trim().parse().ok()
}

/// `…,    28.69 tokens per second)` → 28.69.
fn per_second(line: &str) -> Option<f64> {
    let before = &line[..line.find(" tokens per second")?];
    before.rsplit(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_placement_and_splits() {
        let mut f = LoadFacts::default();
        for line in [
            "load_tensors: offloaded 48/48 layers to GPU",
            "load_tensors:        CUDA0 model buffer size = 16234.50 MiB",
            "load_tensors:        CUDA1 model buffer size =  9876.25 MiB",
            "load_tensors:   CPU_Mapped model buffer size =   312.00 MiB",
            "llama_kv_cache:      CUDA0 KV buffer size =  1088.00 MiB",
            "sched_reserve:      CUDA0 compute buffer size =   448.02 MiB",
            "sched_reserve: graph splits = 5",
            "0.01.393.425 I srv    load_model: initializing, n_slots = 1, n_ctx_slot = 4096, kv_unified = 'false'",
        ] {
            f.observe(line);
        }
        assert_eq!(f.graph_splits, Some(5));
        assert_eq!(f.devices.len(), 3, "{:?}", f.devices);
        assert_eq!(f.devices[0].device, "CUDA0");
        assert_eq!(f.devices[0].model_mib, Some(16234.5));
        assert_eq!(f.devices[0].kv_mib, Some(1088.0));
        assert_eq!(f.devices[0].compute_mib, Some(448.02));
        assert_eq!(f.devices[2].device, "CPU_Mapped");
        assert_eq!(f.slots, Some(1));
        assert_eq!(f.n_ctx_slot, Some(4096));
    }

    #[test]
    fn reads_the_speed_of_a_request() {
        let mut f = LoadFacts::default();
        f.observe("0.03.366.071 I slot print_timing: id  0 | task 0 | prompt eval time =    1115.39 ms /    32 tokens (   34.86 ms per token,    28.69 tokens per second)");
        f.observe("0.03.366.119 I slot print_timing: id  0 | task 0 |        eval time =     251.07 ms /    14 tokens (   19.31 ms per token,    51.78 tokens per second)");
        let speed = f.last_request.unwrap();
        assert_eq!(speed.prompt_tokens, 32);
        assert_eq!(speed.prompt_tokens_per_s, 28.69);
        assert_eq!(speed.generated_tokens, 14);
        assert_eq!(speed.generation_tokens_per_s, 51.78);
        assert_eq!(f.requests, 1);
    }

    #[test]
    fn flags_cuda_errors_and_ignores_the_rest() {
        let mut f = LoadFacts::default();
        assert!(!f.observe("srv  llama_server: listening on http://127.0.0.1:8080"));
        assert!(f.observe("CUDA error: an illegal memory access was encountered"));
        assert_eq!(f.alerts.len(), 1);
    }
}
