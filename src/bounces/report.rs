//! What a message that came back says: read with `mail-parser`, in this
//! order: a delivery status notification (RFC 3464), a complaint report
//! (ARF, RFC 5965), an Amazon SES notification forwarded by mail, an
//! auto-reply, and the words of the bounces that follow no standard (Exim's
//! `X-Failed-Recipients`, qmail, Sendmail, Exchange, Gmail, Yahoo). The
//! classification itself is the table in `list::bounce`.

use std::sync::LazyLock;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders as _, PartType};
use regex::Regex;

use super::family::{self, Family};
use crate::list::address::addresses_in;
use crate::list::bounce::{self, Kind as Class, Reason};

/// What a returned message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// The address or its domain is gone.
    Hard,
    /// It may pass: full, too big, expired in a queue, or a block of the
    /// sender (see [`Report::sender_block`]).
    Soft,
    /// The reader reported the issue as spam.
    Complaint,
    /// A vacation or out-of-office reply.
    AutoReply,
    /// A notice that delivery is still being tried.
    Delayed,
    /// Not a bounce: a person writing, or nothing missive can read.
    Unknown,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Hard => "hard",
            Kind::Soft => "soft",
            Kind::Complaint => "complaint",
            Kind::AutoReply => "auto-reply",
            Kind::Delayed => "delayed",
            Kind::Unknown => "unknown",
        }
    }
}

/// The SMTP command a refusal answered, as a report's words give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Command {
    /// The greeting or `HELO`/`EHLO`: the connection itself.
    Conn,
    Mail,
    Rcpt,
    /// `DATA` or the end of the data: after the content was sent.
    Data,
}

impl Command {
    fn parse(word: &str) -> Option<Command> {
        let word = word.to_ascii_lowercase();
        Some(match word.split_whitespace().next()? {
            "data" => Command::Data,
            "rcpt" => Command::Rcpt,
            "mail" => Command::Mail,
            "helo" | "ehlo" | "connect" | "conn" => Command::Conn,
            _ => return None,
        })
    }
}

/// What one message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub kind: Kind,
    /// A soft bounce that is about the sender (policy, spam, reputation):
    /// never held against the reader.
    pub sender_block: bool,
    /// The failed recipient as the report names it (lower-cased), if it does.
    pub recipient: Option<String>,
    /// Every failed recipient the report names, the first being
    /// [`recipient`](Report::recipient) (a DSN or an SES notice may name
    /// several).
    pub recipients: Vec<String>,
    /// Why the kind is not what one part of the evidence says, when the
    /// evidence disagrees.
    pub note: Option<&'static str>,
    /// Why it failed (set by [`read`] from the status and the words).
    pub reason: Reason,
    /// The enhanced status code, such as `5.1.1`.
    pub status: Option<String>,
    /// The server's words, on one line.
    pub diagnostic: String,
    /// The SMTP command the refusal answered, when the report says.
    pub command: Option<Command>,
    /// The mail system that wrote the report, when its signs say.
    pub family: Option<&'static Family>,
    /// What it says of each failed recipient, when it says so of each
    /// (a multi-recipient DSN, or a text that gives each its reason); the
    /// report's own kind, status and reason are its first's.
    pub failures: Vec<Failure>,
    /// Bounce tags, which only missive's secret can make: first those of
    /// the address the message came back to (VERP), then those anywhere
    /// else in it (the original's `Return-Path` and `Message-ID`, quoted
    /// or attached; an SES notification's `mail.source` and headers), in
    /// the order found. Whether each is genuine is for the secret to say.
    pub tags: Vec<String>,
    pub message_id: Option<String>,
}

/// What a report says of one failed recipient: a multi-recipient report
/// may fail one for a full mailbox and another for an unknown user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Failure {
    pub recipient: String,
    pub kind: Kind,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sender_block: bool,
    pub reason: Reason,
    pub status: Option<String>,
    pub diagnostic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

impl Failure {
    /// A failure of `recipient` whose `words` (and `status`, if any) say
    /// why; the kind from the table, the reason settled by [`read`].
    fn new(recipient: String, status: Option<String>, words: &str) -> Failure {
        let status = more_precise(status, words);
        let (kind, sender_block) = failure(status.as_deref(), words);
        Failure {
            recipient,
            kind,
            sender_block,
            reason: Reason::Undefined,
            status,
            diagnostic: one_line(words),
            command: failed_command(words),
            note: None,
        }
    }
}

impl Report {
    /// What the report says of `address`, when it names it among several.
    pub(crate) fn failure_of(&self, address: &str) -> Option<&Failure> {
        self.failures
            .iter()
            .find(|f| f.recipient.eq_ignore_ascii_case(address))
    }

    fn new(kind: Kind) -> Report {
        Report {
            kind,
            sender_block: false,
            recipient: None,
            recipients: Vec::new(),
            note: None,
            reason: Reason::Undefined,
            status: None,
            diagnostic: String::new(),
            command: None,
            family: None,
            failures: Vec::new(),
            tags: Vec::new(),
            message_id: None,
        }
    }
}

/// The headers that name the address a message was delivered to.
const DELIVERED_TO: &[&str] = &["Delivered-To", "X-Original-To", "Envelope-To", "To"];

/// Reads one message. Anything that is not a bounce, a complaint or an
/// auto-reply is [`Kind::Unknown`]; this never fails.
pub(crate) fn read(raw: &[u8]) -> Report {
    let Some(message) = MessageParser::new().parse(raw) else {
        return Report::new(Kind::Unknown);
    };
    let mut report = dsn(&message)
        .or_else(|| arf(&message))
        .or_else(|| jmrp(&message))
        .or_else(|| ses(&message))
        .or_else(|| auto_reply(&message))
        .or_else(|| nonstandard(&message))
        .unwrap_or_else(|| Report::new(Kind::Unknown));
    let mut tags = Vec::new();
    for name in DELIVERED_TO {
        for value in header_texts(&message, name) {
            tags.extend(tags_in(&value));
        }
    }
    tags.extend(tags_in_bytes(raw));
    texts_of(&message, 0, &mut |text| tags.extend(tags_in(text)));
    let mut found = std::collections::HashSet::new();
    tags.retain(|t| found.insert(t.clone()));
    report.tags = tags;
    report.message_id = message.message_id().map(str::to_string);
    if report.recipients.is_empty() {
        report.recipients.extend(report.recipient.clone());
    }
    report.diagnostic = one_line(&report.diagnostic);
    let mut text = report_text_of(&message);
    for part in dsn_parts(&message) {
        text.push_str(&String::from_utf8_lossy(part.contents()));
    }
    report.family = family::of(&message, &text);
    // The mail system's own words for a mailbox it does not have, or
    // words no filter uses.
    let own_words = bounce::says_no_such_mailbox(&report.diagnostic)
        || report.family.is_some_and(|f| {
            f.says_no_such_mailbox(&text) || f.says_no_such_mailbox(&report.diagnostic)
        });
    let mut headline = Failure {
        recipient: report.recipient.clone().unwrap_or_default(),
        kind: report.kind,
        sender_block: report.sender_block,
        reason: report.reason,
        status: report.status.clone(),
        diagnostic: report.diagnostic.clone(),
        command: report.command,
        note: report.note,
    };
    let filtered = report
        .family
        .is_some_and(|f| f.says_filtered(&report.diagnostic));
    settle(&mut headline, own_words, filtered);
    report.kind = headline.kind;
    report.reason = headline.reason;
    report.note = headline.note;
    report.sender_block = headline.sender_block;
    let family = report.family;
    for failure in &mut report.failures {
        let own = bounce::says_no_such_mailbox(&failure.diagnostic)
            || family.is_some_and(|f| f.says_no_such_mailbox(&failure.diagnostic));
        let filtered = family.is_some_and(|f| f.says_filtered(&failure.diagnostic));
        settle(failure, own, filtered);
    }
    report
}

