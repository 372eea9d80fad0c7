//! The Compose model: a Compose file read the way Compose reads it, into one normal form the
//! rules and the checks look at. Variables are interpolated as Compose does (`${X}`,
//! `${X:-default}`, `${X-default}`, `${X:?message}`, `$X`, `$$`) from the `.env` beside the file -
//! or from `.env.example` when there is none, as in a fresh clone; `include`d files and `extends`
//! are merged; short syntaxes (ports, volumes, `depends_on` and `environment` lists) are read into
//! one shape; a built service knows what its Dockerfile runs.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Environment names that hold secrets (upper-cased before matching).
const SECRET_WORDS: &[&str] = &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "_KEY", "SALT"];
pub use policy::{compose_file, COMPOSE_FILE_NAMES};

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
    let path = policy::clean(&dir.join(source));
    let root = root.canonicalize().ok()?;
    if !policy::real_path(&path).starts_with(&root) {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    if bytes.len() > 4096 {
        return None;
    }
    Some(String::from_utf8(bytes).ok()?.trim_end_matches(['\n', '\r']).to_string())
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
    if crate::check::dockerfile::cannot_fail(command) {
        Health::Vacuous
    } else {
        Health::Defined
    }
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
    pub(super) fn volume_problems(&self) -> Vec<String> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let root = self.root.clone().unwrap_or_else(|| dir.to_path_buf());
        let root = root.canonicalize().unwrap_or(root);
        let mut problems = Vec::new();
        for (name, (driver, options)) in &self.volume_drivers {
            match policy::volume_driver(driver, options) {
                Ok(None) => {}
                Ok(Some(device)) => {
                    let device = policy::real_path(&dir.join(&device));
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
        let file = policy::clean(&dir.join(&path));
        let top_real = top.canonicalize().unwrap_or_else(|_| top.to_path_buf());
        if !policy::real_path(&file).starts_with(&top_real) {
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
            let path = policy::clean(&dir.join(&file));
            let top_real = top.canonicalize().unwrap_or_else(|_| top.to_path_buf());
            if !policy::real_path(&path).starts_with(&top_real) {
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
            let absolute = if source.starts_with('/') {
                Path::new(source).to_path_buf()
            } else {
                policy::clean(&dir.join(source))
            };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compose::host_path_problems;

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
