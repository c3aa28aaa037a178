//! `missive check`: errors and warnings, nothing written.

use std::path::Path;

use anyhow::{Result, bail};

use super::ExitStatus;
use crate::cli::{CheckArgs, Deny};
use crate::compose::check::Level;
use crate::compose::{check, compose, links};
use crate::ui::{self, kilobytes, plural};
use crate::ui::{out, outln};

pub(super) async fn run(config: Option<&Path>, args: &CheckArgs) -> Result<ExitStatus> {
    let project = crate::project::Project::open(config)?;
    let issue = match &args.issue {
        Some(issue) => issue.clone(),
        None => crate::curate::newest_issue(&project)?,
    };
    let composed = compose(&project, &issue)?;
    let r = &composed.rendered;
    let mut warnings = composed.warnings.clone();
    warnings.extend(links::sent_before(&composed.project, &composed.issue));
    let (errors, n, notes) = (
        check::count(&warnings, Level::Error),
        check::count(&warnings, Level::Warning),
        check::count(&warnings, Level::Note),
    );
    let deny_notes = args.deny.contains(&Deny::Notes);
    if args.json {
        out!(
            "{}",
            ui::json(&ui::check::CheckJson::new(&composed.issue.path, &warnings))?
        );
        let failed = errors > 0 || (args.strict && n > 0) || (deny_notes && notes > 0);
        return Ok(if failed {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        });
    }
    eprint!(
        "{}",
        ui::check::Findings {
            issue: &composed.issue.path,
            warnings: &warnings,
            each: args.verbose,
        }
    );
    let tags = check::subject_tags(&composed.issue.issue);
    if !tags.is_empty() {
        outln!(
            "subject: personalized for each reader ({})",
            tags.iter()
                .map(|t| format!("{{{{ {t} }}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    outln!(
        "{}: {} items in {} sections; HTML {} ({} as sent{}), text {}; {}{n} warning{}{}",
        ui::path(&composed.issue.path),
        composed.issue.issue.item_count(),
        composed.issue.issue.sections.len(),
        kilobytes(r.html.len()),
        kilobytes(r.sent_bytes),
        if r.click_bytes > 0 {
            format!(", {} of it click links", kilobytes(r.click_bytes))
        } else {
            String::new()
        },
        kilobytes(r.text.len()),
        if errors > 0 {
            format!("{errors} error{}, ", plural(errors))
        } else {
            String::new()
        },
        plural(n),
        if notes > 0 {
            format!(", {notes} note{}", plural(notes))
        } else {
            String::new()
        },
    );
    let mut dead = 0;
    if args.links {
        let checked = crate::curate::check_links(&composed, args.fresh).await?;
        dead = checked.iter().filter(|c| c.verdict.is_dead()).count();
        out!("{}", ui::check::LinkCheck(&checked));
    }
    if errors > 0 {
        bail!(
            "{errors} error{}: the issue cannot be sent as it is",
            plural(errors)
        );
    }
    if args.strict && n > 0 {
        bail!("{n} warning{} and --strict was given", plural(n));
    }
    if deny_notes && notes > 0 {
        bail!("{notes} note{} and --deny notes was given", plural(notes));
    }
    if args.strict && dead > 0 {
        bail!("{dead} dead link{} and --strict was given", plural(dead));
    }
    Ok(ExitStatus::Success)
}
