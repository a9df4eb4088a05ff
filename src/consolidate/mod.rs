//! The county workbook: one per ledger kind and period, rebuilt from the journal
//! (never from old files) after every accepted or rejected submission.
//!
//! Sheets (user-facing names, the kind's `[consolidation]` may rename them):
//! `全县明细` (every accepted row, unit first; split into `全县明细(2)`, … at
//! Excel's row limit), `分乡镇统计` (persons by category × level, subsidy
//! recipients and monthly totals, a 合计 row) or, for a kind with `split_by`, per
//! unit the persons and amounts of each value ([`split`]: 分乡镇发放统计),
//! `本期变动` (for a kind with `[consolidation.changes]`: per unit 新增 / 减少 /
//! 变更 against its previous ledger, then each person changed: [`changes`]),
//! `报送情况` (every unit: 已通过 / 已退回 / 未报送), `跨乡镇重复` (a person, or a
//! person with the `duplicate_with` values — one payment —, in more than one
//! unit's ledger: 重复发放), and for a kind with `[[consolidation.owed]]` the
//! persons of a referenced ledger who should have a row and have none ([`owed`]:
//! 应发未发).
//! Written to a temp file and renamed into place; the same journal gives the same
//! bytes (the document time is the newest submission's, not the clock's).

mod changes;
pub mod hits;
mod owed;
mod print;
mod split;

use crate::journal::stored::{stored_row, Stored};
use crate::journal::{Journal, JournalError};
use crate::rules::{ColumnType, Kind, RuleSet};
use crate::standing::{self, CrossDuplicate, UnitStanding};
use crate::workbook::excel_text;
use crate::workbook::value::{date_to_serial, parse_date_text};
use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
    XlsxError,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Deflate level of the county workbook: rebuilt after every accepted file, so
/// speed counts. Level 3 writes it about a quarter faster than the default 6 for
/// a file about a tenth larger.
pub const ZIP_LEVEL: u8 = 3;

/// Excel's last row is 1,048,576: one header row plus this many data rows per sheet.
pub const MAX_DATA_ROWS: u32 = 1_048_575;

