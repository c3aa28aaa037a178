//! `missive doctor`: before the first send, proves that the mail will be
//! accepted — the DNS that authenticates it, the message itself, the
//! relays and the one-click endpoint — and says exactly what to fix.

mod dkim;
mod dmarc;
mod dns;
mod domain;
mod endpoint;
mod findings;
mod identity;
mod message;
mod records;
mod relay;
mod spf;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::compose::Composed;
use crate::project::Project;

pub(crate) use findings::{About, Finding, Level};

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
        relay::examine(
            project,
            &mut findings,
            &mut checked,
            wants(Part::Relays),
            settings.timeout,
        )
        .await
    } else {
        Vec::new()
    };
    if wants(Part::Dns)
        && let Some(dns) = &dns
        && let Some(identity) = &identity::Identity::of(project, &mut findings)
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
