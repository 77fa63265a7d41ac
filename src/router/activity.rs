//! What each request through the router did: a bounded ring (`GET /activity`), a
//! broadcast (`/activity/stream`) and histograms (`/metrics`). The figures are llama-server's
//! own (`timings`, `usage` in the answer, the final event when streaming), never counted
//! again by re-tokenizing. Only the speed of a stream without `timings` (`/v1/messages`)
//! is timed here, from its text-carrying events as they pass.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use super::stream_tokens::TokenEvents;
use crate::server::state::now_ms;

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it arrived (ms since the Unix epoch).
    pub at_ms: u64,
    pub method: String,
    pub endpoint: String,
    /// The `model` the request asked for.
    pub model: Option<String>,
    /// The profile that served it.
    pub profile: Option<String>,
    pub status: u16,
    pub stream: bool,
    pub prompt_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub generated_tokens: Option<u64>,
    /// From arrival to the first generated text of a stream, or to the first byte of an
    /// answer that does not stream (time waiting for a switch included).
    pub ttft_ms: Option<u64>,
    pub prompt_tps: Option<f64>,
    pub gen_tps: Option<f64>,
    pub duration_ms: u64,
}

/// Bucket bounds of the histograms.
const TTFT_MS: &[f64] = &[
    50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
];
const TPS: &[f64] = &[1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0];
const DURATION_MS: &[f64] = &[
    100.0, 500.0, 1000.0, 5000.0, 10000.0, 30000.0, 60000.0, 300000.0,
];

#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    /// Prometheus text for `name`.
    pub fn write(&self, name: &str, help: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

#[derive(Debug, Clone)]
pub struct Histograms {
    pub ttft_ms: Histogram,
    pub gen_tps: Histogram,
    pub duration_ms: Histogram,
}

pub struct Activity {
    ring: Mutex<(VecDeque<Record>, Histograms)>,
    capacity: usize,
    tx: broadcast::Sender<Record>,
    /// The answers streaming now, by tap: for the live speed in the workspace's status bar.
    live: Mutex<HashMap<u64, Live>>,
    next_tap: AtomicU64,
}

/// One streaming answer's progress: its text-carrying events counted as they pass (one
/// token each in llama-server's streams), the first and the latest one's time.
#[derive(Debug, Clone, Copy)]
struct Live {
    first: Instant,
    last: Instant,
    events: u64,
}

impl Live {
    /// Tokens per second between the first event and the latest, once there are two.
    fn tps(&self) -> Option<f64> {
        let secs = self.last.duration_since(self.first).as_secs_f64();
        (self.events >= 2 && secs > 0.0).then(|| (self.events - 1) as f64 / secs)
    }
}

impl Activity {
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new((
                VecDeque::new(),
                Histograms {
                    ttft_ms: Histogram::new(TTFT_MS),
                    gen_tps: Histogram::new(TPS),
                    duration_ms: Histogram::new(DURATION_MS),
                },
            )),
            capacity: capacity.max(1),
            tx: broadcast::channel(256).0,
            live: Mutex::new(HashMap::new()),
            next_tap: AtomicU64::new(0),
        }
    }

    /// The generation speed of the answers streaming now (their sum), counted from the
    /// stream as it arrives; `None` when nothing streams or too little came to say.
    pub fn live_gen_tps(&self) -> Option<f64> {
        let live = self.live.lock().ok()?;
        let speeds: Vec<f64> = live.values().filter_map(Live::tps).collect();
        (!speeds.is_empty()).then(|| speeds.iter().sum())
    }

    fn stream_event(&self, tap: u64, events: u64, at: Instant) {
        if let Ok(mut live) = self.live.lock() {
            let l = live.entry(tap).or_insert(Live {
                first: at,
                last: at,
                events: 0,
            });
            l.events += events;
            l.last = at;
        }
    }

    fn stream_ended(&self, tap: u64) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&tap);
        }
    }

    pub fn push(&self, record: Record) {
        if let Ok(mut ring) = self.ring.lock() {
            let (records, h) = &mut *ring;
            if let Some(t) = record.ttft_ms {
                h.ttft_ms.observe(t as f64);
            }
            if let Some(t) = record.gen_tps {
                h.gen_tps.observe(t);
            }
            h.duration_ms.observe(record.duration_ms as f64);
            if records.len() == self.capacity {
                records.pop_front();
            }
            records.push_back(record.clone());
        }
        let _ = self.tx.send(record);
    }

    /// The newest `limit` records, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<Record> {
        self.ring
            .lock()
            .map(|r| {
                let skip = r.0.len().saturating_sub(limit);
                r.0.iter().skip(skip).cloned().collect()
            })
            .unwrap_or_default()
    }

    pub fn histograms(&self) -> Option<Histograms> {
        self.ring.lock().ok().map(|r| r.1.clone())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Record> {
        self.tx.subscribe()
    }

    /// The median generation speed of `profile`'s recent requests, for the picker.
    pub fn median_gen_tps(&self, profile: &str) -> Option<f64> {
        let mut speeds: Vec<f64> = self
            .ring
            .lock()
            .ok()?
            .0
            .iter()
            .rev()
            .filter(|r| r.profile.as_deref() == Some(profile))
            .filter_map(|r| r.gen_tps)
            .take(20)
            .collect();
        if speeds.is_empty() {
            return None;
        }
        speeds.sort_by(|a, b| a.total_cmp(b));
        Some(speeds[speeds.len() / 2])
    }
}

