//! `missive subscribers`: the list's counts, unsubscribes included, and
//! `--fold` to write the unsubscribes into the list.

use std::path::Path;

use anyhow::Result;

use super::ExitStatus;
use crate::cli::SubscribersArgs;
use crate::list::events;
use crate::list::reader::{Reader, Tally};
use crate::project::Project;
use crate::ui::{self, plural, printable};

pub fn run(config: Option<&Path>, args: &SubscribersArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let list = project.list_path(args.subscribers.as_deref());
    let (suppressed, log, migrated) = events::open_project(&project, &list)?;
    ui::print_migrated(&migrated);
    let mut tally = Tally::default();
    for row in Reader::open(&list)?.suppress(suppressed.clone()) {
        tally.add(row);
    }
    println!("{}", ui::path(&list));
    println!("  subscribed:   {}", tally.subscribed);
    for (status, n) in &tally.inactive {
        println!("  {status:<13} {n}");
    }
    println!("  duplicates:   {}", tally.duplicates.len());
    println!("  invalid rows: {}", tally.invalid.len());
    for row in tally.invalid.iter().take(20) {
        println!("    line {}: {}", row.line, printable(&row.reason));
    }
    let by_kind = events::counts(log.path())?;
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(event, n)| format!("{n} {event}"))
        .collect();
    println!(
        "{}: {} address{} suppressed{}",
        ui::path(log.path()),
        suppressed.len(),
        if suppressed.len() == 1 { "" } else { "es" },
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        }
    );
    if args.fold {
        let changed = events::fold(&list, &suppressed)?;
        println!(
            "folded: {changed} row{} marked unsubscribed in {}",
            plural(changed),
            ui::path(&list)
        );
    }
    Ok(ExitStatus::Success)
}
