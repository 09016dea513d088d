//! Target-delay estimation from relative arrival delays (the idea of NetEq's
//! DelayManager; our own code).
//!
//! Each packet's *transit* is its arrival time minus its RTP timestamp in
//! seconds. Its *relative delay* is its transit minus the smallest transit of
//! the last [`WINDOW_US`]: how much later it came than the fastest recent
//! packet. Playing every packet at (fastest transit + T) after its timestamp
//! leaves exactly the packets with relative delay above T late, so the
//! target T is a high quantile of the relative delay.
//!
//! Relative delays go into a histogram whose mass decays by a forgetting
//! factor per packet, so old network conditions fade within seconds. Two
//! additions handle what a quantile alone does badly:
//! - a *peak detector*: delay spikes that recur within a few seconds hold the
//!   target at the spike height (a lone spike is left to the buffer's
//!   stall-and-catch-up instead: covering it would cost delay for the whole
//!   call);
//! - a *route-change shift*: when the window's smallest transit rises by a
//!   step (a slower path), the samples measured against the old fastest
//!   transit are shifted down, so the target does not stay inflated until the
//!   histogram forgets them.
//!
//! Sender clock drift moves transit slowly; the two-second window follows it.
//!
//! Cost per packet is O(1) in the histogram size: forgetting multiplies one
//! global scale instead of every bucket (buckets are stored divided by it,
//! renormalised when it gets small), the total mass is kept as a running sum,
//! and the quantile scan stops at the quantile (a few buckets on a calm
//! network). The window minimum is kept per [`WINDOW_SLICE_US`] of arrival
//! time, so the window is a fixed ring of slices rather than every packet.

use std::time::Duration;

/// Span over which the fastest transit is taken.
pub const WINDOW_US: i64 = 2_000_000;
/// Histogram resolution.
pub const BUCKET_US: i64 = 2_000;
/// Quantile of the relative delay the target covers.
pub const QUANTILE: f64 = 0.98;
/// Per-packet forgetting factor in the steady state (time constant about
/// 1/(1-f) = 333 packets, under 7 s of 20 ms packets).
pub const FORGET: f64 = 0.997;
/// A rise of the window minimum at least this large is a route change.
const ROUTE_STEP_US: i64 = 20_000;
/// A relative delay this much above the quantile target counts as a peak.
const PEAK_MIN_US: i64 = 80_000;
/// Weight of a peak sample in the histogram.
const PEAK_WEIGHT: f64 = 0.25;
/// Peaks further apart than this are unrelated.
const PEAK_PERIOD_US: i64 = 8_000_000;
/// Target while the histogram has too few samples to speak for the network.
const START_TARGET_US: i64 = 40_000;
/// Samples after which the histogram alone sets the target.
const START_SAMPLES: u64 = 50;
/// The window's resolution: its minimum is the minimum over the slices of
/// this much arrival time that the window covers (so the window spans 2 to
/// 2.1 s, never less).
pub const WINDOW_SLICE_US: i64 = 100_000;
/// Slices in the window ring: the newest slice and the 2 s before it.
const SLICES: usize = (WINDOW_US / WINDOW_SLICE_US) as usize + 1;
/// The global scale below which the stored buckets are renormalised (f32
/// buckets then hold at most about 1e15 times the real mass, far from
/// overflow, and 1/scale stays exact enough).
const RENORMALISE_BELOW: f64 = 1e-15;

/// Relative-delay histogram, transit window and peak detector.
#[derive(Debug, Clone)]
pub struct DelayEstimator {
    /// Bucket masses divided by `scale` (the real mass is `hist[i] * scale`);
    /// f32 is ample for a quantile at 2 ms resolution and halves the size.
    hist: Vec<f32>,
    /// Product of the forgetting factors since the last renormalisation.
    scale: f64,
    /// Sum of `hist` (stored units), kept as buckets change.
    total: f64,
    samples: u64,
    /// Smallest transit per slice of arrival time: `(slice, transit)`, at
    /// index `slice % SLICES`; a stale slice number means empty.
    window: [(i64, i64); SLICES],
    min_transit_us: Option<i64>,
    quantile_us: i64,
    last_peak_us: Option<i64>,
    peak_height_us: i64,
    peak_until_us: i64,
    min_us: i64,
    max_us: i64,
}

