//! `bad-lab1`: a lab 1 site and app in one process, correct except for one chosen `--fault`.
//!
//! Test-only: with `--fault traversal` it really reads files outside its root. Never run it
//! anywhere but on loopback in tests.

use bytes::Bytes;
use clap::Parser;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    fault: String,
    #[arg(long)]
    site_port: u16,
    #[arg(long)]
    app_port: u16,
    /// Directory with index.html and style.css (a temporary one is made when absent).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Messages file (the app keeps messages here unless the fault is `forgets`).
    #[arg(long)]
    data: Option<PathBuf>,
}

const INDEX: &str =
    "<!doctype html><html><head><title>Fixture portfolio</title></head><body><h1>Fixture</h1></body></html>\n";
const NO_TITLE: &str = "<!doctype html><html><head></head><body><h1>No title here</h1></body></html>\n";
const NOT_FOUND: &str = "<!doctype html><title>Not found</title><h1>Not found</h1>\n";
const APP_PAGE: &str = "<!doctype html><title>Message board</title><h1>Message board</h1>\n";

struct App {
    fault: String,
    root: PathBuf,
    data: Option<PathBuf>,
    messages: Mutex<Vec<String>>,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("response")
}

impl App {
    fn site(&self, path: &str) -> Answer {
        let f = self.fault.as_str();
        match path {
            "/" | "/index.html" => {
                let (ct, body) = match f {
                    "no-title" => ("text/html", NO_TITLE),
                    "html-as-text" => ("text/plain", INDEX),
                    _ => ("text/html; charset=utf-8", INDEX),
                };
                answer(StatusCode::OK, ct, body)
            }
            "/style.css" => {
                answer(StatusCode::OK, if f == "css-as-text" { "text/plain" } else { "text/css" }, "body{}\n")
            }
            _ => {
                if f == "traversal" && path.contains("..") {
                    return self.read_raw(path);
                }
                if f == "encoded-traversal" && path.contains('%') {
                    let decoded = percent_decode(path);
                    return self.read_raw(&decoded);
                }
                if path.contains("..") || path.contains('%') {
                    return answer(StatusCode::BAD_REQUEST, "text/plain", "bad path\n");
                }
                if f == "soft-404" {
                    return answer(StatusCode::OK, "text/html", INDEX);
                }
                answer(StatusCode::NOT_FOUND, "text/html", NOT_FOUND)
            }
        }
    }

    /// The deliberate bug: joins the raw path onto the root without normalising it.
    fn read_raw(&self, path: &str) -> Answer {
        let joined = format!("{}{}", self.root.display(), path);
        match std::fs::read(Path::new(&joined)) {
            Ok(bytes) => answer(StatusCode::OK, "text/plain", bytes),
            Err(_) => answer(StatusCode::NOT_FOUND, "text/html", NOT_FOUND),
        }
    }

    fn app(&self, method: &Method, path: &str, body: &[u8]) -> Answer {
        let f = self.fault.as_str();
        let json = "application/json";
        match (method, path.split('?').next().unwrap_or("")) {
            (&Method::GET, "/") => answer(StatusCode::OK, "text/html", APP_PAGE),
            (&Method::GET, "/api/info") => {
                let body = if f == "info-without-version" {
                    r#"{"success":true}"#
                } else {
                    r#"{"success":true,"version":"0.0.1"}"#
                };
                answer(StatusCode::OK, json, body)
            }
            (&Method::GET, "/api/messages") => {
                let messages = self.messages.lock().expect("lock");
                let list: Vec<serde_json::Value> = messages.iter().map(|t| serde_json::json!({ "text": t })).collect();
                answer(StatusCode::OK, json, serde_json::json!({ "success": true, "messages": list }).to_string())
            }
            (&Method::POST, "/api/messages") => {
                let text = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
                    .unwrap_or_default();
                let empty = text.trim().is_empty();
                let oversized = text.chars().count() > 500;
                if (empty && f != "accepts-empty") || (oversized && f != "accepts-oversized") {
                    return answer(StatusCode::BAD_REQUEST, json, r#"{"success":false,"error":"invalid text"}"#);
                }
                if f == "post-broken" {
                    // Validation passed; storage is what is broken.
                    return answer(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json,
                        r#"{"success":false,"error":"database on fire"}"#,
                    );
                }
                self.messages.lock().expect("lock").push(text.clone());
                if f != "forgets" {
                    if let Some(data) = &self.data {
                        use std::io::Write;
                        let mut file =
                            std::fs::OpenOptions::new().create(true).append(true).open(data).expect("data file");
                        writeln!(file, "{}", serde_json::Value::String(text.clone())).expect("write data");
                    }
                }
                answer(
                    StatusCode::CREATED,
                    json,
                    serde_json::json!({ "success": true, "message": { "author": "x", "text": text } }).to_string(),
                )
            }
            _ => answer(StatusCode::NOT_FOUND, json, r#"{"success":false,"error":"not found"}"#),
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn listen(port: u16, app: Arc<App>, is_site: bool) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind fixture port");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let method = request.method().clone();
                    let path = request.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let response = if is_site { app.site(&path) } else { app.app(&method, &path, &body) };
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    assert!(testkit::FAULTS.contains(&args.fault.as_str()), "unknown fault {}", args.fault);
    let root = args.root.unwrap_or_else(std::env::temp_dir);
    let mut messages = Vec::new();
    if args.fault != "forgets" {
        if let Some(text) = args.data.as_ref().and_then(|d| std::fs::read_to_string(d).ok()) {
            messages.extend(text.lines().filter_map(|l| serde_json::from_str::<String>(l).ok()));
        }
    }
    let app = Arc::new(App { fault: args.fault.clone(), root, data: args.data, messages: Mutex::new(messages) });
    let mut tasks = Vec::new();
    if args.fault != "no-site" {
        tasks.push(tokio::spawn(listen(args.site_port, app.clone(), true)));
    }
    if args.fault != "no-app" {
        tasks.push(tokio::spawn(listen(args.app_port, app.clone(), false)));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
