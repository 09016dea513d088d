//! G.722 at 64 kbit/s end to end: quality of tones through encode → decode,
//! frequency response, robustness to arbitrary payloads, concealment, and a
//! golden bitstream that catches any change in the arithmetic.

use switchyard_codecs::g722::{Decoder, Encoder};
use switchyard_codecs::{AudioDecoder, AudioEncoder, CodecError, CodecKind};

const RATE: f64 = 16_000.0;
/// Frames of 20 ms.
const FRAME: usize = 320;

/// Amplitude of a sine at `dbm0` dBm0, taking a full-scale 16-bit sine as
/// +3.17 dBm0 as G.711 does.
fn amplitude(dbm0: f64) -> f64 {
    32767.0 * 10f64.powf((dbm0 - 3.17) / 20.0)
}

fn tones(freqs: &[(f64, f64)], len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| {
            let t = n as f64 / RATE;
            freqs
                .iter()
                .map(|&(f, a)| a * (std::f64::consts::TAU * f * t).sin())
                .sum::<f64>()
                .round() as i16
        })
        .collect()
}

/// Encodes and decodes `pcm` in 20 ms frames.
fn round_trip(pcm: &[i16]) -> Vec<i16> {
    let (mut enc, mut dec) = (Encoder::new(), Decoder::new());
    let mut bytes = [0u8; FRAME / 2];
    let mut frame = [0i16; FRAME];
    let mut out = Vec::with_capacity(pcm.len());
    for chunk in pcm.chunks_exact(FRAME) {
        let n = enc.encode(chunk, &mut bytes).expect("20 ms encodes");
        assert_eq!(n, FRAME / 2);
        let m = dec.decode(&bytes[..n], &mut frame).expect("20 ms decodes");
        assert_eq!(m, FRAME);
        out.extend_from_slice(&frame);
    }
    out
}

/// The codec delay in samples: the two 24-tap QMFs, less one sample
/// because the analysis filter's output phase is the second of each pair.
const DELAY: usize = 22;

/// The lag (0..64) maximising the cross-correlation of output with input.
fn measured_delay(input: &[i16], output: &[i16]) -> usize {
    (0..64)
        .max_by_key(|&d| {
            (4000..8000)
                .map(|n| i64::from(input[n]) * i64::from(output[n + d]))
                .sum::<i64>()
        })
        .expect("non-empty range")
}

/// SNR in dB of `output` against `input` delayed by [`DELAY`], over
/// `range` of the input.
fn snr_over(input: &[i16], output: &[i16], range: std::ops::Range<usize>) -> f64 {
    let (mut sig, mut noise) = (0.0, 0.0);
    for n in range {
        let x = f64::from(input[n]);
        sig += x * x;
        noise += (x - f64::from(output[n + DELAY])).powi(2);
    }
    10.0 * (sig / noise).log10()
}

