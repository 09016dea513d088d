//! Interoperability samples and property tests for the whole SDP module.
//!
//! The baresip and linphone offers were captured on 127.0.0.1 from baresip
//! 1.0.0 and linphonec 5.1 calling a SIPp UAS; the SIPp ones are what
//! `sipp -sd uac_pcap` and the built-in `uas` scenario send, with the
//! keywords filled in.

use std::net::IpAddr;

use proptest::prelude::*;
use switchyard_codecs::CodecKind;

use super::*;

pub(super) const SIPP_UAC_PCAP_OFFER: &str = concat!(
    "v=0\r\n",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n",
    "s=-\r\n",
    "c=IN IP4 127.0.0.1\r\n",
    "t=0 0\r\n",
    "m=audio 6000 RTP/AVP 8 101\r\n",
    "a=rtpmap:8 PCMA/8000\r\n",
    "a=rtpmap:101 telephone-event/8000\r\n",
    "a=fmtp:101 0-11,16\r\n",
);

pub(super) const SIPP_UAS_ANSWER: &str = concat!(
    "v=0\r\n",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n",
    "s=-\r\n",
    "c=IN IP4 127.0.0.1\r\n",
    "t=0 0\r\n",
    "m=audio 6000 RTP/AVP 0\r\n",
    "a=rtpmap:0 PCMU/8000\r\n",
);

pub(super) const BARESIP_OFFER: &str = concat!(
    "v=0\r\n",
    "o=- 3597945385 287806306 IN IP4 127.0.0.1\r\n",
    "s=-\r\n",
    "c=IN IP4 127.0.0.1\r\n",
    "t=0 0\r\n",
    "a=tool:baresip 1.0.0\r\n",
    "m=audio 4314 RTP/AVP 0 8 9 96 97 10 98 99 100 101 11 102 103 104 105\r\n",
    "a=rtpmap:0 PCMU/8000\r\n",
    "a=rtpmap:8 PCMA/8000\r\n",
    "a=rtpmap:9 G722/8000\r\n",
    "a=rtpmap:96 opus/48000/2\r\n",
    "a=fmtp:96 stereo=1;sprop-stereo=1\r\n",
    "a=rtpmap:97 L16/48000/2\r\n",
    "a=rtpmap:10 L16/44100/2\r\n",
    "a=rtpmap:98 L16/32000/2\r\n",
    "a=rtpmap:99 L16/16000/2\r\n",
    "a=rtpmap:100 L16/8000/2\r\n",
    "a=rtpmap:101 L16/48000\r\n",
    "a=rtpmap:11 L16/44100\r\n",
    "a=rtpmap:102 L16/32000\r\n",
    "a=rtpmap:103 L16/16000\r\n",
    "a=rtpmap:104 L16/8000\r\n",
    "a=rtpmap:105 telephone-event/8000\r\n",
    "a=fmtp:105 0-15\r\n",
    "a=sendrecv\r\n",
    "a=label:1\r\n",
    "a=rtcp-rsize\r\n",
    "a=ssrc:2480591892 cname:sip:alice@127.0.0.1:5094\r\n",
    "a=rtcp-mux\r\n",
    "a=minptime:4\r\n",
    "a=ptime:20\r\n",
);

pub(super) const LINPHONE_OFFER: &str = concat!(
    "v=0\r\n",
    "o=linphone 3869 3091 IN IP6 fd00::2\r\n",
    "s=Talk\r\n",
    "c=IN IP6 fd00::2\r\n",
    "t=0 0\r\n",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n",
    "m=audio 7078 RTP/AVP 96 97 98 0 8 18 99 100 101\r\n",
    "a=rtpmap:96 opus/48000/2\r\n",
    "a=fmtp:96 useinbandfec=1\r\n",
    "a=rtpmap:97 speex/16000\r\n",
    "a=fmtp:97 vbr=on\r\n",
    "a=rtpmap:98 speex/8000\r\n",
    "a=fmtp:98 vbr=on\r\n",
    "a=fmtp:18 annexb=yes\r\n",
    "a=rtpmap:99 telephone-event/48000\r\n",
    "a=rtpmap:100 telephone-event/16000\r\n",
    "a=rtpmap:101 telephone-event/8000\r\n",
    "a=rtcp-fb:* trr-int 5000\r\n",
    "a=rtcp-fb:* ccm tmmbr\r\n",
);

