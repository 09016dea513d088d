//! The IVR against real peers: SIPp callers navigate the bank's IVR (`dialplans/bank`) with
//! RFC 4733 digits from SIPp's own `dtmf_2833_*.pcap`, and a SIPp UAS standing in for the
//! contact centre checks where each caller lands (Request-URI) and who the switch says is
//! calling (From). The key, invalid-key and timeout paths run side by side against one
//! switch. Then a recording (SIPp plays `g711a.pcap`; the WAV the switch writes must match
//! it) and a webhook against a small HTTP server this test runs.
//!
//! SIPp UAC ─▶ switch (trunk `carrier`) ─▶ bank plan ─▶ trunk `contact-center` ─▶ SIPp UAS.
//! Ports 15920-15999 and 16000-16019; the switches' RTP 37000-37199, SIPp's media 36000-36899.

mod common;
#[path = "media-support/mod.rs"]
#[allow(dead_code)]
mod media;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{HOST, Sipp, Switch, require, scenario, wait_port_taken};

const PCAPS: &str = "/usr/share/sip-tester";
/// The longest scripted call here (three timeouts of the bank's welcome, then an agent).
const LONG_CALL: Duration = Duration::from_secs(150);

/// What a scripted caller does after the switch answers.
#[derive(Clone, Copy, Debug)]
enum Step {
    Pause(u32),
    Key(char),
}

/// How the caller's call ends.
#[derive(Clone, Copy, Debug)]
enum End {
    /// The caller hangs up after this many ms (the agent must have answered by then).
    HangUpAfter(u32),
    /// The switch hangs up (the plan ends the call).
    SwitchHangsUp,
}

fn pcap_for(d: char) -> String {
    let name = match d {
        '#' => "pound".to_owned(),
        '*' => "star".to_owned(),
        d => d.to_string(),
    };
    format!("{PCAPS}/dtmf_2833_{name}.pcap")
}

/// A SIPp caller: offers PCMA and telephone-event, presents `caller`, then follows `steps`.
fn uac_xml(caller: &str, steps: &[Step], end: End, audio: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(pcap) = audio {
        body.push_str(&format!("  <nop><action><exec play_pcap_audio=\"{pcap}\"/></action></nop>\n"));
    }
    for s in steps {
        match s {
            Step::Pause(ms) => body.push_str(&format!("  <pause milliseconds=\"{ms}\"/>\n")),
            Step::Key(d) => body.push_str(&format!(
                "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
                pcap_for(*d)
            )),
        }
    }
    let tail = match end {
        End::HangUpAfter(ms) => format!(
            r#"  <pause milliseconds="{ms}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]Ivr[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      [routes]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true">
  </recv>
"#
        ),
        End::SwitchHangsUp => r#"  <recv request="BYE" timeout="120000">
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"#
        .to_owned(),
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="IVR caller">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]Ivr[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:{caller}@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16

    ]]>
  </send>
  <recv response="100" optional="true">
  </recv>
  <recv response="180" optional="true">
  </recv>
  <recv response="183" optional="true">
  </recv>
  <recv response="200" rrs="true">
  </recv>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]Ivr[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      [routes]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
{body}{tail}  <timewait milliseconds="500"/>
</scenario>
"#
    )
}

fn bank_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans/bank")
}

/// Trunks in and out, and the switch's RTP ports (`rtp`..`rtp`+49: each switch in this
/// file has its own, as they run side by side).
fn config(agent: u16, unused: u16, rtp: u16) -> String {
    format!(
        "[[trunks]]\nname = \"carrier\"\nproxy = \"{HOST}:{unused}\"\ninbound_acl = [\"127.0.0.1/32\"]\n\n\
         [[trunks]]\nname = \"contact-center\"\nproxy = \"{HOST}:{agent}\"\n\n\
         [media]\nport_min = {rtp}\nport_max = {}\n",
        rtp + 49
    )
}

