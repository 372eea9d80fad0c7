//! The toolbox: a container that runs one of a submission's commands - a script of docker
//! commands, `docker compose up`, a tool of the course's - with only the run's proxy socket as its
//! Docker engine.
//!
//! Why a container and not a host process: Compose and a script read files (an `env_file`, an
//! `extends`, a build context of `/`) with the rights of whoever runs them. In the toolbox, the
//! only files there are the toolbox image's own, the run's copy of the submission (at the same
//! absolute path as on the host, so relative bind mounts Compose resolves are right on the host),
//! and the tools mounted read-only. It runs as an unprivileged user, with no capabilities, no
//! network (the engine is reached through the socket), a read-only root, and the run's caps on
//! memory, processes and CPU; its output is kept up to a limit; it is killed at its deadline.

use crate::limits::Limits;
use crate::run::{Run, RunError};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder, WaitContainerOptions};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the course's tools are mounted inside the toolbox (on its `PATH`).
pub const TOOLS_DIR: &str = "/opt/containerlabs/bin";
/// How much of a command's output is kept in its log; the rest is counted, not stored.
pub const OUTPUT_LIMIT: u64 = 1 << 20;
/// How much of the end of the output is kept for messages.
const TAIL: usize = 4 << 10;

/// One command to run in the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxCommand {
    /// The toolbox image (Debian's docker CLI and Compose).
    pub image: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Host binaries (static builds) mounted read-only at [`TOOLS_DIR`]`/<file name>`.
    pub tools: Vec<PathBuf>,
    /// The working directory (default: the submission's copy).
    pub workdir: Option<PathBuf>,
    pub timeout: Duration,
    /// Where its output goes (at most [`OUTPUT_LIMIT`] bytes of it).
    pub log: PathBuf,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// The exit code, or `None` when it was killed at its deadline.
    pub exit_code: Option<i64>,
    /// The last lines of its output.
    pub tail: String,
    /// Bytes it wrote in all (the log keeps at most [`OUTPUT_LIMIT`]).
    pub output_bytes: u64,
}

impl CommandResult {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// The last non-empty line of its output, for one-line messages.
    pub fn last_line(&self) -> Option<&str> {
        self.tail.lines().rev().map(str::trim).find(|l| !l.is_empty())
    }
}

/// Compose v2 as a Docker CLI plugin on the host, if there is one: mounted into the toolbox as
/// well (the toolbox image has its own v2, which Docker's CLI finds first; an older toolbox
/// image had only v1).
fn compose_plugin() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut candidates = vec![
        PathBuf::from("/usr/libexec/docker/cli-plugins/docker-compose"),
        PathBuf::from("/usr/lib/docker/cli-plugins/docker-compose"),
        PathBuf::from("/usr/local/lib/docker/cli-plugins/docker-compose"),
        PathBuf::from("/usr/local/libexec/docker/cli-plugins/docker-compose"),
    ];
    if let Some(home) = home {
        candidates.push(home.join(".docker/cli-plugins/docker-compose"));
    }
    candidates.into_iter().find(|p| p.is_file())
}

