//! Trace-driven simulator: the adaptive [`JitterBuffer`] against a fixed
//! 60 ms buffer and a hindsight oracle, in virtual time, deterministic (every
//! random draw comes from `fastrand::Rng::with_seed(trace.seed)`).
//!
//! The sender produces 20 ms frames of 8 kHz audio in talkspurts (mean 1.5 s)
//! and silences (mean 0.9 s, nothing sent: DTX), the first packet of each
//! talkspurt with the marker bit. Sequence numbers and timestamps start just
//! below their wrap. A sender clock drift of `ppm` makes the frames leave
//! every 20 ms / (1 + ppm·10⁻⁶) of real time.
//!
//! The network adds base delay + jitter (+ spikes, route steps) per packet,
//! loses packets (Gilbert–Elliott), and delivers in FIFO order unless the
//! trace reorders.
//!
//! Definitions used in the report:
//! - Packets lost by the network are *excluded*: every percentage is over the
//!   packets that arrived.
//! - **late %** — packets that arrived after their playout deadline. For the
//!   fixed buffer and the oracle, the deadline of a packet with media time m
//!   is `C + m` for their constant C. For the adaptive buffer, a packet is late
//!   when `insert` refused it as [`Insert::Late`] (or [`Insert::Overflow`]), or
//!   when playout ran dry waiting for it and it came afterwards (a *stall*,
//!   [`JitterStats::stalls`]): it is then played, but it did miss the moment it
//!   was needed, so it counts as late.
//! - **delay** — mean over played packets of (playout time − send time),
//!   where the playout time is when the packet's first sample is played. For
//!   the adaptive buffer that is the `pop` tick time plus the packet's offset
//!   in that tick ([`JitterBuffer::last_played`]).
//! - **oracle** — the smallest constant C (hence a fixed buffer) that leaves
//!   at most 0.5 % of the arrived packets late, chosen knowing the whole trace.
//! - **fixed60** — C = (first arrival − its media time) + 60 ms.
//! - **conc %** — adaptive ticks containing concealment per played packet
//!   (loss, stalls, and the fade-out at each talkspurt end).
//!
//! Goal per trace: adaptive delay ≤ 1.2 × oracle delay with late ≤ 1 %.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use switchyard_codecs::{AudioDecoder, CodecError, CodecKind};

use super::unwrap::SeqUnwrapper;
use super::{Insert, JitterBuffer, JitterConfig, JitterStats, PacketInfo};

const RATE: u32 = 8000;
const FRAME_US: i64 = 20_000;
const FRAME_TS: u32 = 160;
const SEQ0: u16 = 65_000;
const TS0: u32 = u32::MAX - 40_000;

/// Per-packet jitter (extra one-way delay above the base).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Jitter {
    /// Gaussian, clipped at zero.
    Gaussian {
        /// Mean, ms.
        mean_ms: f64,
        /// Standard deviation, ms.
        sd_ms: f64,
    },
    /// Lomax (Pareto II, starting at 0): heavy tail.
    Pareto {
        /// Scale, ms.
        scale_ms: f64,
        /// Shape α (tail index); smaller is heavier.
        shape: f64,
    },
}

/// Network loss model.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Loss {
    /// Nothing lost.
    None,
    /// Two-state Markov chain (good/bad) with a loss rate per state.
    GilbertElliott {
        /// P(good → bad) per packet.
        to_bad: f64,
        /// P(bad → good) per packet.
        to_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
        /// Loss probability in the good state.
        loss_good: f64,
    },
}

/// Network conditions of a trace.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    /// Propagation and fixed queueing delay.
    pub base_delay: Duration,
    /// Jitter above the base.
    pub jitter: Jitter,
    /// Loss model.
    pub loss: Loss,
    /// With this probability a packet is held back by 10–40 ms more and may
    /// be overtaken (the network is then not FIFO); 0 for FIFO delivery.
    pub reorder: f64,
    /// A stall of `.1` every `.0`: packets sent during it arrive together at
    /// its end.
    pub spikes: Option<(Duration, Duration)>,
    /// Sender clock drift, parts per million (positive = sender fast).
    pub drift_ppm: f64,
    /// At `.0` into the trace the base delay changes by `.1` ms.
    pub route_step: Option<(Duration, i64)>,
}

