//! Validated values shared by the config and the issue files: one-line text,
//! prose, web URLs, dates, mailboxes, the unsubscribe URL template and the
//! sending rate. Each refuses what cannot go into an email, with a reason.

use std::fmt;
use std::str::FromStr;

use lettre::Address;
use lettre::message::Mailbox;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("must not be empty")]
    Empty,
    #[error("must be a single line (no line breaks)")]
    LineBreak,
    #[error(
        "contains the control character U+{:04X}, which cannot go into an email; remove it",
        u32::from(*.0)
    )]
    ControlCharacter(char),
    #[error("not a valid URL ({0})")]
    Url(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("only http and https links are allowed, not `{0}:`")]
    Scheme(String),
    #[error("`{value}` is not a valid mailbox such as `Name <you@example.com>` ({reason})")]
    Mailbox { value: String, reason: String },
    #[error("`{value}` is not a valid address ({reason})")]
    Address { value: String, reason: String },
    #[error("must be a number of messages per second from {min} to {max}, not {value}")]
    Rate { value: f64, min: f64, max: f64 },
}

/// What a [`Bounded`] number counts, as its range error words it.
pub trait Unit {
    const WORD: &'static str;
}

macro_rules! units {
    ($($name:ident = $word:literal),* $(,)?) => {$(
        #[doc = concat!("Counts ", $word, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name;
        impl Unit for $name {
            const WORD: &'static str = $word;
        }
    )*};
}

units! {
    Seconds = "seconds",
    Hours = "hours",
    Connections = "connections",
    Recipients = "recipients",
    Attempts = "attempts",
    Messages = "messages",
    Shares = "shares",
    Issues = "issues",
    SignUps = "sign-ups",
    WordsAMinute = "words a minute",
}

/// A whole number of `U` within `MIN..=MAX`, and `DEFAULT` where the key
/// is left out (`#[serde(default)]`): every ranged key of the config is
/// one, and a value out of range is refused with the range in the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bounded<T, U, const MIN: u64, const MAX: u64, const DEFAULT: u64> {
    value: T,
    unit: std::marker::PhantomData<U>,
}

impl<T, U, const MIN: u64, const MAX: u64, const DEFAULT: u64> Bounded<T, U, MIN, MAX, DEFAULT>
where
    T: TryFrom<u64> + Copy,
    U: Unit,
{
    /// `value`, if it is in range.
    pub fn new(value: u64) -> Option<Self> {
        (MIN..=MAX).contains(&value).then(|| Bounded {
            value: T::try_from(value).ok().expect("the range fits the type"),
            unit: std::marker::PhantomData,
        })
    }

    pub fn get(self) -> T {
        self.value
    }
}

impl<T, U, const MIN: u64, const MAX: u64, const DEFAULT: u64> Default
    for Bounded<T, U, MIN, MAX, DEFAULT>
where
    T: TryFrom<u64> + Copy,
    U: Unit,
{
    fn default() -> Self {
        Self::new(DEFAULT).expect("the default is in range")
    }
}

impl<'de, T, U, const MIN: u64, const MAX: u64, const DEFAULT: u64> Deserialize<'de>
    for Bounded<T, U, MIN, MAX, DEFAULT>
where
    T: TryFrom<u64> + Copy,
    U: Unit,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        u64::try_from(v).ok().and_then(Self::new).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "must be a whole number of {} from {MIN} to {MAX}, not {v}",
                U::WORD
            ))
        })
    }
}

/// A non-empty string on one line (no CR or LF): safe for headers and headings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OneLine(String);

