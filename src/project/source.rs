//! Reading TOML source files (issues, config) into typed structs, with errors
//! that name the file, line, column and field path and show the offending line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// An error in a TOML source file: where it is, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The file the text came from.
    pub path: PathBuf,
    /// 1-based line and column of the problem, when known.
    pub position: Option<(usize, usize)>,
    /// The field path, e.g. `sections[2].items[4].published`, when known.
    pub field: Option<String>,
    /// What is wrong, in words.
    pub message: String,
    /// "did you mean" hint for misspelled keys.
    pub hint: Option<String>,
    /// The offending line and a caret marking the span.
    snippet: Option<String>,
}

impl SourceError {
    /// An error that concerns the whole file, or a field whose position is unknown.
    pub fn new(path: &Path, field: Option<String>, message: impl Into<String>) -> Self {
        SourceError {
            path: path.to_path_buf(),
            position: None,
            field,
            message: message.into(),
            hint: None,
            snippet: None,
        }
    }

    /// The 1-based line of the error, if known.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }

    fn at(mut self, text: &str, span: Range<usize>) -> Self {
        let (line, column, byte_column, line_text) = locate(text, span.start);
        self.position = Some((line, column));
        if let Some(redacted) = redact_secret(line_text) {
            // Show where the error is, never the value of a secret.
            let gutter = line.to_string().len();
            self.snippet = Some(format!(
                "{:gutter$} |\n{line} | {redacted}\n{:gutter$} |",
                "", ""
            ));
            return self;
        }
        let rest = &line_text[byte_column..];
        let span_len = span.end.saturating_sub(span.start);
        let carets = rest
            .char_indices()
            .take_while(|(i, _)| *i < span_len)
            .count()
            .max(1);
        let indent: String = line_text[..byte_column]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let gutter = line.to_string().len();
        self.snippet = Some(format!(
            "{:gutter$} |\n{line} | {line_text}\n{:gutter$} | {indent}{}",
            "",
            "",
            "^".repeat(carets),
        ));
        self
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceError {}

/// Reads a file as UTF-8 text; the error names the file.
pub fn read(path: &Path) -> Result<String, SourceError> {
    std::fs::read_to_string(path)
        .map_err(|e| SourceError::new(path, None, format!("cannot read file: {e}")))
}

/// Parses TOML text into `T`. `path` is only used to label errors.
pub fn parse_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, SourceError> {
    let deserializer = match toml::de::Deserializer::parse(text) {
        Ok(d) => d,
        Err(e) => return Err(from_toml_error(text, path, None, &e)),
    };
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let field = (field != "." && !field.is_empty()).then_some(field);
        from_toml_error(text, path, field, e.inner())
    })
}

fn from_toml_error(
    text: &str,
    path: &Path,
    field: Option<String>,
    error: &toml::de::Error,
) -> SourceError {
    let raw = error.message().trim();
    let (message, hint) = explain(raw);
    let mut err = SourceError::new(path, field, message);
    err.hint = hint;
    match error.span() {
        Some(span) => err.at(text, span),
        None => err,
    }
}

/// Rewords serde's messages where they can be clearer, and suggests the
/// closest known key for an unknown one.
fn explain(raw: &str) -> (String, Option<String>) {
    if let Some(rest) = raw.strip_prefix("unknown field `")
        && let Some((name, expected)) = rest.split_once('`')
    {
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect::<Vec<_>>();
        let hint = closest(name, &known).map(|k| format!("did you mean `{k}`?"));
        let list = known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = if list.is_empty() {
            format!("unknown key `{name}`: no keys are allowed here")
        } else {
            format!("unknown key `{name}`; known keys are {list}")
        };
        return (message, hint);
    }
    if let Some(rest) = raw.strip_prefix("missing field `")
        && let Some(name) = rest.strip_suffix('`')
    {
        return (format!("required key `{name}` is missing"), None);
    }
    (raw.to_string(), None)
}

fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|(distance, k)| *distance <= 2 && *distance < name.len().min(k.len()))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// A `key = value` line whose key names a secret (a password, a secret, a
/// token), with the value hidden; `None` for any other line.
fn redact_secret(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let name = key.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
    ["password", "passwd", "secret", "token"]
        .iter()
        .any(|s| name.contains(s))
        .then(|| format!("{key}= \"…\" (hidden: it may be a secret)"))
}

/// For the byte `offset` in `text`: the 1-based line, the 1-based column in
/// characters, the 0-based column in bytes, and the text of that line.
fn locate(text: &str, offset: usize) -> (usize, usize, usize, &str) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[..start].matches('\n').count() + 1;
    let line_text = text[start..end].trim_end_matches('\r');
    let byte_column = (offset - start).min(line_text.len());
    let column = line_text[..byte_column].chars().count() + 1;
    (line, column, byte_column, line_text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        title: String,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        count: u32,
    }

    fn err(text: &str) -> SourceError {
        parse_toml::<Doc>(text, Path::new("doc.toml")).unwrap_err()
    }

    #[test]
    fn syntax_error_names_line_and_column_and_shows_the_line() {
        let e = err("title = \"a\"\nitems = [\n");
        assert_eq!(e.path, Path::new("doc.toml"));
        assert!(e.line().is_some());
        let shown = e.to_string();
        assert!(shown.starts_with("doc.toml:"), "{shown}");
    }

    #[test]
    fn schema_error_names_field_path_and_line() {
        let e = err("title = \"a\"\n[[items]]\ncount = 1\n[[items]]\ncount = \"two\"\n");
        assert_eq!(e.field.as_deref(), Some("items[1].count"));
        assert_eq!(e.position, Some((5, 9)));
        let shown = e.to_string();
        assert!(shown.contains("5 | count = \"two\""), "{shown}");
        assert!(shown.contains("^^^^^"), "{shown}");
    }

    #[test]
    fn unknown_key_suggests_closest() {
        let e = err("titel = \"a\"\n");
        assert_eq!(e.hint.as_deref(), Some("did you mean `title`?"));
        assert!(e.message.contains("unknown key `titel`"), "{}", e.message);
        assert_eq!(e.line(), Some(1));
    }

    #[test]
    fn a_secret_is_never_shown_in_the_snippet() {
        let e = err("title = \"a\"\npassword = \"hunter2-very-secret\"\n");
        let shown = e.to_string();
        assert!(shown.contains("unknown key `password`"), "{shown}");
        assert!(shown.contains("2 | password = "), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn missing_key_is_reworded() {
        let e = err("[[items]]\ncount = 1\n");
        assert_eq!(e.message, "required key `title` is missing");
    }

    #[test]
    fn locate_counts_lines_and_chars() {
        let text = "ab\n“c” = 1\n";
        let offset = text.find('=').unwrap();
        let (line, column, byte_column, line_text) = locate(text, offset);
        assert_eq!((line, column, line_text), (2, 5, "“c” = 1"));
        assert_eq!(byte_column, 8);
    }
}
