//! `reverse-proxy`: one front door for the lab's services. See the crate docs and the lab handout.

use clap::Parser;

/// hyper allocates a little for every request; mimalloc makes that cheaper than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

/// A reverse proxy with TLS termination.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (see the crate docs for its shape).
    #[arg(long, env = "PROXY_CONFIG", default_value = "proxy.toml")]
    config: PathBuf,
    /// Certificate chain (PEM) to use instead of the config's `tls.cert`.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) to use instead of the config's `tls.key`.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Worker threads (default: one per CPU).
    #[arg(long, env = "PROXY_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("reverse-proxy: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut config = reverse_proxy::config::Config::load(&args.config)?;
    if let (Some(cert), Some(key), Some(tls)) = (args.cert, args.key, config.tls.as_mut()) {
        tls.cert = cert;
        tls.key = key;
    }
    let tls = config
        .tls
        .as_ref()
        .filter(|_| config.listen.https.is_some())
        .map(reverse_proxy::tls::server_config)
        .transpose()?;
    let workers =
        args.workers.map(usize::from).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let ready = |http, https: Option<std::net::SocketAddr>| match https {
        Some(https) => eprintln!("reverse-proxy: http://{http} (redirects) and https://{https}/ ({workers} workers)"),
        None => eprintln!("reverse-proxy: http://{http}/ ({workers} workers)"),
    };
    reverse_proxy::run(&config, tls, workers, ready, reverse_proxy::shutdown_signal())?;
    eprintln!("reverse-proxy: stopped");
    Ok(())
}
