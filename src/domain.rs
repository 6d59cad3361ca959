//! Configured domain lists: "this domain or a sub-domain of it, the longest match
//! wins". Local domains, route ceilings, releasability countries, trusted ARC sealers
//! and DKIM signing keys all match recipient or sender domains this one way.

/// Whether `domain` is `parent` or a sub-domain of it, ignoring ASCII case and a
/// trailing dot: `a.agency.govt.nz` is within `agency.govt.nz`, `xagency.govt.nz` is not.
pub fn is_within(domain: &str, parent: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    let parent = parent.trim_end_matches('.');
    if parent.is_empty() {
        return false;
    }
    domain.eq_ignore_ascii_case(parent)
        || (domain.len() > parent.len()
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
            && domain[domain.len() - parent.len()..].eq_ignore_ascii_case(parent))
}

/// A configured domain as it is kept: trimmed, lower-case, without a trailing dot or
/// a leading `@` (admins write `@agency.govt.nz` as often as `agency.govt.nz`).
pub fn normalize(domain: &str) -> String {
    domain
        .trim()
        .trim_start_matches('@')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Domains, each standing for itself and its sub-domains, with a value per domain.
/// A lookup finds the longest (most specific) configured domain covering a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainMap<T> {
    /// Normalized, longest first, so the first match is the most specific one.
    entries: Vec<(String, T)>,
}

/// Domains without values: membership only.
pub type DomainSet = DomainMap<()>;

impl<T> Default for DomainMap<T> {
    fn default() -> Self {
        DomainMap {
            entries: Vec::new(),
        }
    }
}

impl<T> DomainMap<T> {
    /// Builds the map from `(domain, value)` pairs as configured. Empty domains are
    /// dropped; when a domain is listed twice, the first value is kept.
    pub fn new<S: AsRef<str>>(entries: impl IntoIterator<Item = (S, T)>) -> Self {
        let mut out: Vec<(String, T)> = Vec::new();
        for (d, v) in entries {
            let d = normalize(d.as_ref());
            if !d.is_empty() && !out.iter().any(|(e, _)| *e == d) {
                out.push((d, v));
            }
        }
        // Stable: equal lengths keep their configured order.
        out.sort_by_key(|(d, _)| std::cmp::Reverse(d.len()));
        DomainMap { entries: out }
    }

    /// The most specific configured domain covering `domain`, and its value.
    pub fn longest_match(&self, domain: &str) -> Option<(&str, &T)> {
        self.entries
            .iter()
            .find(|(d, _)| is_within(domain, d))
            .map(|(d, v)| (d.as_str(), v))
    }

    /// The value of the most specific configured domain covering `domain`.
    pub fn get(&self, domain: &str) -> Option<&T> {
        self.longest_match(domain).map(|(_, v)| v)
    }

    /// Whether some configured domain covers `domain`.
    pub fn covers(&self, domain: &str) -> bool {
        self.longest_match(domain).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl DomainSet {
    /// A set of domains as configured (`agency.govt.nz`, `@Agency.govt.nz.`).
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        DomainMap::new(names.into_iter().map(|n| (n, ())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_or_sub_domain_only() {
        assert!(is_within("agency.govt.nz", "agency.govt.nz"));
        assert!(is_within("Mail.Agency.govt.nz.", "agency.govt.nz"));
        assert!(is_within("agency.govt.nz", "AGENCY.govt.nz."));
        assert!(!is_within("xagency.govt.nz", "agency.govt.nz"));
        assert!(!is_within("govt.nz", "agency.govt.nz"));
        assert!(!is_within("agency.govt.nz", ""));
    }

    #[test]
    fn longest_configured_domain_wins() {
        let m = DomainMap::new([
            ("govt.nz", 1),
            ("@Secret.Agency.govt.nz.", 3),
            ("agency.govt.nz", 2),
            ("", 9),
        ]);
        assert_eq!(m.get("x.secret.agency.govt.nz"), Some(&3));
        assert_eq!(
            m.longest_match("mail.agency.govt.nz"),
            Some(("agency.govt.nz", &2))
        );
        assert_eq!(m.get("other.govt.nz"), Some(&1));
        assert_eq!(m.get("example.com"), None);
        assert!(!m.covers(""));
    }

    #[test]
    fn set_membership_normalizes_names() {
        let s = DomainSet::from_names([" Agency.govt.nz. ", "@partner.govt.nz"]);
        assert!(s.covers("mail.agency.govt.nz"));
        assert!(s.covers("PARTNER.govt.nz"));
        assert!(!s.covers("xpartner.govt.nz"));
        assert!(DomainSet::from_names(Vec::<String>::new()).is_empty());
    }
}
