//! `persistence`: write through the app, restart services, read the write back.
//!
//! Each phase (the write, each restart, the read) gets the check's full timeout. The probe value
//! `{probe}` is unique per run, so an earlier run's data can never make this check pass.

use super::http::HttpCheck;
use super::select::Select;
use super::{Attempt, Context, Mismatch};
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
    pub(crate) fn strings(&self) -> Vec<&str> {
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

    pub(crate) fn validate(&self) -> Result<(), String> {
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

    pub(crate) async fn attempt(&self, ctx: &Context, deadline: Instant, interval: Duration) -> Attempt {
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
        let written = poll(&self.write, ctx, Instant::now() + phase, interval).await;
        if let Attempt::Fail(m) = written {
            return Attempt::Fail(Mismatch::new(format!("the write to succeed: {}", m.expected), m.actual));
        }
        let mut done = Vec::new();
        for step in &recreate.steps {
            let select = if step.all { None } else { step.select() };
            let work = async {
                match &step.container {
                    Some(name) => super::recreate::recreate_container(docker, &ctx.vars.expand(name)).await,
                    None => super::recreate::recreate(docker, &project, select.as_ref(), &ctx.vars).await,
                }
            };
            match tokio::time::timeout(phase.max(Duration::from_secs(60)) * 2, work).await {
                Ok(Ok(())) => done.push(step.describe(&ctx.vars)),
                Ok(Err(message)) => {
                    return Attempt::Fail(Mismatch::new(
                        format!("the stack to come back after {}", step.describe(&ctx.vars)),
                        message,
                    ))
                }
                Err(_) => {
                    return Attempt::Fail(Mismatch::new(
                        format!("the stack to come back after {}", step.describe(&ctx.vars)),
                        "it was not ready in time",
                    ))
                }
            }
        }
        match poll(&self.read, ctx, Instant::now() + phase, interval).await {
            Attempt::Fail(m) => {
                Attempt::Fail(Mismatch::new(format!("after {}: {}", done.join(", then "), m.expected), m.actual))
            }
            other => other,
        }
    }
}

/// Repeats an HTTP check until it passes or the deadline comes, as the runner polls a check.
async fn poll(check: &HttpCheck, ctx: &Context, deadline: Instant, interval: Duration) -> Attempt {
    super::poll(deadline, interval, || check.attempt(ctx, deadline)).await
}
