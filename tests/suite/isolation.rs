//! One bad file never stops the county: each file is read in a worker process
//! bounded in time and memory. On the real binary: a file that makes the reader
//! reserve ~100 GB, a worker that aborts, a worker that hangs, and a file during
//! which the daemon itself is killed twice are each answered and set aside, and
//! the files beside them are processed normally.

#![cfg(unix)]

use crate::common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// A clean register whose `xl/sharedStrings.xml` declares 4,294,967,295 unique
/// strings: calamine reserves room for all of them (about 100 GB) and the
/// process aborts (not a panic: `catch_unwind` cannot help).
fn hostile_shared_strings(rules: &taizhang::rules::RuleSet, unit: &str, dest: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean.xlsx");
    register(rules, unit, 6, 11).write(&clean).unwrap();
    rewrite_part(&clean, dest, "xl/sharedStrings.xml", |text| {
        let at = text.find("uniqueCount=\"").unwrap() + "uniqueCount=\"".len();
        let end = at + text[at..].find('"').unwrap();
        format!("{}4294967295{}", &text[..at], &text[end..])
    });
}

fn quarantined(st: &Value) -> Vec<(String, String)> {
    st["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["file"].as_str().unwrap().to_string(),
                q["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_file_that_makes_the_reader_reserve_100_gb_is_answered_and_the_daemon_goes_on() {
    let rules = rules();
    let site = Site::new();
    hostile_shared_strings(
        &rules,
        "柳河镇",
        &site.inbox().join("柳河镇_残疾人信息登记簿_2026-11.xlsx"),
    );
    site.drop_in(
        &register(&rules, "石桥镇", 8, 2),
        "石桥镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let mut daemon = site.watch(&[]);
    let started = Instant::now();
    loop {
        let st = site.status();
        if st["periods"].as_array().is_some_and(|p| !p.is_empty())
            && unit_status(&st, "石桥镇")["status"] == "已通过"
            && !quarantined(&st).is_empty()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = daemon.kill();
            let out = daemon.wait_with_output().unwrap();
            panic!(
                "timed out waiting for both files answered: {st:#}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon is still running"
    );
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let out = daemon.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let st = site.status();
    let q = quarantined(&st);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].0, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    assert_eq!(
        q[0].1, "文件异常，无法读取：解析时内存超限（上限 1024 MB）",
        "{log}"
    );
    // Set aside for the admin, with the original bytes.
    let names: Vec<String> = names_in(&site.outbox().join("quarantine"));
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("柳河镇_残疾人信息登记簿_2026-11.xlsx")),
        "{names:?}"
    );
    // The admin and 柳河镇 are told; 石桥镇 gets its receipt.
    let mails: Vec<(String, String)> = mails(&site).into_iter().map(|(t, s, _)| (t, s)).collect();
    let to: Vec<&str> = mails.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        to,
        vec![
            "admin@anhe.example.gov.cn",
            "cl-liuhe@anhe.example.gov.cn",
            "cl-shiqiao@anhe.example.gov.cn"
        ],
        "{mails:?}"
    );
    // The quarantined file does not count: 柳河镇 has not reported.
    assert_eq!(unit_status(&st, "柳河镇")["status"], "未报送");
}

#[test]
fn validate_ends_a_hostile_file_with_exit_2_and_a_message() {
    let rules = rules();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    hostile_shared_strings(&rules, "柳河镇", &bad);
    let good = dir.path().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    register(&rules, "石桥镇", 5, 1).write(&good).unwrap();
    let (code, json, stderr) = validate_json(&[], &[&bad, &good]);
    assert_eq!(code, 2, "{stderr}");
    let files = json["files"].as_array().unwrap();
    assert_eq!(
        files[0]["fatal"],
        "文件异常，无法读取：解析时内存超限（上限 1024 MB）"
    );
    assert_eq!(files[1]["fatal"], Value::Null);
    assert_eq!(files[1]["errors"], 0);
    assert_eq!(files[1]["rows"], 5);
}

