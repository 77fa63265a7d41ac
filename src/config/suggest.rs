//! "Did you mean …?": the names closest to a mistyped one, for unknown profiles,
//! subcommands and settings keys. It lives in config, the lowest module, because the
//! names it is asked about are what the user writes.

/// The candidates close to `word`, best first, at most three: an edit distance (with
/// transpositions) of at most a third of the candidate's length (at least 1), or a
/// candidate that starts with a `word` of three characters or more. An exact match is not
/// a suggestion.
pub fn closest<'a, I>(word: &str, candidates: I) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word_lower = word.to_lowercase();
    let mut scored: Vec<(usize, &'a str)> = candidates
        .into_iter()
        .filter(|c| *c != word)
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let distance = strsim::damerau_levenshtein(&word_lower, &lower);
            let limit = (candidate.chars().count() / 3).max(1);
            if distance <= limit {
                Some((distance, candidate))
            } else if word_lower.chars().count() >= 3 && lower.starts_with(&word_lower) {
                // A prefix is a good guess, but ranks behind a near-miss of the same length.
                Some((limit + 1, candidate))
            } else {
                None
            }
        })
        .collect();
    scored.sort_by_key(|&(distance, name)| (distance, name));
    scored.dedup_by_key(|&mut (_, name)| name);
    scored.into_iter().take(3).map(|(_, name)| name).collect()
}

/// ` did you mean `a` or `b`?` (with `prefix` before each name), or "" when nothing is
/// close. Starts with a space so it can follow a sentence directly.
pub fn did_you_mean(prefix: &str, names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => format!(" Did you mean `{prefix}{one}`?"),
        [first @ .., last] => format!(
            " Did you mean {} or `{prefix}{last}`?",
            first
                .iter()
                .map(|n| format!("`{prefix}{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_and_prefixes_are_suggested_best_first() {
        let commands = ["status", "switch", "stop", "serve", "models", "monitor"];
        assert_eq!(closest("statu", commands), ["status"]);
        assert_eq!(closest("swtich", commands), ["switch"], "a transposition");
        assert_eq!(closest("mod", commands), ["models"], "a prefix");
        assert_eq!(closest("STATUS", commands), ["status"], "case");
        assert!(
            closest("status", commands).is_empty(),
            "exact is no suggestion"
        );
        assert!(closest("frobnicate", commands).is_empty());
        let profiles = ["demo-small", "demo-tiny", "glm-flash-q4"];
        assert_eq!(closest("demo-smal", profiles), ["demo-small"]);
        assert!(closest("x", profiles).is_empty());
    }

    #[test]
    fn the_sentence_reads_well_for_one_two_and_three() {
        assert_eq!(did_you_mean("llws ", &[]), "");
        assert_eq!(
            did_you_mean("llws ", &["status"]),
            " Did you mean `llws status`?"
        );
        assert_eq!(
            did_you_mean("", &["a", "b", "c"]),
            " Did you mean `a`, `b` or `c`?"
        );
    }
}
