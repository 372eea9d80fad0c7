//! `portfolio`: the lab 2 web app. Waits for MariaDB, creates its table, serves on `PORT` (5000);
//! with `REDIS_HOST`, timeline reads go through Redis (cache-aside; lab 3).
//!
//! `portfolio --healthcheck` asks the running app for `/` on `PORT` and exits 0 on a 200: a
//! Compose healthcheck for the `FROM scratch` image, which has no shell and no curl.
//!
//! `portfolio --stage DIR SCRIPT [ARGS...]` is how `--up` runs a student's lab 2 script in the
//! sandbox: it copies DIR (the student's `labs/web-db/`) to a scratch folder, puts itself - the
//! course's build of the app - at `app/portfolio` there (where the student's Dockerfile copies it
//! from), and runs `sh SCRIPT ARGS...` in that folder. `portfolio --stage-done` does nothing (what
//! the script made goes with the grader's run).

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--healthcheck") => return healthcheck(),
        Some("--stage") => return stage(&args[2..]),
        Some("--stage-done") => return ExitCode::SUCCESS,
        _ => {}
    }
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

/// GET / from the app on this host's `PORT`; success on a 200 within three seconds.
fn healthcheck() -> ExitCode {
    use std::io::{BufRead, Read, Write};
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5000);
    let ask = || -> std::io::Result<String> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        // The status line may come in several segments: read up to its end, not one `read`.
        let mut status_line = Vec::new();
        std::io::BufReader::new(stream).take(256).read_until(b'\n', &mut status_line)?;
        Ok(String::from_utf8_lossy(&status_line).into_owned())
    };
    match ask() {
        Ok(head) if head.starts_with("HTTP/") && head.split_whitespace().nth(1) == Some("200") => ExitCode::SUCCESS,
        Ok(head) => {
            eprintln!("portfolio: / answered {:?}", head.trim_end());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("portfolio: nothing answers on port {port}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Copies the student's folder to a scratch folder with this program at `app/portfolio`, and runs
/// their script there with `sh`; its exit code is the script's.
fn stage(args: &[String]) -> ExitCode {
    let [dir, script, rest @ ..] = args else {
        eprintln!("usage: portfolio --stage DIR SCRIPT [ARGS...]");
        return ExitCode::from(2);
    };
    let source = std::path::Path::new(dir);
    let target = std::env::temp_dir().join("web-db");
    let staged = (|| -> std::io::Result<()> {
        if target.exists() {
            std::fs::remove_dir_all(&target)?;
        }
        copy_tree(source, &target)?;
        let app = target.join("app");
        std::fs::create_dir_all(&app)?;
        let binary = app.join("portfolio");
        if binary.symlink_metadata().is_ok() {
            std::fs::remove_file(&binary)?;
        }
        std::fs::copy(std::env::current_exe()?, &binary)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))
    })();
    if let Err(e) = staged {
        eprintln!("portfolio: cannot stage {} with the app in {}: {e}", source.display(), target.display());
        return ExitCode::from(2);
    }
    if !target.join(script).is_file() {
        eprintln!(
            "portfolio: {} has no {script}: write the script that builds and runs the two containers there",
            source.display()
        );
        return ExitCode::from(1);
    }
    eprintln!(
        "portfolio: running sh {script} in a copy of {} with the course's app at app/portfolio",
        source.display()
    );
    match std::process::Command::new("sh").arg(script).args(rest).current_dir(&target).status() {
        Ok(status) => ExitCode::from(status.code().map_or(1, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("portfolio: cannot run sh: {e}");
            ExitCode::from(2)
        }
    }
}

/// Copies folders and regular files; symbolic links are copied as links (never followed).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
