//! The commands: one thin file each, turning resolved arguments into a call
//! of the library and its result into what the person reads (through
//! [`crate::ui`]) and an [`ExitStatus`].

#![allow(
    clippy::print_stderr,
    reason = "the commands write what a person reads (standard output through ui::out!)"
)]

mod add;
mod archive;
mod bounces;
mod build;
mod check;
mod completions;
mod doctor;
mod import;
mod new;
mod preview;
mod reference;
mod send;
mod serve;
mod signup_form;
mod stats;
mod status;
mod subscribers;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::cli::{Cli, Command, LogFormat};

/// How missive exits. An `Err` from [`run`] is printed by `main` and exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done; for `send` and `status`, every recipient has the issue.
    Success,
    /// A check or a send failed or was refused.
    Failure,
    /// A send finished, but not every recipient has the issue.
    Incomplete,
    /// Stopped by Ctrl-C.
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Incomplete => 3,
            ExitStatus::Interrupted => 130,
        })
    }
}

/// Prints an error that ended a command, with its causes, on one or more
/// lines (a source error shows the offending line).
pub fn report_error(e: &anyhow::Error) {
    eprintln!("error: {}", crate::ui::printable_text(&format!("{e:#}")));
}

/// The environment variable that sets what is logged (`info` by default;
/// `debug` shows addresses in full; any `tracing` filter).
pub(crate) const LOG_ENV: &str = "MISSIVE_LOG";

/// Sends the `tracing` events of the long-running commands to stderr, as
/// text or JSON lines, filtered by [`LOG_ENV`] (default: `level`).
fn start_logging(format: LogFormat, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second call (tests run commands in one process) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Runs one command line.
pub fn run(cli: Cli) -> Result<ExitStatus> {
    match cli.command {
        Command::Serve(_) => start_logging(cli.log_format, "info"),
        // At a terminal, the summary a person reads says it all; run by
        // cron or systemd, the log says it for the journal.
        Command::Send(_) | Command::Bounces(_) => {
            use std::io::IsTerminal as _;
            let level = if std::io::stderr().is_terminal() {
                "warn"
            } else {
                "info"
            };
            start_logging(cli.log_format, level);
        }
        _ => {}
    }
    // The one runtime every command's I/O runs on; the library's entry
    // points that do I/O are `async` and build none of their own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.config.as_deref(), cli.command))
}

/// Runs the command on the runtime [`run`] started.
async fn dispatch(config: Option<&Path>, command: Command) -> Result<ExitStatus> {
    match command {
        Command::Build(args) => build::run(config, &args),
        Command::Check(args) => check::run(config, &args).await,
        Command::New(args) => new::run(config, &args),
        Command::Add(args) => add::run(config, &args).await,
        Command::Import(args) => import::run(config, &args).await,
        Command::Send(args) => send::run(config, &args).await,
        Command::Doctor(args) => doctor::run(config, &args).await,
        Command::Preview(args) => preview::run(config, args).await,
        Command::Serve(args) => serve::run(config, &args).await,
        Command::SignupForm => signup_form::run(config),
        Command::Archive(args) => archive::run(config, &args),
        Command::Subscribers(args) => subscribers::run(config, &args).await,
        Command::Status(args) => status::run(config, &args),
        Command::Stats(args) => stats::run(config, &args),
        Command::Bounces(args) => bounces::run(config, &args).await,
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
        Command::Reference { out } => reference::run(&out),
    }
}
