//! What clerks see: the county workbook printed through LibreOffice, notices read
//! with a mail parser, the annotated copy read with openpyxl, rules edited the way
//! county staff edit them, the daemon's console, a quarantined file released.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use taizhang::samples::Val;

/// A page of a PDF as text.
fn page_text(pdf: &Path, page: usize) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout", "-f", &page.to_string(), "-l", &page.to_string()])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Prints a workbook to PDF the way a clerk would, with LibreOffice.
fn print_to_pdf(xlsx: &Path, dir: &Path) -> PathBuf {
    soffice_convert(xlsx, "pdf", dir, &dir.join("lo-profile"))
}

fn pages(pdf: &Path) -> usize {
    let out = Command::new("pdfinfo").arg(pdf).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().parse().unwrap()))
        .unwrap()
}

#[test]
fn the_county_workbook_prints_as_clerks_need() {
    let site = Site::new();
    let rules = rules();
    for (i, unit) in ["柳河镇", "石桥镇", "清泉镇"].iter().enumerate() {
        site.drop_in(
            &register(&rules, unit, 400, 40 + i as u64),
            &format!("{unit}_残疾人信息登记簿_2026-11.xlsx"),
        );
    }
    assert!(site.run_once(&[]).status.success());
    let wb = site.county_workbook();
    let dir = site.root.join("print");
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = print_to_pdf(&wb, &dir);
    let n = pages(&pdf);
    let mut by_sheet: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for p in 1..=n {
        let text = page_text(&pdf, p);
        let head = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        // The print title: county, kind, period, as of when; the sheet's name at the right.
        assert!(
            head.contains("安和县 残疾人信息登记簿 2026-11 全县汇总（数据截至 "),
            "page {p}: {head}"
        );
        let sheet = head.split_whitespace().last().unwrap().to_string();
        by_sheet.entry(sheet).or_default().push(text);
    }
    assert_eq!(by_sheet["报送情况"].len(), 1, "{n} pages");
    assert_eq!(by_sheet["跨乡镇重复"].len(), 1);
    // 分乡镇统计 (42 columns) prints first, across pages with its row labels on each.
    assert!(page_text(&pdf, 1).contains("分乡镇统计"));
    let stats = &by_sheet["分乡镇统计"];
    assert!(stats.len() >= 2, "{}", stats.len());
    for page in stats {
        assert!(
            page.contains("乡镇名称") && page.contains("柳河镇"),
            "{page}"
        );
    }
    // 1,200 rows: several pages (too wide for one page at a readable size, so
    // also across), each with the header row and the unit columns repeated.
    let detail = &by_sheet["全县明细"];
    assert!(detail.len() >= 2, "{}", detail.len());
    for page in detail {
        assert!(
            page.contains("乡镇代码") && page.contains("乡镇名称"),
            "{page}"
        );
    }
    assert!(detail.iter().any(|p| p.contains("原表行号")));
    assert!(stats.iter().all(|p| !p.contains("###")));
    let size = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    assert!(
        String::from_utf8_lossy(&size.stdout).contains("841.89 x 595.3"),
        "A4 landscape"
    );

    // Every amount column is wide enough for its widest value as Excel shows it.
    let widths = python(
        r#"
import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1])['分乡镇统计']
for col in range(1, ws.max_column + 1):
    letter = openpyxl.utils.get_column_letter(col)
    fmt_cells = [ws.cell(r, col) for r in range(3, ws.max_row + 1)]
    money = [c.value for c in fmt_cells if c.number_format == '#,##0.00' and c.value is not None]
    if money:
        print(ws.column_dimensions[letter].width, max(len(f'{v:,.2f}') for v in money))
"#,
        &[&wb],
    );
    let lines: Vec<&str> = widths.lines().collect();
    assert_eq!(lines.len(), 2, "{widths}");
    for l in lines {
        let (w, need) = l.split_once(' ').unwrap();
        let (w, need): (f64, f64) = (w.parse().unwrap(), need.parse().unwrap());
        assert!(w >= need + 2.0, "{l}");
    }
}

