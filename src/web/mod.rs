//! The status page for county staff, served by `watch` (on by default at
//! `http://127.0.0.1:8470/`).
//!
//! One thread under the daemon's stop flag: [`tiny_http`] (a small, blocking,
//! well-kept HTTP server — the daemon is threads, not an async runtime) takes
//! each request in turn; pages are rendered with [`maud`], whose templates
//! escape every value unless told otherwise (names, values and file names come
//! from township files and are hostile by assumption). Everything is read from
//! the journal through [`crate::standing`] and [`crate::status`]; no URL
//! reaches the file system: downloads go by submission id (or kind and period)
//! through the journal, anything else is 404.
//!
//! Safety: bound to loopback unless a password is set (then every page asks
//! for it: a session cookie, `HttpOnly`, `SameSite=Strict`); state-changing
//! actions are POST with a CSRF token; a Content-Security-Policy allows only
//! the binary's own script and style. The page polls a change mark and reloads
//! itself when something was journaled; without script it is a plain page.

mod pages;

use crate::journal::Journal;
use crate::rules::RuleSet;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};

/// What the page serves from.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub addr: String,
    pub password: Option<String>,
    pub state: PathBuf,
    pub outbox: PathBuf,
    /// The rules folder the workers read (reloaded when the journal says the
    /// rules in force changed).
    pub rules: PathBuf,
    /// Where notices are written when no mail server is configured (said in
    /// `/api/status` as `taizhang status` says it).
    pub mail_folder: Option<String>,
}

/// Why the page could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("网页地址「{0}」无效（应为 IP:端口，如 127.0.0.1:8470）")]
    Address(String),
    #[error("网页地址 {0} 不是本机地址：开在其他地址上必须设置登录密码（web_password_file）")]
    NeedsPassword(String),
    #[error("无法在 {0} 上开启网页：{1}")]
    Bind(String, String),
    #[error("无法读取网页密码文件 {0}：{1}")]
    Password(PathBuf, String),
}

/// Reads the password file (its first line).
pub fn read_password(path: &std::path::Path) -> Result<String, WebError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| WebError::Password(path.to_path_buf(), crate::fsutil::io_zh(&e)))?;
    let pw = text.lines().next().unwrap_or("").trim().to_string();
    if pw.is_empty() {
        return Err(WebError::Password(path.to_path_buf(), "文件为空".into()));
    }
    Ok(pw)
}

/// Binds the page's address: a loopback address always, another only with a password.
pub fn bind(cfg: &WebConfig) -> Result<Server, WebError> {
    let addr: std::net::SocketAddr = cfg
        .addr
        .parse()
        .map_err(|_| WebError::Address(cfg.addr.clone()))?;
    if !addr.ip().is_loopback() && cfg.password.is_none() {
        return Err(WebError::NeedsPassword(cfg.addr.clone()));
    }
    Server::http(addr).map_err(|e| WebError::Bind(cfg.addr.clone(), e.to_string()))
}

/// Serves until `stop` is set. `mail_wake` is told when a message is queued again.
pub fn serve(
    server: Server,
    cfg: WebConfig,
    stop: Arc<AtomicBool>,
    mail_wake: Option<mpsc::Sender<()>>,
) {
    let mut app = match App::new(cfg, mail_wake) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("status page stopped: {e}");
            return;
        }
    };
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(req)) => app.handle(req),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "status page: a request could not be read");
            }
        }
    }
}

/// A response about to be sent.
pub(crate) struct Reply {
    status: u16,
    content_type: &'static str,
    body: Body,
    headers: Vec<(String, String)>,
}

enum Body {
    Text(String),
    File(std::fs::File, String),
}

