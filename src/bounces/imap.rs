//! Bounces from an IMAP folder (`async-imap` on tokio): TLS verified
//! (`imaps://`; plain `imap://` only to this machine), the password from
//! `MISSIVE_BOUNCES_PASSWORD`, unseen messages fetched without marking them
//! read, and only those processed flagged `\Seen` (and moved to the
//! processed folder, when there is one).

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use async_imap::Client;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_stream::StreamExt as _;

use super::mailbox::{Incoming, Place};

/// The environment variable holding the IMAP password.
pub const PASSWORD_ENV: &str = "MISSIVE_BOUNCES_PASSWORD";

/// `imaps://user@host[:port]/FOLDER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub tls: bool,
    pub user: String,
    pub host: String,
    pub port: u16,
    pub folder: String,
}

impl ImapUrl {
    pub fn parse(spec: &str) -> Result<ImapUrl> {
        let url = url::Url::parse(spec).with_context(|| format!("{spec}: not an IMAP URL"))?;
        let tls = match url.scheme() {
            "imaps" => true,
            "imap" => false,
            other => {
                bail!("{spec}: the scheme must be imaps (or imap to this machine), not {other}")
            }
        };
        if url.password().is_some() {
            bail!("{spec}: put the password in {PASSWORD_ENV}, not in the URL");
        }
        let user = percent_decode(url.username());
        if user.is_empty() {
            bail!("{spec}: name the user: imaps://user@host/FOLDER");
        }
        let host = url
            .host_str()
            .ok_or_else(|| anyhow!("{spec}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let folder = percent_decode(url.path().trim_start_matches('/'));
        let parsed = ImapUrl {
            tls,
            user,
            port: url.port().unwrap_or(if tls { 993 } else { 143 }),
            folder: if folder.is_empty() {
                "INBOX".into()
            } else {
                folder
            },
            host,
        };
        if !tls && !parsed.is_loopback() {
            bail!(
                "{spec}: plain imap:// would send the password in clear; use imaps:// \
                 (imap:// is only for a server on this machine)"
            );
        }
        Ok(parsed)
    }

    fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl fmt::Display for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "imaps" } else { "imap" };
        write!(
            f,
            "{scheme}://{}@{}:{}/{}",
            self.user, self.host, self.port, self.folder
        )
    }
}

/// How to reach the server: the URL, the password, the extra root
/// certificate (its path and PEM bytes) and the folder processed messages
/// go to.
pub struct Settings<'a> {
    pub url: &'a ImapUrl,
    pub password: String,
    pub ca: Option<(PathBuf, Vec<u8>)>,
    pub processed_folder: Option<&'a str>,
}

/// Fetches the folder's unseen messages, hands them to `process` (which
/// says which were processed), and flags (and moves) those. Messages left
/// unprocessed stay unseen.
pub async fn run(
    settings: &Settings<'_>,
    process: impl FnOnce(Vec<Incoming>) -> Result<Vec<bool>>,
) -> Result<()> {
    let url = settings.url;
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        TcpStream::connect((url.host.as_str(), url.port)),
    )
    .await
    .map_err(|_| anyhow!("{url}: no connection within 30 s"))?
    .with_context(|| format!("cannot connect to {url}"))?;
    if url.tls {
        let ca = settings
            .ca
            .as_ref()
            .map(|(path, pem)| (path.as_path(), pem.as_slice()));
        let config = crate::send::tls_config(ca, "bounces.ca_file")?;
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| anyhow!("{url}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .with_context(|| format!("{url}: TLS failed"))?;
        session(Client::new(tls), settings, process).await
    } else {
        session(Client::new(tcp), settings, process).await
    }
}

async fn session<T>(
    mut client: Client<T>,
    settings: &Settings<'_>,
    process: impl FnOnce(Vec<Incoming>) -> Result<Vec<bool>>,
) -> Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let url = settings.url;
    client
        .read_response()
        .await
        .with_context(|| format!("{url}: no greeting"))?
        .ok_or_else(|| anyhow!("{url}: the server closed the connection"))?;
    let mut imap = client
        .login(&url.user, &settings.password)
        .await
        .map_err(|(e, _)| anyhow!("{url}: login refused: {e}"))?;
    let folder = imap
        .select(&url.folder)
        .await
        .with_context(|| format!("{url}: cannot open the folder"))?;
    let validity = folder.uid_validity.unwrap_or(0);
    let mut uids: Vec<u32> = imap
        .uid_search("UNSEEN")
        .await
        .with_context(|| format!("{url}: cannot search the folder"))?
        .into_iter()
        .collect();
    uids.sort_unstable();
    let mut incoming = Vec::with_capacity(uids.len());
    for chunk in uids.chunks(500) {
        let set = uid_set(chunk);
        let mut fetches = imap
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await
            .with_context(|| format!("{url}: cannot fetch messages"))?;
        while let Some(fetch) = fetches.next().await {
            let fetch = fetch.with_context(|| format!("{url}: cannot fetch messages"))?;
            let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                continue;
            };
            incoming.push(Incoming {
                source: format!("UID {uid} ({validity})"),
                place: Place::Uid(uid),
                raw: body.to_vec(),
            });
        }
    }
    let places: Vec<Place> = incoming.iter().map(|m| m.place.clone()).collect();
    let processed = process(incoming)?;
    let done: Vec<u32> = places
        .iter()
        .zip(processed)
        .filter_map(|(place, done)| match place {
            Place::Uid(uid) if done => Some(*uid),
            _ => None,
        })
        .collect();
    for chunk in done.chunks(500) {
        let set = uid_set(chunk);
        let flagged = imap
            .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
            .await
            .with_context(|| format!("{url}: cannot flag messages seen"))?;
        drop(flagged.collect::<Vec<_>>().await);
        if let Some(to) = settings.processed_folder {
            // Created on first use; an error here means it exists.
            let _ = imap.create(to).await;
            imap.uid_mv(&set, to)
                .await
                .with_context(|| format!("{url}: cannot move messages to {to}"))?;
        }
    }
    imap.logout().await.ok();
    Ok(())
}

/// `1,2,5` for an IMAP command.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_user_host_port_and_folder() {
        let u =
            ImapUrl::parse("imaps://bounces%40news.example.com@mail.example.com/Bounces").unwrap();
        assert_eq!(u.user, "bounces@news.example.com");
        assert_eq!((u.host.as_str(), u.port), ("mail.example.com", 993));
        assert_eq!(u.folder, "Bounces");
        assert_eq!(ImapUrl::parse("imaps://b@h:1993").unwrap().folder, "INBOX");
        assert!(ImapUrl::parse("imap://b@127.0.0.1:1143/INBOX").is_ok());
        assert!(ImapUrl::parse("imap://b@mail.example.com/INBOX").is_err());
        assert!(ImapUrl::parse("imaps://b:secret@h/INBOX").is_err());
        assert!(ImapUrl::parse("imaps://h/INBOX").is_err());
    }
}
