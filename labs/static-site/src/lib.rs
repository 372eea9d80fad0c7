//! Lab 1 reference: a static file server for the portfolio site.
//!
//! What a careful static server does, in one small crate: directory index (`index.html`), content
//! types, `ETag` / `Last-Modified` with `304 Not Modified`, `HEAD`, single byte ranges (`206`),
//! gzip negotiation, `Cache-Control` (assets kept an hour, pages revalidated), a custom
//! `404.html`, no escape from the site root, graceful shutdown.
//! Files are served from an in-memory cache (see [`files`]) so small files cost no disk I/O.

pub mod body;
pub mod files;
pub mod nginx;

use body::Body;
use files::{Entry, Files, Lookup};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long browsers may keep a stylesheet, script or image without asking again. Pages are
/// revalidated every time (`no-cache`: the validators make that a 304), so an edit shows at once.
pub const ASSET_MAX_AGE: u32 = 3600;

const BUILTIN_404: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>\n<body><h1>404 Not Found</h1><p>There is no page at this address.</p></body></html>\n";

/// Why the server could not start; each says what to do.
#[derive(Debug)]
pub enum StartError {
    RootMissing(PathBuf),
    RootNotDir(PathBuf),
    PortBusy(SocketAddr),
    PortDenied(SocketAddr),
    Bind(SocketAddr, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::RootMissing(p) => write!(f, "site root '{}' does not exist; pass --root DIR with the site's files", p.display()),
            StartError::RootNotDir(p) => write!(f, "site root '{}' is not a directory; pass --root DIR with the site's files", p.display()),
            StartError::PortBusy(a) => write!(
                f,
                "port {} is already in use on {}; stop what holds it (see `ss -ltnp 'sport = :{}'`) or pass --port",
                a.port(),
                a.ip(),
                a.port()
            ),
            StartError::PortDenied(a) => write!(
                f,
                "not allowed to listen on port {} (ports below 1024 need root or CAP_NET_BIND_SERVICE); pass --port 8080",
                a.port()
            ),
            StartError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Opens the listening socket, turning the usual failures into clear errors.
pub fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, StartError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => StartError::PortBusy(addr),
        std::io::ErrorKind::PermissionDenied => StartError::PortDenied(addr),
        _ => StartError::Bind(addr, e),
    })?;
    listener.set_nonblocking(true).map_err(|e| StartError::Bind(addr, e))?;
    tokio::net::TcpListener::from_std(listener).map_err(|e| StartError::Bind(addr, e))
}

/// The site: its files and how to answer for them.
#[derive(Debug)]
pub struct Site {
    files: Files,
}

impl Site {
    pub fn open(root: &Path) -> Result<Site, StartError> {
        Site::open_revalidating(root, files::REVALIDATE)
    }

    /// Like [`Site::open`], trusting cached files for `revalidate` (zero: check the disk every time).
    pub fn open_revalidating(root: &Path, revalidate: Duration) -> Result<Site, StartError> {
        if !root.exists() {
            return Err(StartError::RootMissing(root.to_path_buf()));
        }
        if !root.is_dir() {
            return Err(StartError::RootNotDir(root.to_path_buf()));
        }
        let files = Files::new(root, revalidate).map_err(|_| StartError::RootMissing(root.to_path_buf()))?;
        Ok(Site { files })
    }

    pub fn root(&self) -> &Path {
        self.files.root()
    }

    /// Answers one request.
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Body> {
        let head = request.method() == Method::HEAD;
        if request.method() != Method::GET && !head {
            let mut response = simple(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match self.files.lookup(request.uri().path()) {
            Lookup::Found(entry) => file_response(&entry, request.headers(), head),
            Lookup::AddSlash => {
                let mut location = format!("{}/", request.uri().path());
                if let Some(query) = request.uri().query() {
                    location.push('?');
                    location.push_str(query);
                }
                let mut response = simple(StatusCode::MOVED_PERMANENTLY, "moved\n");
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                response
            }
            Lookup::NotFound => self.not_found(head),
            Lookup::Refused => {
                simple(StatusCode::BAD_REQUEST, "bad request: the path leaves the site or names a hidden file\n")
            }
        }
    }

    fn not_found(&self, head: bool) -> Response<Body> {
        let mut response = match self.files.lookup("/404.html") {
            Lookup::Found(entry) => {
                let mut r = Response::new(if head { Body::Empty } else { entry_body(&entry) });
                r.headers_mut().insert(header::CONTENT_TYPE, entry.content_type.clone());
                r
            }
            _ => {
                let mut r = Response::new(if head { Body::Empty } else { Body::text(BUILTIN_404) });
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
                r
            }
        };
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    }
}

fn simple(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn entry_body(entry: &Entry) -> Body {
    match &entry.data {
        Some(bytes) => Body::bytes(bytes.clone()),
        None => Body::Empty,
    }
}

/// The whole HTTP semantics of serving one file: conditionals, encoding, ranges, HEAD.
fn file_response(entry: &Entry, request: &HeaderMap, head: bool) -> Response<Body> {
    let range = request.get(header::RANGE).and_then(|r| r.to_str().ok());
    // A range applies to the identity bytes; a ranged request is never compressed.
    let gzip = match (&entry.gzip, range) {
        (Some(gz), None) if accepts_gzip(request) => Some(gz),
        _ => None,
    };
    let etag = gzip.map_or(&entry.etag, |(_, tag)| tag);

    let mut response = Response::new(Body::Empty);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, entry.content_type.clone());
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::LAST_MODIFIED, entry.last_modified.clone());
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let page = entry.content_type.as_bytes().starts_with(b"text/html");
    let cache = if page { "no-cache".to_string() } else { format!("public, max-age={ASSET_MAX_AGE}") };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(&cache).expect("a header value"));
    if entry.compressible {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }

