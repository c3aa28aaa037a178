//! The hosted platforms' subscriber exports, read row by row: which export
//! a header row is, and what each row says of a reader (their standing,
//! when they gave or withdrew consent, their name, tags and fields).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::list::address::normalize;

/// A platform whose export `subscribers import` reads (and `csv`, the shape
/// `subscribers export --to csv` writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Platform {
    Mailchimp,
    Listmonk,
    Ghost,
    Substack,
    Kit,
    Buttondown,
    Beehiiv,
    /// missive's own shape (`subscribers export --to csv`).
    Csv,
}

impl Platform {
    /// In the order a header row is tried against them: the most
    /// particular columns first.
    pub(crate) const ALL: [Platform; 8] = [
        Platform::Mailchimp,
        Platform::Listmonk,
        Platform::Ghost,
        Platform::Substack,
        Platform::Kit,
        Platform::Buttondown,
        Platform::Csv,
        Platform::Beehiiv,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Platform::Mailchimp => "mailchimp",
            Platform::Listmonk => "listmonk",
            Platform::Ghost => "ghost",
            Platform::Substack => "substack",
            Platform::Kit => "kit",
            Platform::Buttondown => "buttondown",
            Platform::Beehiiv => "beehiiv",
            Platform::Csv => "csv",
        }
    }

    /// The columns (each any of its spellings) a header row needs to be
    /// this platform's export, and none it must not have.
    fn signature(self) -> (&'static [&'static [&'static str]], &'static [&'static str]) {
        match self {
            Platform::Mailchimp => (&[&["email_address"], &["optin_time"]], &[]),
            Platform::Listmonk => (&[&["uuid"], &["email"], &["attributes"], &["status"]], &[]),
            Platform::Ghost => (&[&["email"], &["subscribed_to_emails"]], &[]),
            Platform::Substack => (
                &[&["email"], &["active_subscription"], &["email_disabled"]],
                &[],
            ),
            Platform::Kit => (&[&["email_address", "email"], &["state"]], &[]),
            Platform::Buttondown => (
                &[&["email", "email_address"], &["type", "subscriber_type"]],
                &[],
            ),
            Platform::Csv => (&[&["email"], &["status"], &["status_at"]], &[]),
            Platform::Beehiiv => (
                &[&["email"], &["status"], &["created_at"]],
                &["attributes", "status_at"],
            ),
        }
    }

    /// The columns [`signature`](Platform::signature) asks for, as an
    /// error names them.
    pub(crate) fn expected(self) -> String {
        self.signature()
            .0
            .iter()
            .map(|names| format!("`{}`", names.join("` or `")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether a header row (as [`column_key`]s) is this platform's.
    fn matches(self, columns: &HashMap<String, usize>) -> bool {
        let (needed, refused) = self.signature();
        needed
            .iter()
            .all(|names| names.iter().any(|n| columns.contains_key(*n)))
            && !refused.iter().any(|n| columns.contains_key(*n))
    }

    /// The platform whose export has this header row, if any.
    pub(crate) fn detect(columns: &HashMap<String, usize>) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.matches(columns))
    }

    /// The source an imported event is recorded with: `import:mailchimp`.
    pub(crate) fn source(self) -> String {
        format!("import:{}", self.as_str())
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a reader stands in an export, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Standing {
    Subscribed,
    /// Signed up and never confirmed: never mailed until they do.
    Pending,
    Unsubscribed,
    /// Cleaned, undeliverable, invalid.
    Bounced,
    /// Reported mail as spam.
    Complained,
}

impl Standing {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Standing::Pending => "pending",
            Standing::Subscribed => "subscribed",
            Standing::Unsubscribed => "unsubscribed",
            Standing::Bounced => "bounced",
            Standing::Complained => "complained",
        }
    }

    /// How strong a word it is: a reader in several rows takes the
    /// strongest. Any suppression outweighs consent, and consent a sign-up
    /// never confirmed.
    pub(crate) fn strength(self) -> u8 {
        match self {
            Standing::Pending => 0,
            Standing::Subscribed => 1,
            Standing::Unsubscribed => 2,
            Standing::Bounced => 3,
            Standing::Complained => 4,
        }
    }

    /// Whether it keeps the reader off the list.
    pub(crate) fn suppresses(self) -> bool {
        self.strength() > Standing::Subscribed.strength()
    }
}

/// One reader, as one row of an export has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Normalized.
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) standing: Standing,
    /// When they gave consent (subscribed, pending) or withdrew it (the
    /// rest), where the export says.
    pub(crate) at: Option<OffsetDateTime>,
    /// The address they gave consent from, where the export says.
    pub(crate) ip: String,
    /// Tags and the platform's custom fields, by column name.
    pub(crate) fields: Vec<(String, String)>,
}

