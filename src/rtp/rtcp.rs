//! RTCP sender/receiver reports, CNAME and BYE: written into caller buffers,
//! read with the `rtcp` crate.
//!
//! Standards: RFC 3550 §6.4.1 (SR), §6.4.2 (RR), §6.5.1 (SDES CNAME), §6.6
//! (BYE), §6.4.1 round-trip time `A − LSR − DLSR`, §6.1 compound packets.
//! Out of scope: APP, XR (RFC 3611), feedback (RFC 4585) beyond being parsed
//! and ignored, SRTCP. Reduced-size RTCP (RFC 5506) is accepted on input.
//!
//! Writing is ours (no allocation, fixed layouts); reading uses
//! `::rtcp::packet::unmarshal`, which allocates, but RTCP arrives every few
//! seconds, not per packet.

use std::time::Duration;

use ::rtcp::goodbye::Goodbye;
use ::rtcp::receiver_report::ReceiverReport;
use ::rtcp::reception_report::ReceptionReport;
use ::rtcp::sender_report::SenderReport;
use thiserror::Error;

use super::packet::BufferTooSmall;
use super::receiver::from_ntp_short;

/// RTCP packet types (RFC 3550 §12.1).
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
/// Bytes of one report block.
pub const REPORT_BLOCK_LEN: usize = 24;
/// A report carries at most 31 blocks (5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// Source the block is about.
    pub ssrc: u32,
    /// Fraction lost in the last interval, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative lost packets (signed 24-bit range).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR from that source.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// The sender-info part of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (32.32 seconds since 1900).
    pub ntp: u64,
    /// RTP timestamp for the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent (wraps at 2^32).
    pub packets: u32,
    /// Payload octets sent (wraps at 2^32).
    pub octets: u32,
}

/// Why an incoming RTCP datagram was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Empty, or the version bits are not 2.
    #[error("not an RTCP packet")]
    NotRtcp,
    /// A packet's length word runs past the datagram, or bytes are left
    /// over that cannot hold a header.
    #[error("RTCP packet at offset {offset} is truncated")]
    Truncated {
        /// Where the packet starts.
        offset: usize,
    },
    /// The peer sent something the RTCP parser rejects.
    #[error("malformed RTCP: {0}")]
    Malformed(#[source] ::rtcp::Error),
}

/// What an incoming compound RTCP packet says that matters to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpSummary {
    /// SSRC of the first SR or RR: the reporting endpoint.
    pub reporter: Option<u32>,
    /// The sender report, with its SSRC.
    pub sender_report: Option<(u32, SenderInfo)>,
    /// The report block about our SSRC.
    pub report_about_us: Option<ReportBlock>,
    /// Round-trip time from that block (filled by the session, which knows
    /// the wall clock).
    pub rtt: Option<Duration>,
    /// A source said BYE.
    pub bye: Option<u32>,
}

/// Parses a compound (or reduced-size) RTCP datagram and keeps what concerns
/// `local_ssrc`. Never panics on arbitrary input.
///
/// The datagram is split into packets here (version and length of each,
/// as in RFC 3550 A.2), and
/// only SR, RR and BYE go to the `rtcp` crate: its parsers for other types
/// (FIR, for one) index past short packets and panic, so SDES, APP, feedback
/// and XR are skipped unread.
pub fn parse_compound(buf: &[u8], local_ssrc: u32) -> Result<RtcpSummary, RtcpError> {
    if buf.is_empty() {
        return Err(RtcpError::NotRtcp);
    }
    let mut out = RtcpSummary::default();
    let mut rest = buf;
    while let [b0, pt, l0, l1, ..] = *rest {
        if b0 >> 6 != 2 {
            return Err(RtcpError::NotRtcp);
        }
        let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
        let (packet, tail) = rest.split_at_checked(len).ok_or(RtcpError::Truncated { offset: buf.len() - rest.len() })?;
        rest = tail;
        if matches!(pt, PT_SR | PT_RR | PT_BYE) {
            read_packet(packet, local_ssrc, &mut out)?;
        }
    }
    if !rest.is_empty() {
        return Err(RtcpError::Truncated { offset: buf.len() - rest.len() });
    }
    Ok(out)
}

