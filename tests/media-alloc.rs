//! The media data path allocates nothing per packet once a call is steady:
//! a counting global allocator watches `CallMedia` relay and transcode
//! 10,000 packets each way after a warm-up, and the switch play prompts, tones
//! and echo to a caller as its endpoint (IVR).

#![allow(unsafe_code)] // a global allocator is unsafe by definition; it only counts

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::dialplan::ToneKind;
use switchyard::media::endpoint::{Source, tone_plan};
use switchyard::media::{CallMedia, LegParams, MediaConfig, MediaId, MediaSide};
use switchyard::rtp::{HeaderFields, NtpBase, write_header};
use switchyard_codecs::CodecKind;

struct Counting;

// Per thread, so that tests running side by side do not count each other.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn count() {
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            count();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            count();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn leg(codec: CodecKind, pt: u8, port: u16) -> LegParams {
    LegParams {
        remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        remote_rtcp: Some(SocketAddr::from(([127, 0, 0, 1], port + 1))),
        rtcp_mux: false,
        codec,
        pt,
        ptime_ms: 20,
        telephone_event: Some(101),
        comfort_noise: None,
        send: true,
        recv: true,
    }
}

fn packet(buf: &mut [u8], pt: u8, seq: u16, ts: u32, ssrc: u32, payload_len: usize) -> usize {
    let h = write_header(buf, &HeaderFields { marker: seq == 0, payload_type: pt, seq, timestamp: ts, ssrc }).expect("room");
    for (i, b) in buf[h..h + payload_len].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ (seq as u8);
    }
    h + payload_len
}

/// Drives `media` with a packet from each side (from A only without `pts[1]`) every
/// 20 ms for `n` rounds, returning the allocations counted over the last `n - warmup`
/// rounds and the packets sent.
fn drive(media: &mut CallMedia, t0: Instant, pts: [Option<u8>; 2], payload_len: usize, n: u32, warmup: u32) -> (u64, u64) {
    let a = SocketAddr::from(([127, 0, 0, 1], 40000));
    let b = SocketAddr::from(([127, 0, 0, 1], 50000));
    let mut buf = [0u8; 1500];
    let mut out = [0u8; 1500];
    let mut sent = 0u64;
    for i in 0..n {
        if i == warmup {
            ALLOCS.with(|a| a.set(0));
            COUNTING.with(|c| c.set(true));
        }
        let now = t0 + Duration::from_millis(20 * u64::from(i));
        for (side, src, pt, ssrc) in [(MediaSide::A, a, pts[0], 0x1111), (MediaSide::B, b, pts[1], 0x2222)] {
            let Some(pt) = pt else { continue };
            let len = packet(&mut buf, pt, i as u16, i * 160, ssrc, payload_len);
            if media.handle_rtp(now, side, src, &mut buf[..len]).is_some() {
                sent += 1;
            }
        }
        if media.poll_timeout().is_some_and(|t| t <= now) {
            media.handle_timeout(now);
        }
        while media.poll_transmit(now, &mut out).is_some() {
            sent += 1;
        }
        while media.poll_event().is_some() {}
    }
    COUNTING.with(|c| c.set(false));
    (ALLOCS.with(Cell::get), sent)
}

fn config(t0: Instant) -> MediaConfig {
    MediaConfig {
        timeout: Some(Duration::from_secs(60)),
        opus_complexity: 5,
        ntp_base: NtpBase { instant: t0, unix: Duration::from_secs(1_800_000_000) },
    }
}

#[test]
fn relay_allocates_nothing_per_packet() {
    let t0 = Instant::now();
    let mut m = CallMedia::new(MediaId(1), config(t0), t0);
    m.update(t0, MediaSide::A, leg(CodecKind::Pcmu, 0, 40000));
    m.update(t0, MediaSide::B, leg(CodecKind::Pcmu, 0, 50000));
    assert!(m.is_relay());
    let (allocs, sent) = drive(&mut m, t0, [Some(0), Some(0)], 160, 11_000, 1_000);
    assert_eq!(allocs, 0, "allocations while relaying 20,000 packets");
    assert!(sent >= 21_000, "every packet is relayed: {sent}");
}

#[test]
fn transcoding_allocates_nothing_per_packet() {
    for (a, b, len) in [
        ((CodecKind::Pcmu, 0), (CodecKind::Pcma, 8), 160),
        ((CodecKind::Pcma, 8), (CodecKind::G722, 9), 160),
    ] {
        let t0 = Instant::now();
        let mut m = CallMedia::new(MediaId(2), config(t0), t0);
        m.update(t0, MediaSide::A, leg(a.0, a.1, 40000));
        m.update(t0, MediaSide::B, leg(b.0, b.1, 50000));
        assert!(m.is_transcoding());
        let (allocs, sent) = drive(&mut m, t0, [Some(a.1), Some(b.1)], len, 6_000, 1_000);
        assert_eq!(allocs, 0, "allocations while transcoding {a:?} <-> {b:?}");
        assert!(sent >= 9_000, "{a:?} <-> {b:?}: transcoded packets sent: {sent}");
    }
}

#[test]
fn ivr_endpoint_allocates_nothing_per_packet() {
    // A second of a 440 Hz prompt, looped; PCMU plays it as is, G.722 upsampled to 16 kHz.
    let clip: Arc<[i16]> = (0..8000).map(|i| ((f64::from(i) * 440.0 / 8000.0 * std::f64::consts::TAU).sin() * 8000.0) as i16).collect();
    let sources = [
        ("a looped prompt", Source::Clips { clips: vec![clip.clone(), clip], looped: true }),
        ("ringback", Source::Tone { plan: tone_plan(ToneKind::Ringback), duration: None }),
        ("echo", Source::Echo),
    ];
    for (codec, pt) in [(CodecKind::Pcmu, 0), (CodecKind::G722, 9)] {
        for (what, src) in &sources {
            let t0 = Instant::now();
            let mut m = CallMedia::new(MediaId(3), config(t0), t0);
            // No telephone-event: the in-band detector runs on every frame from A too.
            m.update(t0, MediaSide::A, LegParams { telephone_event: None, ..leg(codec, pt, 40000) });
            m.play(t0, 1, src.clone());
            let (allocs, sent) = drive(&mut m, t0, [Some(pt), None], 160, 6_000, 1_000);
            assert_eq!(allocs, 0, "allocations while playing {what} to a {codec:?} caller");
            assert!(sent >= 4_900, "{codec:?}, {what}: packets sent to the caller: {sent}");
        }
    }
}
