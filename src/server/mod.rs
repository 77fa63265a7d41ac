//! Server lifecycle: the backends that run llama-server and the controller that owns them.

pub mod docker;
