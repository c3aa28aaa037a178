//! The commands: each loads what it needs, runs the pipeline and reports.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::check::{self, Warning};
use crate::cli::{Cli, Command};
use crate::config::Project;
use crate::issue::{Issue, LoadedIssue};
use crate::personalize;
use crate::render::{self, Rendered, Templates};
use crate::ui::printable;
use crate::{preview, send};

/// Runs one command line; `Err` is printed by `main` and exits 1.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build { issue, out } => build(cli.config.as_deref(), &issue, &out),
        Command::Check { issue, strict } => check(cli.config.as_deref(), &issue, strict),
        Command::New { title } => new(cli.config.as_deref(), &title),
        Command::Send {
            issue,
            test,
            to,
            subscribers,
            dry_run,
            yes,
            limit,
            retry_failed,
            force,
            skip_invalid,
        } => {
            let composed = compose(cli.config.as_deref(), &issue)?;
            if test {
                let to = to
                    .map(|t| {
                        crate::config::parse_mailbox(&t).map_err(|e| anyhow::anyhow!("--to: {e}"))
                    })
                    .transpose()?;
                println!(
                    "{}",
                    send::test_message(&composed, to, subscribers.as_deref())?
                );
                return Ok(ExitCode::SUCCESS);
            }
            let options = send::Options {
                config: cli.config.clone(),
                subscribers,
                dry_run,
                yes,
                limit,
                retry_failed,
                force,
                skip_invalid,
            };
            send::dispatch(&composed, &options)
        }
        Command::Preview {
            issue,
            port,
            bind,
            open,
            r#as,
        } => preview::serve(preview::Options {
            issue,
            config: cli.config,
            bind,
            port,
            open,
            as_email: r#as,
        }),
        Command::Serve {
            bind,
            site,
            subscribers,
        } => {
            let project = Project::open(cli.config.as_deref())?;
            let site = project.resolve(&site);
            crate::serve::serve(
                &project,
                &crate::serve::Options {
                    bind,
                    site,
                    subscribers,
                },
            )
        }
        Command::Archive { out } => archive(cli.config.as_deref(), &out),
        Command::Subscribers { subscribers, fold } => {
            subscribers_report(cli.config.as_deref(), subscribers.as_deref(), fold)
        }
        Command::Status { issue, subscribers } => {
            let composed = compose(cli.config.as_deref(), &issue)?;
            send::status(&composed, subscribers.as_deref())
        }
    }
}

/// An issue rendered with its project: what build, check, preview and send share.
pub struct Composed {
    pub project: Project,
    pub issue: LoadedIssue,
    pub rendered: Rendered,
    pub warnings: Vec<Warning>,
}

/// Loads the config and the issue, and renders it.
pub fn compose(config: Option<&Path>, issue: &Path) -> Result<Composed> {
    let project = Project::open(config)?;
    let issue = Issue::load(issue)?;
    let templates = Templates::load(&project.templates_dir())?;
    let rendered = render::render(&issue, &project, &templates)?;
    let warnings = check::warnings(&issue.issue, &rendered, &project.config);
    Ok(Composed {
        project,
        issue,
        rendered,
        warnings,
    })
}

