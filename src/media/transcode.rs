//! One direction of a transcoded call: packets from leg X through a jitter
//! buffer, decoded, resampled, re-encoded for leg Y at Y's ptime and sent as
//! the switch's own RTP stream (own SSRC, sequence and timestamps).
//!
//! DTMF crosses too: RFC 4733 events from X are re-sent as events on Y's
//! stream when Y negotiated telephone-event, or played into Y's audio as
//! tones when it did not; when X cannot send events but Y takes them, X's
//! audio runs through an in-band detector and detected digits go to Y as
//! events.
//!
//! Everything is allocated in [`Transcoder::new`]; a tick allocates nothing.

use std::time::{Duration, Instant};

use switchyard_codecs::dtmf::{DtmfDetector, DtmfDigit, DtmfEvent, DtmfGenerator};
use switchyard_codecs::resample::Resampler;
use switchyard_codecs::telephone_event::EventSender;
use switchyard_codecs::{AudioDecoder, AudioEncoder, CodecError, CodecKind};

use crate::jitter::{JitterBuffer, JitterConfig, PacketInfo, Pop};

use super::LegParams;
use super::frame_clock::FrameClock;
use super::packet_queue::PacketQueue;
use super::dtmf::{DigitTracker, digit_event_code};

/// Shortest digit sent on (Q.24 receivers need 40 ms; a margin above it).
const MIN_DIGIT_MS: u32 = 60;
/// Longest digit: a press whose end packets were all lost stops here.
const MAX_DIGIT_MS: u32 = 5000;

/// The PCM rate an Opus side works at: the other side's rate when that is
/// narrower (nothing above its band exists to code), 48 kHz otherwise.
fn opus_rate(codec: CodecKind, other: CodecKind) -> u32 {
    match (codec, other) {
        (CodecKind::Opus, CodecKind::Opus) => 48000,
        (CodecKind::Opus, o) => match o.sample_rate() {
            r @ (8000 | 16000) => r,
            _ => 48000,
        },
        _ => 48000,
    }
}

/// One direction, X → Y.
pub(crate) struct Transcoder {
    from_codec: CodecKind,
    to_codec: CodecKind,
    to_pt: u8,
    to_ptime: u32,
    from_te: Option<u8>,
    from_pt: u8,
    to_te: Option<u8>,
    jitter: JitterBuffer,
    decoder: Box<dyn AudioDecoder>,
    encoder: Box<dyn AudioEncoder>,
    resampler: Option<Resampler>,
    clock: FrameClock,
    pcm_in: Vec<i16>,
    pcm_out: Vec<i16>,
    fifo: Vec<i16>,
    fifo_len: usize,
    frame_out: usize,
    ssrc: u32,
    seq: u16,
    ts: u32,
    ts_step: u32,
    marker_next: bool,
    /// Whether any tick of the frame being filled had audio from X.
    frame_has_audio: bool,
    /// Boxed: most directions have none, and it is 1.7 KB inline.
    detector: Option<Box<DtmfDetector>>,
    digits: DigitTracker,
    tone: DtmfGenerator,
    /// The digit being played as a tone and the tone sample count when it began.
    tone_digit: Option<(DtmfDigit, u64)>,
    /// Tone samples played so far.
    tone_played: u64,
    events: Option<EventSender>,
    /// Timestamp the event being sent started at, to tell the sender how far it is.
    event_ts: u32,
    queue: PacketQueue,
}