/// A caller's scenario file, its SIPp ports and what it should end as.
struct Caller {
    name: &'static str,
    number: &'static str,
    steps: Vec<Step>,
    end: End,
    /// The contact-centre number it must reach (`None`: the switch hangs up first).
    lands: Option<&'static str>,
}

fn run_callers(sw: &Switch, callers: &[Caller], service: &str, switch: u16, base: u16, media_base: u16) -> Vec<common::SippResult> {
    let mut running = Vec::new();
    for (i, c) in callers.iter().enumerate() {
        let xml = sw.dir().join(format!("uac-{}.xml", c.name));
        std::fs::write(&xml, uac_xml(c.number, &c.steps, c.end, None)).expect("write scenario");
        let port = base + 3 * i as u16;
        let r = Sipp::new(c.name, sw.dir(), &xml, port, port + 1, media_base + 10 * i as u16)
            .args([format!("{HOST}:{switch}")])
            .args(["-s", service, "-m", "1", "-timeout", "150s"])
            .spawn();
        running.push(r);
    }
    running.into_iter().map(|r| r.wait_within(LONG_CALL)).collect()
}

const SWITCH: u16 = 15920;
const AGENT: u16 = 15921;
const UNUSED: u16 = 15923;

const OPEN_HOURS: &str = "ext s when time=09:00-18:00 days=mon-fri !holiday=cn-2026 {";

/// The bank's plan with its business-hours test replaced, so that the test does not depend
/// on when it runs: `open` takes the business-hours welcome always, otherwise never (the
/// after-hours one). Prompts are the bank's own.
fn bank_at(dir: &Path, open: bool) -> PathBuf {
    let text = std::fs::read_to_string(bank_dir().join("bank.dialplan")).expect("bank plan");
    assert!(text.contains(OPEN_HOURS), "bank.dialplan changed: adapt sipp-ivr.rs");
    let text = text.replace(
        OPEN_HOURS,
        if open {
            "ext s when days=mon-sun {"
        } else {
            "ext business-hours-test-off {"
        },
    );
    let plan = dir.join(if open { "open" } else { "closed" });
    std::fs::create_dir_all(&plan).expect("mkdir");
    std::fs::write(plan.join("bank.dialplan"), text).expect("write plan");
    std::os::unix::fs::symlink(bank_dir().join("prompts"), plan.join("prompts")).expect("prompts link");
    plan
}

/// Ports of one run of the bank: switch, agent (+1, control +2), unused trunk proxy (+3),
/// callers from +10 (three each).
struct BankPorts {
    switch: u16,
    media: u16,
    rtp: u16,
}

