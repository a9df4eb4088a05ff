//! 应发未发 (`[[consolidation.owed]]`): the persons on a unit's accepted ledger
//! of a referenced kind (its register) for whom an `owed` rule holds (eligible
//! for a subsidy) and who have no row with that value (no payment of it) in the
//! unit's accepted ledger of this kind for the period — what an audit asks first.
//! Units without an accepted ledger of this kind are not listed (their standing
//! is in 报送情况); the sheet says so.

use super::print::Widths;
use super::{stored_row, ConsolidateError, Stored, Styles};
use crate::journal::stored::slot_text;
use crate::journal::Journal;
use crate::rules::cel::{bind_file_globals, cel_root};
use crate::rules::native::{Scope, V};
use crate::rules::{ColumnType, Consolidation, Kind, RuleSet, Split};
use crate::standing::Standing;
use crate::workbook::excel_text;
use cel::Value;
use rust_xlsxwriter::Worksheet;
use std::collections::{HashMap, HashSet};

/// What each unit was paid: `person key` + `\u{1}` + split value, per unit code.
#[derive(Default)]
pub(super) struct Paid(HashMap<String, HashSet<String>>);

impl Paid {
    pub(super) fn add(
        &mut self,
        unit_code: &str,
        cons: &Consolidation,
        sp: &Split,
        cells: &[Option<Stored<'_>>],
    ) {
        let key = format!(
            "{}\u{1}{}",
            slot_text(cells, cons.person_key),
            slot_text(cells, sp.by)
        );
        self.0.entry(unit_code.to_string()).or_default().insert(key);
    }

    fn has(&self, unit_code: &str, person: &str, value: &str) -> bool {
        self.0
            .get(unit_code)
            .is_some_and(|s| s.contains(&format!("{person}\u{1}{value}")))
    }
}

/// Writes the sheet.
#[allow(clippy::too_many_arguments)]
pub(super) fn write(
    ws: &mut Worksheet,
    rules: &RuleSet,
    journal: &Journal,
    kind: &Kind,
    cons: &Consolidation,
    standing: &Standing<'_>,
    paid: &Paid,
    st: &Styles,
) -> Result<Widths, ConsolidateError> {
    // One reference today (the register); the columns shown are its person key and
    // name, then every column an `owed` rule reads.
    let Some(first) = cons.owed.first() else {
        return Ok(Widths::new(Vec::new()));
    };
    let reference = &kind.references[first.reference];
    let Some(other) = rules.kind(&reference.kind) else {
        return Ok(Widths::new(Vec::new()));
    };
    let okeys: Vec<&str> = other.columns.iter().map(|c| c.key.as_str()).collect();
    let pos = |key: &str| okeys.iter().position(|k| *k == key);
    let mut shown: Vec<usize> = Vec::new();
    let name_col = other
        .consolidation
        .as_ref()
        .and_then(|c| c.person_name)
        .or_else(|| pos("name"));
    shown.extend(name_col);
    shown.extend(pos(&reference.on));
    for (c, _) in &reference.columns {
        if let Some(i) = pos(c) {
            if !shown.contains(&i) {
                shown.push(i);
            }
        }
    }
    let mut heads: Vec<String> = vec!["乡镇代码".into(), "乡镇名称".into()];
    heads.extend(shown.iter().map(|i| other.columns[*i].header.clone()));
    heads.push(format!(
        "应发{}",
        kind.columns[cons.split.as_ref().map_or(0, |s| s.by)].header
    ));
    let with_amount = cons.owed.iter().any(|o| o.amount.is_some());
    if with_amount {
        heads.push("应发金额（元/月）".into());
    }
    heads.push(format!("{}文件", other.name));
    heads.push("原表行号".into());
    let mut widths = super::write_heads(ws, &heads, st)?;
    let root = cel_root(&rules.env, &rules.standards_value, &rules.county);
    let mut r: u32 = 0;
    let mut left_out: Vec<String> = Vec::new();
    let mut no_reference: Vec<String> = Vec::new();
    for u in &standing.units {
        if u.counting.is_none() {
            left_out.push(u.unit.name.clone());
            continue;
        }
        let Some(reg) = journal.latest_accepted(
            &u.unit.name,
            &reference.kind,
            &reference.bound(&standing.period),
        )?
        else {
            no_reference.push(u.unit.name.clone());
            continue;
        };
        let period_end = crate::workbook::value::period_end(&standing.period)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let mut file_scope = root.new_inner_scope();
        bind_file_globals(&mut file_scope, &u.unit.name, &standing.period);
        let scope = Scope {
            unit: &u.unit.name,
            period: &standing.period,
            period_end: &period_end,
        };
        // Each rule's columns, by position in the reference's columns.
        let ref_pos: Vec<Option<usize>> = reference.columns.iter().map(|(c, _)| pos(c)).collect();
        journal.for_each_record(reg.id, |row, data| -> Result<(), ConsolidateError> {
            let cells = stored_row(data, &okeys)?;
            let text = |i: usize| slot_text(&cells, i).into_owned();
            let Some(person) = pos(&reference.on).map(text).filter(|p| !p.is_empty()) else {
                return Ok(());
            };
            for o in cons.owed.iter().filter(|o| o.reference == first.reference) {
                if paid.has(&u.unit.code, &person, &o.value) {
                    continue;
                }
                let on_row = OnRow {
                    reference,
                    ref_pos: &ref_pos,
                    cells: &cells,
                    scope: &scope,
                    file_scope: &file_scope,
                };
                let holds = on_row.eval(&o.when, o.native.as_ref(), o.native_calls);
                match holds {
                    Some(Value::Bool(true)) => {}
                    Some(Value::Bool(false)) => continue,
                    other => {
                        tracing::warn!(owed = %o.value, result = ?other, "应发未发 rule could not be evaluated");
                        continue;
                    }
                }
                r += 1;
                let put = |ws: &mut Worksheet, widths: &mut Widths, c: u16, t: &str| {
                    super::put_text(ws, widths, st, r, c, t)
                };
                put(ws, &mut widths, 0, &u.unit.code)?;
                put(ws, &mut widths, 1, &u.unit.name)?;
                for (k, c) in shown.iter().enumerate() {
                    put(ws, &mut widths, 2 + k as u16, &excel_text(&text(*c)))?;
                }
                let mut c = 2 + shown.len() as u16;
                put(ws, &mut widths, c, &o.value)?;
                c += 1;
                if with_amount {
                    let amount = o.amount.as_ref().and_then(|a| {
                        match on_row.eval(&a.program, a.native.as_ref(), a.native_calls) {
                            Some(Value::Float(x)) => Some(x),
                            Some(Value::Int(x)) => Some(x as f64),
                            Some(Value::UInt(x)) => Some(x as f64),
                            _ => None,
                        }
                    });
                    match amount {
                        Some(x) => {
                            widths.see(c, &super::thousands(x));
                            ws.write_number_with_format(r, c, x, &st.money)?;
                        }
                        None => put(ws, &mut widths, c, "（无标准）")?,
                    }
                    c += 1;
                }
                put(ws, &mut widths, c, &reg.original_name)?;
                ws.write_number_with_format(r, c + 1, f64::from(row), &st.cell)?;
            }
            Ok(())
        })?;
    }
    let mut note = r + 2;
    if r == 0 {
        ws.write_string(1, 0, "本期已报送发放台账的单位中，未发现应发未发的人员。")?;
        note = 3;
    }
    if !left_out.is_empty() {
        ws.write_string(
            note,
            0,
            format!(
                "未列入：{}（本期尚无已通过的{}，见「报送情况」）",
                left_out.join("、"),
                kind.name
            ),
        )?;
        note += 1;
    }
    if !no_reference.is_empty() {
        ws.write_string(
            note,
            0,
            format!(
                "未能核对：{}（本期或之前尚无已通过的{}）",
                no_reference.join("、"),
                other.name
            ),
        )?;
    }
    ws.set_freeze_panes(1, 0)?;
    if r > 0 {
        ws.autofilter(0, 0, r, (heads.len() - 1) as u16)?;
    }
    widths.apply(ws)?;
    Ok(widths)
}

/// One referenced row, as an `owed` rule's expressions read it.
struct OnRow<'a, 'c> {
    reference: &'a crate::rules::Reference,
    ref_pos: &'a [Option<usize>],
    cells: &'a [Option<Stored<'a>>],
    scope: &'a Scope<'a>,
    file_scope: &'a cel::Context<'c, 'c>,
}

impl OnRow<'_, '_> {
    /// An expression over the row (see [`crate::rules::cel::eval_over_row`]).
    fn eval(
        &self,
        program: &cel::Program,
        native: Option<&crate::rules::native::Expr>,
        native_calls: usize,
    ) -> Option<Value> {
        let value = |k: usize| -> V<'_> {
            let ty = self.reference.columns[k].1;
            match self.ref_pos[k].and_then(|i| self.cells.get(i)) {
                Some(Some(Stored::Num(x))) => match ty {
                    ColumnType::Integer if x.fract() == 0.0 => V::Int(*x as i64),
                    _ => V::Float(*x),
                },
                Some(Some(Stored::Text(t))) => V::Str(t.as_ref()),
                _ => crate::rules::cel::typed_text(ty, ""),
            }
        };
        crate::rules::cel::eval_over_row(
            program,
            native,
            native_calls,
            self.reference,
            &value,
            self.scope,
            self.file_scope,
        )
    }
}
