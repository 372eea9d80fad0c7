//! The services `--up` runs. Processes (our servers: the lab 1 app, the lab 2 site, app and proxy) are
//! the course's own builds, run on the host with the submission's files as their data. Command
//! services (the lab 1 site's nginx, the lab 2 tools, the lab 3 stack, a submission's script) run in the run's sandbox:
//! a toolbox container whose only engine is the run's policy proxy. Nothing of the submission is
//! ever built or run on the host.
//!
//! Processes are restarted on request (for persistence checks) and always stopped - on success,
//! failure, error, Ctrl-C, and (through `PR_SET_PDEATHSIG`) even if the grader itself is killed.
//! What command services create carries the run's label and goes with the run (`sandbox::Run`).

use anyhow::{bail, Context};
use grading::curriculum::{Creates, Service};
use grading::{Lab, Vars};
use sandbox::{Run, SandboxCommand};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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
    /// The step it serves (none: every step of the lab).
    pub step: Option<String>,
    /// A process's program (the course's build), or a command service's tool (the course's
    /// static build, mounted into the sandbox) - `None` for a program of the sandbox's image.
    pub program: Option<PathBuf>,
    /// A process's arguments.
    pub args: Vec<String>,
    /// Set for a command service.
    pub command: Option<CommandSpec>,
    /// Images to build or find before starting.
    pub images: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `host:port` that accepts connections once the service is ready.
    pub ready: String,
    /// Every `host:port` the service uses (must be free before it starts).
    pub ports: Vec<String>,
    /// Where its output goes.
    pub log: PathBuf,
}

impl ServiceSpec {
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

/// A command service's command lines and what it creates.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The program inside the sandbox: the tool's path there, or a program of the image (`sh`).
    pub program: String,
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub restart: BTreeMap<String, Vec<String>>,
    pub creates: Creates,
}

pub use crate::process::Lifetime;

/// Why services did not start: the submission's doing (graded: its checks fail with the reason)
/// or the grader's and the machine's (exit 2).
#[derive(Debug)]
pub enum StartError {
    /// One line: the service, what failed, its last words.
    Submission(String),
    Grader(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(error: anyhow::Error) -> StartError {
        StartError::Grader(error)
    }
}

/// Builds the programs for the services of `steps` of `lab` from the grader's own workspace
/// `grader` (never the submission's): the processes' with cargo, the command services' as static
/// binaries in one cargo run. Blocking; it needs no engine, so it runs while one readies images.
pub fn build(grader: &Path, lab: &Lab, steps: &[&str]) -> anyhow::Result<()> {
    let services: Vec<&Service> = lab.services_for(steps);
    let processes: Vec<&&Service> = services.iter().filter(|s| !s.is_command()).collect();
    if !processes.is_empty() {
        let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        build.current_dir(grader).args(["build", "--quiet"]);
        for service in &processes {
            build.args(["--package", &service.package, "--bin", service.bin()]);
        }
        let names: Vec<&str> = processes.iter().map(|s| s.package.as_str()).collect();
        crate::progress::say(format!("building {} (the course's own) ...", names.join(", ")));
        let status = build.status().context("cannot run cargo to build the lab's services")?;
        if !status.success() {
            bail!("building {} failed (cargo's messages are above)", names.join(", "));
        }
    }
    let commands: Vec<(&str, &str)> = services
        .iter()
        .filter(|s| s.program.is_none() && s.is_command())
        .map(|s| (s.package.as_str(), s.bin()))
        .collect();
    if !commands.is_empty() {
        crate::engine::images::static_binaries(grader, &commands)?;
    }
    Ok(())
}

/// The services of `steps` of `lab` as they will run: their programs (where [`build`] puts them)
/// and command lines resolved with `submission` (the run's copy, or the submission itself when
/// nothing runs in a sandbox) as `{submission}`, and `state_dir` for their logs and data.
pub fn plan(
    grader: &Path,
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
    let mut vars = vars.clone();
    vars.set("submission", submission.display().to_string());
    vars.set("state_dir", state_dir.display().to_string());
    std::fs::create_dir_all(state_dir.join("logs"))
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    let expand = |list: &[String]| list.iter().map(|a| vars.expand(a)).collect::<Vec<_>>();
    let host = vars.get("host").unwrap_or("127.0.0.1").to_string();
    let mut specs = Vec::new();
    for s in services {
        let program = match (&s.program, s.is_command()) {
            (Some(_), _) => None,
            (None, true) => Some(crate::engine::images::static_binary_path(grader, s.bin())),
            (None, false) => Some(crate::target_dir(grader).join("debug").join(s.bin())),
        };
        let command = s.start.as_ref().map(|start| CommandSpec {
            program: match &s.program {
                Some(program) => program.clone(),
                None => format!("{}/{}", sandbox::toolbox::TOOLS_DIR, s.bin()),
            },
            start: expand(start),
            stop: expand(&s.stop),
            restart: s.restart.iter().map(|(k, v)| (k.clone(), expand(v))).collect(),
            creates: Creates {
                containers: expand(&s.creates.containers),
                networks: expand(&s.creates.networks),
                volumes: expand(&s.creates.volumes),
                compose_project: s.creates.compose_project.as_ref().map(|p| vars.expand(p)),
            },
        });
        let ready = vars.expand(&s.ready);
        let mut ports: BTreeSet<String> =
            s.port_vars().iter().filter_map(|v| vars.get(v)).map(|port| format!("{host}:{port}")).collect();
        if !ready.is_empty() {
            ports.insert(ready.clone());
        }
        specs.push(ServiceSpec {
            name: s.name.clone(),
            step: s.step.clone(),
            program,
            args: expand(&s.args),
            command,
            images: expand(&s.images),
            env: s.env.iter().map(|(k, v)| (k.clone(), vars.expand(v))).collect(),
            ready,
            ports: ports.into_iter().collect(),
            log: state_dir.join("logs").join(format!("{}.log", s.name)),
        });
    }
    Ok(specs)
}

/// Fails with a clear message if something already listens where a service will.
pub fn ensure_ports_free(specs: &[ServiceSpec]) -> anyhow::Result<()> {
    for spec in specs {
        for address in &spec.ports {
            let parsed =
                address.parse().with_context(|| format!("service {}: '{address}' is not host:port", spec.name))?;
            if std::net::TcpStream::connect_timeout(&parsed, Duration::from_millis(300)).is_ok() {
                bail!(
                    "{address} is already in use, so --up cannot start {} there: stop what holds it, pick another port with --var, or grade what runs there without --up",
                    spec.name
                );
            }
        }
    }
    Ok(())
}

/// Engine objects that already exist where a command service would create its own: `--up` never
/// adopts (and so never removes) what it did not make.
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
                    "a volume named {name} already exists, so --up cannot start {} (it would reuse that data): remove it (docker volume rm {name}) or grade without --up",
                    spec.name
                );
            }
        }
        if let Some(project) = &creates.compose_project {
            let label = format!("com.docker.compose.project={project}");
            let held = sandbox::reaper::leftovers(docker, &label, false).await?;
            if !held.is_empty() {
                bail!(
                    "Compose project {project} already exists ({}), so --up cannot start {} (it would reuse its data): take it down (`docker compose -p {project} down`, adding --volumes only if its data may go) or grade it without --up",
                    held.join(", "),
                    spec.name
                );
            }
        }
    }
    Ok(())
}

