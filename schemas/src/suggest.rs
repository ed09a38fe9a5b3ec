//! "Did you mean …?": the closest known key to a misspelt one.

/// The candidate closest to `word` by Jaro-Winkler similarity (case-insensitive), if it is close
/// enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_typos_get_a_suggestion_and_strangers_none() {
        let keys = ["agent", "runtime", "runtimeConfig", "restartPolicy", "tags"];
        assert_eq!(closest("restartpolicy", keys), Some("restartPolicy"));
        assert_eq!(closest("runtimeconfig", keys), Some("runtimeConfig"));
        assert_eq!(closest("agnet", keys), Some("agent"));
        assert_eq!(closest("xyzzy", keys), None);
    }
}
