//! The SIP message parser (RFC 3261 §7 and §25), strict where RFC 4475 says a
//! message must be refused and tolerant where it says one must be accepted.
//!
//! Input is one datagram or one stream frame (see [`crate::sip::frame`]). The
//! grammar of every header the switch acts on is checked here, once, so later
//! layers can use cheap views. Section 3.3 problems that are not syntax (missing
//! or conflicting headers) parse and are reported by [`Message::defect`].

use bytes::{Bytes, BytesMut};

use super::grammar::{self, is_token, is_token_str, is_ws, parse_u32, split_commas, trim};
use super::header::{HeaderName, NameAddr, Via};
use super::message::{CSeq, Defect, Field, Message, Method, Span, StartLine};
use super::uri::Uri;

/// Why a message was refused. A request refused for one of these gets 400
/// (505 for [`ParseError::BadVersion`]) when a response can be formed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but white space, or no blank line ending the headers.
    #[error("incomplete message")]
    Incomplete,
    /// The request or status line does not follow the grammar.
    #[error("malformed start line")]
    BadStartLine,
    /// A SIP version other than 2.0.
    #[error("SIP version not supported")]
    BadVersion,
    /// The Request-URI is malformed, bracketed, or carries headers.
    #[error("malformed Request-URI")]
    BadRequestUri,
    /// The status code is not three digits from 100 to 699.
    #[error("malformed status code")]
    BadStatus,
    /// A header line has no colon or an illegal name.
    #[error("malformed header line")]
    BadHeaderLine,
    /// Header text is not UTF-8.
    #[error("header text is not UTF-8")]
    NotUtf8,
    /// The value of a known header breaks its grammar.
    #[error("malformed {0} header")]
    BadHeader(HeaderName),
    /// Content-Length is negative, not a number, or larger than the message.
    #[error("Content-Length does not match the body")]
    BadContentLength,
    /// The CSeq method differs from the request method.
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// More header lines than the parser accepts.
    #[error("too many header lines")]
    TooManyHeaders,
}

impl ParseError {
    /// The status code owed to a request refused for this reason.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::BadVersion => 505,
            _ => 400,
        }
    }
}

/// Upper bound on header lines: far above any real message, low enough that a
/// hostile one cannot make the field list large.
const MAX_FIELDS: usize = 256;

/// Parses one complete message from a datagram or stream frame.
pub fn parse(input: &[u8]) -> Result<Message, ParseError> {
    parse_bytes(Bytes::copy_from_slice(input))
}

/// Parses a message already held in a `Bytes` (avoids a copy when there is no
/// folding to undo).
pub fn parse_bytes(input: Bytes) -> Result<Message, ParseError> {
    // RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives).
    let mut off = 0;
    while off + 1 < input.len() && input[off] == b'\r' && input[off + 1] == b'\n' {
        off += 2;
    }
    let head_end = find_head_end(&input[off..]).ok_or(ParseError::Incomplete)? + off;
    // Header folding (CRLF followed by WS) is replaced by spaces in place so that
    // spans stay valid and values read as single lines.
    let needs_unfold = memchr::memchr_iter(b'\n', &input[off..head_end]).any(|i| input.get(off + i + 1).is_some_and(|&c| is_ws(c)));
    let buf = if needs_unfold {
        let mut m = BytesMut::from(&input[..]);
        for i in off..head_end.saturating_sub(2) {
            if m[i] == b'\r' && m[i + 1] == b'\n' && is_ws(m[i + 2]) {
                m[i] = b' ';
                m[i + 1] = b' ';
            }
        }
        m.freeze()
    } else {
        input
    };
    if std::str::from_utf8(&buf[off..head_end]).is_err() {
        return Err(ParseError::NotUtf8);
    }
    let line_end = find_crlf(&buf, off).ok_or(ParseError::Incomplete)?;
    let start = parse_start_line(&buf, off, line_end)?;

    let mut fields: Vec<Field> = Vec::with_capacity(16);
    let mut pos = line_end + 2;
    while pos < head_end {
        let end = find_crlf(&buf, pos).unwrap_or(head_end);
        if fields.len() >= MAX_FIELDS {
            return Err(ParseError::TooManyHeaders);
        }
        fields.push(parse_field(&buf, pos, end)?);
        pos = end + 2;
    }
    let body_start = head_end + 4;

    let mut msg = Message {
        buf,
        start,
        fields,
        body: Span::new(body_start, body_start),
        cseq: None,
        max_forwards: None,
        defect: None,
    };
    validate(&mut msg)?;
    frame_body(&mut msg, body_start)?;
    Ok(msg)
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    memchr::memmem::find(b, b"\r\n\r\n")
}

