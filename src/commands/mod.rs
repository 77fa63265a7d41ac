//! The subcommands: each file turns parsed arguments into work and an exit code.

mod claude;
pub mod client;
mod context;
mod doctor;
mod foreign;
mod internal;
mod kept;
pub(crate) mod monitor;
mod profiles;
pub mod remote;
mod selftest;
mod serve;
mod server;
mod trust;
mod workspace;

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
pub use context::Context;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::debug_log::init();
    let global = cli.global.clone();
    match cli.command {
        None => {
            let ctx = Context::load(&global)?;
            workspace::run(ctx, cli.profile)
        }
        Some(command) => {
            if let Some(profile) = &cli.profile {
                anyhow::bail!(
                    "a profile (`{profile}`) goes either alone (`llws {profile}`) or after a subcommand, not before it"
                );
            }
            match command {
                Command::Completions { shell } => {
                    clap_complete::generate(
                        shell,
                        &mut Cli::command(),
                        "llws",
                        &mut std::io::stdout(),
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Command::Check => profiles::check(&global),
                Command::Trust { file, list } => trust::trust(&global, file, list),
                Command::Untrust { file } => trust::untrust(&file),
                Command::Internal(internal) => internal::run(&global, internal),
                other => {
                    let ctx = Context::load(&global)?;
                    dispatch(ctx, other)
                }
            }
        }
    }
}

fn dispatch(ctx: Context, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Models { json, all } => profiles::models(&ctx, json, all),
        Command::Args { profile, json } => profiles::args(&ctx, &profile, json),
        Command::Env { profile, write } => profiles::env(&ctx, &profile, write),
        Command::Config => {
            print!("{}", ctx.settings.to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => doctor::run(&ctx),
        Command::Up {
            profile,
            logs,
            foreign,
            raw,
        } => {
            crate::util::text::set_raw(raw);
            server::up(
                ctx,
                &profile,
                logs,
                self::foreign::flag(foreign.replace, foreign.adopt),
            )
        }
        Command::Down => server::down(ctx),
        Command::Serve {
            profile,
            logs,
            foreign,
            raw,
        } => {
            crate::util::text::set_raw(raw);
            serve::run(
                ctx,
                profile,
                logs,
                self::foreign::flag(foreign.replace, foreign.adopt),
            )
        }
        Command::Status { json, remote } => match remote {
            Some(name) => remote::status(&ctx, &name, json),
            None => client::status(&ctx, json),
        },
        Command::Switch {
            profile,
            no_wait,
            remote,
        } => match remote {
            Some(name) => remote::switch(&ctx, &name, &profile, no_wait),
            None => client::switch(&ctx, &profile, no_wait),
        },
        Command::Stop => client::stop(&ctx),
        Command::Logs {
            tail,
            follow,
            raw,
            remote,
        } => {
            crate::util::text::set_raw(raw);
            match remote {
                Some(name) => remote::logs(&ctx, &name, tail, follow),
                None => client::logs(&ctx, tail, follow),
            }
        }
        Command::KeepWaiting => client::keep_waiting(&ctx),
        Command::Selftest { raw } => {
            crate::util::text::set_raw(raw);
            selftest::run(&ctx)
        }
        Command::Monitor {
            once,
            json,
            timings,
        } => monitor::run(&ctx, once, json, timings),
        Command::Claude {
            args,
            unsandboxed,
            setup,
        } => claude::run(ctx, args, unsandboxed, setup),
        Command::Check
        | Command::Completions { .. }
        | Command::Internal(_)
        | Command::Trust { .. }
        | Command::Untrust { .. } => {
            unreachable!("handled before loading")
        }
    }
}