#[derive(Debug, thiserror::Error)]
pub enum ConsolidateError {
    #[error(transparent)]
    Store(#[from] JournalError),
    #[error("writing the county workbook: {0}")]
    Xlsx(#[from] XlsxError),
    #[error("writing the county workbook {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("unknown ledger kind {0}")]
    Kind(String),
}

impl ConsolidateError {
    /// The reason as the county admin reads it (the notice, `status`, the page):
    /// Chinese, the OS's own words left out.
    pub fn zh(&self) -> String {
        match self {
            ConsolidateError::Io(path, e) => {
                format!("无法写入 {}：{}", path.display(), crate::fsutil::io_zh(e))
            }
            ConsolidateError::Xlsx(XlsxError::IoError(e)) => {
                format!("无法写入全县汇总表：{}", crate::fsutil::io_zh(e))
            }
            ConsolidateError::Xlsx(e) => format!("生成全县汇总表时出错（{e}）"),
            ConsolidateError::Store(e) => format!("读取台账数据库时出错（{e}）"),
            ConsolidateError::Kind(k) => format!("规则中没有台账类型「{k}」"),
        }
    }
}

/// What a rebuild produced.
#[derive(Debug, Clone)]
pub struct Built {
    pub path: PathBuf,
    pub rows: usize,
    pub duplicates: Vec<CrossDuplicate>,
}

/// File name of the county workbook of a kind and period.
pub fn file_name(rules: &RuleSet, kind: &Kind, period: &str) -> String {
    format!(
        "{}_{}_{}_全县汇总.xlsx",
        rules.county.name, kind.name, period
    )
}

/// Rebuilds the county workbook of `kind_id` for `period` in `outbox`, from the
/// units' standing (see [`crate::standing`]).
pub fn rebuild(
    rules: &RuleSet,
    journal: &Journal,
    kind_id: &str,
    period: &str,
    outbox: &Path,
) -> Result<Built, ConsolidateError> {
    let kind = rules
        .kind(kind_id)
        .ok_or_else(|| ConsolidateError::Kind(kind_id.to_string()))?;
    let standing = standing::of(rules, journal, kind_id, period)?;
    let status = &standing.units;

    let mut wb = Workbook::new();
    wb.set_zip_compression_level(ZIP_LEVEL);
    let newest = standing
        .newest_received
        .as_deref()
        .unwrap_or("2000-01-01T00:00:00");
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "{}{}（{}）全县汇总",
                rules.county.name, kind.name, period
            ))
            .set_company(rules.county.short_name.clone())
            .set_author("taizhang")
            .set_creation_datetime(&doc_time(newest)),
    );
    let st = Styles::new();
    // Every sheet prints with this title (county, kind, period, as of when).
    let page = print::Page {
        title: format!(
            "{} {} {} 全县汇总（数据截至 {}）",
            rules.county.name,
            kind.name,
            period,
            crate::text::local_time(newest)
        ),
        print: &rules.county.print,
        date: print::date_zh(newest),
    };

    // The sheets a reader wants first come first: the statistics, 报送情况, the
    // duplicates and 应发未发; the long 全县明细 last. They are named now and
    // written after the detail pass, which gathers what they show.
    let cons = kind.consolidation.as_ref();
    let grid = cons.and_then(|c| c.stats.map(|g| (c, g)));
    let split_of = cons.and_then(|c| c.split.as_ref());
    let mut leading: Vec<String> = Vec::new();
    if grid.is_some() {
        leading.push("分乡镇统计".into());
    }
    if let Some(sp) = split_of {
        leading.push(sp.sheet.clone());
    }
    let changes_of = cons.and_then(|c| c.changes.as_ref());
    if let Some(ch) = changes_of {
        leading.push(ch.sheet.clone());
    }
    leading.push("报送情况".into());
    if let Some(c) = cons {
        leading.push(c.duplicates_sheet.clone());
        if !c.owed.is_empty() {
            leading.push(c.owed_sheet.clone());
        }
        if let Some(h) = &c.hits {
            leading.push(h.sheet.clone());
        }
    }
    for name in &leading {
        wb.add_worksheet().set_name(name)?;
    }
    let lead = leading.len();

    // 全县明细, reading each accepted submission's rows from the journal.
    let mut detail_rows = 0usize;
    let mut sheet_no = 1;
    let mut row: u32 = 0;
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    let mut by_value: BTreeMap<String, split::Tally> = BTreeMap::new();
    let mut paid = owed::Paid::default();
    let keys: Vec<&str> = kind.columns.iter().map(|c| c.key.as_str()).collect();
    let mut widths = new_detail_sheet(&mut wb, kind, sheet_no, &st)?;
    let mut number = String::new();
    for (unit, sub) in standing.counting() {
        let unit_stats = stats.entry(unit.code.clone()).or_default();
        journal.for_each_record(sub.id, |rec_row, data| -> Result<(), ConsolidateError> {
            let cells = stored_row(data, &keys)?;
            if row == MAX_DATA_ROWS {
                let ws = wb.worksheet_from_index(lead + sheet_no - 1)?;
                finish_detail_sheet(ws, kind, row, &page, &widths)?;
                sheet_no += 1;
                widths = new_detail_sheet(&mut wb, kind, sheet_no, &st)?;
                row = 0;
            }
            let ws = wb.worksheet_from_index(lead + sheet_no - 1)?;
            row += 1;
            detail_rows += 1;
            ws.write_string_with_format(row, 0, &unit.code, &st.cell)?;
            ws.write_string_with_format(row, 1, &unit.name, &st.cell)?;
            for (j, (c, v)) in kind.columns.iter().zip(&cells).enumerate() {
                let col = (j + 2) as u16;
                match v {
                    Some(Stored::Num(n)) => {
                        use std::fmt::Write;
                        number.clear();
                        let _ = write!(number, "{n}");
                        widths.see(col, &number);
                        ws.write_number_with_format(row, col, *n, &st.cell)?
                    }
                    Some(Stored::Text(t)) => {
                        let date = match c.ty {
                            ColumnType::Date => parse_date_text(t),
                            _ => None,
                        };
                        match date {
                            Some(d) => {
                                ws.write_number_with_format(row, col, date_to_serial(d), &st.date)?
                            }
                            None => {
                                let fmt = if widths.see(col, t) {
                                    &st.cell_wrap
                                } else {
                                    &st.cell
                                };
                                ws.write_string_with_format(row, col, excel_text(t), fmt)?
                            }
                        }
                    }
                    None => ws.write_blank(row, col, &st.cell)?,
                };
            }
            let name_col = (kind.columns.len() + 2) as u16;
            let fmt = if widths.see(name_col, &sub.original_name) {
                &st.cell_wrap
            } else {
                &st.cell
            };
            ws.write_string_with_format(row, name_col, &sub.original_name, fmt)?;
            ws.write_number_with_format(row, name_col + 1, f64::from(rec_row), &st.cell)?;
            if let Some(cons) = kind
                .consolidation
                .as_ref()
                .filter(|c| counted(kind, c, &cells))
            {
                unit_stats.add(cons, &cells);
                if let Some(sp) = &cons.split {
                    by_value
                        .entry(unit.code.clone())
                        .or_default()
                        .add(kind, sp, &cells);
                    if !cons.owed.is_empty() {
                        paid.add(&unit.code, cons, sp, &cells);
                    }
                }
            }
            Ok(())
        })?;
    }
    let ws = wb.worksheet_from_index(lead + sheet_no - 1)?;
    finish_detail_sheet(ws, kind, row, &page, &widths)?;

    if let Some((cons, grid)) = grid {
        let ws = wb.worksheet_from_name("分乡镇统计")?;
        let (widths, last) = write_stats(ws, kind, cons, grid, status, &stats, &st)?;
        page.write_signature(ws, last + 2, &widths)?;
        page.setup(ws, &widths, Some((0, 1)), Some((0, 1)))?;
    }
    if let Some(sp) = split_of {
        let ws = wb.worksheet_from_name(&sp.sheet)?;
        let (widths, last) = split::write(ws, kind, sp, status, &by_value, &st)?;
        page.write_signature(ws, last + 2, &widths)?;
        page.setup(ws, &widths, Some((0, 1)), Some((0, 1)))?;
    }
    if let Some(ch) = changes_of {
        let mut units = Vec::new();
        for u in status {
            let c = match &u.counting {
                Some(sub) => crate::changes::of(journal, kind, sub)?,
                None => None,
            };
            units.push((u.unit, c));
        }
        let ws = wb.worksheet_from_name(&ch.sheet)?;
        let (widths, _) = changes::write(ws, kind, ch, &units, &st)?;
        page.setup(ws, &widths, Some((0, 0)), Some((0, 1)))?;
    }
    {
        let ws = wb.worksheet_from_name("报送情况")?;
        let widths = write_status(ws, status, &st, period)?;
        page.setup(ws, &widths, Some((0, 0)), Some((0, 1)))?;
    }
    let duplicates = standing::cross_unit_duplicates(journal, &standing)?;
    if let Some(cons) = cons {
        let ws = wb.worksheet_from_name(&cons.duplicates_sheet)?;
        let widths = write_duplicates(ws, kind, cons, &duplicates, &st)?;
        page.setup(ws, &widths, Some((0, 0)), Some((0, 1)))?;
        if !cons.owed.is_empty() {
            let ws = wb.worksheet_from_name(&cons.owed_sheet)?;
            let widths = owed::write(ws, rules, journal, kind, cons, &standing, &paid, &st)?;
            page.setup(ws, &widths, Some((0, 0)), Some((0, 1)))?;
        }
        if let Some(h) = &cons.hits {
            let ws = wb.worksheet_from_name(&h.sheet)?;
            let widths = hits::write(ws, journal, kind, h, &standing, &st)?;
            page.setup(ws, &widths, Some((0, 0)), Some((0, 1)))?;
        }
    }

    let path = outbox.join(file_name(rules, kind, period));
    crate::fsutil::replace_durable(&path, |tmp| {
        wb.save(tmp).map_err(|e| match e {
            XlsxError::IoError(io) => io,
            other => std::io::Error::other(other),
        })
    })
    .map_err(|e| ConsolidateError::Io(path.clone(), e))?;
    Ok(Built {
        path,
        rows: detail_rows,
        duplicates,
    })
}

