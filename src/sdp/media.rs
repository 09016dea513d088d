//! The media level of an SDP (RFC 8866 §5.14): the m-line and the attributes
//! the switch acts on (`rtpmap`, `fmtp`, `ptime`, `maxptime`, direction,
//! RFC 3605 `rtcp`, RFC 5761 `rtcp-mux`).

use std::net::IpAddr;

use super::codec::{Codec, static_codec};
use super::session::{Attribute, Bandwidth, Connection};

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, ...
    pub media: MediaType,
    /// Transport port; 0 means the stream is disabled or rejected.
    pub port: u16,
    /// The `/<n>` after the port (layered multicast), rarely sent.
    pub port_count: Option<u16>,
    /// Transport protocol.
    pub proto: Proto,
    /// Payload types on RTP profiles, verbatim tokens otherwise.
    pub formats: Vec<Format>,
    /// `i=`.
    pub information: Option<String>,
    /// `c=` of this m-line, overriding the session's.
    pub connection: Option<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` verbatim.
    pub key: Option<String>,
    /// `a=rtpmap` lines (RTP profiles only), in order.
    pub rtpmaps: Vec<Rtpmap>,
    /// `a=fmtp` lines (RTP profiles only), each after its rtpmap's position.
    pub fmtps: Vec<Fmtp>,
    /// `a=ptime`: packet duration in ms the sender of this SDP wants to receive.
    pub ptime: Option<u32>,
    /// `a=maxptime` in ms.
    pub maxptime: Option<u32>,
    /// `a=sendrecv|sendonly|recvonly|inactive` of this m-line.
    pub direction: Option<Direction>,
    /// `a=rtcp` (RFC 3605): RTCP port when it is not RTP port + 1.
    pub rtcp: Option<Rtcp>,
    /// `a=rtcp-mux` (RFC 5761): RTP and RTCP share the RTP port.
    pub rtcp_mux: bool,
    /// Every other `a=` line, verbatim and in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// An m-line with no attributes.
    pub fn new(media: MediaType, port: u16, proto: Proto, formats: Vec<Format>) -> Self {
        MediaDescription {
            media,
            port,
            port_count: None,
            proto,
            formats,
            information: None,
            connection: None,
            bandwidths: Vec::new(),
            key: None,
            rtpmaps: Vec::new(),
            fmtps: Vec::new(),
            ptime: None,
            maxptime: None,
            direction: None,
            rtcp: None,
            rtcp_mux: false,
            attributes: Vec::new(),
        }
    }

    /// The payload types listed on the m-line, in preference order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| match f {
            Format::Pt(pt) => Some(*pt),
            Format::Token(_) => None,
        })
    }

    /// The rtpmap of a payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<&Rtpmap> {
        self.rtpmaps.iter().find(|r| r.pt == pt)
    }

    /// The fmtp parameters of a payload type.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.fmtps
            .iter()
            .find(|f| f.pt == pt)
            .map(|f| f.params.as_str())
    }

    /// The codecs of the m-line in preference order, each resolved from its
    /// rtpmap or, failing that, from the static table of RFC 3551. A dynamic
    /// payload type with no rtpmap names nothing and is left out.
    pub fn codecs(&self) -> Vec<Codec> {
        self.payload_types()
            .filter_map(|pt| self.codec(pt))
            .collect()
    }

    /// The codec behind one payload type (see [`MediaDescription::codecs`]).
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        let mut codec = match self.rtpmap(pt) {
            Some(r) => Codec {
                pt,
                name: r.encoding.clone(),
                clock_rate: r.clock_rate,
                channels: r.channels.unwrap_or(1),
                fmtp: None,
            },
            None => static_codec(pt)?,
        };
        codec.fmtp = self.fmtp(pt).map(str::to_owned);
        Some(codec)
    }

    /// Adds a codec: its payload type to the format list, its rtpmap and fmtp.
    pub fn push_codec(&mut self, codec: &Codec) {
        self.formats.push(Format::Pt(codec.pt));
        self.rtpmaps.push(codec.rtpmap());
        if let Some(params) = &codec.fmtp {
            self.fmtps.push(Fmtp {
                pt: codec.pt,
                params: params.clone(),
            });
        }
    }

    /// Puts fmtps in the order the writer emits them: those whose payload type
    /// has an rtpmap follow the rtpmaps' order, the others keep theirs at the
    /// end. The parser calls this, so parse(write(x)) == x.
    pub fn canonical_fmtp_order(&mut self) {
        let rtpmaps = &self.rtpmaps;
        self.fmtps.sort_by_key(|f| {
            rtpmaps
                .iter()
                .position(|r| r.pt == f.pt)
                .unwrap_or(usize::MAX)
        });
    }
}

/// The media type of an m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaType {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `text` (RFC 4103 real-time text).
    Text,
    /// `application`.
    Application,
    /// `image` (T.38 fax).
    Image,
    /// `message` (MSRP).
    Message,
    /// Anything else, verbatim.
    Other(String),
}

impl MediaType {
    pub(crate) fn from_token(token: &str) -> MediaType {
        match token {
            "audio" => MediaType::Audio,
            "video" => MediaType::Video,
            "text" => MediaType::Text,
            "application" => MediaType::Application,
            "image" => MediaType::Image,
            "message" => MediaType::Message,
            other => MediaType::Other(other.to_owned()),
        }
    }

    /// The token as written.
    pub fn as_str(&self) -> &str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::Text => "text",
            MediaType::Application => "application",
            MediaType::Image => "image",
            MediaType::Message => "message",
            MediaType::Other(s) => s,
        }
    }
}

/// Transport protocol of an m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proto {
    /// `RTP/AVP` (RFC 3551): what the switch anchors.
    RtpAvp,
    /// `RTP/AVPF` (RFC 4585): AVP plus RTCP feedback, answerable as AVP media.
    RtpAvpf,
    /// `RTP/SAVP` (RFC 3711).
    RtpSavp,
    /// `RTP/SAVPF` (RFC 5124).
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVP` (RFC 5764, DTLS-SRTP).
    UdpTlsRtpSavp,
    /// `UDP/TLS/RTP/SAVPF` (RFC 5764, WebRTC).
    UdpTlsRtpSavpf,
    /// Anything else (`udptl`, `TCP/MSRP`, `UDP/DTLS/SCTP`, ...), verbatim.
    Other(String),
}

