//! Lab 2 reference: run one image the way `docker run -d -p H:C --name N -e K=V IMAGE` does,
//! through the Docker Engine API (bollard), and take it away again.
//!
//! The steps `docker run` hides, one function each: make sure the image is here (pull it, or use
//! the local one), create the container (ports, environment, name, labels), start it, wait until
//! its published port answers, read its logs, stop and remove it. Each usual mistake - an image
//! that is not here and cannot be pulled, a host port already taken, a name already used - gets
//! one message that says what to do.

use anyhow::{bail, Context};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// The label on every container this tool creates.
pub use policy::labels::MANAGED as LABEL;

/// `-p [IP:]HOST:CONTAINER[/PROTO]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

impl std::str::FromStr for Publish {
    type Err = String;

    fn from_str(text: &str) -> Result<Publish, String> {
        let (spec, protocol) = match text.split_once('/') {
            Some((spec, proto)) if matches!(proto, "tcp" | "udp") => (spec, proto.to_string()),
            Some(_) => return Err(format!("'{text}': the protocol must be tcp or udp")),
            None => (text, "tcp".to_string()),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (host_ip, host, container) = match parts.as_slice() {
            [host, container] => ("0.0.0.0", *host, *container),
            [ip, host, container] => (*ip, *host, *container),
            _ => return Err(format!("'{text}' is not HOST:CONTAINER (e.g. -p 8080:80)")),
        };
        let port = |p: &str| {
            p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("'{text}': '{p}' is not a port (1-65535)"))
        };
        Ok(Publish { host_ip: host_ip.to_string(), host_port: port(host)?, container_port: port(container)?, protocol })
    }
}

/// Everything `run` needs: the `docker run` options this tool supports.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub image: String,
    pub name: String,
    pub publish: Vec<Publish>,
    pub env: Vec<String>,
    /// `-v SOURCE:TARGET[:ro]`: host folders or files, or named volumes.
    pub binds: Vec<String>,
    /// `--restart no|always|unless-stopped|on-failure[:N]`.
    pub restart: Option<String>,
    /// `--network NAME` or `--network container:OTHER` (another container's network namespace).
    pub network: Option<String>,
    /// `--tmpfs PATH[:OPTIONS]`.
    pub tmpfs: Vec<String>,
    pub pull: Pull,
}

/// When to pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pull {
    /// Pull only when the image is not here (like `docker run`).
    Missing,
    /// Always pull first.
    Always,
    /// Never pull: use the local image or fail.
    Never,
}

/// Connects to the engine `DOCKER_HOST` names, or the local socket.
pub async fn connect() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_local_defaults()
        .context("cannot reach a Docker engine; start dockerd (or Docker Desktop) or set DOCKER_HOST")?;
    docker.ping().await.context("no Docker engine answers; start dockerd (or Docker Desktop) or set DOCKER_HOST")?;
    Ok(docker)
}

/// Makes sure `image` is here: pulls it when `pull` says so.
pub async fn ensure_image(docker: &Docker, image: &str, pull: Pull) -> anyhow::Result<()> {
    let here = docker.inspect_image(image).await.is_ok();
    if here && pull != Pull::Always {
        return Ok(());
    }
    if pull == Pull::Never {
        bail!("image {image} is not here and --pull never forbids pulling it: build it, `docker load` it, or allow pulling");
    }
    let (repo, tag) = split_reference(image);
    let options = CreateImageOptionsBuilder::default().from_image(repo).tag(tag).build();
    let mut progress = docker.create_image(Some(options), None, None);
    let mut last_status = String::new();
    while let Some(item) = progress.next().await {
        match item {
            Ok(info) => {
                if let Some(status) = info.status.filter(|s| *s != last_status) {
                    eprintln!("  {status}");
                    last_status = status;
                }
            }
            Err(e) if here => {
                eprintln!("single-image: could not pull {image} ({e}); using the local image");
                return Ok(());
            }
            Err(e) => bail!(
                "image {image} is not here and cannot be pulled ({}): build it or `docker load` it first",
                one_line(&e.to_string())
            ),
        }
    }
    Ok(())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `name[:tag]` (a registry's `host:port/` is not a tag); `latest` when no tag is given, as docker does.
pub fn split_reference(image: &str) -> (&str, &str) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, "latest"),
    }
}

