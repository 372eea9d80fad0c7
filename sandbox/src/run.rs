//! A grading run: id, labels, the submission's copy, the proxy, the watchdog - and the reaping
//! that ends it, whichever way it ends.

use crate::labels::{self, Owner, RunId};
use crate::limits::Limits;
use crate::proxy::{Proxy, Shared};
use crate::reaper::{self, ReapError, Removed};
use crate::{Endpoint, Incident, IncidentKind};
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the watchdog measures what the run's containers wrote and how many processes they run.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The real engine.
    pub endpoint: Endpoint,
    /// The submission to copy into the run (none: the run only labels and reaps).
    pub submission: Option<PathBuf>,
    pub limits: Limits,
    pub owner: Owner,
    /// A program to start as the run's sentinel (see [`crate::sentinel`]), e.g. the grader's own
    /// executable; `None` for none (a test's run: its own process reaps at drop, or the next run).
    pub sentinel: Option<PathBuf>,
    /// The host ports the run's containers may publish on as asked (the lab's own ports, the
    /// job's when graded side by side). Any other host port a submission names is published on a
    /// port the engine picks: two submissions that publish the same fixed port (a database's
    /// 3306, a fault the lab grades) never collide. `None`: every port as asked.
    pub host_ports: Option<std::collections::BTreeSet<u16>>,
    /// The hosts a build's `RUN` steps may reach, on ports 80 and 443 (an entry starting with a
    /// dot: that domain and every name under it); nothing else. See [`crate::egress`].
    pub build_hosts: Vec<String>,
}

impl RunConfig {
    /// A run owned by this process, default limits, no submission, no sentinel.
    pub fn new(endpoint: Endpoint) -> RunConfig {
        RunConfig {
            endpoint,
            submission: None,
            limits: Limits::default(),
            owner: Owner::current(),
            sentinel: None,
            host_ports: None,
            build_hosts: crate::egress::DEBIAN_MIRRORS.iter().map(|h| h.to_string()).collect(),
        }
    }
}

