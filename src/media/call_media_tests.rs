//! The data path in virtual time: relay rewrites, latching, RTCP, the media
//! timeout, DTMF from SIP INFO, and transcoding producing the other codec.
//! Each test reads the clock once, for its virtual time origin.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_codecs::CodecKind;

use super::*;
use crate::rtp::{HeaderFields, NtpBase, RtpHeaderView, write_header};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn leg(codec: CodecKind, pt: u8, port: u16, te: Option<u8>) -> LegParams {
    LegParams {
        remote: Some(addr(port)),
        remote_rtcp: Some(addr(port + 1)),
        rtcp_mux: false,
        codec,
        pt,
        ptime_ms: 20,
        telephone_event: te,
        comfort_noise: None,
        send: true,
        recv: true,
    }
}

fn media(t0: Instant, timeout: Option<Duration>) -> CallMedia {
    let cfg = MediaConfig { timeout, opus_complexity: 5, ntp_base: NtpBase { instant: t0, unix: Duration::from_secs(1_800_000_000) } };
    CallMedia::new(MediaId(7), cfg, t0)
}

fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 12 + payload.len()];
    write_header(&mut b, &HeaderFields { marker: false, payload_type: pt, seq, timestamp: u32::from(seq) * 160, ssrc: 0xabcd }).unwrap();
    b[12..].copy_from_slice(payload);
    b
}

#[test]
fn relay_rewrites_payload_types_and_latches_to_the_source() {
    let t0 = Instant::now();
    let mut m = media(t0, None);
    m.update(t0, MediaSide::A, leg(CodecKind::Pcmu, 0, 4000, Some(101)));
    m.update(t0, MediaSide::B, leg(CodecKind::Pcmu, 0, 5000, Some(96)));
    assert!(m.is_relay());
    // An event from A on PT 101 reaches B as PT 96, untouched otherwise.
    let mut p = rtp(101, 1, &[5, 0x0a, 0, 160]);
    let out = m.handle_rtp(t0, MediaSide::A, addr(4000), &mut p).expect("relayed");
    assert_eq!(out, Outgoing { from: MediaSide::B, rtcp: false, dst: addr(5000), len: 16 });
    assert_eq!(RtpHeaderView::parse(&p).unwrap().payload_type(), 96);
    // B's audio comes from a NATed address: A's audio now goes there.
    let mut p = rtp(0, 1, &[0xff; 160]);
    m.handle_rtp(t0, MediaSide::B, addr(6000), &mut p).expect("relayed to A");
    // A stranger with another SSRC cannot take B's place while B talks.
    let mut p = rtp(0, 2, &[0xff; 160]);
    p[8..12].copy_from_slice(&0x5555_5555u32.to_be_bytes());
    assert!(m.handle_rtp(t0, MediaSide::B, addr(6666), &mut p).is_none(), "RTP bleed refused");
    let mut p = rtp(0, 2, &[0xff; 160]);
    let out = m.handle_rtp(t0, MediaSide::A, addr(4000), &mut p).expect("relayed");
    assert_eq!(out.dst, addr(6000), "symmetric RTP: replies go where the leg sends from");
    // A payload type nobody negotiated is dropped.
    let mut p = rtp(18, 3, &[0; 20]);
    assert!(m.handle_rtp(t0, MediaSide::A, addr(4000), &mut p).is_none());
    // Garbage is dropped, not relayed.
    assert!(m.handle_rtp(t0, MediaSide::A, addr(4000), &mut [0x12, 0x34]).is_none());
}

#[test]
fn a_leg_on_hold_is_not_sent_to() {
    let t0 = Instant::now();
    let mut m = media(t0, None);
    let mut held = leg(CodecKind::Pcma, 8, 4000, None);
    held.send = false;
    m.update(t0, MediaSide::A, held);
    m.update(t0, MediaSide::B, leg(CodecKind::Pcma, 8, 5000, None));
    let mut p = rtp(8, 1, &[0xd5; 160]);
    assert!(m.handle_rtp(t0, MediaSide::B, addr(5000), &mut p).is_none(), "A is on hold");
    let mut p = rtp(8, 1, &[0xd5; 160]);
    assert!(m.handle_rtp(t0, MediaSide::A, addr(4000), &mut p).is_some(), "music on hold still reaches B");
}

