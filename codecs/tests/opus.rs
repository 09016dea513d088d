//! Opus wrapper: fidelity of a speech-like signal, FEC against plain
//! concealment, hostile payloads, and no Rust-side allocation per frame.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::f64::consts::TAU;

use proptest::prelude::*;
use switchyard_codecs::opus::{Decoder, Encoder, FRAME_20MS, MAX_PACKET};
use switchyard_codecs::{AudioDecoder, AudioEncoder, CodecError};

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

/// Vowel-like audio at 48 kHz: a glottal-ish harmonic series on a gliding
/// 100-190 Hz pitch, shaped by three formants, with a 3 Hz syllable envelope.
fn speech_like(seconds: f64) -> Vec<i16> {
    let rate = 48_000.0;
    let len = (seconds * rate) as usize;
    let formants = [(700.0, 130.0), (1220.0, 70.0), (2600.0, 160.0)];
    let mut phase = 0.0f64;
    (0..len)
        .map(|n| {
            let t = n as f64 / rate;
            let f0 = 145.0 + 45.0 * (TAU * 0.7 * t).sin();
            phase += f0 / rate;
            let mut v = 0.0;
            let mut k = 1.0;
            while k * f0 < 3800.0 {
                let f = k * f0;
                let gain: f64 = formants
                    .iter()
                    .map(|&(fc, bw)| 1.0 / (1.0 + ((f - fc) / bw).powi(2)))
                    .sum::<f64>()
                    / k.sqrt();
                v += gain * (TAU * k * phase).sin();
                k += 1.0;
            }
            let envelope = 0.55 + 0.45 * (TAU * 3.0 * t).sin();
            (v * envelope * 5000.0).clamp(-32000.0, 32000.0) as i16
        })
        .collect()
}

fn encode_all(enc: &mut Encoder, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut buf = [0u8; MAX_PACKET];
    pcm.chunks_exact(FRAME_20MS)
        .map(|frame| {
            let n = enc.encode(frame, &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect()
}

fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1e-9)
}

fn snr_db(reference: &[i16], test: &[i16]) -> f64 {
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test) {
        sig += f64::from(r).powi(2);
        err += (f64::from(r) - f64::from(t)).powi(2);
    }
    10.0 * (sig / err.max(1e-9)).log10()
}

