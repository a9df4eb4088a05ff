//! Rendering validation results: a Chinese table for clerks, JSON for tools.

use crate::rules::Severity;
use crate::validate::{FileReport, ReferenceUsed};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct JsonDoc<'a> {
    files: &'a [FileReport],
}

/// The `--format json` document: `{"files":[…]}`.
pub fn json(reports: &[FileReport]) -> String {
    serde_json::to_string_pretty(&JsonDoc { files: reports })
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The `--format text` rendering: per file a summary line, then its findings grouped by sheet.
pub fn text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "文件：{}", r.file);
        if let Some(f) = &r.fatal {
            let _ = writeln!(out, "  无法校验：{f}\n");
            continue;
        }
        use crate::identify::UnitVerdict;
        // The verdict the daemon would give: no unit, or two, is set aside for the county.
        let verdict = match &r.unit_verdict {
            Some(UnitVerdict::Unknown) | None => "隔离（无法确定填报单位，报送后由县残联确认）",
            Some(UnitVerdict::Conflict(_)) => "隔离（填报单位前后不一致，报送后由县残联确认）",
            Some(UnitVerdict::Known(_)) if r.accepted() => "通过",
            Some(UnitVerdict::Known(_)) => "退回",
        };
        let _ = writeln!(
            out,
            "  单位：{}　台账：{}　期间：{}{}　工作表：{}　数据行：{}　错误：{}　提醒：{}　结论：{verdict}",
            r.unit.as_deref().unwrap_or("（未能确定）"),
            r.kind_name.as_deref().unwrap_or(""),
            r.period.as_deref().unwrap_or(""),
            r.layout
                .period_source
                .map(|s| format!("（据{}）", s.zh()))
                .unwrap_or_default(),
            r.layout.sheet.as_deref().unwrap_or("（未选定）"),
            r.rows,
            r.errors,
            r.warnings,
        );
        for x in ReferenceUsed::said_all(&r.references) {
            let _ = writeln!(out, "  {x}");
        }
        let mut sheets: Vec<&str> = Vec::new();
        for f in &r.findings {
            if !sheets.contains(&f.sheet.as_str()) {
                sheets.push(&f.sheet);
            }
        }
        for s in sheets {
            let _ = writeln!(out, "  工作表「{s}」");
            let _ = writeln!(
                out,
                "    {}{}{}{}问题",
                pad("单元格", 8),
                pad("级别", 6),
                pad("列", 18),
                pad("填写内容", 24)
            );
            for f in r.findings.iter().filter(|f| f.sheet == s) {
                let level = match f.severity {
                    Severity::Error => "错误",
                    Severity::Warning => "提醒",
                };
                let value = if f.value.chars().count() > 22 {
                    format!("{}…", f.value.chars().take(21).collect::<String>())
                } else {
                    f.value.clone()
                };
                let _ = writeln!(
                    out,
                    "    {}{}{}{}{}",
                    pad(f.cell.as_deref().unwrap_or("—"), 8),
                    pad(level, 6),
                    pad(f.header.as_deref().unwrap_or("—"), 18),
                    pad(&value, 24),
                    f.message
                );
            }
        }
        let _ = writeln!(out);
    }
    out
}

/// Pads text to a display width (CJK characters count double), at least one space.
fn pad(s: &str, width: usize) -> String {
    let w = crate::annotate::text_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w).max(1)))
}

/// How a file was read, for `inspect`: its format, the ledger and sheet used, the
/// header and its columns, the 汇总 sheet, the unit and period and where each came
/// from, the rows that are no person.
pub fn layout_text(r: &FileReport) -> String {
    use crate::identify::UnitVerdict;
    let l = &r.layout;
    let mut out = String::new();
    if let Some(f) = &l.format {
        let fits = crate::workbook::Format::ALL
            .iter()
            .find(|x| x.name() == f)
            .is_none_or(|x| x.fits_extension(&r.file));
        let note = if fits { "" } else { "（与扩展名不符）" };
        let _ = writeln!(out, "  格式：{f}{note}");
    }
    if let Some(fatal) = &r.fatal {
        let _ = writeln!(out, "  无法校验：{fatal}");
        return out;
    }
    match (&r.kind_name, &l.sheet) {
        (Some(k), Some(s)) => {
            let _ = writeln!(out, "  台账：{k}　明细工作表：「{s}」");
        }
        (Some(k), None) => {
            let _ = writeln!(out, "  台账：{k}　明细工作表：未能选定");
        }
        _ => {}
    }
    if !l.other_sheets.is_empty() {
        let _ = writeln!(out, "  未校验的同类工作表：{}", quoted(&l.other_sheets));
    }
    if let Some(h) = l.header_row {
        let _ = writeln!(out, "  表头：第 {h} 行");
        let found: Vec<String> = l.columns.iter().map(|(h, c)| format!("{h}={c}")).collect();
        let _ = writeln!(out, "  找到的列：{}", found.join("，"));
        if !l.missing.is_empty() {
            let _ = writeln!(out, "  缺少的列：{}", l.missing.join("，"));
        }
    }
    for (_, sheet) in &l.rule_sheets {
        let _ = writeln!(out, "  汇总表：工作表「{sheet}」（与明细核对）");
    }
    let unit = match &r.unit_verdict {
        Some(UnitVerdict::Known(u)) if u == crate::rules::COUNTY_LISTS => {
            format!("{u}（县里收到的其他部门名单，不属于任何乡镇，只用于比对）")
        }
        Some(UnitVerdict::Known(u)) => u.clone(),
        Some(UnitVerdict::Conflict(v)) => {
            let shown: Vec<String> = v.iter().map(|(s, u)| format!("{}：{u}", s.zh())).collect();
            format!("前后不一致（{}）", shown.join("；"))
        }
        _ => "未能确定".to_string(),
    };
    let _ = writeln!(out, "  单位：{unit}");
    for (src, text) in &l.clues {
        let short: String = text.chars().take(60).collect();
        let _ = writeln!(out, "    {}：{short}", src.zh());
    }
    if let Some(p) = &r.period {
        let from = l
            .period_source
            .map(|s| format!("（据{}）", s.zh()))
            .unwrap_or_default();
        let _ = writeln!(out, "  期间：{p}{from}");
    }
    let _ = writeln!(out, "  数据行：{}", r.rows);
    for x in ReferenceUsed::said_all(&r.references) {
        let _ = writeln!(out, "  {x}");
    }
    if !l.not_persons.is_empty() {
        let shown: Vec<String> = l
            .not_persons
            .iter()
            .map(|(row, t)| format!("第 {row} 行「{t}」"))
            .collect();
        let _ = writeln!(out, "  不是人员的行（合计、落款）：{}", shown.join("，"));
    }
    out
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("「{n}」"))
        .collect::<Vec<_>>()
        .join("、")
}
