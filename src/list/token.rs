//! Unsubscribe tokens, keyed by the secret in `MISSIVE_UNSUBSCRIBE_SECRET`,
//! so a link unsubscribes only the reader it was sent to. Two forms: the
//! *sealed* token carries the address itself, encrypted and authenticated
//! (AES-SIV), so the link shows no address to web-server logs, link scanners
//! or spam filters; the older *signed* token is an HMAC-SHA256 of an
//! address the link carries in clear, and links already sent that way keep
//! working.

use aes_siv::KeyInit as _;
use aes_siv::siv::Aes128Siv;
use data_encoding::BASE64URL_NOPAD as URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::list::address::{address_hash, legacy_address_hash, normalize};

/// The first character of a sealed token: its format, so a later one can
/// be told apart. `s` tokens (the first) are bound to no list and are still
/// read; `u` tokens are bound to the list they were sent for.
const SEALED_VERSION: char = 'u';
const UNBOUND_SEALED_VERSION: char = 's';

/// The first character of a confirmation token (bound to its list; they
/// live for hours, so the first, unbound form is not read any more).
const CONFIRM_VERSION: char = 'd';

/// What a confirmation link carries: who signed up, with what, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignupClaim {
    /// Lower-cased.
    #[serde(rename = "e")]
    pub email: String,
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "f")]
    pub fields: Vec<(String, String)>,
    /// When the form was sent, in seconds since 1970.
    #[serde(rename = "t")]
    pub at: i64,
}

/// A bounce tag's bytes: issue id (4), address hash (8), signature (6).
const VERP_BYTES: usize = 18;
const VERP_MAC_BYTES: usize = 6;

/// How many bytes of its HMAC a click link carries.
const CLICK_MAC_BYTES: usize = 8;

/// The first character of a bounce tag of today's version; tags of the
/// first version have none (and are a character shorter).
pub const TAG_VERSION: char = 'b';

/// How long a bounce tag is, in characters.
pub const TAG_LEN: usize = 30;

/// The versions of bounce tags, which differ in the address hash they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagVersion {
    /// [`legacy_address_hash`], as the first tags carried.
    V1,
    /// [`address_hash`].
    V2,
}

/// What a genuine bounce tag names: the issue a message went out with and
/// its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tagged {
    /// The issue's [`issue_id`].
    pub issue: [u8; 4],
    hash: u64,
    version: TagVersion,
}

impl Tagged {
    /// Whether the tag was made for `email`.
    pub fn names(&self, email: &str) -> bool {
        self.hash_of(&normalize(email)) == self.hash
    }

    /// The hash of a normalized address as this tag's version computes it.
    fn hash_of(&self, normalized: &str) -> u64 {
        match self.version {
            TagVersion::V1 => legacy_address_hash(normalized),
            TagVersion::V2 => address_hash(normalized),
        }
    }

    /// The address the tag names among addresses keyed by their
    /// [`address_hash`].
    pub fn find<'a, V>(&self, by_hash: &'a std::collections::HashMap<u64, V>) -> Option<&'a V>
    where
        V: AsRef<str>,
    {
        match self.version {
            TagVersion::V2 => by_hash.get(&self.hash),
            TagVersion::V1 => by_hash.values().find(|email| self.names(email.as_ref())),
        }
    }
}

/// An HMAC-SHA256 keyed with the secret's bytes.
fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length")
}

/// A short id of an issue (its file stem), for bounce tags.
pub fn issue_id(stem: &str) -> [u8; 4] {
    use sha2::Digest as _;
    let digest = Sha256::digest(stem.as_bytes());
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The address `missive doctor` tries the one-click endpoint with: no
/// reader has it (`.invalid` is reserved, RFC 2606), and `serve` answers it
/// as it answers a reader, recording nothing.
pub const CANARY: &str = "doctor@missive.invalid";

/// The environment variable holding the secret.
pub const SECRET_ENV: &str = "MISSIVE_UNSUBSCRIBE_SECRET";

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// The secret is too short to sign anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{SECRET_ENV} must be at least {MIN_SECRET_LEN} bytes long; \
     generate one with `openssl rand -hex 32`"
)]
pub struct SecretTooShort;