/// Refuses a name already used, and host ports another container already publishes.
pub async fn preflight(docker: &Docker, options: &RunOptions) -> anyhow::Result<()> {
    if let Ok(existing) = docker.inspect_container(&options.name, None).await {
        let status = existing.state.and_then(|s| s.status).map(|s| s.to_string()).unwrap_or_default();
        let id: String = existing.id.unwrap_or_default().chars().take(12).collect();
        bail!("a container named {} already exists ({id}, {status}): choose another --name, or remove it (single-image rm {})", options.name, options.name);
    }
    let running = docker.list_containers(Some(ListContainersOptionsBuilder::default().build())).await?;
    for publish in &options.publish {
        for container in &running {
            let taken = container.ports.iter().flatten().any(|p| p.public_port == Some(publish.host_port));
            if taken {
                let name = container
                    .names
                    .iter()
                    .flatten()
                    .next()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default();
                bail!("host port {} is already published by container {name}: pick another host port (-p OTHER:{}) or stop {name}", publish.host_port, publish.container_port);
            }
        }
        if std::net::TcpListener::bind((publish.host_ip.as_str(), publish.host_port)).is_err() {
            bail!(
                "host port {} is already in use on this machine: pick another host port (-p OTHER:{})",
                publish.host_port,
                publish.container_port
            );
        }
    }
    Ok(())
}

/// `PORT` alone means every address, as `docker run -p` reads it; `IP:PORT` stays.
pub fn on_all_interfaces(publish: &str) -> String {
    if publish.contains(':') {
        publish.to_string()
    } else {
        format!("0.0.0.0:{publish}")
    }
}

/// Creates and starts the container; returns its id.
pub async fn run(docker: &Docker, options: &RunOptions) -> anyhow::Result<String> {
    ensure_image(docker, &options.image, options.pull).await?;
    preflight(docker, options).await?;
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &options.publish {
        bindings
            .entry(format!("{}/{}", p.container_port, p.protocol))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding { host_ip: Some(p.host_ip.clone()), host_port: Some(p.host_port.to_string()) });
    }
    // As `docker run -p` does: a published port is exposed too, or the engine ignores its binding
    // when the image does not EXPOSE it.
    let exposed: Vec<String> = bindings.keys().cloned().collect();
    let body = ContainerCreateBody {
        image: Some(options.image.clone()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        env: Some(options.env.clone()),
        labels: Some(HashMap::from([(LABEL.to_string(), "true".to_string())])),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            binds: (!options.binds.is_empty()).then(|| options.binds.clone()),
            restart_policy: options.restart.as_deref().map(restart_policy).transpose()?,
            network_mode: options.network.clone(),
            tmpfs: (!options.tmpfs.is_empty()).then(|| {
                options
                    .tmpfs
                    .iter()
                    .map(|t| match t.split_once(':') {
                        Some((path, opts)) => (path.to_string(), opts.to_string()),
                        None => (t.clone(), String::new()),
                    })
                    .collect()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&options.name).build()), body)
        .await
        .with_context(|| format!("cannot create container {}", options.name))?;
    if let Err(e) = docker.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>).await
    {
        let _ = remove(docker, &created.id).await;
        bail!("cannot start {}: {}", options.name, one_line(&e.to_string()));
    }
    Ok(created.id)
}

/// `--restart`'s forms, as `docker run` reads them.
pub fn restart_policy(text: &str) -> anyhow::Result<RestartPolicy> {
    let (name, count) = match text.split_once(':') {
        Some((name, count)) => (name, Some(count)),
        None => (text, None),
    };
    let name = match name {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => bail!("--restart {other}: the policies are no, always, unless-stopped and on-failure[:N]"),
    };
    let maximum_retry_count = match count {
        Some(count) if name == RestartPolicyNameEnum::ON_FAILURE => {
            Some(count.parse().map_err(|_| anyhow::anyhow!("--restart {text}: {count} is not a number"))?)
        }
        Some(_) => bail!("--restart {text}: only on-failure takes a count"),
        None => None,
    };
    Ok(RestartPolicy { name: Some(name), maximum_retry_count })
}

