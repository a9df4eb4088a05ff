//! Rule files: load, lint and compile a rules folder.
//!
//! A rules folder holds `county.toml` (the county, its units, reference tables,
//! subsidy standards and addresses), one TOML file per ledger kind, and the CSV
//! reference tables. [`RuleSet::load`] reads all of it and either returns a
//! compiled [`RuleSet`] or every problem found, each with file and line
//! ([`LintIssue`]). Every command loads rules through it, so a rule folder that
//! `check-rules` accepts is exactly one that `validate` and `watch` accept.

pub mod cel;
pub mod native;
pub mod schema;
pub mod table;

pub use self::cel::{cel_env, toml_to_cel};
use crate::checks::{self, Check};
use crate::workbook::header::HeaderSpec;
use crate::workbook::value::header_key;
use ::cel::{Env, Program, Value};
use regex::Regex;
pub use schema::{ColumnType, Severity, UniqueScope};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use table::Table;
use toml::Spanned;

/// One problem in a rules folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintIssue {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for LintIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The rules folder could not be used; every problem is listed.
#[derive(Debug, thiserror::Error)]
#[error("规则文件有 {} 处问题：\n{}", .0.len(), .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct RuleErrors(pub Vec<LintIssue>);

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
    /// Standards as a JSON-like tree, exposed to row rules as `standards`.
    pub standards: toml::Table,
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
    pub kind: ColumnType,
    pub required: bool,
    pub uppercase: bool,
    pub values: Vec<String>,
    pub blank_means: Option<String>,
    pub regex: Option<Regex>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub length: Option<usize>,
    pub unique: Option<UniqueScope>,
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
    pub severity: Severity,
    pub message: String,
    /// Columns the expressions read: a row whose cell in one of them could not be
    /// read as its type is not checked by this rule (the cell already has a finding).
    pub reads: Vec<usize>,
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
}

/// How the county workbook of a kind is built (column indexes).
#[derive(Debug, Clone)]
pub struct Consolidation {
    pub stats_rows: usize,
    pub stats_cols: usize,
    pub amounts: Vec<usize>,
    pub person_key: usize,
    pub person_name: Option<usize>,
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
    pub columns: Vec<Column>,
    pub row_rules: Vec<RowRule>,
    /// Distinct function calls in the natively compiled row rules (the size of a
    /// row's [`native::Calls`]).
    pub native_calls: usize,
    pub sheet_rules: Vec<SheetRule>,
    /// File-level messages (`missing_column`, `unit_unknown`, …) by name.
    pub messages: BTreeMap<String, String>,
    pub consolidation: Option<Consolidation>,
    pub source: PathBuf,
}

impl Kind {
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

    /// A file-level message and its rule metadata (error unless the kind says otherwise).
    pub fn file_rule(&self, name: &str, severity: Severity) -> RuleMeta {
        RuleMeta {
            id: format!("file.{name}"),
            severity,
            message: self.messages.get(name).cloned().unwrap_or_default(),
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
}

/// Placeholders notice templates may use.
pub const NOTICE_PLACEHOLDERS: &[&str] = &[
    "county",
    "county_short",
    "unit",
    "period",
    "kind",
    "file",
    "received_at",
    "rows",
    "errors",
    "warnings",
    "reason",
    "attachment",
    "count",
    "items_text",
    "items_html",
    "people_text",
    "people_html",
    "n",
    "severity",
    "sheet",
    "cell",
    "header",
    "value",
    "message",
    "expected",
    "rest",
];

fn load_notices(dir: &Path, lint: &mut Lint) -> Option<schema::NoticeFile> {
    let path = dir.join("notices.toml");
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            lint.at(
                &path,
                "",
                None,
                format!("无法读取通知模板 notices.toml：{e}"),
            );
            return None;
        }
    };
    let file: schema::NoticeFile = match toml::from_str(&src) {
        Ok(f) => f,
        Err(e) => {
            lint.issues.push(toml_error(&path, &src, &e));
            return None;
        }
    };
    let templates: Vec<(&str, &str)> = {
        let mut v = vec![
            ("items.text", file.items.text.as_str()),
            ("items.html", file.items.html.as_str()),
            ("items.more_text", file.items.more_text.as_str()),
            ("items.more_html", file.items.more_html.as_str()),
        ];
        for (name, t) in [
            ("rejected", &file.rejected),
            ("accepted", &file.accepted),
            ("unreadable", &file.unreadable),
            ("not_a_ledger", &file.not_a_ledger),
            ("quarantine", &file.quarantine),
            ("duplicates", &file.duplicates),
            ("county_workbook", &file.county_workbook),
        ] {
            v.push((name, t.subject.as_str()));
            v.push((name, t.text.as_str()));
            v.push((name, t.html.as_str()));
        }
        v
    };
    for (name, text) in templates {
        for ph in crate::text::placeholders(text) {
            if !NOTICE_PLACEHOLDERS.contains(&ph) {
                let line = src.find(&format!("{{{ph}}}")).map(|p| p..p);
                lint.at(
                    &path,
                    &src,
                    line,
                    format!("通知模板 [{name}] 使用了未知占位符「{{{ph}}}」"),
                );
            }
        }
    }
    Some(file)
}

