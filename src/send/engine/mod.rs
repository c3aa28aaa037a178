//! The dispatch engine: recipients spread over a pool of relays by weight
//! (smooth weighted round-robin), each relay with its own connections (up
//! to its concurrency, each reused), rate, quota for the run, throttle and
//! circuit breaker; transient failures are retried with backoff and jitter,
//! every outcome is journaled (with its relay) as it happens. A relay that
//! refuses the login or TLS, or fails nearly everything, is taken out for a
//! cool-off and the recipients it held go to the others; when none is left
//! the run stops. It talks to the relays only through [`Deliver`], reports
//! progress only through a [`Reporter`] the caller passes in, and stops
//! when the `interrupt` it is given resolves.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock, so that the engine's timing is tested on a paused clock.
use tokio::time::Instant;

use governor::DefaultDirectRateLimiter;
use lettre::Message;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinSet;

use crate::list::bounce;
use crate::list::events::{Event, Log};
use crate::list::reader::Subscriber;
use crate::send::journal::{Journal, Outcome, State};
use crate::send::message::{Letterhead, Transfer};
use crate::send::transport::{Deliver, DeliverError, Failure, Formatted};

mod guards;
mod relays;

pub(crate) use guards::backoff;
use guards::{RETRY_BASE, RETRY_CAP};
pub(crate) use relays::Trip;
use relays::{Choice, Relay};

/// Knobs of one run.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Messages per second across all relays.
    pub rate: Option<f64>,
    /// The journal is synced at least once per this many outcomes.
    pub batch_size: usize,
    pub max_attempts: u32,
    /// The number of recipients expected, for the progress display.
    pub total: u64,
}

/// One relay, as the engine uses it.
pub(crate) struct Lane<L> {
    /// Its name, journaled with each outcome.
    pub name: String,
    /// Opens a new link to it.
    pub link: Box<dyn Fn() -> L + Send + Sync>,
    /// At most this many links at once.
    pub concurrency: usize,
    /// Messages per second to it.
    pub rate: Option<f64>,
    /// Messages it may still take in this run (what its daily limit
    /// leaves), if limited.
    pub quota: Option<u64>,
    /// Its share of the recipients.
    pub weight: u32,
}

/// Where a run stands, for a progress display.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// Recipients expected in this run.
    pub total: u64,
    pub sent: u64,
    /// Refused, deferred or with no final reply.
    pub failed: u64,
    /// Messages accepted per second so far.
    pub rate: f64,
    /// Each relay's part (when there are several).
    pub relays: Vec<RelayProgress>,
}

/// One relay's part in a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RelayProgress {
    pub name: String,
    /// Messages it accepted in this run.
    pub sent: u64,
    /// Of them per second so far.
    pub rate: f64,
    /// Why it is out of the rotation, if it is (a cool-off, or its quota).
    pub out: Option<String>,
}

/// Hears how a run is going; the engine itself prints nothing.
pub(crate) trait Reporter: Send + Sync {
    /// How often [`progress`](Reporter::progress) is called.
    fn every(&self) -> Duration;
    fn progress(&self, progress: &Progress);
    /// The interrupt came: the messages in flight are being let finish.
    fn interrupted(&self);
    /// The run is over (called once).
    fn finished(&self);
}

/// Why a run ended before the list did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// missive's own records (the journal, the list-event log) cannot be
    /// written: nothing more may be sent.
    Records(String),
    /// The one relay there is was taken out.
    Relay(Trip),
    /// Several relays, and every one with quota left was taken out: each
    /// by name, with why.
    NoRelayLeft(Vec<(String, Trip)>),
    /// Every relay took all its quota allows.
    Quota,
}

impl Stop {
    /// Whether the relays stopped because their servers refused nearly
    /// everything (rather than being unusable): the refused can be retried
    /// once the cause is fixed.
    pub(crate) fn is_refusal(&self) -> bool {
        match self {
            Stop::Relay(trip) => matches!(trip, Trip::Refusing(_)),
            Stop::NoRelayLeft(trips) => trips.iter().all(|(_, t)| matches!(t, Trip::Refusing(_))),
            Stop::Interrupted | Stop::Records(_) | Stop::Quota => false,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Interrupted => f.write_str("interrupted"),
            Stop::Records(why) => f.write_str(why),
            Stop::Relay(trip) => write!(f, "{trip}"),
            Stop::NoRelayLeft(trips) => {
                f.write_str("no relay is left: ")?;
                for (i, (name, trip)) in trips.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{name}: {trip}")?;
                }
                Ok(())
            }
            Stop::Quota => f.write_str("every relay is at its daily limit"),
        }
    }
}

