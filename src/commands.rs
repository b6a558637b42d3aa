//! The commands: each takes its parsed arguments, builds its configs through
//! [`botevents::config`], runs, prints its report and returns the exit status.

use std::io::Write;
use std::sync::Arc;

use botevents::config::SimulatorDefaults;
use botevents::error::Report;
use botevents::exit::Exit;
use botevents::export::{AccountsSummary, Progress, RunSummary};
use botevents_simulator::{SimConfig, Simulator};

use crate::args::{
    Cli, CompletionsArgs, ConvertArgs, ExportArgs, PlanArgs, SimulateArgs, StateAction, StateArgs, StateTarget,
};
use crate::env::{environment, read_config};
use crate::progress_bar;

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
async fn start_simulator(args: &ExportArgs) -> Result<Option<Simulator>, Exit> {
    if !args.simulate {
        return Ok(None);
    }
    let config = args.sim_service.apply(SimConfig {
        now: args.now,
        chaos: args.faults.chaos(),
        token_calls: args.faults.token_calls,
        dialect: args.sim_dialect.dialect(),
        ..SimConfig::default()
    });
    match Simulator::start(config, ([127, 0, 0, 1], 0).into()).await {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            eprintln!("botevents: cannot start the simulator: {e}");
            Err(Exit::Failure)
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
    target: &StateTarget,
    bots: Vec<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<botevents::ops::state::StateConfig>, botevents::Error> {
    let file = read_config(target.config.as_deref())?;
    botevents::config::states(&target.options(bots), &environment(), file, now)
}

/// Prints an error (its whole chain, once) and returns its exit status.
fn print_error(e: &botevents::Error) -> Exit {
    eprintln!("botevents: {}", Report(e));
    e.exit()
}

/// `botevents export`.
pub async fn export(args: ExportArgs, show_progress: bool) -> Exit {
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
pub fn out(text: &str) {
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

/// `botevents plan`.
pub async fn plan(args: PlanArgs) -> Exit {
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
    Exit::Ok
}

/// `botevents check`.
pub async fn check(args: ExportArgs) -> Exit {
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
    Exit::worst(reports.iter().map(|r| r.exit()))
}

/// `botevents state`.
pub async fn state(args: StateArgs) -> Exit {
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
    Exit::Ok
}

/// `botevents convert`.
pub async fn convert(args: ConvertArgs) -> Exit {
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
fn report(summary: &RunSummary, json_path: Option<&str>, result: Result<(), botevents::Error>) -> Exit {
    eprint!("{}", summary.human());
    write_summary_json(summary, json_path);
    match result {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("botevents: {}", Report(&e));
            e.exit()
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

/// `botevents simulate`.
pub async fn simulate(args: SimulateArgs) -> Exit {
    let mut config = args.service.apply(SimConfig {
        seed: args.seed,
        now: args.now,
        chaos: args.faults.chaos(),
        token_calls: args.faults.token_calls,
        dialect: args.dialect.dialect(),
        ..SimConfig::default()
    });
    if !args.bots.is_empty() {
        config.bots = args.bots.iter().map(|(id, n)| botevents_simulator::SimBot::new(id.clone(), *n)).collect();
    }
    let sim = match Simulator::start(config, ([127, 0, 0, 1], args.port).into()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("botevents: cannot start the simulator on 127.0.0.1:{}: {e}", args.port);
            return Exit::Failure;
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
    Exit::Ok
}

/// `botevents completions SHELL`: the completion script of the command line as clap defines it.
pub fn completions(args: CompletionsArgs) -> Exit {
    // Generated whole, then written like any output: a closed pipe is not an error.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut <Cli as clap::CommandFactory>::command(), "botevents", &mut script);
    out(&String::from_utf8_lossy(&script));
    Exit::Ok
}