/// Why a run could not start or do what was asked: the grader's or the machine's fault.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the Docker engine could not {what}: {source}")]
    Engine {
        what: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Reap(#[from] ReapError),
    #[error("{0}")]
    Toolbox(String),
}

impl RunError {
    pub(crate) fn engine(what: &str, source: bollard::errors::Error) -> RunError {
        RunError::Engine { what: what.to_string(), source }
    }
}

/// One run. Reaped by [`Run::finish`]; if it is dropped unfinished (an error, a panic, Ctrl-C
/// dropping the future that held it), the drop reaps it; if the process dies, its sentinel does.
#[derive(Debug)]
pub struct Run {
    id: RunId,
    labels: BTreeMap<String, String>,
    dir: PathBuf,
    copy: Option<PathBuf>,
    docker: Docker,
    limits: Limits,
    proxy: Mutex<Option<Proxy>>,
    incidents: Arc<Mutex<Vec<Incident>>>,
    stand_ins: Arc<Mutex<BTreeMap<String, String>>>,
    watchdog: Mutex<Option<tokio::task::JoinHandle<()>>>,
    sentinel: Mutex<Option<crate::sentinel::Sentinel>>,
    commands: AtomicUsize,
    finished: AtomicBool,
}

impl Run {
    /// Starts a run: first reaps runs whose grader is gone, then makes the run's directory (mode
    /// 0700) with the submission's copy, starts the proxy on `<dir>/docker.sock`, the watchdog
    /// and the sentinel.
    pub async fn start(config: RunConfig) -> Result<Run, RunError> {
        let docker = config.endpoint.docker().map_err(|e| RunError::engine("be reached", e))?;
        for (run, removed) in reaper::reap_orphans(&docker).await? {
            eprintln!(
                "removed {} objects of run {run}, whose grader is gone ({} containers, {} networks, {} volumes, {} images)",
                removed.total(),
                removed.containers,
                removed.networks,
                removed.volumes,
                removed.images
            );
        }
        let id = RunId::new();
        let labels = labels::labels(&id, &config.owner);
        let dir = std::env::temp_dir().join("clabs-runs").join(id.as_str());
        let io = |what: String| move |source| RunError::Io { what, source };
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(io(format!("protect {}", dir.display())))?;
        let mut run = Run {
            id,
            labels,
            dir,
            copy: None,
            docker,
            limits: config.limits,
            proxy: Mutex::new(None),
            incidents: Arc::new(Mutex::new(Vec::new())),
            stand_ins: Arc::new(Mutex::new(BTreeMap::new())),
            watchdog: Mutex::new(None),
            sentinel: Mutex::new(None),
            commands: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
        };
        // From here on, an error drops `run`, which removes what was made.
        if let Some(program) = &config.sentinel {
            let sentinel = crate::sentinel::Sentinel::spawn(program, &run.id, &config.endpoint, &run.dir)
                .map_err(io("start the run's sentinel".into()))?;
            *run.sentinel.lock().expect("sentinel lock") = Some(sentinel);
        }
        if let Some(submission) = &config.submission {
            let copy = run.dir.join("submission");
            crate::copy::copy_submission(submission, &copy)
                .map_err(io(format!("copy the submission {} into the run", submission.display())))?;
            let (uid, gid) = crate::copy::sandbox_user();
            crate::copy::chown_all(&copy, uid, gid).map_err(io("give the copy to the sandbox's user".into()))?;
            run.copy = Some(copy.canonicalize().unwrap_or(copy));
        }
        let shared = Shared {
            run: run.id.clone(),
            labels: run.labels.clone(),
            limits: run.limits,
            root: run.copy.as_ref().map(|c| c.to_string_lossy().to_string()),
            docker: run.docker.clone(),
            upstream: config.endpoint.clone(),
            incidents: run.incidents.clone(),
            images: Mutex::new(BTreeMap::new()),
            stand_ins: run.stand_ins.clone(),
            host_ports: config.host_ports.clone(),
            build_hosts: Arc::new(config.build_hosts.clone()),
            egress: tokio::sync::OnceCell::new(),
        };
        let socket = run.dir.join("docker.sock");
        let proxy = Proxy::start(shared, &socket).map_err(io(format!("listen on {}", socket.display())))?;
        *run.proxy.lock().expect("proxy lock") = Some(proxy);
        let watchdog = tokio::spawn(watch_disk(run.docker.clone(), run.id.clone(), run.limits, run.incidents.clone()));
        *run.watchdog.lock().expect("watchdog lock") = Some(watchdog);
        Ok(run)
    }

    pub fn id(&self) -> &RunId {
        &self.id
    }

    /// The labels every object of the run carries.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The run's copy of the submission (what its commands and containers see).
    pub fn submission(&self) -> Option<&Path> {
        self.copy.as_deref()
    }

    /// The run's own directory (removed with the run).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The proxy's socket, while the run lasts.
    pub fn proxy_socket(&self) -> Option<PathBuf> {
        self.proxy.lock().expect("proxy lock").as_ref().map(|p| p.socket().to_path_buf())
    }

    /// The real engine (for the grader's own calls; never handed to a submission).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub(crate) fn next_command(&self) -> usize {
        self.commands.fetch_add(1, Ordering::Relaxed)
    }

    /// Where no registry answers: runs `stand_in` wherever the submission names an image of
    /// `official`'s family that is not here (any tag: `mariadb:11` too), since nothing can be pulled.
    pub fn use_stand_in(&self, official: &str, stand_in: &str) {
        self.stand_ins.lock().expect("stand-ins lock").insert(policy::image_family(official), stand_in.to_string());
    }

    /// Records something the grader saw the submission run into (e.g. its output past the log's limit).
    pub fn note(&self, incident: Incident) {
        let mut incidents = self.incidents.lock().expect("incidents lock");
        if !incidents.contains(&incident) {
            incidents.push(incident);
        }
    }

    /// What the sandbox refused or stopped so far, in a stable order.
    pub fn incidents(&self) -> Vec<Incident> {
        let mut incidents = self.incidents.lock().expect("incidents lock").clone();
        incidents.sort();
        incidents.dedup();
        incidents
    }

    /// Ends the run: stops the proxy and the watchdog, notes containers the kernel killed for
    /// their memory, removes everything carrying the run's label and the run's directory. Safe to
    /// call more than once.
    pub async fn finish(&self) -> Result<Removed, ReapError> {
        if self.finished.swap(true, Ordering::SeqCst) {
            return Ok(Removed::default());
        }
        if let Some(watchdog) = self.watchdog.lock().expect("watchdog lock").take() {
            watchdog.abort();
        }
        self.proxy.lock().expect("proxy lock").take();
        self.note_limits().await;
        let removed = reaper::reap(&self.docker, &self.id.selector(), true).await;
        let _ = std::fs::remove_dir_all(&self.dir);
        if removed.is_ok() {
            if let Some(sentinel) = self.sentinel.lock().expect("sentinel lock").take() {
                sentinel.dismiss();
            }
        }
        removed
    }

    /// Leaves what the run made in place (for `cargo xtask up`, whose lab outlives it): the proxy
    /// and the watchdog stop, nothing is reaped; the run's directory (the copy its containers may
    /// mount) stays. `sandbox::reap` of the run's selector ends it later.
    pub fn keep(self) -> PathBuf {
        self.finished.store(true, Ordering::SeqCst);
        if let Some(watchdog) = self.watchdog.lock().expect("watchdog lock").take() {
            watchdog.abort();
        }
        self.proxy.lock().expect("proxy lock").take();
        if let Some(sentinel) = self.sentinel.lock().expect("sentinel lock").take() {
            sentinel.dismiss();
        }
        self.dir.clone()
    }

    /// A last look before reaping: containers of the run the kernel killed for going over their
    /// memory, and running ones held at their process cap (the watchdog may not have looked yet).
    async fn note_limits(&self) {
        let selector = self.id.selector();
        let filters: HashMap<&str, Vec<&str>> = [("label", vec![selector.as_str()])].into_iter().collect();
        let options =
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let Ok(Ok(containers)) =
            tokio::time::timeout(Duration::from_secs(20), self.docker.list_containers(Some(options))).await
        else {
            return;
        };
        for container in containers {
            let Some(id) = container.id else { continue };
            let Ok(found) = self.docker.inspect_container(&id, None).await else { continue };
            let running = found.state.as_ref().and_then(|s| s.running) == Some(true);
            if running && at_process_cap(&self.docker, &id, self.limits.pids).await {
                let labels = found.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
                let name = found.name.clone().unwrap_or_default().trim_start_matches('/').to_string();
                self.note(process_cap(&labels, &name, self.limits.pids));
            }
            if found.state.and_then(|s| s.oom_killed) == Some(true) {
                let labels = found.config.and_then(|c| c.labels).unwrap_or_default();
                let name = found.name.unwrap_or_default().trim_start_matches('/').to_string();
                self.incidents.lock().expect("incidents lock").push(Incident {
                    kind: IncidentKind::Stopped,
                    subject: subject(&labels, &name),
                    rule: "memory".into(),
                    detail: format!(
                        "was killed by the kernel: it used all of its {} MiB of memory",
                        self.limits.memory >> 20
                    ),
                    explanation: "every container of a run has a memory cap; a leak or a hog is stopped there".into(),
                });
            }
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.finished.load(Ordering::SeqCst) {
            return;
        }
        // An unfinished run (an early return, a panic, a cancelled future): reap it here, on a
        // thread of its own, since a drop cannot wait on the async runtime it may be running on.
        let (docker, selector, dir) = (self.docker.clone(), self.id.selector(), self.dir.clone());
        if let Some(watchdog) = self.watchdog.lock().unwrap_or_else(|e| e.into_inner()).take() {
            watchdog.abort();
        }
        self.proxy.lock().unwrap_or_else(|e| e.into_inner()).take();
        let reaped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            let removed = runtime.block_on(reaper::reap(&docker, &selector, true));
            let _ = std::fs::remove_dir_all(&dir);
            Some(removed)
        })
        .join();
        match reaped {
            Ok(Some(Ok(_))) => {
                if let Some(sentinel) = self.sentinel.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    sentinel.dismiss();
                }
            }
            Ok(Some(Err(e))) => eprintln!("error: {e}"),
            _ => eprintln!("error: could not remove what run {} created; run `cargo xtask clean`", self.id),
        }
    }
}

