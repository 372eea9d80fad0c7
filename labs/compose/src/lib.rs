//! Lab 3 reference: the `stack` tool around the lab's compose file.
//!
//! Compose does the work (v2 `docker compose` or v1 `docker-compose`, whichever is installed);
//! this adds what both lack or do differently: `up` waits until every container of the project is
//! running and healthy (v1 has no `--wait`) and prints the published URLs; failures - no `.env`,
//! a malformed file, a host port already taken, a service that never gets healthy - are one line
//! that says what to do; and containers are found by the compose labels both versions set.

use anyhow::{bail, Context};
use bollard::Docker;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The installed Compose, as a command prefix.
pub fn compose_tool() -> Option<Vec<String>> {
    let candidates: [&[&str]; 2] = [&["docker", "compose"], &["docker-compose"]];
    candidates
        .into_iter()
        .find(|tool| {
            Command::new(tool[0])
                .args(&tool[1..])
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|tool| tool.iter().map(|s| s.to_string()).collect())
}

/// One compose project: which file, which name, which environment file.
#[derive(Debug, Clone)]
pub struct Stack {
    pub tool: Vec<String>,
    pub file: PathBuf,
    pub project: String,
    pub env_file: PathBuf,
}

impl Stack {
    /// Checks what `up` needs before anything is created. `file` may be a folder: the compose
    /// file is then the first name Compose itself looks for there.
    pub fn new(file: &Path, project: &str, env_file: Option<&Path>) -> anyhow::Result<Stack> {
        let tool = compose_tool().context(
            "neither `docker compose` (v2) nor `docker-compose` (v1) is installed: install one (Debian: apt-get install docker-compose)",
        )?;
        let file = &policy::compose_file(file);
        if !file.is_file() {
            bail!(
                "no compose file at {} ({}): run from the workspace root or pass --file",
                file.display(),
                policy::COMPOSE_FILE_NAMES.join(", ")
            );
        }
        let env_file = match env_file {
            Some(path) if !path.is_file() => bail!(
                "the env file {} is missing: create it (the lab's .env.example lists every variable the file needs) or pass another --env-file",
                path.display()
            ),
            Some(path) => path.to_path_buf(),
            None => file.parent().unwrap_or(Path::new(".")).join(".env"),
        };
        if !env_file.is_file() {
            bail!(
                "{} is missing: copy .env.example to .env beside the compose file and set every password in it (or pass --env-file)",
                env_file.display()
            );
        }
        Ok(Stack { tool, file: file.to_path_buf(), project: project.to_string(), env_file })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.tool[0]);
        command
            .args(&self.tool[1..])
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&self.file)
            .arg("--env-file")
            .arg(&self.env_file)
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs compose; on failure, its message made into one line that says what to do.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = self.command(args).output().with_context(|| format!("cannot run {}", self.tool.join(" ")))?;
        if output.status.success() {
            return Ok(());
        }
        // v1 writes some errors (a build's) to stdout, v2 to stderr: read both.
        let said = format!("{}\n{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
        bail!("{}", explain(&said, &self.tool.join(" "), args));
    }

    /// `up -d`, then waits until the project is healthy. When that fails, the containers and
    /// networks are taken down again (as `down` does, the volumes and their data stay: `down
    /// --volumes` removes them).
    pub async fn up(&self, docker: &Docker, timeout: Duration, services: &[&str]) -> anyhow::Result<()> {
        self.up_keeping(docker, timeout, services, false).await
    }

    /// [`Stack::up`], but with `keep` what started stays when it fails: to be looked at (the
    /// grader draws it in its report) and then taken down with `down`.
    pub async fn up_keeping(
        &self,
        docker: &Docker,
        timeout: Duration,
        services: &[&str],
        keep: bool,
    ) -> anyhow::Result<()> {
        let mut args = vec!["up", "--detach"];
        args.extend(services);
        let result = match self.run(&args) {
            Ok(()) => wait_healthy(docker, &self.project, timeout).await,
            // Compose gives up on a dependency that turned unhealthy or exited, naming only its
            // container id: say which service, and what it said last, beside Compose's own words.
            Err(e) => Err(match unhealthy(docker, &self.project).await {
                Some(sick) => anyhow::anyhow!("{sick} ({e})"),
                None => e,
            }),
        };
        if result.is_err() && services.is_empty() && !keep {
            let _ = self.run(&["down"]);
        }
        result
    }
}

/// "service S is unhealthy: its last health check output; its last log lines: ...", for the
/// first unhealthy container, else the first that exited, is restarting or never started.
async fn unhealthy(docker: &Docker, project: &str) -> Option<String> {
    let members = members(docker, project).await.ok()?;
    if let Some(sick) = members.iter().find(|m| m.health == "unhealthy") {
        return Some(format!(
            "service {} is unhealthy: {}; its last log lines: {}",
            sick.service,
            or_unknown(&sick.last_health_output),
            last_log_lines(docker, &sick.name).await
        ));
    }
    let stopped = members.iter().find(|m| matches!(m.state.as_str(), "exited" | "dead" | "restarting" | "created"))?;
    Some(format!(
        "service {} is {}; its last log lines: {}",
        stopped.service,
        if stopped.state == "created" { "created but never started" } else { stopped.state.as_str() },
        last_log_lines(docker, &stopped.name).await
    ))
}

