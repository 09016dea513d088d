//! One call's data path between its two legs, sans-IO: the worker hands in
//! each datagram with `now` and sends what comes back.
//!
//! Call order (from the worker): `handle_rtp`/`handle_rtcp` per datagram,
//! `update`/`send_dtmf` per command, `handle_timeout` when `poll_timeout`
//! passes; after each, `poll_transmit` until `None`, then `poll_event`.
//!
//! Relay (both legs share codec and ptime, and in-band DTMF need not be
//! turned into events) forwards each packet after rewriting its payload type
//! in place: no decode, no copy, no allocation. Otherwise each direction is
//! a [`Transcoder`] ticking every frame. Symmetric RTP (RFC 4961 practice):
//! once a leg's packets arrive from some address, replies go there, which
//! gets through NAT whatever the SDP said.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rtp::{self, RtpHeaderView, RtpSession};

use super::dtmf::{DigitTracker, Injector, digit_event_code};
use super::endpoint::{Endpoint, EndpointEvent, Source};
use super::transcode::Transcoder;
use super::{LegParams, LegQuality, MediaEvent, MediaId, MediaSide};

/// Settings shared by every call on a worker.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Hang up when no leg sends RTP for this long (`None`: never).
    pub timeout: Option<Duration>,
    /// Opus encoder complexity when transcoding to Opus.
    pub opus_complexity: i32,
    /// Wall-clock base for RTCP sender reports.
    pub ntp_base: rtp::NtpBase,
}

/// A datagram to send: from the leg's RTP or RTCP socket to `dst`, the
/// first `len` bytes of the buffer the caller passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    /// Whose socket sends it.
    pub from: MediaSide,
    /// From the RTCP socket (never with rtcp-mux).
    pub rtcp: bool,
    /// Destination.
    pub dst: SocketAddr,
    /// Bytes to send.
    pub len: usize,
}

/// How long a latched source must be silent before another may take its place.
const RELATCH_QUIET: Duration = Duration::from_secs(1);
/// How often the media timeout is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Events queued before the worker drains them.
const EVENT_CAP: usize = 16;

struct Leg {
    params: Option<LegParams>,
    rtp_dst: Option<SocketAddr>,
    rtcp_dst: Option<SocketAddr>,
    latched: bool,
    latched_ssrc: u32,
    latched_rtcp: bool,
    session: RtpSession,
    last_rx: Option<Instant>,
    digits: DigitTracker,
    /// Events the switch itself sends to this leg while its audio is relayed.
    injector: Option<Box<Injector>>,
}

enum Path {
    /// Nothing negotiated on one of the legs yet: packets are counted, not sent.
    Idle,
    /// Payload-type map per direction: `map[from][pt]`, 0xff = drop.
    Relay(Box<[[u8; 128]; 2]>),
    /// One transcoder per direction (index = the leg it reads from).
    Transcode(Box<[Transcoder; 2]>),
    /// The switch answers A itself (IVR): A's audio ends here, what A hears is made here.
    Local(Box<Endpoint>),
}

/// The data path of one call.
pub struct CallMedia {
    id: MediaId,
    cfg: MediaConfig,
    legs: [Leg; 2],
    path: Path,
    started: Instant,
    next_check: Instant,
    timed_out: bool,
    events: Vec<MediaEvent>,
    /// The engine asked for the switch to be A's endpoint (until B is negotiated).
    local: bool,
    /// A `Play` that came before A's codec was known.
    pending_play: Option<(u32, Source)>,
}

