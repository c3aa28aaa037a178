//! `stats`: an issue's delivery funnel, its readers' clicks by section and
//! item, what was filtered out, and the clicks hour by hour.

use std::fmt::{self, Display, Formatter};
use std::path::Path;

use super::{path, plural, printable};
use crate::compose::clicks::Place;
use crate::stats::{Report, place_label, verdict_label};

/// `missive stats`.
pub(crate) struct StatsScreen<'a> {
    pub report: &'a Report,
    /// Where `--html` wrote the page.
    pub html: Option<&'a Path>,
}

/// How wide an item's title may be.
const TITLE: usize = 54;

impl Display for StatsScreen<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.report;
        writeln!(f, "{} ({})", printable(&r.subject), printable(&r.issue))?;
        match r.sent_at {
            Some(at) => writeln!(f, "sent {}", crate::stats::moment(at))?,
            None => writeln!(
                f,
                "no click links went out with this issue (clicks are counted with [clicks] in the \
                 config, from the next send)"
            )?,
        }
        let fun = &r.funnel;
        writeln!(f)?;
        writeln!(f, "delivery")?;
        writeln!(f, "  sent          {:>8}", fun.sent)?;
        writeln!(f, "  delivered     {:>8}", fun.delivered)?;
        writeln!(
            f,
            "  bounced       {:>8} hard, {} soft",
            fun.hard_bounces, fun.soft_bounces
        )?;
        writeln!(f, "  complaints    {:>8}", fun.complaints)?;
        writeln!(f, "  unsubscribes  {:>8}", fun.unsubscribes)?;
        writeln!(f)?;
        writeln!(
            f,
            "readers' clicks: {} ({} second click{} on a link the same day not counted)",
            r.clicks,
            r.repeats,
            plural(r.repeats as usize)
        )?;
        let filtered: u64 = r.filtered.values().sum();
        writeln!(
            f,
            "filtered out:    {filtered} (link scanners and previews)"
        )?;
        for (verdict, n) in &r.filtered {
            writeln!(f, "  {n:>8}  {}", verdict_label(*verdict))?;
        }
        if r.sections.is_empty() {
            return self.html_line(f);
        }
        writeln!(f)?;
        writeln!(f, "{:<62} {:>7} {:>9}", "items", "clicks", "filtered")?;
        for section in &r.sections {
            writeln!(
                f,
                "{:<62} {:>7} {:>9}",
                shorten(&section.title, 62),
                section.clicks,
                section.filtered
            )?;
            for l in &r.links {
                if let Place::Item {
                    number,
                    section: s,
                    title,
                } = &l.place
                    && *s == section.title
                {
                    writeln!(
                        f,
                        "  {number:>4}  {:<TITLE$} {:>7} {:>9}",
                        shorten(title, TITLE),
                        l.clicks,
                        l.filtered
                    )?;
                }
            }
        }
        let others: Vec<_> = r
            .links
            .iter()
            .filter(|l| matches!(l.place, Place::Text { .. }))
            .collect();
        if !others.is_empty() {
            writeln!(f, "other links")?;
            for l in others {
                writeln!(
                    f,
                    "  {:<60} {:>7} {:>9}",
                    shorten(&format!("{} ({})", l.url, place_label(&l.place)), 60),
                    l.clicks,
                    l.filtered
                )?;
            }
        }
        if !r.hours.is_empty() {
            writeln!(f)?;
            writeln!(f, "hours since sending   clicks  filtered")?;
            for h in &r.hours {
                writeln!(
                    f,
                    "  {:>5} h             {:>7} {:>9}",
                    h.after, h.clicks, h.filtered
                )?;
            }
        }
        self.html_line(f)
    }
}

impl StatsScreen<'_> {
    fn html_line(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(html) = self.html {
            writeln!(f)?;
            writeln!(f, "report with charts: {}", path(html))?;
        }
        Ok(())
    }
}

/// `text` on one line, at most `width` characters (an ellipsis where cut).
fn shorten(text: &str, width: usize) -> String {
    let text = printable(text);
    if text.chars().count() <= width {
        return text.into_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}
