//! `missive build`: the issue rendered to `<stem>.mjml`, `.html` and `.txt`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::ExitStatus;
use crate::cli::BuildArgs;
use crate::compose::{compose, merge};
use crate::ui::outln;
use crate::ui::{self, kilobytes, ms};

pub(super) fn run(config: Option<&Path>, args: &BuildArgs) -> Result<ExitStatus> {
    let started = Instant::now();
    let composed = compose(&crate::project::Project::open(config)?, &args.issue)?;
    let fill = merge::neutral(&composed.project.config);
    let html = composed.rendered.html_merge().fill(&fill);
    let text = composed.rendered.text_merge().fill(&fill);
    let stem = composed.issue.stem();
    let out = &args.out;
    let files = [
        (
            out.join(format!("{stem}.mjml")),
            composed.rendered.mjml.as_str(),
        ),
        (out.join(format!("{stem}.html")), html.as_str()),
        (out.join(format!("{stem}.txt")), text.as_str()),
    ];
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (path, contents) in &files {
        crate::fsutil::write_atomic(path, contents.as_bytes(), None)?;
    }
    let elapsed = started.elapsed();

    for (path, contents) in &files {
        outln!(
            "wrote {:<48} {:>9}",
            ui::path(path),
            kilobytes(contents.len())
        );
    }
    let t = composed.rendered.timings;
    outln!(
        "built in {:.1} ms (templates {:.1} ms, MJML {:.1} ms, text {:.1} ms)",
        ms(elapsed),
        ms(t.template),
        ms(t.mjml),
        ms(t.text)
    );
    eprint!(
        "{}",
        ui::check::Findings {
            issue: &composed.issue.path,
            warnings: &composed.warnings,
            each: false,
        }
    );
    if !composed.warnings.is_empty() {
        eprintln!(
            "{}; `missive check {}` lists them again",
            ui::check::finding_counts(&composed.warnings),
            ui::path(&composed.issue.path)
        );
    }
    Ok(ExitStatus::Success)
}