impl CallMedia {
    /// A session with nothing negotiated yet.
    pub fn new(id: MediaId, cfg: MediaConfig, now: Instant) -> CallMedia {
        let ntp_base = cfg.ntp_base;
        let leg = |n: u64| Leg {
            params: None,
            rtp_dst: None,
            rtcp_dst: None,
            latched: false,
            latched_ssrc: 0,
            latched_rtcp: false,
            session: new_session(id, n, switchyard_codecs::CodecKind::Pcmu, ntp_base),
            last_rx: None,
            digits: DigitTracker::new(),
            injector: None,
        };
        CallMedia {
            id,
            cfg,
            legs: [leg(0), leg(1)],
            path: Path::Idle,
            started: now,
            next_check: now + CHECK_EVERY,
            timed_out: false,
            events: Vec::with_capacity(EVENT_CAP),
            local: false,
            pending_play: None,
        }
    }

    /// What a leg negotiated (first time, or changed by a re-INVITE).
    pub fn update(&mut self, now: Instant, side: MediaSide, params: LegParams) {
        let leg = &mut self.legs[side.index()];
        // A re-INVITE moving the leg elsewhere starts latching afresh.
        if leg.params.as_ref().is_some_and(|p| p.remote != params.remote) {
            leg.latched = false;
            leg.latched_rtcp = false;
        }
        if !leg.latched {
            leg.rtp_dst = params.remote;
        }
        if !leg.latched_rtcp {
            leg.rtcp_dst = params.remote_rtcp;
        }
        let codec_changed = leg.params.as_ref().map_or(params.codec != switchyard_codecs::CodecKind::Pcmu, |p| p.codec != params.codec);
        if codec_changed {
            // Statistics are per clock rate: a new codec starts them afresh.
            leg.session = new_session(self.id, side.index() as u64, params.codec, self.cfg.ntp_base);
        }
        leg.params = Some(params);
        self.rebuild(now);
    }

