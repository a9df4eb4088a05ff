//! Rule files: load, lint and compile a rules folder.
//!
//! A rules folder holds `county.toml` (the county, its units, reference tables,
//! subsidy standards and addresses), one TOML file per ledger kind, and the CSV
//! reference tables. [`RuleSet::load`] reads all of it and either returns a
//! compiled [`RuleSet`] or every problem found, each with file and line
//! ([`LintIssue`]). Every command loads rules through it, so a rule folder that
//! `check-rules` accepts is exactly one that `validate` and `watch` accept.

pub mod cel;
mod compile;
mod lint;
pub mod native;
pub mod schema;
pub mod table;

pub use self::cel::{cel_env, toml_to_cel};
use crate::checks::{self, Check};
use crate::workbook::header::HeaderSpec;
use crate::workbook::value::header_key;
use ::cel::{Env, Program, Value};
use compile::*;
use lint::*;
pub use lint::{
    LintIssue, RuleErrors, CONSTRAINTS, FILE_MESSAGES, FUNCTIONS, GLOBALS, NOTICE_PLACEHOLDERS,
    PLACEHOLDERS,
};
use regex::Regex;
pub use schema::{ColumnType, Scope, Severity, UniqueScope};

/// The unit the county's lists ([`Scope::County`]) are filed under in the
/// journal, and the inbox sub-folder they are dropped into (`inbox/部门比对/`).
pub const COUNTY_LISTS: &str = "部门比对";
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use table::Table;
use toml::Spanned;

/// A reporting unit (township or sub-district office).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub email: String,
}

/// The county: identity, units, contacts and standards.
#[derive(Debug, Clone, Default)]
pub struct County {
    pub name: String,
    pub code: String,
    pub short_name: String,
    /// Sender of notices.
    pub from: String,
    pub admin: Vec<String>,
    pub staff: Vec<String>,
    pub send_workbook: schema::SendWorkbook,
    pub units: Vec<Unit>,
    /// Endings a unit's short form drops (`[units] short_form_drops`): `柳河` for
    /// `柳河镇`, longest first.
    pub unit_suffixes: Vec<String>,
    /// Standards as a JSON-like tree, exposed to row rules as `standards`.
    pub standards: toml::Table,
    /// Bounds on what one file can make us produce (`[limits]`).
    pub limits: schema::FileLimits,
    /// When ledgers are due and units reminded (`[deadlines]`).
    pub deadlines: Option<schema::Deadlines>,
    /// How the county workbook prints (`[print]`).
    pub print: schema::Print,
}

impl County {
    /// A unit by exact name (after trimming).
    pub fn unit(&self, name: &str) -> Option<&Unit> {
        let n = name.trim();
        self.units.iter().find(|u| u.name == n)
    }
}

/// What a rule is called, how bad it is and what it says.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    pub id: String,
    pub severity: Severity,
    pub message: String,
}

/// A built-in check attached to a column, with its parameter columns resolved.
#[derive(Clone)]
pub struct ColumnCheck {
    pub check: &'static dyn Check,
    /// Column index of each of the check's parameters, in its declared order.
    pub params: Vec<usize>,
    /// Rule metadata by outcome code.
    pub outcomes: HashMap<&'static str, RuleMeta>,
}

/// A lookup of a column's value in a reference table.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub table: String,
    /// Values present in the table, by scope value ("" when unscoped).
    pub by_scope: rustc_hash::FxHashMap<String, rustc_hash::FxHashSet<String>>,
    pub values: rustc_hash::FxHashSet<String>,
    pub scoped: bool,
}

/// A compiled column.
#[derive(Clone)]
pub struct Column {
    pub key: String,
    pub header: String,
    pub aliases: Vec<String>,
    pub ty: ColumnType,
    pub required: bool,
    pub uppercase: bool,
    pub values: Vec<String>,
    /// [`header_key`] of every way of writing an enum value that is not the value
    /// itself (its aliases, the value with spaces), → the value's index.
    pub value_aliases: rustc_hash::FxHashMap<String, usize>,
    pub blank_means: Option<String>,
    pub regex: Option<Regex>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub length: Option<usize>,
    pub unique: Option<UniqueScope>,
    /// Columns this one is unique together with, in the file.
    pub unique_with: Vec<usize>,
    pub lookup: Option<Lookup>,
    pub checks: Vec<ColumnCheck>,
    /// Rule metadata of the column's own constraints (`required`, `enum`, …).
    pub constraints: HashMap<String, RuleMeta>,
}

