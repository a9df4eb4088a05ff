//! Daemon settings: embedded defaults, an optional `taizhang.toml`, then flags.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of `watch`, `run` and `status`.
#[derive(Debug, Clone)]
pub struct Config {
    pub inbox: PathBuf,
    pub outbox: PathBuf,
    /// Journal and archive; keep on local disk even when the inbox is a share.
    pub state: PathBuf,
    pub rules: PathBuf,
    /// Use polling instead of native events (network shares), with this interval.
    pub poll: Option<Duration>,
    /// A file is taken once its size and time are unchanged this long.
    pub settle: Duration,
    /// Full rescan of the inbox this often (events are only hints).
    pub rescan: Duration,
    /// `smtp://user@host:port?tls=starttls`; none: `.eml` files in `outbox/mail/`.
    pub smtp: Option<String>,
    /// File holding the SMTP password (else `TAIZHANG_SMTP_PASSWORD`).
    pub smtp_password_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for the SMTP server.
    pub smtp_ca: Option<PathBuf>,
    /// First retry delay of a message the server could not take; doubles each time.
    pub mail_retry: Duration,
    /// The most one SMTP transaction may take before the message is marked uncertain.
    pub mail_deadline: Duration,
    /// Bounds on the worker process that reads one file (time; memory on Unix).
    pub worker: crate::sandbox::WorkerLimits,
    /// Where `watch` serves the status page (None: off).
    pub web: Option<String>,
    /// File holding the status page's password (required off loopback).
    pub web_password_file: Option<PathBuf>,
    /// Names the page answers to besides its address and loopback's names.
    pub web_hosts: Vec<String>,
    /// A page session unused this long ends.
    pub web_session_idle: Duration,
    /// Certificate chain and key (PEM) for HTTPS on the page.
    pub web_tls: Option<(PathBuf, PathBuf)>,
    /// After an edit of `[deadlines]`, reminders it would send wait this long,
    /// shown on the page meanwhile (an edit by mistake can be undone first).
    pub reminder_hold: Duration,
}

/// The status page's default address.
pub const DEFAULT_WEB: &str = "127.0.0.1:8470";

impl Default for Config {
    fn default() -> Self {
        Config {
            inbox: "inbox".into(),
            outbox: "outbox".into(),
            state: "state".into(),
            rules: "rules".into(),
            poll: None,
            settle: Duration::from_secs(2),
            rescan: Duration::from_secs(5),
            smtp: None,
            smtp_password_file: None,
            smtp_ca: None,
            mail_retry: Duration::from_secs(60),
            mail_deadline: Duration::from_secs(60),
            web: Some(DEFAULT_WEB.to_string()),
            web_password_file: None,
            web_hosts: Vec::new(),
            web_session_idle: crate::web::DEFAULT_SESSION_IDLE,
            web_tls: None,
            worker: crate::sandbox::WorkerLimits::default(),
            reminder_hold: Duration::from_secs(600),
        }
    }
}

/// `taizhang.toml`: every key optional; relative paths are relative to the file.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub inbox: Option<PathBuf>,
    pub outbox: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub rules: Option<PathBuf>,
    /// Seconds between polls; set it to use polling (network shares).
    pub poll: Option<f64>,
    pub settle: Option<f64>,
    pub rescan: Option<f64>,
    pub smtp: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
    pub smtp_ca: Option<PathBuf>,
    /// Seconds before the first retry of a message.
    pub mail_retry: Option<f64>,
    /// Seconds one SMTP transaction may take (default 60).
    pub mail_deadline: Option<f64>,
    /// Seconds one file may take to read and check (default 60).
    pub worker_timeout: Option<f64>,
    /// MiB of memory one file's reading may use (default 1024; Unix).
    pub worker_memory_mb: Option<u64>,
    /// Address of the status page (`127.0.0.1:8470`), or `off`.
    pub web: Option<String>,
    /// File holding the status page's password.
    pub web_password_file: Option<PathBuf>,
    /// Host names the page answers to (`["taizhang.anhe.gov.cn"]`), besides
    /// its own address and loopback's names.
    #[serde(default)]
    pub web_hosts: Option<Vec<String>>,
    /// Minutes a page session may stay unused before it ends (default 30).
    #[serde(default)]
    pub web_session_idle: Option<f64>,
    /// Certificate chain (PEM) for HTTPS on the page; with `web_tls_key`.
    #[serde(default)]
    pub web_tls_cert: Option<PathBuf>,
    /// Private key (PEM) for HTTPS on the page.
    #[serde(default)]
    pub web_tls_key: Option<PathBuf>,
    /// Seconds reminders wait after an edit of `[deadlines]` (default 600).
    #[serde(default)]
    pub reminder_hold: Option<f64>,
}

/// Command-line overrides: the settings file's keys, given as flags, plus the
/// file to read. Relative paths in flags are relative to the working directory.
#[derive(Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub settings: FileConfig,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.01, 86_400.0))
}

