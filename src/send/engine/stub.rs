//! A scripted, in-process [`Deliver`](crate::send::transport::Deliver): for
//! each address, what the "server" answers attempt after attempt (past the
//! script, it accepts), so the engine's behaviour is tested in
//! milliseconds. The real-server tests in `tests/` remain the proof against
//! real SMTP.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::compose::{Issue, LoadedIssue, Templates, render};
use crate::list::reader::{Reader, Row, Subscriber};
use crate::project::{Config, Project};
use crate::send::message::{Letterhead, Transfer};
use crate::send::transport::{Deliver, DeliverError, Failure, Fatal, Formatted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
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
    /// This server offers no 8BITMIME (though the relay's last did): an
    /// 8-bit message is refused for 7-bit, a 7-bit one accepted.
    SevenBitOnly,
}

/// The script, and what happened.
#[derive(Default)]
pub(super) struct Script {
    pub answers: HashMap<String, Vec<Answer>>,
    /// Each attempt: address and when.
    pub attempts: Mutex<Vec<(String, Instant)>>,
    /// The addresses accepted, in order.
    pub accepted: Mutex<Vec<String>>,
    /// How long each answer takes.
    pub delay: Duration,
    /// Once this many are accepted, every attempt gets this answer.
    pub after: Option<(usize, Answer)>,
    /// The relay offers 8BITMIME (until a server says it does not).
    pub eight_bit: AtomicBool,
    /// The accepted messages that were 8-bit.
    pub eight_bit_accepted: Mutex<Vec<String>>,
}

impl Script {
    pub(super) fn new(answers: &[(&str, &[Answer])]) -> Arc<Script> {
        Arc::new(Script {
            answers: answers
                .iter()
                .map(|(a, list)| ((*a).to_string(), list.to_vec()))
                .collect(),
            ..Script::default()
        })
    }

    pub(super) fn attempts_of(&self, address: &str) -> usize {
        let attempts = self.attempts.lock().unwrap();
        attempts.iter().filter(|(a, _)| a == address).count()
    }

    pub(super) fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

pub(super) struct Stub(pub Arc<Script>);

impl Deliver for Stub {
    async fn deliver(&mut self, message: &Formatted) -> Result<String, DeliverError> {
        let bytes = &message.bytes;
        let to = message.envelope.to()[0].to_string();
        let n = {
            let mut attempts = self.0.attempts.lock().unwrap();
            attempts.push((to.clone(), Instant::now()));
            attempts.iter().filter(|(a, _)| *a == to).count()
        };
        if !self.0.delay.is_zero() {
            tokio::time::sleep(self.0.delay).await;
        }
        // Decided and, if accepted, counted under one lock: two links
        // never both take the last place before `after` turns.
        let mut accepted = self.0.accepted.lock().unwrap();
        let turned = self
            .0
            .after
            .filter(|(k, _)| accepted.len() >= *k)
            .map(|(_, answer)| answer);
        let answer = turned.unwrap_or_else(|| {
            self.0
                .answers
                .get(&to)
                .and_then(|list| list.get(n - 1))
                .copied()
                .unwrap_or(Answer::Accept)
        });
        if answer == Answer::Accept || answer == Answer::SevenBitOnly && bytes.is_ascii() {
            if !bytes.is_ascii() {
                self.0.eight_bit_accepted.lock().unwrap().push(to.clone());
            }
            accepted.push(to);
            return Ok("250 2.0.0 queued".into());
        }
        drop(accepted);
        let failed = |f| Err(DeliverError::Failed(f));
        match answer {
            Answer::Accept => unreachable!("accepted above"),
            Answer::SevenBitOnly => {
                self.0.eight_bit.store(false, Ordering::Relaxed);
                failed(Failure::Transient {
                    reply: "the server does not offer 8BITMIME".into(),
                    throttle: false,
                })
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

    async fn carries(&mut self) -> Transfer {
        if self.0.eight_bit.load(Ordering::Relaxed) {
            Transfer::EightBit
        } else {
            Transfer::SevenBit
        }
    }

    async fn close(&mut self) {}
}

/// The parts shared by every message of a small issue.
pub(super) fn letterhead() -> Arc<Letterhead> {
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
    // Not ASCII: the message is 8-bit where the relay carries it.
    let text = "subject = \"Hi — there\"\ndate = 2026-11-27\n";
    let issue = LoadedIssue {
        path: "i.toml".into(),
        text: text.into(),
        issue: Issue::parse(text, Path::new("i.toml")).unwrap(),
    };
    let templates = Templates::load(Path::new("/nonexistent")).unwrap();
    let rendered = render(&issue, &project, &templates).unwrap();
    Arc::new(Letterhead::new(&project.config, &project.root, "i", "Hi", &rendered, None).unwrap())
}

/// Subscribers `r0@example.org` … .
pub(super) fn readers(n: usize) -> Vec<Subscriber> {
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
