//! `container`: a container found through the Docker Engine API - by name, or by the Compose labels
//! both Compose v1 and v2 set - and what its configuration and state must be.
//!
//! ```toml
//! [check.container]
//! compose = { project = "{project}", service = "db" }   # or: name = "web"
//! exec = { command = ["mysql", "-e", "select 1"], output_contains = "1" }   # optional
//! wait_for = { command = ["php", "occ", "status"], output_contains = "installed: true", what = "Nextcloud installed" }   # optional
//! expect = { running = true, healthy = true, not_published = ["3306/tcp"], mounts = { "/var/lib/mysql" = "named-volume" } }
//! ```

use super::select::Select;
use super::{Attempt, Context, Kind, Looks, Mismatch, Needs};
use bollard::models::ContainerInspectResponse;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerCheck {
    /// The container's name.
    pub name: Option<String>,
    /// Or the Compose service (labels `com.docker.compose.project` and `.service`).
    pub compose: Option<ComposeService>,
    /// A command to run in the container and what it must print.
    pub exec: Option<Exec>,
    /// A command that must succeed before the container is judged: the check waits for it, up to
    /// its timeout, then judges once. For what an app finishes only some time after it starts
    /// (Nextcloud's config exists once it has installed itself): a submission without
    /// healthchecks, which nothing else waits for, gets the same result as one with them.
    pub wait_for: Option<Exec>,
    #[serde(default)]
    pub expect: ContainerExpect,
}

/// Containers of a Compose project: one service's, or every container running a role's images.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeService {
    pub project: String,
    /// The service, by name ...
    pub service: Option<String>,
    /// ... or every container of the project whose image is one of the role's (see [`Select`]).
    pub select: Option<Select>,
}

impl ComposeService {
    fn validate(&self) -> Result<(), String> {
        if self.service.is_some() == self.select.is_some() {
            return Err("give the compose service by name or select it by role, one of them".into());
        }
        Ok(())
    }

