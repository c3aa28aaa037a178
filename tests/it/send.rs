//! The sender end to end: `missive send` against a real SMTP server
//! (aiosmtpd, started by the tests), with TLS, faults, crashes and bad input.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use crate::common::*;
use mail_parser::{MessageParser, MimeHeaders};
use missive::list::token::Secret;

/// The example issue, with a greeting that also uses a list column.
fn personal_project(config: &str, list: &str) -> SendProject {
    let p = SendProject::new(config, list);
    let path = p.path().join(p.issue());
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "greeting = \"Dear {{ name | friends }},\"",
        "greeting = \"Dear {{ name | friends }} in {{ city | your town }},\"",
    );
    std::fs::write(&path, text).unwrap();
    p
}

fn crlf_to_lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}

#[test]
fn delivers_to_500_subscribers_each_once_with_headers_and_personalization() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, expected) = subscriber_list(500);
    let p = personal_project(&plain_config(server.port, ""), &list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 0);
    let summary = stdout(&o);
    assert!(summary.contains("to send now:        500"), "{summary}");
    assert!(
        summary.contains("skipped by status:  20 (10 bounced, 10 unsubscribed)"),
        "{summary}"
    );
    assert!(summary.contains("duplicates:         5"), "{summary}");
    assert!(summary.contains("In all: 500 sent, 0 failed"), "{summary}");

    // The library renders the expected parts for each reader.
    let project = missive::project::Project::open(Some(&p.path().join("missive.toml"))).unwrap();
    let composed = missive::compose::compose(&project, &p.path().join(p.issue())).unwrap();
    let html = composed.rendered.html_merge();
    let text = composed.rendered.text_merge();
    let secret = Secret::new(SECRET).unwrap();

    let messages = server.messages();
    assert_eq!(messages.len(), 500);
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = HashSet::new();
    let by_address: BTreeMap<&str, (&str, usize)> = expected
        .iter()
        .enumerate()
        .map(|(i, (e, n))| (e.as_str(), (n.as_str(), i)))
        .collect();
    for (envelope, raw) in &messages {
        let rcpt = envelope["rcpt_tos"][0].as_str().unwrap().to_string();
        *received.entry(rcpt.clone()).or_default() += 1;
        let (name, i) = by_address[rcpt.as_str()];
        let m = MessageParser::default().parse(raw).expect("a MIME message");

        let from = m.from().unwrap().first().unwrap();
        assert_eq!(from.address.as_deref(), Some("matt@example.com"));
        assert_eq!(from.name.as_deref(), Some("Matt Example"));
        let reply_to = m.reply_to().unwrap().first().unwrap();
        assert_eq!(reply_to.address.as_deref(), Some("replies@example.com"));
        let to = m.to().unwrap().first().unwrap();
        assert_eq!(to.address.as_deref(), Some(rcpt.as_str()));
        assert_eq!(to.name.as_deref().unwrap_or(""), name, "To name of {rcpt}");
        assert_eq!(
            m.subject(),
            Some("Tides and timetables: what the week meant")
        );
        assert!(m.date().is_some(), "Date");
        let id = m.message_id().expect("Message-ID");
        assert!(id.ends_with("@example.com"), "{id}");
        assert!(ids.insert(id.to_string()), "Message-ID {id} used twice");
        assert_eq!(
            m.header_raw("List-Id").map(str::trim),
            Some("The Slow Commute <weekly.slowcommute.example.com>")
        );
        let token = secret.token(&rcpt);
        let url = format!(
            "https://slowcommute.example.com/unsubscribe?email={}&token={token}",
            rcpt.replace('@', "%40")
        );
        let list_unsubscribe: String = m
            .header_raw("List-Unsubscribe")
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            list_unsubscribe,
            format!("<{url}>, <mailto:unsubscribe@slowcommute.example.com?subject=unsubscribe>")
        );
        assert_eq!(
            m.header_raw("List-Unsubscribe-Post").map(str::trim),
            Some("List-Unsubscribe=One-Click")
        );

        // Both parts decode to the rendered issue, filled in for this reader.
        let city = format!("City {i}");
        let lookup = |key: &str| -> Option<Cow<'_, str>> {
            match key {
                "name" => Some(Cow::Borrowed(name)),
                "email" => Some(Cow::Borrowed(rcpt.as_str())),
                "unsubscribe_url" => Some(Cow::Owned(url.clone())),
                "city" => Some(Cow::Owned(city.clone())),
                _ => None,
            }
        };
        let expected_text = text.fill(&lookup);
        let expected_html = html.fill(&lookup);
        assert_eq!(
            crlf_to_lf(&m.body_text(0).unwrap()),
            crlf_to_lf(&expected_text),
            "text of {rcpt}"
        );
        // The HTML as sent is folded into short lines (spaces became line
        // breaks where that means the same), and otherwise the rendering.
        let sent_html = crlf_to_lf(&m.body_html(0).unwrap());
        assert_eq!(
            sent_html,
            crlf_to_lf(&html.as_is().fill(&lookup)),
            "HTML of {rcpt}"
        );
        assert_eq!(
            sent_html.replace('\n', " "),
            crlf_to_lf(&expected_html).replace('\n', " "),
            "HTML of {rcpt}, unfolded"
        );
        let greeting = if name.is_empty() {
            format!("Dear friends in City {i},")
        } else {
            format!("Dear {name} in City {i},")
        };
        assert!(expected_text.contains(&greeting), "{greeting}");
        // The text part comes first in multipart/alternative.
        let raw = String::from_utf8_lossy(raw);
        assert!(raw.find("text/plain").unwrap() < raw.find("text/html").unwrap());
    }
    let want: BTreeSet<String> = expected.iter().map(|(e, _)| e.clone()).collect();
    let got: BTreeSet<String> = received.keys().cloned().collect();
    assert_eq!(
        got, want,
        "the recipients are exactly the subscribed, de-duplicated list"
    );
    assert!(received.values().all(|n| *n == 1), "someone got two copies");

    // A second run sends nothing more.
    let again = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("Nothing to send."),
        "{}",
        stdout(&again)
    );
    assert_eq!(server.messages().len(), 500);
}

