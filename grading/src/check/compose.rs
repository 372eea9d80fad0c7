//! `compose`: static rules on a Compose file - the habits that keep a stack's data and host safe.
//!
//! Each rule is its own check (own id, own hint), judged on a normalized model of the file that this
//! module builds itself, so grading does not depend on which Compose (v1, v2 or none) the machine
//! has: variables interpolated the way Compose does (`${X}`, `${X:-default}`, `${X-default}`,
//! `${X:?message}`, `$X`, `$$`) from the `.env` beside the file - or from `.env.example` when there is
//! no `.env`, as in a fresh clone, where `.env` must not be committed - and short syntaxes (ports,
//! volumes, `depends_on` lists, `environment` lists) read into one shape. Where a Compose tool is
//! installed, the `valid` rule also asks it (`config --quiet`), so the file is one Compose accepts.

use super::select::Select;
use super::{Attempt, Context, Kind, Mismatch, Needs};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};
use std::time::Duration;
use tokio::time::Instant;

/// Environment names that hold secrets (upper-cased before matching).
const SECRET_WORDS: &[&str] = &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "_KEY", "SALT"];
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

/// The names Compose looks for in a folder, in its order.
pub const COMPOSE_FILE_NAMES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// The compose file at `path`: the file itself, or in a folder the first name Compose looks for.
pub fn compose_file(path: &Path) -> std::path::PathBuf {
    if path.is_dir() {
        if let Some(found) = COMPOSE_FILE_NAMES.iter().map(|n| path.join(n)).find(|p| p.is_file()) {
            return found;
        }
        return path.join(COMPOSE_FILE_NAMES[0]);
    }
    path.to_path_buf()
}