impl Column {
    /// Metadata of one of this column's constraints. Load guarantees presence for
    /// every constraint the column uses.
    pub fn rule(&self, constraint: &str) -> RuleMeta {
        self.constraints
            .get(constraint)
            .cloned()
            .unwrap_or_else(|| RuleMeta {
                id: format!("{}.{}", self.key, constraint),
                severity: Severity::Error,
                message: format!("「{}」有误：{{value}}", self.header),
            })
    }
}

/// A compiled row rule.
pub struct RowRule {
    pub id: String,
    pub when: Option<Program>,
    pub assert: Program,
    pub expected: Option<Program>,
    pub cell: usize,
    /// The cell blamed when the file has no `cell` column.
    pub else_cell: Option<usize>,
    pub severity: Severity,
    /// Makes a finding an error on the rows where it holds (`error_when`).
    pub error_when: Option<Program>,
    pub message: String,
    /// Columns the expressions read: a row whose cell in one of them could not be
    /// read as its type is not checked by this rule (the cell already has a finding).
    pub reads: Vec<usize>,
    /// Reference values the expressions read (indexes into [`Kind::ref_vars`]).
    pub ref_reads: Vec<usize>,
    /// The same expressions compiled for native evaluation, when all of them are
    /// in the subset [`native`] covers (`cel` remains the reference and fallback).
    pub native: Option<NativeRule>,
}

/// A row rule's expressions compiled by [`native::compile`].
#[derive(Debug, Clone)]
pub struct NativeRule {
    pub when: Option<native::Expr>,
    pub assert: native::Expr,
    pub expected: Option<native::Expr>,
}

/// A compiled sheet rule (today: a cross-tab of counts).
#[derive(Debug, Clone)]
pub struct SheetRule {
    pub id: String,
    pub sheet: String,
    pub corner: String,
    pub rows: usize,
    pub cols: usize,
    pub total: String,
    pub required: bool,
    pub severity: Severity,
    pub message: String,
    pub missing_message: Option<String>,
    pub sheet_aliases: Vec<String>,
    pub corner_aliases: Vec<String>,
    pub left_out_message: Option<String>,
    /// Only rows whose column (index) is one of the values are counted.
    pub count_only: Option<(usize, Vec<String>)>,
}

/// How the county workbook of a kind is built (column indexes).
pub struct Consolidation {
    /// Name of the detail sheet (`全县明细`).
    pub detail_sheet: String,
    /// 分乡镇统计: persons by (row column × split column).
    pub stats: Option<(usize, usize)>,
    pub amounts: Vec<usize>,
    /// Persons and amounts per value of a column (分乡镇发放统计).
    pub split: Option<Split>,
    pub person_key: usize,
    /// Columns that with `person_key` make one thing (a payment) across units.
    pub duplicate_with: Vec<usize>,
    pub duplicates_sheet: String,
    pub person_name: Option<usize>,
    /// 应发未发: who should have a row of a kind (needs `split`).
    pub owed: Vec<Owed>,
    pub owed_sheet: String,
    /// 本期变动 (`[consolidation.changes]`).
    pub changes: Option<Changes>,
    /// 分乡镇统计 counts only rows whose column (index) is one of the values (a
    /// blank read as the column's `blank_means`).
    pub count_only: Option<(usize, Vec<String>)>,
    /// 比对疑点 (`[consolidation.hits]`).
    pub hits: Option<Hits>,
}

/// 比对疑点: rows rules of a family (`lists.`) fired on (column indexes).
#[derive(Debug, Clone)]
pub struct Hits {
    pub sheet: String,
    pub rules: String,
    pub columns: Vec<usize>,
    pub amount: usize,
}

