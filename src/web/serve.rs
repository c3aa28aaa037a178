//! `missive serve`: answers the unsubscribe links every message carries —
//! one-click (RFC 8058, form-encoded or multipart) and the footer link —
//! and, with `[signup]`, sign-ups with their confirmations
//! ([`signup`](super::signup)), recording each in the project's list-event
//! log before it answers; serves the web archive. Entry point: [`serve`].
//! Meant to sit behind a reverse proxy for TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::app::{App, page};
use crate::compose::merge::escape_html;
use crate::list::events::{self, Event};
use crate::list::standing::ListState;
use crate::list::token::{SECRET_ENV, Secret};
use crate::project::Project;

/// What `missive serve` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub bind: SocketAddr,
    /// The static site `missive archive` wrote.
    pub site: PathBuf,
    /// Overrides `sending.subscribers`: an old suppression file beside it is
    /// migrated into the project's log.
    pub subscribers: Option<PathBuf>,
    /// Welcome each confirmed reader with the latest issue sent (in place
    /// of `[signup] welcome`).
    pub send_latest: bool,
}

/// What one client may take of the server.
const LIMITS: crate::web::http::Limits = crate::web::http::Limits {
    max_connections: 4096,
    header_timeout: std::time::Duration::from_secs(10),
};

/// A request (its body included) must be answered within this.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A server that is listening.
#[derive(Debug)]
pub(crate) struct Ready {
    pub address: SocketAddr,
    /// The list-event log unsubscribes are appended to.
    pub log: PathBuf,
    /// Suppression files of earlier versions migrated into the log.
    pub migrated: Vec<crate::list::events::Migrated>,
}

/// Runs the server until Ctrl-C or SIGTERM, then gives the mail that is
/// ready [`DRAIN`] to go (the rest waits in the spool). `on_ready` is told where it listens;
/// `on_problem` hears of errors inside requests.
pub(crate) async fn serve(
    project: &Project,
    options: &Options,
    on_ready: impl FnOnce(&Ready),
    on_problem: impl Fn(&str) + Send + Sync + 'static,
) -> Result<()> {
    let secret = Secret::for_project(project)?.ok_or_else(|| {
        anyhow!("{SECRET_ENV} is not set: it must be the secret the links were signed with")
    })?;
    let list = project.list_path(options.subscribers.as_deref());
    let (_, log, migrated) = events::open_project(project, &list)?;
    let path = log.path().to_path_buf();
    let state = ListState::open(&list, log)?;
    let on_problem: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(on_problem);
    let signup = match &project.config.signup {
        Some(settings) => Some(super::signup::start(
            project,
            settings,
            secret.clone(),
            options.send_latest,
            &on_problem,
        )?),
        None if options.send_latest => {
            anyhow::bail!("--send-latest welcomes confirmed sign-ups: set up [signup] first")
        }
        None => None,
    };
    let clicks = match &project.config.clicks {
        Some(settings) => Some(Arc::new(super::clicks::Clicks::start(
            &project.state_dir(),
            &options.site,
            secret.clone(),
            settings.behind_proxy,
        )?)),
        None => None,
    };
    let app = Arc::new(App {
        secret,
        name: project.config.newsletter.name.to_string(),
        list: Mutex::new(state),
        on_problem,
        signup,
    });
    let mut router = super::signup::routes(
        Router::new().route("/unsubscribe", get(confirm_page).post(unsubscribe)),
    )
    .with_state(Arc::clone(&app));
    if let Some(clicks) = &clicks {
        router = router.merge(
            Router::new()
                .route("/c/{issue}/{wave}/{link}", get(super::clicks::follow))
                .with_state(Arc::clone(clicks)),
        );
        let clicks = Arc::clone(clicks);
        let on_problem = Arc::clone(&app.on_problem);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if clicks.idle() {
                    continue;
                }
                let clicks = Arc::clone(&clicks);
                let flushed = tokio::task::spawn_blocking(move || clicks.flush(false)).await;
                if let Ok(Err(e)) = flushed {
                    on_problem(&format!("cannot record click counts: {e:#}"));
                }
            }
        });
    }
    let router = router
        .fallback_service(tower_http::services::ServeDir::new(&options.site))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(crate::web::http::log_request));
    if app.signup.is_some() {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_mins(10));
            loop {
                every.tick().await;
                if let Some(signup) = &app.signup {
                    signup.forget_old();
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .with_context(|| format!("cannot listen on {}", options.bind))?;
    on_ready(&Ready {
        address: listener.local_addr()?,
        log: path,
        migrated,
    });
    crate::web::http::serve(listener, router, LIMITS, stop_signal()).await;
    // Every click taken in is counted before the server goes.
    if let Some(clicks) = &clicks {
        clicks.flush(true)?;
    }
    // Mail on its way is durable in the spool; what is ready goes now.
    if let Some(signup) = &app.signup {
        signup.mailer.drain(DRAIN).await;
    }
    Ok(())
}

/// How long a stopping server gives the mail that is ready to go.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Ctrl-C (SIGINT), or SIGTERM from systemd or `docker stop`.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[derive(Debug, Deserialize)]
struct Params {
    email: Option<String>,
    token: Option<String>,
}

/// The address a link is for: the one its sealed token carries, or the
/// one it names with a token signing it. The error is the response to send.
fn verify(app: &App, params: &Params) -> Result<String, Response> {
    let incomplete = || {
        page(
            StatusCode::BAD_REQUEST,
            "This unsubscribe link is incomplete.",
        )
    };
    let token = params
        .token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(incomplete)?;
    let Some(email) = &params.email else {
        // The sealed form: the token is all the link carries.
        return app
            .secret
            .open(token)
            .ok_or_else(|| page(StatusCode::FORBIDDEN, "This unsubscribe link is not valid."));
    };
    if lettre::Address::from_str(email.trim()).is_err() {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "This unsubscribe link is not valid.",
        ));
    }
    if !app.secret.verify(email, token) {
        return Err(page(
            StatusCode::FORBIDDEN,
            "This unsubscribe link is not valid.",
        ));
    }
    Ok(email.trim().to_string())
}

