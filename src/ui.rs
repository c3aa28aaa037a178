//! What a person reads on the terminal: the send plan and its outcome,
//! status, counts, warnings, sizes and times, the confirmation prompt and
//! the progress of a send. Values from outside (SMTP replies, list rows,
//! file names) are made safe to print first.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "this module is what a person reads on the terminal"
)]

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::bounces::{Action, Run};
use crate::compose::{Composed, Warning};
use crate::list::events::Migrated;
use crate::send::{Outcome, Plan, Progress, Reporter, Status, Stop, TestSent};

/// `text` with every control character (escape sequences included) written
/// as a visible escape such as `\u{1b}`, so a server reply or a list row can
/// never move the cursor, recolour or retitle the author's terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape_controls(text, |_| false)
}

/// `text` with its control characters written as visible escapes, but for
/// those `keep` lets through.
fn escape_controls(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && !keep(c);
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !escaped(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// `""` for one, `"s"` for any other count.
pub fn plural(n: impl TryInto<u64>) -> &'static str {
    if n.try_into().ok() == Some(1) {
        ""
    } else {
        "s"
    }
}

/// `1234` bytes as `1.2 KB`.
pub fn kilobytes(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

/// A duration in milliseconds, for timings.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A path as it may be printed.
pub fn path(p: &Path) -> String {
    printable(&p.display().to_string()).into_owned()
}

/// Prints `check`'s findings, one a line, on stderr.
pub fn print_warnings(issue: &Path, warnings: &[Warning]) {
    for g in crate::compose::check::grouped(warnings) {
        eprintln!(
            "{}: {}: {}",
            g.level.as_str(),
            path(issue),
            printable(&g.message)
        );
    }
}

/// "2 errors, 1 warning, 95 notes" (the levels there are).
pub fn finding_counts(warnings: &[Warning]) -> String {
    use crate::compose::check::Level;
    let parts: Vec<String> = [
        (Level::Error, "error"),
        (Level::Warning, "warning"),
        (Level::Note, "note"),
    ]
    .into_iter()
    .filter_map(|(level, word)| {
        let n = crate::compose::check::count(warnings, level);
        (n > 0).then(|| format!("{n} {word}{}", plural(n)))
    })
    .collect();
    parts.join(", ")
}

/// Every finding on its own line with its field path (`check --verbose`),
/// errors first, then warnings, then notes.
pub fn print_each_warning(issue: &Path, warnings: &[Warning]) {
    for w in crate::compose::check::ordered(warnings) {
        eprintln!(
            "{}: {}: {}",
            w.level.as_str(),
            path(issue),
            printable(&w.to_string())
        );
    }
}

/// `missive check --json`: the fields README documents.
pub fn print_check_json(issue: &Path, warnings: &[Warning]) -> Result<()> {
    use crate::compose::check::{Level, count, grouped, ordered};
    print_json(&serde_json::json!({
        "issue": issue,
        "errors": count(warnings, Level::Error),
        "warnings": count(warnings, Level::Warning),
        "notes": count(warnings, Level::Note),
        "findings": ordered(warnings).iter().map(|w| serde_json::json!({
            "level": w.level.as_str(),
            "code": w.code.as_str(),
            "item": w.item,
            "field": w.field,
            "message": w.message,
        })).collect::<Vec<_>>(),
        "groups": grouped(warnings).iter().map(|g| serde_json::json!({
            "level": g.level.as_str(),
            "code": g.code.as_str(),
            "count": g.findings.len(),
            "items": g.items(),
            "message": g.message,
        })).collect::<Vec<_>>(),
    }))
}

/// Says what was migrated from suppression files of earlier versions.
pub fn print_migrated(migrated: &[Migrated]) {
    for m in migrated {
        eprintln!(
            "note: migrated {} unsubscribe{} from {} into {}",
            m.count,
            plural(m.count),
            path(&m.from),
            path(&m.into)
        );
    }
}

/// `text` with control characters made visible, except line breaks and
/// tabs: for messages of several lines, such as an error with its snippet.
pub fn printable_text(text: &str) -> Cow<'_, str> {
    escape_controls(text, |c| matches!(c, '\n' | '\t'))
}

/// The sentence `send --test` ends with.
pub fn test_sent(sent: &TestSent) -> String {
    printable(&sent.to_string()).into_owned()
}

/// The summary shown before a dispatch: who gets it, who is skipped and
/// why, where it goes.
pub fn print_plan(composed: &Composed, plan: &Plan) {
    let t = &plan.tally;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Issue:       {} ({})",
        composed.issue.issue.subject,
        path(&composed.issue.path)
    );
    let _ = writeln!(out, "Subscribers: {}", path(&plan.list));
    let _ = writeln!(out, "  to send now:        {}", plan.this_run);
    if plan.due > plan.this_run {
        let _ = writeln!(
            out,
            "  left for later:     {} (--limit)",
            plan.due - plan.this_run
        );
    }
    let _ = writeln!(
        out,
        "  already sent:       {} (journal {})",
        plan.already_sent,
        path(&plan.journal)
    );
    if plan.failed_before > 0 {
        let _ = writeln!(
            out,
            "  failed before:      {} (not retried without --retry-failed)",
            plan.failed_before
        );
    }
    if plan.unknown_before > 0 {
        let _ = writeln!(
            out,
            "  no final reply:     {} (perhaps delivered; not retried without --retry-failed)",
            plan.unknown_before
        );
    }
    let skipped: Vec<String> = t.inactive.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let _ = writeln!(
        out,
        "  skipped by status:  {}{}",
        plan.skipped(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({})", skipped.join(", "))
        }
    );
    let _ = writeln!(out, "  duplicates:         {}", t.duplicates.len());
    for d in t.duplicates.iter().take(10) {
        let _ = writeln!(
            out,
            "    line {}: {} is already on line {}",
            d.line,
            printable(&d.email),
            d.first_line
        );
    }
    let _ = writeln!(out, "  invalid rows:       {}", t.invalid.len());
    for row in t.invalid.iter().take(20) {
        let _ = writeln!(out, "    line {}: {}", row.line, printable(&row.reason));
    }
    if t.invalid.len() > 20 {
        let _ = writeln!(out, "    … and {} more", t.invalid.len() - 20);
    }
    let sending = &composed.project.config.sending;
    let rate = |rate: Option<f64>| {
        rate.map_or_else(|| "no rate limit".into(), |r| format!("at most {r}/s"))
    };
    let dry = if plan.dry_run {
        " — dry run, nothing will be sent"
    } else {
        ""
    };
    let relay_line = |relay: &crate::send::transport::Relay,
                      quota: &crate::send::RelayQuota,
                      cap: Option<f64>| {
        let limit = match (relay.rate, cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut line = format!(
            "{}; {} connection{}, {}",
            printable(&relay.transport.describe()),
            relay.concurrency,
            plural(relay.concurrency),
            rate(limit)
        );
        if let (Some(limit), Some(left)) = (quota.daily_limit, quota.left) {
            let _ = write!(line, ", {limit}/day ({left} left now)");
        }
        line
    };
    match (plan.relays.all(), plan.quotas.as_slice()) {
        ([relay], [quota]) => {
            let cap = sending.rate.map(|r| r.0);
            let _ = writeln!(out, "Transport:   {}{dry}", relay_line(relay, quota, cap));
        }
        (relays, quotas) => {
            let weights: Vec<String> = relays.iter().map(|r| r.weight.to_string()).collect();
            let _ = writeln!(
                out,
                "Relays:      {} by weight {}, {} in all{dry}",
                relays.len(),
                weights.join(":"),
                rate(sending.rate.map(|r| r.0))
            );
            for (relay, quota) in relays.iter().zip(quotas) {
                let _ = writeln!(
                    out,
                    "  {}: weight {}, {}",
                    printable(&relay.name),
                    relay.weight,
                    relay_line(relay, quota, None)
                );
            }
        }
    }
    let now = plan.can_go_now();
    if now < plan.this_run && !plan.dry_run {
        let _ = write!(
            out,
            "Quota:       {now} of the {} can go now (the relays' daily limits)",
            plan.this_run
        );
        if let Some(frees) = plan.quota_frees() {
            let _ = write!(out, "; {}", quota_frees(&frees));
        }
        let _ = writeln!(out, "; the send stops there (exit 3) unless --wait");
    }
    print!("{out}");
}

/// "quota frees at 14:05 UTC (relay ses)".
pub fn quota_frees(frees: &crate::send::QuotaFrees) -> String {
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

/// Each relay's part of a run: "ses 300 at 150/s, gw 12 (out: …)".
fn relay_parts(relays: &[crate::send::RelayProgress], rates: bool) -> String {
    let parts: Vec<String> = relays
        .iter()
        .map(|r| {
            let mut part = format!("{} {}", printable(&r.name), r.sent);
            if let Some(why) = &r.out {
                let _ = write!(part, " (taken out: {})", printable(why));
            } else if rates {
                let _ = write!(part, " at {:.0}/s", r.rate);
            }
            part
        })
        .collect();
    parts.join(", ")
}

/// A send that stopped at the quotas and waits (`--wait`).
pub fn print_quota_wait(outcome: &Outcome) {
    println!(
        "This run: sent {}; {} left; {}; waiting (--wait)…",
        outcome.report.sent,
        outcome.pending,
        outcome
            .quota
            .as_ref()
            .map_or_else(|| "the quota frees within a day".into(), quota_frees)
    );
}

/// A waiting send goes on.
pub fn print_going_on(plan: &Plan) {
    println!(
        "Going on: {} to send, {} of them now; {} already sent.",
        plan.this_run,
        plan.can_go_now(),
        plan.already_sent
    );
}

/// Asks on the terminal whether to send; only "y" or "yes" goes ahead.
pub fn confirm(composed: &Composed, n: u64) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to send without confirmation: there is no terminal to ask on; pass --yes");
    }
    print!(
        "Send \"{}\" to {n} recipient{}? [y/N] ",
        composed.issue.issue.subject,
        plural(n)
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("not sent: the answer was not yes")
    }
}

