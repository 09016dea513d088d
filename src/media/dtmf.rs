//! DTMF bookkeeping on the media path: turning a leg's RFC 4733 packet
//! stream into one start and one end per key press (senders repeat the start
//! packet's timestamp for every update and send the end packet three times,
//! RFC 4733 §2.5.1), and naming digits.

use switchyard_codecs::telephone_event::TelephoneEvent;

/// Follows the events of one incoming stream.
#[derive(Debug, Default)]
pub(crate) struct DigitTracker {
    /// Timestamp of the event in progress or last ended, and whether its end was seen.
    current: Option<(u32, bool)>,
}

impl DigitTracker {
    pub(crate) fn new() -> DigitTracker {
        DigitTracker { current: None }
    }

    /// The event code when this packet starts a new event (its timestamp is
    /// new), else `None`.
    pub(crate) fn event_start(&mut self, ts: u32, payload: &[u8]) -> Option<u8> {
        let ev = TelephoneEvent::parse(payload).ok()?;
        match self.current {
            Some((t, _)) if t == ts => {
                if ev.end {
                    self.current = Some((ts, true));
                }
                None
            }
            _ => {
                self.current = Some((ts, ev.end));
                Some(ev.event)
            }
        }
    }

    /// The digit and its duration once, when the event's end is first seen
    /// (a lost start packet does not lose the digit).
    pub(crate) fn on_event(&mut self, ts: u32, payload: &[u8]) -> Option<(char, u32)> {
        let ev = TelephoneEvent::parse(payload).ok()?;
        let ended_before = matches!(self.current, Some((t, true)) if t == ts);
        if self.current.is_none_or(|(t, _)| t != ts) {
            self.current = Some((ts, false));
        }
        if ev.end && !ended_before {
            self.current = Some((ts, true));
            let digit = event_digit(ev.event)?;
            // Duration is in RTP clock units; telephone-event is at 8 kHz
            // on every leg the switch negotiates.
            return Some((digit, u32::from(ev.duration) / 8));
        }
        None
    }
}

/// RFC 4733 §3.2 event code of a DTMF digit.
pub(crate) fn digit_event_code(digit: char) -> Option<u8> {
    Some(match digit.to_ascii_uppercase() {
        d @ '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        d @ 'A'..='D' => d as u8 - b'A' + 12,
        _ => return None,
    })
}

/// The digit of an RFC 4733 event code (0–15); other events are not DTMF.
pub(crate) fn event_digit(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => char::from(b'0' + code),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + code - 12),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let mut b = [0u8; 4];
        TelephoneEvent { event, end, volume: 10, duration }.write(&mut b);
        b
    }

    #[test]
    fn one_digit_per_press_despite_repeated_end_packets() {
        let mut t = DigitTracker::new();
        assert_eq!(t.on_event(1000, &packet(5, false, 160)), None);
        assert_eq!(t.on_event(1000, &packet(5, false, 320)), None);
        assert_eq!(t.on_event(1000, &packet(5, true, 800)), Some(('5', 100)));
        assert_eq!(t.on_event(1000, &packet(5, true, 800)), None);
        assert_eq!(t.on_event(1000, &packet(5, true, 800)), None);
        assert_eq!(t.on_event(9000, &packet(11, true, 400)), Some(('#', 50)), "start lost: the end still counts");
    }

    #[test]
    fn starts_are_reported_once_per_timestamp() {
        let mut t = DigitTracker::new();
        assert_eq!(t.event_start(10, &packet(1, false, 160)), Some(1));
        assert_eq!(t.event_start(10, &packet(1, false, 320)), None);
        assert_eq!(t.event_start(10, &packet(1, true, 480)), None);
        assert_eq!(t.event_start(20, &packet(2, false, 160)), Some(2));
        assert_eq!(t.event_start(30, &[1, 2]), None, "short payloads are ignored");
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