fn read_packet(packet: &[u8], local_ssrc: u32, out: &mut RtcpSummary) -> Result<(), RtcpError> {
    let take_blocks = |out: &mut RtcpSummary, reports: &[ReceptionReport]| {
        if let Some(r) = reports.iter().find(|r| r.ssrc == local_ssrc) {
            out.report_about_us = Some(ReportBlock {
                ssrc: r.ssrc,
                fraction_lost: r.fraction_lost,
                // Sign-extend the 24-bit field.
                cumulative_lost: ((r.total_lost << 8) as i32) >> 8,
                highest_seq: r.last_sequence_number,
                jitter: r.jitter,
                lsr: r.last_sender_report,
                dlsr: r.delay,
            });
        }
    };
    let parsed = ::rtcp::packet::unmarshal(&mut &packet[..]).map_err(RtcpError::Malformed)?;
    for p in &parsed {
        let any = p.as_any();
        if let Some(sr) = any.downcast_ref::<SenderReport>() {
            out.reporter.get_or_insert(sr.ssrc);
            let info = SenderInfo { ntp: sr.ntp_time, rtp_timestamp: sr.rtp_time, packets: sr.packet_count, octets: sr.octet_count };
            out.sender_report = Some((sr.ssrc, info));
            take_blocks(out, &sr.reports);
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            out.reporter.get_or_insert(rr.ssrc);
            take_blocks(out, &rr.reports);
        } else if let Some(bye) = any.downcast_ref::<Goodbye>() {
            out.bye = bye.sources.first().copied().or(out.bye);
        }
    }
    Ok(())
}

/// RFC 3550 §6.4.1: round trip = A − LSR − DLSR, all in 16.16 NTP seconds,
/// where `arrival` is the middle 32 bits of our NTP time when the report
/// arrived. `None` when the peer has no SR of ours yet (LSR 0) or the result
/// is clearly negative (clock nonsense); rounding noise under 1 ms reads as 0.
pub fn round_trip(arrival: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = arrival.wrapping_sub(lsr).wrapping_sub(dlsr) as i32;
    match rtt {
        r if r >= 0 => Some(from_ntp_short(r as u32)),
        r if r > -66 => Some(Duration::ZERO),
        _ => None,
    }
}

/// The middle 32 bits of a 64-bit NTP timestamp, as LSR carries it.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

