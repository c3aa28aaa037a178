//! Telling readers' clicks from link scanners', in memory only. A click is
//! judged by what its request shows — a known scanner or preview
//! User-Agent, the hidden honeypot link, a time too soon after its wave
//! went out — and by what its source does around it: one source (a
//! fingerprint: a keyed hash of its /24 or /48 and its User-Agent family,
//! under a salt that lives in memory and changes every day) that follows
//! [`BURST_LINKS`] links within [`BURST_WINDOW`] is a scanner, and so are
//! its clicks from [`BURST_MARGIN`] before. A click that looks human waits
//! [`SETTLE`] for that to show, then counts once per source, link and day.
//! What leaves this module are counts by issue, link, hour and verdict.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::{Date, Duration, OffsetDateTime};

/// A click this soon after its wave's last message is a scanner's: they
/// open mail as it arrives (a median of 43 s after delivery).
pub(crate) const EARLY: Duration = Duration::seconds(120);
/// A source following this many links…
pub(crate) const BURST_LINKS: usize = 3;
/// …within this long is a scanner…
pub(crate) const BURST_WINDOW: Duration = Duration::seconds(2);
/// …and so are its clicks from this long before.
pub(crate) const BURST_MARGIN: Duration = Duration::seconds(10);
/// How long a source found scanning is remembered after it last scanned.
pub(crate) const REMEMBERED: Duration = Duration::days(7);
/// How long a click that looks human waits before it counts: long enough
/// for a burst beginning [`BURST_MARGIN`] after it to show.
pub(crate) const SETTLE: Duration = Duration::seconds(12);

/// What a click was judged to be.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Verdict {
    /// A reader's click.
    Human,
    /// A reader's click on a link they (their source) already clicked today.
    Repeat,
    /// A known scanner, crawler or link preview by its User-Agent, or none.
    Agent,
    /// Within [`EARLY`] of its wave's sending.
    Early,
    /// Its source followed several links at once.
    Burst,
    /// Its source followed the hidden link.
    Honeypot,
}

/// One click, as the classifier sees it: nothing of it is kept but the
/// fingerprint of its source, for a day.
#[derive(Debug, Clone)]
pub(crate) struct Click<'a> {
    pub at: OffsetDateTime,
    pub source: IpAddr,
    /// What its User-Agent says ([`Agents::read`]).
    pub agent: &'a Agent,
    pub issue: &'a Arc<str>,
    pub link: u32,
    /// Whether it is the honeypot.
    pub honeypot: bool,
    /// Whether it came within [`EARLY`] of its wave's sending.
    pub early: bool,
}

/// What is counted: clicks on a link of an issue in an hour, by verdict.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub issue: Arc<str>,
    pub link: u32,
    /// The hour's start.
    pub hour: OffsetDateTime,
    pub verdict: Verdict,
}

/// A click that looks human, waiting to be counted.
#[derive(Debug)]
struct Pending {
    source: u64,
    issue: Arc<str>,
    link: u32,
    at: OffsetDateTime,
}

/// Why a source is a scanner, and since when its clicks are.
#[derive(Debug, Clone)]
struct Flag {
    since: OffsetDateTime,
    verdict: Verdict,
    /// When it last behaved as a scanner.
    last: OffsetDateTime,
    /// Its network and User-Agent family: a scanner's (never a reader's,
    /// who is never flagged), kept so the flag outlives the day's salt.
    origin: (IpAddr, Arc<str>),
}

/// What a User-Agent says of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Agent {
    /// A known scanner, crawler or link preview, or no User-Agent at all.
    pub machine: bool,
    /// Browser and operating system, without versions.
    pub family: String,
}

/// Reads User-Agents (outside the classifier's lock: it is the slow part).
pub(crate) struct Agents {
    bots: isbot::Bots,
}

