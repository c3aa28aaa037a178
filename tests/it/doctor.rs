//! `missive doctor` against a real DNS server (dnsmasq) serving a good
//! domain, faulty ones (each one fault) and two good ones that look odd;
//! its SPF and DMARC verdicts beside checkdmarc's, its DKIM verdict beside
//! dkimpy's; the relays against aiosmtpd with a test CA and smtp-sink; the
//! one-click endpoint against `missive serve` and a server that redirects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::common::dns::{DnsServer, txt};
use crate::common::{assert_exit, certificates_valid, command, openssl, repo, stdout};

/// An RSA key made by openssl: its PEM file (PKCS#8) and its public half
/// as DNS publishes it (base64 SubjectPublicKeyInfo).
fn rsa_key(dir: &Path, name: &str, bits: u32) -> (std::path::PathBuf, String) {
    let pem = dir.join(format!("{name}.pem"));
    let bits = format!("rsa_keygen_bits:{bits}");
    openssl(&[
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "RSA".as_ref(),
        "-pkeyopt".as_ref(),
        bits.as_ref(),
        "-out".as_ref(),
        pem.as_ref(),
    ]);
    let der = openssl(&[
        "pkey".as_ref(),
        "-pubout".as_ref(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        pem.as_ref(),
    ]);
    (pem, data_encoding::BASE64.encode(&der))
}

/// One domain of the zone: its name, the last byte of its sending address
/// (192.0.2.N), its records, its config, and the errors and warnings it
/// must give (none for a good one).
struct Variant {
    name: &'static str,
    domain: String,
    ip: u8,
    records: Vec<String>,
    config: String,
    expect: &'static [&'static str],
}

/// The keys the variants use: A signs (2048 bits), B is another, W is weak.
struct Keys {
    a: (std::path::PathBuf, String),
    b: (std::path::PathBuf, String),
    w: (std::path::PathBuf, String),
}

fn dkim_value(p: &str) -> String {
    format!("v=DKIM1; k=rsa; p={p}")
}

/// The records of a good domain `d` sending from 192.0.2.`ip`, its key
/// published in `pieces` strings.
fn good_records(d: &str, ip: u8, p: &str, pieces: usize) -> Vec<String> {
    vec![
        txt(d, &format!("v=spf1 ip4:192.0.2.{ip} -all"), 1),
        txt(&format!("s1._domainkey.{d}"), &dkim_value(p), pieces),
        txt(
            &format!("_dmarc.{d}"),
            &format!("v=DMARC1; p=none; rua=mailto:dmarc@{d}"),
            1,
        ),
        format!("mx-host={d},mx.{d},10"),
        format!("host-record=mail.{d},192.0.2.{ip}"),
    ]
}

fn config(from_domain: &str, dkim_domain: &str, key: &Path, extra: &str) -> String {
    format!(
        "[newsletter]\nname = \"Doctor\"\nfrom = \"News <news@{from_domain}>\"\n\
         list_id = \"Doctor <weekly.{from_domain}>\"\nweb_url = \"https://{from_domain}/issues\"\n\n\
         [unsubscribe]\nurl = \"https://{from_domain}/unsubscribe?token={{token}}\"\n\n\
         [dkim]\ndomain = \"{dkim_domain}\"\nselector = \"s1\"\nprivate_key = \"{}\"\n\n\
         [sending]\ntransport = \"file\"\noutbox = \"outbox\"\n{extra}",
        key.display()
    )
}

