//! `up` / `down`: run a lab's services in the background to explore them, and stop them again.
//!
//! `up` records what it started in `target/clabs/<lab>.json`; `down` stops exactly those processes,
//! after checking each PID still runs the program `up` started (a PID may have been reused).

use crate::course::Selection;
use crate::services::{self, Lifetime, Services};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize)]
struct UpState {
    lab: String,
    state_dir: PathBuf,
    processes: Vec<UpProcess>,
}

#[derive(Debug, Serialize, Deserialize)]
struct UpProcess {
    name: String,
    pid: u32,
    program: PathBuf,
    ready: String,
}

fn state_file(root: &Path, lab: &str) -> PathBuf {
    root.join("target").join("clabs").join(format!("{lab}.json"))
}

pub async fn up(root: &Path, selection: &Selection) -> anyhow::Result<()> {
    let lab = selection.lab();
    let file = state_file(root, &lab.id);
    if file.exists() {
        anyhow::bail!("{} is already up (see {}); run `cargo xtask down {}` first", lab.id, file.display(), lab.id);
    }
    let state_dir = root.join("target").join("clabs").join(&lab.id);
    std::fs::create_dir_all(&state_dir).with_context(|| format!("cannot create {}", state_dir.display()))?;
    let specs = services::prepare(lab, &selection.submission, &selection.vars, &state_dir)?;
    services::ensure_ports_free(&specs)?;
    let services = Services::start(specs, Lifetime::Detached).await?;
    let processes = services
        .pids()
        .into_iter()
        .map(|(name, pid)| {
            let spec = services.specs().iter().find(|s| s.name == name).expect("started spec");
            UpProcess { name, pid, program: spec.program.clone(), ready: spec.ready.clone() }
        })
        .collect::<Vec<_>>();
    let state = UpState { lab: lab.id.clone(), state_dir: state_dir.clone(), processes };
    std::fs::write(&file, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    services.detach();
    println!("{} is up:", lab.id);
    for p in &state.processes {
        println!("  {:<6} http://{}/  (pid {})", p.name, p.ready, p.pid);
    }
    println!("logs and data: {}", state_dir.display());
    let vars: String = selection
        .vars
        .iter()
        .filter(|(name, value)| lab.vars.get(*name).map(String::as_str) != Some(*value))
        .map(|(name, value)| format!(" --var {name}={value}"))
        .collect();
    println!("grade it: cargo xtask check {}{vars}    stop it: cargo xtask down {}", lab.id, lab.id);
    Ok(())
}

pub async fn down(root: &Path, lab: &str) -> anyhow::Result<()> {
    let file = state_file(root, lab);
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!("{lab} is not up (no {}): nothing to stop", file.display());
        return Ok(());
    };
    let state: UpState =
        serde_json::from_str(&text).with_context(|| format!("{} is unreadable; remove it by hand", file.display()))?;
    for process in state.processes.iter().rev() {
        if !runs_program(process.pid, &process.program) {
            println!("  {}: pid {} is gone already", process.name, process.pid);
            continue;
        }
        services::signal(process.pid, libc::SIGTERM);
        let deadline = std::time::Instant::now() + services::STOP_GRACE;
        while runs_program(process.pid, &process.program) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if runs_program(process.pid, &process.program) {
            services::signal(process.pid, libc::SIGKILL);
        }
        println!("  {}: stopped (pid {})", process.name, process.pid);
    }
    std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
    let _ = std::fs::remove_dir_all(&state.state_dir);
    println!("{lab} is down");
    Ok(())
}

/// Whether `pid` is alive and runs `program` (not a zombie, not a reused PID).
fn runs_program(pid: u32, program: &Path) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = status.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'));
    matches!(exe, Ok(exe) if exe == program || program.canonicalize().is_ok_and(|p| p == exe)) && !zombie
}
