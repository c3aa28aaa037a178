//! The send journal: one append-only file per issue (`.missive/<stem>.journal`,
//! JSON lines) recording each recipient's outcome as the server answers, so a
//! dispatch can be resumed after a crash, a Ctrl-C or a failure.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::list::address::{address_hash, normalize};
use time::OffsetDateTime;

/// One line of the journal: where a dispatch began, or one recipient's
/// outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Line", into = "Line")]
pub(crate) enum Entry {
    /// A dispatch started (or resumed) sending this render of the issue.
    Begin {
        fingerprint: String,
        at: OffsetDateTime,
    },
    Outcome(Outcome),
}

/// What the server said to one recipient's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub state: State,
    pub email: String,
    pub at: OffsetDateTime,
    /// The server's reply, or what went wrong.
    pub reply: String,
    /// The relay it went to, when there is one.
    pub relay: Option<String>,
}

impl Outcome {
    /// `state` for `email` now, with the server's `reply`.
    pub(crate) fn new(state: State, email: String, reply: String) -> Outcome {
        Outcome {
            state,
            email,
            at: OffsetDateTime::now_utc(),
            reply,
            relay: None,
        }
    }

    /// The same outcome, noting the relay it came from.
    #[must_use]
    pub(crate) fn via(mut self, name: &str) -> Outcome {
        self.relay = Some(name.to_string());
        self
    }
}

impl From<Outcome> for Entry {
    fn from(outcome: Outcome) -> Entry {
        Entry::Outcome(outcome)
    }
}

/// The journal's JSON lines as they have always been written: an `event`
/// tag (`begin`, `sent`, `failed`, `deferred`, `unknown`) and its fields.
#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Line {
    Begin {
        fingerprint: String,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    Sent(Body),
    Failed(Body),
    Deferred(Body),
    Unknown(Body),
}

#[derive(Serialize, Deserialize)]
struct Body {
    email: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    reply: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    relay: Option<String>,
}

impl From<Line> for Entry {
    fn from(line: Line) -> Entry {
        let (state, body) = match line {
            Line::Begin { fingerprint, at } => return Entry::Begin { fingerprint, at },
            Line::Sent(body) => (State::Sent, body),
            Line::Failed(body) => (State::Failed, body),
            Line::Deferred(body) => (State::Deferred, body),
            Line::Unknown(body) => (State::Unknown, body),
        };
        Entry::Outcome(Outcome {
            state,
            email: body.email,
            at: body.at,
            reply: body.reply,
            relay: body.relay,
        })
    }
}

impl From<Entry> for Line {
    fn from(entry: Entry) -> Line {
        let outcome = match entry {
            Entry::Begin { fingerprint, at } => return Line::Begin { fingerprint, at },
            Entry::Outcome(outcome) => outcome,
        };
        let body = Body {
            email: outcome.email,
            at: outcome.at,
            reply: outcome.reply,
            relay: outcome.relay,
        };
        match outcome.state {
            State::Sent => Line::Sent(body),
            State::Failed => Line::Failed(body),
            State::Deferred => Line::Deferred(body),
            State::Unknown => Line::Unknown(body),
        }
    }
}

/// Where a recipient stands according to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum State {
    Sent,
    Failed,
    Deferred,
    /// Transmitted, with no final reply: perhaps delivered.
    Unknown,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Sent => "sent",
            State::Failed => "failed",
            State::Deferred => "deferred",
            State::Unknown => "unknown",
        }
    }
}

/// What the journal says so far. Recipients who have the issue take a
/// 64-bit hash each; only those who do not carry their address and reply.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// The fingerprint of the render the last dispatch sent.
    pub fingerprint: Option<String>,
    /// Hashes of the recipients who have the issue.
    sent: HashSet<u64>,
    /// The latest state of recipients who do not.
    problems: HashMap<u64, Problem>,
    /// How many recipients each relay delivered to.
    by_relay: std::collections::BTreeMap<String, usize>,
}

/// A recipient who does not have the issue (yet), and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Problem {
    /// The lower-cased address.
    pub email: String,
    pub state: State,
    /// The server's last reply, or what went wrong.
    pub reply: String,
}

impl History {
    pub(crate) fn state(&self, email: &str) -> Option<State> {
        let hash = address_hash(&normalize(email));
        if self.sent.contains(&hash) {
            Some(State::Sent)
        } else {
            self.problems.get(&hash).map(|p| p.state)
        }
    }

    pub(crate) fn count(&self, state: State) -> usize {
        match state {
            State::Sent => self.sent.len(),
            _ => self.problems.values().filter(|p| p.state == state).count(),
        }
    }

    /// How many recipients each relay delivered to, by name (those sent
    /// before relays were journaled are not counted).
    pub(crate) fn sent_by_relay(&self) -> &std::collections::BTreeMap<String, usize> {
        &self.by_relay
    }

