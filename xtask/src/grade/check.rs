//! `cargo xtask check`: grade a lab (or one step) and write the report.
//!
//! Exit codes: 0 full marks, 1 some checks did not pass (a broken or hostile submission included:
//! its report says why), 2 could not grade (the grader's or the machine's fault; the error says
//! why, and with `--out` the report file says it too).

use crate::selection::{self, Selection};
use crate::stage::{Plan, Stage};
use anyhow::Context;
use grading::report::{gradescope, json, junit, tty};
use grading::{CheckReport, GradeConfig, Report, StartFailure, Status, StepReport, Visibility};
use sandbox::{Incident, IncidentKind};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long `--up` may take to start the services and grade them, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Report formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, coloured on a terminal.
    Tty,
    /// Container Labs JSON (format_version 1).
    Json,
    /// JUnit XML for CI dashboards.
    Junit,
    /// Gradescope results.json.
    Gradescope,
    /// PrairieLearn's external grader results.json.
    Prairielearn,
    /// GitHub Classroom's autograding runner result (JSON; the workflow base64-encodes it).
    Classroom,
    /// One self-contained HTML page: every check, and a picture of the running system.
    Html,
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub course: PathBuf,
    pub lab: String,
    pub step: Option<String>,
    pub submission: Option<PathBuf>,
    pub vars: Vec<String>,
    pub up: bool,
    /// With `up`: where images that are not the project's own come from.
    pub images: crate::engine::images::ImageSource,
    /// With `up`: the wall clock for starting the services and grading them.
    pub timeout: Duration,
    /// Without `up`: checks may recreate the student's own containers (volumes kept).
    pub allow_restarts: bool,
    /// Grade the course's reference solutions (each step's `solution/` over its starter).
    pub solutions: bool,
    pub format: Format,
    pub out: Option<PathBuf>,
    /// Whose work it is, for the report (default: the submission folder's name).
    pub student: Option<String>,
    /// Also write the human report here (with `--format json`, say: a gradebook keeps both).
    pub text_out: Option<PathBuf>,
    /// Also write the HTML report here.
    pub html_out: Option<PathBuf>,
    /// This machine has no Docker engine (a course platform's autograder): see [`without_engine`].
    pub no_engine: bool,
}

