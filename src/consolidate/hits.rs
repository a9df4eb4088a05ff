//! 比对疑点 (`[consolidation.hits]`): every row of each unit's latest ledger of
//! the period — accepted, or sent back because of them — that a rule of the
//! family (`lists.`: checks against other agencies' lists) fired on, with what
//! the rule said, the list it was checked against (依据), and 涉及金额 per unit
//! and for the county. Below, which lists (and months) the county had: a list
//! not on file was not compared, and the sheet says so.

use super::print::Widths;
use super::{stored_row, ConsolidateError, Stored, Styles};
use crate::journal::stored::slot_text;
use crate::journal::{Journal, Outcome};
use crate::rules::{Hits, Kind};
use crate::standing::Standing;
use crate::workbook::excel_text;
use rust_xlsxwriter::Worksheet;

/// The lists of the county a ledger of `period` is compared with: each county
/// reference's kind with the months on file ("死亡人员名单（2026-10、2026-11）"),
/// or that none was (said "未收到").
pub fn lists_used(
    journal: &Journal,
    kind: &Kind,
    period: &str,
) -> Result<Vec<(String, Option<String>)>, ConsolidateError> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for r in kind.references.iter().filter(|r| r.county) {
        if out.iter().any(|(k, _)| *k == r.kind_name) {
            continue;
        }
        let subs = crate::standing::applying(
            journal,
            crate::rules::COUNTY_LISTS,
            &r.kind,
            &r.bound(period),
            r.every(),
        )?;
        let months: Vec<String> = subs.iter().filter_map(|s| s.period.clone()).collect();
        out.push((
            r.kind_name.clone(),
            (!months.is_empty()).then(|| months.join("、")),
        ));
    }
    Ok(out)
}

/// Writes the sheet.
pub(super) fn write(
    ws: &mut Worksheet,
    journal: &Journal,
    kind: &Kind,
    hits: &Hits,
    standing: &Standing<'_>,
    st: &Styles,
) -> Result<Widths, ConsolidateError> {
    let keys: Vec<&str> = kind.columns.iter().map(|c| c.key.as_str()).collect();
    let mut heads: Vec<String> = vec!["乡镇代码".into(), "乡镇名称".into()];
    heads.extend(hits.columns.iter().map(|i| kind.columns[*i].header.clone()));
    heads.extend([
        "疑点".to_string(),
        "依据".into(),
        "报送文件".into(),
        "原表行号".into(),
    ]);
    let amount_col = hits
        .columns
        .iter()
        .position(|c| *c == hits.amount)
        .map(|k| 2 + k as u16);
    let mut widths = super::write_heads(ws, &heads, st)?;
    let said_col = 2 + hits.columns.len() as u16;
    let mut r: u32 = 0;
    let mut county_total = 0.0;
    let mut units_with = 0usize;
    for u in &standing.units {
        let Some(sub) = u
            .latest
            .as_ref()
            .filter(|s| matches!(s.outcome, Some(Outcome::Accepted | Outcome::Rejected)))
        else {
            continue;
        };
        let rows = journal.hit_rows(sub.id, &hits.rules)?;
        if rows.is_empty() {
            continue;
        }
        units_with += 1;
        let used = sub.references();
        let mut unit_total = 0.0;
        for (row, fired, data) in rows {
            let cells = stored_row(&data, &keys)?;
            r += 1;
            let put = |ws: &mut Worksheet, widths: &mut Widths, c: u16, t: &str| {
                super::put_text(ws, widths, st, r, c, t)
            };
            put(ws, &mut widths, 0, &u.unit.code)?;
            put(ws, &mut widths, 1, &u.unit.name)?;
            for (k, c) in hits.columns.iter().enumerate() {
                let col = 2 + k as u16;
                match cells.get(*c) {
                    Some(Some(Stored::Num(x))) if *c == hits.amount => {
                        unit_total += x;
                        widths.see(col, &super::thousands(*x));
                        ws.write_number_with_format(r, col, *x, &st.money)?;
                    }
                    _ => put(ws, &mut widths, col, &excel_text(&slot_text(&cells, *c)))?,
                }
            }
            let said: Vec<&str> = fired.iter().map(|(_, m)| m.as_str()).collect();
            put(ws, &mut widths, said_col, &excel_text(&said.join("；")))?;
            // The lists the rules that fired read, with the months the ledger was
            // checked against.
            let mut basis: Vec<String> = Vec::new();
            for (rule, _) in &fired {
                for b in basis_of(kind, rule, used) {
                    if !basis.contains(&b) {
                        basis.push(b);
                    }
                }
            }
            put(ws, &mut widths, said_col + 1, &basis.join("；"))?;
            put(ws, &mut widths, said_col + 2, &sub.original_name)?;
            ws.write_number_with_format(r, said_col + 3, f64::from(row), &st.cell)?;
        }
        r += 1;
        ws.write_string_with_format(r, 0, &u.unit.code, &st.header)?;
        ws.write_string_with_format(r, 1, format!("{} 涉及金额小计", u.unit.name), &st.header)?;
        if let Some(c) = amount_col {
            ws.write_number_with_format(r, c, unit_total, &st.money)?;
        }
        county_total += unit_total;
    }
    let note = if r == 0 {
        ws.write_string(1, 0, "本期各单位的台账中，未发现与部门比对名单不符的人员。")?;
        3
    } else {
        r += 1;
        ws.write_string_with_format(
            r,
            1,
            format!("全县涉及金额合计（{units_with} 个单位）"),
            &st.header,
        )?;
        if let Some(c) = amount_col {
            ws.write_number_with_format(r, c, county_total, &st.money)?;
        }
        r + 2
    };
    let lists: Vec<String> = lists_used(journal, kind, &standing.period)?
        .into_iter()
        .map(|(k, months)| match months {
            Some(m) => format!("{k}（{m}）"),
            None => format!("{k}（未收到，未比对）"),
        })
        .collect();
    ws.write_string(note, 0, format!("比对名单：{}", lists.join("；")))?;
    ws.set_freeze_panes(1, 0)?;
    widths.apply(ws)?;
    Ok(widths)
}

/// The county lists a rule reads, as the ledger was checked against them:
/// `死亡人员名单（2026-10、2026-11）`.
fn basis_of(kind: &Kind, rule: &str, used: &[crate::validate::ReferenceUsed]) -> Vec<String> {
    let Some(rr) = kind.row_rules.iter().find(|r| r.id == rule) else {
        return Vec::new();
    };
    let mut refs: Vec<usize> = rr
        .ref_reads
        .iter()
        .filter_map(|v| kind.ref_vars.get(*v).map(|v| v.reference))
        .collect();
    refs.sort_unstable();
    refs.dedup();
    refs.into_iter()
        .filter_map(|i| kind.references.get(i))
        .filter(|r| r.county)
        .map(|r| {
            let months = used
                .iter()
                .find(|u| u.name == r.name)
                .and_then(|u| u.periods.clone())
                .unwrap_or_default();
            format!("{}（{months}）", r.kind_name)
        })
        .collect()
}
