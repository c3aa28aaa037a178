//! Prints a synthetic issue of N items (default 100) as TOML, for benchmarks:
//! `cargo run --release --example synthetic_issue -- 100 > issue.toml`.
//! With `--long-excerpts`, nearly every item quotes several paragraphs (the
//! issue `[email] fit` must bring under Gmail's clip); with `--digest`, a
//! long weekly digest (a quarter of the items quoting several paragraphs).

#![allow(clippy::print_stdout, reason = "the example prints the issue it makes")]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let long = args.iter().any(|a| a == "--long-excerpts");
    let digest = args.iter().any(|a| a == "--digest");
    let items = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or(100, |a| a.parse().expect("N must be a whole number"));
    if digest {
        print!("{}", missive::synthetic::issue_like_a_long_digest(items));
    } else if long {
        print!("{}", missive::synthetic::issue_with_long_excerpts(items));
    } else {
        print!("{}", missive::synthetic::issue(items));
    }
}
