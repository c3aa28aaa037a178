//! `subscribers import`: a platform's export read twice as a stream — once
//! to settle each address (a reader in several rows or files takes the
//! strongest word), once to write what changes — against what the project
//! already knows, so that no suppression is undone and a second run changes
//! nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::formats::{Entry, Platform, Read, Rows, Standing};
use crate::list::address::{address_hash, normalize};
use crate::list::events::{self, Effect, Event, Log, Record};
use crate::list::reader::{Reader, Row, Status};

/// What became of a reader of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
    /// A new row in the list, with the consent recorded in the log.
    Added,
    /// Already a row of the list: the consent they gave is recorded now.
    ConsentRecorded,
    /// Pending: recorded, and mailed nothing until they confirm
    /// (`subscribers reconfirm`).
    Pending,
    /// Taken off the list (or kept off it) by the event recorded.
    Suppressed,
    /// The project already knew this: nothing written.
    Unchanged,
    /// Subscribed or pending in the export, but off the list here (they
    /// left, bounced or complained): stays off.
    KeptOff,
    /// Suppressed in the export before they joined again here: stays on.
    Rejoined,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Added => "added",
            Outcome::ConsentRecorded => "consent recorded",
            Outcome::Pending => "pending",
            Outcome::Suppressed => "suppressed",
            Outcome::Unchanged => "unchanged",
            Outcome::KeptOff => "kept off",
            Outcome::Rejoined => "rejoined since",
        }
    }
}

/// A row that is no reader (an empty or invalid address): skipped.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Skipped {
    pub(crate) file: PathBuf,
    pub(crate) line: u64,
    pub(crate) reason: String,
}

/// One export file read.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileRead {
    pub(crate) path: PathBuf,
    pub(crate) format: Platform,
    pub(crate) rows: u64,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) dry_run: bool,
    pub(crate) files: Vec<FileRead>,
    /// Readers (each address once), by the export's word and what became of
    /// them.
    pub(crate) readers: BTreeMap<Standing, BTreeMap<Outcome, u64>>,
    /// Rows naming an address an earlier row named (settled as one reader).
    pub(crate) repeated_rows: u64,
    pub(crate) skipped: Vec<Skipped>,
    /// Events written to the log (in a dry run: that would be).
    pub(crate) events: u64,
    /// Rows of the list added or marked (in a dry run: that would be).
    pub(crate) rows: u64,
    pub(crate) log: PathBuf,
    pub(crate) list: PathBuf,
}

impl Report {
    /// How many readers of the export ended `outcome`.
    pub(crate) fn count(&self, outcome: Outcome) -> u64 {
        self.readers
            .values()
            .filter_map(|by| by.get(&outcome))
            .sum()
    }
}

/// The row each address is settled by: the strongest word, the first row
/// to say it. Eight bytes: a million addresses are settled in little
/// memory.
#[derive(Clone, Copy)]
struct Pick {
    standing: Standing,
    file: u16,
    line: u32,
}

/// Where the project has an address before the import: the log's latest
/// word that moved it (and when), whether it holds a record of consent,
/// whether a pending sign-up is its latest word, and the list's status.
/// Sixteen bytes an address.
#[derive(Clone, Copy)]
struct Known {
    /// When the latest move happened (Unix seconds; [`NO_TIME`] if the
    /// log does not say).
    moved_at: i64,
    moved: Option<Effect>,
    consent: bool,
    pending: bool,
    list: Option<Status>,
}

/// A move whose time the log does not say.
const NO_TIME: i64 = i64::MIN;

impl Default for Known {
    fn default() -> Known {
        Known {
            moved_at: NO_TIME,
            moved: None,
            consent: false,
            pending: false,
            list: None,
        }
    }
}

impl Known {
    /// The log's latest word that moved the address, and when.
    fn latest(self) -> Option<(Effect, Option<i64>)> {
        self.moved
            .map(|m| (m, (self.moved_at != NO_TIME).then_some(self.moved_at)))
    }
}

