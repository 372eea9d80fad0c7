//! Whether the engine is stuck: it still answers pings, but no longer about its containers.

use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use std::time::Duration;

/// Whether the engine has stopped answering about its containers: listing them, or inspecting
/// any one, takes longer than `patience`. (A deadlocked dockerd still answers a ping.) Returns
/// what took too long.
pub async fn stuck(docker: &Docker, patience: Duration) -> Option<String> {
    let options = ListContainersOptionsBuilder::default().all(true).build();
    let containers = match tokio::time::timeout(patience, docker.list_containers(Some(options))).await {
        Err(_) => return Some(format!("listing containers took over {} s", patience.as_secs())),
        Ok(Err(_)) => return None,
        Ok(Ok(containers)) => containers,
    };
    for container in containers {
        let (Some(id), names) = (container.id, container.names.unwrap_or_default()) else { continue };
        let name = names.first().map_or(id.as_str(), |n| n.trim_start_matches('/'));
        if tokio::time::timeout(patience, docker.inspect_container(&id, None)).await.is_err() {
            return Some(format!("inspecting container {name} took over {} s", patience.as_secs()));
        }
    }
    None
}
