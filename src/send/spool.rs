//! Mail that must not be lost on its way out: each message `missive serve`
//! sends (a confirmation, a welcome) is first written to `.missive/spool/`
//! as one file (atomically and synced: what it is for, then the message as
//! it will go on the wire), and the file is removed only once the relay
//! took the message or refused it for good. Whatever is still there when
//! the server stops — a crash, a kill, a relay that was down — is sent when
//! it starts again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use lettre::Message;
use lettre::address::{Address, Envelope};
use serde::{Deserialize, Serialize};

/// The spool's folder in the project's state directory.
pub(crate) fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("spool")
}

/// What a spooled message is for: its first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// The lower-cased recipient, for the journal and reports.
    pub email: String,
    /// The journal (an issue's stem, or `signup` for confirmations) its
    /// outcome is written to, naming the relay, so it counts against the
    /// relay's daily limit.
    pub journal: String,
    /// The envelope sender (the bounce address), if any.
    pub from: Option<String>,
    pub to: Vec<String>,
    /// When it was spooled (written as RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub queued: time::OffsetDateTime,
}

/// A message in the spool.
#[derive(Debug, Clone)]
pub(crate) struct Spooled {
    pub path: PathBuf,
    pub meta: Meta,
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
}

/// Writes `message` into the spool at `dir`, durably, before anyone is
/// told it is on its way.
pub(crate) fn put(dir: &Path, message: &Message, email: &str, journal: &str) -> Result<Spooled> {
    crate::fsutil::create_private_dir(dir)?;
    let envelope = message.envelope().clone();
    let meta = Meta {
        email: email.to_string(),
        journal: journal.to_string(),
        from: envelope.from().map(ToString::to_string),
        to: envelope.to().iter().map(ToString::to_string).collect(),
        queued: time::OffsetDateTime::now_utc(),
    };
    let bytes = message.formatted();
    let mut file = serde_json::to_vec(&meta).expect("a spool entry serializes");
    file.push(b'\n');
    file.extend_from_slice(&bytes);
    let name = format!(
        "{}-{:016x}.msg",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
        fastrand::u64(..)
    );
    let path = dir.join(name);
    crate::fsutil::write_atomic(&path, &file, Some(crate::fsutil::PRIVATE_FILE))?;
    Ok(Spooled {
        path,
        meta,
        envelope,
        bytes,
    })
}

/// Reads one spooled message back.
pub(crate) fn read(path: &Path) -> Result<Spooled> {
    let file = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let split = file
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| anyhow!("{}: not a spooled message", path.display()))?;
    let meta: Meta = serde_json::from_slice(&file[..split])
        .with_context(|| format!("{}: not a spooled message", path.display()))?;
    let address = |a: &str| {
        a.parse::<Address>()
            .with_context(|| format!("{}: {a} is not an address", path.display()))
    };
    let from = meta.from.as_deref().map(address).transpose()?;
    let to = meta
        .to
        .iter()
        .map(|a| address(a))
        .collect::<Result<Vec<_>>>()?;
    let envelope =
        Envelope::new(from, to).with_context(|| format!("{}: no recipient", path.display()))?;
    Ok(Spooled {
        path: path.to_path_buf(),
        meta,
        envelope,
        bytes: file[split + 1..].to_vec(),
    })
}

/// The messages waiting in the spool at `dir`, oldest first (none if it
/// does not exist). A file that cannot be read is left where it is and
/// reported to `on_damaged`.
pub(crate) fn waiting(dir: &Path, on_damaged: impl Fn(&anyhow::Error)) -> Vec<Spooled> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "msg"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| read(p).map_err(|e| on_damaged(&e)).ok())
        .collect()
}

/// Removes a message from the spool: it went, or will never go.
pub(crate) fn remove(spooled: &Spooled) -> Result<()> {
    match std::fs::remove_file(&spooled.path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", spooled.path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_message_reads_back_as_it_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let message = Message::builder()
            .from("Matt <matt@example.com>".parse().unwrap())
            .to("ada@example.org".parse().unwrap())
            .subject("Please confirm")
            .body(String::from("Hello there"))
            .unwrap();
        let spooled = put(
            &dir.path().join("spool"),
            &message,
            "ada@example.org",
            "signup",
        )
        .unwrap();
        let back = waiting(&dir.path().join("spool"), |e| panic!("{e:#}"));
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].meta, spooled.meta);
        assert_eq!(back[0].bytes, message.formatted());
        assert_eq!(back[0].envelope, *message.envelope());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&back[0].path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        remove(&back[0]).unwrap();
        assert!(waiting(&dir.path().join("spool"), |e| panic!("{e:#}")).is_empty());
        // A damaged file is reported and left alone.
        std::fs::write(dir.path().join("spool/1-x.msg"), b"not json\nbody").unwrap();
        let damaged = std::cell::Cell::new(0);
        assert!(
            waiting(&dir.path().join("spool"), |_| damaged
                .set(damaged.get() + 1))
            .is_empty()
        );
        assert_eq!(damaged.get(), 1);
    }
}