impl Reply {
    fn with(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body: Body::Text(body),
            headers: Vec::new(),
        }
    }
    fn html(body: String) -> Reply {
        Reply::with(200, "text/html; charset=utf-8", body)
    }
    fn text(status: u16, body: &str) -> Reply {
        Reply::with(status, "text/plain; charset=utf-8", body.to_string())
    }
    fn not_found() -> Reply {
        Reply::text(404, "404 找不到该页面")
    }
    fn redirect(to: &str) -> Reply {
        let mut r = Reply::text(303, "");
        r.headers.push(("Location".into(), to.to_string()));
        r
    }
    /// A file to download under `name` (404 when it cannot be opened).
    fn file(path: &std::path::Path, name: String) -> Reply {
        match std::fs::File::open(path) {
            Ok(f) => Reply {
                status: 200,
                content_type: content_type_of(&name),
                body: Body::File(f, name),
                headers: Vec::new(),
            },
            Err(_) => Reply::not_found(),
        }
    }
    fn json(body: String) -> Reply {
        Reply::with(200, "application/json; charset=utf-8", body)
    }
}

struct Session {
    csrf: String,
}

struct App {
    cfg: WebConfig,
    journal: Journal,
    rules: Option<RuleSet>,
    rules_version: Option<String>,
    /// Session token → its CSRF token (with a password).
    sessions: HashMap<String, Session>,
    /// The CSRF token of forms when there is no password (one per process).
    csrf: String,
    mail_wake: Option<mpsc::Sender<()>>,
}

/// A random token (hex) from the OS.
fn token() -> String {
    let mut b = [0u8; 24];
    if getrandom::getrandom(&mut b).is_err() {
        // Never a fixed token: the clock and the pid as a last resort.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("{t:x}{:x}", std::process::id());
    }
    crate::intake::archive::hex(&b)
}

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("app.js");

impl App {
    fn new(cfg: WebConfig, mail_wake: Option<mpsc::Sender<()>>) -> Result<App, String> {
        let journal = Journal::open(&cfg.state).map_err(|e| e.to_string())?;
        Ok(App {
            cfg,
            journal,
            rules: None,
            rules_version: None,
            sessions: HashMap::new(),
            csrf: token(),
            mail_wake,
        })
    }

    /// The rules in force, reloaded when the journal says they changed.
    fn refresh_rules(&mut self) {
        let now = self.journal.rules_loaded().ok().flatten().map(|(v, _)| v);
        if self.rules.is_none() || now != self.rules_version {
            match RuleSet::load(&self.cfg.rules) {
                Ok(r) => {
                    self.rules = Some(r);
                    self.rules_version = now;
                }
                Err(e) => tracing::warn!("status page: rules could not be loaded: {e}"),
            }
        }
    }