/// 本期变动: a unit's ledger against its previous one (column indexes).
#[derive(Debug, Clone)]
pub struct Changes {
    pub sheet: String,
    /// Index into [`Kind::references`] (of this kind, `previous`).
    pub reference: usize,
    pub status: usize,
    pub on_register: String,
    pub date: Option<usize>,
    pub columns: Vec<usize>,
}

/// Persons and amounts per value of a column, per unit.
#[derive(Debug, Clone)]
pub struct Split {
    pub by: usize,
    pub amount: usize,
    pub sheet: String,
}

/// `[[consolidation.owed]]`: the persons of a referenced ledger who should have a
/// row with `split` = `value` (those `when` holds for).
pub struct Owed {
    pub value: String,
    /// Index into [`Kind::references`].
    pub reference: usize,
    pub when: Program,
    /// `when` for native evaluation, over the reference's columns (by position in
    /// [`Reference::columns`]), and the number of its distinct calls.
    pub native: Option<native::Expr>,
    pub native_calls: usize,
    /// What they should be paid a month (`amount`), over the same columns.
    pub amount: Option<OwedAmount>,
}

/// `amount` of an `owed` rule, compiled as its `when`.
#[derive(Debug)]
pub struct OwedAmount {
    pub program: Program,
    pub native: Option<native::Expr>,
    pub native_calls: usize,
}

/// Another ledger kind each row is looked up in (`[[references]]`).
#[derive(Debug, Clone)]
pub struct Reference {
    /// How rules name it (`register`).
    pub name: String,
    /// The referenced kind's id and name.
    pub kind: String,
    pub kind_name: String,
    /// This kind's key column.
    pub key: usize,
    /// The referenced kind's column the key joins to.
    pub on: String,
    /// The referenced kind's columns rules read, with their types: the values a
    /// looked-up row carries, in this order.
    pub columns: Vec<(String, ColumnType)>,
    /// Which of the unit's ledgers applies to a file of a period.
    pub ledger: RefLedgerShape,
    /// The referenced kind is of county scope (another agency's list): the
    /// county's ledgers are read, whatever the file's unit.
    pub county: bool,
    /// Said when the unit has none (nothing when empty).
    pub missing_message: String,
    /// Said when the one found is older than asked for (nothing when empty).
    pub older_message: String,
    /// Rows of the referenced ledger that must be in the file (`must_cover`).
    pub must_cover: Option<MustCover>,
}

/// `must_cover` of a reference, compiled over the referenced row's columns.
#[derive(Debug, Clone)]
pub struct MustCover {
    pub program: std::sync::Arc<Program>,
    pub native: Option<native::Expr>,
    pub native_calls: usize,
    pub message: String,
}

/// Which of a unit's ledgers of the referenced kind a file of period P is
/// checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefLedgerShape {
    /// The latest accepted at or before P (a payments ledger's register).
    LatestAccepted,
    /// The latest accepted before P (a register's previous register).
    Previous,
    /// Every period's latest accepted up to P, together (the monthly death
    /// lists: each names the deaths recorded that month).
    EveryUpTo,
}

impl Reference {
    /// The unit a referenced ledger is filed under, for a file of `unit`: the
    /// county's lists ([`COUNTY_LISTS`]) for a county kind, else the unit itself.
    pub fn filed_under<'a>(&self, unit: &'a str) -> &'a str {
        if self.county {
            COUNTY_LISTS
        } else {
            unit
        }
    }

    /// Whether every period's ledger up to the bound applies (`every_up_to`).
    pub fn every(&self) -> bool {
        self.ledger == RefLedgerShape::EveryUpTo
    }
}

impl RefLedgerShape {
    /// The latest period whose ledger may apply to a file of `period`.
    pub fn bound(self, period: &str) -> String {
        match self {
            RefLedgerShape::LatestAccepted | RefLedgerShape::EveryUpTo => period.to_string(),
            RefLedgerShape::Previous => crate::workbook::value::period_start(period)
                .and_then(|d| d.pred_opt())
                .map(|d| d.format("%Y-%m").to_string())
                .unwrap_or_default(),
        }
    }

