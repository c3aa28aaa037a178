//! The `missive` binary: parse arguments, run, print the error chain once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = missive::cli::Cli::parse();
    match missive::run(cli) {
        Ok(status) => status.into(),
        Err(e) => {
            missive::report_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// glibc gives each thread that allocates its own arena, and each keeps the
/// pages it once needed: the sender's workers build messages of a few
/// hundred kilobytes on one thread and free them on another, and per-thread
/// arenas held a quarter of its peak memory (`bench/send.sh`). One arena
/// for all; small allocations still come from each thread's cache.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    #[allow(
        unsafe_code,
        reason = "mallopt only sets a tunable, before any thread starts"
    )]
    // SAFETY: called first thing in main, while this is the only thread;
    // M_ARENA_MAX takes any positive value.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}
