//! The rule-file schema, exactly as county staff write it in TOML.
//!
//! See the README's rule-file reference for every field with an example. Fields
//! a lint message must point at are [`Spanned`] so the message carries a line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// `county.toml`: who the county is, its reference tables, standards, addresses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountyFile {
    pub county: CountyInfo,
    #[serde(default)]
    pub contacts: Contacts,
    pub units: UnitsDecl,
    #[serde(default)]
    pub tables: BTreeMap<String, TableDecl>,
    /// Subsidy standards and any other figures rules refer to, exposed to
    /// row rules as `standards`.
    #[serde(default)]
    pub standards: toml::Table,
    /// Bounds on what one file can make us produce.
    #[serde(default)]
    pub limits: FileLimits,
    /// When ledgers are due and when units are reminded.
    #[serde(default)]
    pub deadlines: Option<Deadlines>,
    /// How the county workbook prints (paper, the 制表人 / 审核人 line).
    #[serde(default)]
    pub print: Print,
}

/// `[print]` of `county.toml`: the county workbook's paper and the names on its
/// 制表人 / 审核人 line.
#[derive(Debug, Deserialize, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Print {
    /// `"A4"` (the default) or `"A3"`: wide tables print on fewer pages on A3.
    #[serde(default)]
    pub paper: Paper,
    /// Who made the table (制表人), printed under every statistics sheet.
    #[serde(default)]
    pub prepared_by: String,
    /// Who checked it (审核人).
    #[serde(default)]
    pub reviewed_by: String,
}

/// Paper the county workbook prints on.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
pub enum Paper {
    #[default]
    A4,
    A3,
}

/// `[deadlines]` of `county.toml`: a period's ledgers are due on `day` of the
/// following month; units without an accepted ledger are reminded
/// `remind_days_before` days before it, and the county admin gets the list of
/// those still missing the day after.
#[derive(Debug, Deserialize, serde::Serialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    pub day: u32,
    #[serde(default)]
    pub remind_days_before: Vec<u32>,
}

/// `[limits]` of `county.toml`: bounds on what one file can make us produce.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FileLimits {
    /// Most data rows a ledger may have; past it the file is refused unchecked.
    pub max_rows: usize,
    /// Most findings kept per file (the count is always true).
    pub max_findings: usize,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_rows: 100_000,
            max_findings: 1_000,
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct CountyInfo {
    pub name: String,
    pub code: String,
    /// Short name used in notices, e.g. `安和县残联`.
    pub short_name: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    /// The sender of notices, e.g. `安和县残联 <taizhang@example.gov.cn>`.
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    #[serde(default)]
    pub admin: Vec<Spanned<String>>,
    #[serde(default)]
    pub staff: Vec<Spanned<String>>,
    #[serde(default)]
    pub send_workbook: SendWorkbook,
}

/// When county staff receive the county workbook.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SendWorkbook {
    EveryTime,
    #[default]
    Daily,
    Never,
}

