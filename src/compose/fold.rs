//! Short lines for HTML sent as it is (a `7bit` or `8bit` body, where no
//! line may pass 998 bytes): a long line is broken at a space where a line
//! break means exactly the same — between a tag's attributes, or, when
//! nothing in the document keeps its whitespace (`<pre>`, `white-space:
//! pre…`), in running text. Never inside a quoted attribute value, a
//! comment (Outlook's conditional comments), `<style>` or `<script>`.
//! The text is folded in pieces (the literals between merge tags), the
//! state carried from one to the next.

/// A line is broken at the first space it may be broken at once it is this long.
const WIDTH: usize = 76;

/// Where the folder is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Text,
    /// Inside a tag; the byte that closes the quoted value it is in, if any.
    Tag(Option<u8>),
    /// Inside `<!-- … -->`, `<style>` or `<script>`: left as it is.
    Comment,
    Raw(&'static str),
}

/// Folds the pieces of one HTML document in order.
#[derive(Debug)]
pub(crate) struct Folder {
    place: Place,
    /// Bytes since the last line break.
    column: usize,
    /// Spaces in running text may become line breaks.
    in_text: bool,
    /// The tag being read: its first bytes, to tell `<style` and `<!--`.
    tag: Vec<u8>,
    /// The last two bytes, to tell the `-->` that ends a comment.
    last: [u8; 2],
}

impl Folder {
    /// A folder for `html` (the whole document, merge tags and all: it
    /// only decides whether running text may be folded).
    pub(crate) fn new(html: &str) -> Folder {
        Folder {
            place: Place::Text,
            column: 0,
            in_text: !keeps_whitespace(html),
            tag: Vec::new(),
            last: [0; 2],
        }
    }

    /// The next piece, folded. A merge tag between pieces counts as text
    /// of no known length (the line is checked again once it is filled).
    pub(crate) fn fold(&mut self, piece: &str) -> String {
        let bytes = piece.as_bytes();
        let mut out = Vec::with_capacity(bytes.len() + bytes.len() / WIDTH * 2);
        for (i, &b) in bytes.iter().enumerate() {
            match self.place {
                Place::Text => {
                    if b == b'<' {
                        self.place = Place::Tag(None);
                        self.tag.clear();
                    }
                }
                Place::Tag(None) => {
                    if self.tag.len() < 8 {
                        self.tag.push(b.to_ascii_lowercase());
                    }
                    match b {
                        b'"' | b'\'' => self.place = Place::Tag(Some(b)),
                        b'>' => self.place = self.after_tag(),
                        _ => {}
                    }
                    if self.tag == b"!--" {
                        self.place = Place::Comment;
                    }
                }
                Place::Tag(Some(quote)) => {
                    if b == quote {
                        self.place = Place::Tag(None);
                    }
                }
                Place::Comment => {
                    if b == b'>' && self.last == *b"--" {
                        self.place = Place::Text;
                    }
                }
                Place::Raw(end) => {
                    if b == b'>' && closes(bytes, i, end) {
                        self.place = Place::Text;
                    }
                }
            }
            let may_break = b == b' '
                && match self.place {
                    Place::Tag(None) => true,
                    Place::Text => self.in_text,
                    _ => false,
                };
            self.last = [self.last[1], b];
            if may_break && self.column >= WIDTH {
                out.extend_from_slice(b"\r\n");
                self.column = 0;
            } else {
                out.push(b);
                self.column = if b == b'\n' { 0 } else { self.column + 1 };
            }
        }
        // Only ASCII spaces were replaced: still UTF-8.
        String::from_utf8(out).expect("folding keeps UTF-8")
    }

    /// Where a tag that just closed leaves the folder.
    fn after_tag(&self) -> Place {
        let name: Vec<u8> = self
            .tag
            .iter()
            .copied()
            .take_while(u8::is_ascii_alphanumeric)
            .collect();
        match name.as_slice() {
            b"style" => Place::Raw("</style"),
            b"script" => Place::Raw("</script"),
            _ => Place::Text,
        }
    }
}

