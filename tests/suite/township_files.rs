//! Files the way township clerks really name and fill them: the month without a
//! year, the unit written anywhere, the wrong extension, several sheets, 合计 and
//! footer rows, values written another way, impossible birth dates, a file sent
//! twice. Each case runs through `validate` (exact outcome, period, unit, sheet and
//! findings) and, where the daemon decides more, through `run --once` and its notices.

use crate::common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use taizhang::samples::{Register, Val};

/// `taizhang validate --format json` as if run at `now`.
fn validate_at(now: &str, args: &[&str], files: &[&Path]) -> (i32, Value) {
    let mut cmd = bin();
    cmd.env("TAIZHANG_NOW", now)
        .arg("validate")
        .arg("--rules")
        .arg(rules_dir())
        .arg("--format")
        .arg("json")
        .args(args);
    for f in files {
        cmd.arg(f);
    }
    let out = cmd.output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

const DEC1: &str = "2026-12-01T10:00:00+08:00";

fn write(reg: &Register, dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    reg.write(&p).unwrap();
    p
}

fn rules_of(f: &Value) -> Vec<String> {
    let mut v: Vec<String> = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn finding<'a>(f: &'a Value, rule: &str) -> &'a Value {
    f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} in {f:#}"))
}

/// A register without the 填报日期 (nor any period in its sheet).
fn undated(unit: &str, n: usize, seed: u64) -> Register {
    let mut reg = register(&rules(), unit, n, seed);
    reg.date_text = String::new();
    reg
}

#[test]
fn a_month_without_a_year_is_the_latest_such_month_before_the_file_came() {
    let dir = tempfile::tempdir().unwrap();
    let reg = undated("柳河镇", 6, 1);
    for (i, name) in [
        "柳河镇_残疾人信息登记簿_11月.xlsx",
        "柳河镇_残疾人信息登记簿_十一月.xlsx",
        "柳河镇_残疾人信息登记簿_26年11月.xlsx",
        "柳河镇_残疾人信息登记簿_2026.11.xlsx",
        "柳河镇_残疾人信息登记簿_202611.xlsx",
        "柳河镇_残疾人信息登记簿_2026年11月.xlsx",
        "柳河镇残疾人信息登记簿（2026年11月）.xlsx",
        "柳河镇11月份残疾人信息登记簿.xlsx",
    ]
    .iter()
    .enumerate()
    {
        let sub = dir.path().join(i.to_string());
        std::fs::create_dir_all(&sub).unwrap();
        let p = write(&reg, &sub, name);
        let (code, json) = validate_at(DEC1, &[], &[&p]);
        let f = &json["files"][0];
        assert_eq!(code, 0, "{name}: {f:#}");
        assert_eq!(f["period"], "2026-11", "{name}");
        assert_eq!(f["layout"]["period_source"], "FileName", "{name}");
        assert_eq!(f["findings"], serde_json::json!([]), "{name}");
    }
    // In January, 十二月 is last December.
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_十二月.xlsx");
    let (_, json) = validate_at("2027-01-05T09:00:00+08:00", &[], &[&p]);
    assert_eq!(json["files"][0]["period"], "2026-12");
}

#[test]
fn a_period_from_the_month_received_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &undated("柳河镇", 6, 1),
        dir.path(),
        "柳河镇_残疾人信息登记簿.xlsx",
    );
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 0, "a warning: {f:#}");
    assert_eq!(f["period"], "2026-12");
    assert_eq!(f["layout"]["period_source"], "Received");
    assert_eq!(rules_of(f), ["file.period_guessed"]);
    assert_eq!(
        finding(f, "file.period_guessed")["message"],
        "期间按收到月份推定为 2026-12；如不对，请在文件名中写明月份（如“柳河镇_残疾人信息登记簿_2026-11.xlsx”）"
    );
}