/// What a service reads from a file named by its environment variable `env` (a `*_FILE` variable
/// naming where a Compose secret is mounted): the secret's `file:`, read only when it is inside
/// `root` (the submission), at most 4 KiB, its trailing newline dropped. The service is the first
/// (by name) running an image of `families`. None when the compose file says nothing of the kind.
pub fn secret_value(compose_dir: &Path, root: &Path, families: &[&str], env: &str) -> Option<String> {
    let file = compose_file(compose_dir);
    let project = Project::load(&file).ok()?;
    let service = project.services.values().find(|s| s.runs.iter().any(|runs| families.contains(&runs.as_str())))?;
    let name = service.secrets.get(service.environment.get(env)?)?;
    let source = project.secret_files.get(name)?;
    let dir = file.parent().unwrap_or(compose_dir);
    let path = normalize(&dir.join(source));
    let root = root.canonicalize().ok()?;
    if !real_path(&path).starts_with(&root) {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    if bytes.len() > 4096 {
        return None;
    }
    Some(String::from_utf8(bytes).ok()?.trim_end_matches(['\n', '\r']).to_string())
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
        let lexical = normalize(&dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).join(source));
        // Through any symlink that exists in the submission, to where it really leads.
        let real = real_path(&lexical);
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

/// `path` without `.` and `..` components (not touching the file system).
fn normalize(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The longest existing prefix of `path` with its symlinks resolved, and the rest as written.
fn real_path(path: &Path) -> std::path::PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.as_os_str().is_empty() {
        if let Ok(real) = existing.canonicalize() {
            return rest.into_iter().rev().fold(real, |acc: std::path::PathBuf, part| acc.join(part));
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    path.to_path_buf()
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

/// A Compose file read into the shape the rules need.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub file: std::path::PathBuf,
    /// The environment file the variables came from (`.env`, else `.env.example`), if any.
    pub env_file: Option<std::path::PathBuf>,
    pub services: BTreeMap<String, Service>,
    /// Variables referenced without a default.
    pub required_vars: BTreeSet<String>,
    /// What makes the file invalid (empty when it is valid as far as this model can tell).
    pub problems: Vec<String>,
    /// The submission the file belongs to (bind mounts must stay inside it); default: the file's folder.
    pub root: Option<std::path::PathBuf>,
    /// Top-level `networks:` with a driver that reaches the host.
    pub network_violations: Vec<policy::Violation>,
    /// Top-level `volumes:` with their driver and `driver_opts`.
    pub volume_drivers: BTreeMap<String, (String, serde_json::Map<String, Value>)>,
    /// Top-level `secrets:` read from a file: name -> the `file:` as written (interpolated).
    pub secret_files: BTreeMap<String, String>,
    /// Services that `up` does not start: their `profiles:` are not active (`COMPOSE_PROFILES`
    /// in the environment file names the active ones; `*` all). Not in `services`: no rule
    /// judges what never runs, and no role is found in it. Name -> its profiles.
    pub inactive: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub build: bool,
    /// What the service's containers run, as image families: its image's, or for a `build:` what
    /// the Dockerfile runs (see [`crate::check::dockerfile::runs`]) and then the tag it names.
    /// Its roles come from these.
    pub runs: Vec<String>,
    /// Published ports, as written (interpolated).
    pub ports: Vec<String>,
    pub mounts: Vec<Mount>,
    pub networks: Vec<String>,
    pub healthcheck: Health,
    /// Dependency -> condition (`service_started` for the list form).
    pub depends_on: BTreeMap<String, String>,
    pub restart: Option<String>,
    /// Every rule of the `policy` crate the service breaks (privileges, namespaces, the socket...).
    pub violations: Vec<policy::Violation>,
    /// Secret-looking environment entries written in the file (as written, value masked).
    pub inline_secrets: Vec<String>,
    /// The secrets mounted in the container: their path there -> the secret's name.
    pub secrets: BTreeMap<String, String>,
    /// The environment (interpolated), from the map or the list form.
    pub environment: BTreeMap<String, String>,
    /// The names Docker's DNS resolves to this service: its own, `container_name`, `hostname`
    /// and its network aliases.
    pub dns_names: BTreeSet<String>,
    /// `links:` alias -> service, names this service alone resolves.
    pub links: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Absent,
    Defined,
    Disabled,
    /// A test that cannot fail (`true`, `exit 0`, `echo ...`): a healthcheck in name only.
    Vacuous,
}

/// What a healthcheck's command (as a shell would read it) can tell.
fn health_of(command: &str) -> Health {
    if cannot_fail(command) {
        Health::Vacuous
    } else {
        Health::Defined
    }
}

/// Whether a healthcheck's command (as a shell would read it) always exits 0 - `true`, `:`,
/// `exit 0`, `echo ...`, alone or joined by `;` and `&&`, or after a final `||` - and so checks
/// nothing. Compose's and the Dockerfile's healthchecks are judged by it alike.
pub(crate) fn cannot_fail(command: &str) -> bool {
    let always_succeeds = |part: &str| {
        let words: Vec<&str> = part.split_whitespace().collect();
        match words.as_slice() {
            [] => true,
            ["true" | "/bin/true" | "/usr/bin/true" | ":"] => true,
            ["exit"] | ["exit", "0"] => true,
            [first, ..] => matches!(*first, "echo" | "/bin/echo" | "printf" | "sleep"),
        }
    };
    // `a || b` succeeds when b always does; `a; b` and `a && b` only when every part does.
    command.split("||").last().is_some_and(|last| last.split([';', '&']).all(always_succeeds))
        || command.split([';', '&']).all(always_succeeds)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountKind,
    pub source: Option<String>,
    pub target: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Named,
    Bind,
    Anonymous,
    Tmpfs,
}

impl Project {
    /// Reads and normalizes `file`, with variables from `.env` (or `.env.example`) beside it.
    /// Errors are what stops the file from being read at all; other problems go to `problems`.
    pub fn load(file: &Path) -> Result<Project, String> {
        let text = std::fs::read_to_string(file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{} does not exist", file.display()),
            _ => format!("cannot read {}: {e}", file.display()),
        })?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let env_file = [".env", ".env.example"].iter().map(|n| dir.join(n)).find(|p| p.is_file());
        let env = match &env_file {
            Some(path) => parse_env_file(&std::fs::read_to_string(path).unwrap_or_default()),
            None => BTreeMap::new(),
        };
        Project::parse(&text, &env, file, env_file)
    }

    /// Normalizes compose `text` with `env` for its variables.
    pub fn parse(
        text: &str,
        env: &BTreeMap<String, String>,
        file: &Path,
        env_file: Option<std::path::PathBuf>,
    ) -> Result<Project, String> {
        let mut raw = read_yaml(text)?;
        let mut project = Project { file: file.to_path_buf(), env_file, ..Default::default() };
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut seen = BTreeSet::from([file.to_path_buf()]);
        resolve_includes(&mut raw, dir, dir, &mut seen, &mut project.problems);
        resolve_extends(&mut raw, dir, dir, &mut project.problems);
        let mut interpolated = raw.clone();
        interpolate_all(&mut interpolated, env, &mut project.required_vars, &mut project.problems);
        let Some(services) = interpolated.get("services").and_then(Value::as_object) else {
            return Err("there is no services: section".into());
        };
        let declared_volumes: BTreeSet<String> = keys(interpolated.get("volumes"));
        let declared_networks: BTreeSet<String> = keys(interpolated.get("networks"));
        for (name, network) in interpolated.get("networks").and_then(Value::as_object).into_iter().flatten() {
            let driver = network.get("driver").and_then(Value::as_str).unwrap_or("");
            let options = network.get("driver_opts").and_then(Value::as_object).cloned().unwrap_or_default();
            if let Some(mut violation) = policy::network_driver(driver, &options) {
                violation.field = format!("network {name}: {}", violation.field);
                project.network_violations.push(violation);
            }
        }
        for (name, volume) in interpolated.get("volumes").and_then(Value::as_object).into_iter().flatten() {
            let driver = volume.get("driver").and_then(Value::as_str).unwrap_or("").to_string();
            let options = volume.get("driver_opts").and_then(Value::as_object).cloned().unwrap_or_default();
            if !driver.is_empty() || !options.is_empty() {
                project.volume_drivers.insert(name.clone(), (driver, options));
            }
        }
        for (name, secret) in interpolated.get("secrets").and_then(Value::as_object).into_iter().flatten() {
            if let Some(file) = secret.get("file").and_then(Value::as_str).map(str::to_string) {
                project.secret_files.insert(name.clone(), file);
            }
        }
        let active: BTreeSet<String> = env
            .get("COMPOSE_PROFILES")
            .map(|p| p.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        for (name, body) in services {
            let profiles: Vec<String> = match body.get("profiles") {
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                _ => Vec::new(),
            };
            if !profiles.is_empty() && !active.contains("*") && !profiles.iter().any(|p| active.contains(p)) {
                project.inactive.insert(name.clone(), profiles);
            }
        }
        for (name, body) in services {
            if project.inactive.contains_key(name) {
                continue;
            }
            let raw_body = &raw["services"][name];
            let service = Service::read(name, body, raw_body, dir);
            for mount in &service.mounts {
                if let (MountKind::Named, Some(source)) = (mount.kind, &mount.source) {
                    if !declared_volumes.contains(source) {
                        project.problems.push(format!("{name} uses volume {source}, which volumes: does not declare"));
                    }
                }
            }
            for network in &service.networks {
                if network != "default" && !declared_networks.contains(network) {
                    project.problems.push(format!("{name} uses network {network}, which networks: does not declare"));
                }
            }
            for dependency in service.depends_on.keys() {
                if let Some(profiles) = project.inactive.get(dependency) {
                    // Compose v2 refuses to start it: `up` starts no service of an inactive profile.
                    project.problems.push(format!(
                        "{name} depends on {dependency}, which runs only with profile {} (set COMPOSE_PROFILES in .env, or drop its profiles:)",
                        profiles.join(" or ")
                    ));
                } else if !services.contains_key(dependency) {
                    project.problems.push(format!("{name} depends on {dependency}, which is not a service"));
                }
            }
            if service.image.is_none() && !service.build {
                project.problems.push(format!("{name} has neither image nor build"));
            }
            project.services.insert(name.clone(), service);
        }
        Ok(project)
    }
}

impl Project {
    /// The service `host` reaches from `from`, as Docker's DNS resolves it: a link alias of
    /// `from`, then any service's name, `container_name`, `hostname` or network alias.
    pub fn resolve(&self, from: &Service, host: &str) -> Option<&Service> {
        if let Some(target) = from.links.get(host) {
            return self.services.get(target);
        }
        self.services.get(host).or_else(|| self.services.values().find(|s| s.dns_names.contains(host)))
    }

    /// Top-level volumes whose driver or `driver_opts` make them a host path or a remote share.
    fn volume_problems(&self) -> Vec<String> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let root = self.root.clone().unwrap_or_else(|| dir.to_path_buf());
        let root = root.canonicalize().unwrap_or(root);
        let mut problems = Vec::new();
        for (name, (driver, options)) in &self.volume_drivers {
            match policy::volume_driver(driver, options) {
                Ok(None) => {}
                Ok(Some(device)) => {
                    let device = real_path(&normalize(&dir.join(&device)));
                    if let Some(v) = policy::host_path(&device.to_string_lossy(), &root.to_string_lossy()) {
                        problems.push(format!(
                            "volume {name} is a bind of {} in disguise (rule {})",
                            device.display(),
                            v.rule.id()
                        ));
                    }
                }
                Err(v) => problems.push(format!("volume {name}: {v}")),
            }
        }
        problems
    }
}

/// YAML into JSON values, with merge keys (`<<: *anchor`) applied as Compose applies them.
fn read_yaml(text: &str) -> Result<Value, String> {
    let mut yaml: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    yaml.apply_merge().map_err(|e| format!("not valid YAML: {e}"))?;
    serde_json::to_value(yaml).map_err(|e| format!("not a Compose file: {e}"))
}

/// Applies Compose v2's top-level `include:` (a path, a list of paths, or `{ path: ... }`
/// entries, relative to `dir`): each included file's services, volumes, networks, secrets and
/// configs join the project's, its relative paths resolved from its own folder, as Compose does.
/// A name defined twice differently, a missing file and an include cycle are problems, as they
/// are for Compose.
/// A file outside `top` (the compose file's own folder: an absolute path, `..`, a symlink out) is
/// a problem and is never read: the grader reads no file a submission points it at elsewhere.
fn resolve_includes(
    project: &mut Value,
    dir: &Path,
    top: &Path,
    seen: &mut BTreeSet<std::path::PathBuf>,
    problems: &mut Vec<String>,
) {
    let Some(include) = project.as_object_mut().and_then(|p| p.remove("include")) else {
        return;
    };
    let entries: Vec<Value> = match include {
        Value::Array(list) => list,
        other => vec![other],
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Value::String(path) => paths.push(path),
            Value::Object(long) => match long.get("path") {
                Some(Value::String(path)) => paths.push(path.clone()),
                Some(Value::Array(list)) => paths.extend(list.iter().filter_map(text)),
                _ => problems.push("include: an entry without a path".into()),
            },
            _ => problems.push("include: an entry that is neither a path nor { path: ... }".into()),
        }
    }
    for path in paths {
        let file = normalize(&dir.join(&path));
        let top_real = top.canonicalize().unwrap_or_else(|_| top.to_path_buf());
        if !real_path(&file).starts_with(&top_real) {
            problems.push(format!("include: {path} is outside the compose file's folder"));
            continue;
        }
        if !seen.insert(file.clone()) {
            problems.push(format!("include: {path} is included twice, or includes itself"));
            continue;
        }
        let included = std::fs::read_to_string(&file)
            .map_err(|e| format!("include: cannot read {path}: {e}"))
            .and_then(|text| read_yaml(&text).map_err(|e| format!("include: {path}: {e}")));
        let mut included = match included {
            Ok(value) => value,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let folder = file.parent().unwrap_or(dir).to_path_buf();
        resolve_includes(&mut included, &folder, top, seen, problems);
        resolve_extends(&mut included, &folder, top, problems);
        rebase_binds(&mut included, &folder, dir);
        for section in ["services", "volumes", "networks", "secrets", "configs"] {
            let Some(Value::Object(theirs)) = included.get(section).cloned() else {
                continue;
            };
            let ours =
                project.as_object_mut().map(|p| p.entry(section).or_insert_with(|| Value::Object(Default::default())));
            let Some(Value::Object(ours)) = ours else {
                continue;
            };
            // As Compose does: the same definition twice is one; a different one conflicts.
            for (name, body) in theirs {
                match ours.get(&name) {
                    Some(defined) if *defined != body => problems.push(format!(
                        "include: {path} defines {section} {name} otherwise than the file does (Compose: conflicts with imported resource)"
                    )),
                    Some(_) => {}
                    None => {
                        ours.insert(name, body);
                    }
                }
            }
        }
    }
}

/// An included file's relative bind mounts are relative to its own folder: rewritten relative to
/// the including file's (`dir`), so the rules judge where they lead.
fn rebase_binds(included: &mut Value, folder: &Path, dir: &Path) {
    let Ok(offset) = folder.strip_prefix(dir) else {
        return;
    };
    if offset.as_os_str().is_empty() {
        return;
    }
    let rebase = |path: &str| -> Option<String> {
        (path.starts_with("./") || path.starts_with("../") || path == "." || path == "..")
            .then(|| format!("./{}/{path}", offset.display()))
    };
    let Some(services) = included.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    for service in services.values_mut() {
        for volume in service.get_mut("volumes").and_then(Value::as_array_mut).into_iter().flatten() {
            match volume {
                Value::String(short) => {
                    if let Some((source, rest)) = short.split_once(':') {
                        if let Some(new) = rebase(source) {
                            *short = format!("{new}:{rest}");
                        }
                    }
                }
                Value::Object(long) => {
                    if let Some(new) = long.get("source").and_then(Value::as_str).and_then(rebase) {
                        long.insert("source".into(), Value::from(new));
                    }
                }
                _ => {}
            }
        }
    }
}

/// Applies `extends` (from this file, or `file:` relative to `dir`) to every service, the way
/// Compose does: the base service's keys, overridden by the service's own (mappings merged, lists
/// joined). Problems (a missing base, a cycle, a `file:` outside `top`, the compose file's folder,
/// which is never read) go to `problems`.
fn resolve_extends(project: &mut Value, dir: &Path, top: &Path, problems: &mut Vec<String>) {
    let names: Vec<String> = keys(project.get("services")).into_iter().collect();
    for name in names {
        let mut seen = BTreeSet::new();
        match extended(project, dir, top, &name, &mut seen) {
            Ok(service) => project["services"][&name] = service,
            Err(problem) => problems.push(problem),
        }
    }
}

/// Service `name` of `project` with its `extends` chain applied.
fn extended(project: &Value, dir: &Path, top: &Path, name: &str, seen: &mut BTreeSet<String>) -> Result<Value, String> {
    let key = format!("{}#{name}", dir.display());
    if !seen.insert(key) || seen.len() > 10 {
        return Err(format!("{name} extends itself (a cycle of extends)"));
    }
    let Some(service) = project.get("services").and_then(|s| s.get(name)).cloned() else {
        return Err(format!("extends names {name}, which is not a service"));
    };
    let (base_service, base_file) = match service.get("extends") {
        None => return Ok(service),
        Some(Value::String(base)) => (base.clone(), None),
        Some(long) => (
            long.get("service").and_then(Value::as_str).unwrap_or_default().to_string(),
            long.get("file").and_then(Value::as_str).map(str::to_string),
        ),
    };
    let base = match base_file {
        None => extended(project, dir, top, &base_service, seen)?,
        Some(file) => {
            let path = normalize(&dir.join(&file));
            let top_real = top.canonicalize().unwrap_or_else(|_| top.to_path_buf());
            if !real_path(&path).starts_with(&top_real) {
                return Err(format!("{name} extends a service of {file}, which is outside the compose file's folder"));
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|_| format!("{name} extends a service of {file}, which cannot be read"))?;
            let other = read_yaml(&text)?;
            extended(&other, path.parent().unwrap_or(dir), top, &base_service, seen)?
        }
    };
    let mut own = service;
    if let Some(map) = own.as_object_mut() {
        map.remove("extends");
    }
    Ok(merge(base, own))
}

/// Compose's merge of a service over its base: mappings merged key by key, lists joined, scalars replaced.
fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (key, value) in over {
                let merged = match base.remove(&key) {
                    Some(old) => merge(old, value),
                    None => value,
                };
                base.insert(key, merged);
            }
            Value::Object(base)
        }
        (Value::Array(mut base), Value::Array(over)) => {
            for value in over {
                if !base.contains(&value) {
                    base.push(value);
                }
            }
            Value::Array(base)
        }
        (_, over) => over,
    }
}