/// What the project holds, by address: the log and the list merged.
struct Project {
    known: HashMap<u64, Known>,
}

impl Project {
    /// Reads the log and the list; `also` sees each event of the log with
    /// its address's hash as it goes by (what a caller needs beside).
    fn read(log: &Path, list: &Path, mut also: impl FnMut(u64, &Record)) -> Result<Project> {
        let mut known: HashMap<u64, Known> = HashMap::new();
        events::each_record(log, |record| {
            let hash = address_hash(&normalize(&record.email));
            also(hash, &record);
            let k = known.entry(hash).or_default();
            let effect = record.event.effect();
            if effect != Effect::Neutral {
                k.moved = Some(effect);
                k.moved_at = record
                    .time
                    .map_or(NO_TIME, time::OffsetDateTime::unix_timestamp);
            }
            k.consent |= matches!(record.event, Event::Confirmed | Event::Imported);
            if record.event == Event::Pending {
                k.pending = true;
            } else if record.event.moves() {
                k.pending = false;
            }
        })?;
        if std::fs::metadata(list).is_ok_and(|m| m.len() > 0) {
            for row in Reader::open(list)? {
                let (hash, status) = match row {
                    Row::Subscriber(s) => (address_hash(&s.key()), Status::Subscribed),
                    Row::Inactive { status, email, .. } => (address_hash(&email), status),
                    Row::Duplicate { .. } | Row::Invalid { .. } => continue,
                };
                known.entry(hash).or_default().list = Some(status);
            }
        }
        Ok(Project { known })
    }

    fn get(&self, hash: u64) -> Known {
        self.known.get(&hash).copied().unwrap_or_default()
    }

    /// Whether the address is off the list, as `send` would see it: the
    /// log's latest word, or the list's status where the log has none (or
    /// put it back by hand).
    fn off(&self, hash: u64) -> bool {
        let known = self.get(hash);
        match known.moved {
            Some(Effect::Suppress) => true,
            Some(Effect::Join) => false,
            _ => known.list.is_some_and(|s| s != Status::Subscribed),
        }
    }

    /// Whether the address receives mail now.
    fn on(&self, hash: u64) -> bool {
        let known = self.get(hash);
        !self.off(hash)
            && (known.moved == Some(Effect::Join) || known.list == Some(Status::Subscribed))
    }
}

/// What one settled reader does: the event to record, whether the list
/// gains their row or marks theirs, and the outcome counted.
struct Decision {
    event: Option<Event>,
    add_row: bool,
    /// Whether the list's row (subscribed there) is marked with `word`.
    mark: bool,
    word: &'static str,
    outcome: Outcome,
}

fn decide(project: &Project, hash: u64, entry: &Entry) -> Decision {
    let known = project.get(hash);
    let word = match entry.standing {
        Standing::Bounced => "bounced",
        Standing::Complained => "complained",
        _ => "unsubscribed",
    };
    let decision = |event, add_row, mark, outcome| Decision {
        event,
        add_row,
        mark,
        word,
        outcome,
    };
    match entry.standing {
        Standing::Subscribed | Standing::Pending if project.off(hash) => {
            decision(None, false, false, Outcome::KeptOff)
        }
        Standing::Subscribed => {
            let add = !project.on(hash);
            let event = (!known.consent).then_some(Event::Imported);
            let outcome = match (add, &event) {
                (true, _) => Outcome::Added,
                (false, Some(_)) => Outcome::ConsentRecorded,
                (false, None) => Outcome::Unchanged,
            };
            decision(event, add, false, outcome)
        }
        Standing::Pending if project.on(hash) || known.pending => {
            decision(None, false, false, Outcome::Unchanged)
        }
        Standing::Pending => decision(Some(Event::Pending), false, false, Outcome::Pending),
        suppression => {
            let mark = known.list == Some(Status::Subscribed);
            match known.latest() {
                Some((Effect::Suppress, _)) => decision(None, false, mark, Outcome::Unchanged),
                Some((Effect::Join | Effect::Restore, Some(back)))
                    if entry.at.is_some_and(|at| at.unix_timestamp() < back) =>
                {
                    decision(None, false, false, Outcome::Rejoined)
                }
                _ => decision(
                    Some(match suppression {
                        Standing::Bounced => Event::Bounced,
                        Standing::Complained => Event::Complained,
                        _ => Event::Unsubscribed,
                    }),
                    false,
                    mark,
                    Outcome::Suppressed,
                ),
            }
        }
    }
}

