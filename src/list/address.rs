//! Email addresses as the list compares them: lower-cased, trimmed, with
//! international domains in punycode, and hashed to 64 bits where only
//! membership matters.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Lower-cases and trims an address for comparison, with an international
/// domain in its ASCII (punycode) form: `a@bücher.de` and
/// `a@xn--bcher-kva.de` are the same mailbox.
pub fn normalize(email: &str) -> String {
    let lower = email.trim().to_lowercase();
    match lower.rsplit_once('@') {
        Some((local, domain)) if !domain.is_ascii() => match idna::domain_to_ascii(domain) {
            Ok(ascii) => format!("{local}@{ascii}"),
            Err(_) => lower,
        },
        _ => lower,
    }
}

/// A 64-bit hash of a normalized address. SipHash-1-3 with fixed keys: two
/// different addresses collide with a chance of about one in 10^19 per pair.
pub fn address_hash(normalized: &str) -> u64 {
    let mut h = DefaultHasher::new();
    normalized.hash(&mut h);
    h.finish()
}

/// A set of addresses, kept as their hashes: the suppressed ones.
#[derive(Debug, Default, Clone)]
pub struct Suppressed {
    hashes: HashSet<u64>,
}

impl Suppressed {
    pub fn contains(&self, email: &str) -> bool {
        self.hashes.contains(&address_hash(&normalize(email)))
    }

    /// Adds an address; false if it was there already.
    pub fn insert(&mut self, email: &str) -> bool {
        self.hashes.insert(address_hash(&normalize(email)))
    }

    /// Takes an address out; false if it was not there.
    pub fn remove(&mut self, email: &str) -> bool {
        self.hashes.remove(&address_hash(&normalize(email)))
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_and_punycode_domains_are_one_mailbox() {
        assert_eq!(normalize(" A@Bücher.DE "), "a@xn--bcher-kva.de");
        assert_eq!(normalize("a@xn--bcher-kva.de"), "a@xn--bcher-kva.de");
        assert_eq!(
            address_hash("a@x.org"),
            address_hash(&normalize("A@X.org "))
        );
    }
}
