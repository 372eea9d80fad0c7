//! The stage: the one owner of a lab's bring-up, for `check` (with or without `--up`), `watch`,
//! `up` and so for `grade`'s jobs and the benches, which run `check`.
//!
//! [`Plan::of`] decides, without touching anything, what a selection needs: an engine (one that
//! answers, or one to install and start), a sandbox run, services to start. It asks the selected
//! checks (their [`grading::check::Needs`]) and the lab's services, never a list of kinds.
//! [`Stage::open`] gets the engine and opens the run; [`Stage::build`], [`Stage::provide`] and
//! [`Stage::start`] bring the services up; then the stage is [closed](Stage::close) (the services
//! stopped by their owner, the run reaped: its reaper is the only thing that removes engine
//! objects) or [detached](Stage::detach) for `up`, whose `down` reaps it later.

pub mod services;

use crate::engine::{Engine, Provision};
use crate::process::Lifetime;
use crate::selection::Selection;
use anyhow::Context;
use grading::StartFailure;
use sandbox::{Incident, IncidentKind, Run, RunConfig};
use services::{ServiceSpec, Services};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What grading (or exploring) a selection needs, decided by asking its checks and services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// An engine, and whether one may be installed and started (on Debian as root) when none
    /// answers: `--up` builds what it needs; grading a running stack needs one already.
    pub engine: Option<Provision>,
    /// A sandbox run (its id and labels, the policy proxy, the reaper): some service to start
    /// makes containers.
    pub run: bool,
    /// Whether the grader starts the lab's services itself (and who owns them).
    pub start: Option<Lifetime>,
}

impl Plan {
    /// `check` and `watch`: an engine when a selected check asks one (it reads, execs in or
    /// recreates containers) or `up` starts something that makes containers.
    pub fn of(selection: &Selection, up: bool) -> Plan {
        let checks_need =
            selection.steps.iter().flat_map(|s| &s.rubric.checks).any(|c| c.kind.needs().engine.is_some());
        let run = up && makes_containers(selection);
        let engine = match (run, checks_need) {
            (true, _) => Some(Provision::IfMissing),
            (false, true) => Some(Provision::Never),
            (false, false) => None,
        };
        Plan { engine, run, start: up.then_some(Lifetime::TiedToGrader) }
    }

    /// `up`: the lab's services, detached from this process until `down`, in a run of their own
    /// when they make containers (on an engine that answers already).
    pub fn detached(selection: &Selection) -> Plan {
        let run = makes_containers(selection);
        Plan { engine: run.then_some(Provision::Never), run, start: Some(Lifetime::Detached) }
    }
}

/// Why no engine answers, if none does (the student's loop then goes on without one).
pub async fn no_engine_answers() -> Option<String> {
    crate::engine::connect().await.err()
}

/// The engine a plan needs to grade what is already running (no run, nothing started).
pub async fn engine_for(plan: Plan) -> anyhow::Result<Option<bollard::Docker>> {
    Ok(engine_of(plan).await?.map(|e| e.docker))
}

/// The engine `plan` asks for, installed and started if it may be.
async fn engine_of(plan: Plan) -> anyhow::Result<Option<Engine>> {
    Ok(match plan.engine {
        Some(provision) => Some(crate::engine::ensure(provision).await?),
        None => None,
    })
}

/// Whether some service of the selected steps makes containers (and so needs a run).
fn makes_containers(selection: &Selection) -> bool {
    selection.lab().services_for(&selection.step_ids()).iter().any(|s| s.needs_engine())
}

/// One bring-up: its engine, its run, and the services' scratch space (logs, data).
#[derive(Debug)]
pub struct Stage<'s> {
    selection: &'s Selection,
    plan: Plan,
    engine: Option<Engine>,
    run: Option<Arc<Run>>,
    state: PathBuf,
    /// The scratch space when there is no run to hold it (removed with the stage).
    _temporary: Option<tempfile::TempDir>,
}

/// What [`Stage::start`] started, and which steps' services did not start and why.
#[derive(Debug)]
pub struct Started {
    pub services: Option<Arc<Services>>,
    /// By step: a service of one step fails that step's checks of the running system; a
    /// service of the whole lab, every step's.
    pub failures: BTreeMap<String, StartFailure>,
}

/// What a closed stage's run saw: what it adjusted and let through (notes), and what it refused
/// or stopped (faults of the submission).
#[derive(Debug)]
pub struct Closed {
    pub reaped: anyhow::Result<()>,
    pub adjusted: Vec<Incident>,
    pub faults: Vec<Incident>,
}

