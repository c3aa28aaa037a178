//! Moving in and out: `subscribers import` on each platform's export
//! (fixtures written from their documented layouts: byte-order marks, CRLF,
//! quoted commas, non-ASCII names, an address in several of Mailchimp's
//! files) into a project that already has unsubscribes and bounces, then
//! `send --dry-run`; `subscribers export` → `import` round trips; bad rows;
//! an import killed and run again while readers leave at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

const ISSUE: &str = "issues/2026-11-27-tides-and-timetables.toml";
const LIST: &str = "subscribers.example.csv";
const LOG: &str = ".missive/list-events.csv";

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir)
        .args(args)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    assert_exit(o, 0);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The example project, where the author has since removed Margaret and
/// Edsger's mail bounced: of its list, Ada, Grace, Alan and Katherine get
/// the next issue (Barbara and Ken are off it in the CSV).
fn project() -> tempfile::TempDir {
    let dir = example_project();
    assert_exit(
        &run(
            dir.path(),
            &["subscribers", "remove", "margaret@example.net"],
        ),
        0,
    );
    let mut log = std::fs::read_to_string(dir.path().join(LOG)).unwrap();
    log.push_str("edsger@example.org,2026-11-01T00:00:00Z,bounced,bounce,550 5.1.1,,\n");
    std::fs::write(dir.path().join(LOG), log).unwrap();
    dir
}

/// How many readers the next send would mail.
fn to_send(dir: &Path) -> u64 {
    json(&run(dir, &["send", ISSUE, "--dry-run", "--json"]))["to_send"]
        .as_u64()
        .unwrap()
}

/// The list in missive's own shape (with `--all`, the suppressed too):
/// each address's row, by column.
fn rows(dir: &Path, all: bool) -> BTreeMap<String, BTreeMap<String, String>> {
    let out = dir.join("out-list.csv");
    let mut args = vec![
        "subscribers",
        "export",
        "--to",
        "csv",
        out.to_str().unwrap(),
    ];
    if all {
        args.push("--all");
    }
    assert_exit(&run(dir, &args), 0);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let row: BTreeMap<String, String> = headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (row["email"].clone(), row)
        })
        .collect();
    std::fs::remove_file(out).unwrap();
    rows
}

fn fixtures(platform: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("migrate").join(platform))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The log's lines about `email`: (time, event, source).
fn events_of(dir: &Path, email: &str) -> Vec<(String, String, String)> {
    std::fs::read_to_string(dir.join(LOG))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(&format!("{email},")))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_string(), f[2].to_string(), f[3].to_string())
        })
        .collect()
}

