//! The curriculum: labs, their steps in order, the services `--up` starts, and default variables.
//!
//! Read from `labs/labs.toml` in the *grader's* workspace - never from a submission, so a student
//! cannot grade themselves with an edited rubric. Each step names its crate directory, which holds
//! the reference code, the handout (`README.md`) and the rubric (`rubric.toml`).

use crate::error::LoadError;
use crate::rubric::{is_slug, Rubric};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where the curriculum lives, relative to the workspace root.
pub const CURRICULUM_FILE: &str = "labs/labs.toml";

/// Variables that only service definitions may use: a per-run scratch directory.
pub const SERVICE_VARS: &[&str] = &["state_dir"];

#[derive(Debug, Clone, PartialEq)]
pub struct Curriculum {
    /// The workspace root the curriculum was read from.
    pub root: PathBuf,
    pub labs: Vec<Lab>,
    /// The hosts a submission's build may reach (package mirrors, registries): nothing else (none
    /// where the file names none). An entry starting with a dot names a domain and every name under it.
    pub build_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub id: String,
    pub title: String,
    /// One paragraph for `cargo xtask` listings.
    pub summary: String,
    /// Default values of the variables its rubrics and services use (`--var` overrides them).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The variables that differ between submissions graded side by side (`grade --jobs`).
    /// Declared, never inferred from a name: every variable not listed stays as it is for every
    /// job (a port a student's configuration names inside its own namespace, the name a
    /// certificate must carry).
    #[serde(default)]
    pub per_job: PerJob,
    /// Variables a submission's compose file may give in a file of its own - a Compose secret
    /// read through a `*_FILE` variable, e.g. Nextcloud's admin password - which the checks then
    /// use: what the student set is what is graded. `--var` still wins.
    #[serde(default)]
    pub from_compose: BTreeMap<String, FromCompose>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// What `--up` starts, in order.
    #[serde(default, rename = "service")]
    pub services: Vec<Service>,
}

/// What each job of a batch gets of its own.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerJob {
    /// Port variables published on this machine: each job gets a free port of its own.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Name variables of what a run creates in the engine (containers, a Compose project): each
    /// job's value has the job's slot appended.
    #[serde(default)]
    pub names: Vec<String>,
}

/// Where one variable is read from a submission's compose file (see [`Lab::from_compose`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromCompose {
    /// The compose file's folder in the submission (over the lab's variables: `{compose_dir}`).
    pub dir: String,
    /// The image families of the service that reads it, space-separated (`{nextcloud_images}`).
    pub images: String,
    /// The service's variable naming the file in its container (`NEXTCLOUD_ADMIN_PASSWORD_FILE`).
    pub file_env: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// The step's crate directory, relative to the workspace root.
    pub dir: PathBuf,
}

/// Something `--up` builds from the submission with cargo and starts. Two kinds:
///
/// - a **process** (`args`): runs as a child of the grader until grading ends;
/// - a **command** (`start`, `stop`, `restart`): a tool (like `web-db`) that sets containers up and
///   exits; `stop` stops what it made (the run's reaper removes it). Everything it makes is listed in `creates`: `--up` refuses to
///   start when any of it already exists (it never adopts or removes what it did not create).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// The step it serves: `--step` starts only its own step's services (none: every step's).
    pub step: Option<String>,
    /// The course's cargo package whose binary runs (built from the grader's own workspace, never
    /// from the submission).
    #[serde(default)]
    pub package: String,
    /// Instead of a package: a program of the sandbox's toolbox image (`sh`, `docker`) that a
    /// command service runs, e.g. the submission's own script.
    pub program: Option<String>,
    /// The binary to run (defaults to the package name).
    pub bin: Option<String>,
    /// A process's arguments.
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `host:port` that accepts connections once the service is ready (and must be free before).
    /// A command service may leave it out: it is ready once its start command has exited 0 (a
    /// student's script whose container publishes nothing is graded, not waited on).
    #[serde(default)]
    pub ready: String,
    /// A command service's arguments to set up (it must exit 0 once everything is ready).
    pub start: Option<Vec<String>>,
    /// A command service's arguments to remove everything `start` made.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Named restarts a persistence check can ask for (name -> arguments), e.g. recreate a container.
    #[serde(default)]
    pub restart: BTreeMap<String, Vec<String>>,
    /// Images that must exist first: the project's own are built from the submission, stand-ins from the grader.
    #[serde(default)]
    pub images: Vec<String>,
    /// What a command service creates in the engine.
    #[serde(default)]
    pub creates: Creates,
    /// Where no Docker engine runs (`check --no-engine`: a course platform's autograder), the
    /// same service as a process of this machine (the package's `bin` with these arguments);
    /// without it such a service is not started there, and its step's live checks are not run.
    pub without_engine: Option<WithoutEngine>,
}

