//! Validation: one file through the rules, out come [`Finding`]s.
//!
//! [`validate_path`] opens the workbook, recognises its ledger kind, finds the
//! header, settles unit and period, then streams the detail sheet row by row:
//! each cell is normalised per its column type, then column constraints, built-in
//! checks and CEL row rules run; county-unique values, and counts for sheet rules,
//! are gathered on the way. Sheet rules (the `汇总` table) run last.

pub mod findings;

use crate::checks::{CheckInput, ParamValue};
use crate::intake::identify::{self, UnitVerdict};
use crate::rules::{ColumnType, County, Kind, RuleMeta, RuleSet, Severity, UniqueScope};
use crate::workbook::header::{find_header, HeaderMatch, TextRows};
use crate::workbook::value::{self, cell_date, cell_integer, cell_money, header_key, number_text};
use crate::workbook::{Book, Cell, Limits, ReadError};
use cel::{Context, Env, Value};
use chrono::NaiveDate;
pub use findings::{CountyKey, FileReport, Finding, Place, Record};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

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

fn run(
    rules: &RuleSet,
    path: &Path,
    opts: &Options,
    name: &str,
    report: &mut FileReport,
) -> Result<(), String> {
    let mut book = Book::open(path, &opts.limits).map_err(|e| e.to_string())?;
    let (kind, sheet) = recognise(&mut book, rules)?;
    report.kind = Some(kind.name.clone());
    report.kind_id = Some(kind.id.clone());
    report.sheet = Some(sheet.clone());

    let root = cel_root(&rules.env, &rules.standards_value, &rules.county);
    let mut pass = SheetPass::new(rules, kind, &sheet, opts, name, &root);
    let mut read_error = None;
    let res = book.for_each_row(&sheet, |r, cells| match pass.feed(r, cells) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            read_error = Some(e);
            ControlFlow::Break(())
        }
    });
    res.map_err(|e| e.to_string())?;
    if let Some(e) = read_error {
        return Err(e);
    }
    pass.finish()?;
    let SheetPass { counts, out, .. } = pass;
    *report = FileReport {
        file: report.file.clone(),
        kind: report.kind.clone(),
        kind_id: report.kind_id.clone(),
        sheet: report.sheet.clone(),
        ..out
    };
    for rule in &kind.sheet_rules {
        let key = (rule.rows, rule.cols);
        let empty = HashMap::new();
        let c = counts.get(&key).unwrap_or(&empty);
        check_crosstab(&mut book, kind, rule, c, report)?;
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

/// The CEL root context: standards, county and taizhang's functions.
pub fn cel_root<'a>(env: &Arc<Env>, standards: &Value, county: &County) -> Context<'a, 'a> {
    let mut ctx = Context::with_env(env.clone());
    ctx.add_variable_from_value("standards", standards.clone());
    ctx.add_variable_from_value("county", county.name.as_str());
    let reg = |ctx: &mut Context<'_, '_>| -> Result<(), cel::DeclarationError> {
        ctx.add_function("cn_id_valid", |s: Arc<String>| {
            crate::checks::cn_id::is_valid(&s)
        })?;
        ctx.add_function("cn_id_gender", |s: Arc<String>| {
            crate::checks::cn_id::gender(&s).unwrap_or("").to_string()
        })?;
        ctx.add_function("cn_id_birth", |s: Arc<String>| {
            crate::checks::cn_id::birth_date(&s)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        })?;
        ctx.add_function("age_at", |birth: Arc<String>, at: Arc<String>| -> i64 {
            match (value::parse_date_text(&birth), value::parse_date_text(&at)) {
                (Some(b), Some(a)) => a.years_since(b).map(i64::from).unwrap_or(-1),
                _ => -1,
            }
        })?;
        Ok(())
    };
    if let Err(e) = reg(&mut ctx) {
        tracing::error!(error = ?e, "registering CEL functions");
    }
    ctx
}

/// Binds the per-file globals of row rules.
pub fn bind_file_globals(ctx: &mut Context<'_, '_>, unit: &str, period: &str) {
    ctx.add_variable_from_value("unit", unit);
    ctx.add_variable_from_value("period", period);
    let end = value::period_end(period)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    ctx.add_variable_from_value("period_end", end);
}

