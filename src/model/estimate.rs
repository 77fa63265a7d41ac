//! A pre-load estimate of a profile's memory footprint, following llama.cpp's own
//! allocation rules: the model's real file sizes (all parts, never a guess from the quant
//! name), the KV cache per layer as llama.cpp allocates it (MLA without V, sliding-window
//! layers holding a window, hybrid models caching only their attention layers, a recurrent
//! state for the others), the compute buffers from flash attention, ubatch and the GPU
//! count, and per-GPU CUDA overhead. The shape comes from the GGUF header
//! ([`super::layers`]), the launch settings from the effective argv, EXTRA_ARGS included
//! ([`super::launch`]).
//!
//! It is good enough to say "fits", "spills to RAM" or "risks swap" before a 60 GB load
//! starts, not to place layers; the tests hold it to llama-server's own log figures.

use serde::Serialize;

use super::gguf::Metadata;
use super::launch::{Launch, pad256};
use super::layers::ModelShape;
use crate::config::profile::Profile;

const MIB: u64 = 1 << 20;
/// Without a readable header: the original's rule of thumb for compute buffers.
const FALLBACK_COMPUTE_BYTES: u64 = 512 * MIB;
/// The CUDA context and cuBLAS workspace per GPU.
const CUDA_OVERHEAD_PER_GPU: u64 = 500 * MIB;
/// `GGML_SCHED_MAX_COPIES`: with pipeline parallelism every split input (the attention
/// masks) is kept in this many copies on each GPU.
const PIPELINE_COPIES: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Footprint {
    pub model_bytes: u64,
    /// The KV cache; `None` when the metadata lacks the attention shape.
    pub kv_bytes: Option<u64>,
    /// The recurrent state of hybrid and recurrent models (Mamba, DeltaNet, RWKV layers).
    pub recurrent_bytes: u64,
    /// The compute buffers, all GPUs together (`compute buffer size` in the log).
    pub compute_bytes: u64,
    /// CUDA's flash-attention scratch: an f16 copy of one layer's quantized K and V.
    pub scratch_bytes: u64,
    pub overhead_bytes: u64,
    /// The context the server will allocate (after llama.cpp's padding; the training
    /// context when CTX_SIZE is 0).
    pub ctx: u64,
}

