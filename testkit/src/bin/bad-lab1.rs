//! `bad-lab1`: a lab 1 site and app in one process, correct except for one chosen `--fault`.
//!
//! Test-only: with `--fault traversal` it really reads files outside its root. Never run it
//! anywhere but on loopback in tests.

use bytes::Bytes;
use clap::Parser;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
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
const NOT_FOUND: &str = "<!doctype html><title>Not found</title><h1>Not found</h1><p><a href=\"/\">Home</a></p>\n";
/// A server's built-in 404 page: no way back to the site.
const BARE_NOT_FOUND: &str = "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>\n";
const APP_PAGE: &str = "<!doctype html><title>Message board</title><h1>Message board</h1>\n";

struct App {
    fault: String,
    root: PathBuf,
    data: Option<PathBuf>,
    messages: Mutex<Vec<String>>,
}

use testkit::Answer;

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
                let mut response =
                    answer(StatusCode::OK, if f == "css-as-text" { "text/plain" } else { "text/css" }, "body{}\n");
                if f != "no-cache-control" {
                    let kept = http::HeaderValue::from_static("max-age=86400");
                    response.headers_mut().insert("cache-control", kept);
                }
                response
            }
            _ => {
                if f == "traversal" && path.contains("..") {
                    return self.read_raw(path);
                }
                if f == "encoded-traversal" && path.contains('%') {
                    let decoded = testkit::percent_decode(path);
                    return self.read_raw(&decoded);
                }
                if path.contains("..") || path.contains('%') {
                    return answer(StatusCode::BAD_REQUEST, "text/plain", "bad path\n");
                }
                if f == "soft-404" {
                    return answer(StatusCode::OK, "text/html", INDEX);
                }
                answer(StatusCode::NOT_FOUND, "text/html", if f == "bare-404" { BARE_NOT_FOUND } else { NOT_FOUND })
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
    // Both bound before either serves, then said (port 0: the kernel's choice, bound at once):
    // `fixture ports: site=S app=A`, a port the fault leaves unserved as it was given.
    let site = if args.fault == "no-site" { None } else { Some(testkit::listen(args.site_port).await) };
    let board = if args.fault == "no-app" { None } else { Some(testkit::listen(args.app_port).await) };
    let port = |listener: &Option<tokio::net::TcpListener>, given: u16| {
        listener.as_ref().map_or(given, |l| l.local_addr().expect("bound").port())
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "{} site={} app={}",
            testkit::PORTS_LINE,
            port(&site, args.site_port),
            port(&board, args.app_port)
        );
        let _ = out.flush();
    }
    let mut tasks = Vec::new();
    if let Some(listener) = site {
        let app = app.clone();
        tasks.push(tokio::spawn(testkit::serve_on(listener, move |_, path, _| app.site(path))));
    }
    if let Some(listener) = board {
        let app = app.clone();
        tasks.push(tokio::spawn(testkit::serve_on(listener, move |method, path, body| app.app(method, path, body))));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
