//! `missive bounces`: reads what came back from inboxes (a Maildir, an mbox
//! or an IMAP folder), tells bounces, complaints, auto-replies and delay
//! notices apart ([`report`]), traces each to its reader and issue through
//! the signed bounce tag, and records it in the project's list-event log:
//! hard bounces and complaints suppress the address at once, soft bounces
//! are counted until `[bounces] soft_limit` issues in a row bounced.

pub(crate) mod family;
pub(crate) mod imap;
pub(crate) mod mailbox;
pub(crate) mod report;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::list::address::{address_hash, normalize};
use crate::list::events::{self, Event, Log, Suppressed};
use crate::list::reader::{Reader, Row};
use crate::list::token::{Secret, issue_id};
use crate::project::Project;
use crate::project::values::OneLine;
use crate::send::journal;
use mailbox::{Incoming, Mailbox, Place};
use report::Kind;

/// Where the keys of processed messages are remembered.
const SEEN_FILE: &str = "bounces-seen.csv";

/// How many messages are read, recorded and marked at a time: memory holds
/// one batch, and a run killed at any moment has marked everything before
/// it; what it recorded of its batch carries the message's key, so the
/// next run records nothing twice.
const BATCH: usize = 50;

/// The most bytes of messages a Maildir batch holds (a message larger than
/// that is a batch of its own).
const BATCH_BYTES: usize = 8 << 20;

/// What was done about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    /// The address is off the list from now on.
    Suppressed,
    /// Recorded and counted (a soft bounce, a block of the sender, a
    /// bounce of an address already off the list).
    Counted,
    /// Nothing to record (an auto-reply, a delay, mail that is not a
    /// bounce, a genuine tag whose reader no journal names).
    Ignored,
    /// A bounce or complaint that does not prove it answers mail missive
    /// sent (no genuine tag in its envelope, in the original's
    /// `Return-Path` or `Message-ID`, or in an SES notification): counted,
    /// and acts on nobody, whoever it names.
    Untrusted,
    /// `--dry-run`: nothing recorded, nothing marked.
    None,
}

/// One message processed, as `--json` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Outcome {
    /// The file name, `#N` in an mbox, or `UID N (validity)`.
    pub source: String,
    pub message_id: Option<String>,
    pub kind: Kind,
    /// Why it failed, in a vocabulary close to sisimai's.
    pub reason: crate::list::bounce::Reason,
    /// A soft bounce that blames the sender, not the address.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sender_block: bool,
    pub recipient: Option<String>,
    /// Every failed recipient the report names, when it names more than one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    pub status: Option<String>,
    pub diagnostic: String,
    /// The SMTP command the refusal answered, when the report says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<report::Command>,
    /// The mail system that wrote the report, when its signs say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mta: Option<&'static str>,
    /// What the report says of each failed recipient, when it names
    /// several with verdicts of their own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<report::Failure>,
    pub issue: Option<String>,
    pub action: Action,
    /// Why, when the action needs explaining.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What a run of `missive bounces` did.
#[derive(Debug)]
pub(crate) struct Run {
    pub mailbox: String,
    pub outcomes: Vec<Outcome>,
    /// Messages skipped because an earlier run processed them.
    pub already_seen: usize,
    /// `--dry-run`: nothing was recorded or marked.
    pub was_dry: bool,
    /// The project's list-event log.
    pub log: PathBuf,
}

