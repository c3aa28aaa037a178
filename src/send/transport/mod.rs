//! Where messages go, behind one seam: the [`Deliver`] trait, implemented by
//! the SMTP link, the file outbox and the dry run (and, in the engine's
//! tests, a scripted stub). [`Transport`] is what the config chose; each
//! worker of the engine gets a [`Link`] of it.

mod connection;
mod file;
mod session;
mod smtp;

use std::future::Future;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use lettre::Message;
use lettre::address::Envelope;

pub(crate) use file::FileLink;
pub(crate) use session::SmtpLink;
pub(crate) use smtp::{Offers, Probed, SmtpSettings};

use crate::project::Project;
use crate::project::config::{Smtp, TransportKind};
use crate::project::values::Bounded;
use crate::send::message::Transfer;

/// A message made and signed, as it goes on the wire: its envelope and its
/// bytes, shared (a retry, a session's queue take it without a copy).
#[derive(Debug, Clone)]
pub(crate) struct Formatted {
    pub(crate) envelope: Envelope,
    pub(crate) bytes: bytes::Bytes,
    /// A byte of it is not ASCII: it needs a relay that offers 8BITMIME
    /// (read once here, not on every attempt).
    pub(crate) eight_bit: bool,
}

impl Formatted {
    /// `message` formatted once.
    pub(crate) fn new(message: &Message) -> Formatted {
        Formatted::raw(message.envelope().clone(), message.formatted().into())
    }

    /// A message already formatted (one read back from the spool, say).
    pub(crate) fn raw(envelope: Envelope, bytes: bytes::Bytes) -> Formatted {
        Formatted {
            eight_bit: !bytes.is_ascii(),
            envelope,
            bytes,
        }
    }
}

/// Delivers messages, one at a time, over one link (a connection, a
/// folder). `Ok` holds the server's reply.
pub(crate) trait Deliver: Send {
    /// Delivers `message` to its envelope's recipients.
    fn deliver(
        &mut self,
        message: &Formatted,
    ) -> impl Future<Output = Result<String, DeliverError>> + Send;

    /// What bodies the link's relay carries; a message is built for it.
    fn carries(&mut self) -> impl Future<Output = Transfer> + Send {
        async { Transfer::SevenBit }
    }

    /// Lets go of the link politely (QUIT), if it is open.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// How one attempt to deliver a message ended, short of success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A 5xx reply to this message: do not try again.
    Permanent(String),
    /// A 4xx reply; `throttle` when the server asks to slow down (421, 451, 454).
    Transient { reply: String, throttle: bool },
    /// The connection broke or timed out: try again on a new one.
    Network(String),
    /// The whole message went out but no final reply came in time: it may
    /// have been accepted, so it is not tried again.
    Unknown(String),
    /// The relay's own sending quota is used up (Google's "550 5.4.5 Daily
    /// … limit exceeded", SES's "454 Throttling failure: Daily message
    /// quota exceeded"): nothing about the reader; another relay, or a
    /// later run, sends it.
    Quota(String),
}

/// Whether a reply says the relay's daily (or other) sending quota is used
/// up, rather than anything about the recipient.
pub(crate) fn is_quota_reply(reply: &str) -> bool {
    let lower = reply.to_ascii_lowercase();
    // Microsoft 365 names the account's submission quota outright (with a
    // generic 5.2.0, not the mailbox's 5.2.2).
    if lower.contains("submissionquotaexceeded") {
        return true;
    }
    // Otherwise the enhanced status code decides first: x.1.x is about the
    // address and x.2.x about the recipient's mailbox (x.2.2: it is full),
    // never the relay's own quota, whatever words follow.
    if let Some(status) = crate::list::bounce::enhanced_status(reply)
        && matches!(status.split('.').nth(1), Some("1" | "2"))
    {
        return false;
    }
    let reply = lower;
    let exceeded = reply.contains("exceeded") || reply.contains("reached");
    let quota = reply.contains("quota") || reply.contains("limit");
    exceeded
        && quota
        && (reply.contains("5.4.5") || reply.contains("daily") || reply.contains("sending quota"))
}

impl Failure {
    pub(crate) fn reply(&self) -> &str {
        match self {
            Failure::Permanent(r)
            | Failure::Network(r)
            | Failure::Unknown(r)
            | Failure::Quota(r) => r,
            Failure::Transient { reply, .. } => reply,
        }
    }
}

