//! `missive subscribers`: the list's counts, unsubscribes included, and
//! `--fold` to write the log into the list; `add` and `remove` for the
//! author, written to the same log as everything else; `import`, `export`
//! and `reconfirm` for moving in from a hosted platform and out again.

use std::path::Path;

use std::str::FromStr;

use anyhow::{Result, anyhow, bail};

use super::ExitStatus;
use crate::cli::{ExportTo, ImportFrom, SubscribersArgs, SubscribersChange};
use crate::list::events::{self, Event};
use crate::list::migrate::export::{self, Shape};
use crate::list::migrate::{Platform, import};
use crate::list::reader::{Reader, Tally};
use crate::project::Project;
use crate::ui::{self, plural, printable};
use crate::ui::{out, outln};

pub(super) async fn run(config: Option<&Path>, args: &SubscribersArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let list = project.list_path(args.subscribers.as_deref());
    let log = events::path_in(&project.state_dir());
    match &args.change {
        None => counts(&project, &list, args),
        Some(SubscribersChange::Add {
            email,
            name,
            confirmed,
        }) => add(&project, &list, email, name.as_deref(), *confirmed).await,
        Some(SubscribersChange::Remove { email }) => {
            let key = address(email)?.1;
            let (_, mut log, _) = events::open_project(&project, &list)?;
            log.append(&key, Event::Unsubscribed, "author")?;
            outln!("removed {} in {}", printable(&key), ui::path(log.path()));
            Ok(ExitStatus::Success)
        }
        Some(SubscribersChange::Import {
            from,
            files,
            dry_run,
            json,
        }) => {
            let report = import::import(&log, &list, files, platform(*from), *dry_run)?;
            if *json {
                outln!("{}", ui::json(&report)?);
            } else {
                out!("{}", ui::migrate::ImportScreen(&report));
            }
            Ok(ExitStatus::Success)
        }
        Some(SubscribersChange::Export {
            to,
            file,
            all,
            json,
        }) => {
            let shape = match to {
                ExportTo::Csv => Shape::Csv,
                ExportTo::Ghost => Shape::Ghost,
                ExportTo::Listmonk => Shape::Listmonk,
                ExportTo::Mailchimp => Shape::Mailchimp,
            };
            let written = export::export(&log, &list, shape, file, *all)?;
            if *json {
                outln!("{}", ui::json(&written)?);
            } else {
                out!("{}", ui::migrate::ExportScreen(&written));
            }
            Ok(ExitStatus::Success)
        }
        Some(SubscribersChange::Reconfirm { dry_run }) => {
            reconfirm(&project, &list, &log, *dry_run).await
        }
    }
}

/// `missive subscribers` alone: the counts, and `--fold`.
fn counts(project: &Project, list: &Path, args: &SubscribersArgs) -> Result<ExitStatus> {
    let (suppressed, log, migrated) = events::open_project(project, list)?;
    eprint!("{}", ui::MigratedNotes(&migrated));
    let mut tally = Tally::default();
    for row in Reader::open(list)?.suppress(suppressed.clone()) {
        tally.add(row);
    }
    let latest = events::latest_counts(log.path())?;
    let summary = ui::list::ListSummary {
        list,
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
        let changed = events::fold(list, &suppressed)?;
        outln!(
            "folded: {changed} row{} changed or added in {}",
            plural(changed),
            ui::path(list)
        );
    }
    Ok(ExitStatus::Success)
}

/// An address the author typed, and its normalized form.
fn address(email: &str) -> Result<(lettre::Address, String)> {
    let address = lettre::Address::from_str(email.trim())
        .map_err(|e| anyhow!("`{}` is not an email address: {e}", printable(email)))?;
    let key = crate::list::address::normalize(address.as_ref());
    Ok((address, key))
}

/// `subscribers add`: at once with `--confirmed`, otherwise a confirmation
/// link mailed now.
async fn add(
    project: &Project,
    list: &Path,
    email: &str,
    name: Option<&str>,
    confirmed: bool,
) -> Result<ExitStatus> {
    let (address, key) = address(email)?;
    let name = name.unwrap_or("").trim().to_string();
    if name.chars().any(char::is_control) {
        bail!("the name contains a line break or a control character");
    }
    if confirmed {
        let (_, mut log, _) = events::open_project(project, list)?;
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
    Ok(ExitStatus::Success)
}

/// The platform `--from` names (`auto`: none, the header row says).
fn platform(from: ImportFrom) -> Option<Platform> {
    Some(match from {
        ImportFrom::Auto => return None,
        ImportFrom::Substack => Platform::Substack,
        ImportFrom::Mailchimp => Platform::Mailchimp,
        ImportFrom::Beehiiv => Platform::Beehiiv,
        ImportFrom::Ghost => Platform::Ghost,
        ImportFrom::Listmonk => Platform::Listmonk,
        ImportFrom::Buttondown => Platform::Buttondown,
        ImportFrom::Kit => Platform::Kit,
        ImportFrom::Csv => Platform::Csv,
    })
}

/// `subscribers reconfirm`: a confirmation link to each reader an import
/// left pending, one after another, as the relay's daily limit allows. A
/// reader the relay refused is reported and asked again by the next run;
/// five refusals in a row (the relay, not the readers) stop it.
async fn reconfirm(
    project: &Project,
    list: &Path,
    log: &Path,
    dry_run: bool,
) -> Result<ExitStatus> {
    use crate::send::invite::{Invited, Inviter};
    /// Refusals in a row that say the relay is in trouble.
    const STOP_AFTER: usize = 5;
    let waiting = import::awaiting(log, list)?;
    if dry_run || waiting.is_empty() {
        for reader in &waiting {
            outln!("would mail {}", printable(&reader.email));
        }
        outln!(
            "{} reader{} waiting for a confirmation link{}",
            waiting.len(),
            plural(waiting.len()),
            if dry_run {
                " (dry run: nobody mailed)"
            } else {
                ""
            }
        );
        return Ok(ExitStatus::Success);
    }
    let mut inviter = Inviter::new(project)?;
    let (mut mailed, mut refused, mut in_a_row) = (0, 0, 0);
    for reader in &waiting {
        let (to, _) = address(&reader.email)?;
        match inviter.invite(&to, &reader.name, "reconfirm").await {
            Ok(Invited::Sent(_)) => {
                mailed += 1;
                in_a_row = 0;
                outln!("mailed {}", printable(&reader.email));
            }
            Ok(Invited::OverLimit { relay, limit }) => {
                outln!(
                    "the relay {} has sent its daily limit of {limit} messages: run `missive subscribers reconfirm` again later, it mails only the readers not mailed yet",
                    printable(&relay)
                );
                break;
            }
            Err(e) => {
                refused += 1;
                in_a_row += 1;
                outln!(
                    "not mailed {}: {}",
                    printable(&reader.email),
                    printable(&format!("{e:#}"))
                );
                if in_a_row == STOP_AFTER {
                    outln!("stopped: {STOP_AFTER} refusals in a row");
                    break;
                }
            }
        }
    }
    outln!(
        "{mailed} of {} confirmation link{} sent{}: each reader is on the list once they follow theirs",
        waiting.len(),
        plural(waiting.len()),
        if refused > 0 {
            format!(", {refused} refused")
        } else {
            String::new()
        }
    );
    Ok(if mailed == waiting.len() {
        ExitStatus::Success
    } else {
        ExitStatus::Incomplete
    })
}
