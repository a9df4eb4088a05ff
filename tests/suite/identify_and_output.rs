//! Unit and period identification, file-level findings, and the two output formats.

use crate::common;
use common::*;
use taizhang::samples::Val;

fn write(
    reg: &taizhang::samples::Register,
    dir: &std::path::Path,
    name: &str,
) -> std::path::PathBuf {
    let p = dir.join(name);
    reg.write(&p).unwrap();
    p
}

#[test]
fn unit_and_period_from_the_title_lines() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let mut reg = register(&rules, "柳河镇", 10, 8);
    reg.date_text = "2026年10月31日".into();
    let p = write(&reg, dir.path(), "残疾人信息登记簿.xlsx");
    let (code, json, _) = validate_json(&[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(
        (code, f["unit"].as_str(), f["period"].as_str()),
        (0, Some("柳河镇"), Some("2026-10")),
        "{json:#}"
    );
    assert_eq!(cell_rules(f), vec![]);
}

#[test]
fn short_unit_names_in_file_names_are_understood() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let mut reg = register(&rules, "东城街道办事处", 10, 8);
    reg.title = false;
    let p = write(&reg, dir.path(), "东城街道_登记簿_2026-09.xlsx");
    let (_, json, _) = validate_json(&[], &[&p]);
    assert_eq!(json["files"][0]["unit"], "东城街道办事处");
    assert_eq!(json["files"][0]["period"], "2026-09");
}

#[test]
fn contradictory_unit_is_an_error() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let reg = register(&rules, "石桥镇", 10, 8);
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let (code, json, _) = validate_json(&[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 1);
    assert!(f["unit"].is_null());
    let finding = &f["findings"][0];
    assert_eq!(finding["rule"], "file.unit_conflict");
    assert!(finding["cell"].is_null() && finding["row"].is_null());
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("文件名：柳河镇；表内填报单位：石桥镇"),
        "{finding}"
    );
}

#[test]
fn unknown_unit_is_an_error_and_villages_are_checked_county_wide() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let mut reg = register(&rules, "石桥镇", 10, 8);
    reg.title = false;
    reg.set(4, "village", Val::text("不存在村"));
    let p = write(&reg, dir.path(), "登记簿_2026-11.xlsx");
    let (code, json, _) = validate_json(&[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 1);
    let got = cell_rules(f);
    assert_eq!(
        got,
        vec![
            ("-".to_string(), "file.unit_unknown".to_string()),
            (reg.cell(4, "village"), "village.lookup".to_string())
        ]
    );
    assert_eq!(
        (f["errors"].as_u64(), f["warnings"].as_u64()),
        (Some(2), Some(0))
    );
    // --unit settles it, and --period wins over the file name.
    let (_, json, _) = validate_json(&["--unit", "石桥镇", "--period", "2026-12"], &[&p]);
    let f = &json["files"][0];
    assert_eq!(
        (f["unit"].as_str(), f["period"].as_str()),
        (Some("石桥镇"), Some("2026-12"))
    );
    assert_eq!(
        cell_rules(f),
        vec![(reg.cell(4, "village"), "village.lookup".to_string())]
    );
}

#[test]
fn unknown_unit_on_the_command_line_is_refused() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let p = write(&register(&rules, "石桥镇", 3, 8), dir.path(), "x.xlsx");
    let (code, json, _) = validate_json(&["--unit", "火星镇"], &[&p]);
    assert_eq!(code, 2);
    assert_eq!(
        json["files"][0]["fatal"],
        "未知的填报单位「火星镇」（不在乡镇名单中）"
    );
}

#[test]
fn missing_required_column_and_empty_sheet() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let mut reg = register(&rules, "白沙镇", 5, 8);
    reg.columns.retain(|(k, _)| k != "cert_number");
    let p = write(&reg, dir.path(), "白沙镇_登记簿_2026-11.xlsx");
    let (code, json, _) = validate_json(&[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 1);
    assert_eq!(
        cell_rules(f),
        vec![("-".to_string(), "file.missing_column".to_string())]
    );
    assert_eq!(f["findings"][0]["row"], 3, "points at the header row");
    assert_eq!(
        f["findings"][0]["message"],
        "表头中缺少必填列「残疾人证号」，请按模板补上该列"
    );

    let mut empty = register(&rules, "白沙镇", 0, 8);
    empty.template_rows = 20;
    empty.date_text = "2026年10月31日".into();
    let p = write(&empty, dir.path(), "白沙镇_登记簿_2026-10.xlsx");
    let (code, json, _) = validate_json(&[], &[&p]);
    assert_eq!(code, 1);
    assert_eq!(
        cell_rules(&json["files"][0]),
        vec![("-".to_string(), "file.no_rows".to_string())]
    );
    assert_eq!(json["files"][0]["rows"], 0);
}