/// A container's last few log lines on one line (what a failed start most often needs said).
pub async fn last_log_lines(docker: &Docker, name: &str) -> String {
    use futures_util::StreamExt;
    let options = bollard::query_parameters::LogsOptionsBuilder::default().stdout(true).stderr(true).tail("3").build();
    let mut stream = docker.logs(name, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        format!("none (`docker logs {name}`)")
    } else {
        excerpt(&lines.join(" | "))
    }
}

/// Compose's error in one line, with what to do for the usual causes.
pub fn explain(stderr: &str, tool: &str, args: &[&str]) -> String {
    let text = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    let taken = ["port is already allocated", "address already in use"];
    if taken.iter().any(|t| text.contains(t)) {
        let port = text
            .split(|c: char| c.is_whitespace() || c == '"')
            .find(|w| w.starts_with("127.0.0.1:") || w.starts_with("0.0.0.0:"))
            .map_or_else(String::new, |w| format!(" ({})", w.trim_end_matches(':')));
        return format!(
            "a host port this stack publishes is already in use{port}: stop what holds it (`ss -ltnp`) or change the port in .env (HTTP_PORT, HTTPS_PORT)"
        );
    }
    if text.contains("is not set") || text.contains("Missing mandatory value") || text.contains("required variable") {
        return format!("a variable the compose file needs is not set ({}): set it in .env", excerpt(&text));
    }
    if text.contains("No such image") || text.contains("pull access denied") || text.contains("manifest unknown") {
        if text.contains("containerlabs/portfolio") {
            return format!(
                "the portfolio image is this project's own and no registry has it ({}): `cargo xtask images` builds it",
                excerpt(&text)
            );
        }
        return format!(
            "an image is missing and cannot be pulled ({}): with no registry, `cargo xtask images` builds stand-ins; name them in .env (MARIADB_IMAGE=containerlabs/mariadb:10.11-standin, ...)",
            excerpt(&text)
        );
    }
    // Compose's progress lines ("Creating network ...", "Container x Started") bury the error:
    // keep the lines that say what failed (v1's `ERROR:`, v2's `Error response from daemon`,
    // `failed to solve`, a build step's non-zero code, a service that did not complete).
    let failing = |line: &str| {
        let lower = line.to_lowercase();
        lower.starts_with("error")
            || lower.contains(" error")
            || lower.contains("failed")
            || lower.contains("returned a non-zero code")
            || lower.contains("didn't complete successfully")
            || lower.contains("is unhealthy")
            || lower.starts_with("e: ")
    };
    let errors: Vec<&str> = stderr.lines().map(str::trim).filter(|l| failing(l)).collect();
    let text = if errors.is_empty() { text } else { errors.join(" ").split_whitespace().collect::<Vec<_>>().join(" ") };
    format!("{tool} {} failed: {}", args.join(" "), excerpt(&text))
}

fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(400).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// `down --volumes` through the Engine API: everything labelled as the Compose project's -
/// containers (force-removed with their anonymous volumes), then networks, then volumes - by the
/// project's one reaper (`sandbox::reap`: one removal at a time, each under a deadline, because
/// dockerd 20.10 can deadlock removing containers concurrently).
pub async fn destroy(docker: &Docker, project: &str) -> anyhow::Result<()> {
    let label = format!("com.docker.compose.project={project}");
    sandbox::reap(docker, &label, false).await?;
    Ok(())
}

/// A container of the project: its service, state, health and published ports.
#[derive(Debug, Clone)]
pub struct Member {
    pub service: String,
    pub name: String,
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a healthcheck.
    pub health: String,
    pub restarts: i64,
    pub ports: Vec<String>,
    pub last_health_output: String,
}

/// The project's containers (by compose labels), sorted by service.
pub async fn members(docker: &Docker, project: &str) -> anyhow::Result<Vec<Member>> {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    let label = format!("com.docker.compose.project={project}");
    let filters: HashMap<&str, Vec<&str>> = [("label", vec![label.as_str()])].into_iter().collect();
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let mut found = Vec::new();
    for summary in docker.list_containers(Some(options)).await.context("cannot list containers")? {
        let Some(id) = summary.id else { continue };
        let inspect = docker.inspect_container(&id, None).await.context("cannot inspect a container")?;
        let labels = inspect.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
        if labels.get("com.docker.compose.oneoff").is_some_and(|v| v == "True") {
            continue;
        }
        let state = inspect.state.clone().unwrap_or_default();
        let health = state.health.clone().unwrap_or_default();
        let ports = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.clone())
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(container, bindings)| {
                bindings.unwrap_or_default().into_iter().map(move |b| {
                    format!("{}:{}->{container}", b.host_ip.unwrap_or_default(), b.host_port.unwrap_or_default())
                })
            })
            .collect();
        found.push(Member {
            service: labels.get("com.docker.compose.service").cloned().unwrap_or_default(),
            name: inspect.name.unwrap_or_default().trim_start_matches('/').to_string(),
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            health: health.status.map(|s| s.to_string()).filter(|s| s != "none").unwrap_or_default(),
            restarts: inspect.restart_count.unwrap_or(0),
            ports,
            last_health_output: health
                .log
                .unwrap_or_default()
                .last()
                .and_then(|l| l.output.clone())
                .map(|o| o.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        });
    }
    found.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(found)
}

