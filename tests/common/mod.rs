//! Helpers shared by the integration tests: run the real binary, find
//! fixtures, start servers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) mod dns;
pub(crate) mod mta;
pub(crate) mod proxy;

/// The repository root (where the example project lives).
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// The bundled example issue.
pub(crate) fn example_issue() -> PathBuf {
    repo().join("issues/2026-11-27-tides-and-timetables.toml")
}

/// The one way the tests start the binary: `missive` in `dir`, with
/// missive's own variables cleared (the caller sets what it needs) and no
/// input.
pub(crate) fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_missive"));
    command
        .current_dir(dir)
        .env_remove("MISSIVE_SMTP_PASSWORD")
        .env_remove("MISSIVE_UNSUBSCRIBE_SECRET")
        .env_remove("MISSIVE_LOG")
        .stdin(std::process::Stdio::null());
    command
}

/// Runs `missive args…` in `dir`.
pub(crate) fn missive(dir: &Path, args: &[&str]) -> Output {
    command(dir)
        .args(args)
        .output()
        .expect("the missive binary runs")
}

/// `missive build ISSUE --out OUT`, run in `dir`.
pub(crate) fn build(dir: &Path, issue: &Path, out: &Path) -> std::process::Output {
    missive(
        dir,
        &[
            "build",
            issue.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it is wrong.
pub(crate) fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Compares `actual` with the golden file `tests/golden/<name>`; with
/// `UPDATE_GOLDEN=1` in the environment, rewrites the golden file instead.
pub(crate) fn assert_golden(name: &str, actual: &str) {
    let path = repo().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output, first at line {}:\nexpected: {:?}\nactual:   {:?}\n\
             (if the change is intended, run with UPDATE_GOLDEN=1)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

/// A synthetic issue of `items` items written into `dir`.
pub(crate) fn synthetic_issue(dir: &Path, items: usize) -> PathBuf {
    let path = dir.join(format!("synthetic-{items}.toml"));
    std::fs::write(&path, missive::synthetic::issue(items)).unwrap();
    path
}

/// A real SMTP server (tests/smtp/server.py, on aiosmtpd) on a free port,
/// stopped when dropped. Accepted messages land in `out`.
pub(crate) struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    pub out: PathBuf,
}

/// The first line a child prints on stdout.
fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("a piped stdout"))
        .read_line(&mut line)
        .unwrap();
    line
}

/// The port a test server (`tests/smtp/server.py`, `tests/links/server.py`)
/// announces on its first line: `READY <port>`.
pub(crate) fn ready_port(child: &mut std::process::Child) -> u16 {
    let line = first_line(child);
    line.strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the test server did not start: {line:?}"))
}

/// The URL `missive serve` or `preview` announces on its first line.
pub(crate) fn announced_url(child: &mut std::process::Child) -> String {
    let line = first_line(child);
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string()
}

impl SmtpServer {
    /// Starts the server with extra arguments (`--mode`, faults, …).
    pub(crate) fn start(out: &Path, args: &[&str]) -> SmtpServer {
        let mut child = Command::new("python3")
            .arg(repo().join("tests/smtp/server.py"))
            .arg("--out")
            .arg(out)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 runs tests/smtp/server.py (bash tests/run installs aiosmtpd)");
        let port = ready_port(&mut child);
        SmtpServer {
            child,
            port,
            out: out.to_path_buf(),
        }
    }

    /// The messages accepted so far: (envelope JSON, raw message), in order.
    pub(crate) fn messages(&self) -> Vec<(serde_json::Value, Vec<u8>)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let json = std::fs::read_to_string(eml.with_extension("json")).unwrap();
                (
                    serde_json::from_str(&json).unwrap(),
                    std::fs::read(&eml).unwrap(),
                )
            })
            .collect()
    }

    /// The recipient of each accepted message, lower-cased.
    pub(crate) fn recipients(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|(env, _)| env["rcpt_tos"][0].as_str().unwrap().to_lowercase())
            .collect()
    }
}

impl SmtpServer {
    /// Stops the server (a relay gone down); its port is free again.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project directory for sending tests: a config (with `extra` appended),
/// the example issue and a subscriber list.
pub(crate) struct SendProject {
    pub dir: tempfile::TempDir,
}

impl SendProject {
    pub(crate) fn new(config: &str, subscribers: &str) -> SendProject {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("missive.toml"), config).unwrap();
        std::fs::write(dir.path().join("subscribers.csv"), subscribers).unwrap();
        std::fs::create_dir(dir.path().join("issues")).unwrap();
        std::fs::copy(
            example_issue(),
            dir.path()
                .join("issues/2026-11-27-tides-and-timetables.toml"),
        )
        .unwrap();
        SendProject { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    #[allow(clippy::unused_self, reason = "reads as a property of the project")]
    pub(crate) fn issue(&self) -> &'static str {
        "issues/2026-11-27-tides-and-timetables.toml"
    }

