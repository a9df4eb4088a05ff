//! Validation: one file through the rules, out come [`Finding`]s.
//!
//! [`validate_path`] opens the workbook, recognises its ledger kind, finds the
//! header, identifies unit and period, then streams the detail sheet row by row:
//! each cell is normalised per its column type, then column constraints, built-in
//! checks and CEL row rules run; county-unique values, and counts for sheet rules,
//! are gathered on the way. Sheet rules (the `汇总` table) run last.

mod constraints;
mod cross_file;
mod crosstab;
pub mod findings;
mod normalise;
mod recognise;
pub mod refs;
mod row_rules;
mod sheet;

use constraints::Plan;
pub use cross_file::cross_check;
use crosstab::{check_crosstab, Tally};
use normalise::Norm;
use row_rules::Memo;
use sheet::SheetPass;

use crate::checks::{CheckInput, ParamValue};
use crate::identify::{self, Source, UnitVerdict};
use crate::rules::cel::{bind_file_globals, cel_root, cel_text};
use crate::rules::native;
use crate::rules::{
    ColumnCheck, ColumnType, Kind, Lookup, RuleMeta, RuleSet, Severity, UniqueScope,
};
use crate::workbook::header::{find_header, HeaderMatch, TextRows};
use crate::workbook::value::{self, cell_date, cell_integer, cell_money, header_key, number_text};
use crate::workbook::{Book, Cell, Limits, ReadError};
use cel::common::value::CowVal;
use cel::{Context, Value};
use chrono::NaiveDate;
pub use findings::{
    CountyKey, FileReport, Finding, Layout, Place, Record, ReferenceUsed, WireReport,
};
pub use refs::{NoReferences, RefLedger, References, RunLedgers};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::Path;

/// How to validate one file.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Options {
    /// The unit, when the caller knows it for sure (`--unit`).
    pub unit: Option<String>,
    /// The inbox sub-folder the file came from, if any (a unit name).
    pub folder_unit: Option<String>,
    /// The name the file was submitted under (defaults to the path's file name).
    pub name: Option<String>,
    /// The period, when the caller knows it for sure (`--period`).
    pub period: Option<String>,
    /// The period to use when neither the name nor the sheet gives one: the
    /// month received, the caller's to say (validation reads no clock; without
    /// it such a file cannot be placed in a period and is not checked).
    pub fallback_period: Option<String>,
    pub limits: Limits,
    /// Keep every data row's normalised values in [`FileReport::records`] (the
    /// daemon stores them for consolidation).
    pub collect_rows: bool,
    /// Keep the file's rows as a ledger other files of the run are checked
    /// against ([`FileReport::ledger`]), when its kind is one of these: its key
    /// column and only the columns they read.
    #[serde(default)]
    pub as_ledger: Vec<refs::LedgerSpec>,
    /// Keep county-unique values for [`cross_check`] across the files of one run.
    pub cross_file: bool,
    /// Read and check on one thread. Otherwise xlsx is read on a second thread
    /// while rows are checked; [`validate_many`] sets it while every core already
    /// has a file of its own.
    pub single_thread: bool,
    /// Evaluate every row rule with `cel`, the reference, even where it is
    /// compiled natively (`rules::native`); for comparing the two.
    pub reference_cel: bool,
}

/// Validates one file. Never panics: a panic in a dependency becomes a fatal message.
/// A kind with `[[references]]` finds none: see [`validate_with`].
pub fn validate_path(rules: &RuleSet, path: &Path, opts: &Options) -> FileReport {
    validate_with(rules, path, opts, &NoReferences)
}

/// Validates one file, looking up the ledgers its kind refers to in `refs`.
pub fn validate_with(
    rules: &RuleSet,
    path: &Path,
    opts: &Options,
    refs: &dyn References,
) -> FileReport {
    let name = opts.name.clone().unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    let mut report = FileReport {
        file: name.clone(),
        ..FileReport::default()
    };
    let outcome = crate::workbook::guard(|| run(rules, path, opts, refs, &name, &mut report));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => report.fatal = Some(msg),
        Err(e) => report.fatal = Some(e.to_string()),
    }
    report.sort();
    report.finish();
    report
}