#[test]
fn test_send_goes_to_the_author_only() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, _) = subscriber_list(10);
    let p = personal_project(&plain_config(server.port, ""), &list);
    let o = p.run(&["send", p.issue(), "--test"], SEND_ENV);
    assert_exit(&o, 0);
    assert_eq!(server.recipients(), vec!["matt@example.com"]);
    let (_, raw) = &server.messages()[0];
    let m = MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        m.subject(),
        Some("[TEST] Tides and timetables: what the week meant")
    );
    // Personalized as the first subscriber (reader0000, no name, City 0).
    assert!(m.body_text(0).unwrap().contains("Dear friends in City 0,"));
    assert!(p.journal().is_empty(), "a test send writes no journal");

    let o = p.run(
        &[
            "send",
            p.issue(),
            "--test",
            "--to",
            "Other <other@example.net>",
        ],
        SEND_ENV,
    );
    assert_exit(&o, 0);
    assert_eq!(server.recipients()[1], "other@example.net");
}

fn tls_config(port: u16, security: &str, ca: Option<&str>) -> String {
    let ca = ca
        .map(|c| format!("ca_file = \"{c}\"\n"))
        .unwrap_or_default();
    format!(
        "{NEWSLETTER}\n[smtp]\nhost = \"localhost\"\nport = {port}\nsecurity = \"{security}\"\n\
         username = \"sender\"\ntimeout_secs = 5\n{ca}\n[sending]\nconcurrency = 2\n"
    )
}

const PASSWORD_ENV: &[(&str, &str)] = &[
    ("MISSIVE_UNSUBSCRIBE_SECRET", SECRET),
    ("MISSIVE_SMTP_PASSWORD", "s3cret-pässword"),
];

/// Starts a TLS server (`mode` starttls or tls) that requires AUTH, and
/// sends `n` subscribers through it with the right password and CA; checks
/// every message went over TLS with AUTH. Returns the server, the CA file,
/// the list and the run's output.
fn send_over_tls(
    out: &Path,
    mode: &str,
    n: usize,
) -> (SmtpServer, String, String, std::process::Output) {
    let (ca, cert, key) = certificates(out);
    let server = SmtpServer::start(
        &out.join("mail"),
        &[
            "--mode",
            mode,
            "--cert",
            &cert,
            "--key",
            &key,
            "--auth",
            "sender:s3cret-pässword",
        ],
    );
    let (list, _) = subscriber_list(n);
    let p = SendProject::new(&tls_config(server.port, mode, Some(&ca)), &list);
    let o = p.run(&["send", p.issue(), "--yes"], PASSWORD_ENV);
    assert_exit(&o, 0);
    let messages = server.messages();
    assert_eq!(messages.len(), n);
    assert!(
        messages
            .iter()
            .all(|(env, _)| env["tls"] == true && env["auth"] == true)
    );
    (server, ca, list, o)
}

#[test]
fn starttls_with_auth_and_a_private_ca() {
    let out = tempfile::tempdir().unwrap();
    let (server, ca, list, o) = send_over_tls(out.path(), "starttls", 20);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains("s3cret"), "the password was printed");

    // A wrong password stops the run at once; nothing is recorded as sent.
    let p = SendProject::new(&tls_config(server.port, "starttls", Some(&ca)), &list);
    let o = p.run(
        &["send", p.issue(), "--yes"],
        &[
            ("MISSIVE_UNSUBSCRIBE_SECRET", SECRET),
            ("MISSIVE_SMTP_PASSWORD", "wrong"),
        ],
    );
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("refused the login"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("wrong"), "the password was printed");
    assert!(!p.journal().contains("\"sent\""));
    assert_eq!(server.messages().len(), 20);

    // Without the CA the certificate is not trusted.
    let p = SendProject::new(&tls_config(server.port, "starttls", None), &list);
    let o = p.run(&["send", p.issue(), "--yes"], PASSWORD_ENV);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("STARTTLS with localhost"),
        "{}",
        stderr(&o)
    );
    assert_eq!(server.messages().len(), 20);
}

#[test]
fn implicit_tls_and_an_untrusted_certificate() {
    let out = tempfile::tempdir().unwrap();
    let (server, _, list, _) = send_over_tls(out.path(), "tls", 8);

    // Without the CA the run stops at once on the certificate.
    let p = SendProject::new(&tls_config(server.port, "tls", None), &list);
    let o = p.run(&["send", p.issue(), "--yes"], PASSWORD_ENV);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("TLS with localhost"), "{}", stderr(&o));
    assert!(stderr(&o).contains("certificate"), "{}", stderr(&o));
    assert_eq!(server.messages().len(), 8);
}

#[test]
fn starttls_is_required_when_configured() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, _) = subscriber_list(3);
    let config = format!(
        "{NEWSLETTER}\n[smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"starttls\"\n",
        server.port
    );
    let p = SendProject::new(&config, &list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("does not offer STARTTLS"),
        "{}",
        stderr(&o)
    );
    assert!(server.messages().is_empty());
}

#[test]
fn auth_over_plaintext_to_another_host_is_refused() {
    let (list, _) = subscriber_list(3);
    let config = format!(
        "{NEWSLETTER}\n[smtp]\nhost = \"192.0.2.10\"\nport = 25\nsecurity = \"none\"\nusername = \"u\"\n"
    );
    let p = SendProject::new(&config, &list);
    let o = p.run(&["send", p.issue(), "--yes"], PASSWORD_ENV);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("refusing to send the SMTP password unencrypted to 192.0.2.10"));
    assert!(p.journal().is_empty());
}

