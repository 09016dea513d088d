//! Bytes to [`SessionDescription`] (RFC 8866 §5, §9 grammar), with the
//! tolerance decided in the module docs of [`super`].
//!
//! Every error names the 1-based line it was found on; the parser never
//! panics, whatever the bytes (a property test feeds it random and mutated
//! input).

use std::net::IpAddr;

use thiserror::Error;

use super::media::{Direction, Fmtp, Format, MediaDescription, MediaType, Proto, Rtcp, Rtpmap};
use super::session::{
    AddrType, Attribute, Bandwidth, BandwidthType, Connection, Origin, SessionDescription, Timing,
};

/// Why an SDP was refused, and on which line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("SDP line {line}: {kind}")]
pub struct SdpError {
    /// 1-based line number (blank lines count).
    pub line: usize,
    /// What is wrong with it.
    pub kind: SdpErrorKind,
}

/// What the peer got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SdpErrorKind {
    /// The body holds no line at all.
    #[error("empty session description")]
    Empty,
    /// A line is not valid UTF-8.
    #[error("line is not UTF-8")]
    NotUtf8,
    /// A line is not `<lowercase letter>=<value>`.
    #[error("line is not <type>=<value>")]
    NotTypeValue,
    /// The first line is not `v=`.
    #[error("first line is not v=")]
    VersionNotFirst,
    /// `v=` other than 0.
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    /// No `o=` line.
    #[error("no o= line")]
    MissingOrigin,
    /// A line that may appear once appears again (or an attribute repeats
    /// with another value).
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// A session-only line (`o=`, `s=`, `t=`, ...) after the first `m=`.
    #[error("{0}= line inside a media section")]
    SessionLineInMedia(char),
    /// An `r=` line before any `t=`.
    #[error("r= line without t=")]
    RepeatWithoutTime,
    /// Malformed `o=` line.
    #[error("bad o= line: {0}")]
    BadOrigin(&'static str),
    /// Malformed `c=` line (or address in `a=rtcp`).
    #[error("bad connection address: {0}")]
    BadConnection(&'static str),
    /// A network type other than `IN`.
    #[error("network type is not IN")]
    UnsupportedNetType,
    /// A host name where media needs an address the switch can send to.
    #[error("connection address is a host name")]
    HostnameAddress,
    /// An IPv6 address tagged `IP4` or the reverse.
    #[error("address does not match its IP4/IP6 tag")]
    AddressFamilyMismatch,
    /// Malformed `b=` line.
    #[error("bad b= line: {0}")]
    BadBandwidth(&'static str),
    /// Malformed `t=` line.
    #[error("bad t= line: {0}")]
    BadTiming(&'static str),
    /// Malformed `m=` line.
    #[error("bad m= line: {0}")]
    BadMedia(&'static str),
    /// A payload type above 127 on an RTP profile.
    #[error("payload type out of range 0-127")]
    PayloadTypeOutOfRange,
    /// An `a=` line with an empty name.
    #[error("attribute without a name")]
    BadAttribute,
    /// Malformed `a=rtpmap`.
    #[error("bad a=rtpmap: {0}")]
    BadRtpmap(&'static str),
    /// Malformed `a=fmtp`.
    #[error("bad a=fmtp: {0}")]
    BadFmtp(&'static str),
    /// `a=ptime`/`a=maxptime` that is not a positive number of ms.
    #[error("bad packet time")]
    BadPtime,
    /// Malformed `a=rtcp`.
    #[error("bad a=rtcp: {0}")]
    BadRtcp(&'static str),
    /// Two different direction attributes at the same level.
    #[error("conflicting direction attributes")]
    ConflictingDirection,
}

type Result<T> = std::result::Result<T, SdpErrorKind>;

/// Parses one SDP body.
pub fn parse(input: &[u8]) -> std::result::Result<SessionDescription, SdpError> {
    let mut p = Parser::default();
    let mut last_line = 0;
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let trimmed = trim_end(raw);
        if trimmed.is_empty() {
            continue;
        }
        last_line = line;
        p.line(trimmed).map_err(|kind| SdpError { line, kind })?;
    }
    p.finish().map_err(|kind| SdpError {
        line: last_line.max(1),
        kind,
    })
}

/// Drops the CR of CRLF and any trailing spaces/tabs some peers leave.
fn trim_end(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b' ' | b'\t'))
        .map_or(0, |p| p + 1);
    raw.get(..end).unwrap_or_default()
}

#[derive(Default)]
struct Parser {
    seen_version: bool,
    origin: Option<Origin>,
    session_name: Option<String>,
    information: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    times: Vec<Timing>,
    time_zones: Option<String>,
    key: Option<String>,
    direction: Option<Direction>,
    attributes: Vec<Attribute>,
    media: Vec<MediaDescription>,
}

impl Parser {
    fn line(&mut self, bytes: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(bytes).map_err(|_| SdpErrorKind::NotUtf8)?;
        let mut chars = text.chars();
        let (Some(letter), Some('=')) = (chars.next(), chars.next()) else {
            return Err(SdpErrorKind::NotTypeValue);
        };
        if !letter.is_ascii_lowercase() {
            return Err(SdpErrorKind::NotTypeValue);
        }
        let value = chars.as_str();
        if !self.seen_version {
            if letter != 'v' {
                return Err(SdpErrorKind::VersionNotFirst);
            }
            if value.trim() != "0" {
                return Err(SdpErrorKind::UnsupportedVersion);
            }
            self.seen_version = true;
            return Ok(());
        }
        if letter == 'm' {
            self.finish_media();
            self.media.push(parse_media_line(value)?);
            return Ok(());
        }
        match self.media.last_mut() {
            Some(media) => media_line(media, letter, value),
            None => self.session_line(letter, value),
        }
    }

    fn session_line(&mut self, letter: char, value: &str) -> Result<()> {
        match letter {
            'v' => return Err(SdpErrorKind::Duplicate("v=")),
            'o' => set_once(&mut self.origin, parse_origin(value)?, "o=")?,
            's' => set_once(&mut self.session_name, value.to_owned(), "s=")?,
            'i' => set_once(&mut self.information, value.to_owned(), "i=")?,
            'u' => set_once(&mut self.uri, value.to_owned(), "u=")?,
            'e' => self.emails.push(value.to_owned()),
            'p' => self.phones.push(value.to_owned()),
            'c' => set_once(&mut self.connection, parse_connection(value)?, "c=")?,
            'b' => self.bandwidths.push(parse_bandwidth(value)?),
            't' => self.times.push(parse_timing(value)?),
            'r' => match self.times.last_mut() {
                Some(t) => t.repeats.push(value.to_owned()),
                None => return Err(SdpErrorKind::RepeatWithoutTime),
            },
            'z' => set_once(&mut self.time_zones, value.to_owned(), "z=")?,
            'k' => set_once(&mut self.key, value.to_owned(), "k=")?,
            'a' => {
                let attr = split_attribute(value)?;
                match direction_of(&attr) {
                    Some(d) => set_direction(&mut self.direction, d)?,
                    None => self.attributes.push(attr),
                }
            }
            // RFC 8866 §5 asks to drop such an SDP; real peers send
            // extensions (`y=` SSRC on some cameras), and skipping them loses
            // nothing the switch uses.
            _ => {}
        }
        Ok(())
    }

    fn finish_media(&mut self) {
        if let Some(m) = self.media.last_mut() {
            m.canonical_fmtp_order();
        }
    }

    fn finish(mut self) -> Result<SessionDescription> {
        if !self.seen_version {
            return Err(SdpErrorKind::Empty);
        }
        self.finish_media();
        let origin = self.origin.ok_or(SdpErrorKind::MissingOrigin)?;
        if self.times.is_empty() {
            self.times.push(Timing::default());
        }
        Ok(SessionDescription {
            origin,
            session_name: self.session_name.unwrap_or_else(|| "-".to_owned()),
            information: self.information,
            uri: self.uri,
            emails: self.emails,
            phones: self.phones,
            connection: self.connection,
            bandwidths: self.bandwidths,
            times: self.times,
            time_zones: self.time_zones,
            key: self.key,
            direction: self.direction,
            attributes: self.attributes,
            media: self.media,
        })
    }
}

fn media_line(m: &mut MediaDescription, letter: char, value: &str) -> Result<()> {
    match letter {
        'i' => set_once(&mut m.information, value.to_owned(), "i="),
        'c' => set_once(&mut m.connection, parse_connection(value)?, "c="),
        'b' => {
            m.bandwidths.push(parse_bandwidth(value)?);
            Ok(())
        }
        'k' => set_once(&mut m.key, value.to_owned(), "k="),
        'a' => media_attribute(m, split_attribute(value)?),
        'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => {
            Err(SdpErrorKind::SessionLineInMedia(letter))
        }
        _ => Ok(()),
    }
}

fn media_attribute(m: &mut MediaDescription, attr: Attribute) -> Result<()> {
    if let Some(d) = direction_of(&attr) {
        return set_direction(&mut m.direction, d);
    }
    let rtp = m.proto.is_rtp();
    match (attr.name.as_str(), attr.value.as_deref()) {
        ("rtpmap", Some(v)) if rtp => {
            let map = parse_rtpmap(v)?;
            if m.rtpmap(map.pt).is_some() {
                return Err(SdpErrorKind::Duplicate("a=rtpmap"));
            }
            m.rtpmaps.push(map);
        }
        ("fmtp", Some(v)) if rtp => {
            let fmtp = parse_fmtp(v)?;
            if m.fmtp(fmtp.pt).is_some() {
                return Err(SdpErrorKind::Duplicate("a=fmtp"));
            }
            m.fmtps.push(fmtp);
        }
        ("ptime", Some(v)) => set_same(&mut m.ptime, parse_ms(v)?, "a=ptime")?,
        ("maxptime", Some(v)) => set_same(&mut m.maxptime, parse_ms(v)?, "a=maxptime")?,
        ("rtcp", Some(v)) => set_same(&mut m.rtcp, parse_rtcp(v)?, "a=rtcp")?,
        ("rtcp-mux", None) => m.rtcp_mux = true,
        _ => m.attributes.push(attr),
    }
    Ok(())
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &'static str) -> Result<()> {
    if slot.is_some() {
        return Err(SdpErrorKind::Duplicate(what));
    }
    *slot = Some(value);
    Ok(())
}

/// Repeating an attribute with the same value is harmless; another value
/// would leave us guessing which one the peer means.
fn set_same<T: PartialEq>(slot: &mut Option<T>, value: T, what: &'static str) -> Result<()> {
    match slot {
        Some(old) if *old != value => Err(SdpErrorKind::Duplicate(what)),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn set_direction(slot: &mut Option<Direction>, d: Direction) -> Result<()> {
    set_same(slot, d, "direction").map_err(|_| SdpErrorKind::ConflictingDirection)
}

fn direction_of(attr: &Attribute) -> Option<Direction> {
    attr.value
        .is_none()
        .then(|| Direction::from_attribute(&attr.name))
        .flatten()
}

fn split_attribute(value: &str) -> Result<Attribute> {
    let (name, value) = match value.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (value, None),
    };
    if name.is_empty() {
        return Err(SdpErrorKind::BadAttribute);
    }
    Ok(Attribute::new(name, value))
}

fn parse_origin(value: &str) -> Result<Origin> {
    let mut f = value.split_ascii_whitespace();
    let (Some(username), Some(id), Some(version), Some(net), Some(addr_type), Some(address), None) = (
        f.next(),
        f.next(),
        f.next(),
        f.next(),
        f.next(),
        f.next(),
        f.next(),
    ) else {
        return Err(SdpErrorKind::BadOrigin("not six fields"));
    };
    let session_version = version
        .parse()
        .map_err(|_| SdpErrorKind::BadOrigin("session version"))?;
    if net != "IN" {
        return Err(SdpErrorKind::UnsupportedNetType);
    }
    let addr_type = parse_addr_type(addr_type).ok_or(SdpErrorKind::BadOrigin("address type"))?;
    Ok(Origin {
        username: username.to_owned(),
        session_id: id.to_owned(),
        session_version,
        addr_type,
        address: address.to_owned(),
    })
}

fn parse_addr_type(token: &str) -> Option<AddrType> {
    match token {
        "IP4" => Some(AddrType::Ip4),
        "IP6" => Some(AddrType::Ip6),
        _ => None,
    }
}

fn parse_connection(value: &str) -> Result<Connection> {
    let mut f = value.split_ascii_whitespace();
    let (Some(net), Some(addr_type), Some(address), None) =
        (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(SdpErrorKind::BadConnection("not three fields"));
    };
    let mut parts = address.split('/');
    let addr = parse_address(net, addr_type, parts.next().unwrap_or_default())?;
    let mut number = |what| -> Result<Option<u32>> {
        parts
            .next()
            .map(|p| p.parse().map_err(|_| SdpErrorKind::BadConnection(what)))
            .transpose()
    };
    let (ttl, count) = match addr {
        IpAddr::V4(_) => {
            let ttl = number("ttl")?;
            let ttl = ttl
                .map(u8::try_from)
                .transpose()
                .map_err(|_| SdpErrorKind::BadConnection("ttl"))?;
            (ttl, number("address count")?)
        }
        IpAddr::V6(_) => (None, number("address count")?),
    };
    if parts.next().is_some() {
        return Err(SdpErrorKind::BadConnection("too many /"));
    }
    Ok(Connection { addr, ttl, count })
}

fn parse_address(net: &str, addr_type: &str, address: &str) -> Result<IpAddr> {
    if net != "IN" {
        return Err(SdpErrorKind::UnsupportedNetType);
    }
    let addr_type =
        parse_addr_type(addr_type).ok_or(SdpErrorKind::BadConnection("address type"))?;
    let addr: IpAddr = match address.parse() {
        Ok(a) => a,
        Err(_) if is_host_name(address) => return Err(SdpErrorKind::HostnameAddress),
        Err(_) => return Err(SdpErrorKind::BadConnection("address")),
    };
    if AddrType::of(addr) != addr_type {
        return Err(SdpErrorKind::AddressFamilyMismatch);
    }
    Ok(addr)
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn parse_bandwidth(value: &str) -> Result<Bandwidth> {
    let (kind, number) = value
        .split_once(':')
        .ok_or(SdpErrorKind::BadBandwidth("no :"))?;
    if kind.is_empty() || kind.contains(char::is_whitespace) {
        return Err(SdpErrorKind::BadBandwidth("type"));
    }
    let value = number
        .trim()
        .parse()
        .map_err(|_| SdpErrorKind::BadBandwidth("value"))?;
    Ok(Bandwidth {
        kind: BandwidthType::from_token(kind),
        value,
    })
}

fn parse_timing(value: &str) -> Result<Timing> {
    let mut f = value.split_ascii_whitespace();
    let (Some(start), Some(stop), None) = (f.next(), f.next(), f.next()) else {
        return Err(SdpErrorKind::BadTiming("not two fields"));
    };
    let start = start
        .parse()
        .map_err(|_| SdpErrorKind::BadTiming("start"))?;
    let stop = stop.parse().map_err(|_| SdpErrorKind::BadTiming("stop"))?;
    Ok(Timing {
        start,
        stop,
        repeats: Vec::new(),
    })
}

fn parse_media_line(value: &str) -> Result<MediaDescription> {
    let mut f = value.split_ascii_whitespace();
    let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(SdpErrorKind::BadMedia("fewer than four fields"));
    };
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (
            p,
            Some(
                n.parse()
                    .map_err(|_| SdpErrorKind::BadMedia("port count"))?,
            ),
        ),
        None => (port, None),
    };
    let port = port.parse().map_err(|_| SdpErrorKind::BadMedia("port"))?;
    let proto = Proto::from_token(proto);
    let formats = f
        .map(|fmt| {
            if !proto.is_rtp() {
                return Ok(Format::Token(fmt.to_owned()));
            }
            parse_pt(fmt).map(Format::Pt).map_err(|e| match e {
                PtError::NotNumber => SdpErrorKind::BadMedia("payload type"),
                PtError::Range => SdpErrorKind::PayloadTypeOutOfRange,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if formats.is_empty() {
        return Err(SdpErrorKind::BadMedia("fewer than four fields"));
    }
    let mut m = MediaDescription::new(MediaType::from_token(media), port, proto, formats);
    m.port_count = port_count;
    Ok(m)
}

enum PtError {
    NotNumber,
    Range,
}

fn parse_pt(s: &str) -> std::result::Result<u8, PtError> {
    let n: u32 = s.parse().map_err(|_| PtError::NotNumber)?;
    u8::try_from(n)
        .ok()
        .filter(|&pt| pt <= 127)
        .ok_or(PtError::Range)
}

fn parse_rtpmap(value: &str) -> Result<Rtpmap> {
    let (pt, rest) = value
        .split_once(' ')
        .ok_or(SdpErrorKind::BadRtpmap("no encoding"))?;
    let pt = parse_pt(pt).map_err(|_| SdpErrorKind::BadRtpmap("payload type"))?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next().unwrap_or_default();
    if encoding.is_empty() || encoding.contains(char::is_whitespace) {
        return Err(SdpErrorKind::BadRtpmap("encoding name"));
    }
    let clock_rate = parts
        .next()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &u32| c > 0)
        .ok_or(SdpErrorKind::BadRtpmap("clock rate"))?;
    let channels = parts
        .next()
        .map(|c| {
            c.parse()
                .ok()
                .filter(|&n: &u16| n > 0)
                .ok_or(SdpErrorKind::BadRtpmap("channels"))
        })
        .transpose()?;
    if parts.next().is_some() {
        return Err(SdpErrorKind::BadRtpmap("too many /"));
    }
    Ok(Rtpmap {
        pt,
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
    })
}

fn parse_fmtp(value: &str) -> Result<Fmtp> {
    let (pt, params) = match value.split_once([' ', '\t']) {
        Some((pt, params)) => (pt, params.trim_start()),
        None => (value, ""),
    };
    let pt = parse_pt(pt).map_err(|_| SdpErrorKind::BadFmtp("payload type"))?;
    Ok(Fmtp {
        pt,
        params: params.to_owned(),
    })
}

/// Milliseconds; `20.0` (sent by some gateways) is read as 20.
fn parse_ms(value: &str) -> Result<u32> {
    let value = value.trim();
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SdpErrorKind::BadPtime);
    }
    let ms: u32 = whole.parse().map_err(|_| SdpErrorKind::BadPtime)?;
    let ms = if frac.as_bytes().first().is_some_and(|&d| d >= b'5') {
        ms.saturating_add(1)
    } else {
        ms
    };
    if ms == 0 {
        return Err(SdpErrorKind::BadPtime);
    }
    Ok(ms)
}

fn parse_rtcp(value: &str) -> Result<Rtcp> {
    let mut f = value.split_ascii_whitespace();
    let port = f
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or(SdpErrorKind::BadRtcp("port"))?;
    let addr = match (f.next(), f.next(), f.next(), f.next()) {
        (None, ..) => None,
        (Some(net), Some(addr_type), Some(address), None) => {
            Some(parse_address(net, addr_type, address)?)
        }
        _ => return Err(SdpErrorKind::BadRtcp("address")),
    };
    Ok(Rtcp { port, addr })
}

#[cfg(test)]
mod tests;
