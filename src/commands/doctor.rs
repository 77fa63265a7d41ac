//! `llws doctor`: what the real thing needs, what is present, and how to fix the rest.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Profile;
use crate::config::settings::{BackendKind, GpuSelection, SandboxMode};
use crate::docker::connect;
use crate::model::estimate::{self, Fit};
use crate::model::files as model_files;
use crate::model::files::ModelFiles;
use crate::model::gguf;
use crate::model::hardware_lint::{self, GpuFacts};
use crate::monitor::gpu::GpuSampler;
use crate::monitor::system::SystemSampler;
use crate::util::bytes;
use crate::util::find_executable;

use super::Context;

/// One finding.
struct Finding {
    ok: bool,
    /// Missing but not needed with these settings.
    optional: bool,
    what: String,
    detail: String,
    fix: Option<String>,
}

impl Finding {
    fn ok(what: &str, detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            optional: false,
            what: what.into(),
            detail: detail.into(),
            fix: None,
        }
    }
    fn bad(what: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            ok: false,
            optional: false,
            what: what.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }
}

pub fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let s = &ctx.settings;
    let mut findings = Vec::new();
    let docker_needed = s.backend == BackendKind::Docker;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // The GPUs the server gets, for the fit estimate of each profile and the hardware
    // warnings, and the driver's CUDA version, for the image check.
    let mut server_gpus: Vec<GpuFacts> = Vec::new();
    let mut driver_cuda: Option<(u32, u32)> = None;
    let mut gpu_notes = Vec::new();
    let nvml_finding = match GpuSampler::init(&s.monitor.nvml_library) {
        Ok(gpus) => {
            driver_cuda = gpus.cuda_version();
            // The display flags, without the 40 ms PCIe sample; the running server's pid so
            // its memory counts as what a switch gives back.
            let server = runtime.block_on(crate::commands::monitor::find_server(s));
            let snapshot = gpus.sample(server.pid, &gpus.sample_slow(false));
            server_gpus = crate::monitor::gpu_facts::gpu_facts(
                &snapshot,
                &hardware_lint::server_gpu_selection(s),
            );
            // One GPU that cannot be read is named, and does not hide the others.
            for g in snapshot.gpus.iter().filter(|g| g.error.is_some()) {
                gpu_notes.push(
                    Finding::bad(
                        &format!("GPU {}", g.index),
                        format!(
                            "cannot be read: {}",
                            g.error.as_deref().unwrap_or_default()
                        ),
                        "check `nvidia-smi -i N` and `dmesg | grep -i xid`; a GPU lost from the bus needs a reset or a reboot",
                    )
                    .optional(true),
                );
            }
            let readable = snapshot.gpus.iter().filter(|g| g.error.is_none()).count();
            Finding::ok(
                "NVML",
                format!(
                    "{} GPU(s){}, driver {}{}",
                    gpus.device_count(),
                    if readable < gpus.device_count() {
                        format!(" ({readable} readable)")
                    } else {
                        String::new()
                    },
                    gpus.driver_version().unwrap_or("unknown"),
                    driver_cuda
                        .map(|(major, minor)| format!(", runs CUDA up to {major}.{minor}"))
                        .unwrap_or_default()
                ),
            )
        }
        // No GPU is normal: models run on the CPU and the GPU panel says so calmly.
        Err(reason) => Finding::bad(
            "NVML",
            reason,
            "install the NVIDIA driver for GPU panels; everything else works without it",
        )
        .optional(true),
    };
    findings.extend(runtime.block_on(docker_findings(s, docker_needed, driver_cuda)));
    findings.push(nvml_finding);
    findings.extend(gpu_notes);
    let available_ram = SystemSampler::new()
        .map(|mut sys| sys.sample().mem_available)
        .unwrap_or(0);

    if s.backend == BackendKind::Process {
        findings.push(match find_executable(&s.server.llama_server) {
            Some(p) => Finding::ok("llama-server", p.display().to_string()),
            None => Finding::bad(
                "llama-server",
                format!("`{}` not found", s.server.llama_server.display()),
                "build llama.cpp's llama-server and set [server] llama_server to its path",
            ),
        });
    }

    let sandbox_needed = s.claude.sandbox != SandboxMode::Off;
    findings.push(match find_executable(Path::new("bwrap")) {
        Some(p) => match std::process::Command::new(&p)
            .args(["--ro-bind", "/", "/", "--unshare-pid", "--dev", "/dev", "--proc", "/proc", "true"])
            .output()
        {
            Ok(out) if out.status.success() => Finding::ok("bubblewrap", p.display().to_string()),
            Ok(out) => Finding::bad(
                "bubblewrap",
                format!("bwrap cannot create namespaces: {}", String::from_utf8_lossy(&out.stderr).trim()),
                "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or set [claude] sandbox = \"off\"",
            )
            .optional(!sandbox_needed),
            Err(e) => Finding::bad("bubblewrap", e.to_string(), "reinstall bubblewrap").optional(!sandbox_needed),
        },
        None => Finding::bad("bubblewrap", "bwrap not found", "install it: `sudo apt install bubblewrap` (needed for [claude] sandbox = \"fs\" or \"strict\")")
            .optional(!sandbox_needed),
    });
    findings.push(Finding::ok(
        "sandbox isolation",
        crate::claude::sandbox::landlock::describe(),
    ));
    findings.push(match find_executable(Path::new("claude")) {
        Some(p) => Finding::ok("Claude Code", p.display().to_string()),
        None => Finding::bad(
            "Claude Code",
            "`claude` not found on PATH",
            "install it: `npm install -g @anthropic-ai/claude-code` (the claude pane offers a shell until then)",
        )
        .optional(true),
    });

    findings.push(claude_config_finding(s));

    findings.push(if s.models_dir.is_dir() {
        Finding::ok("models folder", s.models_dir.display().to_string())
    } else {
        Finding::bad(
            "models folder",
            format!("{} does not exist", s.models_dir.display()),
            "create it and download GGUF files into it, or set models_dir in llws.toml",
        )
    });
    match ctx.profiles() {
        Ok(set) => {
            for p in &set.profiles {
                let what = format!("profile [{}]", p.id);
                // The length check too: a truncated download would stop the running
                // server and then fail, so it is an error, not a note.
                let files = model_files::check_complete(&s.models_dir, p);
                for d in crate::model::launch::lint(&set.path, p) {
                    findings.push(Finding {
                        ok: false,
                        optional: true,
                        what: what.clone(),
                        detail: d.message,
                        fix: d.fix,
                    });
                }
                findings.push(match &files {
                    Ok(files) => footprint_finding(&what, p, files, &server_gpus, available_ram),
                    Err(e) => Finding::bad(
                        &what,
                        e.to_string(),
                        "download the model, or comment the profile out with `#`",
                    )
                    .optional(!e.is_broken()),
                });
                // Advice, not a failure: the profile loads either way, only worse.
                for d in
                    hardware_lint::lint_on_gpus(&set.path, p, files.as_ref().ok(), &server_gpus)
                {
                    findings.push(Finding {
                        ok: false,
                        optional: true,
                        what: what.clone(),
                        detail: d.message,
                        fix: d.fix,
                    });
                }
            }
        }
        Err(e) => findings.push(Finding::bad(
            "models.conf",
            e.to_string(),
            "run `llws check` and fix the lines it names",
        )),
    }

    let mut failed = 0;
    for f in &findings {
        let mark = if f.ok {
            "ok  "
        } else if f.optional {
            "note"
        } else {
            failed += 1;
            "FAIL"
        };
        println!("[{mark}] {}: {}", f.what, f.detail);
        if let Some(fix) = f.fix.as_ref().filter(|_| !f.ok) {
            println!("       fix: {fix}");
        }
    }
    println!();
    if failed == 0 {
        println!("Everything the {} backend needs is in place.", s.backend);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{failed} problem(s) stop the {} backend; see the fixes above.",
            s.backend
        );
        Ok(ExitCode::FAILURE)
    }
}

