//! Lab 1 reference: a message board on a non-standard port, in the spirit of Rocket.Chat.
//!
//! The seed course moved Rocket.Chat to port 3000 because nginx held port 80; this app plays that
//! part: a chat page, a small JSON API (`/api/info` answers like Rocket.Chat's), input validation
//! with reasons, and messages kept in a file so they survive a restart. New messages reach open
//! pages at once over a WebSocket (`/api/live`); pages fall back to polling when it is not there.

pub mod config;
pub mod store;

use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};
use store::{Message, Store};
use tokio::sync::broadcast;

/// The app's version, as `/api/info` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Longest author name, in characters.
pub const MAX_AUTHOR: usize = 40;
/// Longest message, in characters.
pub const MAX_TEXT: usize = 500;
/// Largest request body accepted.
pub const MAX_BODY: usize = 16 * 1024;
/// Most messages one listing returns.
pub const MAX_LIMIT: usize = 500;

const PAGE: &str = include_str!("page.html");

pub type SharedStore = Arc<Mutex<Store>>;

/// What the handlers share: the store, and the channel new messages go out on to live pages.
#[derive(Clone)]
struct AppState {
    store: SharedStore,
    live: broadcast::Sender<Message>,
}

impl FromRef<AppState> for SharedStore {
    fn from_ref(state: &AppState) -> SharedStore {
        state.store.clone()
    }
}

/// The app's routes over a store.
pub fn router(store: SharedStore) -> Router {
    // A page that falls this far behind misses messages and reloads the list instead.
    let (live, _) = broadcast::channel(256);
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/info", get(info))
        .route("/api/request", get(request_view))
        .route("/api/messages", get(list_messages).post(post_message))
        .route("/api/live", get(live_messages))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(AppState { store, live })
}

/// `GET /api/live` (WebSocket): every new message as it is saved, one JSON text frame each
/// (`{"message": {...}}`), or `{"reload": true}` when this page fell behind and should list again.
async fn live_messages(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let receiver = state.live.subscribe();
    upgrade.on_upgrade(move |socket| relay(socket, receiver))
}

async fn relay(mut socket: WebSocket, mut receiver: broadcast::Receiver<Message>) {
    loop {
        let frame = tokio::select! {
            received = receiver.recv() => match received {
                Ok(message) => json!({ "message": message }),
                Err(broadcast::error::RecvError::Lagged(_)) => json!({ "reload": true }),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            // The page says nothing; anything but a ping (or pong) from it ends the stream.
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                _ => return,
            },
        };
        if socket.send(WsMessage::Text(frame.to_string().into())).await.is_err() {
            return;
        }
    }
}

async fn info() -> Json<serde_json::Value> {
    Json(json!({ "success": true, "version": VERSION }))
}

/// How this request reached the app: what a reverse proxy in front of it says about the client.
/// A proxy that sets no forwarding headers shows up here as nulls.
async fn request_view(headers: HeaderMap) -> Json<serde_json::Value> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    Json(json!({
        "success": true,
        "host": get("host"),
        "forwarded_proto": get("x-forwarded-proto"),
        "forwarded_for": get("x-forwarded-for"),
        "forwarded_host": get("x-forwarded-host"),
        "real_ip": get("x-real-ip"),
    }))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list_messages(State(store): State<SharedStore>, Query(query): Query<ListQuery>) -> Json<serde_json::Value> {
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let store = store.lock().expect("store lock");
    Json(json!({ "success": true, "messages": store.recent(limit) }))
}

#[derive(Debug, Deserialize)]
struct NewMessage {
    #[serde(default)]
    author: String,
    #[serde(default)]
    text: String,
}

async fn post_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, &format!("the request body is larger than {MAX_BODY} bytes"))
        }
        Err(rejection) => return error(rejection.status(), &rejection.body_text()),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let parsed: Result<NewMessage, String> = if content_type.starts_with("application/json") {
        serde_json::from_slice(&body).map_err(|e| format!("the body is not valid JSON: {e}"))
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Ok(parse_form(&body))
    } else {
        Err("send JSON ({\"author\": ..., \"text\": ...}) or a form".to_string())
    };
    let message = match parsed.and_then(validate) {
        Ok(message) => message,
        Err(reason) => return error(StatusCode::BAD_REQUEST, &reason),
    };
    let saved = state.store.lock().expect("store lock").add(message.author, message.text);
    match saved {
        Ok(saved) => {
            // No open page is not an error.
            let _ = state.live.send(saved.clone());
            (StatusCode::CREATED, Json(json!({ "success": true, "message": saved }))).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("could not save the message: {e}")),
    }
}

/// Reads `author` and `text` from an urlencoded form (other fields are ignored).
fn parse_form(body: &[u8]) -> NewMessage {
    let mut message = NewMessage { author: String::new(), text: String::new() };
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "author" => message.author = value.into_owned(),
            "text" => message.text = value.into_owned(),
            _ => {}
        }
    }
    message
}

/// Trims and checks a new message; the error says what to fix.
fn validate(message: NewMessage) -> Result<NewMessage, String> {
    let author = message.author.trim().to_string();
    let text = message.text.trim().to_string();
    if author.is_empty() {
        return Err("author must not be empty".into());
    }
    if author.chars().count() > MAX_AUTHOR {
        return Err(format!("author is longer than {MAX_AUTHOR} characters"));
    }
    if author.chars().any(char::is_control) {
        return Err("author must not contain control characters".into());
    }
    if text.is_empty() {
        return Err("text must not be empty".into());
    }
    if text.chars().count() > MAX_TEXT {
        return Err(format!("text is longer than {MAX_TEXT} characters"));
    }
    Ok(NewMessage { author, text })
}

fn error(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({ "success": false, "error": reason }))).into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        error(StatusCode::NOT_FOUND, "no such API endpoint")
    } else {
        (StatusCode::NOT_FOUND, Html("<!doctype html><title>Not found</title><h1>Not found</h1>")).into_response()
    }
}

/// Why the app could not start; each says what to do.
pub fn bind_error(addr: std::net::SocketAddr, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {} is already in use on {}; stop what holds it (see `ss -ltnp 'sport = :{}'`) or pass --port / PORT",
            addr.port(),
            addr.ip(),
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "not allowed to listen on port {} (ports below 1024 need root); the app belongs on 3000",
            addr.port()
        ),
        _ => format!("cannot listen on {addr}: {error}"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
