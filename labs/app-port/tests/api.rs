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
fn a_configuration_on_the_wrong_port_or_unreadable_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("board.env");
    std::fs::write(&config, "# as packaged\nPORT=80\n").unwrap();
    let output = assert_cmd::cargo::cargo_bin_cmd!("app-port")
        .arg("--config")
        .arg(&config)
        .args(["--require-port", "3000"])
        .env_remove("PORT")
        .env_remove("DATA_FILE")
        .output()
        .unwrap();
    testkit::assert_one_line_exit_2(&output, "board.env sets PORT=80, but the board must run on port 3000");
    std::fs::write(&config, "PORT=3000\nMONGO_URL=mongodb://db\n").unwrap();
    let output =
        assert_cmd::cargo::cargo_bin_cmd!("app-port").arg("--config").arg(&config).env_remove("PORT").output().unwrap();
    testkit::assert_one_line_exit_2(&output, "board.env: line 2: unknown setting MONGO_URL");
}

/// The configuration decides where messages live: its DATA_FILE (moved into the grader's folder
/// with --data-dir), or memory only when it names none.
#[tokio::test]
async fn the_configuration_names_the_data_file_or_leaves_messages_in_memory() {
    if !testkit::integration("the_configuration_names_the_data_file_or_leaves_messages_in_memory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("board.env");
    let scratch = dir.path().join("scratch");
    for (text, kept) in [("PORT={port}\nDATA_FILE=/var/lib/board/messages.jsonl\n", true), ("PORT={port}\n", false)] {
        let port = testkit::free_port();
        std::fs::write(&config, text.replace("{port}", &port.to_string())).unwrap();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("app-port"))
            .arg("--config")
            .arg(&config)
            .args(["--bind", "127.0.0.1", "--require-port", &port.to_string(), "--data-dir"])
            .arg(&scratch)
            .env_remove("PORT")
            .env_remove("DATA_FILE")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let _app = testkit::Process(child);
        testkit::wait_for_port(port);
        let posted = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/messages"))
            .json(&serde_json::json!({"author": "a", "text": "kept?"}))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 201);
        let file = scratch.join("messages.jsonl");
        assert_eq!(file.exists(), kept, "{text}");
        if kept {
            assert!(std::fs::read_to_string(&file).unwrap().contains("kept?"));
            std::fs::remove_file(&file).unwrap();
        }
    }
    assert!(!std::path::Path::new("/var/lib/board/messages.jsonl").exists(), "never the configured path itself");
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

/// Serves `app` on a loopback port until the test ends; returns the port.
async fn serve(app: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// The next text frame on `socket`, as JSON (fails after 5 s).
async fn next_frame<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> serde_json::Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("the socket stays open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn new_messages_reach_open_pages_over_a_websocket_and_refused_ones_do_not() {
    if !testkit::integration("new_messages_reach_open_pages_over_a_websocket_and_refused_ones_do_not") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir);
    let port = serve(app.clone()).await;
    let url = format!("ws://127.0.0.1:{port}/api/live");
    let (mut first, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    let (mut second, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    // Refused, then accepted: only the accepted message goes out, to every open page.
    let (status, _) = post(&app, serde_json::json!({ "author": "", "text": "no author" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(&app, serde_json::json!({ "author": "ada", "text": "live!" })).await;
    assert_eq!(status, StatusCode::CREATED);
    for socket in [&mut first, &mut second] {
        let frame = next_frame(socket).await;
        assert_eq!(frame["message"]["author"], "ada", "{frame}");
        assert_eq!(frame["message"]["text"], "live!", "{frame}");
        assert_eq!(frame["message"]["id"], 1, "{frame}");
    }
    // A plain GET is not an upgrade.
    let (status, _) = call(&app, "GET", "/api/live", "text/plain", "").await;
    assert!(status.is_client_error(), "{status}");
}

#[test]
fn the_page_uses_the_live_socket_with_polling_as_fallback() {
    let page = include_str!("../src/page.html");
    assert!(page.contains("new URL('api/live', location.href)"), "relative, so it works under a proxy prefix");
    assert!(page.contains("setInterval(refresh, 2000)"), "polling fallback");
}
