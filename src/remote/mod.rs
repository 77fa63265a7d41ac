//! Other machines' llws (`[[remote]]` in llws.toml): the SSH tunnel that reaches one
//! (`tunnel.rs`). Reading a remote's API goes through `api::client` like any llws's.

pub mod tunnel;

pub use tunnel::{Backoff, Tunnel, TunnelPlan, TunnelState};
