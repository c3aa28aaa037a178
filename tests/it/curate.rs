//! `missive add` against pages served on loopback by Python's http.server
//! (fixtures written for this project, one per metadata style), and
//! `check`'s warning about links sent before.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::*;

/// Python's http.server serving `tests/fixtures/pages/` on a free port.
struct Pages {
    child: Child,
    port: u16,
}

impl Pages {
    fn start() -> Pages {
        Pages::serve(&repo().join("tests/fixtures/pages"))
    }

    /// Serves `dir` instead.
    fn serve(dir: &Path) -> Pages {
        let port = crate::common::mta::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed().as_secs() < 20, "http.server did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Pages { child, port }
    }

    fn url(&self, page: &str) -> String {
        format!("http://127.0.0.1:{}/{page}", self.port)
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `missive add URL --dry-run` in `dir`: the item it would write.
fn item_for(dir: &Path, url: &str) -> String {
    let o = missive(dir, &["add", url, "--dry-run"]);
    assert_exit(&o, 0);
    stdout(&o)
}

#[test]
fn add_fills_an_item_from_each_kind_of_page_metadata() {
    // (jsonld.html and opengraph.html name their address on another site,
    // which is said and not taken: the URL fetched stays.)
    let pages = Pages::start();
    let dir = example_project();
    for (page, expected) in [
        (
            "jsonld.html",
            "[[sections.items]]\ntitle = \"Beneath the Harbour: the tunnels nobody maps\"\n\
             url = \"URL/jsonld.html\"\n\
             authors = [\"Ines Ferreira\", \"Tomás Okafor\"]\nsource = \"The Harbour Review\"\n\
             published = 2026-11-20\n",
        ),
        (
            "citation.html",
            "[[sections.items]]\ntitle = \"Maintenance as Policy: Evidence from 40 Port Cities\"\n\
             url = \"URL/citation.html\"\n\
             authors = [\"Adaeze Okonkwo\", \"Per Lindqvist\", \"Thandi Mbeki\", \"Rui Salgado\"]\n\
             source = \"Institute for Slow Cities\"\npublished = 2026-10-01\n",
        ),
        (
            "opengraph.html",
            "[[sections.items]]\ntitle = \"The Maintenance Manifesto & other essays\"\n\
             url = \"URL/opengraph.html\"\n\
             authors = [\"Jane Doe\", \"John Roe\"]\nsource = \"Long Reads\"\npublished = 2026-11-02\n",
        ),
        (
            "title.html",
            "[[sections.items]]\ntitle = \"Floating neighbourhoods\"\nurl = \"URL/title.html\"\n\
             published = 2026-09-14\n",
        ),
        (
            "report.pdf",
            "[[sections.items]]\ntitle = \"Harbour Futures: Dredging, Silt and the Next Fifty Years\"\n\
             url = \"URL/report.pdf\"\nauthors = [\"Ada Okonkwo\", \"Per Lindqvist\"]\n\
             published = 2026-10-15\n",
        ),
        (
            "cp1252.html",
            "[[sections.items]]\ntitle = \"Café society: “the third place”\"\nurl = \"URL/cp1252.html\"\n",
        ),
    ] {
        let url = pages.url(page);
        let base = url.trim_end_matches(page).trim_end_matches('/');
        let expected = expected.replace("URL", base);
        let out = item_for(dir.path(), &url);
        assert!(
            out.starts_with(&expected),
            "{page}:\n{out}\nexpected:\n{expected}"
        );
    }
    // A page that is not there, and one with no title without --title.
    let o = missive(
        dir.path(),
        &["add", &pages.url("missing.html"), "--dry-run"],
    );
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("404"), "{}", stderr(&o));
}

#[test]
fn add_leaves_every_other_byte_of_the_issue_as_it_was() {
    let pages = Pages::start();
    let dir = example_project();
    let issue = dir
        .path()
        .join("issues/2026-11-27-tides-and-timetables.toml");
    // The example issue, with an author's comments and odd spacing all over.
    let before = std::fs::read_to_string(&issue)
        .unwrap()
        .replacen("number = 87\n", "number   =   87   # after 86\n", 1)
        .replace(
            "[[sections]]\n",
            "\n# ----- a new section: keep them short -----\n[[sections]]   # here\n",
        )
        .replace(
            "[[sections.items]]\n",
            "[[sections.items]]\n# checked the link on Tuesday\n",
        );
    let before = format!(
        "# Draft of issue 87.\n# Items in reading order.\n\n{before}\n# end of the draft\n"
    );
    std::fs::write(&issue, &before).unwrap();
    let first_section = before
        .lines()
        .skip_while(|l| !l.starts_with("[[sections]]"))
        .nth(1)
        .unwrap()
        .trim()
        .trim_start_matches("title = ")
        .trim_matches('"')
        .to_string();
    let o = missive(
        dir.path(),
        &[
            "add",
            &pages.url("jsonld.html"),
            "--section",
            &first_section,
            "--label",
            "LONG READ",
            "--comment",
            "Worth it for the maps.",
        ],
    );
    assert_exit(&o, 0);
    // The item as printed, up to what is said of its URL (the page names
    // its address on another site) and where it went.
    let out = stdout(&o);
    let block = out
        .split("note: ")
        .next()
        .unwrap()
        .split("added to")
        .next()
        .unwrap()
        .to_string();
    assert!(
        block.contains("label = \"LONG READ\"\n")
            && block.contains("comment = \"Worth it for the maps.\"\n"),
        "{block}"
    );
    let after = std::fs::read_to_string(&issue).unwrap();
    assert_ne!(after, before);
    assert_eq!(
        after.replacen(&format!("{block}\n"), "", 1),
        before,
        "only the new item changed"
    );
    // It loads and checks, with one more item.
    let o = missive(
        dir.path(),
        &["check", "issues/2026-11-27-tides-and-timetables.toml"],
    );
    assert_exit(&o, 0);
}

/// tests/links/server.py on a free port, counting requests in `count`.
struct LinkServer {
    child: Child,
    port: u16,
}

impl LinkServer {
    fn start(count: &Path) -> LinkServer {
        let mut child = Command::new("python3")
            .arg(repo().join("tests/links/server.py"))
            .arg("--count")
            .arg(count)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let port = ready_port(&mut child);
        LinkServer { child, port }
    }
}

impl Drop for LinkServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn check_links_reports_each_kind_of_failure_on_its_item_and_caches_the_day() {
    let dir = example_project();
    let count = dir.path().join("requests.log");
    let server = LinkServer::start(&count);
    let base = format!("http://127.0.0.1:{}", server.port);
    let mut issue = String::from(
        "subject = \"Links\"\ndate = 2026-12-04\n\n[[sections]]\ntitle = \"All kinds\"\n",
    );
    for path in [
        "ok", "moved", "temp", "gone", "missing", "broken", "no-head", "slow", "huge",
    ] {
        let _ = write!(
            issue,
            "\n[[sections.items]]\ntitle = \"{path}\"\nurl = \"{base}/{path}\"\n"
        );
    }
    let _ = write!(
        issue,
        "\n[[sections.items]]\ntitle = \"fine\"\nurl = \"{base}/ok-2\"\n\
         comment = \"See also [this]({base}/missing-too).\"\n"
    );
    std::fs::write(dir.path().join("issues/2026-12-04-links.toml"), issue).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["check", "issues/2026-12-04-links.toml", "--links"];
        args.extend_from_slice(extra);
        missive(dir.path(), &args)
    };
    let o = run(&[]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    for expected in [
        format!(
            "item 2 (sections[0].items[1].url): {base}/moved moved for good: link to {base}/new-home-of-moved instead"
        ),
        format!(
            "item 3 (sections[0].items[2].url): {base}/temp redirects to the site's home page ({base}/): probably gone"
        ),
        format!("item 4 (sections[0].items[3].url): {base}/gone dead (410)"),
        format!("item 5 (sections[0].items[4].url): {base}/missing dead (404)"),
        format!("item 6 (sections[0].items[5].url): {base}/broken dead (500)"),
        format!("item 8 (sections[0].items[7].url): {base}/slow unreachable: no answer within 8 s"),
        format!("item 10 (sections[0].items[9].comment): {base}/missing-too dead (404)"),
        "links: 11 checked, 6 dead, 1 moved".to_string(),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    for fine in ["/ok ", "/no-head ", "/huge ", "/ok-2 "] {
        assert!(
            !out.contains(&format!("{base}{fine}")),
            "{fine} reported:\n{out}"
        );
    }
    // The server refusing HEAD was asked with GET.
    let requests = std::fs::read_to_string(&count).unwrap();
    assert!(
        requests.contains("HEAD /no-head\nGET /no-head") || requests.contains("GET /no-head"),
        "{requests}"
    );
    assert_exit(&run(&["--strict"]), 1);
    // The preview shows the latest results beside the warnings.
    let (mut preview, url) = spawn_server(
        dir.path(),
        &["preview", "issues/2026-12-04-links.toml", "--port", "0"],
    );
    let state: serde_json::Value = serde_json::from_str(
        &ureq::get(format!("{url}state"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let _ = preview.kill();
    let _ = preview.wait();
    let warnings = finding_texts(&state);
    let warnings: Vec<&str> = warnings.iter().map(String::as_str).collect();
    assert!(
        warnings.contains(
            &format!("link check: item 4 (sections[0].items[3].url): {base}/gone dead (410)")
                .as_str()
        ),
        "{warnings:#?}"
    );
    assert!(
        !warnings.iter().any(|w| w.contains("/ok ")),
        "{warnings:#?}"
    );
    // A second run asks nothing: the day's results are cached.
    let asked = std::fs::read_to_string(&count).unwrap().lines().count();
    let o = run(&[]);
    assert!(
        stdout(&o).contains("(11 from the last day's check"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("links: 11 checked, 6 dead, 1 moved"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        asked
    );
    // --fresh asks again.
    let o = run(&["--fresh"]);
    assert!(
        !stdout(&o).contains("from the last day's check"),
        "{}",
        stdout(&o)
    );
    assert!(std::fs::read_to_string(&count).unwrap().lines().count() > asked);
}

#[test]
fn add_refuses_a_page_too_large_or_too_slow_and_says_why() {
    let dir = example_project();
    let count = dir.path().join("requests.log");
    let server = LinkServer::start(&count);
    let base = format!("http://127.0.0.1:{}", server.port);
    let o = missive(dir.path(), &["add", &format!("{base}/huge"), "--dry-run"]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("larger than 5 MB"), "{}", stderr(&o));
    let o = missive(dir.path(), &["add", &format!("{base}/slow"), "--dry-run"]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("no answer within 20 s"),
        "{}",
        stderr(&o)
    );
    // A page without a usable title, unless one is given.
    let o = missive(
        dir.path(),
        &["add", &format!("{base}/gone"), "--dry-run", "--title", "X"],
    );
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("410"), "{}", stderr(&o));
}

/// Writes an issue after the example's, with one empty section, to import
/// into; returns its path in the project.
fn empty_next_issue(dir: &Path) -> &'static str {
    let next = "issues/2026-12-04-next.toml";
    std::fs::write(
        dir.join(next),
        "subject = \"Next\"\ndate = 2026-12-04\n\n[[sections]]\ntitle = \"Reading\"\n",
    )
    .unwrap();
    next
}

/// `missive import` of a fixture into a copy of the example project, with
/// an empty next issue to import into; the output and the issue after.
fn import(source: &str, extra: &[&str]) -> (String, String) {
    let dir = example_project();
    let next = empty_next_issue(dir.path());
    let fixture = repo().join("tests/fixtures/feeds").join(source);
    let mut args = vec!["import", fixture.to_str().unwrap(), "--issue", next];
    args.extend_from_slice(extra);
    let o = missive(dir.path(), &args);
    assert_exit(&o, 0);
    let out = stdout(&o);
    let text = std::fs::read_to_string(dir.path().join(next)).unwrap();
    // What it wrote loads and checks.
    assert_exit(&missive(dir.path(), &["check", next]), 0);
    (out, text)
}

#[test]
fn import_drafts_items_from_atom_rss_and_bookmarks_leaving_out_what_was_sent() {
    let (out, atom) = import("atom.xml", &["--since", "2026-11-15"]);
    assert!(
        out.contains("imported 1 item into issues/2026-12-04-next.toml (left out: 1 already in the issue or sent before, 1 older than --since)"),
        "{out}"
    );
    assert!(
        atom.contains(
            "[[sections.items]]\ntitle = \"Silt, the quiet budget line\"\n\
             url = \"https://portcities.example.net/silt\"\n\
             authors = [\"Rui Salgado\", \"Thandi Mbeki\"]\nsource = \"Port Cities Weekly\"\n\
             published = 2026-12-01\n"
        ),
        "{atom}"
    );
    assert!(
        !atom.contains("again"),
        "a link issue 87 sent came back: {atom}"
    );
    assert!(
        !atom.contains("An old one"),
        "--since let an old one in: {atom}"
    );

    let (_, rss) = import("rss.xml", &[]);
    assert!(
        rss.contains(
            "title = \"Why ferries run late & early\"\nurl = \"https://tidewater.example.com/ferries\"\n\
             authors = [\"Per Lindqvist\"]\nsource = \"The Tidewater Letter\"\npublished = 2026-12-01\n"
        ),
        "{rss}"
    );
    assert!(rss.contains("title = \"Tide tables, annotated\""), "{rss}");

    let (_, marks) = import("bookmarks.html", &["--since", "2025-01-01"]);
    assert!(
        marks.contains("title = \"Locks & keepers\"\nurl = \"https://canals.example.org/locks\"\n"),
        "{marks}"
    );
    // Issue 87 sent the manifesto; a bookmarklet is no link; 2019 is too old.
    assert!(!marks.contains("maintenance-manifesto"), "{marks}");
    assert!(!marks.contains("javascript"), "{marks}");
    assert!(!marks.contains("Saved long ago"), "{marks}");
}

#[test]
fn import_reads_a_feed_from_a_url_and_enrich_fills_items_from_their_pages() {
    let site = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/pages/jsonld.html"),
        site.path().join("jsonld.html"),
    )
    .unwrap();
    let pages = Pages::serve(site.path());
    std::fs::write(
        site.path().join("feed.xml"),
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Relay</title>\
             <item><title>a terse feed title</title><link>{}</link></item></channel></rss>",
            pages.url("jsonld.html")
        ),
    )
    .unwrap();
    let dir = example_project();
    let next = empty_next_issue(dir.path());
    let o = missive(
        dir.path(),
        &[
            "import",
            &pages.url("feed.xml"),
            "--issue",
            next,
            "--enrich",
        ],
    );
    assert_exit(&o, 0);
    let text = std::fs::read_to_string(dir.path().join(next)).unwrap();
    // The page names its address on another site: the URL fetched stays.
    assert!(
        text.contains(&format!(
            "title = \"Beneath the Harbour: the tunnels nobody maps\"\n\
             url = \"{}\"\n\
             authors = [\"Ines Ferreira\", \"Tomás Okafor\"]\nsource = \"The Harbour Review\"\n\
             published = 2026-11-20\n",
            pages.url("jsonld.html")
        )),
        "{text}"
    );
}

/// An item added to a section whose last item ends in a multi-line comment
/// whose last line looks like a TOML comment (a Markdown heading) goes
/// after that string, not into it: the section grows by one, the comment
/// is unchanged.
#[test]
fn add_never_writes_inside_a_multi_line_string() {
    let pages = Pages::start();
    let dir = example_project();
    let next = "issues/2026-12-04-next.toml";
    let comment = "My take.\n\n# A heading in Markdown";
    let text = format!(
        "subject = \"Next\"\ndate = 2026-12-04\n\n[[sections]]\ntitle = \"One\"\n\n\
         [[sections.items]]\ntitle = \"A\"\nurl = \"https://example.org/a\"\n\
         comment = \"\"\"\n{comment}\n\"\"\"\n\n[[sections]]\ntitle = \"Two\"\n\n\
         [[sections.items]]\ntitle = \"B\"\nurl = \"https://example.org/b\"\n"
    );
    std::fs::write(dir.path().join(next), &text).unwrap();
    let o = missive(
        dir.path(),
        &[
            "add",
            &pages.url("title.html"),
            "--issue",
            next,
            "--section",
            "One",
        ],
    );
    assert_exit(&o, 0);
    assert_exit(&missive(dir.path(), &["check", next]), 0);
    let after = std::fs::read_to_string(dir.path().join(next)).unwrap();
    let issue: toml::Value = toml::from_str(&after).unwrap();
    let one = issue["sections"][0]["items"].as_array().unwrap();
    assert_eq!(one.len(), 2, "{after}");
    assert_eq!(
        one[0]["comment"].as_str().unwrap().trim_end(),
        comment,
        "{after}"
    );
    assert_eq!(issue["sections"][1]["items"].as_array().unwrap().len(), 1);
}

/// Four `add`s at once into one issue: each item is there after (each
/// re-reads the file under the issue's lock before it writes).
#[test]
fn adds_at_once_lose_no_item() {
    let pages = Pages::start();
    let dir = example_project();
    let next = empty_next_issue(dir.path());
    let children: Vec<_> = [
        "title.html",
        "jsonld.html",
        "opengraph.html",
        "citation.html",
    ]
    .iter()
    .map(|page| {
        crate::common::command(dir.path())
            .args(["add", &pages.url(page), "--issue", next])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    })
    .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let after = std::fs::read_to_string(dir.path().join(next)).unwrap();
    let issue: toml::Value = toml::from_str(&after).unwrap();
    assert_eq!(
        issue["sections"][0]["items"].as_array().unwrap().len(),
        4,
        "{after}"
    );
}

/// A feed of 2,000 entries with three that cannot be items (a
/// `javascript:` link, a relative link, a title with a control character
/// only) imports the rest and names the three; nothing cites a line of a
/// file that was never written.
#[test]
fn import_skips_and_reports_bad_entries_and_keeps_the_rest() {
    let dir = example_project();
    let next = empty_next_issue(dir.path());
    let mut rss =
        String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>");
    for i in 0..2000 {
        let (title, link) = match i {
            100 => ("Bad script".to_string(), "javascript:alert(1)".to_string()),
            200 => ("Bad relative".to_string(), "/just/a/path".to_string()),
            _ => (format!("Entry {i}"), format!("https://example.org/e/{i}")),
        };
        let _ = write!(
            rss,
            "<item><title>{title}</title><link>{link}</link></item>"
        );
    }
    rss.push_str("</channel></rss>");
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, rss).unwrap();
    let o = missive(
        dir.path(),
        &["import", feed.to_str().unwrap(), "--issue", next],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(
            "left out: Bad script <javascript:alert(1)>: url: only http and https links are \
             allowed"
        ),
        "{out}"
    );
    assert!(out.contains("left out: Bad relative"), "{out}");
    assert!(out.contains("imported 1998 items"), "{out}");
    assert!(
        !out.contains("item:"),
        "no line of a file never written: {out}"
    );
    let issue: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.path().join(next)).unwrap()).unwrap();
    assert_eq!(
        issue["sections"][0]["items"].as_array().unwrap().len(),
        1998
    );
}

