//! `subscribers import`, `export` and `reconfirm`: what an import did (or
//! would do) by the export's word, what an export wrote, who was mailed.

use std::fmt::{self, Display, Formatter};

use super::{path, plural, printable};
use crate::list::migrate::export::Exported;
use crate::list::migrate::import::{Outcome, Report};

/// What `subscribers import` did, by the export's word.
pub(crate) struct ImportScreen<'a>(pub &'a Report);

impl Display for ImportScreen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.0;
        for file in &r.files {
            writeln!(
                f,
                "{}: {} export, {} row{}",
                path(&file.path),
                file.format,
                file.rows,
                plural(file.rows)
            )?;
        }
        writeln!(f, "readers, by what the export says of them:")?;
        for (standing, outcomes) in &r.readers {
            let total: u64 = outcomes.values().sum();
            let parts: Vec<String> = outcomes
                .iter()
                .map(|(outcome, n)| format!("{n} {}", outcome.as_str()))
                .collect();
            writeln!(
                f,
                "  {:<13} {total:>7}: {}",
                standing.as_str(),
                parts.join(", ")
            )?;
        }
        if r.repeated_rows > 0 {
            writeln!(
                f,
                "  {} row{} named an address again: each address is one reader, the strongest word kept",
                r.repeated_rows,
                plural(r.repeated_rows)
            )?;
        }
        if !r.skipped.is_empty() {
            writeln!(
                f,
                "  {} row{} skipped:",
                r.skipped.len(),
                plural(r.skipped.len())
            )?;
            for s in r.skipped.iter().take(20) {
                writeln!(
                    f,
                    "    {}, line {}: {}",
                    path(&s.file),
                    s.line,
                    printable(&s.reason)
                )?;
            }
            if r.skipped.len() > 20 {
                writeln!(
                    f,
                    "    … and {} more (--json lists them all)",
                    r.skipped.len() - 20
                )?;
            }
        }
        let (done, into, after) = if r.dry_run {
            ("dry run, nothing written: ", "for", " would be written")
        } else {
            ("wrote ", "to", "")
        };
        writeln!(
            f,
            "{done}{} event{} {into} {} and {} row{} of {}{after}",
            r.events,
            plural(r.events),
            path(&r.log),
            r.rows,
            plural(r.rows),
            path(&r.list)
        )?;
        let pending = r.count(Outcome::Pending);
        if pending > 0 {
            writeln!(
                f,
                "{pending} reader{} never confirmed and will not be mailed: `missive subscribers reconfirm` mails them a confirmation link",
                plural(pending)
            )?;
        }
        Ok(())
    }
}

/// What `subscribers export` wrote.
pub(crate) struct ExportScreen<'a>(pub &'a Exported);

impl Display for ExportScreen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .readers
            .iter()
            .map(|(standing, n)| format!("{n} {}", standing.as_str()))
            .collect();
        let files: Vec<String> = self.0.files.iter().map(|p| path(p)).collect();
        writeln!(
            f,
            "wrote {} ({})",
            files.join(", "),
            if parts.is_empty() {
                "nobody".to_string()
            } else {
                parts.join(", ")
            }
        )
    }
}
