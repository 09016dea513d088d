//! Unit tests of the playout buffer: ordering, duplicates, loss, resets,
//! talkspurts, stalls, frame lengths and stretching quality.
use super::*;
use proptest::prelude::*;
use switchyard_codecs::{CodecError, CodecKind};

/// L16 (big-endian) over the payload bytes; counts concealment and resets;
/// with `fec`, `decode_fec` yields a frame of 1000s.
#[derive(Default)]
struct TestDecoder {
    conceals: usize,
    resets: usize,
    fec: bool,
}

impl AudioDecoder for TestDecoder {
    fn kind(&self) -> CodecKind {
        CodecKind::L16 { rate: 8000 }
    }
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let n = payload.len() / 2;
        if out.len() < n {
            return Err(CodecError::BufferTooSmall {
                need: n,
                have: out.len(),
            });
        }
        for (o, b) in out.iter_mut().zip(payload.chunks_exact(2)) {
            *o = i16::from_be_bytes([b[0], b[1]]);
        }
        Ok(n)
    }
    fn conceal(&mut self, out: &mut [i16]) -> usize {
        self.conceals += 1;
        out.fill(0);
        out.len()
    }
    fn decode_fec(&mut self, _payload: &[u8], out: &mut [i16]) -> Option<usize> {
        self.fec.then(|| {
            out[..160].fill(1000);
            160
        })
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
}

const SSRC: u32 = 0x1234;

fn info(seq: u16, ts: u32, marker: bool) -> PacketInfo {
    PacketInfo {
        seq,
        timestamp: ts,
        ssrc: SSRC,
        marker,
        payload_type: 11,
    }
}

/// `n` samples of a 200 Hz tone, phase-continuous in `ts`.
fn tone(ts: u32, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let t = f64::from(ts.wrapping_add(i as u32)) / 8000.0;
            ((8000.0 * (2.0 * std::f64::consts::PI * 200.0 * t).sin()) as i16).to_be_bytes()
        })
        .collect()
}

struct Rig {
    jb: JitterBuffer,
    dec: TestDecoder,
    t0: Instant,
    out: Vec<i16>,
    played: Vec<u16>,
    pops: Vec<Pop>,
    pcm: Vec<i16>,
}

impl Rig {
    fn new(cfg: JitterConfig) -> Self {
        // Virtual time origin for the test; only durations are added later.
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        Rig {
            jb: JitterBuffer::new(cfg),
            dec: TestDecoder::default(),
            t0,
            out: vec![0; 2000],
            played: vec![],
            pops: vec![],
            pcm: vec![],
        }
    }
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }
    fn insert(&mut self, ms: u64, seq: u16, ts: u32, marker: bool, samples: usize) -> Insert {
        let now = self.at(ms);
        self.jb
            .insert(now, info(seq, ts, marker), &tone(ts, samples))
    }
    /// Pops every 20 ms from `from` up to (not including) `to`.
    fn pop_until(&mut self, from: u64, to: u64) {
        let mut t = from;
        while t < to {
            let now = self.at(t);
            let p = self.jb.pop(now, &mut self.dec, &mut self.out);
            self.pops.push(p);
            self.played
                .extend(self.jb.last_played().iter().map(|p| p.seq));
            self.pcm.extend_from_slice(&self.out[..160]);
            t += 20;
        }
    }
}

/// A 20 ms packet stream with seq from `first` (timestamps from just
/// below their wrap), sent every 20 ms from `t_ms`, each arriving
/// `delay(i)` ms later; inserted in arrival order and popped every 20 ms
/// until `until`, calling `probe` after each tick.
fn run_with(
    rig: &mut Rig,
    first: u16,
    count: u16,
    t_ms: u64,
    delay: impl Fn(u16) -> u64,
    until: u64,
    mut probe: impl FnMut(u64, &JitterBuffer),
) {
    let mut arrivals: Vec<(u64, u16)> = (0..count)
        .map(|i| (t_ms + u64::from(i) * 20 + delay(i), i))
        .collect();
    arrivals.sort();
    let mut t = t_ms;
    let mut next = 0;
    while t < until {
        while next < arrivals.len() && arrivals[next].0 <= t {
            let (at, i) = arrivals[next];
            let ts = (u32::MAX - 3000).wrapping_add(u32::from(i) * 160);
            rig.insert(at, first.wrapping_add(i), ts, false, 160);
            next += 1;
        }
        rig.pop_until(t, t + 20);
        probe(t, &rig.jb);
        t += 20;
    }
}

fn run(rig: &mut Rig, first: u16, count: u16, t_ms: u64, delay: impl Fn(u16) -> u64, until: u64) {
    run_with(rig, first, count, t_ms, delay, until, |_, _| {});
}

