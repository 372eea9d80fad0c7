//! Lab 2 reference: a reverse proxy - one front door on HTTP and HTTPS for the site and the app.
//!
//! - Routes by Host header and path prefix (longest prefix wins; host-specific routes first).
//! - Terminates TLS with rustls (certificate files, or a self-signed one generated on first start).
//! - Plain HTTP answers 301 to HTTPS when HTTPS is on; HTTPS answers carry HSTS.
//! - Forwards `Host` as received and sets `X-Forwarded-For` (appended), `X-Real-IP`,
//!   `X-Forwarded-Proto` and `X-Forwarded-Host`; strips hop-by-hop headers.
//! - Keeps upstream connections alive in a pool; 502 when an upstream cannot be reached, 504 when it
//!   is too slow, both as small pages.
//! - Passes WebSocket (and other HTTP/1.1) upgrades through; shuts down gracefully.
//! - Runs like nginx: one single-threaded worker per CPU, each with its own listener on the shared
//!   port and its own upstream pool ([`run`]).

pub mod config;
pub mod tls;

use bytes::Bytes;
use config::{Config, Route};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// HSTS for two years, as Mozilla's "intermediate" profile recommends.
pub const HSTS: &str = "max-age=63072000";

pub type Body = BoxBody<Bytes, hyper::Error>;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The proxy's state: routes and the upstream connection pool.
#[derive(Debug)]
pub struct Proxy {
    /// Routes in matching order, each with its upstream's `host:port` parsed once.
    routes: Vec<(Route, http::uri::Authority)>,
    client: Client<HttpConnector, Incoming>,
    response_timeout: Duration,
    /// The public HTTPS port, when HTTPS is on (plain HTTP then redirects there).
    https_port: Option<u16>,
    hsts: bool,
    forwarded_headers: bool,
}