/// Gives a failure its reason: words of the mail system's own that the
/// table does not know make it hard; a hard verdict is kept to the
/// reasons that say the address is gone, and to a precise code or words
/// that bear it out.
fn settle(failure: &mut Failure, own_words: bool, filtered: bool) {
    let words_alone = failure.status.as_deref().is_none_or(bounce::is_generic);
    // Only where the table reads nothing else in the words (a full
    // mailbox, a filter) and no precise code says otherwise.
    let table = bounce::classify_text(&failure.diagnostic);
    let promoted = own_words
        && failure.kind == Kind::Soft
        && words_alone
        && matches!(table, None | Some(Class::Hard));
    if promoted {
        failure.kind = Kind::Hard;
    }
    settle_reason(failure, own_words);
    if promoted && failure.kind == Kind::Soft && failure.note == Some(NOT_GONE) {
        failure.kind = Kind::Hard;
        failure.reason = Reason::UserUnknown;
        failure.note = None;
    }
    if filtered && failure.kind == Kind::Hard {
        failure.kind = Kind::Soft;
        failure.reason = Reason::Filtered;
        failure.note = Some(FILTER_WORDS);
    }
}

/// What the note says when the mail system's words are, from it, a
/// filter's.
const FILTER_WORDS: &str = "from this mail system these words are a filter's (a rule of the \
     recipient's domain), not proof the mailbox is gone: counted as soft";

/// Gives the report its reason, and keeps a hard bounce to the reasons
/// that say the address is gone.
fn settle_reason(report: &mut Failure, own_words: bool) {
    report.reason = match report.kind {
        Kind::Complaint => Reason::Feedback,
        Kind::AutoReply => Reason::Vacation,
        Kind::Delayed => Reason::Delayed,
        Kind::Unknown => Reason::Undefined,
        Kind::Soft if report.note == Some(LOCAL_MAILER) => Reason::MailerError,
        Kind::Soft if report.note == Some(TEXT_SAYS_FULL) => Reason::MailboxFull,
        Kind::Soft if report.note == Some(TEXT_SAYS_DISABLED) => Reason::Suspended,
        Kind::Hard | Kind::Soft => {
            let status = report.status.as_deref();
            let class = bounce::classify(status, &report.diagnostic);
            bounce::reason(status, &report.diagnostic, class)
        }
    };
    // Words alone ("user unknown" without a precise code) prove the
    // mailbox is gone only in answer to RCPT, or in a mail system's own
    // words for a mailbox it does not have; in answer to the data, or to
    // a command the report does not name, they are a filter's.
    let words_alone = report.status.as_deref().is_none_or(bounce::is_generic);
    // A precise code decides even beside a command DATA: a pipelining
    // client (Sendmail, m-FILTER) reports a recipient's late refusal as
    // the data's.
    if report.kind == Kind::Hard && report.reason == Reason::UserUnknown && words_alone {
        let why = match report.command {
            Some(Command::Rcpt) => None,
            Some(Command::Data) => Some(AFTER_DATA),
            _ if own_words => None,
            _ => Some(NO_COMMAND),
        };
        if let Some(why) = why {
            report.kind = Kind::Soft;
            report.reason = Reason::Filtered;
            report.note = Some(why);
        }
    }
    if report.kind == Kind::Hard && !report.reason.is_gone() {
        report.kind = Kind::Soft;
        report.note = Some(NOT_GONE);
    }
    // A code that says the address is gone, overruled by the words.
    let code_says_gone = report
        .status
        .as_deref()
        .filter(|s| !bounce::is_generic(s))
        .and_then(bounce::classify_status)
        == Some(Class::Hard);
    if report.kind == Kind::Soft && code_says_gone && report.note.is_none() {
        report.note = Some(WORDS_WON);
    }
}

/// What the note says when the program that delivers into the mailbox
/// failed.
const LOCAL_MAILER: &str = "the local delivery program failed (Diagnostic-Code: X-Unix): \
     its words are not the mailbox's verdict; counted as soft";

/// What the note says when a report's code and its own text disagree.
const TEXT_SAYS_FULL: &str = "the status code says the address is gone, the report's own \
     words say the mailbox is full: not suppressed on a contradiction";

/// What the note says when a report's reply and its own text disagree.
const TEXT_SAYS_DISABLED: &str = "the reply says the address is gone, the report's own \
     words say the account is disabled: not suppressed on a contradiction";

/// What the note says when the reason does not bear out a hard verdict.
const NOT_GONE: &str = "the words say why, and it is not that the address is gone: counted as soft";

/// What the note says when words that read as "no such user" answered
/// no command the report names.
const NO_COMMAND: &str = "the words say no such user, but neither a precise status code nor \
     the command they answered bears it out (a filter says as much): counted as soft";

/// What the note says when a precise code and the words disagree.
const WORDS_WON: &str = "the status code says the address is gone, the words say otherwise: \
     not suppressed on a contradiction";

/// Every value of header `name`, as raw text (unfolded).
fn header_texts(message: &Message, name: &str) -> Vec<String> {
    message
        .headers_raw()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| one_line(v))
        .collect()
}

fn header_text(message: &Message, name: &str) -> Option<String> {
    header_texts(message, name).into_iter().next()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a bounce tag looks like where missive puts one: after the `+` of
/// a bounce address (`bounces+<tag>@`), or at the head of a `Message-ID`
/// (`<tag.0123456789abcdef@`); 29 base32 characters (the first version)
/// or 30.
const TAG_PATTERN: &str = r"(?i)\+([a-z2-7]{29,30})@|<([a-z2-7]{29,30})\.[0-9a-f]{16}@";

/// Bounce tags in `text`, lower-cased. Whether each is genuine is for the
/// secret to say.
fn tags_in(text: &str) -> Vec<String> {
    static TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(TAG_PATTERN).expect("a valid pattern"));
    TAG.captures_iter(text)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str().to_lowercase())
        .collect()
}

/// Bounce tags anywhere in a message's bytes (the headers of a quoted or
/// attached original included).
fn tags_in_bytes(raw: &[u8]) -> Vec<String> {
    static TAG: LazyLock<regex::bytes::Regex> =
        LazyLock::new(|| regex::bytes::Regex::new(TAG_PATTERN).expect("a valid pattern"));
    TAG.captures_iter(raw)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).to_lowercase())
        .collect()
}

