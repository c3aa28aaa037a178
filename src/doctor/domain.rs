//! The DNS that authenticates the mail: SPF of the envelope (bounce)
//! domain, the DKIM key, DMARC of the From domain and its alignment, the
//! bounce domain's MX, the From domain's MX, and each sending address's PTR.

use std::net::IpAddr;

use mail_auth::common::parse::TxtRecordParser as _;

use super::dns::Dns;
use super::{About, Code, Finding, Level, spf};
use crate::project::Project;
use crate::send::message::{DkimPublicKey, dkim_public_key};

/// Who the mail says it is from, and who signs it.
pub(super) struct Identity {
    /// The From address's domain.
    pub from: String,
    /// The envelope sender's domain: `[bounces] address`, or the From.
    pub envelope: String,
    /// Whether the envelope domain is a bounce address of its own.
    pub bounces: bool,
    pub dkim: Option<Signer>,
}

/// The DKIM signer the config names.
pub(super) struct Signer {
    pub domain: String,
    pub selector: String,
    /// The public half of `[dkim] private_key`.
    pub key: DkimPublicKey,
}

impl Identity {
    /// The identity the config gives; `None`, with a finding, where it gives
    /// none to check.
    pub(super) fn of(project: &Project, findings: &mut Vec<Finding>) -> Option<Identity> {
        let config = &project.config;
        let Some(from) = &config.newsletter.from else {
            findings.push(
                Finding::new(
                    Level::Error,
                    Code::DkimNotConfigured,
                    About::Domain(String::new()),
                    "newsletter.from is not set: there is no domain to check",
                )
                .fix("newsletter.from = \"Your Name <you@your-domain>\""),
            );
            return None;
        };
        let from = from.0.email.domain().to_ascii_lowercase();
        let (envelope, bounces) = match &config.bounces.as_ref().and_then(|b| b.address.as_ref()) {
            Some(address) => (address.0.domain().to_ascii_lowercase(), true),
            None => (from.clone(), false),
        };
        let dkim = match &config.dkim {
            None => {
                findings.push(
                    Finding::new(
                        Level::Error,
                        Code::DkimNotConfigured,
                        About::Domain(from.clone()),
                        "no [dkim]: the mail goes out unsigned, and Gmail and Yahoo refuse \
                         unsigned bulk mail",
                    )
                    .fix(format!(
                        "make a key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
                         -out dkim.pem) and set [dkim] domain = \"{from}\", selector = \"missive\", \
                         private_key = \"dkim.pem\"; missive doctor then shows the record to publish"
                    )),
                );
                None
            }
            Some(dkim) => {
                let path = project.resolve(&dkim.private_key);
                let key = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    .and_then(|pem| {
                        dkim_public_key(&pem).map_err(|e| format!("{}: {e}", path.display()))
                    });
                match key {
                    Ok(key) => Some(Signer {
                        domain: dkim.domain.to_string().to_ascii_lowercase(),
                        selector: dkim.selector.to_string(),
                        key,
                    }),
                    Err(e) => {
                        findings.push(Finding::new(
                            Level::Error,
                            Code::DkimKeyUnreadable,
                            About::Domain(dkim.domain.to_string()),
                            format!("dkim.private_key: {e}"),
                        ));
                        None
                    }
                }
            }
        };
        Some(Identity {
            from,
            envelope,
            bounces,
            dkim,
        })
    }
}

/// The organizational domain of `name` (its registrable domain, by the
/// Public Suffix List; a name under an unlisted suffix counts its last two
/// labels): what relaxed DMARC alignment compares.
pub(super) fn organizational(name: &str) -> String {
    psl::domain_str(name).unwrap_or(name).to_ascii_lowercase()
}

/// Whether `a` aligns with `b`: the same name (strict) or the same
/// organizational domain (relaxed).
fn aligned(a: &str, b: &str, strict: bool) -> bool {
    if strict {
        a.eq_ignore_ascii_case(b)
    } else {
        organizational(a) == organizational(b)
    }
}

