//! Lists from other agencies (部门比对): the county's death, 低保 and 特困 lists,
//! their own checks, the `lists.*` rules of the register and the payments
//! ledger on their cells and nowhere else, and the daemon: lists that arrive
//! after the ledgers re-check them, the unit hears of its own rows only, the
//! admin of the lists, and the payments workbook's 比对疑点 sheet adds up.

use crate::common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use taizhang::samples::{agency_list, payments, people, Person, Register, Val};

/// Two units' persons: 柳河镇's 40 and 石桥镇's 20 (fixed seeds).
fn persons(rules: &taizhang::rules::RuleSet, unit: &str, n: usize, seed: u64) -> Vec<Person> {
    let code = rules.county.unit(unit).unwrap().code.clone();
    people(&code, &rules.villages_of(unit), n, seed)
}

/// The persons the checks are about, picked from 柳河镇's by what they are paid.
struct Cast<'a> {
    /// Died in October (October's death list): paid in November.
    dead_before: &'a Person,
    /// Died on 15 November (November's list): November's payment stands.
    dead_within: &'a Person,
    /// 是否低保 = 是 and 生活补贴, but not on the 低保 list.
    off_dibao: &'a Person,
    /// 是否低保 = 否, but on the 低保 list.
    unmarked: &'a Person,
    /// Under 特困 support in an institution (集中供养), paid 护理补贴 only.
    central: &'a Person,
    /// Under 特困 support at home (分散供养), paid 护理补贴 only: it stands.
    dispersed: &'a Person,
}

fn cast(ps: &[Person]) -> Cast<'_> {
    let living: Vec<&Person> = ps.iter().filter(|p| p.living > 0.0).collect();
    let nursing_only: Vec<&Person> = ps
        .iter()
        .filter(|p| p.living == 0.0 && p.nursing > 0.0)
        .collect();
    let neither: Vec<&Person> = ps
        .iter()
        .filter(|p| !p.low_income && p.nursing == 0.0)
        .collect();
    assert!(living.len() >= 3 && nursing_only.len() >= 2 && !neither.is_empty());
    Cast {
        dead_before: living[0],
        dead_within: living[1],
        off_dibao: living[2],
        unmarked: neither[0],
        central: nursing_only[0],
        dispersed: nursing_only[1],
    }
}

/// The lists of the county: deaths of October and November, 低保 and 特困 of
/// November. Rows of 石桥镇's persons and of nobody's are in them too.
fn lists(dir: &Path, liuhe: &[Person], shiqiao: &[Person]) -> Vec<PathBuf> {
    let c = cast(liuhe);
    let other = &shiqiao[0];
    let mut out = Vec::new();
    let mut write = |reg: Register, name: &str| {
        let p = dir.join(name);
        reg.write(&p).unwrap();
        out.push(p);
    };
    write(
        agency_list(
            "deaths",
            &[
                (&c.dead_before.name, &c.dead_before.id, "2026-10-20"),
                (&other.name, &other.id, "2026-10-03"),
            ],
        ),
        "死亡人员名单_2026-10.xlsx",
    );
    write(
        agency_list(
            "deaths",
            &[(&c.dead_within.name, &c.dead_within.id, "2026-11-15")],
        ),
        "死亡人员名单_2026-11.xlsx",
    );
    // Every 低保 person of both units but one; one marked 否 added.
    let mut dibao: Vec<(&str, &str, &str)> = liuhe
        .iter()
        .chain(shiqiao)
        .filter(|p| p.low_income && p.id != c.off_dibao.id)
        .map(|p| (p.name.as_str(), p.id.as_str(), "柳河镇"))
        .collect();
    dibao.push((&c.unmarked.name, &c.unmarked.id, "柳河镇"));
    write(agency_list("dibao", &dibao), "低保对象名单_2026-11.xlsx");
    write(
        agency_list(
            "tekun",
            &[
                (&c.central.name, &c.central.id, "集中供养"),
                (&c.dispersed.name, &c.dispersed.id, "分散供养"),
                (&shiqiao[1].name, &shiqiao[1].id, "集中供养"),
            ],
        ),
        "特困供养人员名单_2026-11.xlsx",
    );
    out
}

