//! The `botevents` binary: parse arguments, set up logging, run, map the outcome to an exit status.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use botevents::cli::{
    Cli, Command, ConvertArgs, ExportArgs, LogFormat, PlanArgs, SimulateArgs, StateAction, StateArgs, environment,
    read_config,
};
use botevents::config::SimulatorDefaults;
use botevents::error::{EXIT_FAILURE, EXIT_OK, Report};
use botevents::export::{AccountsSummary, Progress, RunSummary, worst_exit_code};
use botevents::simulate::{SimConfig, Simulator};
use clap::Parser;

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    init_tracing(&cli);
    // A bar only where a person watches: on a terminal, with human logs that are not silenced.
    let show_progress =
        std::io::IsTerminal::is_terminal(&std::io::stderr()) && cli.log_format == LogFormat::Text && !cli.quiet;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("botevents: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE as u8);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Export(args) => export(*args, show_progress).await,
            Command::Convert(args) => convert(args).await,
            Command::Schema(args) => {
                print!("{}", args.render());
                EXIT_OK
            }
            Command::Simulate(args) => simulate(args).await,
            Command::Plan(args) => plan(*args).await,
            Command::Check(args) => check(*args).await,
            Command::State(args) => state(args).await,
        }
    });
    // A read of stdin that was abandoned on a signal sits in a blocking thread: don't wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ExitCode::from(code as u8)
}

fn init_tracing(cli: &Cli) {
    let filter = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "warn,botevents=info",
            1 => "info,botevents=debug",
            _ => "debug,botevents=trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOTEVENTS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| progress_bar::LogWriter).with_ansi(ansi);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM, with the reason.
async fn shutdown_signal() -> String {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)".to_string(),
            _ = term.recv() => "terminated (SIGTERM)".to_string(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted".to_string()
    }
}

/// Starts the built-in simulator when `--simulate` asks for it.
async fn start_simulator(args: &ExportArgs) -> Result<Option<Simulator>, i32> {
    if !args.simulate {
        return Ok(None);
    }
    let config = SimConfig {
        now: args.now,
        chaos: args.faults.chaos(),
        token_calls: args.faults.token_calls,
        dialect: args.sim_dialect.dialect(),
        ..SimConfig::default()
    };
    match Simulator::start(config, ([127, 0, 0, 1], 0).into()).await {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            eprintln!("botevents: cannot start the simulator: {e}");
            Err(EXIT_FAILURE)
        }
    }
}

/// What `--simulate` fills in: the simulator's account, bots, URL and credentials.
fn simulator_defaults(c: &SimConfig, url: url::Url) -> SimulatorDefaults {
    SimulatorDefaults {
        url,
        account: c.account.clone(),
        bots: c.bots.iter().map(|b| b.id.clone()).collect(),
        api_key: c.api_key.clone(),
        username: c.username.clone(),
        password: c.password.clone(),
    }
}

/// The configs of `export` and `check`: one per account.
fn export_configs(
    args: &ExportArgs,
    sim: Option<&SimulatorDefaults>,
) -> Result<Vec<botevents::export::ExportConfig>, botevents::Error> {
    let file = read_config(args.config.as_deref())?;
    botevents::config::exports(&args.options(), &environment(), file, sim, chrono::Utc::now())
}

