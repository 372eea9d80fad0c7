//! Test support shared by the workspace's integration tests.
//!
//! - The `bad-lab1` binary: a lab 1 site and app that get exactly one requirement wrong, chosen with
//!   `--fault` (the known-bad variants every grading check must have).
//! - [`integration`]: the one switch (`CLABS_INTEGRATION=1`, set by `cargo xtask test`) that turns on
//!   tests needing ports, processes or Docker.
//! - [`free_port`], [`Process`]: ports for parallel tests, and children that are stopped when dropped.

use std::process::Child;
use std::time::Duration;

/// Whether integration tests should run (`cargo xtask test` sets `CLABS_INTEGRATION=1`).
/// Tests that need it print why they did nothing and return.
pub fn integration(test: &str) -> bool {
    let on = std::env::var("CLABS_INTEGRATION").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("{test}: integration test not run (needs CLABS_INTEGRATION=1; `cargo xtask test` sets it)");
    }
    on
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port").local_addr().expect("local addr").port()
}

/// Waits until something accepts connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10s");
}

/// Whether anything accepts connections on `127.0.0.1:port`.
pub fn port_is_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A child process that is killed and reaped when dropped, even when the test fails.
#[derive(Debug)]
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every fault `bad-portfolio` can have; each makes one lab 2 web-db check fail.
pub const PORTFOLIO_FAULTS: &[&str] = &["none", "no-timeline-page", "no-validation", "post-broken"];

/// Every fault `bad-lab1` can have; each should make specific lab 1 checks fail.
pub const FAULTS: &[&str] = &[
    "none",
    "no-title",
    "css-as-text",
    "html-as-text",
    "soft-404",
    "traversal",
    "encoded-traversal",
    "no-site",
    "no-app",
    "info-without-version",
    "post-broken",
    "accepts-empty",
    "accepts-oversized",
    "forgets",
];

/// Asserts the contract for bad input: exit code 2 and one line on stderr that contains `expected`.
pub fn assert_one_line_exit_2(output: &std::process::Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected:\n{stderr}");
    assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