/// Waits until every container of `project` is running and, where it has a healthcheck, healthy.
/// Fails at once on a container that exited or turned unhealthy, naming it and why.
pub async fn wait_healthy(docker: &Docker, project: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_report = String::new();
    loop {
        let members = members(docker, project).await?;
        if members.is_empty() {
            bail!("compose started no container for project {project}");
        }
        for m in &members {
            if m.health == "unhealthy" {
                bail!(
                    "service {} is unhealthy: {}; its last log lines: {}",
                    m.service,
                    or_unknown(&m.last_health_output),
                    last_log_lines(docker, &m.name).await
                );
            }
            if m.state == "exited" || m.state == "dead" || m.restarts > 2 {
                bail!(
                    "service {} stopped ({}, {} restarts); its last log lines: {}",
                    m.service,
                    m.state,
                    m.restarts,
                    last_log_lines(docker, &m.name).await
                );
            }
        }
        let waiting: Vec<String> = members
            .iter()
            .filter(|m| m.state != "running" || !(m.health.is_empty() || m.health == "healthy"))
            .map(|m| format!("{} ({})", m.service, if m.health.is_empty() { &m.state } else { &m.health }))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let details: Vec<String> = members
                .iter()
                .filter(|m| m.health == "starting" || m.state != "running")
                .map(|m| format!("{}: {}", m.service, or_unknown(&m.last_health_output)))
                .collect();
            bail!(
                "not healthy after {}s: {} (last health check output - {})",
                timeout.as_secs(),
                waiting.join(", "),
                details.join("; ")
            );
        }
        let report = format!("waiting for {}", waiting.join(", "));
        if report != last_report {
            eprintln!("{report}");
            last_report = report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn or_unknown(text: &str) -> &str {
    if text.is_empty() {
        "no output"
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::explain;

    #[test]
    fn compose_errors_become_one_line_with_what_to_do() {
        let taken = "Error response from daemon: driver failed programming external connectivity on endpoint \
                     lab3_proxy_1: Bind for 127.0.0.1:9443 failed: port is already allocated";
        let line = explain(taken, "docker compose", &["up"]);
        assert!(line.contains("already in use (127.0.0.1:9443") && line.contains("HTTPS_PORT"), "{line}");

        let unset = "error while interpolating services.wordpress-db.environment.MARIADB_ROOT_PASSWORD: \
                     required variable WORDPRESS_DB_ROOT_PASSWORD is missing a value";
        assert!(explain(unset, "docker compose", &["up"]).contains("set it in .env"));

        let ours = "pull access denied for containerlabs/portfolio, repository does not exist";
        assert!(explain(ours, "docker compose", &["up"]).contains("`cargo xtask images` builds it"));
        let official = "Error response from daemon: manifest unknown: manifest unknown (mariadb:10.11)";
        assert!(explain(official, "docker compose", &["up"]).contains("builds stand-ins"));

        let buried = "Creating network \"p_backend\" with the default driver\nCreating volume \"p_db\"\nERROR: for web  Cannot start service web: oops\nERROR: Encountered errors while bringing up the project.";
        assert_eq!(
            explain(buried, "docker-compose", &["up"]),
            "docker-compose up failed: ERROR: for web Cannot start service web: oops ERROR: Encountered errors while bringing up the project."
        );
        // A build that fails in a step: its error, never only the progress lines before it.
        let build = " Network p_default  Creating\n Volume \"p_data\"  Creating\nStep 2/4 : RUN apt-get install -y caddyx\nE: Unable to locate package caddyx\nThe command '/bin/sh -c apt-get install -y caddyx' returned a non-zero code: 100\n";
        let line = explain(build, "docker compose", &["up"]);
        assert!(line.contains("Unable to locate package caddyx") && line.contains("non-zero code: 100"), "{line}");
        assert!(!line.contains("Creating"), "{line}");
        let v2 = " Container p-db-1  Created\n Container p-web-1  Creating\nError response from daemon: failed to create task for container: exec: \"nope\": executable file not found in $PATH";
        let line = explain(v2, "docker compose", &["up"]);
        assert!(line.contains("executable file not found") && !line.contains("Created"), "{line}");
        let other = "something\n  else   went wrong";
        assert_eq!(
            explain(other, "docker-compose", &["down"]),
            "docker-compose down failed: something else went wrong"
        );
    }
}
