//! Fitting an issue under Gmail's clip: with `[email] fit` (on by default
//! when there is a web version), the email's longest excerpts end early, at
//! a sentence, with "… continue reading" linking to that item on the web
//! version, until the HTML part as sent (quoted-printable, as Gmail weighs
//! it) is just under the clip size; if a dozen words each are still too
//! many, the email leaves out the fewest of the longest excerpts it must,
//! and if even leaving every one out would not do, it stays as written.
//! Every item keeps its number, title, byline and link; the web version
//! keeps every excerpt whole, and so does the text part unless `[email]
//! fit_text`.

use super::issue::{LoadedIssue, NumberedItem, Prose};
use super::render::{
    GMAIL_CLIP_BYTES, RenderError, Rendered, encoded_len, render, render_html_only,
};
use super::templates::Templates;
use crate::project::Project;

/// Room left under the clip size, for what personalization adds (a
/// reader's name, their unsubscribe link): the fitted email lands between
/// this and twice this under Gmail's limit.
const MARGIN: usize = 1_000;
/// What an excerpt's quotation adds to its words in the HTML, about.
const EXCERPT_MARKUP: usize = 90;
/// The fewest words an excerpt is cut to, short of leaving it out.
const MIN_WORDS: usize = 12;

/// An item's excerpt, as the fitting weighs it.
struct Excerpt<'a> {
    item: NumberedItem<'a>,
    text: &'a str,
    words: usize,
}

/// An excerpt the email shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortened {
    /// The item's number.
    pub item: u32,
    pub words_before: usize,
    pub words_after: usize,
}

/// What the email is weighed as: its HTML part as sent.
fn size(rendered: &Rendered) -> usize {
    rendered.sent_bytes
}