/// Running services, stopped when dropped.
#[derive(Debug)]
pub struct Services {
    specs: Vec<ServiceSpec>,
    lifetime: Lifetime,
    children: Mutex<BTreeMap<String, Child>>,
    /// Command services whose start was begun (their stop runs at the end).
    commands: Mutex<Vec<String>>,
    /// The run whose sandbox command services use (and which removes what they made).
    run: Option<Arc<Run>>,
    /// The sandbox's toolbox image.
    toolbox: String,
    /// Services that did not start because of the submission, and why.
    failed: Vec<(ServiceSpec, String)>,
}

impl Services {
    /// Starts every service in order, waiting until each is ready. A service that does not start
    /// because of the submission is noted ([`Services::failed`]) and the others still start (each
    /// step is graded on its own); a fault of the grader's or the machine's stops everything.
    pub async fn start(
        specs: Vec<ServiceSpec>,
        lifetime: Lifetime,
        run: Option<Arc<Run>>,
        toolbox: &str,
    ) -> anyhow::Result<Services> {
        let mut services = Services {
            specs,
            lifetime,
            children: Mutex::new(BTreeMap::new()),
            commands: Mutex::new(Vec::new()),
            run,
            toolbox: toolbox.to_string(),
            failed: Vec::new(),
        };
        for spec in services.specs.clone() {
            match services.launch(&spec).await {
                Ok(()) => {}
                Err(StartError::Submission(why)) => services.failed.push((spec, why)),
                Err(StartError::Grader(e)) => {
                    services.stop_all().await;
                    return Err(e);
                }
            }
        }
        Ok(services)
    }

