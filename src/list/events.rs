//! The project's list events: one append-only, fsynced CSV log at
//! `.missive/list-events.csv` (address, time, event, source, detail, issue)
//! that records every unsubscribe, bounce and complaint, and that every send
//! honours whatever subscriber list it is given. Suppression files of earlier versions
//! (`<list>.suppressed.csv` beside a list) are still read and are migrated
//! into the log, so no unsubscribe ever recorded is lost.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) use crate::list::address::{Joined, Suppressed};
use crate::list::address::{address_hash, normalize};
use crate::list::reader::Status;
use crate::project::Project;

/// The log's file name in the project's state directory.
pub(crate) const FILE_NAME: &str = "list-events.csv";

/// The log's first line. Logs written before the `issue` and `message`
/// columns were added keep their header; their lines are read the same way.
/// `message` is set only on events a returned message caused: the key
/// `missive bounces` knows it by, so a run killed after recording it and
/// before marking it never records it again.
const HEADER: &str = "email,time,event,source,detail,issue,message\n";

/// What happened to an address: the `event` column of the log. Events
/// sort by their word, as the counts are shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Event {
    /// The reader left (a link, the page, the author): takes them off.
    Unsubscribed,
    /// The address bounced for good: takes it off.
    Bounced,
    /// The reader reported an issue as spam: takes them off.
    Complained,
    /// A bounce that may pass (mailbox full, expired in a queue): counted,
    /// and suppresses only once `[bounces] soft_limit` issues in a row
    /// bounced.
    SoftBounced,
    /// A refusal aimed at the sender (policy, spam, reputation): recorded
    /// for the sender's health, never held against the reader.
    SenderBlocked,
    /// A sign-up waiting for its confirmation: changes nothing yet.
    Pending,
    /// A confirmed sign-up (or the author's `subscribers add`): the reader
    /// receives mail whatever the CSV says, with the name and fields the
    /// detail carries.
    Confirmed,
    /// A reader brought over from another platform with the consent they
    /// gave there (`subscribers import`): a record of that consent, beside
    /// the row the import added to the CSV. It changes nothing by itself,
    /// so it never undoes a suppression written before or after it.
    Imported,
    /// Put back by hand (`subscribed` or `resubscribed` written into the
    /// log): the CSV says where they stand again.
    Restored(Restored),
    /// A word this version does not know (a later version's, a hand edit):
    /// it takes the address off, since nobody is mailed on a guess.
    Other(String),
}

/// The two words that put an address back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Restored {
    Subscribed,
    Resubscribed,
}

impl Event {
    /// The word the log writes.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Event::Unsubscribed => "unsubscribed",
            Event::Bounced => "bounced",
            Event::Complained => "complained",
            Event::SoftBounced => "soft-bounced",
            Event::SenderBlocked => "sender-blocked",
            Event::Pending => "pending",
            Event::Confirmed => "confirmed",
            Event::Imported => "imported",
            Event::Restored(Restored::Subscribed) => "subscribed",
            Event::Restored(Restored::Resubscribed) => "resubscribed",
            Event::Other(word) => word,
        }
    }

    /// What the event does to the address's place on the list.
    pub(crate) fn effect(&self) -> Effect {
        match self {
            Event::Confirmed => Effect::Join,
            Event::Restored(_) => Effect::Restore,
            Event::SoftBounced | Event::SenderBlocked | Event::Pending | Event::Imported => {
                Effect::Neutral
            }
            Event::Unsubscribed | Event::Bounced | Event::Complained | Event::Other(_) => {
                Effect::Suppress
            }
        }
    }

    /// Whether it takes the address off the list.
    pub(crate) fn suppresses(&self) -> bool {
        self.effect() == Effect::Suppress
    }

    /// Whether it changes where the reader stands (a pending sign-up, a
    /// soft bounce and a block of the sender do not).
    pub(crate) fn moves(&self) -> bool {
        self.effect() != Effect::Neutral
    }
}

