//! Just enough of the GGUF header to learn a model's architecture, chat template and the
//! shape the memory estimate needs.
//!
//! The original's lessons say to read the architecture from the file's metadata, never
//! from its name. Only the key/value header is read (a few hundred KiB at most, mostly the
//! tokenizer arrays, which are skipped but counted); tensor data is never touched. Short
//! numeric arrays are kept: llama.cpp stores per-layer values that way (`head_count_kv` of
//! hybrid models, `sliding_window_pattern`, `recurrent_layers`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

const MAGIC: &[u8; 4] = b"GGUF";
/// Longest string accepted: a chat template is a few KiB; anything huge is corruption.
const MAX_STRING: u64 = 16 << 20;
const MAX_KV: u64 = 1 << 20;
/// Numeric arrays up to this length are kept (per-layer values: a model has at most a few
/// hundred layers); longer ones (token types, scores) are skipped and only counted.
const MAX_KEPT_ARRAY: u64 = 4096;

/// A metadata value we keep (numbers, strings and short numeric arrays).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// A per-layer array of numbers or booleans (booleans as 0/1).
    Array(Vec<Value>),
}

#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub version: u32,
    pub values: HashMap<String, Value>,
    /// The length of every array, kept or not (`tokenizer.ggml.tokens` gives the vocabulary).
    pub array_lens: HashMap<String, u64>,
}

impl Metadata {
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn uint(&self, key: &str) -> Option<u64> {
        match self.values.get(key) {
            Some(Value::Uint(v)) => Some(*v),
            Some(Value::Int(v)) if *v >= 0 => Some(*v as u64),
            _ => None,
        }
    }

    /// A number or a per-layer array, as llama.cpp's `get_key_or_arr` reads it: a single
    /// value applies to all `n` layers; an array gives each its own (missing ones are 0).
    pub fn per_layer(&self, key: &str, n: usize) -> Option<Vec<u64>> {
        match self.values.get(key)? {
            Value::Array(items) => Some(
                (0..n)
                    .map(|i| items.get(i).and_then(as_uint).unwrap_or(0))
                    .collect(),
            ),
            other => as_uint(other).map(|v| vec![v; n]),
        }
    }

    /// Whether `key` holds an array (not a single value).
    pub fn is_array(&self, key: &str) -> bool {
        matches!(self.values.get(key), Some(Value::Array(_)))
    }

    pub fn architecture(&self) -> Option<&str> {
        self.str("general.architecture")
    }

    /// The context length the model was trained with.
    pub fn context_length(&self) -> Option<u64> {
        self.uint(&format!("{}.context_length", self.architecture()?))
    }

    /// Recurrent or hybrid (DeltaNet, Mamba, RWKV...) models keep a state that context
    /// shifting corrupts. Known names, plus any model that carries SSM/WKV keys.
    pub fn is_recurrent_or_hybrid(&self) -> bool {
        const ARCHS: &[&str] = &[
            "qwen3next",
            "qwen35",
            "qwen35moe",
            "mamba",
            "mamba2",
            "jamba",
            "falcon-h1",
            "nemotron_h",
            "granitehybrid",
            "lfm2",
            "plamo2",
            "rwkv6",
            "rwkv7",
            "rwkv6qwen2",
            "arwkv7",
        ];
        let Some(arch) = self.architecture() else {
            return false;
        };
        ARCHS.contains(&arch)
            || self.values.keys().any(|k| {
                k.strip_prefix(arch).is_some_and(|rest| {
                    rest.starts_with(".ssm.")
                        || rest.starts_with(".wkv.")
                        || rest.contains("linear_attn")
                })
            })
    }

    /// A chat template that emits `<think>` blocks or takes a thinking switch.
    pub fn is_thinking(&self) -> bool {
        self.str("tokenizer.chat_template")
            .is_some_and(|t| t.contains("<think>") || t.contains("enable_thinking"))
    }
}

