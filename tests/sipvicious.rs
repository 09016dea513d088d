//! What an attacker runs against a public SIP port (sipvicious, Debian package
//! `sipvicious`): extension enumeration must learn nothing, because unknown and
//! configured users get the same challenge; svmap sees one device.
//!
//! Ports 15500-15599.

mod common;

use common::{HOST, Switch, require, run_with_timeout};
use std::process::Command;
use std::time::Duration;

const BASE: u16 = 15500;

fn config() -> String {
    r#"
[[users]]
name = "1001"
password = "pw-1001-secret"

[[users]]
name = "1005"
password = "pw-1005-secret"
"#
    .to_owned()
}

fn svwar(port: u16, method: &str, force: bool) -> String {
    let mut cmd = Command::new("svwar");
    cmd.args(["-e1000-1010", "-m", method, HOST, "-p", &port.to_string()]);
    if force {
        cmd.arg("--force");
    }
    let (status, out) = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(status.is_some(), "svwar did not finish in 60 s:\n{out}");
    out
}

#[test]
fn svwar_finds_no_extension() {
    require("svwar");
    let sw = Switch::start(BASE, &config());
    for method in ["REGISTER", "INVITE", "OPTIONS"] {
        let out = svwar(BASE, method, false);
        // OPTIONS gets the same 200 for every user, which svwar misreads as its
        // own random probe user existing; it still tells nothing about 1001/1005.
        if method != "OPTIONS" {
            assert!(out.contains("found nothing"), "svwar -m {method} must find nothing:\n{out}\n{}", sw.diag());
        }
        for ext in ["1001", "1005"] {
            assert!(!out.contains(&format!("| {ext} ")), "svwar -m {method} listed {ext}:\n{out}");
        }
    }
    // Even forced past its sanity check it cannot tell real extensions apart:
    // whatever it lists, 1001 and 1005 look exactly like the rest.
    let out = svwar(BASE, "REGISTER", true);
    let rows: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
            (cells.len() == 2 && cells[0].bytes().all(|b| b.is_ascii_digit())).then(|| (cells[0].to_owned(), cells[1].to_owned()))
        })
        .collect();
    let listed = |ext: &str| rows.iter().find(|(e, _)| e == ext).map(|(_, a)| a.clone());
    for ext in ["1001", "1005"] {
        if let Some(auth) = listed(ext) {
            for other in ["1000", "1002", "1003", "1004", "1006", "1010"] {
                assert_eq!(listed(other).as_deref(), Some(auth.as_str()), "forced svwar told {ext} apart from {other}:\n{out}");
            }
        }
    }
}

#[test]
fn svmap_sees_one_switch() {
    require("svmap");
    let port = BASE + 20;
    let sw = Switch::start(port, &config());
    let (status, out) = run_with_timeout(Command::new("svmap").args([HOST, "-p", &port.to_string()]), Duration::from_secs(60));
    assert!(status.is_some(), "svmap did not finish:\n{out}");
    assert!(out.contains(&format!("{HOST}:{port}")) && out.contains("Switchyard/"), "{out}\n{}", sw.diag());
}
