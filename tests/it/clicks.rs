//! Click links end to end: a real send with `[clicks]`, the real `serve`
//! answering requests from many loopback source addresses (each a reader
//! or a scanner), the counts log it writes, and `stats` reading it back.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{SECRET, command, example_project, missive};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// The example project with `[clicks]`, its issue sent (to files) and its
/// web archive built into `site/`.
fn sent_project() -> (tempfile::TempDir, PathBuf) {
    let dir = example_project();
    append(&dir.path().join("missive.toml"), "\n[clicks]\n");
    let issue = dir
        .path()
        .join("issues/2026-11-27-tides-and-timetables.toml");
    send(dir.path(), &issue, &[]);
    let archived = missive(dir.path(), &["archive", "--out", "site"]);
    assert!(archived.status.success(), "{archived:?}");
    (dir, issue)
}

fn append(path: &Path, text: &str) {
    let mut config = std::fs::read_to_string(path).unwrap();
    config.push_str(text);
    std::fs::write(path, config).unwrap();
}

fn send(dir: &Path, issue: &Path, extra: &[&str]) {
    let sent = command(dir)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .args(["send", issue.to_str().unwrap(), "--yes"])
        .args(extra)
        .output()
        .unwrap();
    assert!(sent.status.success(), "{sent:?}");
}

/// Moves every recorded wave `ago` into the past, as if the issue had
/// gone out then (a click right after sending is a scanner's).
fn sent_ago(dir: &Path, ago: time::Duration) {
    use time::format_description::well_known::Rfc3339;
    let path = dir.join(".missive/clicks/2026-11-27-tides-and-timetables.waves");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut moved = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let at = time::OffsetDateTime::parse(v["at"].as_str().unwrap(), &Rfc3339).unwrap();
        v["at"] = (at - ago).format(&Rfc3339).unwrap().into();
        moved.push_str(&v.to_string());
        moved.push('\n');
    }
    std::fs::write(&path, moved).unwrap();
}

/// The click links in the HTML part of each message in `outbox/`, in
/// the order they appear (the honeypot first), and the text part's.
fn messages(dir: &Path) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let raw = std::fs::read(&file).unwrap();
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let html = message.body_html(0).unwrap().into_owned();
        let text = message.body_text(0).unwrap().into_owned();
        let links = html
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|href| href.contains("/c/"))
            .map(String::from)
            .collect();
        out.push((links, text));
    }
    out
}

/// The path of a click link (its host is the configured one).
fn path_of(link: &str) -> String {
    let at = link.find("/c/").unwrap();
    link[at..].to_string()
}

/// What a request got: status, Location, Date, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    date: Option<String>,
    body: String,
}