impl Agents {
    pub(crate) fn new() -> Agents {
        let mut bots = isbot::Bots::default();
        // Mail security gateways and link checkers that say who they are,
        // and the Office apps' request before opening a link in the browser.
        bots.append(&[
            "barracuda",
            "mimecast",
            "proofpoint",
            "symantec",
            "bitdefender",
            "trendmicro",
            "forcepoint",
            "sophos",
            "fireeye",
            "safelinks",
            "microsoft office",
            "ms-office",
            "microsoft-webdav",
        ]);
        Agents { bots }
    }

    pub(crate) fn read(&self, user_agent: &str) -> Agent {
        let user_agent = user_agent.trim();
        let parsed = woothee::parser::Parser::new().parse(user_agent);
        Agent {
            machine: user_agent.is_empty()
                || self.bots.is_bot(user_agent)
                || parsed.as_ref().is_some_and(|r| r.category == "crawler"),
            family: parsed.map_or_else(String::new, |r| format!("{}/{}", r.name, r.os)),
        }
    }
}

/// The classifier's memory: a day's salt, each source's last few seconds,
/// the sources known to be scanners today, the readers' clicks counted
/// today (by fingerprint), the clicks waiting, and the counts not yet
/// taken.
pub(crate) struct Classifier {
    salt: [u8; 32],
    day: Date,
    recent: HashMap<u64, VecDeque<(OffsetDateTime, Arc<str>, u32)>>,
    flagged: HashMap<u64, Flag>,
    counted: HashSet<(u64, Arc<str>, u32)>,
    pending: VecDeque<Pending>,
    counts: HashMap<Key, u64>,
    /// When quiet sources were last forgotten.
    pruned: OffsetDateTime,
}

/// How often sources quiet for longer than [`BURST_WINDOW`] are forgotten.
const PRUNE_EVERY: Duration = Duration::seconds(5);

impl Classifier {
    pub(crate) fn new(now: OffsetDateTime) -> Classifier {
        Classifier {
            salt: fresh_salt(),
            day: now.date(),
            recent: HashMap::new(),
            flagged: HashMap::new(),
            counted: HashSet::new(),
            pending: VecDeque::new(),
            counts: HashMap::new(),
            pruned: now,
        }
    }

    /// Takes one click in. It counts now when the request shows it is a
    /// scanner's; otherwise it waits [`SETTLE`] (see [`settle`](Self::settle)).
    pub(crate) fn observe(&mut self, click: &Click<'_>) {
        self.settle(click.at);
        let source = self.fingerprint(click.source, &click.agent.family);
        let origin = || {
            (
                network(click.source),
                Arc::from(click.agent.family.as_str()),
            )
        };
        if self.burst(source, click) {
            let since = click.at - BURST_WINDOW - BURST_MARGIN;
            self.flag(source, since, click.at, Verdict::Burst, origin());
        }
        if click.honeypot {
            let since = click.at - BURST_MARGIN;
            self.flag(source, since, click.at, Verdict::Honeypot, origin());
        }
        let verdict = if click.honeypot {
            Some(Verdict::Honeypot)
        } else if click.agent.machine {
            Some(Verdict::Agent)
        } else if click.early {
            Some(Verdict::Early)
        } else {
            self.flagged
                .get(&source)
                .filter(|f| f.since <= click.at)
                .map(|f| f.verdict)
        };
        match verdict {
            Some(verdict) => self.count(click.issue, click.link, click.at, verdict),
            None => self.pending.push_back(Pending {
                source,
                issue: Arc::clone(click.issue),
                link: click.link,
                at: click.at,
            }),
        }
    }

