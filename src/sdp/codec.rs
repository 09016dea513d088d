//! The codec catalogue: what an rtpmap (or a static payload type) names, and
//! which of those the switch's codecs crate can decode.
//!
//! Static payload types are RFC 3551 table 4 (audio only); CN is RFC 3389,
//! telephone-event RFC 4733, opus RFC 7587 (always `opus/48000/2` in SDP even
//! for mono), L16 RFC 3551 §4.5.11.

use switchyard_codecs::CodecKind;

use super::media::Rtpmap;

/// A payload format resolved from an m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as sent.
    pub name: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channels (1 when the rtpmap has none).
    pub channels: u16,
    /// Format parameters verbatim.
    pub fmtp: Option<String>,
}

/// RFC 3551 table 4: the audio payload types with a fixed meaning.
const STATIC_AUDIO: &[(u8, &str, u32, u16)] = &[
    (0, "PCMU", 8000, 1),
    (3, "GSM", 8000, 1),
    (4, "G723", 8000, 1),
    (5, "DVI4", 8000, 1),
    (6, "DVI4", 16000, 1),
    (7, "LPC", 8000, 1),
    (8, "PCMA", 8000, 1),
    (9, "G722", 8000, 1),
    (10, "L16", 44100, 2),
    (11, "L16", 44100, 1),
    (12, "QCELP", 8000, 1),
    (13, "CN", 8000, 1),
    (14, "MPA", 90000, 1),
    (15, "G728", 8000, 1),
    (16, "DVI4", 11025, 1),
    (17, "DVI4", 22050, 1),
    (18, "G729", 8000, 1),
];

/// First dynamic payload type (RFC 3551 §3).
pub(crate) const DYNAMIC_PT_FIRST: u8 = 96;
/// Last RTP payload type.
pub(crate) const DYNAMIC_PT_LAST: u8 = 127;

/// The codec a static payload type stands for when no rtpmap says otherwise.
pub fn static_codec(pt: u8) -> Option<Codec> {
    STATIC_AUDIO
        .iter()
        .find(|(p, ..)| *p == pt)
        .map(|&(pt, name, clock_rate, channels)| Codec {
            pt,
            name: name.to_owned(),
            clock_rate,
            channels,
            fmtp: None,
        })
}

impl Codec {
    /// The codec this switch can transcode, if it is one. Names match without
    /// regard to case; the clock rate and channels must be the ones the RFCs
    /// define, so a `G722/16000` (a common mistake) is not taken for G.722.
    pub fn kind(&self) -> Option<CodecKind> {
        let name = self.name.as_str();
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        match (self.clock_rate, self.channels) {
            (8000, 1) if is("PCMU") => Some(CodecKind::Pcmu),
            (8000, 1) if is("PCMA") => Some(CodecKind::Pcma),
            (8000, 1) if is("G722") => Some(CodecKind::G722),
            // RFC 7587 mandates /2; some peers omit it, and the meaning is the same.
            (48000, 1 | 2) if is("opus") => Some(CodecKind::Opus),
            (rate, 1) if is("L16") => Some(CodecKind::L16 { rate }),
            _ => None,
        }
    }

    /// RFC 4733 events (DTMF), not audio.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }

    /// RFC 3389 comfort noise, not audio.
    pub fn is_comfort_noise(&self) -> bool {
        self.name.eq_ignore_ascii_case("CN")
    }