#[test]
fn rtcp_is_relayed_to_the_other_legs_rtcp_port() {
    let t0 = Instant::now();
    let mut m = media(t0, None);
    m.update(t0, MediaSide::A, leg(CodecKind::Pcmu, 0, 4000, None));
    m.update(t0, MediaSide::B, leg(CodecKind::Pcmu, 0, 5000, None));
    // An empty RR from A.
    let mut rr = [0x80, 201, 0, 1, 0, 0, 0xab, 0xcd];
    let out = m.handle_rtcp(t0, MediaSide::A, addr(4001), &mut rr).expect("relayed");
    assert_eq!((out.from, out.rtcp, out.dst), (MediaSide::B, true, addr(5001)));
}

#[test]
fn silence_on_every_sending_leg_times_the_call_out_once() {
    let t0 = Instant::now();
    let mut m = media(t0, Some(Duration::from_secs(10)));
    m.update(t0, MediaSide::A, leg(CodecKind::Pcmu, 0, 4000, None));
    m.update(t0, MediaSide::B, leg(CodecKind::Pcmu, 0, 5000, None));
    let mut now = t0;
    let mut timeouts = 0;
    for s in 0..30u64 {
        now = t0 + Duration::from_secs(s);
        if s < 5 {
            let mut p = rtp(0, s as u16, &[0xff; 160]);
            m.handle_rtp(now, MediaSide::A, addr(4000), &mut p);
        }
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
        while let Some(ev) = m.poll_event() {
            assert_eq!(ev, MediaEvent::Timeout { id: MediaId(7) });
            assert!(now >= t0 + Duration::from_secs(14), "A sent until 4 s: {:?}", now - t0);
            timeouts += 1;
        }
    }
    assert_eq!(timeouts, 1, "one timeout by {:?}", now - t0);
}

#[test]
fn info_digits_reach_a_relayed_leg_as_events() {
    let t0 = Instant::now();
    let mut m = media(t0, None);
    m.update(t0, MediaSide::A, leg(CodecKind::Pcmu, 0, 4000, Some(101)));
    m.update(t0, MediaSide::B, leg(CodecKind::Pcmu, 0, 5000, Some(101)));
    m.send_dtmf(t0, MediaSide::B, '7', 100);
    let mut buf = [0u8; 200];
    let mut packets = Vec::new();
    let mut now = t0;
    for _ in 0..20 {
        while let Some(o) = m.poll_transmit(now, &mut buf) {
            assert_eq!((o.from, o.dst), (MediaSide::B, addr(5000)));
            let v = RtpHeaderView::parse(&buf[..o.len]).unwrap();
            let ev = switchyard_codecs::telephone_event::TelephoneEvent::parse(v.payload()).unwrap();
            packets.push((v.marker(), ev.event, ev.end));
        }
        now = m.poll_timeout().unwrap().max(now + Duration::from_millis(1));
        m.handle_timeout(now);
    }
    assert!(packets.first() == Some(&(true, 7, false)), "starts with the marker: {packets:?}");
    assert_eq!(packets.iter().filter(|p| p.2).count(), 3, "end sent three times: {packets:?}");
    assert!(packets.iter().all(|p| p.1 == 7));
}

#[test]
fn transcoding_sends_the_other_codec_at_the_other_ptime() {
    let t0 = Instant::now();
    let mut m = media(t0, None);
    m.update(t0, MediaSide::A, leg(CodecKind::Pcmu, 0, 4000, None));
    let mut b = leg(CodecKind::G722, 9, 5000, None);
    b.ptime_ms = 40;
    m.update(t0, MediaSide::B, b);
    assert!(m.is_transcoding());
    let mut buf = [0u8; 1500];
    let mut to_b = Vec::new();
    for i in 0..100u16 {
        let now = t0 + Duration::from_millis(20 * u64::from(i));
        let tone: Vec<u8> = (0..160).map(|k| switchyard_codecs::g711::encode_mu((8000.0 * (f64::from(k) * 0.785).sin()) as i16)).collect();
        let mut p = rtp(0, i, &tone);
        m.handle_rtp(now, MediaSide::A, addr(4000), &mut p);
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
        while let Some(o) = m.poll_transmit(now, &mut buf) {
            if o.from == MediaSide::B && !o.rtcp {
                let v = RtpHeaderView::parse(&buf[..o.len]).unwrap();
                to_b.push((v.payload_type(), v.payload().len(), v.timestamp()));
            }
        }
    }
    assert!(to_b.len() >= 40, "about one G.722 packet per 40 ms: {}", to_b.len());
    assert!(to_b.iter().all(|p| p.0 == 9 && p.1 == 320), "PT 9, 40 ms of G.722 = 320 bytes");
    assert!(to_b.windows(2).all(|w| w[1].2.wrapping_sub(w[0].2) == 320), "timestamps advance 40 ms at the 8 kHz G.722 clock");
}