/// Validates many files on all cores (one worker per core pulling the next file);
/// reports come back in the order of `paths`.
pub fn validate_many<P: AsRef<Path> + Sync>(
    rules: &RuleSet,
    paths: &[P],
    opts: &Options,
) -> Vec<FileReport> {
    // While every core has a file of its own, a file is read and checked on one
    // thread; the last files (fewer left than cores) pipeline reading and checking
    // on two, since cores are then free.
    let own_core = Options {
        single_thread: true,
        ..opts.clone()
    };
    on_all_cores(paths.len(), |i, workers| {
        let crowded = paths.len() - i >= workers && workers > 1;
        validate_path(
            rules,
            paths[i].as_ref(),
            if crowded { &own_core } else { opts },
        )
    })
}

/// Runs `job(i, workers)` for every `i` in `0..count` on all cores (one thread
/// per core pulling the next index); the results come back in index order.
pub fn on_all_cores<T: Send + Default>(
    count: usize,
    job: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count)
        .max(1);
    let next = AtomicUsize::new(0);
    let slots: std::sync::Mutex<Vec<Option<T>>> =
        std::sync::Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let r = job(i, workers);
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(r);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_default())
        .collect()
}

fn run(
    rules: &RuleSet,
    path: &Path,
    opts: &Options,
    refs: &dyn References,
    name: &str,
    report: &mut FileReport,
) -> Result<(), String> {
    let mut book = Book::open(path, &opts.limits).map_err(|e| e.to_string())?;
    let format = book.format();
    report.layout.format = Some(format.name().to_string());
    let (kind, mut candidates) =
        recognise::recognise(&mut book, rules).inspect_err(|_| report.not_a_ledger = true)?;
    report.kind_name = Some(kind.name.clone());
    report.kind_id = Some(kind.id.clone());
    let (sheet, others) =
        match recognise::choose(&mut book, rules, kind, &mut candidates, opts, name)? {
            recognise::Choice::One(sheet, others) => (sheet, others),
            recognise::Choice::Refused { sheets, votes } => {
                return refuse_sheets(rules, kind, opts, name, &sheets, votes, report);
            }
        };
    report.sheet = Some(sheet.clone());

    let root = cel_root(&rules.env, &rules.standards_value, &rules.county);
    let mut pass = SheetPass::new(rules, kind, &sheet, opts, name, &root, refs);
    pass.out.layout = report.layout.clone();
    pass.shared0 = book.first_shared_string().map(str::to_string);
    pass.out.layout.other_sheets = others.clone();
    if !format.fits_extension(name) {
        let meta = kind.file_rule("wrong_extension", Severity::Warning);
        let ext = Path::new(name)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_else(|| "（无）".into());
        pass.file_finding_with(&meta, None, &ext, format.name(), &|n| {
            (n == "format").then(|| format.name().to_string())
        });
    }
    let mut read_error = None;
    let feed = |r: u32, cells: &[(u32, Cell<'_>)]| match pass.feed(r, cells) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            read_error = Some(e);
            ControlFlow::Break(())
        }
    };
    let res = if opts.single_thread {
        book.for_each_row(&sheet, feed)
    } else {
        book.stream_rows(&sheet, feed)
    };
    res.map_err(|e| e.to_string())?;
    if let Some(e) = read_error {
        return Err(e);
    }
    pass.finish()?;
    // Cells that read as shared string 0: those whose index was really unreadable
    // are an error there, never the title's text.
    if !pass.like_shared0.is_empty() {
        let suspects = std::mem::take(&mut pass.like_shared0);
        let meta = kind.file_rule("unreadable_cell", Severity::Error);
        for (r, c, v) in book.unreadable_indexes() {
            if !suspects.contains(&(r, c)) {
                continue;
            }
            let header = pass
                .colmap
                .get(c as usize)
                .copied()
                .flatten()
                .map(|i| kind.columns[i].header.clone());
            let place = Place {
                sheet: sheet.clone(),
                row: Some(r),
                col: Some(c),
                header,
            };
            let f = Finding::new(&meta, &place, &v, "", &|_| None);
            pass.push_finding(f);
        }
    }
    if !others.is_empty() {
        let meta = kind.file_rule("other_sheets", Severity::Warning);
        let shown: Vec<String> = others.iter().map(|o| format!("「{o}」")).collect();
        pass.file_finding(&meta, None, &shown.join("、"), "");
    }
    let SheetPass {
        tallies,
        out,
        as_ledger,
        ..
    } = pass;
    *report = FileReport {
        file: report.file.clone(),
        kind_name: report.kind_name.clone(),
        kind_id: report.kind_id.clone(),
        sheet: report.sheet.clone(),
        ..out
    };
    if let (Some((_, _, mut ledger)), Some(unit), Some(period)) =
        (as_ledger, report.unit.clone(), report.period.clone())
    {
        ledger.unit = unit;
        ledger.period = period;
        report.ledger = Some(ledger);
    }
    for (rule, tally) in kind.sheet_rules.iter().zip(&tallies) {
        check_crosstab(&mut book, kind, rule, tally, Some(&sheet), report)?;
    }
    Ok(())
}