impl Run {
    /// Runs `command` in a fresh toolbox container of this run and waits for it (at most its
    /// timeout, then it is killed). The container stays until the run is reaped.
    pub async fn command(&self, command: &SandboxCommand) -> Result<CommandResult, RunError> {
        let docker = self.docker();
        let (uid, gid) = crate::copy::sandbox_user();
        let socket = self.proxy_socket().ok_or_else(|| RunError::Toolbox("the run's proxy has stopped".into()))?;
        let mut binds = vec![format!("{}:/var/run/docker.sock", socket.display())];
        if let Some(copy) = self.submission() {
            binds.push(format!("{0}:{0}", copy.display()));
        }
        for tool in &command.tools {
            let name = tool.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            binds.push(format!("{}:{TOOLS_DIR}/{name}:ro", tool.display()));
        }
        if let Some(plugin) = compose_plugin() {
            binds.push(format!("{}:/usr/libexec/docker/cli-plugins/docker-compose:ro", plugin.display()));
        }
        let mut env: BTreeMap<String, String> = [
            ("DOCKER_HOST", "unix:///var/run/docker.sock"),
            ("HOME", "/tmp"),
            ("PATH", &format!("{TOOLS_DIR}:/usr/local/bin:/usr/bin:/bin")),
            // The classic builder: its labels, tags and limits are query parameters the proxy sees.
            ("DOCKER_BUILDKIT", "0"),
            ("COMPOSE_DOCKER_CLI_BUILD", "0"),
            ("COMPOSE_INTERACTIVE_NO_CLI", "1"),
            // No network here: tools that would wait on a published port leave that to the grader.
            ("CLABS_NO_NETWORK", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(command.env.clone());
        let limits = Limits::toolbox();
        let workdir = command.workdir.clone().or_else(|| self.submission().map(Path::to_path_buf));
        let mut labels: std::collections::HashMap<String, String> = self.labels().clone().into_iter().collect();
        labels.insert(crate::labels::ROLE.into(), "toolbox".into());
        let body = ContainerCreateBody {
            image: Some(command.image.clone()),
            cmd: Some(command.argv.clone()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: Some(format!("{uid}:{gid}")),
            working_dir: workdir.map(|w| w.display().to_string()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some("none".into()),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges".into()]),
                readonly_rootfs: Some(true),
                tmpfs: Some([("/tmp".to_string(), "rw,size=64m,mode=1777".to_string())].into_iter().collect()),
                memory: Some(limits.memory),
                memory_swap: Some(limits.memory),
                pids_limit: Some(limits.pids),
                nano_cpus: Some(limits.nano_cpus),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!("clabs-run-{}-toolbox-{}", self.id(), self.next_command());
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        docker.create_container(Some(options), body).await.map_err(|e| RunError::engine("create the toolbox", e))?;
        docker.start_container(&name, None).await.map_err(|e| RunError::engine("start the toolbox", e))?;
        let mut log = std::fs::File::create(&command.log)
            .map_err(|e| RunError::Io { what: format!("create {}", command.log.display()), source: e })?;
        let collect = async {
            let options = LogsOptionsBuilder::default().follow(true).stdout(true).stderr(true).build();
            let mut stream = docker.logs(&name, Some(options));
            let (mut written, mut tail) = (0u64, Vec::<u8>::new());
            while let Some(Ok(chunk)) = stream.next().await {
                let bytes = chunk.into_bytes();
                if written < OUTPUT_LIMIT {
                    let keep = bytes.len().min((OUTPUT_LIMIT - written) as usize);
                    let _ = log.write_all(&bytes[..keep]);
                }
                written += bytes.len() as u64;
                tail.extend_from_slice(&bytes);
                if tail.len() > 2 * TAIL {
                    tail.drain(..tail.len() - TAIL);
                }
            }
            (written, tail)
        };
        let waited = tokio::time::timeout(command.timeout, async {
            let (logs, status) = tokio::join!(collect, async {
                let mut wait = docker.wait_container(&name, None::<WaitContainerOptions>);
                match wait.next().await {
                    Some(Ok(status)) => Some(status.status_code),
                    // bollard reports a non-zero exit as an error that carries the code.
                    Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
                    _ => None,
                }
            });
            (logs, status)
        })
        .await;
        let ((output_bytes, tail), exit_code) = match waited {
            Ok(done) => done,
            Err(_) => {
                let _ = docker.kill_container(&name, None::<bollard::query_parameters::KillContainerOptions>).await;
                let tail = std::fs::read(&command.log).unwrap_or_default();
                let start = tail.len().saturating_sub(TAIL);
                ((tail.len() as u64, tail[start..].to_vec()), None)
            }
        };
        if output_bytes > OUTPUT_LIMIT {
            let _ = writeln!(
                log,
                "\n[the sandbox kept the first {} KiB of {} KiB of output]",
                OUTPUT_LIMIT >> 10,
                output_bytes >> 10
            );
        }
        let start = tail.len().saturating_sub(TAIL);
        Ok(CommandResult { exit_code, tail: String::from_utf8_lossy(&tail[start..]).into_owned(), output_bytes })
    }
}
