//! Rules are data: a county edits `rules/` and the next run applies it, no rebuild;
//! `check-rules` reports every mistake with file and line.

use crate::common;
use common::*;
use std::path::Path;
use taizhang::samples::Val;

fn copy_rules(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(rules_dir()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// A copy of the shipped rules in a temp dir, with `extra` appended to
/// `register.toml`: (the temp dir, its `rules` folder).
fn rules_plus(extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let rdir = dir.path().join("rules");
    copy_rules(&rdir);
    let mut reg_toml = std::fs::read_to_string(rdir.join("register.toml")).unwrap();
    reg_toml.push_str(extra);
    std::fs::write(rdir.join("register.toml"), reg_toml).unwrap();
    (dir, rdir)
}

fn check_rules(dir: &Path) -> (i32, String) {
    let out = bin().arg("check-rules").arg(dir).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn shipped_rules_are_clean() {
    let (code, text) = check_rules(&rules_dir());
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("2 种台账、3 种部门比对名单") && text.contains("13 个填报单位"),
        "{text}"
    );
}

#[test]
fn a_new_column_and_rule_apply_without_rebuild() {
    let (dir, rdir) = rules_plus(
        r#"
[[columns]]
key = "household"
header = "户籍类别"
aliases = ["户口性质"]
type = "enum"
values = ["农业", "非农业"]

[[row_rules]]
id = "rural_needs_village"
when = "household == '农业'"
assert = "!village.endsWith('社区')"
cell = "household"
severity = "warning"
message = "农业户口的残疾人一般登记在村，不在社区（{village}），请核实"
"#,
    );
    // The county also raises the living subsidy standard to 90.
    let county = std::fs::read_to_string(rdir.join("county.toml"))
        .unwrap()
        .replace("living_subsidy = 80", "living_subsidy = 90");
    std::fs::write(rdir.join("county.toml"), county).unwrap();
    assert_eq!(check_rules(&rdir).0, 0);

    let rules = taizhang::rules::RuleSet::load(&rdir).unwrap();
    let mut reg = register(&rules, "东城街道办事处", 12, 4);
    reg.columns.push(("household".into(), "户口性质".into()));
    for i in 0..12 {
        reg.set(i, "household", Val::text("非农业"));
    }
    reg.set(2, "household", Val::text("农业"));
    reg.set(3, "household", Val::text("城镇"));
    // Any row with a living subsidy is now off-standard (80 instead of 90).
    let paid: Vec<usize> = (0..12)
        .filter(|i| reg.rows[*i].get("living_subsidy") == Some(&Val::Num(80.0)))
        .collect();
    let path = dir
        .path()
        .join("东城街道办事处_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&path).unwrap();
    let (_, json, _) = validate_json_with(&rdir, &[], &[&path]);
    let mut want = vec![
        (reg.cell(2, "household"), "rural_needs_village".to_string()),
        (reg.cell(3, "household"), "household.enum".to_string()),
    ];
    for i in &paid {
        want.push((
            reg.cell(*i, "living_subsidy"),
            "living_subsidy_standard".to_string(),
        ));
    }
    want.sort();
    assert_eq!(cell_rules(&json["files"][0]), want, "{json:#}");
    let warn = json["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "rural_needs_village")
        .unwrap()
        .clone();
    assert_eq!(warn["severity"], "warning");
    assert_eq!(warn["header"], "户籍类别");
    assert!(warn["message"].as_str().unwrap().contains("社区"), "{warn}");
}

/// A county's own column constraints (`regex`, `length`, `min`, `max`) apply to
/// exactly the cells that break them, a cell breaking two gets both in the order
/// the constraints are listed, and a blank optional cell gets none.
#[test]
fn column_constraints_from_rules_apply() {
    let (dir, rdir) = rules_plus(
        r#"
[[columns]]
key = "postcode"
header = "邮政编码"
type = "text"
regex = "^[0-9]*$"
length = 6

[[columns]]
key = "family_size"
header = "家庭人口"
type = "integer"
min = 1
max = 20
"#,
    );
    assert_eq!(check_rules(&rdir).0, 0);

    let rules = taizhang::rules::RuleSet::load(&rdir).unwrap();
    let mut reg = register(&rules, "东城街道办事处", 10, 4);
    reg.columns.push(("postcode".into(), "邮政编码".into()));
    reg.columns.push(("family_size".into(), "家庭人口".into()));
    for i in 0..10 {
        reg.set(i, "postcode", Val::text("450000"));
        reg.set(i, "family_size", Val::Num(3.0));
    }
    reg.set(1, "postcode", Val::text("45000"));
    reg.set(2, "postcode", Val::text("45000A"));
    reg.set(3, "postcode", Val::text("4500A"));
    reg.set(4, "postcode", Val::Blank);
    reg.set(5, "family_size", Val::Num(0.0));
    reg.set(6, "family_size", Val::Num(21.0));
    reg.set(7, "family_size", Val::Num(20.0));
    let path = dir
        .path()
        .join("东城街道办事处_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&path).unwrap();
    let (_, json, _) = validate_json_with(&rdir, &[], &[&path]);
    let file = &json["files"][0];
    let mut want = vec![
        (reg.cell(1, "postcode"), "postcode.length".to_string()),
        (reg.cell(2, "postcode"), "postcode.regex".to_string()),
        (reg.cell(3, "postcode"), "postcode.length".to_string()),
        (reg.cell(3, "postcode"), "postcode.regex".to_string()),
        (reg.cell(5, "family_size"), "family_size.min".to_string()),
        (reg.cell(6, "family_size"), "family_size.max".to_string()),
    ];
    want.sort();
    assert_eq!(cell_rules(file), want, "{json:#}");
    let both: Vec<&str> = file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["cell"] == reg.cell(3, "postcode").as_str())
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(both, ["postcode.regex", "postcode.length"]);
}

/// Each mistake is reported with its file and line, and every command refuses the folder.
#[test]
fn lint_reports_file_and_line() {
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "assert = \"gender == cn_id_gender(id_number)\"",
            "assert = \"gendr == cn_id_gender(id_number)\"",
            "引用了未知的列「gendr」",
        ),
        (
            "assert = \"gender == cn_id_gender(id_number)\"",
            "assert = \"gender == (\"",
            "无法编译",
        ),
        (
            "assert = \"gender == cn_id_gender(id_number)\"",
            "assert = \"gender == id_gender(id_number)\"",
            "未知函数「id_gender」",
        ),
        (
            "checks = [{ check = \"cn_phone\" }]",
            "checks = [{ check = \"cn_mobile\" }]",
            "未知的内置检查「cn_mobile」",
        ),
        (
            "key = \"ethnicity\"\nheader = \"民族\"\ntype = \"text\"",
            "key = \"ethnicity\"\nheader = \"民族\"\ntype = \"text\"\nregex = \"^[\"",
            "正则表达式无效",
        ),
        (
            "id = \"birth_matches_id\"",
            "id = \"gender_matches_id\"",
            "规则 id「gender_matches_id」重复",
        ),
        (
            "when = \"living_subsidy > 0.0\"",
            "when = \"living_subsidy > '0'\"",
            "在空白行上无法计算",
        ),
        (
            "cell = \"guardian\"",
            "cell = \"guardians\"",
            "cell 引用了未知的列「guardians」",
        ),
        (
            "\"cn_phone.invalid\" = ",
            "\"cn_phone.invalidx\" = ",
            "「cn_phone.invalidx」不对应任何检查",
        ),
    ];
    for (from, to, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_rules(dir.path());
        let path = dir.path().join("register.toml");
        let src = std::fs::read_to_string(&path).unwrap();
        assert!(
            src.contains(from),
            "fixture text {from:?} not in register.toml"
        );
        let changed = src.replacen(from, to, 1);
        let line = src[..src.find(from).unwrap()].matches('\n').count() + 1;
        std::fs::write(&path, &changed).unwrap();
        let (code, text) = check_rules(dir.path());
        assert_eq!(code, 2, "{expect}: {text}");
        assert!(text.contains(expect), "expected {expect:?} in: {text}");
        let at = format!("register.toml:{line}:");
        // The message points at the edited line, or for a rule-level problem at the
        // rule's own lines (within the few lines of its table).
        let located = text.lines().filter(|l| l.contains(expect)).any(|l| {
            l.contains(&at)
                || l.split("register.toml:")
                    .nth(1)
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| n.abs_diff(line) <= 6)
        });
        assert!(located, "{expect}: no line near {line} in: {text}");
        // validate refuses the same folder the same way.
        let out = bin()
            .args(["validate", "--rules"])
            .arg(dir.path())
            .arg(root().join("tests/fixtures/石桥镇_登记簿_2026-11.xlsx"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(expect));
    }
}

#[test]
fn toml_syntax_error_has_a_line() {
    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    let path = dir.path().join("county.toml");
    let src = std::fs::read_to_string(&path)
        .unwrap()
        .replace("code = \"419901\"", "code = \"419901");
    std::fs::write(&path, src).unwrap();
    let (code, text) = check_rules(dir.path());
    assert_eq!(code, 2);
    assert!(
        text.contains("county.toml:7:") && text.contains("TOML 格式错误"),
        "{text}"
    );
}

/// A rule that cannot be evaluated on a row (it looks a standard up by a
/// column the standards do not list) is a warning in words on that row — the
/// county's problem, said as such — never the evaluator's debug text.
#[test]
fn a_rule_that_cannot_be_evaluated_is_said_in_words_not_debug_text() {
    let dir = tempfile::tempdir().unwrap();
    let rules_copy = edited_rules(dir.path(), |name, text| {
        if name == "register.toml" {
            format!(
                "{text}\n[[row_rules]]\nid = \"nursing_by_village\"\nwhen = \"nursing_subsidy > 0.0\"\nassert = \"nursing_subsidy <= standards.nursing_subsidy[village]\"\ncell = \"nursing_subsidy\"\nmessage = \"护理补贴超过本村标准\"\n"
            )
        } else {
            text
        }
    });
    let rules = rules();
    let reg = register(&rules, "柳河镇", 40, 4);
    let i = (0..reg.rows.len())
        .find(|&i| matches!(reg.rows[i].get("nursing_subsidy"), Some(Val::Num(x)) if *x > 0.0))
        .expect("a row with 护理补贴");
    let Some(Val::Text(village)) = reg.rows[i].get("village").cloned() else {
        panic!("a village");
    };
    let p = dir.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&p).unwrap();
    let (_, json, stderr) = validate_json_with(&rules_copy, &[], &[&p]);
    let cell = reg.cell(i, "nursing_subsidy");
    let f = json["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cell"] == cell.as_str() && f["rule"] == "nursing_by_village.eval")
        .unwrap_or_else(|| panic!("{json:#} {stderr}"));
    assert_eq!(f["severity"], "warning");
    let m = f["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("县里的规则中没有「{village}」对应的标准")),
        "{m}"
    );
    assert!(m.contains("不是本表填写的问题"), "{m}");
    assert!(
        !m.contains("NoSuchKey") && !m.contains("nursing_by_village"),
        "{m}"
    );
}

