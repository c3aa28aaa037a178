//! Unsubscribe tokens: an HMAC-SHA256 of the lower-cased address, keyed by the
//! secret in `MISSIVE_UNSUBSCRIBE_SECRET`, so a link unsubscribes only the
//! reader it was sent to.

use hmac::{Hmac, Mac};
use sha2::Sha256;

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
pub struct Secret(Vec<u8>);

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
        Ok(Secret(bytes))
    }

    /// The secret from the environment: `Ok(None)` when the variable is unset.
    pub fn from_env() -> Result<Option<Secret>, SecretTooShort> {
        match std::env::var_os(SECRET_ENV) {
            None => Ok(None),
            Some(value) => Secret::new(value.into_encoded_bytes()).map(Some),
        }
    }

    fn mac(&self, email: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(email.trim().to_lowercase().as_bytes());
        mac
    }

    /// The token for `email` (case-insensitive), as 64 hex digits.
    pub fn token(&self, email: &str) -> String {
        hex::encode(self.mac(email).finalize().into_bytes())
    }

    /// Whether `token` is the one for `email`, compared in constant time.
    pub fn verify(&self, email: &str, token: &str) -> bool {
        match hex::decode(token.trim()) {
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
    fn short_secrets_are_refused_and_never_shown() {
        assert!(Secret::new("short").is_err());
        assert_eq!(format!("{:?}", secret()), "Secret(…)");
    }
}
