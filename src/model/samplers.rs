//! The sampler settings a profile's server starts with: the ones the profile passes on the
//! command line (EXTRA_ARGS), else the ones the model's authors recommend in the GGUF
//! (`general.sampling.*`, which llama-server applies as its defaults), for the picker to
//! show next to the description.
//!
//! The original kept these in its DESCRIPTION text by hand ("use temp 0.6, top-p 0.95");
//! reading them from the file means they cannot drift from the model that is loaded.

use super::gguf::{Metadata, Value};
use crate::config::lint::flag_value;
use crate::config::profiles::Profile;

/// One sampler: its name as people write it, the GGUF key that recommends a value, and
/// the llama-server flags that set it.
struct Knob {
    name: &'static str,
    gguf_key: &'static str,
    flags: &'static [&'static str],
}

/// In the order people read them. llama.cpp's gguf-py names the keys (`Keys.General`).
const KNOBS: &[Knob] = &[
    Knob {
        name: "temp",
        gguf_key: "general.sampling.temp",
        flags: &["--temp", "--temperature"],
    },
    Knob {
        name: "top-p",
        gguf_key: "general.sampling.top_p",
        flags: &["--top-p"],
    },
    Knob {
        name: "top-k",
        gguf_key: "general.sampling.top_k",
        flags: &["--top-k"],
    },
    Knob {
        name: "min-p",
        gguf_key: "general.sampling.min_p",
        flags: &["--min-p"],
    },
    Knob {
        name: "repeat-penalty",
        gguf_key: "general.sampling.penalty_repeat",
        flags: &["--repeat-penalty"],
    },
    Knob {
        name: "xtc-probability",
        gguf_key: "general.sampling.xtc_probability",
        flags: &["--xtc-probability"],
    },
];

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The profile's EXTRA_ARGS: what the server is told.
    Profile,
    /// The model file's `general.sampling.*`: what its authors recommend.
    ModelFile,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sampler {
    pub name: &'static str,
    pub value: String,
    pub source: Source,
}

/// The samplers `profile` sets or its model recommends (`meta`, when the header could be
/// read), in `KNOBS` order; the profile wins where both say something.
pub fn effective(profile: &Profile, meta: Option<&Metadata>) -> Vec<Sampler> {
    let words = profile.extra_args_words().unwrap_or_default();
    KNOBS
        .iter()
        .filter_map(|knob| {
            if let Some(value) = flag_value(&words, knob.flags) {
                return Some(Sampler {
                    name: knob.name,
                    value: value.to_string(),
                    source: Source::Profile,
                });
            }
            let value = meta?.values.get(knob.gguf_key).and_then(number)?;
            Some(Sampler {
                name: knob.name,
                value,
                source: Source::ModelFile,
            })
        })
        .collect()
}

/// A recommended value as people write it: `0.6`, not `0.6000000238418579` (the header
/// stores f32).
fn number(value: &Value) -> Option<String> {
    match value {
        Value::Uint(v) => Some(v.to_string()),
        Value::Int(v) => Some(v.to_string()),
        Value::Float(v) if v.is_finite() => {
            let short = format!("{:.3}", *v as f32);
            Some(
                short
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string(),
            )
        }
        _ => None,
    }
}

/// One line for the picker: `samplers: temp 0.6 · top-p 0.95 (model file); top-k 40
/// (profile)`, grouped by source; `None` when neither says anything.
pub fn summary(samplers: &[Sampler]) -> Option<String> {
    if samplers.is_empty() {
        return None;
    }
    let group = |source: Source, label: &str| {
        let items: Vec<String> = samplers
            .iter()
            .filter(|s| s.source == source)
            .map(|s| format!("{} {}", s.name, s.value))
            .collect();
        (!items.is_empty()).then(|| format!("{} ({label})", items.join(" · ")))
    };
    let parts: Vec<String> = [
        group(Source::Profile, "profile"),
        group(Source::ModelFile, "model file"),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(format!("samplers: {}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profiles::parse;
    use crate::model::gguf::read_metadata;
    use crate::model::gguf::tests::header;

    fn profile(extra: &str) -> Profile {
        let text = format!("[p]\nMODEL=m.gguf\nEXTRA_ARGS={extra}\n");
        parse(&text, std::path::Path::new("models.conf"))
            .unwrap()
            .profiles
            .remove(0)
    }

    fn qwen_like() -> Metadata {
        let bytes = header(&[
            ("general.architecture", Value::Str("qwen3".into())),
            ("general.sampling.temp", Value::Float(0.6)),
            ("general.sampling.top_p", Value::Float(0.95)),
            ("general.sampling.top_k", Value::Uint(20)),
            ("general.sampling.min_p", Value::Float(0.0)),
        ]);
        read_metadata(&mut bytes.as_slice()).unwrap()
    }

    #[test]
    fn the_model_file_recommends_and_the_profile_overrides() {
        let meta = qwen_like();
        let all = effective(&profile("--jinja --top-k=40 --temp 0.7"), Some(&meta));
        let shown: Vec<(&str, &str, Source)> = all
            .iter()
            .map(|s| (s.name, s.value.as_str(), s.source))
            .collect();
        assert_eq!(
            shown,
            [
                ("temp", "0.7", Source::Profile),
                ("top-p", "0.95", Source::ModelFile),
                ("top-k", "40", Source::Profile),
                ("min-p", "0", Source::ModelFile),
            ]
        );
        assert_eq!(
            summary(&all).unwrap(),
            "samplers: temp 0.7 · top-k 40 (profile); top-p 0.95 · min-p 0 (model file)"
        );
    }

    #[test]
    fn a_model_without_recommendations_and_a_plain_profile_say_nothing() {
        let bytes = header(&[("general.architecture", Value::Str("llama".into()))]);
        let meta = read_metadata(&mut bytes.as_slice()).unwrap();
        let all = effective(&profile("--jinja -np 1"), Some(&meta));
        assert!(all.is_empty());
        assert_eq!(summary(&all), None);
        // An unreadable header leaves only what the profile says.
        let all = effective(&profile("--min-p 0.05"), None);
        assert_eq!(summary(&all).unwrap(), "samplers: min-p 0.05 (profile)");
    }

    #[test]
    fn f32_noise_is_not_shown() {
        assert_eq!(
            number(&Value::Float(f64::from(0.95f32))).as_deref(),
            Some("0.95")
        );
        assert_eq!(number(&Value::Float(1.0)).as_deref(), Some("1"));
        assert_eq!(number(&Value::Float(f64::NAN)), None);
        assert_eq!(number(&Value::Str("x".into())), None);
    }
}
