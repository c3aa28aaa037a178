//! `missive check`: warnings about a rendered issue that will not stop it from
//! going out but that an author wants to know about before it does.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use crate::compose::issue::Issue;
use crate::compose::render::{GMAIL_CLIP_BYTES, Rendered};
use crate::project::config::Config;

/// Images heavier than this are slow on a phone.
pub(crate) const IMAGE_MAX_BYTES: u64 = 200_000;

/// Subjects longer than this get cut off in most inboxes.
pub(crate) const SUBJECT_MAX_CHARS: usize = 100;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The issue cannot go out as it is: `check` fails and `send` refuses.
    Error,
    /// Readers will notice: `check --strict` fails.
    Warning,
    /// A drafting reminder: `check --deny notes` fails.
    Note,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// What kind of finding it is: its stable name (in `check --json`), its
/// level, and how several of it are said in one line. Listed by how much
/// it changes what readers get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    UnsafeLink,
    MissingImage,
    ImageNeedsWebUrl,
    GmailClip,
    ClipFit,
    NoOneClick,
    LongSubject,
    HttpLink,
    DuplicateUrl,
    SentBefore,
    HeavyImage,
    ImageWithoutAlt,
    EmptySection,
    FitShortened,
    NoUrl,
    NoPreheader,
}

impl Code {
    /// The stable name scripts see.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnsafeLink => "unsafe-link",
            Code::MissingImage => "missing-image",
            Code::ImageNeedsWebUrl => "image-needs-web-url",
            Code::GmailClip => "gmail-clip",
            Code::ClipFit => "clip-fit",
            Code::NoOneClick => "no-one-click",
            Code::LongSubject => "long-subject",
            Code::HttpLink => "http-link",
            Code::DuplicateUrl => "duplicate-url",
            Code::SentBefore => "sent-before",
            Code::HeavyImage => "heavy-image",
            Code::ImageWithoutAlt => "image-without-alt",
            Code::EmptySection => "empty-section",
            Code::FitShortened => "fit-shortened",
            Code::NoUrl => "no-url",
            Code::NoPreheader => "no-preheader",
        }
    }

    pub fn level(self) -> Level {
        match self {
            Code::UnsafeLink | Code::MissingImage | Code::ImageNeedsWebUrl => Level::Error,
            Code::FitShortened | Code::NoUrl | Code::NoPreheader => Level::Note,
            _ => Level::Warning,
        }
    }

    /// `n` (more than one) findings of this kind, said at once.
    fn several(self, n: usize) -> String {
        match self {
            Code::UnsafeLink => format!("{n} links that run scripts or carry data were dropped"),
            Code::MissingImage => format!("{n} images are not files in the project folder"),
            Code::ImageNeedsWebUrl => {
                format!("{n} images are project files, which need newsletter.web_url")
            }
            Code::HttpLink => format!("{n} links over http"),
            Code::DuplicateUrl => format!("{n} items link to the same URL as an earlier item"),
            Code::SentBefore => format!("{n} items link to what an earlier issue sent"),
            Code::HeavyImage => format!("{n} images over {} KB", IMAGE_MAX_BYTES / 1000),
            Code::ImageWithoutAlt => format!("{n} images without alt text"),
            Code::EmptySection => format!("{n} sections have no items"),
            Code::NoUrl => format!("{n} items have no url"),
            code => format!("{n} × {}", code.as_str()),
        }
    }
}

/// One thing worth a second look, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub level: Level,
    pub code: Code,
    /// The item it is about, by number, if any.
    pub item: Option<u32>,
    /// The field path, e.g. `sections[1].items[3].url`, or empty for the whole issue.
    pub field: String,
    pub message: String,
}

impl Warning {
    pub fn new(code: Code, field: impl Into<String>, message: String) -> Warning {
        Warning {
            level: code.level(),
            code,
            item: None,
            field: field.into(),
            message,
        }
    }

    /// The same finding, about item `n`.
    #[must_use]
    pub fn about(mut self, n: u32) -> Warning {
        self.item = Some(n);
        self
    }

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

/// The findings in the order that matters: errors, warnings, notes; in
/// each, those about the whole issue first (the kinds in the order of
/// [`Code`], which puts the clip first), then by item.
pub(crate) fn ordered(warnings: &[Warning]) -> Vec<Warning> {
    let mut out = warnings.to_vec();
    out.sort_by_key(|w| (w.level, w.item.unwrap_or(0), w.code));
    out
}

/// Findings of one kind, said in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    pub level: Level,
    pub code: Code,
    /// Its findings, in the order of [`ordered`].
    pub findings: Vec<Warning>,
    /// One finding's own text, or the kind's line with the item ranges.
    pub message: String,
}