impl From<&str> for Event {
    fn from(word: &str) -> Event {
        match word {
            "unsubscribed" => Event::Unsubscribed,
            "bounced" => Event::Bounced,
            "complained" => Event::Complained,
            "soft-bounced" => Event::SoftBounced,
            "sender-blocked" => Event::SenderBlocked,
            "pending" => Event::Pending,
            "confirmed" => Event::Confirmed,
            "imported" => Event::Imported,
            "subscribed" => Event::Restored(Restored::Subscribed),
            "resubscribed" => Event::Restored(Restored::Resubscribed),
            other => Event::Other(other.to_string()),
        }
    }
}

impl Ord for Event {
    fn cmp(&self, other: &Event) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Event) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        let word = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(Event::from(word.as_ref()))
    }
}

/// The facts a [`Event::Confirmed`] event's detail may hold beside the reader's
/// name and fields (which may not be named so): the confirmation token's
/// digest, the IP address, and what the reader was before.
pub(crate) const DETAIL_KEYS: &[&str] = &["token", "ip", "was"];

/// The detail of a [`Event::Confirmed`] event: the reader's name and fields, and
/// `extra` facts (`ip`, `was`, `token`), form-encoded so the log stays one
/// line a record.
pub(crate) fn joined_detail(joined: &Joined, extra: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    out.append_pair("name", &joined.name);
    for (key, value) in &joined.fields {
        out.append_pair(key, value);
    }
    for (key, value) in extra {
        out.append_pair(key, value);
    }
    out.finish()
}

/// The reader a [`Event::Confirmed`] event's detail describes.
fn joined_from(email: &str, detail: &str) -> Joined {
    let mut joined = Joined {
        email: normalize(email),
        name: String::new(),
        fields: Vec::new(),
    };
    for (key, value) in url::form_urlencoded::parse(detail.as_bytes()) {
        if key == "name" {
            joined.name = value.into_owned();
        } else if !DETAIL_KEYS.contains(&key.as_ref()) {
            joined.fields.push((key.into_owned(), value.into_owned()));
        }
    }
    joined
}

