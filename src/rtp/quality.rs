//! Listening-and-talking quality estimate: the E-model R factor and MOS.
//!
//! Standards: ITU-T G.107 (E-model: `R = Ro − Is − Id − Ie,eff + A`, the
//! `Ie,eff` formula with `Ppl`, `Bpl` and `BurstR`, and Annex B's R → MOS
//! mapping), G.113 Appendix I (equipment impairment `Ie` and packet-loss
//! robustness `Bpl` per codec).
//! Out of scope: the wideband E-model (G.107.1, R up to 129), so wideband
//! codecs get no credit for their bandwidth; echo, noise and loudness terms
//! other than their G.107 defaults.
//!
//! Simplifications, each the usual one for VoIP monitoring:
//! - `Ro − Is` at G.107 default values is 93.2, and `A` is 0.
//! - `Id` uses Cole & Rosenbluth's fit of G.107 at default parameters
//!   (talker echo well cancelled): `Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)`,
//!   `d` the one-way mouth-to-ear delay in ms (network + jitter buffer +
//!   packetisation), `H` the step function.
//!
//! Codec values (`Ie`, `Bpl`):
//! - G.711 with packet-loss concealment (G.711 Appendix I): 0, 25.1;
//!   without concealment: 0, 4.3 (G.113 Appendix I).
//! - G.729A (+VAD): 11, 19.0 (G.113 Appendix I).
//! - G.722: G.113 gives G.722 values only on the wideband scale; on this
//!   narrowband scale we take 0 and, provisionally, Bpl 20.0 (below
//!   G.711+PLC, since its concealment is less well characterised).
//! - Opus: no ITU-T values exist; we take 0 and 25.1, i.e. credit its
//!   concealment as G.711 Appendix I's and give nothing for in-band FEC.
//!   Conservative: measured Opus quality under loss is at least this good.
//! - `Custom` for anything else.

use std::time::Duration;

/// `Ro − Is` with every G.107 parameter at its default value.
pub const R_DEFAULT: f64 = 93.2;

/// A codec as the E-model sees it: equipment impairment and robustness.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum QualityCodec {
    /// G.711 with packet-loss concealment.
    G711,
    /// G.711 without concealment (silence or repeat on loss).
    G711NoPlc,
    /// G.722 (scored on the narrowband scale).
    G722,
    /// G.729A.
    G729,
    /// Opus (values chosen here, see the module docs).
    Opus,
    /// Explicit `Ie` and `Bpl`.
    Custom {
        /// Equipment impairment factor.
        ie: f64,
        /// Packet-loss robustness factor.
        bpl: f64,
    },
}

impl QualityCodec {
    /// `(Ie, Bpl)`.
    pub fn factors(self) -> (f64, f64) {
        match self {
            Self::G711 | Self::Opus => (0.0, 25.1),
            Self::G711NoPlc => (0.0, 4.3),
            Self::G722 => (0.0, 20.0),
            Self::G729 => (11.0, 19.0),
            Self::Custom { ie, bpl } => (ie, bpl),
        }
    }
}

/// Delay impairment `Id` for a one-way mouth-to-ear delay.
pub fn delay_impairment(one_way: Duration) -> f64 {
    let d = one_way.as_secs_f64() * 1000.0;
    let knee = 177.3;
    0.024 * d + if d > knee { 0.11 * (d - knee) } else { 0.0 }
}

/// G.107 `Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl)`, with
/// `Ppl` in percent. A burst ratio below 1 (or not finite) is taken as 1,
/// random loss.
pub fn effective_impairment(codec: QualityCodec, loss_ratio: f64, burst_ratio: f64) -> f64 {
    let (ie, bpl) = codec.factors();
    let ppl = if loss_ratio.is_finite() { loss_ratio.clamp(0.0, 1.0) * 100.0 } else { 0.0 };
    let burst = if burst_ratio.is_finite() { burst_ratio.max(1.0) } else { 1.0 };
    if ppl == 0.0 {
        return ie;
    }
    ie + (95.0 - ie) * ppl / (ppl / burst + bpl)
}

