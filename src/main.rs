//! The `botevents` binary: parse arguments, set up logging, run, map the outcome to an exit status.

use std::io::Write;
use std::process::ExitCode;

use botevents::cli::{Cli, Command, ConvertArgs, EnvSecrets, ExportArgs, LogFormat, SimulateArgs, SimulatorDefaults};
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

async fn export(args: ExportArgs) -> i32 {
    let summary_path = args.summary_json.clone();
    let max_duration = args.max_duration;
    let mut sim = None;
    if args.simulate {
        let config = SimConfig {
            now: args.now,
            chaos: args.faults.chaos(),
            token_calls: args.faults.token_calls,
            ..SimConfig::default()
        };
        match Simulator::start(config, ([127, 0, 0, 1], 0).into()).await {
            Ok(s) => sim = Some(s),
            Err(e) => {
                eprintln!("botevents: cannot start the simulator: {e}");
                return EXIT_FAILURE;
            }
        }
    }
    let defaults = sim.as_ref().map(|s| {
        let c = s.config();
        SimulatorDefaults {
            url: s.base_url(),
            account: c.account.clone(),
            bots: c.bots.iter().map(|b| b.id.clone()).collect(),
            api_key: c.api_key.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
        }
    });
    let cfg = match args.into_config(EnvSecrets::from_env(), defaults.as_ref(), chrono::Utc::now()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("botevents: {}", Report(&e));
            return e.exit_code();
        }
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

async fn convert(args: ConvertArgs) -> i32 {
    let summary_path = args.summary_json.clone();
    let cfg = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("botevents: {}", Report(&e));
            return e.exit_code();
        }
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
