//! The adapter from an NVML snapshot to the plain facts the hardware lints take
//! ([`GpuFacts`]): here, above both, so that the lints need no NVML and the monitor no lints.

use crate::config::settings::GpuSelection;
use crate::model::hardware_lint::GpuFacts;

use super::gpu::GpuSnapshot;

/// The GPUs in `snapshot` that `selection` hands the server, in the order CUDA numbers them:
/// every GPU in index order, or the listed ones in list order (as CUDA_VISIBLE_DEVICES
/// orders them; see [`crate::model::hardware_lint::server_gpu_selection`] for Docker). CUDA enumerates in PCI order, as
/// NVML does, because llws sets `CUDA_DEVICE_ORDER=PCI_BUS_ID` for the server. A listed index NVML does not know is left out: the server cannot get it either.
pub fn gpu_facts(snapshot: &GpuSnapshot, selection: &GpuSelection) -> Vec<GpuFacts> {
    let facts = |index: u32| {
        snapshot
            .gpus
            .iter()
            .find(|g| g.index == index)
            .map(|g| GpuFacts {
                index: g.index,
                name: g.name.clone().unwrap_or_else(|| "unknown".to_string()),
                total_bytes: g.memory_total_bytes,
                display_active: g.display_active.unwrap_or(false),
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
                display_active: true,
            }
        );
        assert!(!facts[0].display_active, "unknown counts as no display");
    }
}
