//! Sign-ups through `missive serve`, end to end over real HTTP, with the
//! confirmation emails delivered to the aiosmtpd test server: double
//! opt-in in Chromium, tokens that cannot be replayed, forged or stretched,
//! one answer for every address, limits, and no acknowledged sign-up lost
//! to `kill -9`.

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use missive::list::token::{Secret, SignupClaim};

/// `missive serve` with `[signup]`, its confirmation emails going to an
/// aiosmtpd server; the project has the example issue.
struct Signups {
    child: Child,
    url: String,
    port: u16,
    /// What `serve` was started with.
    serve: Vec<String>,
    project: SendProject,
    smtp: SmtpServer,
    _mail: tempfile::TempDir,
}

impl Signups {
    /// `signup` is added to `[signup]`; `events` is the project's list-event
    /// log before the server starts.
    fn start(signup: &str, events: &str) -> Signups {
        Signups::start_with(signup, events, &[], |_| {})
    }

    /// Like [`start`](Signups::start), with `serve` given `args` and the
    /// project first handed to `prepare`.
    fn start_with(
        signup: &str,
        events: &str,
        args: &[&str],
        prepare: impl FnOnce(&SendProject),
    ) -> Signups {
        let mail = tempfile::tempdir().unwrap();
        let smtp = SmtpServer::start(mail.path(), &[]);
        let port = crate::common::mta::free_port();
        let config = format!(
            "{}\n[signup]\nurl = \"http://127.0.0.1:{port}\"\nfields = [\"city\"]\n{signup}",
            plain_config(smtp.port, "")
        );
        let (list, _) = subscriber_list(3);
        let project = SendProject::new(&config, &list);
        if !events.is_empty() {
            std::fs::create_dir_all(project.path().join(".missive")).unwrap();
            std::fs::write(
                project.path().join(".missive/list-events.csv"),
                format!("email,time,event,source,detail,issue\n{events}"),
            )
            .unwrap();
        }
        prepare(&project);
        let bind = format!("127.0.0.1:{port}");
        let mut serve = vec!["serve", "--bind", &bind];
        serve.extend_from_slice(args);
        let (child, url) = spawn_server(project.path(), &serve);
        Signups {
            child,
            url,
            port,
            serve: serve.iter().map(ToString::to_string).collect(),
            project,
            smtp,
            _mail: mail,
        }
    }

    /// Kills `serve` with SIGKILL and starts it again.
    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let args: Vec<&str> = self.serve.iter().map(String::as_str).collect();
        let (child, url) = spawn_server(self.project.path(), &args);
        self.child = child;
        self.url = url;
    }

    /// Sends `serve` SIGTERM (as systemd stops it) and waits for it to
    /// exit: its exit status and how long it took.
    fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let start = Instant::now();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        (status, start.elapsed())
    }

    /// The messages waiting in the spool.
    fn spooled(&self) -> usize {
        std::fs::read_dir(self.project.path().join(".missive/spool")).map_or(0, Iterator::count)
    }

    /// Starts the relay again on the port it had.
    fn relay_back_up(&mut self, args: &[&str]) {
        let port = self.smtp.port.to_string();
        let out = self.smtp.out.clone();
        self.smtp.stop();
        let mut all = vec!["--port", port.as_str()];
        all.extend_from_slice(args);
        self.smtp = SmtpServer::start(&out, &all);
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into()
    }

    /// POSTs a form to `path`: the status, the headers but `date`, the body.
    fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
        self.post_with(path, form, &[])
    }

    /// Like [`post`](Signups::post), with request `headers`.
    fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, String) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = Self::agent()
            .post(&format!("{}{}", self.url, path.trim_start_matches('/')))
            .header("Content-Type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body.as_str()).unwrap();
        let headers = response
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str() != "date")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        (
            response.status().as_u16(),
            headers,
            response.body_mut().read_to_string().unwrap(),
        )
    }

    fn get(&self, path_and_query: &str) -> (u16, String) {
        let mut response = Self::agent()
            .get(&format!(
                "{}{}",
                self.url,
                path_and_query.trim_start_matches('/')
            ))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }

    fn sign_up(&self, email: &str, name: &str) -> (u16, Vec<(String, String)>, String) {
        self.post(
            "/subscribe",
            &[
                ("email", email),
                ("name", name),
                ("city", "Lyon"),
                ("website", ""),
            ],
        )
    }

    /// What `send --dry-run` of the project's issue prints.
    fn dry_run(&self) -> String {
        let o = self.project.run(
            &["send", self.project.issue(), "--dry-run"],
            &[("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)],
        );
        assert_exit(&o, 0);
        stdout(&o)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.project.path().join(".missive/list-events.csv"))
            .unwrap_or_default()
    }

    /// The log's lines about `email` with `event`.
    fn events(&self, email: &str, event: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.starts_with(&format!("{email},")) && l.contains(&format!(",{event},")))
            .count()
    }

    /// Waits until the spool holds `n` messages: every confirmation queued
    /// so far went (or was given up) but those `n`, so nothing more is on
    /// its way.
    fn wait_for_spool(&self, n: usize) {
        let start = Instant::now();
        while self.spooled() != n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} in the spool, not {n}",
                self.spooled()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `n` messages have arrived at the SMTP server.
    fn wait_for_mail(&self, n: usize) -> Vec<(serde_json::Value, Vec<u8>)> {
        let start = Instant::now();
        loop {
            let messages = self.smtp.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} of {n} messages arrived",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The confirmation token mailed to `email` (the latest).
    fn token_for(&self, email: &str) -> String {
        let messages = self.smtp.messages();
        let (_, raw) = messages
            .iter()
            .rev()
            .find(|(env, _)| env["rcpt_tos"][0] == email)
            .unwrap_or_else(|| panic!("no mail to {email}"));
        let text = confirmation_link(raw);
        text.split("token=").nth(1).unwrap().to_string()
    }
}

