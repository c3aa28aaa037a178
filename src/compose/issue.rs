//! The issue model: one newsletter issue as written by the author in TOML,
//! parsed and validated (every field error names its path and line).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::project::source::{self, SourceError};
pub use crate::project::values::{Date, OneLine, Prose, WebUrl};

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
    /// sections) and where it sits.
    pub fn numbered_items(&self) -> impl Iterator<Item = NumberedItem<'_>> {
        self.sections
            .iter()
            .enumerate()
            .flat_map(|(section, s)| {
                s.items
                    .iter()
                    .enumerate()
                    .map(move |(index, item)| (section, index, item))
            })
            .zip(1u32..)
            .map(|((section, index, item), number)| NumberedItem {
                number,
                section,
                index,
                item,
            })
    }

    pub fn item_count(&self) -> usize {
        self.sections.iter().map(|s| s.items.len()).sum()
    }
}

/// An item with its number in the issue and its place in the file.
#[derive(Debug, Clone, Copy)]
pub struct NumberedItem<'a> {
    /// 1-based, continuous across sections.
    pub number: u32,
    /// The index of its section.
    pub section: usize,
    /// Its index in that section.
    pub index: usize,
    pub item: &'a Item,
}

impl NumberedItem<'_> {
    /// `sections[s].items[i]`, as errors and warnings name it.
    pub fn field(&self) -> String {
        format!("sections[{}].items[{}]", self.section, self.index)
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
            .map_or_else(|| "issue".into(), |s| s.to_string_lossy().into_owned())
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
            .map(|n| (n.number, n.section, n.item.title.to_string()))
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
