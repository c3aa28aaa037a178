//! `missive doctor`: before the first send, proves that the mail will be
//! accepted — the DNS that authenticates it, the message itself, the
//! relays and the one-click endpoint — and says exactly what to fix.

mod dns;
mod domain;
mod endpoint;
mod message;
mod relay;
mod spf;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::compose::Composed;
use crate::project::Project;

/// How much a finding matters, most first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    /// The mail will be refused or land in spam: fix before sending.
    Error,
    /// Works, but a receiver may hold it against the mail, or a part of it
    /// cannot work.
    Warning,
    /// Worth knowing.
    Note,
}

/// What a finding is about: a stable name, kebab-case in `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// A DNS query got no answer (not "no such record": no answer at all).
    DnsUnanswered,
    SpfMissing,
    SpfMultiple,
    SpfInvalid,
    SpfTooManyLookups,
    SpfVoidLookups,
    SpfFailsIp,
    /// No sending address to check SPF and PTR for.
    NoSendingIp,
    DkimNotConfigured,
    DkimKeyUnreadable,
    DkimKeyMissing,
    DkimKeyMismatch,
    DkimKeyWeak,
    DkimKeyShort,
    DkimTesting,
    DkimNotAligned,
    DmarcMissing,
    DmarcMultiple,
    DmarcInvalid,
    DmarcPolicyNone,
    DmarcNotAligned,
    DmarcNoReports,
    DmarcReportsUnauthorized,
    BounceNoMx,
    FromNoMx,
    PtrMissing,
    PtrMismatch,
    MessageUnbuilt,
    MessageDkimFails,
    MessageUnsubscribeUnsigned,
    MessageNoOneClick,
    MessageHeaderRepeated,
    MessageLineTooLong,
    MessageBareLineBreak,
    MessageClipped,
    MessageInsecureLink,
    MessageNoVisibleUnsubscribe,
    MessageListIdInvalid,
    RelaySettings,
    RelayUnreachable,
    RelayRefused,
    RelayTlsName,
    RelayTlsExpired,
    RelayTlsUntrusted,
    RelayTls,
    RelayNoStartTls,
    RelayLoginRefused,
    RelaySizeTooSmall,
    RelayOffers,
    EndpointMissing,
    EndpointNoSecret,
    EndpointUnreachable,
    EndpointRedirects,
    EndpointRefused,
}

impl Code {
    pub(crate) fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What was examined: a domain's DNS, a relay, the endpoint or the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum About {
    Domain(String),
    Relay(String),
    Endpoint(String),
    /// The message of this issue file.
    Issue(String),
}

/// One thing found, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finding {
    pub level: Level,
    pub code: Code,
    #[serde(flatten)]
    pub about: About,
    pub message: String,
    /// The record to publish or the setting to change.
    pub fix: Option<String>,
}

impl Finding {
    fn new(level: Level, code: Code, about: About, message: impl Into<String>) -> Finding {
        Finding {
            level,
            code,
            about,
            message: message.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// The parts of the examination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// SPF, DKIM, DMARC, MX and PTR records.
    Dns,
    /// The next message, built as `send` would.
    Message,
    /// Each relay: TLS, login, size limit, what it offers.
    Relays,
    /// The one-click unsubscribe URL.
    Endpoint,
}

/// How the doctor was asked to look.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The addresses the relays send from (for SPF and PTR).
    pub ips: Vec<IpAddr>,
    /// The resolver every query goes to; the system's when `None`.
    pub dns: Option<SocketAddr>,
    /// The parts to run.
    pub parts: Vec<Part>,
    /// How long each DNS query, connection and request may take.
    pub timeout: Duration,
    /// Where to write the message that was checked, if anywhere.
    pub save_message: Option<std::path::PathBuf>,
}

/// All that was found, most important first, and what was looked at.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub findings: Vec<Finding>,
    /// What was examined, one line each.
    pub checked: Vec<String>,
}

impl Report {
    pub(crate) fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

/// Runs the examination. `composed` is the issue whose next message is
/// checked (the message part is skipped without one).
pub(crate) async fn examine(
    project: &Project,
    composed: Option<&Composed>,
    settings: &Settings,
) -> Result<Report> {
    let wants = |part| settings.parts.contains(&part);
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    // Only the DNS and the message's signature ask the resolver.
    let dns = if wants(Part::Dns) || wants(Part::Message) {
        Some(dns::Dns::new(settings.dns, settings.timeout)?)
    } else {
        None
    };
    let relays = if wants(Part::Relays) || wants(Part::Message) {
        relay::examine(project, &mut findings, &mut checked, wants(Part::Relays)).await
    } else {
        Vec::new()
    };
    if wants(Part::Dns)
        && let Some(dns) = &dns
        && let Some(identity) = &domain::Identity::of(project, &mut findings)
    {
        let ips = if settings.ips.is_empty() {
            relay::sending_ips(project, dns, &identity.from).await
        } else {
            settings.ips.clone()
        };
        domain::examine(dns, identity, &ips, &mut findings, &mut checked).await;
    }
    if wants(Part::Message)
        && let Some(dns) = &dns
        && let Some(composed) = composed
    {
        let bytes = message::examine(dns, composed, &relays, &mut findings, &mut checked).await;
        if let (Some(path), Some(bytes)) = (&settings.save_message, bytes) {
            crate::fsutil::write_atomic(path, &bytes, None)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    if wants(Part::Endpoint) {
        endpoint::examine(project, settings.timeout, &mut findings, &mut checked).await;
    }
    findings.sort_by_key(|f| f.level);
    Ok(Report { findings, checked })
}
