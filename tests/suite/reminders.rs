//! Deadlines and reminders (催报), with a clock the tests control (`TAIZHANG_NOW`):
//! the right units reminded on the right days, once, across restarts (every
//! `run --once` is a new process); a rejected unit told what is still wrong; the
//! county admin's list the day after the deadline.

use crate::common;
use common::*;
use taizhang::samples::Val;

/// The reminders among the notices written: (to, subject, body).
fn reminders(site: &Site) -> Vec<(String, String, String)> {
    mails(site)
        .into_iter()
        .filter(|(_, s, _)| s.contains("催报"))
        .collect()
}

#[test]
fn units_without_an_accepted_ledger_are_reminded_on_the_days_and_once() {
    let site = Site::new();
    let rules = rules();
    let bad = drop_clean_and_bad(&site, &rules, |r| {
        r.set(3, "village", Val::text("幸福社区"));
    });
    site.run_once_ok();
    assert!(reminders(&site).is_empty(), "none before the days");
    // 2026-12-05 is the deadline: 3 days before, every unit without an accepted
    // ledger of each kind is reminded.
    site.run_once_at("2026-12-02T08:30:00+08:00");
    let first = reminders(&site);
    let register_told: Vec<&str> = first
        .iter()
        .filter(|(_, s, _)| s.contains("残疾人信息登记簿"))
        .map(|(to, _, _)| to.as_str())
        .collect();
    let payments_told = first
        .iter()
        .filter(|(_, s, _)| s.contains("两项补贴发放台账"))
        .count();
    assert_eq!((register_told.len(), payments_told), (12, 13), "{first:#?}");
    // One mail per unit, covering every kind it has not got accepted.
    assert_eq!(first.len(), 13, "{first:#?}");
    assert!(!register_told.contains(&"cl-liuhe@anhe.example.gov.cn"));
    let (_, subject, body) = first
        .iter()
        .find(|(to, s, _)| to == "cl-shiqiao@anhe.example.gov.cn" && s.contains("登记簿"))
        .unwrap();
    assert_eq!(
        subject,
        "【安和县残联】催报：石桥镇 2026-11 残疾人信息登记簿、两项补贴发放台账 请于 2026-12-05 前报送（还剩 3 天）"
    );
    assert!(
        body.contains("2026-11《残疾人信息登记簿》《两项补贴发放台账》的报送截止日为 2026-12-05")
            && body.contains("《两项补贴发放台账》：你单位尚未报送。"),
        "{body}"
    );
    // Named for a clerk, as every other notice.
    let names: Vec<String> = names_in(&site.outbox().join("mail"));
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("石桥镇_2026-11_催报_") && n.ends_with(".eml")),
        "{names:?}"
    );
    assert!(body.contains("未通过校验，以下 1 处错误尚未更正"), "{body}");
    assert!(
        body.contains(&format!(
            "{}「所属村（社区）」填写「幸福社区」",
            bad.cell(3, "village")
        )),
        "{body}"
    );
    let (_, _, plain) = first
        .iter()
        .find(|(to, s, _)| to == "cl-qingquan@anhe.example.gov.cn" && s.contains("登记簿"))
        .unwrap();
    assert!(plain.contains("你单位尚未报送。"), "{plain}");
    // The same day again, in a new process: nothing more.
    site.run_once_at("2026-12-02T15:00:00+08:00");
    assert_eq!(reminders(&site).len(), 13);
    // Not a reminder day.
    site.run_once_at("2026-12-03T09:00:00+08:00");
    assert_eq!(reminders(&site).len(), 13);
    // 清泉镇 sends its register; 1 day before, it is not reminded of it again.
    site.drop_in(
        &register(&rules, "清泉镇", 10, 3),
        "清泉镇_残疾人信息登记簿_2026-11.xlsx",
    );
    site.run_once_at("2026-12-03T10:00:00+08:00");
    site.run_once_at("2026-12-04T09:00:00+08:00");
    let second: Vec<_> = reminders(&site)
        .into_iter()
        .filter(|(_, s, _)| s.contains("还剩 1 天"))
        .collect();
    assert_eq!(second.len(), 13, "{second:#?}");
    assert_eq!(
        second
            .iter()
            .filter(|(_, s, _)| s.contains("登记簿"))
            .count(),
        11,
        "{second:#?}"
    );
    assert!(!second
        .iter()
        .any(|(to, s, _)| to == "cl-qingquan@anhe.example.gov.cn" && s.contains("登记簿")));
    // The deadline passes: the next day the admin gets the list, once.
    site.run_once_at("2026-12-05T18:00:00+08:00");
    site.run_once_at("2026-12-06T09:00:00+08:00");
    site.run_once_at("2026-12-06T11:00:00+08:00");
    let admin: Vec<_> = mails(&site)
        .into_iter()
        .filter(|(to, s, _)| to == "admin@anhe.example.gov.cn" && s.contains("截止日"))
        .collect();
    assert_eq!(admin.len(), 1, "{admin:#?}");
    let (_, subject, body) = &admin[0];
    assert_eq!(
        subject,
        "【安和县残联】2026-11 台账截止日 2026-12-05 已过：24 项未报送或未通过"
    );
    assert!(
        body.contains("石桥镇　《残疾人信息登记簿》　已退回（1 处错误）"),
        "{body}"
    );
    assert!(
        body.contains("城关镇　《两项补贴发放台账》　未报送"),
        "{body}"
    );
    assert!(!body.contains("柳河镇　《残疾人信息登记簿》"), "{body}");
    assert!(!body.contains("清泉镇　《残疾人信息登记簿》"), "{body}");
}

#[test]
fn a_deadline_the_rules_cannot_have_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rules_copy = edited_rules(dir.path(), |name, text| {
        if name == "county.toml" {
            text.replace("remind_days_before = [3, 1]", "remind_days_before = [7, 1]")
        } else {
            text
        }
    });
    let err = rules_refused(&rules_copy);
    assert!(
        err.contains("county.toml:") && err.contains("[deadlines] day 应为 1–28"),
        "{err}"
    );
}