fn empty_notices() -> schema::NoticeFile {
    let t = || schema::MailTemplate {
        subject: String::new(),
        text: String::new(),
        html: String::new(),
    };
    schema::NoticeFile {
        settings: schema::NoticeSettings { max_items: 30 },
        items: schema::ItemTemplates {
            text: String::new(),
            html: String::new(),
            more_text: String::new(),
            more_html: String::new(),
        },
        rejected: t(),
        accepted: t(),
        unreadable: t(),
        not_a_ledger: t(),
        quarantine: t(),
        duplicates: t(),
        county_workbook: t(),
    }
}

/// Names every row rule may read besides column keys.
pub const GLOBALS: &[&str] = &["unit", "period", "period_end", "standards", "county"];
/// Functions taizhang adds to CEL for row rules.
pub const FUNCTIONS: &[&str] = &["cn_id_valid", "cn_id_gender", "cn_id_birth", "age_at"];
/// Constraint names whose file-level messages each kind must define.
pub const FILE_MESSAGES: &[&str] = &["missing_column", "unit_unknown", "unit_conflict", "no_rows"];
/// Placeholders any message may use besides column keys.
pub const PLACEHOLDERS: &[&str] = &[
    "value",
    "expected",
    "header",
    "row",
    "cell",
    "sheet",
    "unit",
    "period",
    "other_row",
    "other_unit",
    "other_file",
    "length",
    "row_label",
    "col_label",
    "file_unit",
    "text_unit",
];

const CEL_STDLIB: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "timestamp",
    "duration",
    "type",
    "dyn",
    "max",
    "min",
    "substring",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "join",
    "trim",
    "format",
    "quote",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
];

struct Lint {
    issues: Vec<LintIssue>,
}

impl Lint {
    fn at(&mut self, file: &Path, src: &str, span: Option<std::ops::Range<usize>>, msg: String) {
        let line = span.map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
        self.issues.push(LintIssue {
            file: file.to_path_buf(),
            line,
            message: msg,
        });
    }
}

fn toml_error(file: &Path, src: &str, e: &toml::de::Error) -> LintIssue {
    let line = e
        .span()
        .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
    LintIssue {
        file: file.to_path_buf(),
        line,
        message: format!("TOML 格式错误：{}", e.message()),
    }
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
            Err(e) => return Err(RuleErrors(vec![toml_error(&county_path, &county_src, &e)])),
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
        let county = County {
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
        };
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
        for u in &county.units {
            if u.email.parse::<lettre::message::Mailbox>().is_err() {
                lint.at(
                    &county_path,
                    &county_src,
                    Some(county_file.units.table.span()),
                    format!("乡镇「{}」的联系邮箱「{}」格式不正确", u.name, u.email),
                );
            }
        }
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
        let mut kinds = Vec::new();
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
            let ctx = KindCtx {
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

    /// A kind by id.
    pub fn kind(&self, id: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.id == id)
    }
}

