//! The page's HTTP server: hyper (HTTP/1.1, a well-kept server that lets every
//! bound be set) on a tokio runtime of two threads owned by the page's thread.
//!
//! Every client is bounded, so that no client can stall another or the daemon:
//! at most [`MAX_CONNECTIONS`] at once (more are closed at once); headers within
//! [`MAX_HEAD`] (hyper answers 431 past it and never buffers more) and
//! [`HEAD_TIMEOUT`]; a body within [`MAX_BODY`] (413) and [`BODY_TIMEOUT`] (408),
//! read before the app sees the request; a whole connection within
//! [`CONNECTION_TIME`], so a client that stops reading a download is cut off.
//! Each connection is its own task; the app answers under one lock in a blocking
//! task, and a download streams from its file after the lock is let go. On stop
//! the accept loop ends within [`STOP_POLL`] and the runtime is dropped with
//! every connection in it: a stop never waits on a client.

use super::{App, Body, Method, Reply, Req, WebConfig, WebError};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Bytes of a request's line and headers.
pub const MAX_HEAD: usize = 16 << 10;
/// Bytes of a request's body (the page's forms are a few dozen bytes).
pub const MAX_BODY: usize = 64 << 10;
/// Time to send a request's headers (also how long an idle connection stays).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection lives, a download included.
pub const CONNECTION_TIME: Duration = Duration::from_secs(300);
/// How often the accept loop looks at the stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(100);

/// A bound address, ready to serve.
pub struct Bound {
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    hosts: Arc<Hosts>,
    /// The address as bound (the port chosen when 0 was asked).
    pub addr: SocketAddr,
}

