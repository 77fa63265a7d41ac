//! What llama.cpp keeps per layer, read from a GGUF header: which layers hold a KV cache and
//! how wide it is, which use a sliding window, which keep a recurrent state instead.
//!
//! The rules are llama.cpp's own (upstream 82bb485, August 2026), not a guess from names:
//! - `src/llama-model.cpp` `load_hparams`: `head_count`/`head_count_kv` may be per-layer
//!   arrays; head sizes default to `n_embd / n_head(0)`; `key_length_swa` for windowed layers.
//! - `src/models/<arch>.cpp` `load_arch_hparams`: each architecture's sliding-window period
//!   (`set_swa_pattern`), which layers are recurrent (`is_recr_impl`), MLA head sizes,
//!   NextN/MTP layers, KV shared between layers (`n_layer_kv_from_start`).
//! - `src/llama-model.cpp` `create_memory`: which layers each cache takes (the filters).
//! - `src/llama-hparams.cpp`: `n_embd_k_gqa`, `n_embd_r`, `n_embd_s`, `is_mla`, `has_kv`.
//! - `src/llama-kv-cache.cpp`: an MLA model (`is_mla`) allocates no V cache.

use super::gguf::Metadata;

/// One layer as the memory allocator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layer {
    /// Values per cached token in K and in V (`n_embd_k_gqa`, `n_embd_v_gqa`; V is 0 for
    /// MLA). `None`: no KV cache on this layer.
    pub kv: Option<(u64, u64)>,
    /// Part of the sliding-window cache (it holds a window, not the whole context).
    pub swa: bool,
    /// Keeps a recurrent state (Mamba, DeltaNet, RWKV...) instead of, or beside, KV.
    pub recurrent: bool,
}

/// The shape the memory estimate needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelShape {
    pub arch: String,
    pub layers: Vec<Layer>,
    /// The sliding window in tokens (0: none).
    pub n_swa: u64,
    /// Floats of recurrent state per layer and sequence: conv/shift (`n_embd_r`) and
    /// SSM/WKV (`n_embd_s`).
    pub recurrent_r: u64,
    pub recurrent_s: u64,
    pub n_embd: u64,
    pub n_vocab: u64,
    /// The most attention heads of any layer (for the score matrix without flash attention).
    pub n_head: u64,
    /// The widest feed-forward activation per token: a dense FFN, or the experts a token
    /// uses plus the shared ones.
    pub ffn_width: u64,
    /// The context the model was trained with (what `--ctx-size 0` gives).
    pub ctx_train: Option<u64>,
    /// Multi-head latent attention: K holds the latent, there is no V cache.
    pub mla: bool,
}

impl ModelShape {
    pub fn kv_layers(&self) -> impl Iterator<Item = &Layer> {
        self.layers.iter().filter(|l| l.kv.is_some())
    }

    pub fn recurrent_layers(&self) -> usize {
        self.layers.iter().filter(|l| l.recurrent).count()
    }

    pub fn has_swa(&self) -> bool {
        self.layers.iter().any(|l| l.swa && l.kv.is_some())
    }

    /// The widest V row, which every layer gets when flash attention is off (llama.cpp
    /// stores V transposed then, padded to the widest layer: `n_embd_v_gqa_max`).
    pub fn v_width_max(&self) -> u64 {
        self.kv_layers()
            .filter_map(|l| l.kv.map(|(_, v)| v))
            .max()
            .unwrap_or(0)
    }
}

/// How an architecture marks its sliding-window layers (`src/models/<arch>.cpp`).
#[derive(Debug, Clone, Copy)]
enum Swa {
    /// `set_swa_pattern(period, dense_first)`; `window` is the default when the header has
    /// none; `needs_key`: only when the header sets a non-zero `sliding_window`.
    Period {
        period: u64,
        dense_first: bool,
        window: u64,
        needs_key: bool,
    },
    /// A per-layer boolean array in `sliding_window_pattern`.
    Array,
    /// LFM2: every attention layer is windowed when the header sets a window.
    AttentionLayers,
}