impl DelayEstimator {
    /// An estimator whose target stays within `min..=max`; allocates here only.
    pub fn new(min: Duration, max: Duration) -> Self {
        let max_us = duration_us(max).max(BUCKET_US);
        let buckets = (max_us / BUCKET_US) as usize + 1;
        DelayEstimator {
            hist: vec![0.0; buckets],
            scale: 1.0,
            total: 0.0,
            samples: 0,
            window: [(i64::MIN, 0); SLICES],
            min_transit_us: None,
            quantile_us: 0,
            last_peak_us: None,
            peak_height_us: 0,
            peak_until_us: 0,
            min_us: duration_us(min).min(max_us),
            max_us,
        }
    }

    /// Forgets everything (a new network path may follow).
    pub fn reset(&mut self) {
        self.hist.fill(0.0);
        self.scale = 1.0;
        self.total = 0.0;
        self.samples = 0;
        self.restart_window();
        self.quantile_us = 0;
        self.last_peak_us = None;
        self.peak_height_us = 0;
        self.peak_until_us = 0;
    }

    /// Forgets the transit window only: a new stream has a new timestamp
    /// origin, but the network's jitter is still what the histogram says.
    pub fn restart_window(&mut self) {
        self.window = [(i64::MIN, 0); SLICES];
        self.min_transit_us = None;
    }

    /// Records a packet that arrived at `arrival_us` whose first sample is
    /// `media_us` into the stream (both on the caller's microsecond axes).
    pub fn update(&mut self, arrival_us: i64, media_us: i64) {
        let transit = arrival_us - media_us;
        let before = self.min_transit_us;
        self.push_window(arrival_us, transit);
        let Some(min) = self.min_transit_us else {
            return;
        };
        if let Some(before) = before {
            if min - before >= ROUTE_STEP_US {
                // The fast packets of the old path left the window: what was
                // recorded since the step measured the step, not jitter.
                self.shift_down(min - before);
            }
        }
        let rel = (transit - min).max(0);
        // A peak enters the histogram at reduced weight: a lone spike must not
        // hold the target up for the next minute, while a rougher network
        // still shows in the quantile (and recurring peaks in the detector).
        let weight = if self.detect_peak(arrival_us, rel) {
            PEAK_WEIGHT
        } else {
            1.0
        };
        self.add_sample(rel, weight);
    }

    /// Smallest transit of the window (µs), if any packet arrived.
    pub fn min_transit_us(&self) -> Option<i64> {
        self.min_transit_us
    }

    /// The target relative delay (µs): the histogram quantile, raised to the
    /// height of recurring peaks, bounded by min and max.
    pub fn target_us(&self, now_us: i64) -> i64 {
        let mut t = self.quantile_us;
        if self.samples < START_SAMPLES {
            t = t.max(START_TARGET_US);
        }
        if now_us < self.peak_until_us {
            t = t.max(self.peak_height_us);
        }
        t.clamp(self.min_us, self.max_us)
    }

    fn push_window(&mut self, arrival_us: i64, transit: i64) {
        let slice = arrival_us.div_euclid(WINDOW_SLICE_US);
        let entry = &mut self.window[slice.rem_euclid(SLICES as i64) as usize];
        if entry.0 == slice {
            entry.1 = entry.1.min(transit);
        } else {
            *entry = (slice, transit);
        }
        // Expire by the newest arrival, not by the clock: across a silence
        // the last talkspurt's fastest packet is still the best reference.
        let oldest = slice - (SLICES as i64 - 1);
        let min = self
            .window
            .iter()
            .filter(|(s, _)| (oldest..=slice).contains(s))
            .map(|&(_, t)| t)
            .min()
            .unwrap_or(transit);
        self.min_transit_us = Some(min);
    }

    fn add_sample(&mut self, rel_us: i64, weight: f64) {
        self.samples += 1;
        // Plain averaging at first, then exponential forgetting.
        let f = 1.0 - (1.0 - FORGET.min(1.0 - 1.0 / self.samples as f64)) * weight;
        let last = self.hist.len() - 1;
        let bucket = ((rel_us / BUCKET_US) as usize).min(last);
        // Every real mass times f: the scale takes it; the new mass 1 - f
        // is stored divided by the new scale.
        self.scale *= f;
        if self.scale < RENORMALISE_BELOW || f == 0.0 {
            self.renormalise();
        }
        let add = (1.0 - f) / self.scale.max(f64::MIN_POSITIVE);
        self.hist[bucket] += add as f32;
        self.total += add;
        self.quantile_us = self.quantile();
    }

