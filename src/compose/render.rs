//! Rendering: an issue becomes MJML (tera), responsive HTML (mrml) and a
//! plain-text alternative (html2text). Entry point: [`render`].

use std::time::{Duration, Instant};

use super::templates::{self, TemplateError, Templates};
use super::{text, view};
pub(crate) use view::Facts;

use crate::compose::issue::LoadedIssue;
use crate::compose::merge::{Escape, Merge};
use crate::project::Project;

/// Gmail shows "[Message clipped]" and hides the rest once a message's HTML
/// passes about 102 KB.
pub const GMAIL_CLIP_BYTES: usize = 102_000;

/// The size Gmail weighs against [`GMAIL_CLIP_BYTES`]: the HTML part as
/// it travels, quoted-printable with CRLF line ends.
pub fn encoded_len(html: &str) -> usize {
    crate::compose::merge::encoded_qp_len(html)
}

/// Where, in the decoded HTML, Gmail's clip falls (about: the encoding's
/// overhead taken as even through the part).
pub fn clip_offset(html: &str) -> usize {
    clip_at(html.len(), encoded_len(html))
}

/// [`clip_offset`] of HTML `decoded` bytes long and `sent` bytes as sent.
fn clip_at(decoded: usize, sent: usize) -> usize {
    if sent <= GMAIL_CLIP_BYTES {
        return decoded;
    }
    (GMAIL_CLIP_BYTES as u128 * decoded as u128 / sent as u128) as usize
}

/// Width of the plain-text part.
pub const TEXT_WIDTH: usize = 78;

/// A rendered issue: the master copy, with merge tags still in it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub mjml: String,
    pub html: String,
    /// The HTML part's size as sent ([`encoded_len`]), what Gmail weighs
    /// (with `[clicks]`, its click links in it).
    pub sent_bytes: usize,
    /// How much of `sent_bytes` the click links take (`[clicks]`).
    pub click_bytes: usize,
    pub text: String,
    /// Links, images and item positions, for `check`.
    pub facts: Facts,
    /// How long each stage took.
    pub timings: Timings,
}

impl Rendered {
    /// Where, in the HTML, Gmail's clip falls ([`clip_offset`], from the
    /// size as sent already weighed).
    pub fn clip_offset(&self) -> usize {
        clip_at(self.html.len(), self.sent_bytes)
    }

    /// The HTML part, ready to be filled in per reader.
    pub fn html_merge(&self) -> Merge {
        Merge::parse(&self.html, Escape::Html)
    }

    /// The text part, ready to be filled in per reader.
    pub fn text_merge(&self) -> Merge {
        Merge::parse(&self.text, Escape::None)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub template: Duration,
    pub mjml: Duration,
    pub text: Duration,
}

/// Rendering failed: a field that cannot be rendered, a template error,
/// MJML the compiler refused, or HTML the text renderer refused.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Field(#[from] crate::project::source::SourceError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{origin}: the MJML does not compile: {message}")]
    Mjml { origin: String, message: String },
    #[error("{origin}: {source}")]
    Text {
        origin: String,
        source: text::TextError,
    },
    #[error("the renderer stopped unexpectedly")]
    Crashed,
}

/// The stack each rendering thread gets. The renderers recurse on the
/// document's nesting, which the Markdown limit keeps small; this is the
/// second line of defence, for a template that nests deeply.
const RENDER_STACK: usize = 256 * 1024 * 1024;

/// Renders an issue's email with the project's templates and config.
pub fn render(
    issue: &LoadedIssue,
    project: &Project,
    templates: &Templates,
) -> Result<Rendered, RenderError> {
    render_as(issue, project, templates, false, true)
}

/// Renders an issue's email without its text part (left empty): what
/// fitting weighs, many times over, when the text part stays whole.
pub(crate) fn render_html_only(
    issue: &LoadedIssue,
    project: &Project,
    templates: &Templates,
) -> Result<Rendered, RenderError> {
    render_as(issue, project, templates, false, false)
}

/// Renders an issue's web version (`missive archive`): the same templates,
/// told `web`, so the page carries no clip banner and no reply or
/// unsubscribe line.
pub fn render_web(
    issue: &LoadedIssue,
    project: &Project,
    templates: &Templates,
) -> Result<Rendered, RenderError> {
    render_as(issue, project, templates, true, true)
}

