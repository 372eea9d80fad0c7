//! The portfolio's timeline cache (lab 3): reads go through a real Redis cache-aside, writes
//! invalidate it so no read ever shows a stale timeline, Redis's own counters move, and a Redis
//! outage only costs speed. MariaDB and Redis are the project's stand-in containers, run through
//! testcontainers with the test's scope labels and published on loopback for this test only.
//! Integration: needs the engine and the images `cargo xtask test` builds.

use std::time::Duration;
use web_db::app::{Cache, DbConfig};

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

fn docker(args: &[&str]) -> String {
    let output = testkit::docker_cli().args(args).output().unwrap();
    assert!(output.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Starts `image:tag` through testcontainers with the scope's labels, `port` published on a free
/// loopback port (never on every interface); returns the container and that port.
async fn run(
    scope: &testkit::EngineScope,
    image: &str,
    tag: &str,
    port: u16,
    env: &[(&str, &str)],
    ready: WaitFor,
) -> (ContainerAsync<GenericImage>, u16) {
    let host_port = testkit::free_port();
    let binding =
        bollard::models::PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(host_port.to_string()) };
    let mut request = GenericImage::new(image, tag)
        .with_exposed_port(ContainerPort::Tcp(port))
        .with_wait_for(ready)
        .with_host_config_modifier(move |host| {
            host.port_bindings = Some([(format!("{port}/tcp"), Some(vec![binding.clone()]))].into_iter().collect());
        })
        .with_labels(scope.labels().clone())
        .with_startup_timeout(Duration::from_secs(120));
    for (key, value) in env {
        request = request.with_env_var(*key, *value);
    }
    (request.start().await.unwrap(), host_port)
}

/// (status line, X-Cache value, body) of `GET /api/timeline_post`.
async fn timeline(port: u16) -> (u16, String, String) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/api/timeline_post")).await.unwrap();
    let status = response.status().as_u16();
    let cache = response.headers().get("x-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, cache, response.text().await.unwrap())
}

async fn post(port: u16, content: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/timeline_post"))
        .form(&[("name", "Ada"), ("email", "ada@example.test"), ("content", content)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

fn redis_stat(container: &str, field: &str) -> u64 {
    let stats = docker(&["exec", container, "redis-cli", "info", "stats"]);
    stats.lines().find_map(|l| l.trim().strip_prefix(&format!("{field}:"))).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_reads_go_through_redis_and_writes_invalidate_it() {
    if !testkit::integration("timeline_reads_go_through_redis_and_writes_invalidate_it") {
        return;
    }
    let scope = testkit::EngineScope::new();
    let (_db, db_port) = run(
        &scope,
        "containerlabs/mariadb",
        "10.11-standin",
        3306,
        &[
            ("MARIADB_ROOT_PASSWORD", "root-secret"),
            ("MARIADB_DATABASE", "portfolio"),
            ("MARIADB_USER", "portfolio"),
            ("MARIADB_PASSWORD", "app-secret"),
        ],
        WaitFor::Nothing,
    )
    .await;
    let (redis_container, redis_port) = run(
        &scope,
        "containerlabs/redis",
        "7.0-standin",
        6379,
        &[],
        WaitFor::message_on_stdout("Ready to accept connections"),
    )
    .await;
    let redis = redis_container.id().to_string();

    let config = DbConfig {
        host: "127.0.0.1".into(),
        port: db_port,
        user: "portfolio".into(),
        password: "app-secret".into(),
        database: "portfolio".into(),
    };
    let pool = web_db::app::connect_with_backoff(&config, Duration::from_secs(120)).await.unwrap();
    web_db::app::migrate(&pool).await.unwrap();
    let mut cache = None;
    for _ in 0..100 {
        if let Ok(connected) = Cache::connect("127.0.0.1", redis_port, 60).await {
            cache = Some(connected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cache = cache.expect("Redis answers within 10 s");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, web_db::app::router_with_cache(pool, Some(cache))).await });

    // Cache-aside: a miss fills the cache, the next read is a hit with the same body.
    post(port, "first").await;
    let (status, first_state, first_body) = timeline(port).await;
    assert_eq!((status, first_state.as_str()), (200, "miss"));
    let hits_before = redis_stat(&redis, "keyspace_hits");
    let (_, state, body) = timeline(port).await;
    assert_eq!(state, "hit");
    assert_eq!(body, first_body);
    assert!(redis_stat(&redis, "keyspace_hits") > hits_before, "Redis's own counter moved");
    assert_eq!(docker(&["exec", &redis, "redis-cli", "exists", web_db::app::TIMELINE_KEY]), "1");

    // A write invalidates: the very next read shows it (newest first), from the database.
    let second = post(port, "second").await;
    let (_, state, body) = timeline(port).await;
    assert_eq!(state, "miss", "a write must invalidate the cached timeline");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["timeline_posts"][0]["content"], "second", "{body}");
    assert_eq!(listed["timeline_posts"].as_array().unwrap().len(), 2);

    // So does a delete.
    let id = second["id"].as_i64().unwrap();
    let deleted =
        reqwest::Client::new().delete(format!("http://127.0.0.1:{port}/api/timeline_post/{id}")).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let (_, state, body) = timeline(port).await;
    assert_eq!(state, "miss");
    assert!(!body.contains("\"second\""), "{body}");

    // Redis gone: the timeline still answers, from the database.
    docker(&["stop", "-t", "1", &redis]);
    let (status, _, body) = timeline(port).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"first\""), "{body}");
}