impl<'s> Stage<'s> {
    /// Gets the engine the plan needs and, when it needs one, opens the sandbox run. `state` is
    /// where a detached lab keeps its logs and data; a graded one keeps them in its run's folder
    /// (so a grader killed outright leaves no trace: the run's sentinel removes it), or in a
    /// temporary folder when there is no run.
    pub async fn open(selection: &'s Selection, plan: Plan, state: Option<PathBuf>) -> anyhow::Result<Stage<'s>> {
        let engine = engine_of(plan).await?;
        let run = match (&engine, plan.run) {
            (Some(engine), true) => Some(Arc::new(Run::start(run_config(selection, engine, plan)).await?)),
            _ => None,
        };
        let mut temporary = None;
        let state = match (state, &run) {
            (Some(dir), _) => dir,
            (None, Some(run)) => run.dir().join("state"),
            (None, None) => temporary
                .insert(
                    tempfile::Builder::new()
                        .prefix("clabs-state-")
                        .tempdir()
                        .context("cannot create a scratch directory")?,
                )
                .path()
                .to_path_buf(),
        };
        std::fs::create_dir_all(&state).with_context(|| format!("cannot create {}", state.display()))?;
        Ok(Stage { selection, plan, engine, run, state, _temporary: temporary })
    }

    pub fn docker(&self) -> Option<bollard::Docker> {
        self.engine.as_ref().map(|e| e.docker.clone())
    }

    pub fn has_run(&self) -> bool {
        self.run.is_some()
    }

    /// The run's sandbox incidents so far (refusals among them).
    pub fn incidents(&self) -> Vec<Incident> {
        self.run.iter().flat_map(|r| r.incidents()).collect()
    }

    /// The services as they will run - nothing built or started yet - with their ports checked
    /// free and `{submission}` the run's copy.
    pub fn plan(&self) -> anyhow::Result<Vec<ServiceSpec>> {
        let selection = self.selection;
        let submission = self.run.as_ref().and_then(|r| r.submission()).unwrap_or(&selection.submission);
        let specs = services::plan(
            &crate::workspace_root(),
            selection.lab(),
            &selection.step_ids(),
            submission,
            &selection.vars,
            &self.state,
        )?;
        services::ensure_ports_free(&specs)?;
        Ok(specs)
    }

    /// Readies what the services need, at once: cargo builds the course's programs (from the
    /// grader's own workspace, never the submission's) while the engine checks it can run them
    /// and makes sure of every image they name (an official image gives way to its stand-in, in
    /// `specs` and in the run). Neither waits for the other; both must succeed.
    pub async fn ready(
        &self,
        specs: &mut [ServiceSpec],
        images: crate::engine::images::ImageSource,
    ) -> anyhow::Result<()> {
        let lab = self.selection.lab().clone();
        let steps: Vec<String> = self.selection.step_ids().iter().map(|s| s.to_string()).collect();
        let started = std::time::Instant::now();
        let build = tokio::task::spawn_blocking(move || {
            let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
            let built = services::build(&crate::workspace_root(), &lab, &steps);
            crate::progress::part("the course's programs", started.elapsed());
            built
        });
        let provided = match &self.engine {
            Some(engine) => {
                let provided = async {
                    services::preflight(&engine.docker, specs).await?;
                    ensure_images(engine, &crate::workspace_root(), specs, images, self.run.as_deref()).await
                }
                .await;
                crate::progress::part("the images", started.elapsed());
                provided
            }
            None => Ok(()),
        };
        build.await.context("the build of the course's programs stopped")??;
        provided
    }

    /// Starts the services, by the run's wall clock (its deadline, and its length for messages)
    /// when one is given. A service the submission kept from starting is a failure of its step
    /// (or of every step, for a service of the whole lab); a fault of the grader's or the
    /// machine's is an error.
    pub async fn start(
        &self,
        specs: Vec<ServiceSpec>,
        wall_clock: Option<(tokio::time::Instant, std::time::Duration)>,
    ) -> anyhow::Result<Started> {
        let lifetime = self.plan.start.unwrap_or(Lifetime::TiedToGrader);
        let steps = self.selection.step_ids();
        let start = Services::start(specs, lifetime, self.run.clone(), crate::engine::images::toolbox_tag());
        let started = match wall_clock {
            Some((deadline, _)) => tokio::time::timeout_at(deadline, start).await.ok(),
            None => Some(start.await),
        };
        let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let services = match started {
            Some(services) => {
                let services = services?;
                for (spec, why) in services.failed() {
                    let steps = match &spec.step {
                        Some(step) => vec![step.clone()],
                        None => steps.iter().map(|s| s.to_string()).collect(),
                    };
                    for step in steps {
                        reasons.entry(step).or_default().push(why.clone());
                    }
                }
                Some(Arc::new(services))
            }
            None => {
                let seconds = wall_clock.map(|(_, length)| length.as_secs()).unwrap_or_default();
                let why = format!("they did not start within the run's wall clock ({seconds} s)");
                for step in &steps {
                    reasons.entry(step.to_string()).or_default().push(why.clone());
                }
                None
            }
        };
        let refusals: Vec<String> =
            self.incidents().iter().filter(|i| i.kind == IncidentKind::Refused).map(|i| i.to_string()).collect();
        let failures = reasons
            .into_iter()
            .map(|(step, why)| {
                let failure = if refusals.is_empty() {
                    StartFailure { reason: why.join("; "), refused: false }
                } else {
                    StartFailure { reason: refusals.join("; "), refused: true }
                };
                (step, failure)
            })
            .collect();
        Ok(Started { services, failures })
    }

    /// Reaps the run (everything labelled with its id), whatever the services left.
    pub async fn close(self) -> Closed {
        let Some(run) = self.run else {
            return Closed { reaped: Ok(()), adjusted: Vec::new(), faults: Vec::new() };
        };
        let reaped = run.finish().await.map(|_| ()).map_err(anyhow::Error::from);
        let (adjusted, faults) = run.incidents().into_iter().partition(|i| i.kind == IncidentKind::Adjusted);
        Closed { reaped, adjusted, faults }
    }

    /// Leaves the services running and the run open, for `down` to stop and reap: the run's id
    /// and folder, when there is one.
    pub fn detach(self, services: Services) -> anyhow::Result<Option<(String, PathBuf)>> {
        services.detach();
        match self.run.map(Arc::try_unwrap) {
            Some(Ok(run)) => {
                let id = run.id().to_string();
                Ok(Some((id, run.keep())))
            }
            Some(Err(_)) => anyhow::bail!("the run is still in use"),
            None => Ok(None),
        }
    }
}

/// The run of a bring-up: a graded one publishes the lab's own ports (the job's, side by side)
/// as asked and leaves any other fixed port to the engine, and ends with the grader (its
/// sentinel reaps it if the grader is killed); a detached one outlives this process.
fn run_config(selection: &Selection, engine: &Engine, plan: Plan) -> RunConfig {
    let base = RunConfig {
        submission: Some(selection.submission.clone()),
        build_hosts: selection.curriculum.build_hosts.clone(),
        ..RunConfig::new(engine.sandbox_endpoint())
    };
    match plan.start {
        Some(Lifetime::Detached) => RunConfig { owner: sandbox::Owner::Detached, ..base },
        _ => {
            let lab = selection.lab();
            let host_ports = lab.per_job.ports.iter().filter_map(|v| selection.vars.get(v)?.parse().ok()).collect();
            RunConfig { sentinel: std::env::current_exe().ok(), host_ports: Some(host_ports), ..base }
        }
    }
}

/// Makes every image the services need available (see [`crate::engine::images::ensure_tags`]; `grader`
/// is the workspace whose code and `images/` they are built from), and the sandbox's toolbox
/// when a command service runs in it; where an image gave way to another (an official image to
/// its stand-in), names that one instead.
pub async fn ensure_images(
    engine: &Engine,
    grader: &Path,
    specs: &mut [ServiceSpec],
    source: crate::engine::images::ImageSource,
    run: Option<&Run>,
) -> anyhow::Result<()> {
    let mut images: Vec<String> = specs.iter().flat_map(|s| s.images.clone()).collect();
    images.sort();
    images.dedup();
    // The toolbox with them when a command service runs in it: all built side by side.
    let toolbox = specs.iter().any(|s| s.command.is_some());
    for (named, used) in crate::engine::images::ensure(engine, grader, &images, source, toolbox).await? {
        specs.iter_mut().for_each(|spec| spec.replace_image(&named, &used));
    }
    // The submission's own files name official images too, and not only those the lab's services
    // name (a front door built `FROM debian:bookworm`, a cache of another tag): every stand-in
    // this engine has - those just built among them - serves the run where its official image
    // is not here.
    if let Some(run) = run {
        for stand_in in crate::engine::images::stand_ins() {
            if engine.docker.inspect_image(&stand_in.official).await.is_err()
                && engine.docker.inspect_image(&stand_in.tag).await.is_ok()
            {
                run.use_stand_in(&stand_in.official, &stand_in.tag);
            }
        }
    }
    Ok(())
}
