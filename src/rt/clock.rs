//! The only place in the crate that reads a clock. The cores take `now` as an
//! argument; the edge reads it here and passes it in, which keeps every core
//! deterministic under test.

#![allow(clippy::disallowed_methods)] // the one place clocks are read

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Clock reads for the edge.
#[derive(Debug, Clone, Copy)]
pub struct Clock;

impl Clock {
    /// Monotonic time for the cores and timers.
    ///
    /// Read through tokio so that, inside a runtime whose clock is paused
    /// (`start_paused`, test-util), the cores see the same time the edge's
    /// `sleep_until` uses; outside such a runtime this is `Instant::now()`.
    pub fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// A timer future that completes at `deadline`; move it with
    /// [`Clock::reset`]. (Timers read the clock too, so they live here.)
    pub fn sleep_until(deadline: Instant) -> tokio::time::Sleep {
        tokio::time::sleep_until(deadline.into())
    }

    /// A timer future that completes `d` from now.
    pub fn sleep(d: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(d)
    }

    /// Moves a pinned timer to `deadline`.
    pub fn reset(sleep: std::pin::Pin<&mut tokio::time::Sleep>, deadline: Instant) {
        sleep.reset(deadline.into());
    }

    /// Wall-clock time, for expiries and records kept across restarts.
    pub fn wall() -> SystemTime {
        SystemTime::now()
    }

    /// Wall-clock seconds since the Unix epoch (0 if the clock is before 1970).
    pub fn unix_secs() -> u64 {
        Self::since_epoch().as_secs()
    }

    /// Wall-clock milliseconds since the Unix epoch (0 if the clock is before 1970).
    pub fn unix_millis() -> u64 {
        u64::try_from(Self::since_epoch().as_millis()).unwrap_or(u64::MAX)
    }

    fn since_epoch() -> Duration {
        Self::wall()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}
