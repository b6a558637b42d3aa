//! dbt sources for the tables, generated from the schema files: the `sources.yml` that
//! `botevents schema --dialect dbt` prints.
//!
//! In: the tables and the destination. Out: one source, `botevents`, with a table per
//! [`Table`] asked for, each column described and `not_null`-tested where the schema says it
//! can hold no null, a freshness check matched to the API's daily rhythm, and where the data is:
//!
//! * always, except for a Snowflake stage, `meta.external_location` for dbt-duckdb: a
//!   `read_parquet(…, hive_partitioning = true)` over the Hive layout, the same relation as the
//!   DuckDB view of [`crate::ddl`];
//! * for `gs://…`, an `external:` block in the shape of dbt-external-tables for BigQuery (an
//!   external table with Hive partitioning), the columns typed for BigQuery;
//! * for a stage (`@…`), an `external:` block for Snowflake (an external table partitioned by
//!   the path), the columns typed for Snowflake.
//!
//! The YAML is written by hand: every string is a double-quoted scalar, so no value can turn into
//! another type or break the document. Parquet only, like the DDL.

use std::fmt::Write;

use crate::ddl::{base_location, bigquery_ident, bigquery_type, snowflake_type};
use crate::schema::Table;

/// The source's name: `{{ source('botevents', 'custom_event_detail') }}`.
pub const SOURCE_NAME: &str = "botevents";

/// Freshness of the detail and catalog tables, in hours since the newest `event_time` or
/// `window_end`: warn, error.
///
/// The API serves a UTC day once it is complete, at 03:00 America/New_York the next day (07:00
/// or 08:00 UTC). A daily run after that exports up to the end of yesterday, so just before the
/// next run the newest event is about 32 hours old: 36 hours means a run is late, 60 hours that a
/// whole day's run is missing.
pub const DETAIL_FRESHNESS_HOURS: (u32, u32) = (36, 60);

/// Freshness of the totals and histogram, in hours since the newest `period_start`: a day's
/// rows start at its midnight, a day before the detail table's newest event, hence 24 hours more.
pub const PERIOD_FRESHNESS_HOURS: (u32, u32) = (60, 84);

/// Where the files are, which decides the `external:` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Warehouse {
    /// A local folder or another object store: dbt-duckdb's `external_location` only.
    DuckDb,
    /// `gs://…`: a BigQuery external table too.
    BigQuery,
    /// `@stage…`: a Snowflake external table, and no DuckDB location.
    Snowflake,
}

impl Warehouse {
    fn of(location: &str) -> Self {
        if location.starts_with("gs://") {
            Warehouse::BigQuery
        } else if location.starts_with('@') {
            Warehouse::Snowflake
        } else {
            Warehouse::DuckDb
        }
    }
}

/// A double-quoted YAML scalar holding exactly `s`.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What a column means to someone writing a model, with the API field it comes from; the schema
/// file's description (which names the field tersely) is the fallback.
fn column_doc(table: Table, column: &str) -> Option<&'static str> {
    Some(match (table, column) {
        (_, "account_id") => "Conversational Cloud account (brand) id the export ran for.",
        (_, "bot_id") => "Conversation Builder bot id the export ran for.",
        (Table::Detail, "event_name") => {
            "Name of the custom event, as the bot's Custom Event interaction set it (eventName)."
        }
        (Table::Total, "event_name") => "Name of the custom event (Event Name).",
        (Table::Catalog, "event_name") => "Name of a custom event the bot triggered within the window (name).",
        (Table::Histogram, "event_name") => "Name of the custom event, spelled as in the catalog (customEventName).",
        (Table::Histogram, "platform") => "Channel the conversation ran on, e.g. HTMLCLIENT (key of platformCount).",
        (Table::Total, "platform") => {
            "Channel the conversation ran on, e.g. HTMLCLIENT (the CSV column the count is in)."
        }
        (_, "platform") => "Channel the conversation ran on, e.g. HTMLCLIENT (platform).",
        (Table::Detail, "event_details") => {
            "Details the interaction attached to the event (eventDetails); null when empty."
        }
        (Table::Detail, "user_text") => "What the consumer typed (userText); null when empty.",
        (Table::Detail, "event_time") => "When the event was created, UTC (eventCreationTime).",
        (Table::Detail, "conversation_id") => "Conversation the event happened in (conversationId).",
        (Table::Detail, "matched_title") => {
            "Title of the intent or dialog the message matched (matchedTitle); null when empty."
        }
        (Table::Total, "event_detail") => "Event detail the counts are broken down by (Event Detail); null when empty.",
        (Table::Total, "event_count") => {
            "Events in the period on the platform; never zero, zero counts are not written."
        }
        (Table::Histogram, "event_count") => "Events in the period on the platform (platformCount value); never zero.",
        (Table::Total, "period_start") => {
            "Start of the period counted, UTC: the day's midnight, or the hour for hourly counts (Date)."
        }
        (Table::Histogram, "period_start") => {
            "Start of the period counted, UTC: the day's midnight, or the hour for hourly counts (dateTime)."
        }
        (_, "interval") => "Length of the period: daily or hourly.",
        (Table::Catalog, "has_children") => "Whether the event has event details below it (hasChildrens).",
        (Table::Catalog, "window_start") => "Start of the window the catalog was asked for, UTC.",
        (Table::Catalog, "window_end") => "End of the window, exclusive, UTC.",
        _ => return None,
    })
}

