//! `llws doctor`: what the real thing needs, what is present, and how to fix the rest.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Profile;
use crate::config::settings::{BackendKind, GpuSelection, SandboxMode};
use crate::docker::connect;
use crate::model::estimate::{self, Fit, gib};
use crate::model::files as model_files;
use crate::model::files::ModelFiles;
use crate::model::gguf;
use crate::model::hardware_lint::{self, GpuFacts};
use crate::monitor::gpu::GpuSampler;
use crate::monitor::system::SystemSampler;
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
    findings.extend(runtime.block_on(docker_findings(s, docker_needed)));

    // Free VRAM per GPU, for the fit estimate of each profile below, and the GPUs the
    // server gets, for the hardware warnings.
    let mut free_vram: Option<(usize, u64)> = None;
    let mut server_gpus: Vec<GpuFacts> = Vec::new();
    findings.push(match GpuSampler::init(&s.monitor.nvml_library) {
        Ok(gpus) => {
            // The display flag comes with the slow sample (~40 ms per GPU).
            if let Ok(snapshot) = gpus.sample(None, &gpus.sample_slow()) {
                server_gpus = crate::monitor::gpu_facts::gpu_facts(
                    &snapshot,
                    &hardware_lint::server_gpu_selection(s),
                );
                // Only the GPUs the server gets count towards the fit.
                let free = snapshot
                    .gpus
                    .iter()
                    .filter(|g| server_gpus.iter().any(|f| f.index == g.index))
                    .filter_map(|g| g.memory_free_bytes)
                    .sum();
                free_vram = Some((server_gpus.len(), free));
            }
            Finding::ok(
                "NVML",
                format!(
                    "{} GPU(s), driver {}",
                    gpus.device_count(),
                    gpus.driver_version().unwrap_or("unknown")
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
    });
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
    findings.push(match find_executable(Path::new("claude")) {
        Some(p) => Finding::ok("Claude Code", p.display().to_string()),
        None => Finding::bad(
            "Claude Code",
            "`claude` not found on PATH",
            "install it: `npm install -g @anthropic-ai/claude-code` (the claude pane offers a shell until then)",
        )
        .optional(true),
    });

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
                findings.push(match &files {
                    Ok(files) => footprint_finding(&what, p, files, free_vram, available_ram),
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

async fn docker_findings(s: &crate::config::Settings, needed: bool) -> Vec<Finding> {
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
    out.push(match docker.inspect_image(&s.server.image).await {
        Ok(img) => Finding::ok(
            "server image",
            format!(
                "{} ({:.0} MB)",
                s.server.image,
                img.size.unwrap_or(0) as f64 / 1e6
            ),
        ),
        Err(_) => Finding::bad(
            "server image",
            format!("{} is not built", s.server.image),
            format!(
                "build it: `docker build -f Dockerfile.llama -t {} .` (see docs/docker.md)",
                s.server.image
            ),
        )
        .optional(!needed),
    });
    out
}

/// A profile whose files are present: its size, the footprint estimate, and where it fits.
fn footprint_finding(
    what: &str,
    profile: &Profile,
    files: &ModelFiles,
    free_vram: Option<(usize, u64)>,
    available_ram: u64,
) -> Finding {
    let meta = gguf::read_file_metadata(&files.parts[0]).ok();
    let gpus = free_vram.map_or(0, |(n, _)| n);
    let footprint = estimate::estimate(profile, files.total_bytes, meta.as_ref(), gpus);
    let kv = footprint
        .kv_bytes
        .map_or_else(|| "KV unknown".to_string(), |kv| format!("KV {}", gib(kv)));
    let fit = estimate::fit(footprint.total(), free_vram.map(|(_, f)| f), available_ram);
    let detail = format!(
        "{} part(s), {} on disk; needs ≈ {} ({kv} at {} ctx) → {}",
        files.parts.len(),
        gib(files.total_bytes),
        gib(footprint.total()),
        profile.ctx_size(),
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
