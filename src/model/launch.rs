//! The settings llama-server will actually run with, read from the exact argv llws passes
//! (`crate::config::args::server_args`): the profile's keys first, EXTRA_ARGS last, and
//! llama-server keeps the last value of a flag, so reading the words in order is reading
//! what the server reads (`common/arg.cpp`).
//!
//! The estimate takes its context, cache types, flash attention, ubatch and slot count from
//! here, and the FIT_CTX check asks it whether `--fit-ctx` can have any effect.

use std::path::PathBuf;

use crate::config::args::{LaunchContext, server_args};
use crate::config::profile::Profile;

/// llama.cpp's defaults for what the estimate needs (`common/common.h`).
const DEFAULT_UBATCH: u64 = 512;
const DEFAULT_BATCH: u64 = 2048;
/// `--fit-ctx`'s default (`fit_params_min_ctx`).
const DEFAULT_FIT_MIN_CTX: u64 = 4096;
/// llama-server's `-np -1` ("auto"): 4 slots sharing one unified cache
/// (`tools/server/server.cpp`).
const AUTO_SLOTS: u64 = 4;

/// Flash attention as asked for. `Auto` resolves to on wherever the backend has the
/// kernels (CUDA and CPU do for every head size llws's users run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashAttn {
    On,
    Off,
    Auto,
}

impl FlashAttn {
    pub fn enabled(self) -> bool {
        self != FlashAttn::Off
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// `--ctx-size`; 0 means the model's training context.
    pub ctx: u64,
    pub type_k: String,
    pub type_v: String,
    pub flash_attn: FlashAttn,
    pub ubatch: u64,
    pub batch: u64,
    /// `-np`; `None` is "auto" (4 slots, unified cache).
    pub parallel: Option<u64>,
    /// `--kv-unified` / `--no-kv-unified` as written.
    pub kv_unified: Option<bool>,
    pub swa_full: bool,
    pub fit: bool,
    /// What `--fit` may shrink the context to. `--ctx-size 0` sets it to "never" (u64::MAX),
    /// and a later `--fit-ctx` sets it again, as in llama.cpp's parser.
    pub fit_min_ctx: u64,
    /// Whether any `--fit-ctx` was given (FIT_CTX or EXTRA_ARGS).
    pub fit_ctx_given: bool,
    /// `-ngl` as written: `None` for auto/all.
    pub gpu_layers: Option<u64>,
    /// `--split-mode` (layer unless told otherwise).
    pub split_mode: String,
    /// `--main-gpu`: with `--split-mode none`, the one GPU (CUDA number) that holds the
    /// whole model.
    pub main_gpu: u64,
    /// `-ot`, `--cpu-moe` or `--n-cpu-moe N`: weights placed by hand, which turns llama.cpp's
    /// pipeline parallelism off.
    pub tensor_overrides: bool,
    /// `--no-kv-offload`: the KV cache stays in RAM.
    pub kv_in_ram: bool,
}

impl Default for Launch {
    fn default() -> Self {
        Self {
            ctx: 0,
            type_k: "f16".into(),
            type_v: "f16".into(),
            flash_attn: FlashAttn::Auto,
            ubatch: DEFAULT_UBATCH,
            batch: DEFAULT_BATCH,
            parallel: None,
            kv_unified: None,
            swa_full: false,
            fit: true,
            fit_min_ctx: DEFAULT_FIT_MIN_CTX,
            fit_ctx_given: false,
            gpu_layers: None,
            split_mode: "layer".into(),
            main_gpu: 0,
            tensor_overrides: false,
            kv_in_ram: false,
        }
    }
}

fn truthy(v: &str) -> Option<bool> {
    match v {
        "on" | "enabled" | "true" | "1" => Some(true),
        "off" | "disabled" | "false" | "0" => Some(false),
        _ => None,
    }
}

impl Launch {
    /// The launch `profile` gets (its argv as llws builds it; where the model lives does not
    /// matter here).
    pub fn of(profile: &Profile) -> Self {
        let ctx = LaunchContext {
            models_root: PathBuf::from("/models"),
            host: "127.0.0.1".into(),
            port: 8080,
        };
        Self::from_args(&server_args(profile, &ctx))
    }

