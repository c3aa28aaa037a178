//! `missive doctor` against a real DNS server (dnsmasq) serving a good
//! domain, faulty ones (each one fault) and two good ones that look odd;
//! its SPF and DMARC verdicts beside checkdmarc's, its DKIM verdict beside
//! dkimpy's; the relays against aiosmtpd with a test CA and smtp-sink; the
//! one-click endpoint against `missive serve` and a server that redirects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::common::dns::{DnsServer, txt};
use crate::common::{assert_exit, command, repo, stdout};

/// An RSA key made by openssl: its PEM file (PKCS#8) and its public half
/// as DNS publishes it (base64 SubjectPublicKeyInfo).
fn rsa_key(dir: &Path, name: &str, bits: u32) -> (std::path::PathBuf, String) {
    let pem = dir.join(format!("{name}.pem"));
    let ok = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
        .arg(format!("rsa_keygen_bits:{bits}"))
        .arg("-out")
        .arg(&pem)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl genpkey");
    let der = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(der.status.success(), "openssl pkey -pubout");
    (pem, data_encoding::BASE64.encode(&der.stdout))
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
    std::fs::write(dir.join("missive.toml"), config).unwrap();
    let out = command(dir)
        .arg("doctor")
        .args(args)
        .arg("--json")
        .env("MISSIVE_UNSUBSCRIBE_SECRET", crate::common::SECRET)
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
    let key = rsa_key(dir.path(), "a", 2048);
    let mut records = good_records("nodmarc.test", 8, &key.1, 2);
    records.retain(|r| !r.starts_with("txt-record=_dmarc."));
    let server = DnsServer::start(&records);
    std::fs::write(
        dir.path().join("missive.toml"),
        config("nodmarc.test", "nodmarc.test", &key.0, ""),
    )
    .unwrap();
    let out = command(dir.path())
        .args([
            "doctor",
            "--only",
            "dns",
            "--dns",
            &server.addr(),
            "--ip",
            "192.0.2.8",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("error [dmarc-missing] nodmarc.test: no DMARC record for nodmarc.test"),
        "{text}"
    );
    assert!(
        text.contains("  fix: _dmarc.nodmarc.test TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@nodmarc.test\""),
        "{text}"
    );
    assert!(text.contains("1 error, 0 warnings"), "{text}");
}
