//! [`SessionDescription`] to bytes: CRLF line endings and the field order of
//! RFC 8866 §5, so that every SDP the switch sends looks the same whatever
//! shape the peer's had.
//!
//! Within an m-line the interpreted attributes come first (each rtpmap with
//! its fmtp, fmtps without rtpmap, ptime, maxptime, rtcp, rtcp-mux,
//! direction), then the verbatim ones in their order. `parse(write(x)) == x`
//! holds for any model the parser can produce; two shapes it cannot produce
//! are written as near as the grammar allows: an empty `s=` is written `s= `
//! (RFC 8866 §5.3), and an IPv4 multicast address count without a TTL is
//! dropped, since the grammar has no place for it.

use std::fmt::Arguments;
use std::io::Write as _;

use super::media::{Format, MediaDescription};
use super::session::{Bandwidth, Connection, Origin, SessionDescription};

/// Appends the canonical encoding of `sdp` to `out`.
pub fn write(sdp: &SessionDescription, out: &mut Vec<u8>) {
    line(out, format_args!("v=0"));
    origin(out, &sdp.origin);
    if sdp.session_name.is_empty() {
        line(out, format_args!("s= "));
    } else {
        line(out, format_args!("s={}", sdp.session_name));
    }
    if let Some(i) = &sdp.information {
        line(out, format_args!("i={i}"));
    }
    if let Some(u) = &sdp.uri {
        line(out, format_args!("u={u}"));
    }
    for e in &sdp.emails {
        line(out, format_args!("e={e}"));
    }
    for p in &sdp.phones {
        line(out, format_args!("p={p}"));
    }
    if let Some(c) = &sdp.connection {
        connection(out, c);
    }
    bandwidths(out, &sdp.bandwidths);
    if sdp.times.is_empty() {
        line(out, format_args!("t=0 0"));
    }
    for t in &sdp.times {
        line(out, format_args!("t={} {}", t.start, t.stop));
        for r in &t.repeats {
            line(out, format_args!("r={r}"));
        }
    }
    if let Some(z) = &sdp.time_zones {
        line(out, format_args!("z={z}"));
    }
    if let Some(k) = &sdp.key {
        line(out, format_args!("k={k}"));
    }
    if let Some(d) = sdp.direction {
        line(out, format_args!("a={}", d.as_str()));
    }
    for a in &sdp.attributes {
        line(out, format_args!("a={a}"));
    }
    for m in &sdp.media {
        media(out, m);
    }
}

fn media(out: &mut Vec<u8>, m: &MediaDescription) {
    push(out, format_args!("m={} {}", m.media.as_str(), m.port));
    if let Some(n) = m.port_count {
        push(out, format_args!("/{n}"));
    }
    push(out, format_args!(" {}", m.proto.as_str()));
    for f in &m.formats {
        match f {
            Format::Pt(pt) => push(out, format_args!(" {pt}")),
            Format::Token(t) => push(out, format_args!(" {t}")),
        }
    }
    out.extend_from_slice(b"\r\n");
    if let Some(i) = &m.information {
        line(out, format_args!("i={i}"));
    }
    if let Some(c) = &m.connection {
        connection(out, c);
    }
    bandwidths(out, &m.bandwidths);
    if let Some(k) = &m.key {
        line(out, format_args!("k={k}"));
    }
    for r in &m.rtpmaps {
        match r.channels {
            Some(ch) => line(
                out,
                format_args!("a=rtpmap:{} {}/{}/{ch}", r.pt, r.encoding, r.clock_rate),
            ),
            None => line(
                out,
                format_args!("a=rtpmap:{} {}/{}", r.pt, r.encoding, r.clock_rate),
            ),
        }
        if let Some(f) = m.fmtps.iter().find(|f| f.pt == r.pt) {
            fmtp(out, f.pt, &f.params);
        }
    }
    for f in m.fmtps.iter().filter(|f| m.rtpmap(f.pt).is_none()) {
        fmtp(out, f.pt, &f.params);
    }
    if let Some(p) = m.ptime {
        line(out, format_args!("a=ptime:{p}"));
    }
    if let Some(p) = m.maxptime {
        line(out, format_args!("a=maxptime:{p}"));
    }
    if let Some(r) = &m.rtcp {
        match r.addr {
            Some(addr) => line(
                out,
                format_args!(
                    "a=rtcp:{} IN {} {addr}",
                    r.port,
                    super::AddrType::of(addr).as_str()
                ),
            ),
            None => line(out, format_args!("a=rtcp:{}", r.port)),
        }
    }
    if m.rtcp_mux {
        line(out, format_args!("a=rtcp-mux"));
    }
    if let Some(d) = m.direction {
        line(out, format_args!("a={}", d.as_str()));
    }
    for a in &m.attributes {
        line(out, format_args!("a={a}"));
    }
}

fn origin(out: &mut Vec<u8>, o: &Origin) {
    line(
        out,
        format_args!(
            "o={} {} {} IN {} {}",
            o.username,
            o.session_id,
            o.session_version,
            o.addr_type.as_str(),
            o.address
        ),
    );
}

fn connection(out: &mut Vec<u8>, c: &Connection) {
    push(
        out,
        format_args!("c=IN {} {}", super::AddrType::of(c.addr).as_str(), c.addr),
    );
    match (c.addr.is_ipv4(), c.ttl, c.count) {
        (true, Some(ttl), count) => {
            push(out, format_args!("/{ttl}"));
            if let Some(n) = count {
                push(out, format_args!("/{n}"));
            }
        }
        (false, _, Some(n)) => push(out, format_args!("/{n}")),
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

fn bandwidths(out: &mut Vec<u8>, list: &[Bandwidth]) {
    for b in list {
        line(out, format_args!("b={}:{}", b.kind.as_str(), b.value));
    }
}

fn fmtp(out: &mut Vec<u8>, pt: u8, params: &str) {
    if params.is_empty() {
        line(out, format_args!("a=fmtp:{pt}"));
    } else {
        line(out, format_args!("a=fmtp:{pt} {params}"));
    }
}

fn line(out: &mut Vec<u8>, args: Arguments<'_>) {
    push(out, args);
    out.extend_from_slice(b"\r\n");
}

fn push(out: &mut Vec<u8>, args: Arguments<'_>) {
    // Writing into a Vec<u8> cannot fail (it only grows), so the Result
    // carries nothing.
    let _ = out.write_fmt(args);
}
