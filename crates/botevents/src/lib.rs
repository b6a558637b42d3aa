//! botevents — exports LivePerson Conversation Builder Bot Analytics custom events to typed,
//! date-partitioned Parquet (or Arrow IPC) files on local disk, S3, GCS or Azure.
//!
//! # Layout
//!
//! The modules follow the data's path:
//!
//! ```text
//! plan ──► fetch ──► convert ──► write ──► commit
//! ```
//!
//! * [`plan`] — requested range → UTC-midnight-aligned windows of ≤ 7 days, retention and
//!   freshness; [`plan::BotSchedule`], the one schedule that export, plan and state follow.
//! * [`fetch`] — the API client: discovery, login, SSO, one rate limiter per API key, retries, streamed bodies.
//! * [`convert`] — push decoders: CSV (and the small JSON answers) → Arrow `RecordBatch`es of the
//!   fixed [`schema`]s.
//! * [`write`](mod@write) — one Parquet/Arrow file per (table, account, bot, UTC day) through `object_store`
//!   (local disk too: [`write::LocalStore`] stages, fsyncs and renames, so every store looks alike),
//!   visible whole or not at all.
//! * [`commit`] — per-bot cursors, written only after a window's files are durable.
//! * [`export`] — the pipeline that ties the stages together, and its [`export::RunSummary`].
//! * [`ops`] — operating an export: `plan` (what a run would do, sending nothing), `check`
//!   (login, SSO, one small call) and `state` (show or reset the per-bot cursors).
//! * [`config`] — options, environment snapshot and config file → validated configs. The
//!   library knows no command line and reads no environment variable: the `botevents` binary
//!   parses the arguments, takes the snapshot and reads the file.
//! * [`error`] — the public [`Error`], which the stages' errors fold into.
//!
//! Shared by all of them:
//!
//! * [`stream`] — the vocabulary of every stage: the API's [`stream::Stream`]s and the
//!   [`stream::Interval`] of the bucketed ones.
//! * [`exit`] — the documented exit statuses, and which of several wins.
//! * [`cpu`] — the one bridge from async code onto the rayon pool.
//! * [`schema`], [`ddl`], [`dbt`] — the tables, warehouse DDL (DuckDB, BigQuery, Snowflake) and
//!   a dbt `sources.yml` generated from them; [`secret`] — values that never print.
//!
//! # Layers
//!
//! Each top-level module names only modules of a lower layer, so they import each other without
//! a cycle (`tests/layering.rs` checks it), lowest first:
//!
//! ```text
//! secret, exit, schema, ddl, dbt, stream, plan, cpu, convert, fetch, write, commit, error, export, ops, config
//! ```
//!
//! The API simulator is a crate of its own (`botevents-simulator`), which does not depend on this
//! one.

pub mod commit;
pub mod config;
pub mod convert;
pub mod cpu;
pub mod dbt;
pub mod ddl;
pub mod error;
pub mod exit;
pub mod export;
pub mod fetch;
pub mod ops;
pub mod plan;
pub mod schema;
pub mod secret;
pub mod stream;
pub mod write;

pub use error::Error;
