//! Sign-ups through `missive serve`, with double opt-in: `POST /subscribe`
//! from a form on the author's site records a pending sign-up and mails a
//! sealed confirmation link; `GET /confirm` shows one button, and only its
//! `POST` subscribes (link scanners fetch, they do not press); a welcome
//! message may follow. The answer to a sign-up is the same whoever the
//! address belongs to, and limits per IP address and per address keep bots
//! and mail-bombing out.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use governor::{Quota, RateLimiter};
use serde::Deserialize;

use super::app::{App, Limit, Signup, Welcome, titled_page};
use crate::compose::merge::escape_html;
use crate::list::address::Joined;
use crate::list::events::Event;
use crate::list::reader::Subscriber;
use crate::list::signup::{self, Admission, Form, FormError, HONEYPOT, MAX_VALUE, Refusal};
use crate::list::token::{Secret, SignupClaim};
use crate::project::Project;
use crate::project::config;
use crate::send::invite::confirmation;
use crate::send::journal;
use crate::send::mailer::{Mailer, Outgoing, SIGNUP_JOURNAL};
use crate::send::message::{Letterhead, Transfer};

/// The largest sign-up form body.
const MAX_FORM: usize = 16 * 1024;
/// No answer to a sign-up goes out sooner than this after it came in,
/// whatever the address: a new one costs a synced record and a spooled
/// message, one already subscribed costs nothing, and the difference must
/// not tell anyone which is which.
const ANSWER_FLOOR: Duration = Duration::from_millis(100);

/// Checks `[signup]`, renders the confirmation email, composes the
/// welcome (or, with `send_latest`, the latest issue sent) and starts the
/// mailer on the current runtime.
pub(crate) fn start(
    project: &Project,
    settings: &config::Signup,
    secret: Secret,
    send_latest: bool,
    on_problem: &Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<Signup> {
    let config = &project.config;
    let label = project.config_label();
    let base = signup::base_url(project)?;
    let templates = crate::compose::Templates::load(&project.templates_dir())?;
    let hours = settings.confirm_hours.get();
    let rendered = crate::compose::confirm::confirmation(project, &templates, hours)?;
    let confirm = Letterhead::new(
        config,
        &project.root,
        "signup",
        &crate::compose::confirm::subject(project),
        &rendered,
        Some(secret.clone()),
    )
    .with_context(|| format!("{}", label.display()))?;
    let welcome_issue = if send_latest {
        Some(latest_issue(project)?)
    } else {
        settings.welcome.as_ref().map(|w| project.resolve(w))
    };
    let welcome = match welcome_issue {
        None => None,
        Some(path) => {
            let composed = crate::compose::compose(project, &path)?;
            let letterhead = Letterhead::new(
                config,
                &project.root,
                &composed.issue.stem(),
                composed.issue.issue.subject.as_str(),
                &composed.rendered,
                Some(secret),
            )
            .with_context(|| format!("{}", label.display()))?;
            Some(Welcome {
                letterhead,
                journal: composed.issue.stem(),
            })
        }
    };
    let relay = crate::send::Relays::from_project(project)?
        .primary()
        .clone();
    relay.transport.prepare()?;
    let per_hour = std::num::NonZeroU32::new(settings.per_ip_per_hour.get()).expect("at least 1");
    Ok(Signup {
        confirm_url: format!("{base}/confirm"),
        thanks: settings
            .thanks_url
            .as_ref()
            .map_or_else(|| "/subscribed".to_string(), ToString::to_string),
        per_ip: RateLimiter::keyed(Quota::per_hour(per_hour).allow_burst(per_hour)),
        refusals: Default::default(),
        confirm,
        welcome,
        mailer: Mailer::start(
            &relay,
            &project.state_dir(),
            config.sending.concurrency.get(),
            on_problem,
        ),
        settings: settings.clone(),
    })
}

/// The issue sent most recently (by when its sending began), as a file.
fn latest_issue(project: &Project) -> Result<std::path::PathBuf> {
    journal::sent_in_order(&project.state_dir())?
        .into_iter()
        .rev()
        .map(|stem| project.issues_dir().join(format!("{stem}.toml")))
        .find(|file| file.is_file())
        .ok_or_else(|| anyhow!("--send-latest: no issue has been sent yet"))
}

/// The sign-up routes, when `[signup]` is set up (they answer 404 otherwise).
pub(super) fn routes(router: Router<Arc<App>>) -> Router<Arc<App>> {
    router
        .route(
            "/subscribe",
            get(subscribe_page)
                .post(subscribe)
                .layer(DefaultBodyLimit::max(MAX_FORM)),
        )
        .route("/subscribed", get(thanks))
        .route(
            "/confirm",
            get(confirm_page)
                .post(confirm)
                .layer(DefaultBodyLimit::max(MAX_FORM)),
        )
}

fn not_here() -> Response {
    titled_page(StatusCode::NOT_FOUND, "Not found", "<p>Not found.</p>")
}

/// The IP address a sign-up counts against: where it came from
/// ([`client_ip`](crate::web::http::client_ip)), an IPv6 address standing
/// for its /64 (one host's whole range).
fn client_ip(signup: &Signup, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    limit_key(crate::web::http::client_ip(
        signup.settings.behind_proxy,
        peer,
        headers,
    ))
}

/// What the per-IP limit counts: an IPv4 address, or an IPv6 /64.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                IpAddr::V4(v4)
            } else {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        }
    }
}