/// Hands each decoded text of `message` (and of the messages it carries,
/// three deep) to `each`: where an encoded part hides a tag from
/// [`tags_in_bytes`].
fn texts_of(message: &Message, depth: usize, each: &mut dyn FnMut(&str)) {
    for part in &message.parts {
        match &part.body {
            PartType::Text(text) | PartType::Html(text) => each(text),
            PartType::Message(inner) if depth < 3 => texts_of(inner, depth + 1, each),
            _ => {}
        }
    }
}

/// The first e-mail address in `text`, lower-cased.
fn address_in(text: &str) -> Option<String> {
    addresses_in(text).next()
}

/// `status`, or the code in the server's `words` where `status` is
/// generic (a DSN's `5.0.0` beside a reply that says `550 5.1.1`) and
/// the words' code is precise and of the same class.
fn more_precise(status: Option<String>, words: &str) -> Option<String> {
    match (status, status_in(words)) {
        (Some(s), Some(w))
            if bounce::is_generic(&s) && !bounce::is_generic(&w) && s[..1] == w[..1] =>
        {
            Some(w)
        }
        (None, w) => w,
        (s, _) => s,
    }
}

/// The first enhanced status code (`5.1.1`, `4.2.2`) in `text`.
fn status_in(text: &str) -> Option<String> {
    static STATUS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[^0-9.])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?:[^0-9.]|\.\s|\.$|$)")
            .expect("a valid pattern")
    });
    STATUS.captures(text).map(|c| c[1].to_string())
}

/// The parts of `message` whose content type is `ctype/subtype`, any of
/// `subtypes`.
fn parts<'a>(
    message: &'a Message<'a>,
    ctype: &'a str,
    subtypes: &'a [&'a str],
) -> impl Iterator<Item = &'a MessagePart<'a>> + 'a {
    message.parts.iter().filter(move |part| {
        part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case(ctype)
                && ct
                    .subtype()
                    .is_some_and(|s| subtypes.iter().any(|t| s.eq_ignore_ascii_case(t)))
        })
    })
}

/// The field groups of a report part (`message/delivery-status`,
/// `message/feedback-report`): blocks of header-style fields separated by
/// blank lines, each as (name, value) pairs.
fn field_groups(part: &MessagePart) -> Vec<Vec<(String, String)>> {
    groups_in(&String::from_utf8_lossy(part.contents()))
}

/// The field groups of report text (see [`field_groups`]).
fn groups_in(text: &str) -> Vec<Vec<(String, String)>> {
    // A line of spaces parts groups as a blank one does.
    let text: String = text
        .replace("\r\n", "\n")
        .lines()
        .map(|l| if l.trim().is_empty() { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let block = format!("{}\n\n", block.trim_start_matches('\n'));
            let fields = MessageParser::new().parse_headers(block.as_bytes())?;
            Some(
                fields
                    .headers_raw()
                    .map(|(n, v)| (n.to_string(), one_line(v)))
                    .collect(),
            )
        })
        .collect()
}

fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The address of a DSN or ARF address field: `rfc822; a@b` or `<a@b>`.
fn typed_address(value: &str) -> Option<String> {
    let value = value.split_once(';').map_or(value, |(_, a)| a);
    address_in(value)
}

/// The original message a report carries (`message/rfc822`, or only its
/// headers as `text/rfc822-headers`), parsed.
fn original<'a>(message: &'a Message<'a>) -> Option<Message<'a>> {
    for part in &message.parts {
        match &part.body {
            PartType::Message(inner) => return Some(inner.clone()),
            PartType::Text(text)
                if part.content_type().is_some_and(|ct| {
                    ct.subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
                }) =>
            {
                let text = format!("{}\n\n", text.trim_end());
                return MessageParser::new()
                    .parse_headers(text.as_bytes())
                    .map(Message::into_owned);
            }
            _ => {}
        }
    }
    None
}

/// The kind and sender-block flag of a failure with `status` and `words`.
fn failure(status: Option<&str>, words: &str) -> (Kind, bool) {
    match bounce::classify(status, words) {
        Some(Class::Hard) => (Kind::Hard, false),
        Some(Class::Sender) => (Kind::Soft, true),
        Some(Class::Soft) | None => (Kind::Soft, false),
    }
}

/// The text of a message's body: its first text part, or, when a
/// malformed multipart has none, the raw body.
fn body_of(message: &Message) -> String {
    match message.body_text(0) {
        Some(text) if !text.trim().is_empty() => text.into_owned(),
        _ => {
            let raw = message.raw_message();
            let start = (message.root_part().raw_body_offset() as usize).min(raw.len());
            String::from_utf8_lossy(&raw[start..]).into_owned()
        }
    }
}

/// What a DSN's recipient group says happened: its `Action`, or, where a
/// mail system left that out or misspelt it, what its `Status` implies.
fn action(group: &[(String, String)]) -> Option<String> {
    // The first word, as the standard's ("failed (Bad destination mailbox
    // address)"), or its misspellings ("failure", "error").
    let written = field(group, "Action").and_then(|a| {
        let word = a.split_whitespace().next()?.to_lowercase();
        Some(match word.as_str() {
            "failure" | "error" | "failed" => "failed".to_string(),
            "delay" => "delayed".to_string(),
            _ => word,
        })
    });
    written.or_else(|| {
        let status = field(group, "Status").and_then(status_in)?;
        Some(
            match status.as_bytes()[0] {
                b'5' => "failed",
                b'4' => "delayed",
                _ => "delivered",
            }
            .to_string(),
        )
    })
}

/// The parts that carry a DSN's fields: RFC 3464's, and RFC 6533's for
/// internationalized addresses.
fn dsn_parts<'a>(message: &'a Message<'a>) -> impl Iterator<Item = &'a MessagePart<'a>> + 'a {
    parts(
        message,
        "message",
        &["delivery-status", "global-delivery-status"],
    )
}

/// A DSN recipient group's address: its original recipient when the
/// final one is where it was forwarded.
fn group_address(group: &[(String, String)]) -> Option<String> {
    field(group, "Original-Recipient")
        .or_else(|| field(group, "Final-Recipient"))
        .and_then(typed_address)
}

/// A DSN recipient group's `Diagnostic-Code`, without its type
/// (`smtp;`), if it says anything.
fn diagnostic_code(group: &[(String, String)]) -> Option<String> {
    field(group, "Diagnostic-Code")
        .map(|d| {
            d.split_once(';')
                .map_or(d, |(_, text)| text)
                .trim()
                .to_string()
        })
        .filter(|d| !d.is_empty())
}

/// What a report's `text` says of `recipient` when that is what explains
/// the failure (its words are in the table), else the line of `text` with
/// `status` or the table's words: the diagnostic of a report that gives
/// none of its own.
fn diagnostic_about(text: &str, recipient: Option<&str>, status: Option<&str>) -> String {
    recipient
        .map(|r| words_about(text, r))
        .filter(|w| w.len() < text.len() && bounce::classify_text(w).is_some())
        .map_or_else(
            || diagnostic_line(text, status),
            |w| one_line(&w).chars().take(300).collect(),
        )
}