    pub(crate) fn strings(&self) -> Vec<&str> {
        let mut all = vec![self.project.as_str()];
        all.extend(self.service.as_deref());
        all.extend(self.select.iter().flat_map(Select::strings));
        all
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exec {
    pub command: Vec<String>,
    /// Run as this user (e.g. `www-data` for Nextcloud's `occ`), else the image's user.
    pub user: Option<String>,
    pub output_contains: Option<String>,
    #[serde(default)]
    pub exit_code: i64,
    /// What the command stands for, in the report's words (for `wait_for`: what is waited for).
    pub what: Option<String>,
}

/// What a mount at a target path must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MountKind {
    /// A volume with a name someone chose (not an anonymous 64-hex-digit one).
    NamedVolume,
    /// Any volume.
    Volume,
    /// A bind mount of a host path.
    Bind,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerExpect {
    pub running: Option<bool>,
    /// Has a healthcheck and it reports healthy.
    pub healthy: Option<bool>,
    pub max_restarts: Option<u32>,
    /// The image is pinned: a tag naming a version, or a digest (`policy::image_version_problem`).
    pub explicit_tag: Option<bool>,
    /// The engine starts it again on its own after a crash or a reboot: a restart policy of
    /// `always`, `unless-stopped` or `on-failure`.
    pub restarts_itself: Option<bool>,
    /// Container ports ("80/tcp") that must be published on the host.
    #[serde(default)]
    pub published: Vec<String>,
    /// Container ports that must not be published.
    #[serde(default)]
    pub not_published: Vec<String>,
    /// Target path -> what must be mounted there.
    #[serde(default)]
    pub mounts: BTreeMap<String, MountKind>,
    /// Other containers (by name) that must share a user-defined network with this one.
    #[serde(default)]
    pub shares_network_with: Vec<String>,
    /// Breaks none of the `policy` crate's rules: not privileged, no added capabilities, no
    /// devices, default security profiles, no host namespaces, no Docker socket (default: not checked).
    pub confined: Option<bool>,
    /// Substrings the container's logs (stdout and stderr) must contain.
    #[serde(default)]
    pub logs_contain: Vec<String>,
}

impl ContainerCheck {
    fn describe(&self, ctx: &Context) -> String {
        match (&self.name, &self.compose) {
            (Some(name), _) => format!("container {}", ctx.vars.expand(name)),
            (_, Some(ComposeService { project, service: Some(service), .. })) => {
                format!("service {} of compose project {}", ctx.vars.expand(service), ctx.vars.expand(project))
            }
            (_, Some(ComposeService { project, select: Some(select), .. })) => {
                format!("the {} of compose project {}", select.role, ctx.vars.expand(project))
            }
            _ => "a container".into(),
        }
    }

    pub(crate) async fn attempt_at(&self, ctx: &Context, deadline: Instant, interval: Duration) -> Attempt {
        let Some(docker) = &ctx.docker else {
            return Attempt::CannotRun("needs a Docker engine, and none was connected".into());
        };
        let what = self.describe(ctx);
        let work = async {
            let all = match find_all(docker, self.name.as_deref(), self.compose.as_ref(), ctx).await {
                Ok(all) => all,
                // A container named in the rubric that is not there when its checks begin (the
                // lab's services, if any, have started) does not appear by waiting.
                Err(actual) if self.name.is_some() && actual.starts_with("no container named") => {
                    return Attempt::Fail(Mismatch::settled(format!("{what} to exist"), actual))
                }
                Err(actual) => return Attempt::Fail(Mismatch::new(format!("{what} to exist"), actual)),
            };
            // Every container of a role must meet the expectations (two databases: both).
            let mut mismatches = Vec::new();
            for found in &all {
                if let Some(ready) = &self.wait_for {
                    if let Err(m) = wait_until_ready(docker, found, ready, ctx, deadline, interval).await {
                        mismatches.push(m);
                        continue;
                    }
                }
                mismatches.extend(judge(found, &self.expect, docker, ctx).await);
                if let Some(exec) = &self.exec {
                    if let Err(m) = run_exec(docker, found, exec, ctx).await {
                        mismatches.push(m);
                    }
                }
            }
            if mismatches.is_empty() {
                Attempt::Pass
            } else {
                Attempt::Fail(Mismatch::join(mismatches))
            }
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Fail(Mismatch::cut_off(
                format!("an answer about {what}"),
                "the Docker engine did not answer before the deadline",
            )),
        }
    }
}

impl Kind for ContainerCheck {
    fn name(&self) -> &'static str {
        "container"
    }

    /// Polled until the deadline, but not with `wait_for`, whose attempt waits for readiness
    /// itself and then judges once (so a fault is reported without waiting).
    fn needs(&self) -> Needs {
        Needs { engine: Some("it reads the containers' state from"), polled: self.wait_for.is_none(), ..Needs::LIVE }
    }

    fn strings(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.name.iter().map(String::as_str).collect();
        if let Some(c) = &self.compose {
            all.extend(c.strings());
        }
        for e in self.exec.iter().chain(&self.wait_for) {
            all.extend(e.command.iter().map(String::as_str));
            all.extend(e.output_contains.as_deref());
            all.extend(e.user.as_deref());
            all.extend(e.what.as_deref());
        }
        all.extend(self.expect.shares_network_with.iter().map(String::as_str));
        all.extend(self.expect.logs_contain.iter().map(String::as_str));
        all
    }

    fn validate(&self) -> Result<(), String> {
        if self.name.is_some() == self.compose.is_some() {
            return Err("give the container's name or its compose service, not both or neither".into());
        }
        if let Some(compose) = &self.compose {
            compose.validate()?;
        }
        for port in self.expect.published.iter().chain(&self.expect.not_published) {
            let ok = port
                .split_once('/')
                .is_some_and(|(n, proto)| n.parse::<u16>().is_ok() && matches!(proto, "tcp" | "udp"));
            if !ok {
                return Err(format!("port '{port}' must look like \"80/tcp\""));
            }
        }
        if self.exec.as_ref().is_some_and(|e| e.command.is_empty()) {
            return Err("exec.command is empty".into());
        }
        if self.wait_for.as_ref().is_some_and(|e| e.command.is_empty()) {
            return Err("wait_for.command is empty".into());
        }
        Ok(())
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, deadline: Instant, interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(self.attempt_at(ctx, deadline, interval))
    }

    fn looks_at(&self) -> Looks<'_> {
        Looks { name: self.name.as_deref(), project: self.compose.as_ref().map(|c| c.project.as_str()) }
    }

