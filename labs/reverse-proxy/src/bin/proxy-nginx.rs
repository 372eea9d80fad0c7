//! `proxy-nginx`: runs a student's nginx front door (lab 2) in the official nginx image, the way
//! `--up` does, with the lab 1 site and app behind it as on one server: three containers sharing
//! one network namespace, so the student's `proxy_pass http://127.0.0.1:8080` reaches the site
//! there as it does on their machine.
//!
//! - `NAME`: the course's site server (its image) serving the student's site folder, read-only, on
//!   the site's port. It holds the namespace and publishes the front door's ports.
//! - `NAME-app`: the course's message board on the app's port.
//! - `NAME-nginx`: nginx with the student's configuration folder as `/etc/nginx/conf.d`
//!   (read-only), and each file a TLS directive names (certificate, key) mounted read-only at the
//!   path it names, found by its file name in the student's step folder.
//!
//! What it reads of the configuration is in `static_site::nginx::front`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use single_image::{Publish, Pull, RunOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(version, about = "Run an nginx front door with the lab 1 site and app behind it, in containers")]
struct Cli {
    /// The name of the first container; the others are NAME-app and NAME-nginx.
    #[arg(long)]
    name: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and start the three containers; wait until nginx has started (or say why it did not).
    Up {
        /// The folder of the front door's configuration (its *.conf files become conf.d).
        #[arg(long)]
        conf: PathBuf,
        /// The folder the files named by TLS directives are found in, by file name.
        #[arg(long)]
        files: PathBuf,
        /// The lab 1 site's folder.
        #[arg(long)]
        site: PathBuf,
        #[arg(long, default_value = "containerlabs/static-site:0.1.0")]
        site_image: String,
        #[arg(long, default_value_t = 8080)]
        site_port: u16,
        #[arg(long, default_value = "containerlabs/app-port:0.1.0")]
        app_image: String,
        #[arg(long, default_value_t = 3000)]
        app_port: u16,
        /// The nginx image.
        #[arg(long, default_value = "nginx:1.27")]
        image: String,
        /// Where to publish the port nginx listens on without TLS: [IP:]PORT.
        #[arg(long)]
        http: String,
        /// Where to publish the port nginx listens on with TLS: [IP:]PORT.
        #[arg(long)]
        https: String,
    },
    /// Stop the containers (they stay, stopped: `down` removes them).
    Stop,
    /// Stop and remove the containers.
    Down,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("proxy-nginx: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy-nginx: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn names(name: &str) -> [String; 3] {
    [format!("{name}-nginx"), format!("{name}-app"), name.to_string()]
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let docker = single_image::connect().await?;
    match cli.command {
        Command::Up { conf, files, site, site_image, site_port, app_image, app_port, image, http, https } => {
            let confs = conf_files(&conf)?;
            let texts = confs
                .iter()
                .map(|p| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display())))
                .collect::<anyhow::Result<Vec<String>>>()?;
            let door = static_site::nginx::front(&texts.iter().map(String::as_str).collect::<Vec<_>>())
                .map_err(|e| anyhow::anyhow!("{}: {e}", conf.display()))?;
            if !site.is_dir() {
                bail!("the site folder {} does not exist", site.display());
            }
            let mut binds = vec![format!("{}:/etc/nginx/conf.d:ro", conf.display())];
            for named in &door.files {
                if named.path.starts_with("/etc/nginx/conf.d") {
                    bail!(
                        "line {}: {} {}: keep certificates and keys out of conf.d (the configuration folder is mounted there)",
                        named.line,
                        named.directive,
                        named.path.display()
                    );
                }
                let source = find_file(&files, &named.path)?;
                binds.push(format!("{}:{}:ro", source.display(), named.path.display()));
            }
            let mut publish = Vec::new();
            let mut shown = Vec::new();
            for (given, ports, what) in [(&http, &door.plain, "without TLS"), (&https, &door.tls, "with TLS")] {
                match ports.first() {
                    Some(port) => {
                        publish.push(
                            format!("{}:{port}", single_image::on_all_interfaces(given))
                                .parse::<Publish>()
                                .map_err(|e| anyhow::anyhow!("{e}"))?,
                        );
                        shown.push(format!("{port} ({what}) on {given}"));
                    }
                    None => eprintln!("proxy-nginx: no server listens {what}; nothing is published on {given}"),
                }
            }
            eprintln!(
                "proxy-nginx: {} listens on {}; the site on {site_port} and the app on {app_port} behind it",
                conf.display(),
                shown.join(" and ")
            );
            let [nginx_name, app_name, site_name] = names(&cli.name);
            let pod = format!("container:{site_name}");
            let containers = [
                RunOptions {
                    image: site_image,
                    name: site_name.clone(),
                    publish,
                    env: vec![format!("PORT={site_port}"), "SITE_ROOT=/site".into()],
                    binds: vec![format!("{}:/site:ro", site.display())],
                    restart: None,
                    network: None,
                    tmpfs: Vec::new(),
                    pull: Pull::Missing,
                },
                RunOptions {
                    image: app_image,
                    name: app_name,
                    publish: Vec::new(),
                    env: vec![format!("PORT={app_port}")],
                    binds: Vec::new(),
                    restart: None,
                    network: Some(pod.clone()),
                    // The board's data folder (a volume in its image) as scratch space, owned by
                    // the user the course's images run as.
                    tmpfs: vec!["/data:uid=65534,gid=65534".into()],
                    pull: Pull::Missing,
                },
                RunOptions {
                    image,
                    name: nginx_name,
                    publish: Vec::new(),
                    env: Vec::new(),
                    binds,
                    restart: None,
                    network: Some(pod),
                    tmpfs: Vec::new(),
                    pull: Pull::Missing,
                },
            ];
            for options in &containers {
                let id = single_image::run(&docker, options).await?;
                // A server that cannot start (nginx refusing its configuration, a port taken)
                // ends its container within a moment, and its last words say why.
                tokio::time::sleep(Duration::from_millis(if options.network.is_some() { 1500 } else { 300 })).await;
                let state = docker.inspect_container(&id, None).await?.state.unwrap_or_default();
                if state.running != Some(true) {
                    let logs = single_image::logs(&docker, &id).await.unwrap_or_default();
                    let last =
                        logs.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_string();
                    down(&docker, &cli.name).await;
                    bail!("{} stopped at once (exit code {}): {last}", options.name, state.exit_code.unwrap_or(-1));
                }
            }
            Ok(())
        }
        Command::Stop => {
            for name in names(&cli.name) {
                if docker.inspect_container(&name, None).await.is_ok() {
                    docker
                        .stop_container(&name, None::<bollard::query_parameters::StopContainerOptions>)
                        .await
                        .with_context(|| format!("cannot stop {name}"))?;
                }
            }
            Ok(())
        }
        Command::Down => {
            down(&docker, &cli.name).await;
            Ok(())
        }
    }
}

