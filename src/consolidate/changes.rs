//! 本期变动 (`[consolidation.changes]`): per unit the counts of 新增, 减少 (by
//! status) and 变更 against its previous register, then one row per person
//! changed — what a 县残联 reports upward each month.

use super::print::Widths;
use super::Styles;
use crate::changes::UnitChanges;
use crate::rules::{Changes, Kind, Unit};
use rust_xlsxwriter::{Worksheet, XlsxError};

/// A unit, and its changes when it has an accepted ledger this period.
pub(super) type UnitRow<'a> = (&'a Unit, Option<UnitChanges>);

/// Writes the sheet; its widths and its last row.
pub(super) fn write(
    ws: &mut Worksheet,
    kind: &Kind,
    ch: &Changes,
    units: &[UnitRow<'_>],
    st: &Styles,
) -> Result<(Widths, u32), XlsxError> {
    let decreases: Vec<&String> = kind.columns[ch.status]
        .values
        .iter()
        .filter(|v| **v != ch.on_register)
        .collect();
    let mut heads: Vec<String> = vec![
        "乡镇代码".into(),
        "乡镇名称".into(),
        "比对的上期".into(),
        "新增".into(),
    ];
    heads.extend(decreases.iter().map(|d| format!("减少（{d}）")));
    heads.push("变更".into());
    let mut widths = Widths::new(vec![11.0, 16.0, 12.0, 8.0]);
    for (i, h) in heads.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, h, &st.header)?;
        widths.see(i as u16, h);
    }
    let mut totals = vec![0usize; 2 + decreases.len()];
    let mut r: u32 = 0;
    for (unit, changes) in units {
        r += 1;
        ws.write_string_with_format(r, 0, &unit.code, &st.cell)?;
        ws.write_string_with_format(r, 1, &unit.name, &st.cell)?;
        let Some(c) = changes else {
            ws.write_string_with_format(r, 2, "本期无已通过的登记簿", &st.cell)?;
            for k in 0..totals.len() {
                ws.write_blank(r, 3 + k as u16, &st.cell)?;
            }
            continue;
        };
        let since = match &c.previous {
            Some(p) => p.period.clone().unwrap_or_default(),
            None => "无（未比对）".into(),
        };
        widths.see(2, &since);
        ws.write_string_with_format(r, 2, &since, &st.cell)?;
        let mut counts = vec![c.added.len()];
        counts.extend(decreases.iter().map(|d| c.decreased_by(d)));
        counts.push(c.changed.len());
        for (k, n) in counts.iter().enumerate() {
            totals[k] += n;
            ws.write_number_with_format(r, 3 + k as u16, *n as f64, &st.cell)?;
        }
    }
    r += 1;
    ws.write_string_with_format(r, 0, "", &st.total)?;
    ws.write_string_with_format(r, 1, "合计", &st.total)?;
    ws.write_string_with_format(r, 2, "", &st.total)?;
    for (k, n) in totals.iter().enumerate() {
        ws.write_number_with_format(r, 3 + k as u16, *n as f64, &st.total)?;
    }
    // One row per person changed.
    r += 2;
    let detail = [
        "乡镇名称",
        "姓名",
        "身份证号",
        "变动类型",
        "变动内容（上期 → 本期）",
        "变动日期",
    ];
    for (i, h) in detail.iter().enumerate() {
        ws.write_string_with_format(r, i as u16, *h, &st.header)?;
    }
    let mut any = false;
    let mut line = |ws: &mut Worksheet, r: &mut u32, cells: [&str; 6]| -> Result<(), XlsxError> {
        *r += 1;
        for (i, t) in cells.iter().enumerate() {
            let fmt = if widths.see(i as u16, t) {
                &st.wrap
            } else {
                &st.cell
            };
            ws.write_string_with_format(*r, i as u16, *t, fmt)?;
        }
        Ok(())
    };
    for (unit, changes) in units {
        let Some(c) = changes else { continue };
        for p in &c.added {
            any = true;
            line(ws, &mut r, [&unit.name, &p.name, &p.id, "新增", "", ""])?;
        }
        for (p, status, date) in &c.decreased {
            any = true;
            let what = format!("减少（{status}）");
            line(ws, &mut r, [&unit.name, &p.name, &p.id, &what, "", date])?;
        }
        for (p, diffs) in &c.changed {
            any = true;
            let said: Vec<String> = diffs
                .iter()
                .map(|(h, old, new)| format!("{h}：{old} → {new}"))
                .collect();
            line(
                ws,
                &mut r,
                [&unit.name, &p.name, &p.id, "变更", &said.join("；"), ""],
            )?;
        }
    }
    if !any {
        r += 1;
        ws.write_string(r, 0, "本期各单位登记簿与上期相比没有人员变动。")?;
    }
    widths.apply(ws)?;
    ws.set_freeze_panes(1, 0)?;
    Ok((widths, r))
}