    /// By its name or its Compose service. A check of every container of a role (`select`) is
    /// not about one: one sick database fails it for all, and the sick one is marked by its own
    /// state.
    fn is_about(&self, container: &crate::picture::Container, vars: &crate::vars::Vars) -> bool {
        if let Some(name) = &self.name {
            return vars.expand(name) == container.name;
        }
        let Some(compose) = &self.compose else { return false };
        // By service: Compose names its containers project-service-N (v2) or project_service_N (v1).
        let (project, service) = (vars.expand(&compose.project), compose.service.as_deref().map(|s| vars.expand(s)));
        service.is_some_and(|service| {
            [format!("{project}-{service}-"), format!("{project}_{service}_")]
                .iter()
                .any(|p| container.name.starts_with(p))
        })
    }
}

/// Inspects the container(s): by name, the compose service's lowest-numbered container, or every
/// container of the project whose image runs the selected role (at least one).
pub(crate) async fn find_all(
    docker: &bollard::Docker,
    name: Option<&str>,
    compose: Option<&ComposeService>,
    ctx: &Context,
) -> Result<Vec<ContainerInspectResponse>, String> {
    if let Some(name) = name {
        let name = ctx.vars.expand(name);
        let found = docker
            .inspect_container(&name, None)
            .await
            .map_err(|e| not_found(&e, &format!("no container named {name}")))?;
        return Ok(vec![found]);
    }
    let compose = compose.expect("validated: name or compose");
    let project = ctx.vars.expand(&compose.project);
    let containers = project_containers(docker, &project).await?;
    let picked: Vec<String> = match (&compose.service, &compose.select) {
        (Some(service), _) => {
            let service = ctx.vars.expand(service);
            let first = containers
                .iter()
                .find(|c| c.labels.as_ref().and_then(|l| l.get("com.docker.compose.service")) == Some(&service))
                .and_then(|c| c.id.clone())
                .ok_or_else(|| {
                    format!("no container for service {service} in compose project {project} (is the stack up?)")
                })?;
            vec![first]
        }
        (None, Some(select)) => {
            let containers = of_role(docker, containers, select, &ctx.vars).await;
            let ids: Vec<String> = containers.into_iter().filter_map(|c| c.id).collect();
            if ids.is_empty() {
                return Err(format!(
                    "no container of compose project {project} runs {} (is the stack up?)",
                    select.describe(&ctx.vars)
                ));
            }
            ids
        }
        (None, None) => unreachable!("validated: service or select"),
    };
    let mut found = Vec::new();
    for id in picked {
        found.push(docker.inspect_container(&id, None).await.map_err(|e| format!("inspecting {id} failed: {e}"))?);
    }
    Ok(found)
}

/// The containers of Compose project `project` that are its services (no one-off `run`), in the
/// order of their container numbers.
pub(crate) async fn project_containers(
    docker: &bollard::Docker,
    project: &str,
) -> Result<Vec<bollard::models::ContainerSummary>, String> {
    let project_label = format!("com.docker.compose.project={project}");
    let filters: HashMap<&str, Vec<&str>> = [("label", vec![project_label.as_str()])].into_iter().collect();
    let options =
        bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let mut containers =
        docker.list_containers(Some(options)).await.map_err(|e| format!("listing containers failed: {e}"))?;
    containers
        .retain(|c| c.labels.as_ref().and_then(|l| l.get("com.docker.compose.oneoff")).is_none_or(|v| v == "False"));
    containers.sort_by_key(|c| {
        c.labels
            .as_ref()
            .and_then(|l| l.get("com.docker.compose.container-number"))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    Ok(containers)
}

/// The containers of `containers` whose role is `select`'s: by their image's family, or - for an
/// image the submission built (Compose's `build:`) - by what that image runs, as the compose model
/// reads a build's Dockerfile (see [`read_image_runs`]). Order kept.
pub(crate) async fn of_role(
    docker: &bollard::Docker,
    containers: Vec<bollard::models::ContainerSummary>,
    select: &Select,
    vars: &crate::vars::Vars,
) -> Vec<bollard::models::ContainerSummary> {
    let mut kept = Vec::new();
    for container in containers {
        let image = container.image.clone().unwrap_or_default();
        if select.matches(&image, vars) {
            kept.push(container);
            continue;
        }
        let runs = match container.image_id.clone() {
            Some(id) => image_runs(docker, &id).await,
            None => read_image_runs(docker, &image).await,
        };
        if select.matches_any(&runs, vars) {
            kept.push(container);
        }
    }
    kept
}

/// What the image with id `id` runs (see [`read_image_runs`]), asked of the engine once per
/// process: an id names content that never changes, and a check of a running stack looks at the
/// same few images for every role it selects.
pub(crate) async fn image_runs(docker: &bollard::Docker, id: &str) -> Vec<String> {
    static KNOWN: std::sync::OnceLock<std::sync::Mutex<HashMap<String, Vec<String>>>> = std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(runs) = known.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
        return runs.clone();
    }
    let runs = read_image_runs(docker, id).await;
    known.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), runs.clone());
    runs
}