    /// Folds the scale into the buckets (`scale` back to 1).
    fn renormalise(&mut self) {
        let scale = self.scale;
        for h in &mut self.hist {
            *h = (f64::from(*h) * scale) as f32;
        }
        self.scale = 1.0;
        self.total = self.hist.iter().map(|&h| f64::from(h)).sum();
    }

    fn quantile(&self) -> i64 {
        let want = self.total * QUANTILE;
        let mut acc = 0.0;
        for (i, &h) in self.hist.iter().enumerate() {
            acc += f64::from(h);
            if acc >= want {
                return (i as i64 + 1) * BUCKET_US;
            }
        }
        self.max_us
    }

    fn shift_down(&mut self, by_us: i64) {
        let k = (by_us / BUCKET_US) as usize;
        if k == 0 {
            return;
        }
        let n = self.hist.len();
        let k = k.min(n - 1);
        let low: f64 = self.hist[..=k].iter().map(|&h| f64::from(h)).sum();
        self.hist.copy_within(k + 1.., 1);
        self.hist[0] = low as f32;
        self.hist[n - k..].fill(0.0);
        self.total = self.hist.iter().map(|&h| f64::from(h)).sum();
        self.quantile_us = self.quantile();
    }

    /// Whether `rel_us` is a peak; tracks recurring peaks.
    fn detect_peak(&mut self, arrival_us: i64, rel_us: i64) -> bool {
        if self.samples < START_SAMPLES
            || rel_us < self.quantile_us + PEAK_MIN_US.max(self.quantile_us)
        {
            return false;
        }
        if let Some(last) = self.last_peak_us {
            let gap = arrival_us - last;
            // Packets of one spike arrive together; count a spike once.
            if gap < 200_000 {
                self.peak_height_us = self.peak_height_us.max(rel_us);
                return true;
            }
            if gap <= PEAK_PERIOD_US {
                if arrival_us >= self.peak_until_us {
                    self.peak_height_us = rel_us;
                } else {
                    self.peak_height_us = self.peak_height_us.max(rel_us);
                }
                self.peak_until_us = arrival_us + 2 * gap;
            }
        }
        self.last_peak_us = Some(arrival_us);
        true
    }
}

fn duration_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> DelayEstimator {
        DelayEstimator::new(Duration::ZERO, Duration::from_secs(1))
    }

    #[test]
    fn steady_stream_needs_no_delay() {
        let mut e = est();
        for i in 0..500 {
            e.update(i * 20_000 + 50_000, i * 20_000);
        }
        assert!(e.target_us(10_000_000) <= BUCKET_US);
    }

    #[test]
    fn target_covers_the_quantile_and_forgets() {
        let mut e = est();
        // Every 10th packet 40 ms late: 10 % mass at 40 ms, above 3 %.
        for i in 0..1000 {
            let extra = if i % 10 == 0 { 40_000 } else { 0 };
            e.update(i * 20_000 + 50_000 + extra, i * 20_000);
        }
        let t = e.target_us(20_000_000);
        assert!((40_000..=44_000).contains(&t), "target {t}");
        // Calm network for 14 s: the 40 ms mass decays below 2 %.
        for i in 1000..1700 {
            e.update(i * 20_000 + 50_000, i * 20_000);
        }
        assert!(
            e.target_us(40_000_000) <= 4_000,
            "{}",
            e.target_us(40_000_000)
        );
    }

    #[test]
    fn route_change_does_not_inflate_target() {
        let mut e = est();
        for i in 0..500 {
            e.update(i * 20_000 + 50_000, i * 20_000);
        }
        // Path becomes 80 ms slower; after the window passes the step is base.
        for i in 500..700 {
            e.update(i * 20_000 + 130_000, i * 20_000);
        }
        assert!(
            e.target_us(14_000_000) <= 4_000,
            "{}",
            e.target_us(14_000_000)
        );
    }

    #[test]
    fn recurring_spikes_raise_target_lone_spike_does_not() {
        let mut e = est();
        let mut t_us = 0;
        for i in 0..400 {
            let extra = if i == 200 { 300_000 } else { 0 };
            t_us = i * 20_000;
            e.update(t_us + 50_000 + extra, t_us);
        }
        assert!(e.target_us(t_us) < 50_000);
        for i in 400..1000 {
            // A 250 ms spike every 4 s.
            let extra = if i % 200 == 0 { 250_000 } else { 0 };
            t_us = i * 20_000;
            e.update(t_us + 50_000 + extra, t_us);
        }
        assert!(e.target_us(t_us) >= 250_000, "{}", e.target_us(t_us));
    }
}
