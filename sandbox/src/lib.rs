//! The owner of one grading run: everything a submission gets to do goes through here.
//!
//! A [`Run`] has an id and labels ([`labels`]); a copy of the submission in a directory of its
//! own; a policy proxy ([`proxy`]) that serves the Docker Engine API on a socket in that directory
//! and lets through only what the `policy` rules allow, labelled with the run's labels and capped
//! by its [`Limits`]; a toolbox container ([`toolbox`]) that runs the submission's commands (a
//! script of docker commands, Compose) as an unprivileged user with only the proxy's socket; a
//! disk watchdog; and the one reaper ([`reaper`]) that removes everything carrying the run's label
//! however the run ends - finished, failed, interrupted, dropped, or its grader killed (a
//! sentinel process, [`sentinel`], reaps then; and every new run first reaps runs whose grader is
//! gone). [`stuck`] tells when the engine itself has stopped answering.

mod copy;
pub mod egress;
pub mod labels;
pub mod limits;
pub mod ports;
pub mod proxy;
pub mod reaper;
mod run;
pub mod sentinel;
pub mod stuck;
pub mod toolbox;

pub use labels::{Owner, RunId};
pub use limits::Limits;
pub use reaper::{reap, reap_orphans, ReapError, Removed};
pub use run::{Run, RunConfig, RunError};
pub use toolbox::{CommandResult, SandboxCommand};

use std::path::PathBuf;

/// Where the real engine answers: a Unix socket, or `tcp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl Endpoint {
    /// `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375` (or `http://`).
    pub fn parse(endpoint: &str) -> Result<Endpoint, String> {
        if let Some(path) = endpoint.strip_prefix("unix://") {
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else if let Some(address) = endpoint.strip_prefix("tcp://").or_else(|| endpoint.strip_prefix("http://")) {
            Ok(Endpoint::Tcp(address.trim_end_matches('/').to_string()))
        } else {
            Err(format!("{endpoint}: only unix:// and tcp:// engines are supported"))
        }
    }

    pub fn uri(&self) -> String {
        match self {
            Endpoint::Unix(path) => format!("unix://{}", path.display()),
            Endpoint::Tcp(address) => format!("tcp://{address}"),
        }
    }

    /// A bollard client for this engine.
    pub fn docker(&self) -> Result<bollard::Docker, bollard::errors::Error> {
        match self {
            Endpoint::Unix(path) => {
                bollard::Docker::connect_with_unix(&path.to_string_lossy(), 120, bollard::API_DEFAULT_VERSION)
            }
            Endpoint::Tcp(address) => {
                bollard::Docker::connect_with_http(&format!("tcp://{address}"), 120, bollard::API_DEFAULT_VERSION)
            }
        }
    }

    /// A fresh connection to the engine.
    pub(crate) async fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match self {
            Endpoint::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            Endpoint::Tcp(address) => Box::new(tokio::net::TcpStream::connect(address).await?),
        })
    }
}

/// A byte stream to the engine.
pub(crate) trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// Something the sandbox did to a submission's request or container, for the report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Incident {
    pub kind: IncidentKind,
    /// Who: `service `web``, `container `x``, `the build of `app:1``, `the sandbox`.
    pub subject: String,
    /// The rule or limit: `no-privileged`, `disk`, `memory`.
    pub rule: String,
    /// What was asked or done: `privileged: true`, `wrote 1.1 GiB into its container`.
    pub detail: String,
    /// What the rule protects and what to do.
    pub explanation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IncidentKind {
    /// The proxy refused a request.
    Refused,
    /// A container was stopped (or killed by the kernel) for going over a limit.
    Stopped,
    /// Something ran into a limit and was held there (a fork bomb at its process cap, output
    /// past what the log keeps).
    Limited,
    /// The proxy changed a request and let it through (a port asked for on every interface,
    /// published on loopback only): not a fault, said in the report so nothing is hidden.
    Adjusted,
}

impl Incident {
    pub(crate) fn refused(subject: &str, violation: &policy::Violation) -> Incident {
        Incident {
            kind: IncidentKind::Refused,
            subject: subject.to_string(),
            rule: violation.rule.id().to_string(),
            detail: violation.field.clone(),
            explanation: violation.rule.explanation().to_string(),
        }
    }
}

impl Incident {
    /// A request the proxy changed and let through.
    pub(crate) fn adjusted(subject: &str, rule: &str, detail: &str, explanation: &str) -> Incident {
        Incident {
            kind: IncidentKind::Adjusted,
            subject: subject.to_string(),
            rule: rule.to_string(),
            detail: detail.to_string(),
            explanation: explanation.to_string(),
        }
    }
}

impl std::fmt::Display for Incident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            IncidentKind::Refused => {
                write!(f, "refused: {} asks for {} (rule {})", self.subject, self.detail, self.rule)
            }
            IncidentKind::Stopped => write!(f, "stopped: {} {} (limit {})", self.subject, self.detail, self.rule),
            IncidentKind::Limited => write!(f, "limited: {} {} (limit {})", self.subject, self.detail, self.rule),
            IncidentKind::Adjusted => write!(f, "adjusted: {} {} (rule {})", self.subject, self.detail, self.rule),
        }
    }
}