/// The configs of `state`: one per account of the config file (only `--account`'s when given).
fn state_configs(
    target: &botevents::cli::StateTarget,
    bots: Vec<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<botevents::ops::state::StateConfig>, botevents::Error> {
    let file = read_config(target.config.as_deref())?;
    botevents::config::states(&target.options(bots), &environment(), file, now)
}

/// Prints an error (its whole chain, once) and returns its exit status.
fn print_error(e: &botevents::Error) -> i32 {
    eprintln!("botevents: {}", Report(e));
    e.exit_code()
}

async fn export(args: ExportArgs, show_progress: bool) -> i32 {
    let summary_path = args.summary_json.clone();
    let max_duration = args.max_duration;
    let sim = match start_simulator(&args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let defaults = sim.as_ref().map(|s| simulator_defaults(s.config(), s.base_url()));
    let cfgs = match export_configs(&args, defaults.as_ref()) {
        Ok(c) => c,
        Err(e) => return print_error(&e),
    };
    let stop = async move {
        match max_duration {
            Some(d) => tokio::select! {
                reason = shutdown_signal() => reason,
                _ = tokio::time::sleep(d) => format!("--max-duration {}s reached", d.as_secs()),
            },
            None => shutdown_signal().await,
        }
    };
    let bar = show_progress.then(progress_bar::BarProgress::start);
    let sink = bar.clone().map(|b| b as Arc<dyn Progress>);
    let mut runs = botevents::export::run_accounts(cfgs, sink, stop).await;
    if let Some(b) = bar {
        b.finish();
    }
    if let Some(s) = sim {
        s.shutdown().await;
    }
    if runs.len() == 1 {
        let (summary, result) = runs.remove(0);
        return report(&summary, summary_path.as_deref(), result);
    }
    let mut summaries = Vec::with_capacity(runs.len());
    let mut errors = Vec::new();
    for (summary, result) in runs {
        if let Err(e) = result {
            errors.push((summary.account.clone(), e));
        }
        summaries.push(summary);
    }
    let all = AccountsSummary::new(summaries);
    eprint!("{}", all.human());
    write_summary_json(&all, summary_path.as_deref());
    for (account, e) in &errors {
        eprintln!("botevents: account {account}: {}", Report(e));
    }
    all.exit_code
}

/// Writes a command's output on stdout (a closed pipe, as under `| head`, is not an error).
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// Writes `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) {
    out(&format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default()));
}

/// Prints one account's report as it is, or several accounts' reports `combine`d into one; as
/// JSON (`--json`) or as text.
fn print_reports<R: serde::Serialize, A: serde::Serialize>(
    json: bool,
    mut reports: Vec<R>,
    human: impl Fn(&R) -> String,
    combine: impl FnOnce(Vec<R>) -> A,
    human_all: impl Fn(&A) -> String,
) {
    if reports.len() == 1 {
        let r = reports.remove(0);
        if json { print_json(&r) } else { out(&human(&r)) }
    } else {
        let all = combine(reports);
        if json { print_json(&all) } else { out(&human_all(&all)) }
    }
}

async fn plan(args: PlanArgs) -> i32 {
    // A plan sends nothing: with --simulate it takes the simulator's account and bots without
    // starting one.
    let defaults = args
        .export
        .simulate
        .then(|| url::Url::parse("http://127.0.0.1/").ok())
        .flatten()
        .map(|placeholder| simulator_defaults(&SimConfig::default(), placeholder));
    let resolved = read_config(args.export.config.as_deref()).map_err(botevents::Error::from).and_then(|file| {
        botevents::config::plans(&args.export.options(), &environment(), file, defaults.as_ref(), chrono::Utc::now())
    });
    let cfgs = match resolved {
        Ok(c) => c,
        Err(e) => return print_error(&e),
    };
    let mut plans = Vec::with_capacity(cfgs.len());
    for cfg in &cfgs {
        match botevents::ops::plan::plan(cfg).await {
            Ok(p) => plans.push(p),
            Err(e) => return print_error(&e),
        }
    }
    use botevents::ops::plan::{AccountsPlan, RunPlan};
    print_reports(args.json, plans, RunPlan::human, AccountsPlan::new, AccountsPlan::human);
    EXIT_OK
}