    /// Whether two entries name the same format, payload type aside.
    pub fn same_format(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// The static payload type of a codec, if RFC 3551 gives it one.
    pub fn static_pt(kind: CodecKind) -> Option<u8> {
        match kind {
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
            CodecKind::G722 => Some(9),
            CodecKind::L16 { rate: 44100 } => Some(11),
            _ => None,
        }
    }

    /// The entry this switch writes for one of its codecs.
    pub fn for_kind(kind: CodecKind, pt: u8) -> Codec {
        let (name, channels) = match kind {
            CodecKind::Pcmu => ("PCMU", 1),
            CodecKind::Pcma => ("PCMA", 1),
            CodecKind::G722 => ("G722", 1),
            CodecKind::Opus => ("opus", 2),
            CodecKind::L16 { .. } => ("L16", 1),
            // CodecKind is non_exhaustive: a codec added there gets a name no
            // peer will match until this catalogue learns it.
            _ => ("unknown", 1),
        };
        Codec {
            pt,
            name: name.to_owned(),
            clock_rate: kind.rtp_clock_rate(),
            channels,
            fmtp: None,
        }
    }

    /// `telephone-event/<rate>` with events 0–16 (digits, `*`, `#`, A–D, flash).
    pub fn telephone_event(pt: u8, clock_rate: u32) -> Codec {
        Codec {
            pt,
            name: "telephone-event".to_owned(),
            clock_rate,
            channels: 1,
            fmtp: Some("0-16".to_owned()),
        }
    }

    /// `CN/8000` on its static payload type 13.
    pub fn comfort_noise() -> Codec {
        Codec {
            pt: 13,
            name: "CN".to_owned(),
            clock_rate: 8000,
            channels: 1,
            fmtp: None,
        }
    }

    /// The rtpmap line describing this entry (channels only when not one).
    pub fn rtpmap(&self) -> Rtpmap {
        Rtpmap {
            pt: self.pt,
            encoding: self.name.clone(),
            clock_rate: self.clock_rate,
            channels: (self.channels != 1).then_some(self.channels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(name: &str, clock_rate: u32, channels: u16) -> Codec {
        Codec {
            pt: 96,
            name: name.to_owned(),
            clock_rate,
            channels,
            fmtp: None,
        }
    }

    #[test]
    fn kinds_match_names_without_case_and_need_the_right_clock() {
        assert_eq!(codec("pcmu", 8000, 1).kind(), Some(CodecKind::Pcmu));
        assert_eq!(codec("PCMA", 8000, 1).kind(), Some(CodecKind::Pcma));
        assert_eq!(codec("g722", 8000, 1).kind(), Some(CodecKind::G722));
        assert_eq!(codec("G722", 16000, 1).kind(), None);
        assert_eq!(codec("OPUS", 48000, 2).kind(), Some(CodecKind::Opus));
        assert_eq!(codec("opus", 48000, 1).kind(), Some(CodecKind::Opus));
        assert_eq!(codec("opus", 16000, 1).kind(), None);
        assert_eq!(
            codec("L16", 16000, 1).kind(),
            Some(CodecKind::L16 { rate: 16000 })
        );
        assert_eq!(codec("L16", 16000, 2).kind(), None);
        assert_eq!(codec("telephone-event", 8000, 1).kind(), None);
        assert_eq!(codec("CN", 8000, 1).kind(), None);
        assert!(codec("Telephone-Event", 48000, 1).is_telephone_event());
        assert!(codec("cn", 8000, 1).is_comfort_noise());
    }

    #[test]
    fn static_table_resolves_rfc3551_audio() {
        let pcmu = static_codec(0).expect("PT 0 is static");
        assert_eq!((pcmu.name.as_str(), pcmu.clock_rate), ("PCMU", 8000));
        assert_eq!(
            static_codec(8).and_then(|c| c.kind()),
            Some(CodecKind::Pcma)
        );
        assert_eq!(
            static_codec(9).and_then(|c| c.kind()),
            Some(CodecKind::G722)
        );
        assert!(static_codec(13).is_some_and(|c| c.is_comfort_noise()));
        assert_eq!(static_codec(18).map(|c| c.name), Some("G729".to_owned()));
        assert_eq!(
            static_codec(11).and_then(|c| c.kind()),
            Some(CodecKind::L16 { rate: 44100 })
        );
        assert!(static_codec(2).is_none());
        assert!(static_codec(96).is_none());
    }

    #[test]
    fn catalogue_entries_round_trip_through_kind() {
        let kinds = [
            CodecKind::Pcmu,
            CodecKind::Pcma,
            CodecKind::G722,
            CodecKind::Opus,
            CodecKind::L16 { rate: 8000 },
            CodecKind::L16 { rate: 16000 },
        ];
        for kind in kinds {
            let c = Codec::for_kind(kind, Codec::static_pt(kind).unwrap_or(100));
            assert_eq!(c.kind(), Some(kind), "{c:?}");
        }
        let opus = Codec::for_kind(CodecKind::Opus, 111).rtpmap();
        assert_eq!(
            (opus.encoding.as_str(), opus.clock_rate, opus.channels),
            ("opus", 48000, Some(2))
        );
        assert_eq!(Codec::for_kind(CodecKind::Pcmu, 0).rtpmap().channels, None);
    }
}