    /// Reads llama-server's argv in order: the last value of a flag wins.
    pub fn from_args(args: &[String]) -> Self {
        let mut out = Self::default();
        let mut i = 0;
        while i < args.len() {
            let word = args[i].as_str();
            let (flag, inline) = match word.split_once('=') {
                Some((f, v)) if f.starts_with('-') => (f, Some(v)),
                _ => (word, None),
            };
            // The flag's value: after `=`, else the next word.
            let mut took_next = false;
            let mut value = || -> Option<&str> {
                if let Some(v) = inline {
                    return Some(v);
                }
                took_next = true;
                args.get(i + 1).map(String::as_str)
            };
            let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u64>().ok());
            match flag {
                "-c" | "--ctx-size" => {
                    if let Some(n) = num(value()) {
                        out.ctx = n;
                        // llama.cpp: an explicit full context is never shrunk by --fit.
                        if n == 0 {
                            out.fit_min_ctx = u64::MAX;
                        }
                    }
                }
                "-ctk" | "--cache-type-k" => {
                    if let Some(v) = value() {
                        out.type_k = v.to_ascii_lowercase();
                    }
                }
                "-ctv" | "--cache-type-v" => {
                    if let Some(v) = value() {
                        out.type_v = v.to_ascii_lowercase();
                    }
                }
                "-fa" | "--flash-attn" => {
                    // Older builds took a bare `-fa`; current ones want on|off|auto.
                    let next = inline.or_else(|| args.get(i + 1).map(String::as_str));
                    match next {
                        Some("auto" | "-1") => {
                            out.flash_attn = FlashAttn::Auto;
                            took_next = inline.is_none();
                        }
                        Some(v) if truthy(v).is_some() => {
                            out.flash_attn = if truthy(v) == Some(true) {
                                FlashAttn::On
                            } else {
                                FlashAttn::Off
                            };
                            took_next = inline.is_none();
                        }
                        _ => out.flash_attn = FlashAttn::On,
                    }
                }
                "-ub" | "--ubatch-size" => {
                    if let Some(n) = num(value()).filter(|n| *n > 0) {
                        out.ubatch = n;
                    }
                }
                "-b" | "--batch-size" => {
                    if let Some(n) = num(value()).filter(|n| *n > 0) {
                        out.batch = n;
                    }
                }
                "-np" | "--parallel" => {
                    let v = value();
                    out.parallel = match v.map(str::trim) {
                        Some("-1") => None,
                        other => num(other).or(out.parallel),
                    };
                }
                "-kvu" | "--kv-unified" => out.kv_unified = Some(true),
                "-no-kvu" | "--no-kv-unified" => out.kv_unified = Some(false),
                "--swa-full" => out.swa_full = true,
                "-fit" | "--fit" => {
                    if let Some(on) = value().and_then(truthy) {
                        out.fit = on;
                    }
                }
                "-fitc" | "--fit-ctx" => {
                    if let Some(n) = num(value()) {
                        out.fit_min_ctx = n;
                        out.fit_ctx_given = true;
                    }
                }
                "-ngl" | "--gpu-layers" | "--n-gpu-layers" => {
                    let v = value();
                    out.gpu_layers = match v {
                        Some("auto" | "all" | "-1" | "-2") | None => None,
                        other => num(other),
                    };
                }
                "-sm" | "--split-mode" => {
                    if let Some(v) = value() {
                        out.split_mode = v.to_string();
                    }
                }
                "-mg" | "--main-gpu" => {
                    if let Some(n) = num(value()) {
                        out.main_gpu = n;
                    }
                }
                "-ot" | "--override-tensor" | "-cmoe" | "--cpu-moe" => {
                    if matches!(flag, "-ot" | "--override-tensor") {
                        let _ = value();
                    }
                    out.tensor_overrides = true;
                }
                "-ncmoe" | "--n-cpu-moe" if num(value()).is_some_and(|n| n > 0) => {
                    out.tensor_overrides = true;
                }
                "-nkvo" | "--no-kv-offload" => out.kv_in_ram = true,
                "-kvo" | "--kv-offload" => out.kv_in_ram = false,
                _ => {}
            }
            i += if took_next && inline.is_none() { 2 } else { 1 };
        }
        out
    }

    /// The whole model on one GPU (`--split-mode none`, the original's "Strategy A"): the
    /// CUDA number of that GPU.
    pub fn pinned_gpu(&self) -> Option<u64> {
        (self.split_mode == "none").then_some(self.main_gpu)
    }

    /// Slots (sequences) the server runs: `-np`, or 4 for "auto".
    pub fn slots(&self) -> u64 {
        self.parallel.unwrap_or(AUTO_SLOTS).max(1)
    }

    /// One cache shared by all slots: the default with auto slots, else only when asked.
    pub fn unified(&self) -> bool {
        self.kv_unified.unwrap_or(self.parallel.is_none())
    }

