//! G.711 against its definition: every code, every input, and SoX as a peer.
//!
//! Expected values here are derived from the segment end points and step sizes
//! of G.711 tables 1 and 2, not from the crate's tables.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;

use switchyard_codecs::g711::{self, Law};
use switchyard_codecs::{AudioDecoder, AudioEncoder};

/// Counts this thread's allocations (per thread, so parallel tests do not mix).
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the counter is a
// const-initialised thread-local that never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// mu-law segment starts in 14-bit magnitude units (G.711 table 2: decision
/// values 0/1, 31, 95, 223, ...; segment 0 is written as starting at -1 so that
/// its first interval [0, 1) decodes to 0 like the others decode to midpoints).
const MU_START: [i32; 8] = [-1, 31, 95, 223, 479, 991, 2015, 4063];
const MU_STEP: [i32; 8] = [2, 4, 8, 16, 32, 64, 128, 256];
/// A-law segment starts and steps in 12-bit magnitude units (G.711 table 1
/// halved: segments 0 and 1 both step by 1, then each step doubles).
const A_START: [i32; 8] = [0, 16, 32, 64, 128, 256, 512, 1024];
const A_STEP: [i32; 8] = [1, 1, 2, 4, 8, 16, 32, 64];

/// (positive?, segment, step) carried by a code.
fn mu_fields(code: u8) -> (bool, usize, i32) {
    let c = !code;
    (c & 0x80 == 0, usize::from((c >> 4) & 7), i32::from(c & 15))
}

fn a_fields(code: u8) -> (bool, usize, i32) {
    let c = code ^ 0x55;
    (c & 0x80 != 0, usize::from((c >> 4) & 7), i32::from(c & 15))
}

fn expected_mu(code: u8) -> i16 {
    let (pos, seg, m) = mu_fields(code);
    // Midpoint of the interval, scaled from 14 to 16 bits.
    let v = 4 * (MU_START[seg] + MU_STEP[seg] * m + MU_STEP[seg] / 2);
    (if pos { v } else { -v }) as i16
}

fn expected_a(code: u8) -> i16 {
    let (pos, seg, m) = a_fields(code);
    // Midpoint of the interval (in 13-bit units a step is 2*A_STEP), to 16 bits.
    let v = 16 * (A_START[seg] + A_STEP[seg] * m) + 8 * A_STEP[seg];
    (if pos { v } else { -v }) as i16
}

/// Straightforward quantiser: find the segment by scanning the decision
/// values, then the interval inside it. Negative samples use one's complement
/// (G.191), i.e. -1 is minus zero.
fn reference_mu(x: i16) -> u8 {
    let x = i32::from(x);
    let (pos, mag) = if x >= 0 {
        (true, x >> 2)
    } else {
        (false, (-x - 1) >> 2)
    };
    let (mut seg, mut m) = (7, 15);
    for s in 0..8 {
        let end = MU_START[s] + 16 * MU_STEP[s];
        if mag < end {
            seg = s;
            m = (mag - MU_START[s]) / MU_STEP[s];
            break;
        }
    }
    // Transmitted inverted, so a positive sample has the sign bit set.
    let c = (u8::from(!pos) << 7) | ((seg as u8) << 4) | m as u8;
    !c
}

fn reference_a(x: i16) -> u8 {
    let x = i32::from(x);
    let (pos, mag) = if x >= 0 {
        (true, x >> 4)
    } else {
        (false, (-x - 1) >> 4)
    };
    let (mut seg, mut m) = (7, 15);
    for s in 0..8 {
        if mag < A_START[s] + 16 * A_STEP[s] {
            seg = s;
            m = (mag - A_START[s]) / A_STEP[s];
            break;
        }
    }
    ((u8::from(pos) << 7) | ((seg as u8) << 4) | m as u8) ^ 0x55
}

#[test]
fn every_code_decodes_to_the_standard_value() {
    for code in 0..=255u8 {
        assert_eq!(
            g711::decode_mu(code),
            expected_mu(code),
            "mu code {code:#04x}"
        );
        assert_eq!(g711::decode_a(code), expected_a(code), "A code {code:#04x}");
    }
    // Spot values straight from the tables: largest outputs 8031 (mu, 14-bit)
    // and 4032 (A, 13-bit).
    assert_eq!(expected_mu(0x80), 8031 * 4);
    assert_eq!(expected_a(0xAA), 4032 * 8);
}

#[test]
fn every_input_encodes_like_the_reference_quantiser() {
    for x in i16::MIN..=i16::MAX {
        assert_eq!(g711::encode_mu(x), reference_mu(x), "mu input {x}");
        assert_eq!(g711::encode_a(x), reference_a(x), "A input {x}");
    }
}

