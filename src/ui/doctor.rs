//! What `missive doctor` found: one block a finding, most serious first,
//! each with its code and its fix; what was examined; the counts; `--json`.

use std::fmt::{self, Display, Formatter};

use super::{plural, printable};
use crate::doctor::{About, Level, Report};

/// The report as a person reads it.
pub(crate) struct DoctorScreen<'a>(pub &'a Report);

impl Display for DoctorScreen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let report = self.0;
        writeln!(f, "Checked:")?;
        for line in &report.checked {
            writeln!(f, "  {}", printable(line))?;
        }
        for finding in &report.findings {
            let level = match finding.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Note => "note",
            };
            let about = match &finding.about {
                About::Domain(d) | About::Relay(d) | About::Endpoint(d) | About::Issue(d) => d,
            };
            let about = if about.is_empty() {
                String::new()
            } else {
                format!(" {}:", printable(about))
            };
            writeln!(
                f,
                "\n{level} [{}]{about} {}",
                finding.code.as_str(),
                printable(&finding.message)
            )?;
            if let Some(fix) = &finding.fix {
                writeln!(f, "  fix: {}", printable(fix))?;
            }
        }
        let (errors, warnings, notes) = (
            report.count(Level::Error),
            report.count(Level::Warning),
            report.count(Level::Note),
        );
        writeln!(
            f,
            "\n{errors} error{}, {warnings} warning{}, {notes} note{}{}",
            plural(errors),
            plural(warnings),
            plural(notes),
            if errors == 0 {
                ": the mail should be accepted"
            } else {
                ": fix the errors before sending"
            }
        )
    }
}
