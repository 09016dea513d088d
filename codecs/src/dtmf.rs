//! In-band DTMF: a detector for digits carried as audio, and a generator.
//!
//! Standards: ITU-T Q.23 (the 4×4 frequency matrix) and Q.24 (receiver
//! limits: frequency tolerance, twist, minimum durations); RFC 4733 §3.2 for
//! the event codes of [`DtmfDigit`]. Out of scope: detecting DTMF inside
//! compressed payloads (decode first), and Q.24's per-administration level
//! tables — one configurable level floor stands for them.
//!
//! # How the detector decides
//!
//! Audio is cut into sub-blocks of `H` samples (3.25 ms); every sub-block,
//! one analysis window of `B = 4H` samples (13 ms; 104 samples at 8 kHz)
//! ends. For each window the complex DFT at the eight DTMF frequencies and
//! their second harmonics is assembled from the four sub-blocks' partial
//! sums, so windows overlap by three quarters at the cost of one.
//!
//! A window is a *hit* for a digit when all of these hold:
//! - the strongest low-group and high-group frequencies each reach the level
//!   floor and beat the other frequencies of their group by `group_margin_db`;
//! - the twist is within limits (high group weaker: normal twist; stronger:
//!   reverse twist);
//! - both tones' frequencies, measured from the phase advance of their DFT
//!   bins between consecutive windows (a resolution the 13 ms window's 77 Hz
//!   bins cannot give), deviate less than midway between the accepted and the
//!   rejected deviation;
//! - the two tones carry at least `min_energy_ratio` of the window's energy
//!   (speech and music spread theirs), and neither has a second harmonic within
//!   `harmonic_margin_db` of itself (a low tone's harmonic is skipped where it
//!   would land on the high tone).
//!
//! A digit starts after a run of hits covering the minimum tone duration and
//! ends after a run of non-hits covering the minimum pause; short drop-outs
//! inside a tone are bridged. With the defaults, measured over all window
//! alignments at 8 and 16 kHz: tones of 40 ms and more are always reported,
//! tones of 34 ms and less never, 36 ms in half the alignments.

use std::f64::consts::TAU;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A DTMF digit: `0`–`9`, `*`, `#` and `A`–`D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DtmfDigit {
    /// `0`
    D0,
    /// `1`
    D1,
    /// `2`
    D2,
    /// `3`
    D3,
    /// `4`
    D4,
    /// `5`
    D5,
    /// `6`
    D6,
    /// `7`
    D7,
    /// `8`
    D8,
    /// `9`
    D9,
    /// `*`
    Star,
    /// `#`
    Pound,
    /// `A`
    A,
    /// `B`
    B,
    /// `C`
    C,
    /// `D`
    D,
}

/// Low-group frequencies (rows of the Q.23 matrix), Hz.
pub const LOW_GROUP: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group frequencies (columns), Hz.
pub const HIGH_GROUP: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The Q.23 matrix: `KEYPAD[row][column]`.
const KEYPAD: [[DtmfDigit; 4]; 4] = {
    use DtmfDigit::*;
    [
        [D1, D2, D3, A],
        [D4, D5, D6, B],
        [D7, D8, D9, C],
        [Star, D0, Pound, D],
    ]
};

impl DtmfDigit {
    /// All sixteen digits in RFC 4733 event-code order.
    pub const ALL: [DtmfDigit; 16] = {
        use DtmfDigit::*;
        [
            D0, D1, D2, D3, D4, D5, D6, D7, D8, D9, Star, Pound, A, B, C, D,
        ]
    };

    /// The RFC 4733 §3.2 event code: 0–9 for the digits, 10 `*`, 11 `#`,
    /// 12–15 `A`–`D`.
    pub fn event_code(self) -> u8 {
        // ALL is in event-code order, so the position is the code.
        Self::ALL.iter().position(|&d| d == self).unwrap_or(0) as u8
    }

    /// The digit for an RFC 4733 event code, `None` above 15 (other events).
    pub fn from_event_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The keypad character (`'0'`–`'9'`, `'*'`, `'#'`, `'A'`–`'D'`).
    pub fn to_char(self) -> char {
        b"0123456789*#ABCD"[usize::from(self.event_code())] as char
    }

