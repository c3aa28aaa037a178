//! Single messages, in the background: what `missive serve` sends
//! (confirmation emails, welcome messages) goes into a queue that a few
//! tasks deliver, each over its own link of the configured transport,
//! retrying a temporary failure a few times and journaling each outcome
//! when asked to.

use std::sync::Arc;
use std::time::Duration;

use lettre::Message;
use tokio::sync::mpsc;

use super::journal::{Entry, Journal};
use super::transport::{Deliver, DeliverError, Failure, Relay, Transport};

/// How many messages may wait; more are refused (and reported) rather than
/// letting a flood of sign-ups take the server's memory.
const QUEUE: usize = 10_000;
/// Tries of a message that meets a temporary failure.
const ATTEMPTS: u32 = 3;

/// A message to send, and the journal its outcome goes to, if any.
pub struct Outgoing {
    pub message: Message,
    /// The lower-cased recipient, for the journal and reports.
    pub email: String,
    pub journal: Option<Arc<Journal>>,
}

/// The queue's sending end.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Outgoing>,
}

impl Mailer {
    /// Starts `workers` sending tasks (on the current tokio runtime), one
    /// link to `relay` each; `on_problem` hears of each message that could
    /// not be sent. Journaled outcomes name the relay, so they count
    /// against its daily limit.
    pub fn start(
        relay: &Relay,
        workers: usize,
        on_problem: &Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Mailer {
        let (queue, waiting) = mpsc::channel::<Outgoing>(QUEUE);
        let waiting = Arc::new(tokio::sync::Mutex::new(waiting));
        let name: Arc<str> = relay.name.as_str().into();
        for _ in 0..workers.max(1) {
            tokio::spawn(work(
                relay.transport.clone(),
                Arc::clone(&name),
                Arc::clone(&waiting),
                Arc::clone(on_problem),
            ));
        }
        Mailer { queue }
    }

    /// Queues a message; `false` when the queue is full.
    pub fn send(&self, out: Outgoing) -> bool {
        self.queue.try_send(out).is_ok()
    }
}

/// One sending task: takes the next message off the queue, delivers it,
/// journals it, until the queue closes.
async fn work(
    transport: Transport,
    relay: Arc<str>,
    waiting: Arc<tokio::sync::Mutex<mpsc::Receiver<Outgoing>>>,
    on_problem: Arc<dyn Fn(&str) + Send + Sync>,
) {
    let mut link = transport.link();
    loop {
        let next = waiting.lock().await.recv().await;
        let Some(out) = next else { break };
        let mut attempt = 1;
        let outcome = loop {
            match link.deliver(&out.message).await {
                Ok(reply) => break Ok(reply),
                Err(DeliverError::Failed(Failure::Transient { .. } | Failure::Network(_)))
                    if attempt < ATTEMPTS =>
                {
                    link.close().await;
                    link = transport.link();
                    tokio::time::sleep(Duration::from_secs(2 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    // A new connection for the next message.
                    link.close().await;
                    link = transport.link();
                    break Err(e.to_string());
                }
            }
        };
        let entry = match &outcome {
            Ok(reply) => Entry::sent(out.email.clone(), reply.clone()).via(&relay),
            Err(reply) => {
                on_problem(&format!("could not send to {}: {reply}", out.email));
                Entry::failed(out.email.clone(), reply.clone()).via(&relay)
            }
        };
        if let Some(journal) = &out.journal
            && let Err(e) = journal.record(&entry).and_then(|()| journal.sync())
        {
            on_problem(&format!("{e:#}"));
        }
    }
    link.close().await;
}
