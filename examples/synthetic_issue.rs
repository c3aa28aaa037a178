//! Prints a synthetic issue of N items (default 100) as TOML, for benchmarks:
//! `cargo run --release --example synthetic_issue -- 100 > issue.toml`.

fn main() {
    let items = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a whole number"))
        .unwrap_or(100);
    print!("{}", missive::synthetic::issue(items));
}