#[test]
fn file_name_and_report_date_that_disagree_are_both_named() {
    let dir = tempfile::tempdir().unwrap();
    let reg = register(&rules(), "柳河镇", 6, 1); // 填报日期：2026年11月30日
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-12.xlsx");
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 0);
    assert_eq!(f["period"], "2026-12");
    assert_eq!(rules_of(f), ["file.period_mismatch"]);
    assert_eq!(
        finding(f, "file.period_mismatch")["message"],
        "文件名中的月份 2026-12 与表内填报日期「2026年11月30日」（2026-11）不一致，已按 2026-12 处理，请核对"
    );
    // The demo's own files agree with themselves.
    let demo = dir.path().join("demo");
    let out = bin()
        .args(["demo", "--rules"])
        .arg(rules_dir())
        .arg("--dir")
        .arg(&demo)
        .args(["--period", "2026-10"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let p = demo.join("柳河镇_残疾人信息登记簿_2026-10.xlsx");
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    assert_eq!(
        (code, &json["files"][0]["findings"]),
        (0, &serde_json::json!([]))
    );
}

#[test]
fn the_month_received_is_the_daemons_and_the_notice_says_the_guess() {
    let site = Site::new();
    site.drop_in(
        &undated("柳河镇", 6, 1),
        "柳河镇_残疾人信息登记簿_11月.xlsx",
    );
    site.drop_in(&undated("石桥镇", 6, 2), "石桥镇_残疾人信息登记簿.xlsx");
    site.run_once_at(DEC1);
    let status = site.status();
    let periods: Vec<&str> = status["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert!(
        periods.contains(&"2026-11") && periods.contains(&"2026-12"),
        "{status:#}"
    );
    let mails = mails(&site);
    let liuhe = mails
        .iter()
        .find(|m| m.0 == "cl-liuhe@anhe.example.gov.cn")
        .unwrap();
    assert!(liuhe.1.contains("柳河镇 2026-11"), "{}", liuhe.1);
    let shiqiao = mails
        .iter()
        .find(|m| m.0 == "cl-shiqiao@anhe.example.gov.cn")
        .unwrap();
    assert!(shiqiao.1.contains("石桥镇 2026-12"), "{}", shiqiao.1);
    assert!(
        shiqiao
            .2
            .contains("期间按收到月份推定为 2026-12；如不对，请在文件名中写明月份"),
        "{}",
        shiqiao.2
    );
}

#[test]
fn the_unit_is_found_where_clerks_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    // No 填报单位 line, no title: the unit is somewhere in the file name.
    let mut bare = register(&rules, "柳河镇", 5, 3);
    bare.unit_line = Some(String::new());
    bare.title_line = Some(String::new());
    for (i, name) in [
        "柳河镇残疾人信息登记簿2026年11月.xlsx",
        "2026年11月柳河镇残疾人信息登记簿.xlsx",
        "附件1：柳河镇残疾人信息登记簿2026-11.xlsx",
        "柳河残疾人信息登记簿_2026-11.xlsx",
    ]
    .iter()
    .enumerate()
    {
        let sub = dir.path().join(format!("n{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let p = write(&bare, &sub, name);
        let (code, json) = validate_at(DEC1, &[], &[&p]);
        let f = &json["files"][0];
        assert_eq!(
            (code, f["unit"].as_str()),
            (0, Some("柳河镇")),
            "{name}: {f:#}"
        );
        assert_eq!(f["unit_code"], "419901102");
    }
    // The 填报单位 value as written, or only the title row, in a file named for no unit.
    for (i, (title, line)) in [
        ("", "填报单位：柳河镇人民政府"),
        ("", "填报单位（盖章）：柳河镇残联"),
        ("安和县柳河镇残疾人信息登记簿", ""),
    ]
    .iter()
    .enumerate()
    {
        let mut reg = register(&rules, "柳河镇", 5, 3);
        reg.title_line = Some(title.to_string());
        reg.unit_line = Some(line.to_string());
        let sub = dir.path().join(format!("t{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let p = write(&reg, &sub, "残疾人信息登记簿_2026-11.xlsx");
        let (code, json) = validate_at(DEC1, &[], &[&p]);
        let f = &json["files"][0];
        assert_eq!(
            (code, f["unit"].as_str()),
            (0, Some("柳河镇")),
            "{line}{title}: {f:#}"
        );
    }
    // Two different units named is a conflict, wherever they are.
    let mut reg = register(&rules, "柳河镇", 5, 3);
    reg.title_line = Some("安和县石桥镇残疾人信息登记簿".into());
    let p = write(&reg, dir.path(), "残疾人信息登记簿_2026-11.xlsx");
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 1);
    assert_eq!(f["unit"], Value::Null);
    assert_eq!(
        finding(f, "file.unit_conflict")["message"],
        "填报单位前后不一致（表内填报单位：柳河镇；表格标题：石桥镇），请核对后重新报送"
    );
}

#[test]
fn no_unit_is_one_verdict_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = register(&rules(), "柳河镇", 5, 3);
    reg.title = false;
    let p = write(&reg, dir.path(), "登记簿_2026-11.xlsx");
    let out = bin()
        .env("TAIZHANG_NOW", DEC1)
        .args(["validate", "--rules"])
        .arg(rules_dir())
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("结论：隔离（无法确定填报单位，报送后由县残联确认）"),
        "{text}"
    );
    assert!(text.contains("工作表：残疾人信息"), "{text}");
    let (_, json) = validate_at(DEC1, &[], &[&p]);
    assert_eq!(rules_of(&json["files"][0]), ["file.unit_unknown"]);
    assert_eq!(json["files"][0]["errors"], 1);
}

#[test]
fn a_quarantined_file_is_told_to_every_unit_it_points_at() {
    let site = Site::new();
    let mut reg = register(&rules(), "柳河镇", 5, 3);
    reg.unit_line = Some("填报单位：石桥镇".into());
    reg.title_line = Some(String::new());
    let p = site.drop_in(&reg, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let bytes = std::fs::read(&p).unwrap();
    site.run_once_ok();
    let got = mails(&site);
    let to: Vec<&str> = got.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        to,
        [
            "admin@anhe.example.gov.cn",
            "cl-liuhe@anhe.example.gov.cn",
            "cl-shiqiao@anhe.example.gov.cn"
        ]
    );
    for m in &got[1..] {
        assert!(m.1.contains("报送的文件暂未处理"), "{}", m.1);
        assert!(
            m.2.contains("填报单位前后不一致：文件名为柳河镇，表内填报单位为石桥镇"),
            "{}",
            m.2
        );
    }
    // The admin's copy carries the file as it came.
    let dir = site.outbox().join("mail");
    let admin = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .find(|raw| {
            let m = mail_parser::MessageParser::default().parse(raw).unwrap();
            m.to().unwrap().first().unwrap().address() == Some("admin@anhe.example.gov.cn")
        })
        .unwrap();
    let m = mail_parser::MessageParser::default().parse(&admin).unwrap();
    assert_eq!(m.attachment_count(), 1);
    assert_eq!(m.attachment(0).unwrap().contents(), bytes.as_slice());
}

#[test]
fn the_format_is_read_from_the_bytes_and_a_wrong_extension_is_said() {
    let fixtures = root().join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    for (src, named, format) in [
        (
            "石桥镇_登记簿_2026-11.xls",
            "石桥镇_登记簿_2026-11.xlsx",
            "xls",
        ),
        (
            "石桥镇_登记簿_2026-11.ods",
            "石桥镇_登记簿_2026-11.xls",
            "ods",
        ),
        (
            "石桥镇_登记簿_2026-11.xlsx",
            "石桥镇_登记簿_2026-11.ods",
            "xlsx",
        ),
        (
            "石桥镇_登记簿_2026-11.xlsx",
            "石桥镇_登记簿_2026-11.pdf",
            "xlsx",
        ),
    ] {
        let (_, right) = validate_at(DEC1, &[], &[&fixtures.join(src)]);
        let wrong = dir.path().join(named);
        std::fs::copy(fixtures.join(src), &wrong).unwrap();
        let (code, json) = validate_at(DEC1, &[], &[&wrong]);
        let f = &json["files"][0];
        assert_eq!(code, 1, "{named}: {f:#}");
        assert_eq!(f["fatal"], Value::Null);
        assert_eq!(f["layout"]["format"], format);
        let mut expected = cell_rules(&right["files"][0]);
        expected.push(("-".into(), "file.wrong_extension".into()));
        expected.sort();
        assert_eq!(cell_rules(f), expected, "{named}");
        let ext = Path::new(named).extension().unwrap().to_string_lossy();
        assert_eq!(
            finding(f, "file.wrong_extension")["message"],
            format!("文件扩展名为「.{ext}」，但文件内容是 {format} 格式，已按 {format} 读取。请在 Excel 或 WPS 中“另存为”正确的格式后再报送")
        );
    }
}

#[test]
fn of_several_monthly_sheets_the_one_of_the_period_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let mut oct = register(&rules, "柳河镇", 4, 7);
    oct.sheet_name = "10月".into();
    oct.date_text = "2026年10月31日".into();
    oct.set(1, "id_number", Val::text("123")); // would be an error, were it checked
    oct.summary = false;
    let mut nov = register(&rules, "柳河镇", 6, 8);
    nov.sheet_name = "11月".into();
    let p = dir.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    Register::write_book(&[&nov, &oct], &p).unwrap();
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 0, "{f:#}");
    assert_eq!(f["rows"], 6);
    assert_eq!(f["layout"]["sheet"], "11月");
    assert_eq!(f["layout"]["other_sheets"], serde_json::json!(["10月"]));
    assert_eq!(rules_of(f), ["file.other_sheets"]);
    assert_eq!(
        finding(f, "file.other_sheets")["message"],
        "本文件有多张台账工作表，已按期间 2026-11 校验「11月」，未校验的工作表：「10月」。一个文件只报送一个单位、一个月份的台账，请删去其他工作表"
    );
    // Named for October, the same file is October's.
    let p10 = dir.path().join("柳河镇_残疾人信息登记簿_2026-10.xlsx");
    std::fs::copy(&p, &p10).unwrap();
    let (code, json) = validate_at(DEC1, &[], &[&p10]);
    assert_eq!(code, 1);
    assert_eq!(json["files"][0]["layout"]["sheet"], "10月");
    assert_eq!(json["files"][0]["rows"], 4);
    // Named for no month of them: refused, naming the sheets.
    let p9 = dir.path().join("柳河镇_残疾人信息登记簿_2026-09.xlsx");
    std::fs::copy(&p, &p9).unwrap();
    let (code, json) = validate_at(DEC1, &[], &[&p9]);
    let f = &json["files"][0];
    assert_eq!(code, 1);
    assert_eq!(f["rows"], 0);
    assert_eq!(rules_of(f), ["file.sheet_ambiguous"]);
    assert_eq!(
        finding(f, "file.sheet_ambiguous")["message"],
        "一个文件只报送一个单位、一个月份的台账：本文件有多张台账工作表 「11月」（柳河镇，2026-11）、「10月」（柳河镇，2026-10），无法确定应校验哪一张。请每个单位、每个月份单独报送一个文件，文件中只保留要报送的那张工作表"
    );
}

