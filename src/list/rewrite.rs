//! Rewriting the subscriber list the author edits (`subscribers --fold`,
//! `subscribers import`): atomically, keeping every other row and column,
//! the byte-order mark, the line endings and the file's permissions.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::list::reader::column_index;

/// The list's header row as a rewrite has it: the columns it had, and
/// those the rewrite adds at its end.
pub(crate) struct Header {
    pub names: csv::StringRecord,
    pub email: usize,
    pub status: usize,
}

impl Header {
    /// The position of the column `name` (any case).
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        column_index(&self.names, name)
    }
}

/// The list read for a rewrite: its bytes, its header row (with the
/// columns the rewrite adds), and how it is written.
pub(crate) struct ListFile {
    path: PathBuf,
    /// `None`: there is no list yet.
    bytes: Option<Vec<u8>>,
    header: Header,
    bom: bool,
    terminator: csv::Terminator,
}

/// The header row of a list that does not exist yet.
const NEW_LIST: &[u8] = b"email,name,status\n";

impl ListFile {
    /// Reads `list`, adding to its header the columns of `add` it lacks
    /// (and `status`). A list that does not exist yet has `email`, `name`,
    /// `status` and `add`.
    pub(crate) fn open(list: &Path, add: &[String]) -> Result<ListFile> {
        let bytes = match std::fs::read(list) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", list.display())),
        };
        let all = bytes.as_deref().unwrap_or(NEW_LIST);
        let body = all.strip_prefix("\u{feff}".as_bytes()).unwrap_or(all);
        let crlf = body
            .iter()
            .position(|b| *b == b'\n')
            .is_some_and(|i| i > 0 && body[i - 1] == b'\r');
        let mut names = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(body)
            .headers()
            .with_context(|| format!("{}: cannot read the header row", list.display()))?
            .clone();
        let email = column_index(&names, "email")
            .ok_or_else(|| anyhow::anyhow!("{}: no `email` column", list.display()))?;
        let status = if let Some(i) = column_index(&names, "status") {
            i
        } else {
            names.push_field("status");
            names.len() - 1
        };
        for column in add {
            if column_index(&names, column).is_none() {
                names.push_field(column);
            }
        }
        Ok(ListFile {
            path: list.to_path_buf(),
            bom: body.len() != all.len(),
            bytes,
            header: Header {
                names,
                email,
                status,
            },
            terminator: if crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            },
        })
    }

    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// A writer of rows in the list's own line endings, for
    /// [`replace`](ListFile::replace)'s `appended`.
    pub(crate) fn rows(&self) -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .terminator(self.terminator)
            .flexible(true)
            .from_writer(Vec::new())
    }

    /// Replaces the list: each row's fields (as many as the header) pass
    /// through `row`, which says whether it changed them; `appended` (rows
    /// of [`rows`](ListFile::rows), `appended_rows` of them) follows the
    /// last. Nothing is written when no row changed and none is appended.
    /// Returns how many rows changed or were added.
    pub(crate) fn replace(
        self,
        mut row: impl FnMut(&Header, &mut Vec<String>) -> bool,
        appended: &[u8],
        appended_rows: usize,
    ) -> Result<usize> {
        let path = &self.path;
        let all = self.bytes.as_deref().unwrap_or(NEW_LIST);
        let body = all.strip_prefix("\u{feff}".as_bytes()).unwrap_or(all);
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(body);
        let mut start = Vec::with_capacity(all.len() + 64);
        if self.bom {
            start.extend_from_slice("\u{feff}".as_bytes());
        }
        let mut kept = csv::WriterBuilder::new()
            .terminator(self.terminator)
            .flexible(true)
            .from_writer(start);
        kept.write_record(&self.header.names)?;
        let mut changed = 0;
        for record in reader.records() {
            let record = record.with_context(|| format!("cannot read {}", path.display()))?;
            let mut fields: Vec<String> = record.iter().map(String::from).collect();
            fields.resize(self.header.names.len().max(fields.len()), String::new());
            if row(&self.header, &mut fields) {
                changed += 1;
            }
            kept.write_record(&fields)?;
        }
        if changed + appended_rows == 0 && self.bytes.is_some() {
            return Ok(0);
        }
        let kept = kept.into_inner().context("cannot format the list")?;
        let mode = self.bytes.is_none().then_some(crate::fsutil::PRIVATE_FILE);
        crate::fsutil::write_atomic_with(path, mode, |out| {
            out.write_all(&kept)?;
            out.write_all(appended)
        })?;
        Ok(changed + appended_rows)
    }
}

/// A row of `header` for a reader the file does not hold yet: their
/// address, `subscribed`, their name, and each field under its column.
pub(crate) fn new_row<'a>(
    header: &Header,
    email: &'a str,
    name: &'a str,
    fields: &'a [(String, String)],
) -> Vec<&'a str> {
    let name_at = header.column("name");
    header
        .names
        .iter()
        .enumerate()
        .map(|(i, column)| {
            if i == header.email {
                email
            } else if i == header.status {
                "subscribed"
            } else if Some(i) == name_at {
                name
            } else {
                fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(column.trim()))
                    .map_or("", |(_, v)| v.as_str())
            }
        })
        .collect()
}
