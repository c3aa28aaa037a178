//! Adding an item to an issue file without touching anything else in it:
//! the new `[[sections.items]]` (its values written by `toml_edit`, so
//! every string is escaped as TOML wants) goes in as text at the end of its
//! section, found through `toml_edit`'s spans, so the author's comments,
//! order and formatting stay byte for byte; the result must load as an
//! issue before it is written, atomically.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use toml_edit::{Array, Item, Table, value};

use crate::compose::Issue;

/// The item to add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NewItem {
    pub title: String,
    pub url: String,
    pub label: Option<String>,
    pub authors: Vec<String>,
    pub source: Option<String>,
    /// `YYYY-MM-DD`.
    pub published: Option<String>,
    pub comment: Option<String>,
}

impl NewItem {
    /// The item as TOML: `[[sections.items]]` and its keys.
    pub(crate) fn to_toml(&self) -> String {
        let mut table = Table::new();
        table.insert("title", value(self.title.as_str()));
        table.insert("url", value(self.url.as_str()));
        if let Some(label) = &self.label {
            table.insert("label", value(label.as_str()));
        }
        if !self.authors.is_empty() {
            let authors: Array = self.authors.iter().map(String::as_str).collect();
            table.insert("authors", value(authors));
        }
        if let Some(source) = &self.source {
            table.insert("source", value(source.as_str()));
        }
        if let Some(date) = self
            .published
            .as_deref()
            .and_then(|d| d.parse::<toml_edit::Datetime>().ok())
        {
            table.insert("published", Item::Value(date.into()));
        }
        if let Some(comment) = &self.comment {
            table.insert("comment", value(comment.as_str()));
        }
        format!("[[sections.items]]\n{table}")
    }

    /// Whether the item loads on its own (a usable URL, a title): why not.
    pub(crate) fn check(&self) -> Result<(), String> {
        let alone = format!(
            "subject = \"x\"\ndate = 2026-01-01\n\n[[sections]]\ntitle = \"x\"\n\n{}",
            self.to_toml()
        );
        Issue::parse(&alone, Path::new("item"))
            .map(|_| ())
            .map_err(|e| {
                // "item:9:7: sections[0].items[0].url: only http …": the
                // place is in the little file made here; keep the field and
                // what is wrong with it.
                let text = e.to_string();
                let first = text.lines().next().unwrap_or("");
                let said = first.split_once(": ").map_or(first, |(_, rest)| rest);
                said.strip_prefix("sections[0].items[0].")
                    .unwrap_or(said)
                    .trim()
                    .to_string()
            })
    }
}

/// `text` (the issue file at `path`) with `item` added at the end of the
/// section titled `section` (any case; a new section at the end when there
/// is none of that title) or of the last section. Fails, naming the file,
/// when the result would not load as an issue.
pub(crate) fn add_item(
    text: &str,
    path: &Path,
    section: Option<&str>,
    item: &NewItem,
) -> Result<String> {
    let (out, refused) = add_items(text, path, section, std::slice::from_ref(item))?;
    match refused.into_iter().next() {
        Some((_, why)) => Err(anyhow!(
            "{}: the item cannot be added, nothing was written: {why}",
            path.display()
        )),
        None => Ok(out),
    }
}

