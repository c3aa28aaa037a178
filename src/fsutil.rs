//! Writing files that matter: whole files replaced atomically (temp file in
//! the same directory, fsync, rename, fsync the directory), append-only logs
//! that several processes share (opened private, 0600; every append and the
//! repair of a torn last line under an exclusive lock), and directories of
//! state kept private.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The permissions of files that hold subscribers' addresses.
pub(crate) const PRIVATE_FILE: u32 = 0o600;
/// The permissions of `.missive/`.
pub(crate) const PRIVATE_DIR: u32 = 0o700;

/// Replaces `path` with `contents` so that a reader (or a crash) sees the old
/// file or the new one, never half of either. `mode` sets the new file's
/// permissions; `None` keeps those of the file being replaced (or the
/// default for a new one).
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<()> {
    write_atomic_with(path, mode, |file| file.write_all(contents))
}

/// [`write_atomic`], with the contents written by `write` as a stream (a
/// file too large to hold twice in memory).
pub(crate) fn write_atomic_with(
    path: &Path,
    mode: Option<u32>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
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
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut file);
        write(&mut buffered)?;
        buffered.flush()?;
        drop(buffered);
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

/// A cache file's value: the default when it is missing or cannot be read
/// (a cache is worth having, never worth failing over).
pub(crate) fn read_cache<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes a cache file as JSON, atomically, in a private directory made if
/// needed.
pub(crate) fn write_cache(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let json = serde_json::to_vec_pretty(value).context("cannot write the cache as JSON")?;
    write_atomic(path, &json, None)
}

/// Creates `dir` (and its parents) if needed; a new directory is private.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
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
pub(crate) fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

/// What [`open_log`] found at the end of an existing log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Empty, or ending with a newline.
    Clean,
    /// The last line had no newline; it was kept and its newline added.
    Completed,
    /// The last line had no newline and was cut off.
    CutOff,
}

/// An append-only log of lines that several processes write at once
/// (`serve`, `bounces`, `send` and the author's commands share
/// `.missive/`). Every append, and the repair of a last line a crash left
/// without its newline, holds an exclusive lock on the file, so a process
/// never takes another's line still being written for a torn one.
#[derive(Debug)]
pub(crate) struct AppendLog {
    path: PathBuf,
    file: File,
}

impl AppendLog {
    /// Opens the log, creating it private (0600) with its directory, and
    /// writes `header` when it is empty. A last line left without its
    /// newline by a crash is handed to `keep`: when it says the line is
    /// whole, its newline is added; otherwise the line is cut off. Either
    /// way the next line starts on a line of its own.
    pub(crate) fn open(
        path: &Path,
        header: &[u8],
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<(AppendLog, Tail)> {
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
        let file = options
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let tail = locked(&file, path, |mut file| {
            let tail = repair_tail(file, &keep)?;
            if !header.is_empty() && file.metadata()?.len() == 0 {
                file.write_all(header)?;
                file.sync_data()?;
            }
            Ok(tail)
        })
        .with_context(|| format!("cannot repair {}", path.display()))?;
        Ok((
            AppendLog {
                path: path.to_path_buf(),
                file,
            },
            tail,
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends whole lines with one write, under the lock: lines from two
    /// processes never interleave, and no repair cuts them.
    pub(crate) fn append(&mut self, lines: &[u8]) -> Result<()> {
        debug_assert!(lines.ends_with(b"\n"), "whole lines only");
        locked(&self.file, &self.path, |mut file| file.write_all(lines))
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Makes every line appended so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Runs `f` holding the exclusive lock on `file` (released when it returns,
/// or by the OS if the process dies).
fn locked<T>(file: &File, path: &Path, f: impl FnOnce(&File) -> std::io::Result<T>) -> Result<T> {
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    let result = f(file);
    let unlocked = file.unlock();
    let value = result?;
    unlocked.with_context(|| format!("cannot unlock {}", path.display()))?;
    Ok(value)
}

fn repair_tail(mut file: &File, keep: impl Fn(&[u8]) -> bool) -> std::io::Result<Tail> {
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
        Read::by_ref(&mut file).take(window).read_to_end(&mut buf)?;
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
    mut file: &File,
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
pub(crate) fn try_lock(path: &Path) -> Result<Option<File>> {
    let file = lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// An exclusive lock on `path`, as [`try_lock`], waiting for another
/// process to let go of it.
pub(crate) fn lock(path: &Path) -> Result<File> {
    let file = lock_file(path)?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// The file a lock is held on: created (private, in a private directory
/// made for it) if missing, never cut.
fn lock_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = File::options();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE);
    }
    options
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
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
        let (mut log, tail) = AppendLog::open(&path, b"header\n", |_| true).unwrap();
        assert_eq!(tail, Tail::Clean);
        log.append(b"a\n").unwrap();
        drop(log);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        // A crash in the middle of a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"half")
            .unwrap();

        let (mut log, tail) = AppendLog::open(&path, b"header\n", |line| line == b"whole").unwrap();
        assert_eq!(tail, Tail::CutOff);
        log.append(b"b\n").unwrap();
        drop(log);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"whole")
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"header\na\nb\nwhole");
        let (mut log, tail) = AppendLog::open(&path, b"header\n", |line| line == b"whole").unwrap();
        assert_eq!(tail, Tail::Completed);
        log.append(b"c\n").unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"header\na\nb\nwhole\nc\n",
            "the header is written once"
        );
    }

    /// Writers appending long lines while others open the log (and would
    /// repair what looks like a torn tail) and append short ones: every
    /// line arrives once and whole. Each thread opens the file itself, as
    /// another process would (a lock belongs to the open file).
    #[test]
    fn opening_a_log_never_cuts_a_line_another_is_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        AppendLog::open(&path, b"", |_| false).unwrap();
        let long_line = |w: usize, i: usize| {
            let mut line = format!("long {w} {i} ").into_bytes();
            line.resize(4_000_000, b'x');
            line.push(b'\n');
            line
        };
        std::thread::scope(|scope| {
            for w in 0..2 {
                let path = &path;
                scope.spawn(move || {
                    let (mut log, _) = AppendLog::open(path, b"", |_| false).unwrap();
                    for i in 0..10 {
                        log.append(&long_line(w, i)).unwrap();
                    }
                });
            }
            for o in 0..2 {
                let path = &path;
                scope.spawn(move || {
                    for i in 0..1000 {
                        let (mut log, _) = AppendLog::open(path, b"", |_| false).unwrap();
                        log.append(format!("short {o} {i}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read(&path).unwrap();
        let lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut names: Vec<String> = lines
            .iter()
            .map(|l| {
                let words: Vec<&[u8]> = l.splitn(4, |b| *b == b' ').collect();
                if words[0] == b"long" {
                    assert_eq!(l.len(), 4_000_000, "a long line arrived whole");
                }
                String::from_utf8_lossy(&l[..l.len().min(20)])
                    .split(' ')
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(names.len(), 2 * 10 + 2 * 1000, "nothing lost");
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 2 * 10 + 2 * 1000, "nothing doubled");
    }
}
