//! `bounces`: a table of what was found and done, the addresses
//! suppressed, the messages left alone; `--json` is one object a line.

use std::fmt::{self, Display, Formatter};

use super::{path, plural, printable};
use crate::bounces::{Action, Outcome, Run};

/// `missive bounces --json`: one JSON object per message, one per line.
pub(crate) fn json_lines(run: &Run) -> serde_json::Result<String> {
    let mut out = String::new();
    for outcome in &run.outcomes {
        out.push_str(&serde_json::to_string(outcome)?);
        out.push('\n');
    }
    Ok(out)
}

/// `missive bounces`.
pub(crate) struct BouncesScreen<'a>(pub &'a Run);

/// How many suppressed addresses and notes are listed (all are counted).
const LISTED: usize = 50;

impl Display for BouncesScreen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let run = self.0;
        write!(
            f,
            "{}: {} new message{}",
            printable(&run.mailbox),
            run.outcomes.len(),
            plural(run.outcomes.len()),
        )?;
        if run.already_seen > 0 {
            write!(f, " ({} already processed, skipped)", run.already_seen)?;
        }
        writeln!(f)?;
        if run.outcomes.is_empty() {
            return Ok(());
        }
        table(f, &run.outcomes)?;
        let listed: Vec<_> = run
            .outcomes
            .iter()
            .filter(|o| o.action == Action::Suppressed)
            .collect();
        if !listed.is_empty() {
            writeln!(f, "suppressed:")?;
            for o in listed.iter().take(LISTED) {
                writeln!(f, "  {}", Described(o))?;
            }
            if listed.len() > LISTED {
                writeln!(f, "  … and {} more (see --json)", listed.len() - LISTED)?;
            }
        }
        let noted: Vec<_> = run
            .outcomes
            .iter()
            .filter(|o| o.action != Action::Suppressed && !o.note.is_empty())
            .collect();
        if !noted.is_empty() {
            writeln!(f, "notes:")?;
            for o in noted.iter().take(LISTED) {
                writeln!(f, "  {}: {}", printable(&o.source), printable(&o.note))?;
            }
            if noted.len() > LISTED {
                writeln!(f, "  … and {} more (see --json)", noted.len() - LISTED)?;
            }
        }
        if run.was_dry {
            writeln!(f, "dry run: nothing recorded, no message marked")
        } else {
            writeln!(f, "recorded in {}", path(&run.log))
        }
    }
}

/// Kinds down, what was done across: only the actions that happened.
fn table(f: &mut Formatter<'_>, outcomes: &[Outcome]) -> fmt::Result {
    let shown: Vec<Action> = [
        Action::Suppressed,
        Action::Counted,
        Action::Untrusted,
        Action::Ignored,
        Action::None,
    ]
    .into_iter()
    .filter(|a| outcomes.iter().any(|o| o.action == *a))
    .collect();
    write!(f, "  {:<14} {:>6}", "kind", "total")?;
    for a in &shown {
        write!(f, " {:>10}", action_word(*a))?;
    }
    writeln!(f)?;
    let mut kinds: Vec<String> = outcomes.iter().map(kind_label).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let of_kind: Vec<_> = outcomes.iter().filter(|o| kind_label(o) == kind).collect();
        write!(f, "  {kind:<14} {:>6}", of_kind.len())?;
        for a in &shown {
            let n = of_kind.iter().filter(|o| o.action == *a).count();
            write!(f, " {n:>10}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Suppressed => "suppressed",
        Action::Counted => "counted",
        Action::Untrusted => "untrusted",
        Action::Ignored => "ignored",
        Action::None => "recorded",
    }
}

/// A kind as the table shows it: a soft bounce that blames the sender
/// stands apart.
fn kind_label(o: &Outcome) -> String {
    if o.sender_block {
        "soft (sender)".into()
    } else {
        o.kind.as_str().into()
    }
}

/// One suppressed address: who, what kind, which issue, and why.
struct Described<'a>(&'a Outcome);

impl Display for Described<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{} ({}",
            printable(o.recipient.as_deref().unwrap_or("?")),
            o.kind.as_str()
        )?;
        if let Some(status) = &o.status {
            write!(f, " {status}")?;
        }
        if let Some(issue) = &o.issue {
            write!(f, ", {}", printable(issue))?;
        }
        f.write_str(")")?;
        if !o.note.is_empty() {
            write!(f, ": {}", printable(&o.note))?;
        } else if !o.diagnostic.is_empty() {
            let short: String = o.diagnostic.chars().take(100).collect();
            write!(f, ": {}", printable(&short))?;
        }
        Ok(())
    }
}
