//! The fixed table schemas.
//!
//! In: the JSON files under `schemas/`, compiled into the binary. Out: Arrow [`Schema`]s and the
//! column descriptions that `botevents schema` prints. The files are the single source of truth:
//! nothing else in the crate spells a column type, and the tests below pin them to SPEC §4.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

/// One of the tables botevents writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `custom_event_detail`, from the `detail` stream.
    Detail,
    /// `custom_event_total`, from the `total` stream.
    Total,
    /// `custom_event_catalog`, from the `catalog` stream.
    Catalog,
    /// `custom_event_histogram`, from the `histogram` stream.
    Histogram,
}

impl Table {
    /// Every table, in the order `botevents schema` prints them.
    pub const ALL: [Table; 4] = [Table::Detail, Table::Total, Table::Catalog, Table::Histogram];

    /// The table's name, which is also its folder at the destination.
    pub fn name(self) -> &'static str {
        match self {
            Table::Detail => "custom_event_detail",
            Table::Total => "custom_event_total",
            Table::Catalog => "custom_event_catalog",
            Table::Histogram => "custom_event_histogram",
        }
    }

    /// The table's definition, loaded from `schemas/<name>.json`.
    pub fn def(self) -> &'static TableDef {
        let defs = &*DEFS;
        match self {
            Table::Detail => &defs[0],
            Table::Total => &defs[1],
            Table::Catalog => &defs[2],
            Table::Histogram => &defs[3],
        }
    }

    /// The table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        self.def().schema.clone()
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A table as described by its schema file.
#[derive(Debug)]
pub struct TableDef {
    /// The table name.
    pub table: String,
    /// What one row means.
    pub description: String,
    /// The Hive partition column and the timestamp column it is derived from.
    pub partition: PartitionDef,
    /// The columns, in file order.
    pub columns: Vec<ColumnDef>,
    /// The Arrow schema built from `columns`.
    pub schema: SchemaRef,
}

/// How a table is partitioned.
#[derive(Debug, Deserialize)]
pub struct PartitionDef {
    /// The Hive partition key, `event_date`.
    pub column: String,
    /// The timestamp column whose UTC day gives the partition.
    pub from: String,
}

/// One column of a table.
#[derive(Debug, Deserialize)]
pub struct ColumnDef {
    /// snake_case column name.
    pub name: String,
    /// Arrow type, in `arrow_schema::DataType`'s textual form.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether the column may hold nulls.
    pub nullable: bool,
    /// Where the value comes from.
    pub description: String,
    /// Whether Parquet files dictionary-encode the column: yes unless its values rarely repeat
    /// (free text, times), where a dictionary costs time and space and is abandoned anyway.
    #[serde(default = "enabled_by_default")]
    pub parquet_dictionary: bool,
    /// Whether Parquet files hold min/max statistics of the column: yes unless its range spans
    /// everything in any row group (free text, random ids), so that no reader can prune on it,
    /// while the comparisons cost a share of the encoding.
    #[serde(default = "enabled_by_default")]
    pub parquet_statistics: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Deserialize)]
struct RawDef {
    table: String,
    description: String,
    partition: PartitionDef,
    columns: Vec<ColumnDef>,
}

const SOURCES: [(&str, &str); 4] = [
    ("custom_event_detail", include_str!("../schemas/custom_event_detail.json")),
    ("custom_event_total", include_str!("../schemas/custom_event_total.json")),
    ("custom_event_catalog", include_str!("../schemas/custom_event_catalog.json")),
    ("custom_event_histogram", include_str!("../schemas/custom_event_histogram.json")),
];

static DEFS: LazyLock<Vec<TableDef>> =
    LazyLock::new(|| SOURCES.iter().map(|(name, text)| parse_def(name, text)).collect());

/// Parses a schema file. The files are part of the binary and a unit test parses every one, so a
/// failure here is a build defect, reported with the file and the reason.
fn parse_def(name: &str, text: &str) -> TableDef {
    let raw: RawDef = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("schemas/{name}.json is not a valid table definition: {e}"));
    let fields: Vec<Field> = raw
        .columns
        .iter()
        .map(|c| {
            let dt = DataType::from_str(&c.data_type)
                .unwrap_or_else(|e| panic!("schemas/{name}.json: column {}: bad type {:?}: {e}", c.name, c.data_type));
            Field::new(&c.name, dt, c.nullable)
        })
        .collect();
    TableDef {
        table: raw.table,
        description: raw.description,
        partition: raw.partition,
        columns: raw.columns,
        schema: Arc::new(Schema::new(fields)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::TimeUnit;

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }
    fn dict16() -> DataType {
        DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8))
    }
    fn dict8() -> DataType {
        DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
    }

    fn check(table: Table, expected: &[(&str, DataType, bool)]) {
        let schema = table.schema();
        let got: Vec<(String, DataType, bool)> =
            schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable())).collect();
        let want: Vec<(String, DataType, bool)> =
            expected.iter().map(|(n, t, null)| (n.to_string(), t.clone(), *null)).collect();
        assert_eq!(got, want, "{table}");
        assert_eq!(table.def().table, table.name());
        assert_eq!(table.def().partition.column, "event_date");
        assert!(schema.field_with_name(&table.def().partition.from).is_ok());
    }

    #[test]
    fn detail_matches_spec() {
        use DataType::Utf8;
        check(
            Table::Detail,
            &[
                ("account_id", Utf8, false),
                ("bot_id", Utf8, false),
                ("event_name", Utf8, false),
                ("platform", dict16(), false),
                ("event_details", Utf8, true),
                ("user_text", Utf8, true),
                ("event_time", ts(), false),
                ("conversation_id", Utf8, false),
                ("matched_title", Utf8, true),
            ],
        );
    }

    #[test]
    fn total_matches_spec() {
        use DataType::{Int64, Utf8};
        check(
            Table::Total,
            &[
                ("account_id", Utf8, false),
                ("bot_id", Utf8, false),
                ("event_name", Utf8, false),
                ("event_detail", Utf8, true),
                ("platform", dict16(), false),
                ("event_count", Int64, false),
                ("period_start", ts(), false),
                ("interval", dict8(), false),
            ],
        );
    }

    #[test]
    fn catalog_and_histogram_match_spec() {
        use DataType::{Boolean, Int64, Utf8};
        check(
            Table::Catalog,
            &[
                ("account_id", Utf8, false),
                ("bot_id", Utf8, false),
                ("event_name", Utf8, false),
                ("has_children", Boolean, false),
                ("window_start", ts(), false),
                ("window_end", ts(), false),
            ],
        );
        check(
            Table::Histogram,
            &[
                ("account_id", Utf8, false),
                ("bot_id", Utf8, false),
                ("event_name", Utf8, false),
                ("platform", dict16(), false),
                ("period_start", ts(), false),
                ("interval", dict8(), false),
                ("event_count", Int64, false),
            ],
        );
    }
}
