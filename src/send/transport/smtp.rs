//! SMTP: connections opened, secured and authenticated as configured
//! (missive's own [`connection`](super::connection), STARTTLS or implicit
//! TLS through rustls, AUTH PLAIN or LOGIN worded by lettre) with what the
//! server offers read from its EHLO, a message sent
//! command by command with the command and final-reply timeouts of RFC
//! 5321 (the [`session`](super::session) pipelines where it may), and
//! replies sorted into what the engine needs to know.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::commands::Rcpt;
use lettre::transport::smtp::extension::ClientId;

use super::connection::{Connection, Reply};
use super::{DeliverError, Failure, Fatal, Formatted};
use crate::project::config::{DEFAULT_PASSWORD_ENV, Security, Smtp};
use crate::project::error_chain as chain;

/// The settings to open SMTP connections with.
#[derive(Clone)]
pub(crate) struct SmtpSettings {
    /// Where it is configured: `smtp` or `relays[N]`, for messages.
    key: String,
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    /// For TLS, implicit or after STARTTLS.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// For the greeting, each command and each step of the setup.
    pub(super) timeout: Duration,
    /// For the reply to the end of a message's data.
    pub(super) data_timeout: Duration,
    hello: ClientId,
    /// What the relay's connections share.
    pub(super) relay: Arc<RelayState>,
}

/// What one relay's connections share.
#[derive(Default)]
pub(crate) struct RelayState {
    /// Set once a server of this relay answered a pipelined group out of
    /// turn: every later connection to it goes command by command.
    pub(super) lock_step: std::sync::atomic::AtomicBool,
    /// Whether the relay's servers offer 8BITMIME, as the newest
    /// connection's EHLO said.
    pub(super) eight_bit: EightBit,
}

impl std::fmt::Debug for SmtpSettings {
    /// Never shows the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("auth", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    /// The settings `[smtp]` (or a relay at `key`, such as `relays[1]`)
    /// describes. Reads the password from the environment and the
    /// `ca_file`; refuses AUTH over plaintext except to a relay on this
    /// machine. `label` names the config in errors; `root` is where relative
    /// paths start.
    pub(crate) fn new(smtp: &Smtp, key: &str, root: &Path, label: &Path) -> Result<SmtpSettings> {
        let resolve = |p: &Path| root.join(p);
        let host = smtp.host.to_string();
        let credentials = match &smtp.username {
            None => None,
            Some(user) => {
                let password = std::env::var(&smtp.password_env).unwrap_or_default();
                if password.is_empty() {
                    // Only the default name is repeated: a custom one
                    // might be a password typed in the wrong place.
                    let which = if smtp.password_env == DEFAULT_PASSWORD_ENV {
                        format!("the environment variable {}", smtp.password_env)
                    } else {
                        format!("the environment variable named in {key}.password_env")
                    };
                    bail!(
                        "{}: {key}.username is set but {which} is empty or unset",
                        label.display(),
                    );
                }
                Some(Credentials::new(user.to_string(), password))
            }
        };
        if smtp.security == Security::None && credentials.is_some() && !is_loopback(&host) {
            bail!(
                "{}: refusing to send the SMTP password unencrypted to {host}: \
                 {key}.security = \"none\" with a username is only allowed for a relay \
                 on this machine (localhost); use \"starttls\" or \"tls\"",
                label.display()
            );
        }
        let ca = match &smtp.ca_file {
            None => None,
            Some(ca) => {
                let path = resolve(ca);
                let pem = std::fs::read(&path)
                    .with_context(|| format!("{key}.ca_file: cannot read {}", path.display()))?;
                Some((path, pem))
            }
        };
        let tls = match smtp.security {
            Security::None => None,
            Security::Starttls | Security::Tls => Some(crate::tls::client_config(
                ca.as_ref().map(|(p, pem)| (p.as_path(), pem.as_slice())),
                &format!("{key}.ca_file"),
            )?),
        };
        Ok(SmtpSettings {
            key: key.to_string(),
            host,
            port: smtp.port(),
            security: smtp.security,
            credentials,
            tls,
            timeout: Duration::from_secs(u64::from(smtp.timeout_secs.get())),
            data_timeout: Duration::from_secs(u64::from(smtp.data_timeout_secs.get())),
            hello: ClientId::default(),
            relay: Arc::default(),
        })
    }