/// A service's stand-in as a process, for a machine without a Docker engine.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithoutEngine {
    pub args: Vec<String>,
}

/// Engine objects a command service creates, by name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Creates {
    #[serde(default)]
    pub containers: Vec<String>,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    /// A Compose project: every container, network and volume labelled
    /// `com.docker.compose.project=<this>` (names differ between Compose v1 and v2; labels do not).
    pub compose_project: Option<String>,
}

impl Creates {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
            && self.compose_project.is_none()
    }

    fn strings(&self) -> impl Iterator<Item = &String> {
        self.containers.iter().chain(&self.networks).chain(&self.volumes).chain(&self.compose_project)
    }
}

impl Service {
    pub fn bin(&self) -> &str {
        self.bin.as_deref().unwrap_or(&self.package)
    }

    /// Whether this is a command service (else a process).
    pub fn is_command(&self) -> bool {
        self.start.is_some()
    }

    /// Whether it runs in a Docker engine (a command service's sandbox, or an image).
    pub fn needs_engine(&self) -> bool {
        self.is_command() || !self.images.is_empty()
    }

    /// The service for a machine without a Docker engine: itself, its process stand-in
    /// ([`WithoutEngine`]), or none.
    pub fn without_engine(&self) -> Option<Service> {
        if !self.needs_engine() {
            return Some(self.clone());
        }
        let alternative = self.without_engine.as_ref()?;
        Some(Service {
            args: alternative.args.clone(),
            start: None,
            stop: Vec::new(),
            restart: BTreeMap::new(),
            images: Vec::new(),
            creates: Creates::default(),
            program: None,
            without_engine: None,
            ..self.clone()
        })
    }

    /// The variables named `*_port` this service uses: ports that must be free before `--up`.
    pub fn port_vars(&self) -> BTreeSet<String> {
        self.strings()
            .into_iter()
            .flat_map(|s| {
                s.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
            })
            .filter(|name| name.ends_with("_port"))
            .collect()
    }

    /// Every string that may hold `{placeholders}`.
    fn strings(&self) -> Vec<&String> {
        let mut all: Vec<&String> = self.args.iter().chain(self.env.values()).chain([&self.ready]).collect();
        all.extend(self.start.iter().flatten());
        all.extend(&self.stop);
        all.extend(self.restart.values().flatten());
        all.extend(&self.images);
        all.extend(self.creates.strings());
        all
    }