#[test]
fn notices_read_right_and_their_files_are_named_for_clerks() {
    let site = Site::new();
    let rules = rules();
    let bad = drop_clean_and_bad(&site, &rules, |r| {
        r.set(3, "id_number", Val::Num(4.1990119850312e17));
    });
    assert!(site.run_once(&[]).status.success());
    let mut names: Vec<String> = names_in(&site.outbox().join("mail"));
    names.sort();
    assert_eq!(
        names,
        ["柳河镇_2026-11_通过_1.eml", "石桥镇_2026-11_退回_2.eml"]
    );
    let got = mails(&site);
    let receipt = &got[0].2;
    assert!(
        !receipt.contains("0 处提醒") && !receipt.contains("提醒请核实"),
        "{receipt}"
    );
    let raw = std::fs::read(site.outbox().join("mail").join(&names[0])).unwrap();
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert!(
        !m.body_html(0).unwrap().contains("<table"),
        "no empty table"
    );
    let rejection = &got[1].2;
    let name = match &bad.rows[3]["name"] {
        Val::Text(t) => t.clone(),
        _ => unreachable!(),
    };
    let row = bad.sheet_row(3) + 1;
    let cell = bad.cell(3, "id_number");
    assert!(
        // The ID masked in the body (the attachment keeps it whole).
        rejection.contains(&format!("第 {row} 行 {name} {cell}「身份证号」填写「419901********0000」：身份证号被存成了数字（在 Excel 中显示为 4.19901E+17 这样的科学计数法）")),
        "{rejection}"
    );
    assert!(!rejection.contains("0 处提醒"), "{rejection}");
    // Nothing left the machine, and status says so.
    let out = site.cmd(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("已写入") && text.contains("2 封（未配置邮件服务器，未实际发送）"),
        "{text}"
    );
}

#[test]
fn a_released_quarantine_file_goes_on_under_its_own_name() {
    let site = Site::new();
    let mut reg = register(&rules(), "柳河镇", 5, 3);
    reg.title = false;
    site.drop_in(&reg, "登记簿_2026-11.xlsx");
    assert!(site.run_once(&[]).status.success());
    let q = site.outbox().join("quarantine");
    let note = std::fs::read_to_string(q.join("1-登记簿_2026-11.xlsx.原因.txt")).unwrap();
    let archived = site.state().join("archive");
    assert!(
        note.contains(&format!("原件存档：{}", archived.display())),
        "{note}"
    );
    let received = note.lines().find(|l| l.starts_with("收到时间：")).unwrap();
    assert!(
        !received.contains('T') && received.len() == "收到时间：2026-11-30 01:00".len(),
        "{received}"
    );
    // The admin releases it into 柳河镇's folder.
    let folder = site.inbox().join("柳河镇");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        q.join("1-登记簿_2026-11.xlsx"),
        folder.join("1-登记簿_2026-11.xlsx"),
    )
    .unwrap();
    assert!(site.run_once(&[]).status.success());
    let status = site.status();
    assert_eq!(status["quarantined"], serde_json::json!([]), "{status:#}");
    let u = unit_status(&status, "柳河镇");
    assert_eq!(
        (u["status"].as_str(), u["file"].as_str()),
        (Some("已通过"), Some("登记簿_2026-11.xlsx"))
    );
    let receipt = mails(&site)
        .into_iter()
        .find(|m| m.0 == "cl-liuhe@anhe.example.gov.cn")
        .unwrap();
    assert!(
        receipt.2.contains("文件「登记簿_2026-11.xlsx」"),
        "{}",
        receipt.2
    );
    assert_eq!(
        sheet(&site.county_workbook(), "报送情况")[4][3],
        "登记簿_2026-11.xlsx"
    );
}

/// Whether `unit` stands at `status` (false while nothing is judged yet).
fn unit_is(site: &Site, unit: &str, status: &str) -> bool {
    site.status()["periods"][0]["units"]
        .as_array()
        .is_some_and(|us| {
            us.iter()
                .any(|u| u["unit"] == unit && u["status"] == status)
        })
}