/// Pages that try it on: a Yoast-style `@graph` whose author and publisher
/// are `@id` references (resolved), JSON-LD with 200,000 authors (20 kept,
/// quickly), a title of 100,000 characters (cut), bidi overrides in a title
/// (dropped), a `<meta charset=utf-16>` page in UTF-8 (read as UTF-8), and a
/// canonical address on another site (the URL fetched is kept, and said).
#[test]
fn add_reads_pages_that_try_it_on() {
    let site = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| std::fs::write(site.path().join(name), body).unwrap();
    write(
        "yoast.html",
        r#"<html><head><script type="application/ld+json">{"@context":"https://schema.org","@graph":[
        {"@type":"Article","@id":"https://s.example/a#article","headline":"Graph headline",
         "author":{"@id":"https://s.example/#/person/1"},"publisher":{"@id":"https://s.example/#org"},
         "datePublished":"2026-11-20T08:00:00+00:00"},
        {"@type":"Person","@id":"https://s.example/#/person/1","name":"Grace Hopper"},
        {"@type":"Organization","@id":"https://s.example/#org","name":"The Example Gazette"}]}
        </script></head><body></body></html>"#,
    );
    let mut many = String::from(
        r#"<html><head><script type="application/ld+json">{"@type":"Article","headline":"Many","author":["#,
    );
    for i in 0..200_000 {
        let _ = write!(many, "{}\"Author {i}\"", if i > 0 { "," } else { "" });
    }
    many.push_str("]}</script></head></html>");
    write("many.html", &many);
    write(
        "long.html",
        &format!(
            "<html><head><title>{}</title></head></html>",
            "Long ".repeat(20_000)
        ),
    );
    write(
        "bidi.html",
        "<html><head><meta charset=\"utf-16\"><title>Caf\u{e9} \u{202e}txt.exe\u{202c} notes</title></head></html>",
    );
    write(
        "elsewhere.html",
        "<html><head><title>Syndicated</title>\
         <link rel=\"canonical\" href=\"https://another-site.example/original\"></head></html>",
    );
    let pages = Pages::serve(site.path());
    let dir = example_project();

    let yoast = item_for(dir.path(), &pages.url("yoast.html"));
    assert!(yoast.contains("authors = [\"Grace Hopper\"]"), "{yoast}");
    assert!(
        yoast.contains("source = \"The Example Gazette\""),
        "{yoast}"
    );

    let many = item_for(dir.path(), &pages.url("many.html"));
    let authors = many.lines().find(|l| l.starts_with("authors")).unwrap();
    assert_eq!(authors.matches("Author ").count(), 20, "{authors}");

    let long = item_for(dir.path(), &pages.url("long.html"));
    let title = long.lines().find(|l| l.starts_with("title")).unwrap();
    assert!(title.chars().count() < 320, "{title}");

    let bidi = item_for(dir.path(), &pages.url("bidi.html"));
    assert!(bidi.contains("title = \"Café txt.exe notes\""), "{bidi}");

    let elsewhere = item_for(dir.path(), &pages.url("elsewhere.html"));
    assert!(
        elsewhere.contains(&format!("url = \"{}\"", pages.url("elsewhere.html"))),
        "{elsewhere}"
    );
    assert!(
        elsewhere.contains("on another site: kept the URL fetched"),
        "{elsewhere}"
    );
}

