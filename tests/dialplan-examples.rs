//! Golden tests of the example plans in `dialplans/`: for each call (origin, caller,
//! number, time, menu answers) the decisions the plan makes, in order, as if every bridge
//! failed and every media action completed. A change to a plan that changes where a call
//! goes changes these lines.

use std::path::Path;
use std::sync::Arc;

use switchyard::dialplan::{Action, Decision, Origin, Plan, Session, Target, describe};

fn plan(dir: &str) -> Arc<Plan> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans").join(dir);
    Arc::new(Plan::load(&path).unwrap_or_else(|e| panic!("{dir}: {e}")))
}

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// The decisions, one line each, until the call ends or a menu has no answer left.
fn decisions(plan: &Arc<Plan>, origin: Origin<'_>, caller: &str, to: &str, at: &str, keys: &[&str]) -> Vec<String> {
    let mut s = Session::new(plan.clone(), origin, caller, to, ms(at));
    let mut keys = keys.iter();
    let mut out = Vec::new();
    for _ in 0..50 {
        match s.next_decision() {
            Decision::Bridge { targets, mode, timeout } => {
                let t: Vec<String> = targets
                    .iter()
                    .map(|t| match t {
                        Target::User(u) => format!("user:{u}"),
                        Target::Trunk { trunk, number } => format!("trunk:{trunk}/{number}"),
                    })
                    .collect();
                out.push(format!("bridge {} {mode:?} {}s", t.join(" "), timeout.as_secs()));
            }
            Decision::Media(step) => match &step.action {
                Action::Menu(m) => {
                    out.push(format!("menu {}", m.name));
                    match keys.next() {
                        Some(&"timeout") => s.menu_exhausted(true),
                        Some(&"invalid") => s.menu_exhausted(false),
                        Some(k) => {
                            if !s.menu_choice(k) {
                                s.menu_exhausted(false);
                            }
                        }
                        None => return out,
                    }
                }
                Action::Webhook { .. } => {
                    out.push("webhook (fails)".to_owned());
                    s.webhook_failed();
                }
                _ => out.push(describe(&step, &NoVars).split(' ').next().unwrap_or_default().to_owned()),
            },
            Decision::Hangup(c) => {
                out.push(format!("hangup {}", c.code));
                return out;
            }
            Decision::End => {
                out.push("end".to_owned());
                return out;
            }
            Decision::NoRoute => {
                out.push("404".to_owned());
                return out;
            }
            Decision::NoContext => {
                out.push("403 no context".to_owned());
                return out;
            }
            Decision::Loop => {
                out.push("loop".to_owned());
                return out;
            }
            d => panic!("{d:?}"),
        }
    }
    out
}

