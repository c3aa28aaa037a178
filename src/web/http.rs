//! Serving HTTP with limits, for `serve` and `preview`: at most so many
//! connections at once (more wait to be accepted), headers that must
//! arrive within a timeout (which also closes idle keep-alive connections),
//! and a file-descriptor limit raised so the cap, not the OS, is what binds.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How much a server lets its clients take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections served at once; further ones wait in the listen queue.
    pub max_connections: usize,
    /// A request's headers must arrive within this; an idle keep-alive
    /// connection is closed after it.
    pub header_timeout: Duration,
}

/// Raises this process's limit on open files to the most it may have, and
/// returns that limit.
pub(crate) fn raise_open_files_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves,
/// then gives open requests a moment to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open_files = raise_open_files_limit();
    // Leave room for the files the server itself opens.
    let cap = limits
        .max_connections
        .min(usize::try_from(open_files.saturating_sub(64)).unwrap_or(usize::MAX))
        .max(1);
    let slots = Arc::new(Semaphore::new(cap));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => if let Ok(accepted) = accepted { accepted } else {
                // Out of file descriptors or a connection reset before
                // it was accepted: wait a little instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Handlers that need it (the sign-up limits) read the peer's address.
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    // Let requests in progress finish (long-lived streams are cut).
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        slots.acquire_many(u32::try_from(cap).unwrap_or(u32::MAX)),
    )
    .await;
}

/// The IP address a request came from: the peer's, or behind a proxy on
/// this machine the last entry of `X-Forwarded-For` — the one the proxy
/// added; the entries before it are whatever the client sent.
pub(crate) fn client_ip(behind_proxy: bool, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if behind_proxy && peer.ip().is_loopback() {
        let last = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back();
        // An entry the proxy wrote that cannot be read: the proxy's own
        // address, so such requests share one limit.
        last.and_then(forwarded_ip).unwrap_or_else(|| peer.ip())
    } else {
        peer.ip()
    }
}

/// An `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]` or
/// `[::1]:80`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse::<IpAddr>().ok())
}

/// Logs each request once answered: method, path (never the query, which
/// carries tokens), status and time taken.
pub(crate) async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// An address as the log shows it: masked, unless `MISSIVE_LOG` asks for
/// debug detail.
pub(super) fn shown(email: &str) -> String {
    if tracing::enabled!(tracing::Level::DEBUG) {
        email.to_string()
    } else {
        crate::list::address::masked(email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxys_entry_is_read_whatever_its_form() {
        for (entry, ip) in [
            ("203.0.113.9", "203.0.113.9"),
            (" 203.0.113.9:5678", "203.0.113.9"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
        ] {
            assert_eq!(forwarded_ip(entry), Some(ip.parse().unwrap()), "{entry}");
        }
        assert_eq!(forwarded_ip("unknown"), None);
    }
}
