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
/// container when `None`, as a down and up). The containers of a role are replaced at once. A
/// down and up stops them all, dependents first, and brings them back as Compose's `up` does:
/// in waves by `depends_on` (Compose v2 records it on each container), each wave healthy before
/// the next starts; where no container records it (Compose v1), one at a time in the order they
/// were first created.
pub async fn recreate(docker: &Docker, project: &str, select: Option<&Select>, vars: &Vars) -> Result<(), String> {
    let mut containers = project_containers(docker, project).await?;
    if let Some(select) = select {
        containers = super::container::of_role(docker, containers, select, vars).await;
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
    if select.is_some() {
        let replaced = futures_util::future::join_all(inspected.iter().map(|found| async move {
            stop(docker, found).await?;
            replace(docker, found, false).await
        }))
        .await;
        return replaced.into_iter().collect();
    }
    let waves = waves(&inspected);
    for wave in waves.iter().rev() {
        let stopped = futures_util::future::join_all(wave.iter().map(|&i| stop(docker, &inspected[i]))).await;
        stopped.into_iter().collect::<Result<(), String>>()?;
    }
    for wave in &waves {
        let started = futures_util::future::join_all(wave.iter().map(|&i| replace(docker, &inspected[i], true))).await;
        started.into_iter().collect::<Result<(), String>>()?;
    }
    Ok(())
}

/// The label Compose v2 records a container's `depends_on` in: `db:service_healthy:false,...`.
const DEPENDS_LABEL: &str = "com.docker.compose.depends_on";

/// `containers` (in the order they were created) in start waves: each wave's dependencies all in
/// earlier waves. Without Compose v2's record of `depends_on` on every container, a wave each.
fn waves(containers: &[ContainerInspectResponse]) -> Vec<Vec<usize>> {
    let labels = |c: &ContainerInspectResponse| c.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
    let service = |c: &ContainerInspectResponse| labels(c).get("com.docker.compose.service").cloned();
    let recorded: Option<Vec<Vec<String>>> = containers
        .iter()
        .map(|c| {
            labels(c).get(DEPENDS_LABEL).map(|d| {
                d.split(',')
                    .filter_map(|entry| entry.split(':').next())
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
        })
        .collect();
    let Some(depends) = recorded else {
        return (0..containers.len()).map(|i| vec![i]).collect();
    };
    let services: Vec<Option<String>> = containers.iter().map(service).collect();
    let mut placed = vec![false; containers.len()];
    let mut waves = Vec::new();
    while placed.iter().any(|p| !p) {
        let wave: Vec<usize> = (0..containers.len())
            .filter(|&i| !placed[i])
            .filter(|&i| {
                // Every container of each dependency (a service may have several) is placed;
                // a dependency with no container here (another profile) does not hold it back.
                depends[i]
                    .iter()
                    .all(|dep| (0..containers.len()).all(|j| services[j].as_deref() != Some(dep.as_str()) || placed[j]))
            })
            .collect();
        // A cycle Compose would have refused: the rest one at a time, in creation order.
        if wave.is_empty() {
            waves.extend((0..containers.len()).filter(|&i| !placed[i]).map(|i| vec![i]));
            break;
        }
        for &i in &wave {
            placed[i] = true;
        }
        waves.push(wave);
    }
    waves
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

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, depends: Option<&str>) -> ContainerInspectResponse {
        let mut labels = HashMap::from([("com.docker.compose.service".to_string(), service.to_string())]);
        if let Some(depends) = depends {
            labels.insert(DEPENDS_LABEL.to_string(), depends.to_string());
        }
        ContainerInspectResponse {
            config: Some(bollard::models::ContainerConfig { labels: Some(labels), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn a_stack_comes_back_in_waves_of_what_it_depends_on() {
        // Lab 3's answer, in creation order, as Compose v2 labels it.
        let stack = [
            container("wordpress-db", Some("")),
            container("nextcloud-db", Some("")),
            container("redis", Some("")),
            container("wordpress", Some("wordpress-db:service_healthy:false")),
            container("nextcloud", Some("nextcloud-db:service_healthy:false,redis:service_healthy:false")),
            container("proxy", Some("wordpress:service_healthy:false,nextcloud:service_healthy:false")),
        ];
        assert_eq!(waves(&stack), vec![vec![0, 1, 2], vec![3, 4], vec![5]]);
        // Compose v1 records no depends_on: one at a time, in creation order.
        let v1 = [container("db", None), container("web", None)];
        assert_eq!(waves(&v1), vec![vec![0], vec![1]]);
        // A dependency with no container here (a profile not started) holds nothing back.
        let partial = [container("web", Some("debug:service_started:false"))];
        assert_eq!(waves(&partial), vec![vec![0]]);
    }
}
