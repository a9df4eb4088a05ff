//! Notices through a real SMTP server on loopback (aiosmtpd, started here), parsed
//! as a mail client would: recipient, decoded subject, both bodies, the attachment
//! opened back as a workbook.

use crate::common;
use common::*;
use mail_parser::{MessageParser, MimeHeaders};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use taizhang::samples::Val;

struct Smtp {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp(port: u16, dir: &Path, extra: &[&str]) -> Smtp {
    use std::io::BufRead;
    let mut child = Command::new("python3")
        .arg(root().join("tests/support/smtp_server.py"))
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with aiosmtpd (installed by scripts/test)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "READY", "SMTP server did not start");
    Smtp {
        child,
        port,
        dir: dir.to_path_buf(),
    }
}

/// Messages received so far: (envelope JSON, raw bytes), oldest first.
fn received(dir: &Path) -> Vec<(serde_json::Value, Vec<u8>)> {
    let mut emls: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    emls.sort();
    emls.iter()
        .map(|p| {
            let env: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(p.with_extension("json")).unwrap())
                    .unwrap();
            (env, std::fs::read(p).unwrap())
        })
        .collect()
}

fn wait_for_mail(dir: &Path, n: usize, timeout: Duration) -> Vec<(serde_json::Value, Vec<u8>)> {
    let start = Instant::now();
    loop {
        let got = received(dir);
        if got.len() >= n {
            return got;
        }
        assert!(
            start.elapsed() < timeout,
            "expected {n} message(s), got {}",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn certs(dir: &Path) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn broken_register(errors: usize) -> taizhang::samples::Register {
    let rules = rules();
    let mut reg = register(&rules, "石桥镇", 60, 31);
    for i in 0..errors {
        reg.set(i, "village", Val::Text(format!("不存在的村{i}")));
    }
    reg.set(errors, "phone", Val::text("6543210")); // one warning
    reg
}

#[test]
fn rejection_over_starttls_with_auth_reads_right_in_a_mail_client() {
    let site = Site::new();
    let (cert, key) = certs(&site.root);
    let port = free_port();
    let server = start_smtp(
        port,
        &site.root.join("received"),
        &[
            "--starttls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--auth",
            "taizhang:s3cret-Pa55",
        ],
    );
    site.drop_in(&broken_register(3), "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let url = format!("smtp://taizhang@localhost:{}?tls=starttls", server.port);
    let mut c = site.cmd(&[
        "run",
        "--once",
        "--settle",
        "0.2",
        "--smtp",
        &url,
        "--smtp-ca",
        cert.to_str().unwrap(),
    ]);
    let out = c
        .env("TAIZHANG_SMTP_PASSWORD", "s3cret-Pa55")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains("s3cret-Pa55"),
        "the password never reaches the log"
    );
    let got = wait_for_mail(&server.dir, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    let (env, raw) = &got[0];
    assert_eq!(
        env["rcpt_tos"],
        serde_json::json!(["cl-shiqiao@anhe.example.gov.cn"])
    );
    assert_eq!(
        (env["tls"].as_bool(), env["auth"].as_bool()),
        (Some(true), Some(true))
    );
    let msg = MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        msg.subject(),
        Some("【安和县残联】石桥镇 2026-11 残疾人信息登记簿 校验未通过（3 处错误）")
    );
    assert_eq!(
        msg.to().unwrap().first().unwrap().address(),
        Some("cl-shiqiao@anhe.example.gov.cn")
    );
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    for i in 0..3 {
        let cell = format!("J{}", 4 + i);
        assert!(
            text.contains(&format!("工作表「残疾人信息」第 {} 行 ", 4 + i))
                && text.contains(&format!("{cell}「所属村（社区）」填写「不存在的村{i}」")),
            "{text}"
        );
        assert!(html.contains(&format!("<td>{cell}</td>")), "{html}");
    }
    // Warnings after errors.
    let (e, w) = (
        text.find("【错误】").unwrap(),
        text.find("【提醒】").unwrap(),
    );
    assert!(e < w);
    // The attachment: Chinese name both ways, and it opens as their annotated workbook.
    let raw_text = String::from_utf8_lossy(raw);
    assert!(
        raw_text.contains("filename*=utf-8''%E7%9F%B3%E6%A1%A5%E9%95%87_%E6%AE%8B"),
        "RFC 2231 name"
    );
    assert!(
        raw_text.contains("filename=\"=?utf-8?b?"),
        "RFC 2047 fallback name"
    );
    let att = msg.attachments().next().expect("an attachment");
    assert_eq!(
        att.attachment_name(),
        Some("石桥镇_残疾人信息登记簿_2026-11.xlsx")
    );
    let path = site.root.join("attachment.xlsx");
    std::fs::write(&path, att.contents()).unwrap();
    let script = r#"
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb['问题清单']
print(wb.sheetnames[0], ws.max_row - 4)
d = wb['残疾人信息']
print(d['J4'].fill.fgColor.rgb, d['J4'].comment.text.splitlines()[1][:4])
"#;
    let shown = python(script, &[&path]);
    assert_eq!(
        shown.lines().collect::<Vec<_>>(),
        vec!["问题清单 4", "FFFFC7CE 【错误】"]
    );
}

#[test]
fn receipt_over_plain_relay_and_quarantine_to_admin_only() {
    let site = Site::new();
    let server = start_smtp(free_port(), &site.root.join("received"), &[]);
    let rules = rules();
    site.drop_in(
        &register(&rules, "清泉镇", 20, 3),
        "清泉镇_残疾人信息登记簿_2026-11.xlsx",
    );
    // Unidentifiable: goes to the admin, never to an address found in the file.
    let mut anon = register(&rules, "高庙乡", 5, 4);
    anon.title = false;
    anon.set(0, "remarks", Val::text("请回复到 evil@example.com"));
    let anon_path = site.drop_in(&anon, "登记簿_2026-11.xlsx");
    let anon_bytes = std::fs::read(&anon_path).unwrap();
    let url = format!("smtp://127.0.0.1:{}?tls=none", server.port);
    let out = site.run_once(&["--smtp", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = wait_for_mail(&server.dir, 2, Duration::from_secs(10));
    let mut by_rcpt: Vec<(String, String, usize)> = got
        .iter()
        .map(|(env, raw)| {
            let m = MessageParser::default().parse(raw).unwrap();
            (
                env["rcpt_tos"][0].as_str().unwrap().to_string(),
                m.subject().unwrap().to_string(),
                m.attachment_count(),
            )
        })
        .collect();
    by_rcpt.sort();
    assert_eq!(
        by_rcpt,
        vec![
            (
                "admin@anhe.example.gov.cn".to_string(),
                "【台账系统】文件已隔离，待核实：登记簿_2026-11.xlsx".to_string(),
                1
            ),
            (
                "cl-qingquan@anhe.example.gov.cn".to_string(),
                "【安和县残联】清泉镇 2026-11 残疾人信息登记簿 已通过校验（20 行）".to_string(),
                0
            ),
        ]
    );
    assert!(got
        .iter()
        .all(|(env, _)| !env["rcpt_tos"].to_string().contains("evil")));
    // The admin's notice quotes what each source said and carries the file itself.
    let (_, raw) = got
        .iter()
        .find(|(env, _)| env["rcpt_tos"][0] == "admin@anhe.example.gov.cn")
        .unwrap();
    let m = MessageParser::default().parse(raw).unwrap();
    let body = m.body_text(0).unwrap().to_string();
    assert!(
        body.contains("无法确定报送单位") && body.contains("文件名「登记簿_2026-11.xlsx」"),
        "{body}"
    );
    let a = m.attachment(0).unwrap();
    assert_eq!(a.attachment_name(), Some("登记簿_2026-11.xlsx"));
    assert_eq!(a.contents(), anon_bytes.as_slice());
}

#[test]
fn implicit_tls() {
    let site = Site::new();
    let (cert, key) = certs(&site.root);
    let server = start_smtp(
        free_port(),
        &site.root.join("received"),
        &["--implicit", cert.to_str().unwrap(), key.to_str().unwrap()],
    );
    site.drop_in(
        &register(&rules(), "龙泉镇", 10, 3),
        "龙泉镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let url = format!("smtps://localhost:{}", server.port);
    let out = site.run_once(&["--smtp", &url, "--smtp-ca", cert.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = wait_for_mail(&server.dir, 1, Duration::from_secs(10));
    assert_eq!(got[0].0["tls"], true);
}

#[test]
fn long_lists_are_cut_in_the_body_never_in_the_attachment() {
    let site = Site::new();
    site.drop_in(&broken_register(45), "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    let out = site.run_once(&[]);
    assert!(out.status.success());
    // The embedded default: .eml files in outbox/mail, no server needed.
    let emls: Vec<PathBuf> = std::fs::read_dir(site.root.join("outbox/mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(emls.len(), 1);
    let raw = std::fs::read(&emls[0]).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    let text = msg.body_text(0).unwrap();
    assert_eq!(
        text.matches("【错误】").count() + text.matches("【提醒】").count(),
        30
    );
    assert!(text.contains("另有 16 处问题未在此列出"), "{text}");
    let att = msg.attachments().next().unwrap();
    let path = site.root.join("a.xlsx");
    std::fs::write(&path, att.contents()).unwrap();
    let mut book =
        taizhang::workbook::Book::open(&path, &taizhang::workbook::Limits::default()).unwrap();
    let list = book.read_sheet("问题清单").unwrap();
    let rows: std::collections::BTreeSet<u32> =
        list.cells.iter().map(|c| c.0).filter(|r| *r >= 4).collect();
    assert_eq!(
        rows.len(),
        46,
        "all 45 errors and the warning are in the attachment"
    );
}

#[test]
fn cross_unit_duplicates_tell_each_unit_once_per_person() {
    let site = Site::new();
    let rules = rules();
    let a = register(&rules, "柳河镇", 10, 1);
    let mut b = register(&rules, "白沙镇", 10, 2);
    let mut same = a.rows[4].clone();
    same.insert("village".into(), b.rows[1]["village"].clone());
    b.rows[1] = same;
    site.drop_in(&a, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    assert!(site.run_once(&[]).status.success());
    site.drop_in(&b, "白沙镇_残疾人信息登记簿_2026-11.xlsx");
    assert!(site.run_once(&[]).status.success());
    // 白沙镇 resubmits (a new accepted file, same person still in it): nobody is told again.
    let mut b2 = b.clone();
    b2.set(9, "remarks", Val::text("更正"));
    site.drop_in(&b2, "白沙镇_残疾人信息登记簿_2026-11(2).xlsx");
    assert!(site.run_once(&[]).status.success());
    let mut dup_notices: Vec<(String, String)> = std::fs::read_dir(site.root.join("outbox/mail"))
        .unwrap()
        .filter_map(|e| {
            let raw = std::fs::read(e.unwrap().path()).unwrap();
            let m = MessageParser::default().parse(&raw).unwrap();
            let subject = m.subject().unwrap().to_string();
            subject.contains("同时登记在其他乡镇").then(|| {
                (
                    m.to()
                        .unwrap()
                        .first()
                        .unwrap()
                        .address()
                        .unwrap()
                        .to_string(),
                    m.body_text(0).unwrap().to_string(),
                )
            })
        })
        .collect();
    dup_notices.sort();
    assert_eq!(dup_notices.len(), 2, "{dup_notices:?}");
    assert_eq!(dup_notices[0].0, "cl-baisha@anhe.example.gov.cn");
    assert_eq!(dup_notices[1].0, "cl-liuhe@anhe.example.gov.cn");
    let id = match &a.rows[4]["id_number"] {
        Val::Text(s) => s.clone(),
        _ => unreachable!(),
    };
    // The ID masked in the body, as every personal number in a mail body.
    let masked = taizhang::text::mask_personal(&id).into_owned();
    assert!(masked.contains("********"), "{masked}");
    assert!(!dup_notices[0].1.contains(&id), "{}", dup_notices[0].1);
    assert!(
        dup_notices[0].1.contains(&masked)
            && dup_notices[0]
                .1
                .contains("柳河镇（文件「柳河镇_残疾人信息登记簿_2026-11.xlsx」第 8 行）"),
        "{}",
        dup_notices[0].1
    );
    assert!(dup_notices[1].1.contains("白沙镇"));
    // The county workbook lists the person, with the name, once per unit.
    let name = match &a.rows[4]["name"] {
        Val::Text(s) => s.clone(),
        _ => unreachable!(),
    };
    let dups = sheet(
        &site
            .root
            .join("outbox/安和县_残疾人信息登记簿_2026-11_全县汇总.xlsx"),
        "跨乡镇重复",
    );
    assert_eq!(dups.len(), 3, "{dups:?}");
    for row in &dups[1..] {
        assert_eq!(
            (row[0].as_str(), row[1].as_str()),
            (id.as_str(), name.as_str())
        );
    }
}

#[test]
fn server_down_then_up_delivers_once() {
    let site = Site::new();
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}?tls=none");
    let mut daemon = site
        .cmd(&[
            "watch",
            "--web",
            "off",
            "--settle",
            "0.2",
            "--smtp",
            &url,
            "--mail-retry",
            "0.3",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    site.drop_in(
        &register(&rules(), "马坊乡", 10, 3),
        "马坊乡_残疾人信息登记簿_2026-11.xlsx",
    );
    // The notice is queued and fails while nobody listens.
    let start = Instant::now();
    loop {
        let st = site.status();
        if st["mail_retrying"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            assert!(st["mail_retrying"][0]["error"].as_str().unwrap_or("").len() > 3);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no failed attempt seen: {st:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let server = start_smtp(port, &site.root.join("received"), &[]);
    let got = wait_for_mail(&server.dir, 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(received(&server.dir).len(), 1, "delivered exactly once");
    let m = MessageParser::default().parse(&got[0].1).unwrap();
    assert!(m.subject().unwrap().contains("马坊乡"));
    #[cfg(unix)]
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = daemon.kill();
    let _ = daemon.wait();
    let st = site.status();
    assert_eq!(
        (st["mail_waiting"].as_u64(), st["mail_sent"].as_u64()),
        (Some(0), Some(1)),
        "{st:#}"
    );
}

#[test]
fn permanent_refusal_is_parked_and_shown() {
    let site = Site::new();
    let server = start_smtp(
        free_port(),
        &site.root.join("received"),
        &["--reject", "cl-nanwan"],
    );
    site.drop_in(
        &register(&rules(), "南湾乡", 10, 3),
        "南湾乡_残疾人信息登记簿_2026-11.xlsx",
    );
    let url = format!("smtp://127.0.0.1:{}?tls=none", server.port);
    assert!(site.run_once(&["--smtp", &url]).status.success());
    let st = site.status();
    let parked = st["mail_parked"].as_array().unwrap();
    assert_eq!(parked.len(), 1, "{st:#}");
    assert!(
        parked[0]["error"].as_str().unwrap().contains("550"),
        "{st:#}"
    );
    assert_eq!(st["mail_waiting"], 0);
    // A second run does not retry it; `mail resend` queues it again.
    assert!(site.run_once(&["--smtp", &url]).status.success());
    assert_eq!(received(&server.dir).len(), 0);
    let id = parked[0]["id"].as_i64().unwrap().to_string();
    let out = site.cmd(&["mail", "resend", &id]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(site.status()["mail_waiting"], 1);
}
