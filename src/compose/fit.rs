//! Fitting an issue under Gmail's clip: with `[email] fit = true`, the
//! email's longest excerpts end early, at a sentence, with "… continue
//! reading" linking to that item on the web version, longest first, until
//! the HTML is under the clip size; if even that is not enough, the email
//! leaves the excerpts out. Every item keeps its number, title, byline and
//! link; the web version keeps every excerpt whole.

use super::issue::{LoadedIssue, NumberedItem, Prose};
use super::render::{GMAIL_CLIP_BYTES, RenderError, Rendered, render};
use super::templates::Templates;
use crate::project::Project;

/// Room left under the clip size, for what personalization adds.
const MARGIN: usize = 2_000;
/// The fewest words an excerpt is cut to, short of leaving it out.
const MIN_WORDS: usize = 12;
/// How many times the budget is lowered before giving up.
const ROUNDS: usize = 10;

/// An item's excerpt, as the fitting weighs it.
struct Excerpt<'a> {
    item: NumberedItem<'a>,
    text: &'a str,
    /// The bytes of Markdown kept when the first `n + 1` words are.
    kept: Vec<usize>,
}

/// An excerpt the email shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortened {
    /// The item's number.
    pub item: u32,
    pub words_before: usize,
    pub words_after: usize,
}

/// Renders `loaded` again with its longest excerpts shortened until the
/// HTML fits under the clip. Returns the render that fits (or the shortest
/// one reached) and what was shortened; `None` when there is nothing to do
/// (it fits already, or there is no web version to link to).
pub fn fit(
    loaded: &LoadedIssue,
    project: &Project,
    templates: &Templates,
    rendered: &Rendered,
) -> Result<Option<(Rendered, Vec<Shortened>)>, RenderError> {
    let target = GMAIL_CLIP_BYTES - MARGIN;
    if rendered.html.len() <= target {
        return Ok(None);
    }
    let Some(web) = project.config.web_url_for(&loaded.stem()) else {
        return Ok(None);
    };
    let excerpts: Vec<Excerpt<'_>> = loaded
        .issue
        .numbered_items()
        .filter_map(|item| {
            let text = item.item.excerpt.as_deref()?;
            // The bytes kept at each word count.
            let kept = text
                .split_whitespace()
                .scan(0, |sum, w| {
                    *sum += w.len() + 1;
                    Some(*sum)
                })
                .collect();
            Some(Excerpt { item, text, kept })
        })
        .collect();
    let longest = excerpts.iter().map(|e| e.kept.len()).max().unwrap_or(0);
    let saved = |budget: usize| -> usize {
        excerpts
            .iter()
            .filter(|e| e.kept.len() > budget)
            .map(|e| {
                let keep = budget.checked_sub(1).map_or(0, |i| e.kept[i]);
                e.text.len().saturating_sub(keep + LINK_BYTES)
            })
            .sum()
    };
    // The first budget saves, on paper, what the HTML is over by.
    let over = rendered.html.len() - target;
    let mut budget = (MIN_WORDS..=longest)
        .rev()
        .find(|b| saved(*b) >= over)
        .unwrap_or(0);
    let mut best: Option<(Rendered, Vec<Shortened>)> = None;
    for _ in 0..ROUNDS {
        let mut shortened_issue = loaded.clone();
        let mut shortened = Vec::new();
        for excerpt in &excerpts {
            let number = excerpt.item.number;
            let link = format!("{web}#item-{number}");
            let item =
                &mut shortened_issue.issue.sections[excerpt.item.section].items[excerpt.item.index];
            let words_before = excerpt.kept.len();
            if budget == 0 {
                shortened.push(Shortened {
                    item: number,
                    words_before,
                    words_after: 0,
                });
                item.excerpt = None;
            } else if let Some(short) = shorten(excerpt.text, budget, &link) {
                shortened.push(Shortened {
                    item: number,
                    words_before,
                    words_after: words(&short).saturating_sub(CONTINUE_WORDS),
                });
                item.excerpt = Prose::new(&short).ok();
            }
        }
        let again = render(&shortened_issue, project, templates)?;
        let size = again.html.len();
        best = Some((again, shortened));
        if size <= target || budget == 0 {
            break;
        }
        // Still over: a budget that saves, on paper, what is still missing
        // (with a fifth more for the estimate's optimism).
        let missing = (size - target) * 6 / 5;
        let from = saved(budget);
        budget = (MIN_WORDS..budget)
            .rev()
            .find(|b| saved(*b) >= from + missing)
            .unwrap_or(0);
    }
    Ok(best)
}

/// The words "… continue reading" adds.
const CONTINUE_WORDS: usize = 3;

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// What a "continue reading" link costs in the HTML, about (the saving a
/// budget brings is the Markdown given up, less this).
const LINK_BYTES: usize = 110;

/// `excerpt` cut to at most `budget` words, at the end of a paragraph or a
/// sentence, with "… continue reading" linking to `link`; `None` if it is
/// within the budget already.
pub fn shorten(excerpt: &str, budget: usize, link: &str) -> Option<String> {
    if words(excerpt) <= budget {
        return None;
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut count = 0;
    for paragraph in excerpt.trim().split("\n\n") {
        let n = words(paragraph);
        if count + n <= budget {
            kept.push(paragraph);
            count += n;
            continue;
        }
        if kept.is_empty() && budget > 0 {
            kept.push(first_sentences(paragraph, budget));
        }
        break;
    }
    let mut short = kept.join("\n\n");
    if !short.is_empty() {
        short.push(' ');
    }
    short.push_str("[… continue reading](");
    short.push_str(link);
    short.push(')');
    Some(short)
}

/// The longest start of `paragraph` that ends a sentence within `budget`
/// words, or its first `budget` words if no sentence ends that early.
fn first_sentences(paragraph: &str, budget: usize) -> &str {
    let mut end_of_budget = paragraph.len();
    let mut last_sentence = None;
    for (count, (at, word)) in word_spans(paragraph).enumerate() {
        if count >= budget {
            end_of_budget = at;
            break;
        }
        let bare = word.trim_end_matches(['"', '\'', '”', '’', ')', '*', '_']);
        if bare.ends_with(['.', '!', '?', '…']) {
            last_sentence = Some(at + word.len());
        }
    }
    let end = last_sentence.unwrap_or(end_of_budget);
    paragraph[..end].trim_end()
}

/// Each word of `text` with the byte offset it starts at.
fn word_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace()
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_end_at_a_sentence_with_a_link_onward() {
        let text = "One two three. Four five six seven. Eight nine ten eleven twelve.";
        assert_eq!(shorten(text, 20, "u"), None, "within the budget");
        assert_eq!(
            shorten(text, 8, "https://w/#item-3").unwrap(),
            "One two three. Four five six seven. [… continue reading](https://w/#item-3)"
        );
        // No sentence ends soon enough: the first words.
        assert_eq!(
            shorten("a b c d e f g h", 3, "u").unwrap(),
            "a b c [… continue reading](u)"
        );
        // Whole paragraphs are kept while they fit.
        assert_eq!(
            shorten("One. Two.\n\nThree four five six.", 3, "u").unwrap(),
            "One. Two. [… continue reading](u)"
        );
        assert_eq!(
            shorten("“Quoted.” More words here.", 2, "u").unwrap(),
            "“Quoted.” [… continue reading](u)"
        );
    }
}
