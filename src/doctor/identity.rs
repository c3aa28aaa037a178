//! Who the mail says it is from and who signs it, as the config gives
//! them: the From domain, the return path's domain, the DKIM signer and
//! the public half of its key.

use super::findings::{About, Code, Finding, Level};
use crate::project::Project;
use crate::send::message::{DkimKey, DkimPublicKey};

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
                    Code::FromNotSet,
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
            Some(dkim) => match DkimKey::read(dkim, &project.root) {
                Ok(key) => Some(Signer {
                    domain: dkim.domain.to_string().to_ascii_lowercase(),
                    selector: dkim.selector.to_string(),
                    key: key.public(),
                }),
                Err(e) => {
                    findings.push(Finding::new(
                        Level::Error,
                        Code::DkimKeyUnreadable,
                        About::Domain(dkim.domain.to_string()),
                        format!("{e:#}"),
                    ));
                    None
                }
            },
        };
        Some(Identity {
            from,
            envelope,
            bounces,
            dkim,
        })
    }
}
