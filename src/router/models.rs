//! `GET /v1/models` through the router: the profiles (the running one marked, aliases
//! listed), in OpenAI's shape, or Anthropic's when the request carries `anthropic-version`.

use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::gate::Shared;
use super::{Body, full};
use crate::server::state::Phase;

pub fn answer(shared: &Shared, headers: &HeaderMap) -> hyper::Response<Body> {
    let state = shared.ctl.state();
    let running = (state.phase == Phase::Running)
        .then_some(state.profile.clone())
        .flatten();
    let created = state.running_since_ms.unwrap_or(0) / 1000;
    let view = shared.ctl.profiles();
    let entries: Vec<(String, String, bool, Vec<String>)> = view
        .set
        .production()
        .map(|p| {
            (
                p.id.clone(),
                p.display_name().to_string(),
                running.as_deref() == Some(p.id.as_str()),
                p.aliases().into_iter().map(str::to_string).collect(),
            )
        })
        .collect();
    let body: Value = if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = entries
            .iter()
            .map(|(id, name, running, aliases)| {
                json!({
                    "type": "model", "id": id, "display_name": name,
                    "created_at": "1970-01-01T00:00:00Z",
                    "running": running, "aliases": aliases,
                })
            })
            .collect();
        json!({
            "data": data,
            "has_more": false,
            "first_id": entries.first().map(|e| e.0.clone()),
            "last_id": entries.last().map(|e| e.0.clone()),
        })
    } else {
        let data: Vec<Value> = entries
            .iter()
            .map(|(id, name, running, aliases)| {
                json!({
                    "id": id, "object": "model", "created": if *running { created } else { 0 },
                    "owned_by": "llws", "name": name, "running": running, "aliases": aliases,
                })
            })
            .collect();
        json!({"object": "list", "data": data})
    };
    let mut response = hyper::Response::new(full(body.to_string()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
