//! `llws up` and `llws serve` when a server llws did not start is in the way (the original
//! inventory's item 17; start.sh asked "Stop it and continue? [y/N]"). The controller's
//! blocked outcome says what is there; this asks on a terminal, or takes the answer from
//! `--replace` / `--adopt`, and otherwise says how to answer.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};

use crate::server::foreign::{ForeignAction, ForeignServer};

/// The lines typed on llws's terminal, read by one thread: the keep-waiting offer and the
/// question about a foreign server take turns (two readers would split the lines).
#[derive(Clone)]
pub struct TerminalLines(Arc<Mutex<mpsc::UnboundedReceiver<String>>>);

impl TerminalLines {
    /// Starts reading stdin; call only when it is a terminal.
    pub fn start() -> TerminalLines {
        let (tx, rx) = mpsc::unbounded_channel();
        // A blocking read of stdin has no async form; this thread ends with the process.
        let _ = std::thread::Builder::new()
            .name("llws-stdin".into())
            .spawn(move || {
                for line in std::io::stdin().lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        TerminalLines(Arc::new(Mutex::new(rx)))
    }

    /// The next line typed; `None` once stdin is closed.
    pub async fn next(&self) -> Option<String> {
        self.0.lock().await.recv().await
    }
}

/// What the user chose, from the flag or the prompt.
pub enum Choice {
    /// Go ahead with this.
    Act(ForeignAction),
    /// Leave it: nothing is touched (said on stderr already).
    Leave,
}

/// Decides what to do about `foreign`, which blocked the start of `profile_name`:
/// `flag` (from `--replace`/`--adopt`) when given, else a question on the terminal when
/// there is one (`lines`), else nothing, with the flags named. Every message goes to stderr.
pub async fn choose(
    foreign: &ForeignServer,
    profile_name: &str,
    flag: Option<ForeignAction>,
    lines: Option<&TerminalLines>,
) -> Choice {
    if let Some(action) = flag {
        return match foreign.refusal(action) {
            None => {
                eprintln!(
                    "llws: {}; --{}: llws will {}",
                    foreign.describe(),
                    action.as_str(),
                    foreign.action_label(action)
                );
                Choice::Act(action)
            }
            Some(why) => {
                eprintln!("llws: {}; --{}: {why}", foreign.describe(), action.as_str());
                Choice::Leave
            }
        };
    }
    let offers = foreign.offers();
    let Some(lines) = lines.filter(|_| !offers.is_empty()) else {
        eprintln!(
            "llws: cannot start {profile_name}: {}",
            foreign.blocked_message()
        );
        return Choice::Leave;
    };
    eprintln!("llws: cannot start {profile_name}: {}.", foreign.describe());
    for action in &offers {
        let then = match action {
            ForeignAction::Replace => format!(", then start {profile_name}"),
            ForeignAction::Adopt => " instead of starting another".to_string(),
        };
        eprintln!(
            "  {}  {}{then}",
            key(*action),
            foreign.action_label(*action)
        );
    }
    eprintln!("  n  leave it as it is (the default)");
    let keys: Vec<&str> = offers.iter().map(|a| key(*a)).collect();
    eprint!("Your choice [{}/N]: ", keys.join("/"));
    let answer = lines.next().await.unwrap_or_default();
    match parse_answer(&answer, &offers) {
        Some(action) => Choice::Act(action),
        None => {
            eprintln!("llws: left as it is; nothing was started");
            Choice::Leave
        }
    }
}

fn key(action: ForeignAction) -> &'static str {
    match action {
        ForeignAction::Replace => "r",
        ForeignAction::Adopt => "a",
    }
}

/// `r`/`replace` (or the original's `y`) and `a`/`adopt`, when offered; anything else
/// (Enter included) leaves it.
fn parse_answer(answer: &str, offers: &[ForeignAction]) -> Option<ForeignAction> {
    let action = match answer.trim().to_ascii_lowercase().as_str() {
        "r" | "replace" | "y" | "yes" => ForeignAction::Replace,
        "a" | "adopt" => ForeignAction::Adopt,
        _ => return None,
    };
    offers.contains(&action).then_some(action)
}

/// `--replace` / `--adopt` as an action.
pub fn flag(replace: bool, adopt: bool) -> Option<ForeignAction> {
    match (replace, adopt) {
        (true, _) => Some(ForeignAction::Replace),
        (_, true) => Some(ForeignAction::Adopt),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let both = [ForeignAction::Replace, ForeignAction::Adopt];
        assert_eq!(parse_answer("r\n", &both), Some(ForeignAction::Replace));
        assert_eq!(parse_answer(" Y ", &both), Some(ForeignAction::Replace));
        assert_eq!(parse_answer("adopt", &both), Some(ForeignAction::Adopt));
        assert_eq!(parse_answer("", &both), None);
        assert_eq!(parse_answer("n", &both), None);
        // Not offered: not done.
        assert_eq!(parse_answer("a", &[ForeignAction::Replace]), None);
    }
}
