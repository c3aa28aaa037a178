//! `missive new`: a commented starter issue, never over an existing file.

use std::path::Path;

use anyhow::{Result, bail};

use super::ExitStatus;
use crate::cli::NewArgs;
use crate::compose::issue::{Date, OneLine};
use crate::project::Project;
use crate::ui;
use crate::ui::outln;

pub(super) fn run(config: Option<&Path>, args: &NewArgs) -> Result<ExitStatus> {
    let project = Project::open(config)?;
    let subject = OneLine::new(&args.title).map_err(|e| anyhow::anyhow!("the title {e}"))?;
    let today = today();
    let slug = slug::slugify(subject.as_str());
    let slug = if slug.is_empty() {
        "issue".into()
    } else {
        slug
    };
    let dir = project.issues_dir();
    let path = dir.join(format!("{}-{slug}.toml", today.iso()));
    if path.exists() {
        bail!("{} already exists; not overwriting it", ui::path(&path));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    crate::fsutil::write_atomic(&path, starter(subject.as_str(), today).as_bytes(), None)?;
    outln!("wrote {}", ui::path(&path));
    Ok(ExitStatus::Success)
}

/// The commented starter issue, with its subject and date filled in.
pub(super) fn starter(subject: &str, date: Date) -> String {
    let quoted = toml::Value::String(subject.to_string()).to_string();
    include_str!("starter.toml")
        .replace("{{SUBJECT}}", &quoted)
        .replace("{{DATE}}", &date.iso())
}

fn today() -> Date {
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    Date(now.date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::Issue;

    #[test]
    fn starter_parses_and_has_the_subject() {
        let date = Date(time::macros::date!(2026 - 11 - 27));
        let text = starter("A \"quoted\" title", date);
        let issue = Issue::parse(&text, Path::new("new.toml")).unwrap();
        assert_eq!(issue.subject.as_str(), "A \"quoted\" title");
        assert_eq!(issue.date, date);
        assert_eq!(issue.item_count(), 1);
    }
}