/// One named scenario.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Short name for the table.
    pub name: &'static str,
    /// Seed of every random draw.
    pub seed: u64,
    /// Simulated length.
    pub duration: Duration,
    /// Network conditions.
    pub net: Network,
}

/// Delay and late loss of one playout strategy on one trace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Mean (playout − send) over played packets, ms.
    pub mean_delay_ms: f64,
    /// Late packets, % of arrived packets.
    pub late_pct: f64,
}

/// Results of [`run_trace`].
#[derive(Debug, Clone)]
pub struct TraceReport {
    /// Trace name.
    pub name: &'static str,
    /// Packets sent.
    pub sent: usize,
    /// Packets the network delivered.
    pub arrived: usize,
    /// The adaptive buffer.
    pub adaptive: Outcome,
    /// Fixed 60 ms buffer.
    pub fixed60: Outcome,
    /// Hindsight oracle.
    pub oracle: Outcome,
    /// Adaptive ticks with concealment per 100 played packets.
    pub adaptive_concealed_pct: f64,
    /// The adaptive buffer's counters.
    pub stats: JitterStats,
}

impl TraceReport {
    /// Adaptive mean delay over the oracle's.
    pub fn ratio(&self) -> f64 {
        self.adaptive.mean_delay_ms / self.oracle.mean_delay_ms
    }

    /// Whether the adaptive buffer met the goal (≤ 1.2 × oracle, ≤ 1 % late).
    pub fn meets_goal(&self) -> bool {
        self.ratio() <= 1.2 && self.adaptive.late_pct <= 1.0
    }
}

/// One packet as sent, and when (if) it arrived.
#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    ts: u32,
    /// Timestamp relative to the first frame, unwrapped.
    media_ts: i64,
    marker: bool,
    f0: u16,
    send_us: i64,
    arrival_us: Option<i64>,
}

/// The standard scenarios, each `duration` long.
pub fn standard_traces_for(duration: Duration) -> Vec<Trace> {
    let gauss = |mean_ms, sd_ms| Jitter::Gaussian { mean_ms, sd_ms };
    let base = |ms, jitter| Network {
        base_delay: Duration::from_millis(ms),
        jitter,
        loss: Loss::None,
        reorder: 0.0,
        spikes: None,
        drift_ppm: 0.0,
        route_step: None,
    };
    let t = |name, seed, net| Trace {
        name,
        seed,
        duration,
        net,
    };
    vec![
        t("a low-gauss", 1, base(40, gauss(5.0, 3.0))),
        t(
            "b pareto",
            2,
            base(
                50,
                Jitter::Pareto {
                    scale_ms: 8.0,
                    shape: 2.5,
                },
            ),
        ),
        t(
            "c gilbert",
            3,
            Network {
                loss: Loss::GilbertElliott {
                    to_bad: 0.01,
                    to_good: 0.3,
                    loss_bad: 0.7,
                    loss_good: 0.002,
                },
                ..base(50, gauss(10.0, 6.0))
            },
        ),
        t(
            "d reorder",
            4,
            Network {
                reorder: 0.05,
                ..base(50, gauss(10.0, 5.0))
            },
        ),
        t(
            "e spikes",
            5,
            Network {
                spikes: Some((Duration::from_secs(20), Duration::from_millis(300))),
                ..base(50, gauss(5.0, 3.0))
            },
        ),
        t(
            "f drift+100",
            6,
            Network {
                drift_ppm: 100.0,
                ..base(50, gauss(10.0, 5.0))
            },
        ),
        t(
            "g drift-100",
            7,
            Network {
                drift_ppm: -100.0,
                ..base(50, gauss(10.0, 5.0))
            },
        ),
        t(
            "h route",
            8,
            Network {
                route_step: Some((duration / 2, 60)),
                ..base(40, gauss(8.0, 4.0))
            },
        ),
    ]
}

