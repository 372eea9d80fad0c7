//! The policy proxy: the Docker Engine API a submission sees, on a Unix socket of its run.
//!
//! Every request is routed ([`route`]) and, where it creates or changes something, judged
//! ([`judge`]) against the `policy` rules and against ownership before it is forwarded to the real
//! engine, byte for byte where nothing needs changing. A refused request gets the engine's own
//! error shape (status 403, `{"message": ...}`), so the docker CLI and Compose print the reason;
//! every refusal is recorded for the report. Upgraded connections (attach, exec) and streams
//! (logs, events, build output, a build's context) pass through both ways without buffering.

mod context;
mod judge;
mod route;

use crate::labels::RunId;
use crate::limits::Limits;
use crate::{Endpoint, Incident};
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use judge::{Ownership, Refused, Verdict};
use policy::{Rule, Violation};
use route::Route;
use serde_json::Value;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

type Body = BoxBody<Bytes, hyper::Error>;

/// The largest JSON body the proxy reads to judge (a create request is a few kilobytes).
const MAX_JUDGED_BODY: usize = 4 << 20;

/// What every connection of one proxy shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub run: RunId,
    /// The labels every object of the run gets.
    pub labels: BTreeMap<String, String>,
    pub limits: Limits,
    /// The submission's copy (canonical): the only host path a bind mount may name.
    pub root: Option<String>,
    /// The real engine, for ownership lookups and the volumes the proxy creates itself.
    pub docker: bollard::Docker,
    pub upstream: Endpoint,
    pub incidents: Arc<Mutex<Vec<Incident>>>,
    /// Images the run built: the name the submission used -> the run's own tag.
    pub images: Mutex<BTreeMap<String, String>>,
    /// Where no registry answers: an official image's family -> the stand-in to run instead of
    /// any tag of it that is not here (`mariadb` -> `containerlabs/mariadb:10.11-standin`).
    pub stand_ins: Arc<Mutex<BTreeMap<String, String>>>,
    /// The host ports published as asked; any other on a port the engine picks (see
    /// [`crate::RunConfig::host_ports`]).
    pub host_ports: Option<std::collections::BTreeSet<u16>>,
    /// The hosts a build may reach (see [`crate::egress`]).
    pub build_hosts: Arc<Vec<String>>,
    /// The run's build network, made at its first build (or why it could not be).
    pub egress: tokio::sync::OnceCell<Result<crate::egress::Egress, String>>,
}

impl Shared {
    /// Records what the proxy did, once.
    pub(crate) fn note(&self, incident: Incident) {
        let mut incidents = self.incidents.lock().expect("incidents lock");
        if !incidents.contains(&incident) {
            incidents.push(incident);
        }
    }
}

