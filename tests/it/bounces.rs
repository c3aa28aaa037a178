//! `missive bounces` on returned mail in every format it reads (fixtures
//! written from the published formats), from a Maildir and an mbox: what
//! suppresses, what is counted, what is left alone, and that a second run
//! records nothing twice.

use std::path::{Path, PathBuf};

use missive::list::token::Secret;
use serde_json::Value;

use crate::common::{
    NEWSLETTER, SECRET, SendProject, assert_exit, fixture, stdout, subscriber_list,
};

pub(crate) use crate::common::SEND_ENV as ENV;
pub(crate) const STEM: &str = "2026-11-27-tides-and-timetables";

/// A project that sent the example issue to `n` readers through the file
/// outbox, with a bounce address (so each message had its own signed
/// return path) and `extra` config.
pub(crate) fn sent_project(n: usize, extra: &str) -> SendProject {
    let (list, _) = subscriber_list(n);
    let p = SendProject::new(
        &format!(
            "{NEWSLETTER}\n[sending]\ntransport = \"file\"\noutbox = \"outbox\"\n\n\
             [bounces]\naddress = \"bounces@news.example.com\"\n{extra}"
        ),
        &list,
    );
    assert_exit(&p.run(&["send", p.issue(), "--yes"], ENV), 0);
    p
}

pub(crate) fn reader(i: usize) -> String {
    format!("reader{i:04}@example.org")
}

/// The bounce address the message of `issue` to `email` went out with.
pub(crate) fn return_path(issue: &str, email: &str) -> String {
    let tag = Secret::new(SECRET).unwrap().verp_tag(issue, email);
    format!("bounces+{tag}@news.example.com")
}

/// A fixture filled in for the reader `email` of `issue`.
pub(crate) fn returned(name: &str, issue: &str, email: &str) -> String {
    std::fs::read_to_string(fixture(&format!("bounces/{name}.eml")))
        .unwrap()
        .replace("%RECIPIENT%", email)
        .replace("%RETURN%", &return_path(issue, email))
}

/// `text` with its Message-ID made its own (each copy of a fixture is a
/// message of its own).
fn unique(text: &str, i: usize) -> String {
    let at = text
        .to_lowercase()
        .find("\nmessage-id: <")
        .expect("a Message-ID")
        + 14;
    format!("{}{i}.{}", &text[..at], &text[at..])
}

/// A Maildir at `dir` with the given messages in `new/`.
pub(crate) fn maildir(dir: &Path, messages: &[(String, String)]) -> PathBuf {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (i, (name, text)) in messages.iter().enumerate() {
        std::fs::write(
            dir.join(format!("new/{:05}.{name}.mx", i + 1)),
            unique(text, i),
        )
        .unwrap();
    }
    dir.to_path_buf()
}

/// `missive bounces … --json`, parsed.
fn bounces_json(p: &SendProject, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["bounces"];
    all.extend_from_slice(args);
    all.push("--json");
    let o = p.run(&all, ENV);
    assert_exit(&o, 0);
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events(p: &SendProject) -> String {
    std::fs::read_to_string(p.path().join(".missive/list-events.csv")).unwrap()
}

/// Each fixture, the kind it is, what is done about it, its status code,
/// and the reason it gives.
const FORMATS: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "sendmail-dsn",
        "hard",
        "suppressed",
        Some("5.1.1"),
        "user-unknown",
    ),
    (
        "dsn-mailbox-full",
        "soft",
        "counted",
        Some("5.2.2"),
        "mailbox-full",
    ),
    (
        "dsn-delayed",
        "delayed",
        "ignored",
        Some("4.4.1"),
        "delayed",
    ),
    (
        "dsn-sender-block",
        "soft",
        "counted",
        Some("5.7.1"),
        "blocked",
    ),
    ("arf-abuse", "complaint", "suppressed", None, "feedback"),
    ("exim", "hard", "suppressed", Some("5.1.1"), "user-unknown"),
    ("qmail", "hard", "suppressed", Some("5.1.1"), "user-unknown"),
    ("sendmail-text", "hard", "suppressed", None, "user-unknown"),
    (
        "exchange",
        "hard",
        "suppressed",
        Some("5.1.10"),
        "user-unknown",
    ),
    ("gmail", "hard", "suppressed", Some("5.1.1"), "user-unknown"),
    // Yahoo says it after the data, without a code: as sisimai reads it,
    // a filter's answer, counted (soft_limit suppresses a reader it keeps
    // refusing).
    ("yahoo", "soft", "counted", None, "filtered"),
    (
        "ses-bounce",
        "hard",
        "suppressed",
        Some("5.1.1"),
        "user-unknown",
    ),
    ("ses-complaint", "complaint", "suppressed", None, "feedback"),
    ("vacation", "auto-reply", "ignored", None, "vacation"),
    ("human-reply", "unknown", "ignored", None, "undefined"),
];

