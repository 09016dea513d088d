//! RFC 3264 offer/answer for a B2BUA that anchors media: every SDP it sends
//! names its own address and ports, one codec per answered audio stream, and
//! PTs chosen so that relaying between legs needs no payload type rewrite
//! whenever both legs agree on a codec.
//!
//! A typical call: the A leg's offer arrives; [`offer`] builds the B leg's
//! offer from it (same m-lines, A's transcodable codecs first on A's PTs);
//! [`apply_answer`] reads what B chose; [`answer`] answers A, with
//! `prefer = [B's codec]` so that both legs carry the same codec if A offered it.
//!
//! Out of scope: SRTP/DTLS (`RTP/SAVP*` streams are refused with port 0),
//! non-audio media (refused with port 0), ICE candidates, and answering with
//! several audio codecs (one is chosen, so the media path never switches
//! codec mid-stream).

use std::net::{IpAddr, SocketAddr};

use switchyard_codecs::CodecKind;
use thiserror::Error;

use super::codec::{Codec, DYNAMIC_PT_FIRST, DYNAMIC_PT_LAST};
use super::media::{Direction, Format, MediaDescription, MediaType, Proto};
use super::session::{Connection, Origin, SessionDescription};

/// What this switch can do with media on one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCaps {
    /// The codecs the switch can transcode, most preferred first.
    pub audio: Vec<CodecKind>,
    /// Whether RFC 4733 telephone-events are accepted and sent.
    pub telephone_event: bool,
    /// Whether RFC 3389 comfort noise is accepted.
    pub comfort_noise: bool,
    /// Packet time in ms the switch asks peers to send.
    pub ptime: u32,
}

impl Default for LocalCaps {
    /// PCMU, PCMA, G.722, opus; telephone-event; no CN; 20 ms.
    fn default() -> Self {
        LocalCaps {
            audio: vec![
                CodecKind::Pcmu,
                CodecKind::Pcma,
                CodecKind::G722,
                CodecKind::Opus,
            ],
            telephone_event: true,
            comfort_noise: false,
            ptime: 20,
        }
    }
}

/// The outcome for one accepted audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Index of the m-line in the offer and the answer.
    pub index: usize,
    /// The codec both ends use, with the peer's PT and fmtp (the parameters
    /// the peer wants to receive).
    pub codec: Codec,
    /// RFC 4733 events, with the peer's PT.
    pub telephone_event: Option<Codec>,
    /// PT of RFC 3389 comfort noise, when both ends use it.
    pub comfort_noise: Option<u8>,
    /// Where to send RTP; `None` when the peer holds with `c=0.0.0.0`.
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP (the RTP address under rtcp-mux).
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share one port (RFC 5761).
    pub rtcp_mux: bool,
    /// Our direction: whether this switch sends and receives on the stream.
    pub direction: Direction,
    /// Packet time in ms to send at (the peer's `a=ptime`, bounded by its
    /// `a=maxptime`).
    pub ptime: u32,
}

/// Why offer/answer failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OfferAnswerError {
    /// Caller error: `ports` must have one entry per m-line of the offer.
    #[error("{ports} ports given for {m_lines} m-lines")]
    PortCount {
        /// m-lines in the offer.
        m_lines: usize,
        /// Ports given.
        ports: usize,
    },
    /// The answer does not have as many m-lines as the offer (RFC 3264 §6).
    #[error("answer has {answer} m-lines, offer had {offer}")]
    MediaCount {
        /// m-lines offered.
        offer: usize,
        /// m-lines answered.
        answer: usize,
    },
    /// The answer changed an m-line's media type.
    #[error("m-line {index}: answer changed the media type")]
    MediaTypeChanged {
        /// m-line index.
        index: usize,
    },
    /// The answer names a codec the offer did not.
    #[error("m-line {index}: answer uses payload type {pt}, not offered")]
    UnofferedCodec {
        /// m-line index.
        index: usize,
        /// The payload type in the answer.
        pt: u8,
    },
    /// The answer accepted a stream but chose no audio codec.
    #[error("m-line {index}: accepted without an audio codec")]
    NoAudioCodec {
        /// m-line index.
        index: usize,
    },
    /// An active stream with no `c=` at either level.
    #[error("m-line {index}: no connection address")]
    NoConnection {
        /// m-line index.
        index: usize,
    },
}

