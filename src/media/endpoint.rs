//! The switch as the caller's media endpoint, for IVR: while a call is answered by the
//! switch itself (no B leg negotiated), leg A's audio ends here and what A hears is made
//! here. Sans-IO like the rest of the data path: `on_packet` per RTP packet from A, a tick
//! every 10 or 20 ms from `handle_timeout`, packets for A from `poll_packet`.
//!
//! ```text
//!  A ─▶ jitter ─▶ decode ─┬─▶ in-band DTMF detector (legs without telephone-event)
//!                         ├─▶ recorder (until max, silence or stop)
//!                         └─▶ echo ring ─┐
//!  prompts (8 kHz) ─▶ 8k→rate ─┬─────────┴─▶ encode at A's ptime ─▶ A
//!  tones ──────────────────────┘
//! ```
//!
//! What A hears is one continuous stream with the switch's own SSRC: silence is sent as
//! audio, not left out, so that A's jitter buffer and NAT bindings stay warm between
//! prompts. Prompts arrive decoded at 8 kHz (the plan decodes them when it loads); a
//! G.722 or Opus leg gets them upsampled here, tick by tick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_codecs::dtmf::{DtmfDetector, DtmfEvent};
use switchyard_codecs::resample::Resampler;
use switchyard_codecs::tone::{ToneGenerator, TonePlan};
use switchyard_codecs::{AudioDecoder, AudioEncoder, CodecError, CodecKind};

use crate::jitter::{JitterBuffer, JitterConfig, PacketInfo, Pop};

use super::LegParams;
use super::frame_clock::FrameClock;
use super::packet_queue::PacketQueue;

/// The rate prompts are stored at.
pub const PROMPT_RATE: u32 = 8000;
/// Longest recording, whatever the plan asks.
pub const MAX_RECORD: Duration = Duration::from_secs(600);
/// RMS below this (about −48 dBFS) is silence for `record silence=`.
const SILENCE_RMS: f64 = 130.0;
/// Trailing silence kept at the end of a recording stopped by silence.
const KEEP_SILENCE: Duration = Duration::from_millis(300);

/// What the switch plays to the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Silence (comfort for A's jitter buffer, nothing to hear).
    Silence,
    /// Prompts at [`PROMPT_RATE`], in order; `looped` starts over at the end (music on hold).
    Clips {
        /// The decoded prompts.
        clips: Vec<Arc<[i16]>>,
        /// Start over at the end.
        looped: bool,
    },
    /// A call-progress tone, for a time or until replaced.
    Tone {
        /// Frequencies and cadence.
        plan: TonePlan,
        /// How long; `None` until replaced.
        duration: Option<Duration>,
    },
    /// A's own audio, back to it (echo test).
    Echo,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// Its maximum length.
    Max,
    /// Silence for the asked time.
    Silence,
    /// Stopped by the switch (a key, the call moving on or ending).
    Stopped,
}

/// What the endpoint reports.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointEvent {
    /// The source with this sequence number finished.
    Done(u32),
    /// A digit detected in A's audio, with its length.
    Digit(char, u32),
    /// A recording ended.
    Recorded {
        /// Sequence number of the `record` command.
        seq: u32,
        /// 16-bit mono samples at `rate`.
        pcm: Vec<i16>,
        /// Sample rate.
        rate: u32,
        /// Why it ended.
        by: RecordEnd,
    },
}

struct Recorder {
    seq: u32,
    pcm: Vec<i16>,
    max: usize,
    silence: Option<usize>,
    /// Samples of silence at the end so far.
    quiet: usize,
}

enum Playing {
    Silence,
    Clips {
        clips: Vec<Arc<[i16]>>,
        looped: bool,
        clip: usize,
        at: usize,
    },
    Tone {
        generator: Box<ToneGenerator>,
        left: Option<usize>,
    },
    Echo,
}

/// The switch's end of leg A.
pub(crate) struct Endpoint {
    codec: CodecKind,
    pt: u8,
    ptime: u32,
    te: Option<u8>,
    rate: u32,
    clock: FrameClock,
    jitter: JitterBuffer,
    decoder: Box<dyn AudioDecoder>,
    encoder: Box<dyn AudioEncoder>,
    detector: Option<Box<DtmfDetector>>,
    up: Option<Resampler>,
    pcm_in: Vec<i16>,
    clip_in: Vec<i16>,
    pcm_out: Vec<i16>,
    echo: std::collections::VecDeque<i16>,
    fifo: Vec<i16>,
    fifo_len: usize,
    frame: usize,
    playing: Playing,
    play_seq: u32,
    record: Option<Recorder>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    ts_step: u32,
    marker_next: bool,
    queue: PacketQueue,
    events: Vec<EndpointEvent>,
}