/// A message that could not be made, and the row it was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unbuildable {
    /// The row's line in the list.
    pub line: u64,
    pub email: String,
    pub reason: String,
}

/// How many unbuildable rows a report names (all are counted).
const UNBUILDABLE_SHOWN: usize = 20;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub sent: u64,
    pub failed: u64,
    pub deferred: u64,
    /// Transmitted with no final reply: perhaps delivered.
    pub unknown: u64,
    /// The first rows whose message could not be made.
    pub unbuildable: Vec<Unbuildable>,
    pub attempts: u64,
    pub elapsed: Duration,
    pub stop: Option<Stop>,
    /// Each relay's part, in the config's order.
    pub relays: Vec<RelayProgress>,
}

/// A relay's state in a run.
struct Shared<L> {
    letterhead: Arc<Letterhead>,
    journal: Option<Arc<Journal>>,
    bounces: Option<Bounces>,
    settings: Settings,
    limiter: Option<DefaultDirectRateLimiter>,
    relays: Vec<Relay<L>>,
    /// Recipients a relay gave back (it was taken out): they go first.
    returned: Mutex<VecDeque<Subscriber>>,
    stopping: AtomicBool,
    stop: Mutex<Option<Stop>>,
    sent: AtomicU64,
    failed: AtomicU64,
    deferred: AtomicU64,
    unknown: AtomicU64,
    attempts: AtomicU64,
    unbuildable: Mutex<Vec<Unbuildable>>,
}

/// How a recipient's turn on a relay ended, for its quota.
enum Done {
    /// It went out (or may have): it counts against the quota.
    Counted,
    /// Refused, deferred, or left for later: it does not.
    Released,
    /// The relay was taken out before it went: another relay takes it.
    HandedBack(Subscriber),
}