    /// Runs missive in the project with the given environment.
    pub(crate) fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        command(self.path())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Starts missive with `args` in the background (the secret set, its
    /// output piped).
    pub(crate) fn spawn(&self, args: &[&str]) -> std::process::Child {
        command(self.path())
            .args(args)
            .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts `send --yes` of the example issue `runs` times and kills each
    /// with SIGKILL at a random moment `from_ms` to `from_ms + spread_ms` in,
    /// if it is still running; returns how many were killed.
    pub(crate) fn kill_sends_at_random(&self, runs: usize, from_ms: u64, spread_ms: u64) -> usize {
        self.kill_at_random(&["send", self.issue(), "--yes"], runs, from_ms, spread_ms)
    }

    /// Starts missive with `args` `runs` times and kills each with SIGKILL
    /// at a random moment `from_ms` to `from_ms + spread_ms` in, if it is
    /// still running; returns how many were killed.
    pub(crate) fn kill_at_random(
        &self,
        args: &[&str],
        runs: usize,
        from_ms: u64,
        spread_ms: u64,
    ) -> usize {
        let mut kills = 0;
        for _ in 0..runs {
            let mut child = command(self.path())
                .args(args)
                .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(
                from_ms + fastrand::u64(0..spread_ms),
            ));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            child.wait().unwrap();
        }
        kills
    }

    /// The lines of the journal of the example issue.
    pub(crate) fn journal(&self) -> String {
        std::fs::read_to_string(
            self.path()
                .join(".missive/2026-11-27-tides-and-timetables.journal"),
        )
        .unwrap_or_default()
    }
}

/// The secret the sending tests sign unsubscribe tokens with.
pub(crate) const SECRET: &str = "test-secret-0123456789abcdef";

/// The environment of a send: the unsubscribe secret.
pub(crate) const SEND_ENV: &[(&str, &str)] = &[("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)];

/// A test's `missive.toml`, changed by key (`"smtp.timeout_secs"`) through
/// `toml_edit`, never by replacing text: a renamed default cannot make an
/// edit silently miss.
#[derive(Clone)]
pub(crate) struct ConfigText(toml_edit::DocumentMut);

impl ConfigText {
    pub(crate) fn parse(text: &str) -> ConfigText {
        ConfigText(text.parse().expect("a test config is TOML"))
    }

    /// [`plain_config`]: sending to `port` on loopback without TLS.
    pub(crate) fn plain(port: u16) -> ConfigText {
        ConfigText::parse(&plain_config(port, ""))
    }

    /// Sets the key at `path` (tables separated by dots, created as
    /// needed) to `value`, written as a TOML value (`5`, `"x"`, `1e-300`).
    pub(crate) fn set(mut self, path: &str, value: &str) -> ConfigText {
        let value: toml_edit::Value = value.parse().expect("a TOML value");
        let (tables, key) = path.rsplit_once('.').map_or(("", path), |(t, k)| (t, k));
        let mut table = self.0.as_table_mut();
        for name in tables.split('.').filter(|n| !n.is_empty()) {
            table = table
                .entry(name)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
                .as_table_mut()
                .expect("a table");
        }
        table.insert(key, toml_edit::Item::Value(value));
        self
    }

    /// Takes the key at `path` out.
    pub(crate) fn remove(mut self, path: &str) -> ConfigText {
        let (tables, key) = path.rsplit_once('.').expect("a key in a table");
        let mut table = self.0.as_table_mut();
        for name in tables.split('.') {
            table = table[name].as_table_mut().expect("a table");
        }
        assert!(table.remove(key).is_some(), "{path} was not set");
        self
    }
}

impl std::fmt::Display for ConfigText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The newsletter and unsubscribe part of a sending config.
pub(crate) const NEWSLETTER: &str = r#"[newsletter]
name = "The Slow Commute"
from = "Matt Example <matt@example.com>"
reply_to = "Replies <replies@example.com>"
list_id = "The Slow Commute <weekly.slowcommute.example.com>"
test_to = "Matt <matt@example.com>"
web_url = "https://slowcommute.example.com/issues"

[unsubscribe]
url = "https://slowcommute.example.com/unsubscribe?email={email}&token={token}"
mailto = "unsubscribe@slowcommute.example.com"
"#;

/// The `List-Id` of [`NEWSLETTER`] and of the example project, to which
/// the tokens their links carry are bound.
pub(crate) const LIST_ID: &str = "The Slow Commute <weekly.slowcommute.example.com>";

/// The test secret, bound to [`LIST_ID`] as `missive` binds it.
pub(crate) fn list_secret() -> missive::list::token::Secret {
    missive::list::token::Secret::new(SECRET)
        .unwrap()
        .for_list(LIST_ID)
}

/// A config for sending to `port` on loopback without TLS, with `sending`
/// lines added to `[sending]`.
pub(crate) fn plain_config(port: u16, sending: &str) -> String {
    format!(
        "{NEWSLETTER}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n\
         timeout_secs = 5\n\n[sending]\nconcurrency = 4\nbatch_size = 50\n{sending}\n"
    )
}

/// A subscriber list of `n` subscribed readers plus inactive rows and
/// duplicates; returns the CSV and the (address, name) of each reader who
/// should get the issue, in list order.
pub(crate) fn subscriber_list(n: usize) -> (String, Vec<(String, String)>) {
    use std::fmt::Write as _;
    let mut csv = String::from("email,name,status,city\n");
    let mut expected = Vec::new();
    for i in 0..n {
        let email = format!("reader{i:04}@example.org");
        let name = match i % 5 {
            0 => String::new(),
            1 => format!("Zoë Ō’Brien {i}"),
            2 => format!("Last, First {i}"),
            3 => format!("Ann \"Quote\" {i}"),
            _ => format!("Reader {i}"),
        };
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let _ = writeln!(csv, "{email},{quoted},subscribed,City {i}");
        expected.push((email, name));
        if i % 50 == 7 {
            let _ = writeln!(csv, "gone{i}@example.org,Gone,unsubscribed,X");
            let _ = writeln!(csv, "bounced{i}@example.org,Bounced,bounced,X");
        }
        if i % 100 == 11 {
            let _ = writeln!(csv, "READER{i:04}@EXAMPLE.ORG,Duplicate,,X");
        }
    }
    (csv, expected)
}

/// A copy of the example project in a new directory: config, subscriber
/// list, every issue, an empty `outbox/`.
pub(crate) fn example_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["missive.toml", "subscribers.example.csv"] {
        std::fs::copy(repo().join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir(dir.path().join("issues")).unwrap();
    for issue in std::fs::read_dir(repo().join("issues")).unwrap() {
        let issue = issue.unwrap().path();
        std::fs::copy(
            &issue,
            dir.path().join("issues").join(issue.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::create_dir(dir.path().join("outbox")).unwrap();
    dir
}

/// Starts a missive server command (`preview`, `serve`) in `dir` and returns
/// it with the URL it printed on its first line.
pub(crate) fn spawn_server(dir: &Path, args: &[&str]) -> (std::process::Child, String) {
    let mut command = command(dir);
    command.args(args);
    spawn_command(dir, command)
}

/// Like [`spawn_server`], with the server's soft limit on open files set to
/// 1,024 (the usual default), as a service manager might start it.
pub(crate) fn spawn_server_with_few_files(
    dir: &Path,
    args: &[&str],
) -> (std::process::Child, String) {
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -Sn 1024 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_missive"))
        .args(args);
    spawn_command(dir, command)
}

fn spawn_command(dir: &Path, mut command: Command) -> (std::process::Child, String) {
    let mut child = command
        .current_dir(dir)
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        // The servers' request logs would drown the test output.
        .env("MISSIVE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let url = announced_url(&mut child);
    (child, url)
}

/// A CA and a certificate for `localhost` signed by it, as PEM files in `dir`.
pub(crate) fn certificates(dir: &Path) -> (String, String, String) {
    certificates_valid(dir, true)
}

/// [`certificates`], the server's valid now (`valid`) or expired in 2021.
pub(crate) fn certificates_valid(dir: &Path, valid: bool) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    if !valid {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let paths = ["ca.pem", "cert.pem", "key.pem"].map(|n| dir.join(n).display().to_string());
    std::fs::write(&paths[0], ca_cert.pem()).unwrap();
    std::fs::write(&paths[1], cert.pem()).unwrap();
    std::fs::write(&paths[2], key.serialize_pem()).unwrap();
    let [ca, cert, key] = paths;
    (ca, cert, key)
}

/// Every finding's text in a preview `/state`, group by group.
pub(crate) fn finding_texts(state: &serde_json::Value) -> Vec<String> {
    state["warnings"]
        .as_array()
        .expect("warnings is a list of groups")
        .iter()
        .flat_map(|g| {
            g["each"]
                .as_array()
                .expect("each group lists its findings")
                .clone()
        })
        .map(|e| {
            e["text"]
                .as_str()
                .expect("a finding has its text")
                .to_string()
        })
        .collect()
}

/// Runs `openssl` with `args`; its standard output. Fails the test if it fails.
pub(crate) fn openssl(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .expect("openssl runs (bash tests/run installs it)");
    assert!(out.status.success(), "openssl {args:?}");
    out.stdout
}

/// A DKIM key pair made with openssl in `dir`: the private key (PEM) and
/// the public one.
pub(crate) fn dkim_key(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("dkim.pem");
    let public = dir.join("dkim.pub");
    openssl(&[
        "genrsa".as_ref(),
        "-traditional".as_ref(),
        "-out".as_ref(),
        key.as_ref(),
        "2048".as_ref(),
    ]);
    openssl(&[
        "rsa".as_ref(),
        "-pubout".as_ref(),
        "-in".as_ref(),
        key.as_ref(),
        "-out".as_ref(),
        public.as_ref(),
    ]);
    (key, public)
}

/// Whether dkimpy verifies the signature of the message at `eml` with the
/// public key at `public`.
pub(crate) fn dkim_verifies(eml: &Path, public: &Path) -> bool {
    Command::new("python3")
        .arg(repo().join("tests/smtp/dkim_verify.py"))
        .arg(eml)
        .arg(public)
        .output()
        .unwrap()
        .status
        .success()
}
