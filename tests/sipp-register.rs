//! The registrar against SIPp and sipsak: digest-authenticated REGISTER, a wrong password,
//! unregistering with `Contact: *`, and OPTIONS.
//!
//! Ports 15200-15299: each test uses a slot of 20 from its base.

mod common;

use common::{HOST, Sipp, Switch, require, run_with_timeout, scenario};
use std::process::Command;
use std::time::Duration;

const BASE: u16 = 15200;
const USER: &str = "1001";
const PASSWORD: &str = "pw-1001-secret";

fn config() -> String {
    format!(
        r#"
[[users]]
name = "{USER}"
password = "{PASSWORD}"

[[users]]
name = "1002"
password = "pw-1002-secret"
"#
    )
}

fn register(slot: u16, scenario_file: &str, password: &str) -> (Switch, common::SippResult) {
    require("sipp");
    let b = BASE + slot * 20;
    let sw = Switch::start(b, &config());
    let res = Sipp::new(
        "register",
        sw.dir(),
        &scenario(scenario_file),
        b + 1,
        b + 4,
        b + 8,
    )
    .args([format!("{HOST}:{b}")])
    .args(["-s", USER, "-au", USER, "-ap", password, "-m", "1"])
    .run();
    (sw, res)
}

/// REGISTER -> 401 -> REGISTER with credentials -> 200 listing the contact with an expiry;
/// then `Contact: *` with `Expires: 0` -> 401 -> with credentials -> 200 without contacts.
#[test]
fn register_then_unregister() {
    let (sw, res) = register(0, "register_auth.xml", PASSWORD);
    res.assert_calls(1, &sw.diag());
    let bindings = res.logged("registered-binding");
    assert_eq!(bindings.len(), 1, "{}", res.report());
    assert!(
        bindings[0].contains("expires="),
        "binding without expiry: {bindings:?}"
    );
    assert!(
        sw.wait_log(Duration::from_secs(2), |l| l.contains("registered")
            && !l.contains("trunk registered")
            && l.contains(USER)),
        "the switch did not log the registration of {USER}\n{}",
        sw.diag()
    );
}

/// The right user with a wrong password gets 403 Forbidden after the challenge.
#[test]
fn wrong_password_is_refused() {
    let (sw, res) = register(1, "register_badpass.xml", "not-the-password");
    res.assert_calls(1, &sw.diag());
    assert!(
        sw.wait_log(Duration::from_secs(2), |l| l
            .contains("authentication failed")),
        "the switch did not log the failed authentication\n{}",
        sw.diag()
    );
}

/// sipsak's OPTIONS ping gets 200 OK.
#[test]
fn sipsak_options() {
    require("sipsak");
    let b = BASE + 2 * 20;
    let sw = Switch::start(b, &config());
    let (status, out) = run_with_timeout(
        Command::new("sipsak").args([
            "-vv",
            "-l",
            &(b + 1).to_string(),
            "-s",
            &format!("sip:{HOST}:{b}"),
        ]),
        Duration::from_secs(15),
    );
    assert!(
        status.is_some_and(|s| s.success()) && out.contains("SIP/2.0 200"),
        "sipsak OPTIONS: exit {status:?}, output:\n{}\n{}",
        common::tail(&out, 40),
        sw.diag()
    );
}