    /// Services that did not start because of the submission, with why.
    pub fn failed(&self) -> &[(ServiceSpec, String)] {
        &self.failed
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

    async fn launch(&self, spec: &ServiceSpec) -> Result<(), StartError> {
        if let Some(command) = &spec.command {
            self.commands.lock().expect("commands lock").push(spec.name.clone());
            self.run_command(spec, &command.start, "start").await?;
            if spec.ready.is_empty() {
                return Ok(());
            }
            return wait_ready(spec).await.map_err(StartError::Submission);
        }
        let program = spec.program.clone().context("a process service has a program")?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&spec.log)
            .with_context(|| format!("cannot open {}", spec.log.display()))?;
        let mut command = Command::new(&program);
        command
            .args(&spec.args)
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cannot share the log")?)
            .stderr(log);
        crate::process::configure(&mut command, self.lifetime);
        let child = command.spawn().with_context(|| format!("cannot start {} ({})", spec.name, program.display()))?;
        self.children.lock().expect("children lock").insert(spec.name.clone(), child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // The lock is let go before the body, which takes it again (an `if let` would hold it).
            let exited = self
                .children
                .lock()
                .expect("children lock")
                .get_mut(&spec.name)
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.children.lock().expect("children lock").remove(&spec.name);
                return Err(StartError::Submission(format!(
                    "{} exited ({status}) before it was ready: {}",
                    spec.name,
                    last_line(&spec.log)
                )));
            }
            if tokio::net::TcpStream::connect(&spec.ready).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Submission(format!(
                    "{} did not accept connections on {} within {}s: {}",
                    spec.name,
                    spec.ready,
                    READY_TIMEOUT.as_secs(),
                    last_line(&spec.log)
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs one of a command service's command lines in the sandbox; it must exit 0 within
    /// [`COMMAND_TIMEOUT`]. A failure is the submission's (its last words say why).
    async fn run_command(&self, spec: &ServiceSpec, args: &[String], what: &str) -> Result<(), StartError> {
        let command = spec.command.as_ref().expect("a command service");
        let run = self.run.as_ref().context("command services need a run (an engine)")?;
        let mut argv = vec![command.program.clone()];
        argv.extend(args.iter().cloned());
        let sandboxed = SandboxCommand {
            image: self.toolbox.clone(),
            argv,
            env: spec.env.clone(),
            tools: spec.program.iter().cloned().collect(),
            workdir: None,
            timeout: COMMAND_TIMEOUT,
            log: spec.log.with_extension(format!("{}.log", what.replace(' ', "-"))),
        };
        let result = run.command(&sandboxed).await.map_err(|e| StartError::Grader(e.into()))?;
        if result.output_bytes > sandbox::toolbox::OUTPUT_LIMIT {
            run.note(sandbox::Incident {
                kind: sandbox::IncidentKind::Limited,
                subject: format!("the {} {what} command", spec.name),
                rule: "output".into(),
                detail: format!(
                    "wrote {} MiB of output; the log keeps the first {} MiB",
                    result.output_bytes >> 20,
                    sandbox::toolbox::OUTPUT_LIMIT >> 20
                ),
                explanation: "a command's output is kept up to a limit; print what helps, not everything".into(),
            });
        }
        let words = match result.last_line() {
            Some(line) => format!("its last words: \"{}\"", excerpt(line)),
            None => "no output".to_string(),
        };
        match result.exit_code {
            Some(0) => Ok(()),
            Some(code) => {
                Err(StartError::Submission(format!("{} {what} failed (exit code {code}): {words}", spec.name)))
            }
            None => Err(StartError::Submission(format!(
                "{} {what} did not finish within {} s: {words}",
                spec.name,
                COMMAND_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Stops one service: a process gets SIGTERM, then SIGKILL after [`STOP_GRACE`]; a command
    /// service runs its stop command (what it made goes with the run anyway).
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
            if let Err(StartError::Grader(e)) = self.run_command(spec, &command.stop, "stop").await {
                crate::progress::say(format!("warning: {e:#}"));
            }
        }
    }

    /// Stops every service, in reverse start order.
    pub async fn stop_all(&self) {
        let names: Vec<String> = self.specs.iter().rev().map(|s| s.name.clone()).collect();
        for name in names {
            self.stop(&name).await;
        }
    }
}

/// A line of a tool's output, short enough for a report.
fn excerpt(line: &str) -> String {
    let flat = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        format!("{}…", flat.chars().take(300).collect::<String>())
    } else {
        flat
    }
}

/// Waits until a command service's `ready` address accepts connections.
async fn wait_ready(spec: &ServiceSpec) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while tokio::net::TcpStream::connect(&spec.ready).await.is_err() {
        if Instant::now() >= deadline {
            return Err(format!(
                "{} started, but nothing accepts connections on {} within {}s",
                spec.name,
                spec.ready,
                READY_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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
                return self.run_command(&spec, &args, &format!("restart {service}")).await.map_err(|e| match e {
                    StartError::Submission(why) => why,
                    StartError::Grader(e) => format!("{e:#}"),
                });
            }
            // ... or a process: stop it and start it again.
            let spec = self
                .specs
                .iter()
                .find(|s| s.name == service && s.command.is_none())
                .cloned()
                .ok_or_else(|| format!("no service '{service}' was started"))?;
            self.stop(service).await;
            self.launch(&spec).await.map_err(|e| match e {
                StartError::Submission(why) => why,
                StartError::Grader(e) => format!("{e:#}"),
            })
        })
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Last resort (an early return, a panic, Ctrl-C): never leave a child behind. What
        // command services made carries the run's label and goes with the run.
        for (_, mut child) in std::mem::take(&mut *self.children.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn stop_child(mut child: Child) {
    crate::process::stop(&[child.id()], STOP_GRACE, |_| matches!(child.try_wait(), Ok(None))).await;
    let _ = child.wait();
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