/// The DNS checks, into `findings`.
pub(super) async fn examine(
    dns: &Dns,
    identity: &Identity,
    ips: &[IpAddr],
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) {
    let mut out = Out(findings);
    let ips_text = ips
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
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
            format!("sending from {ips_text}")
        }
    ));
    // A resolver that does not answer the first question is named once,
    // not once a question, each after its timeout.
    if let Err(e) = dns.txt(&identity.envelope).await {
        return out.unanswered(&identity.envelope, e);
    }
    spf_of(dns, &identity.envelope, ips, true, &mut out).await;
    if identity.envelope != identity.from {
        spf_of(dns, &identity.from, &[], false, &mut out).await;
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
        dkim_key(dns, signer, &mut out).await;
    }
    dmarc(dns, identity, &mut out).await;
    if identity.bounces {
        match dns.mx(&identity.envelope).await {
            Ok(mx) if mx.is_empty() => out.push(
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
            ),
            Ok(_) => {}
            Err(e) => out.unanswered(&identity.envelope, e),
        }
    }
    match dns.mx(&identity.from).await {
        Ok(mx) if mx.is_empty() => out.push(
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
        ),
        Ok(_) => {}
        Err(e) => out.unanswered(&identity.from, e),
    }
    for ip in ips {
        ptr(dns, *ip, &mut out).await;
    }
}

/// Findings as they are made.
struct Out<'a>(&'a mut Vec<Finding>);

impl Out<'_> {
    fn push(&mut self, finding: Finding) {
        self.0.push(finding);
    }

    fn unanswered(&mut self, domain: &str, e: String) {
        self.0.push(
            Finding::new(
                Level::Error,
                Code::DnsUnanswered,
                About::Domain(domain.to_string()),
                e,
            )
            .fix(
                "check the resolver (--dns HOST:PORT names another) and the domain's name servers",
            ),
        );
    }
}

