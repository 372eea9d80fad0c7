//! The services `--up` runs: built from the submission with cargo, then either started as child
//! processes, or - command services such as `web-db` - run as tools that set containers up and
//! exit. They are restarted on request (for persistence checks) and always stopped - on success,
//! failure, error, Ctrl-C, and (through `PR_SET_PDEATHSIG`) even if the grader itself is killed;
//! a command service's `stop` runs even when its `start` was interrupted.
//!
//! Only processes this module started are ever signalled, by the PID it got from `spawn`; only
//! engine objects a command service was seen to create (they did not exist before: [`preflight`])
//! are ever removed.

use anyhow::{bail, Context};
use grading::curriculum::{Creates, Service};
use grading::{Lab, Vars};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a service gets to accept connections after it starts.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a service gets to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a command service's start (or restart) may take: a database's first start included.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(240);

/// A service ready to launch: program resolved, placeholders expanded.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub program: PathBuf,
    /// A process's arguments.
    pub args: Vec<String>,
    /// Set for a command service.
    pub command: Option<CommandSpec>,
    /// Images to build or find before starting.
    pub images: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `host:port` that accepts connections once the service is ready.
    pub ready: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl ServiceSpec {
    /// The Compose project this command service creates, if any.
    pub fn compose_project(&self) -> Option<&str> {
        self.command.as_ref().and_then(|c| c.creates.compose_project.as_deref())
    }

    /// Puts `to` wherever the image `from` is named: a whole argument, an environment value, an image.
    pub fn replace_image(&mut self, from: &str, to: &str) {
        let swap = |value: &mut String| {
            if value == from {
                *value = to.to_string();
            }
        };
        self.args.iter_mut().for_each(swap);
        self.images.iter_mut().for_each(swap);
        self.env.values_mut().for_each(swap);
        if let Some(command) = &mut self.command {
            command.start.iter_mut().for_each(swap);
            command.stop.iter_mut().for_each(swap);
            command.restart.values_mut().flatten().for_each(swap);
        }
    }
}

/// Makes every image in `specs` available (see [`crate::images::ensure_tags`]) and, where an
/// official image gave way to its stand-in, names the stand-in in the services' command lines.
pub async fn ensure_images(
    engine: &crate::engine::Engine,
    root: &Path,
    submission: &Path,
    specs: &mut [ServiceSpec],
    source: crate::images::ImageSource,
) -> anyhow::Result<()> {
    let mut images: Vec<String> = specs.iter().flat_map(|s| s.images.clone()).collect();
    images.sort();
    images.dedup();
    for (official, stand_in) in crate::images::ensure_tags(engine, root, submission, &images, source).await? {
        specs.iter_mut().for_each(|spec| spec.replace_image(&official, &stand_in));
    }
    Ok(())
}

/// A command service's command lines (arguments to `program`) and what it creates.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub restart: BTreeMap<String, Vec<String>>,
    pub creates: Creates,
}

/// Whether started services should die with the grader (`check --up`) or outlive it (`up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    TiedToGrader,
    Detached,
}

/// Builds the services of `steps` of `lab` from `submission` with cargo and resolves their command lines.
pub fn prepare(
    lab: &Lab,
    steps: &[&str],
    submission: &Path,
    vars: &Vars,
    state_dir: &Path,
) -> anyhow::Result<Vec<ServiceSpec>> {
    let services: Vec<&Service> = lab.services_for(steps);
    if services.is_empty() {
        bail!("{} ({}) has nothing to start with --up", lab.id, steps.join(", "));
    }
    if !submission.join("Cargo.toml").is_file() {
        bail!(
            "'{}' has no Cargo.toml: --up builds the lab's services from the submission with cargo; start them yourself and grade without --up",
            submission.display()
        );
    }
    let mut vars = vars.clone();
    vars.set("submission", submission.display().to_string());
    vars.set("state_dir", state_dir.display().to_string());
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build.current_dir(submission).args(["build", "--quiet"]);
    for service in &services {
        build.args(["--package", &service.package, "--bin", service.bin()]);
    }
    eprintln!("building {} from {} ...", names(&services), submission.display());
    let status = build.status().context("cannot run cargo to build the lab's services")?;
    if !status.success() {
        bail!("building {} from {} failed (cargo's messages are above)", names(&services), submission.display());
    }
    let target = target_dir(submission);
    std::fs::create_dir_all(state_dir.join("logs"))
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let expand = |list: &[String]| list.iter().map(|a| vars.expand(a)).collect::<Vec<_>>();
    Ok(services
        .iter()
        .map(|s| ServiceSpec {
            name: s.name.clone(),
            program: target.join("debug").join(s.bin()),
            args: expand(&s.args),
            command: s.start.as_ref().map(|start| CommandSpec {
                start: expand(start),
                stop: expand(&s.stop),
                restart: s.restart.iter().map(|(k, v)| (k.clone(), expand(v))).collect(),
                creates: Creates {
                    containers: expand(&s.creates.containers),
                    networks: expand(&s.creates.networks),
                    volumes: expand(&s.creates.volumes),
                    compose_project: s.creates.compose_project.as_ref().map(|p| vars.expand(p)),
                },
            }),
            images: expand(&s.images),
            env: s.env.iter().map(|(k, v)| (k.clone(), vars.expand(v))).collect(),
            ready: vars.expand(&s.ready),
            log: state_dir.join("logs").join(format!("{}.log", s.name)),
        })
        .collect())
}