/// `notices.toml`: the wording of every e-mail.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct NoticeFile {
    pub settings: NoticeSettings,
    pub items: ItemTemplates,
    pub rejected: MailTemplate,
    pub accepted: MailTemplate,
    pub unreadable: MailTemplate,
    /// A readable file that is no ledger kind of the rules.
    pub not_a_ledger: MailTemplate,
    /// To the county admin: a list of another agency's (部门比对) accepted, or
    /// refused (never attached, never to a township).
    pub list_accepted: MailTemplate,
    pub list_rejected: MailTemplate,
    pub quarantine: MailTemplate,
    /// To each unit a quarantined file points at (its sources disagree).
    pub quarantine_unit: MailTemplate,
    /// A file identical to one already judged: same answer, not processed again.
    pub resent: MailTemplate,
    /// What `resent` advises (`{advice}`), by the earlier file's outcome.
    pub resent_advice: ResentAdvice,
    pub duplicates: MailTemplate,
    /// Instead of `duplicates` for a kind (by kind id): `[duplicates_by_kind.payments]`
    /// for the same payment made by two units.
    #[serde(default)]
    pub duplicates_by_kind: BTreeMap<String, MailTemplate>,
    pub county_workbook: MailTemplate,
    /// To the county admin, once, when a county workbook cannot be written.
    pub workbook_failed: MailTemplate,
    /// To the county admin, once, when received files cannot be stored.
    pub state_disk: MailTemplate,
    /// To the county admin, once per broken edit: the rules folder has problems,
    /// the rules in force stay.
    pub rules_refused: MailTemplate,
    /// To the county admin, once until it is fixed: the rules a worker reads
    /// could not be used, so received files wait (no township is told).
    pub rules_failed: MailTemplate,
    /// To a unit without an accepted ledger, on the days of `[deadlines]
    /// remind_days_before` (催报).
    pub reminder: MailTemplate,
    /// To the county admin, the day after the deadline: the units still missing
    /// or rejected.
    pub overdue: MailTemplate,
}

/// `[resent_advice]`: what a unit re-sending an identical file should do.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ResentAdvice {
    pub accepted: String,
    pub rejected: String,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct NoticeSettings {
    pub max_items: usize,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ItemTemplates {
    pub text: String,
    pub html: String,
    pub more_text: String,
    pub more_html: String,
    pub omitted_text: String,
    pub omitted_html: String,
    pub attachment_text: String,
    pub attachment_html: String,
    pub no_attachment_text: String,
    pub no_attachment_html: String,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct MailTemplate {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where the reporting units are listed.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct UnitsDecl {
    pub table: Spanned<String>,
    pub code_column: String,
    pub name_column: String,
    pub email_column: String,
    /// Endings a unit's name may be written without (`镇`, `乡`, `街道办事处`):
    /// `柳河` and `柳河残联` then name 柳河镇. A short form two units share names neither.
    #[serde(default)]
    pub short_form_drops: Vec<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TableDecl {
    /// CSV file name, relative to the rules folder.
    pub file: Spanned<String>,
}

/// One ledger kind (`register.toml`, …).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindFile {
    pub kind: KindInfo,
    #[serde(default)]
    pub messages: BTreeMap<String, String>,
    #[serde(default)]
    pub columns: Vec<ColumnDecl>,
    #[serde(default)]
    pub row_rules: Vec<RowRuleDecl>,
    #[serde(default)]
    pub sheet_rules: Vec<SheetRuleDecl>,
    /// Other ledgers this kind is checked against (`[[references]]`).
    #[serde(default)]
    pub references: Vec<ReferenceDecl>,
    /// How the county workbook of this kind is built.
    #[serde(default)]
    pub consolidation: Option<ConsolidationDecl>,
    /// Rows that are no person: totals and footers.
    #[serde(default)]
    pub not_persons: NotPersonsDecl,
    /// Severity of file-level findings, by name (`period_mismatch = "error"`).
    #[serde(default)]
    pub file_severity: BTreeMap<String, Severity>,
}

/// `[not_persons]`: the words that mark a row as a total or a footer, not a person.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct NotPersonsDecl {
    /// A row whose first filled cell is one of these (`合计`, `总计：`) is a
    /// total row; its amounts are checked against the sums of the rows above.
    #[serde(default)]
    pub totals: Vec<String>,
    /// A row whose first filled cell starts with one of these (`填表人：`, `注：`)
    /// is a footer or note, not checked.
    #[serde(default)]
    pub footers: Vec<String>,
}

/// `[consolidation]`: which columns the county statistics and duplicate list use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsolidationDecl {
    /// Name of the detail sheet (default `全县明细`).
    #[serde(default)]
    pub detail_sheet: Option<String>,
    /// Column whose values are the statistics' row groups (e.g. `category`).
    #[serde(default)]
    pub stats_rows: Option<Spanned<String>>,
    /// Column whose values split each group (e.g. `level`).
    #[serde(default)]
    pub stats_cols: Option<Spanned<String>>,
    /// Amount columns: recipients (amount > 0) and monthly totals per unit.
    #[serde(default)]
    pub amounts: Vec<Spanned<String>>,
    /// Per unit, persons and the sum of `split_amount` for each value of this
    /// column (e.g. per subsidy type), and a 合计: the sheet `split_sheet`.
    #[serde(default)]
    pub split_by: Option<Spanned<String>>,
    #[serde(default)]
    pub split_amount: Option<Spanned<String>>,
    #[serde(default)]
    pub split_sheet: Option<String>,
    /// Column identifying a person across units (listed in 跨乡镇重复).
    pub person_key: Spanned<String>,
    /// Columns that, with `person_key`, make the same thing twice across units
    /// (one payment: person, subsidy, month). Empty: the person alone.
    #[serde(default)]
    pub duplicate_with: Vec<Spanned<String>>,
    /// Name of the cross-unit duplicates sheet (default `跨乡镇重复`).
    #[serde(default)]
    pub duplicates_sheet: Option<String>,
    /// Column with the person's name, shown beside the key.
    #[serde(default)]
    pub person_name: Option<Spanned<String>>,
    /// 应发未发: persons of a referenced ledger for whom `when` holds and who have
    /// no row with `split_by` = `value` (needs `split_by` and a reference).
    #[serde(default)]
    pub owed: Vec<OwedDecl>,
    #[serde(default)]
    pub owed_sheet: Option<String>,
    /// 本期变动: each unit's ledger against its previous one (a `previous`
    /// reference of the kind itself).
    #[serde(default)]
    pub changes: Option<ChangesDecl>,
    /// 分乡镇统计 counts only these rows (the persons 在册).
    #[serde(default)]
    pub count_only: Option<CountOnly>,
    /// 比对疑点: the rows of each unit's latest ledger that rules of one family
    /// (`lists.`) fired on, with the money involved.
    #[serde(default)]
    pub hits: Option<HitsDecl>,
}

/// `[consolidation.hits]`: every row of each unit's latest ledger of the period
/// (accepted or sent back) that a rule whose id starts with `rules` fired on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HitsDecl {
    /// The sheet's name (default `比对疑点`).
    #[serde(default)]
    pub sheet: Option<String>,
    /// The rule ids' common start (`lists.`).
    pub rules: String,
    /// The columns shown for each row, in order.
    pub columns: Vec<Spanned<String>>,
    /// The money column summed as 涉及金额, per unit and for the county.
    pub amount: Spanned<String>,
}