fn swa_rule(arch: &str) -> Option<Swa> {
    let period = |period, dense_first, window, needs_key| Swa::Period {
        period,
        dense_first,
        window,
        needs_key,
    };
    Some(match arch {
        "gemma2" => period(2, false, 4096, false),
        "gemma3" => period(6, false, 0, true),
        "gemma3n" => period(5, false, 0, false),
        "gpt-oss" => period(2, false, 0, false),
        "cohere2" => period(4, false, 0, false),
        "exaone4" => period(4, false, 4096, true),
        "exaone-moe" => period(4, false, 128, false),
        "llama4" => period(4, false, 8192, false),
        "olmo2" | "afmoe" | "mellum" => period(4, false, 0, true),
        "smallthinker" | "laguna" | "cohere2moe" => period(4, true, 0, true),
        "plamo3" => period(8, false, 0, true),
        "gemma4" | "gemma4-assistant" | "mimo2" | "step35" => Swa::Array,
        "lfm2" | "lfm2moe" => Swa::AttentionLayers,
        _ => return None,
    })
}

/// Pure recurrent models: no KV cache at all (`llm_arch_is_recurrent`).
const RECURRENT: &[&str] = &["mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"];

/// Architectures whose KV cache leaves the NextN/MTP layers out (`create_memory`).
const KV_WITHOUT_NEXTN: &[&str] = &[
    "step35",
    "hy-v3",
    "glm-dsa",
    "mimo2",
    "deepseek32",
    "qwen3next",
    "qwen35",
    "qwen35moe",
];

impl ModelShape {
    /// The shape in `meta`; `None` when it lacks what any estimate needs (architecture,
    /// layer count, width).
    pub fn read(meta: &Metadata) -> Option<Self> {
        let arch = meta.architecture()?.to_string();
        let key = |k: &str| format!("{arch}.{k}");
        let uint = |k: &str| meta.uint(&key(k));
        let n_layer_all = usize::try_from(uint("block_count")?)
            .ok()
            .filter(|n| (1..=4096).contains(n))?;
        let n_embd = uint("embedding_length")?;
        // NextN/MTP blocks sit after the main stack and are counted in block_count.
        let n_nextn = (uint("nextn_predict_layers").unwrap_or(0) as usize).min(n_layer_all - 1);
        let n_layer = n_layer_all - n_nextn;

        let heads = meta
            .per_layer(&key("attention.head_count"), n_layer_all)
            .unwrap_or_else(|| vec![0; n_layer_all]);
        // n_head_kv defaults to n_head.
        let heads_kv = meta
            .per_layer(&key("attention.head_count_kv"), n_layer_all)
            .unwrap_or_else(|| heads.clone());
        let ffn = meta
            .per_layer(&key("feed_forward_length"), n_layer_all)
            .unwrap_or_else(|| vec![0; n_layer_all]);
        let head0 = heads.first().copied().unwrap_or(0);
        let head_k = uint("attention.key_length").or_else(|| n_embd.checked_div(head0));
        let head_v = uint("attention.value_length").or_else(|| n_embd.checked_div(head0));
        let head_k_swa = uint("attention.key_length_swa").or(head_k);
        let head_v_swa = uint("attention.value_length_swa").or(head_v);
        let mla = uint("attention.key_length_mla").unwrap_or(0) != 0
            && uint("attention.value_length_mla").unwrap_or(0) != 0;

        let recurrent = recurrent_layers(meta, &arch, n_layer, n_layer_all, &heads_kv, &ffn);
        let (swa, n_swa) = swa_layers(meta, &arch, n_layer, n_layer_all, &recurrent);

        // Layers past this share another layer's KV (Gemma 3n, Gemma 4).
        let kv_from_start = match arch.as_str() {
            "gemma3n" => Some(20),
            "gemma4" => Some(
                n_layer_all
                    .saturating_sub(uint("attention.shared_kv_layers").unwrap_or(0) as usize),
            ),
            _ => None,
        };
        let pure_recurrent = RECURRENT.contains(&arch.as_str());
        let kv_takes = |il: usize| -> bool {
            if pure_recurrent || kv_from_start.is_some_and(|n| il >= n) {
                return false;
            }
            if il >= n_layer && KV_WITHOUT_NEXTN.contains(&arch.as_str()) {
                return false;
            }
            match arch.as_str() {
                "falcon-h1" => true,
                // Nemotron-H: attention layers have heads and no FFN of their own.
                "nemotron_h" | "nemotron_h_moe" => !recurrent[il] && ffn[il] == 0,
                _ => !recurrent[il],
            }
        };
        let layers = (0..n_layer_all)
            .map(|il| {
                let (hk, hv) = if swa[il] {
                    (head_k_swa, head_v_swa)
                } else {
                    (head_k, head_v)
                };
                let kv = kv_takes(il)
                    .then(|| {
                        let k = hk? * heads_kv[il];
                        let v = if mla { 0 } else { hv? * heads_kv[il] };
                        Some((k, v))
                    })
                    .flatten()
                    .filter(|(k, _)| *k > 0);
                Layer {
                    kv,
                    swa: swa[il],
                    recurrent: recurrent[il]
                        && (il < n_layer)
                        && match arch.as_str() {
                            "nemotron_h" | "nemotron_h_moe" => ffn[il] == 0,
                            _ => true,
                        },
                }
            })
            .collect();

        let (recurrent_r, recurrent_s) = recurrent_widths(meta, &arch, n_embd, head0);
        let n_vocab = uint("vocab_size")
            .or_else(|| meta.array_lens.get("tokenizer.ggml.tokens").copied())
            .unwrap_or(0);
        let experts_used = uint("expert_used_count").unwrap_or(0);
        let expert_ffn = uint("expert_feed_forward_length").unwrap_or(0);
        let shared_ffn = uint("expert_shared_feed_forward_length")
            .unwrap_or_else(|| expert_ffn * uint("expert_shared_count").unwrap_or(0));
        let ffn_width = ffn
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(expert_ffn * experts_used + shared_ffn);
        Some(Self {
            layers,
            n_swa,
            recurrent_r,
            recurrent_s,
            n_embd,
            n_vocab,
            n_head: heads.iter().copied().max().unwrap_or(0),
            ffn_width,
            ctx_train: uint("context_length"),
            mla,
            arch,
        })
    }
}

