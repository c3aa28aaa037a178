//! missive renders a newsletter issue written in TOML into an email (MJML,
//! responsive HTML and plain text) and sends it to a list of subscribers.
//!
//! The modules follow the pipeline: [`issue`] (the model) → [`render`]
//! (templates, Markdown, MJML, text) → [`personalize`] (merge tags per reader)
//! → [`check`] (warnings). [`commands`] ties them to the command line.

// Errors carry a file, position, field and snippet; they are built once, on
// the way out, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod issue;
pub mod personalize;
pub mod render;
pub mod source;
#[doc(hidden)]
pub mod synthetic;

pub use commands::run;
