//! The bridge from the controller to the monitors: which process is the llama-server.
//! The workspace and `llws serve` both feed the monitors through it.

use tokio::sync::watch;

use super::ServerProcess;
use crate::server::state::ServerState;

/// The server's pid and container, as a `watch` that changes only when they do (the
/// controller's state changes far more often: every step and message). The forwarding
/// task ends when the controller or every reader is gone. Call inside a tokio runtime.
pub fn follow_server(mut state: watch::Receiver<ServerState>) -> watch::Receiver<ServerProcess> {
    let (tx, rx) = watch::channel(process_of(&state.borrow_and_update()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = process_of(&state.borrow_and_update());
                    tx.send_if_modified(|current| {
                        let changed = *current != now;
                        *current = now;
                        changed
                    });
                }
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

fn process_of(state: &ServerState) -> ServerProcess {
    ServerProcess {
        pid: state.pid,
        container_id: state.container_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::BackendKind;
    use crate::server::state::Phase;

    #[tokio::test]
    async fn forwards_pid_changes_and_nothing_else() {
        let (tx, rx) = watch::channel(ServerState::initial(BackendKind::Process));
        let mut follow = follow_server(rx);
        assert_eq!(*follow.borrow_and_update(), ServerProcess::default());

        tx.send_modify(|s| {
            s.phase = Phase::Starting;
            s.pid = Some(42);
        });
        follow.changed().await.unwrap();
        assert_eq!(follow.borrow_and_update().pid, Some(42));

        // A message alone is not a change of process.
        tx.send_modify(|s| s.message = "Loading…".into());
        tx.send_modify(|s| s.pid = None);
        follow.changed().await.unwrap();
        assert_eq!(*follow.borrow_and_update(), ServerProcess::default());
        assert!(!follow.has_changed().unwrap());

        drop(tx);
        assert!(follow.changed().await.is_err(), "ends with the controller");
    }
}
