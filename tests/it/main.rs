//! The integration tests, in one binary: each module drives the real
//! `missive` binary (and real servers and a real browser) on fixture
//! directories.

#[path = "../common/mod.rs"]
mod common;

mod compose;
mod preview;
mod send;
mod serve;