fn load_units(
    county: &schema::CountyFile,
    tables: &HashMap<String, Table>,
    path: &Path,
    src: &str,
    lint: &mut Lint,
) -> Vec<Unit> {
    let decl = &county.units;
    let Some(t) = tables.get(decl.table.get_ref()) else {
        lint.at(
            path,
            src,
            Some(decl.table.span()),
            format!(
                "[units] 引用的表「{}」未在 [tables] 中声明",
                decl.table.get_ref()
            ),
        );
        return Vec::new();
    };
    let cols = [&decl.code_column, &decl.name_column, &decl.email_column].map(|c| (c, t.column(c)));
    let mut idx = [0usize; 3];
    for (i, (name, pos)) in cols.iter().enumerate() {
        match pos {
            Some(p) => idx[i] = *p,
            None => {
                lint.at(
                    path,
                    src,
                    Some(decl.table.span()),
                    format!("表「{}」没有列「{}」", decl.table.get_ref(), name),
                );
                return Vec::new();
            }
        }
    }
    t.rows
        .iter()
        .map(|r| Unit {
            code: r.get(idx[0]).cloned().unwrap_or_default(),
            name: r.get(idx[1]).cloned().unwrap_or_default(),
            email: r.get(idx[2]).cloned().unwrap_or_default(),
        })
        .collect()
}

struct KindCtx<'a> {
    path: &'a Path,
    src: &'a str,
    tables: &'a HashMap<String, Table>,
    env: &'a Arc<Env>,
    county: &'a County,
    standards: &'a Value,
}

