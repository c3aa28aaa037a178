//! How the email fares in inboxes: a real spam scorer (Debian's
//! SpamAssassin, local tests only) on messages received by a real SMTP
//! server.

use std::path::Path;

use crate::common::*;

/// SpamAssassin's score of a raw message, printing every rule that fired.
fn spam_score(raw: &[u8], dir: &Path, name: &str) -> f64 {
    let eml = dir.join(format!("{name}.eml"));
    std::fs::write(&eml, raw).unwrap();
    let o = std::process::Command::new("spamassassin")
        .args(["-L", "-t"])
        .stdin(std::fs::File::open(&eml).unwrap())
        .output()
        .expect("spamassassin runs (bash tests/run installs it)");
    let report = String::from_utf8_lossy(&o.stdout);
    let details = report
        .split("Content analysis details:")
        .nth(1)
        .expect("a SpamAssassin report");
    println!("SpamAssassin on {name}:{details}");
    let status = report
        .lines()
        .find(|l| l.starts_with("X-Spam-Status:"))
        .expect("an X-Spam-Status header");
    status
        .split("score=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no score in {status}"))
}

/// Sends `issue` (a file name in the project's issues/) to three readers
/// through the test SMTP server and returns the first message received.
fn send_one(p: &SendProject, issue: &str) -> Vec<u8> {
    send_one_with(p, issue, |c| c)
}

/// [`send_one`] with the config changed by `config`.
fn send_one_with(
    p: &SendProject,
    issue: &str,
    config: impl FnOnce(ConfigText) -> ConfigText,
) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(out.path(), &[]);
    let config = config(ConfigText::plain(server.port).set(
        "unsubscribe.url",
        "\"https://slowcommute.example.com/unsubscribe?token={token}\"",
    ))
    .to_string();
    std::fs::write(p.path().join("missive.toml"), config).unwrap();
    assert_exit(&p.run(&["send", issue, "--yes"], SEND_ENV), 0);
    server.messages().remove(0).1
}

#[test]
fn spamassassin_scores_the_example_and_a_100_item_issue_at_zero_or_less() {
    let (list, _) = subscriber_list(3);
    let p = SendProject::new("", &list);
    let work = tempfile::tempdir().unwrap();
    let raw = send_one(&p, p.issue());
    let score = spam_score(&raw, work.path(), "example");
    assert!(score <= 0.0, "the example scores {score}");

    let synthetic = synthetic_issue(&p.path().join("issues"), 100);
    let name = format!(
        "issues/{}",
        synthetic.file_name().unwrap().to_string_lossy()
    );
    let raw = send_one(&p, &name);
    let score = spam_score(&raw, work.path(), "synthetic-100");
    assert!(score <= 0.0, "the 100-item issue scores {score}");
}

#[test]
fn spamassassin_scores_the_100_item_issue_with_click_links_at_zero_or_less() {
    let (list, _) = subscriber_list(3);
    let p = SendProject::new("", &list);
    let work = tempfile::tempdir().unwrap();
    let synthetic = synthetic_issue(&p.path().join("issues"), 100);
    let name = format!(
        "issues/{}",
        synthetic.file_name().unwrap().to_string_lossy()
    );
    let raw = send_one_with(&p, &name, |c| {
        c.set("clicks.url", "\"https://slowcommute.example.com\"")
    });
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let html = message.body_html(0).unwrap();
    assert!(html.matches("https://slowcommute.example.com/c/").count() > 100);
    assert!(html.contains("aria-hidden=\"true\" tabindex=\"-1\""));
    let score = spam_score(&raw, work.path(), "synthetic-100-clicks");
    assert!(
        score <= 0.0,
        "the 100-item issue with click links scores {score}"
    );
}

#[test]
fn in_chromium_the_email_survives_no_style_a_phone_and_dark_mode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("missive.toml"), dir.path().join("missive.toml")).unwrap();
    let synthetic = synthetic_issue(dir.path(), 100);
    let out = dir.path().join("out");
    for issue in [example_issue(), synthetic] {
        assert_exit(&build(dir.path(), &issue, &out), 0);
    }
    // The same example with the template as it was before, for comparison.
    let before = dir.path().join("before");
    std::fs::create_dir_all(before.join("templates")).unwrap();
    std::fs::copy(repo().join("missive.toml"), before.join("missive.toml")).unwrap();
    std::fs::copy(
        fixture("before/templates/issue.mjml"),
        before.join("templates/issue.mjml"),
    )
    .unwrap();
    let o = missive(
        &before,
        &["build", example_issue().to_str().unwrap(), "--out", "out"],
    );
    assert_exit(&o, 0);
    browser_checks(
        "inbox.mjs",
        "inbox-screenshots",
        &[
            ("example", out.join("2026-11-27-tides-and-timetables.html")),
            ("synthetic-100", out.join("synthetic-100.html")),
            (
                "before-example",
                before.join("out/2026-11-27-tides-and-timetables.html"),
            ),
        ],
        "all inbox checks passed",
    );
}

/// The design, measured in Chromium in every mode a reader meets (600, 480,
/// 375 and 320 px; light and dark; without <style>, dark without it too;
/// with what Gmail and Outlook for Windows drop taken out): no sideways
/// scrolling, titles whose first line starts where their wrapped lines do,
/// titles 1.2× the body or more, section heads no smaller than the body,
/// excerpts of 40 characters a line or more on a phone without <style>,
/// every text at 4.5:1 contrast or more. On the example, the 100-item
/// synthetic issue (a long letter with a remote image, comments) and a
/// long digest fitted under the clip. Screenshots are kept in
/// `target/design-screenshots`.
#[test]
fn in_chromium_the_design_holds_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("missive.toml"), dir.path().join("missive.toml")).unwrap();
    let synthetic = synthetic_issue(dir.path(), 100);
    let digest = dir.path().join("digest-95.toml");
    std::fs::write(&digest, missive::synthetic::issue_like_a_long_digest(95)).unwrap();
    let out = dir.path().join("out");
    for issue in [example_issue(), synthetic, digest] {
        assert_exit(&build(dir.path(), &issue, &out), 0);
    }
    browser_checks(
        "design.mjs",
        "design-screenshots",
        &[
            ("example", out.join("2026-11-27-tides-and-timetables.html")),
            ("synthetic-100", out.join("synthetic-100.html")),
            ("digest-95", out.join("digest-95.html")),
        ],
        "all design checks passed",
    );
}

/// Runs `tests/preview/SCRIPT` in Chromium over the named emails, keeps
/// its screenshots in `target/KEEP` where a person can look at them, and
/// asserts it ended with `passed`.
fn browser_checks(script: &str, keep: &str, emails: &[(&str, std::path::PathBuf)], passed: &str) {
    let shots = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("node")
        .arg(repo().join("tests/preview").join(script))
        .arg(shots.path())
        .args(
            emails
                .iter()
                .map(|(name, file)| format!("{name}={}", file.display())),
        )
        .output()
        .expect("node runs (bash tests/run installs it with playwright-core and chromium)");
    println!("{}", stdout(&o));
    let keep = repo().join("target").join(keep);
    std::fs::create_dir_all(&keep).unwrap();
    for shot in std::fs::read_dir(shots.path()).unwrap() {
        let shot = shot.unwrap().path();
        std::fs::copy(&shot, keep.join(shot.file_name().unwrap())).unwrap();
    }
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(passed), "{}", stdout(&o));
}
