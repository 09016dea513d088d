//! DTMF across the switch's media anchor, checked on the wire with tshark at the callee:
//!
//! - `rfc4733_from_baresip_relayed`: baresip (1001, PCMU + telephone-event) calls 9000,
//!   which the route `9` sends to a SIPp UAS answering PCMU + telephone-event
//!   (`uas_te.xml`): the legs match, so the switch relays. Digits 1, 5, 9 sent with
//!   baresip's ctrl_tcp `sndcode` must arrive as RFC 4733 events 1, 5, 9 on the UAS's
//!   telephone-event payload type, in order, each once.
//! - `rfc4733_from_baresip_transcoded`: the same with baresip on `opus/48000/2`: the switch
//!   transcodes, receives the events and sends its own.
//! - `inband_pcmu_to_rfc4733`: a SIPp UAC offering PCMU only (no telephone-event,
//!   `uac_inband.xml`) streams a mu-law WAV holding the DTMF tones 3, 7, # (100 ms tones,
//!   100 ms gaps, the pair peaking at -10 dBFS); the UAS answers PCMU + telephone-event, so
//!   the switch runs its in-band detector on the caller's audio and sends the digits on as
//!   RFC 4733 events 3, 7, 11.
//!
//! Ports 15800-15899, per test a slot of 40: switch +0, UAS +1, UAC +2, unused trunk proxy
//! +3, SIPp control +4/+5, baresip SIP +20 (TLS +21), control +25. RTP from 62000, per test
//! a slot of 200: the switch's 80 ports +0..+79, UAS media +100, UAC media +110..+119,
//! baresip +130..+139.

mod common;
#[path = "media-support/mod.rs"]
mod media;

use common::{HOST, Sipp, Switch, require, scenario, wait_port_taken, wait_until};
use media::{Capture, Phone, PhonePorts, Rtp, event_digit, events, pt_histogram, registered};
use std::time::Duration;

const BASE: u16 = 15800;
/// RTP ports, above Linux's ephemeral range (32768-60999).
const MEDIA_BASE: u16 = 62000;

struct Ports {
    switch: u16,
    uas: u16,
    uac: u16,
    unused: u16,
    uas_media: u16,
    uac_media: u16,
    phone: PhonePorts,
    rtp_min: u16,
    rtp_max: u16,
}

impl Ports {
    fn slot(n: u16) -> Ports {
        let b = BASE + n * 40;
        let m = MEDIA_BASE + n * 200;
        Ports {
            switch: b,
            uas: b + 1,
            uac: b + 2,
            unused: b + 3,
            uas_media: m + 100,
            uac_media: m + 110,
            phone: PhonePorts {
                sip: b + 20,
                ctrl: b + 25,
                rtp: m + 130,
            },
            rtp_min: m,
            rtp_max: m + 79,
        }
    }
    fn ctrl(&self, i: u16) -> u16 {
        self.switch + 4 + i
    }
    fn filter(&self) -> String {
        format!(
            "udp portrange {}-{} or udp portrange {}-{} or udp portrange {}-{}",
            self.rtp_min,
            self.rtp_max,
            self.uas_media,
            self.uac_media + 9,
            self.phone.rtp,
            self.phone.rtp + 9
        )
    }
    fn rtp_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = (self.rtp_min..=self.rtp_max).step_by(2).collect();
        v.push(self.uas_media);
        v.extend((self.uac_media..self.uac_media + 10).step_by(2));
        v.extend((self.phone.rtp..self.phone.rtp + 10).step_by(2));
        v
    }
}

