//! `subscribers export`: the list as `send` sees it (the CSV and the log
//! merged), with each reader's consent time, written in missive's own shape
//! or in a shape Ghost, listmonk or Mailchimp imports; with `--all`, the
//! suppressed (and, in missive's shape, the pending) too.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use time::OffsetDateTime;

use super::formats::Standing;
use crate::list::address::{address_hash, normalize};
use crate::list::events::{self, Event};
use crate::list::reader::{Reader, Row, Status};

/// A shape `subscribers export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Shape {
    /// missive's own: `email,name,status,status_at,ip,…` (what `import
    /// --from csv` reads back).
    Csv,
    Ghost,
    Listmonk,
    /// Mailchimp's three files: subscribed in FILE, with `--all` the
    /// unsubscribed and cleaned beside it.
    Mailchimp,
}

/// One reader as an export writes them.
struct Out {
    email: String,
    name: String,
    standing: Standing,
    at: Option<OffsetDateTime>,
    ip: String,
    /// The list's other columns, by name.
    fields: Vec<(String, String)>,
}

/// What an export wrote.
#[derive(Debug, Serialize)]
pub(crate) struct Exported {
    pub(crate) shape: Shape,
    pub(crate) files: Vec<PathBuf>,
    pub(crate) readers: BTreeMap<Standing, u64>,
}

/// What the log says of each address: its consent (time and address it
/// came from), and its latest word that moved it or left it pending.
#[derive(Default)]
struct Said {
    email: String,
    consent: Option<(Option<OffsetDateTime>, String)>,
    latest: Option<(Event, Option<OffsetDateTime>, String)>,
}

/// The log read once: what it says of each address, and the list as it
/// has it (who is off it, who joined it).
fn read_log(log: &Path) -> Result<(HashMap<u64, Said>, events::Suppressed)> {
    let mut said: HashMap<u64, Said> = HashMap::new();
    let mut suppressed = events::Suppressed::default();
    events::each_record(log, |record| {
        events::apply(&mut suppressed, &record);
        let email = normalize(&record.email);
        let s = said.entry(address_hash(&email)).or_default();
        s.email = email;
        if matches!(record.event, Event::Imported | Event::Confirmed) {
            let ip = events::detail_value(&record.detail, "ip").unwrap_or_default();
            s.consent = Some((record.time, ip));
        }
        if record.event.moves() || record.event == Event::Pending {
            let name = events::detail_value(&record.detail, "name").unwrap_or_default();
            s.latest = Some((record.event, record.time, name));
        }
    })?;
    Ok((said, suppressed))
}

