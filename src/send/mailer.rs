//! Single messages, in the background, that must not be lost: what
//! `missive serve` sends (confirmation emails, welcome messages) is written
//! to the [`spool`] before anyone is told it is on its way, then delivered
//! by a few tasks, each over its own link of the relay: a temporary failure
//! is tried again after the engine's growing, jittered waits (for a day at
//! most; `Unknown` journaled as unknown, a quota reply waited out), a
//! relay at its `daily_limit` is waited for, and every outcome is journaled
//! under the relay's name (so it counts against that limit). A message
//! leaves the spool only once the relay took it or refused it for good;
//! [`Mailer::drain`] finishes what is ready when the server stops, and the
//! rest is sent when it starts again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use lettre::Message;
use tokio::sync::{mpsc, watch};

use super::journal::{self, Journal, Outcome, State};
use super::quota::Usage;
use super::spool::{self, Spooled};
use super::transport::{Deliver, DeliverError, Failure, Formatted, Relay, Transport};
use crate::list::address::mask_addresses;

/// The first wait after a temporary failure; each next one twice as long,
/// up to [`LONGEST_WAIT`], jittered as the engine's retries are.
const FIRST_WAIT: Duration = Duration::from_secs(2);
const LONGEST_WAIT: Duration = Duration::from_mins(10);
/// How long a message is tried before it is given up (a confirmation link
/// has expired by then anyway).
const GIVE_UP: Duration = Duration::from_hours(24);

/// A message to send, and the journal its outcome goes to: an issue's
/// stem, or [`SIGNUP_JOURNAL`].
pub(crate) struct Outgoing {
    pub message: Message,
    /// The lower-cased recipient, for the journal and reports.
    pub email: String,
    pub journal: String,
}

/// The journal of confirmation emails (`.missive/signup.journal`).
pub(crate) const SIGNUP_JOURNAL: &str = "signup";

/// The queue's sending end.
#[derive(Clone)]
pub(crate) struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::UnboundedSender<PathBuf>,
    spool: PathBuf,
    closing: watch::Sender<bool>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What the workers share.
struct Shared {
    relay: Arc<str>,
    state_dir: PathBuf,
    daily_limit: Option<u64>,
    /// The relay's use in the last day (kept up with the journals), and
    /// how many messages are on their way now.
    quota: Mutex<(Option<Usage>, u64)>,
    journals: Mutex<HashMap<String, Arc<Journal>>>,
    /// Tries so far of each message that met a temporary failure.
    tries: Mutex<HashMap<PathBuf, u32>>,
    on_problem: Arc<dyn Fn(&str) + Send + Sync>,
    queue: mpsc::UnboundedSender<PathBuf>,
    closing: watch::Receiver<bool>,
}

impl Mailer {
    /// Starts `workers` sending tasks (on the current tokio runtime), one
    /// link to `relay` each, and queues what an earlier run left in the
    /// spool of `state_dir`; `on_problem` hears of each message that could
    /// not be sent (its address masked).
    pub(crate) fn start(
        relay: &Relay,
        state_dir: &Path,
        workers: usize,
        on_problem: &Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Mailer {
        let (queue, waiting) = mpsc::unbounded_channel::<PathBuf>();
        let waiting = Arc::new(tokio::sync::Mutex::new(waiting));
        let (closing, closing_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            relay: relay.name.as_str().into(),
            state_dir: state_dir.to_path_buf(),
            daily_limit: relay.daily_limit,
            quota: Mutex::new((None, 0)),
            journals: Mutex::new(HashMap::new()),
            tries: Mutex::new(HashMap::new()),
            on_problem: Arc::clone(on_problem),
            queue: queue.clone(),
            closing: closing_rx,
        });
        let spool_dir = spool::dir(state_dir);
        for left in spool::waiting(&spool_dir, |e| on_problem(&format!("{e:#}"))) {
            let _ = queue.send(left.path);
        }
        let handles = (0..workers.max(1))
            .map(|_| {
                tokio::spawn(work(
                    relay.transport.clone(),
                    Arc::clone(&shared),
                    Arc::clone(&waiting),
                ))
            })
            .collect();
        Mailer {
            inner: Arc::new(Inner {
                queue,
                spool: spool_dir,
                closing,
                workers: Mutex::new(handles),
            }),
        }
    }

    /// Writes the message to the spool (synced: blocking I/O, so call it
    /// off the async threads) and queues it.
    pub(crate) fn send(&self, out: &Outgoing) -> Result<()> {
        let spooled = spool::put(&self.inner.spool, &out.message, &out.email, &out.journal)?;
        // The workers are gone only when the server stops; the message
        // waits in the spool for its next start.
        let _ = self.inner.queue.send(spooled.path);
        Ok(())
    }

    /// Stops taking messages, sends what is ready within `within`, and
    /// leaves the rest in the spool for the next start.
    pub(crate) async fn drain(&self, within: Duration) {
        let _ = self.inner.closing.send(true);
        let handles: Vec<_> = std::mem::take(&mut *self.inner.workers.lock().expect("workers"));
        let all = join_all(handles);
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!(
                "stopped with mail still on its way: it stays in the spool and goes at the next start"
            );
        }
    }
}

/// Waits for every task (a panic in one is already reported by tokio).
async fn join_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