/// Answers an offer (RFC 3264 §6) from this switch's address.
///
/// `ports[i]` is the local RTP port for m-line `i`, 0 to refuse it. Each
/// accepted audio stream gets one codec: the first of `prefer` that the offer
/// holds (transcodable or not: a codec the other leg already uses is relayed),
/// else the offer's first transcodable codec. The answer carries the offer's
/// PTs, telephone-event and CN when offered and enabled, the reversed
/// direction, rtcp-mux if offered and `a=ptime` from `caps`. Streams that are
/// not plain RTP audio, or have no codec in common, are refused with port 0.
pub fn answer(
    offer: &SessionDescription,
    caps: &LocalCaps,
    local_addr: IpAddr,
    ports: &[u16],
    origin: &Origin,
    prefer: Option<&[CodecKind]>,
) -> Result<(SessionDescription, Vec<Negotiated>), OfferAnswerError> {
    if ports.len() != offer.media.len() {
        return Err(OfferAnswerError::PortCount {
            m_lines: offer.media.len(),
            ports: ports.len(),
        });
    }
    let mut sdp = SessionDescription::new(origin.clone());
    sdp.connection = Some(Connection::new(local_addr));
    let mut negotiated = Vec::new();
    for (index, (m, &port)) in offer.media.iter().zip(ports).enumerate() {
        match answer_media(offer, index, m, caps, port, prefer)? {
            Some((media, n)) => {
                sdp.media.push(media);
                negotiated.push(n);
            }
            None => sdp.media.push(refused(m)),
        }
    }
    Ok((sdp, negotiated))
}

fn answer_media(
    offer: &SessionDescription,
    index: usize,
    m: &MediaDescription,
    caps: &LocalCaps,
    port: u16,
    prefer: Option<&[CodecKind]>,
) -> Result<Option<(MediaDescription, Negotiated)>, OfferAnswerError> {
    if port == 0 || m.port == 0 || m.media != MediaType::Audio || !m.proto.is_plain_rtp() {
        return Ok(None);
    }
    let offered = m.codecs();
    let preferred = prefer.and_then(|kinds| {
        kinds
            .iter()
            .find_map(|&k| offered.iter().find(|c| c.kind() == Some(k)))
    });
    let transcodable = || {
        offered
            .iter()
            .find(|c| c.kind().is_some_and(|k| caps.audio.contains(&k)))
    };
    let Some(chosen) = preferred.or_else(transcodable) else {
        return Ok(None);
    };
    let telephone_event = if caps.telephone_event {
        events_for(&offered, chosen.clock_rate)
    } else {
        None
    };
    let comfort_noise = if caps.comfort_noise {
        offered
            .iter()
            .find(|c| c.is_comfort_noise() && c.clock_rate == chosen.clock_rate)
    } else {
        None
    };
    let conn = offer
        .connection_for(index)
        .ok_or(OfferAnswerError::NoConnection { index })?;
    let mut direction = offer.direction_for(index).reverse();
    if conn.is_unspecified() {
        // RFC 3264 §8.4: c=0.0.0.0 asks us not to send.
        direction = direction.intersect(Direction::RecvOnly);
    }
    let (remote, remote_rtcp) = remote_addrs(conn, m, m.rtcp_mux);

    let mut media = MediaDescription::new(MediaType::Audio, port, m.proto.clone(), Vec::new());
    let mut ours = chosen.clone();
    if ours.kind() == Some(CodecKind::Opus) {
        // The offer's opus fmtp states what the offerer wants to receive
        // (stereo, FEC); echoing it would claim the same for us. Defaults
        // (mono, no FEC required) are what the switch decodes.
        ours.fmtp = None;
    }
    media.push_codec(&ours);
    if let Some(te) = telephone_event {
        media.push_codec(te);
    }
    if let Some(cn) = comfort_noise {
        media.push_codec(cn);
    }
    media.ptime = Some(caps.ptime);
    media.direction = Some(direction);
    media.rtcp_mux = m.rtcp_mux;

    let negotiated = Negotiated {
        index,
        codec: chosen.clone(),
        telephone_event: telephone_event.cloned(),
        comfort_noise: comfort_noise.map(|c| c.pt),
        remote,
        remote_rtcp,
        rtcp_mux: m.rtcp_mux,
        direction,
        ptime: send_ptime(m, caps.ptime),
    };
    Ok(Some((media, negotiated)))
}

