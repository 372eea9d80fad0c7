//! The Docker engine: find one that answers, or - on Debian, as root - install and start one.
//!
//! Where to look, in order: `DOCKER_HOST` (`unix://` or `tcp://`), `/var/run/docker.sock`, then
//! Docker Desktop's sockets under `~/.docker/` (bollard ignores Docker contexts, so we probe them).
//! On a fresh Debian machine `cargo xtask engine` (and `cargo xtask test`) install Debian's
//! `docker.io` and `docker-compose` and start `dockerd`; elsewhere the error says what is missing.

pub mod doctor;
pub mod images;

use anyhow::{bail, Context};
use bollard::Docker;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Where an engine may answer.
pub fn endpoints() -> Vec<String> {
    let mut endpoints = Vec::new();
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            endpoints.push(host);
            // An explicit DOCKER_HOST is the only place to look: probing others would surprise.
            return endpoints;
        }
    }
    endpoints.push("unix:///var/run/docker.sock".into());
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        for socket in [".docker/run/docker.sock", ".docker/desktop/docker.sock"] {
            endpoints.push(format!("unix://{}", home.join(socket).display()));
        }
    }
    endpoints
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
                compose_v2_if_missing();
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
    provision_debian()?;
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

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn can_provision() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && have("apt-get") && std::env::var_os("DOCKER_HOST").is_none()
}

/// Installs the Debian `package` that provides `program` when `program` is missing (root on Debian
/// only; elsewhere an error saying what to install). A service the package starts is stopped and
/// disabled: the project starts what it needs itself, on ports it chooses.
pub fn install_tool(program: &str, package: &str, why: &str) -> anyhow::Result<()> {
    if have(program) {
        return Ok(());
    }
    if !can_provision() {
        bail!("{why} needs {program}: install it (Debian: apt-get install {package})");
    }
    eprintln!("installing {package} from Debian's packages ({why}) ...");
    // Debian's policy-rc.d (exit 101) keeps the package's service from starting as it installs
    // (without systemd, its postinst would start it); the file is removed if this made it.
    let script = format!(
        "made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made=1; fi; \
         apt-get update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq {package} >/dev/null; \
         status=$?; [ -n \"$made\" ] && rm -f /usr/sbin/policy-rc.d; exit $status"
    );
    apt_script(&format!("installing {package}"), &script)
        .with_context(|| format!("apt-get could not install {package}"))?;
    if std::path::Path::new("/run/systemd/system").exists() {
        let _ = Command::new("systemctl").args(["disable", "--now", package]).stderr(Stdio::null()).status();
    }
    Ok(())
}

/// Pauses between attempts at a download from the package mirror: a mirror that failed once (a
/// timeout, a file replaced mid-sync) usually answers a few seconds later.
const APT_PAUSES: [std::time::Duration; 2] = [std::time::Duration::from_secs(3), std::time::Duration::from_secs(10)];

/// Runs `attempt` until it succeeds, once more after each of `pauses`; the last error, saying how
/// many attempts were made, when none did.
fn with_retries<T>(
    what: &str,
    pauses: &[std::time::Duration],
    mut attempt: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut made = 0;
    loop {
        made += 1;
        match attempt() {
            Ok(done) => return Ok(done),
            Err(why) if made > pauses.len() => {
                return Err(why.context(format!("{what} failed {made} times")));
            }
            Err(why) => {
                let pause = pauses[made - 1];
                eprintln!("{what} failed ({why:#}); trying again in {} s ...", pause.as_secs());
                std::thread::sleep(pause);
            }
        }
    }
}

/// `sh -c script` (an apt-get run), retried as [`with_retries`] does.
fn apt_script(what: &str, script: &str) -> anyhow::Result<()> {
    with_retries(what, &APT_PAUSES, || {
        let status = Command::new("sh").args(["-c", script]).status().context("cannot run apt-get")?;
        if !status.success() {
            bail!("apt-get exited with {status}");
        }
        Ok(())
    })
}

fn dockerd_log() -> PathBuf {
    PathBuf::from("/var/log/containerlabs-dockerd.log")
}

