//! The dispatch engine: `concurrency` workers on tokio, each with its own
//! reused connection, fed from the subscriber stream; a shared token bucket
//! caps the rate, throttling replies slow everyone down, transient failures
//! are retried with backoff and jitter, every outcome is journaled as it
//! happens, and a server that fails nearly everything stops the run.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

use super::transport::{DeliverError, Failure, Link, Transport};
use crate::journal::{Entry, Journal};
use crate::message::Letterhead;
use crate::subscribers::Subscriber;

/// How many of the latest attempts the circuit breaker looks at.
const BREAKER_WINDOW: usize = 50;
/// It only judges once this many attempts are in the window.
const BREAKER_MIN: usize = 20;
/// It stops the run when at least this share of them failed.
const BREAKER_RATIO: f64 = 0.8;
/// First retry delay; doubled each attempt, with jitter, up to the cap.
const RETRY_BASE: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(30);
/// First pause after a throttling reply; doubled for each one in a row.
const THROTTLE_BASE: Duration = Duration::from_millis(50);

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: usize,
    /// Messages per second across all workers.
    pub rate: Option<f64>,
    /// The journal is synced at least once per this many outcomes.
    pub batch_size: usize,
    pub max_attempts: u32,
    /// The number of recipients expected, for the progress display.
    pub total: u64,
}

/// Why a run ended before the list did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// The server or the outbox cannot be used, or the journal cannot be written.
    Fatal(String),
    /// Most recent attempts failed.
    Breaker(String),
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
}

struct Shared {
    letterhead: Arc<Letterhead>,
    journal: Option<Arc<Journal>>,
    settings: Settings,
    limiter: Option<DefaultDirectRateLimiter>,
    stopping: AtomicBool,
    stop: Mutex<Option<Stop>>,
    throttle: Mutex<Throttle>,
    breaker: Mutex<Breaker>,
    sent: AtomicU64,
    failed: AtomicU64,
    deferred: AtomicU64,
    unknown: AtomicU64,
    attempts: AtomicU64,
    unbuildable: Mutex<Vec<Unbuildable>>,
}

impl Shared {
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
}

