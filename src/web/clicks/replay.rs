//! A simulated week of clicks on one issue, for measuring the scanner
//! filter (`bench/clicks.sh`, and the tests that drive `serve` with it):
//! readers who click 0–3 items minutes to days after delivery from their
//! own networks and browsers; mail gateways that sweep every link of each
//! message they guard 20 s–5 min after delivery (a median of 43 s, two
//! thirds between 20 and 60 s: the published measurements), each sweep in
//! under a second; gateways that check a link again the moment their
//! reader clicks it (Safe Links' double click); mail clients that prefetch
//! every link with a HEAD. Deterministic for a seed.

use std::net::{IpAddr, Ipv4Addr};

use time::{Duration, OffsetDateTime};

/// Who made a request, in truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Truth {
    Reader,
    Scanner,
}

/// One request of the simulation.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: OffsetDateTime,
    /// The message's reader (an index into the deliveries).
    pub reader: usize,
    pub source: IpAddr,
    pub user_agent: &'static str,
    /// The link's number (0: the honeypot).
    pub link: u32,
    pub head: bool,
    pub truth: Truth,
}

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// How many links each message carries (numbered 1 to `links`).
    pub links: u32,
    /// The share of messages a link-sweeping gateway guards.
    pub guarded: f64,
    /// The share of messages whose client prefetches links with HEAD.
    pub prefetched: f64,
    /// The latest a reader clicks, after delivery.
    pub horizon: Duration,
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            links: 95,
            guarded: 0.3,
            prefetched: 0.05,
            horizon: Duration::days(3),
            seed: 27,
        }
    }
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
];

/// A gateway: the networks it fetches from, how it says who it is, and
/// whether it checks a link again when its reader clicks.
struct Gateway {
    /// The second octet of its loopback networks (127.N.x.0/24).
    net: u8,
    networks: u8,
    user_agent: &'static str,
    at_click: bool,
}

const GATEWAYS: &[Gateway] = &[
    // Safe Links: a browser's User-Agent, many networks, and a second
    // look at click time.
    Gateway {
        net: 210,
        networks: 8,
        user_agent: BROWSERS[0],
        at_click: true,
    },
    // A gateway that passes for a browser.
    Gateway {
        net: 211,
        networks: 4,
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        at_click: false,
    },
    // One that says who it is.
    Gateway {
        net: 212,
        networks: 2,
        user_agent: "Barracuda Sentinel (EE)",
        at_click: false,
    },
    // A script.
    Gateway {
        net: 213,
        networks: 2,
        user_agent: "python-requests/2.32.3",
        at_click: false,
    },
];

/// A mail client's prefetcher.
const PREFETCHER: &str = "Mozilla/5.0 (compatible; LinkPreview/1.0)";

/// The requests of readers whose messages went out at `deliveries`, in
/// the order they arrive.
pub fn requests(scenario: &Scenario, deliveries: &[OffsetDateTime]) -> Vec<Request> {
    let mut rng = fastrand::Rng::with_seed(scenario.seed);
    // Items are not equally read: the first ones and a few others more.
    let weights: Vec<f64> = (1..=scenario.links)
        .map(|n| 1.0 / f64::from(n).sqrt() + if n % 17 == 0 { 0.5 } else { 0.0 })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut out = Vec::new();
    for (reader, &delivered) in deliveries.iter().enumerate() {
        // The reader's own network (a /24 each, 127.10.0.0 on) and browser.
        let own = IpAddr::V4(Ipv4Addr::new(
            127,
            10 + u8::try_from(reader / 256).unwrap_or(u8::MAX - 10),
            u8::try_from(reader % 256).unwrap_or(0),
            rng.u8(1..255),
        ));
        let browser = BROWSERS[rng.usize(..BROWSERS.len())];
        let gateway =
            (rng.f64() < scenario.guarded).then(|| &GATEWAYS[rng.usize(..GATEWAYS.len())]);
        let gateway_ip = |rng: &mut fastrand::Rng, g: &Gateway| {
            IpAddr::V4(Ipv4Addr::new(
                127,
                g.net,
                rng.u8(..g.networks),
                rng.u8(1..255),
            ))
        };
        if let Some(g) = gateway {
            // The sweep: every link, the honeypot among them, in under a second.
            let start = delivered + sweep_delay(&mut rng);
            let ip = gateway_ip(&mut rng, g);
            let mut links: Vec<u32> = (0..=scenario.links).collect();
            rng.shuffle(&mut links);
            let spread = rng.f64() * 0.9 + 0.05;
            for (i, link) in links.iter().enumerate() {
                let at = start + Duration::seconds_f64(spread * i as f64 / links.len() as f64);
                out.push(request(
                    at,
                    reader,
                    ip,
                    g.user_agent,
                    *link,
                    false,
                    Truth::Scanner,
                ));
            }
        }
        if rng.f64() < scenario.prefetched {
            let start = delivered + Duration::seconds_f64(rng.f64() * 10.0 + 1.0);
            for link in 1..=scenario.links {
                let at = start + Duration::milliseconds(i64::from(link) * 5);
                out.push(request(
                    at,
                    reader,
                    own,
                    PREFETCHER,
                    link,
                    true,
                    Truth::Scanner,
                ));
            }
        }
        // The reader: 0–3 items, a few minutes to days after delivery.
        let clicks = match rng.f64() {
            x if x < 0.45 => 0,
            x if x < 0.75 => 1,
            x if x < 0.9 => 2,
            _ => 3,
        };
        let mut chosen = Vec::new();
        while chosen.len() < clicks {
            let link = pick(&mut rng, &weights, total);
            if !chosen.contains(&link) {
                chosen.push(link);
            }
        }
        let mut at = delivered + reader_delay(&mut rng, scenario.horizon);
        for link in chosen {
            if let Some(g) = gateway.filter(|g| g.at_click) {
                let ip = gateway_ip(&mut rng, g);
                let check = at - Duration::seconds_f64(rng.f64() * 0.8 + 0.1);
                out.push(request(
                    check,
                    reader,
                    ip,
                    g.user_agent,
                    link,
                    false,
                    Truth::Scanner,
                ));
            }
            out.push(request(
                at,
                reader,
                own,
                browser,
                link,
                false,
                Truth::Reader,
            ));
            // The next item after reading this one: a minute to an hour.
            at += Duration::seconds_f64(60.0 + rng.f64() * 3540.0);
        }
    }
    out.sort_by_key(|r| r.at);
    out
}