#[test]
fn plays_reordered_packets_in_order() {
    let mut rig = Rig::new(JitterConfig::default());
    // Every 4th packet is overtaken by its successor.
    run(
        &mut rig,
        65530,
        40,
        0,
        |i| if i % 4 == 1 { 30 } else { 5 },
        1200,
    );
    let want: Vec<u16> = (0..40).map(|i| 65530u16.wrapping_add(i)).collect();
    assert_eq!(rig.played, want);
    let st = rig.jb.stats();
    assert_eq!(st.reordered, 10);
    assert_eq!((st.late, st.lost), (0, 0));
}

#[test]
fn payload_arena_compacts_and_grows_without_mixing_payloads() {
    // Bursts of 40 reordered 320-byte packets (12.8 KB, three times the
    // arena's first size) wait at once, then play out; after every burst
    // each waiting slot's bytes are still its own packet's, and all play in
    // order.
    let mut rig = Rig::new(JitterConfig::default());
    let start = rig.jb.payloads.len();
    let mut t = 0;
    let mut seq = 0u16;
    for round in 0..5 {
        let order: Vec<u16> = (0..40).map(|i| (i * 7 + round) % 40).collect();
        for &i in &order {
            let s = seq + i;
            rig.insert(t, s, u32::from(s) * 160, false, 160);
        }
        for slot in rig.jb.slots.iter().filter(|s| s.state == SlotState::Waiting) {
            let ts = slot.ts as u32;
            assert_eq!(&rig.jb.payloads[slot.at..slot.at + slot.len], &tone(ts, 160)[..], "round {round}");
        }
        rig.pop_until(t, t + 2000);
        t += 2000;
        seq += 40;
    }
    let want: Vec<u16> = (0..200).collect();
    assert_eq!(rig.played, want);
    assert!(rig.jb.payloads.len() > start, "the arena grew for the bursts");
    // A steady stream after the bursts reuses the arena: no growth.
    let grown = rig.jb.payloads.len();
    run(&mut rig, 200, 200, t, |_| 5, t + 4400);
    assert_eq!(rig.jb.payloads.len(), grown);
    assert_eq!(rig.jb.stats().lost, 0);
}

#[test]
fn duplicates_are_dropped_before_and_after_playout() {
    let mut rig = Rig::new(JitterConfig::default());
    assert_eq!(rig.insert(0, 1, 160, true, 160), Insert::Accepted);
    assert_eq!(rig.insert(1, 1, 160, true, 160), Insert::Duplicate);
    rig.pop_until(0, 100);
    assert_eq!(rig.played, vec![1]);
    assert_eq!(rig.insert(101, 1, 160, true, 160), Insert::Duplicate);
    assert_eq!(rig.jb.stats().duplicates, 2);
}

#[test]
fn loss_is_concealed_and_a_late_copy_refused() {
    let mut rig = Rig::new(JitterConfig::default());
    let mut arrivals = 0;
    for i in 0..30u16 {
        if i != 10 {
            rig.insert(u64::from(i) * 20 + 5, i, u32::from(i) * 160, false, 160);
            arrivals += 1;
        }
        rig.pop_until(u64::from(i) * 20 + 20, u64::from(i) * 20 + 40);
    }
    assert_eq!(arrivals, 29);
    assert!(rig.dec.conceals >= 1);
    assert!(rig.pops.contains(&Pop::Concealed));
    assert_eq!(rig.jb.stats().lost, 1);
    assert!(!rig.played.contains(&10));
    assert_eq!(rig.insert(700, 10, 1600, false, 160), Insert::Late);
}

#[test]
fn fec_stands_in_for_a_lost_packet() {
    let mut rig = Rig::new(JitterConfig::default());
    rig.dec.fec = true;
    for i in 0..30u16 {
        if i != 10 {
            rig.insert(u64::from(i) * 20 + 5, i, u32::from(i) * 160, false, 160);
        }
        rig.pop_until(u64::from(i) * 20 + 20, u64::from(i) * 20 + 40);
    }
    let st = rig.jb.stats();
    assert_eq!((st.fec_recovered, st.lost), (1, 1));
    assert_eq!(rig.dec.conceals, 0, "FEC, not PLC");
    assert!(rig.pcm.windows(160).any(|w| w.iter().all(|&s| s == 1000)));
}

#[test]
fn ssrc_change_resets_buffer_and_decoder() {
    let mut rig = Rig::new(JitterConfig::default());
    run(&mut rig, 100, 20, 0, |_| 5, 500);
    let other = PacketInfo {
        ssrc: 99,
        ..info(7000, 5_000_000, true)
    };
    let now = rig.at(500);
    assert_eq!(rig.jb.insert(now, other, &tone(0, 160)), Insert::Reset);
    rig.pop_until(500, 700);
    assert_eq!(rig.dec.resets, 1);
    assert_eq!(rig.jb.stats().resets, 1);
    assert_eq!(rig.played.last(), Some(&7000));
    // The new stream continues normally.
    let next = PacketInfo {
        ssrc: 99,
        ..info(7001, 5_000_160, false)
    };
    let now = rig.at(701);
    assert_eq!(rig.jb.insert(now, next, &tone(0, 160)), Insert::Accepted);
}

