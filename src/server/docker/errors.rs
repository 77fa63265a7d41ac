//! Engine API errors, turned into messages that say what to do.

use bollard::errors::Error;

use crate::config::Settings;
use crate::server::backend::BackendError;

pub fn explain(err: &Error, settings: &Settings) -> BackendError {
    let server = &settings.server;
    let text = match err {
        Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let lower = text.to_lowercase();
    if lower.contains("could not select device driver")
        || lower.contains("nvidia-container-cli")
        || lower.contains("unknown or invalid runtime name: nvidia")
    {
        return BackendError::Failed(format!(
            "Docker cannot give the container GPUs: the NVIDIA container runtime is missing ({text}). Install nvidia-container-toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker`, then restart Docker; or set [server] gpus = \"none\" in llws.toml to run on the CPU"
        ));
    }
    if lower.contains("no such image") {
        return BackendError::Failed(format!(
            "the image `{}` is not built: build it with `docker build -f Dockerfile.llama -t {} .` (see docs/docker.md), or set [server] image",
            server.image, server.image
        ));
    }
    if lower.contains("port is already allocated") || lower.contains("address already in use") {
        return BackendError::Failed(format!(
            "port {} is already in use ({text}): stop what uses it, or set [server] port in llws.toml",
            server.port
        ));
    }
    if lower.contains("is already in use by container") {
        return BackendError::Failed(format!(
            "the container name `{}` is taken ({text}): remove that container, or set [server] container",
            server.container
        ));
    }
    if matches!(err, Error::DockerResponseServerError { .. }) {
        return BackendError::Failed(format!("Docker refused: {text}"));
    }
    BackendError::Unreachable(format!("Docker daemon error: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(message: &str) -> Error {
        Error::DockerResponseServerError {
            status_code: 500,
            message: message.into(),
        }
    }

    #[test]
    fn a_missing_nvidia_runtime_says_how_to_fix_it() {
        let e = explain(
            &server_error("could not select device driver \"nvidia\" with capabilities: [[gpu]]"),
            &Settings::default(),
        );
        let text = e.to_string();
        assert!(
            text.contains("nvidia-container-toolkit") && text.contains("gpus = \"none\""),
            "{text}"
        );
    }

    #[test]
    fn a_missing_image_says_how_to_build_it() {
        let text = explain(
            &server_error("No such image: llws/llama-server:cuda"),
            &Settings::default(),
        )
        .to_string();
        assert!(text.contains("docker build -f Dockerfile.llama"), "{text}");
    }
}