/// A row that cannot be read for what it says: the whole import stops.
#[derive(Debug, thiserror::Error)]
#[error("{}, line {line}, column `{column}`: {reason}", path.display())]
pub(crate) struct RowError {
    pub(crate) path: PathBuf,
    pub(crate) line: u64,
    pub(crate) column: String,
    pub(crate) reason: String,
}

/// A header row as columns are looked up: lower case, no byte-order mark,
/// spaces and dashes as `_` (`Email Address` → `email_address`).
pub(crate) fn column_key(header: &str) -> String {
    header
        .trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

/// The columns a platform's own system keeps, not brought over as fields.
fn system_columns(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Mailchimp => &[
            "email_address",
            "first_name",
            "last_name",
            "member_rating",
            "optin_time",
            "optin_ip",
            "confirm_time",
            "confirm_ip",
            "latitude",
            "longitude",
            "gmtoff",
            "dstoff",
            "timezone",
            "cc",
            "region",
            "last_changed",
            "leid",
            "euid",
            "notes",
            "tags",
            "unsub_time",
            "unsub_campaign_title",
            "unsub_campaign_id",
            "unsub_reason",
            "unsub_reason_other",
            "clean_time",
            "clean_campaign_title",
            "clean_campaign_id",
        ],
        Platform::Kit => &[
            "email_address",
            "email",
            "first_name",
            "state",
            "created_at",
            "canceled_at",
            "cancelled_at",
            "tags",
            "id",
        ],
        Platform::Csv => &["email", "name", "status", "status_at", "ip"],
        _ => &[],
    }
}

/// Reads one export's rows for what they say.
pub(crate) struct Rows {
    pub(crate) path: PathBuf,
    pub(crate) platform: Platform,
    columns: HashMap<String, usize>,
    headers: Vec<String>,
    csv: csv::Reader<std::io::BufReader<std::fs::File>>,
    record: csv::StringRecord,
    /// For Mailchimp: the file's standing, by which of its three files it
    /// is (its columns say).
    file_standing: Standing,
    /// The columns brought over as fields (by position) and the names
    /// they take.
    extra: Vec<(usize, String)>,
}

/// A row read: a reader, or an address that is not one (skipped, named).
pub(crate) enum Read {
    Entry { line: u64, entry: Entry },
    Invalid { line: u64, reason: String },
}