/// What a service's `build:` runs: its Dockerfile (`dockerfile:` in the context, default
/// `Dockerfile`, or `dockerfile_inline:`) read when it is a file inside the compose file's folder,
/// at most 64 KiB. Nothing when there is none to read (a remote context, a file elsewhere).
fn built_runs(build: &Value, dir: &Path) -> Vec<String> {
    if let Some(inline) = build.get("dockerfile_inline").and_then(Value::as_str) {
        return crate::check::dockerfile::runs(inline);
    }
    let context = match build {
        Value::String(context) => context.clone(),
        _ => build.get("context").and_then(text).unwrap_or_else(|| ".".into()),
    };
    if context.contains("://") || context.starts_with("git@") {
        return Vec::new();
    }
    let name = build.get("dockerfile").and_then(text).unwrap_or_else(|| "Dockerfile".into());
    let path = dir.join(&context).join(name);
    let (Ok(real), Ok(inside)) = (path.canonicalize(), dir.canonicalize()) else { return Vec::new() };
    if !real.starts_with(&inside) || !real.is_file() {
        return Vec::new();
    }
    use std::io::Read;
    let mut text = String::new();
    let read = std::fs::File::open(&real).and_then(|f| f.take(64 * 1024).read_to_string(&mut text));
    if read.is_err() {
        return Vec::new();
    }
    crate::check::dockerfile::runs(&text)
}

