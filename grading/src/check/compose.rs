//! `compose`: static rules on a Compose file - the habits that keep a stack's data and host safe.
//!
//! Each rule is its own check (own id, own hint), judged on the file's [`model`], which this crate
//! builds itself, so grading does not depend on which Compose (v1, v2 or none) the machine has.
//! Where a Compose tool is installed, the `valid` rule also asks it (`config --quiet`), so the
//! file is one Compose accepts.

mod model;

pub use model::{
    compose_file, parse_env_file, secret_value, Health, Mount, MountKind, Project, Service, COMPOSE_FILE_NAMES,
};

use super::select::Select;
use super::{Attempt, Context, Kind, Mismatch, Needs};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::path::{Component, Path};
use std::time::Duration;
use tokio::time::Instant;

/// How long `compose config` may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeCheck {
    /// The compose file, relative to the submission root - or a folder, where the file is the first
    /// of the names Compose itself looks for ([`COMPOSE_FILE_NAMES`]).
    pub file: String,
    pub rule: Rule,
    /// Services the rule applies to, by name (default: every service in the file) ...
    #[serde(default)]
    pub services: Vec<String>,
    /// ... or by what they are (each role must have a service).
    #[serde(default)]
    pub select: Vec<Select>,
    /// `state-on-named-volumes`: per role, the paths that hold its state.
    #[serde(default)]
    pub state: Vec<StateOf>,
    /// `depends-healthy`: per role, the variables that name the services it must wait for
    /// (`WORDPRESS_DB_HOST=db:3306` names `db`).
    #[serde(default)]
    pub depends: Vec<DependsOf>,
    /// `networks-only`: the networks the services may be attached to.
    #[serde(default)]
    pub networks: Vec<String>,
    /// `isolated`: the roles the selected services must share no network with.
    #[serde(default)]
    pub from: Vec<Select>,
    /// What the rule is about: it scores only once the file has it - a service of each role, and
    /// each variable `on` naming a service of the file. Until then it is skipped, never a free
    /// pass (a rule that no service breaks says nothing of services that do not exist yet).
    #[serde(default)]
    pub needs: Vec<DependsOf>,
}

/// The paths that hold the state of a role's services.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateOf {
    pub role: String,
    pub images: String,
    pub paths: Vec<String>,
}

/// The variables of a role's services that name what they must wait for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsOf {
    pub role: String,
    pub images: String,
    /// Environment variables whose value is `host[:port]` of a service (or a `*_FILE` of it).
    #[serde(default)]
    pub on: Vec<String>,
}

impl StateOf {
    fn select(&self) -> Select {
        Select { role: self.role.clone(), images: self.images.clone() }
    }
}

impl DependsOf {
    fn select(&self) -> Select {
        Select { role: self.role.clone(), images: self.images.clone() }
    }
}

/// The rules, one check each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The file parses, every service has an image (or a build), every variable resolves, every
    /// named volume and network is declared - and the Compose tool, where there is one, accepts it.
    Valid,
    /// `.env.example` beside the file defines every variable the file needs and gives no default for.
    EnvExample,
    /// Every image is pinned: a tag that names a version, or a digest.
    ExplicitTags,
    /// Each listed path of each listed service is on a named volume (not a bind mount, an anonymous
    /// volume, or the container's own layer).
    StateOnNamedVolumes,
    /// The services publish no port on the host.
    NotPublished,
    /// The services publish at least one port.
    Published,
    /// The services are attached to the given networks only.
    NetworksOnly,
    /// The selected services share no network with the services of the `from` roles (a database
    /// the front door cannot reach).
    Isolated,
    /// The services have a healthcheck that is not disabled.
    Healthchecks,
    /// Each service waits for its dependencies with `condition: service_healthy`.
    DependsHealthy,
    /// The services restart on their own (`always`, `unless-stopped` or `on-failure`).
    RestartPolicy,
    /// No `privileged`, no capability beyond Docker's defaults, default security profiles, no
    /// devices, no runtime, cgroup parent, log driver or sysctl that reaches the host.
    NoPrivileged,
    /// Nothing mounts the Docker socket (or a directory holding it).
    NoDockerSocket,
    /// No host network, PID, IPC, UTS or user namespace; bridge networks only.
    NoHostNamespaces,
    /// Bind mounts stay inside the submission (relative paths that do not climb out, no symlink
    /// out of it); no volume that is a host path or a network share in disguise.
    NoHostPaths,
    /// Secret-looking environment values come from variables or `*_FILE` secrets, never written in
    /// the file (not even as a `${X:-default}`).
    NoInlineSecrets,
    /// The real `.env` beside the file (its passwords) is ignored by git: a `.gitignore` of the
    /// submission, from its root down to the file's folder, or `.git/info/exclude`, matches it.
    EnvIgnored,
}