fn render_as(
    issue: &LoadedIssue,
    project: &Project,
    templates: &Templates,
    web: bool,
    with_text: bool,
) -> Result<Rendered, RenderError> {
    let (mut view, mut facts) = view::build(issue, project)?;
    view.web = web;
    let context = tera::Context::from_serialize(&view).expect("the view serializes");

    // With `[clicks]`, the email's size is weighed with its click links.
    let sample = (!web)
        .then(|| {
            super::clicks::Sample::new(
                &project.config,
                &issue.stem(),
                super::clicks::LinkTable::of(&issue.issue, &facts),
            )
        })
        .flatten();
    // The HTML and the text part do not depend on each other: render them on
    // two threads, each with a large stack.
    let thread = || std::thread::Builder::new().stack_size(RENDER_STACK);
    let (html, text) = std::thread::scope(|scope| {
        let text = thread().spawn_scoped(scope, || {
            let started = Instant::now();
            if !with_text {
                return Ok((String::new(), started.elapsed()));
            }
            let text_html = templates.render(templates::ISSUE_TEXT, &context)?;
            let text =
                text::from_html(&text_html, TEXT_WIDTH).map_err(|source| RenderError::Text {
                    origin: templates.origin(templates::ISSUE_TEXT),
                    source,
                })?;
            Ok::<_, RenderError>((text, started.elapsed()))
        });
        let html = thread().spawn_scoped(scope, || {
            render_html(templates, context.clone(), web, sample.as_ref())
        });
        (joined(html), joined(text))
    });
    let HtmlRender {
        mjml,
        html,
        sent_bytes,
        click_bytes,
        template_time,
        mjml_time,
    } = html?;
    let (text, text_time) = text?;
    let timings = Timings {
        template: template_time,
        mjml: mjml_time,
        text: text_time,
    };

    locate_items(&html, issue.issue.item_count(), &mut facts);
    Ok(Rendered {
        mjml,
        html,
        sent_bytes,
        click_bytes,
        text,
        facts,
        timings,
    })
}

/// The result of a rendering thread; a thread that could not start or that
/// panicked is an error, never a crash of the whole program.
fn joined<T>(
    spawned: std::io::Result<std::thread::ScopedJoinHandle<'_, Result<T, RenderError>>>,
) -> Result<T, RenderError> {
    spawned
        .map_err(|_| RenderError::Crashed)
        .and_then(|h| h.join().unwrap_or(Err(RenderError::Crashed)))
}

/// The MJML and its HTML, with the time spent in templates and in mrml.
/// The email's MJML and HTML, and the time each stage took.
struct HtmlRender {
    mjml: String,
    html: String,
    sent_bytes: usize,
    click_bytes: usize,
    template_time: Duration,
    mjml_time: Duration,
}

/// With `[clicks]`, `sample` weighs the HTML with its click links in it.
fn render_html(
    templates: &Templates,
    mut context: tera::Context,
    web: bool,
    sample: Option<&super::clicks::Sample>,
) -> Result<HtmlRender, RenderError> {
    let weigh = |html: &str| match sample {
        Some(sample) => encoded_len(&sample.filled(html)),
        None => encoded_len(html),
    };
    let started = Instant::now();
    let mut mjml = templates.render(templates::ISSUE_MJML, &context)?;
    let mut template_time = started.elapsed();
    let mut html = compile_mjml(&mjml, templates, templates::ISSUE_MJML)?;
    let mut sent_bytes = weigh(&html);
    if !web && sent_bytes > GMAIL_CLIP_BYTES {
        // Gmail will clip: render again with the links a reader needs at the top.
        let again = Instant::now();
        context.insert("clipped", &true);
        mjml = templates.render(templates::ISSUE_MJML, &context)?;
        template_time += again.elapsed();
        html = compile_mjml(&mjml, templates, templates::ISSUE_MJML)?;
        sent_bytes = weigh(&html);
    }
    let click_bytes = match sample {
        Some(_) => sent_bytes.saturating_sub(encoded_len(&html)),
        None => 0,
    };
    Ok(HtmlRender {
        mjml,
        html,
        sent_bytes,
        click_bytes,
        template_time,
        mjml_time: started.elapsed().saturating_sub(template_time),
    })
}

/// Compiles `mjml`, which the template `name` made, to HTML.
pub(crate) fn compile_mjml(
    mjml: &str,
    templates: &Templates,
    name: &str,
) -> Result<String, RenderError> {
    let origin = || templates.origin(name);
    let parsed = mrml::parse(mjml).map_err(|e| RenderError::Mjml {
        origin: origin(),
        message: e.to_string(),
    })?;
    let options = mrml::prelude::render::RenderOptions {
        disable_comments: true,
        // No web fonts: they are fetched from a third party on every open.
        fonts: std::collections::HashMap::default(),
        ..Default::default()
    };
    parsed
        .element
        .render(&options)
        .map_err(|e| RenderError::Mjml {
            origin: origin(),
            message: e.to_string(),
        })
}

fn locate_items(html: &str, count: usize, facts: &mut Facts) {
    let mut from = 0;
    for n in 1..=count {
        if let Some(at) = html[from..].find(&format!("id=\"item-{n}\"")) {
            from += at;
            facts.item_starts.push(from);
        } else {
            facts.item_starts.clear();
            return;
        }
    }
    facts.content_end = html[from..].find("id=\"footer\"").map(|at| from + at);
}
