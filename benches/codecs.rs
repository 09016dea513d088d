//! Codecs per 20 ms frame: G.711 (both laws), G.722, Opus (complexity 5 and
//! 10) encode and decode, and the resampler between 8, 16 and 48 kHz.
//! Run: `cargo bench --bench codecs`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_codecs::codec::{decoder, encoder};
use switchyard_codecs::resample::Resampler;
use switchyard_codecs::CodecKind;

/// A speech-like test signal: a few harmonics under a slow envelope.
fn signal(rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let env = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            let v: f64 = [(180.0, 1.0), (360.0, 0.6), (720.0, 0.3), (1440.0, 0.15)]
                .iter()
                .map(|(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            (v * env * 6000.0) as i16
        })
        .collect()
}

fn codecs(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec-20ms");
    for (name, kind, complexity) in [
        ("pcmu", CodecKind::Pcmu, 0),
        ("pcma", CodecKind::Pcma, 0),
        ("g722", CodecKind::G722, 0),
        ("opus-c5", CodecKind::Opus, 5),
        ("opus-c10", CodecKind::Opus, 10),
    ] {
        let rate = kind.sample_rate();
        let frame = (rate / 50) as usize;
        let pcm = signal(rate, frame * 50);
        let mut enc = encoder(kind, complexity).expect("encoder");
        let mut dec = decoder(kind).expect("decoder");
        let mut payload = vec![0u8; 1500];
        let mut out = vec![0i16; frame * 6];
        let mut i = 0;
        g.bench_function(format!("{name}/encode"), |b| {
            b.iter(|| {
                let f = &pcm[(i % 50) * frame..(i % 50 + 1) * frame];
                i += 1;
                black_box(enc.encode(black_box(f), &mut payload).expect("encode"))
            })
        });
        // Decode a real encoded stream, frame after frame.
        let mut enc = encoder(kind, complexity).expect("encoder");
        let packets: Vec<Vec<u8>> = (0..50)
            .map(|k| {
                let n = enc.encode(&pcm[k * frame..(k + 1) * frame], &mut payload).expect("encode");
                payload[..n].to_vec()
            })
            .collect();
        let mut j = 0;
        g.bench_function(format!("{name}/decode"), |b| {
            b.iter(|| {
                let p = &packets[j % 50];
                j += 1;
                black_box(dec.decode(black_box(p), &mut out).expect("decode"))
            })
        });
    }
    g.finish();
}

fn resampler(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample-20ms");
    for (from, to) in [(8000, 16000), (16000, 8000), (8000, 48000), (48000, 8000), (16000, 48000), (48000, 16000)] {
        let input = signal(from, (from / 50) as usize);
        let mut r = Resampler::new(from, to).expect("supported rates");
        let mut out = vec![0i16; (to / 50) as usize + 64];
        g.bench_function(format!("{}k-to-{}k", from / 1000, to / 1000), |b| {
            b.iter(|| black_box(r.process(black_box(&input), &mut out)))
        });
    }
    g.finish();
}

criterion_group!(benches, codecs, resampler);
criterion_main!(benches);
