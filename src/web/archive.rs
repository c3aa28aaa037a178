//! `missive archive`: the web archive as a static site — an index of every
//! issue (newest first), each issue's web version (the email with neutral
//! personalization, no unsubscribe token), and an Atom feed. Links are
//! relative; each issue lives at `<stem>/`, where the emails' "view in
//! browser" link (`web_url` + stem) points. Entry point: [`build`].

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::compose::issue::Issue;
use crate::compose::merge;
use crate::compose::{self as render, Templates};
use crate::project::Project;

/// One issue on the index.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    pub stem: String,
    /// `November 27, 2026`.
    pub date: String,
    #[serde(skip)]
    pub sort_key: (crate::compose::issue::Date, u32),
    pub number: Option<u32>,
    pub subject: String,
    pub preheader: Option<String>,
}

/// Writes the site for every `*.toml` in the project's `issues/` into
/// `out`; returns the issues, newest first.
pub(crate) fn build(project: &Project, out: &Path) -> Result<Vec<Entry>> {
    let dir = project.issues_dir();
    let paths = project
        .issue_files()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    if paths.is_empty() {
        bail!("{} holds no issues (*.toml)", dir.display());
    }
    let templates = Templates::load(&project.templates_dir())?;
    let fill = merge::neutral(&project.config);
    let mut pages = Vec::new();
    let mut entries = Vec::new();
    for path in &paths {
        let loaded = Issue::load(path)?;
        let stem = loaded.stem();
        if !is_page_name(&stem) {
            bail!(
                "{}: the file name cannot name a web page: use letters, digits, `-`, `_` and \
                 `.` (not first), e.g. 2026-11-27-my-issue.toml",
                path.display()
            );
        }
        let rendered = render::render_web(&loaded, project, &templates)
            .with_context(|| format!("cannot build the web version of {}", path.display()))?;
        let issue = &loaded.issue;
        entries.push(Entry {
            stem: stem.clone(),
            date: issue.date.long(),
            sort_key: (issue.date, issue.number.map_or(0, std::num::NonZero::get)),
            number: issue.number.map(std::num::NonZero::get),
            subject: issue.subject.to_string(),
            preheader: issue.preheader.as_ref().map(ToString::to_string),
        });
        let images: Vec<String> = rendered
            .facts
            .local_images
            .iter()
            // Only files inside the project (a path leaving it has no size).
            .filter(|(_, image)| image.bytes.is_some())
            .map(|(_, image)| image.path.trim_start_matches("./").to_string())
            .collect();
        pages.push((stem, rendered.html_merge().fill(&fill), images));
    }
    entries.sort_by(|a, b| {
        b.sort_key
            .cmp(&a.sort_key)
            .then_with(|| a.stem.cmp(&b.stem))
    });

    let mut context = tera::Context::new();
    context.insert(
        "newsletter",
        &serde_json::json!({ "name": project.config.newsletter.name.as_str() }),
    );
    context.insert("issues", &entries);
    let index = templates.render(crate::compose::templates::ARCHIVE_INDEX, &context)?;
    let feed = feed(project, &entries);

    // Everything rendered: now write.
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (stem, html, images) in &pages {
        let dir = out.join(stem);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        write(&dir.join("index.html"), html)?;
        // The issue's own images, where its emails point at them.
        for image in images {
            let from = project.root.join(image);
            let to = dir.join(image);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let bytes =
                std::fs::read(&from).with_context(|| format!("cannot read {}", from.display()))?;
            crate::fsutil::write_atomic(&to, &bytes, None)?;
        }
    }
    write(&out.join("index.html"), &index)?;
    write(&out.join("feed.xml"), &feed)?;
    Ok(entries)
}

fn write(path: &Path, text: &str) -> Result<()> {
    crate::fsutil::write_atomic(path, text.as_bytes(), None)
}

/// Whether an issue's stem can be a folder of the site and a relative
/// link: letters, digits, `-`, `_` and `.`, not starting with `.` (so never
/// `..`, and never a scheme such as `javascript:`).
pub(crate) fn is_page_name(stem: &str) -> bool {
    !stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The Atom feed of the archive. With `web_url` set, ids and links are
/// absolute; without it, links are relative to the feed.
fn feed(project: &Project, entries: &[Entry]) -> String {
    use atom_syndication::{Entry as AtomEntry, Feed, FixedDateTime, Link, Text};
    let config = &project.config;
    let base = config
        .newsletter
        .web_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_string());
    let when = |d: crate::compose::issue::Date| {
        FixedDateTime::parse_from_rfc3339(&format!("{}T00:00:00Z", d.iso())).expect("a valid date")
    };
    let link = |href: String, rel: &str| Link {
        href,
        rel: rel.into(),
        ..Link::default()
    };
    let atom_entries: Vec<AtomEntry> = entries
        .iter()
        .map(|e| {
            let href = config
                .web_url_for(&e.stem)
                .unwrap_or_else(|| format!("{}/", e.stem));
            AtomEntry {
                id: base
                    .as_ref()
                    .map_or_else(|| format!("urn:missive:{}", e.stem), |_| href.clone()),
                title: Text::plain(e.subject.clone()),
                updated: when(e.sort_key.0),
                published: Some(when(e.sort_key.0)),
                summary: e.preheader.clone().map(Text::plain),
                links: vec![link(href, "alternate")],
                ..AtomEntry::default()
            }
        })
        .collect();
    let mut links = Vec::new();
    if let Some(base) = &base {
        links.push(link(format!("{base}/"), "alternate"));
        links.push(link(format!("{base}/feed.xml"), "self"));
    }
    let feed = Feed {
        id: base.map_or_else(|| "urn:missive:archive".into(), |b| format!("{b}/")),
        title: Text::plain(config.newsletter.name.to_string()),
        updated: entries.first().map_or_else(
            || {
                when(crate::compose::issue::Date(time::macros::date!(
                    2000 - 01 - 01
                )))
            },
            |e| when(e.sort_key.0),
        ),
        links,
        entries: atom_entries,
        ..Feed::default()
    };
    feed.to_string()
}
