//! missive renders a newsletter issue written in TOML into an email (MJML,
//! responsive HTML and plain text) and sends it to a list of subscribers.
//!
//! The modules follow the pipeline: [`issue`] (the model) → [`render`]
//! (templates, Markdown, MJML, text) → [`personalize`] (merge tags per reader)
//! → [`check`] (warnings) → [`subscribers`] (the list) → [`message`] (one
//! reader's email) → [`send`] (the engine, with its [`journal`]).
//! [`commands`] ties them to the command line.

// Errors carry a file, position, field and snippet; they are built once, on
// the way out, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod archive;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod fsutil;
pub(crate) mod http;
pub mod issue;
pub mod journal;
pub mod message;
pub mod personalize;
pub mod preview;
pub mod render;
pub mod send;
pub mod serve;
pub mod source;
pub mod subscribers;
pub mod suppress;
#[doc(hidden)]
pub mod synthetic;
pub mod ui;
pub mod unsubscribe;

pub use commands::run;

/// The multi-threaded tokio runtime the sending, preview and serve commands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
