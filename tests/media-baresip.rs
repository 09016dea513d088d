//! Speech through a transcoded call between two baresip phones registered as 1001 and 1002:
//! each phone's microphone is a WAV of espeak-ng speech (a different sentence each way),
//! each records what it sent and what it heard (`snd_path`: the sndfile module writes
//! `dump-<time>-enc.wav`, the audio before encoding, and `dump-<time>-dec.wav`, the audio
//! after decoding, at the codec's rate and channel count). 1001 calls 1002; the call ends
//! when the first microphone file ends (about 6.5 s).
//!
//! What the other phone sent is compared, at 8 kHz, with (a) what the switch sent on to
//! the phone, decoded from the capture, and (b) what the phone heard, window by window
//! (250 ms of speech each, each at its own alignment within ±100 ms of the best overall
//! one, found within ±500 ms):
//! - the energy-weighted mean correlation of the windows must reach [`MIN_SEGMENTAL`] in
//!   both (the audio arrived intact: measured 0.91-0.998);
//! - the alignment of (a) may move by at most [`MAX_WARP_MS`] in total over the call: the
//!   switch's adaptive playout buffer squeezes or stretches time (accelerate/expand) to
//!   change its delay, which is legitimate once but not over and over on a steady loopback
//!   stream. (b) adds the receiving phone's own playout buffer; it is printed only.
//!
//! The single-alignment correlation over the whole call is printed too, but not asserted:
//! one legitimate 35 ms squeeze in mid-speech drops it from 0.99 to 0.4-0.8.
//! As a control, what a phone heard must *not* match what it sent itself. tshark shows that
//! the call really was transcoded (different payload types on the two legs, 160-byte G.711
//! frames on the 8 kHz leg), with at least [`MIN_PACKETS`] packets each way.
//!
//! - `opus_to_pcmu_speech`: 1001 `opus/48000/2` ↔ 1002 `PCMU/8000/1`.
//! - `g722_to_pcma_speech`: 1001 `G722/16000/1` ↔ 1002 `PCMA/8000/1`.
//!
//! Ports 15700-15799, per test a slot of 50: switch +0; phone 1001 SIP +10 (TLS +11),
//! control +15; phone 1002 SIP +30 (TLS +31), control +35. RTP from 61400, per test a slot
//! of 200: the switch's 80 ports +0..+79, phone 1001 +100..+109, phone 1002 +120..+129.

mod common;
#[path = "media-support/mod.rs"]
mod media;

use common::{HOST, Switch, require, wait_until};
use media::{Capture, Phone, PhonePorts, Rtp, pt_histogram, registered};
use std::sync::Mutex;
use std::time::Duration;
use switchyard_codecs::CodecKind;

const BASE: u16 = 15700;
/// RTP ports, above Linux's ephemeral range (32768-60999).
const MEDIA_BASE: u16 = 61400;
/// Energy-weighted mean of the correlations of 250 ms windows, each at its own alignment:
/// the audio itself, whatever happened to its timing.
const MIN_SEGMENTAL: f64 = 0.8;
/// Time taken out of or put into the speech by the switch (sum over the call). The phones
/// send every 20 ms ± 4 ms on loopback: the switch's playout buffer squeezes out 35-40 ms
/// about a second into every call (shrinking its initial delay) and in about half the
/// calls stretches 7-35 ms back later: 20-76 ms measured in 20 calls. A buffer that keeps
/// re-adapting to a steady stream goes well past this.
const MAX_WARP_MS: f64 = 100.0;
/// What a phone heard must not look like what it sent itself.
const MAX_SELF_CORRELATION: f64 = 0.3;
/// Each leg carries at least this many packets (4 s of 20 ms frames).
const MIN_PACKETS: usize = 200;
/// Length of each microphone file, seconds.
const TALK_S: f64 = 6.5;

const SENTENCE_1001: &str =
    "Press one for sales, two for support. Please hold while we connect your call.";
const SENTENCE_1002: &str =
    "The quick brown fox jumps over the lazy dog, then runs into the forest.";

struct Leg {
    codec: &'static str,
    kind: CodecKind,
    rate: u32,
    channels: u32,
    /// Payload type expected on the wire, None for dynamic (>= 96).
    pt: Option<u8>,
}

/// Codec name, rate and channels of a baresip codec string.
const OPUS: Leg = Leg {
    kind: CodecKind::Opus,
    codec: "opus/48000/2",
    rate: 48000,
    channels: 2,
    pt: None,
};
const PCMU: Leg = Leg {
    kind: CodecKind::Pcmu,
    codec: "PCMU/8000/1",
    rate: 8000,
    channels: 1,
    pt: Some(0),
};
const G722: Leg = Leg {
    kind: CodecKind::G722,
    codec: "G722/16000/1",
    rate: 16000,
    channels: 1,
    pt: Some(9),
};
const PCMA: Leg = Leg {
    kind: CodecKind::Pcma,
    codec: "PCMA/8000/1",
    rate: 8000,
    channels: 1,
    pt: Some(8),
};

