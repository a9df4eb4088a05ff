//! Annotated copies: the sender's own workbook, rewritten with every problem cell
//! filled (errors red, warnings yellow) and explained in a cell note, behind a first
//! sheet `问题清单` that lists every problem with a link to its cell.
//!
//! All sheets keep their names, order, values and merged ranges; text stays text
//! (an ID is never turned into a number, a value starting with `=` is never turned
//! into a formula), dates stay dates.

use crate::rules::Severity;
use crate::validate::{FileReport, Finding};
use crate::workbook::value::{date_to_serial, parse_date_text};
use crate::workbook::{excel_text, Book, Cell, Limits, SheetData};
use rust_xlsxwriter::{
    Color, Format, FormatAlign, FormatBorder, Note, Url, Workbook, Worksheet, XlsxError,
};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Name of the problem-list sheet.
pub const LIST_SHEET: &str = "问题清单";

/// Why an annotated copy could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    #[error("{0}")]
    Read(#[from] crate::workbook::ReadError),
    #[error("写入批注副本失败：{0}")]
    Write(#[from] XlsxError),
    #[error("写入批注副本失败：{0}")]
    Io(#[from] std::io::Error),
}

/// Where the annotated copy of `src` goes in `dir`: same stem, `.xlsx`; never the
/// source file itself.
pub fn target_path(src: &Path, name: &str, dir: &Path) -> PathBuf {
    target_paths(&[(src, name)], dir).remove(0)
}

/// Where the annotated copies of several files go in `dir`: `<stem>.xlsx` each,
/// never the same path twice and never a source itself (`X.xlsx` and `X.xls`
/// give `X.xlsx` and `X_xls.xlsx`).
pub fn target_paths(files: &[(&Path, &str)], dir: &Path) -> Vec<PathBuf> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    let mut taken: Vec<PathBuf> = Vec::new();
    for (_, name) in files {
        let p = Path::new(name);
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "台账".into());
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_string())
            .unwrap_or_default();
        let is_source = |out: &Path| files.iter().any(|(s, _)| same(out, s));
        let free = |out: &Path| !taken.iter().any(|t| t == out) && !is_source(out);
        let mut out = dir.join(format!("{stem}.xlsx"));
        if is_source(&out) {
            out = dir.join(format!("{stem}_批注.xlsx"));
        } else if !free(&out) && !ext.is_empty() {
            out = dir.join(format!("{stem}_{ext}.xlsx"));
        }
        let mut n = 2;
        while !free(&out) {
            out = dir.join(format!("{stem}_{n}.xlsx"));
            n += 1;
        }
        taken.push(out);
    }
    taken
}

/// Writes the annotated copy of `src` into `dir` (temp file, fsync, rename).
pub fn annotate_file(
    src: &Path,
    report: &FileReport,
    dir: &Path,
) -> Result<PathBuf, AnnotateError> {
    annotate_to(src, report, &target_path(src, &report.file, dir))
}

/// Writes the annotated copy of `src` to `out` (temp file, fsync, rename).
pub fn annotate_to(src: &Path, report: &FileReport, out: &Path) -> Result<PathBuf, AnnotateError> {
    let out = out.to_path_buf();
    let mut book = Book::open(src, &Limits::default())?;
    let mut sheets = Vec::new();
    for name in book.sheet_names() {
        sheets.push(book.read_sheet(&name)?);
    }
    let mut wb = build(&sheets, report)?;
    crate::fsutil::replace_durable(&out, |tmp| wb.save(tmp).map_err(std::io::Error::other))?;
    Ok(out)
}

/// Display width of text in a spreadsheet column (CJK counts double).
pub fn text_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

struct Styles {
    header: Format,
    title: Format,
    wrap: Format,
    date: Format,
    error: Format,
    warning: Format,
    error_date: Format,
    warning_date: Format,
    link: Format,
}

impl Styles {
    fn new() -> Styles {
        let err_fill = Color::RGB(0xFFC7CE);
        let warn_fill = Color::RGB(0xFFEB9C);
        let err_font = Color::RGB(0x9C0006);
        let warn_font = Color::RGB(0x9C5700);
        let date = "yyyy-mm-dd";
        Styles {
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0xDDEBF7))
                .set_border(FormatBorder::Thin)
                .set_text_wrap()
                .set_align(FormatAlign::Center),
            title: Format::new().set_bold().set_font_size(14),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            date: Format::new().set_num_format(date),
            error: Format::new()
                .set_background_color(err_fill)
                .set_font_color(err_font),
            warning: Format::new()
                .set_background_color(warn_fill)
                .set_font_color(warn_font),
            error_date: Format::new()
                .set_background_color(err_fill)
                .set_font_color(err_font)
                .set_num_format(date),
            warning_date: Format::new()
                .set_background_color(warn_fill)
                .set_font_color(warn_font)
                .set_num_format(date),
            link: Format::new()
                .set_font_color(Color::RGB(0x0563C1))
                .set_underline(rust_xlsxwriter::FormatUnderline::Single)
                .set_align(FormatAlign::Top),
        }
    }
}