    /// The id of the finding when the ledger found is older than expected.
    pub fn older_rule(self) -> &'static str {
        match self {
            RefLedgerShape::LatestAccepted | RefLedgerShape::EveryUpTo => "older_period",
            RefLedgerShape::Previous => "gap",
        }
    }
}

impl Reference {
    /// The latest period whose ledger applies to a file of `period`.
    pub fn bound(&self, period: &str) -> String {
        self.ledger.bound(period)
    }
}

/// A value rules read from a reference: `register.<column>`, `register_found`, …
/// In native evaluation it is column `kind.columns.len() + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefVar {
    /// Index into [`Kind::references`].
    pub reference: usize,
    pub what: RefWhat,
    /// The name rules write (`register.level`, `register_found`).
    pub name: String,
}

/// What a [`RefVar`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefWhat {
    /// The looked-up row's value of the reference's column `i`.
    Column(usize),
    /// Whether the row's key was found in the referenced ledger.
    Found,
    /// Whether the unit has a referenced ledger at all.
    Available,
    /// The referenced ledger's file name.
    File,
    /// Another unit whose referenced ledger has the key (when not found here).
    Elsewhere,
    /// The period of the referenced ledger the row was found in (of each
    /// period's list, for `every_up_to`).
    Period,
}

impl RefWhat {
    /// The suffixes of the variables every reference has (`register_found`, …).
    pub const FLAGS: [(&'static str, RefWhat); 5] = [
        ("found", RefWhat::Found),
        ("available", RefWhat::Available),
        ("file", RefWhat::File),
        ("elsewhere", RefWhat::Elsewhere),
        ("period", RefWhat::Period),
    ];
}

/// A compiled ledger kind.
pub struct Kind {
    pub id: String,
    pub name: String,
    pub sheet: String,
    pub recognise_by: Vec<usize>,
    pub header_scan_rows: u32,
    pub template_columns: Vec<usize>,
    pub unit_label: Option<String>,
    pub date_label: Option<String>,
    /// A township's ledger, or a list of the county's ([`Scope::County`]).
    pub scope: Scope,
    pub columns: Vec<Column>,
    pub row_rules: Vec<RowRule>,
    /// Distinct function calls in the natively compiled row rules (the size of a
    /// row's [`native::Calls`]).
    pub native_calls: usize,
    pub sheet_rules: Vec<SheetRule>,
    /// File-level messages (`missing_column`, `unit_unknown`, …) by name.
    pub messages: BTreeMap<String, String>,
    /// `[file_severity]`: file-level findings made warnings or errors by the county.
    pub file_severity: BTreeMap<String, Severity>,
    pub consolidation: Option<Consolidation>,
    /// Other ledgers rows are looked up in, and the values rules read from them.
    pub references: Vec<Reference>,
    pub ref_vars: Vec<RefVar>,
    /// `[not_persons] totals` and `footers`, as [`header_key`]s.
    pub total_words: Vec<String>,
    pub footer_words: Vec<String>,
    pub source: PathBuf,
}

impl Kind {
    /// A list of the county's, not a township's ledger.
    pub fn is_county(&self) -> bool {
        self.scope == Scope::County
    }

    /// Header specs for the header finder, in column order.
    pub fn header_specs(&self) -> Vec<HeaderSpec> {
        self.columns
            .iter()
            .map(|c| HeaderSpec {
                keys: std::iter::once(&c.header)
                    .chain(c.aliases.iter())
                    .map(|h| header_key(h))
                    .collect(),
                required: c.required,
            })
            .collect()
    }

    /// Index of a column by key.
    pub fn column(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.key == key)
    }

    /// A file-level message and its rule metadata: `severity` unless the kind's
    /// `[file_severity]` says otherwise.
    pub fn file_rule(&self, name: &str, severity: Severity) -> RuleMeta {
        RuleMeta {
            id: format!("file.{name}"),
            severity: self.file_severity.get(name).copied().unwrap_or(severity),
            message: self.messages.get(name).cloned().unwrap_or_default(),
        }
    }
}

