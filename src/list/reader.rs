//! The subscriber list: a CSV file read as a stream, row by row, with invalid
//! rows, inactive subscribers and duplicate addresses told apart. Memory
//! grows only with the set of addresses seen (a 64-bit hash each), and not
//! at all when an earlier reading of the same file named its repeated rows.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use lettre::Address;

use super::address::{address_hash, normalize};

/// The list cannot be read at all (as opposed to one bad row).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListError {
    #[error("{}: cannot read file: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: cannot read the header row: {error}", path.display())]
    Header { path: PathBuf, error: csv::Error },
    #[error(
        "{}: the lines end with a carriage return alone (an old Mac format): save the file \
         with LF or CRLF line endings",
        path.display()
    )]
    OldMacLineEndings { path: PathBuf },
    #[error(
        "{}: the file is empty: it needs a header row with an `email` column",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error("{}: the header row has no `email` column (it has {})", path.display(), quoted(.columns))]
    NoEmailColumn { path: PathBuf, columns: Vec<String> },
}

/// Column names as the error shows them: `` `email`, `name` ``.
fn quoted(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A subscriber's status column. Statuses sort (and are counted) by
/// their word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Bounced,
    Complained,
    Subscribed,
    /// Subscribed in the list, but unsubscribed through `missive serve`.
    Suppressed,
    Unsubscribed,
}

impl Status {
    /// A `status` cell as written in the list (any case; empty means subscribed).
    pub(crate) fn parse(s: &str) -> Option<Status> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "subscribed" => Some(Status::Subscribed),
            "unsubscribed" => Some(Status::Unsubscribed),
            "bounced" => Some(Status::Bounced),
            "complained" => Some(Status::Complained),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Subscribed => "subscribed",
            Status::Unsubscribed => "unsubscribed",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
            Status::Suppressed => "suppressed",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One row that receives mail.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    /// 1-based line of the row in the file.
    pub line: u64,
    pub email: Address,
    pub name: String,
    columns: Arc<Vec<String>>,
    record: csv::StringRecord,
}

impl Subscriber {
    /// The lower-cased address: how recipients are compared and journaled.
    pub(crate) fn key(&self) -> String {
        normalize(self.email.as_ref())
    }

    /// The value of column `name`, if the list has one.
    pub(crate) fn column(&self, name: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == name)?;
        self.record.get(i).map(str::trim)
    }

    /// A reader who is not a row of the file (a sign-up), with `values` for
    /// the merge tags beside `email` and `name`.
    pub(crate) fn with_values(email: Address, name: &str, values: &[(&str, &str)]) -> Subscriber {
        let mut columns = vec!["email".to_string(), "name".to_string()];
        let mut record = csv::StringRecord::new();
        record.push_field(email.as_ref());
        record.push_field(name);
        for (key, value) in values {
            columns.push((*key).to_string());
            record.push_field(value);
        }
        Subscriber {
            line: 0,
            email,
            name: name.to_string(),
            columns: Arc::new(columns),
            record,
        }
    }

    /// A subscriber made up for `send --test` when there is no list.
    pub(crate) fn stand_in(email: Address) -> Subscriber {
        Subscriber {
            line: 0,
            email,
            name: String::new(),
            columns: Arc::new(Vec::new()),
            record: csv::StringRecord::new(),
        }
    }
}

/// What one row of the list turned out to be.
#[derive(Debug, Clone)]
pub(crate) enum Row {
    Subscriber(Subscriber),
    /// Unsubscribed, bounced or complained: receives nothing.
    Inactive {
        line: u64,
        status: Status,
        /// The lower-cased address.
        email: String,
    },
    /// The address appeared on an earlier line.
    Duplicate {
        line: u64,
        /// The lower-cased address.
        email: String,
    },
    Invalid {
        line: u64,
        reason: String,
    },
}

/// The position of the column `name` (any case, spaces and a byte-order
/// mark around it ignored) among `headers`.
pub(crate) fn column_index<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<usize> {
    headers.into_iter().position(|h| {
        h.trim_start_matches('\u{feff}')
            .trim()
            .eq_ignore_ascii_case(name)
    })
}