/// Installs docker.io and docker-compose when missing, then starts dockerd (systemd if it runs).
fn provision_debian() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !have("dockerd") {
        missing.push("docker.io");
    }
    if !have("docker-compose") && !compose_v2_available() {
        missing.push("docker-compose");
    }
    if !missing.is_empty() {
        eprintln!("installing {} from Debian's packages (about half a minute) ...", missing.join(" and "));
        let script = format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq {} >/dev/null",
            missing.join(" ")
        );
        apt_script(&format!("installing {}", missing.join(" and ")), &script)
            .with_context(|| format!("apt-get could not install {}", missing.join(" and ")))?;
    }
    compose_v2_if_missing();
    if std::path::Path::new("/run/systemd/system").exists() {
        eprintln!("starting the docker service ...");
        if Command::new("systemctl").args(["start", "docker"]).status().is_ok_and(|s| s.success()) {
            return Ok(());
        }
    }
    start_dockerd()
}

/// Where the PID of the dockerd this project started is kept: only that one is ever restarted.
fn dockerd_pid_file() -> PathBuf {
    PathBuf::from("/run/containerlabs-dockerd.pid")
}

/// Starts dockerd in the background; its log is appended to (an earlier run's log is evidence).
fn start_dockerd() -> anyhow::Result<()> {
    use std::io::Write;
    eprintln!("starting dockerd (log: {}) ...", dockerd_log().display());
    let mut log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dockerd_log())
        .with_context(|| format!("cannot write {}", dockerd_log().display()))?;
    writeln!(log, "---- containerlabs: starting dockerd ----")?;
    use std::os::unix::process::CommandExt;
    let child = Command::new("dockerd")
        .args(["--host", "unix:///var/run/docker.sock"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start dockerd")?;
    let _ = std::fs::write(dockerd_pid_file(), child.id().to_string());
    Ok(())
}

/// The PID of the dockerd this project started, if that process is still a dockerd.
pub fn own_dockerd() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dockerd_pid_file()).ok()?.trim().parse().ok()?;
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
    start_dockerd()?;
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

/// Where Compose v2 goes as a Docker CLI plugin: `docker compose` finds it there, and the
/// sandbox's toolbox mounts it; Debian's v1 (`docker-compose`) stays beside it.
const COMPOSE_PLUGIN: &str = "/usr/local/lib/docker/cli-plugins/docker-compose";

/// Compose v2 - what students use - when this machine lacks it and may install it (root on
/// Debian): bookworm has only v1, so the plugin is taken from the next release's
/// `docker-compose` package (2.26, one Go binary that needs only libc), fetched with apt from the
/// machine's own Debian mirror into a private apt state (the machine's sources and packages are
/// untouched). A failure is said in one line, and v1 goes on serving.
fn compose_v2_if_missing() {
    if compose_v2_available() || !can_provision() {
        return;
    }
    eprintln!("installing Compose v2 (the docker compose plugin, from Debian trixie's docker-compose) ...");
    if let Err(why) = with_retries("installing Compose v2", &APT_PAUSES, install_compose_v2) {
        eprintln!("Compose v2 was not installed ({why:#}); Compose v1 (docker-compose) is used instead");
    }
}