fn compile_kind(file: schema::KindFile, ctx: &KindCtx<'_>, lint: &mut Lint) -> Option<Kind> {
    let (path, src) = (ctx.path, ctx.src);
    let before = lint.issues.len();
    let keys: Vec<String> = file
        .columns
        .iter()
        .map(|c| c.key.get_ref().clone())
        .collect();
    let key_of = |s: &Spanned<String>, what: &str, lint: &mut Lint| -> Option<usize> {
        let p = keys.iter().position(|k| k == s.get_ref());
        if p.is_none() {
            lint.at(
                path,
                src,
                Some(s.span()),
                format!("{what}引用了未知的列「{}」", s.get_ref()),
            );
        }
        p
    };
    let mut seen = HashSet::new();
    for c in &file.columns {
        if !seen.insert(c.key.get_ref().clone()) {
            lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列 key「{}」重复", c.key.get_ref()),
            );
        }
        if GLOBALS.contains(&c.key.get_ref().as_str())
            || FUNCTIONS.contains(&c.key.get_ref().as_str())
        {
            lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列 key「{}」是保留名称", c.key.get_ref()),
            );
        }
    }
    let recognise_by: Vec<usize> = file
        .kind
        .recognise_by
        .iter()
        .filter_map(|k| key_of(k, "recognise_by ", lint))
        .collect();
    let template_columns: Vec<usize> = file
        .kind
        .template_columns
        .iter()
        .filter_map(|k| key_of(k, "template_columns ", lint))
        .collect();
    for m in FILE_MESSAGES {
        if !file.messages.contains_key(*m) {
            lint.at(path, src, None, format!("[messages] 缺少文件级提示「{m}」"));
        }
    }
    let mut rule_ids: HashMap<String, usize> = HashMap::new();
    let mut columns = Vec::new();
    for c in &file.columns {
        columns.push(compile_column(c, &file, &keys, ctx, lint));
    }
    // Built-in check params refer to other columns; resolve after all are known.
    let mut row_rules = Vec::new();
    for r in &file.row_rules {
        let id = r.id.get_ref().clone();
        if rule_ids.insert(id.clone(), 0).is_some() {
            lint.at(path, src, Some(r.id.span()), format!("规则 id「{id}」重复"));
        }
        let cell = key_of(&r.cell, &format!("规则 {id} 的 cell "), lint);
        let mut reads = HashSet::new();
        let mut compile = |s: &Spanned<String>, what: &str, lint: &mut Lint| -> Option<Program> {
            match ctx.env.compile(s.get_ref()) {
                Ok(p) => {
                    let refs = p.references();
                    for v in refs.variables() {
                        if let Some(i) = keys.iter().position(|k| k == v) {
                            reads.insert(i);
                        } else if !GLOBALS.contains(&v) {
                            lint.at(
                                path,
                                src,
                                Some(s.span()),
                                format!("规则 {id} 的 {what} 引用了未知的列「{v}」"),
                            );
                        }
                    }
                    for f in refs.functions() {
                        let known = f.starts_with('_')
                            || f.starts_with('@')
                            || f.starts_with('!')
                            || FUNCTIONS.contains(&f)
                            || CEL_STDLIB.contains(&f);
                        if !known {
                            lint.at(
                                path,
                                src,
                                Some(s.span()),
                                format!("规则 {id} 的 {what} 调用了未知函数「{f}」"),
                            );
                        }
                    }
                    Some(p)
                }
                Err(e) => {
                    lint.at(
                        path,
                        src,
                        Some(s.span()),
                        format!(
                            "规则 {id} 的 {what} 无法编译：{}",
                            e.to_string().replace('\n', " ")
                        ),
                    );
                    None
                }
            }
        };
        let when = r.when.as_ref().map(|w| compile(w, "when", lint));
        let assert = compile(&r.assert, "assert", lint);
        let expected = r.expected.as_ref().map(|e| compile(e, "expected", lint));
        check_placeholders(
            &r.message,
            &keys,
            path,
            src,
            Some(r.assert.span()),
            &id,
            lint,
        );
        if let (Some(cell), Some(assert), Some(when), Some(expected)) = (
            cell,
            assert,
            when.map_or(Some(None), |w| w.map(Some)),
            expected.map_or(Some(None), |e| e.map(Some)),
        ) {
            let mut reads: Vec<usize> = reads.into_iter().collect();
            reads.sort_unstable();
            let names = native::Names {
                columns: &keys,
                standards: &ctx.county.standards,
                county: &ctx.county.name,
            };
            let compile_native = |e: &Spanned<String>| native::compile(e.get_ref(), &names);
            let native = (|| {
                Some(NativeRule {
                    when: match &r.when {
                        Some(w) => Some(compile_native(w)?),
                        None => None,
                    },
                    assert: compile_native(&r.assert)?,
                    expected: match &r.expected {
                        Some(e) => Some(compile_native(e)?),
                        None => None,
                    },
                })
            })();
            row_rules.push(RowRule {
                id,
                when,
                assert,
                expected,
                cell,
                severity: r.severity,
                message: r.message.clone(),
                reads,
                native,
            });
        }
    }
    let mut sheet_rules = Vec::new();
    for s in &file.sheet_rules {
        let id = s.id.get_ref().clone();
        if rule_ids.insert(id.clone(), 0).is_some() {
            lint.at(path, src, Some(s.id.span()), format!("规则 id「{id}」重复"));
        }
        if s.check.get_ref() != "crosstab_count" {
            lint.at(
                path,
                src,
                Some(s.check.span()),
                format!(
                    "未知的表级检查「{}」（可用：crosstab_count）",
                    s.check.get_ref()
                ),
            );
        }
        check_placeholders(&s.message, &keys, path, src, Some(s.id.span()), &id, lint);
        let rows = key_of(&s.rows, &format!("规则 {id} 的 rows "), lint);
        let cols = key_of(&s.columns, &format!("规则 {id} 的 columns "), lint);
        if let (Some(rows), Some(cols)) = (rows, cols) {
            sheet_rules.push(SheetRule {
                id,
                sheet: s.sheet.clone(),
                corner: s.corner.clone(),
                rows,
                cols,
                total: s.total.clone(),
                required: s.required,
                severity: s.severity,
                message: s.message.clone(),
                missing_message: s.missing_message.clone(),
            });
        }
    }
    for (name, text) in &file.messages {
        let line_of = src
            .find(&format!("\"{name}\""))
            .or_else(|| src.find(&format!("\n{name} ")));
        let span = line_of.map(|p| p + 1..p + 1);
        check_placeholders(
            text,
            &keys,
            path,
            src,
            span.clone(),
            &format!("[messages] {name}"),
            lint,
        );
        if !message_key_known(name) {
            lint.at(
                path,
                src,
                span,
                format!("[messages] 中的「{name}」不对应任何检查（拼写错误？）"),
            );
        }
    }
    let consolidation = file.consolidation.as_ref().and_then(|c| {
        let rows = key_of(&c.stats_rows, "[consolidation] stats_rows ", lint);
        let cols = key_of(&c.stats_cols, "[consolidation] stats_cols ", lint);
        let amounts: Vec<usize> = c
            .amounts
            .iter()
            .filter_map(|a| key_of(a, "[consolidation] amounts ", lint))
            .collect();
        let person_key = key_of(&c.person_key, "[consolidation] person_key ", lint);
        let person_name = c
            .person_name
            .as_ref()
            .map(|n| key_of(n, "[consolidation] person_name ", lint));
        Some(Consolidation {
            stats_rows: rows?,
            stats_cols: cols?,
            amounts,
            person_key: person_key?,
            person_name: person_name.flatten(),
        })
    });
    let native_calls = {
        let mut exprs: Vec<&mut native::Expr> = row_rules
            .iter_mut()
            .filter_map(|r| r.native.as_mut())
            .flat_map(|n| {
                n.when
                    .iter_mut()
                    .chain(std::iter::once(&mut n.assert))
                    .chain(n.expected.iter_mut())
            })
            .collect();
        native::number_calls(&mut exprs)
    };
    let kind = Kind {
        id: file.kind.id.get_ref().clone(),
        name: file.kind.name.clone(),
        sheet: file.kind.sheet.clone(),
        recognise_by,
        header_scan_rows: file.kind.header_scan_rows.clamp(1, 200),
        template_columns,
        unit_label: file.kind.unit_label.clone(),
        date_label: file.kind.date_label.clone(),
        columns,
        row_rules,
        native_calls,
        sheet_rules,
        messages: file.messages.clone(),
        consolidation,
        source: path.to_path_buf(),
    };
    if lint.issues.len() == before {
        dry_run(&kind, ctx, lint);
    }
    (lint.issues.len() == before).then_some(kind)
}

