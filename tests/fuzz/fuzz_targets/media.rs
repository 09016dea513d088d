//! SDP and RTP from the network: the SDP parser and offer/answer, and the
//! per-call media data path fed arbitrary datagrams, must never panic.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchyard::media::{CallMedia, LegParams, MediaConfig, MediaId, MediaSide};
use switchyard::rtp::NtpBase;
use switchyard_codecs::CodecKind;

fn leg(codec: CodecKind, pt: u8, port: u16) -> LegParams {
    LegParams {
        remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        remote_rtcp: None,
        rtcp_mux: true,
        codec,
        pt,
        ptime_ms: 20,
        telephone_event: Some(101),
        comfort_noise: Some(13),
        send: true,
        recv: true,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(sdp) = switchyard::sdp::parse(data) {
        let caps = switchyard::sdp::LocalCaps::default();
        let origin = switchyard::sdp::Origin::new("f", 1, 1, [127, 0, 0, 1].into());
        let ports = vec![4000u16; sdp.media.len()];
        let _ = switchyard::sdp::answer(&sdp, &caps, [127, 0, 0, 1].into(), &ports, &origin, None);
        let offer = switchyard::sdp::offer(&caps, [127, 0, 0, 1].into(), &ports, &origin, Some(&sdp));
        let _ = switchyard::sdp::apply_answer(&offer, &sdp);
        let _ = sdp.to_bytes();
    }
    // The same bytes as datagrams into a relayed and a transcoded call, and into the
    // switch as the caller's endpoint (IVR: recording, echo, in-band detection).
    let t0 = Instant::now();
    for (b, pt) in [(Some(CodecKind::Pcmu), 0u8), (Some(CodecKind::Opus), 111), (None, 0), (Some(CodecKind::G722), 9)] {
        let cfg = MediaConfig { timeout: None, opus_complexity: 0, ntp_base: NtpBase { instant: t0, unix: Duration::ZERO } };
        let mut m = CallMedia::new(MediaId(1), cfg, t0);
        let a_codec = if pt == 9 { CodecKind::G722 } else { CodecKind::Pcmu };
        m.update(t0, MediaSide::A, leg(a_codec, pt, 4000));
        match b {
            Some(b) if pt != 9 => m.update(t0, MediaSide::B, leg(b, pt, 5000)),
            _ => {
                m.record(t0, 1, Duration::from_secs(2), Some(Duration::from_millis(300)));
                m.play(t0, 1, switchyard::media::endpoint::Source::Echo);
            }
        }
        let mut out = [0u8; 1500];
        for (i, chunk) in data.chunks(200).enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            let mut buf = chunk.to_vec();
            let side = if i % 2 == 0 { MediaSide::A } else { MediaSide::B };
            let src = SocketAddr::from(([127, 0, 0, 1], 4000 + i as u16 % 2));
            let _ = m.handle_rtp(now, side, src, &mut buf);
            let _ = m.handle_rtcp(now, side, src, &mut buf);
            m.handle_timeout(now);
            while m.poll_transmit(now, &mut out).is_some() {}
            while m.poll_event().is_some() {}
        }
    }
});