fn keys(value: Option<&Value>) -> BTreeSet<String> {
    value.and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Service {
    fn read(name: &str, body: &Value, raw: &Value, dir: &Path) -> Service {
        let mut service = Service {
            name: name.to_string(),
            image: body.get("image").and_then(text),
            build: body.get("build").is_some(),
            restart: body.get("restart").and_then(text),
            ..Default::default()
        };
        if let Some(build) = body.get("build") {
            service.runs = built_runs(build, dir);
        }
        if let Some(image) = &service.image {
            let family = crate::check::family(image);
            if !service.runs.contains(&family) {
                service.runs.push(family);
            }
        }
        if service.restart.is_none() {
            service.restart = body.pointer("/deploy/restart_policy/condition").and_then(text);
        }
        for port in body.get("ports").and_then(Value::as_array).into_iter().flatten() {
            match port {
                Value::Object(long) => {
                    let published = long.get("published").and_then(text).unwrap_or_default();
                    let target = long.get("target").and_then(text).unwrap_or_default();
                    service.ports.push(if published.is_empty() { target } else { format!("{published}:{target}") });
                }
                other => service.ports.extend(text(other)),
            }
        }
        for volume in body.get("volumes").and_then(Value::as_array).into_iter().flatten() {
            service.mounts.extend(read_mount(volume));
        }
        for tmpfs in body.get("tmpfs").into_iter().flat_map(|t| match t {
            Value::Array(list) => list.iter().filter_map(text).collect::<Vec<_>>(),
            other => text(other).into_iter().collect(),
        }) {
            let target = tmpfs.split(':').next().unwrap_or_default().to_string();
            service.mounts.push(Mount { kind: MountKind::Tmpfs, source: None, target });
        }
        let network_mode = body.get("network_mode").and_then(text);
        service.networks = match body.get("networks") {
            Some(Value::Array(list)) => list.iter().filter_map(text).collect(),
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            _ if network_mode.is_some() => vec![],
            _ => vec!["default".to_string()],
        };
        service.healthcheck = match body.get("healthcheck") {
            None => Health::Absent,
            Some(h) if h.get("disable").and_then(Value::as_bool) == Some(true) => Health::Disabled,
            Some(h) => match h.get("test") {
                Some(Value::Array(test)) if test.first().and_then(Value::as_str) == Some("NONE") => Health::Disabled,
                Some(Value::Array(test)) if !test.is_empty() => {
                    let words: Vec<String> = test.iter().filter_map(text).collect();
                    let command = match words.first().map(String::as_str) {
                        Some("CMD") => words[1..].join(" "),
                        Some("CMD-SHELL") => words[1..].join(" "),
                        _ => words.join(" "),
                    };
                    health_of(&command)
                }
                Some(Value::String(test)) if !test.trim().is_empty() => health_of(test),
                // A healthcheck without a test only tunes the image's own one.
                _ => Health::Absent,
            },
        };
        // Every name Docker's DNS answers for this service on its networks.
        service.dns_names.insert(name.to_string());
        for key in ["container_name", "hostname"] {
            service.dns_names.extend(body.get(key).and_then(text));
        }
        if let Some(Value::Object(networks)) = body.get("networks") {
            for network in networks.values() {
                for alias in network.get("aliases").and_then(Value::as_array).into_iter().flatten() {
                    service.dns_names.extend(text(alias));
                }
            }
        }
        // `links: ["db:database"]`: `database` names the service `db` from this one.
        for link in body.get("links").and_then(Value::as_array).into_iter().flatten().filter_map(text) {
            let (target, alias) = link.split_once(':').unwrap_or((&link, &link));
            service.links.insert(alias.to_string(), target.to_string());
        }
        match body.get("depends_on") {
            Some(Value::Array(list)) => {
                for dependency in list.iter().filter_map(text) {
                    service.depends_on.insert(dependency, "service_started".into());
                }
            }
            Some(Value::Object(map)) => {
                for (dependency, how) in map {
                    let condition = how.get("condition").and_then(text).unwrap_or_else(|| "service_started".into());
                    service.depends_on.insert(dependency.clone(), condition);
                }
            }
            _ => {}
        }
        service.violations = policy::host_config(&as_host_config(body, &service.mounts, dir));
        service.inline_secrets = inline_secrets(raw.get("environment"));
        // Short syntax: the secret at /run/secrets/NAME; long: its `target` (a name there, or a path).
        for secret in body.get("secrets").and_then(Value::as_array).into_iter().flatten() {
            let (source, target) = match secret {
                Value::Object(long) => {
                    let source = long.get("source").and_then(text).unwrap_or_default();
                    let target = long.get("target").and_then(text).unwrap_or_else(|| source.clone());
                    (source, target)
                }
                other => {
                    let source = text(other).unwrap_or_default();
                    (source.clone(), source)
                }
            };
            let path = if target.starts_with('/') { target } else { format!("/run/secrets/{target}") };
            service.secrets.insert(path, source);
        }
        service.environment = match body.get("environment") {
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v).unwrap_or_default())).collect(),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(text)
                .map(|e| match e.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (e, String::new()),
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        service
    }
}

