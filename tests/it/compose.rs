//! The composer end to end: `missive build`, `check` and `new` run as a user
//! runs them, on fixture issues and the bundled example.

use std::path::Path;

use crate::common::*;
use missive::compose::Issue;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Collapses runs of whitespace and drops the `> ` of quoted lines, so text
/// can be searched without caring where lines wrap.
fn flatten(text: &str) -> String {
    text.lines()
        .map(|l| l.trim_start().trim_start_matches('>').trim())
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn example_builds_to_the_golden_html_and_text() {
    let out = tempfile::tempdir().unwrap();
    let o = build(&repo(), &example_issue(), out.path());
    assert_exit(&o, 0);
    let stem = "2026-11-27-tides-and-timetables";
    for ext in ["mjml", "html", "txt"] {
        let path = out.path().join(format!("{stem}.{ext}"));
        assert!(
            stdout(&o).contains(&path.display().to_string()),
            "{}",
            stdout(&o)
        );
    }
    assert!(
        stdout(&o).contains("KB"),
        "sizes are printed: {}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("built in "),
        "time is printed: {}",
        stdout(&o)
    );
    assert_golden(
        &format!("{stem}.html"),
        &read(&out.path().join(format!("{stem}.html"))),
    );
    assert_golden(
        &format!("{stem}.txt"),
        &read(&out.path().join(format!("{stem}.txt"))),
    );
}

#[test]
fn text_part_keeps_every_item_and_wraps_at_78() {
    let out = tempfile::tempdir().unwrap();
    assert_exit(&build(&repo(), &example_issue(), out.path()), 0);
    let text = read(&out.path().join("2026-11-27-tides-and-timetables.txt"));
    assert_plain_text_reads_well(
        &text,
        &Issue::parse(&read(&example_issue()), &example_issue()).unwrap(),
    );
    assert!(
        !text.contains("---|") && !text.contains("│"),
        "table borders"
    );

    let flat = flatten(&text);
    let issue = Issue::parse(&read(&example_issue()), &example_issue()).unwrap();
    for numbered in issue.numbered_items() {
        let (n, item) = (numbered.number, numbered.item);
        let label = item
            .label
            .as_ref()
            .map(|l| format!("{l} – "))
            .unwrap_or_default();
        let heading = match &item.url {
            Some(url) => format!("{n}. {label}{} {url}", item.title),
            None => format!("{n}. {label}{}", item.title),
        };
        assert!(
            flat.contains(&heading),
            "item {n}: {heading:?} not in the text"
        );
        for words in [&item.excerpt, &item.comment].into_iter().flatten() {
            let first_line = words
                .trim()
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("- ");
            let start: String = first_line
                .split_whitespace()
                .take(5)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(flat.contains(&start), "item {n}: {start:?} not in the text");
        }
    }
    assert!(
        flat.contains("Hugo Bromley and Eyck Freymann, The Estuary Institute, November 25, 2026")
    );
    assert!(flat.contains("Sofía Arrieta, Tomás Berger, and Ines Walcott, Urban Review"));
    // Merge tags are filled in (here with their fallback) and links are readable.
    assert!(text.contains("Dear friends,"), "greeting");
    assert!(!text.contains("{{"), "an unfilled merge tag");
    assert!(text.contains(
        "Unsubscribe:\nmailto:unsubscribe@slowcommute.example.com?subject=unsubscribe\n"
    ));
    assert!(text.contains("Read it in your browser:\nhttps://slowcommute.example.com/issues/2026-11-27-tides-and-timetables/\n"));
    assert!(
        text.contains("Comment:\n\nA long report"),
        "comments are labelled"
    );
}

/// What the plain text part owes a reader: lines of at most 78 columns (a
/// line that is a single URL may be longer), every item's URL whole on a
/// line of its own, no line that is only a quote mark, never two blank
/// lines in a row.
fn assert_plain_text_reads_well(text: &str, issue: &Issue) {
    for line in text.lines() {
        let single_url = !line.contains(' ') && line.contains("://");
        assert!(
            line.chars().count() <= 78 || single_url,
            "line over 78 columns: {line:?}"
        );
        assert_ne!(line.trim(), ">", "a line that is only a quote mark");
    }
    assert!(!text.contains("\n\n\n"), "runs of blank lines");
    let lines: std::collections::HashSet<&str> = text.lines().collect();
    for numbered in issue.numbered_items() {
        if let Some(url) = &numbered.item.url {
            assert!(
                lines.contains(url.as_str()),
                "item {}: its URL is not whole on a line of its own",
                numbered.number
            );
        }
    }
}

#[test]
fn the_text_part_of_a_100_item_issue_reads_well_and_shows_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let issue = synthetic_issue(dir.path(), 100);
    // A thematic break in the letter.
    let mut text = read(&issue);
    let body = text.find("body = \"\"\"").expect("a letter");
    let gap = body + text[body..].find("\n\n").expect("two paragraphs");
    text.insert_str(gap, "\n\n***");
    std::fs::write(&issue, &text).unwrap();
    let out = dir.path().join("out");
    assert_exit(&build(dir.path(), &issue, &out), 0);
    let part = read(&out.join("synthetic-100.txt"));
    assert_plain_text_reads_well(&part, &Issue::parse(&text, &issue).unwrap());
    let rules = part.lines().filter(|l| *l == "- - - - - - - - - -").count();
    // The break, one before the letter, one per section (10), one before the footer.
    assert!(rules >= 13, "{rules} rules");
}