/// `service `web`` for a Compose container, else `container `name``.
fn subject(labels: &HashMap<String, String>, name: &str) -> String {
    match labels.get("com.docker.compose.service") {
        Some(service) => format!("service `{service}`"),
        None => format!("container `{name}`"),
    }
}

/// Every [`WATCH_INTERVAL`], stops a container of the run that wrote more than the disk cap into
/// its own layer, or whose volumes (where this process may read them) hold more than that; and
/// notes a container that reached its process cap (the cap holds it: nothing to stop).
async fn watch_disk(docker: Docker, run: RunId, limits: Limits, incidents: Arc<Mutex<Vec<Incident>>>) {
    let selector = run.selector();
    let filters: HashMap<&str, Vec<&str>> = [("label", vec![selector.as_str()])].into_iter().collect();
    let mut stopped: std::collections::BTreeSet<String> = Default::default();
    let mut capped: std::collections::BTreeSet<String> = Default::default();
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(false)
            .size(true)
            .filters(&filters)
            .build();
        let Ok(containers) = docker.list_containers(Some(options)).await else { continue };
        for container in containers {
            let Some(id) = container.id.clone() else { continue };
            if stopped.contains(&id) {
                continue;
            }
            let labels = container.labels.clone().unwrap_or_default();
            let name = container.names.clone().and_then(|n| n.into_iter().next()).unwrap_or_else(|| id.clone());
            let name = name.trim_start_matches('/').to_string();
            if !capped.contains(&id) && at_process_cap(&docker, &id, limits.pids).await {
                capped.insert(id.clone());
                let incident = process_cap(&labels, &name, limits.pids);
                let mut incidents = incidents.lock().expect("incidents lock");
                if !incidents.contains(&incident) {
                    incidents.push(incident);
                }
            }
            let layer = u64::try_from(container.size_rw.unwrap_or(0)).unwrap_or(0);
            let volumes: u64 = container
                .mounts
                .iter()
                .flatten()
                .filter(|m| m.name.is_some())
                .filter_map(|m| m.source.as_deref())
                .map(|source| directory_size(Path::new(source), limits.disk))
                .sum();
            let (written, place) = if layer >= volumes { (layer, "its container") } else { (volumes, "its volumes") };
            if written <= limits.disk {
                continue;
            }
            stopped.insert(id.clone());
            let _ = docker.kill_container(&id, None::<bollard::query_parameters::KillContainerOptions>).await;
            let labels = container.labels.clone().unwrap_or_default();
            let name =
                container.names.and_then(|n| n.into_iter().next()).unwrap_or(id).trim_start_matches('/').to_string();
            incidents.lock().expect("incidents lock").push(Incident {
                kind: IncidentKind::Stopped,
                subject: subject(&labels, &name),
                rule: "disk".into(),
                detail: format!(
                    "wrote over {} MiB into {place}, more than its {} MiB",
                    written >> 20,
                    limits.disk >> 20
                ),
                explanation: "every container of a run may write a limited amount; keep large data out of the lab"
                    .into(),
            });
        }
    }
}

