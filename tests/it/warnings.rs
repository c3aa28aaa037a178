//! `check`'s findings ranked by consequence and grouped by kind: a 95-item
//! draft whose links are not filled in yet, and whose email Gmail clips.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A 95-item draft with long excerpts (over Gmail's clip) and no url on
/// any item, in a project of its own.
pub(crate) fn unfilled_draft(dir: &Path) -> PathBuf {
    let text = without_urls(&missive::synthetic::issue_with_long_excerpts(95), |_| true);
    std::fs::create_dir_all(dir.join("issues")).unwrap();
    let path = dir.join("issues/2026-12-04-draft.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `text` without the `url` lines of the items (counted from 1) `drop` picks.
fn without_urls(text: &str, mut drop: impl FnMut(u32) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut n = 0;
    for line in text.lines() {
        if line.starts_with("url = ") {
            n += 1;
            if drop(n) {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn a_clipped_draft_without_urls_says_the_clip_first_and_the_urls_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let issue = unfilled_draft(dir.path());
    let issue = issue.to_str().unwrap();

    let o = missive(dir.path(), &["check", issue]);
    assert_exit(&o, 0);
    let said = stderr(&o);
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines[0].starts_with("warning: ") && lines[0].contains("over Gmail's clip size"),
        "{said}"
    );
    let no_url: Vec<&&str> = lines.iter().filter(|l| l.contains("no url")).collect();
    assert_eq!(no_url.len(), 1, "{said}");
    assert!(
        no_url[0].starts_with("note: ") && no_url[0].ends_with("95 items have no url: 1–95"),
        "{said}"
    );
    let clip = lines
        .iter()
        .position(|l| l.contains("Gmail's clip size"))
        .unwrap();
    let url = lines.iter().position(|l| l.contains("no url")).unwrap();
    assert!(clip < url, "{said}");
    let last_warning = lines
        .iter()
        .rposition(|l| l.starts_with("warning: "))
        .unwrap();
    let first_note = lines.iter().position(|l| l.starts_with("note: ")).unwrap();
    assert!(last_warning < first_note, "notes come last: {said}");
    assert_eq!(
        lines.len(),
        3,
        "the clip, what fitting takes, the urls: {said}"
    );
    assert!(
        stdout(&o).contains("2 warnings, 95 notes"),
        "{}",
        stdout(&o)
    );

    // --verbose: each on its own line, with its field path.
    let o = missive(dir.path(), &["check", issue, "--verbose"]);
    assert_exit(&o, 0);
    let said = stderr(&o);
    let each: Vec<&str> = said.lines().filter(|l| l.contains("has no url")).collect();
    assert_eq!(each.len(), 95, "{said}");
    assert!(
        each[41].contains("sections[") && each[41].contains("item 42 "),
        "{}",
        each[41]
    );

    // --strict fails on the clip (a warning); --deny notes on the urls alone.
    assert_exit(&missive(dir.path(), &["check", issue, "--strict"]), 1);
    let o = missive(dir.path(), &["check", issue, "--deny", "notes"]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("notes and --deny notes was given"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn notes_alone_fail_only_when_denied_and_json_carries_codes_and_items() {
    let dir = tempfile::tempdir().unwrap();
    // Short excerpts: no clip; three items without a url.
    let text = without_urls(&missive::synthetic::issue(20), |n| [4, 17, 18].contains(&n));
    std::fs::create_dir_all(dir.path().join("issues")).unwrap();
    let issue = dir.path().join("issues/2026-12-04-short.toml");
    std::fs::write(&issue, text).unwrap();
    let issue = issue.to_str().unwrap();

    let o = missive(dir.path(), &["check", issue, "--strict"]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("note: ") && stderr(&o).contains("3 items have no url: 4, 17–18"),
        "{}",
        stderr(&o)
    );
    assert_exit(
        &missive(dir.path(), &["check", issue, "--deny", "notes"]),
        1,
    );

    let o = missive(dir.path(), &["check", issue, "--json"]);
    assert_exit(&o, 0);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["notes"], 3, "{json}");
    let findings = json["findings"].as_array().unwrap();
    let no_url: Vec<_> = findings.iter().filter(|f| f["code"] == "no-url").collect();
    assert_eq!(no_url.len(), 3);
    assert_eq!(
        no_url
            .iter()
            .map(|f| f["item"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [4, 17, 18]
    );
    for f in findings {
        for key in ["level", "code", "item", "field", "message"] {
            assert!(f.get(key).is_some(), "{key} missing from {f}");
        }
    }
    let group = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["code"] == "no-url")
        .unwrap();
    assert_eq!(group["count"], 3);
    assert_eq!(group["message"], "3 items have no url: 4, 17–18");
    let o = missive(dir.path(), &["check", issue, "--json", "--deny", "notes"]);
    assert_exit(&o, 1);
}

/// The 95-item clipped draft with seven kinds of warning and two of note:
/// a long subject, no preheader, items 1 and 2 linking to one URL, item 3
/// over http, an image without alt text, an empty section; no url on the
/// other 92 items.
fn draft_with_seven_kinds(dir: &Path) -> PathBuf {
    let mut n = 0;
    let mut text = String::new();
    for line in missive::synthetic::issue_with_long_excerpts(95).lines() {
        let line = if line.starts_with("subject = ") {
            format!(
                "subject = \"{}\"",
                "A subject far too long for any inbox ".repeat(4)
            )
        } else if line.starts_with("preheader = ") {
            continue;
        } else if line.starts_with("url = ") {
            n += 1;
            match n {
                1 | 2 => "url = \"https://example.org/same\"".to_string(),
                3 => "url = \"http://example.org/plain\"".to_string(),
                _ => continue,
            }
        } else {
            line.replace("![A harbour at dawn](", "![](")
        };
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str("\n[[sections]]\ntitle = \"Nothing yet\"\n");
    std::fs::create_dir_all(dir.join("issues")).unwrap();
    let path = dir.join("issues/2026-12-04-draft.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_preview_panel_ranks_groups_and_collapses_and_a_click_shows_the_item() {
    let dir = tempfile::tempdir().unwrap();
    let issue = draft_with_seven_kinds(dir.path());
    let o = missive(dir.path(), &["check", issue.to_str().unwrap()]);
    let said = stderr(&o);
    assert_eq!(
        said.lines().count(),
        9,
        "seven warnings and two notes: {said}"
    );

    let (mut child, url) = spawn_server(
        dir.path(),
        &["preview", issue.to_str().unwrap(), "--port", "0"],
    );
    let o = std::process::Command::new("node")
        .arg(repo().join("tests/preview/warnings.mjs"))
        .arg(&url)
        .output()
        .expect("node runs (bash tests/run installs it with playwright-core and chromium)");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        o.status.success() && stdout(&o).contains("all browser checks passed"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}
