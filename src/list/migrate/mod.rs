//! Moving in and out: the hosted platforms' exports read into the list
//! with every reader's consent and every suppression kept (`subscribers
//! import`), and the list written back in their shapes (`subscribers
//! export`).

pub(crate) mod export;
pub(crate) mod formats;
pub(crate) mod import;

pub(crate) use formats::Platform;
