//! RTP through the switch's media anchor, between two SIPp instances:
//!
//! ```text
//!  SIPp uac_pcap ──A──▶ switch ──B──▶ SIPp UAS (-rtp_echo)
//!        ◀────────────        ◀────────────  (the echo comes back the same way)
//! ```
//!
//! The caller is SIPp's built-in `uac_pcap` (dumped with `sipp -sd`): it offers PCMA and
//! telephone-event 101, then plays `g711a.pcap` (7 s of PCMA in 30 ms packets, 236 of them)
//! and the RFC 4733 digit `1` from `dtmf_2833_1.pcap`, found under `./pcap` (a symlink to
//! /usr/share/sip-tester in SIPp's working directory). The callee echoes every packet.
//!
//! - `relay_pcma_echo`: the callee answers PCMA + telephone-event (`uas_te.xml`), so both
//!   legs share codec and ptime and the switch relays: same packet counts each way (within
//!   1 %), PT 8 on both legs, payloads unchanged, the event reaches the callee.
//! - `transcode_pcma_pcmu_echo`: the callee is SIPp's built-in `uas` (PCMU only), so the
//!   switch transcodes PCMA ↔ PCMU through its jitter buffer and sends its own 20 ms
//!   stream: PT 0 towards the callee, PT 8 towards the caller, at least as much audio out
//!   as in, the echo's sample counts within 1 % both ways, the audio intact (decoded
//!   streams compared in 250 ms windows, each at its own alignment, since the adaptive
//!   playout buffer legitimately squeezes time once; the total squeeze/stretch is bounded),
//!   and the RFC 4733 digit played in-band to the callee (which has no telephone-event),
//!   whose echo the switch detects and sends back to the caller as RFC 4733.
//!
//! tshark captures the RTP on the loopback interface (the switch's media ports and SIPp's)
//! and reads it back with `-d udp.port==P,rtp`.
//!
//! Ports 15600-15699, per test a slot of 20: switch +0, UAS +1, UAC +2, unused trunk proxy
//! +3, SIPp control +4/+5. RTP from 61000, per test a slot of 200: the switch's 80 ports
//! +0..+79, UAS media +100 (its echo also binds +102), UAC media +110..+119.

mod common;
#[path = "media-support/mod.rs"]
mod media;

use common::{
    HOST, Sipp, SippResult, Switch, require, run_with_timeout, scenario, wait_port_taken,
};
use media::{Capture, Rtp, count_pt, events, flow, g711_timeline, pt_histogram, within};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BASE: u16 = 15600;
/// RTP ports, above Linux's ephemeral range (32768-60999) so that no other program's
/// sockets land on them.
const MEDIA_BASE: u16 = 61000;
/// Packets of PCMA audio in g711a.pcap.
const PCAP_AUDIO_PACKETS: usize = 236;
/// Fewer audio packets than this in any direction means the stream was cut short.
const MIN_AUDIO_PACKETS: usize = 230;
/// Counts per direction must agree this closely.
const TOLERANCE: f64 = 0.01;
/// Correlation a transcoded G.711 stream must keep with its source, window by window
/// (250 ms windows, each at its own alignment): PCMA ↔ PCMU measures 0.98-0.99.
const MIN_SEGMENTAL: f64 = 0.95;
/// Time the switch's playout buffer may squeeze out of or stretch into a stream in total
/// (see media-baresip.rs: a steady 20 or 30 ms stream on loopback).
const MAX_WARP_MS: f64 = 100.0;

struct Ports {
    switch: u16,
    uas: u16,
    uac: u16,
    unused: u16,
    uas_media: u16,
    uac_media: u16,
    rtp_min: u16,
    rtp_max: u16,
}

