//! Hot reload under load: SIPp calls run through the switch while its dialplan is replaced by
//! a good plan (file change), then by a broken one (file change, then SIGHUP), then a good
//! one again (SIGHUP). Every call completes; each broken plan is refused with its
//! `file:line:col` error in the log and the running plan kept.
//!
//! SIPp UAC -> switch (trunk `sipp-in`) -> plan -> trunk `uas` -> SIPp UAS.
//! Ports 15900-15919.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{HOST, Sipp, Switch, require, scenario, wait_port_taken};

const SWITCH: u16 = 15900;
const UAS: u16 = 15901;
const UAC: u16 = 15902;
const UNUSED: u16 = 15903;
const CALLS: u32 = 240;

const PLAN_1: &str = "context carrier {\n  from trunk sipp-in\n  ext _9XXX {\n    bridge trunk:uas/${EXTEN} timeout=10s\n    hangup\n  }\n}\n";
const PLAN_2: &str = "// second version: any number, same trunk\ncontext carrier {\n  from trunk sipp-in\n  ext _X. {\n    bridge trunk:uas/${EXTEN} timeout=10s\n    hangup congestion\n  }\n}\n";
const BROKEN: &str = "context carrier {\n  from trunk sipp-in\n  ext _9XXX {\n    bridge trunk:uas/${EXTEN} timeout=10s\n    hangup sometimes\n  }\n}\n";

fn write(dir: &Path, text: &str) {
    // Written whole then renamed in, as deployment tools do: never seen half written.
    let tmp = dir.join(".plan.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("plan.dialplan")).unwrap();
}

fn hup(sw: &Switch) {
    let pid = sw.pid().expect("switch running") as libc::pid_t;
    // SAFETY: kill(2) with SIGHUP on the pid of the switch this test started.
    let r = unsafe { libc::kill(pid, libc::SIGHUP) };
    assert_eq!(r, 0, "SIGHUP not delivered");
}

#[test]
fn reload_under_load_loses_no_call() {
    require("sipp");
    let plans = tempfile::tempdir().unwrap();
    write(plans.path(), PLAN_1);
    let sections = format!(
        "[[trunks]]\nname = \"sipp-in\"\nproxy = \"{HOST}:{UNUSED}\"\ninbound_acl = [\"127.0.0.1/32\"]\n\n\
         [[trunks]]\nname = \"uas\"\nproxy = \"{HOST}:{UAS}\"\n\n\
         # Signalling only: 60 calls at once would need more RTP ports than a test switch gets.\n\
         [media]\nanchor = false\n"
    );
    let sw = Switch::start_with(SWITCH, &format!("dialplan = \"{}\"", plans.path().display()), &sections);
    assert!(sw.wait_log(Duration::from_secs(5), |l| l.contains("dialplan loaded")), "{}", sw.diag());
    let n = CALLS.to_string();
    let uas = Sipp::new("uas", sw.dir(), &scenario("uas_rr.xml"), UAS, SWITCH + 4, SWITCH + 8).args(["-m", &n]).spawn();
    assert!(wait_port_taken(UAS, false, Duration::from_secs(5)), "SIPp UAS did not bind");
    // 240 calls at 30 per second, each held 2 s: about 60 in progress at any time, for 8 s.
    let uac = Sipp::new("uac", sw.dir(), &scenario("uac_rr.xml"), UAC, SWITCH + 5, SWITCH + 12)
        .args([format!("{HOST}:{SWITCH}")])
        .args(["-s", "9000", "-m", &n, "-r", "30", "-d", "2000"])
        .spawn();

    std::thread::sleep(Duration::from_millis(1500));
    write(plans.path(), PLAN_2);
    assert!(
        sw.wait_log(Duration::from_secs(5), |l| l.contains("dialplan reloaded") && l.contains("file change")),
        "good plan not picked up: {}",
        sw.diag()
    );
    write(plans.path(), BROKEN);
    assert!(
        sw.wait_log(Duration::from_secs(5), |l| l.contains("dialplan reload refused") && l.contains("file change")),
        "broken plan not refused: {}",
        sw.diag()
    );
    hup(&sw);
    assert!(
        sw.wait_log(Duration::from_secs(5), |l| l.contains("dialplan reload refused") && l.contains("SIGHUP")),
        "SIGHUP with a broken plan not refused: {}",
        sw.diag()
    );
    write(plans.path(), PLAN_1);
    hup(&sw);
    assert!(
        sw.wait_log(Duration::from_secs(5), |l| l.contains("dialplan reloaded") && l.contains("SIGHUP")),
        "good plan on SIGHUP not loaded: {}",
        sw.diag()
    );

    let uac_res = uac.wait();
    let uas_res = uas.wait();
    let ctx = format!("{}\n{}\n{}", uac_res.report(), uas_res.report(), sw.diag());
    uac_res.assert_calls(u64::from(CALLS), &ctx);
    uas_res.assert_calls(u64::from(CALLS), &ctx);
    // The refusal names the file, line and column of the mistake.
    let log = sw.log();
    let want = format!("{}:5:12: `sometimes` is not a cause", plans.path().join("plan.dialplan").display());
    assert!(log.contains(&want), "no `{want}` in the log:\n{log}");
    assert_eq!(sw.log_lines(|l| l.contains("new calls use the reloaded dialplan")).len(), 2, "{}", sw.diag());
}
