//! The command line: `check` reports `file:line: what is wrong` with exit 1,
//! accepts good files, and `default-config` prints what `run` uses.

use std::process::Command;

fn switchyard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
}

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sw.toml");
    std::fs::write(&path, text).unwrap();
    let out = switchyard().args(["check", "--config"]).arg(&path).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), all.replace(&path.display().to_string(), "sw.toml"))
}

#[test]
fn check_accepts_the_embedded_default_and_the_example() {
    let out = switchyard().arg("check").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<embedded default>: ok"));
    let out = switchyard().arg("default-config").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (ok, msg) = check(&text);
    assert!(ok, "{msg}");
}

#[test]
fn check_reports_file_and_line() {
    let (ok, msg) = check("[server]\nudp = [\"127.0.0.1:5060\"]\n\n[[users]]\nname = \"1001\"\npassword = \"x\"\n\n[[users]]\nname = \"1001\"\npassword = \"y\"\n");
    assert!(!ok);
    assert!(msg.contains("sw.toml:9:"), "{msg}");
    let (ok, msg) = check("[server]\nudpp = []\n");
    assert!(!ok);
    assert!(msg.starts_with("sw.toml:2:"), "{msg}");
    let (ok, msg) = check("[[routes]]\nprefix = \"9\"\ntrunk = \"nowhere\"\n");
    assert!(!ok);
    assert!(msg.contains("sw.toml:3:") && msg.contains("nowhere"), "{msg}");
}

#[test]
fn check_loads_tls_files() {
    let (ok, msg) = check("[server]\ntls = [\"127.0.0.1:5061\"]\ntls_cert = \"missing.pem\"\ntls_key = \"missing.key\"\n");
    assert!(!ok);
    assert!(msg.contains("missing.pem"), "{msg}");
}
