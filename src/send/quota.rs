//! Daily quotas across runs and issues: how many messages each relay took
//! in the last 24 hours, counted from the journals (which name the relay of
//! every message that went out) and kept as a snapshot in
//! `.missive/relays.json` with how far into each journal it has read, so a
//! run reads only what was appended since. The journals stay the record: a
//! lost or stale snapshot is rebuilt from them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::journal::{self, Entry, Outcome, State};

/// The rolling window a `daily_limit` counts over, in seconds.
const DAY: i64 = 24 * 60 * 60;

/// **For tests only**: shortens the quota window to this many seconds, so
/// that a test can see a quota free up without waiting a day. Never set it
/// for a real list: the relays' own limits count over 24 hours.
pub(crate) const TEST_WINDOW_ENV: &str = "MISSIVE_TEST_QUOTA_WINDOW_SECS";

/// The quota window in seconds: a day, unless a test shortened it. A
/// release build ignores the test setting, and says so.
fn window() -> i64 {
    let test = std::env::var(TEST_WINDOW_ENV)
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|secs| (1..=DAY).contains(secs));
    match test {
        Some(secs) if cfg!(debug_assertions) => secs,
        Some(_) => {
            tracing::warn!(
                "{TEST_WINDOW_ENV} is set but ignored: it is for missive's own tests, and a \
                 relay's daily limit counts over 24 hours"
            );
            DAY
        }
        None => DAY,
    }
}

/// What each relay sent, in time slots of 1/1440 of the window (a minute
/// for a day), and how far each journal has been read.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Usage {
    /// The slot length, in seconds; a snapshot with another is rebuilt.
    slot: i64,
    /// Relay name → slot start (Unix seconds) → messages.
    relays: BTreeMap<String, BTreeMap<i64, u64>>,
    /// Journal stem → how far it was read.
    journals: BTreeMap<String, ReadTo>,
    /// The window, in seconds.
    #[serde(skip)]
    window: i64,
}

impl Usage {
    /// The snapshot in `state_dir`, brought up to date with the journals
    /// there, without slots older than the window.
    pub(crate) fn load(state_dir: &Path) -> Result<Usage> {
        let window = window();
        let slot = (window / 1440).max(1);
        let path = path(state_dir);
        let mut usage = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Usage>(&bytes).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Usage::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        // A snapshot of other slots, or that does not match the journals
        // it read, is made again from them.
        if usage.slot != slot || !usage.matches_journals(state_dir) {
            usage = Usage {
                slot,
                ..Usage::default()
            };
        }
        usage.window = window;
        usage.refresh(state_dir)?;
        Ok(usage)
    }

    /// Whether every journal the snapshot read is still there, at least as
    /// long, with the same bytes before the point it read to.
    fn matches_journals(&self, state_dir: &Path) -> bool {
        self.journals.iter().all(|(stem, read)| {
            let Ok(mut file) = std::fs::File::open(journal::path_for(state_dir, stem)) else {
                return false;
            };
            file.metadata().is_ok_and(|m| m.len() >= read.bytes)
                && tail_digest(&mut file, read.bytes).is_ok_and(|d| d == read.tail)
        })
    }