impl<L: Deliver> Shared<L> {
    fn halt(&self, reason: Stop) {
        let mut stop = self.stop.lock().expect("stop lock");
        if stop.is_none() {
            *stop = Some(reason);
        }
        self.stopping.store(true, Ordering::SeqCst);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Records what a permanent refusal says about the address: one the
    /// server says does not exist is suppressed, so that no later issue goes
    /// to it; a block of the sender is noted for the sender's health and
    /// not held against the reader. The record names the reply and the issue.
    async fn note_refusal(&self, email: &str, reply: &str) {
        let Some(bounces) = &self.bounces else {
            return;
        };
        let event = match bounce::classify_reply(reply) {
            Some(bounce::Kind::Hard) => Event::Bounced,
            Some(bounce::Kind::Sender) => Event::SenderBlocked,
            Some(bounce::Kind::Soft) | None => return,
        };
        let (log, email) = (Arc::clone(&bounces.log), email.to_string());
        let (reply, issue) = (format!("at sending: {reply}"), bounces.issue.clone());
        let written = tokio::task::spawn_blocking(move || {
            log.lock()
                .expect("list-event log lock")
                .append_about(&email, event, "bounce", &reply, &issue)
        })
        .await;
        if let Ok(Err(e)) = written {
            self.halt(Stop::Records(format!("{e:#}")));
        }
    }

    /// Journals an outcome at once; syncs once a batch has accumulated.
    async fn record(&self, outcome: Outcome) {
        let counter = match outcome.state {
            State::Sent => &self.sent,
            State::Failed => &self.failed,
            State::Deferred => &self.deferred,
            State::Unknown => &self.unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let Some(journal) = &self.journal else { return };
        if let Err(e) = journal.record(&outcome.into()) {
            self.halt(Stop::Records(format!("{e:#}")));
            return;
        }
        if journal.unsynced() >= self.settings.batch_size {
            let journal = Arc::clone(journal);
            let synced = tokio::task::spawn_blocking(move || journal.sync()).await;
            if let Ok(Err(e)) = synced {
                self.halt(Stop::Records(format!("{e:#}")));
            }
        }
    }

    fn relay_progress(&self, seconds: f64) -> Vec<RelayProgress> {
        self.relays.iter().map(|r| r.progress(seconds)).collect()
    }
}

/// Where a run records the addresses the server says do not exist.
pub(crate) struct Bounces {
    /// The project's list-event log.
    pub log: Arc<Mutex<Log>>,
    /// The issue being sent, named in each record.
    pub issue: String,
}

/// What a run is given besides the recipients and the relays: the shared
/// message parts, where outcomes are journaled (none for a dry run), its
/// knobs, who hears of its progress.
pub(crate) struct Context {
    pub letterhead: Arc<Letterhead>,
    pub journal: Option<Arc<Journal>>,
    /// Where a hard bounce at send time suppresses the address (none for a
    /// dry run).
    pub bounces: Option<Bounces>,
    pub settings: Settings,
    pub reporter: Arc<dyn Reporter>,
}

/// Sends `recipients` (a stream, read on a thread of its own) over the
/// relays of `lanes` and returns what happened. Stops early when
/// `interrupt` resolves, on a fatal error, when no relay is left or every
/// quota is taken.
pub(crate) async fn run<L: Deliver + 'static>(
    recipients: Box<dyn Iterator<Item = Subscriber> + Send>,
    lanes: Vec<Lane<L>>,
    context: Context,
    interrupt: impl Future<Output = ()> + Send + 'static,
) -> Report {
    let Context {
        letterhead,
        journal,
        bounces,
        settings,
        reporter,
    } = context;
    assert!(!lanes.is_empty(), "a run needs a relay");
    let started = Instant::now();
    let concurrency: usize = lanes.iter().map(|l| l.concurrency).sum();
    let shared = Arc::new(Shared {
        letterhead,
        journal,
        bounces,
        limiter: settings.rate.map(relays::limiter),
        relays: lanes.into_iter().map(Relay::new).collect(),
        returned: Mutex::new(VecDeque::new()),
        stopping: AtomicBool::new(false),
        stop: Mutex::new(None),
        sent: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        deferred: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        attempts: AtomicU64::new(0),
        unbuildable: Mutex::new(Vec::new()),
        settings,
    });

    // The list is read on a blocking thread and handed over a short queue,
    // so memory does not grow with it.
    let (tx, rx) = mpsc::channel::<Subscriber>(concurrency * 2);
    let producer_shared = Arc::clone(&shared);
    let producer = tokio::task::spawn_blocking(move || {
        for subscriber in recipients {
            if producer_shared.stopping() || tx.blocking_send(subscriber).is_err() {
                break;
            }
        }
    });

    let interrupt_shared = Arc::clone(&shared);
    let interrupt_reporter = Arc::clone(&reporter);
    let interrupt = tokio::spawn(async move {
        interrupt.await;
        interrupt_reporter.interrupted();
        interrupt_shared.halt(Stop::Interrupted);
    });

    let progress = Ticker::start(Arc::clone(&shared), Arc::clone(&reporter));
    dispatch(&shared, rx).await;
    let _ = producer.await;
    interrupt.abort();
    progress.finish().await;

    for relay in &shared.relays {
        let idle = std::mem::take(&mut *relay.idle.lock().expect("idle lock"));
        for mut link in idle {
            link.close().await;
        }
    }
    if let Some(journal) = &shared.journal {
        let journal = Arc::clone(journal);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || journal.sync()).await {
            shared.halt(Stop::Records(format!("{e:#}")));
        }
    }
    let elapsed = started.elapsed();
    Report {
        sent: shared.sent.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        deferred: shared.deferred.load(Ordering::Relaxed),
        unknown: shared.unknown.load(Ordering::Relaxed),
        unbuildable: std::mem::take(&mut *shared.unbuildable.lock().expect("lock")),
        attempts: shared.attempts.load(Ordering::Relaxed),
        elapsed,
        stop: shared.stop.lock().expect("stop lock").clone(),
        relays: shared.relay_progress(elapsed.as_secs_f64()),
    }
}

/// Hands each recipient (those given back first) to a relay, once that
/// relay has a free link, until the list is done or the run stops; then
/// waits for the messages in flight.
async fn dispatch<L: Deliver + 'static>(
    shared: &Arc<Shared<L>>,
    mut rx: mpsc::Receiver<Subscriber>,
) {
    let mut tasks = JoinSet::new();
    let mut turns = vec![0i64; shared.relays.len()];
    let mut listed_all = false;
    'recipients: while !shared.stopping() {
        while tasks.try_join_next().is_some() {}
        let returned = shared.returned.lock().expect("returned lock").pop_front();
        let subscriber = match returned {
            Some(s) => s,
            None if !listed_all => tokio::select! {
                next = rx.recv() => {
                    let Some(s) = next else {
                        listed_all = true;
                        continue;
                    };
                    s
                }
                // A message in flight may be handed back meanwhile.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            },
            None if tasks.is_empty() => break,
            None => {
                tasks.join_next().await;
                continue;
            }
        };
        let (i, permit) = loop {
            if shared.stopping() {
                break 'recipients;
            }
            match shared.choose(&mut turns, tasks.len()) {
                Choice::Relay(i) => {
                    let permits = Arc::clone(&shared.relays[i].permits.lock().expect("lock"));
                    match permits.acquire_owned().await {
                        Ok(permit) => break (i, permit),
                        // Taken out while waiting: choose again.
                        Err(_) => shared.relays[i].release(),
                    }
                }
                Choice::Wait => {
                    tasks.join_next().await;
                }
                Choice::Broken(stop) => {
                    shared.halt(stop);
                    break 'recipients;
                }
                Choice::Quota => {
                    shared.halt(Stop::Quota);
                    break 'recipients;
                }
            }
        };
        tasks.spawn(carry(Arc::clone(shared), i, subscriber, permit));
    }
    drop(rx);
    while tasks.join_next().await.is_some() {}
}