#[test]
fn html_has_the_layout_a_reader_needs() {
    let out = tempfile::tempdir().unwrap();
    assert_exit(&build(&repo(), &example_issue(), out.path()), 0);
    let html = read(&out.path().join("2026-11-27-tides-and-timetables.html"));
    assert!(html.contains("<title>Tides and timetables: what the week meant</title>"));
    // Preheader, table of contents with item ranges, numbered linked items, footer.
    assert!(html.contains("On slow infrastructure, a harbour that learned to float"));
    // Ranges that do not break; numbers in a cell of their own beside the
    // title (hanging in every client), the title as large where <style> is
    // dropped; excerpts with their own margins.
    assert!(html.contains(
        "<a href=\"#section-2\" style=\"color:#1a5fb4\">Cities &amp; transit</a> <span class=\"m nw\">5–11</span>"
    ));
    assert!(html.contains("<td class=\"n\" width=\"34\" valign=\"top\">8.</td><td><h3 id=\"t8\" style=\"font-size:21px\"><a name=\"item-8\"></a><span class=\"l\">VIDEO</span> – <a href=\"https://example.com/video/signal-box\" style=\"color:#1f1f1f\">"));
    assert!(html.contains(
        "<blockquote style=\"margin:8px 0;border-left:3px solid #c9c2b2;padding-left:12px\"><p>Most of the world’s container tonnage"
    ));
    // A reading time under the date; Apple's data detectors kept off.
    assert!(html.contains(" min read</span>"));
    assert!(html.contains("format-detection"));
    assert!(html.contains("x-apple-data-detectors"));
    assert!(html.contains("12 Harbour Row<br />Anytown AB1 2CD"));
    assert!(html.contains(
        "href=\"https://slowcommute.example.com/issues/2026-11-27-tides-and-timetables/\""
    ));
    assert!(
        html.contains("href=\"mailto:unsubscribe@slowcommute.example.com?subject=unsubscribe\"")
    );
    // No bloat: no comments but Outlook's conditional ones, no web fonts.
    let comments = html.matches("<!--").count();
    let conditional = html.matches("<!--[if").count()
        + html.matches("<!--<![endif]").count()
        + html.matches("<!-->").count();
    assert_eq!(comments, conditional, "plain HTML comments in the output");
    assert!(!html.contains("fonts.googleapis"), "web fonts");
    assert!(
        html.len() < 40_000,
        "the example's HTML is {} bytes",
        html.len()
    );
}

#[test]
fn the_html_is_accessible_and_its_anchors_and_preheader_work_everywhere() {
    let out = tempfile::tempdir().unwrap();
    assert_exit(&build(&repo(), &example_issue(), out.path()), 0);
    let html = read(&out.path().join("2026-11-27-tides-and-timetables.html"));
    assert!(html.contains("<html lang=\"en\""), "the language is set");
    // Every item title is a heading a screen reader can jump between, the
    // subject the only h1.
    assert_eq!(html.matches("<h3").count(), 32, "one h3 per item");
    assert_eq!(html.matches("<h1").count(), 1);
    // Anchors that Gmail and Outlook follow, beside the ids, and a labelled
    // table of contents.
    for n in 1..=5 {
        assert!(
            html.contains(&format!("id=\"section-{n}\"><a name=\"section-{n}\"></a>")),
            "section {n}"
        );
    }
    for n in 1..=32 {
        assert!(
            html.contains(&format!("<a name=\"item-{n}\"></a>")),
            "item {n}"
        );
    }
    assert!(html.contains("<strong>In this issue</strong>"));
    // The preheader is hidden without white-on-white text, and padded so
    // that nothing after it reaches the inbox preview.
    let start = html.find("aria-hidden=\"true\">").expect("the preheader");
    let preheader = &html[html[..start].rfind("<div").unwrap()..];
    let preheader = &preheader[..preheader.find("</div>").unwrap()];
    assert!(preheader.contains("display:none") && preheader.contains("mso-hide:all"));
    assert!(
        !preheader.to_lowercase().contains("color:#fff"),
        "{preheader}"
    );
    assert!(preheader.contains("On slow infrastructure"));
    assert!(preheader.matches("&zwnj;&nbsp;").count() >= 80, "padding");
    // Dark mode is declared and styled.
    assert!(html.contains("<meta name=\"color-scheme\" content=\"light dark\" />"));
    assert!(html.contains("@media (prefers-color-scheme:dark)"));
    assert!(html.contains("[data-ogsc]"));
    assert!(html.contains("x-apple-disable-message-reformatting"));
}

