use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = llws::cli::Cli::parse();
    // Before any socket or terminal is opened: the default 1024 is small for the API, its
    // streams and the sandbox's bridge together.
    llws::util::raise_fd_limit();
    match llws::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("llws: {e:#}");
            ExitCode::FAILURE
        }
    }
}
