//! The `tracing` subscriber of the binary.

use crate::args::{Cli, LogFormat};
use crate::progress_bar;

/// Logs on stderr (above the progress bar, when one is drawn), filtered by `-v`, `-q` or
/// `BOTEVENTS_LOG`, as text or JSON.
pub fn init(cli: &Cli) {
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