/// Builds the B leg's offer. Without a template: one audio m-line with
/// `caps.audio` in order (static PTs where RFC 3551 has them), one
/// telephone-event per clock rate, CN/8000, rtcp-mux. With a template (the A
/// leg's offer): the same m-lines in the same order; on each plain RTP audio
/// line, the template's codecs that `caps` can transcode first, on the
/// template's PTs and fmtps (so B's choice can be relayed to A untouched),
/// then the remaining `caps` codecs on PTs the template does not use; its
/// telephone-events and CN; its direction (`c=0.0.0.0` read as hold); its
/// ptime. Everything else is offered with port 0. `ports[i]` is the local port
/// for m-line `i`; a missing entry counts as 0.
pub fn offer(
    caps: &LocalCaps,
    local_addr: IpAddr,
    ports: &[u16],
    origin: &Origin,
    template: Option<&SessionDescription>,
) -> SessionDescription {
    let mut sdp = SessionDescription::new(origin.clone());
    sdp.connection = Some(Connection::new(local_addr));
    let port = |i: usize| ports.get(i).copied().unwrap_or(0);
    match template {
        None => sdp.media.push(fresh_audio(caps, port(0))),
        Some(t) => {
            for (index, tm) in t.media.iter().enumerate() {
                sdp.media.push(relay_media(t, index, tm, caps, port(index)));
            }
        }
    }
    sdp
}

fn fresh_audio(caps: &LocalCaps, port: u16) -> MediaDescription {
    let mut m = MediaDescription::new(MediaType::Audio, port, Proto::RtpAvp, Vec::new());
    let mut pts = PtAllocator::default();
    add_caps_codecs(&mut m, caps, &mut pts);
    if m.formats.is_empty() {
        // Nothing to offer: a refused line still needs one format.
        m.port = 0;
        m.formats.push(Format::Pt(0));
        return m;
    }
    m.ptime = Some(caps.ptime);
    m.rtcp_mux = true;
    m.direction = Some(Direction::SendRecv);
    m
}

fn relay_media(
    t: &SessionDescription,
    index: usize,
    tm: &MediaDescription,
    caps: &LocalCaps,
    port: u16,
) -> MediaDescription {
    if port == 0 || tm.port == 0 || tm.media != MediaType::Audio || !tm.proto.is_plain_rtp() {
        return refused(tm);
    }
    let mut m = MediaDescription::new(MediaType::Audio, port, tm.proto.clone(), Vec::new());
    let mut pts = PtAllocator::default();
    for pt in tm.payload_types().chain(tm.rtpmaps.iter().map(|r| r.pt)) {
        pts.mark(pt);
    }
    let offered = tm.codecs();
    let keep = |c: &&Codec| {
        c.kind().is_some_and(|k| caps.audio.contains(&k))
            || (caps.telephone_event && c.is_telephone_event())
            || (caps.comfort_noise && c.is_comfort_noise())
    };
    for c in offered.iter().filter(keep) {
        m.push_codec(c);
    }
    add_caps_codecs(&mut m, caps, &mut pts);
    if !m.codecs().iter().any(|c| c.kind().is_some()) {
        return refused(tm);
    }
    let mut direction = t.direction_for(index);
    if t.connection_for(index)
        .is_some_and(Connection::is_unspecified)
    {
        direction = direction.intersect(Direction::SendOnly);
    }
    m.direction = Some(direction);
    m.ptime = tm.ptime.or(Some(caps.ptime));
    m.maxptime = tm.maxptime;
    m.rtcp_mux = tm.rtcp_mux;
    m
}