/// How a [`Reader`] tells a row that repeats an earlier address.
enum Repeats {
    /// By the hash of every address seen so far.
    Seen(HashSet<u64>),
    /// By the lines an earlier reading of the same file found repeated;
    /// `joined_met`: the log's joined readers met in the file, who are not
    /// to come again after its last row.
    Known {
        lines: HashSet<u64>,
        joined_met: HashSet<u64>,
    },
}

/// Reads the list row by row.
pub(crate) struct Reader {
    csv: csv::Reader<Box<dyn Read + Send>>,
    columns: Arc<Vec<String>>,
    email: usize,
    name: Option<usize>,
    status: Option<usize>,
    /// How a repeated address is told.
    repeats: Repeats,
    /// The list as the project's event log has it: who is off it, and who
    /// joined it through `missive serve`.
    suppressed: Option<super::address::Suppressed>,
    record: csv::StringRecord,
    /// After the last row: the readers the log joined who are not in the
    /// file, still to come.
    joined: Option<std::vec::IntoIter<super::address::Joined>>,
}

/// Why an address that parses cannot be sent to, if it cannot: missive
/// sends to plain `local@domain` mailboxes only.
pub(crate) fn unsendable(address: &Address) -> Option<&'static str> {
    if address.user().starts_with('"') {
        Some("has a quoted local part, which missive does not send to")
    } else if address.domain().starts_with('[') {
        Some("has an IP address for a domain, which missive does not send to")
    } else {
        None
    }
}

impl Reader {
    /// Opens the list and reads its header row.
    pub(crate) fn open(path: &Path) -> Result<Reader, ListError> {
        let file = File::open(path).map_err(|error| ListError::Unreadable {
            path: path.to_path_buf(),
            error,
        })?;
        Reader::from_reader(path, Box::new(file))
    }

    /// Reads a list from any reader; `path` labels errors.
    pub(crate) fn from_reader(
        path: &Path,
        input: Box<dyn Read + Send>,
    ) -> Result<Reader, ListError> {
        let path = path.to_path_buf();
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            // Lines end at LF alone, so that line numbers stay right in CRLF
            // files (the CR is trimmed off the last field).
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(input);
        let headers = csv.headers().map_err(|error| ListError::Header {
            path: path.clone(),
            error,
        })?;
        if headers
            .iter()
            .any(|h| h.trim_end_matches('\r').contains('\r'))
        {
            return Err(ListError::OldMacLineEndings { path });
        }
        let columns: Vec<String> = headers
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        if columns.iter().all(String::is_empty) {
            return Err(ListError::Empty { path });
        }
        let find = |name: &str| column_index(columns.iter().map(String::as_str), name);
        let Some(email) = find("email") else {
            return Err(ListError::NoEmailColumn { path, columns });
        };
        let (name, status) = (find("name"), find("status"));
        Ok(Reader {
            csv,
            columns: Arc::new(columns),
            email,
            name,
            status,
            repeats: Repeats::Seen(HashSet::new()),
            suppressed: None,
            record: csv::StringRecord::new(),
            joined: None,
        })
    }

    /// Treats the addresses the log took off the list as unsubscribed, and
    /// those it joined to the list as subscribed, whatever the file says;
    /// after the file's last row come the joined readers it does not hold.
    #[must_use]
    pub(crate) fn suppress(mut self, suppressed: super::address::Suppressed) -> Reader {
        self.suppressed = Some(suppressed);
        self
    }

    /// Makes room for `addresses` addresses at once, so the set of those seen
    /// never has to grow (and briefly double) while sending.
    #[must_use]
    pub(crate) fn expect(mut self, addresses: usize) -> Reader {
        if let Repeats::Seen(seen) = &mut self.repeats {
            seen.reserve(addresses);
        }
        self
    }

    /// Takes the rows repeating an earlier address to be these `lines`, as
    /// an earlier reading of the same, unchanged file found them: the
    /// reader then keeps no set of every address (only of the log's joined
    /// readers it meets in the file), and its memory no longer grows with
    /// the list.
    #[must_use]
    pub(crate) fn known_repeats(mut self, lines: impl IntoIterator<Item = u64>) -> Reader {
        self.repeats = Repeats::Known {
            lines: lines.into_iter().collect(),
            joined_met: HashSet::new(),
        };
        self
    }

