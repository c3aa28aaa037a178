//! Prints a synthetic issue of N items (default 100) as TOML, for benchmarks:
//! `cargo run --release --example synthetic_issue -- 100 > issue.toml`.

#![allow(clippy::print_stdout, reason = "the example prints the issue it makes")]

fn main() {
    let items = std::env::args()
        .nth(1)
        .map_or(100, |a| a.parse().expect("N must be a whole number"));
    print!("{}", missive::synthetic::issue(items));
}
