//! What a page says about itself, read with a real HTML parser (`scraper`),
//! best source first: JSON-LD (`Article`, `NewsArticle`, `Report`,
//! `ScholarlyArticle`, `BlogPosting`), Highwire/Google Scholar `citation_*`
//! meta, OpenGraph and `article:*`, `<meta name="author">`, `<time
//! datetime>`, and last the `<title>` without the site's name.

use std::collections::HashMap;

use scraper::{Html, Selector};
use serde_json::Value;

/// An item's facts, as far as the page gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub title: Option<String>,
    pub authors: Vec<String>,
    /// The publication's name.
    pub source: Option<String>,
    /// `YYYY-MM-DD`.
    pub published: Option<String>,
    /// The page's own address (`link rel=canonical`, `og:url`).
    pub canonical: Option<String>,
}

/// The article types whose JSON-LD describes an item.
const ARTICLE_TYPES: &[&str] = &[
    "Article",
    "NewsArticle",
    "Report",
    "ScholarlyArticle",
    "BlogPosting",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "TechArticle",
];

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("a valid selector")
}

/// The most authors an item takes from a page (a page may list thousands).
const MAX_AUTHORS: usize = 20;
/// The longest title taken from a page, in characters.
const MAX_TITLE: usize = 300;
/// How long reading a page's facts may take: HTML nested deep enough makes
/// any parser slow, and such a page has nothing to give.
pub(crate) const READ_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// [`from_html`], given at most `limit`: `None` when the page takes longer
/// (its parse is left to finish on its own thread, and its result dropped).
pub(crate) fn from_html_within(html: String, limit: std::time::Duration) -> Option<Found> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("page facts".into())
        .spawn(move || {
            let _ = tx.send(from_html(&html));
        })
        .ok()?;
    rx.recv_timeout(limit).ok()
}

/// Reads the facts of an HTML page.
pub(crate) fn from_html(html: &str) -> Found {
    let doc = Html::parse_document(html);
    let meta = |attr: &str, name: &str| -> Vec<String> {
        doc.select(&selector(&format!("meta[{attr}]")))
            .filter(|m| {
                m.value()
                    .attr(attr)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case(name))
            })
            .filter_map(|m| m.value().attr("content"))
            .map(tidy)
            .filter(|v| !v.is_empty())
            .collect()
    };
    let first = |attr: &str, name: &str| meta(attr, name).into_iter().next();
    let (ld, ids) = match json_ld(&doc) {
        Some((ld, ids)) => (Some(ld), ids),
        None => (None, HashMap::new()),
    };

    let site = first("property", "og:site_name");
    let title = ld
        .as_ref()
        .and_then(|a| text(a.get("headline")).or_else(|| text(a.get("name"))))
        .or_else(|| first("name", "citation_title"))
        .or_else(|| first("property", "og:title"))
        .or_else(|| first("name", "twitter:title"))
        .or_else(|| {
            doc.select(&selector("title"))
                .next()
                .map(|t| tidy(&t.text().collect::<String>()))
                .map(|t| without_site(&t, site.as_deref()))
        })
        .filter(|t| !t.is_empty())
        .map(|t| cut(&t, MAX_TITLE));

    let mut authors = ld
        .as_ref()
        .map(|a| {
            let mut names = Vec::new();
            people(a.get("author"), &ids, &mut names);
            names
        })
        .unwrap_or_default();
    if authors.is_empty() {
        // One author each, often "Last, First".
        authors = meta("name", "citation_author")
            .into_iter()
            .map(|a| match a.split_once(',') {
                Some((last, first)) if !first.contains(',') => {
                    format!("{} {}", first.trim(), last.trim())
                }
                _ => a,
            })
            .collect();
    }
    if authors.is_empty() {
        authors = meta("property", "article:author")
            .into_iter()
            .filter(|a| !a.contains("://"))
            .collect();
    }
    if authors.is_empty() {
        authors = meta("name", "author");
    }
    authors.truncate(MAX_AUTHORS * 4);
    let mut authors = normalize_authors(&authors);
    authors.truncate(MAX_AUTHORS);

    let source = ld
        .as_ref()
        .and_then(|a| a.get("publisher"))
        .map(|p| resolve(p, &ids))
        .and_then(|p| text(p.get("name")).or_else(|| text(Some(p))))
        .or_else(|| first("name", "citation_journal_title"))
        .or_else(|| first("name", "citation_publisher"))
        .or(site);

    let published = ld
        .as_ref()
        .and_then(|a| text(a.get("datePublished")))
        .or_else(|| first("name", "citation_publication_date"))
        .or_else(|| first("name", "citation_date"))
        .or_else(|| first("property", "article:published_time"))
        .or_else(|| {
            doc.select(&selector("time[datetime]"))
                .next()
                .and_then(|t| t.value().attr("datetime"))
                .map(tidy)
        })
        .and_then(|d| date(&d));

    let canonical = doc
        .select(&selector("link[rel]"))
        .find(|l| {
            l.value().attr("rel").is_some_and(|r| {
                r.split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("canonical"))
            })
        })
        .and_then(|l| l.value().attr("href"))
        .map(str::trim)
        .map(String::from)
        .or_else(|| first("property", "og:url"))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));

    Found {
        title,
        authors,
        source,
        published,
        canonical,
    }
}