/// A container held at its process cap.
fn process_cap(labels: &HashMap<String, String>, name: &str, cap: i64) -> Incident {
    Incident {
        kind: IncidentKind::Limited,
        subject: subject(labels, name),
        rule: "pids".into(),
        detail: format!("reached its cap of {cap} processes (a fork bomb, or a leak)"),
        explanation: "every container of a run has a process cap; past it, forks fail".into(),
    }
}

/// Whether container `id` runs (about) as many processes as its cap allows: from its stats where
/// the engine gives the count (cgroup v2), else from the list of its processes.
async fn at_process_cap(docker: &Docker, id: &str, cap: i64) -> bool {
    use futures_util::StreamExt;
    let options = bollard::query_parameters::StatsOptionsBuilder::default().stream(false).one_shot(true).build();
    let mut stats = docker.stats(id, Some(options));
    let counted = match tokio::time::timeout(Duration::from_secs(5), stats.next()).await {
        Ok(Some(Ok(stats))) => stats.pids_stats.and_then(|p| p.current).map(|c| c as i64),
        _ => None,
    };
    let count = match counted {
        Some(count) => count,
        None => {
            let top = tokio::time::timeout(
                Duration::from_secs(5),
                docker.top_processes(id, None::<bollard::query_parameters::TopOptions>),
            )
            .await;
            match top {
                Ok(Ok(top)) => top.processes.map_or(0, |p| p.len() as i64),
                _ => 0,
            }
        }
    };
    count >= cap - 8
}

/// The bytes of regular files under `dir` (0 where it cannot be read), counting stops past `stop_after`.
fn directory_size(dir: &Path, stop_after: u64) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
                if total > stop_after {
                    return total;
                }
            }
        }
    }
    total
}