#[test]
fn values_are_escaped_never_markup() {
    let out = tempfile::tempdir().unwrap();
    let o = build(&repo(), &fixture("escaping.toml"), out.path());
    assert_exit(&o, 0);
    let html = read(&out.path().join("escaping.html"));
    assert!(!html.contains("<script>"), "script tag passed through");
    assert!(
        !html.contains("<img src=x"),
        "raw HTML in Markdown passed through"
    );
    assert!(
        !html.contains("<div onclick"),
        "raw HTML in Markdown passed through"
    );
    assert!(
        !html.contains("<b>bold</b>"),
        "raw HTML in Markdown passed through"
    );
    assert!(!html.contains("<i>"), "markup in a section title");
    assert!(html.contains(
        "<title>Tom &amp; Jerry &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</title>"
    ));
    assert!(html.contains("A &lt; B &amp; C &gt; D"));
    assert!(html.contains("&lt;VIDEO&gt;"));
    assert!(
        html.contains("href=\"https://example.org/?a=1&amp;b=%222%22\""),
        "url escaped"
    );
    assert!(html.contains("<strong>real bold</strong>"));
    let text = read(&out.path().join("escaping.txt"));
    assert!(text.contains("A < B & C > D"), "{text}");
    assert!(text.contains("Raw <b>bold</b>"), "{text}");
}

#[test]
fn builds_with_no_config_at_all() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("clean.toml"), dir.path().join("clean.toml")).unwrap();
    let o = missive(dir.path(), &["build", "clean.toml"]);
    assert_exit(&o, 0);
    let html = read(&dir.path().join("out/clean.html"));
    assert!(html.contains("You are reading Newsletter."), "default name");
    assert!(
        !html.contains("Unsubscribe"),
        "no unsubscribe link without a method"
    );
    assert!(
        !html.contains("in your browser"),
        "no web link without web_url"
    );
    assert!(dir.path().join("out/clean.txt").is_file());
    assert!(dir.path().join("out/clean.mjml").is_file());
}

/// Runs `build` on a broken input and checks the exit code, that nothing was
/// written, and that stderr holds every expected fragment.
fn assert_build_error(dir: &Path, issue: &Path, expected: &[&str]) {
    let out = dir.join("out-should-not-exist");
    let o = build(dir, issue, &out);
    assert_exit(&o, 1);
    assert!(!out.exists(), "output written despite an error");
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    for fragment in expected {
        assert!(err.contains(fragment), "{fragment:?} not in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn syntax_error_names_file_line_column_and_shows_the_line() {
    let path = fixture("syntax-error.toml");
    assert_build_error(
        &repo(),
        &path,
        &[
            &format!("{}:7:", path.display()),
            "7 | title = \"Unclosed",
            "^",
        ],
    );
}

#[test]
fn schema_error_names_the_field_path() {
    let path = fixture("bad-date.toml");
    assert_build_error(
        &repo(),
        &path,
        &[
            &format!("{}:18:13: sections[1].items[1].published:", path.display()),
            "expected a TOML date",
            "18 | published = \"last Tuesday\"",
        ],
    );
}

#[test]
fn unknown_key_suggests_the_closest_one() {
    let path = fixture("unknown-key.toml");
    assert_build_error(
        &repo(),
        &path,
        &[
            &format!("{}:9:1: sections[0].items[0].ulr:", path.display()),
            "unknown key `ulr`",
            "did you mean `url`?",
        ],
    );
}

#[test]
fn non_web_links_are_refused() {
    let path = fixture("bad-url.toml");
    assert_build_error(
        &repo(),
        &path,
        &[
            "sections[0].items[0].url",
            "only http and https links are allowed",
        ],
    );
}

#[test]
fn missing_required_key_is_named() {
    let path = fixture("missing-subject.toml");
    assert_build_error(&repo(), &path, &["required key `subject` is missing"]);
}

#[test]
fn missing_issue_file_is_named() {
    assert_build_error(
        &repo(),
        &repo().join("issues/no-such-issue.toml"),
        &["issues/no-such-issue.toml", "cannot read file"],
    );
}

#[test]
fn config_errors_name_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("missive.toml"),
        "[newsletter]\nname = \"X\"\n\n[unsubscribe]\nurl = \"https://x.example/u\"\nmaillto = \"u@x.example\"\n",
    )
    .unwrap();
    assert_build_error(
        dir.path(),
        &fixture("clean.toml"),
        &[
            "missive.toml:6:1: unsubscribe.maillto:",
            "did you mean `mailto`?",
        ],
    );
    let o = missive(
        dir.path(),
        &[
            "--config",
            "elsewhere.toml",
            "check",
            fixture("clean.toml").to_str().unwrap(),
        ],
    );
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("elsewhere.toml: cannot read file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn template_errors_name_the_template_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/issue.mjml"),
        "<mjml><mj-body>{% for x in %}</mj-body></mjml>",
    )
    .unwrap();
    assert_build_error(
        dir.path(),
        &fixture("clean.toml"),
        &["templates/issue.mjml", "1:"],
    );

    // A template that renders but is not valid MJML.
    std::fs::write(
        dir.path().join("templates/issue.mjml"),
        "<mjml><mj-body><mj-section>{{ subject }}</mjml>",
    )
    .unwrap();
    assert_build_error(
        dir.path(),
        &fixture("clean.toml"),
        &["templates/issue.mjml: the MJML does not compile"],
    );
}

