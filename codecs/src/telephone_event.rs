//! RFC 4733 telephone-events: the 4-octet payload, a sender that turns a
//! key press into the packet sequence, and a receiver that turns packets back
//! into one begin and one end per event.
//!
//! Standards: RFC 4733 §2.3 (payload), §2.5.1 (sender: marker on the first
//! packet, updates with growing duration, the end packet sent three times,
//! long events split into segments), §2.5.2 (receiver: events keyed by RTP
//! timestamp, duplicate ends, lost first packets). Event codes are those of
//! §3.2 (`0`–`15` for DTMF, see [`DtmfDigit`](crate::dtmf::DtmfDigit)).
//!
//! Out of scope: RFC 2198 redundancy (several events in one RTP packet under a
//! `red` payload type) — a payload longer than one block is accepted and only
//! its first block read; the RTP header itself, which the caller parses and
//! builds (sequence numbers, SSRC).

use thiserror::Error;

/// Length of one event block.
pub const BLOCK_LEN: usize = 4;

/// Largest duration one packet can carry; longer events are segmented.
const MAX_DURATION: u32 = 0xFFFF;

/// Why a telephone-event payload was refused, or could not be written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TelephoneEventError {
    /// The payload is shorter than one 4-octet event block (peer fault).
    #[error("telephone-event payload of {0} octets is shorter than one block")]
    Truncated(usize),
    /// The output buffer cannot hold one block.
    #[error("output buffer of {0} octets cannot hold an event block")]
    BufferTooSmall(usize),
}

/// One RFC 4733 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// Event code (§3.2: 0–15 DTMF; other registries use the rest).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level of the tone in -dBm0, 0–63 (only six bits are sent).
    pub volume: u8,
    /// Duration so far in RTP timestamp units, from the packet's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event block of `payload`; further blocks are ignored
    /// and the reserved bit is ignored, as §2.3 asks of receivers.
    pub fn parse(payload: &[u8]) -> Result<Self, TelephoneEventError> {
        let Some(&[event, flags, hi, lo]) = payload.first_chunk::<BLOCK_LEN>() else {
            return Err(TelephoneEventError::Truncated(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([hi, lo]),
        })
    }

    /// Writes the block into `out`, returning the octets written (4). The
    /// reserved bit is sent as zero and the volume is truncated to six bits.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, TelephoneEventError> {
        let len = out.len();
        let Some(block) = out.first_chunk_mut::<BLOCK_LEN>() else {
            return Err(TelephoneEventError::BufferTooSmall(len));
        };
        let [hi, lo] = self.duration.to_be_bytes();
        *block = [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            hi,
            lo,
        ];
        Ok(BLOCK_LEN)
    }
}

/// One packet the sender wants on the wire: the payload plus the RTP header
/// fields that RFC 4733 governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// The payload block.
    pub payload: TelephoneEvent,
    /// The RTP marker bit (set on an event's first packet only).
    pub marker: bool,
    /// The RTP timestamp: the event's (or segment's) start.
    pub timestamp: u32,
}

#[derive(Debug, Clone, Copy)]
enum SendState {
    Idle,
    /// An event in progress. Times are in RTP units since the event began.
    Sending {
        event: u8,
        /// Timestamp of the current segment.
        timestamp: u32,
        /// Elapsed time at which the current segment began.
        segment_start: u32,
        /// Whether the segment's first packet is still to be sent.
        first: bool,
        /// Whether that first packet carries the marker (first segment only).
        marker: bool,
        /// When the next update is due.
        next_update: u32,
        /// When the event ends, once known.
        end_at: Option<u32>,
    },
    /// Sending the end packet; `left` copies remain, the next due at `next`.
    Ending {
        packet: EventPacket,
        left: u8,
        next: u32,
    },
}

/// Turns one event at a time into RFC 4733 packets.
///
/// Call order: [`start`](Self::start), then [`poll`](Self::poll) with the time
/// elapsed since the start until it returns `None`, at least once per packet
/// interval; [`end_at`](Self::end_at) when the event's length is known (it may
/// be called right after `start` for a fixed-length digit). Each `poll` hands
/// out at most one packet: the first (marker set) immediately, an update every
/// packet interval with the duration so far, then the end packet three times,
/// one interval apart. An event longer than 65535 units is sent as segments
/// (§2.5.1.3): the last packet of a segment carries duration 65535 without
/// the E bit, and the next segment starts at timestamp + 65535 without marker.
#[derive(Debug, Clone)]
pub struct EventSender {
    interval: u32,
    volume: u8,
    state: SendState,
}