impl ComposeCheck {
    /// What of `needs` the file lacks, in words; `None` when it has everything.
    pub fn unmet_needs(&self, project: &Project, vars: &crate::vars::Vars) -> Option<String> {
        let mut lacking = Vec::new();
        for need in &self.needs {
            let services = Self::selected(project, &need.select(), vars);
            if services.is_empty() {
                lacking.push(format!("no service runs {}", need.select().describe(vars)));
                continue;
            }
            for variable in &need.on {
                let wired = services.iter().any(|s| {
                    s.environment.get(variable).is_some_and(|value| project.resolve(s, host_in(value)).is_some())
                });
                if !wired {
                    lacking.push(format!("no {} service sets {variable} to a service of the file", need.role));
                }
            }
        }
        (!lacking.is_empty()).then(|| format!("scores once the file has what it is about: {}", lacking.join("; ")))
    }

    pub(crate) async fn attempt_at(&self, ctx: &Context) -> Attempt {
        let relative = ctx.vars.expand(&self.file);
        let path = compose_file(&ctx.submission.join(&relative));
        let shown = path.strip_prefix(&ctx.submission).unwrap_or(&path).display().to_string();
        let project = match Project::load(&path) {
            Ok(project) => Project { root: Some(ctx.submission.clone()), ..project },
            Err(why) => {
                let wanted = if Path::new(&ctx.submission.join(&relative)).is_dir() || !relative.ends_with(".yaml") {
                    format!("a Compose file in {relative} ({}) that loads", COMPOSE_FILE_NAMES.join(", "))
                } else {
                    format!("a Compose file at {shown} that loads")
                };
                return Attempt::Fail(Mismatch::new(wanted, why));
            }
        };
        if self.rule == Rule::Valid {
            if let Some(complaint) = tool_complaint(&path, &project.env_file).await {
                return Attempt::Fail(Mismatch::new("a file Compose accepts (`config --quiet`)", complaint));
            }
        }
        match self.judge(&project, &ctx.vars) {
            Ok(()) => match self.unmet_needs(&project, &ctx.vars) {
                Some(reason) => Attempt::CannotRun(reason),
                None => Attempt::Pass,
            },
            Err(mismatch) => Attempt::Fail(mismatch),
        }
    }