impl Endpoint {
    /// An endpoint for leg `a`, starting silent at `now`.
    pub(crate) fn new(a: &LegParams, ssrc: u32, opus_complexity: i32) -> Result<Endpoint, CodecError> {
        // Opus runs at 16 kHz here: prompts and tones have nothing above 8 kHz to code.
        let decoder = switchyard_codecs::codec::decoder_at(a.codec, 16000)?;
        let encoder = switchyard_codecs::codec::encoder_at(a.codec, 16000, opus_complexity)?;
        let rate = encoder.sample_rate();
        let tick_ms = if a.ptime_ms % 20 == 0 { 20 } else { 10 };
        let tick = Duration::from_millis(tick_ms);
        let ptime = a.ptime_ms.clamp(10, 120);
        let jitter = JitterBuffer::new(JitterConfig {
            clock_rate: a.codec.rtp_clock_rate(),
            sample_rate: decoder.sample_rate(),
            frame: tick,
            max_packets: (1200 / ptime as usize).clamp(16, 100),
            max_payload: match a.codec {
                CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => (8 * ptime * 3) as usize,
                CodecKind::Opus => 640,
                _ => crate::jitter::MAX_PAYLOAD,
            },
            max_frame: Duration::from_millis(120),
            ..JitterConfig::default()
        });
        let up = if rate == PROMPT_RATE {
            None
        } else {
            Some(Resampler::new(PROMPT_RATE, rate).map_err(|_| CodecError::Malformed("unsupported rate"))?)
        };
        let per_tick = (rate * tick_ms as u32 / 1000) as usize;
        let frame = (rate * a.ptime_ms / 1000) as usize;
        let detector = if a.telephone_event.is_none() {
            DtmfDetector::new(decoder.sample_rate()).ok().map(Box::new)
        } else {
            None
        };
        Ok(Endpoint {
            codec: a.codec,
            pt: a.pt,
            ptime: a.ptime_ms,
            te: a.telephone_event,
            rate,
            clock: FrameClock::new(tick),
            jitter,
            decoder,
            encoder,
            detector,
            up,
            pcm_in: vec![0; (decoder_rate(a.codec) * tick_ms as u32 / 1000) as usize],
            clip_in: vec![0; (PROMPT_RATE * tick_ms as u32 / 1000) as usize],
            pcm_out: vec![0; per_tick],
            echo: std::collections::VecDeque::with_capacity(rate as usize / 2),
            fifo: vec![0; frame + per_tick],
            fifo_len: 0,
            frame,
            playing: Playing::Silence,
            play_seq: 0,
            record: None,
            ssrc,
            seq: (ssrc >> 16) as u16,
            ts: ssrc.rotate_left(7),
            ts_step: a.codec.rtp_clock_rate() * a.ptime_ms / 1000,
            marker_next: true,
            queue: PacketQueue::for_codec(a.codec, a.ptime_ms),
            events: Vec::new(),
        })
    }

    /// Whether this endpoint still fits what A negotiated.
    pub(crate) fn matches(&self, a: &LegParams) -> bool {
        self.codec == a.codec && self.pt == a.pt && self.ptime == a.ptime_ms && self.te == a.telephone_event
    }

    /// Starts ticking (sending) from `now` if it was not.
    pub(crate) fn start(&mut self, now: Instant) {
        self.clock.start(now);
    }

    /// Replaces what is played; `Done(seq)` follows when it ends by itself.
    pub(crate) fn play(&mut self, now: Instant, seq: u32, src: Source) {
        self.start(now);
        // Whatever played before is cut: its Done never comes, the engine moved on.
        self.play_seq = seq;
        self.playing = match src {
            Source::Silence => Playing::Silence,
            Source::Clips { clips, looped } => Playing::Clips {
                clips,
                looped,
                clip: 0,
                at: 0,
            },
            Source::Tone { plan, duration } => Playing::Tone {
                generator: Box::new(ToneGenerator::new(&plan, self.rate)),
                left: duration.map(|d| (d.as_millis() as u64 * u64::from(self.rate) / 1000) as usize),
            },
            Source::Echo => {
                self.echo.clear();
                Playing::Echo
            }
        };
        if let Some(r) = &mut self.up {
            r.reset();
        }
    }