/// Writes a list sheet's header row (乡镇代码, 乡镇名称, …): the widths start
/// from it, a header wrapping onto two lines at most.
fn write_heads(
    ws: &mut rust_xlsxwriter::Worksheet,
    heads: &[String],
    st: &Styles,
) -> Result<print::Widths, ConsolidateError> {
    let mut widths = print::Widths::new(vec![11.0, 14.0]);
    for (i, h) in heads.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, h, &st.header)?;
        widths.see(
            i as u16,
            &"长".repeat((print::display_width(h) / 4.0).ceil() as usize),
        );
    }
    Ok(widths)
}

/// Writes text at (`r`, `c`), wrapped when wider than its column will be.
fn put_text(
    ws: &mut rust_xlsxwriter::Worksheet,
    widths: &mut print::Widths,
    st: &Styles,
    r: u32,
    c: u16,
    t: &str,
) -> Result<(), ConsolidateError> {
    let fmt = if widths.see(c, t) { &st.wrap } else { &st.cell };
    ws.write_string_with_format(r, c, t, fmt)?;
    Ok(())
}

/// Whether a stored row is counted in 分乡镇统计 (`[consolidation] count_only`: a
/// blank read as the column's `blank_means`).
fn counted(kind: &Kind, cons: &crate::rules::Consolidation, cells: &[Option<Stored<'_>>]) -> bool {
    let Some((c, values)) = &cons.count_only else {
        return true;
    };
    let v = crate::journal::stored::slot_text(cells, *c);
    let v = match (v.trim(), &kind.columns[*c].blank_means) {
        ("", Some(b)) => b.as_str(),
        (t, _) => t,
    };
    values.iter().any(|x| x == v)
}

fn doc_time(rfc3339: &str) -> ExcelDateTime {
    let parsed = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| d.naive_local())
        .ok();
    let fallback = ExcelDateTime::from_ymd(2000, 1, 1)
        .unwrap_or_else(|_| ExcelDateTime::from_serial_datetime(36526.0).unwrap_or_default());
    match parsed {
        Some(d) => {
            use chrono::{Datelike, Timelike};
            ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
                .and_then(|x| x.and_hms(d.hour() as u16, d.minute() as u8, d.second() as f64))
                .unwrap_or(fallback)
        }
        None => fallback,
    }
}

