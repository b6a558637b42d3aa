//! The progress bar of `export` on a terminal, and the log writer that prints above it.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botevents::export::{Progress, ProgressSnapshot};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar being drawn, if any: log lines are printed with it suspended.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The request rate is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Writes log lines to stderr, clearing the bar for the line and drawing it again after.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf)).map(|()| buf.len()),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Shows the progress of every account of a run as one bar: windows done of planned, rows
/// written, bytes received and the recent request rate.
pub struct BarProgress {
    bar: ProgressBar,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The latest snapshot of each account.
    accounts: BTreeMap<String, ProgressSnapshot>,
    /// (when, data requests so far) over the last [`RATE_WINDOW`].
    samples: VecDeque<(Instant, u64)>,
}

impl BarProgress {
    /// Starts drawing the bar on stderr.
    pub fn start() -> Arc<BarProgress> {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("[{elapsed_precise}] {bar:20} {pos}/{len} windows, {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(250));
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        Arc::new(BarProgress { bar, state: Mutex::new(State::default()) })
    }

    /// Removes the bar (the summary is printed where it was).
    pub fn finish(&self) {
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.bar.finish_and_clear();
    }
}

impl Progress for BarProgress {
    fn update(&self, snapshot: &ProgressSnapshot) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.accounts.insert(snapshot.account.clone(), snapshot.clone());
        let sum = |f: fn(&ProgressSnapshot) -> u64| st.accounts.values().map(f).sum::<u64>();
        let (total, done, rows, bytes, requests) = (
            sum(|s| s.windows_total),
            sum(|s| s.windows_done),
            sum(|s| s.rows),
            sum(|s| s.bytes_received),
            sum(|s| s.data_requests),
        );
        let now = Instant::now();
        st.samples.push_back((now, requests));
        while st.samples.len() > 2 && st.samples.front().is_some_and(|(t, _)| now - *t > RATE_WINDOW) {
            st.samples.pop_front();
        }
        let rate = match (st.samples.front(), st.samples.back()) {
            (Some((t0, r0)), Some((t1, r1))) if *t1 - *t0 >= Duration::from_millis(500) => {
                (r1 - r0) as f64 / (*t1 - *t0).as_secs_f64()
            }
            _ => 0.0,
        };
        drop(st);
        self.bar.set_length(total.max(done));
        self.bar.set_position(done);
        self.bar.set_message(format!("{rows} rows, {:.1} MB in, {rate:.1} req/s", bytes as f64 / 1e6));
    }
}