fn request(
    at: OffsetDateTime,
    reader: usize,
    source: IpAddr,
    user_agent: &'static str,
    link: u32,
    head: bool,
    truth: Truth,
) -> Request {
    Request {
        at,
        reader,
        source,
        user_agent,
        link,
        head,
        truth,
    }
}

/// When a gateway sweeps after delivery: half within 20–43 s, two thirds
/// within 20–60 s, the rest up to 5 minutes.
fn sweep_delay(rng: &mut fastrand::Rng) -> Duration {
    let x = rng.f64();
    let seconds = if x < 0.5 {
        20.0 + rng.f64() * 23.0
    } else if x < 2.0 / 3.0 {
        43.0 + rng.f64() * 17.0
    } else {
        60.0 + rng.f64() * 240.0
    };
    Duration::seconds_f64(seconds)
}

/// When a reader clicks after delivery: 1% at once (1–3 minutes), the
/// rest spread evenly on a log scale from 3 minutes to the horizon.
fn reader_delay(rng: &mut fastrand::Rng, horizon: Duration) -> Duration {
    if rng.f64() < 0.01 {
        return Duration::seconds_f64(60.0 + rng.f64() * 120.0);
    }
    let (low, high) = (180f64.ln(), horizon.as_seconds_f64().max(181.0).ln());
    Duration::seconds_f64((low + rng.f64() * (high - low)).exp())
}

fn pick(rng: &mut fastrand::Rng, weights: &[f64], total: f64) -> u32 {
    let mut x = rng.f64() * total;
    for (n, w) in (1u32..).zip(weights) {
        if x < *w {
            return n;
        }
        x -= w;
    }
    u32::try_from(weights.len()).unwrap_or(1)
}

/// The deliveries of `readers` messages sent at `rate` a second from
/// `start`.
pub fn deliveries(start: OffsetDateTime, readers: usize, rate: f64) -> Vec<OffsetDateTime> {
    (0..readers)
        .map(|i| start + Duration::seconds_f64(i as f64 / rate))
        .collect()
}

/// When each reader's wave closed, for messages delivered at `deliveries`
/// in waves as a dispatch makes them
/// ([`wave_is_full`](crate::send::clicks::wave_is_full)).
pub fn wave_closes(deliveries: &[OffsetDateTime]) -> Vec<OffsetDateTime> {
    let mut closes = vec![OffsetDateTime::UNIX_EPOCH; deliveries.len()];
    let mut start = 0;
    for i in 0..deliveries.len() {
        let lasted = (deliveries[i] - deliveries[start])
            .try_into()
            .unwrap_or_default();
        let full = crate::send::clicks::wave_is_full((i - start + 1) as u64, lasted);
        if full || i + 1 == deliveries.len() {
            for close in &mut closes[start..=i] {
                *close = deliveries[i];
            }
            start = i + 1;
        }
    }
    closes
}

/// How the filter judged a simulation's requests.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Scanners' GETs (a HEAD never counts), and those judged a scanner's.
    pub scanner_requests: u64,
    pub scanners_caught: u64,
    /// Readers' GETs, and those judged a scanner's.
    pub reader_requests: u64,
    pub readers_missed: u64,
    /// Per item: its readers' clicks, and the clicks counted as readers'.
    pub per_item: Vec<(u32, u64, u64)>,
}

impl Measured {
    /// The share of scanners' requests recognized.
    pub fn recognized(&self) -> f64 {
        self.scanners_caught as f64 / self.scanner_requests.max(1) as f64
    }