    /// What is negotiated decides the path; called after every update.
    fn rebuild(&mut self, now: Instant) {
        let (a, b) = (self.legs[0].params.clone(), self.legs[1].params.clone());
        if let (Some(a), None, true) = (&a, &b, self.local) {
            if let Path::Local(ep) = &self.path {
                if ep.matches(a) {
                    return;
                }
            }
            self.leave_local();
            match Endpoint::new(a, ssrc_for(self.id, 30), self.cfg.opus_complexity) {
                Ok(mut ep) => {
                    ep.start(now);
                    if let Some((seq, src)) = self.pending_play.take() {
                        ep.play(now, seq, src);
                    }
                    self.path = Path::Local(Box::new(ep));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "endpoint could not be built; the caller hears nothing");
                    self.path = Path::Idle;
                }
            }
            return;
        }
        let (Some(a), Some(b)) = (a, b) else {
            self.leave_local();
            self.path = Path::Idle;
            return;
        };
        self.leave_local();
        if relayable(&a, &b) {
            let mut map = Box::new([[0xffu8; 128]; 2]);
            for (from, to, m) in [(&a, &b, 0), (&b, &a, 1)] {
                map[m][usize::from(from.pt & 0x7f)] = to.pt;
                if let (Some(x), Some(y)) = (from.telephone_event, to.telephone_event) {
                    map[m][usize::from(x & 0x7f)] = y;
                }
                if let (Some(x), Some(y)) = (from.comfort_noise, to.comfort_noise) {
                    map[m][usize::from(x & 0x7f)] = y;
                }
            }
            self.path = Path::Relay(map);
            return;
        }
        // Keep running transcoders when only addresses or direction changed.
        if let Path::Transcode(t) = &mut self.path {
            if t[0].matches(&a, &b) && t[1].matches(&b, &a) {
                return;
            }
        }
        let make = |from: &LegParams, to: &LegParams, n: u64| {
            Transcoder::new(now, from, to, ssrc_for(self.id, 10 + n), self.cfg.opus_complexity)
        };
        match (make(&a, &b, 0), make(&b, &a, 1)) {
            (Ok(ab), Ok(ba)) => self.path = Path::Transcode(Box::new([ab, ba])),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "transcoder could not be built; media not forwarded");
                self.path = Path::Idle;
            }
        }
    }

    /// The switch stops being A's endpoint (B took over, or A's codec changed): a recording
    /// in progress ends and is reported.
    fn leave_local(&mut self) {
        if let Path::Local(ep) = &mut self.path {
            ep.stop_record();
        }
        self.drain_endpoint();
        if matches!(self.path, Path::Local(_)) {
            self.path = Path::Idle;
        }
    }

    fn drain_endpoint(&mut self) {
        let Path::Local(ep) = &mut self.path else { return };
        let id = self.id;
        while let Some(ev) = ep.poll_event() {
            let ev = match ev {
                EndpointEvent::Done(seq) => MediaEvent::Played { id, seq },
                EndpointEvent::Digit(digit, duration_ms) => MediaEvent::Dtmf { id, from: MediaSide::A, digit, duration_ms },
                EndpointEvent::Recorded { seq, pcm, rate, by } => MediaEvent::Recorded { id, seq, pcm, rate, by },
            };
            if self.events.len() < EVENT_CAP {
                self.events.push(ev);
            }
        }
    }

    /// Plays `source` to A as its endpoint (IVR). When B already carries A's audio there is
    /// nothing to play into: it counts as played at once.
    pub fn play(&mut self, now: Instant, seq: u32, source: Source) {
        self.local = true;
        match &mut self.path {
            Path::Local(ep) => ep.play(now, seq, source),
            _ if self.legs[1].params.is_some() => self.push_event(MediaEvent::Played { id: self.id, seq }),
            _ => {
                self.pending_play = Some((seq, source));
                self.rebuild(now);
            }
        }
        self.drain_endpoint();
    }

    /// Records A (as its endpoint); reported at once, empty, when there is no endpoint.
    pub fn record(&mut self, now: Instant, seq: u32, max: Duration, silence: Option<Duration>) {
        self.local = true;
        if !matches!(self.path, Path::Local(_)) && self.legs[1].params.is_none() {
            self.rebuild(now);
        }
        match &mut self.path {
            Path::Local(ep) => ep.record(now, seq, max, silence),
            _ => self.push_event(MediaEvent::Recorded { id: self.id, seq, pcm: Vec::new(), rate: 8000, by: super::endpoint::RecordEnd::Stopped }),
        }
        self.drain_endpoint();
    }

    /// A leg left the call: nothing more is sent to it or taken from it.
    pub fn detach(&mut self, now: Instant, side: MediaSide) {
        let leg = &mut self.legs[side.index()];
        leg.params = None;
        leg.rtp_dst = None;
        leg.rtcp_dst = None;
        leg.latched = false;
        leg.latched_rtcp = false;
        leg.injector = None;
        self.rebuild(now);
    }

    /// Ends the recording in progress.
    pub fn stop_record(&mut self) {
        if let Path::Local(ep) = &mut self.path {
            ep.stop_record();
        }
        self.drain_endpoint();
    }

    /// One RTP datagram from `side`; with relay the packet is rewritten in
    /// `buf` and the caller sends `buf[..len]`.
    pub fn handle_rtp(&mut self, now: Instant, side: MediaSide, src: SocketAddr, buf: &mut [u8]) -> Option<Outgoing> {
        if rtp::is_rtcp(buf) {
            return self.handle_rtcp(now, side, src, buf);
        }
        let i = side.index();
        let view = RtpHeaderView::parse(buf).ok()?;
        let (pt, marker, seq, ts, ssrc) = (view.payload_type(), view.marker(), view.seq(), view.timestamp(), view.ssrc());
        let payload_range = view.payload_range();
        let leg = &mut self.legs[i];
        if !leg.latched {
            leg.rtp_dst = Some(src);
            leg.latched = true;
            leg.latched_ssrc = ssrc;
        } else if leg.rtp_dst != Some(src) {
            // Another source: follow it only when it continues the latched
            // stream (same SSRC: a NAT rebinding) or the latched source has
            // gone quiet. A stray or spoofed packet cannot steal the leg's
            // media (RTP bleed).
            let quiet = leg.last_rx.is_none_or(|t| now.saturating_duration_since(t) >= RELATCH_QUIET);
            if ssrc != leg.latched_ssrc && !quiet {
                return None;
            }
            leg.rtp_dst = Some(src);
            leg.latched_ssrc = ssrc;
        }
        leg.session.on_rtp(now, &view, buf.len());
        leg.last_rx = Some(now);
        let te = leg.params.as_ref().and_then(|p| p.telephone_event);
        if te == Some(pt) {
            let clock = leg.params.as_ref().map_or(8000, |p| p.codec.rtp_clock_rate());
            if let Some((digit, duration_ms)) = leg.digits.on_packet(ts, marker, &buf[payload_range.clone()], clock).ended {
                self.push_event(MediaEvent::Dtmf { id: self.id, from: side, digit, duration_ms });
            }
        }
        let other = &self.legs[side.other().index()];
        let may_send = other.params.as_ref().is_some_and(|p| p.send);
        match &mut self.path {
            Path::Idle => None,
            Path::Relay(map) => {
                let out_pt = map[i][usize::from(pt & 0x7f)];
                if out_pt == 0xff || !may_send {
                    return None;
                }
                let dst = other.rtp_dst?;
                // The parse above proved the fixed header is there.
                let _ = rtp::packet::set_payload_type(buf, out_pt);
                Some(Outgoing { from: side.other(), rtcp: false, dst, len: buf.len() })
            }
            Path::Transcode(t) => {
                let info = crate::jitter::PacketInfo { seq, timestamp: ts, ssrc, marker, payload_type: pt };
                t[i].on_packet(now, info, &buf[payload_range]);
                None
            }
            Path::Local(ep) => {
                if side == MediaSide::A {
                    let info = crate::jitter::PacketInfo { seq, timestamp: ts, ssrc, marker, payload_type: pt };
                    ep.on_packet(now, info, &buf[payload_range]);
                }
                None
            }
        }
    }

    /// One RTCP datagram from `side`: read for statistics; relayed to the
    /// other leg when the path is a relay (the endpoints' own reports then
    /// describe the end-to-end stream), terminated otherwise.
    pub fn handle_rtcp(&mut self, now: Instant, side: MediaSide, src: SocketAddr, buf: &mut [u8]) -> Option<Outgoing> {
        let leg = &mut self.legs[side.index()];
        let _ = leg.session.on_rtcp(now, buf);
        let mux = leg.params.as_ref().is_some_and(|p| p.rtcp_mux);
        if !mux && (!leg.latched_rtcp || leg.rtcp_dst != Some(src)) {
            leg.rtcp_dst = Some(src);
            leg.latched_rtcp = true;
        }
        if !matches!(self.path, Path::Relay(_)) {
            return None;
        }
        let other = &self.legs[side.other().index()];
        let p = other.params.as_ref()?;
        let (dst, rtcp) = if p.rtcp_mux { (other.rtp_dst?, false) } else { (other.rtcp_dst?, true) };
        Some(Outgoing { from: side.other(), rtcp, dst, len: buf.len() })
    }

    /// Sends a DTMF digit to `side` (a SIP INFO from the other leg).
    pub fn send_dtmf(&mut self, now: Instant, side: MediaSide, digit: char, duration_ms: u32) {
        match &mut self.path {
            Path::Transcode(t) => t[side.other().index()].inject_digit(now, digit, duration_ms),
            Path::Relay(_) => {
                let leg = &mut self.legs[side.index()];
                let (Some(p), Some(code)) = (leg.params.as_ref(), digit_event_code(digit)) else { return };
                let Some(pt) = p.telephone_event else { return };
                let ssrc = ssrc_for(self.id, 20 + side.index() as u64);
                let inj = leg.injector.get_or_insert_with(|| Box::new(Injector::new(ssrc, p.codec.rtp_clock_rate(), p.ptime_ms)));
                inj.start(now, code, duration_ms, pt);
            }
            Path::Idle | Path::Local(_) => {}
        }
    }

    /// Timers: transcoder ticks, RTCP reports, the media timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Path::Transcode(t) = &mut self.path {
            for tr in t.iter_mut() {
                tr.handle_timeout(now);
            }
        }
        if let Path::Local(ep) = &mut self.path {
            ep.handle_timeout(now);
            self.drain_endpoint();
        }
        if now >= self.next_check {
            self.next_check = now + CHECK_EVERY;
            self.check_timeout(now);
        }
    }

    fn check_timeout(&mut self, now: Instant) {
        let Some(limit) = self.cfg.timeout else { return };
        if self.timed_out {
            return;
        }
        // Only legs that should be sending count; a call with both on hold
        // never times out.
        let mut expected = 0;
        let mut silent = 0;
        for leg in &self.legs {
            if leg.params.as_ref().is_some_and(|p| p.recv) {
                expected += 1;
                let since = leg.last_rx.unwrap_or(self.started);
                if now.saturating_duration_since(since) >= limit {
                    silent += 1;
                }
            }
        }
        if expected > 0 && silent == expected {
            self.timed_out = true;
            self.push_event(MediaEvent::Timeout { id: self.id });
        }
    }

    /// Next datagram the session produced itself (transcoded audio, events,
    /// RTCP reports), written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Outgoing> {
        if let Path::Transcode(t) = &mut self.path {
            for (i, tr) in t.iter_mut().enumerate() {
                let to = if i == 0 { MediaSide::B } else { MediaSide::A };
                let leg = &mut self.legs[to.index()];
                let may_send = leg.params.as_ref().is_some_and(|p| p.send);
                while let Some((len, seq, ts, payload)) = tr.poll_packet(buf) {
                    let Some(dst) = leg.rtp_dst.filter(|_| may_send) else { continue };
                    leg.session.on_sent(now, seq, ts, payload);
                    return Some(Outgoing { from: to, rtcp: false, dst, len });
                }
            }
        }
        if let Path::Local(ep) = &mut self.path {
            let leg = &mut self.legs[0];
            let may_send = leg.params.as_ref().is_some_and(|p| p.send);
            while let Some((len, seq, ts, payload)) = ep.poll_packet(buf) {
                let Some(dst) = leg.rtp_dst.filter(|_| may_send) else { continue };
                leg.session.on_sent(now, seq, ts, payload);
                return Some(Outgoing { from: MediaSide::A, rtcp: false, dst, len });
            }
        }
        for (i, leg) in self.legs.iter_mut().enumerate() {
            let Some(inj) = leg.injector.as_mut() else { continue };
            if let Some(len) = inj.poll_packet(now, buf) {
                let from = if i == 0 { MediaSide::A } else { MediaSide::B };
                let Some(dst) = leg.rtp_dst else { continue };
                return Some(Outgoing { from, rtcp: false, dst, len });
            }
        }
        self.rtcp_due(now, buf)
    }

    /// Our own RTCP reports, when the path terminates RTCP (transcoding).
    fn rtcp_due(&mut self, now: Instant, buf: &mut [u8]) -> Option<Outgoing> {
        if !matches!(self.path, Path::Transcode(_) | Path::Local(_)) {
            return None;
        }
        for (i, leg) in self.legs.iter_mut().enumerate() {
            if leg.session.poll_timeout().is_some_and(|t| t <= now) {
                let len = leg.session.poll_rtcp(now, buf)?;
                let p = leg.params.as_ref()?;
                let (dst, rtcp) = if p.rtcp_mux { (leg.rtp_dst?, false) } else { (leg.rtcp_dst?, true) };
                let from = if i == 0 { MediaSide::A } else { MediaSide::B };
                return Some(Outgoing { from, rtcp, dst, len });
            }
        }
        None
    }

    /// When `handle_timeout` wants to run. Stable between calls (it only
    /// moves when a timer fired or the path changed), so that the worker's
    /// timer heap does not grow with every packet.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut at = self.next_check;
        for leg in &self.legs {
            if let Some(x) = leg.injector.as_ref().and_then(|i| i.poll_timeout()) {
                at = at.min(x);
            }
        }
        if let Path::Local(ep) = &self.path {
            if let Some(x) = ep.poll_timeout() {
                at = at.min(x);
            }
        }
        if matches!(self.path, Path::Transcode(_) | Path::Local(_)) {
            if let Path::Transcode(t) = &self.path {
                for tr in t.iter() {
                    if let Some(x) = tr.poll_timeout() {
                        at = at.min(x);
                    }
                }
            }
            for leg in &self.legs {
                if let Some(x) = leg.session.poll_timeout() {
                    at = at.min(x);
                }
            }
        }
        Some(at)
    }

    /// Next event for the signalling core.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        if self.events.is_empty() { None } else { Some(self.events.remove(0)) }
    }

    fn push_event(&mut self, ev: MediaEvent) {
        if self.events.len() < EVENT_CAP {
            self.events.push(ev);
        }
    }

    /// Receive quality of each leg, for the CDR.
    pub fn quality(&self) -> [LegQuality; 2] {
        let q = |leg: &Leg| {
            let q = leg.session.quality();
            LegQuality {
                packets: q.received,
                lost: q.lost,
                jitter_ms: q.jitter.as_secs_f64() * 1000.0,
                rtt_ms: q.rtt.map(|d| d.as_secs_f64() * 1000.0),
                mos: q.mos,
            }
        };
        [q(&self.legs[0]), q(&self.legs[1])]
    }

    /// Jitter-buffer counters of a transcoded call, per receiving leg (A's
    /// packets first); `None` for a relayed call, which has no buffer.
    pub fn jitter_stats(&self) -> Option<[crate::jitter::JitterStats; 2]> {
        match &self.path {
            Path::Transcode(t) => Some([t[0].jitter_stats(), t[1].jitter_stats()]),
            _ => None,
        }
    }

    /// True when packets are forwarded without decoding.
    pub fn is_relay(&self) -> bool {
        matches!(self.path, Path::Relay(_))
    }

    /// True when packets are decoded and re-encoded.
    pub fn is_transcoding(&self) -> bool {
        matches!(self.path, Path::Transcode(_))
    }
}