/// One sending task: takes the next message off the queue, waits for the
/// relay's quota, delivers it, journals it; when the server stops, it
/// sends what is ready and ends.
async fn work(
    transport: Transport,
    shared: Arc<Shared>,
    waiting: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<PathBuf>>>,
) {
    let mut link = transport.link();
    let mut closing = shared.closing.clone();
    loop {
        let next = {
            let mut queue = waiting.lock().await;
            match queue.try_recv() {
                Ok(path) => Some(path),
                Err(_) if *closing.borrow() => None,
                Err(_) => {
                    // Nothing waiting: let go of the connection rather than
                    // keep it idle until the relay drops it.
                    link.close().await;
                    tokio::select! {
                        next = queue.recv() => next,
                        _ = closing.changed() => queue.try_recv().ok(),
                    }
                }
            }
        };
        let Some(path) = next else { break };
        let spooled = match tokio::task::spawn_blocking(move || spool::read(&path)).await {
            Ok(Ok(spooled)) => spooled,
            Ok(Err(e)) => {
                (shared.on_problem)(&format!("{e:#}"));
                continue;
            }
            Err(_) => continue,
        };
        if !shared.reserve(&mut closing).await {
            continue; // stopping: it stays in the spool
        }
        let message = Formatted::raw(spooled.envelope.clone(), spooled.bytes.clone().into());
        let outcome = link.deliver(&message).await;
        shared.release();
        match outcome {
            Ok(reply) => {
                shared.finish(
                    &spooled,
                    &Outcome::new(State::Sent, spooled.meta.email.clone(), reply)
                        .via(&shared.relay),
                );
            }
            Err(e) => {
                // A new connection for the next message.
                link.close().await;
                link = transport.link();
                shared.failed(spooled, &e);
            }
        }
    }
    link.close().await;
}

impl Shared {
    /// Waits until the relay's daily limit leaves room for one more
    /// message and counts it as on its way; false if the server stops
    /// first.
    async fn reserve(&self, closing: &mut watch::Receiver<bool>) -> bool {
        let Some(limit) = self.daily_limit else {
            return true;
        };
        loop {
            let frees_at = tokio::task::block_in_place(|| {
                let mut quota = self.quota.lock().expect("quota");
                let (usage, on_way) = &mut *quota;
                let refreshed = match usage.take() {
                    None => Usage::load(&self.state_dir),
                    Some(mut usage) => usage.refresh(&self.state_dir).map(|()| usage),
                };
                let usage = match refreshed {
                    Ok(loaded) => usage.insert(loaded),
                    Err(e) => {
                        (self.on_problem)(&format!("{e:#}"));
                        return None;
                    }
                };
                if usage.used(&self.relay) + *on_way < limit {
                    *on_way += 1;
                    None
                } else {
                    Some(usage.frees_at(&self.relay, limit, *on_way + 1))
                }
            });
            let Some(at) = frees_at else { return true };
            let wait = (at - time::OffsetDateTime::now_utc())
                .try_into()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(200), Duration::from_mins(1));
            tracing::info!(
                relay = %self.relay,
                limit,
                "sign-up mail waits for the relay's daily limit"
            );
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = closing.changed() => return false,
            }
        }
    }

    /// A message is no longer on its way (it went, or it did not).
    fn release(&self) {
        if self.daily_limit.is_some() {
            let mut quota = self.quota.lock().expect("quota");
            quota.1 = quota.1.saturating_sub(1);
        }
    }

    /// Journals the outcome and takes the message out of the spool.
    fn finish(&self, spooled: &Spooled, outcome: &Outcome) {
        let journal = {
            let mut journals = self.journals.lock().expect("journals");
            if let Some(journal) = journals.get(&spooled.meta.journal) {
                Ok(Arc::clone(journal))
            } else {
                Journal::open(&journal::path_for(&self.state_dir, &spooled.meta.journal)).map(
                    |journal| {
                        let journal = Arc::new(journal);
                        journals.insert(spooled.meta.journal.clone(), Arc::clone(&journal));
                        journal
                    },
                )
            }
        };
        let recorded =
            journal.and_then(|j| j.record(&outcome.clone().into()).and_then(|()| j.sync()));
        if let Err(e) = recorded.and_then(|()| spool::remove(spooled)) {
            (self.on_problem)(&format!("{e:#}"));
        }
        self.tries.lock().expect("tries").remove(&spooled.path);
    }

    /// A delivery failed: a temporary failure is tried again later (until
    /// [`GIVE_UP`]); anything else is journaled and the message dropped.
    fn failed(&self, spooled: Spooled, error: &DeliverError) {
        let reply = error.to_string();
        let age = (time::OffsetDateTime::now_utc() - spooled.meta.queued)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let temporary = matches!(
            error,
            DeliverError::Failed(
                Failure::Transient { .. } | Failure::Network(_) | Failure::Quota(_)
            ) | DeliverError::Fatal(_)
        );
        if temporary && age < GIVE_UP {
            let tries = {
                let mut tries = self.tries.lock().expect("tries");
                let n = tries.entry(spooled.path.clone()).or_default();
                *n += 1;
                *n
            };
            let wait = super::engine::backoff(tries, FIRST_WAIT, LONGEST_WAIT);
            tracing::info!(
                address = %crate::list::address::masked(&spooled.meta.email),
                reply = %mask_addresses(&reply),
                retry_in_secs = wait.as_secs(),
                "sign-up mail deferred"
            );
            let (queue, mut closing) = (self.queue.clone(), self.closing.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(wait) => { let _ = queue.send(spooled.path); }
                    // Stopping: it stays in the spool for the next start.
                    _ = closing.changed() => {}
                }
            });
            return;
        }
        (self.on_problem)(&format!(
            "could not send to {}: {}",
            crate::list::address::masked(&spooled.meta.email),
            mask_addresses(&reply)
        ));
        let state = match error {
            DeliverError::Failed(Failure::Unknown(_)) => State::Unknown,
            _ => State::Failed,
        };
        let outcome = Outcome::new(state, spooled.meta.email.clone(), reply);
        self.finish(&spooled, &outcome.via(&self.relay));
    }
}