#[test]
fn every_platforms_export_keeps_each_readers_consent_and_every_suppression() {
    // Which words each platform's export can say (all have subscribed and
    // unsubscribed readers).
    let cases: &[(&str, bool, bool, bool, bool)] = &[
        // platform, names, bounced, complained, pending
        ("mailchimp", true, true, true, false),
        ("substack", false, false, false, false),
        ("beehiiv", true, true, false, true),
        ("ghost", true, false, false, false),
        ("listmonk", true, false, false, false),
        ("buttondown", false, true, true, true),
        ("kit", true, true, true, true),
    ];
    for &(platform, names, bounced, complained, pending) in cases {
        let dir = project();
        let d = dir.path();
        assert_eq!(to_send(d), 4, "{platform}: before");
        let files = fixtures(platform);
        let file_args: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
        let list_before = std::fs::read(d.join(LIST)).unwrap();
        let log_before = std::fs::read(d.join(LOG)).unwrap();

        // A dry run recognises the platform by its header and writes nothing.
        let mut args = vec!["subscribers", "import", "--dry-run", "--json"];
        args.extend(&file_args);
        let dry = json(&run(d, &args));
        for file in dry["files"].as_array().unwrap() {
            assert_eq!(file["format"], platform, "{dry}");
        }
        assert_eq!(
            dry["readers"]["subscribed"]["added"], 2,
            "{platform}: {dry}"
        );
        assert_eq!(
            std::fs::read(d.join(LIST)).unwrap(),
            list_before,
            "{platform}"
        );
        assert_eq!(
            std::fs::read(d.join(LOG)).unwrap(),
            log_before,
            "{platform}"
        );
        assert_eq!(to_send(d), 4, "{platform}: a dry run changes nothing");

        let mut args = vec!["subscribers", "import", "--from", platform, "--json"];
        args.extend(&file_args);
        let report = json(&run(d, &args));
        assert_eq!(
            report["events"], dry["events"],
            "{platform}: as the dry run said"
        );
        assert_eq!(report["readers"], dry["readers"], "{platform}");

        // Exactly these get the next issue: the four already on the list
        // but Grace (unsubscribed on the platform), and the two new readers.
        // Margaret (removed here), Ken (bounced in the CSV) and Edsger
        // (bounced here) stay off though the export has them subscribed;
        // the unsubscribed, cleaned, complained and pending get nothing.
        let sendable: BTreeSet<String> = rows(d, false).into_keys().collect();
        let expected: BTreeSet<String> = [
            "ada@example.com",
            "alan@example.net",
            "katherine@example.com",
            "lovelace@example.org",
            "zoe@example.com",
        ]
        .map(String::from)
        .into();
        assert_eq!(sendable, expected, "{platform}: {report}");
        assert_eq!(to_send(d), 5, "{platform}");
        assert_eq!(
            report["readers"]["subscribed"]["kept-off"], 2,
            "{platform}: {report}"
        );

        // Consent times kept, from `import:<platform>`.
        for (email, time) in [
            ("zoe@example.com", "2024-03-01T12:00:00Z"),
            ("lovelace@example.org", "2023-06-15T08:30:00Z"),
        ] {
            assert_eq!(
                events_of(d, email),
                vec![(time.into(), "imported".into(), format!("import:{platform}"))],
                "{platform}"
            );
        }
        // Every row of the fixtures says when: every event the import wrote
        // keeps that time.
        let log = std::fs::read_to_string(d.join(LOG)).unwrap();
        let imported: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!(",import:{platform},")))
            .collect();
        assert_eq!(imported.len() as u64, report["events"].as_u64().unwrap());
        for line in &imported {
            let time = line.split(',').nth(1).unwrap();
            assert!(
                time.starts_with("202") && time.ends_with('Z'),
                "{platform}: {line}"
            );
        }
        // The suppressions this project already had are not undone.
        let margaret = events_of(d, "margaret@example.net");
        assert_eq!(margaret.len(), 1, "{platform}: {margaret:?}");
        assert_eq!(events_of(d, "edsger@example.org").len(), 1, "{platform}");
        let all = rows(d, true);
        let status = |email: &str| all.get(email).map(|r| r["status"].as_str());
        assert_eq!(
            status("grace@example.org"),
            Some("unsubscribed"),
            "{platform}"
        );
        assert_eq!(
            status("gone@example.net"),
            Some("unsubscribed"),
            "{platform}"
        );
        assert_eq!(status("margaret@example.net"), Some("unsubscribed"));
        assert_eq!(status("edsger@example.org"), Some("bounced"));
        if bounced {
            assert_eq!(status("bounce@example.net"), Some("bounced"), "{platform}");
        }
        if complained {
            assert_eq!(status("spam@example.net"), Some("complained"), "{platform}");
        }
        if pending {
            assert_eq!(status("later@example.com"), Some("pending"), "{platform}");
            assert_eq!(report["readers"]["pending"]["pending"], 1, "{platform}");
        }
        if platform == "mailchimp" {
            // Subscribed in one file, cleaned in another: cleaned.
            assert_eq!(status("dup@example.com"), Some("bounced"));
            assert_eq!(report["repeated_rows"], 2, "{report}");
            assert_eq!(report["skipped"][0]["line"], 4, "{report}");
            assert_eq!(
                status("grace@example.org"),
                Some("unsubscribed"),
                "the unsubscribe time kept"
            );
            assert_eq!(
                all["grace@example.org"]["status_at"],
                "2024-05-05T10:00:00Z"
            );
        }

        // The list keeps its rows and columns and gains the two readers,
        // with their names and fields; Grace's row is marked.
        let list = std::fs::read_to_string(d.join(LIST)).unwrap();
        assert!(
            list.starts_with("email,name,status,city")
                && list.contains("\nalan@example.net,\"Turing, Alan\",subscribed,Wilmslow")
                && list.contains("\ngrace@example.org,Grace Hopper,unsubscribed,Arlington"),
            "{platform}: {list}"
        );
        let mut csv = csv::Reader::from_reader(list.as_bytes());
        let headers = csv.headers().unwrap().clone();
        let zoe = csv
            .records()
            .map(Result::unwrap)
            .find(|r| &r[0] == "zoe@example.com")
            .unwrap();
        let cell = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .map_or("", |i| zoe.get(i).unwrap())
        };
        if names {
            assert_eq!(cell("name"), "Zoë Ångström", "{platform}: {list}");
            assert!(
                list.contains("\nlovelace@example.org,\"Lovelace, Ada\","),
                "{list}"
            );
        }
        if !matches!(platform, "substack" | "beehiiv") {
            assert!(
                cell("tags").contains("Early") || cell("city") == "Malmö",
                "{platform}: {list}"
            );
        }

        // The same import again changes nothing at all.
        let list_after = std::fs::read(d.join(LIST)).unwrap();
        let log_after = std::fs::read(d.join(LOG)).unwrap();
        let again = json(&run(d, &args));
        assert_eq!(again["events"], 0, "{platform}: {again}");
        assert_eq!(again["rows"], 0, "{platform}: {again}");
        assert_eq!(
            std::fs::read(d.join(LIST)).unwrap(),
            list_after,
            "{platform}"
        );
        assert_eq!(std::fs::read(d.join(LOG)).unwrap(), log_after, "{platform}");
    }
}

