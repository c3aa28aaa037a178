//! `check` (and `build`, `send`) findings, their counts and `--json`, and
//! what `check --links` found.

use std::fmt::{self, Display, Formatter};
use std::path::Path;

use serde::Serialize;

use super::{path, plural, printable};
use crate::compose::Warning;
use crate::compose::check::{Level, count, grouped, ordered};
use crate::curate::linkcheck::Checked;

/// The findings of an issue, one line each (for stderr): grouped by kind,
/// or every finding on its own line with its field path (`--verbose`),
/// errors first, then warnings, then notes.
pub(crate) struct Findings<'a> {
    pub issue: &'a Path,
    pub warnings: &'a [Warning],
    pub each: bool,
}

impl Display for Findings<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let issue = path(self.issue);
        if self.each {
            for w in ordered(self.warnings) {
                let text = w.to_string();
                writeln!(f, "{}: {issue}: {}", w.level.as_str(), printable(&text))?;
            }
        } else {
            for g in grouped(self.warnings) {
                writeln!(
                    f,
                    "{}: {issue}: {}",
                    g.level.as_str(),
                    printable(&g.message)
                )?;
            }
        }
        Ok(())
    }
}

/// "2 errors, 1 warning, 95 notes" (the levels there are).
pub(crate) fn finding_counts(warnings: &[Warning]) -> String {
    let parts: Vec<String> = [
        (Level::Error, "error"),
        (Level::Warning, "warning"),
        (Level::Note, "note"),
    ]
    .into_iter()
    .filter_map(|(level, word)| {
        let n = count(warnings, level);
        (n > 0).then(|| format!("{n} {word}{}", plural(n)))
    })
    .collect();
    parts.join(", ")
}

/// `missive check --json`: the fields the manual documents.
#[derive(Serialize)]
pub(crate) struct CheckJson<'a> {
    errors: usize,
    findings: Vec<FindingJson>,
    groups: Vec<GroupJson>,
    issue: &'a Path,
    notes: usize,
    warnings: usize,
}

#[derive(Serialize)]
struct FindingJson {
    code: &'static str,
    field: String,
    item: Option<u32>,
    level: &'static str,
    message: String,
}

#[derive(Serialize)]
struct GroupJson {
    code: &'static str,
    count: usize,
    items: Vec<u32>,
    level: &'static str,
    message: String,
}

impl<'a> CheckJson<'a> {
    pub(crate) fn new(issue: &'a Path, warnings: &'a [Warning]) -> CheckJson<'a> {
        CheckJson {
            errors: count(warnings, Level::Error),
            findings: ordered(warnings)
                .into_iter()
                .map(|w| FindingJson {
                    code: w.code.as_str(),
                    field: w.field,
                    item: w.item,
                    level: w.level.as_str(),
                    message: w.message,
                })
                .collect(),
            groups: grouped(warnings)
                .into_iter()
                .map(|g| GroupJson {
                    code: g.code.as_str(),
                    count: g.findings.len(),
                    items: g.items(),
                    level: g.level.as_str(),
                    message: g.message,
                })
                .collect(),
            issue,
            notes: count(warnings, Level::Note),
            warnings: count(warnings, Level::Warning),
        }
    }
}

/// `missive check --links`: every link that is not simply fine, by item,
/// then a count.
pub(crate) struct LinkCheck<'a>(pub &'a [Checked]);

impl Display for LinkCheck<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let checked = self.0;
        for c in checked.iter().filter(|c| !c.verdict.is_fine()) {
            writeln!(
                f,
                "{} ({}): {} {}",
                c.place(),
                printable(&c.target.field),
                printable(&c.target.url),
                printable(&c.verdict.to_string())
            )?;
        }
        let dead = checked.iter().filter(|c| c.verdict.is_dead()).count();
        let moved = checked
            .iter()
            .filter(|c| !c.verdict.is_fine() && !c.verdict.is_dead())
            .count();
        let cached = checked.iter().filter(|c| c.cached).count();
        write!(
            f,
            "links: {} checked, {dead} dead, {moved} moved",
            checked.len()
        )?;
        if cached > 0 {
            write!(
                f,
                " ({cached} from the last day's check; --fresh asks again)"
            )?;
        }
        writeln!(f)
    }
}
