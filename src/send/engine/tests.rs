//! The engine's behaviour against the scripted stub: retries, relays,
//! quotas, the breaker, interrupts and the journal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::guards::THROTTLE_BASE;
use super::stub::{Answer, Script, Stub, letterhead, readers};
use super::*;

/// A reporter that tells nobody.
pub(super) struct Silent;

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

/// A message built 8-bit for a relay that offered 8BITMIME, then refused
/// by a server of it that does not, is built again 7-bit and sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_8bitmime_gets_the_message_again_in_7_bits() {
    let script = Script::new(&[
        ("r0@example.org", &[Answer::SevenBitOnly; 2]),
        ("r1@example.org", &[Answer::SevenBitOnly; 2]),
    ]);
    script.eight_bit.store(true, Ordering::Relaxed);
    let (report, history) = run_stub(&script, 2, settings(1, 2), std::future::pending()).await;
    assert_eq!((report.sent, report.failed), (2, 0));
    assert_eq!(script.attempts_of("r0@example.org"), 2);
    assert_eq!(history.state("r0@example.org"), Some(State::Sent));
    // r0 went 7-bit the second time; r1, after the relay was known 7-bit, at once.
    assert!(script.eight_bit_accepted.lock().unwrap().is_empty());
    assert_eq!(script.attempts_of("r1@example.org"), 1);
}

/// On tokio's paused clock: the waits are exactly what the engine asked
/// for, however busy the machine.
#[tokio::test(start_paused = true)]
async fn retries_back_off() {
    let script = Script::new(&[("r0@example.org", &[Answer::TryLater; 3])]);
    let (report, _) = run_stub(&script, 1, settings(1, 1), std::future::pending()).await;
    assert_eq!(report.sent, 1);
    let attempts = script.attempts.lock().unwrap().clone();
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].1 - w[0].1).collect();
    // 100 ms, 200 ms, 400 ms, each with ±50% jitter.
    assert_eq!(gaps.len(), 3);
    for (i, gap) in gaps.iter().enumerate() {
        let exp = RETRY_BASE.saturating_mul(1 << i);
        assert!(
            *gap >= exp.mul_f64(0.5) && *gap <= exp.mul_f64(1.5),
            "retry {i} came after {gap:?}, not {exp:?} ± 50%"
        );
    }
}

#[tokio::test(start_paused = true)]
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
    // runs, whichever worker makes it (but one that had already passed
    // the check when the reply came, at the same instant).
    for (address, at) in &attempts {
        let after = at.saturating_duration_since(throttled);
        assert!(
            after.is_zero() || after >= THROTTLE_BASE,
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
    let (report, history) = run_stub(&script, 200, settings(4, 200), std::future::pending()).await;
    assert!(
        matches!(report.stop, Some(Stop::Relay(Trip::Refusing(_)))),
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
    let (report, history) = run_stub(&script, 600, settings(4, 600), std::future::pending()).await;
    assert_eq!(report.stop, None, "{:?}", report.stop);
    assert_eq!(report.sent, 400);
    assert_eq!(report.failed, 200);
    assert_eq!(history.count(State::Failed), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_stops_the_run() {
    let script = Script::new(&[("r3@example.org", &[Answer::Fatal])]);
    let (report, history) = run_stub(&script, 50, settings(1, 50), std::future::pending()).await;
    assert_eq!(
        report.stop,
        Some(Stop::Relay(Trip::Unusable(
            "stub:25 refused the login of smtp.username: 535 bad credentials".into()
        )))
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
    let (report, history) = run_lanes(lanes, 300, settings(0, 300).1, std::future::pending()).await;
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
    let (report, history) = run_lanes(lanes, 500, settings(0, 500).1, std::future::pending()).await;
    let Some(stop @ Stop::NoRelayLeft(trips)) = &report.stop else {
        panic!("{:?}", report.stop)
    };
    assert!(!stop.is_refusal());
    assert_eq!(trips.len(), 2);
    let why = stop.to_string();
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
    let (report, history) = run_lanes(lanes, 400, settings(0, 400).1, std::future::pending()).await;
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
