//! The runner: evaluates rubrics against a running system and builds a [`Report`].
//!
//! - Checks run concurrently: each starts as soon as its prerequisites have finished, not when a
//!   wave of others has.
//! - A check whose prerequisite did not pass is skipped, not failed twice.
//! - Every check has a deadline; pollable checks retry at their interval until it.
//! - Disruptive checks (those that restart services) run alone, after everything they could disturb.
//! - Nothing stops at the first failure; results come out in rubric order whatever the timing.

use crate::check::{self, Attempt, CheckKind, Context, Mismatch};
use crate::report::{CheckReport, Report, Status, StepReport};
use crate::rubric::Check;
use crate::vars::Vars;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::time::Instant;

pub use crate::check::ServiceControl;

/// Everything a grading run needs besides the rubrics. The default: no variables, no services,
/// no engine, no deadline, nothing recreated, nothing known of the system (what tests start from).
#[derive(Clone, Default)]
pub struct GradeConfig {
    pub vars: Vars,
    pub submission: PathBuf,
    pub services: Option<Arc<dyn ServiceControl>>,
    /// The Docker engine, when the rubric has container checks.
    pub docker: Option<bollard::Docker>,
    /// Steps (by id) whose services `--up` could not start: their checks that need the running
    /// system are not run but failed (or skipped, after a refusal) with this as their reason.
    pub start_failures: std::collections::BTreeMap<String, StartFailure>,
    /// The run's wall clock: checks of the running system unfinished by then fail.
    pub deadline: Option<Instant>,
    /// Persistence checks may recreate a Compose project's containers: the grader started them
    /// (`--up`), or the student allowed it (`--allow-restarts`).
    pub may_recreate: bool,
    /// The running system has stopped changing (see [`Context::settled`]): the caller looked
    /// (`check` without `--up` on a stack that has been up and healthy for a while).
    pub settled: bool,
}

/// Why the submission's services are not running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    /// The start failure in one line: the service and its last words.
    pub reason: String,
    /// The sandbox refused what the submission asked for: the checks that needed the running
    /// system are skipped (the refusals are failed checks of their own).
    pub refused: bool,
}

impl std::fmt::Debug for GradeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GradeConfig")
            .field("vars", &self.vars)
            .field("submission", &self.submission)
            .field("services", &self.services.is_some())
            .field("start_failures", &self.start_failures)
            .field("deadline", &self.deadline)
            .finish()
    }
}

pub use crate::rubric::StepRubric;

