//! The register's rules on real workbook files through the real binary: every
//! rule fires on the cell it should, and clean rows get nothing.

use crate::common;
use chrono::NaiveDate;
use common::*;
use taizhang::checks::cn_id::with_check_char;
use taizhang::samples::{Register, Val, CATEGORIES, LEVELS};

fn text(reg: &Register, i: usize, key: &str) -> String {
    match reg.rows[i].get(key) {
        Some(Val::Text(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Rewrites row i's certificate to match its current ID, category and level.
fn fix_cert(reg: &mut Register, i: usize) {
    let cat = CATEGORIES
        .iter()
        .position(|c| *c == text(reg, i, "category"))
        .unwrap()
        + 1;
    let lvl = LEVELS
        .iter()
        .position(|c| *c == text(reg, i, "level"))
        .unwrap()
        + 1;
    let cert = format!("{}{cat}{lvl}", text(reg, i, "id_number"));
    reg.set(i, "cert_number", Val::Text(cert));
}

fn birth_of(reg: &Register, i: usize) -> NaiveDate {
    taizhang::checks::cn_id::birth_date(&text(reg, i, "id_number")).unwrap()
}

#[test]
fn clean_register_has_no_findings() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let reg = register(&rules, "柳河镇", 60, 1);
    let path = dir.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&path).unwrap();
    let (code, json, stderr) = validate_json(&[], &[&path]);
    let f = &json["files"][0];
    assert_eq!(cell_rules(f), vec![], "{json:#}\n{stderr}");
    assert_eq!(code, 0);
    assert_eq!(f["unit"], "柳河镇");
    assert_eq!(f["period"], "2026-11");
    assert_eq!(f["kind"], "残疾人信息登记簿");
    assert_eq!(f["rows"], 60);
    assert_eq!(f["errors"], 0);
    assert!(f["fatal"].is_null());
}

/// A 40-row register with one defect per rule, and the (cell, rule) each must give.
fn defects(rules: &taizhang::rules::RuleSet) -> (Register, Vec<(String, &'static str)>) {
    let mut reg = register(rules, "石桥镇", 40, 7);
    // Make rows 30.. adults with neither subsidy quirks nor guardian needs, as controls.
    let mut want: Vec<(String, &str)> = Vec::new();
    let mut expect = |reg: &Register, i: usize, key: &str, rule: &'static str| {
        want.push((reg.cell(i, key), rule))
    };

    // 0: check digit wrong (certificate kept consistent with the wrong ID).
    let id = text(&reg, 0, "id_number");
    let bad_last = if id.ends_with('1') { '2' } else { '1' };
    reg.set(
        0,
        "id_number",
        Val::Text(format!("{}{bad_last}", &id[..17])),
    );
    fix_cert(&mut reg, 0);
    expect(&reg, 0, "id_number", "id_number.cn_id.checksum");
    // 1: ID stored as a number.
    reg.set(1, "id_number", Val::Num(4.1990119850312e17));
    expect(&reg, 1, "id_number", "id_number.cn_id.number");
    // 2: old 15-digit ID.
    reg.set(2, "id_number", Val::text("419901850312001"));
    expect(&reg, 2, "id_number", "id_number.cn_id.old15");
    // 3: gender contradicts the ID.
    let g = if text(&reg, 3, "gender") == "男" {
        "女"
    } else {
        "男"
    };
    reg.set(3, "gender", Val::text(g));
    expect(&reg, 3, "gender", "gender_matches_id");
    // 4: birth date contradicts the ID.
    let b = birth_of(&reg, 4).succ_opt().unwrap();
    reg.set(4, "birth_date", Val::Date(b));
    expect(&reg, 4, "birth_date", "birth_matches_id");
    // 5: certificate too short.
    let c = text(&reg, 5, "cert_number");
    reg.set(5, "cert_number", Val::Text(c[..19].to_string()));
    expect(
        &reg,
        5,
        "cert_number",
        "cert_number.cn_disability_cert.length",
    );
    // 6: certificate category digit wrong.
    let mut c = text(&reg, 6, "cert_number");
    let d = if c.as_bytes()[18] == b'1' { '2' } else { '1' };
    c.replace_range(18..19, &d.to_string());
    reg.set(6, "cert_number", Val::Text(c));
    expect(
        &reg,
        6,
        "cert_number",
        "cert_number.cn_disability_cert.category",
    );
    // 7: category not in the list.
    reg.set(7, "category", Val::text("肢体障碍"));
    expect(&reg, 7, "category", "category.enum");
    // 8: level not in the list.
    reg.set(8, "level", Val::text("5级"));
    expect(&reg, 8, "level", "level.enum");
    // 9: a village of another township.
    reg.set(9, "village", Val::text("建设路社区"));
    expect(&reg, 9, "village", "village.lookup");
    // 10: invalid phone; 11: local number without area code (warning).
    reg.set(10, "phone", Val::text("1381234567"));
    expect(&reg, 10, "phone", "phone.cn_phone.invalid");
    reg.set(11, "phone", Val::text("6543210"));
    expect(&reg, 11, "phone", "phone.cn_phone.no_area_code");
    // 12: intellectual disability without guardian.
    reg.set(12, "category", Val::text("智力"))
        .set(12, "level", Val::text("四级"))
        .set(12, "guardian", Val::Blank)
        .set(12, "nursing_subsidy", Val::Blank);
    fix_cert(&mut reg, 12);
    expect(&reg, 12, "guardian", "guardian_required");
    // 13: living subsidy without 低保; 14: living subsidy not the standard.
    reg.set(13, "low_income", Val::text("否"))
        .set(13, "living_subsidy", Val::Num(80.0));
    expect(
        &reg,
        13,
        "living_subsidy",
        "living_subsidy_needs_low_income",
    );
    reg.set(14, "low_income", Val::text("是"))
        .set(14, "living_subsidy", Val::Num(100.0));
    expect(&reg, 14, "living_subsidy", "living_subsidy_standard");
    // 15: nursing subsidy for an ineligible level; 16: not the standard.
    reg.set(15, "category", Val::text("肢体"))
        .set(15, "level", Val::text("四级"))
        .set(15, "nursing_subsidy", Val::Num(100.0));
    fix_cert(&mut reg, 15);
    expect(&reg, 15, "nursing_subsidy", "nursing_subsidy_eligibility");
    reg.set(16, "category", Val::text("肢体"))
        .set(16, "level", Val::text("一级"))
        .set(16, "nursing_subsidy", Val::Num(80.0));
    fix_cert(&mut reg, 16);
    expect(&reg, 16, "nursing_subsidy", "nursing_subsidy_standard");
    // 17: certificate issued before birth; 18: issued after the period.
    let before = birth_of(&reg, 17).pred_opt().unwrap();
    reg.set(17, "issue_date", Val::Date(before));
    expect(&reg, 17, "issue_date", "issue_date_after_birth");
    reg.set(
        18,
        "issue_date",
        Val::Date(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()),
    );
    expect(&reg, 18, "issue_date", "issue_date_not_future");
    // 19: name missing.
    reg.set(19, "name", Val::Blank);
    expect(&reg, 19, "name", "name.required");
    // 20/21: the same person twice.
    let dup = reg.rows[20].clone();
    reg.rows[21] = dup;
    reg.set(21, "seq", Val::Num(22.0));
    expect(&reg, 21, "id_number", "id_number.unique_file");
    expect(&reg, 21, "cert_number", "cert_number.unique_file");
    // 22: unreadable date; 23: amount that is not a number; 24: negative amount.
    reg.set(22, "birth_date", Val::text("1985.13.45"));
    expect(&reg, 22, "birth_date", "birth_date.type_date");
    reg.set(23, "living_subsidy", Val::text("八十"));
    expect(&reg, 23, "living_subsidy", "living_subsidy.type_money");
    reg.set(24, "nursing_subsidy", Val::Num(-5.0));
    expect(&reg, 24, "nursing_subsidy", "nursing_subsidy.min");
    // 25: 序号 not a number; 26: gender not 男/女.
    reg.set(25, "seq", Val::text("abc"));
    expect(&reg, 25, "seq", "seq.type_integer");
    reg.set(26, "gender", Val::text("M"));
    expect(&reg, 26, "gender", "gender.enum");
    // 27: ID of 17 characters; 28: impossible birth date in the ID; 29: letters in the ID.
    let id = text(&reg, 27, "id_number");
    reg.set(27, "id_number", Val::Text(id[..17].to_string()));
    expect(&reg, 27, "id_number", "id_number.cn_id.length");
    reg.set(
        28,
        "id_number",
        Val::Text(with_check_char("41990119851345001")),
    );
    expect(&reg, 28, "id_number", "id_number.cn_id.birth");
    reg.set(29, "id_number", Val::text("4199011985031200AX"));
    expect(&reg, 29, "id_number", "id_number.cn_id.chars");
    // 30: a minor without guardian.
    let kid = with_check_char("41990120150601001");
    reg.set(30, "id_number", Val::Text(kid)).set(
        30,
        "birth_date",
        Val::Date(NaiveDate::from_ymd_opt(2015, 6, 1).unwrap()),
    );
    reg.set(30, "gender", Val::text("男"))
        .set(30, "category", Val::text("肢体"))
        .set(30, "level", Val::text("四级"));
    reg.set(30, "guardian", Val::Blank)
        .set(30, "nursing_subsidy", Val::Blank)
        .set(
            30,
            "issue_date",
            Val::Date(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()),
        );
    fix_cert(&mut reg, 30);
    expect(&reg, 30, "guardian", "guardian_required");
    // 31: certificate level digit wrong; 32: certificate of another person.
    let mut c = text(&reg, 31, "cert_number");
    let d = if c.as_bytes()[19] == b'1' { '2' } else { '1' };
    c.replace_range(19..20, &d.to_string());
    reg.set(31, "cert_number", Val::Text(c));
    expect(
        &reg,
        31,
        "cert_number",
        "cert_number.cn_disability_cert.level",
    );
    let other = text(&reg, 33, "cert_number");
    reg.set(32, "cert_number", Val::Text(other.clone()));
    expect(
        &reg,
        32,
        "cert_number",
        "cert_number.cn_disability_cert.id_mismatch",
    );
    expect(&reg, 33, "cert_number", "cert_number.unique_file");
    // 汇总: 肢体·一级 three too many (row 6 of the sheet, column B) — more than the
    // two uncounted rows below could explain — and every total that includes it
    // stays right, so exactly one cell is wrong.
    let n = reg.count(Some("肢体"), Some("一级"));
    reg.summary_override
        .push(((3, 0), Val::Num((n + 3) as f64)));
    want.push(("B6".into(), "summary_counts"));
    // Two rows cannot be counted (category 肢体障碍 in row 7, an unreadable level in
    // another 肢体 row): left out of the comparison, so the township's totals that
    // include them (肢体·合计, 合计·四级, 合计·合计) differ, and each message says why.
    for cell in ["F6", "E10", "F10"] {
        want.push((cell.into(), "summary_counts"));
    }
    (reg, want)
}

#[test]
fn every_register_rule_fires_on_its_cell() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let (reg, want) = defects(&rules);
    let path = dir.path().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&path).unwrap();
    let (code, json, stderr) = validate_json(&[], &[&path]);
    let f = &json["files"][0];
    let mut want: Vec<(String, String)> =
        want.into_iter().map(|(c, r)| (c, r.to_string())).collect();
    want.sort();
    let got = cell_rules(f);
    let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
    let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}\n{stderr}"
    );
    assert_eq!(code, 1);
    // The 汇总 cells the two uncounted rows explain are warnings (unverifiable),
    // B6 (wrong beyond them) an error.
    let mut unverifiable = 0;
    for x in f["findings"].as_array().unwrap() {
        if x["rule"] == "summary_counts" && x["cell"] != "B6" {
            assert!(
                x["message"]
                    .as_str()
                    .unwrap()
                    .contains("另有 2 行的残疾类别或残疾等级空缺或无法识别，未计入"),
                "{x}"
            );
            assert_eq!(x["severity"], "warning", "{x}");
            unverifiable += 1;
        } else if x["rule"] == "summary_counts" {
            assert_eq!(x["severity"], "error", "{x}");
        }
    }
    assert!(unverifiable > 0);
    assert_eq!(
        f["warnings"],
        1 + unverifiable,
        "the local phone number and the unverifiable 汇总 cells are warnings"
    );
    assert_eq!(f["errors"], want.len() - 1 - unverifiable);

    // Findings carry the exact place and a message with the expected value.
    let find = |rule: &str| {
        f["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["rule"] == rule)
            .unwrap()
            .clone()
    };
    let checksum = find("id_number.cn_id.checksum");
    assert_eq!(checksum["sheet"], "残疾人信息");
    assert_eq!(checksum["row"], 4);
    assert_eq!(checksum["column"], "F");
    assert_eq!(checksum["header"], "身份证号");
    assert_eq!(checksum["severity"], "error");
    let right = with_check_char(&text(&reg, 0, "id_number")[..17]);
    assert!(
        checksum["message"]
            .as_str()
            .unwrap()
            .contains(&format!("末位应为「{}」", &right[17..])),
        "{checksum}"
    );
    let number = find("id_number.cn_id.number");
    assert_eq!(number["value"], "419901198503120000");
    assert!(number["message"]
        .as_str()
        .unwrap()
        .contains("15 位有效数字"));
    let summary = find("summary_counts");
    assert_eq!(summary["sheet"], "汇总");
    assert!(
        summary["message"].as_str().unwrap().contains(&format!(
            "但明细表中有 {} 人，请按明细更正",
            reg.count(Some("肢体"), Some("一级"))
        )),
        "{summary}"
    );
}