impl Footprint {
    pub fn total(&self) -> u64 {
        self.model_bytes
            + self.kv_bytes.unwrap_or(0)
            + self.recurrent_bytes
            + self.compute_bytes
            + self.scratch_bytes
            + self.overhead_bytes
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

fn is_quantized(cache_type: &str) -> bool {
    !matches!(cache_type, "f32" | "f16" | "bf16")
}

fn row_bytes(values: u64, cache_type: &str) -> u64 {
    (values as f64 * bytes_per_value(cache_type)).ceil() as u64
}

/// How many cells each cache holds, per stream, and how many streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cells {
    /// Cells of the full-context cache (`n_ctx_seq`).
    pub base: u64,
    /// Cells of the sliding-window cache (`llama-kv-cache-iswa.cpp`): the window for every
    /// sequence that shares it plus one ubatch, padded to 256, at most the base.
    pub swa: u64,
    /// 1 with a unified cache, else one per slot.
    pub streams: u64,
}

impl Cells {
    pub fn of(shape: &ModelShape, launch: &Launch) -> Self {
        let n_ctx = launch.n_ctx(shape.ctx_train);
        let unified = launch.unified();
        let streams = if unified { 1 } else { launch.slots() };
        let base = n_ctx / streams;
        let window_seqs = if unified { launch.slots() } else { 1 };
        let swa = if launch.swa_full {
            base
        } else {
            pad256(base.min(shape.n_swa * window_seqs + launch.n_ubatch(n_ctx)))
        };
        Self { base, swa, streams }
    }
}

/// The KV cache as llama.cpp allocates it (`llama-kv-cache.cpp`): every layer with KV gets
/// K and V rows for its cache's cells; MLA layers get no V; without flash attention V is
/// stored transposed and padded to the widest layer.
pub fn kv_bytes(shape: &ModelShape, launch: &Launch) -> u64 {
    let cells = Cells::of(shape, launch);
    let v_max = shape.v_width_max();
    shape
        .kv_layers()
        .map(|layer| {
            let (k, v) = layer.kv.unwrap_or_default();
            let v = if launch.flash_attn.enabled() || v == 0 {
                v
            } else {
                v_max
            };
            let n = if layer.swa { cells.swa } else { cells.base } * cells.streams;
            (row_bytes(k, &launch.type_k) + row_bytes(v, &launch.type_v)) * n
        })
        .sum()
}

/// The recurrent state (`llama-memory-recurrent.cpp`): f32 conv and SSM rows per recurrent
/// layer, one set per sequence.
pub fn recurrent_bytes(shape: &ModelShape, launch: &Launch) -> u64 {
    let rows = launch.slots();
    shape.recurrent_layers() as u64 * (shape.recurrent_r + shape.recurrent_s) * 4 * rows
}

/// The compute buffer of one GPU that holds layers (`sched_reserve`), and of the one that
/// also holds the output layer. llama.cpp sizes it by reserving the largest graph: one
/// ubatch through one layer (the buffer is reused from layer to layer).
///
/// - The attention masks, `n_kv × n_ubatch` per cache (full and sliding-window), are graph
///   inputs: never reused, copied to each GPU, and in `PIPELINE_COPIES` copies when
///   pipeline parallelism is on. With flash attention the f32 mask is cast to f16 on the
///   device (6 bytes per cell; llama.cpp from May 2026, PR #23764, reserves only the f16
///   mask, so this errs high by `n_kv × n_ubatch × 4` bytes on current builds).
/// - Without flash attention the scores `n_kv × n_ubatch × n_head` in f32 are materialised.
/// - Activations: the residual, normalised input and the widest FFN activation, with its
///   gate, per token of the ubatch.
/// - The output GPU adds the logits of the rows it returns: one per slot in llama-server
///   (PR #23861, June 2026).
struct Compute {
    per_gpu: u64,
    output_extra: u64,
}

fn compute(shape: &ModelShape, launch: &Launch, pipeline: bool) -> Compute {
    let cells = Cells::of(shape, launch);
    let n_ctx = launch.n_ctx(shape.ctx_train);
    let ub = launch.n_ubatch(n_ctx);
    let fa = launch.flash_attn.enabled();
    let mask_cell = if fa { 4 + 2 } else { 4 };
    let any_base = shape.kv_layers().any(|l| !l.swa);
    let mut kv_cells = Vec::new();
    if any_base {
        kv_cells.push(cells.base);
    }
    if shape.has_swa() {
        kv_cells.push(cells.swa);
    }
    let copies = if pipeline { PIPELINE_COPIES } else { 1 };
    let masks: u64 = kv_cells.iter().map(|n| n * ub * mask_cell).sum::<u64>() * copies;
    let scores = if fa {
        0
    } else {
        kv_cells.iter().copied().max().unwrap_or(0) * ub * shape.n_head * 4
    };
    let activations = ub * 4 * (2 * shape.n_embd + 2 * shape.ffn_width);
    Compute {
        per_gpu: masks + scores + activations,
        output_extra: shape.n_vocab * launch.slots().min(ub) * 4,
    }
}

/// Whether llama.cpp turns pipeline parallelism on (`llama-context.cpp`): several GPUs, the
/// whole model on them, layer split, and no hand-placed tensors.
fn pipeline_parallel(launch: &Launch, gpus: usize) -> bool {
    gpus > 1
        && launch.gpu_layers.is_none()
        && launch.split_mode == "layer"
        && !launch.tensor_overrides
}

/// The estimate for `profile`, whose model parts add up to `model_bytes`, on `gpus` GPUs
/// (0: the CPU).
pub fn estimate(
    profile: &Profile,
    model_bytes: u64,
    meta: Option<&Metadata>,
    gpus: usize,
) -> Footprint {
    estimate_launch(&Launch::of(profile), model_bytes, meta, gpus)
}

/// [`estimate`] for launch settings already read.
pub fn estimate_launch(
    launch: &Launch,
    model_bytes: u64,
    meta: Option<&Metadata>,
    gpus: usize,
) -> Footprint {
    // The loader does not keep ~200 MiB of the file (metadata, tokenizer) on the device.
    let model_bytes = model_bytes.saturating_sub(200 * MIB).max(model_bytes / 2);
    let overhead_bytes = CUDA_OVERHEAD_PER_GPU * gpus as u64;
    let Some(shape) = meta.and_then(ModelShape::read) else {
        return Footprint {
            model_bytes,
            kv_bytes: None,
            recurrent_bytes: 0,
            compute_bytes: FALLBACK_COMPUTE_BYTES,
            scratch_bytes: 0,
            overhead_bytes,
            ctx: launch.ctx,
        };
    };
    let devices = gpus.max(1) as u64;
    let c = compute(&shape, launch, pipeline_parallel(launch, gpus));
    let quantized = is_quantized(&launch.type_k) || is_quantized(&launch.type_v);
    // CUDA's flash attention converts one layer's quantized K and V to f16 in its pool.
    let scratch_bytes = if gpus > 0 && launch.flash_attn.enabled() && quantized {
        let cells = Cells::of(&shape, launch);
        let widest = shape
            .kv_layers()
            .filter_map(|l| l.kv.map(|(k, v)| (k + v, l.swa)))
            .map(|(w, swa)| w * if swa { cells.swa } else { cells.base })
            .max()
            .unwrap_or(0);
        widest * 2 * devices
    } else {
        0
    };
    Footprint {
        model_bytes,
        kv_bytes: (shape.kv_layers().next().is_some() || shape.recurrent_layers() > 0)
            .then(|| kv_bytes(&shape, launch)),
        recurrent_bytes: recurrent_bytes(&shape, launch),
        compute_bytes: c.per_gpu * devices + c.output_extra,
        scratch_bytes,
        overhead_bytes,
        ctx: launch.n_ctx(shape.ctx_train),
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
#[path = "estimate_tests.rs"]
mod tests;
