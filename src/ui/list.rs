//! `subscribers`: what the list holds, what the list-event log suppresses,
//! the sign-ups, and its `--json`.

use std::collections::BTreeMap;
use std::fmt::{self, Display, Formatter};
use std::path::Path;

use serde::Serialize;

use super::{path, printable};
use crate::list::events::Event;
use crate::list::reader::{Status, Tally};

/// What `missive subscribers` counts.
pub(crate) struct ListSummary<'a> {
    pub list: &'a Path,
    pub tally: &'a Tally,
    /// The list-event log.
    pub log: &'a Path,
    /// Addresses the log suppresses.
    pub suppressed: usize,
    /// Of them, by the event that suppressed them.
    pub suppressed_by_event: BTreeMap<Event, usize>,
    /// Sign-ups by their latest word.
    pub confirmed: usize,
    pub pending: usize,
}

impl Display for ListSummary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = self.tally;
        writeln!(f, "{}", path(self.list))?;
        writeln!(f, "  subscribed:   {}", t.subscribed)?;
        for (status, n) in &t.inactive {
            writeln!(f, "  {status:<13} {n}")?;
        }
        writeln!(f, "  duplicates:   {}", t.duplicates.len())?;
        writeln!(f, "  invalid rows: {}", t.invalid.len())?;
        for row in t.invalid.iter().take(20) {
            writeln!(f, "    line {}: {}", row.line, printable(&row.reason))?;
        }
        let kinds: Vec<String> = self
            .suppressed_by_event
            .iter()
            .map(|(event, n)| format!("{n} {event}"))
            .collect();
        write!(
            f,
            "{}: {} address{} suppressed",
            path(self.log),
            self.suppressed,
            if self.suppressed == 1 { "" } else { "es" },
        )?;
        if !kinds.is_empty() {
            write!(f, " ({})", kinds.join(", "))?;
        }
        writeln!(f)?;
        if self.confirmed + self.pending > 0 {
            writeln!(
                f,
                "sign-ups: {} confirmed, {} waiting for their confirmation",
                self.confirmed, self.pending
            )?;
        }
        Ok(())
    }
}

/// `missive subscribers --json`: the fields the manual documents.
#[derive(Serialize)]
pub(crate) struct ListJson<'a> {
    duplicates: usize,
    inactive: &'a BTreeMap<Status, u64>,
    invalid: Vec<InvalidJson<'a>>,
    list: &'a Path,
    log: &'a Path,
    signups: Signups,
    subscribed: u64,
    suppressed: usize,
    suppressed_by_event: &'a BTreeMap<Event, usize>,
}

#[derive(Serialize)]
struct InvalidJson<'a> {
    line: u64,
    reason: &'a str,
}

#[derive(Serialize)]
struct Signups {
    confirmed: usize,
    pending: usize,
}

impl<'a> From<&'a ListSummary<'a>> for ListJson<'a> {
    fn from(s: &'a ListSummary<'a>) -> ListJson<'a> {
        ListJson {
            duplicates: s.tally.duplicates.len(),
            inactive: &s.tally.inactive,
            invalid: s
                .tally
                .invalid
                .iter()
                .map(|r| InvalidJson {
                    line: r.line,
                    reason: &r.reason,
                })
                .collect(),
            list: s.list,
            log: s.log,
            signups: Signups {
                confirmed: s.confirmed,
                pending: s.pending,
            },
            subscribed: s.tally.subscribed,
            suppressed: s.suppressed,
            suppressed_by_event: &s.suppressed_by_event,
        }
    }
}
