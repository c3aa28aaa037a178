//! The subscriber list: addresses as compared, the CSV reader, the project's
//! list-event log (unsubscribes and every other list event) and the signed
//! tokens in unsubscribe links.

pub(crate) mod address;
pub(crate) mod bounce;
pub(crate) mod events;
pub(crate) mod migrate;
pub(crate) mod reader;
pub(crate) mod rewrite;
pub(crate) mod signup;
pub(crate) mod standing;
pub mod token;
