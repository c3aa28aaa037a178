//! The DNS that authenticates the mail, checked in turn: SPF of the
//! envelope (bounce) domain, the DKIM key, DMARC of the From domain, the
//! bounce domain's MX, the From domain's MX, and each sending address's PTR.

use std::net::IpAddr;

use super::dns::Dns;
use super::findings::{About, Code, Finding, Level, Out};
use super::identity::Identity;
use super::{dkim, dmarc, spf};

/// The DNS checks, into `findings`.
pub(super) async fn examine(
    dns: &Dns,
    identity: &Identity,
    ips: &[IpAddr],
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) {
    let mut out = Out(findings);
    checked.push(format!(
        "DNS of {} (From){}{}, asked of {}, {}",
        identity.from,
        if identity.envelope == identity.from {
            String::new()
        } else {
            format!(", {} (bounces)", identity.envelope)
        },
        identity
            .dkim
            .as_ref()
            .map(|d| format!(", {}._domainkey.{} (DKIM)", d.selector, d.domain))
            .unwrap_or_default(),
        dns.server(),
        if ips.is_empty() {
            "no sending address".to_string()
        } else {
            format!("sending from {}", listed(ips))
        }
    ));
    // A resolver that does not answer the first question is named once,
    // not once a question, each after its timeout.
    let txt = match dns.txt(&identity.envelope).await {
        Ok(txt) => txt,
        Err(e) => return out.unanswered(&identity.envelope, e),
    };
    spf::check(dns, &identity.envelope, &txt, ips, true, &mut out).await;
    if identity.envelope != identity.from {
        match dns.txt(&identity.from).await {
            Ok(txt) => spf::check(dns, &identity.from, &txt, &[], false, &mut out).await,
            Err(e) => out.unanswered(&identity.from, e),
        }
    }
    if ips.is_empty() {
        out.push(
            Finding::new(
                Level::Note,
                Code::NoSendingIp,
                About::Domain(identity.envelope.clone()),
                "no sending address known: SPF and PTR were not checked for one",
            )
            .fix("give the address your relay sends from: missive doctor --ip ADDR"),
        );
    }
    if let Some(signer) = &identity.dkim {
        dkim::check(dns, signer, &mut out).await;
    }
    dmarc::check(dns, identity, &mut out).await;
    if identity.bounces && has_no_mx(dns, &identity.envelope, &mut out).await {
        out.push(
            Finding::new(
                Level::Error,
                Code::BounceNoMx,
                About::Domain(identity.envelope.clone()),
                format!(
                    "the bounce domain {} has no MX record: bounces cannot come back, and \
                     receivers refuse mail whose return path cannot receive",
                    identity.envelope
                ),
            )
            .fix(format!(
                "{} MX 10 <the server that receives your bounces>",
                identity.envelope
            )),
        );
    }
    if has_no_mx(dns, &identity.from, &mut out).await {
        out.push(
            Finding::new(
                Level::Warning,
                Code::FromNoMx,
                About::Domain(identity.from.clone()),
                format!(
                    "{} has no MX record: replies to the newsletter go nowhere",
                    identity.from
                ),
            )
            .fix(format!("{} MX 10 <your mail server>", identity.from)),
        );
    }
    for ip in ips {
        ptr(dns, *ip, &mut out).await;
    }
}

/// Whether `domain` has no MX record (a question that got no answer is
/// named, and is not "none").
async fn has_no_mx(dns: &Dns, domain: &str, out: &mut Out<'_>) -> bool {
    match dns.mx(domain).await {
        Ok(mx) => mx.is_empty(),
        Err(e) => {
            out.unanswered(domain, e);
            false
        }
    }
}

/// Addresses as a person reads them: `a, b`.
fn listed(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sending address points back to a name that points to it (FCrDNS).
async fn ptr(dns: &Dns, ip: IpAddr, out: &mut Out<'_>) {
    let about = || About::Domain(ip.to_string());
    let names = match dns.ptr(ip).await {
        Ok(names) => names,
        Err(e) => return out.unanswered(&ip.to_string(), e),
    };
    if names.is_empty() {
        return out.push(
            Finding::new(
                Level::Error,
                Code::PtrMissing,
                about(),
                format!(
                    "{ip} has no PTR record: Gmail and Yahoo refuse bulk mail from an address \
                     without one"
                ),
            )
            .fix(format!(
                "ask whoever owns {ip} (your host or relay) for a PTR to a name that resolves back to it"
            )),
        );
    }
    let mut back = Vec::new();
    for name in &names {
        match dns.ips(name).await {
            Ok(ips) if ips.contains(&ip) => return,
            Ok(ips) => back.push(format!(
                "{name} → {}",
                if ips.is_empty() {
                    "nothing".to_string()
                } else {
                    listed(&ips)
                }
            )),
            Err(e) => return out.unanswered(name, e),
        }
    }
    out.push(
        Finding::new(
            Level::Error,
            Code::PtrMismatch,
            about(),
            format!(
                "{ip} points to {}, which does not point back to it ({}): the forward-confirmed \
                 reverse DNS receivers ask for fails",
                names.join(", "),
                back.join("; ")
            ),
        )
        .fix(format!(
            "{} A {ip} (or a PTR for {ip} to a name that has it)",
            names[0]
        )),
    );
}
