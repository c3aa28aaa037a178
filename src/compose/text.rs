//! The plain-text part: simple HTML turned into wrapped text by html2text,
//! with links written inline (`text <url>`) so every one is readable in place,
//! and merge tags kept whole (never split by a line break or a quote mark).

use std::cell::RefCell;
use std::rc::Rc;

use html2text::render::{TaggedLine, TextDecorator};

/// Marks a link's URL in html2text's output while it wraps lines: a short
/// token no wrapping can break, replaced by the URL afterwards.
const TOKEN_START: char = '\u{E000}';
const TOKEN_END: char = '\u{E001}';
/// Pads a token to the width of its URL, so lines wrap as if it were there.
const TOKEN_FILL: char = '\u{E002}';
/// Marks a merge tag the same way, so that wrapping never splits it.
const TAG_START: char = '\u{E003}';
const TAG_END: char = '\u{E004}';

/// html2text could not turn the HTML into text.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the plain-text part: {0}")]
pub struct TextError(String);

/// Renders `html` as plain text wrapped at `width` columns (a long URL may
/// overrun), with at most one blank line in a row and no trailing spaces.
pub(crate) fn from_html(html: &str, width: usize) -> Result<String, TextError> {
    let decorator = InlineLinks {
        // A URL longer than this goes on a line of its own and overruns it.
        token_width: width.saturating_sub(4).max(8),
        ..InlineLinks::default()
    };
    let urls = Rc::clone(&decorator.urls);
    let html = rules(&bare_urls(&bare_links(html), &decorator));
    let (html, tags) = protect_tags(&html);
    let raw = html2text::config::with_decorator(decorator)
        .string_from_read(html.as_bytes(), width)
        .map_err(|e| TextError(e.to_string()))?;
    let urls = urls.borrow();
    let text = restore(&raw, (TOKEN_START, TOKEN_END), &urls);
    Ok(tidy(&restore(&text, (TAG_START, TAG_END), &tags)))
}

/// A thematic break (`***`) or the rule before the footer, as text.
const RULE: &str = "- - - - - - - - - -";

/// Turns every `<hr>` into a paragraph holding a visible rule.
fn rules(html: &str) -> String {
    let rule = format!("<p>{RULE}</p>");
    html.replace("<hr />", &rule)
        .replace("<hr/>", &rule)
        .replace("<hr>", &rule)
}