pub(crate) struct Styles {
    header: Format,
    /// A data cell: thin borders, so a printed table reads as one.
    cell: Format,
    /// A data cell whose text is longer than a column may be wide.
    cell_wrap: Format,
    date: Format,
    money: Format,
    total: Format,
    total_money: Format,
    rejected: Format,
    missing: Format,
    accepted: Format,
    wrap: Format,
}

impl Styles {
    fn new() -> Styles {
        let head = Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0xDDEBF7))
            .set_border(FormatBorder::Thin)
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::VerticalCenter)
            .set_text_wrap();
        let cell = Format::new().set_border(FormatBorder::Thin);
        let total = cell
            .clone()
            .set_bold()
            .set_background_color(Color::RGB(0xF2F2F2));
        Styles {
            header: head,
            cell_wrap: cell.clone().set_text_wrap().set_align(FormatAlign::Top),
            date: cell.clone().set_num_format("yyyy-mm-dd"),
            money: cell.clone().set_num_format("#,##0.00"),
            total_money: total.clone().set_num_format("#,##0.00"),
            total,
            rejected: cell
                .clone()
                .set_background_color(Color::RGB(0xFFC7CE))
                .set_font_color(Color::RGB(0x9C0006)),
            missing: cell
                .clone()
                .set_background_color(Color::RGB(0xFFEB9C))
                .set_font_color(Color::RGB(0x9C5700)),
            accepted: cell.clone().set_font_color(Color::RGB(0x006100)),
            wrap: cell.clone().set_text_wrap().set_align(FormatAlign::Top),
            cell,
        }
    }
}

