//! The click counts log, `.missive/clicks/counts.jsonl`: append-only,
//! fsynced JSON lines, each how many clicks an issue's link had in an hour
//! with one verdict — `{"issue", "link", "hour", "verdict", "clicks"}` and
//! nothing else. Lines add up: a line is written once, for clicks no other
//! line counts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::classify::{Key, Verdict};
use crate::fsutil::AppendLog;

/// The log of a project (`state_dir` is its `.missive/`).
pub(crate) fn path_in(state_dir: &Path) -> PathBuf {
    crate::send::clicks::dir(state_dir).join("counts.jsonl")
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Count {
    /// The issue's file stem.
    pub issue: String,
    /// The link's number in the issue's table (0: the honeypot).
    pub link: u32,
    /// The hour's start (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    pub verdict: Verdict,
    pub clicks: u64,
}

/// The log, open for appending.
pub(crate) struct CountLog {
    log: AppendLog,
}

impl CountLog {
    pub(crate) fn open(path: &Path) -> Result<CountLog> {
        // A line a crash cut short is dropped: its clicks were never
        // reported as written.
        let (log, _) = AppendLog::open(path, b"", |line| {
            serde_json::from_slice::<Count>(line).is_ok()
        })?;
        Ok(CountLog { log })
    }

    /// Appends `counts` in one write, durably (nothing when empty).
    pub(crate) fn append(&mut self, counts: &HashMap<Key, u64>) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<(&Key, &u64)> = counts.iter().collect();
        sorted.sort();
        let mut lines = Vec::with_capacity(sorted.len() * 100);
        for (key, clicks) in sorted {
            serde_json::to_writer(
                &mut lines,
                &Count {
                    issue: key.issue.to_string(),
                    link: key.link,
                    hour: key.hour,
                    verdict: key.verdict,
                    clicks: *clicks,
                },
            )?;
            lines.push(b'\n');
        }
        self.log.append(&lines)?;
        self.log.sync()
    }
}

/// Every count of `issue` in the log (a missing log: none). A last line
/// a crash cut short is skipped; any other unreadable line is an error.
pub(crate) fn read(path: &Path, issue: &str) -> Result<Vec<Count>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        match serde_json::from_str::<Count>(line) {
            Ok(count) if count.issue == issue => out.push(count),
            Ok(_) => {}
            Err(_) if lines.peek().is_none() && !text.ends_with('\n') => {}
            Err(e) => anyhow::bail!("{}:{}: not a click count: {e}", path.display(), i + 1),
        }
    }
    Ok(out)
}