fn check_rules(dir: &Path) -> (i32, String) {
    let out = bin().arg("check-rules").arg(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn rules_that_would_reject_every_file_are_refused_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, bad) in ["\"80\"", "\"八十\""].iter().enumerate() {
        let d = edited_rules(&tmp.path().join(i.to_string()), |name, t| {
            if name == "county.toml" {
                t.replace("\"二级\" = 80", &format!("\"二级\" = {bad}"))
            } else {
                t
            }
        });
        let line = std::fs::read_to_string(d.join("county.toml"))
            .unwrap()
            .lines()
            .position(|l| l.starts_with("\"二级\""))
            .unwrap()
            + 1;
        let (code, text) = check_rules(&d);
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains(&format!(
                "county.toml:{line}: 补贴标准 standards.nursing_subsidy.二级 应为数字"
            )),
            "{text}"
        );
    }
    // Five mistakes in four files: all of them in one run, in Chinese, each where it is.
    let d = edited_rules(&tmp.path().join("many"), |name, t| match name {
        "county.toml" => t.replace("name = \"安和县\"", "name = 安和县"),
        "register.toml" => t.replacen("type = \"text\"", "type = \"txt\"", 1),
        "notices.toml" => t.replace("max_items = 30", "max_items = \"30\""),
        _ => t,
    });
    let (code, text) = check_rules(&d);
    assert_eq!(code, 2);
    for want in [
        "county.toml:6: TOML 格式错误：文字值必须加英文双引号",
        "register.toml:",
        "「txt」不是可用的取值，可用：text、integer、money、date、month、enum",
        "notices.toml:",
        "类型不对：写的是文字 \"30\"，这里应为整数（数字不加引号）",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    assert!(!text.contains("expected"), "{text}");
    let d = edited_rules(&tmp.path().join("csv"), |name, t| match name {
        "townships.csv" => t.replace("cl-liuhe@anhe.example.gov.cn", "cl-liuhe(at)anhe"),
        "register.toml" => t.replacen("key = \"phone\"", "key = \"phone\"\nregex = \"[0-9\"", 1),
        _ => t,
    });
    let (code, text) = check_rules(&d);
    assert_eq!(code, 2);
    assert!(
        text.contains("townships.csv:5: 乡镇「柳河镇」的联系邮箱「cl-liuhe(at)anhe」格式不正确"),
        "{text}"
    );
    assert!(
        text.contains("列「phone」的正则表达式无效：方括号 [ 没有闭合"),
        "{text}"
    );
}

#[test]
fn a_villages_list_saved_by_excel_on_chinese_windows_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = edited_rules(tmp.path(), |_, t| t);
    let utf8 = std::fs::read_to_string(d.join("villages.csv")).unwrap();
    let (gbk, _, bad) = encoding_rs::GBK.encode(&utf8);
    assert!(!bad);
    std::fs::write(d.join("villages.csv"), &gbk).unwrap();
    let (code, text) = check_rules(&d);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("villages.csv 不是 UTF-8 编码，已按 GBK（GB18030）读取"),
        "{text}"
    );
    // The villages are read right: a clean file's villages are all found.
    let p = tmp.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    register(&rules(), "柳河镇", 20, 5).write(&p).unwrap();
    let (code, json, _) = validate_json_with(&d, &[], &[&p]);
    assert_eq!(
        (code, &json["files"][0]["findings"]),
        (0, &serde_json::json!([]))
    );
}

