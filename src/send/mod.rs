//! Sending: a test to yourself, or a dispatch of the whole list as
//! [`plan`] (who gets it, who is skipped and why, the guards) then
//! [`execute`] (the engine, with a journal that makes every run resumable),
//! and [`status`] (what the journal says). Nothing here prints: the command
//! shows the plan, asks, and reports the outcome.

pub(crate) mod clicks;
pub(crate) mod engine;
pub(crate) mod invite;
pub(crate) mod journal;
pub(crate) mod mailer;
pub(crate) mod message;
pub(crate) mod quota;
pub(crate) mod spool;
pub(crate) mod transport;

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use lettre::message::Mailbox;
use sha2::{Digest, Sha256};

pub(crate) use engine::{Progress, RelayProgress, Report, Reporter, Stop};
pub(crate) use transport::{Relays, Transport};

use crate::compose::Composed;
use crate::compose::clicks::LinkTable;
use crate::list::events::{Log, Migrated, Suppressed};
use crate::list::reader::{Reader, Row, Subscriber, Tally};
use crate::list::token::{SECRET_ENV, Secret};
use journal::{Entry, History, Journal, State};
use message::{Letterhead, Transfer};

/// Identifies a render of an issue: a resume must send the same one.
pub(crate) fn fingerprint(composed: &Composed) -> String {
    let mut h = Sha256::new();
    h.update(composed.issue.issue.subject.as_str());
    h.update([0]);
    h.update(&composed.rendered.html);
    h.update([0]);
    h.update(&composed.rendered.text);
    data_encoding::HEXLOWER.encode(&h.finalize())
}

fn journal_path(composed: &Composed) -> PathBuf {
    journal::path_for(&composed.project.state_dir(), &composed.issue.stem())
}

fn letterhead(composed: &Composed) -> Result<Letterhead> {
    let secret = Secret::for_project(&composed.project)?;
    let config = &composed.project.config;
    let clicks = match (config.clicks_url(), &config.clicks) {
        (_, None) => None,
        (None, Some(_)) => bail!(
            "{}: [clicks] needs to know where `missive serve` answers: set clicks.url \
             (or unsubscribe.url)",
            composed.project.config_label().display()
        ),
        (Some(base), Some(_)) => {
            let secret = secret
                .clone()
                .ok_or_else(|| anyhow!("[clicks] signs its links, but {SECRET_ENV} is not set"))?;
            let table = LinkTable::of(&composed.issue.issue, &composed.rendered.facts);
            Some(clicks::ClickLinks::new(
                base,
                &composed.issue.stem(),
                secret,
                table,
            ))
        }
    };
    let letterhead = Letterhead::new(
        config,
        &composed.project.root,
        &composed.issue.stem(),
        composed.issue.issue.subject.as_str(),
        &composed.rendered,
        secret,
    )
    .with_context(|| format!("{}", composed.project.config_label().display()))?;
    Ok(match clicks {
        Some(clicks) => letterhead.with_clicks(&composed.rendered, clicks),
        None => letterhead,
    })
}

/// A test message that went out.
#[derive(Debug, Clone)]
pub(crate) struct TestSent {
    pub subject: String,
    pub to: Mailbox,
    /// Whose copy it is.
    pub personalized_as: String,
    pub via: String,
    pub reply: String,
}

impl std::fmt::Display for TestSent {
    /// `sent a test of "…" to … (personalized as …) via …: <reply>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent a test of \"{}\" to {} (personalized as {}) via {}: {}",
            self.subject, self.to, self.personalized_as, self.via, self.reply
        )
    }
}

/// `missive send ISSUE --test [--to ADDR]`: one message, personalized as for
/// the first subscriber, to the author. No journal.
pub(crate) async fn test_message(
    composed: &Composed,
    to: Option<Mailbox>,
    list: Option<&Path>,
) -> Result<TestSent> {
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
    let list = composed.project.list_path(list);
    let reader = crate::list::reader::find(&list, None)
        .unwrap_or_else(|| Subscriber::stand_in(to.email.clone()));
    let message = letterhead.test_message(&reader, &to)?;
    let transport = Transport::from_project(&composed.project)?;
    transport.prepare()?;
    let reply = transport
        .deliver_one(&message)
        .await
        .map_err(|e| anyhow!("the test was not sent: {e}"))?;
    Ok(TestSent {
        subject: composed.issue.issue.subject.to_string(),
        to,
        personalized_as: reader.email.to_string(),
        via: transport.describe(),
        reply,
    })
}