/// Appends the `caps` codecs `m` lacks, then a telephone-event for each
/// clock rate without one, then CN/8000.
fn add_caps_codecs(m: &mut MediaDescription, caps: &LocalCaps, pts: &mut PtAllocator) {
    for &kind in &caps.audio {
        if m.codecs().iter().any(|c| c.kind() == Some(kind)) {
            continue;
        }
        if let Some(pt) = pts.take(Codec::static_pt(kind)) {
            m.push_codec(&Codec::for_kind(kind, pt));
        }
    }
    let present = m.codecs();
    if caps.telephone_event {
        let mut rates: Vec<u32> = present
            .iter()
            .filter(|c| c.kind().is_some())
            .map(|c| c.clock_rate)
            .collect();
        rates.sort_unstable();
        rates.dedup();
        for rate in rates {
            if m.codecs()
                .iter()
                .any(|c| c.is_telephone_event() && c.clock_rate == rate)
            {
                continue;
            }
            // 101 is what many phones assume for DTMF at 8 kHz.
            if let Some(pt) = pts.take((rate == 8000).then_some(101)) {
                m.push_codec(&Codec::telephone_event(pt, rate));
            }
        }
    }
    let has_8k = present
        .iter()
        .any(|c| c.kind().is_some() && c.clock_rate == 8000);
    let has_cn = present.iter().any(Codec::is_comfort_noise);
    if caps.comfort_noise && has_8k && !has_cn {
        if let Some(pt) = pts.take(Some(13)) {
            m.push_codec(&Codec {
                pt,
                ..Codec::comfort_noise()
            });
        }
    }
}

/// Reads the answer to an offer this switch sent (RFC 3264 §7): per accepted
/// audio stream, the first codec of the answer's list, its events and CN,
/// the peer's address, and our direction given what both sides said. A PT
/// renumbered by the answerer is accepted when its rtpmap names a format we
/// offered; anything we did not offer is an error.
pub fn apply_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Vec<Negotiated>, OfferAnswerError> {
    if offer.media.len() != answer.media.len() {
        return Err(OfferAnswerError::MediaCount {
            offer: offer.media.len(),
            answer: answer.media.len(),
        });
    }
    let mut out = Vec::new();
    for (index, (o, a)) in offer.media.iter().zip(&answer.media).enumerate() {
        if o.media != a.media {
            return Err(OfferAnswerError::MediaTypeChanged { index });
        }
        if o.port == 0 || a.port == 0 || o.media != MediaType::Audio || !o.proto.is_rtp() {
            continue;
        }
        let mut answered = Vec::new();
        for pt in a.payload_types() {
            // An answer may leave out the rtpmap of a PT it kept from the offer.
            let codec = a.codec(pt).or_else(|| o.codec(pt));
            let offered = codec
                .as_ref()
                .is_some_and(|c| o.codecs().iter().any(|oc| oc.same_format(c)));
            match codec {
                Some(c) if offered => answered.push(c),
                _ => return Err(OfferAnswerError::UnofferedCodec { index, pt }),
            }
        }
        let codec = answered
            .iter()
            .find(|c| !c.is_telephone_event() && !c.is_comfort_noise())
            .cloned()
            .ok_or(OfferAnswerError::NoAudioCodec { index })?;
        let conn = answer
            .connection_for(index)
            .ok_or(OfferAnswerError::NoConnection { index })?;
        let rtcp_mux = o.rtcp_mux && a.rtcp_mux;
        let (remote, remote_rtcp) = remote_addrs(conn, a, rtcp_mux);
        let mut direction = offer
            .direction_for(index)
            .intersect(answer.direction_for(index).reverse());
        if conn.is_unspecified() {
            direction = direction.intersect(Direction::RecvOnly);
        }
        out.push(Negotiated {
            index,
            telephone_event: events_for(&answered, codec.clock_rate).cloned(),
            comfort_noise: answered
                .iter()
                .find(|c| c.is_comfort_noise() && c.clock_rate == codec.clock_rate)
                .map(|c| c.pt),
            codec,
            remote,
            remote_rtcp,
            rtcp_mux,
            direction,
            ptime: send_ptime(a, o.ptime.unwrap_or(20)),
        });
    }
    Ok(out)
}

