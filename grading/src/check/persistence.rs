//! `persistence`: write through the app, restart services, read the write back.
//!
//! Each phase (the write, each restart, the read) gets the check's full timeout. The probe value
//! `{probe}` is unique per run, so an earlier run's data can never make this check pass.

use super::http::HttpCheck;
use super::select::Select;
use super::{Attempt, Context, Kind, Mismatch, Needs};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistenceCheck {
    /// The request that stores something (its `expect` says what a successful write looks like).
    pub write: HttpCheck,
    /// Services the grader started to restart, in order, between the write and the read ...
    #[serde(default)]
    pub restart: Vec<String>,
    /// ... or a Compose project's containers to recreate, in order (see [`super::recreate`]).
    pub recreate: Option<Recreate>,
    /// The request that must find the write again.
    pub read: HttpCheck,
}

/// Containers to recreate: each entry the containers of a Compose project's role, or - with
/// `all = true` - every container of the project, as a `down` and `up`; or one container by name
/// (containers made with `docker run`, which belong to no project).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recreate {
    /// The Compose project (needed by role and `all` steps).
    #[serde(default)]
    pub project: String,
    pub steps: Vec<RecreateStep>,
}

/// One step: the containers of a role (`role` and `images`, as a [`Select`]), `all = true`, or
/// `container = "name"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecreateStep {
    pub role: Option<String>,
    pub images: Option<String>,
    /// Every container of the project: a down and up.
    #[serde(default)]
    pub all: bool,
    /// One container, by name.
    pub container: Option<String>,
}

impl RecreateStep {
    pub fn select(&self) -> Option<Select> {
        match (&self.role, &self.images) {
            (Some(role), Some(images)) => Some(Select { role: role.clone(), images: images.clone() }),
            _ => None,
        }
    }

    fn describe(&self, vars: &crate::vars::Vars) -> String {
        match (&self.role, &self.container) {
            (_, Some(container)) => format!("recreating {}", vars.expand(container)),
            (Some(role), _) if !self.all => format!("recreating the {role}"),
            _ => "taking the stack down and up".to_string(),
        }
    }
}

impl PersistenceCheck {
    pub(crate) async fn attempt_at(&self, ctx: &Context, deadline: Instant, interval: Duration) -> Attempt {
        if let Some(recreate) = &self.recreate {
            return self.attempt_recreating(recreate, ctx, deadline, interval).await;
        }
        let Some(services) = &ctx.services else {
            return Attempt::CannotRun("needs --up: the grader restarts only services it started itself".to_string());
        };
        let phase = deadline.saturating_duration_since(Instant::now());
        let written = poll(&self.write, ctx, Instant::now() + phase, interval).await;
        if let Attempt::Fail(m) = written {
            return Attempt::Fail(Mismatch::new(format!("the write to succeed: {}", m.expected), m.actual));
        }
        ctx.unsettle();
        for service in &self.restart {
            let service = ctx.vars.expand(service);
            match tokio::time::timeout(phase.max(Duration::from_secs(30)), services.restart(&service)).await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Attempt::Fail(Mismatch::new(format!("{service} to come back after a restart"), message))
                }
                Err(_) => {
                    return Attempt::Fail(Mismatch::new(
                        format!("{service} to come back after a restart"),
                        "it was not ready in time",
                    ))
                }
            }
        }
        match poll(&self.read, ctx, Instant::now() + phase, interval).await {
            Attempt::Fail(m) => Attempt::Fail(Mismatch::new(
                format!("after restarting {}: {}", self.restart.join(", "), m.expected),
                m.actual,
            )),
            other => other,
        }
    }
}

