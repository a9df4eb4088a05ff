//! Rules are data: a county edits `rules/` and the next run applies it, no rebuild;
//! `check-rules` reports every mistake with file and line.

mod common;
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
        text.contains("1 种台账") && text.contains("13 个填报单位"),
        "{text}"
    );
}

#[test]
fn a_new_column_and_rule_apply_without_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let rdir = dir.path().join("rules");
    copy_rules(&rdir);
    let mut reg_toml = std::fs::read_to_string(rdir.join("register.toml")).unwrap();
    reg_toml.push_str(
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
    std::fs::write(rdir.join("register.toml"), reg_toml).unwrap();
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
    let out = bin()
        .args(["validate", "--format", "json", "--rules"])
        .arg(&rdir)
        .arg(&path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
