//! `missive subscribers`: the list's counts, unsubscribes included, and
//! `--fold` to write the log into the list; `add` and `remove` for the
//! author, written to the same log as everything else.

use std::path::Path;

use std::str::FromStr;

use anyhow::{Result, anyhow, bail};

use super::ExitStatus;
use crate::cli::{SubscribersArgs, SubscribersChange};
use crate::list::events::{self, Event};
use crate::list::reader::{Reader, Tally};
use crate::project::Project;
use crate::ui::{self, plural, printable};
use crate::ui::{out, outln};

pub(super) async fn run(config: Option<&Path>, args: &SubscribersArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    if let Some(change) = &args.change {
        return change_list(&project, args, change).await;
    }
    let list = project.list_path(args.subscribers.as_deref());
    let (suppressed, log, migrated) = events::open_project(&project, &list)?;
    eprint!("{}", ui::MigratedNotes(&migrated));
    let mut tally = Tally::default();
    for row in Reader::open(&list)?.suppress(suppressed.clone()) {
        tally.add(row);
    }
    let latest = events::latest_counts(log.path())?;
    let summary = ui::list::ListSummary {
        list: &list,
        tally: &tally,
        log: log.path(),
        suppressed: suppressed.len(),
        suppressed_by_event: events::counts(log.path())?,
        confirmed: latest.get(&Event::Confirmed).copied().unwrap_or(0),
        pending: latest.get(&Event::Pending).copied().unwrap_or(0),
    };
    if args.json {
        out!("{}", ui::json(&ui::list::ListJson::from(&summary))?);
        return Ok(ExitStatus::Success);
    }
    out!("{summary}");
    if args.fold {
        let changed = events::fold(&list, &suppressed)?;
        outln!(
            "folded: {changed} row{} changed or added in {}",
            plural(changed),
            ui::path(&list)
        );
    }
    Ok(ExitStatus::Success)
}

/// `subscribers add` and `subscribers remove`.
async fn change_list(
    project: &Project,
    args: &SubscribersArgs,
    change: &SubscribersChange,
) -> Result<ExitStatus> {
    let list = project.list_path(args.subscribers.as_deref());
    let email = match change {
        SubscribersChange::Add { email, .. } | SubscribersChange::Remove { email } => email,
    };
    let address = lettre::Address::from_str(email.trim())
        .map_err(|e| anyhow!("`{}` is not an email address: {e}", printable(email)))?;
    let key = crate::list::address::normalize(address.as_ref());
    match change {
        SubscribersChange::Add {
            name, confirmed, ..
        } => {
            let name = name.as_deref().unwrap_or("").trim().to_string();
            if name.chars().any(char::is_control) {
                bail!("the name contains a line break or a control character");
            }
            if *confirmed {
                let (_, mut log, _) = events::open_project(project, &list)?;
                let joined = events::Joined {
                    email: key.clone(),
                    name,
                    fields: Vec::new(),
                };
                let detail = events::joined_detail(&joined, &[]);
                log.append_about(&key, Event::Confirmed, "author", &detail, "")?;
                outln!(
                    "added {} (confirmed) in {}",
                    printable(&key),
                    ui::path(log.path())
                );
            } else {
                let reply = crate::send::invite::invite(project, &address, &name).await?;
                outln!(
                    "{} is pending: a confirmation link was sent ({})",
                    printable(&key),
                    printable(&reply)
                );
            }
        }
        SubscribersChange::Remove { .. } => {
            let (_, mut log, _) = events::open_project(project, &list)?;
            log.append(&key, Event::Unsubscribed, "author")?;
            outln!("removed {} in {}", printable(&key), ui::path(log.path()));
        }
    }
    Ok(ExitStatus::Success)
}