    if not_modified(entry, etag, request) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().remove(header::CONTENT_TYPE);
        return response;
    }

    if let Some((bytes, _)) = gzip {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        if !head {
            *response.body_mut() = Body::bytes(bytes.clone());
        }
        return response;
    }

    let if_range_ok = match request.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(value) => value.as_bytes() == entry.etag.as_bytes() || value.as_bytes() == entry.last_modified.as_bytes(),
    };
    let (start, end) = match range.filter(|_| if_range_ok).map(|r| parse_range(r, entry.len)) {
        None | Some(RangeSpec::Ignore) => (0, entry.len),
        Some(RangeSpec::Unsatisfiable) => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{}", entry.len)).expect("ascii"),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return response;
        }
        Some(RangeSpec::Bytes(start, end)) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let value = format!("bytes {start}-{}/{}", end - 1, entry.len);
            response.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ascii"));
            (start, end)
        }
    };
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if head {
        return response;
    }
    *response.body_mut() = match &entry.data {
        Some(bytes) => Body::bytes(bytes.slice(start as usize..end as usize)),
        None => match open_at(&entry.path, start) {
            Ok(file) => Body::File { file, remaining: end - start },
            Err(_) => {
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response.headers_mut().remove(header::CONTENT_LENGTH);
                Body::text("the file could not be read\n")
            }
        },
    };
    response
}

fn open_at(path: &Path, start: u64) -> std::io::Result<tokio::fs::File> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    Ok(tokio::fs::File::from_std(file))
}

/// `If-None-Match` wins over `If-Modified-Since` (RFC 9110 13.2.2).
fn not_modified(entry: &Entry, etag: &HeaderValue, request: &HeaderMap) -> bool {
    if let Some(list) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        let ours = etag.to_str().unwrap_or_default();
        return list.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours);
    }
    if let Some(since) = request.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()) {
        if let Ok(since) = httpdate::parse_http_date(since) {
            let modified = entry.modified.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
            let since = since.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
            return modified <= since;
        }
    }
    false
}

/// Whether `Accept-Encoding` allows gzip (`gzip`, `x-gzip` or `*` with a non-zero q).
fn accepts_gzip(request: &HeaderMap) -> bool {
    let Some(value) = request.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q =
            parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") || coding == "*") && q > 0.0
    })
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Serve the whole file (multiple ranges, or a header we do not understand).
    Ignore,
    Unsatisfiable,
    /// Half-open `[start, end)`.
    Bytes(u64, u64),
}

/// Parses a `Range` header for a file of `len` bytes. One range only; others get the whole file.
fn parse_range(header: &str, len: u64) -> RangeSpec {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix: the last N bytes.
        return match last.parse::<u64>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(n) if len == 0 => {
                let _ = n;
                RangeSpec::Unsatisfiable
            }
            Ok(n) => RangeSpec::Bytes(len.saturating_sub(n), len),
            Err(_) => RangeSpec::Ignore,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeSpec::Ignore;
    };
    if start >= len {
        return RangeSpec::Unsatisfiable;
    }
    let end = if last.is_empty() {
        len
    } else {
        match last.parse::<u64>() {
            Ok(last) if last >= start => (last + 1).min(len),
            _ => return RangeSpec::Ignore,
        }
    };
    RangeSpec::Bytes(start, end)
}

/// Serves `site` on `listener` until `shutdown` resolves, then lets open requests finish
/// (up to [`SHUTDOWN_GRACE`]).
pub async fn serve(listener: tokio::net::TcpListener, site: Arc<Site>, shutdown: impl Future<Output = ()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let site = site.clone();
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let response = site.respond(&request);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let check = |h: &str, len: u64, expected: RangeSpec| assert_eq!(parse_range(h, len), expected, "{h}");
        check("bytes=0-9", 100, RangeSpec::Bytes(0, 10));
        check("bytes=90-", 100, RangeSpec::Bytes(90, 100));
        check("bytes=-10", 100, RangeSpec::Bytes(90, 100));
        check("bytes=-1000", 100, RangeSpec::Bytes(0, 100));
        check("bytes=50-1000", 100, RangeSpec::Bytes(50, 100));
        check("bytes=100-", 100, RangeSpec::Unsatisfiable);
        check("bytes=-0", 100, RangeSpec::Unsatisfiable);
        check("bytes=0-1,5-6", 100, RangeSpec::Ignore);
        check("bytes=9-1", 100, RangeSpec::Ignore);
        check("items=0-1", 100, RangeSpec::Ignore);
        check("bytes=x-1", 100, RangeSpec::Ignore);
    }

    #[test]
    fn gzip_negotiation() {
        let check = |value: &str, expected: bool| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
            assert_eq!(accepts_gzip(&headers), expected, "{value}");
        };
        check("gzip", true);
        check("gzip, deflate, br", true);
        check("br;q=1.0, gzip;q=0.5", true);
        check("gzip;q=0", false);
        check("identity", false);
        check("*", true);
        check("GZIP", true);
    }
}
