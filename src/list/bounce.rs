//! What a refusal says about an address: the one table that tells a hard
//! bounce (the mailbox or its domain does not exist or takes no mail: the
//! address is suppressed) from a soft one (try again another day) and from
//! a block aimed at the sender (policy, spam, reputation), which is never
//! held against the reader.

/// How a delivery failure counts against an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The address or its domain does not exist or accepts no mail:
    /// suppress it at once.
    Hard,
    /// Mailbox full, a temporary failure, a message too big: count it.
    Soft,
    /// A block about the sender, not the address (`5.7.x`): never held
    /// against the reader; it concerns the sender's health.
    Sender,
}

/// The enhanced status codes (RFC 3463) that mean the address is gone.
const HARD: &[&str] = &[
    "5.1.1",  // bad destination mailbox address
    "5.1.2",  // bad destination system address (no such domain)
    "5.1.6",  // destination mailbox has moved, no forwarding address
    "5.1.10", // recipient address has null MX
    "5.4.4",  // unable to route (null MX)
];

/// The class of an enhanced status code such as `5.1.1` (`None` if `status`
/// is not one).
pub(crate) fn classify_status(status: &str) -> Option<Kind> {
    let mut parts = status.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    let numeric = |s: &str| !s.is_empty() && s.len() <= 3 && s.chars().all(|c| c.is_ascii_digit());
    if parts.next().is_some() || !numeric(class) || !numeric(subject) || !numeric(detail) {
        return None;
    }
    Some(match (class, subject, detail) {
        // Security or policy (x.7.x), or the sender's own address or
        // domain (5.1.7, 5.1.8): about the sender.
        (_, "7", _) | ("5", "1", "7" | "8") => Kind::Sender,
        // Any other permanent addressing status names the recipient's
        // address as gone (Microsoft's 5.1.351 too), but x.1.0 (no more
        // said) and x.1.5 (the address is fine).
        ("5", "1", d) if d != "0" && d != "5" => Kind::Hard,
        ("5", _, _) if HARD.contains(&status) => Kind::Hard,
        _ => Kind::Soft,
    })
}

/// Whether a code says less than the words beside it: x.Y.0 (another
/// status of its kind, no more said), x.2.1 (the mailbox is disabled:
/// "user unknown" beside it means gone, "suspended" does not) and x.4.1
/// (no answer from the host, which Microsoft 365 also gives for a
/// recipient its directory does not know).
pub(crate) fn is_generic(status: &str) -> bool {
    let mut parts = status.split('.').skip(1);
    matches!(
        (parts.next(), parts.next()),
        (Some(_), Some("0")) | (Some("2" | "4"), Some("1"))
    )
}

/// The enhanced status code in an SMTP reply such as `550 5.1.1 <a@b>: no
/// such user`, if it has one.
pub(crate) fn enhanced_status(reply: &str) -> Option<&str> {
    let mut words = reply.split_whitespace();
    let code = words.next()?;
    let status = words.next()?.trim_end_matches([':', ',', ';']);
    let same_class = code.chars().next() == status.chars().next();
    (same_class && classify_status(status).is_some()).then_some(status)
}

/// How an SMTP reply to `RCPT` or to the end of the data counts against the
/// address; `None` when it says nothing about the address (a reply without
/// an enhanced status code is not guessed at).
pub(crate) fn classify_reply(reply: &str) -> Option<Kind> {
    enhanced_status(reply).and_then(classify_status)
}

