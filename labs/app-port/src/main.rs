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
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// File the messages are kept in (JSON lines; created if missing).
    #[arg(long, env = "DATA_FILE", default_value = "data/messages.jsonl")]
    data: PathBuf,
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
    let store = app_port::store::Store::open(&args.data).map_err(|e| {
        format!("cannot open the data file '{}': {e}; pass --data FILE somewhere writable", args.data.display())
    })?;
    if store.skipped_lines > 0 {
        eprintln!("app-port: skipped {} unreadable line(s) in {}", store.skipped_lines, args.data.display());
    }
    let count = store.len();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| app_port::bind_error(addr, &e))?;
        eprintln!("app-port: {count} message(s) loaded from {}; listening on http://{addr}/", args.data.display());
        let app = app_port::router(Arc::new(Mutex::new(store)));
        axum::serve(listener, app)
            .with_graceful_shutdown(app_port::shutdown_signal())
            .await
            .map_err(|e| format!("the server failed: {e}"))?;
        eprintln!("app-port: stopped");
        Ok(())
    })
}