fn bank_run(open: bool, p: &BankPorts) {
    // Marked points in the bank's prompts (espeak-ng, 8 kHz): welcome 8.8 s + language 5.0 s;
    // invalid 6.1 s; the welcome menu waits 5 s for a key, the main menus 6 s; retries 2
    // (business hours) and 1 (after hours).
    let callers = if open {
        vec![
            // 2 = English, then 2 = card loss: the priority desk.
            Caller {
                name: "cardloss",
                number: "13800000001",
                steps: vec![Step::Pause(1500), Step::Key('2'), Step::Pause(1500), Step::Key('2')],
                end: End::HangUpAfter(9000),
                lands: Some("8000"),
            },
            // A wrong key, then (during the retry's prompt) English, then 0 = an English agent.
            Caller {
                name: "invalid",
                number: "13800000002",
                steps: vec![
                    Step::Pause(1500),
                    Step::Key('9'),
                    Step::Pause(8500),
                    Step::Key('2'),
                    Step::Pause(2000),
                    Step::Key('0'),
                ],
                end: End::HangUpAfter(9000),
                lands: Some("8002"),
            },
            // No key: three tries of the welcome menu (about 56 s), then the Chinese main
            // menu, where 0 asks for a Chinese-speaking agent.
            Caller {
                name: "timeout",
                number: "13800000003",
                steps: vec![Step::Pause(60000), Step::Key('0')],
                end: End::HangUpAfter(10000),
                lands: Some("8001"),
            },
        ]
    } else {
        vec![
            // After hours: 1 = card loss in Chinese, still open at night.
            Caller {
                name: "cardloss",
                number: "13800000001",
                steps: vec![Step::Pause(1500), Step::Key('1')],
                end: End::HangUpAfter(11000),
                lands: Some("8000"),
            },
            // Two wrong keys use up the after-hours menu (one retry, no invalid branch): hang up.
            Caller {
                name: "invalid",
                number: "13800000002",
                steps: vec![Step::Pause(1500), Step::Key('9'), Step::Pause(6000), Step::Key('9')],
                end: End::SwitchHangsUp,
                lands: None,
            },
            // No key: two tries (about 34 s), then `timeout => hangup normal`.
            Caller {
                name: "timeout",
                number: "13800000003",
                steps: vec![],
                end: End::SwitchHangsUp,
                lands: None,
            },
        ]
    };
    let what = if open { "business hours" } else { "after hours" };
    let plans = tempfile::tempdir().expect("tmp");
    let plan = bank_at(plans.path(), open);
    let sw = Switch::start_with(
        p.switch,
        &format!("dialplan = \"{}\"", plan.display()),
        &config(p.switch + 1, p.switch + 3, p.rtp),
    );
    assert!(
        sw.wait_log(Duration::from_secs(10), |l| l.contains("dialplan loaded")),
        "{}",
        sw.diag()
    );
    let agents = callers.iter().filter(|c| c.lands.is_some()).count();
    let uas = Sipp::new(
        "agent",
        sw.dir(),
        &scenario("uas_agent.xml"),
        p.switch + 1,
        p.switch + 2,
        p.media + 90,
    )
    .args(["-m", &agents.to_string(), "-timeout", "150s"])
    .spawn();
    assert!(
        wait_port_taken(p.switch + 1, false, Duration::from_secs(5)),
        "SIPp agent did not bind"
    );
    let results = run_callers(&sw, &callers, "95588", p.switch, p.switch + 10, p.media);
    let ctx = sw.diag();
    for (c, r) in callers.iter().zip(&results) {
        r.assert_calls(1, &format!("caller `{}` ({what})\n{ctx}", c.name));
    }
    let agent = uas.wait_within(LONG_CALL);
    agent.assert_calls(agents as u64, &ctx);
    let mut got = agent.logged("agent-invite");
    got.sort();
    let mut want: Vec<String> = callers
        .iter()
        .filter_map(|c| c.lands.map(|n| format!("{n} {}", c.number)))
        .collect();
    want.sort();
    assert_eq!(got, want, "{what}: where callers landed (number, presented caller)\n{ctx}");
    let log = sw.log();
    assert!(log.contains("menu choice"), "{ctx}");
    assert!(
        log.contains("menu tries used up"),
        "{what}: the timeout caller used up a menu\n{ctx}"
    );
}