    /// The services of the project that run `select`'s images.
    fn selected<'p>(project: &'p Project, select: &Select, vars: &crate::vars::Vars) -> Vec<&'p Service> {
        project.services.values().filter(|s| select.matches_any(&s.runs, vars)).collect()
    }

    /// The rule on a loaded project (no I/O beyond `.env.example` for `env-example`); `vars`
    /// expand the roles' image families.
    pub fn judge(&self, project: &Project, vars: &crate::vars::Vars) -> Result<(), Mismatch> {
        let services: Vec<&Service> = if !self.select.is_empty() {
            let mut picked: Vec<&Service> = Vec::new();
            let mut missing = Vec::new();
            for select in &self.select {
                let found = Self::selected(project, select, vars);
                if found.is_empty() {
                    missing.push(select.describe(vars));
                }
                for service in found {
                    if !picked.iter().any(|p| p.name == service.name) {
                        picked.push(service);
                    }
                }
            }
            if !missing.is_empty() {
                return Err(Mismatch::new(
                    format!(
                        "{} in the file",
                        self.select.iter().map(|s| format!("a {} service", s.role)).collect::<Vec<_>>().join(", ")
                    ),
                    format!("no service runs {}", missing.join(", nor ")),
                ));
            }
            picked
        } else if self.services.is_empty() {
            project.services.values().collect()
        } else {
            let missing: Vec<&str> =
                self.services.iter().filter(|s| !project.services.contains_key(*s)).map(String::as_str).collect();
            if !missing.is_empty() {
                return Err(Mismatch::new(
                    format!("services {}", self.services.join(", ")),
                    format!("no service {} in the file", missing.join(", ")),
                ));
            }
            self.services.iter().map(|s| &project.services[s]).collect()
        };
        let problems: Vec<String> = match self.rule {
            Rule::Valid => project.problems.clone(),
            Rule::EnvExample => env_example_problems(project),
            Rule::ExplicitTags => services
                .iter()
                .filter_map(|s| match &s.image {
                    None if s.build => None,
                    None => Some(format!("{} has no image", s.name)),
                    Some(image) => policy::image_version_problem(image).map(|p| format!("{}: {p}", s.name)),
                })
                .collect(),
            Rule::StateOnNamedVolumes => self.state_problems(project, vars),
            Rule::NotPublished => services
                .iter()
                .filter(|s| !s.ports.is_empty())
                .map(|s| format!("{} publishes {}", s.name, s.ports.join(", ")))
                .collect(),
            Rule::Published => services
                .iter()
                .filter(|s| s.ports.is_empty())
                .map(|s| format!("{} publishes no port", s.name))
                .collect(),
            Rule::NetworksOnly => services
                .iter()
                .filter_map(|s| {
                    let extra: Vec<&str> =
                        s.networks.iter().filter(|n| !self.networks.contains(n)).map(String::as_str).collect();
                    (!extra.is_empty()).then(|| format!("{} is also on {}", s.name, extra.join(", ")))
                })
                .collect(),
            Rule::Isolated => {
                let others: Vec<&Service> = self.from.iter().flat_map(|f| Self::selected(project, f, vars)).collect();
                services
                    .iter()
                    .flat_map(|s| {
                        others.iter().filter(|o| o.name != s.name).filter_map(move |o| {
                            let shared: Vec<&str> =
                                s.networks.iter().filter(|n| o.networks.contains(n)).map(String::as_str).collect();
                            (!shared.is_empty())
                                .then(|| format!("{} shares {} with {}", s.name, shared.join(", "), o.name))
                        })
                    })
                    .collect()
            }
            Rule::Healthchecks => services
                .iter()
                .filter_map(|s| match s.healthcheck {
                    Health::Defined => None,
                    Health::Disabled => Some(format!("{} disables its healthcheck", s.name)),
                    Health::Vacuous => Some(format!("{}'s healthcheck cannot fail (its test always succeeds)", s.name)),
                    Health::Absent => Some(format!("{} has no healthcheck", s.name)),
                })
                .collect(),
            Rule::DependsHealthy => self.depends_problems(project, vars),
            Rule::RestartPolicy => services
                .iter()
                .filter_map(|s| match s.restart.as_deref() {
                    Some("always" | "unless-stopped" | "on-failure" | "any") => None,
                    Some(policy) if policy.starts_with("on-failure:") => None,
                    Some(policy) => Some(format!("{} has restart: {policy}", s.name)),
                    None => Some(format!("{} has no restart policy", s.name)),
                })
                .collect(),
            Rule::NoPrivileged => self.violations(&services, &NO_PRIVILEGED),
            Rule::NoDockerSocket => self.violations(&services, &[policy::Rule::EngineSocket]),
            Rule::NoHostNamespaces => {
                let mut found = self.violations(&services, &[policy::Rule::HostNamespaces]);
                found.extend(project.network_violations.iter().map(|v| v.field.clone()));
                found
            }
            Rule::NoHostPaths => {
                let mut found: Vec<String> = services.iter().flat_map(|s| host_path_problems(project, s)).collect();
                found.extend(self.violations(&services, &[policy::Rule::HostPaths, policy::Rule::VolumeDriver]));
                found.extend(project.volume_problems());
                found
            }
            Rule::EnvIgnored => env_ignore_problems(project),
            Rule::NoInlineSecrets => {
                services.iter().flat_map(|s| s.inline_secrets.iter().map(|e| format!("{}: {e}", s.name))).collect()
            }
        };
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Mismatch::new(self.expectation(), problems.join("; ")))
        }
    }

    fn expectation(&self) -> String {
        match self.rule {
            Rule::Valid => "a valid Compose file".into(),
            Rule::EnvExample => ".env.example defines every variable the file needs".into(),
            Rule::ExplicitTags => "every image pinned to a version (a tag with a version number, or a digest)".into(),
            Rule::StateOnNamedVolumes => {
                let wanted: Vec<String> =
                    self.state.iter().map(|s| format!("{} {}", s.role, s.paths.join(", "))).collect();
                format!("named volumes for the state of each service: {}", wanted.join("; "))
            }
            Rule::NotPublished => "no published ports".into(),
            Rule::Published => "a published port".into(),
            Rule::NetworksOnly => format!("only on {}", self.networks.join(", ")),
            Rule::Isolated => format!(
                "no network shared with the {}",
                self.from.iter().map(|f| f.role.as_str()).collect::<Vec<_>>().join(" or the ")
            ),
            Rule::Healthchecks => "a healthcheck".into(),
            Rule::DependsHealthy => "depends_on with condition: service_healthy".into(),
            Rule::RestartPolicy => "restart: unless-stopped (or always / on-failure)".into(),
            Rule::NoPrivileged => "no privileged mode, added capabilities, devices or changed security profiles".into(),
            Rule::NoDockerSocket => "no mount of the Docker socket".into(),
            Rule::NoHostNamespaces => "the container's own network, PID, IPC, UTS and user namespaces".into(),
            Rule::NoHostPaths => "bind mounts of the submission's own files only (relative paths inside it)".into(),
            Rule::NoInlineSecrets => "secrets from .env variables or *_FILE secrets, none written in the file".into(),
            Rule::EnvIgnored => ".env (the real passwords) ignored by git: listed in a .gitignore".into(),
        }
    }

    /// "service: field (rule ...)" for each violation of one of `rules` in `services`.
    fn violations(&self, services: &[&Service], rules: &[policy::Rule]) -> Vec<String> {
        services
            .iter()
            .flat_map(|s| {
                s.violations.iter().filter(|v| rules.contains(&v.rule)).map(move |v| format!("{}: {}", s.name, v.field))
            })
            .collect()
    }

    fn state_problems(&self, project: &Project, vars: &crate::vars::Vars) -> Vec<String> {
        let mut problems = Vec::new();
        for state in &self.state {
            let services = Self::selected(project, &state.select(), vars);
            if services.is_empty() {
                problems.push(format!("no service runs {}", state.select().describe(vars)));
            }
            for service in services {
                let name = &service.name;
                for path in &state.paths {
                    let path = path.trim_end_matches('/');
                    // The mount that holds `path`: the deepest one at it or above it.
                    let holder = service
                        .mounts
                        .iter()
                        .filter(|m| {
                            let target = m.target.trim_end_matches('/');
                            path == target || path.starts_with(&format!("{target}/"))
                        })
                        .max_by_key(|m| m.target.len());
                    match holder {
                        Some(Mount { kind: MountKind::Named, .. }) => {}
                        Some(Mount { kind: MountKind::Bind, source, .. }) => problems.push(format!(
                            "{name}:{path} is a bind mount of {}",
                            source.as_deref().unwrap_or("a host directory")
                        )),
                        Some(Mount { kind: MountKind::Anonymous, .. }) => problems
                            .push(format!("{name}:{path} is on an anonymous volume (a new, empty one after down/up)")),
                        Some(Mount { kind: MountKind::Tmpfs, .. }) => {
                            problems.push(format!("{name}:{path} is on a tmpfs (gone when the container stops)"))
                        }
                        None => problems.push(format!(
                            "{name}:{path} is in the container's own layer (gone when the container is recreated)"
                        )),
                    }
                }
            }
        }
        problems
    }

    fn depends_problems(&self, project: &Project, vars: &crate::vars::Vars) -> Vec<String> {
        let mut problems = Vec::new();
        for depends in &self.depends {
            let services = Self::selected(project, &depends.select(), vars);
            if services.is_empty() {
                problems.push(format!("no service runs {}", depends.select().describe(vars)));
            }
            for service in services {
                let name = &service.name;
                for variable in &depends.on {
                    let Some(value) = service.environment.get(variable) else {
                        problems.push(format!("{name} does not set {variable}"));
                        continue;
                    };
                    let host = host_in(value);
                    let Some(target) = project.resolve(service, host) else {
                        // Not a name of this file (an address outside, or a typo): Compose has nothing to wait for.
                        problems.push(format!("{name}'s {variable} names {host}, which is not a service of the file"));
                        continue;
                    };
                    let shown =
                        if target.name == host { host.to_string() } else { format!("{host} ({})", target.name) };
                    match service.depends_on.get(&target.name).map(String::as_str) {
                        Some("service_healthy") if target.healthcheck == Health::Vacuous => problems
                            .push(format!("{name} waits for {shown} to be healthy, but its healthcheck cannot fail")),
                        Some("service_healthy") => {}
                        Some(condition) => problems.push(format!("{name} waits for {shown} only until {condition}")),
                        None => problems.push(format!("{name} does not depend on {shown}")),
                    }
                }
            }
        }
        problems
    }
}

