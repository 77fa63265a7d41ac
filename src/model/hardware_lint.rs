//! Lessons that need the GPUs: warnings on a profile given the footprint estimate and what
//! NVML says about the GPUs the server will get (their memory, and which drives a display).
//!
//! The checks are a pure function of plain facts, so they are tested without a GPU; the
//! commands (`llws check`, `llws doctor`) build the facts from an NVML snapshot
//! (`crate::monitor::gpu_facts`).

use std::path::Path;

use super::estimate::{self, Footprint};
use super::files::ModelFiles;
use super::gguf;
use super::launch::Launch;
use crate::config::args::defaults;
use crate::config::diag::Diagnostic;
use crate::config::lint::{flag_value, flag_values, has_flag};
use crate::config::profiles::Profile;
use crate::config::settings::{BackendKind, GpuSelection, Settings};
use crate::util::bytes;

const MIB: u64 = 1 << 20;
/// The headroom a GPU that drives a display needs: the desktop allocates while the model
/// loads, and FIT sizes the load to the memory free before it.
pub const DISPLAY_HEADROOM_MIB: u64 = 1024;
/// The headroom a dedicated GPU needs (the original's measured setting).
pub const DEDICATED_HEADROOM_MIB: u64 = 128;
/// llama.cpp's own headroom for a device that `--fit-target` gives no value.
const LLAMA_DEFAULT_HEADROOM_MIB: u64 = 1024;

/// One GPU the server will get, in CUDA order (CUDA0 first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuFacts {
    /// NVML's index (nvidia-smi's), which is what users see; CUDAn is the position.
    pub index: u32,
    pub name: String,
    /// `None` when NVML could not read it; then nothing is said about fitting.
    pub total_bytes: Option<u64>,
    /// Free memory plus what the running llama-server holds (a switch stops it first):
    /// what the next load can have. `None` when unknown.
    pub available_bytes: Option<u64>,
    /// An unknown display state counts as no display: no warning rests on a guess.
    pub display_active: bool,
    /// Why NVML could not read this GPU, if it could not.
    pub error: Option<String>,
}

impl GpuFacts {
    fn label(&self) -> String {
        format!("GPU {} ({})", self.index, self.name)
    }
}

/// The GPUs the server gets, in the order CUDA numbers them. Both backends apply
/// `[server] gpus` and set `CUDA_DEVICE_ORDER=PCI_BUS_ID`, so CUDA counts as NVML does. A
/// native server's CUDA_VISIBLE_DEVICES keeps the listed order; the NVIDIA container
/// runtime exposes the listed devices in PCI order, so for Docker the list is sorted. With
/// `gpus = "all"` a native server inherits llws's own CUDA_VISIBLE_DEVICES.
pub fn server_gpu_selection(settings: &Settings) -> GpuSelection {
    server_gpu_selection_with(
        settings,
        std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref(),
    )
}

/// [`server_gpu_selection`] with the environment's CUDA_VISIBLE_DEVICES given.
pub fn server_gpu_selection_with(settings: &Settings, visible: Option<&str>) -> GpuSelection {
    match (settings.backend, settings.server.gpu_selection()) {
        (BackendKind::Docker, GpuSelection::Devices(mut ids)) => {
            ids.sort_unstable();
            GpuSelection::Devices(ids)
        }
        // Indices as CUDA reads them: up to the first entry that is not one (CUDA stops
        // there too). UUIDs and MIG ids are not mapped: all GPUs are assumed then.
        (BackendKind::Process, GpuSelection::All) => match visible.map(str::trim) {
            Some("") => GpuSelection::None,
            Some(list) => {
                let ids: Vec<u32> = list
                    .split(',')
                    .map_while(|id| id.trim().parse().ok())
                    .collect();
                if ids.is_empty() {
                    GpuSelection::All
                } else {
                    GpuSelection::Devices(ids)
                }
            }
            None => GpuSelection::All,
        },
        (_, selection) => selection,
    }
}

/// The headroom llama.cpp's fit keeps on each of `gpus` (CUDA order) for `profile`, in
/// bytes: its `--fit-target` (EXTRA_ARGS, else FIT_TARGET, else the default).
pub fn fit_headroom(profile: &Profile, gpus: usize) -> Vec<u64> {
    let words = profile.extra_args_words().unwrap_or_default();
    let target = FitTarget::of(profile, &words);
    (0..gpus).map(|i| target.headroom_mib(i) * MIB).collect()
}

