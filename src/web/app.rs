//! What `missive serve`'s handlers share: the list as the log has it (kept
//! up with the log), the sign-up state, and the small pages they answer with.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use governor::DefaultKeyedRateLimiter;

use crate::compose::merge::escape_html;
use crate::list::standing::ListState;
use crate::list::token::Secret;
use crate::project::config;
use crate::send::mailer::Mailer;
use crate::send::message::Letterhead;

pub(super) struct App {
    pub(super) secret: Secret,
    pub(super) name: String,
    /// The list as the log has it, and the log events are appended to.
    pub(super) list: Mutex<ListState>,
    /// Told of what went wrong inside a request (the reader only sees a
    /// polite page).
    pub(super) on_problem: Arc<dyn Fn(&str) + Send + Sync>,
    /// With `[signup]`: what sign-ups need.
    pub(super) signup: Option<Signup>,
}

/// What sign-ups need, made once when the server starts.
pub(crate) struct Signup {
    pub(super) settings: config::Signup,
    /// `{url}/confirm`.
    pub(super) confirm_url: String,
    /// Where the answer to a sign-up sends the reader.
    pub(super) thanks: String,
    pub(super) per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// How many sign-ups each limit turned away since the server started.
    pub(super) refusals: [std::sync::atomic::AtomicU64; 3],
    pub(super) confirm: Letterhead,
    pub(super) welcome: Option<Welcome>,
    pub(super) mailer: Mailer,
}

/// The message each confirmed reader gets, and the journal (its issue's
/// stem) it is recorded in.
pub(super) struct Welcome {
    pub(super) letterhead: Letterhead,
    pub(super) journal: String,
}

/// Why a sign-up got the one answer and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    /// A bot filled the field people never see.
    Honeypot,
    /// Too many sign-ups from one IP address (or IPv6 /64) this hour.
    PerIp,
    /// A confirmation went to that mailbox in the last 10 minutes, or
    /// three in the last day.
    PerAddress,
}

impl Limit {
    fn as_str(self) -> &'static str {
        match self {
            Limit::Honeypot => "honeypot",
            Limit::PerIp => "per-ip",
            Limit::PerAddress => "per-address",
        }
    }
}

impl Signup {
    /// Logs a sign-up a limit turned away, with how many it has so far.
    pub(super) fn refused(&self, limit: Limit) {
        let total =
            self.refusals[limit as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        tracing::info!(limit = limit.as_str(), total, "sign-up refused");
    }

    /// Forgets the limits' record of addresses and IPs not seen lately, so
    /// their memory does not grow with every address ever seen.
    pub(crate) fn forget_old(&self) {
        self.per_ip.retain_recent();
    }

    /// The one answer to every sign-up: a 303 to the thanks page.
    pub(super) fn answer(&self) -> Response {
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, self.thanks.as_str()),
                (header::CACHE_CONTROL, "no-store"),
            ],
        )
            .into_response()
    }
}

/// A small HTML page; `body` is HTML that the caller escaped.
pub(super) fn page(status: StatusCode, body: &str) -> Response {
    titled_page(status, "Unsubscribe", body)
}

/// A small HTML page titled `title` (plain text); `body` is HTML that the
/// caller escaped.
pub(super) fn titled_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32em;margin:3em auto;padding:0 1em\">\
         {body}</body></html>",
        escape_html(title)
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}