/// Reads the facts of a PDF from its document information: `Title`,
/// `Author` (names split as bylines are), `CreationDate`.
pub(crate) fn from_pdf(bytes: &[u8]) -> Found {
    // A damaged PDF from anywhere on the web must never take missive down:
    // a panic in the reader is a PDF that says nothing.
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lopdf::Document::load_mem(bytes)
    }));
    let Ok(Ok(doc)) = loaded else {
        return Found::default();
    };
    let info = doc
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|i| match i {
            lopdf::Object::Reference(id) => doc.get_object(*id).ok(),
            other => Some(other),
        })
        .and_then(|o| o.as_dict().ok());
    let field = |key: &[u8]| -> Option<String> {
        let value = info?.get(key).ok()?;
        let value = match value {
            lopdf::Object::Reference(id) => doc.get_object(*id).ok()?,
            other => other,
        };
        lopdf::decode_text_string(value)
            .ok()
            .map(|t| tidy(&t))
            .filter(|t| !t.is_empty())
    };
    let published = field(b"CreationDate").and_then(|d| {
        // `D:YYYYMMDDHHmmSS…`
        let digits: String = d.trim_start_matches("D:").chars().take(8).collect();
        (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| {
                date(&format!(
                    "{}-{}-{}",
                    &digits[..4],
                    &digits[4..6],
                    &digits[6..8]
                ))
            })
            .flatten()
    });
    Found {
        title: field(b"Title"),
        authors: field(b"Author").map_or_else(Vec::new, |a| normalize_authors(&[a])),
        source: None,
        published,
        canonical: None,
    }
}

/// The first JSON-LD object of an article type, looking into arrays and
/// `@graph`, with every node of the page's JSON-LD that has an `@id`, by
/// it (Yoast and others name the author and publisher by reference).
fn json_ld(doc: &Html) -> Option<(Value, HashMap<String, Value>)> {
    fn is_article(v: &Value) -> bool {
        match v.get("@type") {
            Some(Value::String(t)) => ARTICLE_TYPES.contains(&t.as_str()),
            Some(Value::Array(ts)) => ts
                .iter()
                .any(|t| t.as_str().is_some_and(|t| ARTICLE_TYPES.contains(&t))),
            _ => false,
        }
    }
    fn find(v: &Value, depth: usize) -> Option<Value> {
        if depth > 8 {
            return None;
        }
        match v {
            Value::Array(items) => items.iter().find_map(|i| find(i, depth + 1)),
            Value::Object(map) => {
                if is_article(v) {
                    return Some(v.clone());
                }
                map.get("@graph").and_then(|g| find(g, depth + 1))
            }
            _ => None,
        }
    }
    fn collect(v: &Value, depth: usize, ids: &mut HashMap<String, Value>) {
        if depth > 8 || ids.len() > 1000 {
            return;
        }
        match v {
            Value::Array(items) => items.iter().for_each(|i| collect(i, depth + 1, ids)),
            Value::Object(map) => {
                if let Some(Value::String(id)) = map.get("@id")
                    && map.len() > 1
                {
                    ids.entry(id.clone()).or_insert_with(|| v.clone());
                }
                if let Some(graph) = map.get("@graph") {
                    collect(graph, depth + 1, ids);
                }
            }
            _ => {}
        }
    }
    let all: Vec<Value> = doc
        .select(&selector("script[type]"))
        .filter(|s| {
            s.value()
                .attr("type")
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"))
        })
        .filter_map(|s| serde_json::from_str::<Value>(&s.text().collect::<String>()).ok())
        .collect();
    let article = all.iter().find_map(|v| find(v, 0))?;
    let mut ids = HashMap::new();
    for v in &all {
        collect(v, 0, &mut ids);
    }
    Some((article, ids))
}

/// A JSON-LD node, or the node its `{"@id": …}` reference names.
fn resolve<'a>(v: &'a Value, ids: &'a HashMap<String, Value>) -> &'a Value {
    match v {
        Value::Object(map) if map.len() == 1 => map
            .get("@id")
            .and_then(Value::as_str)
            .and_then(|id| ids.get(id))
            .unwrap_or(v),
        _ => v,
    }
}

/// `text` cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text.to_string(),
    }
}

/// A JSON-LD value as text: a string, or the `name` of an object.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(tidy(s)),
        Value::Object(map) => map.get("name").and_then(|n| text(Some(n))),
        Value::Array(items) => items.iter().find_map(|i| text(Some(i))),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// The names of a JSON-LD `author`: a name, a `Person` (or a reference to