    /// Brings a usage already loaded up to date with what the journals in
    /// `state_dir` gained since (a long-running server's).
    pub(crate) fn refresh(&mut self, state_dir: &Path) -> Result<()> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        for stem in journal::stems(state_dir) {
            self.catch_up(&journal::path_for(state_dir, &stem), &stem, now)?;
        }
        self.prune(now);
        Ok(())
    }

    /// Reads what `journal` gained since the snapshot.
    fn catch_up(&mut self, journal: &Path, stem: &str, now: i64) -> Result<()> {
        let mut file = match std::fs::File::open(journal) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", journal.display())),
        };
        let metadata = file.metadata()?;
        let len = metadata.len();
        let mut from = self.journals.get(stem).map_or(0, |r| r.bytes);
        if from > len {
            // Not the journal the snapshot read (it was replaced): start over.
            from = 0;
        }
        let window = Duration::from_secs(self.window.unsigned_abs());
        let stale = metadata
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > window);
        if stale {
            // Nothing in it is recent enough to count.
            let tail = tail_digest(&mut file, len)
                .with_context(|| format!("cannot read {}", journal.display()))?;
            self.journals
                .insert(stem.to_string(), ReadTo { bytes: len, tail });
            return Ok(());
        }
        file.seek(SeekFrom::Start(from))?;
        let mut reader = BufReader::new(file.try_clone()?.take(len - from));
        let mut line = Vec::new();
        let since = now - self.window;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read {}", journal.display()))?;
            if n == 0 || line.last() != Some(&b'\n') {
                break; // the end, or a line still being written
            }
            from += n as u64;
            if let Ok(Entry::Outcome(Outcome {
                state: State::Sent | State::Unknown,
                at,
                relay: Some(relay),
                ..
            })) = serde_json::from_slice::<Entry>(&line)
                && at.unix_timestamp() > since
            {
                self.add(&relay, at.unix_timestamp());
            }
        }
        let tail = tail_digest(&mut file, from)
            .with_context(|| format!("cannot read {}", journal.display()))?;
        self.journals
            .insert(stem.to_string(), ReadTo { bytes: from, tail });
        Ok(())
    }

    fn add(&mut self, relay: &str, at: i64) {
        let slot = at - at.rem_euclid(self.slot);
        *self
            .relays
            .entry(relay.to_string())
            .or_default()
            .entry(slot)
            .or_default() += 1;
    }

    /// Drops the slots that have left the window.
    fn prune(&mut self, now: i64) {
        let (slot, window) = (self.slot, self.window);
        for slots in self.relays.values_mut() {
            slots.retain(|start, _| start + slot + window > now);
        }
        self.relays.retain(|_, slots| !slots.is_empty());
    }

    /// Messages `relay` took in the window.
    pub(crate) fn used(&self, relay: &str) -> u64 {
        self.relays.get(relay).map_or(0, |s| s.values().sum())
    }

    /// When `relay`, allowed `limit` a window, can take `want` more (now,
    /// if it already can).
    pub(crate) fn frees_at(&self, relay: &str, limit: u64, want: u64) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        let Some(slots) = self.relays.get(relay) else {
            return now;
        };
        let want = want.min(limit);
        let mut used: u64 = slots.values().sum();
        let mut at = now;
        for (start, n) in slots {
            if used + want <= limit {
                break;
            }
            used -= n;
            at =
                OffsetDateTime::from_unix_timestamp(start + self.slot + self.window).unwrap_or(now);
        }
        at.max(now)
    }

    /// Writes the snapshot (atomically).
    pub(crate) fn save(&self, state_dir: &Path) -> Result<()> {
        let json = serde_json::to_vec(self).expect("usage serializes");
        crate::fsutil::write_atomic(&path(state_dir), &json, Some(0o600))
    }
}

/// How far a journal was read, and a digest of the bytes just before that
/// point, by which a snapshot is checked against the journal as it is now
/// (a journal replaced, cut or from elsewhere does not match, and every
/// count is then made again from the journals).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ReadTo {
    bytes: u64,
    tail: String,
}

/// How many bytes before the point read the digest covers.
const TAIL: u64 = 4096;

/// The digest of `file`'s bytes before `offset` (at most [`TAIL`] of them).
fn tail_digest(file: &mut std::fs::File, offset: u64) -> std::io::Result<String> {
    use sha2::Digest as _;
    let start = offset.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(TAIL as usize);
    file.take(offset - start).read_to_end(&mut bytes)?;
    Ok(data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&bytes)[..12]))
}

