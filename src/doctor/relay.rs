//! The relays: each answers, its certificate verifies for its name, it
//! takes the configured login (no message is sent), and what it offers.

use std::net::IpAddr;

use rustls::CertificateError;

use super::dns::Dns;
use super::findings::{About, Code, Finding, Level};
use super::records::organizational;
use crate::project::Project;
use crate::send::transport::{DeliverError, Failure, Fatal, Offers, Relay, Relays};

/// A relay as the doctor saw it.
pub(super) struct Seen {
    pub name: String,
    /// What it offered; `None` when it was not asked or did not answer.
    pub offers: Option<Offers>,
}

/// Asks each relay (when `probe`; each conversation within `timeout`), into
/// `findings`; the relays, with what each offered, for the message checks.
pub(super) async fn examine(
    project: &Project,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
    probe: bool,
    timeout: std::time::Duration,
) -> Vec<Seen> {
    let relays = match Relays::from_project(project) {
        Ok(relays) => relays,
        Err(e) => {
            if probe {
                findings.push(Finding::new(
                    Level::Error,
                    Code::RelaySettings,
                    About::Relay(String::new()),
                    format!("{e:#}"),
                ));
            }
            return Vec::new();
        }
    };
    let mut seen = Vec::new();
    for relay in relays.all() {
        let offers = if probe {
            ask(relay, timeout, findings, checked).await
        } else {
            None
        };
        seen.push(Seen {
            name: relay.name.clone(),
            offers,
        });
    }
    seen
}

/// Asks one relay, within `timeout`, into `findings`: what it offers, if
/// it answered.
async fn ask(
    relay: &Relay,
    timeout: std::time::Duration,
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) -> Option<Offers> {
    let answer = match tokio::time::timeout(timeout, relay.transport.probe()).await {
        Ok(Some(answer)) => answer,
        Ok(None) => {
            checked.push(format!("relay {}: none to ask", relay.transport.describe()));
            return None;
        }
        Err(_) => Err(DeliverError::Failed(Failure::Network(format!(
            "no answer within {} s (--timeout)",
            timeout.as_secs()
        )))),
    };
    checked.push(format!(
        "relay {} ({})",
        relay.name,
        relay.transport.describe()
    ));
    let probed = match answer {
        Ok(probed) => probed,
        Err(e) => {
            findings.push(refused(&relay.name, &e));
            return None;
        }
    };
    let offers = probed.offers;
    let said = |on: bool, what: &str| {
        if on {
            what.to_string()
        } else {
            format!("no {what}")
        }
    };
    findings.push(Finding::new(
        Level::Note,
        Code::RelayOffers,
        About::Relay(relay.name.clone()),
        format!(
            "{} answered{}{}, and offers {}, {}, {}, {}; {}",
            relay.name,
            if probed.encrypted {
                " over TLS"
            } else {
                " unencrypted"
            },
            if probed.logged_in {
                ", took the login"
            } else {
                ""
            },
            said(offers.pipelining, "PIPELINING"),
            said(offers.chunking, "CHUNKING"),
            said(offers.eight_bit_mime, "8BITMIME"),
            said(offers.smtp_utf8, "SMTPUTF8"),
            offers.size.map_or("no size limit said".to_string(), |n| {
                format!("messages up to {:.1} MB", n as f64 / 1e6)
            })
        ),
    ));
    Some(offers)
}

/// The finding for a relay that could not be used.
fn refused(name: &str, e: &DeliverError) -> Finding {
    let about = About::Relay(name.to_string());
    let text = format!("{name}: {e}");
    let (code, fix) = match e {
        DeliverError::Fatal(Fatal::Tls {
            certificate: Some(c),
            ..
        }) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                (
                    Code::RelayTlsName,
                    "set host to a name the relay's certificate is for",
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                Code::RelayTlsExpired,
                "the relay's certificate has expired: whoever runs it must renew it",
            ),
            CertificateError::UnknownIssuer => (
                Code::RelayTlsUntrusted,
                "a private relay: name its CA certificate in ca_file",
            ),
            _ => (
                Code::RelayTls,
                "the relay's certificate must verify for its name",
            ),
        },
        DeliverError::Fatal(Fatal::Tls { .. }) => (
            Code::RelayTls,
            "check security (\"starttls\" on 587, \"tls\" on 465)",
        ),
        DeliverError::Fatal(Fatal::NoStartTls { .. }) => (
            Code::RelayNoStartTls,
            "use the relay's TLS port (security = \"tls\", port 465) or one that offers STARTTLS",
        ),
        DeliverError::Fatal(Fatal::Login { .. } | Fatal::PlaintextAuth) => (
            Code::RelayLoginRefused,
            "check username and the password in the variable password_env names",
        ),
        DeliverError::Fatal(_) => (Code::RelaySettings, "check the relay's settings"),
        DeliverError::Failed(Failure::Network(_)) => (
            Code::RelayUnreachable,
            "check host and port, and that this machine may reach them",
        ),
        DeliverError::Failed(_) => (
            Code::RelayRefused,
            "the relay refused the connection: ask whoever runs it",
        ),
    };
    Finding::new(Level::Error, code, about, text).fix(fix)
}

/// The addresses the relays send from when `--ip` names none: a relay's
/// host given as a public address, or a host of the From domain's own
/// (a mail server of yours, which sends from its address), resolved.
pub(super) async fn sending_ips(project: &Project, dns: &Dns, from: &str) -> Vec<IpAddr> {
    let config = &project.config;
    let mut ips = Vec::new();
    for smtp in config.smtp.iter().chain(config.relays.iter()) {
        let host = smtp.host.as_str();
        if let Ok(ip) = host.parse::<IpAddr>() {
            ips.push(ip);
        } else if organizational(host) == organizational(from)
            && let Ok(found) = dns.ips(host).await
        {
            ips.extend(found);
        }
    }
    ips.retain(|ip| match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified())
        }
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified()),
    });
    ips.dedup();
    ips
}