/// Reads the mailbox (`spec`, or `[bounces] mailbox`) and records what it
/// says; with `dry_run`, records and marks nothing.
pub(crate) async fn run(project: &Project, spec: Option<&str>, dry_run: bool) -> Result<Run> {
    let config = project.config.bounces.as_ref();
    let spec = match (spec, config.and_then(|b| b.mailbox.as_ref())) {
        (Some(s), _) => s.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => bail!(
            "name the mailbox bounces arrive in: `missive bounces maildir:PATH` \
             (or mbox:PATH, imaps://user@host/FOLDER), or set [bounces] mailbox in {}",
            project.config_label().display()
        ),
    };
    let mailbox = Mailbox::parse(&spec, &project.root)?;
    crate::fsutil::create_private_dir(&project.state_dir())?;
    let lock_path = project.state_dir().join("bounces.lock");
    let Some(_lock) = crate::fsutil::try_lock(&lock_path)? else {
        bail!(
            "another `missive bounces` is running (it holds {})",
            lock_path.display()
        );
    };
    let mut processor = Processor::open(project, dry_run)?;
    match &mailbox {
        Mailbox::Maildir(path) => {
            let files = mailbox::maildir_files(path)?;
            let mut files = files.iter().peekable();
            while files.peek().is_some() {
                // A batch holds at most BATCH messages or BATCH_BYTES (but
                // always one).
                let (mut incoming, mut bytes) = (Vec::new(), 0);
                while incoming.len() < BATCH && bytes < BATCH_BYTES {
                    let Some(file) = files.next() else { break };
                    if processor.known_place(&Place::File(file.clone()), "") {
                        processor.already_seen += 1;
                        continue;
                    }
                    let message = mailbox::read_maildir_file(file)?;
                    bytes += message.raw.len();
                    incoming.push(message);
                }
                let places: Vec<Place> = incoming.iter().map(|m| m.place.clone()).collect();
                let done = processor.process(incoming)?;
                for (place, done) in places.iter().zip(done) {
                    if let (Place::File(file), true) = (place, done) {
                        mailbox::mark_seen(file)?;
                    }
                }
            }
        }
        Mailbox::Mbox(path) => {
            let mut messages = mailbox::read_mbox(path)?.peekable();
            while messages.peek().is_some() {
                let batch = messages.by_ref().take(BATCH).collect::<Result<Vec<_>>>()?;
                processor.process(batch)?;
            }
        }
        Mailbox::Imap(url) => {
            let password = std::env::var(mailbox::PASSWORD_ENV).map_err(|_| {
                anyhow::anyhow!(
                    "{}: set the IMAP password in {}",
                    url,
                    mailbox::PASSWORD_ENV
                )
            })?;
            let ca = match config.and_then(|b| b.ca_file.as_ref()) {
                None => None,
                Some(ca) => {
                    let path = project.resolve(ca);
                    let pem = std::fs::read(&path).with_context(|| {
                        format!("bounces.ca_file: cannot read {}", path.display())
                    })?;
                    Some((path, pem))
                }
            };
            let settings = imap::Settings {
                url,
                password,
                ca,
                processed_folder: config
                    .and_then(|b| b.processed_folder.as_ref())
                    .map(OneLine::as_str),
            };
            let processor = std::cell::RefCell::new(&mut processor);
            imap::run(
                &settings,
                BATCH,
                |place, source| processor.borrow().known_place(place, source),
                |incoming| processor.borrow_mut().process(incoming),
            )
            .await?;
        }
    }
    tracing::info!(
        mailbox = %mailbox.label(),
        messages = processor.outcomes.len(),
        suppressed = processor.outcomes.iter().filter(|o| o.action == Action::Suppressed).count(),
        already_seen = processor.already_seen,
        dry_run,
        "bounces read"
    );
    Ok(Run {
        mailbox: mailbox.label(),
        outcomes: processor.outcomes,
        already_seen: processor.already_seen,
        was_dry: dry_run,
        log: processor.log_path,
    })
}

/// What processing needs to know, read once: the secret that checks bounce
/// tags, the issues by tag id in the order they were sent, the addresses
/// already suppressed, each address's soft bounces, the messages seen.
struct Processor<'p> {
    project: &'p Project,
    dry_run: bool,
    secret: Option<Secret>,
    soft_limit: usize,
    /// Issue stems by the id a bounce tag carries.
    issues: HashMap<[u8; 4], String>,
    /// Issue stems in the order their sending began.
    order: SendingOrder,
    /// Each issue's recipients by address hash (read when first needed).
    recipients: HashMap<String, HashMap<u64, String>>,
    /// Addresses of the list and the log by hash (read when first needed).
    known: Option<HashMap<u64, String>>,
    suppressed: Suppressed,
    /// The issues each address soft-bounced in, by address hash.
    soft: HashMap<u64, BTreeSet<String>>,
    log: Log,
    log_path: PathBuf,
    seen: HashSet<String>,
    seen_path: PathBuf,
    outcomes: Vec<Outcome>,
    already_seen: usize,
}