/// RFC 3464 (and RFC 6533's `message/global-delivery-status`): the
/// recipients whose delivery failed, or, when all are only delayed, a
/// delay notice. The fields are read from the report's part, or from the
/// body when a mail system wrote them there without one.
fn dsn(message: &Message) -> Option<Report> {
    let groups = if let Some(part) = dsn_parts(message).next() {
        field_groups(part)
    } else {
        let body = body_of(message);
        let start = body.find("\nFinal-Recipient:")?;
        let from = body[..start].rfind("\n\n").unwrap_or(start);
        groups_in(&body[from..])
    };
    let recipients: Vec<(&Vec<(String, String)>, String)> = groups
        .iter()
        .filter(|g| {
            field(g, "Final-Recipient").is_some() || field(g, "Original-Recipient").is_some()
        })
        .filter_map(|g| action(g).map(|a| (g, a)))
        .collect();
    let failed: Vec<_> = recipients.iter().filter(|(_, a)| a == "failed").collect();
    let delayed: Vec<_> = recipients.iter().filter(|(_, a)| a == "delayed").collect();
    let (chosen, kind) = match (failed.is_empty(), delayed.is_empty()) {
        (false, _) => (failed, None),
        (true, false) => (delayed, Some(Kind::Delayed)),
        // Delivered, relayed, expanded: nothing went wrong — unless no
        // recipient is named at all, which the words may still explain.
        (true, true) if recipients.is_empty() => return None,
        (true, true) => return Some(Report::new(Kind::Unknown)),
    };
    let group = chosen[0].0;
    let text = report_text_of(message);
    // Without a diagnostic, the human-readable part says why.
    let diagnostic = diagnostic_code(group).unwrap_or_else(|| {
        diagnostic_about(
            &text,
            group_address(group).as_deref(),
            field(group, "Status"),
        )
    });
    let status = more_precise(field(group, "Status").and_then(status_in), &diagnostic);
    let (mut kind, sender_block) = match kind {
        Some(kind) => (kind, false),
        None => failure(status.as_deref(), &diagnostic),
    };
    // The local delivery program (procmail, a mail.local) failed: its
    // words are not the mailbox's verdict.
    let mut note = None;
    let local_mailer = field(group, "Diagnostic-Code")
        .and_then(|d| d.split_once(';'))
        .is_some_and(|(kind, _)| kind.trim().eq_ignore_ascii_case("x-unix"));
    if local_mailer && kind == Kind::Hard {
        kind = Kind::Soft;
        note = Some(LOCAL_MAILER);
    }
    // The report's own words say the one recipient's mailbox is full, or
    // disabled, where its code or reply says the address is gone.
    let text_says = (chosen.len() == 1)
        .then(|| bounce::reason(None, &text, bounce::classify_text(&text)))
        .and_then(|reason| match reason {
            Reason::MailboxFull => Some(TEXT_SAYS_FULL),
            Reason::Suspended => Some(TEXT_SAYS_DISABLED),
            _ => None,
        });
    if let Some(why) = text_says.filter(|_| kind == Kind::Hard) {
        kind = Kind::Soft;
        note = Some(why);
    }
    // The reader's own address is the original recipient when the final
    // one is where it was forwarded; both failed.
    let mut every: Vec<String> = Vec::new();
    for (g, _) in &chosen {
        for name in ["Original-Recipient", "Final-Recipient"] {
            if let Some(a) = field(g, name).and_then(typed_address)
                && !every.contains(&a)
            {
                every.push(a);
            }
        }
    }
    let recipient = every.first().cloned();
    let command = field(group, "X-Failed-Command")
        .and_then(Command::parse)
        .or_else(|| failed_command(&text));
    // Each failed recipient's own verdict, when there are several.
    let failures = if chosen.len() > 1 && kind != Kind::Delayed {
        chosen
            .iter()
            .filter_map(|(g, _)| {
                let address = group_address(g)?;
                let status = field(g, "Status").and_then(status_in);
                let words = diagnostic_code(g).unwrap_or_else(|| words_about(&text, &address));
                let mut failure = Failure::new(address, status, &words);
                failure.command = failure.command.or(command);
                Some(failure)
            })
            .collect()
    } else {
        Vec::new()
    };
    Some(Report {
        kind,
        sender_block,
        recipient,
        recipients: every,
        status,
        diagnostic,
        command,
        failures,
        note,
        ..Report::new(kind)
    })
}

/// The human-readable part of a report: its text parts before the
/// original message, joined.
fn report_text_of(message: &Message) -> String {
    let mut out = String::new();
    for part in &message.parts {
        if let PartType::Text(text) = &part.body {
            let is_report = part.content_type().is_none_or(|ct| {
                ct.ctype().eq_ignore_ascii_case("text")
                    && ct.subtype().is_none_or(|s| {
                        s.eq_ignore_ascii_case("plain") || s.eq_ignore_ascii_case("html")
                    })
            });
            if is_report {
                out.push_str(&text[..report_end(text)]);
                out.push('\n');
            }
        }
    }
    if out.trim().is_empty() {
        let body = body_of(message);
        out = body[..report_end(&body)].to_string();
    }
    out
}

/// What the note says when a refusal that reads as "no such user" came
/// after the message was sent.
const AFTER_DATA: &str = "refused after the message was sent (end of DATA): a filter at the \
     recipient's end, not proof the mailbox is gone; counted as soft";

/// The SMTP command the first refusal a report's words describe answered:
/// Postfix's "(in reply to end of DATA command)", Exim's "after RCPT
/// TO:", m-FILTER's "SMTP command: DATA", or the command a transcript's
/// first permanent refusal (`<<< 5xx`) answered (`>>> DATA`).
fn failed_command(text: &str) -> Option<Command> {
    static PHRASE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)in\s+reply\s+to\s+(?:end\s+of\s+)?(data|rcpt\s+to|mail\s+from|rcpt|mail)\b|after\s+(?:end\s+of\s+)?(data|rcpt\s+to|mail\s+from|rcpt|mail)\b|\[(rcpt_to|data)\]|smtp\s+command\s*[:\-]*\s*(data|rcpt|mail)\b|smtp:(data|rcpt|mail)\b|(?:following|for|was)\s+(data|rcpt\s+to|rcpt|mail\s+from)\s+(?:command|response)|(rcpt)\s+to\s+(?:command|response)|(?:has\s+)?rejected\s+(?:the\s+)?(?:recipient|address)\b()",
        )
        .expect("a valid pattern")
    });
    static SENT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*>>>\s*(data|rcpt to|mail from|rcpt|mail)\b").expect("a valid pattern")
    });
    static REFUSED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*<<<\s*5\d\d").expect("a valid pattern"));
    if let Some(c) = PHRASE.captures(text) {
        // The last group, empty, is a refusal that names the address.
        return (1..=7)
            .find_map(|i| c.get(i))
            .and_then(|m| Command::parse(&m.as_str().replace('_', " ")))
            .or_else(|| c.get(8).map(|_| Command::Rcpt));
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut sent = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = SENT.captures(line) {
            sent = c.get(1).map(|m| m.as_str());
        } else if REFUSED.is_match(line) {
            let command = sent.and_then(Command::parse);
            // A pipelining client sends RCPT and DATA together: a refusal
            // after DATA that a "503 need RCPT" follows was the
            // recipient's.
            let late_rcpt = command == Some(Command::Data)
                && lines[i + 1..].iter().take(3).any(|l| {
                    let l = l.to_lowercase();
                    l.contains("<<< 503") || l.contains("no valid recipients")
                });
            return if late_rcpt {
                Some(Command::Rcpt)
            } else {
                command
            };
        }
    }
    None
}