#[test]
fn opus_to_pcmu_speech() {
    speech_call(0, &OPUS, &PCMU);
}

#[test]
fn g722_to_pcma_speech() {
    speech_call(1, &G722, &PCMA);
}

/// One call at a time: two transcoded calls, four phones and two captures at once load a
/// small machine enough to jitter the switch's media threads, which its playout buffer
/// then (rightly) adapts to, and the time-warp budget is about a steady stream.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The phones' packets must reach the switch steadily for its timing to be judged: a
/// longer gap means the machine stalled (seen once: 255 ms, every process at once).
const MAX_INPUT_GAP_MS: f64 = 60.0;

fn speech_call(slot: u16, caller: &Leg, callee: &Leg) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A stalled machine spoils the measurement, not the switch: one more try.
    if !speech_call_once(slot, caller, callee, false) {
        println!("the phones' packets did not arrive steadily (machine stalled): calling again");
        speech_call_once(slot, caller, callee, true);
    }
}

/// One call; false when the input to the switch was not steady and `last` is false.
fn speech_call_once(slot: u16, caller: &Leg, callee: &Leg, last: bool) -> bool {
    media::require_baresip();
    require("tshark");
    require("sox");
    require("espeak-ng");
    let b = BASE + slot * 50;
    let m = MEDIA_BASE + slot * 200;
    let (rtp_min, rtp_max) = (m, m + 79);
    let (pw1, pw2) = ("pw-1001-media", "pw-1002-media");
    let sw = Switch::start(
        b,
        &format!(
            "[registrar]\ndigest_algorithms = [\"MD5\"]\n\n\
             [[users]]\nname = \"1001\"\npassword = \"{pw1}\"\n\n\
             [[users]]\nname = \"1002\"\npassword = \"{pw2}\"\n\n\
             [media]\nport_min = {rtp_min}\nport_max = {rtp_max}\n"
        ),
    );
    let dir = sw.dir().to_path_buf();
    let wav1 = dir.join("mic-1001.wav");
    let wav2 = dir.join("mic-1002.wav");
    media::speech_wav(
        &wav1,
        SENTENCE_1001,
        caller.rate,
        caller.channels,
        0.5,
        TALK_S,
    );
    media::speech_wav(
        &wav2,
        SENTENCE_1002,
        callee.rate,
        callee.channels,
        0.5,
        TALK_S,
    );

    let p1 = PhonePorts {
        sip: b + 10,
        ctrl: b + 15,
        rtp: m + 100,
    };
    let p2 = PhonePorts {
        sip: b + 30,
        ctrl: b + 35,
        rtp: m + 120,
    };
    let cap = Capture::start(
        &dir,
        "rtp",
        &format!(
            "udp portrange {rtp_min}-{rtp_max} or udp portrange {}-{} or udp portrange {}-{}",
            p1.rtp,
            p1.rtp + 9,
            p2.rtp,
            p2.rtp + 9
        ),
    );
    let mut a = Phone::start(&dir, b, "1001", pw1, p1, caller.codec, &wav1);
    let mut c = Phone::start(&dir, b, "1002", pw2, p2, callee.codec, &wav2);
    let ctx =
        |sw: &Switch, a: &Phone, c: &Phone| format!("{}\n{}\n{}", a.diag(), c.diag(), sw.diag());
    assert!(
        wait_until(Duration::from_secs(10), || registered(&sw, "1001")
            && registered(&sw, "1002")),
        "both phones should have registered within 10 s\n{}",
        ctx(&sw, &a, &c)
    );

    let r = a.cmd("dial", Some(&format!("sip:1002@{HOST}:{b}")));
    assert!(
        r.contains("\"ok\":true"),
        "dial refused: {r}\n{}",
        ctx(&sw, &a, &c)
    );
    assert!(
        wait_until(Duration::from_secs(10), || a.established()
            && c.established()),
        "the call was not established on both phones within 10 s\n{}",
        ctx(&sw, &a, &c)
    );
    // The first microphone file to end hangs the call up.
    assert!(
        wait_until(Duration::from_secs(20), || a.call_closed()
            && c.call_closed()),
        "the call did not end on both phones within 20 s of the answer\n{}",
        ctx(&sw, &a, &c)
    );
    a.stop();
    c.stop();
    let pcap = cap.stop();
    let ctx = ctx(&sw, &a, &c);

    // The wire: each leg in its own codec, so the switch transcoded.
    let mut ports: Vec<u16> = (rtp_min..=rtp_max).step_by(2).collect();
    ports.extend((p1.rtp..p1.rtp + 10).step_by(2));
    ports.extend((p2.rtp..p2.rtp + 10).step_by(2));
    let pkts: Vec<Rtp> = media::read_rtp(&pcap, &ports)
        .into_iter()
        .filter(|p| !(72..=76).contains(&p.pt)) // RTCP, should any be decoded as RTP
        .collect();
    let sw_port = |x: u16| (rtp_min..=rtp_max).contains(&x);
    let phone = |pp: PhonePorts| move |x: u16| (pp.rtp..pp.rtp + 10).contains(&x);
    let (is1, is2) = (phone(p1), phone(p2));
    let legs: [(&str, Vec<&Rtp>); 4] = [
        (
            "1001→switch",
            pkts.iter()
                .filter(|p| is1(p.src) && sw_port(p.dst))
                .collect(),
        ),
        (
            "switch→1002",
            pkts.iter()
                .filter(|p| sw_port(p.src) && is2(p.dst))
                .collect(),
        ),
        (
            "1002→switch",
            pkts.iter()
                .filter(|p| is2(p.src) && sw_port(p.dst))
                .collect(),
        ),
        (
            "switch→1001",
            pkts.iter()
                .filter(|p| sw_port(p.src) && is1(p.dst))
                .collect(),
        ),
    ];
    // Steady input first: the largest gap between packets from each phone to the switch.
    for (name, v) in [&legs[0], &legs[2]] {
        let gap = v
            .windows(2)
            .map(|w| (w[1].time - w[0].time) * 1000.0)
            .fold(0f64, f64::max);
        println!("{name}: largest gap between packets {gap:.1} ms");
        if gap > MAX_INPUT_GAP_MS {
            assert!(
                !last,
                "{name}: packets arrived with a gap of {gap:.1} ms (> {MAX_INPUT_GAP_MS} ms) twice: \
                 the machine stalls, the switch's timing cannot be judged\n{ctx}"
            );
            return false;
        }
    }
    for (name, v) in &legs {
        println!(
            "{name}: {} packets, payload types {:?}",
            v.len(),
            pt_histogram(v)
        );
    }
    for (i, (name, v)) in legs.iter().enumerate() {
        let leg = if i % 3 == 0 { caller } else { callee };
        assert!(
            v.len() >= MIN_PACKETS,
            "{name}: only {} packets (expected ≥ {MIN_PACKETS})\n{ctx}",
            v.len()
        );
        // Audio packets (not events or comfort noise) of the leg's codec only.
        let audio: Vec<&&Rtp> = v
            .iter()
            .filter(|p| p.payload.len() > 4 && p.pt != 13)
            .collect();
        let ok = audio.iter().all(|p| match leg.pt {
            Some(pt) => p.pt == pt,
            None => p.pt >= 96,
        });
        assert!(
            ok && !audio.is_empty(),
            "{name}: expected only {} audio, saw payload types {:?}\n{ctx}",
            leg.codec,
            pt_histogram(v)
        );
        if leg.rate == 8000 {
            let frames = audio.iter().filter(|p| p.payload.len() == 160).count();
            assert!(
                frames * 100 >= audio.len() * 99,
                "{name}: {frames} of {} G.711 packets carry 20 ms (160 bytes)\n{ctx}",
                audio.len()
            );
        }
    }

    // The audio, both ways.
    let rec = |p: &Phone, kind: &str| {
        p.recording(kind).unwrap_or_else(|| {
            panic!(
                "baresip {} wrote no *-{kind}.wav in {}\n{ctx}",
                p.user,
                p.rec.display()
            )
        })
    };
    let sent1 = media::wav_8k_mono(&rec(&a, "enc"));
    let heard1 = media::wav_8k_mono(&rec(&a, "dec"));
    let sent2 = media::wav_8k_mono(&rec(&c, "enc"));
    let heard2 = media::wav_8k_mono(&rec(&c, "dec"));
    let secs = |x: &[f32]| x.len() as f64 / 8000.0;
    println!(
        "recordings (s): 1001 sent {:.2} heard {:.2}; 1002 sent {:.2} heard {:.2}",
        secs(&sent1),
        secs(&heard1),
        secs(&sent2),
        secs(&heard2)
    );
    // What the switch itself sent to each phone, decoded from the capture: any time warp
    // there is the switch's, not the receiving phone's playout buffer.
    let wire_pt = |v: &[&Rtp], leg: &Leg| {
        leg.pt.unwrap_or_else(|| {
            pt_histogram(v)
                .into_iter()
                .filter(|&(pt, _)| pt >= 96)
                .max_by_key(|&(_, n)| n)
                .map_or(96, |(pt, _)| pt)
        })
    };
    let to2 = &legs[1].1;
    let to1 = &legs[3].1;
    let wire2 = media::wire_audio_8k(to2, wire_pt(to2, callee), callee.kind, &dir, "wire-to-1002");
    let wire1 = media::wire_audio_8k(to1, wire_pt(to1, caller), caller.kind, &dir, "wire-to-1001");
    let fwd = Direction::measure(
        format!("1001 ({}) → 1002 ({})", caller.codec, callee.codec),
        &sent1,
        &heard2,
        &wire2,
    );
    let back = Direction::measure(
        format!("1002 ({}) → 1001 ({})", callee.codec, caller.codec),
        &sent2,
        &heard1,
        &wire1,
    );
    let self1 = media::align(&sent1, &heard1, 4000);
    let self2 = media::align(&sent2, &heard2, 4000);
    println!(
        "control: 1001 sent vs heard correlation {:.4}; 1002 sent vs heard {:.4}",
        self1.corr, self2.corr
    );
    for (name, al) in [("1001", self1), ("1002", self2)] {
        assert!(
            al.corr <= MAX_SELF_CORRELATION,
            "{name} heard its own speech (correlation {:.4})\n{ctx}",
            al.corr
        );
    }
    for d in [&fwd, &back] {
        d.check(&ctx);
    }
    true
}

