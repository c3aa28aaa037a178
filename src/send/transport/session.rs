//! Several messages in flight on one SMTP connection. A session is a task
//! that owns the connection; the engine's links to a relay ([`SmtpLink`]) share the
//! relay's sessions (at most its `concurrency` connections, up to
//! [`DEPTH`] messages each). With CHUNKING each message goes out as soon as
//! it is handed over, envelope and `BDAT … LAST` in one write, while the
//! replies to those before it are still on their way; with PIPELINING the
//! next message's MAIL, RCPT and DATA go out right behind the end of the
//! one before (RFC 2920 §3.2). Replies are read in the order the commands
//! went, and each message's outcome is decided by its own replies only: a
//! reader counts as sent on the 250 to their own message. A server that
//! offers neither, or one that answered out of turn, is spoken to one
//! message at a time, command by command.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lettre::transport::smtp::commands::Rcpt;
use tokio::sync::{mpsc, oneshot};

use super::connection::{Connection, Reply};
use super::smtp::{
    Offers, SmtpSettings, code, connect, dot_stuffed, international, mail_command, positive,
    reply_text, transmit,
};
use super::{Deliver, DeliverError, Failure, Formatted};
use crate::send::message::Transfer;

/// How many messages one connection carries at once.
pub(crate) const DEPTH: usize = 4;

/// One message handed to a session, and where its outcome goes.
struct Job {
    message: Formatted,
    done: oneshot::Sender<Result<String, DeliverError>>,
}

enum Order {
    Send(Job),
    /// Open the connection if it is not, then tell.
    Connect(oneshot::Sender<()>),
    /// Say QUIT now (the last link let go), then tell.
    Quit(oneshot::Sender<()>),
}

/// A link's end of a session.
pub(crate) struct Handle {
    orders: mpsc::UnboundedSender<Order>,
}

impl Handle {
    /// Sends a message over the session's connection; its own outcome.
    pub(crate) async fn deliver(&self, message: Formatted) -> Result<String, DeliverError> {
        let (done, outcome) = oneshot::channel();
        let job = Job { message, done };
        if self.orders.send(Order::Send(job)).is_err() {
            return Err(DeliverError::Failed(Failure::Network(
                "the connection's task is gone".into(),
            )));
        }
        outcome.await.unwrap_or_else(|_| {
            Err(DeliverError::Failed(Failure::Network(
                "the connection's task is gone".into(),
            )))
        })
    }

    /// Opens the session's connection if it is not open (what its server
    /// offers is then known); a failure is left for the next message.
    pub(crate) async fn connect(&self) {
        let (told, opened) = oneshot::channel();
        if self.orders.send(Order::Connect(told)).is_ok() {
            let _ = opened.await;
        }
    }

    /// Closes the connection politely once no link uses it any more.
    pub(crate) async fn close(self: Arc<Self>) {
        if Arc::strong_count(&self) == 1 {
            let (told, quit) = oneshot::channel();
            if self.orders.send(Order::Quit(told)).is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(3), quit).await;
            }
        }
    }
}

/// The sessions of one relay.
pub(crate) struct Pool {
    sessions: Mutex<Vec<Weak<Handle>>>,
    /// How many connections the relay may have.
    connections: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

impl Pool {
    /// The pool of a relay that may have `connections` connections.
    pub(crate) fn new(connections: usize) -> Pool {
        Pool {
            sessions: Mutex::default(),
            connections: connections.max(1),
        }
    }

    /// A handle on one of the relay's sessions: a new one while there are
    /// fewer than its connections, else the one with the fewest links.
    pub(crate) fn handle(&self, settings: &SmtpSettings) -> Arc<Handle> {
        let mut sessions = self.sessions.lock().expect("pool lock");
        sessions.retain(|s| s.strong_count() > 0);
        if sessions.len() < self.connections {
            let (orders, inbox) = mpsc::unbounded_channel();
            let handle = Arc::new(Handle { orders });
            tokio::spawn(run(settings.clone(), inbox));
            sessions.push(Arc::downgrade(&handle));
            return handle;
        }
        sessions
            .iter()
            .filter_map(Weak::upgrade)
            .min_by_key(Arc::strong_count)
            .expect("a live session")
    }
}

/// One worker's way to an SMTP relay: a handle on one of the relay's
/// sessions, taken when first needed (and again after its connection
/// broke), shared with the relay's other links.
pub(crate) struct SmtpLink {
    settings: SmtpSettings,
    sessions: Arc<Pool>,
    handle: Option<Arc<Handle>>,
}

impl SmtpLink {
    pub(crate) fn new(settings: SmtpSettings, sessions: Arc<Pool>) -> SmtpLink {
        SmtpLink {
            settings,
            sessions,
            handle: None,
        }
    }