/// The standard scenarios, three minutes each.
pub fn standard_traces() -> Vec<Trace> {
    standard_traces_for(Duration::from_secs(180))
}

fn gen_packets(trace: &Trace, rng: &mut fastrand::Rng) -> Vec<Sent> {
    let frames = (trace.duration.as_micros() as i64 / FRAME_US) as usize;
    let mut out = Vec::with_capacity(frames);
    let mut talking = false;
    let mut left = 0usize;
    let mut f0 = 150;
    let mut seq = SEQ0;
    let speed = 1.0 + trace.net.drift_ppm * 1e-6;
    for k in 0..frames {
        if left == 0 {
            talking = !talking;
            let mean_frames = if talking { 75.0 } else { 45.0 };
            left = ((-(1.0 - rng.f64()).ln() * mean_frames) as usize).max(if talking {
                15
            } else {
                10
            });
            f0 = rng.u16(100..=220);
        }
        left -= 1;
        if !talking {
            continue;
        }
        let first = out
            .last()
            .is_none_or(|p: &Sent| p.media_ts != (k as i64 - 1) * i64::from(FRAME_TS));
        out.push(Sent {
            seq,
            ts: TS0.wrapping_add(FRAME_TS.wrapping_mul(k as u32)),
            media_ts: k as i64 * i64::from(FRAME_TS),
            marker: first,
            f0,
            send_us: (k as f64 * FRAME_US as f64 / speed) as i64,
            arrival_us: None,
        });
        seq = seq.wrapping_add(1);
    }
    out
}

fn apply_network(net: &Network, packets: &mut [Sent], rng: &mut fastrand::Rng) {
    let mut bad = false;
    let mut last_arrival = i64::MIN;
    for p in packets.iter_mut() {
        if let Loss::GilbertElliott {
            to_bad,
            to_good,
            loss_bad,
            loss_good,
        } = net.loss
        {
            bad = if bad {
                rng.f64() >= to_good
            } else {
                rng.f64() < to_bad
            };
            if rng.f64() < if bad { loss_bad } else { loss_good } {
                continue;
            }
        }
        let mut delay_ms = net.base_delay.as_secs_f64() * 1000.0;
        if let Some((at, step_ms)) = net.route_step {
            if p.send_us >= at.as_micros() as i64 {
                delay_ms += step_ms as f64;
            }
        }
        delay_ms += match net.jitter {
            Jitter::Gaussian { mean_ms, sd_ms } => (mean_ms + sd_ms * normal(rng)).max(0.0),
            Jitter::Pareto { scale_ms, shape } => {
                scale_ms * ((1.0 - rng.f64()).powf(-1.0 / shape) - 1.0)
            }
        };
        if net.reorder > 0.0 && rng.f64() < net.reorder {
            delay_ms += 10.0 + 30.0 * rng.f64();
        }
        let mut arrival = p.send_us + (delay_ms * 1000.0) as i64;
        if let Some((every, height)) = net.spikes {
            let every = every.as_micros() as i64;
            let height = height.as_micros() as i64;
            // Stalls at every/2, every*3/2, ...: whatever is sent during one
            // leaves when it ends.
            let phase = (p.send_us + every / 2).rem_euclid(every);
            if phase < height {
                arrival += height - phase;
            }
        }
        if net.reorder == 0.0 {
            arrival = arrival.max(last_arrival);
            last_arrival = arrival;
        }
        p.arrival_us = Some(arrival);
    }
}

fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Runs the three strategies on `trace`; `start` is the virtual time origin.
pub fn run_trace(trace: &Trace, start: Instant) -> TraceReport {
    let mut rng = fastrand::Rng::with_seed(trace.seed);
    let mut packets = gen_packets(trace, &mut rng);
    apply_network(&trace.net, &mut packets, &mut rng);
    let arrived: Vec<&Sent> = packets.iter().filter(|p| p.arrival_us.is_some()).collect();
    let transit = |p: &Sent| p.arrival_us.unwrap_or(0) - p.media_ts * 1_000_000 / i64::from(RATE);

    // Fixed buffers: deadline = C + media time.
    let fixed = |c: i64| {
        let (mut late, mut sum, mut played) = (0usize, 0f64, 0usize);
        for p in &arrived {
            if transit(p) > c {
                late += 1;
            } else {
                let playout = c + p.media_ts * 1_000_000 / i64::from(RATE);
                sum += (playout - p.send_us) as f64;
                played += 1;
            }
        }
        Outcome {
            mean_delay_ms: sum / played.max(1) as f64 / 1000.0,
            late_pct: 100.0 * late as f64 / arrived.len().max(1) as f64,
        }
    };
    let first = arrived
        .iter()
        .min_by_key(|p| p.arrival_us)
        .map(|p| transit(p))
        .unwrap_or(0);
    let fixed60 = fixed(first + 60_000);
    let mut transits: Vec<i64> = arrived.iter().map(|p| transit(p)).collect();
    transits.sort_unstable();
    let allowed = arrived.len() * 5 / 1000;
    let oracle_c = transits
        .get(transits.len().saturating_sub(1 + allowed))
        .copied()
        .unwrap_or(0);
    let oracle = fixed(oracle_c);

    let (adaptive, concealed_pct, stats) = run_adaptive(&packets, start);
    TraceReport {
        name: trace.name,
        sent: packets.len(),
        arrived: arrived.len(),
        adaptive,
        fixed60,
        oracle,
        adaptive_concealed_pct: concealed_pct,
        stats,
    }
}

fn run_adaptive(packets: &[Sent], start: Instant) -> (Outcome, f64, JitterStats) {
    let mut order: Vec<&Sent> = packets.iter().filter(|p| p.arrival_us.is_some()).collect();
    order.sort_by_key(|p| p.arrival_us);
    let mut jb = JitterBuffer::new(JitterConfig {
        clock_rate: RATE,
        sample_rate: RATE,
        ..JitterConfig::default()
    });
    let mut dec = SimDecoder::default();
    let mut out = vec![0i16; (RATE / 50) as usize];
    let mut seqs = SeqUnwrapper::new();
    let end = order.last().and_then(|p| p.arrival_us).unwrap_or(0) + 2_000_000;
    let (mut next, mut refused) = (0usize, 0usize);
    let (mut sum, mut played) = (0f64, 0usize);
    let mut t = 0i64;
    while t <= end {
        while let Some(p) = order
            .get(next)
            .filter(|p| p.arrival_us.is_some_and(|a| a <= t))
        {
            let now = start + Duration::from_micros(p.arrival_us.unwrap_or(0).max(0) as u64);
            let info = PacketInfo {
                seq: p.seq,
                timestamp: p.ts,
                ssrc: 0x5eed,
                marker: p.marker,
                payload_type: 96,
            };
            let mut payload = [0u8; 8];
            payload[..4].copy_from_slice(&p.ts.to_be_bytes());
            payload[4..6].copy_from_slice(&p.f0.to_be_bytes());
            payload[6..8].copy_from_slice(&(FRAME_TS as u16).to_be_bytes());
            match jb.insert(now, info, &payload) {
                Insert::Late | Insert::Overflow => refused += 1,
                _ => {}
            }
            next += 1;
        }
        jb.pop(start + Duration::from_micros(t as u64), &mut dec, &mut out);
        for pl in jb.last_played() {
            let idx = (seqs.update(u32::from(pl.seq)) - i64::from(SEQ0)) as usize;
            if let Some(p) = packets.get(idx) {
                let playout = t + i64::from(pl.offset as u32) * 1_000_000 / i64::from(RATE);
                sum += (playout - p.send_us) as f64;
                played += 1;
            }
        }
        t += FRAME_US;
    }
    let stats = jb.stats();
    let late = refused + stats.stalls as usize;
    let outcome = Outcome {
        mean_delay_ms: sum / played.max(1) as f64 / 1000.0,
        late_pct: 100.0 * late as f64 / order.len().max(1) as f64,
    };
    (
        outcome,
        100.0 * stats.concealed_frames as f64 / played.max(1) as f64,
        stats,
    )
}