/// What a dry run did.
pub fn print_dry_run(outcome: &Outcome) {
    let report = &outcome.report;
    println!(
        "Dry run: built {} message{} in {:.1} s; nothing was sent.",
        report.sent,
        plural(report.sent),
        report.elapsed.as_secs_f64()
    );
    for u in &report.unbuildable {
        eprintln!(
            "  line {}: {}: {}",
            u.line,
            printable(&u.email),
            printable(&u.reason)
        );
    }
}

/// What a send did, and how to go on. `resume` and `status` are the
/// commands that resume it and that show its status.
pub fn print_outcome(outcome: &Outcome, resume: &str, status: &str) {
    let report = &outcome.report;
    println!(
        "This run: sent {}, failed {}, deferred {}{} in {:.1} s ({:.0} messages/s, {} attempts).",
        report.sent,
        report.failed,
        report.deferred,
        if report.unknown > 0 {
            format!(", {} with no final reply", report.unknown)
        } else {
            String::new()
        },
        report.elapsed.as_secs_f64(),
        report.sent as f64 / report.elapsed.as_secs_f64().max(0.001),
        report.attempts
    );
    if report.relays.len() > 1 {
        println!("By relay: {}.", relay_parts(&report.relays, false));
    }
    if outcome.left > 0 {
        println!(
            "{} left the list while it was sent (unsubscribed or bounced): not sent.",
            outcome.left
        );
    }
    println!(
        "In all: {} sent, {} failed, {} to retry, {} not yet attempted{}.",
        outcome.sent,
        outcome.failed,
        outcome.deferred,
        outcome.pending,
        if outcome.unknown > 0 {
            format!(
                ", {} with no final reply (perhaps delivered)",
                outcome.unknown
            )
        } else {
            String::new()
        },
    );
    let (resume, status) = (printable(resume), printable(status));
    match &report.stop {
        Some(Stop::Interrupted) => {
            eprintln!("Interrupted. The journal is safe; resume with `{resume}`.");
        }
        Some(stop @ (Stop::Records(_) | Stop::Relay(_) | Stop::NoRelayLeft(_)))
            if stop.is_refusal() =>
        {
            eprintln!(
                "error: stopped early because the server is refusing nearly everything: {}\n\
                 Fix the cause, then resume with `{resume}` (add --retry-failed to retry the refused).",
                printable(&stop.to_string())
            );
        }
        Some(stop @ (Stop::Records(_) | Stop::Relay(_) | Stop::NoRelayLeft(_))) => eprintln!(
            "error: stopped: {}\nFix it, then resume with `{resume}`.",
            printable(&stop.to_string())
        ),
        Some(Stop::Quota) => eprintln!(
            "Stopped at the relays' daily limits: {} left; {}. Resume then with `{resume}`, \
             or run it with --wait to wait and go on.",
            outcome.pending,
            outcome
                .quota
                .as_ref()
                .map_or_else(|| "the quota frees within a day".into(), quota_frees)
        ),
        None if outcome.failed > 0 || outcome.deferred > 0 || outcome.unknown > 0 => eprintln!(
            "Not everyone got the issue: `{status}` lists why; `{resume}` retries the deferred, \
             `{resume} --retry-failed` the refused and those with no final reply too."
        ),
        None => {}
    }
}