    /// Its handle on one of the relay's sessions, taken when first needed.
    fn handle(&mut self) -> &Handle {
        let (settings, sessions) = (&self.settings, &self.sessions);
        self.handle.get_or_insert_with(|| sessions.handle(settings))
    }
}

impl Deliver for SmtpLink {
    /// The message handed to the session as it is, not copied.
    async fn deliver(&mut self, message: &Formatted) -> Result<String, DeliverError> {
        self.handle().deliver(message.clone()).await
    }

    /// 8-bit bodies where the relay offers 8BITMIME; before its first
    /// connection said, one is opened to ask.
    async fn carries(&mut self) -> Transfer {
        let offered = if let Some(offered) = self.settings.relay.eight_bit.get() {
            offered
        } else {
            self.handle().connect().await;
            self.settings.relay.eight_bit.get().unwrap_or(false)
        };
        if offered {
            Transfer::EightBit
        } else {
            Transfer::SevenBit
        }
    }

    async fn close(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.close().await;
        }
    }
}

/// What a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Rset,
    Mail,
    Rcpt,
    /// DATA: 354, then the message.
    Data,
    /// The end of the message: BDAT LAST, or the data after DATA.
    Final,
}

/// A message handed to the session: the replies it still waits for, and
/// those it had.
struct Flight {
    job: Option<Job>,
    /// Its group went out.
    written: bool,
    expect: VecDeque<Step>,
    replies: Vec<(Step, Result<Reply, Failure>)>,
    /// Its DATA was answered 354: the message goes next.
    ready: bool,
    /// The whole message went out (a reply that never comes may hide an
    /// acceptance).
    sent_whole: bool,
    /// A message before it failed while it was on the wire: a 503 it gets
    /// is the server out of step, not about the reader.
    after_failure: bool,
}

impl Flight {
    fn done(&self) -> bool {
        self.written && self.expect.is_empty() && !self.ready
    }

    fn failed(&self) -> bool {
        self.replies.iter().any(|(_, r)| r.is_err())
    }
}

/// Why the connection must be dropped.
enum Broken {
    /// The network, or (`true`) no reply in time.
    Network(String, bool),
    /// A reply out of turn.
    Misbehaved(String),
}

struct Session {
    settings: SmtpSettings,
    connection: Option<(Connection, Offers)>,
    flights: VecDeque<Flight>,
    /// A transaction failed: the next group starts with RSET.
    needs_rset: bool,
}

