//! Email addresses as the list compares them: lower-cased, trimmed, with
//! international domains in punycode, and hashed to 64 bits where only
//! membership matters (a hash that bounce tags carry, so it never changes).

use std::collections::{HashMap, HashSet};
use std::hash::Hasher as _;

use sha2::{Digest as _, Sha256};

/// Lower-cases and trims an address for comparison, with an international
/// domain in its ASCII (punycode) form: `a@bücher.de` and
/// `a@xn--bcher-kva.de` are the same mailbox.
pub(crate) fn normalize(email: &str) -> String {
    let lower = email.trim().to_lowercase();
    match lower.rsplit_once('@') {
        Some((local, domain)) if !domain.is_ascii() => match idna::domain_to_ascii(domain) {
            Ok(ascii) => format!("{local}@{ascii}"),
            Err(_) => lower,
        },
        _ => lower,
    }
}

/// A 64-bit hash of a normalized address: the first 8 bytes of its SHA-256,
/// big-endian. Bounce tags carry it, so it is fixed for good (a test pins
/// it); two different addresses collide with a chance of about one in
/// 10^19 per pair.
pub(crate) fn address_hash(normalized: &str) -> u64 {
    let digest = Sha256::digest(normalized.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"))
}

/// The hash the first bounce tags carried: SipHash-1-3 with zero keys over
/// the address and a 0xff byte, as the standard library's `DefaultHasher`
/// computed it for a `str` when they were sent. Computed here by a crate
/// that fixes the algorithm, so tags already sent keep their meaning
/// whatever the toolchain.
pub(crate) fn legacy_address_hash(normalized: &str) -> u64 {
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    h.write(normalized.as_bytes());
    h.write_u8(0xff);
    h.finish()
}

/// An address as logs show it: `a…@example.org` (the whole address only
/// when the log asks for debug detail).
pub(crate) fn masked(email: &str) -> String {
    match email.trim().rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

/// What an address looks like in free text (a server's reply, a bounce).
static ADDRESS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
        .expect("a valid pattern")
});

/// Every address `text` names, lower-cased, in order.
pub(crate) fn addresses_in(text: &str) -> impl Iterator<Item = String> + '_ {
    ADDRESS.find_iter(text).map(|m| m.as_str().to_lowercase())
}

/// `text` (a server's reply, say) with every address in it
/// [`masked`], for logs.
pub(crate) fn mask_addresses(text: &str) -> String {
    ADDRESS
        .replace_all(text, |c: &regex::Captures| masked(&c[0]))
        .into_owned()
}

/// The list as the project's event log has it: the addresses taken off it
/// (kept as their hashes), and those whose latest event joined them to it —
/// a sign-up confirmed through `missive serve`, or added by the author —
/// who receive mail whatever the CSV says.
#[derive(Debug, Default, Clone)]
pub(crate) struct Suppressed {
    hashes: HashSet<u64>,
    joined: HashMap<u64, Joined>,
}

/// A reader the log joined to the list, with what they gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Joined {
    /// Lower-cased.
    pub email: String,
    pub name: String,
    /// Further columns (`[signup] fields`), by name.
    pub fields: Vec<(String, String)>,
}

impl Suppressed {
    pub(crate) fn contains(&self, email: &str) -> bool {
        self.hashes.contains(&address_hash(&normalize(email)))
    }

    /// Takes an address off the list; false if it was off already.
    pub(crate) fn insert(&mut self, email: &str) -> bool {
        let hash = address_hash(&normalize(email));
        self.joined.remove(&hash);
        self.hashes.insert(hash)
    }

    /// Puts an address back; false if it was not off the list.
    pub(crate) fn remove(&mut self, email: &str) -> bool {
        self.hashes.remove(&address_hash(&normalize(email)))
    }

    /// Joins a reader to the list (and puts them back if they were off it).
    pub(crate) fn join(&mut self, joined: Joined) {
        let hash = address_hash(&normalize(&joined.email));
        self.hashes.remove(&hash);
        self.joined.insert(hash, joined);
    }

    /// The reader the log joined to the list with this address, if any.
    pub(crate) fn joined(&self, email: &str) -> Option<&Joined> {
        self.joined.get(&address_hash(&normalize(email)))
    }

    /// Every reader the log joined to the list, in address order.
    pub(crate) fn all_joined(&self) -> Vec<&Joined> {
        let mut all: Vec<&Joined> = self.joined.values().collect();
        all.sort_by(|a, b| a.email.cmp(&b.email));
        all
    }

    /// How many addresses are off the list.
    pub(crate) fn len(&self) -> usize {
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

    #[test]
    fn addresses_in_replies_are_masked() {
        assert_eq!(
            mask_addresses("550 5.1.1 <Outage1@example.com>: no such user; cc b.c@x.org"),
            "550 5.1.1 <O…@example.com>: no such user; cc b…@x.org"
        );
    }

    #[test]
    fn the_hashes_tags_carry_are_pinned() {
        // Fixed vectors: a change here makes every bounce tag already sent
        // trace to nobody.
        assert_eq!(address_hash("reader@example.com"), 0xd108_b279_434f_e1d5);
        assert_eq!(
            legacy_address_hash("reader@example.com"),
            0xd89a_4e8f_dabf_51b6
        );
        // The legacy hash is what the standard library computed when the
        // first tags were sent (and still does with this toolchain).
        #[allow(deprecated)]
        let std_hash = {
            use std::hash::{Hash as _, Hasher as _};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            "reader@example.com".hash(&mut h);
            h.finish()
        };
        assert_eq!(legacy_address_hash("reader@example.com"), std_hash);
    }
}
