//! Hard lessons from running these models (the replaced tool's author's), encoded as
//! warnings on a profile: each names the failure it heads off.
//!
//! Each check here needs only models.conf itself. Checks that need the model file (its
//! architecture from GGUF metadata) live in `model_lint`, and checks that need the GPUs (their
//! memory and display state from NVML) live in `hardware_lint`.

use std::path::Path;

use super::diag::Diagnostic;
use super::profile::Profile;

/// Claude Code sends a ~16K-token system prompt and Ollama recommends at least 64K context.
pub const CLAUDE_MIN_CTX: u64 = 65_536;

const SAMPLER_FLAGS: &[&str] = &[
    "--temp",
    "--top-p",
    "--top-k",
    "--min-p",
    "--repeat-penalty",
    "--presence-penalty",
    "--frequency-penalty",
];

const KV_CACHE_TYPES: &[&str] = &[
    "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1",
];

/// The value a flag was given in `words` (last one wins, as llama-server's parser does),
/// in either `--flag value` or `--flag=value` form.
pub fn flag_value<'a>(words: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut found = None;
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        if names.contains(&word) {
            found = words.get(i + 1).map(String::as_str);
            i += 2;
            continue;
        }
        if let Some((name, value)) = word.split_once('=')
            && names.contains(&name)
        {
            found = Some(value);
        }
        i += 1;
    }
    found
}

/// Whether any of the flags appears in `words`.
pub fn has_flag(words: &[String], names: &[&str]) -> bool {
    words.iter().any(|w| {
        let name = w.split_once('=').map_or(w.as_str(), |(n, _)| n);
        names.contains(&name)
    })
}

/// Every value given to a repeatable flag such as `-ot`.
pub fn flag_values<'a>(words: &'a [String], names: &[&str]) -> Vec<&'a str> {
    let mut values = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        if names.contains(&word) {
            if let Some(v) = words.get(i + 1) {
                values.push(v.as_str());
            }
            i += 2;
            continue;
        }
        if let Some((name, value)) = word.split_once('=')
            && names.contains(&name)
        {
            values.push(value);
        }
        i += 1;
    }
    values
}

/// The `-0000K-of-0000N` part of a split GGUF name, if it has one.
pub fn split_part(model: &str) -> Option<(u32, u32)> {
    let stem = model.strip_suffix(".gguf")?;
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (_, part) = rest.rsplit_once('-')?;
    if part.len() != 5 || total.len() != 5 {
        return None;
    }
    Some((part.parse().ok()?, total.parse().ok()?))
}