fn as_uint(value: &Value) -> Option<u64> {
    match value {
        Value::Uint(v) => Some(*v),
        Value::Int(v) if *v >= 0 => Some(*v as u64),
        Value::Bool(b) => Some(u64::from(*b)),
        _ => None,
    }
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_string(r: &mut impl Read) -> io::Result<String> {
    let len = read_u64(r)?;
    if len > MAX_STRING {
        return Err(bad(format!("string of {len} bytes in the GGUF header")));
    }
    let mut buf = vec![0; len as usize];
    r.read_exact(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn scalar_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// One value as read: kept, or an array that was skipped (with its length).
enum Entry {
    Kept(Value),
    SkippedArray(u64),
}

fn read_value(r: &mut impl Read, kind: u32, depth: u32) -> io::Result<Entry> {
    let mut buf8 = [0u8; 8];
    Ok(Entry::Kept(match kind {
        0 => {
            r.read_exact(&mut buf8[..1])?;
            Value::Uint(buf8[0] as u64)
        }
        1 => {
            r.read_exact(&mut buf8[..1])?;
            Value::Int(buf8[0] as i8 as i64)
        }
        2 => {
            r.read_exact(&mut buf8[..2])?;
            Value::Uint(u16::from_le_bytes([buf8[0], buf8[1]]) as u64)
        }
        3 => {
            r.read_exact(&mut buf8[..2])?;
            Value::Int(i16::from_le_bytes([buf8[0], buf8[1]]) as i64)
        }
        4 => Value::Uint(read_u32(r)? as u64),
        5 => Value::Int(read_u32(r)? as i32 as i64),
        6 => Value::Float(f32::from_bits(read_u32(r)?) as f64),
        7 => {
            r.read_exact(&mut buf8[..1])?;
            Value::Bool(buf8[0] != 0)
        }
        8 => Value::Str(read_string(r)?),
        9 => {
            if depth > 4 {
                return Err(bad("arrays nested too deep"));
            }
            let item = read_u32(r)?;
            let count = read_u64(r)?;
            match scalar_size(item) {
                // Per-layer values: kept (only at the top level; nested arrays are not
                // something llama.cpp reads).
                Some(_) if count <= MAX_KEPT_ARRAY && depth == 0 => {
                    let mut items = Vec::with_capacity(count as usize);
                    for _ in 0..count {
                        if let Entry::Kept(v) = read_value(r, item, depth + 1)? {
                            items.push(v);
                        }
                    }
                    Value::Array(items)
                }
                Some(size) => {
                    skip(
                        r,
                        count
                            .checked_mul(size)
                            .ok_or_else(|| bad("array too large"))?,
                    )?;
                    return Ok(Entry::SkippedArray(count));
                }
                None => {
                    for _ in 0..count {
                        read_value(r, item, depth + 1)?;
                    }
                    return Ok(Entry::SkippedArray(count));
                }
            }
        }
        10 => Value::Uint(read_u64(r)?),
        11 => Value::Int(read_u64(r)? as i64),
        12 => Value::Float(f64::from_bits(read_u64(r)?)),
        other => return Err(bad(format!("unknown value type {other}"))),
    }))
}

/// Reads the metadata of a GGUF stream.
pub fn read_metadata(r: &mut impl Read) -> io::Result<Metadata> {
    let mut magic = [0; 4];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("not a GGUF file (bad magic)"));
    }
    let version = read_u32(r)?;
    if !(2..=3).contains(&version) {
        return Err(bad(format!("unsupported GGUF version {version}")));
    }
    let _tensor_count = read_u64(r)?;
    let kv_count = read_u64(r)?;
    if kv_count > MAX_KV {
        return Err(bad(format!("{kv_count} metadata entries")));
    }
    let mut values = HashMap::new();
    let mut array_lens = HashMap::new();
    for _ in 0..kv_count {
        let key = read_string(r)?;
        let kind = read_u32(r)?;
        match read_value(r, kind, 0)? {
            Entry::Kept(value) => {
                if let Value::Array(items) = &value {
                    array_lens.insert(key.clone(), items.len() as u64);
                }
                values.insert(key, value);
            }
            Entry::SkippedArray(len) => {
                array_lens.insert(key, len);
            }
        }
    }
    Ok(Metadata {
        version,
        values,
        array_lens,
    })
}

pub fn read_file_metadata(path: &Path) -> io::Result<Metadata> {
    read_metadata(&mut BufReader::with_capacity(1 << 16, File::open(path)?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a small GGUF header for tests.
    pub fn header(entries: &[(&str, Value)]) -> Vec<u8> {
        header_with_tokens(entries, 2)
    }

    /// A header whose tokenizer has `n_tokens` (empty) tokens: the vocabulary size as
    /// llama.cpp learns it when a model has no `{arch}.vocab_size`.
    pub fn header_with_tokens(entries: &[(&str, Value)], n_tokens: u64) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&(entries.len() as u64 + 1).to_le_bytes());
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        // An array of strings, as tokenizers carry, to prove arrays are skipped.
        put_str(&mut out, "tokenizer.ggml.tokens");
        out.extend_from_slice(&9u32.to_le_bytes());
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(&n_tokens.to_le_bytes());
        for i in 0..n_tokens {
            put_str(&mut out, if i % 2 == 0 { "a" } else { "bc" });
        }
        fn put_value(out: &mut Vec<u8>, value: &Value) {
            match value {
                Value::Str(s) => {
                    out.extend_from_slice(&8u32.to_le_bytes());
                    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
                Value::Uint(v) => {
                    out.extend_from_slice(&4u32.to_le_bytes());
                    out.extend_from_slice(&(*v as u32).to_le_bytes());
                }
                Value::Int(v) => {
                    out.extend_from_slice(&5u32.to_le_bytes());
                    out.extend_from_slice(&(*v as i32).to_le_bytes());
                }
                Value::Bool(b) => {
                    out.extend_from_slice(&7u32.to_le_bytes());
                    out.push(u8::from(*b));
                }
                // f32, as converters write the `general.sampling.*` values.
                Value::Float(v) => {
                    out.extend_from_slice(&6u32.to_le_bytes());
                    out.extend_from_slice(&(*v as f32).to_le_bytes());
                }
                // As gguf-py writes Python lists: ints as i32, booleans as bool.
                Value::Array(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    let bools = matches!(items.first(), Some(Value::Bool(_)));
                    out.extend_from_slice(&(if bools { 7u32 } else { 5u32 }).to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for item in items {
                        match item {
                            Value::Bool(b) => out.push(u8::from(*b)),
                            Value::Uint(v) => out.extend_from_slice(&(*v as i32).to_le_bytes()),
                            _ => unimplemented!("test helper: arrays of numbers or booleans"),
                        }
                    }
                }
            }
        }
        for (key, value) in entries {
            put_str(&mut out, key);
            put_value(&mut out, value);
        }
        out
    }

    #[test]
    fn reads_architecture_context_and_template() {
        let bytes = header(&[
            ("general.architecture", Value::Str("qwen35moe".into())),
            ("qwen35moe.context_length", Value::Uint(262_144)),
            (
                "tokenizer.chat_template",
                Value::Str("{% if enable_thinking %}<think>".into()),
            ),
        ]);
        let meta = read_metadata(&mut bytes.as_slice()).unwrap();
        assert_eq!(meta.architecture(), Some("qwen35moe"));
        assert_eq!(meta.context_length(), Some(262_144));
        assert!(meta.is_recurrent_or_hybrid());
        assert!(meta.is_thinking());
    }

    #[test]
    fn ssm_keys_mark_a_hybrid() {
        let bytes = header(&[
            ("general.architecture", Value::Str("newhybrid".into())),
            ("newhybrid.ssm.state_size", Value::Uint(128)),
        ]);
        assert!(
            read_metadata(&mut bytes.as_slice())
                .unwrap()
                .is_recurrent_or_hybrid()
        );
    }

    #[test]
    fn per_layer_arrays_are_kept_and_skipped_arrays_counted() {
        let kv: Vec<Value> = [4u64, 0, 0, 4].iter().map(|v| Value::Uint(*v)).collect();
        let pattern: Vec<Value> = [true, false].iter().map(|b| Value::Bool(*b)).collect();
        let bytes = header_with_tokens(
            &[
                ("general.architecture", Value::Str("jamba".into())),
                ("jamba.attention.head_count_kv", Value::Array(kv)),
                ("jamba.attention.head_count", Value::Uint(32)),
                (
                    "jamba.attention.sliding_window_pattern",
                    Value::Array(pattern),
                ),
            ],
            5,
        );
        let meta = read_metadata(&mut bytes.as_slice()).unwrap();
        assert_eq!(
            meta.per_layer("jamba.attention.head_count_kv", 4),
            Some(vec![4, 0, 0, 4])
        );
        // A single value applies to every layer; a short array leaves the rest at 0.
        assert_eq!(
            meta.per_layer("jamba.attention.head_count", 3),
            Some(vec![32, 32, 32])
        );
        assert_eq!(
            meta.per_layer("jamba.attention.sliding_window_pattern", 3),
            Some(vec![1, 0, 0])
        );
        assert!(meta.is_array("jamba.attention.head_count_kv"));
        assert_eq!(meta.array_lens.get("tokenizer.ggml.tokens"), Some(&5));
        assert!(!meta.values.contains_key("tokenizer.ggml.tokens"));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(read_metadata(&mut &b"GGML...."[..]).is_err());
        let mut bytes = header(&[("general.architecture", Value::Str("llama".into()))]);
        bytes.truncate(bytes.len() - 3);
        assert!(read_metadata(&mut bytes.as_slice()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
            bytes.extend(tail);
            let _ = read_metadata(&mut bytes.as_slice());
        }
    }
}
