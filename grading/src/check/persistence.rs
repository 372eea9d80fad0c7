//! `persistence`: write through the app, restart services, read the write back.
//!
//! Each phase (the write, each restart, the read) gets the check's full timeout. The probe value
//! `{probe}` is unique per run, so an earlier run's data can never make this check pass.

use super::http::HttpCheck;
use super::{Attempt, Context, Mismatch};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistenceCheck {
    /// The request that stores something (its `expect` says what a successful write looks like).
    pub write: HttpCheck,
    /// Services to restart, in order, between the write and the read.
    pub restart: Vec<String>,
    /// The request that must find the write again.
    pub read: HttpCheck,
}

impl PersistenceCheck {
    pub(crate) fn strings(&self) -> Vec<&str> {
        let mut all = self.write.strings();
        all.extend(self.read.strings());
        all.extend(self.restart.iter().map(String::as_str));
        all
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.restart.is_empty() {
            return Err("restart names no service".into());
        }
        self.write.validate().map_err(|m| format!("write: {m}"))?;
        self.read.validate().map_err(|m| format!("read: {m}"))
    }

    pub(crate) async fn attempt(&self, ctx: &Context, deadline: Instant, interval: Duration) -> Attempt {
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

/// Repeats an HTTP check until it passes or the deadline comes, as the runner polls a check.
async fn poll(check: &HttpCheck, ctx: &Context, deadline: Instant, interval: Duration) -> Attempt {
    super::poll(deadline, interval, || check.attempt(ctx, deadline)).await
}