/// The column whose newest value says how fresh `table` is, and its (warn, error) hours.
///
/// The detail's newest `event_time` and the catalog's newest `window_end` are at most the end of
/// the last exported day; a total's or histogram's `period_start` is that day's midnight, a day
/// earlier (hourly periods are later, so they pass as well).
fn freshness(table: Table) -> (&'static str, (u32, u32)) {
    match table {
        Table::Detail => ("event_time", DETAIL_FRESHNESS_HOURS),
        Table::Catalog => ("window_end", DETAIL_FRESHNESS_HOURS),
        Table::Total | Table::Histogram => ("period_start", PERIOD_FRESHNESS_HOURS),
    }
}

/// The `sources.yml` for `tables`, with the data at `location` (the export's `--dest`, a
/// `gs://bucket/prefix` or a Snowflake stage such as `@botevents`).
pub fn sources_yml(tables: &[Table], location: &str) -> String {
    let base = base_location(location);
    let warehouse = Warehouse::of(&base);
    let (warn, error) = DETAIL_FRESHNESS_HOURS;
    let (pwarn, perror) = PERIOD_FRESHNESS_HOURS;
    let mut y = String::new();
    let w = &mut y;
    // Writing to a String cannot fail.
    let _ = writeln!(w, "# dbt sources for the tables of `botevents export`, from `botevents schema --dialect dbt`.");
    let _ = writeln!(w, "# Data at {base}, Hive-partitioned by event_date (the UTC day).");
    let _ = writeln!(w, "#");
    let _ = writeln!(w, "# Freshness follows the API's daily rhythm: a UTC day is served once it is complete, at");
    let _ = writeln!(w, "# 03:00 America/New_York the next day (07:00 or 08:00 UTC). A daily export after that writes");
    let _ = writeln!(w, "# up to the end of yesterday, so just before the next run the newest event_time is about");
    let _ = writeln!(w, "# 32 hours old: warn after {warn} hours (a run is late), error after {error} (a day's run is");
    let _ = writeln!(w, "# missing). The catalog's window_end is the same bound. The totals and histogram are checked");
    let _ = writeln!(
        w,
        "# on period_start, the day's midnight, 24 hours earlier: warn after {pwarn}, error after {perror}."
    );
    match warehouse {
        Warehouse::DuckDb => {
            let _ = writeln!(w, "#");
            let _ = writeln!(w, "# dbt-duckdb reads the files through meta.external_location.");
        }
        Warehouse::BigQuery => {
            let _ = writeln!(w, "#");
            let _ =
                writeln!(w, "# dbt-duckdb reads the files through meta.external_location; for BigQuery, the external:");
            let _ = writeln!(
                w,
                "# blocks create external tables with dbt-external-tables (dbt run-operation stage_external_sources)."
            );
        }
        Warehouse::Snowflake => {
            let _ = writeln!(w, "#");
            let _ = writeln!(w, "# The external: blocks create Snowflake external tables over the stage with");
            let _ = writeln!(w, "# dbt-external-tables (dbt run-operation stage_external_sources).");
        }
    }
    let _ = writeln!(w, "version: 2");
    let _ = writeln!(w);
    let _ = writeln!(w, "sources:");
    let _ = writeln!(w, "  - name: {SOURCE_NAME}");
    let _ = writeln!(
        w,
        "    description: {}",
        quoted("LivePerson Conversation Builder Bot Analytics custom events, exported by botevents.")
    );
    let _ = writeln!(w, "    loader: botevents");
    let _ = writeln!(w, "    tables:");
    for &table in tables {
        let def = table.def();
        let name = table.name();
        let from = &def.partition.from;
        let (loaded_at, (warn, error)) = freshness(table);
        let _ = writeln!(w, "      - name: {name}");
        let _ = writeln!(
            w,
            "        description: {}",
            quoted(&format!("{} Partitioned by event_date, the UTC day of {from}.", def.description))
        );
        if warehouse != Warehouse::Snowflake {
            let path = format!("{base}/{name}/**/*.parquet").replace('\'', "''");
            let _ = writeln!(w, "        meta:");
            let _ = writeln!(
                w,
                "          external_location: {}",
                quoted(&format!("read_parquet('{path}', hive_partitioning = true)"))
            );
        }
        let _ = writeln!(w, "        loaded_at_field: {loaded_at}");
        let _ = writeln!(w, "        freshness:");
        let _ = writeln!(w, "          warn_after: {{count: {warn}, period: hour}}");
        let _ = writeln!(w, "          error_after: {{count: {error}, period: hour}}");
        match warehouse {
            Warehouse::DuckDb => {}
            Warehouse::BigQuery => {
                let _ = writeln!(w, "        external:");
                let _ = writeln!(w, "          location: {}", quoted(&format!("{base}/{name}/*")));
                let _ = writeln!(w, "          options:");
                let _ = writeln!(w, "            format: parquet");
                let _ = writeln!(w, "            hive_partition_uri_prefix: {}", quoted(&format!("{base}/{name}")));
                let _ = writeln!(w, "          partitions:");
                let _ = writeln!(w, "            - name: event_date");
                let _ = writeln!(w, "              data_type: date");
            }
            Warehouse::Snowflake => {
                let _ = writeln!(w, "        external:");
                let _ = writeln!(w, "          location: {}", quoted(&format!("{base}/{name}/")));
                let _ = writeln!(w, "          file_format: \"(type = parquet)\"");
                let _ = writeln!(w, "          auto_refresh: false");
                let _ = writeln!(w, "          partitions:");
                let _ = writeln!(w, "            - name: event_date");
                let _ = writeln!(w, "              data_type: date");
                let _ = writeln!(
                    w,
                    "              expression: {}",
                    quoted("to_date(split_part(split_part(metadata$filename, 'event_date=', 2), '/', 1))")
                );
            }
        }
        let _ = writeln!(w, "        columns:");
        for (c, f) in def.columns.iter().zip(table.schema().fields()) {
            let doc = column_doc(table, &c.name).unwrap_or(&c.description);
            let _ = writeln!(w, "          - name: {}", c.name);
            let _ = writeln!(w, "            description: {}", quoted(doc));
            match warehouse {
                Warehouse::DuckDb => {}
                Warehouse::BigQuery => {
                    let _ = writeln!(w, "            data_type: {}", bigquery_type(f.data_type()));
                    if bigquery_ident(&c.name) != c.name {
                        // A reserved word (`interval`): dbt-external-tables quotes it when told.
                        let _ = writeln!(w, "            quote: true");
                    }
                }
                Warehouse::Snowflake => {
                    let _ = writeln!(w, "            data_type: {}", quoted(snowflake_type(f.data_type())));
                }
            }
            if !f.is_nullable() {
                let _ = writeln!(w, "            data_tests:");
                let _ = writeln!(w, "              - not_null");
            }
        }
        if warehouse == Warehouse::DuckDb {
            // The partition column, from the path; in the external: blocks it is a partition.
            let _ = writeln!(w, "          - name: {}", def.partition.column);
            let _ = writeln!(
                w,
                "            description: {}",
                quoted(&format!("UTC day of {from}: the Hive partition (event_date=YYYY-MM-DD) the file is in."))
            );
            let _ = writeln!(w, "            data_tests:");
            let _ = writeln!(w, "              - not_null");
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `yaml` with PyYAML when a Python with it is at hand (the dbt check's venv, or
    /// `PYTHON`) and returns it as JSON text; `None` when there is none.
    fn parse_with_pyyaml(yaml: &str) -> Option<serde_json::Value> {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let candidates = [
            std::env::var("PYTHON").ok(),
            Some(concat!(env!("CARGO_MANIFEST_DIR"), "/target/dbt-venv/bin/python").to_string()),
            Some("python3".to_string()),
        ];
        for python in candidates.into_iter().flatten() {
            let probe = Command::new(&python).args(["-c", "import yaml"]).stderr(Stdio::null()).status();
            if !matches!(probe, Ok(s) if s.success()) {
                continue;
            }
            let mut child = Command::new(&python)
                .args(["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python starts");
            child.stdin.take().expect("stdin").write_all(yaml.as_bytes()).expect("write yaml");
            let out = child.wait_with_output().expect("python ends");
            assert!(out.status.success(), "PyYAML rejected:\n{yaml}");
            return Some(serde_json::from_slice(&out.stdout).expect("json"));
        }
        eprintln!("no Python with PyYAML (set PYTHON): the YAML is not parsed");
        None
    }

    fn table<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
        let source = &doc["sources"][0];
        assert_eq!(source["name"], SOURCE_NAME);
        source["tables"].as_array().expect("tables").iter().find(|t| t["name"] == name).expect("table")
    }

    #[test]
    fn quoted_scalars_escape_what_yaml_would_read() {
        assert_eq!(quoted("a \"b\" \\ c"), r#""a \"b\" \\ c""#);
        assert_eq!(quoted("x\ny"), r#""x\ny""#);
        assert_eq!(quoted("yes"), r#""yes""#);
    }

    #[test]
    fn every_column_has_a_written_description() {
        for table in Table::ALL {
            for c in &table.def().columns {
                assert!(column_doc(table, &c.name).is_some(), "{table}.{} has no description", c.name);
            }
        }
    }

    #[test]
    fn duckdb_sources_list_every_column_and_test_the_required_ones() {
        let yml = sources_yml(&Table::ALL, "file:///data/my%20lake/");
        assert!(yml.contains(
            r#"external_location: "read_parquet('/data/my lake/custom_event_detail/**/*.parquet', hive_partitioning = true)""#
        ));
        assert!(!yml.contains("external:"));
        let Some(doc) = parse_with_pyyaml(&yml) else { return };
        assert_eq!(doc["version"], 2);
        for t in Table::ALL {
            let tab = table(&doc, t.name());
            let cols = tab["columns"].as_array().expect("columns");
            let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().expect("name")).collect();
            let mut want: Vec<&str> = t.def().columns.iter().map(|c| c.name.as_str()).collect();
            want.push("event_date");
            assert_eq!(names, want);
            for (c, f) in cols.iter().zip(t.schema().fields()) {
                assert!(!c["description"].as_str().expect("description").is_empty());
                let tested = c["data_tests"].as_array().is_some_and(|a| a.iter().any(|x| x == "not_null"));
                assert_eq!(tested, !f.is_nullable(), "{t}.{}", f.name());
            }
            assert_eq!(tab["loaded_at_field"], freshness(t).0);
            assert_eq!(tab["freshness"]["warn_after"]["period"], "hour");
        }
        assert_eq!(table(&doc, "custom_event_detail")["loaded_at_field"], "event_time");
        assert_eq!(table(&doc, "custom_event_detail")["freshness"]["warn_after"]["count"], 36);
        assert_eq!(table(&doc, "custom_event_detail")["freshness"]["error_after"]["count"], 60);
        assert_eq!(table(&doc, "custom_event_total")["loaded_at_field"], "period_start");
        assert_eq!(table(&doc, "custom_event_total")["freshness"]["warn_after"]["count"], 60);
        assert_eq!(table(&doc, "custom_event_catalog")["loaded_at_field"], "window_end");
    }

    #[test]
    fn quotes_in_the_location_survive_yaml_and_sql() {
        let yml = sources_yml(&[Table::Detail], "/data/o'brien \"lake\"");
        assert!(yml.contains(r#"read_parquet('/data/o''brien \"lake\"/custom_event_detail/**/*.parquet'"#), "{yml}");
        let Some(doc) = parse_with_pyyaml(&yml) else { return };
        assert_eq!(
            table(&doc, "custom_event_detail")["meta"]["external_location"],
            "read_parquet('/data/o''brien \"lake\"/custom_event_detail/**/*.parquet', hive_partitioning = true)"
        );
    }

    #[test]
    fn bigquery_external_tables_with_hive_partitions() {
        let yml = sources_yml(&[Table::Detail, Table::Total], "gs://lake/botevents/");
        for part in [
            r#"location: "gs://lake/botevents/custom_event_total/*""#,
            r#"hive_partition_uri_prefix: "gs://lake/botevents/custom_event_total""#,
            "format: parquet",
            "data_type: TIMESTAMP",
            "quote: true",
        ] {
            assert!(yml.contains(part), "{part} missing from\n{yml}");
        }
        let Some(doc) = parse_with_pyyaml(&yml) else { return };
        let total = table(&doc, "custom_event_total");
        assert_eq!(total["external"]["partitions"][0]["name"], "event_date");
        let interval = total["columns"].as_array().expect("columns").iter().find(|c| c["name"] == "interval");
        assert_eq!(interval.expect("interval")["quote"], true);
    }

    #[test]
    fn snowflake_external_tables_over_a_stage() {
        let yml = sources_yml(&[Table::Histogram], "@botevents");
        for part in [
            r#"location: "@botevents/custom_event_histogram/""#,
            r#"file_format: "(type = parquet)""#,
            r#"data_type: "NUMBER(19,0)""#,
            "metadata$filename, 'event_date=', 2)",
        ] {
            assert!(yml.contains(part), "{part} missing from\n{yml}");
        }
        assert!(!yml.contains("external_location"), "a stage is not a path DuckDB can read");
        let Some(doc) = parse_with_pyyaml(&yml) else { return };
        assert_eq!(table(&doc, "custom_event_histogram")["external"]["auto_refresh"], false);
    }
}
