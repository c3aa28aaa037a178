//! Sending: a test to yourself, or a dispatch of the whole list — summary,
//! confirmation, then the engine, with a journal that makes every run
//! resumable. Entry points: [`test_message`], [`dispatch`], [`status`].

mod engine;
mod transport;

use std::fs::File;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use lettre::message::Mailbox;
use sha2::{Digest, Sha256};

pub use engine::{Report, Stop};
pub use transport::Transport;

use crate::commands::Composed;
use crate::journal::{self, Entry, History, Journal, State};
use crate::message::Letterhead;
use crate::subscribers::{Reader, Row, Subscriber, Tally};
use crate::suppress::Suppressed;
use crate::ui;
use crate::unsubscribe::Secret;

/// Exit code: the run ended but not every recipient has the issue.
pub const EXIT_INCOMPLETE: u8 = 3;
/// Exit code: stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The options of `missive send` for a whole list.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The `--config` given, repeated in the command that resumes.
    pub config: Option<PathBuf>,
    /// Overrides `sending.subscribers`.
    pub subscribers: Option<PathBuf>,
    pub dry_run: bool,
    pub yes: bool,
    pub limit: Option<u64>,
    pub retry_failed: bool,
    pub force: bool,
    pub skip_invalid: bool,
}

/// Identifies a render of an issue: a resume must send the same one.
pub fn fingerprint(composed: &Composed) -> String {
    let mut h = Sha256::new();
    h.update(composed.issue.issue.subject.as_str());
    h.update([0]);
    h.update(&composed.rendered.html);
    h.update([0]);
    h.update(&composed.rendered.text);
    hex::encode(h.finalize())
}

fn journal_path(composed: &Composed) -> PathBuf {
    journal::path_for(&composed.project.state_dir(), &composed.issue.stem())
}

fn list_path(composed: &Composed, explicit: Option<&Path>) -> PathBuf {
    composed.project.list_path(explicit)
}

fn letterhead(composed: &Composed) -> Result<Letterhead> {
    let secret = Secret::from_env().map_err(|e| anyhow!(e))?;
    Letterhead::new(
        &composed.project.config,
        &composed.project.root,
        composed.issue.issue.subject.as_str(),
        &composed.rendered,
        secret,
    )
    .with_context(|| format!("{}", composed.project.config_label().display()))
}

/// `missive send ISSUE --test [--to ADDR]`: one message, personalized as for
/// the first subscriber, to the author. No journal. Returns what happened, in
/// a sentence.
pub fn test_message(
    composed: &Composed,
    to: Option<Mailbox>,
    list: Option<&Path>,
) -> Result<String> {
    let to = match to {
        Some(to) => to,
        None => composed
            .project
            .config
            .newsletter
            .test_to
            .as_ref()
            .map(|m| m.0.clone())
            .ok_or_else(|| {
                anyhow!("newsletter.test_to is not set: set it, or pass --to ADDRESS")
            })?,
    };
    let letterhead = letterhead(composed)?;
    let list = list_path(composed, list);
    let reader = crate::subscribers::find(&list, None)
        .unwrap_or_else(|| Subscriber::stand_in(to.email.clone()));
    let message = letterhead.test_message(&reader, &to)?;
    let transport = Transport::from_project(&composed.project)?;
    transport.prepare()?;
    let reply = crate::runtime()?.block_on(async {
        let mut link = transport::Link::new(transport.clone());
        let result = link.deliver(&message).await;
        link.close().await;
        result
    });
    match reply {
        Ok(reply) => Ok(format!(
            "sent a test of \"{}\" to {to} (personalized as {}) via {}: {reply}",
            composed.issue.issue.subject,
            reader.email,
            transport.describe()
        )),
        Err(transport::DeliverError::Fatal(e)) => Err(anyhow!("the test was not sent: {e}")),
        Err(transport::DeliverError::Failed(f)) => {
            Err(anyhow!("the test was not sent: {}", f.reply()))
        }
    }
}