/// `GET /unsubscribe`: what a person (or a link scanner) gets. It never
/// unsubscribes by itself: a button posts the one-click form.
async fn confirm_page(State(app): State<Arc<App>>, Query(params): Query<Params>) -> Response {
    let email = match verify(&app, &params) {
        Ok(email) => email,
        Err(response) => return response,
    };
    // The form posts back the link's own parameters, encoded anew.
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let token = encode(params.token.as_deref().unwrap_or_default());
    let action = match &params.email {
        Some(_) => format!("/unsubscribe?email={}&token={token}", encode(&email)),
        None => format!("/unsubscribe?token={token}"),
    };
    let body = format!(
        "<p>Unsubscribe <strong>{}</strong> from {}?</p>\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <input type=\"hidden\" name=\"source\" value=\"page\">\
         <button type=\"submit\">Unsubscribe</button></form>",
        escape_html(&email),
        escape_html(&app.name),
        escape_html(&action)
    );
    page(StatusCode::OK, &body)
}

/// The body of an unsubscribe POST.
#[derive(Debug)]
struct Form {
    list_unsubscribe: Option<String>,
    source: Option<String>,
}

/// `POST /unsubscribe` with `List-Unsubscribe=One-Click`, form-encoded or
/// `multipart/form-data` (RFC 8058 §3.2): records the unsubscribe (durably)
/// and answers 200, with no redirect.
async fn unsubscribe(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let email = match verify(&app, &params) {
        Ok(email) => email,
        Err(response) => return response,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let form = match multer::parse_boundary(content_type) {
        Ok(boundary) => match parse_multipart(body, boundary).await {
            Some(form) => form,
            None => {
                return page(StatusCode::BAD_REQUEST, "The form could not be read.");
            }
        },
        Err(_) => parse_form(&body),
    };
    if form.list_unsubscribe.as_deref() != Some("One-Click") {
        return page(
            StatusCode::BAD_REQUEST,
            "Expected List-Unsubscribe=One-Click.",
        );
    }
    // `missive doctor` trying the endpoint: answered as a reader is, and
    // nothing is recorded but the log line.
    if email.eq_ignore_ascii_case(crate::list::token::CANARY) {
        tracing::info!(
            event = "doctor",
            "the one-click check of missive doctor was answered"
        );
        return page(
            StatusCode::OK,
            "You are unsubscribed. You will get no more issues.",
        );
    }
    let source = if form.source.as_deref() == Some("page") {
        "page"
    } else {
        "one-click"
    };
    let app_for_problem = Arc::clone(&app);
    let recorded = tokio::task::spawn_blocking(move || {
        let mut list = app.list.lock().expect("list lock");
        list.catch_up()?;
        if list.suppressed.contains(&email) {
            return Ok(false);
        }
        list.log.append(&email, Event::Unsubscribed, source)?;
        list.catch_up()?;
        tracing::info!(event = %Event::Unsubscribed, source, address = %super::http::shown(&email), "list event");
        Ok::<_, anyhow::Error>(true)
    })
    .await;
    match recorded {
        Ok(Ok(_)) => page(
            StatusCode::OK,
            "You are unsubscribed. You will get no more issues.",
        ),
        Ok(Err(e)) => {
            (app_for_problem.on_problem)(&format!("{e:#}"));
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.",
            )
        }
        Err(_) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong; please try again.",
        ),
    }
}

impl Form {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "List-Unsubscribe" => self.list_unsubscribe = Some(value),
            "source" => self.source = Some(value),
            _ => {}
        }
    }
}

/// A form-encoded body (what most mail clients send).
fn parse_form(body: &[u8]) -> Form {
    let mut form = Form {
        list_unsubscribe: None,
        source: None,
    };
    for (key, value) in url::form_urlencoded::parse(body) {
        form.set(&key, value.into_owned());
    }
    form
}

/// A `multipart/form-data` body; `None` when it cannot be read. Fields are
/// small: a larger one is refused.
async fn parse_multipart(body: Bytes, boundary: String) -> Option<Form> {
    let stream = tokio_stream::once(Ok::<_, std::convert::Infallible>(body));
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().per_field(4096).whole_stream(65536));
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut form = Form {
        list_unsubscribe: None,
        source: None,
    };
    while let Some(field) = multipart.next_field().await.ok()? {
        let name = field.name().unwrap_or("").to_string();
        let value = field.text().await.ok()?;
        form.set(&name, value);
    }
    Some(form)
}
