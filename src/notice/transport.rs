//! Delivering composed messages: SMTP (lettre, rustls) or `.eml` files.

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, SmtpTransport, Transport};
use std::path::PathBuf;
use std::time::Duration;

/// How SMTP connections are secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection, upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: only for a relay on the same machine or network.
    None,
}

/// SMTP settings, from `--smtp smtp://user@host:port?tls=starttls`.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
    /// From `TAIZHANG_SMTP_PASSWORD` or a password file; never printed.
    pub password: Option<String>,
    /// Extra trusted CA certificate (PEM), for a county mail server with a private CA.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SmtpSettings {
    /// Where mail goes, for logs (no credentials).
    pub fn describe(&self) -> String {
        format!("smtp {}:{} ({:?})", self.host, self.port, self.tls)
    }
}

/// Parses `smtp://[user@]host[:port][?tls=starttls|implicit|none]` (`smtps://` means
/// implicit TLS). A password in the URL is refused: it would end up in shell
/// history and process lists.
pub fn parse_smtp_url(s: &str) -> Result<SmtpSettings, String> {
    let u = url::Url::parse(s).map_err(|e| format!("SMTP 地址「{s}」无法解析：{e}"))?;
    if u.password().is_some() {
        return Err(
            "SMTP 地址中不能写密码：请用环境变量 TAIZHANG_SMTP_PASSWORD 或 --smtp-password-file"
                .into(),
        );
    }
    let mut tls = match u.scheme() {
        "smtp" => TlsMode::StartTls,
        "smtps" => TlsMode::Implicit,
        other => {
            return Err(format!(
                "SMTP 地址协议应为 smtp:// 或 smtps://，而不是 {other}://"
            ))
        }
    };
    for (k, v) in u.query_pairs() {
        if k == "tls" {
            tls = match v.as_ref() {
                "starttls" => TlsMode::StartTls,
                "implicit" | "tls" => TlsMode::Implicit,
                "none" | "plain" => TlsMode::None,
                other => return Err(format!("tls={other} 无效（可用 starttls、implicit、none）")),
            };
        }
    }
    let host = u
        .host_str()
        .ok_or_else(|| format!("SMTP 地址「{s}」缺少主机名"))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = u.port().unwrap_or(match tls {
        TlsMode::Implicit => 465,
        TlsMode::StartTls => 587,
        TlsMode::None => 25,
    });
    let user = (!u.username().is_empty()).then(|| percent_decode(u.username()));
    Ok(SmtpSettings {
        host,
        port,
        tls,
        user,
        password: None,
        ca_pem: None,
        timeout: Duration::from_secs(30),
    })
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| s.to_string())
}

/// Where messages go.
#[derive(Debug, Clone)]
pub enum MailTarget {
    /// `.eml` files in a folder (the default, no server needed).
    Files(PathBuf),
    Smtp(SmtpSettings),
}

impl MailTarget {
    /// The folder notices are written to when no mail server is configured.
    pub fn folder(&self) -> Option<&std::path::Path> {
        match self {
            MailTarget::Files(dir) => Some(dir),
            MailTarget::Smtp(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            MailTarget::Files(p) => format!(".eml files in {}", p.display()),
            MailTarget::Smtp(s) => s.describe(),
        }
    }
}

/// A delivery failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// The server refused for good (5xx): retrying will not help.
    pub permanent: bool,
    pub message: String,
}

/// Sends raw messages to the target.
#[derive(Clone)]
pub struct Sender {
    inner: Inner,
    /// The `.eml` folder, when writing files.
    dir: Option<PathBuf>,
}

#[derive(Clone)]
enum Inner {
    Files(PathBuf),
    Smtp(Box<SmtpTransport>),
}

impl Sender {
    pub fn new(target: &MailTarget) -> Result<Sender, String> {
        Ok(Sender {
            dir: match target {
                MailTarget::Files(dir) => Some(dir.clone()),
                MailTarget::Smtp(_) => None,
            },
            inner: match target {
                MailTarget::Files(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    Inner::Files(dir.clone())
                }
                MailTarget::Smtp(s) => Inner::Smtp(Box::new(smtp(s)?)),
            },
        })
    }

    /// The `.eml` folder, when messages are written as files (no mail server).
    pub fn folder(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }

    /// Delivers one message to its recipients; as files, under `name`.
    pub fn send(
        &self,
        from: &str,
        to: &[String],
        bytes: &[u8],
        name: &str,
    ) -> Result<(), SendError> {
        let perm = |m: String| SendError {
            permanent: true,
            message: m,
        };
        let from: Address = from
            .parse::<lettre::message::Mailbox>()
            .map(|m| m.email)
            .map_err(|e| perm(format!("发件地址无效：{e}")))?;
        let to: Vec<Address> = to
            .iter()
            .map(|t| t.parse::<lettre::message::Mailbox>().map(|m| m.email))
            .collect::<Result<_, _>>()
            .map_err(|e| perm(format!("收件地址无效：{e}")))?;
        let envelope = Envelope::new(Some(from), to).map_err(|e| perm(e.to_string()))?;
        match &self.inner {
            Inner::Files(dir) => {
                // The folder is made again if it was removed while we ran; the
                // file is written whole (temp, fsync, rename) or not at all.
                let _ = envelope; // built above to check the addresses
                std::fs::create_dir_all(dir)
                    .and_then(|_| crate::fsutil::write_durable(&dir.join(name), bytes))
                    .map_err(|e| SendError {
                        permanent: false,
                        message: e.to_string(),
                    })
            }
            Inner::Smtp(t) => t
                .send_raw(&envelope, bytes)
                .map(|_| ())
                .map_err(|e| SendError {
                    permanent: e.is_permanent(),
                    message: e.to_string(),
                }),
        }
    }
}

fn smtp(s: &SmtpSettings) -> Result<SmtpTransport, String> {
    let tls_params = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(s.host.clone());
        if let Some(pem) = &s.ca_pem {
            b = b.add_root_certificate(
                Certificate::from_pem(pem).map_err(|e| format!("CA 证书无效：{e}"))?,
            );
        }
        b.build_rustls().map_err(|e| format!("TLS 设置失败：{e}"))
    };
    let tls = match s.tls {
        TlsMode::StartTls => Tls::Required(tls_params()?),
        TlsMode::Implicit => Tls::Wrapper(tls_params()?),
        TlsMode::None => Tls::None,
    };
    let mut b = SmtpTransport::builder_dangerous(s.host.clone())
        .port(s.port)
        .tls(tls)
        .timeout(Some(s.timeout));
    if let Some(user) = &s.user {
        b = b.credentials(Credentials::new(
            user.clone(),
            s.password.clone().unwrap_or_default(),
        ));
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let s = parse_smtp_url("smtp://tongji%40anhe@mail.example.cn:2525?tls=starttls").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls, s.user.as_deref()),
            (
                "mail.example.cn",
                2525,
                TlsMode::StartTls,
                Some("tongji@anhe")
            )
        );
        let s = parse_smtp_url("smtps://mail.example.cn").unwrap();
        assert_eq!((s.port, s.tls, s.user), (465, TlsMode::Implicit, None));
        let s = parse_smtp_url("smtp://127.0.0.1:25?tls=none").unwrap();
        assert_eq!(s.tls, TlsMode::None);
        assert!(parse_smtp_url("smtp://u:secret@h")
            .unwrap_err()
            .contains("不能写密码"));
        assert!(parse_smtp_url("http://h").is_err());
        assert!(!format!(
            "{:?}",
            SmtpSettings {
                password: Some("secret".into()),
                ..s
            }
        )
        .contains("secret"));
    }
}
