//! `bad-portfolio`: the lab 2 portfolio app's HTTP API, in memory, correct except for one chosen
//! `--fault` (see [`testkit::PORTFOLIO_FAULTS`]). Test-only; listens on loopback.

use bytes::Bytes;
use clap::Parser;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::sync::{Arc, Mutex};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    fault: String,
    #[arg(long)]
    port: u16,
}

const TIMELINE: &str =
    "<!doctype html><html><head><title>Timeline</title></head><body><h1>Timeline</h1></body></html>\n";

struct App {
    fault: String,
    posts: Mutex<Vec<serde_json::Value>>,
}

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .expect("response")
}

/// The urlencoded form's value for `key` (`+` and `%XX` decoded).
fn field(form: &str, key: &str) -> String {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| decode(&v.replace('+', " ")))
        .unwrap_or_default()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(byte) =
                std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl App {
    fn handle(&self, method: &Method, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let fault = self.fault.as_str();
        match (method, path) {
            (&Method::GET, "/timeline") if fault != "no-timeline-page" => {
                answer(StatusCode::OK, "text/html; charset=utf-8", TIMELINE)
            }
            (&Method::GET, "/api/timeline_post") => {
                let posts: Vec<_> = self.posts.lock().expect("posts").iter().rev().cloned().collect();
                answer(StatusCode::OK, "application/json", serde_json::json!({ "timeline_posts": posts }).to_string())
            }
            (&Method::POST, "/api/timeline_post") => {
                let form = String::from_utf8_lossy(body);
                let (name, email, content) = (field(&form, "name"), field(&form, "email"), field(&form, "content"));
                if fault != "no-validation" && !email.contains('@') {
                    return answer(StatusCode::BAD_REQUEST, "text/plain", "Invalid email");
                }
                if fault == "post-broken" {
                    return answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "The database is not available right now.\n",
                    );
                }
                let mut posts = self.posts.lock().expect("posts");
                let post = serde_json::json!({
                    "id": posts.len() + 1, "name": name, "email": email, "content": content,
                    "created_at": "2026-01-01T00:00:00"
                });
                posts.push(post.clone());
                answer(StatusCode::OK, "application/json", post.to_string())
            }
            _ => answer(StatusCode::NOT_FOUND, "text/html", "<!doctype html><title>Not found</title>\n"),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    assert!(testkit::PORTFOLIO_FAULTS.contains(&args.fault.as_str()), "unknown fault {}", args.fault);
    let app = Arc::new(App { fault: args.fault, posts: Mutex::new(Vec::new()) });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await.expect("bind fixture port");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let method = request.method().clone();
                    let path = request.uri().path().to_string();
                    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(app.handle(&method, &path, &body))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
