//! A send's progress on the terminal: a bar, or a line every few seconds.

#![allow(
    clippy::print_stderr,
    reason = "progress is drawn on stderr as the send goes"
)]

use std::io::IsTerminal;
use std::time::Duration;

use crate::send::{Progress, Reporter};

/// A send's progress on the terminal: a bar when stderr is a terminal, a
/// line every few seconds otherwise.
pub(crate) struct TerminalProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl TerminalProgress {
    pub(crate) fn new(total: u64) -> TerminalProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} · ETA {eta}")
                    .expect("a valid template"),
            );
            bar
        });
        TerminalProgress { bar }
    }
}

impl Reporter for TerminalProgress {
    fn every(&self) -> Duration {
        Duration::from_millis(if self.bar.is_some() { 200 } else { 5000 })
    }

    fn progress(&self, p: &Progress) {
        // With several relays, each one's part: "ses 300 at 150/s, gw out".
        let relays = if p.relays.len() > 1 {
            format!(" [{}]", super::send::relay_parts(&p.relays, true))
        } else {
            String::new()
        };
        match &self.bar {
            Some(bar) => {
                bar.set_position(p.sent + p.failed);
                bar.set_message(format!(
                    "sent {}, failed {}, {:.0} msg/s{relays}",
                    p.sent, p.failed, p.rate
                ));
            }
            None => eprintln!(
                "progress: {}/{} done (sent {}, failed {}), {:.0} msg/s{relays}",
                p.sent + p.failed,
                p.total,
                p.sent,
                p.failed,
                p.rate
            ),
        }
    }

    fn interrupted(&self) {
        eprintln!("\nstopping: letting the messages in flight finish…");
    }

    fn finished(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