#[test]
fn the_running_daemon_takes_edited_rules_only_when_they_pass() {
    let site = Site::new();
    let rules_copy = edited_rules(&site.root, |_, t| t);
    let daemon = site.watch_with_rules(&rules_copy, &["--poll", "0.3"]);
    let rules = rules();
    // A file with living subsidies of 80: accepted under the shipped standard.
    let with_subsidy = |unit: &str, seed: u64| {
        let r = register(&rules, unit, 30, seed);
        let i = (0..r.rows.len())
            .find(|i| matches!(r.rows[*i].get("living_subsidy"), Some(Val::Num(x)) if *x > 0.0))
            .expect("a row with 生活补贴");
        let cell = r.cell(i, "living_subsidy");
        (r, cell)
    };
    let (a, _) = with_subsidy("柳河镇", 1);
    site.drop_in(&a, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("柳河镇 judged", Duration::from_secs(20), || {
        unit_is(&site, "柳河镇", "已通过")
    });
    let v1 = site.status()["rules"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    // County staff raise 生活补贴 to 90.
    let county = rules_copy.join("county.toml");
    let text = std::fs::read_to_string(&county).unwrap();
    std::fs::write(
        &county,
        text.replace("living_subsidy = 80", "living_subsidy = 90"),
    )
    .unwrap();
    wait_for("the new rules in force", Duration::from_secs(20), || {
        site.status()["rules"]["version"].as_str() != Some(v1.as_str())
    });
    let (b, cell) = with_subsidy("石桥镇", 2);
    site.drop_in(&b, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("石桥镇 judged", Duration::from_secs(20), || {
        unit_is(&site, "石桥镇", "已退回")
    });
    let status = site.status();
    let v2 = status["rules"]["version"].as_str().unwrap().to_string();
    assert_eq!(unit_status(&status, "柳河镇")["rules_version"], v1.as_str());
    assert_eq!(unit_status(&status, "石桥镇")["rules_version"], v2.as_str());
    let rejection = mails(&site)
        .into_iter()
        .find(|m| m.0 == "cl-shiqiao@anhe.example.gov.cn")
        .unwrap();
    assert!(
        rejection.2.contains(&cell) && rejection.2.contains("生活补贴应为标准 90 元/月"),
        "{}",
        rejection.2
    );
    // A broken edit: the 90 rules stay, and the admin is told once.
    std::fs::write(&county, "[county\nname = ").unwrap();
    wait_for("the admin told", Duration::from_secs(20), || {
        mails(&site)
            .iter()
            .any(|m| m.1.contains("规则文件修改有误"))
    });
    let (c, _) = with_subsidy("清泉镇", 3);
    site.drop_in(&c, "清泉镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("清泉镇 judged", Duration::from_secs(20), || {
        unit_is(&site, "清泉镇", "已退回")
    });
    assert_eq!(
        unit_status(&site.status(), "清泉镇")["rules_version"],
        v2.as_str()
    );
    let told: Vec<_> = mails(&site)
        .into_iter()
        .filter(|m| m.1.contains("规则文件修改有误"))
        .collect();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0, "admin@anhe.example.gov.cn");
    assert!(
        told[0].2.contains("county.toml:1: TOML 格式错误"),
        "{}",
        told[0].2
    );
    let log = stop(daemon);
    // The console: local times, readable counts.
    let line = log
        .lines()
        .find(|l| l.contains("柳河镇_残疾人信息登记簿_2026-11.xlsx: accepted"))
        .unwrap();
    let now = chrono::Local::now().format("%Y-%m-%d ").to_string();
    assert!(
        line.starts_with(&now) && !line.contains('Z') && !line.contains("taizhang::"),
        "{line}"
    );
    assert!(line.contains("30 rows, 0 errors, 0 warnings"), "{line}");
}

#[test]
fn the_annotated_copy_reads_like_the_clerks_own_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let mut reg = register(&rules, "石桥镇", 12, 7);
    reg.set(3, "id_number", Val::Num(4.1990119850312e17));
    let p = dir.path().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    reg.write(&p).unwrap();
    let out_dir = dir.path().join("out");
    let out = bin()
        .args(["validate", "--rules"])
        .arg(rules_dir())
        .arg("--annotate")
        .arg(&out_dir)
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let copy = out_dir.join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let text = python(
        r#"
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
d = wb['残疾人信息']
print(d['A3'].font.b, d['F3'].font.b, d.freeze_panes, d.print_title_rows)
print(d.column_dimensions['F'].width >= 20)
l = wb['问题清单']
print('|'.join(str(l.cell(4, c).value) for c in range(1, 9)))
print(l.cell(5, 5).value)
print(l.cell(5, 8).alignment.wrap_text, l.page_setup.orientation, l.sheet_properties.pageSetUpPr.fitToPage, l.print_title_rows)
"#,
        &[&copy],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "True True A4 $3:$3", "{text}");
    assert_eq!(lines[1], "True");
    assert_eq!(
        lines[2],
        "序号|级别|工作表|单元格|姓名|列名|填写内容|问题说明"
    );
    let name = match &reg.rows[3]["name"] {
        Val::Text(t) => t.clone(),
        _ => unreachable!(),
    };
    assert_eq!(lines[3], name);
    assert_eq!(lines[4], "True landscape True $4:$4");
}