#[test]
fn speech_like_audio_survives_coding() {
    let input = speech_like(2.0);
    let mut enc = Encoder::new(5).unwrap();
    let lookahead = enc.lookahead().unwrap();
    let packets = encode_all(&mut enc, &input);
    let mut dec = Decoder::new().unwrap();
    let mut out = vec![0i16; input.len()];
    for (p, o) in packets.iter().zip(out.chunks_exact_mut(FRAME_20MS)) {
        assert_eq!(dec.decode(p, o).unwrap(), FRAME_20MS);
    }
    // Search the delay around the encoder's look-ahead; skip 100 ms warm-up.
    let skip = 4800;
    let (best_delay, best) = (0..=2 * lookahead + 480)
        .map(|d| {
            (
                d,
                correlation(&input[skip..input.len() - d], &out[skip + d..]),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let bytes: usize = packets.iter().map(Vec::len).sum();
    println!(
        "opus 32 kbit/s: correlation {best:.4} at delay {best_delay} (look-ahead {lookahead}), {:.1} kbit/s actual",
        bytes as f64 * 8.0 / 2.0 / 1000.0
    );
    assert!(best > 0.9, "correlation {best}");
}

#[test]
fn fec_recovers_a_lost_frame_better_than_concealment() {
    let input = speech_like(4.0);
    let mut enc = Encoder::new(8).unwrap();
    let packets = encode_all(&mut enc, &input);
    let frames = packets.len();
    let lost: Vec<usize> = (15..frames - 1).step_by(9).collect();

    let run = |use_fec: bool| -> Vec<i16> {
        let mut dec = Decoder::new().unwrap();
        let mut out = vec![0i16; frames * FRAME_20MS];
        for (i, o) in out.chunks_exact_mut(FRAME_20MS).enumerate() {
            if lost.contains(&i) {
                if use_fec {
                    assert_eq!(dec.decode_fec(&packets[i + 1], o), Some(FRAME_20MS));
                } else {
                    assert_eq!(dec.conceal(o), FRAME_20MS);
                }
            } else {
                assert_eq!(dec.decode(&packets[i], o).unwrap(), FRAME_20MS);
            }
        }
        out
    };
    let clean = {
        let mut dec = Decoder::new().unwrap();
        let mut out = vec![0i16; frames * FRAME_20MS];
        for (p, o) in packets.iter().zip(out.chunks_exact_mut(FRAME_20MS)) {
            dec.decode(p, o).unwrap();
        }
        out
    };
    let with_plc = run(false);
    let with_fec = run(true);
    let gather = |x: &[i16]| -> Vec<i16> {
        lost.iter()
            .flat_map(|&i| x[i * FRAME_20MS..(i + 1) * FRAME_20MS].iter().copied())
            .collect()
    };
    let reference = gather(&clean);
    let plc = snr_db(&reference, &gather(&with_plc));
    let fec = snr_db(&reference, &gather(&with_fec));
    println!(
        "{} lost frames: SNR against the clean decode, PLC {plc:.1} dB, FEC {fec:.1} dB",
        lost.len()
    );
    assert!(fec > plc + 1.0, "FEC {fec:.1} dB vs PLC {plc:.1} dB");
}

#[test]
fn stereo_packets_decode_to_mono() {
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Stereo, opus::Application::Voip).unwrap();
    let mono = speech_like(0.2);
    let stereo: Vec<i16> = mono.iter().flat_map(|&s| [s, s]).collect();
    let mut dec = Decoder::new().unwrap();
    let mut packet = [0u8; MAX_PACKET];
    let mut out = [0i16; FRAME_20MS];
    let mut energy = 0.0;
    for frame in stereo.chunks_exact(2 * FRAME_20MS) {
        let n = enc.encode(frame, &mut packet).unwrap();
        assert_eq!(dec.decode(&packet[..n], &mut out).unwrap(), FRAME_20MS);
        energy += out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
    }
    assert!(energy > 1e9, "mono mix-down is silent: {energy}");
}

#[test]
fn concealment_fills_any_length() {
    let mut dec = Decoder::new().unwrap();
    let mut out = [1i16; 1000];
    assert_eq!(dec.conceal(&mut out), 1000);
    // 960 concealed (silence after silence), 40 padded.
    assert!(out.iter().all(|&s| s == 0));
}

#[test]
fn invalid_packets_are_errors() {
    let mut dec = Decoder::new().unwrap();
    let mut out = [0i16; 5760];
    // Code 3 (arbitrary frame count) without its count byte; a count of zero;
    // code 2 with a first-frame length running past the end.
    for bad in [&[0x03u8][..], &[0x0B, 0x00], &[0x02, 0xFF, 0x01]] {
        let r = dec.decode(bad, &mut out);
        assert!(
            matches!(r, Err(CodecError::Malformed(_))),
            "{bad:02x?}: {r:?}"
        );
        assert_eq!(dec.decode_fec(bad, &mut out), None);
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let mut dec = Decoder::new().unwrap();
        let mut out = [0i16; 5760];
        if let Ok(n) = dec.decode(&payload, &mut out) {
            prop_assert!(n <= 5760);
        }
        let _ = dec.decode_fec(&payload, &mut out);
        prop_assert_eq!(dec.conceal(&mut out[..960]), 960);
    }
}

#[test]
fn steady_state_allocates_nothing_on_the_rust_side() {
    // libopus allocates with malloc at creation only; this checks the wrapper.
    let input = speech_like(0.5);
    let mut enc = Encoder::new(5).unwrap();
    let mut dec = Decoder::new().unwrap();
    let mut packet = [0u8; MAX_PACKET];
    let mut out = [0i16; FRAME_20MS];
    let before = ALLOCATIONS.with(Cell::get);
    for (i, frame) in input.chunks_exact(FRAME_20MS).enumerate() {
        let n = enc.encode(frame, &mut packet).unwrap();
        if i % 5 == 3 {
            dec.conceal(&mut out);
            dec.decode_fec(&packet[..n], &mut out);
        }
        dec.decode(&packet[..n], &mut out).unwrap();
    }
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 0);
}

/// Narrowband legs code Opus at 8 kHz directly: 160-sample frames in, 160
/// out, and a 1 kHz tone survives (correlation after aligning the codec delay).
#[test]
fn opus_at_8khz_codes_narrowband_frames() {
    use switchyard_codecs::{AudioDecoder, AudioEncoder};
    let mut enc = switchyard_codecs::opus::Encoder::with_rate(8000, 5).expect("encoder");
    let mut dec = switchyard_codecs::opus::Decoder::with_rate(8000).expect("decoder");
    assert_eq!((enc.sample_rate(), dec.sample_rate()), (8000, 8000));
    let input: Vec<i16> = (0..8000).map(|i| (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin()) as i16).collect();
    let mut output = Vec::new();
    let mut packet = [0u8; 400];
    let mut pcm = [0i16; 160];
    for frame in input.chunks(160) {
        let n = enc.encode(frame, &mut packet).expect("encode");
        assert_eq!(dec.decode(&packet[..n], &mut pcm).expect("decode"), 160);
        output.extend_from_slice(&pcm);
    }
    let best = (0..200)
        .map(|lag| {
            let (a, b) = (&input[1000..7000], &output[1000 + lag..7000 + lag]);
            let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
            let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum();
            dot / (na * nb).sqrt()
        })
        .fold(f64::MIN, f64::max);
    assert!(best > 0.95, "correlation {best}");
}