/// Grades `steps` of lab `lab_id` and returns the report.
pub async fn grade(lab_id: &str, lab_title: &str, steps: &[StepRubric], config: &GradeConfig) -> Report {
    let started = Instant::now();
    let mut vars = config.vars.clone();
    vars.set("submission", config.submission.display().to_string());
    vars.set("probe", probe());
    let ctx = Context {
        vars,
        submission: config.submission.clone(),
        services: config.services.clone(),
        docker: config.docker.clone(),
        may_recreate: config.may_recreate,
        settled: Arc::new(std::sync::atomic::AtomicBool::new(config.settled)),
    };
    // Titles and hints may name variables too ("The app answers on port {app_port}").
    let steps: Vec<StepRubric> = steps
        .iter()
        .map(|step| {
            let mut step = step.clone();
            for check in &mut step.rubric.checks {
                check.title = config.vars.expand(&check.title);
                check.hint = config.vars.expand(&check.hint);
            }
            step
        })
        .collect();
    let steps = steps.as_slice();

    // Every check of every step, addressed by (step, check) index.
    let nodes: Vec<(usize, usize)> =
        steps.iter().enumerate().flat_map(|(s, step)| (0..step.rubric.checks.len()).map(move |c| (s, c))).collect();
    let mut results: Vec<Vec<Option<CheckReport>>> = steps.iter().map(|s| vec![None; s.rubric.checks.len()]).collect();

    // A check starts as soon as its prerequisites have finished, beside whatever runs; a check
    // that runs alone starts only when nothing else runs or can start.
    let mut tasks = tokio::task::JoinSet::new();
    let mut started_checks: Vec<Vec<bool>> = steps.iter().map(|s| vec![false; s.rubric.checks.len()]).collect();
    loop {
        let mut runnable = Vec::new();
        for &(s, c) in &nodes {
            if results[s][c].is_some() || started_checks[s][c] {
                continue;
            }
            let check = &steps[s].rubric.checks[c];
            let prerequisites: Vec<Option<&CheckReport>> = check
                .requires
                .iter()
                .map(|id| {
                    let index = steps[s]
                        .rubric
                        .checks
                        .iter()
                        .position(|other| &other.id == id)
                        .expect("validated prerequisite");
                    results[s][index].as_ref()
                })
                .collect();
            if prerequisites.iter().any(Option::is_none) {
                continue;
            }
            let unmet: Vec<&str> =
                prerequisites.iter().flatten().filter(|r| r.status != Status::Passed).map(|r| r.id.as_str()).collect();
            if unmet.is_empty() {
                runnable.push((s, c));
            } else {
                let reason = format!("requires {}, which did not pass", unmet.join(", "));
                results[s][c] = Some(CheckReport::skipped(check, reason, Default::default()));
            }
        }
        let gentle: Vec<(usize, usize)> =
            runnable.iter().copied().filter(|&(s, c)| !steps[s].rubric.checks[c].kind.needs().alone).collect();
        for &(s, c) in &gentle {
            let check = steps[s].rubric.checks[c].clone();
            if let Some(report) = not_run(&check, &steps[s].id, config) {
                results[s][c] = Some(report);
                continue;
            }
            started_checks[s][c] = true;
            let ctx = ctx.clone();
            let deadline = config.deadline.filter(|_| check.kind.needs().running_system);
            tasks.spawn(async move { (s, c, run_with_deadline(&check, &ctx, deadline).await) });
        }
        if !gentle.is_empty() {
            // What finished at once (not run) may have unblocked more: look again before waiting.
            continue;
        }
        if let Some(joined) = tasks.join_next().await {
            let (s, c, report) = joined.expect("a check task panicked");
            results[s][c] = Some(report);
            continue;
        }
        // Nothing runs and nothing gentle can start: a check that runs alone, if any.
        if runnable.is_empty() {
            if nodes.iter().all(|&(s, c)| results[s][c].is_some()) {
                break;
            }
            // Skipping may have unblocked more checks; go round again.
            continue;
        }
        // Persistence checks that recreate the same stack run as one sequence: each recreate
        // once, the checks' own steps in their own order.
        let together = sharing(&runnable, steps, &ctx);
        if together.len() >= 2 {
            let checks: Vec<Check> = together.iter().map(|&(s, c)| steps[s].rubric.checks[c].clone()).collect();
            let reports = match not_run(&checks[0], &steps[together[0].0].id, config) {
                Some(_) => checks
                    .iter()
                    .zip(&together)
                    .map(|(check, &(s, _))| not_run(check, &steps[s].id, config).expect("the same reason"))
                    .collect(),
                None => run_together(&checks, &ctx, config.deadline).await,
            };
            for (&(s, c), report) in together.iter().zip(reports) {
                results[s][c] = Some(report);
            }
            continue;
        }
        let (s, c) = runnable[0];
        let check = steps[s].rubric.checks[c].clone();
        let report = match not_run(&check, &steps[s].id, config) {
            Some(report) => report,
            None => {
                let deadline = config.deadline.filter(|_| check.kind.needs().running_system);
                run_with_deadline(&check, &ctx, deadline).await
            }
        };
        results[s][c] = Some(report);
    }

    let steps = steps
        .iter()
        .zip(results)
        .map(|(step, checks)| StepReport {
            id: step.id.clone(),
            title: step.title.clone(),
            checks: checks.into_iter().map(|r| r.expect("every check has a result")).collect(),
        })
        .collect();
    Report {
        lab: lab_id.to_string(),
        title: lab_title.to_string(),
        steps,
        duration: started.elapsed(),
        error: None,
        provenance: None,
        not_run: Vec::new(),
        notes: Vec::new(),
        topology: None,
    }
}

/// [`run_check`] cut off at `deadline` (the run's wall clock), when there is one.
async fn run_with_deadline(check: &Check, ctx: &Context, deadline: Option<Instant>) -> CheckReport {
    let Some(deadline) = deadline else { return run_check(check, ctx).await };
    match tokio::time::timeout_at(deadline, run_check(check, ctx)).await {
        Ok(report) => report,
        Err(_) => CheckReport::failed(
            check,
            Mismatch::cut_off(
                "a result within the run's wall clock",
                "the run's wall clock ran out while this check ran",
            ),
            Default::default(),
        ),
    }
}

/// What a check that could not run because the services did not start expected.
pub use crate::report::NOT_STARTED;

/// The verdict on a check that cannot run: the services it needs did not start, or the run's wall
/// clock has run out. Checks that read files only always run.
fn not_run(check: &Check, step: &str, config: &GradeConfig) -> Option<CheckReport> {
    if !check.kind.needs().running_system {
        return None;
    }
    if let Some(failure) = config.start_failures.get(step) {
        return Some(if failure.refused {
            CheckReport::skipped(
                check,
                format!("the sandbox refused what the submission asked for, so nothing ran: {}", failure.reason),
                Default::default(),
            )
        } else {
            CheckReport::failed(
                check,
                Mismatch::new(NOT_STARTED, format!("they did not start: {}", failure.reason)),
                Default::default(),
            )
        });
    }
    if config.deadline.is_some_and(|d| Instant::now() >= d) {
        return Some(CheckReport::failed(
            check,
            Mismatch::new("a result within the run's wall clock", "the run's wall clock ran out before this check ran"),
            Default::default(),
        ));
    }
    None
}

