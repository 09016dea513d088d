//! Writing SIP messages into buffers the caller owns.
//!
//! Headers are written in the order given; `finish` adds Content-Length last so
//! it can never disagree with the body.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use bytes::Bytes;

use super::header::{HeaderName, Via};
use super::message::{Message, Method};

/// A message being written.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

/// Lets `write!` target the byte buffer without a temporary String.
struct Sink<'a>(&'a mut Vec<u8>);

impl fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Writer {
    /// Starts a request line.
    pub fn request(method: &Method, uri: &str) -> Writer {
        let mut buf = Vec::with_capacity(768);
        buf.extend_from_slice(method.as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(uri.as_bytes());
        buf.extend_from_slice(b" SIP/2.0\r\n");
        Writer { buf }
    }

    /// Starts a status line.
    pub fn response(code: u16, reason: &str) -> Writer {
        let mut buf = Vec::with_capacity(768);
        let _ = write!(Sink(&mut buf), "SIP/2.0 {code} {reason}\r\n");
        Writer { buf }
    }

    /// Adds a header with a known name.
    pub fn header(&mut self, name: HeaderName, value: impl fmt::Display) -> &mut Self {
        self.header_named(name.as_str(), value)
    }

    /// Adds a header by name (extension headers, or a name copied from input).
    pub fn header_named(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        let _ = write!(Sink(&mut self.buf), "{value}");
        self.buf.extend_from_slice(b"\r\n");
        self
    }

    /// Copies every line of `name` from `msg` unchanged.
    pub fn copy(&mut self, msg: &Message, name: HeaderName) -> &mut Self {
        for v in msg.header_lines(name) {
            self.header(name, v);
        }
        self
    }

    /// Ends the header block with Content-Length (and Content-Type when a body
    /// is given) and appends the body.
    pub fn finish(mut self, content_type: Option<&str>, body: &[u8]) -> Bytes {
        if let Some(ct) = content_type.filter(|_| !body.is_empty()) {
            self.header(HeaderName::ContentType, ct);
        }
        let _ = write!(Sink(&mut self.buf), "Content-Length: {}\r\n\r\n", body.len());
        self.buf.extend_from_slice(body);
        Bytes::from(self.buf)
    }
}

/// Starts a response to `req` (RFC 3261 §8.2.6.2): Via lines, From, To (with
/// `to_tag` added when the request's To has none), Call-ID and CSeq copied.
/// With `source` given, the top Via gets `received` and a filled-in `rport`
/// as RFC 3581 §4 asks.
pub fn response_to(req: &Message, code: u16, reason: &str, to_tag: Option<&str>, source: Option<SocketAddr>) -> Writer {
    let mut w = Writer::response(code, if reason.is_empty() { reason_phrase(code) } else { reason });
    let mut first = true;
    for line in req.header_lines(HeaderName::Via) {
        if first {
            first = false;
            let top_end = top_value_end(line);
            let (top, rest) = line.split_at(top_end);
            match (source, Via::parse(top)) {
                (Some(src), Some(via)) => {
                    let mut v = String::with_capacity(top.len() + 40);
                    v.push_str(strip_param(top, "rport").as_str());
                    let v = strip_param(&v, "received");
                    let mut v = v;
                    let ip = src.ip().to_string();
                    if via.host_bare() != ip || via.rport().is_some() {
                        v.push_str(";received=");
                        v.push_str(&ip);
                    }
                    if via.rport().is_some() {
                        let _ = write!(v, ";rport={}", src.port());
                    }
                    v.push_str(rest);
                    w.header(HeaderName::Via, v);
                }
                _ => {
                    w.header(HeaderName::Via, line);
                }
            }
        } else {
            w.header(HeaderName::Via, line);
        }
    }
    w.copy(req, HeaderName::From);
    match (req.header(HeaderName::To), to_tag) {
        (Some(to), Some(tag)) if req.to_tag().is_none() => {
            w.header_named("To", format_args!("{to};tag={tag}"));
        }
        (Some(to), _) => {
            w.header(HeaderName::To, to);
        }
        (None, _) => {}
    }
    w.copy(req, HeaderName::CallId);
    w.copy(req, HeaderName::CSeq);
    w
}

/// End of the first comma-separated value of a Via line.
fn top_value_end(line: &str) -> usize {
    let mut end = line.len();
    let _ = super::grammar::split_commas(line.as_bytes(), |_, z| {
        end = z;
        false
    });
    end
}

/// Removes `;name` or `;name=value` from a header value.
fn strip_param(v: &str, name: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut parts = v.split(';');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for p in parts {
        let pname = p.split('=').next().unwrap_or("").trim();
        if !pname.eq_ignore_ascii_case(name) {
            out.push(';');
            out.push_str(p);
        }
    }
    out
}

/// The standard reason phrase for a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    #[test]
    fn response_fills_rport() {
        let req = parse(
            b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP p;branch=z9hG4bK0\r\nFrom: <sip:a@b>;tag=1\r\nTo: sip:x@y\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n",
        )
        .unwrap();
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let r = response_to(&req, 200, "", Some("abc"), Some(src)).finish(None, b"");
        let m = parse(&r).unwrap();
        let v = m.top_via().unwrap();
        assert_eq!(v.received(), Some("192.0.2.7"));
        assert_eq!(v.rport(), Some(Some("40000")));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(m.via_count(), 2);
        assert_eq!(m.to_tag(), Some("abc"));
        assert_eq!(m.reason(), "OK");
    }

    #[test]
    fn writer_sets_length() {
        let mut w = Writer::request(&Method::Invite, "sip:b@h");
        w.header(HeaderName::Via, "SIP/2.0/UDP h;branch=z9hG4bKx")
            .header(HeaderName::From, "<sip:a@h>;tag=1")
            .header(HeaderName::To, "<sip:b@h>")
            .header(HeaderName::CallId, "c")
            .header(HeaderName::CSeq, "1 INVITE");
        let b = w.finish(Some("application/sdp"), b"v=0\r\n");
        let m = parse(&b).unwrap();
        assert_eq!(m.body(), b"v=0\r\n");
        assert_eq!(m.content_type(), Some("application/sdp"));
    }
}
