//! The sentinel: a process started beside a grader that reaps the grader's run if the grader dies
//! without reaping it itself (killed with SIGKILL, say). It waits on a pipe whose other end only
//! the grader holds: the grader writes `done` once it has reaped; end of file without it means the
//! grader is gone, and the sentinel reaps the run by its label and removes its directory.
//!
//! A program that starts runs with a sentinel calls [`main_if_requested`] first thing in `main`.

use crate::labels::RunId;
use crate::Endpoint;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};

const RUN: &str = "CLABS_SENTINEL_RUN";
const ENGINE: &str = "CLABS_SENTINEL_ENGINE";
const DIR: &str = "CLABS_SENTINEL_DIR";

/// A started sentinel, and the grader's end of its pipe.
#[derive(Debug)]
pub struct Sentinel {
    child: Child,
    pipe: ChildStdin,
}

impl Sentinel {
    /// Starts `program` as the sentinel of `run` (in its own process group: a terminal's Ctrl-C
    /// is for the grader, which reaps itself).
    pub fn spawn(program: &Path, run: &RunId, endpoint: &Endpoint, dir: &Path) -> std::io::Result<Sentinel> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(program)
            .env(RUN, run.as_str())
            .env(ENGINE, endpoint.uri())
            .env(DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = child.stdin.take().ok_or_else(|| std::io::Error::other("the sentinel has no stdin"))?;
        Ok(Sentinel { child, pipe })
    }

    /// The run is reaped: the sentinel may go without doing anything.
    pub fn dismiss(mut self) {
        let _ = self.pipe.write_all(b"done\n");
        drop(self.pipe);
        let _ = self.child.wait();
    }
}

/// When this process was started as a sentinel: waits for the grader, reaps if it must, and
/// returns the exit code for `main`. Otherwise `None`.
pub fn main_if_requested() -> Option<ExitCode> {
    let run = RunId::parse(&std::env::var(RUN).ok()?)?;
    let endpoint = Endpoint::parse(&std::env::var(ENGINE).ok()?).ok()?;
    let dir = std::env::var_os(DIR).map(std::path::PathBuf::from);
    let mut said = String::new();
    let _ = std::io::stdin().read_to_string(&mut said);
    if said.trim() == "done" {
        return Some(ExitCode::SUCCESS);
    }
    let reaped = (|| {
        let docker = endpoint.docker().ok()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        runtime.block_on(crate::reaper::reap(&docker, &run.selector(), true)).ok()
    })();
    if let Some(dir) = dir.filter(|d| d.starts_with(std::env::temp_dir().join("clabs-runs"))) {
        let _ = std::fs::remove_dir_all(dir);
    }
    Some(if reaped.is_some() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