#[test]
fn every_format_is_classified_and_only_hard_bounces_and_complaints_suppress() {
    let p = sent_project(40, "");
    let mut messages: Vec<(String, String)> = FORMATS
        .iter()
        .enumerate()
        .map(|(i, (name, ..))| ((*name).to_string(), returned(name, STEM, &reader(i))))
        .collect();
    // A bounce whose tag was altered to name another reader: forged.
    let genuine = return_path(STEM, &reader(30));
    let forged_tag = {
        let mut t = genuine.into_bytes();
        t[12] = if t[12] == b'a' { b'b' } else { b'a' };
        String::from_utf8(t).unwrap()
    };
    messages.push((
        "forged".into(),
        std::fs::read_to_string(fixture("bounces/sendmail-dsn.eml"))
            .unwrap()
            .replace("%RECIPIENT%", &reader(31))
            .replace("%RETURN%", &forged_tag),
    ));
    let dir = maildir(&p.path().join("Mail"), &messages);

    // A dry run records nothing and moves nothing.
    let dry = bounces_json(&p, &["maildir:Mail", "--dry-run"]);
    assert_eq!(dry.len(), messages.len());
    assert!(
        dry.iter()
            .all(|o| ["none", "ignored", "untrusted"].contains(&o["action"].as_str().unwrap()))
    );
    assert!(!events(&p).contains("bounced"), "{}", events(&p));
    assert_eq!(
        std::fs::read_dir(dir.join("new")).unwrap().count(),
        messages.len()
    );

    let out = bounces_json(&p, &["maildir:Mail"]);
    assert_eq!(out.len(), messages.len(), "{out:#?}");
    for (i, (name, kind, action, status, reason)) in FORMATS.iter().enumerate() {
        let o = out
            .iter()
            .find(|o| o["source"].as_str().unwrap().contains(&format!(".{name}.")))
            .unwrap_or_else(|| panic!("{name} not reported"));
        assert_eq!(o["kind"], *kind, "{name}: {o}");
        assert_eq!(o["action"], *action, "{name}: {o}");
        assert_eq!(o["status"].as_str(), *status, "{name}: {o}");
        assert_eq!(o["reason"], *reason, "{name}: {o}");
        if !matches!(*kind, "unknown" | "auto-reply" | "delayed") {
            assert_eq!(o["recipient"], reader(i), "{name}: {o}");
        }
        if *action != "ignored" {
            assert_eq!(o["issue"].as_str(), Some(STEM), "{name}: {o}");
        }
        assert!(o["message_id"].is_string(), "{name}: {o}");
    }
    // A hard bounce's reason always says the address is gone; the other
    // kinds have theirs.
    for o in &out {
        let reason = o["reason"].as_str().unwrap();
        let expected: &[&str] = match o["kind"].as_str().unwrap() {
            "hard" => &["user-unknown", "host-unknown", "has-moved", "not-accept"],
            "complaint" => &["feedback"],
            "auto-reply" => &["vacation"],
            "delayed" => &["delayed"],
            "unknown" => &["undefined"],
            _ => &[
                "mailbox-full",
                "message-too-big",
                "suspended",
                "filtered",
                "blocked",
                "spam-detected",
                "policy-violation",
                "security-error",
                "rejected",
                "too-many-connections",
                "expired",
                "mailer-error",
                "network-error",
                "system-error",
                "undefined",
            ],
        };
        assert!(expected.contains(&reason), "{o}");
    }
    let full = out.iter().find(|o| o["status"] == "5.2.2").unwrap();
    assert_eq!(full["reason"], "mailbox-full", "{full}");
    let block = out.iter().find(|o| o["status"] == "5.7.1").unwrap();
    assert_eq!(block["sender_block"], true, "{block}");
    let forged = out
        .iter()
        .find(|o| o["source"].as_str().unwrap().contains(".forged."))
        .unwrap();
    assert_eq!(forged["action"], "untrusted", "{forged}");
    assert!(
        forged["note"].as_str().unwrap().contains("forged"),
        "{forged}"
    );

    // The log names each suppressed reader with its reason and issue.
    let log = events(&p);
    let line = |i: usize| {
        log.lines()
            .find(|l| l.starts_with(&format!("{},", reader(i))))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line(0).contains(",bounced,bounce,550 5.1.1 "),
        "{}",
        line(0)
    );
    // The issue, then the key of the message that said it.
    assert!(line(0).contains(&format!(",{STEM},id:")), "{}", line(0));
    assert!(
        line(4).contains(",complained,complaint,Feedback-Type: abuse,"),
        "{}",
        line(4)
    );
    assert!(
        line(1).contains(",soft-bounced,bounce,5.2.2 "),
        "{}",
        line(1)
    );
    assert!(line(3).contains(",sender-blocked,bounce,"), "{}", line(3));
    for i in [2, 13, 14, 31] {
        assert_eq!(line(i), "", "reader {i} must not be in the log");
    }

    // Processed messages are in cur/ and seen; the person's reply is still new.
    let left: Vec<String> = std::fs::read_dir(dir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("human-reply"), "{left:?}");
    let cur = std::fs::read_dir(dir.join("cur")).unwrap().count();
    assert_eq!(cur, messages.len() - 1);

    // Counts by source, and the next issue skips exactly the suppressed.
    let o = p.run(&["subscribers"], &[]);
    assert!(
        stdout(&o).contains("9 addresses suppressed (7 bounced, 2 complained)"),
        "{}",
        stdout(&o)
    );
    let next = p.path().join("issues/2026-12-04-next.toml");
    std::fs::copy(p.path().join(p.issue()), &next).unwrap();
    let o = p.run(&["send", "issues/2026-12-04-next.toml", "--dry-run"], ENV);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("to send now:        31\n"),
        "{}",
        stdout(&o)
    );

    // A second run records nothing again; the reply, judged once, is not
    // read again, and stays unread for a person.
    let before = events(&p);
    let again = bounces_json(&p, &["maildir:Mail"]);
    assert!(again.is_empty(), "{again:#?}");
    assert_eq!(events(&p), before);
    assert_eq!(std::fs::read_dir(dir.join("new")).unwrap().count(), 1);

    // The status of the issue: its bounce and complaint rates, warned about.
    let o = p.run(&["status", p.issue()], &[]);
    let text = stdout(&o);
    // 40 accepted; 7 hard, 2 soft, 2 complaints and 1 block of the sender
    // came back with this issue's tag (SES's in `mail.source`).
    assert!(text.contains("delivered:    30 "), "{text}");
    assert!(text.contains("hard bounces: 7 (17.5%)"), "{text}");
    assert!(text.contains("soft bounces: 2 (5.0%)"), "{text}");
    assert!(text.contains("complaints:   2 (5.0%)"), "{text}");
    assert!(text.contains("blocks of the sender: 1"), "{text}");
    assert!(text.contains("warning: bounces passed 2%"), "{text}");
    assert!(text.contains("warning: complaints passed 0.1%"), "{text}");
}