/// RFC 5965: a complaint (`Feedback-Type: abuse`, or `fraud`) about a
/// message, naming its recipient in `Original-Rcpt-To` or in the original
/// message's `To`.
fn arf(message: &Message) -> Option<Report> {
    let part = parts(message, "message", &["feedback-report"]).next()?;
    let fields: Vec<(String, String)> = field_groups(part).into_iter().flatten().collect();
    let feedback = field(&fields, "Feedback-Type").unwrap_or("").to_lowercase();
    // Only abuse and fraud are a reader's complaint; the others (a DMARC
    // failure report, `auth-failure`, `not-spam`, …) change nothing, but
    // say whom they are about.
    let kind = if matches!(feedback.as_str(), "abuse" | "fraud") {
        Kind::Complaint
    } else {
        Kind::Unknown
    };
    let mut every: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Original-Rcpt-To"))
        .filter_map(|(_, v)| address_in(v))
        .collect();
    if every.is_empty() {
        every = original(message)
            .and_then(|o| header_text(&o, "To"))
            .map(|to| addresses_in(&to).collect())
            .unwrap_or_default();
    }
    let recipient = every.first().cloned();
    Some(Report {
        kind,
        recipient,
        status: None,
        diagnostic: format!("Feedback-Type: {feedback}"),
        recipients: every,
        ..Report::new(kind)
    })
}

/// Microsoft's complaint loop (JMRP, Outlook.com and Hotmail) when it
/// sends no ARF: a mail from `staff@hotmail.com` (or titled "complaint
/// about message from …") carrying the original, whose recipient is in
/// its `X-HmXmrOriginalRecipient`.
fn jmrp(message: &Message) -> Option<Report> {
    let from = from_address(message);
    let subject = message.subject().unwrap_or("").trim().to_lowercase();
    if from != "staff@hotmail.com" && !subject.starts_with("complaint about message from") {
        return None;
    }
    let original = original(message)?;
    let recipient = header_text(&original, "X-HmXmrOriginalRecipient")
        .and_then(|r| address_in(&r))
        .or_else(|| header_text(&original, "To").and_then(|to| address_in(&to)));
    Some(Report {
        kind: Kind::Complaint,
        recipient,
        status: None,
        diagnostic: "Feedback-Type: abuse (Microsoft JMRP)".into(),
        ..Report::new(Kind::Complaint)
    })
}

/// An Amazon SES bounce or complaint notification, forwarded by mail as
/// its JSON (bare, or inside an SNS envelope's `Message`).
fn ses(message: &Message) -> Option<Report> {
    let body = message.body_text(0)?;
    let start = body.find('{')?;
    // The first JSON value of the body: SNS puts an unsubscribe footer
    // after it. A relay that folds lines longer than SMTP allows breaks
    // the JSON with `!`, a line break and a space: unfold those first.
    let first = |text: &str| {
        serde_json::Deserializer::from_str(text)
            .into_iter::<serde_json::Value>()
            .next()?
            .ok()
    };
    let mut json: serde_json::Value = first(&body[start..])
        .or_else(|| first(&body[start..].replace("!\r\n ", "").replace("!\n ", "")))?;
    if let Some(inner) = json.get("Message").and_then(|m| m.as_str()) {
        json = serde_json::from_str(inner).ok()?;
    }
    let text =
        |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_string);
    let kind = text(&json, "notificationType").or_else(|| text(&json, "eventType"))?;
    match kind.as_str() {
        "Bounce" => {
            let bounce = json.get("bounce")?;
            let recipient = bounce.get("bouncedRecipients")?.get(0)?;
            let status = text(recipient, "status").and_then(|s| status_in(&s));
            let diagnostic = text(recipient, "diagnosticCode").unwrap_or_default();
            let permanent = text(bounce, "bounceType").as_deref() == Some("Permanent");
            let (kind, sender_block) = match failure(status.as_deref(), &diagnostic) {
                // SES's own word decides between hard and soft; a block of
                // the sender stays one.
                (_, true) => (Kind::Soft, true),
                _ if permanent => (Kind::Hard, false),
                _ => (Kind::Soft, false),
            };
            let every = bounce
                .get("bouncedRecipients")
                .and_then(|r| r.as_array())
                .map(|all| {
                    all.iter()
                        .filter_map(|r| text(r, "emailAddress"))
                        .map(|a| a.to_lowercase())
                        .collect()
                })
                .unwrap_or_default();
            Some(Report {
                kind,
                sender_block,
                recipient: text(recipient, "emailAddress").map(|a| a.to_lowercase()),
                recipients: every,
                status,
                diagnostic,
                ..Report::new(kind)
            })
        }
        "Complaint" => {
            let complaint = json.get("complaint")?;
            let recipient = complaint.get("complainedRecipients")?.get(0)?;
            Some(Report {
                kind: Kind::Complaint,
                recipient: text(recipient, "emailAddress").map(|a| a.to_lowercase()),
                status: None,
                diagnostic: text(complaint, "complaintFeedbackType")
                    .map(|t| format!("Feedback-Type: {t}"))
                    .unwrap_or_default(),
                ..Report::new(Kind::Complaint)
            })
        }
        _ => None,
    }
}

/// A vacation or out-of-office reply (RFC 3834 `Auto-Submitted:
/// auto-replied`, the headers of common responders, or their subjects),
/// unless it is a mail system's (bounces are auto-replied too).
fn auto_reply(message: &Message) -> Option<Report> {
    if header_text(message, "X-Failed-Recipients").is_some() || from_daemon(message) {
        return None;
    }
    let header = |name: &str| header_text(message, name).map(|v| v.to_lowercase());
    let subject = message.subject().unwrap_or("").to_lowercase();
    let replied = header("Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied"))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("Precedence").is_some_and(|v| v == "auto_reply")
        || [
            "out of office",
            "automatic reply",
            "auto:",
            "autoreply",
            "auto-reply",
            "vacation",
        ]
        .iter()
        .any(|s| subject.contains(s));
    // The reader whose mailbox answered.
    let recipient = Some(from_address(message)).filter(|a| !a.is_empty());
    replied.then(|| Report {
        recipient,
        ..Report::new(Kind::AutoReply)
    })
}

/// Whether a message is from a mail system rather than a person: a null
/// return path (which auto-replies have too), or [`from_daemon`].
fn from_mail_system(message: &Message) -> bool {
    header_text(message, "Return-Path").is_some_and(|r| r.trim() == "<>") || from_daemon(message)
}

/// The address a message is `From`, lower-cased (empty if none).
fn from_address(message: &Message) -> String {
    message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_lowercase()
}

