//! Bad input gets a clear answer, never a crash: each hostile or broken file ends
//! in exit 2 with a message naming the reason, quickly and in bounded memory; every
//! file of the shared real-world corpus ends in a normal exit.

use crate::common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MAX_TIME: Duration = Duration::from_secs(10);
const MAX_RSS_KIB: u64 = 300 * 1024;

fn fatal_of(path: &Path) -> (i32, String) {
    let mut cmd = bin();
    cmd.args(["validate", "--format", "json", "--rules"])
        .arg(rules_dir())
        .arg(path);
    let (out, took, rss) = run_measured(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{}: panic: {stderr}",
        path.display()
    );
    assert!(took < MAX_TIME, "{}: took {took:?}", path.display());
    if let Some(kib) = rss {
        assert!(kib < MAX_RSS_KIB, "{}: peak RSS {kib} KiB", path.display());
    }
    let json: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{}: {e}: {stdout}", path.display()));
    let fatal = json["files"][0]["fatal"].as_str().unwrap_or("").to_string();
    (out.status.code().unwrap_or(-1), fatal)
}

fn good_file(dir: &Path) -> PathBuf {
    let rules = rules();
    let p = dir.join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    register(&rules, "柳河镇", 30, 3).write(&p).unwrap();
    p
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("柳河镇_登记簿_2026-11.xlsx");
    std::fs::write(&p, b"").unwrap();
    assert_eq!(
        fatal_of(&p),
        (2, "文件为空（0 字节），请重新保存后再报送".to_string())
    );
}

#[test]
fn text_file_renamed_xlsx() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("柳河镇_登记簿_2026-11.xlsx");
    std::fs::write(&p, "姓名,身份证号\n张三,110105194912310021\n").unwrap();
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert!(fatal.starts_with("不是电子表格文件"), "{fatal}");
}

#[test]
fn truncated_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(good_file(dir.path())).unwrap();
    let p = dir.path().join("石桥镇_登记簿_2026-11.xlsx");
    std::fs::write(&p, &good[..good.len() / 2]).unwrap();
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert!(fatal.starts_with("文件不完整或已损坏"), "{fatal}");
}

#[test]
fn corrupt_zip_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(good_file(dir.path())).unwrap();
    // Scramble the middle of the compressed data; the central directory stays intact.
    let mid = bytes.len() / 3;
    for b in &mut bytes[mid..mid + 400] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    let p = dir.path().join("石桥镇_登记簿_2026-11.xlsx");
    std::fs::write(&p, &bytes).unwrap();
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert!(fatal.starts_with("文件不完整或已损坏"), "{fatal}");
}

#[test]
fn encrypted_workbook() {
    // Written by msoffcrypto-tool (Agile encryption, password "1234") from a register.
    let p = root().join("tests/fixtures/encrypted_柳河镇_2026-11.xlsx");
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert_eq!(
        fatal,
        "文件设置了打开密码（已加密），系统无法读取，请取消密码后再报送"
    );
}

#[test]
fn sheet_declaring_the_whole_grid() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("柳河镇_登记簿_2026-11.xlsx");
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>"#;
    raw_xlsx(&p, "Sheet1", xml, None);
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert!(fatal.starts_with("无法识别台账类型"), "{fatal}");
    // Also as the register's own sheet: header search, then no rows.
    raw_xlsx(&p, "残疾人信息", xml, None);
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert!(fatal.contains("找不到表头"), "{fatal}");
}

#[test]
fn zip_bomb() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("柳河镇_登记簿_2026-11.xlsx");
    let mut xml = Vec::with_capacity(64 << 20);
    xml.extend_from_slice(br#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#);
    xml.resize(xml.len() + (64 << 20), b' ');
    xml.extend_from_slice(b"</sheetData></worksheet>");
    raw_xlsx(&p, "残疾人信息", &xml, Some(9));
    assert!(
        std::fs::metadata(&p).unwrap().len() < 1 << 20,
        "the bomb is small on disk"
    );
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert!(fatal.starts_with("文件异常：解压后体积过大"), "{fatal}");
}

#[test]
fn unknown_ledger_kind_names_the_sheets() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("柳河镇_工资表_2026-11.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("工资").unwrap();
    ws.write_string(0, 0, "工号").unwrap();
    ws.write_string(0, 1, "金额").unwrap();
    wb.save(&p).unwrap();
    let (code, fatal) = fatal_of(&p);
    assert_eq!(code, 2);
    assert!(
        fatal.starts_with("无法识别台账类型") && fatal.ends_with("本文件的工作表：工资"),
        "{fatal}"
    );
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let bad = dir.path().join("石桥镇_登记簿_2026-11.xlsx");
    std::fs::write(&bad, b"not a workbook").unwrap();
    let (code, json, _) = validate_json(&[], &[&bad, &good]);
    assert_eq!(code, 2);
    assert!(json["files"][0]["fatal"].is_string());
    assert!(json["files"][1]["fatal"].is_null());
    assert_eq!(json["files"][1]["rows"], 30);
}

#[test]
fn shared_corpus_never_panics() {
    let dir = corpus();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "the shared corpus must be at {} (or set TAIZHANG_SHARED to the shared folder): {e}",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 100, "corpus has {} files", files.len());
    for f in &files {
        for cmd in ["validate", "inspect"] {
            let mut c = bin();
            c.arg(cmd);
            if cmd == "validate" {
                c.args(["--format", "json", "--rules"]).arg(rules_dir());
            }
            c.arg(f);
            let (out, took, rss) = run_measured(&mut c);
            let code = out.status.code();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(code, Some(0..=2)),
                "{} ({cmd}): exit {code:?}: {stderr}",
                f.display()
            );
            assert!(
                !stderr.contains("panicked"),
                "{} ({cmd}): {stderr}",
                f.display()
            );
            assert!(took < MAX_TIME, "{} ({cmd}): took {took:?}", f.display());
            if let Some(kib) = rss {
                assert!(
                    kib < MAX_RSS_KIB,
                    "{} ({cmd}): peak RSS {kib} KiB",
                    f.display()
                );
            }
            if cmd == "validate" {
                let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let file = &json["files"][0];
                if code == Some(2) {
                    assert!(
                        !file["fatal"].as_str().unwrap_or("").is_empty(),
                        "{}: exit 2 without a message",
                        f.display()
                    );
                }
            }
        }
    }
    let _ = std::io::stdout().flush();
}
