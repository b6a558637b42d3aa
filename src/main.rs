//! The `botevents` binary: parse arguments, set up logging, run, map the outcome to an exit status.
//!
//! # Layout
//!
//! * [`args`] — clap: the `--help` texts and their conversion into the library's options.
//! * [`env`] — the environment snapshot (with the AWS shared profile) and the `--config` file.
//! * [`commands`] — one function per subcommand: configs, run, report, exit status.
//! * [`logging`] and [`progress_bar`] — the terminal side.
//! * [`malloc`] — the allocator tuning of the converter.
//!
//! The pipeline is the `botevents` library (crates/botevents); the API stand-in of `simulate` and
//! `export --simulate` is `botevents-simulator` (crates/botevents-simulator).

mod args;
mod commands;
mod env;
mod logging;
mod malloc;
mod progress_bar;

use std::process::ExitCode;

use botevents::exit::Exit;
use clap::Parser;

use crate::args::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Parsing starts no thread, so the tuning still comes before any other thread. `simulate`
    // keeps an arena per thread (see `tune_malloc`).
    malloc::tune_malloc(!matches!(cli.command, Command::Simulate(_)));
    logging::init(&cli);
    // A bar only where a person watches: on a terminal, with human logs that are not silenced.
    let show_progress =
        std::io::IsTerminal::is_terminal(&std::io::stderr()) && cli.log_format == LogFormat::Text && !cli.quiet;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("botevents: cannot start the async runtime: {e}");
            return Exit::Failure.into();
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Export(args) => commands::export(*args, show_progress).await,
            Command::Convert(args) => commands::convert(args).await,
            Command::Schema(args) => {
                print!("{}", args.render());
                Exit::Ok
            }
            Command::Simulate(args) => commands::simulate(args).await,
            Command::Plan(args) => commands::plan(*args).await,
            Command::Check(args) => commands::check(*args).await,
            Command::State(args) => commands::state(args).await,
            Command::Completions(args) => commands::completions(args),
        }
    });
    // A read of stdin that was abandoned on a signal sits in a blocking thread: don't wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code.into()
}