/// The server cannot be used at all (refused credentials, no TLS, a bad
/// certificate): the dispatch stops.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Fatal {
    #[error("{key}.host `{host}` is not a TLS server name: {detail}")]
    ServerName {
        key: String,
        host: String,
        detail: String,
    },
    /// The TLS handshake or STARTTLS failed for good (an untrusted
    /// certificate, a refusal).
    #[error("{step} with {server} failed: {detail}")]
    Tls {
        step: &'static str,
        server: String,
        detail: String,
        /// What was wrong with the server's certificate, if that was it.
        certificate: Option<rustls::CertificateError>,
    },
    #[error("{server} does not offer STARTTLS, which {key}.security = \"starttls\" requires")]
    NoStartTls { key: String, server: String },
    #[error("refusing AUTH over an unencrypted connection")]
    PlaintextAuth,
    #[error("{server} refused the login of {key}.username: {detail}")]
    Login {
        key: String,
        server: String,
        detail: String,
    },
    #[error("cannot write to the outbox {}: {detail}", dir.display())]
    Outbox { dir: PathBuf, detail: String },
}

/// Why a delivery did not happen.
#[derive(Debug)]
pub(crate) enum DeliverError {
    /// About this message: the engine may retry or record it.
    Failed(Failure),
    /// About the server: the dispatch stops.
    Fatal(Fatal),
}

impl std::fmt::Display for DeliverError {
    /// The server's reply, or why the server cannot be used.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliverError::Failed(failure) => f.write_str(failure.reply()),
            DeliverError::Fatal(fatal) => write!(f, "{fatal}"),
        }
    }
}

impl From<Fatal> for DeliverError {
    fn from(f: Fatal) -> Self {
        DeliverError::Fatal(f)
    }
}

#[cfg(test)]
mod tests {
    use super::is_quota_reply;

    #[test]
    fn a_relay_out_of_quota_is_told_from_a_refused_reader() {
        for quota in [
            "550 5.4.5 Daily SMTP relay limit exceeded for user",
            "550 5.4.5 Daily user sending quota exceeded.",
            "454 Throttling failure: Daily message quota exceeded.",
            "421 4.7.0 Daily sending quota reached for this account",
            "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; \
             Failed to process message due to a permanent exception with message \
             [BeginDiagnosticData]Cannot submit message.",
        ] {
            assert!(is_quota_reply(quota), "{quota}");
        }
        for other in [
            "550 5.1.1 no such user",
            "552 5.2.2 Mailbox quota exceeded for this recipient",
            "454 Throttling failure: Maximum sending rate exceeded.",
            "452 4.2.2 The email account that you tried to reach is over quota",
            "452 4.2.2 <reader@example.org>: mailbox full, daily quota exceeded",
            "552 5.2.2 mailbox full: daily limit exceeded",
        ] {
            assert!(!is_quota_reply(other), "{other}");
        }
    }
}

/// Where a dispatch's messages go.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// A relay, and the sessions its links share.
    Smtp {
        settings: SmtpSettings,
        sessions: std::sync::Arc<session::Pool>,
    },
    File(PathBuf),
    /// `--dry-run`: messages are built and dropped.
    DryRun,
}

/// One relay of the pool a dispatch spreads over: where it sends, and
/// what it allows.
#[derive(Debug, Clone)]
pub(crate) struct Relay {
    /// Its name in the journal, the quotas and the reports.
    pub name: String,
    pub transport: Transport,
    /// Parallel links to it.
    pub concurrency: usize,
    /// Messages per second to it.
    pub rate: Option<f64>,
    /// Messages per rolling 24 hours.
    pub daily_limit: Option<u64>,
    /// Its share of the recipients.
    pub weight: u32,
}

/// The relays the config describes: the `[[relays]]`, or the one `[smtp]`,
/// or the outbox (`sending.transport = "file"`). Never empty.
#[derive(Debug, Clone)]
pub(crate) struct Relays(Vec<Relay>);

impl Relays {
    pub(crate) fn from_project(project: &Project) -> Result<Relays> {
        let config = &project.config;
        let label = project.config_label();
        let sending = &config.sending;
        let relay = |smtp: &Smtp, key: &str| -> Result<Relay> {
            let concurrency = smtp.concurrency.unwrap_or(sending.concurrency).get();
            Ok(Relay {
                name: smtp.name().to_string(),
                transport: Transport::Smtp {
                    settings: SmtpSettings::new(smtp, key, &project.root, &label)?,
                    sessions: std::sync::Arc::new(session::Pool::new(concurrency)),
                },
                concurrency,
                rate: smtp.rate.map(|r| r.0),
                daily_limit: smtp.daily_limit.map(Bounded::get),
                weight: smtp.weight.get(),
            })
        };
        let relays = match (sending.transport, &config.smtp, config.relays.as_slice()) {
            (TransportKind::File, _, []) => {
                let outbox = config.sending.outbox.as_ref().ok_or_else(|| {
                    anyhow!(
                        "{}: sending.transport is \"file\" but sending.outbox is not set",
                        label.display()
                    )
                })?;
                vec![Relay {
                    name: "outbox".into(),
                    transport: Transport::File(project.resolve(outbox)),
                    concurrency: sending.concurrency.get(),
                    rate: None,
                    daily_limit: None,
                    weight: 1,
                }]
            }
            (TransportKind::File, _, _) => bail!(
                "{}: [[relays]] are SMTP servers, but sending.transport is \"file\"",
                label.display()
            ),
            (TransportKind::Smtp, Some(_), [_, ..]) => bail!(
                "{}: both [smtp] and [[relays]] are set: put the [smtp] server in [[relays]] too",
                label.display()
            ),
            (TransportKind::Smtp, Some(smtp), []) => vec![relay(smtp, "smtp")?],
            (TransportKind::Smtp, None, []) => bail!(
                "{}: there is no [smtp] section: set smtp.host (or sending.transport = \"file\")",
                label.display()
            ),
            (TransportKind::Smtp, None, pool) => {
                let mut relays = Vec::with_capacity(pool.len());
                for (i, smtp) in pool.iter().enumerate() {
                    let key = format!("relays[{i}]");
                    if let Some(j) = pool[..i].iter().position(|r| r.name() == smtp.name()) {
                        bail!(
                            "{}: {key} and relays[{j}] are both named \"{}\": give each relay \
                             its own name (the journal and the daily quotas go by it)",
                            label.display(),
                            smtp.name()
                        );
                    }
                    relays.push(relay(smtp, &key)?);
                }
                relays
            }
        };
        Ok(Relays(relays))
    }