/// Two streams, session c= overridden for video, RFC 3605 rtcp, bandwidth,
/// multicast, repeat times, and lines nobody should send but some do.
pub(super) const EDGE_CASES: &str = "v=0\n\
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\n\
s=SDP Seminar\n\
i=A Seminar on the session description protocol\n\
u=http://www.example.com/seminars/sdp.pdf\n\
e=j.doe@example.com (Jane Doe)\n\
p=+1 617 555-6011\n\
c=IN IP4 224.2.17.12/127\n\
b=CT:128\n\
t=2873397496 2873404696\n\
r=604800 3600 0 90000\n\
z=2882844526 -1h 2898848070 0\n\
k=prompt\n\
a=recvonly\n\
a=tool:test\n\
q=unknown letter\n\
m=audio 49170 RTP/AVP 0 97\n\
b=AS:64\n\
b=TIAS:64000\n\
a=rtpmap:97 L16/16000\n\
a=rtcp:53020 IN IP4 126.16.64.4\n\
a=maxptime:40\n\
m=video 51372 RTP/AVP 99\n\
c=IN IP6 2001:db8::1\n\
a=rtpmap:99 h263-1998/90000\n\
a=fmtp:99 QCIF=2\n\
a=inactive\n\
m=image 0 udptl t38\n";

fn parse_str(s: &str) -> SessionDescription {
    parse(s.as_bytes()).expect("sample parses")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

#[test]
fn sipp_uac_pcap_offer() {
    let s = parse_str(SIPP_UAC_PCAP_OFFER);
    assert_eq!(s.origin.username, "user1");
    assert_eq!(s.origin.session_version, 2_353_687_637);
    assert_eq!(s.connection, Some(Connection::new(ip("127.0.0.1"))));
    let codecs = s.media[0].codecs();
    assert_eq!(codecs.len(), 2);
    assert_eq!(codecs[0].kind(), Some(CodecKind::Pcma));
    assert!(codecs[1].is_telephone_event());
    assert_eq!(
        (codecs[1].pt, codecs[1].fmtp.as_deref()),
        (101, Some("0-11,16"))
    );
}

#[test]
fn baresip_offer() {
    let s = parse_str(BARESIP_OFFER);
    let m = &s.media[0];
    assert_eq!(m.payload_types().count(), 15);
    assert!(m.rtcp_mux);
    assert_eq!(m.ptime, Some(20));
    assert_eq!(m.direction, Some(Direction::SendRecv));
    let kinds: Vec<_> = m.codecs().iter().filter_map(Codec::kind).collect();
    assert_eq!(
        kinds,
        vec![
            CodecKind::Pcmu,
            CodecKind::Pcma,
            CodecKind::G722,
            CodecKind::Opus,
            CodecKind::L16 { rate: 48000 },
            CodecKind::L16 { rate: 44100 },
            CodecKind::L16 { rate: 32000 },
            CodecKind::L16 { rate: 16000 },
            CodecKind::L16 { rate: 8000 },
        ],
        "stereo L16 (97, 10, 98-100) is not a codec the switch decodes"
    );
    assert_eq!(m.fmtp(96), Some("stereo=1;sprop-stereo=1"));
    let names: Vec<_> = m.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["label", "rtcp-rsize", "ssrc", "minptime"]);
    assert_eq!(
        s.attributes,
        vec![Attribute::new("tool", Some("baresip 1.0.0"))]
    );
}

#[test]
fn linphone_offer_over_ipv6() {
    let s = parse_str(LINPHONE_OFFER);
    assert_eq!(s.origin.addr_type, AddrType::Ip6);
    assert_eq!(s.connection_for(0).map(|c| c.addr), Some(ip("fd00::2")));
    let codecs = s.media[0].codecs();
    let names: Vec<_> = codecs
        .iter()
        .map(|c| format!("{}/{}", c.name, c.clock_rate))
        .collect();
    assert_eq!(
        names,
        [
            "opus/48000",
            "speex/16000",
            "speex/8000",
            "PCMU/8000",
            "PCMA/8000",
            "G729/8000",
            "telephone-event/48000",
            "telephone-event/16000",
            "telephone-event/8000",
        ]
    );
    // fmtp for a static PT without rtpmap still reaches the codec.
    assert_eq!(codecs[5].fmtp.as_deref(), Some("annexb=yes"));
    assert_eq!(s.media[0].attributes.len(), 2);
}

