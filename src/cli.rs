//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Write a newsletter issue in TOML; missive renders it to email HTML and
/// plain text, previews it and sends it to your subscribers.
///
/// Exit codes: 0 success; 1 an error (bad input, failed check, refused
/// send); 2 wrong command-line usage.
#[derive(Debug, Parser)]
#[command(name = "missive", version, about, long_about)]
pub struct Cli {
    /// The project config [default: ./missive.toml if present].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render an issue to MJML, HTML and plain text files.
    Build {
        /// The issue file (TOML).
        issue: PathBuf,
        /// Where to write `<stem>.mjml`, `<stem>.html` and `<stem>.txt`.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Report errors and warnings in an issue without writing anything.
    Check {
        /// The issue file (TOML).
        issue: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Start a new issue from a commented starter: issues/<today>-<slug>.toml.
    New {
        /// The subject of the new issue.
        title: String,
    },
}