fn new_session(id: MediaId, n: u64, codec: switchyard_codecs::CodecKind, ntp_base: rtp::NtpBase) -> RtpSession {
    use switchyard_codecs::CodecKind;
    let mut cfg = rtp::SessionConfig::new(codec.rtp_clock_rate(), ssrc_for(id, n), format!("switchyard-{}", id.0), ntp_base);
    cfg.codec = match codec {
        CodecKind::Pcmu | CodecKind::Pcma => rtp::QualityCodec::G711,
        CodecKind::G722 => rtp::QualityCodec::G722,
        CodecKind::Opus => rtp::QualityCodec::Opus,
        _ => rtp::QualityCodec::G711NoPlc,
    };
    RtpSession::new(cfg)
}

/// Same codec and ptime both ways, and no leg that needs its in-band DTMF
/// turned into events for the other.
fn relayable(a: &LegParams, b: &LegParams) -> bool {
    let inband_to_events = (a.telephone_event.is_none() && b.telephone_event.is_some())
        || (b.telephone_event.is_none() && a.telephone_event.is_some());
    a.codec == b.codec && a.ptime_ms == b.ptime_ms && !inband_to_events
}

/// A stable, distinct SSRC per call and stream (RFC 3550 only asks that it
/// be unlikely to collide; the call id mixed through a bijective hash is).
fn ssrc_for(id: MediaId, n: u64) -> u32 {
    let mut x = id.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    (x >> 32) as u32
}

#[cfg(test)]
#[path = "call_media_tests.rs"]
mod tests;