#[test]
fn two_units_in_one_file_are_refused_never_half_taken() {
    let site = Site::new();
    let rules = rules();
    let mut a = register(&rules, "柳河镇", 5, 1);
    a.sheet_name = "柳河镇".into();
    let mut b = register(&rules, "石桥镇", 120, 2);
    b.sheet_name = "石桥镇".into();
    b.summary = false;
    // Named for 柳河镇: refused back to it.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    Register::write_book(&[&a, &b], &p).unwrap();
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!((code, f["unit"].as_str()), (1, Some("柳河镇")));
    assert_eq!(rules_of(f), ["file.sheet_ambiguous"]);
    assert!(finding(f, "file.sheet_ambiguous")["message"]
        .as_str()
        .unwrap()
        .contains("「柳河镇」（柳河镇，2026-11）、「石桥镇」（石桥镇，2026-11）"));
    // Named for no unit, through the daemon: set aside, and both units told.
    let tmp = site.inbox().join(".x.tmp");
    Register::write_book(&[&a, &b], &tmp).unwrap();
    std::fs::rename(&tmp, site.inbox().join("残疾人信息登记簿_2026-11.xlsx")).unwrap();
    let out = site.run_once(&[]);
    assert!(out.status.success());
    let status = site.status();
    let q = status["quarantined"].as_array().unwrap();
    assert_eq!(q.len(), 1, "{status:#}");
    assert!(
        q[0]["reason"]
            .as_str()
            .unwrap()
            .contains("一个文件只报送一个单位、一个月份的台账"),
        "{status:#}"
    );
    let to: Vec<String> = mails(&site).into_iter().map(|m| m.0).collect();
    assert_eq!(
        to,
        [
            "admin@anhe.example.gov.cn",
            "cl-liuhe@anhe.example.gov.cn",
            "cl-shiqiao@anhe.example.gov.cn"
        ]
    );
}