/// Which layers keep a recurrent state (`is_recr_impl` in each `load_arch_hparams`).
fn recurrent_layers(
    meta: &Metadata,
    arch: &str,
    n_layer: usize,
    n_layer_all: usize,
    heads_kv: &[u64],
    ffn: &[u64],
) -> Vec<bool> {
    let key = |k: &str| format!("{arch}.{k}");
    let main = |il: usize| il < n_layer;
    match arch {
        a if RECURRENT.contains(&a) => (0..n_layer_all).map(main).collect(),
        "falcon-h1" => vec![true; n_layer_all],
        // Gated DeltaNet hybrids: an explicit array, else every `interval`th layer is
        // full attention (`(il + 1) % interval == 0`), the rest linear.
        "qwen3next" | "qwen35" | "qwen35moe" => {
            match meta.per_layer(&key("attention.recurrent_layers"), n_layer_all) {
                Some(flags) if meta.is_array(&key("attention.recurrent_layers")) => {
                    flags.iter().map(|f| *f != 0).collect()
                }
                _ => {
                    let interval = meta
                        .uint(&key("full_attention_interval"))
                        .unwrap_or(4)
                        .max(1) as usize;
                    (0..n_layer_all)
                        .map(|il| main(il) && (il + 1) % interval != 0)
                        .collect()
                }
            }
        }
        // A layer without KV heads is a state layer.
        "jamba" | "granitehybrid" | "lfm2" | "lfm2moe" | "plamo2" | "kimi-linear" => (0
            ..n_layer_all)
            .map(|il| main(il) && heads_kv[il] == 0)
            .collect(),
        "nemotron_h" | "nemotron_h_moe" => (0..n_layer_all)
            .map(|il| main(il) && heads_kv[il] == 0 && ffn[il] == 0)
            .collect(),
        _ => vec![false; n_layer_all],
    }
}