/// A compose service written as the Engine API's `HostConfig`, as Compose would send it: the
/// `policy` crate judges that shape, for a file as for a request or a running container.
fn as_host_config(body: &Value, mounts: &[Mount], dir: &Path) -> Value {
    let mut host = serde_json::Map::new();
    let list = |key: &str| -> Vec<String> {
        match body.get(key) {
            Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
            Some(other) => text(other).into_iter().collect(),
            None => vec![],
        }
    };
    if body.get("privileged").and_then(text).is_some_and(|v| matches!(v.as_str(), "true" | "True" | "yes")) {
        host.insert("Privileged".into(), Value::Bool(true));
    }
    for (key, field) in
        [("cap_add", "CapAdd"), ("security_opt", "SecurityOpt"), ("device_cgroup_rules", "DeviceCgroupRules")]
    {
        host.insert(field.into(), Value::from(list(key)));
    }
    let devices: Vec<Value> = match body.get("devices") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| match d {
                Value::Object(long) => long.get("source").cloned().unwrap_or(Value::Null),
                other => Value::from(text(other).unwrap_or_default().split(':').next().unwrap_or_default()),
            })
            .map(|path| serde_json::json!({ "PathOnHost": path }))
            .collect(),
        _ => vec![],
    };
    host.insert("Devices".into(), Value::from(devices));
    let gpus = body.get("gpus").is_some()
        || body
            .pointer("/deploy/resources/reservations/devices")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty());
    if gpus {
        host.insert("DeviceRequests".into(), serde_json::json!([{ "Count": -1 }]));
    }
    for (key, field) in [
        ("network_mode", "NetworkMode"),
        ("pid", "PidMode"),
        ("ipc", "IpcMode"),
        ("uts", "UTSMode"),
        ("userns_mode", "UsernsMode"),
        ("cgroup", "CgroupnsMode"),
        ("runtime", "Runtime"),
        ("cgroup_parent", "CgroupParent"),
    ] {
        if let Some(value) = body.get(key).and_then(text) {
            host.insert(field.into(), Value::from(value));
        }
    }
    let sysctls: serde_json::Map<String, Value> = match body.get("sysctls") {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(text)
            .map(|e| {
                let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
                (k.trim().to_string(), Value::from(v.trim()))
            })
            .collect(),
        _ => serde_json::Map::new(),
    };
    host.insert("Sysctls".into(), Value::Object(sysctls));
    if let Some(driver) = body.pointer("/logging/driver").and_then(text) {
        host.insert("LogConfig".into(), serde_json::json!({ "Type": driver }));
    }
    // Binds as Compose resolves them: relative to the file's folder.
    let binds: Vec<Value> = mounts
        .iter()
        .filter(|m| m.kind == MountKind::Bind)
        .map(|m| {
            let source = m.source.as_deref().unwrap_or_default();
            let absolute =
                if source.starts_with('/') { Path::new(source).to_path_buf() } else { normalize(&dir.join(source)) };
            serde_json::json!({ "Type": "bind", "Source": absolute.to_string_lossy(), "Target": m.target })
        })
        .collect();
    host.insert("Mounts".into(), Value::from(binds));
    Value::Object(host)
}