/// Constraint names a column can use, each needing a message.
pub const CONSTRAINTS: &[&str] = &[
    "required",
    "type_integer",
    "type_money",
    "type_date",
    "enum",
    "regex",
    "min",
    "max",
    "length",
    "unique_file",
    "unique_county",
    "lookup",
];

fn message_key_known(name: &str) -> bool {
    FILE_MESSAGES.contains(&name)
        || CONSTRAINTS.contains(&name)
        || checks::registry().iter().any(|c| {
            c.outcomes()
                .iter()
                .any(|o| name == format!("{}.{o}", c.name()))
        })
}

fn check_placeholders(
    text: &str,
    keys: &[String],
    path: &Path,
    src: &str,
    span: Option<std::ops::Range<usize>>,
    what: &str,
    lint: &mut Lint,
) {
    for name in crate::text::placeholders(text) {
        if !PLACEHOLDERS.contains(&name) && !keys.iter().any(|k| k == name) {
            lint.at(
                path,
                src,
                span.clone(),
                format!("{what} 的提示语使用了未知占位符「{{{name}}}」"),
            );
        }
    }
}

fn compile_column(
    c: &schema::ColumnDecl,
    file: &schema::KindFile,
    keys: &[String],
    ctx: &KindCtx<'_>,
    lint: &mut Lint,
) -> Column {
    let (path, src) = (ctx.path, ctx.src);
    let key = c.key.get_ref().clone();
    let mut used: Vec<String> = Vec::new();
    if c.required {
        used.push("required".into());
    }
    match c.kind {
        ColumnType::Integer => used.push("type_integer".into()),
        ColumnType::Money => used.push("type_money".into()),
        ColumnType::Date => used.push("type_date".into()),
        ColumnType::Enum => {
            used.push("enum".into());
            if c.values.is_empty() {
                lint.at(
                    path,
                    src,
                    Some(c.key.span()),
                    format!("枚举列「{key}」没有列出 values"),
                );
            }
        }
        ColumnType::Text => {}
    }
    let regex = c
        .regex
        .as_ref()
        .and_then(|r| match Regex::new(r.get_ref()) {
            Ok(re) => Some(re),
            Err(e) => {
                lint.at(
                    path,
                    src,
                    Some(r.span()),
                    format!(
                        "列「{key}」的正则表达式无效：{}",
                        e.to_string().lines().last().unwrap_or("")
                    ),
                );
                None
            }
        });
    if c.regex.is_some() {
        used.push("regex".into());
    }
    if c.min.is_some() {
        used.push("min".into());
    }
    if c.max.is_some() {
        used.push("max".into());
    }
    if c.length.is_some() {
        used.push("length".into());
    }
    match c.unique {
        Some(UniqueScope::File) => used.push("unique_file".into()),
        Some(UniqueScope::County) => {
            used.push("unique_file".into());
            used.push("unique_county".into());
        }
        None => {}
    }
    let lookup = c.lookup.as_ref().and_then(|l| {
        used.push("lookup".into());
        let Some(t) = ctx.tables.get(l.table.get_ref()) else {
            lint.at(
                path,
                src,
                Some(l.table.span()),
                format!("列「{key}」引用了未声明的参照表「{}」", l.table.get_ref()),
            );
            return None;
        };
        let Some(vc) = t.column(l.column.get_ref()) else {
            lint.at(
                path,
                src,
                Some(l.column.span()),
                format!(
                    "参照表「{}」没有列「{}」",
                    l.table.get_ref(),
                    l.column.get_ref()
                ),
            );
            return None;
        };
        let sc = match &l.scope {
            Some(s) => match t.column(s.get_ref()) {
                Some(i) => Some(i),
                None => {
                    lint.at(
                        path,
                        src,
                        Some(s.span()),
                        format!("参照表「{}」没有列「{}」", l.table.get_ref(), s.get_ref()),
                    );
                    return None;
                }
            },
            None => None,
        };
        let mut by_scope: rustc_hash::FxHashMap<String, rustc_hash::FxHashSet<String>> =
            Default::default();
        let mut values = rustc_hash::FxHashSet::default();
        for r in &t.rows {
            let v = r.get(vc).cloned().unwrap_or_default();
            let s = sc.and_then(|i| r.get(i).cloned()).unwrap_or_default();
            values.insert(v.clone());
            by_scope.entry(s).or_default().insert(v);
        }
        Some(Lookup {
            table: l.table.get_ref().clone(),
            by_scope,
            values,
            scoped: sc.is_some(),
        })
    });
    let mut checks = Vec::new();
    for d in &c.checks {
        let Some(check) = checks::find(d.check.get_ref()) else {
            let names: Vec<_> = checks::registry().iter().map(|c| c.name()).collect();
            lint.at(
                path,
                src,
                Some(d.check.span()),
                format!(
                    "未知的内置检查「{}」（可用：{}）",
                    d.check.get_ref(),
                    names.join("、")
                ),
            );
            continue;
        };
        let mut params = Vec::new();
        for p in check.params() {
            match d.params.get(*p) {
                Some(col) => match keys.iter().position(|k| k == col.get_ref()) {
                    Some(i) => params.push(i),
                    None => lint.at(
                        path,
                        src,
                        Some(col.span()),
                        format!(
                            "检查 {} 的参数 {p} 引用了未知的列「{}」",
                            check.name(),
                            col.get_ref()
                        ),
                    ),
                },
                None => lint.at(
                    path,
                    src,
                    Some(d.check.span()),
                    format!("检查 {} 缺少参数「{p}」", check.name()),
                ),
            }
        }
        for p in d.params.keys() {
            if !check.params().contains(&p.as_str()) {
                lint.at(
                    path,
                    src,
                    Some(d.check.span()),
                    format!("检查 {} 没有参数「{p}」", check.name()),
                );
            }
        }
        let mut outcomes = HashMap::new();
        for o in check.outcomes() {
            let name = format!("{}.{}", check.name(), o);
            if let Some(m) = meta(&key, &name, c, file) {
                outcomes.insert(*o, m);
            } else {
                lint.at(path, src, Some(d.check.span()), format!("列「{key}」的检查 {} 缺少结果「{o}」的提示语（[messages] 中的 \"{name}\"）", check.name()));
            }
        }
        checks.push(ColumnCheck {
            check,
            params,
            outcomes,
        });
    }
    let mut constraints = HashMap::new();
    for u in &used {
        match meta(&key, u, c, file) {
            Some(m) => {
                constraints.insert(u.clone(), m);
            }
            None => lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列「{key}」使用了「{u}」，但 [messages] 中没有对应的提示语"),
            ),
        }
    }
    for s in c.severity.keys().chain(c.messages.keys()) {
        let known = used.contains(s)
            || c.checks
                .iter()
                .any(|d| s.starts_with(&format!("{}.", d.check.get_ref())));
        if !known {
            lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列「{key}」为「{s}」设置了提示语或级别，但该列没有这项检查"),
            );
        }
    }
    Column {
        key,
        header: c.header.clone(),
        aliases: c.aliases.clone(),
        kind: c.kind,
        required: c.required,
        uppercase: c.uppercase,
        values: c.values.clone(),
        blank_means: c.blank_means.clone(),
        regex,
        min: c.min,
        max: c.max,
        length: c.length,
        unique: c.unique,
        lookup,
        checks,
        constraints,
    }
}

