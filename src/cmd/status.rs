//! `missive status`: how the sending of an issue went.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::StatusArgs;
use crate::compose::compose;
use crate::ui;
use crate::ui::out;

pub(super) fn run(config: Option<&Path>, args: &StatusArgs) -> Result<ExitStatus> {
    let composed = compose(&crate::project::Project::open(config)?, &args.issue)?;
    let status = crate::send::status(&composed, args.subscribers.as_deref())?;
    eprint!("{}", ui::MigratedNotes(&status.migrated));
    if args.json {
        out!(
            "{}",
            ui::json(&ui::status::StatusJson::new(&composed, &status))?
        );
    } else {
        out!(
            "{}",
            ui::status::StatusScreen {
                composed: &composed,
                status: &status
            }
        );
    }
    Ok(if status.complete {
        ExitStatus::Success
    } else {
        ExitStatus::Incomplete
    })
}
