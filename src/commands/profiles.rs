//! `llws models`, `llws check`, `llws args`, `llws env`: the profile commands.

use std::process::ExitCode;

use crate::api::types::ModelsResponse;
use crate::cli::GlobalArgs;
use crate::config::ProfileSet;
use crate::config::args::{LaunchContext, server_args};
use crate::config::diag::{Diagnostic, Severity};
use crate::config::dotenv::env_file;
use crate::config::settings::Settings;
use crate::model::files as model_files;
use crate::model::hardware_lint::{self, GpuFacts};
use crate::monitor::gpu::GpuSampler;

use super::Context;

pub fn models(ctx: &Context, json: bool, all: bool) -> anyhow::Result<ExitCode> {
    let set = ctx.profiles()?;
    let active = super::client::active_profile_quick(&ctx.settings);
    if json {
        let response = ModelsResponse::from_profiles(&set, active.as_deref(), all);
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render_list(&set, active.as_deref(), all));
    Ok(ExitCode::SUCCESS)
}

/// The human listing, in the shape of the original's `start.sh --list`.
pub fn render_list(set: &ProfileSet, active: Option<&str>, all: bool) -> String {
    let mut out = String::from("Production models:\n");
    for p in set.production() {
        let mark = if active == Some(p.id.as_str()) {
            "*"
        } else {
            " "
        };
        out.push_str(&format!(
            "{mark} {:<20}  {}  {}  ({})\n",
            p.id,
            p.display_name(),
            p.speed().unwrap_or("-"),
            p.ctx_label()
        ));
        if let Some(desc) = p.description() {
            out.push_str(&format!("{:24}{desc}\n", ""));
        }
    }
    let bench: Vec<_> = set.bench().collect();
    if all && !bench.is_empty() {
        out.push_str("\nBenchmark profiles:\n");
        for p in bench {
            out.push_str(&format!(
                "  {:<20}  {}  ({})\n",
                p.id,
                p.display_name(),
                p.ctx_label()
            ));
        }
    } else if !bench.is_empty() {
        out.push_str(&format!(
            "\n{} bench profiles (llws models --all)\n",
            bench.len()
        ));
    }
    out
}

pub fn check(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let ctx = match Context::load(global) {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            diagnostics.extend(e.diagnostics);
            None
        }
    };
    let mut checked = Vec::new();
    if let Some(ctx) = &ctx {
        checked.push(match &ctx.settings_source {
            Some(path) => path.display().to_string(),
            None => "built-in settings".to_string(),
        });
        checked.push(ctx.settings.models_conf.display().to_string());
        match ctx.profiles() {
            Ok(set) => {
                diagnostics.extend(set.warnings.iter().cloned());
                let gpus = server_gpus(&ctx.settings);
                for p in &set.profiles {
                    let files = model_files::check_complete(&ctx.settings.models_dir, p);
                    match &files {
                        Ok(files) => {
                            diagnostics.extend(crate::model::lint::lint_model(&set.path, p, files))
                        }
                        // A file that is there but broken is an error; a missing one may
                        // simply not be downloaded yet.
                        Err(e) if e.is_broken() => diagnostics.push(Diagnostic::error(
                            &set.path,
                            p.line_of("MODEL"),
                            e.to_string(),
                        )),
                        Err(e) => diagnostics.push(Diagnostic::warning(
                            &set.path,
                            p.line_of("MODEL"),
                            e.to_string(),
                        )),
                    }
                    diagnostics.extend(crate::model::launch::lint(&set.path, p));
                    diagnostics.extend(crate::config::risky_args::diagnostics(
                        &set.path,
                        p,
                        &ctx.settings.models_dir,
                    ));
                    diagnostics.extend(hardware_lint::lint_on_gpus(
                        &set.path,
                        p,
                        files.as_ref().ok(),
                        &gpus,
                    ));
                }
            }
            Err(e) => diagnostics.extend(e.diagnostics),
        }
        diagnostics.extend(crate::config::ui_files_diagnostics::<
            crate::ui::commands::KeyAction,
        >(&ctx.settings));
        let advice = &ctx.settings.ui.client_advice;
        if !advice.as_os_str().is_empty() {
            checked.push(advice.display().to_string());
            diagnostics.extend(crate::model::advice::AdviceTable::load(Some(advice)).1);
        }
    }
    let count = |severity| {
        diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    };
    let (errors, warnings, notes) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note),
    );
    for d in &diagnostics {
        println!("{d}");
    }
    let summary = format!(
        "checked {}: {errors} error(s), {warnings} warning(s){}",
        if checked.is_empty() {
            "the settings".to_string()
        } else {
            checked.join(", ")
        },
        if notes > 0 {
            format!(", {notes} note(s)")
        } else {
            String::new()
        }
    );
    if errors > 0 {
        eprintln!("{summary}");
        Ok(ExitCode::FAILURE)
    } else {
        eprintln!("{summary}");
        Ok(ExitCode::SUCCESS)
    }
}

/// The GPUs the server would get, as NVML sees them now; none when NVML does not start
/// (no driver is a normal state: the hardware checks then have nothing to say).
fn server_gpus(settings: &Settings) -> Vec<GpuFacts> {
    let Ok(sampler) = GpuSampler::init(&settings.monitor.nvml_library) else {
        return Vec::new();
    };
    // The display flags only: the 40 ms PCIe measurement is not needed here.
    crate::monitor::gpu_facts::gpu_facts(
        &sampler.sample_once(),
        &hardware_lint::server_gpu_selection(settings),
    )
}

pub fn args(ctx: &Context, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let set = ctx.profiles()?;
    let Some(profile) = set.get(id) else {
        return unknown(&set, id);
    };
    let args = server_args(profile, &LaunchContext::for_settings(&ctx.settings));
    if json {
        println!("{}", serde_json::to_string(&args)?);
    } else {
        let program = match ctx.settings.backend {
            crate::config::settings::BackendKind::Process => {
                ctx.settings.server.llama_server.display().to_string()
            }
            crate::config::settings::BackendKind::Docker => "llama-server".to_string(),
        };
        let words: Vec<&str> = std::iter::once(program.as_str())
            .chain(args.iter().map(String::as_str))
            .collect();
        println!(
            "{}",
            shlex::try_join(words).unwrap_or_else(|_| args.join(" "))
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn env(ctx: &Context, id: &str, write: bool) -> anyhow::Result<ExitCode> {
    let set = ctx.profiles()?;
    let Some(profile) = set.get(id) else {
        return unknown(&set, id);
    };
    let text = env_file(profile, ctx.settings.server.port);
    if write {
        let path = crate::config::dotenv::env_path(&ctx.settings);
        crate::util::safe_fs::write_atomic(&path, text.as_bytes(), 0o644)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        eprintln!("Generated {} for [{}]", path.display(), profile.id);
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// An unknown id: the message and the list on stderr, exit 1 (as the original did).
pub fn unknown(set: &ProfileSet, id: &str) -> anyhow::Result<ExitCode> {
    let close = set.closest_ids(id);
    eprintln!(
        "llws: unknown profile '{id}'.{}\n",
        crate::config::suggest::did_you_mean("", &close)
    );
    eprint!("{}", render_list(set, None, true));
    Ok(ExitCode::FAILURE)
}
