//! The project configuration, `missive.toml`: who the newsletter is from, its
//! footer and unsubscribe method, and how it is sent. Optional: without it,
//! sensible defaults.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use super::source::{self, SourceError};
use super::values::{
    AddressValue, Attempts, Bounded, Connections, Hours, Issues, MailboxValue, Messages, OneLine,
    PositiveRate, Recipients, Seconds, Shares, SignUps, UnsubscribeUrl, WebUrl, WordsAMinute,
};

/// `missive.toml`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub newsletter: Newsletter,
    #[serde(default)]
    pub unsubscribe: Unsubscribe,
    /// The SMTP server; required when `sending.transport = "smtp"` and
    /// there are no `[[relays]]`.
    pub smtp: Option<Smtp>,
    /// A pool of SMTP relays, instead of `[smtp]`: each has the `[smtp]`
    /// keys, and a send spreads over them by weight within each one's
    /// concurrency, rate and daily limit.
    #[serde(default)]
    pub relays: Vec<Smtp>,
    #[serde(default)]
    pub sending: Sending,
    pub dkim: Option<Dkim>,
    #[serde(default)]
    pub email: Email,
    pub bounces: Option<Bounces>,
    pub signup: Option<Signup>,
    /// Per-item click counts, identifying nobody (off without it).
    pub clicks: Option<Clicks>,
}

/// `[clicks]`: the email's links go through `missive serve`, which counts
/// each item's clicks by the hour and sends the reader on. No address, IP,
/// User-Agent or cookie is recorded; link scanners are told apart in memory.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clicks {
    /// Where readers reach `missive serve`: links become `{url}/c/…`.
    /// Default: `signup.url`, else the scheme and host of `unsubscribe.url`.
    pub url: Option<WebUrl>,
    /// `serve` sits behind a reverse proxy on this machine: a click's
    /// source is the last address in its `X-Forwarded-For`.
    #[serde(default)]
    pub behind_proxy: bool,
}

/// `[signup]`: sign-ups through `missive serve`, confirmed by email.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    /// Where readers reach `missive serve`: the confirmation link is
    /// `{url}/confirm?token=…`. Default: the scheme and host of
    /// `unsubscribe.url`.
    pub url: Option<WebUrl>,
    /// The extra columns a sign-up form may fill (`name` always may).
    #[serde(default, deserialize_with = "signup_fields")]
    pub fields: Vec<OneLine>,
    /// Where the form's answer sends the reader (default: a built-in
    /// "check your inbox" page).
    pub thanks_url: Option<WebUrl>,
    /// How long a confirmation link works.
    #[serde(default)]
    pub confirm_hours: Bounded<u32, Hours, 1, 720, 48>,
    /// An issue file sent to each reader who confirms.
    pub welcome: Option<PathBuf>,
    /// Record the IP address a sign-up came from, with its consent.
    #[serde(default)]
    pub record_ip: bool,
    /// How many sign-ups one IP address may send per hour.
    #[serde(default)]
    pub per_ip_per_hour: Bounded<u32, SignUps, 1, 10_000_000, 20>,
    /// `serve` sits behind a reverse proxy on this machine: a request's IP
    /// address is the last one in its `X-Forwarded-For`.
    #[serde(default)]
    pub behind_proxy: bool,
}

/// Names a form field may not take: the form's own, and the facts a
/// confirmation records beside the fields.
const RESERVED_FIELDS: &[&str] = &["email", "name", "status", "website", "token", "ip", "was"];

fn signup_fields<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<OneLine>, D::Error> {
    let fields = Vec::<OneLine>::deserialize(d)?;
    for field in &fields {
        let name = field.as_str();
        if RESERVED_FIELDS.contains(&name) {
            return Err(serde::de::Error::custom(format!(
                "`{name}` is not a field a form may fill (reserved: {})",
                RESERVED_FIELDS.join(", ")
            )));
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(serde::de::Error::custom(format!(
                "`{name}`: a field is a column name of letters, digits and _"
            )));
        }
    }
    Ok(fields)
}