/// The CEL value of a blank cell of a column.
pub fn blank_value(c: &crate::rules::Column) -> Value {
    match c.kind {
        ColumnType::Money => Value::Float(0.0),
        ColumnType::Integer => Value::Null,
        ColumnType::Enum => Value::from(c.blank_means.clone().unwrap_or_default()),
        ColumnType::Text | ColumnType::Date => Value::from(""),
    }
}

/// A cell after normalisation.
#[derive(Debug, Clone, Default)]
struct Norm {
    blank: bool,
    /// Could not be read as its column's type (already reported).
    bad: bool,
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
    root: &'a Context<'a, 'a>,
    header: Option<HeaderMatch>,
    buffered: Vec<(u32, Vec<(u32, Cell<'static>)>)>,
    /// Sheet column → declared column.
    colmap: Vec<Option<usize>>,
    unit: Option<String>,
    period: String,
    first_seen: Vec<HashMap<String, u32>>,
    counts: HashMap<(usize, usize), HashMap<(String, String), u64>>,
    norms: Vec<Norm>,
    raw: Vec<Cell<'static>>,
    out: FileReport,
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
        let mut counts = HashMap::new();
        for r in &kind.sheet_rules {
            counts.insert((r.rows, r.cols), HashMap::new());
        }
        SheetPass {
            rules,
            kind,
            sheet: sheet.to_string(),
            opts,
            name,
            root,
            header: None,
            buffered: Vec::new(),
            colmap: Vec::new(),
            unit: None,
            period: String::new(),
            first_seen: vec![HashMap::new(); n],
            counts,
            norms: vec![Norm::default(); n],
            raw: vec![Cell::Empty; n],
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
        let parts = identify::parse_file_name(self.name);
        let county = &self.rules.county;
        let verdict = match &self.opts.unit {
            Some(u) => match identify::match_unit(county, u) {
                Some(u) => UnitVerdict::Known(u),
                None => return Err(format!("未知的填报单位「{u}」（不在乡镇名单中）")),
            },
            None => identify::resolve_unit(
                county,
                &[
                    ("folder", self.opts.folder_unit.as_deref()),
                    ("file_name", parts.prefix.as_deref()),
                    ("title", title_unit.as_deref()),
                ],
            ),
        };
        match &verdict {
            UnitVerdict::Known(u) => self.unit = Some(u.clone()),
            UnitVerdict::Conflict(votes) => {
                let meta = self.kind.file_rule("unit_conflict", Severity::Error);
                let shown: Vec<String> = votes
                    .iter()
                    .map(|(s, u)| format!("{}：{u}", source_zh(s)))
                    .collect();
                let get = |n: &str| -> Option<String> {
                    let pick = |src: &str| {
                        votes
                            .iter()
                            .find(|(s, _)| *s == src)
                            .map(|(_, u)| u.clone())
                    };
                    match n {
                        "file_unit" => pick("file_name").or_else(|| pick("folder")),
                        "text_unit" => pick("title"),
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
        self.period = self
            .opts
            .period
            .clone()
            .or(parts.period)
            .or_else(|| {
                title_date
                    .as_deref()
                    .and_then(identify::period_from_date_text)
            })
            .or_else(|| self.opts.fallback_period.clone())
            .unwrap_or_else(|| chrono::Local::now().format("%Y-%m").to_string());
        self.out.period = Some(self.period.clone());

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
        for c in self.raw.iter_mut() {
            *c = Cell::Empty;
        }
        let mut any = false;
        let mut only_template = true;
        for (c, v) in cells {
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
            self.raw[*i] = v.clone().into_owned();
        }
        if !any || only_template {
            return;
        }
        self.out.rows += 1;
        for i in 0..kind.columns.len() {
            self.normalise(r, i);
        }
        for i in 0..kind.columns.len() {
            self.constraints(r, i);
        }
        self.row_rules(r);
        if self.opts.collect_rows {
            self.collect(r);
        }
        for ((rk, ck), map) in self.counts.iter_mut() {
            let (a, b) = (&self.norms[*rk], &self.norms[*ck]);
            if !a.blank && !b.blank {
                *map.entry((a.text.clone(), b.text.clone())).or_insert(0) += 1;
            }
        }
    }

    /// Keeps the row's normalised values: text as text, amounts and whole numbers
    /// as numbers, dates as `YYYY-MM-DD`, blanks left out.
    fn collect(&mut self, r: u32) {
        let mut values = serde_json::Map::new();
        for (i, c) in self.kind.columns.iter().enumerate() {
            let n = &self.norms[i];
            let v = if n.blank && n.text.is_empty() {
                continue;
            } else if n.bad {
                serde_json::Value::String(self.raw[i].raw_text())
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
    ) {
        let meta = self.kind.columns[i].rule(constraint);
        self.report_meta(r, i, &meta, expected, extra);
    }

    fn report_meta(
        &mut self,
        r: u32,
        i: usize,
        meta: &RuleMeta,
        expected: &str,
        extra: &dyn Fn(&str) -> Option<String>,
    ) {
        let raw_value = self.raw[i].raw_text();
        let place = self.place(Some(r), Some(i));
        let unit = self.unit.clone().unwrap_or_default();
        let period = self.period.clone();
        let raw = &self.raw;
        let kind = self.kind;
        let f = Finding::new(meta, &place, &raw_value, expected, &|n| {
            if let Some(v) = extra(n) {
                return Some(v);
            }
            match n {
                "unit" => Some(unit.clone()),
                "period" => Some(period.clone()),
                other => kind.column(other).map(|j| raw[j].raw_text()),
            }
        });
        self.out.findings.push(f);
    }

    fn normalise(&mut self, r: u32, i: usize) {
        let col = &self.kind.columns[i];
        let cell = &self.raw[i];
        let n = &mut self.norms[i];
        *n = Norm {
            blank: cell.is_blank(),
            ..Norm::default()
        };
        if n.blank {
            if col.kind == ColumnType::Enum {
                if let Some(b) = &col.blank_means {
                    n.text = b.clone();
                    n.enum_index = col.values.iter().position(|v| v == b);
                }
            }
            return;
        }
        let mut problem = None;
        match col.kind {
            ColumnType::Text | ColumnType::Enum => {
                n.text = cell.text();
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
                    n.text = v.map(|x| x.to_string()).unwrap_or_default();
                }
                Err(_) => problem = Some("type_integer"),
            },
            ColumnType::Money => match cell_money(cell) {
                Ok(v) => {
                    n.num = v;
                    n.text = v.map(number_text).unwrap_or_default();
                }
                Err(_) => problem = Some("type_money"),
            },
            ColumnType::Date => match cell_date(cell) {
                Ok(d) => {
                    n.date = d;
                    n.text = d
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default();
                }
                Err(_) => problem = Some("type_date"),
            },
        }
        if let Some(p) = problem {
            n.bad = true;
            self.report(r, i, p, "", &|_| None);
        }
    }

    fn constraints(&mut self, r: u32, i: usize) {
        let kind = self.kind;
        let col = &kind.columns[i];
        let n = self.norms[i].clone();
        if n.blank {
            let filled_by_default = col.kind == ColumnType::Enum && col.blank_means.is_some();
            if col.required && self.present(i) && !filled_by_default {
                self.report(r, i, "required", "", &|_| None);
            }
            if !filled_by_default {
                return;
            }
        }
        if col.kind == ColumnType::Enum && n.enum_index.is_none() {
            let expected = col.values.join("、");
            self.report(r, i, "enum", &expected, &|_| None);
            return;
        }
        if n.bad {
            return;
        }
        if let Some(re) = &col.regex {
            if !re.is_match(&n.text) {
                self.report(r, i, "regex", re.as_str(), &|_| None);
            }
        }
        if let Some(len) = col.length {
            if n.text.chars().count() != len {
                self.report(r, i, "length", &len.to_string(), &|_| None);
            }
        }
        if let Some(v) = n.num {
            if let Some(min) = col.min.filter(|m| v < *m) {
                self.report(r, i, "min", &number_text(min), &|_| None);
            }
            if let Some(max) = col.max.filter(|m| v > *m) {
                self.report(r, i, "max", &number_text(max), &|_| None);
            }
        }
        if let Some(scope) = col.unique {
            match self.first_seen[i].get(&n.text) {
                Some(first) => {
                    let other = (first + 1).to_string();
                    self.report(r, i, "unique_file", "", &|k| {
                        (k == "other_row").then(|| other.clone())
                    });
                }
                None => {
                    self.first_seen[i].insert(n.text.clone(), r);
                }
            }
            if scope == UniqueScope::County {
                if let Some(c) = self.header.as_ref().and_then(|h| h.columns[i]) {
                    self.out.county_keys.push(CountyKey {
                        column: i,
                        value: n.text.clone(),
                        row: r,
                        col: c,
                    });
                }
            }
        }
        if let Some(l) = &col.lookup {
            let ok = match (&self.unit, l.scoped) {
                (Some(u), true) => l.pairs.contains(&(u.clone(), n.text.clone())),
                _ => l.values.contains(&n.text),
            };
            if !ok {
                self.report(r, i, "lookup", "", &|_| None);
            }
        }
        for chk in &col.checks {
            let params: Vec<ParamValue<'_>> = chk
                .params
                .iter()
                .map(|p| ParamValue {
                    text: &self.norms[*p].text,
                    enum_index: self.norms[*p].enum_index,
                })
                .collect();
            let outcome = chk.check.check(&CheckInput {
                cell: &self.raw[i],
                text: &n.text,
                params: &params,
            });
            if let Some(o) = outcome {
                if let Some(meta) = chk.outcomes.get(o.code).cloned() {
                    self.report_meta(r, i, &meta, &o.expected, &|_| None);
                }
            }
        }
    }

    fn row_rules(&mut self, r: u32) {
        let kind = self.kind;
        if kind.row_rules.is_empty() {
            return;
        }
        let mut file_scope = self.root.new_inner_scope();
        bind_file_globals(
            &mut file_scope,
            self.unit.as_deref().unwrap_or(""),
            &self.period,
        );
        let mut ctx = file_scope.new_inner_scope();
        for (i, c) in kind.columns.iter().enumerate() {
            let n = &self.norms[i];
            let v = if n.blank && !(c.kind == ColumnType::Enum && c.blank_means.is_some()) {
                blank_value(c)
            } else {
                match c.kind {
                    ColumnType::Money => Value::Float(n.num.unwrap_or(0.0)),
                    ColumnType::Integer => n.int.map_or(Value::Null, Value::Int),
                    _ => Value::from(n.text.clone()),
                }
            };
            ctx.add_variable_from_value(c.key.clone(), v);
        }
        let mut fired: Vec<(usize, String)> = Vec::new();
        let mut failed: Vec<(usize, String)> = Vec::new();
        for (k, rule) in kind.row_rules.iter().enumerate() {
            if rule.reads.iter().any(|i| self.norms[*i].bad) {
                continue;
            }
            let applies = match &rule.when {
                Some(w) => w.execute(&ctx).map(|v| v == Value::Bool(true)),
                None => Ok(true),
            };
            let ok = match applies {
                Ok(false) => continue,
                Ok(true) => rule.assert.execute(&ctx),
                Err(e) => Err(e),
            };
            match ok {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    let expected = rule
                        .expected
                        .as_ref()
                        .and_then(|e| e.execute(&ctx).ok())
                        .map(|v| cel_text(&v))
                        .unwrap_or_default();
                    fired.push((k, expected));
                }
                Ok(other) => failed.push((k, format!("结果不是真/假：{}", cel_text(&other)))),
                Err(e) => failed.push((k, format!("{e:?}"))),
            }
        }
        drop(ctx);
        drop(file_scope);
        for (k, expected) in fired {
            let rule = &kind.row_rules[k];
            let meta = RuleMeta {
                id: rule.id.clone(),
                severity: rule.severity,
                message: rule.message.clone(),
            };
            self.report_meta(r, rule.cell, &meta, &expected, &|_| None);
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
            self.report_meta(r, rule.cell, &meta, "", &|_| None);
        }
    }
}

fn source_zh(s: &str) -> &'static str {
    match s {
        "folder" => "报送文件夹",
        "file_name" => "文件名",
        _ => "表内填报单位",
    }
}

/// A CEL value as message text.
pub fn cel_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Float(f) => number_text(*f),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bool(b) => if *b { "是" } else { "否" }.to_string(),
        Value::Null => String::new(),
        Value::List(l) => l.iter().map(cel_text).collect::<Vec<_>>().join("、"),
        other => format!("{other:?}"),
    }
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
