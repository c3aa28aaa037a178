//! `missive stats`: what readers did with an issue — its links' clicks
//! (readers' and, apart, the scanners' that were filtered out), by item,
//! by section and over the hours since it went out — beside the delivery
//! funnel of its journal and the list-event log. [`report`] gathers it;
//! [`page`] draws it as a self-contained HTML page.

mod page;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use time::OffsetDateTime;

pub(crate) use page::page;

use crate::compose::Composed;
use crate::compose::clicks::{HONEYPOT, Link, Place};
use crate::send::clicks::{links_path, read_links, read_waves, waves_path};
use crate::web::clicks::classify::{Verdict, hour_of};
use crate::web::clicks::counts;

/// An issue's report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// The issue's file stem.
    pub issue: String,
    pub subject: String,
    /// When its first wave went out (none: never sent with `[clicks]`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    pub funnel: Funnel,
    /// Readers' clicks on its links, in all.
    pub clicks: u64,
    /// Clicks on a link the same reader had clicked that day: not counted.
    pub repeats: u64,
    /// Scanners' clicks filtered out, by why.
    pub filtered: BTreeMap<Verdict, u64>,
    /// Every link, in the issue's order (the items' first).
    pub links: Vec<LinkRow>,
    pub sections: Vec<SectionRow>,
    /// Clicks in each hour from the first one sent.
    pub hours: Vec<HourRow>,
}

/// What became of the messages sent.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Funnel {
    pub sent: usize,
    /// Accepted and not bounced since.
    pub delivered: usize,
    pub hard_bounces: usize,
    pub soft_bounces: usize,
    pub complaints: usize,
    pub unsubscribes: usize,
}

/// One link's clicks.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LinkRow {
    pub n: u32,
    pub url: String,
    #[serde(flatten)]
    pub place: Place,
    /// Readers' clicks.
    pub clicks: u64,
    /// Scanners' clicks filtered out.
    pub filtered: u64,
}

/// One section's items' clicks.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SectionRow {
    pub title: String,
    pub items: usize,
    pub clicks: u64,
    pub filtered: u64,
}

/// The clicks of one hour.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HourRow {
    /// Hours from the hour the first message went out in.
    pub after: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    pub clicks: u64,
    pub filtered: u64,
}

/// Gathers the report of a composed issue (its journal and counts under
/// the project's `.missive/`; `list` overrides `sending.subscribers`).
pub(crate) fn report(composed: &Composed, list: Option<&Path>) -> Result<Report> {
    let state_dir = composed.project.state_dir();
    let stem = composed.issue.stem();
    let status = crate::send::status(composed, list)?;
    let fb = &status.feedback;
    let funnel = Funnel {
        sent: status.sent,
        delivered: fb.delivered,
        hard_bounces: fb.hard,
        soft_bounces: fb.soft,
        complaints: fb.complaints,
        unsubscribes: fb.unsubscribes,
    };
    let waves = read_waves(&waves_path(&state_dir, &stem))?;
    let sent_at = waves.values().map(|w| w.opened).min();
    let table = latest(read_links(&links_path(&state_dir, &stem))?);
    let counted = counts::read(&counts::path_in(&state_dir), &stem)?;
    Ok(gather(
        stem,
        composed.issue.issue.subject.to_string(),
        sent_at,
        funnel,
        &table,
        &counted,
    ))
}

/// Each link number's target as last sent.
fn latest(links: Vec<Link>) -> Vec<Link> {
    let mut by_number: BTreeMap<u32, Link> = BTreeMap::new();
    for link in links {
        by_number.insert(link.n, link);
    }
    by_number.into_values().collect()
}