impl Kind for PersistenceCheck {
    fn name(&self) -> &'static str {
        "persistence"
    }

    fn needs(&self) -> Needs {
        Needs {
            engine: self.recreate.as_ref().map(|_| "it recreates containers through"),
            alone: true,
            polled: false,
            ..Needs::LIVE
        }
    }

    fn strings(&self) -> Vec<&str> {
        let mut all = self.write.strings();
        all.extend(self.read.strings());
        all.extend(self.restart.iter().map(String::as_str));
        if let Some(recreate) = &self.recreate {
            all.push(recreate.project.as_str());
            all.extend(
                recreate
                    .steps
                    .iter()
                    .flat_map(|s| s.role.iter().chain(&s.images).chain(&s.container).map(String::as_str)),
            );
        }
        all
    }

    fn validate(&self) -> Result<(), String> {
        match &self.recreate {
            None if self.restart.is_empty() => return Err("restart names no service (or give recreate)".into()),
            Some(_) if !self.restart.is_empty() => return Err("give restart or recreate, not both".into()),
            Some(recreate) if recreate.steps.is_empty() => return Err("recreate has no steps".into()),
            Some(recreate) => {
                let kinds = |s: &RecreateStep| [s.select().is_some(), s.all, s.container.is_some()];
                if let Some(step) = recreate.steps.iter().find(|s| kinds(s).iter().filter(|k| **k).count() != 1) {
                    return Err(format!(
                        "each recreate step is one of a role, all = true or a container, not several or none: {step:?}"
                    ));
                }
                if recreate.project.is_empty() && recreate.steps.iter().any(|s| s.container.is_none()) {
                    return Err("recreate steps by role or all = true need the Compose project".into());
                }
            }
            None => {}
        }
        self.write.validate().map_err(|m| format!("write: {m}"))?;
        self.read.validate().map_err(|m| format!("read: {m}"))
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, deadline: Instant, interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(self.attempt_at(ctx, deadline, interval))
    }

    fn restarts(&self) -> &[String] {
        &self.restart
    }

    fn recreates(&self) -> Option<&Recreate> {
        self.recreate.as_ref()
    }
}

impl PersistenceCheck {
    /// Write, recreate each step's containers, read - on a Compose project, through the Engine API.
    async fn attempt_recreating(
        &self,
        recreate: &Recreate,
        ctx: &Context,
        deadline: Instant,
        interval: Duration,
    ) -> Attempt {
        let Some(docker) = &ctx.docker else {
            return Attempt::CannotRun("needs a Docker engine, and none was connected".into());
        };
        if !ctx.may_recreate {
            return Attempt::CannotRun(
                "it recreates your containers (their volumes and data are kept): allow it with --allow-restarts, or grade with --up"
                    .to_string(),
            );
        }
        let project = ctx.vars.expand(&recreate.project);
        let phase = deadline.saturating_duration_since(Instant::now());
        if let Err(failed) = self.write_first(ctx, phase, interval).await {
            return failed;
        }
        let mut done = Vec::new();
        ctx.unsettle();
        for step in &recreate.steps {
            if let Err(failed) = run_step(step, docker, &project, ctx, phase).await {
                return Attempt::Fail(failed);
            }
            done.push(step.describe(&ctx.vars));
        }
        self.read_back(&done, ctx, phase, interval).await
    }

    /// The read, after `done`: a failure says what was done before it.
    async fn read_back(&self, done: &[String], ctx: &Context, phase: Duration, interval: Duration) -> Attempt {
        match poll(&self.read, ctx, Instant::now() + phase, interval).await {
            Attempt::Fail(m) => {
                Attempt::Fail(Mismatch::new(format!("after {}: {}", done.join(", then "), m.expected), m.actual))
            }
            other => other,
        }
    }

    /// The write: a failure says it was the write.
    async fn write_first(&self, ctx: &Context, phase: Duration, interval: Duration) -> Result<(), Attempt> {
        match poll(&self.write, ctx, Instant::now() + phase, interval).await {
            Attempt::Fail(m) => {
                Err(Attempt::Fail(Mismatch::new(format!("the write to succeed: {}", m.expected), m.actual)))
            }
            Attempt::CannotRun(reason) => Err(Attempt::CannotRun(reason)),
            Attempt::Pass => Ok(()),
        }
    }
}

/// Recreates one step's containers, with its time limit; a failure names the step.
async fn run_step(
    step: &RecreateStep,
    docker: &bollard::Docker,
    project: &str,
    ctx: &Context,
    phase: Duration,
) -> Result<(), Mismatch> {
    let select = if step.all { None } else { step.select() };
    let work = async {
        match &step.container {
            Some(name) => super::recreate::recreate_container(docker, &ctx.vars.expand(name)).await,
            None => super::recreate::recreate(docker, project, select.as_ref(), &ctx.vars).await,
        }
    };
    let expected = || format!("the stack to come back after {}", step.describe(&ctx.vars));
    match tokio::time::timeout(phase.max(Duration::from_secs(60)) * 2, work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(Mismatch::new(expected(), message)),
        Err(_) => Err(Mismatch::new(expected(), "it was not ready in time")),
    }
}

