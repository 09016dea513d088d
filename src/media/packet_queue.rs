//! The RTP packets a decoding path (transcoder, endpoint) made in a tick, waiting for its
//! worker to send them. Fixed slots allocated with the path, so a tick allocates nothing;
//! packets are written straight into a slot behind their header (no copy).

use switchyard_codecs::CodecKind;

/// Slots: a tick makes at most one audio packet and a few event packets.
const SLOTS: usize = 4;
const MTU: usize = 1500;
/// Room per ms of Opus: 160 kbit/s. The encoder keeps its packets within the room it is
/// given, and voice needs a tenth of it.
const OPUS_BYTES_PER_MS: usize = 20;

/// A queued packet: its length, sequence number, timestamp and payload bytes.
pub(crate) type Queued = (usize, u16, u32, usize);

#[derive(Debug)]
pub(crate) struct PacketQueue {
    /// `SLOTS` packets of `slot` bytes each, back to back.
    bytes: Box<[u8]>,
    slot: usize,
    meta: [Queued; SLOTS],
    head: usize,
    len: usize,
}

impl PacketQueue {
    /// Slots that hold a header and one frame of `codec` at `ptime_ms`: G.711 and G.722
    /// take a byte per 8 kHz sample (RFC 4733 events, 4 bytes, fit too); L16 a whole MTU.
    pub(crate) fn for_codec(codec: CodecKind, ptime_ms: u32) -> Self {
        let slot = match codec {
            CodecKind::Pcmu | CodecKind::Pcma | CodecKind::G722 => 12 + 8 * ptime_ms as usize,
            CodecKind::Opus => 12 + OPUS_BYTES_PER_MS * ptime_ms as usize,
            _ => MTU,
        }
        .clamp(64, MTU);
        PacketQueue {
            bytes: vec![0; SLOTS * slot].into_boxed_slice(),
            slot,
            meta: [(0, 0, 0, 0); SLOTS],
            head: 0,
            len: 0,
        }
    }

    /// The next free slot to write a packet into, or `None` while the worker has not taken
    /// what is queued (that frame is dropped; the queue does not grow).
    pub(crate) fn free_slot(&mut self) -> Option<&mut [u8]> {
        if self.len == SLOTS {
            return None;
        }
        let i = (self.head + self.len) % SLOTS;
        Some(&mut self.bytes[i * self.slot..(i + 1) * self.slot])
    }

    /// Queues the packet just written into [`PacketQueue::free_slot`].
    pub(crate) fn commit(&mut self, packet: Queued) {
        debug_assert!(self.len < SLOTS && packet.0 <= self.slot);
        if self.len == SLOTS {
            return;
        }
        self.meta[(self.head + self.len) % SLOTS] = packet;
        self.len += 1;
    }

    /// The oldest packet, copied into `buf` (cut to its length).
    pub(crate) fn pop_into(&mut self, buf: &mut [u8]) -> Option<Queued> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        let (len, seq, ts, payload) = self.meta[i];
        let len = len.min(buf.len());
        let at = i * self.slot;
        buf[..len].copy_from_slice(&self.bytes[at..at + len]);
        Some((len, seq, ts, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_in_first_out_and_full_drops_instead_of_growing() {
        let mut q = PacketQueue::for_codec(CodecKind::Pcmu, 20);
        for n in 0..SLOTS as u8 {
            let slot = q.free_slot().expect("room");
            assert_eq!(slot.len(), 172);
            slot[..3].copy_from_slice(&[n; 3]);
            q.commit((3, u16::from(n), u32::from(n) * 160, 1));
        }
        assert!(q.free_slot().is_none(), "four slots, no more");
        let mut buf = [0u8; 8];
        assert_eq!(q.pop_into(&mut buf), Some((3, 0, 0, 1)));
        assert_eq!(&buf[..3], &[0; 3]);
        // The freed slot is the next written, and comes out after the older ones.
        q.free_slot().expect("room")[..3].copy_from_slice(&[9; 3]);
        q.commit((3, 9, 9, 1));
        let seqs: Vec<u16> = std::iter::from_fn(|| q.pop_into(&mut buf).map(|p| p.1)).collect();
        assert_eq!(seqs, [1, 2, 3, 9]);
        assert_eq!(&buf[..3], &[9; 3]);
        assert_eq!(q.pop_into(&mut buf), None);
    }

    #[test]
    fn slots_fit_a_frame_of_each_codec() {
        assert_eq!(PacketQueue::for_codec(CodecKind::G722, 20).slot, 172);
        assert_eq!(PacketQueue::for_codec(CodecKind::Opus, 20).slot, 412);
        assert_eq!(PacketQueue::for_codec(CodecKind::Pcma, 120).slot, 972);
        assert_eq!(PacketQueue::for_codec(CodecKind::Opus, 120).slot, MTU);
        assert_eq!(PacketQueue::for_codec(CodecKind::L16 { rate: 8000 }, 20).slot, MTU);
        // A short buffer gets the packet cut, not a panic.
        let mut q = PacketQueue::for_codec(CodecKind::Pcmu, 10);
        q.free_slot().expect("room");
        q.commit((80, 1, 2, 68));
        assert_eq!(q.pop_into(&mut [0u8; 16]).map(|p| p.0), Some(16));
    }
}