/// The secret that signs unsubscribe tokens. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret {
    bytes: Vec<u8>,
    /// The key that seals addresses, derived once from the secret.
    seal_key: aes_siv::Key<Aes128Siv>,
    /// The key that signs click links, derived once from the secret.
    click_key: [u8; 32],
    /// The list's identity ([`for_list`](Secret::for_list)), which sealed
    /// tokens are bound to: two newsletters that share a secret do not
    /// accept each other's links.
    list: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, SecretTooShort> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretTooShort);
        }
        // Sealing has a key of its own, derived from the secret, never the
        // secret itself (which also signs).
        let mut derive = keyed(&bytes);
        derive.update(b"missive unsubscribe seal v1");
        let seal_key = derive.finalize().into_bytes();
        let mut derive = keyed(&bytes);
        derive.update(b"missive click link v1");
        let click_key = derive.finalize().into_bytes().into();
        Ok(Secret {
            bytes,
            seal_key,
            click_key,
            list: Vec::new(),
        })
    }

    /// The secret from the environment, bound to the project's list (its
    /// `newsletter.list_id`, or else its From address, or its name).
    pub fn for_project(
        project: &crate::project::Project,
    ) -> Result<Option<Secret>, SecretTooShort> {
        let newsletter = &project.config.newsletter;
        let identity = newsletter
            .list_id
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| newsletter.from.as_ref().map(|m| m.0.email.to_string()))
            .unwrap_or_else(|| newsletter.name.to_string());
        Ok(Secret::from_env()?.map(|s| s.for_list(&identity)))
    }

    /// The secret, binding the tokens it seals to the list named
    /// `identity` (its `List-Id`, or its From address).
    #[must_use]
    pub fn for_list(mut self, identity: &str) -> Secret {
        self.list = identity.trim().to_lowercase().into_bytes();
        self
    }

    /// The secret from the environment: `Ok(None)` when the variable is unset.
    pub fn from_env() -> Result<Option<Secret>, SecretTooShort> {
        match std::env::var_os(SECRET_ENV) {
            None => Ok(None),
            Some(value) => Secret::new(value.into_encoded_bytes()).map(Some),
        }
    }

    fn mac(&self, email: &str) -> Hmac<Sha256> {
        let mut mac = keyed(&self.bytes);
        mac.update(email.trim().to_lowercase().as_bytes());
        mac
    }

    /// The token for `email` (case-insensitive), as 64 hex digits.
    pub fn token(&self, email: &str) -> String {
        data_encoding::HEXLOWER.encode(&self.mac(email).finalize().into_bytes())
    }

    fn sealer(&self) -> Aes128Siv {
        Aes128Siv::new(&self.seal_key)
    }

    /// A token that carries `email` (lower-cased), sealed: only this secret
    /// opens it, and any change to it is detected. The same address always
    /// gets the same token.
    pub fn seal(&self, email: &str) -> String {
        let address = email.trim().to_lowercase();
        let sealed = self
            .sealer()
            .encrypt(
                [b"unsubscribe".as_slice(), self.list.as_slice()],
                address.as_bytes(),
            )
            .expect("AES-SIV seals any message that fits in memory");
        format!("{SEALED_VERSION}{}", URL_SAFE_NO_PAD.encode(&sealed))
    }

    /// The address a sealed token carries, if this secret sealed it for
    /// this list (or sealed it in the first, unbound form).
    pub fn open(&self, token: &str) -> Option<String> {
        let token = token.trim();
        let (body, bound) = match token.strip_prefix(SEALED_VERSION) {
            Some(body) => (body, true),
            None => (token.strip_prefix(UNBOUND_SEALED_VERSION)?, false),
        };
        let sealed = URL_SAFE_NO_PAD.decode(body.as_bytes()).ok()?;
        let opened = if bound {
            self.sealer()
                .decrypt([b"unsubscribe".as_slice(), self.list.as_slice()], &sealed)
        } else {
            self.sealer().decrypt([b"unsubscribe".as_slice()], &sealed)
        }
        .ok()?;
        String::from_utf8(opened).ok()
    }

    /// A confirmation token: the sign-up itself, sealed (so the link shows
    /// no address and nobody can alter or forge one), for
    /// [`open_signup`](Secret::open_signup) to read back.
    pub fn seal_signup(&self, claim: &SignupClaim) -> String {
        let json = serde_json::to_vec(claim).expect("a claim serializes");
        let sealed = self
            .sealer()
            .encrypt([b"confirm".as_slice(), self.list.as_slice()], &json)
            .expect("AES-SIV seals any message that fits in memory");
        format!("{CONFIRM_VERSION}{}", URL_SAFE_NO_PAD.encode(&sealed))
    }

    /// The sign-up a confirmation token carries, if this secret sealed it.
    pub fn open_signup(&self, token: &str) -> Option<SignupClaim> {
        let body = token.trim().strip_prefix(CONFIRM_VERSION)?;
        let sealed = URL_SAFE_NO_PAD.decode(body.as_bytes()).ok()?;
        let json = self
            .sealer()
            .decrypt([b"confirm".as_slice(), self.list.as_slice()], &sealed)
            .ok()?;
        serde_json::from_slice(&json).ok()
    }

    fn click(&self, issue: &str, wave: u32, n: u32, url: &str) -> Hmac<Sha256> {
        let mut mac = keyed(&self.click_key);
        for part in [self.list.as_slice(), issue.as_bytes(), url.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&wave.to_be_bytes());
        mac.update(&n.to_be_bytes());
        mac
    }

    /// The signature of a click link: link `n` of `issue`, to `url`, sent
    /// in `wave` (64 bits, base64url: 11 characters). Any change to one of
    /// them, or another list, makes another.
    pub fn click_mac(&self, issue: &str, wave: u32, n: u32, url: &str) -> String {
        let bytes = self.click(issue, wave, n, url).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&bytes[..CLICK_MAC_BYTES])
    }

    /// Whether `mac` signs link `n` of `issue` to `url` in `wave` (compared
    /// in constant time).
    pub fn click_mac_matches(&self, issue: &str, wave: u32, n: u32, url: &str, mac: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(mac.as_bytes()) else {
            return false;
        };
        given.len() == CLICK_MAC_BYTES
            && self
                .click(issue, wave, n, url)
                .verify_truncated_left(&given)
                .is_ok()
    }

    /// The tag of a bounce address (`bounces+<tag>@…`, VERP) and of each
    /// message's `Message-ID`: it names the issue and the recipient (as
    /// hashes) and is signed, so a bounce can be traced to both and nobody
    /// can forge one to suppress somebody else. 30 lower-case letters and
    /// digits, whatever the address: [`TAG_VERSION`] and the signed bytes.
    pub fn verp_tag(&self, issue: &str, email: &str) -> String {
        let mut body = Vec::with_capacity(VERP_BYTES);
        body.extend_from_slice(&issue_id(issue));
        body.extend_from_slice(&address_hash(&normalize(email)).to_be_bytes());
        let mac = self.verp_mac(TagVersion::V2, &body).finalize().into_bytes();
        body.extend_from_slice(&mac[..VERP_MAC_BYTES]);
        format!(
            "{TAG_VERSION}{}",
            data_encoding::BASE32_NOPAD.encode(&body).to_lowercase()
        )
    }

    /// What a bounce tag says, if this secret signed it: a tag of today
    /// ([`verp_tag`](Secret::verp_tag)) or one of the first version (29
    /// characters, whose address hash is [`legacy_address_hash`]).
    pub fn open_verp_tag(&self, tag: &str) -> Option<Tagged> {
        let tag = tag.trim().to_lowercase();
        let (version, encoded) = match tag.len() {
            30 => (TagVersion::V2, tag.strip_prefix(TAG_VERSION)?),
            29 => (TagVersion::V1, tag.as_str()),
            _ => return None,
        };
        let body = data_encoding::BASE32_NOPAD
            .decode(encoded.to_uppercase().as_bytes())
            .ok()?;
        if body.len() != VERP_BYTES {
            return None;
        }
        let (signed, mac) = body.split_at(VERP_BYTES - VERP_MAC_BYTES);
        // Compared in constant time.
        self.verp_mac(version, signed)
            .verify_truncated_left(mac)
            .ok()?;
        Some(Tagged {
            issue: signed[..4].try_into().ok()?,
            hash: u64::from_be_bytes(signed[4..12].try_into().ok()?),
            version,
        })
    }

    fn verp_mac(&self, version: TagVersion, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = keyed(&self.bytes);
        mac.update(match version {
            TagVersion::V1 => b"missive bounce tag v1",
            TagVersion::V2 => b"missive bounce tag v2",
        });
        mac.update(body);
        mac
    }

    /// Whether `token` is the one for `email`, compared in constant time.
    pub fn verify(&self, email: &str, token: &str) -> bool {
        match data_encoding::HEXLOWER_PERMISSIVE.decode(token.trim().as_bytes()) {
            Ok(bytes) => self.mac(email).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("a test secret of enough length").unwrap()
    }

    #[test]
    fn tokens_verify_for_their_address_only() {
        let s = secret();
        let t = s.token("Reader@Example.com");
        assert_eq!(t.len(), 64);
        assert_eq!(t, s.token("reader@example.com"));
        assert!(s.verify("reader@example.com", &t));
        assert!(!s.verify("other@example.com", &t));
        assert!(!s.verify("reader@example.com", &t[..63]));
        assert!(!s.verify("reader@example.com", &t[..62]));
        assert!(!s.verify("reader@example.com", "zz"));
        let other = Secret::new("another secret, also long enough").unwrap();
        assert!(!other.verify("reader@example.com", &t));
    }

    #[test]
    fn click_macs_sign_issue_wave_link_and_target() {
        let s = secret().for_list("news.example.com");
        let mac = s.click_mac("2026-11-27", 3, 12, "https://a.example/x");
        assert_eq!(mac.len(), 11); // compose::clicks::MAC_CHARS, which weighs the links
        assert!(s.click_mac_matches("2026-11-27", 3, 12, "https://a.example/x", &mac));
        for (issue, wave, n, url) in [
            ("2026-11-28", 3, 12, "https://a.example/x"),
            ("2026-11-27", 4, 12, "https://a.example/x"),
            ("2026-11-27", 3, 13, "https://a.example/x"),
            ("2026-11-27", 3, 12, "https://evil.example/x"),
        ] {
            assert!(
                !s.click_mac_matches(issue, wave, n, url, &mac),
                "{issue} {wave} {n} {url}"
            );
        }
        let other_list = secret().for_list("other.example.com");
        assert!(!other_list.click_mac_matches("2026-11-27", 3, 12, "https://a.example/x", &mac));
        assert!(!s.click_mac_matches("2026-11-27", 3, 12, "https://a.example/x", &mac[..10]));
        assert!(!s.click_mac_matches("2026-11-27", 3, 12, "https://a.example/x", "!!!"));
    }

    #[test]
    fn sealed_tokens_carry_their_address_and_nothing_else_opens_them() {
        let s = secret();
        let t = s.seal("Reader+news@Example.com");
        assert!(
            !t.contains('@') && !t.to_lowercase().contains("reader"),
            "{t}"
        );
        assert!(t.len() < 80, "{t}");
        assert_eq!(t, s.seal("reader+news@example.com"), "deterministic");
        assert_eq!(s.open(&t).as_deref(), Some("reader+news@example.com"));
        // Truncated, altered, forged, of another secret: nothing.
        assert_eq!(s.open(&t[..t.len() - 1]), None);
        let mut altered = t.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.open(&String::from_utf8(altered).unwrap()), None);
        assert_eq!(s.open("sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), None);
        assert_eq!(
            s.open(&s.token("reader@example.com")),
            None,
            "a signed token is not sealed"
        );
        let other = Secret::new("another secret, also long enough").unwrap();
        assert_eq!(other.open(&t), None);
    }

    #[test]
    fn bounce_tags_name_issue_and_reader_and_cannot_be_forged() {
        let s = secret();
        let tag = s.verp_tag("2026-11-27-tides", "Reader@Example.com");
        assert_eq!(tag.len(), TAG_LEN, "{tag}");
        assert!(
            tag.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{tag}"
        );
        let tagged = s.open_verp_tag(&tag).unwrap();
        assert_eq!(tagged.issue, issue_id("2026-11-27-tides"));
        assert!(tagged.names("reader@example.com"));
        assert!(!tagged.names("victim@example.com"));
        assert_eq!(s.open_verp_tag(&tag.to_uppercase()), Some(tagged));
        // Another reader's tag with this one's signature, a truncated tag,
        // another secret's: nothing.
        let other = s.verp_tag("2026-11-27-tides", "victim@example.com");
        let forged = format!("{}{}", &other[..20], &tag[20..]);
        assert_eq!(s.open_verp_tag(&forged), None);
        assert_eq!(s.open_verp_tag(&tag[..29]), None);
        assert_eq!(s.open_verp_tag(&tag[1..]), None, "not a first-version tag");
        let stranger = Secret::new("another secret, also long enough").unwrap();
        assert_eq!(stranger.open_verp_tag(&tag), None);
    }

    #[test]
    fn tags_of_the_first_version_keep_their_meaning() {
        // A tag sent before the address hash was pinned, made as that
        // version made it: issue id, the legacy hash, its signature.
        let s = secret();
        let mut body = issue_id("2026-11-27-tides").to_vec();
        body.extend_from_slice(&legacy_address_hash("reader@example.com").to_be_bytes());
        let mac = s.verp_mac(TagVersion::V1, &body).finalize().into_bytes();
        body.extend_from_slice(&mac[..VERP_MAC_BYTES]);
        let v1 = data_encoding::BASE32_NOPAD.encode(&body).to_lowercase();
        assert_eq!(v1.len(), 29);
        let tagged = s.open_verp_tag(&v1).expect("a genuine first-version tag");
        assert_eq!(tagged.issue, issue_id("2026-11-27-tides"));
        assert!(tagged.names("Reader@example.com"));
        assert!(!tagged.names("victim@example.com"));
        // A first-version tag is not read as today's, nor the reverse.
        assert_eq!(s.open_verp_tag(&format!("b{v1}")), None);
    }

    #[test]
    fn a_bounce_tag_is_pinned() {
        // A fixed vector: if this changes, tags already sent trace to nobody.
        let s = secret();
        assert_eq!(
            s.verp_tag("2026-11-27-tides", "reader@example.com"),
            "bqqs5mzorbczhsq2p4hk3gtu5adu6u"
        );
    }

    #[test]
    fn confirmation_tokens_carry_the_sign_up_and_nothing_else_opens_them() {
        let s = secret();
        let claim = SignupClaim {
            email: "ada@example.org".into(),
            name: "Ada".into(),
            fields: vec![("city".into(), "Paris".into())],
            at: 1_764_234_842,
        };
        let t = s.seal_signup(&claim);
        assert!(!t.contains("ada") && !t.contains('@'), "{t}");
        assert_eq!(s.open_signup(&t), Some(claim.clone()));
        assert_eq!(s.open_signup(&t[..t.len() - 1]), None);
        assert_eq!(
            s.open_signup(&s.seal("ada@example.org")),
            None,
            "another kind"
        );
        assert_eq!(s.open(&t), None, "not an unsubscribe token");
        let other = Secret::new("another secret, also long enough").unwrap();
        assert_eq!(other.open_signup(&t), None);
    }

    #[test]
    fn tokens_are_bound_to_their_list() {
        let ours = Secret::new("a secret two newsletters share")
            .unwrap()
            .for_list("<weekly.ours.example>");
        let theirs = Secret::new("a secret two newsletters share")
            .unwrap()
            .for_list("<news.theirs.example>");
        let t = ours.seal("ada@example.org");
        assert_eq!(ours.open(&t).as_deref(), Some("ada@example.org"));
        assert_eq!(theirs.open(&t), None, "another list's unsubscribe link");
        let claim = SignupClaim {
            email: "ada@example.org".into(),
            name: String::new(),
            fields: Vec::new(),
            at: 1,
        };
        assert_eq!(theirs.open_signup(&ours.seal_signup(&claim)), None);
        assert_eq!(ours.open_signup(&ours.seal_signup(&claim)), Some(claim));
        // A link sealed before tokens were bound (`s…`) still unsubscribes.
        let unbound = {
            let sealed = ours
                .sealer()
                .encrypt([b"unsubscribe".as_slice()], b"bob@example.org")
                .unwrap();
            format!("s{}", URL_SAFE_NO_PAD.encode(&sealed))
        };
        assert_eq!(ours.open(&unbound).as_deref(), Some("bob@example.org"));
    }

    #[test]
    fn short_secrets_are_refused_and_never_shown() {
        assert!(Secret::new("short").is_err());
        assert_eq!(format!("{:?}", secret()), "Secret(…)");
    }
}
