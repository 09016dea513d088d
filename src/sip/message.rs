//! A parsed SIP message: the received bytes plus spans into them.
//!
//! The message owns one `Bytes` buffer (the datagram or stream frame, with
//! header folding replaced by spaces in place) and a list of header spans. Views
//! such as [`Via`] and [`NameAddr`] borrow from it, so handling a request copies
//! no header text. Built by [`crate::sip::parse`].

use std::fmt;

use bytes::Bytes;

use super::grammar::split_commas;
use super::header::{HeaderName, NameAddr, Via};
use super::uri::Uri;

/// A SIP method. Extension methods keep their name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    /// An extension method (case-sensitive, RFC 3261 §7.1).
    Other(Box<str>),
}

impl Method {
    /// Parses a method token; methods are case-sensitive.
    pub fn from_bytes(b: &[u8]) -> Method {
        match b {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"INFO" => Method::Info,
            b"UPDATE" => Method::Update,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"PUBLISH" => Method::Publish,
            other => Method::Other(String::from_utf8_lossy(other).into()),
        }
    }

    /// The method name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `CSeq` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method it names.
    pub method: Method,
}

/// Byte range into the message buffer. u32 keeps `Field` at 20 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Messages are capped far below 4 GiB by every transport, so the casts hold.
        Span { start: start as u32, end: end as u32 }
    }
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One header line: its classified name and the spans of name and value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub(crate) name: HeaderName,
    pub(crate) name_span: Span,
    pub(crate) value: Span,
}

/// Request line or status line.
#[derive(Clone, Debug)]
pub(crate) enum StartLine {
    Request { method: Method, uri: Span },
    Response { code: u16, reason: Span },
}

/// Why a syntactically valid message cannot be processed (RFC 4475 §3.3): the
/// element answers 400 to such a request and drops such a response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Defect {
    /// A mandatory header is absent.
    Missing(HeaderName),
    /// A header that may appear once appears with conflicting copies.
    Duplicate(HeaderName),
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Missing(h) => write!(f, "Missing {h} header"),
            Defect::Duplicate(h) => write!(f, "Conflicting {h} headers"),
        }
    }
}

/// A parsed SIP request or response.
#[derive(Clone)]
pub struct Message {
    pub(crate) buf: Bytes,
    pub(crate) start: StartLine,
    pub(crate) fields: Vec<Field>,
    pub(crate) body: Span,
    pub(crate) cseq: Option<CSeq>,
    pub(crate) max_forwards: Option<u8>,
    pub(crate) defect: Option<Defect>,
}

impl Message {
    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method; for a response, the CSeq method.
    pub fn method(&self) -> &Method {
        match &self.start {
            StartLine::Request { method, .. } => method,
            StartLine::Response { .. } => self.cseq.as_ref().map_or(&Method::Ack, |c| &c.method),
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response ("" for requests).
    pub fn reason(&self) -> &str {
        match self.start {
            StartLine::Response { reason, .. } => self.str_at(reason),
            StartLine::Request { .. } => "",
        }
    }

    /// The Request-URI text ("" for responses).
    pub fn request_uri_str(&self) -> &str {
        match self.start {
            StartLine::Request { uri, .. } => self.str_at(uri),
            StartLine::Response { .. } => "",
        }
    }

    /// The Request-URI, parsed (validated by the parser, so `None` only for
    /// responses).
    pub fn request_uri(&self) -> Option<Uri<'_>> {
        match self.start {
            StartLine::Request { uri, .. } => Uri::parse(self.str_at(uri)).ok(),
            StartLine::Response { .. } => None,
        }
    }

    /// What makes this message unprocessable, if anything. Everything below
    /// assumes it is `None`.
    pub fn defect(&self) -> Option<&Defect> {
        self.defect.as_ref()
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The shared buffer (cheap to clone).
    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body.range()]
    }

