//! The issue model: one newsletter issue as written by the author in TOML,
//! parsed and validated (every field error names its path and line).

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::source::{self, SourceError};

/// One newsletter issue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    /// The email Subject and the page heading.
    pub subject: OneLine,
    /// Hidden inbox preview text.
    pub preheader: Option<OneLine>,
    pub date: Date,
    pub number: Option<NonZeroU32>,
    pub letter: Option<Letter>,
    #[serde(default)]
    pub sections: Vec<Section>,
}

/// The opening letter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Letter {
    pub greeting: Option<Prose>,
    /// Markdown.
    pub body: Prose,
    pub signoff: Option<Prose>,
    pub signature: Option<Prose>,
}

/// A titled group of items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub title: OneLine,
    /// Markdown.
    pub intro: Option<Prose>,
    #[serde(default)]
    pub items: Vec<Item>,
}

/// One numbered, curated link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub title: OneLine,
    pub url: Option<WebUrl>,
    /// Shown before the title, e.g. `VIDEO`.
    pub label: Option<OneLine>,
    #[serde(default)]
    pub authors: Vec<OneLine>,
    /// The publication's name.
    pub source: Option<OneLine>,
    pub published: Option<Date>,
    /// Markdown, quoted from the piece.
    pub excerpt: Option<Prose>,
    /// Markdown, the author's own words.
    pub comment: Option<Prose>,
}

impl Issue {
    /// Parses an issue from TOML text; `path` labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Issue, SourceError> {
        source::parse_toml(text, path)
    }

    /// Reads and parses an issue file.
    pub fn load(path: &Path) -> Result<LoadedIssue, SourceError> {
        let text = source::read(path)?;
        let issue = Issue::parse(&text, path)?;
        Ok(LoadedIssue {
            path: path.to_path_buf(),
            text,
            issue,
        })
    }

    /// All items in order, each with its number (1-based, continuous across
    /// sections), the index of its section and its index in that section.
    pub fn numbered_items(&self) -> impl Iterator<Item = (u32, usize, usize, &Item)> {
        self.sections
            .iter()
            .enumerate()
            .flat_map(|(s, section)| {
                section
                    .items
                    .iter()
                    .enumerate()
                    .map(move |(i, item)| (s, i, item))
            })
            .zip(1u32..)
            .map(|((s, i, item), n)| (n, s, i, item))
    }

    pub fn item_count(&self) -> usize {
        self.sections.iter().map(|s| s.items.len()).sum()
    }
}

/// An issue together with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedIssue {
    pub path: PathBuf,
    /// The TOML text as read.
    pub text: String,
    pub issue: Issue,
}

impl LoadedIssue {
    /// The file name without its extension: names the outputs and the web page.
    pub fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "issue".into())
    }
}

/// A non-empty string on one line (no CR or LF): safe for headers and headings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OneLine(String);

