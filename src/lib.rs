//! # taizhang (台账)
//!
//! Validates and consolidates the disabled-persons ledgers that the townships of a
//! county send to the county Disabled Persons' Federation (县残联).
//!
//! # Layout
//!
//! The modules follow a file's path through the system:
//!
//! - [`intake`]: who sent a file and for which month (sub-folder, file name, title text).
//! - [`workbook`]: opening workbooks safely ([`workbook::precheck`], panics caught),
//!   streaming rows, finding the header, normalising cell values.
//! - [`rules`]: loading, linting and compiling a rules folder (`county.toml`, one TOML
//!   file per ledger kind, CSV reference tables); CEL row rules compiled once, by
//!   `cel` (the reference) and, for the common shapes, by [`rules::native`] into a
//!   tree evaluated directly on a row's values.
//! - [`checks`]: built-in domain checks, one file each (`cn_id`, `cn_disability_cert`,
//!   `cn_phone`); rule files attach them to columns and word their messages.
//! - [`validate`]: runs one file through its kind's rules into [`validate::Finding`]s.
//! - [`annotate`]: writes the sender's workbook back with problem cells highlighted and
//!   explained, plus a `问题清单` sheet.
//! - [`store`]: the SQLite journal: every file received, every step, outcome, finding,
//!   accepted row and message, written before the next step happens.
//! - [`consolidate`]: the county workbook of a kind and period, rebuilt from the journal.
//! - [`notice`]: notices composed from `notices.toml`, queued in the journal, sent by
//!   SMTP or written as `.eml` files.
//! - [`daemon`]: the watcher: settle, archive, validate, journal, consolidate, notify;
//!   resumes after a stop. [`config`] holds its settings, [`fsutil`] durable writes.
//! - [`status`]: what the journal knows, for county staff.
//! - [`samples`] and [`demo`]: realistic generated register workbooks for tests, the
//!   demo and benchmarks.
//! - [`report`]: the text and JSON renderings of a validation run.
//!
//! User-facing text (messages, sheet names, headers) is Simplified Chinese; code,
//! docs and logs are English.

pub mod annotate;
pub mod checks;
pub mod config;
pub mod consolidate;
pub mod daemon;
pub mod demo;
pub mod fsutil;
pub mod intake;
pub mod notice;
pub mod report;
pub mod rules;
pub mod samples;
pub mod status;
pub mod store;
pub mod validate;
pub mod workbook;
