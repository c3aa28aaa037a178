//! What a person reads on the terminal: values from outside (SMTP replies,
//! list rows, file names) made safe to print, and plurals.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (escape sequences included) written
/// as a visible escape such as `\u{1b}`, so a server reply or a list row can
/// never move the cursor, recolour or retitle the author's terminal.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `""` for one, `"s"` for any other count.
pub fn plural(n: impl TryInto<u64>) -> &'static str {
    if n.try_into().ok() == Some(1) {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(printable("550 no such user"), "550 no such user");
        assert_eq!(
            printable("550 \u{1b}[2J\u{1b}]0;owned\u{7}x\r\ny"),
            "550 \\u{1b}[2J\\u{1b}]0;owned\\u{7}x\\r\\ny"
        );
        assert_eq!(printable("a\u{9b}b"), "a\\u{9b}b", "C1 controls too");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1usize), "");
        assert_eq!(plural(0u64), "s");
        assert_eq!(plural(2u32), "s");
    }
}