impl Proto {
    pub(crate) fn from_token(token: &str) -> Proto {
        match token {
            "RTP/AVP" => Proto::RtpAvp,
            "RTP/AVPF" => Proto::RtpAvpf,
            "RTP/SAVP" => Proto::RtpSavp,
            "RTP/SAVPF" => Proto::RtpSavpf,
            "UDP/TLS/RTP/SAVP" => Proto::UdpTlsRtpSavp,
            "UDP/TLS/RTP/SAVPF" => Proto::UdpTlsRtpSavpf,
            other => Proto::Other(other.to_owned()),
        }
    }

    /// The token as written.
    pub fn as_str(&self) -> &str {
        match self {
            Proto::RtpAvp => "RTP/AVP",
            Proto::RtpAvpf => "RTP/AVPF",
            Proto::RtpSavp => "RTP/SAVP",
            Proto::RtpSavpf => "RTP/SAVPF",
            Proto::UdpTlsRtpSavp => "UDP/TLS/RTP/SAVP",
            Proto::UdpTlsRtpSavpf => "UDP/TLS/RTP/SAVPF",
            Proto::Other(s) => s,
        }
    }

    /// Whether the formats are RTP payload types (any `RTP/` profile, also
    /// over TCP), which decides whether rtpmap/fmtp are interpreted.
    pub fn is_rtp(&self) -> bool {
        match self {
            Proto::Other(s) => s.to_ascii_uppercase().contains("RTP/"),
            _ => true,
        }
    }

    /// Plain RTP the switch can terminate: no SRTP keying needed.
    pub fn is_plain_rtp(&self) -> bool {
        matches!(self, Proto::RtpAvp | Proto::RtpAvpf)
    }
}

/// One entry of the m-line format list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// An RTP payload type, 0–127.
    Pt(u8),
    /// A format token on a non-RTP profile (`t38`, `*`, `webrtc-datachannel`).
    Token(String),
}

/// Media direction (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// Both ways (the default when no attribute is present).
    SendRecv,
    /// The SDP's sender only sends.
    SendOnly,
    /// The SDP's sender only receives.
    RecvOnly,
    /// Neither way.
    Inactive,
}

impl Direction {
    /// The direction an answer must take to match an offer (RFC 3264 §6.1):
    /// sendonly becomes recvonly and back; the others stay.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// Whether the SDP's sender sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the SDP's sender receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction that sends and receives only what both allow.
    pub fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The direction from what is sent and received.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    pub(crate) fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name as sent (matching is case-insensitive).
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels; absent means one.
    pub channels: Option<u16>,
}

/// `a=fmtp:<pt> <parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// Payload type.
    pub pt: u8,
    /// Format parameters verbatim.
    pub params: String,
}

/// `a=rtcp:<port> [IN <IP4|IP6> <address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// RTCP address when it differs from the m-line's connection.
    pub addr: Option<IpAddr>,
}
