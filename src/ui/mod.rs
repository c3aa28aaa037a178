//! What a person reads on the terminal, one room per screen: each screen
//! is a value whose `Display` is the text (or a `Serialize` view for
//! `--json`), and the command prints it. Values from outside (SMTP
//! replies, list rows, file names) are made safe to print first.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::compose::Composed;
use crate::list::events::Migrated;

pub(crate) mod bounces;
pub(crate) mod check;
pub(crate) mod doctor;
pub(crate) mod list;
pub(crate) mod migrate;
mod progress;
pub(crate) mod send;
pub(crate) mod stats;
pub(crate) mod status;

pub(crate) use progress::TerminalProgress;

/// Writes what a command prints to standard output. A reader that went
/// away (`missive status ISSUE | head`: the pipe closed) ends the program
/// quietly, as Unix tools do, where `print!` would panic.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Nothing left to tell it on: stderr says why.
        let _ = writeln!(
            std::io::stderr(),
            "error: cannot write to standard output: {e}"
        );
        std::process::exit(1);
    }
}

/// `print!` through [`write_out`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::ui::write_out(format_args!($($arg)*)) };
}

/// `println!` through [`write_out`].
macro_rules! outln {
    () => { $crate::ui::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::ui::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {out, outln};

/// `text` with every control character (escape sequences included) written
/// as a visible escape such as `\u{1b}`, so a server reply or a list row can
/// never move the cursor, recolour or retitle the author's terminal.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    escape_controls(text, |_| false)
}

/// `text` with its control characters written as visible escapes, but for
/// those `keep` lets through.
fn escape_controls(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && !keep(c);
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !escaped(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// `""` for one, `"s"` for any other count.
pub(crate) fn plural(n: impl TryInto<u64>) -> &'static str {
    if n.try_into().ok() == Some(1) {
        ""
    } else {
        "s"
    }
}

/// `1234` bytes as `1.2 KB`.
pub(crate) fn kilobytes(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1000.0)
}

/// A duration in milliseconds, for timings.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A path as it may be printed.
pub(crate) fn path(p: &Path) -> String {
    printable(&p.display().to_string()).into_owned()
}

/// `text` with control characters made visible, except line breaks and
/// tabs: for messages of several lines, such as an error with its snippet.
pub(crate) fn printable_text(text: &str) -> Cow<'_, str> {
    escape_controls(text, |c| matches!(c, '\n' | '\t'))
}

/// A `--json` document: pretty, with a newline.
pub(crate) fn json(value: &impl serde::Serialize) -> Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

/// What was migrated from suppression files of earlier versions (for
/// stderr), one note a line.
pub(crate) struct MigratedNotes<'a>(pub &'a [Migrated]);

impl std::fmt::Display for MigratedNotes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for m in self.0 {
            writeln!(
                f,
                "note: migrated {} unsubscribe{} from {} into {}",
                m.count,
                plural(m.count),
                path(&m.from),
                path(&m.into)
            )?;
        }
        Ok(())
    }
}

/// Asks on the terminal whether to send; only "y" or "yes" goes ahead.
#[allow(clippy::print_stdout, reason = "the question is asked on the terminal")]
pub(crate) fn confirm(composed: &Composed, n: u64) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to send without confirmation: there is no terminal to ask on; pass --yes");
    }
    print!(
        "Send \"{}\" to {n} recipient{}? [y/N] ",
        composed.issue.issue.subject,
        plural(n)
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("not sent: the answer was not yes")
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
        assert_eq!(
            printable_text("error: x\n  |\t\u{1b}[2Jy\r"),
            "error: x\n  |\t\\u{1b}[2Jy\\r",
            "line breaks and tabs stay"
        );
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1usize), "");
        assert_eq!(plural(0u64), "s");
        assert_eq!(plural(2u32), "s");
    }
}
