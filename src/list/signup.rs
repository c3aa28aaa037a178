//! Sign-ups with double opt-in, apart from how they arrive (a form posted
//! to `missive serve`, or the author's `subscribers add`): a form read into
//! a reader, a sign-up admitted as pending (unless the address is on the
//! list already, must get no mail, or was mailed a confirmation too
//! recently), a confirmation token checked (genuine, unexpired, unused),
//! and the confirmation recorded once, with what the reader was before.
//! Every record goes to the list-event log, durably, before anyone is told.

use std::str::FromStr;

use anyhow::{Result, bail};
use sha2::{Digest as _, Sha256};

use crate::list::address::{Joined, address_hash, normalize};
use crate::list::events::{self, Event};
use crate::list::standing::{DAY, ListState, Standing};
use crate::list::token::{Secret, SignupClaim};
use crate::project::Project;
use crate::project::values::OneLine;

/// The form field bots fill and people never see.
pub(crate) const HONEYPOT: &str = "website";
/// The longest value a form field keeps, in characters.
pub(crate) const MAX_VALUE: usize = 200;
/// One confirmation per mailbox per this many seconds…
const PER_ADDRESS: i64 = 10 * 60;
/// …and at most this many a day.
const PER_ADDRESS_A_DAY: usize = 3;

/// A sign-up form as posted: the address, the name, the extra fields the
/// config allows (each once), and whether the honeypot was filled.
#[derive(Debug, Clone)]
pub(crate) struct Form {
    pub(crate) address: lettre::Address,
    pub(crate) name: String,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) honeypot: bool,
}

/// Why a form cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormError {
    /// A name or value is not UTF-8 once decoded.
    NotUtf8,
    /// The email is not an address missive can send to.
    NotAnAddress,
}

impl Form {
    /// Reads a form body (`application/x-www-form-urlencoded`); fields
    /// other than `email`, `name`, the honeypot and those in `allowed` are
    /// left out.
    pub(crate) fn parse(body: &[u8], allowed: &[OneLine]) -> Result<Form, FormError> {
        if !is_utf8_form(body) {
            return Err(FormError::NotUtf8);
        }
        let mut email = String::new();
        let mut name = String::new();
        let mut honeypot = false;
        let mut fields: Vec<(String, String)> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.as_ref() {
                "email" => email = value.trim().to_string(),
                "name" => name = clean(&value),
                HONEYPOT => honeypot |= !value.trim().is_empty(),
                other => {
                    let value = clean(&value);
                    if let Some(field) = allowed.iter().find(|f| f.as_str() == other)
                        && !value.is_empty()
                        && !fields.iter().any(|(k, _)| k == other)
                    {
                        fields.push((field.to_string(), value));
                    }
                }
            }
        }
        let address = lettre::Address::from_str(&email)
            .ok()
            .filter(|a| crate::list::reader::unsendable(a).is_none())
            .ok_or(FormError::NotAnAddress)?;
        Ok(Form {
            address,
            name,
            fields,
            honeypot,
        })
    }

    /// What the confirmation token seals: the reader, as of now.
    pub(crate) fn claim(&self) -> SignupClaim {
        SignupClaim {
            email: normalize(self.address.as_ref()),
            name: self.name.clone(),
            fields: self.fields.clone(),
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
        }
    }
}

/// A value from a form: trimmed, control characters and the invisible
/// ones that reorder text (bidi overrides) dropped, cut to [`MAX_VALUE`]
/// characters.
fn clean(value: &str) -> String {
    value
        .trim()
        .chars()
        .filter(|c| !crate::project::values::is_hidden_format(*c))
        .take(MAX_VALUE)
        .collect()
}

/// Whether every name and value of a form body is UTF-8 once decoded (a
/// form posted from a page in UTF-8 always is; anything else is refused
/// rather than read with replacement characters).
fn is_utf8_form(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| {
        let plus_as_space: Vec<u8> = pair
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        percent_encoding::percent_decode(&plus_as_space)
            .decode_utf8()
            .is_ok()
    })
}