#[test]
fn the_same_person_in_two_units_is_told_to_both() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let a = register(&rules, "柳河镇", 10, 1);
    let mut b = register(&rules, "清泉镇", 10, 2);
    // Row 6 of 清泉镇 is the same person as row 2 of 柳河镇 (village aside).
    let mut moved = a.rows[2].clone();
    moved.insert("village".into(), b.rows[6]["village"].clone());
    b.rows[6] = moved;
    let pa = write(&a, dir.path(), "柳河镇_登记簿_2026-11.xlsx");
    let pb = write(&b, dir.path(), "清泉镇_登记簿_2026-11.xlsx");
    let (code, json, _) = validate_json(&[], &[&pa, &pb]);
    assert_eq!(code, 0, "a cross-unit duplicate is a warning: {json:#}");
    assert_eq!(
        cell_rules(&json["files"][0]),
        vec![(
            a.cell(2, "id_number"),
            "id_number.unique_county".to_string()
        )]
    );
    assert_eq!(
        cell_rules(&json["files"][1]),
        vec![(
            b.cell(6, "id_number"),
            "id_number.unique_county".to_string()
        )]
    );
    let msg = json["files"][0]["findings"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("清泉镇") && msg.contains(&format!("第 {} 行", b.sheet_row(6) + 1)),
        "{msg}"
    );
}

#[test]
fn json_has_exactly_the_documented_fields() {
    let p = root().join("tests/fixtures/石桥镇_登记簿_2026-11.xlsx");
    let (_, json, _) = validate_json(&[], &[&p]);
    let file = json["files"][0].as_object().unwrap();
    let mut keys: Vec<&str> = file.keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "errors",
            "fatal",
            "file",
            "findings",
            "kind",
            "kind_id",
            "layout",
            "period",
            "references",
            "rows",
            "unit",
            "unit_code",
            "warnings"
        ]
    );
    // A register is compared with its unit's previous one (none here) and with
    // the county's lists (none on file: `county`, no `periods`).
    assert_eq!(
        json["files"][0]["references"],
        serde_json::json!([
            {"name": "history", "kind": "register", "kind_name": "残疾人信息登记簿", "previous": true},
            {"name": "deaths", "kind": "deaths", "kind_name": "死亡人员名单", "county": true},
            {"name": "dibao", "kind": "dibao", "kind_name": "低保对象名单", "county": true}
        ])
    );
    let f = json["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "id_number.cn_id.checksum")
        .unwrap();
    for k in [
        "sheet", "cell", "row", "column", "header", "value", "severity", "rule", "message",
    ] {
        assert!(f.get(k).is_some(), "finding lacks {k}: {f}");
    }
    assert_eq!(
        (f["cell"].as_str(), f["row"].as_u64(), f["column"].as_str()),
        (Some("F6"), Some(6), Some("F"))
    );
    assert_eq!(json["files"][0]["unit_code"], "419901103");
}

#[test]
fn text_output_is_a_chinese_table_grouped_by_sheet() {
    let p = root().join("tests/fixtures/石桥镇_登记簿_2026-11.xlsx");
    let out = bin()
        .args(["validate", "--rules"])
        .arg(rules_dir())
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("单位：石桥镇"), "{text}");
    assert!(
        text.contains("错误：3") && text.contains("结论：退回"),
        "{text}"
    );
    let detail = text.find("工作表「残疾人信息」").unwrap();
    let summary = text.find("工作表「汇总」").unwrap();
    assert!(detail < summary, "the detail sheet comes first:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("F6") && l.contains("校验位错误")),
        "{text}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = bin()
        .args(["validate", "--period", "2026/11", "x.xlsx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM"));
    let out = bin().args(["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["validate", "--rules", "/nonexistent", "x.xlsx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Validation reads no clock: the month received is the caller's. A file that
/// names no month is placed in the month the caller says it was received, and
/// without one it cannot be placed (said in words, nothing checked).
#[test]
fn the_month_received_comes_from_the_caller_not_a_clock() {
    use taizhang::validate::{validate_path, Options};
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let mut reg = register(&rules, "柳河镇", 5, 3);
    reg.date_text = String::new();
    let p = dir.path().join("柳河镇_残疾人信息登记簿.xlsx");
    reg.write(&p).unwrap();
    let given = validate_path(
        &rules,
        &p,
        &Options {
            fallback_period: Some("2026-09".into()),
            ..Options::default()
        },
    );
    assert_eq!(
        given.period.as_deref(),
        Some("2026-09"),
        "{:?}",
        given.fatal
    );
    let none = validate_path(&rules, &p, &Options::default());
    assert_eq!(none.period, None);
    assert!(
        none.fatal
            .as_deref()
            .is_some_and(|f| f.starts_with("无法确定期间")),
        "{:?}",
        none.fatal
    );
}