/// A kind as its file declares it: its name, and its column keys and types.
type Declared = (String, Vec<(String, ColumnType)>, Scope);

/// What compiling a ledger kind file needs besides the file (and what linting
/// dry-runs its row rules with).
struct KindCtx<'a> {
    /// Every kind of the folder, as declared: id → (name, column keys and types).
    kinds: &'a HashMap<String, Declared>,
    path: &'a Path,
    src: &'a str,
    tables: &'a HashMap<String, Table>,
    env: &'a Arc<Env>,
    county: &'a County,
    standards: &'a Value,
}

/// The TOML syntax and schema problems of every file of a rules folder besides
/// `county.toml` (checked when `county.toml` itself does not parse).
fn syntax_only(dir: &Path) -> Vec<LintIssue> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "county.toml"))
        .collect();
    paths.sort();
    for p in paths {
        let Ok(src) = std::fs::read_to_string(&p) else {
            continue;
        };
        let notices = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("notice"));
        let err = if notices {
            toml::from_str::<schema::NoticeFile>(&src).err()
        } else {
            toml::from_str::<schema::KindFile>(&src).err()
        };
        if let Some(e) = err {
            out.push(toml_error(&p, &src, &e));
        }
    }
    out
}

/// Standards are figures rules compare amounts with: every one must be a number
/// (`"二级" = "80"` or `"八十"` would make every amount look wrong).
fn check_standards(t: &toml::Table, at: &str, path: &Path, src: &str, lint: &mut Lint) {
    for (k, v) in t {
        let name = format!("{at}.{k}");
        match v {
            toml::Value::Integer(_) | toml::Value::Float(_) => {}
            toml::Value::Table(inner) => check_standards(inner, &name, path, src, lint),
            other => {
                let shown = match other {
                    toml::Value::String(s) => format!("文字「{s}」"),
                    v => format!("「{v}」"),
                };
                // The key's line: `"二级" = …` or `二级 = …`.
                let line = [format!("\"{k}\""), k.clone()]
                    .iter()
                    .filter_map(|needle| {
                        src.match_indices(needle.as_str())
                            .find(|(i, _)| src[i + needle.len()..].trim_start().starts_with('='))
                    })
                    .map(|(i, _)| src[..i].matches('\n').count() + 1)
                    .next();
                lint.issues.push(LintIssue {
                    file: path.to_path_buf(),
                    line,
                    message: format!(
                        "补贴标准 {name} 应为数字（如 80），现为{shown}；写成带引号的文字时，每个金额都会被判为不符"
                    ),
                });
            }
        }
    }
}

/// A loaded, linted, compiled rules folder.
pub struct RuleSet {
    pub dir: PathBuf,
    pub county: County,
    pub kinds: Vec<Kind>,
    pub env: Arc<Env>,
    /// `standards` of `county.toml` as a CEL value.
    pub standards_value: Value,
    /// Reference tables by name.
    pub tables: HashMap<String, Table>,
    /// E-mail wording (`notices.toml`).
    pub notices: schema::NoticeFile,
    /// Things worth saying about how the folder was read that are no problem (a
    /// CSV read as GBK).
    pub notes: Vec<String>,
}