/// `POST /subscribe`: records a pending sign-up (durably) and mails its
/// confirmation link, unless the address is already subscribed or must
/// get no mail (a complaint, a hard bounce), the honeypot is filled, or a
/// limit is reached. The answer is the same in every case.
async fn subscribe(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let Some(signup) = &app.signup else {
        return not_here();
    };
    let form = match Form::parse(&body, &signup.settings.fields) {
        Ok(form) => form,
        Err(FormError::NotUtf8) => {
            return titled_page(
                StatusCode::BAD_REQUEST,
                "Sign up",
                "<p>The form sent text that is not UTF-8. Please go back and try again.</p>",
            );
        }
        Err(FormError::NotAnAddress) => {
            return titled_page(
                StatusCode::BAD_REQUEST,
                "Sign up",
                "<p>That is not an email address we can send to. Please go back and check it.</p>",
            );
        }
    };
    if form.honeypot {
        signup.refused(Limit::Honeypot);
        return answer(signup, arrived).await;
    }
    let ip = client_ip(signup, peer, &headers);
    if signup.per_ip.check_key(&ip).is_err() {
        signup.refused(Limit::PerIp);
        return answer(signup, arrived).await;
    }
    let detail = if signup.settings.record_ip {
        format!("ip={ip}")
    } else {
        String::new()
    };
    let claim = form.claim();
    // Built whether or not it goes, so every answer costs the same.
    let message = match confirmation(
        &signup.confirm,
        &signup.confirm_url,
        &app.secret,
        form.address,
        &claim,
    ) {
        Ok(message) => message,
        Err(e) => {
            (app.on_problem)(&e.to_string());
            return failed_answer(arrived).await;
        }
    };
    let app_for_log = Arc::clone(&app);
    let recorded = tokio::task::spawn_blocking(move || {
        let signup = app_for_log.signup.as_ref().expect("sign-ups are set up");
        let email = claim.email;
        let mut list = app_for_log.list.lock().expect("list lock");
        // Recorded and spooled, both synced, before the reader is told to
        // look in their inbox.
        match signup::admit(&mut list, &email, &detail)? {
            Admission::Unchanged => Ok(()),
            Admission::TooSoon => {
                signup.refused(Limit::PerAddress);
                Ok(())
            }
            Admission::Pending => {
                tracing::info!(event = %Event::Pending, address = %super::http::shown(&email), "list event");
                signup.mailer.send(&Outgoing {
                    message,
                    email,
                    journal: SIGNUP_JOURNAL.to_string(),
                })
            }
        }
    })
    .await;
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            (app.on_problem)(&format!("{e:#}"));
            return failed_answer(arrived).await;
        }
        Err(_) => return failed_answer(arrived).await,
    }
    answer(signup, arrived).await
}

