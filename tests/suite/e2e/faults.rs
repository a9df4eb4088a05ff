//! Faults around the daemon (not in the files): a second daemon on the same
//! state folder, the outbox's mail folder removed while running.

use crate::common;
use common::*;
#[cfg(unix)]
use std::time::{Duration, Instant};

// The tests that stop the daemon by a signal are Unix-only, and so are their helpers.
#[cfg(unix)]
fn emls(site: &Site) -> usize {
    std::fs::read_dir(site.outbox().join("mail"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

#[cfg(unix)]
#[test]
fn a_second_daemon_on_the_same_state_folder_exits_at_once_naming_the_holder() {
    let rules = rules();
    let site = Site::new();
    let daemon = site.watch(&[]);
    let lock = site.state().join("taizhang.lock");
    let pid = daemon.id().to_string();
    wait_for("the daemon's lock", Duration::from_secs(20), || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == pid)
    });
    site.drop_in(
        &register(&rules, "柳河镇", 6, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let started = Instant::now();
    let out = site.run_once(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "另一个 taizhang 进程（pid {pid}）正在使用状态目录"
        )),
        "{err}"
    );
    wait_for("the file processed once", Duration::from_secs(20), || {
        emls(&site) == 1
    });
    stop(daemon);
    // Once the holder is gone, the state folder is free again; nothing was taken twice.
    site.run_once_ok();
    let st = site.status();
    let liuhe = unit_status(&st, "柳河镇");
    assert_eq!(liuhe["status"], "已通过");
    assert_eq!(emls(&site), 1);
    let archived = std::fs::read_dir(site.state().join("archive"))
        .unwrap()
        .flat_map(|m| std::fs::read_dir(m.unwrap().path()).unwrap())
        .count();
    assert_eq!(archived, 1);
}

#[cfg(unix)]
#[test]
fn the_mail_folder_removed_while_running_is_made_again() {
    let rules = rules();
    let site = Site::new();
    let daemon = site.watch(&[]);
    site.drop_in(
        &register(&rules, "柳河镇", 6, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    // Sent as the journal knows it (the file renamed into place and its folder
    // synced), so the folder is not removed in the middle of that write.
    wait_for("the first notice", Duration::from_secs(20), || {
        emls(&site) == 1 && site.status()["mail_sent"] == 1
    });
    std::fs::remove_dir_all(site.outbox().join("mail")).unwrap();
    site.drop_in(
        &register(&rules, "石桥镇", 6, 2),
        "石桥镇_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for("the second notice", Duration::from_secs(20), || {
        emls(&site) == 1
    });
    let log = stop(daemon);
    assert!(!log.contains("not sent"), "{log}");
}

#[cfg(unix)]
#[test]
fn a_file_replaced_while_it_is_read_stays_in_the_inbox_and_its_new_version_is_taken() {
    let rules = rules();
    let site = Site::new();
    let daemon = {
        let mut c = site.cmd(&["watch", "--settle", "0.3", "--web", "off"]);
        // Debug builds: each read lingers 1.5 s, so the file can be replaced meanwhile.
        c.env("TAIZHANG_SLOW_READ_MS", "1500")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let name = "柳河镇_残疾人信息登记簿_2026-11.xlsx";
    site.drop_in(&register(&rules, "柳河镇", 6, 1), name);
    let staging = site.state().join("archive").join(".staging");
    wait_for(
        "the first version being read",
        Duration::from_secs(20),
        || std::fs::read_dir(&staging).is_ok_and(|mut d| d.next().is_some()),
    );
    // The township saves a corrected version the way WinSCP and rsync do: rename over.
    let corrected = register(&rules, "柳河镇", 9, 2);
    let path = site.drop_in(&corrected, name);
    let new_bytes = std::fs::read(&path).unwrap();
    wait_for(
        "the corrected version answered",
        Duration::from_secs(30),
        || emls(&site) == 1,
    );
    let log = stop(daemon);
    assert!(log.contains("changed while being read"), "{log}");
    // Exactly one submission, holding the corrected bytes; nothing left behind.
    let archived: Vec<_> = std::fs::read_dir(site.state().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with(".staging"))
        .flat_map(|m| std::fs::read_dir(m).unwrap().map(|e| e.unwrap().path()))
        .collect();
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert_eq!(std::fs::read(&archived[0]).unwrap(), new_bytes);
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    assert!(!path.exists());
    let st = site.status();
    let liuhe = unit_status(&st, "柳河镇");
    assert_eq!(liuhe["status"], "已通过");
    assert_eq!(liuhe["rows"], 9);
}

/// An SMTP server on loopback that answers one byte a second and never finishes
/// a reply (bounded: at most 120 bytes per connection, 4 connections).
#[cfg(unix)]
fn dripping_smtp() -> u16 {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(4) {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                for b in b"220 mail.anhe.example.gov.cn ESMTP slow"
                    .iter()
                    .cycle()
                    .take(120)
                {
                    if conn.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    port
}

#[cfg(unix)]
#[test]
fn a_dripping_smtp_server_costs_one_deadline_and_the_notice_is_uncertain_not_resent() {
    let rules = rules();
    let site = Site::new();
    let port = dripping_smtp();
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let daemon = site.watch(&["--smtp", &url, "--mail-deadline", "2"]);
    site.drop_in(
        &register(&rules, "柳河镇", 6, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for(
        "the notice marked uncertain",
        Duration::from_secs(30),
        || {
            site.status()["mail_uncertain"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        },
    );
    let started = Instant::now();
    let log = stop(daemon);
    assert!(started.elapsed() < Duration::from_secs(5), "{log}");
    let st = site.status();
    let m = &st["mail_uncertain"][0];
    assert!(
        m["error"]
            .as_str()
            .unwrap()
            .starts_with("邮件服务器在 2 秒内未完成接收"),
        "{st:#}"
    );
    assert_eq!(m["attempts"], 1);
    assert_eq!(st["mail_waiting"], 0, "not queued again by itself");
}

#[cfg(unix)]
#[test]
fn a_stop_during_a_slow_send_is_bounded_and_the_message_is_uncertain_after() {
    let rules = rules();
    let site = Site::new();
    let port = dripping_smtp();
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let daemon = site.watch(&["--smtp", &url]);
    site.drop_in(
        &register(&rules, "柳河镇", 6, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for("the county workbook", Duration::from_secs(20), || {
        site.county_workbook().exists()
    });
    std::thread::sleep(Duration::from_millis(1500)); // the send is under way
    let started = Instant::now();
    let log = stop(daemon);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped in {:?}: {log}",
        started.elapsed()
    );
    assert!(log.contains("was being sent at the stop"), "{log}");
    // The next start finds it caught mid-send: uncertain, never resent by itself.
    let out = site.run_once(&["--smtp", &url, "--mail-deadline", "2"]);
    assert!(out.status.success());
    let st = site.status();
    assert_eq!(st["mail_uncertain"].as_array().unwrap().len(), 1, "{st:#}");
    assert_eq!(st["mail_waiting"], 0);
}

#[test]
fn sheet_names_excel_refuses_still_give_an_annotated_copy_attached_to_the_notice() {
    let rules = rules();
    let site = Site::new();
    let mut reg = register(&rules, "石桥镇", 8, 2);
    reg.set(3, "id_number", taizhang::samples::Val::text("123"));
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain.xlsx");
    reg.write(&plain).unwrap();
    // As WPS exports it: a summary sheet named past 31 characters, with [ ] and :.
    let long = "汇总 [11:30] 各村社区按残疾类别和等级统计的人数表（WPS 导出）";
    let staged = tmp.path().join("staged.xlsx");
    rewrite_part(&plain, &staged, "xl/workbook.xml", |x| {
        x.replace("name=\"汇总\"", &format!("name=\"{long}\""))
    });
    let path = site.inbox().join("石桥镇_残疾人信息登记簿_2026-11.xlsx");
    std::fs::rename(&staged, &path).unwrap();
    site.run_once_ok();
    let raw = the_mail(&site);
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let body = m.body_text(0).unwrap().to_string();
    assert!(!body.contains("{attachment}"), "{body}");
    assert_eq!(m.attachment_count(), 1, "{body}");
    // The copy's sheet carries the name cut to 31 characters without [ ] :, and
    // 问题清单 says so.
    let copies: Vec<_> = std::fs::read_dir(site.state().join("annotated"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1);
    let expected_name: String = "汇总 _11_30_ 各村社区按残疾类别和等级统计的人数表（WPS 导出）"
        .chars()
        .take(31)
        .collect();
    let book =
        taizhang::workbook::Book::open(&copies[0], &taizhang::workbook::Limits::default()).unwrap();
    assert!(
        book.sheet_names().contains(&expected_name),
        "{:?}",
        book.sheet_names()
    );
    let list = sheet(&copies[0], "问题清单");
    assert!(
        list[1][0].contains(&format!("「{long}」→「{expected_name}」")),
        "{:?}",
        list[1]
    );
}

#[test]
fn without_an_annotated_copy_the_notice_says_so_and_lists_every_problem() {
    let rules = rules();
    let site = Site::new();
    // The annotated copies' folder cannot be made: a file holds its name.
    std::fs::write(site.state().join("annotated"), b"in the way").unwrap();
    let mut reg = register(&rules, "石桥镇", 40, 2);
    for i in 0..40 {
        reg.set(i, "phone", taizhang::samples::Val::text("12345"));
    }
    site.drop_in(&reg, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let out = site.run_once(&[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("annotated copy could not be written"), "{log}");
    let raw = the_mail(&site);
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(m.attachment_count(), 0);
    let body = m.body_text(0).unwrap().to_string();
    assert!(!body.contains("{attachment"), "{body}");
    assert!(
        body.contains("（本次未能生成带批注的表格副本，以上已列出全部问题。）"),
        "{body}"
    );
    assert!(!body.contains("另有"), "{body}");
    // All 40 problems, past the 30 a notice lists when the copy is attached.
    assert!(body.contains("40. 【"), "{body}");
    assert!(!body.contains("41. 【"), "{body}");
}

#[cfg(unix)]
#[test]
fn entries_never_taken_are_listed_once_with_the_reason_and_names_cannot_fake_lines() {
    let rules = rules();
    let site = Site::new();
    let inbox = site.inbox();
    let reg = register(&rules, "柳河镇", 5, 1);
    reg.write(&inbox.join(".柳河镇_残疾人信息登记簿_2026-11.xlsx"))
        .unwrap();
    let real = site.root.join("elsewhere.xlsx");
    reg.write(&real).unwrap();
    std::os::unix::fs::symlink(&real, inbox.join("石桥镇_残疾人信息登记簿_2026-11.xlsx")).unwrap();
    let fifo = inbox.join("白沙镇_残疾人信息登记簿_2026-11.xlsx");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::fs::create_dir_all(inbox.join("柳河镇").join("2026年11月")).unwrap();
    reg.write(&inbox.join("柳河镇").join("2026年11月").join("登记簿.xlsx"))
        .unwrap();
    // A name with a line break, as if to add a line of its own to logs and notes.
    let sneaky = "登记簿\n隔离原因：无\r.xlsx";
    let mut anon = register(&rules, "高庙乡", 5, 3);
    anon.title = false; // no unit anywhere: quarantined, with a note
    anon.write(&inbox.join(sneaky)).unwrap();
    let daemon = site.watch(&[]);
    wait_for("the entries listed", Duration::from_secs(20), || {
        site.status()["inbox_skipped"]
            .as_array()
            .is_some_and(|a| a.len() == 4)
            && site.status()["quarantined"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
    });
    std::thread::sleep(Duration::from_secs(2)); // several more passes
    let log = stop(daemon);
    let st = site.status();
    let skipped: Vec<(String, String)> = st["inbox_skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                std::path::Path::new(s["path"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason_of = |name: &str| {
        skipped
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name}: {skipped:?}"))
    };
    assert!(reason_of(".柳河镇_残疾人信息登记簿_2026-11.xlsx").starts_with("隐藏文件"));
    assert!(reason_of("石桥镇_残疾人信息登记簿_2026-11.xlsx").starts_with("符号链接"));
    assert!(reason_of("白沙镇_残疾人信息登记簿_2026-11.xlsx").starts_with("不是普通文件"));
    assert!(reason_of("2026年11月").starts_with("子文件夹层级过深"));
    // Each is logged once, however many passes saw it.
    assert_eq!(log.matches("inbox entry not taken").count(), 4, "{log}");
    assert_eq!(log.matches("符号链接").count(), 1, "{log}");
    // The name with line breaks is shown escaped, in the log and the quarantine note.
    assert!(!log.contains("\n隔离原因：无"), "{log}");
    let note = std::fs::read_dir(site.outbox().join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".原因.txt"))
        .unwrap();
    let text = std::fs::read_to_string(note).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "文件：登记簿\\u{a}隔离原因：无\\u{d}.xlsx"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("隔离原因")).count(),
        1
    );
    let text_status = String::from_utf8(site.cmd(&["status"]).output().unwrap().stdout).unwrap();
    assert!(
        text_status.contains("收件箱中不予处理的条目："),
        "{text_status}"
    );
}

#[cfg(unix)]
#[test]
fn files_are_judged_by_the_rules_the_daemon_loaded_whatever_is_edited_meanwhile() {
    let rules = rules();
    let site = Site::new();
    let rdir = site.root.join("rules");
    std::fs::create_dir_all(&rdir).unwrap();
    for e in std::fs::read_dir(rules_dir()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, rdir.join(p.file_name().unwrap())).unwrap();
    }
    let daemon = site.watch_with_rules(&rdir, &[]);
    wait_for("the daemon's lock", Duration::from_secs(20), || {
        site.state()
            .join("rules-in-force")
            .join("register.toml")
            .exists()
    });
    // County staff save a broken edit while the daemon runs: the rules in force
    // stay (the admin is told), and the file is judged by them.
    std::fs::write(rdir.join("register.toml"), "[kind\nbroken").unwrap();
    site.drop_in(
        &register(&rules, "柳河镇", 6, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for("the file answered", Duration::from_secs(20), || {
        mails(&site)
            .iter()
            .any(|m| m.0 == "cl-liuhe@anhe.example.gov.cn")
    });
    assert!(mails(&site)
        .iter()
        .any(|m| m.0 == "admin@anhe.example.gov.cn" && m.1.contains("规则文件修改有误")));
    stop(daemon);
    let out = bin()
        .env("TAIZHANG_NOW", "2026-12-01T09:00:00+08:00")
        .args(["status", "--format", "json", "--state"])
        .arg(site.state())
        .arg("--rules")
        .arg(rules_dir())
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(st["quarantined"].as_array().unwrap().is_empty(), "{st:#}");
    let liuhe = unit_status(&st, "柳河镇");
    assert_eq!(liuhe["status"], "已通过");
}

/// Unmounts its folder when dropped.
#[cfg(target_os = "linux")]
struct Unmount(std::path::PathBuf);

#[cfg(target_os = "linux")]
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A 1 MB tmpfs on the state folder, unmounted when the guard drops (None where
/// it cannot be mounted).
#[cfg(target_os = "linux")]
fn small_state_disk(state: &std::path::Path) -> Option<Unmount> {
    mount_tmpfs(state, "1m").then(|| Unmount(state.to_path_buf()))
}

/// Mounts a tmpfs of `size` on `dir` (root on Linux only); false when it cannot.
#[cfg(target_os = "linux")]
fn mount_tmpfs(dir: &std::path::Path, size: &str) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_state_disk_keeps_the_file_in_the_inbox_tells_the_admin_once_and_recovers() {
    let rules = rules();
    let site = Site::new();
    let state = site.state();
    let Some(_guard) = small_state_disk(&state) else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root on Linux)");
        return;
    };
    let daemon = site.watch(&[]);
    let name = "柳河镇_残疾人信息登记簿_2026-11.xlsx";
    // About 2 MB: more than the state volume has left.
    let path = site.drop_in(&register(&rules, "柳河镇", 20_000, 1), name);
    wait_for("the problem noted", Duration::from_secs(30), || {
        site.status()["state_problem"].is_array()
    });
    std::thread::sleep(Duration::from_secs(6)); // a second pass fails too
    assert!(path.exists(), "the file stays in the inbox");
    let staging = state.join("archive").join(".staging");
    assert_eq!(
        std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0),
        0,
        "no partial copy is left"
    );
    let st = site.status();
    assert!(
        st["state_problem"][0]
            .as_str()
            .unwrap()
            .contains("磁盘空间已满"),
        "{st:#}"
    );
    let text = String::from_utf8(site.cmd(&["status"]).output().unwrap().stdout).unwrap();
    assert!(text.contains("状态目录无法写入"), "{text}");
    // Space comes back: the daemon resumes by itself.
    let remount = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(remount.success());
    wait_for("the file processed", Duration::from_secs(40), || {
        !path.exists() && emls(&site) >= 2
    });
    let log = stop(daemon);
    let st = site.status();
    assert!(st["state_problem"].is_null(), "{st:#}");
    let liuhe = unit_status(&st, "柳河镇");
    assert_eq!(liuhe["status"], "已通过");
    assert_eq!(liuhe["rows"], 20_000);
    // The admin was told once, however many passes failed; then the receipt.
    assert_eq!(emls(&site), 2, "{log}");
    assert!(
        log.matches("could not copy into the archive").count() >= 2,
        "{log}"
    );
}

#[test]
fn an_oversized_file_is_refused_from_its_size_and_archived_by_streaming() {
    use std::io::{Seek, SeekFrom, Write};
    let site = Site::new();
    // 513 MiB (over the 512 MiB limit), sparse: a zip's first and last records
    // around nothing, so it looks complete and is taken at once.
    let size: u64 = 513 << 20;
    let tmp = site.inbox().join(".big.tmp");
    {
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(b"PK\x03\x04").unwrap();
        f.set_len(size).unwrap();
        f.seek(SeekFrom::Start(size - 22)).unwrap();
        f.write_all(b"PK\x05\x06").unwrap();
    }
    let name = "柳河镇_残疾人信息登记簿_2026-11.xlsx";
    std::fs::rename(&tmp, site.inbox().join(name)).unwrap();
    let (out, _, peak_kib) = run_measured(&mut site.cmd(&["run", "--once", "--settle", "0.2"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Never held in memory whole (the daemon, its worker, anything this test ran).
    if let Some(kib) = peak_kib {
        assert!(kib < 400 << 10, "peak {kib} KiB");
    }
    let status = site.status();
    let u = unit_status(&status, "柳河镇");
    assert_eq!(u["status"], "已退回", "{status:#}");
    let (_, _, body) = mails(&site)
        .into_iter()
        .find(|m| m.0 == "cl-liuhe@anhe.example.gov.cn")
        .unwrap();
    assert!(
        body.contains(&format!("文件过大（{size} 字节，上限 536870912 字节）")),
        "{body}"
    );
    // Archived byte for byte (by a streaming copy), gone from the inbox.
    let archived: Vec<_> = files_under(&site.state().join("archive"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(name))
        .collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(std::fs::metadata(&archived[0]).unwrap().len(), size);
    assert!(!site.inbox().join(name).exists());
}

/// A scheduled `run --once` on a full state disk ends (it does not retry
/// forever), exits 2 and says why; the file stays in the inbox for the next run.
#[cfg(target_os = "linux")]
#[test]
fn a_scheduled_run_on_a_full_state_disk_ends_with_exit_2_and_says_why() {
    let rules = rules();
    let site = Site::new();
    let state = site.state();
    let Some(_guard) = small_state_disk(&state) else {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root on Linux)");
        return;
    };
    let name = "柳河镇_残疾人信息登记簿_2026-11.xlsx";
    let path = site.drop_in(&register(&rules, "柳河镇", 20_000, 1), name);
    let mut child = site
        .cmd(&["run", "--once", "--settle", "0.2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_for("run --once to end", Duration::from_secs(60), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
    assert!(
        err.contains("错误：状态目录无法写入") && err.contains("磁盘空间已满"),
        "{err}"
    );
    assert!(path.exists(), "the file stays in the inbox");
    // Space back: the next scheduled run takes it and exits 0.
    let remount = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(remount.success());
    site.run_once_ok();
    assert!(!path.exists());
    assert_eq!(unit_status(&site.status(), "柳河镇")["status"], "已通过");
}

/// The copy of the rules the workers read is damaged (the county's side, not
/// the file): the township's file waits — not rejected, not quarantined, the
/// township not told — the admin is told once, and the daemon copies and checks
/// the rules folder again by itself, then reads the file.
#[cfg(unix)]
#[test]
fn a_worker_that_cannot_use_the_rules_leaves_the_file_waiting_not_rejected() {
    let rules = rules();
    let site = Site::new();
    let daemon = site.watch(&[]);
    let in_force = site.state().join("rules-in-force").join("county.toml");
    wait_for("the rules in force", Duration::from_secs(20), || {
        in_force.exists()
    });
    std::fs::write(&in_force, "这不是 TOML = [").unwrap();
    site.drop_in(
        &register(&rules, "柳河镇", 6, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for("the admin told", Duration::from_secs(30), || {
        mails(&site).iter().any(|m| m.1.contains("规则无法使用"))
    });
    let sent = mails(&site);
    let admin = sent.iter().find(|m| m.1.contains("规则无法使用")).unwrap();
    assert_eq!(admin.0, "admin@anhe.example.gov.cn");
    assert!(
        admin.2.contains("不是乡镇文件的问题")
            && admin.2.contains("柳河镇_残疾人信息登记簿_2026-11.xlsx"),
        "{}",
        admin.2
    );
    // Then the rules are copied again, and the file is read and answered.
    wait_for("the file accepted", Duration::from_secs(40), || {
        site.status()["periods"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
            && unit_status(&site.status(), "柳河镇")["status"] == "已通过"
    });
    let log = stop(daemon);
    let st = site.status();
    assert!(st["quarantined"].as_array().unwrap().is_empty(), "{st:#}");
    let sent = mails(&site);
    // The township heard once: its receipt; never that its file was unreadable.
    let township: Vec<_> = sent
        .iter()
        .filter(|m| m.0 == "cl-liuhe@anhe.example.gov.cn")
        .collect();
    assert_eq!(township.len(), 1, "{sent:?}");
    assert!(township[0].1.contains("已通过校验"), "{sent:?}");
    assert_eq!(
        sent.iter().filter(|m| m.1.contains("规则无法使用")).count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("waits; the rules in force could not be used"),
        "{log}"
    );
}
