//! DTMF bookkeeping on the media path: turning a leg's RFC 4733 packet
//! stream into one start and one end per key press (senders repeat the start
//! packet's timestamp for every update and send the end packet three times,
//! RFC 4733 §2.5.1), and naming digits.

use std::time::{Duration, Instant};

use switchyard_codecs::dtmf::DtmfDigit;
use switchyard_codecs::telephone_event::{EventReceiver, EventSender, ReceivedEvent};

/// Follows the events of one incoming stream.
#[derive(Debug, Default)]
pub(crate) struct DigitTracker {
    rx: EventReceiver,
}

/// What one telephone-event packet meant.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Event code of an event that began with this packet.
    pub(crate) began: Option<u8>,
    /// Digit and duration (ms) of an event that ended with it.
    pub(crate) ended: Option<(char, u32)>,
}

impl DigitTracker {
    pub(crate) fn new() -> DigitTracker {
        DigitTracker { rx: EventReceiver::new() }
    }

    /// Takes one packet; `clock_rate` converts durations to milliseconds.
    pub(crate) fn on_packet(&mut self, ts: u32, marker: bool, payload: &[u8], clock_rate: u32) -> Seen {
        let mut seen = Seen::default();
        if self.rx.handle_packet(ts, marker, payload).is_err() {
            return seen;
        }
        while let Some(e) = self.rx.poll_event() {
            match e {
                ReceivedEvent::Begin { event, .. } => seen.began = Some(event),
                ReceivedEvent::End { event, duration, .. } => {
                    if let Some(d) = event_digit(event) {
                        let ms = u64::from(duration) * 1000 / u64::from(clock_rate.max(1));
                        seen.ended = Some((d, u32::try_from(ms).unwrap_or(u32::MAX)));
                    }
                }
                _ => {}
            }
        }
        seen
    }
}

/// Sends RFC 4733 events into a leg whose audio is relayed (a digit from a
/// SIP INFO): a stream of the switch's own, with its own SSRC, since the
/// relayed stream's sequence numbers belong to the other endpoint.
pub(crate) struct Injector {
    sender: EventSender,
    ssrc: u32,
    seq: u16,
    pt: u8,
    clock: u32,
    started: Option<Instant>,
    interval: Duration,
    next: Option<Instant>,
}

impl Injector {
    pub(crate) fn new(ssrc: u32, clock: u32, ptime_ms: u32) -> Injector {
        Injector {
            sender: EventSender::new(clock / 1000 * ptime_ms, 10),
            ssrc,
            seq: (ssrc >> 8) as u16,
            pt: 101,
            clock,
            started: None,
            interval: Duration::from_millis(u64::from(ptime_ms)),
            next: None,
        }
    }

    /// Starts `code` for `duration_ms` with payload type `pt`, now.
    pub(crate) fn start(&mut self, now: Instant, code: u8, duration_ms: u32, pt: u8) {
        // A timestamp that differs per event (RFC 4733 §2.5.1.1: receivers
        // tell events apart by it).
        let ts = self.ssrc.wrapping_add(self.seq as u32 * 160);
        self.sender.start(code, ts);
        self.sender.end_at(self.clock / 1000 * duration_ms);
        self.pt = pt;
        self.started = Some(now);
        self.next = Some(now);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// The next packet due at `now`, written into `buf`.
    pub(crate) fn poll_packet(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let started = self.started?;
        if self.next.is_none_or(|t| t > now) {
            return None;
        }
        let elapsed = now.saturating_duration_since(started);
        let units = (elapsed.as_micros() * u128::from(self.clock) / 1_000_000) as u32;
        let Some(p) = self.sender.poll(units) else {
            self.next = if self.sender.is_busy() { Some(now + self.interval) } else { None };
            return None;
        };
        let fields = crate::rtp::HeaderFields { marker: p.marker, payload_type: self.pt, seq: self.seq, timestamp: p.timestamp, ssrc: self.ssrc };
        let h = crate::rtp::write_header(buf, &fields).ok()?;
        let n = p.payload.write(buf.get_mut(h..)?).ok()?;
        self.seq = self.seq.wrapping_add(1);
        Some(h + n)
    }
}

/// RFC 4733 §3.2 event code of a DTMF digit.
pub(crate) fn digit_event_code(digit: char) -> Option<u8> {
    DtmfDigit::from_char(digit).map(DtmfDigit::event_code)
}

/// The digit of an RFC 4733 event code (0–15); other events are not DTMF.
pub(crate) fn event_digit(code: u8) -> Option<char> {
    DtmfDigit::from_event_code(code).map(DtmfDigit::to_char)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_codecs::telephone_event::TelephoneEvent;

    fn packet(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let mut b = [0u8; 4];
        TelephoneEvent { event, end, volume: 10, duration }.write(&mut b).unwrap();
        b
    }

    #[test]
    fn one_digit_per_press_despite_repeated_end_packets() {
        let mut t = DigitTracker::new();
        assert_eq!(t.on_packet(1000, true, &packet(5, false, 160), 8000).began, Some(5));
        assert_eq!(t.on_packet(1000, false, &packet(5, false, 320), 8000), Seen::default());
        assert_eq!(t.on_packet(1000, false, &packet(5, true, 800), 8000).ended, Some(('5', 100)));
        assert_eq!(t.on_packet(1000, false, &packet(5, true, 800), 8000), Seen::default());
        let lost_start = t.on_packet(9000, false, &packet(11, true, 400), 8000);
        assert_eq!(lost_start.ended, Some(('#', 50)), "start lost: the end still counts");
        assert_eq!(t.on_packet(9999, false, &[1, 2], 8000), Seen::default(), "short payloads are ignored");
    }

    #[test]
    fn digit_codes_round_trip() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(event_digit(digit_event_code(d).unwrap()), Some(d));
        }
        assert_eq!(digit_event_code('x'), None);
        assert_eq!(event_digit(16), None);
    }
}
