//! Curation: `missive add URL` fills an item from the page's own metadata
//! ([`meta`]), fetched with [`fetch`], and adds it to the issue file without
//! disturbing anything else in it ([`edit`]); `check --links` asks for
//! every link of an issue ([`linkcheck`]).

pub(crate) mod edit;
pub(crate) mod fetch;
pub(crate) mod import;
pub(crate) mod linkcheck;
pub(crate) mod meta;

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};

use crate::compose::links;
use crate::project::Project;
use edit::NewItem;

/// What `missive add` was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddRequest {
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
pub(crate) struct Added {
    pub issue: PathBuf,
    /// The item as it went into (or, with `--dry-run`, would go into) the file.
    pub toml: String,
    pub written: bool,
    /// What was done to the URL, if anything (the canonical address taken,
    /// or one on another site left).
    pub note: Option<String>,
}

/// Whether two URLs are on one site: the same host, `www.` aside.
fn same_site(a: &str, b: &str) -> bool {
    let host = |u: &str| {
        url::Url::parse(u).ok().and_then(|u| {
            u.host_str()
                .map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
        })
    };
    host(a).is_some() && host(a) == host(b)
}

/// Fetches the page, makes the item, and adds it to the issue.
pub(crate) async fn add(project: &Project, request: &AddRequest) -> Result<Added> {
    let issue = match &request.issue {
        Some(path) => path.clone(),
        None => newest_issue(project)?,
    };
    let text = std::fs::read_to_string(&issue)
        .map_err(|e| anyhow!("cannot read {}: {e}", issue.display()))?;
    let client = fetch::client(project)?;
    let page = fetch::fetch(&client, &request.url).await?;
    let found = match page.media_type.as_str() {
        "application/pdf" => meta::from_pdf(&page.pdf),
        "" | "text/html" | "application/xhtml+xml" => {
            match meta::from_html_within(page.text.clone(), meta::READ_LIMIT) {
                Some(found) => found,
                None if request.title.is_some() => meta::Found::default(),
                None => bail!(
                    "{}: the page took more than {} s to read (nested too deep): give the \
                     item's title with --title",
                    request.url,
                    meta::READ_LIMIT.as_secs()
                ),
            }
        }
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
    // The page's own address (rel=canonical), when it is on the same site;
    // one on another site is not taken on the page's word.
    let fetched = links::clean(&page.url);
    let (url, note) = match found.canonical.as_deref().map(links::clean) {
        Some(canonical) if canonical != fetched && same_site(&canonical, &fetched) => {
            let note = format!("URL changed to {canonical} (the page's canonical address)");
            (canonical, Some(note))
        }
        Some(canonical) if canonical != fetched => (
            fetched,
            Some(format!(
                "the page names {canonical} as its address, on another site: kept the URL fetched"
            )),
        ),
        _ => (fetched, None),
    };
    let item = NewItem {
        title,
        url,
        label: request.label.clone(),
        authors: found.authors,
        source: found.source,
        published: found.published,
        comment: request.comment.clone(),
    };
    // Applied under the issue's lock to the file as it is now (another
    // `add`, or the author's editor, may have changed it while the page was
    // fetched); a dry run tries it on the file as it was read.
    if request.dry_run {
        edit::add_item(&text, &issue, request.section.as_deref(), &item)?;
    } else {
        edit::update(&issue, &project.state_dir(), |now| {
            edit::add_item(now, &issue, request.section.as_deref(), &item)
        })?;
    }
    Ok(Added {
        issue,
        toml: item.to_toml(),
        written: !request.dry_run,
        note,
    })
}

/// What `missive import` was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImportRequest {
    /// A feed or bookmarks file, or the URL of a feed.
    pub source: String,
    pub issue: Option<PathBuf>,
    pub section: Option<String>,
    /// Only what was published (or saved) on or after this `YYYY-MM-DD`.
    pub since: Option<time::Date>,
    /// Fill each item from its page, as `add` does.
    pub enrich: bool,
    pub dry_run: bool,
}

/// What `missive import` did.
#[derive(Debug, Clone)]
pub(crate) struct Imported {
    pub issue: PathBuf,
    /// The items added (or, with `--dry-run`, that would be).
    pub items: Vec<NewItem>,
    /// Left out: already in the issue or sent before.
    pub known: usize,
    /// Left out: older than `--since`.
    pub older: usize,
    /// Pages `--enrich` could not read (the feed's facts were kept).
    pub not_enriched: Vec<String>,
    /// Entries that cannot be items (a `javascript:` or relative link, no
    /// title), left out: each with why.
    pub refused: Vec<(NewItem, String)>,
    pub written: bool,
}

