//! What `missive serve`'s handlers share: the list as the log has it (kept
//! up with the log), the sign-up state, and the small pages they answer with.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use governor::DefaultKeyedRateLimiter;

use crate::compose::merge::escape_html;
use crate::list::address::{address_hash, normalize};
use crate::list::events::{self, Event, Log, Suppressed};
use crate::list::reader::{Reader, Row, Status};
use crate::list::token::Secret;
use crate::project::config;
use crate::send::mailer::Mailer;
use crate::send::message::Letterhead;

/// A day, in seconds: how long the confirmations mailed are remembered.
pub(super) const DAY: i64 = 24 * 60 * 60;

pub(super) struct App {
    pub(super) secret: Secret,
    pub(super) name: String,
    /// The list as the log has it, and the log events are appended to.
    pub(super) list: Mutex<ListState>,
    /// Told of what went wrong inside a request (the reader only sees a
    /// polite page).
    pub(super) on_problem: Arc<dyn Fn(&str) + Send + Sync>,
    /// With `[signup]`: what sign-ups need.
    pub(super) signup: Option<Signup>,
}

/// What the server knows of the list, kept with the log it appends to: the
/// CSV the author edits and the log, merged as `send` merges them.
pub(super) struct ListState {
    pub(super) suppressed: Suppressed,
    pub(super) log: Log,
    /// The subscriber list's statuses, read again whenever the file changes.
    csv: CsvView,
    /// Each address's latest event that says where it stands (not a
    /// pending sign-up, nor a soft bounce), by hash.
    pub(super) latest: HashMap<u64, Event>,
    /// The confirmation tokens already used.
    pub(super) used: HashSet<String>,
    /// When each mailbox ([`mailbox_key`]) was last mailed a confirmation,
    /// over the last day (from the log, so a restart forgets nothing).
    pub(super) mailed: HashMap<u64, Vec<i64>>,
    /// How far the log has been read.
    read_to: u64,
}

impl ListState {
    /// The list as the CSV at `list` and the log at `log` have it now.
    pub(super) fn open(list: &Path, log: Log) -> Result<ListState> {
        let mut state = ListState {
            suppressed: Suppressed::default(),
            log,
            csv: CsvView {
                path: list.to_path_buf(),
                stamp: None,
                status: HashMap::new(),
            },
            latest: HashMap::new(),
            used: HashSet::new(),
            mailed: HashMap::new(),
            read_to: 0,
        };
        state.catch_up()?;
        Ok(state)
    }

    /// Reads what was appended to the log since it was last read — by this
    /// server, or by another process (`missive bounces`, a send that met a
    /// hard bounce, `subscribers remove`) — so that every decision sees the
    /// latest events.
    pub(super) fn catch_up(&mut self) -> Result<()> {
        self.csv.refresh()?;
        let (records, read_to) = events::records_from(self.log.path(), self.read_to)?;
        self.read_to = read_to;
        for record in records {
            let hash = address_hash(&normalize(&record.email));
            if record.event == Event::Confirmed
                && let Some(token) = events::detail_value(&record.detail, "token")
            {
                self.used.insert(token);
            }
            if record.event == Event::Pending
                && let Some(at) = record.time
            {
                let day_ago = time::OffsetDateTime::now_utc().unix_timestamp() - DAY;
                let times = self
                    .mailed
                    .entry(address_hash(&mailbox_key(&record.email)))
                    .or_default();
                times.retain(|t| *t > day_ago);
                times.push(at.unix_timestamp());
            }
            events::apply(&mut self.suppressed, &record);
            // A pending sign-up changes nothing about where the reader stands.
            if record.event.moves() {
                self.latest.insert(hash, record.event);
            }
        }
        Ok(())
    }
}

impl ListState {
    /// How many confirmations went to the mailbox `email` reaches since
    /// `since` (Unix seconds; the log is kept for the last [`DAY`]).
    pub(super) fn mailed_since(&self, email: &str, since: i64) -> usize {
        self.mailed
            .get(&address_hash(&mailbox_key(email)))
            .map_or(0, |times| times.iter().filter(|t| **t > since).count())
    }

    /// Where `email` stands, the log's latest word over the CSV's, as a
    /// send would see it.
    pub(super) fn standing(&self, email: &str) -> Standing {
        let hash = address_hash(&normalize(email));
        let from_csv = || match self.csv.status.get(&hash) {
            None => Standing::Unknown,
            Some(Status::Subscribed) => Standing::Subscribed,
            Some(Status::Bounced | Status::Complained) => Standing::NoMail,
            Some(Status::Unsubscribed | Status::Suppressed) => Standing::Left,
        };
        match self.latest.get(&hash) {
            Some(Event::Confirmed) if !self.suppressed.contains(email) => Standing::Subscribed,
            Some(Event::Bounced | Event::Complained) => Standing::NoMail,
            // Put back on the CSV's list: the CSV says where they stand.
            Some(Event::Restored(_)) | None => from_csv(),
            Some(_) => Standing::Left,
        }
    }
}

