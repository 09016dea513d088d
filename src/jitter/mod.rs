//! Adaptive playout (jitter) buffer for one RTP audio stream, sans-IO.
//!
//! Call order, per stream: [`JitterBuffer::insert`] for every RTP packet as it
//! arrives (with the arrival `now`), and [`JitterBuffer::pop`] once per playout
//! tick ([`JitterConfig::frame`], 20 ms by default) with the tick's `now`. Each
//! `pop` writes exactly one tick of PCM and says what it had to do to get it.
//!
//! The design follows the ideas of WebRTC NetEq (the code is our own):
//! - [`delay`]: the target delay is a quantile of the *relative arrival delay*
//!   (transit time of a packet minus the smallest transit of the last two
//!   seconds), kept in a histogram with exponential forgetting, plus a peak
//!   detector for recurring delay spikes and a route-change shift.
//! - [`buffer`]: a fixed ring of packet slots and a small PCM sync buffer, so
//!   that 10–120 ms payloads play out in ticks of any size; loss is concealed
//!   with the decoder's own PLC (or Opus in-band FEC); the delay is shrunk by
//!   *accelerate* and grown by *preemptive expand* during speech, and by
//!   dropping or adding silence at talkspurt boundaries (marker bit, RFC 3551
//!   §4.1, or a timestamp jump after DTX).
//! - [`stretch`]: the time-stretching itself (WSOLA, pitch-synchronous).
//! - [`sim`]: a deterministic trace-driven simulator comparing the buffer with
//!   a fixed 60 ms buffer and a hindsight oracle.
//!
//! Standards: RFC 3550 (sequence/timestamp semantics, §A.1 wrap-around and
//! dropout limits), RFC 3551 §4.1 (marker bit = first packet of a talkspurt),
//! RFC 3389 (comfort noise; here silence is played as zeros).
//!
//! Out of scope: comfort-noise generation from CN payloads, DTMF events (they
//! travel outside the audio buffer), video, and the RTP parsing itself (the
//! caller passes the already parsed header as [`PacketInfo`]).

pub mod buffer;
pub mod delay;
pub mod sim;
pub mod stretch;
mod unwrap;

use std::time::Duration;

pub use buffer::JitterBuffer;

/// Largest payload a slot can be configured to store
/// ([`JitterConfig::max_payload`]); an Ethernet MTU's worth is ample for audio.
pub const MAX_PAYLOAD: usize = 1500;

/// How a [`JitterBuffer`] is sized and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP timestamp units per second (8000 for G.711 and G.722, 48000 for Opus).
    pub clock_rate: u32,
    /// Sample rate of the PCM the decoder produces.
    pub sample_rate: u32,
    /// Playout tick: [`JitterBuffer::pop`] is called once per `frame` and
    /// writes `frame * sample_rate` samples. Default 20 ms.
    pub frame: Duration,
    /// Smallest target delay. Default 0.
    pub min_delay: Duration,
    /// Largest target delay (and the histogram's range). Default 1 s.
    pub max_delay: Duration,
    /// Packet slots in the ring (each holds `max_payload` bytes). Default 100:
    /// one second of 10 ms packets.
    pub max_packets: usize,
    /// Longest audio one packet decodes to, which the PCM buffer makes room
    /// for (at most 120 ms, Opus's longest packet; the default). A decoder
    /// that returns more is cut to it.
    pub max_frame: Duration,
    /// Largest payload a slot stores (at most [`MAX_PAYLOAD`]); anything
    /// bigger is refused ([`Insert::Oversized`]). Default [`MAX_PAYLOAD`]; a
    /// call sizes it to its codec, which is most of a buffer's memory.
    pub max_payload: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            sample_rate: 8000,
            frame: Duration::from_millis(20),
            min_delay: Duration::ZERO,
            max_delay: Duration::from_secs(1),
            max_packets: 100,
            max_frame: Duration::from_millis(120),
            max_payload: MAX_PAYLOAD,
        }
    }
}

/// The RTP header fields the buffer needs (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp of the first sample.
    pub timestamp: u32,
    /// Synchronization source; a change restarts the buffer.
    pub ssrc: u32,
    /// Marker bit: for audio, the first packet after a silence.
    pub marker: bool,
    /// Payload type (kept for the caller's bookkeeping; one decoder per buffer).
    pub payload_type: u8,
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Insert {
    /// Stored for playout.
    Accepted,
    /// Already stored or already played; dropped.
    Duplicate,
    /// Its playout time has passed (it was concealed); dropped.
    Late,
    /// SSRC change or a timestamp/sequence jump: the buffer restarted with
    /// this packet as the first of a new stream.
    Reset,
    /// No free slot (the sender is too far ahead of playout); dropped.
    Overflow,
    /// Payload longer than [`JitterConfig::max_payload`]; dropped.
    Oversized,
}

/// What [`JitterBuffer::pop`] did to produce one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pop {
    /// Decoded audio played at the normal pace.
    Normal,
    /// Decoded audio was time-compressed to shrink the delay.
    Accelerated,
    /// Decoded audio was time-stretched to grow the delay (preemptive expand).
    Expanded,
    /// Part of the tick is the decoder's concealment of a missing packet.
    Concealed,
    /// Nothing received yet, or a talkspurt gap (DTX): zeros.
    Silence,
}

/// Counters since construction ([`JitterBuffer::reset`] keeps them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted.
    pub inserted: u64,
    /// Packets refused because their playout time had passed.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets that arrived after a packet with a higher sequence number.
    pub reordered: u64,
    /// Packets refused for lack of a slot.
    pub overflow: u64,
    /// Packets whose turn came while missing (concealed or skipped).
    pub lost: u64,
    /// Lost packets recovered from the next packet's in-band FEC.
    pub fec_recovered: u64,
    /// Payloads the decoder refused (concealed instead).
    pub decode_errors: u64,
    /// Ticks that contained concealment.
    pub concealed_frames: u64,
    /// Ticks in which audio was time-compressed.
    pub accelerated: u64,
    /// Ticks in which audio was time-stretched.
    pub expanded: u64,
    /// Ticks in which the delay called for stretching or compressing but the
    /// audio was neither periodic nor quiet enough: a pitch search for
    /// nothing, which a calm stream should hardly ever need.
    pub stretch_misses: u64,
    /// Ticks of silence (before the first packet or in talkspurt gaps).
    pub silence_frames: u64,
    /// Playout ran dry and then resumed with the awaited packet when it
    /// finally came: that packet arrived after it was needed (late), but was
    /// played anyway and the delay grew by the wait.
    pub stalls: u64,
    /// PCM samples removed by accelerate (silence dropped at talkspurt starts
    /// is not counted).
    pub samples_removed: u64,
    /// PCM samples added by preemptive expand.
    pub samples_added: u64,
    /// Stream restarts (SSRC change, timestamp or sequence jump).
    pub resets: u64,
}
