//! What operating missive needs from the binary itself: a version that
//! names the commit, shell completions a shell accepts, and a manual page
//! `man` renders without a warning.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::common::*;

#[test]
fn the_version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let o = missive(dir.path(), &["--version"]);
    assert_exit(&o, 0);
    let v = stdout(&o);
    assert!(
        v.starts_with(&format!("missive {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
}

#[test]
fn bash_accepts_the_completions_and_they_know_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = missive(dir.path(), &["completions", "bash"]);
    assert_exit(&o, 0);
    let script = stdout(&o);
    for command in ["bounces", "signup-form", "subscribers", "import", "--links"] {
        assert!(script.contains(command), "{command} missing");
    }
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let checked = bash.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for shell in ["zsh", "fish"] {
        let o = missive(dir.path(), &["completions", shell]);
        assert_exit(&o, 0);
        assert!(stdout(&o).contains("signup-form"), "{shell}");
    }
    assert_exit(&missive(dir.path(), &["completions", "tcsh"]), 2);
}

#[test]
fn man_renders_the_manual_page_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let o = missive(dir.path(), &["man"]);
    assert_exit(&o, 0);
    let page = dir.path().join("missive.1");
    std::fs::write(&page, &o.stdout).unwrap();
    let rendered = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .output()
        .expect("man runs (bash tests/run installs man-db)");
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("missive - Write a newsletter issue"),
        "{text}"
    );
    assert!(text.contains("missive-bounces(1)"), "{text}");
    assert!(
        rendered.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
}

