//! The message itself: the next one of the issue, made and signed exactly
//! as `send` makes it, read as a receiver reads it — its DKIM signature
//! verified against the DNS (by mail-auth, not by missive's signer), the
//! one-click headers signed, each single header once, lines within SMTP's
//! limits, the HTML under Gmail's clip, its links https, an unsubscribe
//! link a reader can see, a well-formed `List-Id`.

use super::dns::Dns;
use super::findings::{About, Code, Finding, Level};
use super::records::{tag, tags};
use super::relay::Seen;
use crate::compose::{Composed, GMAIL_CLIP_BYTES};
use crate::send::message::Transfer;

/// Headers a message has at most once (RFC 5322 §3.6, RFC 2369, RFC 8058).
const SINGLE: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "message-id",
    "in-reply-to",
    "references",
    "subject",
    "date",
    "mime-version",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

/// The message checks, into `findings`; the message, when it could be made.
pub(super) async fn examine(
    dns: &Dns,
    composed: &Composed,
    relays: &[Seen],
    findings: &mut Vec<Finding>,
    checked: &mut Vec<String>,
) -> Option<bytes::Bytes> {
    let about = || About::Issue(composed.issue.path.display().to_string());
    // Built for the first relay's bodies, as its first dispatch would be.
    let transfer = match relays.first().and_then(|r| r.offers) {
        Some(offers) if offers.eight_bit_mime => Transfer::EightBit,
        _ => Transfer::SevenBit,
    };
    let (bytes, reader) = match crate::send::sample_message(composed, None, transfer) {
        Ok(made) => made,
        Err(e) => {
            findings.push(Finding::new(
                Level::Error,
                Code::MessageUnbuilt,
                about(),
                format!("the message cannot be made: {e:#}"),
            ));
            return None;
        }
    };
    checked.push(format!(
        "the message of {} as {reader} gets it ({} bytes)",
        composed.issue.path.display(),
        bytes.len()
    ));
    let signed = composed.project.config.dkim.is_some();
    for (level, code, message, fix) in inspect(&bytes, signed) {
        findings.push(Finding::new(level, code, about(), message).fix(fix));
    }
    if signed && let Some((message, fix)) = dkim(dns, &bytes).await {
        findings
            .push(Finding::new(Level::Error, Code::MessageDkimFails, about(), message).fix(fix));
    }
    // Too big for a relay.
    for relay in relays {
        if let Some(limit) = relay.offers.and_then(|o| o.size)
            && bytes.len() as u64 > limit
        {
            findings.push(
                Finding::new(
                    Level::Error,
                    Code::RelaySizeTooSmall,
                    About::Relay(relay.name.clone()),
                    format!(
                        "the message is {} bytes; {} takes at most {limit}",
                        bytes.len(),
                        relay.name
                    ),
                )
                .fix("shorten the issue or its images, or use a relay that takes it"),
            );
        }
    }
    Some(bytes)
}

