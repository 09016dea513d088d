//! The engine's side of media anchoring: ports and SDP for each call, the
//! commands handed to the media plane, and what comes back from it.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use tracing::{info, warn};

use crate::config::{Config, MediaCodec};
use crate::media::{Anchor, AnchorError, LocalMedia, MediaCommand, MediaEvent, MediaId, MediaSide, PortPool};
use crate::sdp::LocalCaps;
use crate::store::StoreOp;
use switchyard_codecs::CodecKind;

use super::Engine;
use super::call::{CallKey, Side};

/// Ports and outgoing commands of the media plane, when media is anchored.
pub(crate) struct MediaPlane {
    pub(in crate::engine) local: LocalMedia,
    ports: PortPool,
    out: VecDeque<MediaCommand>,
}

/// A new call's anchor and the body of its B-leg INVITEs.
pub(crate) type OpenedMedia = (Option<Anchor>, Option<Vec<u8>>);

/// What an SDP body is within its offer/answer exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SdpRole {
    Offer,
    Answer,
}

impl MediaPlane {
    /// `None` when `media.anchor` is off.
    pub(crate) fn from_config(cfg: &Config, sip_addr: IpAddr) -> Option<MediaPlane> {
        let m = &cfg.media;
        if !m.anchor {
            return None;
        }
        let audio = m
            .codecs
            .iter()
            .map(|c| match c {
                MediaCodec::Pcmu => CodecKind::Pcmu,
                MediaCodec::Pcma => CodecKind::Pcma,
                MediaCodec::G722 => CodecKind::G722,
                MediaCodec::Opus => CodecKind::Opus,
            })
            .collect();
        let caps = LocalCaps { audio, telephone_event: true, comfort_noise: true, ptime: m.ptime_ms };
        Some(MediaPlane {
            local: LocalMedia { addr: m.address.unwrap_or(sip_addr), caps },
            ports: PortPool::new(m.port_min, m.port_max),
            out: VecDeque::new(),
        })
    }

    /// Queues a command for the media plane.
    pub(in crate::engine) fn push(&mut self, cmd: MediaCommand) {
        self.out.push_back(cmd);
    }

    /// Queues what the anchor asked of the media plane.
    pub(in crate::engine) fn drain(&mut self, anchor: &mut Anchor) {
        while let Some(c) = anchor.poll_command() {
            self.out.push_back(c);
        }
    }

    /// RTP port blocks in use (one per call with media).
    pub(crate) fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }
}

/// A media side for an engine side.
pub(crate) fn media_side(side: Side) -> MediaSide {
    match side {
        Side::A => MediaSide::A,
        Side::B(_) => MediaSide::B,
    }
}

/// Whether a Content-Type names `mime` (its parameters and case aside).
fn content_type_is(ct: Option<&str>, mime: &str) -> bool {
    ct.is_some_and(|t| t.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(mime))
}

/// Whether a Content-Type names SDP.
pub(crate) fn is_sdp(ct: Option<&str>) -> bool {
    content_type_is(ct, "application/sdp")
}

/// The digit and duration (ms) a SIP INFO carries as `application/dtmf-relay`.
pub(crate) fn info_dtmf(req: &crate::sip::message::Message) -> Option<(char, u32)> {
    if !content_type_is(req.content_type(), "application/dtmf-relay") {
        return None;
    }
    parse_dtmf_relay(req.body())
}

impl Engine {
    /// An anchor for a new call and the body of its B-leg INVITEs (the
    /// switch's offer, or `None` to copy A's body: no SDP, or media not
    /// anchored); `Err` with the status to refuse the call with.
    pub(in crate::engine) fn media_open(
        &mut self,
        key: CallKey,
        ct: Option<&str>,
        body: &[u8],
    ) -> Result<OpenedMedia, (u16, &'static str)> {
        let session_id = self.wall_ms(self.anchor.0) ^ key.0.rotate_left(20);
        let Some(plane) = self.media.as_mut() else { return Ok((None, None)) };
        let Some(ports) = plane.ports.take() else {
            warn!("no RTP ports left in media.port_min..port_max");
            return Err((503, "No Media Ports"));
        };
        let mut anchor = Anchor::new(MediaId(key.0), &plane.local, ports, session_id);
        let mut offer = None;
        if !body.is_empty() && is_sdp(ct) {
            match anchor.offer(&plane.local, MediaSide::A, body) {
                Ok(b) => offer = Some(b),
                Err(e) => {
                    info!(error = %e, "INVITE offer refused");
                    plane.ports.give_back(ports);
                    return Err(e.status());
                }
            }
        }
        plane.drain(&mut anchor);
        Ok((Some(anchor), offer))
    }

    /// Rewrites an SDP body crossing the switch from `from`. `Ok(None)`: pass
    /// the body on untouched (not SDP, or media not anchored on this call).
    pub(in crate::engine) fn media_body(
        &mut self,
        key: CallKey,
        from: Side,
        role: SdpRole,
        ct: Option<&str>,
        body: &[u8],
    ) -> Result<Option<Vec<u8>>, AnchorError> {
        if body.is_empty() || !is_sdp(ct) {
            return Ok(None);
        }
        let Some(plane) = self.media.as_mut() else { return Ok(None) };
        let Some(anchor) = self.calls.get_mut(&key).and_then(|c| c.anchor.as_mut()) else { return Ok(None) };
        let side = media_side(from);
        let out = match role {
            SdpRole::Offer => anchor.offer(&plane.local, side, body),
            SdpRole::Answer => anchor.answer(&plane.local, side, body),
        };
        plane.drain(anchor);
        out.map(Some)
    }