    /// The column names of the header row.
    pub(crate) fn columns(&self) -> Arc<Vec<String>> {
        Arc::clone(&self.columns)
    }

    fn classify(&mut self, line: u64) -> Row {
        let record = &self.record;
        let raw_email = record.get(self.email).unwrap_or("").trim();
        if raw_email.is_empty() {
            return Row::Invalid {
                line,
                reason: "the email field is empty".into(),
            };
        }
        let Ok(email) = Address::from_str(raw_email) else {
            return Row::Invalid {
                line,
                reason: format!(
                    "`{}` is not a valid email address",
                    raw_email.escape_debug()
                ),
            };
        };
        if let Some(why) = unsendable(&email) {
            return Row::Invalid {
                line,
                reason: format!("`{}` {why}", raw_email.escape_debug()),
            };
        }
        let name = self
            .name
            .and_then(|i| record.get(i))
            .unwrap_or("")
            .trim()
            .to_string();
        if name.contains(['\r', '\n']) {
            return Row::Invalid {
                line,
                reason: format!("the name `{}` contains a line break", name.escape_debug()),
            };
        }
        if name.chars().any(char::is_control) {
            return Row::Invalid {
                line,
                reason: format!(
                    "the name `{}` contains a control character",
                    name.escape_debug()
                ),
            };
        }
        let raw_status = self.status.and_then(|i| record.get(i)).unwrap_or("").trim();
        let Some(mut status) = Status::parse(raw_status) else {
            return Row::Invalid {
                line,
                reason: format!(
                    "unknown status `{raw_status}` (expected subscribed, unsubscribed, bounced or complained)"
                ),
            };
        };
        let key = normalize(email.as_ref());
        let repeated = match &mut self.repeats {
            Repeats::Seen(seen) => !seen.insert(address_hash(&key)),
            Repeats::Known { lines, joined_met } => {
                let repeated = lines.contains(&line);
                if !repeated
                    && self
                        .suppressed
                        .as_ref()
                        .is_some_and(|s| s.joined(&key).is_some())
                {
                    joined_met.insert(address_hash(&key));
                }
                repeated
            }
        };
        if repeated {
            return Row::Duplicate { line, email: key };
        }
        if status == Status::Subscribed
            && self.suppressed.as_ref().is_some_and(|s| s.contains(&key))
        {
            status = Status::Suppressed;
        }
        if status != Status::Subscribed
            && self
                .suppressed
                .as_ref()
                .is_some_and(|s| s.joined(&key).is_some())
        {
            // The log's latest word (a confirmed sign-up) wins over the file.
            status = Status::Subscribed;
        }
        if status != Status::Subscribed {
            return Row::Inactive {
                line,
                status,
                email: key,
            };
        }
        Row::Subscriber(Subscriber {
            line,
            email,
            name,
            columns: Arc::clone(&self.columns),
            record: self.record.clone(),
        })
    }
}

impl Iterator for Reader {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let (result, line) = read_numbered(&mut self.csv, &mut self.record);
        match result {
            Ok(false) => self.next_joined(),
            Ok(true) => Some(self.classify(line)),
            Err(e) => {
                let line = e.position().map_or(line, csv::Position::line);
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("the row has {len} fields, the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".into(),
                    _ => e.to_string(),
                };
                Some(Row::Invalid { line, reason })
            }
        }
    }
}

