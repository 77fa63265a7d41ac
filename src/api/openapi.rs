//! `GET /openapi.json`: the OpenAPI 3.1 description, kept in docs/openapi.json and compiled
//! in, so the file in the repository is the one served (a test holds it to the router).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

pub async fn handler() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;
    use crate::api::routes;
    use crate::api::types::*;

    fn doc() -> Value {
        serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json is JSON")
    }

    #[test]
    fn describes_exactly_the_routes_the_router_serves() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut described = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                described.insert((method.to_uppercase(), path.clone()));
            }
        }
        let served: BTreeSet<_> = routes()
            .into_iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(described, served);
    }

    #[test]
    fn every_reference_resolves() {
        let text = OPENAPI_JSON;
        let doc = doc();
        for piece in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref to {name}"
            );
        }
    }

    fn check<T: DeserializeOwned + serde::Serialize>(name: &str, example: &Value) {
        let parsed: T = serde_json::from_value(example.clone())
            .unwrap_or_else(|e| panic!("example of {name} does not parse: {e}\n{example:#}"));
        // Nothing in the example is lost or unknown to the type.
        assert_eq!(&serde_json::to_value(parsed).unwrap(), example, "{name}");
    }

    fn keys(value: &Value) -> std::collections::BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    }

    /// The monitor types are only serialised (llws reads no sample back), so an example is
    /// held to the keys the real types write.
    fn check_sample(name: &str, example: &Value) {
        use crate::monitor::{GpuSnapshot, GpuState, MonitorReport, SystemSnapshot};
        let system = SystemSnapshot::default();
        let unavailable = GpuState::Unavailable {
            reason: String::new(),
        };
        let ready = GpuState::Ready(GpuSnapshot {
            gpus: Vec::new(),
            driver_version: None,
            taken_at: std::time::SystemTime::UNIX_EPOCH,
            stale: None,
        });
        let real = serde_json::to_value(MonitorReport::new(&unavailable, &system)).unwrap();
        assert_eq!(keys(example), keys(&real), "{name}");
        assert_eq!(keys(&example["system"]), keys(&real["system"]), "{name}");
        let gpu = &example["gpu"];
        let expected = match gpu["state"].as_str() {
            Some("unavailable") => serde_json::to_value(&unavailable).unwrap(),
            Some("ready") => serde_json::to_value(&ready).unwrap(),
            Some("waiting") => serde_json::to_value(GpuState::Waiting).unwrap(),
            other => panic!("{name}: gpu.state {other:?}"),
        };
        assert_eq!(keys(gpu), keys(&expected), "{name}");
        // A GPU in an example may leave fields out (for brevity), never invent one.
        let fields = keys(&serde_json::to_value(crate::monitor::GpuSample::default()).unwrap());
        for one in gpu["gpus"].as_array().into_iter().flatten() {
            assert!(keys(one).is_subset(&fields), "{name}: {one}");
        }
    }

    /// Every example parses into the type the server serialises and the client reads.
    #[test]
    fn every_example_parses_as_its_type() {
        let doc = doc();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (name, schema) in schemas {
            let examples = schema["examples"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} has no examples"));
            for example in examples {
                match name.as_str() {
                    "SwitchRequest" => assert!(example["model"].is_string()),
                    "ModelInfo" => check::<ModelInfo>(name, example),
                    "ClientAdvice" => check::<ClientAdvice>(name, example),
                    "ModelsResponse" => check::<ModelsResponse>(name, example),
                    "BackendInfo" => check::<BackendInfo>(name, example),
                    "SwitchInfo" => check::<SwitchInfo>(name, example),
                    "FailureInfo" => check::<FailureInfo>(name, example),
                    "TimingsInfo" => check::<TimingsInfo>(name, example),
                    "StatusResponse" => check::<StatusResponse>(name, example),
                    "SwitchResponse" => check::<SwitchResponse>(name, example),
                    "AcceptedResponse" => check::<AcceptedResponse>(name, example),
                    "KeepWaitingResponse" => check::<KeepWaitingResponse>(name, example),
                    "ErrorResponse" => check::<ErrorResponse>(name, example),
                    "HealthResponse" => check::<HealthResponse>(name, example),
                    "LogLineInfo" => check::<LogLineInfo>(name, example),
                    "LogsResponse" => check::<LogsResponse>(name, example),
                    "StepEvent" => check::<StepEvent>(name, example),
                    "NoticeEvent" => check::<NoticeEvent>(name, example),
                    "SkippedEvent" => check::<SkippedEvent>(name, example),
                    "LoadFacts" => check::<crate::server::load_facts::LoadFacts>(name, example),
                    "ForeignInfo" => check::<ForeignInfo>(name, example),
                    "MonitorSample" => check_sample(name, example),
                    "ForeignRequest" => assert!(example["action"].as_str().is_some_and(|a| {
                        a.parse::<crate::server::foreign::ForeignAction>().is_ok()
                    })),
                    "RouterStatus" => check::<crate::router::RouterStatus>(name, example),
                    "ActivityRecord" => check::<crate::router::activity::Record>(name, example),
                    "ActivityResponse" => check::<ActivityResponse>(name, example),
                    other => panic!("schema {other} has no Rust type in this test"),
                }
                // Each example also names exactly the schema's properties.
                if let Some(required) = schema["required"].as_array() {
                    for key in required {
                        assert!(
                            example.get(key.as_str().unwrap()).is_some(),
                            "{name} example lacks {key}"
                        );
                    }
                }
            }
        }
        // Response examples in the paths parse too.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for (code, response) in op["responses"].as_object().unwrap() {
                    let Some(json) = response["content"].get("application/json") else {
                        continue;
                    };
                    let schema = json["schema"]["$ref"].as_str().unwrap_or("");
                    let mut examples: Vec<&Value> = json.get("example").into_iter().collect();
                    if let Some(named) = json["examples"].as_object() {
                        examples.extend(named.values().map(|e| &e["value"]));
                    }
                    for example in examples {
                        let what = format!("{method} {path} {code}");
                        match schema.rsplit('/').next().unwrap() {
                            "ErrorResponse" => check::<ErrorResponse>(&what, example),
                            "StatusResponse" => check::<StatusResponse>(&what, example),
                            "SwitchResponse" => check::<SwitchResponse>(&what, example),
                            "AcceptedResponse" => check::<AcceptedResponse>(&what, example),
                            "KeepWaitingResponse" => check::<KeepWaitingResponse>(&what, example),
                            "ModelsResponse" => check::<ModelsResponse>(&what, example),
                            "LogsResponse" => check::<LogsResponse>(&what, example),
                            "HealthResponse" => check::<HealthResponse>(&what, example),
                            "ActivityResponse" => check::<ActivityResponse>(&what, example),
                            "MonitorSample" => check_sample(&what, example),
                            other => panic!("{what}: example of {other} is not checked"),
                        }
                    }
                }
            }
        }
    }
}