fn names(services: &[&Service]) -> String {
    services.iter().map(|s| s.package.as_str()).collect::<Vec<_>>().join(", ")
}

/// The submission's cargo target directory (honours `CARGO_TARGET_DIR`).
fn target_dir(submission: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => submission.join(dir),
        None => submission.join("target"),
    }
}

/// Fails with a clear message if something already listens where a service should.
pub fn ensure_ports_free(specs: &[ServiceSpec]) -> anyhow::Result<()> {
    for spec in specs {
        if std::net::TcpStream::connect_timeout(
            &spec.ready.parse().with_context(|| format!("service {}: '{}' is not host:port", spec.name, spec.ready))?,
            Duration::from_millis(300),
        )
        .is_ok()
        {
            bail!(
                "{} is already in use, so --up cannot start {} there: stop what holds it, pick another port with --var, or grade what runs there without --up",
                spec.ready,
                spec.name
            );
        }
    }
    Ok(())
}

/// Engine objects that already exist where a command service would create its own: `--up` never
/// adopts (and later removes) what it did not make.
pub async fn preflight(docker: &bollard::Docker, specs: &[ServiceSpec]) -> anyhow::Result<()> {
    for spec in specs {
        let Some(command) = &spec.command else { continue };
        let creates = &command.creates;
        for name in &creates.containers {
            if docker.inspect_container(name, None).await.is_ok() {
                bail!(
                    "a container named {name} already exists, so --up cannot start {} (it never touches what it did not create): remove it (docker rm -f {name}) or grade it without --up",
                    spec.name
                );
            }
        }
        for name in &creates.networks {
            if docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await.is_ok() {
                bail!(
                    "a network named {name} already exists, so --up cannot start {}: remove it (docker network rm {name}) or grade without --up",
                    spec.name
                );
            }
        }
        for name in &creates.volumes {
            if docker.inspect_volume(name).await.is_ok() {
                bail!(
                    "a volume named {name} already exists, so --up cannot start {} (it would reuse, then delete, that data): remove it (docker volume rm {name}) or grade without --up",
                    spec.name
                );
            }
        }
        if let Some(project) = &creates.compose_project {
            let held = compose_objects(docker, project).await?;
            if !held.is_empty() {
                bail!(
                    "Compose project {project} already exists ({}), so --up cannot start {} (it would reuse, then delete, its data): take it down (`docker compose -p {project} down`, adding --volumes only if its data may go) or grade it without --up",
                    held.join(", "),
                    spec.name
                );
            }
        }
    }
    Ok(())
}

/// The names of every volume in the engine.
async fn volume_names(docker: &bollard::Docker) -> anyhow::Result<BTreeSet<String>> {
    let listed = docker
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .context("cannot list volumes")?;
    Ok(listed.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect())
}

/// Everything labelled as part of Compose project `project`: containers, networks, volumes.
async fn compose_objects(docker: &bollard::Docker, project: &str) -> anyhow::Result<Vec<String>> {
    use bollard::query_parameters::{
        ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    };
    let label = format!("com.docker.compose.project={project}");
    let filters: std::collections::HashMap<&str, Vec<&str>> = [("label", vec![label.as_str()])].into_iter().collect();
    let mut found = Vec::new();
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build()))
        .await
        .context("cannot list containers")?;
    found.extend(
        containers
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| format!("container {}", n.trim_start_matches('/'))),
    );
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build()))
        .await
        .context("cannot list networks")?;
    found.extend(networks.into_iter().filter_map(|n| n.name).map(|n| format!("network {n}")));
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build()))
        .await
        .context("cannot list volumes")?;
    found.extend(volumes.volumes.unwrap_or_default().into_iter().map(|v| format!("volume {}", v.name)));
    Ok(found)
}

