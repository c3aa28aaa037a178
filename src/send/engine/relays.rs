//! The relays of a run: each with its links, rate, quota, throttle and
//! breaker; which one takes the next recipient (smooth weighted
//! round-robin among those in service with quota left); and taking one out
//! for a cool-off when it cannot be used or refuses nearly everything.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock, so that the engine's timing is tested on a paused clock.
use tokio::time::Instant;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use super::guards::{Breaker, COOL_OFF, Throttle, Tripped};
use super::{Lane, RelayProgress, Shared, Stop};
use crate::send::transport::Deliver;

/// Why a relay was taken out of the rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trip {
    /// It cannot be used (login, TLS, the outbox): what it said.
    Unusable(String),
    /// It refused nearly everything lately.
    Refusing(Tripped),
}

impl std::fmt::Display for Trip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trip::Unusable(why) => f.write_str(why),
            Trip::Refusing(t) => write!(
                f,
                "{} of the last {} attempts failed; the server's last reply: {}",
                t.failed, t.attempts, t.reply
            ),
        }
    }
}

pub(super) struct Relay<L> {
    pub(super) name: String,
    pub(super) make: Box<dyn Fn() -> L + Send + Sync>,
    pub(super) concurrency: usize,
    pub(super) weight: i64,
    pub(super) limiter: Option<DefaultDirectRateLimiter>,
    /// Links open and not in use.
    pub(super) idle: Mutex<Vec<L>>,
    /// One permit per link in use; closed (and replaced after the
    /// cool-off) when the relay is taken out.
    pub(super) permits: Mutex<Arc<Semaphore>>,
    pub(super) throttle: Mutex<Throttle>,
    pub(super) breaker: Mutex<Breaker>,
    /// Taken out until then, and why.
    pub(super) out: Mutex<Option<(Instant, Trip)>>,
    pub(super) quota: Option<u64>,
    /// Messages counted against the quota: sent, no final reply, or in flight.
    pub(super) taken: AtomicU64,
    /// The relay said its quota is used up, whatever the count here.
    pub(super) exhausted: AtomicBool,
    pub(super) sent: AtomicU64,
}

impl<L> Relay<L> {
    pub(super) fn new(lane: Lane<L>) -> Relay<L> {
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
    pub(super) fn in_service(&self, now: Instant) -> bool {
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

    pub(super) fn is_out(&self) -> bool {
        self.out.lock().expect("relay lock").is_some()
    }

    pub(super) fn has_quota(&self) -> bool {
        !self.exhausted.load(Ordering::SeqCst)
            && self
                .quota
                .is_none_or(|q| self.taken.load(Ordering::SeqCst) < q)
    }

    pub(super) fn release(&self) {
        self.taken.fetch_sub(1, Ordering::SeqCst);
    }

    /// The relay's own count says it is full: no more for it in this run,
    /// and the reader goes to another (or a later run).
    pub(super) fn used_up(&self, reply: &str) -> super::End {
        if !self.exhausted.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                relay = %self.name,
                reply = %crate::list::address::mask_addresses(reply),
                "relay says its quota is used up"
            );
        }
        super::End::HandBack
    }

    /// What a progress line says of it.
    pub(super) fn progress(&self, seconds: f64) -> RelayProgress {
        let sent = self.sent.load(Ordering::Relaxed);
        let out = match &*self.out.lock().expect("relay lock") {
            Some((_, trip)) => Some(trip.to_string()),
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

pub(super) fn limiter(rate: f64) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / rate);
    let quota = Quota::with_period(period)
        .expect("a positive rate gives a positive period")
        .allow_burst(NonZeroU32::MIN);
    RateLimiter::direct(quota)
}

/// What the dispatcher does with the next recipient.
pub(super) enum Choice {
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
    /// Picks the relay for the next recipient: of those in service with
    /// quota left, by smooth weighted round-robin (`turns` carries its
    /// state), and counts the recipient against its quota.
    pub(super) fn choose(&self, turns: &mut [i64], in_flight: usize) -> Choice {
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
        let trips: Vec<(String, Trip)> = self
            .relays
            .iter()
            .filter(|r| r.has_quota())
            .filter_map(|r| {
                let out = r.out.lock().expect("relay lock");
                out.as_ref().map(|(_, trip)| (r.name.clone(), trip.clone()))
            })
            .collect();
        if trips.is_empty() {
            Choice::Quota
        } else if self.relays.len() == 1 {
            Choice::Broken(Stop::Relay(trips.into_iter().next().expect("one").1))
        } else {
            Choice::Broken(Stop::NoRelayLeft(trips))
        }
    }

    /// Takes relay `i` out of the rotation for the cool-off: no new
    /// recipient goes to it, the dispatcher stops waiting for it, and its
    /// idle links are closed.
    pub(super) async fn take_out(&self, i: usize, trip: Trip) {
        let relay = &self.relays[i];
        {
            let mut out = relay.out.lock().expect("relay lock");
            if out.is_some() {
                return;
            }
            tracing::warn!(
                relay = %relay.name,
                reason = %crate::list::address::mask_addresses(&trip.to_string()),
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
}