impl Bound {
    /// Whether the page speaks HTTPS.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// Binds the page's address: a loopback address always, another only with a
/// password. Loads the certificate when one is configured.
pub fn bind(cfg: &WebConfig) -> Result<Bound, WebError> {
    let addr: SocketAddr = cfg
        .addr
        .parse()
        .map_err(|_| WebError::Address(cfg.addr.clone()))?;
    if !addr.ip().is_loopback() && cfg.password.is_none() {
        return Err(WebError::NeedsPassword(cfg.addr.clone()));
    }
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| WebError::Bind(cfg.addr.clone(), crate::fsutil::io_zh(&e)))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| WebError::Bind(cfg.addr.clone(), crate::fsutil::io_zh(&e)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| WebError::Bind(cfg.addr.clone(), crate::fsutil::io_zh(&e)))?;
    if !addr.ip().is_loopback() && tls.is_none() {
        tracing::warn!(
            "the status page at {addr} is open to the network without HTTPS: passwords and \
             personal data cross the network in clear (set web_tls_cert and web_tls_key)"
        );
    }
    Ok(Bound {
        listener,
        tls,
        hosts: Arc::new(Hosts::new(bound, &cfg.hosts, cfg.tls.is_some())),
        addr: bound,
    })
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, WebError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| WebError::Tls(cert.to_path_buf(), e.to_string()))?;
    if certs.is_empty() {
        return Err(WebError::Tls(cert.to_path_buf(), "文件中没有证书".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| WebError::Tls(key.to_path_buf(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| WebError::Tls(cert.to_path_buf(), e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The `Host` values the page answers to (DNS rebinding: a hostile page that
/// points its own name at 127.0.0.1 sends its own name as the host).
#[derive(Debug)]
struct Hosts(Vec<String>);

impl Hosts {
    fn new(bound: SocketAddr, names: &[String], tls: bool) -> Hosts {
        let port = bound.port();
        let default_port = if tls { 443 } else { 80 };
        let mut all = vec![
            bound.to_string(),
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        for n in names {
            let n = n.trim().to_ascii_lowercase();
            if n.is_empty() {
                continue;
            }
            if n.contains(':') && !n.starts_with('[') {
                all.push(n);
            } else {
                all.push(format!("{n}:{port}"));
                if port == default_port {
                    all.push(n);
                }
            }
        }
        if port == default_port {
            all.extend(["127.0.0.1".into(), "localhost".into(), "[::1]".into()]);
        }
        Hosts(all)
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.0.contains(&host)
    }
}

/// Serves until `stop` is set. `mail_wake` is told when a message is queued again.
pub fn serve(
    bound: Bound,
    cfg: WebConfig,
    token: String,
    stop: Arc<AtomicBool>,
    mail_wake: Option<mpsc::Sender<()>>,
) {
    let app = match App::new(cfg, mail_wake, token) {
        Ok(a) => Arc::new(Mutex::new(a)),
        Err(e) => {
            tracing::error!("status page stopped: {e}");
            return;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .thread_name("web")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "status page stopped: no runtime");
            return;
        }
    };
    rt.block_on(accept_loop(bound, app, stop));
    // Connections still open (a client that stalls) are dropped, not waited on.
    rt.shutdown_timeout(Duration::from_millis(200));
}

async fn accept_loop(bound: Bound, app: Arc<Mutex<App>>, stop: Arc<AtomicBool>) {
    let listener = match tokio::net::TcpListener::from_std(bound.listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "status page stopped");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut tick = tokio::time::interval(STOP_POLL);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "status page: accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(client = %peer, "status page: too many connections; one refused");
                    continue;
                };
                let (app, hosts, tls) = (app.clone(), bound.hosts.clone(), bound.tls.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tls {
                        Some(acceptor) => {
                            match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => connection(s, peer, app, hosts, true).await,
                                _ => tracing::debug!(client = %peer, "status page: TLS handshake failed"),
                            }
                        }
                        None => connection(stream, peer, app, hosts, false).await,
                    }
                });
            }
        }
    }
}

async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Arc<Mutex<App>>,
    hosts: Arc<Hosts>,
    secure: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let (app, hosts) = (app.clone(), hosts.clone());
        async move { Ok::<_, std::convert::Infallible>(answer(req, peer, app, hosts, secure).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .title_case_headers(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    if tokio::time::timeout(CONNECTION_TIME, conn).await.is_err() {
        tracing::debug!(client = %peer, "status page: a connection ran past its time");
    }
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    app: Arc<Mutex<App>>,
    hosts: Arc<Hosts>,
    secure: bool,
) -> Response<OutBody> {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !hosts.allows(host) {
        tracing::warn!(client = %peer, host, "status page: a request for another host refused");
        return response(Reply::text(421, "421 此地址不提供该网站"));
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return response(Reply::text(413, "413 请求内容过大"));
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let body = match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes().to_vec(),
        Ok(Err(_)) => return response(Reply::text(413, "413 请求内容过大")),
        Err(_) => return response(Reply::text(408, "408 请求超时")),
    };
    let method = match parts.method {
        hyper::Method::GET | hyper::Method::HEAD => Method::Get,
        hyper::Method::POST => Method::Post,
        _ => Method::Other,
    };
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let r = Req {
        method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
        client: peer.ip(),
        secure,
    };
    let reply = tokio::task::spawn_blocking(move || match app.lock() {
        Ok(mut a) => a.handle(r),
        Err(_) => Reply::text(500, "500 服务器内部错误，请稍后再试"),
    })
    .await
    .unwrap_or_else(|_| Reply::text(500, "500 服务器内部错误，请稍后再试"));
    response(reply)
}

fn response(reply: Reply) -> Response<OutBody> {
    let mut b = Response::builder().status(reply.status);
    let mut typed = false;
    for (k, v) in &reply.headers {
        typed |= k.eq_ignore_ascii_case("content-type");
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            b = b.header(n, v);
        }
    }
    if !typed {
        b = b.header(hyper::header::CONTENT_TYPE, reply.content_type);
    }
    let body = match reply.body {
        Body::Text(t) => OutBody::Bytes(Some(Bytes::from(t))),
        Body::File(f) => OutBody::File(tokio::fs::File::from_std(f), vec![0; 64 << 10]),
    };
    b.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(OutBody::Bytes(Some(Bytes::from_static(b"500"))));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// A response body: text at once, or a file streamed in 64 KiB pieces.
pub enum OutBody {
    Bytes(Option<Bytes>),
    File(tokio::fs::File, Vec<u8>),
}

impl http_body::Body for OutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            OutBody::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            OutBody::File(f, buf) => {
                let mut rb = ReadBuf::new(buf);
                match Pin::new(f).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(None),
                    Poll::Ready(Ok(())) => {
                        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(rb.filled())))))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, OutBody::Bytes(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_answers_its_own_hosts_only() {
        let h = Hosts::new(
            "127.0.0.1:8470".parse().unwrap(),
            &["tz.anhe.gov.cn".into()],
            false,
        );
        for ok in [
            "127.0.0.1:8470",
            "localhost:8470",
            "LOCALHOST:8470",
            "[::1]:8470",
            "tz.anhe.gov.cn:8470",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "taizhang.attacker.example",
            "127.0.0.1",
            "127.0.0.1:80",
            "tz.anhe.gov.cn",
            "",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }
}
