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
//!   file per ledger kind, CSV reference tables); CEL row rules compiled once.
//! - [`checks`]: built-in domain checks, one file each (`cn_id`, `cn_disability_cert`,
//!   `cn_phone`); rule files attach them to columns and word their messages.
//! - [`validate`]: runs one file through its kind's rules into [`validate::Finding`]s.
//! - [`annotate`]: writes the sender's workbook back with problem cells highlighted and
//!   explained, plus a `问题清单` sheet.
//! - [`samples`]: realistic generated register workbooks for tests, the demo and benchmarks.
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
