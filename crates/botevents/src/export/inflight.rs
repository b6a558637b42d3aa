//! How many requests a run keeps in flight: enough to keep the API key's rate busy at the
//! response time it observes, and no more.
//!
//! In: the rate (requests/second) and each response's time, from its sending to its body's end.
//! Out: permits, one per request in flight. By Little's law a rate of `r` requests/second with
//! responses of `t` seconds needs `r × t` requests in flight; the gate allows a quarter more, plus
//! one, between [`MIN_REQUESTS_IN_FLIGHT`] and [`MAX_REQUESTS_IN_FLIGHT`]. Before the first
//! response is timed the gate assumes the slowest and allows the maximum: the rate limiter
//! spaces those requests anyway, so a quick first answer shrinks the gate before more than one
//! or two went out, while a slow one finds the rate already busy. A permit is held from
//! the sending to the body's end, never while a complete body waits to be decoded (which is
//! bounded per stream by the window's read-ahead): so a retry always finds room again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Requests in flight when responses are quick.
pub const MIN_REQUESTS_IN_FLIGHT: usize = 4;

/// The most requests a run keeps in flight, however slow the responses (and at the start, before
/// any was timed): each may hold one response's rows (at most the row cap) while its body arrives.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 16;

/// Weight of the newest response time in the moving average.
const SMOOTHING: f64 = 0.2;

/// The gate: a semaphore whose size follows the observed response time.
#[derive(Debug)]
pub(crate) struct InFlight {
    permits: Semaphore,
    rate: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Moving average of response times, in seconds; `None` before the first.
    seconds: Option<f64>,
    /// The gate's size now.
    size: usize,
    /// Permits to take back when they are returned (the gate shrank while they were out).
    owed: usize,
    /// The largest size that a response time set so far (the start's maximum is not counted).
    peak: usize,
}

impl InFlight {
    /// A gate for `rate` requests/second.
    pub fn new(rate: f64) -> InFlight {
        InFlight {
            permits: Semaphore::new(MAX_REQUESTS_IN_FLIGHT),
            rate,
            state: Mutex::new(State { seconds: None, size: MAX_REQUESTS_IN_FLIGHT, owed: 0, peak: 0 }),
        }
    }

    /// Waits for room for one more request in flight.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        self.permits.acquire().await.expect("the gate is never closed")
    }

    /// Gives a permit back, taking it out of circulation if the gate shrank meanwhile.
    pub fn release(&self, permit: SemaphorePermit<'_>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.owed > 0 {
            st.owed -= 1;
            permit.forget();
        }
    }

    /// Records one response's time (sending to the body's end) and resizes the gate.
    pub fn observe(&self, took: Duration) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let t = took.as_secs_f64();
        let avg = st.seconds.map_or(t, |a| a + SMOOTHING * (t - a));
        st.seconds = Some(avg);
        let want = target(self.rate, avg);
        if want > st.size {
            let mut grow = want - st.size;
            // Permits still owed need not be taken back any more.
            let cancel = grow.min(st.owed);
            st.owed -= cancel;
            grow -= cancel;
            self.permits.add_permits(grow);
        } else if want < st.size {
            let shrink = st.size - want;
            let taken = self.permits.forget_permits(shrink);
            st.owed += shrink - taken;
        }
        st.size = want;
        st.peak = st.peak.max(want);
    }

    /// The gate's size now.
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).size
    }

    /// The gate's largest size that a response time set, and the average response time now, in
    /// milliseconds.
    pub fn peak(&self) -> (usize, u64) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.peak, st.seconds.map_or(0, |s| (s * 1000.0) as u64))
    }
}

/// Requests in flight that keep `rate` requests/second flowing when each takes `seconds`.
fn target(rate: f64, seconds: f64) -> usize {
    let need = (rate * seconds * 1.25).ceil() as usize + 1;
    need.clamp(MIN_REQUESTS_IN_FLIGHT, MAX_REQUESTS_IN_FLIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_follows_the_response_time() {
        assert_eq!(target(5.0, 0.05), MIN_REQUESTS_IN_FLIGHT, "quick answers: the minimum");
        assert_eq!(target(5.0, 1.5), 11, "5/s at 1.5 s: 7.5 in flight, a quarter more, plus one");
        assert_eq!(target(5.0, 60.0), MAX_REQUESTS_IN_FLIGHT, "never beyond the maximum");
        assert_eq!(target(2.5, 1.5), 6, "a shared key's share needs fewer");
    }

    #[tokio::test]
    async fn before_the_first_answer_the_gate_is_open_to_its_maximum() {
        let gate = InFlight::new(5.0);
        assert_eq!((gate.size(), gate.peak().0), (MAX_REQUESTS_IN_FLIGHT, 0), "nothing observed yet");
        let held: Vec<_> = futures::future::join_all((0..3).map(|_| gate.acquire())).await;
        assert_eq!(gate.permits.available_permits(), MAX_REQUESTS_IN_FLIGHT - 3);
        // A quick first answer: the gate shrinks at once, the three held count against it.
        gate.observe(Duration::from_millis(20));
        assert_eq!((gate.size(), gate.peak()), (MIN_REQUESTS_IN_FLIGHT, (MIN_REQUESTS_IN_FLIGHT, 20)));
        assert_eq!(gate.permits.available_permits(), MIN_REQUESTS_IN_FLIGHT - 3);
        for p in held {
            gate.release(p);
        }
        assert_eq!(gate.permits.available_permits(), MIN_REQUESTS_IN_FLIGHT);
    }

    #[tokio::test]
    async fn permits_grow_and_shrink_with_observations() {
        let gate = InFlight::new(5.0);
        for _ in 0..30 {
            gate.observe(Duration::from_millis(1500));
        }
        assert_eq!(gate.size(), 11);
        let held: Vec<_> = futures::future::join_all((0..11).map(|_| gate.acquire())).await;
        assert_eq!(gate.permits.available_permits(), 0);
        // Quick answers again: the gate shrinks as the permits come back.
        for _ in 0..60 {
            gate.observe(Duration::from_millis(10));
        }
        assert_eq!(gate.size(), MIN_REQUESTS_IN_FLIGHT);
        for p in held {
            gate.release(p);
        }
        assert_eq!(gate.permits.available_permits(), MIN_REQUESTS_IN_FLIGHT);
    }
}
