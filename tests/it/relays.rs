//! A send spread over a pool of relays: two real SMTP servers (the aiosmtpd
//! test server, twice) on loopback, weights, a relay whose account is
//! suspended mid-run, daily limits across runs, and a kill in the middle.

use std::collections::BTreeMap;

use crate::common::{
    ConfigText, NEWSLETTER, SECRET, SEND_ENV, SendProject, SmtpServer, assert_exit, stderr, stdout,
    subscriber_list,
};

/// One `[[relays]]` table for a test server on loopback.
fn relay(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[relays]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         security = \"none\"\ntimeout_secs = 5\n{extra}\n"
    )
}

/// A config with these relays and `[sending]` lines.
fn pool_config(relays: &[String], sending: &str) -> String {
    format!(
        "{NEWSLETTER}\n{}\n[sending]\nconcurrency = 2\nbatch_size = 50\n{sending}\n",
        relays.concat()
    )
}

/// `n` readers, `email` only.
fn readers(n: usize) -> String {
    std::iter::once("email\n".to_string())
        .chain((0..n).map(|i| format!("reader{i:05}@example.org\n")))
        .collect()
}

/// How many times each address was accepted, over all the servers.
fn deliveries(servers: &[&SmtpServer]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for server in servers {
        for r in server.recipients() {
            *counts.entry(r).or_default() += 1;
        }
    }
    counts
}

/// Asserts every one of `n` readers got the issue exactly once.
fn assert_each_once(servers: &[&SmtpServer], n: usize) {
    let counts = deliveries(servers);
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(counts.len(), n, "someone never got it");
}

/// The relay each journaled delivery names.
fn journal_relays(p: &SendProject) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for line in p.journal().lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        if entry["event"] == "sent" {
            let relay = entry["relay"]
                .as_str()
                .expect("each sent entry names its relay");
            *by.entry(relay.to_string()).or_default() += 1;
        }
    }
    by
}

#[test]
fn two_relays_weighted_three_to_one_share_4000_readers_each_once() {
    let (a_out, b_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = SmtpServer::start(a_out.path(), &[]);
    let b = SmtpServer::start(b_out.path(), &[]);
    let config = pool_config(
        &[
            relay("primary", a.port, "weight = 3\nconcurrency = 3"),
            relay("secondary", b.port, "weight = 1"),
        ],
        "",
    );
    let p = SendProject::new(&config, &readers(4000));
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("Relays:      2 by weight 3:1"), "{out}");
    assert!(
        out.contains("By relay: primary 3000, secondary 1000."),
        "{out}"
    );

    let (na, nb) = (a.recipients().len(), b.recipients().len());
    assert!(
        (na as f64 / nb as f64 - 3.0).abs() <= 0.15,
        "split {na}:{nb} is not within 5% of 3:1"
    );
    assert_each_once(&[&a, &b], 4000);
    let journaled = journal_relays(&p);
    assert_eq!((journaled["primary"], journaled["secondary"]), (na, nb));

    let status = p.run(&["status", p.issue()], SEND_ENV);
    assert_exit(&status, 0);
    let text = stdout(&status);
    assert!(text.contains(&format!("via primary: {na}")), "{text}");
    assert!(text.contains(&format!("via secondary: {nb}")), "{text}");
}

#[test]
fn a_relay_refusing_the_login_mid_run_hands_the_rest_to_the_other() {
    let (a_out, b_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = SmtpServer::start(
        a_out.path(),
        &["--auth", "sender:s3cret", "--auth-fails-after", "300"],
    );
    let b = SmtpServer::start(b_out.path(), &["--delay-ms", "2"]);
    let config = pool_config(
        &[
            relay(
                "suspended",
                a.port,
                "username = \"sender\"\npassword_env = \"RELAY_A_PASSWORD\"",
            ),
            relay("backup", b.port, ""),
        ],
        "",
    );
    let p = SendProject::new(&config, &readers(1500));
    let mut env = SEND_ENV.to_vec();
    env.push(("RELAY_A_PASSWORD", "s3cret"));
    let o = p.run(&["send", p.issue(), "--yes"], &env);
    assert_exit(&o, 0);
    assert_each_once(&[&a, &b], 1500);
    let accepted_by_a = a.recipients().len();
    assert!(
        (300..=302).contains(&accepted_by_a),
        "the suspended relay took {accepted_by_a}"
    );
    let out = stdout(&o);
    assert!(
        out.contains("(taken out: 127.0.0.1:")
            && out.contains("refused the login of relays[0].username"),
        "{out}"
    );
    let journaled = journal_relays(&p);
    assert_eq!(journaled["suspended"], accepted_by_a);
    assert_eq!(journaled["backup"], 1500 - accepted_by_a);
    assert!(!stderr(&o).contains("s3cret") && !out.contains("s3cret"));
}

#[test]
fn daily_limits_stop_the_send_with_exit_3_and_wait_finishes_it() {
    let (a_out, b_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = SmtpServer::start(a_out.path(), &[]);
    let b = SmtpServer::start(b_out.path(), &[]);
    let config = pool_config(
        &[
            relay("one", a.port, "daily_limit = 500"),
            relay("two", b.port, "daily_limit = 500"),
        ],
        "",
    );
    let p = SendProject::new(&config, &readers(1500));
    // The test-only knob: a 20-second "day", so the quota frees in the test.
    let mut env = SEND_ENV.to_vec();
    env.push(("MISSIVE_TEST_QUOTA_WINDOW_SECS", "20"));

    let first = p.run(&["send", p.issue(), "--yes"], &env);
    assert_exit(&first, 3);
    assert_eq!((a.recipients().len(), b.recipients().len()), (500, 500));
    let said = stderr(&first);
    assert!(
        said.contains("Stopped at the relays' daily limits: 500 left; quota frees at "),
        "{said}"
    );
    assert!(said.contains("UTC (relay "), "{said}");
    let status = p.run(&["status", p.issue()], &env);
    assert_exit(&status, 3);

    // At once, nothing can go: the plan says so, and --wait waits.
    let second = p.run(&["send", p.issue(), "--yes", "--wait"], &env);
    assert_exit(&second, 0);
    let out = stdout(&second);
    assert!(
        out.contains("Quota:       0 of the 500 can go now"),
        "{out}"
    );
    assert!(out.contains("waiting (--wait)"), "{out}");
    assert_each_once(&[&a, &b], 1500);
    let journaled = journal_relays(&p);
    assert_eq!(journaled["one"] + journaled["two"], 1500);

    // The quotas' snapshot has read the journal (and knows how far).
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.path().join(".missive/relays.json")).unwrap())
            .unwrap();
    assert!(
        snapshot["journals"]["2026-11-27-tides-and-timetables"]["bytes"].as_u64() > Some(0),
        "{snapshot}"
    );
}