/// SNR after the first 100 ms, while the ADPCM adapts, are skipped.
fn snr_db(input: &[i16], output: &[i16]) -> f64 {
    snr_over(input, output, 1600..input.len() - DELAY)
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Output/input level in dB of a single tone at `freq`.
fn gain_db(freq: f64) -> f64 {
    let input = tones(&[(freq, amplitude(-10.0))], 16_000);
    let output = round_trip(&input);
    20.0 * (rms(&output[3200..]) / rms(&input[3200..])).log10()
}

#[test]
fn kind_and_rates() {
    let (enc, dec) = (Encoder::new(), Decoder::new());
    assert_eq!(enc.kind(), CodecKind::G722);
    assert_eq!(dec.sample_rate(), 16_000);
    assert_eq!(dec.kind().rtp_clock_rate(), 8000);
}

#[test]
fn codec_delay_is_22_samples() {
    let a = amplitude(-15.0);
    let input = tones(&[(310.0, a), (1130.0, a), (2710.0, a), (5270.0, a)], 16_000);
    assert_eq!(measured_delay(&input, &round_trip(&input)), DELAY);
}

#[test]
fn one_kilohertz_tone_at_minus_10_dbm0() {
    let input = tones(&[(1000.0, amplitude(-10.0))], 32_000);
    let snr = snr_db(&input, &round_trip(&input));
    println!("1 kHz -10 dBm0: SNR {snr:.2} dB");
    assert!(snr > 46.0, "SNR {snr:.2} dB");
}

#[test]
fn quiet_tones_keep_their_snr() {
    // Measured: 300 Hz -30 dBm0 44.5 dB, 3 kHz -30 dBm0 39.0 dB.
    for (f, min) in [(300.0, 43.0), (3000.0, 38.0)] {
        let input = tones(&[(f, amplitude(-30.0))], 32_000);
        let snr = snr_db(&input, &round_trip(&input));
        println!("{f} Hz -30 dBm0: SNR {snr:.2} dB");
        assert!(snr > min, "{f} Hz: SNR {snr:.2} dB");
    }
}

#[test]
fn multi_tone_signals() {
    let a = amplitude(-18.0);
    // Lower band only: the 6-bit ADPCM. Measured 30.9 dB.
    let low = tones(&[(440.0, a), (1270.0, a), (2630.0, a), (3400.0, a)], 32_000);
    let snr_low = snr_db(&low, &round_trip(&low));
    // Both bands, the upper with its 2-bit ADPCM. Measured 23.2 dB.
    let full = tones(
        &[
            (440.0, a),
            (1270.0, a),
            (2630.0, a),
            (4410.0, a * 0.5),
            (6120.0, a * 0.3),
        ],
        32_000,
    );
    let snr_full = snr_db(&full, &round_trip(&full));
    println!("multi-tone: lower band {snr_low:.2} dB, full band {snr_full:.2} dB");
    assert!(snr_low > 30.0, "lower band SNR {snr_low:.2} dB");
    assert!(snr_full > 22.0, "full band SNR {snr_full:.2} dB");
}

#[test]
fn passband_is_flat() {
    // Measured within ±0.05 dB; the QMF pair is near-perfect reconstruction.
    for f in [300.0, 1000.0, 3000.0, 5000.0, 6500.0] {
        let g = gain_db(f);
        println!("{f} Hz: {g:+.2} dB");
        assert!(g.abs() < 0.25, "{f} Hz: {g:+.2} dB");
    }
}

#[test]
fn band_split_does_not_alias() {
    // Tones either side of the 4 kHz split come back clean only if the QMF's
    // aliasing cancels. Measured 40.5 dB and 39.9 dB at -10 dBm0.
    for f in [3900.0, 4100.0] {
        let input = tones(&[(f, amplitude(-10.0))], 32_000);
        let snr = snr_db(&input, &round_trip(&input));
        println!("{f} Hz: SNR {snr:.2} dB");
        assert!(snr > 39.0, "{f} Hz: SNR {snr:.2} dB");
    }
}

#[test]
fn tones_near_nyquist_pass_unfiltered() {
    // G.722 band-limits to 7 kHz in its audio parts (the A/D's filter), not
    // in the digital codec: the QMF bank passes 7.5–7.9 kHz essentially
    // unchanged, so callers feeding wider audio must low-pass it themselves.
    for f in [7500.0, 7900.0] {
        let g = gain_db(f);
        println!("{f} Hz: {g:+.2} dB");
        assert!(g.abs() < 0.5, "{f} Hz: {g:+.2} dB");
    }
}

#[test]
fn golden_bitstream() {
    // A fixed chirp-plus-tone through a fresh encoder; the hash of its 800
    // octets was recorded from this implementation once its ADPCM had matched
    // the Appendix II sequences. Any change to the arithmetic changes it.
    let input: Vec<i16> = (0..1600)
        .map(|n| {
            let t = n as f64 / RATE;
            (9000.0 * (std::f64::consts::TAU * (200.0 + 3000.0 * t) * t).sin()
                + 2500.0 * (std::f64::consts::TAU * 5200.0 * t).sin()) as i16
        })
        .collect();
    let mut enc = Encoder::new();
    let mut bytes = vec![0u8; 800];
    assert_eq!(enc.encode(&input, &mut bytes), Ok(800));
    let mut dec = Decoder::new();
    let mut out = vec![0i16; 1600];
    assert_eq!(dec.decode(&bytes, &mut out), Ok(1600));
    let out_bytes: Vec<u8> = out.iter().flat_map(|s| s.to_le_bytes()).collect();
    println!(
        "golden: encoded {:016x}, decoded {:016x}",
        fnv1a(&bytes),
        fnv1a(&out_bytes)
    );
    assert_eq!(fnv1a(&bytes), GOLDEN_ENCODED);
    assert_eq!(fnv1a(&out_bytes), GOLDEN_DECODED);
}

/// FNV-1a 64: enough to pin a byte string in a test without a dependency.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn frame_length_and_buffer_errors() {
    let mut enc = Encoder::new();
    let mut out = [0u8; 160];
    assert_eq!(
        enc.encode(&[0; 321], &mut out),
        Err(CodecError::FrameLength(321))
    );
    assert_eq!(
        enc.encode(&[0; 322], &mut out),
        Err(CodecError::BufferTooSmall {
            need: 161,
            have: 160
        })
    );
    let mut dec = Decoder::new();
    let mut pcm = [0i16; 10];
    assert_eq!(
        dec.decode(&[0; 6], &mut pcm),
        Err(CodecError::BufferTooSmall { need: 12, have: 10 })
    );
    assert_eq!(dec.decode(&[], &mut pcm), Ok(0));
}

