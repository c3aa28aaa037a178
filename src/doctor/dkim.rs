//! DKIM: the key published at `<selector>._domainkey.<domain>` is the
//! public half of the configured private key, and strong enough.

use super::dns::Dns;
use super::findings::{About, Code, Finding, Level, Out};
use super::identity::Signer;
use super::records::{tag, tags};
use crate::send::message::DkimPublicKey;

/// The published key is the configured key's public half, and strong.
pub(super) async fn check(dns: &Dns, signer: &Signer, out: &mut Out<'_>) {
    let name = format!("{}._domainkey.{}", signer.selector, signer.domain);
    // The record to publish for the configured key.
    let dkim_record = || format!("{name} TXT \"{}\"", signer.key.record());
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
            .fix(dkim_record()),
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
            .fix(dkim_record()),
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
            .fix(dkim_record()),
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

impl DkimPublicKey {
    /// The record's value: `v=DKIM1; k=…; p=…`.
    fn record(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.algorithm(), self.encoded())
    }
}