pub async fn run(mut options: CheckOptions) -> anyhow::Result<ExitCode> {
    // `--solutions`: the course's own starters with each step's solution over them, in a
    // directory of their own (removed at the end).
    let solved = match (options.solutions, &options.submission) {
        (true, Some(_)) => anyhow::bail!("give --solutions or --submission, not both"),
        (true, None) => Some(selection::solutions(&options.course, &options.lab)?),
        (false, _) => None,
    };
    let submission = solved.as_ref().map(|d| d.path().to_path_buf()).or_else(|| options.submission.clone());
    let started_at = crate::grade::provenance::now();
    let mut selection =
        selection::select(&options.course, &options.lab, options.step.as_deref(), &options.vars, submission.as_deref());
    let mut not_run = Vec::new();
    // No engine answers and none was asked for (no `--up`): the student's loop goes on without
    // one - what needs none is graded, the rest listed as not run - as `--no-engine` does.
    let mut no_engine_here = None;
    if let Ok(selection) = &selection {
        if !options.up && !options.no_engine && asks_engine(selection) {
            if let Some(why) = crate::stage::no_engine_answers().await {
                options.no_engine = true;
                no_engine_here = Some(why);
            }
        }
    }
    let graded = match &mut selection {
        Ok(selection) => {
            let set_aside = if options.no_engine {
                without_engine(selection, options.up, no_engine_here.is_some())
            } else {
                Ok(Vec::new())
            };
            match set_aside {
                Ok(set_aside) => {
                    if let Some(why) = &no_engine_here {
                        eprintln!(
                            "no Docker engine answers ({why}): grading what needs none; the {} check(s) that need one are listed as not run (start dockerd or Docker Desktop, or on Debian as root `cargo xtask engine`, to run them)",
                            set_aside.len()
                        );
                    }
                    not_run = set_aside;
                    grade_selection(&options, selection).await
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(anyhow::anyhow!("{e:#}")),
    };
    let provenance = |lab: Option<&grading::Lab>| grading::Provenance {
        student: options.student.clone().unwrap_or_else(|| student_of(&options, submission.as_deref())),
        submission: match (&options.submission, options.solutions) {
            (_, true) => "the course's solutions".to_string(),
            (Some(dir), _) => dir.display().to_string(),
            (None, _) => options.course.display().to_string(),
        },
        commit: crate::grade::provenance::git_commit(options.submission.as_deref().unwrap_or(&options.course)),
        rubric_hash: lab.map(|l| crate::grade::provenance::rubric_hash(&options.course, l)).unwrap_or_default(),
        grader_version: crate::grade::provenance::grader_version(),
        started_at: started_at.clone(),
        finished_at: crate::grade::provenance::now(),
    };
    let lab = grading::Curriculum::load(&options.course).ok().and_then(|c| c.lab(&options.lab).ok().cloned());
    match graded {
        Ok(mut report) => {
            report.provenance = Some(provenance(lab.as_ref()));
            report.not_run = not_run;
            write_report(&report, options.format, options.out.as_deref())?;
            if let Some(text) = &options.text_out {
                write_report(&report, Format::Tty, Some(text))?;
            }
            if let Some(html) = &options.html_out {
                write_report(&report, Format::Html, Some(html))?;
            }
            Ok(if report.full_marks() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Err(error) => {
            // A gradebook gets a row that says why, not a hole: with --out, the report is written
            // on exit 2 too, every check marked as not run.
            if let Some(out) = options.out.as_deref() {
                // The checks to list: the lab's, even when the submission was what could not be read.
                let listed = match &selection {
                    Ok(selection) => Some((selection.lab().title.clone(), selection.steps.clone())),
                    Err(_) => {
                        selection::select(&options.course, &options.lab, options.step.as_deref(), &options.vars, None)
                            .ok()
                            .map(|s| (s.lab().title.clone(), s.steps))
                    }
                };
                let (title, steps) = listed.unwrap_or_default();
                let mut report = Report::not_graded(&options.lab, &title, &steps, format!("{error:#}"));
                report.provenance = Some(provenance(lab.as_ref()));
                if let Err(e) = write_report(&report, options.format, Some(out)) {
                    eprintln!("warning: {e:#}");
                }
                for (also, format) in [(&options.text_out, Format::Tty), (&options.html_out, Format::Html)] {
                    if let Some(path) = also {
                        if let Err(e) = write_report(&report, format, Some(path)) {
                            eprintln!("warning: {e:#}");
                        }
                    }
                }
            }
            Err(error)
        }
    }
}

/// The student a report is about when none is named: the submission folder's name.
fn student_of(options: &CheckOptions, submission: Option<&Path>) -> String {
    if options.solutions {
        return "solutions".to_string();
    }
    let dir = submission.unwrap_or(&options.course);
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "submission".to_string())
}

/// One grading as `check` without `--up` does it, asking nothing and restarting nothing (the
/// persistence checks that would restart the student's services say so), each check of the
/// running system waiting at most `patience` for it: for `watch`, where the system is up already
/// and the student waits for the answer.
pub async fn grade_quietly(
    course: &Path,
    lab: &str,
    step: Option<&str>,
    vars: &[String],
    submission: &Path,
    patience: Duration,
) -> anyhow::Result<Report> {
    let mut selection = selection::select(course, lab, step, vars, Some(submission))?;
    for check in selection.steps.iter_mut().flat_map(|s| s.rubric.checks.iter_mut()) {
        check.timeout = check.timeout.min(patience);
    }
    // As `check` does: no engine answering, what needs none is graded and the rest not run.
    let mut not_run = Vec::new();
    if asks_engine(&selection) && crate::stage::no_engine_answers().await.is_some() {
        not_run = without_engine(&mut selection, false, true)?;
    }
    let plan = Plan::of(&selection, false);
    let docker = if not_run.is_empty() { crate::stage::engine_for(plan).await? } else { None };
    let settled = settled(&selection, docker.as_ref()).await;
    let mut report = grade_with(&selection, None, docker, BTreeMap::new(), None, false, settled).await;
    report.not_run = not_run;
    Ok(report)
}

/// How long every container must have been running before the system counts as settled.
const SETTLE: Duration = Duration::from_secs(5);

/// Whether the running system has stopped changing, so a failing check of it is final after one
/// more look (see [`grading::Context::settled`]): the selected steps' services made containers
/// (by name, or a Compose project's) and each that exists is running - not restarting, not
/// paused -, healthy where it has a healthcheck, and started [`SETTLE`] ago or more; or none of
/// them exists. A system the grader cannot see (no engine, a lab that makes no containers) is not
/// settled: its checks poll until their deadlines, as before.
async fn settled(selection: &Selection, docker: Option<&bollard::Docker>) -> bool {
    let Some(docker) = docker else { return false };
    let services = selection.lab().services_for(&selection.step_ids());
    let declared = services.iter().any(|s| !s.creates.containers.is_empty() || s.creates.compose_project.is_some());
    let mut ids: Vec<String> = Vec::new();
    for name in services.iter().flat_map(|s| &s.creates.containers) {
        match docker.inspect_container(&selection.vars.expand(name), None).await {
            Ok(found) => ids.extend(found.id),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(_) => return false,
        }
    }
    for project in services.iter().filter_map(|s| s.creates.compose_project.as_ref()) {
        let project = selection.vars.expand(project);
        let filters: std::collections::HashMap<String, Vec<String>> =
            [("label".to_string(), vec![format!("com.docker.compose.project={project}")])].into();
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters);
        match docker.list_containers(Some(options.build())).await {
            Ok(found) => ids.extend(found.into_iter().filter_map(|c| c.id)),
            Err(_) => return false,
        }
    }
    // Nothing of the lab exists: nothing is on its way either (`docker compose up -d` and `docker
    // run -d` return once their containers exist), so waiting cannot change an answer.
    if ids.is_empty() {
        return declared;
    }
    let now = time::OffsetDateTime::now_utc();
    for id in ids {
        let Ok(found) = docker.inspect_container(&id, None).await else { return false };
        let Some(state) = found.state else { return false };
        let up = state.running == Some(true) && state.restarting != Some(true) && state.paused != Some(true);
        let healthy = state.health.and_then(|h| h.status).is_none_or(|status| {
            matches!(status, bollard::models::HealthStatusEnum::HEALTHY | bollard::models::HealthStatusEnum::NONE)
        });
        let since = state
            .started_at
            .and_then(|at| time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).ok())
            .is_some_and(|at| now - at >= SETTLE);
        if !(up && healthy && since) {
            return false;
        }
    }
    true
}

/// The services of `step` that run only in a Docker engine (no process stand-in runs them
/// without one), by name.
fn engine_only_services<'l>(lab: &'l grading::Lab, step: &str) -> Vec<&'l str> {
    lab.services_for(&[step]).into_iter().filter(|s| s.without_engine().is_none()).map(|s| s.name.as_str()).collect()
}

