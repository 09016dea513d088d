//! Rate-limited logging for per-packet failures, so a flood of bad input or
//! a dead route cannot turn the log into the bottleneck.

use std::time::{Duration, Instant};

/// Lets `burst` events through per `window`, then counts the rest and reports
/// how many were suppressed with the next event let through.
#[derive(Debug)]
pub(crate) struct RateLimit {
    window: Duration,
    burst: u32,
    window_start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    /// Ten events every ten seconds.
    pub(crate) const fn new() -> RateLimit {
        RateLimit::with(Duration::from_secs(10), 10)
    }

    pub(crate) const fn with(window: Duration, burst: u32) -> RateLimit {
        RateLimit {
            window,
            burst,
            window_start: None,
            used: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)` when this event should be logged, `n` being how many were
    /// suppressed since the last one logged; `None` to stay quiet.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= self.window);
        if fresh {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_counts() {
        let t0 = crate::rt::clock::Clock::now();
        let mut r = RateLimit::with(Duration::from_secs(1), 2);
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0), None);
        assert_eq!(r.allow(t0), None);
        assert_eq!(r.allow(t0 + Duration::from_secs(1)), Some(2));
    }
}
