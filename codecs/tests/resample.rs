//! Rate conversion between 8, 16 and 48 kHz: fidelity of round trips, alias
//! rejection, exact frame lengths, and no allocation per frame.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::f64::consts::PI;

use switchyard_codecs::resample::Resampler;
use switchyard_codecs::tone::{ToneGenerator, TonePlan};

/// Counts allocations made by the current thread, so that tests running in
/// parallel do not disturb each other's counts.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; the counter is a
// const-initialised thread-local that itself never allocates.
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

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn tone(freq: f64, rate: u32, len: usize, amplitude: f64) -> Vec<i16> {
    (0..len)
        .map(|n| (amplitude * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()).round() as i16)
        .collect()
}

/// Runs `input` through `r` in 20 ms frames, checking every frame's length.
fn run(r: &mut Resampler, input: &[i16], from: u32, to: u32) -> Vec<i16> {
    let (fin, fout) = (from as usize / 50, to as usize / 50);
    let mut out = vec![0i16; input.len() / fin * fout];
    for (i, o) in input.chunks_exact(fin).zip(out.chunks_exact_mut(fout)) {
        assert_eq!(r.process(i, o), fout);
    }
    out
}

fn snr_db(reference: &[i16], test: &[i16]) -> f64 {
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test) {
        sig += f64::from(r).powi(2);
        err += (f64::from(r) - f64::from(t)).powi(2);
    }
    10.0 * (sig / err.max(1e-9)).log10()
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// base -> mid -> base with a 1 kHz tone (997 Hz, so that its samples do not
/// repeat with a short period and rounding errors do not cancel); returns the SNR after aligning for
/// both filters' delay and skipping the warm-up.
fn round_trip_snr(base: u32, mid: u32) -> f64 {
    let input = tone(997.0, base, base as usize, 16000.0);
    let mut there = Resampler::new(base, mid).unwrap();
    let mut back = Resampler::new(mid, base).unwrap();
    let up = run(&mut there, &input, base, mid);
    let out = run(&mut back, &up, mid, base);
    // The first filter's delay is a whole number of base-rate samples by design.
    assert_eq!(there.delay_samples() * base as usize % mid as usize, 0);
    let delay = there.delay_samples() * base as usize / mid as usize + back.delay_samples();
    let skip = 2 * delay;
    let snr = snr_db(&input[skip..input.len() - delay], &out[skip + delay..]);
    println!("{base}->{mid}->{base}: delay {delay} samples, 1 kHz SNR {snr:.1} dB");
    snr
}

#[test]
fn round_trip_8k_48k_keeps_a_tone_clean() {
    assert!(round_trip_snr(8000, 48000) > 60.0);
}

#[test]
fn round_trip_8k_16k_keeps_a_tone_clean() {
    assert!(round_trip_snr(8000, 16000) > 60.0);
}

#[test]
fn round_trip_16k_48k_keeps_a_tone_clean() {
    assert!(round_trip_snr(16000, 48000) > 60.0);
}

#[test]
fn one_way_conversion_preserves_a_tone_in_the_passband() {
    for (from, to) in [(8000, 48000), (48000, 8000), (16000, 8000), (48000, 16000)] {
        let f = 2999.0;
        let input = tone(f, from, from as usize, 12000.0);
        let mut r = Resampler::new(from, to).unwrap();
        let out = run(&mut r, &input, from, to);
        let d = r.delay_samples();
        let expected = tone(f, to, to as usize, 12000.0);
        let snr = snr_db(&expected[2 * d..expected.len() - d], &out[3 * d..]);
        println!("{from}->{to}: 2999 Hz tone SNR against the ideal {snr:.1} dB");
        assert!(snr > 60.0, "{from}->{to}: {snr:.1} dB");
    }
}

#[test]
fn downsampling_rejects_what_would_alias() {
    // 6 kHz at 16 kHz would fold to 2 kHz at 8 kHz.
    for (from, f) in [
        (16000u32, 6000.0),
        (48000, 6000.0),
        (48000, 20000.0),
        (16000, 4200.0),
    ] {
        let input = tone(f, from, from as usize, 30000.0);
        let mut r = Resampler::new(from, 8000).unwrap();
        let out = run(&mut r, &input, from, 8000);
        let skip = 2 * r.delay_samples();
        let left = rms(&out[skip..]);
        // Below half an LSB the output rounds to silence; count that as 0.5.
        let attenuation = 20.0 * (rms(&input) / left.max(0.5)).log10();
        println!("{from}->8000: {f} Hz attenuated by {attenuation:.1} dB (output rms {left:.2})");
        assert!(attenuation >= 60.0, "{f} Hz: {attenuation:.1} dB");
    }
}

#[test]
fn frames_stay_exact_over_a_long_call() {
    for (from, to) in [
        (8000, 48000),
        (48000, 8000),
        (8000, 16000),
        (16000, 8000),
        (16000, 48000),
        (48000, 16000),
        (8000, 8000),
    ] {
        let mut r = Resampler::new(from, to).unwrap();
        let (fin, fout) = (from as usize / 50, to as usize / 50);
        let input = tone(440.0, from, fin, 8000.0);
        let mut out = vec![0i16; fout + 8];
        // Ten seconds of 20 ms frames (the phase repeats every frame, so more
        // would prove nothing new), then 10 ms frames.
        for _ in 0..500 {
            assert_eq!(r.process(&input, &mut out), fout, "{from}->{to}");
        }
        for _ in 0..10 {
            assert_eq!(
                r.process(&input[..fin / 2], &mut out),
                fout / 2,
                "{from}->{to}"
            );
        }
        r.reset();
        assert_eq!(r.process(&input, &mut out), fout);
    }
}

#[test]
fn steady_state_allocates_nothing() {
    let mut r = Resampler::new(8000, 48000).unwrap();
    let mut down = Resampler::new(48000, 8000).unwrap();
    let mut tones = ToneGenerator::new(&TonePlan::ringback_us(), 8000);
    let mut pcm = [0i16; 160];
    let mut wide = [0i16; 960];
    let mut narrow = [0i16; 160];
    let before = allocations();
    for _ in 0..100 {
        tones.fill(&mut pcm);
        r.process(&pcm, &mut wide);
        down.process(&wide, &mut narrow);
    }
    assert_eq!(allocations() - before, 0);
}