/// Running services, stopped when dropped.
#[derive(Debug)]
pub struct Services {
    specs: Vec<ServiceSpec>,
    lifetime: Lifetime,
    children: Mutex<BTreeMap<String, Child>>,
    /// Command services whose start was begun (their stop must run).
    commands: Mutex<Vec<String>>,
    /// For removing what a command service left behind.
    docker: Option<bollard::Docker>,
    /// Volumes that existed before anything started (never removed).
    volumes_before: BTreeSet<String>,
    /// Anonymous volumes seen mounted in a Compose project's containers: `down` (in a restart
    /// that cycles the stack) leaves them behind unlabelled, so they are removed at the end.
    anonymous: Mutex<BTreeSet<String>>,
}

impl Services {
    /// Starts every service in order, waiting until each is ready. On failure, stops what started.
    pub async fn start(
        specs: Vec<ServiceSpec>,
        lifetime: Lifetime,
        docker: Option<bollard::Docker>,
    ) -> anyhow::Result<Services> {
        let volumes_before = match &docker {
            Some(docker) if specs.iter().any(|s| s.compose_project().is_some()) => volume_names(docker).await?,
            _ => BTreeSet::new(),
        };
        let services = Services {
            specs,
            lifetime,
            children: Mutex::new(BTreeMap::new()),
            commands: Mutex::new(Vec::new()),
            docker,
            volumes_before,
            anonymous: Mutex::new(BTreeSet::new()),
        };
        for spec in services.specs.clone() {
            if let Err(e) = services.launch(&spec).await {
                services.stop_all().await;
                return Err(e);
            }
        }
        Ok(services)
    }

    /// PIDs of the running processes, by name, in start order.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let children = self.children.lock().expect("children lock");
        self.specs
            .iter()
            .filter_map(|spec| children.get(&spec.name).map(|child| (spec.name.clone(), child.id())))
            .collect()
    }

    pub fn specs(&self) -> &[ServiceSpec] {
        &self.specs
    }

    /// Leaves the services running (for `up`): forget them without stopping.
    pub fn detach(self) {
        self.children.lock().expect("children lock").clear();
        self.commands.lock().expect("commands lock").clear();
    }

    async fn launch(&self, spec: &ServiceSpec) -> anyhow::Result<()> {
        if let Some(command) = &spec.command {
            self.commands.lock().expect("commands lock").push(spec.name.clone());
            let started = run_command(spec, &command.start, "start").await;
            self.note_anonymous_volumes(spec).await;
            started?;
            return wait_ready(spec).await;
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&spec.log)
            .with_context(|| format!("cannot open {}", spec.log.display()))?;
        let mut command = Command::new(&spec.program);
        command.args(&spec.args).envs(&spec.env).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        configure_process(&mut command, self.lifetime);
        let child =
            command.spawn().with_context(|| format!("cannot start {} ({})", spec.name, spec.program.display()))?;
        self.children.lock().expect("children lock").insert(spec.name.clone(), child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .children
                .lock()
                .expect("children lock")
                .get_mut(&spec.name)
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.children.lock().expect("children lock").remove(&spec.name);
                bail!("{} exited ({status}) before it was ready: {}", spec.name, last_line(&spec.log));
            }
            if tokio::net::TcpStream::connect(&spec.ready).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not accept connections on {} within {}s: {}",
                    spec.name,
                    spec.ready,
                    READY_TIMEOUT.as_secs(),
                    last_line(&spec.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops one service: a process gets SIGTERM, then SIGKILL after [`STOP_GRACE`]; a command
    /// service runs its stop command, and anything it created that is still there is removed.
    async fn stop(&self, name: &str) {
        let child = self.children.lock().expect("children lock").remove(name);
        if let Some(child) = child {
            stop_child(child).await;
        }
        let started = {
            let mut commands = self.commands.lock().expect("commands lock");
            let before = commands.len();
            commands.retain(|n| n != name);
            commands.len() != before
        };
        let spec = self.specs.iter().find(|s| s.name == name);
        if let (true, Some(spec), Some(command)) = (started, spec, spec.and_then(|s| s.command.as_ref())) {
            self.note_anonymous_volumes(spec).await;
            if let Err(e) = run_command(spec, &command.stop, "stop").await {
                eprintln!("warning: {e:#}");
            }
            if let Some(docker) = &self.docker {
                remove_leftovers(docker, &command.creates).await;
                let anonymous = std::mem::take(&mut *self.anonymous.lock().expect("anonymous lock"));
                for name in anonymous.difference(&self.volumes_before) {
                    if docker.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>).await.is_ok()
                    {
                        eprintln!("warning: removed anonymous volume {name}, which the stack's down left behind");
                    }
                }
            }
        }
    }

    /// Remembers the anonymous volumes mounted in `spec`'s Compose project's containers now.
    async fn note_anonymous_volumes(&self, spec: &ServiceSpec) {
        let (Some(docker), Some(project)) = (&self.docker, spec.compose_project()) else { return };
        let label = format!("com.docker.compose.project={project}");
        let filters: std::collections::HashMap<&str, Vec<&str>> =
            [("label", vec![label.as_str()])].into_iter().collect();
        let options =
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let Ok(containers) = docker.list_containers(Some(options)).await else { return };
        let mounted = containers.into_iter().flat_map(|c| c.mounts.unwrap_or_default()).filter_map(|m| m.name);
        // Anonymous volumes are named by 64 hex digits; named ones carry the project's label anyway.
        let anonymous = mounted.filter(|n| n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit()));
        self.anonymous.lock().expect("anonymous lock").extend(anonymous);
    }

    /// Stops every service, in reverse start order.
    pub async fn stop_all(&self) {
        let names: Vec<String> = self.specs.iter().rev().map(|s| s.name.clone()).collect();
        for name in names {
            self.stop(&name).await;
        }
    }
}

