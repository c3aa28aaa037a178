//! Composing an issue: the TOML model, its view (Markdown rendered, items
//! numbered), the tera templates, MJML to HTML, the plain-text part, merge
//! tags and the checks. [`compose`] is the one place an issue is composed
//! with its project; build, check, preview, send and archive all start there.

pub(crate) mod check;
pub mod clicks;
pub(crate) mod confirm;
pub(crate) mod fit;
mod fold;
pub mod images;
pub mod issue;
pub(crate) mod links;
pub(crate) mod markdown;
pub mod merge;
pub(crate) mod render;
#[doc(hidden)]
pub mod synthetic;
pub(crate) mod templates;
pub(crate) mod text;
pub(crate) mod view;

use std::path::Path;

use anyhow::Result;

pub use check::Warning;
pub use issue::{Issue, LoadedIssue};
pub use render::{
    GMAIL_CLIP_BYTES, RenderError, Rendered, TEXT_WIDTH, clip_offset, encoded_len, render,
    render_web,
};
pub use templates::Templates;
pub use view::byline;

use crate::project::Project;

/// An issue rendered with its project: what build, check, preview and send share.
pub struct Composed {
    pub project: Project,
    pub issue: LoadedIssue,
    /// The email: with `[email] fit`, its longest excerpts shortened.
    pub rendered: Rendered,
    pub warnings: Vec<Warning>,
    /// The excerpts `[email] fit` shortened in the email.
    pub shortened: Vec<fit::Shortened>,
}

/// Loads the issue and renders it with its project (which the caller
/// opened, once).
pub fn compose(project: &Project, issue: &Path) -> Result<Composed> {
    let issue = Issue::load(issue)?;
    let templates = Templates::load(&project.templates_dir())?;
    let mut rendered = render::render(&issue, project, &templates)?;
    let mut shortened = Vec::new();
    if project.config.fits()
        && let Some((fitted, cut)) = fit::fit(&issue, project, &templates, &rendered)?
    {
        rendered = fitted;
        shortened = cut;
    }
    let mut warnings = check::warnings(&issue.issue, &rendered, &project.config);
    check::fit_warnings(
        &issue.issue,
        &rendered,
        &project.config,
        &shortened,
        &mut warnings,
    );
    Ok(Composed {
        project: project.clone(),
        issue,
        rendered,
        warnings,
        shortened,
    })
}
