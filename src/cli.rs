//! Command-line arguments (clap derive): the top-level [`Cli`] and one
//! `Args` struct per command. Nothing here runs anything.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the version and the git commit built.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MISSIVE_GIT_COMMIT"),
    ")"
);

/// Write a newsletter issue in TOML; missive renders it to email HTML and
/// plain text, previews it and sends it to your subscribers.
///
/// Exit codes: 0 success (for send: every recipient has the issue); 1 an
/// error (bad input, failed check, refused or stopped send); 2 wrong
/// command-line usage; 3 a send finished but not every recipient has the
/// issue; 130 a send interrupted by Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "missive", version = VERSION)]
pub struct Cli {
    /// The project config [default: ./missive.toml if present].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How `serve`, `send` and `bounces` write their logs (on stderr; the
    /// level from MISSIVE_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event, for log shippers.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render an issue to MJML, HTML and plain text files.
    Build(BuildArgs),
    /// Report errors and warnings in an issue without writing anything.
    Check(CheckArgs),
    /// Start a new issue from a commented starter: issues/<today>-<slug>.toml.
    New(NewArgs),
    /// Add an item to an issue from its page: title, authors, publication and date filled in.
    ///
    /// Fetches URL and reads the page's own metadata (JSON-LD, citation_*,
    /// OpenGraph, <meta name=author>, <time>, <title>); the item goes at the
    /// end of its section, and nothing else in the file changes.
    Add(AddArgs),
    /// Draft items from an RSS or Atom feed, or a bookmarks export, into an issue.
    ///
    /// Links already in the issue or sent in an earlier one are left out.
    Import(ImportArgs),
    /// Send an issue: a test to yourself (--test), or the whole subscriber list.
    ///
    /// A dispatch prints a summary and asks for confirmation (or takes
    /// --yes). It journals every outcome in .missive/, so running the same
    /// command again resumes where it stopped.
    Send(SendArgs),
    /// Preview an issue in the browser, re-rendered whenever you save it.
    Preview(PreviewArgs),
    /// Answer unsubscribe links (one-click, RFC 8058) and sign-ups, and serve the web archive.
    ///
    /// Run it behind your reverse proxy for TLS. Unsubscribes and sign-ups
    /// (with [signup]: double opt-in, confirmed by email) are appended to the
    /// project's list-event log in .missive/, which every send honours.
    Serve(ServeArgs),
    /// Print a sign-up form to paste into a page of your site.
    SignupForm,
    /// Build the web archive: an index of every issue, each issue's web version, an Atom feed.
    Archive(ArchiveArgs),
    /// Show the subscriber list's counts, unsubscribes included; --fold writes them into the list; add and remove readers.
    Subscribers(SubscribersArgs),
    /// Show how the sending of an issue went: sent, failed, pending, bounces and complaints.
    Status(StatusArgs),
    /// Show which items readers clicked (with [clicks]), scanners filtered out, beside the delivery funnel.
    ///
    /// Counts are per link, hour and verdict: nobody's address, IP or
    /// browser is recorded. --html writes a report page with charts that
    /// needs no network.
    Stats(StatsArgs),
    /// Print the shell completion script for bash, zsh or fish.
    ///
    /// For bash: `missive completions bash > ~/.local/share/bash-completion/completions/missive`.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff): `missive man > missive.1`, then `man -l missive.1`.
    Man,
    /// Write the manual's reference (every command and flag, every config
    /// key) as Markdown into DIR; a test keeps `docs/src/reference` current.
    #[command(hide = true)]
    Reference {
        /// Where the pages go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Before the first send: check DNS authentication, the message, the relays and the unsubscribe endpoint.
    ///
    /// Checks SPF, DKIM and DMARC (and their alignment), the bounce
    /// domain's MX and the sending addresses' PTR records; builds the next
    /// message of ISSUE as `send` would and verifies its signature; connects
    /// and logs in to each relay without sending; tries the one-click
    /// unsubscribe URL with a canary no reader has. Prints what it found,
    /// most serious first, with the record or setting that fixes each; exits
    /// 1 when anything is an error.
    Doctor(DoctorArgs),
    /// Read bounces and complaints from a mailbox; suppress hard bounces and complaints.
    ///
    /// Reads new messages from a Maildir, an mbox or an IMAP folder,
    /// classifies each (hard, soft, complaint, auto-reply, delayed,
    /// unknown), and records it in the project's list-event log. Processed
    /// messages are marked seen (never deleted); mail that is not a bounce
    /// is left unread.
    Bounces(BouncesArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The issue whose next message is checked [default: the newest in issues/].
    pub issue: Option<PathBuf>,
    /// An address the relays send from: SPF must pass for it, and its PTR
    /// must point back (repeat for each) [default: relay hosts given as
    /// public IP addresses].
    #[arg(long, value_name = "ADDR")]
    pub ip: Vec<std::net::IpAddr>,
    /// Ask this DNS resolver (HOST:PORT) instead of the system's: for
    /// split-horizon DNS, or a test server.
    #[arg(long, value_name = "HOST:PORT")]
    pub dns: Option<std::net::SocketAddr>,
    /// Run only these parts (repeat for several) [default: all].
    #[arg(long, value_enum, value_name = "PART")]
    pub only: Vec<DoctorPart>,
    /// How long each DNS query, connection and request may take, in seconds.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub timeout: u64,
    /// Also write the message that was checked to FILE (as it goes on the wire).
    #[arg(long, value_name = "FILE")]
    pub save_message: Option<PathBuf>,
    /// Print the findings as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// A part of `missive doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DoctorPart {
    /// SPF, DKIM, DMARC, MX and PTR records.
    Dns,
    /// The next message, made as `send` makes it.
    Message,
    /// Each relay: TLS, login, size limit, what it offers.
    Relays,
    /// The one-click unsubscribe URL.
    Endpoint,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The issue file (TOML).
    pub issue: PathBuf,
    /// Where to write `<stem>.mjml`, `<stem>.html` and `<stem>.txt`.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The issue file (TOML) [default: the newest in issues/].
    pub issue: Option<PathBuf>,
    /// Treat warnings (and, with --links, dead links) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Also ask for every link of the issue: dead, moved and redirected links, by item.
    #[arg(long)]
    pub links: bool,
    /// With --links: ask again even for links checked in the last day.
    #[arg(long, requires = "links")]
    pub fresh: bool,
    /// List each finding on its own line with its field path, instead of
    /// one line per kind.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Make these fail too: `notes` (drafting reminders such as items
    /// without a url).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub deny: Vec<Deny>,
    /// Print the findings as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// What `check --deny` makes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Deny {
    /// Drafting reminders (items without a url, no preheader).
    Notes,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The subject of the new issue.
    pub title: String,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The issue file (TOML).
    pub issue: PathBuf,
    /// Send one test message to newsletter.test_to (or --to), subject prefixed "[TEST] ".
    #[arg(long)]
    pub test: bool,
    /// With --test: the address to send the test to.
    #[arg(long, value_name = "ADDRESS", requires = "test")]
    pub to: Option<String>,
    /// The subscriber list (CSV) [default: sending.subscribers from the config].
    #[arg(long, value_name = "FILE")]
    pub subscribers: Option<PathBuf>,
    /// Build and check every message, print the summary, send nothing.
    #[arg(long, conflicts_with = "test")]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y', conflicts_with = "test")]
    pub yes: bool,
    /// Send to at most N recipients in this run.
    #[arg(long, value_name = "N", conflicts_with = "test")]
    pub limit: Option<u64>,
    /// Also retry recipients the server refused for good (5xx) before.
    #[arg(long, conflicts_with = "test")]
    pub retry_failed: bool,
    /// Resume even though the issue changed since sending began.
    #[arg(long, conflicts_with = "test")]
    pub force: bool,
    /// Send to the valid rows even when the list has invalid ones.
    #[arg(long, conflicts_with = "test")]
    pub skip_invalid: bool,
    /// When the relays' daily limits stop the send, wait until they free
    /// and go on, until the list is done.
    #[arg(long, conflicts_with_all = ["test", "dry_run"])]
    pub wait: bool,
    /// With --dry-run: print the plan and what the dry run built as one
    /// JSON document instead of the summary.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The issue file (TOML).
    pub issue: PathBuf,
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8025)]
    pub port: u16,
    /// The address to listen on; anything but loopback exposes your draft.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Open the preview in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Show the copy of this subscriber [default: the first on the list].
    #[arg(long = "as", value_name = "EMAIL")]
    pub as_email: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The archive `missive archive` wrote.
    #[arg(long, default_value = "site")]
    pub site: PathBuf,
    /// The subscriber list (CSV) [default: sending.subscribers from the config].
    #[arg(long, value_name = "FILE")]
    pub subscribers: Option<PathBuf>,
    /// Welcome each confirmed sign-up with the latest issue sent (in place of signup.welcome).
    #[arg(long)]
    pub send_latest: bool,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Where to write the site.
    #[arg(long, default_value = "site")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SubscribersArgs {
    /// The subscriber list (CSV) [default: sending.subscribers from the config].
    #[arg(long, value_name = "FILE")]
    pub subscribers: Option<PathBuf>,
    /// Write the log into the list itself: unsubscribes, bounces and
    /// complaints marked `unsubscribed`, confirmed sign-ups added.
    #[arg(long)]
    pub fold: bool,
    /// Print the counts as one JSON document.
    #[arg(long, conflicts_with = "fold")]
    pub json: bool,
    #[command(subcommand)]
    pub change: Option<SubscribersChange>,
}