    /// Every recipient not (yet) sent, sorted by address.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let mut out: Vec<Problem> = self.problems.values().cloned().collect();
        out.sort();
        out
    }

    fn apply(&mut self, entry: Entry) {
        let Outcome {
            state,
            email,
            reply,
            relay,
            ..
        } = match entry {
            Entry::Begin { fingerprint, .. } => {
                self.fingerprint = Some(fingerprint);
                return;
            }
            Entry::Outcome(outcome) => outcome,
        };
        let key = normalize(&email);
        let hash = address_hash(&key);
        if state == State::Sent {
            if self.sent.insert(hash) {
                self.problems.remove(&hash);
                if let Some(relay) = relay {
                    *self.by_relay.entry(relay).or_default() += 1;
                }
            }
            return;
        }
        // A message once accepted stays sent, whatever a later run says.
        if self.sent.contains(&hash) {
            return;
        }
        self.problems.insert(
            hash,
            Problem {
                email: key,
                state,
                reply,
            },
        );
    }
}

/// The journal file of one issue.
pub(crate) fn path_for(state_dir: &Path, stem: &str) -> PathBuf {
    state_dir.join(format!("{stem}.journal"))
}

/// Reads a journal; a missing file is an empty history. A last line cut short
/// by a crash is ignored; any other unreadable line is an error.
pub(crate) fn read(path: &Path) -> Result<History> {
    let mut history = History::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(history),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut lines = BufReader::new(file).lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        match serde_json::from_str::<Entry>(&line) {
            Ok(entry) => history.apply(entry),
            Err(_) if lines.peek().is_none() => {} // torn by a crash mid-write
            Err(e) => bail!("{}:{}: not a journal entry: {e}", path.display(), i + 1),
        }
    }
    Ok(history)
}

/// Every address the journal names (sent to, refused, deferred), by its
/// hash: how a bounce tag, which carries only the hash, finds its address.
pub(crate) fn recipients(path: &Path) -> Result<HashMap<u64, String>> {
    let mut out = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if let Ok(Entry::Outcome(Outcome { email, .. })) = serde_json::from_str::<Entry>(&line) {
            let email = normalize(&email);
            out.insert(address_hash(&email), email);
        }
    }
    Ok(out)
}

/// When sending of an issue began (its journal's first entry), if it did.
fn began_at(path: &Path) -> Result<Option<OffsetDateTime>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut first = String::new();
    BufReader::new(file)
        .read_line(&mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(match serde_json::from_str::<Entry>(&first) {
        Ok(Entry::Begin { at, .. }) => Some(at),
        _ => None,
    })
}

/// The issue stems of every journal in `state_dir`.
pub(crate) fn stems(state_dir: &Path) -> Vec<String> {
    std::fs::read_dir(state_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension().is_some_and(|x| x == "journal"))
                .then(|| path.file_stem()?.to_str().map(str::to_string))
                .flatten()
        })
        .collect()
}

/// The issues whose sending began, in the order it did (by each journal's
/// first entry), as stems.
pub(crate) fn sent_in_order(state_dir: &Path) -> Result<Vec<String>> {
    Ok(began(state_dir)?
        .into_iter()
        .map(|(_, stem)| stem)
        .collect())
}

/// When the sending of each issue began, in that order, with its stem.
pub(crate) fn began(state_dir: &Path) -> Result<Vec<(OffsetDateTime, String)>> {
    let mut began = Vec::new();
    for stem in stems(state_dir) {
        if let Some(at) = began_at(&path_for(state_dir, &stem))? {
            began.push((at, stem));
        }
    }
    began.sort();
    Ok(began)
}

/// An open journal that outcomes are appended to.
pub(crate) struct Journal {
    file: Mutex<crate::fsutil::AppendLog>,
    unsynced: AtomicUsize,
}

impl Journal {
    /// Opens (creating, private) the journal for appending. A last line
    /// left without its newline by a crash is kept, newline added, when it
    /// is a whole entry (the server did accept that message: dropping it
    /// would send that reader a second copy), and cut off otherwise.
    pub(crate) fn open(path: &Path) -> Result<Journal> {
        let (file, _) = crate::fsutil::AppendLog::open(path, b"", |line| {
            serde_json::from_slice::<Entry>(line).is_ok()
        })?;
        Ok(Journal {
            file: Mutex::new(file),
            unsynced: AtomicUsize::new(0),
        })
    }

    /// Appends one entry with a single write, so that it reaches the file
    /// (the OS) at once and survives the process being killed.
    pub(crate) fn record(&self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).expect("entries serialize");
        line.push(b'\n');
        self.file.lock().expect("journal lock").append(&line)?;
        self.unsynced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Entries written since the last [`sync`](Self::sync).
    pub(crate) fn unsynced(&self) -> usize {
        self.unsynced.load(Ordering::Relaxed)
    }