/// How much of an answer is kept to read its figures from: the whole of a small JSON
/// answer, the tail of a stream (the final event carries them).
const KEEP: usize = 64 * 1024;

/// Watches one request's answer go by and records it when it ends.
pub struct Tap {
    activity: std::sync::Arc<Activity>,
    /// This tap's key in [`Activity`]'s live streams.
    id: u64,
    started: Instant,
    at_ms: u64,
    method: String,
    endpoint: String,
    model: Option<String>,
    pub profile: Option<String>,
    pub status: u16,
    pub stream: bool,
    first_byte: Option<Instant>,
    /// The stream's text-carrying events: their count, the first's and the latest's time.
    tokens: TokenEvents,
    token_events: u64,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    tail: Vec<u8>,
    finished: bool,
}

impl Tap {
    pub fn new(
        activity: std::sync::Arc<Activity>,
        method: &str,
        endpoint: &str,
        model: Option<String>,
    ) -> Self {
        Self {
            id: activity.next_tap.fetch_add(1, Ordering::Relaxed),
            activity,
            started: Instant::now(),
            at_ms: now_ms(),
            method: method.to_string(),
            endpoint: endpoint.to_string(),
            model,
            profile: None,
            status: 0,
            stream: false,
            first_byte: None,
            tokens: TokenEvents::default(),
            token_events: 0,
            first_token: None,
            last_token: None,
            tail: Vec::new(),
            finished: false,
        }
    }

    pub fn data(&mut self, data: &[u8]) {
        if self.first_byte.is_none() && !data.is_empty() {
            self.first_byte = Some(Instant::now());
        }
        if self.stream {
            let events = self.tokens.feed(data);
            if events > 0 {
                let now = Instant::now();
                self.first_token.get_or_insert(now);
                self.last_token = Some(now);
                self.token_events += events;
                self.activity.stream_event(self.id, events, now);
            }
        }
        self.tail.extend_from_slice(data);
        if self.tail.len() > 2 * KEEP {
            self.tail.drain(..self.tail.len() - KEEP);
        }
    }

    pub fn finish_refused(&mut self, status: u16) {
        self.status = status;
        self.finish(Instant::now());
    }

    pub fn finish(&mut self, at: Instant) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.activity.stream_ended(self.id);
        let timings = last_object(&self.tail, b"\"timings\"");
        let usage = last_object(&self.tail, b"\"usage\"");
        let num = |v: Option<&Value>, keys: &[&str]| -> Option<u64> {
            keys.iter()
                .find_map(|k| v?.pointer(k).and_then(Value::as_u64))
        };
        let float = |v: Option<&Value>, key: &str| v?.get(key)?.as_f64();
        let t = timings.as_ref();
        let u = usage.as_ref();
        let record = Record {
            at_ms: self.at_ms,
            method: std::mem::take(&mut self.method),
            endpoint: std::mem::take(&mut self.endpoint),
            model: self.model.take(),
            profile: self.profile.take(),
            status: self.status,
            stream: self.stream,
            prompt_tokens: num(t, &["/prompt_n"])
                .or_else(|| num(u, &["/prompt_tokens", "/input_tokens"])),
            cached_tokens: num(t, &["/cache_n"]).or_else(|| {
                num(
                    u,
                    &[
                        "/prompt_tokens_details/cached_tokens",
                        "/cache_read_input_tokens",
                    ],
                )
            }),
            generated_tokens: num(t, &["/predicted_n"])
                .or_else(|| num(u, &["/completion_tokens", "/output_tokens"])),
            ttft_ms: self
                .first_token
                .or(self.first_byte)
                .map(|f| f.duration_since(self.started).as_millis() as u64),
            prompt_tps: float(t, "prompt_per_second"),
            // `/v1/messages` streams carry no `timings`: then the speed between the first
            // and the last piece of text as they passed.
            gen_tps: float(t, "predicted_per_second").or_else(|| self.streamed_tps()),
            duration_ms: at.duration_since(self.started).as_millis() as u64,
        };
        self.activity.push(record);
    }
}

