//! The playout buffer: packet ring, PCM sync buffer and the decision of what
//! each tick plays.
//!
//! Call order: `insert(now, ..)` per arriving packet, `pop(now, ..)` once per
//! tick. Storage is allocated in [`JitterBuffer::new`], except the payload
//! arena, which grows when more payload bytes wait than ever before (see
//! [`ARENA_START`]), so never in a steady state.
//!
//! Each tick drains `tick` samples from the *sync buffer* (decoded, unplayed
//! PCM) and refills it first, one step at a time:
//! - **Playing**: the next packet in sequence is decoded; if it is missing but
//!   a later one is here, its playout time has come and it is concealed
//!   (in-band FEC first); if nothing at all is here, playout has run dry.
//! - **Gap** (ran dry, or a timestamp jump after DTX): the tick is filled with
//!   concealment (briefly) or silence while the timeline moves on virtually.
//!   A packet that turns up *behind* that virtual timeline is the one playout
//!   was waiting for: it is played at once and the delay grows by the wait
//!   (a *stall*, counted as a late arrival; accelerate then shrinks the delay
//!   back). A packet *ahead* of it starts a talkspurt: it is held until it has
//!   the target margin, which adds or drops silence instead of stretching
//!   speech.
//!
//! After each decode the *slack* (how long after the earliest expected
//! arrival the packet was needed) is compared with the target delay:
//! below it, the audio is expanded by pitch periods; above it by a tick or by
//! what the tick phase wastes, accelerated.

use std::time::{Duration, Instant};

use switchyard_codecs::AudioDecoder;

use super::delay::DelayEstimator;
use super::stretch::Stretcher;
use super::unwrap::{SeqUnwrapper, TsUnwrapper};
use super::{Insert, JitterConfig, JitterStats, MAX_PAYLOAD, PacketInfo, Pop};

/// Longest payload, in time, the sync buffer can make room for (Opus allows
/// 120 ms); [`JitterConfig::max_frame`] may ask for less.
const MAX_FRAME_MS: u32 = 120;
/// Concealment played after playout runs dry, before switching to silence.
const CONCEAL_LIMIT_MS: u32 = 60;
/// RFC 3550 §A.1: a sequence jump this far ahead is a restart, not loss.
const MAX_DROPOUT: i64 = 3000;
/// Packets older than this (in sequence) than the newest are a restart.
const MAX_MISORDER: i64 = 100;
/// Least waste worth an accelerate (smaller ones are not worth the artefact).
const ACCEL_MIN_US: i64 = 8_000;
/// Longest pause between stretch attempts after failed ones. Audio that is
/// neither periodic nor quiet (noise, music, unvoiced runs) cannot be
/// stretched; without a pause every tick would search pitch lags for
/// nothing (seen: a whole noisy call long, 5 % of a transcoding switch's
/// CPU). The pause doubles from one tick per miss up to this.
const STRETCH_BACKOFF_MAX_US: i64 = 320_000;
/// Packets recorded per tick by [`JitterBuffer::last_played`].
const MAX_PLAYED: usize = 16;
/// Initial size of the payload arena. Only waiting packets take room in it
/// (a few on a calm network: 2 KB is 12 G.711 packets of 20 ms); it is
/// compacted when its end is reached and doubles, up to every slot at
/// `max_payload`, when the waiting bytes do not fit. Reserving
/// `max_packets * max_payload` up front was most of a transcoded call's
/// memory.
const ARENA_START: usize = 2048;

/// A packet whose decoding began in the last [`JitterBuffer::pop`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Played {
    /// Its sequence number.
    pub seq: u16,
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// Where its first sample is in that tick's output (it can be past the
    /// tick's end when the sync buffer still held earlier audio).
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Empty,
    Waiting,
    Played,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    seq: i64,
    ts: i64,
    len: usize,
    /// Offset of the payload in the arena.
    at: usize,
    marker: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing played yet in this stream.
    Start,
    Playing,
    /// Virtual timeline `elapsed` ahead of `cursor_ts`; `stall` when playout ran
    /// dry (rather than a timestamp jump after DTX).
    Gap {
        stall: bool,
        elapsed_ts: i64,
        concealed: usize,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    decoded: bool,
    concealed: bool,
    accelerated: bool,
    expanded: bool,
    silence: bool,
}

