//! The `missive` binary: parse arguments, run, print the error chain once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = missive::cli::Cli::parse();
    match missive::run(cli) {
        Ok(status) => status.into(),
        Err(e) => {
            missive::report_error(&e);
            ExitCode::FAILURE
        }
    }
}
