//! The two sub-band ADPCM coders of ITU-T G.722 (09/2012) §3–§4 and §6 (blocks
//! 1L–4L and 1H–4H), in the Recommendation's fixed-point arithmetic so that the
//! output is bit-exact with Appendix II's digital test sequences.
//!
//! Only mode 1 (64 kbit/s: six lower-band bits) is implemented; modes 2 and 3
//! differ only in the decoder's inverse quantiser and are out of scope.

/// Decision levels of the 6-bit lower-band quantiser (Table 12/G.722, scaled by
/// 2^12 relative to the step size).
const Q6: [i32; 31] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
];

/// Codeword for a negative difference falling in interval `mil` (Table 12/G.722).
const ILN: [u8; 31] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4,
];

/// Codeword for a non-negative difference falling in interval `mil`.
const ILP: [u8; 31] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32,
];

/// 4-bit inverse quantiser output levels (Table 14/G.722, `QQ4` with signs),
/// indexed by the codeword's top four bits; feeds the predictor at every rate.
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];

/// 6-bit inverse quantiser output levels (Table 12/G.722, `QQ6` with signs),
/// indexed by the full lower-band codeword; only the decoder's output uses it.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];

/// Maps the 4-bit lower code to the magnitude class used by `WL` (Table 14).
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];

/// Log scale-factor multipliers of the lower band (Table 14/G.722, `WL`).
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];

/// Inverse-log table shared by both bands (Table 15/G.722, `ILB`).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];

/// 2-bit inverse quantiser output levels of the upper band (Table 13/G.722).
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];

/// Maps the 2-bit upper code to the magnitude class used by `WH`.
const RH2: [usize; 4] = [2, 1, 2, 1];

/// Log scale-factor multipliers of the upper band (Table 13/G.722, `WH`).
const WH: [i32; 3] = [0, -214, 798];

/// Upper-band decision level (Table 13/G.722, `Q2`, scaled by 2^12).
const Q2: i32 = 564;

/// Upper bound of the lower band's log scale factor `NBL`.
const NBL_MAX: i32 = 18432;
/// Upper bound of the upper band's log scale factor `NBH`.
const NBH_MAX: i32 = 22528;

/// Decoder output limits of block 5 (`LIMIT`): the sub-band signals are 15-bit.
const OUT_MIN: i32 = -16384;
const OUT_MAX: i32 = 16383;

/// Saturates to the 16-bit range the Recommendation's arithmetic works in.
fn sat(x: i32) -> i32 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// The sign test of the Recommendation: zero counts as positive.
fn neg(x: i32) -> bool {
    x < 0
}

/// State of one sub-band: block 4's pole-zero predictor plus the block 3
/// scale factor. The lower and upper bands share this shape; only their
/// quantisers and scale-factor constants differ.
#[derive(Debug, Clone)]
pub(crate) struct Band {
    /// Predicted signal `S` for the current sample.
    s: i32,
    /// Zero-section output `SZ`.
    sz: i32,
    /// Reconstructed signal `R`, delayed by 1 and 2 samples.
    r: [i32; 2],
    /// Partially reconstructed signal `P`, delayed by 1 and 2.
    p: [i32; 2],
    /// Pole coefficients `A1`, `A2`.
    a: [i32; 2],
    /// Zero coefficients `B1`..`B6`.
    b: [i32; 6],
    /// Quantised differences `D`, delayed by 1..6.
    d: [i32; 6],
    /// Log scale factor `NB`.
    nb: i32,
    /// Linear scale factor `DET`.
    det: i32,
}

impl Band {
    /// The reset state of §6.2.1 for the lower band (`DETL` = 32).
    pub(crate) fn lower() -> Self {
        Self::with_det(32)
    }

    /// The reset state for the upper band (`DETH` = 8).
    pub(crate) fn upper() -> Self {
        Self::with_det(8)
    }

    fn with_det(det: i32) -> Self {
        Band {
            s: 0,
            sz: 0,
            r: [0; 2],
            p: [0; 2],
            a: [0; 2],
            b: [0; 6],
            d: [0; 6],
            nb: 0,
            det,
        }
    }

    /// Block 1L + 2L: lower-band difference and 6-bit quantisation, then the
    /// state update of blocks 3L and 4L. Returns the codeword `IL`.
    pub(crate) fn encode_lower(&mut self, xl: i32) -> u8 {
        let il = self.quantize_lower(xl);
        self.update_lower(il);
        il
    }

    /// Blocks 1L + 2L alone: the codeword for `xl` without adapting.
    fn quantize_lower(&self, xl: i32) -> u8 {
        let el = sat(xl - self.s);
        // One's-complement magnitude, as the Recommendation's QUANTL takes it.
        let wd = if el >= 0 { el } else { -(el + 1) };
        let mut mil = 1;
        while mil < 30 && wd >= (Q6[mil] * self.det) >> 12 {
            mil += 1;
        }
        if el < 0 { ILN[mil] } else { ILP[mil] }
    }