/// How one recording compares with what was sent.
struct Comparison {
    global: media::Alignment,
    segmental: f64,
    squeezed_ms: f64,
    stretched_ms: f64,
    windows: usize,
}

impl Comparison {
    fn new(what: &str, sent: &[f32], got: &[f32]) -> Comparison {
        let global = media::align(sent, got, 4000);
        let segs = media::segments(sent, got, global.lag, 2000, 800);
        let (squeezed_ms, stretched_ms) = media::time_warp(&segs);
        let c = Comparison {
            global,
            segmental: media::segmental_corr(&segs),
            squeezed_ms,
            stretched_ms,
            windows: segs.len(),
        };
        let lags: Vec<String> = segs
            .iter()
            .map(|s| format!("{:.2}s:{:+}/{:.2}", s.t, s.lag, s.corr))
            .collect();
        println!(
            "  {what}: segmental correlation {:.4} over {} speech windows of 250 ms; time \
             squeezed {:.1} ms, stretched {:.1} ms; whole-call correlation {:.4} at {:+.1} ms, \
             level {:+.1} dB",
            c.segmental,
            c.windows,
            c.squeezed_ms,
            c.stretched_ms,
            c.global.corr,
            c.global.lag as f64 / 8.0,
            c.global.gain_db
        );
        println!("    windows (start:lag/corr): {}", lags.join(" "));
        c
    }