fn header(buf: &mut [u8], count: usize, pt: u8, len: usize) {
    buf[0] = 0x80 | (count as u8 & 0x1f);
    buf[1] = pt;
    buf[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

fn room(buf: &mut [u8], needed: usize) -> Result<&mut [u8], BufferTooSmall> {
    let got = buf.len();
    buf.get_mut(..needed).ok_or(BufferTooSmall { needed, got })
}

fn put_blocks(out: &mut [u8], blocks: &[ReportBlock]) {
    for (chunk, b) in out.chunks_exact_mut(REPORT_BLOCK_LEN).zip(blocks) {
        chunk[0..4].copy_from_slice(&b.ssrc.to_be_bytes());
        let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        chunk[4..8].copy_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
        chunk[8..12].copy_from_slice(&b.highest_seq.to_be_bytes());
        chunk[12..16].copy_from_slice(&b.jitter.to_be_bytes());
        chunk[16..20].copy_from_slice(&b.lsr.to_be_bytes());
        chunk[20..24].copy_from_slice(&b.dlsr.to_be_bytes());
    }
}

/// Writes an SR with up to 31 report blocks; returns its length.
pub fn write_sr(buf: &mut [u8], ssrc: u32, info: &SenderInfo, blocks: &[ReportBlock]) -> Result<usize, BufferTooSmall> {
    let blocks = &blocks[..blocks.len().min(MAX_REPORT_BLOCKS)];
    let len = 28 + REPORT_BLOCK_LEN * blocks.len();
    let out = room(buf, len)?;
    header(out, blocks.len(), PT_SR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
    out[20..24].copy_from_slice(&info.packets.to_be_bytes());
    out[24..28].copy_from_slice(&info.octets.to_be_bytes());
    put_blocks(&mut out[28..], blocks);
    Ok(len)
}

/// Writes an RR with up to 31 report blocks; returns its length.
pub fn write_rr(buf: &mut [u8], ssrc: u32, blocks: &[ReportBlock]) -> Result<usize, BufferTooSmall> {
    let blocks = &blocks[..blocks.len().min(MAX_REPORT_BLOCKS)];
    let len = 8 + REPORT_BLOCK_LEN * blocks.len();
    let out = room(buf, len)?;
    header(out, blocks.len(), PT_RR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    put_blocks(&mut out[8..], blocks);
    Ok(len)
}

/// Writes an SDES packet with one chunk holding the CNAME (truncated to 255
/// bytes); returns its length.
pub fn write_sdes_cname(buf: &mut [u8], ssrc: u32, cname: &[u8]) -> Result<usize, BufferTooSmall> {
    let cname = &cname[..cname.len().min(255)];
    // SSRC, type, length, text, then at least one zero octet to end the
    // item list, padded to a word.
    let len = (4 + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let out = room(buf, len)?;
    header(out, 1, PT_SDES, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8] = 1; // CNAME
    out[9] = cname.len() as u8;
    out[10..10 + cname.len()].copy_from_slice(cname);
    out[10 + cname.len()..].fill(0);
    Ok(len)
}

/// Writes a BYE for `ssrc` with an optional reason (truncated to 255 bytes);
/// returns its length.
pub fn write_bye(buf: &mut [u8], ssrc: u32, reason: Option<&[u8]>) -> Result<usize, BufferTooSmall> {
    let reason = reason.map(|r| &r[..r.len().min(255)]);
    let len = 8 + reason.map_or(0, |r| (1 + r.len()).div_ceil(4) * 4);
    let out = room(buf, len)?;
    header(out, 1, PT_BYE, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    if let Some(r) = reason {
        out[8] = r.len() as u8;
        out[9..9 + r.len()].copy_from_slice(r);
        out[9 + r.len()..].fill(0);
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::rtcp::source_description::SourceDescription;
    use proptest::prelude::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock { ssrc, fraction_lost: 25, cumulative_lost: lost, highest_seq: 70_000, jitter: 160, lsr: 0x1234_5678, dlsr: 65_536 }
    }

    #[test]
    fn compound_sr_sdes_bye_round_trips_through_rtcp_crate() {
        let mut buf = [0u8; 256];
        let info = SenderInfo { ntp: 0xE000_0000_8000_0000, rtp_timestamp: 160_000, packets: 1000, octets: 160_000 };
        let mut n = write_sr(&mut buf, 0xAAAA, &info, &[block(0xBBBB, -3), block(0xCCCC, 7)]).unwrap();
        n += write_sdes_cname(&mut buf[n..], 0xAAAA, b"leg-a@switchyard").unwrap();
        n += write_bye(&mut buf[n..], 0xAAAA, Some(b"hangup")).unwrap();
        let packets = ::rtcp::packet::unmarshal(&mut &buf[..n]).unwrap();
        assert_eq!(packets.len(), 3);
        let sr = packets[0].as_any().downcast_ref::<SenderReport>().unwrap();
        assert_eq!((sr.ssrc, sr.ntp_time, sr.rtp_time, sr.packet_count, sr.octet_count), (0xAAAA, info.ntp, 160_000, 1000, 160_000));
        assert_eq!(sr.reports.len(), 2);
        assert_eq!(sr.reports[0].total_lost, 0x00ff_fffd);
        let sdes = packets[1].as_any().downcast_ref::<SourceDescription>().unwrap();
        assert_eq!(&sdes.chunks[0].items[0].text[..], b"leg-a@switchyard");
        let bye = packets[2].as_any().downcast_ref::<Goodbye>().unwrap();
        assert_eq!(&bye.reason[..], b"hangup");

        let s = parse_compound(&buf[..n], 0xBBBB).unwrap();
        assert_eq!(s.reporter, Some(0xAAAA));
        assert_eq!(s.sender_report, Some((0xAAAA, info)));
        assert_eq!(s.report_about_us, Some(block(0xBBBB, -3)));
        assert_eq!(s.bye, Some(0xAAAA));
        assert_eq!(parse_compound(&buf[..n], 0xDDDD).unwrap().report_about_us, None);
    }

    #[test]
    fn rr_and_cname_lengths() {
        let mut buf = [0u8; 64];
        assert_eq!(write_rr(&mut buf, 1, &[]).unwrap(), 8);
        let n = write_rr(&mut buf, 1, &[block(2, 0)]).unwrap();
        assert_eq!(n, 32);
        assert_eq!(&buf[..4], &[0x81, 201, 0, 7]);
        // "ab": 4 + 4 + 2 + 2 + 1 = 13 → 16.
        assert_eq!(write_sdes_cname(&mut buf, 1, b"ab").unwrap(), 16);
        assert_eq!(write_bye(&mut buf, 1, None).unwrap(), 8);
        assert_eq!(write_rr(&mut buf[..31], 1, &[block(2, 0)]), Err(BufferTooSmall { needed: 32, got: 31 }));
        for cname_len in 0..=12 {
            let cname = vec![b'x'; cname_len];
            let n = write_sdes_cname(&mut buf, 9, &cname).unwrap();
            let p = ::rtcp::packet::unmarshal(&mut &buf[..n]).unwrap();
            let sdes = p[0].as_any().downcast_ref::<SourceDescription>().unwrap();
            assert_eq!(sdes.chunks[0].items[0].text.len(), cname_len);
        }
    }

    #[test]
    fn round_trip_arithmetic() {
        // A = 10.5 s, LSR = 10.0 s, DLSR = 0.25 s → 0.25 s.
        let a = 10 * 65_536 + 32_768;
        assert_eq!(round_trip(a, 10 * 65_536, 16_384), Some(Duration::from_millis(250)));
        assert_eq!(round_trip(a, 0, 16_384), None);
        assert_eq!(round_trip(a, a, 10), Some(Duration::ZERO));
        assert_eq!(round_trip(a, a, 65_536), None);
        // Across the 16.16 wrap.
        assert_eq!(round_trip(100, u32::MAX - 65_436, 0), Some(from_ntp_short(65_537)));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(parse_compound(&[], 1), Err(RtcpError::NotRtcp)));
        assert!(matches!(parse_compound(&[0x40, 200, 0, 0], 1), Err(RtcpError::NotRtcp)));
        // Length word says 7 words, 1 present.
        assert!(matches!(parse_compound(&[0x81, 201, 0, 7, 0, 0, 0, 1], 1), Err(RtcpError::Truncated { offset: 0 })));
        // RR claiming one block in a 2-word packet.
        assert!(matches!(parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1], 1), Err(RtcpError::Malformed(_))));
        // A short FIR (which makes the rtcp crate panic) is skipped.
        let fir = [0x84, 206, 0, 1, 0, 0, 0, 0];
        assert_eq!(parse_compound(&fir, 1).unwrap(), RtcpSummary::default());
        // Trailing bytes too short for a header.
        let mut rr = [0u8; 10];
        rr[..8].copy_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 9]);
        assert!(matches!(parse_compound(&rr, 1), Err(RtcpError::Truncated { offset: 8 })));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_compound(&bytes, 1);
        }

        /// Valid-looking headers over random bodies reach deeper parser paths.
        #[test]
        fn plausible_headers_never_panic(pt in prop_oneof![192u8..=207, Just(200), Just(201), Just(203)], count in 0u8..32, words in 0u16..12, body in prop::collection::vec(any::<u8>(), 0..64), tail in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = vec![0x80 | count, pt];
            bytes.extend_from_slice(&words.to_be_bytes());
            bytes.extend_from_slice(&body);
            bytes.extend_from_slice(&tail);
            let _ = parse_compound(&bytes, 1);
        }

        #[test]
        fn written_blocks_parse_back(ssrc: u32, fraction: u8, lost in -0x80_0000i32..=0x7f_ffff, seq: u32, jitter: u32, lsr: u32, dlsr: u32) {
            let b = ReportBlock { ssrc, fraction_lost: fraction, cumulative_lost: lost, highest_seq: seq, jitter, lsr, dlsr };
            let mut buf = [0u8; 64];
            let n = write_rr(&mut buf, ssrc.wrapping_add(1), &[b]).unwrap();
            let s = parse_compound(&buf[..n], ssrc).unwrap();
            prop_assert_eq!(s.report_about_us, Some(b));
        }
    }
}
