//! `portfolio`: the lab 2 web app. Waits for MariaDB, creates its table, serves on `PORT` (5000);
//! with `REDIS_HOST`, timeline reads go through Redis (cache-aside; lab 3).

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("portfolio: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("portfolio: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let config = web_db::app::DbConfig::from_env()?;
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5000);
    let patience =
        Duration::from_secs(std::env::var("DB_WAIT_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(120));
    let pool = web_db::app::connect_with_backoff(&config, patience).await?;
    web_db::app::migrate(&pool).await.map_err(|e| format!("cannot create the timeline_post table: {e}"))?;
    let cache = web_db::app::Cache::from_env().await?;
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
    eprintln!(
        "portfolio: connected to {}:{}/{}{}; listening on http://0.0.0.0:{port}/",
        config.host,
        config.port,
        config.database,
        if cache.is_some() { ", timeline reads cached in Redis" } else { "" }
    );
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    };
    axum::serve(listener, web_db::app::router_with_cache(pool, cache))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("the server failed: {e}"))
}
