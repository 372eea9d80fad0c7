//! `site-nginx`: runs a student's nginx server block and site folder in the official nginx image,
//! as `--up` does for lab 1 - the block as `/etc/nginx/conf.d/default.conf`, the site folder
//! mounted read-only where the block's `root` says, the port it listens on published on the
//! site's port. What it reads of the block is in `static_site::nginx`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use single_image::{Publish, Pull, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(version, about = "Run an nginx server block and its site folder in the nginx image")]
struct Cli {
    /// The container's name.
    #[arg(long)]
    name: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and start the container, and wait until nginx has started (or say why it did not).
    Up {
        /// The server block (a file of `conf.d`, or a whole nginx.conf), or a folder holding
        /// exactly one `*.conf` file.
        #[arg(long)]
        conf: PathBuf,
        /// The site's folder.
        #[arg(long)]
        site: PathBuf,
        /// Where to publish the port the block listens on: [IP:]PORT.
        #[arg(long)]
        publish: String,
        #[arg(long, default_value = "nginx:1.27")]
        image: String,
    },
    /// Restart the container (nginx reads its configuration and files again).
    Restart,
    /// Stop and remove the container.
    Down,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("site-nginx: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("site-nginx: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let docker = single_image::connect().await?;
    match cli.command {
        Command::Up { conf, site, publish, image } => {
            let conf = server_block(conf)?;
            let text = std::fs::read_to_string(&conf)
                .with_context(|| format!("cannot read the server block {}", conf.display()))?;
            let block = static_site::nginx::site(&text).map_err(|e| anyhow::anyhow!("{}: {e}", conf.display()))?;
            if !site.is_dir() {
                bail!("the site folder {} does not exist", site.display());
            }
            let publish: Publish = format!("{}:{}", single_image::on_all_interfaces(&publish), block.port)
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--publish: {e}"))?;
            let options = RunOptions {
                image,
                name: cli.name.clone(),
                publish: vec![publish],
                env: Vec::new(),
                binds: vec![
                    format!("{}:{}:ro", site.display(), block.root.display()),
                    format!("{}:/etc/nginx/conf.d/default.conf:ro", conf.display()),
                ],
                restart: None,
                network: None,
                tmpfs: Vec::new(),
                pull: Pull::Missing,
            };
            eprintln!(
                "site-nginx: {} listens on {} and serves {}: publishing it on {}, the site mounted at {}",
                conf.display(),
                block.port,
                block.root.display(),
                options.publish[0].host_port,
                block.root.display()
            );
            let id = single_image::run(&docker, &options).await?;
            // nginx reads its configuration as it starts: one that does not load ends the container
            // within a moment, and its last words say why.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let state = docker.inspect_container(&id, None).await?.state.unwrap_or_default();
            if state.running != Some(true) {
                let logs = single_image::logs(&docker, &id).await.unwrap_or_default();
                let last = logs.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_string();
                let _ = single_image::remove(&docker, &id).await;
                bail!("nginx stopped at once (exit code {}): {last}", state.exit_code.unwrap_or(-1));
            }
            Ok(())
        }
        Command::Restart => {
            docker
                .restart_container(&cli.name, None::<bollard::query_parameters::RestartContainerOptions>)
                .await
                .with_context(|| format!("cannot restart {}", cli.name))?;
            Ok(())
        }
        Command::Down => match docker.inspect_container(&cli.name, None).await {
            Ok(found) => single_image::remove(&docker, &found.id.unwrap_or(cli.name)).await,
            Err(_) => Ok(()),
        },
    }
}

/// The file itself, or the one `*.conf` file in a folder.
fn server_block(conf: PathBuf) -> anyhow::Result<PathBuf> {
    if !conf.is_dir() {
        return Ok(conf);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&conf)
        .with_context(|| format!("cannot read {}", conf.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf"))
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("{} holds no *.conf file: put your server block there (site.conf)", conf.display()),
        many => bail!(
            "{} holds {} *.conf files ({}): keep the one server block of your site",
            conf.display(),
            many.len(),
            many.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy()).collect::<Vec<_>>().join(", ")
        ),
    }
}