impl Kind for ComposeCheck {
    fn name(&self) -> &'static str {
        "compose"
    }

    fn needs(&self) -> Needs {
        Needs::FILES
    }

    fn strings(&self) -> Vec<&str> {
        let mut all = vec![self.file.as_str()];
        all.extend(self.select.iter().chain(&self.from).flat_map(Select::strings));
        all.extend(self.state.iter().flat_map(|s| [s.role.as_str(), s.images.as_str()]));
        all.extend(self.depends.iter().chain(&self.needs).flat_map(|d| [d.role.as_str(), d.images.as_str()]));
        all
    }

    fn validate(&self) -> Result<(), String> {
        let path = Path::new(&self.file);
        if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("compose file '{}' must be relative to the submission and stay inside it", self.file));
        }
        if !self.services.is_empty() && !self.select.is_empty() {
            return Err("give services by name or select them by role, not both".into());
        }
        match self.rule {
            Rule::StateOnNamedVolumes if self.state.is_empty() => Err(
                "rule state-on-named-volumes needs state = [{ role = \"...\", images = \"...\", paths = [\"/path\"] }]"
                    .into(),
            ),
            Rule::DependsHealthy if self.depends.is_empty() => {
                Err("rule depends-healthy needs depends = [{ role = \"...\", images = \"...\", on = [\"VARIABLE\"] }]"
                    .into())
            }
            Rule::NetworksOnly if self.networks.is_empty() || (self.services.is_empty() && self.select.is_empty()) => {
                Err("rule networks-only needs services or select, and networks = [...]".into())
            }
            Rule::Isolated if self.from.is_empty() || self.select.is_empty() => {
                Err("rule isolated needs select = [...] and from = [...]".into())
            }
            _ => Ok(()),
        }
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, _deadline: Instant, _interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(self.attempt_at(ctx))
    }
}