/// The state of claude-local's config dir: whether Claude Code will open on its prompt or
/// on its first-run screens (onboarding, trusting the folder).
fn claude_config_finding(s: &crate::config::Settings) -> Finding {
    use crate::claude::command::{CLAUDE_LOCAL, project_dir};
    use crate::claude::setup::{self, SetupState};
    let what = "Claude Code config";
    let dir = s.claude.config_dir.display();
    if s.claude.command != CLAUDE_LOCAL {
        return Finding::ok(
            what,
            format!("not used: the claude pane runs `{}`", s.claude.command),
        );
    }
    let project = match project_dir(s) {
        Ok(p) => p,
        Err(e) => return Finding::bad(what, format!("{e:#}"), "set [claude] project_dir"),
    };
    match setup::state(&s.claude.config_dir, &project) {
        SetupState::Done => Finding::ok(
            what,
            format!(
                "{dir}: onboarding done, {} trusted",
                project.display()
            ),
        ),
        missing @ SetupState::Missing(_) => Finding::bad(
            what,
            format!("{dir}: {} (for {})", missing.describe(), project.display()),
            "nothing to do: llws sets it up when the claude pane starts (or run `llws claude --setup`)",
        )
        .optional(true),
        SetupState::Broken(why) => Finding::bad(
            what,
            why,
            "fix or remove the file, then run `llws claude --setup`",
        )
        .optional(true),
    }
}