#[test]
fn faults_are_retried_and_refusals_recorded() {
    let out = tempfile::tempdir().unwrap();
    let (list, expected) = subscriber_list(300);
    let refused: Vec<String> = [3, 77, 150, 222, 299]
        .iter()
        .map(|i| expected[*i].0.clone())
        .collect();
    let server = SmtpServer::start(
        out.path(),
        &[
            "--fail-451-permille",
            "100",
            "--reject-571",
            &refused.join(","),
            "--drop-permille",
            "30",
            "--stall-permille",
            "15",
            "--stall-secs",
            "2.5",
        ],
    );
    let config = ConfigText::plain(server.port)
        .set("sending.max_attempts", "5")
        .set("smtp.timeout_secs", "1")
        .to_string();
    let p = SendProject::new(&config, &list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 3);
    assert!(
        stdout(&o).contains("In all: 295 sent, 5 failed"),
        "{}",
        stdout(&o)
    );

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in server.recipients() {
        *counts.entry(r).or_default() += 1;
    }
    let deliverable: BTreeSet<String> = expected
        .iter()
        .map(|(e, _)| e.clone())
        .filter(|e| !refused.contains(e))
        .collect();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), deliverable);
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");

    let status = p.run(&["status", p.issue()], &[]);
    assert_exit(&status, 3);
    let s = stdout(&status);
    assert!(
        s.contains("sent:    295") && s.contains("failed:  5"),
        "{s}"
    );
    for address in &refused {
        assert!(
            s.contains(&format!(
                "{address} (failed): 550 5.7.1 <{address}>: Message refused"
            )),
            "{address} not listed with its reply:\n{s}"
        );
    }

    // Refused for a reason that is not the address (5.7.1): a plain resume
    // does not retry them; --retry-failed retries only them.
    let before = server.messages().len();
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 3);
    assert!(stdout(&o).contains("Nothing to send."), "{}", stdout(&o));
    let rcpt_log_before = attempts_log(out.path());
    let o = p.run(&["send", p.issue(), "--yes", "--retry-failed"], SEND_ENV);
    assert_exit(&o, 3);
    assert!(
        stdout(&o).contains("to send now:        5"),
        "{}",
        stdout(&o)
    );
    assert_eq!(server.messages().len(), before);
    let retried: BTreeSet<String> = attempts_log(out.path())[rcpt_log_before.len()..]
        .iter()
        .cloned()
        .collect();
    assert_eq!(retried, refused.iter().cloned().collect::<BTreeSet<_>>());
}

/// Every RCPT the server has seen, in order.
fn attempts_log(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("rcpt.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn killed_at_random_moments_and_resumed_delivers_everyone_with_bounded_duplicates() {
    // Command by command, and pipelined (several messages on the wire at once).
    for pipelining in [&[][..], &["--pipelining"][..]] {
        killed_and_resumed(pipelining);
    }
}

fn killed_and_resumed(server_args: &[&str]) {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["--delay-ms", "15"];
    args.extend_from_slice(server_args);
    let server = SmtpServer::start(out.path(), &args);
    let (list, expected) = subscriber_list(400);
    let config = ConfigText::plain(server.port)
        .set("sending.batch_size", "25")
        .to_string();
    let p = SendProject::new(&config, &list);
    let concurrency = 4;
    let kills = p.kill_sends_at_random(5, 150, 450);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 0);
    assert!(
        kills >= 3,
        "the runs were too short to be killed ({kills} kills)"
    );

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in server.recipients() {
        *counts.entry(r).or_default() += 1;
    }
    let want: BTreeSet<String> = expected.iter().map(|(e, _)| e.clone()).collect();
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "someone never got it"
    );
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= kills * concurrency,
        "{duplicates} duplicates after {kills} kills with {concurrency} connections"
    );
    let status = p.run(&["status", p.issue()], &[]);
    assert_exit(&status, 0);
    assert!(
        stdout(&status).contains("sent:    400"),
        "{}",
        stdout(&status)
    );
}

#[test]
fn interrupt_finishes_in_flight_messages_and_resumes() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &["--delay-ms", "20"]);
    let (list, _) = subscriber_list(300);
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    let child = p.spawn(&["send", p.issue(), "--yes"]);
    std::thread::sleep(std::time::Duration::from_millis(600));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    assert_exit(&o, 130);
    assert!(
        stderr(&o).contains("resume with `missive send"),
        "{}",
        stderr(&o)
    );
    let sent_then = server.messages().len();
    assert!(
        sent_then > 0 && sent_then < 300,
        "{sent_then} sent before the interrupt"
    );
    let journaled = p.journal().matches("\"event\":\"sent\"").count();
    assert_eq!(
        journaled, sent_then,
        "every delivered message is in the journal"
    );

    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 0);
    let recipients = server.recipients();
    assert_eq!(recipients.len(), 300);
    assert_eq!(
        recipients.iter().collect::<HashSet<_>>().len(),
        300,
        "no duplicates"
    );
}

#[test]
fn rate_limit_spaces_messages_out() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, _) = subscriber_list(21);
    let p = SendProject::new(&plain_config(server.port, "rate = 10"), &list);
    let started = std::time::Instant::now();
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 0);
    assert_eq!(server.messages().len(), 21);
    // 21 messages at 10 per second cannot take less than 2 seconds.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1950),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_changed_issue_is_not_resumed_without_force() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, _) = subscriber_list(10);
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    assert_exit(
        &p.run(&["send", p.issue(), "--yes", "--limit", "4"], SEND_ENV),
        3,
    );
    assert_eq!(server.messages().len(), 4);
    let path = p.path().join(p.issue());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("what the week meant", "what the week really meant");
    std::fs::write(&path, text).unwrap();
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("changed since it was sent to 4 recipients"),
        "{}",
        stderr(&o)
    );
    assert_eq!(server.messages().len(), 4);
    let o = p.run(&["send", p.issue(), "--yes", "--force"], SEND_ENV);
    assert_exit(&o, 0);
    assert_eq!(server.messages().len(), 10);
}