async fn down(docker: &bollard::Docker, name: &str) {
    for name in names(name) {
        if let Ok(found) = docker.inspect_container(&name, None).await {
            if let Err(e) = single_image::remove(docker, &found.id.unwrap_or(name)).await {
                eprintln!("proxy-nginx: {e:#}");
            }
        }
    }
}

/// The configuration's `*.conf` files: the folder's, or the one file given.
fn conf_files(conf: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !conf.is_dir() {
        bail!("{} is not a folder: keep the front door's configuration in a folder of *.conf files", conf.display());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(conf)
        .with_context(|| format!("cannot read {}", conf.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf"))
        .collect();
    found.sort();
    if found.is_empty() {
        bail!("{} holds no *.conf file: put your front door's server blocks there (proxy.conf)", conf.display());
    }
    Ok(found)
}

/// The file a directive names, found by its file name in `folder` (a `certs/` folder first): the
/// certificate and key the student made with openssl and keeps beside the configuration.
fn find_file(folder: &Path, wanted: &Path) -> anyhow::Result<PathBuf> {
    let name = wanted.file_name().context("a TLS directive names a folder, not a file")?;
    let mut found = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && path.file_name() == Some(name) {
                found.push(path);
            }
        }
    }
    found.sort_by_key(|p| (!p.components().any(|c| c.as_os_str() == "certs"), p.clone()));
    found.into_iter().next().with_context(|| {
        format!(
            "your configuration names {}, and no file called {} is in {}: make it with openssl (see the handout) and keep it in {}/certs/",
            wanted.display(),
            name.to_string_lossy(),
            folder.display(),
            folder.display()
        )
    })
}