/// The (cell, rule) pairs of a file's `lists.*` findings.
fn list_findings(file: &Value) -> Vec<(String, String)> {
    cell_rules(file)
        .into_iter()
        .filter(|(_, r)| r.starts_with("lists."))
        .collect()
}

fn file_named<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap_or("").ends_with(name))
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

/// 柳河镇's register and payments of November, with its persons marked alive.
fn ledgers(dir: &Path, liuhe: &[Person]) -> (Register, Register, PathBuf, PathBuf) {
    let reg = Register::new("柳河镇", liuhe);
    let pay = payments("柳河镇", liuhe, "2026-11");
    let (rp, pp) = (
        dir.join("柳河镇_残疾人信息登记簿_2026-11.xlsx"),
        dir.join("柳河镇_两项补贴发放台账_2026-11.xlsx"),
    );
    reg.write(&rp).unwrap();
    pay.write(&pp).unwrap();
    (reg, pay, rp, pp)
}

/// The payment rows (sheet cells of `key`) of a person.
fn pay_cells(pay: &Register, p: &Person, key: &str, subsidy: Option<&str>) -> Vec<String> {
    (0..pay.rows.len())
        .filter(|i| pay.rows[*i].get("id_number") == Some(&Val::text(&p.id)))
        .filter(|i| subsidy.is_none_or(|s| pay.rows[*i].get("subsidy_type") == Some(&Val::text(s))))
        .map(|i| pay.cell(i, key))
        .collect()
}