/// The report of a file none of whose candidate sheets can be chosen: its unit and
/// period as far as known, and one error naming the sheets.
fn refuse_sheets(
    rules: &RuleSet,
    kind: &Kind,
    opts: &Options,
    name: &str,
    sheets: &str,
    votes: Vec<(Source, String)>,
    report: &mut FileReport,
) -> Result<(), String> {
    let county = &rules.county;
    let id = identify::identify(
        county,
        &identify::Clues {
            folder: opts.folder_unit.as_deref(),
            file_name: name,
            given_period: opts.period.as_deref(),
            received: opts.fallback_period.as_deref(),
            ..identify::Clues::default()
        },
    );
    let verdict = match (given_unit(county, opts)?, id.unit) {
        (Some(u), _) => UnitVerdict::Known(u),
        (None, UnitVerdict::Unknown) => {
            let mut units: Vec<&String> = votes.iter().map(|(_, u)| u).collect();
            units.sort();
            units.dedup();
            match units.as_slice() {
                [] => UnitVerdict::Unknown,
                [u] => UnitVerdict::Known((*u).clone()),
                _ => UnitVerdict::Conflict(votes),
            }
        }
        (None, v) => v,
    };
    record_unit(report, county, verdict);
    report.period = id.period.as_ref().map(|(p, _)| p.clone());
    report.layout.period_source = id.period.map(|(_, s)| s);
    let meta = kind.file_rule("sheet_ambiguous", Severity::Error);
    let (unit, period) = (
        report.unit.clone().unwrap_or_default(),
        report.period.clone().unwrap_or_default(),
    );
    report.findings.push(Finding::new(
        &meta,
        &Place::default(),
        sheets,
        "",
        &|n| match n {
            "sheets" => Some(sheets.to_string()),
            "unit" => Some(unit.clone()),
            "period" => Some(period.clone()),
            _ => None,
        },
    ));
    Ok(())
}

/// The unit the caller gave (`validate --unit`), as a known unit; one not in the
/// county's list refuses the file.
fn given_unit(county: &crate::rules::County, opts: &Options) -> Result<Option<String>, String> {
    match &opts.unit {
        Some(u) => identify::match_unit(county, u)
            .map(Some)
            .ok_or_else(|| format!("未知的填报单位「{u}」（不在乡镇名单中）")),
        None => Ok(None),
    }
}

/// Records how the unit was settled: the verdict, and the unit and its code when known.
fn record_unit(report: &mut FileReport, county: &crate::rules::County, verdict: UnitVerdict) {
    report.unit = match &verdict {
        UnitVerdict::Known(u) => Some(u.clone()),
        _ => None,
    };
    report.unit_code = report
        .unit
        .as_deref()
        .and_then(|u| county.unit(u))
        .map(|u| u.code.clone());
    report.unit_verdict = Some(verdict);
}