/// One JSON document on stdout, and a newline.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `missive status --json`: the fields README documents.
pub fn print_status_json(composed: &Composed, status: &Status) -> Result<()> {
    let f = &status.feedback;
    print_json(&serde_json::json!({
        "issue": composed.issue.path,
        "subject": composed.issue.issue.subject.as_str(),
        "journal": status.journal,
        "sent": status.sent,
        "by_relay": status.by_relay,
        "failed": status.failed,
        "unknown": status.unknown,
        "pending": status.due,
        "complete": status.complete,
        "problems": status.problems.iter().map(|p| serde_json::json!({
            "email": p.email,
            "state": p.state.as_str(),
            "reply": p.reply,
        })).collect::<Vec<_>>(),
        "feedback": {
            "attempted": f.attempted,
            "delivered": f.delivered,
            "hard_bounces": f.hard,
            "soft_bounces": f.soft,
            "complaints": f.complaints,
            "sender_blocks": f.sender_blocks,
        },
    }))
}

/// What `missive subscribers` counts.
pub struct ListSummary<'a> {
    pub list: &'a Path,
    pub tally: &'a crate::list::reader::Tally,
    /// The list-event log.
    pub log: &'a Path,
    /// Addresses the log suppresses.
    pub suppressed: usize,
    /// Of them, by the event that suppressed them.
    pub suppressed_by_event: std::collections::BTreeMap<crate::list::events::Event, usize>,
    /// Sign-ups by their latest word.
    pub confirmed: usize,
    pub pending: usize,
}