fn install_compose_v2() -> anyhow::Result<()> {
    let mirror = debian_mirror().context("no Debian mirror in apt's sources")?;
    let state = PathBuf::from("/var/cache/containerlabs/apt-trixie");
    for dir in ["lists/partial", "cache/archives/partial", "sources", "deb"] {
        std::fs::create_dir_all(state.join(dir)).with_context(|| format!("cannot create {}", state.display()))?;
    }
    std::fs::write(
        state.join("sources/trixie.sources"),
        format!("Types: deb\nURIs: {mirror}\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"),
    )?;
    let options = [
        "-o=Dir::Etc::sourcelist=/dev/null".to_string(),
        format!("-o=Dir::Etc::sourceparts={}", state.join("sources").display()),
        format!("-o=Dir::State::lists={}", state.join("lists").display()),
        format!("-o=Dir::Cache={}", state.join("cache").display()),
        "-o=APT::Sandbox::User=root".to_string(),
        "-qq".to_string(),
    ];
    let run = |program: &str, args: &[&str], dir: &Path| -> anyhow::Result<()> {
        let output = Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .with_context(|| format!("cannot run {program}"))?;
        if !output.status.success() {
            bail!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    };
    let apt: Vec<&str> = options.iter().map(String::as_str).collect();
    run("apt-get", &[&apt[..], &["update"]].concat(), &state)?;
    let debs = state.join("deb");
    for old in std::fs::read_dir(&debs)?.flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    run("apt-get", &[&apt[..], &["download", "docker-compose/trixie"]].concat(), &debs)?;
    let deb = std::fs::read_dir(&debs)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get downloaded no package")?;
    let unpacked = tempfile::tempdir()?;
    run("dpkg-deb", &["-x", &deb.to_string_lossy(), &unpacked.path().to_string_lossy()], &state)?;
    let plugin = unpacked.path().join("usr/libexec/docker/cli-plugins/docker-compose");
    std::fs::create_dir_all(Path::new(COMPOSE_PLUGIN).parent().expect("a folder"))?;
    std::fs::copy(&plugin, COMPOSE_PLUGIN).with_context(|| format!("the package has no {}", plugin.display()))?;
    if !compose_v2_available() {
        bail!("docker compose version fails with the plugin in place");
    }
    Ok(())
}

/// The Debian archive this machine's apt uses (the first source of the main suite), read from
/// its deb822 `.sources` files or `sources.list`.
fn debian_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> =
            dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "sources")).collect();
        files.sort();
        texts.extend(files.iter().filter_map(|f| std::fs::read_to_string(f).ok()));
    }
    texts.extend(std::fs::read_to_string("/etc/apt/sources.list").ok());
    texts.iter().find_map(|text| mirror_in(text))
}

/// The archive of a sources text whose suites include a Debian release itself (not `-security`
/// or `-updates`): `URIs:` of a deb822 stanza, or a one-line `deb URI SUITE main`.
fn mirror_in(text: &str) -> Option<String> {
    let release = |suite: &str| matches!(suite, "bookworm" | "trixie" | "stable" | "testing");
    for stanza in text.split("\n\n") {
        let field = |name: &str| stanza.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
        if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) {
            if suites.split_whitespace().any(release) && field("Types:").is_none_or(|t| t.contains("deb")) {
                return uris.split_whitespace().next().map(str::to_string);
            }
        }
    }
    text.lines().find_map(|line| {
        // `deb [signed-by=...] URI SUITE ...`: the options in brackets are not words.
        let line = match (line.find('['), line.find(']')) {
            (Some(open), Some(close)) if open < close => format!("{}{}", &line[..open], &line[close + 1..]),
            _ => line.to_string(),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["deb", uri, suite, ..] if release(suite) => Some(uri.to_string()),
            _ => None,
        }
    })
}

/// Whether `docker compose` (v2) works.
pub fn compose_v2_available() -> bool {
    Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The compose command this machine has: v2 (`docker compose`) preferred, else v1 (`docker-compose`).
pub fn compose_command() -> Option<Vec<String>> {
    if compose_v2_available() {
        Some(vec!["docker".into(), "compose".into()])
    } else if have("docker-compose") {
        Some(vec!["docker-compose".into()])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{mirror_in, with_retries};
    use std::time::Duration;

    #[test]
    fn a_download_that_fails_is_tried_again_and_the_last_error_says_how_often() {
        let pauses = [Duration::ZERO, Duration::ZERO];
        let mut calls = 0;
        let done = with_retries("fetching", &pauses, || {
            calls += 1;
            if calls < 3 {
                anyhow::bail!("mirror timed out")
            }
            Ok(calls)
        });
        assert_eq!(done.unwrap(), 3, "it succeeded on its last attempt");
        let mut calls = 0;
        let failed = with_retries("fetching", &pauses, || -> anyhow::Result<()> {
            calls += 1;
            anyhow::bail!("mirror timed out ({calls})")
        });
        assert_eq!(calls, 3);
        assert_eq!(format!("{:#}", failed.unwrap_err()), "fetching failed 3 times: mirror timed out (3)");
    }

    #[test]
    fn the_debian_mirror_is_read_from_apts_sources() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_in(deb822).as_deref(), Some("http://mirror.example/debian"));
        let security_only = "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_in(security_only), None);
        let one_line = "deb [signed-by=/k.gpg] http://m.example/debian bookworm main\n";
        assert_eq!(mirror_in(one_line).as_deref(), Some("http://m.example/debian"));
        assert_eq!(mirror_in("# deb http://m.example/debian bookworm main\n"), None);
    }
}
