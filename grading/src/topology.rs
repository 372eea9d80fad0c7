//! What was running while a lab was graded, for the report's picture: the containers the lab's
//! services make (by name, or every container of its Compose project), their networks, volumes
//! and published ports, and which of them are at fault.
//!
//! Read from the Docker Engine API right after the checks ran and before anything is stopped. It
//! only reads: nothing is started, changed or removed. A container is *at fault* when it is not
//! running, restarts, reports unhealthy, or a failed container check names it.

pub use crate::picture::{Container, Mount, Published, Tier, Topology};
use crate::report::{Report, Status, NOT_STARTED};
use crate::rubric::StepRubric;
use crate::vars::Vars;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What to draw: containers by name, and every container of these Compose projects.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub names: Vec<String>,
    pub compose_projects: Vec<String>,
}

impl Scope {
    /// The containers the selected steps' container checks look at (names and projects), beside
    /// what the lab's services create (`names`, `projects`), variables expanded.
    pub fn of(steps: &[StepRubric], vars: &Vars, names: &[String], projects: &[String]) -> Scope {
        let mut scope = Scope {
            names: names.iter().map(|n| vars.expand(n)).collect(),
            compose_projects: projects.iter().map(|p| vars.expand(p)).collect(),
        };
        for check in steps.iter().flat_map(|s| &s.rubric.checks) {
            let looks = check.kind.kind().looks_at();
            scope.names.extend(looks.name.map(|n| vars.expand(n)));
            scope.compose_projects.extend(looks.project.map(|p| vars.expand(p)));
        }
        for list in [&mut scope.names, &mut scope.compose_projects] {
            list.sort();
            list.dedup();
        }
        scope
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.compose_projects.is_empty()
    }
}

/// Reads the containers in `scope` (none found: `None`). `vars` gives the roles: each variable
/// `X_images` names the image families of role X (`database_images = "mariadb mysql"`); the
/// families every lab uses have their roles already.
pub async fn capture(
    docker: &bollard::Docker,
    scope: &Scope,
    role_families: &BTreeMap<String, Vec<String>>,
) -> Option<Topology> {
    if scope.is_empty() {
        return None;
    }
    let mut ids: Vec<String> = Vec::new();
    for project in &scope.compose_projects {
        if let Ok(found) = crate::check::project_containers(docker, project).await {
            ids.extend(found.into_iter().filter_map(|c| c.id));
        }
    }
    for name in &scope.names {
        let filters: HashMap<&str, Vec<String>> = [("name", vec![format!("^/{}$", regex::escape(name))])].into();
        let options =
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        if let Ok(found) = docker.list_containers(Some(options)).await {
            ids.extend(found.into_iter().filter_map(|c| c.id));
        }
    }
    let mut seen = BTreeSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    let roles = roles(role_families);
    let mut containers = Vec::new();
    for id in ids {
        let Ok(found) = docker.inspect_container(&id, None).await else { continue };
        let mut container = container_of(&found, &roles);
        if !roles.contains_key(&crate::check::family(&container.image)) {
            // A built image (Compose's `build:`): drawn as what it runs.
            let runs = crate::check::image_runs(docker, found.image.as_deref().unwrap_or_default()).await;
            if let Some(role) = runs.iter().find_map(|r| roles.get(r)) {
                container.tier = tier_of(role);
                container.role = role.clone();
            }
        }
        containers.push(container);
    }
    if containers.is_empty() {
        return None;
    }
    containers.sort_by(|a, b| (a.tier, &a.name).cmp(&(b.tier, &b.name)));
    Some(Topology { containers })
}