/// The detail an imported event carries: the reader's name and fields
/// (read back as a sign-up's are) and the address they consented from.
fn detail(entry: &Entry) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    if !entry.name.is_empty() {
        out.append_pair("name", &entry.name);
    }
    for (key, value) in &entry.fields {
        if !events::DETAIL_KEYS.contains(&key.as_str()) && key != "name" {
            out.append_pair(key, value);
        }
    }
    if !entry.ip.is_empty() {
        out.append_pair("ip", &entry.ip);
    }
    out.finish()
}

/// A row's line as a [`Pick`] keeps it.
fn row_number(path: &Path, line: u64) -> Result<u32> {
    u32::try_from(line).map_err(|_| {
        anyhow::anyhow!(
            "{}: more than {} lines; split the export into smaller files",
            path.display(),
            u32::MAX
        )
    })
}

/// How many events go to the log in one append.
const BATCH: usize = 4096;

/// Imports `files` (each `platform`'s export, or the platform its header
/// says) into the project whose log is `log` and whose list is `list`.
/// Every row is read before anything is written: a row that cannot be
/// read stops the import with nothing changed. Events are written (and
/// synced) before the list is replaced, so an import cut short is finished
/// by running it again.
pub(crate) fn import(
    log: &Path,
    list: &Path,
    files: &[PathBuf],
    platform: Option<Platform>,
    dry_run: bool,
) -> Result<Report> {
    let mut report = Report {
        dry_run,
        log: log.to_path_buf(),
        list: list.to_path_buf(),
        ..Report::default()
    };
    // Two imports at once would each record what the other does.
    let lock = log.with_file_name("import.lock");
    let Some(_held) = crate::fsutil::try_lock(&lock)? else {
        anyhow::bail!(
            "another `subscribers import` is running in this project ({} is locked)",
            lock.display()
        );
    };
    anyhow::ensure!(
        files.len() < usize::from(u16::MAX),
        "at most {} files at once",
        u16::MAX - 1
    );
    // First reading: every row is read, and each address settled.
    let mut picks: HashMap<u64, Pick> = HashMap::new();
    let mut platforms = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for (index, path) in files.iter().enumerate() {
        let rows = Rows::open(path, platform)?;
        let format = rows.platform;
        let mut count = 0;
        for read in rows {
            count += 1;
            match read? {
                Read::Invalid { line, reason } => report.skipped.push(Skipped {
                    file: path.clone(),
                    line,
                    reason,
                }),
                Read::Entry { line, entry } => {
                    let hash = address_hash(&entry.email);
                    let pick = Pick {
                        standing: entry.standing,
                        file: u16::try_from(index).unwrap_or(u16::MAX),
                        line: row_number(path, line)?,
                    };
                    match picks.entry(hash) {
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(pick);
                        }
                        std::collections::hash_map::Entry::Occupied(mut o) => {
                            report.repeated_rows += 1;
                            if pick.standing.strength() > o.get().standing.strength() {
                                o.insert(pick);
                            }
                        }
                    }
                    if entry.standing == Standing::Subscribed {
                        if !entry.name.is_empty() && !columns.iter().any(|c| c == "name") {
                            columns.insert(0, "name".into());
                        }
                        for (key, _) in &entry.fields {
                            if !columns.contains(key) {
                                columns.push(key.clone());
                            }
                        }
                    }
                }
            }
        }
        platforms.push(format);
        report.files.push(FileRead {
            path: path.clone(),
            format,
            rows: count,
        });
    }
    let project = Project::read(log, list, |_, _| {})?;
    // New rows are written as they are decided, under the header the list
    // will have.
    let list_file = crate::list::rewrite::ListFile::open(list, &columns)?;
    let mut appended = list_file.rows();
    let mut added = 0;

    // Second reading: each settled row decided and written.
    let mut batch: Vec<Record> = Vec::with_capacity(BATCH);
    let mut log_file = if dry_run { None } else { Some(Log::open(log)?) };
    let mut marks: HashMap<u64, &'static str> = HashMap::new();
    for (index, path) in files.iter().enumerate() {
        let source = platforms[index].source();
        for read in Rows::open(path, Some(platforms[index]))? {
            let Read::Entry { line, entry } = read? else {
                continue;
            };
            let hash = address_hash(&entry.email);
            if picks
                .get(&hash)
                .is_none_or(|pick| usize::from(pick.file) != index || u64::from(pick.line) != line)
            {
                continue;
            }
            let decision = decide(&project, hash, &entry);
            *report
                .readers
                .entry(entry.standing)
                .or_default()
                .entry(decision.outcome)
                .or_default() += 1;
            if let Some(event) = decision.event {
                let detail = match event {
                    Event::Imported | Event::Pending => detail(&entry),
                    _ => String::new(),
                };
                batch.push(Record::at(&entry.email, entry.at, event, &source, &detail));
                report.events += 1;
                if batch.len() == BATCH {
                    if let Some(log) = &mut log_file {
                        log.write_batch(&batch)?;
                    }
                    batch.clear();
                }
            }
            if decision.mark {
                marks.insert(hash, decision.word);
            }
            if decision.add_row {
                if !dry_run {
                    appended.write_record(crate::list::rewrite::new_row(
                        list_file.header(),
                        &entry.email,
                        &entry.name,
                        &entry.fields,
                    ))?;
                }
                added += 1;
            }
        }
    }
    report.rows = (added + marks.len()) as u64;
    let Some(mut log_file) = log_file else {
        return Ok(report);
    };
    log_file.write_batch(&batch)?;
    log_file.sync()?;
    if added == 0 && marks.is_empty() {
        return Ok(report);
    }
    // Only rows added need the new columns.
    let list_file = if added == 0 {
        crate::list::rewrite::ListFile::open(list, &[])?
    } else {
        list_file
    };
    let appended = appended.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    list_file.replace(
        |header, fields| {
            let hash = address_hash(&normalize(&fields[header.email]));
            let subscribed = Status::parse(&fields[header.status]) == Some(Status::Subscribed);
            match marks.get(&hash) {
                Some(word) if subscribed => {
                    fields[header.status] = (*word).into();
                    true
                }
                _ => false,
            }
        },
        &appended,
        added,
    )?;
    Ok(report)
}

/// A reader an import left pending who has not confirmed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Awaiting {
    pub(crate) email: String,
    pub(crate) name: String,
}

/// The readers `subscribers reconfirm` mails: those whose latest word in
/// the log is a pending sign-up an import brought over (not one mailed a
/// link since, nor one who joined or left since), who are not on the
/// list, in address order.
pub(crate) fn awaiting(log: &Path, list: &Path) -> Result<Vec<Awaiting>> {
    let mut latest: HashMap<u64, Option<Awaiting>> = HashMap::new();
    let project = Project::read(log, list, |hash, record| {
        if record.event != Event::Pending && !record.event.moves() {
            return;
        }
        let waiting = (record.event == Event::Pending && record.source.starts_with("import:"))
            .then(|| Awaiting {
                name: events::detail_value(&record.detail, "name").unwrap_or_default(),
                email: normalize(&record.email),
            });
        latest.insert(hash, waiting);
    })?;
    let mut out: Vec<Awaiting> = latest
        .into_iter()
        .filter(|(hash, _)| !project.on(*hash) && !project.off(*hash))
        .filter_map(|(_, waiting)| waiting)
        .collect();
    out.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(out)
}