/// The message `send` would send first: for the list's first reader (a
/// stand-in at the From address on an empty list), its bodies in the form a
/// relay that carries `transfer` takes, made and signed as a dispatch makes
/// it. Its bytes as they go on the wire, and whose copy it is.
pub(crate) fn sample_message(
    composed: &Composed,
    list: Option<&Path>,
    transfer: Transfer,
) -> Result<(bytes::Bytes, String)> {
    let letterhead = letterhead(composed)?;
    let list = composed.project.list_path(list);
    let reader = if let Some(reader) = crate::list::reader::find(&list, None) {
        reader
    } else {
        let from = composed
            .project
            .config
            .newsletter
            .from
            .as_ref()
            .ok_or_else(|| anyhow!("newsletter.from is not set"))?;
        Subscriber::stand_in(from.0.email.clone())
    };
    let message = letterhead.message(&reader, transfer)?;
    Ok((
        transport::Formatted::new(&message).bytes,
        reader.email.to_string(),
    ))
}

/// How a dispatch was asked to run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Overrides `sending.subscribers`.
    pub list: Option<PathBuf>,
    /// Build and check every message; send nothing.
    pub dry_run: bool,
    /// Send to at most this many recipients in this run.
    pub limit: Option<u64>,
    /// Also send to those refused before, or whose final reply never came.
    pub retry_failed: bool,
    /// Resume even though the issue changed since sending began.
    pub force: bool,
}

/// What a dispatch would do, worked out before anything is sent. Holds the
/// lock that keeps a second send of the issue from running meanwhile.
pub(crate) struct Plan {
    /// The subscriber list read.
    pub list: PathBuf,
    /// The list file as it was when it was read.
    list_stamp: Option<Stamp>,
    /// The issue's journal.
    pub journal: PathBuf,
    /// The whole list, counted.
    pub tally: Tally,
    /// Recipients due: never sent, or to retry.
    pub due: u64,
    /// Those of them this run sends to (`--limit`).
    pub this_run: u64,
    pub already_sent: u64,
    /// Refused before (not retried without `--retry-failed`).
    pub failed_before: u64,
    /// Transmitted before with no final reply (likewise).
    pub unknown_before: u64,
    /// Where the messages go (the configured relays, even for a dry run).
    pub relays: Relays,
    /// What each relay's daily limit leaves, in the config's order.
    pub quotas: Vec<RelayQuota>,
    pub dry_run: bool,
    /// Suppression files of earlier versions migrated into the project's log.
    pub migrated: Vec<Migrated>,
    suppressed: Suppressed,
    /// The project's list-event log, where hard bounces are recorded.
    events: Arc<std::sync::Mutex<Log>>,
    history: Arc<History>,
    letterhead: Arc<Letterhead>,
    fingerprint: String,
    retry_failed: bool,
    /// Held while the plan lives: no second send of the issue meanwhile.
    lock: File,
    /// With a relay's `daily_limit`: held while the plan lives, so that no
    /// other send counts the same quota meanwhile.
    quota_lock: Option<File>,
}

impl Plan {
    /// Recipients skipped because of their status, suppressions included.
    pub(crate) fn skipped(&self) -> u64 {
        self.tally.inactive.values().sum()
    }

    /// How many of this run's recipients the relays' daily limits let go
    /// now (all of them when a relay has no limit).
    pub(crate) fn can_go_now(&self) -> u64 {
        let room = self
            .quotas
            .iter()
            .try_fold(0u64, |sum, q| Some(sum.saturating_add(q.left?)));
        room.map_or(self.this_run, |room| room.min(self.this_run))
    }

    /// When a relay with a limit can take more, and which: the earliest of
    /// them (`None` when no relay has a limit).
    pub(crate) fn quota_frees(&self) -> Option<QuotaFrees> {
        earliest_free(&self.quotas)
    }
}

/// The earliest time a relay with a limit can take more, and which.
fn earliest_free(quotas: &[RelayQuota]) -> Option<QuotaFrees> {
    quotas
        .iter()
        .filter_map(|q| {
            Some(QuotaFrees {
                at: q.frees_at?,
                relay: q.name.clone(),
            })
        })
        .min_by_key(|f| f.at)
}

/// A relay's daily limit against what it sent in the last 24 hours.
#[derive(Debug, Clone)]
pub(crate) struct RelayQuota {
    pub name: String,
    pub daily_limit: Option<u64>,
    /// Messages it may take now (`None`: no limit).
    pub left: Option<u64>,
    /// When it can take a batch more (now, if it can), if it is limited.
    pub frees_at: Option<time::OffsetDateTime>,
}