fn gather(
    issue: String,
    subject: String,
    sent_at: Option<OffsetDateTime>,
    funnel: Funnel,
    table: &[Link],
    counted: &[counts::Count],
) -> Report {
    let mut links: Vec<LinkRow> = table
        .iter()
        .map(|l| LinkRow {
            n: l.n,
            url: l.url.clone(),
            place: l.place.clone(),
            clicks: 0,
            filtered: 0,
        })
        .collect();
    let mut filtered = BTreeMap::new();
    let (mut clicks, mut repeats) = (0, 0);
    let mut hours: BTreeMap<OffsetDateTime, (u64, u64)> = BTreeMap::new();
    for count in counted {
        let row = links.iter_mut().find(|r| r.n == count.link);
        let hour = hours.entry(count.hour).or_default();
        match count.verdict {
            Verdict::Human => {
                clicks += count.clicks;
                hour.0 += count.clicks;
                if let Some(row) = row {
                    row.clicks += count.clicks;
                }
            }
            Verdict::Repeat => repeats += count.clicks,
            verdict => {
                *filtered.entry(verdict).or_default() += count.clicks;
                hour.1 += count.clicks;
                if let Some(row) = row.filter(|_| count.link != HONEYPOT) {
                    row.filtered += count.clicks;
                }
            }
        }
    }
    let mut sections: Vec<SectionRow> = Vec::new();
    for row in &links {
        if let Place::Item { section, .. } = &row.place {
            match sections.iter_mut().find(|s| s.title == *section) {
                Some(s) => {
                    s.items += 1;
                    s.clicks += row.clicks;
                    s.filtered += row.filtered;
                }
                None => sections.push(SectionRow {
                    title: section.clone(),
                    items: 1,
                    clicks: row.clicks,
                    filtered: row.filtered,
                }),
            }
        }
    }
    let start = sent_at
        .or_else(|| hours.keys().next().copied())
        .map(hour_of);
    let hours = hours
        .into_iter()
        .map(|(hour, (clicks, filtered))| HourRow {
            after: start.map_or(0, |s| (hour - s).whole_hours()),
            hour,
            clicks,
            filtered,
        })
        .collect();
    Report {
        issue,
        subject,
        sent_at,
        funnel,
        clicks,
        repeats,
        filtered,
        links,
        sections,
        hours,
    }
}

/// How a link's place reads in a chart or a table: an item's number, or
/// the field a Markdown link sits in.
pub(crate) fn place_label(place: &Place) -> String {
    match place {
        Place::Item { number, .. } => number.to_string(),
        Place::Text { field } => field.clone(),
    }
}

/// Why clicks with a verdict were filtered out (or not), in words.
pub(crate) fn verdict_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Human => "a reader's click",
        Verdict::Repeat => "a reader's second click on a link the same day (not counted)",
        Verdict::Agent => "a known scanner, crawler or link preview (by its User-Agent)",
        Verdict::Early => "within 2 minutes of its wave's sending",
        Verdict::Burst => "a source following several links at once",
        Verdict::Honeypot => "a source that followed the hidden link",
    }
}

/// A moment as the report shows it: `2026-12-01 10:04 UTC`.
pub(crate) fn moment(at: OffsetDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn item(n: u32, section: &str) -> Link {
        Link {
            n,
            url: format!("https://example.com/{n}"),
            place: Place::Item {
                number: n,
                section: section.into(),
                title: format!("Item {n}"),
            },
        }
    }

    fn count(link: u32, hour: OffsetDateTime, verdict: Verdict, clicks: u64) -> counts::Count {
        counts::Count {
            issue: "i".into(),
            link,
            hour,
            verdict,
            clicks,
        }
    }

    #[test]
    fn adds_counts_up_by_link_section_and_hour() {
        let sent = datetime!(2026-12-01 10:20 UTC);
        let (h10, h12) = (
            datetime!(2026-12-01 10:00 UTC),
            datetime!(2026-12-01 12:00 UTC),
        );
        let table = vec![item(1, "A"), item(2, "A"), item(3, "B")];
        let counted = vec![
            count(1, h10, Verdict::Human, 3),
            count(1, h12, Verdict::Human, 2),
            count(1, h10, Verdict::Burst, 40),
            count(3, h12, Verdict::Human, 1),
            count(3, h12, Verdict::Repeat, 4),
            count(0, h10, Verdict::Honeypot, 9),
            count(7, h10, Verdict::Human, 1), // a link not in the table
        ];
        let r = gather(
            "i".into(),
            "S".into(),
            Some(sent),
            Funnel::default(),
            &table,
            &counted,
        );
        let per_link: Vec<(u32, u64, u64)> = r
            .links
            .iter()
            .map(|l| (l.n, l.clicks, l.filtered))
            .collect();
        assert_eq!(per_link, vec![(1, 5, 40), (2, 0, 0), (3, 1, 0)]);
        assert_eq!((r.clicks, r.repeats), (7, 4));
        assert_eq!(r.filtered.get(&Verdict::Burst), Some(&40));
        assert_eq!(r.filtered.get(&Verdict::Honeypot), Some(&9));
        let sections: Vec<(&str, usize, u64)> = r
            .sections
            .iter()
            .map(|s| (s.title.as_str(), s.items, s.clicks))
            .collect();
        assert_eq!(sections, vec![("A", 2, 5), ("B", 1, 1)]);
        let hours: Vec<(i64, u64, u64)> = r
            .hours
            .iter()
            .map(|h| (h.after, h.clicks, h.filtered))
            .collect();
        assert_eq!(hours, vec![(0, 4, 49), (2, 3, 0)]);
    }
}