    /// Starts recording A (a running recording is ended as stopped first).
    pub(crate) fn record(&mut self, now: Instant, seq: u32, max: Duration, silence: Option<Duration>) {
        self.start(now);
        self.stop_record();
        let samples = |d: Duration| (d.min(MAX_RECORD).as_millis() as u64 * u64::from(self.rate) / 1000) as usize;
        self.record = Some(Recorder {
            seq,
            pcm: Vec::with_capacity(self.rate as usize * 10),
            max: samples(max),
            silence: silence.map(samples),
            quiet: 0,
        });
    }

    /// Ends the recording in progress, if any.
    pub(crate) fn stop_record(&mut self) {
        self.finish_record(RecordEnd::Stopped);
    }

    fn finish_record(&mut self, by: RecordEnd) {
        if let Some(mut r) = self.record.take() {
            if by == RecordEnd::Silence {
                let keep = (KEEP_SILENCE.as_millis() as usize * self.rate as usize / 1000).min(r.quiet);
                let cut = r.pcm.len() - (r.quiet - keep).min(r.pcm.len());
                r.pcm.truncate(cut);
            }
            self.events.push(EndpointEvent::Recorded {
                seq: r.seq,
                pcm: r.pcm,
                rate: self.rate,
                by,
            });
        }
    }