impl Group {
    /// The items its findings are about, in order.
    pub(crate) fn items(&self) -> Vec<u32> {
        self.findings.iter().filter_map(|w| w.item).collect()
    }

    /// The line that says it: the one finding, or how many and where.
    fn line(&self) -> String {
        if let [one] = self.findings.as_slice() {
            return one.to_string();
        }
        let items = self.items();
        let mut line = self.code.several(self.findings.len());
        if !items.is_empty() {
            line.push_str(": ");
            line.push_str(&ranges(&items));
            let elsewhere = self.findings.len() - items.len();
            if elsewhere > 0 {
                let _ = write!(line, " and {elsewhere} outside the items");
            }
        }
        line
    }
}

/// The findings grouped by kind, in the order of [`ordered`] (a group sits
/// where its first finding would). Errors stay one to a line: each must be
/// fixed before the issue can go.
pub(crate) fn grouped(warnings: &[Warning]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for w in ordered(warnings) {
        let together = groups
            .iter_mut()
            .find(|g| g.code == w.code && w.level != Level::Error);
        match together {
            Some(g) => g.findings.push(w),
            None => groups.push(Group {
                level: w.level,
                code: w.code,
                findings: vec![w],
                message: String::new(),
            }),
        }
    }
    for g in &mut groups {
        g.message = g.line();
    }
    groups
}

/// How many findings are at `level`.
pub(crate) fn count(warnings: &[Warning], level: Level) -> usize {
    warnings.iter().filter(|w| w.level == level).count()
}

/// Item numbers as ranges: `1–95`, or `4, 17, 62–63`.
pub(crate) fn ranges(items: &[u32]) -> String {
    let mut sorted = items.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}–{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

/// What `[email] fit` did, or, without it, what fitting under Gmail's clip
/// would take.
pub(crate) fn fit_warnings(
    issue: &Issue,
    rendered: &Rendered,
    config: &Config,
    shortened: &[super::fit::Shortened],
    out: &mut Vec<Warning>,
) {
    if !shortened.is_empty() {
        let items: Vec<String> = shortened
            .iter()
            .map(|s| format!("{} ({} → {} words)", s.item, s.words_before, s.words_after))
            .collect();
        out.push(Warning::new(
            Code::FitShortened,
            "",
            format!(
                "[email] fit shortened {} excerpt{} in the email to fit under Gmail's clip \
                 (the web version has them whole): items {}",
                shortened.len(),
                if shortened.len() == 1 { "" } else { "s" },
                items.join(", ")
            ),
        ));
        return;
    }
    let html = rendered.sent_bytes;
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
    let excerpt_bytes: usize = excerpts.iter().map(|(_, b)| b).sum();
    let how = if config.fits() && html.saturating_sub(excerpt_bytes) > GMAIL_CLIP_BYTES {
        "even without every excerpt it would not fit, so fitting leaves the email as it is: \
         fewer items, or shorter comments and letter, would fit; the web version has everything"
    } else if config.newsletter.web_url.is_some() {
        "remove [email] fit = false: fitting shortens the longest excerpts in the email only"
    } else {
        "set newsletter.web_url: with a web version to link to, [email] fit shortens the \
         longest excerpts in the email only"
    };
    out.push(Warning::new(
        Code::ClipFit,
        "",
        format!(
            "{:.1} KB must go to fit under Gmail's clip; the largest excerpts: {}; {how}",
            (html - GMAIL_CLIP_BYTES) as f64 / 1000.0,
            if largest.is_empty() {
                "none".to_string()
            } else {
                largest.join(", ")
            }
        ),
    ));
}

/// The merge tags the subject uses: filled in per reader in the Subject header.
pub(crate) fn subject_tags(issue: &Issue) -> Vec<String> {
    crate::compose::merge::scan(issue.subject.as_str())
        .into_iter()
        .map(|t| t.key)
        .collect()
}

/// What every rule looks at.
struct Checked<'a> {
    issue: &'a Issue,
    rendered: &'a Rendered,
    config: &'a Config,
}

