//! The estimate against llama-server's own figures, on GGUF headers carrying the real
//! metadata of the models llws's users run. Each figure says where it was published.

use std::path::Path;

use super::*;
use crate::config::profiles::parse;
use crate::model::gguf::{Value, read_metadata, tests::header_with_tokens};

const GIB: u64 = 1 << 30;

fn profile(body: &str) -> Profile {
    parse(&format!("[p]\nMODEL=m.gguf\n{body}"), Path::new("m.conf"))
        .unwrap()
        .profiles
        .remove(0)
}

fn meta(entries: &[(&str, Value)], vocab: u64) -> Metadata {
    read_metadata(&mut header_with_tokens(entries, vocab).as_slice()).unwrap()
}

fn u(v: u64) -> Value {
    Value::Uint(v)
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// `actual` within 10 % of `expected` (MiB), with both in the message.
fn within_10(what: &str, actual: u64, expected_mib: f64) {
    let got = mib(actual);
    let off = (got - expected_mib).abs() / expected_mib;
    assert!(
        off <= 0.10,
        "{what}: estimated {got:.2} MiB, llama-server reports {expected_mib:.2} MiB ({:+.1} %)",
        (got / expected_mib - 1.0) * 100.0
    );
}

fn footprint(conf: &str, meta: &Metadata, gpus: usize) -> Footprint {
    estimate(&profile(conf), 10 * GIB, Some(meta), gpus)
}

/// GLM-4.7-Flash (`deepseek2` with MLA), its header as llama.cpp prints it for
/// unsloth's and ubergarm's GGUFs (ollama/ollama#15855, ikawrakow/ik_llama.cpp#1167):
/// 47 layers, n_embd 2048, 20 heads, 1 KV head, K 576 (512 latent + 64 rope), V 512,
/// MLA head sizes 256/256, vocab 154880, 64 experts (4 used, 1536 wide), 1 shared.
fn glm_47_flash() -> Metadata {
    meta(
        &[
            ("general.architecture", s("deepseek2")),
            ("deepseek2.block_count", u(47)),
            ("deepseek2.context_length", u(202_752)),
            ("deepseek2.embedding_length", u(2048)),
            ("deepseek2.feed_forward_length", u(10_240)),
            ("deepseek2.attention.head_count", u(20)),
            ("deepseek2.attention.head_count_kv", u(1)),
            ("deepseek2.attention.key_length", u(576)),
            ("deepseek2.attention.value_length", u(512)),
            ("deepseek2.attention.key_length_mla", u(256)),
            ("deepseek2.attention.value_length_mla", u(256)),
            ("deepseek2.attention.kv_lora_rank", u(512)),
            ("deepseek2.attention.q_lora_rank", u(768)),
            ("deepseek2.rope.dimension_count", u(64)),
            ("deepseek2.expert_count", u(64)),
            ("deepseek2.expert_used_count", u(4)),
            ("deepseek2.expert_shared_count", u(1)),
            ("deepseek2.expert_feed_forward_length", u(1536)),
            ("deepseek2.leading_dense_block_count", u(1)),
        ],
        154_880,
    )
}

#[test]
fn glm_47_flash_caches_only_the_mla_latent() {
    let m = glm_47_flash();
    let shape = ModelShape::read(&m).unwrap();
    assert!(shape.mla);
    assert_eq!(shape.kv_layers().count(), 47);
    // "f16 K-cache for these models is 576 * 2 * n_layer per token. For GLM-4.7-Flash this
    // works out to about 53 kB per token, so 3.23 GiB for 64k tokens" (ikawrakow,
    // https://github.com/ikawrakow/ik_llama.cpp/issues/1180); llama.cpp allocates no V for
    // MLA since https://github.com/ggml-org/llama.cpp/pull/19067 ("almost x2 less memory").
    let per_token = kv_bytes(
        &shape,
        &Launch::of(&profile(
            "CTX_SIZE=256\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
        )),
    ) / 256;
    assert_eq!(per_token, 576 * 2 * 47);
    let f = footprint(
        "CTX_SIZE=65536\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
        &m,
        1,
    );
    within_10(
        "GLM-4.7-Flash KV f16 at 64K",
        f.kv_bytes.unwrap(),
        3.23 * 1024.0,
    );
    // The old estimate added a V cache: 1.9x too high at 128K q8_0 (issue 16: +3 GiB).
    let q8 = footprint("CTX_SIZE=131072\n", &m, 1).kv_bytes.unwrap();
    let with_v = 47.0 * (576.0 + 512.0) * 131_072.0 * 34.0 / 32.0;
    assert!(with_v / q8 as f64 > 1.85, "{}", mib(q8));
}

/// Qwen3-30B-A3B (`qwen3moe`), the header llama.cpp prints for it
/// (ikawrakow/ik_llama.cpp#1066, #398): 48 layers, n_embd 2048, 32 heads, 4 KV heads of
/// 128, 128 experts (8 used, 768 wide), vocab 151936.
fn qwen3_30b_a3b() -> Metadata {
    meta(
        &[
            ("general.architecture", s("qwen3moe")),
            ("qwen3moe.block_count", u(48)),
            ("qwen3moe.context_length", u(40_960)),
            ("qwen3moe.embedding_length", u(2048)),
            ("qwen3moe.feed_forward_length", u(6144)),
            ("qwen3moe.attention.head_count", u(32)),
            ("qwen3moe.attention.head_count_kv", u(4)),
            ("qwen3moe.attention.key_length", u(128)),
            ("qwen3moe.attention.value_length", u(128)),
            ("qwen3moe.expert_count", u(128)),
            ("qwen3moe.expert_used_count", u(8)),
            ("qwen3moe.expert_feed_forward_length", u(768)),
        ],
        151_936,
    )
}

#[test]
fn qwen3_30b_a3b_is_plain_gqa() {
    let m = qwen3_30b_a3b();
    // n_embd_k_gqa = 512 on all 48 layers, as the same logs print ("n_embd_k_gqa = 512"):
    // 48 x (512 + 512) x 2 bytes = 96 KiB a token in f16, 3 GiB at 32K.
    let f = footprint(
        "CTX_SIZE=32768\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
        &m,
        1,
    );
    assert_eq!(f.kv_bytes, Some(3 * GIB));
    // CTX_SIZE=0 gives the training context (40960), not an empty cache.
    let full = footprint(
        "CTX_SIZE=0\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
        &m,
        1,
    );
    assert_eq!(full.ctx, 40_960);
    assert_eq!(full.kv_bytes, Some(48 * 1024 * 2 * 40_960));
}

/// Gemma-3-27B, the header of unsloth's gemma-3-27b-it GGUF as printed in
/// ikawrakow/ik_llama.cpp issue logs: 62 layers, n_embd 5376, 32 heads, 16 KV heads of
/// 128, sliding window 1024 (gemma3's pattern: 5 windowed then 1 full), vocab 262208.
fn gemma3_27b() -> Metadata {
    meta(
        &[
            ("general.architecture", s("gemma3")),
            ("gemma3.block_count", u(62)),
            ("gemma3.context_length", u(131_072)),
            ("gemma3.embedding_length", u(5376)),
            ("gemma3.feed_forward_length", u(21_504)),
            ("gemma3.attention.head_count", u(32)),
            ("gemma3.attention.head_count_kv", u(16)),
            ("gemma3.attention.key_length", u(128)),
            ("gemma3.attention.value_length", u(128)),
            ("gemma3.attention.sliding_window", u(1024)),
        ],
        262_208,
    )
}

#[test]
fn gemma3_27b_holds_a_window_on_52_of_62_layers() {
    let m = gemma3_27b();
    let shape = ModelShape::read(&m).unwrap();
    assert_eq!(shape.kv_layers().filter(|l| l.swa).count(), 52);
    assert!(
        !shape.layers[5].swa
            && shape.layers[4].swa
            && !shape.layers[59].swa
            && shape.layers[61].swa
    );
    // --swa-full gives every layer the whole context, which is what an engine without
    // SWA allocates: "CPU KV buffer size = 63488.00 MiB" at n_ctx 131072, f16
    // (ik_llama.cpp log of gemma-3-27b-it, public GitHub issue archive, search index id
    // 17629908569).
    let full = footprint(
        "CTX_SIZE=131072\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\nEXTRA_ARGS=--swa-full\n",
        &m,
        1,
    );
    assert_eq!(mib(full.kv_bytes.unwrap()), 63_488.0);
    // The window: 10 full layers at 128K plus 52 layers of pad256(1024 x 4 slots + 512)
    // cells, q8_0: 6.3 GiB, where the old estimate said 33 GiB (issue 16: "5-6 GiB").
    let swa = footprint("CTX_SIZE=131072\n", &m, 1).kv_bytes.unwrap();
    assert_eq!(swa, (10 * 131_072 + 52 * 4608) * 2 * 2048 * 34 / 32);
    // One slot (-np 1): 1536 window cells, 5.6 GiB.
    let one = footprint("CTX_SIZE=131072\nEXTRA_ARGS=-np 1\n", &m, 1)
        .kv_bytes
        .unwrap();
    assert_eq!(one, (10 * 131_072 + 52 * 1536) * 2 * 2048 * 34 / 32);
    assert!(one > 5 * GIB && one < 6 * GIB);
}

/// gpt-oss-20b, the header llama.cpp prints for unsloth's GGUF: 24 layers, n_embd 2880,
/// 64 heads, 8 KV heads of 64, sliding window 128 on every other layer, 32 experts
/// (4 used, 2880 wide), vocab 201088.
fn gpt_oss_20b() -> Metadata {
    meta(
        &[
            ("general.architecture", s("gpt-oss")),
            ("gpt-oss.block_count", u(24)),
            ("gpt-oss.context_length", u(131_072)),
            ("gpt-oss.embedding_length", u(2880)),
            ("gpt-oss.feed_forward_length", u(2880)),
            ("gpt-oss.attention.head_count", u(64)),
            ("gpt-oss.attention.head_count_kv", u(8)),
            ("gpt-oss.attention.key_length", u(64)),
            ("gpt-oss.attention.value_length", u(64)),
            ("gpt-oss.attention.sliding_window", u(128)),
            ("gpt-oss.expert_count", u(32)),
            ("gpt-oss.expert_used_count", u(4)),
            ("gpt-oss.expert_feed_forward_length", u(2880)),
        ],
        201_088,
    )
}

#[test]
fn gpt_oss_20b_against_llama_server() {
    // llama-server log of unsloth/gpt-oss-20b-GGUF, -c 131072 (4 auto slots, unified),
    // f16 cache, ubatch 512, flash attention auto -> on (public GitHub file, search index
    // id 52910685840; an Apple M5, so the compute figure is Metal's):
    //   llama_kv_cache: size = 3072.00 MiB (131072 cells,  12 layers,  4/1 seqs)
    //   llama_kv_cache: size =   24.00 MiB (  1024 cells,  12 layers,  4/1 seqs)
    //   sched_reserve:       MTL0 compute buffer size =   420.83 MiB
    let m = gpt_oss_20b();
    let f = footprint(
        "CTX_SIZE=131072\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\nFLASH_ATTN=0\n",
        &m,
        1,
    );
    assert_eq!(mib(f.kv_bytes.unwrap()), 3072.0 + 24.0);
    within_10("gpt-oss-20b compute", f.compute_bytes, 420.83);
    // gpt-oss-120b (36 layers), -c 65535 -ub 512, f16 (quoted in a public GitHub script,
    // search index id 63225873246): 2304.00 MiB (65536 cells, 18 layers) + 36.00 MiB
    // (1024 cells, 18 layers).
    let mut big = gpt_oss_20b();
    big.values.insert("gpt-oss.block_count".into(), u(36));
    let f = footprint(
        "CTX_SIZE=65535\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
        &big,
        1,
    );
    assert_eq!(mib(f.kv_bytes.unwrap()), 2304.0 + 36.0);
}

/// Qwen3.5-27B (`qwen35`, Qwen3-Next's layout: Gated DeltaNet layers with full attention
/// every fourth): 64 layers, n_embd 5120, 24 heads, 4 KV heads of 256, SSM conv 4,
/// inner 6144, state 128, 16 groups, vocab 248320.
fn qwen35_27b() -> Metadata {
    meta(
        &[
            ("general.architecture", s("qwen35")),
            ("qwen35.block_count", u(64)),
            ("qwen35.context_length", u(262_144)),
            ("qwen35.embedding_length", u(5120)),
            ("qwen35.feed_forward_length", u(17_408)),
            ("qwen35.attention.head_count", u(24)),
            ("qwen35.attention.head_count_kv", u(4)),
            ("qwen35.attention.key_length", u(256)),
            ("qwen35.attention.value_length", u(256)),
            ("qwen35.full_attention_interval", u(4)),
            ("qwen35.ssm.conv_kernel", u(4)),
            ("qwen35.ssm.inner_size", u(6144)),
            ("qwen35.ssm.state_size", u(128)),
            ("qwen35.ssm.group_count", u(16)),
            ("qwen35.ssm.time_step_rank", u(48)),
        ],
        248_320,
    )
}

#[test]
fn a_qwen3_next_style_hybrid_against_llama_server() {
    // llama-server log on an RTX 3090, fitted to n_ctx 200192, q8_0, ubatch 512, flash
    // attention on, one sequence (quoted verbatim in a public GitHub test fixture, search
    // index id 56992954617):
    //   llama_kv_cache: size = 6647.00 MiB (200192 cells,  16 layers,  1/1 seqs)
    //   llama_memory_recurrent:      CUDA0 RS buffer size =   149.62 MiB
    //   sched_reserve:      CUDA0 compute buffer size =   654.78 MiB
    let m = qwen35_27b();
    let shape = ModelShape::read(&m).unwrap();
    assert_eq!(
        shape.kv_layers().count(),
        16,
        "every fourth layer is attention"
    );
    assert_eq!(shape.recurrent_layers(), 48);
    let f = footprint("CTX_SIZE=200192\nEXTRA_ARGS=-np 1\n", &m, 1);
    assert_eq!(mib(f.kv_bytes.unwrap()), 6647.0);
    assert!(
        (mib(f.recurrent_bytes) - 149.62).abs() < 0.01,
        "{}",
        mib(f.recurrent_bytes)
    );
    within_10("Qwen3.5-27B compute", f.compute_bytes, 654.78);
    // The old estimate charged all 64 layers at full width: 4x too high.
    let all_layers = 64 * 2 * 1024 * 200_192 * 34 / 32;
    assert!(all_layers / f.kv_bytes.unwrap() >= 4);
}

#[test]
fn qwen3_next_80b_caches_its_12_attention_layers() {
    // Qwen3-Next-80B-A3B: 48 layers, 2 KV heads of 256, full attention every 4th layer.
    let m = meta(
        &[
            ("general.architecture", s("qwen3next")),
            ("qwen3next.block_count", u(48)),
            ("qwen3next.context_length", u(262_144)),
            ("qwen3next.embedding_length", u(2048)),
            ("qwen3next.attention.head_count", u(16)),
            ("qwen3next.attention.head_count_kv", u(2)),
            ("qwen3next.attention.key_length", u(256)),
            ("qwen3next.attention.value_length", u(256)),
            ("qwen3next.ssm.conv_kernel", u(4)),
            ("qwen3next.ssm.inner_size", u(4096)),
            ("qwen3next.ssm.state_size", u(128)),
            ("qwen3next.ssm.group_count", u(16)),
        ],
        151_936,
    );
    let f = footprint(
        "CTX_SIZE=262144\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
        &m,
        1,
    );
    assert_eq!(f.kv_bytes, Some(12 * 2 * 512 * 2 * 262_144));
    // 36 DeltaNet layers x 4 slots x (conv 3 x 8192 + state 128 x 4096) f32.
    assert_eq!(f.recurrent_bytes, 36 * 4 * (3 * 8192 + 128 * 4096) * 4);
}

#[test]
fn per_layer_head_counts_mark_the_state_layers() {
    // Nemotron-H style: head_count_kv and feed_forward_length per layer; a layer with
    // neither is Mamba, one with KV heads is attention, one with an FFN is MLP.
    let kv = [0u64, 8, 0, 0].map(u).to_vec();
    let ff = [0u64, 0, 0, 4096].map(u).to_vec();
    let m = meta(
        &[
            ("general.architecture", s("nemotron_h")),
            ("nemotron_h.block_count", u(4)),
            ("nemotron_h.embedding_length", u(1024)),
            ("nemotron_h.attention.head_count", u(8)),
            ("nemotron_h.attention.head_count_kv", Value::Array(kv)),
            ("nemotron_h.feed_forward_length", Value::Array(ff)),
            ("nemotron_h.attention.key_length", u(128)),
            ("nemotron_h.attention.value_length", u(128)),
        ],
        32,
    );
    let shape = ModelShape::read(&m).unwrap();
    let kinds: Vec<(bool, bool)> = shape
        .layers
        .iter()
        .map(|l| (l.kv.is_some(), l.recurrent))
        .collect();
    assert_eq!(
        kinds,
        [(false, true), (true, false), (false, true), (false, false)]
    );
}

#[test]
fn extra_args_win_over_the_profile_keys() {
    let m = qwen3_30b_a3b();
    let base = footprint("CTX_SIZE=8192\n", &m, 1);
    let later = footprint(
        "CTX_SIZE=8192\nEXTRA_ARGS=-c 16384 -ctk f16 -ctv f16\n",
        &m,
        1,
    );
    assert_eq!(later.ctx, 16_384);
    assert_eq!(later.kv_bytes, Some(48 * 1024 * 2 * 16_384));
    assert!(later.kv_bytes > base.kv_bytes);
}

#[test]
fn compute_follows_flash_attention_ubatch_and_gpus() {
    let m = qwen3_30b_a3b();
    let on = footprint("CTX_SIZE=32768\n", &m, 1).compute_bytes;
    // Without flash attention the 32 heads' scores are materialised: n_kv x ub x 32 x 4.
    let off = footprint("CTX_SIZE=32768\nEXTRA_ARGS=-fa off\n", &m, 1).compute_bytes;
    assert_eq!(
        off,
        on + 32_768 * 512 * 32 * 4 - 32_768 * 512 * 2,
        "scores in, the f16 mask out"
    );
    // A bigger ubatch, a bigger buffer.
    let big = footprint("CTX_SIZE=32768\nEXTRA_ARGS=-ub 2048\n", &m, 1).compute_bytes;
    assert!(big > 3 * on, "{on} {big}");
    // Each GPU has its own; two GPUs with the whole model pipeline four copies of the masks.
    let two = footprint("CTX_SIZE=32768\n", &m, 2);
    assert!(two.compute_bytes > 2 * on);
    assert_eq!(two.overhead_bytes, 2 * CUDA_OVERHEAD_PER_GPU);
    // Hand-placed experts switch pipelining off: two plain buffers.
    let placed = footprint("CTX_SIZE=32768\nEXTRA_ARGS=--cpu-moe\n", &m, 2).compute_bytes;
    assert!(placed < two.compute_bytes);
}

#[test]
fn estimate_adds_up_and_fits() {
    let m = qwen3_30b_a3b();
    let f = footprint(
        "CTX_SIZE=8192\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=f16\n",
        &m,
        1,
    );
    assert_eq!(
        f.total(),
        f.model_bytes + f.kv_bytes.unwrap() + f.compute_bytes + f.overhead_bytes,
        "no recurrent state, no quantized cache to convert"
    );
    assert_eq!(f.model_bytes, 10 * GIB - 200 * MIB);
    assert_eq!(fit(f.total(), Some(24 * GIB), 32 * GIB), Fit::Vram);
    assert_eq!(fit(f.total(), Some(4 * GIB), 32 * GIB), Fit::SpillsToRam);
    assert_eq!(fit(f.total(), Some(GIB), 2 * GIB), Fit::SwapRisk);
    assert_eq!(fit(f.total(), None, 32 * GIB), Fit::Cpu);
    assert_eq!(fit(f.total(), None, GIB), Fit::SwapRisk);
    // Without a header only the file and the fixed buffers count.
    let bare = estimate(&profile(""), 10 * GIB, None, 1);
    assert_eq!(bare.kv_bytes, None);
    assert_eq!(bare.compute_bytes, FALLBACK_COMPUTE_BYTES);
}