/// Set in the grader's sandbox, which has no network: a published port cannot be reached from
/// there (the grader waits for it from the host instead).
pub const NO_NETWORK: &str = "CLABS_NO_NETWORK";

/// Waits until `127.0.0.1:port` accepts connections, or the container stops. Without a network
/// (see [`NO_NETWORK`]) it waits only until the container runs.
pub async fn wait_for_port(docker: &Docker, id: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let reachable = std::env::var_os(NO_NETWORK).is_none();
    while tokio::time::Instant::now() < deadline {
        if !reachable && docker.inspect_container(id, None).await?.state.and_then(|s| s.running) == Some(true) {
            return Ok(());
        }
        if reachable && port_answers(port).await {
            return Ok(());
        }
        let state = docker.inspect_container(id, None).await?.state.unwrap_or_default();
        if state.running != Some(true) {
            bail!(
                "the container stopped (exit code {}) before port {port} answered: see its logs",
                state.exit_code.unwrap_or(-1)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("port {port} did not answer within {} s", timeout.as_secs())
}

/// Whether a server really answers on `127.0.0.1:port`. A published port is held by docker-proxy,
/// which accepts connections before the app inside listens and then closes or resets them; so a
/// connection counts only if it is neither closed nor reset at once (the server waits for a
/// request, or has already said something).
pub async fn port_answers(port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return false };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await {
        Err(_) => true,
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
    }
}

/// The container's output so far (stdout and stderr).
pub async fn logs(docker: &Docker, id: &str) -> anyhow::Result<String> {
    let mut stream = docker.logs(id, Some(LogsOptionsBuilder::default().stdout(true).stderr(true).build()));
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk?.into_bytes()));
    }
    Ok(text)
}

/// Stops (10 s grace) and removes the container and its anonymous volumes.
pub async fn remove(docker: &Docker, id: &str) -> anyhow::Result<()> {
    let _ = docker.stop_container(id, Some(StopContainerOptionsBuilder::default().t(10).build())).await;
    docker
        .remove_container(id, Some(RemoveContainerOptionsBuilder::default().force(true).v(true).build()))
        .await
        .with_context(|| format!("cannot remove {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let p: Publish = "8080:80".parse().unwrap();
        assert_eq!(
            (p.host_ip.as_str(), p.host_port, p.container_port, p.protocol.as_str()),
            ("0.0.0.0", 8080, 80, "tcp")
        );
        let p: Publish = "127.0.0.1:5353:53/udp".parse().unwrap();
        assert_eq!((p.host_ip.as_str(), p.protocol.as_str()), ("127.0.0.1", "udp"));
        assert_eq!("80".parse::<Publish>().unwrap_err(), "'80' is not HOST:CONTAINER (e.g. -p 8080:80)");
        assert_eq!("0:80".parse::<Publish>().unwrap_err(), "'0:80': '0' is not a port (1-65535)");
        assert_eq!("1:2/sctp".parse::<Publish>().unwrap_err(), "'1:2/sctp': the protocol must be tcp or udp");
    }

    #[test]
    fn restart_policies() {
        let policy = restart_policy("unless-stopped").unwrap();
        assert_eq!((policy.name, policy.maximum_retry_count), (Some(RestartPolicyNameEnum::UNLESS_STOPPED), None));
        let policy = restart_policy("on-failure:3").unwrap();
        assert_eq!((policy.name, policy.maximum_retry_count), (Some(RestartPolicyNameEnum::ON_FAILURE), Some(3)));
        assert!(restart_policy("sometimes").unwrap_err().to_string().contains("the policies are"));
        assert!(restart_policy("always:2").unwrap_err().to_string().contains("only on-failure takes a count"));
    }

    #[test]
    fn references() {
        assert_eq!(split_reference("nginx"), ("nginx", "latest"));
        assert_eq!(split_reference("nginx:1.27"), ("nginx", "1.27"));
        assert_eq!(split_reference("registry:5000/team/app"), ("registry:5000/team/app", "latest"));
        assert_eq!(split_reference("registry:5000/team/app:2"), ("registry:5000/team/app", "2"));
    }
}