    /// `host:port`, for messages.
    pub(super) fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// One line for the summary: where the messages go.
    pub(crate) fn describe(&self) -> String {
        let security = match self.security {
            Security::Starttls => "STARTTLS",
            Security::Tls => "TLS",
            Security::None => "no encryption",
        };
        let auth = if self.credentials.is_some() {
            ", with AUTH"
        } else {
            ""
        };
        format!("SMTP {}:{} ({security}{auth})", self.host, self.port)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a relay's servers offer 8BITMIME: unknown until a connection
/// to it said, then what the newest one said.
#[derive(Debug, Default)]
pub(super) struct EightBit(std::sync::atomic::AtomicU8);

impl EightBit {
    const UNKNOWN: u8 = 0;
    const NO: u8 = 1;
    const YES: u8 = 2;

    pub(super) fn get(&self) -> Option<bool> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            Self::UNKNOWN => None,
            known => Some(known == Self::YES),
        }
    }

    pub(super) fn set(&self, offered: bool) {
        let value = if offered { Self::YES } else { Self::NO };
        self.0.store(value, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The extensions that change how a transaction is written (RFC 2920
/// PIPELINING, RFC 3030 CHUNKING, RFC 6152 8BITMIME), read from the
/// server's EHLO, with the largest message it takes (RFC 1870 SIZE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Offers {
    pub(crate) pipelining: bool,
    pub(crate) chunking: bool,
    pub(crate) eight_bit_mime: bool,
    pub(crate) smtp_utf8: bool,
    /// `SIZE n` with n > 0; `SIZE` alone or `SIZE 0` sets no limit.
    pub(crate) size: Option<u64>,
    starttls: bool,
    auth_plain: bool,
    auth_login: bool,
}

impl Offers {
    /// What an EHLO reply's lines offer.
    fn from_ehlo<'a>(lines: impl Iterator<Item = &'a str>) -> Offers {
        let mut offers = Offers::default();
        for line in lines.skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => offers.pipelining = true,
                "CHUNKING" => offers.chunking = true,
                "8BITMIME" => offers.eight_bit_mime = true,
                "SMTPUTF8" => offers.smtp_utf8 = true,
                "STARTTLS" => offers.starttls = true,
                "SIZE" => {
                    offers.size = words.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0);
                }
                _ => {}
            }
            // `AUTH PLAIN LOGIN`, or the old `AUTH=PLAIN LOGIN`.
            if let Some(first) = keyword
                .strip_prefix("AUTH")
                .filter(|r| r.is_empty() || r.starts_with('='))
            {
                let first = first.trim_start_matches('=').to_string();
                for mechanism in std::iter::once(first.as_str()).chain(words) {
                    offers.auth_plain |= mechanism.eq_ignore_ascii_case("PLAIN");
                    offers.auth_login |= mechanism.eq_ignore_ascii_case("LOGIN");
                }
            }
        }
        offers
    }

    /// Whether the server offers AUTH with `mechanism`.
    fn offers_auth(self, mechanism: Mechanism) -> bool {
        match mechanism {
            Mechanism::Plain => self.auth_plain,
            Mechanism::Login => self.auth_login,
            Mechanism::Xoauth2 => false,
        }
    }
}

/// Sends one message on an open connection, command by command (the
/// [`session`](super::session) pipelines on servers that allow it): MAIL,
/// RCPT and DATA each answered within `timeout`, the end of the message
/// within `data_timeout` (RFC 5321 §4.5.3.2.6). A final reply that never
/// comes is [`Failure::Unknown`], not a failure to retry: the server may
/// well have accepted the message. On any failure the connection is closed.
pub(super) async fn transmit(
    conn: &mut Connection,
    offers: Offers,
    message: &Formatted,
    s: &SmtpSettings,
) -> Result<Reply, Failure> {
    let (envelope, bytes) = (&message.envelope, &message.bytes[..]);
    if international(envelope) && !offers.smtp_utf8 {
        conn.abort().await;
        return Err(Failure::Permanent(
            "the address is not ASCII and the server does not support SMTPUTF8".into(),
        ));
    }
    let result = async {
        let mail = mail_command(message).to_string();
        accepted(s.timeout, "MAIL FROM", conn.command(&mail)).await?;
        for to in envelope.to() {
            let rcpt = Rcpt::new(to.clone(), vec![]).to_string();
            accepted(s.timeout, "RCPT TO", conn.command(&rcpt)).await?;
        }
        accepted(s.timeout, "DATA", conn.command("DATA\r\n")).await?;
        let mut pieces = dot_stuffed(bytes);
        pieces.push(if bytes.ends_with(b"\r\n") {
            b".\r\n"
        } else {
            b"\r\n.\r\n"
        });
        let sent = async {
            conn.write(&pieces)
                .await
                .map_err(|e| Failure::Network(e.to_string()))?;
            positive(conn.reply().await)
        };
        match tokio::time::timeout(s.data_timeout, sent).await {
            Ok(reply) => reply,
            Err(_) => Err(Failure::Unknown(format!(
                "no reply to the end of the message within {} s ({}.data_timeout_secs): \
                 the server may have accepted it",
                s.data_timeout.as_secs(),
                s.key
            ))),
        }
    }
    .await;
    if result.is_err() {
        conn.abort().await;
    }
    result
}

