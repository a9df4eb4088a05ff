//! Demo submissions: a clean register and one with typical mistakes, so a fresh
//! clone can show the whole flow without any real data.

use crate::rules::RuleSet;
use crate::samples::{people, Register, Val};
use std::path::{Path, PathBuf};

/// Writes two sample registers for `period` into `dir`: 柳河镇 (clean) and 石桥镇
/// (with errors a clerk typically makes). Returns the paths written.
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
        let mut reg = Register::new(unit, &people(&code, &villages, 120, seed));
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
        let path = dir.join(format!("{unit}_残疾人信息登记簿_{period}.xlsx"));
        crate::fsutil::replace_durable(&path, |tmp| reg.write(tmp).map_err(std::io::Error::other))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}