async fn run(settings: SmtpSettings, mut inbox: mpsc::UnboundedReceiver<Order>) {
    let mut session = Session {
        settings,
        connection: None,
        flights: VecDeque::new(),
        needs_rset: false,
    };
    let mut quit: Option<oneshot::Sender<()>> = None;
    loop {
        if session.flights.is_empty() {
            if quit.is_some() {
                break;
            }
            match inbox.recv().await {
                Some(Order::Send(job)) => session.take(job).await,
                Some(Order::Connect(told)) => {
                    // A failure is left for the next message to meet.
                    let _ = session.open().await;
                    let _ = told.send(());
                }
                Some(Order::Quit(told)) => quit = Some(told),
                None => break,
            }
        } else if quit.is_none() {
            // More messages join those on the wire, without waiting.
            while session.flights.len() < DEPTH {
                match inbox.try_recv() {
                    Ok(Order::Send(job)) => session.take(job).await,
                    Ok(Order::Connect(told)) => {
                        // Messages are on the wire: it is open.
                        let _ = told.send(());
                    }
                    Ok(Order::Quit(told)) => {
                        quit = Some(told);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        if let Err(broken) = session.turn().await {
            session.drop_connection(broken).await;
        }
        session.settle();
    }
    if let Some((mut conn, _)) = session.connection.take() {
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.quit()).await;
    }
    if let Some(told) = quit {
        let _ = told.send(());
    }
}

impl Session {
    /// A new message: on a server that takes groups, onto the wire with
    /// the next write; otherwise sent now, command by command.
    async fn take(&mut self, job: Job) {
        let Some(job) = self.connected(job).await else {
            return;
        };
        let offers = self.offers();
        if !offers.eight_bit_mime && job.message.eight_bit {
            // Built when the relay's last server offered 8BITMIME; this one
            // does not: built again, 7-bit.
            let _ = job.done.send(Err(DeliverError::Failed(Failure::Transient {
                reply: "the server does not offer 8BITMIME: the message is made again in 7 bits"
                    .into(),
                throttle: false,
            })));
            return;
        }
        if international(&job.message.envelope) || (!offers.chunking && !offers.pipelining) {
            self.one_at_a_time(job).await;
            return;
        }
        let mut expect: VecDeque<Step> = VecDeque::new();
        expect.push_back(Step::Mail);
        expect.extend(job.message.envelope.to().iter().map(|_| Step::Rcpt));
        expect.push_back(if offers.chunking {
            Step::Final
        } else {
            Step::Data
        });
        self.flights.push_back(Flight {
            job: Some(job),
            written: false,
            expect,
            replies: Vec::new(),
            ready: false,
            sent_whole: false,
            after_failure: false,
        });
    }

    /// The job back once there is a connection (opened now if need be);
    /// `None` when it cannot be opened, the job told why.
    async fn connected(&mut self, job: Job) -> Option<Job> {
        match self.open().await {
            Ok(()) => Some(job),
            Err(e) => {
                let _ = job.done.send(Err(e));
                None
            }
        }
    }

    /// Opens the connection unless it is open.
    async fn open(&mut self) -> Result<(), DeliverError> {
        if self.connection.is_none() {
            self.connection = Some(connect(&self.settings).await?);
        }
        Ok(())
    }

    /// Command by command, once those on the wire are answered.
    async fn one_at_a_time(&mut self, job: Job) {
        while !self.flights.is_empty() {
            if let Err(broken) = self.turn().await {
                self.drop_connection(broken).await;
            }
            self.settle();
        }
        let Some(job) = self.connected(job).await else {
            return;
        };
        let (conn, offers) = self.connection.as_mut().expect("connected");
        let result = transmit(conn, *offers, &job.message, &self.settings).await;
        let outcome = match result {
            Ok(reply) => Ok(reply_text(&reply)),
            Err(failure) => {
                // transmit closed the connection.
                self.connection = None;
                Err(DeliverError::Failed(failure))
            }
        };
        let _ = job.done.send(outcome);
    }

    /// What the server offers; after a reply out of turn on this relay,
    /// neither pipelining nor chunking.
    fn offers(&self) -> Offers {
        let mut offers = self
            .connection
            .as_ref()
            .map(|(_, o)| *o)
            .unwrap_or_default();
        if self
            .settings
            .relay
            .lock_step
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            offers.pipelining = false;
            offers.chunking = false;
        }
        offers
    }

    /// One write (a message after its 354, the groups not yet written) and
    /// the reply it is owed; with nothing to write, the next reply due.
    async fn turn(&mut self) -> Result<(), Broken> {
        if self.flights.is_empty() {
            return Ok(());
        }
        let Some((conn, _)) = self.connection.as_mut() else {
            return Err(Broken::Network("the connection was closed".into(), false));
        };
        // What goes in this write, decided first; then written, borrowing
        // the messages rather than copying them.
        let mut pieces: Vec<Piece> = Vec::new();
        let mut whole: Vec<usize> = Vec::new();
        if let Some(i) = self.flights.iter().position(|f| f.ready) {
            let flight = &mut self.flights[i];
            flight.ready = false;
            flight.expect.push_back(Step::Final);
            pieces.push(Piece::Message(i));
            whole.push(i);
        }
        // A message's group goes out once no DATA before it waits for its
        // 354 (its message must follow that reply): with CHUNKING, every
        // group at once; with PIPELINING, one behind the message before.
        let mut blocked = self
            .flights
            .iter()
            .any(|f| f.written && (f.ready || f.expect.contains(&Step::Data)));
        for i in 0..self.flights.len() {
            if self.flights[i].written || blocked {
                continue;
            }
            if std::mem::take(&mut self.needs_rset) {
                pieces.push(Piece::Rset);
                self.flights[i].expect.push_front(Step::Rset);
            }
            let flight = &mut self.flights[i];
            if flight.expect.back() == Some(&Step::Final) {
                pieces.push(Piece::Chunk(i));
                whole.push(i);
            } else {
                pieces.push(Piece::Envelope(i));
                blocked = true;
            }
            flight.written = true;
        }
        let flights = &self.flights;
        let bytes = |i: usize| &flights[i].job.as_ref().expect("a job").message.bytes[..];
        let job = |i: usize| flights[i].job.as_ref().expect("a job");
        let mut text: Vec<Cow<'_, [u8]>> = Vec::new();
        for piece in &pieces {
            match *piece {
                Piece::Rset => text.push(Cow::Borrowed(b"RSET\r\n")),
                Piece::Message(i) => {
                    let body = bytes(i);
                    let end: &[u8] = if body.ends_with(b"\r\n") {
                        b".\r\n"
                    } else {
                        b"\r\n.\r\n"
                    };
                    text.extend(dot_stuffed(body).into_iter().map(Cow::Borrowed));
                    text.push(Cow::Borrowed(end));
                }
                Piece::Envelope(i) => {
                    text.push(Cow::Owned(
                        format!("{}DATA\r\n", group(job(i))).into_bytes(),
                    ));
                }
                Piece::Chunk(i) => {
                    let body = bytes(i);
                    let head = format!("{}BDAT {} LAST\r\n", group(job(i)), body.len());
                    text.push(Cow::Owned(head.into_bytes()));
                    text.push(Cow::Borrowed(body));
                }
            }
        }
        // The reply due next belongs to the first message on the wire
        // still waiting for one: replies come in the order commands went.
        let Some(front) = self
            .flights
            .iter()
            .position(|f| f.written && !f.expect.is_empty())
        else {
            return Ok(());
        };
        let step = *self.flights[front].expect.front().expect("waiting");
        let within = if step == Step::Final {
            self.settings.data_timeout
        } else {
            self.settings.timeout
        };
        // Written vectored from where the messages lie, then the reply.
        let slices: Vec<&[u8]> = text.iter().map(AsRef::as_ref).collect();
        let exchange = async {
            if !slices.is_empty() {
                conn.write(&slices).await.map_err(|e| e.to_string())?;
            }
            conn.reply().await
        };
        let reply = tokio::time::timeout(within, exchange).await;
        drop(slices);
        drop(text);
        for i in whole {
            self.flights[i].sent_whole = true;
        }
        let reply = match reply {
            Err(_) => {
                return Err(Broken::Network(
                    format!("no reply to {step:?} within the timeout"),
                    true,
                ));
            }
            Ok(reply) => match positive(reply) {
                Ok(reply) => Ok(reply),
                Err(Failure::Network(why)) => return Err(Broken::Network(why, false)),
                // The server is closing the connection: nothing more comes.
                Err(Failure::Transient { reply, .. }) if reply.starts_with("421") => {
                    return Err(Broken::Network(reply, false));
                }
                Err(failure) => Err(failure),
            },
        };
        self.route(front, step, reply)
    }

    /// Gives a reply to the message it answers; a reply that does not fit
    /// its command breaks the connection.
    fn route(&mut self, i: usize, step: Step, reply: Result<Reply, Failure>) -> Result<(), Broken> {
        let flight = &mut self.flights[i];
        flight.expect.pop_front();
        let ok = |r: &Reply| (200..300).contains(&code(r));
        if let Ok(r) = &reply {
            let fits = match step {
                Step::Data => code(r) == 354,
                Step::Rset | Step::Mail | Step::Rcpt | Step::Final => ok(r),
            };
            if !fits {
                return Err(Broken::Misbehaved(format!("{} to {step:?}", code(r))));
            }
        }
        match (step, reply) {
            (Step::Rset, Err(failure)) => Err(Broken::Network(
                format!("RSET was refused: {}", failure.reply()),
                false,
            )),
            (Step::Rset, Ok(_)) => Ok(()),
            (Step::Data, Ok(_)) if flight.failed() => Err(Broken::Misbehaved(
                "354 to DATA after its MAIL FROM or RCPT TO was refused".into(),
            )),
            (Step::Data, Ok(_)) => {
                flight.ready = true;
                Ok(())
            }
            (step, reply) => {
                flight.replies.push((step, reply));
                Ok(())
            }
        }
    }

    /// Tells each message at the front whose replies are all in; after a
    /// failure, those behind it on the wire are marked, and the next group
    /// starts with RSET.
    fn settle(&mut self) {
        while self.flights.front().is_some_and(Flight::done) {
            let mut flight = self.flights.pop_front().expect("a flight");
            if flight.failed() {
                self.needs_rset = true;
                for later in self.flights.iter_mut().filter(|f| f.written) {
                    later.after_failure = true;
                }
            }
            let outcome = decide(&flight);
            if let Some(job) = flight.job.take() {
                let _ = job.done.send(outcome);
            }
        }
    }

    /// Drops the connection; every message still on the wire is told why
    /// (those whose whole message went out and had no reply in time may
    /// have been accepted: unknown; the others are tried again).
    async fn drop_connection(&mut self, broken: Broken) {
        self.settle();
        if let Some((mut conn, _)) = self.connection.take() {
            conn.abort().await;
        }
        let (why, unknown_if_whole) = match broken {
            Broken::Network(why, timed_out) => (why, timed_out),
            Broken::Misbehaved(why) => {
                self.settings
                    .relay
                    .lock_step
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    relay = %self.settings.server(),
                    why = %why,
                    "the server answered a pipelined group out of turn: sending command by command from now on"
                );
                (
                    format!("a reply out of turn ({why}); tried again command by command"),
                    true,
                )
            }
        };
        self.needs_rset = false;
        for mut flight in self.flights.drain(..) {
            let failure = if flight.sent_whole && unknown_if_whole {
                Failure::Unknown(format!(
                    "no reply to the end of the message: the server may have accepted it ({why})"
                ))
            } else {
                Failure::Network(why.clone())
            };
            if let Some(job) = flight.job.take() {
                let _ = job.done.send(Err(DeliverError::Failed(failure)));
            }
        }
    }
}

/// A message's outcome from its own replies: the first refusal decides; a
/// 503 after an earlier message failed is the server out of step (tried
/// again).
fn decide(flight: &Flight) -> Result<String, DeliverError> {
    for (_, reply) in &flight.replies {
        if let Err(failure) = reply {
            let out_of_step = flight.after_failure && failure.reply().starts_with("503");
            let failure = if out_of_step {
                Failure::Transient {
                    reply: failure.reply().to_string(),
                    throttle: false,
                }
            } else {
                failure.clone()
            };
            return Err(DeliverError::Failed(failure));
        }
    }
    match flight.replies.last() {
        Some((Step::Final, Ok(reply))) => Ok(reply_text(reply)),
        _ => Err(DeliverError::Failed(Failure::Network(
            "the server never answered the end of the message".into(),
        ))),
    }
}

/// MAIL and each RCPT of a message, as written.
fn group(job: &Job) -> String {
    let mut text = mail_command(&job.message).to_string();
    for to in job.message.envelope.to() {
        let _ = write!(text, "{}", Rcpt::new(to.clone(), vec![]));
    }
    text
}

/// What one write carries, in order.
#[derive(Debug, Clone, Copy)]
enum Piece {
    Rset,
    /// A message's envelope and DATA.
    Envelope(usize),
    /// A message after its 354, dot-stuffed, and the lone dot.
    Message(usize),
    /// A message's envelope and BDAT LAST with the message.
    Chunk(usize),
}
