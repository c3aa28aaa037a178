//! Where bounces are read: a Maildir (processed messages move to `cur/`
//! with the seen flag, never deleted), an mbox (read only; what was
//! processed is remembered in `.missive/`), or an IMAP folder named by an
//! `imaps://` URL (read by [`imap`](super::imap)). The Maildir and mbox readers are `mail-parser`'s.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use mail_parser::mailbox::mbox;

/// A mailbox named on the command line or in `[bounces] mailbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mailbox {
    Maildir(PathBuf),
    Mbox(PathBuf),
    Imap(ImapUrl),
}

impl Mailbox {
    /// Reads `maildir:PATH`, `mbox:PATH`, `imaps://…`, `imap://…`, or a
    /// path (a directory is a Maildir, a file an mbox); relative paths are
    /// taken from `root`.
    pub(crate) fn parse(spec: &str, root: &Path) -> Result<Mailbox> {
        let spec = spec.trim();
        if spec.starts_with("imaps://") || spec.starts_with("imap://") {
            return ImapUrl::parse(spec).map(Mailbox::Imap);
        }
        if let Some(path) = spec.strip_prefix("maildir:") {
            return Ok(Mailbox::Maildir(root.join(path)));
        }
        if let Some(path) = spec.strip_prefix("mbox:") {
            return Ok(Mailbox::Mbox(root.join(path)));
        }
        let path = root.join(spec);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Ok(Mailbox::Maildir(path)),
            Ok(_) => Ok(Mailbox::Mbox(path)),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot read the mailbox {}: name a Maildir directory, an mbox file, \
                     or imaps://user@host/FOLDER",
                    path.display()
                )
            }),
        }
    }

    /// How the mailbox is named in reports (never with a password).
    pub(crate) fn label(&self) -> String {
        match self {
            Mailbox::Maildir(p) => format!("maildir:{}", p.display()),
            Mailbox::Mbox(p) => format!("mbox:{}", p.display()),
            Mailbox::Imap(url) => url.to_string(),
        }
    }
}

/// One message read from a mailbox.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// How reports name it: its file name, `#N` in an mbox, `UID N`.
    pub source: String,
    /// Where it is, so that it can be marked processed.
    pub place: Place,
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// A file of a Maildir's `new/` or `cur/`.
    File(PathBuf),
    /// A message of a read-only mbox.
    Mbox,
    /// A message of the selected IMAP folder.
    Uid(u32),
}

