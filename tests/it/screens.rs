//! What a person reads on the terminal, pinned: the output of `check`,
//! `send --dry-run`, `send`, `status`, `subscribers` and `bounces` (and,
//! in `clicks.rs`, `stats`) on
//! fixture projects, as snapshots (`tests/it/snapshots/`), with times,
//! durations and temporary paths filtered out. A change to a screen shows
//! up here as a diff to review (`cargo insta review`, or `INSTA_UPDATE=always`).

use std::process::Output;

use crate::bounces::{ENV, STEM, maildir, reader, returned, sent_project};
use crate::common::{assert_exit, example_project, fixture, missive, stderr, stdout};

/// Both streams of a run, and its exit code, as one text.
fn screen(o: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        o.status.code().map_or("signal".into(), |c| c.to_string()),
        stdout(o),
        stderr(o)
    )
}

/// Snapshots `text` with the run's temporary directory, times and
/// durations replaced by stable words.
pub(crate) fn assert_screen(name: &str, dir: &std::path::Path, text: &str) {
    let dir = regex::escape(&dir.display().to_string());
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(&dir, "[DIR]");
    settings.add_filter(r"\d+\.\d+ s\b", "[SECS] s");
    settings.add_filter(r"\(\d+ messages/s", "([RATE] messages/s");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]");
    settings.add_filter(r"at \d\d:\d\d UTC", "at [HH:MM] UTC");
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "[TIME]");
    settings.add_filter(r"seconds=[\d.]+", "seconds=[SECS]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn check_shows_the_findings_by_group_and_the_sizes() {
    let dir = example_project();
    let issue = fixture("warnings.toml");
    std::fs::copy(&issue, dir.path().join("issues/warnings.toml")).unwrap();
    let o = missive(dir.path(), &["check", "issues/warnings.toml"]);
    assert_screen("check", dir.path(), &screen(&o));
    let o = missive(dir.path(), &["check", "issues/warnings.toml", "--json"]);
    assert_screen("check-json", dir.path(), &screen(&o));
    let o = missive(
        dir.path(),
        &["check", "issues/2026-11-27-tides-and-timetables.toml"],
    );
    assert_exit(&o, 0);
    assert_screen("check-clean", dir.path(), &screen(&o));
}

#[test]
fn a_dry_run_shows_the_plan_and_what_it_built() {
    let p = crate::common::SendProject::new(
        &crate::common::plain_config(1, "rate = 50"),
        &crate::common::subscriber_list(120).0,
    );
    let o = p.run(&["send", p.issue(), "--dry-run"], ENV);
    assert_exit(&o, 0);
    assert_screen("send-dry-run", p.path(), &screen(&o));
    let o = p.run(&["send", p.issue(), "--dry-run", "--json"], ENV);
    assert_exit(&o, 0);
    assert_screen("send-dry-run-json", p.path(), &stdout(&o));
}

#[test]
fn send_status_subscribers_and_bounces_say_what_happened() {
    let p = sent_project(40, "");
    let o = p.run(&["status", p.issue()], ENV);
    assert_screen("status-after-send", p.path(), &screen(&o));
    let mail = p.path().join("Mail");
    maildir(
        &mail,
        &[
            ("dsn".into(), returned("sendmail-dsn", STEM, &reader(3))),
            (
                "full".into(),
                returned("dsn-mailbox-full", STEM, &reader(5)),
            ),
            ("arf".into(), returned("arf-abuse", STEM, &reader(7))),
            (
                "block".into(),
                returned("dsn-sender-block", STEM, &reader(9)),
            ),
            (
                "reply".into(),
                std::fs::read_to_string(fixture("bounces/human-reply.eml")).unwrap(),
            ),
        ],
    );
    let o = p.run(&["bounces", "maildir:Mail"], ENV);
    assert_exit(&o, 0);
    assert_screen("bounces", p.path(), &screen(&o));
    let o = p.run(&["bounces", "maildir:Mail"], ENV);
    assert_screen("bounces-again", p.path(), &screen(&o));
    let o = p.run(&["status", p.issue()], ENV);
    assert_screen("status-after-bounces", p.path(), &screen(&o));
    let o = p.run(&["status", p.issue(), "--json"], ENV);
    assert_screen("status-json", p.path(), &stdout(&o));
    let o = p.run(&["subscribers"], ENV);
    assert_exit(&o, 0);
    assert_screen("subscribers", p.path(), &screen(&o));
    let o = p.run(&["subscribers", "--json"], ENV);
    assert_screen("subscribers-json", p.path(), &stdout(&o));
}

#[test]
fn a_send_says_what_it_did_and_how_to_go_on() {
    let (list, _) = crate::common::subscriber_list(30);
    let p = crate::common::SendProject::new(
        &format!(
            "{}\n[sending]\ntransport = \"file\"\noutbox = \"outbox\"\n",
            crate::common::NEWSLETTER
        ),
        &list,
    );
    let o = p.run(&["send", p.issue(), "--yes"], ENV);
    assert_exit(&o, 0);
    assert_screen("send", p.path(), &screen(&o));
    let o = p.run(&["send", p.issue(), "--yes"], ENV);
    assert_exit(&o, 0);
    assert_screen("send-again", p.path(), &screen(&o));
}
