//! The portfolio app: the seed course's Flask app, kept API-compatible, on MariaDB.
//!
//! - `GET /` and `GET /timeline`: pages (the timeline page posts with a form and lists posts).
//! - `POST /api/timeline_post` (form fields `name`, `email`, `content`): the created post as JSON, or
//!   400 with `Invalid name`, `Invalid email` (must contain @) or `Invalid content`.
//! - `GET /api/timeline_post`: `{"timeline_posts": [...]}`, newest first.
//! - `DELETE /api/timeline_post/<id>`: the deleted post's id, or 404.
//!
//! Configured like the original: `MYSQL_HOST`, `MYSQL_USER`, `MYSQL_PASSWORD`, `MYSQL_DATABASE`.
//! It waits for the database with backoff instead of crashing while MariaDB initialises.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::Row;
use std::time::Duration;

/// Where the database is, from the environment the seed course used.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

impl DbConfig {
    pub fn from_env() -> Result<DbConfig, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                format!("{name} is not set (the app reads MYSQL_HOST, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE)")
            })
        };
        let host_value = std::env::var("MYSQL_HOST").unwrap_or_else(|_| "localhost".into());
        let (host, port) = match host_value.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().expect("checked")),
            _ => (host_value, 3306),
        };
        Ok(DbConfig {
            host,
            port,
            user: var("MYSQL_USER")?,
            password: var("MYSQL_PASSWORD")?,
            database: var("MYSQL_DATABASE")?,
        })
    }
}