#[test]
fn dry_run_builds_everything_and_sends_nothing() {
    // The port is closed: a dry run must not even try it.
    let (list, _) = subscriber_list(50);
    let p = SendProject::new(&plain_config(1, ""), &list);
    let o = p.run(&["send", p.issue(), "--dry-run"], SEND_ENV);
    assert_exit(&o, 0);
    let s = stdout(&o);
    assert!(s.contains("to send now:        50"), "{s}");
    assert!(s.contains("dry run, nothing will be sent"), "{s}");
    assert!(s.contains("Dry run: built 50 messages"), "{s}");
    assert!(p.journal().is_empty());
}

#[test]
fn without_a_terminal_or_yes_nothing_is_sent() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, _) = subscriber_list(5);
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    let o = p.run(&["send", p.issue()], SEND_ENV);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("pass --yes"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("to send now:        5"),
        "the summary comes first"
    );
    assert!(server.messages().is_empty());
}

/// Runs a dispatch that must be refused, and checks nothing reached the server.
fn assert_refused(config: &ConfigText, list: &str, env: &[(&str, &str)], expected: &[&str]) {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let config = config
        .clone()
        .set("smtp.port", &server.port.to_string())
        .to_string();
    let p = SendProject::new(&config, list);
    let o = p.run(&["send", p.issue(), "--yes"], env);
    assert_exit(&o, 1);
    let err = format!("{}{}", stdout(&o), stderr(&o));
    for e in expected {
        assert!(err.contains(e), "{e:?} not in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(server.messages().is_empty(), "something was sent");
    assert!(!p.journal().contains("\"sent\""));
}

#[test]
fn broken_subscriber_lists_are_refused() {
    let config = ConfigText::plain(0);
    assert_refused(
        &config,
        "name,status\nAda,\n",
        SEND_ENV,
        &["subscribers.csv: the header row has no `email` column (it has `name`, `status`)"],
    );
    assert_refused(
        &config,
        "",
        SEND_ENV,
        &["subscribers.csv: the file is empty"],
    );
    assert_refused(
        &config,
        "email,name\nok@example.org,Ok\nnot an address,Bad\n\"evil@example.org\",\"Evil\r\nBcc: victim@example.org\"\n",
        SEND_ENV,
        &[
            "line 3: `not an address` is not a valid email address",
            "line 4: the name",
            "contains a line break",
            "has 2 invalid rows",
            "--skip-invalid",
        ],
    );
}

#[test]
fn skip_invalid_sends_to_the_valid_rows_only() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let list = "\u{feff}email,name\r\nok@example.org,Ok\r\nnot an address,Bad\r\n\"evil@example.org\",\"Evil\r\nBcc: victim@example.org\"\r\nOK@example.org,Again\r\n";
    let p = SendProject::new(&plain_config(server.port, ""), list);
    let o = p.run(&["send", p.issue(), "--yes", "--skip-invalid"], SEND_ENV);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("line 6: ok@example.org is already on line 2"),
        "{}",
        stdout(&o)
    );
    assert_eq!(server.recipients(), vec!["ok@example.org"]);
    let (_, raw) = &server.messages()[0];
    assert!(
        !String::from_utf8_lossy(raw).contains("victim"),
        "header injection"
    );
}

#[test]
fn broken_configs_are_refused() {
    let (list, _) = subscriber_list(3);
    let base = ConfigText::plain(0);
    assert_refused(
        &base,
        &list,
        &[],
        &["MISSIVE_UNSUBSCRIBE_SECRET is not set"],
    );
    assert_refused(
        &base
            .clone()
            .remove("unsubscribe.url")
            .remove("unsubscribe.mailto"),
        &list,
        SEND_ENV,
        &["no unsubscribe method"],
    );
    assert_refused(
        &base.clone().set("smtp.username", "\"u\""),
        &list,
        SEND_ENV,
        &["smtp.username is set but the environment variable MISSIVE_SMTP_PASSWORD"],
    );
    assert_refused(
        &base.clone().set("sending.transport", "\"file\""),
        &list,
        SEND_ENV,
        &["sending.transport is \"file\" but sending.outbox is not set"],
    );
    assert_refused(
        &base.clone().set("smtp.security", "\"ssl\""),
        &list,
        SEND_ENV,
        &["missive.toml:", "smtp.security", "unknown variant `ssl`"],
    );
    assert_refused(
        &base.clone().set("newsletter.from", "\"Matt\""),
        &list,
        SEND_ENV,
        &["missive.toml:3:", "newsletter.from", "not a valid mailbox"],
    );
    assert_refused(
        &base.clone().set("sending.subscriberz", "\"x.csv\""),
        &list,
        SEND_ENV,
        &["unknown key `subscriberz`", "did you mean `subscribers`?"],
    );
}

#[test]
fn unknown_merge_tags_are_refused() {
    let (list, _) = subscriber_list(3);
    let p = SendProject::new(&plain_config(1, ""), &list.replace(",city", ",town"));
    let path = p.path().join(p.issue());
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "Dear {{ name | friends }},",
        "Dear {{ name }} of {{ city }},",
    );
    std::fs::write(&path, text).unwrap();
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("merge tags {{ city }}"),
        "{}",
        stderr(&o)
    );
}

/// The signature holds whichever way the message goes on the wire:
/// command by command or pipelined, its parts 8-bit where the server
/// offers 8BITMIME (and MAIL FROM says BODY=8BITMIME) or quoted-printable
/// where it does not (a server that offers none refuses 8-bit data); and
/// every way, each reader's parts decode to the same bytes.
#[test]
fn dkim_signature_verifies_against_the_public_key() {
    let mut contents = Vec::new();
    for server_args in [
        &[][..],
        &["--pipelining"][..],
        &["--no-8bitmime"][..],
        &["--no-8bitmime", "--pipelining"][..],
    ] {
        contents.push(dkim_signature_verifies(server_args));
    }
    assert_eq!(contents[0].len(), 3);
    for other in &contents[1..] {
        assert_eq!(other, &contents[0]);
    }
}

