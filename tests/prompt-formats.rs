//! Prompt files in every format the switch plays, made by sox: WAV (16-bit stereo 44.1 kHz,
//! μ-law, A-law), FLAC, Ogg Vorbis and MP3, decoded and resampled to 8 and 16 kHz. A 1 kHz
//! tone must come out as a 1 kHz tone of the same length; broken files are refused by
//! `switchyard check` with the line and column of the action that names them.

mod common;

use std::path::Path;
use std::process::Command;

use common::require;
use switchyard::dialplan::audio::PromptAudio;
use switchyard::media::prompt::{PromptError, decode, resample};

fn sox(out: &Path, args: &[&str]) {
    let st = Command::new("sox")
        .args(["-n"])
        .args(args)
        .arg(out)
        .args(["synth", "1.0", "sine", "1000", "vol", "0.5"])
        .status()
        .expect("run sox");
    assert!(st.success(), "sox failed for {}", out.display());
}

/// Share of the signal's power at 1 kHz (1.0 for a pure tone).
fn share_at_1k(x: &[i16], rate: u32) -> f64 {
    let (mut s, mut c, mut total) = (0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let v = f64::from(v);
        let a = 2.0 * std::f64::consts::PI * 1000.0 * i as f64 / f64::from(rate);
        s += v * a.sin();
        c += v * a.cos();
        total += v * v;
    }
    2.0 * (s * s + c * c) / x.len() as f64 / total.max(1e-9)
}

#[test]
fn every_format_decodes_to_the_same_tone() {
    require("sox");
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("pcm-44k-stereo.wav", vec!["-r", "44100", "-c", "2", "-b", "16"]),
        ("ulaw.wav", vec!["-r", "8000", "-c", "1", "-e", "u-law"]),
        ("alaw.wav", vec!["-r", "8000", "-c", "1", "-e", "a-law"]),
        ("tone.flac", vec!["-r", "16000", "-c", "1"]),
        ("tone.ogg", vec!["-r", "48000", "-c", "1"]),
        ("tone.mp3", vec!["-r", "22050", "-c", "1"]),
    ];
    for (name, args) in &files {
        let path = dir.path().join(name);
        sox(&path, args);
        let d = decode(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        for rate in [8000u32, 16000] {
            let pcm = resample(&d.samples, d.rate, rate);
            let secs = pcm.len() as f64 / f64::from(rate);
            // MP3 and Vorbis add encoder delay and padding (tens of milliseconds).
            assert!((0.98..1.08).contains(&secs), "{name} at {rate}: {secs:.3} s");
            let mid = &pcm[pcm.len() / 10..pcm.len() * 9 / 10];
            let share = share_at_1k(mid, rate);
            assert!(share > 0.99, "{name} at {rate}: 1 kHz share {share:.4}");
            let peak = mid.iter().map(|v| i32::from(*v).abs()).max().unwrap_or(0);
            assert!((14000..=18500).contains(&peak), "{name} at {rate}: peak {peak}");
        }
    }
    // As a plan loads them: by name, `tone.flac` before `.ogg` and `.mp3` (the search order).
    let (audio, errors) = PromptAudio::load_dir(dir.path());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(audio.len(), 4);
    for name in ["pcm-44k-stereo", "ulaw", "alaw", "tone"] {
        let n = audio.get(name).unwrap_or_else(|| panic!("{name} not loaded")).len();
        assert!((7840..8640).contains(&n), "{name}: {n} samples at 8 kHz");
    }
}

#[test]
fn broken_prompts_are_refused_by_check() {
    require("sox");
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir(&prompts).unwrap();
    std::fs::write(prompts.join("garbage.wav"), b"RIFF\x10\x00\x00\x00WAVEfmt this is not audio").unwrap();
    std::fs::write(prompts.join("empty.flac"), b"").unwrap();
    sox(&prompts.join("good.wav"), &["-r", "8000", "-c", "1"]);
    assert!(matches!(decode(&prompts.join("garbage.wav")), Err(PromptError::Decode { .. } | PromptError::Empty { .. })));
    let plan = dir.path().join("p.dialplan");
    std::fs::write(&plan, "context c {\n  from user\n  ext 1 {\n    playback good\n    playback garbage\n    playback empty\n  }\n}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard")).args(["check", "--dialplan"]).arg(&plan).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).replace(&plan.display().to_string(), "p.dialplan");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("p.dialplan:5:5: prompt `garbage`: "), "{text}");
    assert!(text.contains("p.dialplan:6:5: prompt `empty`: "), "{text}");
    assert!(!text.contains("`good`"), "{text}");
}
