//! Markdown (CommonMark) fields to HTML. Raw HTML in the source is escaped,
//! never passed through; links to scripts and inline data are dropped;
//! nesting is limited so that no field can exhaust the renderers' stacks;
//! links and images are collected for `check`.

use pulldown_cmark::{Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

/// How deeply block quotes, lists and inline markup may nest in one field.
/// Real writing stays far below it; past it the email clients' and the
/// renderers' limits come into play.
pub(crate) const MAX_DEPTH: usize = 32;

/// Where an issue's local images are, and where readers will get them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Images {
    /// The project folder that local image paths start from.
    pub root: std::path::PathBuf,
    /// The issue's web address (`{web_url}/{stem}/`), where the archive
    /// puts its images; `None` when `web_url` is not set.
    pub base: Option<String>,
    /// The widths `check --links` measured of remote images.
    pub remote_widths: std::sync::Arc<super::images::Widths>,
}

/// The widest an image shows: the email's 600 px less its margins.
const MAX_IMAGE_WIDTH: u32 = 552;

/// An image of the issue's own, a file in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// As written: a path relative to the project folder.
    pub path: String,
    /// The file's size in bytes; `None` if it cannot be read.
    pub bytes: Option<u64>,
    /// Where the email points at it, if `web_url` is set.
    pub url: Option<String>,
}

/// A Markdown field rendered to HTML, with what `check` needs to know of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Markdown {
    pub html: String,
    /// Every link destination, in order.
    pub links: Vec<String>,
    /// Sources of images that have no alt text.
    pub images_without_alt: Vec<String>,
    /// Links and images to `javascript:`, `vbscript:` or `data:`, dropped.
    pub unsafe_links: Vec<String>,
    /// Images that are files of the project.
    pub local_images: Vec<LocalImage>,
    /// Sources of the images that are not (`http(s)://` addresses).
    pub remote_images: Vec<String>,
}

/// Whether an image source is a file of the project rather than an address.
fn is_local(src: &str) -> bool {
    !src.contains("://") && !src.starts_with("//") && !src.contains(':')
}

/// A local image's path, if it stays inside the project (no `..`, not
/// absolute).
fn safe_path(src: &str) -> Option<&str> {
    let path = std::path::Path::new(src);
    let inside = path.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    inside.then_some(src)
}

/// A Markdown field nests deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the Markdown nests more than {MAX_DEPTH} levels deep (block quotes, lists, emphasis); \
     flatten it"
)]
pub(crate) struct TooDeep;

/// Whether a link destination runs a script or carries inline data: such a
/// link never goes into an email, a preview or the archive.
fn is_unsafe(dest: &str) -> bool {
    let dest: String = dest
        .trim_start_matches(|c: char| c.is_whitespace() || c.is_control())
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    ["javascript:", "vbscript:", "data:"]
        .iter()
        .any(|scheme| dest.starts_with(scheme))
}

/// Pushes `text` as text events, with each http(s) URL in it made a link
/// (found by `linkify`, so trailing punctuation stays out of the URL).
fn linkify_into(text: &str, events: &mut Vec<Event<'_>>, links: &mut Vec<String>) {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    for span in finder.spans(text) {
        let url = span.as_str();
        let is_web = span.kind().is_some()
            && ["http://", "https://"].iter().any(|s| {
                url.get(..s.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(s))
            });
        if is_web {
            links.push(url.to_string());
            events.push(Event::Start(Tag::Link {
                link_type: LinkType::Autolink,
                dest_url: url.to_string().into(),
                title: "".into(),
                id: "".into(),
            }));
            events.push(Event::Text(url.to_string().into()));
            events.push(Event::End(TagEnd::Link));
        } else {
            events.push(Event::Text(url.to_string().into()));
        }
    }
}

