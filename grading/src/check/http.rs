//! `http`: send one request (optionally following redirects) and judge the response.
//!
//! The client is hyper's HTTP/1.1 connection API, not a high-level client: the request target is
//! sent exactly as written in the rubric, so checks can send `/../etc/passwd` or `/%2e%2e/` and see
//! what a server does with them (URL libraries normalise those away before sending).

use super::{excerpt, Attempt, Context, Kind, Mismatch, Needs};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// Largest response body a check reads.
const MAX_BODY: usize = 4 << 20;
/// Redirects followed at most when `follow_redirects = true`.
const MAX_REDIRECTS: usize = 10;

/// One value or a list of them (`status = 200` or `status = [200, 201]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A request and what its response must look like.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    #[serde(default = "get")]
    pub method: String,
    /// `http://host:port/path?query`; the path is sent as written.
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A raw request body.
    pub body: Option<String>,
    /// Form fields, sent `application/x-www-form-urlencoded`.
    pub form: Option<BTreeMap<String, String>>,
    /// A JSON request body.
    pub json: Option<serde_json::Value>,
    /// Follow 3xx answers (up to 10) and judge the last response.
    #[serde(default)]
    pub follow_redirects: bool,
    /// HTTP basic auth: `Authorization: Basic base64(user:password)`.
    pub basic_auth: Option<BasicAuth>,
    /// Connect to this address instead of the URL's host, which still goes in `Host` and as the
    /// TLS server name (curl's `--resolve`): how `https://wordpress.localhost:9443/` reaches a front
    /// door on 127.0.0.1 by its virtual host name, whatever the machine's resolver says.
    pub resolve: Option<String>,
    #[serde(default)]
    pub expect: HttpExpect,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

fn get() -> String {
    "GET".into()
}

/// What the response must look like; every field is optional and all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Allowed status codes.
    pub status: Option<OneOrMany<u16>>,
    /// Header name -> substring its value must contain (case-insensitive).
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
    /// Header name -> a regular expression its value must match (case-insensitive).
    #[serde(default)]
    pub header_matches: BTreeMap<String, String>,
    /// Headers that must be present.
    #[serde(default)]
    pub header_present: Vec<String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub header_absent: Vec<String>,
    #[serde(default)]
    pub body_contains: Vec<String>,
    #[serde(default)]
    pub body_not_contains: Vec<String>,
    pub body_regex: Option<String>,
    /// JSON pointer -> the exact value there.
    #[serde(default)]
    pub json_equals: BTreeMap<String, serde_json::Value>,
    /// JSON pointers that must exist.
    #[serde(default)]
    pub json_present: Vec<String>,
    /// JSON pointer -> a regular expression the string there must match (a number or boolean is
    /// matched as its JSON text; null and a missing value never match).
    #[serde(default)]
    pub json_matches: BTreeMap<String, String>,
}

impl HttpCheck {
    pub(crate) async fn attempt_at(&self, ctx: &Context, deadline: Instant) -> Attempt {
        self.attempt_or_unreachable(ctx, deadline)
            .await
            .unwrap_or_else(|(expected, actual)| Attempt::Fail(Mismatch::new(expected, actual)))
    }

    /// As [`HttpCheck::attempt`], but a request that never got an answer (no connection, a TLS
    /// handshake that failed) is `Err((expected, why))`: for a caller whose check is about
    /// something behind the address, that is another check's fault.
    pub(crate) async fn attempt_or_unreachable(
        &self,
        ctx: &Context,
        deadline: Instant,
    ) -> Result<Attempt, (String, String)> {
        let request = self.request(ctx);
        Ok(match tokio::time::timeout_at(deadline, send(&request, self.follow_redirects)).await {
            Ok(Ok(response)) => self.judge(ctx, &request, &response),
            Ok(Err(actual)) => return Err((self.summary(ctx, &request), actual)),
            Err(_) => Attempt::Fail(Mismatch::cut_off(
                self.summary(ctx, &request),
                format!("no complete answer to {} {} before the deadline", request.method, request.url),
            )),
        })
    }

