use super::*;

fn err(sdp: &str) -> SdpError {
    parse(sdp.as_bytes()).expect_err("must be refused")
}

const HEAD: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";

#[test]
fn lf_only_trailing_blanks_and_blank_lines_are_accepted() {
    let sdp = "v=0 \no=- 1 2 IN IP4 192.0.2.1\t\n\ns=call\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0  \na=sendonly   \n\n\n";
    let s = parse(sdp.as_bytes()).expect("tolerated");
    assert_eq!(s.session_name, "call");
    assert_eq!(s.media.len(), 1);
    assert_eq!(s.media[0].port, 4000);
    assert_eq!(s.media[0].direction, Some(Direction::SendOnly));
}

#[test]
fn missing_s_and_t_get_defaults() {
    let s = parse(b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n").expect("ok");
    assert_eq!(s.session_name, "-");
    assert_eq!(s.times, vec![Timing::default()]);
}

#[test]
fn unknown_type_letters_are_skipped_and_unknown_attributes_kept() {
    let sdp = format!(
        "{HEAD}y=1234\r\na=x-foo:bar baz\r\nm=audio 4000 RTP/AVP 0\r\nx=9\r\na=label:1\r\na=flag\r\n"
    );
    let s = parse(sdp.as_bytes()).expect("ok");
    assert_eq!(s.attributes, vec![Attribute::new("x-foo", Some("bar baz"))]);
    assert_eq!(
        s.media[0].attributes,
        vec![
            Attribute::new("label", Some("1")),
            Attribute::new("flag", None)
        ]
    );
}

#[test]
fn errors_name_the_line() {
    let e = err("v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio x RTP/AVP 0\r\n");
    assert_eq!(
        e,
        SdpError {
            line: 5,
            kind: SdpErrorKind::BadMedia("port")
        }
    );
    assert_eq!(e.to_string(), "SDP line 5: bad m= line: port");
    // Blank lines count, so the number matches what an editor shows.
    let e = err("v=0\n\no=- 1 2 IN IP4 192.0.2.1\n\nbogus\n");
    assert_eq!((e.line, e.kind), (5, SdpErrorKind::NotTypeValue));
    assert_eq!(
        err("o=- 1 2 IN IP4 192.0.2.1\r\n").kind,
        SdpErrorKind::VersionNotFirst
    );
    assert_eq!(err("v=1\r\n").kind, SdpErrorKind::UnsupportedVersion);
    assert_eq!(err("").kind, SdpErrorKind::Empty);
    assert_eq!(err("\r\n\r\n").kind, SdpErrorKind::Empty);
    assert_eq!(
        err("v=0\r\ns=-\r\nt=0 0\r\n"),
        SdpError {
            line: 3,
            kind: SdpErrorKind::MissingOrigin
        }
    );
    assert_eq!(
        err("v=0\r\no=- 1 2 IN IP4\r\n").kind,
        SdpErrorKind::BadOrigin("not six fields")
    );
    assert_eq!(
        err("v=0\r\no=- 1 x IN IP4 a\r\n").kind,
        SdpErrorKind::BadOrigin("session version")
    );
    let bytes = b"v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=\xff\r\n";
    assert_eq!(
        parse(bytes).expect_err("not utf-8"),
        SdpError {
            line: 3,
            kind: SdpErrorKind::NotUtf8
        }
    );
}

#[test]
fn session_lines_inside_media_and_duplicates_are_refused() {
    let e = err(&format!("{HEAD}m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n"));
    assert_eq!((e.line, e.kind), (7, SdpErrorKind::SessionLineInMedia('t')));
    let e = err(&format!("{HEAD}o=- 1 3 IN IP4 192.0.2.1\r\n"));
    assert_eq!((e.line, e.kind), (6, SdpErrorKind::Duplicate("o=")));
    let e = err(&format!(
        "{HEAD}m=audio 4000 RTP/AVP 0\r\na=sendonly\r\na=recvonly\r\n"
    ));
    assert_eq!((e.line, e.kind), (8, SdpErrorKind::ConflictingDirection));
    let e = err(&format!(
        "{HEAD}m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:96 PCMU/8000\r\n"
    ));
    assert_eq!((e.line, e.kind), (8, SdpErrorKind::Duplicate("a=rtpmap")));
    let e = err(&format!(
        "{HEAD}m=audio 4000 RTP/AVP 0\r\na=ptime:20\r\na=ptime:30\r\n"
    ));
    assert_eq!(e.kind, SdpErrorKind::Duplicate("a=ptime"));
    // The same value twice is harmless.
    let ok = parse(format!("{HEAD}m=audio 4000 RTP/AVP 0\r\na=ptime:20\r\na=ptime:20\r\na=sendrecv\r\na=sendrecv\r\n").as_bytes());
    assert_eq!(ok.expect("ok").media[0].ptime, Some(20));
}

#[test]
fn connection_addresses() {
    let c = parse_connection("IN IP6 ::1").expect("ipv6");
    assert_eq!(c.addr, "::1".parse::<IpAddr>().expect("literal"));
    let c = parse_connection("IN IP4 224.2.36.42/127/3").expect("multicast");
    assert_eq!((c.ttl, c.count), (Some(127), Some(3)));
    let c = parse_connection("IN IP6 ff15::101/3").expect("ipv6 multicast");
    assert_eq!((c.ttl, c.count), (None, Some(3)));
    assert_eq!(
        parse_connection("IN IP4 pbx.example.com"),
        Err(SdpErrorKind::HostnameAddress)
    );
    assert_eq!(
        parse_connection("IN IP4 ::1"),
        Err(SdpErrorKind::AddressFamilyMismatch)
    );
    assert_eq!(
        parse_connection("IN IP6 10.0.0.1"),
        Err(SdpErrorKind::AddressFamilyMismatch)
    );
    assert_eq!(
        parse_connection("ATM NSAP 47.0091"),
        Err(SdpErrorKind::UnsupportedNetType)
    );
    assert_eq!(
        parse_connection("IN IP4 224.2.1.1/300"),
        Err(SdpErrorKind::BadConnection("ttl"))
    );
    assert_eq!(
        parse_connection("IN IP4 1.2.3.4/1/2/3"),
        Err(SdpErrorKind::BadConnection("too many /"))
    );
    assert_eq!(
        parse_connection("IN IP4"),
        Err(SdpErrorKind::BadConnection("not three fields"))
    );
}

#[test]
fn media_attributes() {
    assert_eq!(
        parse_rtpmap("96 opus/48000/2"),
        Ok(Rtpmap {
            pt: 96,
            encoding: "opus".into(),
            clock_rate: 48000,
            channels: Some(2)
        })
    );
    assert_eq!(
        parse_rtpmap("128 x/8000"),
        Err(SdpErrorKind::BadRtpmap("payload type"))
    );
    assert_eq!(
        parse_rtpmap("96 x/0"),
        Err(SdpErrorKind::BadRtpmap("clock rate"))
    );
    assert_eq!(
        parse_rtpmap("96 x/8000/0"),
        Err(SdpErrorKind::BadRtpmap("channels"))
    );
    assert_eq!(
        parse_rtpmap("96 x/8000/1/1"),
        Err(SdpErrorKind::BadRtpmap("too many /"))
    );
    assert_eq!(
        parse_fmtp("101 0-15"),
        Ok(Fmtp {
            pt: 101,
            params: "0-15".into()
        })
    );
    assert_eq!(
        parse_fmtp("101"),
        Ok(Fmtp {
            pt: 101,
            params: String::new()
        })
    );
    assert_eq!(parse_ms("20"), Ok(20));
    assert_eq!(parse_ms("20.0"), Ok(20));
    assert_eq!(parse_ms("22.5"), Ok(23));
    assert_eq!(parse_ms("0"), Err(SdpErrorKind::BadPtime));
    assert_eq!(parse_ms("2x"), Err(SdpErrorKind::BadPtime));
    assert_eq!(
        parse_rtcp("53020"),
        Ok(Rtcp {
            port: 53020,
            addr: None
        })
    );
    assert_eq!(
        parse_rtcp("53020 IN IP4 126.16.64.4"),
        Ok(Rtcp {
            port: 53020,
            addr: Some("126.16.64.4".parse().expect("literal"))
        })
    );
    assert_eq!(parse_rtcp("70000"), Err(SdpErrorKind::BadRtcp("port")));
    assert_eq!(
        parse_rtcp("5000 IN IP4"),
        Err(SdpErrorKind::BadRtcp("address"))
    );
}

#[test]
fn m_line_formats_follow_the_profile() {
    let m = parse_media_line("audio 49170/2 RTP/AVP 0 8 101").expect("ok");
    assert_eq!((m.port, m.port_count), (49170, Some(2)));
    assert_eq!(m.payload_types().collect::<Vec<_>>(), vec![0, 8, 101]);
    assert_eq!(
        parse_media_line("audio 1 RTP/AVP 128").map(|_| ()),
        Err(SdpErrorKind::PayloadTypeOutOfRange)
    );
    assert_eq!(
        parse_media_line("audio 1 RTP/AVP abc").map(|_| ()),
        Err(SdpErrorKind::BadMedia("payload type"))
    );
    assert_eq!(
        parse_media_line("audio 1 RTP/AVP").map(|_| ()),
        Err(SdpErrorKind::BadMedia("fewer than four fields"))
    );
    assert_eq!(
        parse_media_line("audio 65536 RTP/AVP 0").map(|_| ()),
        Err(SdpErrorKind::BadMedia("port"))
    );
    let t38 = parse_media_line("image 5000 udptl t38").expect("ok");
    assert_eq!(t38.formats, vec![Format::Token("t38".into())]);
    assert_eq!(t38.media, MediaType::Image);
    // rtpmap on a non-RTP profile is not interpreted, only kept.
    let s = parse(
        format!("{HEAD}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=rtpmap:5 x/1\r\n")
            .as_bytes(),
    )
    .expect("ok");
    assert!(s.media[0].rtpmaps.is_empty());
    assert_eq!(
        s.media[0].attributes,
        vec![Attribute::new("rtpmap", Some("5 x/1"))]
    );
}
