//! The one bridge from async code onto the rayon pool.
//!
//! Decoding and encoding are CPU-bound; running them on tokio's workers would stall every
//! request in flight. [`run`] moves a closure onto rayon and awaits its result; a panic in the
//! closure is resumed in the awaiting task, as if the code had run there.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Runs `f` on the rayon pool and returns its result.
pub async fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.await {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => resume_unwind(panic),
        // The closure always sends unless rayon dropped it, which it only does at exit.
        Err(_) => resume_unwind(Box::new("rayon dropped a task")),
    }
}
