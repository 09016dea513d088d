//! Media anchoring: the sans-IO half of the switch's audio path.
//!
//! The engine (signalling) never touches RTP. For every call it keeps an
//! [`Anchor`]: the SDP offer/answer state of both legs, which writes the
//! switch's own address into every SDP it relays (RFC 3264) and decides the
//! codec of each leg. What the media plane must do is handed to the edge as
//! [`MediaCommand`]s; what happens to the audio comes back as [`MediaEvent`]s.
//! [`CallMedia`] is the per-call data path the edge's worker threads drive:
//! relay without decoding when both legs share a codec and ptime, otherwise
//! jitter buffer → decode → resample → encode, and RFC 4733 / in-band DTMF
//! interworking between the legs; while the switch itself answers A (an IVR),
//! the [`endpoint`] is A's only peer.
//!
//! ```text
//!  leg A socket ─▶ CallMedia::handle_rtp(A) ─┬─ relay: PT rewrite, forward ─────────────▶ leg B socket
//!                                            ├─ transcode: jitter ─▶ decode ─▶ resample ─▶ encode ─▶ leg B
//!                                            └─ endpoint (IVR, no leg B yet): jitter ─▶ decode ─▶ digits, recorder, echo
//!                                               and back to leg A: prompts, tones, music on hold, echo ─▶ encode
//! ```
//!
//! Out of scope here: SRTP/DTLS, video, RTCP feedback (NACK/PLI), ICE.

mod anchor;
mod call_media;
mod dtmf;
mod frame_clock;
mod packet_queue;
pub mod endpoint;
mod ports;
pub mod prompt;
mod transcode;
pub mod wav;

pub use anchor::{Anchor, AnchorError, LocalMedia};
pub use call_media::{CallMedia, MediaConfig, Outgoing};
pub use ports::PortPool;

use std::net::{IpAddr, SocketAddr};

use switchyard_codecs::CodecKind;

/// One call's media session, as named between the engine and the media plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaId(pub u64);

/// The two legs the switch anchors between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaSide {
    /// The caller's leg.
    A,
    /// The called leg.
    B,
}

impl MediaSide {
    /// The other leg.
    pub fn other(self) -> MediaSide {
        match self {
            MediaSide::A => MediaSide::B,
            MediaSide::B => MediaSide::A,
        }
    }

    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            MediaSide::A => 0,
            MediaSide::B => 1,
        }
    }
}

/// What one leg negotiated, from the switch's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegParams {
    /// Where the leg said it receives RTP (the edge latches to the observed
    /// source instead once packets arrive: symmetric RTP through NAT).
    pub remote: Option<SocketAddr>,
    /// Where it receives RTCP (RTP port + 1 unless `a=rtcp` or rtcp-mux).
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share one port (RFC 5761).
    pub rtcp_mux: bool,
    /// The audio codec of the leg.
    pub codec: CodecKind,
    /// Its payload type on this leg.
    pub pt: u8,
    /// Packetisation time the switch uses when it sends to this leg.
    pub ptime_ms: u32,
    /// RFC 4733 telephone-event payload type, when the leg takes events.
    pub telephone_event: Option<u8>,
    /// RFC 3389 comfort-noise payload type, when negotiated.
    pub comfort_noise: Option<u8>,
    /// The switch may send to this leg (false when the leg put itself on
    /// hold: sendonly/inactive from its side).
    pub send: bool,
    /// The leg sends to the switch (false on recvonly/inactive from its side).
    pub recv: bool,
}

/// What the engine asks of the media plane.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaCommand {
    /// Bind the call's ports (RTP on each even port, RTCP on the odd one
    /// above) before anything is negotiated, so that early media latches.
    Open {
        /// The session.
        id: MediaId,
        /// Address to bind.
        addr: IpAddr,
        /// Local RTP ports facing A and B.
        ports: [u16; 2],
    },
    /// A leg's negotiation finished or changed (answer, re-INVITE, hold).
    Update {
        /// The session.
        id: MediaId,
        /// The leg.
        side: MediaSide,
        /// Its parameters.
        params: LegParams,
    },
    /// Send a DTMF digit towards `side` (from a SIP INFO on the other leg).
    Dtmf {
        /// The session.
        id: MediaId,
        /// Leg the digit is sent to.
        side: MediaSide,
        /// 0-9, *, #, A-D.
        digit: char,
        /// How long the tone lasts.
        duration_ms: u32,
    },
    /// Play to leg A as its endpoint (IVR); replaces what played. Leg B, once negotiated,
    /// takes over A's audio and this stops.
    Play {
        /// The session.
        id: MediaId,
        /// Names this playback in its `Played` event.
        seq: u32,
        /// What.
        source: endpoint::Source,
    },
    /// Record leg A's audio until `max`, `silence` of quiet, or `StopRecord`.
    Record {
        /// The session.
        id: MediaId,
        /// Names this recording in its `Recorded` event.
        seq: u32,
        /// Longest recording.
        max: std::time::Duration,
        /// Stop after this much silence.
        silence: Option<std::time::Duration>,
    },
    /// `side` left the call (blind transfer): stop sending to it and forget what it
    /// negotiated until it is negotiated again.
    Detach {
        /// The session.
        id: MediaId,
        /// The leg.
        side: MediaSide,
    },
    /// End the recording in progress (its `Recorded` event follows).
    StopRecord {
        /// The session.
        id: MediaId,
    },
    /// The call ended: report quality, close the sockets, forget the session.
    Close {
        /// The session.
        id: MediaId,
        /// The CDR the quality figures belong to.
        cdr_id: String,
    },
}

/// What the media plane tells the engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// No RTP from either active leg for `media.timeout_s`.
    Timeout {
        /// The session.
        id: MediaId,
    },
    /// A DTMF digit ended on `from` (from RFC 4733 events or detected in-band).
    Dtmf {
        /// The session.
        id: MediaId,
        /// Leg it came from.
        from: MediaSide,
        /// The digit.
        digit: char,
        /// How long it lasted.
        duration_ms: u32,
    },
    /// What `Play` started finished by itself.
    Played {
        /// The session.
        id: MediaId,
        /// The `Play` command's number.
        seq: u32,
    },
    /// A recording ended.
    Recorded {
        /// The session.
        id: MediaId,
        /// The `Record` command's number.
        seq: u32,
        /// 16-bit mono samples.
        pcm: Vec<i16>,
        /// Their rate.
        rate: u32,
        /// Why it ended.
        by: endpoint::RecordEnd,
    },
    /// The ports could not be bound (taken by another program).
    BindFailed {
        /// The session.
        id: MediaId,
    },
    /// The session closed; its quality figures for the CDR.
    Closed {
        /// The CDR these belong to.
        cdr_id: String,
        /// Leg A then leg B.
        quality: [LegQuality; 2],
    },
}

/// Receive-side quality of one leg, for the CDR.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LegQuality {
    /// Packets received from the leg.
    pub packets: u64,
    /// Packets the leg sent that never arrived.
    pub lost: u64,
    /// RFC 3550 interarrival jitter, milliseconds.
    pub jitter_ms: f64,
    /// Round-trip time from RTCP, when the leg reported one.
    pub rtt_ms: Option<f64>,
    /// Estimated MOS (ITU-T G.107 E-model).
    pub mos: f64,
}
