//! `missive stats --html`: the report as one self-contained page — its
//! charts drawn as inline SVG by plotters (clicks per item in issue order,
//! clicks over time, the delivery funnel), its tables, its style — that
//! asks the network for nothing.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::{Report, place_label};
use crate::compose::merge::escape_html;

/// The readers' colour, and what went wrong's.
const READERS: RGBColor = RGBColor(0x1f, 0x5f, 0xa8);
const LOST: RGBColor = RGBColor(0xb0, 0x3a, 0x2e);

/// The report page.
pub(crate) fn page(report: &Report) -> String {
    let title = format!("{} — clicks and delivery", report.subject);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\
         <h1>{}</h1><p class=\"meta\">{}</p>",
        escape_html(&title),
        escape_html(&report.subject),
        escape_html(&summary(report)),
    );
    let _ = write!(
        out,
        "<section><h2>Clicks per item</h2><figure>{}<figcaption>Readers' clicks on each \
         item's link, in the issue's order (scanners' clicks, filtered out, are in the \
         table below).</figcaption></figure></section>",
        per_item(report)
    );
    let _ = write!(
        out,
        "<section><h2>Clicks over time</h2><figure>{}<figcaption>Readers' clicks in each hour \
         since the issue went out.</figcaption></figure></section>",
        over_time(report)
    );
    let _ = write!(
        out,
        "<section><h2>Delivery</h2><figure>{}</figure></section>",
        funnel(report)
    );
    out.push_str(&tables(report));
    out.push_str("</main></body></html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;color:#1d232b;background:#fff;\
margin:0}main{max-width:60rem;margin:0 auto;padding:1.5rem}h1{font-size:1.6rem;margin:0 0 .3rem}\
h2{font-size:1.2rem;margin:2rem 0 .6rem}.meta{color:#55606e;margin:0}figure{margin:0}\
figcaption{color:#55606e;font-size:.9rem}svg{max-width:100%;height:auto}\
table{border-collapse:collapse;width:100%;font-size:.92rem}\
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e7ec;vertical-align:top}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}";

/// One line: when it went out, to how many, and the clicks.
fn summary(report: &Report) -> String {
    let when = report.sent_at.map_or_else(
        || "not sent with click counting".to_string(),
        |at| format!("sent {}", super::moment(at)),
    );
    let filtered: u64 = report.filtered.values().sum();
    let s = |n: u64| if n == 1 { "" } else { "s" };
    format!(
        "{when} to {} readers · {} click{} by readers · {} scanner request{} filtered out",
        report.funnel.sent,
        report.clicks,
        s(report.clicks),
        filtered,
        s(filtered)
    )
}

/// An SVG drawn by `draw` on a `width`×`height` canvas (the drawing's
/// errors, which only a writer into a string could cause, leave it
/// partial).
fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(
        DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    ) -> Result<(), Box<dyn std::error::Error + '_>>,
) -> String {
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        let _ = area.fill(&WHITE);
        let _ = draw(area);
    }
    out
}

/// Bars: each item's readers' clicks.
fn per_item(report: &Report) -> String {
    let items: Vec<_> = report
        .links
        .iter()
        .filter(|l| matches!(l.place, crate::compose::clicks::Place::Item { .. }))
        .collect();
    let most = items.iter().map(|l| l.clicks.max(1)).max().unwrap_or(1);
    svg(900, 320, |area| {
        let count = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0u32..count, 0u64..most + most / 10 + 1)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("item")
            .y_desc("clicks")
            .x_label_formatter(&|i| {
                items
                    .get(*i as usize)
                    .map(|l| place_label(&l.place))
                    .unwrap_or_default()
            })
            .draw()?;
        chart.draw_series(
            items
                .iter()
                .zip(0u32..)
                .map(|(l, i)| Rectangle::new([(i, 0), (i + 1, l.clicks)], READERS.filled())),
        )?;
        Ok(())
    })
}

/// A line: readers' clicks per hour since sending.
fn over_time(report: &Report) -> String {
    let last = report
        .hours
        .iter()
        .map(|h| h.after)
        .max()
        .unwrap_or(0)
        .max(1);
    let most = report
        .hours
        .iter()
        .map(|h| h.clicks)
        .max()
        .unwrap_or(0)
        .max(1);
    svg(900, 260, |area| {
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0i64..last + 1, 0u64..most + most / 10 + 1)?;
        chart
            .configure_mesh()
            .x_desc("hours since sending")
            .y_desc("clicks")
            .draw()?;
        let mut points: Vec<(i64, u64)> = Vec::new();
        for h in 0..=last {
            let clicks = report
                .hours
                .iter()
                .find(|r| r.after == h)
                .map_or(0, |r| r.clicks);
            points.push((h, clicks));
        }
        chart.draw_series(LineSeries::new(points, READERS.stroke_width(2)))?;
        Ok(())
    })
}