/// The mailbox an address reaches, for the limits of confirmation emails:
/// lower-cased, without a `+tag`, and for Gmail without dots
/// (`b.omb+1@gmail.com` and `bomb@googlemail.com` are one inbox).
pub(super) fn mailbox_key(email: &str) -> String {
    let email = normalize(email);
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let local = local.split_once('+').map_or(local, |(l, _)| l);
    match domain {
        "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
        _ => format!("{local}@{domain}"),
    }
}

/// Where an address stands with the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// On the list: a sign-up changes nothing.
    Subscribed,
    /// Must get no mail at all: a hard bounce or a complaint.
    NoMail,
    /// Was on the list and left: may sign up again.
    Left,
    /// Never on the list.
    Unknown,
}

/// The statuses of the subscriber list's rows, by address hash.
struct CsvView {
    path: PathBuf,
    /// The file's modification time and length when last read.
    stamp: Option<(std::time::SystemTime, u64)>,
    status: HashMap<u64, Status>,
}

impl CsvView {
    /// Reads the list again if it changed since it was last read (a
    /// missing list has no rows).
    fn refresh(&mut self) -> Result<()> {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(std::time::UNIX_EPOCH), m.len()));
        if stamp == self.stamp {
            return Ok(());
        }
        let mut status = HashMap::new();
        if stamp.is_some() {
            for row in Reader::open(&self.path)? {
                let (email, state) = match row {
                    Row::Subscriber(s) => (s.key(), Status::Subscribed),
                    Row::Inactive { email, status, .. } => (email, status),
                    Row::Duplicate { .. } | Row::Invalid { .. } => continue,
                };
                status.insert(address_hash(&email), state);
            }
        }
        self.status = status;
        self.stamp = stamp;
        Ok(())
    }
}

/// What sign-ups need, made once when the server starts.
pub struct Signup {
    pub(super) settings: config::Signup,
    /// `{url}/confirm`.
    pub(super) confirm_url: String,
    /// Where the answer to a sign-up sends the reader.
    pub(super) thanks: String,
    pub(super) per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// How many sign-ups each limit turned away since the server started.
    pub(super) refusals: [std::sync::atomic::AtomicU64; 3],
    pub(super) confirm: Letterhead,
    pub(super) welcome: Option<Welcome>,
    pub(super) mailer: Mailer,
}

/// The message each confirmed reader gets, and the journal (its issue's
/// stem) it is recorded in.
pub(super) struct Welcome {
    pub(super) letterhead: Letterhead,
    pub(super) journal: String,
}

/// Why a sign-up got the one answer and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    /// A bot filled the field people never see.
    Honeypot,
    /// Too many sign-ups from one IP address (or IPv6 /64) this hour.
    PerIp,
    /// A confirmation went to that mailbox in the last 10 minutes, or
    /// three in the last day.
    PerAddress,
}

impl Limit {
    fn as_str(self) -> &'static str {
        match self {
            Limit::Honeypot => "honeypot",
            Limit::PerIp => "per-ip",
            Limit::PerAddress => "per-address",
        }
    }
}

impl Signup {
    /// Logs a sign-up a limit turned away, with how many it has so far.
    pub(super) fn refused(&self, limit: Limit) {
        let total =
            self.refusals[limit as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        tracing::info!(limit = limit.as_str(), total, "sign-up refused");
    }

    /// Forgets the limits' record of addresses and IPs not seen lately, so
    /// their memory does not grow with every address ever seen.
    pub fn forget_old(&self) {
        self.per_ip.retain_recent();
    }

    /// The one answer to every sign-up: a 303 to the thanks page.
    pub(super) fn answer(&self) -> Response {
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, self.thanks.as_str()),
                (header::CACHE_CONTROL, "no-store"),
            ],
        )
            .into_response()
    }
}

/// A small HTML page; `body` is HTML that the caller escaped.
pub(super) fn page(status: StatusCode, body: &str) -> Response {
    titled_page(status, "Unsubscribe", body)
}

/// A small HTML page titled `title` (plain text); `body` is HTML that the
/// caller escaped.
pub(super) fn titled_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32em;margin:3em auto;padding:0 1em\">\
         {body}</body></html>",
        escape_html(title)
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}
