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

/// The list as a rewrite reads it: its header row (with the columns the
/// rewrite adds) and how it is written; its rows are read as a stream when
/// it is replaced.
pub(crate) struct ListFile {
    path: PathBuf,
    exists: bool,
    header: Header,
    bom: bool,
    terminator: csv::Terminator,
}

/// The header row of a list that does not exist yet.
const NEW_LIST: &[u8] = b"email,name,status\n";

/// How the list is written, so that rewriting it keeps it.
struct Shape {
    /// It starts with a byte-order mark.
    bom: bool,
    /// Its header row ends with CRLF.
    crlf: bool,
}

/// The list's rows after its header, as a stream (none if there is no list
/// yet), and how it is written.
fn rows_of(path: &Path, exists: bool) -> Result<(csv::Reader<Box<dyn std::io::Read>>, Shape)> {
    use std::io::BufRead as _;
    let mut input: Box<dyn std::io::BufRead> = if exists {
        Box::new(std::io::BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ))
    } else {
        Box::new(NEW_LIST)
    };
    let start = input
        .fill_buf()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let shape = Shape {
        bom: start.starts_with("\u{feff}".as_bytes()),
        // The first line's ending, where the first read holds it (a header
        // row is short).
        crlf: start
            .iter()
            .position(|b| *b == b'\n')
            .is_some_and(|i| i > 0 && start[i - 1] == b'\r'),
    };
    if shape.bom {
        input.consume(3);
    }
    let reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(Box::new(input) as Box<dyn std::io::Read>);
    Ok((reader, shape))
}

impl ListFile {
    /// Reads the header of `list`, adding the columns of `add` it lacks
    /// (and `status`). A list that does not exist yet has `email`, `name`,
    /// `status` and `add`.
    pub(crate) fn open(list: &Path, add: &[String]) -> Result<ListFile> {
        // An empty file is a list not begun yet.
        let exists = match std::fs::metadata(list) {
            Ok(meta) => meta.len() > 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", list.display())),
        };
        let (mut reader, shape) = rows_of(list, exists)?;
        let mut names = reader
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
            exists,
            bom: shape.bom,
            header: Header {
                names,
                email,
                status,
            },
            terminator: if shape.crlf {
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

    /// Each row's fields, as many as the header has, in order.
    fn each_row(&self, mut each: impl FnMut(&mut Vec<String>) -> Result<()>) -> Result<()> {
        let (mut reader, _) = rows_of(&self.path, self.exists)?;
        let mut record = csv::StringRecord::new();
        let mut fields = Vec::new();
        while reader
            .read_record(&mut record)
            .with_context(|| format!("cannot read {}", self.path.display()))?
        {
            fields.clear();
            fields.extend(record.iter().map(String::from));
            fields.resize(self.header.names.len().max(fields.len()), String::new());
            each(&mut fields)?;
        }
        Ok(())
    }

    /// Replaces the list: each row's fields (as many as the header) pass
    /// through `row`, which says whether it changed them (and says the
    /// same when asked twice); `appended` (rows of [`rows`](ListFile::rows),
    /// `appended_rows` of them) follows the last. Nothing is written when no
    /// row changed and none is appended. The file is read as a stream and
    /// written as one: a list of a million rows is never held in memory.
    /// Returns how many rows changed or were added.
    pub(crate) fn replace(
        self,
        mut row: impl FnMut(&Header, &mut Vec<String>) -> bool,
        appended: &[u8],
        appended_rows: usize,
    ) -> Result<usize> {
        let mut changed = 0;
        self.each_row(|fields| {
            changed += usize::from(row(&self.header, fields));
            Ok(())
        })?;
        if changed + appended_rows == 0 && self.exists {
            return Ok(0);
        }
        let mode = (!self.exists).then_some(crate::fsutil::PRIVATE_FILE);
        crate::fsutil::write_atomic_with(&self.path, mode, |out| {
            if self.bom {
                out.write_all("\u{feff}".as_bytes())?;
            }
            let mut writer = csv::WriterBuilder::new()
                .terminator(self.terminator)
                .flexible(true)
                .from_writer(&mut *out);
            writer.write_record(&self.header.names)?;
            self.each_row(|fields| {
                row(&self.header, fields);
                writer.write_record(&*fields)?;
                Ok(())
            })
            .map_err(std::io::Error::other)?;
            writer.flush()?;
            drop(writer);
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
