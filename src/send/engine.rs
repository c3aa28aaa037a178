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
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::journal::{Entry, Journal};
use super::message::Letterhead;
use super::transport::{Deliver, DeliverError, Failure};
use crate::list::bounce;
use crate::list::events::{BOUNCED, Log, SENDER_BLOCKED};
use crate::list::reader::Subscriber;

/// How many of the latest attempts the circuit breaker looks at.
const BREAKER_WINDOW: usize = 50;
/// It only judges once this many attempts are in the window.
const BREAKER_MIN: usize = 20;
/// It takes the relay out when at least this share of them failed.
const BREAKER_RATIO: f64 = 0.8;
/// First retry delay; doubled each attempt, with jitter, up to the cap.
const RETRY_BASE: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(30);
/// First pause after a throttling reply; doubled for each one in a row.
const THROTTLE_BASE: Duration = Duration::from_millis(50);
/// How long a relay taken out stays out before it is tried again.
const COOL_OFF: Duration = Duration::from_mins(5);

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Messages per second across all relays.
    pub rate: Option<f64>,
    /// The journal is synced at least once per this many outcomes.
    pub batch_size: usize,
    pub max_attempts: u32,
    /// The number of recipients expected, for the progress display.
    pub total: u64,
}

/// One relay, as the engine uses it.
pub struct Lane<L> {
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
pub struct Progress {
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
pub struct RelayProgress {
    pub name: String,
    /// Messages it accepted in this run.
    pub sent: u64,
    /// Of them per second so far.
    pub rate: f64,
    /// Why it is out of the rotation, if it is (a cool-off, or its quota).
    pub out: Option<String>,
}

/// Hears how a run is going; the engine itself prints nothing.
pub trait Reporter: Send + Sync {
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
pub enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// The server or the outbox cannot be used, or the journal cannot be
    /// written; with several relays, none is left that can be.
    Fatal(String),
    /// Most recent attempts failed (on every relay there is).
    Breaker(String),
    /// Every relay took all its quota allows.
    Quota,
}

/// A message that could not be made, and the row it was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbuildable {
    /// The row's line in the list.
    pub line: u64,
    pub email: String,
    pub reason: String,
}

/// How many unbuildable rows a report names (all are counted).
const UNBUILDABLE_SHOWN: usize = 20;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
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

/// Why a relay was taken out of the rotation.
#[derive(Debug, Clone)]
enum Trip {
    /// It cannot be used (login, TLS, the outbox).
    Fatal(String),
    /// It failed nearly everything lately.
    Breaker(String),
}

/// A relay's state in a run.
struct Relay<L> {
    name: String,
    make: Box<dyn Fn() -> L + Send + Sync>,
    concurrency: usize,
    weight: i64,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Links open and not in use.
    idle: Mutex<Vec<L>>,
    /// One permit per link in use; closed (and replaced after the
    /// cool-off) when the relay is taken out.
    permits: Mutex<Arc<Semaphore>>,
    throttle: Mutex<Throttle>,
    breaker: Mutex<Breaker>,
    /// Taken out until then, and why.
    out: Mutex<Option<(Instant, Trip)>>,
    quota: Option<u64>,
    /// Messages counted against the quota: sent, no final reply, or in flight.
    taken: AtomicU64,
    /// The relay said its quota is used up, whatever the count here.
    exhausted: AtomicBool,
    sent: AtomicU64,
}

impl<L> Relay<L> {
    fn new(lane: Lane<L>) -> Relay<L> {
        Relay {
            name: lane.name,
            make: lane.link,
            concurrency: lane.concurrency,
            weight: i64::from(lane.weight),
            limiter: lane.rate.map(limiter),
            idle: Mutex::new(Vec::new()),
            permits: Mutex::new(Arc::new(Semaphore::new(lane.concurrency))),
            throttle: Mutex::new(Throttle::default()),
            breaker: Mutex::new(Breaker::default()),
            out: Mutex::new(None),
            quota: lane.quota,
            taken: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
            sent: AtomicU64::new(0),
        }
    }

    /// Whether it is in the rotation; one whose cool-off is over comes back
    /// with a clean slate.
    fn in_service(&self, now: Instant) -> bool {
        let mut out = self.out.lock().expect("relay lock");
        match &*out {
            None => true,
            Some((until, _)) if *until <= now => {
                *out = None;
                *self.breaker.lock().expect("breaker lock") = Breaker::default();
                *self.permits.lock().expect("permits lock") =
                    Arc::new(Semaphore::new(self.concurrency));
                true
            }
            Some(_) => false,
        }
    }

    fn is_out(&self) -> bool {
        self.out.lock().expect("relay lock").is_some()
    }