impl Transcoder {
    /// A direction reading `from` and writing `to`.
    pub(crate) fn new(now: Instant, from: &LegParams, to: &LegParams, ssrc: u32, opus_complexity: i32) -> Result<Transcoder, CodecError> {
        let _ = now;
        let decoder = switchyard_codecs::codec::decoder_at(from.codec, opus_rate(from.codec, to.codec))?;
        let encoder = switchyard_codecs::codec::encoder_at(to.codec, opus_rate(to.codec, from.codec), opus_complexity)?;
        let (in_rate, out_rate) = (decoder.sample_rate(), encoder.sample_rate());
        // The tick divides Y's ptime so that whole packets come out of whole ticks.
        let tick_ms = if to.ptime_ms % 20 == 0 { 20 } else { 10 };
        let tick = Duration::from_millis(u64::from(tick_ms));
        // Slots sized to the leg's codec and packet time (up to three times
        // the negotiated ptime), a second's worth of them: most of a
        // transcoded call's memory is here.
        let ptime = from.ptime_ms.clamp(10, 120);
        // What one of X's packets can decode to: three ptimes of G.711 or
        // G.722 (as the slots allow), any Opus frame (up to 120 ms).
        let max_frame_ms = match from.codec {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => u64::from(ptime * 3),
            _ => 120,
        };
        let max_payload = match from.codec {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => (8 * ptime * 3) as usize,
            CodecKind::Opus => 640,
            _ => crate::jitter::MAX_PAYLOAD,
        };
        let jitter = JitterBuffer::new(JitterConfig {
            clock_rate: from.codec.rtp_clock_rate(),
            sample_rate: in_rate,
            frame: tick,
            max_packets: (1200 / ptime as usize).clamp(16, 100),
            max_payload,
            max_frame: Duration::from_millis(max_frame_ms),
            ..JitterConfig::default()
        });
        let resampler = if in_rate == out_rate {
            None
        } else {
            Some(Resampler::new(in_rate, out_rate).map_err(|_| CodecError::Malformed("unsupported rate"))?)
        };
        let per_tick_in = (in_rate * tick_ms / 1000) as usize;
        let per_tick_out = (out_rate * tick_ms / 1000) as usize;
        let frame_out = (out_rate * to.ptime_ms / 1000) as usize;
        let detector = if from.telephone_event.is_none() && to.telephone_event.is_some() {
            DtmfDetector::new(in_rate).ok().map(Box::new)
        } else {
            None
        };
        Ok(Transcoder {
            from_codec: from.codec,
            to_codec: to.codec,
            to_pt: to.pt,
            to_ptime: to.ptime_ms,
            from_te: from.telephone_event,
            from_pt: from.pt,
            to_te: to.telephone_event,
            jitter,
            decoder,
            encoder,
            resampler,
            clock: FrameClock::new(tick),
            pcm_in: vec![0; per_tick_in],
            pcm_out: vec![0; per_tick_out],
            fifo: vec![0; frame_out + per_tick_out],
            fifo_len: 0,
            frame_out,
            ssrc,
            seq: (ssrc >> 16) as u16,
            ts: ssrc.rotate_left(7),
            ts_step: to.codec.rtp_clock_rate() * to.ptime_ms / 1000,
            marker_next: true,
            frame_has_audio: false,
            detector,
            digits: DigitTracker::new(),
            tone: DtmfGenerator::new(out_rate),
            tone_digit: None,
            tone_played: 0,
            // Updates every packet interval at -10 dBm0 (RFC 4733 §2.5.1.2).
            events: to.telephone_event.map(|_| EventSender::new(to.codec.rtp_clock_rate() * to.ptime_ms / 1000, 10)),
            event_ts: 0,
            queue: PacketQueue::for_codec(to.codec, to.ptime_ms),
        })
    }

    /// Whether this transcoder still fits what the legs negotiated.
    pub(crate) fn matches(&self, from: &LegParams, to: &LegParams) -> bool {
        self.from_codec == from.codec
            && self.to_codec == to.codec
            && self.to_pt == to.pt
            && self.to_ptime == to.ptime_ms
            && self.from_te == from.telephone_event
            && self.to_te == to.telephone_event
    }