impl Drop for Signups {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The confirmation link in a message's text part.
fn confirmation_link(raw: &[u8]) -> String {
    let message = mail_parser::MessageParser::default().parse(raw).unwrap();
    let text = message.body_text(0).unwrap();
    text.split_whitespace()
        .find(|w| w.contains("/confirm?token="))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_string()
}

#[test]
fn a_sign_up_in_chromium_is_confirmed_by_the_button_alone_and_welcomed() {
    let s = Signups::start(
        "welcome = \"issues/2026-11-27-tides-and-timetables.toml\"\n",
        "",
    );
    // The author's page, with the form `missive signup-form` prints.
    let o = s.project.run(&["signup-form"], &[]);
    assert_exit(&o, 0);
    let form = stdout(&o);
    assert!(
        form.contains(&format!("action=\"http://127.0.0.1:{}/subscribe\"", s.port)),
        "{form}"
    );
    let page = s.project.path().join("page.html");
    std::fs::write(
        &page,
        format!("<!doctype html><title>Sign up</title>{form}"),
    )
    .unwrap();
    let node = |args: &[&str]| {
        Command::new("node")
            .arg(repo().join("tests/preview/signup.mjs"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (bash tests/run installs it with playwright-core and chromium)")
    };
    let reader = "new.reader@example.org";
    let out = node(&[
        "form",
        &format!("file://{}", page.display()),
        "New.Reader@Example.org",
        "Nell",
    ])
    .wait_with_output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(s.events(reader, "pending"), 1, "{}", s.log());

    // The confirmation email: an issue's headers, to the reader, one link.
    let messages = s.wait_for_mail(1);
    let (envelope, raw) = &messages[0];
    // Sent to the address as the reader typed it.
    assert_eq!(envelope["rcpt_tos"][0], "New.Reader@Example.org");
    let message = mail_parser::MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        message.subject(),
        Some("Please confirm your subscription to The Slow Commute")
    );
    assert!(message.header("List-Unsubscribe").is_some());
    // The name the form gave is not in the confirmation (it is recorded on
    // confirming).
    assert!(message.body_text(0).unwrap().contains("Hello there,"));
    let link = confirmation_link(raw);
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{}/confirm?token=", s.port)),
        "{link}"
    );

    // Opening the link (as a scanner would) subscribes nobody; the button does.
    let mut browser = node(&["confirm", &link]);
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(browser.stdout.take().unwrap()));
    for line in lines.by_ref() {
        if line.unwrap() == "waiting" {
            break;
        }
    }
    assert_eq!(
        s.events(reader, "confirmed"),
        0,
        "the page alone confirmed: {}",
        s.log()
    );
    browser.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(browser.wait().unwrap().success(), "{rest:?}");
    assert_eq!(s.events(reader, "confirmed"), 1, "{}", s.log());
    let confirmed = s
        .log()
        .lines()
        .find(|l| l.contains(",confirmed,"))
        .unwrap()
        .to_string();
    assert!(
        confirmed.contains(",signup,name=Nell&token="),
        "{confirmed}"
    );
    assert!(
        !confirmed.contains("ip="),
        "no IP address without record_ip: {confirmed}"
    );

    // The welcome (the example issue) reaches the new reader, and the next
    // send counts them.
    let messages = s.wait_for_mail(2);
    let (envelope, raw) = &messages[1];
    assert_eq!(
        envelope["rcpt_tos"][0], reader,
        "the welcome goes to the address as recorded"
    );
    let welcome = mail_parser::MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        welcome.subject(),
        Some("Tides and timetables: what the week meant")
    );
    let next = s.project.path().join("issues/2026-12-04-next.toml");
    std::fs::copy(s.project.path().join(s.project.issue()), &next).unwrap();
    let o = s.project.run(
        &["send", "issues/2026-12-04-next.toml", "--dry-run"],
        &[("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)],
    );
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("to send now:        4\n"),
        "{}",
        stdout(&o)
    );
    let o = s.project.run(&["subscribers"], &[]);
    assert!(
        stdout(&o).contains("sign-ups: 1 confirmed, 0 waiting"),
        "{}",
        stdout(&o)
    );
    // Folded into the CSV: a row of its own.
    assert_exit(&s.project.run(&["subscribers", "--fold"], &[]), 0);
    let csv = std::fs::read_to_string(s.project.path().join("subscribers.csv")).unwrap();
    assert!(
        csv.ends_with("new.reader@example.org,Nell,subscribed,\n"),
        "{csv}"
    );
}

