//! One request budget per API key.
//!
//! The vendor's gateway (Apigee) enforces 5 requests/second with spike arrest, which rejects
//! bursts: 5/s really means one request per 200 ms. [`RateLimiter`] therefore spaces requests
//! evenly instead of handing out bursts, and measures the spacing from the moment each permit is
//! actually granted, so a late wake-up never squeezes two requests together.
//!
//! The budget is a [`MaxRps`]: any positive number of requests per second, fractions included,
//! so that two tasks sharing one key can each take 2.5.
//!
//! The authentication calls go first ([`RateLimiter::acquire_first`]): when the access token
//! expires, every data request that takes a permit before the renewal's SSO call is sent with the
//! expired token and answered 401, so the renewal takes the next permit ahead of them.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The vendor's limit per API key.
pub const DEFAULT_MAX_RPS: u32 = 5;

/// Added to every interval so that the time a request spends between the permit and the
/// gateway's clock (task scheduling, connection write) cannot make two requests look closer than
/// `1/max_rps` to a sliding-window counter. 10 ms on 200 ms costs 5 % of the budget.
pub const SPACING_SLACK: Duration = Duration::from_millis(10);

/// A request budget, in requests per second: finite and at least [`MaxRps::MIN`] (one request
/// every 1,000 s), fractions allowed (`2.5`).
///
/// Values above the vendor's [`DEFAULT_MAX_RPS`] are accepted, not refused: a gateway in front
/// of a test server, or an API key with a raised limit, may allow more. The configuration warns
/// about them ([`MaxRps::above_vendor_limit`]), because against the vendor's API they mean 429s.
///
/// Shares of one key are not coordinated with each other. Two tasks at 2.5 keep the key's 5/s
/// over any span of two seconds, but in an unlucky second both may send 3 (every 410 ms), and a
/// gateway that counts per sliding second answers the sixth with a 429, which is waited out and
/// retried (`throttled_429` in the summary). Shares of 1 (five tasks) never meet that way; a
/// fractional share trades those rare 429s for a budget that any number of tasks can split
/// without leaving part of it unused (three tasks get 1.666 each, not 1).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct MaxRps(f64);

/// A request budget that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MaxRpsError {
    /// Not a number.
    #[error("{0:?} is not a number of requests/second (e.g. 5 or 2.5)")]
    NotANumber(String),
    /// Zero, negative, too small, or not finite.
    #[error("{0} requests/second is out of range: give a finite number of at least 0.001 (e.g. 5 or 2.5)")]
    OutOfRange(f64),
}

impl MaxRps {
    /// The least budget: one request every 1,000 seconds (the spacing must stay a duration).
    pub const MIN: f64 = 0.001;
    /// The vendor's budget per API key, the default.
    pub const DEFAULT: MaxRps = MaxRps(DEFAULT_MAX_RPS as f64);

    /// `rps` requests per second, if it is finite and at least [`MaxRps::MIN`].
    pub fn new(rps: f64) -> Result<MaxRps, MaxRpsError> {
        if rps.is_finite() && rps >= MaxRps::MIN { Ok(MaxRps(rps)) } else { Err(MaxRpsError::OutOfRange(rps)) }
    }

    /// Requests per second.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether the budget is above the vendor's 5 requests/second per API key.
    pub fn above_vendor_limit(self) -> bool {
        self.0 > f64::from(DEFAULT_MAX_RPS)
    }
}

impl Default for MaxRps {
    fn default() -> MaxRps {
        MaxRps::DEFAULT
    }
}

impl TryFrom<f64> for MaxRps {
    type Error = MaxRpsError;

    fn try_from(rps: f64) -> Result<MaxRps, MaxRpsError> {
        MaxRps::new(rps)
    }
}

impl From<MaxRps> for f64 {
    fn from(rps: MaxRps) -> f64 {
        rps.0
    }
}

/// `5`, `2.5`, `0.5`.
impl FromStr for MaxRps {
    type Err = MaxRpsError;

    fn from_str(s: &str) -> Result<MaxRps, MaxRpsError> {
        let t = s.trim();
        // `f64::from_str` also reads "inf" and "NaN"; those are refused as out of range.
        let rps = t.parse::<f64>().map_err(|_| MaxRpsError::NotANumber(s.to_string()))?;
        MaxRps::new(rps)
    }
}

/// `5` for five, `2.5` for two and a half.
impl fmt::Display for MaxRps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Spaces permits at least `1/max_rps + SPACING_SLACK` apart. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
    /// Callers of [`RateLimiter::acquire_first`] waiting now: the next permit is theirs.
    first: AtomicUsize,
}

impl RateLimiter {
    /// A limiter for `max_rps` requests per second.
    pub fn new(max_rps: MaxRps) -> RateLimiter {
        let interval = Duration::from_secs_f64(1.0 / max_rps.get()) + SPACING_SLACK;
        RateLimiter { interval, next: Mutex::new(None), first: AtomicUsize::new(0) }
    }

