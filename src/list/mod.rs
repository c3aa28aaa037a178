//! The subscriber list: addresses as compared, the CSV reader, the project's
//! list-event log (unsubscribes and every other list event) and the signed
//! tokens in unsubscribe links.

pub mod address;
pub mod events;
pub mod reader;
pub mod token;