/// The one answer to a sign-up, given no sooner than [`ANSWER_FLOOR`]
/// after it `arrived`.
async fn answer(signup: &Signup, arrived: tokio::time::Instant) -> Response {
    tokio::time::sleep_until(arrived + ANSWER_FLOOR).await;
    signup.answer()
}

/// The answer when recording a sign-up failed.
async fn failed_answer(arrived: tokio::time::Instant) -> Response {
    tokio::time::sleep_until(arrived + ANSWER_FLOOR).await;
    titled_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Sign up",
        "<p>Something went wrong; please try again.</p>",
    )
}

/// `GET /subscribed`: the built-in "check your inbox" page.
/// `GET /subscribe`: the sign-up form, where the "forwarded to you?
/// subscribe" link of an issue and its web version lands.
async fn subscribe_page(State(app): State<Arc<App>>) -> Response {
    let Some(signup) = &app.signup else {
        return not_here();
    };
    let fields: Vec<String> = signup
        .settings
        .fields
        .iter()
        .map(ToString::to_string)
        .collect();
    titled_page(
        StatusCode::OK,
        &format!("Subscribe to {}", app.name),
        &format!(
            "<h1>Subscribe to {}</h1>\n<p>Each issue by email. You will get a message with a link \
             to confirm; nothing more is sent until you press it.</p>\n{}",
            escape_html(&app.name),
            form_html("/subscribe", &fields)
        ),
    )
}

async fn thanks(State(app): State<Arc<App>>) -> Response {
    if app.signup.is_none() {
        return not_here();
    }
    titled_page(
        StatusCode::OK,
        &app.name,
        &format!(
            "<p>Thank you. Please check your inbox: a message from {} has a link that \
             confirms your subscription. Nothing more is sent until you press it.</p>",
            escape_html(&app.name)
        ),
    )
}

#[derive(Debug, Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// Why a confirmation link cannot be used.
fn refused(status: StatusCode, why: &str) -> Response {
    titled_page(status, "Confirm", &format!("<p>{why}</p>"))
}

/// The sign-up a confirmation token carries and the token's id, if it is
/// genuine, unexpired and unused; the error is the page to answer with.
fn check_token(
    app: &App,
    signup: &Signup,
    token: Option<&str>,
) -> Result<(SignupClaim, String), Response> {
    let mut list = app.list.lock().expect("list lock");
    signup::check_token(
        &app.secret,
        &mut list,
        token,
        signup.settings.confirm_hours.get(),
    )
    .map_err(|refusal| {
        let status = match refusal {
            Refusal::NotValid => StatusCode::FORBIDDEN,
            Refusal::Incomplete | Refusal::Expired | Refusal::Used => StatusCode::BAD_REQUEST,
        };
        refused(status, &refusal.to_string())
    })
}

/// `GET /confirm`: a page with one button. Fetching it changes nothing.
async fn confirm_page(State(app): State<Arc<App>>, Query(params): Query<TokenParam>) -> Response {
    let Some(signup) = &app.signup else {
        return not_here();
    };
    let (claim, _) = match check_token(&app, signup, params.token.as_deref()) {
        Ok(checked) => checked,
        Err(page) => return page,
    };
    let token = params.token.unwrap_or_default();
    titled_page(
        StatusCode::OK,
        "Confirm",
        &format!(
            "<p>Subscribe <strong>{}</strong> to {}?</p>\
             <form method=\"post\" action=\"/confirm\">\
             <input type=\"hidden\" name=\"token\" value=\"{}\">\
             <button type=\"submit\">Confirm my subscription</button></form>",
            escape_html(&claim.email),
            escape_html(&app.name),
            escape_html(token.trim())
        ),
    )
}