/// When the relays' quotas let a send go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuotaFrees {
    pub at: time::OffsetDateTime,
    /// The relay that frees first.
    pub relay: String,
}

/// Each relay's daily limit against its use in the last 24 hours (read
/// from the journals; the snapshot in `.missive/` brought up to date).
/// `want` is how many recipients are left: a relay "frees" when it can
/// take that many, or a batch.
fn quotas(state_dir: &Path, relays: &Relays, want: u64) -> Result<Vec<RelayQuota>> {
    // Without a limit, nothing needs counting (the journals still hold it all).
    let limited = relays.all().iter().any(|r| r.daily_limit.is_some());
    let usage = if limited {
        let usage = quota::Usage::load(state_dir)?;
        usage.save(state_dir)?;
        usage
    } else {
        quota::Usage::default()
    };
    Ok(relays
        .all()
        .iter()
        .map(|r| {
            let used = usage.used(&r.name);
            let left = r.daily_limit.map(|limit| limit.saturating_sub(used));
            RelayQuota {
                name: r.name.clone(),
                daily_limit: r.daily_limit,
                left,
                frees_at: r
                    .daily_limit
                    .map(|limit| usage.frees_at(&r.name, limit, want.max(1))),
            }
        })
        .collect())
}

/// Reads the list once and works out what a dispatch would do; refuses
/// what must not be sent (errors in the issue, no unsubscribe method, merge
/// tags the list cannot fill, a changed issue being resumed).
pub(crate) fn plan(composed: &Composed, options: &Options) -> Result<Plan> {
    let journal_path = journal_path(composed);
    crate::fsutil::create_private_dir(&composed.project.state_dir())?;
    let Some(lock) = crate::fsutil::try_lock(&journal_path.with_extension("lock"))? else {
        bail!(
            "another `missive send` of this issue is running (it holds {})",
            journal_path.with_extension("lock").display()
        );
    };
    plan_holding(composed, options, lock, None)
}

/// Works the plan out again (after a wait for the quotas), from the
/// journal as it is now, keeping the lock.
pub(crate) fn replan(composed: &Composed, options: &Options, plan: Plan) -> Result<Plan> {
    plan_holding(composed, options, plan.lock, plan.quota_lock)
}

/// [`plan`], holding the issue's lock and, once taken, the quota lock.
fn plan_holding(
    composed: &Composed,
    options: &Options,
    lock: File,
    quota_lock: Option<File>,
) -> Result<Plan> {
    let errors = composed.warnings.iter().filter(|w| w.is_error()).count();
    if errors > 0 {
        bail!(
            "{} has {errors} error{}, which `missive check` lists: the issue cannot be sent to \
             the list until they are fixed",
            composed.issue.path.display(),
            if errors == 1 { "" } else { "s" },
        );
    }
    let project = &composed.project;
    let list = project.list_path(options.list.as_deref());
    let journal_path = journal_path(composed);
    let (suppressed, events, migrated) = crate::list::events::open_project(project, &list)?;

    let letterhead = letterhead(composed)?;
    if !letterhead.has_unsubscribe() {
        bail!(
            "{}: no unsubscribe method: set unsubscribe.url or unsubscribe.mailto before sending to a list",
            project.config_label().display()
        );
    }
    let history = journal::read(&journal_path)?;
    // Taken before the list is read: a dispatch that finds the file as it
    // was can trust this reading's repeated rows.
    let list_stamp = Stamp::of(&list);
    let count = count(&list, &suppressed, &history, options.retry_failed)?;
    let unknown = letterhead.unknown_tags(&count.columns);
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
    if count.already_sent > 0
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
            count.already_sent,
            journal_path.display()
        );
    }
    let relays = Relays::from_project(project)?;
    // Two sends counting one relay's daily limit at once would each trust
    // what the journals said when it began: one at a time, from before the
    // count.
    let limited = relays.all().iter().any(|r| r.daily_limit.is_some());
    let quota_lock = match quota_lock {
        Some(held) => Some(held),
        None if limited && !options.dry_run => {
            let path = project.state_dir().join("quota.lock");
            let Some(held) = crate::fsutil::try_lock(&path)? else {
                bail!(
                    "another `missive send` is counting the relays' daily limits (it holds {}): \
                     run the sends one after the other",
                    path.display()
                );
            };
            Some(held)
        }
        None => None,
    };
    let this_run = count.due.min(options.limit.unwrap_or(u64::MAX));
    let want = this_run.min(composed.project.config.sending.batch_size.get() as u64);
    let quotas = quotas(&project.state_dir(), &relays, want)?;
    Ok(Plan {
        list,
        list_stamp,
        journal: journal_path,
        this_run,
        due: count.due,
        already_sent: count.already_sent,
        failed_before: count.failed_before,
        unknown_before: count.unknown_before,
        tally: count.tally,
        relays,
        quotas,
        dry_run: options.dry_run,
        migrated,
        suppressed,
        events: Arc::new(std::sync::Mutex::new(events)),
        history: Arc::new(history),
        letterhead: Arc::new(letterhead),
        fingerprint,
        retry_failed: options.retry_failed,
        lock,
        quota_lock,
    })
}

