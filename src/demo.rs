//! Demo submissions: a clean register and one with typical mistakes, each with
//! its unit's payments ledger, so a fresh clone can show the whole flow without
//! any real data.

use crate::rules::RuleSet;
use crate::samples::{payments, people, Register, Val};
use chrono::Datelike;
use std::path::{Path, PathBuf};

/// Writes two sample registers for `period` into `dir`, 柳河镇 (clean, one person
/// died this month: 人员状态 and 变动日期) and 石桥镇 (with errors a clerk typically
/// makes, and a person dropped without a word), each unit's register of the month
/// before (what this month's is compared with: 本期变动), and each unit's payments
/// ledger (柳河镇's clean but one eligible person left unpaid; 石桥镇's with typical
/// mistakes). Returns the paths written.
pub fn write_demo(rules: &RuleSet, dir: &Path, period: &str) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for (unit, seed, broken) in [("柳河镇", 11u64, false), ("石桥镇", 12, true)] {
        let code = rules
            .county
            .unit(unit)
            .map(|u| u.code.clone())
            .unwrap_or_default();
        let villages = rules.villages_of(unit);
        let persons = people(&code, &villages, 120, seed);
        let mut reg = Register::new(unit, &persons);
        reg.template_rows = 5;
        // Filled in on the period's last day, so the 填报日期 agrees with the file name.
        if let Some(end) = crate::workbook::value::period_end(period) {
            reg.date_text = end.format("%Y年%-m月%-d日").to_string();
        }
        if broken {
            // An ID typed into a General cell, a wrong check digit, a wrong village,
            // a subsidy without 低保, a missing guardian, a 汇总 miscount.
            reg.set(3, "id_number", Val::Num(4.1990119850312e17));
            if let Some(Val::Text(id)) = reg.rows[7].get("id_number").cloned() {
                let last = if id.ends_with('1') { '2' } else { '1' };
                reg.set(7, "id_number", Val::Text(format!("{}{last}", &id[..17])));
            }
            reg.set(12, "village", Val::text("幸福社区"));
            reg.set(20, "low_income", Val::text("否"))
                .set(20, "living_subsidy", Val::Num(80.0));
            reg.set(25, "phone", Val::text("6543210"));
            let n = reg.count(Some("视力"), Some("一级"));
            reg.summary_override
                .push(((0, 0), Val::Num((n + 2) as f64)));
        }
        // Last month's register, as it was accepted: what this month's is
        // compared with (本期变动).
        let prev = crate::workbook::value::period_start(period)
            .and_then(|d| d.pred_opt())
            .map(|d| {
                (
                    d.format("%Y-%m").to_string(),
                    d.format("%Y年%-m月%-d日").to_string(),
                )
            });
        if let Some((prev, prev_end)) = prev {
            let mut before = Register::new(unit, &persons);
            before.template_rows = 5;
            before.date_text = prev_end;
            let path = dir.join(format!("{unit}_残疾人信息登记簿_{prev}.xlsx"));
            crate::fsutil::replace_durable(&path, |tmp| {
                before.write(tmp).map_err(std::io::Error::other)
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
            out.push(path);
        }
        if broken {
            // A person dropped without a word (a decrease must keep the row).
            reg.rows.remove(60);
            for (k, r) in reg.rows.iter_mut().enumerate() {
                r.insert("seq".into(), Val::Num((k + 1) as f64));
            }
        } else {
            // One person who was paid died on the 10th: kept on the register with
            // 人员状态 and 变动日期, paid no more from next month.
            reg.columns.push(("status".into(), "人员状态".into()));
            reg.columns.push(("change_date".into(), "变动日期".into()));
            let died = persons.iter().position(|p| p.nursing > 0.0);
            let day = crate::workbook::value::period_start(period).and_then(|d| d.with_day(10));
            if let (Some(i), Some(day)) = (died, day) {
                reg.set(i, "status", Val::text("死亡"))
                    .set(i, "change_date", Val::Date(day))
                    .set(i, "living_subsidy", Val::Blank)
                    .set(i, "nursing_subsidy", Val::Blank);
            }
        }
        let path = dir.join(format!("{unit}_残疾人信息登记簿_{period}.xlsx"));
        crate::fsutil::replace_durable(&path, |tmp| reg.write(tmp).map_err(std::io::Error::other))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(path);

        let mut pay = payments(unit, &persons, period);
        if broken {
            // A card number typed into a General cell, 生活补贴 paid at the wrong
            // amount, one row entered twice, last month's payment in this month's ledger.
            pay.set(2, "card_number", Val::Num(6.228_480_012_345_678e18));
            if let Some(i) = pay
                .rows
                .iter()
                .position(|r| r.get("subsidy_type") == Some(&Val::text("生活补贴")))
            {
                pay.set(i, "amount", Val::Num(100.0));
            }
            let again = pay.rows[5].clone();
            pay.rows.insert(6, again);
            if let Some(prev) = crate::workbook::value::period_end(period)
                .and_then(|d| d.with_day(1))
                .and_then(|d| d.pred_opt())
            {
                pay.set(9, "pay_month", Val::text(prev.format("%Y-%m").to_string()));
            }
        } else if let Some(i) = pay
            .rows
            .iter()
            .position(|r| r.get("subsidy_type") == Some(&Val::text("护理补贴")))
        {
            // Eligible, and not paid this month: 应发未发 in the county workbook.
            pay.rows.remove(i);
        }
        for (k, r) in pay.rows.iter_mut().enumerate() {
            r.insert("seq".into(), Val::Num((k + 1) as f64));
        }
        pay.after_rows = vec![pay.payments_total(0.0)];
        let path = dir.join(format!("{unit}_两项补贴发放台账_{period}.xlsx"));
        crate::fsutil::replace_durable(&path, |tmp| pay.write(tmp).map_err(std::io::Error::other))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}