/// The message after DATA with every line that starts with a dot given a
/// second one (RFC 5321 §4.5.2), as pieces to write: the message's own
/// bytes between the dots, never copied.
pub(super) fn dot_stuffed(bytes: &[u8]) -> Vec<&[u8]> {
    let mut pieces: Vec<&[u8]> = Vec::new();
    if bytes.starts_with(b".") {
        pieces.push(b".");
    }
    let mut start = 0;
    for at in memchr::memmem::find_iter(bytes, b"\n.") {
        pieces.push(&bytes[start..=at]);
        pieces.push(b".");
        start = at + 1;
    }
    pieces.push(&bytes[start..]);
    pieces
}

/// Whether an address of `envelope` is not ASCII: the transaction needs
/// SMTPUTF8 (RFC 6531).
pub(super) fn international(envelope: &lettre::address::Envelope) -> bool {
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    envelope.from().is_some_and(|a| !ascii(a)) || envelope.to().iter().any(|a| !ascii(a))
}

/// MAIL FROM for `message`, with SMTPUTF8 for an address that is not
/// ASCII and BODY=8BITMIME for a message that is not.
pub(super) fn mail_command(message: &Formatted) -> lettre::transport::smtp::commands::Mail {
    use lettre::transport::smtp::extension::{MailBodyParameter, MailParameter};
    let mut options = Vec::new();
    if international(&message.envelope) {
        options.push(MailParameter::SmtpUtfEight);
    }
    if message.eight_bit {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    lettre::transport::smtp::commands::Mail::new(message.envelope.from().cloned(), options)
}

/// A reply awaited within `within`, sorted: accepted, a refusal, or no
/// reply (`what` names the command).
async fn accepted(
    within: Duration,
    what: &str,
    future: impl std::future::Future<Output = Result<Reply, String>>,
) -> Result<Reply, Failure> {
    positive(Ok(replied(within, what, future).await?))
}

/// A reply, whatever it says, awaited within `within`; none (or none in
/// time) is a network failure, which may be retried.
async fn replied(
    within: Duration,
    what: &str,
    future: impl std::future::Future<Output = Result<Reply, String>>,
) -> Result<Reply, Failure> {
    match tokio::time::timeout(within, future).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(why)) => Err(Failure::Network(format!("{what}: {why}"))),
        Err(_) => Err(Failure::Network(format!(
            "no reply to {what} within the timeout"
        ))),
    }
}

/// A reply read, `Ok` when it is positive (2xx, 3xx), else the failure it
/// says; no reply is a network failure.
pub(super) fn positive(reply: Result<Reply, String>) -> Result<Reply, Failure> {
    match reply {
        Ok(reply) if code(&reply) < 400 => Ok(reply),
        Ok(reply) => Err(refusal(&reply)),
        Err(why) => Err(Failure::Network(why)),
    }
}

/// What a negative reply means for the message, the server's words kept
/// (`550 5.1.1 …`).
pub(super) fn refusal(reply: &Reply) -> Failure {
    let status = code(reply);
    let text = reply_text(reply);
    match status {
        _ if super::is_quota_reply(&text) => Failure::Quota(text),
        500..=599 => Failure::Permanent(text),
        _ => Failure::Transient {
            reply: text,
            throttle: matches!(status, 421 | 451 | 454),
        },
    }
}

pub(super) fn code(reply: &Reply) -> u16 {
    u16::from(reply.code())
}

