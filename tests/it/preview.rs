//! `missive preview` end to end: the routes, the reload signal and the error
//! page over real HTTP, then the whole page in a real headless Chromium.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

/// A running `missive preview` on a free port in a copy of the example
/// project (file transport, so the send-test button writes to `outbox/`).
struct Preview {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Preview {
    fn start(extra_args: &[&str]) -> Preview {
        let dir = example_project();
        let mut args = vec![
            "preview",
            "issues/2026-11-27-tides-and-timetables.toml",
            "--port",
            "0",
        ];
        args.extend_from_slice(extra_args);
        let (child, url) = spawn_server(dir.path(), &args);
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "binds to loopback: {url}"
        );
        Preview { child, url, dir }
    }

    fn issue(&self) -> PathBuf {
        self.dir
            .path()
            .join("issues/2026-11-27-tides-and-timetables.toml")
    }

    fn get(&self, path: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent.get(format!("{}{path}", self.url)).call().unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    fn state(&self) -> serde_json::Value {
        let (status, body) = self.get("state");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    /// The state once `settled` says it is what the last save should make
    /// it (polled for up to 10 s; the last state seen otherwise).
    fn state_when(&self, settled: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = self.state();
            if settled(&state) || Instant::now() > deadline {
                return state;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The render versions the server announces, as they come.
    fn events(&self) -> mpsc::Receiver<u64> {
        let (tx, rx) = mpsc::channel();
        let url = format!("{}events", self.url);
        std::thread::spawn(move || {
            let response = ureq::get(&url).call().unwrap();
            let reader = BufReader::new(response.into_body().into_reader());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if let Some(v) = line.strip_prefix("data:")
                    && tx.send(v.trim().parse().unwrap()).is_err()
                {
                    return;
                }
            }
        });
        rx
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn routes_serve_the_page_state_and_email() {
    let p = Preview::start(&[]);
    let (status, page) = p.get("");
    assert_eq!(status, 200);
    assert!(page.contains("<title>missive preview</title>"));
    assert!(
        !page.contains("__MISSIVE_TOKEN__"),
        "the token is filled in"
    );

    let state = p.state();
    assert_eq!(
        state["subject"],
        "Tides and timetables: what the week meant"
    );
    assert!(state["error"].is_null());
    assert_eq!(state["version"], 1);
    // Personalized as the first subscriber of the list.
    assert_eq!(state["reader"], "Ada Lovelace <ada@example.com>");
    let text = state["text"].as_str().unwrap();
    assert!(text.contains("Dear Ada Lovelace,"), "{text}");
    assert!(text.contains("32. Reader mail: your best ferry stories"));
    assert!(
        state["html"]
            .as_str()
            .unwrap()
            .contains("Dear Ada Lovelace,")
    );
    assert!(
        state["mjml"]
            .as_str()
            .unwrap()
            .trim_start()
            .starts_with("<mjml lang=\"en\">")
    );
    assert_eq!(
        state["html_bytes"].as_u64().unwrap() as usize,
        state["html"].as_str().unwrap().len()
    );
    let warnings = finding_texts(&state);
    let warnings: Vec<&str> = warnings.iter().map(String::as_str).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("item 32") && w.contains("has no url")),
        "{warnings:?}"
    );

    let (status, email) = p.get("email");
    assert_eq!(status, 200);
    assert_eq!(email, state["html"].as_str().unwrap());

    let (status, _) = p.get("nope");
    assert_eq!(status, 404);
}

#[test]
fn personalizes_as_the_subscriber_asked_for() {
    let p = Preview::start(&["--as", "Alan@example.net"]);
    let state = p.state();
    assert_eq!(state["reader"], "Turing, Alan <alan@example.net>");
    assert!(
        state["text"]
            .as_str()
            .unwrap()
            .contains("Dear Turing, Alan,")
    );
}

#[test]
fn saving_the_issue_signals_a_reload_and_errors_replace_the_email() {
    let p = Preview::start(&[]);
    let events = p.events();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(5)).unwrap(),
        1,
        "the current version first"
    );

    edit(
        &p.issue(),
        "what the week meant",
        "what the week really meant",
    );
    let v = events
        .recv_timeout(Duration::from_secs(5))
        .expect("a reload signal after a save");
    assert!(v >= 2);
    // Let any further events of the same save pass.
    let deadline = Instant::now() + Duration::from_millis(300);
    while events
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_ok()
    {}
    let state = p.state();
    assert_eq!(
        state["subject"],
        "Tides and timetables: what the week really meant"
    );

    // A broken save shows the error, with file, line, column and the line.
    edit(&p.issue(), "date = 2026-11-27", "date = 2026-13-45");
    events
        .recv_timeout(Duration::from_secs(5))
        .expect("a reload signal after a broken save");
    let state = p.state_when(|s| s["error"].is_string());
    let error = state["error"].as_str().expect("an error");
    assert!(
        error.contains("issues/2026-11-27-tides-and-timetables.toml:3:8"),
        "{error}"
    );
    assert!(error.contains("3 | date = 2026-13-45"), "{error}");
    let (status, body) = p.get("email");
    assert_eq!(status, 422);
    assert!(body.contains("tides-and-timetables.toml:3:8"));

    // A broken template is shown the same way, and the server lives on.
    let templates = p.dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    edit(&p.issue(), "date = 2026-13-45", "date = 2026-11-27");
    events.recv_timeout(Duration::from_secs(5)).unwrap();
    let state = p.state_when(|s| s["error"].is_null());
    assert!(state["error"].is_null(), "fixed: {}", state["error"]);
    std::fs::write(templates.join("issue.text.html"), "<p>{{ subject }</p>").unwrap();
    events.recv_timeout(Duration::from_secs(5)).unwrap();
    let state = p.state_when(|s| s["error"].is_string());
    let error = state["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("templates/issue.text.html"), "{error}");
    std::fs::write(
        templates.join("issue.text.html"),
        "<p>Custom {{ subject }}</p>",
    )
    .unwrap();
    events.recv_timeout(Duration::from_secs(5)).unwrap();
    let state = p.state_when(|s| s["error"].is_null());
    assert!(state["error"].is_null());
    assert_eq!(
        state["text"],
        "Custom Tides and timetables: what the week really meant\n"
    );
}

#[test]
fn send_test_needs_the_page_token() {
    let p = Preview::start(&[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |token: Option<&str>| {
        let mut request = agent.post(format!("{}send-test", p.url));
        if let Some(t) = token {
            request = request.header("X-Missive-Token", t);
        }
        let mut response = request.send_empty().unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    };
    let outbox = p.dir.path().join("outbox");
    let (status, body) = post(None);
    assert_eq!(status, 403, "{body}");
    let (status, _) = post(Some("forged"));
    assert_eq!(status, 403);
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 0);

    let (_, page) = p.get("");
    let token = page
        .split("const TOKEN = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let (status, body) = post(Some(token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sent a test"), "{body}");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);
}

#[test]
fn the_page_works_in_a_real_browser() {
    let p = Preview::start(&[]);
    let shots = p.dir.path().join("screenshots");
    std::fs::create_dir(&shots).unwrap();
    // A long issue, whose email Gmail clips even fitted.
    let long = p.dir.path().join("long.toml");
    std::fs::write(&long, missive::synthetic::issue(200)).unwrap();
    let o = Command::new("node")
        .arg(repo().join("tests/preview/e2e.mjs"))
        .arg(&p.url)
        .arg(p.issue())
        .arg(&shots)
        .arg(p.dir.path().join("outbox"))
        .arg(&long)
        .output()
        .expect("node runs (bash tests/run installs it with playwright-core and chromium)");
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("all browser checks passed"),
        "{}",
        stdout(&o)
    );
    for shot in ["preview-1280.png", "email-375.png", "email-1280.png"] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is a PNG");
    }
    // Keep the screenshots where a person can look at them.
    let keep = repo().join("target/preview-screenshots");
    std::fs::create_dir_all(&keep).unwrap();
    for shot in std::fs::read_dir(&shots).unwrap() {
        let shot = shot.unwrap().path();
        std::fs::copy(&shot, keep.join(shot.file_name().unwrap())).unwrap();
    }
}

