//! Runs the portfolio and its database as two containers, the way the lab asks:
//! a user-defined network between them, the database on a named volume and not published,
//! the web app published on the host. `recreate` replaces one container and keeps the data.

use anyhow::{bail, Context};
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount, MountType, NetworkCreateRequest, PortBinding,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;

/// The label on everything the stack creates.
pub use policy::labels::{MANAGED as LABEL, PROJECT as PROJECT_LABEL};

/// Which container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Web,
    Db,
}

/// One stack's names, images, port and passwords.
#[derive(Debug, Clone)]
pub struct Stack {
    pub project: String,
    pub web_port: u16,
    pub web_image: String,
    pub db_image: String,
    pub db_root_password: String,
    pub db_password: String,
}

impl Stack {
    pub fn network(&self) -> String {
        format!("{}-net", self.project)
    }
    pub fn volume(&self) -> String {
        format!("{}-db-data", self.project)
    }
    pub fn container(&self, role: Role) -> String {
        match role {
            Role::Web => format!("{}-web", self.project),
            Role::Db => format!("{}-db", self.project),
        }
    }
    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(LABEL.to_string(), "true".to_string()), (PROJECT_LABEL.to_string(), self.project.clone())])
    }

    fn body(&self, role: Role) -> ContainerCreateBody {
        let database = "portfolio";
        match role {
            Role::Db => ContainerCreateBody {
                image: Some(self.db_image.clone()),
                env: Some(vec![
                    format!("MARIADB_ROOT_PASSWORD={}", self.db_root_password),
                    format!("MARIADB_DATABASE={database}"),
                    "MARIADB_USER=portfolio".into(),
                    format!("MARIADB_PASSWORD={}", self.db_password),
                ]),
                labels: Some(self.labels()),
                healthcheck: Some(HealthConfig {
                    test: Some(vec![
                        "CMD".into(),
                        "healthcheck.sh".into(),
                        "--connect".into(),
                        "--innodb_initialized".into(),
                    ]),
                    interval: Some(1_000_000_000),
                    retries: Some(60),
                    ..Default::default()
                }),
                host_config: Some(HostConfig {
                    network_mode: Some(self.network()),
                    mounts: Some(vec![Mount {
                        target: Some("/var/lib/mysql".into()),
                        source: Some(self.volume()),
                        typ: Some(MountType::VOLUME),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Role::Web => ContainerCreateBody {
                image: Some(self.web_image.clone()),
                env: Some(vec![
                    format!("MYSQL_HOST={}", self.container(Role::Db)),
                    "MYSQL_USER=portfolio".into(),
                    format!("MYSQL_PASSWORD={}", self.db_password),
                    format!("MYSQL_DATABASE={database}"),
                ]),
                labels: Some(self.labels()),
                host_config: Some(HostConfig {
                    network_mode: Some(self.network()),
                    port_bindings: Some(HashMap::from([(
                        "5000/tcp".to_string(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(self.web_port.to_string()),
                        }]),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }
}

/// Creates what is missing and starts it: network, volume, database (waits until healthy), web (waits for its port).
pub async fn up(docker: &Docker, stack: &Stack) -> anyhow::Result<()> {
    // Both images first (pulled when missing, like `docker run`), so a missing one creates nothing.
    for image in [&stack.db_image, &stack.web_image] {
        single_image::ensure_image(docker, image, single_image::Pull::Missing).await?;
    }
    if docker.inspect_network(&stack.network(), None::<bollard::query_parameters::InspectNetworkOptions>).await.is_err()
    {
        let request =
            NetworkCreateRequest { name: stack.network(), labels: Some(stack.labels()), ..Default::default() };
        docker.create_network(request).await.context("cannot create the network")?;
    }
    if docker.inspect_volume(&stack.volume()).await.is_err() {
        let request =
            VolumeCreateRequest { name: Some(stack.volume()), labels: Some(stack.labels()), ..Default::default() };
        docker.create_volume(request).await.context("cannot create the database volume")?;
    }
    start(docker, stack, Role::Db).await?;
    start(docker, stack, Role::Web).await
}

/// Creates and starts one container if it is not running, and waits until it is ready.
pub async fn start(docker: &Docker, stack: &Stack, role: Role) -> anyhow::Result<()> {
    let name = stack.container(role);
    if docker.inspect_container(&name, None).await.is_err() {
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        docker
            .create_container(Some(options), stack.body(role))
            .await
            .with_context(|| format!("cannot create {name}"))?;
    }
    let _ = docker.start_container(&name, None::<bollard::query_parameters::StartContainerOptions>).await;
    match role {
        Role::Db => wait_healthy(docker, &name, Duration::from_secs(120)).await,
        Role::Web => wait_port(docker, &name, stack.web_port, Duration::from_secs(120)).await,
    }
}

async fn wait_healthy(docker: &Docker, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let state = docker.inspect_container(name, None).await?.state.unwrap_or_default();
        if state.running != Some(true) {
            bail!(
                "{name} stopped (exit code {}) before it was healthy: see `docker logs {name}`",
                state.exit_code.unwrap_or(-1)
            );
        }
        if state.health.and_then(|h| h.status).map(|s| s.to_string()).as_deref() == Some("healthy") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("{name} was not healthy within {} s", timeout.as_secs())
}

/// Waits until the published port really answers (see [`single_image::port_answers`]).
async fn wait_port(docker: &Docker, name: &str, port: u16, timeout: Duration) -> anyhow::Result<()> {
    single_image::wait_for_port(docker, name, port, timeout)
        .await
        .with_context(|| format!("{name} is not serving (see `docker logs {name}`)"))
}

async fn remove(docker: &Docker, name: &str) {
    let _ = docker.stop_container(name, Some(StopContainerOptionsBuilder::default().t(10).build())).await;
    let _ = docker.remove_container(name, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
}

/// Replaces one container with a new one from the same image (the data stays on the volume).
pub async fn recreate(docker: &Docker, stack: &Stack, role: Role) -> anyhow::Result<()> {
    remove(docker, &stack.container(role)).await;
    start(docker, stack, role).await?;
    if role == Role::Db {
        // The web app's connections died with the old database; it reconnects on the next request.
        wait_port(docker, &stack.container(Role::Web), stack.web_port, Duration::from_secs(60)).await?;
    }
    Ok(())
}

/// Removes both containers and the network; the volume too only when asked.
pub async fn down(docker: &Docker, stack: &Stack, remove_volume: bool) -> anyhow::Result<()> {
    remove(docker, &stack.container(Role::Web)).await;
    remove(docker, &stack.container(Role::Db)).await;
    let _ = docker.remove_network(&stack.network()).await;
    if remove_volume {
        let _ = docker.remove_volume(&stack.volume(), None::<bollard::query_parameters::RemoveVolumeOptions>).await;
    }
    Ok(())
}

/// One line per container: name and state (with health for the database).
pub async fn status(docker: &Docker, stack: &Stack) -> Vec<String> {
    let mut lines = Vec::new();
    for role in [Role::Db, Role::Web] {
        let name = stack.container(role);
        let line = match docker.inspect_container(&name, None).await {
            Ok(found) => {
                let state = found.state.unwrap_or_default();
                let health = state.health.and_then(|h| h.status).map(|s| format!(" ({s})")).unwrap_or_default();
                format!("{name}: {}{health}", state.status.map(|s| s.to_string()).unwrap_or_default())
            }
            Err(_) => format!("{name}: not created"),
        };
        lines.push(line);
    }
    let volume = if docker.inspect_volume(&stack.volume()).await.is_ok() { "present" } else { "absent" };
    lines.push(format!("{}: {volume}", stack.volume()));
    lines
}