/// Of `runnable`, the persistence checks that may run as one sequence with the first of them:
/// those recreating the same Compose project (see `check::persistence::can_share`). Empty when
/// the first runnable check is not such a check, or nothing shares with it.
fn sharing(runnable: &[(usize, usize)], steps: &[StepRubric], ctx: &Context) -> Vec<(usize, usize)> {
    let persistence = |&(s, c): &(usize, usize)| match &steps[s].rubric.checks[c].kind {
        CheckKind::Persistence(p) if p.recreate.is_some() => Some(p.as_ref()),
        _ => None,
    };
    let Some(first) = runnable.first().and_then(persistence) else { return Vec::new() };
    let project = |p: &check::PersistenceCheck| p.recreate.as_ref().map(|r| ctx.vars.expand(&r.project));
    let together: Vec<(usize, usize)> = runnable
        .iter()
        .copied()
        .filter(|node| persistence(node).is_some_and(|p| project(p) == project(first)))
        .collect();
    let checks: Vec<&check::PersistenceCheck> = together.iter().filter_map(persistence).collect();
    if ctx.docker.is_some() && ctx.may_recreate && check::persistence_can_share(&checks, &ctx.vars) {
        together
    } else {
        Vec::new()
    }
}

/// Runs persistence checks that share a stack as one sequence, within the run's wall clock.
async fn run_together(checks: &[Check], ctx: &Context, wall_clock: Option<Instant>) -> Vec<CheckReport> {
    let started = Instant::now();
    let timeout = checks.iter().map(|c| c.timeout).max().unwrap_or_default();
    let interval = checks.iter().map(|c| c.interval).min().unwrap_or_default();
    let kinds: Vec<&check::PersistenceCheck> = checks
        .iter()
        .filter_map(|c| match &c.kind {
            CheckKind::Persistence(p) => Some(p.as_ref()),
            _ => None,
        })
        .collect();
    let work = check::persistence_together(&kinds, ctx, started + timeout, interval);
    let attempts = match wall_clock {
        None => work.await,
        Some(at) => match tokio::time::timeout_at(at, work).await {
            Ok(attempts) => attempts,
            Err(_) => {
                let cut = || {
                    Attempt::Fail(Mismatch::cut_off(
                        "a result within the run's wall clock",
                        "the run's wall clock ran out while this check ran",
                    ))
                };
                checks.iter().map(|_| cut()).collect()
            }
        },
    };
    checks
        .iter()
        .zip(attempts)
        .map(|(check, attempt)| match mask_probe(attempt, ctx) {
            Attempt::Pass => CheckReport::passed(check, started.elapsed()),
            Attempt::CannotRun(reason) => CheckReport::skipped(check, reason, started.elapsed()),
            Attempt::Fail(mismatch) => CheckReport::failed(check, mismatch, started.elapsed()),
        })
        .collect()
}

/// Runs one check to a verdict: polls until it passes or its deadline comes.
pub async fn run_check(check: &Check, ctx: &Context) -> CheckReport {
    let started = Instant::now();
    let deadline = started + check.timeout;
    let once = || check.kind.kind().attempt(ctx, deadline, check.interval);
    let attempt = if check.kind.needs().polled {
        let limit = ctx.is_settled().then_some(check::SETTLED_ATTEMPTS);
        check::poll_at_most(deadline, check.interval, limit, once).await
    } else {
        once().await
    };
    match mask_probe(attempt, ctx) {
        Attempt::Pass => CheckReport::passed(check, started.elapsed()),
        Attempt::CannotRun(reason) => CheckReport::skipped(check, reason, started.elapsed()),
        Attempt::Fail(mismatch) => CheckReport::failed(check, mismatch, started.elapsed()),
    }
}

/// Replaces this run's probe value with `{probe}`, so the same submission gives the same report.
fn mask_probe(attempt: Attempt, ctx: &Context) -> Attempt {
    let Some(probe) = ctx.vars.get("probe") else {
        return attempt;
    };
    match attempt {
        Attempt::Fail(mut mismatch) => {
            mismatch.expected = mismatch.expected.replace(probe, "{probe}");
            mismatch.actual = mismatch.actual.replace(probe, "{probe}");
            Attempt::Fail(mismatch)
        }
        other => other,
    }
}

/// A value unique to this run, for checks that write something and look for it again.
fn probe() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("clabs-probe-{}-{:x}", std::process::id(), nanos)
}
