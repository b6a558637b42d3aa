//! One request budget per API key.
//!
//! The vendor's gateway (Apigee) enforces 5 requests/second with spike arrest, which rejects
//! bursts: 5/s really means one request per 200 ms. [`RateLimiter`] therefore spaces requests
//! evenly instead of handing out bursts, and measures the spacing from the moment each permit is
//! actually granted, so a late wake-up never squeezes two requests together.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The vendor's limit per API key.
pub const DEFAULT_MAX_RPS: u32 = 5;

/// Added to every interval so that the time a request spends between the permit and the
/// gateway's clock (task scheduling, connection write) cannot make two requests look closer than
/// `1/max_rps` to a sliding-window counter. 10 ms on 200 ms costs 5 % of the budget.
pub const SPACING_SLACK: Duration = Duration::from_millis(10);

/// Spaces permits at least `1/max_rps + SPACING_SLACK` apart. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `max_rps` requests per second.
    pub fn new(max_rps: NonZeroU32) -> RateLimiter {
        let interval = Duration::from_secs(1) / max_rps.get() + SPACING_SLACK;
        RateLimiter { interval, next: Mutex::new(None) }
    }

    /// The spacing between two permits.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for the next permit.
    pub async fn acquire(&self) {
        loop {
            let wait_until = {
                let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match *next {
                    Some(t) if t > now => t,
                    _ => {
                        *next = Some(now + self.interval);
                        return;
                    }
                }
            };
            tokio::time::sleep_until(wait_until).await;
        }
    }

    /// Pushes the next permit back by `delay` (after a 429, the whole key slows down).
    pub fn back_off(&self, delay: Duration) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now() + delay;
        if next.is_none_or(|n| n < t) {
            *next = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_permits_evenly() {
        let l = std::sync::Arc::new(RateLimiter::new(NonZeroU32::new(5).unwrap()));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..10 {
            let l = l.clone();
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap());
        }
        times.sort();
        assert_eq!(times[0], start);
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(210), "{:?}", pair[1] - pair[0]);
        }
        // No six permits in any one second.
        for w in times.windows(6) {
            assert!(w[5] - w[0] > Duration::from_secs(1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn back_off_delays_the_next_permit() {
        let l = RateLimiter::new(NonZeroU32::new(5).unwrap());
        let start = Instant::now();
        l.back_off(Duration::from_secs(2));
        l.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(2));
    }
}