impl Reader {
    /// The next reader the log joined to the list who is not in the file.
    fn next_joined(&mut self) -> Option<Row> {
        if self.joined.is_none() {
            let all: Vec<super::address::Joined> = self
                .suppressed
                .as_ref()
                .map(|s| s.all_joined().into_iter().cloned().collect())
                .unwrap_or_default();
            self.joined = Some(all.into_iter());
        }
        loop {
            let joined = self.joined.as_mut()?.next()?;
            let Ok(email) = Address::from_str(&joined.email) else {
                continue;
            };
            let first = match &mut self.repeats {
                Repeats::Seen(seen) => seen.insert(address_hash(&joined.email)),
                Repeats::Known { joined_met, .. } => joined_met.insert(address_hash(&joined.email)),
            };
            if !first {
                continue;
            }
            let record: csv::StringRecord = self
                .columns
                .iter()
                .enumerate()
                .map(|(i, column)| {
                    if i == self.email {
                        joined.email.as_str()
                    } else if Some(i) == self.name {
                        joined.name.as_str()
                    } else if Some(i) == self.status {
                        "subscribed"
                    } else {
                        joined
                            .fields
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(column))
                            .map_or("", |(_, v)| v.as_str())
                    }
                })
                .collect();
            return Some(Row::Subscriber(Subscriber {
                line: 0,
                email,
                name: joined.name.clone(),
                columns: Arc::clone(&self.columns),
                record,
            }));
        }
    }
}

/// Reads the next record of `csv` into `record`: whether there was one,
/// and the 1-based line it starts on.
pub(crate) fn read_numbered<R: Read>(
    csv: &mut csv::Reader<R>,
    record: &mut csv::StringRecord,
) -> (csv::Result<bool>, u64) {
    let result = csv.read_record(record);
    let line = record
        .position()
        .map_or_else(|| csv.position().line(), csv::Position::line);
    (result, line)
}

/// The subscribed reader with address `email` (compared case-insensitively),
/// or the first subscribed reader when `email` is `None`. Reads the list
/// only as far as it must; `None` when there is no such reader or no list.
pub(crate) fn find(list: &Path, email: Option<&str>) -> Option<Subscriber> {
    let wanted = email.map(normalize);
    Reader::open(list).ok()?.find_map(|row| match row {
        Row::Subscriber(s) if wanted.as_ref().is_none_or(|w| s.key() == *w) => Some(s),
        _ => None,
    })
}

/// A repeated address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub line: u64,
    /// Where the address first appeared (0 until looked up).
    pub first_line: u64,
    /// The lower-cased address.
    pub email: String,
}

/// A row that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidRow {
    pub line: u64,
    pub reason: String,
}

/// Counts of a whole list, read once before anything is sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub subscribed: u64,
    pub inactive: std::collections::BTreeMap<Status, u64>,
    pub duplicates: Vec<Duplicate>,
    pub invalid: Vec<InvalidRow>,
}

impl Tally {
    /// Counts one row.
    pub(crate) fn add(&mut self, row: Row) {
        match row {
            Row::Subscriber(_) => self.subscribed += 1,
            Row::Inactive { status, .. } => {
                *self.inactive.entry(status).or_default() += 1;
            }
            Row::Duplicate { line, email } => self.duplicates.push(Duplicate {
                line,
                first_line: 0,
                email,
            }),
            Row::Invalid { line, reason } => self.invalid.push(InvalidRow { line, reason }),
        }
    }

    /// The rows of the list that hold an address, subscribed or not.
    pub(crate) fn addresses(&self) -> u64 {
        self.subscribed + self.inactive.values().sum::<u64>()
    }

