//! `missive check`: warnings about a rendered issue that will not stop it from
//! going out but that an author wants to know about before it does.

use std::collections::HashMap;
use std::fmt;

use crate::compose::issue::Issue;
use crate::compose::render::{GMAIL_CLIP_BYTES, Rendered};
use crate::project::config::Config;

/// Images heavier than this are slow on a phone.
pub const IMAGE_MAX_BYTES: u64 = 200_000;

/// Subjects longer than this get cut off in most inboxes.
pub const SUBJECT_MAX_CHARS: usize = 100;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The issue cannot go out as it is: `check` fails and `send` refuses.
    Error,
    /// Readers will notice.
    Warning,
}

/// One thing worth a second look, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub level: Level,
    /// The field path, e.g. `sections[1].items[3].url`, or empty for the whole issue.
    pub field: String,
    pub message: String,
}

impl Warning {
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// What `[email] fit` did, or, without it, what fitting under Gmail's clip
/// would take.
pub fn fit_warnings(
    issue: &Issue,
    rendered: &Rendered,
    config: &Config,
    shortened: &[super::fit::Shortened],
    out: &mut Vec<Warning>,
) {
    let warn = |message: String| Warning {
        level: Level::Warning,
        field: String::new(),
        message,
    };
    if !shortened.is_empty() {
        let items: Vec<String> = shortened
            .iter()
            .map(|s| format!("{} ({} → {} words)", s.item, s.words_before, s.words_after))
            .collect();
        out.push(warn(format!(
            "[email] fit shortened {} excerpt{} in the email to fit under Gmail's clip \
             (the web version has them whole): items {}",
            shortened.len(),
            if shortened.len() == 1 { "" } else { "s" },
            items.join(", ")
        )));
        return;
    }
    let html = rendered.html.len();
    if html <= GMAIL_CLIP_BYTES {
        return;
    }
    let mut excerpts: Vec<(u32, usize)> = issue
        .numbered_items()
        .filter_map(|n| Some((n.number, n.item.excerpt.as_deref()?.len())))
        .collect();
    excerpts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let largest: Vec<String> = excerpts
        .iter()
        .take(5)
        .map(|(n, bytes)| format!("item {n} ({:.1} KB)", *bytes as f64 / 1000.0))
        .collect();
    let how = if config.email.fit {
        "set newsletter.web_url so that [email] fit can link shortened excerpts to the web version"
    } else {
        "set [email] fit = true to shorten the longest excerpts in the email only"
    };
    out.push(warn(format!(
        "{:.1} KB must go to fit under Gmail's clip; the largest excerpts: {}; {how}",
        (html - GMAIL_CLIP_BYTES) as f64 / 1000.0,
        if largest.is_empty() {
            "none".to_string()
        } else {
            largest.join(", ")
        }
    )));
}

/// The merge tags the subject uses: filled in per reader in the Subject header.
pub fn subject_tags(issue: &Issue) -> Vec<String> {
    crate::compose::merge::scan(issue.subject.as_str())
        .into_iter()
        .map(|t| t.key)
        .collect()
}

/// Everything `check` finds, errors first, then warnings in the order of
/// the issue.
pub fn warnings(issue: &Issue, rendered: &Rendered, config: &Config) -> Vec<Warning> {
    let mut errors = Vec::new();
    for (field, link) in &rendered.facts.unsafe_links {
        errors.push(Warning {
            level: Level::Error,
            field: field.clone(),
            message: format!(
                "a link to `{}` was dropped: links that run scripts or carry data \
                 (javascript:, vbscript:, data:) never go into an email; remove it",
                link.chars().take(60).collect::<String>()
            ),
        });
    }
    for (field, image) in &rendered.facts.local_images {
        let problem = if image.bytes.is_none() {
            Some(format!(
                "the image `{}` is not a file in the project folder",
                image.path
            ))
        } else if image.url.is_none() {
            Some(format!(
                "the image `{}` is a file of the project, which readers can only see once \
                 `missive archive` puts it on the web: set newsletter.web_url",
                image.path
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            errors.push(Warning {
                level: Level::Error,
                field: field.clone(),
                message,
            });
        }
    }
    let mut out = Vec::new();
    let mut warn = |field: &str, message: String| {
        out.push(Warning {
            level: Level::Warning,
            field: field.to_string(),
            message,
        });
    };

    if let Some(url) = &config.unsubscribe.url
        && url.is_https()
        && !url.needs_token()
    {
        warn(
            "",
            "unsubscribe.url has no {token}, so `missive serve` cannot verify it: messages \
             carry no one-click unsubscribe header, which Gmail and Yahoo require of bulk \
             senders"
                .into(),
        );
    }

    let subject_len = issue.subject.as_str().chars().count();
    if subject_len > SUBJECT_MAX_CHARS {
        warn(
            "subject",
            format!(
                "{subject_len} characters; inboxes cut subjects off well before {SUBJECT_MAX_CHARS}"
            ),
        );
    }
    if issue.preheader.is_none() {
        warn(
            "preheader",
            "missing: inboxes will show the first words of the email as the preview instead".into(),
        );
    }

    let html_len = rendered.html.len();
    if html_len > GMAIL_CLIP_BYTES {
        let cut = match rendered.facts.last_item_before(GMAIL_CLIP_BYTES) {
            Some(0) => "no item is shown in full".to_string(),
            Some(n) => format!(
                "item {n} of {} is the last a Gmail reader sees before \"[Message clipped]\"",
                issue.item_count()
            ),
            None => "the footer is cut off".to_string(),
        };
        warn(
            "",
            format!(
                "the HTML is {} KB, over Gmail's clip size of {} KB: {cut}",
                html_len / 1000,
                GMAIL_CLIP_BYTES / 1000
            ),
        );
    }

    let mut seen: HashMap<&str, u32> = HashMap::new();
    for numbered in issue.numbered_items() {
        let (n, item, field) = (numbered.number, numbered.item, numbered.field());
        match &item.url {
            None => warn(&field, format!("item {n} (\"{}\") has no url", item.title)),
            Some(url) => {
                if !url.is_https() {
                    warn(
                        &format!("{field}.url"),
                        format!("item {n} links over http: {url}"),
                    );
                }
                if let Some(first) = seen.insert(url.as_str(), n) {
                    warn(
                        &format!("{field}.url"),
                        format!("item {n} links to the same URL as item {first}: {url}"),
                    );
                    seen.insert(url.as_str(), first);
                }
            }
        }
    }

    for (field, link) in &rendered.facts.links {
        if link.starts_with("http://") {
            warn(field, format!("link over http: {link}"));
        }
    }
    for (field, image) in &rendered.facts.local_images {
        if let Some(bytes) = image.bytes.filter(|b| *b > IMAGE_MAX_BYTES) {
            warn(
                field,
                format!(
                    "the image `{}` is {} KB: over {} KB, it is slow to open on a phone",
                    image.path,
                    bytes / 1000,
                    IMAGE_MAX_BYTES / 1000
                ),
            );
        }
    }
    for (field, src) in &rendered.facts.images_without_alt {
        warn(field, format!("image without alt text: {src}"));
    }
    for (s, section) in issue.sections.iter().enumerate() {
        if section.items.is_empty() {
            warn(
                &format!("sections[{s}]"),
                format!("section \"{}\" has no items", section.title),
            );
        }
    }
    errors.extend(out);
    errors
}
