//! missive's own SMTP connection: a TCP socket, under TLS from the start or
//! after STARTTLS (rustls), whose replies are read line by line within
//! bounds and parsed by lettre, and whose writes are made of borrowed
//! pieces written vectored — a message goes from where it lies to the
//! socket without a copy. lettre still words the commands (EHLO, MAIL,
//! RCPT, AUTH) and parses the replies; what a reply means is for the
//! caller.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::response::Response;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A server's reply.
pub(super) type Reply = Response;

/// The longest reply line, and the longest reply, missive reads.
const MAX_LINE: u64 = 4096;
const MAX_REPLY: usize = 64 * 1024;

/// The socket, plain or under TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An SMTP connection.
pub(super) struct Connection {
    reader: BufReader<Stream>,
}

impl Connection {
    /// Connects to `host:port`, Nagle's algorithm off (a message's last
    /// piece must not wait for the ACK of the one before).
    pub(super) async fn tcp(host: &str, port: u16) -> std::io::Result<Connection> {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::new(Stream::Plain(tcp)),
        })
    }

    /// The same connection under TLS (implicit TLS before the greeting,
    /// or after STARTTLS was answered 220). Anything the server sent
    /// before the handshake and missive has not read is dropped, never
    /// taken as said under TLS.
    pub(super) async fn tls(
        self,
        config: &Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> std::io::Result<Connection> {
        let Stream::Plain(tcp) = self.reader.into_inner() else {
            return Err(std::io::Error::other("the connection is under TLS already"));
        };
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
            .connect(name, tcp)
            .await?;
        Ok(Connection {
            reader: BufReader::new(Stream::Tls(Box::new(tls))),
        })
    }

    pub(super) fn is_encrypted(&self) -> bool {
        matches!(self.reader.get_ref(), Stream::Tls(_))
    }

    /// Writes `pieces` as one, vectored, and flushes.
    pub(super) async fn write(&mut self, pieces: &[&[u8]]) -> std::io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = pieces
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p))
            .collect();
        let mut rest = &mut slices[..];
        let stream = self.reader.get_mut();
        while !rest.is_empty() {
            let n = stream.write_vectored(rest).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, n);
        }
        stream.flush().await
    }

    /// The next reply, whatever its code; `Err` says why there is none
    /// (the connection broke or closed, or the server wrote something
    /// that is not a reply).
    pub(super) async fn reply(&mut self) -> Result<Reply, String> {
        let mut text = Vec::with_capacity(128);
        loop {
            let start = text.len();
            let read = (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut text)
                .await
                .map_err(|e| e.to_string())?;
            if read == 0 {
                return Err("the server closed the connection".into());
            }
            let line = &text[start..];
            if !line.ends_with(b"\n") {
                return Err("the server sent a reply line too long, or cut short".into());
            }
            if text.len() > MAX_REPLY {
                return Err("the server sent a reply too long".into());
            }
            // `250-…` goes on; `250 …` (or a bare `250`) ends the reply.
            if line.get(3) != Some(&b'-') {
                break;
            }
        }
        let text = String::from_utf8_lossy(&text);
        text.parse::<Reply>()
            .map_err(|e| format!("the server sent no reply but {:?} ({e})", text.trim_end()))
    }

    /// Writes one command and reads its reply.
    pub(super) async fn command(&mut self, command: &str) -> Result<Reply, String> {
        self.write(&[command.as_bytes()])
            .await
            .map_err(|e| e.to_string())?;
        self.reply().await
    }

    /// Says QUIT and waits for the reply.
    pub(super) async fn quit(&mut self) {
        let _ = self.command("QUIT\r\n").await;
        self.abort().await;
    }

    /// Closes the socket without a word.
    pub(super) async fn abort(&mut self) {
        let _ = self.reader.get_mut().shutdown().await;
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connection to a listener that writes `said` and hangs up.
    async fn hearing(said: Vec<u8>) -> Connection {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.write_all(&said).await.unwrap();
        });
        Connection::tcp("127.0.0.1", port).await.unwrap()
    }

    #[tokio::test]
    async fn replies_are_read_whole_one_at_a_time() {
        let mut conn =
            hearing(b"250-first\r\n250-second\r\n250 last\r\n354 go on\r\n".to_vec()).await;
        let reply = conn.reply().await.unwrap();
        assert_eq!(
            reply.message().collect::<Vec<_>>(),
            ["first", "second", "last"]
        );
        assert_eq!(u16::from(conn.reply().await.unwrap().code()), 354);
    }

    #[tokio::test]
    async fn what_is_not_a_reply_is_refused() {
        let long = format!("250 {}\r\n", "x".repeat(5000)).into_bytes();
        let endless = "250-x\r\n".repeat(10_000).into_bytes();
        for said in [
            b"hello there\r\n".to_vec(),
            long,
            endless,
            b"250 cut".to_vec(),
        ] {
            let mut conn = hearing(said.clone()).await;
            let read = conn.reply().await;
            assert!(
                read.is_err(),
                "{:?}",
                String::from_utf8_lossy(&said[..said.len().min(40)])
            );
        }
    }
}