#[test]
fn the_summary_sheet_is_found_by_its_names_and_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    for (i, (name, corner)) in [("汇总表", "残疾类别"), ("Sheet2", "类别"), ("统计", "类别")]
        .iter()
        .enumerate()
    {
        let mut reg = register(&rules, "柳河镇", 12, 4);
        reg.summary_name = name.to_string();
        reg.summary_corner = corner.to_string();
        let n = reg.count(Some("视力"), Some("一级"));
        reg.summary_override
            .push(((0, 0), Val::Num((n + 1) as f64)));
        let sub = dir.path().join(i.to_string());
        std::fs::create_dir_all(&sub).unwrap();
        let p = write(&reg, &sub, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
        let (code, json) = validate_at(DEC1, &[], &[&p]);
        let f = &json["files"][0];
        assert_eq!(code, 1, "{name}: {f:#}");
        assert_eq!(
            cell_rules(f),
            [("B3".to_string(), "summary_counts".to_string())],
            "{name}"
        );
        assert_eq!(finding(f, "summary_counts")["sheet"], *name);
    }
    // inspect says how the file is read.
    let p = dir
        .path()
        .join("0")
        .join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let text = inspect(&p);
    for want in [
        "格式：xlsx",
        "台账：残疾人信息登记簿　明细工作表：「残疾人信息」",
        "表头：第 3 行",
        "找到的列：序号=A，姓名=B，性别=C",
        "汇总表：工作表「汇总表」（与明细核对）",
        "单位：柳河镇",
        "表内填报单位：柳河镇",
        "期间：2026-11（据文件名）",
        "数据行：12",
        "工作表「汇总表」",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
}

#[test]
fn totals_and_footers_are_no_persons_and_totals_must_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let footer = "填表人：张三　审核人：李四　联系电话：0371-6543210　填报日期：2026年11月30日";
    let mut reg = register(&rules, "柳河镇", 15, 5);
    let total = reg.total_row(0.0);
    reg.after_rows = vec![
        total,
        Register::text_row(footer),
        Register::text_row("注：本表一式两份"),
    ];
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 0, "{f:#}");
    assert_eq!(
        (
            f["rows"].as_u64(),
            f["errors"].as_u64(),
            f["warnings"].as_u64()
        ),
        (Some(15), Some(0), Some(0))
    );
    let skipped: Vec<u64> = f["layout"]["not_persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[0].as_u64().unwrap())
        .collect();
    assert_eq!(skipped, [19, 20, 21]);

    // A total that does not add up: one error, on its cell.
    let mut bad = register(&rules, "柳河镇", 15, 5);
    let total = bad.total_row(80.0);
    let sum = bad.total_row(0.0)["living_subsidy"].clone();
    bad.after_rows = vec![total, Register::text_row(footer)];
    let p = write(&bad, dir.path(), "柳河镇_残疾人信息登记簿_2026-10.xlsx");
    let (code, json) = validate_at(DEC1, &["--period", "2026-11"], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 1);
    let col = bad
        .columns
        .iter()
        .position(|(k, _)| k == "living_subsidy")
        .unwrap();
    let cell = taizhang::workbook::value::a1(18, col as u32);
    assert_eq!(
        cell_rules(f),
        [(cell, "living_subsidy.total_mismatch".to_string())]
    );
    let Val::Num(sum) = sum else { panic!() };
    let m = finding(f, "living_subsidy.total_mismatch");
    assert_eq!(
        m["message"],
        format!(
            "合计行「生活补贴（元/月）」为 {}，但明细各行相加为 {}，请核对",
            taizhang::workbook::value::number_text(sum + 80.0),
            taizhang::workbook::value::number_text(sum)
        )
    );
}