#[test]
fn edge_cases_sample() {
    let s = parse_str(EDGE_CASES);
    assert_eq!(s.media.len(), 3);
    assert_eq!(s.emails.len(), 1);
    assert_eq!(s.times[0].repeats, ["604800 3600 0 90000"]);
    assert_eq!(s.time_zones.as_deref(), Some("2882844526 -1h 2898848070 0"));
    assert_eq!(s.direction, Some(Direction::RecvOnly));
    assert_eq!(s.connection.map(|c| c.ttl), Some(Some(127)));
    assert_eq!(
        s.bandwidths,
        vec![Bandwidth {
            kind: BandwidthType::Ct,
            value: 128
        }]
    );
    let audio = &s.media[0];
    assert_eq!(audio.bandwidths.len(), 2);
    assert_eq!(
        audio.bandwidths[1],
        Bandwidth {
            kind: BandwidthType::Tias,
            value: 64000
        }
    );
    assert_eq!(
        audio.rtcp,
        Some(Rtcp {
            port: 53020,
            addr: Some(ip("126.16.64.4"))
        })
    );
    assert_eq!(audio.maxptime, Some(40));
    assert_eq!(
        s.direction_for(0),
        Direction::RecvOnly,
        "session direction applies"
    );
    assert_eq!(s.connection_for(0).map(|c| c.addr), Some(ip("224.2.17.12")));
    assert_eq!(
        audio.codecs()[1].kind(),
        Some(CodecKind::L16 { rate: 16000 })
    );
    assert_eq!(
        s.direction_for(1),
        Direction::Inactive,
        "media direction overrides"
    );
    assert_eq!(s.connection_for(1).map(|c| c.addr), Some(ip("2001:db8::1")));
    assert_eq!(s.media[1].codecs()[0].kind(), None);
    assert_eq!(s.media[2].port, 0);
    assert_eq!(s.media[2].formats, vec![Format::Token("t38".into())]);
}

#[test]
fn written_form_is_canonical_crlf_in_rfc_order() {
    let s = parse_str(EDGE_CASES);
    let text = String::from_utf8(s.to_bytes()).expect("writer emits UTF-8");
    assert!(text.ends_with("\r\n"));
    assert_eq!(
        text.matches("\r\n").count(),
        text.matches('\n').count(),
        "every line ends CRLF"
    );
    let letters: String = text
        .lines()
        .map(|l| l.chars().next().unwrap_or('?'))
        .collect();
    assert_eq!(letters, "vosiuepcbtrzkaambbaaamcaaam");
    assert!(text.starts_with("v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"));
    assert!(text.contains("m=audio 49170 RTP/AVP 0 97\r\nb=AS:64\r\nb=TIAS:64000\r\na=rtpmap:97 L16/16000\r\na=maxptime:40\r\na=rtcp:53020 IN IP4 126.16.64.4\r\n"));
    assert!(text.contains("c=IN IP6 2001:db8::1\r\n"));
    assert!(!text.contains("q="), "unknown letters are dropped");
}

#[test]
fn samples_survive_write_and_reparse() {
    for sample in [
        SIPP_UAC_PCAP_OFFER,
        SIPP_UAS_ANSWER,
        BARESIP_OFFER,
        LINPHONE_OFFER,
        EDGE_CASES,
    ] {
        let s = parse_str(sample);
        let again = parse(&s.to_bytes()).expect("own output parses");
        assert_eq!(again, s);
    }
    // An SDP already canonical is written back byte for byte.
    let s = parse_str(SIPP_UAC_PCAP_OFFER);
    assert_eq!(s.to_bytes(), SIPP_UAC_PCAP_OFFER.as_bytes());
}

#[test]
fn hold_detection() {
    let mut s = parse_str(SIPP_UAC_PCAP_OFFER);
    assert!(!is_hold(&s.media[0], &s));
    s.media[0].direction = Some(Direction::SendOnly);
    assert!(is_hold(&s.media[0], &s));
    s.media[0].direction = Some(Direction::RecvOnly);
    assert!(!is_hold(&s.media[0], &s));
    s.media[0].direction = None;
    s.direction = Some(Direction::Inactive);
    assert!(is_hold(&s.media[0], &s));
    s.direction = None;
    s.connection = Some(Connection::new(ip("0.0.0.0")));
    assert!(is_hold(&s.media[0], &s));
    s.media[0].connection = Some(Connection::new(ip("127.0.0.1")));
    assert!(
        !is_hold(&s.media[0], &s),
        "media c= overrides the session's"
    );
}

