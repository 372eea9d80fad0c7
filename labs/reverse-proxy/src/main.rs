//! `reverse-proxy`: one front door for the lab's services. See the crate docs and the lab handout.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let http = reverse_proxy::bind(config.listen.http)?;
        let https = match (config.listen.https, tls) {
            (Some(addr), Some(tls)) => Some((reverse_proxy::bind(addr)?, tls)),
            _ => None,
        };
        let proxy = Arc::new(reverse_proxy::Proxy::new(&config));
        match config.listen.https {
            Some(https) => eprintln!("reverse-proxy: http://{} (redirects) and https://{https}/", config.listen.http),
            None => eprintln!("reverse-proxy: http://{}/", config.listen.http),
        }
        reverse_proxy::serve(proxy, http, https, reverse_proxy::shutdown_signal()).await;
        eprintln!("reverse-proxy: stopped");
        Ok(())
    })
}
