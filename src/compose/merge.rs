//! Merge tags: `{{ name }}` or `{{ name | fallback }}` in the rendered HTML and
//! text, filled in per reader. The issue is rendered once into a [`Merge`]
//! template; filling it is a single pass of string concatenation.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::compose::fold::Folder;
use crate::project::config::Config;

/// The merge tag the default templates put in the footer's unsubscribe link.
pub const UNSUBSCRIBE_URL: &str = "unsubscribe_url";

/// Values for a reader nobody in particular: the web version and `build`.
/// Every tag takes its fallback except the unsubscribe link, which points at
/// the configured mailto or the unsubscribe page with no address in it.
pub fn neutral(config: &Config) -> impl Fn(&str) -> Option<Cow<'static, str>> + use<> {
    let unsubscribe = config
        .unsubscribe
        .mailto_link()
        .or_else(|| config.unsubscribe.url.as_ref().map(|url| url.fill("", "")));
    move |key| match key {
        UNSUBSCRIBE_URL => unsubscribe.clone().map(Cow::Owned),
        _ => None,
    }
}

/// How substituted values are written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// HTML text or attribute: `&`, `<`, `>`, `"` and `'` are escaped.
    Html,
    /// Plain text: values go in as they are.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Tag {
        key: String,
        /// Already in the output's form (escaped in HTML, as written in text).
        fallback: String,
    },
}

/// A rendered text with merge tags, ready to be filled in per reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    parts: Vec<Part>,
    escape: Escape,
    literal_len: usize,
    form: Form,
}

/// The form a template's literals and fallbacks are in, and values are
/// put in as they are filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// As rendered.
    Rendered,
    /// Quoted-printable (RFC 2045), CRLF line ends: a 7-bit body.
    QuotedPrintable,
    /// As written, CRLF line ends, HTML folded into short lines: a body
    /// sent as it is (`7bit` when ASCII, else `8bit`).
    AsIs,
}

impl Merge {
    /// Splits `text` at its merge tags. A `{{` that does not open a
    /// well-formed tag (`{{ key }}` with a key of letters, digits, `_` or `-`)
    /// is left as text.
    pub fn parse(text: &str, escape: Escape) -> Merge {
        let mut parts = Vec::new();
        let mut at = 0;
        for tag in scan(text) {
            if tag.range.start > at {
                parts.push(Part::Literal(text[at..tag.range.start].to_string()));
            }
            at = tag.range.end;
            parts.push(Part::Tag {
                key: tag.key,
                fallback: tag.fallback,
            });
        }
        if at < text.len() {
            parts.push(Part::Literal(text[at..].to_string()));
        }
        Merge::from_parts(parts, escape, Form::Rendered)
    }