    /// Lower-band decoder at 64 kbit/s: returns `RL`, the reconstructed signal.
    pub(crate) fn decode_lower(&mut self, il: u8) -> i32 {
        let il = usize::from(il & 0x3F);
        let dl = (self.det * QM6[il]) >> 15;
        let rl = (self.s + dl).clamp(OUT_MIN, OUT_MAX);
        // The predictor only ever sees the 4-bit truncated code (§3.3), which
        // is what keeps encoder and decoder in step at all three rates.
        self.update_lower(il as u8);
        rl
    }

    /// Blocks 3L and 4L driven by the codeword's top four bits.
    fn update_lower(&mut self, il: u8) {
        let ril = usize::from(il >> 2);
        let dlt = (self.det * QM4[ril]) >> 15;
        // LOGSCL: leaky log-domain integration of the code magnitude.
        let nb = ((self.nb * 127) >> 7) + WL[RL42[ril]];
        self.nb = nb.clamp(0, NBL_MAX);
        self.det = scale(self.nb, 8);
        self.predict(dlt);
    }

    /// Blocks 1H + 2H: upper-band difference and 2-bit quantisation, then the
    /// state update of blocks 3H and 4H. Returns the codeword `IH`.
    pub(crate) fn encode_upper(&mut self, xh: i32) -> u8 {
        let ih = self.quantize_upper(xh);
        self.update_upper(ih);
        ih
    }

    /// Blocks 1H + 2H alone: the codeword for `xh` without adapting.
    fn quantize_upper(&self, xh: i32) -> u8 {
        let eh = sat(xh - self.s);
        let wd = if eh >= 0 { eh } else { -(eh + 1) };
        let big = wd >= (Q2 * self.det) >> 12;
        match (eh < 0, big) {
            (true, false) => 1,
            (true, true) => 0,
            (false, false) => 3,
            (false, true) => 2,
        }
    }

    /// Upper-band decoder: returns `RH`.
    pub(crate) fn decode_upper(&mut self, ih: u8) -> i32 {
        let ih = ih & 0x03;
        let dh = (self.det * QM2[usize::from(ih)]) >> 15;
        let rh = (self.s + dh).clamp(OUT_MIN, OUT_MAX);
        self.update_upper(ih);
        rh
    }

    /// Blocks 3H and 4H.
    fn update_upper(&mut self, ih: u8) {
        let ih = usize::from(ih & 0x03);
        let dh = (self.det * QM2[ih]) >> 15;
        let nb = ((self.nb * 127) >> 7) + WH[RH2[ih]];
        self.nb = nb.clamp(0, NBH_MAX);
        self.det = scale(self.nb, 10);
        self.predict(dh);
    }

    /// Block 4: adapts the pole-zero predictor to the quantised difference
    /// `d` and computes the prediction for the next sample.
    fn predict(&mut self, d: i32) {
        // RECONS and PARREC.
        let r0 = sat(self.s + d);
        let p0 = sat(self.sz + d);

        // UPPOL2: second pole coefficient, sign-sign gradient with leakage.
        let wd1 = sat(self.a[0] * 4);
        let wd2 = if neg(p0) == neg(self.p[0]) { -wd1 } else { wd1 }.min(32767);
        let wd3 = if neg(p0) == neg(self.p[1]) { 128 } else { -128 };
        let a2 = ((wd2 >> 7) + wd3 + ((self.a[1] * 32512) >> 15)).clamp(-12288, 12288);

        // UPPOL1: first pole coefficient, kept inside the stability triangle.
        let step = if neg(p0) == neg(self.p[0]) { 192 } else { -192 };
        let a1 = sat(step + ((self.a[0] * 32640) >> 15));
        let lim = sat(15360 - a2);
        let a1 = a1.clamp(-lim, lim);

        // UPZERO: the six zero coefficients.
        let gain = if d == 0 { 0 } else { 128 };
        for (b, &di) in self.b.iter_mut().zip(self.d.iter()) {
            let g = if neg(d) == neg(di) { gain } else { -gain };
            *b = sat(g + ((*b * 32640) >> 15));
        }

        // DELAYA.
        self.d.copy_within(0..5, 1);
        self.d[0] = d;
        self.r = [r0, self.r[0]];
        self.p = [p0, self.p[0]];
        self.a = [a1, a2];

        // FILTEP, FILTEZ, PREDIC.
        let sp = sat(
            ((self.a[0] * sat(self.r[0] * 2)) >> 15) + ((self.a[1] * sat(self.r[1] * 2)) >> 15)
        );
        let sz: i32 = self
            .b
            .iter()
            .zip(self.d.iter())
            .map(|(&b, &d)| (b * sat(d * 2)) >> 15)
            .sum();
        self.sz = sat(sz);
        self.s = sat(sp + self.sz);
    }
}