async fn check(args: ExportArgs) -> i32 {
    let sim = match start_simulator(&args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let defaults = sim.as_ref().map(|s| simulator_defaults(s.config(), s.base_url()));
    let cfgs = match export_configs(&args, defaults.as_ref()) {
        Ok(c) => c,
        Err(e) => return print_error(&e),
    };
    let reports = botevents::ops::check::check_all(&cfgs).await;
    if let Some(s) = sim {
        s.shutdown().await;
    }
    out(&reports.iter().map(|r| r.human()).collect::<Vec<_>>().join("\n"));
    for r in &reports {
        if let Some((step, e)) = r.failure() {
            let account = if reports.len() > 1 { format!("account {}: ", r.account) } else { String::new() };
            eprintln!("botevents: {account}check failed at {step}: {}", Report(e));
        }
    }
    worst_exit_code(reports.iter().map(|r| r.exit_code()))
}

async fn state(args: StateArgs) -> i32 {
    let now = chrono::Utc::now();
    match args.action {
        StateAction::Show(a) => {
            let json = a.target.json;
            let cfgs = match state_configs(&a.target, a.bots, now) {
                Ok(c) => c,
                Err(e) => return print_error(&e),
            };
            let mut reports = Vec::with_capacity(cfgs.len());
            for cfg in &cfgs {
                match botevents::ops::state::show(cfg).await {
                    Ok(r) => reports.push(r),
                    Err(e) => return print_error(&e),
                }
            }
            use botevents::ops::state::{AccountsStateReport, StateReport};
            let combine = |accounts| AccountsStateReport { accounts };
            print_reports(json, reports, StateReport::human, combine, AccountsStateReport::human);
        }
        StateAction::Reset(a) => {
            let reset = a.reset();
            let json = a.target.json;
            let bot = a.bot.clone();
            let cfg = match state_configs(&a.target, vec![a.bot], now).and_then(botevents::config::one_account) {
                Ok(c) => c,
                Err(e) => return print_error(&e),
            };
            match botevents::ops::state::reset(&cfg, &bot, &reset).await {
                Ok(r) if json => print_json(&r),
                Ok(r) => out(&r.human()),
                Err(e) => return print_error(&e),
            }
        }
    }
    EXIT_OK
}

async fn convert(args: ConvertArgs) -> i32 {
    let summary_path = args.summary_json.clone();
    let cfg = match botevents::config::convert(args.options(), &environment()) {
        Ok(c) => c,
        Err(e) => return print_error(&e),
    };
    let (summary, result) = botevents::export::convert_files(cfg, shutdown_signal()).await;
    report(&summary, summary_path.as_deref(), result)
}

/// Prints the human summary on stderr, writes the JSON one where asked, prints the error (its
/// whole chain, once) and returns the exit status.
fn report(summary: &RunSummary, json_path: Option<&str>, result: Result<(), botevents::Error>) -> i32 {
    eprint!("{}", summary.human());
    write_summary_json(summary, json_path);
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("botevents: {}", Report(&e));
            e.exit_code()
        }
    }
}

/// Writes `summary` as pretty JSON to `path` (`-`: stdout), when asked.
fn write_summary_json(summary: &impl serde::Serialize, path: Option<&str>) {
    let Some(path) = path else { return };
    let json = serde_json::to_string_pretty(summary).unwrap_or_default();
    let written =
        if path == "-" { writeln!(std::io::stdout(), "{json}") } else { std::fs::write(path, format!("{json}\n")) };
    if let Err(e) = written {
        eprintln!("botevents: cannot write the summary to {path}: {e}");
    }
}

async fn simulate(args: SimulateArgs) -> i32 {
    let config = SimConfig {
        seed: args.seed,
        now: args.now,
        chaos: args.faults.chaos(),
        token_calls: args.faults.token_calls,
        dialect: args.dialect.dialect(),
        ..SimConfig::default()
    };
    let sim = match Simulator::start(config, ([127, 0, 0, 1], args.port).into()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("botevents: cannot start the simulator on 127.0.0.1:{}: {e}", args.port);
            return EXIT_FAILURE;
        }
    };
    let c = sim.config();
    let url = sim.base_url();
    let bots: Vec<&str> = c.bots.iter().map(|b| b.id.as_str()).collect();
    println!("botevents API simulator listening on {url}");
    println!();
    println!("export BOTEVENTS_API_URL={url}");
    println!("export BOTEVENTS_LOGIN_URL={url}");
    println!("export BOTEVENTS_DISCOVERY_URL={url}");
    println!("export BOTEVENTS_ACCOUNT={}", c.account);
    println!("export BOTEVENTS_BOTS={}", bots.join(","));
    println!("export BOTEVENTS_API_KEY={}", c.api_key);
    println!("export BOTEVENTS_USERNAME={}", c.username);
    println!("export BOTEVENTS_PASSWORD={}", c.password);
    println!();
    println!("(simulated credentials; press Ctrl-C to stop)");
    let _ = std::io::stdout().flush();
    let reason = shutdown_signal().await;
    tracing::info!(%reason, "simulator stopping");
    sim.shutdown().await;
    EXIT_OK
}

/// The progress bar of `export` on a terminal, and the log writer that prints above it.
mod progress_bar {
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
}

