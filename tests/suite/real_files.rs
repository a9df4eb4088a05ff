//! "What real files look like": layouts, value forms and office suites that must
//! all be read correctly, none of them an error by itself.

use crate::common;
use common::*;
use taizhang::checks::cn_id::with_check_char;
use taizhang::samples::Val;
use taizhang::workbook::value::date_to_serial;

fn text(reg: &taizhang::samples::Register, i: usize, key: &str) -> String {
    match reg.rows[i].get(key) {
        Some(Val::Text(s)) => s.clone(),
        _ => String::new(),
    }
}

#[test]
fn messy_but_valid_layout_reads_clean() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let mut reg = register(&rules, "马坊乡", 40, 21);
    // No title; columns in another order, header text with newlines, spaces,
    // ASCII brackets and aliases; an extra column; blank rows; template rows.
    reg.title = false;
    reg.columns.reverse();
    for (k, h) in reg.columns.iter_mut() {
        *h = match k.as_str() {
            "id_number" => "公民身份\n号码".into(),
            "village" => "所属村(社区)".into(),
            "cert_number" => "残疾证号".into(),
            "living_subsidy" => "生活补贴\n（元/月）".into(),
            "nursing_subsidy" => "重度残疾人护理补贴".into(),
            "name" => " 姓  名 ".into(),
            "phone" => "电话".into(),
            _ => h.clone(),
        };
    }
    reg.columns_extra.push((
        "户籍地址".into(),
        (0..40).map(|i| Val::Text(format!("某某路{i}号"))).collect(),
    ));
    reg.blank_before = vec![5, 6, 20];
    reg.template_rows = 15;
    // Values in every accepted form.
    let date_forms = [
        "1985.3.12",
        "1985-03-12",
        "1985/3/12",
        "1985年3月12日",
        "19850312",
    ];
    for (i, form) in date_forms.iter().enumerate() {
        let id = with_check_char(&format!("41990119850312{:03}", 11 + 2 * i));
        let cert = format!("{id}{}", &text(&reg, i, "cert_number")[18..]);
        reg.set(i, "id_number", Val::Text(id))
            .set(i, "cert_number", Val::Text(cert))
            .set(i, "gender", Val::text("男"));
        reg.set(i, "birth_date", Val::text(*form));
    }
    // A birth date as a bare serial number, no date format.
    let b = taizhang::checks::cn_id::birth_date(&text(&reg, 6, "id_number")).unwrap();
    reg.set(6, "birth_date", Val::Num(date_to_serial(b)));
    // Full-width digits, a lowercase x, spaces and U+3000 around an ID.
    let id = text(&reg, 7, "id_number");
    let wide: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xfee0).unwrap()
            } else {
                c
            }
        })
        .collect();
    reg.set(7, "id_number", Val::Text(format!("\u{3000}{wide} ")));
    let mut x_id = String::new();
    for seq in (12..400).step_by(2) {
        let candidate = with_check_char(&format!("41990119700101{seq:03}"));
        if candidate.ends_with('X') {
            x_id = candidate;
            break;
        }
    }
    let cert = format!("{}{}", x_id, &text(&reg, 8, "cert_number")[18..]);
    reg.set(8, "id_number", Val::Text(x_id.to_lowercase())).set(
        8,
        "cert_number",
        Val::Text(cert.to_lowercase()),
    );
    reg.set(8, "gender", Val::text("女"))
        .set(8, "birth_date", Val::text("1970-01-01"));
    // Numbers stored as text, a phone stored as a number, blank amounts and 低保.
    reg.set(9, "seq", Val::text("10"))
        .set(9, "low_income", Val::text("是"))
        .set(9, "living_subsidy", Val::text("80"));
    reg.set(10, "phone", Val::Num(13812345678.0));
    reg.set(11, "low_income", Val::Blank)
        .set(11, "living_subsidy", Val::Blank)
        .set(11, "nursing_subsidy", Val::Blank);
    reg.set(12, "category", Val::text(" 肢体 "))
        .set(12, "level", Val::text("四级\u{3000}"))
        .set(12, "nursing_subsidy", Val::Blank);
    let cert = format!("{}42", &text(&reg, 12, "id_number"));
    reg.set(12, "cert_number", Val::Text(cert))
        .set(12, "level", Val::text("二级\u{3000}"))
        .set(12, "nursing_subsidy", Val::Num(80.0));
    let path = dir.path().join("马坊乡_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&path).unwrap();
    let (code, json, stderr) = validate_json(&[], &[&path]);
    let f = &json["files"][0];
    assert_eq!(cell_rules(f), vec![], "{json:#}\n{stderr}");
    assert_eq!(code, 0);
    assert_eq!(f["rows"], 40, "blank and template rows are not data");
}

