//! The launcher's prefetch as the launcher starts it (`xtask-launch --containerlabs-prefetch
//! <the command line>`), its log on standard output.

use std::process::Command;

fn prefetch(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask-launch"));
    command.arg("--containerlabs-prefetch").args(args);
    command
}

/// Without an engine, and on a machine it may not install one on (DOCKER_HOST names one), it
/// makes nothing, says why in its log, and fails - the grader then says what to do.
#[test]
fn with_no_engine_to_reach_the_prefetch_says_so_and_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = prefetch(&["check", "lab3", "--up"])
        .env("DOCKER_HOST", format!("unix://{}/none.sock", dir.path().display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(log.contains("the engine: none answers, and this machine installs none"), "{log}");
    assert!(!log.contains("Debian base"), "{log}");
    // A command that needs nothing made: nothing is said, nothing is done.
    let output = prefetch(&["check", "lab3"]).env("DOCKER_HOST", "unix:///nowhere.sock").output().unwrap();
    assert_eq!((output.status.code(), output.stdout.len()), (Some(0), 0));
}

/// On the engine `cargo xtask test` prepared, where the grader made every image, the prefetch for
/// `check lab3 --up --images build` (no registry asked) finds each of lab 3's images ready: its
/// build contexts hash as the grader's do, so a first run's head start is one the grader takes,
/// not one it makes again.
#[test]
fn the_prefetch_finds_what_the_grader_made_ready() {
    if std::env::var_os("CLABS_INTEGRATION").is_none() {
        eprintln!("skipped: set CLABS_INTEGRATION=1 (cargo xtask test does) to run it");
        return;
    }
    let output = prefetch(&["check", "lab3", "--up", "--solutions", "--images", "build"]).output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{log}");
    let ready: Vec<&str> = log.lines().filter(|l| l.ends_with(": ready already")).collect();
    assert_eq!(ready.len(), 8, "the base and lab 3's seven images, none built again:\n{log}");
    assert!(!log.contains("building image"), "{log}");
    assert!(log.lines().last().is_some_and(|l| l.ends_with("done")), "{log}");
}
