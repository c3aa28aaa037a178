//! `missive preview`: a local web page showing the issue as a subscriber will
//! see it (desktop and mobile widths, plain text, HTML and MJML sources,
//! check warnings), re-rendered and reloaded whenever the issue, a template
//! or the config is saved. It answers only requests addressed to this
//! machine (no DNS rebinding), with a Content-Security-Policy and the email
//! in a sandboxed frame. Entry point: [`serve`].

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::watch;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::WatchStream;

use crate::compose::{Composed, compose};
use crate::list::reader::Subscriber;
use crate::list::token::Secret;
use crate::send;
use crate::send::message::{UnsubscribeLinks, reader_values};

/// What `missive preview` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub issue: PathBuf,
    pub config: Option<PathBuf>,
    pub bind: IpAddr,
    pub port: u16,
    /// Personalize as this subscriber instead of the first one.
    pub as_email: Option<String>,
}

/// One render, as the page sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Snapshot {
    /// Goes up by one with every render.
    pub version: u64,
    /// The error (file, line, column, the offending line) when it failed.
    pub error: Option<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub mjml: String,
    /// What `check` finds, grouped by kind and ranked, and the last link
    /// check's problems.
    pub warnings: Vec<Finding>,
    pub html_bytes: usize,
    /// The HTML part as sent (quoted-printable), as Gmail weighs it.
    pub html_sent_bytes: usize,
    pub text_bytes: usize,
    /// The inbox line: who it is from, and the first 90 characters of the
    /// preheader (or, without one, of the email) as Gmail shows them.
    pub from: String,
    pub preview_text: String,
    /// Where Gmail clips the email, when it does: the id of the element
    /// (`item-N`, `footer`) the cut falls before.
    pub clip_before: Option<String>,
    /// Whose copy this is.
    pub reader: String,
    pub render_ms: f64,
}

/// Findings of one kind, as the page's panel shows them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finding {
    /// `error`, `warning` or `note`.
    pub level: &'static str,
    pub code: &'static str,
    /// One line for the group.
    pub message: String,
    /// Each finding of it: its item (the page scrolls the email there) and text.
    pub each: Vec<Each>,
}

/// One finding in a group.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Each {
    pub item: Option<u32>,
    pub text: String,
}

/// The panel's groups: `check`'s, then the cached link check's problems.
fn findings(composed: &Composed) -> Vec<Finding> {
    let mut out: Vec<Finding> = crate::compose::check::grouped(&composed.warnings)
        .into_iter()
        .map(|g| Finding {
            level: g.level.as_str(),
            code: g.code.as_str(),
            each: g
                .findings
                .iter()
                .map(|w| Each {
                    item: w.item,
                    text: w.to_string(),
                })
                .collect(),
            message: g.message,
        })
        .collect();
    let links: Vec<Each> = crate::curate::cached_link_problems(composed)
        .iter()
        .map(|c| Each {
            item: c.target.item,
            text: format!(
                "link check: {} ({}): {} {}",
                c.place(),
                c.target.field,
                c.target.url,
                c.verdict
            ),
        })
        .collect();
    if !links.is_empty() {
        let message = match links.as_slice() {
            [one] => one.text.clone(),
            many => {
                let items: Vec<u32> = many.iter().filter_map(|e| e.item).collect();
                format!(
                    "{} links the last link check found dead or moved: items {}",
                    many.len(),
                    crate::compose::check::ranges(&items)
                )
            }
        };
        // Dead links are warnings: after errors and the issue-wide warnings.
        let at = out
            .iter()
            .position(|f| f.level == "note")
            .unwrap_or(out.len());
        out.insert(
            at,
            Finding {
                level: "warning",
                code: "link-check",
                message,
                each: links,
            },
        );
    }
    out
}

/// The server's shared state.
struct App {
    options: Options,
    /// The latest render; the page is told of every new one.
    snapshot: watch::Sender<Arc<Snapshot>>,
    /// The last render that worked, for the send-test button.
    composed: Mutex<Option<Arc<Composed>>>,
    /// Guards the send-test button against other sites: only the page we
    /// served knows it.
    token: String,
}