/// Adds detail sheet `n` with its header row; answers its starting widths.
fn new_detail_sheet(
    wb: &mut Workbook,
    kind: &Kind,
    n: usize,
    st: &Styles,
) -> Result<print::Widths, XlsxError> {
    let ws = wb.add_worksheet_with_constant_memory()?;
    let name = kind
        .consolidation
        .as_ref()
        .map_or("全县明细", |c| c.detail_sheet.as_str());
    ws.set_name(if n == 1 {
        name.to_string()
    } else {
        format!("{name}({n})")
    })?;
    let mut headers: Vec<String> = vec!["乡镇代码".into(), "乡镇名称".into()];
    headers.extend(kind.columns.iter().map(|c| c.header.clone()));
    headers.push("原文件".into());
    headers.push("原表行号".into());
    let mut widths = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, h, &st.header)?;
        let width: f64 = match i {
            0 => 11.0,
            1 => 14.0,
            _ if i == headers.len() - 2 => 30.0,
            _ => match kind.columns.get(i - 2).map(|c| (c.ty, c.key.as_str())) {
                Some((ColumnType::Date, _)) => 11.0,
                Some((ColumnType::Money | ColumnType::Integer, _)) => 9.0,
                Some((_, _))
                    if kind.columns[i - 2].length.is_some() || kind.columns[i - 2].uppercase =>
                {
                    22.0
                }
                _ => 12.0,
            },
        };
        // A header wraps onto two lines at most.
        widths.push(width.max((print::display_width(h) / 2.0).ceil() + 2.0));
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(print::Widths::new(widths))
}

fn finish_detail_sheet(
    ws: &mut Worksheet,
    kind: &Kind,
    last_row: u32,
    page: &print::Page<'_>,
    widths: &print::Widths,
) -> Result<(), XlsxError> {
    ws.autofilter(0, 0, last_row, (kind.columns.len() + 3) as u16)?;
    widths.apply(ws)?;
    page.setup(ws, widths, Some((0, 0)), Some((0, 1)))
}

/// Writes text at (r, c), in `fmt` when given (a 合计 row).
pub(crate) fn text_cell(
    ws: &mut Worksheet,
    r: u32,
    c: u16,
    text: &str,
    fmt: Option<&Format>,
) -> Result<(), XlsxError> {
    match fmt {
        Some(f) => ws.write_string_with_format(r, c, text, f).map(|_| ()),
        None => ws.write_string(r, c, text).map(|_| ()),
    }
}

/// Writes a number at (r, c), in `fmt` when given (a 合计 row).
pub(crate) fn num_cell(
    ws: &mut Worksheet,
    r: u32,
    c: u16,
    v: f64,
    fmt: Option<&Format>,
) -> Result<(), XlsxError> {
    match fmt {
        Some(f) => ws.write_number_with_format(r, c, v, f).map(|_| ()),
        None => ws.write_number(r, c, v).map(|_| ()),
    }
}

/// An amount as `#,##0.00` shows it.
pub(crate) fn thousands(x: f64) -> String {
    let cents = (x.abs() * 100.0).round() as u128;
    let (int, frac) = (cents / 100, cents % 100);
    let digits = int.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{}{out}.{frac:02}", if x < 0.0 { "-" } else { "" })
}

/// Counts of one unit for 分乡镇统计.
#[derive(Default, Clone)]
struct Stats {
    total: u64,
    /// Persons by (row value, column value); few distinct pairs, kept in a list.
    cells: Vec<((String, String), u64)>,
    /// Per amount column: (recipients, monthly total).
    amounts: Vec<(u64, f64)>,
}