/// SPF of `domain`: one valid record, within its lookups, passing each of
/// `ips`. `envelope`: the domain SPF authenticates (a missing record is an
/// error there, a warning on a From domain that is not the envelope's).
async fn spf_of(dns: &Dns, domain: &str, ips: &[IpAddr], envelope: bool, out: &mut Out<'_>) {
    let about = || About::Domain(domain.to_string());
    let suggested = || {
        let mechanisms: Vec<String> = ips
            .iter()
            .map(|ip| match ip {
                IpAddr::V4(ip) => format!("ip4:{ip}"),
                IpAddr::V6(ip) => format!("ip6:{ip}"),
            })
            .collect();
        if mechanisms.is_empty() {
            format!("{domain} TXT \"v=spf1 include:<your relay's SPF domain> -all\"")
        } else {
            format!("{domain} TXT \"v=spf1 {} -all\"", mechanisms.join(" "))
        }
    };
    let txt = match dns.txt(domain).await {
        Ok(txt) => txt,
        Err(e) => return out.unanswered(domain, e),
    };
    let records = spf::records(&txt);
    let record = match records.as_slice() {
        [] => {
            let (level, why) = if envelope {
                (
                    Level::Error,
                    "the return path's domain has no SPF record: SPF cannot pass",
                )
            } else {
                (
                    Level::Warning,
                    "the From domain has no SPF record (the bounce domain's is the one SPF \
                     checks, but receivers look at this one too)",
                )
            };
            return out.push(Finding::new(level, Code::SpfMissing, about(), why).fix(suggested()));
        }
        [one] => (*one).clone(),
        many => {
            return out.push(
                Finding::new(
                    Level::Error,
                    Code::SpfMultiple,
                    about(),
                    format!(
                        "{domain} has {} SPF records; a receiver finding more than one fails \
                         SPF (RFC 7208 §4.5): {}",
                        many.len(),
                        many.iter()
                            .map(|r| format!("\"{r}\""))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                )
                .fix("merge them into one record: one v=spf1, every mechanism once, one all at the end"),
            );
        }
    };
    if let Err(e) = spf::syntax(&record) {
        return out.push(
            Finding::new(
                Level::Error,
                Code::SpfInvalid,
                about(),
                format!("the SPF record \"{record}\" cannot be read: {e}"),
            )
            .fix(suggested()),
        );
    }
    let cost = spf::cost(dns, domain).await;
    for e in cost.unanswered {
        out.unanswered(domain, e);
    }
    let mut broken = false;
    for problem in &cost.problems {
        broken = true;
        out.push(
            Finding::new(
                Level::Error,
                Code::SpfInvalid,
                about(),
                format!("its SPF record includes one that cannot be used: {problem}"),
            )
            .fix("include only domains that publish one SPF record"),
        );
    }
    if cost.lookups > 10 {
        broken = true;
        out.push(
            Finding::new(
                Level::Error,
                Code::SpfTooManyLookups,
                about(),
                format!(
                    "SPF needs {} DNS lookups; receivers stop at 10 and fail it \
                     (RFC 7208 §4.6.4): {}",
                    cost.lookups,
                    cost.terms.join(", ")
                ),
            )
            .fix("replace includes by the ip4:/ip6: ranges they stand for, or drop the ones you do not send through"),
        );
    }
    if cost.voids > 2 {
        broken = true;
        out.push(
            Finding::new(
                Level::Error,
                Code::SpfVoidLookups,
                about(),
                format!(
                    "{} of SPF's lookups find nothing; receivers fail it after 2 \
                     (RFC 7208 §4.6.4)",
                    cost.voids
                ),
            )
            .fix("remove the terms that name domains without records"),
        );
    }
    if !envelope || broken {
        return;
    }
    for ip in ips {
        let sender = format!("doctor@{domain}");
        let output = dns
            .authenticator()
            .check_host(
                mail_auth::spf::verify::SpfParameters::new(
                    *ip,
                    domain,
                    domain,
                    "doctor.missive.invalid",
                    &sender,
                )
                .into(),
            )
            .await;
        let result = output.result();
        if result != mail_auth::SpfResult::Pass {
            let mechanism = match ip {
                IpAddr::V4(ip) => format!("ip4:{ip}"),
                IpAddr::V6(ip) => format!("ip6:{ip}"),
            };
            out.push(
                Finding::new(
                    Level::Error,
                    Code::SpfFailsIp,
                    about(),
                    format!(
                        "{ip} may not send for {domain}: SPF says {} for \"{record}\"",
                        spf_result(result)
                    ),
                )
                .fix(format!(
                    "add {mechanism} to the SPF record of {domain}, before its all"
                )),
            );
        }
    }
}

fn spf_result(result: mail_auth::SpfResult) -> &'static str {
    use mail_auth::SpfResult;
    match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

/// The tags of a DKIM or DMARC record (`k=v; k=v`), names lower-cased.
fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The DKIM record to publish for `signer`'s key.
fn dkim_record(signer: &Signer) -> String {
    format!(
        "{}._domainkey.{} TXT \"{}\"",
        signer.selector,
        signer.domain,
        signer.key.record()
    )
}

/// The published key is the configured key's public half, and strong.
async fn dkim_key(dns: &Dns, signer: &Signer, out: &mut Out<'_>) {
    let name = format!("{}._domainkey.{}", signer.selector, signer.domain);
    let about = || About::Domain(signer.domain.clone());
    let txt = match dns.txt(&name).await {
        Ok(txt) => txt,
        Err(e) => return out.unanswered(&signer.domain, e),
    };
    let published: Vec<Vec<(String, String)>> = txt
        .iter()
        .map(|r| tags(r))
        .filter(|t| tag(t, "p").is_some())
        .collect();
    let Some(record) = published.first() else {
        return out.push(
            Finding::new(
                Level::Error,
                Code::DkimKeyMissing,
                about(),
                format!("no DKIM key at {name}: no receiver can verify the signature"),
            )
            .fix(dkim_record(signer)),
        );
    };
    let p: String = tag(record, "p")
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if p.is_empty() {
        return out.push(
            Finding::new(
                Level::Error,
                Code::DkimKeyMissing,
                about(),
                format!("the DKIM key at {name} is revoked (p= is empty)"),
            )
            .fix(dkim_record(signer)),
        );
    }
    if !signer
        .key
        .is_published_as(tag(record, "k").unwrap_or("rsa"), &p)
    {
        return out.push(
            Finding::new(
                Level::Error,
                Code::DkimKeyMismatch,
                about(),
                format!(
                    "the DKIM key at {name} is not the public half of dkim.private_key: \
                     every signature fails"
                ),
            )
            .fix(dkim_record(signer)),
        );
    }
    if let Some(bits) = signer.key.rsa_bits() {
        if bits < 1024 {
            out.push(
                Finding::new(
                    Level::Error,
                    Code::DkimKeyWeak,
                    about(),
                    format!(
                        "the DKIM key is {bits}-bit RSA: receivers treat keys under 1024 bits \
                         as no signature at all"
                    ),
                )
                .fix("make a 2048-bit key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048), \
                      publish it under a new selector, then switch [dkim] to it"),
            );
        } else if bits < 2048 {
            out.push(
                Finding::new(
                    Level::Warning,
                    Code::DkimKeyShort,
                    about(),
                    format!("the DKIM key is {bits}-bit RSA; 2048 bits is today's minimum advice"),
                )
                .fix("make a 2048-bit key, publish it under a new selector, then switch [dkim] to it"),
            );
        }
    }
    if tag(record, "t").is_some_and(|t| t.split(':').any(|f| f.trim().eq_ignore_ascii_case("y"))) {
        out.push(
            Finding::new(
                Level::Note,
                Code::DkimTesting,
                about(),
                format!(
                    "the DKIM key at {name} says t=y (testing): receivers may ignore its verdict"
                ),
            )
            .fix("drop t=y from the record once the signature verifies"),
        );
    }
}

/// The DMARC record that governs `domain`: its own, or the nearest
/// parent's (the tree walk of RFC 9989 §4.10, at most 8 labels, never the
/// top-level domain), with the name it was found at.
async fn dmarc_record(dns: &Dns, domain: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let labels: Vec<&str> = domain.split('.').collect();
    let mut names = vec![domain.to_string()];
    let start = labels.len().saturating_sub(8).max(1);
    for i in start..labels.len().saturating_sub(1) {
        names.push(labels[i..].join("."));
    }
    names.dedup();
    for name in names {
        let txt = dns.txt(&format!("_dmarc.{name}")).await?;
        let found: Vec<String> = txt
            .into_iter()
            .filter(|r| {
                r.trim_start()
                    .get(..8)
                    .is_some_and(|v| v.eq_ignore_ascii_case("v=DMARC1"))
            })
            .collect();
        if !found.is_empty() {
            return Ok(Some((name, found)));
        }
    }
    Ok(None)
}

/// DMARC: a record governs the From domain, with a policy, and the From
/// aligns with the DKIM signer and the return path; its reports go where
/// they are allowed to.
async fn dmarc(dns: &Dns, identity: &Identity, out: &mut Out<'_>) {
    let from = &identity.from;
    let about = || About::Domain(from.clone());
    let suggested = format!(
        "_dmarc.{} TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@{}\"",
        organizational(from),
        organizational(from)
    );
    let (at, records) = match dmarc_record(dns, from).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return out.push(
                Finding::new(
                    Level::Error,
                    Code::DmarcMissing,
                    about(),
                    format!(
                        "no DMARC record for {from} (nor its parents): Gmail and Yahoo require \
                         one of bulk senders"
                    ),
                )
                .fix(suggested),
            );
        }
        Err(e) => return out.unanswered(from, e),
    };
    if records.len() > 1 {
        return out.push(
            Finding::new(
                Level::Error,
                Code::DmarcMultiple,
                about(),
                format!(
                    "_dmarc.{at} has {} DMARC records: receivers use none of them",
                    records.len()
                ),
            )
            .fix("keep one"),
        );
    }
    let record = &records[0];
    if let Err(e) = mail_auth::dmarc::Dmarc::parse(record.as_bytes()) {
        return out.push(
            Finding::new(
                Level::Error,
                Code::DmarcInvalid,
                about(),
                format!("the DMARC record at _dmarc.{at} cannot be read: {e}: \"{record}\""),
            )
            .fix(suggested),
        );
    }
    let tags = tags(record);
    let policy = if at == *from {
        tag(&tags, "p")
    } else {
        tag(&tags, "sp").or(tag(&tags, "p"))
    };
    match policy.map(str::to_ascii_lowercase).as_deref() {
        None => {
            return out.push(
                Finding::new(
                    Level::Error,
                    Code::DmarcInvalid,
                    about(),
                    format!("the DMARC record at _dmarc.{at} has no policy (p=): \"{record}\""),
                )
                .fix(suggested),
            );
        }
        Some("none") => out.push(
            Finding::new(
                Level::Note,
                Code::DmarcPolicyNone,
                about(),
                format!(
                    "DMARC for {from} is p=none (found at _dmarc.{at}): receivers report, but \
                     act on nothing; enough for Gmail and Yahoo"
                ),
            )
            .fix("once the reports show only your own mail passing, move to p=quarantine"),
        ),
        Some(_) => {}
    }
    let strict = |name: &str| tag(&tags, name).is_some_and(|v| v.eq_ignore_ascii_case("s"));
    let dkim_aligned = identity
        .dkim
        .as_ref()
        .is_some_and(|d| aligned(&d.domain, from, strict("adkim")));
    let spf_aligned = aligned(&identity.envelope, from, strict("aspf"));
    if !dkim_aligned && !spf_aligned {
        out.push(
            Finding::new(
                Level::Error,
                Code::DmarcNotAligned,
                about(),
                format!(
                    "DMARC cannot pass: the From domain {from} aligns with neither the DKIM \
                     signer ({}) nor the return path ({})",
                    identity.dkim.as_ref().map_or("none", |d| d.domain.as_str()),
                    identity.envelope
                ),
            )
            .fix(format!(
                "set [dkim] domain = \"{from}\" (and publish its key there)"
            )),
        );
    } else if !dkim_aligned && let Some(signer) = &identity.dkim {
        out.push(
            Finding::new(
                Level::Warning,
                Code::DkimNotAligned,
                about(),
                format!(
                    "the DKIM signer {} does not align with the From domain {from}: DMARC rests on \
                     SPF alone, which fails as soon as a reader's mail is forwarded",
                    signer.domain
                ),
            )
            .fix(format!(
                "set [dkim] domain = \"{from}\" (and publish its key there)"
            )),
        );
    }
    let rua = tag(&tags, "rua").unwrap_or("");
    if rua.is_empty() {
        out.push(
            Finding::new(
                Level::Warning,
                Code::DmarcNoReports,
                about(),
                format!("the DMARC record at _dmarc.{at} asks for no reports (rua=): you will not see who fails"),
            )
            .fix(suggested.clone()),
        );
    }
    for uri in rua.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let Some(address) = uri
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("mailto:"))
            .map(|_| &uri[7..])
        else {
            continue;
        };
        let address = address.split('!').next().unwrap_or(address);
        let Some((_, destination)) = address.rsplit_once('@') else {
            continue;
        };
        let destination = destination.to_ascii_lowercase();
        if organizational(&destination) == organizational(&at) {
            continue;
        }
        let name = format!("{at}._report._dmarc.{destination}");
        match dns.txt(&name).await {
            Ok(txt)
                if txt.iter().any(|r| {
                    r.trim_start()
                        .get(..8)
                        .is_some_and(|v| v.eq_ignore_ascii_case("v=DMARC1"))
                }) => {}
            Ok(_) => out.push(
                Finding::new(
                    Level::Warning,
                    Code::DmarcReportsUnauthorized,
                    about(),
                    format!(
                        "DMARC reports go to {address}, at another domain that has not agreed to \
                         take them ({name} has no v=DMARC1 record): receivers send none"
                    ),
                )
                .fix(format!(
                    "{name} TXT \"v=DMARC1\" (published by {destination})"
                )),
            ),
            Err(e) => out.unanswered(from, e),
        }
    }
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
                    ips.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
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

impl DkimPublicKey {
    /// The record's value: `v=DKIM1; k=…; p=…`.
    fn record(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.algorithm(), self.encoded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domains_follow_the_public_suffix_list() {
        assert_eq!(organizational("news.example.co.uk"), "example.co.uk");
        assert_eq!(organizational("a.b.example.com"), "example.com");
        // An unlisted suffix (the tests' .test): the last two labels.
        assert_eq!(organizational("news.orgwalk.test"), "orgwalk.test");
        assert!(aligned("bounces.example.com", "example.com", false));
        assert!(!aligned("bounces.example.com", "example.com", true));
        assert!(!aligned("example.net", "example.com", false));
    }

    #[test]
    fn tags_are_read_loosely() {
        let t = tags("v=DMARC1;p=reject; rua = mailto:a@b.test ;");
        assert_eq!(tag(&t, "p"), Some("reject"));
        assert_eq!(tag(&t, "rua"), Some("mailto:a@b.test"));
        assert_eq!(tag(&t, "sp"), None);
    }
}