fn read_mount(volume: &Value) -> Option<Mount> {
    match volume {
        Value::Object(long) => {
            let target = long.get("target").and_then(text)?;
            let source = long.get("source").and_then(text).filter(|s| !s.is_empty());
            let kind = match long.get("type").and_then(Value::as_str).unwrap_or("volume") {
                "bind" => MountKind::Bind,
                "tmpfs" => MountKind::Tmpfs,
                _ if source.is_none() => MountKind::Anonymous,
                _ => MountKind::Named,
            };
            Some(Mount { kind, source, target })
        }
        other => {
            let spec = text(other)?;
            let parts: Vec<&str> = spec.split(':').collect();
            match parts.as_slice() {
                [target] => Some(Mount { kind: MountKind::Anonymous, source: None, target: target.to_string() }),
                [source, target, ..] => {
                    let bind = source.starts_with('/') || source.starts_with('.') || source.starts_with('~');
                    let kind = if bind { MountKind::Bind } else { MountKind::Named };
                    Some(Mount { kind, source: Some(source.to_string()), target: target.to_string() })
                }
                [] => None,
            }
        }
    }
}

/// Secret-looking entries of a service's raw (not yet interpolated) `environment`.
fn inline_secrets(environment: Option<&Value>) -> Vec<String> {
    let entries: Vec<(String, Option<String>)> = match environment {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(text)
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (e, None),
            })
            .collect(),
        _ => vec![],
    };
    entries
        .into_iter()
        .filter(|(key, _)| {
            let upper = key.to_ascii_uppercase();
            !upper.ends_with("_FILE") && SECRET_WORDS.iter().any(|w| upper.contains(w))
        })
        .filter_map(|(key, value)| {
            let value = value?;
            match secret_source(&value) {
                SecretSource::Variable => None,
                SecretSource::Literal => Some(format!("{key} is written in the file")),
                SecretSource::Default => Some(format!("{key} has a default written in the file")),
            }
        })
        .collect()
}

enum SecretSource {
    Variable,
    Literal,
    Default,
}

/// Whether a raw value is exactly one variable reference, one with a written default, or a literal.
fn secret_source(value: &str) -> SecretSource {
    let value = value.trim();
    if value.is_empty() {
        return SecretSource::Variable;
    }
    if let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        if let Some(at) = inner.find([':', '-', '?']) {
            let rest = inner[at..].trim_start_matches(':');
            return match rest.chars().next() {
                Some('-') if rest.len() > 1 => SecretSource::Default,
                _ => SecretSource::Variable,
            };
        }
        return SecretSource::Variable;
    }
    if value.starts_with('$') && value[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return SecretSource::Variable;
    }
    SecretSource::Literal
}

