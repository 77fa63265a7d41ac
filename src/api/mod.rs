//! The management API (axum) on 127.0.0.1:8081 by default, and the types its clients share.

pub mod types;