/// The hardware warnings for `profile` on `gpus`, with the footprint estimated from its model
/// `files` (sizes and GGUF metadata) when they are present; for `llws check` and `llws doctor`.
pub fn lint_on_gpus(
    conf: &Path,
    profile: &Profile,
    files: Option<&ModelFiles>,
    gpus: &[GpuFacts],
) -> Vec<Diagnostic> {
    if gpus.is_empty() {
        return Vec::new();
    }
    let meta = files.and_then(|files| gguf::read_file_metadata(&files.parts[0]).ok());
    let footprint = files
        .map(|files| estimate::estimate(profile, files.total_bytes, meta.as_ref(), gpus.len()));
    let mut out = lint_hardware(conf, profile, footprint.as_ref(), gpus);
    // Strategy A puts everything on one GPU: estimate it for one.
    let launch = Launch::of(profile);
    if launch.pinned_gpu().is_some() {
        let on_one = files
            .map(|files| estimate::estimate_launch(&launch, files.total_bytes, meta.as_ref(), 1));
        out.extend(pinned_gpu_warning(
            conf,
            profile,
            &launch,
            on_one.as_ref(),
            gpus,
        ));
    }
    out
}

/// Lesson 6 (the original's "Strategy A", `--split-mode none --main-gpu N`): the whole
/// model on one GPU works only when the whole footprint fits in that GPU less its FIT
/// headroom (the original's rule: under ~23 GB on a 24 GB card). `footprint` is the
/// estimate for one GPU; `gpus` the server's GPUs in CUDA order.
pub fn pinned_gpu_warning(
    conf: &Path,
    profile: &Profile,
    launch: &Launch,
    footprint: Option<&Footprint>,
    gpus: &[GpuFacts],
) -> Option<Diagnostic> {
    let cuda = launch.pinned_gpu()?;
    let words = profile.extra_args_words().unwrap_or_default();
    let line = if has_flag(&words, &["-sm", "--split-mode", "-mg", "--main-gpu"]) {
        profile.line_of("EXTRA_ARGS")
    } else {
        profile
            .line_of("SPLIT_MODE")
            .or(profile.line_of("MAIN_GPU"))
    }
    .or(Some(profile.line));
    let Some(gpu) = gpus.get(cuda as usize) else {
        return Some(
            Diagnostic::warning(
                conf,
                line,
                format!(
                    "[{}] `--split-mode none --main-gpu {cuda}` puts the model on CUDA{cuda}, but the server gets {} GPU(s) (CUDA0..CUDA{})",
                    profile.id,
                    gpus.len(),
                    gpus.len().saturating_sub(1)
                ),
            )
            .with_fix("set MAIN_GPU to one of the server's GPUs, or check `[server] gpus`"),
        );
    };
    let footprint = footprint?;
    let total = gpu.total_bytes?;
    let headroom = FitTarget::of(profile, &words).headroom_mib(cuda as usize) * MIB;
    let room = total.saturating_sub(headroom);
    if footprint.total() <= room {
        return None;
    }
    let others = if gpus.len() > 1 {
        " or split it over the GPUs (SPLIT_MODE=layer, the default, with FIT on)"
    } else {
        ""
    };
    Some(
        Diagnostic::warning(
            conf,
            line,
            format!(
                "[{}] `--split-mode none` puts the whole model on CUDA{cuda} = {} ({}), but the estimate is ≈ {} ({} after its {} MiB FIT headroom): the load will run out of memory",
                profile.id,
                gpu.label(),
                bytes(total),
                bytes(footprint.total()),
                bytes(room),
                headroom / MIB
            ),
        )
        .with_fix(format!(
            "lower CTX_SIZE or the KV cache type, use a smaller quantization{others}"
        )),
    )
}