fn severity_zh(s: Severity) -> &'static str {
    match s {
        Severity::Error => "错误",
        Severity::Warning => "提醒",
    }
}

/// Builds the annotated workbook in memory.
/// A sheet name Excel accepts: none of `[ ] : * ? / \`, no quote at either end,
/// at most 31 characters, not empty.
fn excel_sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '[' | ']' | ':' | '*' | '?' | '/' | '\\' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim_matches('\'').trim();
    let cut: String = cleaned.chars().take(31).collect();
    if cut.is_empty() {
        "Sheet".into()
    } else {
        cut
    }
}

/// Names for the copy's sheets: each original name made acceptable to Excel and
/// unique regardless of case (Excel's rule), none equal to the list sheet's.
fn sheet_names(sheets: &[SheetData], list_name: &str) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::from([list_name.to_lowercase()]);
    sheets
        .iter()
        .map(|s| {
            let base = excel_sheet_name(&s.name);
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name.to_lowercase()) {
                let suffix = format!("({n})");
                let keep = 31 - suffix.chars().count();
                name = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
                n += 1;
            }
            taken.insert(name.to_lowercase());
            name
        })
        .collect()
}

pub fn build(sheets: &[SheetData], report: &FileReport) -> Result<Workbook, XlsxError> {
    let st = Styles::new();
    let mut wb = Workbook::new();
    let list_name = if sheets.iter().any(|s| s.name.to_lowercase() == LIST_SHEET) {
        format!("{LIST_SHEET}（校验）")
    } else {
        LIST_SHEET.to_string()
    };
    let names = sheet_names(sheets, &list_name);
    // Original name → the copy's, for links and the note about renamed sheets.
    let renamed: Vec<(&str, &str)> = sheets
        .iter()
        .zip(&names)
        .map(|(s, n)| (s.name.as_str(), n.as_str()))
        .collect();
    let mut ordered: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    ordered.extend(
        report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning),
    );
    {
        let ws = wb.add_worksheet();
        ws.set_name(&list_name)?;
        write_list(ws, &st, report, &ordered, &renamed)?;
        ws.set_active(true);
        ws.set_tab_color(if report.errors > 0 {
            Color::RGB(0xC00000)
        } else {
            Color::RGB(0x00B050)
        });
    }
    // Findings by (sheet, row, col), worst first.
    let mut by_cell: HashMap<(&str, u32, u32), Vec<&Finding>> = HashMap::new();
    for f in &ordered {
        if let (Some(r), Some(c)) = (f.row, f.column.as_deref().and_then(col_index)) {
            by_cell
                .entry((f.sheet.as_str(), r - 1, c))
                .or_default()
                .push(f);
        }
    }
    for (sheet, name) in sheets.iter().zip(&names) {
        let ws = wb.add_worksheet();
        ws.set_name(name)?;
        copy_sheet(ws, &st, sheet, &by_cell, report)?;
    }
    Ok(wb)
}

fn col_index(letters: &str) -> Option<u32> {
    let mut n: u32 = 0;
    for b in letters.bytes() {
        if !b.is_ascii_uppercase() {
            return None;
        }
        n = n.checked_mul(26)?.checked_add(u32::from(b - b'A') + 1)?;
    }
    n.checked_sub(1)
}