    fn handle(&mut self, mut req: Request) {
        let reply = self.route(&mut req);
        let reply = reply.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "status page: request failed");
            Reply::text(500, "500 服务器内部错误，请稍后再试")
        });
        let mut headers = vec![
            ("Content-Type".to_string(), reply.content_type.to_string()),
            (
                "Content-Security-Policy".into(),
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'".into(),
            ),
            ("X-Content-Type-Options".into(), "nosniff".into()),
            ("Referrer-Policy".into(), "no-referrer".into()),
            ("Cache-Control".into(), "no-store".into()),
        ];
        headers.extend(reply.headers);
        let mut hs = Vec::new();
        for (k, v) in headers {
            if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                hs.push(h);
            }
        }
        let res = match reply.body {
            Body::Text(t) => {
                let mut r = Response::from_string(t).with_status_code(reply.status);
                for h in hs {
                    r.add_header(h);
                }
                req.respond(r)
            }
            Body::File(f, name) => {
                let mut r = Response::from_file(f).with_status_code(reply.status);
                for h in hs {
                    r.add_header(h);
                }
                if let Ok(h) = Header::from_bytes(
                    &b"Content-Disposition"[..],
                    content_disposition(&name).as_bytes(),
                ) {
                    r.add_header(h);
                }
                req.respond(r)
            }
        };
        if let Err(e) = res {
            tracing::debug!(error = %e, "status page: the browser went away");
        }
    }

    fn cookie(req: &Request, name: &str) -> Option<String> {
        req.headers()
            .iter()
            .filter(|h| h.field.equiv("Cookie"))
            .flat_map(|h| h.value.as_str().split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The CSRF token of this request's session (or of the process without a
    /// password); None when a password is set and the session is not logged in.
    fn session_csrf(&self, req: &Request) -> Option<String> {
        match &self.cfg.password {
            None => Some(self.csrf.clone()),
            Some(_) => {
                let t = App::cookie(req, "tz_session")?;
                self.sessions.get(&t).map(|s| s.csrf.clone())
            }
        }
    }

    fn route(&mut self, req: &mut Request) -> Result<Reply, String> {
        let url = req.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let method = req.method().clone();
        match (&method, segs.as_slice()) {
            (Method::Get, ["static", "style.css"]) => {
                return Ok(Reply::with(200, "text/css; charset=utf-8", STYLE.into()))
            }
            (Method::Get, ["static", "app.js"]) => {
                return Ok(Reply::with(
                    200,
                    "text/javascript; charset=utf-8",
                    SCRIPT.into(),
                ))
            }
            (Method::Get, ["login"]) => return Ok(Reply::html(pages::login(false))),
            (Method::Post, ["login"]) => return Ok(self.login(req)),
            _ => {}
        }
        let Some(csrf) = self.session_csrf(req) else {
            return Ok(match method {
                Method::Get if segs.first() != Some(&"api") => Reply::redirect("/login"),
                _ => Reply::text(401, "401 请先登录"),
            });
        };
        let journal_err = |e: crate::journal::JournalError| e.to_string();
        match (&method, segs.as_slice()) {
            (Method::Get, []) => {
                let period = query_param(query, "period").filter(|p| is_period(p));
                let mark = self.journal.change_mark().map_err(journal_err)?;
                self.refresh_rules();
                let Some(rules) = self.rules.as_ref() else {
                    return Ok(Reply::text(503, "规则目录无法载入，请查看日志"));
                };
                pages::index(rules, &self.journal, &self.cfg, period.as_deref(), &mark)
                    .map(Reply::html)
                    .map_err(journal_err)
            }
            (Method::Get, ["submission", id]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return Ok(Reply::not_found());
                };
                let mark = self.journal.change_mark().map_err(journal_err)?;
                match pages::submission(&self.journal, id, &mark).map_err(journal_err)? {
                    Some(p) => Ok(Reply::html(p)),
                    None => Ok(Reply::not_found()),
                }
            }
            (Method::Get, ["submission", id, what @ ("original" | "annotated")]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return Ok(Reply::not_found());
                };
                self.download(id, what)
            }
            (Method::Get, ["workbook", kind, period]) => self.workbook(kind, period),
            (Method::Get, ["quarantine"]) => {
                let mark = self.journal.change_mark().map_err(journal_err)?;
                pages::quarantine(&self.journal, &mark)
                    .map(Reply::html)
                    .map_err(journal_err)
            }
            (Method::Get, ["mail"]) => {
                let mark = self.journal.change_mark().map_err(journal_err)?;
                let notice = query_param(query, "done");
                pages::mail(&self.journal, &csrf, notice.as_deref(), &mark)
                    .map(Reply::html)
                    .map_err(journal_err)
            }
            (Method::Post, ["mail", id, "resend"]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return Ok(Reply::not_found());
                };
                let form = read_form(req);
                if form.get("csrf").map(String::as_str) != Some(csrf.as_str()) {
                    return Ok(Reply::text(
                        403,
                        "403 表单已过期或来源不明，请刷新页面后重试",
                    ));
                }
                let ok = self.journal.mail_resend_held(id).map_err(journal_err)?;
                if ok {
                    tracing::info!("mail #{id} queued again from the status page");
                    if let Some(w) = &self.mail_wake {
                        let _ = w.send(());
                    }
                }
                Ok(Reply::redirect(if ok {
                    "/mail?done=resent"
                } else {
                    "/mail?done=not_held"
                }))
            }
            (Method::Get, ["api", "status"]) => {
                self.refresh_rules();
                let Some(rules) = self.rules.as_ref() else {
                    return Ok(Reply::text(503, "{}"));
                };
                let mut s = crate::status::collect(rules, &self.journal).map_err(journal_err)?;
                s.mail_folder = self.cfg.mail_folder.clone();
                serde_json::to_string(&s)
                    .map(Reply::json)
                    .map_err(|e| e.to_string())
            }
            (Method::Get, ["api", "version"]) => Ok(Reply::text(
                200,
                &self.journal.change_mark().map_err(journal_err)?,
            )),
            _ => Ok(Reply::not_found()),
        }
    }

    fn login(&mut self, req: &mut Request) -> Reply {
        let form = read_form(req);
        let given = form.get("password").cloned().unwrap_or_default();
        match &self.cfg.password {
            Some(pw) if constant_time_eq(pw.as_bytes(), given.as_bytes()) => {
                let t = token();
                self.sessions.insert(t.clone(), Session { csrf: token() });
                let mut r = Reply::redirect("/");
                r.headers.push((
                    "Set-Cookie".into(),
                    format!("tz_session={t}; HttpOnly; SameSite=Strict; Path=/"),
                ));
                r
            }
            Some(_) => {
                let mut r = Reply::html(pages::login(true));
                r.status = 403;
                r
            }
            None => Reply::redirect("/"),
        }
    }

    /// The archived original or the annotated copy of a submission, by its id.
    fn download(&self, id: i64, what: &str) -> Result<Reply, String> {
        let Some(sub) = self.journal.get(id).map_err(|e| e.to_string())? else {
            return Ok(Reply::not_found());
        };
        let rel = match what {
            "original" => Some(sub.archive_path.clone()).filter(|p| !p.is_empty()),
            _ => sub.annotated_path.clone(),
        };
        let Some(rel) = rel else {
            return Ok(Reply::not_found());
        };
        // The journal's relative path, inside the state folder only.
        let rel_path = std::path::Path::new(&rel);
        if rel_path.is_absolute()
            || rel_path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Ok(Reply::not_found());
        }
        let path = self.cfg.state.join(rel_path);
        let name = if what == "original" {
            sub.original_name.clone()
        } else {
            path.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| format!("{id}.xlsx"))
        };
        Ok(Reply::file(&path, name))
    }

    /// A county workbook, by kind id and period (both checked against the journal).
    fn workbook(&mut self, kind: &str, period: &str) -> Result<Reply, String> {
        if !is_period(period) {
            return Ok(Reply::not_found());
        }
        let known = self
            .journal
            .kind_periods()
            .map_err(|e| e.to_string())?
            .iter()
            .any(|(k, p)| k == kind && p == period);
        let outbox = self.cfg.outbox.clone();
        self.refresh_rules();
        let Some(rules) = self.rules.as_ref() else {
            return Ok(Reply::not_found());
        };
        let Some(k) = rules.kind(kind).filter(|_| known) else {
            return Ok(Reply::not_found());
        };
        let name = crate::consolidate::file_name(rules, k, period);
        Ok(Reply::file(&outbox.join(&name), name))
    }
}