impl Stats {
    fn add(&mut self, cons: &crate::rules::Consolidation, cells: &[Option<Stored<'_>>]) {
        let text = |i: usize| match cells.get(i) {
            Some(Some(Stored::Text(t))) => t.as_ref(),
            _ => "",
        };
        self.total += 1;
        if let Some((rows, cols)) = cons.stats {
            *self.count_mut(text(rows), text(cols)) += 1;
        }
        if self.amounts.len() < cons.amounts.len() {
            self.amounts.resize(cons.amounts.len(), (0, 0.0));
        }
        for (k, i) in cons.amounts.iter().enumerate() {
            let v = match cells.get(*i) {
                Some(Some(Stored::Num(v))) => *v,
                _ => 0.0,
            };
            if v > 0.0 {
                self.amounts[k].0 += 1;
                self.amounts[k].1 += v;
            }
        }
    }

    fn count(&self, a: &str, b: &str) -> u64 {
        self.cells
            .iter()
            .find(|((x, y), _)| x == a && y == b)
            .map_or(0, |(_, n)| *n)
    }

    fn count_mut(&mut self, a: &str, b: &str) -> &mut u64 {
        let k = match self.cells.iter().position(|((x, y), _)| x == a && y == b) {
            Some(k) => k,
            None => {
                self.cells.push(((a.to_string(), b.to_string()), 0));
                self.cells.len() - 1
            }
        };
        &mut self.cells[k].1
    }
}

fn write_stats(
    ws: &mut Worksheet,
    kind: &Kind,
    cons: &crate::rules::Consolidation,
    (rows, cols): (usize, usize),
    status: &[UnitStanding<'_>],
    stats: &BTreeMap<String, Stats>,
    st: &Styles,
) -> Result<(print::Widths, u32), XlsxError> {
    let groups = &kind.columns[rows].values;
    let splits = &kind.columns[cols].values;
    // Two header rows: group (merged) over its splits and a 小计.
    ws.merge_range(0, 0, 1, 0, "乡镇代码", &st.header)?;
    ws.merge_range(0, 1, 1, 1, "乡镇名称", &st.header)?;
    ws.merge_range(0, 2, 1, 2, "残疾人数合计", &st.header)?;
    let mut col: u16 = 3;
    for g in groups {
        let span = splits.len() as u16;
        ws.merge_range(0, col, 0, col + span, &format!("{g}残疾"), &st.header)?;
        for (k, s) in splits.iter().enumerate() {
            ws.write_string_with_format(1, col + k as u16, s, &st.header)?;
        }
        ws.write_string_with_format(1, col + span, "小计", &st.header)?;
        col += span + 1;
    }
    for a in &cons.amounts {
        let h = &kind.columns[*a].header;
        ws.merge_range(0, col, 0, col + 1, h, &st.header)?;
        ws.write_string_with_format(1, col, "人数", &st.header)?;
        ws.write_string_with_format(1, col + 1, "金额（元/月）", &st.header)?;
        col += 2;
    }
    let last_col = col - 1;
    let mut widths = vec![11.0, 16.0, 12.0];
    widths.resize(usize::from(last_col) + 1, 7.0);
    // Amount columns fit the county's total (`1,234,567.00`) and their header.
    let county_total: Vec<f64> = (0..cons.amounts.len())
        .map(|k| {
            stats
                .values()
                .map(|s| s.amounts.get(k).map_or(0.0, |a| a.1))
                .sum()
        })
        .collect();
    let money_col = 3 + groups.len() as u16 * (splits.len() as u16 + 1);
    for (k, total) in county_total.iter().enumerate() {
        let shown = thousands(*total);
        let width = (shown.len() as f64 + 3.0).max(15.0);
        widths[usize::from(money_col) + 2 * k + 1] = width;
    }
    let widths = print::Widths::new(widths);
    widths.apply(ws)?;
    ws.set_row_height(0, 32)?;
    ws.set_row_height(1, 20)?;
    let empty = Stats::default();
    let mut sums = Stats::default();
    let mut r: u32 = 2;
    let write_row = |ws: &mut Worksheet,
                     r: u32,
                     code: &str,
                     name: &str,
                     s: &Stats,
                     total: bool|
     -> Result<(), XlsxError> {
        let (fmt, money) = if total {
            (&st.total, &st.total_money)
        } else {
            (&st.cell, &st.money)
        };
        let num = |ws: &mut Worksheet, c: u16, v: f64| num_cell(ws, r, c, v, Some(fmt));
        text_cell(ws, r, 0, code, Some(fmt))?;
        text_cell(ws, r, 1, name, Some(fmt))?;
        num(ws, 2, s.total as f64)?;
        let mut c: u16 = 3;
        for g in groups {
            let mut sub = 0;
            for sp in splits {
                let n = s.count(g, sp);
                sub += n;
                num(ws, c, n as f64)?;
                c += 1;
            }
            num(ws, c, sub as f64)?;
            c += 1;
        }
        for k in 0..cons.amounts.len() {
            let (n, amt) = s.amounts.get(k).copied().unwrap_or((0, 0.0));
            num(ws, c, n as f64)?;
            ws.write_number_with_format(r, c + 1, amt, money)?;
            c += 2;
        }
        Ok(())
    };
    for s in status {
        let unit = s.unit;
        let us = if s.counting.is_some() {
            stats.get(&unit.code).unwrap_or(&empty)
        } else {
            &empty
        };
        write_row(ws, r, &unit.code, &unit.name, us, false)?;
        sums.total += us.total;
        for ((a, b), v) in &us.cells {
            *sums.count_mut(a, b) += v;
        }
        if sums.amounts.len() < us.amounts.len() {
            sums.amounts.resize(us.amounts.len(), (0, 0.0));
        }
        for (k, (n, a)) in us.amounts.iter().enumerate() {
            sums.amounts[k].0 += n;
            sums.amounts[k].1 += a;
        }
        r += 1;
    }
    write_row(ws, r, "", "合计", &sums, true)?;
    ws.set_freeze_panes(2, 2)?;
    Ok((widths, r))
}

fn write_status(
    ws: &mut Worksheet,
    status: &[UnitStanding<'_>],
    st: &Styles,
    period: &str,
) -> Result<print::Widths, XlsxError> {
    let heads = [
        "乡镇代码",
        "乡镇名称",
        "状态",
        "文件",
        "接收时间",
        "数据行",
        "错误",
        "提醒",
        "说明",
    ];
    let mut widths = print::Widths::new(vec![11.0, 16.0, 8.0, 30.0, 18.0, 8.0, 6.0, 6.0, 50.0]);
    for (i, h) in heads.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, *h, &st.header)?;
    }
    for (k, s) in status.iter().enumerate() {
        let r = 1 + k as u32;
        ws.write_string_with_format(r, 0, &s.unit.code, &st.cell)?;
        ws.write_string_with_format(r, 1, &s.unit.name, &st.cell)?;
        for c in 3..8 {
            ws.write_blank(r, c, &st.cell)?;
        }
        // The row shows the counting submission (its rows are the unit's here),
        // else the latest; a file rejected after the counting one is said in
        // the note, never instead of it.
        match s.shown() {
            None => {
                ws.write_string_with_format(r, 2, "未报送", &st.missing)?;
                ws.write_string_with_format(r, 8, format!("{period} 期尚未收到报送"), &st.wrap)?;
            }
            Some(shown) => {
                let accepted = s.counting.is_some();
                ws.write_string_with_format(
                    r,
                    2,
                    s.status_zh(),
                    if accepted { &st.accepted } else { &st.rejected },
                )?;
                let name_fmt = if widths.see(3, &shown.original_name) {
                    &st.wrap
                } else {
                    &st.cell
                };
                ws.write_string_with_format(r, 3, &shown.original_name, name_fmt)?;
                let at = crate::text::local_time(&shown.received_at);
                widths.see(4, &at);
                ws.write_string_with_format(r, 4, at, &st.cell)?;
                ws.write_number_with_format(r, 5, shown.rows as f64, &st.cell)?;
                ws.write_number_with_format(r, 6, shown.errors as f64, &st.cell)?;
                ws.write_number_with_format(r, 7, shown.warnings as f64, &st.cell)?;
                let why = |sub: &crate::journal::Submission| {
                    sub.reason
                        .clone()
                        .unwrap_or_else(|| format!("有 {} 处错误，已退回乡镇更正", sub.errors))
                };
                let note = match (accepted, s.later_rejected()) {
                    (true, Some(later)) => format!(
                        "较晚收到的文件「{}」（{}）已退回：{}；汇总中仍沿用本行已通过的文件（{} 行）",
                        later.original_name,
                        crate::text::local_time(&later.received_at),
                        why(later),
                        shown.rows
                    ),
                    (true, None) => String::new(),
                    (false, _) => format!(
                        "{}；本期尚无已通过的文件，汇总中没有该单位的数据",
                        why(shown)
                    ),
                };
                ws.write_string_with_format(r, 8, &note, &st.wrap)?;
            }
        }
    }
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, status.len() as u32, 8)?;
    widths.apply(ws)?;
    Ok(widths)
}