    /// The request with variables expanded.
    pub(crate) fn request(&self, ctx: &Context) -> PreparedRequest {
        let v = &ctx.vars;
        let mut headers: Vec<(String, String)> =
            self.headers.iter().map(|(k, val)| (k.clone(), v.expand(val))).collect();
        if let Some(auth) = &self.basic_auth {
            use base64::Engine;
            let pair = format!("{}:{}", v.expand(&auth.user), v.expand(&auth.password));
            headers.push((
                "authorization".into(),
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)),
            ));
        }
        let body = if let Some(body) = &self.body {
            Some(v.expand(body))
        } else if let Some(form) = &self.form {
            headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
            let pairs: Vec<String> =
                form.iter().map(|(k, val)| format!("{}={}", form_encode(k), form_encode(&v.expand(val)))).collect();
            Some(pairs.join("&"))
        } else if let Some(json) = &self.json {
            headers.push(("content-type".into(), "application/json".into()));
            Some(expand_json(json, v).to_string())
        } else {
            None
        };
        PreparedRequest {
            method: v.expand(&self.method),
            url: v.expand(&self.url),
            headers,
            body,
            resolve: self.resolve.as_ref().map(|r| v.expand(r)),
        }
    }

    /// The whole expectation in words (used when there is no response to compare with).
    fn summary(&self, ctx: &Context, request: &PreparedRequest) -> String {
        let e = &self.expect;
        let mut parts = vec![format!("an answer to {} {}", request.method, request.url)];
        if let Some(status) = &e.status {
            parts.push(status_words(&status.to_vec()));
        }
        for needle in &e.body_contains {
            parts.push(format!("body containing {:?}", ctx.vars.expand(needle)));
        }
        parts.join(", ")
    }

    pub(crate) fn judge(&self, ctx: &Context, request: &PreparedRequest, response: &Response) -> Attempt {
        let v = &ctx.vars;
        let e = &self.expect;
        let mut mismatches = Vec::new();
        let what = format!("{} {}", request.method, request.url);
        if let Some(status) = &e.status {
            let allowed = status.to_vec();
            if !allowed.contains(&response.status) {
                let mut actual = format!("{what} answered {}", response.status);
                if let Some(location) = response.headers.get("location").and_then(|l| l.to_str().ok()) {
                    actual.push_str(&format!(" (Location: {location})"));
                }
                mismatches.push(Mismatch::new(status_words(&allowed), actual));
            }
        }
        for (name, needle) in &e.header_contains {
            let needle = v.expand(needle);
            match header_text(&response.headers, name) {
                Some(value) if value.to_ascii_lowercase().contains(&needle.to_ascii_lowercase()) => {}
                Some(value) => {
                    mismatches.push(Mismatch::new(format!("{name} containing {needle:?}"), format!("{name}: {value}")))
                }
                None => {
                    mismatches.push(Mismatch::new(format!("{name} containing {needle:?}"), format!("no {name} header")))
                }
            }
        }
        for (name, pattern) in &e.header_matches {
            let pattern = v.expand(pattern);
            let wanted = format!("{name} matching /{pattern}/");
            match (
                regex::RegexBuilder::new(&pattern).case_insensitive(true).build(),
                header_text(&response.headers, name),
            ) {
                (Err(err), _) => {
                    mismatches.push(Mismatch::new(format!("a valid pattern /{pattern}/"), regex_error(&err)))
                }
                (Ok(re), Some(value)) if re.is_match(&value) => {}
                (Ok(_), Some(value)) => mismatches.push(Mismatch::new(wanted, format!("{name}: {value}"))),
                (Ok(_), None) => mismatches.push(Mismatch::new(wanted, format!("no {name} header"))),
            }
        }
        for name in &e.header_present {
            if !response.headers.contains_key(name.as_str()) {
                mismatches.push(Mismatch::new(format!("header {name} present"), format!("no {name} header")));
            }
        }
        for name in &e.header_absent {
            if let Some(value) = header_text(&response.headers, name) {
                mismatches.push(Mismatch::new(format!("header {name} absent"), format!("{name}: {value}")));
            }
        }
        let body = String::from_utf8_lossy(&response.body);
        for needle in &e.body_contains {
            let needle = v.expand(needle);
            if !body.contains(&needle) {
                mismatches.push(Mismatch::new(
                    format!("body containing {needle:?}"),
                    format!("{} answered {} with body {:?}", what, response.status, excerpt(&body, 120)),
                ));
            }
        }
        for needle in &e.body_not_contains {
            let needle = v.expand(needle);
            if body.contains(&needle) {
                mismatches.push(Mismatch::new(
                    format!("body without {needle:?}"),
                    format!("{} answered {} with body {:?}", what, response.status, excerpt(&body, 120)),
                ));
            }
        }
        if let Some(pattern) = &e.body_regex {
            let pattern = v.expand(pattern);
            match regex::Regex::new(&pattern) {
                Ok(re) if re.is_match(&body) => {}
                Ok(_) => mismatches.push(Mismatch::new(
                    format!("body matching /{pattern}/"),
                    format!("{} answered {} with body {:?}", what, response.status, excerpt(&body, 120)),
                )),
                Err(err) => mismatches.push(Mismatch::new(format!("a valid pattern /{pattern}/"), regex_error(&err))),
            }
        }
        if !e.json_equals.is_empty() || !e.json_present.is_empty() || !e.json_matches.is_empty() {
            match serde_json::from_slice::<serde_json::Value>(&response.body) {
                Err(err) => mismatches
                    .push(Mismatch::new("a JSON body", format!("body is not JSON ({err}): {:?}", excerpt(&body, 120)))),
                Ok(json) => {
                    for (pointer, want) in &e.json_equals {
                        let want = expand_json(want, v);
                        match json.pointer(pointer) {
                            Some(got) if *got == want => {}
                            Some(got) => mismatches
                                .push(Mismatch::new(format!("{pointer} = {want}"), format!("{pointer} = {got}"))),
                            None => mismatches.push(Mismatch::new(
                                format!("{pointer} = {want}"),
                                format!("no {pointer} in {}", excerpt(&json.to_string(), 120)),
                            )),
                        }
                    }
                    for (pointer, pattern) in &e.json_matches {
                        let pattern = v.expand(pattern);
                        let wanted = format!("{pointer} matching /{pattern}/");
                        let text = match json.pointer(pointer) {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::String(text)) => Some(text.clone()),
                            Some(other) => Some(other.to_string()),
                        };
                        match (regex::Regex::new(&pattern), text) {
                            (Err(err), _) => mismatches
                                .push(Mismatch::new(format!("a valid pattern /{pattern}/"), regex_error(&err))),
                            (Ok(re), Some(text)) if re.is_match(&text) => {}
                            (Ok(_), Some(text)) => {
                                mismatches.push(Mismatch::new(wanted, format!("{pointer} = {text:?}")))
                            }
                            (Ok(_), None) => mismatches.push(Mismatch::new(
                                wanted,
                                format!("no value at {pointer} in {}", excerpt(&json.to_string(), 120)),
                            )),
                        }
                    }
                    for pointer in &e.json_present {
                        if json.pointer(pointer).is_none() {
                            mismatches.push(Mismatch::new(
                                format!("a value at {pointer}"),
                                format!("no {pointer} in {}", excerpt(&json.to_string(), 120)),
                            ));
                        }
                    }
                }
            }
        }
        if mismatches.is_empty() {
            Attempt::Pass
        } else {
            Attempt::Fail(Mismatch::join(mismatches))
        }
    }
}

