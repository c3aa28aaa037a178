//! Click links, with `[clicks]`: the links each message carries
//! (`{url}/c/<issue>/<wave>/<n>-<mac>`), and what a dispatch records for
//! `serve` to check and count them by — the issue's link table and its
//! waves — under `.missive/clicks/`. A wave is a stretch of the send (at
//! least [`WAVE_READERS`] readers and [`WAVE_SECONDS`]): it dates a click
//! without naming anyone. Wave 0 is a test's or a sample's (`doctor`),
//! never counted; the welcome `serve` sends a new reader keeps plain links.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::compose::clicks::{HONEYPOT, Link, LinkTable, click_url};
use crate::fsutil::AppendLog;
use crate::list::token::Secret;

/// A wave holds at least this many readers…
pub(crate) const WAVE_READERS: u64 = 500;
/// …and lasts at least this long.
pub(crate) const WAVE_SECONDS: Duration = Duration::from_mins(1);

/// Whether a wave that holds `readers` and has lasted `lasted` is done:
/// the next message opens a new one.
pub(crate) fn wave_is_full(readers: u64, lasted: Duration) -> bool {
    readers >= WAVE_READERS && lasted >= WAVE_SECONDS
}

/// The wave of messages that are not part of a dispatch (tests, samples).
pub(crate) const NO_WAVE: u32 = 0;

/// Where the click records of a project live.
pub(crate) fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("clicks")
}

/// The link table of an issue, as sent: JSON lines, one per link; a link
/// that changed after a send is added, never replaced (messages out there
/// still carry the old one).
pub(crate) fn links_path(state_dir: &Path, issue: &str) -> PathBuf {
    dir(state_dir).join(format!("{issue}.links"))
}

/// The waves of an issue's sends: JSON lines of [`WaveRecord`].
pub(crate) fn waves_path(state_dir: &Path, issue: &str) -> PathBuf {
    dir(state_dir).join(format!("{issue}.waves"))
}

/// One line of an issue's waves file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub(crate) enum WaveRecord {
    /// The first message of the wave was made.
    Opened {
        wave: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Its last one was (or the send stopped).
    Closed {
        wave: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        readers: u64,
    },
}

/// When a wave went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wave {
    pub opened: OffsetDateTime,
    /// `None` while its messages are still being made.
    pub closed: Option<OffsetDateTime>,
    pub readers: u64,
}

/// The waves of an issue, by number (a missing file: none). Lines a
/// crash cut short are skipped.
pub(crate) fn read_waves(path: &Path) -> Result<std::collections::BTreeMap<u32, Wave>> {
    let mut waves = std::collections::BTreeMap::new();
    for record in read_lines::<WaveRecord>(path)? {
        match record {
            WaveRecord::Opened { wave, at } => {
                waves.insert(
                    wave,
                    Wave {
                        opened: at,
                        closed: None,
                        readers: 0,
                    },
                );
            }
            WaveRecord::Closed { wave, at, readers } => {
                if let Some(w) = waves.get_mut(&wave) {
                    w.closed = Some(at);
                    w.readers = readers;
                }
            }
        }
    }
    Ok(waves)
}

/// Every link an issue was sent with (a number may have had two targets,
/// if the issue changed between sends). A missing file: none.
pub(crate) fn read_links(path: &Path) -> Result<Vec<Link>> {
    read_lines(path)
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

/// The click links of an issue's messages.
pub(crate) struct ClickLinks {
    base: String,
    issue: String,
    secret: Secret,
    pub(crate) table: LinkTable,
    /// Set when a dispatch begins; without it, every message is wave 0.
    waves: OnceLock<Waves>,
    /// The links of the wave last asked for, by number (0: the honeypot).
    urls: Mutex<(u32, Arc<Vec<String>>)>,
}

impl ClickLinks {
    pub(crate) fn new(base: String, issue: &str, secret: Secret, table: LinkTable) -> ClickLinks {
        ClickLinks {
            base,
            issue: issue.to_string(),
            secret,
            table,
            waves: OnceLock::new(),
            urls: Mutex::new((u32::MAX, Arc::new(Vec::new()))),
        }
    }

    /// A dispatch begins: the link table is recorded (links new since an
    /// earlier send added) and messages from now on go out in waves.
    pub(crate) fn begin(&self, state_dir: &Path) -> Result<()> {
        let path = links_path(state_dir, &self.issue);
        let known = read_links(&path)?;
        let new: Vec<&Link> = self
            .table
            .links
            .iter()
            .filter(|l| !known.iter().any(|k| k.n == l.n && k.url == l.url))
            .collect();
        let (mut log, _) =
            AppendLog::open(&path, b"", |l| serde_json::from_slice::<Link>(l).is_ok())?;
        if !new.is_empty() {
            let mut lines = Vec::new();
            for link in new {
                serde_json::to_writer(&mut lines, link)?;
                lines.push(b'\n');
            }
            log.append(&lines)?;
            log.sync()?;
        }
        let waves = Waves::open(&waves_path(state_dir, &self.issue))?;
        let _ = self.waves.set(waves);
        Ok(())
    }

    /// The dispatch ended (or stopped): its last wave is closed.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.waves.get() {
            Some(waves) => waves.close(),
            None => Ok(()),
        }
    }

    /// The links of the next message: its wave's, by number.
    pub(crate) fn next(&self) -> Result<Arc<Vec<String>>> {
        let wave = match self.waves.get() {
            Some(waves) => waves.next()?,
            None => NO_WAVE,
        };
        let mut urls = self
            .urls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if urls.0 != wave {
            *urls = (wave, Arc::new(self.urls_of(wave)));
        }
        Ok(Arc::clone(&urls.1))
    }

    fn urls_of(&self, wave: u32) -> Vec<String> {
        let link = |n: u32, url: &str| {
            let mac = self.secret.click_mac(&self.issue, wave, n, url);
            click_url(&self.base, &self.issue, wave, n, &mac)
        };
        std::iter::once(link(HONEYPOT, ""))
            .chain(self.table.links.iter().map(|l| link(l.n, &l.url)))
            .collect()
    }
}

