//! The SMTP transaction on the wire: with PIPELINING (RFC 2920) the next
//! message's envelope follows the end of the one before, one round trip a
//! message instead of four; with CHUNKING (RFC 3030) messages go out while
//! the replies to those before are on their way (at most one round trip a
//! message on loopback, far fewer when the relay is far: `bench/send.sh`),
//! counted by a proxy between missive and servers it did not write
//! (Postfix's smtp-sink, a real Postfix smtpd, aiosmtpd); and what goes
//! wrong inside a pipelined group (a refused RCPT, a 421 that closes the
//! connection, a dropped connection, a reply out of turn) loses nobody and
//! sends nobody twice. (A pipelined send killed and resumed is in
//! `send::killed_at_random_moments_and_resumed_…`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::mta::{BounceBox, Postfix, free_port};
use crate::common::proxy::Proxy;
use crate::common::{
    ConfigText, SEND_ENV, SendProject, SmtpServer, assert_exit, stderr, stdout, subscriber_list,
};

/// A send of the example issue to the readers of `list` through `port`,
/// one connection.
fn send_through(port: u16, list: &str) -> (SendProject, std::process::Output) {
    send_with(ConfigText::plain(port), list)
}

fn send_with(config: ConfigText, list: &str) -> (SendProject, std::process::Output) {
    let config = config.set("sending.concurrency", "1").to_string();
    let p = SendProject::new(&config, list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    (p, o)
}

/// Postfix's smtp-sink on a free port, dumping each message into `dump`.
fn smtp_sink(dump: &Path) -> (Child, u16) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dump).unwrap();
    for dir in [dump, dump.parent().unwrap()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let port = free_port();
    let child = Command::new("smtp-sink")
        .args(["-u", "nobody", "-d"])
        .arg(format!("{}/%M.", dump.display()))
        .arg(format!("127.0.0.1:{port}"))
        .arg("100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-sink is installed (tests/run installs Postfix)");
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "smtp-sink did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

/// Each recipient smtp-sink took a message for, with how many times.
fn sink_recipients(dump: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for file in walk(dump) {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines().take_while(|l| !l.is_empty()) {
            if let Some(rcpt) = line.strip_prefix("X-Rcpt-Args: <") {
                *seen
                    .entry(rcpt.trim_end_matches('>').to_string())
                    .or_default() += 1;
            }
        }
    }
    seen
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn pipelining_takes_one_round_trip_a_message_where_lock_step_takes_four() {
    let n = 30;
    let (list, expected) = subscriber_list(n);
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, port) = smtp_sink(&dir.path().join("dump"));
    let proxy = Proxy::start(port, Duration::ZERO);
    let (_p, o) = send_through(proxy.port, &list);
    assert_exit(&o, 0);
    let pipelined = proxy.turns();
    let _ = sink.kill();
    let _ = sink.wait();
    let seen = sink_recipients(&dir.path().join("dump"));
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "each reader once: {seen:?}");
    for (email, _) in &expected {
        assert!(seen.contains_key(email), "{email} missing");
    }
    // smtp-sink offers 8BITMIME: the parts went 8-bit, announced on MAIL.
    for file in walk(&dir.path().join("dump")) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(text.contains("BODY=8BITMIME"), "{}", file.display());
        assert!(
            text.contains("Content-Transfer-Encoding: 8bit"),
            "{}",
            file.display()
        );
    }

    // The same send, command by command (aiosmtpd offers no PIPELINING).
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let proxy = Proxy::start(server.port, Duration::ZERO);
    let (_p, o) = send_through(proxy.port, &list);
    assert_exit(&o, 0);
    let lock_step = proxy.turns();
    let readers = expected.len() as u64;
    // The connection's own turns: the greeting, EHLO, the
    // first group, QUIT.
    assert!(
        pipelined * 10 <= 11 * readers + 40,
        "{pipelined} round trips for {readers} messages, pipelined"
    );
    assert!(
        lock_step >= 4 * readers,
        "{lock_step} round trips for {readers} messages, command by command"
    );
}