/// Whether a message is from a mailer-daemon or postmaster, or has the
/// subject of a bounce.
fn from_daemon(message: &Message) -> bool {
    let from = header_text(message, "From")
        .map(|f| address_in(&f).unwrap_or_else(|| f.trim().to_lowercase()))
        .unwrap_or_default();
    let subject = message.subject().unwrap_or("").to_lowercase();
    [
        "mailer-daemon",
        "postmaster",
        "post_master",
        "mail-daemon",
        "mailerdaemon",
    ]
    .iter()
    .any(|d| from.starts_with(d))
        || failure_subject(&subject)
        || DELAY_SUBJECTS.iter().any(|s| subject.contains(s))
}

/// The subjects mail systems give a notice of failure.
const FAILURE_SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "not delivered",
    "could not be delivered",
    "delivery status notification",
    "delivery notification",
    "delivery failure",
    "delivery has failed",
    "delivery failed",
    "mail delivery failed",
    "failure notice",
    "failure delivery",
    "returned mail",
    "returned to sender",
    "mail system error",
    "nondeliverable",
    "non-deliverable",
    "non delivery",
    "mail failure",
    "error sending message",
    "error sending your",
    "delivery problem",
    "メールエラー",
];

/// The subjects of a notice that delivery is still being tried.
const DELAY_SUBJECTS: &[&str] = &[
    "(delay)",
    "delayed",
    "delivery delay",
    "warning: could not send message",
    "warning: message",
    "still being retried",
];

/// Whether a mail system's subject says delivery failed.
fn failure_subject(subject: &str) -> bool {
    FAILURE_SUBJECTS.iter().any(|s| subject.contains(s))
}

/// Where the report of a non-standard bounce ends and the original
/// message, quoted, begins.
fn report_end(text: &str) -> usize {
    [
        "------ This is a copy of the message",
        "----- Original message -----",
        "--- Below this line is a copy of the message.",
        "----- Transcript of session follows -----\n\n\n",
        "Original message headers:",
        "Original message follows.",
        "------- Returned Message --------",
        "------ Original Message ------",
        "Original Message:",
        "--- The header of the original message is following. ---",
        "----- Unsent message follows -----",
        "------ The header of the original mail ------",
    ]
    .iter()
    .filter_map(|marker| text.find(marker))
    .min()
    .unwrap_or(text.len())
}

/// The bounces that follow no standard: a message from a mail system whose
/// text names a status code or a phrase of the table, or whose subject
/// says delivery failed or is delayed. The recipients are
/// `X-Failed-Recipients` (Exim), else those the report's text lists, else
/// the recipient of the original it returns.
fn nonstandard(message: &Message) -> Option<Report> {
    let failed = header_text(message, "X-Failed-Recipients");
    if failed.is_none() && !from_mail_system(message) {
        return None;
    }
    // mail-parser gives the text of an HTML-only message (Exchange's) too.
    let full = body_of(message);
    let text = &full[..report_end(&full)];
    let status = status_in(text);
    let subject = message.subject().unwrap_or("").to_lowercase();
    let permanent = status.as_deref().is_some_and(|s| s.starts_with('5'));
    let delayed = !permanent && DELAY_SUBJECTS.iter().any(|s| subject.contains(s));
    // Neither a status code nor words of the table: a failure only when
    // the mail system says so (Exim's X-Failed-Recipients, the subject of
    // a bounce); one missive cannot explain, soft.
    let explained = bounce::classify(status.as_deref(), text).is_some();
    if !explained && failed.is_none() && !delayed && !failure_subject(&subject) {
        return None;
    }
    let (kind, sender_block) = if delayed {
        (Kind::Delayed, false)
    } else {
        failure(status.as_deref(), text)
    };
    let every = failed_recipients(message, failed.as_deref(), text, &full);
    let recipient = every.first().cloned();
    let diagnostic = diagnostic_about(text, recipient.as_deref(), status.as_deref());
    let command = failed_command(text);
    // Each recipient's own words, when the text gives several their own.
    let failures: Vec<Failure> = if every.len() > 1 && kind != Kind::Delayed {
        every
            .iter()
            .map(|address| {
                let words = words_about(text, address);
                let own_status = status_in(&words).or_else(|| status.clone());
                let mut failure = Failure::new(address.clone(), own_status, &words);
                failure.command = failure.command.or(command);
                failure
            })
            .collect()
    } else {
        Vec::new()
    };
    let (kind, sender_block, status, diagnostic) = match failures.first() {
        Some(first) => (
            first.kind,
            first.sender_block,
            first.status.clone(),
            diagnostic_line(&first.diagnostic, first.status.as_deref()),
        ),
        None => (kind, sender_block, status, diagnostic),
    };
    Some(Report {
        kind,
        sender_block,
        recipient,
        recipients: every,
        status,
        diagnostic,
        command,
        failures,
        ..Report::new(kind)
    })
}

/// The failed recipients of a non-standard bounce, in order, once each:
/// `X-Failed-Recipients`; else the addresses the report's text lists
/// (at the start of a line, or under words such as "the following
/// recipients"); else the recipients of the original it returns
/// (attached, or its `To` quoted after the report). Never the sender of
/// the original, the mail system, or a message identifier.
fn failed_recipients(
    message: &Message,
    failed: Option<&str>,
    report: &str,
    full: &str,
) -> Vec<String> {
    if let Some(failed) = failed {
        let every: Vec<String> = failed.split(',').filter_map(address_in).collect();
        if !every.is_empty() {
            return every;
        }
    }
    let not = not_recipients(message, full);
    let keep = |found: Vec<String>| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        // Quotes around an address are the text's, not the address's.
        for a in found.into_iter().map(|a| a.trim_matches('\'').to_string()) {
            if !not.contains(&a) && !out.contains(&a) {
                out.push(a);
            }
        }
        out
    };
    let listed = keep(recipient_lines(report));
    if !listed.is_empty() {
        return listed;
    }
    let under = keep(listed_under_words(report));
    if !under.is_empty() {
        return under;
    }
    let to = original(message)
        .and_then(|o| header_text(&o, "To"))
        .or_else(|| quoted_to(&full[report.len()..]))
        .map(|to| keep(addresses_in(&to).collect()))
        .unwrap_or_default();
    if !to.is_empty() {
        return to;
    }
    keep(addresses_in(report).collect())
        .into_iter()
        .take(1)
        .collect()
}

/// The addresses a report's text puts at the start of a line, as mail
/// systems list the recipients that failed (`<a@b.example>: host … said`,
/// `a@b.example... User unknown`, Exchange's `a@b.example on <date>`).
fn recipient_lines(text: &str) -> Vec<String> {
    static LINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?m)^[ \t>]*(?:[45]\d\d[ -])?(?:RCPT To:\s*|Recipient:\s*|Failed recipient:\s*)?<?"?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"?@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>?\s*(?:\.\.\.|:|\(|\[|,|\s+on\s|\s+-|$)"#,
        )
        .expect("a valid pattern")
    });
    LINE.captures_iter(text)
        .map(|c| c[1].replace('"', "").to_lowercase())
        .collect()
}