#[test]
fn the_command_line_speaks_chinese_and_finds_its_rules() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for want in [
        "用法：taizhang <命令>",
        "命令:",
        "选项:",
        "显示本说明",
        "持续运行（按 Ctrl-C 停止）",
    ] {
        assert!(help.contains(want), "{want} not in {help}");
    }
    assert!(
        !help.contains("Usage") && !help.contains("Print help"),
        "{help}"
    );
    let out = bin().args(["validate", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("用法：taizhang validate [选项] <文件>...") && !help.contains("[default"),
        "{help}"
    );
    let out = bin()
        .args(["validate", "--bogus", "x.xlsx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "错误：不认识的参数「--bogus」\n用法：taizhang validate [选项] <文件>...\n运行 taizhang --help 或 taizhang <命令> --help 查看说明\n"
    );
    // Run from another folder: the rules beside the binary are found; with none, a hint.
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("taizhang");
    std::fs::create_dir_all(&home).unwrap();
    let exe = home.join("taizhang");
    std::fs::copy(env!("CARGO_BIN_EXE_taizhang"), &exe).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = Command::new(&exe)
        .arg("check-rules")
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("找不到规则目录「rules」") && err.contains("用 --rules 指定规则目录"),
        "{err}"
    );
    edited_rules(&home, |_, t| t);
    let out = Command::new(&exe)
        .arg("check-rules")
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("规则目录 {} 无误", home.join("rules").display())),
        "{text}"
    );
    // A missing file is said in Chinese, without the OS's English.
    let (code, json, _) = validate_json(&[], &[&elsewhere.join("没有这个文件.xlsx")]);
    assert_eq!(code, 2);
    assert_eq!(json["files"][0]["fatal"], "无法打开文件：文件或目录不存在");
    // Many files piped: no progress bar, nothing on stderr.
    let mut files = Vec::new();
    for (i, unit) in ["柳河镇", "石桥镇", "清泉镇"].iter().enumerate() {
        let p = tmp
            .path()
            .join(format!("{unit}_残疾人信息登记簿_2026-11.xlsx"));
        register(&rules(), unit, 5, i as u64).write(&p).unwrap();
        files.push(p);
    }
    let out = bin()
        .env("TAIZHANG_NOW", "2026-11-30T09:00:00+08:00")
        .args(["validate", "--rules"])
        .arg(rules_dir())
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn validating_many_files_on_a_terminal_shows_progress() {
    // `script` (util-linux, in every Debian) gives the command a terminal.
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, unit) in ["柳河镇", "石桥镇", "清泉镇", "白沙镇"].iter().enumerate() {
        let p = dir
            .path()
            .join(format!("{unit}_残疾人信息登记簿_2026-11.xlsx"));
        register(&rules(), unit, 50, i as u64).write(&p).unwrap();
        files.push(p.display().to_string());
    }
    let cmdline = format!(
        "{} validate --rules {} {}",
        env!("CARGO_BIN_EXE_taizhang"),
        rules_dir().display(),
        files.join(" ")
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmdline, "/dev/null"])
        .env("TAIZHANG_NOW", "2026-11-30T09:00:00+08:00")
        .output()
        .expect("script (util-linux)");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(seen.contains("已校验") && seen.contains("个文件"), "{seen}");
    assert!(seen.contains("结论：通过"), "{seen}");
}

/// A notice's bodies (text and HTML) show a wrong ID masked — precise about
/// what is wrong without the full number — while the attachment, the
/// township's own workbook annotated, keeps it whole.
#[test]
fn a_notice_body_masks_the_id_its_attachment_keeps_it() {
    let site = Site::new();
    let rules = rules();
    let mut bad = register(&rules, "石桥镇", 8, 7);
    let Some(Val::Text(id)) = bad.rows[2].get("id_number").cloned() else {
        panic!("a sample ID is text");
    };
    let last = if id.ends_with('1') { '2' } else { '1' };
    let wrong = format!("{}{last}", &id[..17]);
    bad.set(2, "id_number", Val::text(wrong.clone()));
    site.drop_in(&bad, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    site.run_once_ok();
    let raw = the_mail(&site);
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let text = m.body_text(0).unwrap().to_string();
    let html = m.body_html(0).unwrap().to_string();
    let masked = format!("{}********{}", &wrong[..6], &wrong[14..]);
    for body in [&text, &html] {
        assert!(!body.contains(&wrong), "{body}");
        assert!(body.contains(&masked), "{masked}: {body}");
        assert!(body.contains("校验位错误"), "{body}");
    }
    assert!(!m.subject().unwrap_or("").contains(&wrong));
    let attachment = m.attachment(0).unwrap().contents().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(attachment)).unwrap();
    let mut whole = false;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut f, &mut s);
        whole |= s.contains(&wrong);
    }
    assert!(whole, "the annotated copy keeps the full ID");
}