#[test]
fn bank_ivr_key_invalid_and_timeout_paths_land_where_the_plan_says() {
    require("sipp");
    assert!(
        Path::new(&pcap_for('1')).is_file(),
        "SIPp's pcaps are not in {PCAPS}: run `scripts/setup.sh` (sip-tester)"
    );
    // Both welcomes at once, each against its own switch: the longest path (three timeouts
    // of the business-hours welcome) sets the test's length, about 70 s.
    let closed = std::thread::spawn(|| {
        bank_run(
            false,
            &BankPorts {
                switch: 16000,
                media: 36300,
                rtp: 37050,
            },
        )
    });
    bank_run(
        true,
        &BankPorts {
            switch: SWITCH,
            media: 36000,
            rtp: 37000,
        },
    );
    if let Err(e) = closed.join() {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn recording_holds_what_the_caller_sent() {
    require("sipp");
    require("tshark");
    let pcap = format!("{PCAPS}/g711a.pcap");
    assert!(
        Path::new(&pcap).is_file(),
        "SIPp's pcaps are not in {PCAPS}: run `scripts/setup.sh` (sip-tester)"
    );
    let plans = tempfile::tempdir().expect("tmp");
    std::fs::write(
        plans.path().join("rec.dialplan"),
        "context carrier {\n  from trunk carrier\n  ext 5000 {\n    answer\n    record file=test-${CALLER} beep=yes max=30s silence=2s\n    hangup\n  }\n  ext 5001 {\n    voicemail sales\n  }\n}\n",
    )
    .expect("plan");
    let mut sw = Switch::start_with(
        SWITCH + 40,
        &format!("dialplan = \"{}\"", plans.path().display()),
        &config(AGENT + 40, UNUSED + 40, 37100),
    );
    assert!(
        sw.wait_log(Duration::from_secs(10), |l| l.contains("dialplan loaded")),
        "{}",
        sw.diag()
    );
    let xml = sw.dir().join("uac-rec.xml");
    // The beep lasts 400 ms: the audio starts after it, then 7 s of it, then silence ends
    // the recording and the plan hangs up.
    std::fs::write(
        &xml,
        uac_xml("13900000009", &[Step::Pause(1000)], End::SwitchHangsUp, None).replace(
            "  <pause milliseconds=\"1000\"/>\n",
            &format!("  <pause milliseconds=\"1000\"/>\n  <nop><action><exec play_pcap_audio=\"{pcap}\"/></action></nop>\n"),
        ),
    )
    .expect("scenario");
    let r = Sipp::new("rec", sw.dir(), &xml, SWITCH + 50, SWITCH + 51, 36500)
        .args([format!("{HOST}:{}", SWITCH + 40)])
        .args(["-s", "5000", "-m", "1", "-timeout", "60s"])
        .spawn()
        .wait();
    let ctx = sw.diag();
    r.assert_calls(1, &ctx);
    let wav = sw.dir().join("data/recordings/test-13900000009.wav");
    assert!(
        common::wait_until(Duration::from_secs(5), || wav.is_file()),
        "no recording at {}\n{ctx}",
        wav.display()
    );
    let recorded = media::wav_8k_mono(&wav);
    let pkts = media::read_rtp(Path::new(&pcap), &[5000, 2006]);
    let all: Vec<&media::Rtp> = pkts.iter().collect();
    let (reference, _) = media::g711_timeline(&all, 8);
    let secs = recorded.len() as f64 / 8000.0;
    let want = reference.len() as f64 / 8000.0;
    println!("recorded {secs:.2} s against {want:.2} s sent");
    assert!(
        secs >= want - 0.3 && secs <= want + 3.0,
        "recorded {secs:.2} s, sent {want:.2} s\n{ctx}"
    );
    let a = media::align(&reference, &recorded, 16000);
    let segs = media::segments(&reference, &recorded, a.lag, 2000, 800);
    let seg = media::segmental_corr(&segs);
    println!(
        "recording: whole correlation {:.4} at {:+.1} ms, segmental {seg:.4} over {} windows",
        a.corr,
        a.lag as f64 / 8.0,
        segs.len()
    );
    assert!(
        segs.len() >= 20 && seg >= 0.98,
        "the recording does not hold the caller's audio: segmental correlation {seg:.4} over {} windows\n{ctx}",
        segs.len()
    );
    // Voicemail: the caller talks, then hangs up while still being recorded (as callers
    // do); the message is kept.
    let xml = sw.dir().join("uac-vm.xml");
    std::fs::write(
        &xml,
        uac_xml("13900000010", &[Step::Pause(1000)], End::HangUpAfter(4000), Some(&pcap)),
    )
    .expect("scenario");
    Sipp::new("vm", sw.dir(), &xml, SWITCH + 53, SWITCH + 54, 36520)
        .args([format!("{HOST}:{}", SWITCH + 40)])
        .args(["-s", "5001", "-m", "1"])
        .spawn()
        .wait()
        .assert_calls(1, &sw.diag());
    // Linked from the calls' CDRs.
    sw.stop();
    let data = sw.dir().join("data");
    let rows = switchyard::rt::store::read_recordings(&data, None).expect("store");
    let cdrs = switchyard::rt::store::read_cdrs(&data).expect("cdrs");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        cdrs.iter().any(|c| c.id == rows[0].cdr_id && c.destination == "ivr"),
        "{rows:?} {cdrs:?}"
    );
    let vm = &rows[1];
    assert_eq!(
        (vm.kind.as_str(), vm.mailbox.as_str(), vm.caller.as_str()),
        ("voicemail", "sales", "13900000010"),
        "{rows:?}"
    );
    assert!(
        vm.path.contains("/voicemail/sales/") && (2000..5000).contains(&vm.duration_ms),
        "{vm:?}"
    );
    // The documented interface: list a box, fetch a message.
    let cfg = sw.dir().join("switchyard.toml");
    let bin = common::switch_bin();
    let list = std::process::Command::new(&bin)
        .args(["recordings", "--mailbox", "sales", "--json", "-c"])
        .arg(&cfg)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        list.status.success() && text.lines().count() == 1 && text.contains("\"caller\":\"13900000010\""),
        "{text}"
    );
    let fetched = sw.dir().join("fetched.wav");
    let f = std::process::Command::new(&bin)
        .args(["recordings", "--mailbox", "sales", "--fetch", "1", "-o"])
        .arg(&fetched)
        .arg("-c")
        .arg(&cfg)
        .status()
        .expect("run");
    assert!(f.success());
    assert_eq!(std::fs::read(&fetched).expect("fetched"), std::fs::read(&vm.path).expect("message"));
}