#[test]
fn timestamp_jump_resets_but_dtx_silence_does_not() {
    let mut rig = Rig::new(JitterConfig::default());
    run(&mut rig, 0, 20, 0, |_| 5, 500);
    // Five seconds of DTX: the timestamp moves with the wall clock.
    assert_eq!(
        rig.insert(5405, 20, (20 + 250) * 160, true, 160),
        Insert::Accepted
    );
    // Then the timestamp leaps a minute ahead of the clock.
    assert_eq!(rig.insert(5425, 21, 60 * 8000, false, 160), Insert::Reset);
    assert_eq!(rig.jb.stats().resets, 1);
    // And a sequence leap (RFC 3550 MAX_DROPOUT) also restarts.
    assert_eq!(
        rig.insert(5445, 21 + 5000, 60 * 8000 + 160, false, 160),
        Insert::Reset
    );
}

#[test]
fn talkspurt_gap_plays_silence_and_sheds_excess_delay() {
    let mut rig = Rig::new(JitterConfig::default());
    // First talkspurt (8 s): a 200 ms stall just before its end grows the delay.
    let stall = |i: u16| {
        if (390..400).contains(&i) {
            5 + 200 - 20 * u64::from(i - 390)
        } else {
            5
        }
    };
    let mut grown = Duration::ZERO;
    run_with(&mut rig, 0, 400, 0, stall, 8400, |_, jb| {
        grown = grown.max(jb.buffered())
    });
    let st1 = rig.jb.stats();
    assert_eq!(st1.stalls, 1);
    assert!(grown >= Duration::from_millis(150), "{grown:?}");
    // Second talkspurt after 2 s of silence, marker set, timestamps jumped.
    let pops_before = rig.pops.len();
    let mut t = 8400;
    for i in 0..50u16 {
        let media = 10_000 + u64::from(i) * 20; // ms since the stream start
        let ts = (u32::MAX - 3000).wrapping_add((media * 8) as u32);
        while t < media + 5 {
            rig.pop_until(t, t + 20);
            t += 20;
        }
        rig.insert(media + 5, 400 + i, ts, i == 0, 160);
    }
    rig.pop_until(t, t + 200);
    let gap = &rig.pops[pops_before..pops_before + 70];
    assert!(
        gap.iter().filter(|p| **p == Pop::Silence).count() >= 60,
        "{gap:?}"
    );
    let st2 = rig.jb.stats();
    assert_eq!(st2.stalls, st1.stalls, "a talkspurt start is not a stall");
    assert_eq!(st2.lost, 0);
    assert_eq!(rig.played, (0..450).collect::<Vec<u16>>());
    // The excess went with the silence, not by stretching speech.
    assert!(
        rig.jb.target_delay() < Duration::from_millis(20),
        "{:?}",
        rig.jb.target_delay()
    );
    assert!(
        rig.jb.buffered() < Duration::from_millis(60),
        "{:?}",
        rig.jb.buffered()
    );
    assert_eq!(st2.accelerated, st1.accelerated, "no stretching needed");
}

#[test]
fn stall_is_played_late_then_delay_shrinks() {
    let mut rig = Rig::new(JitterConfig::default());
    // Packets 100..115 stall 300 ms and arrive together.
    run(
        &mut rig,
        0,
        400,
        0,
        |i| {
            if (100..115).contains(&i) {
                5 + 300 - 20 * u64::from(i - 100)
            } else {
                5
            }
        },
        8200,
    );
    let st = rig.jb.stats();
    assert_eq!(st.stalls, 1);
    assert_eq!(
        (st.lost, st.late),
        (0, 0),
        "the delayed packets are all played"
    );
    assert_eq!(rig.played.len(), 400);
    assert!(
        st.samples_removed >= 8 * 200,
        "the grown delay is shed: {st:?}"
    );
    assert!(
        rig.jb.buffered() < Duration::from_millis(60),
        "{:?}",
        rig.jb.buffered()
    );
}