/// one), or a list of them; at most a few times [`MAX_AUTHORS`].
fn people(v: Option<&Value>, ids: &HashMap<String, Value>, out: &mut Vec<String>) {
    if out.len() >= MAX_AUTHORS * 4 {
        return;
    }
    match v {
        Some(Value::Array(items)) => {
            for item in items {
                people(Some(item), ids, out);
            }
        }
        Some(v) => out.extend(text(Some(resolve(v, ids)))),
        None => {}
    }
}

/// Entities decoded (by the parser already) and whitespace collapsed.
/// Text from a page, on one line: white space folded, and the controls
/// that reorder text (bidi overrides and isolates, U+202A–E, U+2066–9,
/// which can make a title read other than it is) and other invisible
/// format characters left out.
pub(super) fn tidy(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| !crate::project::values::is_hidden_format(*c))
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `<title>` without the site's name after ` | `, ` – `, ` — ` or ` - `.
fn without_site(title: &str, site: Option<&str>) -> String {
    for separator in [" | ", " – ", " — ", " - ", " · "] {
        if let Some((head, tail)) = title.rsplit_once(separator) {
            let is_site = site.is_none_or(|s| tail.trim().eq_ignore_ascii_case(s.trim()));
            if is_site && !head.trim().is_empty() {
                return head.trim().to_string();
            }
        }
    }
    title.to_string()
}

/// Names from bylines: "By A, B and C" becomes three names; "Staff",
/// addresses and links are dropped; repeats are kept once.
pub(crate) fn normalize_authors(raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in raw {
        let entry = tidy(entry);
        let entry = entry
            .strip_prefix("By ")
            .or_else(|| entry.strip_prefix("by "))
            .unwrap_or(&entry)
            .to_string();
        for name in entry
            .split([',', ';', '&'])
            .flat_map(|part| part.split(" and "))
            .map(str::trim)
        {
            let staff =
                name.eq_ignore_ascii_case("staff") || name.to_ascii_lowercase().ends_with(" staff");
            if name.is_empty() || staff || name.contains("://") || name.contains('@') {
                continue;
            }
            if !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// A date as TOML writes it (`YYYY-MM-DD`), from an ISO date or date-time,
/// or `YYYY/MM/DD`.
pub(crate) fn date(raw: &str) -> Option<String> {
    let digits: Vec<&str> = raw.trim().split(['-', '/', 'T', ' ']).take(3).collect();
    let [y, m, d] = digits.as_slice() else {
        return None;
    };
    let (y, m, d): (i32, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.get(..2)?.parse().ok()?);
    let month = time::Month::try_from(m).ok()?;
    let date = time::Date::from_calendar_date(y, month, d).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_that_takes_too_long_to_read_is_given_up() {
        let nested = format!("<title>Deep</title>{}", "<div>".repeat(3_000));
        assert_eq!(
            from_html_within(nested.clone(), std::time::Duration::ZERO),
            None
        );
        let found = from_html_within(nested, std::time::Duration::from_mins(1)).unwrap();
        assert_eq!(found.title.as_deref(), Some("Deep"));
    }

    #[test]
    fn titles_lose_the_controls_that_reorder_text() {
        assert_eq!(
            tidy("Invoice \u{202E}fdp.exe\u{202C}  for\u{2066} you\u{2069}"),
            "Invoice fdp.exe for you"
        );
        assert_eq!(tidy("\u{202E}"), "");
    }

    #[test]
    fn bylines_become_lists_of_names() {
        let raw = vec!["By Ada Lovelace, Charles Babbage and Mary Somerville".to_string()];
        assert_eq!(
            normalize_authors(&raw),
            ["Ada Lovelace", "Charles Babbage", "Mary Somerville"]
        );
        assert_eq!(
            normalize_authors(&["Staff".into(), "https://x.org/ada".into(), "Ada".into()]),
            ["Ada"]
        );
    }

    #[test]
    fn dates_become_toml_dates() {
        assert_eq!(date("2026-11-25T08:00:00Z").as_deref(), Some("2026-11-25"));
        assert_eq!(date("2026/11/05").as_deref(), Some("2026-11-05"));
        assert_eq!(date("2026-02-30"), None);
        assert_eq!(date("last Tuesday"), None);
    }

    #[test]
    fn a_damaged_pdf_says_nothing() {
        assert_eq!(
            from_pdf(b"%PDF-1.4\n1 0 obj << /Type /Catalog"),
            Found::default()
        );
        assert_eq!(from_pdf(b""), Found::default());
    }

    #[test]
    fn a_title_loses_the_site_name() {
        assert_eq!(without_site("Tides | The Harbour Review", None), "Tides");
        assert_eq!(without_site("A – B – Harbour", Some("Harbour")), "A – B");
        assert_eq!(without_site("Just a title", None), "Just a title");
    }
}
