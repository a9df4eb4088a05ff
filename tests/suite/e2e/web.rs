//! The status page: the real daemon serving it on a loopback port, driven by a
//! real browser (headless Chromium through Selenium and Debian's chromedriver),
//! and probed over plain HTTP for its safety: hostile values render as text, no
//! URL reaches the file system, a non-loopback address needs a password, a
//! state-changing POST needs its CSRF token. Screenshots go to
//! `target/test-artifacts/web/`.

use crate::common;
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use taizhang::samples::Val;

/// One HTTP/1.1 request over a plain socket: (status, headers, body).
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    (status, head, body)
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
    out
}

/// The real daemon with its page on `port`, once the page answers; its clock
/// on 3 December, when November's ledgers are due.
pub(crate) fn watch_with_page(site: &Site, port: u16) -> std::process::Child {
    let daemon = site
        .cmd(&[
            "watch",
            "--settle",
            "0.2",
            "--web",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TAIZHANG_NOW", "2026-12-03T10:00:00+08:00")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_page(port);
    daemon
}

/// The real daemon with its page at `addr` and the password 县残联2026, once the
/// page answers.
fn watch_with_password(site: &Site, addr: &str, extra: &[&str]) -> std::process::Child {
    let pw = site.root.join("web-password.txt");
    std::fs::write(&pw, "县残联2026\n").unwrap();
    let daemon = site
        .cmd(&[
            "watch",
            "--web",
            addr,
            "--web-password-file",
            pw.to_str().unwrap(),
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    wait_for_page(port);
    daemon
}

fn wait_for_page(port: u16) {
    wait_for("the status page", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

fn artifacts() -> PathBuf {
    let d = root().join("target").join("test-artifacts").join("web");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A session on the page, opened with the access token the daemon made: the
/// `Cookie:` header line to send with each request.
pub(crate) fn session(site: &Site, port: u16) -> String {
    let token = std::fs::read_to_string(site.state().join("web-token")).unwrap();
    let (code, head, _) = http(port, "GET", &format!("/?token={}", token.trim()), "", "");
    assert_eq!(code, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .unwrap_or_else(|| panic!("{head}"));
    format!("Cookie: {}\r\n", cookie.split(';').next().unwrap())
}

/// The submission ids of a unit's latest register submission, from /api/status.
fn latest_of(port: u16, cookie: &str, unit: &str) -> Option<(i64, String)> {
    let (_, _, body) = http(port, "GET", "/api/status", cookie, "");
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v["periods"]
        .as_array()?
        .iter()
        .filter(|p| p["kind"] == "register")
        .flat_map(|p| p["units"].as_array().cloned().unwrap_or_default())
        .find(|u| u["unit"] == unit && !u["submission"].is_null())
        .map(|u| {
            (
                u["submission"].as_i64().unwrap(),
                u["status"].as_str().unwrap().to_string(),
            )
        })
}

const BROWSER: &str = r##"
import json, os, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, shots, downloads, late_file, inbox, token = sys.argv[1:7]
opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=zh-CN"]:
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
out = {}
def wait(cond, what, secs=30):
    end = time.time() + secs
    while time.time() < end:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit("timed out waiting for " + what + "\n" + d.page_source[:3000])
try:
    # The address the daemon printed, with its access token, starts a session.
    d.get(base + "/?token=" + token)
    out["address_after_login"] = d.current_url
    out["period"] = d.find_element(By.CSS_SELECTOR, "select[name=period] option:checked").text
    tables = d.find_elements(By.CSS_SELECTOR, "section.kind")
    reg = [t for t in tables if "残疾人信息登记簿" in t.find_element(By.TAG_NAME, "h2").text][0]
    rows = reg.find_elements(By.CSS_SELECTOR, "tbody tr")
    out["units"] = {r.get_attribute("data-unit"): r.find_element(By.CSS_SELECTOR, "td.status").text for r in rows}
    d.save_screenshot(os.path.join(shots, "index.png"))
    # Follow the link of the rejected file.
    row = [r for r in rows if r.get_attribute("data-unit") == "石桥镇"][0]
    row.find_element(By.CSS_SELECTOR, "td a").click()
    wait(lambda: "号报送" in d.find_element(By.TAG_NAME, "h1").text, "the submission page")
    out["title"] = d.find_element(By.TAG_NAME, "h1").text
    out["findings"] = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in d.find_elements(By.CSS_SELECTOR, "#findings tbody tr")]
    out["alerts"] = len(d.execute_script("return window.__alerted || []"))
    # The filter keeps only matching rows.
    box = d.find_element(By.CSS_SELECTOR, "input[data-filter]")
    box.send_keys("所属村")
    out["filtered"] = len([r for r in d.find_elements(By.CSS_SELECTOR, "#findings tbody tr") if r.is_displayed()])
    box.clear(); box.send_keys(" ")
    d.save_screenshot(os.path.join(shots, "submission.png"))
    # Download the annotated copy.
    d.find_element(By.LINK_TEXT, "下载带批注的副本").click()
    wait(lambda: any(f.endswith(".xlsx") for f in os.listdir(downloads)), "the download")
    wait(lambda: not any(f.endswith(".crdownload") for f in os.listdir(downloads)), "the download to finish")
    out["downloaded"] = sorted(os.listdir(downloads))
    # Back to the page; a new file arrives; the page updates by itself.
    d.get(base + "/")
    marker = d.execute_script("window.__same_page = 'yes'; return window.__same_page")
    os.rename(late_file, os.path.join(inbox, os.path.basename(late_file)))
    def updated():
        sec = [t for t in d.find_elements(By.CSS_SELECTOR, "section.kind") if "残疾人信息登记簿" in t.find_element(By.TAG_NAME, "h2").text][0]
        r = [r for r in sec.find_elements(By.CSS_SELECTOR, "tbody tr") if r.get_attribute("data-unit") == "清泉镇"][0]
        return r.find_element(By.CSS_SELECTOR, "td.status").text == "已通过"
    wait(updated, "the page to show 清泉镇 已通过", 60)
    out["reloaded_by_itself"] = d.execute_script("return window.__same_page || 'reloaded'")
    d.save_screenshot(os.path.join(shots, "index-updated.png"))
    d.get(base + "/mail")
    d.save_screenshot(os.path.join(shots, "mail.png"))
finally:
    d.quit()
print(json.dumps(out, ensure_ascii=False))
"##;

#[test]
fn county_staff_see_the_round_in_a_real_browser() {
    let site = Site::new();
    let rules = rules();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    let cookie = session(&site, port);
    site.drop_in(
        &register(&rules, "柳河镇", 12, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    // A rejected register whose person is named like a script.
    let mut bad = register(&rules, "石桥镇", 12, 2);
    bad.set(4, "name", Val::text("<script>alert(1)</script>"));
    bad.set(4, "village", Val::text("幸福社区"));
    site.drop_in(&bad, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("both judged", Duration::from_secs(60), || {
        latest_of(port, &cookie, "柳河镇").is_some() && latest_of(port, &cookie, "石桥镇").is_some()
    });
    let (bad_id, status) = latest_of(port, &cookie, "石桥镇").unwrap();
    assert_eq!(status, "已退回");
    // The file that arrives while the page is open.
    let later = tempfile::tempdir().unwrap();
    let late = later.path().join("清泉镇_残疾人信息登记簿_2026-11.xlsx");
    register(&rules, "清泉镇", 8, 3).write(&late).unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let shots = artifacts();
    let base = format!("http://127.0.0.1:{port}");
    let inbox = site.inbox();
    let token = std::fs::read_to_string(site.state().join("web-token")).unwrap();
    let out = python(
        BROWSER,
        &[
            Path::new(&base),
            &shots,
            downloads.path(),
            &late,
            &inbox,
            Path::new(token.trim()),
        ],
    );
    let got: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    // The token left the address bar once the session started.
    assert_eq!(got["address_after_login"], format!("{base}/"));
    // On 3 December the page opens on November, the month due.
    assert_eq!(got["period"], "2026-11", "{got:#}");
    let units = got["units"].as_object().unwrap();
    assert_eq!(units.len(), 13, "{got:#}");
    assert_eq!(units["柳河镇"], "已通过");
    assert_eq!(units["石桥镇"], "已退回");
    assert_eq!(
        units.values().filter(|s| *s == "未报送").count(),
        11,
        "{got:#}"
    );
    assert!(got["title"]
        .as_str()
        .unwrap()
        .contains(&format!("第 {bad_id} 号报送")));
    // Every finding, the hostile name shown as text (no script ran).
    let findings = got["findings"].as_array().unwrap();
    let (_, json, _) = validate_json(
        &[],
        &[&site
            .state()
            .join("archive")
            .join("2026-12")
            .join(format!("{bad_id}-石桥镇_残疾人信息登记簿_2026-11.xlsx"))],
    );
    assert_eq!(
        findings.len(),
        json["files"][0]["findings"].as_array().unwrap().len()
    );
    let village = findings
        .iter()
        .find(|r| r[2] == bad.cell(4, "village").as_str())
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(village[4], "<script>alert(1)</script>");
    assert_eq!(got["alerts"], 0);
    assert_eq!(got["filtered"], 1, "{got:#}");
    // The download is the journaled annotated copy, byte for byte.
    let journaled = files_under(&site.state().join("annotated").join(bad_id.to_string()));
    assert_eq!(journaled.len(), 1);
    let downloaded = downloads
        .path()
        .join(got["downloaded"][0].as_str().unwrap());
    assert_eq!(
        std::fs::read(&downloaded).unwrap(),
        std::fs::read(&journaled[0]).unwrap()
    );
    // The page updated itself (a reload by its own script, not by the test).
    assert_eq!(got["reloaded_by_itself"], "reloaded");
    for shot in [
        "index.png",
        "submission.png",
        "index-updated.png",
        "mail.png",
    ] {
        assert!(
            std::fs::metadata(shots.join(shot)).unwrap().len() > 1000,
            "{shot}"
        );
    }
    let log = stop(daemon);
    assert!(
        log.contains(&format!("status page at http://127.0.0.1:{port}/")),
        "{log}"
    );
}

#[test]
fn the_page_is_safe_over_http() {
    let site = Site::new();
    let rules = rules();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    let cookie = session(&site, port);
    let cookie = cookie.as_str();
    let mut bad = register(&rules, "石桥镇", 6, 5);
    bad.set(1, "name", Val::text("\"><img src=x onerror=alert(1)>"));
    bad.set(1, "village", Val::text("<b>村</b>"));
    site.drop_in(&bad, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("judged", Duration::from_secs(60), || {
        latest_of(port, cookie, "石桥镇").is_some()
    });
    let (id, _) = latest_of(port, cookie, "石桥镇").unwrap();
    let (code, head, body) = http(port, "GET", &format!("/submission/{id}"), cookie, "");
    let page = String::from_utf8_lossy(&body);
    assert_eq!(code, 200);
    assert!(
        head.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(
        page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(page.contains("&lt;b&gt;村&lt;/b&gt;"));
    assert!(!page.contains("<img src=x") && !page.contains("<b>村</b>"));
    // No URL reaches the file system.
    for path in [
        "/submission/../../etc/passwd",
        "/submission/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        &format!("/submission/{id}/..%2f..%2fjournal.sqlite3"),
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "//etc/passwd",
        "/workbook/register/..%2F..%2Fstate",
        "/workbook/register/2026-11/../../journal.sqlite3",
        "/submission/99999/original",
        "/C:/Windows/win.ini",
    ] {
        let (code, _, _) = http(port, "GET", path, cookie, "");
        assert_eq!(code, 404, "{path}");
    }
    // The downloads are there by id.
    let (code, head, bytes) = http(
        port,
        "GET",
        &format!("/submission/{id}/original"),
        cookie,
        "",
    );
    assert_eq!(code, 200, "{head}");
    let archived = files_under(&site.state().join("archive"));
    assert_eq!(bytes, std::fs::read(&archived[0]).unwrap());
    // A state-changing request needs the page's CSRF token.
    let (_, _, mail_page) = http(port, "GET", "/mail", cookie, "");
    let mail_page = String::from_utf8_lossy(&mail_page).to_string();
    // Without a mail server nothing left the machine, and the page says so; it
    // lists every notice: unit, kind, recipient, state.
    assert!(
        mail_page.contains("未配置邮件服务器，未实际发送"),
        "{mail_page}"
    );
    assert!(!mail_page.contains("已发送 "), "{mail_page}");
    let log = mail_page.split("id=\"mail-log\"").nth(1).unwrap_or("");
    for want in [
        "石桥镇",
        "退回",
        "cl-shiqiao@anhe.example.gov.cn",
        "已写入，未发送",
    ] {
        assert!(log.contains(want), "{want}: {mail_page}");
    }
    let token = mail_page
        .split("data-token=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let form = format!("Content-Type: application/x-www-form-urlencoded\r\n{cookie}");
    let form = form.as_str();
    let (code, _, _) = http(port, "POST", "/mail/1/resend", form, "");
    assert_eq!(code, 403);
    let (code, _, _) = http(port, "POST", "/mail/1/resend", form, "csrf=wrong");
    assert_eq!(code, 403);
    let (code, head, _) = http(
        port,
        "POST",
        "/mail/1/resend",
        form,
        &format!("csrf={token}"),
    );
    // The token passes; the message (a sent one) is not held, so nothing changes.
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("Location: /mail?done=not_held"), "{head}");
    let (code, _, _) = http(port, "GET", "/mail/1/resend", cookie, "");
    assert_eq!(code, 404);
    // /api/status is what `taizhang status --format json` says.
    wait_for("the same status", Duration::from_secs(20), || {
        let (_, _, body) = http(port, "GET", "/api/status", cookie, "");
        serde_json::from_slice::<serde_json::Value>(&body).ok()
            == Some(site.status_at("2026-12-03T10:00:00+08:00"))
    });
    let log = stop(daemon);
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn off_loopback_the_page_needs_a_password() {
    let site = Site::new();
    let port = free_port();
    let out = site
        .cmd(&["watch", "--web", &format!("0.0.0.0:{port}")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("不是本机地址：开在其他地址上必须设置登录密码"),
        "{err}"
    );
    // With a password every page asks for it; the session cookie is HttpOnly, SameSite=Strict.
    let daemon = watch_with_password(&site, &format!("0.0.0.0:{port}"), &[]);
    let (code, head, _) = http(port, "GET", "/", "", "");
    assert_eq!(code, 303);
    assert!(head.contains("Location: /login"), "{head}");
    let (code, _, _) = http(port, "GET", "/api/status", "", "");
    assert_eq!(code, 401);
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let (code, _, _) = http(port, "POST", "/login", form, "password=wrong");
    assert_eq!(code, 403);
    let (code, head, _) = http(
        port,
        "POST",
        "/login",
        form,
        "password=%E5%8E%BF%E6%AE%8B%E8%81%942026",
    );
    assert_eq!(code, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap();
    let (code, _, body) = http(port, "GET", "/", &format!("Cookie: {session}\r\n"), "");
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&body).contains("台账报送情况"));
    stop(daemon);
}

/// A register of `unit` whose row 2 has an ID with a wrong check digit: returns
/// the register and that (full) ID.
fn with_wrong_id(
    rules: &taizhang::rules::RuleSet,
    unit: &str,
    rows: usize,
) -> (taizhang::samples::Register, String) {
    let mut bad = register(rules, unit, rows, 7);
    let Some(Val::Text(id)) = bad.rows[2].get("id_number").cloned() else {
        panic!("a sample ID is text");
    };
    let last = if id.ends_with('1') { '2' } else { '1' };
    let wrong = format!("{}{last}", &id[..17]);
    bad.set(2, "id_number", Val::text(wrong.clone()));
    (bad, wrong)
}

/// A unit's latest register submission and its status, from `taizhang status`.
fn status_of(site: &Site, unit: &str) -> Option<(i64, String)> {
    let st = site.status();
    st["periods"]
        .as_array()?
        .iter()
        .filter(|p| p["kind"] == "register")
        .flat_map(|p| p["units"].as_array().cloned().unwrap_or_default())
        .find(|u| u["unit"] == unit && !u["submission"].is_null())
        .map(|u| {
            (
                u["submission"].as_i64().unwrap_or(0),
                u["status"].as_str().unwrap_or("").to_string(),
            )
        })
}

/// The daemon's resident memory in KiB of the daemon's resident memory (Linux).
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn no_session_no_personal_data_no_foreign_host_and_ids_masked() {
    let site = Site::new();
    let rules = rules();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    let (bad, full_id) = with_wrong_id(&rules, "石桥镇", 8);
    site.drop_in(&bad, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("judged", Duration::from_secs(60), || {
        status_of(&site, "石桥镇").is_some_and(|(_, s)| s == "已退回")
    });
    let (id, _) = status_of(&site, "石桥镇").unwrap();
    let masked = format!("{}********{}", &full_id[..6], &full_id[14..]);
    let cookie = session(&site, port);
    let routes = [
        "/".to_string(),
        "/api/status".into(),
        "/api/version".into(),
        format!("/submission/{id}"),
        format!("/submission/{id}/original"),
        format!("/submission/{id}/annotated"),
        format!("/submission/{id}/reveal/1"),
        "/workbook/register/2026-11".into(),
        "/quarantine".into(),
        "/mail".into(),
        "/access".into(),
    ];
    // DNS rebinding: another name for this address gets nothing, session or not.
    for r in routes
        .iter()
        .chain(["/login".to_string(), "/static/app.js".into()].iter())
    {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {r} HTTP/1.1\r\nHost: taizhang.attacker.example\r\n{cookie}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let head = String::from_utf8_lossy(&raw);
        assert!(head.starts_with("HTTP/1.1 421"), "{r}: {head}");
    }
    // Without a session, no route answers with personal data, on loopback too.
    let archived = std::fs::read(&files_under(&site.state().join("archive"))[0]).unwrap();
    for r in &routes {
        let (code, head, body) = http(port, "GET", r, "", "");
        assert!(code == 303 || code == 401, "{r}: {code} {head}");
        if code == 303 {
            assert!(head.contains("Location: /login"), "{r}: {head}");
        }
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains(&full_id[..14]) && body != archived, "{r}");
    }
    let (code, head, _) = http(port, "GET", "/?token=not-the-token", "", "");
    assert_eq!(code, 303);
    assert!(head.contains("Location: /login?why=wrong"), "{head}");
    // With the console's token: the download is the archived file, byte for byte.
    let (code, _, bytes) = http(
        port,
        "GET",
        &format!("/submission/{id}/original"),
        &cookie,
        "",
    );
    assert_eq!(code, 200);
    assert_eq!(bytes, archived);
    // The full ID of the finding appears nowhere on the page; its masked form does.
    let (_, _, page) = http(port, "GET", &format!("/submission/{id}"), &cookie, "");
    let page = String::from_utf8_lossy(&page);
    assert!(!page.contains(&full_id), "{page}");
    assert!(page.contains(&masked), "{masked} not in {page}");
    let n = page
        .split(&format!("/submission/{id}/reveal/"))
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    // Revealed on request, and logged.
    let (code, _, shown) = http(
        port,
        "GET",
        &format!("/submission/{id}/reveal/{n}"),
        &cookie,
        "",
    );
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&shown).contains(&full_id));
    let (_, _, access) = http(
        port,
        "GET",
        &format!("/access?submission={id}"),
        &cookie,
        "",
    );
    let access = String::from_utf8_lossy(&access);
    for action in ["下载原件", "查看报送", "查看完整号码"] {
        assert!(access.contains(action), "{action}: {access}");
    }
    assert!(!access.contains(&full_id[..14]), "{access}");
    let (_, _, all) = http(port, "GET", "/access", &cookie, "");
    let all = String::from_utf8_lossy(&all);
    assert!(
        all.contains("令牌登录") && all.contains("登录失败"),
        "{all}"
    );
    // The files the daemon keeps hold the token owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(site.state().join("web-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let log = stop(daemon);
    assert!(
        log.contains("?token="),
        "the console shows the address to open: {log}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_stalled_client_holds_up_neither_another_client_nor_the_stop() {
    let site = Site::new();
    let rules = rules();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    // A large original to download (the client that stops reading).
    site.drop_in(
        &register(&rules, "柳河镇", 20_000, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for("judged", Duration::from_secs(60), || {
        status_of(&site, "柳河镇").is_some_and(|(_, s)| s == "已通过")
    });
    let (id, _) = status_of(&site, "柳河镇").unwrap();
    // The county workbook's rebuild is done (a stop finishes the work in hand).
    wait_for("the county workbook", Duration::from_secs(60), || {
        site.county_workbook().exists()
    });
    let cookie = session(&site, port);
    // One client announces a login body and sends 9 bytes of it.
    let mut stalled_post = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stalled_post,
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\npassword="
    )
    .unwrap();
    // Another asks for the download and never reads it.
    let mut not_reading = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        not_reading,
        "GET /submission/{id}/original HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}\r\n"
    )
    .unwrap();
    // A header of 1 MiB, four times: refused, and not kept in memory.
    let before = rss_kib(daemon.id());
    for _ in 0..4 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let big = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Big: {}\r\n\r\n",
            "a".repeat(1 << 20)
        );
        let _ = s.write_all(big.as_bytes());
        let mut head = [0u8; 64];
        let n = s.read(&mut head).unwrap_or(0);
        assert!(
            String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 431"),
            "{:?}",
            String::from_utf8_lossy(&head[..n])
        );
    }
    let grown = rss_kib(daemon.id()).saturating_sub(before);
    assert!(grown < 1024, "the daemon grew by {grown} KiB");
    // Meanwhile another clerk's page answers at once.
    let started = std::time::Instant::now();
    let (code, _, _) = http(port, "GET", "/", &cookie, "");
    assert_eq!(code, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // A stop does not wait on either client.
    let started = std::time::Instant::now();
    let log = stop(daemon);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}: {log}",
        started.elapsed()
    );
    drop((stalled_post, not_reading));
}

#[test]
fn password_mode_backs_off_expires_idle_sessions_and_logs_out() {
    let site = Site::new();
    let port = free_port();
    let config = site.root.join("taizhang.toml");
    // A session ends after 0.3 s unused.
    std::fs::write(&config, "web_session_idle = 0.005\n").unwrap();
    let daemon = watch_with_password(
        &site,
        &format!("127.0.0.1:{port}"),
        &["--config", config.to_str().unwrap()],
    );
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let right = "password=%E5%8E%BF%E6%AE%8B%E8%81%942026";
    for _ in 0..5 {
        let (code, _, _) = http(port, "POST", "/login", form, "password=guess");
        assert_eq!(code, 403);
    }
    // After five wrong tries the right password waits too.
    let (code, head, _) = http(port, "POST", "/login", form, right);
    assert_eq!(code, 429, "{head}");
    assert!(head.contains("Retry-After: "), "{head}");
    let mut head = String::new();
    wait_for("the wait to pass", Duration::from_secs(10), || {
        let (code, h, _) = http(port, "POST", "/login", form, right);
        head = h;
        code == 303
    });
    let cookie_of = |head: &str| {
        format!(
            "Cookie: {}\r\n",
            head.lines()
                .find_map(|l| l.strip_prefix("Set-Cookie: "))
                .unwrap()
                .split(';')
                .next()
                .unwrap()
        )
    };
    let cookie = cookie_of(&head);
    let (code, _, _) = http(port, "GET", "/", &cookie, "");
    assert_eq!(code, 200);
    // Unused past the idle time, the session is over (any use would renew it:
    // this wait is the idle time itself).
    std::thread::sleep(Duration::from_millis(400));
    let (code, head, _) = http(port, "GET", "/quarantine", &cookie, "");
    assert_eq!(code, 303);
    assert!(head.contains("Location: /login?why=expired"), "{head}");
    // Logout ends a session at once.
    let (_, head, _) = http(port, "POST", "/login", form, right);
    let cookie = cookie_of(&head);
    let (_, _, page) = http(port, "GET", "/mail", &cookie, "");
    let page = String::from_utf8_lossy(&page).to_string();
    let csrf = page
        .split("data-token=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let with = format!("{form}{cookie}");
    // A POST from another site's page is refused whatever it carries.
    let (code, _, _) = http(
        port,
        "POST",
        "/logout",
        &format!("{with}Origin: http://taizhang.attacker.example\r\n"),
        &format!("csrf={csrf}"),
    );
    assert_eq!(code, 403);
    let (code, head, _) = http(
        port,
        "POST",
        "/logout",
        &format!("{with}Origin: http://127.0.0.1:{port}\r\n"),
        &format!("csrf={csrf}"),
    );
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("Location: /login?why=logout"), "{head}");
    let (code, _, _) = http(port, "GET", "/api/status", &cookie, "");
    assert_eq!(code, 401);
    stop(daemon);
}

#[test]
fn with_a_certificate_the_page_speaks_https_and_its_cookie_is_secure() {
    let site = Site::new();
    let port = free_port();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_pem, key_pem) = (site.root.join("page.crt"), site.root.join("page.key"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    let config = site.root.join("taizhang.toml");
    std::fs::write(
        &config,
        format!(
            "web_tls_cert = {:?}\nweb_tls_key = {:?}\n",
            cert_pem.to_str().unwrap(),
            key_pem.to_str().unwrap()
        ),
    )
    .unwrap();
    let daemon = site
        .cmd(&[
            "watch",
            "--config",
            config.to_str().unwrap(),
            "--web",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_page(port);
    let token = std::fs::read_to_string(site.state().join("web-token")).unwrap();
    let out = python(
        r#"
import http.client, ssl, sys
port, token, ca = int(sys.argv[1]), sys.argv[2].strip(), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
c.request("GET", "/?token=" + token)
r = c.getresponse(); r.read()
cookie = r.getheader("Set-Cookie")
print(r.status, cookie)
c.request("GET", "/", headers={"Cookie": cookie.split(";")[0]})
r = c.getresponse(); body = r.read().decode()
print(r.status, "台账报送情况" in body, r.getheader("Strict-Transport-Security"))
"#,
        &[
            Path::new(&port.to_string()),
            Path::new(token.trim()),
            &cert_pem,
        ],
    );
    let lines: Vec<&str> = out.trim().lines().collect();
    assert!(lines[0].starts_with("303 tz_session="), "{out}");
    assert!(
        lines[0].contains("Secure") && lines[0].contains("HttpOnly"),
        "{out}"
    );
    assert!(lines[1].starts_with("200 True max-age="), "{out}");
    // Plain HTTP gets no page.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The TLS server may close the connection before the request is written
    // (a broken pipe): that too is "no page".
    let _ = write!(s, "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(!String::from_utf8_lossy(&raw).contains("台账"));
    let log = stop(daemon);
    assert!(
        log.contains(&format!("status page at https://127.0.0.1:{port}/")),
        "{log}"
    );
}

/// A stray file after an accepted one (a `.csv` named as the register): the
/// unit stays 已通过 on the page, in the headline count and in `status`, and the
/// rejected attempt is shown beside it.
#[test]
fn a_stray_file_after_an_accepted_one_keeps_the_unit_accepted_with_the_attempt_shown() {
    let site = Site::new();
    let rules = rules();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    site.drop_in(
        &register(&rules, "石桥镇", 8, 2),
        "石桥镇_残疾人信息登记簿_2026-11.xlsx",
    );
    wait_for("accepted", Duration::from_secs(60), || {
        status_of(&site, "石桥镇").is_some_and(|(_, s)| s == "已通过")
    });
    std::fs::write(
        site.inbox().join("石桥镇_残疾人信息登记簿_2026-11.csv"),
        "序号,姓名\n1,张三\n",
    )
    .unwrap();
    wait_for("the stray file judged", Duration::from_secs(60), || {
        site.status()["periods"].as_array().is_some_and(|ps| {
            ps.iter()
                .flat_map(|p| p["units"].as_array().cloned().unwrap_or_default())
                .any(|u| u["later_rejected"].is_object())
        })
    });
    let cookie = session(&site, port);
    let (_, _, page) = http(port, "GET", "/", &cookie, "");
    let page = String::from_utf8_lossy(&page);
    let row = page
        .split("data-unit=\"石桥镇\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap();
    assert!(row.contains("已通过") && !row.contains(">已退回<"), "{row}");
    assert!(
        row.contains("较晚收到的") && row.contains("石桥镇_残疾人信息登记簿_2026-11.csv"),
        "{row}"
    );
    assert!(page.contains("1/13 个单位已通过"), "{page}");
    // The units still to report come first, and the printable 催报 list names
    // them with their contacts (石桥镇 owes its payments ledger only).
    let first_row = page.split("data-unit=\"").nth(1).unwrap_or("");
    assert!(!first_row.starts_with("石桥镇"), "{page}");
    let chase = page.split("期催报名单").nth(1).unwrap_or("");
    assert!(chase.starts_with("（13 个单位）"), "{page}");
    assert!(chase.contains("cl-liuhe@anhe.example.gov.cn"), "{page}");
    let shiqiao = chase
        .split("<td>石桥镇</td>")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or("");
    assert!(
        shiqiao.contains("《两项补贴发放台账》未报送") && !shiqiao.contains("登记簿"),
        "{shiqiao}"
    );
    let (_, s) = status_of(&site, "石桥镇").unwrap();
    assert_eq!(s, "已通过");
    stop(daemon);
}

/// One person across two months: found by name and by ID number (its first
/// digits), every row linked to its submission, the ID masked, the search in
/// the access log without what was searched for.
#[test]
fn a_person_is_found_across_two_months() {
    let site = Site::new();
    let rules = rules();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    let oct = register(&rules, "柳河镇", 10, 11);
    // November's file: the same persons, one phone number changed (other bytes).
    let mut nov = oct.clone();
    nov.set(0, "phone", Val::text("13912345678"));
    let Some(Val::Text(id)) = oct.rows[3].get("id_number").cloned() else {
        panic!("a sample ID is text");
    };
    let Some(Val::Text(name)) = oct.rows[3].get("name").cloned() else {
        panic!("a name");
    };
    site.drop_in(&oct, "柳河镇_残疾人信息登记簿_2026-10.xlsx");
    site.drop_in(&nov, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    let cookie = session(&site, port);
    wait_for("both accepted", Duration::from_secs(60), || {
        let (_, _, body) = http(port, "GET", "/api/status", &cookie, "");
        String::from_utf8_lossy(&body).matches("\"已通过\"").count() >= 2
    });
    let (_, _, form) = http(port, "GET", "/search", &cookie, "");
    let form = String::from_utf8_lossy(&form).to_string();
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let search = |q: &str| {
        let enc: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
        let (code, _, body) = http(
            port,
            "POST",
            "/search",
            &format!("Content-Type: application/x-www-form-urlencoded\r\n{cookie}"),
            &format!("csrf={csrf}&q={enc}"),
        );
        assert_eq!(code, 200);
        let page = String::from_utf8_lossy(&body).to_string();
        let table = page
            .split("id=\"persons\"")
            .nth(1)
            .unwrap_or("")
            .to_string();
        (page, table)
    };
    for q in [name.as_str(), &id[..10], id.as_str()] {
        let (page, table) = search(q);
        assert!(
            table.contains("2026-10") && table.contains("2026-11"),
            "{q}: {page}"
        );
        assert!(
            table.contains(&name) && table.contains("柳河镇"),
            "{q}: {page}"
        );
        assert!(
            table.contains("/submission/1\"") && table.contains("/submission/2\""),
            "{q}: {page}"
        );
        assert!(!page.contains(&id), "the full ID is never shown: {page}");
        assert!(
            table.contains(&format!("{}********{}", &id[..6], &id[14..])),
            "{page}"
        );
    }
    let (_, _, access) = http(port, "GET", "/access", &cookie, "");
    let access = String::from_utf8_lossy(&access);
    assert!(
        access.contains("查找人员") && access.contains("按身份证号") && access.contains("按姓名"),
        "{access}"
    );
    assert!(
        !access.contains(&id[..10]) && !access.contains(&name),
        "{access}"
    );
    stop(daemon);
}

/// A file whose sender cannot be told is quarantined with a suggested unit (its
/// rows' 所属村 belong to one township), and county staff assign it from the
/// page: it is then processed as that unit's, and the action is logged.
#[test]
fn a_quarantined_file_is_suggested_a_unit_and_assigned_to_it_from_the_page() {
    let site = Site::new();
    let rules = rules();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    let mut anon = register(&rules, "高庙乡", 8, 4);
    anon.title = false;
    site.drop_in(&anon, "登记簿_2026-11.xlsx");
    wait_for("quarantined", Duration::from_secs(60), || {
        site.status()["quarantined"]
            .as_array()
            .is_some_and(|q| !q.is_empty())
    });
    let cookie = session(&site, port);
    let (_, _, page) = http(port, "GET", "/quarantine", &cookie, "");
    let page = String::from_utf8_lossy(&page).to_string();
    assert!(page.contains("可能是高庙乡的文件"), "{page}");
    assert!(
        page.contains("<option value=\"高庙乡\" selected>"),
        "{page}"
    );
    let action = page
        .split("action=\"/quarantine/")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let unit: String = "高庙乡".bytes().map(|b| format!("%{b:02X}")).collect();
    let form = format!("Content-Type: application/x-www-form-urlencoded\r\n{cookie}");
    // Without the page's token, nothing happens.
    let (code, _, _) = http(
        port,
        "POST",
        &format!("/quarantine/{action}"),
        &form,
        &format!("unit={unit}"),
    );
    assert_eq!(code, 403);
    let (code, head, _) = http(
        port,
        "POST",
        &format!("/quarantine/{action}"),
        &form,
        &format!("csrf={csrf}&unit={unit}"),
    );
    assert_eq!(code, 303, "{head}");
    assert!(
        head.contains("Location: /quarantine?done=assigned"),
        "{head}"
    );
    wait_for("processed as 高庙乡's", Duration::from_secs(60), || {
        status_of(&site, "高庙乡").is_some_and(|(_, s)| s == "已通过")
    });
    let st = site.status();
    assert!(st["quarantined"].as_array().unwrap().is_empty(), "{st:#}");
    let (_, _, access) = http(port, "GET", "/access", &cookie, "");
    assert!(String::from_utf8_lossy(&access).contains("指定为高庙乡"));
    stop(daemon);
}

/// A deadline edit that makes today a reminder day: the page shows the reminders
/// it would send, and they go only once the hold is over (`reminder_hold`),
/// one mail per unit.
#[test]
fn a_deadline_edit_shows_its_reminders_on_the_page_before_they_go() {
    let site = Site::new();
    let rules = edited_rules(&site.root, |_, t| t);
    let config = site.root.join("taizhang.toml");
    std::fs::write(&config, "reminder_hold = 15\n").unwrap();
    let port = free_port();
    let daemon = site
        .cmd_with_rules(
            &[
                "watch",
                "--settle",
                "0.2",
                "--config",
                config.to_str().unwrap(),
                "--web",
                &format!("127.0.0.1:{port}"),
            ],
            &rules,
        )
        // 3 December: the deadline (the 5th) is 2 days off, not a reminder day.
        .env("TAIZHANG_NOW", "2026-12-03T10:00:00+08:00")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_page(port);
    let cookie = session(&site, port);
    let county = rules.join("county.toml");
    let text = std::fs::read_to_string(&county).unwrap();
    // Due on the 6th: 3 days off, a reminder day.
    std::fs::write(&county, text.replace("day = 5", "day = 6")).unwrap();
    let mut page = String::new();
    wait_for(
        "the held reminders on the page",
        Duration::from_secs(30),
        || {
            let (_, _, body) = http(port, "GET", "/", &cookie, "");
            page = String::from_utf8_lossy(&body).to_string();
            page.contains("截止日期设置已修改")
        },
    );
    let reminders = || {
        mails(&site)
            .into_iter()
            .filter(|(_, s, _)| s.contains("催报"))
            .count()
    };
    assert_eq!(reminders(), 0, "held, not sent");
    assert!(
        page.contains("今天要向 <strong>13</strong> 个单位发送催报"),
        "{page}"
    );
    assert!(
        page.contains("<li>柳河镇：残疾人信息登记簿、两项补贴发放台账</li>"),
        "{page}"
    );
    let st = site.status();
    assert_eq!(st["reminders_held"]["units"].as_array().unwrap().len(), 13);
    // Once the hold is over they go: one mail per unit.
    wait_for("the reminders", Duration::from_secs(60), || {
        reminders() == 13
    });
    let (_, _, body) = http(port, "GET", "/", &cookie, "");
    assert!(!String::from_utf8_lossy(&body).contains("截止日期设置已修改"));
    stop(daemon);
}

/// A payments ledger with no word of its sender (no village column to go by):
/// the unit whose accepted register already has its persons is suggested, in
/// the reason and preselected on the quarantine page.
#[test]
fn a_quarantined_ledger_is_suggested_the_unit_whose_register_has_its_persons() {
    let site = Site::new();
    let rules = rules();
    let reg = register(&rules, "清泉镇", 12, 7);
    site.drop_in(&reg, "清泉镇_残疾人信息登记簿_2026-11.xlsx");
    site.drop_in(
        &register(&rules, "柳河镇", 12, 8),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    site.run_once_ok();
    let code = rules.county.unit("清泉镇").unwrap().code.clone();
    let persons = taizhang::samples::people(&code, &rules.villages_of("清泉镇"), 12, 7);
    let mut pay = taizhang::samples::payments("清泉镇", &persons, "2026-11");
    pay.title = false;
    site.drop_in(&pay, "发放表_2026-11.xlsx");
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    wait_for("quarantined", Duration::from_secs(60), || {
        site.status()["quarantined"]
            .as_array()
            .is_some_and(|q| !q.is_empty())
    });
    let st = site.status();
    let reason = st["quarantined"][0]["reason"].as_str().unwrap().to_string();
    // Those paid (a subsidy by the register), every one of them on 清泉镇's register.
    let paid = persons
        .iter()
        .filter(|p| p.living > 0.0 || p.nursing > 0.0)
        .count();
    assert!(paid >= 3, "{paid}");
    assert!(
        reason.contains(&format!(
            "文件中 {paid}/{paid} 人已登记在清泉镇已通过的残疾人信息登记簿中，可能是清泉镇的文件"
        )),
        "{reason}"
    );
    let cookie = session(&site, port);
    let (_, _, page) = http(port, "GET", "/quarantine", &cookie, "");
    let page = String::from_utf8_lossy(&page).to_string();
    assert!(
        page.contains("<option value=\"清泉镇\" selected>"),
        "{page}"
    );
    stop(daemon);
}

/// A register with neither known villages nor known persons: the unit whose
/// accepted register has the exchanges of its landlines is suggested.
#[test]
fn a_quarantined_register_is_suggested_the_unit_of_its_phone_exchanges() {
    let site = Site::new();
    let rules = rules();
    let mut liuhe = register(&rules, "柳河镇", 8, 11);
    let mut shiqiao = register(&rules, "石桥镇", 8, 12);
    for i in 0..4 {
        liuhe.set(i, "phone", Val::text(format!("0371-688{:04}", 1000 + i)));
        shiqiao.set(i, "phone", Val::text(format!("0371-699{:04}", 1000 + i)));
    }
    site.drop_in(&liuhe, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    site.drop_in(&shiqiao, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    site.run_once_ok();
    let mut anon = register(&rules, "柳河镇", 6, 99);
    anon.title = false;
    for i in 0..6 {
        anon.set(i, "village", Val::text("无名村"));
        anon.set(i, "phone", Val::text(format!("0371-688{:04}", 2000 + i)));
    }
    site.drop_in(&anon, "登记簿_2026-11.xlsx");
    site.run_once_ok();
    let st = site.status();
    let reason = st["quarantined"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("文件中 6/6 个固定电话的号段（区号及局号）只见于柳河镇已通过的残疾人信息登记簿，可能是柳河镇的文件"),
        "{st:#}"
    );
}

/// An accepted register's page shows what changed since the unit's previous
/// register (新增 / 减少 / 变更), the ID numbers masked.
#[test]
fn a_registers_page_shows_its_changes_since_last_month() {
    let site = Site::new();
    let rules = rules();
    let oct = register(&rules, "柳河镇", 10, 5);
    let mut nov = oct.clone();
    nov.columns.push(("status".into(), "人员状态".into()));
    nov.columns.push(("change_date".into(), "变动日期".into()));
    nov.set(2, "status", Val::text("死亡"))
        .set(
            2,
            "change_date",
            Val::Date(chrono::NaiveDate::from_ymd_opt(2026, 11, 8).unwrap()),
        )
        .set(2, "living_subsidy", Val::Blank)
        .set(2, "nursing_subsidy", Val::Blank);
    let Some(Val::Text(id)) = nov.rows[2].get("id_number").cloned() else {
        panic!("an ID");
    };
    let Some(Val::Text(name)) = nov.rows[2].get("name").cloned() else {
        panic!("a name");
    };
    site.drop_in(&oct, "柳河镇_残疾人信息登记簿_2026-10.xlsx");
    site.drop_in(&nov, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    site.run_once_ok();
    let port = free_port();
    let daemon = watch_with_page(&site, port);
    let cookie = session(&site, port);
    let (code, _, page) = http(port, "GET", "/submission/2", &cookie, "");
    let page = String::from_utf8_lossy(&page).to_string();
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("本期变动"), "{page}");
    assert!(
        page.contains("与 2026-10 的登记簿（<a href=\"/submission/1\">第 1 号报送</a>）比对：新增 <strong>0</strong> 人，减少 <strong>1</strong> 人，变更 <strong>0</strong> 人。"),
        "{page}"
    );
    assert!(page.contains(&format!("<td>{name}</td>")), "{page}");
    assert!(
        page.contains("减少（死亡）") && page.contains("2026-11-08"),
        "{page}"
    );
    assert!(!page.contains(&id), "the ID is masked: {page}");
    stop(daemon);
}