/// `POST /confirm` (the button): subscribes the reader, durably, once; a
/// reader who had unsubscribed is subscribed again and the record says so.
/// The welcome message follows, if there is one.
async fn confirm(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(signup) = &app.signup else {
        return not_here();
    };
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let (claim, id) = match check_token(&app, signup, token.as_deref()) {
        Ok(checked) => checked,
        Err(page) => return page,
    };
    let ip = client_ip(signup, peer, &headers).to_string();
    let ip = signup.settings.record_ip.then_some(ip);
    let joined = Joined {
        email: claim.email.clone(),
        name: claim.name.clone(),
        fields: claim.fields.clone(),
    };
    let app_for_log = Arc::clone(&app);
    let for_log = joined.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        let mut list = app_for_log.list.lock().expect("list lock");
        let confirmed = signup::confirm(&mut list, &for_log, &id, ip.as_deref())?;
        if confirmed {
            tracing::info!(event = %Event::Confirmed, address = %super::http::shown(&for_log.email), "list event");
        }
        Ok::<_, anyhow::Error>(confirmed)
    })
    .await;
    match recorded {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            return refused(StatusCode::BAD_REQUEST, &Refusal::Used.to_string());
        }
        Ok(Err(e)) => {
            (app.on_problem)(&format!("{e:#}"));
            return refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.",
            );
        }
        Err(_) => {
            return refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.",
            );
        }
    }
    if let Some(welcome) = &signup.welcome
        && let Ok(address) = lettre::Address::from_str(&joined.email)
    {
        let values: Vec<(&str, &str)> = joined
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let reader = Subscriber::with_values(address, &joined.name, &values);
        match welcome.letterhead.message(&reader, Transfer::SevenBit) {
            Ok(message) => {
                let out = Outgoing {
                    message,
                    email: joined.email.clone(),
                    journal: welcome.journal.clone(),
                };
                let mailer = signup.mailer.clone();
                match tokio::task::spawn_blocking(move || mailer.send(&out)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => (app.on_problem)(&format!("{e:#}")),
                    Err(e) => (app.on_problem)(&e.to_string()),
                }
            }
            Err(e) => (app.on_problem)(&e.to_string()),
        }
    }
    titled_page(
        StatusCode::OK,
        &app.name,
        &format!(
            "<p>You are subscribed to {}. Thank you!</p>",
            escape_html(&app.name)
        ),
    )
}

/// A form to paste into a page of the author's site: it posts to `action`
/// (`{signup.url}/subscribe`), with the honeypot hidden from people.
pub(crate) fn form_html(action: &str, fields: &[String]) -> String {
    let mut extra = String::new();
    for field in fields {
        let label = escape_html(field);
        let _ = writeln!(
            extra,
            "  <label>{label} <input type=\"text\" name=\"{label}\" maxlength=\"{MAX_VALUE}\"></label>"
        );
    }
    format!(
        "<form method=\"post\" action=\"{}\">\n\
         \x20 <label>Email <input type=\"email\" name=\"email\" required autocomplete=\"email\"></label>\n\
         \x20 <label>Name <input type=\"text\" name=\"name\" autocomplete=\"name\" maxlength=\"{MAX_VALUE}\"></label>\n\
         {extra}\
         \x20 <div style=\"position:absolute;left:-10000px\" aria-hidden=\"true\">\
         <label>Leave this empty <input type=\"text\" name=\"{HONEYPOT}\" tabindex=\"-1\" autocomplete=\"off\"></label></div>\n\
         \x20 <button type=\"submit\">Subscribe</button>\n\
         </form>\n",
        escape_html(action)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_limited_by_its_64() {
        let key = |s: &str| limit_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:198.51.100.7"), key("198.51.100.7"));
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
    }
}
