//! Real mail servers for the bounce tests, each configured in a temporary
//! directory and listening on loopback only: Debian's Postfix (which sends
//! real delivery status notifications) and Dovecot (IMAP over TLS with a
//! test CA, LMTP delivery with a quota). Both run as root, as the test
//! suite does; the mailboxes belong to `nobody`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the mailboxes belong to.
const MAIL_UID: u32 = 65534;

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Makes `dir` (and the temporary directory above it) traversable by the
/// mail user.
fn open_to_mail_user(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn mail_dir(dir: &Path) -> PathBuf {
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    std::os::unix::fs::chown(&mail, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
    mail
}

fn wait_for_port(port: u16, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing listens on {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Dovecot with IMAPS (a certificate for `localhost` from a test CA) and
/// LMTP, users from a passwd-file, and a per-user storage quota.
pub(crate) struct Dovecot {
    pub dir: PathBuf,
    config: PathBuf,
    pub imaps: u16,
    pub lmtp: u16,
    /// The test CA's certificate (PEM).
    pub ca: PathBuf,
}

impl Dovecot {
    /// Starts Dovecot in `dir` with `users`: (name, password, storage
    /// quota such as `20K`, if any).
    pub(crate) fn start(dir: &Path, users: &[(&str, &str, Option<&str>)]) -> Dovecot {
        open_to_mail_user(dir);
        let (ca, cert, key) = crate::common::certificates(dir);
        let mail = mail_dir(dir);
        for sub in ["run", "state"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut passwd = String::new();
        for (name, password, quota) in users {
            let quota = quota
                .map(|q| format!("userdb_quota_rule=*:storage={q}"))
                .unwrap_or_default();
            let _ = writeln!(passwd, "{name}:{{PLAIN}}{password}::::::{quota}");
        }
        std::fs::write(dir.join("users"), passwd).unwrap();
        let (imaps, lmtp) = (free_port(), free_port());
        let d = dir.display();
        let config = dir.join("dovecot.conf");
        std::fs::write(
            &config,
            format!(
                "base_dir = {d}/run
state_dir = {d}/state
instance_name = missive-test-{imaps}
protocols = imap lmtp
listen = 127.0.0.1
log_path = {d}/dovecot.log
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:{mail}/%n
mail_uid = {MAIL_UID}
mail_gid = {MAIL_UID}
first_valid_uid = 1
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/users
  default_fields = uid={MAIL_UID} gid={MAIL_UID} home={mail}/%n
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
mail_plugins = quota
plugin {{
  quota = count:User quota
  quota_vsizes = yes
}}
protocol lmtp {{
  mail_plugins = quota
  postmaster_address = postmaster@mailbox.test
}}
",
                mail = mail.display()
            ),
        )
        .unwrap();
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&config)
            .status()
            .expect("Dovecot is installed (tests/run installs dovecot-imapd and dovecot-lmtpd)");
        assert!(status.success(), "dovecot did not start");
        let log = dir.join("dovecot.log");
        wait_for_port(imaps, &log);
        wait_for_port(lmtp, &log);
        Dovecot {
            dir: dir.to_path_buf(),
            config,
            imaps,
            lmtp,
            ca: PathBuf::from(ca),
        }
    }

    /// The Maildir of `user`.
    pub(crate) fn maildir(&self, user: &str) -> PathBuf {
        self.dir.join("mail").join(user)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("dovecot")
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .status();
    }
}

/// Where Postfix puts the mail that comes back to the bounce address.
pub(crate) enum BounceBox {
    /// A Maildir of Postfix's own virtual delivery (`mail/bounces/`).
    Maildir,
    /// Dovecot, over LMTP on this port.
    Lmtp(u16),
}

/// Postfix listening on loopback, delivering (or failing to deliver) to:
/// `ok@mailbox.test` (a Maildir), `nobody@mailbox.test` (no such user),
/// `anyone@nowhere.invalid` (no such domain), `full@mailbox.test` (Dovecot,
/// over its quota), `late@slow.test` (a relay that refuses connections; the
/// queue gives up at once). Mail to `bounces@news.example.com` (with any
/// `+tag`) goes to the [`BounceBox`].
pub(crate) struct Postfix {
    pub dir: PathBuf,
    config: PathBuf,
    pub port: u16,
    master: Child,
}

impl Postfix {
    pub(crate) fn start(dir: &Path, dovecot_lmtp: u16, bounces: &BounceBox) -> Postfix {
        open_to_mail_user(dir);
        let mail = mail_dir(dir);
        let (config, queue, data) = (dir.join("conf"), dir.join("queue"), dir.join("data"));
        for d in [&config, &queue, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        let postfix = nix_user("postfix");
        std::os::unix::fs::chown(&data, Some(postfix), None).unwrap();
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            config.join("main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.news.example.com
mydomain = news.example.com
myorigin = news.example.com
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = mailbox.test, news.example.com
virtual_mailbox_base = {mail}
virtual_mailbox_maps = texthash:{d}/conf/vmailbox
virtual_uid_maps = static:{MAIL_UID}
virtual_gid_maps = static:{MAIL_UID}
recipient_delimiter = +
transport_maps = texthash:{d}/conf/transport
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
smtp_tls_security_level = none
smtputf8_enable = no
maillog_file = /dev/stdout
",
                queue = queue.display(),
                data = data.display(),
                mail = mail.display(),
            ),
        )
        .unwrap();
        std::fs::write(
            config.join("vmailbox"),
            "bounces@news.example.com bounces/\nok@mailbox.test ok/\n",
        )
        .unwrap();
        let bounce_transport = match bounces {
            BounceBox::Maildir => String::new(),
            BounceBox::Lmtp(port) => format!("news.example.com lmtp:inet:127.0.0.1:{port}\n"),
        };
        std::fs::write(
            config.join("transport"),
            format!(
                "full@mailbox.test lmtp:inet:127.0.0.1:{dovecot_lmtp}\n\
                 slow.test smtp:[127.0.0.1]:1\n{bounce_transport}"
            ),
        )
        .unwrap();
        let services = [
            ("pickup", "unix", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "proxymap"),
            ("smtp", "unix", "-", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "-", "smtp"),
            ("error", "unix", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "discard"),
            ("lmtp", "unix", "-", "-", "-", "lmtp"),
            ("virtual", "unix", "-", "-", "-", "virtual"),
            ("anvil", "unix", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
        ];
        let mut master = format!("127.0.0.1:{port} inet n - n - - smtpd\n");
        for (name, kind, private, wakeup, limit, command) in services {
            // The unprivileged column is `n` for virtual delivery (it
            // changes to the mailbox's user), `-` (postfix) otherwise.
            let unprivileged = if name == "virtual" { "n" } else { "-" };
            let _ = writeln!(
                master,
                "{name} {kind} {private} {unprivileged} n {wakeup} {limit} {command}"
            );
        }
        std::fs::write(config.join("master.cf"), master).unwrap();
        let log = std::fs::File::create(dir.join("postfix.log")).unwrap();
        let master = Command::new("postfix")
            .arg("-c")
            .arg(&config)
            .arg("start-fg")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("Postfix is installed (tests/run installs it)");
        wait_for_port(port, &dir.join("postfix.log"));
        Postfix {
            dir: dir.to_path_buf(),
            config,
            port,
            master,
        }
    }

    /// The Maildir of Postfix's own bounce mailbox.
    pub(crate) fn bounces(&self) -> PathBuf {
        self.dir.join("mail/bounces")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postfix.log")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// The uid of a system user.
fn nix_user(name: &str) -> u32 {
    let out = Command::new("id").arg("-u").arg(name).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Waits until `count` messages are in `maildir`'s `new/` (or the time is up).
pub(crate) fn wait_for_mail(maildir: &Path, count: usize, log: impl Fn() -> String) {
    let start = Instant::now();
    loop {
        let n = std::fs::read_dir(maildir.join("new")).map_or(0, Iterator::count);
        if n >= count {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "{n} of {count} messages arrived in {}:\n{}",
            maildir.display(),
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