    fn has_quota(&self) -> bool {
        !self.exhausted.load(Ordering::SeqCst)
            && self
                .quota
                .is_none_or(|q| self.taken.load(Ordering::SeqCst) < q)
    }

    fn release(&self) {
        self.taken.fetch_sub(1, Ordering::SeqCst);
    }

    /// What a progress line says of it.
    fn progress(&self, seconds: f64) -> RelayProgress {
        let sent = self.sent.load(Ordering::Relaxed);
        let out = match &*self.out.lock().expect("relay lock") {
            Some((_, Trip::Fatal(why) | Trip::Breaker(why))) => Some(why.clone()),
            None if !self.has_quota() => Some("at its daily limit".into()),
            None => None,
        };
        RelayProgress {
            name: self.name.clone(),
            sent,
            rate: sent as f64 / seconds.max(0.001),
            out,
        }
    }
}

fn limiter(rate: f64) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / rate);
    let quota = Quota::with_period(period)
        .expect("a positive rate gives a positive period")
        .allow_burst(NonZeroU32::MIN);
    RateLimiter::direct(quota)
}

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

/// What the dispatcher does with the next recipient.
enum Choice {
    /// Give it to this relay.
    Relay(usize),
    /// Wait for a message in flight: it may free a quota or hand one back.
    Wait,
    /// Every relay with quota left is out.
    Broken(Stop),
    /// Every relay took all its quota allows.
    Quota,
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

