//! Recreating a Compose project's containers through the Engine API, as `docker compose up
//! --force-recreate` and `docker compose down` + `up` do - without the compose file: each
//! container is replaced by one made from its own inspected configuration (image, environment,
//! command, labels, healthcheck, mounts, ports, networks with their aliases). Volumes are never
//! removed: named volumes carry over, and so do anonymous ones on a recreate (as Compose keeps
//! them); on a down and up they start empty, as they would with Compose.
//!
//! Persistence checks use it on a stack the grader started (`--up`) and, when the student allows
//! it, on one they brought up by hand - the grader needs no compose file and runs nothing of
//! theirs.

use super::container::project_containers;
use super::select::Select;
use crate::vars::Vars;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, EndpointSettings, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long a recreated container may take to be running (and healthy, when it has a healthcheck).
const READY: Duration = Duration::from_secs(180);

/// Recreates the containers of Compose project `project` that run `select`'s images (every
/// container when `None`, as a down and up: all stop first, then all come back in the order they
/// were first created, each healthy before the next starts, as `depends_on` would have it).
pub async fn recreate(docker: &Docker, project: &str, select: Option<&Select>, vars: &Vars) -> Result<(), String> {
    let mut containers = project_containers(docker, project).await?;
    if let Some(select) = select {
        containers.retain(|c| c.image.as_deref().is_some_and(|i| select.matches(i, vars)));
        if containers.is_empty() {
            return Err(format!("no container of compose project {project} runs {}", select.describe(vars)));
        }
    }
    containers.sort_by_key(|c| c.created.unwrap_or(0));
    let mut inspected = Vec::new();
    for container in &containers {
        let id = container.id.clone().unwrap_or_default();
        inspected.push(docker.inspect_container(&id, None).await.map_err(|e| format!("inspecting {id} failed: {e}"))?);
    }
    let down_and_up = select.is_none();
    if down_and_up {
        for found in inspected.iter().rev() {
            stop(docker, found).await?;
        }
    }
    for found in &inspected {
        if !down_and_up {
            stop(docker, found).await?;
        }
        replace(docker, found, down_and_up).await?;
    }
    Ok(())
}

/// Recreates one container, found by name, from its own inspected configuration, as `docker rm
/// -f` and the same `docker run` again do: named volumes and bind mounts carry over, anonymous
/// volumes (an image's `VOLUME` nothing mounts) start empty.
pub async fn recreate_container(docker: &Docker, name: &str) -> Result<(), String> {
    let found = docker.inspect_container(name, None).await.map_err(|e| {
        format!("no container {name} to recreate: {}", e.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
    })?;
    stop(docker, &found).await?;
    replace(docker, &found, true).await
}

async fn stop(docker: &Docker, found: &ContainerInspectResponse) -> Result<(), String> {
    let id = found.id.clone().unwrap_or_default();
    let options = StopContainerOptionsBuilder::default().t(10).build();
    match docker.stop_container(&id, Some(options)).await {
        Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 304 | 404, .. }) => Ok(()),
        Err(e) => Err(format!("stopping {} failed: {e}", name(found))),
    }
}

fn name(found: &ContainerInspectResponse) -> String {
    found.name.clone().unwrap_or_default().trim_start_matches('/').to_string()
}

