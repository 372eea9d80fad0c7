//! Restarting what a student started by hand, for a persistence check that restarts a service
//! (lab 1's board), when they allowed it (`--allow-restarts`, or yes on a terminal).
//!
//! The service is whatever listens on its port (the `ready` address of the lab's process service
//! of that name). A process is stopped with SIGTERM and started again as it was - program,
//! arguments, working directory, environment, user and group - in a process group of its own, so
//! it outlives the grader; if something else brings it back first (systemd's `Restart=`), that is
//! the restart. A port published by a container is that container's: it is restarted through the
//! Engine API. Nothing is ever killed with SIGKILL, and nothing is removed.

use grading::curriculum::Lab;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// How long a process gets to stop after SIGTERM, and to answer again after its restart.
const PATIENCE: Duration = Duration::from_secs(15);
/// How long to wait for a supervisor (systemd, a shell loop) to bring the service back itself.
const SUPERVISOR_GRACE: Duration = Duration::from_secs(3);

/// The lab's process services a student may run by hand, by name: their `ready` ports.
#[derive(Debug)]
pub struct HandRestarts {
    ports: BTreeMap<String, (String, u16)>,
}

impl HandRestarts {
    /// For the lab's process services (the ones `--up` runs as processes), with variables expanded.
    pub fn new(lab: &Lab, vars: &grading::Vars) -> HandRestarts {
        let ports = lab
            .services
            .iter()
            .filter(|s| !s.is_command())
            .filter_map(|s| {
                let ready = vars.expand(&s.ready);
                let (host, port) = ready.rsplit_once(':')?;
                Some((s.name.clone(), (host.to_string(), port.parse().ok()?)))
            })
            .collect();
        HandRestarts { ports }
    }

    /// Whether every service in `names` is one this can restart.
    pub fn covers<'a>(&self, mut names: impl Iterator<Item = &'a String>) -> bool {
        names.all(|n| self.ports.contains_key(n))
    }

    /// The services' addresses, for the question asked on a terminal.
    pub fn describe(&self, names: &[String]) -> String {
        names
            .iter()
            .filter_map(|n| self.ports.get(n).map(|(host, port)| format!("{n} (what listens on {host}:{port})")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn restart_one(&self, name: &str) -> Result<(), String> {
        let (host, port) =
            self.ports.get(name).ok_or_else(|| format!("{name} is not a service the grader can restart"))?;
        let pid = listener(*port).ok_or_else(|| format!("nothing listens on port {port}: start {name} first"))?;
        let exe =
            std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|e| format!("cannot read process {pid}: {e}"))?;
        if exe.file_name().is_some_and(|n| n == "docker-proxy") {
            return restart_container(*port).await.map(|container| {
                eprintln!("restarted container {container}, which publishes port {port}");
            });
        }
        let process = Process::read(pid)?;
        if !crate::process::signal(pid, libc::SIGTERM) {
            return Err(format!("cannot stop {name} (pid {pid}): not allowed to signal it"));
        }
        let stopped = Instant::now() + PATIENCE;
        while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
            if Instant::now() >= stopped {
                return Err(format!("{name} (pid {pid}) did not stop within {} s of SIGTERM", PATIENCE.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A supervisor may bring it back by itself: then that was the restart.
        let supervised = Instant::now() + SUPERVISOR_GRACE;
        while Instant::now() < supervised {
            if listener(*port).is_some() {
                eprintln!("{name} (pid {pid}) was stopped and came back by itself");
                return wait_answers(host, *port, name).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let child = process.start_again()?;
        eprintln!("restarted {name}: pid {pid} stopped, started again as pid {child} (its output goes where it went)");
        wait_answers(host, *port, name).await
    }
}

impl grading::ServiceControl for HandRestarts {
    fn restart<'a>(
        &'a self,
        service: &'a str,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(self.restart_one(service))
    }
}

/// What it takes to start a process again as it was.
#[derive(Debug)]
struct Process {
    exe: PathBuf,
    args: Vec<String>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    uid: u32,
    gid: u32,
    /// Where its output went (a terminal, a file), to send it there again; none: nowhere to reopen.
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
}

impl Process {
    fn read(pid: u32) -> Result<Process, String> {
        let cannot = |what: &str, e: std::io::Error| format!("cannot read the {what} of process {pid}: {e}");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|e| cannot("program", e))?;
        let nul = |bytes: Vec<u8>| -> Vec<String> {
            bytes
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        let args = nul(std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|e| cannot("arguments", e))?);
        let env = nul(std::fs::read(format!("/proc/{pid}/environ")).map_err(|e| cannot("environment", e))?)
            .into_iter()
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).map_err(|e| cannot("working directory", e))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| cannot("status", e))?;
        let id = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("process {pid} has no {key}"))
        };
        let output = |fd: u32| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .ok()
                .filter(|p| p.is_absolute() && !p.to_string_lossy().ends_with(" (deleted)"))
        };
        Ok(Process { exe, args, cwd, env, uid: id("Uid:")?, gid: id("Gid:")?, stdout: output(1), stderr: output(2) })
    }

    /// Starts the program again, detached (a process group of its own), as its user, its output
    /// going where it went (a pipe cannot be reopened: then nowhere); returns the pid.
    fn start_again(&self) -> Result<u32, String> {
        use std::os::unix::process::CommandExt;
        let reopen = |path: &Option<PathBuf>| -> std::process::Stdio {
            path.as_ref()
                .and_then(|p| std::fs::OpenOptions::new().append(true).open(p).ok())
                .map_or_else(std::process::Stdio::null, std::process::Stdio::from)
        };
        let (output, errors) = (reopen(&self.stdout), reopen(&self.stderr));
        let mut command = std::process::Command::new(&self.exe);
        command
            .args(self.args.iter().skip(1))
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(output)
            .stderr(errors)
            .process_group(0);
        if let Some(first) = self.args.first() {
            command.arg0(first);
        }
        // As its own user: a grader running as root starts it as the user it ran as; any other
        // grader only restarts its own user's processes.
        let (uid, gid) = (own_uid(), own_gid());
        if uid == 0 && (self.uid != 0 || self.gid != 0) {
            command.uid(self.uid).gid(self.gid);
        } else if uid != self.uid || gid != self.gid {
            return Err(format!(
                "the process ran as user {} and this grader runs as {uid}: restart it yourself",
                self.uid
            ));
        }
        let child = command.spawn().map_err(|e| format!("cannot start {} again: {e}", self.exe.display()))?;
        Ok(child.id())
    }
}