    fn from_parts(parts: Vec<Part>, escape: Escape, form: Form) -> Merge {
        let literal_len = parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => s.len(),
                Part::Tag { .. } => 0,
            })
            .sum();
        Merge {
            parts,
            escape,
            literal_len,
            form,
        }
    }

    /// The same template, quoted-printable encoded (RFC 2045) with CRLF line
    /// ends, so that filling it gives a message body ready to send: the text
    /// is encoded once, here, and only the values per reader. Every piece
    /// ends its line (with a soft line break where the text did not), which
    /// keeps lines short and which decoders drop.
    #[must_use]
    pub fn quoted_printable(&self) -> Merge {
        let parts: Vec<Part> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => Part::Literal(encode_qp(s)),
                Part::Tag { key, fallback } => Part::Tag {
                    key: key.clone(),
                    fallback: encode_qp(fallback),
                },
            })
            .collect();
        Merge::from_parts(parts, self.escape, Form::QuotedPrintable)
    }

    /// The same template as it is, with CRLF line ends and no NUL (values
    /// too, as they are filled in), for a body sent without a transfer
    /// encoding (`7bit`, or `8bit` where the relay offers 8BITMIME); HTML's
    /// long lines folded where a line break means the same as the space it
    /// replaces. Whether a filled body keeps every line within SMTP's limit
    /// is for the sender to check.
    #[must_use]
    pub fn as_is(&self) -> Merge {
        let mut folder = (self.escape == Escape::Html).then(|| {
            let whole: String = self
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Literal(s) => Some(s.as_str()),
                    Part::Tag { .. } => None,
                })
                .collect();
            Folder::new(&whole)
        });
        let parts: Vec<Part> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => Part::Literal(match folder.as_mut() {
                    Some(folder) => crlf(&folder.fold(s)),
                    None => crlf(s),
                }),
                Part::Tag { key, fallback } => Part::Tag {
                    key: key.clone(),
                    fallback: crlf(fallback),
                },
            })
            .collect();
        Merge::from_parts(parts, self.escape, Form::AsIs)
    }

    /// Whether the text is ASCII, but for the values filled in.
    pub fn is_ascii(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Literal(s) => s.is_ascii(),
            Part::Tag { fallback, .. } => fallback.is_ascii(),
        })
    }

    /// The keys of all merge tags used.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Tag { key, .. } => Some(key.as_str()),
                Part::Literal(_) => None,
            })
            .collect()
    }

    /// Fills every tag with `lookup(key)`, or its fallback when that is
    /// `None` or empty.
    pub fn fill<'a>(&self, lookup: &impl Fn(&str) -> Option<Cow<'a, str>>) -> String {
        let mut out = String::with_capacity(self.literal_len + 64);
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Tag { key, fallback } => match lookup(key).filter(|v| !v.is_empty()) {
                    Some(value) => {
                        let value = match self.escape {
                            Escape::Html => Cow::Owned(escape_html(&value)),
                            Escape::None => value,
                        };
                        match self.form {
                            Form::Rendered => out.push_str(&value),
                            Form::QuotedPrintable => out.push_str(&encode_qp(&value)),
                            Form::AsIs => out.push_str(&crlf(&value)),
                        }
                    }
                    None => out.push_str(fallback),
                },
            }
        }
        // A soft line break at the very end stands for nothing; some
        // decoders stumble on it.
        if self.form == Form::QuotedPrintable && out.ends_with("=\r\n") {
            out.truncate(out.len() - 3);
        }
        out
    }
}

/// Escapes text for HTML and MJML. Unlike tera's default it leaves `/` alone,
/// so URLs stay readable and the email stays small.
pub fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The length of `text` quoted-printable encoded as a body is (CRLF line
/// ends).
pub(crate) fn encoded_qp_len(text: &str) -> usize {
    encode_qp(text).len()
}

/// Quoted-printable encodes one piece of a body, with CRLF line ends, ending
/// it with a soft line break unless it ends with a line break of its own.
fn encode_qp(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let mut out = quoted_printable::encode_to_str(crlf(text));
    if !out.ends_with("\r\n") {
        out.push_str("=\r\n");
    }
    out
}

/// `text` with every line break (CRLF, LF or a CR alone) a CRLF and no
/// NUL: what a body sent as it is may hold (RFC 5321 §2.3.8, RFC 2045 §2.8).
fn crlf(text: &str) -> String {
    if !text.contains(['\r', '\n', '\0']) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\0' => {}
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    out
}

/// One well-formed merge tag found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Where it is, braces included.
    pub range: std::ops::Range<usize>,
    pub key: String,
    /// Whitespace folded, as written.
    pub fallback: String,
}

/// Every well-formed merge tag in `text`, in order, in time linear in the
/// length of the text whatever braces it holds: each `{{` is paired with
/// the first `}}` after it, and of several `{{` before one `}}` only the
/// last can open a tag.
pub fn scan(text: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("{{") {
        let first = from + found;
        let Some(close) = text[first + 2..].find("}}").map(|c| first + 2 + c) else {
            break; // no `}}` anywhere after: nothing more can be a tag
        };
        let open = text[first + 2..close]
            .rfind("{{")
            .map_or(first, |r| first + 2 + r);
        match parse_tag(&text[open + 2..close]) {
            Some((key, fallback)) => {
                tags.push(Tag {
                    range: open..close + 2,
                    key,
                    fallback,
                });
                from = close + 2;
            }
            None => from = close,
        }
    }
    tags
}