#[test]
fn date_1904_system_is_read_right() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let mut reg = register(&rules, "龙泉镇", 25, 5);
    reg.date1904 = true;
    let path = dir.path().join("龙泉镇_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&path).unwrap();
    let (code, json, _) = validate_json(&[], &[&path]);
    assert_eq!(cell_rules(&json["files"][0]), vec![], "{json:#}");
    assert_eq!(code, 0);
    // One birth date one day off is still caught, on its cell.
    let b = taizhang::checks::cn_id::birth_date(&text(&reg, 3, "id_number")).unwrap();
    reg.set(3, "birth_date", Val::Date(b.succ_opt().unwrap()));
    reg.write(&path).unwrap();
    let (_, json, _) = validate_json(&[], &[&path]);
    assert_eq!(
        cell_rules(&json["files"][0]),
        vec![(reg.cell(3, "birth_date"), "birth_matches_id".to_string())]
    );
    let want = format!("出生日期「{}」", b.succ_opt().unwrap().format("%Y-%m-%d"));
    assert!(json["files"][0]["findings"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with(&want));
}

/// The office-suite fixtures hold the same small register with the same three
/// errors: a wrong check digit in F6, a village of another township in J9, and a
/// 汇总 count one too high in B3. See tests/fixtures/README.md for how they were made.
#[test]
fn office_suite_files_give_the_same_findings() {
    let want = vec![
        ("B3".to_string(), "summary_counts".to_string()),
        ("F6".to_string(), "id_number.cn_id.checksum".to_string()),
        ("J9".to_string(), "village.lookup".to_string()),
    ];
    for name in [
        "石桥镇_登记簿_2026-11.xlsx",
        "石桥镇_登记簿_2026-11_libreoffice.xlsx",
        "石桥镇_登记簿_2026-11.xls",
        "石桥镇_登记簿_2026-11.ods",
        "石桥镇_登记簿_2026-11.xlsm",
    ] {
        let path = root().join("tests/fixtures").join(name);
        let (code, json, stderr) = validate_json(&[], &[&path]);
        let f = &json["files"][0];
        assert_eq!(cell_rules(f), want, "{name}: {json:#}\n{stderr}");
        assert_eq!(code, 1, "{name}");
        assert_eq!(f["rows"], 20, "{name}");
        assert_eq!(f["unit"], "石桥镇", "{name}");
    }
}

/// Writes the source of the office-suite fixtures. Run by tests/fixtures/make.sh.
#[test]
#[ignore = "generates fixtures; run by tests/fixtures/make.sh"]
fn make_office_fixture_source() {
    let rules = rules();
    let mut reg = register(&rules, "石桥镇", 20, 99);
    let id = text(&reg, 2, "id_number");
    let last = if id.ends_with('1') { '2' } else { '1' };
    let bad = format!("{}{last}", &id[..17]);
    let cert = format!("{bad}{}", &text(&reg, 2, "cert_number")[18..]);
    reg.set(2, "id_number", Val::Text(bad))
        .set(2, "cert_number", Val::Text(cert));
    reg.set(5, "village", Val::text("建设路社区"));
    let n = reg.count(Some("视力"), Some("一级"));
    reg.summary_override
        .push(((0, 0), Val::Num((n + 1) as f64)));
    let out =
        std::env::var("FIXTURE_OUT").unwrap_or_else(|_| "/tmp/石桥镇_登记簿_2026-11.xlsx".into());
    reg.write(std::path::Path::new(&out)).unwrap();
}