/// The merged plan of several checks' recreate steps: stages in order, each the steps that sit at
/// that place in some check and were not in an earlier stage (so the databases, or the down and
/// up, two checks both ask for happen once). None when merging would change some check's own order.
fn merged_stages(checks: &[&PersistenceCheck]) -> Option<Vec<Vec<RecreateStep>>> {
    let steps: Vec<&[RecreateStep]> =
        checks.iter().map(|c| c.recreate.as_ref().map_or(&[][..], |r| &r.steps)).collect();
    let longest = steps.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut stages: Vec<Vec<RecreateStep>> = Vec::new();
    for at in 0..longest {
        let mut stage = Vec::new();
        for own in &steps {
            if let Some(step) = own.get(at) {
                if !stages.iter().flatten().chain(stage.iter()).any(|s| s == step) {
                    stage.push(step.clone());
                }
            }
        }
        stages.push(stage);
    }
    let stage_of = |step: &RecreateStep| stages.iter().position(|stage| stage.contains(step));
    let keeps_order = steps.iter().all(|own| {
        let places: Vec<Option<usize>> = own.iter().map(stage_of).collect();
        places.iter().all(Option::is_some) && places.windows(2).all(|w| w[0] < w[1])
    });
    keeps_order.then_some(stages)
}

/// Whether `checks` can run as one sequence ([`attempt_together`]): two or more, each recreating
/// the same Compose project, with steps that merge without changing any check's order.
pub(crate) fn can_share(checks: &[&PersistenceCheck], vars: &crate::vars::Vars) -> bool {
    let projects: Vec<Option<String>> =
        checks.iter().map(|c| c.recreate.as_ref().map(|r| vars.expand(&r.project))).collect();
    checks.len() >= 2
        && projects.iter().all(|p| p.as_ref().is_some_and(|p| !p.is_empty()) && *p == projects[0])
        && merged_stages(checks).is_some()
}

/// Persistence checks on one Compose project run as one sequence, and each gets the answer it
/// would get alone: every write first; then the steps of all of them, merged ([`merged_stages`]),
/// each done once - in a stage, steps on containers no other step of the stage touches at once;
/// then every read. A check fails at a step of its own that failed (later steps skip it) or at
/// its read. Only for checks [`can_share`] allows.
pub(crate) async fn attempt_together(
    checks: &[&PersistenceCheck],
    ctx: &Context,
    deadline: Instant,
    interval: Duration,
) -> Vec<Attempt> {
    let Some(docker) = &ctx.docker else {
        return checks
            .iter()
            .map(|_| Attempt::CannotRun("needs a Docker engine, and none was connected".into()))
            .collect();
    };
    if !ctx.may_recreate {
        let why = "it recreates your containers (their volumes and data are kept): allow it with --allow-restarts, or grade with --up";
        return checks.iter().map(|_| Attempt::CannotRun(why.to_string())).collect();
    }
    let Some(stages) = merged_stages(checks) else {
        unreachable!("attempt_together runs only checks can_share allows")
    };
    let project = checks[0].recreate.as_ref().map(|r| ctx.vars.expand(&r.project)).unwrap_or_default();
    let phase = deadline.saturating_duration_since(Instant::now());
    let mut answers: Vec<Option<Attempt>> = vec![None; checks.len()];
    let writes = futures_util::future::join_all(checks.iter().map(|c| c.write_first(ctx, phase, interval))).await;
    for (answer, written) in answers.iter_mut().zip(writes) {
        if let Err(failed) = written {
            *answer = Some(failed);
        }
    }
    ctx.unsettle();
    let own = |i: usize| checks[i].recreate.as_ref().map_or(&[][..], |r| &r.steps);
    for stage in stages {
        // Only the steps a check still under way asks for.
        let wanted: Vec<RecreateStep> = stage
            .into_iter()
            .filter(|step| (0..checks.len()).any(|i| answers[i].is_none() && own(i).contains(step)))
            .collect();
        let outcomes: Vec<Result<(), Mismatch>> = if at_once(&wanted, docker, &project, ctx).await {
            futures_util::future::join_all(wanted.iter().map(|step| run_step(step, docker, &project, ctx, phase))).await
        } else {
            let mut outcomes = Vec::new();
            for step in &wanted {
                outcomes.push(run_step(step, docker, &project, ctx, phase).await);
            }
            outcomes
        };
        for (step, outcome) in wanted.iter().zip(outcomes) {
            if let Err(failed) = outcome {
                for (i, answer) in answers.iter_mut().enumerate() {
                    if answer.is_none() && own(i).contains(step) {
                        *answer = Some(Attempt::Fail(failed.clone()));
                    }
                }
            }
        }
    }
    let reads = futures_util::future::join_all((0..checks.len()).map(|i| {
        let done: Vec<String> = own(i).iter().map(|s| s.describe(&ctx.vars)).collect();
        let pending = answers[i].is_none();
        async move {
            match pending {
                true => Some(checks[i].read_back(&done, ctx, phase, interval).await),
                false => None,
            }
        }
    }))
    .await;
    answers.into_iter().zip(reads).map(|(answer, read)| answer.or(read).expect("every check answered")).collect()
}

