//! The services `--up` runs: built from the submission with cargo, started as child processes,
//! restarted on request (for persistence checks), and always stopped - on success, failure,
//! error, Ctrl-C, and (through `PR_SET_PDEATHSIG`) even if the grader itself is killed.
//!
//! Only processes this module started are ever signalled, by the PID it got from `spawn`.

use anyhow::{bail, Context};
use grading::curriculum::Service;
use grading::{Lab, Vars};
use std::collections::BTreeMap;
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

/// A service ready to launch: program resolved, placeholders expanded.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `host:port` that accepts connections once the service is ready.
    pub ready: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// Whether started services should die with the grader (`check --up`) or outlive it (`up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    TiedToGrader,
    Detached,
}

/// Builds the lab's services from `submission` with cargo and resolves their command lines.
pub fn prepare(lab: &Lab, submission: &Path, vars: &Vars, state_dir: &Path) -> anyhow::Result<Vec<ServiceSpec>> {
    if lab.services.is_empty() {
        bail!("{} has nothing to start with --up", lab.id);
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
    for service in &lab.services {
        build.args(["--package", &service.package, "--bin", service.bin()]);
    }
    eprintln!("building {} from {} ...", names(&lab.services), submission.display());
    let status = build.status().context("cannot run cargo to build the lab's services")?;
    if !status.success() {
        bail!("building {} from {} failed (cargo's messages are above)", names(&lab.services), submission.display());
    }
    let target = target_dir(submission);
    std::fs::create_dir_all(state_dir.join("logs"))
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    Ok(lab
        .services
        .iter()
        .map(|s| ServiceSpec {
            name: s.name.clone(),
            program: target.join("debug").join(s.bin()),
            args: s.args.iter().map(|a| vars.expand(a)).collect(),
            env: s.env.iter().map(|(k, v)| (k.clone(), vars.expand(v))).collect(),
            ready: vars.expand(&s.ready),
            log: state_dir.join("logs").join(format!("{}.log", s.name)),
        })
        .collect())
}

fn names(services: &[Service]) -> String {
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

/// Running services, stopped when dropped.
#[derive(Debug)]
pub struct Services {
    specs: Vec<ServiceSpec>,
    lifetime: Lifetime,
    children: Mutex<BTreeMap<String, Child>>,
}

impl Services {
    /// Starts every service in order, waiting until each is ready. On failure, stops what started.
    pub async fn start(specs: Vec<ServiceSpec>, lifetime: Lifetime) -> anyhow::Result<Services> {
        let services = Services { specs, lifetime, children: Mutex::new(BTreeMap::new()) };
        for spec in services.specs.clone() {
            services.launch(&spec).await?;
        }
        Ok(services)
    }

    /// PIDs of the running services, by name, in start order.
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
    }

    async fn launch(&self, spec: &ServiceSpec) -> anyhow::Result<()> {
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

    /// Stops one service: SIGTERM, then SIGKILL after [`STOP_GRACE`].
    async fn stop(&self, name: &str) {
        let child = self.children.lock().expect("children lock").remove(name);
        if let Some(child) = child {
            stop_child(child).await;
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

impl grading::ServiceControl for Services {
    fn restart<'a>(
        &'a self,
        service: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let spec = self
                .specs
                .iter()
                .find(|s| s.name == service)
                .cloned()
                .ok_or_else(|| format!("no service '{service}' was started"))?;
            self.stop(service).await;
            self.launch(&spec).await.map_err(|e| format!("{e:#}"))
        })
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Last resort (an early return or a panic): never leave a child behind.
        for (_, mut child) in std::mem::take(&mut *self.children.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = child.kill();
            let _ = child.wait();
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
