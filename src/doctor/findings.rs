//! What the doctor finds: each finding's level, its stable code, what it is
//! about, and the fix; and the list they are gathered in as they are made.

use serde::Serialize;

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
    /// No From address in the config: no domain to check.
    FromNotSet,
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
    MessageNoFrom,
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
    pub(crate) fn new(
        level: Level,
        code: Code,
        about: About,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            level,
            code,
            about,
            message: message.into(),
            fix: None,
        }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// Findings as they are made.
pub(crate) struct Out<'a>(pub(crate) &'a mut Vec<Finding>);

impl Out<'_> {
    pub(super) fn push(&mut self, finding: Finding) {
        self.0.push(finding);
    }

    pub(super) fn unanswered(&mut self, domain: &str, e: String) {
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