fn build(config: Option<&Path>, issue: &Path, out: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let composed = compose(config, issue)?;
    let fill = personalize::neutral(&composed.project.config);
    let html = composed.rendered.html_merge().fill(&fill);
    let text = composed.rendered.text_merge().fill(&fill);
    let stem = composed.issue.stem();
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

    let mut stdout = std::io::stdout().lock();
    for (path, contents) in &files {
        writeln!(
            stdout,
            "wrote {:<48} {:>9}",
            path.display(),
            kilobytes(contents.len())
        )?;
    }
    let t = composed.rendered.timings;
    writeln!(
        stdout,
        "built in {:.1} ms (templates {:.1} ms, MJML {:.1} ms, text {:.1} ms)",
        ms(elapsed),
        ms(t.template),
        ms(t.mjml),
        ms(t.text)
    )?;
    print_warnings(&composed.issue.path, &composed.warnings);
    if !composed.warnings.is_empty() {
        eprintln!(
            "{} warning{}; `missive check {}` lists them again",
            composed.warnings.len(),
            plural(composed.warnings.len()),
            composed.issue.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(config: Option<&Path>, issue: &Path, strict: bool) -> Result<ExitCode> {
    let composed = compose(config, issue)?;
    let r = &composed.rendered;
    print_warnings(&composed.issue.path, &composed.warnings);
    let errors = composed.warnings.iter().filter(|w| w.is_error()).count();
    let n = composed.warnings.len() - errors;
    let tags = check::subject_tags(&composed.issue.issue);
    if !tags.is_empty() {
        println!(
            "subject: personalized for each reader ({})",
            tags.iter()
                .map(|t| format!("{{{{ {t} }}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "{}: {} items in {} sections; HTML {}, text {}; {}{n} warning{}",
        composed.issue.path.display(),
        composed.issue.issue.item_count(),
        composed.issue.issue.sections.len(),
        kilobytes(r.html.len()),
        kilobytes(r.text.len()),
        if errors > 0 {
            format!("{errors} error{}, ", plural(errors))
        } else {
            String::new()
        },
        plural(n),
    );
    if errors > 0 {
        bail!(
            "{errors} error{}: the issue cannot be sent as it is",
            plural(errors)
        );
    }
    if strict && n > 0 {
        bail!("{n} warning{} and --strict was given", plural(n));
    }
    Ok(ExitCode::SUCCESS)
}

fn new(config: Option<&Path>, title: &str) -> Result<ExitCode> {
    let project = Project::open(config)?;
    let subject =
        crate::issue::OneLine::new(title).map_err(|e| anyhow::anyhow!("the title {e}"))?;
    let today = today();
    let slug = slug::slugify(subject.as_str());
    let slug = if slug.is_empty() {
        "issue".into()
    } else {
        slug
    };
    let dir = project.root.join("issues");
    let path = dir.join(format!("{}-{slug}.toml", today.iso()));
    let text = starter(subject.as_str(), today);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!("{} already exists; not overwriting it", path.display())
            }
            _ => anyhow::anyhow!("cannot create {}: {e}", path.display()),
        })?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn archive(config: Option<&Path>, out: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let project = Project::open(config)?;
    let entries = crate::archive::build(&project, out)?;
    println!(
        "wrote {} with {} issue{} and feed.xml in {:.1} ms",
        out.display(),
        entries.len(),
        plural(entries.len()),
        ms(started.elapsed())
    );
    Ok(ExitCode::SUCCESS)
}

fn subscribers_report(config: Option<&Path>, list: Option<&Path>, fold: bool) -> Result<ExitCode> {
    use crate::suppress;
    let project = Project::open(config)?;
    let list = project.list_path(list);
    let (suppressed, log, notes) = project.suppressions(&list)?;
    for note in notes {
        eprintln!("note: {}", printable(&note));
    }
    let mut reader = crate::subscribers::Reader::open(&list)?.suppress(suppressed.clone());
    let mut tally = crate::subscribers::Tally::default();
    for row in &mut reader {
        tally.add(row);
    }
    println!("{}", printable(&list.display().to_string()));
    println!("  subscribed:   {}", tally.subscribed);
    for (status, n) in &tally.inactive {
        println!("  {status:<13} {n}");
    }
    println!("  duplicates:   {}", tally.duplicates.len());
    println!("  invalid rows: {}", tally.invalid.len());
    for (line, reason) in tally.invalid.iter().take(20) {
        println!("    line {line}: {}", printable(reason));
    }
    println!(
        "{}: {} address{} unsubscribed through `missive serve`",
        log.path().display(),
        suppressed.len(),
        if suppressed.len() == 1 { "" } else { "es" }
    );
    if fold {
        let changed = suppress::fold(&list, &suppressed)?;
        println!(
            "folded: {changed} row{} marked unsubscribed in {}",
            plural(changed),
            printable(&list.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The commented starter issue, with its subject and date filled in.
pub fn starter(subject: &str, date: crate::issue::Date) -> String {
    let quoted = toml::Value::String(subject.to_string()).to_string();
    include_str!("starter.toml")
        .replace("{{SUBJECT}}", &quoted)
        .replace("{{DATE}}", &date.iso())
}

fn today() -> crate::issue::Date {
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    crate::issue::Date(now.date())
}

fn print_warnings(path: &Path, warnings: &[Warning]) {
    for w in warnings {
        let level = if w.is_error() { "error" } else { "warning" };
        eprintln!("{level}: {}: {}", path.display(), printable(&w.to_string()));
    }
}

fn kilobytes(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn plural(n: usize) -> &'static str {
    crate::ui::plural(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_parses_and_has_the_subject() {
        let date = crate::issue::Date(time::macros::date!(2026 - 11 - 27));
        let text = starter("A \"quoted\" title", date);
        let issue = Issue::parse(&text, Path::new("new.toml")).unwrap();
        assert_eq!(issue.subject.as_str(), "A \"quoted\" title");
        assert_eq!(issue.date, date);
        assert_eq!(issue.item_count(), 1);
    }
}