    /// Picks the relay for the next recipient: of those in service with
    /// quota left, by smooth weighted round-robin (`turns` carries its
    /// state), and counts the recipient against its quota.
    fn choose(&self, turns: &mut [i64], in_flight: usize) -> Choice {
        let now = Instant::now();
        let mut total = 0;
        let mut best: Option<usize> = None;
        for (i, relay) in self.relays.iter().enumerate() {
            if !relay.has_quota() || !relay.in_service(now) {
                continue;
            }
            turns[i] += relay.weight;
            total += relay.weight;
            if best.is_none_or(|b| turns[i] > turns[b]) {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            turns[b] -= total;
            self.relays[b].taken.fetch_add(1, Ordering::SeqCst);
            return Choice::Relay(b);
        }
        if in_flight > 0 {
            return Choice::Wait;
        }
        let trips: Vec<(&str, Trip)> = self
            .relays
            .iter()
            .filter(|r| r.has_quota())
            .filter_map(|r| {
                let out = r.out.lock().expect("relay lock");
                out.as_ref()
                    .map(|(_, trip)| (r.name.as_str(), trip.clone()))
            })
            .collect();
        match trips.as_slice() {
            [] => Choice::Quota,
            [(_, trip)] if self.relays.len() == 1 => Choice::Broken(match trip {
                Trip::Fatal(why) => Stop::Fatal(why.clone()),
                Trip::Breaker(why) => Stop::Breaker(why.clone()),
            }),
            _ => {
                let why = trips
                    .iter()
                    .map(|(name, Trip::Fatal(why) | Trip::Breaker(why))| format!("{name}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let why = format!("no relay is left: {why}");
                Choice::Broken(if trips.iter().any(|(_, t)| matches!(t, Trip::Fatal(_))) {
                    Stop::Fatal(why)
                } else {
                    Stop::Breaker(why)
                })
            }
        }
    }

    /// Takes relay `i` out of the rotation for the cool-off: no new
    /// recipient goes to it, the dispatcher stops waiting for it, and its
    /// idle links are closed.
    async fn take_out(&self, i: usize, trip: Trip) {
        let relay = &self.relays[i];
        {
            let mut out = relay.out.lock().expect("relay lock");
            if out.is_some() {
                return;
            }
            let (Trip::Fatal(why) | Trip::Breaker(why)) = &trip;
            tracing::warn!(
                relay = %relay.name,
                reason = %crate::list::address::mask_addresses(why),
                "relay taken out for a cool-off"
            );
            *out = Some((Instant::now() + COOL_OFF, trip));
        }
        relay.permits.lock().expect("permits lock").close();
        let idle = std::mem::take(&mut *relay.idle.lock().expect("idle lock"));
        for mut link in idle {
            link.close().await;
        }
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
            Some(bounce::Kind::Hard) => BOUNCED,
            Some(bounce::Kind::Sender) => SENDER_BLOCKED,
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
            self.halt(Stop::Fatal(format!("{e:#}")));
        }
    }

    /// Journals an outcome at once; syncs once a batch has accumulated.
    async fn record(&self, entry: Entry) {
        let counter = match &entry {
            Entry::Sent { .. } => &self.sent,
            Entry::Failed { .. } => &self.failed,
            Entry::Deferred { .. } => &self.deferred,
            Entry::Unknown { .. } => &self.unknown,
            Entry::Begin { .. } => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let Some(journal) = &self.journal else { return };
        if let Err(e) = journal.record(&entry) {
            self.halt(Stop::Fatal(format!("{e:#}")));
            return;
        }
        if journal.unsynced() >= self.settings.batch_size {
            let journal = Arc::clone(journal);
            let synced = tokio::task::spawn_blocking(move || journal.sync()).await;
            if let Ok(Err(e)) = synced {
                self.halt(Stop::Fatal(format!("{e:#}")));
            }
        }
    }

    fn relay_progress(&self, seconds: f64) -> Vec<RelayProgress> {
        self.relays.iter().map(|r| r.progress(seconds)).collect()
    }
}

/// Where a run records the addresses the server says do not exist.
pub struct Bounces {
    /// The project's list-event log.
    pub log: Arc<Mutex<Log>>,
    /// The issue being sent, named in each record.
    pub issue: String,
}

/// What a run is given besides the recipients and the relays: the shared
/// message parts, where outcomes are journaled (none for a dry run), its
/// knobs, who hears of its progress.
pub struct Context {
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
pub async fn run<L: Deliver + 'static>(
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
        limiter: settings.rate.map(limiter),
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
            shared.halt(Stop::Fatal(format!("{e:#}")));
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
    let message = match shared.letterhead.message(&subscriber) {
        Ok(m) => m,
        Err(e) => {
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
            shared.record(Entry::failed(email, reply)).await;
            return Done::Released;
        }
    };
    for attempt in 1..=shared.settings.max_attempts {
        let pause = relay.throttle.lock().expect("throttle lock").until;
        tokio::time::sleep_until(pause.into()).await;
        if let Some(limiter) = &relay.limiter {
            limiter.until_ready().await;
        }
        if let Some(limiter) = &shared.limiter {
            limiter.until_ready().await;
        }
        if relay.is_out() {
            return Done::HandedBack(subscriber);
        }
        if attempt > 1 && shared.stopping() {
            return Done::Released;
        }
        shared.attempts.fetch_add(1, Ordering::Relaxed);
        match link.deliver(&message).await {
            Ok(reply) => {
                relay
                    .breaker
                    .lock()
                    .expect("breaker lock")
                    .push(true, &reply);
                relay.throttle.lock().expect("throttle lock").calm();
                relay.sent.fetch_add(1, Ordering::Relaxed);
                shared
                    .record(Entry::sent(email, reply).via(&relay.name))
                    .await;
                return Done::Counted;
            }
            Err(DeliverError::Fatal(fatal)) => {
                link.close().await;
                shared.take_out(i, Trip::Fatal(fatal.to_string())).await;
                return Done::HandedBack(subscriber);
            }
            Err(DeliverError::Failed(Failure::Quota(reply))) => {
                // The relay's own count says it is full: no more for it in
                // this run, and this reader goes to another (or a later run).
                if !relay.exhausted.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        relay = %relay.name,
                        reply = %crate::list::address::mask_addresses(&reply),
                        "relay says its quota is used up"
                    );
                }
                return Done::HandedBack(subscriber);
            }
            Err(DeliverError::Failed(failure)) => {
                // A recipient refused for good by the address (no such
                // mailbox, no such domain) proves the relay works: it
                // counts for the relay's health, not against it.
                let relay_works = matches!(&failure, Failure::Permanent(reply)
                    if crate::list::bounce::classify_reply(reply) == Some(crate::list::bounce::Kind::Hard));
                let tripped = relay
                    .breaker
                    .lock()
                    .expect("breaker lock")
                    .push(relay_works, failure.reply());
                if let Some(summary) = tripped {
                    shared.take_out(i, Trip::Breaker(summary)).await;
                }
                match failure {
                    Failure::Permanent(reply) => {
                        shared.note_refusal(&email, &reply).await;
                        shared
                            .record(Entry::failed(email, reply).via(&relay.name))
                            .await;
                        return Done::Released;
                    }
                    Failure::Unknown(reply) => {
                        shared
                            .record(Entry::unknown(email, reply).via(&relay.name))
                            .await;
                        return Done::Counted;
                    }
                    Failure::Transient { throttle: true, .. } => {
                        relay.throttle.lock().expect("throttle lock").hit();
                    }
                    Failure::Transient { .. } | Failure::Network(_) | Failure::Quota(_) => {}
                }
                if attempt == shared.settings.max_attempts {
                    let reply = format!("gave up after {attempt} attempts: {}", failure.reply());
                    shared
                        .record(Entry::deferred(email, reply).via(&relay.name))
                        .await;
                    return Done::Released;
                }
                if shared.stopping() {
                    return Done::Released;
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    Done::Released
}

/// The delay before attempt `attempt + 1`: exponential, with ±50% jitter.
fn backoff(attempt: u32) -> Duration {
    let exp = RETRY_BASE
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(RETRY_CAP);
    exp.mul_f64(0.5 + fastrand::f64())
}

/// A shared pause that throttling replies lengthen and successes shorten.
#[derive(Debug)]
struct Throttle {
    until: Instant,
    level: u32,
    calm: u32,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            until: Instant::now(),
            level: 0,
            calm: 0,
        }
    }
}

impl Throttle {
    fn hit(&mut self) {
        self.level = (self.level + 1).min(10);
        self.calm = 0;
        let pause = THROTTLE_BASE.saturating_mul(1 << (self.level - 1));
        self.until = self.until.max(Instant::now() + pause);
    }

    fn calm(&mut self) {
        self.calm += 1;
        if self.calm >= 5 && self.level > 0 {
            self.level -= 1;
            self.calm = 0;
        }
    }
}

/// Watches the latest attempts; trips when nearly all of them failed.
#[derive(Debug, Default)]
struct Breaker {
    window: VecDeque<bool>,
}

impl Breaker {
    /// Adds an attempt; returns a summary when the breaker trips.
    fn push(&mut self, ok: bool, reply: &str) -> Option<String> {
        if self.window.len() == BREAKER_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ok);
        let failed = self.window.iter().filter(|ok| !**ok).count();
        let n = self.window.len();
        (!ok && n >= BREAKER_MIN && failed as f64 >= BREAKER_RATIO * n as f64).then(|| {
            format!("{failed} of the last {n} attempts failed; the server's last reply: {reply}")
        })
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
            let mut interval = tokio::time::interval_at((Instant::now() + every).into(), every);
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
mod stub {
    //! A scripted, in-process [`Deliver`]: for each address, what the
    //! "server" answers attempt after attempt (past the script, it accepts),
    //! so the engine's behaviour is tested in milliseconds. The real-server
    //! tests in `tests/` remain the proof against real SMTP.

    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::super::message::Letterhead;
    use super::super::transport::{Deliver, DeliverError, Failure, Fatal};
    use crate::compose::{Issue, LoadedIssue, Templates, render};
    use crate::list::reader::{Reader, Row, Subscriber};
    use crate::project::{Config, Project};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Answer {
        Accept,
        /// 550 5.1.1: no such user.
        Refuse,
        /// 554 5.7.1: the relay will not take it (a policy refusal).
        Deny,
        /// 451, not a throttle.
        TryLater,
        /// 421: slow down.
        Throttle,
        /// The connection broke.
        Drop,
        /// The message went out; no final reply came.
        NoFinalReply,
        /// The server cannot be used at all.
        Fatal,
        /// The relay's daily quota is used up.
        QuotaFull,
    }

    /// The script, and what happened.
    #[derive(Default)]
    pub struct Script {
        pub answers: HashMap<String, Vec<Answer>>,
        /// Each attempt: address and when.
        pub attempts: Mutex<Vec<(String, Instant)>>,
        /// The addresses accepted, in order.
        pub accepted: Mutex<Vec<String>>,
        /// How long each answer takes.
        pub delay: Duration,
        /// Once this many are accepted, every attempt gets this answer.
        pub after: Option<(usize, Answer)>,
    }

    impl Script {
        pub fn new(answers: &[(&str, &[Answer])]) -> Arc<Script> {
            Arc::new(Script {
                answers: answers
                    .iter()
                    .map(|(a, list)| ((*a).to_string(), list.to_vec()))
                    .collect(),
                ..Script::default()
            })
        }

        pub fn attempts_of(&self, address: &str) -> usize {
            let attempts = self.attempts.lock().unwrap();
            attempts.iter().filter(|(a, _)| a == address).count()
        }

        pub fn accepted(&self) -> Vec<String> {
            self.accepted.lock().unwrap().clone()
        }
    }

    pub struct Stub(pub Arc<Script>);

    impl Deliver for Stub {
        async fn deliver_raw(
            &mut self,
            envelope: &lettre::address::Envelope,
            _: &[u8],
        ) -> Result<String, DeliverError> {
            let to = envelope.to()[0].to_string();
            let n = {
                let mut attempts = self.0.attempts.lock().unwrap();
                attempts.push((to.clone(), Instant::now()));
                attempts.iter().filter(|(a, _)| *a == to).count()
            };
            if !self.0.delay.is_zero() {
                tokio::time::sleep(self.0.delay).await;
            }
            let turned = self
                .0
                .after
                .filter(|(k, _)| self.0.accepted.lock().unwrap().len() >= *k)
                .map(|(_, answer)| answer);
            let answer = turned.unwrap_or_else(|| {
                self.0
                    .answers
                    .get(&to)
                    .and_then(|list| list.get(n - 1))
                    .copied()
                    .unwrap_or(Answer::Accept)
            });
            let failed = |f| Err(DeliverError::Failed(f));
            match answer {
                Answer::Accept => {
                    self.0.accepted.lock().unwrap().push(to);
                    Ok("250 2.0.0 queued".into())
                }
                Answer::Refuse => failed(Failure::Permanent("550 5.1.1 no such user".into())),
                Answer::Deny => failed(Failure::Permanent("554 5.7.1 Relay access denied".into())),
                Answer::TryLater => failed(Failure::Transient {
                    reply: "451 4.3.0 try later".into(),
                    throttle: false,
                }),
                Answer::Throttle => failed(Failure::Transient {
                    reply: "421 4.7.0 slow down".into(),
                    throttle: true,
                }),
                Answer::Drop => failed(Failure::Network("connection reset".into())),
                Answer::NoFinalReply => failed(Failure::Unknown("no final reply".into())),
                Answer::QuotaFull => failed(Failure::Quota(
                    "550 5.4.5 Daily SMTP relay limit exceeded for user".into(),
                )),
                Answer::Fatal => Err(DeliverError::Fatal(Fatal::Login {
                    key: "smtp".into(),
                    server: "stub:25".into(),
                    detail: "535 bad credentials".into(),
                })),
            }
        }

        async fn close(&mut self) {}
    }

    /// The parts shared by every message of a small issue.
    pub fn letterhead() -> Arc<Letterhead> {
        let config = Config::parse(
            "[newsletter]\nfrom = \"A <a@example.com>\"\n[unsubscribe]\nmailto = \"u@example.com\"\n",
            Path::new("missive.toml"),
        )
        .unwrap();
        let project = Project {
            root: ".".into(),
            config_path: None,
            config,
        };
        let text = "subject = \"Hi\"\ndate = 2026-11-27\n";
        let issue = LoadedIssue {
            path: "i.toml".into(),
            text: text.into(),
            issue: Issue::parse(text, Path::new("i.toml")).unwrap(),
        };
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let rendered = render(&issue, &project, &templates).unwrap();
        Arc::new(
            Letterhead::new(&project.config, &project.root, "i", "Hi", &rendered, None).unwrap(),
        )
    }

    /// Subscribers `r0@example.org` … .
    pub fn readers(n: usize) -> Vec<Subscriber> {
        let csv: String = std::iter::once("email\n".to_string())
            .chain((0..n).map(|i| format!("r{i}@example.org\n")))
            .collect();
        Reader::from_reader(Path::new("list.csv"), Box::new(std::io::Cursor::new(csv)))
            .unwrap()
            .filter_map(|row| match row {
                Row::Subscriber(s) => Some(s),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod behaviour {
    use std::sync::Arc;
    use std::time::Duration;

    use super::stub::{Answer, Script, Stub, letterhead, readers};
    use super::*;

    /// A reporter that tells nobody.
    pub struct Silent;

    impl Reporter for Silent {
        fn every(&self) -> Duration {
            Duration::from_hours(1)
        }
        fn progress(&self, _: &Progress) {}
        fn interrupted(&self) {}
        fn finished(&self) {}
    }

    use crate::send::journal::{self, State};

    /// The settings of a run over one relay of `concurrency` links.
    fn settings(concurrency: usize, total: usize) -> (usize, Settings) {
        (
            concurrency,
            Settings {
                rate: None,
                batch_size: 10,
                max_attempts: 5,
                total: total as u64,
            },
        )
    }

    /// A relay answering as `script` says.
    fn lane(name: &str, script: &Arc<Script>, concurrency: usize) -> Lane<Stub> {
        let script = Arc::clone(script);
        Lane {
            name: name.into(),
            link: Box::new(move || Stub(Arc::clone(&script))),
            concurrency,
            rate: None,
            quota: None,
            weight: 1,
        }
    }

    /// Runs the engine over one stub relay; returns the report and the journal.
    async fn run_stub(
        script: &Arc<Script>,
        n: usize,
        (concurrency, settings): (usize, Settings),
        interrupt: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Report, journal::History) {
        run_lanes(
            vec![lane("stub", script, concurrency)],
            n,
            settings,
            interrupt,
        )
        .await
    }

    /// Runs the engine over stub relays; returns the report and the journal.
    async fn run_lanes(
        lanes: Vec<Lane<Stub>>,
        n: usize,
        settings: Settings,
        interrupt: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Report, journal::History) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.journal");
        let journal = Arc::new(Journal::open(&path).unwrap());
        let report = run(
            Box::new(readers(n).into_iter()),
            lanes,
            Context {
                letterhead: letterhead(),
                journal: Some(journal),
                bounces: None,
                settings,
                reporter: Arc::new(Silent),
            },
            interrupt,
        )
        .await;
        (report, journal::read(&path).unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transient_failures_are_retried_and_every_outcome_journaled() {
        use Answer::*;
        let script = Script::new(&[
            ("r0@example.org", &[TryLater, TryLater]),
            ("r1@example.org", &[Refuse]),
            ("r2@example.org", &[Drop]),
            ("r3@example.org", &[NoFinalReply]),
            ("r4@example.org", &[TryLater; 9]),
        ]);
        let (report, history) = run_stub(&script, 8, settings(3, 8), std::future::pending()).await;
        assert_eq!(
            (report.sent, report.failed, report.unknown, report.deferred),
            (5, 1, 1, 1)
        );
        assert_eq!(report.stop, None);
        assert_eq!(
            script.attempts_of("r0@example.org"),
            3,
            "retried until accepted"
        );
        assert_eq!(
            script.attempts_of("r1@example.org"),
            1,
            "a refusal is final"
        );
        assert_eq!(
            script.attempts_of("r2@example.org"),
            2,
            "a dropped link is retried"
        );
        assert_eq!(
            script.attempts_of("r3@example.org"),
            1,
            "no final reply: never resent"
        );
        assert_eq!(
            script.attempts_of("r4@example.org"),
            5,
            "up to max_attempts"
        );
        assert_eq!(history.state("r0@example.org"), Some(State::Sent));
        assert_eq!(history.state("r1@example.org"), Some(State::Failed));
        assert_eq!(history.state("r3@example.org"), Some(State::Unknown));
        assert_eq!(history.state("r4@example.org"), Some(State::Deferred));
        assert_eq!(history.count(State::Sent), 5);
        let mut accepted = script.accepted();
        accepted.sort();
        accepted.dedup();
        assert_eq!(accepted.len(), 5, "each accepted once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retries_back_off() {
        let script = Script::new(&[("r0@example.org", &[Answer::TryLater; 3])]);
        let (report, _) = run_stub(&script, 1, settings(1, 1), std::future::pending()).await;
        assert_eq!(report.sent, 1);
        let attempts = script.attempts.lock().unwrap().clone();
        let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].1 - w[0].1).collect();
        // 100 ms, 200 ms, 400 ms, each with ±50% jitter.
        for (i, gap) in gaps.iter().enumerate() {
            let least = RETRY_BASE.saturating_mul(1 << i).mul_f64(0.5);
            assert!(
                *gap >= least,
                "retry {i} came after {gap:?}, before {least:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_throttling_reply_pauses_every_worker() {
        let script = Script::new(&[("r0@example.org", &[Answer::Throttle, Answer::Throttle])]);
        let (report, _) = run_stub(&script, 6, settings(2, 6), std::future::pending()).await;
        assert_eq!(report.sent, 6);
        let attempts = script.attempts.lock().unwrap().clone();
        let throttled = attempts
            .iter()
            .find(|(a, _)| a == "r0@example.org")
            .expect("r0 was tried")
            .1;
        // No attempt starts while the pause of the first throttle (50 ms)
        // runs, whichever worker makes it (allowing for one that had
        // already passed the check when the reply came).
        for (address, at) in &attempts {
            let after = at.saturating_duration_since(throttled);
            assert!(
                after < Duration::from_millis(10) || after >= THROTTLE_BASE.mul_f64(0.9),
                "{address} went out {after:?} after a throttle"
            );
        }
        assert!(
            attempts
                .iter()
                .any(|(_, at)| *at > throttled + THROTTLE_BASE),
            "the run went on after the pause"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_breaker_stops_a_run_that_fails_nearly_everything() {
        let all_refused: Vec<(String, Vec<Answer>)> = (0..200)
            .map(|i| (format!("r{i}@example.org"), vec![Answer::Deny]))
            .collect();
        let script = Arc::new(Script {
            answers: all_refused.into_iter().collect(),
            ..Script::default()
        });
        let (report, history) =
            run_stub(&script, 200, settings(4, 200), std::future::pending()).await;
        assert!(
            matches!(report.stop, Some(Stop::Breaker(_))),
            "{:?}",
            report.stop
        );
        let tried = script.attempts.lock().unwrap().len();
        assert!(tried < 40, "{tried} attempts before the breaker tripped");
        assert_eq!(history.count(State::Failed) as u64, report.failed);
    }

    /// Dead addresses refused one after another (5.1.1) prove the relay
    /// works: 200 of them at the end of a list do not stop the run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_of_dead_addresses_do_not_trip_the_breaker() {
        let dead: Vec<(String, Vec<Answer>)> = (400..600)
            .map(|i| (format!("r{i}@example.org"), vec![Answer::Refuse]))
            .collect();
        let script = Arc::new(Script {
            answers: dead.into_iter().collect(),
            ..Script::default()
        });
        let (report, history) =
            run_stub(&script, 600, settings(4, 600), std::future::pending()).await;
        assert_eq!(report.stop, None, "{:?}", report.stop);
        assert_eq!(report.sent, 400);
        assert_eq!(report.failed, 200);
        assert_eq!(history.count(State::Failed), 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fatal_error_stops_the_run() {
        let script = Script::new(&[("r3@example.org", &[Answer::Fatal])]);
        let (report, history) =
            run_stub(&script, 50, settings(1, 50), std::future::pending()).await;
        assert_eq!(
            report.stop,
            Some(Stop::Fatal(
                "stub:25 refused the login of smtp.username: 535 bad credentials".into()
            ))
        );
        assert_eq!(report.sent, 3);
        assert_eq!(history.count(State::Sent), 3);
        assert_eq!(
            history.state("r3@example.org"),
            None,
            "left for the next run"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interrupt_lets_the_messages_in_flight_finish_and_journals_them() {
        let script = Arc::new(Script {
            delay: Duration::from_millis(5),
            ..Script::default()
        });
        let watched = Arc::clone(&script);
        let interrupt = async move {
            while watched.accepted().len() < 10 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let (report, history) = run_stub(&script, 500, settings(4, 500), interrupt).await;
        assert_eq!(report.stop, Some(Stop::Interrupted));
        let accepted = script.accepted().len();
        assert!((10..100).contains(&accepted), "{accepted} accepted");
        assert_eq!(report.sent as usize, accepted);
        assert_eq!(
            history.count(State::Sent),
            accepted,
            "every accepted one is journaled"
        );
    }
    /// Each address accepted by exactly one of the scripts, once.
    fn assert_each_once(scripts: &[&Arc<Script>], n: usize) {
        let mut all: Vec<String> = scripts.iter().flat_map(|s| s.accepted()).collect();
        all.sort();
        let total = all.len();
        all.dedup();
        assert_eq!(total, all.len(), "someone got it twice");
        assert_eq!(all.len(), n, "someone was lost");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relays_share_the_list_by_weight_and_the_journal_names_each() {
        let (a, b) = (Arc::new(Script::default()), Arc::new(Script::default()));
        let lanes = vec![
            Lane {
                weight: 3,
                ..lane("big", &a, 4)
            },
            lane("small", &b, 4),
        ];
        let (report, history) =
            run_lanes(lanes, 4000, settings(0, 4000).1, std::future::pending()).await;
        assert_eq!(report.stop, None);
        assert_eq!((a.accepted().len(), b.accepted().len()), (3000, 1000));
        assert_each_once(&[&a, &b], 4000);
        let by_relay = history.sent_by_relay();
        assert_eq!((by_relay["big"], by_relay["small"]), (3000, 1000));
        assert_eq!(
            report.relays.iter().map(|r| r.sent).collect::<Vec<_>>(),
            [3000, 1000]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_relay_that_refuses_the_login_hands_its_recipients_to_the_others() {
        let broken = Arc::new(Script {
            after: Some((100, Answer::Fatal)),
            ..Script::default()
        });
        let fine = Arc::new(Script::default());
        let lanes = vec![lane("broken", &broken, 4), lane("fine", &fine, 4)];
        let (report, history) =
            run_lanes(lanes, 1000, settings(0, 1000).1, std::future::pending()).await;
        assert_eq!(report.stop, None, "the other relay finished the list");
        assert_eq!(broken.accepted().len(), 100);
        assert_each_once(&[&broken, &fine], 1000);
        assert_eq!(history.count(State::Sent), 1000);
        assert!(
            report.relays[0]
                .out
                .as_deref()
                .is_some_and(|why| why.contains("refused the login")),
            "{:?}",
            report.relays[0]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_relay_that_fails_nearly_everything_is_taken_out_and_the_others_go_on() {
        let failing = Arc::new(Script {
            after: Some((0, Answer::TryLater)),
            ..Script::default()
        });
        let fine = Arc::new(Script::default());
        let lanes = vec![lane("failing", &failing, 2), lane("fine", &fine, 2)];
        let (report, history) =
            run_lanes(lanes, 300, settings(0, 300).1, std::future::pending()).await;
        assert_eq!(report.stop, None);
        // Those that ran out of attempts before the breaker tripped are
        // deferred (for the next run); everyone else went through the other.
        let deferred = history.count(State::Deferred);
        assert!(deferred < 10, "{deferred} deferred");
        assert_each_once(&[&failing, &fine], 300 - deferred);
        assert_eq!(history.count(State::Sent), 300 - deferred);
        assert!(report.relays[0].out.is_some(), "{:?}", report.relays[0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_every_relay_is_out_the_run_stops_naming_each() {
        let (a, b) = (
            Arc::new(Script {
                after: Some((10, Answer::Fatal)),
                ..Script::default()
            }),
            Arc::new(Script {
                after: Some((20, Answer::Fatal)),
                ..Script::default()
            }),
        );
        let lanes = vec![lane("a", &a, 2), lane("b", &b, 2)];
        let (report, history) =
            run_lanes(lanes, 500, settings(0, 500).1, std::future::pending()).await;
        let Some(Stop::Fatal(why)) = &report.stop else {
            panic!("{:?}", report.stop)
        };
        assert!(why.starts_with("no relay is left: a: "), "{why}");
        assert!(why.contains("; b: "), "{why}");
        assert_eq!(history.count(State::Sent), 30);
        assert_each_once(&[&a, &b], 30);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn quotas_stop_the_run_at_their_sum_and_never_past_one() {
        let (a, b) = (Arc::new(Script::default()), Arc::new(Script::default()));
        let lanes = vec![
            Lane {
                quota: Some(500),
                ..lane("a", &a, 4)
            },
            Lane {
                quota: Some(300),
                ..lane("b", &b, 4)
            },
        ];
        let (report, history) =
            run_lanes(lanes, 1500, settings(0, 1500).1, std::future::pending()).await;
        assert_eq!(report.stop, Some(Stop::Quota));
        assert_eq!((a.accepted().len(), b.accepted().len()), (500, 300));
        assert_eq!(history.count(State::Sent), 800);
        // A refusal does not use up the quota.
        let refusing = Script::new(&[("r0@example.org", &[Answer::Refuse])]);
        let lanes = vec![Lane {
            quota: Some(10),
            ..lane("a", &refusing, 1)
        }];
        let (report, _) = run_lanes(lanes, 20, settings(0, 20).1, std::future::pending()).await;
        assert_eq!((report.sent, report.failed), (10, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_relay_that_says_its_quota_is_used_up_gets_no_more_and_fails_no_reader() {
        let full = Arc::new(Script {
            after: Some((50, Answer::QuotaFull)),
            ..Script::default()
        });
        let other = Arc::new(Script::default());
        let lanes = vec![lane("full", &full, 2), lane("other", &other, 2)];
        let (report, history) =
            run_lanes(lanes, 400, settings(0, 400).1, std::future::pending()).await;
        assert_eq!(report.stop, None);
        assert_eq!(full.accepted().len(), 50);
        assert_each_once(&[&full, &other], 400);
        assert_eq!(history.count(State::Failed), 0);
        assert_eq!(report.relays[0].out.as_deref(), Some("at its daily limit"));
        // Alone, it stops the run at the quota; nobody is failed.
        let full = Arc::new(Script {
            after: Some((30, Answer::QuotaFull)),
            ..Script::default()
        });
        let (report, history) = run_lanes(
            vec![lane("full", &full, 2)],
            100,
            settings(0, 100).1,
            std::future::pending(),
        )
        .await;
        assert_eq!(report.stop, Some(Stop::Quota));
        assert_eq!(
            (history.count(State::Sent), history.count(State::Failed)),
            (30, 0)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_trips_only_when_nearly_everything_fails() {
        let mut b = Breaker::default();
        // One failure in ten never trips it.
        for i in 0..200 {
            assert_eq!(b.push(i % 10 != 0, "451"), None);
        }
        let mut b = Breaker::default();
        let mut tripped = None;
        for _ in 0..BREAKER_MIN {
            tripped = tripped.or(b.push(false, "535 bad credentials"));
        }
        let summary = tripped.expect("trips after the minimum number of attempts");
        assert!(summary.contains("20 of the last 20"), "{summary}");
        assert!(summary.contains("535 bad credentials"));
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 1..=20 {
            let d = backoff(attempt);
            let exp = RETRY_BASE
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(RETRY_CAP);
            assert!(
                d >= exp.mul_f64(0.5) && d <= exp.mul_f64(1.5),
                "{attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn throttle_pauses_grow_and_calm_down() {
        let mut t = Throttle::default();
        t.hit();
        let first = t.until;
        t.hit();
        assert!(t.until > first);
        assert_eq!(t.level, 2);
        for _ in 0..10 {
            t.calm();
        }
        assert_eq!(t.level, 0);
    }
}