/// Whether grading `selection` (without `--up`) asks a Docker engine: a check that reads or
/// recreates containers, or a live check of a step whose services run in one (and have no
/// process stand-in: without an engine, nothing of them can be running).
fn asks_engine(selection: &Selection) -> bool {
    selection.steps.iter().any(|step| {
        let in_engine_only = !engine_only_services(selection.lab(), &step.id).is_empty();
        step.rubric.checks.iter().any(|c| {
            let needs = c.kind.needs();
            needs.engine.is_some() || (in_engine_only && needs.running_system)
        })
    })
}

/// `--no-engine`: this machine has no Docker engine (a course platform's autograder, which is an
/// isolated machine of its own, or a student's laptop without Docker: `auto`, when none answers).
/// The lab's services that run in one give way to their process stand-ins (`without_engine` in
/// `labs.toml`: lab 1's site runs in this machine's nginx) or are not started. Set aside, and
/// returned with why: the checks that ask an engine (containers, a cache's counters, recreating
/// them), with `--up` or `auto` the live checks of a step whose services cannot run here, and
/// every check that requires one set aside. What is left is graded as usual.
pub fn without_engine(selection: &mut Selection, up: bool, auto: bool) -> anyhow::Result<Vec<grading::NotRun>> {
    let original = selection.lab().clone();
    let on_this_machine: Vec<&str> = original
        .services_for(&selection.step_ids())
        .into_iter()
        .filter(|s| s.needs_engine() && s.without_engine.is_some())
        .map(|s| s.name.as_str())
        .collect();
    if up && !on_this_machine.is_empty() && std::env::var(ISOLATED_MACHINE).as_deref() != Ok("1") {
        anyhow::bail!(
            "--up --no-engine runs {} with the submission's files on this machine, outside any sandbox: \
             only on a machine of its own (a course platform's autograder; set {ISOLATED_MACHINE}=1 there)",
            on_this_machine.join(", ")
        );
    }
    if let Some(lab) = selection.curriculum.labs.iter_mut().find(|l| l.id == selection.lab_id) {
        lab.services = lab.services.iter().filter_map(|s| s.without_engine()).collect();
    }
    const NO_ENGINE: &str = "a Docker engine (this machine has none)";
    let mut set_aside: BTreeMap<String, String> = BTreeMap::new();
    for step in &selection.steps {
        let cannot_start = engine_only_services(&original, &step.id);
        for check in &step.rubric.checks {
            let needs = check.kind.needs();
            let live = needs.running_system;
            let why = match needs.engine {
                Some(how) => Some(format!("{how} {NO_ENGINE}")),
                None if live && up && !cannot_start.is_empty() => {
                    Some(format!("it checks what --up starts ({}) in {NO_ENGINE}", cannot_start.join(", ")))
                }
                None if live && auto && !cannot_start.is_empty() => {
                    Some(format!("it checks the running {}, which needs {NO_ENGINE}", cannot_start.join(" and ")))
                }
                None => None,
            };
            if let Some(why) = why {
                set_aside.insert(check.id.clone(), why);
            }
        }
    }
    // What requires a check set aside cannot run either.
    loop {
        let more: Vec<(String, String)> = selection
            .steps
            .iter()
            .flat_map(|s| &s.rubric.checks)
            .filter(|c| !set_aside.contains_key(&c.id))
            .filter_map(|c| {
                let needed = c.requires.iter().find(|r| set_aside.contains_key(*r))?;
                Some((c.id.clone(), format!("it requires {needed}, which is not run here")))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        set_aside.extend(more);
    }
    let mut not_run = Vec::new();
    for step in &mut selection.steps {
        for check in &step.rubric.checks {
            if let Some(why) = set_aside.get(&check.id) {
                not_run.push(grading::NotRun {
                    step: step.id.clone(),
                    id: check.id.clone(),
                    title: check.title.clone(),
                    points: check.points,
                    why: why.clone(),
                });
            }
        }
        step.rubric.checks.retain(|c| !set_aside.contains_key(&c.id));
    }
    Ok(not_run)
}

/// Set to `1` on a machine of its own (Gradescope's autograder): `--up --no-engine` may then run
/// a service's process stand-in on the submission's files outside the sandbox.
pub const ISOLATED_MACHINE: &str = "CLABS_ISOLATED_MACHINE";

async fn grade_selection(options: &CheckOptions, selection: &mut Selection) -> anyhow::Result<Report> {
    // Without an engine, `--up` starts what can run here (nothing, for some labs).
    let up = options.up && !(options.no_engine && selection.lab().services_for(&selection.step_ids()).is_empty());
    let mut plan = Plan::of(selection, up);
    if options.no_engine {
        plan.engine = None;
    }
    if up {
        return grade_up(options, selection, plan).await;
    }
    let docker = crate::stage::engine_for(plan).await?;
    if let Some(docker) = &docker {
        adopt_started_project(options, selection, docker).await;
    }
    let may_recreate = options.allow_restarts || allowed_on_a_terminal(selection)?;
    // Restarts of services the student runs by hand (lab 1's board), when allowed and when
    // every restart the checks ask for is of such a service.
    let hand = crate::grade::hand::HandRestarts::new(selection.lab(), &selection.vars);
    let restarted = restarted_services(selection);
    let services: Option<Arc<dyn grading::ServiceControl>> =
        (may_recreate && !restarted.is_empty() && hand.covers(restarted.iter())).then(|| Arc::new(hand) as _);
    let settled = settled(selection, docker.as_ref()).await;
    Ok(grade_with(selection, services, docker, BTreeMap::new(), None, may_recreate, settled).await)
}

/// A stack the student started by hand is found where they started it. `docker compose up` in
/// `labs/compose` names its project after the folder (`compose`), not the lab's `project`
/// variable: when no `--var project=` was given and no container of the lab's project exists,
/// the project Compose started from the submission's `compose_dir` is graded (and said so).
async fn adopt_started_project(options: &CheckOptions, selection: &mut Selection, docker: &bollard::Docker) {
    let given = options.vars.iter().any(|v| v.starts_with("project="));
    let (Some(project), Some(compose_dir)) = (selection.vars.get("project"), selection.vars.get("compose_dir")) else {
        return;
    };
    if given {
        return;
    }
    let (project, dir) = (project.to_string(), selection.submission.join(compose_dir));
    let Ok(dir) = dir.canonicalize() else { return };
    let list = |label: String| {
        let filters: std::collections::HashMap<String, Vec<String>> = [("label".to_string(), vec![label])].into();
        docker.list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build(),
        ))
    };
    match list(format!("com.docker.compose.project={project}")).await {
        Ok(found) if found.is_empty() => {}
        _ => return,
    }
    // Compose v1 and v2 both record the folder they ran in.
    let Ok(started) = list(format!("com.docker.compose.project.working_dir={}", dir.display())).await else {
        return;
    };
    let mut names: Vec<String> =
        started.iter().filter_map(|c| c.labels.as_ref()?.get("com.docker.compose.project").cloned()).collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => {
            eprintln!(
                "grading Compose project '{one}', started in {} (no project '{project}' runs; --var project=NAME picks another)",
                dir.display()
            );
            selection.vars.set("project", one.as_str());
        }
        [] => {}
        several => eprintln!(
            "several Compose projects were started in {}: {}; grading '{project}' (--var project=NAME picks one)",
            dir.display(),
            several.join(", ")
        ),
    }
}

