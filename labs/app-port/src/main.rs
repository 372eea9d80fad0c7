//! `app-port`: the lab 1 message board. See the crate docs and the lab handout.

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// A message board on a non-standard port.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The board's configuration file (PORT, DATA_FILE, BIND as KEY=VALUE lines); flags and
    /// environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Port to listen on (default 3000, or the configuration's PORT).
    #[arg(long, env = "PORT")]
    port: Option<u16>,
    /// Address to listen on (default 0.0.0.0, or the configuration's BIND).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// File the messages are kept in (JSON lines; created if missing). Default: data/messages.jsonl;
    /// with --config, the configuration's DATA_FILE, and without one, memory only.
    #[arg(long, env = "DATA_FILE")]
    data: Option<PathBuf>,
    /// Refuse to start unless the port is this one (the grader's way of saying where the board must be).
    #[arg(long, hide = true)]
    require_port: Option<u16>,
    /// Keep the data file in this folder instead, under its own name (the grader's scratch space).
    #[arg(long, hide = true)]
    data_dir: Option<PathBuf>,
    /// Listen on this port instead, once the configured one is the required one (the grader's:
    /// boards graded side by side each get a port of their own).
    #[arg(long, hide = true)]
    listen_port: Option<u16>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("app-port: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let config = match &args.config {
        Some(path) => Some(app_port::config::load(path)?),
        None => None,
    };
    let file = config.as_ref().unwrap_or(&app_port::config::Config::default()).clone();
    let port = args.port.or(file.port).unwrap_or(3000);
    let bind = args.bind.or(file.bind).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if let Some(required) = args.require_port.filter(|r| *r != port) {
        let from = args.config.as_ref().map(|c| format!("{} sets PORT={port}", c.display()));
        return Err(format!(
            "{}, but the board must run on port {required}: the site holds its own port (set PORT={required})",
            from.unwrap_or_else(|| format!("the port is {port}"))
        ));
    }
    let port = args.listen_port.unwrap_or(port);
    let mut data = match (args.data, &config) {
        (Some(data), _) => Some(data),
        (None, Some(config)) => config.data_file.clone(),
        (None, None) => Some(PathBuf::from("data/messages.jsonl")),
    };
    if let (Some(dir), Some(file)) = (&args.data_dir, &data) {
        data = Some(dir.join(file.file_name().unwrap_or(std::ffi::OsStr::new("messages.jsonl"))));
    }
    let store = match &data {
        Some(path) => app_port::store::Store::open(path).map_err(|e| {
            format!("cannot open the data file '{}': {e}; pass --data FILE somewhere writable", path.display())
        })?,
        None => {
            eprintln!("app-port: no DATA_FILE: messages are kept in memory only, and a restart loses them");
            app_port::store::Store::in_memory()
        }
    };
    if store.skipped_lines > 0 {
        eprintln!(
            "app-port: skipped {} unreadable line(s) in {}",
            store.skipped_lines,
            store.path().unwrap_or(std::path::Path::new("?")).display()
        );
    }
    let count = store.len();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(bind, port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| app_port::bind_error(addr, &e))?;
        let from = data.as_ref().map_or("memory".to_string(), |d| d.display().to_string());
        eprintln!("app-port: {count} message(s) loaded from {from}; listening on http://{addr}/");
        let app = app_port::router(Arc::new(Mutex::new(store)));
        axum::serve(listener, app)
            .with_graceful_shutdown(app_port::shutdown_signal())
            .await
            .map_err(|e| format!("the server failed: {e}"))?;
        eprintln!("app-port: stopped");
        Ok(())
    })
}