/// The waves of one dispatch, recorded as they open and close.
struct Waves {
    log: Mutex<WaveLog>,
}

struct WaveLog {
    file: AppendLog,
    /// The wave messages are made in, if one is open.
    open: Option<OpenWave>,
    /// The number the next wave takes.
    next: u32,
}

struct OpenWave {
    wave: u32,
    started: Instant,
    readers: u64,
}

impl Waves {
    /// Opens the waves file; numbering goes on after the waves of earlier
    /// sends, and a wave a stopped send left open is closed now.
    fn open(path: &Path) -> Result<Waves> {
        let earlier = read_waves(path)?;
        let (mut file, _) = AppendLog::open(path, b"", |l| {
            serde_json::from_slice::<WaveRecord>(l).is_ok()
        })?;
        for (wave, w) in earlier.iter().filter(|(_, w)| w.closed.is_none()) {
            append(
                &mut file,
                &WaveRecord::Closed {
                    wave: *wave,
                    at: OffsetDateTime::now_utc(),
                    readers: w.readers,
                },
            )?;
        }
        let next = earlier.keys().next_back().map_or(1, |w| w + 1);
        Ok(Waves {
            log: Mutex::new(WaveLog {
                file,
                open: None,
                next,
            }),
        })
    }

    /// The wave of the next message: the open one, or a new one once it
    /// holds enough readers and has lasted long enough.
    fn next(&self) -> Result<u32> {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let full = log
            .open
            .as_ref()
            .is_none_or(|w| wave_is_full(w.readers, w.started.elapsed()));
        if full {
            log.close()?;
            let wave = log.next;
            log.next += 1;
            append(
                &mut log.file,
                &WaveRecord::Opened {
                    wave,
                    at: OffsetDateTime::now_utc(),
                },
            )?;
            log.open = Some(OpenWave {
                wave,
                started: Instant::now(),
                readers: 0,
            });
        }
        let open = log.open.as_mut().expect("a wave is open");
        open.readers += 1;
        Ok(open.wave)
    }

    fn close(&self) -> Result<()> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .close()
    }
}

impl WaveLog {
    fn close(&mut self) -> Result<()> {
        if let Some(open) = self.open.take() {
            append(
                &mut self.file,
                &WaveRecord::Closed {
                    wave: open.wave,
                    at: OffsetDateTime::now_utc(),
                    readers: open.readers,
                },
            )?;
        }
        Ok(())
    }
}

/// Appends one record, durably.
fn append(file: &mut AppendLog, record: &WaveRecord) -> Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    file.append(&line)?;
    file.sync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::clicks::Place;

    fn links() -> ClickLinks {
        let mut table = LinkTable::default();
        table.links.push(Link {
            n: 1,
            url: "https://a.example/".into(),
            place: Place::Text {
                field: "letter.body".into(),
            },
        });
        let secret = Secret::new("a test secret of enough length").unwrap();
        ClickLinks::new("https://s.example".into(), "2026-12-01 x", secret, table)
    }

    #[test]
    fn without_a_dispatch_links_are_wave_zero() {
        let clicks = links();
        let urls = clicks.next().unwrap();
        assert_eq!(urls.len(), 2);
        assert!(
            urls[1].starts_with("https://s.example/c/2026-12-01%20x/0/1-"),
            "{}",
            urls[1]
        );
        assert_eq!(
            urls[1].rsplit('-').next().unwrap().len(),
            crate::compose::clicks::MAC_CHARS
        );
        assert!(urls[0].contains("/0/0-"));
    }

    #[test]
    fn a_dispatch_records_the_table_and_numbers_waves_after_earlier_sends() {
        let dir = tempfile::tempdir().unwrap();
        let clicks = links();
        clicks.begin(dir.path()).unwrap();
        let first = clicks.next().unwrap();
        assert!(first[1].contains("/1/1-"), "{}", first[1]);
        for _ in 1..WAVE_READERS * 2 {
            clicks.next().unwrap();
        }
        // Not a minute yet: still wave 1.
        assert!(clicks.next().unwrap()[1].contains("/1/1-"));
        clicks.finish().unwrap();
        let waves = read_waves(&waves_path(dir.path(), "2026-12-01 x")).unwrap();
        assert_eq!(waves.len(), 1);
        assert_eq!(waves[&1].readers, WAVE_READERS * 2 + 1);
        assert!(waves[&1].closed.is_some());

        // A second send (a wave left open by a crash is closed), the
        // table again: recorded once.
        let path = waves_path(dir.path(), "2026-12-01 x");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"event\":\"opened\",\"wave\":2,\"at\":\"2026-12-01T10:00:00Z\"}\n");
        std::fs::write(&path, text).unwrap();
        let again = links();
        again.begin(dir.path()).unwrap();
        assert!(again.next().unwrap()[1].contains("/3/1-"));
        let waves = read_waves(&path).unwrap();
        assert!(waves[&2].closed.is_some());
        assert_eq!(
            read_links(&links_path(dir.path(), "2026-12-01 x"))
                .unwrap()
                .len(),
            1
        );
    }
}
