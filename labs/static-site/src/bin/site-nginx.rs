//! `site-nginx`: runs a student's nginx server block and site folder in the official nginx image,
//! as `--up` does for lab 1 - the block as `/etc/nginx/conf.d/default.conf`, the site folder
//! mounted read-only where the block's `root` says, the port it listens on (the lab's, with
//! `--require-port`) published on the site's port. What it reads of the block is in `static_site::nginx`.
//!
//! `site-nginx host` does it with no container, for a machine without a Docker engine (a course
//! platform's autograder, where setup.sh installs nginx): the machine's own nginx, as a process,
//! on a copy of the site, with the block rewritten to listen where the container would be
//! published and to serve the copy (`static_site::nginx::for_host`). It runs until SIGTERM.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use single_image::{Publish, Pull, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(version, about = "Run an nginx server block and its site folder in the nginx image")]
struct Cli {
    /// The container's name (not for `host`).
    #[arg(long)]
    name: Option<String>,
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
        /// The port the block must listen on (the lab's): any other is refused, as it would
        /// answer nowhere the lab looks when run by hand.
        #[arg(long)]
        require_port: Option<u16>,
    },
    /// Restart the container (nginx reads its configuration and files again).
    Restart,
    /// Run the block with this machine's own nginx, in the foreground, until SIGTERM or Ctrl-C.
    Host {
        /// The server block, or a folder holding exactly one `*.conf` file.
        #[arg(long)]
        conf: PathBuf,
        /// The site's folder (served from a copy).
        #[arg(long)]
        site: PathBuf,
        /// Where to listen: IP:PORT (the container's published port).
        #[arg(long)]
        listen: String,
        /// The port the block must listen on (the lab's), as for `up`.
        #[arg(long)]
        require_port: Option<u16>,
    },
    /// Stop the container (it stays, stopped: `down` removes it).
    Stop,
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
    if let Command::Host { conf, site, listen, require_port } = cli.command {
        return host(conf, site, listen, require_port).await;
    }
    let name = cli.name.context("--name NAME: the container's name")?;
    let docker = single_image::connect().await?;
    match cli.command {
        Command::Up { conf, site, publish, image, require_port } => {
            let conf = server_block(conf)?;
            let text = std::fs::read_to_string(&conf)
                .with_context(|| format!("cannot read the server block {}", conf.display()))?;
            let block = static_site::nginx::site(&text).map_err(|e| anyhow::anyhow!("{}: {e}", conf.display()))?;
            listens_where_asked(&conf, block.port, require_port)?;
            if !site.is_dir() {
                bail!("the site folder {} does not exist", site.display());
            }
            let publish: Publish = format!("{}:{}", single_image::on_all_interfaces(&publish), block.port)
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--publish: {e}"))?;
            let options = RunOptions {
                image,
                name: name.clone(),
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
                .restart_container(&name, None::<bollard::query_parameters::RestartContainerOptions>)
                .await
                .with_context(|| format!("cannot restart {name}"))?;
            Ok(())
        }
        Command::Stop => match docker.inspect_container(&name, None).await {
            Ok(_) => docker
                .stop_container(&name, None::<bollard::query_parameters::StopContainerOptions>)
                .await
                .with_context(|| format!("cannot stop {name}")),
            Err(_) => Ok(()),
        },
        Command::Down => match docker.inspect_container(&name, None).await {
            Ok(found) => single_image::remove(&docker, &found.id.unwrap_or(name)).await,
            Err(_) => Ok(()),
        },
        Command::Host { .. } => unreachable!("handled above"),
    }
}

/// The official image's main configuration, for the machine's own nginx: the block in `conf.d`.
const MAIN_CONF: &str = "worker_processes 1;
pid {dir}/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    access_log off;
    include {dir}/conf.d/*.conf;
}
";

/// `site-nginx host`: see the module's documentation.
/// A block that listens on another port than the lab's would answer nowhere the lab looks when
/// run by hand: refused the same way here, rather than published where the grader looks.
fn listens_where_asked(conf: &std::path::Path, port: u16, required: Option<u16>) -> anyhow::Result<()> {
    match required {
        Some(required) if required != port => bail!(
            "{}: the server block listens on port {port}, and the lab asks for {required} (`listen {required};`)",
            conf.display()
        ),
        _ => Ok(()),
    }
}

async fn host(conf: PathBuf, site: PathBuf, listen: String, require_port: Option<u16>) -> anyhow::Result<()> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .context("nginx is not installed on this machine (apt-get install nginx-light)")?;
    let conf = server_block(conf)?;
    let text =
        std::fs::read_to_string(&conf).with_context(|| format!("cannot read the server block {}", conf.display()))?;
    let asked = static_site::nginx::site(&text).map_err(|e| anyhow::anyhow!("{}: {e}", conf.display()))?;
    listens_where_asked(&conf, asked.port, require_port)?;
    if !site.is_dir() {
        bail!("the site folder {} does not exist", site.display());
    }
    // A folder of its own that nginx's workers (`nobody` under a root master) can read.
    let dir = tempfile::Builder::new().prefix("clabs-site-nginx-").tempdir().context("cannot make a folder")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let served = dir.path().join("site");
    copy_readable(&site, &served)?;
    let block = static_site::nginx::for_host(&text, &served, &listen)
        .map_err(|e| anyhow::anyhow!("{}: {e}", conf.display()))?;
    let name = conf.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "default.conf".into());
    std::fs::create_dir(dir.path().join("conf.d"))?;
    std::fs::write(dir.path().join("conf.d").join(&name), block)?;
    let main = dir.path().join("nginx.conf");
    std::fs::write(&main, MAIN_CONF.replace("{dir}", &dir.path().display().to_string()))?;
    let args = |extra: &[&str]| {
        let mut args: Vec<std::ffi::OsString> = extra.iter().map(Into::into).collect();
        args.extend([
            "-p".into(),
            dir.path().into(),
            "-c".into(),
            main.clone().into_os_string(),
            "-e".into(),
            "stderr".into(),
        ]);
        args
    };
    let test = std::process::Command::new(&nginx).args(args(&["-t", "-q"])).output().context("cannot run nginx")?;
    if !test.status.success() {
        let said = String::from_utf8_lossy(&test.stderr);
        let last = said.lines().find(|l| l.contains("[emerg]")).or(said.lines().last()).unwrap_or("no output");
        let copy = dir.path().join("conf.d").join(&name).display().to_string();
        bail!("nginx refuses the server block: {}", last.replace(&copy, &conf.display().to_string()));
    }
    eprintln!(
        "site-nginx: this machine's nginx runs {} on {listen}, serving a copy of {}",
        conf.display(),
        site.display()
    );
    let mut child = tokio::process::Command::new(&nginx)
        .args(args(&["-g", "daemon off;"]))
        .kill_on_drop(true)
        .spawn()
        .context("cannot start nginx")?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        status = child.wait() => bail!("nginx ended: {}", status?),
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    if let Some(pid) = child.id() {
        stop(pid);
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    Ok(())
}

/// SIGTERM to the nginx this program started (by its PID).
#[allow(unsafe_code)]
fn stop(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions; pid is our own child's.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
}

/// Copies the site as a container's mount shows it (links stay links), readable by everyone.
fn copy_readable(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_readable(&source, &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else {
            std::fs::copy(&source, &target).with_context(|| format!("cannot copy {}", source.display()))?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
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
