//! Writes a project that sent one issue to N readers and got N messages back
//! (for `bench/bounces.sh`): `cargo run --release --example bounce_maildir --
//! DIR N`. In `DIR`: `missive.toml` with a bounce address, `subscribers.csv`,
//! the journal in `.missive/`, and the Maildir `Mail/` holding, for
//! each reader in turn, an RFC 3464 notification of a hard bounce (6 in 10),
//! of a full mailbox (2 in 10), an ARF complaint (1 in 10) or an Exim bounce
//! (1 in 10), each returned to that reader's signed bounce address.
//! The secret is `MISSIVE_UNSUBSCRIBE_SECRET`'s.

#![allow(clippy::print_stdout, reason = "the example says what it wrote")]

use std::fmt::Write as _;
use std::path::Path;

use missive::list::token::Secret;

const STEM: &str = "2026-11-27-tides";

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(args.first().expect("usage: bounce_maildir DIR N"));
    let n: usize = args
        .get(1)
        .map_or(10_000, |a| a.parse().expect("N must be a whole number"));
    let secret = Secret::new(
        std::env::var("MISSIVE_UNSUBSCRIBE_SECRET").expect("set MISSIVE_UNSUBSCRIBE_SECRET"),
    )
    .expect("a long enough secret");
    for sub in [".missive", "Mail/new", "Mail/cur", "Mail/tmp", "issues"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::write(
        dir.join("missive.toml"),
        "[newsletter]\nname = \"Bench\"\nfrom = \"Matt <matt@example.com>\"\n\n\
         [bounces]\naddress = \"bounces@news.example.com\"\nmailbox = \"maildir:Mail\"\n",
    )?;
    let mut list = String::from("email,name\n");
    let mut journal = String::from(
        "{\"event\":\"begin\",\"fingerprint\":\"bench\",\"at\":\"2026-11-27T09:00:00Z\"}\n",
    );
    for i in 0..n {
        let email = format!("reader{i:06}@example.org");
        let _ = writeln!(list, "{email},Reader {i}");
        let _ = writeln!(
            journal,
            "{{\"event\":\"sent\",\"email\":\"{email}\",\"at\":\"2026-11-27T09:00:01Z\",\"reply\":\"250 ok\"}}"
        );
        let tag = secret.verp_tag(STEM, &email);
        let message = returned(i, &email, &format!("bounces+{tag}@news.example.com"));
        std::fs::write(
            dir.join(format!("Mail/new/{}.M{i}P1.bench", 1_764_234_842 + i)),
            message,
        )?;
    }
    std::fs::write(dir.join("subscribers.csv"), list)?;
    std::fs::write(dir.join(format!(".missive/{STEM}.journal")), journal)?;
    println!("{n} returned messages in {}", dir.join("Mail").display());
    Ok(())
}

/// The `i`th returned message, about `email`, delivered to `to`.
fn returned(i: usize, email: &str, to: &str) -> String {
    let head = format!(
        "Return-Path: <>\nDelivered-To: {to}\nFrom: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n\
         To: {to}\nDate: Fri, 27 Nov 2026 09:14:02 +0000\nMessage-ID: <bench.{i}@mx.example.net>\n"
    );
    let original = format!(
        "Return-Path: <{to}>\nFrom: Matt <matt@example.com>\nTo: {email}\nSubject: Tides\n\
         Message-ID: <tides.{i}@news.example.com>\n"
    );
    let dsn = |status: &str, diagnostic: &str| {
        format!(
            "{head}Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n\
             MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b{i}\"\n\n\
             --b{i}\nContent-Type: text/plain\n\nI'm sorry to have to inform you that your message could not\n\
             be delivered to one or more recipients.\n\n<{email}>: {diagnostic}\n\n\
             --b{i}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
             Final-Recipient: rfc822; {email}\nOriginal-Recipient: rfc822;{email}\nAction: failed\n\
             Status: {status}\nDiagnostic-Code: smtp; {diagnostic}\n\n\
             --b{i}\nContent-Type: text/rfc822-headers\n\n{original}\n--b{i}--\n"
        )
    };
    match i % 10 {
        0..=5 => dsn(
            "5.1.1",
            &format!("550 5.1.1 <{email}>: Recipient address rejected: User unknown"),
        ),
        6 | 7 => dsn("5.2.2", "552 5.2.2 Mailbox full"),
        8 => format!(
            "Return-Path: <fbl@fbl.example.net>\nDelivered-To: fbl@news.example.com\n\
             From: fbl@fbl.example.net\nTo: fbl@news.example.com\nMessage-ID: <arf.{i}@fbl.example.net>\n\
             Subject: complaint\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=feedback-report; boundary=\"a{i}\"\n\n\
             --a{i}\nContent-Type: text/plain\n\nAn abuse report.\n\n\
             --a{i}\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n\
             Original-Mail-From: <{to}>\nOriginal-Rcpt-To: <{email}>\n\n\
             --a{i}\nContent-Type: message/rfc822\n\n{original}\nThe issue.\n\n--a{i}--\n"
        ),
        _ => format!(
            "{head}X-Failed-Recipients: {email}\nSubject: Mail delivery failed: returning message to sender\n\n\
             This message was created automatically by mail delivery software.\n\n\
             A message that you sent could not be delivered to one or more of its\n\
             recipients. This is a permanent error. The following address(es) failed:\n\n  {email}\n\
             \x20   SMTP error from remote mail server after RCPT TO:<{email}>:\n\
             \x20   550 5.1.1 No such user here\n"
        ),
    }
}
