//! The issue's own link table, for `[clicks]`: every outside link of the
//! email numbered once (the items' links first, in issue order, then the
//! links in its Markdown), and the email's HTML with each of those links
//! turned into a merge tag (`{{ click-N | URL }}`) that the sender fills
//! with the reader's click link and everything else with the URL itself.
//! The text part keeps the plain URLs.

use serde::{Deserialize, Serialize};

use super::issue::Issue;
use super::view::Facts;

/// The merge tag key of link `n`: `click-N`.
pub const KEY_PREFIX: &str = "click-";

/// The number of the honeypot: the hidden link every email carries, which
/// only a machine follows.
pub const HONEYPOT: u32 = 0;

/// One numbered link of an issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Its number in the issue's table, from 1.
    pub n: u32,
    pub url: String,
    #[serde(flatten)]
    pub place: Place,
}

/// Where a link sits in the issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Place {
    /// An item's own link.
    Item {
        /// The item's number in the issue.
        number: u32,
        section: String,
        title: String,
    },
    /// A link in a Markdown field: the letter, an intro, an excerpt, a
    /// comment (`field` is its path in the issue file, e.g.
    /// `sections[2].items[4].comment`).
    Text { field: String },
}

/// The numbered links of one issue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTable {
    pub links: Vec<Link>,
}

impl LinkTable {
    /// The table of `issue`: each item's link, then each link in its
    /// Markdown (`facts`), every distinct `http(s)` URL numbered once.
    pub fn of(issue: &Issue, facts: &Facts) -> LinkTable {
        let mut table = LinkTable::default();
        for numbered in issue.numbered_items() {
            if let Some(url) = &numbered.item.url {
                table.push(
                    url.as_str(),
                    Place::Item {
                        number: numbered.number,
                        section: issue.sections[numbered.section].title.to_string(),
                        title: numbered.item.title.to_string(),
                    },
                );
            }
        }
        for (field, url) in &facts.links {
            table.push(
                url,
                Place::Text {
                    field: field.clone(),
                },
            );
        }
        table
    }

    fn push(&mut self, url: &str, place: Place) {
        let outside = url.starts_with("https://") || url.starts_with("http://");
        // A URL a merge tag cannot hold stays as it is.
        let holds = !url.contains("{{") && !url.contains("}}");
        if !outside || !holds || self.number(url).is_some() {
            return;
        }
        let n = u32::try_from(self.links.len()).unwrap_or(u32::MAX - 1) + 1;
        self.links.push(Link {
            n,
            url: url.to_string(),
            place,
        });
    }

    /// The number of `url` in the table.
    pub fn number(&self, url: &str) -> Option<u32> {
        self.links.iter().find(|l| l.url == url).map(|l| l.n)
    }

    /// Link `n`.
    pub fn get(&self, n: u32) -> Option<&Link> {
        self.links.get(usize::try_from(n).ok()?.checked_sub(1)?)
    }

    /// `html` with each `href` to a link of the table a `click-N` merge
    /// tag whose fallback is the link as it was, and the honeypot (a
    /// `click-0` tag with no fallback) hidden at the top of the body.
    pub fn tagged(&self, html: &str) -> String {
        const HREF: &str = "href=\"";
        let mut out = String::with_capacity(html.len() + self.links.len() * 16 + 160);
        let mut rest = html;
        while let Some(at) = rest.find(HREF) {
            let start = at + HREF.len();
            let Some(len) = rest[start..].find('"') else {
                break;
            };
            let written = &rest[start..start + len];
            out.push_str(&rest[..start]);
            match self.number(&unescape(written)) {
                Some(n) => {
                    out.push_str("{{ ");
                    out.push_str(KEY_PREFIX);
                    out.push_str(&n.to_string());
                    out.push_str(" | ");
                    out.push_str(written);
                    out.push_str(" }}");
                }
                None => out.push_str(written),
            }
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        honeypot(&out)
    }
}

/// `html` with the honeypot right after `<body …>`: a link with nothing
/// in it, hidden, out of the tab order and from screen readers. A person
/// never follows it; a scanner that follows every link does.
fn honeypot(html: &str) -> String {
    let link = format!(
        "<a href=\"{{{{ {KEY_PREFIX}{HONEYPOT} }}}}\" aria-hidden=\"true\" tabindex=\"-1\" \
         style=\"display:none;mso-hide:all\"></a>"
    );
    let Some(body) = html.find("<body") else {
        return format!("{link}{html}");
    };
    let Some(end) = html[body..].find('>') else {
        return html.to_string();
    };
    let at = body + end + 1;
    let mut out = String::with_capacity(html.len() + link.len());
    out.push_str(&html[..at]);
    out.push_str(&link);
    out.push_str(&html[at..]);
    out
}

/// An attribute value as HTML writes it, read back (the escapes
/// [`escape_html`](super::merge::escape_html) and the MJML compiler write).
fn unescape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains('&') {
        return value.into();
    }
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .into()
}