/// `[consolidation.changes]`: what changed in a unit's ledger since its previous
/// one — 新增, 减少 (by status), 变更 (of the columns listed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesDecl {
    /// The sheet's name (default `本期变动`).
    #[serde(default)]
    pub sheet: Option<String>,
    /// The reference (of this kind, `ledger = "previous"`) to compare with.
    pub reference: Spanned<String>,
    /// The status column; its value `on_register` is on the register, any
    /// other a decrease.
    pub status: Spanned<String>,
    pub on_register: String,
    /// The date of the change (shown beside a decrease).
    #[serde(default)]
    pub date: Option<Spanned<String>>,
    /// Columns whose change is listed as 变更 (old → new).
    pub columns: Vec<Spanned<String>>,
}

/// `[[consolidation.owed]]`: who should have a row of one kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwedDecl {
    /// The value of `split_by` they should have a row with (`护理补贴`).
    pub value: Spanned<String>,
    /// CEL over the referenced ledger's row (`register.level in ['一级', '二级']`),
    /// `standards` and `period_end`.
    pub when: Spanned<String>,
    /// What they should be paid a month (元), CEL over the same row
    /// (`standards.nursing_subsidy[register.level]`): 应发未发's 应发金额 column.
    #[serde(default)]
    pub amount: Option<Spanned<String>>,
}