impl Ports {
    fn slot(n: u16) -> Ports {
        let b = BASE + n * 20;
        let m = MEDIA_BASE + n * 200;
        Ports {
            switch: b,
            uas: b + 1,
            uac: b + 2,
            unused: b + 3,
            uas_media: m + 100,
            uac_media: m + 110,
            rtp_min: m,
            rtp_max: m + 79,
        }
    }
    fn ctrl(&self, i: u16) -> u16 {
        self.switch + 4 + i
    }
    fn switch_rtp(&self, port: u16) -> bool {
        (self.rtp_min..=self.rtp_max).contains(&port)
    }
    /// Ports tshark decodes as RTP: the switch's even ports and both SIPp media ports.
    fn rtp_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = (self.rtp_min..=self.rtp_max).step_by(2).collect();
        v.push(self.uas_media);
        v.extend((self.uac_media..self.uac_media + 10).step_by(2));
        v
    }
    fn filter(&self) -> String {
        format!(
            "udp portrange {}-{} or udp portrange {}-{}",
            self.rtp_min,
            self.rtp_max,
            self.uas_media,
            self.uac_media + 9
        )
    }
}

fn config(p: &Ports) -> String {
    format!(
        r#"
[[trunks]]
name = "sipp-in"
proxy = "{HOST}:{unused}"
inbound_acl = ["127.0.0.1/32"]

[[trunks]]
name = "uas"
proxy = "{HOST}:{uas}"

[[routes]]
prefix = "9"
trunk = "uas"

[media]
port_min = {min}
port_max = {max}
"#,
        unused = p.unused,
        uas = p.uas,
        min = p.rtp_min,
        max = p.rtp_max,
    )
}

/// Writes SIPp's built-in scenario `name` (`sipp -sd`) into `dir`.
fn builtin(dir: &Path, name: &str) -> std::path::PathBuf {
    // `sipp -sd` exits non-zero after printing the scenario.
    let (_, out) = run_with_timeout(
        Command::new("sipp").args(["-sd", name]),
        Duration::from_secs(10),
    );
    assert!(
        out.contains("<scenario") && out.contains("</scenario>"),
        "sipp -sd {name} printed no scenario: {out}"
    );
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, out).unwrap();
    path
}

/// The four directions of one call, as captured.
struct Flows<'a> {
    /// UAC → switch (leg A in).
    a_in: Vec<&'a Rtp>,
    /// switch → UAS (leg B out).
    b_out: Vec<&'a Rtp>,
    /// UAS echo → switch (leg B in).
    b_in: Vec<&'a Rtp>,
    /// switch → UAC (leg A out).
    a_out: Vec<&'a Rtp>,
}