    /// The digit for a keypad character; `a`–`d` are accepted as well.
    pub fn from_char(c: char) -> Option<Self> {
        let code = match c.to_ascii_uppercase() {
            d @ '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            l @ 'A'..='D' => l as u8 - b'A' + 12,
            _ => return None,
        };
        Self::from_event_code(code)
    }

    /// The (low, high) frequency pair in Hz.
    pub fn frequencies(self) -> (f64, f64) {
        let (row, col) = self.position();
        (LOW_GROUP[row], HIGH_GROUP[col])
    }

    fn position(self) -> (usize, usize) {
        for (r, row) in KEYPAD.iter().enumerate() {
            if let Some(c) = row.iter().position(|&d| d == self) {
                return (r, c);
            }
        }
        (0, 0)
    }
}

impl fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

impl TryFrom<char> for DtmfDigit {
    type Error = DtmfError;
    fn try_from(c: char) -> Result<Self, DtmfError> {
        Self::from_char(c).ok_or(DtmfError::NotADigit(c))
    }
}

impl From<DtmfDigit> for char {
    fn from(d: DtmfDigit) -> char {
        d.to_char()
    }
}

/// What the DTMF API refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The character is not on the DTMF keypad.
    #[error("not a DTMF digit: {0:?}")]
    NotADigit(char),
    /// The detector works from 8 to 48 kHz.
    #[error("unsupported sample rate {0}")]
    SampleRate(u32),
}

/// Power of a sine at 0 dBm0 in 16-bit PCM, taking a full-scale sine as
/// +3.17 dBm0 (the G.711 convention).
fn dbm0_power(dbm0: f64) -> f64 {
    let amplitude = 32767.0 * 10f64.powf((dbm0 - 3.17) / 20.0);
    amplitude * amplitude / 2.0
}

/// Sine amplitude in 16-bit PCM for a level in dBm0.
fn dbm0_amplitude(dbm0: f64) -> f64 {
    (2.0 * dbm0_power(dbm0)).sqrt()
}

/// Receiver limits, with Q.24's values as defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DtmfDetectorConfig {
    /// Relative frequency deviation always accepted (default 1.5 %).
    pub accept_deviation: f64,
    /// Relative frequency deviation always rejected (default 3.5 %). The
    /// decision threshold sits midway between the two.
    pub reject_deviation: f64,
    /// Largest level by which the high-group tone may be *below* the low one,
    /// dB (default 8).
    pub normal_twist_db: f64,
    /// Largest level by which the high-group tone may be *above* the low one,
    /// dB (default 4).
    pub reverse_twist_db: f64,
    /// Shortest tone reported, ms (default 40).
    pub min_tone_ms: u32,
    /// Shortest gap that separates two digits, ms (default 40).
    pub min_pause_ms: u32,
    /// Weakest tone accepted, per frequency, dBm0 (default -30, so that
    /// -25 dBm0 is accepted with margin).
    pub min_level_dbm0: f64,
    /// How much of the window's energy the two tones must carry (default 0.7).
    pub min_energy_ratio: f64,
    /// How far each tone must stand above the other frequencies of its group,
    /// dB (default 8).
    pub group_margin_db: f64,
    /// How far each tone's second harmonic must stay below it, dB (default 15).
    pub harmonic_margin_db: f64,
}

impl Default for DtmfDetectorConfig {
    fn default() -> Self {
        DtmfDetectorConfig {
            accept_deviation: 0.015,
            reject_deviation: 0.035,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            min_tone_ms: 40,
            min_pause_ms: 40,
            min_level_dbm0: -30.0,
            min_energy_ratio: 0.7,
            group_margin_db: 8.0,
            harmonic_margin_db: 15.0,
        }
    }
}

/// A digit beginning or ending; times are in samples since the detector was
/// created or reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DtmfEvent {
    /// A digit has been present for the minimum tone duration.
    Start {
        /// The digit.
        digit: DtmfDigit,
        /// Estimated first sample of the tone.
        at: u64,
    },
    /// The digit has been absent for the minimum pause.
    End {
        /// The digit.
        digit: DtmfDigit,
        /// Estimated first sample of the tone (as in `Start`).
        at: u64,
        /// Estimated tone duration in samples.
        duration: u64,
    },
}

