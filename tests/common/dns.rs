//! A real DNS server for the tests: Debian's dnsmasq, configured in a
//! temporary directory, answering on a loopback port from the records it is
//! given and NXDOMAIN for any other name under `.test` and the test
//! networks' reverse zones.

use std::net::{TcpStream, UdpSocket};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub(crate) struct DnsServer {
    child: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl DnsServer {
    /// Starts dnsmasq with these lines of its configuration
    /// (`txt-record=…`, `mx-host=…`, `host-record=…`, `ptr-record=…`).
    pub(crate) fn start(records: &[String]) -> DnsServer {
        let dir = tempfile::tempdir().unwrap();
        let port = {
            // A port free for UDP (dnsmasq takes TCP on it too).
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap().port()
        };
        let mut conf = format!(
            "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n\
             no-poll\nuser=nobody\ngroup=nogroup\npid-file=\nlocal=/test/\n\
             local=/2.0.192.in-addr.arpa/\nlocal=/100.51.198.in-addr.arpa/\n"
        );
        for line in records {
            conf.push_str(line);
            conf.push('\n');
        }
        let path = dir.path().join("dnsmasq.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("dnsmasq")
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", path.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("dnsmasq runs (bash tests/run installs dnsmasq-base)");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "dnsmasq did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        DnsServer {
            child,
            port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:PORT`, for `--dns`.
    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TXT record's line, its value cut into `pieces` strings (a long DKIM
/// key must be: one string holds at most 255 bytes).
pub(crate) fn txt(name: &str, value: &str, pieces: usize) -> String {
    let size = value.len().div_ceil(pieces.max(1));
    let strings: Vec<String> = value
        .as_bytes()
        .chunks(size.max(1))
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("txt-record={name},{}", strings.join(","))
}
