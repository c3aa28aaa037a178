//! SMTP: connections opened, secured and authenticated as configured
//! (lettre over tokio, TCP_NODELAY, STARTTLS or implicit TLS through
//! rustls) with what the server offers read from its EHLO, a message sent
//! command by command with the command and final-reply timeouts of RFC
//! 5321 (the [`session`](super::session) pipelines where it may), and
//! replies sorted into what the engine needs to know. A link is a handle on
//! one of its relay's sessions.

use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

use super::{Deliver, DeliverError, Failure, Fatal};
use crate::project::config::{DEFAULT_PASSWORD_ENV, Security, Smtp};
use crate::project::error_chain as chain;
use crate::send::message::Transfer;

/// The settings to open SMTP connections with.
#[derive(Clone)]
pub(crate) struct SmtpSettings {
    /// Where it is configured: `smtp` or `relays[N]`, for messages.
    key: String,
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    /// For STARTTLS (lettre upgrades the connection).
    tls: Option<TlsParameters>,
    /// For implicit TLS (missive wraps the socket before the greeting).
    wrapper: Option<Arc<rustls::ClientConfig>>,
    /// For the greeting, each command and each step of the setup.
    pub(super) timeout: Duration,
    /// For the reply to the end of a message's data.
    pub(super) data_timeout: Duration,
    hello: ClientId,
    /// What the relay's connections share.
    pub(super) relay: Arc<RelayState>,
    /// How many connections the relay may have.
    pub(super) connections: usize,
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
    /// The relay's connections, each carrying several messages at once.
    pool: super::session::Pool,
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
        let (tls, wrapper) = match smtp.security {
            Security::None => (None, None),
            Security::Starttls => {
                let mut builder = TlsParameters::builder(host.clone());
                if let Some((path, pem)) = &ca {
                    let cert = Certificate::from_pem(pem).map_err(|e| {
                        anyhow!(
                            "{key}.ca_file: {}: not a PEM certificate: {e}",
                            path.display()
                        )
                    })?;
                    builder = builder.add_root_certificate(cert);
                }
                let params = builder
                    .build()
                    .map_err(|e| anyhow!("TLS setup failed: {e}"))?;
                (Some(params), None)
            }
            Security::Tls => (
                None,
                Some(crate::tls::client_config(
                    ca.as_ref().map(|(p, pem)| (p.as_path(), pem.as_slice())),
                    &format!("{key}.ca_file"),
                )?),
            ),
        };
        Ok(SmtpSettings {
            key: key.to_string(),
            host,
            port: smtp.port(),
            security: smtp.security,
            credentials,
            tls,
            wrapper,
            timeout: Duration::from_secs(u64::from(smtp.timeout_secs.get())),
            data_timeout: Duration::from_secs(u64::from(smtp.data_timeout_secs.get())),
            hello: ClientId::default(),
            relay: Arc::default(),
            connections: 1,
        })
    }

    /// The same settings for a relay of `connections` connections.
    #[must_use]
    pub(crate) fn with_connections(mut self, connections: usize) -> SmtpSettings {
        self.connections = connections;
        self
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

/// One worker's way to the relay: a handle on one of the relay's
/// connections (`session`), opened when first needed and again after it
/// breaks, shared with the relay's other links.
pub(crate) struct SmtpLink {
    settings: SmtpSettings,
    handle: Option<Arc<super::session::Handle>>,
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
/// server's EHLO.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Offers {
    pub(super) pipelining: bool,
    pub(super) chunking: bool,
    pub(super) eight_bit_mime: bool,
}

impl Offers {
    /// What an EHLO reply's lines offer.
    fn from_ehlo<'a>(lines: impl Iterator<Item = &'a str>) -> Offers {
        let mut offers = Offers::default();
        for line in lines.skip(1) {
            let keyword = line.split_whitespace().next().unwrap_or("");
            offers.pipelining |= keyword.eq_ignore_ascii_case("PIPELINING");
            offers.chunking |= keyword.eq_ignore_ascii_case("CHUNKING");
            offers.eight_bit_mime |= keyword.eq_ignore_ascii_case("8BITMIME");
        }
        offers
    }
}

impl SmtpLink {
    pub(crate) fn new(settings: SmtpSettings) -> SmtpLink {
        SmtpLink {
            settings,
            handle: None,
        }
    }
}

impl SmtpLink {
    /// Its handle on one of the relay's sessions, taken when first needed.
    fn handle(&mut self) -> &super::session::Handle {
        let settings = &self.settings;
        self.handle
            .get_or_insert_with(|| settings.relay.pool.handle(settings, settings.connections))
    }
}

