//! Markdown (CommonMark) fields to HTML. Raw HTML in the source is escaped,
//! never passed through; links and images are collected for `check`.

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

/// A Markdown field rendered to HTML, with what `check` needs to know of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markdown {
    pub html: String,
    /// Every link destination, in order.
    pub links: Vec<String>,
    /// Sources of images that have no alt text.
    pub images_without_alt: Vec<String>,
}

/// Renders one Markdown field.
pub fn render(source: &str) -> Markdown {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION;
    let mut links = Vec::new();
    let mut images_without_alt = Vec::new();
    // The image being read: its source and whether any alt text was seen.
    let mut image: Option<(String, bool)> = None;

    let events = Parser::new_ext(source, options).map(|event| match event {
        // Raw HTML is shown as the text it is.
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link {
            link_type: LinkType::Email,
            ..
        }) => event,
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            links.push(dest_url.to_string());
            event
        }
        Event::Start(Tag::Image { ref dest_url, .. }) => {
            image = Some((dest_url.to_string(), false));
            event
        }
        Event::Text(ref text) | Event::Code(ref text) => {
            if let Some((_, seen)) = image.as_mut() {
                *seen |= !text.trim().is_empty();
            }
            event
        }
        Event::End(TagEnd::Image) => {
            if let Some((src, false)) = image.take() {
                images_without_alt.push(src);
            }
            event
        }
        other => other,
    });

    let mut html = String::with_capacity(source.len() * 5 / 4 + 16);
    pulldown_cmark::html::push_html(&mut html, events);
    // pulldown-cmark ends every block with a newline; the last one is noise.
    let trimmed = html.trim_end().len();
    html.truncate(trimmed);
    Markdown {
        html,
        links,
        images_without_alt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_emphasis_and_links() {
        let md = render("Hello *world*.\n\nSee [the report](https://example.org/r).");
        assert_eq!(
            md.html,
            "<p>Hello <em>world</em>.</p>\n<p>See <a href=\"https://example.org/r\">the report</a>.</p>"
        );
        assert_eq!(md.links, vec!["https://example.org/r"]);
    }

    #[test]
    fn raw_html_is_escaped() {
        let md = render("a <script>alert(1)</script> & b\n\n<div>block</div>");
        assert!(!md.html.contains("<script>"), "{}", md.html);
        assert!(md.html.contains("&lt;script&gt;"), "{}", md.html);
        assert!(md.html.contains("&lt;div&gt;"), "{}", md.html);
        assert!(md.html.contains("&amp; b"), "{}", md.html);
    }

    #[test]
    fn images_without_alt_are_found() {
        let md = render("![](https://e.org/a.png)\n\n![A harbour](https://e.org/b.png)");
        assert_eq!(md.images_without_alt, vec!["https://e.org/a.png"]);
        assert!(md.html.contains("alt=\"A harbour\""), "{}", md.html);
    }

    #[test]
    fn block_quotes_lists_and_breaks() {
        let md = render("> quoted\n\n- one\n- two\n\n***\n\n1. first");
        assert!(md.html.contains("<blockquote>"));
        assert!(md.html.contains("<ul>"));
        assert!(md.html.contains("<hr />"));
        assert!(md.html.contains("<ol>"));
    }

    #[test]
    fn unicode_punctuation_survives() {
        let md = render("It’s “quoted” – and — dashed");
        assert_eq!(md.html, "<p>It’s “quoted” – and — dashed</p>");
    }
}
