//! One call's SDP offer/answer state, as an anchoring B2BUA keeps it.
//!
//! Every SDP crossing the switch is rewritten: an offer from one leg becomes
//! the switch's own offer to the other (same codecs first, so that the legs
//! can usually be relayed without decoding, then every codec the switch can
//! transcode to), and the other leg's answer becomes the switch's answer to
//! the offerer, favouring the codec the answerer chose. Once an offerer has
//! been answered, the same answer is repeated for the rest of that exchange
//! (RFC 3264 §8: a 183 and the 200 after it carry identical answers) even if
//! another fork answers with a different codec: the media plane then
//! transcodes.
//!
//! The engine decides what a body is (an INVITE's or UPDATE's body is an
//! offer; the answer to an offerless INVITE is an offer; an ACK's body is an
//! answer) and calls [`Anchor::offer`] or [`Anchor::answer`].

use std::net::{IpAddr, SocketAddr};

use switchyard_codecs::CodecKind;
use thiserror::Error;

use crate::sdp::{self, LocalCaps, Negotiated, Origin, SessionDescription};

use super::{LegParams, MediaCommand, MediaId, MediaSide};

/// What the switch offers, shared by every call.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// The address written into SDP (c= line) and bound by the RTP sockets.
    pub addr: IpAddr,
    /// Codecs and options.
    pub caps: LocalCaps,
}

/// Why an SDP body was refused; the engine answers with [`AnchorError::status`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// The body is not SDP the switch can read.
    #[error("malformed SDP: {0}")]
    Malformed(#[from] sdp::SdpError),
    /// Nothing in it the switch can carry (no audio codec in common).
    #[error("SDP not acceptable: {0}")]
    NotAcceptable(#[from] sdp::OfferAnswerError),
    /// An answer arrived with no offer outstanding towards its sender.
    #[error("SDP answer without an offer")]
    NoOffer,
}

impl AnchorError {
    /// SIP status for a refused offer: 400 for unreadable SDP, 488 otherwise.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            AnchorError::Malformed(_) => (400, "Malformed SDP"),
            AnchorError::NotAcceptable(_) | AnchorError::NoOffer => (488, "Not Acceptable Here"),
        }
    }
}

struct Pending {
    from: MediaSide,
    offer_in: SessionDescription,
    offer_out: SessionDescription,
    answer_out: Option<(Vec<u8>, Option<Negotiated>)>,
}

/// Offer/answer state of one call.
pub struct Anchor {
    id: MediaId,
    ports: [u16; 2],
    origin: [Origin; 2],
    last_sent: [Option<SessionDescription>; 2],
    pending: Option<Pending>,
    legs: [Option<LegParams>; 2],
    commands: Vec<MediaCommand>,
    retired: bool,
}

impl Anchor {
    /// A call's anchor on local RTP `ports` (facing A, facing B); asks the
    /// media plane to bind them at once.
    pub fn new(id: MediaId, local: &LocalMedia, ports: [u16; 2], session_id: u64) -> Anchor {
        let origin = |n: u64| Origin::new("switchyard", session_id.wrapping_add(n), 1, local.addr);
        Anchor {
            id,
            ports,
            origin: [origin(0), origin(1)],
            last_sent: [None, None],
            pending: None,
            legs: [None, None],
            commands: vec![MediaCommand::Open { id, addr: local.addr, ports }],
            retired: false,
        }
    }

    /// The local RTP ports facing A and B.
    pub fn ports(&self) -> [u16; 2] {
        self.ports
    }

    /// The ports could not be bound: they must not return to the pool.
    pub fn mark_retired(&mut self) {
        self.retired = true;
    }

    /// Whether [`Anchor::mark_retired`] was called.
    pub fn retired(&self) -> bool {
        self.retired
    }

    /// The session id.
    pub fn id(&self) -> MediaId {
        self.id
    }

    /// What one leg negotiated so far.
    pub fn leg(&self, side: MediaSide) -> Option<&LegParams> {
        self.legs[side.index()].as_ref()
    }

