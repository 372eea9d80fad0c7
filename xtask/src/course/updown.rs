//! `up` / `down`: run a lab's services in the background to explore them, and stop them again.
//!
//! `up` records what it started in `target/clabs/<lab>.json`; `down` stops exactly those processes,
//! after checking each PID still runs the program `up` started (a PID may have been reused), and
//! reaps the run whose sandbox the command services ran in (everything labelled with its id).

use crate::selection::Selection;
use crate::stage::services;
use crate::stage::{Plan, Stage};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Serialize, Deserialize)]
struct UpState {
    lab: String,
    state_dir: PathBuf,
    processes: Vec<UpProcess>,
    /// The run the command services ran in (its objects are labelled with it), and its directory.
    #[serde(default)]
    run: Option<UpRun>,
}

#[derive(Debug, Serialize, Deserialize)]
struct UpRun {
    id: String,
    dir: PathBuf,
    /// The command services that ran in it.
    services: Vec<String>,
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

pub async fn up(root: &Path, selection: &Selection, images: crate::engine::images::ImageSource) -> anyhow::Result<()> {
    let lab = selection.lab();
    let file = state_file(root, &lab.id);
    if file.exists() {
        anyhow::bail!("{} is already up (see {}); run `cargo xtask down {}` first", lab.id, file.display(), lab.id);
    }
    let state_dir = root.join("target").join("clabs").join(&lab.id);
    std::fs::create_dir_all(&state_dir).with_context(|| format!("cannot create {}", state_dir.display()))?;
    // A detached run: its lab outlives this command, until `down` (or `clean`) reaps it.
    let stage = Stage::open(selection, Plan::detached(selection), Some(state_dir.clone())).await?;
    let mut specs = stage.plan()?;
    stage.ready(&mut specs, images).await?;
    let services = match stage.start(specs, None).await?.services.and_then(Arc::into_inner) {
        Some(services) => services,
        None => anyhow::bail!("{} did not start: the services are still in use", lab.id),
    };
    if !services.failed().is_empty() {
        let why: Vec<&str> = services.failed().iter().map(|(_, why)| why.as_str()).collect();
        services.stop_all().await;
        anyhow::bail!("{} did not start: {}", lab.id, why.join("; "));
    }
    let processes = services
        .pids()
        .into_iter()
        .map(|(name, pid)| {
            let spec = services.specs().iter().find(|s| s.name == name).expect("started spec");
            let program = spec.program.clone().expect("a process has a program");
            UpProcess { name, pid, program, ready: spec.ready.clone() }
        })
        .collect::<Vec<_>>();
    let commands: Vec<String> =
        services.specs().iter().filter(|s| s.command.is_some()).map(|s| s.name.clone()).collect();
    let run = stage.detach(services)?.map(|(id, dir)| UpRun { id, dir, services: commands });
    let state = UpState { lab: lab.id.clone(), state_dir: state_dir.clone(), processes, run };
    std::fs::write(&file, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    println!("{} is up:", lab.id);
    for p in &state.processes {
        println!("  {:<6} http://{}/  (pid {})", p.name, p.ready, p.pid);
    }
    if let Some(run) = &state.run {
        println!("  {:<6} containers of run {} (see `docker ps`)", run.services.join(", "), run.id);
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
        crate::process::stop(&[process.pid], services::STOP_GRACE, |pid| runs_program(pid, &process.program)).await;
        println!("  {}: stopped (pid {})", process.name, process.pid);
    }
    if let Some(run) = &state.run {
        let engine = crate::engine::ensure(crate::engine::Provision::Never).await?;
        let removed = sandbox::reap(&engine.docker, &format!("{}={}", sandbox::labels::RUN, run.id), true).await?;
        let _ = std::fs::remove_dir_all(&run.dir);
        println!(
            "  {}: removed {} containers, {} networks, {} volumes",
            run.services.join(", "),
            removed.containers,
            removed.networks,
            removed.volumes
        );
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