#[test]
fn chunking_takes_one_round_trip_a_message_through_a_real_postfix() {
    let dir = tempfile::tempdir().unwrap();
    let postfix = Postfix::start(dir.path(), free_port(), &BounceBox::Maildir);
    let proxy = Proxy::start(postfix.port, Duration::ZERO);
    let readers: u64 = 25;
    let list: String = std::iter::once("email,name\n".to_string())
        .chain((0..readers).map(|i| format!("ok+{i}@mailbox.test,Reader {i}\n")))
        .collect();
    // Signed: the signature covers the message exactly as it went in BDAT.
    let (key, public) = crate::common::dkim_key(dir.path());
    let config = ConfigText::plain(proxy.port)
        .set("dkim.domain", "\"example.com\"")
        .set("dkim.selector", "\"missive\"")
        .set(
            "dkim.private_key",
            &format!("{:?}", key.display().to_string()),
        );
    let (_p, o) = send_with(config, &list);
    assert_exit(&o, 0);
    let turns = proxy.turns();
    assert!(
        turns <= readers + 4,
        "{turns} round trips for {readers} messages with CHUNKING"
    );
    let log = postfix.log();
    // Postfix counts each session's commands: one connection, every
    // message in one BDAT, no DATA.
    let session = format!("ehlo=1 mail={readers} rcpt={readers} bdat={readers} quit=1");
    assert!(log.contains(&session), "{log}");
    assert!(!log.contains(" data="), "{log}");
    crate::common::mta::wait_for_mail(&dir.path().join("mail/ok"), readers as usize, || {
        postfix.log()
    });
    for delivered in walk(&dir.path().join("mail/ok/new")).iter().take(3) {
        // Postfix offers 8BITMIME: the parts went 8-bit, the signature over them.
        let text = std::fs::read_to_string(delivered).unwrap();
        assert!(
            text.contains("Content-Transfer-Encoding: 8bit"),
            "{}",
            delivered.display()
        );
        assert!(
            crate::common::dkim_verifies(delivered, &public),
            "{}",
            delivered.display()
        );
    }
}

#[test]
fn what_goes_wrong_inside_a_pipelined_group_loses_nobody_and_doubles_nobody() {
    let (list, expected) = subscriber_list(60);
    let refused = [expected[3].0.clone(), expected[40].0.clone()];
    let closed = [expected[10].0.clone(), expected[25].0.clone()];
    let out_of_turn = expected[17].0.clone();
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(
        out.path(),
        &[
            "--pipelining",
            "--reject-550",
            &refused.join(","),
            "--close-421-for",
            &closed.join(","),
            "--rcpt-354-once",
            &out_of_turn,
            "--drop-permille",
            "40",
        ],
    );
    let config = ConfigText::plain(server.port)
        .set("sending.max_attempts", "5")
        .to_string();
    let p = SendProject::new(&config, &list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 3);
    assert!(
        stdout(&o).contains("In all: 58 sent, 2 failed"),
        "{}",
        stdout(&o)
    );
    // The reply out of turn: this relay goes on command by command.
    assert!(
        stderr(&o).contains("sending command by command"),
        "{}",
        stderr(&o)
    );
    let mut got = server.recipients();
    got.sort();
    let mut want: Vec<String> = expected
        .iter()
        .map(|(e, _)| e.clone())
        .filter(|e| !refused.contains(e))
        .collect();
    want.sort();
    assert_eq!(got, want, "each reader who was not refused, exactly once");
    let status = p.run(&["status", p.issue(), "--json"], SEND_ENV);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["sent"], 58, "{status}");
    assert_eq!(status["failed"], 2, "{status}");
    let problems: Vec<&str> = status["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap())
        .collect();
    let mut refused_sorted = refused.to_vec();
    refused_sorted.sort();
    assert_eq!(problems, refused_sorted, "{status}");
}