fn variants(keys: &Keys) -> Vec<Variant> {
    let a = &keys.a;
    let mut out = Vec::new();
    let mut add = |name: &'static str,
                   ip: u8,
                   edit: &dyn Fn(&str, &mut Vec<String>) -> Option<String>,
                   expect: &'static [&'static str]| {
        let d = format!("{name}.test");
        let mut records = good_records(&d, ip, &a.1, 2);
        let config = edit(&d, &mut records).unwrap_or_else(|| config(&d, &d, &a.0, ""));
        out.push(Variant {
            name,
            domain: d,
            ip,
            records,
            config,
            expect,
        });
    };
    let drop = |records: &mut Vec<String>, prefix: &str| records.retain(|r| !r.starts_with(prefix));
    add("good", 1, &|_, _| None, &[]);
    add(
        "nospf",
        2,
        &|d, r| {
            drop(r, &format!("txt-record={d},"));
            None
        },
        &["spf-missing"],
    );
    add(
        "twospf",
        3,
        &|d, r| {
            r.push(txt(d, "v=spf1 a -all", 1));
            None
        },
        &["spf-multiple"],
    );
    add(
        "lookups",
        4,
        &|d, r| {
            drop(r, &format!("txt-record={d},"));
            let includes: Vec<String> = (1..=11)
                .map(|i| format!("include:i{i}.lookups.test"))
                .collect();
            r.push(txt(
                d,
                &format!("v=spf1 ip4:192.0.2.4 {} -all", includes.join(" ")),
                2,
            ));
            for i in 1..=11 {
                r.push(txt(&format!("i{i}.lookups.test"), "v=spf1 -all", 1));
            }
            None
        },
        &["spf-too-many-lookups"],
    );
    add(
        "notinspf",
        5,
        &|d, r| {
            drop(r, &format!("txt-record={d},"));
            r.push(txt(d, "v=spf1 ip4:192.0.2.250 -all", 1));
            None
        },
        &["spf-fails-ip"],
    );
    add(
        "wrongkey",
        6,
        &|d, r| {
            drop(r, &format!("txt-record=s1._domainkey.{d},"));
            r.push(txt(
                &format!("s1._domainkey.{d}"),
                &dkim_value(&keys.b.1),
                2,
            ));
            None
        },
        &["dkim-key-mismatch"],
    );
    add(
        "weakkey",
        7,
        &|d, r| {
            drop(r, &format!("txt-record=s1._domainkey.{d},"));
            r.push(txt(
                &format!("s1._domainkey.{d}"),
                &dkim_value(&keys.w.1),
                1,
            ));
            Some(config(d, d, &keys.w.0, ""))
        },
        &["dkim-key-weak"],
    );
    add(
        "nodmarc",
        8,
        &|d, r| {
            drop(r, &format!("txt-record=_dmarc.{d},"));
            None
        },
        &["dmarc-missing"],
    );
    add(
        "unaligned",
        9,
        &|d, r| {
            r.push(txt("s1._domainkey.signer.test", &dkim_value(&a.1), 2));
            Some(config(d, "signer.test", &a.0, ""))
        },
        &["dkim-not-aligned"],
    );
    add(
        "bouncenomx",
        10,
        &|d, r| {
            r.push(txt(&format!("bounce.{d}"), "v=spf1 ip4:192.0.2.10 -all", 1));
            Some(config(
                d,
                d,
                &a.0,
                &format!("\n[bounces]\naddress = \"bounces@bounce.{d}\"\n"),
            ))
        },
        &["bounce-no-mx"],
    );
    add(
        "rua",
        11,
        &|d, r| {
            drop(r, &format!("txt-record=_dmarc.{d},"));
            r.push(txt(
                &format!("_dmarc.{d}"),
                "v=DMARC1; p=none; rua=mailto:reports@elsewhere.test",
                1,
            ));
            None
        },
        &["dmarc-reports-unauthorized"],
    );
    add(
        "ptr",
        12,
        &|d, r| {
            drop(r, &format!("host-record=mail.{d},"));
            r.push(format!("ptr-record=12.2.0.192.in-addr.arpa,mail.{d}"));
            r.push(format!("host-record=mail.{d},198.51.100.12"));
            None
        },
        &["ptr-mismatch"],
    );
    add(
        "noptr",
        13,
        &|d, r| {
            drop(r, &format!("host-record=mail.{d},"));
            None
        },
        &["ptr-missing"],
    );
    // Good, but odd: the From on a subdomain whose DMARC record is only at
    // the organizational domain; and the key in five strings.
    add(
        "orgwalk",
        14,
        &|_, r| {
            r.clear();
            let d = "news.orgwalk.test";
            r.extend(good_records(d, 14, &a.1, 2));
            drop(r, "txt-record=_dmarc.");
            r.push(txt(
                "_dmarc.orgwalk.test",
                "v=DMARC1; p=quarantine; rua=mailto:dmarc@orgwalk.test",
                1,
            ));
            Some(config(d, d, &a.0, ""))
        },
        &[],
    );
    add(
        "strings",
        15,
        &|d, r| {
            drop(r, &format!("txt-record=s1._domainkey.{d},"));
            r.push(txt(&format!("s1._domainkey.{d}"), &dkim_value(&a.1), 5));
            None
        },
        &[],
    );
    // The orgwalk variant's From is on the subdomain.
    for v in &mut out {
        if v.name == "orgwalk" {
            v.domain = "news.orgwalk.test".into();
        }
    }
    out
}

