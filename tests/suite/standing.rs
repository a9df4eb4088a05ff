//! Where each unit stands, on the real binary: a stray file of no known ledger
//! kind changes nobody's standing and is answered as such; a county workbook that
//! cannot be replaced delays no notice, shows in `status`, and is rebuilt once the
//! fault is gone.

use crate::common;
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

/// A kind checked against its own previous period, with rules alone (the
/// reference shape `ledger = "previous"`): the latest accepted register before
/// the file's month, a warning naming a gap, a must-cover error for a person of
/// last month's register missing from this one, a row rule over last month's
/// values; on the daemon, a replaced previous register re-checks the next month's.
#[test]
fn a_register_is_checked_against_its_own_previous_period() {
    use taizhang::samples::Val;
    let site = Site::new();
    let rules_dir = edited_rules(&site.root, |name, text| {
        if name != "register.toml" {
            return text;
        }
        format!(
            "{text}
[[references]]
name = \"last\"
kind = \"register\"
key = \"id_number\"
on = \"id_number\"
ledger = \"previous\"
older_message = \"与 {{ref_period}} 的登记簿比对（其间的月份没有已通过的登记簿）\"
must_cover = \"last.level != ''\"
dropped_message = \"上期（{{ref_period}}）登记的「{{last.name}}」（{{value}}）不在本期登记簿中\"

[[row_rules]]
id = \"last.village_changed\"
when = \"last_found\"
assert = \"village == last.village\"
expected = \"last.village\"
cell = \"village\"
severity = \"warning\"
message = \"所属村由上期的「{{expected}}」变为「{{value}}」，请核实\"
"
        )
    });
    let rules = taizhang::rules::RuleSet::load(&rules_dir).unwrap();
    let run = |site: &Site| {
        succeeded(
            site.cmd_with_rules(&["run", "--once", "--settle", "0.2"], &rules_dir)
                .output()
                .unwrap(),
        )
    };
    let renumber = |r: &mut taizhang::samples::Register| {
        for (k, row) in r.rows.iter_mut().enumerate() {
            row.insert("seq".into(), Val::Num((k + 1) as f64));
        }
    };
    let oct = register(&rules, "柳河镇", 8, 1);
    let mut nov = oct.clone();
    let villages = rules.villages_of("柳河镇");
    let changed = villages
        .iter()
        .find(|v| Val::text(v.as_str()) != nov.rows[2]["village"])
        .unwrap()
        .clone();
    nov.set(2, "village", Val::text(&changed));
    let gone = nov.rows.remove(5);
    renumber(&mut nov);
    let dir = site.root.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let oct_path = dir.join("柳河镇_残疾人信息登记簿_2026-10.xlsx");
    let nov_path = dir.join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    oct.write(&oct_path).unwrap();
    nov.write(&nov_path).unwrap();
    let text = |v: &Val| match v {
        Val::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    let (gone_id, gone_name) = (text(&gone["id_number"]), text(&gone["name"]));

    // One run of the command line: November is checked against October of the run.
    let (_, json, err) = validate_json_with(&rules_dir, &[], &[&oct_path, &nov_path]);
    let nov_report = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "柳河镇_残疾人信息登记簿_2026-11.xlsx")
        .unwrap_or_else(|| panic!("{err}"));
    let rules_of: Vec<(String, Value, Value)> = nov_report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["cell"].clone(),
                f["value"].clone(),
            )
        })
        .collect();
    assert!(
        rules_of.contains(&(
            "last.dropped".into(),
            Value::Null,
            Value::from(gone_id.clone())
        )),
        "{rules_of:?}"
    );
    let dropped = nov_report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "last.dropped")
        .unwrap();
    assert_eq!(
        dropped["message"],
        format!("上期（2026-10）登记的「{gone_name}」（{gone_id}）不在本期登记簿中")
    );
    let moved = finding_at(nov_report, &nov.cell(2, "village"));
    assert_eq!(moved["rule"], "last.village_changed");
    assert!(
        moved["message"]
            .as_str()
            .unwrap()
            .contains(&format!("变为「{changed}」")),
        "{moved}"
    );
    // October itself has no previous register: nothing said.
    let oct_report = &json["files"][0];
    assert!(
        !oct_report["findings"].to_string().contains("last."),
        "{oct_report}"
    );

    // The daemon: October accepted, then November (rejected: a person dropped).
    site.drop_in(&oct, "柳河镇_残疾人信息登记簿_2026-10.xlsx");
    run(&site);
    site.drop_in(&nov, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    run(&site);
    let status = |site: &Site| {
        let out = site
            .cmd_with_rules(&["status", "--format", "json"], &rules_dir)
            .env("TAIZHANG_NOW", "2026-12-01T09:00:00+08:00")
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let st = status(&site);
    let u = unit(&st, "register", "柳河镇");
    assert_eq!(u["status"], "已退回", "{st:#}");
    let used = u["checked_against"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "last")
        .cloned()
        .unwrap();
    assert_eq!(used["period"], "2026-10", "{used}");
    // October corrected (the person gone from it too, moved away last month):
    // November is checked again against it, and passes.
    let mut oct2 = oct.clone();
    oct2.rows.remove(5);
    oct2.set(2, "village", Val::text(&changed));
    // (Not byte for byte November's: the same bytes are answered as a duplicate.)
    oct2.set(1, "phone", Val::text("13700000000"));
    renumber(&mut oct2);
    site.drop_in(&oct2, "柳河镇_残疾人信息登记簿_2026-10_更正.xlsx");
    let out = run(&site);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        log.contains("柳河镇_残疾人信息登记簿_2026-10_更正.xlsx: accepted"),
        "{log}"
    );
    let st = status(&site);
    // November's rejected file is not re-checked (only an accepted one counts);
    // it is sent again, and now passes against the corrected October.
    assert_eq!(unit(&st, "register", "柳河镇")["status"], "已退回", "{log}");
    // (Other bytes than the rejected file's: the same bytes get the same answer.)
    let mut nov_again = nov.clone();
    nov_again.set(0, "phone", Val::text("13912345678"));
    site.drop_in(&nov_again, "柳河镇_残疾人信息登记簿_2026-11_重报.xlsx");
    run(&site);
    let st = status(&site);
    assert_eq!(
        unit(&st, "register", "柳河镇")["status"],
        "已通过",
        "{st:#}"
    );
    let nov_id = unit(&st, "register", "柳河镇")["submission"]
        .as_i64()
        .unwrap();
    // A newer October (one more person) re-checks the accepted November, which
    // now misses that person: 已退回, the unit told why.
    let mut oct3 = oct2.clone();
    oct3.rows.push(gone.clone());
    renumber(&mut oct3);
    site.drop_in(&oct3, "柳河镇_残疾人信息登记簿_2026-10_再更正.xlsx");
    let out = run(&site);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(log.contains(&format!("#{nov_id}: checked again")), "{log}");
    let st = status(&site);
    assert_eq!(
        unit(&st, "register", "柳河镇")["status"],
        "已退回",
        "{st:#}"
    );
    // The notice names the cause (last month's register was updated) and the person.
    let all = mails(&site);
    let told = all
        .iter()
        .find(|(to, _, body)| {
            to == "cl-liuhe@anhe.example.gov.cn"
                && body.contains("你单位上期（2026-10）的《残疾人信息登记簿》已更新")
        })
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert!(told.2.contains(&gone_name), "{}", told.2);

    // A gap: September on file, October not — November is compared with September.
    let site = Site::new();
    site.drop_in(&oct, "柳河镇_残疾人信息登记簿_2026-09.xlsx");
    run(&site);
    let (_, json, _) = validate_json_with(
        &rules_dir,
        &["--state", site.state().to_str().unwrap()],
        &[&nov_path],
    );
    let gap = json["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "last.gap")
        .cloned()
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(
        gap["message"],
        "与 2026-09 的登记簿比对（其间的月份没有已通过的登记簿）"
    );
}