fn config(p: &Ports, password: &str) -> String {
    format!(
        r#"
[registrar]
digest_algorithms = ["MD5"]

[[users]]
name = "1001"
password = "{password}"

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

/// The telephone-event payload type the UAS answered with (it echoes the offer's).
fn uas_te(uas: &common::SippResult) -> u8 {
    uas.logged("uas-te")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the UAS logged no telephone-event PT\n{}", uas.report()))
}

/// Digits of the distinct events in `pkts` on `pt`, in order.
fn digits(pkts: &[&Rtp], pt: u8) -> String {
    events(pkts, pt)
        .iter()
        .map(|e| event_digit(e.code))
        .collect()
}

#[test]
fn rfc4733_from_baresip_relayed() {
    baresip_digits(0, "PCMU/8000/1", 8000, 1);
}

#[test]
fn rfc4733_from_baresip_transcoded() {
    baresip_digits(1, "opus/48000/2", 48000, 2);
}

/// `rate` is also the clock of baresip's telephone-event: baresip 1.0 offers it at the
/// audio codec's clock (`telephone-event/48000` with Opus).
fn baresip_digits(slot: u16, codec: &str, rate: u32, channels: u32) {
    media::require_baresip();
    require("sipp");
    require("tshark");
    require("sox");
    let p = Ports::slot(slot);
    let pw = "pw-1001-dtmf";
    let sw = Switch::start(p.switch, &config(&p, pw));
    let dir = sw.dir().to_path_buf();
    // A quiet 440 Hz microphone, longer than the call.
    let mic = dir.join("mic.wav");
    media::sox(&[
        "-n",
        "-r",
        &rate.to_string(),
        "-c",
        &channels.to_string(),
        "-b",
        "16",
        "-e",
        "signed-integer",
        &mic.display().to_string(),
        "synth",
        "30",
        "sine",
        "440",
        "gain",
        "-n",
        "-20",
    ]);
    let cap = Capture::start(&dir, "rtp", &p.filter());
    let uas = Sipp::new(
        "uas",
        &dir,
        &scenario("uas_te.xml"),
        p.uas,
        p.ctrl(0),
        p.uas_media,
    )
    .args([
        "-key",
        "codec_pt",
        "0",
        "-key",
        "codec_name",
        "PCMU",
        "-m",
        "1",
    ])
    .spawn();
    assert!(
        wait_port_taken(p.uas, false, Duration::from_secs(5)),
        "SIPp UAS did not bind {HOST}:{}",
        p.uas
    );
    let phone = Phone::start(&dir, p.switch, "1001", pw, p.phone, codec, &mic);
    assert!(
        wait_until(Duration::from_secs(10), || registered(&sw, "1001")),
        "1001 did not register within 10 s\n{}\n{}",
        phone.diag(),
        sw.diag()
    );
    let r = phone.cmd("dial", Some(&format!("sip:9000@{HOST}:{}", p.switch)));
    assert!(
        r.contains("\"ok\":true"),
        "dial refused: {r}\n{}",
        sw.diag()
    );
    assert!(
        wait_until(Duration::from_secs(10), || phone.established()),
        "the call to the UAS was not established within 10 s\n{}\n{}",
        phone.diag(),
        sw.diag()
    );
    // Let the media settle (latching, the transcoder's jitter buffer), then key 1, 5, 9.
    std::thread::sleep(Duration::from_millis(800));
    for d in ["1", "5", "9"] {
        let r = phone.cmd("sndcode", Some(d));
        assert!(
            r.contains("\"ok\":true"),
            "sndcode {d} refused: {r}\n{}",
            phone.diag()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(500));
    let r = phone.cmd("hangup", None);
    assert!(
        r.contains("\"ok\":true"),
        "hangup refused: {r}\n{}",
        phone.diag()
    );
    let uas = uas.wait();
    let pcap = cap.stop();
    let ctx = format!("{}\n{}\n{}", phone.diag(), uas.report(), sw.diag());
    uas.assert_calls(1, &ctx);
    let te = uas_te(&uas);

    let pkts = media::read_rtp(&pcap, &p.rtp_ports());
    let phone_port = |x: u16| (p.phone.rtp..p.phone.rtp + 10).contains(&x);
    let from_phone: Vec<&Rtp> = pkts.iter().filter(|x| phone_port(x.src)).collect();
    let to_uas: Vec<&Rtp> = pkts.iter().filter(|x| x.dst == p.uas_media).collect();
    println!(
        "baresip {codec} → switch: {} packets {:?}; switch → UAS: {} packets {:?} (UAS telephone-event PT {te})",
        from_phone.len(),
        pt_histogram(&from_phone),
        to_uas.len(),
        pt_histogram(&to_uas)
    );
    // baresip's own telephone-event PT: the PT of its 4-byte packets.
    let phone_te = from_phone
        .iter()
        .find(|x| x.payload.len() == 4 && x.pt >= 96)
        .map(|x| x.pt);
    let sent = phone_te
        .map(|pt| digits(&from_phone, pt))
        .unwrap_or_default();
    let got = digits(&to_uas, te);
    println!(
        "events sent by baresip: {:?}",
        phone_te.map(|pt| events(&from_phone, pt))
    );
    println!("events at the UAS: {:?}", events(&to_uas, te));
    println!("digits sent {sent:?}, digits at the UAS {got:?}");
    let logged: Vec<String> = sw.log_lines(|l| l.contains("DTMF"));
    println!("switch log DTMF lines: {logged:#?}");
    assert_eq!(
        sent, "159",
        "baresip did not send RFC 4733 digits 1, 5, 9\n{ctx}"
    );
    assert_eq!(
        got, "159",
        "the UAS should receive RFC 4733 events 1, 5, 9 (PT {te}), once each, in order\n{ctx}"
    );
    // Each event keeps its length: the UAS (8 kHz) gets what baresip sent (`rate`), ±40 ms.
    let sent_ev = phone_te
        .map(|pt| events(&from_phone, pt))
        .unwrap_or_default();
    for (s, g) in sent_ev.iter().zip(events(&to_uas, te)) {
        let sent_ms = f64::from(s.duration) * 1000.0 / f64::from(rate);
        let got_ms = f64::from(g.duration) / 8.0;
        println!(
            "digit {}: {sent_ms:.0} ms sent, {got_ms:.0} ms at the UAS",
            event_digit(g.code)
        );
        assert!(
            g.ended,
            "event {} at the UAS has no end packet\n{ctx}",
            g.code
        );
        assert!(
            (sent_ms - got_ms).abs() <= 40.0,
            "digit {}: baresip sent a {sent_ms:.0} ms event, the UAS got {got_ms:.0} ms\n{ctx}",
            event_digit(g.code)
        );
    }
}

#[test]
fn inband_pcmu_to_rfc4733() {
    require("sipp");
    require("tshark");
    require("sox");
    let p = Ports::slot(2);
    let sw = Switch::start(p.switch, &config(&p, "unused-password"));
    let dir = sw.dir().to_path_buf();
    let wav = dir.join("inband.ulaw.wav");
    media::dtmf_ulaw_wav(&wav, "37#", 100, 100, -10.0, 1.0, 1.0);
    let play_ms = 1000 + 3 * 200 + 1000 + 500;

    let cap = Capture::start(&dir, "rtp", &p.filter());
    let uas = Sipp::new(
        "uas",
        &dir,
        &scenario("uas_te.xml"),
        p.uas,
        p.ctrl(0),
        p.uas_media,
    )
    .args([
        "-key",
        "codec_pt",
        "0",
        "-key",
        "codec_name",
        "PCMU",
        "-m",
        "1",
    ])
    .spawn();
    assert!(
        wait_port_taken(p.uas, false, Duration::from_secs(5)),
        "SIPp UAS did not bind {HOST}:{}",
        p.uas
    );
    let uac = Sipp::new(
        "uac",
        &dir,
        &scenario("uac_inband.xml"),
        p.uac,
        p.ctrl(1),
        p.uac_media,
    )
    .args([format!("{HOST}:{}", p.switch)])
    .args(["-s", "9000", "-m", "1", "-d", &play_ms.to_string()])
    .run();
    let uas = uas.wait();
    let pcap = cap.stop();
    let ctx = format!("{}\n{}\n{}", uac.report(), uas.report(), sw.diag());
    uac.assert_calls(1, &ctx);
    uas.assert_calls(1, &ctx);
    let te = uas_te(&uas);

    let pkts = media::read_rtp(&pcap, &p.rtp_ports());
    let sw_port = |x: u16| (p.rtp_min..=p.rtp_max).contains(&x);
    let from_uac: Vec<&Rtp> = pkts
        .iter()
        .filter(|x| sw_port(x.dst) && x.src != p.uas_media && !sw_port(x.src))
        .collect();
    let to_uas: Vec<&Rtp> = pkts.iter().filter(|x| x.dst == p.uas_media).collect();
    println!(
        "UAC → switch: {} packets {:?}; switch → UAS: {} packets {:?} (UAS telephone-event PT {te})",
        from_uac.len(),
        pt_histogram(&from_uac),
        to_uas.len(),
        pt_histogram(&to_uas)
    );
    // The tones really are in the caller's stream (what the switch had to detect).
    let (uac_audio, _) = media::g711_timeline(&from_uac, 0);
    let tone: Vec<usize> = ['3', '7', '#']
        .iter()
        .map(|&d| media::tone_frames(&uac_audio, d))
        .collect();
    println!("20 ms frames of the tone pairs 3, 7, # in the caller's PCMU: {tone:?}");
    assert!(
        from_uac.len() >= 100 && tone.iter().all(|&n| n >= 4),
        "the UAC did not stream the DTMF WAV ({} packets, tone frames {tone:?})\n{ctx}",
        from_uac.len()
    );
    let evs = events(&to_uas, te);
    println!("events at the UAS: {evs:?}");
    // What of the tones still reaches the UAS as audio (before detection the switch cannot
    // know): informational.
    let (uas_audio, _) = media::g711_timeline(&to_uas, 0);
    let residue: Vec<usize> = ['3', '7', '#']
        .iter()
        .map(|&d| media::tone_frames(&uas_audio, d))
        .collect();
    println!("20 ms frames of the tone pairs still in the PCMU towards the UAS: {residue:?}");
    let got = digits(&to_uas, te);
    println!("digits detected in-band and sent as RFC 4733: {got:?}");
    assert_eq!(
        got, "37#",
        "the UAS should receive RFC 4733 events 3, 7, 11 (PT {te}), once each, in order\n{ctx}"
    );
    for e in &evs {
        assert!(
            e.ended,
            "event {} at the UAS has no end packet\n{ctx}",
            e.code
        );
    }
}