/// Drafts items from a feed or a bookmarks export into the issue.
pub(crate) async fn import(project: &Project, request: &ImportRequest) -> Result<Imported> {
    let issue_path = match &request.issue {
        Some(path) => path.clone(),
        None => newest_issue(project)?,
    };
    let text = std::fs::read_to_string(&issue_path)
        .map_err(|e| anyhow!("cannot read {}: {e}", issue_path.display()))?;
    let client = fetch::client(project)?;
    let source = if request.source.starts_with("http://") || request.source.starts_with("https://")
    {
        fetch::fetch(&client, &request.source).await?.text
    } else {
        std::fs::read_to_string(&request.source)
            .map_err(|e| anyhow!("cannot read {}: {e}", request.source))?
    };
    let entries = import::entries(&source, &request.source)?;
    let loaded = crate::compose::Issue::load(&issue_path)?;
    let mut known = links::already_sent(project, &loaded);
    let mut imported = Imported {
        issue: issue_path.clone(),
        items: Vec::new(),
        known: 0,
        older: 0,
        not_enriched: Vec::new(),
        refused: Vec::new(),
        written: false,
    };
    for entry in entries {
        if let (Some(since), Some(dated)) = (&request.since, &entry.dated)
            && dated < since
        {
            imported.older += 1;
            continue;
        }
        if !known.insert(links::canonical(&entry.item.url)) {
            imported.known += 1;
            continue;
        }
        let mut item = entry.item;
        if request.enrich {
            match fetch::fetch(&client, &item.url).await {
                Ok(page) => {
                    let found = match page.media_type.as_str() {
                        "application/pdf" => meta::from_pdf(&page.pdf),
                        _ => meta::from_html_within(page.text.clone(), meta::READ_LIMIT)
                            .unwrap_or_default(),
                    };
                    item.title = found.title.unwrap_or(item.title);
                    if !found.authors.is_empty() {
                        item.authors = found.authors;
                    }
                    item.source = found.source.or(item.source);
                    item.published = found.published.or(item.published);
                    if let Some(canonical) = found.canonical.as_deref().map(links::clean)
                        && same_site(&canonical, &item.url)
                    {
                        item.url = canonical;
                    }
                }
                Err(e) => imported.not_enriched.push(format!("{e:#}")),
            }
        }
        imported.items.push(item);
    }
    // Every entry checked on its own, then all added at once: the file is
    // parsed a fixed number of times, however long the feed. As `add`, under
    // the issue's lock to the file as it is now; a dry run, to it as read.
    let section = request.section.as_deref();
    let refused = if request.dry_run || imported.items.is_empty() {
        edit::add_items(&text, &issue_path, section, &imported.items)?.1
    } else {
        let mut refused = Vec::new();
        edit::update(&issue_path, &project.state_dir(), |now| {
            let (out, bad) = edit::add_items(now, &issue_path, section, &imported.items)?;
            refused = bad;
            Ok(out)
        })?;
        refused
    };
    imported
        .items
        .retain(|item| !refused.iter().any(|(bad, _)| bad == item));
    imported.refused = refused;
    imported.written = !request.dry_run && !imported.items.is_empty();
    Ok(imported)
}

/// Every link of a composed issue: its items' URLs and the links in its
/// Markdown, each named by its item's number where it has one.
pub(crate) fn link_targets(composed: &crate::compose::Composed) -> Vec<linkcheck::Target> {
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
    targets
}

/// Checks every link of a composed issue ([`link_targets`]).
pub(crate) async fn check_links(
    composed: &crate::compose::Composed,
    fresh: bool,
) -> Result<Vec<linkcheck::Checked>> {
    let client = fetch::checker(&composed.project, linkcheck::TIMEOUT)?;
    let checked = linkcheck::check(
        &client,
        link_targets(composed),
        &linkcheck::cache_path(&composed.project.state_dir()),
        fresh,
    )
    .await?;
    measure_images(&client, composed, fresh).await?;
    Ok(checked)
}

/// The widths of the issue's remote images not measured yet (all of them,
/// `fresh`), from the first 64 KB of each, kept for the renderer
/// (`compose::images`); an image that cannot be fetched or read keeps the
/// column's width.
async fn measure_images(
    client: &reqwest::Client,
    composed: &crate::compose::Composed,
    fresh: bool,
) -> Result<()> {
    let state = composed.project.state_dir();
    let mut widths = crate::compose::images::load(&state);
    let mut wanted: Vec<String> = composed
        .rendered
        .facts
        .remote_images
        .iter()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .filter(|u| fresh || !widths.contains_key(*u))
        .cloned()
        .collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut measured = Vec::new();
    for url in wanted {
        if let Some(width) = image_width(client, &url).await {
            measured.push((url, width));
        }
    }
    widths.extend(measured);
    crate::compose::images::save(&state, &widths)
}

/// An image's width, read from the start of the file.
async fn image_width(client: &reqwest::Client, url: &str) -> Option<u32> {
    const HEAD_BYTES: usize = 64 * 1024;
    let mut response = client
        .get(url)
        .header(
            reqwest::header::RANGE,
            format!("bytes=0-{}", HEAD_BYTES - 1),
        )
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let mut head = Vec::new();
    while head.len() < HEAD_BYTES {
        match response.chunk().await.ok()? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => break,
        }
    }
    let size = imagesize::blob_size(&head).ok()?;
    u32::try_from(size.width).ok().filter(|w| *w > 0)
}

/// What the last day's `check --links` said of the issue's links that are
/// not fine, without asking anything: for the preview.
pub(crate) fn cached_link_problems(composed: &crate::compose::Composed) -> Vec<linkcheck::Checked> {
    linkcheck::cached(
        link_targets(composed),
        &linkcheck::cache_path(&composed.project.state_dir()),
    )
    .into_iter()
    .filter(|c| !c.verdict.is_fine())
    .collect()
}

/// The newest issue file: the last `.toml` of `issues/` by name (names
/// start with the date).
pub(crate) fn newest_issue(project: &Project) -> Result<PathBuf> {
    let dir = project.issues_dir();
    let mut files = project
        .issue_files()
        .map_err(|e| anyhow!("cannot read {}: {e}", dir.display()))?;
    files.pop().ok_or_else(|| {
        anyhow!(
            "{} has no issue: start one with `missive new`, or name one with --issue",
            dir.display()
        )
    })
}
