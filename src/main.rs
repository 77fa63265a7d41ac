use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = llws::cli::Cli::parse();
    match llws::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("llws: {e:#}");
            ExitCode::FAILURE
        }
    }
}