/// Connects, retrying with exponential backoff (0.5 s doubling to 8 s) until `patience` runs out.
pub async fn connect_with_backoff(config: &DbConfig, patience: Duration) -> Result<MySqlPool, String> {
    let options = MySqlConnectOptions::new()
        .host(&config.host)
        .port(config.port)
        .username(&config.user)
        .password(&config.password)
        .database(&config.database);
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match MySqlPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
        {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() + delay < deadline => {
                eprintln!(
                    "portfolio: waiting for the database at {}:{} (attempt {attempt}): {e}",
                    config.host, config.port
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            Err(e) => {
                return Err(format!(
                    "the database at {}:{} did not answer in {} s: {e}",
                    config.host,
                    config.port,
                    patience.as_secs()
                ))
            }
        }
    }
}

/// Creates the table if it is not there (the Flask app's peewee model, in SQL).
pub async fn migrate(pool: &MySqlPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS timeline_post (
            id INT AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            email VARCHAR(255) NOT NULL,
            content TEXT NOT NULL,
            created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
        )",
    )
    .execute(pool)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelinePost {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub content: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
struct NewPost {
    name: Option<String>,
    email: Option<String>,
    content: Option<String>,
}

/// The timeline's cache: Redis, read cache-aside (see [`list_posts`]).
#[derive(Clone)]
pub struct Cache {
    redis: redis::aio::ConnectionManager,
    ttl_seconds: u64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("ttl_seconds", &self.ttl_seconds).finish_non_exhaustive()
    }
}

/// The one cache key: the whole timeline listing, as served.
pub const TIMELINE_KEY: &str = "portfolio:timeline";

impl Cache {
    /// Connects to Redis at `host:port` (the manager reconnects by itself after an outage).
    pub async fn connect(host: &str, port: u16, ttl_seconds: u64) -> Result<Cache, String> {
        let client = redis::Client::open(format!("redis://{host}:{port}/"))
            .map_err(|e| format!("REDIS_HOST {host}:{port} is not a Redis address: {e}"))?;
        let redis =
            client.get_connection_manager().await.map_err(|e| format!("cannot reach Redis at {host}:{port}: {e}"))?;
        Ok(Cache { redis, ttl_seconds })
    }

    /// From `REDIS_HOST` (and `REDIS_PORT`, 6379; `CACHE_TTL_SECONDS`, 60): none without REDIS_HOST.
    pub async fn from_env() -> Result<Option<Cache>, String> {
        let Some(host) = std::env::var("REDIS_HOST").ok().filter(|h| !h.is_empty()) else { return Ok(None) };
        let port = std::env::var("REDIS_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(6379);
        let ttl = std::env::var("CACHE_TTL_SECONDS").ok().and_then(|t| t.parse().ok()).unwrap_or(60);
        Cache::connect(&host, port, ttl).await.map(Some)
    }

    async fn get(&self) -> Option<String> {
        let mut redis = self.redis.clone();
        redis::AsyncCommands::get::<_, Option<String>>(&mut redis, TIMELINE_KEY).await.unwrap_or_else(|e| {
            eprintln!("portfolio: cache read failed, reading the database: {e}");
            None
        })
    }

    async fn put(&self, body: &str) {
        let mut redis = self.redis.clone();
        if let Err(e) = redis::AsyncCommands::set_ex::<_, _, ()>(&mut redis, TIMELINE_KEY, body, self.ttl_seconds).await
        {
            eprintln!("portfolio: cache write failed: {e}");
        }
    }

    async fn invalidate(&self) {
        let mut redis = self.redis.clone();
        if let Err(e) = redis::AsyncCommands::del::<_, ()>(&mut redis, TIMELINE_KEY).await {
            eprintln!("portfolio: cache invalidation failed: {e}");
        }
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: MySqlPool,
    pub cache: Option<Cache>,
}

pub fn router(pool: MySqlPool) -> Router {
    router_with_cache(pool, None)
}

/// The app; with a cache, timeline reads go through Redis and writes invalidate it.
pub fn router_with_cache(pool: MySqlPool, cache: Option<Cache>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/timeline", get(|| async { Html(TIMELINE) }))
        .route("/api/timeline_post", get(list_posts).post(create_post))
        .route("/api/timeline_post/{id}", delete(delete_post))
        .with_state(AppState { pool, cache })
}

const SELECT: &str =
    "SELECT id, name, email, content, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s') AS created_at FROM timeline_post";

fn post_from(row: &sqlx::mysql::MySqlRow) -> Result<TimelinePost, sqlx::Error> {
    Ok(TimelinePost {
        id: row.try_get::<i32, _>("id")?.into(),
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        content: row.try_get("content")?,
        created_at: row.try_get("created_at")?,
    })
}

fn database_error(e: sqlx::Error) -> Response {
    eprintln!("portfolio: database error: {e}");
    (StatusCode::SERVICE_UNAVAILABLE, "The database is not available right now.\n").into_response()
}

/// `GET /api/timeline_post`, cache-aside: the listing from Redis when it is there (`X-Cache: hit`),
/// else from the database, stored in Redis for next time (`X-Cache: miss`). Without a cache, or
/// when Redis fails, the database answers alone; writes delete the key, so a read after a write
/// never sees the old listing.
async fn list_posts(State(state): State<AppState>) -> Response {
    if let Some(cache) = &state.cache {
        if let Some(body) = cache.get().await {
            return json_body(body, "hit");
        }
    }
    let posts = match sqlx::query(&format!("{SELECT} ORDER BY id DESC")).fetch_all(&state.pool).await {
        Ok(rows) => match rows.iter().map(post_from).collect::<Result<Vec<_>, _>>() {
            Ok(posts) => posts,
            Err(e) => return database_error(e),
        },
        Err(e) => return database_error(e),
    };
    let body = json!({ "timeline_posts": posts }).to_string();
    match &state.cache {
        Some(cache) => {
            cache.put(&body).await;
            json_body(body, "miss")
        }
        None => json_body(body, "off"),
    }
}

fn json_body(body: String, cache: &'static str) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (axum::http::HeaderName::from_static("x-cache"), cache),
        ],
        body,
    )
        .into_response()
}

async fn create_post(State(state): State<AppState>, Form(post): Form<NewPost>) -> Response {
    let pool = &state.pool;
    let name = post.name.unwrap_or_default().trim().to_string();
    let email = post.email.unwrap_or_default().trim().to_string();
    let content = post.content.unwrap_or_default().trim().to_string();
    // The seed course's messages, word for word.
    if name.is_empty() {
        return (StatusCode::BAD_REQUEST, "Invalid name").into_response();
    }
    if !email.contains('@') {
        return (StatusCode::BAD_REQUEST, "Invalid email").into_response();
    }
    if content.is_empty() {
        return (StatusCode::BAD_REQUEST, "Invalid content").into_response();
    }
    let inserted = sqlx::query("INSERT INTO timeline_post (name, email, content) VALUES (?, ?, ?)")
        .bind(&name)
        .bind(&email)
        .bind(&content)
        .execute(pool)
        .await;
    let id = match inserted {
        Ok(done) => done.last_insert_id(),
        Err(e) => return database_error(e),
    };
    if let Some(cache) = &state.cache {
        cache.invalidate().await;
    }
    match sqlx::query(&format!("{SELECT} WHERE id = ?")).bind(id).fetch_one(pool).await.and_then(|row| post_from(&row))
    {
        Ok(post) => Json(post).into_response(),
        Err(e) => database_error(e),
    }
}

async fn delete_post(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    let deleted = sqlx::query("DELETE FROM timeline_post WHERE id = ?").bind(id).execute(&state.pool).await;
    if let (Ok(_), Some(cache)) = (&deleted, &state.cache) {
        cache.invalidate().await;
    }
    match deleted {
        Ok(done) if done.rows_affected() == 1 => Json(json!({ "deleted": id })).into_response(),
        Ok(_) => (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no timeline post {id}") }))).into_response(),
        Err(e) => database_error(e),
    }
}

const INDEX: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Portfolio</title></head>\n<body><h1>Portfolio</h1><p>A web app and its database, each in its own container.</p><p><a href=\"/timeline\">Timeline</a></p></body></html>\n";

const TIMELINE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Timeline</title></head>
<body>
<h1>Timeline</h1>
<form id="post"><input name="name" placeholder="Name" required> <input name="email" type="email" placeholder="Email" required>
<textarea name="content" placeholder="What's new?" required></textarea><button>Post</button></form>
<ul id="posts"></ul>
<script>
async function load() {
  const answer = await (await fetch('/api/timeline_post')).json();
  document.getElementById('posts').replaceChildren(...answer.timeline_posts.map(p => {
    const li = document.createElement('li');
    li.textContent = `${p.name} (${p.created_at}): ${p.content}`;
    return li;
  }));
}
document.getElementById('post').addEventListener('submit', async e => {
  e.preventDefault();
  await fetch('/api/timeline_post', { method: 'POST', body: new URLSearchParams(new FormData(e.target)) });
  e.target.reset();
  load();
});
load();
</script>
</body></html>
"#;
