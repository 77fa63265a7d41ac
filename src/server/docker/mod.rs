//! The Docker backend: llama-server in a container, through the Engine API (bollard).

pub mod connect;

use std::future::Future;

use super::backend::{
    Adopted, Backend, BackendContext, BackendError, LaunchSpec, ServerExit, Started,
};
use crate::config::Settings;
use crate::config::settings::BackendKind;

pub struct DockerBackend {}

impl DockerBackend {
    pub fn new(_settings: &Settings) -> Self {
        Self {}
    }
}

impl Backend for DockerBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }
    fn adopt(
        &mut self,
        _ctx: &BackendContext,
        _generation: u64,
    ) -> impl Future<Output = Result<Option<Adopted>, BackendError>> + Send {
        async { Ok(None) }
    }
    fn start(
        &mut self,
        _spec: &LaunchSpec,
        _ctx: &BackendContext,
        _generation: u64,
    ) -> impl Future<Output = Result<Started, BackendError>> + Send {
        async {
            Err(BackendError::Failed(
                "the Docker backend is being built".into(),
            ))
        }
    }
    fn stop(&mut self) -> impl Future<Output = Result<Option<ServerExit>, BackendError>> + Send {
        async { Ok(None) }
    }
    fn exit_details(&mut self) -> impl Future<Output = Option<ServerExit>> + Send {
        async { None }
    }
    fn detach(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