/// Which file a path held, and how it stood: an edit, or a file put in its
/// place, changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// A list counted against a journal.
struct Count {
    tally: Tally,
    columns: Arc<Vec<String>>,
    due: u64,
    already_sent: u64,
    failed_before: u64,
    unknown_before: u64,
}

/// Reads the list once, counting what a dispatch would do.
fn count(
    list: &Path,
    suppressed: &Suppressed,
    history: &History,
    retry_failed: bool,
) -> Result<Count> {
    let mut reader = Reader::open(list)?.suppress(suppressed.clone());
    let mut count = Count {
        tally: Tally::default(),
        columns: reader.columns(),
        due: 0,
        already_sent: 0,
        failed_before: 0,
        unknown_before: 0,
    };
    for row in &mut reader {
        if let Row::Subscriber(s) = &row {
            if is_due(history, s, retry_failed) {
                count.due += 1;
            } else {
                match history.state(s.email.as_ref()) {
                    Some(State::Sent) => count.already_sent += 1,
                    Some(State::Unknown) => count.unknown_before += 1,
                    _ => count.failed_before += 1,
                }
            }
        }
        count.tally.add(row);
    }
    count.tally.find_first_lines(list)?;
    Ok(count)
}

/// Whether a dispatch sends to this subscriber, given the journal.
fn is_due(history: &History, subscriber: &Subscriber, retry_failed: bool) -> bool {
    match history.state(subscriber.email.as_ref()) {
        Some(State::Sent) => false,
        Some(State::Failed | State::Unknown) => retry_failed,
        Some(State::Deferred) | None => true,
    }
}

/// Where the whole list stands after a run: the plan (from the journal as
/// it was) plus what the run did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub report: Report,
    pub sent: u64,
    pub failed: u64,
    pub deferred: u64,
    /// Transmitted with no final reply: not retried without `--retry-failed`.
    pub unknown: u64,
    /// Never attempted: left by `--limit` or by a stop.
    pub pending: u64,
    /// Left the list while the run went on (not sent, and not due).
    pub left: u64,
    /// When the run stopped at the relays' quotas: when they free.
    pub quota: Option<QuotaFrees>,
}

impl Outcome {
    fn of(plan: &Plan, report: Report, quota: Option<QuotaFrees>, left: u64) -> Outcome {
        let attempted = report.sent + report.failed + report.deferred + report.unknown;
        Outcome {
            sent: plan.already_sent + report.sent,
            failed: plan.failed_before + report.failed,
            deferred: report.deferred,
            unknown: plan.unknown_before + report.unknown,
            pending: plan.due.saturating_sub(attempted + left),
            left,
            report,
            quota,
        }
    }

    /// Whether every recipient on the list has the issue.
    pub(crate) fn complete(&self) -> bool {
        self.failed == 0 && self.deferred == 0 && self.unknown == 0 && self.pending == 0
    }
}

