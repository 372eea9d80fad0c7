//! `up` / `down`: run a lab's services in the background to explore them, and stop them again.
//!
//! `up` records what it started in `target/clabs/<lab>.json`; `down` stops exactly those processes,
//! after checking each PID still runs the program `up` started (a PID may have been reused), and
//! runs each command service's stop command (which removes the containers it made).

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
    #[serde(default)]
    commands: Vec<UpCommand>,
}

/// A command service `up` ran, and how to take it down.
#[derive(Debug, Serialize, Deserialize)]
struct UpCommand {
    name: String,
    program: PathBuf,
    stop: Vec<String>,
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

pub async fn up(root: &Path, selection: &Selection, images: crate::images::ImageSource) -> anyhow::Result<()> {
    let lab = selection.lab();
    let file = state_file(root, &lab.id);
    if file.exists() {
        anyhow::bail!("{} is already up (see {}); run `cargo xtask down {}` first", lab.id, file.display(), lab.id);
    }
    let state_dir = root.join("target").join("clabs").join(&lab.id);
    std::fs::create_dir_all(&state_dir).with_context(|| format!("cannot create {}", state_dir.display()))?;
    let mut specs = services::prepare(lab, &selection.step_ids(), &selection.submission, &selection.vars, &state_dir)?;
    services::ensure_ports_free(&specs)?;
    let needs_engine = specs.iter().any(|s| s.command.is_some() || !s.images.is_empty());
    let docker = if needs_engine {
        let engine = crate::engine::ensure(crate::engine::Provision::Never).await?;
        services::preflight(&engine.docker, &specs).await?;
        services::ensure_images(&engine, root, &selection.submission, &mut specs, images).await?;
        Some(engine.docker)
    } else {
        None
    };
    let services = Services::start(specs, Lifetime::Detached, docker).await?;
    let processes = services
        .pids()
        .into_iter()
        .map(|(name, pid)| {
            let spec = services.specs().iter().find(|s| s.name == name).expect("started spec");
            UpProcess { name, pid, program: spec.program.clone(), ready: spec.ready.clone() }
        })
        .collect::<Vec<_>>();
    let commands = services
        .specs()
        .iter()
        .filter_map(|s| {
            s.command.as_ref().map(|c| UpCommand {
                name: s.name.clone(),
                program: s.program.clone(),
                stop: c.stop.clone(),
            })
        })
        .collect();
    let state = UpState { lab: lab.id.clone(), state_dir: state_dir.clone(), processes, commands };
    std::fs::write(&file, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    services.detach();
    println!("{} is up:", lab.id);
    for p in &state.processes {
        println!("  {:<6} http://{}/  (pid {})", p.name, p.ready, p.pid);
    }
    for c in &state.commands {
        println!("  {:<6} started by {} (containers; see `docker ps`)", c.name, c.program.display());
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
    for command in state.commands.iter().rev() {
        let status = std::process::Command::new(&command.program).args(&command.stop).status();
        match status {
            Ok(status) if status.success() => println!("  {}: stopped", command.name),
            Ok(status) => println!("  {}: its stop command failed ({status})", command.name),
            Err(e) => println!("  {}: cannot run {} ({e})", command.name, command.program.display()),
        }
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