/// What an image runs, as image families, read from the engine: the program its entrypoint or
/// command starts, the packages its own build steps installed, and the tagged image it was built
/// from (its history names the base where the engine has it: the classic builder's history does;
/// BuildKit's leaves out the base's ids, and then the entrypoint and the packages tell).
async fn read_image_runs(docker: &bollard::Docker, image: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut add = |family: String| {
        if !family.is_empty() && !runs.contains(&family) {
            runs.push(family);
        }
    };
    if let Ok(history) = docker.image_history(image).await {
        for (at, layer) in history.iter().enumerate() {
            if at > 0 && !layer.tags.is_empty() {
                for tag in &layer.tags {
                    add(crate::check::family(tag));
                }
                break;
            }
            for package in super::dockerfile::installed_packages(&layer.created_by) {
                add(package);
            }
        }
    }
    if let Ok(inspect) = docker.inspect_image(image).await {
        let config = inspect.config.unwrap_or_default();
        for words in [config.entrypoint, config.cmd].into_iter().flatten() {
            if let Some(program) = super::dockerfile::program_family(&words) {
                add(program);
            }
        }
    }
    runs
}

fn not_found(error: &bollard::errors::Error, message: &str) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => message.to_string(),
        other => format!("the Docker engine answered: {other}"),
    }
}