#[test]
fn arbitrary_bytes_decode_and_state_resynchronises() {
    let mut dec = Decoder::new();
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut bytes = [0u8; 160];
    let mut out = [0i16; 320];
    for round in 0..2000 {
        for b in bytes.iter_mut() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            *b = rng as u8;
        }
        // Some frames of all-ones and all-zeros push the scale factors and
        // predictor to their bounds; debug builds panic on any overflow.
        match round % 4 {
            1 => bytes.fill(0xFF),
            3 => bytes.fill(0x00),
            _ => {}
        }
        assert_eq!(dec.decode(&bytes, &mut out), Ok(320));
    }
    // The ADPCM state is a function of the recent codes only: fed the same
    // stream, the abused decoder and a fresh one end up in step.
    let input = tones(&[(700.0, 6000.0), (5300.0, 2000.0)], 16_000);
    let (mut enc, mut fresh) = (Encoder::new(), Decoder::new());
    let mut reference = [0i16; 320];
    let mut diff = i32::MAX;
    for chunk in input.chunks_exact(FRAME) {
        enc.encode(chunk, &mut bytes).expect("encodes");
        dec.decode(&bytes, &mut out).expect("decodes");
        fresh.decode(&bytes, &mut reference).expect("decodes");
        diff = out
            .iter()
            .zip(&reference)
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
            .max()
            .unwrap_or(0);
    }
    println!("max difference after 1 s of common input: {diff}");
    assert!(diff <= 1, "decoders did not converge: {diff}");
}

#[test]
fn encoder_survives_full_scale_square_wave() {
    let input: Vec<i16> = (0..16_000)
        .map(|n| if (n / 8) % 2 == 0 { i16::MAX } else { i16::MIN })
        .collect();
    let output = round_trip(&input);
    assert_eq!(output.len(), input.len());
    assert!(rms(&output[1600..]) > 10_000.0);
}