/// Renders `loaded` again with its longest excerpts shortened until the
/// HTML part, as sent, fits under Gmail's clip, filling what room there
/// is: every excerpt longer than one word budget is cut to it (at a
/// sentence), the largest budget that fits found by halving, then the
/// excerpts cut hardest given back sentences while the email still fits;
/// when even a dozen words each are too many, the fewest of the longest
/// excerpts are left out. Returns the render that fits and what was
/// shortened; `None` when there is nothing to do (it fits already, there is
/// no web version to link to, or not even leaving every excerpt out would
/// bring it under). The text part stays whole unless `[email] fit_text`.
pub(crate) fn fit(
    loaded: &LoadedIssue,
    project: &Project,
    templates: &Templates,
    rendered: &Rendered,
) -> Result<Option<(Rendered, Vec<Shortened>)>, RenderError> {
    let target = GMAIL_CLIP_BYTES - MARGIN;
    if size(rendered) <= target {
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
            Some(Excerpt {
                item,
                text,
                words: words(text),
            })
        })
        .collect();
    // When even leaving every excerpt out cannot bring it under (judged
    // from what the excerpts weigh as sent, with their quotation's markup),
    // fitting cannot prevent the clip: the email stays as written, and
    // `check` says how much must go.
    let excerpts_weigh: usize = excerpts
        .iter()
        .map(|e| encoded_len(e.text) + EXCERPT_MARKUP)
        .sum();
    if size(rendered).saturating_sub(excerpts_weigh) > target + MARGIN {
        return Ok(None);
    }
    let longest = excerpts.iter().map(|e| e.words).max().unwrap_or(0);
    // Each excerpt's budget (`None`: whole); the render they make.
    let attempt = |budgets: &[Option<usize>]| -> Result<(Rendered, Vec<Shortened>), RenderError> {
        let mut shortened_issue = loaded.clone();
        let mut shortened = Vec::new();
        for (excerpt, budget) in excerpts.iter().zip(budgets) {
            let Some(budget) = *budget else { continue };
            let number = excerpt.item.number;
            let link = format!("{web}#item-{number}");
            let item =
                &mut shortened_issue.issue.sections[excerpt.item.section].items[excerpt.item.index];
            if budget == 0 {
                shortened.push(Shortened {
                    item: number,
                    words_before: excerpt.words,
                    words_after: 0,
                });
                item.excerpt = None;
            } else if let Some(short) = shorten(excerpt.text, budget, &link) {
                shortened.push(Shortened {
                    item: number,
                    words_before: excerpt.words,
                    words_after: words(&short).saturating_sub(CONTINUE_WORDS),
                });
                item.excerpt = Prose::new(&short).ok();
            }
        }
        // The text part, when it stays whole, is the one already rendered.
        let again = if project.config.email.fit_text {
            render(&shortened_issue, project, templates)?
        } else {
            let mut html = render_html_only(&shortened_issue, project, templates)?;
            html.text.clone_from(&rendered.text);
            html
        };
        Ok((again, shortened))
    };
    let capped = |cap: usize| -> Vec<Option<usize>> {
        excerpts
            .iter()
            .map(|e| (e.words > cap).then_some(cap))
            .collect()
    };
    // The largest common budget that fits, by halving.
    let (mut low, mut high) = (MIN_WORDS, longest);
    let mut best = attempt(&capped(MIN_WORDS))?;
    if size(&best.0) > target {
        // Even the shortest cut does not fit: the fewest excerpts left out
        // (the longest first) that lets the others keep their opening,
        // found by halving; all of them if nothing else fits.
        let mut longest_first: Vec<usize> = (0..excerpts.len()).collect();
        longest_first.sort_by_key(|&i| {
            (
                std::cmp::Reverse(excerpts[i].words),
                excerpts[i].item.number,
            )
        });
        let leaving_out = |k: usize| -> Vec<Option<usize>> {
            let mut budgets = capped(MIN_WORDS);
            for &i in &longest_first[..k] {
                budgets[i] = Some(0);
            }
            budgets
        };
        let (mut few, mut many) = (1, excerpts.len());
        let mut fitted = attempt(&leaving_out(many))?;
        if size(&fitted.0) > target {
            // Not even without any: the email shows as many whole items
            // as it can before the clip.
            return Ok(Some(fitted));
        }
        while few < many {
            let mid = usize::midpoint(few, many);
            let tried = attempt(&leaving_out(mid))?;
            if size(&tried.0) <= target {
                many = mid;
                fitted = tried;
            } else {
                few = mid + 1;
            }
        }
        return Ok(Some(fitted));
    }
    while low < high {
        let mid = (low + high).div_ceil(2);
        let tried = attempt(&capped(mid))?;
        if size(&tried.0) <= target {
            low = mid;
            best = tried;
        } else {
            high = mid - 1;
        }
    }
    // Fill what room is left: the excerpts cut hardest get their next
    // sentences back, one by one, while the email fits — weighed first by
    // what their words cost as sent (a tenth more for the markup), then
    // rendered once, giving back the last taken until it fits.
    let mut budgets = capped(low);
    let mut order: Vec<usize> = (0..excerpts.len())
        .filter(|&i| budgets[i].is_some())
        .collect();
    let kept = |i: usize, budget: usize| {
        shorten(excerpts[i].text, budget, "u").unwrap_or_else(|| excerpts[i].text.to_string())
    };
    order.sort_by_cached_key(|&i| (words(&kept(i, low)), excerpts[i].item.number));
    let mut room = target.saturating_sub(size(&best.0));
    let mut taken: Vec<(usize, Option<usize>)> = Vec::new();
    for i in order {
        let Some(next) = next_cut(excerpts[i].text, low) else {
            continue;
        };
        let more = encoded_len(&kept(i, next)).saturating_sub(encoded_len(&kept(i, low)));
        let cost = more + more / 10;
        if cost < room {
            room -= cost;
            taken.push((i, budgets[i]));
            budgets[i] = (next < excerpts[i].words).then_some(next);
        }
    }
    if !taken.is_empty() {
        loop {
            let tried = attempt(&budgets)?;
            if size(&tried.0) <= target {
                best = tried;
                break;
            }
            let Some((i, before)) = taken.pop() else {
                break;
            };
            budgets[i] = before;
        }
    }
    Ok(Some(best))
}

/// The smallest word budget above `budget` at which `excerpt`'s cut keeps
/// more (its next sentence or paragraph).
fn next_cut(excerpt: &str, budget: usize) -> Option<usize> {
    let now = shorten(excerpt, budget, "u").map(|s| words(&s));
    let total = words(excerpt);
    (budget + 1..=total).find(|b| shorten(excerpt, *b, "u").map(|s| words(&s)) != now)
}

/// The words "… continue reading" adds.
const CONTINUE_WORDS: usize = 3;

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// `excerpt` cut to at most `budget` words, at the end of a paragraph or a
/// sentence, with "… continue reading" linking to `link`; `None` if it is
/// within the budget already.
pub(crate) fn shorten(excerpt: &str, budget: usize, link: &str) -> Option<String> {
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
        // The sentences of the next paragraph that fit (a lone first
        // paragraph is no place to stop when more fits); the first words
        // of the first paragraph if no sentence ends soon enough.
        let left = budget - count;
        let start = first_sentences(paragraph, left);
        let whole_sentences = kept.is_empty() || ends_sentence(start);
        if left > 0 && !start.is_empty() && whole_sentences {
            kept.push(start);
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

/// Whether `text` ends a sentence.
fn ends_sentence(text: &str) -> bool {
    text.trim_end()
        .trim_end_matches(['"', '\'', '”', '’', ')', '*', '_'])
        .ends_with(['.', '!', '?', '…'])
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
        // Never a lone first paragraph when the next one's sentences fit.
        assert_eq!(
            shorten("A standfirst.\n\nOne two. Three four five. Six.", 7, "u").unwrap(),
            "A standfirst.\n\nOne two. Three four five. [… continue reading](u)"
        );
    }
}