impl EventSender {
    /// A sender updating every `interval` RTP units (the stream's packet
    /// interval, e.g. 400 for 50 ms at 8 kHz; at least 1) at `volume` -dBm0.
    pub fn new(interval: u32, volume: u8) -> Self {
        EventSender {
            interval: interval.max(1),
            volume: volume & 0x3F,
            state: SendState::Idle,
        }
    }

    /// Begins `event` at RTP timestamp `timestamp`. An event still being
    /// sent is abandoned (its receivers end it on seeing the new timestamp),
    /// and so are outstanding copies of a previous end packet.
    pub fn start(&mut self, event: u8, timestamp: u32) {
        self.state = SendState::Sending {
            event,
            timestamp,
            segment_start: 0,
            first: true,
            marker: true,
            next_update: self.interval,
            end_at: None,
        };
    }

    /// Ends the current event when `elapsed` RTP units after its start have
    /// passed (now, or later for a fixed-length event).
    pub fn end_at(&mut self, elapsed: u32) {
        if let SendState::Sending { end_at, .. } = &mut self.state {
            *end_at = Some(elapsed);
        }
    }

    /// Whether an event or its end packets are still being sent.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, SendState::Idle)
    }

    fn packet(
        &self,
        event: u8,
        end: bool,
        duration: u32,
        marker: bool,
        timestamp: u32,
    ) -> EventPacket {
        let duration = duration.min(MAX_DURATION) as u16;
        EventPacket {
            payload: TelephoneEvent {
                event,
                end,
                volume: self.volume,
                duration,
            },
            marker,
            timestamp,
        }
    }

    /// The next packet due at `elapsed` RTP units after the event's start,
    /// if any; call again until `None`.
    pub fn poll(&mut self, elapsed: u32) -> Option<EventPacket> {
        match self.state {
            SendState::Idle => None,
            SendState::Ending { packet, left, next } => {
                if elapsed < next {
                    return None;
                }
                self.state = if left > 1 {
                    SendState::Ending {
                        packet,
                        left: left - 1,
                        next: next.saturating_add(self.interval),
                    }
                } else {
                    SendState::Idle
                };
                Some(packet)
            }
            SendState::Sending {
                event,
                timestamp,
                segment_start,
                first,
                marker,
                next_update,
                end_at,
            } => {
                // How far the current segment reaches at this poll.
                let now = end_at.map_or(elapsed, |e| e.min(elapsed));
                if now - segment_start > MAX_DURATION {
                    // Close this segment at its maximum and open the next.
                    let closing =
                        self.packet(event, false, MAX_DURATION, first && marker, timestamp);
                    self.state = SendState::Sending {
                        event,
                        timestamp: timestamp.wrapping_add(MAX_DURATION),
                        segment_start: segment_start + MAX_DURATION,
                        first: true,
                        marker: false,
                        next_update,
                        end_at,
                    };
                    return Some(closing);
                }
                if let Some(end) = end_at.filter(|&e| elapsed >= e) {
                    let packet =
                        self.packet(event, true, end - segment_start, first && marker, timestamp);
                    // Only an event's first packet carries the marker, even
                    // when that packet is also its end.
                    let again = EventPacket {
                        marker: false,
                        ..packet
                    };
                    self.state = SendState::Ending {
                        packet: again,
                        left: 2,
                        next: end.saturating_add(self.interval),
                    };
                    return Some(packet);
                }
                if !first && elapsed < next_update {
                    return None;
                }
                let mut next = next_update;
                while next <= elapsed {
                    next = next.saturating_add(self.interval);
                }
                let packet = self.packet(
                    event,
                    false,
                    elapsed - segment_start,
                    first && marker,
                    timestamp,
                );
                self.state = SendState::Sending {
                    event,
                    timestamp,
                    segment_start,
                    first: false,
                    marker,
                    next_update: next,
                    end_at,
                };
                Some(packet)
            }
        }
    }
}

