//! missive renders a newsletter issue written in TOML into an email (MJML,
//! responsive HTML and plain text) and sends it to a list of subscribers.
//!
//! The modules follow the pipeline: [`issue`] (the model) → [`render`]
//! (templates, Markdown, MJML, text) → [`personalize`] (merge tags per reader)
//! → [`check`] (warnings). [`commands`] ties them to the command line.

pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod issue;
pub mod personalize;
pub mod render;
pub mod source;

pub use commands::run;