#[test]
fn every_code_survives_a_round_trip() {
    for code in 0..=255u8 {
        let mu = g711::encode_mu(g711::decode_mu(code));
        // mu-law has two zeros; minus zero (0x7F) decodes to 0, which is +0.
        let want = if code == 0x7F { 0xFF } else { code };
        assert_eq!(mu, want, "mu code {code:#04x}");
        assert_eq!(
            g711::encode_a(g711::decode_a(code)),
            code,
            "A code {code:#04x}"
        );
    }
}

#[test]
fn quantisation_error_stays_within_half_a_step() {
    for x in i16::MIN..=i16::MAX {
        let (_, seg, _) = mu_fields(g711::encode_mu(x));
        let err = (i32::from(g711::decode_mu(g711::encode_mu(x))) - i32::from(x)).abs();
        // Half a step in 16-bit units plus the 2 bits G.711 does not see; the
        // loudest inputs clip at 32124 + half a step.
        assert!(
            err <= 2 * MU_STEP[seg] + 4 || x.unsigned_abs() > 32124,
            "mu {x}: {err}"
        );
        let (_, seg, _) = a_fields(g711::encode_a(x));
        let err = (i32::from(g711::decode_a(g711::encode_a(x))) - i32::from(x)).abs();
        assert!(
            err <= 8 * A_STEP[seg] + 8 || x.unsigned_abs() > 32256,
            "A {x}: {err}"
        );
    }
}

#[test]
fn trait_objects_encode_and_decode_frames() {
    for law in [Law::Mu, Law::A] {
        let pcm: Vec<i16> = (0..160)
            .map(|n| ((n * 397) % 20000 - 10000) as i16)
            .collect();
        let mut enc: Box<dyn AudioEncoder> = Box::new(g711::Encoder::new(law));
        let mut dec: Box<dyn AudioDecoder> = Box::new(g711::Decoder::new(law));
        let mut bytes = [0u8; 160];
        assert_eq!(enc.encode(&pcm, &mut bytes).unwrap(), 160);
        let mut out = [0i16; 160];
        assert_eq!(dec.decode(&bytes, &mut out).unwrap(), 160);
        let mut direct = [0i16; 160];
        g711::decode_slice(law, &bytes, &mut direct);
        assert_eq!(out, direct);
        assert_eq!(dec.sample_rate(), 8000);
        assert_eq!(dec.conceal(&mut out), 160);
    }
}

#[test]
fn decoding_with_losses_allocates_nothing() {
    let mut dec = g711::Decoder::new(Law::Mu);
    let mut enc = g711::Encoder::new(Law::Mu);
    let pcm: Vec<i16> = (0..160)
        .map(|n| ((n * 811) % 16000 - 8000) as i16)
        .collect();
    let (mut bytes, mut out) = ([0u8; 160], [0i16; 160]);
    let before = ALLOCATIONS.with(Cell::get);
    for i in 0..200 {
        enc.encode(&pcm, &mut bytes).unwrap();
        if i % 7 == 3 || i % 7 == 4 {
            dec.conceal(&mut out);
        } else {
            dec.decode(&bytes, &mut out).unwrap();
        }
    }
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 0);
}

proptest! {
    #[test]
    fn arbitrary_payloads_and_losses_never_panic(
        frames in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..400), any::<bool>()), 1..20),
    ) {
        let mut dec = g711::Decoder::new(Law::A);
        let mut out = [0i16; 320];
        for (payload, lost) in &frames {
            if *lost {
                let n = payload.len().min(320);
                prop_assert_eq!(dec.conceal(&mut out[..n]), n);
            } else {
                match dec.decode(payload, &mut out) {
                    Ok(n) => prop_assert_eq!(n, payload.len()),
                    Err(_) => prop_assert!(payload.len() > 320),
                }
            }
        }
    }
}

// ---- SoX as a peer -------------------------------------------------------

fn sox_available() -> bool {
    if Command::new("sox").arg("--version").output().is_ok() {
        return true;
    }
    let msg = "this test needs `sox` on PATH (Debian/Ubuntu package `sox`)";
    if std::env::var("SWITCHYARD_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: {msg}; SWITCHYARD_SKIP_PEERS=1 is set");
        return false;
    }
    panic!("{msg}; set SWITCHYARD_SKIP_PEERS=1 to skip peer cross-checks");
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-g711-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sox(args: &[&str]) {
    let out = Command::new("sox").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "sox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Samples of a 16-bit mono WAV file (the "data" chunk).
fn read_wav(p: &Path) -> Vec<i16> {
    let bytes = std::fs::read(p).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if id == b"data" {
            return bytes[at + 8..at + 8 + len]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
        }
        at += 8 + len + (len & 1);
    }
    panic!("no data chunk in {p:?}");
}