    /// Counts the waiting clicks that have waited [`SETTLE`] by `now`.
    pub(crate) fn settle(&mut self, now: OffsetDateTime) {
        while self.pending.front().is_some_and(|p| p.at + SETTLE <= now) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.decide(&p);
        }
        if now.date() != self.day {
            self.new_day(now);
        }
    }

    /// Counts every waiting click now, with what is known (the server is
    /// stopping).
    pub(crate) fn settle_all(&mut self) {
        while let Some(p) = self.pending.pop_front() {
            self.decide(&p);
        }
    }

    /// Counts taken that could not be written, back for the next take.
    pub(crate) fn put_back(&mut self, counts: HashMap<Key, u64>) {
        for (key, n) in counts {
            *self.counts.entry(key).or_default() += n;
        }
    }

    /// Whether no click waits and no count is untaken.
    pub(crate) fn idle(&self) -> bool {
        self.pending.is_empty() && self.counts.is_empty()
    }

    /// The counts since the last take.
    pub(crate) fn take(&mut self) -> HashMap<Key, u64> {
        std::mem::take(&mut self.counts)
    }

    fn decide(&mut self, p: &Pending) {
        let verdict = match self.flagged.get(&p.source).filter(|f| f.since <= p.at) {
            Some(flag) => flag.verdict,
            None if self
                .counted
                .insert((p.source, Arc::clone(&p.issue), p.link)) =>
            {
                Verdict::Human
            }
            None => Verdict::Repeat,
        };
        self.count(&p.issue, p.link, p.at, verdict);
    }

    fn count(&mut self, issue: &Arc<str>, link: u32, at: OffsetDateTime, verdict: Verdict) {
        let hour = hour_of(at);
        *self
            .counts
            .entry(Key {
                issue: Arc::clone(issue),
                link,
                hour,
                verdict,
            })
            .or_default() += 1;
    }

    /// Whether the source's last [`BURST_WINDOW`], this click included,
    /// holds [`BURST_LINKS`] different links.
    fn burst(&mut self, source: u64, click: &Click<'_>) -> bool {
        let recent = self.recent.entry(source).or_default();
        while recent
            .front()
            .is_some_and(|(at, _, _)| *at + BURST_WINDOW < click.at)
        {
            recent.pop_front();
        }
        recent.push_back((click.at, Arc::clone(click.issue), click.link));
        // Enough different links? (Stops at the number needed.)
        let mut seen: Vec<(&str, u32)> = Vec::with_capacity(BURST_LINKS);
        for (_, issue, link) in recent.iter() {
            let key = (&**issue, *link);
            if !seen.contains(&key) {
                seen.push(key);
                if seen.len() >= BURST_LINKS {
                    break;
                }
            }
        }
        let burst = seen.len() >= BURST_LINKS;
        // Sources quiet for longer than the window are forgotten, every
        // few seconds: memory grows with the sources of the last moments.
        if click.at - self.pruned > PRUNE_EVERY {
            self.pruned = click.at;
            let now = click.at;
            self.recent
                .retain(|_, r| r.back().is_some_and(|(at, _, _)| *at + BURST_WINDOW >= now));
        }
        burst
    }

    /// Marks a source a scanner for the rest of the day, its clicks from
    /// `since` on (the earliest mark stands).
    fn flag(
        &mut self,
        source: u64,
        since: OffsetDateTime,
        at: OffsetDateTime,
        verdict: Verdict,
        origin: (IpAddr, Arc<str>),
    ) {
        self.flagged
            .entry(source)
            .and_modify(|f| {
                f.since = f.since.min(since);
                f.last = f.last.max(at);
            })
            .or_insert(Flag {
                since,
                verdict,
                last: at,
                origin,
            });
    }

    /// The source's fingerprint: a keyed hash, under today's salt, of its
    /// network (/24 of IPv4, /48 of IPv6) and its User-Agent's family.
    fn fingerprint(&self, ip: IpAddr, family: &str) -> u64 {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.salt).expect("HMAC takes any key length");
        match network(ip) {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        mac.update(&[0]);
        mac.update(family.as_bytes());
        let bytes = mac.finalize().into_bytes();
        u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
    }

    /// A new day: a new salt, and nothing of yesterday's sources is kept
    /// but the scanners that scanned within [`REMEMBERED`] (clicks still
    /// waiting are judged first).
    fn new_day(&mut self, now: OffsetDateTime) {
        self.settle_all();
        self.salt = fresh_salt();
        self.day = now.date();
        self.recent.clear();
        self.counted.clear();
        let scanners: Vec<Flag> = std::mem::take(&mut self.flagged)
            .into_values()
            .filter(|f| now - f.last < REMEMBERED)
            .collect();
        for flag in scanners {
            let source = self.fingerprint(flag.origin.0, &flag.origin.1);
            self.flagged.insert(source, flag);
        }
    }
}