    /// The context llama.cpp allocates (`llama-context.cpp`): 0 means the training context,
    /// and the result is padded to 256 (and, without a unified cache, split evenly over the
    /// slots, each share padded to 256 again).
    pub fn n_ctx(&self, ctx_train: Option<u64>) -> u64 {
        let ctx = if self.ctx == 0 {
            ctx_train.unwrap_or(0)
        } else {
            self.ctx
        };
        let ctx = pad256(ctx);
        if self.unified() {
            ctx
        } else {
            pad256(ctx / self.slots()) * self.slots()
        }
    }

    /// Tokens per micro-batch: `-ub`, capped by `-b` and by the context.
    pub fn n_ubatch(&self, n_ctx: u64) -> u64 {
        self.ubatch.min(self.batch).min(n_ctx.max(1))
    }

    /// Whether `--fit` may shrink the context: only a context the user did not set (0 means
    /// "the model's own", which llama.cpp treats as set unless a later `--fit-ctx` says
    /// otherwise). `common/fit.cpp`: "context size set by user -> no change".
    pub fn fit_can_shrink_ctx(&self) -> bool {
        self.fit && self.ctx == 0 && self.fit_min_ctx != u64::MAX
    }
}

pub fn pad256(n: u64) -> u64 {
    n.div_ceil(256) * 256
}

