//! One model profile (a `[section]` of models.conf) as plain data: what the parser
//! (`super::profiles`) builds and the lints (`super::lint`) and everything else read.

/// The keys a profile may set, in the order `llws env` writes them.
pub const KNOWN_KEYS: &[&str] = &[
    "NAME",
    "DESCRIPTION",
    "SPEED",
    "MODEL",
    "CTX_SIZE",
    "N_GPU_LAYERS",
    "FIT",
    "FIT_TARGET",
    "FIT_CTX",
    "SPLIT_MODE",
    "TENSOR_SPLIT",
    "MAIN_GPU",
    "FLASH_ATTN",
    "KV_CACHE_TYPE_K",
    "KV_CACHE_TYPE_V",
    "EXTRA_ARGS",
    "ALIASES",
];

/// The context size when a profile sets none: what the replaced tool's compose file used,
/// so an existing models.conf starts the same server.
pub const DEFAULT_CTX_SIZE: u64 = 131_072;

/// One `KEY=VALUE` line as written, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// One model profile: a `[section]` of models.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: String,
    /// The line of the `[id]` header.
    pub line: usize,
    /// Known keys in file order; a key set twice keeps its last value.
    pub(super) entries: Vec<Entry>,
}

impl Profile {
    /// A profile another machine's llws serves, as its `/models` describes it: `id` is the
    /// name this llws gives it, `fields` its known keys (`NAME`, `DESCRIPTION`, `SPEED`,
    /// `CTX_SIZE`, `MODEL`). Values lose control characters and are cut to 200
    /// characters: they come from the network and end up on the screen.
    pub fn served_elsewhere(id: String, fields: &[(&str, &str)]) -> Self {
        let entries = fields
            .iter()
            .filter(|(key, _)| KNOWN_KEYS.contains(key))
            .map(|(key, value)| Entry {
                key: key.to_string(),
                value: value
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect(),
                line: 0,
            })
            .collect();
        Self {
            id,
            line: 0,
            entries,
        }
    }

    /// Whether another machine serves this profile: its id is `ID@HOST`, which no profile
    /// of this machine's models.conf can have (ids hold no `@`). Its MODEL names a file
    /// on that machine: nothing here reads it.
    pub fn is_elsewhere(&self) -> bool {
        self.id.contains('@')
    }

    /// The value of a known key, if the profile sets it to something non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The line a key was set on (for diagnostics about its value).
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.line)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_bench(&self) -> bool {
        self.id.starts_with("bench-")
    }

    /// NAME, or the id when the profile has no NAME.
    pub fn display_name(&self) -> &str {
        self.get("NAME").unwrap_or(&self.id)
    }

    pub fn description(&self) -> Option<&str> {
        self.get("DESCRIPTION")
    }

    pub fn speed(&self) -> Option<&str> {
        self.get("SPEED")
    }

    /// MODEL, relative to the models folder (validated at load).
    pub fn model(&self) -> &str {
        self.get("MODEL").unwrap_or_default()
    }

    /// ALIASES: other names a request's `model` may use for this profile (comma-separated),
    /// for the router's follow mode.
    pub fn aliases(&self) -> Vec<&str> {
        self.get("ALIASES")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn extra_args(&self) -> Option<&str> {
        self.get("EXTRA_ARGS")
    }

    /// The context size the server gets (validated numeric at load).
    pub fn ctx_size(&self) -> u64 {
        self.get("CTX_SIZE")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CTX_SIZE)
    }

    /// "128K ctx" for multiples of 1024, "`<n>` ctx" otherwise: one rule everywhere, so the
    /// picker, the status bar and the CLI never show one profile two ways.
    pub fn ctx_label(&self) -> String {
        ctx_label(self.ctx_size())
    }

    /// The effective FIT value, `on` unless set: the replaced tool's default, which
    /// existing profiles were tuned with.
    pub fn fit_on(&self) -> bool {
        !self
            .get("FIT")
            .is_some_and(|v| v.eq_ignore_ascii_case("off"))
    }

    /// The EXTRA_ARGS words, split like a POSIX shell splits them (quotes kept together).
    /// `None` when the quoting is unbalanced, which the loader reports as an error.
    pub fn extra_args_words(&self) -> Option<Vec<String>> {
        match self.extra_args() {
            None => Some(Vec::new()),
            Some(raw) => shlex::split(raw),
        }
    }
}

pub fn ctx_label(ctx: u64) -> String {
    // CTX_SIZE=0: llama-server takes the model's training context.
    if ctx == 0 {
        return "model's ctx".to_string();
    }
    if ctx >= 1024 && ctx.is_multiple_of(1024) {
        format!("{}K ctx", ctx / 1024)
    } else {
        format!("{ctx} ctx")
    }
}
