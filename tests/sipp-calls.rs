//! Calls through the switch between two SIPp instances: SIPp UAC -> switch -> SIPp UAS.
//!
//! The UAC's source address is admitted by the trunk `sipp-in` (its From user is no local
//! user), so its INVITEs are inbound trunk calls; the dialled number 9000 is no local user
//! either, so the route `9` sends them out of the trunk `uas`, where the SIPp UAS answers.
//!
//! Ports 15100-15199: each test uses a slot of 20 from its base (switch, UAS, UAC, unused
//! trunk proxy, SIPp control and media ports).

mod common;

use common::{HOST, Sipp, Switch, assert_call_ids_differ, require, scenario, wait_port_taken};
use std::time::Duration;

const BASE: u16 = 15100;

/// Ports of one test.
struct Ports {
    switch: u16,
    uas: u16,
    uac: u16,
    unused: u16,
}

impl Ports {
    fn slot(n: u16) -> Ports {
        let b = BASE + n * 20;
        Ports {
            switch: b,
            uas: b + 1,
            uac: b + 2,
            unused: b + 3,
        }
    }
    fn ctrl(&self, i: u16) -> u16 {
        self.switch + 4 + i
    }
    fn media(&self, i: u16) -> u16 {
        self.switch + 8 + 4 * i
    }
}

fn config(p: &Ports, transport: &str) -> String {
    format!(
        r#"
[[trunks]]
name = "sipp-in"
proxy = "{HOST}:{unused}"
inbound_acl = ["127.0.0.1/32"]

[[trunks]]
name = "uas"
proxy = "{HOST}:{uas}"
transport = "{transport}"

[[routes]]
prefix = "9"
trunk = "uas"
"#,
        unused = p.unused,
        uas = p.uas,
    )
}

/// `calls` calls with UAC scenario `uac` and UAS scenario `uas` over `transport`; both sides
/// must count every call successful and none failed, and the legs' Call-IDs must differ.
fn run_calls(slot: u16, transport: &str, uac: &str, uas: &str, calls: u32, rate: u32) {
    require("sipp");
    let p = Ports::slot(slot);
    let sw = Switch::start(p.switch, &config(&p, transport));
    let tcp = transport == "tcp";
    let sipp_transport: &[&str] = if tcp { &["-t", "t1"] } else { &["-t", "u1"] };
    let n = calls.to_string();

    let uas_run = Sipp::new(
        "uas",
        sw.dir(),
        &scenario(uas),
        p.uas,
        p.ctrl(0),
        p.media(0),
    )
    .args(sipp_transport)
    .args(["-m", &n])
    .spawn();
    assert!(
        wait_port_taken(p.uas, tcp, Duration::from_secs(5)),
        "SIPp UAS did not bind {HOST}:{}",
        p.uas
    );

    let uac_res = Sipp::new(
        "uac",
        sw.dir(),
        &scenario(uac),
        p.uac,
        p.ctrl(1),
        p.media(1),
    )
    .args(sipp_transport)
    .args([format!("{HOST}:{}", p.switch)])
    .args(["-s", "9000", "-m", &n, "-r", &rate.to_string(), "-d", "100"])
    .run();
    let uas_res = uas_run.wait();

    let ctx = format!("{}\n{}", uas_res.report(), sw.diag());
    uac_res.assert_calls(u64::from(calls), &ctx);
    let ctx = format!("{}\n{}", uac_res.report(), sw.diag());
    uas_res.assert_calls(u64::from(calls), &ctx);
    assert_call_ids_differ(&uac_res, "uac-call-id", &uas_res, "uas-call-id", &sw.diag());
    assert_eq!(
        uas_res.logged("uas-call-id").len(),
        calls as usize,
        "UAS saw a different number of calls"
    );
}

/// 200 calls over UDP: INVITE/100/180/200/ACK, a short hold, BYE/200.
#[test]
fn udp_calls() {
    run_calls(0, "udp", "uac_rr.xml", "uas_rr.xml", 200, 50);
}

/// The same over TCP (one connection per side, `-t t1`).
#[test]
fn tcp_calls() {
    run_calls(1, "tcp", "uac_rr.xml", "uas_rr.xml", 200, 50);
}

/// The caller cancels while the callee rings: the UAC gets 200 for its CANCEL and 487 for
/// its INVITE, and the UAS gets a CANCEL it answers with 200 and 487 (then the ACK).
#[test]
fn cancel_while_ringing() {
    run_calls(2, "udp", "uac_cancel.xml", "uas_cancel.xml", 20, 20);
}

/// The callee is busy: its 486 reaches the caller, and both ACK paths work.
#[test]
fn busy_callee() {
    run_calls(3, "udp", "uac_486.xml", "uas_486.xml", 20, 20);
}