fn meta(
    key: &str,
    constraint: &str,
    c: &schema::ColumnDecl,
    file: &schema::KindFile,
) -> Option<RuleMeta> {
    let message = c
        .messages
        .get(constraint)
        .or_else(|| file.messages.get(constraint))?
        .clone();
    Some(RuleMeta {
        id: format!("{key}.{constraint}"),
        severity: c
            .severity
            .get(constraint)
            .copied()
            .unwrap_or(Severity::Error),
        message,
    })
}

/// Runs every row rule once on a blank row, so a rule that can never evaluate (a
/// type mismatch, a wrong function call) is caught by `check-rules`, not by a clerk.
fn dry_run(kind: &Kind, ctx: &KindCtx<'_>, lint: &mut Lint) {
    let root = self::cel::cel_root(ctx.env, ctx.standards, ctx.county);
    let mut file_scope = root.new_inner_scope();
    self::cel::bind_file_globals(&mut file_scope, "", "2000-01");
    let mut row = file_scope.new_inner_scope();
    for c in &kind.columns {
        row.add_variable_from_value(c.key.clone(), self::cel::blank_value(c));
    }
    for r in &kind.row_rules {
        // `when` must always evaluate; `assert` and `expected` only where `when` holds.
        let when = match &r.when {
            Some(w) => w.execute(&row),
            None => Ok(Value::Bool(true)),
        };
        let mut errors = Vec::new();
        match when {
            Ok(Value::Bool(true)) => {
                for p in std::iter::once(&r.assert).chain(r.expected.iter()) {
                    if let Err(e) = p.execute(&row) {
                        errors.push(e);
                    }
                }
            }
            Ok(Value::Bool(false)) => {}
            Ok(other) => errors.push(::cel::ExecutionError::function_error(
                "when",
                format!("结果不是真/假：{other:?}"),
            )),
            Err(e) => errors.push(e),
        }
        if let Some(e) = errors
            .into_iter()
            .find(|e| !matches!(e, ::cel::ExecutionError::NoSuchKey(_)))
        {
            lint.issues.push(LintIssue {
                file: ctx.path.to_path_buf(),
                line: find_line(ctx.src, &r.id),
                message: format!("规则 {} 在空白行上无法计算：{e:?}（检查运算两边的类型：金额是数字，日期和文字是字符串，空的整数是 null）", r.id),
            });
        }
    }
}

fn find_line(src: &str, id: &str) -> Option<usize> {
    let needle = format!("\"{id}\"");
    src.find(&needle)
        .map(|p| src[..p].matches('\n').count() + 1)
}