/// `missive doctor --json` in a project with `config`; its exit code and
/// its document.
fn doctor(dir: &Path, config: &str, args: &[&str]) -> (i32, serde_json::Value) {
    doctor_with(dir, config, args, &[])
}

/// [`doctor`] with more environment variables.
fn doctor_with(
    dir: &Path,
    config: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, serde_json::Value) {
    std::fs::write(dir.join("missive.toml"), config).unwrap();
    let out = command(dir)
        .arg("doctor")
        .args(args)
        .arg("--json")
        .env("MISSIVE_UNSUBSCRIBE_SECRET", crate::common::SECRET)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = stdout(&out);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// The codes of the errors and warnings found.
fn serious(json: &serde_json::Value) -> BTreeSet<String> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] != "note")
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_dns_fault_is_found_by_its_own_code_and_agrees_with_checkdmarc() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys {
        a: rsa_key(dir.path(), "a", 2048),
        b: rsa_key(dir.path(), "b", 2048),
        w: rsa_key(dir.path(), "w", 512),
    };
    let variants = variants(&keys);
    let records: Vec<String> = variants.iter().flat_map(|v| v.records.clone()).collect();
    let server = DnsServer::start(&records);
    let mut ours: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for v in &variants {
        let project = dir.path().join(v.name);
        std::fs::create_dir_all(&project).unwrap();
        let ip = format!("192.0.2.{}", v.ip);
        let (code, json) = doctor(
            &project,
            &v.config,
            &["--only", "dns", "--dns", &server.addr(), "--ip", &ip],
        );
        let found = serious(&json);
        let expected: BTreeSet<String> = v.expect.iter().map(ToString::to_string).collect();
        assert_eq!(found, expected, "{}: {json:#}", v.name);
        let errors = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["level"] == "error");
        assert_exit_code(code, errors, v.name);
        // Every finding says what to do about it, and whom it concerns.
        for f in json["findings"].as_array().unwrap() {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
            assert!(
                f.get("domain").is_some(),
                "a DNS finding names its domain: {f}"
            );
            if f["level"] == "error" {
                assert!(f["fix"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
            }
        }
        // The record-level verdicts, as checkdmarc gives them.
        let about_from = |codes: &[&str]| {
            json["findings"].as_array().unwrap().iter().any(|f| {
                f["domain"] == v.domain.as_str() && codes.contains(&f["code"].as_str().unwrap())
            })
        };
        let spf_valid = !about_from(&[
            "spf-missing",
            "spf-multiple",
            "spf-invalid",
            "spf-too-many-lookups",
            "spf-void-lookups",
        ]);
        let dmarc_valid = !about_from(&["dmarc-missing", "dmarc-multiple", "dmarc-invalid"]);
        ours.insert(v.domain.clone(), (spf_valid, dmarc_valid));
    }
    // The fix for a missing key is the record to publish: the key's own.
    let (_, json) = doctor(
        &dir.path().join("wrongkey"),
        &variants[5].config,
        &[
            "--only",
            "dns",
            "--dns",
            &server.addr(),
            "--ip",
            "192.0.2.6",
        ],
    );
    let fix = json["findings"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains(&keys.a.1) && fix.starts_with("s1._domainkey.wrongkey.test TXT"),
        "{fix}"
    );

    // Without --ip, a relay host of the domain's own is resolved and
    // checked as the sending address.
    for (name, ip, expected) in [("good", 1, vec![]), ("notinspf", 5, vec!["spf-fails-ip"])] {
        let v = variants.iter().find(|v| v.name == name).unwrap();
        let config = format!("{}\n[smtp]\nhost = \"mail.{name}.test\"\n", v.config);
        let (_, json) = doctor(
            &dir.path().join(name),
            &config,
            &["--only", "dns", "--dns", &server.addr()],
        );
        assert_eq!(
            serious(&json),
            expected.into_iter().map(String::from).collect(),
            "{json:#}"
        );
        let checked = json["checked"][0].as_str().unwrap();
        assert!(
            checked.ends_with(&format!("sending from 192.0.2.{ip}")),
            "{checked}"
        );
    }

    let out = Command::new("python3")
        .arg(repo().join("tests/doctor/checkdmarc_verdicts.py"))
        .arg(server.port.to_string())
        .args(ours.keys())
        .output()
        .expect("python3 runs checkdmarc (bash tests/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (domain, (spf, dmarc)) in &ours {
        let theirs = &reference[domain];
        assert_eq!(
            (*spf, *dmarc),
            (theirs["spf"] == true, theirs["dmarc"] == true),
            "{domain}: missive (spf, dmarc) beside checkdmarc: {theirs}"
        );
    }
    // checkdmarc, too, warns of the reports no one agreed to take.
    assert!(
        reference["rua.test"]["dmarc_warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("elsewhere.test")),
        "{}",
        reference["rua.test"]
    );
}

fn assert_exit_code(code: i32, errors: bool, name: &str) {
    assert_eq!(
        code,
        i32::from(errors),
        "{name}: exit 1 exactly when there is an error"
    );
}

#[test]
fn the_message_is_verified_by_mail_auth_and_by_dkimpy_against_the_same_dns() {
    let dir = tempfile::tempdir().unwrap();
    let good = rsa_key(dir.path(), "a", 2048);
    let other = rsa_key(dir.path(), "b", 2048);
    let mut records = good_records("good.test", 1, &good.1, 2);
    records.extend(good_records("wrongkey.test", 6, &other.1, 2));
    let server = DnsServer::start(&records);
    let issues = dir.path().join("issues");
    std::fs::create_dir_all(&issues).unwrap();
    std::fs::copy(
        crate::common::example_issue(),
        issues.join("2026-11-27-tides-and-timetables.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("subscribers.csv"),
        "email,name\nreader@example.org,Reader\n",
    )
    .unwrap();
    for (domain, ip, verifies) in [
        ("good.test", "192.0.2.1", true),
        ("wrongkey.test", "192.0.2.6", false),
    ] {
        let config = config(domain, domain, &good.0, "");
        let saved = dir.path().join(format!("{domain}.eml"));
        let (code, json) = doctor(
            dir.path(),
            &config,
            &[
                "--only",
                "dns",
                "--only",
                "message",
                "--dns",
                &server.addr(),
                "--ip",
                ip,
                "--save-message",
                saved.to_str().unwrap(),
            ],
        );
        let found = serious(&json);
        let dkimpy = Command::new("python3")
            .arg(repo().join("tests/doctor/dkim_dns.py"))
            .arg(server.port.to_string())
            .arg(&saved)
            .output()
            .unwrap();
        assert_eq!(
            dkimpy.status.success(),
            verifies,
            "dkimpy on {domain}: {}",
            stdout(&dkimpy)
        );
        if verifies {
            assert_eq!(found, BTreeSet::new(), "{json:#}");
            assert_eq!(code, 0);
            let issue_findings = json["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f.get("issue").is_some())
                .count();
            assert_eq!(issue_findings, 0, "{json:#}");
        } else {
            assert!(found.contains("message-dkim-fails"), "{json:#}");
            assert!(found.contains("dkim-key-mismatch"), "{json:#}");
            assert_eq!(code, 1);
        }
        let eml = std::fs::read_to_string(&saved).unwrap();
        assert!(eml.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(
            eml.contains("\r\nTo: \"Reader\" <reader@example.org>\r\n"),
            "built for the list's first reader"
        );
    }
}

#[test]
fn the_terminal_shows_each_finding_with_its_code_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(dir.path(), "a", 1024);
    // No SPF, no DMARC, no PTR; a 1024-bit key in testing.
    let d = "several.test";
    let records = vec![
        txt(
            &format!("s1._domainkey.{d}"),
            &format!("{}; t=y", dkim_value(&key.1)),
            1,
        ),
        format!("mx-host={d},mx.{d},10"),
    ];
    let server = DnsServer::start(&records);
    std::fs::write(dir.path().join("missive.toml"), config(d, d, &key.0, "")).unwrap();
    let out = command(dir.path())
        .args([
            "doctor",
            "--only",
            "dns",
            "--dns",
            &server.addr(),
            "--ip",
            "192.0.2.77",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let text = stdout(&out).replace(&server.addr(), "127.0.0.1:[PORT]");
    crate::screens::assert_screen("doctor", dir.path(), &text);
}

/// A config sending through one relay, `smtp` lines as given.
fn relay_config(smtp: &str) -> String {
    format!(
        "{}\n[smtp]\n{smtp}\ntimeout_secs = 5\n",
        crate::common::NEWSLETTER
    )
}

/// The findings about relays: (code, message).
fn relay_findings(json: &serde_json::Value) -> Vec<(String, String)> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("relay").is_some())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn relays_are_asked_without_sending_and_each_tls_or_login_fault_is_named() {
    use crate::common::SmtpServer;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates_valid(&dir.path().join("good"), true);
    let (old_ca, old_cert, old_key) = certificates_valid(&dir.path().join("old"), false);
    let mail = dir.path().join("received");
    let server = SmtpServer::start(
        &mail,
        &[
            "--mode",
            "starttls",
            "--cert",
            &cert,
            "--key",
            &key,
            "--auth",
            "ann:right",
        ],
    );
    let expired = SmtpServer::start(
        &dir.path().join("received-old"),
        &["--mode", "starttls", "--cert", &old_cert, "--key", &old_key],
    );
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let starttls = |host: &str, port: u16, ca: Option<&str>| {
        let ca = ca
            .map(|c| format!("ca_file = \"{c}\"\n"))
            .unwrap_or_default();
        relay_config(&format!(
            "host = \"{host}\"\nport = {port}\nsecurity = \"starttls\"\nusername = \"ann\"\n{ca}"
        ))
    };
    let relays = ["--only", "relays", "--timeout", "2"];
    // A server that takes the connection and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let right = [("MISSIVE_SMTP_PASSWORD", "right")];
    // The good one: it answers over TLS, takes the login, says what it offers.
    let (code, json) = doctor_with(
        &project,
        &starttls("localhost", server.port, Some(&ca)),
        &relays,
        &right,
    );
    let found = relay_findings(&json);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "relay-offers");
    assert!(
        found[0].1.contains("answered over TLS, took the login")
            && found[0].1.contains("8BITMIME")
            && found[0].1.contains("messages up to 33.6 MB"),
        "{}",
        found[0].1
    );
    assert!(server.messages().is_empty(), "the doctor sent nothing");
    // Each fault, by its own code.
    for (config, env, expected) in [
        (
            starttls("127.0.0.1", server.port, Some(&ca)),
            right,
            "relay-tls-name",
        ),
        (
            starttls("localhost", server.port, None),
            right,
            "relay-tls-untrusted",
        ),
        (
            starttls("localhost", expired.port, Some(&old_ca)),
            right,
            "relay-tls-expired",
        ),
        (
            starttls("localhost", server.port, Some(&ca)),
            [("MISSIVE_SMTP_PASSWORD", "wrong")],
            "relay-login-refused",
        ),
        (
            relay_config(&format!(
                "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"",
                free_port()
            )),
            right,
            "relay-unreachable",
        ),
        (
            relay_config(&format!(
                "host = \"127.0.0.1\"\nport = {silent_port}\nsecurity = \"none\""
            )),
            right,
            "relay-unreachable",
        ),
    ] {
        let (code, json) = doctor_with(&project, &config, &relays, &env);
        let codes: Vec<String> = relay_findings(&json).into_iter().map(|f| f.0).collect();
        assert_eq!(codes, [expected], "{json:#}");
        assert_eq!(code, 1);
    }
    assert!(server.messages().is_empty(), "the doctor sent nothing");

    // Postfix's smtp-sink: no TLS, no login; PIPELINING and 8BITMIME.
    let port = free_port();
    let mut sink = Command::new("smtp-sink")
        .args(["-u", "nobody"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("10")
        .spawn()
        .expect("smtp-sink runs (bash tests/run installs postfix)");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, json) = doctor(
        &project,
        &relay_config(&format!(
            "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\""
        )),
        &relays,
    );
    let _ = sink.kill();
    let _ = sink.wait();
    let found = relay_findings(&json);
    assert_eq!(code, 0, "{json:#}");
    assert!(
        found.len() == 1
            && found[0].1.contains("answered unencrypted")
            && found[0].1.contains(" PIPELINING")
            && found[0].1.contains(" 8BITMIME")
            && found[0].1.contains("no CHUNKING"),
        "{found:?}"
    );
}

#[test]
fn a_message_larger_than_the_relay_takes_is_an_error() {
    use crate::common::SmtpServer;
    let dir = tempfile::tempdir().unwrap();
    let small = SmtpServer::start(&dir.path().join("received"), &["--size-limit", "20000"]);
    let project = crate::common::example_project();
    let config = relay_config(&format!(
        "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"",
        small.port
    ));
    let (code, json) = doctor(
        project.path(),
        &config,
        &["--only", "relays", "--only", "message"],
    );
    let found = relay_findings(&json);
    assert!(
        found
            .iter()
            .any(|(c, m)| c == "relay-size-too-small" && m.contains("takes at most 20000")),
        "{json:#}"
    );
    assert_eq!(code, 1);
}

/// A loopback port nothing listens on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_one_click_endpoint_is_tried_with_a_canary_that_serve_answers_and_never_records() {
    use crate::common::{SECRET, announced_url, example_project, ready_port};
    let project = example_project();
    let log = project.path().join("serve.log");
    let mut serve = command(project.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("MISSIVE_UNSUBSCRIBE_SECRET", SECRET)
        .env("MISSIVE_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = announced_url(&mut serve);
    let list = std::fs::read(project.path().join("subscribers.example.csv")).unwrap();
    let events_file = project.path().join(".missive/list-events.csv");
    let events = std::fs::read(&events_file).unwrap_or_default();
    // The doctor's copy of the config points the unsubscribe URL at it.
    let config = std::fs::read_to_string(project.path().join("missive.toml")).unwrap();
    let pointed = |base: &str| {
        config.replace(
            "https://slowcommute.example.com/unsubscribe?",
            &format!("{base}unsubscribe?"),
        )
    };
    let doctor_dir = tempfile::tempdir().unwrap();
    let endpoint = ["--only", "endpoint"];
    let (code, json) = doctor(doctor_dir.path(), &pointed(&url), &endpoint);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["findings"].as_array().unwrap().len(), 0, "{json:#}");
    assert!(
        json["checked"][0]
            .as_str()
            .unwrap()
            .contains("one-click endpoint")
    );
    // Nothing about any reader was recorded: no list event, the list as it was.
    assert_eq!(std::fs::read(&events_file).unwrap_or_default(), events);
    assert_eq!(
        std::fs::read(project.path().join("subscribers.example.csv")).unwrap(),
        list
    );
    let _ = serve.kill();
    let _ = serve.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("event=\"doctor\"") && !logged.contains("unsubscribed"),
        "{logged}"
    );

    // Stopped: nothing answers.
    let (code, json) = doctor(doctor_dir.path(), &pointed(&url), &endpoint);
    assert_eq!(code, 1);
    assert_eq!(
        json["findings"][0]["code"], "endpoint-unreachable",
        "{json:#}"
    );

    // An endpoint that redirects: mail clients do not follow it.
    let mut redirecting = Command::new("python3")
        .arg("-c")
        .arg(
            "import http.server\n\
             class H(http.server.BaseHTTPRequestHandler):\n\
             \x20   def do_POST(self):\n\
             \x20       self.send_response(302)\n\
             \x20       self.send_header('Location', 'https://www.example.com/goodbye')\n\
             \x20       self.end_headers()\n\
             \x20   def log_message(self, *a):\n\
             \x20       pass\n\
             s = http.server.HTTPServer(('127.0.0.1', 0), H)\n\
             print('READY %d' % s.server_address[1], flush=True)\n\
             s.serve_forever()\n",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let port = ready_port(&mut redirecting);
    let (code, json) = doctor(
        doctor_dir.path(),
        &pointed(&format!("http://127.0.0.1:{port}/")),
        &endpoint,
    );
    let _ = redirecting.kill();
    let _ = redirecting.wait();
    assert_eq!(code, 1);
    assert_eq!(
        json["findings"][0]["code"], "endpoint-redirects",
        "{json:#}"
    );
    assert!(
        json["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("302 Found, a redirect to https://www.example.com/goodbye"),
        "{json:#}"
    );
    assert!(json["findings"][0].get("endpoint").is_some());
}

#[test]
fn a_wrong_secret_is_refused_by_serve_and_named_by_the_doctor() {
    use crate::common::spawn_server;
    let project = crate::common::example_project();
    let (mut serve, url) = spawn_server(project.path(), &["serve", "--bind", "127.0.0.1:0"]);
    let events_file = project.path().join(".missive/list-events.csv");
    let events = std::fs::read(&events_file).unwrap_or_default();
    let config = std::fs::read_to_string(project.path().join("missive.toml"))
        .unwrap()
        .replace(
            "https://slowcommute.example.com/unsubscribe?",
            &format!("{url}unsubscribe?"),
        );
    let doctor_dir = tempfile::tempdir().unwrap();
    let (code, json) = doctor_with(
        doctor_dir.path(),
        &config,
        &["--only", "endpoint"],
        &[("MISSIVE_UNSUBSCRIBE_SECRET", "another-secret-0123456789")],
    );
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(code, 1);
    assert_eq!(json["findings"][0]["code"], "endpoint-refused", "{json:#}");
    assert!(
        json["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("403"),
        "{json:#}"
    );
    assert_eq!(std::fs::read(&events_file).unwrap_or_default(), events);
}

#[test]
fn a_resolver_that_does_not_answer_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = rsa_key(dir.path(), "a", 1024);
    // A UDP port nobody answers on.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = silent.local_addr().unwrap().to_string();
    let (code, json) = doctor(
        dir.path(),
        &config("good.test", "good.test", &key, ""),
        &[
            "--only",
            "dns",
            "--dns",
            &at,
            "--timeout",
            "1",
            "--ip",
            "192.0.2.1",
        ],
    );
    assert_eq!(code, 1);
    let first = &json["findings"][0];
    assert_eq!(first["code"], "dns-unanswered", "{json:#}");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{at} did not answer")),
        "{json:#}"
    );
    assert_eq!(
        json["findings"].as_array().unwrap().len(),
        1,
        "named once, not once a question: {json:#}"
    );
    drop(silent);
}

#[test]
fn a_config_without_a_from_address_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json) = doctor(
        dir.path(),
        "[sending]\ntransport = \"file\"\noutbox = \"outbox\"\n",
        &["--only", "dns", "--dns", "127.0.0.1:9"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        serious(&json),
        BTreeSet::from(["from-not-set".to_string()]),
        "{json:#}"
    );
}
