//! `static-site`: serve a directory over HTTP. See the crate docs and the lab handout.

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Serve a static site over HTTP.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to listen on (0.0.0.0: every interface, as a server in a container needs).
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Directory with the site's files (default: the portfolio bundled with this crate).
    #[arg(long, env = "SITE_ROOT")]
    root: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("static-site: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let root = args.root.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/site")));
    let site = Arc::new(static_site::Site::open(&root).map_err(|e| e.to_string())?);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = static_site::bind(addr).map_err(|e| e.to_string())?;
        eprintln!("static-site: serving {} on http://{addr}/", site.root().display());
        static_site::serve(listener, site, static_site::shutdown_signal()).await;
        eprintln!("static-site: stopped");
        Ok(())
    })
}
