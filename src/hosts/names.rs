//! How a remote's profiles are named here (`ID@NAME`), and its states, outcomes and
//! profile lists renamed so.

use std::sync::Arc;

use crate::config::{Profile, ProfileSet};
use crate::server::Outcome;
use crate::server::profiles_store::ProfilesView;
use crate::server::state::ServerState;

/// `id` of the remote `host` as this llws names it.
pub fn qualified(id: &str, host: &str) -> String {
    format!("{id}@{host}")
}

/// `ID@NAME` split into the remote's id and the remote's name; `None` for a plain id (a
/// profile of this machine: profile ids cannot hold `@`).
pub fn split_qualified(id: &str) -> Option<(&str, &str)> {
    id.rsplit_once('@')
}

/// `id` as named here: unchanged for this machine (`host` none).
pub fn name_id(id: &str, host: Option<&str>) -> String {
    match host {
        Some(host) => qualified(id, host),
        None => id.to_string(),
    }
}

/// How a host is called in the log and messages.
pub fn host_label(host: Option<&str>) -> String {
    match host {
        Some(name) => format!("remote {name}"),
        None => "this machine".into(),
    }
}

/// A host's state as this llws publishes it: ids named, `host` set, the display names
/// saying the host (so every reader of the name, the status bar among them, shows where
/// the model runs), and a remote's process ids dropped (they mean nothing here).
pub fn name_state(state: &mut ServerState, host: Option<&str>) {
    state.host = host.map(str::to_string);
    let Some(host) = host else { return };
    let name = |id: &mut String| *id = qualified(id, host);
    let on = |n: &mut String| *n = format!("{n} on {host}");
    if let Some(p) = state.profile.as_mut() {
        name(p);
    }
    if let Some(n) = state.profile_name.as_mut() {
        on(n);
    }
    if let Some(s) = state.switch.as_mut() {
        name(&mut s.target);
        on(&mut s.target_name);
    }
    if let Some(p) = state.pending_start.as_mut() {
        name(p);
    }
    if let Some(f) = state.foreign.as_mut() {
        name(&mut f.profile);
    }
    state.pid = None;
    state.container_id = None;
}

/// A host's answer with its ids named.
pub fn name_outcome(outcome: Outcome, host: Option<&str>) -> Outcome {
    let Some(host) = host else { return outcome };
    match outcome {
        Outcome::Running { profile } => Outcome::Running {
            profile: qualified(&profile, host),
        },
        Outcome::AlreadyRunning { profile } => Outcome::AlreadyRunning {
            profile: qualified(&profile, host),
        },
        Outcome::Failed { profile, failure } => Outcome::Failed {
            profile: qualified(&profile, host),
            failure,
        },
        Outcome::Blocked { profile, foreign } => Outcome::Blocked {
            profile: qualified(&profile, host),
            foreign,
        },
        other => other,
    }
}

/// The hosts' profiles as one set, this machine's first: a remote's under `ID@NAME`.
/// The last good set of this machine's models.conf and its error are kept as they are.
pub fn merge(views: &[(Option<&str>, ProfilesView)]) -> ProfilesView {
    let mut profiles: Vec<Profile> = Vec::new();
    let mut path = Default::default();
    let mut warnings = Vec::new();
    let mut error = None;
    for (host, view) in views {
        match host {
            None => {
                path = view.set.path.clone();
                warnings = view.set.warnings.clone();
                error = view.error.clone();
                profiles.extend(view.set.profiles.iter().cloned());
            }
            Some(host) => profiles.extend(view.set.profiles.iter().map(|p| {
                let mut p = p.clone();
                p.id = qualified(&p.id, host);
                p
            })),
        }
    }
    ProfilesView {
        set: Arc::new(ProfileSet {
            path,
            profiles,
            warnings,
        }),
        error,
    }
}

/// Which host a profile of the merged set is on (`None`: this machine).
pub fn host_of(id: &str) -> Option<&str> {
    split_qualified(id).map(|(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::state::ServerState;

    fn view(ids: &[&str]) -> ProfilesView {
        ProfilesView {
            set: Arc::new(ProfileSet {
                path: "models.conf".into(),
                profiles: ids
                    .iter()
                    .map(|id| Profile::served_elsewhere(id.to_string(), &[("NAME", id)]))
                    .collect(),
                warnings: Vec::new(),
            }),
            error: None,
        }
    }

    #[test]
    fn a_remotes_profiles_are_named_after_it_and_this_machines_come_first() {
        let merged = merge(&[
            (None, view(&["a"])),
            (Some("box"), view(&["a", "b"])),
            (Some("rack"), view(&["c"])),
        ]);
        let ids: Vec<&str> = merged.set.profiles.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a", "a@box", "b@box", "c@rack"]);
        assert_eq!(split_qualified("b@box"), Some(("b", "box")));
        assert_eq!(split_qualified("a"), None);
        assert_eq!(host_of("c@rack"), Some("rack"));
        assert_eq!(merged.set.profiles[1].display_name(), "a");
    }

    #[test]
    fn a_remotes_state_carries_its_name_and_no_local_process() {
        let mut state = ServerState::initial(crate::config::settings::BackendKind::Process);
        state.profile = Some("tiny".into());
        state.profile_name = Some("Tiny".into());
        state.pid = Some(42);
        name_state(&mut state, Some("box"));
        assert_eq!(state.profile.as_deref(), Some("tiny@box"));
        assert_eq!(state.profile_name.as_deref(), Some("Tiny on box"));
        assert_eq!(state.host.as_deref(), Some("box"));
        assert_eq!(state.pid, None);
        let mut local = ServerState::initial(crate::config::settings::BackendKind::Process);
        local.profile = Some("tiny".into());
        name_state(&mut local, None);
        assert_eq!(local.profile.as_deref(), Some("tiny"));
        assert_eq!(
            name_outcome(
                Outcome::Running {
                    profile: "tiny".into()
                },
                Some("box")
            ),
            Outcome::Running {
                profile: "tiny@box".into()
            }
        );
    }

    #[test]
    fn hostile_texts_from_a_remote_lose_their_control_characters() {
        let p = Profile::served_elsewhere(
            "x".into(),
            &[("NAME", "\u{1b}[2Jwipe\u{7}"), ("EVIL", "ignored")],
        );
        assert_eq!(p.display_name(), "[2Jwipe");
        assert_eq!(p.entries().len(), 1);
        let long = "n".repeat(10_000);
        let p = Profile::served_elsewhere("x".into(), &[("NAME", &long)]);
        assert_eq!(p.display_name().len(), 200);
    }
}
