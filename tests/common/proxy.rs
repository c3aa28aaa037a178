//! A TCP proxy for the wire tests and the send benchmark's round trips: it
//! forwards a client to a server on loopback, holds each chunk `delay` in
//! each direction (a relay that far away), and counts the client's turns —
//! each time the client writes after the server last spoke, which is one
//! round trip the client waited for.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub(crate) struct Proxy {
    pub port: u16,
    turns: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on a free loopback port, forwarding to `target`.
    pub(crate) fn start(target: u16, delay: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let turns = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&turns);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                // Whose turn it was last: the server's greeting comes first.
                let server_spoke = Arc::new(AtomicBool::new(true));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (spoke, turns) = (Arc::clone(&server_spoke), Arc::clone(&counted));
                std::thread::spawn(move || {
                    pump(client, server, delay, |_| {
                        if spoke.swap(false, Ordering::SeqCst) {
                            turns.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                });
                std::thread::spawn(move || {
                    pump(s2, c2, delay, |_| {
                        server_spoke.store(true, Ordering::SeqCst);
                    });
                });
            }
        });
        Proxy { port, turns }
    }

    /// The client's turns so far (round trips it waited for, the
    /// connection's own included).
    pub(crate) fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to`, each chunk held `delay` first, calling `seen`
/// with each chunk.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration, seen: impl Fn(&[u8])) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = to.shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => {
                seen(&buf[..n]);
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