impl OneLine {
    pub fn new(s: &str) -> Result<OneLine, ValueError> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            Err(ValueError::Empty)
        } else if trimmed.contains(['\r', '\n']) {
            Err(ValueError::LineBreak)
        } else if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
            Err(ValueError::ControlCharacter(c))
        } else {
            Ok(OneLine(trimmed.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OneLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OneLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OneLine::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Text of one or more lines (Markdown, a greeting): anything but control
/// characters other than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prose(String);

impl Prose {
    pub fn new(s: &str) -> Result<Prose, ValueError> {
        match s
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            Some(c) => Err(ValueError::ControlCharacter(c)),
            None => Ok(Prose(s.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Prose {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Prose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Prose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Prose::new(&s).map_err(serde::de::Error::custom)
    }
}

/// An absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebUrl(url::Url);

impl WebUrl {
    pub fn parse(s: &str) -> Result<WebUrl, ValueError> {
        let url = url::Url::parse(s.trim()).map_err(|e| ValueError::Url(e.to_string()))?;
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(WebUrl(url)),
            "http" | "https" => Err(ValueError::NoHost),
            other => Err(ValueError::Scheme(other.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WebUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WebUrl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A calendar date, written as a bare TOML date (`2026-11-27`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub time::Date);

impl Date {
    /// `November 27, 2026`.
    pub fn long(&self) -> String {
        let d = self.0;
        format!("{} {}, {}", d.month(), d.day(), d.year())
    }

    /// `2026-11-27`.
    pub fn iso(&self) -> String {
        let d = self.0;
        format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let expected = "expected a TOML date such as 2026-11-27 (no quotes, no time)";
        let dt = toml::value::Datetime::deserialize(d).map_err(|e| {
            // serde says "invalid type: string \"x\", expected a TOML datetime".
            let e = e.to_string();
            let found = e
                .strip_prefix("invalid type: ")
                .and_then(|rest| rest.split_once(", expected"))
                .map_or(e.as_str(), |(found, _)| found);
            D::Error::custom(format!("{expected}, found {found}"))
        })?;
        match (dt.date, dt.time, dt.offset) {
            (Some(date), None, None) => {
                let month = time::Month::try_from(date.month).map_err(D::Error::custom)?;
                time::Date::from_calendar_date(i32::from(date.year), month, date.day)
                    .map(Date)
                    .map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom(format!("{expected}, found `{dt}`"))),
        }
    }
}

/// An unsubscribe URL template: an http(s) URL once `{email}` and `{token}`
/// are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeUrl(String);

impl UnsubscribeUrl {
    pub fn template(&self) -> &str {
        &self.0
    }

    /// Whether the URL carries a token, so sending needs the secret.
    pub fn needs_token(&self) -> bool {
        self.0.contains("{token}")
    }

    /// Whether the token is the only trace of the reader in the URL (no
    /// `{email}`): then it is sealed, carrying the address encrypted.
    pub fn sealed(&self) -> bool {
        self.needs_token() && !self.0.contains("{email}")
    }

    /// Whether the URL is https (the scheme in any case: `HTTPS://` too).
    pub fn is_https(&self) -> bool {
        self.0
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }

    /// Whether messages may advertise one-click unsubscribe (RFC 8058):
    /// only for an https URL whose token `missive serve` can verify.
    pub fn one_click(&self) -> bool {
        self.is_https() && self.needs_token()
    }

    /// The URL for one reader; values are percent-encoded.
    pub fn fill(&self, email: &str, token: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        self.0
            .replace("{email}", &enc(email))
            .replace("{token}", &enc(token))
    }
}

impl<'de> Deserialize<'de> for UnsubscribeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let probe = s
            .replace("{email}", "reader%40example.com")
            .replace("{token}", "0");
        WebUrl::parse(&probe).map_err(serde::de::Error::custom)?;
        Ok(UnsubscribeUrl(s.trim().to_string()))
    }
}

/// A mailbox such as `Matt <matt@example.com>`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxValue(pub Mailbox);

impl<'de> Deserialize<'de> for MailboxValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_mailbox(&s)
            .map(MailboxValue)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for MailboxValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parses `Name <address>` or a bare address; refuses line breaks.
pub fn parse_mailbox(s: &str) -> Result<Mailbox, ValueError> {
    if s.contains(['\r', '\n']) {
        return Err(ValueError::LineBreak);
    }
    Mailbox::from_str(s.trim()).map_err(|e| ValueError::Mailbox {
        value: s.to_string(),
        reason: e.to_string(),
    })
}

/// A bare email address, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressValue(pub Address);

impl<'de> Deserialize<'de> for AddressValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::from_str(s.trim()).map(AddressValue).map_err(|e| {
            serde::de::Error::custom(ValueError::Address {
                value: s.clone(),
                reason: e.to_string(),
            })
        })
    }
}

impl fmt::Display for AddressValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The slowest and fastest rates accepted, in messages per second.
pub const RATE_RANGE: (f64, f64) = (0.001, 100_000.0);

/// A rate in messages per second, greater than zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositiveRate(pub f64);

impl<'de> Deserialize<'de> for PositiveRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        let (min, max) = RATE_RANGE;
        if v.is_finite() && (min..=max).contains(&v) {
            Ok(PositiveRate(v))
        } else {
            Err(serde::de::Error::custom(ValueError::Rate {
                value: v,
                min,
                max,
            }))
        }
    }
}

/// Characters that change how text reads without being seen: controls,
/// the bidi overrides and isolates (U+202A–E, U+2066–9) and marks, and
/// zero-width ones. Text from outside (a page's title, a form's name)
/// loses them.
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{FEFF}'
    ) || c.is_control()
}

/// The schema of a value read from a string: `string`, with what it must be.
macro_rules! string_schema {
    ($($name:ty => $what:literal),* $(,)?) => {$(
        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "format": $what })
            }
        }
    )*};
}

string_schema! {
    OneLine => "one line of text",
    Prose => "text (Markdown where the key says so)",
    WebUrl => "an http(s) URL",
    UnsubscribeUrl => "an http(s) URL with {token} (or {email})",
    MailboxValue => "a mailbox such as `Name <you@example.com>`",
    AddressValue => "an address such as `you@example.com`",
}

impl JsonSchema for PositiveRate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PositiveRate".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "format": "messages per second",
            "minimum": RATE_RANGE.0,
            "maximum": RATE_RANGE.1,
        })
    }
}

impl<T, U: Unit, const MIN: u64, const MAX: u64, const DEFAULT: u64> JsonSchema
    for Bounded<T, U, MIN, MAX, DEFAULT>
{
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Bounded_{MIN}_{MAX}_{DEFAULT}").into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "format": U::WORD,
            "minimum": MIN,
            "maximum": MAX,
            "default": DEFAULT,
        })
    }
}