impl App {
    /// Renders the issue again and publishes the result.
    fn rerender(&self) {
        let started = Instant::now();
        // The config is read anew on every render: an edit to it shows too.
        let composed = crate::project::Project::open(self.options.config.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|project| compose(&project, &self.options.issue));
        let mut snapshot = match composed {
            Ok(composed) => {
                let snapshot = personalized(&composed, self.options.as_email.as_deref());
                *self.composed.lock().expect("lock") = Some(Arc::new(composed));
                snapshot
            }
            Err(e) => Snapshot {
                error: Some(format!("{e:#}")),
                ..Snapshot::default()
            },
        };
        snapshot.render_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.snapshot.send_modify(|current| {
            snapshot.version = current.version + 1;
            *current = Arc::new(snapshot);
        });
    }
}

/// The render filled in for the chosen subscriber.
fn personalized(composed: &Composed, as_email: Option<&str>) -> Snapshot {
    let list = composed
        .project
        .resolve(&composed.project.config.sending.subscribers);
    let reader = pick_reader(&list, as_email);
    let email = reader.email.to_string();
    // Links in a preview must not work: a click on Unsubscribe in the
    // preview must never unsubscribe the reader shown. Sign with a stand-in.
    let secret = Secret::new("missive preview, not a real secret").ok();
    let unsubscribe = &composed.project.config.unsubscribe;
    let links = UnsubscribeLinks::new(unsubscribe, secret.as_ref(), &email);
    let lookup = reader_values(&reader, &email, links.primary());
    let html = composed.rendered.html_merge().fill(&lookup);
    let text = composed.rendered.text_merge().fill(&lookup);
    let issue = &composed.issue.issue;
    let preview_text: String = issue
        .preheader
        .as_ref()
        .map_or_else(
            || text.split_whitespace().collect::<Vec<_>>().join(" "),
            ToString::to_string,
        )
        .chars()
        .take(90)
        .collect();
    // As sent: with `[clicks]`, the click links' bytes too.
    let html_sent_bytes = crate::compose::encoded_len(&html) + composed.rendered.click_bytes;
    let clip_before = (html_sent_bytes > crate::compose::GMAIL_CLIP_BYTES).then(|| {
        let rendered = &composed.rendered;
        match rendered.facts.last_item_before(rendered.clip_offset()) {
            Some(n) => format!("item-{}", n + 1),
            None => "footer".to_string(),
        }
    });
    Snapshot {
        version: 0,
        error: None,
        subject: issue.subject.to_string(),
        html_bytes: html.len(),
        html_sent_bytes,
        text_bytes: text.len(),
        from: composed
            .project
            .config
            .newsletter
            .from
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        preview_text,
        clip_before,
        html,
        text,
        mjml: composed.rendered.mjml.clone(),
        warnings: findings(composed),
        reader: if reader.name.is_empty() {
            email.clone()
        } else {
            format!("{} <{email}>", reader.name)
        },
        render_ms: 0.0,
    }
}

/// The subscriber whose copy is shown: `as_email` if given and on the list,
/// else the first subscribed row, else a stand-in.
fn pick_reader(list: &Path, as_email: Option<&str>) -> Subscriber {
    crate::list::reader::find(list, as_email).unwrap_or_else(|| {
        let address = as_email
            .unwrap_or("reader@example.com")
            .parse()
            .unwrap_or_else(|_| "reader@example.com".parse().expect("a valid address"));
        Subscriber::stand_in(address)
    })
}