/// The messages of a Maildir (`new/` and `cur/`) not yet flagged seen, in
/// the order of their names (which start with the time they arrived): file
/// names only, so each is read when its batch comes and one already judged
/// not to be a bounce is never read again.
pub(crate) fn maildir_files(path: &Path) -> Result<Vec<PathBuf>> {
    let dirs = [path.join("new"), path.join("cur")];
    if !dirs.iter().all(|d| d.is_dir()) {
        bail!("{}: not a Maildir (no cur/ and new/)", path.display());
    }
    let mut files = Vec::new();
    for dir in &dirs {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let seen = name
                .split_once(":2,")
                .is_some_and(|(_, flags)| flags.contains('S'));
            if !name.starts_with('.') && !seen && entry.file_type().is_ok_and(|t| t.is_file()) {
                files.push(entry.path());
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// One message file of a Maildir.
pub(crate) fn read_maildir_file(file: &Path) -> Result<Incoming> {
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(Incoming {
        source: file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        place: Place::File(file.to_path_buf()),
        raw,
    })
}

/// Where a message is, as a key that holds from one run to the next: a
/// Maildir file's unique name (without its flags), an IMAP message's UID
/// with the folder's validity; none in an mbox.
pub(crate) fn place_key(place: &Place, source: &str) -> Option<String> {
    match place {
        Place::File(file) => {
            let name = file.file_name()?.to_string_lossy().into_owned();
            let base = name.split_once(":2,").map_or(name.as_str(), |(b, _)| b);
            Some(format!("file:{base}"))
        }
        Place::Uid(_) => Some(format!("imap:{source}")),
        Place::Mbox => None,
    }
}

/// The messages of an mbox file, read one at a time.
pub(crate) fn read_mbox(path: &Path) -> Result<impl Iterator<Item = Result<Incoming>>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read the mailbox {}", path.display()))?;
    let path = path.to_path_buf();
    Ok(mbox::MessageIterator::new(std::io::BufReader::new(file))
        .enumerate()
        .map(move |(i, message)| {
            let message = message
                .with_context(|| format!("cannot read message {} of {}", i + 1, path.display()))?;
            Ok(Incoming {
                source: format!("#{}", i + 1),
                place: Place::Mbox,
                raw: message.unwrap_contents(),
            })
        }))
}

/// Marks a Maildir message processed: moved to `cur/` with the seen flag
/// (`:2,S`, its other flags kept).
pub(crate) fn mark_seen(file: &Path) -> Result<()> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (base, flags) = match name.split_once(":2,") {
        Some((base, flags)) => (base.to_string(), flags.to_string()),
        None => (name.clone(), String::new()),
    };
    let mut flags: Vec<char> = flags.chars().chain(['S']).collect();
    flags.sort_unstable();
    flags.dedup();
    let Some(folder) = file.parent().and_then(Path::parent) else {
        bail!("{}: not in a Maildir", file.display());
    };
    let to = folder.join("cur").join(format!(
        "{base}:2,{}",
        flags.into_iter().collect::<String>()
    ));
    std::fs::rename(file, &to)
        .with_context(|| format!("cannot move {} to {}", file.display(), to.display()))
}

/// The environment variable holding the IMAP password.
pub(crate) const PASSWORD_ENV: &str = "MISSIVE_BOUNCES_PASSWORD";

/// `imaps://user@host[:port]/FOLDER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImapUrl {
    pub tls: bool,
    pub user: String,
    pub host: String,
    pub port: u16,
    pub folder: String,
}

impl ImapUrl {
    pub(crate) fn parse(spec: &str) -> Result<ImapUrl> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("box"), "").unwrap();
        let root = dir.path();
        assert_eq!(
            Mailbox::parse("maildir:Mail/bounces", root).unwrap(),
            Mailbox::Maildir(root.join("Mail/bounces"))
        );
        assert_eq!(
            Mailbox::parse(".", root).unwrap(),
            Mailbox::Maildir(root.join("."))
        );
        assert_eq!(
            Mailbox::parse("box", root).unwrap(),
            Mailbox::Mbox(root.join("box"))
        );
        assert!(Mailbox::parse("missing", root).is_err());
        assert!(matches!(
            Mailbox::parse("imaps://b@mail.example.com/INBOX", root),
            Ok(Mailbox::Imap(_))
        ));
    }

    #[test]
    fn seen_messages_move_to_cur_with_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("new/1.a.host"), "x").unwrap();
        std::fs::write(dir.path().join("cur/2.b.host:2,F"), "y").unwrap();
        let found = maildir_files(dir.path()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(read_maildir_file(&found[0]).unwrap().raw, b"x");
        let keys: Vec<_> = found
            .iter()
            .map(|f| place_key(&Place::File(f.clone()), "").unwrap())
            .collect();
        assert_eq!(keys, ["file:1.a.host", "file:2.b.host"]);
        for f in &found {
            mark_seen(f).unwrap();
        }
        assert!(dir.path().join("cur/1.a.host:2,S").exists());
        assert!(dir.path().join("cur/2.b.host:2,FS").exists());
        assert!(maildir_files(dir.path()).unwrap().is_empty());
        // A file's place keeps its key whatever its flags.
        assert_eq!(
            place_key(&Place::File(dir.path().join("cur/2.b.host:2,FS")), ""),
            Some("file:2.b.host".into())
        );
    }

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
