//! The `tracing` subscriber of the binary: which lines are logged, how they look, where they go.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use crate::args::{Cli, LogFormat};
use crate::progress_bar;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// For a person at a terminal, like cargo's or uv's lines: the local time to the second, the
    /// level, the message, the fields (`12:03:04  INFO window done bot=x rows=10`).
    Compact,
    /// For files, pipes and schedulers' logs: a full RFC 3339 timestamp in UTC (to the
    /// microsecond), the level, the message, the fields.
    Full,
    /// One JSON object per line with an RFC 3339 timestamp, for log pipelines.
    Json,
}

impl Style {
    /// The style of `--log-format format` on a stderr that is a terminal or not: JSON when asked;
    /// text is compact only where a person reads it, so that what is logged to files and CI
    /// output keeps its full timestamps.
    pub fn choose(format: LogFormat, stderr_is_terminal: bool) -> Style {
        match format {
            LogFormat::Json => Style::Json,
            LogFormat::Text if stderr_is_terminal => Style::Compact,
            LogFormat::Text => Style::Full,
        }
    }
}

/// Logs on stderr (above the progress bar, when one is drawn), filtered by `-v`, `-q` or
/// `BOTEVENTS_LOG`, in the [`Style`] of `--log-format` and the terminal.
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
    let filter = EnvFilter::try_from_env("BOTEVENTS_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let terminal = std::io::stderr().is_terminal();
    let style = Style::choose(cli.log_format, terminal);
    // Installed once, before anything logs: there is no other subscriber it could clash with.
    let _ = tracing::subscriber::set_global_default(subscriber(style, filter, || progress_bar::LogWriter, terminal));
}

/// The subscriber that writes lines of `style` to `writer`, with colours when `ansi`.
fn subscriber<W>(style: Style, filter: EnvFilter, writer: W, ansi: bool) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    match style {
        Style::Compact => Box::new(builder.compact().with_target(false).with_timer(LocalSeconds).finish()),
        Style::Full => Box::new(builder.with_target(false).finish()),
        Style::Json => Box::new(builder.json().finish()),
    }
}

/// The local time of day to the second (`12:03:04`): what a person at a terminal compares with
/// the clock on the wall.
struct LocalSeconds;

impl FormatTime for LocalSeconds {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", chrono::Local::now().format("%H:%M:%S"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn compact_only_for_text_on_a_terminal() {
        assert_eq!(Style::choose(LogFormat::Text, true), Style::Compact);
        assert_eq!(Style::choose(LogFormat::Text, false), Style::Full);
        assert_eq!(Style::choose(LogFormat::Json, true), Style::Json);
        assert_eq!(Style::choose(LogFormat::Json, false), Style::Json);
    }

    /// A writer that keeps what is written, for the subscriber under test.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The one line logged by an info event in `style`.
    fn line(style: Style) -> String {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = subscriber(style, EnvFilter::new("info"), move || writer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("filtered out");
            tracing::info!(bot = %"x", rows = 10, "window done");
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {text:?}");
        lines[0].to_string()
    }

    #[test]
    fn compact_lines_show_the_time_to_the_second() {
        let line = line(Style::Compact);
        let (time, rest) = line.split_at(8);
        chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(rest, "  INFO window done bot=x rows=10");
    }

    #[test]
    fn full_lines_keep_the_rfc3339_timestamp() {
        let line = line(Style::Full);
        let (stamp, rest) = line.split_once(' ').unwrap();
        let stamp = chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(stamp.offset().local_minus_utc(), 0, "UTC: {line:?}");
        assert_eq!(rest, " INFO window done bot=x rows=10");
    }

    #[test]
    fn json_lines_keep_the_rfc3339_timestamp() {
        let line = line(Style::Json);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["fields"]["message"], "window done");
        assert_eq!(value["fields"]["bot"], "x");
        assert_eq!(value["fields"]["rows"], 10);
    }
}