/// An event as the receiver reports it, once each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceivedEvent {
    /// An event began at RTP timestamp `timestamp`.
    Begin {
        /// Event code.
        event: u8,
        /// RTP timestamp of the event's start.
        timestamp: u32,
    },
    /// The event that began at `timestamp` ended.
    End {
        /// Event code.
        event: u8,
        /// RTP timestamp of the event's start.
        timestamp: u32,
        /// Total duration in RTP units (all segments), as far as known: the
        /// last duration seen when the end packets were lost.
        duration: u32,
        /// Whether an end packet was received (false: inferred from a new
        /// event or from [`EventReceiver::finish`]).
        confirmed: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Current {
    event: u8,
    /// Timestamp of the event's first segment.
    start: u32,
    /// Timestamp of the segment being received.
    segment: u32,
    /// Duration of the earlier segments.
    before: u32,
    /// Largest duration seen in the current segment.
    duration: u32,
    ended: bool,
}

/// Capacity of the receiver's event queue: a packet yields at most three
/// events (end of the previous, begin and end of a new one).
const QUEUE: usize = 4;

/// Turns received telephone-event packets into [`ReceivedEvent`]s.
///
/// Call order: [`handle_packet`](Self::handle_packet) for each packet of the
/// telephone-event payload type, then [`poll_event`](Self::poll_event) until
/// `None`. Packets are told apart by RTP timestamp (§2.5.2): a new timestamp
/// is a new event, whether or not its marker arrived; repeated end packets
/// and packets older than the current event are ignored; a new event ends a
/// previous one whose end packets were all lost; a segment continuing a long
/// event (same code, timestamp = previous segment + 65535, no marker) extends
/// it.
#[derive(Debug, Clone, Default)]
pub struct EventReceiver {
    current: Option<Current>,
    queue: [Option<ReceivedEvent>; QUEUE],
    head: usize,
    len: usize,
}

impl EventReceiver {
    /// A receiver that has seen no event.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, e: ReceivedEvent) {
        if self.len == QUEUE {
            // Only reachable when the caller never drains: keep the newest.
            self.head = (self.head + 1) % QUEUE;
            self.len -= 1;
        }
        self.queue[(self.head + self.len) % QUEUE] = Some(e);
        self.len += 1;
    }

    /// The next event decided, oldest first.
    pub fn poll_event(&mut self) -> Option<ReceivedEvent> {
        if self.len == 0 {
            return None;
        }
        let e = self.queue[self.head].take();
        self.head = (self.head + 1) % QUEUE;
        self.len -= 1;
        e
    }

    fn end_current(&mut self, confirmed: bool) {
        if let Some(c) = self.current.as_mut().filter(|c| !c.ended) {
            c.ended = true;
            let e = ReceivedEvent::End {
                event: c.event,
                timestamp: c.start,
                duration: c.before.saturating_add(c.duration),
                confirmed,
            };
            self.push(e);
        }
    }

    /// Ends an event whose end packets never came (call on a timeout, or when
    /// the stream stops).
    pub fn finish(&mut self) {
        self.end_current(false);
    }

    /// Takes one packet: its RTP timestamp, marker bit and payload.
    pub fn handle_packet(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), TelephoneEventError> {
        let block = TelephoneEvent::parse(payload)?;
        let duration = u32::from(block.duration);
        if let Some(c) = self.current.as_mut() {
            // Serial-number comparison: RTP timestamps wrap.
            let age = timestamp.wrapping_sub(c.segment) as i32;
            // The marker opens a new event (RFC 4733 §2.5.1.3). After the previous one ended,
            // or for another key, it is a new press even when its timestamp does not move
            // on: senders that replay canned packets (SIPp's pcaps) reuse them.
            let fresh_press = marker && (c.ended || block.event != c.event) && age <= 0;
            if fresh_press {
                self.end_current(false);
                return self.begin(timestamp, block.event, duration, block.end);
            }
            if age == 0 && block.event == c.event {
                if !c.ended {
                    c.duration = c.duration.max(duration);
                    if block.end {
                        self.end_current(true);
                    }
                }
                return Ok(());
            }
            if age < 0 {
                // Late packet of an earlier event or segment.
                return Ok(());
            }
            let continues = !marker
                && block.event == c.event
                && !c.ended
                && timestamp == c.segment.wrapping_add(MAX_DURATION);
            if continues {
                c.before = c.before.saturating_add(MAX_DURATION);
                c.segment = timestamp;
                c.duration = duration;
                if block.end {
                    self.end_current(true);
                }
                return Ok(());
            }
            self.end_current(false);
        }
        self.begin(timestamp, block.event, duration, block.end)
    }

    fn begin(&mut self, timestamp: u32, event: u8, duration: u32, end: bool) -> Result<(), TelephoneEventError> {
        self.current = Some(Current {
            event,
            start: timestamp,
            segment: timestamp,
            before: 0,
            duration,
            ended: false,
        });
        self.push(ReceivedEvent::Begin { event, timestamp });
        if end {
            self.end_current(true);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_layout() {
        let e = TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        let mut buf = [0u8; 6];
        assert_eq!(e.write(&mut buf), Ok(4));
        assert_eq!(buf[..4], [0x05, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&buf[..4]), Ok(e));
        // Reserved bit ignored, extra blocks ignored.
        assert_eq!(
            TelephoneEvent::parse(&[0x05, 0xCA, 0x03, 0x20, 9, 9, 9, 9]),
            Ok(e)
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(TelephoneEventError::Truncated(3))
        );
        assert_eq!(
            e.write(&mut [0u8; 3]),
            Err(TelephoneEventError::BufferTooSmall(3))
        );
    }

    #[test]
    fn volume_is_six_bits_on_the_wire() {
        let mut buf = [0u8; 4];
        TelephoneEvent {
            event: 1,
            end: false,
            volume: 0xFF,
            duration: 0,
        }
        .write(&mut buf)
        .expect("fits");
        assert_eq!(buf[1], 0x3F);
    }

    #[test]
    fn receiver_queue_keeps_newest_when_never_drained() {
        let mut r = EventReceiver::new();
        for i in 0..10u32 {
            r.handle_packet(i * 1000, true, &[1, 0x80, 0, 100])
                .expect("valid");
        }
        let mut n = 0;
        let mut last = None;
        while let Some(e) = r.poll_event() {
            n += 1;
            last = Some(e);
        }
        assert_eq!(n, QUEUE);
        assert!(matches!(
            last,
            Some(ReceivedEvent::End {
                timestamp: 9000,
                ..
            })
        ));
    }

    /// Drives a sender from 0 to `until` in 20 ms steps (160 units), as a
    /// media loop polling once per packet would, collecting (elapsed, packet).
    fn drive(sender: &mut EventSender, until: u32) -> Vec<(u32, EventPacket)> {
        let mut out = Vec::new();
        for t in (0..=until).step_by(160) {
            while let Some(p) = sender.poll(t) {
                out.push((t, p));
            }
        }
        out
    }

    fn feed(r: &mut EventReceiver, packets: &[(u32, EventPacket)]) -> Vec<ReceivedEvent> {
        let mut events = Vec::new();
        let mut buf = [0u8; 4];
        for (_, p) in packets {
            p.payload.write(&mut buf).expect("fits");
            r.handle_packet(p.timestamp, p.marker, &buf).expect("valid");
            while let Some(e) = r.poll_event() {
                events.push(e);
            }
        }
        events
    }

    #[test]
    fn sender_packet_sequence_for_a_200_ms_digit() {
        // 8 kHz, updates every 50 ms (400 units), digit 5 for 200 ms.
        let mut s = EventSender::new(400, 10);
        s.start(5, 1000);
        s.end_at(1600);
        let got = drive(&mut s, 3000);
        let summary: Vec<(u32, bool, bool, u16)> = got
            .iter()
            .map(|(t, p)| (*t, p.marker, p.payload.end, p.payload.duration))
            .collect();
        assert_eq!(
            summary,
            [
                (0, true, false, 0),
                (480, false, false, 480),
                (800, false, false, 800),
                (1280, false, false, 1280),
                (1600, false, true, 1600),
                (2080, false, true, 1600),
                (2400, false, true, 1600),
            ]
        );
        assert!(
            got.iter().all(|(_, p)| p.timestamp == 1000
                && p.payload.event == 5
                && p.payload.volume == 10)
        );
        assert!(!s.is_busy());
    }

    #[test]
    fn updates_follow_the_packet_interval_when_polled_often() {
        let mut s = EventSender::new(160, 10);
        s.start(1, 0);
        s.end_at(800);
        let durations: Vec<u16> = drive(&mut s, 1600)
            .iter()
            .map(|(_, p)| p.payload.duration)
            .collect();
        assert_eq!(durations, [0, 160, 320, 480, 640, 800, 800, 800]);
    }

    #[test]
    fn long_event_is_segmented_and_reassembled() {
        // 10 s at 8 kHz: 80000 units, more than one duration field holds.
        let mut s = EventSender::new(400, 10);
        s.start(11, 0xFFFF_0000);
        s.end_at(80_000);
        let got = drive(&mut s, 82_000);
        let closing = got
            .iter()
            .find(|(_, p)| p.payload.duration == 0xFFFF)
            .expect("segment closed");
        assert!(!closing.1.payload.end && closing.1.timestamp == 0xFFFF_0000);
        let second: Vec<&EventPacket> = got
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.timestamp == 0xFFFF_0000u32.wrapping_add(0xFFFF))
            .collect();
        assert!(!second.is_empty() && second.iter().all(|p| !p.marker));
        let ends: Vec<&EventPacket> = second.iter().copied().filter(|p| p.payload.end).collect();
        assert_eq!(ends.len(), 3);
        assert_eq!(ends[0].payload.duration, (80_000 - 0xFFFF) as u16);
        assert_eq!(got.iter().filter(|(_, p)| p.marker).count(), 1);

        let mut r = EventReceiver::new();
        assert_eq!(
            feed(&mut r, &got),
            [
                ReceivedEvent::Begin {
                    event: 11,
                    timestamp: 0xFFFF_0000
                },
                ReceivedEvent::End {
                    event: 11,
                    timestamp: 0xFFFF_0000,
                    duration: 80_000,
                    confirmed: true
                },
            ]
        );
    }

    #[test]
    fn receiver_reports_each_event_once_despite_retransmitted_ends() {
        let mut s = EventSender::new(400, 10);
        s.start(3, 5000);
        s.end_at(1200);
        let mut packets = drive(&mut s, 2400);
        s.start(4, 9000);
        s.end_at(800);
        packets.extend(drive(&mut s, 2000));
        let mut r = EventReceiver::new();
        assert_eq!(
            feed(&mut r, &packets),
            [
                ReceivedEvent::Begin {
                    event: 3,
                    timestamp: 5000
                },
                ReceivedEvent::End {
                    event: 3,
                    timestamp: 5000,
                    duration: 1200,
                    confirmed: true
                },
                ReceivedEvent::Begin {
                    event: 4,
                    timestamp: 9000
                },
                ReceivedEvent::End {
                    event: 4,
                    timestamp: 9000,
                    duration: 800,
                    confirmed: true
                },
            ]
        );
    }

    #[test]
    fn receiver_copes_with_lost_start_and_lost_ends() {
        let mut s = EventSender::new(400, 10);
        s.start(7, 100);
        s.end_at(1600);
        let first = drive(&mut s, 2400);
        s.start(8, 4000);
        s.end_at(800);
        let second = drive(&mut s, 1600);
        // Drop the marker packet of the first event and every end packet of
        // the first event.
        let kept: Vec<(u32, EventPacket)> = first
            .iter()
            .filter(|(_, p)| !p.marker && !p.payload.end)
            .chain(second.iter())
            .copied()
            .collect();
        let mut r = EventReceiver::new();
        assert_eq!(
            feed(&mut r, &kept),
            [
                ReceivedEvent::Begin {
                    event: 7,
                    timestamp: 100
                },
                ReceivedEvent::End {
                    event: 7,
                    timestamp: 100,
                    duration: 1280,
                    confirmed: false
                },
                ReceivedEvent::Begin {
                    event: 8,
                    timestamp: 4000
                },
                ReceivedEvent::End {
                    event: 8,
                    timestamp: 4000,
                    duration: 800,
                    confirmed: true
                },
            ]
        );
    }

    #[test]
    fn receiver_ignores_late_packets_and_handles_timestamp_wrap() {
        let mut r = EventReceiver::new();
        let block = |event: u8, end: bool, duration: u16| {
            let mut b = [0u8; 4];
            TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            }
            .write(&mut b)
            .expect("fits");
            b
        };
        r.handle_packet(u32::MAX - 100, true, &block(1, false, 0))
            .expect("valid");
        r.handle_packet(u32::MAX - 100, false, &block(1, true, 400))
            .expect("valid");
        // A new event after the wrap.
        r.handle_packet(200, true, &block(2, false, 0))
            .expect("valid");
        // A late update of the first event: older, ignored.
        r.handle_packet(u32::MAX - 100, false, &block(1, false, 160))
            .expect("valid");
        r.finish();
        r.finish();
        let mut events = Vec::new();
        while let Some(e) = r.poll_event() {
            events.push(e);
        }
        assert_eq!(
            events,
            [
                ReceivedEvent::Begin {
                    event: 1,
                    timestamp: u32::MAX - 100
                },
                ReceivedEvent::End {
                    event: 1,
                    timestamp: u32::MAX - 100,
                    duration: 400,
                    confirmed: true
                },
                ReceivedEvent::Begin {
                    event: 2,
                    timestamp: 200
                },
                ReceivedEvent::End {
                    event: 2,
                    timestamp: 200,
                    duration: 0,
                    confirmed: false
                },
            ]
        );
    }

    #[test]
    fn an_event_ended_before_its_first_packet_still_carries_the_marker() {
        let mut s = EventSender::new(400, 10);
        s.start(9, 0);
        s.end_at(0);
        let got = drive(&mut s, 1000);
        assert_eq!(got.len(), 3);
        assert!(got[0].1.marker && got[0].1.payload.end);
        assert!(got[1..].iter().all(|(_, p)| !p.marker && p.payload.end));
    }

    proptest::proptest! {
        #[test]
        fn parse_survives_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16)) {
            match TelephoneEvent::parse(&bytes) {
                Ok(e) => {
                    let mut out = [0u8; 4];
                    e.write(&mut out).expect("fits");
                    proptest::prop_assert_eq!(out[0], bytes[0]);
                    proptest::prop_assert_eq!(out[1], bytes[1] & 0xBF);
                    proptest::prop_assert_eq!(&out[2..], &bytes[2..4]);
                }
                Err(e) => proptest::prop_assert_eq!(e, TelephoneEventError::Truncated(bytes.len())),
            }
        }

        #[test]
        fn receiver_survives_arbitrary_packets(
            packets in proptest::collection::vec(
                (0u32..5000, proptest::prelude::any::<bool>(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..9)),
                0..64,
            )
        ) {
            let mut r = EventReceiver::new();
            let mut open: Option<(u8, u32)> = None;
            for (ts, marker, payload) in packets {
                let _ = r.handle_packet(ts, marker, &payload);
                while let Some(e) = r.poll_event() {
                    match e {
                        ReceivedEvent::Begin { event, timestamp } => {
                            proptest::prop_assert!(open.is_none(), "begin while {open:?} open");
                            open = Some((event, timestamp));
                        }
                        ReceivedEvent::End { event, timestamp, .. } => {
                            proptest::prop_assert_eq!(open.take(), Some((event, timestamp)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_marked_packet_after_the_end_is_a_new_press_even_with_a_reused_timestamp() {
        let pkt = |event: u8, end: bool, duration: u16| {
            let mut b = [0u8; 4];
            let _ = TelephoneEvent { event, end, volume: 10, duration }.write(&mut b);
            b
        };
        let mut rx = EventReceiver::new();
        let mut ends = Vec::new();
        // 2, then 2 again and then 9 replayed with the same (and an older) timestamp.
        for (ts, event) in [(23200u32, 2u8), (23200, 2), (13280, 9)] {
            rx.handle_packet(ts, true, &pkt(event, false, 0)).unwrap();
            rx.handle_packet(ts, false, &pkt(event, false, 320)).unwrap();
            for _ in 0..3 {
                rx.handle_packet(ts, false, &pkt(event, true, 640)).unwrap();
            }
            while let Some(e) = rx.poll_event() {
                if let ReceivedEvent::End { event, .. } = e {
                    ends.push(event);
                }
            }
        }
        assert_eq!(ends, [2, 2, 9]);
        // A retransmitted end (no marker) stays one press.
        rx.handle_packet(13280, false, &pkt(9, true, 640)).unwrap();
        assert!(rx.poll_event().is_none());
    }
}
