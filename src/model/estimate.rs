//! A pre-load estimate of a profile's memory footprint: the model's real file sizes (all
//! parts, never a guess from the quant name), plus the KV cache at the profile's context
//! from the GGUF metadata, plus compute buffers and per-GPU CUDA overhead.
//!
//! It is an estimate (the original author's rule of thumb, lesson 6.3.6): good enough to say
//! "fits", "spills to RAM" or "risks swap" before a 60 GB load starts, not to place layers.

use serde::Serialize;

use super::gguf::Metadata;
use crate::config::profiles::Profile;

const MIB: u64 = 1 << 20;
/// Compute buffers with `-ub 512` land around 0.5 GiB on the original's models.
const COMPUTE_BYTES: u64 = 512 * MIB;
/// The CUDA context and cuBLAS workspace per GPU.
const CUDA_OVERHEAD_PER_GPU: u64 = 500 * MIB;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Footprint {
    pub model_bytes: u64,
    /// `None` when the metadata lacks the attention shape.
    pub kv_bytes: Option<u64>,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
}

impl Footprint {
    pub fn total(&self) -> u64 {
        self.model_bytes + self.kv_bytes.unwrap_or(0) + self.compute_bytes + self.overhead_bytes
    }
}

/// Bytes per cached value for a KV cache type (block formats: bytes per 32 values).
fn bytes_per_value(cache_type: &str) -> f64 {
    match cache_type {
        "f32" => 4.0,
        "f16" | "bf16" => 2.0,
        "q8_0" => 34.0 / 32.0,
        "q5_1" => 24.0 / 32.0,
        "q5_0" => 22.0 / 32.0,
        "q4_1" => 20.0 / 32.0,
        "q4_0" | "iq4_nl" => 18.0 / 32.0,
        _ => 2.0,
    }
}

/// The KV cache at `ctx` tokens, from the attention shape in the metadata.
pub fn kv_bytes(meta: &Metadata, ctx: u64, type_k: &str, type_v: &str) -> Option<u64> {
    let arch = meta.architecture()?;
    let key = |k: &str| meta.uint(&format!("{arch}.{k}"));
    let layers = key("block_count")?;
    let embd = key("embedding_length")?;
    let heads = key("attention.head_count")?;
    // Per-layer head counts are arrays (skipped by the reader): fall back to all heads,
    // which overestimates, the safe side for a fit check.
    let kv_heads = key("attention.head_count_kv").unwrap_or(heads);
    let head_dim = embd.checked_div(heads)?;
    let k_len = key("attention.key_length").unwrap_or(head_dim);
    let v_len = key("attention.value_length").unwrap_or(head_dim);
    let values_k = layers * ctx * kv_heads * k_len;
    let values_v = layers * ctx * kv_heads * v_len;
    Some(
        (values_k as f64 * bytes_per_value(type_k) + values_v as f64 * bytes_per_value(type_v))
            as u64,
    )
}

/// The estimate for `profile`, whose model parts add up to `model_bytes`, on `gpus` GPUs.
pub fn estimate(
    profile: &Profile,
    model_bytes: u64,
    meta: Option<&Metadata>,
    gpus: usize,
) -> Footprint {
    let type_k = profile.get("KV_CACHE_TYPE_K").unwrap_or("q8_0");
    let type_v = profile.get("KV_CACHE_TYPE_V").unwrap_or("q8_0");
    Footprint {
        // The loader does not keep ~200 MiB of the file (metadata, tokenizer) on the device.
        model_bytes: model_bytes.saturating_sub(200 * MIB).max(model_bytes / 2),
        kv_bytes: meta.and_then(|m| kv_bytes(m, profile.ctx_size(), type_k, type_v)),
        compute_bytes: COMPUTE_BYTES,
        overhead_bytes: CUDA_OVERHEAD_PER_GPU * gpus as u64,
    }
}

/// Where a footprint would live, given free VRAM and available RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Fits in free VRAM.
    Vram,
    /// Spills into RAM (FIT offloads what does not fit), and RAM has room.
    SpillsToRam,
    /// More than VRAM and available RAM together: the load will swap or fail.
    SwapRisk,
    /// No GPU: runs from RAM on the CPU, and RAM has room.
    Cpu,
}

pub fn fit(total: u64, free_vram: Option<u64>, available_ram: u64) -> Fit {
    match free_vram {
        None | Some(0) if total <= available_ram => Fit::Cpu,
        None | Some(0) => Fit::SwapRisk,
        Some(v) if total <= v => Fit::Vram,
        Some(v) if total <= v + available_ram => Fit::SpillsToRam,
        Some(_) => Fit::SwapRisk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;
    use crate::model::gguf::{Value, read_metadata, tests::header};
    use std::path::Path;

    fn meta() -> Metadata {
        // A Llama-3-8B-like shape: 32 layers, 4096 wide, 32 heads, 8 KV heads.
        let bytes = header(&[
            ("general.architecture", Value::Str("llama".into())),
            ("llama.block_count", Value::Uint(32)),
            ("llama.embedding_length", Value::Uint(4096)),
            ("llama.attention.head_count", Value::Uint(32)),
            ("llama.attention.head_count_kv", Value::Uint(8)),
        ]);
        read_metadata(&mut bytes.as_slice()).unwrap()
    }

    #[test]
    fn kv_cache_follows_context_and_cache_type() {
        // 2 (K and V) × 32 layers × 8192 ctx × 8 heads × 128 dims × 2 bytes = 1 GiB in f16.
        assert_eq!(kv_bytes(&meta(), 8192, "f16", "f16"), Some(1 << 30));
        let q8 = kv_bytes(&meta(), 8192, "q8_0", "q8_0").unwrap();
        assert_eq!(q8, ((1u64 << 30) as f64 * 34.0 / 64.0) as u64);
    }

    #[test]
    fn estimate_adds_up_and_fits() {
        let set = parse(
            "[p]\nMODEL=m.gguf\nCTX_SIZE=8192\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
            Path::new("m.conf"),
        )
        .unwrap();
        let f = estimate(&set.profiles[0], 5 << 30, Some(&meta()), 1);
        assert_eq!(f.kv_bytes, Some(1 << 30));
        assert_eq!(
            f.total(),
            (5 << 30) - 200 * MIB + (1 << 30) + COMPUTE_BYTES + CUDA_OVERHEAD_PER_GPU
        );
        assert_eq!(fit(f.total(), Some(24 << 30), 32 << 30), Fit::Vram);
        assert_eq!(fit(f.total(), Some(4 << 30), 32 << 30), Fit::SpillsToRam);
        assert_eq!(fit(f.total(), Some(1 << 30), 2 << 30), Fit::SwapRisk);
        assert_eq!(fit(f.total(), None, 32 << 30), Fit::Cpu);
        assert_eq!(fit(f.total(), None, 1 << 30), Fit::SwapRisk);
    }
}
