//! missive on the web: the live preview, `serve` (unsubscribes, sign-ups,
//! click links and the archive) and the static archive, with the HTTP
//! limits they share.

pub(crate) mod app;
pub(crate) mod archive;
pub(crate) mod clicks;
pub(crate) mod http;
pub(crate) mod preview;
pub(crate) mod serve;
pub(crate) mod signup;