/// Sends `recipients` (a stream, read on a thread of its own) and returns
/// what happened. Stops early on Ctrl-C, a fatal error or the breaker.
pub async fn run(
    recipients: Box<dyn Iterator<Item = Subscriber> + Send>,
    letterhead: Arc<Letterhead>,
    transport: Transport,
    journal: Option<Arc<Journal>>,
    settings: Settings,
) -> Report {
    let started = Instant::now();
    let limiter = settings.rate.map(|rate| {
        let period = Duration::from_secs_f64(1.0 / rate);
        let quota = Quota::with_period(period)
            .expect("a positive rate gives a positive period")
            .allow_burst(NonZeroU32::MIN);
        RateLimiter::direct(quota)
    });
    let shared = Arc::new(Shared {
        letterhead,
        journal,
        limiter,
        stopping: AtomicBool::new(false),
        stop: Mutex::new(None),
        throttle: Mutex::new(Throttle::default()),
        breaker: Mutex::new(Breaker::default()),
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
    let (tx, rx) = mpsc::channel::<Subscriber>(shared.settings.concurrency * 2);
    let producer_shared = Arc::clone(&shared);
    let producer = tokio::task::spawn_blocking(move || {
        for subscriber in recipients {
            if producer_shared.stopping() || tx.blocking_send(subscriber).is_err() {
                break;
            }
        }
    });

    let interrupt_shared = Arc::clone(&shared);
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping: letting the messages in flight finish…");
            interrupt_shared.halt(Stop::Interrupted);
        }
    });

    let progress = Progress::start(Arc::clone(&shared));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..shared.settings.concurrency)
        .map(|_| {
            let shared = Arc::clone(&shared);
            let rx = Arc::clone(&rx);
            let mut link = Link::new(transport.clone());
            tokio::spawn(async move {
                loop {
                    if shared.stopping() {
                        break;
                    }
                    let next = rx.lock().await.recv().await;
                    let Some(subscriber) = next else { break };
                    if shared.stopping() {
                        break;
                    }
                    deliver(&shared, &mut link, subscriber).await;
                }
                link.close().await;
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    drop(rx);
    let _ = producer.await;
    interrupt.abort();
    progress.finish().await;

    if let Some(journal) = &shared.journal {
        let journal = Arc::clone(journal);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || journal.sync()).await {
            shared.halt(Stop::Fatal(format!("{e:#}")));
        }
    }
    Report {
        sent: shared.sent.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        deferred: shared.deferred.load(Ordering::Relaxed),
        unknown: shared.unknown.load(Ordering::Relaxed),
        unbuildable: std::mem::take(&mut *shared.unbuildable.lock().expect("lock")),
        attempts: shared.attempts.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        stop: shared.stop.lock().expect("stop lock").clone(),
    }
}

/// Tries one recipient until it is sent, refused, out of attempts, or the
/// run stops (then it stays pending for the next run).
async fn deliver(shared: &Shared, link: &mut Link, subscriber: Subscriber) {
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
            return;
        }
    };
    for attempt in 1..=shared.settings.max_attempts {
        let pause = shared.throttle.lock().expect("throttle lock").until;
        tokio::time::sleep_until(pause.into()).await;
        if let Some(limiter) = &shared.limiter {
            limiter.until_ready().await;
        }
        if attempt > 1 && shared.stopping() {
            return;
        }
        shared.attempts.fetch_add(1, Ordering::Relaxed);
        match link.deliver(&message).await {
            Ok(reply) => {
                shared
                    .breaker
                    .lock()
                    .expect("breaker lock")
                    .push(true, &reply);
                shared.throttle.lock().expect("throttle lock").calm();
                shared.record(Entry::sent(email, reply)).await;
                return;
            }
            Err(DeliverError::Fatal(fatal)) => {
                shared.halt(Stop::Fatal(fatal.0));
                return;
            }
            Err(DeliverError::Failed(failure)) => {
                let tripped = shared
                    .breaker
                    .lock()
                    .expect("breaker lock")
                    .push(false, failure.reply());
                if let Some(summary) = tripped {
                    shared.halt(Stop::Breaker(summary));
                }
                match failure {
                    Failure::Permanent(reply) => {
                        shared.record(Entry::failed(email, reply)).await;
                        return;
                    }
                    Failure::Unknown(reply) => {
                        shared.record(Entry::unknown(email, reply)).await;
                        return;
                    }
                    Failure::Transient { throttle: true, .. } => {
                        shared.throttle.lock().expect("throttle lock").hit();
                    }
                    Failure::Transient { .. } | Failure::Network(_) => {}
                }
                if attempt == shared.settings.max_attempts {
                    let reply = format!("gave up after {attempt} attempts: {}", failure.reply());
                    shared.record(Entry::deferred(email, reply)).await;
                    return;
                }
                if shared.stopping() {
                    return;
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
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

/// A progress bar on a terminal, a log line every few seconds otherwise.
struct Progress {
    task: tokio::task::JoinHandle<()>,
    done: Arc<tokio::sync::Notify>,
}

impl Progress {
    fn start(shared: Arc<Shared>) -> Progress {
        let done = Arc::new(tokio::sync::Notify::new());
        let finished = Arc::clone(&done);
        let task = tokio::spawn(async move {
            let total = shared.settings.total;
            let started = Instant::now();
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = indicatif::ProgressBar::new(total);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} {msg} · ETA {eta}",
                    )
                    .expect("a valid template"),
                );
                bar
            });
            let every = Duration::from_millis(if bar.is_some() { 200 } else { 5000 });
            let mut interval = tokio::time::interval_at((Instant::now() + every).into(), every);
            loop {
                let stop = tokio::select! {
                    _ = interval.tick() => false,
                    _ = finished.notified() => true,
                };
                let sent = shared.sent.load(Ordering::Relaxed);
                let failed = shared.failed.load(Ordering::Relaxed)
                    + shared.deferred.load(Ordering::Relaxed)
                    + shared.unknown.load(Ordering::Relaxed);
                let rate = sent as f64 / started.elapsed().as_secs_f64().max(0.001);
                match &bar {
                    Some(bar) if stop => bar.finish_and_clear(),
                    Some(bar) => {
                        bar.set_position(sent + failed);
                        bar.set_message(format!("sent {sent}, failed {failed}, {rate:.0} msg/s"));
                    }
                    None if !stop => eprintln!(
                        "progress: {}/{total} done (sent {sent}, failed {failed}), {rate:.0} msg/s",
                        sent + failed
                    ),
                    None => {}
                }
                if stop {
                    return;
                }
            }
        });
        Progress { task, done }
    }

    async fn finish(self) {
        self.done.notify_one();
        let _ = self.task.await;
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