/// Each reader's text and HTML parts, decoded, by address.
fn dkim_signature_verifies(server_args: &[&str]) -> BTreeMap<String, (String, String)> {
    let eight_bit = !server_args.contains(&"--no-8bitmime");
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&out.path().join("mail"), server_args);
    let (key, public) = dkim_key(out.path());
    let (list, _) = subscriber_list(3);
    let config = format!(
        "{}\n[dkim]\ndomain = \"example.com\"\nselector = \"missive\"\nprivate_key = \"{}\"\n",
        plain_config(server.port, ""),
        key.display()
    );
    let p = SendProject::new(&config, &list);
    assert_exit(&p.run(&["send", p.issue(), "--yes"], SEND_ENV), 0);
    let messages = server.messages();
    assert_eq!(messages.len(), 3);
    let mut contents = BTreeMap::new();
    for (i, (envelope, raw)) in messages.iter().enumerate() {
        let parsed = MessageParser::default().parse(raw).unwrap();
        let encodings: Vec<String> = parsed
            .parts
            .iter()
            .filter_map(|p| p.content_transfer_encoding().map(str::to_string))
            .collect();
        let options = envelope["mail_options"].to_string();
        if eight_bit {
            assert!(
                !raw.is_ascii(),
                "the example issue has curly quotes: {}",
                String::from_utf8_lossy(&raw[..3000.min(raw.len())])
            );
            assert!(options.contains("BODY=8BITMIME"), "{options}");
            assert!(encodings.iter().any(|e| e == "8bit"), "{encodings:?}");
            assert!(
                encodings.iter().all(|e| e == "8bit" || e == "7bit"),
                "{encodings:?}"
            );
        } else {
            assert!(raw.is_ascii());
            assert!(!options.contains("8BITMIME"), "{options}");
            assert!(
                encodings
                    .iter()
                    .all(|e| e == "quoted-printable" || e == "7bit"),
                "{encodings:?}"
            );
        }
        let to = parsed.to().unwrap().first().unwrap().address().unwrap();
        contents.insert(
            to.to_string(),
            (
                parsed.body_text(0).unwrap().into_owned(),
                parsed.body_html(0).unwrap().into_owned(),
            ),
        );
        let eml = out.path().join(format!("signed-{i}.eml"));
        std::fs::write(&eml, raw).unwrap();
        let verify = std::process::Command::new("python3")
            .arg(repo().join("tests/smtp/dkim_verify.py"))
            .arg(&eml)
            .arg(&public)
            .output()
            .unwrap();
        assert_exit(&verify, 0);
        let signed = String::from_utf8_lossy(&verify.stdout);
        for header in [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "list-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "precedence",
            "x-auto-response-suppress",
        ] {
            assert!(
                signed.split_whitespace().any(|h| h == header),
                "{header} is not covered by the signature: {signed}"
            );
        }
        // Tampering with a signed header breaks the signature.
        let tampered = String::from_utf8_lossy(raw).replacen(
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "List-Unsubscribe-Post: x",
            1,
        );
        std::fs::write(&eml, tampered).unwrap();
        let verify = std::process::Command::new("python3")
            .arg(repo().join("tests/smtp/dkim_verify.py"))
            .arg(&eml)
            .arg(&public)
            .output()
            .unwrap();
        assert_exit(&verify, 1);
    }
    contents
}

/// An internationalized address (RFC 6531) goes where the server offers
/// SMTPUTF8, announced on MAIL FROM; where it does not, that reader is
/// refused with a reason that says so, and the others are sent.
#[test]
fn internationalized_addresses_need_smtputf8() {
    let list = "email,name\njosé@example.org,José\nada@example.org,Ada\n";
    for (server_args, offered) in [(&[][..], true), (&["--no-smtputf8"][..], false)] {
        for pipelining in [false, true] {
            let out = tempfile::tempdir().unwrap();
            let mut args = server_args.to_vec();
            if pipelining {
                args.push("--pipelining");
            }
            let server = SmtpServer::start(&out.path().join("mail"), &args);
            let p = SendProject::new(&plain_config(server.port, ""), list);
            let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
            let journal = p.journal();
            let messages = server.messages();
            let to: Vec<String> = messages
                .iter()
                .map(|(envelope, _)| envelope["rcpt_tos"][0].as_str().unwrap().to_string())
                .collect();
            if offered {
                assert_exit(&o, 0);
                assert_eq!(messages.len(), 2, "{journal}");
                assert!(to.contains(&"josé@example.org".to_string()), "{to:?}");
                let (envelope, _) = messages
                    .iter()
                    .find(|(e, _)| e["rcpt_tos"][0] == "josé@example.org")
                    .unwrap();
                assert!(
                    envelope["mail_options"].to_string().contains("SMTPUTF8"),
                    "{envelope}"
                );
            } else {
                assert_eq!(to, ["ada@example.org"], "{journal}");
                assert!(
                    journal.contains("does not support SMTPUTF8"),
                    "{journal}\n{}",
                    stdout(&o)
                );
            }
        }
    }
}

#[test]
fn the_example_config_dispatches_to_files() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["missive.toml", "subscribers.example.csv"] {
        std::fs::copy(repo().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("issues")).unwrap();
    std::fs::copy(example_issue(), dir.path().join("issues/x.toml")).unwrap();
    let run = |args: &[&str]| {
        crate::common::command(dir.path())
            .args(args)
            .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&["send", "issues/x.toml", "--yes"]);
    assert_exit(&o, 0);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files.len(), 6, "{}", stdout(&o));
    // The example's unsubscribe links carry the address sealed, never in clear.
    let secret = crate::common::list_secret();
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let m = MessageParser::default().parse(&raw).unwrap();
        let to = m
            .to()
            .unwrap()
            .first()
            .unwrap()
            .address
            .as_deref()
            .unwrap()
            .to_string();
        let header = list_unsubscribe(&raw);
        let url = header.split(", ").next().unwrap();
        assert_eq!(
            url,
            format!(
                "<https://slowcommute.example.com/unsubscribe?token={}>",
                secret.seal(&to)
            )
        );
        let html = m.body_html(0).unwrap();
        assert!(
            !html.contains(&to.replace('@', "%40")),
            "the address in a link"
        );
    }
    let o = run(&["status", "issues/x.toml"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("sent:    6"));
}

