//! The message board's API, through its router (no sockets), and its binary's start-up errors.

use app_port::store::Store;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn app(dir: &tempfile::TempDir) -> axum::Router {
    let store = Store::open(&dir.path().join("messages.jsonl")).unwrap();
    app_port::router(Arc::new(Mutex::new(store)))
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

async fn post(app: &axum::Router, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    call(app, "POST", "/api/messages", "application/json", &body.to_string()).await
}

#[tokio::test]
async fn info_answers_like_rocket_chat() {
    let dir = tempfile::tempdir().unwrap();
    let (status, body) = call(&app(&dir), "GET", "/api/info", "", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({ "success": true, "version": app_port::VERSION }));
}

#[tokio::test]
async fn messages_are_validated_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let long = "x".repeat(app_port::MAX_TEXT + 1);
    let long_author = "a".repeat(app_port::MAX_AUTHOR + 1);
    let cases = [
        (serde_json::json!({ "author": "ann", "text": "" }), "text must not be empty"),
        (serde_json::json!({ "author": "ann", "text": "  \n " }), "text must not be empty"),
        (serde_json::json!({ "author": "ann" }), "text must not be empty"),
        (serde_json::json!({ "author": " ", "text": "hi" }), "author must not be empty"),
        (serde_json::json!({ "author": "ann", "text": long }), "text is longer than 500 characters"),
        (serde_json::json!({ "author": long_author, "text": "hi" }), "author is longer than 40 characters"),
        (serde_json::json!({ "author": "a\u{7}b", "text": "hi" }), "author must not contain control characters"),
    ];
    for (body, reason) in cases {
        let (status, answer) = post(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer, serde_json::json!({ "success": false, "error": reason }), "{body}");
    }
    let (status, answer) = call(&app, "POST", "/api/messages", "application/json", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("the body is not valid JSON"));
    let (status, _) = call(&app, "POST", "/api/messages", "text/plain", "hi").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let huge = format!("{{\"author\":\"a\",\"text\":\"{}\"}}", "x".repeat(app_port::MAX_BODY));
    let (status, answer) = call(&app, "POST", "/api/messages", "application/json", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["success"], false);
}

#[tokio::test]
async fn posted_messages_are_listed_and_kept_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let (status, answer) = post(&app, serde_json::json!({ "author": " ann ", "text": "hello" })).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((answer["message"]["author"].as_str(), answer["message"]["id"].as_u64()), (Some("ann"), Some(1)));
    let (status, _) =
        call(&app, "POST", "/api/messages", "application/x-www-form-urlencoded", "author=bob&text=hi+there%21").await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = call(&app, "GET", "/api/messages", "", "").await;
    let texts: Vec<&str> = list["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello", "hi there!"], "oldest first");
    let (_, newest) = call(&app, "GET", "/api/messages?limit=1", "", "").await;
    assert_eq!(newest["messages"][0]["text"], "hi there!");
    // A new app over the same file: what a restart sees.
    let (_, again) = call(&self::app(&dir), "GET", "/api/messages", "", "").await;
    assert_eq!(again["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let (status, body) = call(&app(&dir), "GET", "/api/nope", "", "").await;
    assert_eq!((status, body["success"].as_bool()), (StatusCode::NOT_FOUND, Some(false)));
}

#[test]
fn an_unusable_data_file_is_one_line_and_exit_2() {
    let output = assert_cmd::cargo::cargo_bin_cmd!("app-port")
        .args(["--data", "/proc/no/such/file", "--port", "0"])
        .output()
        .unwrap();
    testkit::assert_one_line_exit_2(&output, "cannot open the data file '/proc/no/such/file'");
}

#[test]
fn a_busy_port_is_one_line_and_exit_2() {
    if !testkit::integration("a_busy_port_is_one_line_and_exit_2") {
        return;
    }
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let output = assert_cmd::cargo::cargo_bin_cmd!("app-port")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--data"])
        .arg(dir.path().join("m.jsonl"))
        .output()
        .unwrap();
    testkit::assert_one_line_exit_2(&output, &format!("port {port} is already in use"));
}

#[tokio::test]
async fn request_view_shows_what_a_proxy_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let direct = Request::builder().uri("/api/request").header("host", "127.0.0.1:3000").body(Body::empty()).unwrap();
    let response = app(&dir).oneshot(direct).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["host"], "127.0.0.1:3000");
    assert_eq!(body["forwarded_proto"], serde_json::Value::Null);

    let proxied = Request::builder()
        .uri("/api/request")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "203.0.113.7, 127.0.0.1")
        .header("x-real-ip", "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let response = app(&dir).oneshot(proxied).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["forwarded_proto"], "https");
    assert_eq!(body["forwarded_for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(body["real_ip"], "127.0.0.1");
}