/// One recipient's turn on relay `i`: over an idle link of it (or a new
/// one), then the link goes back for the next recipient.
async fn carry<L: Deliver>(
    shared: Arc<Shared<L>>,
    i: usize,
    subscriber: Subscriber,
    _permit: OwnedSemaphorePermit,
) {
    let relay = &shared.relays[i];
    let idle = relay.idle.lock().expect("idle lock").pop();
    let mut link = idle.unwrap_or_else(|| (relay.make)());
    match deliver(&shared, i, &mut link, subscriber).await {
        Done::Counted => {}
        Done::Released => relay.release(),
        Done::HandedBack(subscriber) => {
            relay.release();
            shared
                .returned
                .lock()
                .expect("returned lock")
                .push_back(subscriber);
        }
    }
    if relay.is_out() {
        link.close().await;
    } else {
        relay.idle.lock().expect("idle lock").push(link);
    }
}

/// Tries one recipient on relay `i` until it is sent, refused, out of
/// attempts, the relay is taken out (then another takes it) or the run
/// stops (then it stays pending for the next run).
async fn deliver<L: Deliver>(
    shared: &Shared<L>,
    i: usize,
    link: &mut L,
    subscriber: Subscriber,
) -> Done {
    let relay = &shared.relays[i];
    let email = subscriber.email.to_string();
    // Built for what the relay carries (and formatted once: every attempt
    // shares the bytes); built again if that changed.
    let mut built: Option<(Transfer, Formatted)> = None;
    for attempt in 1..=shared.settings.max_attempts {
        let transfer = link.carries().await;
        if built.as_ref().is_none_or(|(was, _)| *was != transfer) {
            let Some(message) = build(shared, &subscriber, transfer).await else {
                return Done::Released;
            };
            built = Some((transfer, Formatted::new(&message)));
        }
        let (_, message) = built.as_ref().expect("built above");
        wait_turn(shared, relay).await;
        if relay.is_out() {
            return Done::HandedBack(subscriber);
        }
        if attempt > 1 && shared.stopping() {
            return Done::Released;
        }
        shared.attempts.fetch_add(1, Ordering::Relaxed);
        let end = match link.deliver(message).await {
            Ok(reply) => accepted(shared, relay, &email, reply).await,
            Err(DeliverError::Fatal(fatal)) => {
                link.close().await;
                shared.take_out(i, Trip::Unusable(fatal.to_string())).await;
                End::HandBack
            }
            Err(DeliverError::Failed(Failure::Quota(reply))) => relay.used_up(&reply),
            Err(DeliverError::Failed(failure)) => {
                refused(shared, i, &email, failure, attempt).await
            }
        };
        match end {
            End::Counted => return Done::Counted,
            End::Released => return Done::Released,
            End::HandBack => return Done::HandedBack(subscriber),
            End::Again => tokio::time::sleep(backoff(attempt, RETRY_BASE, RETRY_CAP)).await,
        }
    }
    Done::Released
}

/// What one attempt came to.
enum End {
    /// Sent, or perhaps sent: it counts against the relay's quota.
    Counted,
    /// Refused, or given up: it does not.
    Released,
    /// The relay cannot take it: another relay (or a later run) does.
    HandBack,
    /// A temporary failure: try again after a wait.
    Again,
}

/// The recipient's message, built from the letterhead; `None` (recorded
/// as failed, and among the first rows shown) when it cannot be made.
async fn build<L: Deliver>(
    shared: &Shared<L>,
    subscriber: &Subscriber,
    transfer: Transfer,
) -> Option<Message> {
    match shared.letterhead.message(subscriber, transfer) {
        Ok(message) => Some(message),
        Err(e) => {
            let email = subscriber.email.to_string();
            {
                let mut unbuildable = shared.unbuildable.lock().expect("lock");
                if unbuildable.len() < UNBUILDABLE_SHOWN {
                    unbuildable.push(Unbuildable {
                        line: subscriber.line,
                        email: email.clone(),
                        reason: e.to_string(),
                    });
                }
            }
            let reply = format!("not sent: {e}");
            shared
                .record(Outcome::new(State::Failed, email, reply))
                .await;
            None
        }
    }
}

