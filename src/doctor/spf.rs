//! An SPF record's cost, as RFC 7208 §4.6.4 counts it: the terms that make
//! DNS queries (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`), through
//! every `include` and `redirect`, at most 10; and the queries that found
//! nothing ("void lookups"), at most 2. Whether an address passes is left to
//! the verifier (mail-auth); this walks the whole tree, whatever the address.

use std::future::Future;
use std::pin::Pin;

use mail_auth::common::parse::TxtRecordParser as _;

use super::dns::Dns;

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
            let r = r.trim_start();
            r.len() >= 6
                && r[..6].eq_ignore_ascii_case("v=spf1")
                && r[6..].chars().next().is_none_or(|c| c == ' ')
        })
        .collect()
}

/// Whether mail-auth's parser takes `record`; its complaint if not.
pub(super) fn syntax(record: &str) -> Result<(), String> {
    mail_auth::spf::Spf::parse(record.as_bytes())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Walks the SPF record of `domain` and all it includes.
pub(super) async fn cost(dns: &Dns, domain: &str) -> Cost {
    let mut cost = Cost::default();
    walk(dns, domain.to_string(), 0, &mut cost).await;
    cost
}

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
                if depth > 0 {
                    cost.voids += 1;
                    cost.problems.push(format!("{domain} has no SPF record"));
                }
                return;
            }
            _ => {
                cost.problems
                    .push(format!("{domain} has {} SPF records", found.len()));
                return;
            }
        };
        if depth > 0
            && let Err(e) = syntax(&record)
        {
            cost.problems.push(format!("{domain}: {e}"));
            return;
        }
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
