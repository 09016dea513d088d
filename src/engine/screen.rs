//! Screening of requests before any processing: the answers RFC 3261 §8.2 and
//! RFC 4475 §3.3 owe to requests that parse but cannot be processed.
//!
//! One function, one place: every peer fault that ends in a status code is
//! decided here, in the order §8.2 gives (method, URI scheme, extensions,
//! content).

use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::uri::Scheme;

/// A refusal: status, reason text, and headers the RFC asks to go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refuse {
    /// Status code.
    pub code: u16,
    /// Reason phrase.
    pub reason: String,
    /// Extra headers (`Unsupported`, `Accept`, `Allow`...).
    pub headers: Vec<(HeaderName, String)>,
}

impl Refuse {
    fn new(code: u16, reason: impl Into<String>) -> Refuse {
        Refuse { code, reason: reason.into(), headers: Vec::new() }
    }
}

/// Extensions this switch implements (RFC 3261 §8.2.2.3: anything else in
/// Require gets 420).
pub const SUPPORTED: &[&str] = &["timer"];

/// Methods the switch handles.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY";

/// Checks a request that starts a new transaction. `Ok` means go on.
pub fn screen(req: &Message) -> Result<(), Refuse> {
    if let Some(d) = req.defect() {
        return Err(Refuse::new(400, d.to_string()));
    }
    let method = req.method();
    // §8.2.2.1: the Request-URI scheme must be one we can route.
    match req.request_uri().map(|u| u.scheme) {
        Some(Scheme::Sip) | Some(Scheme::Sips) => {}
        _ => return Err(Refuse::new(416, "Unsupported URI Scheme")),
    }
    // A REGISTER's To is the address-of-record and must be a SIP URI too
    // (RFC 4475 §3.3.4).
    if *method == Method::Register && !req.to().and_then(|t| t.uri()).is_some_and(|u| u.is_sip()) {
        return Err(Refuse::new(416, "Unsupported URI Scheme in To"));
    }
    if matches!(method, Method::Other(_) | Method::Publish | Method::Subscribe | Method::Prack) {
        let mut r = Refuse::new(405, "Method Not Allowed");
        r.headers.push((HeaderName::Allow, ALLOW.to_owned()));
        return Err(r);
    }
    // §8.2.2.3 Require (ACK and CANCEL are exempt: they cannot be refused).
    if !matches!(method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<&str> = req
            .values(HeaderName::Require)
            .into_iter()
            .filter(|ext| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(ext)))
            .collect();
        if !unsupported.is_empty() {
            let mut r = Refuse::new(420, "Bad Extension");
            r.headers.push((HeaderName::Unsupported, unsupported.join(", ")));
            return Err(r);
        }
    }
    // §8.2.3: a body we cannot read. Only INVITE/UPDATE/ACK bodies matter to a
    // B2BUA passing SDP; others are relayed untouched or ignored.
    if matches!(method, Method::Invite | Method::Update) && !req.body().is_empty() {
        let ct = req.content_type().unwrap_or("");
        let ok = ct.eq_ignore_ascii_case("application/sdp") || ct.to_ascii_lowercase().starts_with("multipart/");
        if !ok {
            let mut r = Refuse::new(415, "Unsupported Media Type");
            r.headers.push((HeaderName::Accept, "application/sdp".to_owned()));
            return Err(r);
        }
        if let Some(enc) = req.header(HeaderName::ContentEncoding) {
            if !enc.eq_ignore_ascii_case("identity") {
                let mut r = Refuse::new(415, "Unsupported Content-Encoding");
                r.headers.push((HeaderName::Accept, "application/sdp".to_owned()));
                return Err(r);
            }
        }
    }
    // RFC 3261 §21.4.7 / RFC 4475 §3.3.15: an INVITE whose Accept excludes SDP
    // cannot get the SDP answer it would need.
    if *method == Method::Invite {
        let accepts: Vec<&str> = req.values(HeaderName::Accept);
        if !accepts.is_empty() && !accepts.iter().any(|a| accepts_sdp(a)) {
            let mut r = Refuse::new(406, "Not Acceptable");
            r.headers.push((HeaderName::Accept, "application/sdp".to_owned()));
            return Err(r);
        }
    }
    Ok(())
}

fn accepts_sdp(a: &str) -> bool {
    let t = a.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    t == "application/sdp" || t == "application/*" || t == "*/*"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn req(extra: &str, body: &str) -> Message {
        let s = format!(
            "INVITE sip:1002@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:1001@h>;tag=1\r\nTo: <sip:1002@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn answers() {
        assert_eq!(screen(&req("", "")), Ok(()));
        assert_eq!(screen(&req("Content-Type: application/sdp\r\n", "v=0\r\n")), Ok(()));
        assert_eq!(screen(&req("Require: timer\r\n", "")), Ok(()));
        let r = screen(&req("Require: foo, timer, bar\r\n", "")).unwrap_err();
        assert_eq!(r.code, 420);
        assert_eq!(r.headers, vec![(HeaderName::Unsupported, "foo, bar".to_owned())]);
        assert_eq!(screen(&req("Content-Type: application/x-foo\r\n", "zz")).unwrap_err().code, 415);
        assert_eq!(screen(&req("Accept: text/plain\r\nContent-Type: application/sdp\r\n", "v=0\r\n")).unwrap_err().code, 406);
        assert_eq!(screen(&req("Accept: application/sdp, text/plain\r\n", "")), Ok(()));
    }
}
