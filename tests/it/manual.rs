//! The manual (`docs/`, an mdBook): its reference pages are exactly what
//! the code generates (every command and flag from the clap definitions,
//! every config key from the config's schema), every page is in the
//! summary, and every link between pages, and from the README, lands on a
//! page that exists. `bash tests/run` also builds the book with mdBook.

use std::path::{Path, PathBuf};

use crate::common::{assert_exit, missive, repo};

#[test]
fn the_reference_pages_are_what_the_code_generates() {
    let out = tempfile::tempdir().unwrap();
    let o = missive(
        out.path(),
        &["reference", "--out", out.path().to_str().unwrap()],
    );
    assert_exit(&o, 0);
    for page in ["commands.md", "config.md"] {
        let generated = std::fs::read_to_string(out.path().join(page)).unwrap();
        let kept = std::fs::read_to_string(repo().join("docs/src/reference").join(page))
            .unwrap_or_default();
        assert!(
            generated == kept,
            "docs/src/reference/{page} is stale: run\n    cargo run -- reference --out docs/src/reference"
        );
    }
    // What the pages are made of: a command, a flag, a table, a ranged key.
    let commands = std::fs::read_to_string(out.path().join("commands.md")).unwrap();
    assert!(commands.contains("## `missive send`"), "{commands}");
    assert!(commands.contains("| `--retry-failed` |"), "{commands}");
    assert!(
        commands.contains("### `missive subscribers add`"),
        "{commands}"
    );
    assert!(
        !commands.contains("## `missive reference`"),
        "the hidden command stays hidden"
    );
    let config = std::fs::read_to_string(out.path().join("config.md")).unwrap();
    assert!(config.contains("## `[[relays]]`"), "{config}");
    assert!(
        config.contains("| `timeout_secs` | seconds, 1 to 3600; default `30` |"),
        "{config}"
    );
}

/// The relative links of a Markdown page (to other pages, not to the web
/// or to anchors within the page).
fn links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    // Code (fenced blocks, `spans`) shows links; it does not make them.
    let code = regex::Regex::new(r"(?s)```.*?```|`[^`\n]*`").unwrap();
    let text = code.replace_all(&text, "");
    let re = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    re.captures_iter(&text)
        .map(|c| c[1].to_string())
        .filter(|l| !l.contains("://") && !l.starts_with('#') && !l.starts_with("mailto:"))
        .collect()
}

fn pages(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(pages(&path));
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_page_is_in_the_summary_and_every_link_lands() {
    let src = repo().join("docs/src");
    let summary: Vec<String> = links(&src.join("SUMMARY.md"));
    for page in pages(&src) {
        let name = page
            .strip_prefix(&src)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if name != "SUMMARY.md" {
            assert!(summary.contains(&name), "{name} is not in SUMMARY.md");
        }
        for link in links(&page) {
            let target = link.split('#').next().unwrap();
            let resolved = page.parent().unwrap().join(target);
            assert!(
                resolved.exists(),
                "{name} links to {link}, which is not there"
            );
        }
    }
    for link in links(&repo().join("README.md")) {
        let target = link.split('#').next().unwrap();
        assert!(
            repo().join(target).exists(),
            "README.md links to {link}, which is not there"
        );
    }
}