/// Parses the inside of `{{ … }}`: a key and an optional `| fallback`.
/// Line breaks are allowed inside (text wrapping may put them there).
fn parse_tag(inner: &str) -> Option<(String, String)> {
    let (key, fallback) = match inner.split_once('|') {
        Some((k, f)) => (k, Some(f)),
        None => (inner, None),
    };
    let key = key.trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return None;
    }
    let fallback = fallback
        .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Some((key.to_string(), fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(key: &str) -> Option<Cow<'static, str>> {
        match key {
            "name" => Some(Cow::Borrowed("Ada <&>")),
            "city" => Some(Cow::Borrowed("")),
            _ => None,
        }
    }

    #[test]
    fn fills_tags_with_values_escaped_for_html() {
        let m = Merge::parse("<p>Dear {{ name }},</p>", Escape::Html);
        assert_eq!(m.fill(&lookup), "<p>Dear Ada &lt;&amp;&gt;,</p>");
        let t = Merge::parse("Dear {{name}},", Escape::None);
        assert_eq!(t.fill(&lookup), "Dear Ada <&>,");
    }

    #[test]
    fn empty_or_missing_values_take_the_fallback() {
        let m = Merge::parse("{{ city | far\n away }} / {{ zip }}!", Escape::None);
        assert_eq!(m.fill(&lookup), "far away / !");
        assert_eq!(
            m.keys().into_iter().collect::<Vec<_>>(),
            vec!["city", "zip"]
        );
    }

    #[test]
    fn quoted_printable_fill_decodes_to_the_plain_fill() {
        let long = "x".repeat(200);
        let text = format!(
            "Dear {{{{ name }}}},  \n.leading dot\n= sign and “quotes” {long}\n\
             {{{{ city | far away }}}} trailing space \nend"
        );
        for escape in [Escape::Html, Escape::None] {
            let plain = Merge::parse(&text, escape);
            let qp = plain.quoted_printable();
            let encoded = qp.fill(&lookup);
            assert!(encoded.lines().all(|l| l.len() <= 76), "{encoded}");
            assert!(encoded.is_ascii());
            let decoded = quoted_printable::decode(&encoded, quoted_printable::ParseMode::Strict)
                .unwrap_or_else(|e| panic!("{e:?} in {encoded}"));
            let want = plain.fill(&lookup).replace('\n', "\r\n");
            assert_eq!(String::from_utf8(decoded).unwrap(), want);
        }
    }

    #[test]
    fn as_is_fill_is_the_plain_fill_with_crlf_and_html_folded() {
        let words = "word ".repeat(60);
        let text = format!("Dear {{{{ name }}}},\n{words}\n{{{{ city | far\naway }}}}\nend");
        let plain = Merge::parse(&text, Escape::None);
        let as_is = plain.as_is().fill(&lookup);
        assert_eq!(as_is, plain.fill(&lookup).replace('\n', "\r\n"));

        let html = format!("<p class=\"a\">Dear {{{{ name }}}}, {words}</p><p>{words}</p>");
        let plain = Merge::parse(&html, Escape::Html);
        let as_is = plain.as_is().fill(&lookup);
        assert!(as_is.split("\r\n").all(|l| l.len() < 100), "{as_is}");
        assert_eq!(as_is.replace("\r\n", " "), plain.fill(&lookup));
    }

    #[test]
    fn braces_of_every_kind_parse_in_linear_time() {
        // Quadratic parsing took seconds on a fraction of this.
        let unmatched = "{{".repeat(500_000);
        let m = Merge::parse(&unmatched, Escape::None);
        assert!(m.keys().is_empty());
        assert_eq!(m.fill(&lookup), unmatched);
        let opens_then_one_close = format!("{}}}}} {{{{ name }}}}", "{{ x ".repeat(200_000));
        let m = Merge::parse(&opens_then_one_close, Escape::None);
        assert_eq!(m.keys().into_iter().collect::<Vec<_>>(), vec!["name", "x"]);
        let text = "a {{ name }} {{ bad key }} {{ {{ city|x }}";
        let t = scan(text);
        let keys: Vec<&str> = t.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, vec!["name", "city"]);
        assert_eq!(&text[t[0].range.clone()], "{{ name }}");
        assert_eq!(&text[t[1].range.clone()], "{{ city|x }}");
    }

    #[test]
    fn malformed_braces_are_text() {
        let text = "a {{ not a key }} b {{ c";
        let m = Merge::parse(text, Escape::None);
        assert!(m.keys().is_empty());
        assert_eq!(m.fill(&lookup), text);
    }
}
