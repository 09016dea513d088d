//! Memory a call's media holds: the bytes live after a `CallMedia` is set up
//! and has carried a few seconds of audio, for a relayed PCMU call and for an
//! Opus <-> PCMU transcoded one, against a budget per session.
//! `--nocapture` prints a breakdown.
//!
//! Two counts: a counting global allocator sees the Rust side exactly, and
//! glibc's `mallinfo2` sees libopus's states too (libopus allocates with C
//! `malloc`, which the Rust allocator never sees). `mallinfo2` is
//! process-wide, so the tests take turns.

#![allow(unsafe_code)] // a global allocator is unsafe by definition; it only counts

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard::jitter::{JitterBuffer, JitterConfig};
use switchyard::media::{CallMedia, LegParams, MediaConfig, MediaId, MediaSide};
use switchyard::rtp::{HeaderFields, NtpBase, write_header};
use switchyard_codecs::CodecKind;

/// Bytes a transcoded Opus <-> PCMU session may hold.
const TRANSCODE_BUDGET: i64 = 100_000;
/// Bytes a relayed PCMU session may hold.
const RELAY_BUDGET: i64 = 8_000;

struct Counting;

// Per thread, so that tests running side by side do not count each other.
thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn add(n: i64) {
    let _ = LIVE.try_with(|l| l.set(l.get() + n));
}

fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// Bytes in use on the C heap (glibc), Rust's allocations included (the
/// global allocator forwards to it).
fn c_heap() -> i64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    unsafe { libc::mallinfo2() }.uordblks as i64
}

/// Serialises the tests: `mallinfo2` counts every thread.
static TURN: Mutex<()> = Mutex::new(());

/// (Rust bytes, all heap bytes) live while `f`'s value lives.
fn bytes_of<T>(f: impl FnOnce() -> T) -> (i64, i64) {
    let (before, before_c) = (live(), c_heap());
    let v = f();
    let held = (live() - before, c_heap() - before_c);
    drop(v);
    held
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as i64 - layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn leg(codec: CodecKind, pt: u8, port: u16, te: Option<u8>) -> LegParams {
    LegParams {
        remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        remote_rtcp: Some(SocketAddr::from(([127, 0, 0, 1], port + 1))),
        rtcp_mux: false,
        codec,
        pt,
        ptime_ms: 20,
        telephone_event: te,
        comfort_noise: None,
        send: true,
        recv: true,
    }
}

fn config(t0: Instant) -> MediaConfig {
    MediaConfig {
        timeout: Some(Duration::from_secs(60)),
        opus_complexity: 5,
        ntp_base: NtpBase { instant: t0, unix: Duration::from_secs(1_800_000_000) },
    }
}

/// 20 ms payloads of `codec` (a 440 Hz tone), encoded before measuring.
fn payloads(codec: CodecKind) -> Vec<Vec<u8>> {
    let rate = codec.sample_rate();
    let mut enc = switchyard_codecs::codec::encoder(codec, 5).expect("encoder");
    let mut out = [0u8; 1500];
    let pcm: Vec<i16> = (0..rate as usize)
        .map(|i| (8000.0 * (i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin()) as i16)
        .collect();
    pcm.chunks(rate as usize / 50)
        .map(|f| {
            let n = enc.encode(f, &mut out).expect("encode");
            out[..n].to_vec()
        })
        .collect()
}

/// (Rust bytes, all heap bytes) live after building a session for `a` <->
/// `b` and running `seconds` of audio through it both ways.
fn session_bytes(a: LegParams, b: LegParams, seconds: u32) -> (i64, i64) {
    let (pa, pb) = (payloads(a.codec), payloads(b.codec));
    let (ta, tb) = (a.codec.rtp_clock_rate() / 50, b.codec.rtp_clock_rate() / 50);
    let (pt_a, pt_b) = (a.pt, b.pt);
    let src = [a.remote.expect("set"), b.remote.expect("set")];
    let mut buf = [0u8; 1500];
    let mut out = [0u8; 1500];
    let t0 = Instant::now();
    let (before, before_c) = (live(), c_heap());
    let mut m = CallMedia::new(MediaId(1), config(t0), t0);
    m.update(t0, MediaSide::A, a);
    m.update(t0, MediaSide::B, b);
    for i in 0..seconds * 50 {
        let now = t0 + Duration::from_millis(20 * u64::from(i));
        for (side, pt, ts, p) in [(MediaSide::A, pt_a, ta, &pa), (MediaSide::B, pt_b, tb, &pb)] {
            let payload = &p[i as usize % p.len()];
            let fields = HeaderFields { marker: i == 0, payload_type: pt, seq: i as u16, timestamp: i * ts, ssrc: 0x1234 + u32::from(pt) };
            let h = write_header(&mut buf, &fields).expect("room");
            buf[h..h + payload.len()].copy_from_slice(payload);
            let _ = m.handle_rtp(now, side, src[side.index()], &mut buf[..h + payload.len()]);
        }
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
        while m.poll_transmit(now, &mut out).is_some() {}
        while m.poll_event().is_some() {}
    }
    let held = (live() - before, c_heap() - before_c);
    drop(m);
    held
}

#[test]
fn transcoded_session_fits_the_budget() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (rust, bytes) = session_bytes(leg(CodecKind::Opus, 111, 40000, None), leg(CodecKind::Pcmu, 0, 50000, Some(101)), 3);
    // The parts, for the report (`--nocapture`).
    let (_, enc) = bytes_of(|| switchyard_codecs::codec::encoder_at(CodecKind::Opus, 8000, 5).expect("encoder"));
    let (_, dec) = bytes_of(|| switchyard_codecs::codec::decoder_at(CodecKind::Opus, 8000).expect("decoder"));
    let jb = |codec: CodecKind, max_payload| {
        bytes_of(|| {
            JitterBuffer::new(JitterConfig {
                clock_rate: codec.rtp_clock_rate(),
                sample_rate: 8000,
                max_packets: 60,
                max_payload,
                ..JitterConfig::default()
            })
        })
        .0
    };
    let (jb_opus, jb_pcmu) = (jb(CodecKind::Opus, 640), jb(CodecKind::Pcmu, 480));
    eprintln!(
        "transcoded Opus <-> PCMU session: {bytes} bytes ({rust} on the Rust side); libopus encoder {enc}, \
         decoder {dec}; jitter buffer for Opus {jb_opus}, for PCMU {jb_pcmu}; rest {}",
        bytes - enc - dec - jb_opus - jb_pcmu
    );
    assert!(bytes < TRANSCODE_BUDGET, "a transcoded session holds {bytes} bytes (budget {TRANSCODE_BUDGET})");
}

#[test]
fn relayed_session_fits_the_budget() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (rust, bytes) = session_bytes(leg(CodecKind::Pcmu, 0, 40000, Some(101)), leg(CodecKind::Pcmu, 0, 50000, Some(101)), 3);
    eprintln!("relayed PCMU session: {bytes} bytes ({rust} on the Rust side)");
    assert!(bytes < RELAY_BUDGET, "a relayed session holds {bytes} bytes (budget {RELAY_BUDGET})");
}
