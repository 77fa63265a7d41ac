//! Server lifecycle: the backends that run llama-server and the controller that owns them.

pub mod backend;
pub mod controller;
pub mod deadline;
pub mod docker;
pub mod factory;
pub mod foreign;
pub mod handle;
pub mod health;
pub mod load_facts;
pub mod log_file;
pub mod logs;
pub mod oom;
pub mod owner;
pub mod process;
pub mod profiles_store;
pub mod state;
pub mod timings;
pub mod upstream;

pub use factory::spawn_controller;
pub use handle::{ControlError, ControllerHandle, Outcome};
pub use state::{Phase, ServerState};