/// Runs a plan: a dry run builds every message and sends nothing;
/// otherwise the messages go out and every outcome is journaled. Stops
/// early when `interrupt` resolves.
pub(crate) async fn execute(
    composed: &Composed,
    plan: &Plan,
    reporter: Arc<dyn Reporter>,
    interrupt: impl Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    let (relays, journal) = if plan.dry_run {
        (plan.relays.dry_run(), None)
    } else {
        for relay in plan.relays.all() {
            relay.transport.prepare()?;
        }
        let journal = Arc::new(Journal::open(&plan.journal)?);
        journal.record(&Entry::Begin {
            fingerprint: plan.fingerprint.clone(),
            at: time::OffsetDateTime::now_utc(),
        })?;
        journal.sync()?;
        // Click links: the table `serve` checks them against is recorded
        // before the first message is made.
        if let Some(clicks) = plan.letterhead.clicks() {
            clicks.begin(&composed.project.state_dir())?;
        }
        (plan.relays.clone(), Some(journal))
    };
    let sending = &composed.project.config.sending;
    let history = Arc::clone(&plan.history);
    let retry_failed = plan.retry_failed;
    // Whoever leaves while the send goes on (an unsubscribe through
    // `serve`, a bounce) is not sent the rest: the log is read again as the
    // list is read, at most every second.
    let left = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut follow = crate::list::events::Follow::open(
        &crate::list::events::path_in(&composed.project.state_dir()),
        std::time::Duration::from_secs(1),
    )?;
    // The plan read the list and found its repeated rows; a file still as
    // it was then is read again without a set of every address (which
    // grows with the list: 19 MB at a million readers); one changed since
    // is read keeping that set.
    let reader = Reader::open(&plan.list)?.suppress(plan.suppressed.clone());
    let reader = if plan.list_stamp.is_some() && Stamp::of(&plan.list) == plan.list_stamp {
        reader.known_repeats(plan.tally.duplicates.iter().map(|d| d.line))
    } else {
        reader.expect(usize::try_from(plan.tally.addresses()).unwrap_or(0))
    };
    let recipients = reader
        .filter_map(move |row| match row {
            Row::Subscriber(s) if is_due(&history, &s, retry_failed) => Some(s),
            _ => None,
        })
        .take(usize::try_from(plan.this_run).unwrap_or(usize::MAX))
        .filter({
            let left = Arc::clone(&left);
            move |s| {
                let gone = follow.suppresses(&s.key());
                if gone {
                    left.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                !gone
            }
        });
    let lanes = relays
        .all()
        .iter()
        .zip(&plan.quotas)
        .map(|(relay, quota)| {
            let transport = relay.transport.clone();
            engine::Lane {
                name: relay.name.clone(),
                link: Box::new(move || transport.link()),
                // Each connection carries several messages at once.
                concurrency: relay.concurrency * relay.transport.depth(),
                rate: relay.rate.filter(|_| !plan.dry_run),
                quota: quota.left.filter(|_| !plan.dry_run),
                weight: relay.weight,
            }
        })
        .collect();
    let bounces = journal.is_some().then(|| engine::Bounces {
        log: Arc::clone(&plan.events),
        issue: composed.issue.stem(),
    });
    let context = engine::Context {
        letterhead: Arc::clone(&plan.letterhead),
        journal,
        bounces,
        settings: engine::Settings {
            rate: sending.rate.map(|r| r.0).filter(|_| !plan.dry_run),
            batch_size: sending.batch_size.get(),
            max_attempts: sending.max_attempts.get(),
            total: plan.this_run,
        },
        reporter,
    };
    tracing::info!(
        issue = %composed.issue.stem(),
        recipients = plan.this_run,
        relays = %plan.relays.all().iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "),
        dry_run = plan.dry_run,
        "send started"
    );
    let report = engine::run(Box::new(recipients), lanes, context, interrupt).await;
    if let Some(clicks) = plan.letterhead.clicks() {
        clicks.finish()?;
    }
    tracing::info!(
        issue = %composed.issue.stem(),
        sent = report.sent,
        failed = report.failed,
        deferred = report.deferred,
        unknown = report.unknown,
        seconds = report.elapsed.as_secs_f64(),
        stopped = %crate::list::address::mask_addresses(
            &report.stop.as_ref().map_or_else(String::new, ToString::to_string)
        ),
        "send finished"
    );
    let quota = if report.stop == Some(Stop::Quota) {
        let left = plan
            .this_run
            .saturating_sub(report.sent + report.failed + report.deferred + report.unknown);
        let want = left.min(sending.batch_size.get() as u64);
        earliest_free(&quotas(&composed.project.state_dir(), &plan.relays, want)?)
    } else {
        None
    };
    let left = left.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Outcome::of(plan, report, quota, left))
}

/// What `missive status` shows: the journal, against the list.
#[derive(Debug)]
pub(crate) struct Status {
    pub journal: PathBuf,
    pub sent: usize,
    /// How many each relay delivered, by name.
    pub by_relay: std::collections::BTreeMap<String, usize>,
    pub failed: usize,
    pub unknown: usize,
    /// Never attempted or to retry.
    pub due: u64,
    /// Every recipient not (yet) sent, with the last reply.
    pub problems: Vec<journal::Problem>,
    /// Whether every recipient on the list has the issue.
    pub complete: bool,
    pub migrated: Vec<Migrated>,
    /// What came back: bounces and complaints recorded for this issue.
    pub feedback: Feedback,
}