/// Whether the `>` at `i` closes the element whose end tag starts `end`.
fn closes(bytes: &[u8], i: usize, end: &str) -> bool {
    bytes[..i]
        .iter()
        .rposition(|&b| b == b'<')
        .is_some_and(|start| {
            bytes[start..i]
                .to_ascii_lowercase()
                .starts_with(end.as_bytes())
        })
}

/// Whether anything in `html` keeps its whitespace as written, where a
/// line break would show: `<pre>`, `<textarea>`, or CSS `white-space` set
/// to `pre`, `pre-wrap`, `pre-line` or `break-spaces`.
fn keeps_whitespace(html: &str) -> bool {
    let lower = html.to_ascii_lowercase();
    if ["<pre", "<textarea", "<listing", "<plaintext", "<xmp"]
        .iter()
        .any(|t| lower.contains(t))
    {
        return true;
    }
    lower.match_indices("white-space").any(|(at, name)| {
        let value = lower[at + name.len()..]
            .trim_start()
            .strip_prefix(':')
            .map(str::trim_start);
        // An unreadable declaration counts as one that keeps whitespace.
        value.is_none_or(|v| v.starts_with("pre") || v.starts_with("break-spaces"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(html: &str) -> String {
        Folder::new(html).fold(html)
    }

    #[test]
    fn long_lines_break_between_attributes_and_in_text() {
        let words = "word ".repeat(100);
        let html = format!(
            "<table role=\"presentation\" style=\"font-family:Georgia,'Times New Roman',serif; \
             color:#1f1f1f\" class=\"a b\"><tr><td>{words}</td></tr></table>"
        );
        let folded = fold(&html);
        assert!(folded.lines().count() > 5, "{folded}");
        assert!(
            folded.split("\r\n").all(|l| l.len() < 2 * WIDTH),
            "{folded}"
        );
        // Only spaces became line breaks, and never inside a quoted value.
        assert_eq!(folded.replace("\r\n", " "), html);
        assert!(
            folded.contains("'Times New Roman',serif; color"),
            "{folded}"
        );
    }

    #[test]
    fn whitespace_that_shows_is_left_alone() {
        let words = "word ".repeat(100);
        for html in [
            format!("<pre>{words}</pre>"),
            format!("<style>p{{white-space: pre-wrap}}</style><p>{words}</p>"),
            format!("<p style=\"white-space:pre-line\">{words}</p>"),
        ] {
            assert_eq!(fold(&html), html);
        }
        // `nowrap` collapses line breaks like spaces: text may be folded.
        let html = format!("<style>.n{{white-space:nowrap}}</style><p>{words}</p>");
        assert_ne!(fold(&html), html);
    }

    #[test]
    fn comments_styles_and_scripts_are_left_alone() {
        let long = "a b ".repeat(60);
        for html in [
            format!("<!--[if mso | IE]><table {long}><![endif]-->"),
            format!("<style type=\"text/css\">{long}</style>"),
            format!("<script>{long}</script>"),
        ] {
            let folded = fold(&html);
            // The opening tag of a style or script may be folded; what is inside not.
            assert!(folded.contains(&long), "{folded}");
        }
        // After the comment, text folds again.
        let html = format!("<!-- x --><p>{}</p>", "word ".repeat(100));
        assert!(fold(&html).contains("\r\n"));
    }

    #[test]
    fn pieces_carry_the_state_across_merge_tags() {
        // A quoted value cut by a merge tag stays unfolded on both sides.
        let html = format!("<a href=\"{}", "x ".repeat(60));
        let mut folder = Folder::new(&html);
        let first = folder.fold(&html);
        let second = folder.fold(&format!("{}\">{}</a>", " y".repeat(60), " z".repeat(60)));
        assert_eq!(first, html);
        assert!(second.starts_with(&" y".repeat(60)), "{second}");
        assert!(second.contains("\r\n"), "{second}");
    }
}
