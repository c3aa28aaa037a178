//! `missive send`: a test to yourself, or the plan, a confirmation and the
//! dispatch.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};

use super::ExitStatus;
use crate::cli::SendArgs;
use crate::compose::{Composed, compose};
use crate::send::{self, Options, Stop};
use crate::ui::{self, plural};
use crate::ui::{out, outln};

/// Whether a dispatch asks before it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    /// On the terminal; refused without one.
    Ask,
    /// `--yes`, or a dry run, which sends nothing.
    Given,
}

pub(super) async fn run(config: Option<&Path>, args: &SendArgs) -> Result<ExitStatus> {
    let composed = compose(&crate::project::Project::open(config)?, &args.issue)?;
    if args.test {
        let to = args
            .to
            .as_deref()
            .map(|t| crate::project::values::parse_mailbox(t).map_err(|e| anyhow!("--to: {e}")))
            .transpose()?;
        let sent = send::test_message(&composed, to, args.subscribers.as_deref()).await?;
        outln!("{}", ui::send::test_sent(&sent));
        return Ok(ExitStatus::Success);
    }
    let errors: Vec<_> = composed.warnings.iter().filter(|w| w.is_error()).collect();
    if !errors.is_empty() {
        eprint!(
            "{}",
            ui::check::Findings {
                issue: &composed.issue.path,
                warnings: &errors.into_iter().cloned().collect::<Vec<_>>(),
                each: false,
            }
        );
    }
    let mut options = Options {
        list: args.subscribers.clone(),
        dry_run: args.dry_run,
        limit: args.limit,
        retry_failed: args.retry_failed,
        force: args.force,
    };
    let mut plan = send::plan(&composed, &options)?;
    eprint!("{}", ui::MigratedNotes(&plan.migrated));
    if args.json {
        let reporter = Arc::new(ui::TerminalProgress::new(plan.this_run));
        let outcome = send::execute(&composed, &plan, reporter, ctrl_c()).await?;
        out!(
            "{}",
            ui::json(&ui::send::DryRunJson::new(&composed, &plan, &outcome))?
        );
        return Ok(ExitStatus::Success);
    }
    out!(
        "{}",
        ui::send::PlanScreen {
            composed: &composed,
            plan: &plan
        }
    );
    let invalid = plan.tally.invalid.len();
    if invalid > 0 && !args.skip_invalid {
        bail!(
            "{} has {invalid} invalid row{}; fix {} or pass --skip-invalid to send to the others",
            ui::path(&plan.list),
            plural(invalid),
            if invalid == 1 { "it" } else { "them" }
        );
    }
    if plan.this_run == 0 {
        outln!("Nothing to send.");
        return Ok(nothing_left(&plan));
    }
    let confirm = if args.yes || args.dry_run {
        Confirm::Given
    } else {
        Confirm::Ask
    };
    if confirm == Confirm::Ask {
        ui::confirm(&composed, plan.this_run)?;
    }
    loop {
        let reporter = Arc::new(ui::TerminalProgress::new(plan.this_run));
        let outcome = send::execute(&composed, &plan, reporter, ctrl_c()).await?;
        if args.dry_run {
            out!("{}", ui::send::DryRun(&outcome));
            eprint!("{}", ui::send::Unbuildable(&outcome));
            if outcome.report.failed > 0 {
                bail!(
                    "{} message{} could not be built",
                    outcome.report.failed,
                    plural(outcome.report.failed)
                );
            }
            return Ok(ExitStatus::Success);
        }
        if args.wait && outcome.report.stop == Some(Stop::Quota) {
            out!("{}", ui::send::QuotaWait(&outcome));
            if !wait_for(outcome.quota.as_ref()).await {
                return Ok(ExitStatus::Interrupted);
            }
            if let Some(limit) = &mut options.limit {
                *limit = limit.saturating_sub(outcome.report.sent);
            }
            plan = send::replan(&composed, &options, plan)?;
            out!("{}", ui::send::GoingOn(&plan));
            if plan.this_run == 0 {
                return Ok(nothing_left(&plan));
            }
            continue;
        }
        out!("{}", ui::send::Done(&outcome));
        eprint!(
            "{}",
            ui::send::GoOn {
                outcome: &outcome,
                resume: &again(config, &composed, args, "send"),
                status: &again(config, &composed, args, "status"),
            }
        );
        return Ok(match &outcome.report.stop {
            Some(Stop::Interrupted) => ExitStatus::Interrupted,
            Some(Stop::Records(_) | Stop::Relay(_) | Stop::NoRelayLeft(_)) => ExitStatus::Failure,
            None if outcome.complete() => ExitStatus::Success,
            Some(Stop::Quota) | None => ExitStatus::Incomplete,
        });
    }
}

/// How a send with nothing (left) to send ends: done, unless some were
/// refused or never answered before.
fn nothing_left(plan: &send::Plan) -> ExitStatus {
    if plan.failed_before == 0 && plan.unknown_before == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Incomplete
    }
}

/// Sleeps until the quota frees (a minute when it is not known when);
/// `false` when Ctrl-C came first.
async fn wait_for(frees: Option<&send::QuotaFrees>) -> bool {
    let wait = frees.map_or(std::time::Duration::from_mins(1), |f| {
        let left = f.at - time::OffsetDateTime::now_utc();
        std::time::Duration::try_from(left).unwrap_or_default() + std::time::Duration::from_secs(1)
    });
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = ctrl_c() => false,
    }
}

/// Resolves on Ctrl-C; never, if the signal cannot be listened for.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The command that runs `verb` on this send again: the same issue, config
/// and list.
fn again(config: Option<&Path>, composed: &Composed, args: &SendArgs, verb: &str) -> String {
    let mut words = vec!["missive".to_string()];
    if let Some(config) = config {
        words.push("--config".into());
        words.push(shell_quote(&config.display().to_string()));
    }
    words.push(verb.into());
    words.push(shell_quote(&composed.issue.path.display().to_string()));
    if let Some(list) = &args.subscribers {
        words.push("--subscribers".into());
        words.push(shell_quote(&list.display().to_string()));
    }
    words.join(" ")
}

/// A word a POSIX shell reads back as `word`.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("issues/a-b.toml"), "issues/a-b.toml");
        assert_eq!(shell_quote("lists/this week.csv"), "'lists/this week.csv'");
        assert_eq!(shell_quote("o'brien"), "'o'\\''brien'");
        assert_eq!(shell_quote(""), "''");
    }
}
