//! The real daemon on temp dirs with real files: intake, settle, archive, journal,
//! quarantine, county workbook, crash recovery, polling.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};

use std::time::Duration;
use taizhang::samples::Val;

#[test]
fn thirteen_clean_units_consolidate_to_the_right_counts() {
    let rules = rules();
    let site = Site::new();
    let mut expected_rows = 0;
    let mut per_unit = Vec::new();
    for (i, u) in rules.county.units.iter().enumerate() {
        let n = 20 + i * 3;
        let reg = register(&rules, &u.name, n, 100 + i as u64);
        // Half of them in a per-unit sub-folder, as the spec allows.
        if i % 2 == 0 {
            std::fs::create_dir_all(site.inbox().join(&u.name)).unwrap();
            reg.write(
                &site
                    .inbox()
                    .join(&u.name)
                    .join(format!("{}_残疾人信息登记簿_2026-11.xlsx", u.name)),
            )
            .unwrap();
        } else {
            reg.write(
                &site
                    .inbox()
                    .join(format!("{}_残疾人信息登记簿_2026-11.xlsx", u.name)),
            )
            .unwrap();
        }
        expected_rows += n;
        per_unit.push((u.name.clone(), n, reg));
    }
    let out = site.run_once_ok();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        log.matches(": accepted (").count(),
        13,
        "one readable line per file:\n{log}"
    );
    // The inbox is empty, every file archived byte-for-byte.
    let left: Vec<_> = walk(&site.inbox())
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let archived = walk(&site.state().join("archive"));
    assert_eq!(archived.iter().filter(|p| p.is_file()).count(), 13);

    let wb = site.county_workbook();
    let detail = sheet(&wb, "全县明细");
    assert_eq!(detail.len() - 1, expected_rows);
    assert_eq!(detail[0][..4], ["乡镇代码", "乡镇名称", "序号", "姓名"]);
    // IDs as text, dates as dates.
    assert!(
        detail[1][7].len() == 18 && detail[1][6].starts_with("date:"),
        "{:?}",
        detail[1]
    );
    let stats = sheet(&wb, "分乡镇统计");
    let total_row = stats
        .iter()
        .find(|r| r.get(1).is_some_and(|c| c == "合计"))
        .unwrap();
    assert_eq!(total_row[2], expected_rows.to_string());
    for (name, n, reg) in &per_unit {
        let row = stats.iter().find(|r| r.get(1) == Some(name)).unwrap();
        assert_eq!(row[2], n.to_string(), "{name}");
        // 视力·一级 is the first cell of the cross-tab.
        assert_eq!(
            row[3],
            reg.count(Some("视力"), Some("一级")).to_string(),
            "{name}"
        );
    }
    let status = sheet(&wb, "报送情况");
    assert_eq!(status.len(), 14);
    assert!(status[1..].iter().all(|r| r[2] == "已通过"), "{status:?}");
    let st = site.status();
    assert!(st["periods"][0]["units"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["status"] == "已通过"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn rejected_resubmission_keeps_the_earlier_accepted_data() {
    let rules = rules();
    let site = Site::new();
    let good = register(&rules, "柳河镇", 30, 5);
    site.drop_in(&good, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    assert!(site.run_once(&[]).status.success());
    let mut bad = register(&rules, "柳河镇", 35, 6);
    bad.set(2, "village", Val::text("建设路社区"));
    site.drop_in(&bad, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    assert!(site.run_once(&[]).status.success());

    let wb = site.county_workbook();
    let detail = sheet(&wb, "全县明细");
    assert_eq!(
        detail.len() - 1,
        30,
        "the accepted 30 rows stay, not the rejected 35"
    );
    // The unit stands on its accepted file (已通过); the later rejected one is
    // said beside it, never instead of it.
    let status = sheet(&wb, "报送情况");
    let row = status.iter().find(|r| r[1] == "柳河镇").unwrap();
    assert_eq!(row[2], "已通过");
    assert_eq!(row[5], "30");
    assert!(
        row[8].contains("较晚收到的文件")
            && row[8].contains("已退回")
            && row[8].contains("仍沿用本行已通过的文件（30 行）"),
        "{row:?}"
    );
    let st = site.status();
    let u = unit_status(&st, "柳河镇");
    assert_eq!(
        (
            u["status"].as_str(),
            u["submission"].as_i64(),
            u["rows"].as_i64(),
            u["counting_submission"].as_i64()
        ),
        (Some("已通过"), Some(1), Some(30), Some(1))
    );
    assert_eq!(u["later_rejected"]["submission"], 2, "{u:#}");
    assert_eq!(u["later_rejected"]["errors"], 1, "{u:#}");
    let text = String::from_utf8(site.cmd(&["status"]).output().unwrap().stdout).unwrap();
    assert!(
        text.contains("较晚收到的「柳河镇_残疾人信息登记簿_2026-11.xlsx」（第 2 号）已退回：有 1 处错误；汇总仍用已通过的文件"),
        "{text}"
    );
    // A newer accepted file replaces the older one.
    site.drop_in(
        &register(&rules, "柳河镇", 40, 7),
        "柳河镇_残疾人信息登记簿_2026-11(更正).xlsx",
    );
    assert!(site.run_once(&[]).status.success());
    assert_eq!(sheet(&wb, "全县明细").len() - 1, 40);
    // Both archived copies of the same name are kept.
    assert_eq!(
        walk(&site.state().join("archive"))
            .iter()
            .filter(|p| p.is_file())
            .count(),
        3
    );
}

#[test]
fn same_content_twice_is_recognised() {
    let rules = rules();
    let site = Site::new();
    let reg = register(&rules, "城关镇", 12, 9);
    site.drop_in(&reg, "城关镇_登记簿_2026-11.xlsx");
    assert!(site.run_once(&[]).status.success());
    let first = std::fs::read(site.county_workbook()).unwrap();
    std::fs::copy(
        site.state().join("archive").join(
            walk(&site.state().join("archive"))
                .iter()
                .find(|p| p.is_file())
                .unwrap()
                .strip_prefix(site.state().join("archive"))
                .unwrap(),
        ),
        site.inbox().join("城关镇_登记簿_2026-11 - 副本.xlsx"),
    )
    .unwrap();
    let out = site.run_once(&[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("duplicate of submission 1"), "{log}");
    assert_eq!(
        std::fs::read(site.county_workbook()).unwrap(),
        first,
        "the county workbook is untouched"
    );
    assert_eq!(
        walk(&site.state().join("archive"))
            .iter()
            .filter(|p| p.is_file())
            .count(),
        2,
        "the copy is archived too"
    );
}

#[test]
fn malformed_and_unidentifiable_files_are_quarantined_with_a_reason() {
    let rules = rules();
    let site = Site::new();
    std::fs::write(site.inbox().join("名单.xlsx"), b"this is not a workbook").unwrap();
    let reg = register(&rules, "石桥镇", 8, 3);
    site.drop_in(&reg, "柳河镇_残疾人信息登记簿_2026-11.xlsx"); // name says 柳河镇, sheet says 石桥镇
    let mut anon = register(&rules, "高庙乡", 8, 4);
    anon.title = false;
    site.drop_in(&anon, "登记簿_2026-11.xlsx");
    // A corrupt file whose name says who sent it goes back to that unit instead.
    std::fs::write(
        site.inbox().join("南湾乡_残疾人信息登记簿_2026-11.xlsx"),
        b"PK\x03\x04 truncated",
    )
    .unwrap();
    site.run_once_ok();
    let q = site.outbox().join("quarantine");
    let mut names: Vec<String> = names_in(&q);
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    let reason = |needle: &str| {
        let n = names
            .iter()
            .find(|n| n.contains(needle) && n.ends_with(".原因.txt"))
            .unwrap_or_else(|| panic!("{needle}: {names:?}"));
        std::fs::read_to_string(q.join(n)).unwrap()
    };
    assert!(
        reason("名单").contains("不是电子表格文件"),
        "{}",
        reason("名单")
    );
    assert!(
        reason("柳河镇").contains("填报单位前后不一致：文件名为柳河镇，表内填报单位为石桥镇"),
        "{}",
        reason("柳河镇")
    );
    assert!(reason("-登记簿_2026").contains("无法确定报送单位"));
    let st = site.status();
    assert_eq!(st["quarantined"].as_array().unwrap().len(), 3);
    let u = unit_status(&st, "南湾乡");
    assert_eq!(u["status"], "已退回");
    // Nothing quarantined counts in the county workbook.
    assert_eq!(sheet(&site.county_workbook(), "全县明细").len(), 1);
}

#[test]
fn hostile_names_and_links_never_escape() {
    let rules = rules();
    let site = Site::new();
    let long = format!("柳河镇_{}_2026-11.xlsx", "很长的名字".repeat(14));
    site.drop_in(&register(&rules, "柳河镇", 5, 1), &long);
    // A sub-sub-folder is not part of the inbox contract and is left alone.
    let deep = site.inbox().join("石桥镇").join("旧");
    std::fs::create_dir_all(&deep).unwrap();
    register(&rules, "石桥镇", 5, 2)
        .write(&deep.join("石桥镇_2026-11.xlsx"))
        .unwrap();
    #[cfg(unix)]
    {
        let outside = site.root.join("secret.xlsx");
        register(&rules, "石桥镇", 5, 2).write(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, site.inbox().join("石桥镇_2026-11.xlsx")).unwrap();
        assert!(site.run_once(&[]).status.success());
        assert!(outside.exists(), "a symlink's target is never moved");
    }
    #[cfg(not(unix))]
    assert!(site.run_once(&[]).status.success());
    let archived: Vec<PathBuf> = walk(&site.state().join("archive"))
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(archived.len(), 1);
    let name = archived[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        name.len() <= 130 && name.starts_with("1-柳河镇_") && name.ends_with(".xlsx"),
        "{name}"
    );
    assert!(archived[0].starts_with(site.state()));
    assert!(deep.join("石桥镇_2026-11.xlsx").exists());
}

#[test]
fn slow_chunked_copy_is_taken_once_after_it_ends() {
    let rules = rules();
    let site = Site::new();
    let src = site.root.join("src.xlsx");
    register(&rules, "白沙镇", 400, 12).write(&src).unwrap();
    let bytes = std::fs::read(&src).unwrap();
    let daemon = site.watch(&[]);
    std::thread::sleep(Duration::from_millis(300));
    let dest = site.inbox().join("白沙镇_残疾人信息登记簿_2026-11.xlsx");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&dest).unwrap();
        let chunk = bytes.len() / 12 + 1;
        for part in bytes.chunks(chunk) {
            f.write_all(part).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    wait_for("the file to be processed", Duration::from_secs(20), || {
        site.county_workbook().exists()
    });
    std::thread::sleep(Duration::from_millis(800));
    let log = stop(daemon);
    assert_eq!(
        log.matches("白沙镇_残疾人信息登记簿_2026-11.xlsx: accepted")
            .count(),
        1,
        "{log}"
    );
    assert!(
        !log.contains("rejected") && !log.contains("quarantined"),
        "{log}"
    );
    let archived: Vec<PathBuf> = walk(&site.state().join("archive"))
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(
        std::fs::read(&archived[0]).unwrap(),
        bytes,
        "archived byte-for-byte"
    );
}

#[test]
fn excel_style_save_and_lock_files() {
    let rules = rules();
    let site = Site::new();
    let daemon = site.watch(&[]);
    // Excel: a lock file while open, a temp file without extension, then a rename.
    std::fs::write(
        site.inbox().join("~$杨庄乡_残疾人信息登记簿_2026-11.xlsx"),
        b"lock",
    )
    .unwrap();
    std::fs::write(
        site.inbox()
            .join(".~lock.杨庄乡_残疾人信息登记簿_2026-11.xlsx#"),
        b"lock",
    )
    .unwrap();
    let temp = site.inbox().join("A1B2C3D4");
    register(&rules, "杨庄乡", 15, 3).write(&temp).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    std::fs::rename(
        &temp,
        site.inbox().join("杨庄乡_残疾人信息登记簿_2026-11.xlsx"),
    )
    .unwrap();
    wait_for("the saved file", Duration::from_secs(20), || {
        site.county_workbook().exists()
    });
    std::thread::sleep(Duration::from_millis(600));
    let log = stop(daemon);
    assert_eq!(log.matches(": accepted").count(), 1, "{log}");
    assert!(
        site.inbox()
            .join("~$杨庄乡_残疾人信息登记簿_2026-11.xlsx")
            .exists(),
        "lock files are left alone"
    );
    assert_eq!(site.status()["quarantined"].as_array().unwrap().len(), 0);
}

#[test]
fn poll_mode_works() {
    let rules = rules();
    let site = Site::new();
    let daemon = site.watch(&["--poll", "0.2"]);
    std::thread::sleep(Duration::from_millis(300));
    site.drop_in(
        &register(&rules, "北岭乡", 10, 2),
        "北岭乡_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for("the polled file", Duration::from_secs(20), || {
        site.county_workbook().exists()
    });
    let log = stop(daemon);
    assert!(log.contains("polling"), "{log}");
    assert_eq!(unit_status(&site.status(), "北岭乡")["status"], "已通过");
}

#[test]
fn demo_flag_shows_the_whole_flow() {
    let site = Site::new();
    let daemon = site.watch(&["--demo"]);
    // The site's clock says 30 November: the month due is October.
    let month = "2026-10";
    let wb = site
        .outbox()
        .join(format!("安和县_残疾人信息登记簿_{month}_全县汇总.xlsx"));
    wait_for("the demo county workbook", Duration::from_secs(20), || {
        wb.exists()
            && sheet(&wb, "报送情况")
                .iter()
                .any(|r| r.get(2).is_some_and(|s| s == "已退回"))
    });
    let log = stop(daemon);
    assert!(
        log.contains("柳河镇_残疾人信息登记簿") && log.contains(": accepted"),
        "{log}"
    );
    assert!(
        log.contains("石桥镇_残疾人信息登记簿") && log.contains(": rejected"),
        "{log}"
    );
    assert!(log.contains("stopped cleanly"), "{log}");
}

/// kill -9 at several moments while 13 files are processed, then restart: nothing
/// lost, nothing processed twice, and the county workbook is what the journal says.
#[cfg(unix)]
#[test]
fn kill_9_at_any_moment_loses_nothing() {
    let rules = rules();
    let site = Site::new();
    let mut total = 0;
    for (i, u) in rules.county.units.iter().enumerate() {
        let n = 300 + 10 * i;
        total += n;
        register(&rules, &u.name, n, 500 + i as u64)
            .write(
                &site
                    .inbox()
                    .join(format!("{}_残疾人信息登记簿_2026-11.xlsx", u.name)),
            )
            .unwrap();
    }
    for delay_ms in [150u64, 400, 700, 1000, 1500] {
        let mut child = site.watch(&[]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    site.run_once_ok();
    let st = site.status();
    assert!(st["in_progress"].as_array().unwrap().is_empty(), "{st:#}");
    let units = st["periods"][0]["units"].as_array().unwrap();
    assert!(units.iter().all(|u| u["status"] == "已通过"), "{st:#}");
    // Each file exactly once: 13 submissions in all, no duplicates, 13 archived files.
    let archived: Vec<PathBuf> = walk(&site.state().join("archive"))
        .into_iter()
        .filter(|p| p.is_file() && !p.to_string_lossy().ends_with(".part"))
        .collect();
    assert_eq!(archived.len(), 13, "{archived:?}");
    let ids: Vec<i64> = units
        .iter()
        .map(|u| u["submission"].as_i64().unwrap())
        .collect();
    let mut uniq = ids.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 13);
    assert!(walk(&site.inbox()).iter().all(|p| !p.is_file()));
    let wb = site.county_workbook();
    assert_eq!(sheet(&wb, "全县明细").len() - 1, total);
    // Regenerated from the journal alone, the county workbook has the same bytes.
    let before = std::fs::read(&wb).unwrap();
    std::fs::remove_file(&wb).unwrap();
    assert!(site.run_once(&[]).status.success());
    assert_eq!(std::fs::read(&wb).unwrap(), before);
}

/// Everything the daemon writes holds personal data: on Unix, every folder and
/// file under state/ and outbox/ is owner-only, whatever umask it was started
/// with (here 022, the usual default), folders made earlier with 0755 included.
#[cfg(unix)]
#[test]
fn everything_written_is_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let rules = rules();
    let site = Site::new();
    for d in [site.state(), site.outbox()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    drop_clean_and_bad(&site, &rules, |r| {
        r.set(3, "id_number", Val::Num(4.1990119850312e17));
    });
    let mut cmd = site.cmd(&["run", "--once", "--settle", "0.2"]);
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    succeeded(cmd.output().unwrap());
    let mut seen = 0;
    for root in [site.state(), site.outbox()] {
        let mut all = walk(&root);
        all.push(root.clone());
        for p in all {
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
            seen += 1;
        }
    }
    // The journal, the archive, the annotated copy, the county workbook and the
    // notices were all among them.
    let names: Vec<String> = walk(&site.root)
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    for part in [
        "journal.sqlite3",
        "archive",
        "_全县汇总.xlsx",
        ".eml",
        "annotated",
    ] {
        assert!(names.iter().any(|n| n.contains(part)), "{part}: {names:?}");
    }
    assert!(seen > 10, "{seen}");
    // The systemd unit says it too.
    let unit = std::fs::read_to_string(root().join("deploy").join("taizhang.service")).unwrap();
    assert!(unit.lines().any(|l| l.trim() == "UMask=0077"), "{unit}");
}

/// Rules deployed as symlinks (from a version-controlled copy): the rules in
/// force are the bytes the links point to, so files are judged as with the
/// folder itself — never by an empty snapshot that sets every file aside.
#[cfg(unix)]
#[test]
fn a_rules_folder_of_symlinks_judges_files_as_the_folder_itself() {
    let rules = rules();
    let links_site = Site::new();
    let links = links_site.root.join("rules-links");
    std::fs::create_dir_all(&links).unwrap();
    for e in std::fs::read_dir(rules_dir()).unwrap() {
        let e = e.unwrap();
        std::os::unix::fs::symlink(e.path(), links.join(e.file_name())).unwrap();
    }
    let plain_site = Site::new();
    for site in [&links_site, &plain_site] {
        drop_clean_and_bad(site, &rules, |r| {
            r.set(3, "id_number", Val::Num(4.1990119850312e17));
        });
    }
    succeeded(
        links_site
            .cmd_with_rules(&["run", "--once", "--settle", "0.2"], &links)
            .output()
            .unwrap(),
    );
    plain_site.run_once_ok();
    let (a, b) = (links_site.status(), plain_site.status());
    assert_eq!(a["rules"]["version"], b["rules"]["version"], "{a:#}");
    assert!(a["quarantined"].as_array().unwrap().is_empty(), "{a:#}");
    assert_eq!(unit_status(&a, "柳河镇")["status"], "已通过");
    assert_eq!(unit_status(&a, "石桥镇")["status"], "已退回");
    assert_eq!(
        unit_status(&a, "石桥镇")["errors"],
        unit_status(&b, "石桥镇")["errors"]
    );
    // The snapshot holds files, not links.
    let in_force = links_site
        .state()
        .join("rules-in-force")
        .join("county.toml");
    assert!(std::fs::symlink_metadata(&in_force).unwrap().is_file());
}

/// CPU time (user + system, in clock ticks) a process has used.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// An idle daemon sleeps: its own scans of the inbox and rules folders (which
/// a native watcher reports as reads) never wake it again. Before, it spun at
/// 50–100 % of a core, all day, with nothing to do.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_daemon_sleeps() {
    let rules = rules();
    let site = Site::new();
    let port = free_port();
    let daemon = site.watch(&["--web", &format!("127.0.0.1:{port}")]);
    drop_clean_and_bad(&site, &rules, |r| {
        r.set(3, "village", Val::text("幸福社区"));
    });
    wait_for("both answered", Duration::from_secs(60), || {
        std::fs::read_dir(site.outbox().join("mail")).is_ok_and(|d| d.count() == 2)
            && site.county_workbook().exists()
    });
    let before = cpu_ticks(daemon.id());
    let started = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(daemon.id()) - before;
    // 100 ticks a second: at most 5 % of one core over the window.
    let limit = started.elapsed().as_secs_f64() * 100.0 * 0.05;
    assert!(
        (used as f64) <= limit,
        "{used} ticks in {:?}",
        started.elapsed()
    );
    stop(daemon);
}