/// What became of a sign-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Recorded as pending: its confirmation may go.
    Pending,
    /// On the list already, or to get no mail at all: nothing recorded.
    Unchanged,
    /// The mailbox had a confirmation too recently: nothing recorded.
    TooSoon,
}

/// Records the pending sign-up of `email` (with `detail`), unless the
/// address is on the list already or must get no mail (by the CSV or the
/// log, as a send sees them), or its mailbox had a confirmation in the
/// last ten minutes or three in a day (by the log, so a restart forgets
/// nothing). The record is synced before this returns.
pub(crate) fn admit(list: &mut ListState, email: &str, detail: &str) -> Result<Admission> {
    list.catch_up()?;
    if matches!(
        list.standing(email),
        Standing::Subscribed | Standing::NoMail
    ) {
        return Ok(Admission::Unchanged);
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if list.mailed_since(email, now - PER_ADDRESS) > 0
        || list.mailed_since(email, now - DAY) >= PER_ADDRESS_A_DAY
    {
        return Ok(Admission::TooSoon);
    }
    list.log
        .append_about(email, Event::Pending, "signup", detail, "")?;
    list.catch_up()?;
    Ok(Admission::Pending)
}

/// Why a confirmation link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("This confirmation link is incomplete.")]
    Incomplete,
    #[error("This confirmation link is not valid.")]
    NotValid,
    #[error("This confirmation link has expired. Please sign up again.")]
    Expired,
    #[error("This confirmation link was used already.")]
    Used,
}

/// The sign-up a confirmation token carries and the token's id, if the
/// token is genuine, unexpired (`confirm_hours`) and unused.
pub(crate) fn check_token(
    secret: &Secret,
    list: &mut ListState,
    token: Option<&str>,
    confirm_hours: u32,
) -> Result<(SignupClaim, String), Refusal> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::Incomplete)?;
    let claim = secret.open_signup(token).ok_or(Refusal::NotValid)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if claim.at > now + 300 || now - claim.at > i64::from(confirm_hours) * 3600 {
        return Err(Refusal::Expired);
    }
    let id = token_id(token);
    // A failure to read the log is found again, and reported, on recording.
    let _ = list.catch_up();
    if list.used.contains(&id) {
        return Err(Refusal::Used);
    }
    Ok((claim, id))
}

/// What identifies a used token in the log (a digest; the token itself
/// would be a working link).
fn token_id(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes())[..12])
}

/// Records the confirmation of `joined` by the token `id` (with the `ip`
/// it came from, when it is to be kept, and what the reader was before:
/// unsubscribed, bounced or complained), durably; `false` when that token
/// was used meanwhile.
pub(crate) fn confirm(
    list: &mut ListState,
    joined: &Joined,
    id: &str,
    ip: Option<&str>,
) -> Result<bool> {
    list.catch_up()?;
    if list.used.contains(id) {
        return Ok(false);
    }
    let was = list
        .latest
        .get(&address_hash(&joined.email))
        .filter(|e| matches!(e, Event::Unsubscribed | Event::Bounced | Event::Complained))
        .cloned();
    let mut extra = vec![("token", id)];
    if let Some(ip) = ip {
        extra.push(("ip", ip));
    }
    if let Some(was) = &was {
        extra.push(("was", was.as_str()));
    }
    let detail = events::joined_detail(joined, &extra);
    list.log
        .append_about(&joined.email, Event::Confirmed, "signup", &detail, "")?;
    list.catch_up()?;
    Ok(true)
}

/// The confirmation link of `claim`, under `confirm_url`.
pub(crate) fn link(confirm_url: &str, secret: &Secret, claim: &SignupClaim) -> String {
    format!("{confirm_url}?token={}", secret.seal_signup(claim))
}

