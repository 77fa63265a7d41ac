//! The llama-server command line for a profile: the exact argv the replaced tool's
//! Dockerfile CMD built, in its order and with its defaults (so an existing profile runs
//! the server it ran before), but as separate words that never pass
//! through a shell (so quoted JSON in EXTRA_ARGS stays one argument).

use std::path::{Path, PathBuf};

use super::profiles::{DEFAULT_CTX_SIZE, Profile};
use super::settings::{BackendKind, Network, Settings};

/// The defaults applied when a profile leaves a key out: the replaced tool's compose file's,
/// so existing profiles keep their meaning.
pub mod defaults {
    pub const N_GPU_LAYERS: &str = "auto";
    pub const SPLIT_MODE: &str = "layer";
    pub const MAIN_GPU: &str = "0";
    pub const FLASH_ATTN: &str = "1";
    pub const KV_CACHE_TYPE: &str = "q8_0";
    pub const FIT: &str = "on";
    pub const FIT_TARGET: &str = "128,1024";
}

/// Where the server finds models and which address it listens on; depends on the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchContext {
    /// The folder MODEL is relative to, as the server sees it.
    pub models_root: PathBuf,
    pub host: String,
    pub port: u16,
}

impl LaunchContext {
    pub fn for_settings(settings: &Settings) -> Self {
        let server = &settings.server;
        match settings.backend {
            BackendKind::Process => Self {
                models_root: settings.models_dir.clone(),
                host: server.host.clone(),
                port: server.port,
            },
            BackendKind::Docker => Self {
                models_root: PathBuf::from("/models"),
                // Behind a published port the server must listen on the container's own
                // interface; the publish binds the host side to `server.host` only.
                host: match server.network {
                    Network::Bridge => "0.0.0.0".to_string(),
                    Network::Host => server.host.clone(),
                },
                port: server.port,
            },
        }
    }
}

/// The server's arguments, without the program name.
pub fn server_args(profile: &Profile, ctx: &LaunchContext) -> Vec<String> {
    let get = |key: &str, default: &str| profile.get(key).unwrap_or(default).to_string();
    let model = model_path(&ctx.models_root, profile.model());
    let mut args = vec![
        "--model".to_string(),
        model.to_string_lossy().into_owned(),
        "--ctx-size".into(),
        profile
            .get("CTX_SIZE")
            .map_or_else(|| DEFAULT_CTX_SIZE.to_string(), str::to_string),
        "--n-gpu-layers".into(),
        get("N_GPU_LAYERS", defaults::N_GPU_LAYERS),
        "--host".into(),
        ctx.host.clone(),
        "--port".into(),
        ctx.port.to_string(),
        "--split-mode".into(),
        get("SPLIT_MODE", defaults::SPLIT_MODE),
    ];
    if let Some(split) = profile.get("TENSOR_SPLIT") {
        args.extend(["--tensor-split".into(), split.to_string()]);
    }
    args.extend(["--main-gpu".into(), get("MAIN_GPU", defaults::MAIN_GPU)]);
    // Only exactly "1" turns it on, anything else leaves llama-server's default: profiles
    // written for the replaced tool rely on that rule.
    if get("FLASH_ATTN", defaults::FLASH_ATTN) == "1" {
        args.extend(["--flash-attn".into(), "on".into()]);
    }
    args.extend([
        "--cache-type-k".into(),
        get("KV_CACHE_TYPE_K", defaults::KV_CACHE_TYPE),
        "--cache-type-v".into(),
        get("KV_CACHE_TYPE_V", defaults::KV_CACHE_TYPE),
        "--fit".into(),
        get("FIT", defaults::FIT),
    ]);
    if let Some(target) = Some(get("FIT_TARGET", defaults::FIT_TARGET)).filter(|t| !t.is_empty()) {
        args.extend(["--fit-target".into(), target]);
    }
    if let Some(fit_ctx) = profile.get("FIT_CTX") {
        args.extend(["--fit-ctx".into(), fit_ctx.to_string()]);
    }
    // Last, so its flags override the ones above (llama-server keeps the last value).
    args.extend(profile.extra_args_words().unwrap_or_default());
    args
}

