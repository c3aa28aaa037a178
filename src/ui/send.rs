//! `send`: the plan shown before a dispatch, what a run did and how to go
//! on, the quota waits, a dry run and its `--json`, a test sent.

use std::fmt::{self, Display, Formatter};
use std::path::Path;

use serde::Serialize;

use super::{path, plural, printable};
use crate::compose::Composed;
use crate::list::reader::Status;
use crate::send::{Outcome, Plan, QuotaFrees, RelayProgress, Stop, TestSent};

/// The sentence `send --test` ends with.
pub(crate) fn test_sent(sent: &TestSent) -> String {
    printable(&sent.to_string()).into_owned()
}

/// The summary shown before a dispatch: who gets it, who is skipped and
/// why, where it goes.
pub(crate) struct PlanScreen<'a> {
    pub composed: &'a Composed,
    pub plan: &'a Plan,
}

impl Display for PlanScreen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (composed, plan) = (self.composed, self.plan);
        writeln!(
            f,
            "Issue:       {} ({})",
            composed.issue.issue.subject,
            path(&composed.issue.path)
        )?;
        writeln!(f, "Subscribers: {}", path(&plan.list))?;
        writeln!(f, "  to send now:        {}", plan.this_run)?;
        if plan.due > plan.this_run {
            writeln!(
                f,
                "  left for later:     {} (--limit)",
                plan.due - plan.this_run
            )?;
        }
        writeln!(
            f,
            "  already sent:       {} (journal {})",
            plan.already_sent,
            path(&plan.journal)
        )?;
        if plan.failed_before > 0 {
            writeln!(
                f,
                "  failed before:      {} (not retried without --retry-failed)",
                plan.failed_before
            )?;
        }
        if plan.unknown_before > 0 {
            writeln!(
                f,
                "  no final reply:     {} (perhaps delivered; not retried without --retry-failed)",
                plan.unknown_before
            )?;
        }
        self.list_rows(f)?;
        self.relays(f)?;
        self.quota(f)
    }
}

impl PlanScreen<'_> {
    /// Who is skipped, and the rows that are not readers.
    fn list_rows(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (plan, t) = (self.plan, &self.plan.tally);
        let skipped: Vec<String> = t.inactive.iter().map(|(s, n)| format!("{n} {s}")).collect();
        write!(f, "  skipped by status:  {}", plan.skipped())?;
        if !skipped.is_empty() {
            write!(f, " ({})", skipped.join(", "))?;
        }
        writeln!(f)?;
        writeln!(f, "  duplicates:         {}", t.duplicates.len())?;
        for d in t.duplicates.iter().take(10) {
            writeln!(
                f,
                "    line {}: {} is already on line {}",
                d.line,
                printable(&d.email),
                d.first_line
            )?;
        }
        writeln!(f, "  invalid rows:       {}", t.invalid.len())?;
        for row in t.invalid.iter().take(20) {
            writeln!(f, "    line {}: {}", row.line, printable(&row.reason))?;
        }
        if t.invalid.len() > 20 {
            writeln!(f, "    … and {} more", t.invalid.len() - 20)?;
        }
        Ok(())
    }

    /// Where it goes: the transport, or each relay with its weight.
    fn relays(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let plan = self.plan;
        let cap = self.composed.project.config.sending.rate.map(|r| r.0);
        let dry = if plan.dry_run {
            " — dry run, nothing will be sent"
        } else {
            ""
        };
        match (plan.relays.all(), plan.quotas.as_slice()) {
            ([relay], [quota]) => {
                writeln!(f, "Transport:   {}{dry}", relay_line(relay, quota, cap))
            }
            (relays, quotas) => {
                let weights: Vec<String> = relays.iter().map(|r| r.weight.to_string()).collect();
                writeln!(
                    f,
                    "Relays:      {} by weight {}, {} in all{dry}",
                    relays.len(),
                    weights.join(":"),
                    rate(cap)
                )?;
                for (relay, quota) in relays.iter().zip(quotas) {
                    writeln!(
                        f,
                        "  {}: weight {}, {}",
                        printable(&relay.name),
                        relay.weight,
                        relay_line(relay, quota, None)
                    )?;
                }
                Ok(())
            }
        }
    }

    /// How many the relays' daily limits let go now, if not all.
    fn quota(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let plan = self.plan;
        let now = plan.can_go_now();
        if now < plan.this_run && !plan.dry_run {
            write!(
                f,
                "Quota:       {now} of the {} can go now (the relays' daily limits)",
                plan.this_run
            )?;
            if let Some(frees) = plan.quota_frees() {
                write!(f, "; {}", quota_frees(&frees))?;
            }
            writeln!(f, "; the send stops there (exit 3) unless --wait")?;
        }
        Ok(())
    }
}