/// The readers of `list` and `log`: those who receive mail, then with
/// `all` those off the list and the pending, each address once.
fn readers(log: &Path, list: &Path, all: bool) -> Result<Vec<Out>> {
    let (said, suppressed) = read_log(log)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    // An empty or missing list is one not begun yet: the log's readers.
    let reader = if std::fs::metadata(list).is_ok_and(|m| m.len() > 0) {
        Reader::open(list)?
    } else {
        Reader::from_reader(list, Box::new(&b"email\n"[..]))?
    };
    let columns = reader.columns().to_vec();
    for row in reader.suppress(suppressed) {
        let (email, standing, subscriber) = match row {
            Row::Subscriber(s) => (s.key(), Standing::Subscribed, Some(s)),
            Row::Inactive { email, status, .. } if all => {
                let hash = address_hash(&email);
                let standing = match (said.get(&hash).and_then(|s| s.latest.as_ref()), status) {
                    (Some((Event::Bounced, ..)), _) | (_, Status::Bounced) => Standing::Bounced,
                    (Some((Event::Complained, ..)), _) | (_, Status::Complained) => {
                        Standing::Complained
                    }
                    _ => Standing::Unsubscribed,
                };
                (email, standing, None)
            }
            _ => continue,
        };
        let hash = address_hash(&email);
        if !seen.insert(hash) {
            continue;
        }
        let s = said.get(&hash);
        let out_row = match subscriber {
            Some(sub) => Out {
                email: sub.key(),
                name: sub.name.clone(),
                standing,
                at: s.and_then(|s| s.consent.as_ref()).and_then(|c| c.0),
                ip: s
                    .and_then(|s| s.consent.as_ref())
                    .map(|c| c.1.clone())
                    .unwrap_or_default(),
                fields: columns
                    .iter()
                    .filter(|c| !["email", "name", "status"].contains(&c.to_lowercase().as_str()))
                    .filter_map(|c| {
                        let v = sub.column(c)?;
                        (!v.is_empty()).then(|| (c.clone(), v.to_string()))
                    })
                    .collect(),
            },
            None => Out {
                email,
                name: String::new(),
                standing,
                at: s.and_then(|s| s.latest.as_ref()).and_then(|l| l.1),
                ip: String::new(),
                fields: Vec::new(),
            },
        };
        out.push(out_row);
    }
    if all {
        // Off the list or pending in the log alone (never a row of the list).
        let mut rest: Vec<(&u64, &Said)> = said
            .iter()
            .filter(|(hash, _)| !seen.contains(*hash))
            .collect();
        rest.sort_by(|a, b| a.1.email.cmp(&b.1.email));
        for (_, s) in rest {
            let Some((event, at, name)) = &s.latest else {
                continue;
            };
            let standing = match event {
                Event::Pending => Standing::Pending,
                Event::Bounced => Standing::Bounced,
                Event::Complained => Standing::Complained,
                e if e.suppresses() => Standing::Unsubscribed,
                _ => continue,
            };
            out.push(Out {
                email: s.email.clone(),
                name: name.clone(),
                standing,
                at: *at,
                ip: String::new(),
                fields: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// Writes the list of `log` and `list` to `file` in `shape` (with `all`,
/// the suppressed too; Mailchimp's go to files beside it). Every file is
/// written atomically and kept private.
pub(crate) fn export(
    log: &Path,
    list: &Path,
    shape: Shape,
    file: &Path,
    all: bool,
) -> Result<Exported> {
    let readers = readers(log, list, all)?;
    let mut fields: Vec<String> = Vec::new();
    for r in &readers {
        for (k, _) in &r.fields {
            if !fields.contains(k) {
                fields.push(k.clone());
            }
        }
    }
    let mut counts: BTreeMap<Standing, u64> = BTreeMap::new();
    let mut files = Vec::new();
    let groups: Vec<(PathBuf, Vec<&Out>)> = match shape {
        Shape::Mailchimp => {
            let beside = |word: &str| {
                let stem = file
                    .file_stem()
                    .map_or_else(|| "export".into(), |s| s.to_string_lossy().into_owned());
                file.with_file_name(format!("{stem}.{word}.csv"))
            };
            let of =
                |f: &dyn Fn(Standing) -> bool| readers.iter().filter(|r| f(r.standing)).collect();
            let mut groups = vec![(file.to_path_buf(), of(&|s| s == Standing::Subscribed))];
            if all {
                groups.push((
                    beside("unsubscribed"),
                    of(&|s| matches!(s, Standing::Unsubscribed | Standing::Complained)),
                ));
                groups.push((beside("cleaned"), of(&|s| s == Standing::Bounced)));
            }
            groups
        }
        Shape::Ghost | Shape::Listmonk => vec![(
            file.to_path_buf(),
            readers
                .iter()
                .filter(|r| r.standing != Standing::Pending)
                .collect(),
        )],
        Shape::Csv => vec![(file.to_path_buf(), readers.iter().collect())],
    };
    for (path, group) in groups {
        let mut writer = csv::Writer::from_writer(Vec::new());
        write_header(&mut writer, shape, &path, file, &fields)?;
        for r in &group {
            *counts.entry(r.standing).or_default() += 1;
            writer.write_record(row(shape, r, &fields))?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot format {}: {e}", path.display()))?;
        crate::fsutil::write_atomic(&path, &bytes, Some(crate::fsutil::PRIVATE_FILE))?;
        files.push(path);
    }
    Ok(Exported {
        shape,
        files,
        readers: counts,
    })
}

/// Mailchimp's file of this group: subscribed, unsubscribed or cleaned.
fn mailchimp_group(path: &Path, file: &Path) -> Standing {
    let name = path.to_string_lossy();
    if path == file {
        Standing::Subscribed
    } else if name.ends_with(".cleaned.csv") {
        Standing::Bounced
    } else {
        Standing::Unsubscribed
    }
}

fn write_header(
    writer: &mut csv::Writer<Vec<u8>>,
    shape: Shape,
    path: &Path,
    file: &Path,
    fields: &[String],
) -> Result<()> {
    let mut header: Vec<&str> = match shape {
        Shape::Csv => vec!["email", "name", "status", "status_at", "ip"],
        Shape::Ghost => vec![
            "email",
            "name",
            "note",
            "subscribed_to_emails",
            "complimentary_plan",
            "stripe_customer_id",
            "created_at",
            "deleted_at",
            "labels",
        ],
        Shape::Listmonk => vec![
            "uuid",
            "email",
            "name",
            "attributes",
            "status",
            "created_at",
            "updated_at",
        ],
        Shape::Mailchimp => {
            let mut h = vec![
                "Email Address",
                "First Name",
                "Last Name",
                "OPTIN_TIME",
                "OPTIN_IP",
                "CONFIRM_TIME",
                "CONFIRM_IP",
                "TAGS",
            ];
            match mailchimp_group(path, file) {
                Standing::Bounced => h.push("CLEAN_TIME"),
                Standing::Subscribed => {}
                _ => h.extend(["UNSUB_TIME", "UNSUB_REASON"]),
            }
            h
        }
    };
    if matches!(shape, Shape::Csv | Shape::Mailchimp) {
        header.extend(
            fields
                .iter()
                .filter(|f| shape == Shape::Csv || !f.eq_ignore_ascii_case("tags"))
                .map(String::as_str),
        );
    }
    writer.write_record(&header)?;
    Ok(())
}

fn rfc3339(at: Option<OffsetDateTime>) -> String {
    at.and_then(|at| {
        at.to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_default()
}

fn field<'a>(r: &'a Out, name: &str) -> &'a str {
    r.fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

/// A stable identifier for listmonk's `uuid` column, from the address (a
/// UUID of version 8, built from its SHA-256).
fn uuid_of(email: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(email.as_bytes());
    let mut b: [u8; 16] = d[..16].try_into().expect("16 of 32 bytes");
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = data_encoding::HEXLOWER.encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn row(shape: Shape, r: &Out, fields: &[String]) -> Vec<String> {
    let at = rfc3339(r.at);
    match shape {
        Shape::Csv => {
            let mut row = vec![
                r.email.clone(),
                r.name.clone(),
                r.standing.as_str().to_string(),
                at,
                r.ip.clone(),
            ];
            row.extend(fields.iter().map(|f| field(r, f).to_string()));
            row
        }
        Shape::Ghost => vec![
            r.email.clone(),
            r.name.clone(),
            String::new(),
            (r.standing == Standing::Subscribed).to_string(),
            String::new(),
            String::new(),
            at,
            String::new(),
            field(r, "tags").to_string(),
        ],
        Shape::Listmonk => {
            let attributes: serde_json::Map<String, serde_json::Value> = r
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            vec![
                uuid_of(&r.email),
                r.email.clone(),
                r.name.clone(),
                serde_json::Value::Object(attributes).to_string(),
                if r.standing.suppresses() {
                    "blocklisted"
                } else {
                    "enabled"
                }
                .to_string(),
                at.clone(),
                at,
            ]
        }
        Shape::Mailchimp => {
            let (first, last) = r.name.split_once(' ').unwrap_or((&r.name, ""));
            let plain =
                r.at.and_then(|at| {
                    at.to_offset(time::UtcOffset::UTC)
                        .format(time::macros::format_description!(
                            "[year]-[month]-[day] [hour]:[minute]:[second]"
                        ))
                        .ok()
                })
                .unwrap_or_default();
            let tags = field(r, "tags")
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(",");
            // The consent times and address, for the subscribed file alone.
            let consent = |value: &str| {
                if r.standing == Standing::Subscribed {
                    value.to_string()
                } else {
                    String::new()
                }
            };
            let mut row = vec![
                r.email.clone(),
                first.to_string(),
                last.to_string(),
                consent(&plain),
                consent(&r.ip),
                consent(&plain),
                consent(&r.ip),
                tags,
            ];
            match r.standing {
                Standing::Bounced => row.push(plain),
                Standing::Unsubscribed => row.extend([plain, String::new()]),
                Standing::Complained => row.extend([plain, "abuse".to_string()]),
                _ => {}
            }
            row.extend(
                fields
                    .iter()
                    .filter(|f| !f.eq_ignore_ascii_case("tags"))
                    .map(|f| field(r, f).to_string()),
            );
            row
        }
    }
}