    /// Fills in the line each duplicate first appeared on. The stream only
    /// keeps hashes, so this reads the list again — only when there are
    /// duplicates, and remembering only theirs.
    pub(crate) fn find_first_lines(&mut self, path: &Path) -> Result<(), ListError> {
        if self.duplicates.is_empty() {
            return Ok(());
        }
        let mut first: HashMap<u64, u64> = self
            .duplicates
            .iter()
            .map(|d| (address_hash(&d.email), 0))
            .collect();
        for row in Reader::open(path)? {
            let (line, email) = match &row {
                Row::Subscriber(s) => (s.line, s.key()),
                Row::Inactive { line, email, .. } => (*line, email.clone()),
                _ => continue,
            };
            if let Some(slot) = first.get_mut(&address_hash(&email))
                && *slot == 0
            {
                *slot = line;
            }
        }
        for d in &mut self.duplicates {
            d.first_line = first[&address_hash(&d.email)];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Row> {
        Reader::from_reader(
            Path::new("list.csv"),
            Box::new(std::io::Cursor::new(text.to_string())),
        )
        .unwrap()
        .collect()
    }

    fn open_err(text: &str) -> String {
        Reader::from_reader(
            Path::new("list.csv"),
            Box::new(std::io::Cursor::new(text.to_string())),
        )
        .err()
        .unwrap()
        .to_string()
    }

    #[test]
    fn reads_subscribers_with_bom_crlf_and_quotes() {
        let rows = rows(
            "\u{feff}email,name,city\r\nada@example.com,\"Lovelace, Ada\",London\r\n\
             bob@example.com,,\"New \"\"York\"\"\"\r\n",
        );
        assert_eq!(rows.len(), 2);
        let Row::Subscriber(ada) = &rows[0] else {
            panic!("{rows:?}")
        };
        assert_eq!((ada.line, ada.name.as_str()), (2, "Lovelace, Ada"));
        assert_eq!(ada.column("city"), Some("London"));
        assert_eq!(ada.column("zip"), None);
        let Row::Subscriber(bob) = &rows[1] else {
            panic!("{rows:?}")
        };
        assert_eq!(bob.column("city"), Some("New \"York\""));
        assert_eq!(bob.name, "");
    }

    #[test]
    fn duplicates_are_case_insensitive_and_name_the_first_line() {
        let rows = rows("email\nA@x.org\nb@x.org\na@X.ORG\n");
        match &rows[2] {
            Row::Duplicate { line, email } => assert_eq!((*line, email.as_str()), (4, "a@x.org")),
            other => panic!("{other:?}"),
        }
    }

    /// A list with repeats, inactive and invalid rows, and a log that joined
    /// one reader in the file (unsubscribed there) and one who is not.
    fn repeats_and_joined() -> (&'static str, super::super::address::Suppressed) {
        use super::super::address::{Joined, Suppressed};
        let text = "email,name,status\nA@x.org,A,\nb@x.org,B,unsubscribed\n\
                    a@X.ORG,A again,\nnot-an-address,N,\nB@x.org,B again,\nc@x.org,C,\n";
        let mut log = Suppressed::default();
        for email in ["b@x.org", "new@x.org"] {
            log.join(Joined {
                email: email.into(),
                name: String::new(),
                fields: Vec::new(),
            });
        }
        (text, log)
    }

    fn reading(reader: Reader) -> Vec<String> {
        reader
            .map(|row| match row {
                Row::Subscriber(s) => format!("{} {}", s.line, s.key()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn known_repeats_read_as_the_set_of_every_address_does() {
        let (text, log) = repeats_and_joined();
        let open = || {
            Reader::from_reader(
                Path::new("list.csv"),
                Box::new(std::io::Cursor::new(text.to_string())),
            )
            .unwrap()
            .suppress(log.clone())
        };
        let mut tally = Tally::default();
        for row in open() {
            tally.add(row);
        }
        let lines: Vec<u64> = tally.duplicates.iter().map(|d| d.line).collect();
        assert_eq!(lines, [4, 6]);
        let seen = reading(open());
        let known = reading(open().known_repeats(lines));
        assert_eq!(known, seen);
        // b@x.org, joined by the log, is read once, from the file; the
        // reader the file lacks comes after its last row.
        assert!(seen.contains(&"3 b@x.org".to_string()), "{seen:?}");
        assert_eq!(seen.last().map(String::as_str), Some("0 new@x.org"));
    }

    #[test]
    fn statuses_and_invalid_rows() {
        let rows = rows(
            "email,name,status\n\
             a@x.org,A,unsubscribed\n\
             not-an-address,B,\n\
             c@x.org,C,bounced\n\
             d@x.org,\"D\nEvil\",\n\
             e@x.org,E\n\
             f@x.org,F,paused\n\
             ,G,\n\
             h@x.org,H,Subscribed\n",
        );
        let kinds: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Row::Subscriber(s) => format!("ok {}", s.line),
                Row::Inactive { line, status, .. } => format!("{} {line}", status.as_str()),
                Row::Duplicate { line, .. } => format!("dup {line}"),
                Row::Invalid { line, reason } => format!("invalid {line}: {reason}"),
            })
            .collect();
        assert_eq!(kinds[0], "unsubscribed 2");
        assert_eq!(
            kinds[1],
            "invalid 3: `not-an-address` is not a valid email address"
        );
        assert_eq!(kinds[2], "bounced 4");
        assert!(kinds[3].starts_with("invalid 5: the name"), "{}", kinds[3]);
        assert_eq!(
            kinds[4],
            "invalid 7: the row has 2 fields, the header has 3"
        );
        assert!(
            kinds[5].starts_with("invalid 8: unknown status `paused`"),
            "{}",
            kinds[5]
        );
        assert_eq!(kinds[6], "invalid 9: the email field is empty");
        assert_eq!(kinds[7], "ok 10");
    }

    #[test]
    fn find_streams_to_the_reader_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        std::fs::write(
            &path,
            "email,status\na@x.org,unsubscribed\nb@x.org,\nC@x.org,\n",
        )
        .unwrap();
        assert_eq!(find(&path, None).unwrap().email.to_string(), "b@x.org");
        assert_eq!(find(&path, Some("c@X.org")).unwrap().line, 4);
        assert!(find(&path, Some("a@x.org")).is_none(), "not subscribed");
        assert!(find(&dir.path().join("none.csv"), None).is_none());
    }

    #[test]
    fn unsendable_addresses_and_names_name_their_row() {
        let rows = rows(
            "email,name\n\"\"\"a.b\"\"@x.org\",A\nb@[192.0.2.1],B\nc@x.org,\"C\u{0}\"\nd@x.org,\"D\u{1b}[2J\"\n",
        );
        let reasons: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Row::Invalid { line, reason } => format!("{line}: {reason}"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reasons[0].starts_with("2: "), "{reasons:?}");
        assert!(reasons[0].contains("quoted local part"), "{reasons:?}");
        assert!(reasons[1].starts_with("3: ") && reasons[1].contains("IP address"));
        assert!(reasons[2].starts_with("4: ") && reasons[2].contains("control character"));
        assert!(reasons[3].starts_with("5: ") && reasons[3].contains("\\u{1b}"));
    }

    #[test]
    fn unicode_and_punycode_domains_are_one_mailbox() {
        let rows = rows("email\na@bücher.de\nA@XN--BCHER-KVA.DE\n");
        assert!(
            matches!(rows[1], Row::Duplicate { line: 3, .. }),
            "{rows:?}"
        );
    }

    #[test]
    fn cr_only_line_endings_are_an_error() {
        let e = open_err("email,name\ra@x.org,A\rb@x.org,B\r");
        assert!(e.contains("carriage return alone"), "{e}");
    }

    #[test]
    fn unusable_files_are_errors() {
        assert!(
            open_err("").contains("the file is empty"),
            "{}",
            open_err("")
        );
        assert!(
            open_err("name,status\nA,\n").contains("no `email` column (it has `name`, `status`)")
        );
    }

    #[test]
    fn tally_counts_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        std::fs::write(
            &path,
            "email,status\na@x.org,\nb@x.org,bounced\nA@x.org,\nbad,\nc@x.org,unsubscribed\nd@x.org,\nB@X.org,\n",
        )
        .unwrap();
        let mut reader = Reader::open(&path).unwrap();
        let columns = reader.columns();
        let mut tally = Tally::default();
        for row in &mut reader {
            tally.add(row);
        }
        tally.find_first_lines(&path).unwrap();
        assert_eq!(columns.as_slice(), ["email", "status"]);
        assert_eq!(tally.subscribed, 2);
        assert_eq!(tally.inactive.get(&Status::Bounced), Some(&1));
        assert_eq!(tally.inactive.get(&Status::Unsubscribed), Some(&1));
        let duplicates: Vec<(u64, u64, &str)> = tally
            .duplicates
            .iter()
            .map(|d| (d.line, d.first_line, d.email.as_str()))
            .collect();
        assert_eq!(duplicates, vec![(4, 2, "a@x.org"), (8, 3, "b@x.org")]);
        assert_eq!(tally.addresses(), 4);
        assert_eq!(tally.invalid.len(), 1);
    }
}