    /// First value of a header, trimmed.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.fields.iter().find(|f| f.name == name).map(|f| self.str_at(f.value))
    }

    /// Every line of a header, in order (not split at commas).
    pub fn header_lines(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().filter(move |f| f.name == name).map(|f| self.str_at(f.value))
    }

    /// First value of an extension header, by case-insensitive name.
    pub fn header_other(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == HeaderName::Other && self.buf[f.name_span.range()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| self.str_at(f.value))
    }

    /// Every header as (name as written, value), in order.
    pub fn all_headers(&self) -> impl Iterator<Item = (HeaderName, &str, &str)> + '_ {
        self.fields.iter().map(|f| (f.name, self.str_at(f.name_span), self.str_at(f.value)))
    }

    /// Every element of a list header, split at top-level commas across all its
    /// lines (Via, Route, Record-Route, Contact, Supported...).
    pub fn values(&self, name: HeaderName) -> Vec<&str> {
        let mut out = Vec::new();
        for line in self.header_lines(name) {
            let b = line.as_bytes();
            // Validated at parse time for the list headers we act on; on others a
            // bad split just yields what it could.
            let _ = split_commas(b, |a, z| {
                out.push(&line[a..z]);
                true
            });
        }
        out
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via<'_>> {
        let line = self.header(HeaderName::Via)?;
        let mut first = None;
        let _ = split_commas(line.as_bytes(), |a, z| {
            first = Some(&line[a..z]);
            false
        });
        Via::parse(first?)
    }

    /// Number of Via values.
    pub fn via_count(&self) -> usize {
        self.values(HeaderName::Via).len()
    }

    /// The Call-ID ("" when missing; see [`Message::defect`]).
    pub fn call_id(&self) -> &str {
        self.header(HeaderName::CallId).unwrap_or("")
    }

    /// The From header.
    pub fn from(&self) -> Option<NameAddr<'_>> {
        NameAddr::parse(self.header(HeaderName::From)?)
    }

    /// The To header.
    pub fn to(&self) -> Option<NameAddr<'_>> {
        NameAddr::parse(self.header(HeaderName::To)?)
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<&str> {
        self.from().and_then(|n| n.tag())
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<&str> {
        self.to().and_then(|n| n.tag())
    }

    /// The CSeq.
    pub fn cseq(&self) -> Option<&CSeq> {
        self.cseq.as_ref()
    }

    /// The CSeq number (0 when missing).
    pub fn cseq_seq(&self) -> u32 {
        self.cseq.as_ref().map_or(0, |c| c.seq)
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Option<u8> {
        self.max_forwards
    }

    /// Contact values (name-addrs); `*` is reported by [`Message::is_contact_star`].
    pub fn contacts(&self) -> Vec<NameAddr<'_>> {
        self.values(HeaderName::Contact).into_iter().filter_map(NameAddr::parse).collect()
    }

    /// True for `Contact: *` (REGISTER removal of all bindings).
    pub fn is_contact_star(&self) -> bool {
        self.header(HeaderName::Contact).is_some_and(|c| c == "*")
    }

    /// The Expires header as seconds, clamped to u32 (RFC 4475 §3.1.2.4 asks that
    /// an overlong value be treated as the largest one).
    pub fn expires(&self) -> Option<u32> {
        let v = self.header(HeaderName::Expires)?;
        let b = v.as_bytes();
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(v.parse::<u64>().map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// The media type of the body, lower-cased comparison left to the caller.
    pub fn content_type(&self) -> Option<&str> {
        let v = self.header(HeaderName::ContentType)?;
        Some(super::grammar::trim_str(v.split(';').next().unwrap_or(v)))
    }

    fn str_at(&self, s: Span) -> &str {
        // The parser checked that every span it stores is UTF-8; a failure here
        // would be a parser bug, and "" is the harmless answer.
        std::str::from_utf8(&self.buf[s.range()]).unwrap_or("")
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.start {
            StartLine::Request { method, .. } => write!(f, "{} {}", method, self.request_uri_str()),
            StartLine::Response { code, .. } => write!(f, "{} {} ({})", code, self.reason(), self.method()),
        }
    }
}