/// Removes `found` (never its volumes) and creates and starts one like it under the same name.
async fn replace(docker: &Docker, found: &ContainerInspectResponse, fresh_anonymous: bool) -> Result<(), String> {
    let name = name(found);
    let id = found.id.clone().unwrap_or_default();
    let config = found.config.clone().unwrap_or_default();
    let mut host = found.host_config.clone().unwrap_or_default();
    // Anonymous volumes (64 hex digits) named in the configuration - the grader's sandbox turns
    // anonymous volumes into such - are kept on a recreate and new on a down and up, as with Compose.
    if fresh_anonymous {
        if let Some(mounts) = &mut host.mounts {
            for mount in mounts.iter_mut() {
                if mount.source.as_deref().is_some_and(anonymous) {
                    let labels = match docker.inspect_volume(mount.source.as_deref().unwrap_or_default()).await {
                        Ok(volume) => volume.labels,
                        Err(_) => HashMap::new(),
                    };
                    let fresh = bollard::models::VolumeCreateRequest { labels: Some(labels), ..Default::default() };
                    let made = docker.create_volume(fresh).await.map_err(|e| format!("cannot make a volume: {e}"))?;
                    mount.source = Some(made.name);
                }
            }
        }
    } else {
        // Volumes the engine made by itself (the image's, not in the configuration) carry over too.
        let declared: Vec<String> = host
            .binds
            .iter()
            .flatten()
            .filter_map(|b| b.split(':').nth(1).map(str::to_string))
            .chain(host.mounts.iter().flatten().filter_map(|m| m.target.clone()))
            .collect();
        let carried: Vec<String> = found
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.name.as_deref().is_some_and(anonymous))
            .filter_map(|m| Some(format!("{}:{}", m.name.clone()?, m.destination.clone()?)))
            .filter(|bind| !declared.iter().any(|d| bind.ends_with(&format!(":{d}"))))
            .collect();
        host.binds.get_or_insert_with(Vec::new).extend(carried);
    }
    let networks = found.network_settings.as_ref().and_then(|n| n.networks.clone()).unwrap_or_default();
    let short_id: String = id.chars().take(12).collect();
    let endpoint = |settings: &EndpointSettings| EndpointSettings {
        aliases: settings.aliases.clone().map(|a| a.into_iter().filter(|a| *a != short_id).collect()),
        links: settings.links.clone(),
        ..Default::default()
    };
    let mode = host.network_mode.clone().unwrap_or_default();
    let first: HashMap<String, EndpointSettings> =
        networks.iter().filter(|(n, _)| **n == mode).map(|(n, s)| (n.clone(), endpoint(s))).collect();
    let body = ContainerCreateBody {
        hostname: None,
        domainname: config.domainname.clone(),
        user: config.user.clone(),
        exposed_ports: config.exposed_ports.clone(),
        tty: config.tty,
        open_stdin: config.open_stdin,
        env: config.env.clone(),
        cmd: config.cmd.clone(),
        healthcheck: config.healthcheck.clone(),
        image: config.image.clone(),
        volumes: config.volumes.clone(),
        working_dir: config.working_dir.clone(),
        entrypoint: config.entrypoint.clone(),
        labels: config.labels.clone(),
        stop_signal: config.stop_signal.clone(),
        stop_timeout: config.stop_timeout,
        host_config: Some(host),
        networking_config: Some(NetworkingConfig { endpoints_config: Some(first) }),
        ..Default::default()
    };
    let options = RemoveContainerOptionsBuilder::default().force(true).v(false).build();
    docker.remove_container(&id, Some(options)).await.map_err(|e| format!("removing {name} failed: {e}"))?;
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
        .await
        .map_err(|e| format!("creating {name} again failed: {e}"))?;
    for (network, settings) in networks.iter().filter(|(n, _)| **n != mode) {
        let connect = bollard::models::NetworkConnectRequest {
            container: created.id.clone(),
            endpoint_config: Some(endpoint(settings)),
        };
        docker.connect_network(network, connect).await.map_err(|e| format!("connecting {name} to {network}: {e}"))?;
    }
    docker
        .start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(|e| format!("starting {name} again failed: {e}"))?;
    ready(docker, &created.id, &name).await
}

/// Waits until the container runs, and is healthy when it has a healthcheck.
async fn ready(docker: &Docker, id: &str, name: &str) -> Result<(), String> {
    let deadline = Instant::now() + READY;
    loop {
        let found = docker.inspect_container(id, None).await.map_err(|e| format!("inspecting {name}: {e}"))?;
        let state = found.state.unwrap_or_default();
        let health = state.health.and_then(|h| h.status).map(|s| s.to_string()).unwrap_or_default();
        if state.running == Some(true) && matches!(health.as_str(), "" | "none" | "healthy") {
            return Ok(());
        }
        if health == "unhealthy" {
            return Err(format!("{name} came back unhealthy"));
        }
        if Instant::now() >= deadline {
            return Err(format!("{name} was not running and healthy {} s after it was recreated", READY.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An anonymous volume's name: 64 hex digits.
fn anonymous(name: &str) -> bool {
    name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit())
}