#[test]
fn each_list_check_fires_on_its_cell_and_nowhere_else() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let liuhe = persons(&rules, "柳河镇", 40, 2701);
    let shiqiao = persons(&rules, "石桥镇", 20, 2702);
    let c = cast(&liuhe);
    let (reg, pay, rp, pp) = ledgers(dir.path(), &liuhe);
    let list_files = lists(dir.path(), &liuhe, &shiqiao);
    let mut files: Vec<&Path> = list_files.iter().map(PathBuf::as_path).collect();
    files.push(&rp);
    files.push(&pp);
    let (_, json, stderr) = validate_json(&[], &files);

    // The lists themselves: clean, of no unit.
    for l in &list_files {
        let name = l.file_name().unwrap().to_string_lossy();
        let f = file_named(&json, &name);
        assert_eq!(f["errors"], 0, "{name}: {f}\n{stderr}");
        assert_eq!(f["unit"], "部门比对", "{name}");
    }

    // The register: the person who died in October and the one who died on 15
    // November are both still 在册 at the end of November (the sample has no
    // 人员状态 column: blank means 在册, and the 姓名 cell is blamed);
    // 是否低保 against the 低保 list both ways.
    let row_of = |p: &Person| liuhe.iter().position(|x| x.id == p.id).unwrap();
    let mut want = vec![
        (
            reg.cell(row_of(c.dead_before), "name"),
            "lists.dead_on_register".to_string(),
        ),
        (
            reg.cell(row_of(c.dead_within), "name"),
            "lists.dead_on_register".to_string(),
        ),
        (
            reg.cell(row_of(c.off_dibao), "low_income"),
            "lists.low_income_mismatch".to_string(),
        ),
        (
            reg.cell(row_of(c.unmarked), "low_income"),
            "lists.low_income_unmarked".to_string(),
        ),
    ];
    want.sort();
    let rf = file_named(&json, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    assert_eq!(list_findings(rf), want, "{rf}");
    // 是否低保 = 是 off the list with 生活补贴: an error; on the list marked 否: a warning.
    let sev = |cell: &str| {
        finding_at(rf, cell)["severity"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(sev(&reg.cell(row_of(c.off_dibao), "low_income")), "error");
    assert_eq!(sev(&reg.cell(row_of(c.unmarked), "low_income")), "warning");
    let dead = finding_at(rf, &reg.cell(row_of(c.dead_before), "name"));
    assert!(
        dead["message"].as_str().unwrap().contains("2026-10-20"),
        "{dead}"
    );

    // The payments: paid after an October death (each of the person's rows, on
    // 身份证号), not for the death within November; 生活补贴 off the 低保 list;
    // 护理补贴 to 集中供养 (not to 分散供养).
    let mut want: Vec<(String, String)> = Vec::new();
    for cell in pay_cells(&pay, c.dead_before, "id_number", None) {
        want.push((cell, "lists.paid_after_death".into()));
    }
    for cell in pay_cells(&pay, c.off_dibao, "subsidy_type", Some("生活补贴")) {
        want.push((cell, "lists.not_low_income".into()));
    }
    for cell in pay_cells(&pay, c.central, "subsidy_type", Some("护理补贴")) {
        want.push((cell, "lists.te_kun".into()));
    }
    want.sort();
    assert_eq!(
        want.len(),
        3 + pay_cells(&pay, c.dead_before, "id_number", None).len() - 1
    );
    let pf = file_named(&json, "柳河镇_两项补贴发放台账_2026-11.xlsx");
    assert_eq!(list_findings(pf), want, "{pf}");
    let paid = finding_at(pf, &pay_cells(&pay, c.dead_before, "id_number", None)[0]);
    let msg = paid["message"].as_str().unwrap();
    assert!(
        msg.contains("2026-10-20") && msg.contains("2026-10"),
        "{msg}"
    );
    // Said by kind and month, never by file or another row of the list.
    let json_text = pf.to_string();
    assert!(!json_text.contains(&shiqiao[0].id) && !json_text.contains(&shiqiao[1].id));
    let used: Vec<&str> = pf["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["county"] == true)
        .map(|r| r["periods"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(used, ["2026-10、2026-11", "2026-11", "2026-11"], "{pf}");

    // Without the lists, none of the checks runs and nothing is said of them.
    let (_, alone, _) = validate_json(&[], &[&rp, &pp]);
    for name in [
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
        "柳河镇_两项补贴发放台账_2026-11.xlsx",
    ] {
        let f = file_named(&alone, name);
        assert!(list_findings(f).is_empty(), "{f}");
        assert_eq!(f["errors"], 0, "{f}");
    }
}

#[test]
fn a_list_with_a_bad_id_or_a_death_after_its_month_has_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("死亡人员名单_2026-11.xlsx");
    agency_list(
        "deaths",
        &[
            ("张三", "410101199001011234", "2026-11-02"),
            ("李四", "11010519491231002X", "2026-12-05"),
        ],
    )
    .write(&p)
    .unwrap();
    let (code, json, _) = validate_json(&[], &[&p]);
    assert_ne!(code, 0);
    let f = file_named(&json, "死亡人员名单_2026-11.xlsx");
    assert_eq!(
        cell_rules(f),
        [
            ("C2".to_string(), "id_number.cn_id.checksum".to_string()),
            ("D3".to_string(), "death_date_in_period".to_string()),
        ]
    );
}

/// Every `.eml` of the site: (recipient, subject, text body, each attachment's
/// parts as text).
fn every_mail(site: &Site) -> Vec<(String, String, String, Vec<String>)> {
    let mut out = Vec::new();
    for p in files_under(&site.outbox().join("mail")) {
        if p.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let raw = std::fs::read(&p).unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let to = m
            .to()
            .and_then(|t| t.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        let mut parts = Vec::new();
        for a in m.attachments() {
            let mut zip =
                zip::ZipArchive::new(std::io::Cursor::new(a.contents().to_vec())).unwrap();
            for i in 0..zip.len() {
                let mut f = zip.by_index(i).unwrap();
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut f, &mut s);
                parts.push(s);
            }
        }
        let mut text = m.body_text(0).unwrap_or_default().to_string();
        text.push_str(&m.body_html(0).unwrap_or_default());
        out.push((to, m.subject().unwrap_or_default().to_string(), text, parts));
    }
    out.sort();
    out
}

/// The ledgers come first and are accepted; then the county drops its lists
/// into `inbox/部门比对/`. Each list is answered to the admin only, with no
/// attachment; the ledgers are checked again: those with errors now are sent
/// back and their unit told which list (kind, month) and which of its own
/// persons — never another unit's row or anybody else's on the list; the
/// payments workbook's 比对疑点 sheet lists every hit with 涉及金额 per unit and
/// for the county (read back with openpyxl). A list with a bad 身份证号 is
/// refused and the admin told.
#[test]
fn lists_arriving_after_the_ledgers_check_them_again_and_tell_each_only_its_own() {
    let rules = rules();
    let site = Site::new();
    let liuhe = persons(&rules, "柳河镇", 40, 2701);
    let shiqiao = persons(&rules, "石桥镇", 20, 2702);
    let c = cast(&liuhe);
    for (unit, ps) in [("柳河镇", &liuhe), ("石桥镇", &shiqiao)] {
        site.drop_in(
            &Register::new(unit, ps),
            &format!("{unit}_残疾人信息登记簿_2026-11.xlsx"),
        );
        site.drop_in(
            &payments(unit, ps, "2026-11"),
            &format!("{unit}_两项补贴发放台账_2026-11.xlsx"),
        );
    }
    site.run_once_ok();
    let before = site.status();
    for p in before["periods"].as_array().unwrap() {
        for u in p["units"].as_array().unwrap() {
            if u["unit"] == "柳河镇" || u["unit"] == "石桥镇" {
                assert_eq!(u["status"], "已通过", "{u:#}");
            }
        }
    }
    let mails_before = every_mail(&site).len();

    // The lists, as the county gets them; one person on the death list is of
    // neither unit.
    let folder = site.inbox().join("部门比对");
    std::fs::create_dir_all(&folder).unwrap();
    let staging = tempfile::tempdir().unwrap();
    let outsider = taizhang::checks::cn_id::with_check_char("41010119500101001");
    let mut files = lists(staging.path(), &liuhe, &shiqiao);
    let mut extra = agency_list("deaths", &[("外县人", &outsider, "2026-09-09")]);
    extra.sheet_name = "死亡人员名单".into();
    let sep = staging.path().join("死亡人员名单_2026-09.xlsx");
    extra.write(&sep).unwrap();
    files.push(sep);
    for f in &files {
        std::fs::copy(f, folder.join(f.file_name().unwrap())).unwrap();
    }
    site.run_once_ok();

    // 柳河镇's ledgers are sent back; 石桥镇's register stands (its dead person
    // is on the death list of October... and still 在册: sent back too), as the
    // lists say.
    let status = site.status();
    let state = |kind: &str, unit: &str| -> String {
        status["periods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["kind"] == kind && p["period"] == "2026-11")
            .unwrap()["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["unit"] == unit)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state("payments", "柳河镇"), "已退回");
    assert_eq!(state("register", "柳河镇"), "已退回");
    assert_eq!(state("register", "石桥镇"), "已退回");
    // No list is anybody's ledger on the page: only the townships' kinds.
    assert!(status["periods"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["kind"] == "register" || p["kind"] == "payments"));

    let all = every_mail(&site);
    assert!(all.len() > mails_before);
    let admin = &rules.county.admin;
    // The lists' answers: to the admin only, none with an attachment.
    let list_mails: Vec<_> = all
        .iter()
        .filter(|(_, s, _, _)| s.contains("名单"))
        .collect();
    assert_eq!(list_mails.len(), 5, "{list_mails:#?}");
    for (to, s, _, parts) in &list_mails {
        assert!(admin.contains(to), "{to}: {s}");
        assert!(parts.is_empty(), "{s}");
    }
    // The townships' notices: their own persons only, the list named by kind
    // and month.
    let liuhe_email = rules.county.unit("柳河镇").unwrap().email.clone();
    let shiqiao_email = rules.county.unit("石桥镇").unwrap().email.clone();
    let strangers_of = |unit: &str| -> Vec<String> {
        let mut v = vec![outsider.clone(), "外县人".to_string()];
        let others: &[Person] = if unit == "柳河镇" {
            &shiqiao
        } else {
            &liuhe
        };
        for p in others.iter().take(2) {
            v.push(p.id.clone());
        }
        v
    };
    let mut told = 0;
    for (to, s, body, parts) in &all {
        let unit = if *to == liuhe_email {
            "柳河镇"
        } else if *to == shiqiao_email {
            "石桥镇"
        } else {
            continue;
        };
        if !body.contains("部门比对名单") {
            continue;
        }
        told += 1;
        assert!(!parts.is_empty(), "{s}: the annotated copy of its own file");
        for stranger in strangers_of(unit) {
            assert!(!body.contains(&stranger), "{unit} {s}: {stranger}");
            for p in parts {
                assert!(!p.contains(&stranger), "{unit} {s} attachment: {stranger}");
            }
        }
        assert!(!body.contains("死亡人员名单_2026-10.xlsx"), "{body}");
    }
    // 柳河镇: register and payments; 石桥镇: its register (its October death).
    assert!(told >= 3, "{told}");
    let liuhe_pay: Vec<_> = all
        .iter()
        .filter(|(to, s, b, _)| {
            *to == liuhe_email && s.contains("两项补贴发放台账") && b.contains("部门比对名单")
        })
        .collect();
    assert_eq!(liuhe_pay.len(), 1);
    let body = &liuhe_pay[0].2;
    assert!(
        body.contains("《死亡人员名单》") || body.contains("死亡人员名单"),
        "{body}"
    );
    assert!(body.contains(&c.dead_before.name), "{body}");

    // 比对疑点, read back with openpyxl: each hit row, a 小计 per unit, the county's total.
    let wb = site
        .outbox()
        .join("安和县_两项补贴发放台账_2026-11_全县汇总.xlsx");
    let dump = python(
        r#"
import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1])["比对疑点"]
for row in ws.iter_rows(values_only=True):
    print("\t".join("" if v is None else str(v) for v in row))
"#,
        &[&wb],
    );
    let rows: Vec<Vec<&str>> = dump.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0][..7],
        [
            "乡镇代码",
            "乡镇名称",
            "姓名",
            "身份证号",
            "补贴类型",
            "发放月份",
            "发放金额"
        ]
    );
    let pay = payments("柳河镇", &liuhe, "2026-11");
    let amount_of = |p: &Person, subsidy: Option<&str>| -> f64 {
        pay.rows
            .iter()
            .filter(|r| r.get("id_number") == Some(&Val::text(&p.id)))
            .filter(|r| subsidy.is_none_or(|s| r.get("subsidy_type") == Some(&Val::text(s))))
            .map(|r| match r.get("amount") {
                Some(Val::Num(x)) => *x,
                _ => 0.0,
            })
            .sum()
    };
    let liuhe_total = amount_of(c.dead_before, None)
        + amount_of(c.off_dibao, Some("生活补贴"))
        + amount_of(c.central, Some("护理补贴"));
    let liuhe_hits: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "柳河镇").collect();
    let n_dead = pay_cells(&pay, c.dead_before, "id_number", None).len();
    assert_eq!(liuhe_hits.len(), n_dead + 2, "{dump}");
    let sub = rows
        .iter()
        .find(|r| r[1] == "柳河镇 涉及金额小计")
        .unwrap_or_else(|| panic!("{dump}"));
    assert_eq!(sub[6].parse::<f64>().unwrap(), liuhe_total, "{dump}");
    let county = rows
        .iter()
        .find(|r| r[1].starts_with("全县涉及金额合计"))
        .unwrap_or_else(|| panic!("{dump}"));
    let shiqiao_sub: f64 = rows
        .iter()
        .find(|r| r[1] == "石桥镇 涉及金额小计")
        .map_or(0.0, |r| r[6].parse().unwrap());
    assert_eq!(county[6].parse::<f64>().unwrap(), liuhe_total + shiqiao_sub);
    let dead_row = liuhe_hits
        .iter()
        .find(|r| r[3] == c.dead_before.id)
        .unwrap();
    assert!(dead_row[7].contains("2026-10-20"), "{dead_row:?}");
    assert_eq!(dead_row[8], "死亡人员名单（2026-09、2026-10、2026-11）");
    let listed = rows.iter().find(|r| r[0].starts_with("比对名单")).unwrap();
    assert_eq!(
        listed[0],
        "比对名单：死亡人员名单（2026-09、2026-10、2026-11）；低保对象名单（2026-11）；特困供养人员名单（2026-11）"
    );

    // The page (the real daemon, its session): the lists on file, each
    // submission's hits; no row of a list is shown.
    let port = free_port();
    let daemon = crate::e2e::web::watch_with_page(&site, port);
    let cookie = crate::e2e::web::session(&site, port);
    let (code, _, page) = crate::e2e::web::http(port, "GET", "/", &cookie, "");
    let page = String::from_utf8_lossy(&page).to_string();
    stop(daemon);
    assert_eq!(code, 200);
    let section = page
        .split("部门比对名单</h2>")
        .nth(1)
        .unwrap_or_else(|| panic!("{page}"));
    let section = section.split("</section>").next().unwrap();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(section.contains(&name), "{name}: {section}");
    }
    let liuhe_row = page
        .split("data-unit=\"柳河镇\"")
        .find(|r| r.contains("柳河镇_两项补贴发放台账_2026-11.xlsx"))
        .unwrap_or_else(|| panic!("{page}"));
    assert!(
        liuhe_row.contains(&format!("比对疑点 {} 行", n_dead + 2)),
        "{liuhe_row}"
    );
    for stranger in [&outsider, &"外县人".to_string(), &c.dead_before.id] {
        assert!(!page.contains(stranger.as_str()), "{stranger}");
    }

    // A list with a bad 身份证号: refused, the admin told (the ID masked).
    let bad_id = format!("{}0", &c.central.id[..17]);
    let bad_id = if bad_id == c.central.id {
        format!("{}1", &c.central.id[..17])
    } else {
        bad_id
    };
    let bad = agency_list("tekun", &[("某人", &bad_id, "集中供养")]);
    bad.write(&folder.join("特困供养人员名单_2026-11_更正.xlsx"))
        .unwrap();
    site.run_once_ok();
    let after = every_mail(&site);
    let refused: Vec<_> = after
        .iter()
        .filter(|(_, s, b, _)| s.contains("特困供养人员名单") && b.contains("校验位错误"))
        .collect();
    assert_eq!(refused.len(), 1, "{after:#?}");
    assert!(admin.contains(&refused[0].0));
    assert!(refused[0].3.is_empty());
    assert!(!refused[0].2.contains(&bad_id));

    // `validate --state` takes the lists on file: the same findings as the daemon's.
    let again = staging.path().join("柳河镇_两项补贴发放台账_2026-11.xlsx");
    pay.write(&again).unwrap();
    let state = site.state();
    let (_, json, _) = validate_json(&["--state", state.to_str().unwrap()], &[&again]);
    let f = file_named(&json, "柳河镇_两项补贴发放台账_2026-11.xlsx");
    assert_eq!(list_findings(f).len(), n_dead + 2, "{f}");
}

/// A list as 民政 exports it — its own headers (死者姓名, 公民身份号码, 火化日期),
/// a title line, a sheet of any name — is recognised by its header, and
/// `inspect` says it is a list of the county's, of no township.
#[test]
fn inspect_names_a_list_recognised_by_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("11月火化名单.xlsx");
    let mut list = agency_list("deaths", &[("张三", "11010519491231002X", "2026-11-02")]);
    list.sheet_name = "Sheet1".into();
    list.columns = vec![
        ("seq".into(), "序号".into()),
        ("name".into(), "死者姓名".into()),
        ("id_number".into(), "公民身份号码".into()),
        ("third".into(), "火化日期".into()),
        ("source".into(), "数据来源".into()),
    ];
    list.write(&p).unwrap();
    let text = inspect(&p);
    assert!(text.contains("台账：死亡人员名单"), "{text}");
    assert!(
        text.contains("姓名=B，身份证号=C，死亡日期=D，来源=E"),
        "{text}"
    );
    assert!(
        text.contains("单位：部门比对（县里收到的其他部门名单，不属于任何乡镇，只用于比对）"),
        "{text}"
    );
    assert!(text.contains("期间：2026-11"), "{text}");
}