/// The results as a text table.
pub fn format_table(reports: &[TraceReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12} {:>6} | {:>8} {:>6} {:>6} | {:>8} {:>6} | {:>8} {:>6} | {:>5} goal",
        "trace",
        "loss%",
        "adapt ms",
        "late%",
        "conc%",
        "fix60 ms",
        "late%",
        "orcl ms",
        "late%",
        "ratio"
    );
    for r in reports {
        let loss = 100.0 * (r.sent - r.arrived) as f64 / r.sent.max(1) as f64;
        let _ = writeln!(
            s,
            "{:<12} {:>6.2} | {:>8.1} {:>6.2} {:>6.2} | {:>8.1} {:>6.2} | {:>8.1} {:>6.2} | {:>5.2} {}",
            r.name,
            loss,
            r.adaptive.mean_delay_ms,
            r.adaptive.late_pct,
            r.adaptive_concealed_pct,
            r.fixed60.mean_delay_ms,
            r.fixed60.late_pct,
            r.oracle.mean_delay_ms,
            r.oracle.late_pct,
            r.ratio(),
            if r.meets_goal() { "ok" } else { "MISSED" }
        );
    }
    s
}

/// A stand-in decoder: payload = timestamp (u32 BE), f0 in Hz (u16 BE),
/// samples (u16 BE); it synthesizes a voiced, phase-continuous harmonic tone,
/// so time-stretching sees speech-like periodicity.
#[derive(Debug, Default)]
pub struct SimDecoder {
    next_ts: u32,
    f0: f64,
    fade: f64,
}

impl SimDecoder {
    fn synth(&mut self, ts: u32, f0: f64, amp: f64, out: &mut [i16]) {
        for (i, o) in out.iter_mut().enumerate() {
            let t = f64::from(ts.wrapping_add(i as u32)) / f64::from(RATE);
            let w = 2.0 * std::f64::consts::PI * f0 * t;
            *o = (amp * (w.sin() + 0.5 * (2.0 * w).sin() + 0.25 * (3.0 * w).sin())) as i16;
        }
        self.next_ts = ts.wrapping_add(out.len() as u32);
    }
}

impl AudioDecoder for SimDecoder {
    fn kind(&self) -> CodecKind {
        CodecKind::L16 { rate: RATE }
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let [a, b, c, d, e, f, g, h, ..] = *payload else {
            return Err(CodecError::Malformed("short sim payload"));
        };
        let n = usize::from(u16::from_be_bytes([g, h]));
        if out.len() < n {
            return Err(CodecError::BufferTooSmall {
                need: n,
                have: out.len(),
            });
        }
        self.f0 = f64::from(u16::from_be_bytes([e, f]));
        self.fade = 1.0;
        self.synth(
            u32::from_be_bytes([a, b, c, d]),
            self.f0,
            6000.0,
            &mut out[..n],
        );
        Ok(n)
    }

    fn conceal(&mut self, out: &mut [i16]) -> usize {
        self.fade *= 0.6;
        let (ts, f0, amp) = (self.next_ts, self.f0, 6000.0 * self.fade);
        self.synth(ts, f0, amp, out);
        out.len()
    }

    fn reset(&mut self) {
        *self = SimDecoder::default();
    }
}
