//! Jitter buffer: cost of one packet's insert + pop (trivial decoder), and the
//! trace table of the simulator (three-minute traces). Run:
//! `cargo bench --bench jitter`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::jitter::sim::{format_table, run_trace, standard_traces};
use switchyard::jitter::{JitterBuffer, JitterConfig, PacketInfo};
use switchyard_codecs::{AudioDecoder, CodecError, CodecKind};

/// Copies payload bytes as samples: the buffer's own cost dominates.
struct Trivial;

impl AudioDecoder for Trivial {
    fn kind(&self) -> CodecKind {
        CodecKind::L16 { rate: 8000 }
    }
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let n = payload.len() / 2;
        let out = out
            .get_mut(..n)
            .ok_or(CodecError::BufferTooSmall { need: n, have: 0 })?;
        for (o, b) in out.iter_mut().zip(payload.chunks_exact(2)) {
            *o = i16::from_be_bytes([b[0], b[1]]);
        }
        Ok(n)
    }
    fn conceal(&mut self, out: &mut [i16]) -> usize {
        out.fill(0);
        out.len()
    }
    fn reset(&mut self) {}
}

fn insert_pop(c: &mut Criterion) {
    // Virtual time origin; only durations are added to it.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut dec = Trivial;
    let mut out = [0i16; 160];
    let payload = [0x11u8; 320];
    let mut k: u32 = 0;
    c.bench_function("jitter insert+pop (20 ms, 8 kHz)", |b| {
        b.iter(|| {
            let jitter = u64::from(k.wrapping_mul(2_654_435_761) >> 28);
            let send = t0 + Duration::from_millis(u64::from(k) * 20);
            let info = PacketInfo {
                seq: k as u16,
                timestamp: k.wrapping_mul(160),
                ssrc: 7,
                marker: false,
                payload_type: 11,
            };
            black_box(jb.insert(send + Duration::from_millis(20 + jitter), info, &payload));
            // Every packet has arrived (virtual time) before the tick that needs it.
            black_box(jb.pop(send + Duration::from_millis(40), &mut dec, &mut out));
            k = k.wrapping_add(1);
        })
    });
    println!("after the run: {:?}", jb.stats());
}

fn trace_table(_: &mut Criterion) {
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let reports: Vec<_> = standard_traces()
        .iter()
        .map(|t| run_trace(t, start))
        .collect();
    println!("\n{}", format_table(&reports));
}

criterion_group!(benches, insert_pop, trace_table);
criterion_main!(benches);