    /// A SIP INFO with `application/dtmf-relay` from `from`: when the other
    /// leg takes RFC 4733 events, the digit goes to it on the media path and
    /// true is returned (the INFO is answered here); otherwise the INFO is
    /// relayed as it is.
    pub(in crate::engine) fn media_info_dtmf(&mut self, key: CallKey, from: Side, req: &crate::sip::message::Message) -> bool {
        let Some((digit, duration_ms)) = info_dtmf(req) else { return false };
        let Some(plane) = self.media.as_mut() else { return false };
        let Some(anchor) = self.calls.get(&key).and_then(|c| c.anchor.as_ref()) else { return false };
        let to = media_side(from).other();
        if anchor.leg(to).is_none_or(|p| p.telephone_event.is_none()) {
            return false;
        }
        plane.out.push_back(MediaCommand::Dtmf { id: anchor.id(), side: to, digit, duration_ms });
        true
    }

    /// The call ended: close its media and free its ports.
    pub(in crate::engine) fn media_close(&mut self, anchor: Option<Anchor>, cdr_id: &str) {
        let (Some(plane), Some(anchor)) = (self.media.as_mut(), anchor) else { return };
        if !anchor.retired() {
            plane.ports.give_back(anchor.ports());
        }
        plane.out.push_back(MediaCommand::Close { id: anchor.id(), cdr_id: cdr_id.to_owned() });
    }

    /// Next command for the media plane.
    pub fn poll_media(&mut self) -> Option<MediaCommand> {
        self.media.as_mut()?.out.pop_front()
    }

    /// Something happened in the media plane.
    pub fn handle_media_event(&mut self, now: Instant, ev: MediaEvent) {
        match ev {
            MediaEvent::Timeout { id } => {
                let key = CallKey(id.0);
                if let Some(c) = self.calls.get(&key) {
                    let _e = c.span.enter();
                    info!("no RTP from either leg: hanging up");
                }
                self.end_call_by_switch(now, key, "media-timeout");
            }
            MediaEvent::BindFailed { id } => {
                let key = CallKey(id.0);
                // Another program holds one of these ports: the block is
                // retired rather than handed to the next call.
                if let (Some(plane), Some(c)) = (self.media.as_mut(), self.calls.get_mut(&key)) {
                    if let Some(a) = c.anchor.as_mut() {
                        plane.ports.retire(a.ports());
                        a.mark_retired();
                    }
                }
                if let Some(c) = self.calls.get(&key) {
                    let _e = c.span.enter();
                    warn!("RTP ports of this call are taken by another program");
                }
                self.end_call_by_switch(now, key, "media-ports");
            }
            MediaEvent::Dtmf { id, from, digit, duration_ms } => {
                let key = CallKey(id.0);
                if let Some(c) = self.calls.get(&key) {
                    let span = c.span.clone();
                    let _e = span.enter();
                    // Digits are often PINs and card numbers: the log says a
                    // digit passed, not which (trace level shows it when debugging).
                    info!(?from, duration_ms, "DTMF");
                    tracing::trace!(%digit, "DTMF digit");
                    if from == MediaSide::A {
                        self.ivr_digit(now, key, digit);
                    }
                }
            }
            MediaEvent::Played { id, seq } => {
                let key = CallKey(id.0);
                let span = self.calls.get(&key).map(|c| c.span.clone());
                let _e = span.as_ref().map(|s| s.enter());
                self.ivr_played(now, key, seq);
            }
            MediaEvent::Recorded { id, seq, pcm, rate, by } => {
                let key = CallKey(id.0);
                let span = self.calls.get(&key).map(|c| c.span.clone());
                let _e = span.as_ref().map(|s| s.enter());
                self.ivr_recorded(now, id.0, seq, pcm, rate, by);
            }
            MediaEvent::Closed { cdr_id, quality } => {
                self.store.push_back(StoreOp::CdrQuality { id: cdr_id, quality });
            }
        }
    }
}

/// `Signal=5` / `Duration=160` (the de-facto application/dtmf-relay body);
/// a missing duration means 250 ms, the common default.
pub(crate) fn parse_dtmf_relay(body: &[u8]) -> Option<(char, u32)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut digit = None;
    let mut duration = 250;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "signal" => {
                let c = v.chars().next()?;
                if v.chars().count() == 1 && (c.is_ascii_digit() || "*#ABCDabcd".contains(c)) {
                    digit = Some(c.to_ascii_uppercase());
                }
            }
            "duration" => duration = v.parse::<u32>().ok()?.clamp(40, 5000),
            _ => {}
        }
    }
    Some((digit?, duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_bodies() {
        assert_eq!(parse_dtmf_relay(b"Signal=5\r\nDuration=160\r\n"), Some(('5', 160)));
        assert_eq!(parse_dtmf_relay(b"Signal= #\nDuration= 100"), Some(('#', 100)));
        assert_eq!(parse_dtmf_relay(b"signal=a"), Some(('A', 250)));
        assert_eq!(parse_dtmf_relay(b"Signal=12\r\n"), None);
        assert_eq!(parse_dtmf_relay(b"Duration=100"), None);
        assert_eq!(parse_dtmf_relay(b"Signal=1\r\nDuration=x"), None);
        assert_eq!(parse_dtmf_relay(&[0xff, 0xfe]), None);
    }

    #[test]
    fn sdp_content_types() {
        assert!(is_sdp(Some("application/sdp")));
        assert!(is_sdp(Some("Application/SDP; charset=utf-8")));
        assert!(!is_sdp(Some("multipart/mixed")));
        assert!(!is_sdp(None));
    }
}