pub fn lint_profile(path: &Path, profile: &Profile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let id = &profile.id;
    let words = profile.extra_args_words().unwrap_or_default();
    let extra_line = profile.line_of("EXTRA_ARGS");
    let warn = |line: Option<usize>, message: String| Diagnostic::warning(path, line, message);

    // Lesson 7: a numeric layer count stops FIT from placing layers, and the load OOMs.
    let ngl = profile
        .get("N_GPU_LAYERS")
        .or_else(|| flag_value(&words, &["-ngl", "--n-gpu-layers", "--gpu-layers"]));
    if let Some(ngl) = ngl {
        let numeric = ngl.parse::<i64>().is_ok();
        if numeric && profile.fit_on() {
            out.push(
                warn(
                    profile.line_of("N_GPU_LAYERS").or(extra_line),
                    format!("[{id}] N_GPU_LAYERS={ngl} with FIT on: a fixed layer count stops FIT from offloading and tends to end in an out-of-memory load"),
                )
                .with_fix("remove N_GPU_LAYERS so the default `auto` applies, or set FIT=off if you place layers by hand"),
            );
        } else if !numeric && !matches!(ngl, "auto" | "all") {
            out.push(
                warn(
                    profile.line_of("N_GPU_LAYERS"),
                    format!("[{id}] N_GPU_LAYERS `{ngl}` is neither a number nor auto/all"),
                )
                .with_fix("remove it (default `auto`)"),
            );
        }
    }

    if let Some(fit) = profile.get("FIT")
        && !matches!(fit.to_ascii_lowercase().as_str(), "on" | "off")
    {
        out.push(
            warn(
                profile.line_of("FIT"),
                format!("[{id}] FIT `{fit}` should be `on` or `off`"),
            )
            .with_fix("write FIT=on (the default) or FIT=off"),
        );
    }

    if let Some(fa) = profile.get("FLASH_ATTN")
        && fa != "1"
        && fa != "0"
    {
        out.push(
            warn(
                profile.line_of("FLASH_ATTN"),
                format!("[{id}] FLASH_ATTN `{fa}`: only `1` turns flash attention on; anything else leaves llama-server's default"),
            )
            .with_fix("write FLASH_ATTN=1 or FLASH_ATTN=0"),
        );
    }

    for key in ["KV_CACHE_TYPE_K", "KV_CACHE_TYPE_V"] {
        if let Some(kind) = profile.get(key)
            && !KV_CACHE_TYPES.contains(&kind)
        {
            out.push(
                warn(
                    profile.line_of(key),
                    format!("[{id}] {key} `{kind}` is not a cache type llama-server knows"),
                )
                .with_fix(format!("use one of {}", KV_CACHE_TYPES.join(", "))),
            );
        }
    }

    // Lesson 2: `-ot ...=CUDAn` needs FIT off and NGL 99 and hit the multi-GPU crash.
    for value in flag_values(&words, &["-ot", "--override-tensor"]) {
        if value.split(',').any(|rule| {
            rule.rsplit_once('=')
                .is_some_and(|(_, dev)| dev.starts_with("CUDA"))
        }) {
            out.push(
                warn(
                    extra_line,
                    format!("[{id}] `-ot {value}` pins tensors to a CUDA device: it needs FIT=off and NGL=99, and device overrides hit the multi-GPU ggml_set_inplace crash (llama.cpp #19816)"),
                )
                .with_fix("drop the -ot device override and let FIT place the layers (tune FIT_TARGET per GPU instead)"),
            );
        }
    }

    // Lesson 4: equal -b/-ub, or -ub above 512, grows the compute buffer for nothing.
    let batch = flag_value(&words, &["-b", "--batch-size"]);
    let ubatch = flag_value(&words, &["-ub", "--ubatch-size"]);
    if let (Some(b), Some(ub)) = (batch, ubatch)
        && b == ub
    {
        out.push(
            warn(
                extra_line,
                format!("[{id}] `-b {b} -ub {ub}`: equal batch sizes multiply the compute buffer (448 MiB → 1.5–2.4 GiB) for little gain"),
            )
            .with_fix("use `-b 2048 -ub 512`"),
        );
    } else if let Some(ub) = ubatch.and_then(|u| u.parse::<u64>().ok())
        && ub > 512
    {
        out.push(
            warn(
                extra_line,
                format!("[{id}] `-ub {ub}` above 512 costs compute-buffer VRAM"),
            )
            .with_fix("use `-ub 512` (with `-b 2048`)"),
        );
    }

    // Claude Code needs room: its system prompt alone is ~16K tokens.
    // CTX_SIZE=0 is the model's training context (FIT may shrink it): not "below 64K".
    if !profile.is_bench() && profile.ctx_size() != 0 && profile.ctx_size() < CLAUDE_MIN_CTX {
        out.push(
            warn(
                profile.line_of("CTX_SIZE"),
                format!("[{id}] context {} is below 64K: Claude Code's system prompt alone is ~16K tokens and a session grows past 50K", profile.ctx_size()),
            )
            .with_fix("set CTX_SIZE=65536 or more for a profile you use with Claude Code (or ignore this for a small demo model)"),
        );
    }

    // Lesson 5: bench profiles measure the model, not a sampler configuration.
    if profile.is_bench() {
        let samplers: Vec<&str> = SAMPLER_FLAGS
            .iter()
            .copied()
            .filter(|f| has_flag(&words, &[f]))
            .collect();
        if !samplers.is_empty() {
            out.push(
                warn(
                    extra_line,
                    format!("[{id}] bench profile sets sampler flags ({}): the benchmark client sets its own", samplers.join(", ")),
                )
                .with_fix("remove the sampler flags from bench-* profiles"),
            );
        }
    }

    // llws polls /health on the configured host and port; an override here hides the server.
    for (flag, names) in [("--port", &["--port"][..]), ("--host", &["--host"][..])] {
        if has_flag(&words, names) {
            out.push(
                warn(
                    extra_line,
                    format!("[{id}] EXTRA_ARGS sets {flag}: llws would look for the server on the port and host from llws.toml and never find it"),
                )
                .with_fix(format!("remove {flag} and set [server] host/port in llws.toml")),
            );
        }
    }
    if has_flag(&words, &["-m", "--model"]) {
        out.push(
            warn(
                extra_line,
                format!("[{id}] EXTRA_ARGS sets --model, which overrides MODEL and skips llws's file checks"),
            )
            .with_fix("set MODEL instead"),
        );
    }

    if let Some((part, total)) = split_part(profile.model())
        && part != 1
    {
        out.push(
            warn(
                profile.line_of("MODEL"),
                format!("[{id}] MODEL names part {part} of {total}; llama-server loads a split model from part 1"),
            )
            .with_fix("name the `-00001-of-…` file"),
        );
    }

    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;

    fn warnings(text: &str) -> Vec<String> {
        parse(text, Path::new("m.conf"))
            .unwrap()
            .warnings
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    const BIG: &str = "CTX_SIZE=131072\n";

    #[test]
    fn clean_profile_has_no_warnings() {
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}EXTRA_ARGS=--jinja -np 1 -b 2048 -ub 512\n"
        ));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn numeric_ngl_with_fit_on_warns() {
        let w = warnings(&format!("[a]\nMODEL=a.gguf\n{BIG}N_GPU_LAYERS=99\n"));
        assert!(
            w.iter()
                .any(|w| w.starts_with("m.conf:4: warning: [a] N_GPU_LAYERS=99 with FIT on")),
            "{w:?}"
        );
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}N_GPU_LAYERS=99\nFIT=off\n"
        ));
        assert!(w.is_empty(), "{w:?}");
        let w = warnings(&format!("[a]\nMODEL=a.gguf\n{BIG}EXTRA_ARGS=-ngl 99\n"));
        assert!(w.iter().any(|w| w.contains("with FIT on")), "{w:?}");
    }

    #[test]
    fn cuda_device_overrides_warn() {
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}EXTRA_ARGS=-ot blk\\.(1[0-9])\\.ffn=CUDA1\n"
        ));
        assert!(
            w.iter()
                .any(|w| w.contains("pins tensors to a CUDA device")),
            "{w:?}"
        );
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}EXTRA_ARGS=--override-tensor=exps=CPU\n"
        ));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn equal_batch_sizes_warn() {
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}EXTRA_ARGS=-b 1024 -ub 1024\n"
        ));
        assert!(w.iter().any(|w| w.contains("equal batch sizes")), "{w:?}");
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}EXTRA_ARGS=--ubatch-size=1024\n"
        ));
        assert!(w.iter().any(|w| w.contains("above 512")), "{w:?}");
    }

    #[test]
    fn small_context_warns_only_for_claude_profiles() {
        let w = warnings("[a]\nMODEL=a.gguf\nCTX_SIZE=32768\n");
        assert!(
            w.iter()
                .any(|w| w.starts_with("m.conf:3: warning: [a] context 32768 is below 64K")),
            "{w:?}"
        );
        let w = warnings("[bench-a]\nMODEL=a.gguf\nCTX_SIZE=10240\n");
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn bench_sampler_flags_warn() {
        let w =
            warnings("[bench-a]\nMODEL=a.gguf\nCTX_SIZE=10240\nEXTRA_ARGS=--jinja --temp 0.6\n");
        assert!(
            w.iter().any(|w| w.contains("sampler flags (--temp)")),
            "{w:?}"
        );
    }

    #[test]
    fn host_port_and_model_overrides_warn() {
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}EXTRA_ARGS=--port 9000 --host=0.0.0.0 -m x.gguf\n"
        ));
        assert_eq!(w.len(), 3, "{w:?}");
    }

    #[test]
    fn odd_values_warn() {
        let w = warnings(&format!(
            "[a]\nMODEL=a.gguf\n{BIG}FLASH_ATTN=on\nFIT=yes\nKV_CACHE_TYPE_K=q9\nN_GPU_LAYERS=most\n"
        ));
        assert_eq!(w.len(), 4, "{w:?}");
    }

    #[test]
    fn later_split_part_warns() {
        assert_eq!(split_part("x/m-00002-of-00003.gguf"), Some((2, 3)));
        assert_eq!(split_part("m.gguf"), None);
        let w = warnings(&format!("[a]\nMODEL=m-00002-of-00003.gguf\n{BIG}"));
        assert!(w.iter().any(|w| w.contains("part 2 of 3")), "{w:?}");
    }

    #[test]
    fn flag_value_takes_the_last_and_both_forms() {
        let words: Vec<String> = ["-b", "512", "--batch-size=1024"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(flag_value(&words, &["-b", "--batch-size"]), Some("1024"));
    }
}