impl ListSummary<'_> {
    /// `missive subscribers --json`: the fields README documents.
    pub fn json(&self) -> serde_json::Value {
        let t = self.tally;
        serde_json::json!({
            "list": self.list,
            "subscribed": t.subscribed,
            "inactive": t.inactive,
            "duplicates": t.duplicates.len(),
            "invalid": t.invalid.iter().map(|r| serde_json::json!({
                "line": r.line,
                "reason": r.reason,
            })).collect::<Vec<_>>(),
            "log": self.log,
            "suppressed": self.suppressed,
            "suppressed_by_event": self.suppressed_by_event,
            "signups": { "confirmed": self.confirmed, "pending": self.pending },
        })
    }
}

/// `missive subscribers`.
pub fn print_list_summary(s: &ListSummary<'_>) {
    let t = s.tally;
    println!("{}", path(s.list));
    println!("  subscribed:   {}", t.subscribed);
    for (status, n) in &t.inactive {
        println!("  {status:<13} {n}");
    }
    println!("  duplicates:   {}", t.duplicates.len());
    println!("  invalid rows: {}", t.invalid.len());
    for row in t.invalid.iter().take(20) {
        println!("    line {}: {}", row.line, printable(&row.reason));
    }
    let kinds: Vec<String> = s
        .suppressed_by_event
        .iter()
        .map(|(event, n)| format!("{n} {event}"))
        .collect();
    println!(
        "{}: {} address{} suppressed{}",
        path(s.log),
        s.suppressed,
        if s.suppressed == 1 { "" } else { "es" },
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        }
    );
    if s.confirmed + s.pending > 0 {
        println!(
            "sign-ups: {} confirmed, {} waiting for their confirmation",
            s.confirmed, s.pending
        );
    }
}