/// A tiny HTTP/1.1 server: answers each POST with the next of `replies` (status, body) and
/// keeps the request bodies.
fn http_server(replies: Vec<(u16, &'static str)>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind((HOST, 0)).expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for (status, body) in replies {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut len = 0usize;
            let mut line = String::new();
            let mut head = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
                line.clear();
            }
            let mut b = vec![0; len];
            let _ = r.read_exact(&mut b);
            keep.lock().expect("lock").push(format!("{head}\n{}", String::from_utf8_lossy(&b)));
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[test]
fn webhook_reply_routes_the_call_and_a_failure_takes_its_block() {
    require("sipp");
    let (port, seen) = http_server(vec![
        (
            200,
            r#"{"set": {"AGENT": "8123", "TIER": "gold"}, "actions": ["set GREETING=${TIER}"]}"#,
        ),
        (500, "{}"),
    ]);
    let plans = tempfile::tempdir().expect("tmp");
    std::fs::write(
        plans.path().join("hook.dialplan"),
        format!(
            "context carrier {{\n  from trunk carrier\n  ext 6000 {{\n    answer\n    set ACCOUNT=6222020200112233\n    webhook http://{HOST}:{port}/route timeout=2s {{\n      bridge trunk:contact-center/8999\n      hangup\n    }}\n    bridge trunk:contact-center/${{AGENT}}-${{GREETING}}\n    hangup\n  }}\n}}\n"
        ),
    )
    .expect("plan");
    let base = SWITCH + 60;
    let sw = Switch::start_with(
        base,
        &format!("dialplan = \"{}\"", plans.path().display()),
        &config(base + 1, base + 3, 37150),
    );
    assert!(
        sw.wait_log(Duration::from_secs(10), |l| l.contains("dialplan loaded")),
        "{}",
        sw.diag()
    );
    let uas = Sipp::new("agent", sw.dir(), &scenario("uas_agent.xml"), base + 1, base + 2, 36700)
        .args(["-m", "2", "-timeout", "60s"])
        .spawn();
    assert!(wait_port_taken(base + 1, false, Duration::from_secs(5)), "SIPp agent did not bind");
    // One call after the other, so that the server's first reply goes to the first.
    for (i, who) in ["13700000001", "13700000002"].iter().enumerate() {
        let xml = sw.dir().join(format!("uac-hook{i}.xml"));
        std::fs::write(&xml, uac_xml(who, &[], End::HangUpAfter(3000), None)).expect("scenario");
        let p = base + 10 + 3 * i as u16;
        Sipp::new(&format!("hook{i}"), sw.dir(), &xml, p, p + 1, 36800 + 10 * i as u16)
            .args([format!("{HOST}:{base}")])
            .args(["-s", "6000", "-m", "1", "-timeout", "60s"])
            .spawn()
            .wait()
            .assert_calls(1, &sw.diag());
    }
    let agent = uas.wait();
    agent.assert_calls(2, &sw.diag());
    assert_eq!(
        agent.logged("agent-invite"),
        ["8123-gold 13700000001", "8999 13700000002"],
        "{}",
        sw.diag()
    );
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("POST /route HTTP/1.1"), "{}", seen[0]);
    let body: serde_json::Value = serde_json::from_str(
        seen[0]
            .split("\r\n\n")
            .nth(1)
            .or_else(|| seen[0].split("\n\n").nth(1))
            .unwrap_or(""),
    )
    .expect("JSON body");
    assert_eq!(body["caller"], "13700000001");
    assert_eq!(body["dialed"], "6000");
    assert_eq!(body["vars"]["ACCOUNT"], "6222020200112233");
    assert!(sw.log().contains("webhook failed"), "{}", sw.diag());
}

