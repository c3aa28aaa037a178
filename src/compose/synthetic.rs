//! A generator of large, realistic synthetic issues for tests and benchmarks:
//! a ~2,500-word letter, ~10 items a section, excerpts, multi-paragraph
//! comments, labels, multi-author bylines and Unicode punctuation throughout.
//! Deterministic: the same `items` always gives the same text.

use std::fmt::Write;

const WORDS: &[&str] = &[
    "harbour",
    "timetable",
    "ferry",
    "signal",
    "maintenance",
    "council",
    "estuary",
    "tide",
    "network",
    "quay",
    "bridge",
    "engine",
    "platform",
    "junction",
    "budget",
    "weather",
    "commute",
    "repair",
    "schedule",
    "crossing",
    "lighthouse",
    "freight",
    "passenger",
    "evening",
    "morning",
    "river",
    "island",
    "station",
    "route",
    "city",
    "neighbourhood",
    "people",
    "a",
    "the",
    "of",
    "and",
    "to",
    "in",
    "that",
    "is",
    "was",
    "for",
    "on",
    "with",
    "it",
    "as",
    "at",
    "by",
    "from",
    "but",
    "not",
    "what",
    "all",
    "were",
    "when",
    "we",
    "there",
    "can",
    "an",
    "which",
    "their",
    "said",
    "if",
    "do",
    "will",
    "each",
    "about",
    "how",
    "up",
    "out",
    "them",
    "then",
    "she",
    "many",
    "some",
    "so",
    "these",
    "would",
    "other",
    "into",
    "has",
    "more",
    "could",
    "slowly",
    "quietly",
    "everyone",
];
const NAMES: &[&str] = &[
    "Hugo Bromley",
    "Eyck Freymann",
    "Lena Okafor",
    "Sofía Arrieta",
    "Tomás Berger",
    "Priya Natarajan",
    "Jonas Lindqvist",
    "Marta Kowalczyk",
    "Dev Raman",
    "Claire Dubois",
    "Yuki Tanaka",
    "Owen Pritchard",
    "Sadia Rahman",
    "Kwame Asante",
    "Isla MacLeod",
    "Chris O’Neill",
    "Hans Mühlemann",
    "Ingrid Solberg",
    "Beatriz Sousa",
    "Niamh Gallagher",
];
const SOURCES: &[&str] = &[
    "The Estuary Institute",
    "Long Now Quarterly",
    "Urban Review",
    "Network Effects",
    "Rail & Road",
    "Transit Notes",
    "Power Lines",
    "Retrofit Journal",
    "Inbox Craft",
    "Harbour Gazette",
    "Design Quarterly",
    "Fjord Data",
];
const SECTIONS: &[&str] = &[
    "Must read",
    "Cities & transit",
    "Energy & climate",
    "Software & the web",
    "Science",
    "Books",
    "Long reads",
    "History",
    "Design",
    "Odds & ends",
];
const LABELS: &[&str] = &["VIDEO", "PODCAST", "AUDIO", "PDF"];

/// A small deterministic generator (xorshift), so no dependency is needed
/// and the output is stable across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// A sentence of `min..min+spread` words with some Unicode punctuation.
    fn sentence(&mut self, min: usize, spread: usize) -> String {
        let n = min + self.below(spread);
        let mut s = String::new();
        for i in 0..n {
            let word = self.pick(WORDS);
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    s.extend(first.to_uppercase());
                    s.push_str(chars.as_str());
                }
            } else {
                s.push(' ');
                match self.below(40) {
                    0 => write!(s, "“{word}”").unwrap(),
                    1 => write!(s, "— {word}").unwrap(),
                    2 => write!(s, "*{word}*").unwrap(),
                    3 => write!(s, "{word}’s").unwrap(),
                    _ => s.push_str(word),
                }
            }
        }
        s.push_str(match self.below(6) {
            0 => "?",
            1 => " – really.",
            _ => ".",
        });
        s
    }

    fn paragraph(&mut self, sentences: usize) -> String {
        (0..sentences)
            .map(|_| self.sentence(8, 14))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// TOML text of an issue with `items` items in sections of about ten.
pub fn issue(items: usize) -> String {
    generate(items, Excerpts::Usual)
}

/// A synthetic issue whose excerpts are long (several paragraphs on nearly
/// every item) and make up more than half of its bytes: the issue that must
/// be fitted under Gmail's clip.
pub fn issue_with_long_excerpts(items: usize) -> String {
    generate(items, Excerpts::Long)
}

/// An issue like the weekly digest missive is built for, at its longest:
/// a 2,500-word letter, items in sections of about ten, more than a
/// quarter of them quoting several paragraphs (300 words and more), most
/// of the others a paragraph, and the author's comment of several
/// paragraphs on about one in six.
pub fn issue_like_a_long_digest(items: usize) -> String {
    generate(items, Excerpts::Digest)
}

/// How much the items quote.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Excerpts {
    Usual,
    Long,
    Digest,
}