/// A running proxy; it stops (and drops every connection) when dropped.
#[derive(Debug)]
pub struct Proxy {
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on `socket` (made reachable by any user: the run's directory keeps others out, and
    /// the sandbox's unprivileged user mounts the socket itself).
    pub(crate) fn start(shared: Shared, socket: &Path) -> std::io::Result<Proxy> {
        let _ = std::fs::remove_file(socket);
        let listener = tokio::net::UnixListener::bind(socket)?;
        std::fs::set_permissions(socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))?;
        let shared = Arc::new(shared);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        connections.spawn(serve(shared.clone(), stream));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Proxy { socket: socket.to_path_buf(), task })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

async fn serve(shared: Arc<Shared>, stream: tokio::net::UnixStream) {
    let service = hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

/// One request: routed, judged, forwarded or refused.
async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Body> {
    let raw_path = request.uri().path().to_string();
    let path = percent_decode(route::without_version(&raw_path));
    let mut query: Vec<(String, String)> = url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let route = route::classify(request.method(), &path, &query);
    match route {
        Route::Pass => forward(shared, request, None, None).await,
        // A read of something the labs do not need (the CLI's `inspect` also asks for plugins):
        // not there, as far as the submission can tell. A write is refused, and recorded.
        Route::Refuse(what) if request.method() == http::Method::GET || request.method() == http::Method::HEAD => {
            answer_after_body(
                request,
                error(StatusCode::NOT_FOUND, &format!("{what} is not available in the grader's sandbox")),
            )
            .await
        }
        Route::Refuse(what) => {
            let refused =
                Refused { subject: "the submission".into(), violations: vec![Violation::new(Rule::Endpoint, what)] };
            answer_after_body(request, refuse(shared, refused)).await
        }
        Route::List => {
            add_run_filter(&mut query, &shared.run);
            forward(shared, request, Some(&query), None).await
        }
        Route::Container { id, write } => match shared.container(&id).await {
            Ownership::Ours | Ownership::Missing => forward(shared, request, None, None).await,
            Ownership::Theirs => answer_after_body(request, not_theirs(shared, write, "container", &id)).await,
        },
        Route::Exec { id } => match shared.exec_container(&id).await {
            Some(container) if shared.container(&container).await == Ownership::Theirs => {
                answer_after_body(request, not_theirs(shared, true, "container", &container)).await
            }
            _ => forward(shared, request, None, None).await,
        },
        Route::ExecCreate { container } => match shared.container(&container).await {
            Ownership::Theirs => answer_after_body(request, not_theirs(shared, true, "container", &container)).await,
            _ => {
                judged(shared, request, |body| async move {
                    judge::exec_create(&container, &body).map(|()| body).map_err(Verdict::Refused)
                })
                .await
            }
        },
        Route::ContainerUpdate { id } => match shared.container(&id).await {
            Ownership::Theirs => answer_after_body(request, not_theirs(shared, true, "container", &id)).await,
            _ => {
                judged(shared, request, |mut body| async move {
                    judge::container_update(shared, &mut body);
                    Ok(body)
                })
                .await
            }
        },
        Route::ContainerCreate => {
            let query = query.clone();
            judged(shared, request, |mut body| async move {
                judge::container_create(shared, &query, &mut body).await.map(|()| body)
            })
            .await
        }
        Route::Image { name, delete } => {
            let name = match shared.built(&name) {
                Some(built) => built,
                None if !delete => shared.stand_in(&name).await.unwrap_or(name),
                None => name,
            };
            if delete && shared.image(&name).await == Ownership::Theirs {
                return answer_after_body(request, not_theirs(shared, true, "image", &name)).await;
            }
            let path = format!(
                "{}/images/{}{}",
                version_prefix(&raw_path),
                name,
                if delete { "" } else { image_suffix(&path) }
            );
            forward_to(shared, request, path, &query).await
        }
        Route::Build => match judge::build(shared, &mut query) {
            Ok(()) if !contain_build(shared, &mut query).await => {
                answer_after_body(
                    request,
                    error(StatusCode::INTERNAL_SERVER_ERROR, "cannot rewrite the build's arguments"),
                )
                .await
            }
            Ok(()) if shared.stand_ins.lock().expect("stand-ins lock").is_empty() => {
                forward(shared, request, Some(&query), None).await
            }
            Ok(()) => build_with_stand_ins(shared, request, &query).await,
            Err(refused) => answer_after_body(request, refuse(shared, refused)).await,
        },
        Route::NetworkCreate => {
            judged(shared, request, |mut body| async move {
                judge::network_create(shared, &mut body).await.map(|()| body).map_err(Verdict::Refused)
            })
            .await
        }
        Route::Network { id, write } => {
            let predefined = matches!(id.as_str(), "bridge" | "host" | "none");
            match shared.network(&id).await {
                Ownership::Theirs if !predefined || write => {
                    answer_after_body(request, not_theirs(shared, write, "network", &id)).await
                }
                _ => forward(shared, request, None, None).await,
            }
        }
        Route::NetworkConnect { id } => {
            if shared.network(&id).await == Ownership::Theirs {
                return answer_after_body(request, not_theirs(shared, true, "network", &id)).await;
            }
            judged(shared, request, |body| async move {
                let container = body.get("Container").and_then(Value::as_str).unwrap_or_default().to_string();
                if shared.container(&container).await == Ownership::Theirs {
                    return Err(Verdict::Refused(Refused {
                        subject: format!("network `{id}`"),
                        violations: vec![Violation::new(
                            Rule::Ownership,
                            format!("networks: connect {container} (a container this run did not create)"),
                        )],
                    }));
                }
                Ok(body)
            })
            .await
        }
        Route::VolumeCreate => {
            judged(shared, request, |mut body| async move {
                judge::volume_create(shared, &mut body).await.map(|()| body).map_err(Verdict::Refused)
            })
            .await
        }
        Route::Volume { name, write } => match shared.volume(&name).await {
            Ownership::Theirs => answer_after_body(request, not_theirs(shared, write, "volume", &name)).await,
            _ => forward(shared, request, None, None).await,
        },
    }
}

/// Reads a JSON body, lets `judge` check and rewrite it, and forwards the result (or refuses).
async fn judged<F, Fut>(shared: &Shared, request: Request<Incoming>, judge: F) -> Response<Body>
where
    F: FnOnce(Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value, Verdict>>,
{
    let (parts, body) = request.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_JUDGED_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "the request body is unreadable or over 4 MiB"),
    };
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("the request body is not JSON: {e}")),
        }
    };
    match judge(value).await {
        Ok(value) => {
            forward_parts(shared, Request::from_parts(parts, ()), None, Some(Bytes::from(value.to_string()))).await
        }
        Err(Verdict::Refused(refused)) => refuse(shared, refused),
        Err(Verdict::Failed(why)) => error(StatusCode::INTERNAL_SERVER_ERROR, &why),
    }
}