/// The unsubscribe URL in a raw message's List-Unsubscribe header.
fn list_unsubscribe(raw: &[u8]) -> String {
    let m = MessageParser::default().parse(raw).unwrap();
    m.header_raw("List-Unsubscribe")
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_test_send_cannot_unsubscribe_a_reader() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, _) = subscriber_list(3);
    let p = personal_project(&plain_config(server.port, ""), &list);
    let secret = Secret::new(SECRET).unwrap();
    for (args, to) in [
        (vec!["send", p.issue(), "--test"], "matt@example.com"),
        (
            vec!["send", p.issue(), "--test", "--to", "colleague@example.net"],
            "colleague@example.net",
        ),
    ] {
        assert_exit(&p.run(&args, SEND_ENV), 0);
        let (_, raw) = server.messages().pop().unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let m = MessageParser::default().parse(&raw).unwrap();
        let body = format!("{}{}", m.body_text(0).unwrap(), m.body_html(0).unwrap());
        // Personalized as the first reader…
        assert!(body.contains("Dear friends in City 0,"), "{body}");
        // …but no link of that reader's anywhere, header or footer.
        let reader_token = secret.token("reader0000@example.org");
        assert!(!text.contains(&reader_token) && !body.contains(&reader_token));
        assert!(!body.contains("reader0000%40example.org"));
        assert!(
            list_unsubscribe(&raw).contains(&secret.token(to)),
            "{}",
            list_unsubscribe(&raw)
        );
    }
}

#[test]
fn merge_tags_in_the_subject_are_personalized() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let list = "email,name\nada@example.org,Ada\nbob@example.org,\n";
    let p = SendProject::new(&plain_config(server.port, ""), list);
    let path = p.path().join(p.issue());
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "subject = \"Tides and timetables: what the week meant\"",
        "subject = \"{{ name | Friend }}, the tides\"",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let check = p.run(&["check", p.issue()], &[]);
    assert_exit(&check, 0);
    assert!(
        stdout(&check).contains("subject: personalized for each reader ({{ name }})"),
        "{}",
        stdout(&check)
    );
    assert_exit(&p.run(&["send", p.issue(), "--yes"], SEND_ENV), 0);
    let mut subjects: Vec<String> = server
        .messages()
        .iter()
        .map(|(_, raw)| {
            MessageParser::default()
                .parse(raw)
                .unwrap()
                .subject()
                .unwrap()
                .to_string()
        })
        .collect();
    subjects.sort();
    assert_eq!(subjects, vec!["Ada, the tides", "Friend, the tides"]);
}

#[test]
fn a_slow_final_reply_is_waited_for_not_sent_again() {
    let out = tempfile::tempdir().unwrap();
    let (list, expected) = subscriber_list(12);
    let slow: Vec<String> = expected.iter().take(4).map(|(e, _)| e.clone()).collect();
    let server = SmtpServer::start(
        out.path(),
        &[
            "--final-delay-for",
            &slow.join(","),
            "--final-delay-secs",
            "2.5",
        ],
    );
    // Commands time out after 1 s; the final reply is waited for as RFC 5321 asks.
    let config = ConfigText::plain(server.port)
        .set("smtp.timeout_secs", "1")
        .to_string();
    let p = SendProject::new(&config, &list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 0);
    let mut recipients = server.recipients();
    recipients.sort();
    let mut want: Vec<String> = expected.iter().map(|(e, _)| e.clone()).collect();
    want.sort();
    assert_eq!(recipients, want, "each reader exactly once");
}

#[test]
fn no_final_reply_is_recorded_unknown_and_not_sent_again_without_retry_failed() {
    let out = tempfile::tempdir().unwrap();
    let (list, expected) = subscriber_list(6);
    let silent = expected[2].0.clone();
    let server = SmtpServer::start(
        out.path(),
        &["--final-delay-for", &silent, "--final-delay-secs", "4"],
    );
    let config = ConfigText::plain(server.port)
        .set("smtp.data_timeout_secs", "1")
        .to_string();
    let p = SendProject::new(&config, &list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 3);
    assert!(
        stdout(&o).contains("1 with no final reply"),
        "{}",
        stdout(&o)
    );
    assert!(
        p.journal().contains("\"event\":\"unknown\""),
        "{}",
        p.journal()
    );
    let status = p.run(&["status", p.issue()], &[]);
    assert_exit(&status, 3);
    assert!(
        stdout(&status).contains(&format!("{silent} (unknown): no reply to the end")),
        "{}",
        stdout(&status)
    );
    // A plain resume leaves it alone; the server did store that message.
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 3);
    assert!(stdout(&o).contains("Nothing to send."), "{}", stdout(&o));
    let copies = |who: &str| server.recipients().iter().filter(|r| *r == who).count();
    assert_eq!(copies(&silent), 1);
    // --retry-failed sends it again, knowingly.
    let o = p.run(&["send", p.issue(), "--yes", "--retry-failed"], SEND_ENV);
    assert!(
        stdout(&o).contains("to send now:        1"),
        "{}",
        stdout(&o)
    );
    assert_eq!(copies(&silent), 2);
}

#[test]
fn extreme_sending_values_are_refused_not_a_panic() {
    let (list, _) = subscriber_list(3);
    let base = ConfigText::plain(0);
    for (field, value) in [
        ("sending.rate", "1e-300"),
        ("sending.rate", "1e300"),
        ("sending.concurrency", "9223372036854775807"),
        ("sending.concurrency", "20000000"),
    ] {
        let config = base.clone().set(field, value);
        assert_refused(&config, &list, SEND_ENV, &[field, " from "]);
    }
}

