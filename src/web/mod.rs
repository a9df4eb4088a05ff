//! The status page for county staff, served by `watch` (on by default at
//! `http://127.0.0.1:8470/`).
//!
//! `server` is the HTTP side: hyper (HTTP/1.1) on a small tokio runtime of its
//! own, in the page's thread, so that every client is bounded — its headers
//! (16 KiB), its form body (64 KiB), its time (headers 10 s, body 10 s, a whole
//! connection 5 min), their number (64) — and a stalled or slow client never
//! delays another's page; a stop never waits on a client. A request is read
//! whole (within those bounds) before the `App` sees it; the app answers under
//! one lock, from the journal, and a download streams from its file after the
//! lock is let go. Pages are rendered with [`maud`], whose templates escape every
//! value unless told otherwise (names, values and file names come from township
//! files and are hostile by assumption). No URL reaches the file system:
//! downloads go by submission id (or kind and period) through the journal.
//!
//! Who may look: nothing but the login page and static files without a session,
//! on loopback too. A session starts by opening the address with the access
//! token (`state/web-token`, made at first start, owner-only; printed on the
//! console and by `status`), or by logging in with the password (shared use);
//! five wrong tries from one address make it wait (doubling), a session ends
//! after `web_session_idle` without use or on logout. The `Host` of every
//! request must be the bound address, a loopback name or a name the config
//! lists (DNS rebinding), a POST's `Origin` must be the page's own; state-changing
//! actions are POST with the session's CSRF token; cookies are `HttpOnly`,
//! `SameSite=Strict`, and `Secure` over HTTPS (`web_tls_cert`/`web_tls_key`).
//! Every login, page view of a submission, download, revealed value and resend
//! is journaled ([`crate::journal::access`], shown at `/access`). ID and card
//! numbers are masked on every page ([`crate::text::mask_personal`]); one
//! finding's full value can be revealed on request (logged).

mod pages;
mod server;

pub use server::{bind, serve, Bound};

use crate::journal::Journal;
use crate::rules::RuleSet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the page serves from.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub addr: String,
    pub password: Option<String>,
    pub state: PathBuf,
    pub outbox: PathBuf,
    /// Where a quarantined file assigned to a unit is put (`inbox/<unit>/`).
    pub inbox: PathBuf,
    /// The rules folder the workers read (reloaded when the journal says the
    /// rules in force changed).
    pub rules: PathBuf,
    /// Where notices are written when no mail server is configured (said in
    /// `/api/status` as `taizhang status` says it).
    pub mail_folder: Option<String>,
    /// Host names the page answers to besides its address and loopback's names
    /// (`web_hosts`: the names clerks type on the county's network).
    pub hosts: Vec<String>,
    /// A session unused this long ends (`web_session_idle`, default 30 min).
    pub session_idle: Duration,
    /// Certificate chain and private key (PEM files) for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Default idle time of a session.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

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
    #[error("网页证书或私钥 {0} 无法使用：{1}")]
    Tls(PathBuf, String),
    #[error("无法读取或生成网页访问令牌 {0}：{1}")]
    Token(PathBuf, String),
}

/// Reads the password file (its first line).
pub fn read_password(path: &Path) -> Result<String, WebError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| WebError::Password(path.to_path_buf(), crate::fsutil::io_zh(&e)))?;
    let pw = text.lines().next().unwrap_or("").trim().to_string();
    if pw.is_empty() {
        return Err(WebError::Password(path.to_path_buf(), "文件为空".into()));
    }
    Ok(pw)
}

/// The page's access token: `state/web-token`, made (random, owner-only) the
/// first time it is asked for.
pub fn access_token(state: &Path) -> Result<String, WebError> {
    let path = state.join("web-token");
    let err = |e: std::io::Error| WebError::Token(path.clone(), crate::fsutil::io_zh(&e));
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 32 => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let t = token();
    crate::fsutil::write_durable(&path, format!("{t}\n").as_bytes()).map_err(err)?;
    Ok(t)
}

/// The address that opens the page with a session: `http://ADDR/?token=…`.
pub fn token_url(addr: &str, tls: bool, token: &str) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}/?token={token}")
}

/// A request method the page knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Other,
}

/// One request as the app sees it, read whole (within the server's bounds).
#[derive(Debug)]
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub client: IpAddr,
    /// Came over HTTPS.
    pub secure: bool,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// A response about to be sent.
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
    pub headers: Vec<(String, String)>,
}