#[test]
fn an_mbox_is_read_only_and_remembered() {
    let p = sent_project(5, "");
    let mut mbox = String::new();
    for (i, name) in ["qmail", "gmail", "vacation"].iter().enumerate() {
        mbox.push_str("From MAILER-DAEMON Fri Nov 27 09:14:06 2026\n");
        mbox.push_str(&unique(&returned(name, STEM, &reader(i)), i));
        mbox.push('\n');
    }
    std::fs::write(p.path().join("bounces.mbox"), &mbox).unwrap();
    let out = bounces_json(&p, &["bounces.mbox"]);
    let kinds: Vec<&str> = out.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["hard", "hard", "auto-reply"]);
    assert_eq!(
        std::fs::read_to_string(p.path().join("bounces.mbox")).unwrap(),
        mbox
    );
    let before = events(&p);
    assert!(bounces_json(&p, &["mbox:bounces.mbox"]).is_empty());
    assert_eq!(events(&p), before);
    let o = p.run(&["bounces", "mbox:bounces.mbox"], ENV);
    assert!(
        stdout(&o).contains("0 new messages (3 already processed, skipped)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn soft_bounces_suppress_only_after_the_limit_of_issues_in_a_row() {
    let p = sent_project(6, "soft_limit = 3\n");
    // Two more issues, sent after the first.
    let stems = [STEM, "2026-12-04-second", "2026-12-11-third"];
    for stem in &stems[1..] {
        let file = format!("issues/{stem}.toml");
        std::fs::copy(p.path().join(p.issue()), p.path().join(&file)).unwrap();
        assert_exit(&p.run(&["send", &file, "--yes"], ENV), 0);
    }
    // Reader 1 bounces soft on all three; reader 2 on the first and the
    // third, delivered in between.
    let mut messages = Vec::new();
    for stem in stems {
        messages.push((
            "full".to_string(),
            returned("dsn-mailbox-full", stem, &reader(1)),
        ));
    }
    for stem in [stems[0], stems[2]] {
        messages.push((
            "full".to_string(),
            returned("dsn-mailbox-full", stem, &reader(2)),
        ));
    }
    maildir(&p.path().join("Mail"), &messages);
    let out = bounces_json(&p, &["Mail"]);
    let about = |i: usize| -> Vec<&str> {
        out.iter()
            .filter(|o| o["recipient"] == reader(i))
            .map(|o| o["action"].as_str().unwrap())
            .collect()
    };
    assert_eq!(about(1), ["counted", "counted", "suppressed"], "{out:#?}");
    assert_eq!(about(2), ["counted", "counted"], "{out:#?}");
    let log = events(&p);
    assert!(
        log.lines().any(|l| l.starts_with(&reader(1))
            && l.contains(",bounced,bounce,3 issues in a row soft-bounced")),
        "{log}"
    );
}

/// The `Message-ID` of the message `email` received, read from the outbox.
fn sent_message_id(p: &SendProject, email: &str) -> String {
    for entry in std::fs::read_dir(p.path().join("outbox")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if !text.contains(&format!("To: {email}")) && !text.contains(&format!("<{email}>")) {
            continue;
        }
        let line = text
            .lines()
            .find(|l| l.to_lowercase().starts_with("message-id:"))
            .expect("a Message-ID");
        return line["message-id:".len()..].trim().to_string();
    }
    panic!("no message to {email} in the outbox");
}

/// Five kinds of report anyone could send to the bare bounce address
/// (which every issue's `Return-Path` shows), each naming a real reader,
/// act on nobody; so does one whose tag or signed Message-ID was altered,
/// and one with a subscriber's own genuine tag that names another reader.
/// Reports that prove they answer a message missive sent still suppress:
/// by the signed `Message-ID` of the original alone (a forwarder rewrote
/// the envelope), in a DSN and in a complaint.
#[test]
fn forged_reports_act_on_nobody_and_signed_ones_still_suppress() {
    let p = sent_project(12, "");
    let bare = "bounces@news.example.com";
    let fixture_for = |name: &str, email: &str, ret: &str| {
        std::fs::read_to_string(fixture(&format!("bounces/{name}.eml")))
            .unwrap()
            .replace("%RECIPIENT%", email)
            .replace("%RETURN%", ret)
    };
    let plain = format!(
        "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@evil.example>\r\n\
         To: {bare}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <forged.plain@evil.example>\r\n\r\n\
         {}: user unknown\r\n550 5.1.1 mailbox does not exist\r\n",
        reader(0)
    );
    let ses_from_anyone = fixture_for("ses-bounce", &reader(3), "matt@example.com");
    // A signed Message-ID altered in one character.
    let damaged = {
        let id = sent_message_id(&p, &reader(6));
        let mut bytes = id.into_bytes();
        bytes[5] = if bytes[5] == b'a' { b'b' } else { b'a' };
        fixture_for(
            "sendmail-dsn",
            &reader(6),
            "srs0=x=y=news.example.com=bounces@fwd.example",
        )
        .replace(
            "<tides.1@news.example.com>",
            &String::from_utf8(bytes).unwrap(),
        )
    };
    // Reader 9's own genuine bounce address, in a report naming reader 5.
    let own_tag = fixture_for("sendmail-dsn", &reader(5), &return_path(STEM, &reader(9)));
    let forged = [
        ("plain", plain),
        ("dsn", fixture_for("sendmail-dsn", &reader(1), bare)),
        ("arf", fixture_for("arf-abuse", &reader(2), bare)),
        ("ses", ses_from_anyone),
        ("failed-recipients", fixture_for("exim", &reader(4), bare)),
        ("damaged-message-id", damaged),
    ];
    // Forwarded: the envelope rewritten (SRS), only the original's signed
    // Message-ID ties the report to the message.
    let srs = "srs0=hh=tt=news.example.com=bounces@forwarder.example";
    let forwarded_dsn = fixture_for("sendmail-dsn", &reader(7), srs).replace(
        "<tides.1@news.example.com>",
        &sent_message_id(&p, &reader(7)),
    );
    let forwarded_arf = fixture_for("arf-abuse", &reader(8), srs).replace(
        "<tides.2@news.example.com>",
        &sent_message_id(&p, &reader(8)),
    );
    let mut messages: Vec<(String, String)> = forged
        .iter()
        .map(|(name, text)| (format!("forged-{name}"), text.clone()))
        .collect();
    messages.push(("own-tag".into(), own_tag));
    messages.push(("signed-dsn".into(), forwarded_dsn));
    messages.push(("signed-arf".into(), forwarded_arf));
    maildir(&p.path().join("Mail"), &messages);

    let out = bounces_json(&p, &["maildir:Mail"]);
    let of = |name: &str| {
        out.iter()
            .find(|o| o["source"].as_str().unwrap().contains(&format!(".{name}.")))
            .unwrap_or_else(|| panic!("{name} not reported: {out:#?}"))
            .clone()
    };
    for (name, _) in &forged {
        let o = of(&format!("forged-{name}"));
        assert_eq!(o["action"], "untrusted", "{name}: {o}");
        assert!(
            o["note"].as_str().unwrap().contains("acts on nobody"),
            "{name}: {o}"
        );
    }
    // The subscriber's own tag speaks only of that subscriber.
    let own = of("own-tag");
    assert_eq!(own["recipient"], reader(9), "{own}");
    let signed = of("signed-dsn");
    assert_eq!(
        (&signed["action"], &signed["recipient"], &signed["issue"]),
        (
            &Value::from("suppressed"),
            &Value::from(reader(7)),
            &Value::from(STEM)
        ),
        "{signed}"
    );
    let signed = of("signed-arf");
    assert_eq!(
        (&signed["kind"], &signed["action"], &signed["recipient"]),
        (
            &Value::from("complaint"),
            &Value::from("suppressed"),
            &Value::from(reader(8))
        ),
        "{signed}"
    );

    let log = events(&p);
    for i in [0, 1, 2, 3, 4, 5, 6] {
        assert!(
            !log.lines()
                .any(|l| l.starts_with(&format!("{},", reader(i)))),
            "reader {i} must not be in the log:\n{log}"
        );
    }
    let o = p.run(&["subscribers"], &[]);
    assert!(
        stdout(&o).contains("3 addresses suppressed (2 bounced, 1 complained)"),
        "{}",
        stdout(&o)
    );
    // The terminal's table counts the untrusted apart.
    let again_dir = p.path().join("Again");
    maildir(
        &again_dir,
        &[(
            "forged-again".into(),
            messages[0].1.replace("forged.plain", "forged.again"),
        )],
    );
    let o = p.run(&["bounces", "maildir:Again"], ENV);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("untrusted"), "{}", stdout(&o));
}

