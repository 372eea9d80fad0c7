//! The Docker engine: find one that answers, or - on Debian, as root - install and start one.
//!
//! Where to look, in order: `DOCKER_HOST` (`unix://` or `tcp://`), `/var/run/docker.sock`, then
//! Docker Desktop's sockets under `~/.docker/` (bollard ignores Docker contexts, so we probe them).
//! On a fresh Debian machine `cargo xtask engine` (and `cargo xtask test`) install Debian's
//! `docker.io` and `docker-compose` and start `dockerd`: the `provision` crate does that (the
//! launcher of `cargo xtask` runs the same code while the grader compiles); this module connects.

pub mod doctor;
pub mod images;
pub mod scratch;

use anyhow::bail;
use bollard::Docker;
use std::path::PathBuf;
use std::time::Duration;

use provision::engine::{can_provision, dockerd_log, endpoints};
pub use provision::engine::{compose_command, install_tool};

/// Every object the project creates in the engine carries this label (removed by it, too).
pub use sandbox::labels::MANAGED as LABEL;

/// A connected engine and what it said about itself.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    pub endpoint: String,
    pub version: String,
    pub api_version: String,
}

impl Engine {
    /// Where it answers, for a run's proxy and sentinel.
    pub fn sandbox_endpoint(&self) -> sandbox::Endpoint {
        sandbox::Endpoint::parse(&self.endpoint).expect("connect_to accepts unix:// and tcp:// only")
    }
}

/// Connects to the engine at `endpoint` (`unix://` or `tcp://`), or says why not.
pub async fn connect_to(endpoint: &str) -> Result<Engine, String> {
    let docker = if let Some(path) = endpoint.strip_prefix("unix://") {
        if !std::path::Path::new(path).exists() {
            return Err(format!("{endpoint}: no such socket"));
        }
        Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
    } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        Docker::connect_with_http(endpoint, 120, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(format!("{endpoint}: only unix:// and tcp:// endpoints are supported"));
    }
    .map_err(|e| format!("{endpoint}: {e}"))?;
    let version = tokio::time::timeout(Duration::from_secs(5), docker.version())
        .await
        .map_err(|_| format!("{endpoint}: no answer within 5 s"))?
        .map_err(|e| format!("{endpoint}: {e}"))?;
    Ok(Engine {
        docker,
        endpoint: endpoint.to_string(),
        version: version.version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
    })
}

/// The first engine that answers, or every place tried and why it failed.
pub async fn connect() -> Result<Engine, String> {
    let mut tried = Vec::new();
    for endpoint in endpoints() {
        match connect_to(&endpoint).await {
            Ok(engine) => return Ok(engine),
            Err(why) => tried.push(why),
        }
    }
    Err(tried.join("; "))
}

/// Whether `ensure` may install and start an engine when none answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// Install Debian's packages and start dockerd if possible (root on Debian).
    IfMissing,
    /// Only connect; say what to do when nothing answers.
    Never,
}

/// An engine that answers, provisioning one when allowed.
pub async fn ensure(provision: Provision) -> anyhow::Result<Engine> {
    let why = match connect().await {
        Ok(engine) => {
            if provision == Provision::IfMissing {
                tokio::task::spawn_blocking(provision::engine::compose_v2_if_missing).await?;
            }
            return Ok(engine);
        }
        Err(why) => why,
    };
    if provision == Provision::Never || !can_provision() {
        bail!(
            "no Docker engine answers ({why}); start dockerd or Docker Desktop, or set DOCKER_HOST \
             (on Debian, as root, `cargo xtask engine` installs and starts one)"
        );
    }
    // Another process (the launcher's prefetch, a second grader) may be installing or starting
    // one now: wait for it, then look again.
    let lock = tokio::task::spawn_blocking(provision::engine::provisioning).await??;
    if let Ok(engine) = connect().await {
        return Ok(engine);
    }
    tokio::task::spawn_blocking(provision::engine::install_and_start).await??;
    drop(lock);
    answering("started").await
}

/// Waits up to 60 s for the dockerd just `started` or `restarted` to answer.
async fn answering(how: &str) -> anyhow::Result<Engine> {
    for _ in 0..120 {
        if let Ok(engine) = connect().await {
            return Ok(engine);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("dockerd was {how} but did not answer within 60 s; see {}", dockerd_log().display())
}

/// The PID of the dockerd this project started, if that process is still a dockerd.
pub fn own_dockerd() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(provision::engine::dockerd_pid_file()).ok()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "dockerd").then_some(pid)
}

/// Asks dockerd for a dump of its goroutines (SIGUSR1) and says whether it shows the libnetwork
/// deadlock of moby/moby#46661; returns the dump's path and that finding.
pub fn goroutine_dump(pid: i32) -> Option<(PathBuf, bool)> {
    let before: std::collections::BTreeSet<PathBuf> = dumps().into_iter().collect();
    crate::process::signal(pid as u32, libc::SIGUSR1);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(dump) = dumps().into_iter().find(|d| !before.contains(d)) {
            std::thread::sleep(Duration::from_millis(500));
            let text = std::fs::read_to_string(&dump).unwrap_or_default();
            let known = text.contains("processEndpointDelete") && text.contains("getSvcRecords");
            return Some((dump, known));
        }
    }
    None
}

fn dumps() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/var/run/docker") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("goroutine-stacks-")))
        .collect()
}

/// Restarts the dockerd this project started (never another one): TERM, then KILL after 20 s,
/// then a new dockerd, then waits until it answers.
pub async fn restart_own_dockerd() -> anyhow::Result<Engine> {
    let Some(pid) = own_dockerd() else {
        bail!("the running dockerd was not started by this project; restart it yourself")
    };
    eprintln!("restarting dockerd (pid {pid}) ...");
    if !crate::process::stop(&[pid as u32], Duration::from_secs(20), crate::process::alive).await.is_empty() {
        gone_within(pid, Duration::from_secs(10)).await;
    }
    provision::engine::start_dockerd()?;
    answering("restarted").await
}

/// Whether process `pid` is gone (or a zombie) within `patience`.
async fn gone_within(pid: i32, patience: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + patience;
    while crate::process::alive(pid as u32) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}
