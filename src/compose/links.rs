//! Links as a curator compares them: the canonical form of a URL (no
//! tracking parameters, no fragment, no `www.`, either scheme), and the
//! check that an item's link was not already sent in an earlier issue of
//! `issues/`.

use std::collections::HashMap;

use super::check::{Code, Warning};
use super::issue::{Issue, LoadedIssue};
use crate::project::Project;

/// Query parameters that only say where a click came from.
const TRACKING: &[&str] = &[
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_eid", "mc_cid", "igshid", "_hsenc",
    "_hsmi", "mkt_tok", "ref_src", "cmpid",
];

/// Whether a query parameter only tracks: `utm_*` and the [`TRACKING`] ones.
pub(crate) fn is_tracking(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_") || TRACKING.contains(&name.as_str())
}

/// `url` without its tracking parameters and fragment (what an item should
/// link to), or `url` as it was if it does not parse.
pub(crate) fn clean(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url.trim()) else {
        return url.trim().to_string();
    };
    parsed.set_fragment(None);
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| !is_tracking(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    parsed.to_string()
}

/// The form two links are compared in: [`clean`], then without the scheme,
/// a leading `www.` or a trailing `/`.
pub(crate) fn canonical(url: &str) -> String {
    let cleaned = clean(url);
    let Ok(parsed) = url::Url::parse(&cleaned) else {
        return cleaned;
    };
    let host = parsed.host_str().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = parsed.path().trim_end_matches('/');
    let query = parsed.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("{host}{port}{path}{query}")
}

/// Where a link was sent before.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    /// `No. 12 (2026-11-20)`, or the date alone.
    issue: String,
    item: u32,
}

/// Warnings for the items of `loaded` whose link an earlier issue in the
/// project's `issues/` already sent (earlier by date, then by file name).
/// Issue files that do not load are passed over: `check` of each says why.
pub(crate) fn sent_before(project: &Project, loaded: &LoadedIssue) -> Vec<Warning> {
    let mut sent: HashMap<String, Sent> = HashMap::new();
    // Oldest first: the most recent sending of a link is the one named.
    for other in &earlier_issues(project, loaded) {
        let label = match other.issue.number {
            Some(n) => format!("No. {n} ({})", other.issue.date.iso()),
            None => other.issue.date.iso(),
        };
        for numbered in other.issue.numbered_items() {
            if let Some(url) = &numbered.item.url {
                sent.insert(
                    canonical(url.as_str()),
                    Sent {
                        issue: label.clone(),
                        item: numbered.number,
                    },
                );
            }
        }
    }
    loaded
        .issue
        .numbered_items()
        .filter_map(|numbered| {
            let url = numbered.item.url.as_ref()?;
            let before = sent.get(&canonical(url.as_str()))?;
            Some(
                Warning::new(
                    Code::SentBefore,
                    format!("{}.url", numbered.field()),
                    format!(
                        "item {} links to what issue {} already sent as item {}",
                        numbered.number, before.issue, before.item
                    ),
                )
                .about(numbered.number),
            )
        })
        .collect()
}

/// The canonical links of `loaded` and of every earlier issue in the
/// project's `issues/`: what an import leaves out.
pub(crate) fn already_sent(
    project: &Project,
    loaded: &LoadedIssue,
) -> std::collections::HashSet<String> {
    let mut out: std::collections::HashSet<String> = earlier_issues(project, loaded)
        .into_iter()
        .flat_map(|other| {
            other
                .issue
                .numbered_items()
                .filter_map(|n| n.item.url.as_ref().map(|u| canonical(u.as_str())))
                .collect::<Vec<_>>()
        })
        .collect();
    out.extend(
        loaded
            .issue
            .numbered_items()
            .filter_map(|n| n.item.url.as_ref().map(|u| canonical(u.as_str()))),
    );
    out
}

/// The issues of the project's `issues/` earlier than `loaded` (by date,
/// then by file name), oldest first. Issue files that do not load are
/// passed over: `check` of each says why.
fn earlier_issues(project: &Project, loaded: &LoadedIssue) -> Vec<LoadedIssue> {
    let this = (loaded.issue.date, loaded.stem());
    let mut earlier: Vec<LoadedIssue> = project
        .issue_files()
        .unwrap_or_default()
        .into_iter()
        .filter(|path| path.file_stem() != loaded.path.file_stem())
        .filter_map(|path| Issue::load(&path).ok())
        .filter(|other| (other.issue.date, other.stem()) < this)
        .collect();
    earlier.sort_by_key(|other| (other.issue.date, other.stem()));
    earlier
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_parameters_fragments_and_hosts_are_compared_away() {
        assert_eq!(
            clean("https://ex.org/a?id=3&utm_source=x&fbclid=y#top"),
            "https://ex.org/a?id=3"
        );
        assert_eq!(clean("https://ex.org/a?utm_medium=m"), "https://ex.org/a");
        for same in [
            "http://www.ex.org/a/",
            "https://ex.org/a?utm_campaign=c",
            "https://EX.org/a#x",
        ] {
            assert_eq!(canonical(same), canonical("https://ex.org/a"), "{same}");
        }
        assert_ne!(
            canonical("https://ex.org/a?id=1"),
            canonical("https://ex.org/a?id=2")
        );
        assert_ne!(canonical("https://ex.org/a"), canonical("https://ex.org/b"));
    }
}