/// Opens the connection (under TLS from the start for implicit TLS) and
/// reads the greeting.
async fn open(s: &SmtpSettings) -> Result<Connection, DeliverError> {
    let network = |what: String| DeliverError::Failed(Failure::Network(what));
    let mut conn = Connection::tcp(&s.host, s.port)
        .await
        .map_err(|e| network(format!("cannot connect to {}:{}: {e}", s.host, s.port)))?;
    if s.security == Security::Tls {
        conn = secure(conn, s, "TLS").await?;
    }
    match conn.reply().await {
        Ok(greeting) if code(&greeting) == 220 => Ok(conn),
        Ok(greeting) => Err(DeliverError::Failed(refusal(&greeting))),
        Err(why) => Err(network(format!("{}:{}: {why}", s.host, s.port))),
    }
}

/// The connection under TLS; a certificate that does not verify is fatal.
async fn secure(
    conn: Connection,
    s: &SmtpSettings,
    step: &'static str,
) -> Result<Connection, DeliverError> {
    let config = s.tls.as_ref().expect("TLS is configured");
    let name =
        rustls::pki_types::ServerName::try_from(s.host.clone()).map_err(|e| Fatal::ServerName {
            key: s.key.clone(),
            host: s.host.clone(),
            detail: e.to_string(),
        })?;
    conn.tls(config, name).await.map_err(|e| {
        if let Some(certificate) = certificate_error(&e) {
            DeliverError::Fatal(Fatal::Tls {
                step,
                server: s.server(),
                detail: chain(&e),
                certificate: Some(certificate),
            })
        } else {
            DeliverError::Failed(Failure::Network(format!(
                "{step} with {} failed: {}",
                s.server(),
                chain(&e)
            )))
        }
    })
}

/// EHLO, and what the server offers.
async fn ehlo(conn: &mut Connection, s: &SmtpSettings) -> Result<Offers, DeliverError> {
    let ehlo = lettre::transport::smtp::commands::Ehlo::new(s.hello.clone()).to_string();
    let reply = step(s.timeout, "EHLO", conn.command(&ehlo)).await?;
    if code(&reply) != 250 {
        return Err(DeliverError::Failed(refusal(&reply)));
    }
    Ok(Offers::from_ehlo(reply.message()))
}

/// Opens, secures and authenticates a connection. A refusal of TLS or of
/// the credentials is fatal; a network failure may be retried.
pub(super) async fn connect(s: &SmtpSettings) -> Result<(Connection, Offers), DeliverError> {
    let mut conn = match tokio::time::timeout(s.timeout, open(s)).await {
        Ok(opened) => opened?,
        Err(_) => {
            return Err(DeliverError::Failed(Failure::Network(format!(
                "cannot connect to {}:{}: no answer within {} s",
                s.host,
                s.port,
                s.timeout.as_secs()
            ))));
        }
    };
    let mut offers = ehlo(&mut conn, s).await?;
    if s.security == Security::Starttls {
        if !offers.starttls {
            return Err(Fatal::NoStartTls {
                key: s.key.clone(),
                server: s.server(),
            }
            .into());
        }
        let reply = step(s.timeout, "STARTTLS", conn.command("STARTTLS\r\n")).await?;
        match code(&reply) {
            220 => {}
            500..=599 => {
                return Err(Fatal::Tls {
                    step: "STARTTLS",
                    server: s.server(),
                    detail: reply_text(&reply),
                    certificate: None,
                }
                .into());
            }
            _ => return Err(DeliverError::Failed(refusal(&reply))),
        }
        conn = match tokio::time::timeout(s.timeout, secure(conn, s, "STARTTLS")).await {
            Ok(secured) => secured?,
            Err(_) => {
                return Err(DeliverError::Failed(Failure::Network(
                    "no TLS handshake in time".into(),
                )));
            }
        };
        // What was offered in the clear counts for nothing (RFC 3207 §4.2).
        offers = ehlo(&mut conn, s).await?;
    }
    if let Some(credentials) = &s.credentials {
        if !conn.is_encrypted() && !is_loopback(&s.host) {
            return Err(Fatal::PlaintextAuth.into());
        }
        authenticate(&mut conn, s, &offers, credentials).await?;
    }
    s.relay.eight_bit.set(offers.eight_bit_mime);
    Ok((conn, offers))
}