    /// A packet from X (audio, event or comfort noise).
    pub(crate) fn on_packet(&mut self, now: Instant, info: PacketInfo, payload: &[u8]) {
        if Some(info.payload_type) == self.from_te {
            let clock = self.from_codec.rtp_clock_rate();
            let seen = self.digits.on_packet(info.timestamp, info.marker, payload, clock);
            // A key press lasts as long as the sender says: open at its
            // start, closed at its end (RFC 4733 §2.5.1.3), never longer
            // than the cap if the end packets are lost.
            if let Some(code) = seen.began {
                self.start_digit(code, MAX_DIGIT_MS);
            }
            if let Some((_, ms)) = seen.ended {
                self.end_digit(ms);
            }
            return;
        }
        // Comfort noise (RFC 3389) and anything else that is not X's codec
        // stays out of the decoder: the gap it leaves plays as silence.
        if info.payload_type != self.from_pt {
            return;
        }
        let _ = self.jitter.insert(now, info, payload);
        self.clock.start(now + self.clock.period());
    }

    /// A digit from SIP INFO, sent on to Y.
    pub(crate) fn inject_digit(&mut self, now: Instant, digit: char, duration_ms: u32) {
        if let Some(code) = digit_event_code(digit) {
            self.start_digit(code, duration_ms);
            self.clock.start(now + self.clock.period());
        }
    }

    fn start_digit(&mut self, code: u8, duration_ms: u32) {
        let duration_ms = duration_ms.clamp(MIN_DIGIT_MS, MAX_DIGIT_MS);
        if let Some(ev) = &mut self.events {
            ev.start(code, self.ts);
            ev.end_at(self.to_codec.rtp_clock_rate() / 1000 * duration_ms);
            self.event_ts = self.ts;
        } else if let Some(digit) = DtmfDigit::from_event_code(code) {
            self.tone.start(digit, -10.0, duration_ms);
            self.tone_digit = Some((digit, self.tone_played));
        }
    }

    /// The digit in progress ends `duration_ms` after it began.
    fn end_digit(&mut self, duration_ms: u32) {
        let duration_ms = duration_ms.clamp(MIN_DIGIT_MS, MAX_DIGIT_MS);
        if let Some(ev) = &mut self.events {
            ev.end_at(self.to_codec.rtp_clock_rate() / 1000 * duration_ms);
        } else if let Some((digit, started)) = self.tone_digit.take() {
            // Restart the tone for what is left of the press.
            let played_ms = ((self.tone_played - started) * 1000 / u64::from(self.to_codec.sample_rate())) as u32;
            self.tone.start(digit, -10.0, duration_ms.saturating_sub(played_ms));
        }
    }

    /// The jitter buffer's counters for this direction.
    pub(crate) fn jitter_stats(&self) -> crate::jitter::JitterStats {
        self.jitter.stats()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.clock.next()
    }