    /// An offer from `from`: returns the switch's offer for the other leg.
    pub fn offer(&mut self, local: &LocalMedia, from: MediaSide, body: &[u8]) -> Result<Vec<u8>, AnchorError> {
        let offer_in = sdp::parse(body)?;
        let to = from.other();
        let ports = ports_for(&offer_in, self.ports[to.index()]);
        if !ports.iter().any(|&p| p != 0) {
            return Err(AnchorError::NotAcceptable(sdp::OfferAnswerError::NoAudioCodec { index: 0 }));
        }
        // The offerer must get an audio stream back from the switch: an offer
        // with no codec the switch can carry gets 488 now (RFC 3261
        // §13.3.1.3), not a call without audio after the other leg answers.
        let own = ports_for(&offer_in, self.ports[from.index()]);
        let trial = sdp::answer(&offer_in, &local.caps, local.addr, &own, &self.origin[from.index()], None)?;
        if first_audio(&trial.1).is_none() {
            return Err(AnchorError::NotAcceptable(sdp::OfferAnswerError::NoAudioCodec { index: 0 }));
        }
        let offer_out = self.versioned(to, |origin| sdp::offer(&local.caps, local.addr, &ports, origin, Some(&offer_in)));
        let bytes = offer_out.to_bytes();
        self.pending = Some(Pending { from, offer_in, offer_out, answer_out: None });
        Ok(bytes)
    }

    /// An answer from `from` to the switch's last offer to it: returns the
    /// switch's answer for the offerer (the same bytes every time within one
    /// exchange) and queues media updates for both legs.
    pub fn answer(&mut self, local: &LocalMedia, from: MediaSide, body: &[u8]) -> Result<Vec<u8>, AnchorError> {
        let answer_in = sdp::parse(body)?;
        let Some(p) = self.pending.as_ref().filter(|p| p.from == from.other()) else {
            return Err(AnchorError::NoOffer);
        };
        let negotiated = sdp::apply_answer(&p.offer_out, &answer_in)?;
        let theirs = first_audio(&negotiated).cloned();
        let offerer = p.from;
        let (bytes, ours) = match &p.answer_out {
            Some((bytes, ours)) => (bytes.clone(), ours.clone()),
            None => {
                let prefer: Vec<_> = theirs.iter().filter_map(|n| n.codec.kind()).collect();
                self.answer_pending(local, offerer, Some(&prefer))?
            }
        };
        self.set_leg(from, theirs.as_ref(), local);
        self.set_leg(offerer, ours.as_ref(), local);
        Ok(bytes)
    }

    /// The switch answers the offer `from` made itself (IVR: no other leg yet). The offer
    /// stays as the reference for a later [`Anchor::offer_on`] to the other leg, so that
    /// the other leg is offered A's codec first and can usually be relayed.
    pub fn answer_locally(&mut self, local: &LocalMedia, from: MediaSide) -> Result<Vec<u8>, AnchorError> {
        let Some(p) = self.pending.as_ref().filter(|p| p.from == from) else {
            return Err(AnchorError::NoOffer);
        };
        if let Some((bytes, _)) = &p.answer_out {
            return Ok(bytes.clone());
        }
        let (bytes, ours) = self.answer_pending(local, from, None)?;
        self.set_leg(from, ours.as_ref(), local);
        Ok(bytes)
    }

    /// The switch's answer to the pending offer, which `offerer` made, kept in the
    /// exchange so that every later ask gets the same bytes; `prefer` orders the codecs.
    fn answer_pending(
        &mut self,
        local: &LocalMedia,
        offerer: MediaSide,
        prefer: Option<&[CodecKind]>,
    ) -> Result<(Vec<u8>, Option<Negotiated>), AnchorError> {
        let Some(offer_in) = self.pending.as_ref().map(|p| p.offer_in.clone()) else {
            return Err(AnchorError::NoOffer);
        };
        let ports = ports_for(&offer_in, self.ports[offerer.index()]);
        let mut result = Err(AnchorError::NoOffer);
        let desc = self.versioned_try(offerer, |origin| match sdp::answer(&offer_in, &local.caps, local.addr, &ports, origin, prefer) {
            Ok((desc, negs)) => {
                result = Ok(first_audio(&negs).cloned());
                Some(desc)
            }
            Err(e) => {
                result = Err(AnchorError::NotAcceptable(e));
                None
            }
        });
        let ours = result?;
        let Some(desc) = desc else { return Err(AnchorError::NoOffer) };
        let bytes = desc.to_bytes();
        if let Some(p) = self.pending.as_mut() {
            p.answer_out = Some((bytes.clone(), ours.clone()));
        }
        Ok((bytes, ours))
    }

