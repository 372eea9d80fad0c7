//! `cache-stats`: a cache's own counters (hits, misses, hit rate, keys), read inside its container
//! in a compose project. `--watch` prints them every second with what changed.

use cache::{find, read, Kind};
use clap::Parser;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(version, about = "Show a cache's own counters: hits, misses, hit rate, keys")]
struct Cli {
    /// The compose project.
    #[arg(long, default_value = "lab3")]
    project: String,
    /// The cache's compose service.
    #[arg(long, default_value = "redis")]
    service: String,
    /// Which cache it is.
    #[arg(long, value_enum, default_value = "redis")]
    kind: Kind,
    /// Print the counters every second, with the change since the last line.
    #[arg(long)]
    watch: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("cache-stats: {}", message.split_whitespace().collect::<Vec<_>>().join(" "));
    ExitCode::from(2)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let docker = bollard::Docker::connect_with_local_defaults()
        .map_err(|e| anyhow::anyhow!("cannot reach a Docker engine ({e}); start dockerd or set DOCKER_HOST"))?;
    let id = find(&docker, &cli.project, &cli.service).await?;
    let mut last = None;
    loop {
        let now = read(&docker, &id, cli.kind).await?;
        let rate = now.hit_rate().map_or("-".to_string(), |r| format!("{r:.1}%"));
        let change = last.map_or(String::new(), |l: cache::Counters| {
            format!("  (+{} hits, +{} misses)", now.hits.saturating_sub(l.hits), now.misses.saturating_sub(l.misses))
        });
        println!(
            "{}: hits {}, misses {}, hit rate {rate}, keys {}{change}",
            cli.service, now.hits, now.misses, now.keys
        );
        if !cli.watch {
            return Ok(());
        }
        last = Some(now);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