/// The snapshot's file.
fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("relays.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::journal::Journal;

    fn sent(email: &str, at: OffsetDateTime, relay: &str) -> Entry {
        Entry::Outcome(Outcome {
            state: State::Sent,
            email: email.into(),
            at,
            reply: "250".into(),
            relay: Some(relay.into()),
        })
    }

    #[test]
    fn counts_the_last_day_from_the_journals_and_reads_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let journal = Journal::open(&journal::path_for(dir.path(), "a")).unwrap();
        journal
            .record(&sent("old@x.org", now - time::Duration::hours(25), "ses"))
            .unwrap();
        for i in 0..3 {
            journal
                .record(&sent(
                    &format!("r{i}@x.org"),
                    now - time::Duration::hours(2),
                    "ses",
                ))
                .unwrap();
        }
        journal
            .record(&sent("w@x.org", now - time::Duration::hours(1), "gw"))
            .unwrap();
        journal.sync().unwrap();
        let usage = Usage::load(dir.path()).unwrap();
        assert_eq!((usage.used("ses"), usage.used("gw")), (3, 1));
        usage.save(dir.path()).unwrap();

        // More in another issue's journal; the first is not read again.
        let other = Journal::open(&journal::path_for(dir.path(), "b")).unwrap();
        other.record(&sent("n@x.org", now, "ses")).unwrap();
        other.sync().unwrap();
        let usage = Usage::load(dir.path()).unwrap();
        assert_eq!(usage.used("ses"), 4);
        usage.save(dir.path()).unwrap();
        let usage = Usage::load(dir.path()).unwrap();
        assert_eq!(usage.used("ses"), 4, "nothing counted twice");

        // With a limit of 4, one more frees when the 2-hours-old slot leaves.
        let frees = usage.frees_at("ses", 4, 1);
        let expected = now - time::Duration::hours(2) + time::Duration::days(1);
        assert!(
            (frees - expected).whole_seconds().abs() <= 60,
            "{frees} vs {expected}"
        );
        let soon = usage.frees_at("ses", 10, 1) - OffsetDateTime::now_utc();
        assert!(soon.whole_seconds() <= 1, "room left: {soon}");
        // Room for four more only when the newest message leaves too.
        let all = usage.frees_at("ses", 4, 4);
        let expected = now + time::Duration::days(1);
        assert!(
            (all - expected).whole_seconds().abs() <= 60,
            "{all} vs {expected}"
        );
    }

    #[test]
    fn a_lost_snapshot_is_rebuilt_from_the_journals() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&journal::path_for(dir.path(), "a")).unwrap();
        journal
            .record(&sent("a@x.org", OffsetDateTime::now_utc(), "r"))
            .unwrap();
        journal.sync().unwrap();
        Usage::load(dir.path()).unwrap().save(dir.path()).unwrap();
        std::fs::write(path(dir.path()), b"{ not json").unwrap();
        assert_eq!(Usage::load(dir.path()).unwrap().used("r"), 1);
        std::fs::remove_file(path(dir.path())).unwrap();
        assert_eq!(Usage::load(dir.path()).unwrap().used("r"), 1);
    }

    /// A snapshot that is well-formed but does not match the journals it
    /// read (one replaced by another as long, one gone) is not trusted:
    /// the counts are made again from the journals.
    #[test]
    fn a_stale_snapshot_is_checked_against_the_journals() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let journal = Journal::open(&journal::path_for(dir.path(), "a")).unwrap();
        for i in 0..3 {
            journal
                .record(&sent(&format!("r{i}@x.org"), now, "r"))
                .unwrap();
        }
        journal.sync().unwrap();
        let mut usage = Usage::load(dir.path()).unwrap();
        assert_eq!(usage.used("r"), 3);
        // The snapshot of another state: no counts, the same offsets.
        usage.relays.clear();
        usage.save(dir.path()).unwrap();
        // The journal replaced by another of the same length: rebuilt.
        let text = std::fs::read_to_string(journal::path_for(dir.path(), "a")).unwrap();
        std::fs::write(
            journal::path_for(dir.path(), "a"),
            text.replace("r0@x.org", "q0@x.org"),
        )
        .unwrap();
        assert_eq!(Usage::load(dir.path()).unwrap().used("r"), 3, "rebuilt");
        // A journal it read is gone: rebuilt from those there are.
        usage.journals.insert(
            "gone".into(),
            ReadTo {
                bytes: 10,
                tail: "x".into(),
            },
        );
        usage.save(dir.path()).unwrap();
        assert_eq!(Usage::load(dir.path()).unwrap().used("r"), 3, "rebuilt");
    }
}