impl OneLine {
    pub fn new(s: &str) -> Result<OneLine, String> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            Err("must not be empty".into())
        } else if trimmed.contains(['\r', '\n']) {
            Err("must be a single line (no line breaks)".into())
        } else if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
            Err(control_character(c))
        } else {
            Ok(OneLine(trimmed.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OneLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OneLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OneLine::new(&s).map_err(serde::de::Error::custom)
    }
}

fn control_character(c: char) -> String {
    format!(
        "contains the control character U+{:04X}, which cannot go into an email; remove it",
        u32::from(c)
    )
}

/// Text of one or more lines (Markdown, a greeting): anything but control
/// characters other than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prose(String);

impl Prose {
    pub fn new(s: &str) -> Result<Prose, String> {
        match s
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            Some(c) => Err(control_character(c)),
            None => Ok(Prose(s.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Prose {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Prose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Prose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Prose::new(&s).map_err(serde::de::Error::custom)
    }
}

/// An absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebUrl(url::Url);

impl WebUrl {
    pub fn parse(s: &str) -> Result<WebUrl, String> {
        let url = url::Url::parse(s.trim()).map_err(|e| format!("not a valid URL ({e})"))?;
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(WebUrl(url)),
            "http" | "https" => Err("the URL has no host".into()),
            other => Err(format!(
                "only http and https links are allowed, not `{other}:`"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WebUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WebUrl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A calendar date, written as a bare TOML date (`2026-11-27`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub time::Date);

impl Date {
    /// `November 27, 2026`.
    pub fn long(&self) -> String {
        let d = self.0;
        format!("{} {}, {}", d.month(), d.day(), d.year())
    }

    /// `2026-11-27`.
    pub fn iso(&self) -> String {
        let d = self.0;
        format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let expected = "expected a TOML date such as 2026-11-27 (no quotes, no time)";
        let dt = toml::value::Datetime::deserialize(d).map_err(|e| {
            // serde says "invalid type: string \"x\", expected a TOML datetime".
            let e = e.to_string();
            let found = e
                .strip_prefix("invalid type: ")
                .and_then(|rest| rest.split_once(", expected"))
                .map_or(e.as_str(), |(found, _)| found);
            D::Error::custom(format!("{expected}, found {found}"))
        })?;
        match (dt.date, dt.time, dt.offset) {
            (Some(date), None, None) => {
                let month = time::Month::try_from(date.month).map_err(D::Error::custom)?;
                time::Date::from_calendar_date(i32::from(date.year), month, date.day)
                    .map(Date)
                    .map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom(format!("{expected}, found `{dt}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "subject = \"Hello\"\ndate = 2026-11-27\n";

    fn parse(text: &str) -> Result<Issue, SourceError> {
        Issue::parse(text, Path::new("issues/x.toml"))
    }

    #[test]
    fn minimal_issue_parses() {
        let issue = parse(MINIMAL).unwrap();
        assert_eq!(issue.subject.as_str(), "Hello");
        assert_eq!(issue.date.long(), "November 27, 2026");
        assert_eq!(issue.date.iso(), "2026-11-27");
        assert!(issue.sections.is_empty());
    }

    #[test]
    fn items_are_numbered_across_sections() {
        let text = format!(
            "{MINIMAL}[[sections]]\ntitle = \"A\"\n[[sections.items]]\ntitle = \"one\"\n\
             [[sections.items]]\ntitle = \"two\"\n[[sections]]\ntitle = \"B\"\n\
             [[sections.items]]\ntitle = \"three\"\n"
        );
        let issue = parse(&text).unwrap();
        let numbered: Vec<_> = issue
            .numbered_items()
            .map(|(n, s, _, item)| (n, s, item.title.to_string()))
            .collect();
        assert_eq!(
            numbered,
            vec![
                (1, 0, "one".to_string()),
                (2, 0, "two".to_string()),
                (3, 1, "three".to_string())
            ]
        );
        assert_eq!(issue.item_count(), 3);
    }

    #[test]
    fn bad_date_names_field_path_and_line() {
        let text = format!(
            "{MINIMAL}[[sections]]\ntitle = \"A\"\n[[sections.items]]\ntitle = \"one\"\n\
             published = \"last week\"\n"
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("sections[0].items[0].published"));
        assert_eq!(e.line(), Some(7));
        assert!(e.message.contains("expected a TOML date"), "{}", e.message);
    }

    #[test]
    fn datetime_is_not_a_date() {
        let e = parse("subject = \"x\"\ndate = 2026-11-27T10:00:00Z\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("date"));
        assert!(e.message.contains("no time"), "{}", e.message);
    }

    #[test]
    fn multi_line_subject_is_refused() {
        let e = parse("subject = \"a\\nb\"\ndate = 2026-11-27\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("subject"));
        assert!(e.message.contains("single line"));
        assert_eq!(e.line(), Some(1));
    }

    #[test]
    fn control_characters_are_refused_with_their_field() {
        let e = parse("subject = \"Hi\\u001b[2J\"\ndate = 2026-11-27\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("subject"));
        assert!(e.message.contains("U+001B"), "{}", e.message);
        let text = format!(
            "{MINIMAL}[[sections]]\ntitle = \"A\"\n[[sections.items]]\ntitle = \"one\"\n\
             excerpt = \"a\\u0000b\"\n"
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("sections[0].items[0].excerpt"));
        assert_eq!(e.line(), Some(7));
        // Line breaks and tabs are text.
        parse(&format!("{MINIMAL}[letter]\nbody = \"a\\n\\tb\"\n")).unwrap();
    }

    #[test]
    fn non_web_url_is_refused() {
        let text = format!(
            "{MINIMAL}[[sections]]\ntitle = \"A\"\n[[sections.items]]\ntitle = \"one\"\n\
             url = \"javascript:alert(1)\"\n"
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("sections[0].items[0].url"));
        assert!(e.message.contains("only http and https"), "{}", e.message);
    }

    #[test]
    fn zero_number_is_refused() {
        let e = parse("subject = \"x\"\ndate = 2026-11-27\nnumber = 0\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("number"));
    }

    #[test]
    fn unknown_item_key_suggests_known_one() {
        let text = format!(
            "{MINIMAL}[[sections]]\ntitle = \"A\"\n[[sections.items]]\ntitle = \"one\"\n\
             autors = [\"X\"]\n"
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `authors`?"));
        assert_eq!(e.line(), Some(7));
    }

    #[test]
    fn missing_letter_body_is_an_error() {
        let e = parse(&format!("{MINIMAL}[letter]\ngreeting = \"Hi\"\n")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("letter"));
        assert!(e.message.contains("`body`"), "{}", e.message);
    }
}