/// The addresses in the few lines after the words with which mail systems
/// introduce the recipients that failed ("was not delivered to:", "the
/// following recipients", "could not be delivered to").
fn listed_under_words(text: &str) -> Vec<String> {
    const WORDS: &[&str] = &[
        "not delivered to",
        "following recipient",
        "following address",
        "following destination",
        "could not be delivered to",
        "unable to deliver message to",
        "delivery to the following",
        "failed recipient",
        "undeliverable to",
        "did not reach",
        "permanent fatal errors",
        "recipient address",
        "unknown user",
        "user unknown",
        "not listed",
    ];
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    for word in WORDS {
        for (at, _) in lower.match_indices(word) {
            let after: String = text[at..].lines().take(4).collect::<Vec<_>>().join("\n");
            out.extend(addresses_in(&after));
        }
    }
    out
}

/// The `To` of an original quoted in a bounce's text.
fn quoted_to(text: &str) -> Option<String> {
    static TO: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?mi)^[ \t>]*to:[ \t]*(.+)$").expect("a valid pattern"));
    TO.captures(text).map(|c| c[1].to_string())
}

/// Addresses in a bounce that are never a failed recipient: who sent the
/// message that came back and the mail system that returns it (the
/// bounce's `From` and `To`, the original's `From`, `Sender`,
/// `Return-Path`, attached or quoted), and message identifiers, which look
/// like addresses.
fn not_recipients(message: &Message, text: &str) -> Vec<String> {
    let mut out = senders_of(message);
    out.extend(
        message
            .to()
            .into_iter()
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address())
            .map(str::to_lowercase),
    );
    // Message identifiers, and the envelope sender a transcript quotes.
    static IDS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?mi)^[ \t>]*(?:message-id|references|in-reply-to|x-[a-z-]*id):[^\n]*(?:\n[ \t]+[^\n]*)*|mail from:\s*<[^>\n]*>")
            .expect("a valid pattern")
    });
    for m in IDS.find_iter(text) {
        out.extend(addresses_in(m.as_str()));
    }
    for name in ["Message-ID", "References", "In-Reply-To"] {
        for value in header_texts(message, name) {
            out.extend(addresses_in(&value));
        }
    }
    out
}

/// Who sent the message that came back, and the mail system that returns
/// it: the bounce's `From`, and the original's `From`, `Sender` and
/// `Return-Path` (attached, or quoted in the text) — addresses that are
/// never a failed recipient.
fn senders_of(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .from()
        .into_iter()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(str::to_lowercase)
        .collect();
    if let Some(original) = original(message) {
        for name in ["From", "Sender", "Return-Path"] {
            out.extend(
                header_texts(&original, name)
                    .iter()
                    .filter_map(|v| address_in(v)),
            );
        }
    }
    let text = message.body_text(0).unwrap_or_default();
    static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?mi)^[ \t>]*(?:from|return-path|sender|reply-to):[^\n]*")
            .expect("a valid pattern")
    });
    out.extend(
        QUOTED
            .find_iter(&text)
            .filter_map(|m| address_in(m.as_str())),
    );
    out
}

/// The words a report's text gives of `address`: from the first line
/// that names it up to the next line that names another address at its
/// start (at most eight lines), or, if it is not named, the whole text.
fn words_about(text: &str, address: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let lower = address.to_lowercase();
    let Some(start) = lines.iter().position(|l| l.to_lowercase().contains(&lower)) else {
        return text.to_string();
    };
    static REPLY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*[45]\d\d[ -]").expect("a valid pattern"));
    let mut out = vec![lines[start]];
    for line in lines.iter().skip(start + 1).take(7) {
        let names_this = line.to_lowercase().contains(&lower);
        // Another address, or a mail system's reply line about something
        // else, begins what is said of another recipient.
        let another = !names_this && (addresses_in(line).next().is_some() || REPLY.is_match(line));
        if another {
            break;
        }
        out.push(line);
    }
    out.join("\n")
}

