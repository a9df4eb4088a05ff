//! Findings and per-file reports: what `validate` says about a file.

use crate::rules::{RuleMeta, Severity};
use crate::text::render;
use serde::{Deserialize, Serialize};

/// One problem, tied to a cell where there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub sheet: String,
    /// A1 reference, e.g. `F12`; absent for file-level findings.
    pub cell: Option<String>,
    /// Excel row number (1-based) in the original sheet.
    pub row: Option<u32>,
    /// Column letter in the original sheet.
    pub column: Option<String>,
    /// The column's standard header.
    pub header: Option<String>,
    /// The value as the sheet shows it.
    pub value: String,
    pub severity: Severity,
    pub rule: String,
    pub message: String,
    /// What was expected, where the rule knows (also inside `message`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expected: String,
    /// The row's person (its name column, `[consolidation] person_name`), so a
    /// clerk reads 第 11 行 郑秀兰 instead of a cell address alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

/// Where a finding points, before its message is rendered.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub sheet: String,
    /// Zero-based row and column in the original sheet.
    pub row: Option<u32>,
    pub col: Option<u32>,
    pub header: Option<String>,
}

impl Finding {
    /// Builds a finding from a rule, a place and the placeholder values.
    pub fn new(
        meta: &RuleMeta,
        place: &Place,
        value: &str,
        expected: &str,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Finding {
        let cell = match (place.row, place.col) {
            (Some(r), Some(c)) => Some(crate::workbook::value::a1(r, c)),
            _ => None,
        };
        let message = render(&meta.message, &|name| match name {
            "value" => Some(value.to_string()),
            "expected" => Some(expected.to_string()),
            "header" => place.header.clone(),
            "row" => place.row.map(|r| (r + 1).to_string()),
            "cell" => cell.clone(),
            "sheet" => Some(place.sheet.clone()),
            "length" => Some(value.chars().count().to_string()),
            other => vars(other),
        });
        Finding {
            sheet: place.sheet.clone(),
            cell,
            row: place.row.map(|r| r + 1),
            column: place.col.map(crate::workbook::value::column_name),
            header: place.header.clone(),
            value: value.to_string(),
            severity: meta.severity,
            rule: meta.id.clone(),
            message,
            expected: expected.to_string(),
            person: None,
        }
    }
}

/// Everything `validate` says about one file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FileReport {
    pub file: String,
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_code: Option<String>,
    /// The ledger kind's name as users see it (`残疾人信息登记簿`); `kind` in JSON.
    #[serde(rename = "kind")]
    pub kind_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind_id: Option<String>,
    pub period: Option<String>,
    /// Data rows read (blank and template rows not counted).
    pub rows: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Findings found but not kept past `[limits] max_findings` (counted in
    /// `errors` and `warnings`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_errors: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_warnings: usize,
    /// Why the file could not be checked at all (Chinese, for the sender).
    pub fatal: Option<String>,
    pub findings: Vec<Finding>,
    /// The detail sheet's name and its header row (1-based), when found.
    #[serde(skip)]
    pub sheet: Option<String>,
    /// Zero-based row of the detail sheet's header.
    #[serde(skip)]
    pub header_row: Option<u32>,
    /// Values of county-unique columns: (column key, value, sheet, zero-based row, col).
    #[serde(skip)]
    pub county_keys: Vec<CountyKey>,
    /// Normalised data rows, when asked for ([`crate::validate::Options::collect_rows`]).
    #[serde(skip)]
    pub records: Vec<Record>,
    /// The file was read but is no ledger kind of the rules (its sheets and
    /// headers match none): a stray file, not a broken ledger.
    #[serde(skip)]
    pub not_a_ledger: bool,
    /// The file could not be read because reading it went wrong in the worker
    /// process (memory or time exceeded, the process died): a hostile or broken
    /// file, quarantined.
    #[serde(skip)]
    pub abnormal: bool,
    /// How the unit was identified: Known, Conflict, Unknown.
    #[serde(skip)]
    pub unit_verdict: Option<crate::identify::UnitVerdict>,
    /// How the file was read: its format, the sheet used, the header, where the
    /// unit and the period came from.
    #[serde(default)]
    pub layout: Layout,
    /// The other ledgers the file was checked against (`[[references]]`), or
    /// that were missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferenceUsed>,
    /// The file's rows as a ledger others are checked against, when asked for
    /// ([`crate::validate::Options::as_ledger`]).
    #[serde(skip)]
    pub ledger: Option<crate::validate::RefLedger>,
}

impl ReferenceUsed {
    /// What clerks read of each of `refs`, leaving out what is not said (a
    /// county list not on file).
    pub fn said_all(refs: &[ReferenceUsed]) -> Vec<String> {
        refs.iter()
            .map(ReferenceUsed::said)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// What a clerk reads: `核对依据：残疾人信息登记簿「…」（2026-11，第 12 号报送）`.
    pub fn said(&self) -> String {
        // Another agency's list: its kind and months, never its file (townships
        // read this).
        if self.county {
            // A list not on file is not said to a township (the county
            // workbook says which lists were used).
            return match &self.periods {
                Some(p) => format!("比对名单：{}（{p}）", self.kind_name),
                None => String::new(),
            };
        }
        match (&self.file, self.previous) {
            (Some(f), previous) => {
                let mut extra = self.period.clone().unwrap_or_default();
                if let Some(id) = self.submission {
                    extra.push_str(&format!("，第 {id} 号报送"));
                }
                let what = if previous {
                    "比对的上期"
                } else {
                    "核对依据"
                };
                format!("{what}：{}「{f}」（{extra}）", self.kind_name)
            }
            (None, false) => format!("核对依据：本单位尚无已通过的{}，未按其核对", self.kind_name),
            (None, true) => format!(
                "比对的上期：本单位没有更早的已通过{}，未作比对",
                self.kind_name
            ),
        }
    }
}

/// One referenced ledger as a file was checked against it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceUsed {
    /// How rules name it (`register`).
    pub name: String,
    pub kind: String,
    pub kind_name: String,
    /// Its file and period; None when the unit had none on file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Its submission in the journal (None for a file of the same run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<i64>,
    /// The unit's ledger of an earlier period (`ledger = "previous"`): compared
    /// with, not checked against.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub previous: bool,
    /// A list of the county's (another agency's): said by kind and months only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub county: bool,
    /// The months of the lists used, when the reference joins several (`2026-09、2026-10`)
    /// or is a county list (its one month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<String>,
}

/// How a file was read, as `inspect`, reports and notices tell it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// The format the bytes say (`xlsx`, `xls`, `ods`, `xlsb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The detail sheet checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Other sheets that look like this ledger, not checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_sheets: Vec<String>,
    /// Excel row (1-based) of the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_row: Option<u32>,
    /// Declared columns found: (standard header, column letter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<(String, String)>,
    /// Declared columns not found (standard headers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The sheet a sheet rule (the 汇总 table) read, by rule id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_sheets: Vec<(String, String)>,
    /// What each source said about the sender, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clues: Vec<(crate::identify::Source, String)>,
    /// Where the period came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_source: Option<crate::identify::Source>,
    /// Rows that are no person (totals, footers): (Excel row, first text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_persons: Vec<(u32, String)>,
}