/// Sets the 汇总 table to the counts of the rows as they are now (before values
/// are rewritten in another form), as a clerk's right 汇总 would be.
fn freeze_summary(reg: &mut Register) {
    const CATS: [&str; 7] = ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"];
    const LEVELS: [&str; 4] = ["一级", "二级", "三级", "四级"];
    for i in 0..8 {
        for j in 0..5 {
            let n = reg.count(CATS.get(i).copied(), LEVELS.get(j).copied());
            reg.summary_override.push(((i, j), Val::Num(n as f64)));
        }
    }
}

#[test]
fn values_written_another_way_are_read_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let mut reg = register(&rules, "柳河镇", 30, 6);
    freeze_summary(&mut reg);
    let find = |reg: &Register, key: &str, want: &str| {
        reg.rows
            .iter()
            .position(|r| matches!(r.get(key), Some(Val::Text(t)) if t == want))
            .unwrap_or_else(|| panic!("no row with {key} = {want}"))
    };
    let multi = find(&reg, "category", "多重");
    let one = reg
        .rows
        .iter()
        .position(|r| {
            matches!(r.get("level"), Some(Val::Text(t)) if t == "一级")
                && !matches!(r.get("category"), Some(Val::Text(t)) if t == "多重")
        })
        .unwrap();
    let two = find(&reg, "level", "二级");
    let woman = find(&reg, "gender", "女");
    let low = find(&reg, "low_income", "是");
    let phone = (0..reg.rows.len())
        .find(|i| matches!(reg.rows[*i].get("phone"), Some(Val::Text(t)) if t.len() == 11))
        .unwrap();
    reg.set(multi, "category", Val::text("多重残疾"));
    reg.set(one, "level", Val::text("1级"));
    reg.set(two, "level", Val::text("二 级"));
    reg.set(woman, "gender", Val::text("女性"));
    reg.set(low, "low_income", Val::text("√"));
    let number = match &reg.rows[phone]["phone"] {
        Val::Text(t) => t.clone(),
        _ => unreachable!(),
    };
    let spaced = format!("{} {} {}", &number[..3], &number[3..7], &number[7..]);
    reg.set(phone, "phone", Val::text(&spaced));
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 0, "{f:#}");
    let mut want = vec![
        (
            reg.cell(multi, "category"),
            "category.enum_alias".to_string(),
        ),
        (reg.cell(one, "level"), "level.enum_alias".to_string()),
        (reg.cell(two, "level"), "level.enum_alias".to_string()),
        (reg.cell(woman, "gender"), "gender.enum_alias".to_string()),
        (
            reg.cell(low, "low_income"),
            "low_income.enum_alias".to_string(),
        ),
    ];
    want.sort();
    assert_eq!(cell_rules(f), want);
    let m = finding_at(f, &reg.cell(multi, "category"));
    assert_eq!(
        m["message"],
        "「残疾类别」填写「多重残疾」，已按标准写法「多重」处理；请今后填写「多重」"
    );
    assert_eq!(m["severity"], "warning");
}

#[test]
fn rows_that_cannot_be_counted_are_left_out_of_the_summary_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let mut reg = register(&rules, "柳河镇", 20, 9);
    freeze_summary(&mut reg); // the clerk counted the row below under its real category
    reg.set(3, "category", Val::text("不详"));
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let (code, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(code, 1);
    let summary: Vec<&Value> = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == "summary_counts")
        .collect();
    // The row's category·level, its category's total, its level's total and the
    // grand total: four cells differ by one.
    assert_eq!(summary.len(), 4, "{f:#}");
    for s in summary {
        assert!(
            s["message"].as_str().unwrap().contains(
                "；另有 1 行的残疾类别或残疾等级空缺或无法识别，未计入。请先更正这些行，再核对汇总"
            ),
            "{s}"
        );
    }
    assert!(rules_of(f).contains(&"category.enum".to_string()));
}