/// SCALEL / SCALEH: log-to-linear conversion of the scale factor; `shift` is
/// 8 for the lower band and 10 for the upper one.
fn scale(nb: i32, shift: i32) -> i32 {
    // `nb` is clamped to 0..=22528, so the index is 0..=31 and the shift
    // amount stays within -1..=10.
    let frac = ILB[((nb >> 6) & 31) as usize];
    let exp = shift - (nb >> 11);
    let wd = if exp < 0 { frac << -exp } else { frac >> exp };
    wd << 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses an Appendix II ASCII test sequence: comment lines, then lines of
    /// sixteen 4-digit hex words followed by a 2-digit checksum.
    fn read_sequence(name: &str) -> Option<Vec<u16>> {
        let path = format!("{}/tests/data/g722/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).ok()?;
        let mut words = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with("/*") && !l.trim().is_empty())
        {
            for i in 0..16 {
                let Some(hex) = line.get(i * 4..i * 4 + 4) else {
                    break;
                };
                words.push(u16::from_str_radix(hex, 16).expect("test data is hex"));
            }
        }
        Some(words)
    }

    /// The span of data words (low bit clear) between the reset words.
    fn data_span(words: &[u16]) -> std::ops::Range<usize> {
        let start = words.iter().position(|w| w & 1 == 0).unwrap_or(words.len());
        let end = words[start..]
            .iter()
            .position(|w| w & 1 == 1)
            .map_or(words.len(), |n| start + n);
        start..end
    }

    /// Appendix II configuration 1 (QMF bypassed): the same 15-bit input
    /// drives both sub-band encoders; the code is in the high byte.
    fn check_encoder(input: &str, codes: &str) -> usize {
        let (Some(x), Some(c)) = (read_sequence(input), read_sequence(codes)) else {
            panic!("missing test sequence {input} or {codes}");
        };
        let span = data_span(&x);
        let (mut lo, mut hi) = (Band::lower(), Band::upper());
        let mut checked = 0;
        for i in span {
            let Some(&want) = c.get(i) else { break };
            let xin = i32::from(x[i] as i16 >> 1);
            let code = (hi.encode_upper(xin) << 6) | lo.encode_lower(xin);
            assert_eq!(u16::from(code), want >> 8, "code {checked} of {input}");
            checked += 1;
        }
        checked
    }

    /// Appendix II configuration 2: codes in, 15-bit sub-band outputs (shifted
    /// left by one) compared with the mode-1 lower and the upper references.
    fn check_decoder(codes: &str, lower: &str, upper: &str) -> usize {
        let (Some(c), Some(l), Some(h)) = (
            read_sequence(codes),
            read_sequence(lower),
            read_sequence(upper),
        ) else {
            panic!("missing test sequence {codes}, {lower} or {upper}");
        };
        let span = data_span(&c);
        let (mut lo, mut hi) = (Band::lower(), Band::upper());
        let mut checked = 0;
        for i in span {
            let (Some(&wl), Some(&wh)) = (l.get(i), h.get(i)) else {
                break;
            };
            let code = (c[i] >> 8) as u8;
            let rl = lo.decode_lower(code & 0x3F);
            let rh = hi.decode_upper(code >> 6);
            assert_eq!((rl << 1) as u16, wl, "lower sample {checked} of {codes}");
            assert_eq!((rh << 1) as u16, wh, "upper sample {checked} of {codes}");
            checked += 1;
        }
        checked
    }

    #[test]
    fn appendix_ii_encoder_sequence_t1c1() {
        assert_eq!(check_encoder("T1C1.XMT", "T2R1.COD"), 512);
    }

    #[test]
    fn appendix_ii_decoder_sequence_t2r1() {
        assert_eq!(check_decoder("T2R1.COD", "T3L1.RC1", "T3H1.RC0"), 512);
    }

    #[test]
    fn appendix_ii_decoder_sequence_t1d3() {
        assert_eq!(check_decoder("T1D3.COD", "T3L3.RC1", "T3H3.RC0"), 512);
    }

    #[test]
    fn scale_factor_stays_in_range() {
        let mut lo = Band::lower();
        let mut hi = Band::upper();
        for i in 0..20_000 {
            let x = if i % 2 == 0 { 16383 } else { -16384 };
            lo.encode_lower(x);
            hi.encode_upper(x);
            assert!((0..=NBL_MAX).contains(&lo.nb) && (0..=NBH_MAX).contains(&hi.nb));
            assert!(lo.a[1].abs() <= 12288 && hi.a[1].abs() <= 12288);
            assert!(lo.a[0].abs() <= 15360 - lo.a[1] && hi.a[0].abs() <= 15360 - hi.a[1]);
        }
    }
}
