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
    let status = command.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The whole test suite, integration tests included; ends with one line of totals.
pub fn test(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let what = "cargo test --workspace --all-targets (with CLABS_INTEGRATION=1)";
    eprintln!("$ {what}");
    let mut child = cargo()
        .current_dir(root)
        .env(INTEGRATION_ENV, "1")
        .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let mut totals = TestTotals::default();
    let stdout = std::io::stdout();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        totals.add(&line);
        writeln!(stdout.lock(), "{line}")?;
    }
    let status = child.wait()?;
    println!("{}", totals.summary());
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Totals over every `test result:` line cargo prints (one per test binary).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestTotals {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl TestTotals {
    pub fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }

    /// The closing line: `tests: N passed, N failed, N skipped`.
    pub fn summary(&self) -> String {
        format!("tests: {} passed, {} failed, {} skipped", self.passed, self.failed, self.ignored)
    }
}

/// Formatting and lints, as CI enforces them.
pub fn lint(root: &Path) -> anyhow::Result<()> {
    let mut fmt = cargo();
    fmt.current_dir(root).args(["fmt", "--all", "--check"]);
    run(fmt, "cargo fmt --all --check")?;
    let mut clippy = cargo();
    clippy.current_dir(root).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    run(clippy, "cargo clippy --workspace --all-targets -- -D warnings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_every_binary() {
        let mut totals = TestTotals::default();
        totals.add("test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.19s");
        totals.add("test result: FAILED. 1 passed; 2 failed; 3 ignored; 0 measured; 0 filtered out; finished in 1.00s");
        totals.add("running 4 tests");
        assert_eq!(totals, TestTotals { passed: 13, failed: 2, ignored: 3 });
        assert_eq!(totals.summary(), "tests: 13 passed, 2 failed, 3 skipped");
    }
}
