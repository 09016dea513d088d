//! Answers to requests the parser refused (RFC 3261 §8.2.6.2 needs Via, From,
//! To, Call-ID and CSeq copied into any response). When those lines cannot be
//! found the message is dropped: there is nobody to answer.

use super::grammar::{is_ws, trim};
use super::header::HeaderName;

/// Builds a bare response (`400 Bad Request: <why>`, or 505) to a message that
/// did not parse, by copying the raw mandatory header lines. Returns `None` for
/// responses, for garbage that is not a request, and when a mandatory line is
/// missing.
pub fn response_to_unparsable(raw: &[u8], code: u16, why: &str, to_tag: &str) -> Option<Vec<u8>> {
    let mut raw = raw;
    while raw.starts_with(b"\r\n") {
        raw = &raw[2..];
    }
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = &raw[..head_end];
    let first_end = head.windows(2).position(|w| w == b"\r\n").unwrap_or(head.len());
    let first = &head[..first_end];
    // Only requests get answers; a response is never answered (RFC 3261 §8.1.3.1).
    if first.starts_with(b"SIP/") || !first.first().is_some_and(u8::is_ascii_uppercase) {
        return None;
    }
    let mut via = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    let lines: Vec<&[u8]> = head.get(first_end + 2..).unwrap_or(&[]).split(|&b| b == b'\n').collect();
    let mut i = 0;
    while i < lines.len() {
        // Unfold continuation lines into one logical line.
        let mut line: Vec<u8> = strip_cr(lines[i]).to_vec();
        while i + 1 < lines.len() && lines[i + 1].first().is_some_and(|&b| is_ws(b)) {
            i += 1;
            line.push(b' ');
            line.extend_from_slice(trim(strip_cr(lines[i])));
        }
        i += 1;
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let value = trim(&line[colon + 1..]).to_vec();
        if value.iter().any(|&b| b < 0x20 && b != b'\t') {
            continue;
        }
        match HeaderName::from_bytes(trim(&line[..colon])) {
            HeaderName::Via => via.push(value),
            HeaderName::From if from.is_none() => from = Some(value),
            HeaderName::To if to.is_none() => to = Some(value),
            HeaderName::CallId if call_id.is_none() => call_id = Some(value),
            HeaderName::CSeq if cseq.is_none() => cseq = Some(value),
            _ => {}
        }
    }
    if via.is_empty() {
        return None;
    }
    let (from, mut to, call_id, cseq) = (from?, to?, call_id?, cseq?);
    if !to.windows(5).any(|w| w.eq_ignore_ascii_case(b";tag=")) {
        to.extend_from_slice(b";tag=");
        to.extend_from_slice(to_tag.as_bytes());
    }
    let reason = if code == 505 { "Version Not Supported" } else { "Bad Request" };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {code} {reason}").as_bytes());
    if !why.is_empty() && code == 400 {
        out.extend_from_slice(b" (");
        out.extend_from_slice(why.as_bytes());
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
    for v in via {
        out.extend_from_slice(b"Via: ");
        out.extend_from_slice(&v);
        out.extend_from_slice(b"\r\n");
    }
    for (n, v) in [("From", from), ("To", to), ("Call-ID", call_id), ("CSeq", cseq)] {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_bad_request() {
        let raw = b"INVITE <sip:a@b> SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: sip:x@y\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        let r = response_to_unparsable(raw, 400, "Malformed Request-URI", "zz").unwrap();
        let m = crate::sip::parse(&r).unwrap();
        assert_eq!(m.status(), Some(400));
        assert_eq!(m.to_tag(), Some("zz"));
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK1"));
    }

    #[test]
    fn drops_what_it_cannot_answer() {
        assert!(response_to_unparsable(b"SIP/2.0 200 OK\r\n\r\n", 400, "", "t").is_none());
        assert!(response_to_unparsable(b"INVITE sip:a@b SIP/2.0\r\nFrom: x\r\n\r\n", 400, "", "t").is_none());
        assert!(response_to_unparsable(b"\x00\x01garbage", 400, "", "t").is_none());
    }
}