    fn check_shape(&self, lab: &Lab) -> Result<(), String> {
        let name = &self.name;
        if let Some(step) = &self.step {
            if lab.step(step).is_err() {
                return Err(format!("service '{name}' serves step '{step}', which lab '{}' does not have", lab.id));
            }
        }
        match (self.package.is_empty(), &self.program) {
            (true, None) => {
                return Err(format!("service '{name}' needs a package (or, for a command service, a program)"))
            }
            (false, Some(_)) => return Err(format!("service '{name}' has a package and a program: give one")),
            (true, Some(_)) if !self.is_command() => {
                return Err(format!("service '{name}': only command services run a program of the sandbox"))
            }
            _ => {}
        }
        if !self.is_command() && self.ready.is_empty() {
            return Err(format!("service '{name}' needs ready (the host:port that answers once it runs)"));
        }
        if self.is_command() {
            if !self.args.is_empty() {
                return Err(format!("service '{name}' has start (a command) and args (a process): give one"));
            }
            if self.stop.is_empty() {
                return Err(format!("command service '{name}' needs stop (how to remove what start made)"));
            }
            if self.creates.is_empty() {
                return Err(format!("command service '{name}' needs creates (what start makes, by name)"));
            }
        } else if !self.stop.is_empty() || !self.restart.is_empty() || !self.creates.is_empty() {
            return Err(format!(
                "service '{name}' has stop/restart/creates but no start: only command services have them"
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCurriculum {
    format_version: u32,
    #[serde(default)]
    build_hosts: Vec<String>,
    #[serde(rename = "lab")]
    labs: Vec<Lab>,
}

/// `deb.debian.org`, `.pythonhosted.org`: letters, digits, hyphens and dots, at least one inner dot.
fn is_host_name(text: &str) -> bool {
    let name = text.strip_prefix('.').unwrap_or(text);
    name.contains('.')
        && name.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !part.starts_with('-')
        })
        && !name.split('.').all(|part| part.chars().all(|c| c.is_ascii_digit()))
}

impl Curriculum {
    /// Reads `labs/labs.toml` under `root` and checks its own rules (not yet the rubrics: see [`Curriculum::validate`]).
    pub fn load(root: &Path) -> Result<Curriculum, LoadError> {
        let path = root.join(CURRICULUM_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read { path: path.clone(), source })?;
        Curriculum::parse(root, &path, &text)
    }

    pub fn parse(root: &Path, path: &Path, text: &str) -> Result<Curriculum, LoadError> {
        let raw: RawCurriculum = toml::from_str(text).map_err(|e| LoadError::parse(path, text, e))?;
        if raw.format_version != 1 {
            return Err(LoadError::invalid(
                path,
                format!("format_version {} is not supported (this grader reads 1)", raw.format_version),
            ));
        }
        if let Some(bad) = raw.build_hosts.iter().find(|h| !is_host_name(h)) {
            return Err(LoadError::invalid(
                path,
                format!("build_hosts: `{bad}` is not a host name (e.g. deb.debian.org, or .debian.org for every name under it)"),
            ));
        }
        let curriculum = Curriculum { root: root.to_path_buf(), labs: raw.labs, build_hosts: raw.build_hosts };
        curriculum.check_shape().map_err(|m| LoadError::invalid(path, m))?;
        Ok(curriculum)
    }

    fn check_shape(&self) -> Result<(), String> {
        if self.labs.is_empty() {
            return Err("no [[lab]] defined".into());
        }
        let mut lab_ids = BTreeSet::new();
        let mut step_ids = BTreeSet::new();
        for lab in &self.labs {
            if !is_slug(&lab.id) || !lab_ids.insert(&lab.id) {
                return Err(format!("lab id '{}' is not a unique lowercase slug", lab.id));
            }
            if lab.steps.is_empty() {
                return Err(format!("lab '{}' has no steps", lab.id));
            }
            for step in &lab.steps {
                if !is_slug(&step.id) || !step_ids.insert(&step.id) {
                    return Err(format!("step id '{}' is not a unique lowercase slug", step.id));
                }
            }
            let mut names = BTreeSet::new();
            for service in &lab.services {
                if !names.insert(&service.name) {
                    return Err(format!("lab '{}' defines service '{}' twice", lab.id, service.name));
                }
                service.check_shape(lab)?;
                let known = lab.known_vars();
                for text in service.strings() {
                    for name in crate::vars::placeholders(text) {
                        if !known.contains(name)
                            && !crate::vars::BUILTIN.contains(&name)
                            && !SERVICE_VARS.contains(&name)
                        {
                            return Err(format!("service '{}' uses unknown variable {{{name}}}", service.name));
                        }
                    }
                }
            }
            lab.check_per_job()?;
            if let Some(name) = lab.from_compose.keys().find(|n| !lab.vars.contains_key(*n)) {
                return Err(format!("lab '{}': from_compose names {name}, which is not one of its vars", lab.id));
            }
        }
        Ok(())
    }

    /// The lab called `id`, or a message listing the labs there are.
    pub fn lab(&self, id: &str) -> Result<&Lab, String> {
        self.labs.iter().find(|l| l.id == id).ok_or_else(|| {
            let known: Vec<_> = self.labs.iter().map(|l| l.id.as_str()).collect();
            format!("unknown lab '{id}' (labs: {})", known.join(", "))
        })
    }

    /// Loads the rubric of `step` of `lab`.
    pub fn rubric(&self, lab: &Lab, step: &Step) -> Result<Rubric, LoadError> {
        let path = self.root.join(&step.dir).join("rubric.toml");
        let known: BTreeSet<String> = lab.vars.keys().cloned().collect();
        Rubric::load(&path, &known)
    }

    /// Everything a course author can get wrong: each step's crate, handout and rubric are there,
    /// rubrics load, handouts end with "Going further" (what else a chapter must have, `cargo xtask book` checks). Returns every problem, not just the first.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for lab in &self.labs {
            for step in &lab.steps {
                let dir = self.root.join(&step.dir);
                for file in ["Cargo.toml", "README.md", "rubric.toml"] {
                    if !dir.join(file).is_file() {
                        problems.push(format!("step '{}': {} is missing", step.id, dir.join(file).display()));
                    }
                }
                if let Ok(handout) = std::fs::read_to_string(dir.join("README.md")) {
                    if !handout.contains("## Going further") {
                        problems.push(format!("step '{}': the handout has no \"## Going further\" section", step.id));
                    }
                }
                if dir.join("rubric.toml").is_file() {
                    if let Err(e) = self.rubric(lab, step) {
                        problems.push(e.to_string());
                    }
                }
            }
        }
        problems
    }
}

impl Lab {
    /// The step called `id`, or a message listing the lab's steps.
    pub fn step(&self, id: &str) -> Result<&Step, String> {
        self.steps.iter().find(|s| s.id == id).ok_or_else(|| {
            let known: Vec<_> = self.steps.iter().map(|s| s.id.as_str()).collect();
            format!("lab '{}' has no step '{id}' (steps: {})", self.id, known.join(", "))
        })
    }