#[test]
fn secrets_in_the_config_are_never_printed() {
    let (list, _) = subscriber_list(3);
    let base = ConfigText::plain(1);
    // A password typed into [smtp] itself: an unknown key, shown without its value.
    assert_refused(
        &base.clone().set("smtp.password", "\"hunter2-Secret\""),
        &list,
        SEND_ENV,
        &["unknown key `password`"],
    );
    // A password typed where the variable's name goes.
    assert_refused(
        &base
            .clone()
            .set("smtp.username", "\"u\"")
            .set("smtp.password_env", "\"hunter2-Secret!\""),
        &list,
        SEND_ENV,
        &["smtp.password_env", "not the password itself"],
    );
    let p = SendProject::new(
        &base
            .clone()
            .set("smtp.username", "\"u\"")
            .set("smtp.password_env", "\"HUNTER2SECRET\"")
            .to_string(),
        &list,
    );
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 1);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("the environment variable named in smtp.password_env"),
        "{all}"
    );
    for config in [
        base.clone().set("smtp.password", "\"hunter2-Secret\""),
        base.clone()
            .set("smtp.username", "\"u\"")
            .set("smtp.password_env", "\"hunter2-Secret!\""),
        base.clone()
            .set("smtp.username", "\"u\"")
            .set("smtp.password_env", "\"HUNTER2SECRET\""),
    ] {
        let p = SendProject::new(&config.to_string(), &list);
        let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.to_lowercase().contains("hunter2"), "{all}");
    }
}

#[cfg(unix)]
#[test]
fn journals_and_list_logs_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, _) = subscriber_list(3);
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    assert_exit(&p.run(&["send", p.issue(), "--yes"], SEND_ENV), 0);
    for file in [
        ".missive/2026-11-27-tides-and-timetables.journal",
        ".missive/list-events.csv",
    ] {
        let mode = std::fs::metadata(p.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

#[test]
fn the_resume_hint_keeps_the_config_and_the_list() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &["--delay-ms", "20"]);
    let (list, _) = subscriber_list(300);
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    std::fs::create_dir(p.path().join("lists")).unwrap();
    std::fs::rename(
        p.path().join("subscribers.csv"),
        p.path().join("lists/this week.csv"),
    )
    .unwrap();
    let child = p.spawn(&[
        "--config",
        "./missive.toml",
        "send",
        p.issue(),
        "--subscribers",
        "lists/this week.csv",
        "--yes",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    assert_exit(&o, 130);
    let hint = format!(
        "missive --config ./missive.toml send {} --subscribers 'lists/this week.csv'",
        p.issue()
    );
    assert!(
        stderr(&o).contains(&hint),
        "{hint:?} not in:\n{}",
        stderr(&o)
    );
}

#[test]
fn a_whole_last_journal_entry_without_its_newline_is_not_sent_again() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, expected) = subscriber_list(3);
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    assert_exit(
        &p.run(&["send", p.issue(), "--yes", "--limit", "2"], SEND_ENV),
        3,
    );
    // A crash between the entry and its newline.
    let path = p
        .path()
        .join(".missive/2026-11-27-tides-and-timetables.journal");
    let journal = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, journal.trim_end_matches('\n')).unwrap();
    let status = p.run(&["status", p.issue()], &[]);
    assert!(
        stdout(&status).contains("sent:    2"),
        "{}",
        stdout(&status)
    );
    // The next send finishes the list; the one after must find everyone sent.
    assert_exit(&p.run(&["send", p.issue(), "--yes"], SEND_ENV), 0);
    let status = p.run(&["status", p.issue()], &[]);
    assert!(
        stdout(&status).contains("sent:    3"),
        "{}",
        stdout(&status)
    );
    assert_exit(&p.run(&["send", p.issue(), "--yes"], SEND_ENV), 0);
    let mut got = server.recipients();
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|(e, _)| e.clone()).collect();
    want.sort();
    assert_eq!(got, want, "nobody got a second copy");
}

#[test]
fn lists_that_cannot_be_sent_to_name_the_row() {
    let config = ConfigText::plain(0);
    assert_refused(
        &config,
        "email,name\rada@example.org,Ada\rbob@example.org,Bob\r",
        SEND_ENV,
        &["subscribers.csv: the lines end with a carriage return alone"],
    );
    assert_refused(
        &config,
        "email,name\nok@example.org,Ok\n\"\"\"q.x\"\"@example.org\",Q\nip@[192.0.2.1],I\nnul@example.org,\"N\u{0}\"\n",
        SEND_ENV,
        &[
            "line 3: `\\\"q.x\\\"@example.org` has a quoted local part",
            "line 4: `ip@[192.0.2.1]` has an IP address for a domain",
            "line 5: the name `N\\0` contains a control character",
            "has 3 invalid rows",
        ],
    );
}

#[test]
fn terminal_escapes_from_servers_and_lists_are_never_printed_raw() {
    let out = tempfile::tempdir().unwrap();
    let (list, expected) = subscriber_list(4);
    let refused = expected[1].0.clone();
    let server = SmtpServer::start(
        out.path(),
        &[
            "--reject-550",
            &refused,
            "--reject-text",
            "no such user \u{1b}]0;owned\u{7}\u{1b}[2J",
        ],
    );
    let list = format!("{list}evil\u{1b}[31m@example.org,Evil\n");
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    let o = p.run(&["send", p.issue(), "--yes", "--skip-invalid"], SEND_ENV);
    assert_exit(&o, 3);
    let status = p.run(&["status", p.issue()], &[]);
    for output in [&o, &status] {
        let all = format!("{}{}", stdout(output), stderr(output));
        assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'), "{all:?}");
    }
    assert!(
        stdout(&status).contains("no such user \\u{1b}]0;owned\\u{7}\\u{1b}[2J"),
        "{}",
        stdout(&status)
    );
}