#[test]
fn systemd_accepts_the_service_and_timer_units() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secrets.env"), "").unwrap();
    let mut units = Vec::new();
    for unit in std::fs::read_dir(repo().join("contrib/systemd")).unwrap() {
        let unit = unit.unwrap().path();
        // The unit as installed, with this machine's paths for the binary,
        // the folder and the secrets file.
        let text = std::fs::read_to_string(&unit)
            .unwrap()
            .replace("/usr/local/bin/missive", env!("CARGO_BIN_EXE_missive"))
            .replace("/srv/newsletter", &dir.path().display().to_string())
            .replace(
                "/etc/missive/secrets.env",
                &dir.path().join("secrets.env").display().to_string(),
            );
        // A template is checked as an instance of it (an issue's file name).
        let name = unit
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace("@.", "@2026-12-04-weekly.toml.");
        let copy = dir.path().join(name);
        std::fs::write(&copy, text).unwrap();
        units.push(copy);
    }
    assert_eq!(units.len(), 5, "{units:?}");
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze runs (bash tests/run installs systemd)");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// `missive serve` in a copy of the example project, its log (stderr) in
/// `log`, with `args` after `serve`.
fn serve_logging(
    dir: &std::path::Path,
    log: &std::path::Path,
    args: &[&str],
) -> (std::process::Child, String) {
    let mut child = crate::common::command(dir)
        .args(args)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .env_remove("MISSIVE_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let url = announced_url(&mut child);
    (child, url)
}

#[test]
fn serve_logs_each_request_as_text_or_json_and_never_a_token_or_an_address() {
    let reader = "reader.one@example.org";
    let token = crate::common::list_secret().seal(reader);
    for format in ["text", "json"] {
        let dir = example_project();
        let log = dir.path().join("serve.log");
        let (mut child, url) = serve_logging(
            dir.path(),
            &log,
            &["--log-format", format, "serve", "--bind", "127.0.0.1:0"],
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let page = agent
            .get(format!("{url}unsubscribe?token={token}"))
            .call()
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let done = agent
            .post(format!("{url}unsubscribe?token={token}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("List-Unsubscribe=One-Click")
            .unwrap();
        assert_eq!(done.status().as_u16(), 200);
        let missing = agent.get(format!("{url}no-such-page")).call().unwrap();
        assert_eq!(missing.status().as_u16(), 404);
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap();
        let requests: Vec<&str> = text.lines().filter(|l| l.contains("request")).collect();
        assert_eq!(requests.len(), 3, "{format}: one line per request:\n{text}");
        if format == "json" {
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect();
            let asked: Vec<(String, String, u64)> = lines
                .iter()
                .filter(|l| l["message"] == "request")
                .map(|l| {
                    (
                        l["method"].as_str().unwrap().to_string(),
                        l["path"].as_str().unwrap().to_string(),
                        l["status"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                asked,
                [
                    ("GET".into(), "/unsubscribe".into(), 200),
                    ("POST".into(), "/unsubscribe".into(), 200),
                    ("GET".into(), "/no-such-page".into(), 404)
                ]
            );
            let event = lines.iter().find(|l| l["message"] == "list event").unwrap();
            assert_eq!(event["event"], "unsubscribed");
            assert_eq!(event["address"], "r…@example.org");
        } else {
            assert!(
                requests[0].contains("method=GET path=/unsubscribe status=200"),
                "{text}"
            );
        }
        for secret in [token.as_str(), SECRET, reader] {
            assert!(
                !text.contains(secret),
                "{format}: the log shows {secret}:\n{text}"
            );
        }
    }
}

/// Runs missive in `dir` with the secret set; the output must be one JSON
/// document on stdout.
fn json_of(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let o = crate::common::command(dir)
        .args(args)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(3),
        "{}",
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {}", stdout(&o)))
}

#[test]
fn json_outputs_parse_and_carry_their_documented_fields() {
    let dir = example_project();
    let issue = "issues/2026-11-27-tides-and-timetables.toml";

    let plan = json_of(dir.path(), &["send", issue, "--dry-run", "--json"]);
    let to_send = plan["to_send"].as_u64().unwrap();
    assert!(to_send > 0, "{plan}");
    assert_eq!(plan["built"].as_u64(), Some(to_send), "{plan}");
    assert_eq!(plan["can_go_now"].as_u64(), Some(to_send));
    assert_eq!(plan["already_sent"], 0);
    assert_eq!(plan["relays"][0]["name"], "outbox");
    assert_eq!(plan["relays"][0]["weight"], 1);
    for key in [
        "issue",
        "subject",
        "list",
        "journal",
        "left_for_later",
        "failed_before",
        "unknown_before",
        "skipped",
        "duplicates",
        "invalid",
        "unbuildable",
    ] {
        assert!(plan.get(key).is_some(), "{key} missing from {plan}");
    }
    assert!(
        !dir.path()
            .join(".missive/2026-11-27-tides-and-timetables.journal")
            .exists(),
        "a dry run journals nothing"
    );

    let o = crate::common::command(dir.path())
        .args(["send", issue, "--yes"])
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let status = json_of(dir.path(), &["status", issue, "--json"]);
    assert_eq!(status["sent"].as_u64(), Some(to_send), "{status}");
    assert_eq!(
        status["by_relay"]["outbox"].as_u64(),
        Some(to_send),
        "{status}"
    );
    assert_eq!(status["complete"], true);
    assert_eq!(status["pending"], 0);
    assert_eq!(status["problems"], serde_json::json!([]));
    for key in [
        "attempted",
        "delivered",
        "hard_bounces",
        "soft_bounces",
        "complaints",
        "sender_blocks",
    ] {
        assert!(
            status["feedback"].get(key).is_some(),
            "{key} missing from {status}"
        );
    }

    let list = json_of(dir.path(), &["subscribers", "--json"]);
    assert_eq!(list["subscribed"].as_u64(), Some(to_send), "{list}");
    for key in [
        "list",
        "inactive",
        "duplicates",
        "invalid",
        "log",
        "suppressed",
        "suppressed_by_event",
    ] {
        assert!(list.get(key).is_some(), "{key} missing from {list}");
    }
    assert_eq!(list["signups"]["confirmed"], 0);
}

/// `missive` in `dir` with logging at `info` in `format`, the secret and the
/// relay's password set: its output.
fn logged(
    dir: &std::path::Path,
    format: &str,
    args: &[&str],
    password: &str,
) -> std::process::Output {
    crate::common::command(dir)
        .args(["--log-format", format])
        .args(args)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .env("RELAY_PASSWORD", password)
        .env("MISSIVE_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The value of `name=` in a URL or header.
fn query_value(text: &str, name: &str) -> String {
    let start = text
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        + name.len()
        + 1;
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_%.~".contains(*c))
        .collect()
}

#[test]
fn no_log_of_a_whole_run_shows_a_secret_a_password_a_token_or_an_address() {
    use mail_parser::MessageParser;
    let password = "pa55-Word-9d1e";
    for format in ["text", "json"] {
        let mail = tempfile::tempdir().unwrap();
        let smtp = SmtpServer::start(mail.path(), &["--auth", &format!("sender:{password}")]);
        let port = crate::common::mta::free_port();
        let config = format!(
            "{NEWSLETTER}\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\
             username = \"sender\"\npassword_env = \"RELAY_PASSWORD\"\n\n\
             [signup]\nurl = \"http://127.0.0.1:{port}\"\n",
            smtp.port
        );
        let (list, readers) = subscriber_list(20);
        let p = SendProject::new(&config, &list);
        let mut logs = String::new();

        // A send over SMTP with AUTH, then what scripts and cron run.
        let o = logged(p.path(), format, &["send", p.issue(), "--yes"], password);
        assert_exit(&o, 0);
        logs.push_str(&stderr(&o));
        for args in [
            vec!["status", p.issue()],
            vec!["subscribers"],
            vec!["send", p.issue(), "--yes"],
        ] {
            logs.push_str(&stderr(&logged(p.path(), format, &args, password)));
        }
        assert!(logs.contains("send finished"), "{logs}");

        // serve: a one-click unsubscribe from a delivered message, a sign-up
        // and its confirmation.
        let log_path = p.path().join("serve.log");
        let mut serve = crate::common::command(p.path())
            .args([
                "--log-format",
                format,
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
            .env("RELAY_PASSWORD", password)
            .env("MISSIVE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        let url = announced_url(&mut serve);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let (_, first) = &smtp.messages()[0];
        let parsed = MessageParser::default().parse(first).unwrap();
        let header = parsed
            .header_raw("List-Unsubscribe")
            .unwrap()
            .replace(['\r', '\n', ' '], "");
        let https = header
            .split(['<', '>'])
            .find(|u| u.starts_with("https://"))
            .unwrap();
        let unsubscribe_token = query_value(https, "token");
        let path = &https[https.find("/unsubscribe").unwrap()..];
        let done = agent
            .post(format!("{}{}", url.trim_end_matches('/'), path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("List-Unsubscribe=One-Click")
            .unwrap();
        assert_eq!(done.status().as_u16(), 200);
        let newcomer = "newcomer.reader@example.net";
        let answer = agent
            .post(format!("{url}subscribe"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("email={newcomer}&name=New&website=").as_str())
            .unwrap();
        assert_eq!(answer.status().as_u16(), 303);
        let started = std::time::Instant::now();
        let confirmation = loop {
            let found = smtp
                .messages()
                .into_iter()
                .find(|(env, _)| env["rcpt_tos"][0] == newcomer);
            if let Some((_, raw)) = found {
                break raw;
            }
            assert!(started.elapsed().as_secs() < 30, "no confirmation arrived");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let text = MessageParser::default()
            .parse(&confirmation)
            .unwrap()
            .body_text(0)
            .unwrap()
            .to_string();
        let confirm_token = query_value(&text, "token");
        let confirmed = agent
            .post(format!("{url}confirm"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={confirm_token}").as_str())
            .unwrap();
        assert_eq!(confirmed.status().as_u16(), 200);
        let _ = serve.kill();
        let _ = serve.wait();
        let serve_log = std::fs::read_to_string(&log_path).unwrap();
        assert!(serve_log.matches("request").count() >= 3, "{serve_log}");
        logs.push_str(&serve_log);

        let mut needles = vec![
            SECRET.to_string(),
            password.to_string(),
            unsubscribe_token,
            confirm_token,
            newcomer.to_string(),
        ];
        needles.extend(readers.iter().map(|(email, _)| email.clone()));
        for needle in &needles {
            assert!(needle.len() >= 8, "{needle}");
            assert!(
                !logs.contains(needle.as_str()),
                "{format}: a log shows {needle}:\n{logs}"
            );
        }
    }
}

/// A reader that stops reading (`missive check | head -1`: the pipe
/// closes) ends a command quietly, never with a panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let dir = crate::common::example_project();
    for args in [
        &["check", "issues/2026-11-27-tides-and-timetables.toml"][..],
        &["status", "issues/2026-11-27-tides-and-timetables.toml"][..],
    ] {
        let mut child = crate::common::command(dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command writes anything.
        drop(child.stdout.take());
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(done.status.code().is_some(), "{args:?}: killed by a signal");
    }
}
