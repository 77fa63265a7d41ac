//! Docker Engine access shared by the server's Docker backend (`crate::server::docker`)
//! and the monitors (the container's stats): where the daemon is and how to connect.

pub mod connect;
