//! `missive import SOURCE`: items drafted from a feed or a bookmarks export.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::ImportArgs;
use crate::curate::{self, ImportRequest};
use crate::project::Project;
use crate::ui::outln;
use crate::ui::{self, plural, printable};

pub(super) async fn run(config: Option<&Path>, args: &ImportArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let imported = curate::import(
        &project,
        &ImportRequest {
            source: args.source.clone(),
            issue: args.issue.clone(),
            section: args.section.clone(),
            since: args.since,
            enrich: args.enrich,
            dry_run: args.dry_run,
        },
    )
    .await?;
    for item in &imported.items {
        outln!("+ {} <{}>", printable(&item.title), printable(&item.url));
    }
    for problem in &imported.not_enriched {
        outln!("  not enriched: {}", printable(problem));
    }
    for (item, why) in &imported.refused {
        outln!(
            "  left out: {} <{}>: {}",
            printable(&item.title),
            printable(&item.url),
            printable(why)
        );
    }
    let n = imported.items.len();
    outln!(
        "{} {n} item{} {} {} (left out: {} already in the issue or sent before, {} older than --since)",
        if imported.written {
            "imported"
        } else {
            "would import"
        },
        plural(n),
        if imported.written {
            "into"
        } else {
            "into (dry run)"
        },
        ui::path(&imported.issue),
        imported.known,
        imported.older,
    );
    Ok(ExitStatus::Success)
}