/// Family -> role, from the course's catalogue of roles (role -> its image families).
fn roles(catalogue: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, String> {
    let mut roles = BTreeMap::new();
    for (role, families) in catalogue {
        for family in families {
            roles.insert(family.to_ascii_lowercase(), role.clone());
        }
    }
    roles
}

fn tier_of(role: &str) -> Tier {
    match role {
        "front door" => Tier::FrontDoor,
        "database" | "cache" => Tier::Data,
        _ => Tier::App,
    }
}

fn container_of(found: &bollard::models::ContainerInspectResponse, roles: &BTreeMap<String, String>) -> Container {
    let name = found.name.as_deref().unwrap_or("?").trim_start_matches('/').to_string();
    let config = found.config.clone().unwrap_or_default();
    let image = config.image.clone().unwrap_or_default();
    let family = crate::check::family(&image);
    let role = roles.get(&family).cloned().unwrap_or_else(|| "app".to_string());
    let state = found.state.clone().unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
    let state_text = match (status.as_str(), state.exit_code) {
        ("exited", Some(code)) => format!("exited ({code})"),
        _ => status.clone(),
    };
    let health = state.health.and_then(|h| h.status).map(|s| s.to_string()).filter(|s| s != "none" && !s.is_empty());
    let settings = found.network_settings.clone().unwrap_or_default();
    let mut networks: Vec<String> = settings.networks.clone().unwrap_or_default().into_keys().collect();
    networks.sort();
    // `--network container:X` shares X's namespace: drawn as X's networks (filled in below).
    let mode = found.host_config.as_ref().and_then(|h| h.network_mode.clone()).unwrap_or_default();
    if let Some(other) = mode.strip_prefix("container:") {
        networks = vec![format!("namespace of {}", short(other))];
    }
    let mut published: Vec<Published> = settings
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(port, bindings)| {
            bindings.unwrap_or_default().into_iter().map(move |b| Published {
                host_ip: b.host_ip.unwrap_or_default(),
                host_port: b.host_port.unwrap_or_default(),
                container_port: port.clone(),
            })
        })
        .filter(|p| !p.host_port.is_empty())
        .collect();
    published.sort_by(|a, b| (&a.host_port, &a.host_ip).cmp(&(&b.host_port, &b.host_ip)));
    published.dedup_by(|a, b| a.host_port == b.host_port && a.container_port == b.container_port);
    let mut mounts: Vec<Mount> = found
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let kind = m.typ.map(|t| t.to_string()).unwrap_or_default();
            let source = match kind.as_str() {
                "volume" => m.name.clone().map(|n| if is_anonymous(&n) { n[..12].to_string() } else { n }),
                _ => m.source.clone(),
            };
            Mount { kind, source: source.unwrap_or_default(), target: m.destination.unwrap_or_default() }
        })
        .collect();
    mounts.sort_by(|a, b| a.target.cmp(&b.target));
    let mut faults = Vec::new();
    if status != "running" {
        faults.push(format!("not running: {state_text}"));
    }
    if state.restarting == Some(true) && status == "running" {
        faults.push("restarting".to_string());
    }
    if health.as_deref() == Some("unhealthy") {
        faults.push("unhealthy".to_string());
    }
    Container {
        tier: tier_of(&role),
        id: found.id.clone().unwrap_or_default(),
        name,
        image,
        role,
        state: state_text,
        health,
        networks,
        published,
        mounts,
        faults,
    }
}

fn is_anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A container id or name, short enough to read.
fn short(id: &str) -> &str {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..12]
    } else {
        id
    }
}

