//! DMARC: the record that governs the From domain (the tree walk), its
//! policy, the From's alignment with the DKIM signer and the return path,
//! and where its reports may go.

use mail_auth::common::parse::TxtRecordParser as _;

use super::dns::Dns;
use super::findings::{About, Code, Finding, Level, Out};
use super::identity::Identity;
use super::records::{after_version, aligned, organizational, tag, tags};

/// The DMARC record that governs `domain`: its own, or the nearest
/// parent's (the DMARC tree walk of RFC 9989, at most 8 labels, never the
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
            .filter(|r| after_version(r, "v=DMARC1").is_some())
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
pub(super) async fn check(dns: &Dns, identity: &Identity, out: &mut Out<'_>) {
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
            Ok(txt) if txt.iter().any(|r| after_version(r, "v=DMARC1").is_some()) => {}
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
