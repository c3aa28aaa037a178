//! `missive status`: how the sending of an issue went.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::StatusArgs;
use crate::compose::compose;
use crate::ui;

pub fn run(config: Option<&Path>, args: &StatusArgs) -> Result<ExitStatus> {
    let composed = compose(crate::project::Project::open(config)?, &args.issue)?;
    let status = crate::send::status(&composed, args.subscribers.as_deref())?;
    ui::print_migrated(&status.migrated);
    if args.json {
        ui::print_status_json(&composed, &status)?;
    } else {
        ui::print_status(&composed, &status);
    }
    Ok(if status.complete {
        ExitStatus::Success
    } else {
        ExitStatus::Incomplete
    })
}