impl Rows {
    /// Opens an export, as `platform`'s or, with `None`, as the platform its
    /// header row says; an error names the columns it has and those
    /// expected.
    pub(crate) fn open(path: &Path, platform: Option<Platform>) -> anyhow::Result<Rows> {
        use anyhow::Context as _;
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            // Lines end at LF alone, so that line numbers stay right in CRLF
            // files (the CR is trimmed off each field).
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(std::io::BufReader::with_capacity(1 << 16, file));
        let headers: Vec<String> = csv
            .headers()
            .with_context(|| format!("{}: cannot read the header row", path.display()))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let mut columns = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            columns.entry(column_key(h)).or_insert(i);
        }
        let has = headers
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let platform = match platform {
            Some(p) if p.matches(&columns) => p,
            Some(p) => anyhow::bail!(
                "{}: the header row is not a {p} export: it has {has}; a {p} export has {}",
                path.display(),
                p.expected()
            ),
            None => Platform::detect(&columns).ok_or_else(|| {
                let all = Platform::ALL
                    .iter()
                    .map(|p| format!("  {p}: {}", p.expected()))
                    .collect::<Vec<_>>()
                    .join("\n");
                anyhow::anyhow!(
                    "{}: the header row is no export missive knows: it has {has}; expected the columns of one of\n{all}",
                    path.display()
                )
            })?,
        };
        let file_standing = if platform != Platform::Mailchimp {
            Standing::Subscribed
        } else if columns.contains_key("clean_time") {
            Standing::Bounced
        } else if columns.contains_key("unsub_time") {
            Standing::Unsubscribed
        } else {
            Standing::Subscribed
        };
        let system = system_columns(platform);
        let extra = if system.is_empty() {
            Vec::new()
        } else {
            headers
                .iter()
                .enumerate()
                .filter(|(_, h)| {
                    let key = column_key(h);
                    !key.is_empty() && !system.contains(&key.as_str())
                })
                .map(|(i, h)| (i, field_name(h)))
                .collect()
        };
        Ok(Rows {
            path: path.to_path_buf(),
            platform,
            columns,
            headers,
            csv,
            record: csv::StringRecord::new(),
            file_standing,
            extra,
        })
    }

    /// The cell of the first of `names` the file has, trimmed.
    fn cell(&self, names: &[&str]) -> &str {
        names
            .iter()
            .find_map(|n| self.columns.get(*n))
            .and_then(|i| self.record.get(*i))
            .map_or("", str::trim)
    }

    /// Which of `names` the file has, as its header spells it (for errors).
    fn column_name(&self, names: &[&str]) -> String {
        names
            .iter()
            .find_map(|n| self.columns.get(*n))
            .map_or_else(|| names[0].to_string(), |i| self.headers[*i].clone())
    }

    fn error(&self, line: u64, names: &[&str], reason: String) -> RowError {
        RowError {
            path: self.path.clone(),
            line,
            column: self.column_name(names),
            reason,
        }
    }

    /// A time cell, `None` when empty.
    fn time(&self, line: u64, names: &[&str]) -> Result<Option<OffsetDateTime>, RowError> {
        let text = self.cell(names);
        if text.is_empty() {
            return Ok(None);
        }
        parse_time(text).map(Some).ok_or_else(|| {
            self.error(
                line,
                names,
                format!("`{}` is not a time missive can read", text.escape_debug()),
            )
        })
    }

    /// When a reader of `standing` left (the `left` column) if they are
    /// off the list and it says, otherwise when they joined (`joined`);
    /// both cells must read.
    fn when(
        &self,
        line: u64,
        standing: Standing,
        left: &[&str],
        joined: &[&str],
    ) -> Result<Option<OffsetDateTime>, RowError> {
        match self.time(line, left)? {
            Some(at) if standing.suppresses() => Ok(Some(at)),
            _ => self.time(line, joined),
        }
    }

    /// A yes/no cell (`true`, `false`, `1`, `0`, `yes`, `no`; empty is no).
    fn flag(&self, line: u64, names: &[&str]) -> Result<bool, RowError> {
        match self.cell(names).to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "t" => Ok(true),
            "false" | "0" | "no" | "f" | "" => Ok(false),
            other => Err(self.error(
                line,
                names,
                format!("`{}` is neither true nor false", other.escape_debug()),
            )),
        }
    }

    /// A status word, by `map`; a word it does not know stops the import
    /// (a reader is never mailed on a guess, nor dropped on one).
    fn status(
        &self,
        line: u64,
        names: &[&str],
        map: &[(&[&str], Standing)],
    ) -> Result<Standing, RowError> {
        let word = self.cell(names).to_ascii_lowercase();
        map.iter()
            .find(|(words, _)| words.contains(&word.as_str()))
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                let known: Vec<&str> = map.iter().flat_map(|(w, _)| w.iter().copied()).collect();
                self.error(
                    line,
                    names,
                    format!(
                        "unknown status `{}` (a {} export says one of: {})",
                        word.escape_debug(),
                        self.platform,
                        known.join(", ")
                    ),
                )
            })
    }

    /// The row's further columns the platform does not keep for itself, as
    /// fields: every column for Mailchimp, Kit and missive's own shape.
    fn other_columns(&self) -> Vec<(String, String)> {
        self.extra
            .iter()
            .filter_map(|(i, name)| {
                let value = self.record.get(*i)?.trim();
                (!value.is_empty()).then(|| (name.clone(), value.to_string()))
            })
            .collect()
    }

    /// What the current row says.
    fn entry(&self, line: u64) -> Result<Entry, RowError> {
        let mut entry = Entry {
            email: String::new(),
            name: String::new(),
            standing: Standing::Subscribed,
            at: None,
            ip: String::new(),
            fields: Vec::new(),
        };
        let mut tags = String::new();
        match self.platform {
            Platform::Mailchimp => {
                entry.email = self.cell(&["email_address"]).into();
                entry.name = join_name(self.cell(&["first_name"]), self.cell(&["last_name"]));
                entry.standing = self.file_standing;
                if entry.standing == Standing::Unsubscribed {
                    let reason = self.cell(&["unsub_reason"]).to_ascii_lowercase();
                    if reason.contains("spam") || reason.contains("abuse") {
                        entry.standing = Standing::Complained;
                    }
                }
                entry.at = match entry.standing {
                    Standing::Bounced => self.time(line, &["clean_time"])?,
                    Standing::Unsubscribed | Standing::Complained => {
                        self.time(line, &["unsub_time"])?
                    }
                    _ => match self.time(line, &["confirm_time"])? {
                        Some(at) => Some(at),
                        None => self.time(line, &["optin_time"])?,
                    },
                };
                entry.ip = match self.cell(&["confirm_ip"]) {
                    "" => self.cell(&["optin_ip"]).into(),
                    ip => ip.into(),
                };
                tags = list_of(self.cell(&["tags"]));
                entry.fields = self.other_columns();
            }
            Platform::Substack => {
                entry.email = self.cell(&["email"]).into();
                entry.name = self.cell(&["name"]).into();
                entry.standing = if self.flag(line, &["email_disabled"])? {
                    Standing::Unsubscribed
                } else {
                    Standing::Subscribed
                };
                entry.at = self.time(line, &["created_at"])?;
            }
            Platform::Beehiiv => {
                entry.email = self.cell(&["email"]).into();
                entry.name = match self.cell(&["name"]) {
                    "" => join_name(self.cell(&["first_name"]), self.cell(&["last_name"])),
                    name => name.into(),
                };
                entry.standing = self.status(
                    line,
                    &["status"],
                    &[
                        (&["active"], Standing::Subscribed),
                        (
                            &["pending", "validating", "needs_approval", "needs_attention"],
                            Standing::Pending,
                        ),
                        (&["inactive", "unsubscribed"], Standing::Unsubscribed),
                        (&["invalid"], Standing::Bounced),
                    ],
                )?;
                entry.at =
                    self.when(line, entry.standing, &["unsubscribed_at"], &["created_at"])?;
                tags = list_of(self.cell(&["tags"]));
            }
            Platform::Ghost => {
                entry.email = self.cell(&["email"]).into();
                entry.name = self.cell(&["name"]).into();
                entry.standing = if self.flag(line, &["email_disabled"])? {
                    Standing::Bounced
                } else if self.flag(line, &["subscribed_to_emails"])? {
                    Standing::Subscribed
                } else {
                    Standing::Unsubscribed
                };
                entry.at = self.time(line, &["created_at"])?;
                tags = list_of(self.cell(&["labels"]));
            }
            Platform::Listmonk => {
                entry.email = self.cell(&["email"]).into();
                entry.name = self.cell(&["name"]).into();
                let status = self.status(
                    line,
                    &["status"],
                    &[
                        (&["enabled"], Standing::Subscribed),
                        (&["disabled", "blocklisted"], Standing::Unsubscribed),
                    ],
                )?;
                let subscription = if self.cell(&["subscription_status"]).is_empty() {
                    Standing::Subscribed
                } else {
                    self.status(
                        line,
                        &["subscription_status"],
                        &[
                            (&["confirmed"], Standing::Subscribed),
                            (&["unconfirmed"], Standing::Pending),
                            (&["unsubscribed"], Standing::Unsubscribed),
                        ],
                    )?
                };
                entry.standing = if status.suppresses() {
                    status
                } else {
                    subscription
                };
                entry.at = self.time(line, &["created_at"])?;
                entry.fields = json_fields(self.cell(&["attributes"]))
                    .map_err(|e| self.error(line, &["attributes"], e))?;
            }
            Platform::Buttondown => {
                entry.email = self.cell(&["email", "email_address"]).into();
                entry.standing = self.status(
                    line,
                    &["type", "subscriber_type"],
                    &[
                        (
                            &[
                                "regular", "premium", "gifted", "trialed", "churning", "past_due",
                                "unpaid", "paused",
                            ],
                            Standing::Subscribed,
                        ),
                        (&["unactivated"], Standing::Pending),
                        (&["unsubscribed", "removed"], Standing::Unsubscribed),
                        (&["undeliverable"], Standing::Bounced),
                        (&["spammy", "complained"], Standing::Complained),
                    ],
                )?;
                entry.at = self.when(
                    line,
                    entry.standing,
                    &["unsubscription_date"],
                    &["creation_date", "created_date", "created_at"],
                )?;
                tags = list_of(self.cell(&["tags"]));
                entry.fields = json_fields(self.cell(&["metadata"]))
                    .map_err(|e| self.error(line, &["metadata"], e))?;
            }
            Platform::Kit => {
                entry.email = self.cell(&["email_address", "email"]).into();
                entry.name = self.cell(&["first_name"]).into();
                entry.standing = self.status(
                    line,
                    &["state"],
                    &[
                        (&["active", "cold"], Standing::Subscribed),
                        (&["inactive"], Standing::Pending),
                        (&["cancelled", "canceled"], Standing::Unsubscribed),
                        (&["bounced"], Standing::Bounced),
                        (&["complained"], Standing::Complained),
                    ],
                )?;
                entry.at = self.when(
                    line,
                    entry.standing,
                    &["canceled_at", "cancelled_at"],
                    &["created_at"],
                )?;
                tags = list_of(self.cell(&["tags"]));
                entry.fields = self.other_columns();
            }
            Platform::Csv => {
                entry.email = self.cell(&["email"]).into();
                entry.name = self.cell(&["name"]).into();
                entry.standing = self.status(
                    line,
                    &["status"],
                    &[
                        (&["subscribed", ""], Standing::Subscribed),
                        (&["pending"], Standing::Pending),
                        (&["unsubscribed"], Standing::Unsubscribed),
                        (&["bounced"], Standing::Bounced),
                        (&["complained"], Standing::Complained),
                    ],
                )?;
                entry.at = self.time(line, &["status_at"])?;
                entry.ip = self.cell(&["ip"]).into();
                entry.fields = self.other_columns();
            }
        }
        if !tags.is_empty() {
            entry.fields.insert(0, ("tags".into(), tags));
        }
        if entry.name.chars().any(char::is_control) {
            // A line break in a name would become a header's.
            entry.name = entry
                .name
                .split(char::is_control)
                .collect::<Vec<_>>()
                .join(" ");
        }
        for (_, value) in &mut entry.fields {
            if value.chars().any(char::is_control) {
                *value = value.split(char::is_control).collect::<Vec<_>>().join(" ");
            }
        }
        Ok(entry)
    }
}