#[test]
fn a_template_in_the_project_overrides_the_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/issue.text.html"),
        "<p>Custom: {{ subject }} has {{ item_count }} item.</p>",
    )
    .unwrap();
    let o = missive(
        dir.path(),
        &["build", fixture("clean.toml").to_str().unwrap()],
    );
    assert_exit(&o, 0);
    assert_eq!(
        read(&dir.path().join("out/clean.txt")),
        "Custom: A clean issue has 1 item.\n"
    );
    // The other template is still the built-in one.
    assert!(read(&dir.path().join("out/clean.html")).contains("id=\"item-1\""));
}

#[test]
fn check_reports_every_kind_of_warning() {
    let path = fixture("warnings.toml");
    // --verbose: each finding on its own line, with its field path.
    let o = missive(&repo(), &["check", "--verbose", path.to_str().unwrap()]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    for expected in [
        "subject: 107 characters",
        "preheader: missing",
        "sections[0].items[1].url: item 2 links to the same URL as item 1",
        "sections[0].items[2].url: item 3 links over http: http://example.org/insecure",
        "sections[0].items[3]: item 4 (\"No link at all\") has no url",
        "letter.body: image without alt text: https://example.org/a.png",
        "letter.body: link over http: http://example.org/plain",
        "sections[1]: section \"Nothing here yet\" has no items",
    ] {
        assert!(err.contains(expected), "{expected:?} not in:\n{err}");
    }
    assert_eq!(err.lines().count(), 8, "{err}");
    for (level, text) in [
        ("warning", "subject: 107"),
        ("note", "preheader: missing"),
        ("note", "has no url"),
    ] {
        let line = err.lines().find(|l| l.contains(text)).unwrap();
        assert!(line.starts_with(&format!("{level}: ")), "{line}");
    }
    assert!(stdout(&o).contains("6 warnings, 2 notes"), "{}", stdout(&o));
    assert!(!Path::new(&repo().join("out/warnings.html")).exists());

    // Without it: one line per kind, warnings before notes.
    let o = missive(&repo(), &["check", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(
        err.lines().any(|l| l.starts_with("warning: ")
            && l.ends_with("warnings.toml: 2 links over http: 3 and 1 outside the items")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 7, "{err}");
    let levels: Vec<&str> = err.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        levels,
        [
            "warning", "warning", "warning", "warning", "warning", "note", "note"
        ],
        "{err}"
    );

    let strict = missive(&repo(), &["check", "--strict", path.to_str().unwrap()]);
    assert_exit(&strict, 1);
    assert!(stderr(&strict).contains("6 warnings and --strict was given"));

    let clean = missive(
        &repo(),
        &["check", "--strict", fixture("clean.toml").to_str().unwrap()],
    );
    assert_exit(&clean, 0);
    assert!(stdout(&clean).contains("0 warnings"), "{}", stdout(&clean));
}

#[test]
fn check_fails_on_errors() {
    let o = missive(
        &repo(),
        &["check", fixture("bad-date.toml").to_str().unwrap()],
    );
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("sections[1].items[1].published"));
}

#[test]
fn a_clipped_issue_names_the_last_item_and_puts_links_on_top() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("missive.toml"), dir.path().join("missive.toml")).unwrap();
    let issue = synthetic_issue(dir.path(), 200);
    let o = missive(dir.path(), &["check", issue.to_str().unwrap()]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    let marker = "over Gmail's clip size of 102 KB: item ";
    let at = err
        .find(marker)
        .unwrap_or_else(|| panic!("no clip warning in:\n{err}"));
    let n: usize = err[at + marker.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let o = missive(dir.path(), &["build", issue.to_str().unwrap()]);
    assert_exit(&o, 0);
    let html = read(&dir.path().join("out/synthetic-200.html"));
    // Item n ends (item n+1 starts) before the clip; item n+1 does not end
    // before it. The clip falls where the part as sent reaches 102 KB.
    let clip = missive::compose::clip_offset(&html);
    assert!(clip < html.len() && missive::compose::encoded_len(&html) > 102_000);
    let start = |i: usize| html.find(&format!("id=\"item-{i}\"")).unwrap();
    assert!(
        start(n + 1) <= clip,
        "item {n} is not whole before the clip"
    );
    assert!(
        start(n + 2) > clip,
        "item {} is whole before the clip too",
        n + 1
    );
    // The web version and unsubscribe links come before the first item.
    let web = html
        .find("read it in your browser")
        .expect("web link on top");
    let unsubscribe = html
        .find(">unsubscribe</a>")
        .expect("unsubscribe link on top");
    assert!(web < start(1) && unsubscribe < start(1));
}

#[test]
fn new_writes_a_documented_starter_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let o = missive(dir.path(), &["new", "Hello, “World”!"]);
    assert_exit(&o, 0);
    let issues: Vec<_> = std::fs::read_dir(dir.path().join("issues"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(issues.len(), 1);
    let path = &issues[0];
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(name.ends_with("-hello-world.toml"), "{name}");
    assert_eq!(name.len(), "2026-11-29-hello-world.toml".len(), "{name}");
    let text = read(path);
    for field in [
        "subject",
        "preheader",
        "date",
        "number",
        "[letter]",
        "greeting",
        "body",
        "signoff",
        "signature",
        "[[sections]]",
        "intro",
        "[[sections.items]]",
        "url",
        "label",
        "authors",
        "source",
        "published",
        "excerpt",
        "comment",
    ] {
        assert!(
            text.contains(field),
            "the starter does not document {field}"
        );
    }
    let check = missive(dir.path(), &["check", path.to_str().unwrap()]);
    assert_exit(&check, 0);
    assert_eq!(
        Issue::parse(&text, path).unwrap().subject.as_str(),
        "Hello, “World”!"
    );

    std::fs::write(path, "edited").unwrap();
    let again = missive(dir.path(), &["new", "Hello, “World”!"]);
    assert_exit(&again, 1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(read(path), "edited");
}

#[test]
fn usage_errors_exit_2() {
    let o = missive(&repo(), &["build"]);
    assert_exit(&o, 2);
    let o = missive(&repo(), &["frobnicate"]);
    assert_exit(&o, 2);
}

/// Writes an issue with `item` extra lines in its one item, in a new project.
fn issue_with_item(dir: &Path, item: &str) -> std::path::PathBuf {
    let path = dir.join("issue.toml");
    std::fs::write(
        &path,
        format!(
            "subject = \"S\"\npreheader = \"P\"\ndate = 2026-11-27\n[[sections]]\ntitle = \"A\"\n\
             [[sections.items]]\ntitle = \"T\"\nurl = \"https://example.org/t\"\n{item}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn deeply_nested_markdown_is_an_error_naming_the_field_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    for nested in [
        ">".repeat(8000),
        format!("{}x", "- ".repeat(4000)),
        // 300 levels of list: its text part came out empty before.
        (0..300).fold(String::new(), |mut list, i| {
            use std::fmt::Write as _;
            let _ = writeln!(list, "{}- level {i}", "  ".repeat(i));
            list
        }),
    ] {
        let issue = issue_with_item(dir.path(), &format!("excerpt = '''\n{nested}\n'''"));
        for command in ["build", "check"] {
            let o = missive(dir.path(), &[command, issue.to_str().unwrap()]);
            assert_exit(&o, 1);
            let err = stderr(&o);
            assert!(err.contains("issue.toml"), "{err}");
            assert!(err.contains("sections[0].items[0].excerpt"), "{err}");
            assert!(err.contains("nests more than 32 levels"), "{err}");
            assert!(!err.contains("overflow"), "{err}");
        }
    }
}

#[test]
fn a_deeply_nested_template_does_not_crash_the_renderer() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let depth = 3000;
    std::fs::write(
        templates.join("issue.mjml"),
        format!(
            "<mjml><mj-body><mj-section><mj-column><mj-text>{}{{{{ subject }}}}{}</mj-text>\
             </mj-column></mj-section></mj-body></mjml>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        ),
    )
    .unwrap();
    let issue = issue_with_item(dir.path(), "");
    let o = missive(dir.path(), &["build", issue.to_str().unwrap()]);
    assert!(
        o.status.code().is_some(),
        "killed by a signal: {}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("overflow"), "{}", stderr(&o));
}

#[test]
fn script_and_data_links_are_dropped_with_a_check_error() {
    let dir = tempfile::tempdir().unwrap();
    let issue = issue_with_item(
        dir.path(),
        "comment = \"[click](javascript:alert(1)) <vbscript:x> ![i](data:text/html;base64,PHNjcmlwdD4=) [ok](https://example.org/ok)\"",
    );
    let o = missive(dir.path(), &["check", issue.to_str().unwrap()]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert_eq!(
        err.matches("error: ").count(),
        4,
        "three dropped links and the summary: {err}"
    );
    assert!(
        err.contains("sections[0].items[0].comment: a link to `javascript:alert(1)` was dropped"),
        "{err}"
    );
    // A send to the list refuses, naming each error once.
    let o = missive(dir.path(), &["send", issue.to_str().unwrap(), "--dry-run"]);
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert_eq!(
        err.matches("`javascript:alert(1)` was dropped").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("has 3 errors, which `missive check` lists"),
        "{err}"
    );
    let out = dir.path().join("out");
    assert_exit(&build(dir.path(), &issue, &out), 0);
    for ext in ["html", "txt"] {
        let body = read(&out.join(format!("issue.{ext}"))).to_lowercase();
        assert!(!body.contains("href=\"javascript"), "{ext}");
        assert!(!body.contains("href=\"vbscript"), "{ext}");
        assert!(!body.contains("data:text/html"), "{ext}");
        assert!(body.contains("https://example.org/ok"), "{ext}");
    }
}

#[test]
fn control_characters_in_fields_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (item, field) in [
        ("label = \"VIDEO\\u0007\"", "sections[0].items[0].label"),
        (
            "source = \"\\u001b[2JPaper\"",
            "sections[0].items[0].source",
        ),
        ("comment = \"a\\u0000b\"", "sections[0].items[0].comment"),
    ] {
        let issue = issue_with_item(dir.path(), item);
        let o = missive(dir.path(), &["build", issue.to_str().unwrap()]);
        assert_exit(&o, 1);
        let err = stderr(&o);
        assert!(err.contains(&"issue.toml:9:".to_string()), "{err}");
        assert!(err.contains(field), "{field}: {err}");
        assert!(err.contains("control character"), "{err}");
        assert!(!err.contains("MJML"), "{err}");
    }
}

#[test]
fn an_unsubscribe_url_without_a_token_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("missive.toml"),
        "[unsubscribe]\nurl = \"https://example.org/leave?email={email}\"\n",
    )
    .unwrap();
    let issue = issue_with_item(dir.path(), "");
    let o = missive(dir.path(), &["check", issue.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("unsubscribe.url has no {token}"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fit_brings_long_issues_under_the_clip_and_the_web_version_keeps_every_excerpt() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(repo().join("missive.toml")).unwrap();
    std::fs::create_dir(dir.path().join("issues")).unwrap();
    // 200 items: nothing fits, not even leaving every excerpt out; 95
    // items: shortened ones do.
    for (items, shortened_with_links) in [(200, false), (95, true)] {
        std::fs::write(dir.path().join("missive.toml"), &config).unwrap();
        let stem = format!("2026-12-04-long-{items}");
        let path = dir.path().join(format!("issues/{stem}.toml"));
        let text = missive::synthetic::issue_with_long_excerpts(items);
        std::fs::write(&path, &text).unwrap();
        let issue = Issue::parse(&text, &path).unwrap();
        let excerpt_bytes: usize = issue
            .numbered_items()
            .filter_map(|n| n.item.excerpt.as_deref().map(str::len))
            .sum();
        assert!(
            excerpt_bytes * 2 > text.len(),
            "excerpts are most of the issue"
        );

        // With fit turned off: what must go, and which excerpts are largest.
        std::fs::write(
            dir.path().join("missive.toml"),
            format!("{config}\n[email]\nfit = false\n"),
        )
        .unwrap();
        let o = missive(dir.path(), &["check", path.to_str().unwrap()]);
        assert_exit(&o, 0);
        let err = stderr(&o);
        assert!(
            err.contains("KB must go to fit under Gmail's clip; the largest excerpts: item "),
            "{err}"
        );
        assert!(err.contains("remove [email] fit = false"), "{err}");

        // On by default with a web version: the HTML part as sent lands
        // within 2 KB under the clip, and the text part stays whole.
        std::fs::write(dir.path().join("missive.toml"), &config).unwrap();
        let o = missive(dir.path(), &["check", path.to_str().unwrap()]);
        assert!(stdout(&o).contains(" as sent), text "), "{}", stdout(&o));
        let out = dir.path().join("out");
        let o = build(dir.path(), &path, &out);
        assert_exit(&o, 0);
        let said = if shortened_with_links {
            "[email] fit shortened "
        } else {
            "even without every excerpt it would not fit, so fitting leaves the email as it is"
        };
        assert!(stderr(&o).contains(said), "{}", stderr(&o));
        let html = read(&out.join(format!("{stem}.html")));
        let sent = missive::compose::encoded_len(&html);
        if shortened_with_links {
            assert!(
                (100_000..=102_000).contains(&sent),
                "{items} items: the email is {sent} bytes as sent"
            );
        } else {
            // Too many items for even the titles to fit: the email stays as
            // written, every excerpt whole.
            assert!(sent > 102_000, "{items} items");
            assert!(!html.contains("continue reading"), "{items} items");
        }
        let text_part = read(&out.join(format!("{stem}.txt")));
        assert!(!text_part.contains("continue reading"), "{items} items");
        for numbered in issue.numbered_items() {
            let (n, item) = (numbered.number, numbered.item);
            assert!(html.contains(&format!("id=\"item-{n}\"")), "item {n}");
            assert!(
                html.contains(&escaped(item.title.as_str())),
                "item {n}: title"
            );
            if let Some(url) = &item.url {
                assert!(html.contains(&format!("href=\"{url}\"")), "item {n}: link");
            }
            if let Some(byline) = missive::compose::byline(item) {
                assert!(html.contains(&escaped(&byline)), "item {n}: byline");
            }
        }
        let onward = format!("href=\"https://slowcommute.example.com/issues/{stem}/#item-1\"");
        assert_eq!(
            html.contains(&onward),
            shortened_with_links,
            "{items} items"
        );

        // The web version has every excerpt whole.
        assert_exit(&missive(dir.path(), &["archive"]), 0);
        let web = read(&dir.path().join(format!("site/{stem}/index.html")));
        assert!(!web.contains("continue reading"));
        // Its words, with emphasis as plain words.
        let web = ["<em>", "</em>", "<strong>", "</strong>"]
            .iter()
            .fold(web, |w, tag| w.replace(tag, ""));
        for numbered in issue.numbered_items() {
            if let Some(excerpt) = numbered.item.excerpt.as_deref() {
                let words: Vec<&str> = excerpt.split_whitespace().collect();
                let last = words[words.len().saturating_sub(3)..]
                    .join(" ")
                    .replace(['*', '_'], "");
                assert!(
                    web.contains(&escaped(&last)),
                    "item {}: {last:?}",
                    numbered.number
                );
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
}

/// Text as the HTML holds it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The start of a PNG file `width` × `height` px (what readers of its size
/// look at), padded to `bytes`.
fn png(width: u32, height: u32, bytes: usize) -> Vec<u8> {
    let mut data = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    data.extend_from_slice(&width.to_be_bytes());
    data.extend_from_slice(&height.to_be_bytes());
    data.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    data.resize(bytes.max(data.len()), 0);
    data
}

#[test]
fn local_images_are_sized_published_with_the_archive_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("issues")).unwrap();
    std::fs::create_dir_all(dir.path().join("images")).unwrap();
    std::fs::write(dir.path().join("images/wide.png"), png(1600, 400, 1000)).unwrap();
    std::fs::write(dir.path().join("images/heavy.png"), png(300, 200, 250_000)).unwrap();
    let issue = dir.path().join("issues/2026-12-04-pictures.toml");
    std::fs::write(
        &issue,
        "subject = \"S\"\npreheader = \"P\"\ndate = 2026-12-04\n[letter]\nbody = \"\"\"\n\
         ![A wide view](images/wide.png)\n\n![A heavy one](images/heavy.png)\n\"\"\"\n",
    )
    .unwrap();
    let issue_arg = issue.to_str().unwrap();

    // Without web_url readers could never see them: an error.
    let o = missive(dir.path(), &["check", issue_arg]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("letter.body: the image `images/wide.png`"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("set newsletter.web_url"),
        "{}",
        stderr(&o)
    );

    std::fs::write(
        dir.path().join("missive.toml"),
        "[newsletter]\nweb_url = \"https://news.example.com/issues\"\n",
    )
    .unwrap();
    let o = missive(dir.path(), &["check", issue_arg]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("the image `images/heavy.png` is 250 KB: over 200 KB"),
        "{}",
        stderr(&o)
    );
    let out = dir.path().join("out");
    assert_exit(&build(dir.path(), &issue, &out), 0);
    let html = read(&out.join("2026-12-04-pictures.html"));
    assert!(
        html.contains(
            "<img style=\"max-width:100%;height:auto\" width=\"552\" \
             src=\"https://news.example.com/issues/2026-12-04-pictures/images/wide.png\""
        ),
        "{html}"
    );
    assert!(html.contains(
        "width=\"300\" src=\"https://news.example.com/issues/2026-12-04-pictures/images/heavy.png\""
    ));

    // The archive puts them where the email points.
    assert_exit(&missive(dir.path(), &["archive"]), 0);
    assert_eq!(
        std::fs::read(dir.path().join("site/2026-12-04-pictures/images/wide.png")).unwrap(),
        png(1600, 400, 1000)
    );

    // A path out of the project is refused, never read.
    std::fs::write(
        &issue,
        "subject = \"S\"\ndate = 2026-12-04\n[letter]\nbody = \"![x](../secret.png)\"\n",
    )
    .unwrap();
    let o = missive(dir.path(), &["check", issue_arg]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("the image `../secret.png` is not a file in the project folder"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_warns_of_a_link_an_earlier_issue_already_sent() {
    let dir = example_project();
    std::fs::write(
        dir.path().join("issues/2026-12-04-next.toml"),
        r#"subject = "Next"
date = 2026-12-04
number = 88

[[sections]]
title = "Again"

[[sections.items]]
title = "A new piece"
url = "https://example.org/new"

[[sections.items]]
title = "The harbour, again"
url = "http://www.example.org/reports/beneath-the-harbor/?utm_source=newsletter#top"
"#,
    )
    .unwrap();
    let o = missive(dir.path(), &["check", "issues/2026-12-04-next.toml"]);
    assert_exit(&o, 0);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("sections[0].items[1].url: item 2 links to what issue No. 87 (2026-11-27) already sent as item 1"),
        "{all}"
    );
    assert!(!all.contains("items[0].url"), "{all}");
    assert!(
        missive(
            dir.path(),
            &["check", "issues/2026-12-04-next.toml", "--strict"]
        )
        .status
        .code()
            == Some(1)
    );
    // The earlier issue is not warned about the later one.
    let o = missive(
        dir.path(),
        &["check", "issues/2026-11-27-tides-and-timetables.toml"],
    );
    assert!(!format!("{}{}", stdout(&o), stderr(&o)).contains("already sent"));
}

/// Fitting cuts at sentences and never leaves a short opening paragraph
/// alone when the next paragraph's first sentences fit the budget: on a
/// 60-item issue of long excerpts, a fifth of which open with an
/// eight-word standfirst, the email lands within 2 KB under the clip as
/// sent, and every standfirst is followed by what fits of the next
/// paragraph.
#[test]
fn fit_never_stops_at_a_lone_standfirst_when_more_fits() {
    for items in [60, 95] {
        standfirsts_are_never_left_alone(items);
    }
}

fn standfirsts_are_never_left_alone(items: usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("missive.toml"), dir.path().join("missive.toml")).unwrap();
    std::fs::create_dir(dir.path().join("issues")).unwrap();
    const STANDFIRST: &str = "A short standfirst of exactly eight words here.";
    let mut text = String::new();
    for (i, part) in missive::synthetic::issue_with_long_excerpts(items)
        .split("excerpt = \"\"\"\n")
        .enumerate()
    {
        if i > 0 {
            text.push_str("excerpt = \"\"\"\n");
            if i % 5 == 0 {
                text.push_str(STANDFIRST);
                text.push_str("\n\n");
            }
        }
        text.push_str(part);
    }
    let path = dir.path().join("issues/2026-12-04-standfirsts.toml");
    std::fs::write(&path, &text).unwrap();
    let issue = Issue::parse(&text, &path).unwrap();
    let out = dir.path().join("out");
    let o = build(dir.path(), &path, &out);
    assert_exit(&o, 0);
    let html = read(&out.join("2026-12-04-standfirsts.html"));
    let sent = missive::compose::encoded_len(&html);
    assert!(
        (100_000..=102_000).contains(&sent),
        "{items} items: {sent} bytes as sent"
    );
    // Every title is there.
    for numbered in issue.numbered_items() {
        assert!(
            html.contains(&escaped(numbered.item.title.as_str())),
            "{items} items: item {}'s title",
            numbered.number
        );
    }
    // What fitting kept of each item: "items 1 (245 → 61 words), …".
    let said = stderr(&o);
    let kept: std::collections::HashMap<u32, usize> = said
        .split("items ")
        .nth(1)
        .expect("fit shortened items")
        .split("), ")
        .filter_map(|entry| {
            let (n, rest) = entry.split_once(" (")?;
            let after = rest.split(" → ").nth(1)?.split(' ').next()?;
            Some((n.trim().parse().ok()?, after.parse().ok()?))
        })
        .collect();
    // The common budget is at least the most any excerpt kept.
    let budget = *kept.values().max().unwrap();
    let words = |s: &str| s.split_whitespace().count();
    let mut standfirsts = 0;
    for numbered in issue.numbered_items() {
        let Some(excerpt) = numbered.item.excerpt.as_deref() else {
            continue;
        };
        let Some(&after) = kept.get(&numbered.number) else {
            continue;
        };
        let mut paragraphs = excerpt.split("\n\n");
        let first = words(paragraphs.next().unwrap());
        let next_sentence = paragraphs
            .next()
            .and_then(|p| p.split_inclusive(['.', '?']).next())
            .map_or(usize::MAX, words);
        if excerpt.starts_with(STANDFIRST) {
            standfirsts += 1;
        }
        if first < 20 && first + next_sentence <= budget {
            assert!(
                after > first,
                "{items} items: item {}: cut to its {first}-word opening though {next_sentence} \
                 more words fit a budget of {budget}",
                numbered.number
            );
        }
    }
    assert!(standfirsts >= 10, "{standfirsts} standfirsts shortened");
}
