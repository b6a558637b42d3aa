//! The one bridge from async code onto the rayon pool.
//!
//! Decoding and encoding are CPU-bound; running them on tokio's workers would stall every
//! request in flight. [`spawn`] moves a closure onto rayon at once and returns a [`Task`] that
//! resolves to its result; [`run`] does both in one step. A panic in the closure is resumed in
//! the awaiting task, as if the code had run there.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// The result of a closure running on the rayon pool. Dropping it does not stop the closure;
/// its result is then dropped when it ends.
pub struct Task<T> {
    rx: tokio::sync::oneshot::Receiver<std::thread::Result<T>>,
}

/// Starts `f` on the rayon pool now, whether or not the task is awaited.
pub fn spawn<T, F>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    Task { rx }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(v))) => Poll::Ready(v),
            Poll::Ready(Ok(Err(panic))) => resume_unwind(panic),
            // The closure always sends unless rayon dropped it, which it only does at exit.
            Poll::Ready(Err(_)) => resume_unwind(Box::new("rayon dropped a task")),
        }
    }
}

/// Runs `f` on the rayon pool and returns its result.
pub async fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn(f).await
}

/// Time spent on the pool by work that no [`Task`] times (it runs on past the task that started
/// it), added up across threads. Clones share the count.
#[derive(Clone, Debug, Default)]
pub struct CpuTime(Arc<AtomicU64>);

impl CpuTime {
    pub fn add(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}