fn write_list(
    ws: &mut Worksheet,
    st: &Styles,
    report: &FileReport,
    findings: &[&Finding],
    renamed: &[(&str, &str)],
) -> Result<(), XlsxError> {
    ws.write_string_with_format(0, 0, "校验问题清单", &st.title)?;
    let copy_name = |original: &str| {
        renamed
            .iter()
            .find(|(o, _)| *o == original)
            .map_or(original.to_string(), |(_, n)| n.to_string())
    };
    let summary = format!(
        "文件：{}　填报单位：{}　台账：{}　期间：{}　数据行：{}　错误 {} 处，提醒 {} 处。{}",
        report.file,
        report.unit.as_deref().unwrap_or("未能确定"),
        report.kind_name.as_deref().unwrap_or(""),
        report.period.as_deref().unwrap_or(""),
        report.rows,
        report.errors,
        report.warnings,
        if report.errors > 0 {
            "请逐条更正“错误”后重新报送；“提醒”请核实。点击单元格地址可跳到该格，红色为错误，黄色为提醒，鼠标停在格上可看说明。"
        } else {
            "没有错误，已通过校验；“提醒”请核实。"
        }
    );
    let changed: Vec<String> = renamed
        .iter()
        .filter(|(o, n)| o != n)
        .map(|(o, n)| format!("「{o}」→「{n}」"))
        .collect();
    let summary = if changed.is_empty() {
        summary
    } else {
        format!(
            "{summary}（Excel 工作表名最长 31 个字符、不能含 [ ] : * ? / \\ 且不分大小写不能重名，本副本中改名：{}）",
            changed.join("，")
        )
    };
    let summary = if report.findings.len() < report.findings_total() {
        format!(
            "{summary}（问题过多：仅列出前 {} 处，共发现 {} 处）",
            report.findings.len(),
            report.findings_total()
        )
    } else {
        summary
    };
    ws.write_string(1, 0, &summary)?;
    let heads = [
        "序号",
        "级别",
        "工作表",
        "单元格",
        "姓名",
        "列名",
        "填写内容",
        "问题说明",
    ];
    const MESSAGE_WIDTH: f64 = 56.0;
    const VALUE_WIDTH: f64 = 20.0;
    let widths = [6.0, 6.0, 12.0, 8.0, 10.0, 16.0, VALUE_WIDTH, MESSAGE_WIDTH];
    for (i, (h, w)) in heads.iter().zip(widths).enumerate() {
        ws.write_string_with_format(3, i as u16, *h, &st.header)?;
        ws.set_column_width(i as u16, w)?;
    }
    for (k, f) in findings.iter().enumerate() {
        let r = 4 + k as u32;
        let sev = match f.severity {
            Severity::Error => &st.error,
            Severity::Warning => &st.warning,
        };
        ws.write_number(r, 0, (k + 1) as f64)?;
        ws.write_string_with_format(r, 1, severity_zh(f.severity), sev)?;
        ws.write_string_with_format(r, 2, &f.sheet, &st.wrap)?;
        let target = f.cell.clone().unwrap_or_else(|| "A1".into());
        let shown = f.cell.clone().unwrap_or_else(|| "—".into());
        let url = Url::new(format!(
            "internal:'{}'!{}",
            copy_name(&f.sheet).replace('\'', "''"),
            target
        ))
        .set_text(&shown);
        ws.write_url_with_format(r, 3, url, &st.link)?;
        ws.write_string_with_format(r, 4, f.person.as_deref().unwrap_or(""), &st.wrap)?;
        ws.write_string_with_format(r, 5, f.header.as_deref().unwrap_or(""), &st.wrap)?;
        ws.write_string_with_format(r, 6, excel_text(&f.value), &st.wrap)?;
        ws.write_string_with_format(r, 7, &f.message, &st.wrap)?;
        // Wrapped text gets the height it needs (no reader recomputes it reliably).
        let lines =
            |text: &str, width: f64| (text_width(text) as f64 / (width - 1.0)).ceil().max(1.0);
        let n = lines(&f.message, MESSAGE_WIDTH)
            .max(lines(&f.value, VALUE_WIDTH))
            .min(20.0);
        ws.set_row_height(r, 15.0 * n + 2.0)?;
    }
    if findings.is_empty() {
        ws.write_string(4, 0, "未发现问题。")?;
    } else {
        ws.autofilter(3, 0, 3 + findings.len() as u32, 7)?;
    }
    ws.set_freeze_panes(4, 0)?;
    ws.set_landscape();
    ws.set_paper_size(9); // A4
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(3, 3)?;
    Ok(())
}