/// Horizontal bars: sent, delivered, bounced, complaints, unsubscribes,
/// readers' clicks.
fn funnel(report: &Report) -> String {
    let f = &report.funnel;
    let rows: Vec<(String, u64)> = [
        ("sent", f.sent as u64),
        ("delivered", f.delivered as u64),
        ("bounced (hard)", f.hard_bounces as u64),
        ("bounced (soft)", f.soft_bounces as u64),
        ("complaints", f.complaints as u64),
        ("unsubscribes", f.unsubscribes as u64),
        ("readers' clicks", report.clicks),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{k}: {v}"), v))
    .collect();
    let most = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let count = u32::try_from(rows.len()).unwrap_or(1);
    svg(900, 40 * count + 20, |area| {
        let (labels, bars) = area.split_horizontally(220);
        for ((label, _), i) in rows.iter().zip(0i32..) {
            labels.draw(&Text::new(
                label.clone(),
                (8, 22 + i * 40),
                ("sans-serif", 15).into_font().color(&BLACK),
            ))?;
        }
        let (width, _) = bars.dim_in_pixel();
        for ((_, value), i) in rows.iter().zip(0i32..) {
            let w = i32::try_from(u64::from(width - 20) * value / most).unwrap_or(0);
            let color = if matches!(i, 0 | 1 | 6) {
                READERS
            } else {
                LOST
            };
            bars.draw(&Rectangle::new(
                [(0, 12 + i * 40), (w.max(1), 36 + i * 40)],
                color.filled(),
            ))?;
        }
        Ok(())
    })
}

/// The tables: items by section, other links, sections, what was filtered.
fn tables(report: &Report) -> String {
    let mut out = String::from(
        "<section><h2>Items</h2><table><thead><tr><th>#</th><th>Item</th><th>Section</th>\
         <th class=\"n\">Clicks</th><th class=\"n\">Filtered</th></tr></thead><tbody>",
    );
    for l in &report.links {
        if let crate::compose::clicks::Place::Item {
            number,
            section,
            title,
        } = &l.place
        {
            let _ = write!(
                out,
                "<tr><td class=\"n\">{number}</td><td><a href=\"{}\">{}</a></td><td>{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape_html(&l.url),
                escape_html(title),
                escape_html(section),
                l.clicks,
                l.filtered
            );
        }
    }
    out.push_str("</tbody></table></section>");
    let others: Vec<_> = report
        .links
        .iter()
        .filter(|l| matches!(l.place, crate::compose::clicks::Place::Text { .. }))
        .collect();
    if !others.is_empty() {
        out.push_str(
            "<section><h2>Other links</h2><table><thead><tr><th>Link</th><th>Where</th>\
             <th class=\"n\">Clicks</th><th class=\"n\">Filtered</th></tr></thead><tbody>",
        );
        for l in others {
            let _ = write!(
                out,
                "<tr><td><a href=\"{0}\">{0}</a></td><td>{1}</td><td class=\"n\">{2}</td>\
                 <td class=\"n\">{3}</td></tr>",
                escape_html(&l.url),
                escape_html(&place_label(&l.place)),
                l.clicks,
                l.filtered
            );
        }
        out.push_str("</tbody></table></section>");
    }
    out.push_str(
        "<section><h2>Sections</h2><table><thead><tr><th>Section</th><th class=\"n\">Items</th>\
         <th class=\"n\">Clicks</th><th class=\"n\">Filtered</th></tr></thead><tbody>",
    );
    for s in &report.sections {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape_html(&s.title),
            s.items,
            s.clicks,
            s.filtered
        );
    }
    out.push_str("</tbody></table></section><section><h2>Filtered out</h2><table><tbody>");
    for (verdict, n) in &report.filtered {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
            escape_html(super::verdict_label(*verdict))
        );
    }
    let _ = write!(
        out,
        "<tr><td>{}</td><td class=\"n\">{}</td></tr></tbody></table></section>",
        super::verdict_label(crate::web::clicks::classify::Verdict::Repeat),
        report.repeats
    );
    out
}