#[test]
fn target_follows_jitter_within_seconds() {
    let mut rig = Rig::new(JitterConfig::default());
    // Calm for 4 s, then 0-40 ms of jitter.
    let jitter = |i: u16| {
        if i < 200 {
            5
        } else {
            5 + u64::from(i.wrapping_mul(7919) % 5) * 10
        }
    };
    let (mut calm, mut rough, mut stalls_at_6s) = (Duration::ZERO, Duration::ZERO, 0);
    run_with(&mut rig, 0, 500, 0, jitter, 10_600, |t, jb| match t {
        3980 => calm = jb.target_delay(),
        6000 => {
            rough = jb.target_delay();
            stalls_at_6s = jb.stats().stalls + jb.stats().late;
        }
        _ => {}
    });
    assert!(calm <= Duration::from_millis(6), "{calm:?}");
    assert!(
        rough >= Duration::from_millis(38),
        "adapted within 2 s: {rough:?}"
    );
    let st = rig.jb.stats();
    assert_eq!(
        st.stalls + st.late,
        stalls_at_6s,
        "none once adapted: {st:?}"
    );
    assert_eq!(rig.played.len(), 500);
}

#[test]
fn thirty_ms_frames_play_in_twenty_ms_ticks() {
    let mut rig = Rig::new(JitterConfig::default());
    let mut t = 0;
    for i in 0..100u16 {
        let ts = u32::from(i) * 240;
        let arrive = u64::from(i) * 30 + 3 + u64::from(i % 3) * 4;
        while t < arrive {
            rig.pop_until(t, t + 20);
            t += 20;
        }
        rig.insert(arrive, i, ts, i == 0, 240);
    }
    rig.pop_until(t, t + 300);
    assert_eq!(rig.played, (0..100).collect::<Vec<u16>>());
    let st = rig.jb.stats();
    assert_eq!((st.lost, st.late, st.stalls), (0, 0, 0), "{st:?}");
    // Continuous tone across packets, ticks and any stretching: no step
    // larger than the tone's own (8000 * 2pi * 200/8000 = 1257).
    let speech: Vec<i16> = rig.pcm.iter().copied().skip_while(|&s| s == 0).collect();
    let speech = &speech[..speech.len() - 400];
    let jump = speech
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0);
    assert!(jump <= 1400, "click of {jump}");
}

#[test]
fn stretching_keeps_the_tone_smooth() {
    let mut rig = Rig::new(JitterConfig::default());
    run(
        &mut rig,
        0,
        400,
        0,
        |i| {
            if (100..115).contains(&i) {
                5 + 300 - 20 * u64::from(i - 100)
            } else {
                5
            }
        },
        8200,
    );
    let st = rig.jb.stats();
    assert!(st.samples_removed > 1000, "{st:?}");
    // From the end of the stall's concealment to the end of speech.
    let pcm = &rig.pcm[(2800 / 20) * 160..(8000 / 20) * 160];
    let jump = pcm
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0);
    assert!(jump <= 1400, "click of {jump}");
}

proptest! {
    #[test]
    fn survives_any_packet_sequence(ops in proptest::collection::vec((any::<u16>(), any::<u32>(), any::<bool>(), 0usize..1600, 0u64..60, any::<bool>()), 1..200)) {
        let mut rig = Rig::new(JitterConfig { max_packets: 8, ..JitterConfig::default() });
        let mut t = 0;
        for (seq, ts, marker, len, dt, pop) in ops {
            t += dt;
            let now = rig.at(t);
            let ssrc = if marker && len % 7 == 0 { 9 } else { SSRC };
            let _ = rig.jb.insert(now, PacketInfo { ssrc, ..info(seq, ts, marker) }, &vec![0x5a; len]);
            if pop {
                rig.pop_until(t, t + 20);
            }
        }
    }
}

#[test]
fn noise_that_cannot_be_stretched_is_not_searched_every_tick() {
    // White noise is neither periodic nor quiet, so the stretcher refuses
    // it. The start-up target leaves the buffer holding more than a calm
    // stream needs, so every tick would want to accelerate: the attempts
    // must back off instead of searching pitch lags 50 times a second.
    let mut rig = Rig::new(JitterConfig::default());
    let mut rng = 0x9e37_79b9u32;
    let mut noise = vec![0u8; 320];
    let secs = 10u64;
    for i in 0..(secs * 50) as u16 {
        for b in &mut noise {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            *b = rng as u8;
        }
        let t = u64::from(i) * 20;
        let now = rig.at(t + 3);
        rig.jb.insert(now, info(i, u32::from(i) * 160, i == 0), &noise);
        rig.pop_until(t + 10, t + 30);
    }
    let st = rig.jb.stats();
    assert_eq!((st.late, st.lost), (0, 0));
    assert_eq!(st.accelerated + st.expanded, 0, "noise was stretched");
    // One miss per tick would be 500; with the pause doubling to 320 ms it
    // is about one per 320 ms after the first few.
    assert!(st.stretch_misses > 0, "the buffer never wanted to stretch: the test tests nothing");
    assert!(st.stretch_misses <= secs * 1000 / 320 + 10, "{} stretch attempts on noise", st.stretch_misses);
}