/// Rules that would lie quietly are refused with file and line: a value
/// compared with an enum column that is none of its values (the rule could
/// never fire), and a standards table looked up by an enum column that lacks a
/// value the rule lets through.
#[test]
fn rules_that_would_lie_quietly_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let misspelt = edited_rules(&dir.path().join("a"), |name, text| {
        if name == "register.toml" {
            text.replacen(
                "category in ['智力', '精神']",
                "category in ['智力', '精神病']",
                1,
            )
        } else {
            text
        }
    });
    let err = rules_refused(&misspelt);
    assert!(
        err.contains("register.toml:") && err.contains("「残疾类别」的取值中没有「精神病」"),
        "{err}"
    );
    let unpriced = edited_rules(&dir.path().join("b"), |name, text| {
        if name == "county.toml" {
            text.replace("\"二级\" = 80\n", "")
        } else {
            text
        }
    });
    let err = rules_refused(&unpriced);
    // The line of the rule's assert in the shipped file.
    let shipped = std::fs::read_to_string(rules_dir().join("register.toml")).unwrap();
    let line = 1 + shipped
        .lines()
        .position(|l| {
            l.contains("assert = \"nursing_subsidy == standards.nursing_subsidy[level]\"")
        })
        .unwrap();
    assert!(
        err.contains(&format!("register.toml:{line}:"))
            && err.contains("按「残疾等级」查 standards 时，二级 没有对应的标准"),
        "{err}"
    );
}