    fn warp_ms(&self) -> f64 {
        self.squeezed_ms + self.stretched_ms
    }
}

/// One direction of speech: what one phone sent, against what the switch sent on towards
/// the other phone (decoded from the capture) and what that phone heard.
struct Direction {
    name: String,
    wire: Comparison,
    heard: Comparison,
}

impl Direction {
    fn measure(name: String, sent: &[f32], heard: &[f32], wire: &[f32]) -> Direction {
        println!("{name}:");
        let wire = Comparison::new("switch output on the wire", sent, wire);
        let heard = Comparison::new("heard by the phone", sent, heard);
        Direction { name, wire, heard }
    }

    fn check(&self, ctx: &str) {
        let name = &self.name;
        for (what, c) in [("switch output", &self.wire), ("heard", &self.heard)] {
            assert!(
                c.windows >= 12,
                "{name} ({what}): only {} windows of speech matched (expected ≥ 12 of 250 ms)\n{ctx}",
                c.windows
            );
            assert!(
                c.segmental >= MIN_SEGMENTAL,
                "{name} ({what}): segmental correlation {:.4} < {MIN_SEGMENTAL}: the audio is damaged\n{ctx}",
                c.segmental
            );
            assert!(
                c.global.gain_db.abs() <= 6.0,
                "{name} ({what}): level changed by {:+.1} dB\n{ctx}",
                c.global.gain_db
            );
        }
        let w = &self.wire;
        assert!(
            w.warp_ms() <= MAX_WARP_MS,
            "{name}: the switch time-warped the audio by {:.1} ms in total ({:.1} ms squeezed, \
             {:.1} ms stretched; allowed {MAX_WARP_MS} ms) although the phone sends a packet \
             every 20 ms on loopback: its playout (jitter) buffer re-adapted more than once \
             (a heavily loaded machine, delaying the media threads, can cause this too)\n{ctx}",
            w.warp_ms(),
            w.squeezed_ms,
            w.stretched_ms
        );
    }
}
