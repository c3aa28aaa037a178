//! `serve`'s click links, with `[clicks]`: `GET /c/<issue>/<wave>/<n>-<mac>`
//! answers a link the issue was sent with by a 302 to its target, and
//! counts the click ([`classify`]) into the counts log ([`counts`]) about
//! once a second; a link that is not one of ours (forged, edited, signed
//! under another secret) gets the issue's page in the web archive, never a
//! redirect. A HEAD, a test's link (wave 0) and the honeypot's target
//! count nothing of a reader's. Nothing of the request — address, agent,
//! cookie — is written anywhere.

pub(crate) mod classify;
pub(crate) mod counts;
#[doc(hidden)]
pub mod replay;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::extract::{ConnectInfo, Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::compose::clicks::{HONEYPOT, Link};
use crate::list::token::Secret;
use crate::send::clicks::{NO_WAVE, Wave, links_path, read_links, read_waves, waves_path};
use classify::{Agents, Classifier, Click, EARLY};
use counts::CountLog;

/// What the click route needs, made when the server starts.
pub(crate) struct Clicks {
    state_dir: PathBuf,
    site: PathBuf,
    secret: Secret,
    behind_proxy: bool,
    agents: Agents,
    classifier: Mutex<Classifier>,
    issues: Mutex<HashMap<String, Arc<Sent>>>,
    log: Mutex<CountLog>,
}

/// What an issue was sent with, as last read: its links and its waves, and
/// the files' sizes then (a file that grew is read again).
#[derive(Debug, Default)]
struct Sent {
    issue: Arc<str>,
    links: Vec<Link>,
    links_len: u64,
    waves: BTreeMap<u32, Wave>,
    waves_len: u64,
}

impl Clicks {
    pub(crate) fn start(
        state_dir: &Path,
        site: &Path,
        secret: Secret,
        behind_proxy: bool,
    ) -> Result<Clicks> {
        Ok(Clicks {
            state_dir: state_dir.to_path_buf(),
            site: site.to_path_buf(),
            secret,
            behind_proxy,
            agents: Agents::new(),
            classifier: Mutex::new(Classifier::new(OffsetDateTime::now_utc())),
            issues: Mutex::new(HashMap::new()),
            log: Mutex::new(CountLog::open(&counts::path_in(state_dir))?),
        })
    }

    /// Counts the clicks that have waited long enough, durably. With
    /// `all`, every click still waiting too (the server is stopping).
    pub(crate) fn flush(&self, all: bool) -> Result<()> {
        // One writer at a time, so counts reach the log in the order taken.
        let mut log = lock(&self.log);
        let taken = {
            let mut classifier = lock(&self.classifier);
            if all {
                classifier.settle_all();
            } else {
                classifier.settle(OffsetDateTime::now_utc());
            }
            classifier.take()
        };
        // Counts that could not be written wait for the next flush.
        log.append(&taken)
            .inspect_err(|_| lock(&self.classifier).put_back(taken))
    }

    /// Whether no click waits to be judged or written.
    pub(crate) fn idle(&self) -> bool {
        lock(&self.classifier).idle()
    }

    /// What the issue was sent with, read again if its files grew since
    /// (a send under way adds waves).
    fn sent(&self, issue: &str) -> Option<Arc<Sent>> {
        let links_path = links_path(&self.state_dir, issue);
        let waves_path = waves_path(&self.state_dir, issue);
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let (links_len, waves_len) = (len(&links_path), len(&waves_path));
        if links_len == 0 {
            return None;
        }
        let mut issues = lock(&self.issues);
        if let Some(sent) = issues.get(issue)
            && sent.links_len == links_len
            && sent.waves_len == waves_len
        {
            return Some(Arc::clone(sent));
        }
        let sent = Arc::new(Sent {
            issue: issue.into(),
            links: read_links(&links_path).ok()?,
            links_len,
            waves: read_waves(&waves_path).ok()?,
            waves_len,
        });
        issues.insert(issue.to_string(), Arc::clone(&sent));
        Some(sent)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a click link names.
struct Named<'a> {
    wave: u32,
    n: u32,
    mac: &'a str,
}

fn parse<'a>(wave: &str, link: &'a str) -> Option<Named<'a>> {
    let (n, mac) = link.split_once('-')?;
    Some(Named {
        wave: wave.parse().ok()?,
        n: n.parse().ok()?,
        mac,
    })
}

/// Whether a click on `wave` at `at` came too soon after the wave went out
/// to be a reader's: within [`EARLY`] of its last message, while it is
/// still being sent, or in a wave not (yet) on record.
fn early(waves: &BTreeMap<u32, Wave>, wave: u32, at: OffsetDateTime) -> bool {
    match waves.get(&wave).and_then(|w| w.closed) {
        Some(closed) => at < closed + EARLY,
        None => true,
    }
}

/// `GET /c/<issue>/<wave>/<n>-<mac>`.
pub(crate) async fn follow(
    State(clicks): State<Arc<Clicks>>,
    UrlPath((issue, wave, link)): UrlPath<(String, String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let at = OffsetDateTime::now_utc();
    // An issue is a file stem: never a path out of `.missive/clicks/`.
    if issue.is_empty() || issue.starts_with('.') || issue.contains(['/', '\\', '\0']) {
        return archive_page(&clicks.site, "");
    }
    let sent = clicks.sent(&issue);
    let target = sent
        .as_ref()
        .zip(parse(&wave, &link))
        .and_then(|(sent, named)| {
            // The honeypot's target is nothing; a link's, one it was sent with.
            let honeypot = std::iter::once("").filter(|_| named.n == HONEYPOT);
            let links = sent
                .links
                .iter()
                .filter(|l| l.n == named.n)
                .map(|l| l.url.as_str());
            let url = honeypot.chain(links).find(|url| {
                clicks
                    .secret
                    .click_mac_matches(&issue, named.wave, named.n, url, named.mac)
            })?;
            Some((sent, named, url))
        });
    let Some((sent, named, url)) = target else {
        return archive_page(&clicks.site, &issue);
    };
    if method != Method::HEAD && named.wave != NO_WAVE {
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let agent = clicks.agents.read(user_agent);
        let click = Click {
            at,
            source: crate::web::http::client_ip(clicks.behind_proxy, peer, &headers),
            agent: &agent,
            issue: &sent.issue,
            link: named.n,
            honeypot: named.n == HONEYPOT,
            early: early(&sent.waves, named.wave, at),
        };
        lock(&clicks.classifier).observe(&click);
    }
    if named.n == HONEYPOT {
        // Nowhere to go: an empty page.
        return (
            StatusCode::NO_CONTENT,
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response();
    }
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, url),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
        .into_response()
}

/// The issue's page in the web archive, for a link that is not one of
/// ours (`issue` is only read as a page name of the archive); a page
/// saying so when the archive has none.
fn archive_page(site: &Path, issue: &str) -> Response {
    let page = crate::web::archive::is_page_name(issue)
        .then(|| std::fs::read_to_string(site.join(issue).join("index.html")).ok())
        .flatten();
    match page {
        // Its relative links resolve as on the archive's own page.
        Some(html) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            axum::response::Html(html.replacen(
                "<head>",
                &format!("<head><base href=\"/{issue}/\">"),
                1,
            )),
        )
            .into_response(),
        None => super::app::titled_page(
            StatusCode::NOT_FOUND,
            "Link not found",
            "<p>This link is not one this newsletter sent.</p>",
        ),
    }
}