/// `missive send --dry-run --json`: the plan and what the dry run built.
pub fn print_dry_run_json(composed: &Composed, plan: &Plan, outcome: &Outcome) -> Result<()> {
    let t = &plan.tally;
    let relays: Vec<serde_json::Value> = plan
        .relays
        .all()
        .iter()
        .zip(&plan.quotas)
        .map(|(r, q)| {
            serde_json::json!({
                "name": r.name,
                "transport": r.transport.describe(),
                "weight": r.weight,
                "concurrency": r.concurrency,
                "rate": r.rate,
                "daily_limit": r.daily_limit,
                "left_now": q.left,
            })
        })
        .collect();
    print_json(&serde_json::json!({
        "issue": composed.issue.path,
        "subject": composed.issue.issue.subject.as_str(),
        "list": plan.list,
        "journal": plan.journal,
        "to_send": plan.this_run,
        "can_go_now": plan.can_go_now(),
        "left_for_later": plan.due - plan.this_run,
        "already_sent": plan.already_sent,
        "failed_before": plan.failed_before,
        "unknown_before": plan.unknown_before,
        "skipped": t.inactive,
        "duplicates": t.duplicates.iter().map(|d| serde_json::json!({
            "line": d.line, "email": d.email, "first_line": d.first_line,
        })).collect::<Vec<_>>(),
        "invalid": t.invalid.iter().map(|r| serde_json::json!({
            "line": r.line, "reason": r.reason,
        })).collect::<Vec<_>>(),
        "relays": relays,
        "built": outcome.report.sent,
        "unbuildable": outcome.report.unbuildable.iter().map(|u| serde_json::json!({
            "line": u.line, "email": u.email, "reason": u.reason,
        })).collect::<Vec<_>>(),
    }))
}

/// `missive status`.
pub fn print_status(composed: &Composed, status: &Status) {
    println!(
        "{} ({})",
        composed.issue.issue.subject,
        path(&composed.issue.path)
    );
    println!("journal: {}", path(&status.journal));
    println!("sent:    {}", status.sent);
    if !status.by_relay.is_empty() {
        for (relay, n) in &status.by_relay {
            println!("  via {}: {n}", printable(relay));
        }
    }
    println!("failed:  {}", status.failed);
    if status.unknown > 0 {
        println!(
            "unknown: {} (no final reply: perhaps delivered; not retried without --retry-failed)",
            status.unknown
        );
    }
    println!("pending: {} (never attempted or to retry)", status.due);
    print_feedback(&status.feedback);
    if !status.problems.is_empty() {
        println!("not sent:");
        for p in &status.problems {
            println!(
                "  {} ({}): {}",
                printable(&p.email),
                p.state.as_str(),
                printable(&p.reply)
            );
        }
    }
}

