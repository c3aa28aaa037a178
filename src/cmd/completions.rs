//! `missive completions SHELL` and `missive man`: the shell completion
//! script and the manual page, both made from the clap definitions.

use std::io::Write as _;

use anyhow::{Context, Result};
use clap::CommandFactory as _;

use super::ExitStatus;
use crate::cli::Cli;

pub(super) fn completions(shell: clap_complete::Shell) -> Result<ExitStatus> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "missive", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the completions")?;
    Ok(ExitStatus::Success)
}

pub(super) fn man() -> Result<ExitStatus> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("cannot render the manual page")?;
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the manual page")?;
    Ok(ExitStatus::Success)
}
