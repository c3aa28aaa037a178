//! What operating missive needs from the binary itself: a version that
//! names the commit, shell completions a shell accepts, and a manual page
//! `man` renders without a warning.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::common::*;

#[test]
fn the_version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let o = missive(dir.path(), &["--version"]);
    assert_exit(&o, 0);
    let v = stdout(&o);
    assert!(
        v.starts_with(&format!("missive {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
}

#[test]
fn bash_accepts_the_completions_and_they_know_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = missive(dir.path(), &["completions", "bash"]);
    assert_exit(&o, 0);
    let script = stdout(&o);
    for command in ["bounces", "signup-form", "subscribers", "import", "--links"] {
        assert!(script.contains(command), "{command} missing");
    }
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let checked = bash.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for shell in ["zsh", "fish"] {
        let o = missive(dir.path(), &["completions", shell]);
        assert_exit(&o, 0);
        assert!(stdout(&o).contains("signup-form"), "{shell}");
    }
    assert_exit(&missive(dir.path(), &["completions", "tcsh"]), 2);
}

#[test]
fn man_renders_the_manual_page_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let o = missive(dir.path(), &["man"]);
    assert_exit(&o, 0);
    let page = dir.path().join("missive.1");
    std::fs::write(&page, &o.stdout).unwrap();
    let rendered = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .output()
        .expect("man runs (bash tests/run installs man-db)");
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("missive - Write a newsletter issue"),
        "{text}"
    );
    assert!(text.contains("missive-bounces(1)"), "{text}");
    assert!(
        rendered.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
}

#[test]
fn systemd_accepts_the_service_and_timer_units() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secrets.env"), "").unwrap();
    let mut units = Vec::new();
    for unit in std::fs::read_dir(repo().join("contrib/systemd")).unwrap() {
        let unit = unit.unwrap().path();
        // The unit as installed, with this machine's paths for the binary,
        // the folder and the secrets file.
        let text = std::fs::read_to_string(&unit)
            .unwrap()
            .replace("/usr/local/bin/missive", env!("CARGO_BIN_EXE_missive"))
            .replace("/srv/newsletter", &dir.path().display().to_string())
            .replace(
                "/etc/missive/secrets.env",
                &dir.path().join("secrets.env").display().to_string(),
            );
        let copy = dir.path().join(unit.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        units.push(copy);
    }
    assert_eq!(units.len(), 3, "{units:?}");
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze runs (bash tests/run installs systemd)");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}
