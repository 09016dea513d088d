//! The RTP fixed header (RFC 3550 §5.1) read and written in place.
//!
//! Standards: RFC 3550 §5.1 (fixed header, padding, CSRC list), §5.3.1
//! (header extension: only skipped, its content is not interpreted),
//! RFC 5761 §4 (telling RTP from RTCP on a multiplexed port).
//! Out of scope: RFC 8285 extension elements, SRTP.
//!
//! Why not `::rtp::header::Header::unmarshal`: it builds `Vec`s for the CSRC
//! list and the extensions, copies each extension into `Bytes`, and ignores
//! the version and padding. For a plain packet (no CSRC, no extension) it
//! happens not to allocate (`Vec::with_capacity(0)` and `vec![]` do not), but
//! one CSRC or one extension costs a heap allocation per packet. The view here
//! borrows the datagram and never allocates; `benches/rtp.rs` counts both.

use thiserror::Error;

/// The only RTP version in use (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed header without CSRCs or extension.
pub const FIXED_HEADER_LEN: usize = 12;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RtpParseError {
    /// Shorter than the 12-byte fixed header.
    #[error("datagram of {len} bytes is shorter than the RTP fixed header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The CSRC count runs past the end of the datagram.
    #[error("CSRC list of {count} entries runs past the datagram")]
    CsrcOverrun {
        /// The CC field.
        count: u8,
    },
    /// The header extension (or its length word) runs past the datagram.
    #[error("header extension runs past the datagram")]
    ExtensionOverrun,
    /// The P bit is set but the padding count is zero or longer than the
    /// payload (RFC 3550 A.1 validity check).
    #[error("padding count {count} is invalid for a payload of {available} bytes")]
    BadPadding {
        /// The last octet of the datagram.
        count: u8,
        /// Bytes after the header that padding may occupy.
        available: usize,
    },
}

/// The caller's buffer cannot hold what is to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("buffer of {got} bytes, {needed} needed")]
pub struct BufferTooSmall {
    /// Bytes required.
    pub needed: usize,
    /// Bytes available.
    pub got: usize,
}

/// A validated RTP packet borrowed from the receive buffer.
///
/// Parsing checks every length once, so the accessors cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeaderView<'a> {
    buf: &'a [u8],
    header_len: usize,
    payload_end: usize,
}

impl<'a> RtpHeaderView<'a> {
    /// Validates `buf` as one RTP packet: version 2, CSRC list, extension and
    /// padding inside the datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpParseError> {
        let [b0, ..] = *buf else {
            return Err(RtpParseError::TooShort { len: 0 });
        };
        if buf.len() < FIXED_HEADER_LEN {
            return Err(RtpParseError::TooShort { len: buf.len() });
        }
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpParseError::BadVersion(version));
        }
        let count = b0 & 0x0f;
        let mut header_len = FIXED_HEADER_LEN + 4 * usize::from(count);
        if buf.len() < header_len {
            return Err(RtpParseError::CsrcOverrun { count });
        }
        if b0 & 0x10 != 0 {
            let words = buf
                .get(header_len + 2..header_len + 4)
                .ok_or(RtpParseError::ExtensionOverrun)?;
            let words = usize::from(u16::from_be_bytes([words[0], words[1]]));
            header_len += 4 + 4 * words;
            if buf.len() < header_len {
                return Err(RtpParseError::ExtensionOverrun);
            }
        }
        let mut payload_end = buf.len();
        if b0 & 0x20 != 0 {
            let available = buf.len() - header_len;
            // The count includes itself, so zero is as wrong as too long.
            let count = buf[buf.len() - 1];
            if count == 0 || usize::from(count) > available {
                return Err(RtpParseError::BadPadding { count, available });
            }
            payload_end -= usize::from(count);
        }
        Ok(Self { buf, header_len, payload_end })
    }

    /// The whole datagram the view was parsed from.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Sequence number.
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    /// RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }

    /// Synchronisation source.
    pub fn ssrc(&self) -> u32 {
        be32(self.buf, 8)
    }

    /// Marker bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// Payload type (7 bits).
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// Whether the P bit is set.
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// Number of CSRC entries.
    pub fn csrc_count(&self) -> usize {
        usize::from(self.buf[0] & 0x0f)
    }

    /// The `i`th contributing source, if present.
    pub fn csrc(&self, i: usize) -> Option<u32> {
        (i < self.csrc_count()).then(|| be32(self.buf, FIXED_HEADER_LEN + 4 * i))
    }

    /// Header extension profile and data (without its 4-byte preamble).
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        if self.buf[0] & 0x10 == 0 {
            return None;
        }
        let at = FIXED_HEADER_LEN + 4 * self.csrc_count();
        let profile = u16::from_be_bytes([self.buf[at], self.buf[at + 1]]);
        Some((profile, &self.buf[at + 4..self.header_len]))
    }

    /// Bytes before the payload: fixed header, CSRCs and extension.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.payload_end]
    }

    /// Where the payload sits in the datagram.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        self.header_len..self.payload_end
    }
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// The fields a relay or a sender writes into a fresh fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderFields {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits; the high bit is dropped).
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Writes a 12-byte fixed header (no padding, CSRC or extension) at the
/// start of `buf` and returns its length, so the payload goes at `buf[12..]`.
pub fn write_header(buf: &mut [u8], fields: &HeaderFields) -> Result<usize, BufferTooSmall> {
    let head = fixed_mut(buf)?;
    head[0] = RTP_VERSION << 6;
    head[1] = (fields.payload_type & 0x7f) | if fields.marker { 0x80 } else { 0 };
    head[2..4].copy_from_slice(&fields.seq.to_be_bytes());
    head[4..8].copy_from_slice(&fields.timestamp.to_be_bytes());
    head[8..12].copy_from_slice(&fields.ssrc.to_be_bytes());
    Ok(FIXED_HEADER_LEN)
}