#[test]
fn the_author_adds_and_removes_readers_through_the_same_log() {
    let s = Signups::start("record_ip = true\n", "");
    let env = [("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)];
    let o = s.project.run(
        &[
            "subscribers",
            "add",
            "Paper@Example.org",
            "--name",
            "On Paper",
            "--confirmed",
        ],
        &env,
    );
    assert_exit(&o, 0);
    assert_eq!(s.events("paper@example.org", "confirmed"), 1, "{}", s.log());
    // Without --confirmed: a confirmation link, sent now, and pending.
    let o = s
        .project
        .run(&["subscribers", "add", "asked@example.org"], &env);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("asked@example.org is pending"),
        "{}",
        stdout(&o)
    );
    assert_eq!(s.events("asked@example.org", "pending"), 1, "{}", s.log());
    s.wait_for_mail(1);
    let token = s.token_for("asked@example.org");
    let o = s
        .project
        .run(&["subscribers", "remove", "reader0001@example.org"], &env);
    assert_exit(&o, 0);
    // 3 on the list, one removed, one added on paper; the one asked is not
    // a reader until they confirm.
    let shown = s.dry_run();
    assert!(shown.contains("to send now:        3\n"), "{shown}");
    assert_eq!(s.post("/confirm", &[("token", &token)]).0, 200);
    let shown = s.dry_run();
    assert!(shown.contains("to send now:        4\n"), "{shown}");
    let o = s
        .project
        .run(&["subscribers", "add", "not an address"], &env);
    assert_exit(&o, 1);
    // The removed reader signs up again and confirms: back on the list, and
    // the record says they had unsubscribed (and, asked to, where from).
    assert_eq!(s.sign_up("reader0001@example.org", "Again").0, 303);
    s.wait_for_mail(2);
    let token = s.token_for("reader0001@example.org");
    assert_eq!(s.post("/confirm", &[("token", &token)]).0, 200);
    let line = s
        .log()
        .lines()
        .rfind(|l| l.starts_with("reader0001@example.org,"))
        .unwrap()
        .to_string();
    assert!(
        line.contains(",confirmed,signup,name=Again&city=Lyon&token=")
            && line.contains("&ip=127.0.0.1&was=unsubscribed"),
        "{line}"
    );
    let shown = s.dry_run();
    assert!(shown.contains("to send now:        5\n"), "{shown}");
}

#[test]
fn send_latest_welcomes_with_the_latest_issue_sent() {
    let env = [("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)];
    let s = Signups::start_with("", "", &["--send-latest"], |p| {
        assert_exit(&p.run(&["send", p.issue(), "--yes"], &env), 0);
    });
    let sent = s.smtp.messages().len();
    assert_eq!(s.sign_up("late@example.org", "").0, 303);
    s.wait_for_mail(sent + 1);
    let token = s.token_for("late@example.org");
    assert_eq!(s.post("/confirm", &[("token", &token)]).0, 200);
    let messages = s.wait_for_mail(sent + 2);
    let (envelope, raw) = messages.last().unwrap();
    assert_eq!(envelope["rcpt_tos"][0], "late@example.org");
    let welcome = mail_parser::MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        welcome.subject(),
        Some("Tides and timetables: what the week meant")
    );
    // Nothing sent yet: --send-latest has nothing to send, and says so.
    let fresh = SendProject::new(
        &format!(
            "{}\n[signup]\nurl = \"http://127.0.0.1:1\"\n",
            plain_config(s.smtp.port, "")
        ),
        "email\n",
    );
    let o = fresh.run(&["serve", "--bind", "127.0.0.1:0", "--send-latest"], &env);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("no issue has been sent yet"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_link_that_is_replayed_expired_cut_or_forged_records_nothing() {
    let s = Signups::start("confirm_hours = 48\n", "");
    let reader = "ada@example.org";
    assert_eq!(s.sign_up(reader, "Ada").0, 303);
    s.wait_for_mail(1);
    let token = s.token_for(reader);
    let secret = crate::common::list_secret();
    let claim = |at: i64| SignupClaim {
        email: "eve@example.org".into(),
        name: String::new(),
        fields: Vec::new(),
        at,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = secret.seal_signup(&claim(now - 49 * 3600));
    let future = secret.seal_signup(&claim(now + 3600));
    let forged = Secret::new("another secret, also long enough")
        .unwrap()
        .seal_signup(&claim(now));
    let unsubscribe_token = secret.seal("eve@example.org");
    let before = s.log();
    for (bad, status) in [
        (&token[..token.len() - 3], 403),
        (expired.as_str(), 400),
        (future.as_str(), 400),
        (forged.as_str(), 403),
        (unsubscribe_token.as_str(), 403),
        ("", 400),
    ] {
        assert_eq!(
            s.get(&format!("/confirm?token={bad}")).0,
            status,
            "GET {bad}"
        );
        assert_eq!(
            s.post("/confirm", &[("token", bad)]).0,
            status,
            "POST {bad}"
        );
    }
    assert_eq!(s.log(), before, "a bad link recorded something");
    // The genuine one: a GET changes nothing, a POST confirms, once.
    for _ in 0..3 {
        assert_eq!(s.get(&format!("/confirm?token={token}")).0, 200);
    }
    assert_eq!(s.log(), before);
    assert_eq!(s.post("/confirm", &[("token", &token)]).0, 200);
    assert_eq!(s.events(reader, "confirmed"), 1);
    assert_eq!(s.post("/confirm", &[("token", &token)]).0, 400, "replayed");
    assert_eq!(s.get(&format!("/confirm?token={token}")).0, 400, "replayed");
    // Even after the reader leaves, the old link does not bring them back.
    let o = s.project.run(&["subscribers", "remove", reader], &[]);
    assert_exit(&o, 0);
    assert_eq!(s.post("/confirm", &[("token", &token)]).0, 400);
    assert_eq!(s.events(reader, "confirmed"), 1);
    assert_eq!(s.events(reader, "unsubscribed"), 1);
}

/// The answer is one for every address; who gets a confirmation is decided
/// by the CSV and the log together, as a send sees them: nobody the CSV or
/// the log has as bounced or complained, nobody already subscribed in
/// either, and the CSV is read again when the author changes it.
#[test]
fn the_answer_is_the_same_for_every_address_and_the_suppressed_get_no_mail() {
    let now = "2026-11-01T00:00:00Z";
    let s = Signups::start_with(
        "",
        &format!(
            "complained@example.org,{now},complained,complaint,Feedback-Type: abuse,\n\
             bounced@example.org,{now},bounced,bounce,550 5.1.1 no such user,\n\
             confirmed@example.org,{now},confirmed,signup,name=C&token=00,\n"
        ),
        &[],
        |p| {
            let list = p.path().join("subscribers.csv");
            let mut csv = std::fs::read_to_string(&list).unwrap();
            csv.push_str(
                "csv.bounced@example.org,B,bounced,X\n\
                 csv.complained@example.org,C,complained,X\n\
                 csv.gone@example.org,G,unsubscribed,X\n",
            );
            std::fs::write(&list, csv).unwrap();
        },
    );
    let first = s.sign_up("pending@example.org", "P");
    s.wait_for_mail(1);
    let answers: Vec<_> = [
        "new@example.org",
        "pending@example.org",
        "confirmed@example.org",
        "complained@example.org",
        "bounced@example.org",
        "reader0001@example.org",
        "csv.bounced@example.org",
        "csv.complained@example.org",
        "csv.gone@example.org",
    ]
    .iter()
    .map(|email| (email, s.sign_up(email, "X")))
    .collect();
    for (email, answer) in &answers {
        assert_eq!(*answer, first, "the answer for {email} differs");
    }
    assert_eq!(first.0, 303);
    assert!(
        first.1.contains(&("location".into(), "/subscribed".into())),
        "{:?}",
        first.1
    );
    // The author marks an address bounced in the CSV while serve runs.
    let list = s.project.path().join("subscribers.csv");
    let mut csv = std::fs::read_to_string(&list).unwrap();
    csv.push_str("later.bounced@example.org,L,bounced,X\n");
    std::fs::write(&list, csv).unwrap();
    assert_eq!(s.sign_up("later.bounced@example.org", "X"), first);
    s.wait_for_mail(3);
    s.wait_for_spool(0);
    let to: BTreeSet<String> = s.smtp.recipients().into_iter().collect();
    for quiet in [
        "complained@example.org",
        "bounced@example.org",
        "confirmed@example.org",
        "reader0001@example.org",
        "csv.bounced@example.org",
        "csv.complained@example.org",
        "later.bounced@example.org",
    ] {
        assert!(!to.contains(quiet), "{quiet} was mailed: {to:?}");
    }
    let expected: BTreeSet<String> = [
        "new@example.org",
        "pending@example.org",
        "csv.gone@example.org",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(to, expected);
    // Not an address at all: told so (this says nothing about anyone).
    assert_eq!(s.sign_up("not an address", "X").0, 400);
}

/// Whatever a form's name field says never reaches the confirmation
/// email (a stranger's words, from the newsletter's own signed domain);
/// the name is recorded once the reader confirms.
#[test]
fn the_name_a_form_gives_stays_out_of_the_confirmation_email() {
    let s = Signups::start("", "");
    let phishing =
        "Your account is locked. Verify now at https://evil.example/login to avoid deletion,";
    s.sign_up("target@example.org", phishing);
    let messages = s.wait_for_mail(1);
    let raw = String::from_utf8_lossy(&messages[0].1).into_owned();
    assert!(!raw.contains("evil.example"), "{raw}");
    assert!(!raw.contains("account is locked"), "{raw}");
    let parsed = mail_parser::MessageParser::default()
        .parse(&messages[0].1)
        .unwrap();
    assert!(parsed.body_text(0).unwrap().contains("Hello there,"));
    assert_eq!(
        parsed.to().unwrap().first().unwrap().name(),
        None,
        "no name in To"
    );
    let token = s.token_for("target@example.org");
    let (status, _, _) = s.post("/confirm", &[("token", &token)]);
    assert_eq!(status, 200);
    assert!(
        s.log().contains("account+is+locked"),
        "the name is recorded on confirmation:\n{}",
        s.log()
    );
}

#[test]
fn a_hundred_sign_ups_of_one_address_send_one_email_and_a_filled_honeypot_none() {
    let s = Signups::start("", "");
    let victim = "victim@example.org";
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| s.sign_up(victim, "V").0))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|a| *a == 303), "{answers:?}");
    let bot = s.post(
        "/subscribe",
        &[
            ("email", "bot-target@example.org"),
            ("website", "http://spam.example"),
        ],
    );
    assert_eq!(bot.0, 303);
    s.wait_for_spool(0);
    let to = s.smtp.recipients();
    assert_eq!(to.iter().filter(|r| *r == victim).count(), 1, "{to:?}");
    assert!(!to.iter().any(|r| r == "bot-target@example.org"), "{to:?}");
    assert_eq!(s.events(victim, "pending"), 1, "{}", s.log());
    assert!(!s.log().contains("bot-target"), "{}", s.log());
}

/// Sends `forms` to `/subscribe` from `threads` threads at once; returns
/// each address whose sign-up got the usual answer.
fn sign_up_all(url: &str, emails: &[String], threads: usize) -> Vec<String> {
    let chunks: Vec<&[String]> = emails.chunks(emails.len().div_ceil(threads)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let agent = Signups::agent();
                    let mut answered = Vec::new();
                    for email in chunk {
                        let body = format!(
                            "email={}",
                            url::form_urlencoded::byte_serialize(email.as_bytes())
                                .collect::<String>()
                        );
                        let Ok(response) = agent
                            .post(&format!("{url}subscribe"))
                            .header("Content-Type", "application/x-www-form-urlencoded")
                            .send(body.as_str())
                        else {
                            continue;
                        };
                        if response.status().as_u16() == 303 {
                            answered.push(email.clone());
                        }
                    }
                    answered
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// The log's lines, each checked to be a whole record.
fn well_formed(log: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(log.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.expect("a well-formed line");
            assert_eq!(r.len(), 7, "{r:?}");
            r.iter().map(String::from).collect()
        })
        .collect()
}

#[test]
fn a_thousand_concurrent_sign_ups_are_each_recorded_once_and_none_is_lost_to_kill_9() {
    let s = Signups::start("per_ip_per_hour = 10000000\n", "");
    // 1,000 sign-ups of 500 addresses, two each, all at once.
    let emails: Vec<String> = (0..1000)
        .map(|i| format!("r{:03}@example.org", i % 500))
        .collect();
    let answered = sign_up_all(&s.url, &emails, 32);
    assert_eq!(answered.len(), 1000);
    let records = well_formed(&s.log());
    let mut pending: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        assert_eq!(r[2], "pending");
        *pending.entry(r[0].as_str()).or_default() += 1;
    }
    assert_eq!(pending.len(), 500);
    assert!(
        pending.values().all(|n| *n == 1),
        "an address recorded twice"
    );
    // Their 500 confirmations, all at once.
    s.wait_for_mail(500);
    let tokens: Vec<String> = s
        .smtp
        .messages()
        .iter()
        .map(|(_, raw)| {
            confirmation_link(raw)
                .split("token=")
                .nth(1)
                .unwrap()
                .to_string()
        })
        .collect();
    let confirmed: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = tokens
            .chunks(16)
            .map(|chunk| {
                scope.spawn(|| {
                    chunk
                        .iter()
                        .filter(|t| s.post("/confirm", &[("token", t)]).0 == 200)
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(confirmed, 500);
    let records = well_formed(&s.log());
    let confirmed: BTreeSet<&str> = records
        .iter()
        .filter(|r| r[2] == "confirmed")
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(confirmed.len(), 500);
    assert_eq!(records.iter().filter(|r| r[2] == "confirmed").count(), 500);
    drop(s);

    // kill -9 in the middle of 1,000 sign-ups: every one answered is on disk.
    let mut s = Signups::start("per_ip_per_hour = 10000000\n", "");
    let emails: Vec<String> = (0..1000).map(|i| format!("k{i:04}@example.org")).collect();
    let pid = s.child.id();
    let answered = std::thread::scope(|scope| {
        let url = s.url.clone();
        let signing = scope.spawn(move || sign_up_all(&url, &emails, 16));
        let start = Instant::now();
        while s.log().lines().count() < 200 && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        signing.join().unwrap()
    });
    let _ = s.child.wait();
    assert!(
        !answered.is_empty() && answered.len() < 1000,
        "{} answered: the kill came too early or too late",
        answered.len()
    );
    let on_disk: BTreeSet<String> = well_formed(&s.log())
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let lost: Vec<&String> = answered.iter().filter(|e| !on_disk.contains(*e)).collect();
    assert!(lost.is_empty(), "answered but not recorded: {lost:?}");
}

/// Confirmation mail is spooled (synced) before the reader is told to look
/// in their inbox: a relay down for a while, a `kill -9` after a burst of
/// sign-ups, and a SIGTERM with mail queued each lose none of it.
#[test]
fn confirmations_survive_a_relay_outage_kill_9_and_sigterm() {
    let mut s = Signups::start("per_ip_per_hour = 1000\n", "");
    let mut expected = BTreeSet::new();

    // The relay is down while six sign up; it comes back five seconds
    // later, and the retries deliver all six.
    s.smtp.stop();
    for i in 0..6 {
        let email = format!("outage{i}@example.org");
        assert_eq!(s.sign_up(&email, "").0, 303);
        expected.insert(email);
    }
    std::thread::sleep(Duration::from_secs(5));
    s.relay_back_up(&[]);
    s.wait_for_mail(expected.len());

    // Down again: 40 sign up, serve is killed, the 40 wait in the spool;
    // started again with the relay up, it sends them.
    s.smtp.stop();
    for i in 0..40 {
        let email = format!("burst{i}@example.org");
        assert_eq!(s.sign_up(&email, "").0, 303);
        expected.insert(email);
    }
    assert_eq!(s.spooled(), 40);
    s.kill_and_restart();
    s.relay_back_up(&[]);
    s.wait_for_mail(expected.len());

    // A slow relay, 20 queued, SIGTERM at once: serve sends what is
    // queued before it exits.
    s.relay_back_up(&["--delay-ms", "150"]);
    for i in 0..20 {
        let email = format!("term{i}@example.org");
        assert_eq!(s.sign_up(&email, "").0, 303);
        expected.insert(email);
    }
    let (status, _) = s.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(s.spooled(), 0, "SIGTERM sent what was queued");

    // Down at SIGTERM: serve stops within its drain time, the mail stays
    // spooled, and the next start sends it.
    s.kill_and_restart();
    s.smtp.stop();
    for i in 0..5 {
        let email = format!("later{i}@example.org");
        assert_eq!(s.sign_up(&email, "").0, 303);
        expected.insert(email);
    }
    let (status, took) = s.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(s.spooled(), 5);
    s.relay_back_up(&[]);
    s.kill_and_restart();
    s.wait_for_mail(expected.len());

    let to: Vec<String> = s.smtp.recipients();
    assert_eq!(to.len(), expected.len(), "none twice: {to:?}");
    assert_eq!(to.iter().cloned().collect::<BTreeSet<_>>(), expected);
    // And the journal records each as sent once, through the relay.
    let journal =
        std::fs::read_to_string(s.project.path().join(".missive/signup.journal")).unwrap();
    for email in &expected {
        let sent = journal
            .lines()
            .filter(|l| l.contains(&format!("\"{email}\"")) && l.contains("\"sent\""))
            .count();
        assert_eq!(sent, 1, "{email} confirmed {sent} times:\n{journal}");
    }
    assert_eq!(s.spooled(), 0);
}

/// Confirmation emails count against the relay's `daily_limit` (they are
/// journaled under its name): with a limit of 30, 40 sign-ups get 30 now,
/// the other 10 wait in the spool for the limit to free, and the plan of
/// the next send sees the relay full.
#[test]
fn sign_up_mail_honours_the_relays_daily_limit() {
    let s = Signups::start_with("per_ip_per_hour = 1000\n", "", &[], |p| {
        let config = p.path().join("missive.toml");
        let text = ConfigText::parse(&std::fs::read_to_string(&config).unwrap())
            .set("smtp.daily_limit", "30")
            .to_string();
        std::fs::write(&config, text).unwrap();
    });
    for i in 0..40 {
        assert_eq!(s.sign_up(&format!("q{i}@example.org"), "").0, 303);
    }
    s.wait_for_mail(30);
    s.wait_for_spool(10);
    assert_eq!(s.smtp.messages().len(), 30, "the limit holds");
    assert_eq!(s.spooled(), 10, "the rest wait in the spool");
    let o = s.project.run(
        &["send", s.project.issue(), "--dry-run", "--json"],
        &[("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)],
    );
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["can_go_now"], 0, "{plan}");
}

/// The limits on confirmation emails hold for one inbox under its many
/// spellings (dots and `+tags` at Gmail, tags anywhere) and across a
/// restart (they are read from the log); behind a proxy, the per-IP limit
/// counts the entry the proxy added to `X-Forwarded-For`, whatever the
/// client put before it, with or without a port.
#[test]
fn limits_hold_for_one_inbox_across_a_restart_and_behind_a_proxy() {
    let mut s = Signups::start("per_ip_per_hour = 1000\n", "");
    s.sign_up("bomb@gmail.com", "");
    s.wait_for_mail(1);
    for spelling in [
        "b.omb@gmail.com",
        "bomb+1@gmail.com",
        "B.O.M.B+x@googlemail.com",
    ] {
        assert_eq!(s.sign_up(spelling, "").0, 303);
    }
    s.kill_and_restart();
    assert_eq!(s.sign_up("bomb+2@gmail.com", "").0, 303);
    s.wait_for_mail(1);
    s.wait_for_spool(0);
    assert_eq!(s.smtp.messages().len(), 1, "one inbox, one confirmation");
    drop(s);

    let s = Signups::start("per_ip_per_hour = 2\nbehind_proxy = true\n", "");
    for i in 0..4 {
        let forged = format!("198.51.100.{i}, 203.0.113.5:4444");
        let email = format!("p{i}@example.org");
        let (status, _, _) = s.post_with(
            "/subscribe",
            &[("email", &email), ("name", "")],
            &[("X-Forwarded-For", &forged)],
        );
        assert_eq!(status, 303);
    }
    s.wait_for_mail(2);
    s.wait_for_spool(0);
    assert_eq!(
        s.smtp.messages().len(),
        2,
        "the proxy's entry is the one counted"
    );
}

/// What goes wrong with sign-up mail is logged through the server's log
/// (JSON here, as `--log-format json` asks), with the reader's address
/// masked, never printed beside it; so is each sign-up a limit turns
/// away, with how many it has turned away.
#[test]
fn problems_are_logged_in_the_logs_format_with_addresses_masked() {
    let mail = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(mail.path(), &["--reject-550", "refused@example.org"]);
    let port = crate::common::mta::free_port();
    let config = format!(
        "{}\n[signup]\nurl = \"http://127.0.0.1:{port}\"\n",
        plain_config(smtp.port, "")
    );
    let (list, _) = subscriber_list(3);
    let project = SendProject::new(&config, &list);
    let mut child = crate::common::command(project.path())
        .args([
            "--log-format",
            "json",
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .env("MISSIVE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(project.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let url = crate::common::announced_url(&mut child);
    let body = "email=refused%40example.org&name=R";
    let status = Signups::agent()
        .post(&format!("{url}subscribe"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body)
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 303);
    // Two bots fill the honeypot: each refusal is logged, and counted.
    for _ in 0..2 {
        let status = Signups::agent()
            .post(&format!("{url}subscribe"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("email=bot%40example.org&website=spam")
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 303);
    }
    // The refused confirmation is logged once the relay said no, and both
    // honeypot refusals before that.
    let read_log = || std::fs::read_to_string(project.path().join("serve.log")).unwrap();
    let start = Instant::now();
    while !read_log().contains("request problem") && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = read_log();
    assert!(!log.contains("refused@example.org"), "{log}");
    let problem = log
        .lines()
        .find(|l| l.contains("request problem"))
        .unwrap_or_else(|| panic!("no problem logged:\n{log}"));
    let line: serde_json::Value = serde_json::from_str(problem).expect("a JSON line");
    let text = line.to_string();
    assert!(text.contains("r…@example.org"), "{text}");
    assert!(text.contains("550"), "{text}");
    let refusals: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.contains("sign-up refused"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(refusals.len(), 2, "{log}");
    assert_eq!(refusals[1]["limit"], "honeypot", "{log}");
    assert_eq!(refusals[1]["total"], 2, "{log}");
}

/// The web version of an issue is a web page: it invites a reader who was
/// forwarded the issue to subscribe, at `serve`'s own form; the email's
/// footer does too; neither the page nor a long issue's web version carries
/// the email's clip banner, reply line or unsubscribe.
#[test]
fn the_web_version_and_the_email_invite_a_forwarded_reader_to_the_form() {
    let s = Signups::start("", "");
    let p = &s.project;
    // A long issue beside the example: its email is clipped.
    let long = synthetic_issue(&p.path().join("issues"), 200);
    let o = p.run(&["archive", "--out", "site"], &[]);
    assert_exit(&o, 0);
    let subscribe = format!("href=\"http://127.0.0.1:{}/subscribe\"", s.port);
    let stem = long.file_stem().unwrap().to_string_lossy().into_owned();
    for page in ["2026-11-27-tides-and-timetables".to_string(), stem.clone()] {
        let html =
            std::fs::read_to_string(p.path().join(format!("site/{page}/index.html"))).unwrap();
        assert!(html.contains(&subscribe), "{page}: no subscribe link");
        for email_only in [
            "if your mail app cuts it short",
            "Reply to this email",
            "mailto:",
            "View this issue in your browser",
            ">Unsubscribe<",
        ] {
            assert!(!html.contains(email_only), "{page}: {email_only}");
        }
    }
    let web = std::fs::read_to_string(p.path().join(format!("site/{stem}/index.html"))).unwrap();
    for n in 1..=200 {
        assert!(web.contains(&format!("id=\"item-{n}\"")), "item {n}");
    }
    // The email of the long issue is clipped and says so; its footer
    // invites a forwarded reader too.
    let out = p.path().join("out");
    assert_exit(&build(p.path(), &long, &out), 0);
    let email = std::fs::read_to_string(out.join(format!("{stem}.html"))).unwrap();
    assert!(email.contains("if your mail app cuts it short"));
    assert!(email.contains(&format!("Forwarded to you? <a {subscribe}")));

    // The form is served where the link lands, posting back to serve.
    let (status, page) = s.get("/subscribe");
    assert_eq!(status, 200, "{page}");
    for field in [
        "<form method=\"post\" action=\"/subscribe\"",
        "name=\"email\"",
        "name=\"name\"",
        "name=\"city\"",
    ] {
        assert!(page.contains(field), "{field}: {page}");
    }
}

/// Readers an import brought over unconfirmed get nothing until
/// `subscribers reconfirm` mails them a link through the sign-up path, once
/// each; following it puts them on the list.
#[test]
fn readers_an_import_left_pending_are_reconfirmed_once_through_the_signup_path() {
    let s = Signups::start("", "");
    let env = [("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)];
    let kit = fixture("migrate/kit/subscribers.csv");
    let o = s
        .project
        .run(&["subscribers", "import", kit.to_str().unwrap()], &env);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("1 reader never confirmed and will not be mailed"),
        "{}",
        stdout(&o)
    );
    // The 3 of the list and Kit's 4 subscribed; the pending one is not mailed.
    assert!(
        s.dry_run().contains("to send now:        7\n"),
        "{}",
        s.dry_run()
    );
    let o = s
        .project
        .run(&["subscribers", "reconfirm", "--dry-run"], &env);
    assert_exit(&o, 0);
    assert_eq!(
        stdout(&o),
        "would mail later@example.com\n1 reader waiting for a confirmation link (dry run: nobody mailed)\n"
    );
    assert!(s.smtp.messages().is_empty(), "a dry run mails nobody");
    let o = s.project.run(&["subscribers", "reconfirm"], &env);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("mailed later@example.com"),
        "{}",
        stdout(&o)
    );
    s.wait_for_mail(1);
    assert_eq!(s.events("later@example.com", "pending"), 2, "{}", s.log());
    assert!(s.log().contains(",pending,reconfirm,"), "{}", s.log());
    // Run again: everyone waiting was mailed already.
    let o = s.project.run(&["subscribers", "reconfirm"], &env);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("0 readers waiting"), "{}", stdout(&o));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.smtp.messages().len(), 1, "mailed once");
    assert!(
        s.dry_run().contains("to send now:        7\n"),
        "not yet confirmed"
    );
    // The link confirms them (once: a replay changes nothing).
    let token = s.token_for("later@example.com");
    assert_eq!(s.post("/confirm", &[("token", &token)]).0, 200);
    s.post("/confirm", &[("token", &token)]);
    assert_eq!(s.events("later@example.com", "confirmed"), 1, "{}", s.log());
    assert!(
        s.dry_run().contains("to send now:        8\n"),
        "{}",
        s.dry_run()
    );
    let line = s
        .log()
        .lines()
        .rfind(|l| l.starts_with("later@example.com,"))
        .unwrap()
        .to_string();
    assert!(line.contains(",confirmed,signup,name=Later"), "{line}");
}

/// `subscribers reconfirm` counts against the relay's daily limit as
/// `serve`'s confirmations do, and records a reader only once the relay
/// took their mail: a refused reader and those past the limit are asked by
/// the next run, and nobody twice.
#[test]
fn reconfirm_keeps_to_the_daily_limit_and_asks_the_refused_again() {
    let mut s = Signups::start_with("", "", &[], |p| {
        let config = p.path().join("missive.toml");
        let text = ConfigText::parse(&std::fs::read_to_string(&config).unwrap())
            .set("smtp.daily_limit", "3")
            .to_string();
        std::fs::write(&config, text).unwrap();
    });
    s.relay_back_up(&["--reject-550", "p1@example.com"]);
    let env = [("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)];
    let export = s.project.path().join("beehiiv.csv");
    let rows: String = std::iter::once("email,status,created_at\n".to_string())
        .chain((0..5).map(|i| format!("p{i}@example.com,validating,2026-12-01 00:00:00 UTC\n")))
        .collect();
    std::fs::write(&export, rows).unwrap();
    let o = s
        .project
        .run(&["subscribers", "import", export.to_str().unwrap()], &env);
    assert_exit(&o, 0);
    let reconfirm = |s: &Signups| {
        let o = s.project.run(&["subscribers", "reconfirm"], &env);
        (o.status.code(), stdout(&o))
    };
    let (code, out) = reconfirm(&s);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("mailed p0@example.com\nnot mailed p1@example.com: not sent: "),
        "{out}"
    );
    assert!(
        out.contains("has sent its daily limit of 3 messages"),
        "{out}"
    );
    assert!(!out.contains("p4@example.com"), "{out}");
    s.wait_for_mail(3);
    let recorded = |s: &Signups| -> Vec<usize> {
        (0..5)
            .map(|i| s.events(&format!("p{i}@example.com"), "pending"))
            .collect()
    };
    // The import's pending event, and one more for each reader mailed.
    assert_eq!(recorded(&s), vec![2, 1, 2, 2, 1], "{}", s.log());
    // A day's limit later (here: a higher limit), the rest are asked.
    let config = s.project.path().join("missive.toml");
    let text = ConfigText::parse(&std::fs::read_to_string(&config).unwrap())
        .set("smtp.daily_limit", "10")
        .to_string();
    std::fs::write(&config, text).unwrap();
    let (code, out) = reconfirm(&s);
    assert_eq!(code, Some(3), "p1 is refused again: {out}");
    assert!(out.ends_with("1 of 2 confirmation links sent, 1 refused: each reader is on the list once they follow theirs\n"), "{out}");
    s.wait_for_mail(4);
    std::thread::sleep(Duration::from_millis(300));
    let mut to: Vec<String> = s
        .smtp
        .messages()
        .iter()
        .map(|(env, _)| env["rcpt_tos"][0].as_str().unwrap().to_string())
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "p0@example.com",
            "p2@example.com",
            "p3@example.com",
            "p4@example.com"
        ],
        "each mailed once"
    );
    assert_eq!(recorded(&s), vec![2, 1, 2, 2, 2], "{}", s.log());
}
