//! The payments ledger (两项补贴发放台账), checked against the unit's register:
//! every rule on its cell and only there, the register from the same run, from
//! `--state` or missing; the daemon with registers and payments dropped together;
//! the re-check after a newer register; the county workbook's five sheets read
//! back with openpyxl; files written by LibreOffice; the rules' lint.

use crate::common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use taizhang::samples::{payment_row, payments, people, Person, Register, Val};

const P: &str = "2026-11";

fn persons(unit: &str, n: usize, seed: u64) -> Vec<Person> {
    let rules = rules();
    let code = rules.county.unit(unit).unwrap().code.clone();
    people(&code, &rules.villages_of(unit), n, seed)
}

fn write(reg: &Register, dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    reg.write(&p).unwrap();
    p
}

fn reg_name(unit: &str) -> String {
    format!("{unit}_残疾人信息登记簿_{P}.xlsx")
}

fn pay_name(unit: &str) -> String {
    format!("{unit}_两项补贴发放台账_{P}.xlsx")
}

/// Renumbers 序号 and puts the 合计 row (off by `off`) at the bottom.
fn finish(pay: &mut Register, off: f64) {
    for (k, r) in pay.rows.iter_mut().enumerate() {
        r.insert("seq".into(), Val::Num((k + 1) as f64));
    }
    pay.after_rows = vec![pay.payments_total(off)];
}

fn file<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == name)
        .unwrap_or_else(|| panic!("no report for {name}: {json:#}"))
}

fn row_of(pay: &Register, kind: &str, pred: impl Fn(&BTreeMap<String, Val>) -> bool) -> usize {
    pay.rows
        .iter()
        .position(|r| r.get("subsidy_type") == Some(&Val::text(kind)) && pred(r))
        .unwrap_or_else(|| panic!("no {kind} row"))
}

/// A payments ledger of 柳河镇 with one of each mistake, and the (cell, rule)
/// pairs each must give. Persons: `ps` on the register; `elsewhere` on
/// 石桥镇's; `nobody` on none.
struct Case {
    pay: Register,
    want: Vec<(String, String)>,
    /// Data-row index → what it is, for messages.
    elsewhere_row: usize,
    nobody_row: usize,
}

