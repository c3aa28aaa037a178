//! Bounces from an IMAP folder (`async-imap` on tokio): TLS verified
//! (`imaps://`), the password from `MISSIVE_BOUNCES_PASSWORD`, unseen messages fetched without marking them
//! read, and only those processed flagged `\Seen` (and moved to the
//! processed folder, when there is one).

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_imap::Client;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_stream::StreamExt as _;

use super::mailbox::{ImapUrl, Incoming, Place};

/// How to reach the server: the URL, the password, the extra root
/// certificate (its path and PEM bytes) and the folder processed messages
/// go to.
pub(crate) struct Settings<'a> {
    pub url: &'a ImapUrl,
    pub password: String,
    pub ca: Option<(PathBuf, Vec<u8>)>,
    pub processed_folder: Option<&'a str>,
}

/// Fetches the folder's unseen messages `batch` at a time (leaving out
/// those `known` says were judged before), hands each batch to `process`
/// (which says which were processed), and flags (and moves) those before
/// the next batch. Messages left unprocessed stay unseen.
pub(crate) async fn run(
    settings: &Settings<'_>,
    batch: usize,
    known: impl Fn(&Place, &str) -> bool,
    process: impl FnMut(Vec<Incoming>) -> Result<Vec<bool>>,
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
        let config = crate::tls::client_config(ca, "bounces.ca_file")?;
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| anyhow!("{url}: {e}"))?;
        let tls = step(
            url,
            "TLS failed",
            tokio_rustls::TlsConnector::from(config).connect(name, tcp),
        )
        .await?;
        session(Client::new(tls), settings, batch, known, process).await
    } else {
        session(Client::new(tcp), settings, batch, known, process).await
    }
}

async fn session<T>(
    mut client: Client<T>,
    settings: &Settings<'_>,
    batch: usize,
    known: impl Fn(&Place, &str) -> bool,
    mut process: impl FnMut(Vec<Incoming>) -> Result<Vec<bool>>,
) -> Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let url = settings.url;
    step(url, "no greeting", client.read_response())
        .await?
        .ok_or_else(|| anyhow!("{url}: the server closed the connection"))?;
    let mut imap =
        match tokio::time::timeout(STEP, client.login(&url.user, &settings.password)).await {
            Err(_) => bail!("{url}: no answer to the login within {} s", STEP.as_secs()),
            Ok(Err((e, _))) => bail!("{url}: login refused: {e}"),
            Ok(Ok(session)) => session,
        };
    if settings.processed_folder.is_some() {
        let capabilities = step(
            url,
            "cannot ask the server's capabilities",
            imap.capabilities(),
        )
        .await?;
        if !capabilities.has_str("MOVE") {
            bail!(
                "{url}: the server cannot MOVE messages (RFC 6851): unset \
                 [bounces] processed_folder to leave processed bounces in the folder, flagged seen"
            );
        }
    }
    let folder = step(url, "cannot open the folder", imap.select(&url.folder)).await?;
    let validity = folder.uid_validity.unwrap_or(0);
    let mut uids: Vec<u32> = step(url, "cannot search the folder", imap.uid_search("UNSEEN"))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    let source = |uid: u32| format!("UID {uid} ({validity})");
    // Mail already judged not to be a bounce stays unseen for a person,
    // and is not fetched again.
    uids.retain(|uid| !known(&Place::Uid(*uid), &source(*uid)));
    for chunk in uids.chunks(batch.max(1)) {
        let mut incoming = Vec::with_capacity(chunk.len());
        let set = uid_set(chunk);
        let mut fetches = step(
            url,
            "cannot fetch messages",
            imap.uid_fetch(&set, "(UID BODY.PEEK[])"),
        )
        .await?;
        while let Some(fetch) = step(url, "cannot fetch messages", async {
            fetches.next().await.transpose()
        })
        .await?
        {
            let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                continue;
            };
            incoming.push(Incoming {
                source: source(uid),
                place: Place::Uid(uid),
                raw: body.to_vec(),
            });
        }
        drop(fetches);
        let places: Vec<Place> = incoming.iter().map(|m| m.place.clone()).collect();
        // Recorded (and synced) before any is flagged or moved.
        let processed = process(incoming)?;
        let done: Vec<u32> = places
            .iter()
            .zip(processed)
            .filter_map(|(place, done)| match place {
                Place::Uid(uid) if done => Some(*uid),
                _ => None,
            })
            .collect();
        if done.is_empty() {
            continue;
        }
        let set = uid_set(&done);
        let flagged = step(
            url,
            "cannot flag messages seen",
            imap.uid_store(&set, "+FLAGS.SILENT (\\Seen)"),
        )
        .await?;
        drop(flagged.collect::<Vec<_>>().await);
        if let Some(to) = settings.processed_folder {
            // Created on first use; an error here means it exists.
            let _ = step(url, "cannot create the folder", imap.create(to)).await;
            step(url, "cannot move messages", imap.uid_mv(&set, to)).await?;
        }
    }
    let _ = tokio::time::timeout(STEP, imap.logout()).await;
    Ok(())
}

/// How long any one exchange with the server may take.
const STEP: Duration = Duration::from_mins(2);

/// `fut`, given [`STEP`] to finish; its error, or the lack of an answer,
/// says `what` went wrong with `url`.
async fn step<T, E>(url: &ImapUrl, what: &str, fut: impl Future<Output = Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(STEP, fut).await {
        Err(_) => bail!("{url}: {what}: no answer within {} s", STEP.as_secs()),
        Ok(result) => result.with_context(|| format!("{url}: {what}")),
    }
}

/// `1,2,5` for an IMAP command.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
