//! Curation: `missive add URL` fills an item from the page's own metadata
//! ([`meta`]), fetched with [`fetch`], and adds it to the issue file without
//! disturbing anything else in it ([`edit`]); `check --links` asks for
//! every link of an issue ([`linkcheck`]).

pub mod edit;
pub mod fetch;
pub mod linkcheck;
pub mod meta;

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use crate::compose::links;
use crate::project::Project;
use edit::NewItem;

/// What `missive add` was asked.
#[derive(Debug, Clone, Default)]
pub struct AddRequest {
    pub url: String,
    /// The issue file; default: the newest in `issues/`.
    pub issue: Option<PathBuf>,
    pub section: Option<String>,
    pub label: Option<String>,
    pub comment: Option<String>,
    /// The title, when the page has none worth using.
    pub title: Option<String>,
    pub dry_run: bool,
}

/// What `missive add` did.
#[derive(Debug, Clone)]
pub struct Added {
    pub issue: PathBuf,
    /// The item as it went into (or, with `--dry-run`, would go into) the file.
    pub toml: String,
    pub written: bool,
}

/// Fetches the page, makes the item, and adds it to the issue.
pub fn add(project: &Project, request: &AddRequest) -> Result<Added> {
    let issue = match &request.issue {
        Some(path) => path.clone(),
        None => newest_issue(&project.issues_dir())?,
    };
    let text = std::fs::read_to_string(&issue)
        .map_err(|e| anyhow!("cannot read {}: {e}", issue.display()))?;
    let client = fetch::client(project)?;
    let page = crate::runtime()?.block_on(fetch::fetch(&client, &request.url))?;
    let found = match page.media_type.as_str() {
        "application/pdf" => meta::from_pdf(&page.pdf),
        "" | "text/html" | "application/xhtml+xml" => meta::from_html(&page.text),
        _ if request.title.is_some() => meta::Found::default(),
        other => bail!(
            "{}: a {other} document, not a web page or a PDF: give the item's title with --title",
            request.url
        ),
    };
    let title = request.title.clone().or(found.title).ok_or_else(|| {
        anyhow!(
            "{}: the page has no usable title: give one with --title",
            request.url
        )
    })?;
    let url = links::clean(found.canonical.as_deref().unwrap_or(&page.url));
    let item = NewItem {
        title,
        url,
        label: request.label.clone(),
        authors: found.authors,
        source: found.source,
        published: found.published,
        comment: request.comment.clone(),
    };
    let out = edit::add_item(&text, &issue, request.section.as_deref(), &item)?;
    if !request.dry_run {
        crate::fsutil::write_atomic(&issue, out.as_bytes(), None)?;
    }
    Ok(Added {
        issue,
        toml: item.to_toml(),
        written: !request.dry_run,
    })
}

/// Checks every link of a composed issue: its items' URLs and the links in
/// its Markdown, each named by its item's number where it has one.
pub fn check_links(
    composed: &crate::compose::Composed,
    fresh: bool,
) -> Result<Vec<linkcheck::Checked>> {
    let issue = &composed.issue.issue;
    let numbers: Vec<(String, u32)> = issue
        .numbered_items()
        .map(|n| (n.field(), n.number))
        .collect();
    let number_of = |field: &str| {
        numbers
            .iter()
            .find(|(prefix, _)| field == prefix || field.starts_with(&format!("{prefix}.")))
            .map(|(_, n)| *n)
    };
    let mut targets: Vec<linkcheck::Target> = issue
        .numbered_items()
        .filter_map(|n| {
            Some(linkcheck::Target {
                url: n.item.url.as_ref()?.to_string(),
                field: format!("{}.url", n.field()),
                item: Some(n.number),
            })
        })
        .collect();
    for (field, url) in &composed.rendered.facts.links {
        if url.starts_with("http://") || url.starts_with("https://") {
            targets.push(linkcheck::Target {
                url: url.clone(),
                field: field.clone(),
                item: number_of(field),
            });
        }
    }
    let client = fetch::checker(&composed.project, linkcheck::TIMEOUT)?;
    linkcheck::check(
        &client,
        targets,
        &linkcheck::cache_path(&composed.project.state_dir()),
        fresh,
    )
}

/// The newest issue file: the last `.toml` of `issues/` by name (names
/// start with the date).
pub fn newest_issue(dir: &Path) -> Result<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files.pop().ok_or_else(|| {
        anyhow!(
            "{} has no issue: start one with `missive new`, or name one with --issue",
            dir.display()
        )
    })
}
