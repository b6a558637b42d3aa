//! Warehouse DDL for the tables, generated from the schema files: DuckDB views, BigQuery and
//! Snowflake external tables over the Hive layout (partition column `event_date`). Parquet only:
//! BigQuery and Snowflake do not load Arrow IPC files, and DuckDB reads them only through an
//! extension, so the files of `--format arrow` get no DDL.

use arrow_schema::DataType;

use crate::schema::Table;

/// SQL dialects `botevents schema --dialect` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// DuckDB: a view over `read_parquet(…, hive_partitioning = true)`.
    DuckDb,
    /// BigQuery: an external table with Hive partitioning.
    BigQuery,
    /// Snowflake: an external table over a stage, partitioned by the path.
    Snowflake,
}

pub(crate) fn bigquery_type(dt: &DataType) -> &'static str {
    match dt {
        DataType::Int64 => "INT64",
        DataType::Boolean => "BOOL",
        DataType::Timestamp(..) => "TIMESTAMP",
        _ => "STRING",
    }
}

/// Column names that are reserved words in BigQuery (`interval` of the total and histogram
/// tables) must be quoted with backticks; the others are left bare.
pub(crate) fn bigquery_ident(name: &str) -> String {
    const RESERVED: &[&str] = &["interval"];
    if RESERVED.contains(&name) { format!("`{name}`") } else { name.to_string() }
}

pub(crate) fn snowflake_type(dt: &DataType) -> &'static str {
    match dt {
        DataType::Int64 => "NUMBER(19,0)",
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(..) => "TIMESTAMP_TZ",
        _ => "VARCHAR",
    }
}

/// `location` without a trailing `/`; a `file://` URL becomes the folder it names, percent-decoded.
pub(crate) fn base_location(location: &str) -> String {
    let local = url::Url::parse(location)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .map(|p| p.display().to_string());
    local.as_deref().unwrap_or(location).trim_end_matches('/').to_string()
}

/// The DDL of `table` for `dialect`, with the data at `location` (the destination: a path for
/// DuckDB, `gs://bucket/prefix` for BigQuery, a stage such as `@botevents` for Snowflake).
pub fn ddl(table: Table, dialect: Dialect, location: &str) -> String {
    let name = table.name();
    let location = base_location(location);
    let location = location.as_str();
    let schema = table.schema();
    match dialect {
        Dialect::DuckDb => format!(
            "CREATE OR REPLACE VIEW {name} AS\nSELECT * FROM read_parquet('{}/{name}/**/*.parquet', hive_partitioning = true);\n",
            location.replace('\'', "''")
        ),
        Dialect::BigQuery => {
            let cols: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| {
                    let null = if f.is_nullable() { "" } else { " NOT NULL" };
                    format!("  {} {}{null}", bigquery_ident(f.name()), bigquery_type(f.data_type()))
                })
                .collect();
            format!(
                "CREATE OR REPLACE EXTERNAL TABLE botevents.{name} (\n{}\n)\nWITH PARTITION COLUMNS (event_date DATE)\nOPTIONS (\n  format = 'PARQUET',\n  uris = ['{location}/{name}/*'],\n  hive_partition_uri_prefix = '{location}/{name}'\n);\n",
                cols.join(",\n")
            )
        }
        Dialect::Snowflake => {
            let mut cols = vec![format!(
                "  event_date DATE AS TO_DATE(SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'event_date=', 2), '/', 1))"
            )];
            cols.extend(schema.fields().iter().map(|f| {
                let t = snowflake_type(f.data_type());
                format!("  {} {t} AS (VALUE:{}::{t})", f.name(), f.name())
            }));
            format!(
                "CREATE OR REPLACE EXTERNAL TABLE {name} (\n{}\n)\nPARTITION BY (event_date)\nLOCATION = {location}/{name}/\nFILE_FORMAT = (TYPE = PARQUET)\nAUTO_REFRESH = FALSE;\n",
                cols.join(",\n")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_url_is_the_folder_it_names() {
        assert_eq!(
            ddl(Table::Detail, Dialect::DuckDb, "file:///data/my%20lake/"),
            ddl(Table::Detail, Dialect::DuckDb, "/data/my lake")
        );
        assert!(
            ddl(Table::Detail, Dialect::DuckDb, "file:///data/my%20lake")
                .contains("'/data/my lake/custom_event_detail/")
        );
    }

    #[test]
    fn duckdb_view_over_the_hive_layout() {
        assert_eq!(
            ddl(Table::Detail, Dialect::DuckDb, "/data/lake/"),
            "CREATE OR REPLACE VIEW custom_event_detail AS\nSELECT * FROM read_parquet('/data/lake/custom_event_detail/**/*.parquet', hive_partitioning = true);\n"
        );
    }

    #[test]
    fn bigquery_and_snowflake_name_every_column_with_its_type() {
        let bq = ddl(Table::Total, Dialect::BigQuery, "gs://lake/botevents");
        for part in [
            "event_count INT64 NOT NULL",
            "event_detail STRING,",
            "period_start TIMESTAMP NOT NULL",
            "WITH PARTITION COLUMNS (event_date DATE)",
            "hive_partition_uri_prefix = 'gs://lake/botevents/custom_event_total'",
            "`interval` STRING NOT NULL",
        ] {
            assert!(bq.contains(part), "{part} missing from\n{bq}");
        }
        let sf = ddl(Table::Detail, Dialect::Snowflake, "@botevents");
        for part in [
            "event_time TIMESTAMP_TZ AS (VALUE:event_time::TIMESTAMP_TZ)",
            "PARTITION BY (event_date)",
            "LOCATION = @botevents/custom_event_detail/",
        ] {
            assert!(sf.contains(part), "{part} missing from\n{sf}");
        }
    }

    #[test]
    fn the_catalog_and_histogram_tables_too() {
        let bq = ddl(Table::Catalog, Dialect::BigQuery, "gs://lake/botevents");
        for part in ["has_children BOOL NOT NULL", "window_start TIMESTAMP NOT NULL", "window_end TIMESTAMP NOT NULL"] {
            assert!(bq.contains(part), "{part} missing from\n{bq}");
        }
        let sf = ddl(Table::Catalog, Dialect::Snowflake, "@botevents");
        assert!(sf.contains("has_children BOOLEAN AS (VALUE:has_children::BOOLEAN)"), "{sf}");
        let sf = ddl(Table::Histogram, Dialect::Snowflake, "@botevents");
        for part in [
            "event_count NUMBER(19,0) AS (VALUE:event_count::NUMBER(19,0))",
            "platform VARCHAR AS (VALUE:platform::VARCHAR)",
            "interval VARCHAR AS (VALUE:interval::VARCHAR)",
            "LOCATION = @botevents/custom_event_histogram/",
        ] {
            assert!(sf.contains(part), "{part} missing from\n{sf}");
        }
        assert!(
            ddl(Table::Histogram, Dialect::DuckDb, "/lake").contains("'/lake/custom_event_histogram/**/*.parquet'")
        );
    }
}
