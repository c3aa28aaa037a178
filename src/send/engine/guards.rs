//! What keeps a run from hammering a relay: the retry delays (shared with
//! the background mailer), the throttle that slowing replies lengthen, and
//! the circuit breaker that watches the latest attempts.

use std::collections::VecDeque;
use std::time::Duration;

// tokio's clock, so that the engine's timing is tested on a paused clock.
use tokio::time::Instant;

/// How many of the latest attempts the circuit breaker looks at.
pub(crate) const BREAKER_WINDOW: usize = 50;
/// It only judges once this many attempts are in the window.
pub(crate) const BREAKER_MIN: usize = 20;
/// It takes the relay out when at least this share of them failed.
pub(crate) const BREAKER_RATIO: f64 = 0.8;
/// First retry delay; doubled each attempt, with jitter, up to the cap.
pub(crate) const RETRY_BASE: Duration = Duration::from_millis(100);
pub(crate) const RETRY_CAP: Duration = Duration::from_secs(30);
/// First pause after a throttling reply; doubled for each one in a row.
pub(crate) const THROTTLE_BASE: Duration = Duration::from_millis(50);
/// How long a relay taken out stays out before it is tried again.
pub(crate) const COOL_OFF: Duration = Duration::from_mins(5);

/// What tripped a relay's breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tripped {
    /// Failed attempts among the last `attempts`.
    pub failed: usize,
    pub attempts: usize,
    /// The server's last reply.
    pub reply: String,
}

/// The delay before attempt `attempt + 1` of a message: `first`, doubled
/// for each attempt before, up to `cap`, with ±50% jitter so that many
/// retries do not come back at once. The engine retries within a run
/// ([`RETRY_BASE`], [`RETRY_CAP`]); the background mailer over a day.
pub(crate) fn backoff(attempt: u32, first: Duration, cap: Duration) -> Duration {
    let exp = first
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(cap);
    exp.mul_f64(0.5 + fastrand::f64())
}

/// A shared pause that throttling replies lengthen and successes shorten.
#[derive(Debug)]
pub(super) struct Throttle {
    pub(super) until: Instant,
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
    pub(super) fn hit(&mut self) {
        self.level = (self.level + 1).min(10);
        self.calm = 0;
        let pause = THROTTLE_BASE.saturating_mul(1 << (self.level - 1));
        self.until = self.until.max(Instant::now() + pause);
    }

    pub(super) fn calm(&mut self) {
        self.calm += 1;
        if self.calm >= 5 && self.level > 0 {
            self.level -= 1;
            self.calm = 0;
        }
    }
}

/// Watches the latest attempts; trips when nearly all of them failed.
#[derive(Debug, Default)]
pub(super) struct Breaker {
    window: VecDeque<bool>,
}

impl Breaker {
    /// Adds an attempt; returns a summary when the breaker trips.
    pub(super) fn push(&mut self, ok: bool, reply: &str) -> Option<Tripped> {
        if self.window.len() == BREAKER_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ok);
        let failed = self.window.iter().filter(|ok| !**ok).count();
        let n = self.window.len();
        (!ok && n >= BREAKER_MIN && failed as f64 >= BREAKER_RATIO * n as f64).then(|| Tripped {
            failed,
            attempts: n,
            reply: reply.to_string(),
        })
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
        assert_eq!((summary.failed, summary.attempts), (20, 20));
        assert_eq!(summary.reply, "535 bad credentials");
        let said = super::super::Trip::Refusing(summary).to_string();
        assert!(
            said.starts_with("20 of the last 20 attempts failed"),
            "{said}"
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 1..=20 {
            let d = backoff(attempt, RETRY_BASE, RETRY_CAP);
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