/// Compares an inspected container with every expectation; returns the mismatches.
async fn judge(
    found: &ContainerInspectResponse,
    expect: &ContainerExpect,
    docker: &bollard::Docker,
    ctx: &Context,
) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let name = found.name.as_deref().unwrap_or("?").trim_start_matches('/').to_string();
    let state = found.state.clone().unwrap_or_default();
    let config = found.config.clone().unwrap_or_default();
    let host = found.host_config.clone().unwrap_or_default();
    let status = state.status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
    if let Some(want) = expect.running {
        let running = state.running.unwrap_or(false);
        if running != want {
            let exit = state.exit_code.map(|c| format!(", exit code {c}")).unwrap_or_default();
            mismatches.push(Mismatch::new(
                format!("{name} {}", if want { "running" } else { "not running" }),
                format!("{name} is {status}{exit}"),
            ));
        }
    }
    if expect.healthy == Some(true) {
        let health = state.health.and_then(|h| h.status).map(|s| s.to_string());
        let test = config
            .healthcheck
            .as_ref()
            .and_then(|h| h.test.as_ref())
            .filter(|t| t.first().is_some_and(|c| c != "NONE"));
        match (test, health.as_deref()) {
            // Made without one: no wait brings one.
            (None, _) => {
                mismatches.push(Mismatch::settled(format!("{name} healthy"), format!("{name} has no healthcheck")))
            }
            (_, None | Some("none") | Some("")) => {
                mismatches.push(Mismatch::new(format!("{name} healthy"), format!("{name} has no healthcheck")))
            }
            (_, Some("healthy")) => {}
            (_, Some(other)) => mismatches.push(Mismatch::new(format!("{name} healthy"), format!("{name} is {other}"))),
        }
    }
    if let Some(max) = expect.max_restarts {
        let restarts = found.restart_count.unwrap_or(0);
        if restarts > i64::from(max) {
            mismatches
                .push(Mismatch::new(format!("at most {max} restarts"), format!("{name} restarted {restarts} times")));
        }
    }
    if expect.explicit_tag == Some(true) {
        let image = config.image.clone().unwrap_or_default();
        if let Some(problem) = policy::image_version_problem(&image) {
            mismatches.push(Mismatch::new(
                "an image pinned to a version (a tag with a version number, or a digest)",
                format!("{name} runs {problem}"),
            ));
        }
    }
    if expect.restarts_itself == Some(true) {
        let policy = host.restart_policy.as_ref().and_then(|p| p.name).map(|n| n.to_string()).unwrap_or_default();
        if !matches!(policy.as_str(), "always" | "unless-stopped" | "on-failure") {
            let policy = if policy.is_empty() { "no".to_string() } else { policy };
            mismatches.push(Mismatch::new(
                "a restart policy: always, unless-stopped or on-failure",
                format!("{name} has restart policy {policy}"),
            ));
        }
    }
    let ports = found.network_settings.as_ref().and_then(|n| n.ports.clone()).unwrap_or_default();
    let bound = |port: &str| {
        ports.get(port).and_then(|b| b.as_ref()).is_some_and(|b| !b.is_empty())
            || host
                .port_bindings
                .as_ref()
                .and_then(|p| p.get(port))
                .and_then(|b| b.as_ref())
                .is_some_and(|b| !b.is_empty())
    };
    for port in &expect.published {
        if !bound(port) {
            mismatches.push(Mismatch::new(
                format!("{port} published on the host"),
                format!("{name} does not publish {port}"),
            ));
        }
    }
    for port in &expect.not_published {
        if bound(port) {
            // The address, not the host port: under the sandbox a fixed port the lab does not
            // name is published on one the engine picks, which would make the message vary.
            let mut on: Vec<String> = ports
                .get(port)
                .and_then(|b| b.clone())
                .unwrap_or_default()
                .iter()
                .map(|b| {
                    Some(b.host_ip.clone().unwrap_or_default()).filter(|ip| !ip.is_empty()).unwrap_or("0.0.0.0".into())
                })
                .collect();
            on.dedup();
            mismatches.push(Mismatch::new(
                format!("{port} not published"),
                format!("{name} publishes {port} on the host ({})", on.join(", ")),
            ));
        }
    }
    let mounts = found.mounts.clone().unwrap_or_default();
    for (target, kind) in &expect.mounts {
        let mount = mounts.iter().find(|m| m.destination.as_deref() == Some(target.as_str()));
        let typ = mount.and_then(|m| m.typ.clone()).unwrap_or_default();
        let volume_name = mount.and_then(|m| m.name.clone()).unwrap_or_default();
        let anonymous = volume_name.len() == 64 && volume_name.chars().all(|c| c.is_ascii_hexdigit());
        let ok = match kind {
            MountKind::NamedVolume => typ == "volume" && !anonymous,
            MountKind::Volume => typ == "volume",
            MountKind::Bind => typ == "bind",
        };
        if !ok {
            let actual = match mount {
                None => format!("nothing is mounted at {target}: its data lives in the container and is lost with it"),
                Some(_) if typ == "volume" && anonymous => format!("an anonymous volume at {target}"),
                Some(m) if typ == "bind" => {
                    format!("a bind mount of {} at {target}", m.source.clone().unwrap_or_default())
                }
                Some(_) => format!("a {typ} mount at {target}"),
            };
            let wanted = match kind {
                MountKind::NamedVolume => "a named volume",
                MountKind::Volume => "a volume",
                MountKind::Bind => "a bind mount",
            };
            mismatches.push(Mismatch::new(format!("{wanted} at {target}"), actual));
        }
    }
    let networks: Vec<String> = found
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    for other in &expect.shares_network_with {
        let other = ctx.vars.expand(other);
        let theirs: Vec<String> = match docker.inspect_container(&other, None).await {
            Ok(o) => o.network_settings.and_then(|n| n.networks).map(|n| n.into_keys().collect()).unwrap_or_default(),
            Err(_) => {
                mismatches.push(Mismatch::new(
                    format!("a user-defined network shared with {other}"),
                    format!("no container named {other}"),
                ));
                continue;
            }
        };
        let shared: Vec<&String> = networks
            .iter()
            .filter(|n| theirs.contains(n) && !matches!(n.as_str(), "bridge" | "host" | "none"))
            .collect();
        if shared.is_empty() {
            mismatches.push(Mismatch::new(
                format!("a user-defined network shared with {other}"),
                format!("{name} is on {}, {other} on {}", list(&networks), list(&theirs)),
            ));
        }
    }
    if expect.confined == Some(true) {
        // The same rules the policy proxy enforces and the static compose rules grade.
        let host = serde_json::to_value(&host).unwrap_or_default();
        for violation in policy::host_config(&host) {
            mismatches.push(Mismatch::new(
                format!("{name} confined: {}", violation.rule.explanation()),
                format!("{name} asks for {violation}"),
            ));
        }
    }
    if !expect.logs_contain.is_empty() {
        let logs = logs(docker, found.id.as_deref().unwrap_or(&name)).await;
        for needle in &expect.logs_contain {
            let needle = ctx.vars.expand(needle);
            if !logs.contains(&needle) {
                let tail: String =
                    logs.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
                mismatches.push(Mismatch::new(
                    format!("logs containing {needle:?}"),
                    format!("{name}'s last log lines: {:?}", super::excerpt(&tail, 200)),
                ));
            }
        }
    }
    mismatches
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no network".into()
    } else {
        names.join(", ")
    }
}