/// Warnings for `profile` on `gpus` (in CUDA order). `footprint` is the pre-load estimate,
/// `None` when the model files are missing. `conf` names models.conf.
pub fn lint_hardware(
    conf: &Path,
    profile: &Profile,
    footprint: Option<&Footprint>,
    gpus: &[GpuFacts],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if gpus.is_empty() {
        return out;
    }
    let words = profile.extra_args_words().unwrap_or_default();
    let target = FitTarget::of(profile, &words);
    let headroom: Vec<u64> = (0..gpus.len()).map(|i| target.headroom_mib(i)).collect();

    if let Some(footprint) = footprint
        && let Some(rule) = experts_on_cpu(&words)
        && let Some(room) = usable_vram(gpus, &headroom)
        && footprint.total() <= room
    {
        out.push(
            Diagnostic::warning(
                conf,
                profile.line_of("EXTRA_ARGS").or(Some(profile.line)),
                format!(
                    "[{}] `{rule}` keeps the MoE experts in RAM, but the whole model (≈ {}) fits in the GPUs' {} free (after FIT headroom): generation is slower for nothing",
                    profile.id,
                    bytes(footprint.total()),
                    bytes(room)
                ),
            )
            .with_fix("drop the rule and let FIT place the model (FIT=on, the default)"),
        );
    }

    if target.fit_on
        && target.parsed.is_some()
        && let Some((message, fix)) = display_headroom_warning(profile, gpus, &headroom, &target)
    {
        out.push(Diagnostic::warning(conf, target.line, message).with_fix(fix));
    }
    out
}

/// The first rule or flag that keeps MoE expert tensors on the CPU, as written.
fn experts_on_cpu(words: &[String]) -> Option<String> {
    for value in flag_values(words, &["-ot", "--override-tensor"]) {
        let pins_experts = value.split(',').any(|rule| {
            rule.rsplit_once('=')
                .is_some_and(|(pattern, device)| pattern.contains("exps") && device == "CPU")
        });
        if pins_experts {
            return Some(format!("-ot {value}"));
        }
    }
    if has_flag(words, &["-cmoe", "--cpu-moe"]) {
        return Some("--cpu-moe".to_string());
    }
    // `--n-cpu-moe 0` keeps no layer's experts on the CPU.
    match flag_value(words, &["-ncmoe", "--n-cpu-moe"]) {
        Some(n) if n.parse::<u64>().is_ok_and(|n| n > 0) => Some(format!("--n-cpu-moe {n}")),
        _ => None,
    }
}

/// What FIT may fill: each GPU's available memory (free, plus what the running server
/// gives back) less its headroom. `None` when a GPU's is unknown.
fn usable_vram(gpus: &[GpuFacts], headroom_mib: &[u64]) -> Option<u64> {
    gpus.iter()
        .zip(headroom_mib)
        .try_fold(0u64, |sum, (gpu, h)| {
            Some(sum + gpu.available_bytes?.saturating_sub(h * MIB))
        })
}

/// The FIT settings the server will run with: EXTRA_ARGS comes last on the command line,
/// so its `--fit`/`--fit-target` win over the FIT and FIT_TARGET keys.
struct FitTarget {
    fit_on: bool,
    /// MiB per device; `None` when the value is not a list of numbers (no advice then).
    parsed: Option<Vec<u64>>,
    /// Where it came from, in the user's words, for the message.
    described: String,
    /// Where to point the warning.
    line: Option<usize>,
    /// Whether `--fit-target` in EXTRA_ARGS set it (then the fix names that flag).
    from_extra_args: bool,
}

impl FitTarget {
    fn of(profile: &Profile, words: &[String]) -> Self {
        let fit_on = match flag_value(words, &["-fit", "--fit"]) {
            Some(v) => !v.eq_ignore_ascii_case("off"),
            None => profile.fit_on(),
        };
        let extra_args_value = flag_value(words, &["-fitt", "--fit-target"]);
        let (text, described, line) = match (extra_args_value, profile.get("FIT_TARGET")) {
            (Some(v), _) => (
                v,
                format!("`--fit-target {v}` in EXTRA_ARGS"),
                profile.line_of("EXTRA_ARGS"),
            ),
            (None, Some(v)) => (v, format!("FIT_TARGET={v}"), profile.line_of("FIT_TARGET")),
            (None, None) => (
                defaults::FIT_TARGET,
                format!("FIT_TARGET {} (the default)", defaults::FIT_TARGET),
                None,
            ),
        };
        let parsed = text
            .split(',')
            .map(|v| v.trim().parse::<u64>().ok())
            .collect::<Option<Vec<_>>>();
        Self {
            fit_on,
            parsed,
            described,
            line: line.or(Some(profile.line)),
            from_extra_args: extra_args_value.is_some(),
        }
    }