impl Proxy {
    pub fn new(config: &Config) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeouts.connect));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .build(connector);
        let mut routes = config.routes.clone();
        // Host-specific routes first, then longer prefixes first: the first match wins.
        routes.sort_by(|a, b| b.host.is_some().cmp(&a.host.is_some()).then(b.path.len().cmp(&a.path.len())));
        // Config::load checked that every upstream is `http://host:port`.
        let routes = routes
            .into_iter()
            .filter_map(|route| {
                let authority = route.upstream.trim_start_matches("http://").trim_end_matches('/').parse().ok()?;
                Some((route, authority))
            })
            .collect();
        Proxy {
            routes,
            client,
            response_timeout: config.timeouts.response,
            https_port: config.listen.https.filter(|_| config.redirect_http).map(|a| a.port()),
            hsts: config.hsts,
            forwarded_headers: config.forwarded_headers,
        }
    }

    /// The route for a host (port stripped, any case) and path.
    pub fn route(&self, host: &str, path: &str) -> Option<&Route> {
        self.find(host, path).map(|(route, _)| route)
    }

    fn find(&self, host: &str, path: &str) -> Option<&(Route, http::uri::Authority)> {
        let host = strip_port(host);
        self.routes.iter().find(|(r, _)| {
            r.host.as_deref().is_none_or(|h| h.eq_ignore_ascii_case(host)) && path.starts_with(r.path.as_str())
        })
    }

    /// Answers one request from `peer` that arrived on `scheme`.
    pub async fn handle(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        peer: SocketAddr,
        scheme: Scheme,
    ) -> Response<Body> {
        let host = request_host(&request).unwrap_or_default();
        if scheme == Scheme::Http {
            if let Some(port) = self.https_port {
                return redirect_to_https(&host, port, request.uri());
            }
        }
        let mut response = match self.find(&host, request.uri().path()) {
            None => page(StatusCode::NOT_FOUND, "Not found", "No route matches this address."),
            Some(route) => {
                let upgrade = wants_upgrade(request.headers());
                let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
                match self.forward(request, route, &host, peer, scheme, upgrade).await {
                    Ok(mut upstream) => {
                        if upstream.status() == StatusCode::SWITCHING_PROTOCOLS {
                            if let Some(client_upgrade) = client_upgrade {
                                splice_upgrades(client_upgrade, hyper::upgrade::on(&mut upstream));
                            }
                        } else {
                            remove_hop_by_hop(upstream.headers_mut());
                        }
                        upstream.map(|b| b.boxed())
                    }
                    Err(ForwardError::Unreachable(detail)) => page(
                        StatusCode::BAD_GATEWAY,
                        "Bad gateway",
                        &format!("The service behind this address is not answering ({detail})."),
                    ),
                    Err(ForwardError::TooSlow) => page(
                        StatusCode::GATEWAY_TIMEOUT,
                        "Gateway timeout",
                        "The service behind this address took too long to answer.",
                    ),
                }
            }
        };
        if scheme == Scheme::Https && self.hsts {
            response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
        }
        response
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        (route, authority): &(Route, http::uri::Authority),
        host: &str,
        peer: SocketAddr,
        scheme: Scheme,
        upgrade: bool,
    ) -> Result<Response<Incoming>, ForwardError> {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        let path_and_query = if route.strip_prefix {
            let whole = path_and_query.as_str();
            let rest = &whole[route.path.len().min(whole.len())..];
            let rest = if rest.starts_with('/') { rest.to_string() } else { format!("/{rest}") };
            rest.parse::<PathAndQuery>().map_err(|e| ForwardError::Unreachable(format!("bad path: {e}")))?
        } else {
            path_and_query
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(http::uri::Scheme::HTTP);
        uri.authority = Some(authority.clone());
        uri.path_and_query = Some(path_and_query);
        parts.uri =
            Uri::from_parts(uri).map_err(|e| ForwardError::Unreachable(format!("bad upstream address: {e}")))?;
        parts.version = http::Version::HTTP_11;
        let upgrade_value = parts.headers.get(header::UPGRADE).cloned();
        remove_hop_by_hop(&mut parts.headers);
        if upgrade {
            if let Some(value) = upgrade_value {
                parts.headers.insert(header::UPGRADE, value);
                parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            }
        }
        if self.forwarded_headers {
            set_forwarding_headers(&mut parts.headers, host, peer, scheme);
        }
        let request = Request::from_parts(parts, body);
        match tokio::time::timeout(self.response_timeout, self.client.request(request)).await {
            Err(_) => Err(ForwardError::TooSlow),
            Ok(Err(e)) => Err(ForwardError::Unreachable(describe_client_error(&e))),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

#[derive(Debug)]
enum ForwardError {
    Unreachable(String),
    TooSlow,
}

fn describe_client_error(error: &hyper_util::client::legacy::Error) -> String {
    if error.is_connect() {
        "connection refused or unreachable".to_string()
    } else {
        "the connection broke".to_string()
    }
}

/// `Host` header (or the URI's authority for absolute-form requests).
fn request_host<B>(request: &Request<B>) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.split(':').next().unwrap_or(host)
}

/// `301` to the same host and path on HTTPS (the port only when it is not 443).
fn redirect_to_https(host: &str, https_port: u16, uri: &Uri) -> Response<Body> {
    let host = strip_port(host);
    let host = if host.is_empty() { "localhost" } else { host };
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{target}");
    let mut response = page(StatusCode::MOVED_PERMANENTLY, "Moved permanently", "This site is served over HTTPS.");
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Removes headers meant for one connection only, including any the `Connection` header names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn set_forwarding_headers(headers: &mut HeaderMap, host: &str, peer: SocketAddr, scheme: Scheme) {
    let client_ip = peer.ip().to_string();
    let forwarded_for = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(earlier) if !earlier.trim().is_empty() => format!("{earlier}, {client_ip}"),
        _ => client_ip.clone(),
    };
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(headers, X_FORWARDED_FOR, &forwarded_for);
    set(headers, X_REAL_IP, &client_ip);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme.as_str()));
    if !host.is_empty() {
        set(headers, X_FORWARDED_HOST, host);
        set(headers, header::HOST, host);
    }
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// Once both sides have switched protocols, copies bytes both ways until either closes.
fn splice_upgrades(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
            return;
        };
        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(upstream)).await;
    });
}