/// The rules `no-privileged` judges (the others have a check of their own).
const NO_PRIVILEGED: [policy::Rule; 8] = [
    policy::Rule::Privileged,
    policy::Rule::Capabilities,
    policy::Rule::Devices,
    policy::Rule::SecurityProfiles,
    policy::Rule::Sysctls,
    policy::Rule::Runtime,
    policy::Rule::CgroupParent,
    policy::Rule::LogDriver,
];

/// The service host a variable names: `db`, `db:3306` and `tcp://db:3306` all name `db`.
fn host_in(value: &str) -> &str {
    value.rsplit("://").next().unwrap_or(value).split(':').next().unwrap_or_default()
}

/// The `.env` beside the compose file, if there is one that no `.gitignore` of the submission
/// (from its root down to the file's folder, as git reads them) nor `.git/info/exclude` ignores:
/// `git add -A` would commit the stack's real passwords. No git runs: the files are read.
fn env_ignore_problems(project: &Project) -> Vec<String> {
    let dir = project.file.parent().unwrap_or(Path::new("."));
    let env = dir.join(".env");
    if !env.is_file() {
        return Vec::new();
    }
    let root = project.root.clone().unwrap_or_else(|| dir.to_path_buf());
    let mut builder = ignore::gitignore::GitignoreBuilder::new(&root);
    let _ = builder.add(root.join(".git/info/exclude"));
    let mut folder = root.clone();
    let below: Vec<Component<'_>> = dir.strip_prefix(&root).map(|rest| rest.components().collect()).unwrap_or_default();
    let _ = builder.add(folder.join(".gitignore"));
    for part in below {
        folder.push(part);
        let file = folder.join(".gitignore");
        if file.is_file() {
            // A nested .gitignore's patterns are relative to its own folder.
            let mut nested = ignore::gitignore::GitignoreBuilder::new(&folder);
            let _ = nested.add(&file);
            if nested.build().is_ok_and(|g| g.matched_path_or_any_parents(&env, false).is_ignore()) {
                return Vec::new();
            }
        }
    }
    let ignored = builder.build().is_ok_and(|g| g.matched_path_or_any_parents(&env, false).is_ignore());
    if ignored {
        return Vec::new();
    }
    let shown = env.strip_prefix(&root).unwrap_or(&env).display().to_string();
    vec![format!(
        "{shown} (the real passwords) is in the submission and no .gitignore ignores it: `git add -A` commits it"
    )]
}