/// Number of analysed frequencies: 8 fundamentals then 8 second harmonics.
const BINS: usize = 16;
/// Sub-blocks per analysis window.
const SUBS: usize = 4;

#[derive(Debug, Clone, Copy, Default)]
struct Cx {
    re: f64,
    im: f64,
}

impl Cx {
    fn mul(self, o: Cx) -> Cx {
        Cx {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn add(self, o: Cx) -> Cx {
        Cx {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn norm(self) -> f64 {
        self.re * self.re + self.im * self.im
    }
    fn conj(self) -> Cx {
        Cx {
            re: self.re,
            im: -self.im,
        }
    }
    fn expi(phase: f64) -> Cx {
        Cx {
            re: phase.cos(),
            im: phase.sin(),
        }
    }
}

/// Where the detector's digit state machine stands.
#[derive(Debug, Clone, Copy)]
enum Track {
    /// No digit reported.
    Idle,
    /// `digit` was reported starting at `start`; `last_hit_end` is where its
    /// last hit window ended; `misses` counts windows without it since.
    Active {
        digit: DtmfDigit,
        start: u64,
        last_hit_end: u64,
        misses: u32,
    },
}

/// Goertzel-style DTMF detector over sliding windows; see the module docs.
///
/// Feed any number of samples per call to [`DtmfDetector::process`]; events
/// are handed to the callback as they are decided. Nothing is allocated after
/// construction.
///
/// Cost: a sub-block's samples are kept and its energy summed as they come;
/// its sixteen DFT sums are only taken once a window that contains it is
/// loud enough to hold a digit (see `DtmfDetector::quiet_energy`), so
/// silence and quiet speech cost one multiply-add per sample.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    config: DtmfDetectorConfig,
    rate: f64,
    /// Sub-block length `H`.
    sub_len: usize,
    /// `e^{-j 2π f m / rate}` for each position `m` in a sub-block and each
    /// bin, position-major, real parts then imaginary parts, so that one
    /// sample updates two rows of 16 contiguous sums (vectorised). f32 is ample: a sum has at
    /// most 156 terms below 2^15, far from f32's 24-bit mantissa limits
    /// at the precision the decisions need (dB levels, 1.5 % deviations).
    /// Shared by every detector at the same rate (3.3 KB at 8 kHz, 20 KB at
    /// 48 kHz: per call it was a good part of a transcoded call's memory).
    table: Table,
    /// `e^{-j 2π f H / rate}` per bin: rotates a sub-block's sum to its place
    /// in the window.
    hop: [Cx; BINS],
    /// Samples of the last four sub-blocks (ring of `sub_len` each; slot
    /// `sub_head` is the oldest, and the one being filled).
    raw: Vec<i16>,
    /// Partial sums of the last four sub-blocks, valid where `sums_valid`.
    subs: [[Cx; BINS]; SUBS],
    sums_valid: [bool; SUBS],
    sub_energy: [f64; SUBS],
    sub_head: usize,
    subs_done: usize,
    /// Samples and energy of the sub-block being filled (slot `sub_head`).
    acc_energy: f64,
    acc_len: usize,
    /// Window energy below which no window can be a hit, nor make the next
    /// one a hit (see `DtmfDetector::quiet_energy`).
    quiet_energy: f64,
    /// `group_margin_db`, `harmonic_margin_db` and the twist limits as power
    /// ratios (taken once, not per window).
    margin: f64,
    harmonic: f64,
    normal_twist: f64,
    reverse_twist: f64,
    /// Fundamentals of the previous window, for the phase-advance frequency
    /// estimate.
    prev: [Cx; 8],
    /// Samples consumed so far.
    pos: u64,
    /// Current run of hits: digit, length, first window start.
    run: Option<(DtmfDigit, u32, u64)>,
    track: Track,
    hits_to_start: u32,
    misses_to_end: u32,
}

impl DtmfDetector {
    /// A detector with Q.24's default limits for `sample_rate` (8–48 kHz).
    pub fn new(sample_rate: u32) -> Result<Self, DtmfError> {
        Self::with_config(sample_rate, DtmfDetectorConfig::default())
    }

    /// A detector with the given limits.
    pub fn with_config(sample_rate: u32, config: DtmfDetectorConfig) -> Result<Self, DtmfError> {
        if !(8000..=48000).contains(&sample_rate) {
            return Err(DtmfError::SampleRate(sample_rate));
        }
        let rate = f64::from(sample_rate);
        // 26 samples at 8 kHz: a 104-sample window, within Q.24-era
        // practice of 102–106 and short enough for 40 ms tones.
        let sub_len = (rate * 0.00325).round() as usize;
        let freqs = Self::bin_frequencies();
        let table = shared_table(sample_rate, sub_len, &freqs);
        let mut hop = [Cx::default(); BINS];
        for (b, &f) in freqs.iter().enumerate() {
            hop[b] = Cx::expi(-TAU * f / rate * sub_len as f64);
        }
        let window = (SUBS * sub_len) as f64;
        let quiet_energy = Self::quiet_energy(&config, rate, SUBS * sub_len);
        let margin = 10f64.powf(config.group_margin_db / 10.0);
        let harmonic = 10f64.powf(-config.harmonic_margin_db / 10.0);
        let normal_twist = 10f64.powf(config.normal_twist_db / 10.0);
        let reverse_twist = 10f64.powf(config.reverse_twist_db / 10.0);
        let hop_ms = sub_len as f64 * 1000.0 / rate;
        let window_ms = window * 1000.0 / rate;
        // A tone of length L fully covers about (L - B) / H + 1 windows; a
        // pause covers about (L - B) / H windows with no tone at all.
        let hits_to_start = ((f64::from(config.min_tone_ms) - window_ms) / hop_ms)
            .ceil()
            .max(0.0) as u32
            + 1;
        let misses_to_end = ((f64::from(config.min_pause_ms) - window_ms) / hop_ms)
            .floor()
            .max(1.0) as u32;
        Ok(DtmfDetector {
            config,
            rate,
            sub_len,
            table,
            hop,
            raw: vec![0; SUBS * sub_len],
            subs: [[Cx::default(); BINS]; SUBS],
            sums_valid: [false; SUBS],
            sub_energy: [0.0; SUBS],
            sub_head: 0,
            subs_done: 0,
            acc_energy: 0.0,
            acc_len: 0,
            quiet_energy,
            margin,
            harmonic,
            normal_twist,
            reverse_twist,
            prev: [Cx::default(); 8],
            pos: 0,
            run: None,
            track: Track::Idle,
            hits_to_start,
            misses_to_end,
        })
    }

    /// The window energy (sum of squares) below which skipping the window
    /// changes no decision.
    ///
    /// A hit needs each tone's energy estimate `2|X|² / (n·k(df))` to reach
    /// the floor `F` (per-sample power × n), where the kernel `k` is at least
    /// `k_min`, its value at the largest deviation accepted. By
    /// Cauchy–Schwarz `|X|² ≤ n·E` (unit twiddles), so a hit needs
    /// `E ≥ F·k_min/2`. The window after a skipped one compares its tone with
    /// this window's DFT (the tone must not be 4× stronger than before);
    /// treating the skipped window's DFT as zero refuses that next window,
    /// which is also what the true DFT would do when `n·E < (F·n·k_min/2)/4`,
    /// i.e. `E < F·k_min/8`. A tenth instead of an eighth leaves a margin for
    /// rounding.
    fn quiet_energy(config: &DtmfDetectorConfig, rate: f64, n: usize) -> f64 {
        let n = n as f64;
        let limit = (config.accept_deviation + config.reject_deviation) / 2.0;
        let df = limit * HIGH_GROUP[3].max(LOW_GROUP[3]);
        let a = std::f64::consts::PI * df / rate;
        let k_min = ((a * n).sin() / (n * a.sin())).powi(2);
        let floor = dbm0_power(config.min_level_dbm0) * n;
        // Past the kernel's first zero nothing can be bounded: never skip.
        if a * n >= std::f64::consts::PI || !k_min.is_finite() {
            return 0.0;
        }
        floor * k_min / 10.0
    }

    fn bin_frequencies() -> [f64; BINS] {
        let mut f = [0.0; BINS];
        for i in 0..4 {
            f[i] = LOW_GROUP[i];
            f[4 + i] = HIGH_GROUP[i];
            f[8 + i] = 2.0 * LOW_GROUP[i];
            f[12 + i] = 2.0 * HIGH_GROUP[i];
        }
        f
    }

    /// The sample rate this detector was built for.
    pub fn sample_rate(&self) -> u32 {
        self.rate as u32
    }

    /// Forgets all audio and any digit in progress; time restarts at 0.
    pub fn reset(&mut self) {
        let rate = self.sample_rate();
        // Same rate and config as before, so construction cannot fail.
        if let Ok(fresh) = Self::with_config(rate, self.config.clone()) {
            *self = fresh;
        }
    }

    /// Analyses `pcm` (continuing from the previous call) and reports each
    /// digit start and end to `on_event`, in order.
    pub fn process(&mut self, mut pcm: &[i16], mut on_event: impl FnMut(DtmfEvent)) {
        while !pcm.is_empty() {
            let take = (self.sub_len - self.acc_len).min(pcm.len());
            let at = self.sub_head * self.sub_len + self.acc_len;
            self.raw[at..at + take].copy_from_slice(&pcm[..take]);
            self.acc_energy += energy(&pcm[..take]);
            self.acc_len += take;
            self.pos += take as u64;
            pcm = &pcm[take..];
            if self.acc_len == self.sub_len {
                self.finish_sub_block(&mut on_event);
            }
        }
    }

    /// The sixteen DFT sums of the sub-block in `slot`.
    fn sub_block_sums(&self, slot: usize) -> [Cx; BINS] {
        let samples = &self.raw[slot * self.sub_len..(slot + 1) * self.sub_len];
        let [re, im] = dft_sums(samples, &self.table);
        let mut out = [Cx::default(); BINS];
        for (b, o) in out.iter_mut().enumerate() {
            *o = Cx { re: f64::from(re[b]), im: f64::from(im[b]) };
        }
        out
    }

    fn finish_sub_block(&mut self, on_event: &mut impl FnMut(DtmfEvent)) {
        let slot = self.sub_head;
        self.sub_energy[slot] = self.acc_energy;
        self.sums_valid[slot] = false;
        self.sub_head = (slot + 1) % SUBS;
        self.acc_energy = 0.0;
        self.acc_len = 0;
        self.subs_done += 1;
        if self.subs_done < SUBS {
            return;
        }
        let window_len = (SUBS * self.sub_len) as u64;
        let energy: f64 = self.sub_energy.iter().sum();
        if energy < self.quiet_energy {
            // Too quiet to be a digit, or to vouch for the next window's
            // tone: no DFT needed (see `quiet_energy`).
            self.prev = [Cx::default(); 8];
            self.advance(None, self.pos - window_len, self.pos, on_event);
            return;
        }
        for i in 0..SUBS {
            if !self.sums_valid[i] {
                self.subs[i] = self.sub_block_sums(i);
                self.sums_valid[i] = true;
            }
        }
        // Assemble the window DFT: sub-block i (0 = oldest) starts i·H
        // samples into the window, so its sum is rotated by hop^i.
        let mut x = [Cx::default(); BINS];
        for (b, xb) in x.iter_mut().enumerate() {
            let mut rot = Cx { re: 1.0, im: 0.0 };
            for i in 0..SUBS {
                let s = self.subs[(self.sub_head + i) % SUBS][b];
                *xb = xb.add(s.mul(rot));
                rot = rot.mul(self.hop[b]);
            }
        }
        let hit = self.classify(&x, energy);
        self.prev.copy_from_slice(&x[..8]);
        self.advance(hit, self.pos - window_len, self.pos, on_event);
    }

    /// Decides whether this window holds a valid DTMF digit.
    fn classify(&self, x: &[Cx; BINS], energy: f64) -> Option<DtmfDigit> {
        let n = (SUBS * self.sub_len) as f64;
        let strongest = |group: &[Cx]| -> (usize, f64, f64) {
            let mut best = (0, 0.0);
            for (i, c) in group.iter().enumerate() {
                if c.norm() > best.1 {
                    best = (i, c.norm());
                }
            }
            let next = group
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != best.0)
                .map(|(_, c)| c.norm())
                .fold(0.0, f64::max);
            (best.0, best.1, next)
        };
        let (row, low_pow, low_next) = strongest(&x[..4]);
        let (col, high_pow, high_next) = strongest(&x[4..8]);
        let cfg = &self.config;
        let margin = self.margin;
        if low_pow < low_next * margin || high_pow < high_next * margin || energy <= 0.0 {
            return None;
        }

        // Frequency from the phase advance over one hop.
        let limit = (cfg.accept_deviation + cfg.reject_deviation) / 2.0;
        let hop = self.sub_len as f64;
        let deviation = |bin: usize, f0: f64| -> Option<f64> {
            let (now, before) = (x[bin], self.prev[bin]);
            // The tone must have been in the previous window too.
            if before.norm() < now.norm() / 4.0 {
                return None;
            }
            let turn = now
                .mul(before.conj())
                .mul(Cx::expi(-TAU * f0 * hop / self.rate));
            let df = turn.im.atan2(turn.re) * self.rate / (TAU * hop);
            (df.abs() / f0 < limit).then_some(df)
        };
        let (f_low, f_high) = (LOW_GROUP[row], HIGH_GROUP[col]);
        let df_low = deviation(row, f_low)?;
        let df_high = deviation(4 + col, f_high)?;

        // Tone energies in the window, undoing the rectangular window's loss
        // for an off-centre tone (the Dirichlet kernel at the offset).
        let kernel = |df: f64| -> f64 {
            let a = std::f64::consts::PI * df / self.rate;
            if a.abs() < 1e-9 {
                1.0
            } else {
                ((a * n).sin() / (n * a.sin())).powi(2)
            }
        };
        let e_low = 2.0 * low_pow / (n * kernel(df_low));
        let e_high = 2.0 * high_pow / (n * kernel(df_high));

        let floor = dbm0_power(cfg.min_level_dbm0) * n;
        if e_low < floor || e_high < floor {
            return None;
        }
        // Twist in the power domain: no logarithm per window.
        if e_low > e_high * self.normal_twist || e_high > e_low * self.reverse_twist {
            return None;
        }
        if (e_low + e_high) < cfg.min_energy_ratio * energy {
            return None;
        }
        let harmonic = self.harmonic;
        if x[12 + col].norm() > high_pow * harmonic {
            return None;
        }
        // 2 × a low tone can sit within a bin of the high tone; only check it
        // when it is clear of it.
        let bin_width = self.rate / n;
        if (2.0 * f_low - f_high).abs() > 2.0 * bin_width && x[8 + row].norm() > low_pow * harmonic
        {
            return None;
        }
        Some(KEYPAD[row][col])
    }

    /// Runs the start/end state machine on one window's verdict.
    fn advance(
        &mut self,
        hit: Option<DtmfDigit>,
        start: u64,
        end: u64,
        on_event: &mut impl FnMut(DtmfEvent),
    ) {
        self.run = match (hit, self.run) {
            (Some(d), Some((r, len, first))) if d == r => Some((d, len + 1, first)),
            (Some(d), _) => Some((d, 1, start)),
            (None, _) => None,
        };
        if let Track::Active {
            digit,
            start: began,
            last_hit_end,
            misses,
        } = &mut self.track
        {
            if hit == Some(*digit) {
                *misses = 0;
                *last_hit_end = end;
                return;
            }
            *misses += 1;
            if *misses < self.misses_to_end {
                return;
            }
            on_event(DtmfEvent::End {
                digit: *digit,
                at: *began,
                duration: *last_hit_end - *began,
            });
            self.track = Track::Idle;
        }
        if let Some((digit, len, first)) = self.run
            && len >= self.hits_to_start
        {
            on_event(DtmfEvent::Start { digit, at: first });
            self.track = Track::Active {
                digit,
                start: first,
                last_hit_end: end,
                misses: 0,
            };
            self.run = None;
        }
    }
}

/// Sub-block DFT coefficients: per position, real row then imaginary row.
type Table = Arc<[[[f32; BINS]; 2]]>;

/// The sub-block DFT table for `rate`, computed once per rate and shared
/// (detectors are made at call set-up, never per packet).
fn shared_table(rate: u32, sub_len: usize, freqs: &[f64; BINS]) -> Table {
    static TABLES: Mutex<Vec<(u32, Table)>> = Mutex::new(Vec::new());
    let mut tables = TABLES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, t)) = tables.iter().find(|(r, _)| *r == rate) {
        return Arc::clone(t);
    }
    let mut table = vec![[[0.0f32; BINS]; 2]; sub_len];
    for (b, &f) in freqs.iter().enumerate() {
        let w = -TAU * f / f64::from(rate);
        for (m, rows) in table.iter_mut().enumerate() {
            let c = Cx::expi(w * m as f64);
            rows[0][b] = c.re as f32;
            rows[1][b] = c.im as f32;
        }
    }
    let table: Table = table.into();
    tables.push((rate, Arc::clone(&table)));
    table
}