/// The public address of `missive serve`: `[signup] url`, or the scheme
/// and host of `unsubscribe.url`.
pub(crate) fn base_url(project: &Project) -> Result<String> {
    let label = project.config_label();
    match project.config.serve_url() {
        Some(url) => Ok(url),
        None if project.config.unsubscribe.url.is_some() => {
            bail!("{}: unsubscribe.url is not a URL", label.display())
        }
        None => bail!(
            "{}: set signup.url, where readers reach `missive serve` (the confirmation \
             link starts with it)",
            label.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<OneLine> {
        vec![OneLine::new("city").unwrap()]
    }

    #[test]
    fn a_form_keeps_the_allowed_fields_once_and_cleans_them() {
        let form = Form::parse(
            b"email=Ada%40Example.com&name=+Ada%E2%80%AE+L+&city=Paris&city=Rome&role=admin&website=",
            &allowed(),
        )
        .unwrap();
        assert_eq!(form.address.to_string(), "Ada@Example.com");
        assert_eq!(form.name, "Ada L", "trimmed, the bidi override dropped");
        assert_eq!(form.fields, vec![("city".into(), "Paris".into())]);
        assert!(!form.honeypot);
        assert_eq!(form.claim().email, "ada@example.com");
    }

    #[test]
    fn a_form_that_is_not_utf8_or_names_no_address_is_refused() {
        assert_eq!(
            Form::parse(b"email=a%40b.org&name=%FF", &allowed()).unwrap_err(),
            FormError::NotUtf8
        );
        assert_eq!(
            Form::parse(b"email=not-an-address", &allowed()).unwrap_err(),
            FormError::NotAnAddress
        );
        assert!(
            Form::parse(b"email=a%40b.org&website=x", &allowed())
                .unwrap()
                .honeypot
        );
    }

    #[test]
    fn a_sign_up_is_admitted_once_then_limited_and_confirmed_once() {
        let dir = tempfile::tempdir().unwrap();
        let list_path = dir.path().join("subscribers.csv");
        std::fs::write(&list_path, "email\non@example.org\n").unwrap();
        let log = crate::list::events::Log::open(&events::path_in(dir.path())).unwrap();
        let mut list = ListState::open(&list_path, log).unwrap();
        assert_eq!(
            admit(&mut list, "on@example.org", "").unwrap(),
            Admission::Unchanged
        );
        assert_eq!(
            admit(&mut list, "new@example.org", "").unwrap(),
            Admission::Pending
        );
        assert_eq!(
            admit(&mut list, "new@example.org", "").unwrap(),
            Admission::TooSoon
        );

        let secret = Secret::new("a-secret-of-some-length").unwrap();
        let claim = SignupClaim {
            email: "new@example.org".into(),
            name: "New".into(),
            fields: Vec::new(),
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        let token = secret.seal_signup(&claim);
        let (opened, id) = check_token(&secret, &mut list, Some(&token), 48).unwrap();
        assert_eq!(opened, claim);
        let joined = Joined {
            email: opened.email,
            name: opened.name,
            fields: Vec::new(),
        };
        assert!(confirm(&mut list, &joined, &id, Some("192.0.2.1")).unwrap());
        assert!(!confirm(&mut list, &joined, &id, None).unwrap(), "once");
        assert_eq!(
            check_token(&secret, &mut list, Some(&token), 48).unwrap_err(),
            Refusal::Used
        );
        assert_eq!(
            check_token(&secret, &mut list, Some("c-forged"), 48).unwrap_err(),
            Refusal::NotValid
        );
        assert_eq!(
            check_token(&secret, &mut list, Some(" "), 48).unwrap_err(),
            Refusal::Incomplete
        );
        let old = SignupClaim {
            at: claim.at - 49 * 3600,
            ..claim
        };
        let token = secret.seal_signup(&old);
        assert_eq!(
            check_token(&secret, &mut list, Some(&token), 48).unwrap_err(),
            Refusal::Expired
        );
        assert_eq!(
            admit(&mut list, "new@example.org", "").unwrap(),
            Admission::Unchanged,
            "subscribed now"
        );
    }

    #[test]
    fn forms_are_utf8_and_names_lose_what_reorders_text() {
        assert!(is_utf8_form(b"email=a%40b.org&name=Zo%C3%AB+O"));
        assert!(!is_utf8_form(b"email=a%40b.org&name=Zo%EB"));
        assert!(!is_utf8_form(b"email=a%40b.org&na%FFme=x"));
        assert_eq!(clean(" Ada \u{202E}ecalevol\u{202C} "), "Ada ecalevol");
    }
}