impl Iterator for Rows {
    type Item = Result<Read, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (result, line) = crate::list::reader::read_numbered(&mut self.csv, &mut self.record);
        match result {
            Ok(false) => None,
            Err(e) => Some(Err(RowError {
                path: self.path.clone(),
                line: e.position().map_or(line, csv::Position::line),
                column: String::new(),
                reason: match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        "the row is not UTF-8 (save the export as UTF-8)".into()
                    }
                    _ => e.to_string(),
                },
            })),
            Ok(true) if self.record.iter().all(|f| f.trim().is_empty()) => self.next(),
            Ok(true) => Some(self.entry(line).map(|mut entry| {
                let raw = entry.email.clone();
                match address_check(&raw) {
                    Ok(email) => {
                        entry.email = email;
                        Read::Entry { line, entry }
                    }
                    Err(reason) => Read::Invalid { line, reason },
                }
            })),
        }
    }
}

/// The normalized address, or why the cell is none missive sends to.
fn address_check(raw: &str) -> Result<String, String> {
    use std::str::FromStr as _;
    if raw.is_empty() {
        return Err("the email field is empty".into());
    }
    let address = lettre::Address::from_str(raw)
        .map_err(|_| format!("`{}` is not a valid email address", raw.escape_debug()))?;
    if let Some(why) = crate::list::reader::unsendable(&address) {
        return Err(format!("`{}` {why}", raw.escape_debug()));
    }
    let email = normalize(address.as_ref());
    if email.len() > crate::list::events::MAX_ADDRESS {
        return Err(format!("an address of {} bytes is not one", email.len()));
    }
    Ok(email)
}