impl<'p> Processor<'p> {
    fn open(project: &'p Project, dry_run: bool) -> Result<Processor<'p>> {
        let config = project.config.bounces.as_ref();
        let secret = Secret::for_project(project)?;
        if secret.is_none() && config.is_some_and(|b| b.address.is_some()) {
            bail!(
                "[bounces] address is set, but {} is not set: bounce tags are checked with it",
                crate::list::token::SECRET_ENV
            );
        }
        let state = project.state_dir();
        let list = project.list_path(None);
        let (suppressed, log, _) = events::open_project(project, &list)?;
        let log_path = log.path().to_path_buf();
        let mut soft: HashMap<u64, BTreeSet<String>> = HashMap::new();
        let seen_path = state.join(SEEN_FILE);
        let mut seen = read_seen(&seen_path)?;
        for record in events::records(&log_path)? {
            // Recorded by a run that was stopped before it marked the
            // message: seen all the same.
            if !record.message.is_empty() {
                seen.insert(record.message.clone());
            }
            if record.event == Event::SoftBounced && !record.issue.is_empty() {
                soft.entry(address_hash(&normalize(&record.email)))
                    .or_default()
                    .insert(record.issue);
            }
        }
        let (issues, order) = sent_issues(project)?;
        Ok(Processor {
            project,
            dry_run,
            secret,
            soft_limit: config.map_or(3, |b| b.soft_limit.get() as usize),
            issues,
            order,
            recipients: HashMap::new(),
            known: None,
            suppressed,
            soft,
            log,
            log_path,
            seen,
            seen_path,
            outcomes: Vec::new(),
            already_seen: 0,
        })
    }

    /// Processes `incoming`, records what it says (durably, before any
    /// message is marked), and says of each whether it was processed (to
    /// be marked seen) or left alone. Mail that is not a bounce is left
    /// unread for a person, and its place is remembered so that it is not
    /// read again.
    fn process(&mut self, incoming: Vec<Incoming>) -> Result<Vec<bool>> {
        let mut done = Vec::with_capacity(incoming.len());
        let mut newly_seen = Vec::new();
        for message in incoming {
            let key = message_key(&message.raw);
            if self.seen.contains(&key) {
                self.already_seen += 1;
                done.push(!self.dry_run);
                continue;
            }
            let outcome = self.one(&message, &key)?;
            let processed = !self.dry_run && outcome.kind != Kind::Unknown;
            if !self.dry_run {
                let remembered = if processed {
                    Some(key)
                } else {
                    mailbox::place_key(&message.place, &message.source)
                };
                if let Some(remembered) = remembered {
                    self.seen.insert(remembered.clone());
                    newly_seen.push((remembered, outcome.clone()));
                }
            }
            self.outcomes.push(outcome);
            done.push(processed);
        }
        if !self.dry_run {
            self.log.sync()?;
            append_seen(&self.seen_path, &newly_seen)?;
        }
        Ok(done)
    }

    /// Whether the message at `place` was already judged not to be a
    /// bounce (so it need not be read again).
    fn known_place(&self, place: &Place, source: &str) -> bool {
        mailbox::place_key(place, source).is_some_and(|key| self.seen.contains(&key))
    }

    fn one(&mut self, message: &Incoming, key: &str) -> Result<Outcome> {
        let report = report::read(&message.raw);
        let mut outcome = Outcome {
            source: message.source.clone(),
            message_id: report.message_id.clone(),
            kind: report.kind,
            reason: report.reason,
            sender_block: report.sender_block,
            recipient: report.recipient.clone(),
            recipients: if report.recipients.len() > 1 {
                report.recipients.clone()
            } else {
                Vec::new()
            },
            status: report.status.clone(),
            diagnostic: report.diagnostic.clone(),
            command: report.command,
            mta: report.family.map(|f| f.name),
            failures: report.failures.clone(),
            issue: None,
            action: Action::Ignored,
            note: report.note.unwrap_or_default().to_string(),
        };
        match report.kind {
            Kind::Unknown => {
                outcome.note = "not a bounce: left unread".into();
                return Ok(outcome);
            }
            Kind::AutoReply | Kind::Delayed => return Ok(outcome),
            Kind::Hard | Kind::Soft | Kind::Complaint => {}
        }
        match self.trace(&report)? {
            Traced::To { email, issue } => {
                // What the report says of this reader, when it names
                // several.
                if let Some(failure) = report.failure_of(&email) {
                    outcome.kind = failure.kind;
                    outcome.reason = failure.reason;
                    outcome.sender_block = failure.sender_block;
                    outcome.status.clone_from(&failure.status);
                    outcome.diagnostic.clone_from(&failure.diagnostic);
                    outcome.command = failure.command;
                }
                outcome.recipient = Some(email);
                outcome.issue = issue;
            }
            Traced::Nobody(why) => {
                outcome.note = why;
                return Ok(outcome);
            }
            Traced::Untrusted(why) => {
                outcome.action = Action::Untrusted;
                outcome.note = why;
                return Ok(outcome);
            }
        }
        if self.dry_run {
            outcome.action = Action::None;
            return Ok(outcome);
        }
        self.record(&mut outcome, key)?;
        Ok(outcome)
    }

    /// Who a report is about: the reader its signed bounce tag names, and
    /// nobody else. An address the report names is believed only as far
    /// as the tag names it too, so a forged report can only ever speak of
    /// the reader a genuine tag was made for.
    fn trace(&mut self, report: &report::Report) -> Result<Traced> {
        let Some(secret) = &self.secret else {
            return Ok(Traced::Untrusted(format!(
                "{} is not set, so nothing proves this answers mail missive sent: \
                 acts on nobody",
                crate::list::token::SECRET_ENV
            )));
        };
        let Some(tagged) = report.tags.iter().find_map(|t| secret.open_verp_tag(t)) else {
            return Ok(Traced::Untrusted(if report.tags.is_empty() {
                "no signed tag (bounce address, Return-Path or Message-ID) ties it to a \
                 message missive sent: acts on nobody"
                    .into()
            } else {
                "the bounce tag is forged or damaged: acts on nobody".into()
            }));
        };
        let issue = self.issues.get(&tagged.issue).cloned();
        // The failed recipient the tag was made for, among those named.
        let named = report
            .recipients
            .iter()
            .find(|r| tagged.names(r))
            .map(|r| normalize(r));
        let email = match (named, &issue) {
            (Some(email), _) => Some(email),
            (None, Some(stem)) => tagged.find(self.recipients_of(stem)?).cloned(),
            (None, None) => None,
        };
        let email = match email {
            Some(e) => Some(e),
            None => tagged.find(self.known()?).cloned(),
        };
        Ok(match email {
            Some(email) => Traced::To { email, issue },
            None => Traced::Nobody("the bounce tag names nobody missive sent to".into()),
        })
    }

    /// Writes the event an outcome calls for and sets its action.
    fn record(&mut self, outcome: &mut Outcome, key: &str) -> Result<()> {
        let email = outcome.recipient.clone().expect("traced");
        let issue = outcome.issue.clone().unwrap_or_default();
        let detail = match &outcome.status {
            Some(status) if !outcome.diagnostic.contains(status.as_str()) => {
                format!("{status} {}", outcome.diagnostic)
            }
            _ => outcome.diagnostic.clone(),
        };
        let (event, source) = match (outcome.kind, outcome.sender_block) {
            (Kind::Complaint, _) => (Event::Complained, "complaint"),
            (Kind::Hard, _) => (Event::Bounced, "bounce"),
            (_, true) => (Event::SenderBlocked, "bounce"),
            _ => (Event::SoftBounced, "bounce"),
        };
        let suppresses = event.suppresses();
        let soft = event == Event::SoftBounced;
        self.log
            .write_for_message(&email, event, source, &detail, &issue, key)?;
        outcome.action = if suppresses && self.suppressed.insert(&email) {
            Action::Suppressed
        } else {
            Action::Counted
        };
        if outcome.sender_block {
            outcome.note = "a block of the sender, not held against the reader".into();
        } else if soft && !issue.is_empty() {
            let issues = self.soft.entry(address_hash(&email)).or_default();
            issues.insert(issue.clone());
            let run = consecutive(&self.order, issues, &issue);
            if run >= self.soft_limit && !self.suppressed.contains(&email) {
                let why = format!("{run} issues in a row soft-bounced ([bounces] soft_limit)");
                self.log
                    .write_for_message(&email, Event::Bounced, "bounce", &why, &issue, key)?;
                self.suppressed.insert(&email);
                outcome.action = Action::Suppressed;
                outcome.note = why;
            }
        } else if outcome.action == Action::Counted && suppresses {
            outcome.note = "already off the list".into();
        }
        Ok(())
    }

    fn recipients_of(&mut self, stem: &str) -> Result<&HashMap<u64, String>> {
        if !self.recipients.contains_key(stem) {
            let path = journal::path_for(&self.project.state_dir(), stem);
            self.recipients
                .insert(stem.to_string(), journal::recipients(&path)?);
        }
        Ok(&self.recipients[stem])
    }

    fn known(&mut self) -> Result<&HashMap<u64, String>> {
        if self.known.is_none() {
            let mut known = HashMap::new();
            let list = self.project.list_path(None);
            if list.exists() {
                for row in Reader::open(&list)? {
                    let email = match row {
                        Row::Subscriber(s) => s.key(),
                        Row::Inactive { email, .. } | Row::Duplicate { email, .. } => email,
                        Row::Invalid { .. } => continue,
                    };
                    known.insert(address_hash(&email), email);
                }
            }
            for record in events::records(&self.log_path)? {
                let email = normalize(&record.email);
                known.insert(address_hash(&email), email);
            }
            self.known = Some(known);
        }
        Ok(self.known.as_ref().expect("just read"))
    }
}

/// Each sent issue's position in the order its sending began.
type SendingOrder = HashMap<String, usize>;

/// Who a report was traced to.
enum Traced {
    To {
        email: String,
        issue: Option<String>,
    },
    /// Nobody: why.
    Nobody(String),
    /// Nothing proves the report answers mail missive sent: why.
    Untrusted(String),
}

/// The issues of the project (every journal in `.missive/` and every issue
/// file) by the id their bounce tags carry, and the position of each sent
/// one in the order its sending began.
fn sent_issues(project: &Project) -> Result<(HashMap<[u8; 4], String>, SendingOrder)> {
    let mut ids = HashMap::new();
    for stem in journal::stems(&project.state_dir()) {
        ids.insert(issue_id(&stem), stem);
    }
    for path in project.issue_files().unwrap_or_default() {
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            ids.entry(issue_id(stem))
                .or_insert_with(|| stem.to_string());
        }
    }
    let order = journal::sent_in_order(&project.state_dir())?
        .into_iter()
        .enumerate()
        .map(|(i, stem)| (stem, i))
        .collect();
    Ok((ids, order))
}