    /// A fresh offer from the switch to `to` after the other leg was answered locally: the
    /// other leg's own offer orders the codecs. `to`'s answer then goes to
    /// [`Anchor::answer`], which keeps the answer already given to the other leg.
    pub fn offer_on(&mut self, local: &LocalMedia, to: MediaSide) -> Option<Vec<u8>> {
        let p = self.pending.as_ref().filter(|p| p.from == to.other() && p.answer_out.is_some())?;
        let offer_in = p.offer_in.clone();
        let ports = ports_for(&offer_in, self.ports[to.index()]);
        let offer_out = self.versioned(to, |origin| sdp::offer(&local.caps, local.addr, &ports, origin, Some(&offer_in)));
        let bytes = offer_out.to_bytes();
        if let Some(p) = self.pending.as_mut() {
            p.offer_out = offer_out;
        }
        Some(bytes)
    }

    /// `side` left the call (the transferor of a blind transfer): its media stops, and the
    /// next [`Anchor::offer_on`] towards it offers what the other leg uses, as the switch
    /// last described it to that leg.
    pub fn detach(&mut self, side: MediaSide) {
        self.legs[side.index()] = None;
        self.commands.push(MediaCommand::Detach { id: self.id, side });
        let stay = side.other();
        if let Some(last) = self.last_sent[stay.index()].clone() {
            self.pending = Some(Pending { from: stay, offer_in: last.clone(), offer_out: last, answer_out: Some((Vec::new(), None)) });
        }
    }

    /// The next command for the media plane.
    pub fn poll_command(&mut self) -> Option<MediaCommand> {
        if self.commands.is_empty() { None } else { Some(self.commands.remove(0)) }
    }

    fn set_leg(&mut self, side: MediaSide, neg: Option<&Negotiated>, local: &LocalMedia) {
        let Some(params) = neg.and_then(|n| leg_params(n, local.caps.ptime)) else { return };
        if self.legs[side.index()].as_ref() == Some(&params) {
            return;
        }
        self.legs[side.index()] = Some(params.clone());
        self.commands.push(MediaCommand::Update { id: self.id, side, params });
    }

    /// Builds an SDP towards `to`, bumping the origin's version only when the
    /// description changed since the last one sent there (RFC 3264 §8).
    fn versioned(&mut self, to: MediaSide, build: impl Fn(&Origin) -> SessionDescription) -> SessionDescription {
        let built = self.versioned_try(to, |origin| Some(build(origin)));
        // The builder above never returns None.
        built.unwrap_or_else(|| build(&self.origin[to.index()]))
    }

    /// [`Anchor::versioned`] for a builder that may fail (`None`).
    fn versioned_try(&mut self, to: MediaSide, mut build: impl FnMut(&Origin) -> Option<SessionDescription>) -> Option<SessionDescription> {
        let i = to.index();
        let mut desc = build(&self.origin[i])?;
        if self.last_sent[i].as_ref().is_some_and(|last| *last != desc) {
            self.origin[i].bump_version();
            desc = build(&self.origin[i])?;
        }
        self.last_sent[i] = Some(desc.clone());
        Some(desc)
    }
}

/// One local port for the first usable audio m-line; 0 (rejected) for the rest.
fn ports_for(desc: &SessionDescription, port: u16) -> Vec<u16> {
    let mut used = false;
    desc.media
        .iter()
        .map(|m| {
            if !used && m.media == sdp::MediaType::Audio && m.port != 0 {
                used = true;
                port
            } else {
                0
            }
        })
        .collect()
}

fn first_audio(negs: &[Negotiated]) -> Option<&Negotiated> {
    negs.iter().find(|n| n.codec.kind().is_some())
}

fn leg_params(n: &Negotiated, default_ptime: u32) -> Option<LegParams> {
    let codec = n.codec.kind()?;
    let remote = n.remote;
    let remote_rtcp = if n.rtcp_mux {
        remote
    } else {
        n.remote_rtcp.or_else(|| remote.map(|r| SocketAddr::new(r.ip(), r.port().wrapping_add(1))))
    };
    let (send, recv) = match n.direction {
        sdp::Direction::SendRecv => (true, true),
        sdp::Direction::SendOnly => (true, false),
        sdp::Direction::RecvOnly => (false, true),
        sdp::Direction::Inactive => (false, false),
    };
    Some(LegParams {
        remote,
        remote_rtcp,
        rtcp_mux: n.rtcp_mux,
        codec,
        pt: n.codec.pt,
        ptime_ms: if n.ptime == 0 { default_ptime } else { n.ptime }.clamp(10, 120),
        telephone_event: n.telephone_event.as_ref().map(|c| c.pt),
        comfort_noise: n.comfort_noise,
        send: send && remote.is_some(),
        recv,
    })
}