#[test]
fn a_hard_refusal_suppresses_the_address_and_a_block_of_the_sender_does_not() {
    let out = tempfile::tempdir().unwrap();
    let (list, expected) = subscriber_list(12);
    let gone: Vec<String> = [2, 7].iter().map(|i| expected[*i].0.clone()).collect();
    let blocked = expected[4].0.clone();
    let server = SmtpServer::start(
        out.path(),
        &["--reject-550", &gone.join(","), "--reject-571", &blocked],
    );
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    let o = p.run(&["send", p.issue(), "--yes"], SEND_ENV);
    assert_exit(&o, 3);
    let log = std::fs::read_to_string(p.path().join(".missive/list-events.csv")).unwrap();
    for address in &gone {
        assert!(
            log.lines().any(|l| l.starts_with(&format!("{address},"))
                && l.contains(",bounced,bounce,at sending: 550 5.1.1 ")
                && l.ends_with(",2026-11-27-tides-and-timetables,")),
            "{address} not suppressed:\n{log}"
        );
    }
    let about_blocked: Vec<&str> = log.lines().filter(|l| l.contains(&blocked)).collect();
    assert!(
        about_blocked.len() == 1
            && about_blocked[0].contains(",sender-blocked,bounce,at sending: 550 5.7.1"),
        "a block of the sender is noted, not held against the reader: {about_blocked:?}"
    );
    // The next send, even retrying the refused, skips the gone addresses
    // and tries the blocked one again.
    let o = p.run(
        &["send", p.issue(), "--dry-run", "--retry-failed"],
        SEND_ENV,
    );
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("to send now:        1\n"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("2 suppressed"), "{}", stdout(&o));
    let o = p.run(&["subscribers"], &[]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("2 addresses suppressed (2 bounced)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn with_a_bounce_address_each_message_returns_to_its_own_signed_address() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let (list, expected) = subscriber_list(4);
    let config = format!(
        "{}\n[bounces]\naddress = \"bounces@news.example.com\"\n",
        plain_config(server.port, "")
    );
    let p = SendProject::new(&config, &list);
    assert_exit(&p.run(&["send", p.issue(), "--yes"], SEND_ENV), 0);
    let secret = Secret::new(SECRET).unwrap();
    for (envelope, raw) in server.messages() {
        let rcpt = envelope["rcpt_tos"][0].as_str().unwrap().to_string();
        let sender = envelope["mail_from"].as_str().unwrap();
        let local = sender.strip_suffix("@news.example.com").expect(sender);
        let tag = local.strip_prefix("bounces+").expect(local);
        assert!(local.len() <= 64);
        let tagged = secret.open_verp_tag(tag).expect("a tag this secret signed");
        assert_eq!(
            tagged.issue,
            missive::list::token::issue_id("2026-11-27-tides-and-timetables")
        );
        assert!(tagged.names(&rcpt));
        // The reader too: the tag is the one made for this recipient.
        assert_eq!(
            tag,
            secret.verp_tag("2026-11-27-tides-and-timetables", &rcpt)
        );
        // The From header is unchanged; the Message-ID carries the same
        // signed tag.
        let m = MessageParser::default().parse(&raw).unwrap();
        let id = m.message_id().unwrap();
        assert!(
            id.starts_with(&format!("{tag}.")) && id.ends_with("@example.com"),
            "{id}"
        );
        assert_eq!(
            m.from().unwrap().first().unwrap().address.as_deref(),
            Some("matt@example.com")
        );
    }
    assert_eq!(server.messages().len(), expected.len());

    // The file outbox writes the return path where a server would.
    let files = SendProject::new(
        &format!(
            "{NEWSLETTER}\n[sending]\ntransport = \"file\"\noutbox = \"outbox\"\n\n\
             [bounces]\naddress = \"bounces@news.example.com\"\n"
        ),
        &list,
    );
    assert_exit(&files.run(&["send", files.issue(), "--yes"], SEND_ENV), 0);
    for eml in std::fs::read_dir(files.path().join("outbox")).unwrap() {
        let text = std::fs::read_to_string(eml.unwrap().path()).unwrap();
        assert!(
            text.starts_with("Return-Path: <bounces+"),
            "{}",
            &text[..80]
        );
    }
    // A bounce address with no secret to sign it is refused.
    let o = files.run(&["send", files.issue(), "--yes", "--force"], &[]);
    assert_exit(&o, 1);
}

/// A reader who leaves while a long send goes on (an unsubscribe another
/// process records: `serve`, `bounces`, the author) is not sent the rest
/// of it: the send reads the log again as it reads the list.
#[test]
fn readers_who_leave_during_a_send_are_not_sent_it() {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &["--delay-ms", "50"]);
    let (list, expected) = subscriber_list(600);
    let p = SendProject::new(&plain_config(server.port, ""), &list);
    let child = p.spawn(&["send", p.issue(), "--yes"]);
    let started = std::time::Instant::now();
    while p
        .journal()
        .lines()
        .filter(|l| l.contains("\"sent\""))
        .count()
        < 40
    {
        assert!(started.elapsed() < std::time::Duration::from_mins(1));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The last 200 readers leave, recorded by another process.
    let leaving: Vec<&String> = expected[400..].iter().map(|(email, _)| email).collect();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(p.path().join(".missive/list-events.csv"))
        .unwrap();
    let mut lines = String::new();
    for e in &leaving {
        lines.push_str(e);
        lines.push_str(",2026-12-05T00:00:00Z,unsubscribed,one-click,,,\n");
    }
    std::io::Write::write_all(&mut log, lines.as_bytes()).unwrap();
    let sent_when_they_left = p
        .journal()
        .lines()
        .filter(|l| l.contains("\"sent\""))
        .count();
    assert!(
        sent_when_they_left < 300,
        "{sent_when_they_left}: too late to tell"
    );
    let o = child.wait_with_output().unwrap();
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("200 left the list while it was sent"),
        "{}",
        stdout(&o)
    );
    let got: std::collections::HashSet<String> = server.recipients().into_iter().collect();
    let sent_anyway: Vec<&&String> = leaving.iter().filter(|e| got.contains(**e)).collect();
    assert!(
        sent_anyway.is_empty(),
        "sent after they left: {sent_anyway:?}"
    );
    assert_eq!(got.len(), 400);
}
