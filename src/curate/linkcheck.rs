//! `missive check --links`: every link of an issue (item URLs and links in
//! Markdown) asked for — `HEAD`, or `GET` where a server refuses `HEAD` —
//! with redirects followed one hop at a time so that a permanent move and a
//! move to the site's home page can be told apart; at most 2 requests at a
//! time per host and 16 in all, each with a timeout; results cached for a
//! day in `.missive/links.json`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// How long one request may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(8);
/// Requests at once, in all and per host.
const IN_ALL: usize = 16;
const PER_HOST: usize = 2;
/// How long a result is reused.
const CACHE_SECONDS: i64 = 24 * 3600;
/// Redirects followed before giving up.
const MAX_HOPS: usize = 10;

/// A link of the issue and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub url: String,
    /// `sections[1].items[3].url`, or the Markdown field it is in.
    pub field: String,
    /// The item's number, when the link belongs to an item.
    pub item: Option<u32>,
}

/// What asking for a link found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub(crate) enum Verdict {
    Fine {
        status: u16,
    },
    /// It moves for good: link to `to` instead.
    Moved {
        to: String,
    },
    /// It moves (for now) to another page that answers.
    Redirected {
        to: String,
    },
    /// It moves to the site's home page: most likely the page is gone.
    MovedHome {
        to: String,
    },
    /// 404, 410, 5xx.
    Dead {
        status: u16,
    },
    /// No answer: DNS, TLS, a refused connection, a timeout.
    Unreachable {
        reason: String,
    },
}

impl Verdict {
    /// Whether readers would not get the page.
    pub(crate) fn is_dead(&self) -> bool {
        matches!(
            self,
            Verdict::Dead { .. } | Verdict::Unreachable { .. } | Verdict::MovedHome { .. }
        )
    }

    /// Whether there is anything to say about it.
    pub(crate) fn is_fine(&self) -> bool {
        matches!(self, Verdict::Fine { .. })
    }
}

impl std::fmt::Display for Verdict {
    /// What a person reads about the link, after its URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Fine { status } => write!(f, "fine ({status})"),
            Verdict::Moved { to } => write!(f, "moved for good: link to {to} instead"),
            Verdict::Redirected { to } => write!(f, "redirects to {to}"),
            Verdict::MovedHome { to } => {
                write!(f, "redirects to the site's home page ({to}): probably gone")
            }
            Verdict::Dead { status } => write!(f, "dead ({status})"),
            Verdict::Unreachable { reason } => write!(f, "unreachable: {reason}"),
        }
    }
}

impl Checked {
    /// Where the link is: `item 12`, `the letter`, `the issue`.
    pub(crate) fn place(&self) -> String {
        match self.target.item {
            Some(n) => format!("item {n}"),
            None if self.target.field.starts_with("letter") => "the letter".to_string(),
            None => "the issue".to_string(),
        }
    }
}

/// One link checked.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub target: Target,
    pub verdict: Verdict,
    /// Answered from `.missive/links.json`.
    pub cached: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    /// Seconds since 1970.
    at: i64,
    #[serde(flatten)]
    verdict: Verdict,
}

/// The cache file of a project's state directory.
pub(crate) fn cache_path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("links.json")
}

/// What the last day's checks (in `cache_file`) said of `targets`, for
/// those they covered: read without asking anything (the preview shows it).
pub(crate) fn cached(targets: Vec<Target>, cache_file: &Path) -> Vec<Checked> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let cache: BTreeMap<String, Cached> = crate::fsutil::read_cache(cache_file);
    targets
        .into_iter()
        .filter_map(|target| {
            let found = cache
                .get(&target.url)
                .filter(|c| now - c.at < CACHE_SECONDS)?;
            Some(Checked {
                verdict: found.verdict.clone(),
                target,
                cached: true,
            })
        })
        .collect()
}

