//! `switchyard check` on dialplans (every problem as `file:line:col: message`, exit 1; the
//! example plans pass) and `switchyard route` (context, extension and actions, no call).

use std::path::Path;
use std::process::Command;

fn switchyard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
}

fn run(args: &[&str]) -> (i32, String) {
    let out = switchyard().current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().expect("run switchyard");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_example_plans_check() {
    for c in ["dialplans/bank/switchyard.toml", "dialplans/carrier/switchyard.toml"] {
        let (code, out) = run(&["check", "-c", c]);
        assert_eq!(code, 0, "{c}: {out}");
        assert!(out.contains(".dialplan: ok ("), "{out}");
    }
    let (code, out) = run(&["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("<embedded default>/default.dialplan: ok (3 contexts)"), "{out}");
}

#[test]
fn check_lists_every_problem_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("bad.dialplan");
    std::fs::write(
        &plan,
        "timezone Mars/Olympus\n\
         context a {\n\
         \x20 from user\n\
         \x20 ext _1[2 {\n\
         \x20   hangup\n\
         \x20 }\n\
         \x20 ext 100 when time=25:00-26:00 {\n\
         \x20   bridge trunk:nowhere/${EXTEN} timeout=soon\n\
         \x20   goto b 1\n\
         \x20   playback missing-prompt\n\
         \x20 }\n\
         }\n",
    )
    .unwrap();
    let (code, out) = run(&["check", "--dialplan", plan.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let shown = out.replace(&plan.display().to_string(), "bad.dialplan");
    let lines: Vec<&str> = shown.lines().filter(|l| l.starts_with("bad.dialplan:")).collect();
    assert_eq!(
        lines,
        [
            "bad.dialplan:1:10: `Mars/Olympus` is not a time zone of the tz database (e.g. Asia/Shanghai)",
            "bad.dialplan:4:9: `[` not closed by `]`",
            "bad.dialplan:7:21: `25:00` is not a time of day (HH:MM, 00:00–24:00)",
            "bad.dialplan:8:43: `soon` is not a duration (like 5s, 500ms, 2m)",
            "bad.dialplan:9:5: no context `b`",
        ],
        "{out}"
    );
    // Once the plan itself is right, what it names outside itself is checked.
    std::fs::write(&plan, "context a {\n from user\n ext 1 {\n  bridge trunk:nowhere/1\n  playback missing-prompt\n }\n}\n").unwrap();
    let (code, out) = run(&["check", "--dialplan", plan.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let shown = out.replace(&plan.display().to_string(), "bad.dialplan");
    assert!(shown.contains("bad.dialplan:4:3: `bridge` names trunk `nowhere`, which the configuration does not define"), "{shown}");
    assert!(shown.contains("bad.dialplan:5:3: prompt `missing-prompt` not found in"), "{shown}");
}

#[test]
fn route_shows_where_a_call_goes_without_placing_it() {
    let (code, out) = run(&["route", "--from", "1001", "--to", "01088886666"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("context phones ext _0XXXX. matches 01088886666"), "{out}");
    assert!(out.contains("bridge trunk:demo-carrier/+861088886666"), "{out}");
    let bank = Path::new("dialplans/bank/switchyard.toml").to_str().unwrap();
    let (code, out) = run(&["route", "-c", bank, "--from", "carrier", "--to", "95588", "--at", "2026-11-24T10:00:00+08:00", "--keys", "2,2"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("menu language"), "{out}");
    assert!(out.contains("key 2") && out.contains("bridge trunk:contact-center/8000"), "{out}");
    // Saturday: the after-hours menu.
    let (_, out) = run(&["route", "-c", bank, "--from", "carrier", "--to", "95588", "--at", "2026-11-28T10:00:00+08:00"]);
    assert!(out.contains("menu after-hours"), "{out}");
    let (code, out) = run(&["route", "--from", "1001", "--to", "555"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("404 Not Found"), "{out}");
}
