//! Carries out the app's [`Effect`]s: keys and scrolls to the claude pane, commands to the
//! controller, file reads off the loop, copies for the terminal. It never touches the app:
//! whatever an effect answers (the controller accepting or refusing a switch, the outcome
//! of a load, the models' sizes) comes back as a [`Msg`] on one channel, which the event
//! loop hands to [`crate::ui::app::App::update`] like any other input.

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::pty::term::Outbound;
use crate::server::handle::Pending;
use crate::server::{ControlError, ControllerHandle, Outcome};
use crate::ui::action::{Effect, Request};
use crate::ui::msg::{Msg, Reply};
use crate::ui::panes::claude::ClaudePane;
use crate::ui::passthrough;
use crate::ui::picker::model_facts;

pub struct Runner {
    controller: ControllerHandle,
    models_dir: PathBuf,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Runner {
    /// A runner for `controller`, and the receiving end of the messages its effects answer
    /// with. Must run inside the tokio runtime (answers are awaited on tasks).
    pub fn new(
        controller: ControllerHandle,
        models_dir: PathBuf,
    ) -> (Runner, mpsc::UnboundedReceiver<Msg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Runner {
                controller,
                models_dir,
                tx,
            },
            rx,
        )
    }

    fn post(&self, msg: Msg) {
        if let Msg::Controller(..) = msg {
            tracing::info!("{}", msg.describe());
        }
        // The receiver lives as long as the loop; after it, nobody is left to tell.
        let _ = self.tx.send(msg);
    }

    /// Carries out `effects` in order. Bytes for the user's terminal (a copy's OSC 52)
    /// are added to `out`, which the loop writes between frames.
    pub fn run(&self, effects: Vec<Effect>, claude: &mut ClaudePane, out: &mut Vec<Outbound>) {
        for effect in effects {
            match effect {
                Effect::ClaudeKey(key) => claude.handle_key(&key),
                Effect::ClaudePaste(text) => claude.paste(&text),
                Effect::ClaudeScroll(scroll) => claude.scroll(scroll),
                Effect::ClaudeMouse(ev, inner) => {
                    claude.handle_mouse(&ev, inner);
                }
                Effect::RestartClaude => self.post(Msg::ClaudeRestarted(claude.restart())),
                Effect::Control(request) => self.control(request),
                Effect::LoadModelSizes => self.load_model_facts(),
                Effect::Copy(text) => out.push(passthrough::copy(&text)),
            }
        }
    }

    /// Sends `request` to the controller; its answers come back as [`Msg::Controller`].
    fn control(&self, request: Request) {
        tracing::info!("to the controller: {request:?}");
        let c = &self.controller;
        match &request {
            Request::Switch(id) => self.pending(request.clone(), c.begin_switch(id)),
            Request::RestartServer => self.pending(request, c.begin_restart()),
            Request::ResolveForeign(action) => {
                let answer = c.begin_resolve_foreign(*action);
                self.pending(request, answer)
            }
            Request::StopServer => {
                // A stop is never refused (it cancels a load in flight), so it is awaited
                // whole.
                let c = c.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let outcome = c.stop().await;
                    let _ = tx.send(Msg::Controller(request, Reply::Done(outcome)));
                });
            }
            Request::KeepWaiting => {
                let reply = match c.keep_waiting() {
                    Ok(at) => Reply::WaitsUntil(at),
                    Err(e) => Reply::Refused(e),
                };
                self.post(Msg::Controller(request, reply));
            }
        }
    }

    /// The answer to a command the controller decides on at once, then its outcome.
    fn pending(&self, request: Request, answer: Result<Pending, ControlError>) {
        match answer {
            Ok(pending) => {
                self.post(Msg::Controller(request.clone(), Reply::Accepted));
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let outcome: Result<Outcome, ControlError> = pending.outcome().await;
                    let _ = tx.send(Msg::Controller(request, Reply::Done(outcome)));
                });
            }
            Err(e) => self.post(Msg::Controller(request, Reply::Refused(e))),
        }
    }

    /// The picker's facts: load times from the controller's memory at once, sizes and
    /// samplers from the model files on the blocking pool.
    fn load_model_facts(&self) {
        let set = self.controller.profiles().set;
        let loads = set
            .profiles
            .iter()
            .filter_map(|p| {
                self.controller
                    .estimate_ms(&p.id)
                    .map(|ms| (p.id.clone(), ms))
            })
            .collect();
        self.post(Msg::LoadTimes(loads));
        let dir = self.models_dir.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(Msg::ModelFacts(model_facts(&dir, &set)));
        });
    }
}