fn find_crlf(b: &[u8], from: usize) -> Option<usize> {
    let rest = b.get(from..)?;
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\r', &rest[i..]) {
        if rest.get(i + p + 1) == Some(&b'\n') {
            return Some(from + i + p);
        }
        i += p + 1;
    }
    None
}

fn parse_start_line(b: &[u8], s: usize, e: usize) -> Result<StartLine, ParseError> {
    let line = &b[s..e];
    if line.starts_with(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp1 = line.iter().position(|&c| c == b' ').ok_or(ParseError::BadStartLine)?;
        check_version(&line[..sp1])?;
        let rest = &line[sp1 + 1..];
        if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
            return Err(ParseError::BadStatus);
        }
        if rest.len() > 3 && rest[3] != b' ' {
            return Err(ParseError::BadStatus);
        }
        let code = u16::from(rest[0] - b'0') * 100 + u16::from(rest[1] - b'0') * 10 + u16::from(rest[2] - b'0');
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStatus);
        }
        let rs = (s + sp1 + 1 + 4).min(e);
        return Ok(StartLine::Response { code, reason: Span::new(rs, e) });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly two single
    // spaces (RFC 4475 §3.1.2.8-10 refuse extra or trailing white space).
    let sp1 = line.iter().position(|&c| c == b' ').ok_or(ParseError::BadStartLine)?;
    let method = &line[..sp1];
    if !is_token_str(method) {
        return Err(ParseError::BadStartLine);
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest.iter().position(|&c| c == b' ').ok_or(ParseError::BadStartLine)?;
    let uri = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    if uri.is_empty() || version.contains(&b' ') {
        return Err(ParseError::BadStartLine);
    }
    check_version(version)?;
    let uri_s = std::str::from_utf8(uri).map_err(|_| ParseError::NotUtf8)?;
    let parsed = Uri::parse(uri_s).map_err(|_| ParseError::BadRequestUri)?;
    if parsed.headers.is_some() {
        return Err(ParseError::BadRequestUri);
    }
    let us = s + sp1 + 1;
    Ok(StartLine::Request { method: Method::from_bytes(method), uri: Span::new(us, us + sp2) })
}

fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v == b"SIP/2.0" {
        return Ok(());
    }
    // "SIP/x.y" with another version is a 505; anything else is garbage.
    let ok_shape = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].iter().all(|&c| c.is_ascii_digit() || c == b'.')
        && v[4..].contains(&b'.');
    if ok_shape {
        if &v[4..] == b"2.0" {
            return Ok(());
        }
        return Err(ParseError::BadVersion);
    }
    Err(ParseError::BadStartLine)
}

fn parse_field(b: &[u8], s: usize, e: usize) -> Result<Field, ParseError> {
    let line = &b[s..e];
    let mut n = 0;
    while n < line.len() && is_token(line[n]) {
        n += 1;
    }
    if n == 0 {
        return Err(ParseError::BadHeaderLine);
    }
    // HCOLON = *( SP / HTAB ) ":" SWS
    let mut c = n;
    while c < line.len() && is_ws(line[c]) {
        c += 1;
    }
    if line.get(c) != Some(&b':') {
        return Err(ParseError::BadHeaderLine);
    }
    let mut v0 = c + 1;
    while v0 < line.len() && is_ws(line[v0]) {
        v0 += 1;
    }
    let mut v1 = line.len();
    while v1 > v0 && is_ws(line[v1 - 1]) {
        v1 -= 1;
    }
    Ok(Field {
        name: HeaderName::from_bytes(&line[..n]),
        name_span: Span::new(s, s + n),
        value: Span::new(s + v0, s + v1),
    })
}

