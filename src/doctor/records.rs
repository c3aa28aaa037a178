//! Reading DNS records and comparing domains: the tags of a DKIM or DMARC
//! record, and the organizational domain relaxed alignment compares.

/// The organizational domain of `name` (its registrable domain, by the
/// Public Suffix List; a name under an unlisted suffix counts its last two
/// labels): what relaxed DMARC alignment compares.
pub(super) fn organizational(name: &str) -> String {
    psl::domain_str(name).unwrap_or(name).to_ascii_lowercase()
}

/// Whether `a` aligns with `b`: the same name (strict) or the same
/// organizational domain (relaxed).
pub(super) fn aligned(a: &str, b: &str, strict: bool) -> bool {
    if strict {
        a.eq_ignore_ascii_case(b)
    } else {
        organizational(a) == organizational(b)
    }
}

/// What follows `version` (`v=spf1`, `v=DMARC1`) at the start of `record`,
/// compared without case; `None` when the record is not of that version.
pub(super) fn after_version<'a>(record: &'a str, version: &str) -> Option<&'a str> {
    let record = record.trim_start();
    record
        .get(..version.len())
        .filter(|v| v.eq_ignore_ascii_case(version))
        .map(|_| &record[version.len()..])
}

/// The tags of a DKIM or DMARC record (`k=v; k=v`), names lower-cased.
pub(super) fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

pub(super) fn tag<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domains_follow_the_public_suffix_list() {
        assert_eq!(organizational("news.example.co.uk"), "example.co.uk");
        assert_eq!(organizational("a.b.example.com"), "example.com");
        // An unlisted suffix (the tests' .test): the last two labels.
        assert_eq!(organizational("news.orgwalk.test"), "orgwalk.test");
        assert!(aligned("bounces.example.com", "example.com", false));
        assert!(!aligned("bounces.example.com", "example.com", true));
        assert!(!aligned("example.net", "example.com", false));
    }

    #[test]
    fn versions_are_read_without_case() {
        assert_eq!(after_version(" V=SPF1 -all", "v=spf1"), Some(" -all"));
        assert_eq!(
            after_version("v=DMARC1;p=none", "v=DMARC1"),
            Some(";p=none")
        );
        assert_eq!(after_version("v=sp", "v=spf1"), None);
        // A multi-byte character where the version would end is no version.
        assert_eq!(after_version("v=spfé", "v=spf1"), None);
    }

    #[test]
    fn tags_are_read_loosely() {
        let t = tags("v=DMARC1;p=reject; rua = mailto:a@b.test ;");
        assert_eq!(tag(&t, "p"), Some("reject"));
        assert_eq!(tag(&t, "rua"), Some("mailto:a@b.test"));
        assert_eq!(tag(&t, "sp"), None);
    }
}
