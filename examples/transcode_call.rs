//! One transcoded call in virtual time, for instruction-count profiling: the
//! caller sends Opus (complexity 5, 48 kHz RTP clock, no telephone-event),
//! the callee PCMU + telephone-event, a packet every 20 ms each way on a
//! clean network, as in `benches/media-load.sh --opus`. The switch's
//! `CallMedia` decodes, re-encodes and sends both ways.
//!
//!     cargo build --release --example transcode_call
//!     valgrind --tool=callgrind --toggle-collect='transcode_call::run' \
//!         target/release/examples/transcode_call 10
//!
//! The argument is the call length in seconds (default 10). Everything
//! before the call (encoding the caller's and callee's audio) happens in
//! `prepare`, so a profile can tell it apart from the call itself.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard::media::{CallMedia, LegParams, MediaConfig, MediaId, MediaSide};
use switchyard::rtp::{HeaderFields, NtpBase, write_header};
use switchyard_codecs::CodecKind;

fn leg(codec: CodecKind, pt: u8, port: u16, te: Option<u8>) -> LegParams {
    LegParams {
        remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        remote_rtcp: Some(SocketAddr::from(([127, 0, 0, 1], port + 1))),
        rtcp_mux: false,
        codec,
        pt,
        ptime_ms: 20,
        telephone_event: te,
        comfort_noise: None,
        send: true,
        recv: true,
    }
}

/// `n` samples at `rate` of a voice gliding between 110 and 220 Hz with six
/// harmonics under a 4 Hz syllable envelope (the load test's signal).
fn speech_like(rate: u32, n: usize) -> Vec<i16> {
    let tau = 2.0 * std::f64::consts::PI;
    let r = f64::from(rate);
    let mut phase = 0.0f64;
    (0..n)
        .map(|k| {
            let t = k as f64 / r;
            phase += tau * (165.0 + 55.0 * (tau * 0.7 * t).sin()) / r;
            let env = 0.5 - 0.5 * (tau * 4.0 * t).cos();
            let v: f64 = (1..=6).map(|h| (phase * f64::from(h)).sin() / f64::from(h)).sum();
            (v * env * 8000.0) as i16
        })
        .collect()
}

/// One second of 20 ms payloads of `codec` at `rate`.
#[inline(never)]
fn prepare(codec: CodecKind, rate: u32) -> Vec<Vec<u8>> {
    let mut enc = switchyard_codecs::codec::encoder(codec, 5).expect("encoder");
    let mut out = [0u8; 1500];
    speech_like(rate, rate as usize)
        .chunks(rate as usize / 50)
        .map(|f| {
            let n = enc.encode(f, &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect()
}

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let opus = prepare(CodecKind::Opus, 48_000);
    let pcmu = prepare(CodecKind::Pcmu, 8_000);
    // The virtual clock's origin; everything after is t0 + simulated time.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let cfg = MediaConfig {
        timeout: Some(Duration::from_secs(60)),
        opus_complexity: 5,
        ntp_base: NtpBase { instant: t0, unix: Duration::from_secs(1_800_000_000) },
    };
    let mut m = CallMedia::new(MediaId(1), cfg, t0);
    m.update(t0, MediaSide::A, leg(CodecKind::Opus, 111, 40000, None));
    m.update(t0, MediaSide::B, leg(CodecKind::Pcmu, 0, 50000, Some(101)));
    assert!(m.is_transcoding());
    let (sent_to_a, sent_to_b) = run(&mut m, t0, seconds, &opus, &pcmu);
    let q = m.quality();
    println!("{seconds} s: sent to A {sent_to_a}, to B {sent_to_b}; quality {q:?}");
}

/// Drives the call: packets from A and B every 20 ms (B 7 ms after A), the
/// session's timers whenever they are due in between.
#[inline(never)]
fn run(m: &mut CallMedia, t0: Instant, seconds: u64, opus: &[Vec<u8>], pcmu: &[Vec<u8>]) -> (u64, u64) {
    let mut buf = [0u8; 1500];
    let mut out = [0u8; 1500];
    let (mut to_a, mut to_b) = (0u64, 0u64);
    let rounds = seconds * 50;
    // A loaded worker is not a perfect clock, and the session sees what
    // `rt/media.rs` shows it: packets reach it up to `JITTER_US` after they
    // were sent; a timer wakes the worker up to `LATE_US` late (epoll's
    // millisecond timeouts, other calls' work first), and the packets that
    // came meanwhile are handled first, with the wake-up's `now`, before the
    // timers. Fixed pseudo-random draws keep the run deterministic.
    const JITTER_US: u64 = 1_500;
    const LATE_US: u64 = 1_500;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut draw = move |max: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % max
    };
    // Arrivals in µs since t0, in order: (time, side, index).
    let mut arrivals = Vec::with_capacity(rounds as usize * 2);
    for i in 0..rounds {
        arrivals.push((i * 20_000 + draw(JITTER_US), MediaSide::A, i));
        arrivals.push((i * 20_000 + 7_000 + draw(JITTER_US), MediaSide::B, i));
    }
    arrivals.sort_by_key(|a| a.0);
    let mut next = 0;
    // The session's deadline and when the worker wakes for it.
    let mut wake: Option<(Instant, Instant)> = None;
    while next < arrivals.len() {
        let deadline = m.poll_timeout();
        if wake.map(|w| w.0) != deadline {
            wake = deadline.map(|t| (t, t + Duration::from_micros(draw(LATE_US))));
        }
        let timer = wake.map(|w| w.1);
        let arrival = t0 + Duration::from_micros(arrivals[next].0);
        let now = timer.map_or(arrival, |t| t.min(arrival));
        while next < arrivals.len() && t0 + Duration::from_micros(arrivals[next].0) <= now {
            let (_, side, i) = arrivals[next];
            next += 1;
            packet(m, now, side, i, opus, pcmu, &mut buf);
            drain(m, now, &mut out, &mut to_a, &mut to_b);
        }
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
            drain(m, now, &mut out, &mut to_a, &mut to_b);
        }
    }
    (to_a, to_b)
}

/// Packet `i` of `side` reaches the session at `now`.
fn packet(m: &mut CallMedia, now: Instant, side: MediaSide, i: u64, opus: &[Vec<u8>], pcmu: &[Vec<u8>], buf: &mut [u8]) {
    let a = SocketAddr::from(([127, 0, 0, 1], 40000));
    let b = SocketAddr::from(([127, 0, 0, 1], 50000));
    let (pt, ts, ssrc, payload) = match side {
        MediaSide::A => (111, i as u32 * 960, 0x1111, &opus[i as usize % opus.len()]),
        MediaSide::B => (0, i as u32 * 160, 0x2222, &pcmu[i as usize % pcmu.len()]),
    };
    let h = write_header(buf, &HeaderFields { marker: i == 0, payload_type: pt, seq: i as u16, timestamp: ts, ssrc })
        .expect("room");
    buf[h..h + payload.len()].copy_from_slice(payload);
    let src = if side == MediaSide::A { a } else { b };
    // Transcoding relays nothing: what goes out comes from poll_transmit.
    let _ = m.handle_rtp(now, side, src, &mut buf[..h + payload.len()]);
}

fn drain(m: &mut CallMedia, now: Instant, out: &mut [u8], to_a: &mut u64, to_b: &mut u64) {
    while let Some(o) = m.poll_transmit(now, out) {
        if !o.rtcp {
            match o.from {
                MediaSide::A => *to_a += 1,
                MediaSide::B => *to_b += 1,
            }
        }
    }
    while m.poll_event().is_some() {}
}
