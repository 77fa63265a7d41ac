//! The server log: one bounded ring kept across switches, shared by every reader.
//!
//! The UI draws straight from the ring (no second copy); the API and the headless printer
//! subscribe to new lines. History plus subscription is taken under one lock, so a stream
//! never misses or repeats a line between the two.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::broadcast;

use super::state::now_ms;

/// Lines longer than this are cut: a runaway line must not eat the ring's memory budget.
const MAX_LINE_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Stdout,
    Stderr,
    /// Written by llws itself: switch separators, notes.
    Llws,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Increases by one per line for the life of the ring.
    pub seq: u64,
    pub time_ms: u64,
    pub source: Source,
    pub text: String,
}

impl LogLine {
    /// The `--- switching to NAME ---` separator llws writes between runs.
    pub fn is_separator(&self) -> bool {
        self.source == Source::Llws && self.text.starts_with("--- ")
    }
}

struct Inner {
    lines: VecDeque<LogLine>,
    next_seq: u64,
    capacity: usize,
}

pub struct LogRing {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<LogLine>,
}

impl LogRing {
    pub fn new(capacity: usize) -> Arc<Self> {
        let capacity = capacity.max(1);
        let (tx, _) = broadcast::channel(4096);
        Arc::new(Self {
            inner: Mutex::new(Inner {
                lines: VecDeque::with_capacity(capacity.min(8192)),
                next_seq: 0,
                capacity,
            }),
            tx,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the ring inconsistent (every
        // mutation is a single push/pop), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, source: Source, text: impl Into<String>) {
        let mut text: String = text.into();
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …[line cut]");
        }
        let mut inner = self.lock();
        let line = LogLine {
            seq: inner.next_seq,
            time_ms: now_ms(),
            source,
            text,
        };
        inner.next_seq += 1;
        if inner.lines.len() == inner.capacity {
            inner.lines.pop_front();
        }
        inner.lines.push_back(line.clone());
        // Sent under the lock so subscribers see lines in seq order.
        let _ = self.tx.send(line);
    }

    /// Writes llws's own line (separators, notes) into the stream.
    pub fn note(&self, text: impl Into<String>) {
        self.push(Source::Llws, text);
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let inner = self.lock();
        let skip = inner.lines.len().saturating_sub(n);
        inner.lines.iter().skip(skip).cloned().collect()
    }

    /// The last `n` lines' text, for failure reports.
    pub fn tail_text(&self, n: usize) -> Vec<String> {
        self.tail(n).into_iter().map(|l| l.text).collect()
    }

    /// Everything kept, plus a receiver for what comes next, with no gap between them.
    pub fn subscribe_with_history(&self) -> (Vec<LogLine>, broadcast::Receiver<LogLine>) {
        let inner = self.lock();
        let history = inner.lines.iter().cloned().collect();
        (history, self.tx.subscribe())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx.subscribe()
    }

    /// Runs `f` over the kept lines without copying them (the UI's draw path).
    pub fn with_lines<R>(&self, f: impl FnOnce(&VecDeque<LogLine>) -> R) -> R {
        f(&self.lock().lines)
    }

    /// The seq the next line will get: a cheap "did anything change" check.
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }
}

/// Turns a byte stream into lines: keeps a partial line until its newline arrives, strips
/// `\r`, and replaces invalid UTF-8.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(String)) {
        for &b in bytes {
            if b == b'\n' {
                emit(Self::finish(&mut self.partial));
            } else if self.partial.len() < MAX_LINE_BYTES * 2 {
                self.partial.push(b);
            }
        }
    }

    /// Emits what is left when the stream ends without a final newline.
    pub fn flush(&mut self, mut emit: impl FnMut(String)) {
        if !self.partial.is_empty() {
            emit(Self::finish(&mut self.partial));
        }
    }

    fn finish(partial: &mut Vec<u8>) -> String {
        if partial.last() == Some(&b'\r') {
            partial.pop();
        }
        let line = String::from_utf8_lossy(partial).into_owned();
        partial.clear();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_lines_with_increasing_seq() {
        let ring = LogRing::new(3);
        for i in 0..5 {
            ring.push(Source::Stdout, format!("line {i}"));
        }
        let tail = ring.tail(10);
        assert_eq!(
            tail.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["line 2", "line 3", "line 4"]
        );
        assert_eq!(tail[0].seq, 2);
        assert_eq!(ring.next_seq(), 5);
        assert_eq!(ring.tail_text(1), ["line 4"]);
    }

    #[test]
    fn subscription_continues_history_without_gaps() {
        let ring = LogRing::new(10);
        ring.push(Source::Stdout, "a");
        let (history, mut rx) = ring.subscribe_with_history();
        ring.note("--- switching to B ---");
        assert_eq!(history.len(), 1);
        let next = rx.try_recv().unwrap();
        assert_eq!(next.seq, 1);
        assert!(next.is_separator());
    }

    #[test]
    fn long_lines_are_cut() {
        let ring = LogRing::new(2);
        ring.push(Source::Stderr, "é".repeat(MAX_LINE_BYTES));
        assert!(ring.tail(1)[0].text.len() <= MAX_LINE_BYTES + 20);
    }

    #[test]
    fn splitter_joins_partial_lines_and_strips_cr() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.push(b"hel", |l| out.push(l));
        s.push(b"lo\r\nwor", |l| out.push(l));
        s.push(b"ld\n\xff\n", |l| out.push(l));
        s.push(b"tail", |l| out.push(l));
        s.flush(|l| out.push(l));
        assert_eq!(out, ["hello", "world", "\u{fffd}", "tail"]);
    }
}