#[test]
fn a_worker_that_aborts_is_an_outcome_for_that_file_only() {
    let rules = rules();
    let site = Site::new();
    site.drop_in(
        &register(&rules, "高庙乡", 7, 5),
        "高庙乡_残疾人信息登记簿_2026-11.xlsx",
    );
    site.drop_in(
        &register(&rules, "石桥镇", 8, 2),
        "石桥镇_残疾人信息登记簿_2026-11.xlsx",
    );
    // Debug builds: the worker aborts on files whose path holds this text.
    let out = site
        .cmd(&["run", "--once", "--settle", "0.2"])
        .env("TAIZHANG_WORKER_ABORT", "高庙乡")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let st = site.status();
    let q = quarantined(&st);
    assert_eq!(
        q,
        vec![(
            "高庙乡_残疾人信息登记簿_2026-11.xlsx".to_string(),
            "文件异常，无法读取：解析进程异常退出（进程中止 SIGABRT）".to_string()
        )]
    );
    assert_eq!(unit_status(&st, "石桥镇")["status"], "已通过");
    assert_eq!(unit_status(&st, "高庙乡")["status"], "未报送");
}

#[test]
fn a_worker_past_its_time_is_stopped_and_answered() {
    let rules = rules();
    let site = Site::new();
    site.drop_in(
        &register(&rules, "高庙乡", 7, 5),
        "高庙乡_残疾人信息登记簿_2026-11.xlsx",
    );
    let started = Instant::now();
    let out = site
        .cmd(&["run", "--once", "--settle", "0.2", "--worker-timeout", "1"])
        .env("TAIZHANG_WORKER_HANG", "高庙乡")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    let q = quarantined(&site.status());
    assert_eq!(q[0].1, "文件异常，无法读取：解析超时（超过 1 秒）");
}

