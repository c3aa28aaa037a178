//! `missive stats`: an issue's clicks and delivery, on the terminal, as
//! JSON, or as an HTML page with charts.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::StatsArgs;
use crate::compose::compose;
use crate::ui;
use crate::ui::out;

pub(super) fn run(config: Option<&Path>, args: &StatsArgs) -> Result<ExitStatus> {
    let composed = compose(&crate::project::Project::open(config)?, &args.issue)?;
    let report = crate::stats::report(&composed, args.subscribers.as_deref())?;
    if let Some(html) = &args.html {
        crate::fsutil::write_atomic(html, crate::stats::page(&report).as_bytes(), None)?;
    }
    if args.json {
        out!("{}", ui::json(&report)?);
    } else {
        out!(
            "{}",
            ui::stats::StatsScreen {
                report: &report,
                html: args.html.as_deref(),
            }
        );
    }
    Ok(ExitStatus::Success)
}
