//! Persons over time (the register's history), on the shipped rules: a death or
//! a move reported with 人员状态 and 变动日期, a person dropped from the register
//! without a word, a dead person back on it, payments after the change, a
//! payments ledger checked against last month's register, and the county's
//! 本期变动.

use crate::common;
use chrono::NaiveDate;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use taizhang::samples::{payments, people, Person, Register, Val};

fn persons(n: usize) -> Vec<Person> {
    let rules = rules();
    let code = rules.county.unit("柳河镇").unwrap().code.clone();
    people(&code, &rules.villages_of("柳河镇"), n, 26)
}

/// The register of `persons` with the two columns of persons over time.
fn with_status(persons: &[Person]) -> Register {
    let mut r = Register::new("柳河镇", persons);
    r.columns.push(("status".into(), "人员状态".into()));
    r.columns.push(("change_date".into(), "变动日期".into()));
    r
}

/// Person `i` reported as `status` on `date`, no longer paid.
fn changed(r: &mut Register, i: usize, status: &str, date: (i32, u32, u32)) {
    let d = NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
    r.set(i, "status", Val::text(status));
    r.set(i, "change_date", Val::Date(d));
    r.set(i, "living_subsidy", Val::Blank);
    r.set(i, "nursing_subsidy", Val::Blank);
}

fn renumber(r: &mut Register) {
    for (k, row) in r.rows.iter_mut().enumerate() {
        row.insert("seq".into(), Val::Num((k + 1) as f64));
    }
}

fn write(r: &Register, dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    r.write(&p).unwrap();
    p
}

fn report<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == name)
        .unwrap_or_else(|| panic!("no {name} in {json:#}"))
}

