//! Check kinds: what one rubric check looks at, and how one attempt at it is judged.
//!
//! Every kind produces an [`Attempt`]: a pass, or a [`Mismatch`] saying what was expected and what
//! was seen instead. The runner repeats attempts until one passes or the check's deadline comes.

mod compose;
mod container;
mod counters;
mod dockerfile;
mod file;
mod http;
mod persistence;
mod recreate;
mod select;
mod tcp;
mod tls;

pub use compose::{compose_file, secret_value, ComposeCheck, Health, Project, Rule as ComposeRule, COMPOSE_FILE_NAMES};
pub(crate) use container::image_runs;
pub(crate) use container::project_containers;
pub use container::{ContainerCheck, ContainerExpect, MountKind};
pub use counters::CountersCheck;
pub use dockerfile::{DockerfileCheck, DockerfileExpect};
pub use file::FileCheck;
pub use http::{HttpCheck, HttpExpect, OneOrMany};
pub(crate) use persistence::{attempt_together as persistence_together, can_share as persistence_can_share};
pub use persistence::{PersistenceCheck, Recreate, RecreateStep};
pub use recreate::{recreate, recreate_container};
pub use select::{family, Select};
pub use tcp::TcpCheck;
pub use tls::{TlsCheck, TlsExpect};

use crate::vars::Vars;
use futures_util::future::BoxFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Control over services the grader started itself (given to the runner with `--up`).
pub trait ServiceControl: Send + Sync {
    /// Stops `service` and starts it again, returning once it is ready (or why it is not).
    fn restart<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

/// What one attempt at a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Pass,
    Fail(Mismatch),
    /// The check cannot run in this setting (e.g. it restarts services and none were started).
    CannotRun(String),
}

/// Expected vs actual, in words a student can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub expected: String,
    pub actual: String,
    /// The deadline came while this attempt was still waiting for an answer. A check that polls
    /// reports its last *finished* answer instead, if it had one: which attempt happens to be
    /// under way at the deadline is timing, and the same submission must get the same report.
    pub cut_off: bool,
    /// Waiting cannot change it (a container made without a healthcheck will never be healthy):
    /// the check fails at once instead of at its deadline.
    pub settled: bool,
}

impl Mismatch {
    pub fn new(expected: impl Into<String>, actual: impl Into<String>) -> Mismatch {
        Mismatch { expected: expected.into(), actual: actual.into(), cut_off: false, settled: false }
    }

    /// A mismatch no later attempt can turn into a pass.
    pub fn settled(expected: impl Into<String>, actual: impl Into<String>) -> Mismatch {
        Mismatch { settled: true, ..Mismatch::new(expected, actual) }
    }

    /// A mismatch that says only that the deadline came first.
    pub fn cut_off(expected: impl Into<String>, actual: impl Into<String>) -> Mismatch {
        Mismatch { cut_off: true, ..Mismatch::new(expected, actual) }
    }

    /// Joins several mismatches of one check into one, so every failed expectation is reported.
    fn join(mismatches: Vec<Mismatch>) -> Mismatch {
        let expected = mismatches.iter().map(|m| m.expected.as_str()).collect::<Vec<_>>().join("; ");
        let actual = mismatches.iter().map(|m| m.actual.as_str()).collect::<Vec<_>>().join("; ");
        let cut_off = mismatches.iter().any(|m| m.cut_off);
        let settled = mismatches.iter().any(|m| m.settled);
        Mismatch { expected, actual, cut_off, settled }
    }
}

/// What checks may use while they run (the default: as the runner's `GradeConfig`'s).
#[derive(Clone, Default)]
pub struct Context {
    pub vars: Vars,
    /// The submission's root directory; file checks are relative to it.
    pub submission: PathBuf,
    /// Present when the grader started the services itself (`--up`) and may restart them.
    pub services: Option<Arc<dyn ServiceControl>>,
    /// The Docker engine, for container checks.
    pub docker: Option<bollard::Docker>,
    /// Checks may recreate a Compose project's containers (`--up`, or the student allowed it).
    pub may_recreate: bool,
    /// The running system has stopped changing (every container the lab made is up, healthy where
    /// it has a healthcheck, and not just started): a polled check that fails is asked once more,
    /// not until its deadline - waiting cannot change its answer. A check that restarts or
    /// recreates services clears it: from then on the system is changing again.
    pub settled: Arc<std::sync::atomic::AtomicBool>,
}