/// Whether the sender of `session` holds the stream `media` (RFC 3264 §8.4):
/// it declares sendonly or inactive, or names the unspecified address.
pub fn is_hold(media: &MediaDescription, session: &SessionDescription) -> bool {
    let direction = media
        .direction
        .or(session.direction)
        .unwrap_or(Direction::SendRecv);
    let conn = media.connection.as_ref().or(session.connection.as_ref());
    matches!(direction, Direction::SendOnly | Direction::Inactive)
        || conn.is_some_and(Connection::is_unspecified)
}

/// The m-line refused (RFC 3264 §6: port 0, formats kept so the line stays
/// valid).
fn refused(m: &MediaDescription) -> MediaDescription {
    MediaDescription::new(m.media.clone(), 0, m.proto.clone(), m.formats.clone())
}

/// RFC 4733 §2.1: events ride the audio clock, so the matching rate wins; a
/// peer offering only telephone-event/8000 next to opus still gets DTMF.
fn events_for(codecs: &[Codec], clock_rate: u32) -> Option<&Codec> {
    let mut events = codecs.iter().filter(|c| c.is_telephone_event());
    let first = events.clone().next();
    events.find(|c| c.clock_rate == clock_rate).or(first)
}

/// RTP and RTCP destinations of the sender of `m`: none under hold, the RTP
/// address under rtcp-mux, RFC 3605 `a=rtcp` if present, else port + 1.
fn remote_addrs(
    conn: &Connection,
    m: &MediaDescription,
    rtcp_mux: bool,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    if conn.is_unspecified() || m.port == 0 {
        return (None, None);
    }
    let rtp = SocketAddr::new(conn.addr, m.port);
    let rtcp = if rtcp_mux {
        Some(rtp)
    } else if let Some(r) = m.rtcp {
        Some(SocketAddr::new(r.addr.unwrap_or(conn.addr), r.port))
    } else {
        m.port.checked_add(1).map(|p| SocketAddr::new(conn.addr, p))
    };
    (Some(rtp), rtcp)
}

/// What to send at: the peer's ptime, else ours, capped by its maxptime.
fn send_ptime(peer: &MediaDescription, fallback: u32) -> u32 {
    let ptime = peer.ptime.unwrap_or(fallback);
    peer.maxptime.map_or(ptime, |max| ptime.min(max))
}

/// Hands out payload types: a wanted one if free, else the lowest free
/// dynamic PT.
struct PtAllocator {
    used: [bool; 128],
}

impl Default for PtAllocator {
    fn default() -> Self {
        PtAllocator { used: [false; 128] }
    }
}

impl PtAllocator {
    fn mark(&mut self, pt: u8) {
        if let Some(u) = self.used.get_mut(usize::from(pt)) {
            *u = true;
        }
    }

    fn take(&mut self, wanted: Option<u8>) -> Option<u8> {
        let free = |used: &[bool; 128], pt: u8| used.get(usize::from(pt)).is_some_and(|u| !u);
        let pt = wanted
            .filter(|&pt| free(&self.used, pt))
            .or_else(|| (DYNAMIC_PT_FIRST..=DYNAMIC_PT_LAST).find(|&pt| free(&self.used, pt)))?;
        self.mark(pt);
        Some(pt)
    }
}

#[cfg(test)]
mod tests;