/// AUTH PLAIN or LOGIN, as the server offers (lettre words each step). A
/// permanent refusal is fatal: the credentials are wrong.
async fn authenticate(
    conn: &mut Connection,
    s: &SmtpSettings,
    offers: &Offers,
    credentials: &Credentials,
) -> Result<(), DeliverError> {
    use lettre::transport::smtp::commands::Auth;
    let login = |detail: String| {
        DeliverError::Fatal(Fatal::Login {
            key: s.key.clone(),
            server: s.server(),
            detail,
        })
    };
    let mechanism = [Mechanism::Plain, Mechanism::Login]
        .into_iter()
        .find(|m| offers.offers_auth(*m))
        .ok_or_else(|| login("the server offers neither AUTH PLAIN nor AUTH LOGIN".into()))?;
    let command = Auth::new(mechanism, credentials.clone(), None)
        .map_err(|e| login(chain(&e)))?
        .to_string();
    let mut reply = step(s.timeout, "AUTH", conn.command(&command)).await?;
    let mut challenges = 10;
    while code(&reply) == 334 && challenges > 0 {
        challenges -= 1;
        let command = Auth::new_from_response(mechanism, credentials.clone(), &reply)
            .map_err(|e| login(chain(&e)))?
            .to_string();
        reply = step(s.timeout, "AUTH", conn.command(&command)).await?;
    }
    match code(&reply) {
        235 => Ok(()),
        500..=599 => Err(login(reply_text(&reply))),
        _ => Err(DeliverError::Failed(refusal(&reply))),
    }
}

/// One step of setting up a connection: its reply, whatever it says.
async fn step(
    timeout: Duration,
    what: &str,
    future: impl std::future::Future<Output = Result<Reply, String>>,
) -> Result<Reply, DeliverError> {
    replied(timeout, what, future)
        .await
        .map_err(DeliverError::Failed)
}

/// What was wrong with the certificate, when TLS failed on it (untrusted,
/// expired, wrong name): retrying cannot help.
fn certificate_error(e: &(dyn std::error::Error + 'static)) -> Option<rustls::CertificateError> {
    let certificate = |r: &rustls::Error| match r {
        rustls::Error::InvalidCertificate(c) => Some(c.clone()),
        _ => None,
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<rustls::Error>().and_then(certificate) {
            return Some(found);
        }
        if let Some(found) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(certificate)
        {
            return Some(found);
        }
        source = s.source();
    }
    None
}

/// What a relay showed when asked without sending.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probed {
    pub(crate) offers: Offers,
    /// The connection was under TLS.
    pub(crate) encrypted: bool,
    /// It took the configured login (there was one).
    pub(crate) logged_in: bool,
}

/// Opens, secures and logs in to the relay as a dispatch would, says QUIT
/// and sends nothing: whether it would take mail, and what it offers.
pub(super) async fn probe(s: &SmtpSettings) -> Result<Probed, DeliverError> {
    let (mut conn, offers) = connect(s).await?;
    let encrypted = conn.is_encrypted();
    conn.quit().await;
    Ok(Probed {
        offers,
        encrypted,
        logged_in: s.credentials.is_some(),
    })
}

