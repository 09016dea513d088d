//! A registering carrier trunk against a SIPp "carrier" that demands digest authentication
//! (`tests/peers/carrier_uas.xml`), and one that refuses registration with 503
//! (`tests/peers/carrier_503.xml`).
//!
//! Ports 15300-15399: each test uses a slot of 20 from its base.

mod common;

use common::{HOST, Sipp, Switch, check_md5_digest, require, scenario, wait_port_taken};
use std::time::{Duration, Instant};

const BASE: u16 = 15300;

fn config(switch: u16, carrier: u16, retry_min_s: u32) -> String {
    format!(
        r#"
# The SIPp UAC reaches the switch from 127.0.0.1 as an inbound trunk call.
[[trunks]]
name = "sipp-in"
proxy = "{HOST}:{unused}"
inbound_acl = ["127.0.0.1/32"]

[[trunks]]
name = "carrier"
proxy = "{HOST}:{carrier}"
username = "trunkuser"
password = "trunkpass"
register = true
register_expires = 60
register_retry_min_s = {retry_min_s}
register_retry_max_s = 60

# National numbers: 030123 goes out as +4930123.
[[routes]]
prefix = "0"
strip = 1
prepend = "+49"
trunk = "carrier"
"#,
        unused = switch + 3,
    )
}

/// The switch registers (401 answered with the right digest, 200 with expires=60), then a
/// call dialled to 030123 leaves through the carrier as +4930123: 407 answered once with
/// the right digest, 180, 200, ACK, and the caller's BYE.
#[test]
fn registers_and_places_an_outbound_call() {
    require("sipp");
    let b = BASE;
    let carrier_port = b + 1;
    let dir = tempfile::tempdir().unwrap();
    // The carrier runs before the switch starts registering.
    let carrier = Sipp::new(
        "carrier",
        dir.path(),
        &scenario("carrier_uas.xml"),
        carrier_port,
        b + 4,
        b + 8,
    )
    .args(["-m", "2"])
    .spawn();
    assert!(
        wait_port_taken(carrier_port, false, Duration::from_secs(5)),
        "SIPp carrier did not bind"
    );

    let sw = Switch::start(b, &config(b, carrier_port, 1));
    let registered = sw.wait_log(Duration::from_secs(10), |l| l.contains("trunk registered"));
    if !registered {
        drop(carrier);
        let c = read_partial(dir.path());
        panic!(
            "no \"trunk registered\" in the switch's log within 10 s\n{c}\n{}",
            sw.diag()
        );
    }
    assert!(
        sw.log_lines(|l| l.contains("trunk registered"))
            .iter()
            .any(|l| l.contains("carrier")),
        "\"trunk registered\" does not name the trunk\n{}",
        sw.diag()
    );

    let uac = Sipp::new(
        "uac",
        dir.path(),
        &scenario("uac_rr.xml"),
        b + 2,
        b + 5,
        b + 12,
    )
    .args([format!("{HOST}:{b}")])
    .args(["-s", "030123", "-m", "1", "-d", "100"])
    .run();
    let carrier = carrier.wait();

    let ctx = format!("{}\n{}", carrier.report(), sw.diag());
    uac.assert_calls(1, &ctx);
    let ctx = format!("{}\n{}", uac.report(), sw.diag());
    carrier.assert_calls(2, &ctx);

    // The REGISTER's credentials were checked by SIPp's verifyauth.
    let reg = carrier.logged("carrier-register-auth");
    assert!(
        reg.iter().any(|l| l.starts_with("ok=true")),
        "REGISTER credentials not accepted: {reg:?}\n{ctx}"
    );

    // SIPp cannot verify a Proxy-Authorization itself: check the digest here.
    let auths = carrier.logged("carrier-invite-auth");
    assert_eq!(
        auths.len(),
        1,
        "expected one authenticated INVITE: {auths:?}\n{ctx}"
    );
    if let Err(e) = check_md5_digest(&auths[0], "INVITE", "trunkuser", "trunkpass") {
        panic!("the switch's Proxy-Authorization is wrong: {e}\n{ctx}");
    }
    let ruri = carrier.logged("carrier-invite-ruri");
    assert_eq!(ruri.len(), 1, "{ruri:?}\n{ctx}");
    let ruri = ruri[0].trim_start_matches("INVITE ").trim();
    assert!(
        ruri.starts_with("sip:+4930123@"),
        "route strip/prepend not applied: Request-URI {ruri}\n{ctx}"
    );
    let digest_uri = common::digest_param(&auths[0], "uri").unwrap_or_default();
    assert_eq!(
        digest_uri, ruri,
        "digest uri must equal the Request-URI (RFC 3261 22.4)\n{ctx}"
    );
}

/// A carrier answering 503: the switch logs the failure and retries after the back-off
/// (register_retry_min_s = 1), doubling it.
#[test]
fn registration_failure_backs_off() {
    require("sipp");
    let b = BASE + 20;
    let carrier_port = b + 1;
    let dir = tempfile::tempdir().unwrap();
    let carrier = Sipp::new(
        "carrier",
        dir.path(),
        &scenario("carrier_503.xml"),
        carrier_port,
        b + 4,
        b + 8,
    )
    .args(["-m", "1"])
    .spawn();
    assert!(
        wait_port_taken(carrier_port, false, Duration::from_secs(5)),
        "SIPp carrier did not bind"
    );

    let sw = Switch::start(b, &config(b, carrier_port, 1));
    let failed = |l: &str| l.contains("trunk registration failed");
    assert!(
        sw.wait_log(Duration::from_secs(10), failed),
        "no \"trunk registration failed\" within 10 s\n{}",
        sw.diag()
    );
    let first = Instant::now();
    assert!(
        sw.wait_log_count(Duration::from_secs(10), 2, failed),
        "no retry after the first failure within 10 s\n{}",
        sw.diag()
    );
    let gap = first.elapsed();
    let carrier = carrier.wait();
    carrier.assert_calls(1, &sw.diag());

    let lines = sw.log_lines(failed);
    assert!(
        lines[0].contains("503"),
        "first failure does not give the status: {}\n{}",
        lines[0],
        sw.diag()
    );
    assert!(
        lines[0].contains("retry_in_s=1"),
        "first back-off is not register_retry_min_s: {}\n{}",
        lines[0],
        sw.diag()
    );
    assert!(
        lines[1].contains("retry_in_s=2"),
        "back-off did not double: {}\n{}",
        lines[1],
        sw.diag()
    );
    // The retry came after the back-off, not at once (50 ms log polling slack).
    assert!(
        gap >= Duration::from_millis(700),
        "retried after {gap:?}, before the 1 s back-off\n{}",
        sw.diag()
    );
    assert!(
        !sw.log().contains("trunk registered"),
        "registered against a carrier that refused\n{}",
        sw.diag()
    );
}

/// The carrier's files so far, for a failure before it finished.
fn read_partial(dir: &std::path::Path) -> String {
    let f = |n: &str| common::read_lossy(&dir.join(format!("carrier.{n}")));
    format!(
        "--- carrier errors ---\n{}\n--- carrier messages (last 60 lines) ---\n{}",
        common::tail(&f("errors.log"), 20),
        common::tail(&f("messages.log"), 60)
    )
}
