//! The integration tests, in one binary: each module drives the real
//! `missive` binary (and real servers and a real browser) on fixture
//! directories.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "tests may say what they see"
)]

#[path = "../common/mod.rs"]
mod common;

mod bounces;
mod clicks;
mod compose;
mod curate;
mod doctor;
mod inbox;
mod layers;
mod manual;
mod migrate;
mod ops;
mod preview;
mod relays;
mod screens;
mod send;
mod serve;
mod signup;
mod warnings;
mod wire;
