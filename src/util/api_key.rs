//! `[server] api_key = "auto"`: a key generated once and kept 0600 in llws's data folder
//! (`$LLWS_DATA_DIR`, else `$XDG_DATA_HOME/llws`, else `~/.local/share/llws`), so the
//! router and claude-local agree on it across runs without the user ever typing it.

use std::io::Read;
use std::path::PathBuf;

use super::safe_fs;

/// The file an "auto" key is kept in.
pub fn auto_key_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("LLWS_DATA_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("api-key");
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("llws").join("api-key")
}

/// The key the setting means: `None` for an empty setting, the setting itself, or for
/// `"auto"` the kept key (made on first use).
pub fn resolve(setting: &str) -> Result<Option<String>, String> {
    match setting {
        "" => Ok(None),
        "auto" => auto_key().map(Some),
        key => Ok(Some(key.to_string())),
    }
}

fn auto_key() -> Result<String, String> {
    let path = auto_key_path();
    if let Ok(text) = safe_fs::read_own_file(&path) {
        let key = text.trim().to_string();
        if key.len() >= 32 {
            return Ok(key);
        }
    }
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for an API key: {e}"))?;
    let key: String = "llws-"
        .chars()
        .chain(bytes.iter().flat_map(|b| {
            let hex = format!("{b:02x}");
            hex.chars().collect::<Vec<_>>()
        }))
        .collect();
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    safe_fs::private_dir(dir).map_err(|e| e.to_string())?;
    safe_fs::write_atomic(&path, key.as_bytes(), 0o600)
        .map_err(|e| format!("cannot keep the API key in {}: {e}", path.display()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_empty() {
        assert_eq!(resolve("").unwrap(), None);
        assert_eq!(resolve("abc").unwrap().as_deref(), Some("abc"));
    }
}