impl Kind for HttpCheck {
    fn name(&self) -> &'static str {
        "http"
    }

    fn needs(&self) -> Needs {
        Needs::LIVE
    }

    fn strings(&self) -> Vec<&str> {
        let mut all = vec![self.method.as_str(), self.url.as_str()];
        all.extend(self.headers.values().map(String::as_str));
        all.extend(self.body.as_deref());
        all.extend(self.resolve.as_deref());
        if let Some(auth) = &self.basic_auth {
            all.extend([auth.user.as_str(), auth.password.as_str()]);
        }
        if let Some(form) = &self.form {
            all.extend(form.values().map(String::as_str));
        }
        let e = &self.expect;
        all.extend(e.header_contains.values().map(String::as_str));
        all.extend(e.header_matches.values().map(String::as_str));
        all.extend(e.body_contains.iter().map(String::as_str));
        all.extend(e.body_not_contains.iter().map(String::as_str));
        all.extend(e.body_regex.as_deref());
        all.extend(e.json_matches.values().map(String::as_str));
        all
    }

    fn validate(&self) -> Result<(), String> {
        Method::from_bytes(self.method.as_bytes())
            .map_err(|_| format!("method '{}' is not an HTTP method", self.method))?;
        if !self.url.starts_with("http://") && !self.url.starts_with("https://") {
            return Err(format!("url '{}' must start with http:// or https://", self.url));
        }
        let bodies = [self.body.is_some(), self.form.is_some(), self.json.is_some()];
        if bodies.iter().filter(|b| **b).count() > 1 {
            return Err("give at most one of body, form and json".into());
        }
        for name in self.headers.keys() {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("'{name}' is not a header name"))?;
        }
        let e = &self.expect;
        if let Some(status) = &e.status {
            for code in status.to_vec() {
                if !(100..=599).contains(&code) {
                    return Err(format!("status {code} is not an HTTP status (100-599)"));
                }
            }
        }
        if let Some(re) = &e.body_regex {
            regex::Regex::new(&crate::vars::with_stand_ins(re))
                .map_err(|err| format!("body_regex '{re}' does not compile: {}", regex_error(&err)))?;
        }
        for (name, re) in &e.header_matches {
            regex::Regex::new(&crate::vars::with_stand_ins(re))
                .map_err(|err| format!("header_matches for {name}: '{re}' does not compile: {}", regex_error(&err)))?;
        }
        for (pointer, re) in &e.json_matches {
            regex::Regex::new(&crate::vars::with_stand_ins(re))
                .map_err(|err| format!("json_matches for {pointer}: '{re}' does not compile: {}", regex_error(&err)))?;
        }
        for pointer in e.json_equals.keys().chain(&e.json_present).chain(e.json_matches.keys()) {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(format!("JSON pointer '{pointer}' must be empty or start with '/'"));
            }
        }
        Ok(())
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, deadline: Instant, _interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(self.attempt_at(ctx, deadline))
    }
}

