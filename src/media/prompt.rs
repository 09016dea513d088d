//! Prompt files: WAV (PCM, μ-law, A-law), FLAC, Ogg Vorbis and MP3, decoded with symphonia
//! to mono and resampled; `dialplan::audio` keeps a plan's prompts decoded so that a prompt
//! is decoded once however many calls play it.
//!
//! Decoding happens when a plan is checked (every prompt it names must decode) and when it
//! loads, never while a call waits. The resampler here takes any ratio (espeak-ng
//! writes 22.05 kHz, music is 44.1 kHz), which the streaming one in `codecs` does not: a
//! Kaiser-windowed sinc evaluated per output sample, affordable because it runs once.

use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Longest prompt accepted: music on hold loops rather than being one long file, and the
/// bound keeps a mistaken path (a recording of hours) from filling memory.
pub const MAX_SECONDS: u32 = 600;

/// Why a prompt cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The file cannot be opened.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not a format or codec the switch decodes, or corrupt.
    #[error("{path}: cannot decode: {reason}")]
    Decode {
        /// The file.
        path: String,
        /// What the decoder said.
        reason: String,
    },
    /// Decodes to no sound at all.
    #[error("{path}: no audio in the file")]
    Empty {
        /// The file.
        path: String,
    },
    /// Longer than [`MAX_SECONDS`].
    #[error("{path}: longer than {MAX_SECONDS} s")]
    TooLong {
        /// The file.
        path: String,
    },
}

/// A decoded file: mono samples in [-1, 1] at the file's rate.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Sample rate of the file.
    pub rate: u32,
    /// Channels mixed down to one.
    pub samples: Vec<f32>,
}

/// Decodes a whole prompt file.
pub fn decode(path: &Path) -> Result<Decoded, PromptError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| PromptError::Open { path: name.clone(), source })?;
    decode_source(name, Box::new(file), path.extension().and_then(|e| e.to_str()))
}

/// Decodes a prompt built into the binary (`name` is for messages; `ext` hints the format).
pub fn decode_bytes(name: &str, bytes: &'static [u8], ext: &str) -> Result<Decoded, PromptError> {
    decode_source(name.to_owned(), Box::new(std::io::Cursor::new(bytes)), Some(ext))
}

fn decode_source(name: String, src: Box<dyn symphonia::core::io::MediaSource>, ext: Option<&str>) -> Result<Decoded, PromptError> {
    let bad = |e: SymError| PromptError::Decode { path: name.clone(), reason: e.to_string() };
    let mss = MediaSourceStream::new(src, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(bad)?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| PromptError::Decode { path: name.clone(), reason: "no audio track".to_owned() })?;
    let track_id = track.id;
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut decoder = symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default()).map_err(bad)?;
    let mut samples = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(bad(e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged frame is skipped, as players do; the rest of the file still plays.
            Err(SymError::DecodeError(_)) => continue,
            Err(e) => return Err(bad(e)),
        };
        let spec = *decoded.spec();
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let need = decoded.capacity() as u64;
        let sb = match &mut buf {
            Some(b) if b.capacity() as u64 >= need * channels as u64 => b,
            _ => buf.insert(SampleBuffer::new(need, spec)),
        };
        sb.copy_interleaved_ref(decoded);
        for frame in sb.samples().chunks(channels) {
            samples.push(frame.iter().sum::<f32>() / channels as f32);
        }
        if rate > 0 && samples.len() as u64 > u64::from(MAX_SECONDS) * u64::from(rate) {
            return Err(PromptError::TooLong { path: name });
        }
    }
    if samples.is_empty() || rate == 0 {
        return Err(PromptError::Empty { path: name });
    }
    Ok(Decoded { rate, samples })
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// Any-ratio resampling to 16-bit samples: a Kaiser-windowed sinc (β = 8.6, about 80 dB)
/// with its cutoff at 0.45 of the lower rate, 24 zero crossings wide.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<i16> {
    let to_i16 = |v: f32| (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
    if from == to || from == 0 || to == 0 {
        return input.iter().map(|&v| to_i16(v)).collect();
    }
    let ratio = f64::from(to) / f64::from(from);
    // Cutoff relative to the input rate.
    let fc = 0.45 * ratio.min(1.0) * 2.0;
    const ZEROS: f64 = 24.0;
    let half = ZEROS / fc;
    let beta = 8.6;
    let norm = bessel_i0(beta);
    let n_out = (input.len() as f64 * ratio).floor() as usize;
    let mut out = Vec::with_capacity(n_out);
    for j in 0..n_out {
        let t = j as f64 / ratio;
        let lo = (t - half).ceil().max(0.0) as usize;
        let hi = ((t + half).floor() as usize).min(input.len().saturating_sub(1));
        let mut acc = 0.0f64;
        for (i, &x) in input.iter().enumerate().take(hi + 1).skip(lo) {
            let d = i as f64 - t;
            let r = d / half;
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / norm;
            let a = std::f64::consts::PI * fc * d;
            let sinc = if a.abs() < 1e-12 { 1.0 } else { a.sin() / a };
            acc += f64::from(x) * fc * sinc * w;
        }
        out.push(to_i16(acc as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, secs: f64) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize).map(|i| (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as f32).collect()
    }

    /// Power at `hz` against total power, by correlation with sine and cosine.
    fn share_at(x: &[i16], rate: u32, hz: f64) -> f64 {
        let (mut s, mut c, mut total) = (0.0, 0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let v = f64::from(v);
            let a = 2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate);
            s += v * a.sin();
            c += v * a.cos();
            total += v * v;
        }
        2.0 * (s * s + c * c) / x.len() as f64 / total.max(1e-9)
    }

    #[test]
    fn any_ratio_keeps_a_tone_and_removes_what_cannot_be_carried() {
        for from in [22050, 44100, 11025, 48000, 16000] {
            let x = tone(from, 1000.0, 1.0);
            let y = resample(&x, from, 8000);
            assert!((y.len() as i64 - 8000).abs() <= 1, "{from}: {} samples", y.len());
            let core = &y[200..7800];
            assert!(share_at(core, 8000, 1000.0) > 0.999, "{from}: tone kept");
            let peak = core.iter().map(|v| i32::from(*v).abs()).max().unwrap_or(0);
            assert!((16000..=16700).contains(&peak), "{from}: amplitude {peak}");
        }
        // 6 kHz cannot exist at 8 kHz: it must be filtered out, not folded to 2 kHz.
        let x = tone(44100, 6000.0, 1.0);
        let y = resample(&x, 44100, 8000);
        let rms = (y[200..7800].iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / 7600.0).sqrt();
        assert!(rms < 16384.0 * 0.707 * 1e-3, "alias at {rms} rms (−60 dB is {})", 16384.0 * 0.707 * 1e-3);
    }
}