/// `[bounces]`: where bounces come back to.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounces {
    /// The return path: each message's envelope sender is
    /// `<local>+<tag>@<domain>` (VERP), the tag naming the issue and the
    /// reader, signed.
    pub address: Option<AddressValue>,
    /// Where `missive bounces` reads them: `maildir:PATH`, `mbox:PATH` or
    /// `imaps://user@host[:port]/FOLDER`.
    pub mailbox: Option<OneLine>,
    /// IMAP: the folder processed bounces are moved to (they stay in the
    /// mailbox's folder, flagged seen, without it).
    pub processed_folder: Option<OneLine>,
    /// How many issues in a row may soft-bounce for an address before it is
    /// suppressed.
    #[serde(default)]
    pub soft_limit: Bounded<u32, Issues, 1, 100, 3>,
    /// IMAP: an extra trusted root certificate (PEM), for a private server.
    pub ca_file: Option<PathBuf>,
}

/// `[email]`: how the email differs from the web version.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// Shorten the longest excerpts in the email (never on the web) until
    /// it fits under Gmail's clip size. On by default whenever there is a
    /// web version (`newsletter.web_url`) for "continue reading" to link
    /// to; `fit = false` turns it off.
    pub fit: Option<bool>,
    /// Shorten the plain-text part too (Gmail never clips it, so it stays
    /// whole by default).
    #[serde(default)]
    pub fit_text: bool,
}

/// `[newsletter]`: identity and footer.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Newsletter {
    /// The newsletter's name: the header of each issue, the archive's
    /// title; default `Newsletter`.
    #[serde(default = "default_name")]
    pub name: OneLine,
    /// `"Name <address>"`: who the issues come from.
    pub from: Option<MailboxValue>,
    /// Where replies go, if not to `from`.
    pub reply_to: Option<MailboxValue>,
    /// Shown in the footer; bulk mail law in many countries requires it.
    pub postal_address: Option<String>,
    /// Base of the "view in browser" link: `{web_url}/{issue stem}/`.
    pub web_url: Option<WebUrl>,
    /// The `List-Id` header (RFC 2919), e.g. `Name <weekly.example.com>`;
    /// unsubscribe tokens are bound to it.
    pub list_id: Option<OneLine>,
    /// Where `send --test` goes.
    pub test_to: Option<MailboxValue>,
    /// The language the issues are written in (`lang` of the email), e.g. `en`.
    #[serde(default = "default_language")]
    pub language: Language,
    /// The heading above the table of contents.
    #[serde(default = "default_toc_label")]
    pub toc_label: OneLine,
    /// Shown above each of your comments, e.g. `Matt’s take`; none by default.
    pub comment_label: Option<OneLine>,
    /// An image shown in place of the name at the top of each issue.
    pub logo: Option<WebUrl>,
    /// The reading speed behind the reading time under the date.
    #[serde(default)]
    pub words_per_minute: Bounded<u32, WordsAMinute, 50, 2_000, 238>,
}

impl Default for Newsletter {
    fn default() -> Self {
        Newsletter {
            name: default_name(),
            from: None,
            reply_to: None,
            postal_address: None,
            web_url: None,
            list_id: None,
            test_to: None,
            language: default_language(),
            toc_label: default_toc_label(),
            comment_label: None,
            logo: None,
            words_per_minute: Bounded::default(),
        }
    }
}

fn default_language() -> Language {
    Language("en".into())
}

fn default_toc_label() -> OneLine {
    OneLine::new("In this issue").expect("non-empty")
}

/// A language tag such as `en`, `de` or `pt-BR` (BCP 47: letters, digits, `-`).
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
pub struct Language(String);