/// Bind mounts of `service` that leave the submission: an absolute or `~` path, a relative path
/// that climbs out of it, or one that leads through a symlink out of it.
fn host_path_problems(project: &Project, service: &Service) -> Vec<String> {
    let dir = project.file.parent().unwrap_or(Path::new("."));
    let root = project.root.clone().unwrap_or_else(|| dir.to_path_buf());
    let root = root.canonicalize().unwrap_or(root);
    let mut problems = Vec::new();
    for mount in service.mounts.iter().filter(|m| m.kind == MountKind::Bind) {
        let source = mount.source.as_deref().unwrap_or_default();
        if source.starts_with('/') || source.starts_with('~') {
            // The socket itself is no-docker-socket's alone; a folder that holds it (`/`, `/var`)
            // is a host path as well, and reported by both.
            if !source.trim_end_matches('/').ends_with(".sock") {
                problems
                    .push(format!("{}: volumes: {source} is a host path, not a file of the submission", service.name));
            }
            continue;
        }
        // Through any symlink that exists in the submission, to where it really leads.
        let real = policy::real_path(&dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).join(source));
        if let Some(violation) = policy::host_path(&real.to_string_lossy(), &root.to_string_lossy()) {
            problems.push(format!(
                "{}: volumes: {source} leads to {} (rule {})",
                service.name,
                real.display(),
                violation.rule.id()
            ));
        }
    }
    problems
}

fn env_example_problems(project: &Project) -> Vec<String> {
    let Some(dir) = project.file.parent() else { return vec!["the compose file has no directory".into()] };
    let example = dir.join(".env.example");
    let defined = match std::fs::read_to_string(&example) {
        Ok(text) => parse_env_file(&text),
        Err(_) => return vec![format!("there is no {}", example.file_name().unwrap_or_default().to_string_lossy())],
    };
    project
        .required_vars
        .iter()
        .filter(|v| !defined.contains_key(*v))
        .map(|v| format!(".env.example does not define {v}"))
        .collect()
}