impl RuleSet {
    /// Loads, lints and compiles a rules folder.
    pub fn load(dir: &Path) -> Result<RuleSet, RuleErrors> {
        let mut lint = Lint { issues: Vec::new() };
        let county_path = dir.join("county.toml");
        let county_src = match std::fs::read_to_string(&county_path) {
            Ok(s) => s,
            Err(e) => {
                return Err(RuleErrors(vec![LintIssue {
                    file: county_path,
                    line: None,
                    message: format!("无法读取规则目录中的 county.toml：{e}"),
                }]))
            }
        };
        let county_file: schema::CountyFile = match toml::from_str(&county_src) {
            Ok(c) => c,
            Err(e) => {
                // Without the county nothing compiles, but every other file's own
                // syntax is still checked: every problem in one run.
                let mut issues = vec![toml_error(&county_path, &county_src, &e)];
                issues.extend(syntax_only(dir));
                return Err(RuleErrors(issues));
            }
        };
        let mut tables: HashMap<String, Table> = HashMap::new();
        for (name, decl) in &county_file.tables {
            match Table::load(&dir.join(decl.file.get_ref())) {
                Ok(t) => {
                    tables.insert(name.clone(), t);
                }
                Err(e) => lint.at(&county_path, &county_src, Some(decl.file.span()), e),
            }
        }
        let units = load_units(&county_file, &tables, &county_path, &county_src, &mut lint);
        let mut unit_suffixes = county_file.units.short_form_drops.clone();
        unit_suffixes.retain(|s| !s.trim().is_empty());
        unit_suffixes.sort_by_key(|s| std::cmp::Reverse(s.chars().count()));
        let county = County {
            unit_suffixes,
            name: county_file.county.name.clone(),
            code: county_file.county.code.clone(),
            short_name: county_file.county.short_name.clone(),
            from: county_file
                .contacts
                .from
                .as_ref()
                .map(|f| f.get_ref().clone())
                .unwrap_or_else(|| {
                    format!("{} <taizhang@localhost>", county_file.county.short_name)
                }),
            admin: county_file
                .contacts
                .admin
                .iter()
                .map(|a| a.get_ref().clone())
                .collect(),
            staff: county_file
                .contacts
                .staff
                .iter()
                .map(|a| a.get_ref().clone())
                .collect(),
            send_workbook: county_file.contacts.send_workbook,
            units,
            standards: county_file.standards.clone(),
            limits: county_file.limits,
            deadlines: county_file.deadlines.clone(),
            print: county_file.print.clone(),
        };
        if let Some(d) = &county_file.deadlines {
            if !(1..=28).contains(&d.day)
                || d.remind_days_before.iter().any(|n| *n == 0 || *n >= d.day)
            {
                let line = county_src.find("[deadlines]").map(|p| p..p);
                lint.at(
                    &county_path,
                    &county_src,
                    line,
                    format!(
                        "[deadlines] day 应为 1–28 的日期（现为 {}），remind_days_before 的每一天都应小于它且大于 0（现为 {:?}）",
                        d.day, d.remind_days_before
                    ),
                );
            }
        }
        for a in county_file
            .contacts
            .from
            .iter()
            .chain(&county_file.contacts.admin)
            .chain(&county_file.contacts.staff)
        {
            if a.get_ref().parse::<lettre::message::Mailbox>().is_err() {
                lint.at(
                    &county_path,
                    &county_src,
                    Some(a.span()),
                    format!("邮箱地址「{}」格式不正确", a.get_ref()),
                );
            }
        }
        // A unit's address is the CSV's data: the message points at its line there.
        let units_table = tables.get(county_file.units.table.get_ref());
        for (k, u) in county.units.iter().enumerate() {
            if u.email.parse::<lettre::message::Mailbox>().is_err() {
                lint.issues.push(LintIssue {
                    file: units_table.map_or(county_path.clone(), |t| t.path.clone()),
                    line: units_table.and_then(|t| t.lines.get(k).copied()),
                    message: format!("乡镇「{}」的联系邮箱「{}」格式不正确", u.name, u.email),
                });
            }
        }
        check_standards(
            &county.standards,
            "standards",
            &county_path,
            &county_src,
            &mut lint,
        );
        let notes: Vec<String> = tables.values().filter_map(|t| t.note.clone()).collect();
        let notices = load_notices(dir, &mut lint);
        let standards_value = toml_to_cel(&toml::Value::Table(county.standards.clone()));
        let env = cel_env();

        let mut kind_files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "toml")
                        && p.file_name().is_some_and(|n| n != "county.toml")
                        && p.file_name()
                            .is_some_and(|n| !n.to_string_lossy().starts_with("notice"))
                })
                .collect(),
            Err(e) => {
                return Err(RuleErrors(vec![LintIssue {
                    file: dir.to_path_buf(),
                    line: None,
                    message: format!("无法读取规则目录：{e}"),
                }]))
            }
        };
        kind_files.sort();
        // First every kind file is read, so a kind can refer to another's columns
        // whatever the order of the files.
        let mut parsed = Vec::new();
        let mut kind_ids = HashSet::new();
        for path in kind_files {
            let src = match std::fs::read_to_string(&path) {
                Ok(s) => s,
                Err(e) => {
                    lint.at(&path, "", None, format!("无法读取：{e}"));
                    continue;
                }
            };
            let file: schema::KindFile = match toml::from_str(&src) {
                Ok(f) => f,
                Err(e) => {
                    lint.issues.push(toml_error(&path, &src, &e));
                    continue;
                }
            };
            if !kind_ids.insert(file.kind.id.get_ref().clone()) {
                lint.at(
                    &path,
                    &src,
                    Some(file.kind.id.span()),
                    format!("台账类型 id「{}」重复", file.kind.id.get_ref()),
                );
            }
            parsed.push((path, src, file));
        }
        let declared: HashMap<String, Declared> = parsed
            .iter()
            .map(|(_, _, f)| {
                (
                    f.kind.id.get_ref().clone(),
                    (
                        f.kind.name.clone(),
                        f.columns
                            .iter()
                            .map(|c| (c.key.get_ref().clone(), c.ty))
                            .collect(),
                        f.kind.scope,
                    ),
                )
            })
            .collect();
        let mut kinds = Vec::new();
        for (path, src, file) in parsed {
            let ctx = KindCtx {
                kinds: &declared,
                path: &path,
                src: &src,
                tables: &tables,
                env: &env,
                county: &county,
                standards: &standards_value,
            };
            if let Some(k) = compile_kind(file, &ctx, &mut lint) {
                kinds.push(k);
            }
        }
        // Two kinds whose recognising headers contain one another cannot be told apart.
        for (a, ka) in kinds.iter().enumerate() {
            for kb in kinds.iter().skip(a + 1) {
                let heads = |k: &Kind| -> Vec<String> {
                    k.recognise_by
                        .iter()
                        .map(|i| header_key(&k.columns[*i].header))
                        .collect()
                };
                let (ha, hb) = (heads(ka), heads(kb));
                let within = |x: &[String], y: &[String]| x.iter().all(|h| y.contains(h));
                if within(&ha, &hb) || within(&hb, &ha) {
                    lint.issues.push(LintIssue {
                        file: kb.source.clone(),
                        line: None,
                        message: format!(
                            "台账「{}」与「{}」的 recognise_by 表头（{} / {}）一方包含另一方，无法区分文件是哪种台账；请让每种台账至少有一个对方没有的识别列",
                            ka.name,
                            kb.name,
                            ha.join("、"),
                            hb.join("、")
                        ),
                    });
                }
            }
        }
        if kinds.is_empty() && lint.issues.is_empty() {
            lint.at(
                dir,
                "",
                None,
                "规则目录中没有任何台账类型文件（如 register.toml）".into(),
            );
        }
        if !lint.issues.is_empty() {
            return Err(RuleErrors(lint.issues));
        }
        Ok(RuleSet {
            dir: dir.to_path_buf(),
            county,
            kinds,
            env,
            standards_value,
            tables,
            notices: notices.unwrap_or_else(empty_notices),
            notes,
        })
    }

    /// Villages and communities of a unit, from the `villages` table (name column
    /// `村社区名称`, scoped by `乡镇名称`).
    pub fn villages_of(&self, unit: &str) -> Vec<String> {
        let Some(t) = self.tables.get("villages") else {
            return Vec::new();
        };
        let (Some(u), Some(v)) = (t.column("乡镇名称"), t.column("村社区名称")) else {
            return Vec::new();
        };
        t.rows
            .iter()
            .filter(|r| r.get(u).is_some_and(|x| x == unit))
            .filter_map(|r| r.get(v).cloned())
            .collect()
    }

    /// The ledger kind a file name names (`…_残疾人信息登记簿_…`; the longest
    /// name when several fit).
    pub fn kind_named_in(&self, file_name: &str) -> Option<&Kind> {
        self.kinds
            .iter()
            .filter(|k| file_name.contains(k.name.as_str()))
            .max_by_key(|k| k.name.len())
    }

    /// Where a file goes in a batch, by the kind its name names
    /// ([`RuleSet::kind_rank`]); a name that names no kind goes with the ledgers
    /// that refer to no other township kind (most such files are registers; one
    /// that is not is checked again when what it refers to is accepted).
    pub fn batch_rank(&self, file_name: &str) -> u8 {
        self.kind_named_in(file_name)
            .map_or(1, |k| self.kind_rank(k))
    }

    /// A kind's place in a batch, from the references the rules declare — what
    /// is referenced before what refers to it: the county's lists 0; a township
    /// kind 1 + the longest chain of other township kinds it is checked against
    /// (its own earlier ledgers and the county's lists, always on file before a
    /// township's ledger is read, do not count). With the shipped rules: the
    /// lists 0, the register 1, the payments ledger 2.
    pub fn kind_rank(&self, kind: &Kind) -> u8 {
        fn depth<'r>(rules: &'r RuleSet, k: &'r Kind, path: &mut Vec<&'r str>) -> u8 {
            // A circle of references has no order: cut where it closes.
            if path.contains(&k.id.as_str()) {
                return 0;
            }
            path.push(&k.id);
            let d = k
                .references
                .iter()
                .filter(|r| r.kind != k.id && !r.county)
                .filter_map(|r| rules.kind(&r.kind))
                .map(|o| depth(rules, o, path).saturating_add(1))
                .max()
                .unwrap_or(0);
            path.pop();
            d
        }
        if kind.is_county() {
            0
        } else {
            depth(self, kind, &mut Vec::new()).saturating_add(1)
        }
    }

    /// The kinds as clerks read them: those others are checked against (the
    /// register) first, otherwise in the rules folder's order.
    /// Only townships' kinds: the county's lists ([`RuleSet::county_kinds`]) are
    /// no unit's to send.
    pub fn kinds_referenced_first(&self) -> Vec<&Kind> {
        let mut order: Vec<&Kind> = self.kinds.iter().filter(|k| !k.is_county()).collect();
        // A kind's reference to its own earlier ledgers, or to the county's
        // lists, does not put it later.
        order.sort_by_key(|k| self.kind_rank(k));
        order
    }

    /// The county's lists (kinds of `scope = "county"`), in the rules folder's order.
    pub fn county_kinds(&self) -> Vec<&Kind> {
        self.kinds.iter().filter(|k| k.is_county()).collect()
    }

    /// A kind by id.
    pub fn kind(&self, id: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> RuleSet {
        match RuleSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_batch_is_ordered_by_the_references_the_rules_declare() {
        let mut rules = shipped();
        let rank = |rules: &RuleSet, id: &str| rules.kind_rank(rules.kind(id).unwrap());
        assert_eq!(
            ["deaths", "dibao", "tekun", "register", "payments"].map(|k| rank(&rules, k)),
            [0, 0, 0, 1, 2]
        );
        assert_eq!(rules.batch_rank("柳河镇_两项补贴发放台账_2026-11.xlsx"), 2);
        assert_eq!(rules.batch_rank("柳河镇_2026-11.xlsx"), 1);
        // A township kind checked against the payments ledger comes after it;
        // one against itself and the county's lists only does not move.
        let pay = rules.kind("payments").unwrap().references[0].clone();
        let k = rules.kinds.iter_mut().find(|k| k.id == "tekun").unwrap();
        k.scope = Scope::Unit;
        k.references.push(Reference {
            kind: "payments".into(),
            county: false,
            ..pay
        });
        assert_eq!(rank(&rules, "tekun"), 3);
        // A circle of references (the register made to refer to the payments
        // ledger) is cut, not followed forever.
        let mut circle = rules.kind("payments").unwrap().references[0].clone();
        circle.kind = "payments".into();
        rules
            .kinds
            .iter_mut()
            .find(|k| k.id == "register")
            .unwrap()
            .references
            .push(circle);
        assert!(rank(&rules, "payments") <= 3 && rank(&rules, "register") <= 3);
    }
}