/// A Markdown heading level moved below the email's item titles (h3).
fn below_items(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H4,
        HeadingLevel::H2 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// Renders one Markdown field with no local images (tests and previews of
/// a single field).
#[cfg(test)]
pub(crate) fn render(source: &str) -> Result<Markdown, TooDeep> {
    render_with(source, &Images::default())
}

/// Renders one Markdown field; local images point where `images` says.
pub(crate) fn render_with(source: &str, images: &Images) -> Result<Markdown, TooDeep> {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION;
    let mut links = Vec::new();
    let mut images_without_alt = Vec::new();
    let mut unsafe_links = Vec::new();
    let mut local_images = Vec::new();
    let mut remote_images = Vec::new();
    // The width to write on each local image whose size is known.
    let mut widths: Vec<(String, u32)> = Vec::new();
    // The image being read: its source and whether any alt text was seen.
    let mut image: Option<(String, bool)> = None;
    // For each open link or image: whether it was dropped.
    let mut dropped: Vec<bool> = Vec::new();

    let mut events = Vec::new();
    let mut depth = 0usize;
    // Inside a link, an image or code, text is not searched for URLs.
    let mut no_links = 0usize;
    for event in Parser::new_ext(source, options) {
        match &event {
            Event::Start(_) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(TooDeep);
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        let event = match event {
            // Raw HTML is shown as the text it is.
            Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
            // Headings sit below the email's own: the subject is h1,
            // sections h2, item titles h3.
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => Event::Start(Tag::Heading {
                level: below_items(level),
                id,
                classes,
                attrs,
            }),
            Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(below_items(level))),
            Event::Start(Tag::Link { ref dest_url, .. } | Tag::Image { ref dest_url, .. })
                if is_unsafe(dest_url) =>
            {
                unsafe_links.push(dest_url.to_string());
                dropped.push(true);
                continue;
            }
            Event::Start(Tag::Link {
                link_type: LinkType::Email,
                ..
            }) => {
                dropped.push(false);
                event
            }
            Event::Start(Tag::Link { ref dest_url, .. }) => {
                links.push(dest_url.to_string());
                dropped.push(false);
                event
            }
            Event::Start(Tag::Image {
                link_type,
                ref dest_url,
                ref title,
                ref id,
            }) if is_local(dest_url) => {
                image = Some((dest_url.to_string(), false));
                dropped.push(false);
                let file = safe_path(dest_url).map(|p| images.root.join(p));
                let bytes = file
                    .as_ref()
                    .and_then(|f| std::fs::metadata(f).ok())
                    .map(|m| m.len());
                let url = images
                    .base
                    .as_ref()
                    .filter(|_| file.is_some())
                    .map(|base| format!("{base}{}", dest_url.trim_start_matches("./")));
                if let (Some(url), Some(file)) = (&url, &file)
                    && let Ok(size) = imagesize::size(file)
                {
                    let width = u32::try_from(size.width)
                        .unwrap_or(u32::MAX)
                        .min(MAX_IMAGE_WIDTH);
                    widths.push((url.clone(), width));
                }
                local_images.push(LocalImage {
                    path: dest_url.to_string(),
                    bytes,
                    url: url.clone(),
                });
                Event::Start(Tag::Image {
                    link_type,
                    dest_url: url.unwrap_or_else(|| dest_url.to_string()).into(),
                    title: title.clone(),
                    id: id.clone(),
                })
            }
            Event::Start(Tag::Image { ref dest_url, .. }) => {
                image = Some((dest_url.to_string(), false));
                dropped.push(false);
                remote_images.push(dest_url.to_string());
                if let Some(width) = images.remote_widths.get(dest_url.as_ref()) {
                    widths.push((dest_url.to_string(), (*width).min(MAX_IMAGE_WIDTH)));
                }
                event
            }
            Event::End(TagEnd::Link) => {
                if dropped.pop().unwrap_or(false) {
                    continue;
                }
                event
            }
            Event::Start(Tag::CodeBlock(_)) => {
                no_links += 1;
                event
            }
            Event::End(TagEnd::CodeBlock) => {
                no_links = no_links.saturating_sub(1);
                event
            }
            Event::Text(ref text) if no_links == 0 && image.is_none() && dropped.is_empty() => {
                // A bare URL typed in the text becomes a link.
                linkify_into(text, &mut events, &mut links);
                continue;
            }
            Event::Text(ref text) | Event::Code(ref text) => {
                if let Some((_, seen)) = image.as_mut() {
                    *seen |= !text.trim().is_empty();
                }
                event
            }
            Event::End(TagEnd::Image) => {
                if dropped.pop().unwrap_or(false) {
                    continue;
                }
                if let Some((src, false)) = image.take() {
                    images_without_alt.push(src);
                }
                image = None;
                event
            }
            other => other,
        };
        events.push(event);
    }

    let mut html = String::with_capacity(source.len() * 5 / 4 + 16);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    // pulldown-cmark ends every block with a newline; the last one is noise.
    let trimmed = html.trim_end().len();
    html.truncate(trimmed);
    // Images never overflow a phone's screen, even where <style> is dropped.
    // (Raw HTML was escaped above, so every `<img` here is the renderer's.)
    if html.contains("<img src=") {
        html = html.replace(
            "<img src=",
            "<img style=\"max-width:100%;height:auto\" src=",
        );
    }
    // A width Outlook heeds, for the images whose size is known.
    for (url, width) in widths {
        let src = format!("src=\"{}\"", super::merge::escape_html(&url));
        html = html.replacen(&src, &format!("width=\"{width}\" {src}"), 1);
    }
    // Links keep their colour where <style> is dropped (a client's own
    // link colour may be a dark scheme's light blue on the email's white).
    if html.contains("<a href=") {
        html = html.replace("<a href=", "<a style=\"color:#1a5fb4\" href=");
    }
    // A quotation within a field keeps a small margin where <style> is
    // dropped (the browser's own is 40 px on both sides: a phone's line
    // would hold half its words).
    if html.contains("<blockquote>") {
        html = html.replace(
            "<blockquote>",
            "<blockquote style=\"margin:8px 0;font-style:italic\">",
        );
    }
    // Every other image (a remote one, whose size is not known here) the
    // column's width: Outlook for Windows shows an image without one at
    // its natural size, pushing the layout sideways.
    if html.contains("<img style=\"max-width:100%;height:auto\" src=") {
        html = html.replace(
            "<img style=\"max-width:100%;height:auto\" src=",
            &format!("<img width=\"{MAX_IMAGE_WIDTH}\" style=\"max-width:100%;height:auto\" src="),
        );
    }
    Ok(Markdown {
        html,
        links,
        images_without_alt,
        unsafe_links,
        local_images,
        remote_images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str) -> Markdown {
        super::render(source).unwrap()
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        for source in [
            ">".repeat(8000),
            format!("{}x", "- ".repeat(4000)),
            format!("{}x", "1. ".repeat(3000)),
            format!("{}x{}", "*".repeat(4000), "*".repeat(4000)),
        ] {
            let prefix: String = source.chars().take(8).collect();
            assert_eq!(super::render(&source), Err(TooDeep), "{prefix}");
        }
        let ok = format!("{} quoted\n\n- a\n  - b\n    - c", ">".repeat(5));
        assert!(super::render(&ok).is_ok());
    }

    #[test]
    fn script_and_data_links_are_dropped_and_reported() {
        let md = render(
            "[a](javascript:alert(1)) [b]( JaVaScRiPt:x) ![c](data:image/png;base64,AA) \
             <vbscript:msgbox> [ok](https://e.org/)",
        );
        assert_eq!(md.html.matches("href=").count(), 1, "{}", md.html);
        assert!(!md.html.contains("src="), "{}", md.html);
        assert!(
            md.html
                .contains("<a style=\"color:#1a5fb4\" href=\"https://e.org/\">ok</a>"),
            "{}",
            md.html
        );
        assert!(
            md.html.starts_with("<p>a b c"),
            "the words stay: {}",
            md.html
        );
        assert_eq!(md.unsafe_links.len(), 4, "{:?}", md.unsafe_links);
        assert_eq!(md.links, vec!["https://e.org/"]);
    }

    #[test]
    fn paragraphs_emphasis_and_links() {
        let md = render("Hello *world*.\n\nSee [the report](https://example.org/r).");
        assert_eq!(
            md.html,
            "<p>Hello <em>world</em>.</p>\n<p>See <a style=\"color:#1a5fb4\" href=\"https://example.org/r\">the report</a>.</p>"
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
        assert!(
            md.html
                .contains("<img width=\"552\" style=\"max-width:100%;height:auto\" src=\"https://e.org/b.png\""),
            "{}",
            md.html
        );
    }

    #[test]
    fn block_quotes_lists_and_breaks() {
        let md = render("> quoted\n\n- one\n- two\n\n***\n\n1. first");
        assert!(
            md.html
                .contains("<blockquote style=\"margin:8px 0;font-style:italic\">")
        );
        assert!(md.html.contains("<ul>"));
        assert!(md.html.contains("<hr />"));
        assert!(md.html.contains("<ol>"));
    }

    #[test]
    fn bare_urls_become_links_but_not_in_code_or_links() {
        let md = render(
            "See https://example.org/a/b?c=1. Or [this](https://e.org/x) \
             or `https://e.org/code`, not ftp://e.org/f.",
        );
        assert!(
            md.html.contains(
                "See <a style=\"color:#1a5fb4\" href=\"https://example.org/a/b?c=1\">https://example.org/a/b?c=1</a>. Or"
            ),
            "{}",
            md.html
        );
        assert!(
            md.html.contains("<code>https://e.org/code</code>"),
            "{}",
            md.html
        );
        assert!(md.html.contains("not ftp://e.org/f."), "{}", md.html);
        assert_eq!(
            md.links,
            vec!["https://example.org/a/b?c=1", "https://e.org/x"]
        );
    }

    #[test]
    fn headings_sit_below_the_item_titles() {
        let md = render("# One\n\n## Two\n\n### Three\n\n###### Six");
        assert_eq!(
            md.html,
            "<h4>One</h4>\n<h5>Two</h5>\n<h6>Three</h6>\n<h6>Six</h6>"
        );
    }

    #[test]
    fn unicode_punctuation_survives() {
        let md = render("It’s “quoted” – and — dashed");
        assert_eq!(md.html, "<p>It’s “quoted” – and — dashed</p>");
    }
}