/// One data row's normalised values by column key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Excel row number (1-based) in the original sheet.
    pub row: u32,
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// A value of a column that must be unique across the county.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountyKey {
    pub column: usize,
    pub value: String,
    pub row: u32,
    pub col: u32,
}

/// A whole report, the fields `--format json` leaves out too, as a worker
/// process hands it back to the daemon.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireReport {
    pub report: FileReport,
    pub sheet: Option<String>,
    pub header_row: Option<u32>,
    pub county_keys: Vec<CountyKey>,
    pub records: Vec<Record>,
    pub not_a_ledger: bool,
    pub unit_verdict: Option<crate::identify::UnitVerdict>,
    #[serde(default)]
    pub ledger: Option<crate::validate::RefLedger>,
}

impl From<FileReport> for WireReport {
    fn from(mut r: FileReport) -> WireReport {
        WireReport {
            sheet: r.sheet.take(),
            header_row: r.header_row.take(),
            county_keys: std::mem::take(&mut r.county_keys),
            records: std::mem::take(&mut r.records),
            ledger: r.ledger.take(),
            not_a_ledger: r.not_a_ledger,
            unit_verdict: r.unit_verdict.take(),
            report: r,
        }
    }
}

impl From<WireReport> for FileReport {
    fn from(w: WireReport) -> FileReport {
        FileReport {
            sheet: w.sheet,
            header_row: w.header_row,
            county_keys: w.county_keys,
            records: w.records,
            ledger: w.ledger,
            not_a_ledger: w.not_a_ledger,
            unit_verdict: w.unit_verdict,
            ..w.report
        }
    }
}

impl FileReport {
    /// The report of a file that was not read because reading it went wrong in
    /// a way that marks the file itself (its worker died or overran, or the
    /// daemon died during it twice): fatal with the reason, abnormal.
    pub fn set_aside(name: &str, reason: String) -> FileReport {
        FileReport {
            file: name.to_string(),
            fatal: Some(reason),
            abnormal: true,
            ..FileReport::default()
        }
    }

    /// Recounts errors and warnings and sorts findings by sheet order of appearance, row, column.
    pub fn finish(&mut self) {
        let kept_errors = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        self.errors = kept_errors + self.omitted_errors;
        self.warnings = self.findings.len() - kept_errors + self.omitted_warnings;
    }

    /// Findings found in all, kept or not.
    pub fn findings_total(&self) -> usize {
        self.findings.len() + self.omitted_errors + self.omitted_warnings
    }

    /// Orders findings for people: the detail sheet first, then other sheets;
    /// within a sheet, file-level findings, then by row and column.
    pub fn sort(&mut self) {
        let detail = self.sheet.clone();
        let col_key = |c: &Option<String>| c.as_ref().map(|c| (c.len(), c.clone()));
        self.findings.sort_by(|a, b| {
            let ka = (
                Some(&a.sheet) != detail.as_ref(),
                a.sheet.clone(),
                a.row.is_some(),
                a.row,
                col_key(&a.column),
            );
            let kb = (
                Some(&b.sheet) != detail.as_ref(),
                b.sheet.clone(),
                b.row.is_some(),
                b.row,
                col_key(&b.column),
            );
            ka.cmp(&kb)
        });
    }

    /// True when the file is accepted: readable and without errors.
    pub fn accepted(&self) -> bool {
        self.fatal.is_none() && self.errors == 0
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