fn own_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(u32::MAX)
}

fn own_gid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::gid(&m)).unwrap_or(u32::MAX)
}

fn is_zombie(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    status.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
}

async fn wait_answers(host: &str, port: u16, name: &str) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect((host, port)).await.is_err() {
        if Instant::now() >= deadline {
            return Err(format!(
                "{name} did not answer on {host}:{port} within {} s of its restart",
                PATIENCE.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The process that holds a listening TCP socket on `port` (any address, IPv4 or IPv6).
pub fn listener(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            let listening = *state == "0A";
            let on_port = local.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok()) == Some(port);
            if listening && on_port && *inode != "0" {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort();
    pids.into_iter().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.filter_map(Result::ok).any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
            })
        })
    })
}

/// Restarts the container that publishes host `port`; returns its name.
async fn restart_container(port: u16) -> Result<String, String> {
    let engine = crate::engine::ensure(crate::engine::Provision::Never).await.map_err(|e| format!("{e:#}"))?;
    let filters: std::collections::HashMap<&str, Vec<String>> = [("publish", vec![port.to_string()])].into();
    let found = engine
        .docker
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default().filters(&filters).build(),
        ))
        .await
        .map_err(|e| format!("cannot list containers: {e}"))?;
    let container = found.first().ok_or_else(|| format!("no container publishes port {port}"))?;
    let name = container.names.iter().flatten().next().cloned().unwrap_or_default().trim_start_matches('/').to_string();
    let id = container.id.clone().unwrap_or_default();
    engine
        .docker
        .restart_container(&id, None::<bollard::query_parameters::RestartContainerOptions>)
        .await
        .map_err(|e| format!("cannot restart container {name}: {e}"))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_of_a_port_is_found_by_its_socket() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        assert_eq!(listener(port), Some(std::process::id()));
        drop(socket);
        assert_eq!(listener(port), None);
    }
}
