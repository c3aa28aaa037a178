//! Where messages go, behind one seam: the [`Deliver`] trait, implemented by
//! the SMTP link, the file outbox and the dry run (and, in the engine's
//! tests, a scripted stub). [`Transport`] is what the config chose; each
//! worker of the engine gets a [`Link`] of it.

mod file;
mod smtp;

use std::future::Future;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use lettre::Message;

pub use file::FileLink;
pub use smtp::{SmtpLink, SmtpSettings};

use crate::project::Project;
use crate::project::config::TransportKind;

/// Delivers messages, one at a time, over one link (a connection, a
/// folder). `Ok` holds the server's reply.
pub trait Deliver: Send {
    fn deliver(
        &mut self,
        message: &Message,
    ) -> impl Future<Output = Result<String, DeliverError>> + Send;

    /// Lets go of the link politely (QUIT), if it is open.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// How one attempt to deliver a message ended, short of success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A 5xx reply to this message: do not try again.
    Permanent(String),
    /// A 4xx reply; `throttle` when the server asks to slow down (421, 451, 454).
    Transient { reply: String, throttle: bool },
    /// The connection broke or timed out: try again on a new one.
    Network(String),
    /// The whole message went out but no final reply came in time: it may
    /// have been accepted, so it is not tried again.
    Unknown(String),
}

impl Failure {
    pub fn reply(&self) -> &str {
        match self {
            Failure::Permanent(r) | Failure::Network(r) | Failure::Unknown(r) => r,
            Failure::Transient { reply, .. } => reply,
        }
    }
}

/// The server cannot be used at all (refused credentials, no TLS, a bad
/// certificate): the dispatch stops.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Fatal {
    #[error("smtp.host `{host}` is not a TLS server name: {detail}")]
    ServerName { host: String, detail: String },
    /// The TLS handshake or STARTTLS failed for good (an untrusted
    /// certificate, a refusal).
    #[error("{step} with {server} failed: {detail}")]
    Tls {
        step: &'static str,
        server: String,
        detail: String,
    },
    #[error("{server} does not offer STARTTLS, which smtp.security = \"starttls\" requires")]
    NoStartTls { server: String },
    #[error("refusing AUTH over an unencrypted connection")]
    PlaintextAuth,
    #[error("{server} refused the login of smtp.username: {detail}")]
    Login { server: String, detail: String },
    #[error("cannot write to the outbox {}: {detail}", dir.display())]
    Outbox { dir: PathBuf, detail: String },
}

/// Why a delivery did not happen.
#[derive(Debug)]
pub enum DeliverError {
    /// About this message: the engine may retry or record it.
    Failed(Failure),
    /// About the server: the dispatch stops.
    Fatal(Fatal),
}

impl From<Fatal> for DeliverError {
    fn from(f: Fatal) -> Self {
        DeliverError::Fatal(f)
    }
}

/// Where a dispatch's messages go.
#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(SmtpSettings),
    File(PathBuf),
    /// `--dry-run`: messages are built and dropped.
    DryRun,
}

impl Transport {
    /// The transport the project's config describes.
    pub fn from_project(project: &Project) -> Result<Transport> {
        let config = &project.config;
        let label = project.config_label();
        match config.sending.transport {
            TransportKind::File => {
                let outbox = config.sending.outbox.as_ref().ok_or_else(|| {
                    anyhow!(
                        "{}: sending.transport is \"file\" but sending.outbox is not set",
                        label.display()
                    )
                })?;
                Ok(Transport::File(project.resolve(outbox)))
            }
            TransportKind::Smtp => {
                let smtp = config.smtp.as_ref().ok_or_else(|| {
                    anyhow!(
                        "{}: there is no [smtp] section: set smtp.host (or sending.transport = \"file\")",
                        label.display()
                    )
                })?;
                Ok(Transport::Smtp(SmtpSettings::new(
                    smtp,
                    &project.root,
                    &label,
                )?))
            }
        }
    }

    /// Gets the destination ready: creates the outbox directory.
    pub fn prepare(&self) -> Result<()> {
        use anyhow::Context as _;
        if let Transport::File(dir) = self {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the outbox {}", dir.display()))?;
        }
        Ok(())
    }

    /// One line for the summary: where the messages go.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(s) => s.describe(),
            Transport::File(dir) => format!("files in {}", dir.display()),
            Transport::DryRun => "nowhere (dry run)".into(),
        }
    }

    /// A new link for one worker.
    pub fn link(&self) -> Link {
        match self {
            Transport::Smtp(s) => Link::Smtp(Box::new(SmtpLink::new(s.clone()))),
            Transport::File(dir) => Link::File(FileLink::new(dir.clone())),
            Transport::DryRun => Link::DryRun,
        }
    }
}

/// One worker's link to wherever the configured transport sends.
pub enum Link {
    /// Boxed: a connection's state is large beside the others.
    Smtp(Box<SmtpLink>),
    File(FileLink),
    /// Messages are built and dropped.
    DryRun,
}

impl Deliver for Link {
    async fn deliver(&mut self, message: &Message) -> Result<String, DeliverError> {
        match self {
            Link::Smtp(link) => link.deliver(message).await,
            Link::File(link) => link.deliver(message).await,
            Link::DryRun => Ok("dry run".into()),
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