/// `[[references]]`: another ledger kind each row is looked up in, by a key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceDecl {
    /// How rules name it: `register` gives `register.<column>`, `register_found`,
    /// `register_available`, `register_file` and `register_elsewhere`.
    pub name: Spanned<String>,
    /// The referenced ledger kind's id.
    pub kind: Spanned<String>,
    /// This kind's column holding the key.
    pub key: Spanned<String>,
    /// The referenced kind's column it joins to.
    pub on: Spanned<String>,
    /// Which ledger: `latest_accepted` (the same unit's latest accepted at or
    /// before the file's period) or `previous` (its latest accepted before the
    /// file's period: normally the month before; of the file's own kind too), or
    /// `every_up_to` (every accepted ledger of each period up to the file's,
    /// together: the monthly death lists). A reference to a county kind reads
    /// the county's lists, not the unit's.
    #[serde(default = "latest_accepted")]
    pub ledger: Spanned<String>,
    /// The file-level warning when the unit has no such ledger on file (none:
    /// nothing is said).
    #[serde(default)]
    pub missing_message: Option<String>,
    /// The file-level warning when the ledger found is older than asked for:
    /// `<name>.older_period` (of an earlier period than the file's) or, for
    /// `previous`, `<name>.gap` (older than the month before). `{ref_period}` is
    /// the ledger's period.
    #[serde(default)]
    pub older_message: Option<String>,
    /// CEL over a row of the referenced ledger (`history.status == '在册'`):
    /// every such row must have a row in this file, by the key; each one missing
    /// is a file-level error `<name>.dropped` saying `dropped_message` (its
    /// `{value}` is the key, `{ref_period}` the ledger's period, and
    /// `{<name>.<column>}` the row's values).
    #[serde(default)]
    pub must_cover: Option<Spanned<String>>,
    #[serde(default)]
    pub dropped_message: Option<String>,
}

