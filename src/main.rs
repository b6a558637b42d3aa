//! The `botevents` binary: parse arguments, set up logging, run, map the outcome to an exit status.

use std::io::Write;
use std::process::ExitCode;

use botevents::cli::{
    Cli, Command, ConvertArgs, EnvSecrets, ExportArgs, LogFormat, PlanArgs, SimulateArgs, SimulatorDefaults,
    StateAction, StateArgs,
};
use botevents::error::{EXIT_FAILURE, EXIT_OK, Report};
use botevents::export::RunSummary;
use botevents::simulate::{SimConfig, Simulator};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("botevents: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE as u8);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Export(args) => export(*args).await,
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
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

/// Prints an error (its whole chain, once) and returns its exit status.
fn print_error(e: &botevents::Error) -> i32 {
    eprintln!("botevents: {}", Report(e));
    e.exit_code()
}

async fn export(args: ExportArgs) -> i32 {
    let summary_path = args.summary_json.clone();
    let max_duration = args.max_duration;
    let sim = match start_simulator(&args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let defaults = sim.as_ref().map(|s| simulator_defaults(s.config(), s.base_url()));
    let cfg = match args.into_config(EnvSecrets::from_env(), defaults.as_ref(), chrono::Utc::now()) {
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
    let (summary, result) = botevents::export::run(cfg, stop).await;
    if let Some(s) = sim {
        s.shutdown().await;
    }
    report(&summary, summary_path.as_deref(), result)
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

async fn plan(args: PlanArgs) -> i32 {
    // A plan sends nothing: with --simulate it takes the simulator's account and bots without
    // starting one.
    let defaults = args
        .export
        .simulate
        .then(|| url::Url::parse("http://127.0.0.1/").ok())
        .flatten()
        .map(|placeholder| simulator_defaults(&SimConfig::default(), placeholder));
    let cfg = match args.export.into_plan_config(EnvSecrets::from_env(), defaults.as_ref(), chrono::Utc::now()) {
        Ok(c) => c,
        Err(e) => return print_error(&e),
    };
    match botevents::ops::plan::plan(&cfg).await {
        Ok(p) => {
            if args.json {
                print_json(&p);
            } else {
                out(&p.human());
            }
            EXIT_OK
        }
        Err(e) => print_error(&e),
    }
}

async fn check(args: ExportArgs) -> i32 {
    let sim = match start_simulator(&args).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let defaults = sim.as_ref().map(|s| simulator_defaults(s.config(), s.base_url()));
    let cfg = match args.into_config(EnvSecrets::from_env(), defaults.as_ref(), chrono::Utc::now()) {
        Ok(c) => c,
        Err(e) => return print_error(&e),
    };
    let report = botevents::ops::check::check(&cfg).await;
    if let Some(s) = sim {
        s.shutdown().await;
    }
    out(&report.human());
    match report.failure() {
        None => EXIT_OK,
        Some((step, e)) => {
            eprintln!("botevents: check failed at {step}: {}", Report(e));
            e.exit_code()
        }
    }
}

async fn state(args: StateArgs) -> i32 {
    let now = chrono::Utc::now();
    match args.action {
        StateAction::Show(a) => {
            let json = a.target.json;
            let cfg = match a.target.into_config(a.bots, EnvSecrets::from_env(), now) {
                Ok(c) => c,
                Err(e) => return print_error(&e),
            };
            match botevents::ops::state::show(&cfg).await {
                Ok(r) if json => print_json(&r),
                Ok(r) => out(&r.human()),
                Err(e) => return print_error(&e),
            }
        }
        StateAction::Reset(a) => {
            let reset = a.reset();
            let json = a.target.json;
            let bot = a.bot.clone();
            let cfg = match a.target.into_config(vec![a.bot], EnvSecrets::from_env(), now) {
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
    let cfg = match args.into_config() {
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
    if let Some(path) = json_path {
        let json = serde_json::to_string_pretty(summary).unwrap_or_default();
        let written =
            if path == "-" { writeln!(std::io::stdout(), "{json}") } else { std::fs::write(path, format!("{json}\n")) };
        if let Err(e) = written {
            eprintln!("botevents: cannot write the summary to {path}: {e}");
        }
    }
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("botevents: {}", Report(&e));
            e.exit_code()
        }
    }
}

async fn simulate(args: SimulateArgs) -> i32 {
    let config = SimConfig {
        seed: args.seed,
        now: args.now,
        chaos: args.faults.chaos(),
        token_calls: args.faults.token_calls,
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