impl Deliver for SmtpLink {
    async fn deliver_raw(
        &mut self,
        envelope: &lettre::address::Envelope,
        bytes: &[u8],
    ) -> Result<String, DeliverError> {
        self.handle()
            .deliver(envelope.clone(), bytes.to_vec())
            .await
    }

    /// 8-bit bodies where the relay offers 8BITMIME; before its first
    /// connection said, one is opened to ask.
    async fn carries(&mut self) -> Transfer {
        let offered = if let Some(offered) = self.settings.relay.eight_bit.get() {
            offered
        } else {
            self.handle().connect().await;
            self.settings.relay.eight_bit.get().unwrap_or(false)
        };
        if offered {
            Transfer::EightBit
        } else {
            Transfer::SevenBit
        }
    }

    /// The message handed over as formatted, not copied again.
    async fn deliver(&mut self, message: &lettre::Message) -> Result<String, DeliverError> {
        self.handle()
            .deliver(message.envelope().clone(), message.formatted())
            .await
    }

    async fn close(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.close().await;
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
    conn: &mut AsyncSmtpConnection,
    envelope: &lettre::address::Envelope,
    bytes: &[u8],
    s: &SmtpSettings,
) -> Result<Reply, Failure> {
    use lettre::transport::smtp::commands::{Data, Rcpt};
    use lettre::transport::smtp::extension::Extension;

    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    let non_ascii =
        envelope.from().is_some_and(|a| !ascii(a)) || envelope.to().iter().any(|a| !ascii(a));
    if non_ascii && !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
        conn.abort().await;
        return Err(Failure::Permanent(
            "the address is not ASCII and the server does not support SMTPUTF8".into(),
        ));
    }
    let result = async {
        reply(
            s.timeout,
            "MAIL FROM",
            conn.command(mail_command(envelope, bytes)),
        )
        .await?;
        for to in envelope.to() {
            reply(
                s.timeout,
                "RCPT TO",
                conn.command(Rcpt::new(to.clone(), vec![])),
            )
            .await?;
        }
        reply(s.timeout, "DATA", conn.command(Data)).await?;
        match tokio::time::timeout(s.data_timeout, conn.message(bytes)).await {
            Ok(reply) => reply.map_err(|e| classify(&e)),
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

/// MAIL FROM for `envelope`, with SMTPUTF8 for an address that is not
/// ASCII and BODY=8BITMIME for a message that is not.
pub(super) fn mail_command(
    envelope: &lettre::address::Envelope,
    bytes: &[u8],
) -> lettre::transport::smtp::commands::Mail {
    use lettre::transport::smtp::extension::{MailBodyParameter, MailParameter};
    let mut options = Vec::new();
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    if envelope.from().is_some_and(|a| !ascii(a)) || envelope.to().iter().any(|a| !ascii(a)) {
        options.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    lettre::transport::smtp::commands::Mail::new(envelope.from().cloned(), options)
}

pub(super) type Reply = lettre::transport::smtp::response::Response;

/// A reply awaited within `within`, sorted: a refusal, a network failure,
/// or no reply in time (`what` names the command).
async fn reply(
    within: Duration,
    what: &str,
    future: impl std::future::Future<Output = Result<Reply, lettre::transport::smtp::Error>>,
) -> Result<Reply, Failure> {
    match tokio::time::timeout(within, future).await {
        Ok(reply) => reply.map_err(|e| classify(&e)),
        Err(_) => Err(Failure::Network(format!(
            "no reply to {what} within the timeout"
        ))),
    }
}

pub(super) fn code(reply: &Reply) -> u16 {
    u16::from(reply.code())
}

/// A TLS stream handed to lettre as its transport (implicit TLS).
#[derive(Debug)]
struct TlsSocket(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for TlsSocket {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for TlsSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Opens the socket (TLS-wrapped for implicit TLS) and reads the greeting.
/// Nagle's algorithm is off: lettre writes the end-of-data marker on its own,
/// which would otherwise wait for a delayed ACK on every message.
async fn open(s: &SmtpSettings) -> Result<AsyncSmtpConnection, DeliverError> {
    let network = |what: String| DeliverError::Failed(Failure::Network(what));
    let tcp = TcpStream::connect((s.host.as_str(), s.port))
        .await
        .map_err(|e| network(format!("cannot connect to {}:{}: {e}", s.host, s.port)))?;
    tcp.set_nodelay(true)
        .map_err(|e| network(format!("cannot set up the connection: {e}")))?;
    let stream: Box<dyn AsyncTokioStream> = match &s.wrapper {
        None => Box::new(tcp),
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from(s.host.clone()).map_err(|e| {
                Fatal::ServerName {
                    key: s.key.clone(),
                    host: s.host.clone(),
                    detail: e.to_string(),
                }
            })?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name, tcp)
                .await
                .map_err(|e| {
                    if is_certificate_error(&e) {
                        DeliverError::Fatal(Fatal::Tls {
                            step: "TLS",
                            server: s.server(),
                            detail: chain(&e),
                        })
                    } else {
                        network(format!("TLS with {} failed: {}", s.server(), chain(&e)))
                    }
                })?;
            Box::new(TlsSocket(tls))
        }
    };
    AsyncSmtpConnection::connect_with_transport(stream, &s.hello)
        .await
        .map_err(|e| match classify(&e) {
            Failure::Network(text) => network(format!("{}:{}: {text}", s.host, s.port)),
            failure => DeliverError::Failed(failure),
        })
}

/// Opens, secures and authenticates a connection. A refusal of TLS or of
/// the credentials is fatal; a network failure may be retried.
pub(super) async fn connect(
    s: &SmtpSettings,
) -> Result<(AsyncSmtpConnection, Offers), DeliverError> {
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
    if s.security == Security::Starttls {
        let tls = s.tls.clone().expect("STARTTLS has TLS parameters");
        if !conn.can_starttls() {
            return Err(Fatal::NoStartTls {
                key: s.key.clone(),
                server: s.server(),
            }
            .into());
        }
        step(s.timeout, "STARTTLS", conn.starttls(tls, &s.hello), |e| {
            (e.is_tls() || e.is_permanent() || is_certificate_error(e)).then(|| Fatal::Tls {
                step: "STARTTLS",
                server: s.server(),
                detail: chain(e),
            })
        })
        .await?;
    }
    if let Some(credentials) = &s.credentials {
        let encrypted = conn.is_encrypted() || s.wrapper.is_some();
        if !encrypted && !is_loopback(&s.host) {
            return Err(Fatal::PlaintextAuth.into());
        }
        step(
            s.timeout,
            "AUTH",
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            |e| {
                (e.is_permanent() || e.is_client()).then(|| Fatal::Login {
                    key: s.key.clone(),
                    server: s.server(),
                    detail: chain(e),
                })
            },
        )
        .await?;
    }
    // lettre reads 8BITMIME, SMTPUTF8, STARTTLS and AUTH from the EHLO;
    // asked again, it says whether commands may be pipelined or chunked.
    let ehlo = lettre::transport::smtp::commands::Ehlo::new(s.hello.clone());
    let offers = step(s.timeout, "EHLO", conn.command(ehlo), |_| None)
        .await
        .map(|reply| Offers::from_ehlo(reply.message()))?;
    s.relay.eight_bit.set(offers.eight_bit_mime);
    Ok((conn, offers))
}

/// Runs one step of setting up a connection within the timeout. An error
/// that `fatal` words is fatal (the dispatch stops); others may be retried.
async fn step<T>(
    timeout: Duration,
    what: &str,
    future: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
    fatal: impl Fn(&lettre::transport::smtp::Error) -> Option<Fatal>,
) -> Result<T, DeliverError> {
    match tokio::time::timeout(timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(match fatal(&e) {
            Some(fatal) => DeliverError::Fatal(fatal),
            None => DeliverError::Failed(classify(&e)),
        }),
        Err(_) => Err(DeliverError::Failed(Failure::Network(format!(
            "no reply to {what} in time"
        )))),
    }
}

/// Whether TLS failed on the certificate (untrusted, expired, wrong name):
/// retrying cannot help.
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(rustls::Error::InvalidCertificate(_)) = s.downcast_ref::<rustls::Error>() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)))
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Sorts a lettre error into the engine's kinds of failure; a reply from the
/// server is kept as the server said it (`550 5.1.1 …`).
pub(super) fn classify(e: &lettre::transport::smtp::Error) -> Failure {
    let status = e.status().map(u16::from);
    let text = match (status, std::error::Error::source(e)) {
        (Some(code), Some(message)) => format!("{code} {message}"),
        _ => chain(e),
    };
    match status {
        Some(_) if super::is_quota_reply(&text) => Failure::Quota(text),
        Some(code) if (500..600).contains(&code) => Failure::Permanent(text),
        Some(code) if (400..500).contains(&code) => Failure::Transient {
            reply: text,
            throttle: matches!(code, 421 | 451 | 454),
        },
        _ => Failure::Network(text),
    }
}

pub(super) fn reply_text<'a>(code: u16, lines: impl Iterator<Item = &'a str>) -> String {
    let text: Vec<&str> = lines.collect();
    format!("{code} {}", text.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

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
