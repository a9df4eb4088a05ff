//! The annotated copy a township receives: every sheet and value as sent, problem
//! cells filled and explained, and a first sheet listing every problem with a link.

use crate::common;
use common::*;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use taizhang::workbook::{Book, Cell, Limits};

fn all_cells(path: &Path) -> BTreeMap<String, Vec<(u32, u32, Cell<'static>)>> {
    let mut book = Book::open(path, &Limits::default()).unwrap();
    let mut out = BTreeMap::new();
    for name in book.sheet_names() {
        let mut cells = Vec::new();
        book.for_each_row(&name, |r, row| {
            for (c, v) in row {
                cells.push((r, *c, v.clone().into_owned()));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        out.insert(name, cells);
    }
    out
}

fn annotate(src: &Path, out: &Path) -> std::process::Output {
    bin()
        .args(["validate", "--rules"])
        .arg(rules_dir())
        .arg("--annotate")
        .arg(out)
        .arg(src)
        .output()
        .unwrap()
}

#[test]
fn annotated_copy_keeps_everything_and_marks_problems() {
    let src = root().join("tests/fixtures/石桥镇_登记簿_2026-11.xlsx");
    let dir = tempfile::tempdir().unwrap();
    let out = annotate(&src, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let copy = dir.path().join("石桥镇_登记簿_2026-11.xlsx");
    assert!(copy.exists(), "named after the submitted file");

    let before = all_cells(&src);
    let after = all_cells(&copy);
    let names: Vec<&String> = after.keys().collect();
    assert_eq!(
        Book::open(&copy, &Limits::default()).unwrap().sheet_names(),
        vec!["问题清单", "残疾人信息", "汇总"],
        "{names:?}"
    );
    // Every original sheet is there with the same values: IDs still text, dates still dates.
    for (name, cells) in &before {
        assert_eq!(&after[name], cells, "sheet {name} changed");
    }
    let ids: Vec<&Cell> = after["残疾人信息"]
        .iter()
        .filter(|(r, c, _)| *c == 5 && *r > 2)
        .map(|(_, _, v)| v)
        .collect();
    assert!(
        ids.iter().all(|v| matches!(v, Cell::Text(_))),
        "IDs stay text"
    );
    assert!(
        after["残疾人信息"]
            .iter()
            .any(|(_, c, v)| *c == 4 && matches!(v, Cell::Date(_))),
        "dates stay dates"
    );

    // The list: a row per problem, errors first, each with the cell and message.
    let list: Vec<_> = after["问题清单"]
        .iter()
        .filter(|(r, _, _)| *r >= 4)
        .collect();
    let cell_of = |r: u32, c: u32| {
        list.iter()
            .find(|(rr, cc, _)| *rr == r && *cc == c)
            .map(|(_, _, v)| v.text())
            .unwrap_or_default()
    };
    let listed: Vec<(String, String)> = (4..7).map(|r| (cell_of(r, 2), cell_of(r, 3))).collect();
    assert_eq!(
        listed,
        vec![
            ("残疾人信息".to_string(), "F6".to_string()),
            ("残疾人信息".to_string(), "J9".to_string()),
            ("汇总".to_string(), "B3".to_string())
        ]
    );
    assert!(cell_of(4, 7).contains("校验位错误"));
    assert_eq!(cell_of(7, 0), "", "exactly three problems listed");
}

/// An independent client (openpyxl) sees the fills, notes, links and merges.
#[test]
fn annotated_copy_as_another_client_sees_it() {
    let src = root().join("tests/fixtures/石桥镇_登记簿_2026-11.xls");
    let dir = tempfile::tempdir().unwrap();
    annotate(&src, dir.path());
    let copy = dir.path().join("石桥镇_登记簿_2026-11.xlsx");
    let script = r#"
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
print(wb.sheetnames[0])
ws = wb['问题清单']
links = [ws.cell(r, 4).hyperlink.location for r in range(5, 8)]
print('|'.join(links))
d = wb['残疾人信息']
f6 = d['F6']
print(f6.fill.fgColor.rgb, type(f6.value).__name__)
print(f6.comment.text.splitlines()[1] if f6.comment else 'NO NOTE')
print(d['F7'].comment is None, d['F7'].fill.fgColor.rgb)
print(','.join(str(r) for r in d.merged_cells.ranges))
print(d['E4'].is_date, d.freeze_panes)
s = wb['汇总']
print(s['B3'].fill.fgColor.rgb, s['B3'].value)
"#;
    let text = python(script, &[&copy]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "问题清单");
    assert_eq!(lines[1], "'残疾人信息'!F6|'残疾人信息'!J9|'汇总'!B3");
    assert_eq!(lines[2], "FFFFC7CE str");
    assert!(
        lines[3].starts_with("【错误】身份证号「") && lines[3].contains("校验位错误"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "True 00000000");
    assert_eq!(lines[5], "A1:S1");
    assert_eq!(lines[6], "True A4");
    assert_eq!(lines[7], "FFFFC7CE 3");
}

#[test]
fn annotated_copy_never_overwrites_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("石桥镇_登记簿_2026-11.xlsx");
    std::fs::copy(
        root().join("tests/fixtures/石桥镇_登记簿_2026-11.xlsx"),
        &src,
    )
    .unwrap();
    let original = std::fs::read(&src).unwrap();
    annotate(&src, dir.path());
    assert_eq!(std::fs::read(&src).unwrap(), original);
    assert!(dir.path().join("石桥镇_登记簿_2026-11_批注.xlsx").exists());
}