#[test]
fn birth_dates_that_cannot_be() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let mut reg = register(&rules, "柳河镇", 6, 10);
    let future = taizhang::checks::cn_id::with_check_char("41990120990101001");
    reg.set(1, "id_number", Val::text(&future));
    reg.set(
        1,
        "birth_date",
        Val::Date(chrono::NaiveDate::from_ymd_opt(2099, 1, 1).unwrap()),
    );
    reg.set(1, "gender", Val::text("男"));
    reg.set(1, "cert_number", Val::Blank);
    let old = taizhang::checks::cn_id::with_check_char("41990119100101002");
    reg.set(2, "id_number", Val::text(&old));
    reg.set(2, "birth_date", Val::Blank);
    reg.set(2, "gender", Val::text("女"));
    reg.set(2, "cert_number", Val::Blank);
    reg.set(2, "issue_date", Val::Blank);
    reg.set(1, "issue_date", Val::Blank);
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let (_, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    let got: Vec<(String, String)> = cell_rules(f)
        .into_iter()
        .filter(|(_, r)| !r.starts_with("cert_number") && r != "guardian_required")
        .collect();
    let mut want = vec![
        (reg.cell(1, "id_number"), "id_birth_not_future".to_string()),
        (reg.cell(1, "birth_date"), "birth_not_future".to_string()),
        (reg.cell(2, "id_number"), "age_plausible".to_string()),
    ];
    want.sort();
    assert_eq!(got, want, "{f:#}");
    let sev = |c: &str| {
        f["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["cell"] == c && x["rule"] != "cert_number.required")
            .unwrap()["severity"]
            .clone()
    };
    assert_eq!(sev(&reg.cell(1, "id_number")), "error");
    assert_eq!(sev(&reg.cell(2, "id_number")), "warning");
}

#[test]
fn the_same_file_sent_again_gets_an_answer() {
    let site = Site::new();
    let reg = register(&rules(), "柳河镇", 5, 11);
    let first = site.drop_in(&reg, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let bytes = std::fs::read(&first).unwrap();
    assert!(site.run_once(&[]).status.success());
    let tmp = site.inbox().join(".again.tmp");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::rename(
        &tmp,
        site.inbox()
            .join("柳河镇_残疾人信息登记簿_2026-11（重发）.xlsx"),
    )
    .unwrap();
    assert!(site.run_once(&[]).status.success());
    let got = mails(&site);
    assert_eq!(got.len(), 2, "{got:#?}");
    let again = got.iter().find(|m| m.1.contains("重复报送")).unwrap();
    assert_eq!(again.0, "cl-liuhe@anhe.example.gov.cn");
    assert_eq!(
        again.1,
        "【安和县残联】柳河镇 重复报送的文件未再处理：柳河镇_残疾人信息登记簿_2026-11（重发）.xlsx"
    );
    // Site runs at 2026-11-30T09:00+08:00, shown in the machine's local time.
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert!(
        again.2.contains(&format!("与 {at} 收到的「柳河镇_残疾人信息登记簿_2026-11.xlsx」内容完全相同，未再处理。当时的结果：已通过。"))
            && again.2.contains("无需重复报送"),
        "{}",
        again.2
    );
}

#[test]
fn versions_of_one_units_file_are_not_duplicates_and_copies_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let a = register(&rules, "石桥镇", 8, 12);
    let mut b = a.clone();
    b.set(0, "remarks", Val::text("更正版"));
    let pa = write(&a, dir.path(), "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let pb = write(
        &b,
        dir.path(),
        "石桥镇_残疾人信息登记簿_2026-11（更正）.xlsx",
    );
    let (code, json) = validate_at(DEC1, &[], &[&pa, &pb]);
    assert_eq!(code, 0, "{json:#}");
    for f in json["files"].as_array().unwrap() {
        assert_eq!(f["findings"], serde_json::json!([]));
    }
    // X.xlsx and X.xls annotate to two files, and the text says where.
    let xls = dir.path().join("石桥镇_残疾人信息登记簿_2026-11.xls");
    std::fs::copy(
        root().join("tests/fixtures/石桥镇_登记簿_2026-11.xls"),
        &xls,
    )
    .unwrap();
    let out_dir = dir.path().join("批注");
    let out = bin()
        .env("TAIZHANG_NOW", DEC1)
        .args(["validate", "--rules"])
        .arg(rules_dir())
        .arg("--annotate")
        .arg(&out_dir)
        .arg(&pa)
        .arg(&xls)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let first = out_dir.join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let second = out_dir.join("石桥镇_残疾人信息登记簿_2026-11_xls.xlsx");
    assert!(first.is_file() && second.is_file(), "{text}");
    assert!(
        text.contains(&format!(
            "已写入批注副本：{}（{}）",
            first.display(),
            pa.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "已写入批注副本：{}（{}）",
            second.display(),
            xls.display()
        )),
        "{text}"
    );
}

#[test]
fn the_county_decides_how_bad_a_file_level_finding_is() {
    let dir = tempfile::tempdir().unwrap();
    let rules_copy = edited_rules(dir.path(), |name, text| {
        if name == "register.toml" {
            text.replace(
                "[file_severity]\n",
                "[file_severity]\nperiod_mismatch = \"error\"\n",
            )
        } else {
            text
        }
    });
    let reg = register(&rules(), "柳河镇", 6, 1); // 填报日期：2026年11月30日
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-12.xlsx");
    let (code, json, _) = validate_json_with(&rules_copy, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!((code, f["errors"].as_u64()), (1, Some(1)), "{f:#}");
    assert_eq!(finding(f, "file.period_mismatch")["severity"], "error");
    // A name that is no file-level finding is a rules problem, with its line.
    let text = std::fs::read_to_string(rules_copy.join("register.toml")).unwrap();
    std::fs::write(
        rules_copy.join("register.toml"),
        text.replace("period_mismatch = \"error\"", "period_mismach = \"error\""),
    )
    .unwrap();
    let out = bin().arg("check-rules").arg(&rules_copy).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("[file_severity] 中的「period_mismach」不是文件级检查"),
        "{err}"
    );
}

const MINI_KIND: &str = r#"
[kind]
id = "mini"
name = "补贴简表"
sheet = "补贴简表"
recognise_by = ["name", "id_number", "subsidy_type"]

[messages]
missing_column = "缺少列「{header}」"
unit_unknown = "无法确定填报单位"
unit_conflict = "填报单位不一致（{value}）"
no_rows = "没有数据行"
period_guessed = "期间推定为 {period}"
period_mismatch = "期间不一致"
wrong_extension = "扩展名不对"
other_sheets = "其他工作表 {value}"
sheet_ambiguous = "无法确定工作表 {sheets}"
total_mismatch = "合计不符"
unreadable_cell = "无法读取"
required = "「{header}」不能为空"
too_long = "「{header}」过长"
enum = "「{header}」只能填写：{expected}"
enum_alias = "「{header}」按「{expected}」处理"
type_month = "「{header}」「{value}」不是月份，请写成 2026-11"
unique_with = "同一人同一补贴同一月份重复（与第 {other_row} 行相同）"

[[columns]]
key = "name"
header = "姓名"
type = "text"
required = true

[[columns]]
key = "id_number"
header = "身份证号"
type = "text"
required = true
unique_with = ["subsidy_type", "pay_month"]

[[columns]]
key = "subsidy_type"
header = "补贴类型"
type = "enum"
values = ["生活补贴", "护理补贴"]
required = true

[[columns]]
key = "pay_month"
header = "发放月份"
type = "month"

[[row_rules]]
id = "pay_month_is_period"
when = "pay_month != ''"
assert = "pay_month == period"
cell = "pay_month"
message = "发放月份 {value} 不是本期 {period}"
"#;

#[test]
fn the_kind_whose_header_matches_best_is_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let rules_copy = edited_rules(dir.path(), |_, text| text);
    // The small kind recognises by headers the payments ledger's contain.
    std::fs::remove_file(rules_copy.join("payments.toml")).unwrap();
    std::fs::write(rules_copy.join("mini.toml"), MINI_KIND).unwrap();
    let rules = rules();
    // A register with an extra 补贴类型 column matches both kinds' recognising
    // headers; it names far more of the register's columns.
    let mut reg = register(&rules, "柳河镇", 5, 1);
    reg.sheet_name = "Sheet1".into();
    reg.columns_extra = vec![("补贴类型".into(), vec![Val::text("生活补贴"); 5])];
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let (code, json, _) = validate_json_with(&rules_copy, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!(
        (code, f["kind_id"].as_str()),
        (0, Some("register")),
        "{f:#}"
    );
    // Only 姓名, 身份证号, 补贴类型: the small kind.
    let mut small = register(&rules, "柳河镇", 5, 1);
    small.sheet_name = "Sheet1".into();
    small.summary = false;
    small
        .columns
        .retain(|(k, _)| k == "name" || k == "id_number");
    small.columns_extra = vec![("补贴类型".into(), vec![Val::text("护理补贴"); 5])];
    let p = write(&small, dir.path(), "柳河镇_补贴简表_2026-11.xlsx");
    let (code, json, _) = validate_json_with(&rules_copy, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!((code, f["kind_id"].as_str()), (0, Some("mini")), "{f:#}");
    // Recognising headers that contain one another are a rules problem.
    std::fs::write(
        rules_copy.join("mini.toml"),
        MINI_KIND.replace(
            "recognise_by = [\"name\", \"id_number\", \"subsidy_type\"]",
            "recognise_by = [\"name\", \"id_number\"]",
        ),
    )
    .unwrap();
    let out = bin().arg("check-rules").arg(&rules_copy).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("recognise_by 表头") && err.contains("无法区分文件是哪种台账"),
        "{err}"
    );
}

#[test]
fn months_as_written_and_uniqueness_across_columns_are_rules_data() {
    let dir = tempfile::tempdir().unwrap();
    let rules_copy = edited_rules(dir.path(), |_, text| text);
    // The small kind recognises by headers the payments ledger's contain.
    std::fs::remove_file(rules_copy.join("payments.toml")).unwrap();
    std::fs::write(rules_copy.join("mini.toml"), MINI_KIND).unwrap();
    let mut small = register(&rules(), "柳河镇", 6, 3);
    small.sheet_name = "Sheet1".into();
    small.summary = false;
    small
        .columns
        .retain(|(k, _)| k == "name" || k == "id_number");
    let same_id = small.rows[0]["id_number"].clone();
    small.set(2, "id_number", same_id.clone());
    small.set(3, "id_number", same_id);
    let types = [
        "生活补贴",
        "生活补贴",
        "生活补贴",
        "护理补贴",
        "生活补贴",
        "生活补贴",
    ];
    let months = [
        "2026-11",
        "2026年11月",
        "202611",
        "2026/11",
        "2026年10月",
        "十一月",
    ];
    small.columns_extra = vec![
        (
            "补贴类型".into(),
            types.iter().map(|t| Val::text(*t)).collect(),
        ),
        (
            "发放月份".into(),
            months.iter().map(|m| Val::text(*m)).collect(),
        ),
    ];
    let p = write(&small, dir.path(), "柳河镇_补贴简表_2026-11.xlsx");
    let (code, json, _) = validate_json_with(&rules_copy, &[], &[&p]);
    let f = &json["files"][0];
    assert_eq!((code, f["kind_id"].as_str()), (1, Some("mini")), "{f:#}");
    let month_col = taizhang::workbook::value::column_name(3);
    let row = |i: usize| small.sheet_row(i) + 1;
    let mut want = vec![
        // Row 2 repeats row 0: same person, 生活补贴, 2026-11 (written another way).
        (
            small.cell(2, "id_number"),
            "id_number.unique_with".to_string(),
        ),
        (
            format!("{month_col}{}", row(4)),
            "pay_month_is_period".to_string(),
        ),
        (
            format!("{month_col}{}", row(5)),
            "pay_month.type_month".to_string(),
        ),
    ];
    want.sort();
    assert_eq!(cell_rules(f), want, "{f:#}");
    let dup = finding(f, "id_number.unique_with");
    assert_eq!(
        dup["message"],
        format!("同一人同一补贴同一月份重复（与第 {} 行相同）", row(0))
    );
}

/// Two rows whose 残疾类别 cannot be read: a 汇总 cell that counts more than the
/// readable rows by no more than those two may be right — a warning saying so,
/// never an error; a cell off by more than they explain is an error.
#[test]
fn a_summary_difference_the_uncounted_rows_explain_is_a_warning_one_beyond_them_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let mut reg = register(&rules, "柳河镇", 30, 9);
    freeze_summary(&mut reg); // the clerk counted both rows under their real category
    reg.set(3, "category", Val::text("不详"));
    reg.set(7, "category", Val::text("？"));
    // 视力·一级 written 5 more than the detail has: no two rows explain that.
    let n = reg.count(Some("视力"), Some("一级"));
    reg.summary_override
        .insert(0, ((0, 0), Val::Num((n + 5) as f64)));
    let p = write(&reg, dir.path(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let (_, json) = validate_at(DEC1, &[], &[&p]);
    let f = &json["files"][0];
    let summary: Vec<&Value> = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == "summary_counts")
        .collect();
    let (mut warned, mut erred) = (0, 0);
    for s in &summary {
        let value: i64 = s["value"].as_str().unwrap().parse().unwrap();
        let expected: i64 = s["expected"].as_str().unwrap().parse().unwrap();
        let message = s["message"].as_str().unwrap();
        if (1..=2).contains(&(value - expected)) {
            assert_eq!(s["severity"], "warning", "{s}");
            assert!(
                message.contains("另有 2 行的残疾类别或残疾等级空缺或无法识别，未计入"),
                "{s}"
            );
            warned += 1;
        } else {
            assert_eq!(s["severity"], "error", "{s}");
            assert!(message.contains("请按明细更正"), "{s}");
            erred += 1;
        }
    }
    assert!(warned >= 1 && erred >= 1, "{summary:#?}");
    let vision = summary.iter().find(|s| s["header"] == "视力·一级").unwrap();
    assert_eq!(vision["severity"], "error", "{vision}");
}