pub(crate) enum Body {
    Text(String),
    File(std::fs::File),
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
    pub(crate) fn text(status: u16, body: &str) -> Reply {
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
    fn file(path: &Path, name: String) -> Reply {
        match std::fs::File::open(path) {
            Ok(f) => {
                let mut r = Reply {
                    status: 200,
                    content_type: content_type_of(&name),
                    body: Body::File(f),
                    headers: Vec::new(),
                };
                r.headers
                    .push(("Content-Disposition".into(), content_disposition(&name)));
                r
            }
            Err(_) => Reply::not_found(),
        }
    }
    fn json(body: String) -> Reply {
        Reply::with(200, "application/json; charset=utf-8", body)
    }
}

struct Session {
    csrf: String,
    last_seen: Instant,
    /// How it started and a short tag of it, as the access log names it.
    who: String,
}

/// Wrong logins from one address: after [`FREE_TRIES`], each try waits
/// twice as long as the one before.
#[derive(Default)]
struct Tries {
    wrong: u32,
    until: Option<Instant>,
}

/// Wrong logins allowed before an address has to wait.
const FREE_TRIES: u32 = 5;

pub(crate) struct App {
    cfg: WebConfig,
    journal: Journal,
    rules: Option<RuleSet>,
    rules_version: Option<String>,
    /// Session token → its session.
    sessions: HashMap<String, Session>,
    tries: HashMap<IpAddr, Tries>,
    token: String,
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

/// What the access log calls an action.
pub(crate) fn action_zh(action: &str) -> &str {
    match action {
        "login" => "密码登录",
        "login_token" => "令牌登录",
        "login_failed" => "登录失败",
        "logout" => "退出登录",
        "view_submission" => "查看报送",
        "download_original" => "下载原件",
        "download_annotated" => "下载批注副本",
        "download_workbook" => "下载全县汇总表",
        "reveal" => "查看完整号码",
        "resend" => "重新发送邮件",
        "search" => "查找人员",
        "assign" => "指定隔离文件的单位",
        other => other,
    }
}

impl App {
    pub(crate) fn new(
        cfg: WebConfig,
        mail_wake: Option<mpsc::Sender<()>>,
        token: String,
    ) -> Result<App, String> {
        let journal = Journal::open(&cfg.state).map_err(|e| e.to_string())?;
        if let Err(e) = journal.prune_accesses() {
            tracing::warn!(error = %e, "the access log could not be pruned");
        }
        Ok(App {
            cfg,
            journal,
            rules: None,
            rules_version: None,
            sessions: HashMap::new(),
            tries: HashMap::new(),
            token,
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

    /// Answers one request, with the headers every answer carries.
    pub(crate) fn handle(&mut self, req: Req) -> Reply {
        let mut reply = self.route(&req).unwrap_or_else(|e| {
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
        if req.secure {
            headers.push((
                "Strict-Transport-Security".into(),
                "max-age=31536000".into(),
            ));
        }
        headers.append(&mut reply.headers);
        reply.headers = headers;
        reply
    }

    fn log(&self, req: &Req, who: &str, action: &str, submission: Option<i64>, detail: &str) {
        if let Err(e) =
            self.journal
                .access(&req.client.to_string(), who, action, submission, detail)
        {
            tracing::error!(error = %e, "the access log could not be written");
        }
    }

    fn cookie_flags(req: &Req) -> &'static str {
        if req.secure {
            "HttpOnly; SameSite=Strict; Path=/; Secure"
        } else {
            "HttpOnly; SameSite=Strict; Path=/"
        }
    }

    /// Starts a session: its cookie on a redirect to `to`.
    fn start_session(&mut self, req: &Req, how: &str, to: &str) -> Reply {
        let t = token();
        let who = format!(
            "{how} {}",
            &crate::intake::archive::sha256_hex(t.as_bytes())[..8]
        );
        self.sessions.insert(
            t.clone(),
            Session {
                csrf: token(),
                last_seen: Instant::now(),
                who,
            },
        );
        self.tries.remove(&req.client);
        let mut r = Reply::redirect(to);
        r.headers.push((
            "Set-Cookie".into(),
            format!("tz_session={t}; {}", App::cookie_flags(req)),
        ));
        r
    }

    /// Whether `req.client` must wait before trying again (after wrong tries).
    fn must_wait(&self, req: &Req) -> Option<u64> {
        let until = self.tries.get(&req.client)?.until?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(left.as_secs().max(1))
    }

    fn wrong_try(&mut self, req: &Req) {
        let t = self.tries.entry(req.client).or_default();
        t.wrong += 1;
        if t.wrong >= FREE_TRIES {
            let wait = 1u64 << (t.wrong - FREE_TRIES).min(10);
            t.until = Some(Instant::now() + Duration::from_secs(wait));
        }
        let n = t.wrong;
        self.log(req, "", "login_failed", None, &format!("第 {n} 次"));
        tracing::warn!(client = %req.client, "status page: wrong password or token ({n} in a row)");
    }

    /// This request's session (refreshed), or None.
    fn session(&mut self, req: &Req) -> Option<(String, String)> {
        let t = req.cookie("tz_session")?;
        let idle = self.cfg.session_idle;
        let s = self.sessions.get_mut(&t)?;
        if s.last_seen.elapsed() > idle {
            self.sessions.remove(&t);
            return None;
        }
        s.last_seen = Instant::now();
        Some((s.csrf.clone(), s.who.clone()))
    }

    /// Whether a POST comes from the page itself (`Origin`, when the browser
    /// says it, must be the page's own scheme and host).
    fn same_origin(req: &Req) -> bool {
        let Some(origin) = req.header("origin") else {
            return true;
        };
        let host = req.header("host").unwrap_or("");
        let scheme = if req.secure { "https" } else { "http" };
        origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
    }

    fn route(&mut self, req: &Req) -> Result<Reply, String> {
        let segs: Vec<String> = req
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let method = req.method;
        if method == Method::Post && !App::same_origin(req) {
            return Ok(Reply::text(403, "403 请求来源不明，已拒绝"));
        }
        match (method, segs.as_slice()) {
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
            (Method::Get, ["login"]) => {
                let why = query_param(&req.query, "why");
                return Ok(Reply::html(pages::login(
                    why.as_deref(),
                    self.cfg.password.is_some(),
                )));
            }
            (Method::Post, ["login"]) => return Ok(self.login(req)),
            _ => {}
        }
        // Opening the address with the access token starts a session.
        if let Some(given) = query_any(&req.query, "token") {
            if method != Method::Get {
                return Ok(Reply::text(405, "405 不支持的请求"));
            }
            if let Some(secs) = self.must_wait(req) {
                return Ok(wait_reply(secs));
            }
            if constant_time_eq(given.as_bytes(), self.token.as_bytes()) {
                let to = if req.path.starts_with('/') {
                    req.path.clone()
                } else {
                    "/".into()
                };
                let r = self.start_session(req, "令牌", &to);
                self.log(req, "令牌", "login_token", None, "");
                return Ok(r);
            }
            self.wrong_try(req);
            return Ok(Reply::redirect("/login?why=wrong"));
        }
        let had_cookie = req.cookie("tz_session").is_some();
        let Some((csrf, who)) = self.session(req) else {
            return Ok(match method {
                Method::Get if segs.first() != Some(&"api") => Reply::redirect(if had_cookie {
                    "/login?why=expired"
                } else {
                    "/login"
                }),
                _ => Reply::text(401, "401 请先登录"),
            });
        };
        let journal_err = |e: crate::journal::JournalError| e.to_string();
        match (method, segs.as_slice()) {
            (Method::Get, []) => {
                let period = query_param(&req.query, "period").filter(|p| is_period(p));
                let mark = self.journal.change_mark().map_err(journal_err)?;
                self.refresh_rules();
                let Some(rules) = self.rules.as_ref() else {
                    return Ok(Reply::text(503, "规则目录无法载入，请查看日志"));
                };
                pages::index(
                    rules,
                    &self.journal,
                    &self.cfg,
                    period.as_deref(),
                    &mark,
                    &csrf,
                )
                .map(Reply::html)
                .map_err(journal_err)
            }
            (Method::Post, ["logout"]) => {
                if form_csrf(req) != Some(csrf) {
                    return Ok(expired_form());
                }
                if let Some(t) = req.cookie("tz_session") {
                    self.sessions.remove(&t);
                }
                self.log(req, &who, "logout", None, "");
                let mut r = Reply::redirect("/login?why=logout");
                r.headers.push((
                    "Set-Cookie".into(),
                    format!("tz_session=; Max-Age=0; {}", App::cookie_flags(req)),
                ));
                Ok(r)
            }
            // A search is a POST: an ID number typed in never lands in the
            // address bar, the browser's history or a proxy's log.
            (Method::Get | Method::Post, ["search"]) => {
                let q = match method {
                    Method::Post => {
                        let mut form = parse_form(&req.body);
                        if form.remove("csrf") != Some(csrf.clone()) {
                            return Ok(expired_form());
                        }
                        form.remove("q")
                    }
                    _ => None,
                }
                .map(|q| q.trim().chars().take(40).collect::<String>())
                .filter(|q| !q.is_empty());
                let mark = self.journal.change_mark().map_err(journal_err)?;
                self.refresh_rules();
                let Some(rules) = self.rules.as_ref() else {
                    return Ok(Reply::text(503, "规则目录无法载入，请查看日志"));
                };
                let rows = match &q {
                    Some(q) => self.journal.person_rows(q, 500).map_err(journal_err)?,
                    None => Vec::new(),
                };
                let page = pages::search(rules, &self.journal, q.as_deref(), &rows, &mark, &csrf)
                    .map_err(journal_err)?;
                if let Some(q) = &q {
                    // Never the query itself: it may be an ID number.
                    let by = if q.chars().any(|c| c.is_ascii_digit()) {
                        "按身份证号"
                    } else {
                        "按姓名"
                    };
                    self.log(
                        req,
                        &who,
                        "search",
                        None,
                        &format!("{by}，{} 条", rows.len()),
                    );
                }
                Ok(Reply::html(page))
            }
            (Method::Get, ["access"]) => {
                let day = query_param(&req.query, "date").filter(|d| is_day(d));
                let sub = query_param(&req.query, "submission").and_then(|s| s.parse().ok());
                let mark = self.journal.change_mark().map_err(journal_err)?;
                let rows = self
                    .journal
                    .accesses(day.as_deref(), sub, 2000)
                    .map_err(journal_err)?;
                Ok(Reply::html(pages::access(
                    &rows,
                    day.as_deref(),
                    sub,
                    &mark,
                    &csrf,
                )))
            }
            (Method::Get, ["submission", id]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return Ok(Reply::not_found());
                };
                let mark = self.journal.change_mark().map_err(journal_err)?;
                self.refresh_rules();
                match pages::submission(&self.journal, self.rules.as_ref(), id, &mark, &csrf)
                    .map_err(journal_err)?
                {
                    Some(p) => {
                        self.log(req, &who, "view_submission", Some(id), "");
                        Ok(Reply::html(p))
                    }
                    None => Ok(Reply::not_found()),
                }
            }
            (Method::Get, ["submission", id, "reveal", n]) => {
                let (Ok(id), Ok(n)) = (id.parse::<i64>(), n.parse::<usize>()) else {
                    return Ok(Reply::not_found());
                };
                let mark = self.journal.change_mark().map_err(journal_err)?;
                match pages::reveal(&self.journal, id, n, &mark, &csrf).map_err(journal_err)? {
                    Some(p) => {
                        self.log(req, &who, "reveal", Some(id), &format!("第 {n} 条问题"));
                        Ok(Reply::html(p))
                    }
                    None => Ok(Reply::not_found()),
                }
            }
            (Method::Get, ["submission", id, what @ ("original" | "annotated")]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return Ok(Reply::not_found());
                };
                let reply = self.download(id, what)?;
                if reply.status == 200 {
                    self.log(req, &who, &format!("download_{what}"), Some(id), "");
                }
                Ok(reply)
            }
            (Method::Get, ["workbook", kind, period]) => {
                let reply = self.workbook(kind, period)?;
                if reply.status == 200 {
                    self.log(
                        req,
                        &who,
                        "download_workbook",
                        None,
                        &format!("{kind} {period}"),
                    );
                }
                Ok(reply)
            }
            (Method::Get, ["quarantine"]) => {
                let mark = self.journal.change_mark().map_err(journal_err)?;
                self.refresh_rules();
                let units: Vec<String> = self
                    .rules
                    .as_ref()
                    .map(|r| r.county.units.iter().map(|u| u.name.clone()).collect())
                    .unwrap_or_default();
                let done = query_param(&req.query, "done");
                pages::quarantine(&self.journal, &mark, &csrf, &units, done.as_deref())
                    .map(Reply::html)
                    .map_err(journal_err)
            }
            (Method::Post, ["quarantine", id, "assign"]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return Ok(Reply::not_found());
                };
                let form = parse_form(&req.body);
                if form.get("csrf") != Some(&csrf) {
                    return Ok(expired_form());
                }
                self.refresh_rules();
                let unit = form.get("unit").cloned().unwrap_or_default();
                let known = self
                    .rules
                    .as_ref()
                    .is_some_and(|r| r.county.units.iter().any(|u| u.name == unit));
                let all = self.journal.all().map_err(journal_err)?;
                let held = crate::standing::still_quarantined(&all)
                    .into_iter()
                    .find(|s| s.id == id)
                    .cloned();
                let (Some(sub), true) = (held, known) else {
                    return Ok(Reply::redirect("/quarantine?done=not_assigned"));
                };
                // Into the unit's inbox folder, under the archive's `<id>-<name>`:
                // the daemon takes it as that unit's, under the name it was sent with.
                let from = self.cfg.state.join(&sub.archive_path);
                let name = Path::new(&sub.archive_path)
                    .file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_else(|| format!("{id}").into());
                let to = self.cfg.inbox.join(&unit).join(name);
                if let Err(e) = crate::fsutil::copy_durable(&from, &to) {
                    tracing::error!(id, error = %e, "a quarantined file could not be put in the inbox");
                    return Ok(Reply::redirect("/quarantine?done=not_assigned"));
                }
                tracing::info!(
                    id,
                    unit,
                    "quarantined file assigned to a unit from the status page"
                );
                self.log(req, &who, "assign", Some(id), &format!("指定为{unit}"));
                Ok(Reply::redirect("/quarantine?done=assigned"))
            }
            (Method::Get, ["mail"]) => {
                let mark = self.journal.change_mark().map_err(journal_err)?;
                let notice = query_param(&req.query, "done");
                pages::mail(
                    &self.journal,
                    &csrf,
                    notice.as_deref(),
                    &mark,
                    self.cfg.mail_folder.as_deref(),
                )
                .map(Reply::html)
                .map_err(journal_err)
            }
            (Method::Post, ["mail", id, "resend"]) => {
                let Ok(id) = id.parse::<i64>() else {
                    return Ok(Reply::not_found());
                };
                if form_csrf(req) != Some(csrf) {
                    return Ok(expired_form());
                }
                let ok = self.journal.mail_resend_held(id).map_err(journal_err)?;
                if ok {
                    tracing::info!("mail #{id} queued again from the status page");
                    self.log(req, &who, "resend", None, &format!("邮件 {id}"));
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
                let today = crate::clock::now().date_naive();
                let mut s =
                    crate::status::collect(rules, &self.journal, today).map_err(journal_err)?;
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

    fn login(&mut self, req: &Req) -> Reply {
        if let Some(secs) = self.must_wait(req) {
            return wait_reply(secs);
        }
        let form = parse_form(&req.body);
        let given = form.get("password").cloned().unwrap_or_default();
        let by_password = self
            .cfg
            .password
            .as_ref()
            .is_some_and(|pw| constant_time_eq(pw.as_bytes(), given.as_bytes()));
        let by_token = constant_time_eq(self.token.as_bytes(), given.trim().as_bytes());
        if by_password || by_token {
            let how = if by_password { "密码" } else { "令牌" };
            let r = self.start_session(req, how, "/");
            self.log(
                req,
                how,
                if by_password { "login" } else { "login_token" },
                None,
                "",
            );
            return r;
        }
        self.wrong_try(req);
        let mut r = Reply::html(pages::login(Some("wrong"), self.cfg.password.is_some()));
        r.status = 403;
        r
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
        let rel_path = Path::new(&rel);
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
        let Some(k) = rules.kind(kind).filter(|k| known && !k.is_county()) else {
            return Ok(Reply::not_found());
        };
        let name = crate::consolidate::file_name(rules, k, period);
        Ok(Reply::file(&outbox.join(&name), name))
    }
}

fn wait_reply(secs: u64) -> Reply {
    let mut r = Reply::text(
        429,
        &format!("429 密码或令牌错误次数过多，请 {secs} 秒后再试"),
    );
    r.headers.push(("Retry-After".into(), secs.to_string()));
    r
}

fn expired_form() -> Reply {
    Reply::text(403, "403 表单已过期或来源不明，请刷新页面后重试")
}

fn form_csrf(req: &Req) -> Option<String> {
    parse_form(&req.body).remove("csrf")
}

/// `YYYY-MM-DD`.
fn is_day(d: &str) -> bool {
    d.len() == 10
        && is_period(&d[..7])
        && d.as_bytes()[7] == b'-'
        && d[8..].bytes().all(|b| b.is_ascii_digit())
}

/// A query parameter's raw value, whatever its characters (the token).
fn query_any(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
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

/// An `application/x-www-form-urlencoded` body (the server bounds it at 64 KiB).
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
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