/// One HTTP/1.1 request to `server` from the loopback address `from`.
/// A connection the server closed unanswered (under faketime its header
/// timeout passes in milliseconds) is tried again: it was never read.
async fn request(
    server: SocketAddr,
    from: IpAddr,
    method: &str,
    path: &str,
    agent: &str,
) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: news.example.com\r\nUser-Agent: {agent}\r\n\
         Connection: close\r\n\r\n"
    );
    let mut raw = Vec::new();
    for attempt in 0.. {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        raw.clear();
        let answered = async {
            let mut stream = socket.connect(server).await?;
            stream.write_all(head.as_bytes()).await?;
            stream.read_to_end(&mut raw).await
        }
        .await;
        match answered {
            Ok(_) if !raw.is_empty() => break,
            Ok(_) | Err(_) if attempt < 5 => {}
            other => panic!("{method} {path}: {other:?}"),
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    Answer {
        status,
        location: header("location"),
        date: header("date"),
        body: body.to_string(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `serve` on a free port, with `secret`, until [`Serve::stop`].
struct Serve {
    child: std::process::Child,
    address: SocketAddr,
}

impl Serve {
    fn start(dir: &Path, secret: &str, faketime: Option<&str>) -> Serve {
        let mut command = command(dir);
        if let Some(spec) = faketime {
            faked(&mut command, spec);
        }
        let mut child = command
            .current_dir(dir)
            .args(["serve", "--bind", "127.0.0.1:0", "--site", "site"])
            .env("MISSIVE_UNSUBSCRIBE_SECRET", secret)
            .env("MISSIVE_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let url = crate::common::announced_url(&mut child);
        let address = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        Serve { child, address }
    }

    /// SIGTERM, as systemd stops it; the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        self.child.wait().unwrap()
    }
}

/// `command` with its clock faked by libfaketime (Debian's `faketime`):
/// `spec` as `FAKETIME` takes it, e.g. `@2026-12-03 06:00:00 x60`.
fn faked(command: &mut std::process::Command, spec: &str) {
    let library = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime is installed (tests/run installs faketime)");
    command.env("LD_PRELOAD", library).env("FAKETIME", spec);
}

impl Drop for Serve {
    /// A test that fails leaves no server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The counts log, added up by (link, verdict).
fn counted(dir: &Path) -> BTreeMap<(u64, String), u64> {
    let text =
        std::fs::read_to_string(dir.join(".missive/clicks/counts.jsonl")).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            v["link"].as_u64().unwrap(),
            v["verdict"].as_str().unwrap().to_string(),
        );
        *out.entry(key).or_default() += v["clicks"].as_u64().unwrap();
    }
    out
}

fn total(counts: &BTreeMap<(u64, String), u64>, verdict: &str) -> u64 {
    counts
        .iter()
        .filter(|((_, v), _)| v == verdict)
        .map(|(_, n)| n)
        .sum()
}

/// A loopback address of its own /24 for reader `i`.
fn reader_ip(i: usize) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(
        127,
        100,
        u8::try_from(i).unwrap(),
        7,
    ))
}

#[test]
fn click_links_go_only_to_the_issues_own_links_and_count_nobody() {
    let (dir, _) = sent_project();
    let dir = dir.path();
    sent_ago(dir, time::Duration::minutes(10));
    let sent = messages(dir);
    let (links, text) = &sent[0];
    // The text part keeps plain URLs; the HTML's go through serve, the
    // hidden honeypot first.
    assert!(!text.contains("/c/"), "{text}");
    assert!(text.contains("https://example.org/reports/beneath-the-harbor"));
    assert!(links.len() > 30, "{links:?}");
    assert!(links[0].contains("/1/0-"), "{}", links[0]);
    let table: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.join(".missive/clicks/2026-11-27-tides-and-timetables.links"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let target = |n: u64| {
        table
            .iter()
            .find(|l| l["n"] == n)
            .map(|l| l["url"].as_str().unwrap().to_string())
    };

    let rt = runtime();
    let serve = Serve::start(dir, SECRET, None);
    let server = serve.address;
    let mut clicked = Vec::new();
    rt.block_on(async {
        // Every link, each from a reader of its own: a 302 to its target.
        for (i, link) in links.iter().enumerate().skip(1) {
            let path = path_of(link);
            let n: u64 = path
                .rsplit('/')
                .next()
                .unwrap()
                .split('-')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let answer = request(server, reader_ip(i), "GET", &path, FIREFOX).await;
            assert_eq!(answer.status, 302, "{path}: {answer:?}");
            assert_eq!(answer.location, target(n), "{path}");
            clicked.push(n);
        }
        let link = path_of(&links[3]);
        // A HEAD is answered and never counted.
        let head = request(server, reader_ip(200), "HEAD", &link, FIREFOX).await;
        assert_eq!((head.status, head.location.is_some()), (302, true));
        // Forged, edited and re-dated links: the archive's page, no redirect.
        let (prefix, mac) = link.rsplit_once('-').unwrap();
        let forged = format!("{prefix}-{}", "A".repeat(mac.len()));
        let other_n = link.replace("/1/3-", "/1/4-");
        let other_wave = link.replace("/1/3-", "/2/3-");
        let evil = format!("{prefix}-{mac}/../../https://evil.example/");
        for bad in [&forged, &other_n, &other_wave] {
            let answer = request(server, reader_ip(201), "GET", bad, FIREFOX).await;
            assert_eq!(answer.status, 200, "{bad}: {answer:?}");
            assert_eq!(answer.location, None);
            assert!(answer.body.contains("Tides and timetables"), "{bad}");
        }
        let answer = request(server, reader_ip(201), "GET", &evil, FIREFOX).await;
        assert!(
            answer.location.is_none() && answer.status >= 400,
            "{answer:?}"
        );
        // An issue that was never sent, or that names no page.
        for bad in [
            "/c/2026-01-01-nothing/1/3-AAAAAAAAAAA",
            "/c/..%2F..%2Fetc/1/3-AAAAAAAAAAA",
        ] {
            let answer = request(server, reader_ip(201), "GET", bad, FIREFOX).await;
            assert_eq!((answer.status, answer.location), (404, None), "{bad}");
        }
        // The honeypot leads nowhere.
        let honeypot = request(server, reader_ip(202), "GET", &path_of(&links[0]), FIREFOX).await;
        assert_eq!((honeypot.status, honeypot.location), (204, None));
    });
    assert!(serve.stop().success());

    // A link signed under another secret (a stale one) is not ours.
    let serve = Serve::start(dir, "another secret, also long enough", None);
    let stale = rt.block_on(request(
        serve.address,
        reader_ip(203),
        "GET",
        &path_of(&links[3]),
        FIREFOX,
    ));
    assert_eq!(
        (stale.status, stale.location.as_deref()),
        (200, None),
        "{stale:?}"
    );
    assert!(serve.stop().success());

    // Each reader's click counted once, on its link; the honeypot as a
    // scanner's; nothing for HEADs or links that are not ours.
    let counts = counted(dir);
    let mut want: BTreeMap<(u64, String), u64> = BTreeMap::new();
    for n in &clicked {
        *want.entry((*n, "human".to_string())).or_default() += 1;
    }
    want.insert((0, "honeypot".to_string()), 1);
    assert_eq!(counts, want);

    // `stats` reads them back, per item and in all.
    let stats = command(dir)
        .args([
            "stats",
            "issues/2026-11-27-tides-and-timetables.toml",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(stats.status.success(), "{stats:?}");
    let report: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(report["clicks"], serde_json::json!(clicked.len()));
    assert_eq!(report["funnel"]["sent"], 6);
    assert_eq!(report["filtered"]["honeypot"], 1);
    let first = &report["links"][0];
    assert_eq!(
        (first["n"].as_u64(), first["clicks"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(first["kind"], "item");

    // What the terminal shows.
    let screen = missive(
        dir,
        &["stats", "issues/2026-11-27-tides-and-timetables.toml"],
    );
    assert!(screen.status.success(), "{screen:?}");
    // (The hour rows depend on whether the clock passed an hour since
    // the send; they are checked apart.)
    let shown = crate::common::stdout(&screen);
    let (pinned, hours) = shown.split_once("hours since sending").unwrap();
    crate::screens::assert_screen("stats", dir, pinned);
    let row: Vec<&str> = hours.lines().nth(1).unwrap().split_whitespace().collect();
    assert!(matches!(row[..], ["0" | "1", "h", "31", "1"]), "{hours}");

    // Its page with charts, in a real browser: the charts render, every
    // item has its row, nothing is fetched.
    let items = report["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "item")
        .count();
    let html = missive(
        dir,
        &[
            "stats",
            "issues/2026-11-27-tides-and-timetables.toml",
            "--html",
            "report.html",
        ],
    );
    assert!(html.status.success(), "{html:?}");
    assert!(crate::common::stdout(&html).contains("report with charts: report.html"));
    let shot = dir.join("report.png");
    let o = std::process::Command::new("node")
        .arg(crate::common::repo().join("tests/preview/report.mjs"))
        .arg(dir.join("report.html"))
        .arg(items.to_string())
        .arg(&shot)
        .output()
        .expect("node runs (bash tests/run installs it with playwright-core and chromium)");
    let said = crate::common::stdout(&o);
    assert!(
        said.contains("all report checks passed"),
        "{said}{}",
        crate::common::stderr(&o)
    );
    let keep = crate::common::repo().join("target/report-screenshots");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(&shot, keep.join("stats-report.png")).unwrap();

    // Nothing under .missive/ holds an IP address or a User-Agent, and
    // the click records hold no reader's address.
    assert_nothing_identifying(dir);
}

/// Every file under `.missive/`: no IP address the tests clicked from,
/// no User-Agent; the click records, no address of the list.
fn assert_nothing_identifying(dir: &Path) {
    let list = std::fs::read_to_string(dir.join("subscribers.example.csv")).unwrap();
    let addresses: Vec<&str> = list
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|a| a.contains('@'))
        .collect();
    assert!(!addresses.is_empty());
    let mut files = Vec::new();
    let mut dirs = vec![dir.join(".missive")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.iter().any(|f| f.ends_with("clicks/counts.jsonl")));
    let ip = regex::Regex::new(r"\b127\.\d{1,3}\.\d{1,3}\.\d{1,3}\b").unwrap();
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !ip.is_match(&text),
            "{} holds an IP address",
            file.display()
        );
        for agent in [
            "Mozilla",
            "Firefox",
            "Gecko",
            "python-requests",
            "Barracuda",
        ] {
            assert!(
                !text.contains(agent),
                "{} holds a User-Agent",
                file.display()
            );
        }
        if file.parent().is_some_and(|p| p.ends_with("clicks")) {
            for address in &addresses {
                assert!(
                    !text.contains(address),
                    "{} holds {address}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn a_link_changed_after_sending_still_leads_where_it_led() {
    let (dir, issue) = sent_project();
    let dir = dir.path();
    let first = messages(dir);
    // The author fixes item 1's link and sends the rest (a new reader).
    let text = std::fs::read_to_string(&issue).unwrap();
    assert!(text.contains("https://example.org/reports/beneath-the-harbor"));
    std::fs::write(
        &issue,
        text.replace(
            "https://example.org/reports/beneath-the-harbor",
            "https://example.org/reports/beneath-the-harbour-corrected",
        ),
    )
    .unwrap();
    append(
        &dir.join("subscribers.example.csv"),
        "late@example.net,Late Reader,subscribed,Leeds\n",
    );
    std::fs::remove_dir_all(dir.join("outbox")).unwrap();
    std::fs::create_dir(dir.join("outbox")).unwrap();
    send(dir, &issue, &["--force"]);
    let second = messages(dir);
    assert_eq!(second.len(), 1);
    let table =
        std::fs::read_to_string(dir.join(".missive/clicks/2026-11-27-tides-and-timetables.links"))
            .unwrap();
    assert_eq!(table.matches("\"n\":1,").count(), 2, "{table}");
    let waves =
        std::fs::read_to_string(dir.join(".missive/clicks/2026-11-27-tides-and-timetables.waves"))
            .unwrap();
    assert!(waves.contains("\"wave\":2"), "{waves}");

    let old = path_of(&first[0].0[1]);
    let new = path_of(&second[0].0[1]);
    assert!(
        old.contains("/1/1-") && new.contains("/2/1-"),
        "{old} {new}"
    );
    let rt = runtime();
    let serve = Serve::start(dir, SECRET, None);
    rt.block_on(async {
        let answer = request(serve.address, reader_ip(1), "GET", &old, FIREFOX).await;
        assert_eq!(
            answer.location.as_deref(),
            Some("https://example.org/reports/beneath-the-harbor")
        );
        let answer = request(serve.address, reader_ip(2), "GET", &new, FIREFOX).await;
        assert_eq!(
            answer.location.as_deref(),
            Some("https://example.org/reports/beneath-the-harbour-corrected")
        );
        // The old link's signature does not take the new target, nor the
        // new one's the old.
        let crossed = format!(
            "{}-{}",
            old.rsplit_once('-').unwrap().0,
            new.rsplit_once('-').unwrap().1
        );
        let answer = request(serve.address, reader_ip(3), "GET", &crossed, FIREFOX).await;
        assert_eq!((answer.status, answer.location), (200, None));
    });
    assert!(serve.stop().success());
}

#[test]
fn a_restarted_server_loses_and_doubles_no_click() {
    let (dir, _) = sent_project();
    let dir = dir.path();
    sent_ago(dir, time::Duration::minutes(10));
    let links = messages(dir).remove(0).0;
    let rt = runtime();
    let mut readers = 0;
    for round in 0..3 {
        let serve = Serve::start(dir, SECRET, None);
        rt.block_on(async {
            // Clicks that have not waited long enough to count when the
            // server is told to stop.
            for link in links.iter().skip(1).take(10) {
                let answer = request(
                    serve.address,
                    reader_ip(readers),
                    "GET",
                    &path_of(link),
                    FIREFOX,
                )
                .await;
                assert_eq!(answer.status, 302);
                readers += 1;
            }
        });
        let started = Instant::now();
        assert!(serve.stop().success(), "round {round}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(
            total(&counted(dir), "human"),
            readers as u64,
            "round {round}"
        );
    }
    assert_eq!(readers, 30);
}

/// The replay: 10,000 simulated readers of a sent issue, their clicks,
/// the gateways that sweep their mail and the clients that prefetch it,
/// sent to the real `serve` from their own loopback addresses, a day in
/// under a minute (the server's clock runs 2,000 times faster under
/// faketime). `serve`'s counts must match the classifier's on the same
/// requests, and meet the goals.
#[test]
fn the_replay_of_ten_thousand_readers_against_serve() {
    use missive::click_replay::{Scenario, Truth, measure, requests};
    use time::OffsetDateTime;
    const SPEED: f64 = 2000.0;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let issue = crate::common::synthetic_issue(dir, 12);
    let (csv, _) = crate::common::subscriber_list(10_000);
    std::fs::write(dir.join("list.csv"), csv).unwrap();
    std::fs::write(
        dir.join("missive.toml"),
        format!(
            "{}\n[sending]\ntransport = \"file\"\noutbox = \"outbox\"\nsubscribers = \"list.csv\"\n\
             [clicks]\n",
            crate::common::NEWSLETTER
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.join("outbox")).unwrap();
    // Sent at 06:00 on a clock running 60 times faster: a few waves.
    let mut sending = command(dir);
    faked(&mut sending, "@2026-12-03 06:00:00 x60");
    let sent = sending
        .args(["send", issue.to_str().unwrap(), "--yes"])
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(sent.status.success(), "{sent:?}");
    std::fs::create_dir(dir.join("site")).unwrap();
    let stem = issue.file_stem().unwrap().to_str().unwrap().to_string();

    // Each wave's links, from one of its messages; its readers delivered
    // evenly between its opening and closing.
    let waves_text =
        std::fs::read_to_string(dir.join(format!(".missive/clicks/{stem}.waves"))).unwrap();
    let mut waves: BTreeMap<u64, (OffsetDateTime, OffsetDateTime, usize)> = BTreeMap::new();
    for line in waves_text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let at = OffsetDateTime::parse(
            v["at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let wave = v["wave"].as_u64().unwrap();
        if v["event"] == "opened" {
            waves.insert(wave, (at, at, 0));
        } else {
            let w = waves.get_mut(&wave).unwrap();
            w.1 = at;
            w.2 = usize::try_from(v["readers"].as_u64().unwrap()).unwrap();
        }
    }
    assert!(waves.len() >= 2, "{waves_text}");
    let mut links_of: HashMap<u64, Vec<String>> = HashMap::new();
    for (links, _) in messages(dir) {
        let wave: u64 = links[0].split('/').rev().nth(1).unwrap().parse().unwrap();
        links_of
            .entry(wave)
            .or_insert_with(|| links.iter().map(|l| path_of(l)).collect());
        if links_of.len() == waves.len() {
            break;
        }
    }
    let mut deliveries = Vec::new();
    let mut wave_of = Vec::new();
    let mut closes = Vec::new();
    for (wave, (opened, closed, readers)) in &waves {
        for i in 0..*readers {
            deliveries.push(*opened + (*closed - *opened) * (i as f64 / *readers as f64));
            wave_of.push(*wave);
            closes.push(*closed);
        }
    }
    assert_eq!(deliveries.len(), 10_000);
    let links = u32::try_from(links_of[&1].len() - 1).unwrap();
    let scenario = Scenario {
        links,
        horizon: time::Duration::hours(20),
        ..Scenario::default()
    };
    let requests = requests(&scenario, &deliveries);
    // The link numbers of the table as the messages carry them: a link's
    // path holds `/<n>-`.
    let path = |r: &missive::click_replay::Request| {
        links_of[&wave_of[r.reader]]
            .iter()
            .find(|p| p.contains(&format!("/{}-", r.link)))
            .unwrap()
            .clone()
    };

    // The server's clock starts when the send did, 2,000 times faster;
    // where it stands is read off its answer's Date.
    let serve = Serve::start(dir, SECRET, Some(&format!("@2026-12-03 06:00:00 x{SPEED}")));
    let rt = runtime();
    let date = rt
        .block_on(request(serve.address, reader_ip(0), "GET", "/", FIREFOX))
        .date
        .unwrap();
    let began = Instant::now();
    let start =
        OffsetDateTime::parse(&date, &time::format_description::well_known::Rfc2822).unwrap();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for r in &requests {
            let due = Duration::from_secs_f64((r.at - start).as_seconds_f64().max(0.0) / SPEED);
            if let Some(wait) = due.checked_sub(began.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            let (server, from, method, path, agent) = (
                serve.address,
                r.source,
                if r.head { "HEAD" } else { "GET" },
                path(r),
                r.user_agent,
            );
            tasks.spawn(async move { request(server, from, method, &path, agent).await.status });
            while tasks.len() > 64 {
                assert!(matches!(tasks.join_next().await, Some(Ok(302 | 204))));
            }
        }
        while let Some(status) = tasks.join_next().await {
            assert!(matches!(status, Ok(302 | 204)), "{status:?}");
        }
    });
    assert!(serve.stop().success());

    let counts = counted(dir);
    let m = measure(links, &requests, &closes);
    let readers_truth: u64 = requests
        .iter()
        .filter(|r| !r.head && r.truth == Truth::Reader)
        .count() as u64;
    let scanners_truth: u64 = requests
        .iter()
        .filter(|r| !r.head && r.truth == Truth::Scanner)
        .count() as u64;
    let human = total(&counts, "human");
    let repeats = total(&counts, "repeat");
    let bots: u64 = counts
        .iter()
        .filter(|((_, v), _)| v != "human" && v != "repeat")
        .map(|(_, n)| n)
        .sum();
    let summary = format!(
        "serve: {human} readers' clicks, {repeats} repeats, {bots} filtered, of {readers_truth} \
         readers' and {scanners_truth} scanners' requests; in memory: {:.2}% of scanners \
         recognized, {:.2}% of readers misjudged, worst item {:.2}%",
        m.recognized() * 100.0,
        m.misjudged() * 100.0,
        m.worst_item(50) * 100.0
    );
    eprintln!("{summary}");
    // Every GET was judged, once; no HEAD was.
    assert_eq!(
        human + repeats + bots,
        readers_truth + scanners_truth,
        "{summary}"
    );
    // The goals, on serve's own counts: scanners' requests filtered (the
    // bots counted are at least 95% of theirs and at most theirs plus 2%
    // of the readers'), and each item's readers' clicks within 5%.
    assert!(bots as f64 >= 0.95 * scanners_truth as f64, "{summary}");
    assert!(
        bots as f64 <= scanners_truth as f64 + 0.02 * readers_truth as f64,
        "{summary}"
    );
    for (n, truth, _) in &m.per_item {
        let got = counts
            .get(&(u64::from(*n), "human".to_string()))
            .copied()
            .unwrap_or(0);
        assert!(
            (got as f64 - *truth as f64).abs() <= 0.05 * *truth as f64 + 1.0,
            "item {n}: {got} counted, {truth} clicked; {summary}"
        );
    }
    // And the classifier, request by request on the same replay.
    assert!(m.recognized() >= 0.95 && m.misjudged() <= 0.02, "{summary}");
}

#[test]
fn check_weighs_the_email_with_its_click_links() {
    let dir = example_project();
    let dir = dir.path();
    let sent_kb = |o: &std::process::Output| -> f64 {
        let text = crate::common::stdout(o);
        let at = text.find(" KB as sent").unwrap_or_else(|| panic!("{text}"));
        text[..at].rsplit('(').next().unwrap().parse().unwrap()
    };
    let issue = "issues/2026-11-27-tides-and-timetables.toml";
    let plain = missive(dir, &["check", issue]);
    assert!(!crate::common::stdout(&plain).contains("click links"));
    append(&dir.join("missive.toml"), "\n[clicks]\n");
    let with = missive(dir, &["check", issue]);
    let said = crate::common::stdout(&with);
    assert!(said.contains("KB of it click links"), "{said}");
    // 31 links of about 75 bytes and the hidden one: over a kilobyte more.
    assert!(sent_kb(&with) > sent_kb(&plain) + 1.0, "{said}");
}

#[test]
fn links_in_the_letter_are_click_links_too_and_plain_in_the_text() {
    let dir = example_project();
    let dir = dir.path();
    append(&dir.join("missive.toml"), "\n[clicks]\n");
    let issue = dir.join("issues/2026-11-27-tides-and-timetables.toml");
    let text = std::fs::read_to_string(&issue).unwrap();
    std::fs::write(
        &issue,
        text.replacen(
            "body = \"\"\"\n",
            "body = \"\"\"\nSee [the ferry log](https://example.net/ferry-log?a=1&b=2) first.\n\n",
            1,
        ),
    )
    .unwrap();
    send(dir, &issue, &[]);
    let table =
        std::fs::read_to_string(dir.join(".missive/clicks/2026-11-27-tides-and-timetables.links"))
            .unwrap();
    let letter: serde_json::Value = table
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["kind"] == "text")
        .unwrap_or_else(|| panic!("{table}"));
    assert_eq!(letter["url"], "https://example.net/ferry-log?a=1&b=2");
    assert_eq!(letter["field"], "letter.body");
    let n = letter["n"].as_u64().unwrap();
    let (links, text) = messages(dir).remove(0);
    assert!(
        links.iter().any(|l| l.contains(&format!("/1/{n}-"))),
        "{links:?}"
    );
    assert!(
        text.contains("https://example.net/ferry-log?a=1&b=2"),
        "{text}"
    );
}

/// `serve` counting while another issue is sent and `stats` reads, then
/// killed with SIGKILL after a crash left half a line in the counts log:
/// the next `serve` cuts the torn line, what was written stays, and the
/// clicks after the restart add to it.
#[test]
fn counts_survive_a_kill_and_other_commands_at_once() {
    let (dir, _) = sent_project();
    let dir = dir.path();
    sent_ago(dir, time::Duration::minutes(10));
    let links = messages(dir).remove(0).0;
    let counts = dir.join(".missive/clicks/counts.jsonl");
    let rt = runtime();
    let mut serve = Serve::start(dir, SECRET, None);
    // Another issue goes out at the same time, writing its own table,
    // waves and journal beside the counts.
    let other = command(dir)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .args(["send", "issues/2026-11-20-a-quiet-week.toml", "--yes"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    rt.block_on(async {
        for (i, link) in links.iter().skip(1).take(5).enumerate() {
            let answer = request(serve.address, reader_ip(i), "GET", &path_of(link), FIREFOX).await;
            assert_eq!(answer.status, 302);
        }
    });
    let reading = missive(
        dir,
        &[
            "stats",
            "issues/2026-11-27-tides-and-timetables.toml",
            "--json",
        ],
    );
    assert!(reading.status.success(), "{reading:?}");
    assert!(other.wait_with_output().unwrap().status.success());
    // Written once they settle (12 s), then the server is killed.
    let waited = Instant::now();
    while total(&counted(dir), "human") < 5 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the clicks were never written"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    append(
        &counts,
        "{\"issue\":\"2026-11-27-tides-and-timetables\",\"link\":9,\"ho",
    );

    let serve = Serve::start(dir, SECRET, None);
    rt.block_on(async {
        for (i, link) in links.iter().skip(1).take(5).enumerate() {
            let answer = request(
                serve.address,
                reader_ip(100 + i),
                "GET",
                &path_of(link),
                FIREFOX,
            )
            .await;
            assert_eq!(answer.status, 302);
        }
    });
    assert!(serve.stop().success());
    // Every line reads (`counted` parses each), none torn, none doubled.
    assert_eq!(total(&counted(dir), "human"), 10);
    let stats = missive(
        dir,
        &[
            "stats",
            "issues/2026-11-27-tides-and-timetables.toml",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(report["clicks"], 10);
    // The other issue's table and waves were recorded beside them.
    assert!(
        dir.join(".missive/clicks/2026-11-20-a-quiet-week.links")
            .exists()
    );
    assert!(
        std::fs::read_to_string(dir.join(".missive/clicks/2026-11-20-a-quiet-week.waves"))
            .unwrap()
            .contains("\"closed\"")
    );
}
