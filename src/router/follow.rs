//! Follow mode (`[router] follow_model`): the request's `model` picks the profile, by id or
//! by an ALIASES name. A name that matches nothing is served by the running model (said
//! once per name in the log), never refused and never a switch.

use super::gate::Shared;

/// The `model` field of a JSON request body, if it has one.
pub fn model_field(body: &[u8]) -> Option<String> {
    // Only a JSON object has a `model`; other bodies are not parsed at all.
    let first = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[first] != b'{' {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Model {
        model: Option<String>,
    }
    serde_json::from_slice::<Model>(body).ok()?.model
}

/// The profile a request needs, in follow mode; `None` takes the running model.
pub fn target(shared: &Shared, model: Option<&str>) -> Option<String> {
    if !shared.settings.router.follow_model {
        return None;
    }
    let model = model?;
    let view = shared.ctl.profiles();
    match view.set.resolve(model) {
        Some(profile) => Some(profile.id.clone()),
        None => {
            if shared.first_unknown(model) {
                shared.ctl.logs().note(format!(
                    "llws router: model `{model}` names no profile or alias; the running model serves it"
                ));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_model_field() {
        assert_eq!(
            model_field(br#" {"model":"tiny-a","messages":[]}"#).as_deref(),
            Some("tiny-a")
        );
        assert_eq!(model_field(b"{\"messages\":[]}"), None);
        assert_eq!(model_field(b"not json"), None);
    }
}