/// The services the selected checks restart (by name, variables expanded).
fn restarted_services(selection: &Selection) -> Vec<String> {
    let mut names: Vec<String> = selection
        .steps
        .iter()
        .flat_map(|s| &s.rubric.checks)
        .flat_map(|c| c.kind.kind().restarts().iter().map(|r| selection.vars.expand(r)))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The Compose projects whose containers the selected checks would recreate.
fn recreated_projects(selection: &Selection) -> Vec<String> {
    let mut projects: Vec<String> = selection
        .steps
        .iter()
        .flat_map(|s| &s.rubric.checks)
        .filter_map(|c| {
            c.kind.kind().recreates().map(|r| {
                let named: Vec<String> =
                    r.steps.iter().filter_map(|s| s.container.as_ref()).map(|c| selection.vars.expand(c)).collect();
                match r.project.is_empty() {
                    false => format!("the containers of Compose project {}", selection.vars.expand(&r.project)),
                    true => format!("containers {}", named.join(", ")),
                }
            })
        })
        .collect();
    projects.sort();
    projects.dedup();
    projects
}

/// Without `--allow-restarts`, on a terminal: asks whether the checks may recreate the student's
/// containers (never without asking; never their volumes). Elsewhere: no.
fn allowed_on_a_terminal(selection: &Selection) -> anyhow::Result<bool> {
    use std::io::Write;
    let projects = recreated_projects(selection);
    let hand = crate::grade::hand::HandRestarts::new(selection.lab(), &selection.vars);
    let restarted: Vec<String> =
        restarted_services(selection).into_iter().filter(|n| hand.covers(std::iter::once(n))).collect();
    if (projects.is_empty() && restarted.is_empty())
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return Ok(false);
    }
    let mut what = Vec::new();
    if !projects.is_empty() {
        what.push(format!("recreate {} (their volumes and data are kept)", projects.join(", ")));
    }
    if !restarted.is_empty() {
        what.push(format!("restart {}", hand.describe(&restarted)));
    }
    eprint!("The persistence checks {}. Allow it? [y/N] ", what.join(", and "));
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("cannot read the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

async fn grade_with(
    selection: &Selection,
    services: Option<Arc<dyn grading::ServiceControl>>,
    docker: Option<bollard::Docker>,
    start_failures: BTreeMap<String, StartFailure>,
    deadline: Option<tokio::time::Instant>,
    may_recreate: bool,
    settled: bool,
) -> Report {
    let config = GradeConfig {
        vars: selection.vars.clone(),
        submission: selection.submission.clone(),
        services,
        docker,
        start_failures,
        deadline,
        may_recreate,
        settled,
    };
    let lab = selection.lab();
    let mut report = grading::runner::grade(&lab.id, &lab.title, &selection.steps, &config).await;
    // The picture of the running system, taken before anything is stopped.
    if let Some(docker) = &config.docker {
        report.topology = topology(selection, docker, &report).await;
    }
    report
}

/// What the selected steps' services made (and their container checks look at), as it stands now.
async fn topology(
    selection: &Selection,
    docker: &bollard::Docker,
    report: &Report,
) -> Option<grading::topology::Topology> {
    use grading::topology::{capture, mark, Scope};
    let services = selection.lab().services_for(&selection.step_ids());
    let names: Vec<String> = services.iter().flat_map(|s| s.creates.containers.clone()).collect();
    let projects: Vec<String> = services.iter().filter_map(|s| s.creates.compose_project.clone()).collect();
    let scope = Scope::of(&selection.steps, &selection.vars, &names, &projects);
    let mut topology = capture(docker, &scope, &crate::engine::images::catalogue_of_images().roles).await?;
    mark(&mut topology, report, &selection.steps, &selection.vars);
    Some(topology)
}

/// Starts the lab's services (command services in a sandbox run), grades, stops them and reaps
/// the run - whatever happens, Ctrl-C and SIGTERM included.
async fn grade_up(options: &CheckOptions, selection: &Selection, plan: Plan) -> anyhow::Result<Report> {
    use tokio::signal::unix::{signal, SignalKind};
    // Listen for Ctrl-C and SIGTERM from here on, so an interrupted build also ends cleanly.
    let mut signals = Signals {
        interrupt: signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?,
        terminate: signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?,
    };
    let stage = Stage::open(selection, plan, None).await?;
    let phases = crate::progress::Phases::new(if stage.has_run() { 5 } else { 4 });
    let graded = up_and_grade(options, selection, &stage, &phases, &mut signals).await;
    if stage.has_run() {
        phases.phase("removing what the run made");
    }
    let closed = stage.close().await;
    phases.finish();
    let mut report = graded?;
    closed.reaped.context("grading finished, but what the run made could not all be removed")?;
    if let Some(step) = sandbox_step(&closed.faults) {
        report.steps.push(step);
    }
    report.notes.extend(closed.adjusted.iter().map(ToString::to_string));
    Ok(report)
}

/// Ctrl-C and SIGTERM, watched from the start of `--up`.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

async fn up_and_grade(
    options: &CheckOptions,
    selection: &Selection,
    stage: &Stage<'_>,
    phases: &crate::progress::Phases,
    signals: &mut Signals,
) -> anyhow::Result<Report> {
    let Signals { interrupt, terminate } = signals;
    let interrupted = |interrupt: &mut tokio::signal::unix::Signal| {
        // A pending Ctrl-C that arrived while a blocking build ran.
        futures_util::FutureExt::now_or_never(interrupt.recv()).is_some()
    };
    phases.phase("building the course's programs and making sure of the images");
    let mut specs = stage.plan()?;
    let readied = stage.ready(&mut specs, options.images).await;
    if interrupted(interrupt) {
        anyhow::bail!("interrupted while building: nothing was started and nothing was graded");
    }
    readied?;
    let deadline = tokio::time::Instant::now() + options.timeout;
    let work = async {
        phases.phase("starting the services");
        let started = stage.start(specs, Some((deadline, options.timeout))).await?;
        // What --up started is the grader's: its persistence checks may recreate it.
        phases.phase("checking");
        let services = started.services.clone().map(|s| s as Arc<dyn grading::ServiceControl>);
        let report =
            grade_with(selection, services, stage.docker(), started.failures, Some(deadline), true, false).await;
        phases.phase("stopping the services");
        if let Some(services) = started.services {
            services.stop_all().await;
        }
        anyhow::Ok(report)
    };
    // Ctrl-C drops `work`, and with it the services (Drop stops them); the caller reaps the run.
    tokio::select! {
        result = work => result,
        _ = interrupt.recv() => anyhow::bail!("interrupted: stopped everything --up had started; nothing was graded"),
        _ = terminate.recv() => anyhow::bail!("terminated: stopped everything --up had started; nothing was graded"),
    }
}

/// What the sandbox refused or stopped, as failed checks of their own (no points: the checks
/// that needed the submission's services say what it cost).
fn sandbox_step(incidents: &[Incident]) -> Option<StepReport> {
    if incidents.is_empty() {
        return None;
    }
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let checks = incidents
        .iter()
        .map(|incident| {
            let base = format!("sandbox-{}", incident.rule);
            let count = seen.entry(base.clone()).or_default();
            *count += 1;
            let id = if *count == 1 { base } else { format!("{base}-{count}") };
            CheckReport {
                id,
                title: incident.to_string(),
                max_score: 0,
                status: Status::Failed,
                visibility: Visibility::Visible,
                hint: incident.explanation.clone(),
                expected: Some(match incident.kind {
                    IncidentKind::Refused => "nothing the sandbox refuses".to_string(),
                    IncidentKind::Stopped | IncidentKind::Limited | IncidentKind::Adjusted => {
                        "everything within the run's limits".to_string()
                    }
                }),
                actual: Some(incident.to_string()),
                reason: None,
                duration: Duration::ZERO,
            }
        })
        .collect();
    Some(StepReport {
        id: "sandbox".into(),
        title: "What the submission asked of the Docker engine, and what the sandbox refused or stopped".into(),
        checks,
    })
}

fn write_report(report: &Report, format: Format, out: Option<&Path>) -> anyhow::Result<()> {
    let colour = out.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = match format {
        Format::Tty => tty::render(report, colour),
        Format::Json => serde_json::to_string_pretty(&json::to_json(report))? + "\n",
        Format::Junit => junit::render(report),
        Format::Gradescope => serde_json::to_string_pretty(&gradescope::to_json(report))? + "\n",
        Format::Prairielearn => serde_json::to_string_pretty(&grading::report::prairielearn::to_json(report))? + "\n",
        Format::Classroom => serde_json::to_string(&grading::report::classroom::to_json(report))? + "\n",
        Format::Html => grading::report::html::render(report),
    };
    match out {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(path, text).with_context(|| format!("cannot write the report to {}", path.display()))?;
            eprintln!(
                "{}: {}/{} points; report written to {}",
                report.lab,
                report.score(),
                report.max_score(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
