//! # taizhang (台账)
//!
//! Validates and consolidates the disabled-persons ledgers that the townships of a
//! county send to the county Disabled Persons' Federation (县残联).
//!
//! # Layout
//!
//! The modules follow a file's path through the system; each question has one
//! owner, and imports only point down this list:
//!
//! - [`daemon`]: the watcher loop and its services (the mail thread, the status
//!   page, reminders of deadlines) under one stop flag. One file's way is a
//!   queue of steps one loop drains — archived ([`daemon::Daemon::take`]), then
//!   judged, finished, and the ledgers it makes stale re-checked — described in
//!   [`daemon::submission`], whose [`daemon::submission::decide`] (pure) says the
//!   outcome. Its inputs are explicit: the journal, the rules in force, a
//!   [`sandbox::Reader`] and the clock ([`clock::fixed`] in a test), so a test
//!   runs it in-process one pass at a time. [`config`] holds its settings.
//! - [`sandbox`]: untrusted files are read and checked in a worker process of
//!   our own binary, bounded in time and memory ([`sandbox::Worker`]; tests of
//!   the daemon's logic read trusted files with [`sandbox::InProcess`]); a file
//!   that kills its worker is an outcome for that file, never the end of the
//!   daemon.
//! - [`status`]: where everything stands, for county staff (text and JSON);
//!   [`web`]: the same as a page the daemon serves (and its JSON), with
//!   downloads by submission id, the mail queue's resend and the access log;
//!   `web::server` is its HTTP side (hyper, every client bounded), the app
//!   behind it owns sessions (the access token, the password) and masking.
//! - [`consolidate`] / [`annotate`] / [`notice`] / [`report`]: render and
//!   deliver (no SQL): the county workbook of a kind and period (with, for a
//!   kind that says so, per-value statistics, 应发未发 over its register, 本期变动
//!   and 比对疑点 against the county's lists), the sender's
//!   workbook with problems marked, notices composed from `notices.toml` and sent
//!   by SMTP or written as `.eml` files, the text and JSON of a validation run.
//! - [`standing`]: the read model every reader asks: each unit's latest and
//!   counting submission per kind and period, cross-unit duplicates, a unit's
//!   latest accepted ledger, [`standing::applying`] (which referenced ledgers
//!   apply to a period, of any reference's shape) — and, as
//!   [`standing::JournalRefs`], the source of the ledgers a file is checked
//!   against (a payments ledger's register, a register's previous one, the
//!   county's lists of other agencies).
//!   [`changes`]: what changed in a unit's register since its previous one
//!   (新增 / 减少 / 变更), read from the journal for 本期变动 and the page.
//! - [`journal`]: the SQLite journal and the only module with SQL: every file
//!   received, every step, outcome, finding, accepted row, the ledgers each
//!   was checked against (its edges, as rows), the mail queue,
//!   county workbooks' freshness, the digest, the page's access log; written
//!   before the next step happens.
//! - [`validate`]: pure: a file and rules in, [`validate::Finding`]s out. Its
//!   `recognise` says which ledger a workbook is and which sheet to check, `sheet`
//!   streams that sheet (header, title lines, rows that are no person), then
//!   `normalise`, `constraints`, `row_rules`, `crosstab` (the 汇总 table) and
//!   `cross_file` (several files of one run); [`validate::refs`] is how another
//!   ledger's rows come in (a trait the caller provides; the files of a run) —
//!   validation stays pure, whatever the reference's scope and period: the
//!   month received and the sender's folder and file name come in as
//!   [`validate::Options`]; it names neither `intake` nor the clock.
//! - [`intake`]: the inbox (candidates, settling) and the archive (hash, durable
//!   copy).
//! - [`identify`]: pure: who sent a file and for which month, from the clues
//!   given (sub-folder, file name, month received, the text above the header) —
//!   asked by validation as it reads the sheet and by the daemon to order a batch.
//! - [`rules`]: loading, linting and compiling a rules folder (`county.toml`, one
//!   TOML file per ledger kind, CSV reference tables); row rules run on
//!   [`rules::cel`] (the reference) or, for common shapes, [`rules::native`].
//! - [`checks`]: built-in domain checks, one file each (`cn_id`,
//!   `cn_disability_cert`, `cn_phone`, `bank_card`); rule files attach them to columns.
//! - [`workbook`]: opening workbooks safely ([`workbook::precheck`] says the
//!   format from the bytes; panics caught), streaming rows, finding the header, normalising cell values.
//! - [`text`] (templates, HTML escaping), [`clock`] (now, settable for drills
//!   by `TAIZHANG_NOW` and for an in-process test's thread by `clock::fixed`) and [`fsutil`] (durable replace, safe
//!   names): small helpers everything may use.
//! - [`samples`] and [`demo`]: realistic generated register and payments
//!   workbooks for tests, the demo and benchmarks.
//!
//! User-facing text (messages, sheet names, headers) is Simplified Chinese; code,
//! docs and logs are English.

pub mod annotate;
pub mod changes;
pub mod checks;
pub mod clock;
pub mod config;
pub mod consolidate;
pub mod daemon;
pub mod demo;
pub mod fsutil;
pub mod identify;
pub mod intake;
pub mod journal;
pub mod notice;
pub mod report;
pub mod rules;
pub mod samples;
pub mod sandbox;
pub mod standing;
pub mod status;
pub mod text;
pub mod validate;
pub mod web;
pub mod workbook;