fn status_words(allowed: &[u16]) -> String {
    match allowed {
        [one] => format!("status {one}"),
        many => format!("status one of {}", many.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")),
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> =
        headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Expands placeholders in every string inside a JSON value.
fn expand_json(value: &serde_json::Value, vars: &crate::vars::Vars) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(vars.expand(s)),
        Value::Array(items) => Value::Array(items.iter().map(|i| expand_json(i, vars)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), expand_json(v, vars))).collect()),
        other => other.clone(),
    }
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A regex error's last line (the part that says what is wrong).
pub(crate) fn regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid")
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// A request ready to send: placeholders expanded.
#[derive(Debug, Clone)]
pub(crate) struct PreparedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Where to connect instead of the URL's host (the port stays the URL's).
    pub resolve: Option<String>,
}

/// What came back.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// `http://authority/raw-target` split without normalising the target.
struct Target {
    tls: bool,
    authority: String,
    target: String,
}

fn split_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(format!("{url} is not an http:// or https:// URL")),
    };
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        return Err(format!("{url} has no host"));
    }
    Ok(Target { tls, authority: authority.to_string(), target })
}

/// The host part of an authority, without port or IPv6 brackets (for SNI).
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The address to connect to for an authority (`host`, `host:port`, `[v6]:port`).
fn connect_address(authority: &str, tls: bool) -> String {
    let has_port = if authority.starts_with('[') { authority.contains("]:") } else { authority.contains(':') };
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    }
}

/// Sends `request`, following redirects when asked.
pub(crate) async fn send(request: &PreparedRequest, follow_redirects: bool) -> Result<Response, String> {
    let mut current = request.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = send_once(&current).await?;
        let location = response.headers.get("location").and_then(|l| l.to_str().ok());
        if !follow_redirects || !(300..400).contains(&response.status) || location.is_none() {
            return Ok(response);
        }
        let base =
            url::Url::parse(&current.url).map_err(|e| format!("cannot follow a redirect from {}: {e}", current.url))?;
        let next = base
            .join(location.unwrap_or_default())
            .map_err(|e| format!("{} redirected to an invalid Location: {e}", current.url))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(format!("{} redirected to {next}, which this check cannot follow", current.url));
        }
        if matches!(response.status, 301..=303) && current.method != "HEAD" {
            current.method = "GET".into();
            current.body = None;
            current.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        }
        current.url = next.to_string();
    }
    Err(format!("{} redirected more than {MAX_REDIRECTS} times", request.url))
}

/// A connection the client can speak HTTP/1.1 over: plain TCP or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

