//! Persons and amounts per value of a column, per unit (`[consolidation]
//! split_by`): 分乡镇发放统计 of the payments ledger — for each subsidy type the
//! persons paid and the amount, a 合计 per unit, and a county 合计 row.

use super::{num_cell, text_cell, Stored, Styles};
use crate::rules::{Kind, Split};
use crate::standing::UnitStanding;
use rust_xlsxwriter::{Worksheet, XlsxError};
use std::collections::BTreeMap;

/// One unit's rows: per value of the split column (its position in the column's
/// values), the rows and the sum of the amount.
#[derive(Default, Clone)]
pub(super) struct Tally {
    pub(super) per: Vec<(u64, f64)>,
    /// Rows whose value is none of the column's (cannot be in an accepted file).
    pub(super) other: (u64, f64),
}

impl Tally {
    pub(super) fn add(&mut self, kind: &Kind, sp: &Split, cells: &[Option<Stored<'_>>]) {
        let values = &kind.columns[sp.by].values;
        if self.per.len() < values.len() {
            self.per.resize(values.len(), (0, 0.0));
        }
        let amount = match cells.get(sp.amount) {
            Some(Some(Stored::Num(x))) => *x,
            _ => 0.0,
        };
        let slot = match cells.get(sp.by) {
            Some(Some(Stored::Text(t))) => values.iter().position(|v| v == t.as_ref()),
            _ => None,
        };
        let cell = match slot {
            Some(i) => &mut self.per[i],
            None => &mut self.other,
        };
        cell.0 += 1;
        cell.1 += amount;
    }

    fn total(&self) -> (u64, f64) {
        self.per
            .iter()
            .chain(std::iter::once(&self.other))
            .fold((0, 0.0), |(n, a), (m, b)| (n + m, a + b))
    }
}

/// Writes the sheet: two header rows (each value over 人数 and 金额（元）, then
/// 合计), one row per unit in the county's order (units without an accepted
/// ledger show zeros), a county 合计 row.
pub(super) fn write(
    ws: &mut Worksheet,
    kind: &Kind,
    sp: &Split,
    status: &[UnitStanding<'_>],
    tallies: &BTreeMap<String, Tally>,
    st: &Styles,
) -> Result<(super::print::Widths, u32), XlsxError> {
    let values = &kind.columns[sp.by].values;
    ws.merge_range(0, 0, 1, 0, "乡镇代码", &st.header)?;
    ws.merge_range(0, 1, 1, 1, "乡镇名称", &st.header)?;
    let mut col: u16 = 2;
    for v in values.iter().map(String::as_str).chain(["合计"]) {
        ws.merge_range(0, col, 0, col + 1, v, &st.header)?;
        ws.write_string_with_format(1, col, "人数", &st.header)?;
        ws.write_string_with_format(1, col + 1, "金额（元）", &st.header)?;
        col += 2;
    }
    let empty = Tally::default();
    let mut county = Tally {
        per: vec![(0, 0.0); values.len()],
        other: (0, 0.0),
    };
    for t in tallies.values() {
        for (k, (n, a)) in t.per.iter().enumerate() {
            county.per[k].0 += n;
            county.per[k].1 += a;
        }
        county.other.0 += t.other.0;
        county.other.1 += t.other.1;
    }
    // Amount columns as wide as the county's total shows.
    let widest = super::thousands(county.total().1).len() as f64 + 3.0;
    let mut widths = vec![11.0, 16.0];
    for _ in 0..=values.len() {
        widths.extend([8.0, widest.max(13.0)]);
    }
    let widths = super::print::Widths::new(widths);
    widths.apply(ws)?;
    ws.set_row_height(0, 24)?;
    let write_row = |ws: &mut Worksheet,
                     r: u32,
                     code: &str,
                     name: &str,
                     t: &Tally,
                     total: bool|
     -> Result<(), XlsxError> {
        let (text_fmt, money) = if total {
            (Some(&st.total), &st.total_money)
        } else {
            (Some(&st.cell), &st.money)
        };
        text_cell(ws, r, 0, code, text_fmt)?;
        text_cell(ws, r, 1, name, text_fmt)?;
        let mut c: u16 = 2;
        let cells = (0..values.len())
            .map(|k| t.per.get(k).copied().unwrap_or((0, 0.0)))
            .chain(std::iter::once(t.total()));
        for (n, a) in cells {
            num_cell(ws, r, c, n as f64, text_fmt)?;
            ws.write_number_with_format(r, c + 1, a, money)?;
            c += 2;
        }
        Ok(())
    };
    let mut r: u32 = 2;
    for s in status {
        let t = if s.counting.is_some() {
            tallies.get(&s.unit.code).unwrap_or(&empty)
        } else {
            &empty
        };
        write_row(ws, r, &s.unit.code, &s.unit.name, t, false)?;
        r += 1;
    }
    write_row(ws, r, "", "合计", &county, true)?;
    ws.set_freeze_panes(2, 2)?;
    Ok((widths, r))
}
