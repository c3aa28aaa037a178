//! `missive serve` (unsubscribes) and `missive archive` end to end, over real
//! HTTP, with the archive checked in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::common::*;
use missive::list::token::Secret;

/// A running `missive serve` in a copy of the example project, after
/// `missive archive` has built its site.
struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = example_project();
        assert_exit(&missive(dir.path(), &["archive"]), 0);
        let (child, url) = spawn_server(dir.path(), &["serve", "--bind", "127.0.0.1:0"]);
        Server { child, url, dir }
    }

    /// Started with the usual soft limit of 1,024 open files.
    fn start_with_few_files() -> Server {
        let dir = example_project();
        assert_exit(&missive(dir.path(), &["archive"]), 0);
        let (child, url) =
            spawn_server_with_few_files(dir.path(), &["serve", "--bind", "127.0.0.1:0"]);
        Server { child, url, dir }
    }

    /// The project's list-event log.
    fn suppression_file(&self) -> PathBuf {
        self.dir.path().join(".missive/list-events.csv")
    }

    /// The addresses in the list-event log, in order.
    fn suppressed(&self) -> Vec<String> {
        let mut reader = csv::Reader::from_path(self.suppression_file()).unwrap();
        reader
            .records()
            .map(|r| {
                let r = r.expect("a well-formed line");
                assert_eq!(
                    r.len(),
                    7,
                    "address, time, event, source, detail, issue, message: {r:?}"
                );
                assert_eq!(&r[2], "unsubscribed");
                r[0].to_string()
            })
            .collect()
    }

    fn request(&self, method: &str, query: &str, body: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let url = format!("{}unsubscribe?{query}", self.url);
        let mut response = match method {
            "GET" => agent.get(&url).call().unwrap(),
            _ => agent
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(body)
                .unwrap(),
        };
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `missive send --dry-run` of the example issue in `dir`, with extra arguments.
fn dry_run(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "send",
        "issues/2026-11-27-tides-and-timetables.toml",
        "--dry-run",
    ];
    args.extend_from_slice(extra);
    let o = crate::common::command(dir)
        .args(&args)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .output()
        .unwrap();
    assert_exit(&o, 0);
    stdout(&o)
}

fn token(email: &str) -> String {
    Secret::new(SECRET).unwrap().token(email)
}

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

#[test]
fn only_a_valid_token_for_that_address_unsubscribes_and_only_once() {
    let s = Server::start();
    let t = token("ada@example.com");
    let bad = [
        format!("email=ada@example.com&token={}", &t[..40]),
        format!("email=grace@example.org&token={t}"),
        format!("email=ada@example.com&token={}", "0".repeat(64)),
        "email=ada@example.com&token=".to_string(),
        "email=ada@example.com".to_string(),
        format!("token={t}"),
        format!("email=not-an-address&token={t}"),
    ];
    for query in &bad {
        let (status, _) = s.request("POST", query, ONE_CLICK);
        assert!(status == 400 || status == 403, "{query}: {status}");
    }
    assert!(s.suppressed().is_empty(), "a bad token recorded something");

    // A GET never unsubscribes: it shows a button that posts the one-click form.
    let query = format!("email=ada@example.com&token={t}");
    for _ in 0..3 {
        let (status, page) = s.request("GET", &query, "");
        assert_eq!(status, 200);
        assert!(
            page.contains("name=\"List-Unsubscribe\" value=\"One-Click\""),
            "{page}"
        );
        assert!(page.contains("ada@example.com"));
    }
    assert!(s.suppressed().is_empty(), "a GET recorded something");

    // A POST without the one-click body is refused.
    let (status, _) = s.request("POST", &query, "");
    assert_eq!(status, 400);
    assert!(s.suppressed().is_empty());

    for _ in 0..3 {
        let (status, body) = s.request("POST", &query, ONE_CLICK);
        assert_eq!(status, 200, "no redirect, no confirmation step");
        assert!(body.contains("You are unsubscribed"));
    }
    assert_eq!(s.suppressed(), vec!["ada@example.com"]);
    let text = std::fs::read_to_string(s.suppression_file()).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .ends_with(",unsubscribed,one-click,,,"),
        "{text}"
    );
}