/// Row rules are evaluated natively where they can be (`rules::native`); `cel` is
/// the reference. On a file where every rule fires, both give the same findings,
/// to the byte.
#[test]
fn native_rule_evaluation_gives_the_findings_cel_gives() {
    use taizhang::validate::{validate_path, Options};
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let (mut reg, _) = defects(&rules);
    // More rows whose row rules hold, to compare passes as well as failures.
    let clean = register(&rules, "石桥镇", 400, 8);
    reg.rows.extend(clean.rows.into_iter().skip(40));
    let path = dir.path().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&path).unwrap();
    let native = validate_path(&rules, &path, &Options::default());
    let reference = validate_path(
        &rules,
        &path,
        &Options {
            reference_cel: true,
            ..Options::default()
        },
    );
    assert!(native.fatal.is_none(), "{:?}", native.fatal);
    let row_rule_findings = native
        .findings
        .iter()
        .filter(|f| !f.rule.contains('.') && f.rule != "summary_counts")
        .count();
    assert_eq!(row_rule_findings, 10, "every row rule fired where expected");
    assert_eq!(
        serde_json::to_string_pretty(&native.findings).unwrap(),
        serde_json::to_string_pretty(&reference.findings).unwrap()
    );
}

#[test]
fn many_files_report_in_the_order_given_whatever_their_sizes() {
    // Files are validated on all cores, each finishing when its size says; the
    // reports (and the exit code, and annotated copies) follow the command line.
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let units = ["柳河镇", "石桥镇", "清泉镇", "城关镇"];
    let sizes = [3usize, 400, 60, 1];
    let mut paths = Vec::new();
    for (k, (unit, n)) in units.iter().zip(sizes).enumerate() {
        let p = dir
            .path()
            .join(format!("{unit}_残疾人信息登记簿_2026-11.xlsx"));
        register(&rules, unit, n, 70 + k as u64).write(&p).unwrap();
        paths.push(p);
    }
    let garbage = dir
        .path()
        .join("东城街道办事处_残疾人信息登记簿_2026-11.xlsx");
    std::fs::write(&garbage, b"PK\x03\x04 not really a workbook").unwrap();
    paths.insert(2, garbage);
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let (code, json, stderr) = validate_json(&[], &refs);
    assert_eq!(code, 2, "{stderr}");
    let files = json["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["file"].as_str().unwrap()).collect();
    let expected: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, expected);
    let rows: Vec<u64> = files.iter().map(|f| f["rows"].as_u64().unwrap()).collect();
    assert_eq!(rows, [3, 400, 0, 60, 1]);
    assert!(files[2]["fatal"].is_string());
    for k in [0, 1, 3, 4] {
        assert!(files[k]["fatal"].is_null(), "{}", files[k]);
        assert_eq!(files[k]["errors"], 0, "{}", files[k]);
    }
}
