use super::super::tests::{
    BARESIP_OFFER, EDGE_CASES, LINPHONE_OFFER, SIPP_UAC_PCAP_OFFER, SIPP_UAS_ANSWER,
};
use super::super::{AddrType, parse};
use super::*;

fn sdp(s: &str) -> SessionDescription {
    parse(s.as_bytes()).expect("test SDP parses")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

fn origin() -> Origin {
    Origin::new("switchyard", 1, 1, ip("192.0.2.10"))
}

fn answer_default(
    offer: &SessionDescription,
    prefer: Option<&[CodecKind]>,
) -> (SessionDescription, Vec<Negotiated>) {
    let ports = vec![30000; offer.media.len()];
    answer(
        offer,
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &ports,
        &origin(),
        prefer,
    )
    .expect("answerable")
}

fn with_head(media: &str) -> SessionDescription {
    sdp(&format!(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n{media}"
    ))
}

#[test]
fn answers_sipp_with_its_codec_and_event_pt() {
    let (ans, neg) = answer_default(&sdp(SIPP_UAC_PCAP_OFFER), None);
    let text = String::from_utf8(ans.to_bytes()).expect("utf-8");
    assert_eq!(
        text,
        "v=0\r\no=switchyard 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-11,16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    assert_eq!(neg.len(), 1);
    let n = &neg[0];
    assert_eq!(
        (n.index, n.codec.pt, n.codec.kind()),
        (0, 8, Some(CodecKind::Pcma))
    );
    assert_eq!(n.telephone_event.as_ref().map(|t| t.pt), Some(101));
    assert_eq!(n.remote, Some(addr("127.0.0.1:6000")));
    assert_eq!(n.remote_rtcp, Some(addr("127.0.0.1:6001")));
    assert!(!n.rtcp_mux);
    assert_eq!(
        (n.direction, n.ptime, n.comfort_noise),
        (Direction::SendRecv, 20, None)
    );
}

#[test]
fn prefer_picks_the_other_legs_codec_over_the_offer_order() {
    let offer = sdp(BARESIP_OFFER);
    let (_, neg) = answer_default(&offer, None);
    assert_eq!(
        neg[0].codec.kind(),
        Some(CodecKind::Pcmu),
        "offer order by default"
    );
    let (ans, neg) = answer_default(&offer, Some(&[CodecKind::G722]));
    assert_eq!(
        (neg[0].codec.pt, neg[0].codec.kind()),
        (9, Some(CodecKind::G722))
    );
    assert_eq!(
        ans.media[0].payload_types().collect::<Vec<_>>(),
        vec![9, 105]
    );
    assert!(ans.media[0].rtcp_mux, "rtcp-mux echoed");
    assert_eq!(
        neg[0].remote_rtcp, neg[0].remote,
        "muxed RTCP goes to the RTP port"
    );
    // A relayed codec need not be one we transcode.
    let caps = LocalCaps {
        audio: vec![CodecKind::Pcma],
        ..LocalCaps::default()
    };
    let (_, neg) = answer(
        &offer,
        &caps,
        ip("192.0.2.10"),
        &[30000],
        &origin(),
        Some(&[CodecKind::L16 { rate: 16000 }]),
    )
    .expect("answerable");
    assert_eq!(
        (neg[0].codec.pt, neg[0].codec.kind()),
        (103, Some(CodecKind::L16 { rate: 16000 }))
    );
    // A preference the offer cannot meet falls back to the offer order.
    let (_, neg) = answer(
        &offer,
        &caps,
        ip("192.0.2.10"),
        &[30000],
        &origin(),
        Some(&[CodecKind::L16 { rate: 22050 }]),
    )
    .expect("answerable");
    assert_eq!(neg[0].codec.kind(), Some(CodecKind::Pcma));
}

#[test]
fn opus_answer_keeps_the_peer_fmtp_for_sending_only() {
    let (ans, neg) = answer_default(&sdp(BARESIP_OFFER), Some(&[CodecKind::Opus]));
    assert_eq!(
        neg[0].codec.fmtp.as_deref(),
        Some("stereo=1;sprop-stereo=1")
    );
    assert_eq!(ans.media[0].fmtp(96), None, "we do not claim stereo");
    let text = String::from_utf8(ans.to_bytes()).expect("utf-8");
    assert!(
        text.contains("m=audio 30000 RTP/AVP 96 105\r\na=rtpmap:96 opus/48000/2\r\n"),
        "{text}"
    );
}

#[test]
fn telephone_event_follows_the_codec_clock_on_ipv6() {
    let offer = sdp(LINPHONE_OFFER);
    let (ans, neg) = answer(
        &offer,
        &LocalCaps::default(),
        ip("2001:db8::10"),
        &[30000],
        &origin(),
        None,
    )
    .expect("ok");
    assert_eq!(neg[0].codec.kind(), Some(CodecKind::Opus));
    assert_eq!(
        neg[0]
            .telephone_event
            .as_ref()
            .map(|t| (t.pt, t.clock_rate)),
        Some((99, 48000))
    );
    assert_eq!(neg[0].remote, Some(addr("[fd00::2]:7078")));
    assert_eq!(
        ans.connection.map(|c| AddrType::of(c.addr)),
        Some(AddrType::Ip6)
    );
    let (_, neg) = answer_default(&offer, Some(&[CodecKind::Pcmu]));
    assert_eq!(
        neg[0]
            .telephone_event
            .as_ref()
            .map(|t| (t.pt, t.clock_rate)),
        Some((101, 8000))
    );
    // Only telephone-event/8000 offered next to opus: DTMF still flows.
    let offer = with_head(
        "m=audio 4000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n",
    );
    let (_, neg) = answer_default(&offer, None);
    assert_eq!(neg[0].telephone_event.as_ref().map(|t| t.pt), Some(101));
}

#[test]
fn no_common_codec_non_audio_and_srtp_are_refused_with_port_zero() {
    let offer = with_head(concat!(
        "m=audio 4000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        "m=audio 4002 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n",
        "m=video 4004 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\n",
        "m=audio 4006 RTP/AVP 0\r\n",
        "m=audio 4008 RTP/AVP 8\r\n",
    ));
    let ports = [30000, 30002, 30004, 30006, 0];
    let (ans, neg) = answer(
        &offer,
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &ports,
        &origin(),
        None,
    )
    .expect("ok");
    let lines: Vec<_> = ans
        .media
        .iter()
        .map(|m| (m.port, m.payload_types().collect::<Vec<_>>()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (0, vec![18, 101]),
            (0, vec![0]),
            (0, vec![99]),
            (30006, vec![0]),
            (0, vec![8])
        ]
    );
    assert_eq!(ans.media[2].media, MediaType::Video);
    assert_eq!(ans.media[1].proto, Proto::RtpSavp);
    assert_eq!(neg.len(), 1);
    assert_eq!((neg[0].index, neg[0].codec.pt), (3, 0));
    assert_eq!(
        answer(
            &offer,
            &LocalCaps::default(),
            ip("192.0.2.10"),
            &[1, 2],
            &origin(),
            None
        )
        .map(|_| ()),
        Err(OfferAnswerError::PortCount {
            m_lines: 5,
            ports: 2
        })
    );
}

#[test]
fn session_direction_rtcp_attribute_and_maxptime_are_honoured() {
    let (ans, neg) = answer_default(&sdp(EDGE_CASES), None);
    assert_eq!(
        ans.media.iter().map(|m| m.port).collect::<Vec<_>>(),
        vec![30000, 0, 0]
    );
    let n = &neg[0];
    assert_eq!(
        n.direction,
        Direction::SendOnly,
        "offer is recvonly at session level"
    );
    assert_eq!(ans.media[0].direction, Some(Direction::SendOnly));
    assert_eq!(n.remote_rtcp, Some(addr("126.16.64.4:53020")));
    let offer = with_head("m=audio 4000 RTP/AVP 0\r\na=ptime:60\r\na=maxptime:40\r\n");
    assert_eq!(answer_default(&offer, None).1[0].ptime, 40);
    let offer = with_head("m=audio 4000 RTP/AVP 0\r\na=ptime:30\r\n");
    assert_eq!(answer_default(&offer, None).1[0].ptime, 30);
}

#[test]
fn hold_offers_get_the_reverse_direction() {
    for (attr, ours) in [
        ("a=sendonly\r\n", Direction::RecvOnly),
        ("a=recvonly\r\n", Direction::SendOnly),
        ("a=inactive\r\n", Direction::Inactive),
        ("", Direction::SendRecv),
    ] {
        let (ans, neg) = answer_default(
            &with_head(&format!("m=audio 4000 RTP/AVP 0\r\n{attr}")),
            None,
        );
        assert_eq!(
            (neg[0].direction, ans.media[0].direction),
            (ours, Some(ours)),
            "{attr}"
        );
    }
    // RFC 2543 hold: address 0.0.0.0, nothing may be sent to it.
    let offer = sdp(
        "v=0\r\no=- 1 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
    );
    assert!(is_hold(&offer.media[0], &offer));
    let (_, neg) = answer_default(&offer, None);
    assert_eq!(
        (neg[0].remote, neg[0].remote_rtcp, neg[0].direction),
        (None, None, Direction::RecvOnly)
    );
}

#[test]
fn comfort_noise_only_when_enabled_and_clock_matches() {
    let offer = with_head("m=audio 4000 RTP/AVP 9 0 13\r\n");
    let caps = LocalCaps {
        comfort_noise: true,
        ..LocalCaps::default()
    };
    let (ans, neg) =
        answer(&offer, &caps, ip("192.0.2.10"), &[30000], &origin(), None).expect("ok");
    assert_eq!((neg[0].codec.pt, neg[0].comfort_noise), (9, Some(13)));
    assert_eq!(
        ans.media[0].payload_types().collect::<Vec<_>>(),
        vec![9, 13]
    );
    let (_, neg) = answer_default(&offer, None);
    assert_eq!(neg[0].comfort_noise, None);
}

#[test]
fn fresh_offer_lists_caps_with_static_and_dynamic_pts() {
    let caps = LocalCaps {
        comfort_noise: true,
        ..LocalCaps::default()
    };
    let o = offer(&caps, ip("192.0.2.10"), &[30000], &origin(), None);
    let text = String::from_utf8(o.to_bytes()).expect("utf-8");
    assert_eq!(
        text,
        "v=0\r\no=switchyard 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 0 8 9 96 101 97 13\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:9 G722/8000\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=rtpmap:97 telephone-event/48000\r\na=fmtp:97 0-16\r\n\
         a=rtpmap:13 CN/8000\r\na=ptime:20\r\na=rtcp-mux\r\na=sendrecv\r\n"
    );
}

#[test]
fn template_offer_keeps_common_codecs_on_their_pts_and_avoids_clashes() {
    let caps = LocalCaps {
        audio: vec![CodecKind::Pcmu, CodecKind::L16 { rate: 16000 }],
        ..LocalCaps::default()
    };
    let t = sdp(LINPHONE_OFFER);
    let o = offer(&caps, ip("192.0.2.10"), &[30000], &origin(), Some(&t));
    let m = &o.media[0];
    // PCMU and the three events keep linphone's PTs; L16 gets the first PT
    // linphone does not use (96-101 are taken, speex included).
    assert_eq!(
        m.payload_types().collect::<Vec<_>>(),
        vec![0, 99, 100, 101, 102]
    );
    assert_eq!(
        m.codec(102).and_then(|c| c.kind()),
        Some(CodecKind::L16 { rate: 16000 })
    );
    assert_eq!(o.connection.map(|c| c.addr), Some(ip("192.0.2.10")));
    assert_eq!((m.port, m.direction), (30000, Some(Direction::SendRecv)));

    let t = sdp(SIPP_UAC_PCAP_OFFER);
    let o = offer(
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[30000],
        &origin(),
        Some(&t),
    );
    assert_eq!(
        o.media[0].payload_types().collect::<Vec<_>>(),
        vec![8, 101, 0, 9, 96, 97]
    );
    assert_eq!(
        o.media[0].fmtp(101),
        Some("0-11,16"),
        "template fmtp kept for relay"
    );
    assert!(!o.media[0].rtcp_mux, "template did not offer rtcp-mux");
}

#[test]
fn template_offer_refuses_what_it_cannot_anchor_and_keeps_hold() {
    let t = sdp(EDGE_CASES);
    let o = offer(
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[30000, 30002, 30004],
        &origin(),
        Some(&t),
    );
    assert_eq!(
        o.media.iter().map(|m| m.port).collect::<Vec<_>>(),
        vec![30000, 0, 0]
    );
    assert_eq!(o.media[1].formats, t.media[1].formats);
    assert_eq!(o.media[0].direction, Some(Direction::RecvOnly));
    let t = sdp(
        "v=0\r\no=- 1 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
    );
    let o = offer(
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[30000],
        &origin(),
        Some(&t),
    );
    assert_eq!(
        o.media[0].direction,
        Some(Direction::SendOnly),
        "c=0.0.0.0 becomes sendonly"
    );
    assert!(is_hold(&o.media[0], &o));
}

#[test]
fn apply_answer_reads_the_choice() {
    let ours = offer(
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[30000],
        &origin(),
        None,
    );
    let neg = apply_answer(&ours, &sdp(SIPP_UAS_ANSWER)).expect("valid answer");
    assert_eq!(neg.len(), 1);
    let n = &neg[0];
    assert_eq!((n.codec.pt, n.codec.kind()), (0, Some(CodecKind::Pcmu)));
    assert_eq!(
        (n.remote, n.remote_rtcp),
        (Some(addr("127.0.0.1:6000")), Some(addr("127.0.0.1:6001")))
    );
    assert_eq!(
        (
            n.telephone_event.is_none(),
            n.rtcp_mux,
            n.direction,
            n.ptime
        ),
        (true, false, Direction::SendRecv, 20)
    );

    let renumbered = with_head(
        "m=audio 5000 RTP/AVP 111 100\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:100 telephone-event/48000\r\na=recvonly\r\na=rtcp-mux\r\na=ptime:40\r\n",
    );
    let n = &apply_answer(&ours, &renumbered).expect("PT renumbering tolerated")[0];
    assert_eq!((n.codec.pt, n.codec.kind()), (111, Some(CodecKind::Opus)));
    assert_eq!(n.telephone_event.as_ref().map(|t| t.pt), Some(100));
    assert_eq!(
        (n.direction, n.rtcp_mux, n.ptime),
        (Direction::SendOnly, true, 40)
    );
    assert_eq!(n.remote_rtcp, Some(addr("198.51.100.7:5000")));
}

#[test]
fn apply_answer_refuses_what_was_not_offered() {
    let ours = offer(
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[30000],
        &origin(),
        None,
    );
    let g729 = with_head("m=audio 5000 RTP/AVP 18\r\n");
    assert_eq!(
        apply_answer(&ours, &g729),
        Err(OfferAnswerError::UnofferedCodec { index: 0, pt: 18 })
    );
    let unknown_dynamic = with_head("m=audio 5000 RTP/AVP 120\r\n");
    assert_eq!(
        apply_answer(&ours, &unknown_dynamic),
        Err(OfferAnswerError::UnofferedCodec { index: 0, pt: 120 })
    );
    let two = with_head("m=audio 5000 RTP/AVP 0\r\nm=audio 5002 RTP/AVP 0\r\n");
    assert_eq!(
        apply_answer(&ours, &two),
        Err(OfferAnswerError::MediaCount {
            offer: 1,
            answer: 2
        })
    );
    let events_only =
        with_head("m=audio 5000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    assert_eq!(
        apply_answer(&ours, &events_only),
        Err(OfferAnswerError::NoAudioCodec { index: 0 })
    );
    let video = with_head("m=video 5000 RTP/AVP 0\r\n");
    assert_eq!(
        apply_answer(&ours, &video),
        Err(OfferAnswerError::MediaTypeChanged { index: 0 })
    );
    let refused = with_head("m=audio 0 RTP/AVP 0\r\n");
    assert_eq!(apply_answer(&ours, &refused), Ok(Vec::new()));
}

#[test]
fn b2bua_flow_relays_without_pt_rewrite() {
    // A (baresip) offers; we offer B from it; B (SIPp UAS) answers PCMU;
    // we answer A preferring B's codec: both legs carry PCMU on PT 0.
    let a_offer = sdp(BARESIP_OFFER);
    let b_offer = offer(
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[31000],
        &origin(),
        Some(&a_offer),
    );
    assert_eq!(
        b_offer.media[0].payload_types().take(4).collect::<Vec<_>>(),
        vec![0, 8, 9, 96]
    );
    let b = apply_answer(&b_offer, &sdp(SIPP_UAS_ANSWER)).expect("valid");
    let kind = b[0].codec.kind().expect("B chose a codec we offered");
    let mut a_origin = origin();
    let (a_answer, a) = answer(
        &a_offer,
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[30000],
        &a_origin,
        Some(&[kind]),
    )
    .expect("answerable");
    assert_eq!(a[0].codec.pt, b[0].codec.pt);
    assert_eq!(a[0].telephone_event.as_ref().map(|t| t.pt), Some(105));
    // A re-answer that changes something carries a bumped version.
    a_origin.bump_version();
    let (again, _) = answer(
        &a_offer,
        &LocalCaps::default(),
        ip("192.0.2.10"),
        &[30000],
        &a_origin,
        Some(&[CodecKind::G722]),
    )
    .expect("answerable");
    assert_eq!(
        again.origin.session_version,
        a_answer.origin.session_version + 1
    );
}