/// What the bounces of mail servers that give no status code (or only a
/// generic one such as `5.0.0`) say, in their own words: qmail, Yahoo,
/// Gmail, Exchange, Exim, Sendmail, Postfix. Matched lower-cased, in this
/// order; the first phrase found decides. A block of the sender comes
/// first, so a text that blames both the sender and the address is never
/// held against the reader.
const PHRASES: &[(&str, Kind)] = &[
    // Not the address: a limit, a lookup that failed, a preference.
    ("too many connections", Kind::Soft),
    ("too many recipients", Kind::Soft),
    // au (KDDI) refuses mail its reader's domain filter rejects with an
    // empty address: "550 : User unknown".
    ("550 : user unknown", Kind::Soft),
    ("550: : user unknown", Kind::Soft),
    ("malformed or unexpected name server reply", Kind::Soft),
    ("recipient preferences", Kind::Soft),
    ("blocked", Kind::Sender),
    ("block list", Kind::Sender),
    ("blacklist", Kind::Sender),
    ("blocklist", Kind::Sender),
    ("spamhaus", Kind::Sender),
    ("spam", Kind::Sender),
    ("dmarc", Kind::Sender),
    ("policy", Kind::Sender),
    ("reputation", Kind::Sender),
    ("mailbox full", Kind::Soft),
    ("mailbox is full", Kind::Soft),
    ("over quota", Kind::Soft),
    ("quota exceeded", Kind::Soft),
    ("exceeded storage", Kind::Soft),
    ("insufficient storage", Kind::Soft),
    ("exceeds allowed size", Kind::Soft),
    ("retry timeout exceeded", Kind::Soft),
    ("too long in the queue", Kind::Soft),
    ("not enough disk space", Kind::Soft),
    ("message too large", Kind::Soft),
    ("message size exceeds", Kind::Soft),
    ("temporar", Kind::Soft),
    ("try again later", Kind::Soft),
    ("no mailbox here by that name", Kind::Hard), // qmail
    ("doesn't have a", Kind::Hard),               // Yahoo: "doesn't have a yahoo.com account"
    ("address couldn't be found", Kind::Hard),    // Gmail
    ("recipnotfound", Kind::Hard),                // Exchange: RESOLVER.ADR.RecipNotFound
    ("recipient not found", Kind::Hard),
    ("user unknown", Kind::Hard),
    ("unknown user", Kind::Hard),
    ("no such user", Kind::Hard),
    ("no such recipient", Kind::Hard),
    ("mailbox unavailable", Kind::Hard),
    ("mailbox not found", Kind::Hard),
    ("does not exist", Kind::Hard),
    ("unknown recipient", Kind::Hard),
    ("invalid recipient", Kind::Hard),
    // A disabled account may come back: not proof the address is gone.
    ("account has been disabled", Kind::Soft),
    ("account is disabled", Kind::Soft),
    ("user not found", Kind::Hard),
    ("user not exist", Kind::Hard),
    ("user doesn't exist", Kind::Hard),
    ("invalid mailbox", Kind::Hard),
    // Microsoft 365's directory-based edge blocking: no such recipient.
    ("recipient address rejected: access denied", Kind::Hard),
    ("host or domain name not found", Kind::Hard), // Postfix, Sendmail
    ("domain does not exist", Kind::Hard),
    ("no such domain", Kind::Hard),
    ("the domain is not reachable", Kind::Hard), // Outlook
    ("host unknown", Kind::Hard),
    ("unknown host", Kind::Hard),
    ("domain not found", Kind::Hard),
    ("unrouteable address", Kind::Hard), // Exim
];

/// A mail system's own words for a mailbox it does not have, which prove
/// the address is gone whatever command they answered (the words of a
/// filter never take these forms).
const NO_SUCH_MAILBOX: &[&str] = &[
    "no mailbox here by that name",             // qmail
    "not listed in domino directory",           // IBM Domino
    "not listed in public name & address book", // Lotus Notes
    "the recipient name is not recognized",     // Exchange 2000/2003
    "recipnotfound",                            // Exchange: RESOLVER.ADR.RecipNotFound
    "user unknown in local recipient table",    // Postfix, at RCPT
    "user unknown in virtual mailbox table",    // Postfix, at RCPT
    "user unknown in virtual alias table",      // Postfix, at RCPT
];

/// Whether `words` are a mail system's own for a mailbox it does not
/// have (see [`NO_SUCH_MAILBOX`]).
pub(crate) fn says_no_such_mailbox(words: &str) -> bool {
    let lower = words.to_lowercase();
    NO_SUCH_MAILBOX.iter().any(|p| lower.contains(p))
}

/// How the words of a bounce count against the address (`None` when they
/// match nothing in the table).
pub(crate) fn classify_text(text: &str) -> Option<Kind> {
    let lower = text.to_lowercase();
    PHRASES
        .iter()
        .find(|(phrase, _)| lower.contains(phrase))
        .map(|(_, kind)| *kind)
}