fn generate(items: usize, excerpts: Excerpts) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ items as u64);
    let mut out = String::with_capacity(items * 1200 + 20_000);
    writeln!(out, "subject = \"Synthetic issue with {items} items\"").unwrap();
    writeln!(
        out,
        "preheader = \"A generated issue for tests and benchmarks\""
    )
    .unwrap();
    writeln!(out, "date = 2026-11-27\nnumber = 100\n").unwrap();

    // The letter: ~2,500 words in 20 paragraphs, an image with a caption.
    writeln!(
        out,
        "[letter]\ngreeting = \"Dear {{{{ name | friends }}}},\""
    )
    .unwrap();
    out.push_str("body = \"\"\"\n");
    for p in 0..20 {
        out.push_str(&rng.paragraph(7));
        out.push_str("\n\n");
        if p == 4 {
            out.push_str("![A harbour at dawn](https://example.org/img/harbour.jpg)\n\n");
            out.push_str("*The harbour at dawn, this Wednesday.*\n\n");
        }
    }
    out.push_str("\"\"\"\nsignoff = \"Until next week —\"\nsignature = \"Matt\"\n\n");

    let sections = items.div_ceil(10).max(1);
    let mut number = 0;
    for s in 0..sections {
        let in_section = (items - number).div_ceil(sections - s);
        writeln!(
            out,
            "[[sections]]\ntitle = \"{}\"",
            SECTIONS[s % SECTIONS.len()]
        )
        .unwrap();
        if rng.chance(50) {
            writeln!(out, "intro = \"{}\"", rng.sentence(8, 10)).unwrap();
        }
        out.push('\n');
        for _ in 0..in_section {
            number += 1;
            write_item(&mut out, &mut rng, number, excerpts);
        }
    }
    out
}

fn write_item(out: &mut String, rng: &mut Rng, number: usize, excerpts: Excerpts) {
    out.push_str("[[sections.items]]\n");
    if rng.chance(10) {
        writeln!(out, "label = \"{}\"", rng.pick(LABELS)).unwrap();
    }
    let title = rng.sentence(5, 8);
    writeln!(out, "title = \"{}\"", title.trim_end_matches('.')).unwrap();
    writeln!(
        out,
        "url = \"https://example.org/{}/{number}-{}\"",
        rng.pick(&["news", "essays", "reports", "video", "blog"]),
        rng.pick(WORDS)
    )
    .unwrap();
    let authors: Vec<String> = (0..=rng.below(3))
        .map(|_| format!("\"{}\"", rng.pick(NAMES)))
        .collect();
    writeln!(out, "authors = [{}]", authors.join(", ")).unwrap();
    writeln!(out, "source = \"{}\"", rng.pick(SOURCES)).unwrap();
    writeln!(out, "published = 2026-11-{:02}", 1 + rng.below(27)).unwrap();
    let long = match excerpts {
        Excerpts::Long => true,
        Excerpts::Digest => rng.chance(29),
        Excerpts::Usual => false,
    };
    if long {
        let paragraphs: Vec<String> = (0..3 + rng.below(4)).map(|_| rng.paragraph(4)).collect();
        writeln!(out, "excerpt = \"\"\"\n{}\n\"\"\"", paragraphs.join("\n\n")).unwrap();
    } else if rng.chance(70) {
        writeln!(out, "excerpt = \"\"\"\n{}\n\"\"\"", rng.paragraph(3)).unwrap();
    }
    if excerpts == Excerpts::Digest {
        if rng.chance(18) {
            let paragraphs: Vec<String> = (0..2 + rng.below(3)).map(|_| rng.paragraph(4)).collect();
            writeln!(out, "comment = \"\"\"\n{}\n\"\"\"", paragraphs.join("\n\n")).unwrap();
        }
    } else if excerpts == Excerpts::Long {
        if rng.chance(10) {
            writeln!(out, "comment = \"\"\"\n{}\n\"\"\"", rng.paragraph(2)).unwrap();
        }
    } else if rng.chance(40) {
        let paragraphs: Vec<String> = (0..2 + rng.below(3)).map(|_| rng.paragraph(3)).collect();
        writeln!(out, "comment = \"\"\"\n{}\n\"\"\"", paragraphs.join("\n\n")).unwrap();
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::issue::Issue;
    use std::path::Path;

    #[test]
    fn generates_a_valid_issue_of_the_asked_size() {
        for n in [1, 37, 200] {
            let text = issue(n);
            let parsed = Issue::parse(&text, Path::new("synthetic.toml")).unwrap();
            assert_eq!(parsed.item_count(), n);
            assert!(parsed.sections.iter().all(|s| !s.items.is_empty()));
        }
        assert_eq!(issue(50), issue(50));
    }

    #[test]
    fn a_hundred_items_is_about_a_real_issue() {
        let text = issue(100);
        // ~100 KB of text, as the digests missive is built for.
        assert!((80_000..160_000).contains(&text.len()), "{}", text.len());
    }
}