/// Whether a stage's steps may run at once: more than one, each a role's containers (no down and
/// up, no container by name), and no container picked by two of them.
async fn at_once(steps: &[RecreateStep], docker: &bollard::Docker, project: &str, ctx: &Context) -> bool {
    if steps.len() < 2 || steps.iter().any(|s| s.all || s.container.is_some()) {
        return false;
    }
    let Ok(containers) = super::project_containers(docker, project).await else { return false };
    let mut seen = std::collections::BTreeSet::new();
    for step in steps {
        let Some(select) = step.select() else { return false };
        for container in super::container::of_role(docker, containers.clone(), &select, &ctx.vars).await {
            if !seen.insert(container.id.clone()) {
                return false;
            }
        }
    }
    true
}

/// Repeats an HTTP check until it passes or the deadline comes, as the runner polls a check.
async fn poll(check: &HttpCheck, ctx: &Context, deadline: Instant, interval: Duration) -> Attempt {
    super::poll(deadline, interval, || check.attempt_at(ctx, deadline)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str) -> RecreateStep {
        RecreateStep { role: Some(name.into()), images: Some(name.into()), all: false, container: None }
    }

    fn all() -> RecreateStep {
        RecreateStep { role: None, images: None, all: true, container: None }
    }

    fn check(steps: Vec<RecreateStep>) -> PersistenceCheck {
        let http = |url: &str| -> super::super::http::HttpCheck {
            toml::from_str(&format!("url = \"{url}\"\nexpect = {{ status = 200 }}")).unwrap()
        };
        PersistenceCheck {
            write: http("http://w"),
            restart: Vec::new(),
            recreate: Some(Recreate { project: "{project}".into(), steps }),
            read: http("http://r"),
        }
    }

    #[test]
    fn shared_steps_happen_once_and_each_check_keeps_its_order() {
        // Lab 3: WordPress then the databases then down and up; Nextcloud the same.
        let blog = check(vec![role("wordpress"), role("databases"), all()]);
        let files = check(vec![role("nextcloud"), role("databases"), all()]);
        let stages = merged_stages(&[&blog, &files]).unwrap();
        assert_eq!(stages, vec![vec![role("wordpress"), role("nextcloud")], vec![role("databases")], vec![all()]]);
        // Two checks asking for the same steps the other way round cannot share one sequence.
        let ab = check(vec![role("a"), role("b")]);
        let ba = check(vec![role("b"), role("a")]);
        assert_eq!(merged_stages(&[&ab, &ba]), None);
        let mut vars = crate::vars::Vars::new();
        vars.set("project", "p");
        assert!(can_share(&[&blog, &files], &vars));
        assert!(!can_share(&[&ab, &ba], &vars));
        assert!(!can_share(&[&blog], &vars), "one check alone runs as it always did");
        let mut elsewhere = check(vec![role("nextcloud")]);
        elsewhere.recreate.as_mut().unwrap().project = "other".into();
        assert!(!can_share(&[&blog, &elsewhere], &vars), "two stacks are not one sequence");
    }
}