/// One rule: adds what it finds.
type Rule = fn(&Checked<'_>, &mut Vec<Warning>);

/// The rules, in the order their findings are listed: the errors first,
/// then the warnings in the order of the issue.
const RULES: &[Rule] = &[
    unsafe_links,
    local_images,
    one_click,
    subject_length,
    preheader,
    gmail_clip,
    item_links,
    http_links,
    heavy_images,
    images_without_alt,
    empty_sections,
];

/// Everything `check` finds, errors first, then warnings in the order of
/// the issue.
pub(crate) fn warnings(issue: &Issue, rendered: &Rendered, config: &Config) -> Vec<Warning> {
    let checked = Checked {
        issue,
        rendered,
        config,
    };
    let mut out = Vec::new();
    for rule in RULES {
        rule(&checked, &mut out);
    }
    about_items(issue, &mut out);
    out
}

/// A link that runs a script or carries data was dropped (an error).
fn unsafe_links(c: &Checked<'_>, out: &mut Vec<Warning>) {
    for (field, link) in &c.rendered.facts.unsafe_links {
        out.push(Warning::new(
            Code::UnsafeLink,
            field.clone(),
            format!(
                "a link to `{}` was dropped: links that run scripts or carry data \
                 (javascript:, vbscript:, data:) never go into an email; remove it",
                link.chars().take(60).collect::<String>()
            ),
        ));
    }
}

/// An image of the project that is missing, or that readers cannot see
/// without a web address (an error).
fn local_images(c: &Checked<'_>, out: &mut Vec<Warning>) {
    for (field, image) in &c.rendered.facts.local_images {
        let (code, message) = if image.bytes.is_none() {
            (
                Code::MissingImage,
                format!(
                    "the image `{}` is not a file in the project folder",
                    image.path
                ),
            )
        } else if image.url.is_none() {
            (
                Code::ImageNeedsWebUrl,
                format!(
                    "the image `{}` is a file of the project, which readers can only see once \
                     `missive archive` puts it on the web: set newsletter.web_url",
                    image.path
                ),
            )
        } else {
            continue;
        };
        out.push(Warning::new(code, field.clone(), message));
    }
}

/// An unsubscribe page `missive serve` cannot verify: no one-click header.
fn one_click(c: &Checked<'_>, out: &mut Vec<Warning>) {
    if let Some(url) = &c.config.unsubscribe.url
        && url.is_https()
        && !url.needs_token()
    {
        out.push(Warning::new(
            Code::NoOneClick,
            "",
            "unsubscribe.url has no {token}, so `missive serve` cannot verify it: messages \
             carry no one-click unsubscribe header, which Gmail and Yahoo require of bulk \
             senders"
                .into(),
        ));
    }
}

/// A subject longer than inboxes show.
fn subject_length(c: &Checked<'_>, out: &mut Vec<Warning>) {
    let subject_len = c.issue.subject.as_str().chars().count();
    if subject_len > SUBJECT_MAX_CHARS {
        out.push(Warning::new(
            Code::LongSubject,
            "subject",
            format!(
                "{subject_len} characters; inboxes cut subjects off well before {SUBJECT_MAX_CHARS}"
            ),
        ));
    }
}

/// No preheader: the inbox shows the first words instead.
fn preheader(c: &Checked<'_>, out: &mut Vec<Warning>) {
    if c.issue.preheader.is_none() {
        out.push(Warning::new(
            Code::NoPreheader,
            "preheader",
            "missing: inboxes will show the first words of the email as the preview instead".into(),
        ));
    }
}

/// HTML over Gmail's clip, and the last item a Gmail reader sees.
fn gmail_clip(c: &Checked<'_>, out: &mut Vec<Warning>) {
    let rendered = c.rendered;
    let html_len = rendered.sent_bytes;
    if html_len <= GMAIL_CLIP_BYTES {
        return;
    }
    let cut = match rendered.facts.last_item_before(rendered.clip_offset()) {
        Some(0) => "no item is shown in full".to_string(),
        Some(n) => format!(
            "item {n} of {} is the last a Gmail reader sees before \"[Message clipped]\"",
            c.issue.item_count()
        ),
        None => "the footer is cut off".to_string(),
    };
    out.push(Warning::new(
        Code::GmailClip,
        "",
        format!(
            "the HTML is {} KB as sent ({} KB decoded), over Gmail's clip size of {} KB: {cut}",
            html_len / 1000,
            rendered.html.len() / 1000,
            GMAIL_CLIP_BYTES / 1000
        ),
    ));
}

/// Items without a link, with a link over http, or with another item's link.
fn item_links(c: &Checked<'_>, out: &mut Vec<Warning>) {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for numbered in c.issue.numbered_items() {
        let (n, item, field) = (numbered.number, numbered.item, numbered.field());
        let Some(url) = &item.url else {
            out.push(Warning::new(
                Code::NoUrl,
                field,
                format!("item {n} (\"{}\") has no url", item.title),
            ));
            continue;
        };
        if !url.is_https() {
            out.push(Warning::new(
                Code::HttpLink,
                format!("{field}.url"),
                format!("item {n} links over http: {url}"),
            ));
        }
        if let Some(first) = seen.insert(url.as_str(), n) {
            out.push(Warning::new(
                Code::DuplicateUrl,
                format!("{field}.url"),
                format!("item {n} links to the same URL as item {first}: {url}"),
            ));
            seen.insert(url.as_str(), first);
        }
    }
}