/// Two saves in a row: the first (good) is copied, and a second (broken) lands
/// before the copy is linted. What goes into force is the linted copy, never
/// the unlinted folder; the broken save is judged on the next pass, refused,
/// and the admin told. (A debug-only hook pauses the daemon after the copy.)
#[test]
fn a_save_landing_between_the_copy_and_the_lint_never_goes_into_force_unlinted() {
    let site = Site::new();
    let rules_copy = edited_rules(&site.root, |_, t| t);
    let daemon = site
        .cmd_with_rules(
            &["watch", "--settle", "0.3", "--web", "off", "--poll", "0.2"],
            &rules_copy,
        )
        .env("TAIZHANG_RULES_COPY_PAUSE_MS", "1500")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the rules in force", Duration::from_secs(20), || {
        site.status()["rules"]["version"].is_string()
    });
    let v1 = site.status()["rules"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let county = rules_copy.join("county.toml");
    let text = std::fs::read_to_string(&county).unwrap();
    // First save: 生活补贴 90. Wait until the daemon has copied it…
    std::fs::write(
        &county,
        text.replace("living_subsidy = 80", "living_subsidy = 90"),
    )
    .unwrap();
    let candidate = site.state().join("rules-candidate");
    wait_for("the copy", Duration::from_secs(20), || candidate.exists());
    // …then the second, broken save lands before the copy is linted.
    std::fs::write(&county, "[county\nname = ").unwrap();
    wait_for("the admin told", Duration::from_secs(30), || {
        mails(&site)
            .iter()
            .any(|m| m.1.contains("规则文件修改有误"))
    });
    // In force: the good save (linted), not the broken folder.
    let v2 = site.status()["rules"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(v2, v1);
    let in_force =
        std::fs::read_to_string(site.state().join("rules-in-force").join("county.toml")).unwrap();
    assert!(in_force.contains("living_subsidy = 90"), "{in_force}");
    let rules = rules();
    let r = register(&rules, "柳河镇", 10, 1);
    site.drop_in(&r, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("judged", Duration::from_secs(30), || {
        site.status()["periods"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
            && unit_status(&site.status(), "柳河镇")["submission"].is_i64()
            && unit_status(&site.status(), "柳河镇")["status"] != "处理中"
    });
    assert_eq!(
        unit_status(&site.status(), "柳河镇")["rules_version"],
        v2.as_str()
    );
    let st = site.status();
    assert!(st["quarantined"].as_array().unwrap().is_empty(), "{st:#}");
    stop(daemon);
}

/// Word heights of each page of a PDF (poppler's word boxes), smallest first.
fn word_heights(pdf: &Path) -> Vec<f64> {
    let out = Command::new("pdftotext")
        .args(["-bbox"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext");
    let html = String::from_utf8_lossy(&out.stdout).to_string();
    let attr = |l: &str, a: &str| -> f64 {
        let at = l.find(&format!("{a}=\"")).unwrap() + a.len() + 2;
        l[at..].split('"').next().unwrap().parse().unwrap()
    };
    let mut pages: Vec<f64> = Vec::new();
    for l in html.lines() {
        if l.contains("<page ") {
            pages.push(f64::MAX);
        } else if l.contains("<word ") {
            let h = attr(l, "yMax") - attr(l, "yMin");
            let last = pages.last_mut().unwrap();
            *last = last.min(h);
        }
    }
    pages
}

/// How tall poppler measures 6 pt text that LibreOffice prints with the fonts
/// of this machine (the county workbook's font, Calibri or its stand-in).
fn six_point_height(dir: &Path) -> f64 {
    let xlsx = dir.join("six.xlsx");
    python(
        r#"
import sys, openpyxl
from openpyxl.styles import Font
wb = openpyxl.Workbook(); ws = wb.active
ws['A1'] = '柳河镇 419901 应发'; ws['A1'].font = Font(name='Calibri', size=6)
wb.save(sys.argv[1])
"#,
        &[&xlsx],
    );
    let pdf = print_to_pdf(&xlsx, dir);
    word_heights(&pdf)[0]
}

/// The demo's county workbooks printed by LibreOffice: statistics first, no text
/// under 6 pt on any page, the 制表人 / 审核人 line with the names of county.toml,
/// 应发未发 with its amounts and every 残疾人证号 whole, no phone number clipped.
#[test]
fn the_county_workbooks_print_statistics_first_and_readable() {
    let site = Site::new();
    let rules = edited_rules(&site.root, |name, text| {
        if name == "county.toml" {
            text.replace("prepared_by = \"\"", "prepared_by = \"王丽\"")
                .replace("reviewed_by = \"\"", "reviewed_by = \"张建国\"")
        } else {
            text
        }
    });
    succeeded(
        bin()
            .args(["demo", "--period", "2026-11", "--dir"])
            .arg(site.inbox())
            .arg("--rules")
            .arg(&rules)
            .output()
            .unwrap(),
    );
    succeeded(
        site.cmd_with_rules(&["run", "--once", "--settle", "0.2"], &rules)
            .output()
            .unwrap(),
    );
    let dir = site.root.join("print");
    std::fs::create_dir_all(&dir).unwrap();
    let six = six_point_height(&dir);
    for (kind, stats_sheet) in [
        ("残疾人信息登记簿", "分乡镇统计"),
        ("两项补贴发放台账", "分乡镇发放统计"),
    ] {
        let wb = site
            .outbox()
            .join(format!("安和县_{kind}_2026-11_全县汇总.xlsx"));
        let pdf = print_to_pdf(&wb, &dir);
        let heights = word_heights(&pdf);
        for (p, h) in heights.iter().enumerate() {
            assert!(
                *h >= six * 0.98,
                "{kind} page {}: {h} < {six} (6 pt)",
                p + 1
            );
        }
        let text: Vec<String> = (1..=heights.len()).map(|p| page_text(&pdf, p)).collect();
        assert!(text[0].contains(stats_sheet), "{}", text[0]);
        let squeezed = |t: &str| t.split_whitespace().collect::<String>();
        assert!(
            squeezed(&text[0]).contains("制表人：王丽审核人：张建国制表日期：2026年"),
            "{}",
            text[0]
        );
        let all = squeezed(&text.concat());
        // Every value of these columns prints whole.
        let cells = python(
            r#"
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
for ws in wb.worksheets:
    heads = [c.value for c in ws[1]]
    for col, h in enumerate(heads):
        if h in ('残疾人证号', '联系电话', '应发金额（元/月）', '原文件'):
            for r in range(2, ws.max_row + 1):
                v = ws.cell(r, col + 1).value
                if v is not None and ws.cell(r, 1).value:
                    print(ws.title, h, f'{v:,.2f}' if isinstance(v, float) else v, sep='\t')
"#,
            &[&wb],
        );
        let mut seen = std::collections::BTreeSet::new();
        for line in cells.lines() {
            let mut f = line.split('\t');
            let (sheet, head, value) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            seen.insert(format!("{sheet}/{head}"));
            assert!(
                all.contains(&squeezed(value)),
                "{sheet} {head}: {value} clipped"
            );
        }
        if kind == "两项补贴发放台账" {
            assert!(seen.contains("应发未发/应发金额（元/月）"), "{seen:?}");
            assert!(seen.contains("应发未发/残疾人证号"), "{seen:?}");
        } else {
            assert!(seen.contains("全县明细/联系电话"), "{seen:?}");
        }
    }
}

/// `status` on 3 December opens on the month due (2026-11) with its deadline,
/// every kind and unit listed before any file came in; with files of another
/// month, the month due still comes first.
#[test]
fn status_opens_on_the_month_due() {
    let site = Site::new();
    let status_at = |now: &str| {
        let out = succeeded(
            site.cmd(&["status"])
                .env("TAIZHANG_NOW", now)
                .output()
                .unwrap(),
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let text = status_at("2026-12-03T09:00:00+08:00");
    assert!(
        text.contains("应报送期间：2026-11（2026-12-05 截止，还剩 2 天）"),
        "{text}"
    );
    let reg = text.find("残疾人信息登记簿　2026-11　（0/13 个单位已通过）");
    let pay = text.find("两项补贴发放台账　2026-11　（0/13 个单位已通过）");
    assert!(reg.is_some() && pay.is_some() && reg < pay, "{text}");
    assert_eq!(text.matches("未报送").count(), 26, "{text}");
    // October's register came in; November is still what is due, and first.
    site.drop_in(
        &register(&rules(), "柳河镇", 5, 1),
        "柳河镇_残疾人信息登记簿_2026-10.xlsx",
    );
    site.run_once_ok();
    let text = status_at("2026-12-07T09:00:00+08:00");
    assert!(text.contains("（2026-12-05 截止，已逾期 2 天）"), "{text}");
    let nov = text.find("残疾人信息登记簿　2026-11").unwrap();
    let oct = text
        .find("残疾人信息登记簿　2026-10　（1/13 个单位已通过）")
        .unwrap();
    assert!(nov < oct, "{text}");
}