    /// The services `--up` starts for these steps, in order.
    pub fn services_for(&self, steps: &[&str]) -> Vec<&Service> {
        self.services.iter().filter(|s| s.step.as_deref().is_none_or(|step| steps.contains(&step))).collect()
    }

    pub fn known_vars(&self) -> BTreeSet<&str> {
        self.vars.keys().map(String::as_str).collect()
    }

    /// `per_job` names variables of the lab, and covers what two jobs would otherwise share:
    /// every port a service waits on and every name it creates in the engine.
    fn check_per_job(&self) -> Result<(), String> {
        let id = &self.id;
        for name in self.per_job.ports.iter().chain(&self.per_job.names) {
            if !self.vars.contains_key(name) {
                return Err(format!("lab '{id}': per_job names {name}, which is not one of its vars"));
            }
        }
        if let Some(name) = self.per_job.ports.iter().find(|p| self.per_job.names.contains(p)) {
            return Err(format!("lab '{id}': per_job lists {name} as a port and as a name: give one"));
        }
        for service in &self.services {
            let waits_on = service.ready.rsplit_once(':').map(|(_, port)| port).unwrap_or_default();
            for var in crate::vars::placeholders(waits_on) {
                if !self.per_job.ports.iter().any(|p| p == var) {
                    return Err(format!(
                        "lab '{id}': service '{}' waits on {{{var}}}, which per_job.ports does not list (two jobs would share the port)",
                        service.name
                    ));
                }
            }
            for created in service.creates.strings() {
                let vars = crate::vars::placeholders(created);
                if !vars.iter().any(|v| self.per_job.names.iter().chain(&self.per_job.ports).any(|n| n == v)) {
                    return Err(format!(
                        "lab '{id}': service '{}' creates {created}, which no per_job variable makes its own (two jobs would share it)",
                        service.name
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        let got = match Curriculum::parse(Path::new("/w"), Path::new("labs.toml"), text) {
            Ok(c) => c.labs.iter().map(|l| format!("{}:{}", l.id, l.steps.len())).collect::<Vec<_>>().join(","),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expected);
    }

    const GOOD: &str = r#"
format_version = 1
[[lab]]
id = "lab1"
title = "T"
summary = "S"
vars = { port = "1", fixed = "2" }
per_job = { ports = ["port"] }
[[lab.step]]
id = "a"
title = "A"
dir = "labs/a"
[[lab.service]]
name = "a"
package = "a"
args = ["--port", "{port}", "--data", "{state_dir}/x"]
ready = "127.0.0.1:{port}"
"#;

    #[test]
    fn curriculum_rules() {
        check(GOOD, "lab1:1");
        check(
            &GOOD.replace(
                "format_version = 1",
                "format_version = 1\nbuild_hosts = [\"deb.debian.org\", \".pythonhosted.org\"]",
            ),
            "lab1:1",
        );
        for bad in ["localhost", "172.17.0.1", "*.debian.org", "deb.debian.org:80", "-x.org"] {
            check(
                &GOOD.replace("format_version = 1", &format!("format_version = 1\nbuild_hosts = [\"{bad}\"]")),
                &format!("labs.toml is invalid: build_hosts: `{bad}` is not a host name (e.g. deb.debian.org, or .debian.org for every name under it)"),
            );
        }
        check(
            &GOOD.replace("format_version = 1", "format_version = 2"),
            "labs.toml is invalid: format_version 2 is not supported (this grader reads 1)",
        );
        check(
            &GOOD.replace("{port}\", \"--data", "{nope}\", \"--data"),
            "labs.toml is invalid: service 'a' uses unknown variable {nope}",
        );
        check(&GOOD.replace("summary = \"S\"", ""), "labs.toml is malformed: line 3: missing field `summary`");
        check(
            &GOOD.replace("name = \"a\"\n", "name = \"a\"\nstep = \"zz\"\n"),
            "labs.toml is invalid: service 'a' serves step 'zz', which lab 'lab1' does not have",
        );
        check(
            &GOOD.replace("args = [", "start = [\"up\"]\nargs = ["),
            "labs.toml is invalid: service 'a' has start (a command) and args (a process): give one",
        );
        check(
            &GOOD.replace("args = [\"--port\", \"{port}\", \"--data\", \"{state_dir}/x\"]", "start = [\"up\"]"),
            "labs.toml is invalid: command service 'a' needs stop (how to remove what start made)",
        );
        check(
            &GOOD.replace(
                "args = [\"--port\", \"{port}\", \"--data\", \"{state_dir}/x\"]",
                "start = [\"up\"]\nstop = [\"down\"]",
            ),
            "labs.toml is invalid: command service 'a' needs creates (what start makes, by name)",
        );
        check(
            &GOOD.replace(
                "args = [\"--port\", \"{port}\", \"--data\", \"{state_dir}/x\"]",
                "start = [\"up\"]\nstop = [\"down\"]\ncreates = { containers = [\"{nope}-web\"] }",
            ),
            "labs.toml is invalid: service 'a' uses unknown variable {nope}",
        );
        check(
            &GOOD.replace(
                "args = [\"--port\", \"{port}\", \"--data\", \"{state_dir}/x\"]",
                "start = [\"up\"]\nstop = [\"down\"]\ncreates = { volumes = [\"v{port}\"] }",
            ),
            "lab1:1",
        );
        check(
            &GOOD.replace("args = [", "stop = [\"down\"]\nargs = ["),
            "labs.toml is invalid: service 'a' has stop/restart/creates but no start: only command services have them",
        );
        // What varies per job is declared, and covers every port waited on and every name created.
        check(
            &GOOD.replace("per_job = { ports = [\"port\"] }", ""),
            "labs.toml is invalid: lab 'lab1': service 'a' waits on {port}, which per_job.ports does not list (two jobs would share the port)",
        );
        check(
            &GOOD.replace("ports = [\"port\"]", "ports = [\"port\", \"nope\"]"),
            "labs.toml is invalid: lab 'lab1': per_job names nope, which is not one of its vars",
        );
        check(
            &GOOD.replace(
                "per_job = { ports = [\"port\"] }",
                "per_job = { ports = [\"port\"] }\nfrom_compose = { nope = { dir = \".\", images = \"nextcloud\", file_env = \"X_FILE\" } }",
            ),
            "labs.toml is invalid: lab 'lab1': from_compose names nope, which is not one of its vars",
        );
        check(
            &GOOD.replace("ports = [\"port\"]", "ports = [\"port\"], names = [\"port\"]"),
            "labs.toml is invalid: lab 'lab1': per_job lists port as a port and as a name: give one",
        );
        check(
            &GOOD.replace(
                "args = [\"--port\", \"{port}\", \"--data\", \"{state_dir}/x\"]",
                "start = [\"up\"]\nstop = [\"down\"]\ncreates = { containers = [\"web-{fixed}\"] }",
            ),
            "labs.toml is invalid: lab 'lab1': service 'a' creates web-{fixed}, which no per_job variable makes its own (two jobs would share it)",
        );
        check(
            &format!("{GOOD}\n[[lab.step]]\nid = \"a\"\ntitle = \"B\"\ndir = \"b\"\n"),
            "labs.toml is invalid: step id 'a' is not a unique lowercase slug",
        );
    }
}