/// A reply as one line: its code, then its lines joined, an enhanced
/// status code repeated on every line said once (`550 5.1.1 …`).
pub(super) fn reply_text(reply: &Reply) -> String {
    let mut lines = reply.message();
    let first = lines.next().unwrap_or("");
    let status = first
        .split_whitespace()
        .next()
        .filter(|w| w.split('.').count() == 3 && w.chars().all(|c| c.is_ascii_digit() || c == '.'));
    let mut text = format!("{} {first}", code(reply));
    for line in lines {
        text.push(' ');
        let line = status
            .and_then(|s| line.strip_prefix(s))
            .filter(|rest| rest.starts_with(' '))
            .map_or(line, str::trim_start);
        text.push_str(line);
    }
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Reply {
        text.parse().unwrap()
    }

    /// A server that answers STARTTLS with its 220 and, in the same write,
    /// a forged reply: what came before the handshake must never be read
    /// as said under TLS (the EHLO after it would take the forged reply).
    #[tokio::test]
    async fn bytes_sent_with_the_starttls_reply_are_not_read_after_the_handshake() {
        use rcgen::{CertificateParams, KeyPair};
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.pem().as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut socket = BufReader::new(socket);
            let mut line = String::new();
            socket.write_all(b"220 forge.test ESMTP\r\n").await.unwrap();
            socket.read_line(&mut line).await.unwrap();
            socket
                .write_all(b"250-forge.test\r\n250 STARTTLS\r\n")
                .await
                .unwrap();
            line.clear();
            socket.read_line(&mut line).await.unwrap();
            assert_eq!(line, "STARTTLS\r\n");
            socket
                .write_all(b"220 go ahead\r\n250 forged\r\n")
                .await
                .unwrap();
            let tls = tokio_rustls::TlsAcceptor::from(Arc::new(server_config))
                .accept(socket.into_inner())
                .await
                .unwrap();
            let mut tls = BufReader::new(tls);
            line.clear();
            tls.read_line(&mut line).await.unwrap();
            assert!(line.starts_with("EHLO "), "{line}");
            tls.write_all(b"250-forge.test\r\n250 8BITMIME\r\n")
                .await
                .unwrap();
            tls.flush().await.unwrap();
            line.clear();
            let _ = tls.read_line(&mut line).await;
        });
        let config = crate::project::Config::parse(
            &format!(
                "[smtp]\nhost = \"localhost\"\nport = {port}\nsecurity = \"starttls\"\n\
                 ca_file = \"ca.pem\"\n"
            ),
            Path::new("missive.toml"),
        )
        .unwrap();
        let smtp = config.smtp.as_ref().unwrap();
        let settings =
            SmtpSettings::new(smtp, "smtp", dir.path(), Path::new("missive.toml")).unwrap();
        let (conn, offers) = connect(&settings).await.unwrap();
        assert!(conn.is_encrypted());
        assert!(
            offers.eight_bit_mime,
            "the EHLO under TLS was answered by the forged reply"
        );
    }

    #[test]
    fn what_an_ehlo_offers() {
        let offers = Offers::from_ehlo(
            reply(
                "250-relay.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-smtputf8\r\n\
                 250-AUTH=PLAIN LOGIN\r\n250-SIZE 35882577\r\n250 CHUNKING\r\n",
            )
            .message(),
        );
        assert!(offers.pipelining && offers.chunking && offers.eight_bit_mime && offers.smtp_utf8);
        assert_eq!(offers.size, Some(35_882_577));
        assert!(offers.offers_auth(Mechanism::Plain) && offers.offers_auth(Mechanism::Login));
        assert!(!offers.starttls);
        let offers = Offers::from_ehlo(
            reply("250-relay.example\r\n250-STARTTLS\r\n250 AUTH LOGIN XOAUTH2\r\n").message(),
        );
        assert!(offers.starttls && offers.offers_auth(Mechanism::Login));
        assert!(!offers.offers_auth(Mechanism::Plain) && !offers.eight_bit_mime);
        assert_eq!(offers.size, None, "no SIZE: no limit said");
        let offers = Offers::from_ehlo(reply("250-relay.example\r\n250 SIZE 0\r\n").message());
        assert_eq!(offers.size, None, "SIZE 0: no limit");
        // The greeting line names the server, never an extension.
        let offers = Offers::from_ehlo(reply("250 PIPELINING\r\n").message());
        assert!(!offers.pipelining);
    }

    #[test]
    fn a_reply_reads_as_one_line_with_its_enhanced_code_once() {
        let gmail = reply(
            "550-5.1.1 The email account that you tried to reach does not exist.\r\n\
             550-5.1.1 Please try double-checking the recipient's email address\r\n\
             550 5.1.1 https://support.google.com/mail/?p=NoSuchUser a1si\r\n",
        );
        assert_eq!(
            reply_text(&gmail),
            "550 5.1.1 The email account that you tried to reach does not exist. Please try \
             double-checking the recipient's email address https://support.google.com/mail/?p=NoSuchUser a1si"
        );
        assert!(matches!(refusal(&gmail), Failure::Permanent(t) if t.starts_with("550 5.1.1")));
        let busy = reply("421 4.7.0 Try again later, closing connection.\r\n");
        assert!(matches!(
            refusal(&busy),
            Failure::Transient { throttle: true, .. }
        ));
        let quota = reply("550 5.4.5 Daily user sending limit exceeded.\r\n");
        assert!(matches!(refusal(&quota), Failure::Quota(_)));
    }

    #[test]
    fn dot_stuffing_adds_a_dot_where_a_line_starts_with_one_and_copies_nothing() {
        let body = b".a\r\nb\r\n.c\r\n..d\r\n";
        let pieces = dot_stuffed(body);
        assert_eq!(pieces.concat(), b"..a\r\nb\r\n..c\r\n...d\r\n");
        assert_eq!(
            dot_stuffed(b"plain\r\ntext\r\n"),
            vec![&b"plain\r\ntext\r\n"[..]]
        );
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "127.8.9.1", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["example.com", "192.0.2.1", "10.0.0.1", "::2"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