impl Tap {
    fn streamed_tps(&self) -> Option<f64> {
        let secs = self
            .last_token?
            .duration_since(self.first_token?)
            .as_secs_f64();
        (self.token_events >= 2 && secs > 0.0).then(|| (self.token_events - 1) as f64 / secs)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        // A client that went away before the end: recorded with what came.
        if !self.finished && self.status != 0 {
            self.finish(Instant::now());
        }
        self.activity.stream_ended(self.id);
    }
}

/// The JSON object after the last `key` in `text` (`"timings": {...}`).
fn last_object(text: &[u8], key: &[u8]) -> Option<Value> {
    let mut end = text.len();
    while let Some(at) = text[..end].windows(key.len()).rposition(|w| w == key) {
        let rest = &text[at + key.len()..];
        let start = rest.iter().position(|b| !b" \t\r\n:".contains(b))?;
        if let Some(Ok(v)) = serde_json::Deserializer::from_slice(&rest[start..])
            .into_iter::<Value>()
            .next()
            && v.is_object()
        {
            return Some(v);
        }
        end = at;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_the_final_event() {
        let activity = std::sync::Arc::new(Activity::new(2));
        let mut tap = Tap::new(activity.clone(), "POST", "/v1/chat/completions", None);
        tap.status = 200;
        tap.data(b"data: {\"choices\":[]}\n\n");
        tap.data(b"data: {\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3},\"timings\":{\"prompt_n\":5,\"cache_n\":2,\"predicted_n\":3,\"predicted_per_second\":42.5,\"prompt_per_second\":100.0}}\n\n");
        tap.finish(Instant::now());
        let r = &activity.recent(10)[0];
        assert_eq!(r.prompt_tokens, Some(5));
        assert_eq!(r.cached_tokens, Some(2));
        assert_eq!(r.generated_tokens, Some(3));
        assert_eq!(r.gen_tps, Some(42.5));
        assert!(r.ttft_ms.is_some());
        for _ in 0..3 {
            Tap::new(activity.clone(), "GET", "/x", None).finish_refused(503);
        }
        assert_eq!(activity.recent(10).len(), 2, "bounded");
    }

    #[test]
    fn a_live_speed_while_a_stream_runs_and_none_after() {
        let activity = std::sync::Arc::new(Activity::new(4));
        let mut tap = Tap::new(activity.clone(), "POST", "/completion", None);
        tap.status = 200;
        tap.stream = true;
        assert_eq!(activity.live_gen_tps(), None, "nothing came yet");
        tap.data(b"data: {\"content\":\"a\"}\n\n");
        assert_eq!(activity.live_gen_tps(), None, "one event is no speed");
        std::thread::sleep(std::time::Duration::from_millis(50));
        tap.data(b"data: {\"content\":\"b\"}\n\ndata: {\"content\":\"c\"}\n\n");
        let tps = activity.live_gen_tps().expect("a speed while it streams");
        // Two tokens after the first in >= 50 ms: at most 40 tok/s.
        assert!(tps > 0.0 && tps <= 40.0, "{tps}");
        drop(tap);
        assert_eq!(activity.live_gen_tps(), None, "gone when the stream ends");
    }

    #[test]
    fn a_messages_stream_gets_its_speed_and_ttft_from_its_text_events() {
        let activity = std::sync::Arc::new(Activity::new(4));
        let mut tap = Tap::new(activity.clone(), "POST", "/v1/messages", None);
        tap.status = 200;
        tap.stream = true;
        tap.data(b"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\"}\n\n");
        assert_eq!(
            activity.live_gen_tps(),
            None,
            "envelope events are not tokens"
        );
        std::thread::sleep(std::time::Duration::from_millis(30));
        let delta = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"a\"}}\n\n";
        tap.data(delta);
        std::thread::sleep(std::time::Duration::from_millis(50));
        tap.data(delta);
        tap.data(delta);
        let live = activity.live_gen_tps().expect("a live speed");
        assert!(
            live > 0.0 && live <= 40.0,
            "two tokens after the first in >= 50 ms: {live}"
        );
        tap.data(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        assert_eq!(
            activity.live_gen_tps(),
            Some(live),
            "the closing events change nothing"
        );
        tap.finish(Instant::now());
        let r = &activity.recent(1)[0];
        assert_eq!(r.generated_tokens, Some(3));
        let tps = r.gen_tps.expect("a speed without timings");
        assert!(tps > 0.0 && tps <= 40.0, "{tps}");
        assert!(
            r.ttft_ms.unwrap() >= 30,
            "ttft is the first text, not message_start"
        );
    }
}