    /// The spacing between two permits.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for the next permit that no [`RateLimiter::acquire_first`] caller is waiting for.
    pub async fn acquire(&self) {
        self.wait(false).await;
    }

    /// Waits for the next permit, ahead of every [`RateLimiter::acquire`] caller: for the calls
    /// that renew the access token, which the data requests waiting for a permit need, and for
    /// the data requests sent again with the renewed token, which were sent first.
    pub async fn acquire_first(&self) {
        /// Counts its caller among the waiting ones until it has its permit, or is dropped.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.first.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.first);
        self.wait(true).await;
    }

    async fn wait(&self, first: bool) {
        loop {
            let wait_until = {
                let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match *next {
                    Some(t) if t > now => t,
                    // Due, but a first caller wants it: try again one interval on.
                    _ if !first && self.first.load(Ordering::Acquire) > 0 => now + self.interval,
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
        let l = std::sync::Arc::new(RateLimiter::new(MaxRps::DEFAULT));
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

    /// A renewal's SSO call that starts waiting after three data requests still takes the next
    /// permit; the data requests follow at the usual spacing.
    #[tokio::test(start_paused = true)]
    async fn the_first_caller_takes_the_next_permit() {
        let l = std::sync::Arc::new(RateLimiter::new(MaxRps::DEFAULT));
        let start = Instant::now();
        l.acquire().await;
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for i in 0..3 {
            let (l, order) = (l.clone(), order.clone());
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                order.lock().unwrap().push((format!("data {i}"), Instant::now() - start));
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (l2, order2) = (l.clone(), order.clone());
        handles.push(tokio::spawn(async move {
            l2.acquire_first().await;
            order2.lock().unwrap().push(("sso".to_string(), Instant::now() - start));
        }));
        for h in handles {
            h.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[0], ("sso".to_string(), l.interval()), "{order:?}");
        let times: Vec<Duration> = order.iter().map(|(_, t)| *t).collect();
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= l.interval(), "{order:?}");
        }
        assert_eq!(l.first.load(Ordering::Acquire), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn back_off_delays_the_next_permit() {
        let l = RateLimiter::new(MaxRps::DEFAULT);
        let start = Instant::now();
        l.back_off(Duration::from_secs(2));
        l.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(2));
    }

    /// Two tasks sharing one key at 2.5 requests/second each: one permit every 410 ms, and
    /// together never more than the key's 5 in any second.
    #[tokio::test(start_paused = true)]
    async fn a_fractional_budget_paces_at_its_share() {
        let rps: MaxRps = "2.5".parse().unwrap();
        let l = std::sync::Arc::new(RateLimiter::new(rps));
        assert_eq!(l.interval(), Duration::from_millis(400) + SPACING_SLACK);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..6 {
            l.acquire().await;
            times.push(Instant::now() - start);
        }
        let want: Vec<Duration> = (0..6).map(|i| (Duration::from_millis(400) + SPACING_SLACK) * i).collect();
        assert_eq!(times, want);
        // Never faster than the share: 25 permits take 24 intervals of 410 ms, so no span of
        // 10 s ever holds more than 2.5/s × 10 s.
        for _ in 6..25 {
            l.acquire().await;
        }
        assert_eq!(Instant::now() - start, (Duration::from_millis(400) + SPACING_SLACK) * 24);
    }

    #[test]
    fn budgets_parse_with_fractions_and_refuse_what_cannot_pace() {
        assert_eq!("2.5".parse::<MaxRps>().unwrap().get(), 2.5);
        assert_eq!(" 5 ".parse::<MaxRps>().unwrap(), MaxRps::DEFAULT);
        assert_eq!("0.5".parse::<MaxRps>().unwrap().to_string(), "0.5");
        assert_eq!(MaxRps::DEFAULT.to_string(), "5");
        for bad in ["0", "-1", "0.0001", "inf", "NaN", "-0"] {
            assert!(matches!(bad.parse::<MaxRps>(), Err(MaxRpsError::OutOfRange(_))), "{bad}");
        }
        let e = "fast".parse::<MaxRps>().unwrap_err();
        assert_eq!(e.to_string(), "\"fast\" is not a number of requests/second (e.g. 5 or 2.5)");
        assert!(!MaxRps::DEFAULT.above_vendor_limit() && MaxRps::new(5.5).unwrap().above_vendor_limit());
        // TOML reads whole and fractional numbers alike.
        #[derive(serde::Deserialize)]
        struct F {
            max_rps: MaxRps,
        }
        assert_eq!(toml::from_str::<F>("max_rps = 2.5").unwrap().max_rps.get(), 2.5);
        assert_eq!(toml::from_str::<F>("max_rps = 2").unwrap().max_rps.get(), 2.0);
        assert!(toml::from_str::<F>("max_rps = 0").is_err());
    }
}