/// `bounces` killed with SIGKILL at random moments of a Maildir of 2,000
/// genuine bounces, then run to the end: each is recorded exactly once
/// (what a killed run recorded of its batch carries the message's key),
/// and every one ends in `cur/`, flagged seen.
#[test]
fn killed_in_the_middle_of_a_mailbox_records_each_bounce_once() {
    let n = 2000;
    let p = sent_project(n, "");
    let messages: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                "dsn".to_string(),
                returned("sendmail-dsn", STEM, &reader(i)),
            )
        })
        .collect();
    let dir = maildir(&p.path().join("Mail"), &messages);
    let kills = p.kill_at_random(&["bounces", "maildir:Mail"], 8, 30, 600);
    assert!(kills >= 1, "no run was killed: the test proves nothing");
    let o = p.run(&["bounces", "maildir:Mail"], ENV);
    assert_exit(&o, 0);

    let log = events(&p);
    let mut counts = std::collections::HashMap::new();
    for line in log.lines().skip(1) {
        *counts.entry(line.split(',').next().unwrap()).or_insert(0) += 1;
    }
    let doubled: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(doubled.is_empty(), "recorded more than once: {doubled:?}");
    assert_eq!(counts.len(), n, "every bounce recorded");
    assert_eq!(std::fs::read_dir(dir.join("new")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.join("cur")).unwrap().count(), n);
}