fn fixed_mut(buf: &mut [u8]) -> Result<&mut [u8], BufferTooSmall> {
    let got = buf.len();
    buf.get_mut(..FIXED_HEADER_LEN).ok_or(BufferTooSmall { needed: FIXED_HEADER_LEN, got })
}

/// Rewrites the payload type of a packet in place, keeping the marker bit.
pub fn set_payload_type(buf: &mut [u8], pt: u8) -> Result<(), BufferTooSmall> {
    let head = fixed_mut(buf)?;
    head[1] = (head[1] & 0x80) | (pt & 0x7f);
    Ok(())
}

/// Rewrites the marker bit in place.
pub fn set_marker(buf: &mut [u8], marker: bool) -> Result<(), BufferTooSmall> {
    let head = fixed_mut(buf)?;
    head[1] = (head[1] & 0x7f) | if marker { 0x80 } else { 0 };
    Ok(())
}

/// Rewrites the sequence number in place.
pub fn set_seq(buf: &mut [u8], seq: u16) -> Result<(), BufferTooSmall> {
    fixed_mut(buf)?[2..4].copy_from_slice(&seq.to_be_bytes());
    Ok(())
}

/// Rewrites the RTP timestamp in place.
pub fn set_timestamp(buf: &mut [u8], ts: u32) -> Result<(), BufferTooSmall> {
    fixed_mut(buf)?[4..8].copy_from_slice(&ts.to_be_bytes());
    Ok(())
}