#[test]
fn agent_blind_transfers_the_caller_with_refer() {
    require("sipp");
    let plans = tempfile::tempdir().expect("tmp");
    std::fs::write(
        plans.path().join("xfer.dialplan"),
        "context carrier {\n  from trunk carrier\n  ext 6100 {\n    bridge trunk:contact-center/8100\n    hangup\n  }\n}\n\
         context agents {\n  from trunk contact-center\n  ext _X. {\n    hangup forbidden\n  }\n}\n"
            .replace(
                "  ext 6100 {",
                "  ext 8200 {\n    bridge trunk:target/8200 timeout=10s\n    hangup\n  }\n  ext 6100 {",
            ),
    )
    .expect("plan");
    let base = 16020;
    let target_trunk = format!("[[trunks]]\nname = \"target\"\nproxy = \"{HOST}:{}\"\n\n", base + 4);
    let sw = Switch::start_with(
        base,
        &format!("dialplan = \"{}\"", plans.path().display()),
        &format!("{target_trunk}{}", config(base + 1, base + 3, 37200)),
    );
    assert!(
        sw.wait_log(Duration::from_secs(10), |l| l.contains("dialplan loaded")),
        "{}",
        sw.diag()
    );
    let agent = Sipp::new("xfer", sw.dir(), &scenario("uas_transfer.xml"), base + 1, base + 2, 36600)
        .args(["-m", "1", "-key", "target", "8200"])
        .spawn();
    let target = Sipp::new("target", sw.dir(), &scenario("uas_agent.xml"), base + 4, base + 5, 36620)
        .args(["-m", "1"])
        .spawn();
    assert!(
        wait_port_taken(base + 1, false, Duration::from_secs(5)) && wait_port_taken(base + 4, false, Duration::from_secs(5)),
        "SIPp UAS did not bind"
    );
    let xml = sw.dir().join("uac-xfer.xml");
    std::fs::write(&xml, uac_xml("13600000006", &[], End::HangUpAfter(6000), None)).expect("scenario");
    let caller = Sipp::new("caller", sw.dir(), &xml, base + 10, base + 11, 36640)
        .args([format!("{HOST}:{base}")])
        .args(["-s", "6100", "-m", "1"])
        .spawn()
        .wait();
    let ctx = sw.diag();
    caller.assert_calls(1, &ctx);
    let agent = agent.wait();
    agent.assert_calls(1, &ctx);
    assert_eq!(agent.logged("transfer-notify"), ["SIP/2.0 200 OK"], "{ctx}");
    let target = target.wait();
    target.assert_calls(1, &ctx);
    assert_eq!(
        target.logged("agent-invite"),
        ["8200 13600000006"],
        "the caller reached the transfer target\n{ctx}"
    );
    assert!(sw.log().contains("blind transfer"), "{ctx}");
}
