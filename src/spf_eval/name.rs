//! Domain name checks done before any query, so a bad name gives the RFC's result
//! (none or permerror) rather than a resolver error turned temperror.

use super::record::is_toplabel;

/// Longest domain name in presentation form without the root dot (RFC 1035 / 7208 4.3).
pub const MAX_NAME: usize = 253;
/// Longest label.
pub const MAX_LABEL: usize = 63;

/// Section 4.3: a name check_host() may start from — multi-label, labels of 1 to 63
/// octets, at most 253 octets, letters/digits/hyphen/underscore, an alphabetic top
/// label. Anything else (domain literals, `A...example.com`) yields "none".
pub fn is_valid_domain(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() || domain.len() > MAX_NAME {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && labels.last().is_some_and(|top| is_toplabel(top))
}

/// Turns a macro-expanded domain-spec into a name to query (section 7.3 and 4.6.4):
/// drops a trailing dot, removes leading labels until it fits in 253 octets, and
/// returns `None` when a label is empty or longer than 63 octets, or the name is empty.
pub fn domain_for_query(expanded: &str) -> Option<String> {
    let mut name = expanded.strip_suffix('.').unwrap_or(expanded);
    while name.len() > MAX_NAME {
        let (_, rest) = name.split_once('.')?;
        name = rest;
    }
    if name.is_empty()
        || name
            .split('.')
            .any(|label| label.is_empty() || label.len() > MAX_LABEL)
    {
        return None;
    }
    if !name.is_ascii() {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_domains() {
        assert!(is_valid_domain("example.com"));
        assert!(is_valid_domain("example.com."));
        assert!(!is_valid_domain("A2345678"));
        assert!(!is_valid_domain("[1.2.3.5]"));
        assert!(!is_valid_domain("A...example.com"));
        assert!(!is_valid_domain(&format!("{}.example.com", "a".repeat(64))));
        assert!(is_valid_domain(&format!("{}.example.com", "a".repeat(63))));
        assert!(!is_valid_domain("example.123"));
    }

    #[test]
    fn query_names() {
        assert_eq!(
            domain_for_query("Foo.Example.com.").as_deref(),
            Some("foo.example.com")
        );
        assert_eq!(domain_for_query("a..b"), None);
        assert_eq!(domain_for_query(""), None);
        let long = format!("{}example.com", "abcdefghi.".repeat(40));
        let cut = domain_for_query(&long).unwrap();
        assert!(cut.len() <= MAX_NAME && cut.ends_with("example.com"));
    }
}