/// Adaptive jitter buffer for one audio stream (see the module docs).
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    tick: usize,
    max_frame: usize,
    slots: Vec<Slot>,
    /// Payload bytes of the slots, at `Slot::at`; written from `arena_end`.
    payloads: Vec<u8>,
    arena_end: usize,
    sync: Vec<i16>,
    head: usize,
    len: usize,
    stretcher: Stretcher,
    delay: DelayEstimator,
    seq: SeqUnwrapper,
    ts: TsUnwrapper,
    epoch: Option<Instant>,
    last_now_us: i64,
    active: bool,
    ssrc: u32,
    ts_origin: i64,
    next_seq: i64,
    newest_seq: i64,
    newest_ts: i64,
    newest_arrival_us: i64,
    cursor_ts: i64,
    frame_ts: i64,
    frame_samples: usize,
    mode: Mode,
    played: [Played; MAX_PLAYED],
    played_len: usize,
    reset_decoder: bool,
    /// No stretch attempt before this (after misses), and the current pause.
    stretch_retry_us: i64,
    stretch_backoff_us: i64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for `cfg`; every allocation it will ever make happens here.
    pub fn new(cfg: JitterConfig) -> Self {
        let rate = cfg.sample_rate.max(1000);
        let clock = cfg.clock_rate.max(1000);
        let cfg = JitterConfig {
            sample_rate: rate,
            clock_rate: clock,
            max_packets: cfg.max_packets.max(4),
            max_payload: cfg.max_payload.clamp(1, MAX_PAYLOAD),
            ..cfg
        };
        let arena = (cfg.max_packets * cfg.max_payload).min(ARENA_START.max(cfg.max_payload));
        let tick = ((cfg.frame.as_micros() * u128::from(rate) / 1_000_000) as usize).max(1);
        let frame_ms = (cfg.max_frame.as_millis() as u32).clamp(1, MAX_FRAME_MS);
        let max_frame = (rate * frame_ms / 1000) as usize;
        let empty = Slot {
            state: SlotState::Empty,
            seq: -1,
            ts: 0,
            len: 0,
            at: 0,
            marker: false,
        };
        JitterBuffer {
            tick,
            max_frame,
            slots: vec![empty; cfg.max_packets],
            payloads: vec![0; arena],
            arena_end: 0,
            // Leftover (< tick) + the longest frame + half of it from expand.
            sync: vec![0; 2 * tick + max_frame * 2],
            head: 0,
            len: 0,
            stretcher: Stretcher::new(rate),
            delay: DelayEstimator::new(cfg.min_delay, cfg.max_delay),
            seq: SeqUnwrapper::new(),
            ts: TsUnwrapper::new(),
            epoch: None,
            last_now_us: 0,
            active: false,
            ssrc: 0,
            ts_origin: 0,
            next_seq: 0,
            newest_seq: 0,
            newest_ts: 0,
            newest_arrival_us: 0,
            cursor_ts: 0,
            frame_ts: i64::from(clock) * cfg.frame.as_micros() as i64 / 1_000_000,
            frame_samples: tick,
            mode: Mode::Start,
            played: [Played::default(); MAX_PLAYED],
            played_len: 0,
            reset_decoder: false,
            stretch_retry_us: i64::MIN,
            stretch_backoff_us: 0,
            stats: JitterStats::default(),
            cfg,
        }
    }

    /// Takes in one arriving RTP packet.
    pub fn insert(&mut self, now: Instant, pkt: PacketInfo, payload: &[u8]) -> Insert {
        if payload.len() > self.cfg.max_payload {
            return Insert::Oversized;
        }
        let now_us = self.micros(now);
        let mut outcome = Insert::Accepted;
        if !self.active {
            self.start_stream(pkt);
        } else if pkt.ssrc != self.ssrc || self.is_jump(pkt, now_us) {
            self.restart(pkt);
            outcome = Insert::Reset;
        }
        let useq = self.seq.peek(u32::from(pkt.seq));
        let uts = self.ts.peek(pkt.timestamp);
        let idx = self.slot_index(useq);
        let slot = self.slots[idx];
        if slot.seq == useq && slot.state != SlotState::Empty {
            self.stats.duplicates += 1;
            return Insert::Duplicate;
        }
        if self.mode == Mode::Start && useq < self.next_seq && self.next_seq - useq < MAX_MISORDER {
            // Reordered before playout began: start from it instead.
            self.next_seq = useq;
            self.cursor_ts = self.cursor_ts.min(uts);
        }
        let media_us = self.media_us(uts);
        if useq < self.next_seq || uts < self.cursor_ts {
            self.stats.late += 1;
            // Late packets are the ones the target must learn from.
            self.delay.update(now_us, media_us);
            return Insert::Late;
        }
        if useq >= self.next_seq + self.slots.len() as i64 {
            self.stats.overflow += 1;
            return Insert::Overflow;
        }
        // Whatever the slot held before is done with: its bytes are free.
        self.slots[idx].state = SlotState::Empty;
        let at = self.reserve(payload.len());
        self.payloads[at..at + payload.len()].copy_from_slice(payload);
        self.slots[idx] = Slot {
            state: SlotState::Waiting,
            seq: useq,
            ts: uts,
            len: payload.len(),
            at,
            marker: pkt.marker,
        };
        if useq < self.newest_seq {
            self.stats.reordered += 1;
        }
        self.seq.update(u32::from(pkt.seq));
        self.ts.update(pkt.timestamp);
        if useq >= self.newest_seq {
            self.newest_seq = useq;
            self.newest_ts = uts;
            self.newest_arrival_us = now_us;
        }
        self.delay.update(now_us, media_us);
        self.stats.inserted += 1;
        outcome
    }

    /// Plays one tick: writes `frame * sample_rate` samples to the front of
    /// `out` (fewer if `out` is shorter; the tick is consumed either way).
    pub fn pop(&mut self, now: Instant, decoder: &mut dyn AudioDecoder, out: &mut [i16]) -> Pop {
        let now_us = self.micros(now);
        self.last_now_us = now_us;
        if self.reset_decoder {
            decoder.reset();
            self.reset_decoder = false;
        }
        self.played_len = 0;
        let mut f = Flags::default();
        while self.len < self.tick {
            self.step(now_us, decoder, &mut f);
        }
        let n = self.tick.min(out.len());
        out[..n].copy_from_slice(&self.sync[self.head..self.head + n]);
        self.head += self.tick;
        self.len -= self.tick;
        if self.len == 0 {
            self.head = 0;
        }
        if f.concealed {
            self.stats.concealed_frames += 1;
            Pop::Concealed
        } else if f.expanded {
            self.stats.expanded += 1;
            Pop::Expanded
        } else if f.accelerated {
            self.stats.accelerated += 1;
            Pop::Accelerated
        } else if f.decoded {
            Pop::Normal
        } else if f.silence {
            self.stats.silence_frames += 1;
            Pop::Silence
        } else {
            Pop::Normal
        }
    }

    /// The target playout margin: how long after its earliest expected
    /// arrival a packet is due to be decoded.
    pub fn target_delay(&self) -> Duration {
        us_duration(self.delay.target_us(self.last_now_us))
    }

    /// Audio buffered ahead of the playout position (packets and decoded PCM).
    pub fn buffered(&self) -> Duration {
        if !self.active {
            return Duration::ZERO;
        }
        let end = self.newest_ts + self.frame_ts;
        let ahead = (end - self.play_position()).max(0);
        us_duration(ahead * 1_000_000 / i64::from(self.cfg.clock_rate))
    }

    /// RTP timestamp of the next sample to be played (for lip sync and
    /// measurement), once a stream is known.
    pub fn playout_timestamp(&self) -> Option<u32> {
        self.active.then(|| self.play_position() as u32)
    }

    /// The packets whose audio began in the last `pop` (at most 16).
    pub fn last_played(&self) -> &[Played] {
        &self.played[..self.played_len]
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Forgets the stream and the network history (counters are kept); the
    /// decoder is reset at the next `pop`.
    pub fn reset(&mut self) {
        self.clear_stream();
        self.delay.reset();
        self.active = false;
        self.epoch = None;
    }

    fn micros(&mut self, now: Instant) -> i64 {
        let epoch = *self.epoch.get_or_insert(now);
        i64::try_from(now.saturating_duration_since(epoch).as_micros()).unwrap_or(i64::MAX)
    }

    fn media_us(&self, uts: i64) -> i64 {
        (uts - self.ts_origin) * 1_000_000 / i64::from(self.cfg.clock_rate)
    }

    fn samples_to_ts(&self, n: usize) -> i64 {
        n as i64 * i64::from(self.cfg.clock_rate) / i64::from(self.cfg.sample_rate)
    }

    fn samples_us(&self, n: usize) -> i64 {
        n as i64 * 1_000_000 / i64::from(self.cfg.sample_rate)
    }

    fn slot_index(&self, useq: i64) -> usize {
        useq.rem_euclid(self.slots.len() as i64) as usize
    }

    fn play_position(&self) -> i64 {
        match self.mode {
            Mode::Playing => self.cursor_ts - self.samples_to_ts(self.len),
            Mode::Start => self.cursor_ts,
            Mode::Gap { elapsed_ts, .. } => self.cursor_ts + elapsed_ts,
        }
    }

    fn is_jump(&self, pkt: PacketInfo, now_us: i64) -> bool {
        let dseq = self.seq.peek(u32::from(pkt.seq)) - self.newest_seq;
        if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&dseq) {
            return true;
        }
        let dts_us = self.media_us(self.ts.peek(pkt.timestamp)) - self.media_us(self.newest_ts);
        let darr_us = now_us - self.newest_arrival_us;
        let limit =
            i64::try_from(self.cfg.max_delay.as_micros()).unwrap_or(i64::MAX / 2) + 1_000_000;
        (dts_us - darr_us).abs() > limit
    }

    fn start_stream(&mut self, pkt: PacketInfo) {
        self.seq.reset();
        self.ts.reset();
        let useq = self.seq.peek(u32::from(pkt.seq));
        let uts = self.ts.peek(pkt.timestamp);
        self.active = true;
        self.ssrc = pkt.ssrc;
        self.ts_origin = uts;
        self.next_seq = useq;
        self.newest_seq = useq;
        self.newest_ts = uts;
        self.cursor_ts = uts;
        self.mode = Mode::Start;
    }

    fn restart(&mut self, pkt: PacketInfo) {
        self.stats.resets += 1;
        self.clear_stream();
        // Same network, new timestamp origin: keep the jitter histogram.
        self.delay.restart_window();
        self.start_stream(pkt);
    }

    fn clear_stream(&mut self) {
        for s in &mut self.slots {
            s.state = SlotState::Empty;
            s.seq = -1;
        }
        self.arena_end = 0;
        self.head = 0;
        self.len = 0;
        self.mode = Mode::Start;
        self.reset_decoder = true;
        self.frame_ts =
            i64::from(self.cfg.clock_rate) * self.cfg.frame.as_micros() as i64 / 1_000_000;
        self.frame_samples = self.tick;
        self.stretch_retry_us = i64::MIN;
        self.stretch_backoff_us = 0;
    }

    /// Room for `len` payload bytes at the arena's end: compacts the waiting
    /// payloads to the front when the end is reached, and grows the arena
    /// when they still leave too little room. Returns the offset.
    fn reserve(&mut self, len: usize) -> usize {
        if self.arena_end + len > self.payloads.len() {
            self.compact();
        }
        if self.arena_end + len > self.payloads.len() {
            // Every other slot waiting at max_payload plus this one fits in
            // max_packets * max_payload, so the cap is never too small.
            let cap = self.slots.len() * self.cfg.max_payload;
            let size = (self.payloads.len() * 2).max(self.arena_end + len).min(cap);
            self.payloads.resize(size.max(self.arena_end + len), 0);
        }
        let at = self.arena_end;
        self.arena_end += len;
        at
    }

    /// Moves the waiting payloads to the front of the arena, keeping their
    /// order (each moves down, so nothing is overwritten before it moved).
    fn compact(&mut self) {
        let mut write = 0;
        let mut from = 0;
        loop {
            // The waiting payload with the lowest offset not yet moved; a
            // few are waiting, so a scan per payload costs little, once per
            // arena's worth of packets.
            let next = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.state == SlotState::Waiting && s.at >= from)
                .min_by_key(|(_, s)| s.at)
                .map(|(i, s)| (i, s.at, s.len));
            let Some((i, at, len)) = next else { break };
            self.payloads.copy_within(at..at + len, write);
            self.slots[i].at = write;
            write += len;
            from = at + len.max(1);
        }
        self.arena_end = write;
    }

    /// The first waiting packet at or after `from`, in sequence order.
    fn find_from(&self, from: i64) -> Option<usize> {
        (from..=self.newest_seq).find_map(|s| {
            let i = self.slot_index(s);
            let slot = &self.slots[i];
            (slot.seq == s && slot.state == SlotState::Waiting).then_some(i)
        })
    }

    /// Adds at least one sample to the sync buffer.
    fn step(&mut self, now_us: i64, dec: &mut dyn AudioDecoder, f: &mut Flags) {
        let need = self.tick - self.len;
        if !self.active {
            self.push_zeros(need);
            f.silence = true;
            return;
        }
        match self.mode {
            Mode::Playing => self.step_playing(now_us, dec, f),
            Mode::Start => self.step_gap(now_us, dec, f, false, 0, 0),
            Mode::Gap {
                stall,
                elapsed_ts,
                concealed,
            } => self.step_gap(now_us, dec, f, stall, elapsed_ts, concealed),
        }
    }

    fn step_playing(&mut self, now_us: i64, dec: &mut dyn AudioDecoder, f: &mut Flags) {
        let next = self.slot_index(self.next_seq);
        if self.slots[next].seq == self.next_seq && self.slots[next].state == SlotState::Waiting {
            if self.slots[next].ts > self.cursor_ts + self.frame_ts / 2 {
                // Sequence continues but time jumped: the sender was silent (DTX).
                self.mode = Mode::Gap {
                    stall: false,
                    elapsed_ts: 0,
                    concealed: 0,
                };
            } else {
                self.play(next, now_us, dec, f);
            }
            return;
        }
        let Some(later) = self.find_from(self.next_seq + 1) else {
            self.mode = Mode::Gap {
                stall: true,
                elapsed_ts: 0,
                concealed: 0,
            };
            return;
        };
        // The next packet is missing while a later one is here: its playout
        // time is now, so it is lost (or too late, which is the same here).
        self.stats.lost += 1;
        f.concealed = true;
        self.make_room(self.max_frame);
        let tail = self.head + self.len;
        let mut got = 0;
        if self.slots[later].seq == self.next_seq + 1 {
            let at = self.slots[later].at;
            let payload = &self.payloads[at..at + self.slots[later].len];
            if let Some(n) = dec.decode_fec(payload, &mut self.sync[tail..tail + self.max_frame]) {
                got = n.min(self.max_frame);
                if got > 0 {
                    self.stats.fec_recovered += 1;
                    f.concealed = false;
                    f.decoded = true;
                }
            }
        }
        if got == 0 {
            got = self.conceal(dec, self.frame_samples);
        } else {
            self.len += got;
        }
        self.cursor_ts += self.samples_to_ts(got);
        self.next_seq += 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn step_gap(
        &mut self,
        now_us: i64,
        dec: &mut dyn AudioDecoder,
        f: &mut Flags,
        stall: bool,
        elapsed_ts: i64,
        concealed: usize,
    ) {
        if let Some(i) = self.find_from(self.next_seq) {
            let slot = self.slots[i];
            let start = self.mode == Mode::Start;
            if stall && slot.ts <= self.cursor_ts + elapsed_ts && !slot.marker {
                // Playout waited for it: play it now. If the virtual timeline
                // is already past it, it came after it was needed (a stall).
                if slot.ts < self.cursor_ts + elapsed_ts {
                    self.stats.stalls += 1;
                }
                self.stats.lost += (slot.seq - self.next_seq) as u64;
                self.play(i, now_us, dec, f);
                return;
            }
            let min_transit = self.delay.min_transit_us().unwrap_or(0);
            let due = self.media_us(slot.ts) + min_transit + self.delay.target_us(now_us);
            if now_us >= due {
                if !start {
                    self.stats.lost += (slot.seq - self.next_seq) as u64;
                }
                self.play(i, now_us, dec, f);
                return;
            }
        }
        let need = self.tick - self.len;
        let limit = (self.cfg.sample_rate * CONCEAL_LIMIT_MS / 1000) as usize;
        let mut concealed = concealed;
        if stall && concealed < limit {
            self.make_room(need);
            self.conceal(dec, need);
            concealed += need;
            f.concealed = true;
        } else {
            self.push_zeros(need);
            f.silence = true;
        }
        if self.mode != Mode::Start {
            self.mode = Mode::Gap {
                stall,
                elapsed_ts: elapsed_ts + self.samples_to_ts(need),
                concealed,
            };
        }
    }

    /// Decodes slot `i` into the sync buffer and adapts the delay.
    fn play(&mut self, i: usize, now_us: i64, dec: &mut dyn AudioDecoder, f: &mut Flags) {
        let slot = self.slots[i];
        self.slots[i].state = SlotState::Played;
        self.make_room(self.max_frame);
        let r = self.len;
        let tail = self.head + self.len;
        let at = slot.at;
        let decoded = dec.decode(
            &self.payloads[at..at + slot.len],
            &mut self.sync[tail..tail + self.max_frame],
        );
        let n = match decoded {
            Ok(n) if n > 0 => n.min(self.max_frame),
            Ok(_) | Err(_) => {
                self.stats.decode_errors += 1;
                f.concealed = true;
                self.conceal(dec, self.frame_samples);
                self.cursor_ts = slot.ts + self.frame_ts;
                self.next_seq = slot.seq + 1;
                self.mode = Mode::Playing;
                return;
            }
        };
        self.len += n;
        f.decoded = true;
        self.frame_samples = n;
        self.frame_ts = self.samples_to_ts(n);
        self.cursor_ts = slot.ts + self.frame_ts;
        self.next_seq = slot.seq + 1;
        self.mode = Mode::Playing;
        let offset = self.adapt(now_us, slot.ts, r, n, f);
        if self.played_len < MAX_PLAYED {
            self.played[self.played_len] = Played {
                seq: slot.seq as u16,
                timestamp: slot.ts as u32,
                offset,
            };
            self.played_len += 1;
        }
    }

    /// Accelerates or expands the unplayed audio so the slack approaches the
    /// target; returns where the new packet's audio now starts.
    fn adapt(&mut self, now_us: i64, ts: i64, r: usize, n: usize, f: &mut Flags) -> usize {
        let Some(min_transit) = self.delay.min_transit_us() else {
            return r;
        };
        let target = self.delay.target_us(now_us);
        let slack = now_us - (self.media_us(ts) + min_transit);
        let tick_us = self.samples_us(self.tick);
        if slack < target {
            if now_us < self.stretch_retry_us {
                return r;
            }
            self.make_room(n / 2);
            let (head, len) = (self.head, self.len);
            // One tick more margin: the next decode moves a tick later.
            let want = (self.tick - r).min(n / 2);
            let added = self.stretcher.expand(&mut self.sync[head..], len, want);
            if added > 0 {
                self.len += added;
                self.stats.samples_added += added as u64;
                self.stretch_backoff_us = 0;
                f.expanded = true;
                return if r >= added { r + added } else { r };
            }
            self.stretch_missed(now_us, tick_us);
            return r;
        }
        let allowed = if n % self.tick == 0 {
            // Frames of whole ticks: every packet is needed at the same tick
            // phase, so whole ticks of excess slack plus the leftover that
            // phase wastes can go without making a packet late.
            let spare_ticks = ((slack - target) / tick_us) as usize;
            r + spare_ticks * self.tick
        } else {
            // Other frame lengths meet the ticks at varying phases: keep a
            // whole tick above the target so that every phase stays on time.
            let spare_us = slack + self.samples_us(r) - target - tick_us;
            (spare_us.max(0) * i64::from(self.cfg.sample_rate) / 1_000_000) as usize
        }
        .min(n / 2);
        if self.samples_us(allowed) < ACCEL_MIN_US || now_us < self.stretch_retry_us {
            return r;
        }
        let (head, len) = (self.head, self.len);
        let removed = self
            .stretcher
            .accelerate(&mut self.sync[head..head + len], len, allowed);
        if removed > 0 {
            self.len -= removed;
            self.stats.samples_removed += removed as u64;
            self.stretch_backoff_us = 0;
            f.accelerated = true;
        } else {
            self.stretch_missed(now_us, tick_us);
        }
        r.saturating_sub(removed)
    }

    fn stretch_missed(&mut self, now_us: i64, tick_us: i64) {
        self.stats.stretch_misses += 1;
        self.stretch_backoff_us = (self.stretch_backoff_us * 2).clamp(tick_us, STRETCH_BACKOFF_MAX_US);
        self.stretch_retry_us = now_us + self.stretch_backoff_us;
    }

    fn conceal(&mut self, dec: &mut dyn AudioDecoder, n: usize) -> usize {
        self.make_room(n);
        let tail = self.head + self.len;
        let out = &mut self.sync[tail..tail + n];
        let w = dec.conceal(out).min(n);
        out[w..].fill(0);
        self.len += n;
        n
    }

    fn push_zeros(&mut self, n: usize) {
        self.make_room(n);
        let tail = self.head + self.len;
        self.sync[tail..tail + n].fill(0);
        self.len += n;
    }

    fn make_room(&mut self, n: usize) {
        if self.head + self.len + n > self.sync.len() {
            self.sync.copy_within(self.head..self.head + self.len, 0);
            self.head = 0;
        }
    }
}

fn us_duration(us: i64) -> Duration {
    Duration::from_micros(us.max(0) as u64)
}

#[cfg(test)]
mod tests;