async fn docker_findings(
    s: &crate::config::Settings,
    needed: bool,
    driver_cuda: Option<(u32, u32)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let host = connect::host_for(&s.server.docker_host);
    let docker = match connect::connect(&host, Duration::from_secs(3)).await {
        Ok(d) => d,
        Err(e) => {
            out.push(
                Finding::bad(
                    "Docker daemon",
                    e.to_string(),
                    "start the daemon, or use backend = \"process\"",
                )
                .optional(!needed),
            );
            return out;
        }
    };
    let api = docker.client_version();
    let engine = docker
        .version()
        .await
        .ok()
        .and_then(|v| v.version)
        .unwrap_or_default();
    out.push(Finding::ok(
        "Docker daemon",
        format!(
            "{} (Engine {engine}, API {}.{})",
            host, api.major_version, api.minor_version
        ),
    ));
    let runtimes = docker
        .info()
        .await
        .ok()
        .and_then(|i| i.runtimes)
        .unwrap_or_default();
    let gpus_wanted = s.server.gpu_selection() != GpuSelection::None;
    out.push(if runtimes.contains_key("nvidia") {
        Finding::ok("NVIDIA container runtime", "registered with Docker")
    } else {
        Finding::bad(
            "NVIDIA container runtime",
            "not registered with Docker",
            "install nvidia-container-toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker`, or set [server] gpus = \"none\"",
        )
        .optional(!(needed && gpus_wanted))
    });
    match docker.inspect_image(&s.server.image).await {
        Ok(img) => {
            out.push(Finding::ok(
                "server image",
                format!(
                    "{} ({:.0} MB)",
                    s.server.image,
                    img.size.unwrap_or(0) as f64 / 1e6
                ),
            ));
            out.push(cuda_finding(
                &s.server.image,
                image_cuda_version(&img),
                driver_cuda,
                needed,
            ));
        }
        Err(_) => out.push(
            Finding::bad(
                "server image",
                format!("{} is not built", s.server.image),
                format!(
                    "build it: `docker build -f Dockerfile.llama -t {} .` (see docs/docker.md)",
                    s.server.image
                ),
            )
            .optional(!needed),
        ),
    }
    out
}

/// The CUDA version an image was built for: Dockerfile.llama's label, else the
/// `CUDA_VERSION` every nvidia/cuda image sets in its environment.
fn image_cuda_version(img: &bollard::models::ImageInspect) -> Option<(u32, u32)> {
    let config = img.config.as_ref()?;
    let label = config
        .labels
        .as_ref()
        .and_then(|l| l.get("org.llws.cuda-version").cloned());
    let env = || {
        config
            .env
            .as_ref()?
            .iter()
            .find_map(|e| e.strip_prefix("CUDA_VERSION=").map(str::to_string))
    };
    parse_cuda_version(&label.or_else(env)?)
}

/// "13.0.0" or "12.8" → (13, 0) / (12, 8).
fn parse_cuda_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The image's CUDA against the highest the driver runs: a newer image does not start.
fn cuda_finding(
    image: &str,
    image_cuda: Option<(u32, u32)>,
    driver_cuda: Option<(u32, u32)>,
    needed: bool,
) -> Finding {
    let show = |(major, minor): (u32, u32)| format!("{major}.{minor}");
    match (image_cuda, driver_cuda) {
        (Some(img), Some(drv)) if img <= drv => Finding::ok(
            "image CUDA",
            format!("{image} is built for CUDA {}; the driver runs up to {}", show(img), show(drv)),
        ),
        (Some(img), Some(drv)) => Finding::bad(
            "image CUDA",
            format!(
                "{image} is built for CUDA {}, but the driver runs only up to {}: the server will fail at its first CUDA call",
                show(img),
                show(drv)
            ),
            format!(
                "update the NVIDIA driver (CUDA 13.0 needs 580 or newer, 12.8 needs 570), or rebuild the image for the driver: `docker build -f Dockerfile.llama --build-arg CUDA_VERSION={}.{}.1 ...` (docs/docker.md)",
                drv.0, drv.1
            ),
        )
        .optional(!needed),
        (None, _) => Finding::bad(
            "image CUDA",
            format!("{image} names no CUDA version (no CUDA_VERSION in its environment)"),
            "build it from Dockerfile.llama, which records it",
        )
        .optional(true),
        (Some(img), None) => Finding::bad(
            "image CUDA",
            format!("{image} is built for CUDA {}; the driver's CUDA version is unknown (no NVML)", show(img)),
            "install the NVIDIA driver; `nvidia-smi` shows the CUDA version it runs",
        )
        .optional(true),
    }
}