/// `text` with `items` added, in order, at the end of one section (as
/// [`add_item`]), the file parsed twice whatever their number. An item
/// that would not load on its own is left out and returned with why; the
/// others go in.
pub(crate) fn add_items(
    text: &str,
    path: &Path,
    section: Option<&str>,
    items: &[NewItem],
) -> Result<(String, Vec<(NewItem, String)>)> {
    let before = Issue::parse(text, path)
        .with_context(|| format!("{}: the issue does not load as it is", path.display()))?;
    let mut refused = Vec::new();
    let mut blocks = Vec::new();
    for item in items {
        match item.check() {
            Ok(()) => blocks.push(item.to_toml()),
            Err(why) => refused.push((item.clone(), why)),
        }
    }
    if blocks.is_empty() {
        return Ok((text.to_string(), refused));
    }
    let block = blocks.join("\n");
    let doc = toml_edit::Document::parse(text)
        .map_err(|e| anyhow!("{}: not valid TOML: {e}", path.display()))?;
    let sections = doc.get("sections").and_then(Item::as_array_of_tables);
    let titles: Vec<String> = sections
        .map(|s| {
            s.iter()
                .map(|t| {
                    t.get("title")
                        .and_then(Item::as_str)
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let target = match section {
        Some(wanted) => titles
            .iter()
            .position(|t| t.trim().eq_ignore_ascii_case(wanted.trim())),
        None => titles.len().checked_sub(1),
    };
    let out = match target {
        // A section of that title (or the last) that is not the last in the
        // file: the items go before the next section's header and the
        // comments and blank lines just above it — but never above the end
        // of the last value before it (a multi-line string may hold lines
        // that look like comments).
        Some(i) if i + 1 < titles.len() => {
            let next = sections
                .and_then(|s| s.get(i + 1))
                .and_then(Table::span)
                .ok_or_else(|| {
                    anyhow!(
                        "{}: cannot find where section {} ends",
                        path.display(),
                        i + 1
                    )
                })?;
            let floor = last_value_end(doc.as_table(), next.start).map_or(0, |end| {
                text[end..].find('\n').map_or(text.len(), |n| end + n + 1)
            });
            let at = start_of_preamble(text, next.start).max(floor.min(next.start));
            let before = &text[..at];
            let gap = if before.ends_with("\n\n") || before.is_empty() {
                ""
            } else if before.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{before}{gap}{block}\n{}", &text[at..])
        }
        Some(_) => format!("{}\n\n{block}", text.trim_end_matches('\n')),
        None => {
            let mut header = Table::new();
            header.insert("title", value(section.unwrap_or("Links")));
            format!(
                "{}\n\n[[sections]]\n{header}\n{block}",
                text.trim_end_matches('\n')
            )
        }
    };
    let after = Issue::parse(&out, path).with_context(|| {
        format!(
            "{}: adding the items would break the file; nothing was written",
            path.display()
        )
    })?;
    // Exactly the items added, in the section meant, and nothing else
    // changed: the proof that they did not land inside another value.
    let added = blocks.len();
    let at = target.unwrap_or(before.sections.len());
    let grew = after.sections.len() == before.sections.len() + usize::from(target.is_none())
        && after.sections.iter().enumerate().all(|(i, s)| {
            let had = before.sections.get(i).map_or(0, |b| b.items.len());
            s.items.len() == if i == at { had + added } else { had }
        });
    if !grew {
        anyhow::bail!(
            "{}: the items did not land where they belong (the section's count did not grow by \
             {added}); nothing was written",
            path.display()
        );
    }
    Ok((out, refused))
}

/// The end of the last value in `table` (at any depth) that ends before
/// byte `limit`.
fn last_value_end(table: &Table, limit: usize) -> Option<usize> {
    let mut last = None;
    let mut note = |end: usize| {
        if end <= limit && last.is_none_or(|l| end > l) {
            last = Some(end);
        }
    };
    for (_, item) in table {
        match item {
            Item::Value(v) => {
                if let Some(span) = v.span() {
                    note(span.end);
                }
            }
            Item::Table(t) => {
                if let Some(end) = last_value_end(t, limit) {
                    note(end);
                }
            }
            Item::ArrayOfTables(tables) => {
                for t in tables {
                    if let Some(end) = last_value_end(t, limit) {
                        note(end);
                    }
                }
            }
            Item::None => {}
        }
    }
    last
}

/// Replaces the issue file at `path` with what `change` makes of it, read
/// fresh under an exclusive lock (in `lock_dir`) held until it is written
/// (atomically): two `add`s or `import`s at once each see the other's
/// items, and an editor's save made while a page was being fetched is kept.
pub(crate) fn update(
    path: &Path,
    lock_dir: &Path,
    change: impl FnOnce(&str) -> Result<String>,
) -> Result<()> {
    crate::fsutil::create_private_dir(lock_dir)?;
    let stem = path
        .file_stem()
        .map_or_else(|| "issue".into(), |s| s.to_string_lossy().into_owned());
    let _held = crate::fsutil::lock(&lock_dir.join(format!("{stem}.edit.lock")))?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    let out = change(&text)?;
    // Nothing to add (every item refused): the file stays as it is.
    if out == text {
        return Ok(());
    }
    crate::fsutil::write_atomic(path, out.as_bytes(), None)
}

/// Where the comment and blank lines just above byte `header` begin.
fn start_of_preamble(text: &str, header: usize) -> usize {
    let mut at = text[..header].rfind('\n').map_or(0, |i| i + 1);
    loop {
        let before = &text[..at];
        let Some(line_start) = before
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .or((!before.is_empty()).then_some(0))
        else {
            return at;
        };
        let line = text[line_start..at].trim();
        if line.is_empty() || line.starts_with('#') {
            at = line_start;
        } else {
            return at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE: &str = "# The issue.\nsubject = \"S\"  # kept\ndate = 2026-11-27\n\n\
        [[sections]]\ntitle = \"One\"\n\n[[sections.items]]\ntitle = \"A\"\n\n\
        # --- the second section ---\n[[sections]]\ntitle = \"Two\"\n\n\
        [[sections.items]]\ntitle = \"B\"   # odd spacing\n";

    fn item() -> NewItem {
        NewItem {
            title: "New \"quoted\"".into(),
            url: "https://example.org/new".into(),
            authors: vec!["Ada".into(), "Bo".into()],
            published: Some("2026-11-25".into()),
            ..NewItem::default()
        }
    }

    #[test]
    fn the_item_goes_at_the_end_of_its_section_and_nothing_else_moves() {
        let path = Path::new("issue.toml");
        let out = add_item(ISSUE, path, None, &item()).unwrap();
        assert!(out.starts_with(ISSUE.trim_end()), "{out}");
        assert!(
            out.ends_with(
                "[[sections.items]]\ntitle = 'New \"quoted\"'\nurl = \"https://example.org/new\"\n\
             authors = [\"Ada\", \"Bo\"]\npublished = 2026-11-25\n"
            ),
            "{out}"
        );
        let out = add_item(ISSUE, path, Some("one"), &item()).unwrap();
        let block = item().to_toml();
        assert_eq!(out.replacen(&format!("{block}\n"), "", 1), ISSUE, "{out}");
        let issue = Issue::parse(&out, path).unwrap();
        assert_eq!(issue.sections[0].items.len(), 2);
        let out = add_item(ISSUE, path, Some("Three"), &item()).unwrap();
        assert_eq!(
            Issue::parse(&out, path).unwrap().sections[2].title.as_str(),
            "Three"
        );
    }

    #[test]
    fn a_result_that_would_not_load_is_refused() {
        let mut bad = item();
        bad.url = "not a url".into();
        assert!(add_item(ISSUE, Path::new("issue.toml"), None, &bad).is_err());
    }
}
