//! The per-API-key rate limiter: at most `max_rps` admitted requests in any sliding second.
//!
//! In: the API key of a request and its arrival instant. Out: admit or reject (429).
//! Rejected requests are not counted, so a client that backs off is not punished twice.
//! Requests spaced evenly at `1 / max_rps` are never rejected, even with some network jitter:
//! the window is one second minus [`JITTER_SHARE`] of the even spacing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The share of the even spacing (`1 s / max_rps`) forgiven as arrival jitter: at 5 requests a
/// second, a sixth request is rejected when it arrives within 950 ms of the first.
const JITTER_SHARE: u32 = 4;

/// Forget idle keys once this many are tracked.
const MAX_IDLE_KEYS: usize = 1_024;

/// Sliding-window counters, one per API key.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    max: usize,
    window: Duration,
    recent: Mutex<HashMap<Vec<u8>, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// A limiter admitting `max_rps` requests per second per key; 0 admits everything.
    pub(crate) fn new(max_rps: u32) -> Self {
        let second = Duration::from_secs(1);
        let spacing = second / max_rps.max(1);
        RateLimiter {
            max: max_rps as usize,
            window: second.saturating_sub(spacing / JITTER_SHARE),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Admits (and counts) a request of `key` arriving at `now`, or rejects it uncounted.
    pub(crate) fn admit(&self, key: &[u8], now: Instant) -> bool {
        if self.max == 0 {
            return true;
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() > MAX_IDLE_KEYS {
            let window = self.window;
            recent.retain(|_, times| times.back().is_some_and(|last| now.saturating_duration_since(*last) < window));
        }
        let times = recent.entry(key.to_vec()).or_default();
        while times.front().is_some_and(|first| now.saturating_duration_since(*first) >= self.window) {
            times.pop_front();
        }
        if times.len() >= self.max {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_spacing_is_always_admitted() {
        let limiter = RateLimiter::new(5);
        let t0 = Instant::now();
        for i in 0..50u32 {
            // Up to 40 ms early or late: arrival jitter.
            let jitter = if i % 2 == 0 { Duration::from_millis(40) } else { Duration::ZERO };
            let at = t0 + Duration::from_millis(200) * i + jitter;
            assert!(limiter.admit(b"key", at), "request {i}");
        }
    }

    #[test]
    fn a_burst_is_cut_at_max_rps_and_rejections_do_not_count() {
        let limiter = RateLimiter::new(5);
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let admitted: Vec<bool> = [0, 1, 2, 3, 4, 5, 6].iter().map(|i| limiter.admit(b"key", ms(*i))).collect();
        assert_eq!(admitted, [true, true, true, true, true, false, false]);
        // Another key has its own budget.
        assert!(limiter.admit(b"other", t0));

        let limiter = RateLimiter::new(5);
        for i in 0..5 {
            assert!(limiter.admit(b"key", ms(100 * i)));
        }
        assert!(!limiter.admit(b"key", ms(500)));
        assert!(!limiter.admit(b"key", ms(940)));
        // The first request has left the (950 ms) window; the rejected ones never counted.
        assert!(limiter.admit(b"key", ms(950)));
        assert!(!limiter.admit(b"key", ms(960)));
    }

    #[test]
    fn six_within_a_second_are_too_many() {
        let limiter = RateLimiter::new(5);
        let t0 = Instant::now();
        for i in 0..5u64 {
            assert!(limiter.admit(b"k", t0 + Duration::from_millis(150 * i)));
        }
        assert!(!limiter.admit(b"k", t0 + Duration::from_millis(900)));
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::new(0);
        let t0 = Instant::now();
        assert!((0..100).all(|_| limiter.admit(b"k", t0)));
    }
}