/// The sums `Σ x[m]·table[m]` over a sub-block, real and imaginary rows.
/// Kept out of line: inlined next to the `Cx` pairs its caller builds, the
/// compiler pairs re/im lanes instead of vectorising the 16-wide rows.
#[inline(never)]
fn dft_sums(samples: &[i16], table: &[[[f32; BINS]; 2]]) -> [[f32; BINS]; 2] {
    let mut acc = [[0.0f32; BINS]; 2];
    for (&s, rows) in samples.iter().zip(table) {
        let x = f32::from(s);
        for (a, w) in acc.iter_mut().zip(rows) {
            for b in 0..BINS {
                a[b] += x * w[b];
            }
        }
    }
    acc
}

/// Sum of squares of `pcm`, exact (integers below 2^53 in f64), in four
/// independent sums so that the additions need not wait for each other.
fn energy(pcm: &[i16]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let mut chunks = pcm.chunks_exact(4);
    for c in &mut chunks {
        for (l, &s) in lanes.iter_mut().zip(c) {
            *l += f64::from(s) * f64::from(s);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    lanes.iter().sum::<f64>() + tail
}

/// Produces DTMF digits as 16-bit PCM into caller buffers, phase-continuous
/// from one call to the next.
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    rate: f64,
    /// Phases and per-sample steps of the two oscillators, radians.
    phase: [f64; 2],
    step: [f64; 2],
    amplitude: [f64; 2],
    /// Tone samples still to produce.
    remaining: u64,
}

impl DtmfGenerator {
    /// A silent generator for `sample_rate` samples per second.
    pub fn new(sample_rate: u32) -> Self {
        DtmfGenerator {
            rate: f64::from(sample_rate),
            phase: [0.0; 2],
            step: [0.0; 2],
            amplitude: [0.0; 2],
            remaining: 0,
        }
    }

    /// Starts `digit` at `level_dbm0` per tone for `duration_ms`.
    pub fn start(&mut self, digit: DtmfDigit, level_dbm0: f64, duration_ms: u32) {
        let (low, high) = digit.frequencies();
        self.start_tones(low, high, level_dbm0, level_dbm0, duration_ms);
    }

    /// Starts an arbitrary tone pair (for twist and deviation tests, or
    /// non-standard signalling), each at its own level.
    pub fn start_tones(
        &mut self,
        low_hz: f64,
        high_hz: f64,
        low_dbm0: f64,
        high_dbm0: f64,
        duration_ms: u32,
    ) {
        self.step = [TAU * low_hz / self.rate, TAU * high_hz / self.rate];
        self.amplitude = [dbm0_amplitude(low_dbm0), dbm0_amplitude(high_dbm0)];
        self.remaining = (f64::from(duration_ms) * self.rate / 1000.0).round() as u64;
    }

    /// Whether tone samples remain.
    pub fn is_active(&self) -> bool {
        self.remaining > 0
    }

    /// Fills `out`: tone while the digit lasts, silence after. Returns how
    /// many samples of tone were written.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let mut written = 0;
        for y in out.iter_mut() {
            if self.remaining == 0 {
                *y = 0;
                continue;
            }
            let v =
                self.amplitude[0] * self.phase[0].sin() + self.amplitude[1] * self.phase[1].sin();
            *y = v.round().clamp(-32768.0, 32767.0) as i16;
            for (p, s) in self.phase.iter_mut().zip(self.step) {
                *p = (*p + s) % TAU;
            }
            self.remaining -= 1;
            written += 1;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_and_characters_round_trip() {
        for (code, d) in DtmfDigit::ALL.iter().enumerate() {
            assert_eq!(d.event_code(), code as u8);
            assert_eq!(DtmfDigit::from_event_code(code as u8), Some(*d));
            assert_eq!(DtmfDigit::from_char(d.to_char()), Some(*d));
        }
        assert_eq!(DtmfDigit::from_event_code(16), None);
        assert_eq!(DtmfDigit::from_char('x'), None);
        assert_eq!(DtmfDigit::try_from('#'), Ok(DtmfDigit::Pound));
        assert_eq!(DtmfDigit::from_char('b'), Some(DtmfDigit::B));
        assert_eq!(char::from(DtmfDigit::Star), '*');
        assert_eq!(DtmfDigit::D5.frequencies(), (770.0, 1336.0));
        assert_eq!(DtmfDigit::D.frequencies(), (941.0, 1633.0));
    }

    #[test]
    fn window_is_104_samples_at_8_khz() {
        let d = DtmfDetector::new(8000).expect("supported rate");
        assert_eq!(d.sub_len * SUBS, 104);
        assert_eq!(
            DtmfDetector::new(16000).expect("supported rate").sub_len * SUBS,
            208
        );
        assert_eq!(
            DtmfDetector::new(4000).err(),
            Some(DtmfError::SampleRate(4000))
        );
    }

    #[test]
    fn skipping_quiet_windows_changes_no_decision() {
        // Digits near and below the level floor, after silence and quiet
        // noise, with onsets at every phase: the detector that skips quiet
        // windows reports exactly what one that analyses every window does.
        for rate in [8000, 16000, 48000] {
            let mut rng = fastrand_like(rate as u64);
            let mut pcm = Vec::new();
            let mut g = DtmfGenerator::new(rate);
            for (i, level) in [-20.0, -28.0, -31.0, -33.0, -36.0, -45.0, -29.5, -25.0].iter().enumerate() {
                let gap = (rate as usize / 1000) * (30 + 7 * i);
                pcm.extend((0..gap).map(|_| (rng() % 41) as i16 - 20));
                let digit = DtmfDigit::ALL[i * 3 % 16];
                g.start(digit, *level, 45 + 5 * i as u32);
                let mut tone = vec![0i16; rate as usize / 10];
                let n = g.fill(&mut tone);
                pcm.extend_from_slice(&tone[..n]);
            }
            pcm.extend(std::iter::repeat_n(0, rate as usize / 10));
            let run = |skip: bool| {
                let mut d = DtmfDetector::new(rate).expect("supported rate");
                if !skip {
                    d.quiet_energy = 0.0;
                }
                let mut events = Vec::new();
                for chunk in pcm.chunks(rate as usize / 50) {
                    d.process(chunk, |e| events.push(e));
                }
                events
            };
            let (skipping, full) = (run(true), run(false));
            assert_eq!(skipping, full, "{rate} Hz");
            // -20, -28, -29.5 and -25 dBm0 are above the -30 floor.
            assert_eq!(full.len(), 8, "{rate} Hz: the digits above the floor: {full:?}");
        }
    }

    /// A small deterministic generator (the crate has no rand dependency).
    fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn generator_level_and_continuity() {
        let mut g = DtmfGenerator::new(8000);
        g.start(DtmfDigit::D1, -10.0, 100);
        let mut a = [0i16; 333];
        let mut b = [0i16; 800];
        assert_eq!(g.fill(&mut a), 333);
        assert_eq!(g.fill(&mut b), 467);
        assert!(!g.is_active());
        assert!(b[467..].iter().all(|&s| s == 0));
        // Each tone at -10 dBm0: total power twice one tone's.
        let p: f64 = a
            .iter()
            .chain(&b[..467])
            .map(|&s| f64::from(s).powi(2))
            .sum::<f64>()
            / 800.0;
        let db = 10.0 * (p / (2.0 * dbm0_power(-10.0))).log10();
        assert!(db.abs() < 0.1, "{db}");
        // No jump at the buffer boundary: the step is bounded by the slope.
        let max_step = (dbm0_amplitude(-10.0) * TAU * (697.0 + 1209.0) / 8000.0) as i32 + 2;
        assert!((i32::from(b[0]) - i32::from(a[332])).abs() <= max_step);
    }
}