impl Language {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let valid = !s.is_empty()
            && s.len() <= 35
            && s.split('-').all(|part| {
                !part.is_empty()
                    && part.len() <= 8
                    && part.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if valid {
            Ok(Language(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{s}` is not a language tag such as `en`, `de` or `pt-BR`"
            )))
        }
    }
}

fn default_name() -> OneLine {
    OneLine::new("Newsletter").expect("non-empty")
}

/// `[unsubscribe]`: how a reader leaves the list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unsubscribe {
    /// An http(s) URL; may contain `{email}` and `{token}`.
    pub url: Option<UnsubscribeUrl>,
    /// An address that unsubscribes whoever writes to it.
    pub mailto: Option<AddressValue>,
}

impl Unsubscribe {
    /// The `mailto:` link that unsubscribes whoever follows it, if an
    /// address is set.
    pub fn mailto_link(&self) -> Option<String> {
        self.mailto
            .as_ref()
            .map(|m| format!("mailto:{m}?subject=unsubscribe"))
    }
}

/// `[smtp]` or one of `[[relays]]`: a server that relays the mail, and
/// what it allows.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// How the relay is named in the journal, the quotas and the reports;
    /// default: its host.
    pub name: Option<OneLine>,
    /// The server's host name (or IP address).
    pub host: OneLine,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    pub port: Option<u16>,
    /// How the connection is protected: `starttls` (default, required),
    /// `tls` from the first byte, or `none` (a relay on this machine only).
    #[serde(default)]
    pub security: Security,
    /// The login, if the server asks for one (its password comes from
    /// `password_env`).
    pub username: Option<OneLine>,
    /// The environment variable that holds the password.
    #[serde(default = "default_password_env", deserialize_with = "env_name")]
    pub password_env: String,
    /// How long to wait for each reply while connecting and for each command.
    #[serde(default)]
    pub timeout_secs: Bounded<u32, Seconds, 1, 3600, 30>,
    /// How long to wait for the reply to the end of a message's data (RFC
    /// 5321 §4.5.3.2.6 asks for 10 minutes): the server may be scanning it.
    #[serde(default)]
    pub data_timeout_secs: Bounded<u32, Seconds, 1, 3600, 600>,
    /// An extra trusted root certificate (PEM), for a private relay.
    pub ca_file: Option<PathBuf>,
    /// Parallel connections to this relay; default: `sending.concurrency`.
    pub concurrency: Option<Concurrency>,
    /// Messages per second to this relay (`sending.rate` still caps them all).
    pub rate: Option<PositiveRate>,
    /// Messages per rolling 24 hours, across runs and issues.
    pub daily_limit: Option<Bounded<u64, Messages, 1, MAX_DAILY_LIMIT, MAX_DAILY_LIMIT>>,
    /// Its share of the recipients beside the other relays (default 1).
    #[serde(default)]
    pub weight: Bounded<u32, Shares, 1, 1000, 1>,
}

impl Smtp {
    /// The relay's name: `name`, or its host.
    pub fn name(&self) -> &str {
        self.name.as_ref().unwrap_or(&self.host).as_str()
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        })
    }
}

/// The default of `smtp.password_env`.
pub const DEFAULT_PASSWORD_ENV: &str = "MISSIVE_SMTP_PASSWORD";

fn default_password_env() -> String {
    DEFAULT_PASSWORD_ENV.into()
}

/// The name of an environment variable. The value is never repeated in
/// the error: a password typed here by mistake must not be printed.
fn env_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let mut chars = s.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(
            "must be the name of an environment variable (letters, digits and _), \
             such as MISSIVE_SMTP_PASSWORD, not the password itself",
        ))
    }
}

/// The most parallel connections a send may open.
pub const MAX_CONCURRENCY: u64 = 1000;

/// Parallel connections: of a send, or of one relay.
pub type Concurrency = Bounded<usize, Connections, 1, MAX_CONCURRENCY, 4>;

/// The largest `daily_limit`: a billion messages a day.
const MAX_DAILY_LIMIT: u64 = 1_000_000_000;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required.
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No encryption: only for a relay on this machine.
    None,
}

/// `[sending]`: how a dispatch runs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sending {
    /// Where messages go: `smtp` (default) or `file` (one `.eml` per
    /// message in `outbox`, for trying a send without a server).
    #[serde(default)]
    pub transport: TransportKind,
    /// With `transport = "file"`: the directory that receives one `.eml` per message.
    pub outbox: Option<PathBuf>,
    /// Parallel SMTP connections, each reused for many messages.
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Messages per second across all connections.
    pub rate: Option<PositiveRate>,
    /// Recipients per batch; the journal is made durable after each.
    #[serde(default)]
    pub batch_size: Bounded<usize, Recipients, 1, 1_000_000, 100>,
    /// Attempts per recipient before a transient failure is given up on.
    #[serde(default)]
    pub max_attempts: Bounded<u32, Attempts, 1, 100, 5>,
    /// The subscriber list (CSV).
    #[serde(default = "default_subscribers")]
    pub subscribers: PathBuf,
    /// A `Feedback-ID` header for every message (Gmail's complaint loop).
    pub feedback_id: Option<OneLine>,
}

impl Default for Sending {
    fn default() -> Self {
        Sending {
            transport: TransportKind::default(),
            outbox: None,
            concurrency: Concurrency::default(),
            rate: None,
            batch_size: Bounded::default(),
            max_attempts: Bounded::default(),
            subscribers: default_subscribers(),
            feedback_id: None,
        }
    }
}

fn default_subscribers() -> PathBuf {
    PathBuf::from("subscribers.csv")
}

/// Where messages go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Smtp,
    /// One `.eml` file per message in `outbox`: a dispatch with no server.
    File,
}

/// `[dkim]`: sign every message for the From domain.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dkim {
    /// The signing domain (`d=`): the From domain, or one it aligns with.
    pub domain: OneLine,
    /// The selector (`s=`): the key is published at
    /// `<selector>._domainkey.<domain>`.
    pub selector: OneLine,
    /// A PEM file holding an RSA or Ed25519 private key.
    pub private_key: PathBuf,
}

impl Config {
    /// Parses config text; `path` labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, SourceError> {
        source::parse_toml(text, path)
    }

    pub fn load(path: &Path) -> Result<Config, SourceError> {
        Config::parse(&source::read(path)?, path)
    }

    /// The "view in browser" URL of the issue with this stem, if `web_url` is set.
    /// The stem is one path segment, percent-encoded where it needs to be.
    /// The public address of `missive serve`: `[signup] url`, or the
    /// scheme and host of `unsubscribe.url`.
    pub fn serve_url(&self) -> Option<String> {
        match (
            self.signup.as_ref().and_then(|s| s.url.as_ref()),
            &self.unsubscribe.url,
        ) {
            (Some(url), _) => Some(url.as_str().trim_end_matches('/').to_string()),
            (None, Some(unsubscribe)) => url::Url::parse(&unsubscribe.fill("", ""))
                .ok()
                .map(|u| u.origin().ascii_serialization()),
            (None, None) => None,
        }
    }

    /// Where a reader signs up (`serve`'s form), when `[signup]` is set.
    pub fn subscribe_url(&self) -> Option<String> {
        self.signup.as_ref()?;
        Some(format!("{}/subscribe", self.serve_url()?))
    }

    /// Whether the email's excerpts are fitted under Gmail's clip:
    /// `[email] fit`, or, unset, whether there is a web version.
    pub fn fits(&self) -> bool {
        self.email.fit.unwrap_or(self.newsletter.web_url.is_some())
    }

    /// Where click links point with `[clicks]` (no trailing `/`): its `url`,
    /// else where `serve` answers ([`serve_url`](Config::serve_url)).
    pub fn clicks_url(&self) -> Option<String> {
        let clicks = self.clicks.as_ref()?;
        match &clicks.url {
            Some(url) => Some(url.as_str().trim_end_matches('/').to_string()),
            None => self.serve_url(),
        }
    }

    pub fn web_url_for(&self, stem: &str) -> Option<String> {
        let base = self.newsletter.web_url.as_ref()?;
        let mut url = url::Url::parse(base.as_str()).ok()?;
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .push(stem)
            .push("");
        Some(url.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, SourceError> {
        Config::parse(text, Path::new("missive.toml"))
    }

    #[test]
    fn empty_config_has_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.newsletter.name.as_str(), "Newsletter");
        assert!(c.unsubscribe.url.is_none());
        assert_eq!(c.web_url_for("x"), None);
    }

    #[test]
    fn ranged_keys_take_their_defaults_and_refuse_what_is_out_of_range() {
        let c = parse("[sending]\nbatch_size = 25\n").unwrap();
        assert_eq!(c.sending.batch_size.get(), 25);
        assert_eq!(c.sending.concurrency.get(), 4);
        assert_eq!(c.sending.max_attempts.get(), 5);
        assert_eq!(c.newsletter.words_per_minute.get(), 238);
        for (text, field, line, says) in [
            (
                "[smtp]\nhost = \"h\"\ntimeout_secs = 0\n",
                "smtp.timeout_secs",
                3,
                "must be a whole number of seconds from 1 to 3600, not 0",
            ),
            (
                "[sending]\nconcurrency = 1001\n",
                "sending.concurrency",
                2,
                "must be a whole number of connections from 1 to 1000, not 1001",
            ),
            (
                "[newsletter]\nwords_per_minute = -3\n",
                "newsletter.words_per_minute",
                2,
                "must be a whole number of words a minute from 50 to 2000, not -3",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{text}");
            assert_eq!(e.line(), Some(line), "{text}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn web_url_joins_stem() {
        let c = parse("[newsletter]\nweb_url = \"https://news.example.com/archive/\"\n").unwrap();
        assert_eq!(
            c.web_url_for("2026-11-27-x").as_deref(),
            Some("https://news.example.com/archive/2026-11-27-x/")
        );
        assert_eq!(
            c.web_url_for("a b?#").as_deref(),
            Some("https://news.example.com/archive/a%20b%3F%23/")
        );
    }

    #[test]
    fn unsubscribe_url_is_filled_and_encoded() {
        let c =
            parse("[unsubscribe]\nurl = \"https://x.example/u?e={email}&t={token}\"\n").unwrap();
        let u = c.unsubscribe.url.unwrap();
        assert!(u.needs_token());
        assert!(u.is_https());
        assert_eq!(
            u.fill("a+b@example.com", "ab12"),
            "https://x.example/u?e=a%2Bb%40example.com&t=ab12"
        );
    }

    #[test]
    fn bad_unsubscribe_url_names_field() {
        let e = parse("[unsubscribe]\nurl = \"ftp://x/{email}\"\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("unsubscribe.url"));
        assert_eq!(e.line(), Some(2));
    }

    #[test]
    fn sending_defaults_and_smtp_ports() {
        let c = parse("[smtp]\nhost = \"smtp.example.com\"\n").unwrap();
        assert_eq!(c.sending.concurrency.get(), 4);
        assert_eq!(c.sending.max_attempts.get(), 5);
        assert_eq!(c.sending.transport, TransportKind::Smtp);
        let smtp = c.smtp.unwrap();
        assert_eq!(smtp.security, Security::Starttls);
        assert_eq!(smtp.port(), 587);
        assert_eq!(smtp.password_env, "MISSIVE_SMTP_PASSWORD");
        let c = parse("[smtp]\nhost = \"h\"\nsecurity = \"tls\"\n").unwrap();
        assert_eq!(c.smtp.unwrap().port(), 465);
    }

    #[test]
    fn bad_sending_values_name_their_field() {
        let e = parse("[sending]\nrate = -2\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("sending.rate"));
        let e = parse("[sending]\nconcurrency = 0\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("sending.concurrency"));
        let e = parse("[smtp]\nhost = \"h\"\nsecurity = \"ssl\"\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("smtp.security"));
        assert_eq!(e.line(), Some(3));
    }

    #[test]
    fn extreme_sending_values_are_refused_with_their_range() {
        for (line, field) in [
            ("rate = 1e-300", "sending.rate"),
            ("rate = 1e300", "sending.rate"),
            ("concurrency = 9223372036854775807", "sending.concurrency"),
            ("concurrency = 20000000", "sending.concurrency"),
            ("batch_size = -1", "sending.batch_size"),
            ("max_attempts = 4294967296", "sending.max_attempts"),
        ] {
            let e = parse(&format!("[sending]\n{line}\n")).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{line}");
            assert!(e.message.contains(" from "), "{line}: {}", e.message);
        }
        let c = parse("[sending]\nrate = 0.5\nconcurrency = 1000\n").unwrap();
        assert_eq!(c.sending.concurrency.get(), 1000);
        let e = parse("[smtp]\nhost = \"h\"\ntimeout_secs = 0\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("smtp.timeout_secs"));
        let c = parse("[smtp]\nhost = \"h\"\n").unwrap();
        assert_eq!(c.smtp.unwrap().data_timeout_secs.get(), 600);
    }

    #[test]
    fn a_password_in_password_env_is_never_repeated() {
        let text = "[smtp]\nhost = \"h\"\npassword_env = \"hunter2 is my pass!\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("smtp.password_env"));
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn one_click_needs_https_in_any_case_and_a_token() {
        let url = |u: &str| {
            parse(&format!("[unsubscribe]\nurl = \"{u}\"\n"))
                .unwrap()
                .unsubscribe
                .url
                .unwrap()
        };
        assert!(url("HTTPS://x.example/u?e={email}&t={token}").one_click());
        assert!(!url("https://x.example/u?e={email}").one_click());
        assert!(!url("http://x.example/u?e={email}&t={token}").one_click());
    }

    #[test]
    fn mailboxes_are_validated() {
        let c = parse("[newsletter]\nfrom = \"Matt <matt@example.com>\"\n").unwrap();
        let from = c.newsletter.from.unwrap().0;
        assert_eq!(from.email.to_string(), "matt@example.com");
        assert_eq!(from.name.as_deref(), Some("Matt"));
        let e = parse("[newsletter]\nfrom = \"not an address\"\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("newsletter.from"));
        let e = parse("[newsletter]\nfrom = \"A <a@b.c>\\r\\nBcc: x@y.z\"\n").unwrap_err();
        assert!(e.message.contains("single line"), "{}", e.message);
    }

    #[test]
    fn unknown_section_key_is_an_error() {
        let e = parse("[newsletter]\nnmae = \"x\"\n").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `name`?"));
    }
}