/// Links in the text over http.
fn http_links(c: &Checked<'_>, out: &mut Vec<Warning>) {
    for (field, link) in &c.rendered.facts.links {
        if link.starts_with("http://") {
            out.push(Warning::new(
                Code::HttpLink,
                field.clone(),
                format!("link over http: {link}"),
            ));
        }
    }
}

/// Images of the project too heavy for a phone.
fn heavy_images(c: &Checked<'_>, out: &mut Vec<Warning>) {
    for (field, image) in &c.rendered.facts.local_images {
        if let Some(bytes) = image.bytes.filter(|b| *b > IMAGE_MAX_BYTES) {
            out.push(Warning::new(
                Code::HeavyImage,
                field.clone(),
                format!(
                    "the image `{}` is {} KB: over {} KB, it is slow to open on a phone",
                    image.path,
                    bytes / 1000,
                    IMAGE_MAX_BYTES / 1000
                ),
            ));
        }
    }
}

/// Images a screen reader cannot describe.
fn images_without_alt(c: &Checked<'_>, out: &mut Vec<Warning>) {
    for (field, src) in &c.rendered.facts.images_without_alt {
        out.push(Warning::new(
            Code::ImageWithoutAlt,
            field.clone(),
            format!("image without alt text: {src}"),
        ));
    }
}

/// Sections with no items.
fn empty_sections(c: &Checked<'_>, out: &mut Vec<Warning>) {
    for (s, section) in c.issue.sections.iter().enumerate() {
        if section.items.is_empty() {
            out.push(Warning::new(
                Code::EmptySection,
                format!("sections[{s}]"),
                format!("section \"{}\" has no items", section.title),
            ));
        }
    }
}

/// Gives each finding whose field lies in an item that item's number.
pub(crate) fn about_items(issue: &Issue, warnings: &mut [Warning]) {
    let items: Vec<(String, u32)> = issue
        .numbered_items()
        .map(|n| (n.field(), n.number))
        .collect();
    for w in warnings.iter_mut().filter(|w| w.item.is_none()) {
        w.item = items
            .iter()
            .find(|(field, _)| {
                w.field
                    .strip_prefix(field.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
            .map(|(_, n)| *n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_numbers_read_as_ranges() {
        assert_eq!(ranges(&[1, 2, 3]), "1–3");
        assert_eq!(ranges(&[62, 4, 17, 63]), "4, 17, 62–63");
        assert_eq!(ranges(&[5]), "5");
        assert_eq!(ranges(&[]), "");
    }

    #[test]
    fn findings_group_by_kind_in_order_of_level_then_item() {
        let no_url = |n: u32| {
            Warning::new(
                Code::NoUrl,
                format!("sections[0].items[{n}]"),
                format!("item {n}"),
            )
            .about(n)
        };
        let warnings = vec![
            no_url(2),
            Warning::new(Code::HttpLink, "letter", "link over http: x".into()),
            no_url(1),
            Warning::new(Code::GmailClip, "", "clipped".into()),
            Warning::new(Code::HttpLink, "x.url", "item 9 links over http".into()).about(9),
            Warning::new(Code::UnsafeLink, "letter", "dropped".into()),
            Warning::new(Code::UnsafeLink, "letter", "dropped too".into()),
        ];
        let groups = grouped(&warnings);
        // Each error is a group of its own, holding only itself.
        assert_eq!(groups[0].findings.len(), 1);
        assert_eq!(groups[1].findings[0].message, "dropped too");
        let lines: Vec<(Level, &str)> = groups
            .iter()
            .map(|g| (g.level, g.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (Level::Error, "letter: dropped"),
                (Level::Error, "letter: dropped too"),
                (Level::Warning, "clipped"),
                (
                    Level::Warning,
                    "2 links over http: 9 and 1 outside the items"
                ),
                (Level::Note, "2 items have no url: 1–2"),
            ]
        );
        let order: Vec<Option<u32>> = ordered(&warnings).iter().map(|w| w.item).collect();
        assert_eq!(order, [None, None, None, None, Some(9), Some(1), Some(2)]);
        assert_eq!(ordered(&warnings)[2].code, Code::GmailClip);
    }
}
