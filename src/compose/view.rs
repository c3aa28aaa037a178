//! The data the templates see: the issue with Markdown rendered, items
//! numbered, bylines composed, and the newsletter's footer details.

use serde::Serialize;

use super::markdown;
use crate::compose::issue::{Item, LoadedIssue};
use crate::compose::merge::UNSUBSCRIBE_URL;
use crate::project::Project;
use crate::project::source::SourceError;

#[derive(Debug, Serialize)]
pub(crate) struct View {
    pub subject: String,
    pub preheader: Option<String>,
    /// `November 27, 2026`.
    pub date: String,
    /// `2026-11-27`.
    pub date_iso: String,
    pub number: Option<u32>,
    pub newsletter: NewsletterView,
    pub letter: Option<LetterView>,
    pub sections: Vec<SectionView>,
    pub item_count: usize,
    /// True on the second pass when the HTML is over Gmail's clip size.
    pub clipped: bool,
    /// The web version (`missive archive`), not the email: no clip banner,
    /// no reply or unsubscribe in the footer.
    pub web: bool,
    /// Minutes the whole issue takes to read, at
    /// `newsletter.words_per_minute`.
    pub reading_minutes: u32,
    /// What follows the preheader so that nothing after it shows in the
    /// inbox preview (HTML).
    pub preheader_padding: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewsletterView {
    pub name: String,
    /// Lines of the postal address.
    pub postal_address: Vec<String>,
    /// The "view in browser" URL of this issue.
    pub web_url: Option<String>,
    /// Whether an unsubscribe method is configured.
    pub unsubscribe: bool,
    /// The merge tag for the reader's own unsubscribe link.
    pub unsubscribe_url: String,
    /// `lang` of the email.
    pub language: String,
    pub toc_label: String,
    pub comment_label: Option<String>,
    pub logo: Option<String>,
    /// `serve`'s sign-up form, when `[signup]` is set.
    pub subscribe_url: Option<String>,
}

impl NewsletterView {
    /// The newsletter's details for templates; `stem` names the issue whose
    /// "view in browser" link it gives, if any.
    pub(crate) fn of(config: &crate::project::Config, stem: Option<&str>) -> NewsletterView {
        let newsletter = &config.newsletter;
        NewsletterView {
            name: newsletter.name.to_string(),
            postal_address: newsletter
                .postal_address
                .iter()
                .flat_map(|a| a.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            web_url: stem.and_then(|stem| config.web_url_for(stem)),
            unsubscribe: config.unsubscribe.url.is_some() || config.unsubscribe.mailto.is_some(),
            unsubscribe_url: format!("{{{{{UNSUBSCRIBE_URL}}}}}"),
            language: newsletter.language.as_str().to_string(),
            toc_label: newsletter.toc_label.to_string(),
            comment_label: newsletter.comment_label.as_ref().map(ToString::to_string),
            logo: newsletter.logo.as_ref().map(ToString::to_string),
            subscribe_url: config.subscribe_url(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct LetterView {
    pub greeting: Option<String>,
    /// HTML.
    pub body: String,
    pub signoff: Option<String>,
    pub signature: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SectionView {
    /// 1-based.
    pub number: usize,
    pub title: String,
    /// HTML.
    pub intro: Option<String>,
    /// Number of the first and last item; equal to `first - 1` when empty.
    pub first: u32,
    pub last: u32,
    pub items: Vec<ItemView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ItemView {
    pub number: u32,
    pub title: String,
    pub url: Option<String>,
    pub label: Option<String>,
    pub authors: Vec<String>,
    pub source: Option<String>,
    pub published: Option<String>,
    /// Authors, publication and date in one line.
    pub byline: Option<String>,
    /// HTML.
    pub excerpt: Option<String>,
    /// HTML.
    pub comment: Option<String>,
}

/// What the renderer learnt about the issue on the way.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `(field path, destination)` of every link in Markdown fields.
    pub links: Vec<(String, String)>,
    /// `(field path, image source)` of images with no alt text.
    pub images_without_alt: Vec<(String, String)>,
    /// `(field path, destination)` of script and data links, dropped.
    pub unsafe_links: Vec<(String, String)>,
    /// `(field path, image)` of the issue's own image files.
    pub local_images: Vec<(String, super::markdown::LocalImage)>,
    /// Sources of the remote images, whose widths `check --links` measures.
    pub remote_images: Vec<String>,
    /// Byte offset in the HTML where each item starts (index 0 is item 1),
    /// when the template marks items with `id="item-N"`.
    pub item_starts: Vec<usize>,
    /// Byte offset in the HTML where the last item ends (the footer starts),
    /// when the template marks it with `id="footer"`.
    pub content_end: Option<usize>,
}

impl Facts {
    /// The number of the last item shown in full when the HTML is cut after
    /// `limit` bytes; `None` if every item fits or items are not marked.
    pub fn last_item_before(&self, limit: usize) -> Option<u32> {
        let ends = self
            .item_starts
            .iter()
            .skip(1)
            .copied()
            .chain(self.content_end.or(self.item_starts.last().copied()));
        let mut last_whole = 0;
        for (n, end) in (1u32..).zip(ends) {
            if end > limit {
                return Some(last_whole);
            }
            last_whole = n;
        }
        None
    }
}

/// Invisible characters that fill the inbox preview after the preheader,
/// so that the preview does not go on into the email's first words.
const PREHEADER_PADDING: &str = "&zwnj;&nbsp;";
/// Enough of them for the longest previews (about 150 characters).
const PREHEADER_PADS: usize = 90;
/// The pads come in runs this long with a space between, where a long line
/// may be folded (an email sent 8-bit has lines of at most 998 bytes).
const PREHEADER_RUN: usize = 10;

/// Builds the view of an issue, and the facts found in its Markdown. A
/// Markdown field nested too deeply is an error naming the field.
pub(crate) fn build(loaded: &LoadedIssue, project: &Project) -> Result<(View, Facts), SourceError> {
    let issue = &loaded.issue;
    let config = &project.config;
    let mut facts = Facts::default();
    let images = markdown::Images {
        root: project.root.clone(),
        base: config.web_url_for(&loaded.stem()),
        remote_widths: std::sync::Arc::new(super::images::load(&project.state_dir())),
    };
    let mut md = |field: String, source: Option<&str>| -> Result<Option<String>, SourceError> {
        let Some(source) = source else {
            return Ok(None);
        };
        let rendered = markdown::render_with(source, &images)
            .map_err(|e| SourceError::new(&loaded.path, Some(field.clone()), e.to_string()))?;
        facts.unsafe_links.extend(
            rendered
                .unsafe_links
                .into_iter()
                .map(|l| (field.clone(), l)),
        );
        facts
            .links
            .extend(rendered.links.into_iter().map(|l| (field.clone(), l)));
        facts.local_images.extend(
            rendered
                .local_images
                .into_iter()
                .map(|i| (field.clone(), i)),
        );
        facts.remote_images.extend(rendered.remote_images);
        facts.images_without_alt.extend(
            rendered
                .images_without_alt
                .into_iter()
                .map(|i| (field.clone(), i)),
        );
        Ok(Some(rendered.html))
    };

    let letter = match &issue.letter {
        None => None,
        Some(l) => Some(LetterView {
            greeting: l.greeting.as_ref().map(ToString::to_string),
            body: link_item_references(
                &md("letter.body".into(), Some(&l.body))?.unwrap_or_default(),
                issue.item_count(),
            ),
            signoff: l.signoff.as_ref().map(ToString::to_string),
            signature: l.signature.as_ref().map(ToString::to_string),
        }),
    };

    let mut sections = Vec::with_capacity(issue.sections.len());
    let mut next = 1;
    for (s, section) in issue.sections.iter().enumerate() {
        let intro = md(format!("sections[{s}].intro"), section.intro.as_deref())?;
        let items: Vec<ItemView> = section
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let number = next + i as u32;
                let field = |name: &str| format!("sections[{s}].items[{i}].{name}");
                Ok(ItemView {
                    number,
                    title: item.title.to_string(),
                    url: item.url.as_ref().map(ToString::to_string),
                    label: item.label.as_ref().map(ToString::to_string),
                    authors: item.authors.iter().map(ToString::to_string).collect(),
                    source: item.source.as_ref().map(ToString::to_string),
                    published: item.published.map(|d| d.long()),
                    byline: byline(item),
                    excerpt: md(field("excerpt"), item.excerpt.as_deref())?
                        .map(|html| name_continue_reading(&html, number)),
                    comment: md(field("comment"), item.comment.as_deref())?,
                })
            })
            .collect::<Result<_, SourceError>>()?;
        let first = next;
        next += items.len() as u32;
        sections.push(SectionView {
            number: s + 1,
            title: section.title.to_string(),
            intro,
            first,
            last: next - 1,
            items,
        });
    }

    let view = View {
        subject: issue.subject.to_string(),
        preheader: issue.preheader.as_ref().map(ToString::to_string),
        date: issue.date.long(),
        date_iso: issue.date.iso(),
        number: issue.number.map(std::num::NonZero::get),
        newsletter: NewsletterView::of(config, Some(&loaded.stem())),
        letter,
        sections,
        item_count: issue.item_count(),
        clipped: false,
        web: false,
        reading_minutes: reading_minutes(issue, config.newsletter.words_per_minute.get()),
        preheader_padding: vec![
            PREHEADER_PADDING.repeat(PREHEADER_RUN);
            PREHEADER_PADS / PREHEADER_RUN
        ]
        .join(" "),
    };
    Ok((view, facts))
}

/// Minutes to read the issue's words (the letter, the intros, each item's
/// title, excerpt and comment) at `per_minute`, at least one.
fn reading_minutes(issue: &crate::compose::issue::Issue, per_minute: u32) -> u32 {
    let words = |text: &str| text.split_whitespace().count();
    let mut total = issue.letter.as_ref().map_or(0, |l| words(&l.body));
    for section in &issue.sections {
        total += section.intro.as_deref().map_or(0, words);
        for item in &section.items {
            total += words(item.title.as_str())
                + item.excerpt.as_deref().map_or(0, words)
                + item.comment.as_deref().map_or(0, words);
        }
    }
    u32::try_from(total.div_ceil(per_minute.max(1) as usize))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// The letter's "#12" references to items of the issue, as links to
/// `#item-12` (outside links and tags; numbers past the last item are
/// left as they are).
fn link_item_references(html: &str, items: usize) -> String {
    static REFERENCE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(^|[^\w&#])#(\d{1,4})\b").expect("a valid pattern")
    });
    let mut out = String::with_capacity(html.len());
    let mut in_link = false;
    let mut rest = html;
    while !rest.is_empty() {
        let (text, after) = rest.split_at(rest.find('<').unwrap_or(rest.len()));
        if in_link {
            out.push_str(text);
        } else {
            out.push_str(&REFERENCE.replace_all(text, |c: &regex::Captures| {
                let n: usize = c[2].parse().unwrap_or(0);
                if (1..=items).contains(&n) {
                    format!("{}<a href=\"#item-{n}\">#{n}</a>", &c[1])
                } else {
                    c[0].to_string()
                }
            }));
        }
        let Some(end) = after.find('>') else {
            out.push_str(after);
            break;
        };
        let tag = &after[..=end];
        let lower = tag.to_ascii_lowercase();
        if lower.starts_with("<a ") || lower == "<a>" {
            in_link = true;
        } else if lower.starts_with("</a") {
            in_link = false;
        }
        out.push_str(tag);
        rest = &after[end + 1..];
    }
    out
}

/// An excerpt's "… continue reading" link (what fitting adds), kept in one
/// piece and named, for screen readers, by its words and its item's title
/// (the template's `id="t{number}"` on the title): "… continue reading
/// Tides and timetables", not seventeen links called the same.
fn name_continue_reading(html: &str, number: u32) -> String {
    const LINK: &str = "<a style=\"color:#1a5fb4\" href=";
    const TEXT: &str = ">… continue reading</a>";
    let Some(end) = html.rfind(TEXT) else {
        return html.to_string();
    };
    let Some(start) = html[..end].rfind(LINK) else {
        return html.to_string();
    };
    format!(
        "{}<a style=\"color:#1a5fb4\" id=\"c{number}\" aria-labelledby=\"c{number} t{number}\" href={}>…\u{a0}continue\u{a0}reading</a>{}",
        &html[..start],
        &html[start + LINK.len()..end],
        &html[end + TEXT.len()..]
    )
}

/// `Hugo Bromley and Eyck Freymann, Hoover Institution, November 25, 2026`.
pub fn byline(item: &Item) -> Option<String> {
    let authors: Vec<&str> = item
        .authors
        .iter()
        .map(super::super::project::values::OneLine::as_str)
        .collect();
    let names = match authors.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        [a, b] => Some(format!("{a} and {b}")),
        [rest @ .., last] => Some(format!("{}, and {last}", rest.join(", "))),
    };
    let parts: Vec<String> = [
        names,
        item.source.as_ref().map(ToString::to_string),
        item.published.map(|d| d.long()),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::issue::Issue;
    use std::path::Path;

    fn item(extra: &str) -> Item {
        let text = format!(
            "subject = \"s\"\ndate = 2026-11-27\n[[sections]]\ntitle = \"A\"\n\
             [[sections.items]]\ntitle = \"t\"\n{extra}"
        );
        let issue = Issue::parse(&text, Path::new("x.toml")).unwrap();
        issue.sections[0].items[0].clone()
    }

    #[test]
    fn last_item_before_a_limit() {
        let facts = Facts {
            item_starts: vec![100, 200, 300],
            content_end: Some(400),
            ..Facts::default()
        };
        assert_eq!(facts.last_item_before(1000), None);
        assert_eq!(facts.last_item_before(399), Some(2));
        assert_eq!(facts.last_item_before(250), Some(1));
        assert_eq!(facts.last_item_before(150), Some(0));
    }

    #[test]
    fn letters_link_their_item_references_and_continue_reading_is_named() {
        assert_eq!(
            link_item_references(
                "<p>See #3 and #12, not #99 or &#39; or <a href=\"x\">#4</a>.</p>",
                20
            ),
            "<p>See <a href=\"#item-3\">#3</a> and <a href=\"#item-12\">#12</a>, not #99 or &#39; or <a href=\"x\">#4</a>.</p>"
        );
        let named = name_continue_reading(
            "<p>Words. <a style=\"color:#1a5fb4\" href=\"https://w/#item-2\">… continue reading</a></p>",
            2,
        );
        assert_eq!(
            named,
            "<p>Words. <a style=\"color:#1a5fb4\" id=\"c2\" aria-labelledby=\"c2 t2\" \
             href=\"https://w/#item-2\">…\u{a0}continue\u{a0}reading</a></p>"
        );
    }

    #[test]
    fn bylines() {
        assert_eq!(byline(&item("")), None);
        assert_eq!(
            byline(&item("authors = [\"Hugo Bromley\", \"Eyck Freymann\"]\nsource = \"Hoover Institution\"\npublished = 2026-11-25\n")).as_deref(),
            Some("Hugo Bromley and Eyck Freymann, Hoover Institution, November 25, 2026")
        );
        assert_eq!(
            byline(&item("authors = [\"A\", \"B\", \"C\"]\n")).as_deref(),
            Some("A, B, and C")
        );
        assert_eq!(
            byline(&item("authors = [\"A\"]\npublished = 2026-01-02\n")).as_deref(),
            Some("A, January 2, 2026")
        );
        assert_eq!(
            byline(&item("source = \"The Paper\"\n")).as_deref(),
            Some("The Paper")
        );
    }
}