    /// Makes everything written so far durable (fsync).
    pub(crate) fn sync(&self) -> Result<()> {
        self.file.lock().expect("journal lock").sync()?;
        self.unsynced.store(0, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(email: &str) -> Entry {
        Outcome::new(State::Sent, email.into(), "250 ok".into()).into()
    }

    fn said(state: State, email: &str, reply: &str) -> Entry {
        Outcome::new(state, email.into(), reply.into()).into()
    }

    #[test]
    fn records_are_read_back_with_the_latest_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "issue");
        let j = Journal::open(&path).unwrap();
        j.record(&Entry::Begin {
            fingerprint: "abc".into(),
            at: OffsetDateTime::now_utc(),
        })
        .unwrap();
        j.record(&sent("A@x.org")).unwrap();
        j.record(&said(State::Deferred, "b@x.org", "451 try later"))
            .unwrap();
        j.record(&said(State::Failed, "c@x.org", "550 no such user"))
            .unwrap();
        j.record(&sent("b@x.org")).unwrap();
        // A stale failure after success does not undo it.
        j.record(&said(State::Deferred, "a@x.org", "421")).unwrap();
        assert_eq!(j.unsynced(), 6);
        j.sync().unwrap();
        assert_eq!(j.unsynced(), 0);

        let h = read(&path).unwrap();
        assert_eq!(h.fingerprint.as_deref(), Some("abc"));
        assert_eq!(h.state("a@X.org"), Some(State::Sent));
        assert_eq!(h.state("b@x.org"), Some(State::Sent));
        assert_eq!(h.state("c@x.org"), Some(State::Failed));
        assert_eq!(h.state("d@x.org"), None);
        assert_eq!((h.count(State::Sent), h.count(State::Failed)), (2, 1));
        assert_eq!(
            h.problems(),
            vec![Problem {
                email: "c@x.org".into(),
                state: State::Failed,
                reply: "550 no such user".into()
            }]
        );
    }

    #[test]
    fn lines_keep_the_format_of_earlier_versions() {
        let begin = r#"{"event":"begin","fingerprint":"f1","at":"2026-11-30T08:00:00Z"}"#;
        let sent = r#"{"event":"sent","email":"a@x.org","at":"2026-11-30T08:00:01Z","reply":"250 ok","relay":"main"}"#;
        let unknown = r#"{"event":"unknown","email":"b@x.org","at":"2026-11-30T08:00:02.5Z","reply":"timeout"}"#;
        for line in [begin, sent, unknown] {
            let entry: Entry = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_string(&entry).unwrap(), line);
        }
        let Entry::Outcome(outcome) = serde_json::from_str(sent).unwrap() else {
            panic!("an outcome")
        };
        assert_eq!(outcome.state, State::Sent);
        assert_eq!(outcome.relay.as_deref(), Some("main"));
        assert_eq!(outcome.at.unix_timestamp(), 1_796_025_601);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "issue");
        let mut text = serde_json::to_string(&sent("a@x.org")).unwrap();
        text.push_str("\n{\"event\":\"sent\",\"email\":\"b@x");
        std::fs::write(&path, &text).unwrap();
        let h = read(&path).unwrap();
        assert_eq!(h.count(State::Sent), 1);

        let j = Journal::open(&path).unwrap();
        j.record(&sent("c@x.org")).unwrap();
        let h = read(&path).unwrap();
        assert_eq!(h.count(State::Sent), 2);
        assert_eq!(h.state("b@x.org"), None);
    }

    #[test]
    fn a_whole_last_entry_without_its_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "issue");
        let text = format!(
            "{}\n{}",
            serde_json::to_string(&sent("a@x.org")).unwrap(),
            serde_json::to_string(&sent("b@x.org")).unwrap()
        );
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read(&path).unwrap().count(State::Sent), 2);
        let j = Journal::open(&path).unwrap();
        j.record(&sent("c@x.org")).unwrap();
        let h = read(&path).unwrap();
        assert_eq!(h.count(State::Sent), 3, "b@x.org still has the issue");
        assert_eq!(h.state("b@x.org"), Some(State::Sent));
    }

    #[test]
    fn a_corrupt_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "issue");
        std::fs::write(
            &path,
            "garbage\n{\"event\":\"begin\",\"fingerprint\":\"f\",\"at\":\"t\"}\n",
        )
        .unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("issue.journal:1: not a journal entry"), "{e}");
    }

    #[test]
    fn missing_journal_is_empty() {
        let h = read(Path::new("/nonexistent/x.journal")).unwrap();
        assert_eq!(h.count(State::Sent), 0);
        assert!(h.fingerprint.is_none());
    }
}