fn rules_of(file: &Value) -> Vec<String> {
    file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

fn text(v: &Val) -> String {
    match v {
        Val::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deaths_and_moves_are_reported_on_the_register_and_compared_with_last_month() {
    let dir = tempfile::tempdir().unwrap();
    let ps = persons(12);
    // Who dies: someone paid a subsidy (December's payments would pay them).
    let paid: Vec<usize> = (0..ps.len())
        .filter(|&i| ps[i].living > 0.0 || ps[i].nursing > 0.0)
        .collect();
    assert!(paid.len() >= 2, "{paid:?}");
    let rest: Vec<usize> = (0..ps.len())
        .filter(|i| *i != paid[0] && *i != paid[1])
        .collect();
    // The dead, the dead written 去世, the moved, the one who changed village,
    // the one dropped, and three for the row rules (the first one paid).
    let (d1, d2, mv, vil, drop_i) = (paid[0], rest[0], rest[1], rest[2], rest[3]);
    let (s7, s8, s9) = (paid[1], rest[4], rest[5]);
    let oct = Register::new("柳河镇", &ps);
    let oct_path = write(&oct, dir.path(), "柳河镇_残疾人信息登记簿_2026-10.xlsx");

    // November: one death, one death written as a variant (去世), one move; a
    // person who changed village; a new person.
    let mut nov = with_status(&ps);
    changed(&mut nov, d1, "死亡", (2026, 11, 15));
    changed(&mut nov, d2, "去世", (2026, 11, 20));
    changed(&mut nov, mv, "迁出", (2026, 11, 3));
    let villages = rules().villages_of("柳河镇");
    let moved_to = villages
        .iter()
        .find(|v| Val::text(v.as_str()) != nov.rows[vil]["village"])
        .unwrap()
        .clone();
    let moved_from = text(&nov.rows[vil]["village"]);
    nov.set(vil, "village", Val::text(&moved_to));
    let newcomer = persons(13).pop().unwrap();
    nov.rows.push(
        Register::new("柳河镇", std::slice::from_ref(&newcomer))
            .rows
            .remove(0),
    );
    renumber(&mut nov);
    let nov_path = write(&nov, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");

    let (code, json, err) = validate_json(&[], &[&oct_path, &nov_path]);
    let nov_report = report(&json, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    assert_eq!(nov_report["errors"], 0, "{nov_report:#} {err}");
    assert_eq!(code, 0, "{err}");
    // The variant is read as 死亡, with a warning on its cell; 汇总 counts only
    // the persons 在册 (the sample's 汇总 does), so it agrees.
    let alias = finding_at(nov_report, &nov.cell(d2, "status"));
    assert_eq!(alias["rule"], "status.enum_alias", "{alias}");
    assert!(!rules_of(nov_report)
        .iter()
        .any(|r| r.starts_with("summary")));
    assert!(!rules_of(nov_report)
        .iter()
        .any(|r| r.starts_with("history.")));

    // Dropping a person instead: a file-level error naming them and the month.
    let mut dropped = nov.clone();
    let gone = dropped.rows.remove(drop_i);
    renumber(&mut dropped);
    let dropped_path = write(
        &dropped,
        dir.path(),
        "柳河镇_残疾人信息登记簿_2026-11_删人.xlsx",
    );
    let (_, json, _) = validate_json(&[], &[&oct_path, &dropped_path]);
    let f = report(&json, "柳河镇_残疾人信息登记簿_2026-11_删人.xlsx");
    let hit: Vec<&Value> = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == "history.dropped")
        .collect();
    assert_eq!(hit.len(), 1, "{f:#}");
    assert_eq!(hit[0]["cell"], Value::Null);
    assert_eq!(hit[0]["value"], text(&gone["id_number"]));
    assert_eq!(hit[0]["severity"], "error");
    let message = hit[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "上期（2026-10）登记在册的「{}」（身份证号 {}）不在本期登记簿中",
            text(&gone["name"]),
            text(&gone["id_number"])
        )),
        "{message}"
    );

    // The row rules of the two columns.
    let mut slips = nov.clone();
    slips.set(s7, "status", Val::text("注销")); // no date, still paid
    slips.set(
        s8,
        "change_date",
        Val::Date(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()),
    ); // 在册
    changed(&mut slips, s9, "迁出", (2026, 12, 2)); // after the period
    let slips_path = write(
        &slips,
        dir.path(),
        "柳河镇_残疾人信息登记簿_2026-11_填错.xlsx",
    );
    let (_, json, _) = validate_json(&[], &[&oct_path, &slips_path]);
    let f = report(&json, "柳河镇_残疾人信息登记簿_2026-11_填错.xlsx");
    assert_eq!(
        finding_at(f, &slips.cell(s7, "change_date"))["rule"],
        "status_needs_date"
    );
    let no_pay: Vec<String> = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["cell"] == slips.cell(s7, "status").as_str())
        .map(|x| x["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(
        no_pay.contains(&"no_subsidy_when_not_on_register".to_string()),
        "{no_pay:?}"
    );
    assert_eq!(
        finding_at(f, &slips.cell(s8, "change_date"))["rule"],
        "date_needs_status"
    );
    assert_eq!(
        finding_at(f, &slips.cell(s9, "change_date"))["rule"],
        "change_date_not_future"
    );

    // The daemon: October, then November, accepted; 本期变动 in the county workbook.
    let site = Site::new();
    site.drop_in(&oct, "柳河镇_残疾人信息登记簿_2026-10.xlsx");
    site.run_once_ok();
    site.drop_in(&nov, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    site.run_once_ok();
    let wb = site.county_workbook();
    let got: Value = serde_json::from_str(&python(
        r#"
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb['本期变动']
print(json.dumps({"sheets": wb.sheetnames,
  "rows": [[c for c in r] for r in ws.iter_rows(values_only=True)],
  "stats": [[c for c in r] for r in wb['分乡镇统计'].iter_rows(values_only=True)]},
  ensure_ascii=False, default=str))
"#,
        &[&wb],
    ))
    .unwrap();
    assert_eq!(got["sheets"][0], "分乡镇统计");
    assert_eq!(got["sheets"][1], "本期变动");
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(
        rows[0],
        serde_json::json!([
            "乡镇代码",
            "乡镇名称",
            "比对的上期",
            "新增",
            "减少（死亡）",
            "减少（迁出）",
            "减少（注销）",
            "变更"
        ])
    );
    let liuhe = rows.iter().find(|r| r[1] == "柳河镇").unwrap();
    assert_eq!(
        liuhe,
        &serde_json::json!(["419901102", "柳河镇", "2026-10", 1, 2, 1, 0, 1])
    );
    let others = rows.iter().find(|r| r[1] == "石桥镇").unwrap();
    assert_eq!(others[2], "本期无已通过的登记簿");
    let line = |name: &str| -> Vec<Value> {
        rows.iter()
            .find(|r| r[1] == name && r[0] == "柳河镇")
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_else(|| panic!("no line for {name}: {rows:#?}"))
    };
    let dead = line(&ps[d1].name);
    assert_eq!(
        (&dead[2], &dead[3], &dead[5]),
        (
            &Value::from(ps[d1].id.clone()),
            &Value::from("减少（死亡）"),
            &Value::from("2026-11-15")
        )
    );
    assert_eq!(line(&ps[d2].name)[3], "减少（死亡）");
    assert_eq!(line(&ps[mv].name)[3], "减少（迁出）");
    assert_eq!(line(&newcomer.name)[3], "新增");
    let village = line(&ps[vil].name);
    assert_eq!(village[3], "变更");
    assert_eq!(
        village[4],
        format!("所属村（社区）：{moved_from} → {moved_to}")
    );
    // 分乡镇统计 counts the persons 在册: 13 rows, 3 of them off the register.
    let stats = got["stats"].as_array().unwrap();
    let liuhe = stats.iter().find(|r| r[1] == "柳河镇").unwrap();
    assert_eq!(liuhe[2], 10, "{liuhe}");

    // `inspect --state` says which previous register November's is compared with.
    let out = bin()
        .arg("inspect")
        .arg("--rules")
        .arg(rules_dir())
        .arg("--state")
        .arg(site.state())
        .arg(&nov_path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("比对的上期：残疾人信息登记簿「柳河镇_残疾人信息登记簿_2026-10.xlsx」（2026-10，第 1 号报送）"),
        "{said}"
    );

    // Payments: November's pays the person who died on 15 November (the month
    // of death is paid); December's, checked before December's register came,
    // says it used November's and must not pay the dead.
    let state = site.state();
    let pay_nov = payments("柳河镇", &ps, "2026-11");
    let pay_nov_path = write(&pay_nov, dir.path(), "柳河镇_两项补贴发放台账_2026-11.xlsx");
    let (_, json, _) = validate_json(&["--state", state.to_str().unwrap()], &[&pay_nov_path]);
    let f = &json["files"][0];
    assert!(
        !rules_of(f).contains(&"register.status".to_string()),
        "{f:#}"
    );
    let pay_dec = payments("柳河镇", &ps, "2026-12");
    let pay_dec_path = write(&pay_dec, dir.path(), "柳河镇_两项补贴发放台账_2026-12.xlsx");
    let (_, json, _) = validate_json(&["--state", state.to_str().unwrap()], &[&pay_dec_path]);
    let f = &json["files"][0];
    let older = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "register.older_period")
        .unwrap_or_else(|| panic!("{f:#}"));
    assert_eq!(older["severity"], "warning");
    assert!(
        older["message"]
            .as_str()
            .unwrap()
            .contains("本表暂按 2026-11 的残疾人信息登记簿核对"),
        "{older}"
    );
    {
        let i = pay_dec
            .rows
            .iter()
            .position(|r| r["id_number"] == Val::text(&ps[d1].id))
            .expect("the dead person is paid in the sample");
        let hit = finding_at(f, &pay_dec.cell(i, "id_number"));
        assert_eq!(hit["rule"], "register.status", "{hit}");
        assert!(
            hit["message"]
                .as_str()
                .unwrap()
                .contains("在登记簿中为死亡（2026-11-15），2026-12 不应再发放"),
            "{hit}"
        );
    }

    // December's register with the dead person 在册 again: an error on its status.
    let mut dec = nov.clone();
    dec.set(d1, "status", Val::Blank);
    dec.set(d1, "change_date", Val::Blank);
    let dec_path = write(&dec, dir.path(), "柳河镇_残疾人信息登记簿_2026-12.xlsx");
    let (_, json, _) = validate_json(&["--state", state.to_str().unwrap()], &[&dec_path]);
    let f = &json["files"][0];
    let revived = finding_at(f, &dec.cell(d1, "status"));
    assert_eq!(revived["rule"], "history.revived", "{f:#}");
    assert!(revived["message"]
        .as_str()
        .unwrap()
        .contains("上期登记簿中为「死亡」"));
}
