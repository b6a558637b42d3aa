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

/// Where one operation's retry budget stands, for loops that drive their attempts themselves
/// (an attempt that borrows state across attempts cannot be handed to [`with_retries`]).
#[derive(Debug)]
pub struct Attempts<'a> {
    cfg: &'a RetryConfig,
    start: tokio::time::Instant,
    retries: u32,
}

impl<'a> Attempts<'a> {
    /// A budget starting now.
    pub fn new(cfg: &'a RetryConfig) -> Attempts<'a> {
        Attempts { cfg, start: tokio::time::Instant::now(), retries: 0 }
    }

    /// Attempts made so far, counting the first.
    pub fn made(&self) -> u32 {
        self.retries + 1
    }

    /// After a failed attempt: the retry's number (1-based) and how long to wait first, or `None`
    /// when the error is final or the budget (retries and time) is spent.
    pub fn next(&mut self, e: &impl Retryable) -> Option<(u32, Duration)> {
        let Retry::After(hint) = e.retry() else { return None };
        if self.retries >= self.cfg.max_retries || self.start.elapsed() >= self.cfg.retry_timeout {
            return None;
        }
        self.retries += 1;
        let wait = hint.map_or_else(|| self.cfg.backoff(self.retries), |h| h.min(self.cfg.backoff.max_backoff * 4));
        Some((self.retries, wait))
    }

    /// Whether the error is worth retrying at all (whatever the budget says).
    pub fn retryable(e: &impl Retryable) -> bool {
        matches!(e.retry(), Retry::After(_))
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
    let mut attempts = Attempts::new(cfg);
    loop {
        match op(attempts.made() - 1).await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let Some((n, wait)) = attempts.next(&e) else { return Err(e) };
                on_retry(&e, n, wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The whole run's time in retry waits, shared by every request of the run: once spent, no
/// request is retried again, so a dead API cannot hold a run for hours however many requests
/// it has left. Waits of requests in flight at the same time add up.
#[derive(Debug)]
pub struct RetryTime {
    limit: Duration,
    spent_ms: std::sync::atomic::AtomicU64,
}

/// Default of [`RetryTime`]: half an hour of waiting to retry, over a whole run.
pub const DEFAULT_MAX_RETRY_TIME: Duration = Duration::from_secs(30 * 60);

impl RetryTime {
    /// A budget of `limit` in all.
    pub fn new(limit: Duration) -> RetryTime {
        RetryTime { limit, spent_ms: Default::default() }
    }

    /// Takes `wait` from the budget; `false` (nothing taken) when it would go over.
    pub fn spend(&self, wait: Duration) -> bool {
        use std::sync::atomic::Ordering;
        let wait_ms = wait.as_millis() as u64;
        let limit_ms = self.limit.as_millis() as u64;
        self.spent_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |spent| {
                spent.checked_add(wait_ms).filter(|&total| total <= limit_ms)
            })
            .is_ok()
    }

    /// The budget in all.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

/// Why a request was retried, as the run's summary counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCause {
    /// The server answered with a retryable status (429, 408, 5xx).
    Status,
    /// No response: the connection was refused, reset or dropped before one.
    Connection,
    /// The body broke off before its end.
    BrokenBody,
    /// Nothing arrived for the read timeout, before or inside the body.
    Hang,
}

impl super::FetchError {
    /// The cause of a retryable failure, for the summary's count of retries.
    pub fn cause(&self) -> RetryCause {
        use super::FetchError;
        match self {
            FetchError::Transport { source, .. } if source.is_timeout() => RetryCause::Hang,
            FetchError::Transport { .. } => RetryCause::Connection,
            FetchError::Body { source, .. } if source.is_timeout() => RetryCause::Hang,
            FetchError::Body { .. } => RetryCause::BrokenBody,
            _ => RetryCause::Status,
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

    #[test]
    fn the_run_retry_time_is_shared_and_never_overspent() {
        let budget = RetryTime::new(Duration::from_secs(10));
        assert!(budget.spend(Duration::from_secs(6)));
        assert!(!budget.spend(Duration::from_secs(5)), "6 + 5 would go over 10");
        assert!(budget.spend(Duration::from_secs(4)));
        assert!(!budget.spend(Duration::from_millis(1)));
    }

    #[test]
    fn attempts_count_and_stop_at_the_budget() {
        let cfg = RetryConfig { max_retries: 2, ..RetryConfig::default() };
        let mut a = Attempts::new(&cfg);
        assert_eq!(a.made(), 1);
        assert_eq!(a.next(&E(Retry::After(Some(Duration::from_secs(1))))), Some((1, Duration::from_secs(1))));
        assert_eq!(a.next(&E(Retry::No)), None, "a final error is not retried");
        assert!(a.next(&E(Retry::After(None))).is_some());
        assert_eq!(a.made(), 3);
        assert_eq!(a.next(&E(Retry::After(None))), None, "two retries spent");
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
