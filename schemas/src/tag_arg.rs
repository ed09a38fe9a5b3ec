//! The `KEY=VALUE` form of a tag given on a command line (`ank run --tags`, `ank-agent --tags`),
//! read the same way by every binary (issue 12: it was written twice).

/// Reads `key=value`: the key is everything before the first `=` and must not be empty; the
/// value may be empty or contain `=`.
pub fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_split_at_the_first_equals_sign_and_need_a_key() {
        let pair = |k: &str, v: &str| Ok((k.to_owned(), v.to_owned()));
        assert_eq!(parse_tag("team=web"), pair("team", "web"));
        assert_eq!(parse_tag("a=b=c"), pair("a", "b=c"));
        assert_eq!(parse_tag("empty="), pair("empty", ""));
        for bad in ["=v", "novalue", ""] {
            assert!(parse_tag(bad).is_err(), "{bad:?}");
        }
    }
}