/// The installed Compose: `docker compose` (v2) or `docker-compose` (v1), found once.
fn compose_tool() -> Option<&'static [&'static str]> {
    static TOOL: std::sync::OnceLock<Option<&'static [&'static str]>> = std::sync::OnceLock::new();
    *TOOL.get_or_init(|| {
        let candidates: [&'static [&'static str]; 2] = [&["docker", "compose"], &["docker-compose"]];
        candidates.into_iter().find(|tool| {
            std::process::Command::new(tool[0])
                .args(&tool[1..])
                .arg("version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
}

/// What the installed Compose says about the file, when it refuses it (`None`: accepted, or no tool).
async fn tool_complaint(file: &Path, env_file: &Option<std::path::PathBuf>) -> Option<String> {
    let tool = compose_tool()?;
    let dir = file.parent()?;
    let mut command = tokio::process::Command::new(tool[0]);
    command.args(&tool[1..]).arg("--project-directory").arg(dir).arg("-f").arg(file);
    if let Some(env_file) = env_file {
        command.arg("--env-file").arg(env_file);
    }
    command.args(["config", "--quiet"]).stdin(std::process::Stdio::null()).kill_on_drop(true);
    let output = match tokio::time::timeout(TOOL_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        // A tool that cannot run or hangs says nothing about the file.
        _ => return None,
    };
    if output.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Some(format!("{} config: {}", tool.join(" "), super::excerpt(&stderr, 300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of `services.NAME` in a file written to a fresh folder (with `other.yaml` beside it).
    fn violations_of(text: &str, other: &str, name: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("other.yaml"), other).unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, text).unwrap();
        let project = Project::load(&file).unwrap();
        assert!(project.problems.is_empty(), "{:?}", project.problems);
        project.services[name].violations.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn privileges_hidden_behind_anchors_or_extends_are_found() {
        let anchor = "x-base: &base\n  privileged: true\nservices:\n  web:\n    <<: *base\n    image: nginx:1.25\n";
        assert_eq!(violations_of(anchor, "", "web"), ["privileged: true (rule no-privileged)"]);
        let same_file = "services:\n  base:\n    image: nginx:1.25\n    cap_add: [SYS_ADMIN]\n  web:\n    extends: base\n    cap_add: [CHOWN]\n";
        assert_eq!(violations_of(same_file, "", "web"), ["cap_add: SYS_ADMIN (rule no-added-capabilities)"]);
        let other_file = "services:\n  web:\n    extends: { file: other.yaml, service: hidden }\n";
        let other = "services:\n  hidden:\n    image: nginx:1.25\n    network_mode: host\n";
        assert_eq!(violations_of(other_file, other, "web"), ["network_mode: host (rule no-host-namespaces)"]);
        let clean = "services:\n  web:\n    image: nginx:1.25\n    cap_add: [NET_BIND_SERVICE]\n    security_opt: [no-new-privileges:true]\n";
        assert!(violations_of(clean, "", "web").is_empty());
    }

    #[test]
    fn bind_mounts_must_stay_in_the_submission() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("labs/web");
        std::fs::create_dir_all(dir.join("site")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("escape")).unwrap();
        let file = dir.join("compose.yaml");
        let problems = |volumes: &str| {
            let text = format!("services:\n  web:\n    image: nginx:1.25\n    volumes: [{volumes}]\n");
            std::fs::write(&file, text).unwrap();
            let project = Project { root: Some(root.path().to_path_buf()), ..Project::load(&file).unwrap() };
            host_path_problems(&project, &project.services["web"])
        };
        assert!(problems("./site:/usr/share/nginx/html:ro").is_empty());
        assert!(problems("../../README.md:/x:ro").is_empty(), "up to the submission's root is inside it");
        for bad in ["/etc:/x", "~/secrets:/x", "../../..:/x", "./escape/passwd:/x"] {
            assert_eq!(problems(bad).len(), 1, "{bad}");
        }
        // The whole host (which holds the engine's socket) is a host path too; the socket alone is
        // no-docker-socket's.
        assert_eq!(problems("/:/host:ro").len(), 1);
        assert!(problems("/var/run/docker.sock:/var/run/docker.sock").is_empty());
    }

    #[test]
    fn a_built_service_has_the_role_of_what_its_dockerfile_runs() {
        let dir = tempfile::tempdir().unwrap();
        let stack = dir.path().join("stack");
        std::fs::create_dir_all(stack.join("door")).unwrap();
        std::fs::write(
            stack.join("door/Dockerfile"),
            "FROM debian:bookworm\nRUN apt-get update && apt-get install -y --no-install-recommends caddy\nCMD [\"caddy\", \"run\"]\n",
        )
        .unwrap();
        std::fs::write(stack.join("Blog.dockerfile"), "FROM wordpress:6.1-apache\nRUN docker-php-ext-install exif\n")
            .unwrap();
        // Outside the compose file's folder: not read (the service then has no role).
        std::fs::write(dir.path().join("Dockerfile"), "FROM nginx:1.27\n").unwrap();
        std::fs::write(
            stack.join("compose.yaml"),
            "services:\n  door:\n    build: ./door\n    ports: [\"127.0.0.1:9443:443\"]\n  blog:\n    build: { context: ., dockerfile: Blog.dockerfile }\n    image: my-blog:1\n  inline:\n    build:\n      dockerfile_inline: |\n        FROM redis:7.0\n  outside:\n    build: ..\n",
        )
        .unwrap();
        let project = Project::load(&stack.join("compose.yaml")).unwrap();
        let vars = crate::vars::Vars::new();
        let role = |images: &str| {
            let select = Select { role: "r".into(), images: images.into() };
            let mut names: Vec<&str> = project
                .services
                .values()
                .filter(|s| select.matches_any(&s.runs, &vars))
                .map(|s| s.name.as_str())
                .collect();
            names.sort();
            names
        };
        assert_eq!(role("nginx caddy"), ["door"]);
        assert_eq!(role("wordpress"), ["blog"], "the Dockerfile's base, whatever the tag is called");
        assert_eq!(role("redis"), ["inline"]);
        assert!(role("debian").contains(&"door"));
        assert!(project.services["outside"].runs.is_empty(), "{:?}", project.services["outside"].runs);
        let published: ComposeCheck = toml::from_str(
            "file = \"stack\"\nrule = \"published\"\nselect = [{ role = \"front door\", images = \"nginx caddy\" }]\n",
        )
        .unwrap();
        assert_eq!(published.judge(&project, &vars), Ok(()));
    }
}