/// `missive check --links`: every link that is not simply fine, by item,
/// then a count.
pub fn print_link_check(checked: &[crate::curate::linkcheck::Checked]) {
    for c in checked.iter().filter(|c| !c.verdict.is_fine()) {
        println!(
            "{} ({}): {} {}",
            c.place(),
            printable(&c.target.field),
            printable(&c.target.url),
            printable(&c.verdict.to_string())
        );
    }
    let dead = checked.iter().filter(|c| c.verdict.is_dead()).count();
    let moved = checked
        .iter()
        .filter(|c| !c.verdict.is_fine() && !c.verdict.is_dead())
        .count();
    let cached = checked.iter().filter(|c| c.cached).count();
    println!(
        "links: {} checked, {dead} dead, {moved} moved{}",
        checked.len(),
        if cached > 0 {
            format!(" ({cached} from the last day's check; --fresh asks again)")
        } else {
            String::new()
        }
    );
}

/// `missive bounces --json`: one JSON object per message, one per line.
pub fn print_bounces_json(run: &Run) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for outcome in &run.outcomes {
        serde_json::to_writer(&mut out, outcome)?;
        writeln!(out)?;
    }
    Ok(())
}

/// `missive bounces`: a table of what was found and done, then the
/// addresses suppressed and the messages left alone.
pub fn print_bounces(run: &Run) {
    println!(
        "{}: {} new message{}{}",
        printable(&run.mailbox),
        run.outcomes.len(),
        plural(run.outcomes.len()),
        if run.already_seen > 0 {
            format!(" ({} already processed, skipped)", run.already_seen)
        } else {
            String::new()
        }
    );
    if run.outcomes.is_empty() {
        return;
    }
    let actions = [
        Action::Suppressed,
        Action::Counted,
        Action::Untrusted,
        Action::Ignored,
        Action::None,
    ];
    let shown: Vec<Action> = actions
        .into_iter()
        .filter(|a| run.outcomes.iter().any(|o| o.action == *a))
        .collect();
    let name = |a: Action| match a {
        Action::Suppressed => "suppressed",
        Action::Counted => "counted",
        Action::Untrusted => "untrusted",
        Action::Ignored => "ignored",
        Action::None => "recorded",
    };
    let mut header = format!("  {:<14} {:>6}", "kind", "total");
    for a in &shown {
        let _ = write!(header, " {:>10}", name(*a));
    }
    println!("{header}");
    let mut kinds: Vec<String> = run.outcomes.iter().map(kind_label).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let of_kind: Vec<_> = run
            .outcomes
            .iter()
            .filter(|o| kind_label(o) == kind)
            .collect();
        let mut line = format!("  {kind:<14} {:>6}", of_kind.len());
        for a in &shown {
            let n = of_kind.iter().filter(|o| o.action == *a).count();
            let _ = write!(line, " {n:>10}");
        }
        println!("{line}");
    }
    let listed: Vec<_> = run
        .outcomes
        .iter()
        .filter(|o| o.action == Action::Suppressed)
        .collect();
    if !listed.is_empty() {
        println!("suppressed:");
        for o in listed.iter().take(50) {
            println!("  {}", describe_bounce(o));
        }
        if listed.len() > 50 {
            println!("  … and {} more (see --json)", listed.len() - 50);
        }
    }
    let noted: Vec<_> = run
        .outcomes
        .iter()
        .filter(|o| o.action != Action::Suppressed && !o.note.is_empty())
        .collect();
    if !noted.is_empty() {
        println!("notes:");
        for o in noted.iter().take(50) {
            println!("  {}: {}", printable(&o.source), printable(&o.note));
        }
        if noted.len() > 50 {
            println!("  … and {} more (see --json)", noted.len() - 50);
        }
    }
    if run.was_dry {
        println!("dry run: nothing recorded, no message marked");
    } else {
        println!("recorded in {}", path(&run.log));
    }
}

/// A kind as the table shows it: a soft bounce that blames the sender
/// stands apart.
fn kind_label(o: &crate::bounces::Outcome) -> String {
    if o.sender_block {
        "soft (sender)".into()
    } else {
        o.kind.as_str().into()
    }
}

