//! The session level of an SDP (RFC 8866 §5.1–5.11): origin, connection,
//! bandwidth, timing and session attributes, plus the m-lines it carries.

use std::fmt;
use std::net::IpAddr;

use super::media::{Direction, MediaDescription};

/// A whole session description (RFC 8866 §5), fields in the order they are
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`: who made this SDP and which version of it this is.
    pub origin: Origin,
    /// `s=`: free text; `-` when the peer has nothing to say.
    pub session_name: String,
    /// `i=`: session information.
    pub information: Option<String>,
    /// `u=`: URI of a description.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// `c=` at session level: the default for m-lines without their own.
    pub connection: Option<Connection>,
    /// `b=` lines at session level.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines, each with its `r=` lines; never empty after parsing.
    pub times: Vec<Timing>,
    /// `z=` verbatim.
    pub time_zones: Option<String>,
    /// `k=` verbatim (obsolete, kept so it can be relayed or dropped knowingly).
    pub key: Option<String>,
    /// `a=sendrecv|sendonly|recvonly|inactive` at session level.
    pub direction: Option<Direction>,
    /// Every other session-level `a=` line, verbatim and in order.
    pub attributes: Vec<Attribute>,
    /// The m-lines in order; the index is what offer/answer pairs up.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// A session with only the mandatory lines: `v=0`, the origin, `s=-`,
    /// `t=0 0`, and no media.
    pub fn new(origin: Origin) -> SessionDescription {
        SessionDescription {
            origin,
            session_name: "-".to_owned(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: vec![Timing::default()],
            time_zones: None,
            key: None,
            direction: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// The canonical CRLF encoding (see [`super::write`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 256 * self.media.len());
        super::write::write(self, &mut out);
        out
    }

    /// The connection that applies to m-line `index`: its own `c=`, else the
    /// session's (RFC 8866 §5.7).
    pub fn connection_for(&self, index: usize) -> Option<&Connection> {
        let media = self.media.get(index)?;
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// The direction that applies to m-line `index`: its own attribute, else
    /// the session's, else sendrecv (RFC 3264 §5.1).
    pub fn direction_for(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(|m| m.direction)
            .or(self.direction)
            .unwrap_or(Direction::SendRecv)
    }
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Login of the originating user, `-` when there is none.
    pub username: String,
    /// Kept as text: peers send anything from 1 to 20+ digits and only
    /// equality matters.
    pub session_id: String,
    /// Must grow each time the session changes (RFC 3264 §8).
    pub session_version: u64,
    /// `IP4` or `IP6`.
    pub addr_type: AddrType,
    /// Unicast address or host name, as sent (never used to route media).
    pub address: String,
}

impl Origin {
    /// An origin for an SDP this switch writes.
    pub fn new(username: &str, session_id: u64, session_version: u64, addr: IpAddr) -> Origin {
        Origin {
            username: username.to_owned(),
            session_id: session_id.to_string(),
            session_version,
            addr_type: AddrType::of(addr),
            address: addr.to_string(),
        }
    }

    /// Marks a changed SDP for a re-offer (RFC 3264 §8: the version goes up by
    /// one whenever the description differs from the previous one).
    pub fn bump_version(&mut self) {
        self.session_version = self.session_version.wrapping_add(1);
    }
}

/// Address family tag of `o=` and `c=` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddrType {
    /// The tag for an address.
    pub fn of(addr: IpAddr) -> AddrType {
        match addr {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        }
    }

    /// The token as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        }
    }
}

/// `c=IN <IP4|IP6> <address>[/<ttl>][/<count>]` (RFC 8866 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// Where media goes; the family gives the `IP4`/`IP6` tag.
    pub addr: IpAddr,
    /// Multicast TTL (IPv4 only).
    pub ttl: Option<u8>,
    /// Number of consecutive multicast addresses.
    pub count: Option<u32>,
}

impl Connection {
    /// A plain unicast connection line.
    pub fn new(addr: IpAddr) -> Connection {
        Connection {
            addr,
            ttl: None,
            count: None,
        }
    }

    /// `0.0.0.0` or `::`: the RFC 2543 way of putting a call on hold
    /// (RFC 3264 §8.4 still asks answerers to understand it).
    pub fn is_unspecified(&self) -> bool {
        self.addr.is_unspecified()
    }
}

/// `b=<type>:<kbit/s or bit/s>` (RFC 8866 §5.8, RFC 3556, RFC 3890).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// The modifier.
    pub kind: BandwidthType,
    /// Kilobits per second, except TIAS (bits per second).
    pub value: u64,
}

/// Bandwidth modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BandwidthType {
    /// `CT`: conference total.
    Ct,
    /// `AS`: application specific (per media, kbit/s).
    As,
    /// `TIAS` (RFC 3890), bit/s without IP/UDP overhead.
    Tias,
    /// `RS`: RTCP bandwidth of senders (RFC 3556).
    Rs,
    /// `RR`: RTCP bandwidth of receivers (RFC 3556).
    Rr,
    /// Any other token, verbatim.
    Other(String),
}

impl BandwidthType {
    pub(crate) fn from_token(token: &str) -> BandwidthType {
        match token {
            "CT" => BandwidthType::Ct,
            "AS" => BandwidthType::As,
            "TIAS" => BandwidthType::Tias,
            "RS" => BandwidthType::Rs,
            "RR" => BandwidthType::Rr,
            other => BandwidthType::Other(other.to_owned()),
        }
    }

    /// The token as written.
    pub fn as_str(&self) -> &str {
        match self {
            BandwidthType::Ct => "CT",
            BandwidthType::As => "AS",
            BandwidthType::Tias => "TIAS",
            BandwidthType::Rs => "RS",
            BandwidthType::Rr => "RR",
            BandwidthType::Other(s) => s,
        }
    }
}

/// `t=<start> <stop>` with its `r=` lines kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// NTP seconds, 0 for unbounded.
    pub start: u64,
    /// NTP seconds, 0 for unbounded.
    pub stop: u64,
    /// `r=` values.
    pub repeats: Vec<String>,
}

/// An `a=` line the model does not interpret: `a=<name>` or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Text before the first `:`.
    pub name: String,
    /// Text after the first `:`; `None` for a property attribute.
    pub value: Option<String>,
}

impl Attribute {
    /// A property (`a=name`) or value (`a=name:value`) attribute.
    pub fn new(name: &str, value: Option<&str>) -> Attribute {
        Attribute {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}