#[test]
fn without_a_mailbox_the_command_says_how_to_name_one() {
    let p = sent_project(1, "");
    let o = p.run(&["bounces"], ENV);
    assert_exit(&o, 1);
    assert!(
        crate::common::stderr(&o).contains("name the mailbox bounces arrive in"),
        "{}",
        crate::common::stderr(&o)
    );
}

/// The readers of the real-server tests, and what Postfix makes of each.
const POSTFIX_LIST: &str = "email,name\n\
    ok@mailbox.test,Delivered\n\
    nobody@mailbox.test,No such user\n\
    anyone@nowhere.invalid,No such domain\n\
    full@mailbox.test,Over quota\n\
    late@slow.test,Expired in the queue\n";

/// A project that sends through `postfix` with a bounce address.
fn postfix_project(postfix: &crate::common::mta::Postfix, extra: &str) -> SendProject {
    SendProject::new(
        &format!(
            "{NEWSLETTER}\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\n\
             [bounces]\naddress = \"bounces@news.example.com\"\n{extra}",
            postfix.port
        ),
        POSTFIX_LIST,
    )
}

/// What `missive bounces` must make of Postfix's notifications: each
/// reader's kind, status and action.
fn assert_postfix_verdicts(out: &[Value]) {
    let verdict = |email: &str| {
        let o = out
            .iter()
            .find(|o| o["recipient"] == email)
            .unwrap_or_else(|| panic!("no report about {email}: {out:#?}"));
        assert_eq!(o["issue"], STEM, "{o}");
        (
            o["kind"].as_str().unwrap().to_string(),
            o["status"].as_str().unwrap_or("").to_string(),
            o["action"].as_str().unwrap().to_string(),
        )
    };
    let expect = |kind: &str, status: &str, action: &str| {
        (kind.to_string(), status.to_string(), action.to_string())
    };
    assert_eq!(
        verdict("nobody@mailbox.test"),
        expect("hard", "5.1.1", "suppressed")
    );
    assert_eq!(
        verdict("anyone@nowhere.invalid"),
        expect("hard", "5.4.4", "suppressed")
    );
    assert_eq!(
        verdict("full@mailbox.test"),
        expect("soft", "5.2.2", "counted")
    );
    assert_eq!(
        verdict("late@slow.test"),
        expect("soft", "4.4.1", "counted")
    );
    assert!(
        out.iter().all(|o| o["recipient"] != "ok@mailbox.test"),
        "{out:#?}"
    );
    assert_eq!(out.len(), 4, "{out:#?}");
}