/// Tunes glibc's allocator for the converter, which allocates and frees buffers of a few MiB
/// again and again from several threads:
/// * glibc serves an allocation above its mmap threshold with a mapping of its own, returned to
///   the system when freed; but after such a free it raises the threshold to that size, so that
///   the buffers end up in the heap, which keeps what they freed. A fixed threshold above those
///   buffers keeps them in the heap and stops the heap from growing.
/// * Fixing the threshold leaves the trim threshold at 128 KiB: the heap then gives its free top
///   back to the system after nearly every chunk and faults the same pages in again (90,000
///   faults and a quarter of a second of system time for 1 M rows). A 64 MiB trim threshold stops
///   that.
/// * One arena instead of one per thread: the pool's threads no longer each keep free memory of
///   their own, which pays for the higher trim threshold. Contention is low with a pool of one
///   thread per core, each spending most of its time in zstd and parsing.
/// * The heap is grown once by [`HEAP_RESERVE`] of address space, which is marked for transparent
///   huge pages (`MADV_HUGEPAGE`; the system's setting in
///   `/sys/kernel/mm/transparent_hugepage/enabled` still decides). Faulting in the converter's
///   heap a 4 KiB page at a time cost about 25,000 page faults per run (a fixed 50 ms of CPU,
///   6 % of 1 M rows' run); with huge pages it takes a few hundred. Only what is touched becomes
///   resident, in steps of 2 MiB. See [`reserve_heap`].
///
/// Together, for 1 M rows: peak RSS 115 MiB instead of 150, and 0.77 s instead of 0.93 (before
/// the huge pages, which took it from 0.475 to 0.441 s and from 112 to 118 MiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets parameters of the allocator; called before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    if reserve_allowed() {
        reserve_heap();
    }
}

/// Grows the heap by [`HEAP_RESERVE`] and marks it for transparent huge pages. Where the heap
/// cannot grow so far, nothing changes: the allocator works as before.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reserve_heap() {
    // SAFETY: mallopt only sets parameters of the allocator and sbrk(0) only reads the heap's
    // end; called before any other thread. The madvise range lies within the heap's growth made
    // just before, between two readings of its end, and only sets a flag on those pages.
    unsafe {
        // An allocation larger than the heap's free top (and below the mmap threshold) makes the
        // heap grow by it plus the top pad, which the free keeps. black_box keeps the pair from
        // being optimised away.
        libc::mallopt(libc::M_TOP_PAD, HEAP_RESERVE as libc::c_int);
        let before = libc::sbrk(0) as usize;
        let probe = std::hint::black_box(libc::malloc(3 << 20));
        libc::free(probe);
        let after = libc::sbrk(0) as usize;
        // Later growth asks for what it needs again, not for another reserve.
        libc::mallopt(libc::M_TOP_PAD, DEFAULT_TOP_PAD);
        // sbrk returns -1 on failure; a heap that could not grow by the reserve (glibc then tried
        // a mapping of its own) is left as it is. (The growth is a little under the reserve: the
        // heap's free top before it counts towards the pad.)
        if before != usize::MAX && after != usize::MAX && after >= before + HEAP_RESERVE / 2 {
            // Free memory at the top is given back only beyond the reserve (and, as above, far
            // beyond what the converter frees between chunks); trimmed, the reserve would go
            // back at the next free.
            libc::mallopt(libc::M_TRIM_THRESHOLD, (HEAP_RESERVE + (64 << 20)) as libc::c_int);
            let start = before.next_multiple_of(HUGE_PAGE);
            // A kernel without transparent huge pages refuses with EINVAL: nothing to do.
            libc::madvise(start as *mut libc::c_void, after - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Whether the process's limits leave room for the reserve: a data or address-space limit
/// (`ulimit -d`, `ulimit -v`) counts it as used, so under a limit below [`RESERVE_MIN_LIMIT`] the
/// heap is not reserved, and a run that fits in the limit without it still does.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reserve_allowed() -> bool {
    [libc::RLIMIT_DATA, libc::RLIMIT_AS].into_iter().all(|resource| {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the limit into `limit`, which lives across the call.
        let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
        ok && (limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= RESERVE_MIN_LIMIT as libc::rlim_t)
    })
}

/// Address space the heap is grown by at start and marked for transparent huge pages: twice the
/// converter's peak, so that its whole heap is in it. Untouched, it costs nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HEAP_RESERVE: usize = 256 << 20;

/// The smallest data or address-space limit under which the heap is reserved.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RESERVE_MIN_LIMIT: usize = 4 * HEAP_RESERVE;

/// glibc's own top pad (`M_TOP_PAD`), restored once the heap is reserved.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const DEFAULT_TOP_PAD: libc::c_int = 128 << 10;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HUGE_PAGE: usize = 2 << 20;

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