/// Runs the preview server until Ctrl-C; `on_ready` is told its URL once it
/// listens.
pub(crate) async fn serve(options: Options, on_ready: impl FnOnce(&str)) -> Result<()> {
    let (snapshot, _) = watch::channel(Arc::new(Snapshot::default()));
    let app = Arc::new(App {
        options: options.clone(),
        snapshot,
        composed: Mutex::new(None),
        token: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
    });
    let first = Arc::clone(&app);
    tokio::task::spawn_blocking(move || first.rerender()).await?;
    let _watcher = watch_inputs(&app)?;

    let listener = tokio::net::TcpListener::bind(SocketAddr::new(options.bind, options.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", options.bind, options.port))?;
    let url = format!("http://{}/", listener.local_addr()?);
    on_ready(&url);
    crate::web::http::serve(listener, router(app), LIMITS, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// The preview serves one author: a few connections, none left idle.
const LIMITS: crate::web::http::Limits = crate::web::http::Limits {
    max_connections: 256,
    header_timeout: Duration::from_secs(10),
};

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/state", get(state))
        .route("/email", get(email))
        .route("/events", get(events))
        .route("/send-test", post(send_test))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            only_this_machine,
        ))
        .with_state(app)
}

/// Refuses a request whose `Host` is not this machine: a page on another
/// site whose name was made to point here (DNS rebinding) must not read
/// the draft or press Send test.
async fn only_this_machine(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host_is_allowed(host, app.options.bind) {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "this preview answers only requests to this machine (localhost)",
        )
            .into_response()
    }
}

/// Whether `host` (a Host header, port optional) names this machine:
/// `localhost`, a loopback address, or the address the preview listens on.
fn host_is_allowed(host: &str, bind: IpAddr) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || (ip == bind && !bind.is_unspecified()))
}

/// The page's policy: its own script only (by nonce), its own server only;
/// the email, in a `srcdoc` frame, inherits it and so runs no script.
fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; \
         img-src * data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// The email on its own: styles and images, nothing else.
const EMAIL_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; \
                            base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

async fn page(State(app): State<Arc<App>>) -> Response {
    let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let html = include_str!("page.html")
        .replace("__MISSIVE_TOKEN__", &app.token)
        .replace("__MISSIVE_NONCE__", &nonce);
    (
        [
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::CONTENT_SECURITY_POLICY, page_policy(&nonce)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::REFERRER_POLICY, "no-referrer".to_string()),
        ],
        Html(html),
    )
        .into_response()
}

async fn state(State(app): State<Arc<App>>) -> Response {
    let snapshot = Arc::clone(&app.snapshot.borrow());
    ([(header::CACHE_CONTROL, "no-store")], Json(&*snapshot)).into_response()
}

async fn email(State(app): State<Arc<App>>) -> Response {
    let snapshot = Arc::clone(&app.snapshot.borrow());
    match &snapshot.error {
        None => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::CONTENT_SECURITY_POLICY, EMAIL_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            Html(snapshot.html.clone()),
        )
            .into_response(),
        Some(error) => (StatusCode::UNPROCESSABLE_ENTITY, error.clone()).into_response(),
    }
}