/// Warnings about settings llama-server will ignore or refuse, read from the effective argv:
/// a FIT_CTX that cannot act, and a quantized V cache without flash attention.
pub fn lint(conf: &std::path::Path, profile: &Profile) -> Vec<crate::config::diag::Diagnostic> {
    use crate::config::diag::Diagnostic;
    let launch = Launch::of(profile);
    let id = &profile.id;
    let mut out = Vec::new();
    let fit_ctx_line = profile
        .line_of("FIT_CTX")
        .filter(|_| profile.get("FIT_CTX").is_some())
        .or(profile.line_of("EXTRA_ARGS"))
        .or(Some(profile.line));
    if launch.fit_ctx_given && !launch.fit_can_shrink_ctx() {
        // common/fit.cpp shrinks the context only when the user set none (n_ctx == 0), and
        // `--ctx-size 0` turns shrinking off unless a `--fit-ctx` follows it.
        let (why, fix) = if !launch.fit {
            (
                "FIT is off".to_string(),
                "remove FIT_CTX, or turn FIT on".to_string(),
            )
        } else if launch.ctx != 0 {
            let in_extra_args = crate::config::lint::flag_value(
                &profile.extra_args_words().unwrap_or_default(),
                &["-c", "--ctx-size"],
            )
            .is_some();
            let source = if in_extra_args {
                format!("the context {} in EXTRA_ARGS", launch.ctx)
            } else if profile.get("CTX_SIZE").is_some() {
                format!("CTX_SIZE={}", launch.ctx)
            } else {
                format!("the default context {}", launch.ctx)
            };
            (
                format!("{source} fixes the context, and llama.cpp's --fit only shrinks a context the user did not set"),
                "set CTX_SIZE=0 to let FIT choose a context between FIT_CTX and the model's training context, or remove FIT_CTX".to_string(),
            )
        } else {
            (
                "a `--ctx-size 0` in EXTRA_ARGS comes after it and asks for the full context"
                    .to_string(),
                "move `--fit-ctx` after it in EXTRA_ARGS, or drop the `--ctx-size 0`".to_string(),
            )
        };
        out.push(
            Diagnostic::warning(
                conf,
                fit_ctx_line,
                format!("[{id}] FIT_CTX has no effect: {why}"),
            )
            .with_fix(fix),
        );
    }
    // llama_init_from_model: "quantized V cache requires flash_attn to be enabled".
    if launch.flash_attn == FlashAttn::Off
        && !matches!(launch.type_v.as_str(), "f16" | "bf16" | "f32")
    {
        out.push(
            Diagnostic::warning(
                conf,
                profile.line_of("EXTRA_ARGS").or(Some(profile.line)),
                format!(
                    "[{id}] flash attention is off but the V cache is {}: llama-server refuses to start (\"quantized V cache requires flash_attn\")",
                    launch.type_v
                ),
            )
            .with_fix("drop `-fa off`, or set KV_CACHE_TYPE_V=f16"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;
    use std::path::Path;

    fn profile(body: &str) -> Profile {
        parse(&format!("[p]\nMODEL=m.gguf\n{body}"), Path::new("m.conf"))
            .unwrap()
            .profiles
            .remove(0)
    }

    fn args(body: &str) -> Vec<String> {
        server_args(
            &profile(body),
            &LaunchContext {
                models_root: "/models".into(),
                host: "0.0.0.0".into(),
                port: 8080,
            },
        )
    }

    fn warnings(body: &str) -> Vec<String> {
        lint(Path::new("m.conf"), &profile(body))
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn fit_ctx_acts_only_after_ctx_size_zero() {
        // The argv llws passes: `--ctx-size 0` first, `--fit-ctx` after it, so llama.cpp's
        // parser sets the minimum again after `-c 0` turned shrinking off.
        let argv = args("CTX_SIZE=0\nFIT_CTX=65536\n");
        let c = argv.iter().position(|a| a == "--ctx-size").unwrap();
        let f = argv.iter().position(|a| a == "--fit-ctx").unwrap();
        assert_eq!(argv[c + 1], "0");
        assert_eq!(argv[f + 1], "65536");
        assert!(c < f);
        let launch = Launch::from_args(&argv);
        assert!(launch.fit_can_shrink_ctx());
        assert_eq!(launch.fit_min_ctx, 65_536);
        assert!(warnings("CTX_SIZE=0\nFIT_CTX=65536\n").is_empty());
    }

    #[test]
    fn fit_ctx_with_a_fixed_context_is_flagged() {
        let w = warnings("CTX_SIZE=131072\nFIT_CTX=65536\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "m.conf:4: warning: [p] FIT_CTX has no effect: CTX_SIZE=131072 fixes the context"
            ),
            "{w:?}"
        );
        assert!(w[0].contains("set CTX_SIZE=0"), "{w:?}");
        // No CTX_SIZE: llws passes the original's default, which fixes it just the same.
        let w = warnings("FIT_CTX=65536\n");
        assert!(w[0].contains("the default context 131072"), "{w:?}");
        // FIT off.
        let w = warnings("CTX_SIZE=0\nFIT=off\nFIT_CTX=65536\n");
        assert!(w[0].contains("FIT is off"), "{w:?}");
        // EXTRA_ARGS fixes the context after all.
        let w = warnings("CTX_SIZE=0\nFIT_CTX=65536\nEXTRA_ARGS=-c 32768\n");
        assert!(w[0].contains("the context 32768 in EXTRA_ARGS"), "{w:?}");
        // A later `-c 0` asks for the full context again: shrinking is off.
        let w = warnings("CTX_SIZE=0\nFIT_CTX=65536\nEXTRA_ARGS=-c 0\n");
        assert!(w[0].contains("comes after it"), "{w:?}");
        // ... unless a --fit-ctx follows it.
        assert!(warnings("CTX_SIZE=0\nEXTRA_ARGS=-c 0 --fit-ctx 8192\n").is_empty());
        // Without FIT_CTX there is nothing to say.
        assert!(warnings("CTX_SIZE=131072\n").is_empty());
    }

    #[test]
    fn quantized_v_without_flash_attention_is_refused() {
        let w = warnings("EXTRA_ARGS=-fa off\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("V cache is q8_0"), "{w:?}");
        assert!(warnings("KV_CACHE_TYPE_V=f16\nEXTRA_ARGS=-fa off\n").is_empty());
        // FLASH_ATTN=0 leaves llama.cpp's auto, which turns it on where it can.
        assert!(warnings("FLASH_ATTN=0\n").is_empty());
    }

    #[test]
    fn the_last_value_of_a_flag_wins() {
        let l = Launch::from_args(&args(
            "CTX_SIZE=8192\nEXTRA_ARGS=--ctx-size=16384 -ub 1024 -np 2 --flash-attn=off -ctk f16 --swa-full -sm none -ot exps=CPU\n",
        ));
        assert_eq!(l.ctx, 16_384);
        assert_eq!(l.ubatch, 1024);
        assert_eq!(l.slots(), 2);
        assert!(!l.unified(), "an explicit -np does not unify the cache");
        assert_eq!(l.flash_attn, FlashAttn::Off);
        assert_eq!((l.type_k.as_str(), l.type_v.as_str()), ("f16", "q8_0"));
        assert!(l.swa_full && l.tensor_overrides);
        assert_eq!(l.split_mode, "none");
        // Auto slots: four sharing one cache; a bare `-fa` (older builds) means on.
        let l = Launch::from_args(&args("EXTRA_ARGS=-fa --jinja\n"));
        assert_eq!((l.slots(), l.unified()), (4, true));
        assert_eq!(l.flash_attn, FlashAttn::On);
        // Context padding and the split over slots without a unified cache.
        assert_eq!(
            Launch::from_args(&args("CTX_SIZE=1000\n")).n_ctx(None),
            1024
        );
        let l = Launch::from_args(&args("CTX_SIZE=10000\nEXTRA_ARGS=-np 3\n"));
        assert_eq!(l.n_ctx(None), 3 * 3584);
        assert_eq!(
            Launch::from_args(&args("CTX_SIZE=0\n")).n_ctx(Some(40_960)),
            40_960
        );
    }
}
