//! `missive import SOURCE`: drafts items from an RSS or Atom feed (`feed-rs`)
//! or a Netscape bookmarks export (what browsers, Pinboard, Raindrop and
//! Pocket write), read with a real HTML parser; links already in the issue
//! or sent in an earlier one are left out.

use anyhow::{Result, anyhow};
use scraper::{Html, Selector};

use super::edit::NewItem;
use super::meta::tidy;

/// One link a source offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub item: NewItem,
    /// The day it was published (a feed) or saved (a bookmark), in UTC:
    /// what `--since` compares.
    pub dated: Option<time::Date>,
}

/// Reads a feed or a bookmarks export; `label` names the source in errors.
pub(crate) fn entries(text: &str, label: &str) -> Result<Vec<Entry>> {
    let head = text
        .trim_start()
        .get(..200)
        .unwrap_or(text.trim_start())
        .to_ascii_lowercase();
    if head.contains("netscape-bookmark-file") || head.contains("<dl") {
        return Ok(bookmarks(text));
    }
    let feed = feed_rs::parser::parse(text.as_bytes())
        .map_err(|e| anyhow!("{label}: neither a feed (RSS, Atom) nor a bookmarks export: {e}"))?;
    let source = feed
        .title
        .map(|t| tidy(&t.content))
        .filter(|t| !t.is_empty());
    Ok(feed
        .entries
        .into_iter()
        .filter_map(|entry| {
            let url = entry.links.first()?.href.clone();
            let title = entry
                .title
                .map(|t| tidy(&t.content))
                .filter(|t| !t.is_empty())?;
            let date = entry
                .published
                .or(entry.updated)
                .and_then(|d| time::OffsetDateTime::from_unix_timestamp(d.timestamp()).ok())
                .map(time::OffsetDateTime::date);
            let authors: Vec<String> = entry
                .authors
                .iter()
                .filter_map(|p| p.name.clone())
                .collect();
            Some(Entry {
                item: NewItem {
                    title,
                    url: crate::compose::links::clean(&url),
                    authors: super::meta::normalize_authors(&authors),
                    source: source.clone(),
                    published: date.map(day),
                    ..NewItem::default()
                },
                dated: date,
            })
        })
        .collect())
}

/// A day as an item's `published` writes it: `YYYY-MM-DD`.
fn day(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The links of a Netscape bookmarks file, with the day each was saved.
fn bookmarks(text: &str) -> Vec<Entry> {
    let doc = Html::parse_document(text);
    let links = Selector::parse("a[href]").expect("a valid selector");
    doc.select(&links)
        .filter_map(|a| {
            let href = a.value().attr("href")?.trim();
            if !(href.starts_with("http://") || href.starts_with("https://")) {
                return None;
            }
            let title = tidy(&a.text().collect::<String>());
            let saved = a
                .value()
                .attr("add_date")
                .and_then(|d| d.trim().parse::<i64>().ok())
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .map(time::OffsetDateTime::date);
            Some(Entry {
                item: NewItem {
                    title: if title.is_empty() {
                        href.to_string()
                    } else {
                        title
                    },
                    url: crate::compose::links::clean(href),
                    ..NewItem::default()
                },
                dated: saved,
            })
        })
        .collect()
}
