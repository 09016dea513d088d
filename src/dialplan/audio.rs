//! A plan's prompts, decoded once when the plan loads (off the signalling core) and kept at
//! 8 kHz: a call that reaches `playback` never waits for a disk or a decoder. Legs at other
//! rates get them resampled by the media plane as they play.
//!
//! Names are paths under the plan's prompt directory without the extension (`zh/main`);
//! `moh CLASS` plays every prompt under `moh/CLASS/`, in name order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::media::prompt;

use super::plan::PROMPT_EXTENSIONS;

/// The rate prompts are kept at.
pub const RATE: u32 = 8000;
/// Files read from one prompt directory at most.
const MAX_FILES: usize = 4000;
/// Audio held for one plan at most (two hours at 8 kHz, 115 MB).
const MAX_SAMPLES: usize = 2 * 3600 * RATE as usize;
/// Directory levels below the prompt directory.
const MAX_DEPTH: usize = 6;

/// Built-in prompts of the embedded default plan.
const EMBEDDED: &[(&str, &[u8])] = &[
    ("demo-welcome", include_bytes!("../../dialplans/default/prompts/demo-welcome.wav")),
    (
        "moh/default/chimes",
        include_bytes!("../../dialplans/default/prompts/moh/default/chimes.wav"),
    ),
];

/// Decoded prompts by name.
#[derive(Debug, Default, Clone)]
pub struct PromptAudio {
    map: BTreeMap<String, Arc<[i16]>>,
}

impl PromptAudio {
    /// The embedded plan's prompts: decoded on first use, shared after (the samples are
    /// not copied). Calls fall back on its music on hold, so this runs on the signalling
    /// core and must not decode every time.
    pub fn embedded() -> PromptAudio {
        static DECODED: OnceLock<PromptAudio> = OnceLock::new();
        DECODED
            .get_or_init(|| {
                let mut a = PromptAudio::default();
                for (name, bytes) in EMBEDDED {
                    // Built in and decoded by a unit test: a failure here is a broken build.
                    if let Ok(d) = prompt::decode_bytes(name, bytes, "wav") {
                        a.map.insert((*name).to_owned(), prompt::resample(&d.samples, d.rate, RATE).into());
                    }
                }
                a
            })
            .clone()
    }

    /// Every prompt under `dir`; the errors are one line per file that did not load.
    pub fn load_dir(dir: &Path) -> (PromptAudio, Vec<String>) {
        let mut a = PromptAudio::default();
        let mut errors = Vec::new();
        let mut files = Vec::new();
        collect(dir, dir, 0, &mut files);
        if files.len() > MAX_FILES {
            errors.push(format!(
                "{}: more than {MAX_FILES} prompt files; the rest are not loaded",
                dir.display()
            ));
            files.truncate(MAX_FILES);
        }
        let mut total = 0usize;
        for (name, path) in files {
            match prompt::decode(&path) {
                Ok(d) => {
                    let pcm: Arc<[i16]> = prompt::resample(&d.samples, d.rate, RATE).into();
                    total += pcm.len();
                    if total > MAX_SAMPLES {
                        errors.push(format!(
                            "{}: prompts longer than {} s in all; the rest are not loaded",
                            dir.display(),
                            MAX_SAMPLES / RATE as usize
                        ));
                        break;
                    }
                    // `a.wav` and `a.mp3` side by side: the first extension in the search order wins.
                    a.map.entry(name).or_insert(pcm);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        (a, errors)
    }

    /// A prompt by name (with or without its extension).
    pub fn get(&self, name: &str) -> Option<Arc<[i16]>> {
        let bare = PROMPT_EXTENSIONS
            .iter()
            .find_map(|x| name.strip_suffix(&format!(".{x}")))
            .unwrap_or(name);
        self.map.get(bare).cloned()
    }

    /// The prompts of a music-on-hold class, in name order.
    pub fn class(&self, class: &str) -> Vec<Arc<[i16]>> {
        let prefix = format!("moh/{class}/");
        self.map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// How many prompts are loaded.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// `(name, file)` for each prompt file under `dir`, ordered by the extension search order.
fn collect(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(String, std::path::PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if depth < MAX_DEPTH {
                collect(root, &p, depth + 1, out);
            }
            continue;
        }
        let Some(rank) = p
            .extension()
            .and_then(|e| e.to_str())
            .and_then(|e| PROMPT_EXTENSIONS.iter().position(|x| x.eq_ignore_ascii_case(e)))
        else {
            continue;
        };
        let Ok(rel) = p
            .with_extension("")
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
        else {
            continue;
        };
        out.push((format!("{rank}{rel}"), p));
    }
    if depth == 0 {
        out.sort();
        for (n, _) in out.iter_mut() {
            n.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_prompts_decode() {
        let a = PromptAudio::embedded();
        assert_eq!(a.len(), EMBEDDED.len());
        let again = PromptAudio::embedded();
        assert!(Arc::ptr_eq(&a.map["demo-welcome"], &again.map["demo-welcome"]), "decoded once, shared");
        let w = a.get("demo-welcome").expect("welcome");
        assert!(w.len() > RATE as usize * 3, "{} samples", w.len());
        assert_eq!(a.class("default").len(), 1);
        assert!(a.class("other").is_empty());
        assert!(a.get("demo-welcome.wav").is_some());
    }

    #[test]
    fn loads_a_directory_by_name_and_reports_bad_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let spec = hound_free_wav(800);
        std::fs::create_dir_all(dir.path().join("zh")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("moh/jazz")).expect("mkdir");
        std::fs::write(dir.path().join("zh/main.wav"), &spec).expect("write");
        std::fs::write(dir.path().join("moh/jazz/b.wav"), &spec).expect("write");
        std::fs::write(dir.path().join("moh/jazz/a.wav"), hound_free_wav(400)).expect("write");
        std::fs::write(dir.path().join("broken.wav"), b"RIFF....WAVEjunk").expect("write");
        std::fs::write(dir.path().join("notes.txt"), b"not audio").expect("write");
        let (a, errors) = PromptAudio::load_dir(dir.path());
        assert_eq!(a.get("zh/main").map(|p| p.len()), Some(800));
        let jazz = a.class("jazz");
        assert_eq!(jazz.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![400, 800], "name order");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("broken.wav"), "{errors:?}");
    }

    /// A 16-bit mono 8 kHz WAV of `n` samples of a ramp.
    fn hound_free_wav(n: usize) -> Vec<u8> {
        crate::media::wav::encode(&(0..n).map(|i| (i as i16).wrapping_mul(37)).collect::<Vec<_>>(), 8000)
    }
}