/// The container's stdout and stderr so far (at most the last 1000 lines).
async fn logs(docker: &bollard::Docker, id: &str) -> String {
    let options =
        bollard::query_parameters::LogsOptionsBuilder::default().stdout(true).stderr(true).tail("1000").build();
    let mut stream = docker.logs(id, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    text
}

/// Runs `command` in container `id` (as `user`, if given); returns its exit code and output.
pub(crate) async fn exec_output(
    docker: &bollard::Docker,
    id: &str,
    command: &[String],
    user: Option<&str>,
) -> Result<(i64, String), bollard::errors::Error> {
    let options = bollard::exec::CreateExecOptions {
        cmd: Some(command.to_vec()),
        user: user.map(str::to_string),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let created = docker.create_exec(id, options).await?;
    let mut output = String::new();
    match docker.start_exec(&created.id, None).await? {
        bollard::exec::StartExecResults::Attached { output: mut stream, .. } => {
            while let Some(Ok(chunk)) = stream.next().await {
                output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        bollard::exec::StartExecResults::Detached => {}
    }
    let code = docker.inspect_exec(&created.id).await.ok().and_then(|i| i.exit_code).unwrap_or(-1);
    Ok((code, output))
}

/// Runs `ready` in the container every `interval` until it succeeds; at the deadline, the last
/// finished answer, marked as waited for.
async fn wait_until_ready(
    docker: &bollard::Docker,
    found: &ContainerInspectResponse,
    ready: &Exec,
    ctx: &Context,
    deadline: Instant,
    interval: Duration,
) -> Result<(), Mismatch> {
    let started = Instant::now();
    loop {
        let last = match run_exec(docker, found, ready, ctx).await {
            Ok(()) => return Ok(()),
            Err(m) => m,
        };
        // Leave room for the judgement itself after the last wait.
        if Instant::now() + interval * 2 >= deadline {
            let name = found.name.as_deref().unwrap_or("?").trim_start_matches('/');
            let waited = started.elapsed().as_secs();
            return Err(match &ready.what {
                Some(what) => Mismatch::new(
                    format!("{name}: {} first", ctx.vars.expand(what)),
                    format!("not after {waited}s: {}", last.actual),
                ),
                None => Mismatch::new(
                    format!("{name} ready first: {}", last.expected),
                    format!("{} (waited {waited}s)", last.actual),
                ),
            });
        }
        tokio::time::sleep(interval).await;
    }
}

async fn run_exec(
    docker: &bollard::Docker,
    found: &ContainerInspectResponse,
    exec: &Exec,
    ctx: &Context,
) -> Result<(), Mismatch> {
    let id = found.id.clone().unwrap_or_default();
    let command: Vec<String> = exec.command.iter().map(|a| ctx.vars.expand(a)).collect();
    let shown = command.join(" ");
    let user = exec.user.as_ref().map(|u| ctx.vars.expand(u));
    let (code, output) = exec_output(docker, &id, &command, user.as_deref())
        .await
        .map_err(|e| Mismatch::new(format!("`{shown}` to succeed"), format!("it could not be started: {e}")))?;
    if code != exec.exit_code {
        return Err(Mismatch::new(
            format!("`{shown}` to exit with {}", exec.exit_code),
            format!("it exited with {code}: {:?}", super::excerpt(&output, 160)),
        ));
    }
    if let Some(needle) = &exec.output_contains {
        let needle = ctx.vars.expand(needle);
        if !output.contains(&needle) {
            return Err(Mismatch::new(
                format!("`{shown}` printing {needle:?}"),
                format!("it printed {:?}", super::excerpt(&output, 160)),
            ));
        }
    }
    Ok(())
}