/// How a bounce that gives `status` (an enhanced status code, if any) and
/// `words` (the diagnostic) counts: a precise code decides, except that a
/// code saying the address is gone beside words that say otherwise is not
/// believed (soft, or a block of the sender); a generic one
/// ([`is_generic`]) or none leaves it to the words; a permanent failure
/// whose words match nothing is soft (not guessed to be hard).
pub(crate) fn classify(status: Option<&str>, words: &str) -> Option<Kind> {
    let from_status = status.and_then(classify_status);
    let generic = status.is_some_and(is_generic);
    match (from_status, classify_text(words)) {
        // A code that says the address is gone beside words that say
        // otherwise (a full mailbox, a block): the reader is not
        // suppressed on a contradiction.
        (Some(Kind::Hard), Some(kind @ (Kind::Soft | Kind::Sender))) if !generic => Some(kind),
        (Some(kind), _) if !generic => Some(kind),
        (_, Some(kind)) => Some(kind),
        (from_status, None) => from_status,
    }
}

/// Why a delivery failed, in a vocabulary close to sisimai's, beside the
/// [`Kind`] that decides what missive does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Reason {
    /// No such mailbox.
    UserUnknown,
    /// No such domain.
    HostUnknown,
    /// The mailbox moved, leaving no address.
    HasMoved,
    /// The domain takes no mail (a null MX).
    NotAccept,
    MailboxFull,
    MessageTooBig,
    /// The mailbox is disabled or suspended, for now.
    Suspended,
    /// Refused by a filter at the recipient's end (after the message was
    /// sent, or with words that do not say the mailbox is gone).
    Filtered,
    /// The sending IP or domain is on a blocklist.
    Blocked,
    SpamDetected,
    PolicyViolation,
    /// SPF, DKIM, DMARC or TLS.
    SecurityError,
    /// The sender's own address or domain was refused.
    Rejected,
    TooManyConnections,
    /// Given up after retrying for days.
    Expired,
    /// The program that delivers mail into the mailbox failed.
    MailerError,
    NetworkError,
    SystemError,
    /// A complaint (ARF, SES).
    Feedback,
    /// An auto-reply.
    Vacation,
    /// Still being tried.
    Delayed,
    /// Nothing says why.
    Undefined,
}

impl Reason {
    /// Whether the reason says the address itself is gone (the only
    /// reasons a hard bounce may have).
    pub(crate) fn is_gone(self) -> bool {
        matches!(
            self,
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved | Reason::NotAccept
        )
    }
}

/// Words of a bounce and the reason they give, matched lower-cased in
/// this order (the first found decides).
const REASON_WORDS: &[(&str, Reason)] = &[
    ("too many connections", Reason::TooManyConnections),
    ("550 : user unknown", Reason::Filtered),
    ("550: : user unknown", Reason::Filtered),
    ("too many recipients", Reason::TooManyConnections),
    (
        "malformed or unexpected name server reply",
        Reason::NetworkError,
    ),
    ("recipient preferences", Reason::Filtered),
    ("spamhaus", Reason::Blocked),
    ("blacklist", Reason::Blocked),
    ("blocklist", Reason::Blocked),
    // A block because of the content or a policy, before a block.
    ("spam content", Reason::SpamDetected),
    ("contains spam", Reason::SpamDetected),
    ("as spam", Reason::SpamDetected),
    ("unsolicited", Reason::SpamDetected),
    ("blocked by policy", Reason::PolicyViolation),
    ("blocked", Reason::Blocked),
    ("block list", Reason::Blocked),
    ("spam", Reason::SpamDetected),
    ("dmarc", Reason::SecurityError),
    ("dkim", Reason::SecurityError),
    ("spf", Reason::SecurityError),
    ("policy", Reason::PolicyViolation),
    ("mailbox full", Reason::MailboxFull),
    ("mailbox is full", Reason::MailboxFull),
    ("over quota", Reason::MailboxFull),
    ("quota exceeded", Reason::MailboxFull),
    ("exceeded storage", Reason::MailboxFull),
    ("insufficient storage", Reason::MailboxFull),
    ("exceeds allowed size", Reason::MailboxFull),
    ("not enough disk space", Reason::MailboxFull),
    ("message too large", Reason::MessageTooBig),
    ("message size exceeds", Reason::MessageTooBig),
    ("suspended", Reason::Suspended),
    ("account has been disabled", Reason::Suspended),
    ("account is disabled", Reason::Suspended),
    ("host or domain name not found", Reason::HostUnknown),
    ("domain does not exist", Reason::HostUnknown),
    ("host unknown", Reason::HostUnknown),
    ("unknown host", Reason::HostUnknown),
    ("domain not found", Reason::HostUnknown),
    ("no such domain", Reason::HostUnknown),
    ("the domain is not reachable", Reason::HostUnknown),
    ("unrouteable address", Reason::HostUnknown),
    ("retry timeout exceeded", Reason::Expired),
    ("too long in the queue", Reason::Expired),
    ("connection refused", Reason::NetworkError),
    ("connection timed out", Reason::NetworkError),
];