    /// An RTP packet from A (its audio payload type; events are handled by the caller).
    pub(crate) fn on_packet(&mut self, now: Instant, info: PacketInfo, payload: &[u8]) {
        if info.payload_type != self.pt {
            return;
        }
        let _ = self.jitter.insert(now, info, payload);
        self.start(now);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.clock.next()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(at) = self.clock.due(now) {
            self.tick_once(at);
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<EndpointEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    fn tick_once(&mut self, now: Instant) {
        let pop = self.jitter.pop(now, self.decoder.as_mut(), &mut self.pcm_in);
        self.listen(pop);
        self.fill_out();
        let n = self.pcm_out.len().min(self.fifo.len() - self.fifo_len);
        self.fifo[self.fifo_len..self.fifo_len + n].copy_from_slice(&self.pcm_out[..n]);
        self.fifo_len += n;
        if self.fifo_len >= self.frame {
            self.push_audio();
            self.fifo.copy_within(self.frame..self.fifo_len, 0);
            self.fifo_len -= self.frame;
        }
    }

    /// A's audio of this tick: digits, the recording, the echo.
    fn listen(&mut self, pop: Pop) {
        if let Some(d) = &mut self.detector {
            let rate = u64::from(d.sample_rate());
            let events = &mut self.events;
            // A key counts when it ends, as RFC 4733 events do: one press, one digit.
            d.process(&self.pcm_in, |e| {
                if let DtmfEvent::End { digit: g, duration, .. } = e {
                    events.push(EndpointEvent::Digit(g.to_char(), (duration * 1000 / rate.max(1)) as u32));
                }
            });
        }
        if let Some(r) = &mut self.record {
            let sq: f64 = self.pcm_in.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let rms = (sq / self.pcm_in.len().max(1) as f64).sqrt();
            if rms < SILENCE_RMS || matches!(pop, Pop::Silence) {
                r.quiet += self.pcm_in.len();
            } else {
                r.quiet = 0;
            }
            let room = r.max.saturating_sub(r.pcm.len());
            r.pcm.extend_from_slice(&self.pcm_in[..self.pcm_in.len().min(room)]);
            if r.pcm.len() >= r.max {
                self.finish_record(RecordEnd::Max);
            } else if r.silence.is_some_and(|s| r.quiet >= s) {
                self.finish_record(RecordEnd::Silence);
            }
        }
        if matches!(self.playing, Playing::Echo) {
            // Played back a tick later: the ring holds at most half a second.
            if self.echo.len() + self.pcm_in.len() > self.echo.capacity() {
                let drop = self.echo.len() + self.pcm_in.len() - self.echo.capacity();
                self.echo.drain(..drop.min(self.echo.len()));
            }
            self.echo.extend(self.pcm_in.iter().copied());
        }
    }

    /// What A hears this tick, into `pcm_out`.
    fn fill_out(&mut self) {
        let done = match &mut self.playing {
            Playing::Silence => {
                self.pcm_out.fill(0);
                false
            }
            Playing::Echo => {
                for o in self.pcm_out.iter_mut() {
                    *o = self.echo.pop_front().unwrap_or(0);
                }
                false
            }
            Playing::Tone { generator, left } => {
                let n = left.map_or(self.pcm_out.len(), |l| l.min(self.pcm_out.len()));
                generator.fill(&mut self.pcm_out[..n]);
                self.pcm_out[n..].fill(0);
                if let Some(l) = left {
                    *l -= n;
                    *l == 0
                } else {
                    false
                }
            }
            Playing::Clips { clips, looped, clip, at } => {
                let mut filled = 0;
                let want = self.clip_in.len();
                while filled < want && *clip < clips.len() {
                    let c = &clips[*clip];
                    let n = (c.len() - (*at).min(c.len())).min(want - filled);
                    self.clip_in[filled..filled + n].copy_from_slice(&c[*at..*at + n]);
                    filled += n;
                    *at += n;
                    if *at >= c.len() {
                        *clip += 1;
                        *at = 0;
                        if *clip == clips.len() && *looped && clips.iter().any(|c| !c.is_empty()) {
                            *clip = 0;
                        }
                    }
                }
                self.clip_in[filled..].fill(0);
                match &mut self.up {
                    Some(r) => {
                        let n = r.process(&self.clip_in, &mut self.pcm_out);
                        self.pcm_out[n..].fill(0);
                    }
                    None => self.pcm_out.copy_from_slice(&self.clip_in),
                }
                *clip >= clips.len()
            }
        };
        if done {
            self.playing = Playing::Silence;
            self.events.push(EndpointEvent::Done(self.play_seq));
        }
    }

    fn push_audio(&mut self) {
        let fields = crate::rtp::HeaderFields {
            payload_type: self.pt,
            marker: self.marker_next,
            seq: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        };
        let Some(buf) = self.queue.free_slot() else { return };
        let (seq, ts) = (self.seq, self.ts);
        self.ts = self.ts.wrapping_add(self.ts_step);
        let Ok(hdr) = crate::rtp::write_header(buf, &fields) else { return };
        match self.encoder.encode(&self.fifo[..self.frame], &mut buf[hdr..]) {
            Ok(len) => {
                self.marker_next = false;
                self.queue.commit((hdr + len, seq, ts, len));
                self.seq = self.seq.wrapping_add(1);
            }
            Err(e) => tracing::debug!(error = %e, "encode failed; frame skipped"),
        }
    }

    /// The next packet for A, copied into `buf`: (length, seq, timestamp, payload bytes).
    pub(crate) fn poll_packet(&mut self, buf: &mut [u8]) -> Option<(usize, u16, u32, usize)> {
        self.queue.pop_into(buf)
    }
}

fn decoder_rate(codec: CodecKind) -> u32 {
    match codec {
        CodecKind::Opus => 16000,
        c => c.sample_rate(),
    }
}

/// The tone plans of the switch's call-progress tones (China, YD/T 1970 / ITU-T E.180:
/// 450 Hz; the beep is 1 kHz).
pub fn tone_plan(kind: crate::dialplan::ToneKind) -> TonePlan {
    use crate::dialplan::ToneKind;
    let (f, level, cadence): (&[f32], f32, &[u32]) = match kind {
        ToneKind::Ringback => (&[450.0], -13.0, &[1000, 4000]),
        ToneKind::Busy => (&[450.0], -13.0, &[350, 350]),
        ToneKind::Congestion => (&[450.0], -13.0, &[700, 700]),
        ToneKind::Dial => (&[450.0], -13.0, &[]),
        ToneKind::Beep => (&[1000.0], -10.0, &[]),
        #[allow(unreachable_patterns)]
        _ => (&[450.0], -13.0, &[]),
    };
    // Constant, valid plans (one frequency under 4 kHz, even cadences); a refusal would be
    // a bug here, and a silent fallback is safer than a panic in the call path.
    TonePlan::new(f, level, cadence).unwrap_or_else(|_| TonePlan::ringback_eu())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The origin of each test's virtual time (read once; time then only moves by hand).
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn leg(codec: CodecKind, pt: u8, te: Option<u8>) -> LegParams {
        LegParams {
            remote: None,
            remote_rtcp: None,
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

    fn run(e: &mut Endpoint, t0: Instant, ms: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        for k in 0..=ms / 10 {
            e.handle_timeout(t0 + Duration::from_millis(k * 10));
            while let Some((len, ..)) = e.poll_packet(&mut buf) {
                out.push(buf[..len].to_vec());
            }
        }
        out
    }

    #[test]
    fn plays_a_clip_then_silence_and_reports_done() {
        let t0 = origin();
        let mut e = Endpoint::new(&leg(CodecKind::Pcmu, 0, Some(101)), 7, 5).expect("pcmu");
        let clip: Arc<[i16]> = (0..800).map(|i| if i % 2 == 0 { 8000 } else { -8000 }).collect::<Vec<_>>().into();
        e.play(
            t0,
            3,
            Source::Clips {
                clips: vec![clip],
                looped: false,
            },
        );
        let pkts = run(&mut e, t0, 400);
        // 400 ms at 20 ms: a packet each tick, audio for 100 ms, silence after, never a gap.
        assert!(pkts.len() >= 20, "{} packets", pkts.len());
        assert!(pkts.iter().all(|p| p.len() == 12 + 160));
        assert_eq!(pkts[0][1] & 0x80, 0x80, "marker on the first packet");
        let loud = pkts.iter().filter(|p| p[12..].iter().any(|&b| b != 0xff && b != 0x7f)).count();
        assert_eq!(loud, 5, "100 ms of the clip");
        assert_eq!(e.poll_event(), Some(EndpointEvent::Done(3)));
        assert_eq!(e.poll_event(), None);
    }

    #[test]
    fn a_tone_with_a_duration_ends_and_a_looped_clip_does_not() {
        let t0 = origin();
        let mut e = Endpoint::new(&leg(CodecKind::G722, 9, None), 7, 5).expect("g722");
        e.play(
            t0,
            1,
            Source::Tone {
                plan: tone_plan(crate::dialplan::ToneKind::Beep),
                duration: Some(Duration::from_millis(500)),
            },
        );
        run(&mut e, t0, 600);
        assert_eq!(e.poll_event(), Some(EndpointEvent::Done(1)));
        let clip: Arc<[i16]> = vec![100; 80].into();
        e.play(
            t0 + Duration::from_millis(600),
            2,
            Source::Clips {
                clips: vec![clip],
                looped: true,
            },
        );
        let mut buf = [0u8; 1500];
        for k in 61..200 {
            e.handle_timeout(t0 + Duration::from_millis(k * 10));
            while e.poll_packet(&mut buf).is_some() {}
        }
        assert_eq!(e.poll_event(), None);
    }

    #[test]
    fn records_until_silence_and_trims_it() {
        let t0 = origin();
        let mut e = Endpoint::new(&leg(CodecKind::Pcmu, 0, Some(101)), 7, 5).expect("pcmu");
        e.record(t0, 9, Duration::from_secs(10), Some(Duration::from_secs(1)));
        // One second of a loud tone, then silence.
        let tone: Vec<i16> = (0..8000).map(|i| ((i as f64 * 0.3).sin() * 8000.0) as i16).collect();
        for (seq, k) in (0..200u64).enumerate() {
            let seq = seq as u16;
            let at = t0 + Duration::from_millis(k * 20);
            let mut payload = [0xffu8; 160];
            if k < 50 {
                for (j, b) in payload.iter_mut().enumerate() {
                    *b = switchyard_codecs::g711::encode_mu(tone[(k as usize * 160 + j) % 8000]);
                }
            }
            let info = PacketInfo {
                seq,
                timestamp: u32::from(seq) * 160,
                ssrc: 5,
                marker: k == 0,
                payload_type: 0,
            };
            e.on_packet(at, info, &payload);
            e.handle_timeout(at);
            let mut buf = [0u8; 1500];
            while e.poll_packet(&mut buf).is_some() {}
        }
        match e.poll_event() {
            Some(EndpointEvent::Recorded {
                seq: 9,
                pcm,
                rate: 8000,
                by: RecordEnd::Silence,
            }) => {
                let secs = pcm.len() as f64 / 8000.0;
                assert!((1.0..1.6).contains(&secs), "{secs} s kept");
            }
            other => panic!("{other:?}"),
        }
    }
}