/// Runs a command service's `program` with `args`; it must exit 0 within [`COMMAND_TIMEOUT`].
/// Its output goes to the service's log; it runs in its own process group (Ctrl-C reaches only the
/// grader) and is killed if the grader gives up on it.
async fn run_command(spec: &ServiceSpec, args: &[String], what: &str) -> anyhow::Result<()> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(&spec.log)
        .with_context(|| format!("cannot open {}", spec.log.display()))?;
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(args)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true);
    let mut child =
        command.spawn().with_context(|| format!("cannot run {} ({})", spec.name, spec.program.display()))?;
    let status = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait()).await {
        Ok(status) => status.with_context(|| format!("cannot wait for {} {what}", spec.name))?,
        Err(_) => {
            // The whole group: a compose the command started goes too.
            if let Some(pid) = child.id() {
                signal_group(pid, libc::SIGKILL);
            }
            let _ = child.kill().await;
            bail!("{} {what} did not finish within {}s: {}", spec.name, COMMAND_TIMEOUT.as_secs(), last_line(&spec.log))
        }
    };
    if !status.success() {
        bail!("{} {what} failed ({status}): {}", spec.name, last_line(&spec.log));
    }
    Ok(())
}

/// Waits until a command service's `ready` address accepts connections.
async fn wait_ready(spec: &ServiceSpec) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while tokio::net::TcpStream::connect(&spec.ready).await.is_err() {
        if Instant::now() >= deadline {
            bail!(
                "{} started, but nothing accepts connections on {} within {}s",
                spec.name,
                spec.ready,
                READY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Removes whatever a command service created and its stop command left behind. A stuck engine
/// ends it with one error line instead of a wait per object.
async fn remove_leftovers(docker: &bollard::Docker, creates: &Creates) {
    if let Err(stuck) = try_remove_leftovers(docker, creates).await {
        eprintln!("error: {stuck}");
    }
}

/// How long one cleanup call may take before the engine counts as stuck.
const CLEANUP_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a cleanup call removed something; `Err` when the engine did not answer in time.
async fn removed<T>(
    call: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    what: &str,
) -> Result<bool, String> {
    match tokio::time::timeout(CLEANUP_CALL_TIMEOUT, call).await {
        Ok(result) => Ok(result.is_ok()),
        Err(_) => Err(format!(
            "the Docker engine did not finish removing {what} within {} s: it is stuck (dockerd 20.10 before \
             20.10.27 can deadlock removing containers, moby/moby#46661); restart dockerd, then run \
             `cargo xtask clean` and remove what is left of this run",
            CLEANUP_CALL_TIMEOUT.as_secs()
        )),
    }
}

async fn try_remove_leftovers(docker: &bollard::Docker, creates: &Creates) -> Result<(), String> {
    use bollard::query_parameters::{RemoveContainerOptionsBuilder, RemoveVolumeOptions};
    let force = || Some(RemoveContainerOptionsBuilder::default().force(true).v(true).build());
    for name in &creates.containers {
        if removed(docker.remove_container(name, force()), &format!("container {name}")).await? {
            eprintln!("warning: removed container {name}, which its stop command left behind");
        }
    }
    for name in &creates.networks {
        if removed(docker.remove_network(name), &format!("network {name}")).await? {
            eprintln!("warning: removed network {name}, which its stop command left behind");
        }
    }
    for name in &creates.volumes {
        if removed(docker.remove_volume(name, None::<RemoveVolumeOptions>), &format!("volume {name}")).await? {
            eprintln!("warning: removed volume {name}, which its stop command left behind");
        }
    }
    if let Some(project) = &creates.compose_project {
        // preflight made sure the project did not exist before: all of it is ours. Containers
        // first (one at a time: see compose::destroy), then what they used.
        for pass in ["container", "other"] {
            for object in compose_objects(docker, project).await.unwrap_or_default() {
                let (kind, name) = object.split_once(' ').unwrap_or(("", ""));
                let done = match (pass, kind) {
                    ("container", "container") => removed(docker.remove_container(name, force()), &object).await?,
                    ("other", "network") => removed(docker.remove_network(name), &object).await?,
                    ("other", "volume") => {
                        removed(docker.remove_volume(name, None::<RemoveVolumeOptions>), &object).await?
                    }
                    _ => false,
                };
                if done {
                    eprintln!("warning: removed {object}, which its stop command left behind");
                }
            }
        }
    }
    Ok(())
}

impl grading::ServiceControl for Services {
    fn restart<'a>(
        &'a self,
        service: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            // A named restart of a command service (e.g. "web": recreate the web container) ...
            let named = self.specs.iter().find_map(|s| {
                s.command.as_ref().and_then(|c| c.restart.get(service)).map(|args| (s.clone(), args.clone()))
            });
            if let Some((spec, args)) = named {
                self.note_anonymous_volumes(&spec).await;
                let result =
                    run_command(&spec, &args, &format!("restart {service}")).await.map_err(|e| format!("{e:#}"));
                self.note_anonymous_volumes(&spec).await;
                return result;
            }
            // ... or a process: stop it and start it again.
            let spec = self
                .specs
                .iter()
                .find(|s| s.name == service && s.command.is_none())
                .cloned()
                .ok_or_else(|| format!("no service '{service}' was started"))?;
            self.stop(service).await;
            self.launch(&spec).await.map_err(|e| format!("{e:#}"))
        })
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Last resort (an early return, a panic, Ctrl-C): never leave a child or a container behind.
        for (_, mut child) in std::mem::take(&mut *self.children.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let started = std::mem::take(&mut *self.commands.lock().unwrap_or_else(|e| e.into_inner()));
        for name in started.iter().rev() {
            let Some(spec) = self.specs.iter().find(|s| &s.name == name) else { continue };
            let Some(command) = &spec.command else { continue };
            let log = File::options().create(true).append(true).open(&spec.log);
            use std::os::unix::process::CommandExt;
            let mut stop = Command::new(&spec.program);
            stop.args(&command.stop).envs(&spec.env).stdin(Stdio::null()).process_group(0);
            if let Ok(log) = log {
                if let Ok(copy) = log.try_clone() {
                    stop.stdout(copy).stderr(log);
                }
            }
            let _ = stop.status();
        }
        // Anonymous volumes a cycled stack orphaned (noted before each restart command): the
        // engine API is async, so the Docker CLI (which Compose needs anyway) removes them here.
        if !started.is_empty() {
            let anonymous = std::mem::take(&mut *self.anonymous.lock().unwrap_or_else(|e| e.into_inner()));
            for name in anonymous.difference(&self.volumes_before) {
                let _ = Command::new("docker")
                    .args(["volume", "rm", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

async fn stop_child(mut child: Child) {
    signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends `sig` to a process this module started.
#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions; pid is one we spawned.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Sends `sig` to the process group led by a process this module started.
#[allow(unsafe_code)]
pub fn signal_group(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: as in `signal`; a negative pid names the group our child leads.
    unsafe { libc::kill(-(pid as libc::pid_t), sig) == 0 }
}

/// Own process group (a terminal's Ctrl-C reaches only the grader, which stops services in order);
/// tied services also get SIGTERM if the grader dies without cleaning up.
#[allow(unsafe_code)]
fn configure_process(command: &mut Command, lifetime: Lifetime) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    if lifetime == Lifetime::TiedToGrader {
        // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
        // async-signal-safe; it touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// The last non-empty line of a log, for error messages.
pub fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|text| text.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
        .map_or_else(
            || format!("no output (log: {})", log.display()),
            |line| format!("its last words: \"{}\" (log: {})", line.trim(), log.display()),
        )
}