/// Waits out the relay's throttle, then its rate and the run's.
async fn wait_turn<L: Deliver>(shared: &Shared<L>, relay: &Relay<L>) {
    let pause = relay.throttle.lock().expect("throttle lock").until;
    tokio::time::sleep_until(pause).await;
    if let Some(limiter) = &relay.limiter {
        limiter.until_ready().await;
    }
    if let Some(limiter) = &shared.limiter {
        limiter.until_ready().await;
    }
}

/// The server took the message: the relay is healthy and calm.
async fn accepted<L: Deliver>(
    shared: &Shared<L>,
    relay: &Relay<L>,
    email: &str,
    reply: String,
) -> End {
    relay
        .breaker
        .lock()
        .expect("breaker lock")
        .push(true, &reply);
    relay.throttle.lock().expect("throttle lock").calm();
    relay.sent.fetch_add(1, Ordering::Relaxed);
    let outcome = Outcome::new(State::Sent, email.to_string(), reply).via(&relay.name);
    shared.record(outcome).await;
    End::Counted
}

/// The server did not take it: counted for the relay's breaker; a refusal
/// for good is recorded (and what it says of the address noted), no final
/// reply is recorded as unknown, and a temporary failure is tried again
/// until the attempts run out or the run stops.
async fn refused<L: Deliver>(
    shared: &Shared<L>,
    i: usize,
    email: &str,
    failure: Failure,
    attempt: u32,
) -> End {
    let relay = &shared.relays[i];
    // A recipient refused for good by the address (no such mailbox, no
    // such domain) proves the relay works: it counts for the relay's
    // health, not against it.
    let relay_works = matches!(&failure, Failure::Permanent(reply)
        if bounce::classify_reply(reply) == Some(bounce::Kind::Hard));
    let tripped = relay
        .breaker
        .lock()
        .expect("breaker lock")
        .push(relay_works, failure.reply());
    if let Some(summary) = tripped {
        shared.take_out(i, Trip::Refusing(summary)).await;
    }
    let said = |state, reply| Outcome::new(state, email.to_string(), reply).via(&relay.name);
    match failure {
        Failure::Permanent(reply) => {
            shared.note_refusal(email, &reply).await;
            shared.record(said(State::Failed, reply)).await;
            return End::Released;
        }
        Failure::Unknown(reply) => {
            shared.record(said(State::Unknown, reply)).await;
            return End::Counted;
        }
        Failure::Transient { throttle: true, .. } => {
            relay.throttle.lock().expect("throttle lock").hit();
        }
        Failure::Transient { .. } | Failure::Network(_) | Failure::Quota(_) => {}
    }
    if attempt == shared.settings.max_attempts {
        let reply = format!("gave up after {attempt} attempts: {}", failure.reply());
        shared.record(said(State::Deferred, reply)).await;
        return End::Released;
    }
    if shared.stopping() {
        End::Released
    } else {
        End::Again
    }
}

/// Tells the reporter how the run is going, every so often and at the end.
struct Ticker {
    task: tokio::task::JoinHandle<()>,
    done: Arc<tokio::sync::Notify>,
}

impl Ticker {
    fn start<L: Deliver + 'static>(shared: Arc<Shared<L>>, reporter: Arc<dyn Reporter>) -> Ticker {
        let done = Arc::new(tokio::sync::Notify::new());
        let finished = Arc::clone(&done);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let every = reporter.every();
            let mut interval = tokio::time::interval_at(Instant::now() + every, every);
            loop {
                let stop = tokio::select! {
                    _ = interval.tick() => false,
                    () = finished.notified() => true,
                };
                if stop {
                    reporter.finished();
                    return;
                }
                let sent = shared.sent.load(Ordering::Relaxed);
                let seconds = started.elapsed().as_secs_f64().max(0.001);
                reporter.progress(&Progress {
                    total: shared.settings.total,
                    sent,
                    failed: shared.failed.load(Ordering::Relaxed)
                        + shared.deferred.load(Ordering::Relaxed)
                        + shared.unknown.load(Ordering::Relaxed),
                    rate: sent as f64 / seconds,
                    relays: shared.relay_progress(seconds),
                });
            }
        });
        Ticker { task, done }
    }

    async fn finish(self) {
        self.done.notify_one();
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod stub;
#[cfg(test)]
mod tests;
