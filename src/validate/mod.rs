//! Validation: one file through the rules, out come [`Finding`]s.
//!
//! [`validate_path`] opens the workbook, recognises its ledger kind, finds the
//! header, settles unit and period, then streams the detail sheet row by row:
//! each cell is normalised per its column type, then column constraints, built-in
//! checks and CEL row rules run; county-unique values, and counts for sheet rules,
//! are gathered on the way. Sheet rules (the `汇总` table) run last.

pub mod findings;

use crate::checks::{CheckInput, ParamValue};
use crate::intake::identify::{self, Source, UnitVerdict};
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
pub use findings::{CountyKey, FileReport, Finding, Place, Record};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::Path;

/// How to validate one file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The unit, when the caller knows it for sure (`--unit`).
    pub unit: Option<String>,
    /// The inbox sub-folder the file came from, if any (a unit name).
    pub folder_unit: Option<String>,
    /// The name the file was submitted under (defaults to the path's file name).
    pub name: Option<String>,
    /// The period, when the caller knows it for sure (`--period`).
    pub period: Option<String>,
    /// The period to use when neither the name nor the sheet gives one (the month received).
    pub fallback_period: Option<String>,
    pub limits: Limits,
    /// Keep every data row's normalised values in [`FileReport::records`] (the
    /// daemon stores them for consolidation).
    pub collect_rows: bool,
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
pub fn validate_path(rules: &RuleSet, path: &Path, opts: &Options) -> FileReport {
    let name = opts.name.clone().unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    let mut report = FileReport {
        file: name.clone(),
        ..FileReport::default()
    };
    let outcome = crate::workbook::guard(|| run(rules, path, opts, &name, &mut report));
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(paths.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let slots: std::sync::Mutex<Vec<Option<FileReport>>> =
        std::sync::Mutex::new((0..paths.len()).map(|_| None).collect());
    // While every core has a file of its own, a file is read and checked on one
    // thread; the last files (fewer left than cores) pipeline reading and checking
    // on two, since cores are then free.
    let own_core = Options {
        single_thread: true,
        ..opts.clone()
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = paths.get(i) else { break };
                let crowded = paths.len() - i >= workers && workers > 1;
                let r = validate_path(rules, p.as_ref(), if crowded { &own_core } else { opts });
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
    name: &str,
    report: &mut FileReport,
) -> Result<(), String> {
    let mut book = Book::open(path, &opts.limits).map_err(|e| e.to_string())?;
    let (kind, sheet) = recognise(&mut book, rules).inspect_err(|_| report.not_a_ledger = true)?;
    report.kind = Some(kind.name.clone());
    report.kind_id = Some(kind.id.clone());
    report.sheet = Some(sheet.clone());

    let root = cel_root(&rules.env, &rules.standards_value, &rules.county);
    let mut pass = SheetPass::new(rules, kind, &sheet, opts, name, &root);
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
    let SheetPass { tallies, out, .. } = pass;
    *report = FileReport {
        file: report.file.clone(),
        kind: report.kind.clone(),
        kind_id: report.kind_id.clone(),
        sheet: report.sheet.clone(),
        ..out
    };
    for (rule, tally) in kind.sheet_rules.iter().zip(&tallies) {
        check_crosstab(&mut book, kind, rule, &tally.to_map(kind), report)?;
    }
    Ok(())
}

/// Finds which ledger kind a workbook is, and its detail sheet: by the sheet's
/// standard name first, then by a header naming all of the kind's `recognise_by`
/// columns in any of the first sheets.
fn recognise<'r>(book: &mut Book, rules: &'r RuleSet) -> Result<(&'r Kind, String), String> {
    let names = book.sheet_names();
    for kind in &rules.kinds {
        if let Some(s) = names
            .iter()
            .find(|n| header_key(n) == header_key(&kind.sheet))
        {
            return Ok((kind, s.clone()));
        }
    }
    for sheet in names.iter().take(20) {
        let scan = rules
            .kinds
            .iter()
            .map(|k| k.header_scan_rows)
            .max()
            .unwrap_or(30);
        let rows = head_rows(book, sheet, scan).map_err(|e| e.to_string())?;
        for kind in &rules.kinds {
            let specs = kind.header_specs();
            if let Some(m) = find_header(&rows, &specs, kind.recognise_by.len()) {
                if kind.recognise_by.iter().all(|i| m.columns[*i].is_some()) {
                    return Ok((kind, sheet.clone()));
                }
            }
        }
    }
    let expect: Vec<String> = rules
        .kinds
        .iter()
        .map(|k| {
            let heads: Vec<String> = k
                .recognise_by
                .iter()
                .map(|i| format!("「{}」", k.columns[*i].header))
                .collect();
            format!(
                "「{}」工作表，或含{}表头的工作表（{}）",
                k.sheet,
                heads.join(""),
                k.name
            )
        })
        .collect();
    let shown = if names.is_empty() {
        "无".to_string()
    } else {
        names.join("、")
    };
    Err(format!(
        "无法识别台账类型：未找到{}。本文件的工作表：{shown}",
        expect.join("；或")
    ))
}

/// The first rows of a sheet as text, for header search.
fn head_rows(book: &mut Book, sheet: &str, n: u32) -> Result<TextRows, ReadError> {
    let mut rows = Vec::new();
    book.for_each_row(sheet, |r, cells| {
        if r >= n {
            return ControlFlow::Break(());
        }
        rows.push((r, cells.iter().map(|(c, v)| (*c, v.text())).collect()));
        ControlFlow::Continue(())
    })?;
    Ok(rows)
}

/// A cell after normalisation.
#[derive(Debug, Clone, Default)]
struct Norm {
    blank: bool,
    /// Could not be read as its column's type (already reported).
    bad: bool,
    /// Nothing about the value is left to check: blank (and no default), not one
    /// of the enum's values, or `bad`. Set by `normalise`.
    settled: bool,
    text: String,
    int: Option<i64>,
    num: Option<f64>,
    date: Option<NaiveDate>,
    enum_index: Option<usize>,
}

struct SheetPass<'a> {
    rules: &'a RuleSet,
    kind: &'a Kind,
    sheet: String,
    opts: &'a Options,
    name: &'a str,
    header: Option<HeaderMatch>,
    buffered: Vec<(u32, Vec<(u32, Cell<'static>)>)>,
    /// Sheet column → declared column.
    colmap: Vec<Option<usize>>,
    unit: Option<String>,
    period: String,
    period_end: String,
    first_seen: Vec<FxHashMap<u128, u32>>,
    tallies: Vec<Tally>,
    norms: Vec<Norm>,
    /// Columns whose value nothing reads (only whether they are blank).
    inert: Vec<bool>,
    /// Declared column → index of its cell in the current row.
    slot: Vec<Option<usize>>,
    /// Column key → declared column, for row rules.
    names: FxHashMap<String, usize>,
    file_scope: Context<'a, 'a>,
    memo: Vec<Memo>,
    calls: native::Calls,
    plan: Plan<'a>,
    out: FileReport,
}

/// The columns each of `constraints`' checks applies to, made once per sheet. A
/// row is checked one kind of check at a time over the columns that declare it,
/// instead of every column asking every question: columns with nothing to check
/// cost nothing, and each loop's branches go the same way row after row (8 % fewer
/// instructions for checking than column by column, a few per cent of wall time:
/// BENCHMARKS.md, round 4).
#[derive(Default)]
struct Plan<'k> {
    /// Required columns a blank does not fill by default.
    required: Vec<usize>,
    /// Enum columns, and whether a blank means one of the values (`blank_means`).
    enums: Vec<(usize, bool)>,
    regex: Vec<(usize, &'k regex::Regex)>,
    length: Vec<(usize, usize)>,
    /// Columns with `min` or `max`, and those bounds.
    range: Vec<(usize, Option<f64>, Option<f64>)>,
    lookup: Vec<(usize, &'k Lookup)>,
    checks: Vec<(usize, &'k ColumnCheck)>,
    unique: Vec<(usize, UniqueScope)>,
}

impl<'k> Plan<'k> {
    fn new(kind: &'k Kind) -> Self {
        let mut p = Plan::default();
        for (i, c) in kind.columns.iter().enumerate() {
            let filled_by_default = c.kind == ColumnType::Enum && c.blank_means.is_some();
            if c.required && !filled_by_default {
                p.required.push(i);
            }
            if c.kind == ColumnType::Enum {
                p.enums.push((i, filled_by_default));
            }
            p.regex.extend(c.regex.as_ref().map(|re| (i, re)));
            p.length.extend(c.length.map(|len| (i, len)));
            if c.min.is_some() || c.max.is_some() {
                p.range.push((i, c.min, c.max));
            }
            p.lookup.extend(c.lookup.as_ref().map(|l| (i, l)));
            p.checks.extend(c.checks.iter().map(|k| (i, k)));
            p.unique.extend(c.unique.map(|scope| (i, scope)));
        }
        p
    }
}

impl<'a> SheetPass<'a> {
    fn new(
        rules: &'a RuleSet,
        kind: &'a Kind,
        sheet: &str,
        opts: &'a Options,
        name: &'a str,
        root: &'a Context<'a, 'a>,
    ) -> Self {
        let n = kind.columns.len();
        let tallies = kind
            .sheet_rules
            .iter()
            .map(|r| {
                let width = kind.columns[r.cols].values.len().max(1);
                let height = kind.columns[r.rows].values.len().max(1);
                Tally {
                    rows: r.rows,
                    cols: r.cols,
                    width,
                    dense: vec![0; width * height],
                    other: HashMap::new(),
                }
            })
            .collect();
        SheetPass {
            rules,
            kind,
            sheet: sheet.to_string(),
            opts,
            name,
            header: None,
            buffered: Vec::new(),
            colmap: Vec::new(),
            unit: None,
            period: String::new(),
            period_end: String::new(),
            first_seen: vec![FxHashMap::default(); n],
            tallies,
            norms: vec![Norm::default(); n],
            inert: inert_columns(kind, opts),
            slot: vec![None; n],
            names: kind
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.key.clone(), i))
                .collect(),
            file_scope: root.new_inner_scope(),
            memo: kind.row_rules.iter().map(|_| Memo::default()).collect(),
            calls: native::Calls::new(kind.native_calls),
            plan: Plan::new(kind),
            out: FileReport::default(),
        }
    }

    fn feed(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) -> Result<(), String> {
        if self.header.is_none() {
            if r < self.kind.header_scan_rows {
                self.buffered.push((
                    r,
                    cells
                        .iter()
                        .map(|(c, v)| (*c, v.clone().into_owned()))
                        .collect(),
                ));
                return Ok(());
            }
            self.settle_header()?;
        }
        self.row(r, cells);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        if self.header.is_none() {
            self.settle_header()?;
        }
        if self.out.rows == 0 {
            let meta = self.kind.file_rule("no_rows", Severity::Error);
            self.file_finding(&meta, None, "", "");
        }
        Ok(())
    }

    /// Finds the header in the buffered rows, settles unit and period, then checks
    /// the buffered rows below the header.
    fn settle_header(&mut self) -> Result<(), String> {
        let specs = self.kind.header_specs();
        let text_rows: TextRows = self
            .buffered
            .iter()
            .map(|(r, cells)| (*r, cells.iter().map(|(c, v)| (*c, v.text())).collect()))
            .collect();
        let min = self.kind.recognise_by.len().max(2);
        let Some(m) = find_header(&text_rows, &specs, min) else {
            let heads: Vec<String> = self
                .kind
                .recognise_by
                .iter()
                .map(|i| format!("「{}」", self.kind.columns[*i].header))
                .collect();
            return Err(format!(
                "工作表「{}」前 {} 行中找不到表头（应包含{}等列）",
                self.sheet,
                self.kind.header_scan_rows,
                heads.join("")
            ));
        };
        // Title lines above the header: 填报单位 and 填报日期.
        let (mut title_unit, mut title_date) = (None, None);
        for (r, cells) in &text_rows {
            if *r >= m.row {
                break;
            }
            for (i, (_, t)) in cells.iter().enumerate() {
                let next = cells.get(i + 1).map(|(_, t)| t.clone());
                let grab = |label: &Option<String>| -> Option<String> {
                    let l = label.as_deref()?;
                    identify::labelled_value(t, l).or_else(|| {
                        (t.trim_end_matches([':', '：']).trim() == l)
                            .then(|| next.clone())
                            .flatten()
                    })
                };
                if title_unit.is_none() {
                    title_unit = grab(&self.kind.unit_label);
                }
                if title_date.is_none() {
                    title_date = grab(&self.kind.date_label);
                }
            }
        }
        let county = &self.rules.county;
        let identity = identify::identify(
            county,
            &identify::Clues {
                folder: self.opts.folder_unit.as_deref(),
                file_name: self.name,
                title_unit: title_unit.as_deref(),
                title_date: title_date.as_deref(),
                given_period: self.opts.period.as_deref(),
                received: self.opts.fallback_period.as_deref(),
            },
        );
        let verdict = match &self.opts.unit {
            Some(u) => match identify::match_unit(county, u) {
                Some(u) => UnitVerdict::Known(u),
                None => return Err(format!("未知的填报单位「{u}」（不在乡镇名单中）")),
            },
            None => identity.unit,
        };
        match &verdict {
            UnitVerdict::Known(u) => self.unit = Some(u.clone()),
            UnitVerdict::Conflict(votes) => {
                let meta = self.kind.file_rule("unit_conflict", Severity::Error);
                let shown: Vec<String> = votes
                    .iter()
                    .map(|(s, u)| format!("{}：{u}", s.zh()))
                    .collect();
                let get = |n: &str| -> Option<String> {
                    let pick = |src: Source| {
                        votes
                            .iter()
                            .find(|(s, _)| *s == src)
                            .map(|(_, u)| u.clone())
                    };
                    match n {
                        "file_unit" => pick(Source::FileName).or_else(|| pick(Source::Folder)),
                        "text_unit" => pick(Source::Title),
                        _ => None,
                    }
                };
                let f = Finding::new(&meta, &self.place(None, None), &shown.join("；"), "", &get);
                self.out.findings.push(f);
            }
            UnitVerdict::Unknown => {
                let meta = self.kind.file_rule("unit_unknown", Severity::Warning);
                self.file_finding(&meta, None, &title_unit.clone().unwrap_or_default(), "");
            }
        }
        self.out.unit_verdict = Some(verdict);
        self.out.unit = self.unit.clone();
        self.out.unit_code = self
            .unit
            .as_deref()
            .and_then(|u| county.unit(u))
            .map(|u| u.code.clone());
        self.period = identity
            .period
            .map(|(p, _)| p)
            .unwrap_or_else(|| chrono::Local::now().format("%Y-%m").to_string());
        self.out.period = Some(self.period.clone());
        self.period_end = bind_file_globals(
            &mut self.file_scope,
            self.unit.as_deref().unwrap_or(""),
            &self.period,
        );

        let width = m
            .columns
            .iter()
            .flatten()
            .max()
            .map_or(0, |c| *c as usize + 1);
        self.colmap = vec![None; width];
        for (i, c) in m.columns.iter().enumerate() {
            if let Some(c) = c {
                self.colmap[*c as usize] = Some(i);
            }
        }
        for i in &m.missing_required {
            let meta = self.kind.file_rule("missing_column", Severity::Error);
            let col = &self.kind.columns[*i];
            let place = Place {
                sheet: self.sheet.clone(),
                row: Some(m.row),
                col: None,
                header: Some(col.header.clone()),
            };
            self.out
                .findings
                .push(Finding::new(&meta, &place, "", &col.header, &|_| None));
        }
        let header_row = m.row;
        self.out.header_row = Some(header_row);
        self.header = Some(m);
        let rows = std::mem::take(&mut self.buffered);
        for (r, cells) in rows.iter().filter(|(r, _)| *r > header_row) {
            self.row(*r, cells);
        }
        Ok(())
    }

    fn place(&self, row: Option<u32>, col: Option<usize>) -> Place {
        let sheet_col = col.and_then(|i| self.header.as_ref().and_then(|h| h.columns[i]));
        Place {
            sheet: self.sheet.clone(),
            row,
            col: sheet_col,
            header: col.map(|i| self.kind.columns[i].header.clone()),
        }
    }

    fn file_finding(&mut self, meta: &RuleMeta, row: Option<u32>, value: &str, expected: &str) {
        let unit = self.unit.clone().unwrap_or_default();
        let period = self.period.clone();
        let f = Finding::new(
            meta,
            &self.place(row, None),
            value,
            expected,
            &|n| match n {
                "unit" => Some(unit.clone()),
                "period" => Some(period.clone()),
                _ => None,
            },
        );
        self.out.findings.push(f);
    }

    /// Checks one data row.
    fn row(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) {
        let kind = self.kind;
        for s in self.slot.iter_mut() {
            *s = None;
        }
        let mut any = false;
        let mut only_template = true;
        for (k, (c, v)) in cells.iter().enumerate() {
            let Some(Some(i)) = self.colmap.get(*c as usize) else {
                continue;
            };
            if v.is_blank() {
                continue;
            }
            any = true;
            if !kind.template_columns.contains(i) {
                only_template = false;
            }
            self.slot[*i] = Some(k);
        }
        if !any || only_template {
            return;
        }
        self.out.rows += 1;
        for i in 0..kind.columns.len() {
            self.normalise(r, i, cells);
        }
        let plan = std::mem::take(&mut self.plan);
        self.constraints(&plan, r, cells);
        self.plan = plan;
        self.row_rules(r, cells);
        if self.opts.collect_rows {
            self.collect(r, cells);
        }
        for t in self.tallies.iter_mut() {
            let (a, b) = (&self.norms[t.rows], &self.norms[t.cols]);
            match (a.enum_index, b.enum_index) {
                (Some(x), Some(y)) => t.dense[x * t.width + y] += 1,
                _ if !a.blank && !b.blank => {
                    *t.other.entry((a.text.clone(), b.text.clone())).or_insert(0) += 1
                }
                _ => {}
            }
        }
    }

    /// The cell of declared column `i` in the current row.
    fn cell<'c>(&self, i: usize, cells: &'c [(u32, Cell<'c>)]) -> &'c Cell<'c> {
        match self.slot[i] {
            Some(k) => &cells[k].1,
            None => &Cell::Empty,
        }
    }

    /// Keeps the row's normalised values: text as text, amounts and whole numbers
    /// as numbers, dates as `YYYY-MM-DD`, blanks left out.
    fn collect(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) {
        let mut values = serde_json::Map::new();
        for (i, c) in self.kind.columns.iter().enumerate() {
            let n = &self.norms[i];
            let v = if n.blank && n.text.is_empty() {
                continue;
            } else if n.bad {
                serde_json::Value::String(self.cell(i, cells).raw_text())
            } else {
                match c.kind {
                    ColumnType::Money | ColumnType::Integer => match n.num {
                        Some(x) => serde_json::json!(x),
                        None => continue,
                    },
                    _ => serde_json::Value::String(n.text.clone()),
                }
            };
            values.insert(c.key.clone(), v);
        }
        self.out.records.push(Record { row: r + 1, values });
    }

    fn present(&self, i: usize) -> bool {
        self.header.as_ref().is_some_and(|h| h.columns[i].is_some())
    }

    fn report(
        &mut self,
        r: u32,
        i: usize,
        constraint: &str,
        expected: &str,
        extra: &dyn Fn(&str) -> Option<String>,
        cells: &[(u32, Cell<'_>)],
    ) {
        let meta = self.kind.columns[i].rule(constraint);
        self.report_meta(r, i, &meta, expected, extra, cells);
    }

    fn report_meta(
        &mut self,
        r: u32,
        i: usize,
        meta: &RuleMeta,
        expected: &str,
        extra: &dyn Fn(&str) -> Option<String>,
        cells: &[(u32, Cell<'_>)],
    ) {
        let raw_value = self.cell(i, cells).raw_text();
        let place = self.place(Some(r), Some(i));
        let unit = self.unit.clone().unwrap_or_default();
        let period = self.period.clone();
        let kind = self.kind;
        let this = &*self;
        let f = Finding::new(meta, &place, &raw_value, expected, &|n| {
            if let Some(v) = extra(n) {
                return Some(v);
            }
            match n {
                "unit" => Some(unit.clone()),
                "period" => Some(period.clone()),
                other => kind.column(other).map(|j| this.cell(j, cells).raw_text()),
            }
        });
        self.out.findings.push(f);
    }

    fn normalise(&mut self, r: u32, i: usize, cells: &[(u32, Cell<'_>)]) {
        let col = &self.kind.columns[i];
        let cell = match self.slot[i] {
            Some(k) => &cells[k].1,
            None => &Cell::Empty,
        };
        let n = &mut self.norms[i];
        n.blank = self.slot[i].is_none();
        n.bad = false;
        n.settled = true;
        n.int = None;
        n.num = None;
        n.date = None;
        n.enum_index = None;
        n.text.clear();
        if self.inert[i] {
            return;
        }
        if n.blank {
            if col.kind == ColumnType::Enum {
                if let Some(b) = &col.blank_means {
                    n.text.push_str(b);
                    n.enum_index = col.values.iter().position(|v| v == b);
                    n.settled = n.enum_index.is_none();
                }
            }
            return;
        }
        let mut problem = None;
        match col.kind {
            ColumnType::Text | ColumnType::Enum => {
                cell.text_into(&mut n.text);
                if col.uppercase {
                    n.text.make_ascii_uppercase();
                }
                if col.kind == ColumnType::Enum {
                    n.enum_index = col.values.iter().position(|v| *v == n.text);
                    // Not one of the values: reported by `constraints`, and row
                    // rules reading it are skipped like for a type error.
                    n.bad = n.enum_index.is_none();
                }
            }
            ColumnType::Integer => match cell_integer(cell) {
                Ok(v) => {
                    n.int = v;
                    n.num = v.map(|x| x as f64);
                    if let Some(x) = v {
                        let _ = write!(n.text, "{x}");
                    }
                }
                Err(_) => problem = Some("type_integer"),
            },
            ColumnType::Money => match cell_money(cell) {
                Ok(v) => {
                    n.num = v;
                    if let Some(x) = v {
                        value::number_text_into(x, &mut n.text);
                    }
                }
                Err(_) => problem = Some("type_money"),
            },
            ColumnType::Date => match cell_date(cell) {
                Ok(d) => {
                    n.date = d;
                    if let Some(d) = d {
                        value::iso_date_into(d, &mut n.text);
                    }
                }
                Err(_) => problem = Some("type_date"),
            },
        }
        n.bad |= problem.is_some();
        n.settled = n.bad;
        if let Some(p) = problem {
            self.report(r, i, p, "", &|_| None, cells);
        }
    }

    /// The columns' own checks on one row (`required`, `enum`, `regex`, `length`,
    /// `min`/`max`, `lookup`, `unique`, built-in checks), each over the columns of
    /// the `plan` that declare it. Findings are rare: each is decided with borrows
    /// and reported afterwards. A cell's findings come in the order above.
    fn constraints(&mut self, plan: &Plan, r: u32, cells: &[(u32, Cell<'_>)]) {
        let kind = self.kind;
        for &i in &plan.required {
            if self.norms[i].blank && self.present(i) {
                self.report(r, i, "required", "", &|_| None, cells);
            }
        }
        for &(i, filled_by_default) in &plan.enums {
            let n = &self.norms[i];
            if n.enum_index.is_none() && (!n.blank || filled_by_default) {
                let values = kind.columns[i].values.join("、");
                self.report(r, i, "enum", &values, &|_| None, cells);
            }
        }
        for &(i, re) in &plan.regex {
            let n = &self.norms[i];
            if !n.settled && !re.is_match(&n.text) {
                self.report(r, i, "regex", re.as_str(), &|_| None, cells);
            }
        }
        for &(i, len) in &plan.length {
            let n = &self.norms[i];
            if !n.settled && n.text.chars().count() != len {
                self.report(r, i, "length", &len.to_string(), &|_| None, cells);
            }
        }
        for &(i, min, max) in &plan.range {
            let n = &self.norms[i];
            let (Some(v), false) = (n.num, n.settled) else {
                continue;
            };
            if let Some(min) = min.filter(|m| v < *m) {
                self.report(r, i, "min", &number_text(min), &|_| None, cells);
            }
            if let Some(max) = max.filter(|m| v > *m) {
                self.report(r, i, "max", &number_text(max), &|_| None, cells);
            }
        }
        for &(i, l) in &plan.lookup {
            let n = &self.norms[i];
            if n.settled {
                continue;
            }
            let ok = match (&self.unit, l.scoped) {
                (Some(u), true) => l.by_scope.get(u).is_some_and(|set| set.contains(&n.text)),
                _ => l.values.contains(&n.text),
            };
            if !ok {
                self.report(r, i, "lookup", "", &|_| None, cells);
            }
        }
        for &(i, scope) in &plan.unique {
            if self.norms[i].settled {
                continue;
            }
            let key = hash128(&self.norms[i].text);
            let first = match self.first_seen[i].entry(key) {
                std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(r);
                    None
                }
            };
            if let Some(first) = first {
                let other = (first + 1).to_string();
                let extra = |k: &str| (k == "other_row").then(|| other.clone());
                self.report(r, i, "unique_file", "", &extra, cells);
            }
            if scope == UniqueScope::County && self.opts.cross_file {
                if let Some(c) = self.header.as_ref().and_then(|h| h.columns[i]) {
                    self.out.county_keys.push(CountyKey {
                        column: i,
                        value: self.norms[i].text.clone(),
                        row: r,
                        col: c,
                    });
                }
            }
        }
        for &(i, chk) in &plan.checks {
            let n = &self.norms[i];
            if n.settled {
                continue;
            }
            let mut params: [ParamValue<'_>; 4] = [ParamValue {
                text: "",
                enum_index: None,
            }; 4];
            for (k, p) in chk.params.iter().take(4).enumerate() {
                params[k] = ParamValue {
                    text: &self.norms[*p].text,
                    enum_index: self.norms[*p].enum_index,
                };
            }
            let outcome = chk.check.check(&CheckInput {
                cell: self.cell(i, cells),
                text: &n.text,
                params: &params[..chk.params.len().min(4)],
            });
            if let Some((meta, expected)) =
                outcome.and_then(|o| Some((chk.outcomes.get(o.code)?.clone(), o.expected)))
            {
                self.report_meta(r, i, &meta, &expected, &|_| None, cells);
            }
        }
    }

    fn row_rules(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) {
        let kind = self.kind;
        if kind.row_rules.is_empty() {
            return;
        }
        self.calls.reset();
        let calls = &self.calls;
        let vars = RowVars {
            kind,
            names: &self.names,
            norms: &self.norms,
        };
        let scope = native::Scope {
            unit: self.unit.as_deref().unwrap_or(""),
            period: &self.period,
            period_end: &self.period_end,
        };
        // The CEL context is only made for a rule that needs it.
        let mut ctx: Option<Context<'_, '_>> = None;
        let new_ctx = || {
            let mut c = self.file_scope.new_inner_scope();
            c.set_variable_resolver(&vars);
            c
        };
        let mut fired: Vec<(usize, String)> = Vec::new();
        let mut failed: Vec<(usize, String)> = Vec::new();
        for (k, rule) in kind.row_rules.iter().enumerate() {
            if rule.reads.iter().any(|i| self.norms[*i].bad) {
                continue;
            }
            let verdict = match rule
                .native
                .as_ref()
                .filter(|_| !self.opts.reference_cel)
                .and_then(|n| evaluate_native(n, &|i| vars.native(i), &scope, calls))
            {
                Some(NativeVerdict::Pass) => Verdict::Pass,
                Some(NativeVerdict::Fired(Some(expected))) => Verdict::Fired(expected),
                // Fired, but the expected value is left to cel.
                Some(NativeVerdict::Fired(None)) => {
                    let ctx = ctx.get_or_insert_with(new_ctx);
                    Verdict::Fired(expected_text(rule, ctx))
                }
                None => {
                    let ctx = ctx.get_or_insert_with(new_ctx);
                    let memo = &mut self.memo[k];
                    if memo.key(&rule.reads, &self.norms) {
                        match memo.get() {
                            Some(v) => v,
                            None => {
                                let v = evaluate(rule, ctx);
                                memo.put(v.clone());
                                v
                            }
                        }
                    } else {
                        evaluate(rule, ctx)
                    }
                }
            };
            match verdict {
                Verdict::Pass => {}
                Verdict::Fired(expected) => fired.push((k, expected)),
                Verdict::Failed(e) => failed.push((k, e)),
            }
        }
        drop(ctx);
        for (k, expected) in fired {
            let rule = &kind.row_rules[k];
            let meta = RuleMeta {
                id: rule.id.clone(),
                severity: rule.severity,
                message: rule.message.clone(),
            };
            self.report_meta(r, rule.cell, &meta, &expected, &|_| None, cells);
        }
        for (k, err) in failed {
            let rule = &kind.row_rules[k];
            tracing::warn!(rule = %rule.id, row = r + 1, error = %err, "row rule could not be evaluated");
            let meta = RuleMeta {
                id: format!("{}.eval", rule.id),
                severity: Severity::Warning,
                message: format!(
                    "本行无法按规则「{}」核对（{err}），请县残联检查规则文件",
                    rule.id
                ),
            };
            self.report_meta(r, rule.cell, &meta, "", &|_| None, cells);
        }
    }
}

/// What a row rule says about one row.
#[derive(Debug, Clone)]
enum Verdict {
    Pass,
    /// The assertion failed; the expected value for the message.
    Fired(String),
    /// The rule could not be evaluated.
    Failed(String),
}

fn evaluate(rule: &crate::rules::RowRule, ctx: &Context<'_, '_>) -> Verdict {
    let applies = match &rule.when {
        Some(w) => w.execute(ctx).map(|v| v == Value::Bool(true)),
        None => Ok(true),
    };
    let ok = match applies {
        Ok(false) => return Verdict::Pass,
        Ok(true) => rule.assert.execute(ctx),
        Err(e) => Err(e),
    };
    match ok {
        Ok(Value::Bool(true)) => Verdict::Pass,
        Ok(Value::Bool(false)) => Verdict::Fired(expected_text(rule, ctx)),
        Ok(other) => Verdict::Failed(format!("结果不是真/假：{}", cel_text(&other))),
        Err(e) => Verdict::Failed(format!("{e:?}")),
    }
}

/// The text of a fired rule's `expected` expression, by `cel` (empty when it
/// cannot be evaluated).
fn expected_text(rule: &crate::rules::RowRule, ctx: &Context<'_, '_>) -> String {
    rule.expected
        .as_ref()
        .and_then(|e| e.execute(ctx).ok())
        .map(|v| cel_text(&v))
        .unwrap_or_default()
}

/// A native verdict; a fired rule's expected text is `None` when left to `cel`.
enum NativeVerdict {
    Pass,
    Fired(Option<String>),
}

/// Evaluates a rule natively; `None` when the answer is left to `cel`.
fn evaluate_native<'a>(
    rule: &'a crate::rules::NativeRule,
    row: &dyn Fn(usize) -> native::V<'a>,
    scope: &native::Scope<'a>,
    calls: &'a native::Calls,
) -> Option<NativeVerdict> {
    if let Some(w) = &rule.when {
        match w.eval(row, scope, calls)? {
            native::V::Bool(true) => {}
            native::V::Bool(false) => return Some(NativeVerdict::Pass),
            _ => return None,
        }
    }
    match rule.assert.eval(row, scope, calls)? {
        native::V::Bool(true) => Some(NativeVerdict::Pass),
        native::V::Bool(false) => Some(NativeVerdict::Fired(match &rule.expected {
            Some(e) => e.eval(row, scope, calls).and_then(|v| v.text()),
            None => Some(String::new()),
        })),
        _ => None,
    }
}

/// Remembers a row rule's verdict by the values it reads. Rules over columns with
/// few distinct values (amounts, 低保, category, level) are then evaluated once per
/// combination instead of once per row; a rule whose inputs rarely repeat (it reads
/// an ID) stops being remembered after a trial, so it costs nothing extra.
#[derive(Default)]
struct Memo {
    map: FxHashMap<String, Verdict>,
    buf: String,
    tries: u32,
    hits: u32,
    off: bool,
}

impl Memo {
    const TRIAL: u32 = 512;
    const MAX: usize = 4096;

    /// Builds the key of the current row's inputs; false when not memoising.
    fn key(&mut self, reads: &[usize], norms: &[Norm]) -> bool {
        if self.off {
            return false;
        }
        self.tries += 1;
        if self.tries == Self::TRIAL && self.hits * 2 < self.tries {
            self.off = true;
            self.map = FxHashMap::default();
            return false;
        }
        self.buf.clear();
        for i in reads {
            self.buf.push_str(&norms[*i].text);
            self.buf.push('\u{1}');
        }
        true
    }

    fn get(&mut self) -> Option<Verdict> {
        let v = self.map.get(self.buf.as_str()).cloned();
        if v.is_some() {
            self.hits += 1;
        }
        v
    }

    fn put(&mut self, v: Verdict) {
        if self.map.len() < Self::MAX {
            self.map.insert(self.buf.clone(), v);
        }
    }
}

/// Row values for CEL, looked up by name when an expression reads them (no
/// per-row map of variables is built).
struct RowVars<'x> {
    kind: &'x Kind,
    names: &'x FxHashMap<String, usize>,
    norms: &'x [Norm],
}

impl<'x> RowVars<'x> {
    /// Column `i` as native evaluation sees it (the same values as for `cel`).
    fn native(&self, i: usize) -> native::V<'x> {
        let n = &self.norms[i];
        match self.kind.columns[i].kind {
            ColumnType::Money => native::V::Float(n.num.unwrap_or(0.0)),
            ColumnType::Integer => match n.int {
                Some(x) => native::V::Int(x),
                None => native::V::Null,
            },
            _ => native::V::Str(&n.text),
        }
    }
}

impl cel::context::VariableResolver for RowVars<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        use cel::common::types::{CelBool, CelDouble, CelInt, CelNull, CelString};
        let i = *self.names.get(variable)?;
        // The values native evaluation sees, in CEL's types.
        Some(match self.native(i) {
            native::V::Float(x) => CowVal::owned(CelDouble::from(x)),
            native::V::Int(x) => CowVal::owned(CelInt::from(x)),
            native::V::Str(s) => CowVal::owned(CelString::from(s)),
            native::V::Bool(b) => CowVal::owned(CelBool::from(b)),
            native::V::Null | native::V::Ref(_) => CowVal::owned(CelNull),
        })
    }
}

/// A 128-bit key of a value, for uniqueness checks without keeping the values.
/// Exact (no collisions) for text of digits and `X` up to 32 characters — IDs,
/// certificate numbers, phone numbers — and for any text up to 15 bytes; a
/// 128-bit hash of anything longer.
fn hash128(s: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let b = s.as_bytes();
    // The top byte tells the three forms apart: 0x00–0x0F short text (its length),
    // 0x40–0x60 digits (0x40 + length), 0xFF hashed.
    if b.len() <= 15 {
        let mut k = [0u8; 16];
        k[..b.len()].copy_from_slice(b);
        k[15] = b.len() as u8;
        return u128::from_le_bytes(k);
    }
    if b.len() <= 32 && b.iter().all(|c| c.is_ascii_digit() || *c == b'X') {
        // Base 11: 11^32 < 2^111, so the length byte above stays clear.
        let n = b.iter().fold(0u128, |n, c| {
            n * 11 + if *c == b'X' { 10 } else { u128::from(c - b'0') }
        });
        return (0x40 + b.len() as u128) << 120 | n;
    }
    let mut a = std::hash::DefaultHasher::new();
    let mut h = std::hash::DefaultHasher::new();
    0xA5u8.hash(&mut h);
    s.hash(&mut a);
    s.hash(&mut h);
    0xFF << 120 | (u128::from(a.finish()) << 64 | u128::from(h.finish())) >> 8
}

/// Counts of (row value, column value) pairs for a sheet rule.
struct Tally {
    rows: usize,
    cols: usize,
    width: usize,
    /// By enum positions: rows × width.
    dense: Vec<u64>,
    /// Pairs where a value is not one of the enum values.
    other: HashMap<(String, String), u64>,
}

impl Tally {
    fn to_map(&self, kind: &Kind) -> HashMap<(String, String), u64> {
        let mut m = self.other.clone();
        let rv = &kind.columns[self.rows].values;
        let cv = &kind.columns[self.cols].values;
        for (k, n) in self.dense.iter().enumerate() {
            if *n > 0 {
                let (x, y) = (k / self.width, k % self.width);
                *m.entry((rv[x].clone(), cv[y].clone())).or_insert(0) += n;
            }
        }
        m
    }
}

/// Columns whose normalised value nothing reads: free text without constraints,
/// checks, uniqueness or lookups, that no row rule, check or count reads, when
/// rows are not kept. Only whether such a cell is blank matters (`required`), so
/// its text is not copied.
fn inert_columns(kind: &Kind, opts: &Options) -> Vec<bool> {
    let read_elsewhere = |i: usize| {
        kind.row_rules.iter().any(|r| r.reads.contains(&i))
            || kind
                .columns
                .iter()
                .any(|c| c.checks.iter().any(|k| k.params.contains(&i)))
            || kind.sheet_rules.iter().any(|s| s.rows == i || s.cols == i)
    };
    kind.columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            !opts.collect_rows
                && c.kind == ColumnType::Text
                && c.regex.is_none()
                && c.length.is_none()
                && c.unique.is_none()
                && c.lookup.is_none()
                && c.checks.is_empty()
                && !read_elsewhere(i)
        })
        .collect()
}

/// Checks a count table (`汇总`) against the detail rows.
fn check_crosstab(
    book: &mut Book,
    kind: &Kind,
    rule: &crate::rules::SheetRule,
    counts: &HashMap<(String, String), u64>,
    report: &mut FileReport,
) -> Result<(), String> {
    let meta = RuleMeta {
        id: rule.id.clone(),
        severity: rule.severity,
        message: rule.message.clone(),
    };
    let missing = |report: &mut FileReport, detail: &str| {
        if rule.required {
            let m = RuleMeta {
                id: format!("{}.missing", rule.id),
                severity: rule.severity,
                message: rule
                    .missing_message
                    .clone()
                    .unwrap_or_else(|| "缺少「{sheet}」汇总表".into()),
            };
            let place = Place {
                sheet: rule.sheet.clone(),
                ..Place::default()
            };
            report
                .findings
                .push(Finding::new(&m, &place, detail, "", &|_| None));
        }
    };
    let Some(sheet) = book
        .sheet_names()
        .into_iter()
        .find(|n| header_key(n) == header_key(&rule.sheet))
    else {
        missing(report, "");
        return Ok(());
    };
    let row_values = &kind.columns[rule.rows].values;
    let col_values = &kind.columns[rule.cols].values;
    let total_key = header_key(&rule.total);
    let mut header: Option<(u32, Vec<(u32, String)>)> = None;
    let mut found = Vec::new();
    book.for_each_row(&sheet, |r, cells| {
        let first = cells.iter().find(|(_, v)| !v.is_blank());
        match &header {
            None => {
                if let Some((c0, v)) = first {
                    if header_key(&v.text()) == header_key(&rule.corner) {
                        let labels = cells
                            .iter()
                            .filter(|(c, _)| c > c0)
                            .map(|(c, v)| (*c, header_key(&v.text())))
                            .collect();
                        header = Some((*c0, labels));
                    }
                }
            }
            Some((c0, labels)) => {
                let label = cells
                    .iter()
                    .find(|(c, _)| c == c0)
                    .map(|(_, v)| header_key(&v.text()));
                let Some(label) = label else {
                    return ControlFlow::Continue(());
                };
                let is_row =
                    label == total_key || row_values.iter().any(|v| header_key(v) == label);
                if !is_row {
                    return ControlFlow::Continue(());
                }
                for (c, col_label) in labels {
                    let is_col = *col_label == total_key
                        || col_values.iter().any(|v| header_key(v) == *col_label);
                    if !is_col {
                        continue;
                    }
                    let cell = cells
                        .iter()
                        .find(|(cc, _)| cc == c)
                        .map(|(_, v)| v.clone().into_owned())
                        .unwrap_or(Cell::Empty);
                    found.push((r, *c, label.clone(), col_label.clone(), cell));
                }
            }
        }
        ControlFlow::Continue(())
    })
    .map_err(|e| e.to_string())?;
    if header.is_none() {
        missing(report, &rule.corner);
        return Ok(());
    }
    for (r, c, row_label, col_label, cell) in found {
        let expected: u64 = counts
            .iter()
            .filter(|((a, b), _)| {
                (row_label == total_key || header_key(a) == row_label)
                    && (col_label == total_key || header_key(b) == col_label)
            })
            .map(|(_, n)| *n)
            .sum();
        let written = match cell_integer(&cell) {
            Ok(v) => v.unwrap_or(0),
            Err(_) => -1,
        };
        if written != expected as i64 {
            let place = Place {
                sheet: sheet.clone(),
                row: Some(r),
                col: Some(c),
                header: Some(format!("{row_label}·{col_label}")),
            };
            let value = if cell.is_blank() {
                "（空）".to_string()
            } else {
                cell.raw_text()
            };
            let (rl, cl) = (row_label.clone(), col_label.clone());
            report.findings.push(Finding::new(
                &meta,
                &place,
                &value,
                &expected.to_string(),
                &|n| match n {
                    "row_label" => Some(rl.clone()),
                    "col_label" => Some(cl.clone()),
                    _ => None,
                },
            ));
        }
    }
    Ok(())
}

/// Checks county-unique columns across the files of one run: a value found in two
/// files is reported in both, naming the other unit, file and row.
pub fn cross_check(rules: &RuleSet, reports: &mut [FileReport]) {
    // (kind, column, value) → (file, row, col) of each occurrence.
    type Places = Vec<(usize, u32, u32)>;
    let mut seen: HashMap<(String, usize, String), Places> = HashMap::new();
    for (fi, rep) in reports.iter().enumerate() {
        let Some(kind) = rep.kind_id.clone() else {
            continue;
        };
        for k in &rep.county_keys {
            seen.entry((kind.clone(), k.column, k.value.clone()))
                .or_default()
                .push((fi, k.row, k.col));
        }
    }
    let mut add: Vec<(usize, Finding)> = Vec::new();
    for ((kind_id, column, value), places) in &seen {
        let files: std::collections::HashSet<usize> = places.iter().map(|p| p.0).collect();
        if files.len() < 2 {
            continue;
        }
        let Some(kind) = rules.kind(kind_id) else {
            continue;
        };
        let col = &kind.columns[*column];
        let meta = col.rule("unique_county");
        for (fi, row, c) in places {
            for (fj, orow, _) in places.iter().filter(|p| p.0 != *fi) {
                let other = &reports[*fj];
                let (ou, of, or) = (
                    other.unit.clone().unwrap_or_default(),
                    other.file.clone(),
                    (orow + 1).to_string(),
                );
                let place = Place {
                    sheet: reports[*fi].sheet.clone().unwrap_or_default(),
                    row: Some(*row),
                    col: Some(*c),
                    header: Some(col.header.clone()),
                };
                add.push((
                    *fi,
                    Finding::new(&meta, &place, value, "", &|n| match n {
                        "other_unit" => Some(ou.clone()),
                        "other_file" => Some(of.clone()),
                        "other_row" => Some(or.clone()),
                        _ => None,
                    }),
                ));
            }
        }
    }
    for (fi, f) in add {
        reports[fi].findings.push(f);
    }
    for r in reports.iter_mut() {
        r.sort();
        r.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::hash128;

    #[test]
    fn uniqueness_keys_are_exact_for_ids_and_short_text() {
        let values = [
            "",
            "0",
            "00",
            "X",
            "张三",
            "11010519491231002X",
            "110105194912310021",
            "110105194912310020",
            "1101051949123100210",
            "11010519491231002X11",
            "11010519491231002X12",
            "0371-6543210",
            "a text longer than fifteen bytes",
            "a text longer than fifteen bytez",
            "12345678901234567890123456789012",
            "123456789012345678901234567890123",
        ];
        let mut keys: Vec<u128> = values.iter().map(|v| hash128(v)).collect();
        assert_eq!(hash128("11010519491231002X"), keys[5], "stable");
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), values.len());
    }
}
