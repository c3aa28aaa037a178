//! `missive bounces`: read a bounce mailbox and keep the list clean.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::BouncesArgs;
use crate::project::Project;
use crate::ui;
use crate::ui::out;

pub(super) async fn run(config: Option<&Path>, args: &BouncesArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let run = crate::bounces::run(&project, args.mailbox.as_deref(), args.dry_run).await?;
    if args.json {
        out!("{}", ui::bounces::json_lines(&run)?);
    } else {
        out!("{}", ui::bounces::BouncesScreen(&run));
    }
    Ok(ExitStatus::Success)
}
