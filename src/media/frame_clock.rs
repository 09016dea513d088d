//! The clock a decoding data path (transcoder, endpoint) runs on: one tick per frame of
//! audio it makes, driven by the `now` its worker passes in.

use std::time::{Duration, Instant};

/// How many ticks one wake-up may run before the clock gives up on catching up.
const MAX_BURST: u8 = 11;
/// How far behind (in periods) the clock may fall before it jumps to the present.
const MAX_LAG: u32 = 10;

#[derive(Debug)]
pub(crate) struct FrameClock {
    period: Duration,
    next: Option<Instant>,
    burst: u8,
}

impl FrameClock {
    /// A stopped clock; [`FrameClock::start`] sets it going.
    pub(crate) fn new(period: Duration) -> Self {
        FrameClock {
            period,
            next: None,
            burst: 0,
        }
    }

    pub(crate) fn period(&self) -> Duration {
        self.period
    }

    /// Sets the first tick at `first` unless the clock is already running.
    pub(crate) fn start(&mut self, first: Instant) {
        if self.next.is_none() {
            self.next = Some(first);
        }
    }

    /// When the next tick is due.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// The next tick due by `now`, advancing the clock; `None` when no more are. Call it
    /// until `None`: a worker that stalled gets at most [`MAX_BURST`] ticks, then a clock
    /// still more than [`MAX_LAG`] periods behind restarts one period from `now`, because
    /// replaying a backlog would only send a burst of audio the far end drops as late.
    pub(crate) fn due(&mut self, now: Instant) -> Option<Instant> {
        if let Some(at) = self.next
            && at <= now
            && self.burst < MAX_BURST
        {
            self.burst += 1;
            self.next = Some(at + self.period);
            return Some(at);
        }
        self.burst = 0;
        if let Some(at) = self.next
            && at + self.period * MAX_LAG < now
        {
            self.next = Some(now + self.period);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The origin of each test's virtual time (read once; time then only moves by hand).
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    /// Runs every due tick, as a worker does; how late each ran.
    fn drain(c: &mut FrameClock, now: Instant) -> Vec<Duration> {
        std::iter::from_fn(|| c.due(now)).map(|at| now - at).collect()
    }

    #[test]
    fn stopped_until_started_then_ticks_once_per_period() {
        let t0 = origin();
        let mut c = FrameClock::new(20 * MS);
        assert_eq!(c.due(t0 + 100 * MS), None);
        c.start(t0);
        c.start(t0 + 5 * MS);
        assert_eq!(c.next(), Some(t0), "a second start does not move a running clock");
        assert_eq!(c.due(t0), Some(t0));
        assert_eq!(c.due(t0), None);
        assert_eq!(c.due(t0 + 19 * MS), None);
        assert_eq!(c.due(t0 + 20 * MS), Some(t0 + 20 * MS));
        assert_eq!(c.next(), Some(t0 + 40 * MS));
    }

    #[test]
    fn a_short_delay_catches_up_tick_by_tick() {
        let t0 = origin();
        let mut c = FrameClock::new(20 * MS);
        c.start(t0);
        // Woken 70 ms late: the ticks at 0, 20, 40, 60 all run, at their own times.
        let lags = drain(&mut c, t0 + 70 * MS);
        assert_eq!(lags, [70 * MS, 50 * MS, 30 * MS, 10 * MS]);
        assert_eq!(c.next(), Some(t0 + 80 * MS));
    }

    #[test]
    fn a_stall_runs_a_bounded_burst_then_jumps_to_the_present() {
        let t0 = origin();
        let mut c = FrameClock::new(20 * MS);
        c.start(t0);
        let now = t0 + 1000 * MS;
        assert_eq!(drain(&mut c, now).len(), usize::from(MAX_BURST));
        assert_eq!(c.next(), Some(now + 20 * MS), "no backlog of 39 more ticks");
        // And the burst allowance is back for the next wake-up.
        assert_eq!(drain(&mut c, now + 20 * MS).len(), 1);
    }

    #[test]
    fn a_lag_within_bounds_is_kept_for_the_next_wake_up() {
        let t0 = origin();
        let mut c = FrameClock::new(20 * MS);
        c.start(t0);
        // 15 periods behind: 11 ticks now, the remaining 4 are 1..=4 periods old, within MAX_LAG.
        let now = t0 + 300 * MS;
        assert_eq!(drain(&mut c, now).len(), 11);
        assert_eq!(c.next(), Some(t0 + 220 * MS));
        assert_eq!(drain(&mut c, now).len(), 5);
    }
}
