//! Rendering validation results: a Chinese table for clerks, JSON for tools.

use crate::rules::Severity;
use crate::validate::FileReport;
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
        let _ = writeln!(
            out,
            "  单位：{}　台账：{}　期间：{}　数据行：{}　错误：{}　提醒：{}　结论：{}",
            r.unit.as_deref().unwrap_or("（未能确定）"),
            r.kind_name.as_deref().unwrap_or(""),
            r.period.as_deref().unwrap_or(""),
            r.rows,
            r.errors,
            r.warnings,
            if r.accepted() { "通过" } else { "退回" }
        );
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
