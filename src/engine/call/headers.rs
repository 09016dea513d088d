//! What crosses from one leg to the other: the header pass-through policy,
//! re-sent requests, and hanging up answers nobody wants.

use std::time::Instant;

use bytes::Bytes;

use crate::engine::Engine;
use crate::sip::build::Writer;
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transport::{Peer, Transmit};

/// Headers a B2BUA relays between legs unchanged: everything except what
/// belongs to one hop, one transaction or one dialog, and what an untrusted
/// caller must not set (asserted identity).
fn is_passthrough(name: HeaderName, raw_name: &str, response: bool) -> bool {
    use HeaderName::*;
    match name {
        Via | From | To | CallId | CSeq | Contact | RecordRoute | Route | MaxForwards | ContentLength | ContentType
        | Authorization | ProxyAuthorization | WwwAuthenticate | ProxyAuthenticate | ProxyRequire | UserAgent | Server
        | Allow | Supported | PAssertedIdentity | Privacy | Unsupported | RetryAfter | MinExpires | Expires
        | ContentEncoding | Date => false,
        Require => true,
        SessionExpires | MinSe | Subject | Accept | Event | ReferTo => true,
        Other => {
            let l = raw_name.to_ascii_lowercase();
            // Hop-specific or identity-bearing extension headers stay behind.
            !(l.starts_with("p-") || l == "remote-party-id" || l == "diversion" && response || l == "path" || l == "service-route")
        }
    }
}

pub(super) fn copy_passthrough(w: &mut Writer, from: &Message, response: bool, skip: &[HeaderName]) {
    for (name, raw, value) in from.all_headers() {
        if is_passthrough(name, raw, response) && !skip.contains(&name) {
            if name == HeaderName::Other {
                w.header_named(raw, value);
            } else {
                w.header(name, value);
            }
        }
    }
}

pub(super) fn passthrough_list(from: &Message, response: bool) -> Vec<(String, String)> {
    from.all_headers()
        .filter(|(n, raw, _)| is_passthrough(*n, raw, response))
        .map(|(n, raw, v)| (if n == HeaderName::Other { raw.to_owned() } else { n.as_str().to_owned() }, v.to_owned()))
        .collect()
}

/// The same request with a new top-Via branch, a new CSeq number and extra
/// headers (re-sending an INVITE with credentials, RFC 3261 §22.2).
pub(super) fn rewrite_request(req: &Message, branch: &str, cseq: u32, extra: &[(HeaderName, String)]) -> Bytes {
    let mut w = Writer::request(req.method(), req.request_uri_str());
    let mut first_via = true;
    for (name, raw, value) in req.all_headers() {
        match name {
            HeaderName::Via if first_via => {
                first_via = false;
                let v = crate::sip::header::Via::parse(value);
                let sent = v.map(|v| (v.transport.to_owned(), v.host.to_owned(), v.port));
                match sent {
                    Some((t, h, p)) => {
                        let hp = p.map_or(h.clone(), |p| format!("{h}:{p}"));
                        w.header(HeaderName::Via, format_args!("SIP/2.0/{t} {hp};branch={branch};rport"));
                    }
                    None => {
                        w.header(HeaderName::Via, value);
                    }
                }
            }
            HeaderName::CSeq => {
                w.header(HeaderName::CSeq, format_args!("{cseq} {}", req.method()));
            }
            HeaderName::ContentLength | HeaderName::ContentType | HeaderName::Authorization | HeaderName::ProxyAuthorization => {}
            HeaderName::Other => {
                w.header_named(raw, value);
            }
            _ => {
                w.header(name, value);
            }
        }
    }
    for (n, v) in extra {
        w.header(*n, v);
    }
    w.finish(req.content_type(), req.body())
}

/// ACK and BYE a 2xx no call wants, from the response alone.
pub(crate) fn hang_up_stray(e: &mut Engine, now: Instant, resp: &Message, peer: Peer) {
    let Some(target) = resp.contacts().first().map(|c| c.uri.to_owned()) else { return };
    let routes: Vec<String> = resp.values(HeaderName::RecordRoute).into_iter().rev().map(str::to_owned).collect();
    let seq = resp.cseq_seq();
    for (method, cseq) in [(Method::Ack, seq), (Method::Bye, seq.saturating_add(1))] {
        let mut w = Writer::request(&method, &target);
        let branch = e.ids.branch();
        w.header(HeaderName::Via, format_args!("SIP/2.0/{} {};branch={branch};rport", peer.transport, e.local.sent_by(peer.transport)));
        w.header(HeaderName::MaxForwards, 70);
        for r in &routes {
            w.header(HeaderName::Route, r);
        }
        w.copy(resp, HeaderName::From).copy(resp, HeaderName::To).copy(resp, HeaderName::CallId);
        w.header(HeaderName::CSeq, format_args!("{cseq} {method}"));
        let bytes = w.finish(None, b"");
        if method == Method::Ack {
            e.out.push_back(Transmit { dest: peer, bytes });
        } else {
            let _ = e.tx.send_request(now, bytes, peer);
        }
    }
}
