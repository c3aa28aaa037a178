//! `missive add URL`: an item from its page, added to the issue.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::AddArgs;
use crate::curate::{self, AddRequest};
use crate::project::Project;
use crate::ui;
use crate::ui::{out, outln};

pub(super) async fn run(config: Option<&Path>, args: &AddArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let added = curate::add(
        &project,
        &AddRequest {
            url: args.url.clone(),
            issue: args.issue.clone(),
            section: args.section.clone(),
            label: args.label.clone(),
            comment: args.comment.clone(),
            title: args.title.clone(),
            dry_run: args.dry_run,
        },
    )
    .await?;
    out!("{}", ui::printable_text(&added.toml));
    if let Some(note) = &added.note {
        outln!("note: {}", ui::printable(note));
    }
    outln!(
        "{} {}",
        if added.written {
            "added to"
        } else {
            "dry run: not added to"
        },
        ui::path(&added.issue)
    );
    Ok(ExitStatus::Success)
}