/// Runs `input` through an encoder and a decoder that loses the frames in
/// `lost`, returning the decoder's output.
fn with_losses(input: &[i16], lost: &[usize]) -> Vec<i16> {
    let (mut enc, mut dec) = (Encoder::new(), Decoder::new());
    let mut bytes = [0u8; FRAME / 2];
    let mut frame = [0i16; FRAME];
    let mut out = Vec::with_capacity(input.len());
    for (i, chunk) in input.chunks_exact(FRAME).enumerate() {
        enc.encode(chunk, &mut bytes).expect("encodes");
        if lost.contains(&i) {
            assert_eq!(dec.conceal(&mut frame), FRAME);
        } else {
            dec.decode(&bytes, &mut frame).expect("decodes");
        }
        out.extend_from_slice(&frame);
    }
    out
}

#[test]
fn concealment_bridges_a_lost_frame_of_a_tone() {
    let input = tones(&[(500.0, amplitude(-10.0))], 32_000);
    let out = with_losses(&input, &[20]);
    let level = rms(&out[20 * FRAME..21 * FRAME]) / rms(&out[10 * FRAME..11 * FRAME]);
    let frame_snr = |f: usize| snr_over(&input, &out, f * FRAME - DELAY..(f + 1) * FRAME - DELAY);
    let before = frame_snr(19);
    let (lost, first, later) = (frame_snr(20), frame_snr(21), frame_snr(26));
    println!(
        "level {level:.2}; SNR before {before:.1}, lost {lost:.1}, next {first:.1}, 100 ms later {later:.1} dB"
    );
    // Measured: level 0.95; SNR 54.0 before, 21.7 in the lost frame (the
    // pitch repetition continues the tone), 17.5 in the crossfaded next
    // frame, 48.5 five frames on as the frozen ADPCM state converges.
    assert!(
        level > 0.9,
        "a 500 Hz tone is continued, not muted: {level:.2}"
    );
    assert!(
        lost > 15.0 && first > 15.0,
        "lost {lost:.1}, next {first:.1}"
    );
    assert!(
        later > before - 8.0,
        "resynchronised: {later:.1} vs {before:.1}"
    );
}

#[test]
fn long_loss_fades_out_then_restarts_from_reset_state() {
    let input = tones(
        &[(500.0, amplitude(-10.0)), (5500.0, amplitude(-20.0))],
        32_000,
    );
    let out = with_losses(&input, &[10, 11, 12, 13]);
    // 80 ms lost: concealment is silent from 60 ms on.
    assert!(out[13 * FRAME..14 * FRAME].iter().all(|&s| s == 0));
    // Then the decoder runs from the reset state: after the 5 ms crossfade
    // its output equals a fresh decoder's fed the same packets.
    let mut enc = Encoder::new();
    let mut fresh = Decoder::new();
    let mut bytes = [0u8; FRAME / 2];
    let mut frame = [0i16; FRAME];
    for (i, chunk) in input.chunks_exact(FRAME).enumerate().take(20) {
        enc.encode(chunk, &mut bytes).expect("encodes");
        if i >= 14 {
            fresh.decode(&bytes, &mut frame).expect("decodes");
            let skip = if i == 14 { 80 } else { 0 };
            assert_eq!(
                &out[i * FRAME + skip..(i + 1) * FRAME],
                &frame[skip..],
                "frame {i}"
            );
        }
    }
}

#[test]
fn reset_restores_initial_state() {
    let input = tones(&[(1000.0, 8000.0)], 640);
    let mut enc = Encoder::new();
    let mut first = [0u8; 320];
    enc.encode(&input, &mut first).expect("encodes");
    enc.reset();
    let mut second = [0u8; 320];
    enc.encode(&input, &mut second).expect("encodes");
    assert_eq!(first, second);
}

/// FNV-1a 64 of the golden test's encoded octets and decoded samples (LE).
const GOLDEN_ENCODED: u64 = 0xf571_35c3_0843_b842;
const GOLDEN_DECODED: u64 = 0x9083_e10b_d524_4cec;