/// Marks each link whose text is its own URL (`<a href="u">u</a>`, as the
/// Markdown renderer writes a bare URL) as a bare URL, so the text part
/// shows it once, whole, rather than `u <u>` split across lines.
fn bare_links(html: &str) -> String {
    use super::templates::{BARE_URL_END, BARE_URL_START};
    const OPEN: &str = "<a href=\"";
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let bare = after.split_once("\">").and_then(|(href, tail)| {
            let (text, tail) = tail.split_once("</a>")?;
            (href == text).then_some((href, tail))
        });
        if let Some((url, tail)) = bare {
            out.push(BARE_URL_START);
            out.push_str(url);
            out.push(BARE_URL_END);
            rest = tail;
        } else {
            out.push_str(OPEN);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Replaces each URL the template marked with `| bare_url` by a URL token,
/// so it comes out whole on a line of its own.
fn bare_urls(html: &str, decorator: &InlineLinks) -> String {
    use super::templates::{BARE_URL_END, BARE_URL_START};
    replace_marked(html, (BARE_URL_START, BARE_URL_END), |url| {
        decorator.token(&unescape_html(url))
    })
}

/// `text` with every span between `start` and `end` (markers included)
/// replaced by what `replace` makes of the text inside.
fn replace_marked(
    text: &str,
    (start, end): (char, char),
    mut replace: impl FnMut(&str) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(start) {
        out.push_str(&rest[..at]);
        let after = &rest[at + start.len_utf8()..];
        let close = after.find(end).unwrap_or(after.len());
        out.push_str(&replace(&after[..close]));
        rest = after.get(close + end.len_utf8()..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// Replaces each merge tag with an unbreakable token about as wide as its
/// fallback; returns the tags, as text, to put back.
fn protect_tags(html: &str) -> (String, Vec<String>) {
    let found = crate::compose::merge::scan(html);
    if found.is_empty() {
        return (html.to_string(), Vec::new());
    }
    let mut out = String::with_capacity(html.len());
    let mut tags = Vec::with_capacity(found.len());
    let mut at = 0;
    for tag in found {
        out.push_str(&html[at..tag.range.start]);
        at = tag.range.end;
        let index = tags.len().to_string();
        let width = tag.fallback.chars().count().clamp(6, 30);
        out.push(TAG_START);
        out.push_str(&index);
        out.extend(std::iter::repeat_n(
            TOKEN_FILL,
            width.saturating_sub(index.len() + 2),
        ));
        out.push(TAG_END);
        tags.push(unescape_html(&html[tag.range]));
    }
    out.push_str(&html[at..]);
    (out, tags)
}

/// Undoes [`super::escape_html`]: the text part shows characters, not entities.
fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Puts each value back in place of its token: a token is `start`, the
/// value's index, fill, `end`.
fn restore(text: &str, markers: (char, char), values: &[String]) -> String {
    if values.is_empty() {
        return text.to_string();
    }
    replace_marked(text, markers, |token| {
        let index = token.trim_end_matches(TOKEN_FILL);
        match index.parse::<usize>().ok().and_then(|i| values.get(i)) {
            Some(value) => value.clone(),
            None => token.to_string(),
        }
    })
}

/// Trims line ends and collapses runs of blank lines.
fn tidy(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut blank = true; // also drops blank lines at the start
    for line in raw.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Like html2text's plain decorator, but a link reads `text <url>`, and
/// emphasis is `_x_`/`*x*`.
#[derive(Clone, Default)]
struct InlineLinks {
    /// The URLs of the links being read, innermost last.
    open: Vec<String>,
    /// Every URL written, indexed by its token; shared with sub-decorators.
    urls: Rc<RefCell<Vec<String>>>,
    /// The widest a token gets.
    token_width: usize,
}

impl InlineLinks {
    fn token(&self, url: &str) -> String {
        let mut urls = self.urls.borrow_mut();
        urls.push(url.to_string());
        let index = (urls.len() - 1).to_string();
        let width = url.chars().count().min(self.token_width);
        let fill = width.saturating_sub(index.len() + 2);
        let mut token = String::with_capacity(index.len() + 3 * (fill + 2));
        token.push(TOKEN_START);
        token.push_str(&index);
        token.extend(std::iter::repeat_n(TOKEN_FILL, fill));
        token.push(TOKEN_END);
        token
    }
}

impl TextDecorator for InlineLinks {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, ()) {
        self.open.push(url.to_string());
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        match self.open.pop() {
            Some(url) if url.starts_with('#') => String::new(),
            Some(url) => {
                let shown = url.strip_prefix("mailto:").unwrap_or(&url);
                format!(" <{}>", self.token(shown))
            }
            None => String::new(),
        }
    }

    fn decorate_em_start(&self) -> (String, ()) {
        ("_".into(), ())
    }

    fn decorate_em_end(&self) -> String {
        "_".into()
    }

    fn decorate_strong_start(&self) -> (String, ()) {
        ("*".into(), ())
    }

    fn decorate_strong_end(&self) -> String {
        "*".into()
    }

    fn decorate_strikeout_start(&self) -> (String, ()) {
        ("~".into(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        "~".into()
    }

    fn decorate_code_start(&self) -> (String, ()) {
        ("`".into(), ())
    }

    fn decorate_code_end(&self) -> String {
        "`".into()
    }

    fn decorate_preformat_first(&self) {}

    fn decorate_preformat_cont(&self) {}

    fn decorate_image(&mut self, src: &str, title: &str) -> (String, ()) {
        if title.trim().is_empty() {
            (format!("[Image <{}>]", self.token(src)), ())
        } else {
            (format!("[Image: {title}]"), ())
        }
    }

    fn header_prefix(&self, level: usize) -> String {
        "#".repeat(level) + " "
    }

    fn quote_prefix(&self) -> String {
        "> ".into()
    }

    fn unordered_item_prefix(&self) -> String {
        "* ".into()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        InlineLinks {
            open: Vec::new(),
            urls: Rc::clone(&self.urls),
            token_width: self.token_width,
        }
    }

    fn finalise(&mut self, _urls: Vec<String>) -> Vec<TaggedLine<()>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    fn from_html(html: &str, width: usize) -> String {
        super::from_html(html, width).unwrap()
    }

    #[test]
    fn merge_tags_are_never_split_by_wrapping() {
        let words = "lorem ipsum dolor sit amet consectetur ".repeat(4);
        for i in 0..40 {
            let html = format!(
                "<blockquote><p>{}{} {{{{ name | dear &amp; valued friend }}}} {words}</p></blockquote>",
                "x".repeat(i),
                words
            );
            let text = from_html(&html, 78);
            assert!(
                text.contains("{{ name | dear & valued friend }}"),
                "split at {i}:\n{text}"
            );
            assert!(text.lines().all(|l| l.starts_with("> ")), "{text}");
        }
    }

    #[test]
    fn a_bare_url_is_written_once_and_whole() {
        let url = format!("https://example.org/{}", "long-path/".repeat(9));
        let html = format!(
            "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit: <a href=\"{url}\">{url}</a> and more.</p>"
        );
        let text = from_html(&html, 78);
        assert_eq!(text.matches(&url).count(), 1, "{text}");
        assert!(text.lines().any(|l| l.contains(&url)), "whole: {text}");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn links_are_inline_and_lines_wrap() {
        let html = "<p>Read <a href=\"https://example.org/a\">the piece</a> now. \
                    Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
                    tempor incididunt ut labore et dolore magna aliqua.</p>";
        let text = from_html(html, 78);
        assert!(text.contains("the piece <https://example.org/a>"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 78), "{text}");
    }

    #[test]
    fn long_urls_are_not_broken() {
        let url = format!("https://example.org/{}", "x".repeat(120));
        let text = from_html(&format!("<p><a href=\"{url}\">link</a></p>"), 78);
        assert!(text.contains(&url), "{text}");
    }

    #[test]
    fn blank_runs_collapse() {
        let text = from_html("<p>a</p><br><br><br><p>b</p><div></div><p>c</p>", 78);
        assert!(!text.contains("\n\n\n"), "{text:?}");
        assert!(text.starts_with('a'), "{text:?}");
        assert!(text.ends_with("c\n"), "{text:?}");
    }

    #[test]
    fn quotes_are_prefixed() {
        let text = from_html("<blockquote><p>quoted words</p></blockquote>", 78);
        assert_eq!(text, "> quoted words\n");
    }
}
