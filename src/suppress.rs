//! The suppression list: addresses that asked to stop, appended by `missive
//! serve` (one CSV line per event: address, time, source) beside the
//! subscriber list, and honoured by every send whatever the list says.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::subscribers::{address_hash, normalize};

/// The suppression file of a subscriber list: `subscribers.csv` →
/// `subscribers.suppressed.csv`.
pub fn path_for(list: &Path) -> PathBuf {
    let stem = list.file_stem().map_or_else(
        || "subscribers".into(),
        |s| s.to_string_lossy().into_owned(),
    );
    list.with_file_name(format!("{stem}.suppressed.csv"))
}

/// The hashes of the suppressed addresses.
#[derive(Debug, Default, Clone)]
pub struct Suppressed {
    hashes: HashSet<u64>,
}

impl Suppressed {
    /// Reads a suppression file; a missing one suppresses nobody. A last
    /// line cut short is ignored.
    pub fn load(path: &Path) -> Result<Suppressed> {
        let mut hashes = HashSet::new();
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Suppressed { hashes }),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(BufReader::new(file));
        for record in reader.records() {
            // A line cut short by a crash still names its address, or nothing.
            let Ok(record) = record else { continue };
            let email = record.get(0).unwrap_or("").trim();
            if !email.is_empty() {
                hashes.insert(address_hash(&normalize(email)));
            }
        }
        Ok(Suppressed { hashes })
    }

    pub fn contains(&self, email: &str) -> bool {
        self.hashes.contains(&address_hash(&normalize(email)))
    }

    /// Adds an address; false if it was there already.
    pub fn insert(&mut self, email: &str) -> bool {
        self.hashes.insert(address_hash(&normalize(email)))
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// Appends suppression events to the file, each made durable before
/// [`append`](Log::append) returns.
pub struct Log {
    path: PathBuf,
    file: File,
}

impl Log {
    pub fn open(path: &Path) -> Result<Log> {
        let new = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if new {
            file.write_all(b"email,time,source\n")?;
            file.sync_all()?;
        }
        Ok(Log {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one line (address, time, source) and syncs it to disk.
    pub fn append(&mut self, email: &str, source: &str) -> Result<()> {
        let mut line = csv::Writer::from_writer(Vec::new());
        line.write_record([normalize(email).as_str(), &crate::journal::now(), source])
            .context("cannot format a suppression line")?;
        let line = line
            .into_inner()
            .context("cannot format a suppression line")?;
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Marks every suppressed address `unsubscribed` in the subscriber list
/// itself (adding a `status` column if it has none), keeping every other
/// column and row as it was. Writes a new file and renames it over the old
/// one. Returns how many rows changed.
pub fn fold(list: &Path, suppressed: &Suppressed) -> Result<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(list)
        .with_context(|| format!("cannot read {}", list.display()))?;
    let mut headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| {
            h.trim_start_matches('\u{feff}')
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    let email =
        column("email").ok_or_else(|| anyhow::anyhow!("{}: no `email` column", list.display()))?;
    let status = match column("status") {
        Some(i) => i,
        None => {
            headers.push_field("status");
            headers.len() - 1
        }
    };
    let tmp = list.with_extension("csv.folding");
    let mut writer =
        csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    writer.write_record(&headers)?;
    let mut changed = 0;
    for record in reader.records() {
        let record = record.with_context(|| format!("cannot read {}", list.display()))?;
        let mut fields: Vec<String> = record.iter().map(String::from).collect();
        fields.resize(headers.len().max(fields.len()), String::new());
        let subscribed = matches!(
            fields[status].trim().to_ascii_lowercase().as_str(),
            "" | "subscribed"
        );
        if subscribed && suppressed.contains(&fields[email]) {
            fields[status] = "unsubscribed".into();
            changed += 1;
        }
        writer.write_record(&fields)?;
    }
    writer.flush()?;
    drop(writer);
    File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, list).with_context(|| format!("cannot replace {}", list.display()))?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_appended_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("subscribers.csv"));
        assert_eq!(path.file_name().unwrap(), "subscribers.suppressed.csv");
        assert!(Suppressed::load(&path).unwrap().is_empty());
        let mut log = Log::open(&path).unwrap();
        log.append("Ada@Example.com", "one-click").unwrap();
        log.append("bob@example.com", "page").unwrap();
        let s = Suppressed::load(&path).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.contains("ada@example.com"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("email,time,source\nada@example.com,"),
            "{text}"
        );
        assert!(text.ends_with(",page\n"));
    }

    #[test]
    fn fold_marks_suppressed_rows_unsubscribed() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("subscribers.csv");
        std::fs::write(
            &list,
            "email,name\nada@example.com,\"Lovelace, Ada\"\nbob@example.com,Bob\n",
        )
        .unwrap();
        let mut s = Suppressed::default();
        s.insert("ADA@example.com");
        assert_eq!(fold(&list, &s).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "email,name,status\nada@example.com,\"Lovelace, Ada\",unsubscribed\nbob@example.com,Bob,\n"
        );
        assert_eq!(fold(&list, &s).unwrap(), 0, "folding twice changes nothing");
    }
}
