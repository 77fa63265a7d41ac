//! The command line: every mode and subcommand, with `--help` on each.
//!
//! clap turns the doc comments below into `--help` text, where `[claude]` names a settings
//! table, not an intra-doc link; rustdoc's link check would have them escaped, which
//! `--help` would then show.
#![allow(rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "llws",
    version,
    about = "A terminal workspace for local LLMs: llama-server, Claude Code, GPU and logs in one screen",
    long_about = "llws runs llama-server (in Docker or as a native process) from the profiles in \
models.conf, with Claude Code in a terminal pane beside the server log, GPU and system panels, \
and a model picker. Without a subcommand it opens the workspace; PROFILE starts that profile.",
    after_help = "Settings are read from --config, $LLWS_CONFIG, ./llws.toml, then ~/.config/llws/llws.toml.\n`llws config` prints every setting with its default."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The profile to start in the workspace (an id from models.conf).
    pub profile: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct GlobalArgs {
    /// Settings file (overrides $LLWS_CONFIG, ./llws.toml and the XDG config dir).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// models.conf to use instead of the one named in the settings.
    #[arg(long = "models", global = true, value_name = "FILE")]
    pub models: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the model profiles.
    Models {
        /// Print the JSON shape GET /models serves.
        #[arg(long)]
        json: bool,
        /// Include the bench-* profiles.
        #[arg(long)]
        all: bool,
    },
    /// Validate models.conf, llws.toml, the keymap and the theme; exit 1 on any error.
    Check,
    /// Print the llama-server arguments a profile produces.
    Args {
        profile: String,
        /// A JSON array of strings, without the program name.
        #[arg(long)]
        json: bool,
    },
    /// Print (or write) the .env a profile gives docker compose.
    Env {
        profile: String,
        /// Write it to .env next to models.conf instead of printing it.
        #[arg(long)]
        write: bool,
    },
    /// Check what the real thing needs (Docker, NVIDIA runtime, NVML, bwrap, claude, model
    /// files) and say how to fix what is missing.
    Doctor,
    /// Print the effective settings as TOML, defaults included.
    Config,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Start a profile's server (and with --logs, follow its log until Ctrl-C).
    Up {
        profile: String,
        /// Follow the server log in the foreground; Ctrl-C stops the server.
        #[arg(long)]
        logs: bool,
        #[command(flatten)]
        foreign: ForeignFlags,
        /// Print server log lines as they are; by default a terminal gets them without
        /// escape sequences and control characters (a log line can carry bytes anyone chose).
        #[arg(long)]
        raw: bool,
    },
    /// Stop the server llws started (the container or the native process).
    Down,
    /// Run the controller and the management API without a screen.
    Serve {
        /// Start this profile at once.
        #[arg(long)]
        profile: Option<String>,
        #[command(flatten)]
        foreign: ForeignFlags,
        /// Print the server log to stdout too.
        #[arg(long)]
        logs: bool,
        /// Print server log lines as they are; by default a terminal gets them without
        /// escape sequences and control characters (a log line can carry bytes anyone chose).
        #[arg(long)]
        raw: bool,
    },
    /// Ask a running llws for its state.
    Status {
        #[arg(long)]
        json: bool,
        /// Ask a [[remote]] of llws.toml instead (through its ssh tunnel, if it has one).
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
    },
    /// Ask a running llws to switch to a profile (`ID@NAME`: a [[remote]]'s, through this
    /// machine's llws, which stops the server that served until then).
    Switch {
        profile: String,
        /// Return as soon as the switch has started.
        #[arg(long)]
        no_wait: bool,
        /// Ask a [[remote]] of llws.toml directly (PROFILE is its id there); this machine's
        /// server is not touched.
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
    },
    /// Ask a running llws to stop its server.
    Stop,
    /// Print the server log a running llws keeps (the workspace or `llws serve`).
    Logs {
        /// How many of the last kept lines to print first.
        #[arg(long, short = 'n', default_value_t = 100)]
        tail: usize,
        /// Keep printing new lines as they come, until Ctrl-C or the llws goes away.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print a [[remote]]'s server log (through its ssh tunnel, if it has one).
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
        /// Print server log lines as they are; by default a terminal gets them without
        /// escape sequences and control characters (a log line can carry bytes anyone chose).
        #[arg(long)]
        raw: bool,
    },
    /// Ask a running llws to keep waiting for the model that is loading: pushes its health
    /// timeout back by another `health_timeout_s` (the original's "continue anyway").
    KeepWaiting,
    /// Check the running server: a short prompt and a 100+ token prompt, then the log for
    /// CUDA errors (run it after every llama.cpp update: short prompts alone hid crashes).
    Selftest {
        /// Print server log lines as they are; by default a terminal gets them without
        /// escape sequences and control characters (a log line can carry bytes anyone chose).
        #[arg(long)]
        raw: bool,
    },
    /// Print GPU and system samples (a gpustat-like tool; no server needed).
    Monitor {
        /// One sample, then exit.
        #[arg(long)]
        once: bool,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also time each NVML call (median of N, default 30), for scripts/gpu-check.
        #[arg(long, hide = true, value_name = "N", num_args = 0..=1, default_missing_value = "30")]
        timings: Option<usize>,
    },
    /// Run claude-local against the local server, sandboxed per settings.
    #[command(
        after_help = "It waits for llama-server's /health to say ready, then starts Claude Code with \
CLAUDE_CONFIG_DIR, ANTHROPIC_BASE_URL and the model variables set. With [claude] sandbox = \"fs\" or \
\"strict\" it runs under bubblewrap and fails when bubblewrap cannot run, unless --unsandboxed."
    )]
    Claude {
        /// Run without the sandbox this time, whatever [claude] sandbox says.
        #[arg(long)]
        unsandboxed: bool,
        /// Seed the config dir (settings.json, CLAUDE.md, the project-setup skill, the VS Code
        /// ide link, onboarding and trust for the project in .claude.json), then exit.
        #[arg(long)]
        setup: bool,
        /// Arguments passed to claude.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Trust a settings file or models.conf that is not your own, so llws reads it.
    #[command(
        long_about = "llws reads ./llws.toml, and a models.conf that your own settings (--config, \
$LLWS_CONFIG, ~/.config/llws/llws.toml) or --models do not name, only once you trust it: such a file \
may come with a cloned repository, or from the agent in the claude pane, and it chooses programs llws \
starts. Trust is kept in the XDG data dir (~/.local/share/llws/trusted.toml) with the file's SHA-256: \
an edited file is untrusted again.\n\nWithout FILE, trusts this folder's llws.toml and the models.conf \
llws would use here. Before trusting, it prints what the file makes llws run."
    )]
    Trust {
        /// The file to trust (default: ./llws.toml and the models.conf in use here).
        file: Option<PathBuf>,
        /// List the trusted files and whether each is unchanged.
        #[arg(long, conflicts_with = "file")]
        list: bool,
    },
    /// Stop trusting a file.
    Untrust { file: PathBuf },
    #[command(flatten)]
    Internal(InternalCommand),
}

