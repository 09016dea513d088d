//! Transport-level facts the sans-IO cores need, without any sockets: which
//! transport a message used and where it came from or goes to.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

/// A SIP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP: unreliable, so transactions retransmit.
    Udp,
    /// TCP: reliable, framed by Content-Length.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// Reliable transports switch off retransmission timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The name used in Via (`UDP`, `TCP`, `TLS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Parses a Via transport or `transport=` URI parameter.
    pub fn from_name(s: &str) -> Option<Transport> {
        if s.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else if s.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else if s.eq_ignore_ascii_case("tls") {
            Some(Transport::Tls)
        } else {
            None
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one accepted or opened stream connection at the edge, so that
/// responses go back over the connection the request came on (RFC 3261 §18.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The far end of a message: transport, address and, for streams, connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport used.
    pub transport: Transport,
    /// Remote address (source of what we received, destination of what we send).
    pub addr: SocketAddr,
    /// The stream connection, when there is one already.
    pub conn: Option<ConnId>,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer { transport: Transport::Udp, addr, conn: None }
    }
}

/// Bytes to send to a peer.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// Where to.
    pub dest: Peer,
    /// The serialized message.
    pub bytes: Bytes,
}
