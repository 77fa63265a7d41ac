//! llws: a terminal workspace for running local LLMs with llama-server and Claude Code.
//!
//! See docs/ARCHITECTURE.md for the module map and the data flow.

pub mod api;
pub mod claude;
pub mod cli;
pub mod commands;
pub mod config;
pub mod debug_log;
pub mod docker;
pub mod hosts;
pub mod model;
pub mod monitor;
pub mod pty;
pub mod remote;
pub mod router;
pub mod server;
pub mod ui;
pub mod util;