/// Hidden commands llws runs itself (inside the claude pane and the sandbox).
#[derive(Debug, Subcommand)]
pub enum InternalCommand {
    /// Wait for llama-server, then exec claude with the claude-local environment.
    #[command(name = "__claude-local", hide = true)]
    ClaudeLocal {
        #[arg(long)]
        base_url: Option<String>,
        #[arg(long)]
        config_dir: Option<PathBuf>,
        #[arg(long)]
        model: Option<String>,
        /// llws's management API: while waiting, the time shown is its switch's.
        #[arg(long)]
        api_url: Option<String>,
        /// The profiles Claude Code's opus, sonnet and haiku names stand for.
        #[arg(long)]
        opus: Option<String>,
        #[arg(long)]
        sonnet: Option<String>,
        #[arg(long)]
        haiku: Option<String>,
        /// Unsandboxed: first show what a sandboxed session changed in the config dir.
        #[arg(long)]
        review_config: bool,
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Check bubblewrap, then exec it around CMD (asking what to do when it cannot run).
    #[command(name = "__sandbox", hide = true)]
    Sandbox(Box<SandboxArgs>),
    /// Inside a strict sandbox: forward loopback ports to unix sockets, run CMD.
    #[command(name = "__sandbox-forward", hide = true)]
    SandboxForward {
        /// Scope the sandbox with Landlock first: no abstract unix sockets or signals out.
        #[arg(long)]
        scope: bool,
        /// ADDR=SOCKET-PATH
        #[arg(long)]
        listen: Vec<String>,
        /// LOCK-DIR=SOCKET-PATH: listen on the ports VS Code's lock files announce.
        #[arg(long)]
        ide_dir: Option<String>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// One terminal pane full screen (CMD, or the claude pane's command). Ctrl+\ quits.
    #[command(name = "__pane", hide = true)]
    Pane {
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// A kept server's output (stdin) into its capped log file, until the server exits.
    #[command(name = "__log-relay", hide = true)]
    LogRelay {
        #[arg(long)]
        path: PathBuf,
        #[arg(long)]
        max_bytes: u64,
    },
}

/// `__sandbox`'s arguments: the plan the outer llws made (see `claude::sandbox::Plan`).
#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[arg(long, value_parser = ["fs", "strict"])]
    pub mode: String,
    #[arg(long)]
    pub project: PathBuf,
    #[arg(long)]
    pub writable: Vec<PathBuf>,
    /// A folder bound back read-only into the emptied home.
    #[arg(long)]
    pub read_only: Vec<PathBuf>,
    /// llws's own file: read-only inside, even in a writable folder.
    #[arg(long)]
    pub protect: Vec<PathBuf>,
    /// A unix socket to cover where it would still be visible.
    #[arg(long)]
    pub hide: Vec<PathBuf>,
    /// An environment variable to pass in besides the allowlist.
    #[arg(long)]
    pub keep_env: Vec<String>,
    /// fs: a network namespace of its own (no Landlock scoping on this kernel).
    #[arg(long)]
    pub own_network: bool,
    #[arg(long)]
    pub bridge_dir: Option<PathBuf>,
    /// ADDR=SOCKET-NAME, a port to bridge in strict mode.
    #[arg(long)]
    pub forward: Vec<String>,
    /// strict: VS Code's lock folder, served by the bridge's ide socket.
    #[arg(long)]
    pub ide_dir: Option<PathBuf>,
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// What `llws up` and `llws serve --profile` do about a server llws did not start that is in
/// the way: a container with llws's container name but not its labels (from docker
/// compose), or a program on the port. Without a flag, a terminal is asked; otherwise
/// nothing is touched and the start fails, naming what is there.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct ForeignFlags {
    /// Stop that server (and remove its container), then start the profile. A program on
    /// the port is stopped only when it is a llama-server of this user.
    #[arg(long, conflicts_with = "adopt")]
    pub replace: bool,
    /// Take that container over as it runs (only when it runs llws's [server] image).
    #[arg(long)]
    pub adopt: bool,
}
