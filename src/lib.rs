//! missive renders a newsletter issue written in TOML into an email (MJML,
//! responsive HTML and plain text) and sends it to a list of subscribers.
//!
//! The modules follow the pipeline, each using only those before it:
//! [`project`] (config, paths, source errors, validated values) →
//! [`compose`] (issue → view → templates → MJML/HTML and text, merge tags,
//! checks) → `curate` (items from their pages, feeds and bookmarks; link
//! checks) and [`list`] (addresses, the CSV reader, the list-event log,
//! unsubscribe tokens) → `send` (message, journal, engine, transports) →
//! `bounces` (what comes back from inboxes) → `web` (preview, serve,
//! sign-ups, click links, archive) → `stats` (an issue's clicks and
//! delivery, and their charts) → `cmd` (one file per command), with `ui` for
//! everything a person reads on the terminal; `fsutil` and `tls` serve all.

// Errors carry a file, position, field and snippet; they are built once, on
// the way out, so their size does not matter.
#![allow(clippy::result_large_err)]

pub(crate) mod bounces;
pub mod cli;
mod cmd;
pub mod compose;
pub(crate) mod curate;
pub(crate) mod doctor;
pub(crate) mod fsutil;
pub mod list;
pub mod project;
pub(crate) mod send;
pub(crate) mod stats;
pub(crate) mod tls;
pub(crate) mod ui;
pub(crate) mod web;

pub use cmd::{ExitStatus, report_error, run};
#[doc(hidden)]
pub use compose::synthetic;
#[doc(hidden)]
pub use web::clicks::replay as click_replay;
