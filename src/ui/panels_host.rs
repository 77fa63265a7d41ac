//! Which host the log, GPU and system panes show (this machine or a `[[remote]]`): the
//! one whose server is active, or the one the cycle key chose until the serving host
//! changes; and the note their titles carry, `· NAME`, or `· NAME (stale, last sample
//! 12 s ago)` when a remote's samples stopped coming: never silently frozen.

/// A remote's panes are stale when its last sample is older than this.
pub const STALE_AFTER_MS: u64 = 5_000;

#[derive(Debug, Clone)]
pub struct PanelsHost {
    /// This machine (`None`) first, then the remotes' names.
    hosts: Vec<Option<String>>,
    /// The host the user chose with the cycle key, until the serving host changes.
    pinned: Option<usize>,
    /// The serving host as of the last frame.
    active: usize,
    /// When the shown remote's last sample arrived here (ms since the epoch); `None`:
    /// none yet.
    pub heard_ms: Option<u64>,
}

impl Default for PanelsHost {
    fn default() -> Self {
        Self {
            hosts: vec![None],
            pinned: None,
            active: 0,
            heard_ms: None,
        }
    }
}

impl PanelsHost {
    /// The hosts in the switchboard's order (this machine first).
    pub fn new(hosts: Vec<Option<String>>) -> Self {
        Self {
            hosts: if hosts.is_empty() { vec![None] } else { hosts },
            ..Self::default()
        }
    }

    /// The index of the host shown.
    pub fn shown(&self) -> usize {
        self.pinned.unwrap_or(self.active)
    }

    /// The shown host's name; `None` for this machine.
    pub fn name(&self) -> Option<&str> {
        self.hosts.get(self.shown()).and_then(|h| h.as_deref())
    }

    pub fn count(&self) -> usize {
        self.hosts.len()
    }

    /// The serving host (`host` of the state): the panes follow it when it changes.
    pub fn follow(&mut self, host: Option<&str>) {
        let index = self
            .hosts
            .iter()
            .position(|h| h.as_deref() == host)
            .unwrap_or(0);
        if index != self.active {
            let shown = self.shown();
            self.active = index;
            self.pinned = None;
            // Another host's samples: the last one heard is not this one's.
            if self.shown() != shown {
                self.heard_ms = None;
            }
        }
    }

    /// The next host (the cycle key); back to following the serving one after the last.
    pub fn cycle(&mut self) {
        let next = (self.shown() + 1) % self.hosts.len().max(1);
        self.pinned = (next != self.active).then_some(next);
        self.heard_ms = None;
    }

    /// What the panes' titles add: nothing with one host; the host's name otherwise, with
    /// how old its last sample is once that is too old. The flag says stale.
    pub fn title_note(&self, now_ms: u64) -> Option<(String, bool)> {
        if self.hosts.len() < 2 {
            return None;
        }
        let Some(name) = self.name() else {
            return Some(("this machine".into(), false));
        };
        let name = name.to_string();
        match self.heard_ms {
            None => Some((format!("{name} (stale, no sample yet)"), true)),
            Some(at) if now_ms.saturating_sub(at) > STALE_AFTER_MS => {
                let age = now_ms.saturating_sub(at) / 1000;
                Some((format!("{name} (stale, last sample {age} s ago)"), true))
            }
            Some(_) => Some((name, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panes_follow_the_serving_host_and_the_key_cycles_them() {
        let mut p = PanelsHost::new(vec![None, Some("box".into()), Some("rack".into())]);
        assert_eq!(p.shown(), 0);
        assert_eq!(p.title_note(0), Some(("this machine".into(), false)));
        p.follow(Some("box"));
        assert_eq!(p.name(), Some("box"));
        p.cycle();
        assert_eq!(p.name(), Some("rack"));
        p.cycle();
        assert_eq!(p.name(), None);
        p.cycle();
        // Back on the serving host: following it again.
        assert_eq!(p.name(), Some("box"));
        p.cycle();
        p.follow(Some("box"));
        assert_eq!(
            p.name(),
            Some("rack"),
            "the same serving host keeps the choice"
        );
        p.follow(None);
        assert_eq!(p.name(), None, "a new serving host takes the panes");
    }

    #[test]
    fn a_quiet_remote_is_stale_with_the_age_of_its_last_sample() {
        let mut p = PanelsHost::new(vec![None, Some("box".into())]);
        p.follow(Some("box"));
        assert_eq!(
            p.title_note(10_000),
            Some(("box (stale, no sample yet)".into(), true))
        );
        p.heard_ms = Some(10_000);
        assert_eq!(p.title_note(12_000), Some(("box".into(), false)));
        assert_eq!(
            p.title_note(22_500),
            Some(("box (stale, last sample 12 s ago)".into(), true))
        );
        assert_eq!(PanelsHost::default().title_note(0), None);
    }
}
