//! Where each address stands with the list, as a long-running server
//! needs it at every request: the CSV the author edits and the list-event
//! log merged as `send` merges them, kept up with what other processes
//! append to the log, with the confirmation tokens already used and the
//! confirmations mailed over the last day.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::list::address::{address_hash, normalize};
use crate::list::events::{self, Event, Log, Suppressed};
use crate::list::reader::{Reader, Row, Status};

/// A day, in seconds: how long the confirmations mailed are remembered.
pub(crate) const DAY: i64 = 24 * 60 * 60;

/// What the server knows of the list, kept with the log it appends to: the
/// CSV the author edits and the log, merged as `send` merges them.
pub(crate) struct ListState {
    pub(crate) suppressed: Suppressed,
    pub(crate) log: Log,
    /// The subscriber list's statuses, read again whenever the file changes.
    csv: CsvView,
    /// Each address's latest event that says where it stands (not a
    /// pending sign-up, nor a soft bounce), by hash.
    pub(crate) latest: HashMap<u64, Event>,
    /// The confirmation tokens already used.
    pub(crate) used: HashSet<String>,
    /// When each mailbox ([`mailbox_key`]) was last mailed a confirmation,
    /// over the last day (from the log, so a restart forgets nothing).
    pub(crate) mailed: HashMap<u64, Vec<i64>>,
    /// How far the log has been read.
    read_to: u64,
}

impl ListState {
    /// The list as the CSV at `list` and the log at `log` have it now.
    pub(crate) fn open(list: &Path, log: Log) -> Result<ListState> {
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
    pub(crate) fn catch_up(&mut self) -> Result<()> {
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
    pub(crate) fn mailed_since(&self, email: &str, since: i64) -> usize {
        self.mailed
            .get(&address_hash(&mailbox_key(email)))
            .map_or(0, |times| times.iter().filter(|t| **t > since).count())
    }

    /// Where `email` stands, the log's latest word over the CSV's, as a
    /// send would see it.
    pub(crate) fn standing(&self, email: &str) -> Standing {
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
pub(crate) fn mailbox_key(email: &str) -> String {
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
pub(crate) enum Standing {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_inbox_is_one_mailbox_for_the_limits() {
        let key = mailbox_key;
        for same in [
            "bomb@gmail.com",
            "b.omb@gmail.com",
            "Bomb+1@Gmail.com",
            "b.o.m.b+x@googlemail.com",
        ] {
            assert_eq!(key(same), "bomb@gmail.com", "{same}");
        }
        assert_eq!(key("a.b+news@example.org"), "a.b@example.org");
        assert_ne!(key("a.b@example.org"), key("ab@example.org"));
    }
}