fn write_duplicates(
    ws: &mut Worksheet,
    kind: &Kind,
    cons: &crate::rules::Consolidation,
    dups: &[CrossDuplicate],
    st: &Styles,
) -> Result<print::Widths, XlsxError> {
    // The key's columns: the person, then what makes one thing with it (subsidy, month).
    let key_heads: Vec<String> = std::iter::once(cons.person_key)
        .chain(cons.duplicate_with.iter().copied())
        .map(|i| kind.columns[i].header.clone())
        .collect();
    let mut heads: Vec<String> = key_heads.clone();
    let also = if cons.duplicate_with.is_empty() {
        "同时登记在"
    } else {
        "同时见于"
    };
    heads.extend(["姓名", "乡镇（街道）", "文件", "原表行号", also].map(String::from));
    let mut widths: Vec<f64> = vec![22.0];
    widths.extend(std::iter::repeat_n(11.0, key_heads.len() - 1));
    widths.extend([10.0, 16.0, 30.0, 9.0, 30.0]);
    let mut widths = print::Widths::new(widths);
    for (i, h) in heads.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, h, &st.header)?;
    }
    let mut text = |ws: &mut Worksheet, r: u32, c: u16, t: &str| -> Result<(), XlsxError> {
        let fmt = if widths.see(c, t) { &st.wrap } else { &st.cell };
        ws.write_string_with_format(r, c, t, fmt).map(|_| ())
    };
    let n = key_heads.len() as u16;
    let mut r: u32 = 1;
    for d in dups {
        for (unit, _, file, row) in &d.places {
            let others: Vec<String> = d
                .places
                .iter()
                .filter(|p| &p.0 != unit)
                .map(|p| format!("{}（第 {} 行）", p.0, p.3))
                .collect();
            for k in 0..key_heads.len() {
                let part = d.key.split('|').nth(k).unwrap_or("");
                text(ws, r, k as u16, part)?;
            }
            text(ws, r, n, &d.name)?;
            text(ws, r, n + 1, unit)?;
            text(ws, r, n + 2, file)?;
            ws.write_number_with_format(r, n + 3, f64::from(*row), &st.cell)?;
            text(ws, r, n + 4, &others.join("、"))?;
            r += 1;
        }
    }
    if dups.is_empty() {
        let none = if cons.duplicate_with.is_empty() {
            "本期未发现跨乡镇重复登记的人员。".to_string()
        } else {
            format!("本期未发现{}。", cons.duplicates_sheet)
        };
        ws.write_string(1, 0, none)?;
    }
    ws.set_freeze_panes(1, 0)?;
    widths.apply(ws)?;
    Ok(widths)
}
