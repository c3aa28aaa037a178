//! `status`: what the journal says of an issue, what came back, and its
//! `--json`.

use std::collections::BTreeMap;
use std::fmt::{self, Display, Formatter};
use std::path::Path;

use serde::Serialize;

use super::{path, printable};
use crate::compose::Composed;
use crate::send::{Feedback, Status};

/// `missive status`.
pub(crate) struct StatusScreen<'a> {
    pub composed: &'a Composed,
    pub status: &'a Status,
}

impl Display for StatusScreen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (composed, status) = (self.composed, self.status);
        writeln!(
            f,
            "{} ({})",
            composed.issue.issue.subject,
            path(&composed.issue.path)
        )?;
        writeln!(f, "journal: {}", path(&status.journal))?;
        writeln!(f, "sent:    {}", status.sent)?;
        for (relay, n) in &status.by_relay {
            writeln!(f, "  via {}: {n}", printable(relay))?;
        }
        writeln!(f, "failed:  {}", status.failed)?;
        if status.unknown > 0 {
            writeln!(
                f,
                "unknown: {} (no final reply: perhaps delivered; not retried without --retry-failed)",
                status.unknown
            )?;
        }
        writeln!(f, "pending: {} (never attempted or to retry)", status.due)?;
        write!(f, "{}", FeedbackLines(&status.feedback))?;
        if !status.problems.is_empty() {
            writeln!(f, "not sent:")?;
            for p in &status.problems {
                writeln!(
                    f,
                    "  {} ({}): {}",
                    printable(&p.email),
                    p.state.as_str(),
                    printable(&p.reply)
                )?;
            }
        }
        Ok(())
    }
}

/// The bounces and complaints of an issue, with their rates, and a warning
/// when they pass what the large mailbox providers tolerate.
struct FeedbackLines<'a>(&'a Feedback);

impl Display for FeedbackLines<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let fb = self.0;
        let percent = |n: usize| format!("{n} ({:.1}%)", fb.rate(n) * 100.0);
        writeln!(
            f,
            "delivered:    {} (accepted, less what bounced since)",
            fb.delivered
        )?;
        writeln!(f, "hard bounces: {}", percent(fb.hard))?;
        writeln!(f, "soft bounces: {}", percent(fb.soft))?;
        writeln!(f, "complaints:   {}", percent(fb.complaints))?;
        writeln!(
            f,
            "unsubscribes: {} (readers sent it who left before the next issue)",
            percent(fb.unsubscribes)
        )?;
        if fb.sender_blocks > 0 {
            writeln!(
                f,
                "blocks of the sender: {} (refused for policy, spam or reputation: check SPF, \
                 DKIM, DMARC and your sending IP's blocklist status)",
                fb.sender_blocks
            )?;
        }
        if fb.rate(fb.hard + fb.soft) > Feedback::BOUNCE_WARNING {
            writeln!(
                f,
                "warning: bounces passed 2% of the messages sent ({:.1}%): clean the list before \
                 the next issue",
                fb.rate(fb.hard + fb.soft) * 100.0
            )?;
        }
        if fb.rate(fb.complaints) > Feedback::COMPLAINT_WARNING {
            writeln!(
                f,
                "warning: complaints passed 0.1% of the messages sent ({:.2}%): Gmail and Yahoo \
                 filter senders above 0.3%",
                fb.rate(fb.complaints) * 100.0
            )?;
        }
        Ok(())
    }
}

/// `missive status --json`: the fields the manual documents.
#[derive(Serialize)]
pub(crate) struct StatusJson<'a> {
    by_relay: &'a BTreeMap<String, usize>,
    complete: bool,
    failed: usize,
    feedback: FeedbackJson,
    issue: &'a Path,
    journal: &'a Path,
    pending: u64,
    problems: Vec<ProblemJson<'a>>,
    sent: usize,
    subject: &'a str,
    unknown: usize,
}

#[derive(Serialize)]
struct FeedbackJson {
    attempted: usize,
    complaints: usize,
    delivered: usize,
    hard_bounces: usize,
    sender_blocks: usize,
    soft_bounces: usize,
    unsubscribes: usize,
}

#[derive(Serialize)]
struct ProblemJson<'a> {
    email: &'a str,
    reply: &'a str,
    state: &'static str,
}

impl<'a> StatusJson<'a> {
    pub(crate) fn new(composed: &'a Composed, status: &'a Status) -> StatusJson<'a> {
        let fb = &status.feedback;
        StatusJson {
            by_relay: &status.by_relay,
            complete: status.complete,
            failed: status.failed,
            feedback: FeedbackJson {
                attempted: fb.attempted,
                complaints: fb.complaints,
                delivered: fb.delivered,
                hard_bounces: fb.hard,
                sender_blocks: fb.sender_blocks,
                soft_bounces: fb.soft,
                unsubscribes: fb.unsubscribes,
            },
            issue: &composed.issue.path,
            journal: &status.journal,
            pending: status.due,
            problems: status
                .problems
                .iter()
                .map(|p| ProblemJson {
                    email: &p.email,
                    reply: &p.reply,
                    state: p.state.as_str(),
                })
                .collect(),
            sent: status.sent,
            subject: composed.issue.issue.subject.as_str(),
            unknown: status.unknown,
        }
    }
}
