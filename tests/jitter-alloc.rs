//! Steady state of the jitter buffer allocates nothing: 10,000 insert+pop
//! cycles (with reordering, loss, a stall, talkspurt gaps and stretching)
//! after warm-up, counted by a global allocator wrapper.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use switchyard::jitter::sim::SimDecoder;
use switchyard::jitter::{JitterBuffer, JitterConfig, PacketInfo};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts. (Test crate: the library itself forbids unsafe.)
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A packet in flight: (arrival ms, header).
type InFlight = (u64, PacketInfo);

/// Drives `n` 20 ms frames (8 kHz) with varied network behaviour; `air` is
/// the caller's (pre-sized) list of packets in flight.
fn drive(
    jb: &mut JitterBuffer,
    dec: &mut SimDecoder,
    out: &mut [i16],
    t0: Instant,
    air: &mut Vec<InFlight>,
    from: u32,
    n: u32,
) {
    for k in from..from + n {
        let talking = k % 300 < 240; // 4.8 s talkspurts, 1.2 s gaps
        let jitter_ms = u64::from(k.wrapping_mul(2_654_435_761) >> 27); // 0..31: reorders
        let stall = if k % 1000 < 10 {
            u64::from(200 - (k % 1000) * 20)
        } else {
            0
        };
        let send = u64::from(k) * 20;
        if talking && k % 97 != 0 {
            let ts = 160u32.wrapping_mul(k).wrapping_add(0xffff_0000);
            // Sequence numbers count sent packets only (none in gaps).
            let seq = (k / 300 * 240 + k % 300) as u16;
            let info = PacketInfo {
                seq,
                timestamp: ts,
                ssrc: 1,
                marker: k % 300 == 0,
                payload_type: 96,
            };
            air.push((send + 30 + jitter_ms + stall, info));
        }
        let pop_at = send + 60;
        air.sort_unstable_by_key(|p| p.0);
        let due = air.iter().take_while(|p| p.0 <= pop_at).count();
        for &(arrival, info) in &air[..due] {
            let mut payload = [0u8; 8];
            payload[..4].copy_from_slice(&info.timestamp.to_be_bytes());
            payload[4..6].copy_from_slice(&150u16.to_be_bytes());
            payload[6..8].copy_from_slice(&160u16.to_be_bytes());
            let _ = jb.insert(t0 + Duration::from_millis(arrival), info, &payload);
        }
        air.drain(..due);
        let _ = jb.pop(t0 + Duration::from_millis(pop_at), dec, out);
    }
}

#[test]
fn steady_state_insert_and_pop_allocate_nothing() {
    // Virtual time origin; only durations are added to it.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut dec = SimDecoder::default();
    let mut out = vec![0i16; 160];
    let mut air = Vec::with_capacity(64);
    drive(&mut jb, &mut dec, &mut out, t0, &mut air, 0, 1000);
    let before = ALLOCS.load(Ordering::Relaxed);
    drive(&mut jb, &mut dec, &mut out, t0, &mut air, 1000, 10_000);
    let after = ALLOCS.load(Ordering::Relaxed);
    let st = jb.stats();
    assert!(
        st.inserted > 7000 && st.lost > 50 && st.stalls > 3,
        "the run exercised the buffer: {st:?}"
    );
    assert!(
        st.accelerated > 0 && st.silence_frames > 1000 && st.reordered > 50,
        "{st:?}"
    );
    assert_eq!(after - before, 0, "allocations in steady state");
}