struct NoVars;
impl switchyard::dialplan::Vars for NoVars {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

const TUE_10H: &str = "2026-11-24T10:00:00+08:00";
const TUE_20H: &str = "2026-11-24T20:00:00+08:00";
const SAT_10H: &str = "2026-11-28T10:00:00+08:00";
const NATIONAL_DAY: &str = "2026-10-02T10:00:00+08:00";

#[test]
fn default_plan_routes_like_the_default_configuration() {
    let p = Arc::new(Plan::embedded().unwrap());
    let u = Origin::User("1001");
    assert_eq!(
        decisions(&p, u, "1001", "1002", TUE_10H, &[]),
        ["bridge user:1002 Sequence 30s", "hangup 480"]
    );
    assert_eq!(
        decisions(&p, u, "1001", "01088886666", TUE_10H, &[]),
        ["bridge trunk:demo-carrier/+861088886666 Sequence 30s", "hangup 503"]
    );
    assert_eq!(
        decisions(&p, u, "1001", "+14155550100", TUE_10H, &[]),
        ["bridge trunk:demo-carrier/+14155550100 Sequence 30s", "hangup 503"]
    );
    assert_eq!(decisions(&p, u, "1001", "0123", TUE_10H, &[]), ["404"]);
    assert_eq!(decisions(&p, u, "1001", "9196", TUE_10H, &[]), ["answer", "echo", "end"]);
    assert_eq!(
        decisions(&p, u, "1001", "9197", TUE_10H, &[]),
        ["answer", "tone", "tone", "hangup 480"]
    );
    assert_eq!(
        decisions(&p, u, "1001", "7000", TUE_10H, &["1"]),
        ["answer", "menu demo", "answer", "echo", "end"]
    );
    assert_eq!(
        decisions(&p, u, "1001", "7000", TUE_10H, &["0"]),
        ["answer", "menu demo", "bridge user:1001 Sequence 30s", "hangup 480"]
    );
    assert_eq!(
        decisions(&p, u, "1001", "7000", TUE_10H, &["timeout"]),
        ["answer", "menu demo", "hangup 480"]
    );
    let t = Origin::Trunk("demo-carrier");
    assert_eq!(
        decisions(&p, t, "+8613812345678", "1003", TUE_10H, &[]),
        ["bridge user:1003 Sequence 30s", "hangup 480"]
    );
    assert_eq!(
        decisions(&p, t, "+8613812345678", "+861088880000", TUE_10H, &[]),
        ["bridge user:1001 Sequence 30s", "hangup 480"]
    );
    assert_eq!(decisions(&p, Origin::Trunk("other"), "x", "1001", TUE_10H, &[]), ["403 no context"]);
}

#[test]
fn bank_ivr_language_hours_and_card_loss() {
    let p = plan("bank");
    let c = Origin::Trunk("carrier");
    let caller = "+8613812345678";
    // Business hours: language menu, then the Chinese or English main menu.
    assert_eq!(
        decisions(&p, c, caller, "95588", TUE_10H, &["1", "1"]),
        [
            "answer",
            "menu language",
            "menu main-zh",
            "read",
            "webhook (fails)",
            "playback",
            "playback",
            "bridge trunk:contact-center/8001 Sequence 120s",
            "voicemail",
            "end"
        ]
    );
    assert_eq!(
        decisions(&p, c, caller, "+8695588", TUE_10H, &["2", "2"]),
        [
            "answer",
            "menu language",
            "menu main-en",
            "playback",
            "bridge trunk:contact-center/8000 Sequence 60s",
            "voicemail",
            "end"
        ]
    );
    assert_eq!(
        decisions(&p, c, caller, "95588", TUE_10H, &["2", "0"]),
        [
            "answer",
            "menu language",
            "menu main-en",
            "playback",
            "bridge trunk:contact-center/8002 Sequence 120s",
            "voicemail",
            "end"
        ]
    );
    // No key or wrong keys: Chinese by default, then an agent.
    assert_eq!(
        decisions(&p, c, caller, "95588", TUE_10H, &["timeout", "invalid"]),
        [
            "answer",
            "menu language",
            "menu main-zh",
            "playback",
            "bridge trunk:contact-center/8001 Sequence 120s",
            "voicemail",
            "end"
        ]
    );
    assert_eq!(
        decisions(&p, c, caller, "95588", TUE_10H, &["7"]),
        ["answer", "menu language", "menu main-zh"]
    );
    // After hours, at weekends and on holidays only card loss is offered, still 24 h.
    for at in [TUE_20H, SAT_10H, NATIONAL_DAY] {
        assert_eq!(decisions(&p, c, caller, "95588", at, &[]), ["answer", "menu after-hours"], "{at}");
        assert_eq!(
            decisions(&p, c, caller, "95588", at, &["1"]),
            [
                "answer",
                "menu after-hours",
                "playback",
                "bridge trunk:contact-center/8000 Sequence 60s",
                "voicemail",
                "end"
            ],
            "{at}"
        );
        assert_eq!(
            decisions(&p, c, caller, "95588", at, &["timeout"]),
            ["answer", "menu after-hours", "hangup 480"],
            "{at}"
        );
    }
    assert_eq!(decisions(&p, c, caller, "95599", TUE_10H, &[]), ["404"]);
}

#[test]
fn carrier_plan_normalises_and_never_blocks_emergency_numbers() {
    let p = plan("carrier");
    let u = Origin::User("13812345678");
    let lcr_cn = |n: &str| {
        vec![
            format!("bridge trunk:carrier-a/{n} trunk:carrier-b/{n} Sequence 30s"),
            "hangup 503".to_owned(),
        ]
    };
    let lcr_intl = |n: &str| {
        vec![
            format!("bridge trunk:carrier-b/{n} trunk:carrier-a/{n} Sequence 45s"),
            "hangup 503".to_owned(),
        ]
    };
    for (dialled, e164) in [
        ("13912345678", "+8613912345678"),
        ("008613912345678", "+8613912345678"),
        ("+8613912345678", "+8613912345678"),
        ("01088886666", "+861088886666"),
        ("075512345678", "+8675512345678"),
    ] {
        assert_eq!(decisions(&p, u, "13812345678", dialled, TUE_10H, &[]), lcr_cn(e164), "{dialled}");
    }
    for (dialled, e164) in [
        ("0014155550100", "+14155550100"),
        ("+14155550100", "+14155550100"),
        ("00442079460000", "+442079460000"),
    ] {
        assert_eq!(decisions(&p, u, "13812345678", dialled, TUE_10H, &[]), lcr_intl(e164), "{dialled}");
    }
    assert_eq!(decisions(&p, u, "13812345678", "12345", TUE_10H, &[]), ["hangup 484"]);
    assert_eq!(decisions(&p, u, "13812345678", "+1", TUE_10H, &[]), ["hangup 484"]);
    assert_eq!(decisions(&p, u, "13812345678", "+1234567890123456", TUE_10H, &[]), ["hangup 484"]);
    assert_eq!(
        decisions(&p, u, "13812345678", "*31#13912345678", TUE_10H, &[]),
        lcr_cn("+8613912345678")
    );
    assert_eq!(
        decisions(&p, u, "13812345678", "*31#110", TUE_10H, &[])[0],
        "bridge trunk:carrier-a/110 trunk:carrier-b/110 Sequence 10s"
    );
    // A barred caller reaches nothing but emergency numbers, whatever the time.
    let barred = Origin::User("17012345678");
    assert_eq!(decisions(&p, barred, "17012345678", "13912345678", TUE_10H, &[]), ["hangup 403"]);
    for (n, sent) in [
        ("110", "110"),
        ("119", "119"),
        ("120", "120"),
        ("122", "122"),
        ("112", "110"),
        ("911", "110"),
    ] {
        for who in [u, barred] {
            for at in [TUE_10H, SAT_10H, NATIONAL_DAY] {
                assert_eq!(
                    decisions(&p, who, "17012345678", n, at, &[]),
                    [
                        format!("bridge trunk:carrier-a/{sent} trunk:carrier-b/{sent} Sequence 10s"),
                        "hangup 503".to_owned()
                    ],
                    "{n} from {who:?} at {at}"
                );
            }
        }
    }
    // Inbound from either carrier to a subscriber.
    for t in ["carrier-a", "carrier-b"] {
        let o = Origin::Trunk(t);
        assert_eq!(
            decisions(&p, o, "+14155550100", "+8613812345678", TUE_10H, &[]),
            ["bridge user:13812345678 Sequence 30s", "hangup 480"]
        );
        assert_eq!(decisions(&p, o, "+14155550100", "+861088886666", TUE_10H, &[]), ["hangup 404"]);
    }
}

#[test]
fn a_session_keeps_no_trace_unless_asked() {
    // Routing a call must not format trace lines nobody reads (they cost more than the
    // lookup), including on the paths that end in 404.
    let p = Arc::new(Plan::embedded().unwrap());
    for n in ["1002", "0123", "7000"] {
        let mut s = Session::new(p.clone(), Origin::User("1001"), "1001", n, ms(TUE_10H));
        let _ = s.next_decision();
        assert!(s.trace.is_empty(), "{n}: {:?}", s.trace);
        let mut t = Session::new(p.clone(), Origin::User("1001"), "1001", n, ms(TUE_10H)).with_trace();
        let _ = t.next_decision();
        assert!(!t.trace.is_empty(), "{n}");
    }
}