impl Context {
    /// Whether the system is settled (see [`Context::settled`]).
    pub fn is_settled(&self) -> bool {
        self.settled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The system is changing from now on (a check restarts or recreates services).
    pub fn unsettle(&self) {
        self.settled.store(false, std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("vars", &self.vars)
            .field("submission", &self.submission)
            .field("services", &self.services.is_some())
            .field("docker", &self.docker.is_some())
            .finish()
    }
}

/// How many attempts a polled check gets on a settled system: one, and one more after an interval
/// (a connection the network dropped once is not the submission's fault).
pub(crate) const SETTLED_ATTEMPTS: u32 = 2;

/// What a check kind needs of the system it grades. The runner (what is polled, what runs alone),
/// `xtask` (whether an engine or a running system is needed) and the topology ask this; none of
/// them matches on kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Why it needs a Docker engine, if it does, worded to end with "... <the engine>": "it reads
    /// the containers' state from".
    pub engine: Option<&'static str>,
    /// It looks at the running system (a server, a container), not only at the submission's
    /// files: it cannot run when the services did not start.
    pub running_system: bool,
    /// It runs after all others, one at a time: it restarts services, or its window between two
    /// readings must see its own traffic only.
    pub alone: bool,
    /// It is retried at its interval until its deadline, rather than run once with deadlines of
    /// its own. Files do not change while they are graded: a rule on them is never polled.
    pub polled: bool,
}

impl Needs {
    /// What a rule on the submission's files needs: nothing running, no engine, one attempt.
    pub const FILES: Needs = Needs { engine: None, running_system: false, alone: false, polled: false };
    /// What a probe of the running system needs: it, polled until its deadline.
    pub const LIVE: Needs = Needs { engine: None, running_system: true, alone: false, polled: true };
}

/// One check kind, as one unit: its name in a rubric, what it needs, the strings of its rubric
/// entry that may hold placeholders, how that entry is validated, and one attempt at it.
pub trait Kind: Send + Sync {
    /// The name of its table in a rubric (`[check.http]`).
    fn name(&self) -> &'static str;
    fn needs(&self) -> Needs;
    /// Every string in its parameters that may hold placeholders.
    fn strings(&self) -> Vec<&str>;
    /// What can be validated when the rubric loads, without a running system.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// One attempt, bounded by `deadline`; `interval` is for kinds that poll inside an attempt.
    fn attempt<'a>(&'a self, ctx: &'a Context, deadline: Instant, interval: Duration) -> BoxFuture<'a, Attempt>;
    /// The containers it reads, by name and by Compose project (placeholders unexpanded): what
    /// the report's picture draws.
    fn looks_at(&self) -> Looks<'_> {
        Looks::default()
    }
    /// Whether its failure is about this one container, so the report's picture marks it.
    fn is_about(&self, _container: &crate::picture::Container, _vars: &Vars) -> bool {
        false
    }
    /// The services it restarts (placeholders unexpanded): a student is asked before it runs.
    fn restarts(&self) -> &[String] {
        &[]
    }
    /// The containers it recreates, if it does: a student is asked before it runs.
    fn recreates(&self) -> Option<&Recreate> {
        None
    }
}

/// The containers a check reads (see [`Kind::looks_at`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Looks<'a> {
    pub name: Option<&'a str>,
    pub project: Option<&'a str>,
}

/// What a check looks at: one of the kinds, as a rubric's `[check.<kind>]` table names it.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    File(FileCheck),
    Dockerfile(Box<DockerfileCheck>),
    Tcp(TcpCheck),
    Http(Box<HttpCheck>),
    Tls(TlsCheck),
    Container(Box<ContainerCheck>),
    Persistence(Box<PersistenceCheck>),
    Compose(Box<ComposeCheck>),
    Counters(Box<CountersCheck>),
}

impl CheckKind {
    /// The kind itself: everything else about a check is asked of it.
    pub fn kind(&self) -> &dyn Kind {
        match self {
            CheckKind::File(c) => c,
            CheckKind::Dockerfile(c) => c.as_ref(),
            CheckKind::Tcp(c) => c,
            CheckKind::Http(c) => c.as_ref(),
            CheckKind::Tls(c) => c,
            CheckKind::Container(c) => c.as_ref(),
            CheckKind::Persistence(c) => c.as_ref(),
            CheckKind::Compose(c) => c.as_ref(),
            CheckKind::Counters(c) => c.as_ref(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn needs(&self) -> Needs {
        self.kind().needs()
    }
}

/// Repeats `attempt` every `interval` until it does not fail or the deadline comes. A check that
/// gives up reports its last finished answer: an attempt the deadline cut off counts only if no
/// attempt finished, so which attempt happens to be under way at the deadline cannot change a report.
pub(crate) async fn poll<F, Fut>(deadline: Instant, interval: std::time::Duration, attempt: F) -> Attempt
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    poll_at_most(deadline, interval, None, attempt).await
}

/// [`poll`], giving up after `limit` attempts when one is given (a settled system).
pub(crate) async fn poll_at_most<F, Fut>(
    deadline: Instant,
    interval: std::time::Duration,
    limit: Option<u32>,
    mut attempt: F,
) -> Attempt
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let mut finished: Option<Mismatch> = None;
    let mut made = 0;
    loop {
        let mismatch = match attempt().await {
            Attempt::Fail(mismatch) => mismatch,
            other => return other,
        };
        made += 1;
        if mismatch.settled || limit.is_some_and(|l| made >= l) || Instant::now() + interval >= deadline {
            return Attempt::Fail(match finished {
                Some(finished) if mismatch.cut_off => finished,
                _ => mismatch,
            });
        }
        if !mismatch.cut_off {
            finished = Some(mismatch);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Shortens long text for messages, on a character boundary, and keeps it on one line.
pub(crate) fn excerpt(text: &str, max_chars: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let cut: String = flat.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}