/// How many issues in a row, in sending order, around `issue` are in
/// `bounced` (0 when `issue` was never sent).
fn consecutive(order: &SendingOrder, bounced: &BTreeSet<String>, issue: &str) -> usize {
    let Some(&at) = order.get(issue) else {
        return 0;
    };
    let positions: HashSet<usize> = bounced
        .iter()
        .filter_map(|s| order.get(s).copied())
        .collect();
    let before = (0..at).rev().take_while(|p| positions.contains(p)).count();
    let after = (at + 1..at + 1 + positions.len())
        .take_while(|p| positions.contains(p))
        .count();
    before + 1 + after
}

/// What identifies a message across runs: its `Message-ID`, or a digest of
/// its bytes when it has none.
fn message_key(raw: &[u8]) -> String {
    let id = mail_parser::MessageParser::new()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_string));
    match id {
        Some(id) => format!("id:{id}"),
        None => format!(
            "sha256:{}",
            data_encoding::HEXLOWER.encode(&Sha256::digest(raw)[..16])
        ),
    }
}

fn read_seen(path: &Path) -> Result<HashSet<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    Ok(reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| r.get(0).map(str::to_string))
        .collect())
}

/// Appends the keys of newly processed messages (with what they were) and
/// syncs them.
fn append_seen(path: &Path, seen: &[(String, Outcome)]) -> Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let (mut file, _) =
        crate::fsutil::AppendLog::open(path, b"key,time,source,kind,recipient,action\n", |_| {
            false
        })?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let now = crate::fsutil::timestamp();
    for (key, o) in seen {
        let action = serde_json::to_value(o.action)?;
        out.write_record([
            key.as_str(),
            &now,
            &o.source,
            o.kind.as_str(),
            o.recipient.as_deref().unwrap_or(""),
            action.as_str().unwrap_or(""),
        ])?;
    }
    let bytes = out.into_inner().context("cannot format the seen list")?;
    file.append(&bytes)?;
    file.sync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_bounces_count_only_in_a_row() {
        let order: HashMap<String, usize> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, s)| ((*s).to_string(), i))
            .collect();
        let set = |s: &[&str]| s.iter().map(|x| (*x).to_string()).collect::<BTreeSet<_>>();
        assert_eq!(consecutive(&order, &set(&["a", "b", "c"]), "c"), 3);
        assert_eq!(consecutive(&order, &set(&["a", "c", "d"]), "d"), 2);
        assert_eq!(consecutive(&order, &set(&["b", "d", "c"]), "c"), 3);
        assert_eq!(consecutive(&order, &set(&["x"]), "x"), 0);
    }
}