/// `YYYY-MM`.
fn is_period(p: &str) -> bool {
    p.len() == 7
        && p.as_bytes()[4] == b'-'
        && p.bytes()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_digit())
}

/// A query parameter's value (only plain ASCII values are used: periods, words).
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An `application/x-www-form-urlencoded` body (at most 64 KiB).
fn read_form(req: &mut Request) -> HashMap<String, String> {
    let mut body = Vec::new();
    let _ = req.as_reader().take(64 << 10).read_to_end(&mut body);
    let text = String::from_utf8_lossy(&body);
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn content_type_of(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".xlsx") || lower.ends_with(".xlsm") {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else if lower.ends_with(".xls") {
        "application/vnd.ms-excel"
    } else if lower.ends_with(".ods") {
        "application/vnd.oasis.opendocument.spreadsheet"
    } else {
        "application/octet-stream"
    }
}

/// `attachment` with the name in RFC 5987 form (Chinese names) and an ASCII fallback.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut enc = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{enc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_periods() {
        assert_eq!(percent_decode("a%20b+c%E6%9F%B3%"), "a b c柳%");
        assert!(is_period("2026-11") && !is_period("2026-1x") && !is_period("../etc"));
        assert_eq!(
            query_param("period=2026-11&x=1", "period").as_deref(),
            Some("2026-11")
        );
        assert_eq!(query_param("period=%2e%2e", "period"), None);
        assert!(content_disposition("柳河镇.xlsx").contains("filename*=UTF-8''%E6%9F%B3"));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
