//! Which events of a streamed answer carry generated text, in the three stream shapes
//! llama-server speaks. The live speed in the status bar and the speed of a `/v1/messages`
//! answer (whose stream has no `timings`) are counted from these, so the envelope events
//! (Anthropic's `message_start`, `content_block_stop`, `message_delta`, OpenAI's role chunk
//! and `[DONE]`, the native final event) must not count as tokens.

use serde_json::Value;

/// The longest line kept while waiting for its end; a longer one is skipped (a final event
/// with the whole answer in it, never a token).
const MAX_LINE: usize = 64 * 1024;

/// Reads a server-sent event stream, arriving in chunks of any size, line by line, and
/// counts the `data:` lines that carry generated text (each event has one).
#[derive(Debug, Default)]
pub struct TokenEvents {
    line: Vec<u8>,
    skipping: bool,
}

impl TokenEvents {
    /// How many token-carrying events end in `chunk`.
    pub fn feed(&mut self, chunk: &[u8]) -> u64 {
        let mut count = 0;
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            if !self.skipping {
                self.line.extend_from_slice(piece);
                if self.line.len() > MAX_LINE {
                    self.line.clear();
                    self.skipping = true;
                }
            }
            if piece.ends_with(b"\n") {
                if !self.skipping
                    && let Some(data) = self.line.strip_prefix(b"data:")
                    && carries_text(data)
                {
                    count += 1;
                }
                self.line.clear();
                self.skipping = false;
            }
        }
        count
    }
}

/// Whether one event's `data:` is a piece of generated text.
fn carries_text(data: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
        return false; // `[DONE]`, or not JSON
    };
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    // Anthropic: one content_block_delta per piece (text, thinking or tool input).
    if let Some(kind) = v.get("type").and_then(Value::as_str) {
        return kind == "content_block_delta";
    }
    // OpenAI chat and completions: a choice's delta content, reasoning, or text.
    if let Some(choice) = v.pointer("/choices/0") {
        let delta = choice.get("delta");
        return non_empty(delta.and_then(|d| d.get("content")))
            || non_empty(delta.and_then(|d| d.get("reasoning_content")))
            || delta
                .and_then(|d| d.get("tool_calls"))
                .is_some_and(|t| t.is_array())
            || non_empty(choice.get("text"));
    }
    // llama-server's native /completion: `content`, with the final event marked `stop`.
    !v.get("stop").and_then(Value::as_bool).unwrap_or(false) && non_empty(v.get("content"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real llama-server streams (b5xxx, the test fixture), trimmed.
    const ANTHROPIC: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":31,\"output_tokens\":0}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"h\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ug\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"el\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":3}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    const OPENAI: &str = "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\ndata: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"Welcome\"}}]}\n\ndata: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\" to\"}}]}\n\ndata: {\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"delta\":{}}],\"timings\":{\"predicted_n\":2}}\n\ndata: [DONE]\n\n";
    const NATIVE: &str = "data: {\"index\":0,\"content\":\"a\",\"stop\":false}\n\ndata: {\"index\":0,\"content\":\"b\",\"stop\":false}\n\ndata: {\"index\":0,\"content\":\"\",\"stop\":true,\"timings\":{\"predicted_n\":2}}\n\n";

    fn count_in_chunks(stream: &str, size: usize) -> u64 {
        let mut t = TokenEvents::default();
        stream.as_bytes().chunks(size).map(|c| t.feed(c)).sum()
    }

    #[test]
    fn only_text_carrying_events_count_in_each_shape() {
        assert_eq!(count_in_chunks(ANTHROPIC, usize::MAX), 3);
        assert_eq!(count_in_chunks(OPENAI, usize::MAX), 2);
        assert_eq!(count_in_chunks(NATIVE, usize::MAX), 2);
    }

    #[test]
    fn the_count_does_not_depend_on_where_chunks_split() {
        for size in 1..40 {
            assert_eq!(count_in_chunks(ANTHROPIC, size), 3, "chunks of {size}");
            assert_eq!(count_in_chunks(OPENAI, size), 2, "chunks of {size}");
            assert_eq!(count_in_chunks(NATIVE, size), 2, "chunks of {size}");
        }
        let crlf = NATIVE.replace('\n', "\r\n");
        for size in 1..10 {
            assert_eq!(count_in_chunks(&crlf, size), 2, "CRLF in chunks of {size}");
        }
    }

    #[test]
    fn garbage_and_an_endless_event_count_nothing_and_do_not_grow() {
        let mut t = TokenEvents::default();
        assert_eq!(t.feed(b"\x1b[31mnot sse\n\ndata: {oops\n\n"), 0);
        for _ in 0..100 {
            t.feed(&[b'x'; 4096]);
        }
        assert!(t.line.len() <= MAX_LINE);
        assert_eq!(t.feed(b"\n\ndata: {\"content\":\"z\"}\n\n"), 1);
    }
}