/// `KEY=VALUE` lines; `#` comments, `export `, and matching quotes around a value are dropped.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches("export ").split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = [('"', '"'), ('\'', '\'')]
                .iter()
                .find_map(|(open, close)| v.strip_prefix(*open).and_then(|r| r.strip_suffix(*close)))
                .unwrap_or(v);
            (k.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

fn interpolate_all(
    value: &mut Value,
    env: &BTreeMap<String, String>,
    required: &mut BTreeSet<String>,
    problems: &mut Vec<String>,
) {
    match value {
        Value::String(s) => match interpolate(s, env, required) {
            Ok(done) => *s = done,
            Err(problem) => {
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        },
        Value::Array(list) => list.iter_mut().for_each(|v| interpolate_all(v, env, required, problems)),
        Value::Object(map) => map.values_mut().for_each(|v| interpolate_all(v, env, required, problems)),
        _ => {}
    }
}

/// Compose's variable syntax: `$$`, `$X`, `${X}`, `${X:-d}`, `${X-d}`, `${X:?m}`, `${X?m}`, `${X:+v}`.
/// Records variables used without a default in `required`; an unset `:?`/`?` variable is an error.
pub fn interpolate(
    text: &str,
    env: &BTreeMap<String, String>,
    required: &mut BTreeSet<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(body) = rest.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("unclosed ${{ in '{text}'"))?;
            let expression = &body[..end];
            rest = &body[end + 1..];
            let name_end =
                expression.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expression.len());
            let (name, operator) = expression.split_at(name_end);
            if name.is_empty() {
                return Err(format!("'${{{expression}}}' is not a variable"));
            }
            let value = env.get(name);
            let set_nonempty = value.is_some_and(|v| !v.is_empty());
            let (colon, operator) = match operator.strip_prefix(':') {
                Some(op) => (true, op),
                None => (false, operator),
            };
            let usable = if colon { set_nonempty } else { value.is_some() };
            match operator.chars().next() {
                None => {
                    required.insert(name.to_string());
                    out.push_str(value.map_or("", String::as_str));
                }
                Some('-') => out.push_str(if usable { value.map_or("", String::as_str) } else { &operator[1..] }),
                Some('?') => {
                    required.insert(name.to_string());
                    if !usable {
                        let message = operator[1..].trim();
                        return Err(if message.is_empty() {
                            format!("variable {name} is not set")
                        } else {
                            format!("variable {name} is not set: {message}")
                        });
                    }
                    out.push_str(value.map_or("", String::as_str));
                }
                Some('+') => out.push_str(if usable { &operator[1..] } else { "" }),
                Some(_) => return Err(format!("'${{{expression}}}' is not Compose's variable syntax")),
            }
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if end == 0 {
                out.push('$');
                continue;
            }
            let name = &rest[..end];
            required.insert(name.to_string());
            out.push_str(env.get(name).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    Ok(out)
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

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn interpolation_follows_compose() {
        let e = env(&[("SET", "x"), ("EMPTY", "")]);
        let mut required = BTreeSet::new();
        let mut run = |t: &str| interpolate(t, &e, &mut required);
        assert_eq!(run("a${SET}b$SET.$$SET").unwrap(), "axbx.$SET");
        assert_eq!(run("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}").unwrap(), "d d  d");
        assert_eq!(run("${SET:+yes}${UNSET:+no}").unwrap(), "yes");
        assert_eq!(run("${EMPTY:?needed}").unwrap_err(), "variable EMPTY is not set: needed");
        assert_eq!(run("${EMPTY?needed}").unwrap(), "");
        assert!(run("${SET").is_err());
        assert_eq!(run("price: 5$").unwrap(), "price: 5$");
        assert!(required.contains("SET") && required.contains("EMPTY") && !required.contains("UNSET"));
    }

    #[test]
    fn env_files_drop_comments_export_and_quotes() {
        let parsed = parse_env_file("# c\nA=1\nexport B=\"two words\"\nC='x'\n\nD=\n");
        assert_eq!(parsed, env(&[("A", "1"), ("B", "two words"), ("C", "x"), ("D", "")]));
    }

    #[test]
    fn secret_sources() {
        assert!(matches!(secret_source("${DB_PASSWORD}"), SecretSource::Variable));
        assert!(matches!(secret_source("${DB_PASSWORD:?set it}"), SecretSource::Variable));
        assert!(matches!(secret_source("$DB_PASSWORD"), SecretSource::Variable));
        assert!(matches!(secret_source("${DB_PASSWORD:-hunter2}"), SecretSource::Default));
        assert!(matches!(secret_source("hunter2"), SecretSource::Literal));
    }

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

    fn parsed(text: &str) -> Project {
        Project::parse(text, &BTreeMap::new(), Path::new("/s/compose.yaml"), None).unwrap()
    }

    #[test]
    fn services_of_inactive_profiles_are_not_judged_and_an_active_one_is() {
        let text = "services:\n  web:\n    image: nginx:1.27\n  debug:\n    image: busybox\n    privileged: true\n    profiles: [debug]\n";
        let project = parsed(text);
        assert_eq!(project.services.keys().collect::<Vec<_>>(), ["web"]);
        assert_eq!(project.inactive["debug"], ["debug"]);
        assert!(project.problems.is_empty(), "{:?}", project.problems);
        for profiles in ["debug", "other, debug", "*"] {
            let env = env(&[("COMPOSE_PROFILES", profiles)]);
            let project = Project::parse(text, &env, Path::new("/s/compose.yaml"), None).unwrap();
            assert!(project.services["debug"].violations.iter().any(|v| v.rule.id() == "no-privileged"), "{profiles}");
        }
        // A service that always runs cannot depend on one that does not: Compose v2 refuses the file.
        let needs = "services:\n  web:\n    image: nginx:1.27\n    depends_on: [db]\n  db:\n    image: mariadb:10.11\n    profiles: [db]\n";
        let problems = parsed(needs).problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("web depends on db, which runs only with profile db"), "{problems:?}");
    }

    #[test]
    fn healthchecks_that_cannot_fail_are_told_from_real_ones() {
        let health = |test: &str| {
            let project =
                parsed(&format!("services:\n  db:\n    image: mariadb:10.11\n    healthcheck:\n      test: {test}\n"));
            project.services["db"].healthcheck
        };
        for vacuous in [
            r#"["CMD", "true"]"#,
            r#"["CMD-SHELL", "exit 0"]"#,
            r#"["CMD-SHELL", "echo ok"]"#,
            r#"["CMD-SHELL", "mysqladmin ping || true"]"#,
            "/bin/true",
            r#"["CMD", ":"]"#,
        ] {
            assert_eq!(health(vacuous), Health::Vacuous, "{vacuous}");
        }
        for real in [
            r#"["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]"#,
            r#"["CMD-SHELL", "mysqladmin ping -h localhost || exit 1"]"#,
            r#"["CMD-SHELL", "curl -f http://localhost/ && echo ok"]"#,
            "mysqladmin ping",
        ] {
            assert_eq!(health(real), Health::Defined, "{real}");
        }
        assert_eq!(health(r#"["NONE"]"#), Health::Disabled);
    }

    #[test]
    fn what_compose_v2_reads_the_model_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        std::fs::write(
            dir.path().join("db/compose.yaml"),
            "services:\n  db:\n    image: mariadb:10.11\n    volumes: [db:/var/lib/mysql, ./init:/docker-entrypoint-initdb.d:ro, ../../..:/up]\nvolumes:\n  db:\n",
        )
        .unwrap();
        let file = dir.path().join("compose.yaml");
        let top = "name: my-stack\ninclude:\n  - db/compose.yaml\nservices:\n  web:\n    image: wordpress:6.1\n    environment: { WORDPRESS_DB_HOST: db }\n    depends_on: [db]\n";
        std::fs::write(&file, top).unwrap();
        let project = Project::load(&file).unwrap();
        assert!(project.problems.is_empty(), "{:?}", project.problems);
        assert_eq!(project.services.keys().collect::<Vec<_>>(), ["db", "web"]);
        let db = &project.services["db"];
        // The included file's binds are judged from its own folder: ./init stays inside, ../../.. climbs out.
        let binds: Vec<&str> =
            db.mounts.iter().filter(|m| m.kind == MountKind::Bind).filter_map(|m| m.source.as_deref()).collect();
        assert_eq!(binds, ["./db/./init", "./db/../../.."]);
        let db = db.clone();
        let project = Project { root: Some(dir.path().to_path_buf()), ..project };
        assert_eq!(host_path_problems(&project, &db).len(), 1, "{:?}", host_path_problems(&project, &db));
        // A service defined twice, and a file that is not there, are problems as they are for Compose.
        std::fs::write(&file, format!("{top}  db:\n    image: mariadb:10.11\n")).unwrap();
        assert!(Project::load(&file).unwrap().problems.iter().any(|p| p.contains("defines services db otherwise")));
        // The same definition in both files is one, as Compose takes it (a shared volume or network).
        std::fs::write(&file, format!("{top}volumes:\n  db:\n")).unwrap();
        assert_eq!(Project::load(&file).unwrap().problems, Vec::<String>::new());
        std::fs::write(&file, top.replace("db/compose.yaml", "nope.yaml")).unwrap();
        assert!(Project::load(&file).unwrap().problems.iter().any(|p| p.contains("cannot read nope.yaml")));
        // A file outside the compose file's folder is never read, however it is named, included
        // or extended from.
        std::os::unix::fs::symlink("/etc", dir.path().join("escape")).unwrap();
        let outer = dir.path().parent().unwrap().join(format!("{}-outside.yaml", std::process::id()));
        std::fs::write(&outer, "services:\n  base:\n    image: nginx:1.27\n    privileged: true\n").unwrap();
        let outer_relative = format!("../{}", outer.file_name().unwrap().to_string_lossy());
        for outside in ["/etc/hostname", "../outside.yaml", "escape/hostname", outer_relative.as_str()] {
            std::fs::write(&file, top.replace("db/compose.yaml", outside)).unwrap();
            let problems = Project::load(&file).unwrap().problems;
            assert!(
                problems.iter().any(|p| p.contains("is outside the compose file's folder")),
                "include {outside}: {problems:?}"
            );
            let extending = format!(
                "services:\n  web:\n    image: wordpress:6.1\n    extends: {{ file: \"{outside}\", service: base }}\n"
            );
            std::fs::write(&file, extending).unwrap();
            let project = Project::load(&file).unwrap();
            assert!(
                project
                    .problems
                    .iter()
                    .any(|p| p.contains("web extends a service of")
                        && p.contains("is outside the compose file's folder")),
                "extends {outside}: {:?}",
                project.problems
            );
            assert!(project.services["web"].violations.is_empty(), "extends {outside}: the outside file was read");
        }
        // Known-good: the same base inside the folder is read and its privilege seen.
        std::fs::copy(&outer, dir.path().join("base.yaml")).unwrap();
        std::fs::write(
            &file,
            "services:\n  web:\n    image: wordpress:6.1\n    extends: { file: base.yaml, service: base }\n",
        )
        .unwrap();
        assert!(
            !Project::load(&file).unwrap().services["web"].violations.is_empty(),
            "a base inside the folder is read"
        );
        let _ = std::fs::remove_file(&outer);
    }

    #[test]
    fn a_secret_file_a_service_reads_is_found_inside_the_submission_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("stack/secrets")).unwrap();
        std::fs::write(root.join("stack/secrets/admin"), "s3cret\n").unwrap();
        std::fs::write(root.join("outside"), "not yours\n").unwrap();
        let compose = |source: &str, how: &str| {
            format!("services:\n  files:\n    image: nextcloud:28-apache\n    environment:\n      NEXTCLOUD_ADMIN_PASSWORD_FILE: /run/secrets/{how}\n    secrets: [{{ source: admin, target: {how} }}]\nsecrets:\n  admin:\n    file: {source}\n")
        };
        let value = |text: String| {
            std::fs::write(root.join("stack/compose.yaml"), text).unwrap();
            secret_value(&root.join("stack"), &root.join("stack"), &["nextcloud"], "NEXTCLOUD_ADMIN_PASSWORD_FILE")
        };
        assert_eq!(value(compose("./secrets/admin", "admin")).as_deref(), Some("s3cret"));
        assert_eq!(value(compose("./secrets/admin", "nc_admin")).as_deref(), Some("s3cret"), "another target name");
        // Short syntax: mounted at /run/secrets/<name>.
        let short = "services:\n  files:\n    image: nextcloud:28\n    environment: [NEXTCLOUD_ADMIN_PASSWORD_FILE=/run/secrets/admin]\n    secrets: [admin]\nsecrets:\n  admin: { file: secrets/admin }\n";
        assert_eq!(value(short.to_string()).as_deref(), Some("s3cret"));
        // Outside the submission, or another image, or no *_FILE: nothing.
        assert_eq!(value(compose("../outside", "admin")), None, "a file outside the submission is never read");
        assert_eq!(value(compose("/etc/hostname", "admin")), None);
        assert_eq!(value(compose("./secrets/admin", "admin").replace("nextcloud:28-apache", "wordpress:6.1")), None);
        assert_eq!(value(compose("./secrets/admin", "admin").replace("_FILE: /run/secrets/admin", ": plain")), None);
    }

    #[test]
    fn hostnames_resolve_as_dockers_dns_does() {
        let project = parsed(
            "services:\n  app:\n    image: wordpress:6.1\n    links: [\"store:legacy\"]\n    networks: [back]\n  store:\n    image: mariadb:10.11\n    networks:\n      back:\n        aliases: [wordpress-db, db.internal]\n  named:\n    image: mariadb:10.11\n    container_name: the-db\n    hostname: db-host\nnetworks:\n  back:\n",
        );
        let app = &project.services["app"];
        let resolved = |host: &str| project.resolve(app, host).map(|s| s.name.clone());
        assert_eq!(resolved("store").as_deref(), Some("store"));
        assert_eq!(resolved("wordpress-db").as_deref(), Some("store"), "a network alias");
        assert_eq!(resolved("db.internal").as_deref(), Some("store"));
        assert_eq!(resolved("legacy").as_deref(), Some("store"), "a link's alias");
        assert_eq!(resolved("the-db").as_deref(), Some("named"), "container_name");
        assert_eq!(resolved("db-host").as_deref(), Some("named"), "hostname");
        assert_eq!(resolved("nowhere"), None);
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

    #[test]
    fn short_and_long_mounts() {
        let m = |v: Value| read_mount(&v).unwrap();
        assert_eq!(m("db:/var/lib/mysql".into()).kind, MountKind::Named);
        assert_eq!(m("./data:/var/lib/mysql:rw".into()).kind, MountKind::Bind);
        assert_eq!(m("/var/lib/mysql".into()).kind, MountKind::Anonymous);
        assert_eq!(m(serde_json::json!({"type": "bind", "source": "/x", "target": "/y"})).kind, MountKind::Bind);
        assert_eq!(m(serde_json::json!({"type": "volume", "target": "/y"})).kind, MountKind::Anonymous);
        assert_eq!(m(serde_json::json!({"type": "volume", "source": "v", "target": "/y"})).kind, MountKind::Named);
    }
}