/// Transmission rating `R` (0–100).
pub fn r_factor(codec: QualityCodec, one_way_delay: Duration, loss_ratio: f64, burst_ratio: f64) -> f64 {
    let r = R_DEFAULT - delay_impairment(one_way_delay) - effective_impairment(codec, loss_ratio, burst_ratio);
    r.clamp(0.0, 100.0)
}

/// G.107 Annex B: estimated conversational MOS (1–4.5) from `R`.
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        // The cubic dips just below 1 for R under about 6.5.
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).max(1.0)
    }
}

/// MOS for a codec at a one-way delay, loss ratio (0–1) and burst ratio.
pub fn mos(codec: QualityCodec, one_way_delay: Duration, loss_ratio: f64, burst_ratio: f64) -> f64 {
    mos_from_r(r_factor(codec, one_way_delay, loss_ratio, burst_ratio))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn known_points() {
        assert!((mos_from_r(93.2) - 4.41).abs() < 0.005, "{}", mos_from_r(93.2));
        assert!((mos_from_r(50.0) - 2.58).abs() < 0.01, "{}", mos_from_r(50.0));
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
        let clean = mos(QualityCodec::G711, MS(50), 0.0, 1.0);
        assert!((clean - 4.4).abs() < 0.03, "{clean}");
        assert!((r_factor(QualityCodec::G711, MS(50), 0.0, 1.0) - 92.0).abs() < 1e-9);
        // G.729A: Ie 11 → R 81 at 50 ms, MOS ≈ 4.07.
        let g729 = mos(QualityCodec::G729, MS(50), 0.0, 1.0);
        assert!((g729 - 4.07).abs() < 0.02, "{g729}");
    }

    #[test]
    fn loss_follows_ie_eff() {
        // 1 % random loss with Bpl 25.1: Ie,eff = 95 / 26.1 = 3.64.
        assert!((effective_impairment(QualityCodec::G711, 0.01, 1.0) - 3.6398).abs() < 1e-3);
        // Without concealment the same loss costs far more.
        assert!(effective_impairment(QualityCodec::G711NoPlc, 0.01, 1.0) > 15.0);
        // Bursty loss is worse than random at the same rate: 5 % with
        // BurstR 3 gives 475 / 26.77 = 17.75 against 475 / 30.1 = 15.78.
        let bursty = effective_impairment(QualityCodec::G711, 0.05, 3.0);
        let random = effective_impairment(QualityCodec::G711, 0.05, 1.0);
        assert!((bursty - 17.745).abs() < 0.01 && (random - 15.781).abs() < 0.01, "{bursty} {random}");
        // 100 % loss approaches 95.
        assert!(effective_impairment(QualityCodec::G711, 1.0, 1.0) > 75.0);
    }

    #[test]
    fn delay_knee() {
        assert!((delay_impairment(MS(100)) - 2.4).abs() < 1e-9);
        assert!((delay_impairment(MS(300)) - (7.2 + 0.11 * 122.7)).abs() < 1e-9);
        assert!(mos(QualityCodec::G711, MS(400), 0.0, 1.0) < 3.9);
    }

    #[test]
    fn monotonic_in_loss_and_delay() {
        for codec in [QualityCodec::G711, QualityCodec::G722, QualityCodec::G729, QualityCodec::Opus, QualityCodec::G711NoPlc] {
            let mut last = f64::INFINITY;
            for pct in 0..=40 {
                let m = mos(codec, MS(80), f64::from(pct) / 100.0, 1.0);
                assert!(m < last || (m == 1.0 && last == 1.0), "{codec:?} {pct}%: {m} !< {last}");
                last = m;
            }
            let mut last = f64::INFINITY;
            for d in (0..=600).step_by(10) {
                let m = mos(codec, MS(d), 0.02, 1.5);
                assert!(m < last || (m == 1.0 && last == 1.0), "{codec:?} {d} ms");
                last = m;
            }
        }
    }

    #[test]
    fn nonsense_inputs_stay_in_range() {
        for (loss, burst) in [(f64::NAN, 1.0), (-1.0, 1.0), (2.0, 0.0), (0.1, f64::INFINITY)] {
            let m = mos(QualityCodec::Opus, MS(20), loss, burst);
            assert!((1.0..=4.5).contains(&m), "{m}");
        }
    }
}
