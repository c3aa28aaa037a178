//! Writing files that matter: whole files replaced atomically (temp file in
//! the same directory, fsync, rename, fsync the directory), append-only logs
//! opened private (0600) with a torn last line repaired, and directories of
//! state kept private.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The permissions of files that hold subscribers' addresses.
pub const PRIVATE_FILE: u32 = 0o600;
/// The permissions of `.missive/`.
pub const PRIVATE_DIR: u32 = 0o700;

/// Replaces `path` with `contents` so that a reader (or a crash) sees the old
/// file or the new one, never half of either. `mode` sets the new file's
/// permissions; `None` keeps those of the file being replaced (or the
/// default for a new one).
pub fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{name}.{:08x}.tmp",
        fastrand::u32(..) ^ std::process::id()
    ));
    let mode = mode.or_else(|| existing_mode(path));
    let written = (|| -> std::io::Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            // The umask may have narrowed it; set it exactly.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(unix)]
fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn existing_mode(_: &Path) -> Option<u32> {
    None
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` (and its parents) if needed; a new directory is private.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// The current time as RFC 3339 (UTC), as log lines record it.
pub fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

/// What [`open_log`] found at the end of an existing log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Empty, or ending with a newline.
    Clean,
    /// The last line had no newline; it was kept and its newline added.
    Completed,
    /// The last line had no newline and was cut off.
    CutOff,
}

/// Opens an append-only log of lines, creating it private (0600) with the
/// directory. A last line left without its newline by a crash is handed to
/// `keep`: when it says the line is whole, its newline is added; otherwise
/// the line is cut off. Either way the next line starts on a line of its own.
pub fn open_log(path: &Path, keep: impl Fn(&[u8]) -> bool) -> Result<(File, Tail)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let tail = repair_tail(&mut file, keep)
        .with_context(|| format!("cannot repair {}", path.display()))?;
    Ok((file, tail))
}

fn repair_tail(file: &mut File, keep: impl Fn(&[u8]) -> bool) -> std::io::Result<Tail> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Tail::Clean);
    }
    // Read back until the last newline before the end (a line is short).
    let mut window = 4096u64;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(window as usize);
        Read::by_ref(file).take(window).read_to_end(&mut buf)?;
        if buf.last() == Some(&b'\n') {
            return Ok(Tail::Clean);
        }
        match buf.iter().rposition(|b| *b == b'\n') {
            Some(i) => return finish_tail(file, start + i as u64 + 1, &buf[i + 1..], keep),
            None if start == 0 => return finish_tail(file, 0, &buf, keep),
            None => window *= 4,
        }
    }
}

fn finish_tail(
    file: &mut File,
    line_start: u64,
    line: &[u8],
    keep: impl Fn(&[u8]) -> bool,
) -> std::io::Result<Tail> {
    let tail = if keep(line) {
        file.write_all(b"\n")?;
        Tail::Completed
    } else {
        file.set_len(line_start)?;
        Tail::CutOff
    };
    file.sync_all()?;
    file.seek(SeekFrom::End(0))?;
    Ok(tail)
}

/// An exclusive lock on `path` (created, private), held for as long as the
/// returned file is open and released by the OS if the process dies; `None`
/// when another process holds it.
pub fn try_lock(path: &Path) -> Result<Option<File>> {
    let mut options = File::options();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE);
    }
    let file = options
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_held_until_its_file_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap().expect("free");
        assert!(try_lock(&path).unwrap().is_none(), "held by the first");
        drop(held);
        assert!(try_lock(&path).unwrap().is_some(), "released");
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_writes_replace_and_keep_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        write_atomic(&path, b"one", Some(0o600)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"two", None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn logs_are_private_and_their_torn_tail_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/log");
        let (mut file, tail) = open_log(&path, |_| true).unwrap();
        assert_eq!(tail, Tail::Clean);
        file.write_all(b"a\nhalf").unwrap();
        drop(file);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);

        let (mut file, tail) = open_log(&path, |line| line == b"whole").unwrap();
        assert_eq!(tail, Tail::CutOff);
        file.write_all(b"b\nwhole").unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"a\nb\nwhole");
        let (mut file, tail) = open_log(&path, |line| line == b"whole").unwrap();
        assert_eq!(tail, Tail::Completed);
        file.write_all(b"c\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a\nb\nwhole\nc\n");
    }
}
