//! `missive archive`: the web archive written to a folder.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::ArchiveArgs;
use crate::project::Project;
use crate::ui::outln;
use crate::ui::{self, ms, plural};

pub(super) fn run(config: Option<&Path>, args: &ArchiveArgs) -> Result<ExitStatus> {
    let started = Instant::now();
    let project = Project::open(config)?;
    let entries = crate::web::archive::build(&project, &args.out)?;
    outln!(
        "wrote {} with {} issue{} and feed.xml in {:.1} ms",
        ui::path(&args.out),
        entries.len(),
        plural(entries.len()),
        ms(started.elapsed())
    );
    Ok(ExitStatus::Success)
}