/// The line of a bounce's text that carries its status code, or the first
/// line of the table's words, or its first line.
fn diagnostic_line(text: &str, status: Option<&str>) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    status
        .and_then(|s| lines.iter().find(|l| l.contains(s)))
        .or_else(|| lines.iter().find(|l| bounce::classify_text(l).is_some()))
        .or_else(|| lines.first())
        .map_or_else(String::new, |l| l.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_addresses_are_found_in_text() {
        assert_eq!(
            status_in("550 5.1.1 <a@b.org>: no").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(status_in("Sorry. (#5.1.1)").as_deref(), Some("5.1.1"));
        assert_eq!(status_in("Status: 4.4.1").as_deref(), Some("4.4.1"));
        assert_eq!(status_in("version 1.5.1.2 of 10.0.0.1"), None);
        assert_eq!(
            address_in("<Reader@Example.org>:").as_deref(),
            Some("reader@example.org")
        );
        assert_eq!(
            tags_in("To: bounces+abcdefghijklmnopqrstuvwxyz234@news.example.com"),
            vec!["abcdefghijklmnopqrstuvwxyz234"]
        );
        assert!(tags_in("bounces+short@news.example.com").is_empty());
    }

    #[test]
    fn no_input_makes_it_panic() {
        let mut nested = String::new();
        for _ in 0..5000 {
            nested.push_str("Content-Type: message/rfc822\r\n\r\n");
        }
        let html = format!(
            "From: postmaster@x.example\r\nContent-Type: text/html\r\n\r\n{}550 5.1.1 a@b.example",
            "<div><blockquote>".repeat(50_000)
        );
        let mut noise = vec![0u8; 4096];
        for (i, b) in noise.iter_mut().enumerate() {
            *b = (i * 7919 % 251) as u8;
        }
        for raw in [nested.as_bytes(), html.as_bytes(), &noise, b"", b"\r\n\r\n"] {
            let _ = read(raw);
        }
        assert_eq!(read(html.as_bytes()).kind, Kind::Hard);
    }

    #[test]
    fn every_failed_recipient_of_a_report_is_named() {
        let raw = "From: MAILER-DAEMON@mx.example.net\r\nTo: b@news.example.com\r\n\
            Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nTwo failed.\r\n\
            --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n\
            Final-Recipient: rfc822; fwd@elsewhere.example\r\nOriginal-Recipient: rfc822; ada@example.org\r\n\
            Action: failed\r\nStatus: 5.1.1\r\n\r\n\
            Final-Recipient: rfc822; bob@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n\
            Final-Recipient: rfc822; cy@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n";
        let report = read(raw.as_bytes());
        assert_eq!(report.kind, Kind::Hard);
        // The original recipient first, then where it was forwarded; the
        // delivered one is not a failure.
        assert_eq!(report.recipient.as_deref(), Some("ada@example.org"));
        assert_eq!(
            report.recipients,
            ["ada@example.org", "fwd@elsewhere.example", "cy@example.org"]
        );
    }

    #[test]
    fn words_that_answer_the_data_are_not_proof_the_mailbox_is_gone() {
        let raw = |status: &str| {
            format!(
                "From: MAILER-DAEMON@mx.example.net\r\nSubject: Returned mail\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
                 --b\r\nContent-Type: text/plain\r\n\r\n<a@example.org>: host mx said: 550 Unknown user \
                 a@example.org (in reply to end of DATA command)\r\n\
                 --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n\
                 Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: {status}\r\n\
                 Diagnostic-Code: smtp; 550 Unknown user a@example.org\r\n\r\n--b--\r\n"
            )
        };
        let generic = read(raw("5.0.0").as_bytes());
        assert_eq!(generic.kind, Kind::Soft, "{generic:?}");
        assert!(generic.note.is_some_and(|n| n.contains("end of DATA")));
        // A precise code still decides.
        assert_eq!(read(raw("5.1.1").as_bytes()).kind, Kind::Hard);
    }

    #[test]
    fn the_command_a_refusal_answered_is_read_from_the_words() {
        for data in [
            "550 5.1.1 <a@b.org>: Recipient address rejected (in reply to end of DATA command)",
            "SMTP error from remote mail server after end of data:\n550 user unknown",
            "... while talking to mx.b.org.:\n>>> MAIL From:<x@y>\n<<< 250 ok\n>>> DATA\n<<< 550 User unknown",
            "-------server message\n550 unknown user <a@b.org>\n-------SMTP command\nDATA\n",
        ] {
            assert_eq!(failed_command(data), Some(Command::Data), "{data}");
        }
        for rcpt in [
            "550 5.1.1 <a@b.org>: Recipient address rejected (in reply to RCPT TO command)",
            "SMTP error from remote mail server after RCPT TO:<a@b.org>:\n550 no such user",
            ">>> RCPT To:<a@b.org>\n<<< 550 User unknown\n>>> DATA\n<<< 503 no valid recipients",
            "550 5.1.1 user unknown",
        ] {
            assert_ne!(failed_command(rcpt), Some(Command::Data), "{rcpt}");
        }
    }

    #[test]
    fn a_failure_exim_names_is_read_even_when_its_words_are_not() {
        let raw = "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\r\n\
                   X-Failed-Recipients: ada@example.org, bob@example.org\r\n\
                   Subject: Mail delivery failed\r\n\r\n\
                   A message that you sent could not be delivered.\r\n  ada@example.org\r\n\
                   retry timeout exceeded\r\n";
        let report = read(raw.as_bytes());
        assert_eq!(report.kind, Kind::Soft, "{report:?}");
        assert_eq!(report.recipients, ["ada@example.org", "bob@example.org"]);
    }

    #[test]
    fn a_feedback_report_that_is_not_a_complaint_names_its_recipient_and_does_nothing() {
        let raw = "From: dmarc-noreply@example.com\r\nSubject: DMARC Forensic report\r\n\
            MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nA report.\r\n\
            --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\n\
            Original-Rcpt-To: ada@example.org\r\n\r\n--b--\r\n";
        let report = read(raw.as_bytes());
        assert_eq!(report.kind, Kind::Unknown);
        assert_eq!(report.recipient.as_deref(), Some("ada@example.org"));
    }

    #[test]
    fn a_complaint_by_microsofts_loop_names_its_recipient() {
        let raw = "From: staff@hotmail.com\r\nSubject: complaint about message from 192.0.2.1\r\n\
            MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: message/rfc822\r\n\r\nX-HmXmrOriginalRecipient: ada@example.org\r\n\
            From: Matt <matt@example.com>\r\nSubject: Tides\r\n\r\nThe issue.\r\n--b--\r\n";
        let report = read(raw.as_bytes());
        assert_eq!(report.kind, Kind::Complaint);
        assert_eq!(report.recipient.as_deref(), Some("ada@example.org"));
        assert_eq!(report.reason, Reason::Feedback);
    }

    #[test]
    fn an_sns_notice_with_a_footer_is_read() {
        let raw = "From: no-reply@sns.amazonaws.com\r\nSubject: AWS Notification Message\r\n\r\n\
            {\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":\
            [{\"emailAddress\":\"ada@example.org\"}],\"complaintFeedbackType\":\"abuse\"}}\r\n\r\n\
            --\r\nIf you wish to stop receiving notifications from this topic, click below.\r\n";
        let report = read(raw.as_bytes());
        assert_eq!(report.kind, Kind::Complaint, "{report:?}");
        assert_eq!(report.recipient.as_deref(), Some("ada@example.org"));
    }

    #[test]
    fn a_text_bounce_names_its_failed_recipients_not_the_sender() {
        let raw = "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\r\n\
            Subject: Returned mail: User unknown\r\n\r\n\
            The original message was received from shironeko@example.jp\r\n\
            ----- The following addresses had permanent fatal errors -----\r\n\
            kijitora@example.org... User unknown\r\n\
            <mikeneko@example.org>... Mailbox full\r\n\
            ----- Transcript of session follows -----\r\n\
            >>> RCPT To:<kijitora@example.org>\r\n<<< 550 User unknown\r\n\
            ----- Original message -----\r\nFrom: shironeko@example.jp\r\nTo: kijitora@example.org\r\n";
        let report = read(raw.as_bytes());
        assert_eq!(
            report.recipients,
            ["kijitora@example.org", "mikeneko@example.org"]
        );
        // Each its own verdict: the first refused at RCPT, the second full.
        assert_eq!(report.kind, Kind::Hard, "{report:?}");
        let second = report.failure_of("mikeneko@example.org").unwrap();
        assert_eq!(
            (second.kind, second.reason),
            (Kind::Soft, Reason::MailboxFull)
        );
        // Without the transcript, "User unknown" answers no command
        // anyone named: a filter may say as much.
        let words_only = raw.replace(
            ">>> RCPT To:<kijitora@example.org>\r\n<<< 550 User unknown\r\n",
            "",
        );
        let report = read(words_only.as_bytes());
        assert_eq!(
            (report.kind, report.reason),
            (Kind::Soft, Reason::Filtered),
            "{report:?}"
        );
        assert!(report.note.is_some_and(|n| n.contains("filter")));
    }

    #[test]
    fn a_dsn_written_loosely_is_read() {
        // A line of spaces between the groups, Actions that are not the
        // standard's words, a DSN with no part of its own.
        for action in [
            "failure",
            "error",
            "failed (Bad destination mailbox address)",
        ] {
            let raw = format!(
                "From: MAILER-DAEMON@mx.example.net\r\nSubject: Failed mail\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
                 --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns;mx\r\n \r\n\
                 Final-Recipient: rfc822;ada@example.org\r\nAction: {action}\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
            );
            let report = read(raw.as_bytes());
            assert_eq!(report.kind, Kind::Hard, "{action}: {report:?}");
            assert_eq!(report.recipients, ["ada@example.org"]);
        }
        let inline = "From: MAILER-DAEMON@mx.example.net\r\nSubject: Returned mail\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"gone\"\r\n\r\n\
            ----- Transcript of session follows -----\r\nmail.local: unknown user: ada\r\n\r\n\
            Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: RFC822; <ada@example.org>\r\n\
            Action: failed\r\nStatus: 5.5.0\r\n";
        let report = read(inline.as_bytes());
        assert_eq!(report.recipients, ["ada@example.org"], "{report:?}");
        assert_eq!(report.family.map(|f| f.name), Some("Sendmail"));
        assert_eq!(report.kind, Kind::Hard, "{report:?}");
    }

    #[test]
    fn a_person_writing_is_unknown() {
        let raw = b"From: Ada <ada@example.org>\r\nTo: bounces@news.example.com\r\n\
                    Subject: why did you write to me?\r\n\r\nHello, user unknown to me.\r\n";
        assert_eq!(read(raw).kind, Kind::Unknown);
    }
}