#[test]
fn a_file_during_which_the_daemon_dies_twice_is_not_tried_a_third_time() {
    let rules = rules();
    let site = Site::new();
    site.drop_in(
        &register(&rules, "高庙乡", 7, 5),
        "高庙乡_残疾人信息登记簿_2026-11.xlsx",
    );
    // Twice: the daemon is killed (-9) while the file is being read.
    for round in 1..=2 {
        let mut child = site
            .cmd(&["watch", "--settle", "0.2", "--web", "off"])
            .env("TAIZHANG_WORKER_HANG", "高庙乡")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for("the file being read", Duration::from_secs(20), || {
            let st = site.status();
            st["in_progress"]
                .as_array()
                .is_some_and(|a| a.iter().any(|i| i["state"] == "archived"))
                && attempts(&site) >= round
        });
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    // The third start does not read it again: it is set aside, and the daemon goes on.
    site.drop_in(
        &register(&rules, "石桥镇", 8, 2),
        "石桥镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let started = Instant::now();
    let out = site
        .cmd(&["run", "--once", "--settle", "0.2"])
        .env("TAIZHANG_WORKER_HANG", "高庙乡")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the hanging file was not read a third time"
    );
    let st = site.status();
    let q = quarantined(&st);
    assert_eq!(q.len(), 1, "{st:#}");
    assert!(q[0].1.contains("程序已 2 次意外中断"), "{}", q[0].1);
    assert_eq!(unit_status(&st, "石桥镇")["status"], "已通过");
    assert!(st["in_progress"].as_array().unwrap().is_empty());
}

/// Attempts journaled for the first submission, read with an independent client.
fn attempts(site: &Site) -> i64 {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             r=c.execute('select attempts from submissions order by id limit 1').fetchone(); \
             print(r[0] if r else 0)",
        )
        .arg(site.state().join("journal.sqlite3"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A copy of the shipped rules with `[limits]` of `county.toml` replaced.
fn rules_with_limits(
    max_rows: usize,
    max_findings: usize,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let rdir = dir.path().join("rules");
    std::fs::create_dir_all(&rdir).unwrap();
    for e in std::fs::read_dir(rules_dir()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, rdir.join(p.file_name().unwrap())).unwrap();
    }
    let county = std::fs::read_to_string(rdir.join("county.toml")).unwrap();
    let county = county
        .replace("max_rows = 100000", &format!("max_rows = {max_rows}"))
        .replace(
            "max_findings = 1000",
            &format!("max_findings = {max_findings}"),
        );
    std::fs::write(rdir.join("county.toml"), county).unwrap();
    (dir, rdir)
}

#[test]
fn a_ledger_over_the_row_bound_is_refused_unchecked() {
    let rules = rules();
    let (_keep, rdir) = rules_with_limits(50, 1000);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let mut reg = register(&rules, "柳河镇", 60, 3);
    reg.set(5, "id_number", taizhang::samples::Val::text("123"));
    reg.write(&f).unwrap();
    let (code, json, stderr) = validate_json_with(&rdir, &[], &[&f]);
    assert_eq!(code, 2, "{stderr}");
    let file = &json["files"][0];
    assert!(
        file["fatal"].as_str().unwrap().starts_with(
            "数据行数超过上限：「残疾人信息」工作表超过 50 行（上限 50 行），未作校验"
        ),
        "{file:#} {stderr}"
    );
    assert_eq!(file["findings"].as_array().unwrap().len(), 0);
    // At the bound itself the file is checked as usual.
    let g = dir.path().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    register(&rules, "石桥镇", 50, 3).write(&g).unwrap();
    let (code, json, _) = validate_json_with(&rdir, &[], &[&g]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["files"][0]["rows"], 50);
}

#[test]
fn findings_past_the_bound_are_counted_not_kept_and_the_notice_says_so() {
    let rules = rules();
    let (_keep, rdir) = rules_with_limits(100_000, 5);
    let site = Site::new();
    let mut reg = register(&rules, "石桥镇", 12, 3);
    for i in 0..12 {
        reg.set(i, "phone", taizhang::samples::Val::text("12345"));
    }
    site.drop_in(&reg, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let path = site.inbox().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let (code, json, _) = validate_json_with(&rdir, &[], &[&path]);
    assert_eq!(code, 1);
    let file = &json["files"][0];
    let kept = file["findings"].as_array().unwrap();
    assert_eq!(kept.len(), 5, "{file:#}");
    let total = file["errors"].as_u64().unwrap() + file["warnings"].as_u64().unwrap();
    assert_eq!(total, 12, "the counts are the true ones: {file:#}");
    assert_eq!(kept[0]["cell"], "K4");
    assert_eq!(kept[0]["rule"], "phone.cn_phone.invalid");
    // The daemon's notice says how many there were in all.
    let out = bin()
        .args(["run", "--once", "--settle", "0.2", "--rules"])
        .arg(&rdir)
        .arg("--inbox")
        .arg(site.inbox())
        .arg("--outbox")
        .arg(site.outbox())
        .arg("--state")
        .arg(site.state())
        .env("TAIZHANG_NOW", "2026-11-30T09:00:00+08:00")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = the_mail(&site);
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let body = m.body_text(0).unwrap();
    assert!(
        body.contains("问题过多：仅列出前 5 处，共发现 12 处"),
        "{body}"
    );
}

#[test]
fn a_cell_longer_than_excel_holds_is_an_error_and_every_workbook_still_builds() {
    let rules = rules();
    let site = Site::new();
    site.drop_in(
        &register(&rules, "柳河镇", 10, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    // Writers refuse such text, as Excel does; LibreOffice and hand-made files
    // can hold it: the shared string is lengthened in the package itself.
    let mut long = register(&rules, "石桥镇", 8, 2);
    long.set(2, "remarks", taizhang::samples::Val::text("LONG-REMARK"));
    let tmp = tempfile::tempdir().unwrap();
    let short = tmp.path().join("short.xlsx");
    long.write(&short).unwrap();
    let staged = tmp.path().join("staged.xlsx");
    rewrite_part(&short, &staged, "xl/sharedStrings.xml", |t| {
        t.replace("LONG-REMARK", &"备".repeat(40_000))
    });
    let path = site.inbox().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    std::fs::rename(&staged, &path).unwrap();
    let (code, json, _) = validate_json(&[], &[&path]);
    assert_eq!(code, 1);
    let rules_found = cell_rules(&json["files"][0]);
    assert_eq!(
        rules_found,
        vec![("R6".to_string(), "remarks.too_long".to_string())],
        "{json:#}"
    );
    let msg = json["files"][0]["findings"][0]["message"].as_str().unwrap();
    assert_eq!(
        msg,
        "「备注」内容过长（40000 个字符），超过 Excel 单元格上限 32767 个字符，请删减后重新报送"
    );
    site.run_once_ok();
    let st = site.status();
    assert_eq!(unit_status(&st, "石桥镇")["status"], "已退回");
    assert_eq!(unit_status(&st, "柳河镇")["status"], "已通过");
    assert!(st["workbooks_failed"].as_array().unwrap().is_empty());
    assert_eq!(sheet(&site.county_workbook(), "全县明细").len(), 1 + 10);
    // The annotated copy was written (the long text cut, with a mark) and attached.
    let annotated: Vec<_> = files_under(&site.state().join("annotated"));
    assert_eq!(annotated.len(), 1, "{annotated:?}");
    let copy = sheet(&annotated[0], "残疾人信息");
    let cut = copy
        .iter()
        .find_map(|r| r.get(17).filter(|c| c.starts_with("备备")))
        .unwrap();
    assert!(cut.ends_with("……（内容超过 32767 字符，已截断）"));
    assert_eq!(cut.chars().count(), 32_767);
}

#[test]
fn an_ods_row_repeated_a_million_times_ends_within_the_memory_bound() {
    // LibreOffice's own file, one data row declared repeated 1,000,000 times
    // (16 KB on disk; the reader would expand it to gigabytes).
    let src = root().join("tests/fixtures/石桥镇_登记簿_2026-11.ods");
    let site = Site::new();
    let dest = site.inbox().join("石桥镇_残疾人信息登记簿_2026-11.ods");
    rewrite_part(&src, &dest, "content.xml", |c| {
        let p = c.match_indices("<table:table-row").nth(5).unwrap().0;
        format!(
            "{}<table:table-row table:number-rows-repeated=\"1000000\"{}",
            &c[..p],
            &c[p + "<table:table-row".len()..]
        )
    });
    let started = Instant::now();
    let (code, json, stderr) = validate_json(&[], &[&dest]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(
        json["files"][0]["fatal"],
        "文件异常，无法读取：解析时内存超限（上限 1024 MB）"
    );
    let out = site.run_once(&[]);
    assert!(out.status.success());
    let q = quarantined(&site.status());
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1, "文件异常，无法读取：解析时内存超限（上限 1024 MB）");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn an_unreadable_shared_string_index_is_an_error_on_its_cell_never_the_title() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    let reg = register(&rules, "石桥镇", 6, 21);
    let clean = dir.path().join("clean.xlsx");
    reg.write(&clean).unwrap();
    let (c1, c2) = (reg.cell(1, "name"), reg.cell(2, "name"));
    let bad = dir.path().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    rewrite_part(&clean, &bad, "xl/worksheets/sheet1.xml", |xml| {
        let mut xml = xml;
        for (cell, v) in [(&c1, "-1"), (&c2, "18446744073709551616")] {
            let open = format!("<c r=\"{cell}\"");
            let at = xml.find(&open).unwrap();
            let v0 = at + xml[at..].find("<v>").unwrap() + 3;
            let v1 = v0 + xml[v0..].find("</v>").unwrap();
            xml.replace_range(v0..v1, v);
        }
        xml
    });
    let (code, json, _) = validate_json(&[], &[&bad]);
    let f = &json["files"][0];
    assert_eq!(code, 1, "{f:#}");
    let mut want = vec![
        (c1.clone(), "file.unreadable_cell".to_string()),
        (c2.clone(), "file.unreadable_cell".to_string()),
    ];
    want.sort();
    assert_eq!(cell_rules(f), want);
    let m = finding_at(f, &c1);
    assert_eq!(m["value"], "-1");
    assert!(
        m["message"]
            .as_str()
            .unwrap()
            .contains("共享文字编号「-1」无效"),
        "{m}"
    );
    // The clean file has no such finding (its title is shared string 0 too).
    let (code, json, _) = validate_json(&[], &[&clean]);
    assert_eq!(
        (code, &json["files"][0]["findings"]),
        (0, &serde_json::json!([]))
    );
}

/// Worker processes (`taizhang worker`) whose environment holds `mark`.
#[cfg(target_os = "linux")]
fn workers_marked(mark: &str) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let environ = std::fs::read(e.path().join("environ")).ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let marked = environ.split(|&b| b == 0).any(|v| v == mark.as_bytes());
        let worker = cmdline.split(|&b| b == 0).nth(1) == Some(b"worker".as_slice());
        (marked && worker).then_some(pid)
    })
    .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn a_daemon_killed_right_after_a_worker_starts_leaves_no_worker_behind() {
    let rules = rules();
    let site = Site::new();
    site.drop_in(
        &register(&rules, "高庙乡", 7, 5),
        "高庙乡_残疾人信息登记簿_2026-11.xlsx",
    );
    let mark = format!("TAIZHANG_TEST_MARK=killed-{}", std::process::id());
    let (key, value) = mark.split_once('=').unwrap();
    // The worker hangs on the file (30 s, far past this test's wait below).
    let mut child = site
        .cmd(&["watch", "--settle", "0.2", "--web", "off"])
        .env("TAIZHANG_WORKER_HANG", "高庙乡")
        .env(key, value)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    wait_for("a worker reading the file", Duration::from_secs(20), || {
        seen = workers_marked(&mark);
        !seen.is_empty()
    });
    child.kill().unwrap(); // SIGKILL: the daemon has no chance to clean up
    let _ = child.wait();
    let ended = Instant::now();
    while !workers_marked(&mark).is_empty() && ended.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = workers_marked(&mark);
    for pid in &left {
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
    assert!(
        left.is_empty(),
        "worker(s) {left:?} outlived the daemon (seen {seen:?})"
    );
}
