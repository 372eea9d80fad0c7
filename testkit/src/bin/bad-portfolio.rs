//! `bad-portfolio`: the lab 2 portfolio app's HTTP API, in memory, correct except for one chosen
//! `--fault` (see [`testkit::PORTFOLIO_FAULTS`]). Test-only; listens on loopback.

use bytes::Bytes;
use clap::Parser;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use std::sync::{Arc, Mutex};
use testkit::Answer;

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

fn answer(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Answer {
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
        .map(|(_, v)| testkit::percent_decode(&v.replace('+', " ")))
        .unwrap_or_default()
}

impl App {
    fn handle(&self, method: &Method, path: &str, body: &[u8]) -> Answer {
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
    testkit::serve(args.port, move |method, path, body| {
        let path = path.split('?').next().unwrap_or_default();
        app.handle(method, path, body)
    })
    .await;
}