fn model_path(root: &Path, model: &str) -> PathBuf {
    root.join(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;

    fn profile(body: &str) -> Profile {
        parse(
            &format!("[p]\nMODEL=org/m.gguf\n{body}"),
            Path::new("m.conf"),
        )
        .unwrap()
        .profiles
        .remove(0)
    }

    fn docker() -> LaunchContext {
        LaunchContext {
            models_root: "/models".into(),
            host: "0.0.0.0".into(),
            port: 8080,
        }
    }

    #[test]
    fn defaults_match_the_original_cmd() {
        assert_eq!(
            server_args(&profile(""), &docker()),
            [
                "--model",
                "/models/org/m.gguf",
                "--ctx-size",
                "131072",
                "--n-gpu-layers",
                "auto",
                "--host",
                "0.0.0.0",
                "--port",
                "8080",
                "--split-mode",
                "layer",
                "--main-gpu",
                "0",
                "--flash-attn",
                "on",
                "--cache-type-k",
                "q8_0",
                "--cache-type-v",
                "q8_0",
                "--fit",
                "on",
                "--fit-target",
                "128,1024",
            ]
        );
    }

    #[test]
    fn every_key_lands_in_its_place() {
        let p = profile(
            "CTX_SIZE=262144\nN_GPU_LAYERS=40\nFIT=off\nFIT_TARGET=256,2048\nFIT_CTX=65536\nSPLIT_MODE=row\nTENSOR_SPLIT=3,1\nMAIN_GPU=1\nFLASH_ATTN=0\nKV_CACHE_TYPE_K=f16\nKV_CACHE_TYPE_V=q4_0\nEXTRA_ARGS=--jinja -np 1\n",
        );
        assert_eq!(
            server_args(&p, &docker()),
            [
                "--model",
                "/models/org/m.gguf",
                "--ctx-size",
                "262144",
                "--n-gpu-layers",
                "40",
                "--host",
                "0.0.0.0",
                "--port",
                "8080",
                "--split-mode",
                "row",
                "--tensor-split",
                "3,1",
                "--main-gpu",
                "1",
                "--cache-type-k",
                "f16",
                "--cache-type-v",
                "q4_0",
                "--fit",
                "off",
                "--fit-target",
                "256,2048",
                "--fit-ctx",
                "65536",
                "--jinja",
                "-np",
                "1",
            ]
        );
    }

    #[test]
    fn quoted_json_stays_one_argument_and_comes_last() {
        let p = profile(
            "EXTRA_ARGS=--split-mode none --chat-template-kwargs '{\"enable_thinking\": false}'\n",
        );
        let args = server_args(&p, &docker());
        assert_eq!(
            &args[args.len() - 4..],
            [
                "--split-mode",
                "none",
                "--chat-template-kwargs",
                "{\"enable_thinking\": false}"
            ]
        );
    }

    #[test]
    fn process_backend_uses_the_models_dir_and_configured_host() {
        let mut settings = Settings {
            backend: BackendKind::Process,
            models_dir: "/srv/models".into(),
            ..Default::default()
        };
        settings.server.port = 18080;
        let ctx = LaunchContext::for_settings(&settings);
        let args = server_args(&profile(""), &ctx);
        assert_eq!(args[1], "/srv/models/org/m.gguf");
        assert_eq!(args[7], "127.0.0.1");
        assert_eq!(args[9], "18080");
    }

    #[test]
    fn docker_host_network_listens_on_the_configured_host() {
        let mut settings = Settings::default();
        settings.server.network = Network::Host;
        let ctx = LaunchContext::for_settings(&settings);
        assert_eq!(ctx.host, "127.0.0.1");
        assert_eq!(ctx.models_root, PathBuf::from("/models"));
        settings.server.network = Network::Bridge;
        assert_eq!(LaunchContext::for_settings(&settings).host, "0.0.0.0");
    }
}