/// Remote images get the column's width until `check --links` has read
/// their own from the start of each file; then their own, capped at the
/// column (Outlook for Windows shows an image without a width at its
/// natural size).
#[test]
fn check_links_measures_remote_images_for_their_width() {
    let dir = example_project();
    let count = dir.path().join("requests.log");
    let server = LinkServer::start(&count);
    let base = format!("http://127.0.0.1:{}", server.port);
    let issue = format!(
        "subject = \"Pictures\"\ndate = 2026-12-04\n\n[[sections]]\ntitle = \"Seen\"\n\n\
         [[sections.items]]\ntitle = \"Two pictures\"\nurl = \"{base}/ok\"\n\
         comment = \"![A wide one]({base}/img/wide.png)\\n\\n![A small one]({base}/img/small.png)\"\n"
    );
    let path = dir.path().join("issues/2026-12-04-pictures.toml");
    std::fs::write(&path, issue).unwrap();
    let html = || {
        let out = dir.path().join("out");
        assert_exit(&build(dir.path(), &path, &out), 0);
        std::fs::read_to_string(out.join("2026-12-04-pictures.html")).unwrap()
    };
    let img = |html: &str, name: &str| {
        let at = html.find(&format!("/img/{name}.png")).unwrap();
        let start = html[..at].rfind("<img").unwrap();
        html[start..at].to_string()
    };
    let before = html();
    assert!(
        img(&before, "wide").contains("width=\"552\""),
        "{}",
        img(&before, "wide")
    );
    assert!(
        img(&before, "small").contains("width=\"552\""),
        "{}",
        img(&before, "small")
    );

    let o = missive(
        dir.path(),
        &["check", "issues/2026-12-04-pictures.toml", "--links"],
    );
    assert_exit(&o, 0);
    let after = html();
    assert!(
        img(&after, "wide").contains("width=\"552\""),
        "{}",
        img(&after, "wide")
    );
    assert!(
        img(&after, "small").contains("width=\"160\""),
        "{}",
        img(&after, "small")
    );
    // Measured once: a second check asks for no image again.
    let asked = || {
        std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("GET /img/"))
            .count()
    };
    let first = asked();
    assert_exit(
        &missive(
            dir.path(),
            &["check", "issues/2026-12-04-pictures.toml", "--links"],
        ),
        0,
    );
    assert_eq!(asked(), first);
}
