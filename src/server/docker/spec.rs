//! The container llws creates for a profile, as the Engine API request body.
//!
//! Kept apart from the I/O so every choice is unit-tested: the argv as the command (the
//! image's entrypoint is llama-server; no shell), labels that mark the container as llws's,
//! the models folder read-only at /models, the port on 127.0.0.1 only (or host networking),
//! GPUs through an NVIDIA device request, an init process, and no restart policy.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};

use crate::config::Settings;
use crate::config::settings::{GpuSelection, Network};
use crate::server::backend::LaunchSpec;

/// Every container llws creates carries this label; adoption and cleanup look for it.
pub const LABEL_MANAGED: &str = "llws.managed";
pub const LABEL_PROFILE: &str = "llws.profile";
pub const LABEL_PROFILE_NAME: &str = "llws.profile_name";
pub const LABEL_PORT: &str = "llws.port";

pub fn container_body(settings: &Settings, spec: &LaunchSpec) -> ContainerCreateBody {
    let server = &settings.server;
    let port_key = format!("{}/tcp", spec.port);
    let mut host_config = HostConfig {
        binds: Some(vec![format!(
            "{}:/models:ro",
            settings.models_dir.display()
        )]),
        // Reaps zombies and forwards SIGTERM, as `docker run --init` does.
        init: Some(true),
        // llws supervises: a Docker restart policy would turn a crash into a hidden loop.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        device_requests: gpu_requests(&server.gpu_selection()),
        ..Default::default()
    };
    let mut exposed_ports = None;
    match server.network {
        Network::Host => host_config.network_mode = Some("host".into()),
        Network::Bridge => {
            host_config.port_bindings = Some(HashMap::from([(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(publish_ip(&server.host)),
                    host_port: Some(spec.port.to_string()),
                }]),
            )]));
            exposed_ports = Some(vec![port_key]);
        }
    }
    ContainerCreateBody {
        image: Some(server.image.clone()),
        cmd: Some(spec.args.clone()),
        labels: Some(HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_PROFILE.to_string(), spec.profile.clone()),
            (LABEL_PROFILE_NAME.to_string(), spec.profile_name.clone()),
            (LABEL_PORT.to_string(), spec.port.to_string()),
        ])),
        exposed_ports,
        // CUDA numbers GPUs fastest-first unless told otherwise; PCI order matches NVML,
        // nvidia-smi and the GPU panel, so `CUDA0` in the log and FIT_TARGET's first value
        // mean the GPU llws shows first.
        env: Some(vec!["CUDA_DEVICE_ORDER=PCI_BUS_ID".to_string()]),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// The host address the port is published on: the configured host, loopback by default.
/// (The original compose file published on every interface while its docs said localhost.)
fn publish_ip(host: &str) -> String {
    match host {
        "" | "localhost" => "127.0.0.1".into(),
        h => h.trim_start_matches('[').trim_end_matches(']').into(),
    }
}

fn gpu_requests(selection: &GpuSelection) -> Option<Vec<DeviceRequest>> {
    let request = |count: Option<i64>, ids: Option<Vec<String>>| DeviceRequest {
        driver: Some("nvidia".into()),
        count,
        device_ids: ids,
        capabilities: Some(vec![vec!["gpu".into()]]),
        options: None,
    };
    match selection {
        GpuSelection::None => None,
        // -1 is the API's "all GPUs", what `--gpus all` sends.
        GpuSelection::All => Some(vec![request(Some(-1), None)]),
        GpuSelection::Devices(ids) => Some(vec![request(
            None,
            Some(ids.iter().map(u32::to_string).collect()),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LaunchSpec {
        LaunchSpec {
            profile: "glm".into(),
            profile_name: "GLM Flash".into(),
            args: vec![
                "--model".into(),
                "/models/a b.gguf".into(),
                "--port".into(),
                "8080".into(),
            ],
            host: "127.0.0.1".into(),
            port: 8080,
            model_files: Vec::new(),
        }
    }

    fn settings() -> Settings {
        Settings {
            models_dir: "/data/models".into(),
            ..Settings::default()
        }
    }

    #[test]
    fn bridge_publishes_on_loopback_only_with_all_gpus() {
        let body = container_body(&settings(), &spec());
        assert_eq!(body.image.as_deref(), Some("llws/llama-server:cuda"));
        assert_eq!(
            body.cmd.as_ref().unwrap()[1],
            "/models/a b.gguf",
            "argv words, no shell"
        );
        assert!(
            body.entrypoint.is_none(),
            "the image's llama-server entrypoint is kept"
        );
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_MANAGED], "true");
        assert_eq!(labels[LABEL_PROFILE], "glm");
        assert_eq!(body.exposed_ports, Some(vec!["8080/tcp".to_string()]));
        assert_eq!(
            body.env,
            Some(vec!["CUDA_DEVICE_ORDER=PCI_BUS_ID".to_string()]),
            "CUDA counts GPUs as NVML does"
        );
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds,
            Some(vec!["/data/models:/models:ro".to_string()])
        );
        assert_eq!(host.init, Some(true));
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::NO)
        );
        assert_eq!(host.network_mode, None);
        let binding = &host.port_bindings.unwrap()["8080/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("8080"));
        let gpus = host.device_requests.unwrap();
        assert_eq!(gpus[0].driver.as_deref(), Some("nvidia"));
        assert_eq!(gpus[0].count, Some(-1));
        assert_eq!(gpus[0].capabilities, Some(vec![vec!["gpu".to_string()]]));
    }

    #[test]
    fn host_network_and_gpu_choices() {
        let mut s = settings();
        s.server.network = Network::Host;
        s.server.gpus = "0,1".into();
        let host = container_body(&s, &spec()).host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert!(host.port_bindings.is_none());
        let gpus = host.device_requests.unwrap();
        assert_eq!(
            gpus[0].device_ids,
            Some(vec!["0".to_string(), "1".to_string()])
        );
        assert_eq!(gpus[0].count, None);
        s.server.gpus = "none".into();
        assert!(
            container_body(&s, &spec())
                .host_config
                .unwrap()
                .device_requests
                .is_none()
        );
    }

    #[test]
    fn the_request_serializes_for_the_engine_api() {
        let json = serde_json::to_value(container_body(&settings(), &spec())).unwrap();
        assert_eq!(json["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert_eq!(
            json["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"],
            "127.0.0.1"
        );
        assert!(json["ExposedPorts"]["8080/tcp"].is_object(), "{json}");
        assert_eq!(json["HostConfig"]["DeviceRequests"][0]["Count"], -1);
    }
}