    /// Every relay, in the config's order.
    pub(crate) fn all(&self) -> &[Relay] {
        &self.0
    }

    /// The first relay: what single messages (a test, a confirmation) go
    /// through.
    pub(crate) fn primary(&self) -> &Relay {
        &self.0[0]
    }

    /// The same relays, with messages built and dropped.
    pub(crate) fn dry_run(&self) -> Relays {
        Relays(
            self.0
                .iter()
                .map(|r| Relay {
                    transport: Transport::DryRun,
                    ..r.clone()
                })
                .collect(),
        )
    }
}

impl Transport {
    /// The transport of the project's first relay.
    pub(crate) fn from_project(project: &Project) -> Result<Transport> {
        Ok(Relays::from_project(project)?.primary().transport.clone())
    }

    /// Gets the destination ready: creates the outbox directory.
    pub(crate) fn prepare(&self) -> Result<()> {
        use anyhow::Context as _;
        if let Transport::File(dir) = self {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the outbox {}", dir.display()))?;
        }
        Ok(())
    }

    /// For an SMTP relay: connects, secures and logs in as a dispatch
    /// would, then says QUIT, sending nothing; what it showed. `None` for
    /// the outbox and a dry run.
    pub(crate) async fn probe(&self) -> Option<Result<Probed, DeliverError>> {
        match self {
            Transport::Smtp { settings, .. } => Some(smtp::probe(settings).await),
            Transport::File(_) | Transport::DryRun => None,
        }
    }

    /// One line for the summary: where the messages go.
    pub(crate) fn describe(&self) -> String {
        match self {
            Transport::Smtp { settings, .. } => settings.describe(),
            Transport::File(dir) => format!("files in {}", dir.display()),
            Transport::DryRun => "nowhere (dry run)".into(),
        }
    }

    /// Sends one message over a link of its own, opened and closed for it
    /// (a test, a confirmation).
    pub(crate) async fn deliver_one(&self, message: &Message) -> Result<String, DeliverError> {
        let mut link = self.link();
        let result = link.deliver(&Formatted::new(message)).await;
        link.close().await;
        result
    }

    /// How many messages each of its links' connections carries at once:
    /// the engine runs this many workers a connection.
    pub(crate) fn depth(&self) -> usize {
        match self {
            Transport::Smtp { .. } => session::DEPTH,
            Transport::File(_) | Transport::DryRun => 1,
        }
    }

    /// A new link for one worker.
    pub(crate) fn link(&self) -> Link {
        match self {
            Transport::Smtp { settings, sessions } => Link::Smtp(Box::new(SmtpLink::new(
                settings.clone(),
                std::sync::Arc::clone(sessions),
            ))),
            Transport::File(dir) => Link::File(FileLink::new(dir.clone())),
            Transport::DryRun => Link::DryRun,
        }
    }
}

/// One worker's link to wherever the configured transport sends.
pub(crate) enum Link {
    /// Boxed: a connection's state is large beside the others.
    Smtp(Box<SmtpLink>),
    File(FileLink),
    /// Messages are built and dropped.
    DryRun,
}

impl Deliver for Link {
    async fn deliver(&mut self, message: &Formatted) -> Result<String, DeliverError> {
        match self {
            Link::Smtp(link) => link.deliver(message).await,
            Link::File(link) => link.deliver(message).await,
            Link::DryRun => Ok("dry run".into()),
        }
    }

    async fn carries(&mut self) -> Transfer {
        match self {
            Link::Smtp(link) => link.carries().await,
            Link::File(_) | Link::DryRun => Transfer::SevenBit,
        }
    }

    async fn close(&mut self) {
        match self {
            Link::Smtp(link) => link.close().await,
            Link::File(link) => link.close().await,
            Link::DryRun => {}
        }
    }
}