fn case(ps: &[Person], elsewhere: &Person, nobody: &Person) -> Case {
    let rules = rules();
    let std_nursing = |level: usize| [100.0, 80.0, 60.0][level];
    let mut pay = payments("柳河镇", ps, P);
    pay.after_rows.clear();
    let mut want = Vec::new();
    let push = |pay: &mut Register, row: BTreeMap<String, Val>| -> usize {
        pay.rows.push(row);
        pay.rows.len() - 1
    };
    // Not on the unit's register: registered in 石桥镇; on no register.
    let elsewhere_row = push(&mut pay, payment_row(elsewhere, "生活补贴", P, 80.0));
    let nobody_row = push(&mut pay, payment_row(nobody, "生活补贴", P, 80.0));
    // 生活补贴 for someone not 低保; 护理补贴 for a 四级 (not eligible), at a standard.
    let not_low = ps
        .iter()
        .find(|p| !p.low_income && p.nursing == 0.0)
        .unwrap();
    let living_bad = push(&mut pay, payment_row(not_low, "生活补贴", P, 80.0));
    let not_severe = ps
        .iter()
        .find(|p| p.nursing == 0.0 && p.id != not_low.id)
        .unwrap();
    let nursing_bad = push(&mut pay, payment_row(not_severe, "护理补贴", P, 60.0));
    // One row entered twice: the second is the error.
    let twice = pay.rows[1].clone();
    let twice_row = push(&mut pay, twice);
    let n0 = pay.rows.len();
    // Existing rows: a wrong certificate, a wrong 护理补贴 amount for the level, a
    // wrong 生活补贴 amount, last month, a card stored as a number, a short card, a
    // wrong ID check digit; months written other ways (all fine).
    let cert_row = 0;
    let mut cert = match &pay.rows[cert_row]["cert_number"] {
        Val::Text(t) => t.clone(),
        _ => unreachable!(),
    };
    let last = if cert.ends_with('1') { "2" } else { "1" };
    cert.replace_range(19.., last);
    pay.set(cert_row, "cert_number", Val::Text(cert));
    let nursing_amount = row_of(&pay, "护理补贴", |_| true);
    let id = pay.rows[nursing_amount]["id_number"].clone();
    let level = ps.iter().find(|p| Val::text(&p.id) == id).unwrap().level;
    pay.set(
        nursing_amount,
        "amount",
        Val::Num(std_nursing(level) + 10.0),
    );
    let living_amount = row_of(&pay, "生活补贴", |r| {
        r.get("seq") != Some(&Val::Num(1.0))
    });
    pay.set(living_amount, "amount", Val::Num(100.0));
    let free: Vec<usize> = (2..n0 - 5)
        .filter(|i| ![cert_row, nursing_amount, living_amount, 1].contains(i))
        .take(8)
        .collect();
    pay.set(free[0], "pay_month", Val::text("2026-10"));
    pay.set(free[1], "card_number", Val::Num(6.228_480_012_345_678e18));
    pay.set(free[2], "card_number", Val::text("62284801"));
    let bad_id = match &pay.rows[free[3]]["id_number"] {
        Val::Text(t) => {
            let last = if t.ends_with('1') { '2' } else { '1' };
            format!("{}{last}", &t[..17])
        }
        _ => unreachable!(),
    };
    pay.set(free[3], "id_number", Val::Text(bad_id));
    pay.set(free[4], "pay_month", Val::text("2026年11月"));
    pay.set(free[5], "pay_month", Val::text("202611"));
    pay.set(free[6], "pay_month", Val::text("2026.11"));
    pay.set(
        free[7],
        "pay_month",
        Val::Date(chrono::NaiveDate::from_ymd_opt(2026, 11, 15).unwrap()),
    );
    finish(&mut pay, 10.0);
    let c = |i: usize, k: &str| pay.cell(i, k);
    want.extend(
        [
            (c(elsewhere_row, "id_number"), "on_register"),
            (c(nobody_row, "id_number"), "on_register"),
            (c(living_bad, "subsidy_type"), "living_subsidy_eligible"),
            (c(nursing_bad, "subsidy_type"), "nursing_subsidy_eligible"),
            (c(twice_row, "id_number"), "id_number.unique_with"),
            (c(cert_row, "cert_number"), "cert_matches_register"),
            (c(nursing_amount, "amount"), "nursing_subsidy_amount"),
            (c(living_amount, "amount"), "living_subsidy_amount"),
            (c(free[0], "pay_month"), "pay_month_is_period"),
            (c(free[1], "card_number"), "card_number.bank_card.number"),
            (c(free[2], "card_number"), "card_number.bank_card.length"),
            (c(free[3], "id_number"), "id_number.cn_id.checksum"),
        ]
        .map(|(a, b)| (a, b.to_string())),
    );
    // The 合计 row, 10 more than the rows.
    let amount_col = pay.columns.iter().position(|(k, _)| k == "amount").unwrap();
    let total_cell =
        taizhang::workbook::value::a1(pay.sheet_row(pay.rows.len()), amount_col as u32);
    want.push((total_cell, "amount.total_mismatch".to_string()));
    want.sort();
    drop(rules);
    Case {
        pay,
        want,
        elsewhere_row,
        nobody_row,
    }
}

#[test]
fn every_payment_rule_fires_on_its_cell_and_only_there() {
    let dir = tempfile::tempdir().unwrap();
    let ps = persons("柳河镇", 60, 71);
    let sq = persons("石桥镇", 10, 72);
    let nobody = &persons("清泉镇", 1, 73)[0];
    let reg = write(
        &Register::new("柳河镇", &ps),
        dir.path(),
        &reg_name("柳河镇"),
    );
    let reg2 = write(
        &Register::new("石桥镇", &sq),
        dir.path(),
        &reg_name("石桥镇"),
    );
    let case = case(&ps, &sq[0], nobody);
    let pay = write(&case.pay, dir.path(), &pay_name("柳河镇"));
    let (code, json, err) = validate_json(&[], &[&pay, &reg, &reg2]);
    assert_eq!(code, 1, "{err}");
    for r in [reg_name("柳河镇"), reg_name("石桥镇")] {
        assert_eq!(file(&json, &r)["errors"], 0, "{:#}", file(&json, &r));
    }
    let f = file(&json, &pay_name("柳河镇"));
    assert_eq!(cell_rules(f), case.want, "{f:#}");
    // Checked against the register of the same run (no journal submission).
    assert_eq!(
        f["references"][0],
        serde_json::json!({"name": "register", "kind": "register", "kind_name": "残疾人信息登记簿",
            "file": reg_name("柳河镇"), "period": P})
    );
    let at = |i: usize| finding_at(f, &case.pay.cell(i, "id_number"))["message"].clone();
    assert_eq!(
        at(case.elsewhere_row),
        format!(
            "身份证号「{}」（{}）不在本单位已通过的登记簿中（{}）；此人登记在石桥镇，应由石桥镇发放。请核实后更正，或先在登记簿中登记",
            sq[0].id,
            sq[0].name,
            reg_name("柳河镇")
        )
    );
    assert_eq!(
        at(case.nobody_row),
        format!(
            "身份证号「{}」（{}）不在本单位已通过的登记簿中（{}）。请核实后更正，或先在登记簿中登记",
            nobody.id,
            nobody.name,
            reg_name("柳河镇")
        )
    );
    let msg = |rule: &str| {
        f["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["rule"] == rule)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        msg("nursing_subsidy_eligible").contains("在登记簿中为"),
        "{f:#}"
    );
    assert!(msg("cert_matches_register").contains("与登记簿中"), "{f:#}");
    // The text report says what it was checked against.
    let out = bin()
        .args(["validate", "--rules"])
        .arg(rules_dir())
        .arg(&pay)
        .arg(&reg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "核对依据：残疾人信息登记簿「{}」（{P}）",
            reg_name("柳河镇")
        )),
        "{text}"
    );
}

