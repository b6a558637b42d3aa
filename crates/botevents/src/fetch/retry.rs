//! Retries: one classifier decides, one loop waits.
//!
//! Exponential backoff with full jitter, capped, honouring the server's `Retry-After` when it
//! sends one, bounded both by a number of retries and by a total time.

use std::future::Future;
use std::time::Duration;

/// Exponential backoff parameters (the shape of `object_store`'s `BackoffConfig`).
#[derive(Debug, Clone)]
pub struct BackoffConfig {
    /// The first backoff.
    pub init_backoff: Duration,
    /// The largest backoff.
    pub max_backoff: Duration,
    /// Multiplier per retry.
    pub base: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig { init_backoff: Duration::from_millis(250), max_backoff: Duration::from_secs(30), base: 2.0 }
    }
}

/// When to give up.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Backoff between attempts.
    pub backoff: BackoffConfig,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// No retry starts after this long since the first attempt.
    pub retry_timeout: Duration,
}

/// Default retries per request.
pub const DEFAULT_MAX_RETRIES: u32 = 8;

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: DEFAULT_MAX_RETRIES,
            retry_timeout: Duration::from_secs(300),
        }
    }
}

/// What the classifier says about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Final: report it.
    No,
    /// Transient: retry after the backoff, or after the server's `Retry-After` if given.
    After(Option<Duration>),
}

/// Implemented by errors that know whether they are worth retrying.
pub trait Retryable {
    /// The decision for this error.
    fn retry(&self) -> Retry;
}

impl RetryConfig {
    /// The backoff before retry number `attempt` (1-based), with full jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let b = &self.backoff;
        let exp = b.init_backoff.as_secs_f64() * b.base.powi(attempt.saturating_sub(1) as i32);
        let cap = exp.min(b.max_backoff.as_secs_f64());
        // Full jitter, but never less than half the step, so retries do spread out.
        Duration::from_secs_f64(cap * (0.5 + 0.5 * fastrand::f64()))
    }
}

/// Runs `op` until it succeeds, fails for good, or the budget is spent. `op` gets the attempt
/// number (0 for the first) and `on_retry` is told of every retry before its wait.
pub async fn with_retries<T, E, F, Fut>(
    cfg: &RetryConfig,
    mut op: F,
    mut on_retry: impl FnMut(&E, u32, Duration),
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = tokio::time::Instant::now();
    let mut attempt = 0;
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let Retry::After(hint) = e.retry() else { return Err(e) };
                attempt += 1;
                if attempt > cfg.max_retries || start.elapsed() >= cfg.retry_timeout {
                    return Err(e);
                }
                let wait = hint.map_or_else(|| cfg.backoff(attempt), |h| h.min(cfg.backoff.max_backoff * 4));
                on_retry(&e, attempt, wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(Retry);
    impl Retryable for E {
        fn retry(&self) -> Retry {
            self.0
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_then_succeeds() {
        let cfg = RetryConfig::default();
        let mut seen = Vec::new();
        let r: Result<u32, E> = with_retries(
            &cfg,
            |n| async move { if n < 3 { Err(E(Retry::After(None))) } else { Ok(n) } },
            |_, n, w| seen.push((n, w)),
        )
        .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(seen.len(), 3);
        assert!(seen[2].1 >= Duration::from_millis(500) && seen[2].1 <= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_and_stops_on_final_errors() {
        let cfg = RetryConfig::default();
        let mut waits = Vec::new();
        let r: Result<(), E> = with_retries(
            &cfg,
            |n| async move { Err(E(if n == 0 { Retry::After(Some(Duration::from_secs(7))) } else { Retry::No })) },
            |_, _, w| waits.push(w),
        )
        .await;
        assert!(r.is_err());
        assert_eq!(waits, vec![Duration::from_secs(7)]);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries() {
        let cfg = RetryConfig { max_retries: 2, ..RetryConfig::default() };
        let mut n_calls = 0;
        let r: Result<(), E> = with_retries(
            &cfg,
            |_| {
                n_calls += 1;
                async { Err(E(Retry::After(None))) }
            },
            |_, _, _| {},
        )
        .await;
        assert!(r.is_err());
        assert_eq!(n_calls, 3);
    }
}