/// Checks `targets` (a URL found twice is asked once); `fresh` ignores
/// the cache. The cache is written back, atomically.
pub(crate) async fn check(
    client: &reqwest::Client,
    targets: Vec<Target>,
    cache_file: &Path,
    fresh: bool,
) -> Result<Vec<Checked>> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut cache: BTreeMap<String, Cached> = crate::fsutil::read_cache(cache_file);
    cache.retain(|_, c| now - c.at < CACHE_SECONDS);
    let mut wanted: Vec<String> = targets
        .iter()
        .map(|t| t.url.clone())
        .filter(|u| fresh || !cache.contains_key(u))
        .collect();
    wanted.sort();
    wanted.dedup();
    let answers = ask_all(client, wanted).await;
    let asked: HashMap<String, Verdict> = answers.into_iter().collect();
    for (url, verdict) in &asked {
        cache.insert(
            url.clone(),
            Cached {
                at: now,
                verdict: verdict.clone(),
            },
        );
    }
    crate::fsutil::write_cache(cache_file, &cache)?;
    Ok(targets
        .into_iter()
        .map(|target| {
            let (verdict, cached) = match (asked.get(&target.url), cache.get(&target.url)) {
                (Some(v), _) => (v.clone(), false),
                (None, Some(c)) => (c.verdict.clone(), true),
                // Its check stopped unexpectedly: say so, never guess.
                (None, None) => (
                    Verdict::Unreachable {
                        reason: "the check of this link did not finish".into(),
                    },
                    false,
                ),
            };
            Checked {
                target,
                verdict,
                cached,
            }
        })
        .collect())
}

async fn ask_all(client: &reqwest::Client, urls: Vec<String>) -> Vec<(String, Verdict)> {
    let in_all = Arc::new(Semaphore::new(IN_ALL));
    let mut per_host: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for url in urls {
        let host = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let host_slots = Arc::clone(
            per_host
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(PER_HOST))),
        );
        let in_all = Arc::clone(&in_all);
        let client = client.clone();
        tasks.spawn(async move {
            let _host = host_slots.acquire_owned().await.expect("open");
            let _slot = in_all.acquire_owned().await.expect("open");
            let verdict = ask(&client, &url).await;
            (url, verdict)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(answer) = done {
            out.push(answer);
        }
    }
    out
}

/// Asks for one link, following redirects one hop at a time.
async fn ask(client: &reqwest::Client, url: &str) -> Verdict {
    let Ok(start) = url::Url::parse(url) else {
        return Verdict::Unreachable {
            reason: "not a URL".into(),
        };
    };
    let mut at = start.clone();
    let mut permanent = true;
    for _ in 0..MAX_HOPS {
        let status = match status_of(client, &at).await {
            Ok(response) => response,
            Err(reason) => return Verdict::Unreachable { reason },
        };
        let (code, location) = status;
        if (300..400).contains(&code) {
            let Some(next) = location.and_then(|l| at.join(&l).ok()) else {
                return Verdict::Dead { status: code };
            };
            permanent &= matches!(code, 301 | 308);
            at = next;
            continue;
        }
        if code >= 400 {
            return Verdict::Dead { status: code };
        }
        if at == start {
            return Verdict::Fine { status: code };
        }
        let home = matches!(at.path(), "" | "/") && !matches!(start.path(), "" | "/");
        let to = at.to_string();
        return if home {
            Verdict::MovedHome { to }
        } else if permanent {
            Verdict::Moved { to }
        } else {
            Verdict::Redirected { to }
        };
    }
    Verdict::Unreachable {
        reason: format!("more than {MAX_HOPS} redirects"),
    }
}

/// The status (and `Location`) of `url`: `HEAD`, or `GET` (headers only)
/// when the server will not answer `HEAD`.
async fn status_of(
    client: &reqwest::Client,
    url: &url::Url,
) -> Result<(u16, Option<String>), String> {
    let response = match client.head(url.clone()).send().await {
        Ok(r) if !matches!(r.status().as_u16(), 400 | 403 | 405 | 501) => r,
        // A server that took too long to answer HEAD is not asked again.
        Err(e) if e.is_timeout() => return Err(describe(&e)),
        // Refused, or HEAD not understood: ask with GET.
        _ => client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?,
    };
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // The body is not read: dropping the response closes it.
    Ok((response.status().as_u16(), location))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        format!("cannot connect: {}", crate::project::error_chain(e))
    } else {
        crate::project::error_chain(&e)
    }
}
