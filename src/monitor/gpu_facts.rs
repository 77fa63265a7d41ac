//! The adapter from an NVML snapshot to the plain facts the hardware lints take
//! ([`GpuFacts`]): here, above both, so that the lints need no NVML and the monitor no lints.

use crate::config::settings::GpuSelection;
use crate::model::hardware_lint::GpuFacts;

use super::gpu::{GpuSample, GpuSnapshot};

/// The process name of llama-server, native or in a container (the host sees its pid).
const SERVER_NAME: &str = "llama-server";

/// Memory a switch would give back on `g`: what the running llama-server holds (marked as
/// the model, or named llama-server when the caller knew no pid).
fn server_held(g: &GpuSample) -> u64 {
    g.processes
        .iter()
        .filter(|p| p.is_model || p.name.as_deref() == Some(SERVER_NAME))
        .filter_map(|p| p.used_memory_bytes)
        .sum()
}

/// The GPUs in `snapshot` that `selection` hands the server, in the order CUDA numbers them:
/// every GPU in index order, or the listed ones in list order (as CUDA_VISIBLE_DEVICES
/// orders them; see [`crate::model::hardware_lint::server_gpu_selection`] for Docker). CUDA
/// enumerates in PCI order, as NVML does, because llws sets `CUDA_DEVICE_ORDER=PCI_BUS_ID`
/// for the server. A listed index NVML does not know is left out: the server cannot get it
/// either. `available_bytes` counts the running llama-server's own memory as free: a switch
/// stops it before the next model loads.
pub fn gpu_facts(snapshot: &GpuSnapshot, selection: &GpuSelection) -> Vec<GpuFacts> {
    let facts = |index: u32| {
        snapshot
            .gpus
            .iter()
            .find(|g| g.index == index)
            .map(|g| GpuFacts {
                index: g.index,
                name: g.name.clone().unwrap_or_else(|| "unknown".to_string()),
                // A GPU that could not be read says nothing about room: its figures are old.
                total_bytes: g.memory_total_bytes.filter(|_| g.error.is_none()),
                available_bytes: g
                    .memory_free_bytes
                    .filter(|_| g.error.is_none())
                    .map(|free| free + server_held(g)),
                display_active: g.display_active.unwrap_or(false),
                error: g.error.clone(),
            })
    };
    match selection {
        GpuSelection::None => Vec::new(),
        GpuSelection::All => {
            let mut indices: Vec<u32> = snapshot.gpus.iter().map(|g| g.index).collect();
            indices.sort_unstable();
            indices.into_iter().filter_map(facts).collect()
        }
        GpuSelection::Devices(list) => list.iter().copied().filter_map(facts).collect(),
    }
}

/// Numbers each GPU in `snapshot` as the server's CUDA sees it (`GpuSample::cuda`), so the
/// log's `CUDA0` lines and FIT_TARGET's values can be put next to the right card.
pub fn number_cuda(snapshot: &mut GpuSnapshot, selection: &GpuSelection) {
    let order: Vec<u32> = gpu_facts(snapshot, selection)
        .iter()
        .map(|f| f.index)
        .collect();
    for g in &mut snapshot.gpus {
        g.cuda = order.iter().position(|i| *i == g.index).map(|p| p as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::gpu::GpuSample;
    use std::time::SystemTime;

    const GIB: u64 = 1 << 30;

    fn sample(index: u32, display: Option<bool>) -> GpuSample {
        GpuSample {
            index,
            name: Some(format!("Card {index}")),
            memory_total_bytes: Some(24 * GIB),
            display_active: display,
            ..GpuSample::default()
        }
    }

    #[test]
    fn facts_follow_the_selection_in_cuda_order() {
        let snapshot = GpuSnapshot {
            gpus: vec![
                sample(1, Some(true)),
                sample(0, None),
                sample(2, Some(false)),
            ],
            driver_version: None,
            taken_at: SystemTime::now(),
            stale: None,
        };
        let order = |sel: GpuSelection| -> Vec<u32> {
            gpu_facts(&snapshot, &sel).iter().map(|g| g.index).collect()
        };
        assert_eq!(order(GpuSelection::All), [0, 1, 2]);
        assert_eq!(order(GpuSelection::Devices(vec![2, 0])), [2, 0]);
        assert_eq!(order(GpuSelection::Devices(vec![1, 7])), [1], "no GPU 7");
        assert!(order(GpuSelection::None).is_empty());
        let facts = gpu_facts(&snapshot, &GpuSelection::All);
        assert_eq!(
            facts[1],
            GpuFacts {
                index: 1,
                name: "Card 1".into(),
                total_bytes: Some(24 * GIB),
                available_bytes: None,
                display_active: true,
                error: None,
            }
        );
        assert!(!facts[0].display_active, "unknown counts as no display");
    }

    #[test]
    fn the_running_servers_memory_counts_as_available_and_a_broken_gpu_as_unknown() {
        use crate::monitor::gpu::GpuProcess;
        let process = |pid, gib: u64, name: &str, is_model| GpuProcess {
            pid,
            used_memory_bytes: Some(gib * GIB),
            name: Some(name.into()),
            is_model,
        };
        let loaded = GpuSample {
            memory_free_bytes: Some(2 * GIB),
            processes: vec![
                process(10, 18, "llama-server", false),
                process(11, 1, "Xorg", false),
            ],
            ..sample(0, Some(false))
        };
        let broken = GpuSample {
            memory_free_bytes: Some(20 * GIB),
            error: Some("the GPU has fallen off the bus (GPU lost)".into()),
            ..sample(1, Some(false))
        };
        let snapshot = GpuSnapshot {
            gpus: vec![loaded, broken],
            driver_version: None,
            taken_at: SystemTime::now(),
            stale: None,
        };
        let facts = gpu_facts(&snapshot, &GpuSelection::All);
        assert_eq!(
            facts[0].available_bytes,
            Some(20 * GIB),
            "free + llama-server"
        );
        assert_eq!(facts[1].available_bytes, None);
        assert_eq!(facts[1].total_bytes, None);
        assert!(facts[1].error.as_deref().unwrap().contains("fallen off"));
    }
}