/// Rewrites the SSRC in place.
pub fn set_ssrc(buf: &mut [u8], ssrc: u32) -> Result<(), BufferTooSmall> {
    fixed_mut(buf)?[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Ok(())
}

/// RFC 5761 §4 demultiplexing on an rtcp-mux port: RTCP packet types 192–223
/// (SR, RR, SDES, BYE, APP, feedback, XR) land on RTP payload types 64–95
/// once the marker bit is masked off, which is why those payload types must
/// not be used for RTP on a multiplexed port.
pub fn is_rtcp(buf: &[u8]) -> bool {
    match buf {
        [_, b1, ..] => (64..=95).contains(&(b1 & 0x7f)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A packet built field by field, so tests know what the parser must see.
    #[derive(Debug, Clone)]
    struct Spec {
        marker: bool,
        pt: u8,
        seq: u16,
        ts: u32,
        ssrc: u32,
        csrc: Vec<u32>,
        ext: Option<(u16, Vec<u8>)>,
        payload: Vec<u8>,
        padding: u8,
    }

    impl Spec {
        fn bytes(&self) -> Vec<u8> {
            let mut out = vec![0u8; FIXED_HEADER_LEN];
            write_header(
                &mut out,
                &HeaderFields {
                    marker: self.marker,
                    payload_type: self.pt,
                    seq: self.seq,
                    timestamp: self.ts,
                    ssrc: self.ssrc,
                },
            )
            .unwrap();
            out[0] |= self.csrc.len() as u8;
            for c in &self.csrc {
                out.extend_from_slice(&c.to_be_bytes());
            }
            if let Some((profile, data)) = &self.ext {
                out[0] |= 0x10;
                out.extend_from_slice(&profile.to_be_bytes());
                out.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
                out.extend_from_slice(data);
            }
            out.extend_from_slice(&self.payload);
            if self.padding > 0 {
                out[0] |= 0x20;
                out.extend(std::iter::repeat_n(0, usize::from(self.padding) - 1));
                out.push(self.padding);
            }
            out
        }
    }

    /// RFC 8285 one-byte elements (ids 1–14) padded with zeros to a word,
    /// the only extension shape on which the rtp crate's parser is exact.
    fn one_byte_ext() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec((1u8..15, prop::collection::vec(any::<u8>(), 1..=16)), 0..4).prop_map(|elems| {
            let mut data = Vec::new();
            for (id, body) in elems {
                data.push((id << 4) | (body.len() as u8 - 1));
                data.extend_from_slice(&body);
            }
            while data.len() % 4 != 0 {
                data.push(0);
            }
            data
        })
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let ext = prop_oneof![
            Just(None),
            one_byte_ext().prop_map(|d| Some((0xBEDE, d))),
            (2u16..0x1000, prop::collection::vec(any::<[u8; 4]>(), 0..6))
                .prop_map(|(p, w)| Some((p, w.concat()))),
        ];
        (
            (any::<bool>(), 0u8..128, any::<u16>(), any::<u32>(), any::<u32>()),
            prop::collection::vec(any::<u32>(), 0..=15),
            ext,
            prop::collection::vec(any::<u8>(), 0..200),
            prop_oneof![Just(0u8), 1u8..=255],
        )
            .prop_map(|((marker, pt, seq, ts, ssrc), csrc, ext, payload, padding)| Spec {
                marker,
                pt,
                seq,
                ts,
                ssrc,
                csrc,
                ext,
                payload,
                padding,
            })
    }

    proptest! {
        #[test]
        fn view_reads_what_was_built(s in spec()) {
            let bytes = s.bytes();
            let view = RtpHeaderView::parse(&bytes).unwrap();
            prop_assert_eq!(view.seq(), s.seq);
            prop_assert_eq!(view.timestamp(), s.ts);
            prop_assert_eq!(view.ssrc(), s.ssrc);
            prop_assert_eq!(view.marker(), s.marker);
            prop_assert_eq!(view.payload_type(), s.pt);
            prop_assert_eq!(view.has_padding(), s.padding > 0);
            let csrcs: Vec<u32> = (0..view.csrc_count()).filter_map(|i| view.csrc(i)).collect();
            prop_assert_eq!(&csrcs, &s.csrc);
            prop_assert_eq!(view.extension().map(|(p, d)| (p, d.to_vec())), s.ext.clone());
            prop_assert_eq!(view.payload(), &s.payload[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(v) = RtpHeaderView::parse(&bytes) {
                prop_assert!(v.header_len() >= FIXED_HEADER_LEN);
                prop_assert!(v.payload_range().end <= bytes.len());
                prop_assert_eq!(v.payload().len(), v.payload_range().len());
                let _ = (v.extension(), v.csrc(15), v.seq(), v.timestamp(), v.ssrc());
            }
            let _ = is_rtcp(&bytes);
        }

        #[test]
        fn truncation_is_rejected(s in spec(), cut in 1usize..40) {
            let bytes = s.bytes();
            let header = RtpHeaderView::parse(&bytes).unwrap().header_len();
            let keep = header.saturating_sub(cut);
            prop_assert!(RtpHeaderView::parse(&bytes[..keep]).is_err());
        }

        #[test]
        fn setters_round_trip(s in spec(), pt in 0u8..128, seq: u16, ts: u32, ssrc: u32, m: bool) {
            let mut bytes = s.bytes();
            set_payload_type(&mut bytes, pt).unwrap();
            set_seq(&mut bytes, seq).unwrap();
            set_timestamp(&mut bytes, ts).unwrap();
            set_ssrc(&mut bytes, ssrc).unwrap();
            set_marker(&mut bytes, m).unwrap();
            let v = RtpHeaderView::parse(&bytes).unwrap();
            prop_assert_eq!((v.payload_type(), v.seq(), v.timestamp(), v.ssrc(), v.marker()), (pt, seq, ts, ssrc, m));
            prop_assert_eq!(v.payload(), &s.payload[..]);
        }
    }

    fn plain() -> Vec<u8> {
        let mut b = vec![0u8; 20];
        let fields = HeaderFields { marker: true, payload_type: 8, seq: 0xBEEF, timestamp: 0xDEAD_BEEF, ssrc: 0x1234_5678 };
        assert_eq!(write_header(&mut b, &fields).unwrap(), 12);
        b
    }

    #[test]
    fn write_header_layout() {
        let b = plain();
        assert_eq!(&b[..12], &[0x80, 0x88, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34, 0x56, 0x78]);
        let v = RtpHeaderView::parse(&b).unwrap();
        assert_eq!(v.payload().len(), 8);
        assert_eq!(write_header(&mut [0u8; 11], &HeaderFields::default()), Err(BufferTooSmall { needed: 12, got: 11 }));
        assert!(set_seq(&mut [0u8; 3], 1).is_err());
    }

    #[test]
    fn rejects_bad_packets() {
        let good = plain();
        assert_eq!(RtpHeaderView::parse(&good[..11]), Err(RtpParseError::TooShort { len: 11 }));
        assert_eq!(RtpHeaderView::parse(&[]), Err(RtpParseError::TooShort { len: 0 }));
        let mut v1 = good.clone();
        v1[0] = 0x40;
        assert_eq!(RtpHeaderView::parse(&v1), Err(RtpParseError::BadVersion(1)));
        let mut cc = good.clone();
        cc[0] |= 3; // 12 bytes of CSRC, only 8 present
        assert_eq!(RtpHeaderView::parse(&cc), Err(RtpParseError::CsrcOverrun { count: 3 }));
        let mut ext = good.clone();
        ext[0] |= 0x10;
        ext[14..16].copy_from_slice(&2u16.to_be_bytes()); // 8 more bytes, only 4
        assert_eq!(RtpHeaderView::parse(&ext), Err(RtpParseError::ExtensionOverrun));
        let mut pad = good.clone();
        pad[0] |= 0x20;
        *pad.last_mut().unwrap() = 0;
        assert_eq!(RtpHeaderView::parse(&pad), Err(RtpParseError::BadPadding { count: 0, available: 8 }));
        *pad.last_mut().unwrap() = 9;
        assert!(matches!(RtpHeaderView::parse(&pad), Err(RtpParseError::BadPadding { count: 9, .. })));
        *pad.last_mut().unwrap() = 8;
        assert_eq!(RtpHeaderView::parse(&pad).unwrap().payload(), &[] as &[u8]);
    }

    #[test]
    fn rtcp_mux_demultiplexing() {
        // SR 200, RR 201, SDES 202, BYE 203, APP 204, RTPFB 205, PSFB 206, XR 207.
        for pt in 192u8..=223 {
            assert!(is_rtcp(&[0x80, pt, 0, 1]), "{pt}");
        }
        for pt in (0u8..64).chain(96..128) {
            assert!(!is_rtcp(&[0x80, pt, 0, 0]), "{pt}");
            assert!(!is_rtcp(&[0x80, pt | 0x80, 0, 0]), "marker {pt}");
        }
        assert!(!is_rtcp(&[0x80]));
    }
}