/// Sends a build to the run's build network with the proxy variables that reach the course's
/// mirrors (see [`crate::egress`]); a build asking for no network keeps none. Where the build
/// network cannot be made, the build runs on the default bridge and the report says why. False
/// only where the build's arguments cannot be read.
async fn contain_build(shared: &Shared, query: &mut Vec<(String, String)>) -> bool {
    if judge::query_value(query, "networkmode") == "none" {
        return true;
    }
    let egress = shared
        .egress
        .get_or_init(|| async {
            if !matches!(shared.upstream, Endpoint::Unix(_)) {
                return Err("the engine is on another machine, whose network this grader cannot filter".into());
            }
            crate::egress::start(
                &shared.docker,
                &shared.run,
                &shared.labels,
                shared.build_hosts.clone(),
                shared.incidents.clone(),
            )
            .await
        })
        .await;
    let egress = match egress {
        Ok(egress) => egress,
        Err(why) => {
            shared.note(Incident::adjusted(
                "every build",
                crate::egress::RULE,
                &format!("ran on the engine's default network, not confined to the package mirrors: {why}"),
                "a build is meant to reach only the package mirrors the course names; run the grader as root on the engine's machine for that",
            ));
            return true;
        }
    };
    let raw = judge::query_value(query, "buildargs");
    let Ok(Value::Object(mut args)) = serde_json::from_str::<Value>(if raw.is_empty() { "{}" } else { &raw }) else {
        return false;
    };
    for name in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
        args.insert(name.into(), Value::from(egress.proxy_url.clone()));
    }
    for name in ["no_proxy", "NO_PROXY"] {
        args.remove(name);
    }
    query.retain(|(k, _)| !matches!(k.as_str(), "networkmode" | "buildargs"));
    query.push(("networkmode".into(), egress.network.clone()));
    query.push(("buildargs".into(), Value::Object(args).to_string()));
    true
}

/// A build whose Dockerfile may name official images that only have stand-ins here: the context is
/// read whole, its `FROM` lines pointed at the stand-ins (see [`context`]), and sent on.
async fn build_with_stand_ins(
    shared: &Shared,
    request: Request<Incoming>,
    query: &[(String, String)],
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let bytes = match http_body_util::Limited::new(body, context::MAX_CONTEXT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the build context is unreadable or over 512 MiB: leave what the image does not need out of it (.dockerignore)",
            )
        }
    };
    let body = match context::with_stand_ins(shared, &bytes, &context::dockerfile_name(query)).await {
        Ok(Some((rewritten, _replaced))) => Bytes::from(rewritten),
        Ok(None) => bytes,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let mut parts = parts;
    match with_query(parts.uri.path(), query).parse() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return error(StatusCode::BAD_REQUEST, "cannot rewrite the request's address"),
    }
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(header::CONTENT_LENGTH, body.len().into());
    send(shared, Request::from_parts(parts, full(body)), None).await
}

/// Forwards `request` with a new query (if given) and a new body (if given).
async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
    query: Option<&[(String, String)]>,
    body: Option<Bytes>,
) -> Response<Body> {
    let uri = query.map(|q| with_query(request.uri().path(), q));
    forward_request(shared, request, uri, body).await
}

