//! The status page: the real daemon serving it on a loopback port, driven by a
//! real browser (headless Chromium through Selenium and Debian's chromedriver),
//! and probed over plain HTTP for its safety: hostile values render as text, no
//! URL reaches the file system, a non-loopback address needs a password, a
//! state-changing POST needs its CSRF token. Screenshots go to
//! `target/test-artifacts/web/`.

mod common;

use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use taizhang::samples::Val;

/// One HTTP/1.1 request over a plain socket: (status, headers, body).
fn http(port: u16, method: &str, path: &str, extra: &str, body: &str) -> (u16, String, Vec<u8>) {
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

/// The real daemon with its page on `port`, once the page answers.
fn watch_with_page(site: &Site, port: u16) -> std::process::Child {
    let daemon = site
        .cmd(&[
            "watch",
            "--settle",
            "0.2",
            "--web",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
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

/// The submission ids of a unit's latest register submission, from /api/status.
fn latest_of(port: u16, unit: &str) -> Option<(i64, String)> {
    let (_, _, body) = http(port, "GET", "/api/status", "", "");
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

base, shots, downloads, late_file, inbox = sys.argv[1:6]
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
    d.get(base + "/")
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
        latest_of(port, "柳河镇").is_some() && latest_of(port, "石桥镇").is_some()
    });
    let (bad_id, status) = latest_of(port, "石桥镇").unwrap();
    assert_eq!(status, "已退回");
    // The file that arrives while the page is open.
    let later = tempfile::tempdir().unwrap();
    let late = later.path().join("清泉镇_残疾人信息登记簿_2026-11.xlsx");
    register(&rules, "清泉镇", 8, 3).write(&late).unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let shots = artifacts();
    let base = format!("http://127.0.0.1:{port}");
    let inbox = site.inbox();
    let out = python(
        BROWSER,
        &[Path::new(&base), &shots, downloads.path(), &late, &inbox],
    );
    let got: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
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
            .join("2026-11")
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
    let mut bad = register(&rules, "石桥镇", 6, 5);
    bad.set(1, "name", Val::text("\"><img src=x onerror=alert(1)>"));
    bad.set(1, "village", Val::text("<b>村</b>"));
    site.drop_in(&bad, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    wait_for("judged", Duration::from_secs(60), || {
        latest_of(port, "石桥镇").is_some()
    });
    let (id, _) = latest_of(port, "石桥镇").unwrap();
    let (code, head, body) = http(port, "GET", &format!("/submission/{id}"), "", "");
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
        let (code, _, _) = http(port, "GET", path, "", "");
        assert_eq!(code, 404, "{path}");
    }
    // The downloads are there by id.
    let (code, head, bytes) = http(port, "GET", &format!("/submission/{id}/original"), "", "");
    assert_eq!(code, 200, "{head}");
    let archived = files_under(&site.state().join("archive"));
    assert_eq!(bytes, std::fs::read(&archived[0]).unwrap());
    // A state-changing request needs the page's CSRF token.
    let (_, _, mail_page) = http(port, "GET", "/mail", "", "");
    let mail_page = String::from_utf8_lossy(&mail_page).to_string();
    let token = mail_page
        .split("data-token=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
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
    let (code, _, _) = http(port, "GET", "/mail/1/resend", "", "");
    assert_eq!(code, 404);
    // /api/status is what `taizhang status --format json` says.
    wait_for("the same status", Duration::from_secs(20), || {
        let (_, _, body) = http(port, "GET", "/api/status", "", "");
        serde_json::from_slice::<serde_json::Value>(&body).ok() == Some(site.status())
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
    let pw = site.root.join("web-password.txt");
    std::fs::write(&pw, "县残联2026\n").unwrap();
    let daemon = site
        .cmd(&[
            "watch",
            "--web",
            &format!("0.0.0.0:{port}"),
            "--web-password-file",
            pw.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_page(port);
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