/// A raw HTTP/1.1 GET with the given Host header; returns the status line
/// and the headers.
fn raw_get(url: &str, path: &str, host: &str) -> (String, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, _) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_lowercase())
}

#[test]
fn the_preview_refuses_foreign_hosts_and_sandboxes_the_email() {
    let p = Preview::start(&[]);
    let port = p
        .url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    for path in ["/", "/state", "/email", "/events"] {
        for host in ["evil.example", &format!("rebound.example:{port}"), ""] {
            let (status, _) = raw_get(&p.url, path, host);
            assert!(
                status.contains(" 421 "),
                "{path} with Host {host:?}: {status}"
            );
        }
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let (status, headers) = raw_get(&p.url, "/", &host);
        assert!(status.contains(" 200 "), "{host}: {status}");
        assert!(
            headers.contains("content-security-policy: default-src 'none'; script-src 'nonce-"),
            "{headers}"
        );
        assert!(headers.contains("frame-ancestors 'none'"), "{headers}");
    }
    let (_, headers) = raw_get(&p.url, "/email", &format!("localhost:{port}"));
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    assert!(!headers.contains("script-src"), "{headers}");
    let (_, page) = p.get("");
    assert_eq!(
        page.matches("sandbox=\"allow-same-origin allow-popups allow-popups-to-escape-sandbox\"")
            .count(),
        2,
        "both email frames are sandboxed without scripts"
    );
    assert!(
        page.contains("<script nonce=\""),
        "the page's script carries the nonce"
    );
    // The reader's real unsubscribe link is never in the preview.
    let real = missive::list::token::Secret::new(SECRET)
        .unwrap()
        .token("ada@example.com");
    assert!(!p.state().to_string().contains(&real));
}

#[test]
fn the_preview_survives_deeply_nested_markdown() {
    let p = Preview::start(&[]);
    let events = p.events();
    assert_eq!(events.recv_timeout(Duration::from_secs(5)).unwrap(), 1);
    let nested = format!("comment = \"\"\"\n{}deep\n", ">".repeat(8000));
    edit(&p.issue(), "comment = \"\"\"\n", &nested);
    events
        .recv_timeout(Duration::from_secs(10))
        .expect("a render after the save");
    let state = p.state_when(|s| s["error"].is_string());
    let error = state["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("nests more than 32 levels"), "{error}");
    assert!(error.contains("sections[0].items[0].comment"), "{error}");
    // Still alive, and back when the issue is fixed.
    edit(&p.issue(), &nested, "comment = \"\"\"\n");
    events.recv_timeout(Duration::from_secs(10)).unwrap();
    let state = p.state_when(|s| s["error"].is_null());
    assert!(state["error"].is_null(), "{}", state["error"]);
}

#[test]
fn an_idle_connection_to_the_preview_is_closed() {
    use std::io::Read;
    let p = Preview::start(&[]);
    let addr = p.url.trim_start_matches("http://").trim_end_matches('/');
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_mins(1))).unwrap();
    let mut buf = Vec::new();
    let read = idle.read_to_end(&mut buf);
    assert!(
        read.is_ok()
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the preview kept an idle connection open: {read:?}"
    );
}