/// A change the author makes to the list, written to the list-event log.
#[derive(Debug, Subcommand)]
pub enum SubscribersChange {
    /// Add a reader: with --confirmed at once, otherwise mailed a confirmation link first.
    Add {
        email: String,
        /// Their name.
        #[arg(long)]
        name: Option<String>,
        /// They already agreed (e.g. on paper): no confirmation email.
        #[arg(long)]
        confirmed: bool,
    },
    /// Take a reader off the list (recorded as unsubscribed by the author).
    Remove { email: String },
    /// Bring readers over from a hosted platform's export, with the consent they gave and every suppression.
    ///
    /// Each reader becomes an event in the list-event log (`imported` with
    /// their consent time, `unsubscribed`, `bounced`, `complained` or
    /// `pending`, from `import:FORMAT`); subscribed readers new to the list
    /// become rows of the CSV, with their name, tags and fields. A reader
    /// in several rows or files takes the strongest word (complained,
    /// bounced, unsubscribed, subscribed, pending). Nothing undoes a
    /// suppression the project already holds, and running the same import
    /// again changes nothing.
    Import {
        /// The export's platform; `auto` recognises it by its header row.
        #[arg(long = "from", value_enum, default_value_t = ImportFrom::Auto)]
        from: ImportFrom,
        /// The export's CSV files (Mailchimp's three at once).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Show what would happen, by status, and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print what happened as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Write the list in another shape: missive's own, Ghost's, listmonk's or Mailchimp's.
    ///
    /// Writes the readers who receive mail (the CSV and the log merged, as
    /// `send` sees them) with their consent times; with --all the
    /// unsubscribed, bounced and complained too (Mailchimp's beside FILE as
    /// FILE-STEM.unsubscribed.csv and FILE-STEM.cleaned.csv; missive's own
    /// shape keeps the pending too). The files are private (0600).
    Export {
        /// The shape to write.
        #[arg(long = "to", value_enum)]
        to: ExportTo,
        /// Where to write it.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Also write the readers off the list.
        #[arg(long)]
        all: bool,
        /// Print what was written as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Mail a confirmation link to every reader an import left pending.
    ///
    /// Goes through the sign-up path: the reader is on the list once they
    /// follow the link (`missive serve`). Each is mailed once; running it
    /// again mails only those not mailed yet.
    Reconfirm {
        /// List who would be mailed, and mail nobody.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The platform an export to import comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFrom {
    /// Recognised by its header row.
    Auto,
    Substack,
    /// The three files of an audience export: subscribed, unsubscribed, cleaned.
    Mailchimp,
    Beehiiv,
    /// Ghost's members export.
    Ghost,
    Listmonk,
    /// The subscribers and unsubscribers exports.
    Buttondown,
    /// Kit (ConvertKit).
    Kit,
    /// missive's own shape (`subscribers export --to csv`).
    Csv,
}

/// The shape `subscribers export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportTo {
    /// missive's own: email, name, status, status_at, ip, and the list's other columns.
    Csv,
    /// Ghost's members import.
    Ghost,
    Listmonk,
    /// An audience import (with --all, the unsubscribed and cleaned in files of their own).
    Mailchimp,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The issue file (TOML).
    pub issue: PathBuf,
    /// The subscriber list (CSV) [default: sending.subscribers from the config].
    #[arg(long, value_name = "FILE")]
    pub subscribers: Option<PathBuf>,
    /// Print the status as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The issue file (TOML).
    pub issue: PathBuf,
    /// The subscriber list (CSV) [default: sending.subscribers from the config].
    #[arg(long, value_name = "FILE")]
    pub subscribers: Option<PathBuf>,
    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as a self-contained HTML page with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BouncesArgs {
    /// maildir:PATH, mbox:PATH, imaps://user@host[:port]/FOLDER, or a path
    /// [default: bounces.mailbox from the config].
    pub mailbox: Option<String>,
    /// Classify and report; record nothing, mark nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object per message instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The page to add.
    pub url: String,
    /// The issue file [default: the newest in issues/].
    #[arg(long, value_name = "FILE")]
    pub issue: Option<PathBuf>,
    /// The section to add it to [default: the last]; a new one if none has that title.
    #[arg(long, value_name = "TITLE")]
    pub section: Option<String>,
    /// A label shown before the title, e.g. VIDEO.
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// Your comment (Markdown).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// The title, when the page has none worth using.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
    /// Print the item; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A feed (a URL or a file) or a bookmarks export (HTML, as browsers write it).
    pub source: String,
    /// The issue file [default: the newest in issues/].
    #[arg(long, value_name = "FILE")]
    pub issue: Option<PathBuf>,
    /// The section to add them to [default: the last]; a new one if none has that title.
    #[arg(long, value_name = "TITLE")]
    pub section: Option<String>,
    /// Only what was published (or bookmarked) on or after this day, e.g. 2026-11-20.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub since: Option<time::Date>,
    /// Fill each item from its page, as `add` does.
    #[arg(long)]
    pub enrich: bool,
    /// Print what would be added; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A day as `YYYY-MM-DD`.
fn parse_day(s: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format)
        .map_err(|_| format!("`{s}` is not a day such as 2026-11-20"))
}