#[test]
fn the_terminal_says_what_happened_by_status() {
    let dir = project();
    let d = dir.path();
    let mut args = vec!["subscribers", "import", "--dry-run"];
    let files = fixtures("kit");
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let o = run(d, &args);
    assert_exit(&o, 0);
    let text = stdout(&o).replace(&fixture("migrate").display().to_string(), "FIXTURES");
    insta::assert_snapshot!("import_dry_run", text);
}

#[test]
fn an_export_imported_again_gives_the_same_list() {
    let source = project();
    let s = source.path();
    let mut args = vec!["subscribers", "import"];
    let files = fixtures("mailchimp");
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    assert_exit(&run(s, &args), 0);
    // A reader whose sign-up has not been confirmed yet, too.
    let beehiiv = fixtures("beehiiv");
    assert_exit(
        &run(s, &["subscribers", "import", beehiiv[0].to_str().unwrap()]),
        0,
    );
    let before = rows(s, true);
    let subscribed = |rows: &BTreeMap<String, BTreeMap<String, String>>| {
        rows.iter()
            .filter(|(_, r)| r["status"] == "subscribed")
            .map(|(e, r)| (e.clone(), r["name"].clone(), r["status_at"].clone()))
            .collect::<BTreeSet<_>>()
    };
    let off = |rows: &BTreeMap<String, BTreeMap<String, String>>, collapse: bool| {
        rows.iter()
            .filter(|(_, r)| r["status"] != "subscribed" && r["status"] != "pending")
            .map(|(e, r)| {
                let status = if collapse {
                    "off"
                } else {
                    r["status"].as_str()
                };
                (e.clone(), status.to_string())
            })
            .collect::<BTreeSet<_>>()
    };
    assert!(before.len() > 10, "{before:?}");
    for shape in ["csv", "ghost", "listmonk", "mailchimp"] {
        let target = tempfile::tempdir().unwrap();
        let t = target.path();
        std::fs::copy(repo().join("missive.toml"), t.join("missive.toml")).unwrap();
        std::fs::create_dir(t.join("issues")).unwrap();
        std::fs::copy(repo().join(ISSUE), t.join(ISSUE)).unwrap();
        if shape == "ghost" {
            // An empty list file is a list not begun yet.
            std::fs::write(t.join(LIST), "").unwrap();
        }
        let file = s.join(format!("export-{shape}.csv"));
        assert_exit(
            &run(
                s,
                &[
                    "subscribers",
                    "export",
                    "--to",
                    shape,
                    file.to_str().unwrap(),
                    "--all",
                ],
            ),
            0,
        );
        let mut written: Vec<PathBuf> = std::fs::read_dir(s)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("export-{shape}"))
            })
            .collect();
        written.sort();
        #[cfg(unix)]
        for path in &written {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        assert_eq!(written.len(), if shape == "mailchimp" { 3 } else { 1 });
        let mut args = vec!["subscribers", "import", "--from", shape];
        args.extend(written.iter().map(|p| p.to_str().unwrap()));
        let report = json(&run(t, &[&args[..], &["--json"]].concat()));
        assert!(
            report["skipped"].as_array().unwrap().is_empty(),
            "{shape}: {report}"
        );
        let after = rows(t, true);
        // The same readers get mail, with the same names and consent times.
        assert_eq!(subscribed(&after), subscribed(&before), "{shape}");
        assert_eq!(to_send(t), to_send(s), "{shape}");
        // The same addresses are off the list; missive's shape and
        // Mailchimp's files say why, Ghost and listmonk only that they are.
        let exact = matches!(shape, "csv" | "mailchimp");
        assert_eq!(off(&after, !exact), off(&before, !exact), "{shape}");
        if shape == "csv" {
            assert_eq!(after, before, "missive's own shape keeps everything");
        }
        for path in written {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn a_row_missive_cannot_read_stops_the_import_with_nothing_written() {
    let dir = project();
    let d = dir.path();
    let list = std::fs::read(d.join(LIST)).unwrap();
    let log = std::fs::read(d.join(LOG)).unwrap();
    let bad = d.join("kit.csv");
    std::fs::write(
        &bad,
        "first_name,email_address,state,created_at\r\n\
         A,a@example.com,active,2024-01-01T00:00:00Z\r\n\
         B,b@example.com,zombie,2024-01-01T00:00:00Z\r\n",
    )
    .unwrap();
    let o = run(d, &["subscribers", "import", bad.to_str().unwrap()]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("kit.csv, line 3, column `state`: unknown status `zombie`"),
        "{err}"
    );
    let time = d.join("ghost.csv");
    std::fs::write(
        &time,
        "email,name,subscribed_to_emails,created_at\na@example.com,A,true,last tuesday\n",
    )
    .unwrap();
    let o = run(d, &["subscribers", "import", time.to_str().unwrap()]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("ghost.csv, line 2, column `created_at`: `last tuesday` is not a time"),
        "{}",
        stderr(&o)
    );
    // A header row of no known export names the columns each needs.
    let unknown = d.join("other.csv");
    std::fs::write(&unknown, "E-Mail,Vorname\na@example.com,A\n").unwrap();
    let o = run(d, &["subscribers", "import", unknown.to_str().unwrap()]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("it has `E-Mail`, `Vorname`")
            && err.contains("mailchimp: `email_address`, `optin_time`")
            && err.contains("substack: `email`, `active_subscription`, `email_disabled`"),
        "{err}"
    );
    // A named platform whose columns the file lacks.
    let o = run(
        d,
        &[
            "subscribers",
            "import",
            "--from",
            "substack",
            bad.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("is not a substack export"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(d.join(LIST)).unwrap(), list);
    assert_eq!(std::fs::read(d.join(LOG)).unwrap(), log);
}

/// A Mailchimp export of `n` readers, the i-th unsubscribed when `i % 10
/// == 9`: the subscribed file and the unsubscribed file.
fn mailchimp_export(dir: &Path, n: usize) -> [PathBuf; 2] {
    use std::io::Write as _;
    let header = "\"Email Address\",\"First Name\",\"Last Name\",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS";
    let subscribed = dir.join("subscribed_members_export.csv");
    let unsubscribed = dir.join("unsubscribed_members_export.csv");
    let mut s = std::io::BufWriter::new(std::fs::File::create(&subscribed).unwrap());
    let mut u = std::io::BufWriter::new(std::fs::File::create(&unsubscribed).unwrap());
    writeln!(s, "{header}\r").unwrap();
    writeln!(u, "{header},UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER\r").unwrap();
    for i in 0..n {
        let row = format!(
            "reader{i:07}@example.org,Reader,\"No. {i}\",2,\"2023-01-01 00:00:00\",192.0.2.1,\"2023-01-02 00:00:00\",192.0.2.2,,,,,,,,\"2023-01-02 00:00:00\",{i},e{i},,\"\"\"Imported\"\"\""
        );
        if i % 10 == 9 {
            writeln!(u, "{row},\"2024-01-01 00:00:00\",Issue,c1,,\r").unwrap();
        } else {
            writeln!(s, "{row}\r").unwrap();
        }
    }
    drop((s, u));
    [subscribed, unsubscribed]
}

#[test]
fn an_import_killed_and_run_again_while_readers_leave_loses_and_doubles_nothing() {
    let dir = project();
    let d = dir.path();
    let files = mailchimp_export(d, 60_000);
    let file_args: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    // Readers leave through the author while the import runs, and the
    // import is killed with SIGKILL part-way, then run again; another
    // `subscribers` reads the log at once.
    let leaving: Vec<String> = (0..40)
        .map(|i| format!("reader{:07}@example.org", i * 1_000))
        .collect();
    let leaver = {
        let d = d.to_path_buf();
        let leaving = leaving.clone();
        std::thread::spawn(move || {
            for email in &leaving {
                assert_exit(&run(&d, &["subscribers", "remove", email]), 0);
                assert_exit(&run(&d, &["subscribers", "--json"]), 0);
            }
        })
    };
    // Each round is killed as soon as its events start reaching the log:
    // part of them written, the list not yet replaced.
    // And readers leave through serve's one-click unsubscribe at once.
    let (mut serve, url) = spawn_server(d, &["serve", "--bind", "127.0.0.1:0"]);
    let clicking: Vec<String> = (0..40)
        .map(|i| format!("reader{:07}@example.org", i * 1_000 + 500))
        .collect();
    let clicker = {
        let clicking = clicking.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            for email in &clicking {
                let token = list_secret().token(email);
                let status = agent
                    .post(&format!("{url}unsubscribe?email={email}&token={token}"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send("List-Unsubscribe=One-Click")
                    .unwrap()
                    .status()
                    .as_u16();
                assert_eq!(status, 200, "{email}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let mut killed = 0;
    for _ in 0..2 {
        let before = std::fs::metadata(d.join(LOG)).unwrap().len();
        let mut child = command(d)
            .args(["subscribers", "import"])
            .args(&file_args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let now = std::fs::metadata(d.join(LOG)).unwrap().len();
            // More than the leaver's few lines: the import is writing.
            if now > before + 4096 {
                child.kill().unwrap();
                killed += 1;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.wait().unwrap();
    }
    leaver.join().unwrap();
    clicker.join().unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    let report = json(&run(
        d,
        &[&["subscribers", "import", "--json"], &file_args[..]].concat(),
    ));
    assert_eq!(killed, 2, "the import ended before it could be killed");
    // Once more: nothing left to do.
    let again = json(&run(
        d,
        &[&["subscribers", "import", "--json"], &file_args[..]].concat(),
    ));
    assert_eq!(again["events"], 0, "{again}");
    assert_eq!(again["rows"], 0, "{again}");

    // Every reader of the export has exactly one event from the import,
    // but those who left before the import came to them (kept off, with
    // no record of a consent they withdrew), and the list holds each new
    // one once.
    let log = std::fs::read_to_string(d.join(LOG)).unwrap();
    let mut imported: BTreeMap<&str, usize> = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains(",import:mailchimp,")) {
        *imported.entry(line.split(',').next().unwrap()).or_default() += 1;
    }
    assert!(imported.values().all(|n| *n == 1), "an event doubled");
    for i in 0..60_000 {
        let email = format!("reader{i:07}@example.org");
        if !leaving.contains(&email) && !clicking.contains(&email) {
            assert_eq!(imported.get(email.as_str()), Some(&1), "{email}: {report}");
        }
    }
    let list = std::fs::read_to_string(d.join(LIST)).unwrap();
    let mut rows: BTreeMap<&str, usize> = BTreeMap::new();
    for line in list.lines().filter(|l| l.starts_with("reader")) {
        *rows.entry(line.split(',').next().unwrap()).or_default() += 1;
    }
    assert!(rows.len() >= 54_000 - 80, "{}", rows.len());
    assert!(rows.values().all(|n| *n == 1), "a row doubled");
    // Nobody who left while it ran (through the author or serve) is sent
    // the next issue, and everyone else subscribed is: the 4 of the example
    // list and 54,000 less those who left.
    for email in &leaving {
        let removed = log
            .lines()
            .filter(|l| l.starts_with(&format!("{email},")) && l.contains(",unsubscribed,author,"))
            .count();
        assert_eq!(removed, 1, "{email}");
    }
    for email in &clicking {
        let removed = log
            .lines()
            .filter(|l| {
                l.starts_with(&format!("{email},")) && l.contains(",unsubscribed,one-click,")
            })
            .count();
        assert_eq!(removed, 1, "{email}");
    }
    let gone = leaving
        .iter()
        .chain(&clicking)
        .filter(|e| {
            let i: usize = e[6..13].parse().unwrap();
            i % 10 != 9
        })
        .count() as u64;
    let counts = json(&run(d, &["subscribers", "--json"]));
    assert_eq!(counts["subscribed"], 4 + 54_000 - gone, "{counts}");
}
