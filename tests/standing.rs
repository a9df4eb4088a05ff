//! Where each unit stands, on the real binary: a stray file of no known ledger
//! kind changes nobody's standing and is answered as such; a county workbook that
//! cannot be replaced delays no notice, shows in `status`, and is rebuilt once the
//! fault is gone.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn unit<'a>(status: &'a Value, kind: &str, name: &str) -> &'a Value {
    status["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} period in {status:#}"))["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == name)
        .unwrap()
}

/// A real workbook that is no ledger kind of the rules: a township's own
/// 生活补贴发放表 with columns of its own.
fn stray_workbook(path: &Path) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("发放表").unwrap();
    for (c, h) in ["序号", "户主", "金额", "签字"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..6u32 {
        ws.write_number(r, 0, f64::from(r)).unwrap();
        ws.write_string(r, 1, format!("户主{r}")).unwrap();
        ws.write_number(r, 2, 80.0).unwrap();
    }
    wb.save(path).unwrap();
}

#[test]
fn a_stray_file_of_no_known_kind_leaves_every_standing_as_it_was() {
    let rules = rules();
    let site = Site::new();
    site.drop_in(
        &register(&rules, "柳河镇", 12, 7),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    assert!(site.run_once(&[]).status.success());
    let before = site.status();
    assert_eq!(unit(&before, "register", "柳河镇")["status"], "已通过");
    let workbook_before = sheet(&site.county_workbook(), "报送情况");
    let mails_before = mails(&site).len();

    stray_workbook(&site.inbox().join("柳河镇_生活补贴发放表_2026-11.xlsx"));
    site.run_once_ok();

    let after = site.status();
    assert_eq!(
        after["periods"], before["periods"],
        "the standing of every unit and kind is as it was"
    );
    assert_eq!(unit(&after, "register", "柳河镇")["status"], "已通过");
    let text = String::from_utf8(site.cmd(&["status"]).output().unwrap().stdout).unwrap();
    assert!(text.contains("（1/13 个单位已通过）"), "{text}");
    assert!(
        text.contains("不是可识别的台账") && text.contains("柳河镇_生活补贴发放表_2026-11.xlsx"),
        "{text}"
    );
    assert_eq!(after["not_ledgers"].as_array().unwrap().len(), 1);
    assert_eq!(
        sheet(&site.county_workbook(), "报送情况"),
        workbook_before,
        "the county workbook's 报送情况 is unchanged"
    );
    // The unit is answered: not a recognisable ledger, not "cannot be read".
    let all = mails(&site);
    assert_eq!(all.len(), mails_before + 1, "{all:?}");
    let (to, subject, body) = all
        .iter()
        .find(|(_, s, _)| s.contains("生活补贴发放表"))
        .unwrap_or_else(|| panic!("{all:?}"));
    assert_eq!(to, "cl-liuhe@anhe.example.gov.cn");
    assert!(subject.contains("不是可识别的台账"), "{subject}");
    assert!(
        !subject.contains("无法读取") && !body.contains("无法读取"),
        "{body}"
    );
    assert!(body.contains("无法识别台账类型"), "{body}");
}

#[test]
fn a_county_workbook_that_cannot_be_replaced_delays_no_notice_and_is_rebuilt_later() {
    let rules = rules();
    let site = Site::new();
    // Something holds the workbook's name (as Excel holds an open file on
    // Windows): here a folder in its place, so the rename over it fails.
    let target = site.county_workbook();
    std::fs::create_dir_all(target.join("held")).unwrap();
    site.drop_in(
        &register(&rules, "石桥镇", 9, 3),
        "石桥镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let out = site.run_once(&[]);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("county workbook could not be rebuilt"),
        "{log}"
    );

    // The receipt went out all the same, and the admin is told of the workbook.
    let sent = mails(&site);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, "admin@anhe.example.gov.cn");
    assert_eq!(
        sent[0].1,
        "【安和县残联】残疾人信息登记簿 2026-11 全县汇总表未能更新"
    );
    // The reason reads Chinese: where, and what the OS said, in words (never
    // its English text).
    let body = &sent[0].2;
    assert!(
        body.contains("无法写入") && body.contains("这是一个文件夹，不是文件"),
        "{body}"
    );
    assert!(
        !body.contains("os error") && !body.contains("writing the county workbook"),
        "{body}"
    );
    assert_eq!(sent[1].0, "cl-shiqiao@anhe.example.gov.cn");
    assert!(sent[1].1.contains("已通过校验"), "{}", sent[1].1);
    // A second failing pass retries but does not tell the admin again.
    assert!(site.run_once(&[]).status.success());
    assert_eq!(mails(&site).len(), 2);
    assert_eq!(site.status()["workbooks_failed"][0]["failures"], 2);

    // status says the workbook is not up to date, and why.
    let st = site.status();
    let failed = st["workbooks_failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{st:#}");
    assert_eq!(failed[0]["kind"], "register");
    assert_eq!(failed[0]["period"], "2026-11");
    assert!(!failed[0]["error"].as_str().unwrap().is_empty());
    assert_eq!(unit(&st, "register", "石桥镇")["status"], "已通过");
    let text = String::from_utf8(site.cmd(&["status"]).output().unwrap().stdout).unwrap();
    assert!(
        text.contains("全县汇总表未能更新：残疾人信息登记簿　2026-11"),
        "{text}"
    );

    // The fault goes away: the next pass rebuilds it, with no new file needed.
    std::fs::remove_dir_all(&target).unwrap();
    site.run_once_ok();
    assert!(target.is_file());
    let rows = sheet(&target, "报送情况");
    let shiqiao = rows.iter().find(|r| r[1] == "石桥镇").unwrap();
    assert_eq!(shiqiao[2], "已通过");
    assert_eq!(sheet(&target, "全县明细").len(), 1 + 9);
    assert!(site.status()["workbooks_failed"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(mails(&site).len(), 2, "no notice is sent twice");
}