/// The bounces and complaints the list-event log records for one issue,
/// each address counted once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Feedback {
    pub hard: usize,
    pub soft: usize,
    pub complaints: usize,
    /// Refusals aimed at the sender (policy, spam, reputation).
    pub sender_blocks: usize,
    /// What the rates are of: the messages sent or refused.
    pub attempted: usize,
    /// Messages the server accepted that have not bounced (so far).
    pub delivered: usize,
    /// Readers sent the issue who left before the next issue went out.
    pub unsubscribes: usize,
}

impl Feedback {
    /// Bounces (hard and soft) above this share of the messages attempted
    /// hurt the sender's standing with the large mailbox providers.
    pub(crate) const BOUNCE_WARNING: f64 = 0.02;
    /// Complaints above this share do (Gmail and Yahoo ask for under 0.3%).
    pub(crate) const COMPLAINT_WARNING: f64 = 0.001;

    /// `n` as a share of the messages attempted.
    pub(crate) fn rate(&self, n: usize) -> f64 {
        if self.attempted == 0 {
            0.0
        } else {
            n as f64 / self.attempted as f64
        }
    }

    /// `window`: from when this issue's sending began until the next
    /// issue's did, when an unsubscribe naming no issue is this one's.
    fn of(
        log: &Path,
        stem: &str,
        history: &History,
        window: (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>),
    ) -> Result<Feedback> {
        use crate::list::address::{address_hash, normalize};
        use crate::list::events::Event;
        use std::collections::HashSet;
        let (mut hard, mut soft, mut complaints, mut sender_blocks) = (
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        );
        // Bounces of messages the server had accepted (not refusals while
        // sending): they are not delivered.
        let mut returned = HashSet::new();
        let mut left = HashSet::new();
        let in_window = |at: Option<time::OffsetDateTime>| {
            at.is_some_and(|at| {
                window.0.is_some_and(|from| from <= at) && window.1.is_none_or(|to| at < to)
            })
        };
        for record in crate::list::events::records(log)? {
            if record.event == Event::Unsubscribed
                && (record.issue == stem || (record.issue.is_empty() && in_window(record.time)))
                && history.state(&record.email) == Some(State::Sent)
            {
                left.insert(address_hash(&normalize(&record.email)));
            }
            if record.issue != stem {
                continue;
            }
            let hash = address_hash(&normalize(&record.email));
            let seen = match record.event {
                Event::Bounced => &mut hard,
                Event::SoftBounced => &mut soft,
                Event::SenderBlocked => &mut sender_blocks,
                Event::Complained => {
                    // A complaint is about a message that was delivered.
                    complaints.insert(hash);
                    continue;
                }
                _ => continue,
            };
            seen.insert(hash);
            if history.state(&record.email) == Some(State::Sent) {
                returned.insert(hash);
            }
        }
        let sent = history.count(State::Sent);
        Ok(Feedback {
            hard: hard.len(),
            soft: soft.len(),
            complaints: complaints.len(),
            sender_blocks: sender_blocks.len(),
            attempted: sent + history.count(State::Failed),
            delivered: sent.saturating_sub(returned.len()),
            unsubscribes: left.len(),
        })
    }
}

/// `missive status ISSUE`: what the journal says, against the list.
pub(crate) fn status(composed: &Composed, list: Option<&Path>) -> Result<Status> {
    let list = composed.project.list_path(list);
    let journal_path = journal_path(composed);
    let history = journal::read(&journal_path)?;
    let (suppressed, log, migrated) = crate::list::events::open_project(&composed.project, &list)?;
    let count = count(&list, &suppressed, &history, false)?;
    let stem = composed.issue.stem();
    let began = journal::began(&composed.project.state_dir())?;
    let position = began.iter().position(|(_, s)| *s == stem);
    let window = (
        position.map(|i| began[i].0),
        position.and_then(|i| began.get(i + 1)).map(|(at, _)| *at),
    );
    let feedback = Feedback::of(log.path(), &stem, &history, window)?;
    Ok(Status {
        journal: journal_path,
        sent: history.count(State::Sent),
        by_relay: history.sent_by_relay().clone(),
        failed: history.count(State::Failed),
        unknown: history.count(State::Unknown),
        due: count.due,
        problems: history.problems(),
        complete: count.due == 0 && count.failed_before == 0 && count.unknown_before == 0,
        migrated,
        feedback,
    })
}