fn copy_sheet(
    ws: &mut Worksheet,
    st: &Styles,
    sheet: &SheetData,
    by_cell: &HashMap<(&str, u32, u32), Vec<&Finding>>,
    report: &FileReport,
) -> Result<(), XlsxError> {
    let mut widths: HashMap<u32, usize> = HashMap::new();
    // Cells covered by a merge (not its top-left) are written by the merge.
    let mut covered: HashSet<(u32, u32)> = HashSet::new();
    let mut merge_at: HashMap<(u32, u32), (u32, u32)> = HashMap::new();
    for (r1, c1, r2, c2) in &sheet.merges {
        if (r2 - r1) as u64 * (c2 - c1) as u64 > 100_000 {
            continue;
        }
        merge_at.insert((*r1, *c1), (*r2, *c2));
        for r in *r1..=*r2 {
            for c in *c1..=*c2 {
                if (r, c) != (*r1, *c1) {
                    covered.insert((r, c));
                }
            }
        }
    }
    let mut done: HashSet<(u32, u32)> = HashSet::new();
    for (r, c, v) in &sheet.cells {
        if covered.contains(&(*r, *c)) || *c > 16_383 || *r > 1_048_575 {
            continue;
        }
        let finding = by_cell.get(&(sheet.name.as_str(), *r, *c));
        let sev = finding.map(|fs| {
            fs.iter()
                .map(|f| f.severity)
                .min_by_key(|s| *s != Severity::Error)
                .unwrap_or(Severity::Warning)
        });
        let (col, row) = (*c as u16, *r);
        if let Some((r2, c2)) = merge_at.get(&(*r, *c)) {
            let f = Format::new()
                .set_bold()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter);
            ws.merge_range(row, col, *r2, *c2 as u16, &v.raw_text(), &f)?;
            continue;
        }
        let is_header =
            report.sheet.as_deref() == Some(sheet.name.as_str()) && report.header_row == Some(*r);
        let text_fmt = match sev {
            Some(Severity::Error) => Some(&st.error),
            Some(Severity::Warning) => Some(&st.warning),
            None if is_header => Some(&st.header),
            None => None,
        };
        let date_fmt = match sev {
            Some(Severity::Error) => &st.error_date,
            Some(Severity::Warning) => &st.warning_date,
            None => &st.date,
        };
        write_cell(ws, row, col, v, text_fmt, date_fmt)?;
        // A header wraps in its cell: its width is that of its longest line.
        let w = if is_header {
            v.raw_text().lines().map(text_width).max().unwrap_or(0)
        } else {
            text_width(&v.raw_text())
        };
        let e = widths.entry(*c).or_insert(0);
        *e = (*e).max(w);
        done.insert((*r, *c));
    }
    // Problems on empty cells (a required value left blank).
    for ((s, r, c), fs) in by_cell {
        if *s != sheet.name || done.contains(&(*r, *c)) || covered.contains(&(*r, *c)) {
            continue;
        }
        let fmt = if fs.iter().any(|f| f.severity == Severity::Error) {
            &st.error
        } else {
            &st.warning
        };
        ws.write_blank(*r, *c as u16, fmt)?;
    }
    for ((s, r, c), fs) in by_cell {
        if *s != sheet.name || covered.contains(&(*r, *c)) {
            continue;
        }
        let text: Vec<String> = fs
            .iter()
            .map(|f| format!("【{}】{}", severity_zh(f.severity), f.message))
            .collect();
        let text = text.join("\n");
        let height = (40 + 18 * (text_width(&text) / 36 + fs.len())).min(400) as u32;
        let note = Note::new(&text)
            .set_author("县残联台账校验")
            .set_width(300)
            .set_height(height);
        ws.insert_note(*r, *c as u16, &note)?;
    }
    for (c, w) in widths {
        if c <= 16_383 {
            ws.set_column_width(c as u16, (w as f64 + 2.0).clamp(6.0, 40.0))?;
        }
    }
    if report.sheet.as_deref() == Some(sheet.name.as_str()) {
        if let Some(h) = report.header_row {
            ws.set_freeze_panes(h + 1, 0)?;
            ws.set_repeat_rows(h, h)?;
        }
        ws.set_landscape();
        ws.set_paper_size(9);
        ws.set_print_fit_to_pages(1, 0);
    }
    Ok(())
}

fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    v: &Cell<'_>,
    fmt: Option<&Format>,
    date_fmt: &Format,
) -> Result<(), XlsxError> {
    match v {
        Cell::Empty => {
            if let Some(f) = fmt {
                ws.write_blank(row, col, f)?;
            }
        }
        Cell::Text(s) => {
            match fmt {
                Some(f) => ws.write_string_with_format(row, col, excel_text(s), f)?,
                None => ws.write_string(row, col, excel_text(s))?,
            };
        }
        Cell::Int(i) => {
            let x = *i as f64;
            match fmt {
                Some(f) => ws.write_number_with_format(row, col, x, f)?,
                None => ws.write_number(row, col, x)?,
            };
        }
        Cell::Float(x) => {
            match fmt {
                Some(f) => ws.write_number_with_format(row, col, *x, f)?,
                None => ws.write_number(row, col, *x)?,
            };
        }
        Cell::Bool(b) => {
            match fmt {
                Some(f) => ws.write_boolean_with_format(row, col, *b, f)?,
                None => ws.write_boolean(row, col, *b)?,
            };
        }
        Cell::Date(serial) => {
            ws.write_number_with_format(row, col, *serial, date_fmt)?;
        }
        Cell::Iso(s) => match parse_date_text(s) {
            Some(d) => {
                ws.write_number_with_format(row, col, date_to_serial(d), date_fmt)?;
            }
            None => {
                ws.write_string(row, col, s)?;
            }
        },
        Cell::Error(e) => {
            let text = if e.starts_with('#') {
                e.clone()
            } else {
                format!("#{e}")
            };
            match fmt {
                Some(f) => ws.write_string_with_format(row, col, &text, f)?,
                None => ws.write_string(row, col, &text)?,
            };
        }
    }
    Ok(())
}