#[test]
fn without_a_register_one_warning_and_the_rest_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ps = persons("柳河镇", 40, 81);
    let stranger = &persons("清泉镇", 1, 82)[0];
    let mut pay = payments("柳河镇", &ps, P);
    pay.rows.push(payment_row(stranger, "生活补贴", P, 80.0));
    let living = row_of(&pay, "生活补贴", |_| true);
    pay.set(living, "amount", Val::Num(90.0));
    let nursing = row_of(&pay, "护理补贴", |_| true);
    pay.set(nursing, "amount", Val::Num(90.0));
    let twice = pay.rows[2].clone();
    pay.rows.push(twice);
    let dup = pay.rows.len() - 1;
    pay.set(5, "card_number", Val::Num(6.228_480_012_345_678e18));
    pay.set(6, "pay_month", Val::text("2026-12"));
    pay.set(7, "subsidy_type", Val::text("困难补贴"));
    pay.set(8, "cert_number", Val::text("4199011985"));
    finish(&mut pay, 0.0);
    let p = write(&pay, dir.path(), &pay_name("柳河镇"));
    let (code, json, _) = validate_json(&[], &[&p]);
    assert_eq!(code, 1);
    let f = &json["files"][0];
    let mut want = vec![
        ("-".to_string(), "register.missing".to_string()),
        (pay.cell(living, "amount"), "living_subsidy_amount".into()),
        (
            pay.cell(nursing, "amount"),
            "nursing_subsidy_amount_any".into(),
        ),
        (pay.cell(dup, "id_number"), "id_number.unique_with".into()),
        (
            pay.cell(5, "card_number"),
            "card_number.bank_card.number".into(),
        ),
        (pay.cell(6, "pay_month"), "pay_month_is_period".into()),
        (pay.cell(7, "subsidy_type"), "subsidy_type.enum".into()),
        (pay.cell(8, "cert_number"), "cert_number.length".into()),
    ];
    want.sort();
    assert_eq!(cell_rules(f), want, "{f:#}");
    let missing = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "register.missing")
        .unwrap();
    assert_eq!(missing["severity"], "warning");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .starts_with("本单位尚无已通过的残疾人信息登记簿（2026-11 或更早）"),
        "{missing:#}"
    );
    assert_eq!(f["references"][0].get("file"), None, "{f:#}");
}