/// A profile whose files are present: its size, the footprint estimate, and where it fits.
/// The room on the GPUs is what the next load can have: free memory, plus what the running
/// llama-server holds (a switch stops it first), less the headroom FIT keeps on each GPU.
fn footprint_finding(
    what: &str,
    profile: &Profile,
    files: &ModelFiles,
    gpus: &[GpuFacts],
    available_ram: u64,
) -> Finding {
    let meta = gguf::read_file_metadata(&files.parts[0]).ok();
    let footprint = estimate::estimate(profile, files.total_bytes, meta.as_ref(), gpus.len());
    let kv = footprint.kv_bytes.map_or_else(
        || "KV unknown".to_string(),
        |kv| format!("KV {}", bytes(kv)),
    );
    let room = vram_room(profile, gpus);
    let fit = estimate::fit(footprint.total(), room, available_ram);
    let detail = format!(
        "{} part(s), {} on disk; needs ≈ {} ({kv} at {} ctx){} → {}",
        files.parts.len(),
        bytes(files.total_bytes),
        bytes(footprint.total()),
        footprint.ctx,
        room.map(|r| format!(", {} free for it", bytes(r)))
            .unwrap_or_default(),
        match fit {
            Fit::Vram => "fits in free VRAM",
            Fit::SpillsToRam => "spills from VRAM into RAM (slower, but loads)",
            Fit::Cpu => "runs from RAM on the CPU",
            Fit::SwapRisk => "more than free VRAM and available RAM: the load will swap or fail",
        }
    );
    if fit == Fit::SwapRisk {
        Finding::bad(
            what,
            detail,
            "lower CTX_SIZE, use a smaller quant, or a q4_0 KV cache (KV_CACHE_TYPE_K/V)",
        )
        .optional(true)
    } else {
        Finding::ok(what, detail)
    }
}

/// The VRAM the next load of `profile` can fill on `gpus`; `None` without GPUs, or when a
/// GPU's free memory is unknown (a GPU that cannot be read counts as none).
fn vram_room(profile: &Profile, gpus: &[GpuFacts]) -> Option<u64> {
    if gpus.is_empty() {
        return None;
    }
    let headroom = hardware_lint::fit_headroom(profile, gpus.len());
    Some(
        gpus.iter()
            .zip(headroom)
            .map(|(g, h)| g.available_bytes.unwrap_or(0).saturating_sub(h))
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn gpu(index: u32, available_gib: u64) -> GpuFacts {
        GpuFacts {
            index,
            name: "GPU".into(),
            total_bytes: Some(24 * GIB),
            available_bytes: Some(available_gib * GIB),
            display_active: false,
            error: None,
        }
    }

    #[test]
    fn room_counts_the_fit_headroom_of_each_gpu() {
        let p = parse("[a]\nMODEL=a.gguf\n", Path::new("m.conf"))
            .unwrap()
            .profiles
            .remove(0);
        // The default FIT_TARGET 128,1024: CUDA0 keeps 128 MiB, CUDA1 1024 MiB.
        assert_eq!(
            vram_room(&p, &[gpu(0, 20), gpu(1, 20)]),
            Some(40 * GIB - 128 * MIB - 1024 * MIB)
        );
        let broken = GpuFacts {
            available_bytes: None,
            ..gpu(1, 0)
        };
        assert_eq!(
            vram_room(&p, &[gpu(0, 20), broken]),
            Some(20 * GIB - 128 * MIB)
        );
        assert_eq!(vram_room(&p, &[]), None);
    }

    #[test]
    fn an_image_newer_than_the_driver_fails() {
        assert_eq!(parse_cuda_version("13.0.0"), Some((13, 0)));
        assert_eq!(parse_cuda_version("12.8"), Some((12, 8)));
        assert_eq!(parse_cuda_version("x"), None);
        let ok = cuda_finding("img", Some((12, 8)), Some((13, 0)), true);
        assert!(ok.ok, "{}", ok.detail);
        let bad = cuda_finding("img", Some((13, 0)), Some((12, 8)), true);
        assert!(!bad.ok && !bad.optional, "{}", bad.detail);
        assert!(
            bad.detail.contains("runs only up to 12.8"),
            "{}",
            bad.detail
        );
        assert!(bad.fix.unwrap().contains("CUDA_VERSION=12.8.1"));
        // Not needed with the process backend: a note.
        assert!(cuda_finding("img", Some((13, 0)), Some((12, 8)), false).optional);
        assert!(cuda_finding("img", None, Some((12, 8)), true).optional);
    }
}
