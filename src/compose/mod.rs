//! Composing an issue: the TOML model, its view (Markdown rendered, items
//! numbered), the tera templates, MJML to HTML, the plain-text part, merge
//! tags and the checks. [`compose`] is the one place an issue is composed
//! with its project; build, check, preview, send and archive all start there.

pub(crate) mod check;
pub mod issue;
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
pub use render::{GMAIL_CLIP_BYTES, RenderError, Rendered, TEXT_WIDTH, render};
pub use templates::Templates;

use crate::project::Project;

/// An issue rendered with its project: what build, check, preview and send share.
pub struct Composed {
    pub project: Project,
    pub issue: LoadedIssue,
    pub rendered: Rendered,
    pub warnings: Vec<Warning>,
}

/// Loads the config and the issue, and renders it.
pub fn compose(config: Option<&Path>, issue: &Path) -> Result<Composed> {
    let project = Project::open(config)?;
    let issue = Issue::load(issue)?;
    let templates = Templates::load(&project.templates_dir())?;
    let rendered = render::render(&issue, &project, &templates)?;
    let warnings = check::warnings(&issue.issue, &rendered, &project.config);
    Ok(Composed {
        project,
        issue,
        rendered,
        warnings,
    })
}