    /// The headroom llama.cpp keeps on CUDA`device`: one value applies to every device, a
    /// list gives each its own, and a device past the list's end keeps llama.cpp's default.
    fn headroom_mib(&self, device: usize) -> u64 {
        match self.parsed.as_deref() {
            Some([single]) => *single,
            Some(list) => list
                .get(device)
                .copied()
                .unwrap_or(LLAMA_DEFAULT_HEADROOM_MIB),
            None => LLAMA_DEFAULT_HEADROOM_MIB,
        }
    }
}

/// Lesson 3: the message and fix when a display GPU gets too little headroom, or several
/// GPUs get the same one while one of them drives the display.
fn display_headroom_warning(
    profile: &Profile,
    gpus: &[GpuFacts],
    headroom: &[u64],
    target: &FitTarget,
) -> Option<(String, String)> {
    if !gpus.iter().any(|g| g.display_active) {
        return None;
    }
    let suggested = suggested_fit_target(gpus);
    let fix = if target.from_extra_args {
        format!(
            "change EXTRA_ARGS to `--fit-target {suggested}` (MiB per GPU in CUDA order: {DISPLAY_HEADROOM_MIB} for a display GPU, {DEDICATED_HEADROOM_MIB} for a dedicated one)"
        )
    } else {
        format!(
            "set FIT_TARGET={suggested} (MiB per GPU in CUDA order: {DISPLAY_HEADROOM_MIB} for a display GPU, {DEDICATED_HEADROOM_MIB} for a dedicated one)"
        )
    };
    let id = &profile.id;
    let source = &target.described;
    let starved: Vec<String> = gpus
        .iter()
        .zip(headroom)
        .enumerate()
        .filter(|(_, (g, h))| g.display_active && **h < DISPLAY_HEADROOM_MIB)
        .map(|(cuda, (g, h))| format!("CUDA{cuda} = {} gets {h} MiB", g.label()))
        .collect();
    if !starved.is_empty() {
        return Some((
            format!(
                "[{id}] {source} leaves too little headroom on a GPU that drives a display ({}): the desktop's own allocations during the load can run it out of memory",
                starved.join(", ")
            ),
            fix,
        ));
    }
    // The cost of one headroom for all: a dedicated GPU keeps the display GPU's margin free
    // for nothing, and the layers that would have used it split the graph further.
    let uniform = headroom.windows(2).all(|w| w[0] == w[1]);
    let has_dedicated = gpus.iter().any(|g| !g.display_active);
    if gpus.len() > 1 && uniform && has_dedicated {
        let display: Vec<String> = gpus
            .iter()
            .enumerate()
            .filter(|(_, g)| g.display_active)
            .map(|(cuda, g)| format!("CUDA{cuda} = {}", g.label()))
            .collect();
        return Some((
            format!(
                "[{id}] {source} gives all {} GPUs the same {} MiB headroom while {} drives the display: the dedicated GPUs could hold more layers (measured on GLM Q8: 33 → 5 graph splits, 105 → 112 t/s)",
                gpus.len(),
                headroom[0],
                display.join(" and ")
            ),
            fix,
        ));
    }
    None
}