/// The reason a failure with `status` and `words` gives: a precise code
/// decides, refined by the words for the sender's side (x.7.x); a generic
/// code or none leaves it to the words; `kind` (from [`classify`]) settles
/// what neither says.
pub(crate) fn reason(status: Option<&str>, words: &str, kind: Option<Kind>) -> Reason {
    let lower = words.to_lowercase();
    let from_words = REASON_WORDS
        .iter()
        .find(|(phrase, _)| lower.contains(phrase))
        .map(|(_, reason)| *reason);
    let generic = status.is_none_or(is_generic);
    let from_status = status.filter(|_| !generic).and_then(|status| {
        let mut parts = status.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        Some(match (class, subject, detail) {
            (_, "1", "6") => Reason::HasMoved,
            // 5.1.10 is a null MX (RFC 7505) — or, from Exchange, a
            // recipient its directory does not know.
            (_, "1", "10") if !lower.contains("null mx") => Reason::UserUnknown,
            (_, "1", "10") => Reason::NotAccept,
            // Unable to route: no such domain, or a null MX.
            (_, "4", "4") if lower.contains("null mx") => Reason::NotAccept,
            (_, "1", "2") | (_, "4", "4") => Reason::HostUnknown,
            (_, "1", "7" | "8") => Reason::Rejected,
            ("5", "1", _) => Reason::UserUnknown,
            (_, "2", "2") => Reason::MailboxFull,
            (_, "2", "3") | (_, "3", "4") => Reason::MessageTooBig,
            (_, "2", _) => Reason::Suspended,
            (_, "4", "7") => Reason::Expired,
            (_, "4", _) => Reason::NetworkError,
            (_, "7", _) => match from_words {
                Some(r @ (Reason::Blocked | Reason::SpamDetected | Reason::SecurityError)) => r,
                _ => Reason::PolicyViolation,
            },
            _ => Reason::SystemError,
        })
    });
    // A code that says the address is gone beside words that say why
    // it is not (a full mailbox, a preference, a block): the words' reason.
    let contradicted = from_status.is_some_and(Reason::is_gone)
        && from_words.is_some_and(|r| !r.is_gone())
        && matches!(kind, Some(Kind::Soft | Kind::Sender));
    let from_status = from_status.filter(|_| !contradicted);
    from_status.or(from_words).unwrap_or(match kind {
        Some(Kind::Hard) => Reason::UserUnknown,
        Some(Kind::Sender) => Reason::PolicyViolation,
        Some(Kind::Soft) | None => Reason::Undefined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_sorted_by_the_table() {
        for (reply, kind) in [
            (
                "550 5.1.1 <a@x.org>: Recipient address rejected: no such user",
                Some(Kind::Hard),
            ),
            ("550 5.1.2 Host unknown", Some(Kind::Hard)),
            ("550 5.1.10 Recipient address has null MX", Some(Kind::Hard)),
            ("554 5.4.4 Unable to route", Some(Kind::Hard)),
            ("552 5.2.2 Mailbox full", Some(Kind::Soft)),
            ("452 4.2.2 Over quota", Some(Kind::Soft)),
            ("550 5.7.1 Message rejected as spam", Some(Kind::Sender)),
            (
                "554 5.7.26 Unauthenticated email (DMARC)",
                Some(Kind::Sender),
            ),
            ("550 Requested action not taken", None),
            ("550 4.1.1 mismatched class", None),
            (
                "550 5.1.351 Remote server returned unknown recipient",
                Some(Kind::Hard),
            ),
            (
                "553 5.1.8 Domain of sender address does not exist",
                Some(Kind::Sender),
            ),
            ("550", None),
        ] {
            assert_eq!(classify_reply(reply), kind, "{reply}");
        }
        assert_eq!(enhanced_status("550 5.1.1: x"), Some("5.1.1"));
        assert_eq!(classify_status("5.1.1.1"), None);
    }

    #[test]
    fn reasons_come_from_the_code_then_the_words() {
        let of = |status: Option<&str>, words: &str| reason(status, words, classify(status, words));
        assert_eq!(of(Some("5.1.1"), "no such user"), Reason::UserUnknown);
        assert_eq!(of(Some("5.1.2"), "Host unknown"), Reason::HostUnknown);
        assert_eq!(of(Some("5.1.10"), "null MX"), Reason::NotAccept);
        assert_eq!(of(Some("5.2.2"), "Mailbox full"), Reason::MailboxFull);
        assert_eq!(of(Some("5.7.1"), "listed at Spamhaus"), Reason::Blocked);
        assert_eq!(of(Some("5.7.26"), "DMARC policy"), Reason::SecurityError);
        assert_eq!(
            of(Some("5.7.1"), "relaying denied"),
            Reason::PolicyViolation
        );
        assert_eq!(
            of(Some("5.0.0"), "552 Mailbox is full"),
            Reason::MailboxFull
        );
        assert_eq!(
            of(None, "Sorry, no mailbox here by that name"),
            Reason::UserUnknown
        );
        assert_eq!(of(Some("4.4.7"), "retry timeout exceeded"), Reason::Expired);
        assert_eq!(of(None, "something else"), Reason::Undefined);
        // Whatever is hard has a reason that says the address is gone.
        for (status, words) in [
            (Some("5.1.1"), "no such user"),
            (Some("5.0.0"), "user unknown"),
            (None, "Host or domain name not found"),
            (Some("5.4.4"), "unable to route"),
        ] {
            assert_eq!(classify(status, words), Some(Kind::Hard));
            assert!(of(status, words).is_gone(), "{status:?} {words}");
        }
    }

    #[test]
    fn words_decide_when_the_code_is_generic_or_missing() {
        for (status, words, kind) in [
            (Some("5.1.1"), "mailbox full", Some(Kind::Soft)),
            (Some("5.1.1"), "blocked by policy", Some(Kind::Sender)),
            (
                Some("5.0.0"),
                "Sorry, no mailbox here by that name",
                Some(Kind::Hard),
            ),
            (
                None,
                "This user doesn't have a yahoo.com account",
                Some(Kind::Hard),
            ),
            (Some("5.0.0"), "552 Mailbox is full", Some(Kind::Soft)),
            (
                None,
                "554 rejected: listed on a blocklist; user unknown",
                Some(Kind::Sender),
            ),
            (Some("5.0.0"), "something else entirely", Some(Kind::Soft)),
            (
                Some("5.2.1"),
                "550 5.2.1 <a@x.org>... User Unknown",
                Some(Kind::Hard),
            ),
            (None, "550 : User unknown", Some(Kind::Soft)),
            (
                Some("5.2.1"),
                "550 5.2.1 This mailbox has been suspended",
                Some(Kind::Soft),
            ),
            (
                Some("5.5.0"),
                "550 5.5.0 Invalid recipient",
                Some(Kind::Hard),
            ),
            (
                Some("5.4.1"),
                "550 5.4.1 Recipient address rejected: Access denied",
                Some(Kind::Hard),
            ),
            (Some("5.4.1"), "No answer from host", Some(Kind::Soft)),
            (Some("5.0.0"), "No such domain.", Some(Kind::Hard)),
            (None, "something else entirely", None),
            (
                Some("4.4.1"),
                "connect to host: Connection refused",
                Some(Kind::Soft),
            ),
        ] {
            assert_eq!(classify(status, words), kind, "{status:?} {words}");
        }
    }
}
