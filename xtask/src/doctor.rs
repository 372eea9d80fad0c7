//! `cargo xtask doctor`: what this machine has and lacks for the labs, and how to get what is missing.

use grading::Curriculum;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// One line of the diagnosis.
#[derive(Debug)]
pub struct Finding {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    // Some tools (nginx -v) print their version on stderr.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    stdout
        .lines()
        .chain(stderr.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn tool(what: &str, program: &str, args: &[&str], missing: &str) -> Finding {
    match version_of(program, args) {
        Some(v) => Finding {
            what: what.into(),
            ok: true,
            detail: v,
        },
        None => Finding {
            what: what.into(),
            ok: false,
            detail: missing.into(),
        },
    }
}

/// Where a Docker engine may answer: `DOCKER_HOST`, then the usual sockets (Docker Desktop included).
pub fn docker_socket_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(host) = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
    {
        candidates.push(host);
    }
    candidates.push(PathBuf::from("/var/run/docker.sock"));
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        candidates.push(home.join(".docker/run/docker.sock"));
        candidates.push(home.join(".docker/desktop/docker.sock"));
    }
    candidates
}

/// Asks the engine's `/_ping` over a Unix socket.
fn ping_engine(socket: &Path) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(answer.lines().next().unwrap_or("no answer").to_string())
    }
}

pub fn diagnose(root: &Path) -> Vec<Finding> {
    let mut findings = vec![
        tool(
            "cargo",
            "cargo",
            &["--version"],
            "not found: install Rust with rustup",
        ),
        tool(
            "docker CLI (labs 2-3)",
            "docker",
            &["--version"],
            "not found: apt-get install docker.io (Debian) or Docker Desktop",
        ),
    ];
    let engine = match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.starts_with("unix://") => Finding {
            what: "docker engine".into(),
            ok: true,
            detail: format!("DOCKER_HOST={host} (not probed: only unix sockets are)"),
        },
        _ => {
            let mut tried = Vec::new();
            let mut found = None;
            for socket in docker_socket_candidates() {
                match ping_engine(&socket) {
                    Ok(()) => {
                        found = Some(socket);
                        break;
                    }
                    Err(e) => tried.push(format!("{}: {e}", socket.display())),
                }
            }
            match found {
                Some(socket) => Finding { what: "docker engine".into(), ok: true, detail: format!("answers on {}", socket.display()) },
                None => Finding {
                    what: "docker engine".into(),
                    ok: false,
                    detail: format!("no engine answers ({}); start dockerd or Docker Desktop, or set DOCKER_HOST", tried.join("; ")),
                },
            }
        }
    };
    findings.push(engine);
    let compose = version_of("docker", &["compose", "version", "--short"])
        .map(|v| format!("docker compose (v2) {v}"))
        .or_else(|| {
            version_of("docker-compose", &["version", "--short"])
                .map(|v| format!("docker-compose (v1) {v}"))
        });
    findings.push(match compose {
        Some(v) => Finding {
            what: "compose (lab 3)".into(),
            ok: true,
            detail: v,
        },
        None => Finding {
            what: "compose (lab 3)".into(),
            ok: false,
            detail: "neither `docker compose` nor `docker-compose`: apt-get install docker-compose"
                .into(),
        },
    });
    findings.push(tool(
        "nginx (bench)",
        "nginx",
        &["-v"],
        "not found: apt-get install nginx-light (only `cargo xtask bench` needs it)",
    ));
    findings.push(match which("wrk") {
        Some(path) => Finding {
            what: "wrk (bench)".into(),
            ok: true,
            detail: path.display().to_string(),
        },
        None => Finding {
            what: "wrk (bench)".into(),
            ok: false,
            detail: "not found: apt-get install wrk (only `cargo xtask bench` needs it)".into(),
        },
    });
    match Curriculum::load(root) {
        Ok(curriculum) => {
            for lab in &curriculum.labs {
                for (name, value) in lab.vars.iter().filter(|(n, _)| n.ends_with("_port")) {
                    let host = lab.vars.get("host").map_or("127.0.0.1", String::as_str);
                    let address = format!("{host}:{value}");
                    let busy = address.parse().ok().is_some_and(|a| {
                        std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
                    });
                    findings.push(Finding {
                        what: format!("{} {name}", lab.id),
                        ok: true,
                        detail: if busy {
                            format!("{address} is in use: `check {}` grades what runs there; `--up` needs it free", lab.id)
                        } else {
                            format!("{address} is free")
                        },
                    });
                }
            }
        }
        Err(e) => findings.push(Finding {
            what: "curriculum".into(),
            ok: false,
            detail: e.to_string(),
        }),
    }
    findings
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

pub fn render(findings: &[Finding]) -> String {
    let width = findings.iter().map(|f| f.what.len()).max().unwrap_or(0);
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {:<width$}  {}\n",
                if f.ok { "ok     " } else { "missing" },
                f.what,
                f.detail
            )
        })
        .collect()
}