/// Server-sent events: a `render` event with the version, now and after
/// every new render.
async fn events(
    State(app): State<Arc<App>>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let stream = WatchStream::new(app.snapshot.subscribe())
        .map(|s| Ok(Event::default().event("render").data(s.version.to_string())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Serialize)]
struct SendResult {
    ok: bool,
    message: String,
}

/// The "Send test" button: the current render to `newsletter.test_to`,
/// through the configured transport, as `missive send --test` does.
async fn send_test(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let token = headers
        .get("x-missive-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !constant_time_eq(token.as_bytes(), app.token.as_bytes()) {
        let body = SendResult {
            ok: false,
            message: "refused: this request did not come from the preview page".into(),
        };
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    let composed = app.composed.lock().expect("lock").clone();
    let Some(composed) = composed else {
        let body = SendResult {
            ok: false,
            message: "not sent: the issue has never rendered".into(),
        };
        return (StatusCode::CONFLICT, Json(body)).into_response();
    };
    let result = send::test_message(&composed, None, None).await;
    match result {
        Ok(sent) => Json(SendResult {
            ok: true,
            message: sent.to_string(),
        })
        .into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(SendResult {
                ok: false,
                message: format!("not sent: {e:#}"),
            }),
        )
            .into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type Watcher = notify_debouncer_full::Debouncer<
    notify_debouncer_full::notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

/// Watches the issue, the config and the templates; re-renders on a save.
/// The returned watcher must be kept alive.
fn watch_inputs(app: &Arc<App>) -> Result<Arc<Mutex<Option<Watcher>>>> {
    use notify_debouncer_full::notify::event::{CreateKind, ModifyKind};
    use notify_debouncer_full::notify::{EventKind, RecursiveMode};
    use notify_debouncer_full::{DebounceEventResult, new_debouncer};

    let issue = absolute(&app.options.issue);
    let project = crate::project::Project::open(app.options.config.as_deref()).ok();
    let root = absolute(
        project
            .as_ref()
            .map_or(Path::new("."), |p| p.root.as_path()),
    );
    let config = app
        .options
        .config
        .as_deref()
        .map_or_else(|| root.join(crate::project::FILE_NAME), absolute);
    let templates = root.join("templates");

    let shared: Arc<Mutex<Option<Watcher>>> = Arc::new(Mutex::new(None));
    let watched_files: HashSet<PathBuf> = [issue.clone(), config.clone()].into_iter().collect();
    let templates_dir = templates.clone();
    let handler_app = Arc::clone(app);
    let handler_watcher = Arc::clone(&shared);
    let mut debouncer = new_debouncer(
        Duration::from_millis(20),
        None,
        move |result: DebounceEventResult| {
            let Ok(events) = result else { return };
            // Only changes count: rendering itself opens and reads these
            // files, and must not trigger another render.
            let changed = |kind: &EventKind| {
                matches!(
                    kind,
                    EventKind::Create(_)
                        | EventKind::Remove(_)
                        | EventKind::Modify(
                            ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any
                        )
                )
            };
            let relevant = events.iter().any(|e| {
                changed(&e.kind)
                    && e.paths
                        .iter()
                        .any(|p| watched_files.contains(p) || p.starts_with(&templates_dir))
            });
            // A templates/ made after the preview started is watched from then on.
            let templates_made = events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::Create(CreateKind::Folder | CreateKind::Any)
                ) && e.paths.contains(&templates_dir)
            });
            if templates_made {
                let (watcher, app, dir) = (
                    Arc::clone(&handler_watcher),
                    Arc::clone(&handler_app),
                    templates_dir.clone(),
                );
                // Off the watcher's own thread, which must not wait on itself.
                std::thread::spawn(move || {
                    if let Some(w) = watcher.lock().expect("watcher lock").as_mut() {
                        let _ = w.watch(&dir, RecursiveMode::Recursive);
                    }
                    app.rerender();
                });
            } else if relevant {
                handler_app.rerender();
            }
        },
    )
    .context("cannot watch files for changes")?;
    // Directories, not files: editors often save by writing a new file and
    // renaming it over the old one.
    let mut dirs: Vec<(PathBuf, RecursiveMode)> = vec![
        (
            issue
                .parent()
                .map_or_else(|| root.clone(), Path::to_path_buf),
            RecursiveMode::NonRecursive,
        ),
        (root.clone(), RecursiveMode::NonRecursive),
        (
            config
                .parent()
                .map_or_else(|| root.clone(), Path::to_path_buf),
            RecursiveMode::NonRecursive,
        ),
    ];
    if templates.is_dir() {
        dirs.push((templates, RecursiveMode::Recursive));
    }
    for (dir, mode) in dirs {
        debouncer
            .watch(&dir, mode)
            .with_context(|| format!("cannot watch {}", dir.display()))?;
    }
    *shared.lock().expect("watcher lock") = Some(debouncer);
    Ok(shared)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hosts_naming_this_machine_are_allowed() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        for host in [
            "localhost",
            "localhost:8025",
            "LOCALHOST:1",
            "127.0.0.1:8025",
            "127.1.2.3",
            "[::1]:8025",
            "[::1]",
        ] {
            assert!(host_is_allowed(host, loopback), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:8025",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "192.168.1.20:8025",
            "0.0.0.0:8025",
        ] {
            assert!(!host_is_allowed(host, loopback), "{host}");
        }
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        assert!(host_is_allowed("192.168.1.20:8025", lan));
        assert!(!host_is_allowed("0.0.0.0:8025", "0.0.0.0".parse().unwrap()));
    }
}
