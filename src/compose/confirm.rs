//! The confirmation email of a sign-up, from its own templates
//! (`confirm.mjml` and `confirm.text.html`, built in and overridable like
//! the issue's), rendered once: the reader's link and name are merge tags,
//! filled in for each message like an issue's.

use super::render::{RenderError, Rendered, Timings, compile_mjml};
use super::templates::{self, Templates};
use super::view::{Facts, NewsletterView};
use super::{TEXT_WIDTH, text};
use crate::project::Project;

/// The merge tag of the reader's confirmation link.
pub(crate) const CONFIRM_URL: &str = "confirm_url";

/// The Subject of the confirmation email.
pub(crate) fn subject(project: &Project) -> String {
    format!(
        "Please confirm your subscription to {}",
        project.config.newsletter.name
    )
}

/// Renders the confirmation email, its link working for `hours`.
pub(crate) fn confirmation(
    project: &Project,
    templates: &Templates,
    hours: u32,
) -> Result<Rendered, RenderError> {
    let mut context = tera::Context::new();
    context.insert("newsletter", &NewsletterView::of(&project.config, None));
    context.insert("subject", &subject(project));
    context.insert("hours", &hours);
    // Merge tags, filled in for each reader.
    context.insert(CONFIRM_URL, &format!("{{{{ {CONFIRM_URL} }}}}"));
    context.insert("name", "{{ name | there }}");
    let mjml = templates.render(templates::CONFIRM_MJML, &context)?;
    let html = compile_mjml(&mjml, templates, templates::CONFIRM_MJML)?;
    let text_html = templates.render(templates::CONFIRM_TEXT, &context)?;
    let text = text::from_html(&text_html, TEXT_WIDTH).map_err(|source| RenderError::Text {
        origin: templates.origin(templates::CONFIRM_TEXT),
        source,
    })?;
    Ok(Rendered {
        sent_bytes: super::render::encoded_len(&html),
        click_bytes: 0,
        mjml,
        html,
        text,
        facts: Facts::default(),
        timings: Timings::default(),
    })
}