/// "at most 50/s", or "no rate limit".
fn rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "no rate limit".into(), |r| format!("at most {r}/s"))
}

/// A relay as the plan shows it: transport, connections, rate, quota.
fn relay_line(
    relay: &crate::send::transport::Relay,
    quota: &crate::send::RelayQuota,
    cap: Option<f64>,
) -> String {
    let limit = match (relay.rate, cap) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let daily = match (quota.daily_limit, quota.left) {
        (Some(limit), Some(left)) => format!(", {limit}/day ({left} left now)"),
        _ => String::new(),
    };
    format!(
        "{}; {} connection{}, {}{daily}",
        printable(&relay.transport.describe()),
        relay.concurrency,
        plural(relay.concurrency),
        rate(limit)
    )
}

/// "quota frees at 14:05 UTC (relay ses)".
pub(crate) fn quota_frees(frees: &QuotaFrees) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let day = if frees.at.date() == today {
        String::new()
    } else {
        format!(" on {}", frees.at.date())
    };
    format!(
        "quota frees at {:02}:{:02} UTC{day} (relay {})",
        frees.at.hour(),
        frees.at.minute(),
        printable(&frees.relay)
    )
}

/// When the quota frees, or "within a day" when it is not known.
fn frees_or_a_day(outcome: &Outcome) -> String {
    outcome
        .quota
        .as_ref()
        .map_or_else(|| "the quota frees within a day".into(), quota_frees)
}

/// Each relay's part of a run: "ses 300 at 150/s, gw 12 (out: …)".
pub(super) fn relay_parts(relays: &[RelayProgress], rates: bool) -> String {
    let parts: Vec<String> = relays
        .iter()
        .map(|r| {
            let name = printable(&r.name);
            match &r.out {
                Some(why) => format!("{name} {} (taken out: {})", r.sent, printable(why)),
                None if rates => format!("{name} {} at {:.0}/s", r.sent, r.rate),
                None => format!("{name} {}", r.sent),
            }
        })
        .collect();
    parts.join(", ")
}

/// A send that stopped at the quotas and waits (`--wait`).
pub(crate) struct QuotaWait<'a>(pub &'a Outcome);

impl Display for QuotaWait<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "This run: sent {}; {} left; {}; waiting (--wait)…",
            self.0.report.sent,
            self.0.pending,
            frees_or_a_day(self.0)
        )
    }
}

/// A waiting send goes on.
pub(crate) struct GoingOn<'a>(pub &'a Plan);

impl Display for GoingOn<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Going on: {} to send, {} of them now; {} already sent.",
            self.0.this_run,
            self.0.can_go_now(),
            self.0.already_sent
        )
    }
}

/// What a dry run built (stdout).
pub(crate) struct DryRun<'a>(pub &'a Outcome);

impl Display for DryRun<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let report = &self.0.report;
        writeln!(
            f,
            "Dry run: built {} message{} in {:.1} s; nothing was sent.",
            report.sent,
            plural(report.sent),
            report.elapsed.as_secs_f64()
        )
    }
}

/// The rows whose message could not be made (stderr).
pub(crate) struct Unbuildable<'a>(pub &'a Outcome);

impl Display for Unbuildable<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for u in &self.0.report.unbuildable {
            writeln!(
                f,
                "  line {}: {}: {}",
                u.line,
                printable(&u.email),
                printable(&u.reason)
            )?;
        }
        Ok(())
    }
}

/// What a send did (stdout).
pub(crate) struct Done<'a>(pub &'a Outcome);

impl Display for Done<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let outcome = self.0;
        let report = &outcome.report;
        write!(
            f,
            "This run: sent {}, failed {}, deferred {}",
            report.sent, report.failed, report.deferred
        )?;
        if report.unknown > 0 {
            write!(f, ", {} with no final reply", report.unknown)?;
        }
        writeln!(
            f,
            " in {:.1} s ({:.0} messages/s, {} attempts).",
            report.elapsed.as_secs_f64(),
            report.sent as f64 / report.elapsed.as_secs_f64().max(0.001),
            report.attempts
        )?;
        if report.relays.len() > 1 {
            writeln!(f, "By relay: {}.", relay_parts(&report.relays, false))?;
        }
        if outcome.left > 0 {
            writeln!(
                f,
                "{} left the list while it was sent (unsubscribed or bounced): not sent.",
                outcome.left
            )?;
        }
        write!(
            f,
            "In all: {} sent, {} failed, {} to retry, {} not yet attempted",
            outcome.sent, outcome.failed, outcome.deferred, outcome.pending
        )?;
        if outcome.unknown > 0 {
            write!(
                f,
                ", {} with no final reply (perhaps delivered)",
                outcome.unknown
            )?;
        }
        writeln!(f, ".")
    }
}