/// `First` and `Last` as one name.
fn join_name(first: &str, last: &str) -> String {
    match (first.trim(), last.trim()) {
        (f, "") => f.to_string(),
        ("", l) => l.to_string(),
        (f, l) => format!("{f} {l}"),
    }
}

/// A list cell as `a, b`: Mailchimp's `"a","b"`, a JSON array, or words
/// between commas.
fn list_of(cell: &str) -> String {
    let cell = cell.trim();
    if cell.is_empty() {
        return String::new();
    }
    if cell.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(cell)
    {
        return items
            .iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) => Some(s.trim().to_string()),
                serde_json::Value::Object(o) => o
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(|s| s.trim().to_string()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
    }
    cell.split(',')
        .map(|t| t.trim().trim_matches('"').trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON object's values (strings, numbers, yes/no, lists) as fields.
fn json_fields(cell: &str) -> Result<Vec<(String, String)>, String> {
    let cell = cell.trim();
    if cell.is_empty() || cell == "null" {
        return Ok(Vec::new());
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(cell).map_err(|e| format!("not a JSON object: {e}"))?;
    Ok(object
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null | serde_json::Value::Object(_) => return None,
                serde_json::Value::Array(_) => list_of(&value.to_string()),
                other => other.to_string(),
            };
            (!value.trim().is_empty()).then(|| (field_name(&key), value.trim().to_string()))
        })
        .collect())
}