impl Config {
    /// Sets every key `f` gives; relative paths are taken relative to `base`.
    fn apply(&mut self, f: FileConfig, base: &Path) {
        let rel = |p: PathBuf| {
            if p.is_absolute() || base.as_os_str().is_empty() {
                p
            } else {
                base.join(p)
            }
        };
        let paths = [
            (f.inbox, &mut self.inbox),
            (f.outbox, &mut self.outbox),
            (f.state, &mut self.state),
            (f.rules, &mut self.rules),
        ];
        for (value, slot) in paths {
            if let Some(p) = value {
                *slot = rel(p);
            }
        }
        for (value, slot) in [
            (f.settle, &mut self.settle),
            (f.rescan, &mut self.rescan),
            (f.mail_retry, &mut self.mail_retry),
            (f.mail_deadline, &mut self.mail_deadline),
            (f.reminder_hold, &mut self.reminder_hold),
        ] {
            if let Some(s) = value {
                *slot = secs(s);
            }
        }
        if let Some(s) = f.poll {
            self.poll = Some(secs(s));
        }
        if let Some(s) = f.worker_timeout {
            self.worker.timeout = secs(s);
        }
        if let Some(mb) = f.worker_memory_mb {
            self.worker.memory = mb.clamp(64, 1 << 20) << 20;
        }
        if f.smtp.is_some() {
            self.smtp = f.smtp;
        }
        if let Some(p) = f.smtp_password_file {
            self.smtp_password_file = Some(rel(p));
        }
        if let Some(p) = f.smtp_ca {
            self.smtp_ca = Some(rel(p));
        }
        if let Some(w) = f.web {
            self.web = (w.trim() != "off").then(|| w.trim().to_string());
        }
        if let Some(p) = f.web_password_file {
            self.web_password_file = Some(rel(p));
        }
        if let Some(h) = f.web_hosts {
            self.web_hosts = h;
        }
        if let Some(m) = f.web_session_idle {
            self.web_session_idle = secs(m * 60.0);
        }
        if let (Some(c), Some(k)) = (f.web_tls_cert, f.web_tls_key) {
            self.web_tls = Some((rel(c), rel(k)));
        }
    }

    /// Defaults, then `--config FILE` (or `./taizhang.toml` if present), then flags.
    pub fn load(o: &Overrides) -> Result<Config, String> {
        let mut c = Config::default();
        let file = match &o.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("taizhang.toml")).filter(|p| p.exists()),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("无法读取配置文件 {}：{e}", path.display()))?;
            let f: FileConfig = toml::from_str(&text)
                .map_err(|e| format!("配置文件 {} 有误：{e}", path.display()))?;
            c.apply(f, path.parent().unwrap_or(Path::new("")));
        }
        c.apply(o.settings.clone(), Path::new(""));
        if let Some(poll) = c.poll {
            c.rescan = c.rescan.min(poll);
        }
        Ok(c)
    }
}

impl Config {
    /// Where notices go: SMTP when configured, else `.eml` files in `outbox/mail/`.
    /// The password comes from `smtp_password_file` or `TAIZHANG_SMTP_PASSWORD`.
    pub fn mail_target(&self) -> Result<crate::notice::MailTarget, String> {
        let Some(url) = &self.smtp else {
            return Ok(crate::notice::MailTarget::Files(self.outbox.join("mail")));
        };
        let mut s = crate::notice::transport::parse_smtp_url(url)?;
        s.password = match &self.smtp_password_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("无法读取 SMTP 密码文件 {}：{e}", p.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            None => std::env::var("TAIZHANG_SMTP_PASSWORD").ok(),
        };
        if let Some(ca) = &self.smtp_ca {
            s.ca_pem = Some(
                std::fs::read(ca).map_err(|e| format!("无法读取 CA 证书 {}：{e}", ca.display()))?,
            );
        }
        Ok(crate::notice::MailTarget::Smtp(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_with_paths_relative_to_the_file() {
        let dir = std::env::temp_dir().join(format!("taizhang-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("taizhang.toml");
        std::fs::write(&file, "inbox = 'in'\nstate = '/abs/state'\npoll = 5\nsettle = 3\nsmtp_ca = 'ca.pem'\nmail_retry = 30\n").unwrap();
        let flags = Overrides {
            config: Some(file),
            settings: FileConfig {
                settle: Some(1.0),
                outbox: Some("out".into()),
                ..FileConfig::default()
            },
        };
        let c = Config::load(&flags).unwrap();
        assert_eq!(c.inbox, dir.join("in"));
        assert_eq!(c.state, PathBuf::from("/abs/state"));
        assert_eq!(
            c.outbox,
            PathBuf::from("out"),
            "flag paths stay relative to the working directory"
        );
        assert_eq!(
            c.rules,
            PathBuf::from("rules"),
            "defaults stay where nothing is set"
        );
        assert_eq!(c.settle, Duration::from_secs(1), "flags win over the file");
        assert_eq!(c.poll, Some(Duration::from_secs(5)));
        assert_eq!(c.rescan, Duration::from_secs(5));
        assert_eq!(c.smtp_ca, Some(dir.join("ca.pem")));
        assert_eq!(c.mail_retry, Duration::from_secs(30));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