/// One thing wrong with the message: its level, code, text and fix.
type Spot = (Level, Code, String, &'static str);

/// What a receiver finds wrong in the message `bytes`, its signature's
/// verdict aside: the line rules, single headers, `List-Id`, one-click
/// unsubscribe (and, when `signed`, that the signature covers it), the clip
/// size, http links, a visible unsubscribe link.
fn inspect(bytes: &[u8], signed: bool) -> Vec<Spot> {
    let mut spots = Vec::new();
    let mut out = |level, code, message: String, fix: &'static str| {
        spots.push((level, code, message, fix));
    };
    // Read as a receiver's parser reads it, once: its headers (as written,
    // folding and all) and its HTML.
    let parsed = mail_parser::MessageParser::default().parse(bytes);
    let headers: Vec<(&str, &str)> = parsed
        .as_ref()
        .map(|m| m.headers_raw().collect())
        .unwrap_or_default();
    // Lines: at most 998 octets, ended by CRLF and nothing else.
    let longest = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0);
    if longest > 998 {
        out(
            Level::Error,
            Code::MessageLineTooLong,
            format!("a line of the message is {longest} octets; SMTP allows 998"),
            "report this: missive should never make such a line",
        );
    }
    let bare = bytes.windows(2).enumerate().any(|(i, w)| {
        (w[1] == b'\n' && w[0] != b'\r')
            || (w[0] == b'\r' && w[1] != b'\n')
            || (i == 0 && w[0] == b'\n')
    });
    if bare {
        out(
            Level::Error,
            Code::MessageBareLineBreak,
            "the message has a line break that is not CRLF (a bare LF or CR); Gmail refuses \
             such mail"
                .into(),
            "report this: missive should never make one",
        );
    }
    for name in SINGLE {
        let n = headers
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case(name))
            .count();
        if n > 1 {
            out(
                Level::Error,
                Code::MessageHeaderRepeated,
                format!("the message has {n} {name} headers; it may have one"),
                "remove the repeated header (a template's or a setting's)",
            );
        }
    }
    if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case("from")) {
        out(
            Level::Error,
            Code::MessageNoFrom,
            "the message has no From header".into(),
            "set newsletter.from",
        );
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    // RFC 2919: a name, then <label.namespace>.
    match header("list-id") {
        None => out(
            Level::Warning,
            Code::MessageListIdInvalid,
            "the message has no List-Id; Gmail groups and rates list mail by it".into(),
            "newsletter.list_id = \"Your Newsletter <weekly.your-domain>\"",
        ),
        Some(id) if !list_id_is_valid(&id) => out(
            Level::Warning,
            Code::MessageListIdInvalid,
            format!(
                "the List-Id \"{id}\" is not of RFC 2919's form: a name, then <label.your-domain>"
            ),
            "newsletter.list_id = \"Your Newsletter <weekly.your-domain>\"",
        ),
        Some(_) => {}
    }
    // One-click (RFC 8058): both headers, and the signature covers them.
    let unsubscribe = header("list-unsubscribe");
    let one_click = header("list-unsubscribe-post")
        .is_some_and(|v| v.eq_ignore_ascii_case("List-Unsubscribe=One-Click"));
    let https_unsubscribe = unsubscribe.as_deref().and_then(|v| {
        v.split(',')
            .map(|u| {
                u.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
            .find(|u| u.starts_with("https://"))
    });
    if https_unsubscribe.is_none() || !one_click {
        out(
            Level::Error,
            Code::MessageNoOneClick,
            "the message has no one-click unsubscribe (an https List-Unsubscribe with \
             List-Unsubscribe-Post: List-Unsubscribe=One-Click); Gmail and Yahoo require it of \
             bulk mail"
                .into(),
            "[unsubscribe] url = \"https://your-site/unsubscribe?token={token}\", and run missive serve there",
        );
    }
    if signed {
        // The header names each signature's `h=` tag lists.
        let signed: Vec<String> = headers
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case("dkim-signature"))
            .flat_map(|(_, signature)| {
                let tags = tags(signature);
                tag(&tags, "h")
                    .unwrap_or("")
                    .split(':')
                    .map(|n| n.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        for name in ["list-unsubscribe", "list-unsubscribe-post"] {
            if header(name).is_some() && !signed.iter().any(|s| s == name) {
                out(
                    Level::Error,
                    Code::MessageUnsubscribeUnsigned,
                    format!("the DKIM signature does not cover {name} (RFC 8058 §4 asks it to)"),
                    "report this: missive signs both",
                );
            }
        }
    }
    // The HTML as a reader's client gets it.
    let html = parsed
        .as_ref()
        .and_then(|m| m.body_html(0))
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_default();
    if html.len() > GMAIL_CLIP_BYTES {
        out(
            Level::Warning,
            Code::MessageClipped,
            format!(
                "the HTML is {:.1} KB; Gmail clips it past {:.0} KB, hiding the end (and the \
                 unsubscribe link) behind \"View entire message\"",
                html.len() as f64 / 1000.0,
                GMAIL_CLIP_BYTES as f64 / 1000.0
            ),
            "shorten the issue, or set [email] fit = true",
        );
    }
    let document = scraper::Html::parse_document(&html);
    let links = scraper::Selector::parse("a[href], img[src]").expect("a valid selector");
    let mut insecure: Vec<String> = Vec::new();
    let mut visible = false;
    for element in document.select(&links) {
        let target = element
            .value()
            .attr("href")
            .or(element.value().attr("src"))
            .unwrap_or("")
            .trim();
        if target.len() >= 7 && target[..7].eq_ignore_ascii_case("http://") {
            insecure.push(target.to_string());
        }
        if element.value().name() == "a" {
            let text: String = element.text().collect();
            let names_it = text.to_lowercase().contains("unsubscribe");
            let is_own = https_unsubscribe.as_deref() == Some(target)
                || unsubscribe
                    .as_deref()
                    .is_some_and(|u| u.contains(&format!("<{target}>")));
            visible |= names_it || is_own;
        }
    }
    if !insecure.is_empty() {
        out(
            Level::Warning,
            Code::MessageInsecureLink,
            format!(
                "{} link{} use http, not https: {}",
                insecure.len(),
                if insecure.len() == 1 { "" } else { "s" },
                insecure
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "link to https addresses (and set web_url to an https one)",
        );
    }
    if !visible {
        out(
            Level::Error,
            Code::MessageNoVisibleUnsubscribe,
            "the email shows no unsubscribe link; the law in most countries, and Gmail, ask for \
             one in the body"
                .into(),
            "keep {{ unsubscribe_url }} in the footer of your templates",
        );
    }
    spots
}

/// Why the signature does not verify against the DNS, read by mail-auth
/// (a receiver's verifier, not missive's signer), and what to do; `None`
/// when it verifies.
async fn dkim(dns: &Dns, bytes: &[u8]) -> Option<(String, &'static str)> {
    let Some(message) = mail_auth::AuthenticatedMessage::parse(bytes) else {
        return Some((
            "the message cannot be read to verify its signature".into(),
            "report this",
        ));
    };
    let results = dns.authenticator().verify_dkim(&message).await;
    if results.is_empty() {
        return Some((
            "the message carries no DKIM signature".into(),
            "check [dkim]",
        ));
    }
    if results
        .iter()
        .any(|r| *r.result() == mail_auth::DkimResult::Pass)
    {
        return None;
    }
    let why: Vec<String> = results
        .iter()
        .map(|r| format!("{:?}", r.result()))
        .collect();
    Some((
        format!(
            "the DKIM signature does not verify against the published key: {}",
            why.join("; ")
        ),
        "publish the key missive doctor shows (dkim-key-*), then check again",
    ))
}

/// RFC 2919 §3: `[phrase] <list-label.list-id-namespace>`.
fn list_id_is_valid(value: &str) -> bool {
    let Some(open) = value.rfind('<') else {
        return false;
    };
    let Some(id) = value[open + 1..].strip_suffix('>') else {
        return false;
    };
    id.contains('.')
        && !id.starts_with('.')
        && !id.ends_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_ids_of_rfc_2919s_form() {
        assert!(list_id_is_valid(
            "The Slow Commute <weekly.slowcommute.example.com>"
        ));
        assert!(list_id_is_valid("<weekly.example.com>"));
        assert!(!list_id_is_valid("weekly.example.com"));
        assert!(!list_id_is_valid("Name <nodot>"));
        assert!(!list_id_is_valid("Name <has space.example>"));
    }

    /// A message a receiver finds nothing wrong with, its parts to change.
    fn message(head: &str, html: &str) -> Vec<u8> {
        format!(
            "{head}Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n\
             --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    const HEAD: &str = "From: News <news@example.com>\r\nTo: reader@example.org\r\n\
        Subject: An issue\r\nList-Id: News <weekly.example.com>\r\n\
        List-Unsubscribe: <https://example.com/u?token=t>\r\n\
        List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
        DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1;\r\n \
        h=from:to:subject:list-id:list-unsubscribe:list-unsubscribe-post; bh=x; b=y\r\n\
        MIME-Version: 1.0\r\n";

    const HTML: &str = "<p>An <a href=\"https://example.com/a\">item</a>.</p>\
        <p><a href=\"https://example.com/u?token=t\">Leave the list</a></p>";

    fn codes(bytes: &[u8]) -> Vec<&'static str> {
        inspect(bytes, true)
            .into_iter()
            .map(|(_, code, _, _)| code.as_str())
            .collect()
    }

    #[test]
    fn a_well_made_message_has_nothing_wrong() {
        assert_eq!(codes(&message(HEAD, HTML)), Vec::<&str>::new());
    }

    #[test]
    fn each_fault_of_a_message_is_named() {
        let bare = with_a_bare_lf(message(HEAD, HTML));
        assert_eq!(codes(&bare), ["message-bare-line-break"]);
        let long = message(HEAD, &format!("<p>{}</p>{HTML}", "x".repeat(1000)));
        assert_eq!(codes(&long), ["message-line-too-long"]);
        let twice = message(&format!("Subject: Again\r\n{HEAD}"), HTML);
        assert_eq!(codes(&twice), ["message-header-repeated"]);
        let no_from = message(&HEAD.replace("From: News <news@example.com>\r\n", ""), HTML);
        assert_eq!(codes(&no_from), ["message-no-from"]);
        let no_list_id = message(
            &HEAD.replace("List-Id: News <weekly.example.com>\r\n", ""),
            HTML,
        );
        assert_eq!(codes(&no_list_id), ["message-list-id-invalid"]);
        let no_post = message(
            &HEAD.replace("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", ""),
            HTML,
        );
        assert_eq!(codes(&no_post), ["message-no-one-click"]);
        let unsigned = message(&HEAD.replace(":list-unsubscribe-post;", ";"), HTML);
        assert_eq!(codes(&unsigned), ["message-unsubscribe-unsigned"]);
        let http = message(
            HEAD,
            &HTML.replace("https://example.com/a", "http://example.com/a"),
        );
        assert_eq!(codes(&http), ["message-insecure-link"]);
        let hidden = message(
            HEAD,
            "<p>An <a href=\"https://example.com/a\">item</a>.</p>",
        );
        assert_eq!(codes(&hidden), ["message-no-visible-unsubscribe"]);
        let clipped = message(
            HEAD,
            &format!("{HTML}{}", "<p>word word word word</p>\r\n".repeat(4_000)),
        );
        assert_eq!(codes(&clipped), ["message-clipped"]);
    }

    /// The message with the CR of its text part's line taken out.
    fn with_a_bare_lf(mut bytes: Vec<u8>) -> Vec<u8> {
        let cr = memchr::memmem::find(&bytes, b"Hello.\r\n").unwrap() + 6;
        bytes.remove(cr);
        bytes
    }
}