/// Forwards `request` to another path (an image name rewritten to the run's own).
async fn forward_to(
    shared: &Shared,
    request: Request<Incoming>,
    path: String,
    query: &[(String, String)],
) -> Response<Body> {
    let uri = with_query(&path, query);
    forward_request(shared, request, Some(uri), None).await
}

async fn forward_parts(shared: &Shared, head: Request<()>, uri: Option<String>, body: Option<Bytes>) -> Response<Body> {
    let (mut parts, ()) = head.into_parts();
    if let Some(uri) = uri {
        match uri.parse() {
            Ok(uri) => parts.uri = uri,
            Err(_) => return error(StatusCode::BAD_REQUEST, "cannot rewrite the request's address"),
        }
    }
    let body = body.unwrap_or_default();
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(header::CONTENT_LENGTH, body.len().into());
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    send(shared, Request::from_parts(parts, full(body)), None).await
}

async fn forward_request(
    shared: &Shared,
    mut request: Request<Incoming>,
    uri: Option<String>,
    body: Option<Bytes>,
) -> Response<Body> {
    let upgrade = request.headers().contains_key(header::UPGRADE).then(|| hyper::upgrade::on(&mut request));
    let (mut parts, incoming) = request.into_parts();
    if let Some(uri) = uri {
        match uri.parse() {
            Ok(uri) => parts.uri = uri,
            Err(_) => return error(StatusCode::BAD_REQUEST, "cannot rewrite the request's address"),
        }
    }
    let body = match body {
        Some(bytes) => {
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts.headers.insert(header::CONTENT_LENGTH, bytes.len().into());
            full(bytes)
        }
        None => incoming.boxed(),
    };
    send(shared, Request::from_parts(parts, body), upgrade).await
}

/// Sends one request to the engine on a connection of its own; an upgraded connection (attach,
/// exec) is spliced to the client's both ways.
async fn send(shared: &Shared, request: Request<Body>, upgrade: Option<hyper::upgrade::OnUpgrade>) -> Response<Body> {
    let stream = match shared.upstream.connect().await {
        Ok(stream) => stream,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("the grader cannot reach the Docker engine: {e}")),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("the Docker engine did not answer: {e}")),
        };
    tokio::spawn(connection.with_upgrades());
    let mut response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("the Docker engine did not answer: {e}")),
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = upgrade {
            let engine = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                if let (Ok(client), Ok(engine)) = tokio::join!(client, engine) {
                    let mut client = hyper_util::rt::TokioIo::new(client);
                    let mut engine = hyper_util::rt::TokioIo::new(engine);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, empty());
    }
    response.map(BodyExt::boxed)
}

/// Answers without forwarding, once the request's body is read: a client still writing a body
/// the proxy will not forward would otherwise meet a closed connection (a broken pipe) instead of
/// the answer. Reading stops at the largest body the proxy would have read to judge it.
async fn answer_after_body(request: Request<Incoming>, response: Response<Body>) -> Response<Body> {
    let limit = if request.uri().path().ends_with("/build") { context::MAX_CONTEXT } else { MAX_JUDGED_BODY };
    let _ = http_body_util::Limited::new(request.into_body(), limit).collect().await;
    response
}

/// Records a refusal and answers as the engine answers errors, so clients print the reason.
fn refuse(shared: &Shared, refused: Refused) -> Response<Body> {
    let mut incidents = shared.incidents.lock().expect("incidents lock");
    let mut reasons = Vec::new();
    for violation in &refused.violations {
        let incident = Incident::refused(&refused.subject, violation);
        reasons.push(format!("{} ({})", violation, violation.rule.explanation()));
        if !incidents.contains(&incident) {
            incidents.push(incident);
        }
    }
    drop(incidents);
    error(
        StatusCode::FORBIDDEN,
        &format!("refused by the grader's sandbox: {} asks for {}", refused.subject, reasons.join("; ")),
    )
}

/// Someone else's object: invisible to reads (404, as if it did not exist), refused for writes.
fn not_theirs(shared: &Shared, write: bool, kind: &str, id: &str) -> Response<Body> {
    if !write {
        return error(StatusCode::NOT_FOUND, &format!("No such {kind}: {id}"));
    }
    refuse(
        shared,
        Refused {
            subject: "the submission".into(),
            violations: vec![Violation::new(Rule::Ownership, format!("{kind} {id} (which this run did not create)"))],
        },
    )
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never: Infallible| match never {}).boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never: Infallible| match never {}).boxed()
}

