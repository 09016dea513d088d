//! Our zero-copy RTP header view reads every valid packet exactly as the
//! `rtp` crate (the design card's choice) does: same fields, same payload.
//! The media path uses the view because the crate's `Header::unmarshal`
//! allocates for CSRCs and extensions and costs several times more
//! (`cargo bench --bench rtp`).

use proptest::prelude::*;
use switchyard::rtp::RtpHeaderView;
use webrtc_util::marshal::Unmarshal;

fn packet(csrcs: usize, ext_words: usize, payload: usize, marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut b = vec![0x80 | csrcs as u8 | if ext_words > 0 { 0x10 } else { 0 }, (pt & 0x7f) | if marker { 0x80 } else { 0 }];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ssrc.to_be_bytes());
    for i in 0..csrcs {
        b.extend_from_slice(&(0x1000_0000u32 + i as u32).to_be_bytes());
    }
    if ext_words > 0 {
        // RFC 8285 one-byte header profile with padding-only elements.
        b.extend_from_slice(&[0xbe, 0xde]);
        b.extend_from_slice(&(ext_words as u16).to_be_bytes());
        b.extend(std::iter::repeat_n(0u8, ext_words * 4));
    }
    b.extend((0..payload).map(|i| i as u8));
    b
}

proptest! {
    #[test]
    fn view_agrees_with_the_rtp_crate(
        csrcs in 0usize..16, ext in 0usize..4, payload in 0usize..400,
        marker: bool, pt in 0u8..128, seq: u16, ts: u32, ssrc: u32,
    ) {
        let bytes = packet(csrcs, ext, payload, marker, pt, seq, ts, ssrc);
        let view = RtpHeaderView::parse(&bytes).expect("our view accepts a valid packet");
        let mut rest: &[u8] = &bytes;
        let theirs = rtp::header::Header::unmarshal(&mut rest).expect("the rtp crate accepts it");
        prop_assert_eq!(view.seq(), theirs.sequence_number);
        prop_assert_eq!(view.timestamp(), theirs.timestamp);
        prop_assert_eq!(view.ssrc(), theirs.ssrc);
        prop_assert_eq!(view.marker(), theirs.marker);
        prop_assert_eq!(view.payload_type(), theirs.payload_type);
        prop_assert_eq!(view.csrc_count(), theirs.csrc.len());
        for (i, c) in theirs.csrc.iter().enumerate() {
            prop_assert_eq!(view.csrc(i), Some(*c));
        }
        prop_assert_eq!(view.payload(), rest, "payload starts where the crate's header ends");
    }
}