async fn send_once(request: &PreparedRequest) -> Result<Response, String> {
    let Target { tls, authority, target } = split_url(&request.url)?;
    let address = connect_address(&authority, tls);
    let address = match &request.resolve {
        Some(ip) => format!("{ip}:{}", address.rsplit_once(':').map_or("", |(_, port)| port)),
        None => address,
    };
    // Certificates are not judged here (a `tls` check does that): the grader inspects, it does not trust.
    let stream: Box<dyn Stream> = if tls {
        let both = [&rustls::version::TLS13, &rustls::version::TLS12];
        Box::new(super::tls::connect(&address, host_of(&authority), &both).await?)
    } else {
        Box::new(tokio::net::TcpStream::connect(&address).await.map_err(|e| super::tcp::connect_error(&address, &e))?)
    };
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| format!("HTTP handshake with {address} failed: {e}"))?;
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("'{}' is not an HTTP method", request.method))?;
    let mut builder = Request::builder().method(method).uri(target.as_str()).header("host", authority.as_str());
    builder = builder.header("user-agent", concat!("container-labs-grader/", env!("CARGO_PKG_VERSION")));
    for (name, value) in &request.headers {
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("header {name} has a value that cannot be sent"))?;
        builder = builder.header(name.as_str(), value);
    }
    let body = Full::new(Bytes::from(request.body.clone().unwrap_or_default()));
    let http_request = builder.body(body).map_err(|e| format!("cannot build the request for {}: {e}", request.url))?;
    let response = sender
        .send_request(http_request)
        .await
        .map_err(|e| format!("{} {} got no valid HTTP answer: {e}", request.method, request.url))?;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let body = if request.method.eq_ignore_ascii_case("HEAD") {
        Bytes::new()
    } else {
        Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the body of {} failed: {e}", request.url))?
            .to_bytes()
    };
    connection.abort();
    Ok(Response { status, headers: parts.headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_their_raw_target() {
        let t = split_url("http://127.0.0.1:8080/../../etc/passwd").unwrap();
        assert_eq!((t.authority.as_str(), t.target.as_str()), ("127.0.0.1:8080", "/../../etc/passwd"));
        let t = split_url("http://h/%2e%2e/x?y=1").unwrap();
        assert_eq!((t.authority.as_str(), t.target.as_str()), ("h", "/%2e%2e/x?y=1"));
        let t = split_url("http://h:1").unwrap();
        assert_eq!(t.target, "/");
        let t = split_url("http://h:1?q").unwrap();
        assert_eq!(t.target, "/?q");
        assert!(split_url("https://h/").unwrap().tls);
        assert!(split_url("ftp://h/").is_err());
        assert!(split_url("http:///x").is_err());
        assert_eq!(connect_address("h", false), "h:80");
        assert_eq!(connect_address("h", true), "h:443");
        assert_eq!(connect_address("[::1]", false), "[::1]:80");
        assert_eq!(connect_address("[::1]:81", false), "[::1]:81");
        assert_eq!((host_of("[::1]:81"), host_of("example.test:8443"), host_of("h")), ("::1", "example.test", "h"));
    }
}

#[cfg(test)]
mod judge_tests {
    use super::*;
    use crate::vars::Vars;
    use expect_test::{expect, Expect};

    /// Judges a fixed response against `expect` (TOML) and renders the verdict.
    fn check(expect_toml: &str, status: u16, headers: &[(&str, &str)], body: &str, expected: Expect) {
        let toml_text = format!("url = \"http://h:1/x\"\nexpect = {{ {expect_toml} }}\n");
        let check: HttpCheck = toml::from_str(&toml_text).unwrap();
        check.validate().unwrap();
        let mut vars = Vars::new();
        vars.set("word", "hello");
        let ctx = Context { vars, submission: ".".into(), ..Default::default() };
        let mut header_map = HeaderMap::new();
        for (k, v) in headers {
            header_map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        let response = Response { status, headers: header_map, body: Bytes::from(body.to_string()) };
        let verdict = match check.judge(&ctx, &check.request(&ctx), &response) {
            Attempt::Pass => "pass".to_string(),
            Attempt::Fail(m) => format!("expected: {}\nactual: {}", m.expected, m.actual),
            Attempt::CannotRun(r) => format!("cannot run: {r}"),
        };
        expected.assert_eq(&verdict);
    }

    #[test]
    fn expectations() {
        check("status = 200", 200, &[], "", expect!["pass"]);
        check("status = [400, 404]", 404, &[], "", expect!["pass"]);
        check(
            "status = 200",
            302,
            &[("location", "/login")],
            "",
            expect![[r#"
            expected: status 200
            actual: GET http://h:1/x answered 302 (Location: /login)"#]],
        );
        check(
            "header_contains = { content-type = \"text/html\" }",
            200,
            &[("content-type", "Text/HTML; charset=utf-8")],
            "",
            expect!["pass"],
        );
        check(
            "header_contains = { content-type = \"text/html\" }",
            200,
            &[("content-type", "text/plain")],
            "",
            expect![[r#"
            expected: content-type containing "text/html"
            actual: content-type: text/plain"#]],
        );
        check(
            "header_contains = { content-type = \"text/html\" }",
            200,
            &[],
            "",
            expect![[r#"
            expected: content-type containing "text/html"
            actual: no content-type header"#]],
        );
        let client = "json_matches = { '/for' = '^[0-9.]+$' }";
        check(client, 200, &[], "{\"for\": \"172.17.0.1\"}", expect!["pass"]);
        check(
            client,
            200,
            &[],
            "{\"for\": null}",
            expect![[r#"
            expected: /for matching /^[0-9.]+$/
            actual: no value at /for in {"for":null}"#]],
        );
        check(
            client,
            200,
            &[],
            "{\"for\": \"$remote_addr\"}",
            expect![[r#"
            expected: /for matching /^[0-9.]+$/
            actual: /for = "$remote_addr""#]],
        );
        let max_age = "header_matches = { cache-control = 'max-age=[1-9]' }";
        check(max_age, 200, &[("cache-control", "public, Max-Age=86400")], "", expect!["pass"]);
        check(
            max_age,
            200,
            &[("cache-control", "max-age=0")],
            "",
            expect![[r#"
            expected: cache-control matching /max-age=[1-9]/
            actual: cache-control: max-age=0"#]],
        );
        check(
            max_age,
            200,
            &[],
            "",
            expect![[r#"
            expected: cache-control matching /max-age=[1-9]/
            actual: no cache-control header"#]],
        );
        check(
            "header_present = [\"etag\"], header_absent = [\"server\"]",
            200,
            &[("server", "nginx/1.22")],
            "",
            expect![[r#"
            expected: header etag present; header server absent
            actual: no etag header; server: nginx/1.22"#]],
        );
        check("body_contains = [\"{word} world\"]", 200, &[], "say hello world", expect!["pass"]);
        check(
            "body_contains = [\"{word}\"]",
            200,
            &[],
            "bye\n\n  now",
            expect![[r#"
            expected: body containing "hello"
            actual: GET http://h:1/x answered 200 with body "bye now""#]],
        );
        check(
            "body_not_contains = [\"root:x:0:0\"]",
            200,
            &[],
            "root:x:0:0:root",
            expect![[r#"
            expected: body without "root:x:0:0"
            actual: GET http://h:1/x answered 200 with body "root:x:0:0:root""#]],
        );
        check(
            "body_regex = \"<title>[^<]+</title>\"",
            200,
            &[],
            "<title></title>",
            expect![[r#"
            expected: body matching /<title>[^<]+</title>/
            actual: GET http://h:1/x answered 200 with body "<title></title>""#]],
        );
        check(
            "json_equals = { \"/success\" = true }, json_present = [\"/version\"]",
            200,
            &[],
            r#"{"success":true,"version":"1"}"#,
            expect!["pass"],
        );
        check(
            "json_equals = { \"/success\" = true }, json_present = [\"/version\"]",
            200,
            &[],
            r#"{"success":"yes"}"#,
            expect![[r#"
            expected: /success = true; a value at /version
            actual: /success = "yes"; no /version in {"success":"yes"}"#]],
        );
        check(
            "json_present = [\"/a\"]",
            200,
            &[],
            "<html>",
            expect![[r#"
            expected: a JSON body
            actual: body is not JSON (expected value at line 1 column 1): "<html>""#]],
        );
        check(
            "status = 201, body_contains = [\"ok\"]",
            500,
            &[],
            "boom",
            expect![[r#"
            expected: status 201; body containing "ok"
            actual: GET http://h:1/x answered 500; GET http://h:1/x answered 500 with body "boom""#]],
        );
    }

    #[test]
    fn request_bodies() {
        let check: HttpCheck = toml::from_str(
            "method = \"POST\"\nurl = \"http://h:1/\"\nform = { name = \"a b&c\", text = \"{word}\" }\n",
        )
        .unwrap();
        let mut vars = Vars::new();
        vars.set("word", "hi");
        let ctx = Context { vars, submission: ".".into(), ..Default::default() };
        let request = check.request(&ctx);
        assert_eq!(request.body.as_deref(), Some("name=a+b%26c&text=hi"));
        assert!(request.headers.contains(&("content-type".into(), "application/x-www-form-urlencoded".into())));
        let both: HttpCheck = toml::from_str("url = \"http://h:1/\"\nbody = \"x\"\njson = { a = 1 }\n").unwrap();
        assert_eq!(both.validate(), Err("give at most one of body, form and json".into()));
    }
}