/// The next issue goes to everyone but the two hard bounces.
fn assert_next_issue_skips_the_hard_bounces(p: &SendProject) {
    let next = p.path().join("issues/2026-12-04-next.toml");
    std::fs::copy(p.path().join(p.issue()), &next).unwrap();
    let o = p.run(&["send", "issues/2026-12-04-next.toml", "--dry-run"], ENV);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("to send now:        3\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn real_postfix_bounces_in_a_maildir_suppress_exactly_the_hard_ones() {
    use crate::common::mta::{BounceBox, Dovecot, Postfix, wait_for_mail};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dovecot")).unwrap();
    std::fs::create_dir(dir.path().join("postfix")).unwrap();
    let dovecot = Dovecot::start(&dir.path().join("dovecot"), &[("full", "x", Some("20K"))]);
    let postfix = Postfix::start(
        &dir.path().join("postfix"),
        dovecot.lmtp,
        &BounceBox::Maildir,
    );
    let p = postfix_project(&postfix, "");
    let o = p.run(&["send", p.issue(), "--yes"], ENV);
    assert_exit(&o, 0);
    // Four notifications come back to the signed bounce addresses.
    wait_for_mail(&postfix.bounces(), 4, || postfix.log());
    let mailbox = format!("maildir:{}", postfix.bounces().display());
    let out = bounces_json(&p, &[&mailbox]);
    assert_postfix_verdicts(&out);
    assert_next_issue_skips_the_hard_bounces(&p);
    // The notifications are seen and kept; a second run finds nothing new.
    assert_eq!(
        std::fs::read_dir(postfix.bounces().join("cur"))
            .unwrap()
            .count(),
        4
    );
    assert!(bounces_json(&p, &[&mailbox]).is_empty());
}

#[test]
fn real_postfix_bounces_read_over_imaps_from_dovecot_are_flagged_and_moved() {
    use crate::common::mta::{BounceBox, Dovecot, Postfix, wait_for_mail};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dovecot")).unwrap();
    std::fs::create_dir(dir.path().join("postfix")).unwrap();
    let dovecot = Dovecot::start(
        &dir.path().join("dovecot"),
        &[("full", "x", Some("20K")), ("bounces", "imap-s3cret", None)],
    );
    let postfix = Postfix::start(
        &dir.path().join("postfix"),
        dovecot.lmtp,
        &BounceBox::Lmtp(dovecot.lmtp),
    );
    let p = postfix_project(
        &postfix,
        &format!(
            "mailbox = \"imaps://bounces@localhost:{}/INBOX\"\nprocessed_folder = \"Processed\"\n\
             ca_file = \"{}\"\n",
            dovecot.imaps,
            dovecot.ca.display()
        ),
    );
    let o = p.run(&["send", p.issue(), "--yes"], ENV);
    assert_exit(&o, 0);
    let inbox = dovecot.maildir("bounces");
    wait_for_mail(&inbox, 4, || postfix.log());
    // A person's reply to the bounce address arrives too, and is left alone.
    let reply = returned("human-reply", STEM, "ok@mailbox.test");
    std::fs::write(inbox.join("new/1.reply.test"), reply).unwrap();

    let with_password: Vec<(&str, &str)> =
        [ENV, &[("MISSIVE_BOUNCES_PASSWORD", "imap-s3cret")]].concat();
    // Without the password: a clear error, nothing read.
    let o = p.run(&["bounces"], ENV);
    assert_exit(&o, 1);
    assert!(crate::common::stderr(&o).contains("MISSIVE_BOUNCES_PASSWORD"));
    // A wrong one: refused.
    let o = p.run(
        &["bounces"],
        &[ENV, &[("MISSIVE_BOUNCES_PASSWORD", "wrong")]].concat(),
    );
    assert_exit(&o, 1);
    assert!(
        crate::common::stderr(&o).contains("login refused"),
        "{}",
        crate::common::stderr(&o)
    );

    // A certificate the machine does not trust (the test CA left out): refused.
    let config = std::fs::read_to_string(p.path().join("missive.toml")).unwrap();
    let untrusting = config
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(p.path().join("untrusting.toml"), untrusting).unwrap();
    let o = p.run(&["bounces", "--config", "untrusting.toml"], &with_password);
    assert_exit(&o, 1);
    assert!(
        crate::common::stderr(&o).contains("TLS failed"),
        "{}",
        crate::common::stderr(&o)
    );

    let o = p.run(&["bounces", "--json"], &with_password);
    assert_exit(&o, 0);
    let out: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (bounces, others): (Vec<Value>, Vec<Value>) =
        out.into_iter().partition(|o| o["kind"] != "unknown");
    assert_postfix_verdicts(&bounces);
    assert_eq!(others.len(), 1, "{others:#?}");
    assert!(
        others[0]["source"].as_str().unwrap().starts_with("UID "),
        "{others:#?}"
    );
    assert_next_issue_skips_the_hard_bounces(&p);
    // The four were moved to the processed folder, flagged seen; the reply
    // stays in the inbox, unseen.
    let processed = inbox.join(".Processed/cur");
    let moved: Vec<String> = std::fs::read_dir(&processed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(moved.len(), 4, "{moved:?}");
    assert!(
        moved
            .iter()
            .all(|n| n.contains(":2,") && n.rsplit(":2,").next().unwrap().contains('S')),
        "{moved:?}"
    );
    // A second run records nothing and still leaves the reply alone.
    let before = events(&p);
    let o = p.run(&["bounces", "--json"], &with_password);
    assert_exit(&o, 0);
    let again: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(again.is_empty(), "not fetched again: {again:#?}");
    assert_eq!(events(&p), before);
    let unseen = ["new", "cur"]
        .iter()
        .flat_map(|d| std::fs::read_dir(inbox.join(d)).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.rsplit_once(":2,").is_some_and(|(_, f)| f.contains('S')))
        .count();
    assert_eq!(unseen, 1, "the reply is still unseen in the inbox");
}

/// Several processes share `.missive/` at once, as they do in production:
/// `bounces` (killed at random moments, then run to the end) records 600
/// bounces whose diagnostics are 40 KB long, `serve` takes 300 one-click
/// unsubscribes of other readers over 8 connections, and `missive
/// subscribers` opens the log again and again meanwhile. Every event is in
/// the log exactly once, and every line of it is whole.
#[test]
fn bounces_serve_and_subscribers_at_once_lose_and_double_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let p = Arc::new(sent_project(900, ""));
    let diagnostic = format!("User unknown {}", "x".repeat(40_000));
    let messages: Vec<(String, String)> = (0..600)
        .map(|i| {
            let text =
                returned("sendmail-dsn", STEM, &reader(i)).replace("User unknown", &diagnostic);
            ("dsn".to_string(), text)
        })
        .collect();
    maildir(&p.path().join("Mail"), &messages);
    let (mut serve, url) =
        crate::common::spawn_server(p.path(), &["serve", "--bind", "127.0.0.1:0"]);

    let stop = Arc::new(AtomicBool::new(false));
    let opener = {
        let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) {
                assert_exit(&p.run(&["subscribers"], &[]), 0);
                runs += 1;
            }
            runs
        })
    };
    let unsubscribers: Vec<_> = (0..8)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for i in (600 + t..900).step_by(8) {
                    let email = reader(i);
                    let token = Secret::new(SECRET).unwrap().token(&email);
                    let status = agent
                        .post(format!("{url}unsubscribe?email={email}&token={token}"))
                        .send("List-Unsubscribe=One-Click")
                        .unwrap()
                        .status();
                    assert_eq!(status.as_u16(), 200, "{email}");
                }
            })
        })
        .collect();
    let kills = p.kill_at_random(&["bounces", "maildir:Mail"], 4, 30, 400);
    assert_exit(&p.run(&["bounces", "maildir:Mail"], ENV), 0);
    for t in unsubscribers {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let subscribers_runs = opener.join().unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(
        subscribers_runs > 0 && kills > 0,
        "subscribers ran {subscribers_runs} times, bounces was killed {kills} times"
    );

    let log = events(&p);
    let mut reader_csv = csv::ReaderBuilder::new().from_reader(log.as_bytes());
    let mut seen = std::collections::HashMap::new();
    for record in reader_csv.records() {
        let record = record.expect("every line whole");
        assert_eq!(record.len(), 7, "{record:?}");
        *seen
            .entry((record[0].to_string(), record[2].to_string()))
            .or_insert(0) += 1;
    }
    for i in 0..900 {
        let event = if i < 600 { "bounced" } else { "unsubscribed" };
        assert_eq!(
            seen.get(&(reader(i), event.to_string())),
            Some(&1),
            "{} {event}",
            reader(i)
        );
    }
    assert_eq!(seen.len(), 900, "nothing else recorded");
}