#[test]
fn killed_in_the_middle_of_a_two_relay_send_and_resumed_loses_no_one() {
    let (a_out, b_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = SmtpServer::start(a_out.path(), &["--delay-ms", "15"]);
    let b = SmtpServer::start(b_out.path(), &["--delay-ms", "15"]);
    let config = ConfigText::parse(&pool_config(
        &[relay("a", a.port, "weight = 2"), relay("b", b.port, "")],
        "",
    ))
    .set("sending.batch_size", "25")
    .to_string();
    let p = SendProject::new(&config, &readers(600));
    let concurrency = 4; // two links to each relay
    let kills = p.kill_sends_at_random(4, 200, 400);
    assert!(
        kills >= 2,
        "the runs were too short to be killed ({kills} kills)"
    );
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 0);
    let counts = deliveries(&[&a, &b]);
    assert_eq!(counts.len(), 600, "someone never got it");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= kills * concurrency,
        "{duplicates} duplicates after {kills} kills with {concurrency} connections in all"
    );
}

#[test]
fn pool_configs_that_cannot_work_are_refused_naming_the_relay() {
    let cases = [
        (
            format!("{}{}", relay("x", 2525, ""), relay("x", 2526, "")),
            "relays[1] and relays[0] are both named \"x\"",
        ),
        (
            format!("[smtp]\nhost = \"h\"\n{}", relay("x", 2525, "")),
            "both [smtp] and [[relays]] are set",
        ),
        (relay("x", 2525, "weight = 0"), "relays[0].weight"),
        (
            relay("x", 2525, "daily_limit = -5"),
            "relays[0].daily_limit",
        ),
        (
            relay("x", 2525, "username = \"u\""),
            "relays[0].username is set but",
        ),
    ];
    for (relays, expected) in cases {
        let config = format!("{NEWSLETTER}\n{relays}\n");
        let p = SendProject::new(&config, &readers(3));
        let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
        assert_exit(&o, 1);
        let said = stderr(&o);
        assert!(said.contains(expected), "{expected:?} not in {said}");
        assert!(p.journal().is_empty(), "nothing sent");
    }
}

/// Two sends that count one relay's daily limit cannot run at once (each
/// would trust what the journals said when it began): the second is
/// refused, naming the lock, and sends nothing; once the first is done, it
/// runs.
#[test]
fn sends_that_count_a_daily_limit_run_one_at_a_time() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &["--delay-ms", "20"]);
    let (list, _) = subscriber_list(300);
    let config = ConfigText::plain(server.port)
        .set("smtp.daily_limit", "10000")
        .to_string();
    let p = SendProject::new(&config, &list);
    let next = "issues/2026-12-04-next.toml";
    std::fs::copy(p.path().join(p.issue()), p.path().join(next)).unwrap();
    let first = p.spawn(&["send", p.issue(), "--yes"]);
    let started = std::time::Instant::now();
    while !p.journal().contains("\"sent\"") {
        assert!(started.elapsed() < std::time::Duration::from_mins(1));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let env = [("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)];
    let second = p.run(&["send", next, "--yes"], &env);
    assert_exit(&second, 1);
    assert!(
        stderr(&second).contains("counting the relays' daily limits"),
        "{}",
        stderr(&second)
    );
    assert!(first.wait_with_output().unwrap().status.success());
    assert_exit(&p.run(&["send", next, "--yes"], &env), 0);
}