#[test]
fn bump_version_increments_by_one() {
    let mut o = Origin::new("switchyard", 42, 7, ip("::1"));
    o.bump_version();
    assert_eq!(o.session_version, 8);
    assert_eq!(o.addr_type, AddrType::Ip6);
    let mut s = SessionDescription::new(o);
    s.connection = Some(Connection::new(ip("::1")));
    let text = String::from_utf8(s.to_bytes()).expect("utf-8");
    assert_eq!(
        text,
        "v=0\r\no=switchyard 42 8 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
    );
}

// ---- property tests ----

/// Text with no line break and no trailing blank (the parser trims those).
fn text() -> impl Strategy<Value = String> {
    "([!-~é]([ -~é]{0,14}[!-~é])?)?"
}

fn token() -> impl Strategy<Value = String> {
    "[!-~]{1,10}"
}

fn connection() -> impl Strategy<Value = Connection> {
    prop_oneof![
        (
            any::<[u8; 4]>(),
            proptest::option::of((any::<u8>(), proptest::option::of(any::<u32>())))
        )
            .prop_map(|(a, ttl)| Connection {
                addr: IpAddr::from(a),
                ttl: ttl.map(|t| t.0),
                count: ttl.and_then(|t| t.1),
            }),
        (any::<[u8; 16]>(), proptest::option::of(any::<u32>())).prop_map(|(a, count)| Connection {
            addr: IpAddr::from(a),
            ttl: None,
            count
        }),
    ]
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    let kind = prop_oneof![
        Just(BandwidthType::Ct),
        Just(BandwidthType::As),
        Just(BandwidthType::Tias),
        Just(BandwidthType::Rs),
        Just(BandwidthType::Rr),
        "[a-z][a-z0-9]{0,5}".prop_map(BandwidthType::Other),
    ];
    (kind, any::<u64>()).prop_map(|(kind, value)| Bandwidth { kind, value })
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive),
    ]
}

/// Names prefixed `x-` so that none is one the parser interprets.
fn attribute() -> impl Strategy<Value = Attribute> {
    ("x-[a-z0-9-]{1,8}", proptest::option::of(text()))
        .prop_map(|(name, value)| Attribute { name, value })
}

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![
        Just(Proto::RtpAvp),
        Just(Proto::RtpAvpf),
        Just(Proto::RtpSavp),
        Just(Proto::RtpSavpf),
        Just(Proto::UdpTlsRtpSavp),
        Just(Proto::UdpTlsRtpSavpf),
        Just(Proto::Other("udptl".into())),
        Just(Proto::Other("TCP/MSRP".into())),
        Just(Proto::Other("TCP/RTP/AVP".into())),
    ]
}

fn media_type() -> impl Strategy<Value = MediaType> {
    prop_oneof![
        Just(MediaType::Audio),
        Just(MediaType::Video),
        Just(MediaType::Text),
        Just(MediaType::Application),
        Just(MediaType::Image),
        Just(MediaType::Message),
        "z[a-z]{0,5}".prop_map(MediaType::Other),
    ]
}

fn media() -> impl Strategy<Value = MediaDescription> {
    let head = (
        media_type(),
        any::<u16>(),
        proptest::option::of(any::<u16>()),
        proto(),
    );
    let lines = (
        proptest::option::of(text()),
        proptest::option::of(connection()),
        proptest::collection::vec(bandwidth(), 0..3),
        proptest::option::of(text()),
    );
    let rtp = (
        proptest::collection::vec(0u8..=127, 1..6),
        proptest::collection::vec(
            ("[A-Za-z0-9-]{1,8}", 1u32.., proptest::option::of(1u16..)),
            0..4,
        ),
        proptest::collection::vec(text(), 0..4),
        "[a-z0-9*]{1,6}",
    );
    let attrs = (
        proptest::option::of(1u32..10_000),
        proptest::option::of(1u32..10_000),
        proptest::option::of(direction()),
        proptest::option::of((
            any::<u16>(),
            proptest::option::of(connection().prop_map(|c| c.addr)),
        )),
        any::<bool>(),
        proptest::collection::vec(attribute(), 0..4),
    );
    (head, lines, rtp, attrs).prop_map(|(head, lines, rtp, attrs)| {
        let (media, port, port_count, proto) = head;
        let (pts, maps, fmtps, token) = rtp;
        let is_rtp = proto.is_rtp();
        let formats = if is_rtp {
            pts.iter().map(|&pt| Format::Pt(pt)).collect()
        } else {
            vec![Format::Token(token)]
        };
        let mut m = MediaDescription::new(media, port, proto, formats);
        m.port_count = port_count;
        (m.information, m.connection, m.bandwidths, m.key) = lines;
        if is_rtp {
            // rtpmaps and fmtps on distinct PTs, drawn from the m-line's.
            for (i, (encoding, clock_rate, channels)) in maps.into_iter().enumerate() {
                let pt = pts[i % pts.len()];
                if m.rtpmap(pt).is_none() {
                    m.rtpmaps.push(Rtpmap {
                        pt,
                        encoding,
                        clock_rate,
                        channels,
                    });
                }
            }
            for (i, params) in fmtps.into_iter().enumerate() {
                let pt = pts[(i * 7 + 3) % pts.len()];
                if m.fmtp(pt).is_none() {
                    m.fmtps.push(Fmtp { pt, params });
                }
            }
            m.canonical_fmtp_order();
        }
        let (ptime, maxptime, direction, rtcp, rtcp_mux, attributes) = attrs;
        m.ptime = ptime;
        m.maxptime = maxptime;
        m.direction = direction;
        m.rtcp = rtcp.map(|(port, addr)| Rtcp { port, addr });
        m.rtcp_mux = rtcp_mux;
        m.attributes = attributes;
        m
    })
}

