//! missive on the web: the live preview, `serve` (unsubscribes and the
//! archive) and the static archive, with the HTTP limits they share.

pub mod app;
pub mod archive;
pub(crate) mod http;
pub mod preview;
pub mod serve;
pub mod signup;
