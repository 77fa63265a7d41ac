//! How long a GGUF file must be: the end of its last tensor's data, from the tensor table
//! after the metadata. A download cut off early (the common broken model) is shorter than
//! that, and llama-server would only find out after the running server was stopped.
//!
//! Kept apart from the metadata reader ([`super::gguf`]): this reads past the key/value
//! header into the tensor table, which the metadata reader never needs.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::gguf::{Value, read_metadata};

/// GGUF's default data alignment (`general.alignment` overrides it).
const DEFAULT_ALIGNMENT: u64 = 32;
/// More tensors than this is corruption, not a model (the largest have a few thousand).
const MAX_TENSORS: u64 = 1 << 20;
const MAX_DIMS: u32 = 8;
const MAX_NAME: u64 = 64 * 1024;

/// Where a GGUF file's data ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// The file must be at least this long.
    pub expected_bytes: u64,
    /// Whether every tensor's type was known; when not, `expected_bytes` is a lower
    /// bound (the start of the last unknown tensor).
    pub exact: bool,
}

/// (elements per block, bytes per block) of a ggml tensor type, as ggml's `type_traits`
/// table has them; `None` for types this build does not know.
fn block_layout(kind: u32) -> Option<(u64, u64)> {
    Some(match kind {
        0 => (1, 4),      // F32
        1 => (1, 2),      // F16
        2 => (32, 18),    // Q4_0
        3 => (32, 20),    // Q4_1
        6 => (32, 22),    // Q5_0
        7 => (32, 24),    // Q5_1
        8 => (32, 34),    // Q8_0
        9 => (32, 36),    // Q8_1
        10 => (256, 84),  // Q2_K
        11 => (256, 110), // Q3_K
        12 => (256, 144), // Q4_K
        13 => (256, 176), // Q5_K
        14 => (256, 210), // Q6_K
        15 => (256, 292), // Q8_K
        16 => (256, 66),  // IQ2_XXS
        17 => (256, 74),  // IQ2_XS
        18 => (256, 98),  // IQ3_XXS
        19 => (256, 50),  // IQ1_S
        20 => (32, 18),   // IQ4_NL
        21 => (256, 110), // IQ3_S
        22 => (256, 82),  // IQ2_S
        23 => (256, 136), // IQ4_XS
        24 => (1, 1),     // I8
        25 => (1, 2),     // I16
        26 => (1, 4),     // I32
        27 => (1, 8),     // I64
        28 => (1, 8),     // F64
        29 => (256, 56),  // IQ1_M
        30 => (1, 2),     // BF16
        34 => (256, 54),  // TQ1_0
        35 => (256, 66),  // TQ2_0
        39 => (32, 17),   // MXFP4
        _ => return None,
    })
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

/// Counts what passes through, so the end of the tensor table is known.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads the header and tensor table of a GGUF stream and says where its data ends.
pub fn read_extent(r: impl Read) -> io::Result<Extent> {
    let mut r = Counting { inner: r, read: 0 };
    // The tensor count sits before the metadata, which the metadata reader consumes
    // whole: read the fixed part first, then hand it the rest behind a replayed prefix.
    let mut fixed = [0u8; 24];
    r.read_exact(&mut fixed)?;
    let tensor_count = u64::from_le_bytes(fixed[8..16].try_into().expect("8 bytes"));
    if tensor_count > MAX_TENSORS {
        return Err(bad(format!("{tensor_count} tensors in the GGUF header")));
    }
    let meta = read_metadata(&mut fixed.as_slice().chain(&mut r))?;
    let alignment = match meta.values.get("general.alignment") {
        Some(Value::Uint(a)) if *a > 0 && a.is_power_of_two() => *a,
        None => DEFAULT_ALIGNMENT,
        Some(other) => return Err(bad(format!("general.alignment is {other:?}"))),
    };
    let mut end = 0u64;
    let mut exact = true;
    for _ in 0..tensor_count {
        let name_len = read_u64(&mut r)?;
        if name_len > MAX_NAME {
            return Err(bad(format!("a tensor name of {name_len} bytes")));
        }
        io::copy(&mut (&mut r).take(name_len), &mut io::sink())?;
        let n_dims = read_u32(&mut r)?;
        if n_dims > MAX_DIMS {
            return Err(bad(format!("a tensor with {n_dims} dimensions")));
        }
        let mut elements = 1u64;
        for _ in 0..n_dims {
            elements = elements
                .checked_mul(read_u64(&mut r)?)
                .ok_or_else(|| bad("a tensor too large to address"))?;
        }
        let kind = read_u32(&mut r)?;
        let offset = read_u64(&mut r)?;
        let tensor_end = match block_layout(kind) {
            Some((block, bytes)) => elements
                .div_ceil(block)
                .checked_mul(bytes)
                .and_then(|size| offset.checked_add(size))
                .ok_or_else(|| bad("a tensor too large to address"))?,
            None => {
                exact = false;
                offset
            }
        };
        end = end.max(tensor_end);
    }
    if tensor_count == 0 {
        // No data section at all: the header is the whole file.
        return Ok(Extent {
            expected_bytes: r.read,
            exact,
        });
    }
    let data_start = r.read.div_ceil(alignment) * alignment;
    Ok(Extent {
        expected_bytes: data_start
            .checked_add(end)
            .ok_or_else(|| bad("tensor data too large to address"))?,
        exact,
    })
}

pub fn read_file_extent(path: &Path) -> io::Result<Extent> {
    read_extent(BufReader::with_capacity(1 << 16, File::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF with one metadata entry and the given tensors (name, dims, type, offset).
    fn gguf(tensors: &[(&str, &[u64], u32, u64)], alignment: Option<u32>) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(1 + alignment.is_some() as u64).to_le_bytes());
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        put_str(&mut out, "general.architecture");
        out.extend_from_slice(&8u32.to_le_bytes());
        put_str(&mut out, "llama");
        if let Some(a) = alignment {
            put_str(&mut out, "general.alignment");
            out.extend_from_slice(&4u32.to_le_bytes());
            out.extend_from_slice(&a.to_le_bytes());
        }
        for (name, dims, kind, offset) in tensors {
            put_str(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in *dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        out
    }

    #[test]
    fn the_end_of_the_last_tensor_after_the_aligned_table() {
        // F32 [4, 2] = 32 bytes at 0; Q4_0 [64] = 2 blocks of 18 = 36 bytes at 32.
        let bytes = gguf(&[("a", &[4, 2], 0, 0), ("b", &[64], 2, 32)], None);
        let start = (bytes.len() as u64).div_ceil(32) * 32;
        let extent = read_extent(bytes.as_slice()).unwrap();
        assert_eq!(extent.expected_bytes, start + 32 + 36);
        assert!(extent.exact);

        let bytes = gguf(&[("a", &[10], 0, 0)], Some(64));
        let start = (bytes.len() as u64).div_ceil(64) * 64;
        assert_eq!(
            read_extent(bytes.as_slice()).unwrap().expected_bytes,
            start + 40
        );
    }

    #[test]
    fn no_tensors_no_data() {
        let bytes = gguf(&[], None);
        assert_eq!(
            read_extent(bytes.as_slice()).unwrap().expected_bytes,
            bytes.len() as u64
        );
    }

    #[test]
    fn an_unknown_type_gives_a_lower_bound() {
        let bytes = gguf(&[("a", &[4], 0, 0), ("x", &[256], 250, 64)], None);
        let start = (bytes.len() as u64).div_ceil(32) * 32;
        let extent = read_extent(bytes.as_slice()).unwrap();
        assert_eq!(extent.expected_bytes, start + 64);
        assert!(!extent.exact);
    }

    #[test]
    fn a_cut_header_is_an_error_not_a_panic() {
        let bytes = gguf(&[("a", &[4, 2], 0, 0)], None);
        for cut in [3, 20, 40, bytes.len() - 1] {
            assert!(read_extent(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn random_tables_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut bytes = gguf(&[], None);
            bytes[8] = 3; // claims three tensors, then garbage
            bytes.extend(tail);
            let _ = read_extent(bytes.as_slice());
        }
    }
}