/// Adds `org.containerlabs.run=<id>` to a list's `filters` (either shape the API accepts: a list
/// of values, or the older map of value to `true`), so a submission lists only its own objects.
fn add_run_filter(query: &mut Vec<(String, String)>, run: &RunId) {
    let selector = run.selector();
    let mut filters: serde_json::Map<String, Value> = query
        .iter()
        .find(|(k, _)| k == "filters")
        .and_then(|(_, v)| serde_json::from_str(v).ok())
        .and_then(|v: Value| v.as_object().cloned())
        .unwrap_or_default();
    let map_shaped = filters.values().any(Value::is_object);
    match filters.get_mut("label") {
        Some(Value::Array(values)) => values.push(Value::from(selector)),
        Some(Value::Object(values)) => {
            values.insert(selector, Value::Bool(true));
        }
        // A new key takes the shape of the others: the engine reads the whole of `filters` in one
        // shape, and a list beside a map fails ("cannot unmarshal array into ... map[string]bool";
        // Compose v2 filters by name in the map shape).
        _ if map_shaped => {
            filters.insert("label".into(), serde_json::json!({ selector: true }));
        }
        _ => {
            filters.insert("label".into(), serde_json::json!([selector]));
        }
    }
    query.retain(|(k, _)| k != "filters");
    query.push(("filters".into(), Value::Object(filters).to_string()));
}

fn with_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let encoded: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
    format!("{path}?{encoded}")
}

/// `/v1.41` of `/v1.41/images/x/json`, or nothing.
fn version_prefix(raw_path: &str) -> &str {
    let rest = route::without_version(raw_path);
    &raw_path[..raw_path.len() - rest.len()]
}

/// `/json` or `/history` at the end of an image path.
fn image_suffix(path: &str) -> &'static str {
    if path.ends_with("/history") {
        "/history"
    } else {
        "/json"
    }
}

fn percent_decode(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_filters_gain_the_run_label_in_both_shapes() {
        let run = RunId::parse("0123456789ab").unwrap();
        let mut list = vec![("filters".to_string(), r#"{"label":["com.docker.compose.project=p"]}"#.to_string())];
        add_run_filter(&mut list, &run);
        let filters: Value = serde_json::from_str(&list[0].1).unwrap();
        assert_eq!(
            filters["label"],
            serde_json::json!(["com.docker.compose.project=p", "org.containerlabs.run=0123456789ab"])
        );
        let mut map = vec![
            ("all".to_string(), "1".to_string()),
            ("filters".to_string(), r#"{"label":{"a=b":true}}"#.to_string()),
        ];
        add_run_filter(&mut map, &run);
        let filters: Value = serde_json::from_str(&map[1].1).unwrap();
        assert_eq!(filters["label"], serde_json::json!({"a=b": true, "org.containerlabs.run=0123456789ab": true}));
        // No label yet: it takes the shape the other filters have.
        let mut by_name = vec![("filters".to_string(), r#"{"name":{"^p-db-1$":true}}"#.to_string())];
        add_run_filter(&mut by_name, &run);
        let filters: Value = serde_json::from_str(&by_name[0].1).unwrap();
        assert_eq!(filters["label"], serde_json::json!({"org.containerlabs.run=0123456789ab": true}));
        let mut listed = vec![("filters".to_string(), r#"{"name":["p-db-1"]}"#.to_string())];
        add_run_filter(&mut listed, &run);
        let filters: Value = serde_json::from_str(&listed[0].1).unwrap();
        assert_eq!(filters["label"], serde_json::json!(["org.containerlabs.run=0123456789ab"]));
        let mut none = vec![];
        add_run_filter(&mut none, &run);
        assert_eq!(none[0].1, r#"{"label":["org.containerlabs.run=0123456789ab"]}"#);
        assert_eq!(version_prefix("/v1.41/images/x/json"), "/v1.41");
        assert_eq!(version_prefix("/images/x/json"), "");
        assert_eq!(percent_decode("/images/a%2Fb:1/json"), "/images/a/b:1/json");
    }
}