/// A column name a field takes in the list: `Company Name` → `company_name`.
fn field_name(name: &str) -> String {
    let key = column_key(name);
    let key = key.trim_matches('_');
    if key.is_empty() {
        "field".into()
    } else {
        key.to_string()
    }
}

/// A time as the platforms write them: RFC 3339 (`2024-03-01T12:00:00Z`,
/// `…+01:00`, with fractions), `2024-03-01 12:00:00` (UTC, Mailchimp's),
/// with fractions or an offset or ` UTC`, and a date alone (midnight UTC).
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let text = text.trim_end_matches(" UTC").trim_end_matches('Z');
    let spaced = text.replacen('T', " ", 1);
    // An offset after the time: `+00`, `+0000`, `+00:00`.
    let (local, offset) = match spaced.rfind(['+', '-']) {
        Some(i) if i > 10 => (&spaced[..i], Some(&spaced[i..])),
        _ => (spaced.as_str(), None),
    };
    let offset = match offset {
        None => time::UtcOffset::UTC,
        Some(o) => {
            let digits: String = o[1..].chars().filter(char::is_ascii_digit).collect();
            let (h, m) = match digits.len() {
                2 => (digits.parse::<i8>().ok()?, 0),
                4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
                _ => return None,
            };
            let sign = if o.starts_with('-') { -1 } else { 1 };
            time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
    };
    let formats = [
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
    ];
    for format in formats {
        if let Ok(at) = time::PrimitiveDateTime::parse(local, format) {
            return Some(at.assume_offset(offset));
        }
    }
    time::Date::parse(local, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|d| d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_the_platforms_write_them() {
        let at = |s| parse_time(s).map(OffsetDateTime::unix_timestamp);
        let noon = Some(1_709_294_400);
        assert_eq!(at("2024-03-01T12:00:00Z"), noon);
        assert_eq!(
            at("2024-03-01T12:00:00.123Z"),
            noon,
            "fractions of a second dropped"
        );
        assert_eq!(at("2024-03-01 12:00:00"), noon);
        assert_eq!(at("2024-03-01 12:00:00 UTC"), noon);
        assert_eq!(at("2024-03-01 13:00:00+01"), noon);
        assert_eq!(at("2024-03-01 07:00:00.5-0500"), noon);
        assert_eq!(at("2024-03-01T12:00:00.000000+00:00"), noon);
        assert_eq!(at("2024-03-01"), Some(1_709_251_200));
        assert_eq!(at("March 1st"), None);
        assert_eq!(at("2024-13-01"), None);
    }

    #[test]
    fn lists_and_fields() {
        assert_eq!(list_of(r#""Customer","VIP, gold""#), "Customer, VIP, gold");
        assert_eq!(list_of(r#"["a", "b"]"#), "a, b");
        assert_eq!(list_of(r#"[{"name":"x"}]"#), "x");
        assert_eq!(
            json_fields(r#"{"City":"Zürich","age":42,"vip":true,"n":null}"#).unwrap(),
            vec![
                ("city".to_string(), "Zürich".to_string()),
                ("age".to_string(), "42".to_string()),
                ("vip".to_string(), "true".to_string())
            ]
        );
        assert!(json_fields("{nope").is_err());
        assert_eq!(column_key("\u{feff}Email Address "), "email_address");
    }

    #[test]
    fn a_suppression_outweighs_consent_and_consent_a_pending_sign_up() {
        let by = |a: Standing, b: Standing| a.strength() > b.strength();
        assert!(by(Standing::Complained, Standing::Bounced));
        assert!(by(Standing::Bounced, Standing::Unsubscribed));
        assert!(by(Standing::Unsubscribed, Standing::Subscribed));
        assert!(by(Standing::Subscribed, Standing::Pending));
        assert!(!Standing::Pending.suppresses() && Standing::Unsubscribed.suppresses());
    }
}
