//! WAV files the switch writes (recordings, voicemail): 16-bit PCM, mono, at the leg's rate.
//! Written to a temporary name and renamed, so that a reader never sees half a file.

use std::io::Write;
use std::path::Path;

/// A whole WAV file for `pcm` at `rate`.
pub fn encode(pcm: &[i16], rate: u32) -> Vec<u8> {
    let data = (pcm.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in pcm {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Writes `pcm` as a WAV file at `path`, creating its directory.
pub fn write(path: &Path, pcm: &[i16], rate: u32) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("wav.part");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&encode(pcm, rate))?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_is_written_decodes_to_the_same_samples() {
        let dir = tempfile::tempdir().expect("tmp");
        let pcm: Vec<i16> = (0..1600).map(|i| ((i as f64 * 0.1).sin() * 12000.0) as i16).collect();
        let path = dir.path().join("a/b.wav");
        super::write(&path, &pcm, 8000).expect("write");
        let d = crate::media::prompt::decode(&path).expect("decode");
        assert_eq!(d.rate, 8000);
        let back: Vec<i16> = d.samples.iter().map(|&v| (v * 32768.0).round() as i16).collect();
        assert_eq!(back, pcm);
        assert!(!dir.path().join("a/b.wav.part").exists());
    }
}
