//! `test`, `lint` and `ci`: the commands CI and contributors run.

use anyhow::{bail, Context};
use std::path::Path;
use std::process::Command;

/// The switch that turns on integration tests (they need ports, processes and later Docker).
pub const INTEGRATION_ENV: &str = "CLABS_INTEGRATION";

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    eprintln!("$ {what}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The whole test suite, integration tests included.
pub fn test(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    let mut command = cargo();
    command
        .current_dir(root)
        .env(INTEGRATION_ENV, "1")
        .args(["test", "--workspace", "--all-targets"])
        .args(extra);
    run(
        command,
        "cargo test --workspace --all-targets (with CLABS_INTEGRATION=1)",
    )
}

/// Formatting and lints, as CI enforces them.
pub fn lint(root: &Path) -> anyhow::Result<()> {
    let mut fmt = cargo();
    fmt.current_dir(root).args(["fmt", "--all", "--check"]);
    run(fmt, "cargo fmt --all --check")?;
    let mut clippy = cargo();
    clippy.current_dir(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(
        clippy,
        "cargo clippy --workspace --all-targets -- -D warnings",
    )
}

/// Exactly what CI runs: lints, then the whole test suite.
pub fn ci(root: &Path) -> anyhow::Result<()> {
    lint(root)?;
    test(root, &[])
}
