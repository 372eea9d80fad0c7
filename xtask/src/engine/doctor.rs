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
    stdout.lines().chain(stderr.lines()).map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
}

fn tool(what: &str, program: &str, args: &[&str], missing: &str) -> Finding {
    match version_of(program, args) {
        Some(v) => Finding { what: what.into(), ok: true, detail: v },
        None => Finding { what: what.into(), ok: false, detail: missing.into() },
    }
}

pub fn diagnose(root: &Path) -> Vec<Finding> {
    let mut findings = vec![
        tool("cargo", "cargo", &["--version"], "not found: install Rust with rustup"),
        tool(
            "docker CLI (labs 2-3)",
            "docker",
            &["--version"],
            "not found: apt-get install docker.io (Debian) or Docker Desktop",
        ),
    ];
    let engine = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => match runtime.block_on(crate::engine::connect()) {
            Ok(engine) => Finding {
                what: "docker engine".into(),
                ok: true,
                detail: format!("{} (API {}) at {}", engine.version, engine.api_version, engine.endpoint),
            },
            Err(tried) => Finding {
                what: "docker engine".into(),
                ok: false,
                detail: format!("no engine answers ({tried}); `cargo xtask engine` starts one (Debian, root)"),
            },
        },
        Err(e) => Finding { what: "docker engine".into(), ok: false, detail: e.to_string() },
    };
    findings.push(engine);
    let compose = version_of("docker", &["compose", "version", "--short"])
        .map(|v| format!("docker compose (v2) {v}"))
        .or_else(|| version_of("docker-compose", &["version", "--short"]).map(|v| format!("docker-compose (v1) {v}")));
    findings.push(match compose {
        Some(v) => Finding { what: "compose (lab 3)".into(), ok: true, detail: v },
        None => Finding {
            what: "compose (lab 3)".into(),
            ok: false,
            detail: "neither `docker compose` nor `docker-compose`: apt-get install docker-compose".into(),
        },
    });
    findings.push(tool(
        "nginx (bench)",
        "nginx",
        &["-v"],
        "not found: apt-get install nginx-light (only `cargo xtask bench` needs it)",
    ));
    findings.push(match which("wrk") {
        Some(path) => Finding { what: "wrk (bench)".into(), ok: true, detail: path.display().to_string() },
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
                    let busy = address
                        .parse()
                        .ok()
                        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok());
                    findings.push(Finding {
                        what: format!("{} {name}", lab.id),
                        ok: true,
                        detail: if busy {
                            format!(
                                "{address} is in use: `check {}` grades what runs there; `--up` needs it free",
                                lab.id
                            )
                        } else {
                            format!("{address} is free")
                        },
                    });
                }
            }
        }
        Err(e) => findings.push(Finding { what: "curriculum".into(), ok: false, detail: e.to_string() }),
    }
    findings
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()))
}

pub fn render(findings: &[Finding]) -> String {
    let width = findings.iter().map(|f| f.what.len()).max().unwrap_or(0);
    findings
        .iter()
        .map(|f| format!("{} {:<width$}  {}\n", if f.ok { "ok     " } else { "missing" }, f.what, f.detail))
        .collect()
}