/// Which layers are windowed, and the window (`set_swa_pattern` and friends).
fn swa_layers(
    meta: &Metadata,
    arch: &str,
    n_layer: usize,
    n_layer_all: usize,
    recurrent: &[bool],
) -> (Vec<bool>, u64) {
    let none = (vec![false; n_layer_all], 0);
    let key = |k: &str| format!("{arch}.{k}");
    let window_key = meta.uint(&key("attention.sliding_window"));
    let pattern_key = key("attention.sliding_window_pattern");
    let Some(rule) = swa_rule(arch) else {
        return none;
    };
    match rule {
        Swa::Period {
            period,
            dense_first,
            window,
            needs_key,
        } => {
            if needs_key && window_key.is_none_or(|w| w == 0) {
                return none;
            }
            // A window of 0 in the header switches Llama 4's chunked attention off.
            if arch == "llama4" && window_key == Some(0) {
                return none;
            }
            let n_swa = if arch == "llama4" || arch == "smallthinker" {
                window
            } else {
                window_key.unwrap_or(window)
            };
            if n_swa == 0 {
                return none;
            }
            // cohere2moe/mellum may carry the pattern as a per-layer array instead.
            if meta.is_array(&pattern_key) && matches!(arch, "cohere2moe" | "mellum") {
                return (
                    array_pattern(meta, &pattern_key, n_layer, n_layer_all),
                    n_swa,
                );
            }
            let period = if meta.is_array(&pattern_key) {
                period
            } else {
                meta.uint(&pattern_key).unwrap_or(period)
            };
            let flags = (0..n_layer_all)
                .map(|il| {
                    let il = il as u64;
                    il < n_layer as u64
                        && (period == 0
                            || if dense_first {
                                !il.is_multiple_of(period)
                            } else {
                                il % period < period - 1
                            })
                })
                .collect();
            (flags, n_swa)
        }
        Swa::Array => match window_key {
            Some(w) if w > 0 => (array_pattern(meta, &pattern_key, n_layer, n_layer_all), w),
            _ => none,
        },
        Swa::AttentionLayers => match window_key {
            Some(w) if w > 0 => (
                (0..n_layer_all)
                    .map(|il| il < n_layer && !recurrent[il])
                    .collect(),
                w,
            ),
            _ => none,
        },
    }
}

fn array_pattern(meta: &Metadata, key: &str, n_layer: usize, n_layer_all: usize) -> Vec<bool> {
    let flags = meta.per_layer(key, n_layer).unwrap_or_default();
    (0..n_layer_all)
        .map(|il| flags.get(il).is_some_and(|f| *f != 0))
        .collect()
}

/// `n_embd_r` and `n_embd_s` (`src/llama-hparams.cpp`): floats of conv/shift state and of
/// SSM/WKV state per layer and sequence.
fn recurrent_widths(meta: &Metadata, arch: &str, n_embd: u64, n_head: u64) -> (u64, u64) {
    let uint = |k: &str| meta.uint(&format!("{arch}.{k}")).unwrap_or(0);
    let wkv = uint("wkv.head_size");
    if wkv != 0 {
        let shift = meta.uint(&format!("{arch}.token_shift_count")).unwrap_or(2);
        return (shift * n_embd, n_embd * wkv);
    }
    let d_conv = uint("ssm.conv_kernel");
    let d_inner = uint("ssm.inner_size");
    let d_state = uint("ssm.state_size");
    let n_group = uint("ssm.group_count");
    let l_cache = uint("shortconv.l_cache");
    if l_cache != 0 {
        return (n_embd * (l_cache - 1), d_state * d_inner);
    }
    let kda = uint("kda.head_dim");
    if kda != 0 {
        let conv = if d_conv > 0 { d_conv - 1 } else { 3 };
        return (3 * conv * n_head * kda, kda * kda * n_head);
    }
    (
        d_conv.saturating_sub(1) * (d_inner + 2 * n_group * d_state),
        d_state * d_inner,
    )
}