/// How long a click link's MAC is, in characters (64 bits, base64url).
pub const MAC_CHARS: usize = 11;

/// The characters a path segment of a click link escapes.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A click link: `{base}/c/{issue}/{wave}/{n}-{mac}`.
pub fn click_url(base: &str, issue: &str, wave: u32, n: u32, mac: &str) -> String {
    format!(
        "{}/c/{}/{wave}/{n}-{mac}",
        base.trim_end_matches('/'),
        percent_encoding::utf8_percent_encode(issue, SEGMENT)
    )
}

/// What the click links add to the email's size, for weighing it against
/// Gmail's clip: the HTML filled with links as long as a send's (a
/// three-digit wave).
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    table: LinkTable,
    base: String,
    issue: String,
}

impl Sample {
    /// With `[clicks]`, the sample for `issue` (its stem).
    pub(crate) fn new(
        config: &crate::project::config::Config,
        issue: &str,
        table: LinkTable,
    ) -> Option<Sample> {
        Some(Sample {
            base: config.clicks_url()?,
            issue: issue.to_string(),
            table,
        })
    }

    /// `html` as sent with click links in it.
    pub(crate) fn filled(&self, html: &str) -> String {
        let mac = "x".repeat(MAC_CHARS);
        let tagged = self.table.tagged(html);
        super::merge::Merge::parse(&tagged, super::merge::Escape::Html).fill(&|key| {
            key_number(key).map(|n| click_url(&self.base, &self.issue, 999, n, &mac).into())
        })
    }
}

/// The link number a `click-N` merge tag key stands for.
pub fn key_number(key: &str) -> Option<u32> {
    key.strip_prefix(KEY_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::merge::{Escape, Merge};

    fn table() -> LinkTable {
        let mut t = LinkTable::default();
        t.push(
            "https://a.example/x?a=1&b=2",
            Place::Item {
                number: 1,
                section: "S".into(),
                title: "A".into(),
            },
        );
        t.push(
            "https://b.example/",
            Place::Text {
                field: "letter.body".into(),
            },
        );
        // Again, elsewhere: one number.
        t.push(
            "https://a.example/x?a=1&b=2",
            Place::Text {
                field: "letter.body".into(),
            },
        );
        t.push("mailto:x@example.com", Place::Text { field: "f".into() });
        t.push("#item-3", Place::Text { field: "f".into() });
        t.push("https://c.example/{{x}}", Place::Text { field: "f".into() });
        t
    }

    #[test]
    fn numbers_each_outside_link_once() {
        let t = table();
        let urls: Vec<(u32, &str)> = t.links.iter().map(|l| (l.n, l.url.as_str())).collect();
        assert_eq!(
            urls,
            vec![
                (1, "https://a.example/x?a=1&b=2"),
                (2, "https://b.example/")
            ]
        );
        assert_eq!(t.get(2).map(|l| l.n), Some(2));
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(3), None);
    }

    #[test]
    fn tags_the_table_links_and_leaves_the_rest() {
        let html = "<html><body class=\"b\"><a href=\"https://a.example/x?a=1&amp;b=2\">A</a>\
                    <a href=\"https://b.example/\">B</a><a href=\"https://other.example/\">O</a>\
                    <a href=\"{{ unsubscribe_url }}\">U</a></body></html>";
        let tagged = table().tagged(html);
        let merge = Merge::parse(&tagged, Escape::Html);
        let keys: Vec<&str> = merge.keys().into_iter().collect();
        assert_eq!(
            keys,
            vec!["click-0", "click-1", "click-2", "unsubscribe_url"]
        );
        // Filled with nothing, every link is what it was, and the
        // honeypot leads nowhere.
        let plain = merge.fill(&|_| None);
        assert!(
            plain.contains("href=\"https://a.example/x?a=1&amp;b=2\""),
            "{plain}"
        );
        assert!(plain.contains("<body class=\"b\"><a href=\"\" aria-hidden=\"true\""));
        let filled = merge
            .fill(&|key| key_number(key).map(|n| format!("https://s.example/c/i/1/{n}-m").into()));
        assert!(filled.contains("href=\"https://s.example/c/i/1/1-m\">A</a>"));
        assert!(filled.contains("href=\"https://s.example/c/i/1/2-m\">B</a>"));
        assert!(filled.contains("href=\"https://other.example/\">O</a>"));
        assert!(filled.contains("href=\"https://s.example/c/i/1/0-m\" aria-hidden"));
    }

    #[test]
    fn key_numbers() {
        assert_eq!(key_number("click-12"), Some(12));
        assert_eq!(key_number("click-"), None);
        assert_eq!(key_number("name"), None);
    }
}