/// The counts shown before a dispatch.
#[derive(Debug)]
struct Plan {
    tally: Tally,
    to_send: u64,
    already_sent: u64,
    failed_before: u64,
    /// Transmitted before with no final reply (perhaps delivered).
    unknown_before: u64,
}

/// Reads the list once, counting what a dispatch would do.
fn plan(
    list: &Path,
    suppressed: &Suppressed,
    history: &History,
    retry_failed: bool,
) -> Result<(Plan, Arc<Vec<String>>)> {
    let mut reader = Reader::open(list)?.suppress(suppressed.clone());
    let columns = reader.columns();
    let mut plan = Plan {
        tally: Tally::default(),
        to_send: 0,
        already_sent: 0,
        failed_before: 0,
        unknown_before: 0,
    };
    for row in &mut reader {
        if let Row::Subscriber(s) = &row {
            if is_due(history, s, retry_failed) {
                plan.to_send += 1;
            } else {
                match history.state(s.email.as_ref()) {
                    Some(State::Sent) => plan.already_sent += 1,
                    Some(State::Unknown) => plan.unknown_before += 1,
                    _ => plan.failed_before += 1,
                }
            }
        }
        plan.tally.add(row);
    }
    plan.tally.find_first_lines(list)?;
    Ok((plan, columns))
}

/// The project's suppressions, whatever list is read; notes on anything
/// migrated from an old suppression file are printed.
fn suppressions(composed: &Composed, list: &Path) -> Result<Suppressed> {
    let (suppressed, _, notes) = composed.project.suppressions(list)?;
    for note in notes {
        eprintln!("note: {}", ui::printable(&note));
    }
    Ok(suppressed)
}

/// Whether a dispatch sends to this subscriber, given the journal.
fn is_due(history: &History, subscriber: &Subscriber, retry_failed: bool) -> bool {
    match history.state(subscriber.email.as_ref()) {
        Some(State::Sent) => false,
        Some(State::Failed | State::Unknown) => retry_failed,
        Some(State::Deferred) | None => true,
    }
}