    /// The share of readers' clicks taken for a scanner's.
    pub fn misjudged(&self) -> f64 {
        self.readers_missed as f64 / self.reader_requests.max(1) as f64
    }

    /// The largest error of an item's count, relative to its truth, among
    /// items with at least `least` readers' clicks.
    pub fn worst_item(&self, least: u64) -> f64 {
        self.per_item
            .iter()
            .filter(|(_, truth, _)| *truth >= least)
            .map(|(_, truth, counted)| (*counted as f64 - *truth as f64).abs() / *truth as f64)
            .fold(0.0, f64::max)
    }

    /// Every item's error added up, relative to all readers' clicks.
    pub fn total_item_error(&self) -> f64 {
        let (error, truth) = self
            .per_item
            .iter()
            .fold((0u64, 0u64), |(e, t), (_, truth, counted)| {
                (e + truth.abs_diff(*counted), t + truth)
            });
        error as f64 / truth.max(1) as f64
    }
}

/// Runs the requests through the classifier `serve` uses, in memory, each
/// judged as `serve` would (wave closes from [`wave_closes`]).
pub fn measure(links: u32, requests: &[Request], closes: &[OffsetDateTime]) -> Measured {
    use super::classify::{Agents, Classifier, Click, EARLY, Verdict};
    use std::sync::Arc;
    // Each truth counts under an issue of its own, so the counts say how
    // each was judged; the classifier treats the two alike.
    let (readers, scanners): (Arc<str>, Arc<str>) = ("readers".into(), "scanners".into());
    let agents = Agents::new();
    // A simulation has a handful of User-Agents: each is read once.
    let mut read: std::collections::HashMap<&str, super::classify::Agent> =
        std::collections::HashMap::new();
    let mut classifier = Classifier::new(
        requests
            .first()
            .map_or(OffsetDateTime::UNIX_EPOCH, |r| r.at),
    );
    let mut measured = Measured::default();
    let mut truth = vec![0u64; links as usize + 1];
    for r in requests.iter().filter(|r| !r.head) {
        let agent = read
            .entry(r.user_agent)
            .or_insert_with(|| agents.read(r.user_agent))
            .clone();
        let issue = match r.truth {
            Truth::Reader => {
                measured.reader_requests += 1;
                truth[r.link as usize] += 1;
                &readers
            }
            Truth::Scanner => {
                measured.scanner_requests += 1;
                &scanners
            }
        };
        classifier.observe(&Click {
            at: r.at,
            source: r.source,
            agent: &agent,
            issue,
            link: r.link,
            honeypot: r.link == 0,
            early: r.at < closes[r.reader] + EARLY,
        });
    }
    classifier.settle_all();
    let mut counted = vec![0u64; links as usize + 1];
    for (key, n) in classifier.take() {
        let human = matches!(key.verdict, Verdict::Human | Verdict::Repeat);
        if key.verdict == Verdict::Human {
            counted[key.link as usize] += n;
        }
        match (&*key.issue == "readers", human) {
            (true, false) => measured.readers_missed += n,
            (false, false) => measured.scanners_caught += n,
            _ => {}
        }
    }
    measured.per_item = (1..=links)
        .map(|n| (n, truth[n as usize], counted[n as usize]))
        .collect();
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_meets_its_goals_on_ten_thousand_simulated_readers() {
        let scenario = Scenario::default();
        let start = time::macros::datetime!(2026-12-03 06:00 UTC);
        let deliveries = deliveries(start, 10_000, 40.0);
        let requests = requests(&scenario, &deliveries);
        let m = measure(scenario.links, &requests, &wave_closes(&deliveries));
        let summary = format!(
            "scanners {} of {} ({:.2}%), readers misjudged {} of {} ({:.2}%), worst item {:.2}%, \
             all items {:.2}%",
            m.scanners_caught,
            m.scanner_requests,
            m.recognized() * 100.0,
            m.readers_missed,
            m.reader_requests,
            m.misjudged() * 100.0,
            m.worst_item(50) * 100.0,
            m.total_item_error() * 100.0
        );
        assert!(
            m.scanner_requests > 100_000 && m.reader_requests > 8_000,
            "{summary}"
        );
        assert!(m.recognized() >= 0.95, "{summary}");
        assert!(m.misjudged() <= 0.02, "{summary}");
        assert!(m.worst_item(50) <= 0.05, "{summary}");
    }

    #[test]
    fn waves_hold_five_hundred_readers_and_a_minute() {
        let start = time::macros::datetime!(2026-12-03 06:00 UTC);
        let fast = deliveries(start, 1_200, 100.0);
        let closes = wave_closes(&fast);
        // 100 a second: a minute holds 6,000, so one wave… of all 1,200.
        assert!(closes.iter().all(|c| *c == fast[1_199]));
        let slow = deliveries(start, 1_200, 1.0);
        let closes = wave_closes(&slow);
        // One a second: 500 readers take 8 minutes.
        assert_eq!(closes[0], slow[499]);
        assert_eq!(closes[500], slow[999]);
        assert_eq!(closes[1_199], slow[1_199]);
    }
}