fn latest_accepted() -> Spanned<String> {
    Spanned::new(0..0, "latest_accepted".to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindInfo {
    /// Stable id used in file names and the journal, e.g. `register`.
    pub id: Spanned<String>,
    /// The name users see, e.g. `残疾人信息登记簿`.
    pub name: String,
    /// Standard name of the detail sheet.
    pub sheet: String,
    /// Column keys whose headers must all be present for a sheet to be taken as
    /// this kind when its sheet name differs.
    pub recognise_by: Vec<Spanned<String>>,
    /// How many rows from the top to search for the header.
    #[serde(default = "default_scan")]
    pub header_scan_rows: u32,
    /// Rows where only these columns are filled are template rows and skipped.
    #[serde(default)]
    pub template_columns: Vec<Spanned<String>>,
    /// Label of the submitting unit above the header (`填报单位`).
    #[serde(default)]
    pub unit_label: Option<String>,
    /// Label of the report date above the header (`填报日期`).
    #[serde(default)]
    pub date_label: Option<String>,
    /// `unit` (a township's ledger, the default) or `county`: a list the county
    /// admin files (another agency's: deaths, 低保, 特困), of no unit, answered
    /// to the admin only, never shown to a township.
    #[serde(default)]
    pub scope: Scope,
}

/// Whose ledger a kind is.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Unit,
    County,
}

fn default_scan() -> u32 {
    30
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Text,
    Integer,
    Money,
    Date,
    /// A month, as `YYYY-MM` (发放月份: a date, `2026-11`, `2026年11月`, `202611`).
    Month,
    Enum,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UniqueScope {
    File,
    County,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDecl {
    pub key: Spanned<String>,
    pub header: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    #[serde(default)]
    pub required: bool,
    /// Fold lowercase Latin letters to uppercase before checking (IDs: `x` → `X`).
    #[serde(default)]
    pub uppercase: bool,
    /// Allowed values of an `enum` column, in order (built-in checks may use the order).
    #[serde(default)]
    pub values: Vec<String>,
    /// Value of an `enum` column when the cell is blank.
    #[serde(default)]
    pub blank_means: Option<String>,
    /// Other ways of writing an `enum` value (`"多重残疾" = "多重"`): read as the
    /// standard value, with a warning naming it. Spaces never matter.
    #[serde(default)]
    pub value_aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub regex: Option<Spanned<String>>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Exact length in characters (after normalisation).
    #[serde(default)]
    pub length: Option<usize>,
    #[serde(default)]
    pub unique: Option<UniqueScope>,
    /// Unique in the file together with these columns (`unique_with = ["subsidy_type",
    /// "pay_month"]` on the ID: one payment per person, subsidy and month); a later
    /// row with the same values is an error (`unique_with`).
    #[serde(default)]
    pub unique_with: Vec<Spanned<String>>,
    #[serde(default)]
    pub lookup: Option<LookupDecl>,
    #[serde(default)]
    pub checks: Vec<CheckDecl>,
    /// Message overrides for this column, by constraint name.
    #[serde(default)]
    pub messages: BTreeMap<String, String>,
    /// Severity overrides for this column, by constraint name (default error).
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupDecl {
    pub table: Spanned<String>,
    /// Column of the table the value must appear in.
    pub column: Spanned<String>,
    /// Column of the table that must equal the submitting unit's name.
    #[serde(default)]
    pub scope: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDecl {
    pub check: Spanned<String>,
    /// Other columns the check reads, by parameter name.
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRuleDecl {
    pub id: Spanned<String>,
    /// CEL: the rule applies only to rows where this is true (default: all rows).
    #[serde(default)]
    pub when: Option<Spanned<String>>,
    /// CEL: must be true, else a finding.
    pub assert: Spanned<String>,
    /// CEL: the expected value, shown as `{expected}` in the message.
    #[serde(default)]
    pub expected: Option<Spanned<String>>,
    /// Column key of the cell to blame.
    pub cell: Spanned<String>,
    /// Column key of the cell to blame when the file has no `cell` column (an
    /// optional 人员状态: then the 姓名).
    #[serde(default)]
    pub else_cell: Option<Spanned<String>>,
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// CEL: where this holds on a row the rule fired on, the finding is an error
    /// whatever `severity` says (是否低保 = 是 off the 低保 list: a warning, an
    /// error when the row also has 生活补贴).
    #[serde(default)]
    pub error_when: Option<Spanned<String>>,
    pub message: String,
}

fn default_severity() -> Severity {
    Severity::Error
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetRuleDecl {
    pub id: Spanned<String>,
    /// The sheet-rule engine to use; today `crosstab_count`.
    pub check: Spanned<String>,
    pub sheet: String,
    /// Text of the table's top-left header cell, e.g. `残疾类别`.
    pub corner: String,
    /// Column key whose values label the table's rows.
    pub rows: Spanned<String>,
    /// Column key whose values label the table's columns.
    pub columns: Spanned<String>,
    /// Label of the total row and column.
    pub total: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default = "default_severity")]
    pub severity: Severity,
    pub message: String,
    #[serde(default)]
    pub missing_message: Option<String>,
    /// Other names the table's sheet goes by (`汇总表`, `统计表`).
    #[serde(default)]
    pub sheet_aliases: Vec<String>,
    /// Other texts of the corner cell (`类别`).
    #[serde(default)]
    pub corner_aliases: Vec<String>,
    /// Said instead of `message` when detail rows could not be counted (their row
    /// or column value blank or unreadable): `{left_out}` rows.
    #[serde(default)]
    pub left_out_message: Option<String>,
    /// Count only the rows whose `column` is one of `values` (汇总 counts the
    /// persons 在册: `{ column = "status", values = ["在册"] }`).
    #[serde(default)]
    pub count_only: Option<CountOnly>,
}

/// Which rows a table counts.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct CountOnly {
    pub column: Spanned<String>,
    pub values: Vec<String>,
}