/// Checks the grammar of the headers the switch acts on and records the
/// section 3.3 defects.
fn validate(msg: &mut Message) -> Result<(), ParseError> {
    let mut seen_single: [Option<usize>; 8] = [None; 8];
    let mut defect = None;
    // The header block was checked as UTF-8 once; every value span starts and
    // ends at ASCII bytes, so slicing the str needs no second check.
    let buf = msg.buf.clone();
    let head_end = msg.fields.last().map_or(0, |f| f.value.end as usize);
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ParseError::NotUtf8)?;
    for (idx, f) in msg.fields.iter().enumerate() {
        let vs = head.get(f.value.start as usize..f.value.end as usize).ok_or(ParseError::NotUtf8)?;
        let v = vs.as_bytes();
        let bad = || ParseError::BadHeader(f.name);
        match f.name {
            HeaderName::Via => {
                split_commas(v, |a, z| Via::parse(&vs[a..z]).is_some()).ok_or_else(bad)?;
            }
            HeaderName::From | HeaderName::To => {
                NameAddr::parse(vs).ok_or_else(bad)?;
            }
            HeaderName::Contact
                if vs != "*" => {
                    split_commas(v, |a, z| NameAddr::parse(&vs[a..z]).is_some()).ok_or_else(bad)?;
                }
            HeaderName::Route | HeaderName::RecordRoute => {
                split_commas(v, |a, z| NameAddr::parse(&vs[a..z]).is_some_and(|n| n.angle)).ok_or_else(bad)?;
            }
            HeaderName::CallId => {
                // callid = word [ "@" word ]; word chars are token plus a few more.
                let ok = !v.is_empty()
                    && v.iter().all(|&c| {
                        is_token(c)
                            || matches!(c, b'(' | b')' | b'<' | b'>' | b':' | b'\\' | b'"' | b'/' | b'[' | b']' | b'?' | b'{' | b'}' | b'@')
                    })
                    && v.iter().filter(|&&c| c == b'@').count() <= 1;
                if !ok {
                    return Err(bad());
                }
            }
            HeaderName::CSeq => {
                let ws = v.iter().position(|&c| is_ws(c)).ok_or_else(bad)?;
                // RFC 3261 §8.1.1.5: the number MUST be less than 2^31.
                let seq = parse_u32(&v[..ws], (1u64 << 31) - 1).ok_or_else(bad)?;
                let m = trim(&v[ws..]);
                if !is_token_str(m) {
                    return Err(bad());
                }
                if msg.cseq.is_none() {
                    msg.cseq = Some(CSeq { seq, method: Method::from_bytes(m) });
                }
            }
            HeaderName::MaxForwards => {
                let n = parse_u32(v, 255).ok_or_else(bad)?;
                if msg.max_forwards.is_none() {
                    msg.max_forwards = u8::try_from(n).ok();
                }
            }
            HeaderName::ContentLength => {
                parse_u32(v, u64::from(u32::MAX)).ok_or(ParseError::BadContentLength)?;
            }
            HeaderName::Expires | HeaderName::MinExpires
                if (v.is_empty() || !v.iter().all(u8::is_ascii_digit)) => {
                    return Err(bad());
                }
            HeaderName::ContentType => {
                let t = vs.split(';').next().unwrap_or("");
                let mut parts = t.splitn(2, '/');
                let ty = grammar::trim_str(parts.next().unwrap_or(""));
                let sub = grammar::trim_str(parts.next().unwrap_or(""));
                if !is_token_str(ty.as_bytes()) || !is_token_str(sub.as_bytes()) {
                    return Err(bad());
                }
            }
            HeaderName::Date
                // rfc1123-date ends in "GMT" (RFC 3261 §20.17; RFC 4475 §3.1.2.12).
                if (!vs.ends_with(" GMT") || !vs.contains(',')) => {
                    return Err(bad());
                }
            HeaderName::Require | HeaderName::ProxyRequire | HeaderName::Supported | HeaderName::Unsupported
                if !v.is_empty() => {
                    split_commas(v, |a, z| is_token_str(&v[a..z])).ok_or_else(bad)?;
                }
            _ => {}
        }
        if let Some(slot) = single_slot(f.name) {
            match seen_single[slot] {
                Some(prev) => {
                    let pf = msg.fields[prev];
                    let same = msg.buf[pf.value.start as usize..pf.value.end as usize] == *v;
                    if !same && defect.is_none() {
                        defect = Some(Defect::Duplicate(f.name));
                    }
                }
                None => seen_single[slot] = Some(idx),
            }
        }
    }
    let is_request = msg.is_request();
    if let (StartLine::Request { method, .. }, Some(c)) = (&msg.start, &msg.cseq) {
        // RFC 4475 §3.1.2.17-18; CANCEL and ACK carry their own method too.
        if *method != c.method {
            return Err(ParseError::CSeqMismatch);
        }
    }
    for (slot, name) in [(0, HeaderName::CallId), (1, HeaderName::CSeq), (2, HeaderName::From), (3, HeaderName::To)] {
        if seen_single[slot].is_none() && defect.is_none() {
            defect = Some(Defect::Missing(name));
        }
    }
    if !msg.fields.iter().any(|f| f.name == HeaderName::Via) && defect.is_none() {
        defect = Some(Defect::Missing(HeaderName::Via));
    }
    let _ = is_request;
    msg.defect = defect;
    Ok(())
}

