//! The Docker backend: llama-server in a container, through the Engine API (bollard).

pub mod connect;
