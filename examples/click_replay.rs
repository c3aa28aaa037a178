//! Runs the simulated week of clicks (`missive::click_replay`) through the
//! classifier `serve` uses and prints how it judged them, for
//! `bench/clicks.sh`: `cargo run --release --example click_replay -- 10000`.

#![allow(clippy::print_stdout, reason = "the example prints what it measured")]

use missive::click_replay::{Scenario, Truth, deliveries, measure, requests, wave_closes};

fn main() {
    let readers = std::env::args().nth(1).map_or(10_000, |a| {
        a.parse().expect("READERS must be a whole number")
    });
    let scenario = Scenario::default();
    let start = time::macros::datetime!(2026-12-03 06:00 UTC);
    // Sent at 40 messages a second: waves of about a minute.
    let deliveries = deliveries(start, readers, 40.0);
    let requests = requests(&scenario, &deliveries);
    let started = std::time::Instant::now();
    let m = measure(scenario.links, &requests, &wave_closes(&deliveries));
    let took = started.elapsed();
    let heads = requests.iter().filter(|r| r.head).count();
    let readers_clicks = requests
        .iter()
        .filter(|r| !r.head && r.truth == Truth::Reader)
        .count();
    println!(
        "simulated: {readers} readers of a {}-link issue over {} days: {} requests \
         ({readers_clicks} readers' clicks, {} scanners' GETs, {heads} prefetching HEADs)",
        scenario.links,
        scenario.horizon.whole_days(),
        requests.len(),
        m.scanner_requests
    );
    println!(
        "scanners' requests recognized: {} of {} ({:.2}%; goal ≥ 95%)",
        m.scanners_caught,
        m.scanner_requests,
        m.recognized() * 100.0
    );
    println!(
        "readers' clicks taken for a scanner's: {} of {} ({:.2}%; goal ≤ 2%)",
        m.readers_missed,
        m.reader_requests,
        m.misjudged() * 100.0
    );
    println!(
        "per item: worst {:.2}% off among items with ≥ 50 clicks (goal ≤ 5%), {:.2}% off in all",
        m.worst_item(50) * 100.0,
        m.total_item_error() * 100.0
    );
    println!(
        "classified in {:.0} ms ({:.0} requests/s on one core)",
        took.as_secs_f64() * 1000.0,
        (requests.len() - heads) as f64 / took.as_secs_f64()
    );
}
