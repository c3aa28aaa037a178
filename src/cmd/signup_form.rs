//! `missive signup-form`: a sign-up form to paste into the author's site.

use std::path::Path;

use anyhow::{Result, anyhow};

use super::ExitStatus;
use crate::project::Project;
use crate::ui::out;

pub(super) fn run(config: Option<&Path>) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let signup = project.config.signup.as_ref().ok_or_else(|| {
        anyhow!(
            "{}: no [signup]: set it up first (the manual, docs/src/guide/grow-the-list.md)",
            project.config_label().display()
        )
    })?;
    let base = crate::list::signup::base_url(&project)?;
    let fields: Vec<String> = signup.fields.iter().map(ToString::to_string).collect();
    out!(
        "{}",
        crate::web::signup::form_html(&format!("{base}/subscribe"), &fields)
    );
    Ok(ExitStatus::Success)
}