/// One row of `bounces/families/expected.tsv`: a fixture, the mail system
/// it is from, its kind and reason, and each failed recipient (with its
/// own kind and reason where the report gives each one).
struct Expected {
    file: String,
    mta: String,
    kind: String,
    reason: String,
    recipients: Vec<(String, Option<(String, String)>)>,
}

fn expected_families() -> Vec<Expected> {
    std::fs::read_to_string(fixture("bounces/families/expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 5, "{line}");
            let recipients = cols[4]
                .split_whitespace()
                .map(|r| match r.split_once('=') {
                    Some((address, verdict)) => {
                        let (kind, reason) = verdict.split_once('/').unwrap();
                        (address.to_string(), Some((kind.into(), reason.into())))
                    }
                    None => (r.to_string(), None),
                })
                .collect();
            Expected {
                file: cols[0].into(),
                mta: cols[1].into(),
                kind: cols[2].into(),
                reason: cols[3].into(),
                recipients,
            }
        })
        .collect()
}

/// The reasons that say the mailbox or its domain is gone: the only ones a
/// hard bounce may have.
const GONE: &[&str] = &["user-unknown", "host-unknown", "has-moved", "not-accept"];

/// The bounces of every mail system missive knows, as each words and
/// shapes them (fixtures written for this project, see
/// `bounces/families/README.md`): the system named, the kind, the reason
/// and every failed recipient are what the table says, message by message.
#[test]
fn the_bounces_of_every_mail_system_are_read_as_the_table_says() {
    let expected = expected_families();
    let systems: std::collections::BTreeSet<&str> =
        expected.iter().map(|e| e.mta.as_str()).collect();
    assert!(expected.len() >= 150, "{} fixtures", expected.len());
    assert!(systems.len() >= 40, "{} mail systems", systems.len());

    let (list, _) = subscriber_list(1);
    let p = SendProject::new(
        &format!("{NEWSLETTER}\n[bounces]\naddress = \"bounces@news.example.com\"\n"),
        &list,
    );
    let new = p.path().join("Mail/new");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(p.path().join("Mail").join(sub)).unwrap();
    }
    for e in &expected {
        std::fs::copy(
            fixture(&format!("bounces/families/{}", e.file)),
            new.join(&e.file),
        )
        .unwrap();
    }
    let out = bounces_json(&p, &["maildir:Mail", "--dry-run"]);
    assert_eq!(out.len(), expected.len());
    let mut wrong = Vec::new();
    for e in &expected {
        let o = out
            .iter()
            .find(|o| o["source"] == e.file.as_str())
            .unwrap_or_else(|| panic!("{} not reported", e.file));
        let mut named: Vec<String> = std::iter::once(&o["recipient"])
            .chain(o["recipients"].as_array().into_iter().flatten())
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        named.sort();
        named.dedup();
        let mut want: Vec<String> = e.recipients.iter().map(|(a, _)| a.clone()).collect();
        want.sort();
        let got = (
            o["mta"].as_str().unwrap_or("-"),
            o["kind"].as_str().unwrap(),
            o["reason"].as_str().unwrap(),
        );
        if got != (e.mta.as_str(), e.kind.as_str(), e.reason.as_str()) || named != want {
            wrong.push(format!("{}: {got:?} {named:?}", e.file));
        }
        for (address, verdict) in &e.recipients {
            let Some((kind, reason)) = verdict else {
                continue;
            };
            let failure = o["failures"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["recipient"] == address.as_str());
            let got = failure.map(|f| (f["kind"].as_str().unwrap(), f["reason"].as_str().unwrap()));
            if got != Some((kind.as_str(), reason.as_str())) {
                wrong.push(format!("{} {address}: {got:?}", e.file));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "read otherwise than the table says:\n{}",
        wrong.join("\n")
    );

    // Nobody is suppressed for a reason that does not say the address is
    // gone: not in the table, and not in what missive read.
    for e in &expected {
        let verdicts = std::iter::once((&e.kind, &e.reason)).chain(
            e.recipients
                .iter()
                .filter_map(|(_, v)| v.as_ref().map(|(k, r)| (k, r))),
        );
        for (kind, reason) in verdicts {
            assert!(
                kind != "hard" || GONE.contains(&reason.as_str()),
                "{}",
                e.file
            );
        }
    }
    for o in &out {
        let verdicts = std::iter::once(o).chain(o["failures"].as_array().into_iter().flatten());
        for v in verdicts {
            if v["kind"] == "hard" {
                assert!(GONE.contains(&v["reason"].as_str().unwrap()), "{o}");
            }
        }
    }
}
