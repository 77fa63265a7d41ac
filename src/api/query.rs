//! Query strings, percent-decoded (`?tail=200`, `?model=a%2Fb`).

use axum::http::Uri;

/// The value of `key` in the query string, percent-decoded (`Some("")` for a bare `?key`).
/// The first occurrence wins.
pub fn query_value(uri: &Uri, key: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(uri: &str, key: &str) -> Option<String> {
        query_value(&uri.parse().unwrap(), key)
    }

    #[test]
    fn values_are_found_and_decoded() {
        assert_eq!(value("/logs?tail=20", "tail").as_deref(), Some("20"));
        assert_eq!(
            value("/logs?a=1&tail=3&tail=4", "tail").as_deref(),
            Some("3")
        );
        assert_eq!(value("/logs?no-history", "no-history").as_deref(), Some(""));
        assert_eq!(value("/x?model=a%2Fb+c", "model").as_deref(), Some("a/b c"));
        assert_eq!(value("/logs", "tail"), None);
        assert_eq!(value("/logs?tails=1", "tail"), None);
    }
}