fn read_s16le(p: &Path) -> Vec<i16> {
    std::fs::read(p)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// SoX rounds a sample to the law's 14 (mu) or 13 (A) bits before companding,
/// where G.711/G.191 truncate; and its mu-law (Sun's g711.c) takes the
/// magnitude of the two's-complement value, where G.191 takes the one's
/// complement. This maps a sample to the input that our encoder quantises
/// exactly as SoX quantises the original.
fn sox_equivalent(law: Law, x: i16) -> i16 {
    let bits = if law == Law::Mu { 2 } else { 3 };
    let max = i32::from(i16::MAX) >> bits;
    let k = ((i32::from(x) + (1 << (bits - 1))) >> bits).min(max);
    let y = k << bits;
    let y = if law == Law::Mu && k < 0 { y - 1 } else { y };
    y.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

#[test]
fn sox_encodes_and_decodes_a_sweep_like_we_do() {
    if !sox_available() {
        return;
    }
    let dir = scratch_dir("sweep");
    let wav = dir.join("sweep.wav");
    // A 100 Hz - 3.9 kHz sweep fading linearly from 0.95 of full scale to
    // silence, so that every segment of both laws is crossed many times.
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        path(&wav),
        "synth",
        "4",
        "sine",
        "100-3900",
        "vol",
        "0.95",
        "fade",
        "t",
        "0",
        "4",
        "4",
    ]);
    let pcm = read_wav(&wav);
    assert_eq!(pcm.len(), 32000);

    for (law, name) in [(Law::Mu, "u-law"), (Law::A, "a-law")] {
        let coded = dir.join(format!("sweep.{name}"));
        sox(&[
            "-D",
            path(&wav),
            "-t",
            "raw",
            "-e",
            name,
            "-b",
            "8",
            path(&coded),
        ]);
        let theirs = std::fs::read(&coded).unwrap();
        assert_eq!(theirs.len(), pcm.len());

        let mut ours = vec![0u8; pcm.len()];
        g711::encode_slice(law, &pcm, &mut ours);
        let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        let mut modelled = vec![0u8; pcm.len()];
        let adjusted: Vec<i16> = pcm.iter().map(|&x| sox_equivalent(law, x)).collect();
        g711::encode_slice(law, &adjusted, &mut modelled);
        println!(
            "{name}: {differ} of {} codes differ from sox (its rounding), 0 expected after modelling it",
            pcm.len()
        );
        assert_eq!(
            modelled, theirs,
            "{name}: encoder disagrees with sox beyond its rounding"
        );
        // The differences are only one step at a decision boundary.
        assert!(differ * 20 < pcm.len(), "{name}: {differ} differ");
        for (i, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
            let (da, db) = match law {
                Law::Mu => (g711::decode_mu(a), g711::decode_mu(b)),
                _ => (g711::decode_a(a), g711::decode_a(b)),
            };
            let step = (i32::from(da) - i32::from(db)).abs();
            assert!(step <= 1024, "{name} sample {i}: {da} vs {db}");
        }

        // SoX decoding the same bytes.
        let decoded = dir.join(format!("sweep-{name}.s16"));
        sox(&[
            "-t",
            "raw",
            "-r",
            "8000",
            "-c",
            "1",
            "-e",
            name,
            "-b",
            "8",
            path(&coded),
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-L",
            path(&decoded),
        ]);
        let their_pcm = read_s16le(&decoded);
        let mut our_pcm = vec![0i16; theirs.len()];
        g711::decode_slice(law, &theirs, &mut our_pcm);
        assert_eq!(our_pcm, their_pcm, "{name}: decoders disagree");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sox_decodes_all_256_codes_like_we_do() {
    if !sox_available() {
        return;
    }
    let dir = scratch_dir("codes");
    let codes: Vec<u8> = (0..=255).collect();
    for (law, name) in [(Law::Mu, "u-law"), (Law::A, "a-law")] {
        let coded = dir.join(format!("codes.{name}"));
        std::fs::write(&coded, &codes).unwrap();
        let decoded = dir.join(format!("codes-{name}.s16"));
        sox(&[
            "-t",
            "raw",
            "-r",
            "8000",
            "-c",
            "1",
            "-e",
            name,
            "-b",
            "8",
            path(&coded),
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-L",
            path(&decoded),
        ]);
        let theirs = read_s16le(&decoded);
        let mut ours = vec![0i16; 256];
        g711::decode_slice(law, &codes, &mut ours);
        assert_eq!(ours, theirs, "{name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
