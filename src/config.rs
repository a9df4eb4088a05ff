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
}

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
        }
    }
}

/// `taizhang.toml`: every key optional; relative paths are relative to the file.
#[derive(Debug, Deserialize, Default)]
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
}

/// Command-line overrides.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub inbox: Option<PathBuf>,
    pub outbox: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub rules: Option<PathBuf>,
    pub poll: Option<f64>,
    pub settle: Option<f64>,
    pub smtp: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
    pub smtp_ca: Option<PathBuf>,
    pub mail_retry: Option<f64>,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.01, 86_400.0))
}

impl Config {
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
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let rel = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
            if let Some(p) = f.inbox {
                c.inbox = rel(p);
            }
            if let Some(p) = f.outbox {
                c.outbox = rel(p);
            }
            if let Some(p) = f.state {
                c.state = rel(p);
            }
            if let Some(p) = f.rules {
                c.rules = rel(p);
            }
            c.poll = f.poll.map(secs);
            if let Some(s) = f.settle {
                c.settle = secs(s);
            }
            if let Some(s) = f.rescan {
                c.rescan = secs(s);
            }
            c.smtp = f.smtp;
            c.smtp_password_file = f.smtp_password_file.map(rel);
            c.smtp_ca = f.smtp_ca.map(rel);
            if let Some(s) = f.mail_retry {
                c.mail_retry = secs(s);
            }
        }
        if let Some(p) = &o.inbox {
            c.inbox = p.clone();
        }
        if let Some(p) = &o.outbox {
            c.outbox = p.clone();
        }
        if let Some(p) = &o.state {
            c.state = p.clone();
        }
        if let Some(p) = &o.rules {
            c.rules = p.clone();
        }
        if let Some(s) = o.poll {
            c.poll = Some(secs(s));
        }
        if let Some(s) = o.settle {
            c.settle = secs(s);
        }
        if o.smtp.is_some() {
            c.smtp = o.smtp.clone();
        }
        if o.smtp_password_file.is_some() {
            c.smtp_password_file = o.smtp_password_file.clone();
        }
        if o.smtp_ca.is_some() {
            c.smtp_ca = o.smtp_ca.clone();
        }
        if let Some(s) = o.mail_retry {
            c.mail_retry = secs(s);
        }
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