fn single_slot(n: HeaderName) -> Option<usize> {
    Some(match n {
        HeaderName::CallId => 0,
        HeaderName::CSeq => 1,
        HeaderName::From => 2,
        HeaderName::To => 3,
        HeaderName::MaxForwards => 4,
        HeaderName::ContentLength => 5,
        HeaderName::ContentType => 6,
        HeaderName::Expires => 7,
        _ => return None,
    })
}

/// Sets the body span from Content-Length. On a datagram a missing
/// Content-Length means "the rest"; a longer one is an error (RFC 4475
/// §3.1.2.2); a shorter one leaves trailing bytes out (§3.1.1.8).
fn frame_body(msg: &mut Message, body_start: usize) -> Result<(), ParseError> {
    let total = msg.buf.len();
    let cl = msg
        .fields
        .iter()
        .find(|f| f.name == HeaderName::ContentLength)
        .map(|f| &msg.buf[f.value.start as usize..f.value.end as usize])
        .and_then(|v| parse_u32(v, u64::from(u32::MAX)));
    let end = match cl {
        // Conflicting Content-Lengths (§3.3.9) cannot frame anything: take the
        // datagram as it is; the defect makes the request a 400.
        Some(_) if matches!(msg.defect, Some(Defect::Duplicate(HeaderName::ContentLength))) => total,
        Some(n) => {
            let end = body_start.checked_add(n as usize).ok_or(ParseError::BadContentLength)?;
            if end > total {
                return Err(ParseError::BadContentLength);
            }
            end
        }
        None => total,
    };
    msg.body = Span::new(body_start.min(end), end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@10.0.0.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn parses_invite() {
        let m = parse(INVITE).unwrap();
        assert!(m.is_request());
        assert_eq!(*m.method(), Method::Invite);
        assert_eq!(m.request_uri_str(), "sip:bob@example.com");
        assert_eq!(m.call_id(), "a84b4c76e66710@pc33.example.com");
        assert_eq!(m.from_tag(), Some("1928301774"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.cseq().unwrap().seq, 314159);
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(m.body(), b"v=0\n");
        assert_eq!(m.content_type(), Some("application/sdp"));
        assert!(m.defect().is_none());
    }

    #[test]
    fn folding_and_compact() {
        let raw = b"OPTIONS sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>\r\n ;tag=1\r\nt: sip:x@y\r\ni: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.from_tag(), Some("1"));
        assert_eq!(m.call_id(), "c1");
    }

    #[test]
    fn response() {
        let raw = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.reason(), "Ringing");
        assert_eq!(*m.method(), Method::Invite);
        let raw = b"SIP/2.0 100 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(parse(raw).unwrap().reason(), "");
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b"\r\n\r\n").unwrap_err(), ParseError::Incomplete);
        assert_eq!(parse(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n").unwrap_err(), ParseError::BadHeader(HeaderName::Via));
        assert_eq!(parse(b"INVITE sip:a@b SIP/3.0\r\n\r\n").unwrap_err(), ParseError::BadVersion);
        assert_eq!(parse(b"SIP/2.0 99 x\r\n\r\n").unwrap_err(), ParseError::BadStatus);
        assert!(parse(b"INVITE sip:a@b SIP/2.0\r\nNoColon\r\n\r\n").is_err());
        assert!(parse(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']).is_err());
    }

    #[test]
    fn never_panics_on_noise() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let mut m = INVITE.to_vec();
            let n = rng.usize(1..8);
            for _ in 0..n {
                let i = rng.usize(..m.len());
                m[i] = rng.u8(..);
            }
            let cut = rng.usize(..=m.len());
            let _ = parse(&m[..cut]);
        }
    }
}
