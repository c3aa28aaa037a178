//! SPF: one readable record, within its lookups, passing each sending
//! address. A record's cost, as RFC 7208 §4.6.4 counts it: the terms that make
//! DNS queries (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`), through
//! every `include` and `redirect`, at most 10; and the queries that found
//! nothing ("void lookups"), at most 2. Whether an address passes is left to
//! the verifier (mail-auth); this walks the whole tree, whatever the address.

use std::future::Future;
use std::pin::Pin;

use std::net::IpAddr;

use mail_auth::common::parse::TxtRecordParser as _;

use super::dns::Dns;
use super::findings::{About, Code, Finding, Level, Out};
use super::records::after_version;

/// What one walk found.
#[derive(Debug, Default)]
pub(super) struct Cost {
    /// The DNS-querying terms, every included record's counted in.
    pub lookups: u32,
    /// The queries that found no record.
    pub voids: u32,
    /// Each term that cost a lookup, with the record it is in.
    pub terms: Vec<String>,
    /// Records that could not be used (missing, two, unreadable): the
    /// verifier's permanent errors.
    pub problems: Vec<String>,
    /// Questions that got no answer.
    pub unanswered: Vec<String>,
}

/// The `v=spf1` records among TXT records.
pub(super) fn records(txt: &[String]) -> Vec<&String> {
    txt.iter()
        .filter(|r| {
            after_version(r, "v=spf1").is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        })
        .collect()
}

/// Whether mail-auth's parser takes `record`; its complaint if not.
pub(super) fn syntax(record: &str) -> Result<(), String> {
    mail_auth::spf::Spf::parse(record.as_bytes())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Walks `record`, the SPF record of `domain`, and all it includes.
pub(super) async fn cost(dns: &Dns, domain: &str, record: &str) -> Cost {
    let mut cost = Cost::default();
    terms(dns, domain.to_string(), record, 0, &mut cost).await;
    cost
}

/// An included (or redirected-to) domain's record, then its terms.
fn walk<'a>(
    dns: &'a Dns,
    domain: String,
    depth: u32,
    cost: &'a mut Cost,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        // Past the limit the verifier has stopped already; so does the walk
        // (and a loop of includes ends).
        if depth > 10 || cost.lookups > 20 {
            return;
        }
        let txt = match dns.txt(&domain).await {
            Ok(txt) => txt,
            Err(e) => {
                cost.unanswered.push(e);
                return;
            }
        };
        let found = records(&txt);
        let record = match found.as_slice() {
            [one] => (*one).clone(),
            [] => {
                cost.voids += 1;
                cost.problems.push(format!("{domain} has no SPF record"));
                return;
            }
            _ => {
                cost.problems
                    .push(format!("{domain} has {} SPF records", found.len()));
                return;
            }
        };
        if let Err(e) = syntax(&record) {
            cost.problems.push(format!("{domain}: {e}"));
            return;
        }
        terms(dns, domain, &record, depth, cost).await;
    })
}

/// The terms of `record` (`domain`'s): each that queries DNS counted, the
/// includes and a redirect walked.
fn terms<'a>(
    dns: &'a Dns,
    domain: String,
    record: &'a str,
    depth: u32,
    cost: &'a mut Cost,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        let mut redirect = None;
        let mut has_all = false;
        for term in record.split_whitespace().skip(1) {
            let bare = term.trim_start_matches(['+', '-', '~', '?']);
            // `a/24` names no other domain; `a:host/24` does, without its mask.
            let (name, target) = match bare.find([':', '=', '/']) {
                Some(at) if bare.as_bytes()[at] == b'/' => (bare[..at].to_ascii_lowercase(), None),
                Some(at) => (
                    bare[..at].to_ascii_lowercase(),
                    Some(bare[at + 1..].split('/').next().unwrap_or("").to_string()),
                ),
                None => (bare.to_ascii_lowercase(), None),
            };
            match name.as_str() {
                "all" => has_all = true,
                "redirect" => redirect = Some((term, target.unwrap_or_default())),
                "include" | "a" | "mx" | "ptr" | "exists" => {
                    cost.lookups += 1;
                    cost.terms.push(format!("{term} (in {domain})"));
                    let target = target.unwrap_or_else(|| domain.clone());
                    // A macro is expanded per message: nothing to look up now.
                    if target.contains('%') {
                        continue;
                    }
                    match name.as_str() {
                        "include" => walk(dns, target, depth + 1, cost).await,
                        "a" => count_void(cost, dns.ips(&target).await.map(|v| v.is_empty())),
                        "mx" => count_void(cost, dns.mx(&target).await.map(|v| v.is_empty())),
                        "exists" => {
                            count_void(cost, dns.ips(&target).await.map(|v| v.is_empty()));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        // A redirect counts only where the record has no `all`.
        if let Some((term, target)) = redirect
            && !has_all
        {
            cost.lookups += 1;
            cost.terms.push(format!("{term} (in {domain})"));
            if !target.contains('%') {
                walk(dns, target, depth + 1, cost).await;
            }
        }
    })
}

fn count_void(cost: &mut Cost, empty: Result<bool, String>) {
    match empty {
        Ok(true) => cost.voids += 1,
        Ok(false) => {}
        Err(e) => cost.unanswered.push(e),
    }
}

/// SPF of `domain`, whose TXT records are `txt`: one valid record, within
/// its lookups, passing each of `ips`. `envelope`: the domain SPF
/// authenticates (a missing record is an error there, a warning on a From
/// domain that is not the envelope's).
pub(super) async fn check(
    dns: &Dns,
    domain: &str,
    txt: &[String],
    ips: &[IpAddr],
    envelope: bool,
    out: &mut Out<'_>,
) {
    let about = || About::Domain(domain.to_string());
    let suggested = || {
        let mechanisms: Vec<String> = ips.iter().map(mechanism).collect();
        if mechanisms.is_empty() {
            format!("{domain} TXT \"v=spf1 include:<your relay's SPF domain> -all\"")
        } else {
            format!("{domain} TXT \"v=spf1 {} -all\"", mechanisms.join(" "))
        }
    };
    let records = records(txt);
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
    if let Err(e) = syntax(&record) {
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
    let cost = cost(dns, domain, &record).await;
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
            let mechanism = mechanism(ip);
            out.push(
                Finding::new(
                    Level::Error,
                    Code::SpfFailsIp,
                    about(),
                    format!(
                        "{ip} may not send for {domain}: SPF says {} for \"{record}\"",
                        // mail-auth names the result as RFC 7208 §2.6 does.
                        result.to_string().to_ascii_lowercase()
                    ),
                )
                .fix(format!(
                    "add {mechanism} to the SPF record of {domain}, before its all"
                )),
            );
        }
    }
}

/// The mechanism that allows `ip`: `ip4:…` or `ip6:…`.
fn mechanism(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => format!("ip4:{ip}"),
        IpAddr::V6(ip) => format!("ip6:{ip}"),
    }
}