#[test]
fn with_state_the_accepted_register_is_used_and_a_register_of_the_run_comes_first() {
    let site = Site::new();
    let dir = tempfile::tempdir().unwrap();
    let ps = persons("柳河镇", 40, 91);
    let sq = persons("石桥镇", 5, 92);
    site.drop_in(&Register::new("柳河镇", &ps), &reg_name("柳河镇"));
    site.drop_in(&Register::new("石桥镇", &sq), &reg_name("石桥镇"));
    site.run_once_ok();
    // A payment to someone the register says is not 低保.
    let not_low = ps.iter().find(|p| !p.low_income).unwrap();
    let mut pay = payments("柳河镇", &ps, P);
    pay.rows.push(payment_row(not_low, "生活补贴", P, 80.0));
    let bad = pay.rows.len() - 1;
    finish(&mut pay, 0.0);
    let p = write(&pay, dir.path(), &pay_name("柳河镇"));
    let state = site.state();
    let (code, json, err) = validate_json(&["--state", state.to_str().unwrap()], &[&p]);
    assert_eq!(code, 1, "{err}");
    let f = &json["files"][0];
    assert_eq!(
        cell_rules(f),
        vec![(
            pay.cell(bad, "subsidy_type"),
            "living_subsidy_eligible".to_string()
        )],
        "{f:#}"
    );
    assert_eq!(f["references"][0]["submission"], 1, "{f:#}");
    assert_eq!(f["references"][0]["file"], reg_name("柳河镇"));
    // The journal says where else a person is registered.
    let mut elsewhere = payments("柳河镇", &ps, P);
    elsewhere
        .rows
        .push(payment_row(&sq[0], "生活补贴", P, 80.0));
    let other = elsewhere.rows.len() - 1;
    finish(&mut elsewhere, 0.0);
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let e = write(&elsewhere, &other_dir, &pay_name("柳河镇"));
    let (_, json, _) = validate_json(&["--state", state.to_str().unwrap()], &[&e]);
    let msg = finding_at(&json["files"][0], &elsewhere.cell(other, "id_number"))["message"].clone();
    assert!(
        msg.as_str()
            .unwrap()
            .contains("；此人登记在石桥镇，应由石桥镇发放"),
        "{msg}"
    );
    // A register in the same run (where that person is 低保) is the one used.
    let mut newer: Vec<Person> = ps.clone();
    let k = newer.iter().position(|p| p.id == not_low.id).unwrap();
    newer[k].low_income = true;
    newer[k].living = 80.0;
    let r = write(
        &Register::new("柳河镇", &newer),
        dir.path(),
        &reg_name("柳河镇"),
    );
    let (code, json, err) = validate_json(&["--state", state.to_str().unwrap()], &[&p, &r]);
    assert_eq!(code, 0, "{err} {json:#}");
    let f = file(&json, &pay_name("柳河镇"));
    assert_eq!(f["references"][0].get("submission"), None, "{f:#}");
    assert_eq!(f["errors"], 0);
    // A payments ledger whose name does not say so is read again with it.
    let plain = dir.path().join("柳河镇_十一月发放.xlsx");
    std::fs::copy(&p, &plain).unwrap();
    let (code, json, err) = validate_json(&[], &[&plain, &r]);
    assert_eq!(code, 0, "{err} {json:#}");
    let f = file(&json, "柳河镇_十一月发放.xlsx");
    assert_eq!(f["references"][0]["file"], reg_name("柳河镇"), "{f:#}");
    // A state folder with no journal is refused.
    let out = bin()
        .args(["validate", "--state"])
        .arg(dir.path().join("nowhere"))
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("中没有可读的台账记录"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_daemon_judges_payments_against_the_register_dropped_with_them() {
    let site = Site::new();
    let a = persons("柳河镇", 40, 101);
    let b = persons("石桥镇", 40, 102);
    // 柳河镇: a wrong certificate, caught only against its register.
    let mut pay_a = payments("柳河镇", &a, P);
    let mut cert = match &pay_a.rows[0]["cert_number"] {
        Val::Text(t) => t.clone(),
        _ => unreachable!(),
    };
    cert.replace_range(19.., if cert.ends_with('1') { "2" } else { "1" });
    pay_a.set(0, "cert_number", Val::Text(cert));
    finish(&mut pay_a, 0.0);
    // 石桥镇's ledger is named without its kind: taken before its register (by
    // name order), then checked again once the register is accepted.
    let mut pay_b = payments("石桥镇", &b, P);
    finish(&mut pay_b, 0.0);
    site.drop_in(&pay_a, &pay_name("柳河镇"));
    site.drop_in(&pay_b, "石桥镇_2026年11月发放表.xlsx");
    site.drop_in(&Register::new("柳河镇", &a), &reg_name("柳河镇"));
    site.drop_in(&Register::new("石桥镇", &b), &reg_name("石桥镇"));
    let out = site.run_once_ok();
    let log = String::from_utf8_lossy(&out.stderr);
    let status = site.status();
    let payments = status["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "payments")
        .unwrap();
    let registers = status["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "register")
        .unwrap();
    let unit = |p: &Value, u: &str| -> Value {
        p["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["unit"] == u)
            .unwrap()
            .clone()
    };
    for u in ["柳河镇", "石桥镇"] {
        let reg = unit(registers, u);
        let pay = unit(payments, u);
        assert_eq!(reg["status"], "已通过", "{reg:#}");
        assert_eq!(
            pay["checked_against"][0]["submission"], reg["submission"],
            "{u}: {pay:#}\n{log}"
        );
    }
    let a_pay = unit(payments, "柳河镇");
    assert_eq!(
        (a_pay["status"].as_str(), a_pay["errors"].as_i64()),
        (Some("已退回"), Some(1))
    );
    let b_pay = unit(payments, "石桥镇");
    assert_eq!(
        (b_pay["status"].as_str(), b_pay["warnings"].as_i64()),
        (Some("已通过"), Some(0))
    );
    assert!(
        log.contains("checked again against 石桥镇_残疾人信息登记簿_2026-11.xlsx"),
        "{log}"
    );
    // 石桥镇 heard once about its payments (the receipt with the warning); the
    // quiet re-check sent nothing more.
    let about_b: Vec<_> = mails(&site)
        .into_iter()
        .filter(|(_, s, _)| s.contains("石桥镇") && s.contains("两项补贴发放台账"))
        .collect();
    assert_eq!(about_b.len(), 1, "{about_b:#?}");
    assert!(
        about_b[0].2.contains("本单位尚无已通过的残疾人信息登记簿"),
        "{}",
        about_b[0].2
    );
    let a_mail = mails(&site)
        .into_iter()
        .find(|(_, s, _)| s.contains("柳河镇") && s.contains("两项补贴发放台账"))
        .unwrap();
    assert!(a_mail.1.contains("校验未通过（1 处错误）"), "{}", a_mail.1);
    assert!(
        a_mail.2.contains(&format!(
            "核对依据：残疾人信息登记簿「{}」",
            reg_name("柳河镇")
        )),
        "{}",
        a_mail.2
    );
    // `status` says it too.
    let text = String::from_utf8_lossy(&site.cmd(&["status"]).output().unwrap().stdout).to_string();
    assert!(
        text.contains("核对依据：残疾人信息登记簿「柳河镇_残疾人信息登记簿_2026-11.xlsx」"),
        "{text}"
    );
}

#[test]
fn a_newer_register_rechecks_the_accepted_payments() {
    let site = Site::new();
    let ps = persons("柳河镇", 40, 111);
    site.drop_in(&Register::new("柳河镇", &ps), &reg_name("柳河镇"));
    site.run_once_ok();
    let mut pay = payments("柳河镇", &ps, P);
    finish(&mut pay, 0.0);
    site.drop_in(&pay, &pay_name("柳河镇"));
    site.run_once_ok();
    let wb = site
        .outbox()
        .join(format!("安和县_两项补贴发放台账_{P}_全县汇总.xlsx"));
    let rows_before = sheet(&wb, "全县发放明细").len() - 1;
    assert_eq!(rows_before, pay.rows.len());
    // The new register: one paid 低保 person is no longer 低保.
    let k = ps.iter().position(|p| p.low_income).unwrap();
    let mut newer = ps.clone();
    newer[k].low_income = false;
    newer[k].living = 0.0;
    site.drop_in(
        &Register::new("柳河镇", &newer),
        &format!("柳河镇_残疾人信息登记簿_{P}_更正.xlsx"),
    );
    site.run_once_ok();
    let status = site.status();
    let pay_status = status["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "payments")
        .unwrap()["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == "柳河镇")
        .unwrap()
        .clone();
    assert_eq!(pay_status["status"], "已退回", "{pay_status:#}");
    assert_eq!(pay_status["submission"], 2);
    assert_eq!(pay_status["checked_against"][0]["submission"], 3);
    // The unit is told why, with the cell.
    let row = row_of(&pay, "生活补贴", |r| {
        r["id_number"] == Val::text(&ps[k].id)
    });
    let notice = mails(&site)
        .into_iter()
        .filter(|(_, s, _)| s.contains("两项补贴发放台账") && s.contains("校验未通过"))
        .collect::<Vec<_>>();
    assert_eq!(notice.len(), 1, "{notice:#?}");
    let body = &notice[0].2;
    assert!(
        body.contains("你单位新的《残疾人信息登记簿》「柳河镇_残疾人信息登记簿_2026-11_更正.xlsx」已通过。系统按新登记簿重新核对了此前已通过的本期《两项补贴发放台账》"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "{}「补贴类型」填写「生活补贴」：{}在登记簿中不是低保对象",
            pay.cell(row, "subsidy_type"),
            ps[k].name
        )),
        "{body}"
    );
    // The notice carries the annotated copy, its 问题清单 naming the person.
    let raw = files_under(&site.outbox().join("mail"))
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|raw| {
            let m = mail_parser::MessageParser::default().parse(raw).unwrap();
            m.subject()
                .is_some_and(|s| s.contains("两项补贴发放台账") && s.contains("校验未通过"))
        })
        .unwrap();
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    use mail_parser::MimeHeaders;
    let att = m.attachments().next().expect("the annotated copy");
    assert_eq!(att.attachment_name(), Some(pay_name("柳河镇").as_str()));
    let copy = tempfile::tempdir().unwrap();
    let copy_path = copy.path().join("copy.xlsx");
    std::fs::write(&copy_path, att.contents()).unwrap();
    let list = sheet(&copy_path, "问题清单");
    assert!(
        list.iter().any(|r| r.iter().any(|c| c == &ps[k].name)),
        "{list:?}"
    );
    // Its rows left the county workbook (no accepted payments ledger of 柳河镇 now).
    assert_eq!(sheet(&wb, "全县发放明细").len(), 1);
}

#[test]
fn the_county_payments_workbook_has_its_six_sheets() {
    let site = Site::new();
    let mut a = persons("柳河镇", 30, 121);
    let b = persons("石桥镇", 30, 122);
    // One person on both registers (a warning there), paid 护理补贴 by both units.
    let shared = b.iter().find(|p| p.nursing > 0.0).unwrap().clone();
    let mut on_a = shared.clone();
    on_a.village = a[0].village.clone();
    a.push(on_a);
    site.drop_in(&Register::new("柳河镇", &a), &reg_name("柳河镇"));
    site.drop_in(&Register::new("石桥镇", &b), &reg_name("石桥镇"));
    // 柳河镇 pays everyone it should but one eligible person's 护理补贴.
    let mut pay_a = payments("柳河镇", &a, P);
    let unpaid = a
        .iter()
        .find(|p| p.nursing > 0.0 && p.id != shared.id)
        .unwrap()
        .clone();
    pay_a.rows.retain(|r| {
        !(r["id_number"] == Val::text(&unpaid.id) && r["subsidy_type"] == Val::text("护理补贴"))
    });
    finish(&mut pay_a, 0.0);
    let mut pay_b = payments("石桥镇", &b, P);
    finish(&mut pay_b, 0.0);
    site.drop_in(&pay_a, &pay_name("柳河镇"));
    site.drop_in(&pay_b, &pay_name("石桥镇"));
    site.run_once_ok();
    let wb = site
        .outbox()
        .join(format!("安和县_两项补贴发放台账_{P}_全县汇总.xlsx"));
    let script = r#"
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"sheets": wb.sheetnames}
for ws in wb.worksheets:
    out[ws.title] = [[c for c in row] for row in ws.iter_rows(values_only=True)]
print(json.dumps(out, ensure_ascii=False, default=str))
"#;
    let got: Value = serde_json::from_str(&python(script, &[&wb])).unwrap();
    assert_eq!(
        got["sheets"],
        // The statistics first, the long detail last.
        serde_json::json!([
            "分乡镇发放统计",
            "报送情况",
            "重复发放",
            "应发未发",
            "比对疑点",
            "全县发放明细"
        ])
    );
    // 比对疑点 with no list on file: nothing found, and which lists were not used.
    let hits = got["比对疑点"].as_array().unwrap();
    assert_eq!(
        hits[1][0],
        "本期各单位的台账中，未发现与部门比对名单不符的人员。"
    );
    assert_eq!(
        hits.last().unwrap()[0],
        "比对名单：死亡人员名单（未收到，未比对）；低保对象名单（未收到，未比对）；特困供养人员名单（未收到，未比对）"
    );
    // 全县发放明细: every row, unit first, IDs and cards as text, amounts as numbers.
    let detail = got["全县发放明细"].as_array().unwrap();
    assert_eq!(
        detail[0],
        serde_json::json!([
            "乡镇代码",
            "乡镇名称",
            "序号",
            "姓名",
            "身份证号",
            "残疾人证号",
            "补贴类型",
            "发放月份",
            "发放金额",
            "银行卡号",
            "备注",
            "原文件",
            "原表行号"
        ])
    );
    assert_eq!(detail.len() - 1, pay_a.rows.len() + pay_b.rows.len());
    let first = &detail[1];
    assert_eq!(first[1], "柳河镇");
    assert!(first[4].is_string() && first[9].is_string(), "{first}");
    assert_eq!(first[4].as_str().unwrap().len(), 18);
    assert_eq!(first[9].as_str().unwrap().len(), 19);
    assert!(first[8].is_number(), "{first}");
    // 分乡镇发放统计: per unit and subsidy, persons and amounts; a county 合计.
    let sum = |pay: &Register, kind: &str| -> (f64, f64) {
        pay.rows
            .iter()
            .filter(|r| r["subsidy_type"] == Val::text(kind))
            .fold((0.0, 0.0), |(n, a), r| match &r["amount"] {
                Val::Num(x) => (n + 1.0, a + x),
                _ => (n, a),
            })
    };
    let stats = got["分乡镇发放统计"].as_array().unwrap();
    // Two header rows, 13 units, 合计, a blank row and the 制表人 / 审核人 line.
    assert_eq!(stats.len(), 2 + 13 + 1 + 2);
    assert!(stats[17][0].as_str().unwrap().starts_with("制表人："));
    let line = |pay: &Register| -> Vec<f64> {
        let (ln, la) = sum(pay, "生活补贴");
        let (nn, na) = sum(pay, "护理补贴");
        vec![ln, la, nn, na, ln + nn, la + na]
    };
    let nums = |row: &Value| -> Vec<f64> {
        row.as_array().unwrap()[2..]
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let by_unit = |u: &str| stats.iter().find(|r| r[1] == u).unwrap();
    assert_eq!(nums(by_unit("柳河镇")), line(&pay_a));
    assert_eq!(nums(by_unit("石桥镇")), line(&pay_b));
    assert_eq!(nums(by_unit("清泉镇")), vec![0.0; 6]);
    let county: Vec<f64> = line(&pay_a)
        .iter()
        .zip(line(&pay_b))
        .map(|(x, y)| x + y)
        .collect();
    assert_eq!(stats[15][1], "合计");
    assert_eq!(nums(&stats[15]), county);
    // 报送情况: all 13 units.
    let status = got["报送情况"].as_array().unwrap();
    assert_eq!(status.len(), 14);
    let word = |u: &str| status.iter().find(|r| r[1] == u).unwrap()[2].clone();
    assert_eq!(
        (word("柳河镇"), word("石桥镇"), word("清泉镇")),
        ("已通过".into(), "已通过".into(), "未报送".into())
    );
    // 重复发放: the shared person's 护理补贴, once per unit.
    let dups = got["重复发放"].as_array().unwrap();
    assert_eq!(
        dups[0],
        serde_json::json!([
            "身份证号",
            "补贴类型",
            "发放月份",
            "姓名",
            "乡镇（街道）",
            "文件",
            "原表行号",
            "同时见于"
        ])
    );
    let mut dup_units: Vec<String> = dups[1..]
        .iter()
        .map(|r| {
            assert_eq!(r[0], shared.id.as_str());
            assert_eq!((r[1].as_str(), r[2].as_str()), (Some("护理补贴"), Some(P)));
            r[4].as_str().unwrap().to_string()
        })
        .collect();
    dup_units.sort();
    assert_eq!(dup_units, ["柳河镇", "石桥镇"]);
    // Both units are told of the double payment.
    let told: Vec<String> = mails(&site)
        .into_iter()
        .filter(|(_, s, _)| s.contains("重复发放"))
        .map(|(to, _, body)| {
            assert!(
                body.contains(&format!(
                    "{}（护理补贴，{P}）",
                    taizhang::text::mask_personal(&shared.id)
                )),
                "{body}"
            );
            to
        })
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    // 应发未发: exactly the unpaid person, with the register's data.
    let owed = got["应发未发"].as_array().unwrap();
    assert_eq!(owed[0][0], "乡镇代码");
    let entries: Vec<&Value> = owed[1..]
        .iter()
        .filter(|r| r[0].is_string() && r[1].is_string())
        .collect();
    assert_eq!(entries.len(), 1, "{owed:#?}");
    let e = entries[0].as_array().unwrap();
    assert_eq!(
        (e[1].as_str(), e[2].as_str(), e[3].as_str()),
        (
            Some("柳河镇"),
            Some(unpaid.name.as_str()),
            Some(unpaid.id.as_str())
        )
    );
    let heads: Vec<&str> = owed[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let col = |h: &str| heads.iter().position(|x| *x == h).unwrap();
    assert_eq!(e[col("应发补贴类型")], "护理补贴");
    // What the person should be paid: the standard for the level (county.toml).
    let standard = [100.0, 80.0, 60.0][unpaid.level];
    assert_eq!(
        e[col("应发金额（元/月）")].as_f64(),
        Some(standard),
        "{e:?}"
    );
    assert_eq!(e[col("残疾人信息登记簿文件")], reg_name("柳河镇"));
    assert!(
        owed.iter().any(|r| r[0]
            .as_str()
            .is_some_and(|t| t.starts_with("未列入：东城街道办事处"))),
        "{owed:#?}"
    );
}

#[test]
fn payments_written_by_libreoffice_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let ps = persons("柳河镇", 40, 131);
    let sq = persons("石桥镇", 5, 132);
    let nobody = &persons("清泉镇", 1, 133)[0];
    let reg = write(
        &Register::new("柳河镇", &ps),
        dir.path(),
        &reg_name("柳河镇"),
    );
    let case = case(&ps, &sq[0], nobody);
    let xlsx = write(&case.pay, dir.path(), &pay_name("柳河镇"));
    let profile = dir.path().join("lo-profile");
    let mut got = Vec::new();
    for (fmt, ext) in [("xls:MS Excel 97", "xls"), ("ods", "ods")] {
        let converted = soffice_convert(&xlsx, fmt, &dir.path().join(ext), &profile);
        let (_, json, err) = validate_json(&[], &[&converted, &reg]);
        let name = converted.file_name().unwrap().to_string_lossy().to_string();
        let f = file(&json, &name);
        assert_eq!(f["layout"]["format"], ext, "{err}");
        // Not on 石桥镇's register here (it is not in this run): no "此人登记在".
        got.push((ext, cell_rules(f)));
    }
    for (ext, rules) in got {
        assert_eq!(rules, case.want, "{ext}");
    }
}

#[test]
fn rules_over_the_register_are_linted_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rules_copy = edited_rules(dir.path(), |name, text| {
        if name == "payments.toml" {
            text.replace(
                "assert = \"register.low_income == '是'\"",
                "assert = \"register.low_incme == '是'\"",
            )
            .replace("kind = \"register\"\nkey", "kind = \"registr\"\nkey")
        } else {
            text
        }
    });
    let err = rules_refused(&rules_copy);
    assert!(
        err.contains("[[references]] register 引用了未知的台账类型「registr」"),
        "{err}"
    );
    // With the kind right, the misspelt column is named with its line.
    let rules_copy = edited_rules(&dir.path().join("b"), |name, text| {
        if name == "payments.toml" {
            text.replace(
                "assert = \"register.low_income == '是'\"",
                "assert = \"register.low_incme == '是'\"",
            )
        } else {
            text
        }
    });
    let src = std::fs::read_to_string(rules_copy.join("payments.toml")).unwrap();
    let line = src
        .lines()
        .position(|l| l.contains("register.low_incme"))
        .unwrap()
        + 1;
    let err = rules_refused(&rules_copy);
    assert!(
        err.contains(&format!("payments.toml:{line}")) && err.contains("规则 living_subsidy_eligible 的 assert 引用了「残疾人信息登记簿」中不存在的列「low_incme」"),
        "{err}"
    );
}

/// A payments rule that reads a register column nothing in the register's own
/// rules reads (民族, free text): `validate` with both files sees it filled, as
/// the daemon does from the journal — never blank because the register's pass
/// skipped it.
#[test]
fn a_register_column_only_a_payments_rule_reads_is_seen_in_validate_as_in_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let rules_copy = edited_rules(dir.path(), |name, text| {
        if name == "payments.toml" {
            format!(
                "{text}\n[[row_rules]]\nid = \"ethnicity_on_register\"\nwhen = \"register_found\"\nassert = \"register.ethnicity != ''\"\ncell = \"name\"\nmessage = \"登记簿中{{name}}的民族为空\"\n"
            )
        } else {
            text
        }
    });
    let ps = persons("柳河镇", 20, 91);
    let reg = write(
        &Register::new("柳河镇", &ps),
        dir.path(),
        &reg_name("柳河镇"),
    );
    let mut pay = payments("柳河镇", &ps, P);
    finish(&mut pay, 0.0);
    let pay = write(&pay, dir.path(), &pay_name("柳河镇"));
    let (_, json, err) = validate_json_with(&rules_copy, &[], &[&pay, &reg]);
    let f = file(&json, &pay_name("柳河镇"));
    let fired: Vec<&Value> = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == "ethnicity_on_register")
        .collect();
    assert!(fired.is_empty(), "{fired:#?} {err}");
    assert_eq!(file(&json, &reg_name("柳河镇"))["errors"], 0, "{json:#}");
}