fn describe_bounce(o: &crate::bounces::Outcome) -> String {
    let mut line = format!(
        "{} ({}",
        printable(o.recipient.as_deref().unwrap_or("?")),
        o.kind.as_str()
    );
    if let Some(status) = &o.status {
        let _ = write!(line, " {status}");
    }
    if let Some(issue) = &o.issue {
        let _ = write!(line, ", {}", printable(issue));
    }
    line.push(')');
    if !o.note.is_empty() {
        let _ = write!(line, ": {}", printable(&o.note));
    } else if !o.diagnostic.is_empty() {
        let short: String = o.diagnostic.chars().take(100).collect();
        let _ = write!(line, ": {}", printable(&short));
    }
    line
}

/// The bounces and complaints of an issue, with their rates, and a warning
/// when they pass what the large mailbox providers tolerate.
fn print_feedback(f: &crate::send::Feedback) {
    use crate::send::Feedback;
    let percent = |n: usize| format!("{n} ({:.1}%)", f.rate(n) * 100.0);
    println!(
        "delivered:    {} (accepted, less what bounced since)",
        f.delivered
    );
    println!("hard bounces: {}", percent(f.hard));
    println!("soft bounces: {}", percent(f.soft));
    println!("complaints:   {}", percent(f.complaints));
    if f.sender_blocks > 0 {
        println!(
            "blocks of the sender: {} (refused for policy, spam or reputation: check SPF, \
             DKIM, DMARC and your sending IP's blocklist status)",
            f.sender_blocks
        );
    }
    if f.rate(f.hard + f.soft) > Feedback::BOUNCE_WARNING {
        println!(
            "warning: bounces passed 2% of the messages sent ({:.1}%): clean the list before \
             the next issue",
            f.rate(f.hard + f.soft) * 100.0
        );
    }
    if f.rate(f.complaints) > Feedback::COMPLAINT_WARNING {
        println!(
            "warning: complaints passed 0.1% of the messages sent ({:.2}%): Gmail and Yahoo \
             filter senders above 0.3%",
            f.rate(f.complaints) * 100.0
        );
    }
}

/// A send's progress on the terminal: a bar when stderr is a terminal, a
/// line every few seconds otherwise.
pub struct TerminalProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl TerminalProgress {
    pub fn new(total: u64) -> TerminalProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} · ETA {eta}")
                    .expect("a valid template"),
            );
            bar
        });
        TerminalProgress { bar }
    }
}

impl Reporter for TerminalProgress {
    fn every(&self) -> Duration {
        Duration::from_millis(if self.bar.is_some() { 200 } else { 5000 })
    }

    fn progress(&self, p: &Progress) {
        // With several relays, each one's part: "ses 300 at 150/s, gw out".
        let relays = if p.relays.len() > 1 {
            format!(" [{}]", relay_parts(&p.relays, true))
        } else {
            String::new()
        };
        match &self.bar {
            Some(bar) => {
                bar.set_position(p.sent + p.failed);
                bar.set_message(format!(
                    "sent {}, failed {}, {:.0} msg/s{relays}",
                    p.sent, p.failed, p.rate
                ));
            }
            None => eprintln!(
                "progress: {}/{} done (sent {}, failed {}), {:.0} msg/s{relays}",
                p.sent + p.failed,
                p.total,
                p.sent,
                p.failed,
                p.rate
            ),
        }
    }

    fn interrupted(&self) {
        eprintln!("\nstopping: letting the messages in flight finish…");
    }

    fn finished(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(printable("550 no such user"), "550 no such user");
        assert_eq!(
            printable("550 \u{1b}[2J\u{1b}]0;owned\u{7}x\r\ny"),
            "550 \\u{1b}[2J\\u{1b}]0;owned\\u{7}x\\r\\ny"
        );
        assert_eq!(printable("a\u{9b}b"), "a\\u{9b}b", "C1 controls too");
        assert_eq!(
            printable_text("error: x\n  |\t\u{1b}[2Jy\r"),
            "error: x\n  |\t\\u{1b}[2Jy\\r",
            "line breaks and tabs stay"
        );
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1usize), "");
        assert_eq!(plural(0u64), "s");
        assert_eq!(plural(2u32), "s");
    }
}