impl<'a> Flows<'a> {
    fn split(p: &Ports, pkts: &'a [Rtp]) -> Flows<'a> {
        let uas = p.uas_media;
        Flows {
            a_in: pkts
                .iter()
                .filter(|x| p.switch_rtp(x.dst) && x.src != uas && !p.switch_rtp(x.src))
                .collect(),
            b_out: flow(pkts, None, Some(uas))
                .into_iter()
                .filter(|x| p.switch_rtp(x.src))
                .collect(),
            b_in: flow(pkts, Some(uas), None)
                .into_iter()
                .filter(|x| p.switch_rtp(x.dst))
                .collect(),
            a_out: pkts
                .iter()
                .filter(|x| p.switch_rtp(x.src) && x.dst != uas && !p.switch_rtp(x.dst))
                .collect(),
        }
    }

    fn summary(&self) -> String {
        format!(
            "UAC→A {} {:?}, B→UAS {} {:?}, UAS→B {} {:?}, A→UAC {} {:?}",
            self.a_in.len(),
            pt_histogram(&self.a_in),
            self.b_out.len(),
            pt_histogram(&self.b_out),
            self.b_in.len(),
            pt_histogram(&self.b_in),
            self.a_out.len(),
            pt_histogram(&self.a_out),
        )
    }
}

/// One call: uac_pcap → switch → `uas` with -rtp_echo, captured. Returns the RTP, the
/// SIPp results and the switch (still running, for its log).
fn echo_call(
    slot: u16,
    uas_scenario: Option<&str>,
) -> (Ports, Switch, Vec<Rtp>, SippResult, SippResult) {
    require("sipp");
    require("tshark");
    let p = Ports::slot(slot);
    let sw = Switch::start(p.switch, &config(&p));
    let dir = sw.dir().to_path_buf();
    std::os::unix::fs::symlink("/usr/share/sip-tester", dir.join("pcap")).expect("pcap symlink");
    assert!(
        dir.join("pcap/g711a.pcap").is_file() && dir.join("pcap/dtmf_2833_1.pcap").is_file(),
        "SIPp's pcaps are not in /usr/share/sip-tester: run `scripts/setup.sh` (sip-tester)"
    );
    let uac_xml = builtin(&dir, "uac_pcap");
    let cap = Capture::start(&dir, "rtp", &p.filter());

    let uas = match uas_scenario {
        Some(name) => Sipp::new("uas", &dir, &scenario(name), p.uas, p.ctrl(0), p.uas_media)
            .args(["-key", "codec_pt", "8", "-key", "codec_name", "PCMA"]),
        None => Sipp::new(
            "uas",
            &dir,
            &builtin(&dir, "uas"),
            p.uas,
            p.ctrl(0),
            p.uas_media,
        ),
    }
    .args(["-rtp_echo", "-m", "1"])
    .spawn();
    assert!(
        wait_port_taken(p.uas, false, Duration::from_secs(5)),
        "SIPp UAS did not bind {HOST}:{}",
        p.uas
    );
    let uac = Sipp::new("uac", &dir, &uac_xml, p.uac, p.ctrl(1), p.uac_media)
        .args([format!("{HOST}:{}", p.switch)])
        .args(["-s", "9000", "-m", "1"])
        .run();
    let uas = uas.wait();
    let pcap = cap.stop();
    let ctx = format!("{}\n{}", uas.report(), sw.diag());
    uac.assert_calls(1, &ctx);
    let ctx = format!("{}\n{}", uac.report(), sw.diag());
    uas.assert_calls(1, &ctx);
    let pkts = media::read_rtp(&pcap, &p.rtp_ports());
    (p, sw, pkts, uac, uas)
}

/// Codecs match (PCMA + telephone-event on both legs): the switch relays.
#[test]
fn relay_pcma_echo() {
    let (p, sw, pkts, _uac, uas) = echo_call(0, Some("uas_te.xml"));
    let f = Flows::split(&p, &pkts);
    let te: u8 = uas
        .logged("uas-te")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the UAS logged no telephone-event PT\n{}", uas.report()));
    println!("relay: {}", f.summary());
    let ctx = || format!("{}\n{}", f.summary(), sw.diag());

    let audio = |v: &[&Rtp]| count_pt(v, 8);
    let (a_in, b_out, b_in, a_out) = (
        audio(&f.a_in),
        audio(&f.b_out),
        audio(&f.b_in),
        audio(&f.a_out),
    );
    println!(
        "relay PT 8 packets: UAC→A {a_in}, B→UAS {b_out}, UAS→B {b_in}, A→UAC {a_out} \
         (g711a.pcap holds {PCAP_AUDIO_PACKETS})"
    );
    for (name, n) in [
        ("UAC→A", a_in),
        ("B→UAS", b_out),
        ("UAS→B", b_in),
        ("A→UAC", a_out),
    ] {
        assert!(
            n >= MIN_AUDIO_PACKETS,
            "{name}: only {n} PCMA packets (expected ≥ {MIN_AUDIO_PACKETS})\n{}",
            ctx()
        );
    }
    assert!(
        within(a_in, b_out, TOLERANCE),
        "A in {a_in} vs B out {b_out}: relayed packet counts differ by more than 1 %\n{}",
        ctx()
    );
    assert!(
        within(b_in, a_out, TOLERANCE),
        "B in {b_in} vs A out {a_out}: relayed packet counts differ by more than 1 %\n{}",
        ctx()
    );
    // A relay rewrites nothing but the payload type: PT 8 stays PT 8 on both legs.
    for (name, v) in [("B→UAS", &f.b_out), ("A→UAC", &f.a_out)] {
        let other: Vec<_> = pt_histogram(v)
            .into_iter()
            .filter(|&(pt, _)| pt != 8 && pt != te && pt != 101)
            .collect();
        assert!(
            other.is_empty(),
            "{name}: unexpected payload types {other:?}\n{}",
            ctx()
        );
    }
    // Same payload bytes under the same sequence numbers.
    let same = f
        .a_in
        .iter()
        .filter(|x| x.pt == 8)
        .filter(|x| {
            f.b_out
                .iter()
                .any(|y| y.pt == 8 && y.seq == x.seq && y.payload == x.payload)
        })
        .count();
    println!("relay: {same} of {a_in} PCMA payloads reached the UAS byte for byte");
    assert!(
        within(same, a_in, TOLERANCE),
        "only {same} of {a_in} PCMA payloads reached the UAS unchanged\n{}",
        ctx()
    );
    // RFC 4733: the pcap's digit 1 (PT 101 on leg A) reaches the UAS on its PT.
    let sent = events(&f.a_in, 101);
    let got = events(&f.b_out, te);
    println!("relay: events UAC→A {sent:?}; B→UAS (PT {te}) {got:?}");
    assert_eq!(
        sent.iter().map(|e| e.code).collect::<Vec<_>>(),
        vec![1],
        "the UAC should have sent the RFC 4733 digit 1\n{}",
        ctx()
    );
    assert_eq!(
        got.iter().map(|e| e.code).collect::<Vec<_>>(),
        vec![1],
        "the RFC 4733 digit 1 did not reach the UAS (PT {te})\n{}",
        ctx()
    );
    let (n_sent, n_got) = (count_pt(&f.a_in, 101), count_pt(&f.b_out, te));
    assert_eq!(
        n_sent,
        n_got,
        "event packets: {n_sent} sent, {n_got} relayed\n{}",
        ctx()
    );
}

/// The callee answers PCMU only: the switch transcodes PCMA ↔ PCMU.
#[test]
fn transcode_pcma_pcmu_echo() {
    let (p, sw, pkts, _uac, _uas) = echo_call(1, None);
    let f = Flows::split(&p, &pkts);
    println!("transcode: {}", f.summary());
    let ctx = || format!("{}\n{}", f.summary(), sw.diag());

    // Leg B is PCMU only, leg A PCMA (+ RFC 4733 events).
    for (name, v, pt) in [("B→UAS", &f.b_out, 0u8), ("A→UAC", &f.a_out, 8u8)] {
        let n = count_pt(v, pt);
        assert!(
            n >= MIN_AUDIO_PACKETS,
            "{name}: only {n} packets of PT {pt} (expected ≥ {MIN_AUDIO_PACKETS})\n{}",
            ctx()
        );
        let other: Vec<_> = pt_histogram(v)
            .into_iter()
            .filter(|&(x, _)| x != pt && x != 101)
            .collect();
        assert!(
            other.is_empty(),
            "{name}: payload types {other:?} besides {pt}\n{}",
            ctx()
        );
    }
    assert_eq!(
        count_pt(&f.b_out, 101),
        0,
        "events sent to a leg without telephone-event\n{}",
        ctx()
    );

    // A → B: the PCMA the caller sent comes out as PCMU carrying the same audio.
    let (a_in, a_in_samples) = g711_timeline(&f.a_in, 8);
    let (b_out, b_out_samples) = g711_timeline(&f.b_out, 0);
    println!("transcode A→B: {a_in_samples} PCMA samples in, {b_out_samples} PCMU samples out");
    assert!(
        b_out_samples >= a_in_samples,
        "the switch sent less audio to B ({b_out_samples} samples) than A sent ({a_in_samples})\n{}",
        ctx()
    );
    judge("transcode A→B", &a_in, &b_out, &ctx());

    // The echo: what reached the UAS came back, and B → A carries it through.
    let (n_b_out, n_b_in) = (count_pt(&f.b_out, 0), count_pt(&f.b_in, 0));
    let (_, b_in_samples) = g711_timeline(&f.b_in, 0);
    let (a_out, a_out_samples) = g711_timeline(&f.a_out, 8);
    println!(
        "transcode: PT 0 packets B→UAS {n_b_out}, UAS→B {n_b_in}; audio samples UAS→B \
         {b_in_samples}, A→UAC {a_out_samples}"
    );
    assert!(
        within(n_b_out, n_b_in, TOLERANCE),
        "the UAS echoed {n_b_in} of {n_b_out} packets\n{}",
        ctx()
    );
    // While the switch sends the echoed tone to A as RFC 4733 events, events
    // take the place of audio packets (RFC 4733 §2.5.1.2): one 20 ms slot per
    // event packet is the only shortfall allowed beyond 1 %.
    let event_slots = count_pt(&f.a_out, 101) * 160;
    let gap = b_in_samples.abs_diff(a_out_samples);
    assert!(
        gap as f64 <= b_in_samples.max(a_out_samples) as f64 * TOLERANCE + event_slots as f64,
        "B in {b_in_samples} samples vs A out {a_out_samples} (+ {event_slots} in events): more than 1 % apart\n{}",
        ctx()
    );
    let (b_in, _) = g711_timeline(&f.b_in, 0);
    judge("transcode B→A", &b_in, &a_out, &ctx());
    // End to end: the caller hears its own audio back.
    let aa = media::align(&a_in, &a_out, 8000);
    println!(
        "transcode A→A round trip: lag {} ms, correlation {:.4}",
        aa.lag / 8,
        aa.corr
    );

    // DTMF: the caller's RFC 4733 digit 1 is played in-band to B (no telephone-event
    // there); the echoed tone is detected and reaches A as RFC 4733 again.
    let tone = media::tone_frames(&b_out, '1');
    println!("transcode: 20 ms frames with the tone pair of `1` towards the UAS: {tone}");
    assert!(
        tone >= 3,
        "the RFC 4733 digit 1 was not played in-band to the UAS ({tone} frames of its tone pair)\n{}",
        ctx()
    );
    let back = events(&f.a_out, 101);
    println!("transcode: events A→UAC {back:?}");
    assert_eq!(
        back.iter().map(|e| e.code).collect::<Vec<_>>(),
        vec![1],
        "the echoed in-band `1` was not detected and sent to the caller as RFC 4733\n{}",
        ctx()
    );
}

/// Compares a stream the switch produced (`signal`) with its source (`reference`), both
/// 8 kHz: per 250 ms window at its own alignment (the audio), how far the alignment moved
/// (the playout buffer's time warp), and the level.
fn judge(name: &str, reference: &[f32], signal: &[f32], ctx: &str) {
    let global = media::align(reference, signal, 4000);
    let segs = media::segments(reference, signal, global.lag, 2000, 800);
    let seg = media::segmental_corr(&segs);
    let (squeezed, stretched) = media::time_warp(&segs);
    println!(
        "{name}: segmental correlation {seg:.4} over {} windows of 250 ms; time squeezed \
         {squeezed:.1} ms, stretched {stretched:.1} ms; whole-stream correlation {:.4} at \
         {:+.1} ms, gain {:+.2} dB",
        segs.len(),
        global.corr,
        global.lag as f64 / 8.0,
        global.gain_db
    );
    assert!(
        segs.len() >= 12 && seg >= MIN_SEGMENTAL,
        "{name}: audio altered: segmental correlation {seg:.4} over {} windows (need ≥ \
         {MIN_SEGMENTAL} over ≥ 12)\n{ctx}",
        segs.len()
    );
    assert!(
        global.gain_db.abs() <= 1.0,
        "{name}: level changed by {:+.2} dB (need ±1)\n{ctx}",
        global.gain_db
    );
    assert!(
        squeezed + stretched <= MAX_WARP_MS,
        "{name}: the switch time-warped the stream by {:.1} ms ({squeezed:.1} squeezed, \
         {stretched:.1} stretched; allowed {MAX_WARP_MS})\n{ctx}",
        squeezed + stretched
    );
}