/// A small HTML page for the proxy's own answers.
fn page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} {title}</title></head>\n<body><h1>{} {title}</h1><p>{text}</p><hr><p>reverse-proxy</p></body></html>\n",
        status.as_u16(),
        status.as_u16()
    );
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// Why the proxy could not start; each says what to do.
pub fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| bind_error(addr, &e))?;
    listener.set_nonblocking(true).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tokio::net::TcpListener::from_std(listener).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

fn bind_error(addr: SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {} is already in use on {}; stop what holds it (see `ss -ltnp 'sport = :{}'`) or change [listen] in the config",
            addr.port(),
            addr.ip(),
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "not allowed to listen on port {} (ports below 1024 need root or CAP_NET_BIND_SERVICE); use e.g. 8000 and 8443 in [listen]",
            addr.port()
        ),
        _ => format!("cannot listen on {addr}: {e}"),
    }
}

/// Listens like [`bind`], but on a socket that other workers of this process share (`SO_REUSEPORT`,
/// so the kernel spreads new connections over them). Call [`bind`] first: it is the one that finds a
/// port another program holds.
fn bind_shared(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    socket.set_reuseaddr(true).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    socket.set_reuseport(true).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    socket.bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    socket.listen(1024).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Runs the proxy for `config` on `workers` threads, each a single-threaded runtime with its own
/// listeners and its own upstream pool (the way nginx runs one worker per core: a request and its
/// upstream connection stay on one thread). Returns once `shutdown` has resolved and every worker
/// has let its connections finish. `ready` is called once every listener is open.
pub fn run(
    config: &Config,
    tls: Option<Arc<rustls::ServerConfig>>,
    workers: usize,
    ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    // Find a busy port with a plain bind first: a shared socket would quietly share it.
    drop(std::net::TcpListener::bind(config.listen.http).map_err(|e| bind_error(config.listen.http, &e))?);
    if let (Some(addr), Some(_)) = (config.listen.https, &tls) {
        drop(std::net::TcpListener::bind(addr).map_err(|e| bind_error(addr, &e))?);
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut threads = Vec::new();
    // Port 0 means "any free port": the first worker picks it, the others join it.
    let (mut http_addr, mut https_addr) = (config.listen.http, config.listen.https.filter(|_| tls.is_some()));
    for worker in 0..workers.max(1) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let (http, https) = {
            let _entered = runtime.enter();
            let http = bind_shared(http_addr)?;
            http_addr = http.local_addr().map_err(|e| format!("cannot listen on {http_addr}: {e}"))?;
            let https = match (https_addr, &tls) {
                (Some(addr), Some(tls)) => {
                    let listener = bind_shared(addr)?;
                    https_addr = Some(listener.local_addr().map_err(|e| format!("cannot listen on {addr}: {e}"))?);
                    Some((listener, tls.clone()))
                }
                _ => None,
            };
            (http, https)
        };
        let proxy = Arc::new(Proxy::new(config));
        let mut stopping = stopping.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-worker-{worker}"))
            .spawn(move || {
                runtime.block_on(serve(proxy, http, https, async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                }));
            })
            .map_err(|e| format!("cannot start a worker thread: {e}"))?;
        threads.push(thread);
    }
    ready(http_addr, https_addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(shutdown);
    let _ = stop.send(true);
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

/// Serves plain HTTP on `http` and, with a TLS config, HTTPS on `https`, until `shutdown` resolves;
/// then stops accepting and gives open connections [`SHUTDOWN_GRACE`] to finish their requests.
pub async fn serve(
    proxy: Arc<Proxy>,
    http: tokio::net::TcpListener,
    https: Option<(tokio::net::TcpListener, Arc<rustls::ServerConfig>)>,
    shutdown: impl Future<Output = ()>,
) {
    // `stop` tells connections to finish; each holds a `done` sender, so `recv` ends when all have.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let acceptor = https.as_ref().map(|(_, config)| tokio_rustls::TlsAcceptor::from(config.clone()));
    let https_listener = https.map(|(listener, _)| listener);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = http.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(drive(proxy.clone(), TokioIo::new(stream), peer, Scheme::Http, stopping.clone(), done.clone()));
            }
            accepted = accept_optional(https_listener.as_ref()) => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone().expect("acceptor with listener");
                let (proxy, stopping, done) = (proxy.clone(), stopping.clone(), done.clone());
                tokio::spawn(async move {
                    // A client that never finishes its handshake must not hold a task forever.
                    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await else { return };
                    drive(proxy, TokioIo::new(tls), peer, Scheme::Https, stopping, done).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(http);
    drop(https_listener);
    let _ = stop.send(true);
    drop(done);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv()).await;
}

async fn accept_optional(
    listener: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves one connection until it closes, or finishes its current request once `stopping` turns true.
async fn drive<I>(
    proxy: Arc<Proxy>,
    io: I,
    peer: SocketAddr,
    scheme: Scheme,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    _done: tokio::sync::mpsc::Sender<()>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let proxy = proxy.clone();
        async move { Ok::<_, std::convert::Infallible>(proxy.handle(request, peer, scheme).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(io, service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // The guard `wait_for` returns is not Send: drop it before awaiting the connection.
        () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(routes: &str) -> Proxy {
        let text = format!("[listen]\nhttp = \"127.0.0.1:1\"\n{routes}");
        Proxy::new(&Config::parse(&text).unwrap())
    }

    #[test]
    fn routes_by_host_then_longest_prefix() {
        let p = proxy(
            "[[route]]\npath = \"/\"\nupstream = \"http://site:1\"\n\
             [[route]]\npath = \"/chat/\"\nupstream = \"http://app:1\"\n\
             [[route]]\nhost = \"app.localhost\"\npath = \"/\"\nupstream = \"http://app:2\"\n",
        );
        let check = |host: &str, path: &str, expected: Option<&str>| {
            assert_eq!(p.route(host, path).map(|r| r.upstream.as_str()), expected, "{host}{path}");
        };
        check("localhost", "/", Some("http://site:1"));
        check("localhost:8443", "/chat/room", Some("http://app:1"));
        check("APP.localhost:8443", "/anything", Some("http://app:2"));
        check("localhost", "/chat", Some("http://site:1"));
        let only_chat = proxy("[[route]]\npath = \"/chat/\"\nupstream = \"http://app:1\"\n");
        assert!(only_chat.route("h", "/").is_none());
    }

    #[test]
    fn forwarding_headers_append_and_set() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        set_forwarding_headers(&mut headers, "example.test:8443", "127.0.0.1:5000".parse().unwrap(), Scheme::Https);
        assert_eq!(headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
        assert_eq!(headers["x-real-ip"], "127.0.0.1");
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-forwarded-host"], "example.test:8443");
        assert_eq!(headers["host"], "example.test:8443");
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("keep-alive, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-kept"]);
    }

    #[test]
    fn redirects_keep_host_and_path() {
        let uri: Uri = "/a/b?c=1".parse().unwrap();
        let check = |host: &str, port: u16, expected: &str| {
            let response = redirect_to_https(host, port, &uri);
            assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
            assert_eq!(response.headers()[header::LOCATION], expected);
        };
        check("example.test", 443, "https://example.test/a/b?c=1");
        check("example.test:8000", 8443, "https://example.test:8443/a/b?c=1");
        check("[::1]:8000", 8443, "https://[::1]:8443/a/b?c=1");
    }
}