fn session() -> impl Strategy<Value = SessionDescription> {
    let origin = (token(), token(), any::<u64>(), any::<bool>(), token()).prop_map(
        |(username, session_id, session_version, v6, address)| Origin {
            username,
            session_id,
            session_version,
            addr_type: if v6 { AddrType::Ip6 } else { AddrType::Ip4 },
            address,
        },
    );
    let fields = (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..2),
        proptest::collection::vec(text(), 0..2),
        proptest::option::of(connection()),
        proptest::collection::vec(bandwidth(), 0..2),
    );
    let timing = (
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(text(), 0..2),
    )
        .prop_map(|(start, stop, repeats)| Timing {
            start,
            stop,
            repeats,
        });
    let tail = (
        proptest::collection::vec(timing, 1..3),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(direction()),
        proptest::collection::vec(attribute(), 0..3),
        proptest::collection::vec(media(), 0..4),
    );
    (origin, fields, tail).prop_map(|(origin, fields, tail)| {
        let mut s = SessionDescription::new(origin);
        (
            s.session_name,
            s.information,
            s.uri,
            s.emails,
            s.phones,
            s.connection,
            s.bandwidths,
        ) = fields;
        (
            s.times,
            s.time_zones,
            s.key,
            s.direction,
            s.attributes,
            s.media,
        ) = tail;
        s
    })
}

fn mutate(sample: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut bytes = sample.to_vec();
    for &(at, op, byte) in edits {
        let at = at % (bytes.len() + 1);
        match op % 4 {
            0 => bytes.insert(at, byte),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => bytes[at] = byte,
            _ => bytes.truncate(at.max(1)),
        }
    }
    bytes
}

const SAMPLES: [&str; 5] = [
    SIPP_UAC_PCAP_OFFER,
    SIPP_UAS_ANSWER,
    BARESIP_OFFER,
    LINPHONE_OFFER,
    EDGE_CASES,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn sdp_shaped_text_never_panics(
        body in "(v=0\r?\n)?(o=[ -~]{0,30}\r?\n)?([a-z]=[ -~é]{0,30}\r?\n){0,20}"
    ) {
        if let Ok(s) = parse(body.as_bytes()) {
            let again = parse(&s.to_bytes());
            prop_assert_eq!(again, Ok(s));
        }
    }

    #[test]
    fn mutated_samples_never_panic_and_stay_stable(
        which in 0usize..SAMPLES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), prop_oneof![Just(b'\n'), Just(b' '), Just(b'='), Just(b'/'), Just(b':'), any::<u8>()]), 1..8),
    ) {
        let bytes = mutate(SAMPLES[which].as_bytes(), &edits);
        if let Ok(s) = parse(&bytes) {
            // Whatever the parser accepts, its own output parses to the same model.
            let again = parse(&s.to_bytes());
            prop_assert_eq!(again, Ok(s));
        }
    }

    #[test]
    fn parse_of_write_is_identity(s in session()) {
        let bytes = s.to_bytes();
        prop_assert_eq!(parse(&bytes), Ok(s), "{}", String::from_utf8_lossy(&bytes));
    }
}