#[test]
fn nothing_from_a_request_is_echoed_unescaped() {
    let s = Server::start();
    let (status, page) = s.request("GET", "email=%3Cscript%3Ealert(1)%3C/script%3E&token=x", "");
    assert_eq!(status, 400);
    assert!(!page.contains("<script>"), "{page}");
    let email = "o'brien+news@example.com";
    let query = format!(
        "email={}&token={}",
        url::form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>(),
        token(email)
    );
    let (status, page) = s.request("GET", &query, "");
    assert_eq!(status, 200);
    assert!(page.contains("o&#39;brien+news@example.com"), "{page}");
}

#[test]
fn an_unsubscribe_through_the_server_stops_the_next_send() {
    let s = Server::start();
    let before = dry_run(s.dir.path(), &[]);
    assert!(before.contains("to send now:        6"), "{before}");
    let query = format!(
        "email=grace@example.org&token={}",
        token("grace@example.org")
    );
    assert_eq!(s.request("POST", &query, ONE_CLICK).0, 200);
    let after = dry_run(s.dir.path(), &[]);
    assert!(after.contains("to send now:        5"), "{after}");
    assert!(after.contains("1 suppressed"), "{after}");

    // `missive subscribers` counts it, and --fold writes it into the list.
    let o = missive(s.dir.path(), &["subscribers"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("1 address suppressed (1 unsubscribed)"),
        "{}",
        stdout(&o)
    );
    let o = missive(s.dir.path(), &["subscribers", "--fold"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("folded: 1 row changed or added"),
        "{}",
        stdout(&o)
    );
    let list = std::fs::read_to_string(s.dir.path().join("subscribers.example.csv")).unwrap();
    assert!(
        list.contains("grace@example.org,Grace Hopper,unsubscribed,Arlington"),
        "{list}"
    );
}

#[test]
fn a_thousand_concurrent_unsubscribes_are_each_recorded_once() {
    let s = Server::start();
    let addresses: Vec<String> = (0..500).map(|i| format!("reader{i}@example.org")).collect();
    // Each address twice: 1,000 requests, all released at once.
    let work: Vec<String> = addresses.iter().chain(addresses.iter()).cloned().collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(work.len()));
    let handles: Vec<_> = work
        .into_iter()
        .map(|email| {
            let url = s.url.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let request = agent.post(format!(
                        "{url}unsubscribe?email={email}&token={}",
                        token(&email)
                    ));
                    barrier.wait();
                    request.send(ONE_CLICK).unwrap().status().as_u16()
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let mut recorded = s.suppressed();
    assert_eq!(recorded.len(), 500, "each address exactly once");
    recorded.sort();
    let mut want = addresses.clone();
    want.sort();
    assert_eq!(recorded, want);
}

#[test]
fn the_archive_has_every_issue_and_an_atom_feed() {
    let s = Server::start();
    let site = s.dir.path().join("site");
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    let newer = index.find("Tides and timetables").expect("the newer issue");
    let older = index
        .find("A quiet week, and why that’s fine")
        .expect("the older issue");
    assert!(newer < older, "newest first");
    assert!(
        index.contains("href=\"./2026-11-27-tides-and-timetables/\""),
        "relative links"
    );
    assert!(index.contains("November 27, 2026 · No. 87"));

    let page =
        std::fs::read_to_string(site.join("2026-11-27-tides-and-timetables/index.html")).unwrap();
    assert!(page.contains("Dear friends,"), "neutral personalization");
    assert!(
        !page.contains("token="),
        "no unsubscribe token in the web version"
    );
    assert!(!page.contains("{{"), "no merge tag left");

    let feed =
        atom_syndication::Feed::read_from(std::fs::read(site.join("feed.xml")).unwrap().as_slice())
            .expect("the feed parses as Atom");
    assert_eq!(feed.title().as_str(), "The Slow Commute");
    let links: Vec<&str> = feed.entries().iter().map(|e| e.links()[0].href()).collect();
    // The same URL as the emails' "view in browser" link.
    assert_eq!(
        links,
        vec![
            "https://slowcommute.example.com/issues/2026-11-27-tides-and-timetables/",
            "https://slowcommute.example.com/issues/2026-11-20-a-quiet-week/",
        ]
    );

    // In a real browser: the index lists every issue, every link resolves,
    // the feed is Atom.
    let o = Command::new("node")
        .arg(repo().join("tests/preview/archive.mjs"))
        .arg(&s.url)
        .arg("2")
        .output()
        .expect("node runs (bash tests/run installs it with playwright-core and chromium)");
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("all archive checks passed"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn unsubscribes_are_honoured_whatever_list_a_send_reads() {
    let s = Server::start();
    let query = format!(
        "email=grace@example.org&token={}",
        token("grace@example.org")
    );
    assert_eq!(s.request("POST", &query, ONE_CLICK).0, 200);
    // Another list, a list moved elsewhere, and this week's fresh export
    // (which says `subscribed` again): grace gets nothing from any of them.
    let lists = s.dir.path().join("lists");
    std::fs::create_dir(&lists).unwrap();
    std::fs::write(
        lists.join("vip.csv"),
        "email,name\nGrace@Example.org,Grace\nvip@example.org,Vip\n",
    )
    .unwrap();
    std::fs::copy(
        s.dir.path().join("subscribers.example.csv"),
        lists.join("moved.csv"),
    )
    .unwrap();
    std::fs::write(
        s.dir.path().join("export.csv"),
        "email,status\ngrace@example.org,subscribed\nnew@example.org,subscribed\n",
    )
    .unwrap();
    for (list, to_send) in [
        ("lists/vip.csv", 1),
        ("lists/moved.csv", 5),
        ("export.csv", 1),
    ] {
        let out = dry_run(s.dir.path(), &["--subscribers", list]);
        assert!(
            out.contains(&format!("to send now:        {to_send}\n")),
            "{list}: {out}"
        );
        assert!(out.contains("1 suppressed"), "{list}: {out}");
    }
}

#[test]
fn old_suppression_files_are_still_honoured_and_migrated() {
    let dir = example_project();
    // What an earlier version wrote beside the list.
    std::fs::write(
        dir.path().join("subscribers.example.suppressed.csv"),
        "email,time,source\nada@example.com,2026-11-01T10:00:00Z,one-click\n",
    )
    .unwrap();
    let out = dry_run(dir.path(), &[]);
    assert!(out.contains("to send now:        5"), "{out}");
    let log = std::fs::read_to_string(dir.path().join(".missive/list-events.csv")).unwrap();
    assert!(
        log.contains("ada@example.com,2026-11-01T10:00:00Z,unsubscribed,one-click,migrated from subscribers.example.suppressed.csv"),
        "{log}"
    );
    // From now on it holds for any list, and the migration is not repeated.
    std::fs::write(dir.path().join("other.csv"), "email\nada@example.com\n").unwrap();
    let out = dry_run(dir.path(), &["--subscribers", "other.csv"]);
    assert!(out.contains("Nothing to send."), "{out}");
    let again = std::fs::read_to_string(dir.path().join(".missive/list-events.csv")).unwrap();
    assert_eq!(log, again);
}

/// POSTs a `multipart/form-data` body with one field to the unsubscribe
/// link `query`; returns the status and the page.
fn post_multipart(s: &Server, query: &str, field: &str, value: &str) -> (u16, String) {
    let boundary = "----missive-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n\
         {value}\r\n--{boundary}--\r\n"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!("{}unsubscribe?{query}", s.url))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .send(body.as_str())
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

#[test]
fn one_click_accepts_multipart_form_data() {
    let s = Server::start();
    let query = format!("email=ada@example.com&token={}", token("ada@example.com"));
    let (status, page) = post_multipart(&s, &query, "List-Unsubscribe", "One-Click");
    assert_eq!(status, 200);
    assert!(page.contains("You are unsubscribed"));
    assert_eq!(s.suppressed(), vec!["ada@example.com"]);
    // A multipart body without the one-click field records nothing.
    let other = format!(
        "email=grace@example.org&token={}",
        token("grace@example.org")
    );
    let (status, _) = post_multipart(&s, &other, "x", "y");
    assert_eq!(status, 400);
    assert_eq!(s.suppressed(), vec!["ada@example.com"]);
}

/// Opens `n` connections that send part of a request's headers and then
/// nothing more.
fn slow_clients(url: &str, n: usize) -> Vec<std::net::TcpStream> {
    use std::io::Write;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    (0..n)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /unsubscribe HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect()
}

#[test]
fn slow_clients_cannot_make_the_server_unreachable() {
    use std::io::Read;
    // This test process holds 1,100 sockets too.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let s = Server::start_with_few_files();
    let mut slow = slow_clients(&s.url, 1100);
    // The server still answers a reader, at once.
    let query = format!("email=ada@example.com&token={}", token("ada@example.com"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(8)))
        .build()
        .into();
    let response = agent
        .post(format!("{}unsubscribe?{query}", s.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(ONE_CLICK)
        .expect("the server answers while 1,100 clients dawdle");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(s.suppressed(), vec!["ada@example.com"]);
    // And it hangs up on those that never finish their headers.
    let client = &mut slow[0];
    client
        .set_read_timeout(Some(std::time::Duration::from_mins(1)))
        .unwrap();
    let mut buf = Vec::new();
    let read = client.read_to_end(&mut buf);
    assert!(
        read.is_ok()
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the server did not close the connection: {read:?}"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[test]
fn the_archive_refuses_file_names_that_are_not_page_names() {
    for name in ["...toml", "javascript:alert(1).toml", ".hidden.toml"] {
        let dir = example_project();
        std::fs::copy(example_issue(), dir.path().join("issues").join(name)).unwrap();
        let o = missive(dir.path(), &["archive"]);
        assert_exit(&o, 1);
        assert!(
            stderr(&o).contains("cannot name a web page"),
            "{name}: {}",
            stderr(&o)
        );
        assert!(
            !dir.path().join("index.html").exists(),
            "{name}: wrote outside site/"
        );
        assert!(!dir.path().join("site").exists(), "{name}: half a site");
    }
}

#[test]
fn an_archive_that_cannot_render_an_issue_names_it() {
    let dir = example_project();
    std::fs::write(
        dir.path().join("issues/2026-12-04-deep.toml"),
        format!(
            "subject = \"Deep\"\ndate = 2026-12-04\n[letter]\nbody = \"\"\"\n{}x\n\"\"\"\n",
            ">".repeat(5000)
        ),
    )
    .unwrap();
    let o = missive(dir.path(), &["archive"]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("2026-12-04-deep.toml"), "{err}");
    assert!(err.contains("letter.body"), "{err}");
    assert!(!err.contains("overflow"), "{err}");
}

#[test]
fn a_sealed_token_unsubscribes_with_no_address_in_the_link() {
    let s = Server::start();
    let secret = crate::common::list_secret();
    let sealed = secret.seal("grace@example.org");
    let query = format!("token={sealed}");
    assert!(!query.contains('@') && !query.contains("grace"));
    // The page a person sees names the address and posts the same link back.
    let (status, page) = s.request("GET", &query, "");
    assert_eq!(status, 200);
    assert!(page.contains("grace@example.org"), "{page}");
    assert!(
        page.contains(&format!("action=\"/unsubscribe?token={sealed}\"")),
        "{page}"
    );
    assert!(s.suppressed().is_empty(), "a GET records nothing");
    // Forged, truncated or another secret's tokens record nothing.
    let other = Secret::new("another secret, also long enough").unwrap();
    for bad in [
        format!("token={}", &sealed[..sealed.len() - 2]),
        format!("token=s{}", "A".repeat(40)),
        format!("token={}", other.seal("grace@example.org")),
        // The same secret, another newsletter's link.
        format!(
            "token={}",
            Secret::new(SECRET)
                .unwrap()
                .for_list("Another List <news.another.example>")
                .seal("grace@example.org")
        ),
        "token=".to_string(),
    ] {
        let (status, _) = s.request("POST", &bad, ONE_CLICK);
        assert!(status == 400 || status == 403, "{bad}: {status}");
    }
    assert!(s.suppressed().is_empty());
    let (status, _) = s.request("POST", &query, ONE_CLICK);
    assert_eq!(status, 200);
    assert_eq!(s.suppressed(), vec!["grace@example.org"]);
}