/// A value of a detail written by [`joined_detail`].
pub(crate) fn detail_value(detail: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(detail.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The list-event log of the project whose state directory is `state_dir`.
pub(crate) fn path_in(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Where earlier versions kept the unsubscribes of a list:
/// `subscribers.csv` → `subscribers.suppressed.csv`, beside it.
pub(crate) fn legacy_path_for(list: &Path) -> PathBuf {
    let stem = list.file_stem().map_or_else(
        || "subscribers".into(),
        |s| s.to_string_lossy().into_owned(),
    );
    list.with_file_name(format!("{stem}.suppressed.csv"))
}

/// What an event does to the address's place on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Takes it off (an unknown event does too: nobody is mailed on a guess).
    Suppress,
    /// Puts it back.
    Restore,
    /// Joins it to the list, with the name and fields the event carries.
    Join,
    /// Leaves it as it was: a record for counting.
    Neutral,
}

/// One line of the log. Lines written before the `issue` and `message`
/// columns were added read with those empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The address as written (lower-cased by missive).
    pub email: String,
    /// When it happened; `None` where a hand-edited line says no time
    /// missive can read (the event still counts).
    #[serde(with = "lenient_time")]
    pub time: Option<OffsetDateTime>,
    pub event: Event,
    /// Who or what caused it: `one-click`, `page`, `bounce`, `signup`,
    /// `author`, …
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub detail: String,
    /// The issue (file stem) the event concerns, if any.
    #[serde(default)]
    pub issue: String,
    /// The key of the returned message that caused it, if one did.
    #[serde(default)]
    pub message: String,
}

/// The `time` column: RFC 3339 written; anything else read as no time.
mod lenient_time {
    use serde::{Deserialize as _, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    #[allow(clippy::ref_option, reason = "the signature serde's `with` calls")]
    pub(super) fn serialize<S: Serializer>(
        at: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at.map(|at| at.format(&Rfc3339)) {
            Some(Ok(text)) => serializer.serialize_str(&text),
            _ => serializer.serialize_str(""),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(OffsetDateTime::parse(text.trim(), &Rfc3339).ok())
    }
}

/// Every event of the log, in order; a last line still being written (no
/// newline yet) is not read, nor the header.
pub(crate) fn records(path: &Path) -> Result<Vec<Record>> {
    records_from(path, 0).map(|(records, _)| records)
}

/// How many addresses have each latest event that changed their place on
/// the list, pending sign-ups included (`confirmed`, `pending`, …).
pub(crate) fn latest_counts(path: &Path) -> Result<BTreeMap<Event, usize>> {
    count_latest(path, |event| *event == Event::Pending, |_| true)
}

/// How many addresses the log suppresses, by the event that did it
/// (`unsubscribed`, `bounced`, …), counting each address's latest event
/// that changed its place on the list.
pub(crate) fn counts(path: &Path) -> Result<BTreeMap<Event, usize>> {
    count_latest(path, |_| false, Event::suppresses)
}

/// Each address's latest event that changed its place on the list (or that
/// `also` keeps), counted by event where `counted` says so.
fn count_latest(
    path: &Path,
    also: impl Fn(&Event) -> bool,
    counted: impl Fn(&Event) -> bool,
) -> Result<BTreeMap<Event, usize>> {
    let mut latest = std::collections::HashMap::new();
    for record in records(path)? {
        if record.event.moves() || also(&record.event) {
            latest.insert(address_hash(&normalize(&record.email)), record.event);
        }
    }
    let mut counts = BTreeMap::new();
    for event in latest.into_values().filter(|e| counted(e)) {
        *counts.entry(event).or_default() += 1;
    }
    Ok(counts)
}

/// Reads the project's log into the set of suppressed addresses (each
/// address's latest event that changes anything decides); a missing log
/// suppresses nobody.
pub(crate) fn load(path: &Path) -> Result<Suppressed> {
    let mut suppressed = Suppressed::default();
    for record in records(path)? {
        apply(&mut suppressed, &record);
    }
    Ok(suppressed)
}

/// What one event does to the list.
pub(crate) fn apply(suppressed: &mut Suppressed, record: &Record) {
    match record.event.effect() {
        Effect::Suppress => {
            suppressed.insert(&record.email);
        }
        Effect::Restore => {
            suppressed.remove(&record.email);
        }
        Effect::Join => suppressed.join(joined_from(&record.email, &record.detail)),
        Effect::Neutral => {}
    }
}

/// The events written to the log from byte `offset` on (by this process or
/// any other), and the offset after the last complete line: what a
/// long-running server reads to keep up with the log.
pub(crate) fn records_from(path: &Path, offset: u64) -> Result<(Vec<Record>, u64)> {
    use std::io::{Read as _, Seek as _};
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let length = file.metadata()?.len();
    if length <= offset {
        return Ok((Vec::new(), offset));
    }
    let mut bytes = Vec::new();
    file.seek(std::io::SeekFrom::Start(offset))
        .and_then(|_| file.read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(complete);
    Ok((parse(&bytes), offset + complete as u64))
}

/// Hands every event of the log's complete lines to `each`, in order,
/// reading the file as a stream: what a command that reads a long log once
/// (an import of a whole platform's list) uses instead of [`records`].
pub(crate) fn each_record(path: &Path, mut each: impl FnMut(Record)) -> Result<()> {
    use std::io::{Read as _, Seek as _};
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let read = |file: &mut File| -> std::io::Result<u64> {
        // The complete lines end at the last newline; a line still being
        // written after it is not read.
        let length = file.metadata()?.len();
        let mut tail = vec![0; usize::try_from(length.min(4096)).unwrap_or(4096)];
        let mut end = length;
        while end > 0 {
            let start = end.saturating_sub(tail.len() as u64);
            let chunk = &mut tail[..usize::try_from(end - start).unwrap_or(0)];
            file.seek(std::io::SeekFrom::Start(start))?;
            file.read_exact(chunk)?;
            if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
                return Ok(start + i as u64 + 1);
            }
            end = start;
        }
        Ok(0)
    };
    let complete = read(&mut file).with_context(|| format!("cannot read {}", path.display()))?;
    file.seek(std::io::SeekFrom::Start(0))
        .with_context(|| format!("cannot read {}", path.display()))?;
    events_in(std::io::BufReader::new(file.take(complete))).for_each(&mut each);
    Ok(())
}

/// The events of complete lines of the log.
fn parse(bytes: &[u8]) -> Vec<Record> {
    events_in(bytes).collect()
}

/// The events of the log's lines read from `input`, the header passed over.
fn events_in(input: impl std::io::Read) -> impl Iterator<Item = Record> {
    // Every field reads (an unknown event is `Other`, an unreadable time
    // `None`), so only a line too damaged to be CSV is passed over.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input)
        .into_deserialize::<Record>()
        .filter_map(Result::ok)
        .filter(|record| !record.email.trim().is_empty() && record.email != "email")
}

/// The CSV records of the complete lines of `path` (none if it is missing).
fn read_complete_lines(path: &Path) -> Result<Vec<csv::StringRecord>> {
    let mut bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(complete);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    // A damaged line is skipped rather than taking every unsubscribe with it.
    Ok(reader.records().filter_map(Result::ok).collect())
}

/// The most an event's detail keeps (a server's reply, a diagnostic), in
/// bytes: a line every command reads stays short whatever a bounce says.
pub(crate) const MAX_DETAIL: usize = 1024;

/// The longest address an event may name (RFC 5321: a path of 256
/// octets, less its angle brackets).
pub(crate) const MAX_ADDRESS: usize = 254;

/// Appends events to the log, each made durable before
/// [`append`](Log::append) returns. Other processes append to the same log
/// at once; see [`AppendLog`](crate::fsutil::AppendLog).
pub(crate) struct Log {
    file: crate::fsutil::AppendLog,
}

impl Log {
    /// Opens (creating, private) the log. A last line cut short by a crash
    /// is cut off, so the next event starts on a line of its own.
    pub(crate) fn open(path: &Path) -> Result<Log> {
        let (file, _) = crate::fsutil::AppendLog::open(path, HEADER.as_bytes(), |_| false)?;
        Ok(Log { file })
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    /// Writes one event (address, now, event, source) and syncs it to disk.
    pub(crate) fn append(&mut self, email: &str, event: Event, source: &str) -> Result<()> {
        self.append_about(email, event, source, "", "")
    }

    /// Like [`append`](Log::append), with a detail (the reply, the status
    /// and diagnostic) and the issue it concerns.
    pub(crate) fn append_about(
        &mut self,
        email: &str,
        event: Event,
        source: &str,
        detail: &str,
        issue: &str,
    ) -> Result<()> {
        self.write(&Record::now(email, event, source, detail, issue, ""))?;
        self.sync()
    }

    /// Writes one event that the returned message known by `message`
    /// caused, without syncing: for many in a row, followed by
    /// [`sync`](Log::sync) before anything depends on them.
    pub(crate) fn write_for_message(
        &mut self,
        email: &str,
        event: Event,
        source: &str,
        detail: &str,
        issue: &str,
        message: &str,
    ) -> Result<()> {
        self.write(&Record::now(email, event, source, detail, issue, message))
    }

    /// Writes one line, every column of today's header, the detail capped.
    fn write(&mut self, record: &Record) -> Result<()> {
        self.write_batch(std::slice::from_ref(record))
    }

    /// Writes `records` as one append (lines from other processes never
    /// come between them), without syncing: for many in a row, followed
    /// by [`sync`](Log::sync) before anything depends on them.
    pub(crate) fn write_batch(&mut self, records: &[Record]) -> Result<()> {
        let mut lines = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::with_capacity(records.len() * 96));
        for record in records {
            if record.email.len() > MAX_ADDRESS {
                bail!(
                    "{}: an address of {} bytes is not one (at most {MAX_ADDRESS})",
                    self.path().display(),
                    record.email.len()
                );
            }
            lines
                .serialize(record)
                .context("cannot format a list event")?;
        }
        let lines = lines.into_inner().context("cannot format a list event")?;
        if lines.is_empty() {
            return Ok(());
        }
        self.file.append(&lines)
    }

    /// Makes every event written so far durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file.sync()
    }
}

impl Record {
    /// An event of `email` (normalized) happening now; `detail` is cut to
    /// [`MAX_DETAIL`].
    fn now(
        email: &str,
        event: Event,
        source: &str,
        detail: &str,
        issue: &str,
        message: &str,
    ) -> Record {
        let mut record = Record::at(email, None, event, source, detail);
        record.time = Some(OffsetDateTime::now_utc());
        record.issue = issue.to_string();
        record.message = message.to_string();
        record
    }

    /// An event of `email` (normalized) that happened at `time` (or at a
    /// time nobody knows), elsewhere: what an import brings over.
    pub(crate) fn at(
        email: &str,
        time: Option<OffsetDateTime>,
        event: Event,
        source: &str,
        detail: &str,
    ) -> Record {
        Record {
            email: normalize(email),
            time,
            event,
            source: source.to_string(),
            detail: cap(detail, MAX_DETAIL).to_string(),
            issue: String::new(),
            message: String::new(),
        }
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cap(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Unsubscribes copied from a suppression file of an earlier version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Migrated {
    pub count: usize,
    /// The old file (left in place).
    pub from: PathBuf,
    /// The project's log.
    pub into: PathBuf,
}

/// The project's suppressions, honoured whatever list a command reads: the
/// list-event log in `.missive/`, with any suppression file an earlier
/// version left beside `list` or beside the configured list migrated into
/// it first. Returns the set, the open log, and what was migrated.
pub(crate) fn open_project(
    project: &Project,
    list: &Path,
) -> Result<(Suppressed, Log, Vec<Migrated>)> {
    let configured = project.list_path(None);
    open(&project.state_dir(), &[list, &configured])
}

/// [`open_project`], for a state directory and lists given directly.
fn open(state_dir: &Path, lists: &[&Path]) -> Result<(Suppressed, Log, Vec<Migrated>)> {
    let path = path_in(state_dir);
    let mut log = Log::open(&path)?;
    let mut suppressed = load(&path)?;
    let mut notes = Vec::new();
    let mut seen = HashSet::new();
    for list in lists {
        let legacy = legacy_path_for(list);
        if !seen.insert(legacy.clone()) {
            continue;
        }
        let mut migrated = 0;
        for record in read_complete_lines(&legacy)? {
            let email = record.get(0).unwrap_or("").trim();
            if email.is_empty() || email == "email" || suppressed.contains(email) {
                continue;
            }
            let detail = format!(
                "migrated from {}",
                legacy.file_name().unwrap_or_default().to_string_lossy()
            );
            let mut moved = Record::now(
                email,
                Event::Unsubscribed,
                record.get(2).unwrap_or(""),
                &detail,
                "",
                "",
            );
            moved.time = OffsetDateTime::parse(record.get(1).unwrap_or("").trim(), &Rfc3339).ok();
            log.write(&moved)?;
            suppressed.insert(email);
            migrated += 1;
        }
        if migrated > 0 {
            log.sync()?;
            notes.push(Migrated {
                count: migrated,
                from: legacy.clone(),
                into: path.clone(),
            });
        }
    }
    Ok((suppressed, log, notes))
}

/// The log as a long run follows it: what other processes append while it
/// goes on (an unsubscribe through `serve`, a bounce, the author's
/// `subscribers remove`) is read at most every `every`, so a reader who
/// leaves in the middle of a send is not sent the rest of it.
pub(crate) struct Follow {
    path: PathBuf,
    read_to: u64,
    suppressed: Suppressed,
    last: std::time::Instant,
    every: std::time::Duration,
}

impl Follow {
    /// Follows the log at `path` from its start.
    pub(crate) fn open(path: &Path, every: std::time::Duration) -> Result<Follow> {
        let mut follow = Follow {
            path: path.to_path_buf(),
            read_to: 0,
            suppressed: Suppressed::default(),
            last: std::time::Instant::now(),
            every,
        };
        follow.catch_up()?;
        Ok(follow)
    }

    fn catch_up(&mut self) -> Result<()> {
        let (records, read_to) = records_from(&self.path, self.read_to)?;
        for record in &records {
            apply(&mut self.suppressed, record);
        }
        self.read_to = read_to;
        self.last = std::time::Instant::now();
        Ok(())
    }

    /// Whether the log, as of at most `every` ago, has `email` off the
    /// list. A log that cannot be read again keeps what it said before.
    pub(crate) fn suppresses(&mut self, email: &str) -> bool {
        if self.last.elapsed() >= self.every
            && let Err(e) = self.catch_up()
        {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the list-event log again");
            self.last = std::time::Instant::now();
        }
        self.suppressed.contains(email)
    }
}

/// Writes the log into the subscriber list itself: every suppressed address
/// is marked `unsubscribed`, every confirmed sign-up `subscribed` (a row of
/// its own, with its name and fields, if the file has none), adding a
/// `status` column if there is none, and keeping the file as it was
/// otherwise ([`rewrite`](crate::list::rewrite::rewrite)). Returns how many
/// rows changed or were added.
pub(crate) fn fold(list: &Path, suppressed: &Suppressed) -> Result<usize> {
    let file = crate::list::rewrite::ListFile::open(list, &[])?;
    // Sign-ups the file does not hold yet become rows of their own.
    let in_file: HashSet<u64> = crate::list::reader::Reader::open(list)?
        .filter_map(|row| match row {
            crate::list::reader::Row::Subscriber(s) => Some(address_hash(&s.key())),
            crate::list::reader::Row::Inactive { email, .. } => Some(address_hash(&email)),
            _ => None,
        })
        .collect();
    let mut appended = file.rows();
    let mut added = 0;
    for joined in suppressed.all_joined() {
        if !in_file.contains(&address_hash(&joined.email)) {
            appended.write_record(crate::list::rewrite::new_row(
                file.header(),
                &joined.email,
                &joined.name,
                &joined.fields,
            ))?;
            added += 1;
        }
    }
    let appended = appended.into_inner().context("cannot format the list")?;
    file.replace(
        |header, fields| {
            let email = &fields[header.email];
            let subscribed = Status::parse(&fields[header.status]) == Some(Status::Subscribed);
            let word = if subscribed && suppressed.contains(email) {
                "unsubscribed"
            } else if !subscribed && suppressed.joined(email).is_some() {
                "subscribed"
            } else {
                return false;
            };
            fields[header.status] = word.into();
            true
        },
        &appended,
        added,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn events_are_appended_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(&dir.path().join(".missive"));
        assert_eq!(load(&path).unwrap().len(), 0);
        let mut log = Log::open(&path).unwrap();
        log.append("Ada@Example.com", Event::Unsubscribed, "one-click")
            .unwrap();
        log.append("bob@example.com", Event::Unsubscribed, "page")
            .unwrap();
        let s = load(&path).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.contains("ada@example.com"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("email,time,event,source,detail,issue,message\nada@example.com,"),
            "{text}"
        );
        assert!(text.ends_with(",unsubscribed,page,,,\n"), "{text}");
    }

    #[test]
    fn lines_of_earlier_versions_and_unknown_words_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        std::fs::write(
            &path,
            "email,time,event,source,detail\n\
             ada@example.com,2024-01-02T03:04:05Z,unsubscribed,page,\n\
             ada@example.com,yesterday,resubscribed,author,\n\
             bob@example.com,2024-01-02T03:04:05+01:00,withdrawn,later-version,why\n\
             cy@example.com,,soft-bounced,bounce,452,issue-1,key-1\n\
             eve@example.com,,bounced,bounce,550,issue-1,key-2,a later column\n",
        )
        .unwrap();
        let read = records(&path).unwrap();
        assert_eq!(read.len(), 5, "a line with a later version's column too");
        assert_eq!(read[0].event, Event::Unsubscribed);
        assert_eq!(read[0].time.unwrap().unix_timestamp(), 1_704_164_645);
        assert_eq!(read[1].event, Event::Restored(Restored::Resubscribed));
        assert_eq!(read[1].time, None, "a time missive cannot read is none");
        assert_eq!(read[2].event, Event::Other("withdrawn".into()));
        assert_eq!(read[2].detail, "why");
        assert_eq!(
            (read[3].issue.as_str(), read[3].message.as_str()),
            ("issue-1", "key-1")
        );
        let s = load(&path).unwrap();
        assert!(!s.contains("ada@example.com"), "put back by hand");
        assert!(s.contains("bob@example.com"), "an unknown word suppresses");
        assert!(!s.contains("cy@example.com"));
        assert!(s.contains("eve@example.com"));
        // Appending keeps the old header and writes today's seven columns.
        let mut log = Log::open(&path).unwrap();
        log.append("dee@example.com", Event::Complained, "arf")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("email,time,event,source,detail\n"),
            "{text}"
        );
        let last = text.lines().last().unwrap();
        assert!(
            last.starts_with("dee@example.com,20") && last.ends_with(",complained,arf,,,"),
            "{last}"
        );
    }

    #[test]
    fn a_cut_off_last_line_does_not_corrupt_the_next_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let mut log = Log::open(&path).unwrap();
        log.append("ada@example.com", Event::Unsubscribed, "one-click")
            .unwrap();
        drop(log);
        // A crash in the middle of the next line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"ada@exa").unwrap();
        drop(f);
        let mut log = Log::open(&path).unwrap();
        log.append("bob@example.com", Event::Unsubscribed, "one-click")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("ada@exabob"), "{text}");
        let s = load(&path).unwrap();
        assert!(s.contains("bob@example.com") && s.contains("ada@example.com"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn an_event_carries_at_most_a_kilobyte_of_detail_and_a_real_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let mut log = Log::open(&path).unwrap();
        let huge = "é".repeat(600_000);
        log.append_about("ada@example.com", Event::Bounced, "bounce", &huge, "i")
            .unwrap();
        let line = std::fs::read_to_string(&path).unwrap();
        assert!(line.len() < 2 * MAX_DETAIL, "{} bytes", line.len());
        assert_eq!(records(&path).unwrap()[0].detail.len(), MAX_DETAIL);
        let too_long = format!("{}@example.com", "a".repeat(300));
        assert!(log.append(&too_long, Event::Bounced, "bounce").is_err());
    }

    #[test]
    fn a_follower_sees_what_others_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let mut log = Log::open(&path).unwrap();
        log.append("ada@example.com", Event::Unsubscribed, "page")
            .unwrap();
        let mut follow = Follow::open(&path, std::time::Duration::ZERO).unwrap();
        assert!(follow.suppresses("ada@example.com"));
        assert!(!follow.suppresses("bob@example.com"));
        let mut other = Log::open(&path).unwrap();
        other
            .append("bob@example.com", Event::Unsubscribed, "one-click")
            .unwrap();
        assert!(follow.suppresses("bob@example.com"), "read again");
    }

    #[test]
    fn legacy_files_beside_lists_are_migrated_once() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("lists/vip.csv");
        std::fs::create_dir_all(list.parent().unwrap()).unwrap();
        std::fs::write(
            legacy_path_for(&list),
            "email,time,source\ncarol@example.com,2026-11-01T00:00:00Z,one-click\n",
        )
        .unwrap();
        let state = dir.path().join(".missive");
        let (s, _, notes) = open(&state, &[&list]).unwrap();
        assert!(s.contains("Carol@example.com"));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (s, _, notes) = open(&state, &[&list]).unwrap();
        assert!(notes.is_empty(), "migrated once: {notes:?}");
        assert_eq!(s.len(), 1);
        // Once in the project's log, it holds for any other list too.
        let (s, _, _) = open(&state, &[&dir.path().join("other.csv")]).unwrap();
        assert!(s.contains("carol@example.com"));
    }

    #[test]
    fn fold_marks_suppressed_rows_and_keeps_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("subscribers.csv");
        std::fs::write(
            &list,
            "\u{feff}email,name\r\nada@example.com,\"Lovelace, Ada\"\r\nbob@example.com,Bob\r\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut s = Suppressed::default();
        s.insert("ADA@example.com");
        assert_eq!(fold(&list, &s).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "\u{feff}email,name,status\r\nada@example.com,\"Lovelace, Ada\",unsubscribed\r\nbob@example.com,Bob,\r\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&list).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the list keeps its permissions");
        }
        assert_eq!(fold(&list, &s).unwrap(), 0, "folding twice changes nothing");
    }
}