/// Marks the containers failed container checks are about (by name, Compose service, or role),
/// and fills in the namespace a container shares with its owner's networks.
pub fn mark(topology: &mut Topology, report: &Report, steps: &[StepRubric], vars: &Vars) {
    // Checks that ran and failed: not those failed unrun because the services did not start.
    let failed: BTreeSet<&str> = report
        .checks()
        .filter(|(_, c)| c.status == Status::Failed && c.expected.as_deref() != Some(NOT_STARTED))
        .map(|(_, c)| c.id.as_str())
        .collect();
    for check in steps.iter().flat_map(|s| &s.rubric.checks) {
        if !failed.contains(check.id.as_str()) {
            continue;
        }
        for container in &mut topology.containers {
            if check.kind.kind().is_about(container, vars) {
                container.faults.push(format!("failed {}", check.id));
            }
        }
    }
    // Containers in another's namespace share its networks (and reach it on loopback). The
    // engine names the owner by id (or by name, as it was given).
    let owners: Vec<(String, String, Vec<String>)> =
        topology.containers.iter().map(|c| (c.id.clone(), c.name.clone(), c.networks.clone())).collect();
    for container in &mut topology.containers {
        if let Some(owner) = container.networks.first().and_then(|n| n.strip_prefix("namespace of ")) {
            let owner = owner.to_string();
            let shared =
                owners.iter().find(|(id, name, _)| *name == owner || (!owner.is_empty() && id.starts_with(&owner)));
            if let Some((_, name, networks)) = shared {
                let mut mine = networks.clone();
                mine.push(format!("namespace of {name}"));
                container.networks = mine;
            }
        }
    }
    // Whoever's namespace is shared counts as on it too.
    let shared: Vec<String> = topology
        .containers
        .iter()
        .flat_map(|c| c.networks.iter().filter(|n| n.starts_with("namespace of ")).cloned())
        .collect();
    for container in &mut topology.containers {
        let own = format!("namespace of {}", container.name);
        if shared.contains(&own) && !container.networks.contains(&own) {
            container.networks.push(own);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, role: &str, networks: &[&str]) -> Container {
        Container {
            id: format!("{name}-id"),
            name: name.into(),
            image: format!("{role}:1"),
            role: role.into(),
            tier: tier_of(role),
            state: "running".into(),
            health: None,
            networks: networks.iter().map(|n| n.to_string()).collect(),
            published: Vec::new(),
            mounts: Vec::new(),
            faults: Vec::new(),
        }
    }

    #[test]
    fn a_request_goes_from_the_front_door_to_the_apps_and_on_to_their_data_over_shared_networks() {
        let topology = Topology {
            containers: vec![
                container("proxy", "front door", &["front"]),
                container("wp", "wordpress", &["front", "back", "bridge"]),
                container("nc", "nextcloud", &["front", "back"]),
                container("db", "database", &["back"]),
                container("lonely", "cache", &["elsewhere"]),
                container("stranger", "database", &["bridge"]),
            ],
        };
        assert_eq!(topology.hops(), vec![(0, 1), (0, 2), (1, 3), (2, 3)]);
    }

    #[test]
    fn a_container_in_anothers_namespace_shares_its_networks_and_reaches_it() {
        let mut owner = container("lab2-proxy", "static-site", &["bridge"]);
        owner.id = "8f1bf60fa85b0123".into();
        let mut topology = Topology {
            containers: vec![container("lab2-proxy-nginx", "front door", &["namespace of 8f1bf60fa85b"]), owner],
        };
        mark(&mut topology, &crate::report::sample(), &[], &Vars::new());
        assert_eq!(topology.containers[0].networks, ["bridge", "namespace of lab2-proxy"]);
        assert_eq!(topology.containers[1].networks, ["bridge", "namespace of lab2-proxy"]);
        assert_eq!(topology.hops(), vec![(0, 1)]);
    }

    #[test]
    fn roles_come_from_the_courses_image_families() {
        let catalogue: BTreeMap<String, Vec<String>> = [
            ("front door", &["nginx", "Caddy"][..]),
            ("database", &["mariadb"]),
            ("cache", &["redis"]),
            ("WordPress", &["wordpress"]),
        ]
        .into_iter()
        .map(|(role, families)| (role.to_string(), families.iter().map(|f| f.to_string()).collect()))
        .collect();
        let roles = roles(&catalogue);
        assert_eq!(roles["wordpress"], "WordPress");
        assert_eq!(roles["caddy"], "front door");
        assert_eq!(roles["mariadb"], "database");
        assert_eq!(tier_of(&roles["redis"]), Tier::Data);
        assert_eq!(tier_of(&roles["wordpress"]), Tier::App);
        assert!(!roles.contains_key("portfolio"), "anything else is an app");
    }
}