    /// Runs every tick that is due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(at) = self.clock.due(now) {
            self.tick_once(at);
        }
    }

    fn tick_once(&mut self, now: Instant) {
        let pop = self.jitter.pop(now, self.decoder.as_mut(), &mut self.pcm_in);
        self.frame_has_audio |= !matches!(pop, Pop::Silence);
        if let Some(d) = &mut self.detector {
            let (mut started, mut ended) = (None, None);
            let rate = u64::from(self.pcm_in.len() as u32 * 1000 / self.clock.period().as_millis().max(1) as u32);
            d.process(&self.pcm_in, |e| match e {
                DtmfEvent::Start { digit, .. } => started = Some(digit.event_code()),
                DtmfEvent::End { duration, .. } => ended = Some((duration * 1000 / rate.max(1)) as u32),
                _ => {}
            });
            if let Some(code) = started {
                self.start_digit(code, MAX_DIGIT_MS);
            }
            if let Some(ms) = ended {
                self.end_digit(ms);
            }
        }
        let n = match &mut self.resampler {
            Some(r) => r.process(&self.pcm_in, &mut self.pcm_out),
            None => {
                let n = self.pcm_in.len().min(self.pcm_out.len());
                self.pcm_out[..n].copy_from_slice(&self.pcm_in[..n]);
                n
            }
        };
        if self.tone.is_active() {
            // The tone replaces the audio while it lasts.
            self.tone_played += self.tone.fill(&mut self.pcm_out[..n]) as u64;
        }
        let room = self.fifo.len() - self.fifo_len;
        let n = n.min(room);
        self.fifo[self.fifo_len..self.fifo_len + n].copy_from_slice(&self.pcm_out[..n]);
        self.fifo_len += n;
        if self.fifo_len >= self.frame_out {
            self.emit_audio();
            self.fifo.copy_within(self.frame_out..self.fifo_len, 0);
            self.fifo_len -= self.frame_out;
        }
    }

    fn emit_audio(&mut self) {
        // Events replace audio while a digit is being sent (RFC 4733 §2.5.1.2
        // lets a sender do either; receivers that play both would double it).
        let mut sent_event = false;
        if let Some(ev) = &mut self.events {
            let mut block = [0u8; 4];
            let elapsed = self.ts.wrapping_sub(self.event_ts).wrapping_add(self.ts_step);
            let mut due = [None; 2];
            for slot in &mut due {
                *slot = ev.poll(elapsed);
            }
            for p in due.into_iter().flatten() {
                let Ok(len) = p.payload.write(&mut block) else { continue };
                let te = self.to_te.unwrap_or(101);
                self.push_packet(te, p.marker, p.timestamp, &block[..len]);
                sent_event = true;
            }
        }
        // X is silent (nothing received yet, a talkspurt gap, DTX): Y gets
        // nothing either, as a sender with silence suppression would do,
        // and the next talkspurt starts with the marker bit (RFC 3551 §4.1).
        let silent = !std::mem::take(&mut self.frame_has_audio) && !self.tone.is_active();
        if silent && !sent_event {
            self.marker_next = true;
        } else if !sent_event {
            self.push_audio();
        }
        self.ts = self.ts.wrapping_add(self.ts_step);
    }

    /// Encodes the frame at the front of the FIFO straight into a queue
    /// slot, behind the header (no intermediate buffer, no copy).
    fn push_audio(&mut self) {
        let marker = self.marker_next;
        let fields = crate::rtp::HeaderFields { payload_type: self.to_pt, marker, seq: self.seq, timestamp: self.ts, ssrc: self.ssrc };
        let (seq, ts) = (self.seq, self.ts);
        let Some(buf) = self.queue.free_slot() else { return };
        let Ok(hdr) = crate::rtp::write_header(buf, &fields) else { return };
        match self.encoder.encode(&self.fifo[..self.frame_out], &mut buf[hdr..]) {
            Ok(len) => {
                self.marker_next = false;
                self.queue.commit((hdr + len, seq, ts, len));
                self.seq = self.seq.wrapping_add(1);
            }
            Err(e) => tracing::debug!(error = %e, "encode failed; frame skipped"),
        }
    }

    fn push_packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let (seq, ssrc) = (self.seq, self.ssrc);
        let Some(buf) = self.queue.free_slot() else { return };
        let Ok(hdr) = crate::rtp::write_header(buf, &crate::rtp::HeaderFields { payload_type: pt, marker, seq, timestamp: ts, ssrc }) else {
            return;
        };
        let Some(end) = hdr.checked_add(payload.len()).filter(|&e| e <= buf.len()) else { return };
        buf[hdr..end].copy_from_slice(payload);
        self.queue.commit((end, seq, ts, payload.len()));
        self.seq = self.seq.wrapping_add(1);
    }

    /// The next packet for Y, copied into `buf`: (length, seq, timestamp, payload bytes).
    pub(crate) fn poll_packet(&mut self, buf: &mut [u8]) -> Option<(usize, u16, u32, usize)> {
        self.queue.pop_into(buf)
    }
}