/// How to go on after a send (stderr): why it stopped, or that not
/// everyone got it. `resume` and `status` are the commands that resume the
/// send and that show its status.
pub(crate) struct GoOn<'a> {
    pub outcome: &'a Outcome,
    pub resume: &'a str,
    pub status: &'a str,
}

impl Display for GoOn<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let outcome = self.outcome;
        let (resume, status) = (printable(self.resume), printable(self.status));
        match &outcome.report.stop {
            Some(Stop::Interrupted) => {
                writeln!(
                    f,
                    "Interrupted. The journal is safe; resume with `{resume}`."
                )
            }
            Some(stop @ (Stop::Records(_) | Stop::Relay(_) | Stop::NoRelayLeft(_)))
                if stop.is_refusal() =>
            {
                writeln!(
                    f,
                    "error: stopped early because the server is refusing nearly everything: {}\n\
                     Fix the cause, then resume with `{resume}` (add --retry-failed to retry the refused).",
                    printable(&stop.to_string())
                )
            }
            Some(stop @ (Stop::Records(_) | Stop::Relay(_) | Stop::NoRelayLeft(_))) => writeln!(
                f,
                "error: stopped: {}\nFix it, then resume with `{resume}`.",
                printable(&stop.to_string())
            ),
            Some(Stop::Quota) => writeln!(
                f,
                "Stopped at the relays' daily limits: {} left; {}. Resume then with `{resume}`, \
                 or run it with --wait to wait and go on.",
                outcome.pending,
                frees_or_a_day(outcome)
            ),
            None if outcome.failed > 0 || outcome.deferred > 0 || outcome.unknown > 0 => writeln!(
                f,
                "Not everyone got the issue: `{status}` lists why; `{resume}` retries the deferred, \
                 `{resume} --retry-failed` the refused and those with no final reply too."
            ),
            None => Ok(()),
        }
    }
}

/// `missive send --dry-run --json`: the plan and what the dry run built.
#[derive(Serialize)]
pub(crate) struct DryRunJson<'a> {
    already_sent: u64,
    built: u64,
    can_go_now: u64,
    duplicates: Vec<Row<'a>>,
    failed_before: u64,
    invalid: Vec<Row<'a>>,
    issue: &'a Path,
    journal: &'a Path,
    left_for_later: u64,
    list: &'a Path,
    relays: Vec<RelayJson>,
    skipped: &'a std::collections::BTreeMap<Status, u64>,
    subject: &'a str,
    to_send: u64,
    unbuildable: Vec<Row<'a>>,
    unknown_before: u64,
}

/// A row of the list the JSON names: its line and what is said of it.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_line: Option<u64>,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct RelayJson {
    concurrency: usize,
    daily_limit: Option<u64>,
    left_now: Option<u64>,
    name: String,
    rate: Option<f64>,
    transport: String,
    weight: u32,
}

impl<'a> DryRunJson<'a> {
    pub(crate) fn new(
        composed: &'a Composed,
        plan: &'a Plan,
        outcome: &'a Outcome,
    ) -> DryRunJson<'a> {
        let t = &plan.tally;
        DryRunJson {
            already_sent: plan.already_sent,
            built: outcome.report.sent,
            can_go_now: plan.can_go_now(),
            duplicates: t
                .duplicates
                .iter()
                .map(|d| Row {
                    email: Some(&d.email),
                    first_line: Some(d.first_line),
                    line: d.line,
                    reason: None,
                })
                .collect(),
            failed_before: plan.failed_before,
            invalid: t
                .invalid
                .iter()
                .map(|r| Row {
                    email: None,
                    first_line: None,
                    line: r.line,
                    reason: Some(&r.reason),
                })
                .collect(),
            issue: &composed.issue.path,
            journal: &plan.journal,
            left_for_later: plan.due - plan.this_run,
            list: &plan.list,
            relays: plan
                .relays
                .all()
                .iter()
                .zip(&plan.quotas)
                .map(|(r, q)| RelayJson {
                    concurrency: r.concurrency,
                    daily_limit: r.daily_limit,
                    left_now: q.left,
                    name: r.name.clone(),
                    rate: r.rate,
                    transport: r.transport.describe(),
                    weight: r.weight,
                })
                .collect(),
            skipped: &t.inactive,
            subject: composed.issue.issue.subject.as_str(),
            to_send: plan.this_run,
            unbuildable: outcome
                .report
                .unbuildable
                .iter()
                .map(|u| Row {
                    email: Some(&u.email),
                    first_line: None,
                    line: u.line,
                    reason: Some(&u.reason),
                })
                .collect(),
            unknown_before: plan.unknown_before,
        }
    }
}