/// `missive send ISSUE`: the whole list, resumable.
pub fn dispatch(composed: &Composed, options: &Options) -> Result<ExitCode> {
    let errors = composed.warnings.iter().filter(|w| w.is_error()).count();
    if errors > 0 {
        for w in composed.warnings.iter().filter(|w| w.is_error()) {
            eprintln!("error: {}: {w}", composed.issue.path.display());
        }
        bail!(
            "{} has {errors} error{}: fix {} before sending to the list",
            composed.issue.path.display(),
            ui::plural(errors),
            if errors == 1 { "it" } else { "them" }
        );
    }
    let list = list_path(composed, options.subscribers.as_deref());
    let journal_path = journal_path(composed);
    crate::fsutil::create_private_dir(&composed.project.state_dir())?;
    let _lock = lock(&journal_path.with_extension("lock"))?;
    let suppressed = suppressions(composed, &list)?;

    let letterhead = Arc::new(letterhead(composed)?);
    if !letterhead.has_unsubscribe() {
        bail!(
            "{}: no unsubscribe method: set unsubscribe.url or unsubscribe.mailto before sending to a list",
            composed.project.config_label().display()
        );
    }
    let history = Arc::new(journal::read(&journal_path)?);
    let (plan, columns) = plan(&list, &suppressed, &history, options.retry_failed)?;
    let unknown = letterhead.unknown_tags(&columns);
    if !unknown.is_empty() {
        bail!(
            "the issue uses merge tags {} but {} has no such column",
            unknown
                .iter()
                .map(|t| format!("{{{{ {t} }}}}"))
                .collect::<Vec<_>>()
                .join(", "),
            list.display()
        );
    }
    let fingerprint = fingerprint(composed);
    if plan.already_sent > 0
        && history
            .fingerprint
            .as_deref()
            .is_some_and(|f| f != fingerprint)
        && !options.force
    {
        bail!(
            "{} changed since it was sent to {} recipients (the journal {} holds another render): \
             resuming would send the others a different issue; pass --force to do so anyway",
            composed.issue.path.display(),
            plan.already_sent,
            journal_path.display()
        );
    }
    let configured = Transport::from_project(&composed.project)?;
    let limit = options.limit.unwrap_or(u64::MAX);
    let this_run = plan.to_send.min(limit);

    print_summary(
        composed,
        &list,
        &plan,
        &journal_path,
        &configured,
        options,
        this_run,
    );
    if !plan.tally.invalid.is_empty() && !options.skip_invalid {
        bail!(
            "{} has {} invalid row{}; fix {} or pass --skip-invalid to send to the others",
            list.display(),
            plan.tally.invalid.len(),
            if plan.tally.invalid.len() == 1 {
                ""
            } else {
                "s"
            },
            if plan.tally.invalid.len() == 1 {
                "it"
            } else {
                "them"
            }
        );
    }
    if this_run == 0 {
        println!("Nothing to send.");
        return Ok(Outcome::of(&plan, &Report::default()).exit_code(None));
    }
    if options.dry_run {
        // Build every message, talk to no server.
        let report = run_engine(
            composed,
            &list,
            &suppressed,
            Arc::clone(&history),
            options,
            letterhead,
            Transport::DryRun,
            None,
            this_run,
            plan.tally.addresses(),
        )?;
        println!(
            "Dry run: built {} message{} in {:.1} s; nothing was sent.",
            report.sent,
            ui::plural(report.sent),
            report.elapsed.as_secs_f64()
        );
        if report.failed > 0 {
            for u in &report.unbuildable {
                eprintln!(
                    "  line {}: {}: {}",
                    u.line,
                    ui::printable(&u.email),
                    ui::printable(&u.reason)
                );
            }
            bail!(
                "{} message{} could not be built",
                report.failed,
                ui::plural(report.failed)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !options.yes {
        confirm(composed, this_run)?;
    }

    configured.prepare()?;
    let journal = Arc::new(Journal::open(&journal_path)?);
    journal.record(&Entry::Begin {
        fingerprint,
        at: journal::now(),
    })?;
    journal.sync()?;
    let report = run_engine(
        composed,
        &list,
        &suppressed,
        history,
        options,
        letterhead,
        configured,
        Some(Arc::clone(&journal)),
        this_run,
        plan.tally.addresses(),
    )?;

    let outcome = Outcome::of(&plan, &report);
    print_report(composed, options, &report, &outcome);
    Ok(outcome.exit_code(report.stop.as_ref()))
}

/// Where the whole list stands after a run: the plan (from the journal as
/// it was) plus what the run did.
#[derive(Debug)]
struct Outcome {
    sent: u64,
    failed: u64,
    deferred: u64,
    /// Transmitted with no final reply: not retried without `--retry-failed`.
    unknown: u64,
    /// Never attempted: left by `--limit` or by a stop.
    pending: u64,
}

impl Outcome {
    fn of(plan: &Plan, report: &Report) -> Outcome {
        let attempted = report.sent + report.failed + report.deferred + report.unknown;
        Outcome {
            sent: plan.already_sent + report.sent,
            failed: plan.failed_before + report.failed,
            deferred: report.deferred,
            unknown: plan.unknown_before + report.unknown,
            pending: plan.to_send.saturating_sub(attempted),
        }
    }

    fn exit_code(&self, stop: Option<&Stop>) -> ExitCode {
        match stop {
            Some(Stop::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
            Some(Stop::Fatal(_) | Stop::Breaker(_)) => ExitCode::FAILURE,
            None if self.failed == 0
                && self.deferred == 0
                && self.unknown == 0
                && self.pending == 0 =>
            {
                ExitCode::SUCCESS
            }
            None => ExitCode::from(EXIT_INCOMPLETE),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_engine(
    composed: &Composed,
    list: &Path,
    suppressed: &Suppressed,
    history: Arc<History>,
    options: &Options,
    letterhead: Arc<Letterhead>,
    transport: Transport,
    journal: Option<Arc<Journal>>,
    total: u64,
    addresses: u64,
) -> Result<Report> {
    let sending = &composed.project.config.sending;
    let retry_failed = options.retry_failed;
    let recipients = Reader::open(list)?
        .suppress(suppressed.clone())
        .expect(usize::try_from(addresses).unwrap_or(0))
        .filter_map(move |row| match row {
            Row::Subscriber(s) if is_due(&history, &s, retry_failed) => Some(s),
            _ => None,
        })
        .take(usize::try_from(total).unwrap_or(usize::MAX));
    let settings = engine::Settings {
        concurrency: sending.concurrency.get(),
        rate: sending.rate.map(|r| r.0),
        batch_size: sending.batch_size.get(),
        max_attempts: sending.max_attempts.get(),
        total,
    };
    Ok(crate::runtime()?.block_on(engine::run(
        Box::new(recipients),
        letterhead,
        transport,
        journal,
        settings,
    )))
}

fn print_summary(
    composed: &Composed,
    list: &Path,
    plan: &Plan,
    journal_path: &Path,
    transport: &Transport,
    options: &Options,
    this_run: u64,
) {
    let t = &plan.tally;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "Issue:       {} ({})",
        composed.issue.issue.subject,
        composed.issue.path.display()
    );
    let _ = writeln!(
        out,
        "Subscribers: {}",
        ui::printable(&list.display().to_string())
    );
    let _ = writeln!(out, "  to send now:        {this_run}");
    if plan.to_send > this_run {
        let _ = writeln!(
            out,
            "  left for later:     {} (--limit)",
            plan.to_send - this_run
        );
    }
    let _ = writeln!(
        out,
        "  already sent:       {} (journal {})",
        plan.already_sent,
        journal_path.display()
    );
    if plan.failed_before > 0 {
        let _ = writeln!(
            out,
            "  failed before:      {} (not retried without --retry-failed)",
            plan.failed_before
        );
    }
    if plan.unknown_before > 0 {
        let _ = writeln!(
            out,
            "  no final reply:     {} (perhaps delivered; not retried without --retry-failed)",
            plan.unknown_before
        );
    }
    let skipped: Vec<String> = t.inactive.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let skipped_total: u64 = t.inactive.values().sum();
    let _ = writeln!(
        out,
        "  skipped by status:  {skipped_total}{}",
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({})", skipped.join(", "))
        }
    );
    let _ = writeln!(out, "  duplicates:         {}", t.duplicates.len());
    for (line, first, email) in t.duplicates.iter().take(10) {
        let _ = writeln!(
            out,
            "    line {line}: {} is already on line {first}",
            ui::printable(email)
        );
    }
    let _ = writeln!(out, "  invalid rows:       {}", t.invalid.len());
    for (line, reason) in t.invalid.iter().take(20) {
        let _ = writeln!(out, "    line {line}: {}", ui::printable(reason));
    }
    if t.invalid.len() > 20 {
        let _ = writeln!(out, "    … and {} more", t.invalid.len() - 20);
    }
    let sending = &composed.project.config.sending;
    let rate = sending
        .rate
        .map_or_else(|| "no rate limit".into(), |r| format!("at most {}/s", r.0));
    let _ = writeln!(
        out,
        "Transport:   {}{}; {} connection{}, {rate}",
        transport.describe(),
        if options.dry_run {
            " — dry run, nothing will be sent"
        } else {
            ""
        },
        sending.concurrency,
        if sending.concurrency.get() == 1 {
            ""
        } else {
            "s"
        },
    );
}

fn confirm(composed: &Composed, n: u64) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to send without confirmation: there is no terminal to ask on; pass --yes");
    }
    print!(
        "Send \"{}\" to {n} recipient{}? [y/N] ",
        composed.issue.issue.subject,
        if n == 1 { "" } else { "s" }
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("not sent: the answer was not yes")
    }
}

/// The command that resumes this send: the same issue, config and list.
fn resume_command(composed: &Composed, options: &Options, verb: &str) -> String {
    let mut words = vec!["missive".to_string()];
    if let Some(config) = &options.config {
        words.push("--config".into());
        words.push(shell_quote(&config.display().to_string()));
    }
    words.push(verb.into());
    words.push(shell_quote(&composed.issue.path.display().to_string()));
    if let Some(list) = &options.subscribers {
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

fn print_report(composed: &Composed, options: &Options, report: &Report, outcome: &Outcome) {
    println!(
        "This run: sent {}, failed {}, deferred {}{} in {:.1} s ({:.0} messages/s, {} attempts).",
        report.sent,
        report.failed,
        report.deferred,
        if report.unknown > 0 {
            format!(", {} with no final reply", report.unknown)
        } else {
            String::new()
        },
        report.elapsed.as_secs_f64(),
        report.sent as f64 / report.elapsed.as_secs_f64().max(0.001),
        report.attempts
    );
    println!(
        "In all: {} sent, {} failed, {} to retry, {} not yet attempted{}.",
        outcome.sent,
        outcome.failed,
        outcome.deferred,
        outcome.pending,
        if outcome.unknown > 0 {
            format!(
                ", {} with no final reply (perhaps delivered)",
                outcome.unknown
            )
        } else {
            String::new()
        },
    );
    let resume = ui::printable(&resume_command(composed, options, "send")).into_owned();
    let status = ui::printable(&resume_command(composed, options, "status")).into_owned();
    match &report.stop {
        Some(Stop::Interrupted) => {
            eprintln!("Interrupted. The journal is safe; resume with `{resume}`.")
        }
        Some(Stop::Fatal(why)) => eprintln!(
            "error: stopped: {}\nFix it, then resume with `{resume}`.",
            ui::printable(why)
        ),
        Some(Stop::Breaker(why)) => eprintln!(
            "error: stopped early because the server is refusing nearly everything: {}\n\
             Fix the cause, then resume with `{resume}` (add --retry-failed to retry the refused).",
            ui::printable(why)
        ),
        None if outcome.failed > 0 || outcome.deferred > 0 || outcome.unknown > 0 => eprintln!(
            "Not everyone got the issue: `{status}` lists why; `{resume}` retries the deferred, \
             `{resume} --retry-failed` the refused and those with no final reply too."
        ),
        None => {}
    }
}

/// `missive status ISSUE`: what the journal says, against the list.
pub fn status(composed: &Composed, subscribers: Option<&Path>) -> Result<ExitCode> {
    let list = list_path(composed, subscribers);
    let journal_path = journal_path(composed);
    let history = journal::read(&journal_path)?;
    let suppressed = suppressions(composed, &list)?;
    let (plan, _) = plan(&list, &suppressed, &history, false)?;
    println!(
        "{} ({})",
        composed.issue.issue.subject,
        composed.issue.path.display()
    );
    println!("journal: {}", journal_path.display());
    println!("sent:    {}", history.count(State::Sent));
    println!("failed:  {}", history.count(State::Failed));
    let unknown = history.count(State::Unknown);
    if unknown > 0 {
        println!(
            "unknown: {unknown} (no final reply: perhaps delivered; not retried without --retry-failed)"
        );
    }
    println!("pending: {} (never attempted or to retry)", plan.to_send);
    let problems = history.problems();
    if !problems.is_empty() {
        println!("not sent:");
        for (email, state, reply) in problems {
            println!(
                "  {} ({}): {}",
                ui::printable(&email),
                state.as_str(),
                ui::printable(&reply)
            );
        }
    }
    Ok(
        if plan.to_send == 0 && plan.failed_before == 0 && plan.unknown_before == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_INCOMPLETE)
        },
    )
}

/// Holds an exclusive lock on `path` for as long as the file is open, so two
/// dispatches of one issue never run at once. The OS releases it if the
/// process dies.
fn lock(path: &Path) -> Result<File> {
    let mut options = File::options();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(crate::fsutil::PRIVATE_FILE);
    }
    let file = options
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `missive send` of this issue is running (it holds {})",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