/// The start of the hour `at` is in: what clicks are counted by.
pub(crate) fn hour_of(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(at)
}

fn fresh_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    for chunk in salt.chunks_mut(8) {
        chunk.copy_from_slice(&fastrand::u64(..).to_le_bytes());
    }
    salt
}

/// The network a source stands for: an IPv4 address's /24, an IPv6
/// address's /48 (an IPv4 address mapped into IPv6 is IPv4).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4([a, b, c, 0].into())
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return network(IpAddr::V4(v4));
            }
            let mut segments = v6.segments();
            segments[3..].fill(0);
            IpAddr::V6(segments.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    fn at(seconds: i64) -> OffsetDateTime {
        time::macros::datetime!(2026-12-01 10:00 UTC) + Duration::seconds(seconds)
    }

    fn click<'a>(issue: &'a Arc<str>, s: i64, ip: &str, ua: &str, link: u32) -> Click<'a> {
        // Leaked: a test's handful of User-Agents.
        let agent: &'static Agent = Box::leak(Box::new(Agents::new().read(ua)));
        Click {
            at: at(s),
            source: ip.parse().unwrap(),
            agent,
            issue,
            link,
            honeypot: link == 0,
            early: false,
        }
    }

    impl Classifier {
        fn waiting(&self) -> usize {
            self.pending.len()
        }
    }

    fn totals(c: &mut Classifier) -> HashMap<Verdict, u64> {
        c.settle_all();
        let mut out = HashMap::new();
        for (key, n) in c.take() {
            *out.entry(key.verdict).or_default() += n;
        }
        out
    }

    #[test]
    fn a_reader_counts_once_per_link_and_day() {
        let issue: Arc<str> = "i".into();
        let mut c = Classifier::new(at(0));
        c.observe(&click(&issue, 600, "192.0.2.7", CHROME, 5));
        c.observe(&click(&issue, 700, "192.0.2.7", CHROME, 5));
        c.observe(&click(&issue, 800, "192.0.2.7", CHROME, 6));
        // Another reader in the same /24 with another browser.
        c.observe(&click(&issue, 900, "192.0.2.8", FIREFOX, 5));
        assert_eq!(c.waiting(), 1, "clicks wait {SETTLE} before they count");
        let t = totals(&mut c);
        assert_eq!(t.get(&Verdict::Human), Some(&3));
        assert_eq!(t.get(&Verdict::Repeat), Some(&1));
    }

    #[test]
    fn a_burst_makes_the_source_a_scanner_from_ten_seconds_before() {
        let issue: Arc<str> = "i".into();
        let mut c = Classifier::new(at(0));
        // A click that looks human, then 9 s later the same source sweeps.
        c.observe(&click(&issue, 1000, "198.51.100.20", CHROME, 9));
        for link in 1..=5 {
            c.observe(&click(&issue, 1009, "198.51.100.21", CHROME, link));
        }
        // Later that day, one more from it: still a scanner.
        c.observe(&click(&issue, 5000, "198.51.100.22", CHROME, 7));
        // A reader elsewhere, at the same moment, is a reader.
        c.observe(&click(&issue, 1009, "203.0.113.5", CHROME, 2));
        let t = totals(&mut c);
        assert_eq!(t.get(&Verdict::Burst), Some(&7), "{t:?}");
        assert_eq!(t.get(&Verdict::Human), Some(&1), "{t:?}");
    }

    #[test]
    fn agents_honeypots_and_early_clicks_count_at_once_as_bots() {
        let issue: Arc<str> = "i".into();
        let mut c = Classifier::new(at(0));
        c.observe(&click(&issue, 10, "192.0.2.1", "python-requests/2.32", 1));
        c.observe(&click(&issue, 10, "192.0.2.2", "", 1));
        c.observe(&click(
            &issue,
            10,
            "192.0.2.3",
            "Barracuda Sentinel (EE)",
            1,
        ));
        c.observe(&click(&issue, 20, "192.0.2.4", FIREFOX, 3));
        c.observe(&click(&issue, 21, "192.0.2.4", FIREFOX, 0));
        let mut early = click(&issue, 30, "192.0.2.9", CHROME, 4);
        early.early = true;
        c.observe(&early);
        assert_eq!(c.waiting(), 1);
        let t = totals(&mut c);
        assert_eq!(t.get(&Verdict::Agent), Some(&3), "{t:?}");
        assert_eq!(t.get(&Verdict::Honeypot), Some(&2), "{t:?}");
        assert_eq!(t.get(&Verdict::Early), Some(&1), "{t:?}");
        assert_eq!(t.get(&Verdict::Human), None);
    }

    #[test]
    fn a_new_day_forgets_readers_and_remembers_scanners_for_a_week() {
        let issue: Arc<str> = "i".into();
        let mut c = Classifier::new(at(0));
        // A reader clicks an item twice, a day apart: both count.
        c.observe(&click(&issue, 600, "203.0.113.9", CHROME, 5));
        c.observe(&click(&issue, 600 + 86_400, "203.0.113.9", CHROME, 5));
        // A scanner follows the honeypot; the next day it is still one,
        // and eight days after it last scanned, it is forgotten.
        c.observe(&click(&issue, 60, "192.0.2.7", CHROME, 0));
        c.observe(&click(&issue, 90_000, "192.0.2.8", CHROME, 5));
        c.observe(&click(&issue, 60 + 8 * 86_400, "192.0.2.7", CHROME, 6));
        let t = totals(&mut c);
        assert_eq!(t.get(&Verdict::Human), Some(&3), "{t:?}");
        assert_eq!(t.get(&Verdict::Honeypot), Some(&2), "{t:?}");
        assert!(c.flagged.is_empty() && c.recent.len() <= 1);
    }

    #[test]
    fn counts_put_back_are_taken_again_added_to_the_new() {
        let issue: Arc<str> = "i".into();
        let mut c = Classifier::new(at(0));
        c.observe(&click(&issue, 600, "192.0.2.7", CHROME, 5));
        c.settle_all();
        let taken = c.take();
        assert!(c.idle());
        c.put_back(taken);
        c.observe(&click(&issue, 610, "192.0.2.8", FIREFOX, 5));
        let t = totals(&mut c);
        assert_eq!(t.get(&Verdict::Human), Some(&2), "{t:?}");
    }

    #[test]
    fn networks_and_families() {
        assert_eq!(
            network("192.0.2.77".parse().unwrap()),
            "192.0.2.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            network("2001:db8:1:2:3::9".parse().unwrap()),
            "2001:db8:1::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            network("::ffff:192.0.2.77".parse().unwrap()),
            "192.0.2.0".parse::<IpAddr>().unwrap()
        );
        let agents = Agents::new();
        let family = |ua: &str| agents.read(ua).family;
        assert_eq!(
            family(CHROME),
            family(&CHROME.replace("131.0.0.0", "120.0.1.2"))
        );
        assert_ne!(family(CHROME), family(FIREFOX));
        assert!(!agents.read(CHROME).machine);
        assert!(
            agents
                .read("Mozilla/5.0 (compatible; Googlebot/2.1)")
                .machine
        );
        assert!(
            agents
                .read("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0)")
                .machine
        );
    }
}