/// The FIT_TARGET the original's measurements point to: 1024 MiB for a display GPU, 128 for
/// a dedicated one, in CUDA order; one value when every GPU gets the same.
fn suggested_fit_target(gpus: &[GpuFacts]) -> String {
    let values: Vec<u64> = gpus
        .iter()
        .map(|g| {
            if g.display_active {
                DISPLAY_HEADROOM_MIB
            } else {
                DEDICATED_HEADROOM_MIB
            }
        })
        .collect();
    if values.windows(2).all(|w| w[0] == w[1]) {
        return values[0].to_string();
    }
    values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;

    const GIB: u64 = 1 << 30;

    fn profile(text: &str) -> Profile {
        parse(text, Path::new("m.conf")).unwrap().profiles.remove(0)
    }

    fn gpu(index: u32, gib: u64, display: bool) -> GpuFacts {
        GpuFacts {
            index,
            name: format!("GPU{index}"),
            total_bytes: Some(gib * GIB),
            available_bytes: Some(gib * GIB),
            display_active: display,
            error: None,
        }
    }

    /// A footprint of `total` bytes (the split between its parts does not matter here).
    fn footprint(total: u64) -> Footprint {
        Footprint {
            model_bytes: total,
            kv_bytes: Some(0),
            ..Footprint::default()
        }
    }

    fn lint(text: &str, total: Option<u64>, gpus: &[GpuFacts]) -> Vec<String> {
        let fp = total.map(footprint);
        lint_hardware(Path::new("m.conf"), &profile(text), fp.as_ref(), gpus)
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    const EXPS_CPU: &str = "[moe]\nMODEL=m.gguf\nFIT_TARGET=128\nEXTRA_ARGS=-ot exps=CPU\n";

    /// The Strategy A warning for `text` with a one-GPU footprint of `gib_total`.
    fn pinned(text: &str, gib_total: u64, gpus: &[GpuFacts]) -> Option<Diagnostic> {
        let p = profile(text);
        let launch = Launch::of(&p);
        pinned_gpu_warning(
            Path::new("m.conf"),
            &p,
            &launch,
            Some(&footprint(gib_total * GIB)),
            gpus,
        )
    }

    #[test]
    fn strategy_a_on_a_gpu_too_small_warns_at_the_line_that_pins_it() {
        // Lesson 6 (parity item 66's neighbour): the whole model on CUDA1, 24 GiB, 30 GiB
        // estimated.
        let gpus = [gpu(0, 48, false), gpu(1, 24, false)];
        let text = "[a]\nMODEL=m.gguf\nSPLIT_MODE=none\nMAIN_GPU=1\n";
        let d = pinned(text, 30, &gpus).expect("a warning");
        assert_eq!(d.line, Some(3));
        let shown = d.to_string();
        assert!(
            shown.contains("CUDA1 = GPU 1 (GPU1)") && shown.contains("≈ 30.0 GiB"),
            "{shown}"
        );
        assert!(shown.contains("split it over the GPUs"), "{shown}");
        // 20 GiB fits in 24 less 1024 MiB (CUDA1's default headroom).
        assert!(pinned(text, 20, &gpus).is_none());
        // 23.5 GiB does not: the headroom counts.
        let p = profile(text);
        let f = footprint(23 * GIB + GIB / 2);
        assert!(
            pinned_gpu_warning(Path::new("m.conf"), &p, &Launch::of(&p), Some(&f), &gpus).is_some()
        );
        // The same model on CUDA0 (48 GiB) is fine.
        assert!(pinned("[a]\nMODEL=m.gguf\nSPLIT_MODE=none\n", 30, &gpus).is_none());
    }

    #[test]
    fn strategy_a_in_extra_args_and_a_missing_main_gpu() {
        let gpus = [gpu(0, 24, false)];
        let text = "[a]\nMODEL=m.gguf\nEXTRA_ARGS=-sm none -mg 0\n";
        let d = pinned(text, 40, &gpus).expect("a warning");
        assert_eq!(d.line, Some(3), "EXTRA_ARGS pins it");
        assert!(!d.to_string().contains("split it over"), "one GPU only");
        let d =
            pinned("[a]\nMODEL=m.gguf\nSPLIT_MODE=none\nMAIN_GPU=1\n", 1, &gpus).expect("no CUDA1");
        assert!(d.to_string().contains("gets 1 GPU(s)"), "{d}");
        // Layer split (the default) is not Strategy A.
        assert!(pinned("[a]\nMODEL=m.gguf\n", 99, &gpus).is_none());
        // Without a footprint (no model file), nothing is claimed.
        let p = profile("[a]\nMODEL=m.gguf\nSPLIT_MODE=none\n");
        assert!(
            pinned_gpu_warning(Path::new("m.conf"), &p, &Launch::of(&p), None, &gpus).is_none()
        );
    }

    #[test]
    fn experts_on_cpu_warn_when_the_model_fits_in_vram() {
        let w = lint(EXPS_CPU, Some(20 * GIB), &[gpu(0, 24, false)]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "m.conf:4: warning: [moe] `-ot exps=CPU` keeps the MoE experts in RAM"
            ),
            "{w:?}"
        );
        assert!(
            w[0].ends_with(
                "(fix: drop the rule and let FIT place the model (FIT=on, the default))"
            ),
            "{w:?}"
        );
    }

    #[test]
    fn experts_on_cpu_are_right_when_the_model_does_not_fit() {
        assert!(lint(EXPS_CPU, Some(30 * GIB), &[gpu(0, 24, false)]).is_empty());
        // The headroom counts: 24 GiB less 128 MiB cannot hold exactly 24 GiB.
        assert!(lint(EXPS_CPU, Some(24 * GIB), &[gpu(0, 24, false)]).is_empty());
        // Two GPUs add up.
        let two = [gpu(0, 24, false), gpu(1, 24, false)];
        assert_eq!(lint(EXPS_CPU, Some(40 * GIB), &two).len(), 1);
    }

    #[test]
    fn experts_on_cpu_say_nothing_without_gpus_or_footprint() {
        assert!(lint(EXPS_CPU, Some(GIB), &[]).is_empty());
        assert!(lint(EXPS_CPU, None, &[gpu(0, 24, false)]).is_empty());
        let unknown_size = GpuFacts {
            available_bytes: None,
            ..gpu(0, 24, false)
        };
        assert!(lint(EXPS_CPU, Some(GIB), &[unknown_size]).is_empty());
    }

    #[test]
    fn every_way_of_keeping_experts_on_cpu_is_recognised() {
        let one = [gpu(0, 80, false)];
        for (extra, shown) in [
            (
                "--override-tensor=blk\\.\\d+\\.ffn_.*_exps\\.=CPU",
                "-ot blk",
            ),
            (
                "-ot attn=CUDA0,ffn_up_exps=CPU",
                "-ot attn=CUDA0,ffn_up_exps=CPU",
            ),
            ("--cpu-moe", "`--cpu-moe`"),
            ("-cmoe", "`--cpu-moe`"),
            ("--n-cpu-moe 12", "`--n-cpu-moe 12`"),
            ("-ncmoe=4", "`--n-cpu-moe 4`"),
        ] {
            let text = format!("[moe]\nMODEL=m.gguf\nEXTRA_ARGS={extra}\n");
            let w = lint(&text, Some(GIB), &one);
            assert!(w.len() == 1 && w[0].contains(shown), "{extra}: {w:?}");
        }
        for extra in ["--n-cpu-moe 0", "-ot exps=CUDA1", "-ot attn=CPU", "--jinja"] {
            let text = format!("[moe]\nMODEL=m.gguf\nEXTRA_ARGS={extra}\n");
            assert!(lint(&text, Some(GIB), &one).is_empty(), "{extra}");
        }
    }

    #[test]
    fn a_single_display_gpu_needs_1024_mib() {
        let display = [gpu(0, 24, true)];
        let w = lint("[a]\nMODEL=a.gguf\nFIT_TARGET=128\n", None, &display);
        assert_eq!(
            w,
            [
                "m.conf:3: warning: [a] FIT_TARGET=128 leaves too little headroom on a GPU that drives a display (CUDA0 = GPU 0 (GPU0) gets 128 MiB): the desktop's own allocations during the load can run it out of memory (fix: set FIT_TARGET=1024 (MiB per GPU in CUDA order: 1024 for a display GPU, 128 for a dedicated one))"
            ]
        );
        // The default 128,1024 gives the only GPU (CUDA0) 128; the warning sits on the header.
        let w = lint("[a]\nMODEL=a.gguf\n", None, &display);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("m.conf:1: warning: [a] FIT_TARGET 128,1024 (the default) leaves"),
            "{w:?}"
        );
        assert!(w[0].contains("set FIT_TARGET=1024 "), "{w:?}");
        assert!(lint("[a]\nMODEL=a.gguf\nFIT_TARGET=1024\n", None, &display).is_empty());
        assert!(lint("[a]\nMODEL=a.gguf\nFIT_TARGET=2048\n", None, &display).is_empty());
    }

    #[test]
    fn no_display_no_headroom_advice() {
        let dedicated = [gpu(0, 24, false), gpu(1, 24, false)];
        assert!(lint("[a]\nMODEL=a.gguf\nFIT_TARGET=128\n", None, &dedicated).is_empty());
        assert!(lint("[a]\nMODEL=a.gguf\nFIT_TARGET=1024\n", None, &dedicated).is_empty());
        assert!(
            lint(
                "[a]\nMODEL=a.gguf\nFIT_TARGET=128\n",
                None,
                &[gpu(0, 24, false)]
            )
            .is_empty()
        );
    }

    #[test]
    fn fit_off_needs_no_headroom_advice() {
        let display = [gpu(0, 24, false), gpu(1, 24, true)];
        assert!(
            lint(
                "[a]\nMODEL=a.gguf\nFIT=off\nFIT_TARGET=128\n",
                None,
                &display
            )
            .is_empty()
        );
        assert!(
            lint(
                "[a]\nMODEL=a.gguf\nFIT_TARGET=128\nEXTRA_ARGS=--fit off\n",
                None,
                &display
            )
            .is_empty()
        );
    }

    #[test]
    fn the_original_layout_with_the_default_is_clean() {
        // A dedicated CUDA0 and a display CUDA1: exactly what 128,1024 was measured on.
        let layout = [gpu(0, 24, false), gpu(1, 24, true)];
        assert!(lint("[a]\nMODEL=a.gguf\n", None, &layout).is_empty());
        assert!(lint("[a]\nMODEL=a.gguf\nFIT_TARGET=128, 1024\n", None, &layout).is_empty());
    }

    #[test]
    fn the_display_on_cuda0_turns_the_default_around() {
        let layout = [gpu(0, 24, true), gpu(1, 24, false)];
        let w = lint("[a]\nMODEL=a.gguf\nCTX_SIZE=65536\n", None, &layout);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("CUDA0 = GPU 0 (GPU0) gets 128 MiB"), "{w:?}");
        assert!(w[0].contains("set FIT_TARGET=1024,128 "), "{w:?}");
    }

    #[test]
    fn a_uniform_target_on_several_gpus_with_a_display_warns() {
        let layout = [gpu(0, 24, false), gpu(1, 24, true)];
        for conf in [
            "[a]\nMODEL=a.gguf\nFIT_TARGET=1024\n",
            "[a]\nMODEL=a.gguf\nFIT_TARGET=1024,1024\n",
        ] {
            let w = lint(conf, None, &layout);
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(
                w[0].starts_with("m.conf:3: warning: [a] FIT_TARGET=1024")
                    && w[0].contains("gives all 2 GPUs the same 1024 MiB headroom while CUDA1 = GPU 1 (GPU1) drives the display")
                    && w[0].contains("33 → 5 graph splits"),
                "{w:?}"
            );
            assert!(w[0].contains("set FIT_TARGET=128,1024 "), "{w:?}");
        }
        // Uniform and too small: one warning, about the display GPU.
        let w = lint("[a]\nMODEL=a.gguf\nFIT_TARGET=128\n", None, &layout);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("leaves too little headroom"), "{w:?}");
        assert!(w[0].contains("set FIT_TARGET=128,1024 "), "{w:?}");
        // Every GPU drives a display: a uniform 1024 is what they all need.
        let all_display = [gpu(0, 24, true), gpu(1, 24, true)];
        assert!(lint("[a]\nMODEL=a.gguf\nFIT_TARGET=1024\n", None, &all_display).is_empty());
    }

    #[test]
    fn three_gpus_get_a_value_each() {
        let layout = [gpu(0, 24, false), gpu(1, 24, false), gpu(2, 12, true)];
        // The default names two devices; CUDA2 keeps llama.cpp's own 1024: no starvation,
        // and the targets differ, so nothing to say.
        assert!(lint("[a]\nMODEL=a.gguf\n", None, &layout).is_empty());
        let w = lint("[a]\nMODEL=a.gguf\nFIT_TARGET=512\n", None, &layout);
        assert!(w[0].contains("set FIT_TARGET=128,128,1024 "), "{w:?}");
    }

    #[test]
    fn a_fit_target_in_extra_args_wins_and_is_named() {
        let layout = [gpu(0, 24, false), gpu(1, 24, true)];
        let w = lint(
            "[a]\nMODEL=a.gguf\nFIT_TARGET=128,1024\nEXTRA_ARGS=--jinja -fitt 256\n",
            None,
            &layout,
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("m.conf:4: warning: [a] `--fit-target 256` in EXTRA_ARGS leaves"),
            "{w:?}"
        );
        assert!(
            w[0].contains("change EXTRA_ARGS to `--fit-target 128,1024`"),
            "{w:?}"
        );
    }

    #[test]
    fn an_unreadable_fit_target_gets_no_advice() {
        let layout = [gpu(0, 24, false), gpu(1, 24, true)];
        assert!(lint("[a]\nMODEL=a.gguf\nFIT_TARGET=lots\n", None, &layout).is_empty());
    }

    #[test]
    fn the_fit_headroom_of_each_gpu_counts_toward_room() {
        // 24 GiB + 24 GiB less 128 and 1024 MiB: a 47 GiB model does not fit, 46.5 does.
        let layout = [gpu(0, 24, false), gpu(1, 24, true)];
        let conf = "[moe]\nMODEL=m.gguf\nEXTRA_ARGS=--cpu-moe\n";
        assert!(lint(conf, Some(47 * GIB), &layout).is_empty());
        assert_eq!(lint(conf, Some(46 * GIB + GIB / 2), &layout).len(), 1);
    }

    #[test]
    fn the_footprint_from_the_files_counts_the_kv_cache() {
        use crate::model::gguf::{Value, tests::header};
        // A Llama-3-8B-like shape: at 128K context its q8_0 KV cache is 8.5 GiB, so a
        // 10 GiB file needs ≈ 19.3 GiB: it fits a 24 GiB GPU and not a 16 GiB one, which
        // it would if only the file size counted.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        let meta = header(&[
            ("general.architecture", Value::Str("llama".into())),
            ("llama.block_count", Value::Uint(32)),
            ("llama.embedding_length", Value::Uint(4096)),
            ("llama.attention.head_count", Value::Uint(32)),
            ("llama.attention.head_count_kv", Value::Uint(8)),
        ]);
        std::fs::write(&path, meta).unwrap();
        let files = ModelFiles {
            parts: vec![path],
            total_bytes: 10 * GIB,
        };
        let p = profile("[moe]\nMODEL=m.gguf\nCTX_SIZE=131072\nEXTRA_ARGS=--cpu-moe\n");
        let conf = Path::new("m.conf");
        assert_eq!(
            lint_on_gpus(conf, &p, Some(&files), &[gpu(0, 24, false)]).len(),
            1
        );
        assert!(lint_on_gpus(conf, &p, Some(&files), &[gpu(0, 16, false)]).is_empty());
        assert!(lint_on_gpus(conf, &p, None, &[gpu(0, 24, false)]).is_empty());
        assert!(lint_on_gpus(conf, &p, Some(&files), &[]).is_empty());
    }

    #[test]
    fn both_backends_apply_the_gpu_list_docker_in_pci_order() {
        let mut settings = Settings::default();
        settings.server.gpus = "1,0".into();
        settings.backend = BackendKind::Docker;
        let sel = |s: &Settings, env| server_gpu_selection_with(s, env);
        assert_eq!(sel(&settings, None), GpuSelection::Devices(vec![0, 1]));
        settings.backend = BackendKind::Process;
        assert_eq!(sel(&settings, None), GpuSelection::Devices(vec![1, 0]));
        // An explicit list wins over llws's own environment (the backend sets it).
        assert_eq!(sel(&settings, Some("2")), GpuSelection::Devices(vec![1, 0]));
        settings.server.gpus = "all".into();
        assert_eq!(sel(&settings, None), GpuSelection::All);
        // With "all", a native server inherits the user's CUDA_VISIBLE_DEVICES.
        assert_eq!(
            sel(&settings, Some("2,0")),
            GpuSelection::Devices(vec![2, 0])
        );
        assert_eq!(sel(&settings, Some("")), GpuSelection::None);
        assert_eq!(sel(&settings, Some("GPU-8f3c-uuid")), GpuSelection::All);
        assert_eq!(
            sel(&settings, Some("1,GPU-x,0")),
            GpuSelection::Devices(vec![1])
        );
        // A container does not see llws's environment.
        settings.backend = BackendKind::Docker;
        assert_eq!(sel(&settings, Some("2,0")), GpuSelection::All);
    }

    #[test]
    fn experts_on_cpu_compare_with_free_memory_not_total() {
        // 24 GiB cards, but another program holds 14 GiB of GPU 0: a 20 GiB model does
        // not fit, so keeping its experts in RAM is right.
        let busy = GpuFacts {
            available_bytes: Some(10 * GIB),
            ..gpu(0, 24, false)
        };
        assert!(lint(EXPS_CPU, Some(20 * GIB), &[busy]).is_empty());
        // The running llama-server's memory is available (gpu_facts counts it): a switch
        // stops it first.
        let loaded = GpuFacts {
            available_bytes: Some(23 * GIB),
            ..gpu(0, 24, false)
        };
        assert_eq!(lint(EXPS_CPU, Some(20 * GIB), &[loaded]).len(), 1);
    }

    #[test]
    fn fit_headroom_follows_the_fit_target_in_cuda_order() {
        let p = profile("[a]\nMODEL=a.gguf\n");
        assert_eq!(fit_headroom(&p, 3), [128 * MIB, 1024 * MIB, 1024 * MIB]);
        let p = profile("[a]\nMODEL=a.gguf\nEXTRA_ARGS=--fit-target 256\n");
        assert_eq!(fit_headroom(&p, 2), [256 * MIB, 256 * MIB]);
    }
}
