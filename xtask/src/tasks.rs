//! `test`, `lint` and `ci`: the commands CI and contributors run.

use anyhow::{bail, Context};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// How long one test binary may run before the runner ends it (the slowest, lab 3's, took 409-418 s
/// in CI here). `CLABS_TEST_BINARY_TIMEOUT` (seconds) overrides it.
const BINARY_TIMEOUT: Duration = Duration::from_secs(25 * 60);

/// The whole test suite, integration tests included; ends with one line of totals.
///
/// cargo builds the test binaries, then each runs on its own under a deadline, in cargo's order,
/// so a hang ends as a failure that names the binary instead of as a CI timeout. When a binary
/// fails or hangs and the Docker engine is then found stuck (it stops answering about its
/// containers: dockerd 20.10 has a known deadlock, moby/moby#46661), the runner restarts the
/// dockerd it started itself, removes what the binary left in the engine, and runs that binary
/// once more, saying so (a dockerd it did not start is only reported, never restarted). A binary
/// that fails with a healthy engine is never re-run.
pub fn test(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    let compiled = compile_tests(root, extra)?;
    run_tests(root, extra, compiled)
}

/// The test binaries cargo built, for [`run_tests`].
#[derive(Debug)]
pub struct CompiledTests(Vec<TestBinary>);

/// Builds the test binaries (`cargo test --no-run`, with the cargo arguments of `extra`: those
/// before a `--`). Needs no engine: `cargo xtask test` runs it while the engine's images are made.
pub fn compile_tests(root: &Path, extra: &[String]) -> anyhow::Result<CompiledTests> {
    let (cargo_args, _) = split_args(extra);
    build_tests(root, cargo_args).map(CompiledTests)
}

fn split_args(extra: &[String]) -> (&[String], &[String]) {
    match extra.iter().position(|a| a == "--") {
        Some(at) => (&extra[..at], &extra[at + 1..]),
        None => (extra, &[][..]),
    }
}

/// Runs the binaries [`compile_tests`] built (see [`test`]), with the test arguments of `extra`
/// (those after a `--`): those that reach the Docker engine one at a time, in cargo's order, and
/// beside them, in a lane of their own, those that never do ([`TestBinary::runs_apart`]).
pub fn run_tests(root: &Path, extra: &[String], compiled: CompiledTests) -> anyhow::Result<()> {
    let (_, test_args) = split_args(extra);
    let timeout = std::env::var("CLABS_TEST_BINARY_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(BINARY_TIMEOUT, Duration::from_secs);
    let (apart, engine): (Vec<TestBinary>, Vec<TestBinary>) = compiled.0.into_iter().partition(TestBinary::runs_apart);
    let apart_lane = {
        let (root, args) = (root.to_path_buf(), test_args.to_vec());
        std::thread::spawn(move || run_apart(&root, &apart, &args, timeout, std::io::stdout()))
    };
    let mut lane = run_engine_lane(root, &engine, test_args, timeout)?;
    let apart =
        apart_lane.join().map_err(|_| anyhow::anyhow!("the lane of tests apart from the engine panicked"))??;
    lane.totals.merge(&apart.totals);
    lane.failures.extend(apart.failures);
    println!("{}", lane.totals.summary());
    for rerun in &lane.reruns {
        println!("re-run after restarting the stuck Docker engine: {rerun}");
    }
    if !lane.failures.is_empty() {
        bail!("{}", lane.failures.join("; "));
    }
    Ok(())
}

/// What a lane of test binaries added up to.
#[derive(Debug, Default)]
struct Lane {
    totals: TestTotals,
    failures: Vec<String>,
    reruns: Vec<String>,
}

/// The binaries that reach the engine, one at a time, their output as it comes. A binary that
/// fails with the engine stuck is run once more after a restart of the dockerd we started.
fn run_engine_lane(root: &Path, binaries: &[TestBinary], args: &[String], timeout: Duration) -> anyhow::Result<Lane> {
    let mut lane = Lane::default();
    for binary in binaries {
        let mut run = run_binary(root, binary, args, timeout)?;
        if !run.passed() {
            match (engine_stuck(), crate::engine::own_dockerd()) {
                (Some(why), Some(_)) => {
                    eprintln!(
                        "warning: {} {}; the Docker engine is stuck ({why}); restarting it and running the binary once more",
                        binary.label,
                        run.describe(timeout)
                    );
                    recover_engine(run.pid)?;
                    lane.reruns.push(format!("{} (engine stuck: {why})", binary.label));
                    run = run_binary(root, binary, args, timeout)?;
                }
                // Not ours to restart: the failure stands, the reason is said, the run goes on.
                (Some(why), None) => {
                    eprintln!("warning: the Docker engine is stuck ({why}); restart dockerd, then run the tests again")
                }
                // Ended at its deadline, so its own clean-up never ran.
                (None, _) if run.status.is_none() => remove_leftovers_of(run.pid),
                (None, _) => {}
            }
        }
        lane.totals.merge(&run.totals);
        if !run.passed() {
            lane.failures.push(format!("{} {}", binary.label, run.describe(timeout)));
        }
    }
    Ok(lane)
}

/// Where the lane apart points `DOCKER_HOST`: a socket no engine listens on.
const NO_ENGINE: &str = "unix:///nonexistent/containerlabs-tests-apart-reach-no-engine.sock";

/// The binaries that never reach the engine, one at a time beside the engine lane, each with
/// `DOCKER_HOST` naming no engine; each one's output is printed in one piece when it ends, so the
/// two lanes' lines do not mix.
fn run_apart(
    root: &Path,
    binaries: &[TestBinary],
    args: &[String],
    timeout: Duration,
    mut out: impl std::io::Write,
) -> anyhow::Result<Lane> {
    let mut lane = Lane::default();
    for binary in binaries {
        let output = Captured::default();
        let run =
            run_binary_with(root, binary, args, timeout, Box::new(output.clone()), &[("DOCKER_HOST", NO_ENGINE)])?;
        // In one write: standard output stays locked for all of it.
        let _ = out.write_all(&output.0.lock().expect("output lock"));
        let _ = out.flush();
        lane.totals.merge(&run.totals);
        if !run.passed() {
            lane.failures.push(format!("{} {} (it runs with no engine)", binary.label, run.describe(timeout)));
        }
    }
    Ok(lane)
}

/// A binary's output, kept until it ends.
#[derive(Debug, Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("output lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The integration tests that never reach the Docker engine (files, ports, processes and git at
/// most), by package and file. Every other integration test runs in the engine lane: a new one
/// is there until it is named here.
const APART: &[&str] = &[
    "grading tests/file.rs",
    "grading tests/formats.rs",
    "grading tests/http.rs",
    "grading tests/runner.rs",
    "grading tests/tls.rs",
    "grading tests/webdb_files.rs",
    "app-port tests/api.rs",
    "compose tests/cli.rs",
    "reverse-proxy tests/binary.rs",
    "reverse-proxy tests/proxy.rs",
    "static-site tests/binary.rs",
    "static-site tests/serve.rs",
    "web-db tests/healthcheck.rs",
    "xtask tests/classpage.rs",
    "xtask tests/cli.rs",
    "xtask tests/collect.rs",
    "xtask tests/dictation.rs",
    "xtask tests/export.rs",
    "xtask tests/hints.rs",
    "xtask tests/tidy.rs",
    "xtask tests/watch.rs",
];

/// A test executable cargo built.
#[derive(Debug, Clone)]
struct TestBinary {
    /// `package tests/lab3.rs`, as a reader finds it.
    label: String,
    exe: std::path::PathBuf,
    package: String,
    manifest_dir: std::path::PathBuf,
    order: (String, u8, String),
}

impl TestBinary {
    /// Whether it runs in the lane apart from the engine: a crate's own unit tests (none of them
    /// reaches the engine), or an integration test named in [`APART`].
    fn runs_apart(&self) -> bool {
        self.order.1 < 2 || APART.contains(&self.label.as_str())
    }
}

/// `cargo test --no-run`: builds every test binary (compiler messages as usual) and lists them.
fn build_tests(root: &Path, cargo_args: &[String]) -> anyhow::Result<Vec<TestBinary>> {
    use std::io::BufRead;
    let mut args: Vec<String> = ["test", "--all-targets", "--no-run"].map(String::from).to_vec();
    if !cargo_args.iter().any(|a| a == "-p" || a.starts_with("--package")) {
        args.push("--workspace".into());
    }
    args.extend(cargo_args.iter().cloned());
    let what = format!("cargo {}", args.join(" "));
    eprintln!("$ {what}");
    let mut child = cargo()
        .current_dir(root)
        .args(&args)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let mut binaries = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = message["executable"].as_str() else { continue };
        let package = message["target"]["name"].as_str().unwrap_or_default().to_string();
        let package_name = message["package_id"].as_str().and_then(package_name_of).unwrap_or_else(|| package.clone());
        let manifest = std::path::PathBuf::from(message["manifest_path"].as_str().unwrap_or_default());
        let manifest_dir = manifest.parent().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
        let kind = message["target"]["kind"][0].as_str().unwrap_or_default().to_string();
        let src = std::path::PathBuf::from(message["target"]["src_path"].as_str().unwrap_or_default());
        let src = src.strip_prefix(&manifest_dir).unwrap_or(&src).display().to_string();
        let rank = match kind.as_str() {
            "lib" | "rlib" | "proc-macro" => 0,
            "bin" => 1,
            "test" => 2,
            _ => 3,
        };
        binaries.push(TestBinary {
            label: format!("{package_name} {src}"),
            exe: exe.into(),
            package: package_name.clone(),
            manifest_dir,
            order: (package_name, rank, src),
        });
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    if binaries.is_empty() {
        // Nothing run must not read as everything passed.
        bail!("{what} built no test binary (does the selection name a package with tests?)");
    }
    binaries.sort_by(|a, b| a.order.cmp(&b.order));
    binaries.dedup_by(|a, b| a.exe == b.exe);
    Ok(binaries)
}

/// The package name in a cargo package id (`path+file:///…/xtask#0.1.0`, `…#name@0.1.0`, or the
/// old `name 0.1.0 (path+file://…)`).
fn package_name_of(id: &str) -> Option<String> {
    if let Some((_, fragment)) = id.rsplit_once('#') {
        return Some(match fragment.split_once('@') {
            Some((name, _)) => name.to_string(),
            None => id[..id.len() - fragment.len() - 1].rsplit('/').next()?.to_string(),
        });
    }
    id.split_whitespace().next().map(str::to_string)
}

/// How one run of a test binary ended.
struct BinaryRun {
    totals: TestTotals,
    /// `None` when the deadline ended it.
    status: Option<std::process::ExitStatus>,
    pid: u32,
}

impl BinaryRun {
    fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn describe(&self, timeout: Duration) -> String {
        match self.status {
            None => format!("did not finish within {} s and was ended", timeout.as_secs()),
            Some(status) => format!("failed ({status})"),
        }
    }
}

/// Runs one test binary as `cargo test` would (in its package's directory), streaming its output,
/// in its own process group, which is killed at the deadline.
fn run_binary(root: &Path, binary: &TestBinary, args: &[String], timeout: Duration) -> anyhow::Result<BinaryRun> {
    run_binary_to(root, binary, args, timeout, Box::new(std::io::stdout()))
}

/// [`run_binary`], echoing the binary's output to `echo`.
fn run_binary_to(
    root: &Path,
    binary: &TestBinary,
    args: &[String],
    timeout: Duration,
    echo: Box<dyn std::io::Write + Send>,
) -> anyhow::Result<BinaryRun> {
    run_binary_with(root, binary, args, timeout, echo, &[])
}

/// [`run_binary_to`] with `env` set for the binary; says when it ended and how long it ran.
fn run_binary_with(
    root: &Path,
    binary: &TestBinary,
    args: &[String],
    timeout: Duration,
    mut echo: Box<dyn std::io::Write + Send>,
    env: &[(&str, &str)],
) -> anyhow::Result<BinaryRun> {
    use std::io::{BufRead, Write};
    use std::os::unix::process::CommandExt;
    let exe = binary.exe.strip_prefix(root).unwrap_or(&binary.exe);
    writeln!(echo, "     Running {} ({})", binary.label, exe.display())?;
    let mut child = Command::new(&binary.exe)
        .args(args)
        .current_dir(&binary.manifest_dir)
        .env(INTEGRATION_ENV, "1")
        .env("CARGO_MANIFEST_DIR", &binary.manifest_dir)
        .env("CARGO_PKG_NAME", &binary.package)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {}", binary.exe.display()))?;
    let pid = child.id();
    let totals = std::sync::Arc::new(std::sync::Mutex::new(TestTotals::default()));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let seen = std::sync::Arc::clone(&totals);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            seen.lock().expect("totals lock").add(&line);
            let _ = writeln!(echo, "{line}");
        }
        let _ = done_tx.send(echo);
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            eprintln!("error: {} ran for {} s; ending it", binary.label, timeout.as_secs());
            crate::process::signal_group(pid, libc::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // A process the tests started elsewhere may still hold the pipe: do not wait on it for long.
    let took = started.elapsed().as_secs_f64();
    match done_rx.recv_timeout(Duration::from_secs(5)) {
        Ok(mut echo) => writeln!(echo, "    Finished {} in {took:.1} s", binary.label)?,
        Err(_) => println!("    Finished {} in {took:.1} s", binary.label),
    }
    let totals = totals.lock().expect("totals lock").clone();
    Ok(BinaryRun { totals, status, pid })
}

/// A runtime for the runner's few engine calls (the runner itself is synchronous).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Whether the engine is up but stuck; with its goroutine dump's finding when we started it.
fn engine_stuck() -> Option<String> {
    runtime().ok()?.block_on(async {
        let engine = tokio::time::timeout(Duration::from_secs(10), crate::engine::connect()).await.ok()?.ok()?;
        let why = sandbox::stuck::stuck(&engine.docker, Duration::from_secs(20)).await?;
        let dump = crate::engine::own_dockerd().and_then(crate::engine::goroutine_dump);
        Some(match dump {
            Some((path, true)) => {
                format!("{why}; goroutine dump {} shows the libnetwork deadlock of moby/moby#46661", path.display())
            }
            Some((path, false)) => format!("{why}; goroutine dump {}", path.display()),
            None => why,
        })
    })
}

/// Removes what an ended test binary left in a working engine: every run whose owner (the
/// binary, or a grader it started) is gone.
fn remove_leftovers_of(pid: u32) {
    let Ok(runtime) = runtime() else { return };
    runtime.block_on(async {
        let Ok(Ok(engine)) = tokio::time::timeout(Duration::from_secs(10), crate::engine::connect()).await else {
            return;
        };
        match tokio::time::timeout(Duration::from_secs(300), sandbox::reap_orphans(&engine.docker)).await {
            Ok(Ok(runs)) => {
                let removed: usize = runs.iter().map(|(_, r)| r.total()).sum();
                eprintln!(
                    "removed {removed} engine object(s) of {} run(s) the ended binary (pid {pid}) had left",
                    runs.len()
                );
            }
            Ok(Err(e)) => eprintln!("warning: cannot remove what the ended run left in the engine: {e}"),
            Err(_) => eprintln!("warning: removing what the ended run left in the engine took over 300 s"),
        }
    });
}

/// Restarts the dockerd we started and removes what the test binary with `pid` left in the
/// engine: the runs whose owner is gone.
fn recover_engine(pid: u32) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let engine = crate::engine::restart_own_dockerd().await?;
        let runs = sandbox::reap_orphans(&engine.docker).await?;
        let removed: usize = runs.iter().map(|(_, r)| r.total()).sum();
        eprintln!("dockerd restarted; removed {removed} object(s) of the runs the ended binary (pid {pid}) had left");
        Ok(())
    })
}

/// Totals over every `test result:` line cargo prints (one per test binary).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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

    pub fn merge(&mut self, other: &TestTotals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
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
    run(clippy, "cargo clippy --workspace --all-targets -- -D warnings")?;
    // The course book: the handouts' shape and checks lists, the build, and every link.
    let out = tempfile::tempdir().context("cannot make a folder for the book")?;
    let pages = crate::course::book::build(root, &out.path().join("book"), true)?;
    eprintln!("the course book builds: {pages} pages, no broken link");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(dir: &Path, script: &str) -> TestBinary {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("fixture.sh");
        std::fs::write(&exe, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        TestBinary {
            label: "fixture fixture.sh".into(),
            exe,
            package: "fixture".into(),
            manifest_dir: dir.to_path_buf(),
            order: Default::default(),
        }
    }

    const RESULT: &str =
        "echo 'test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s'";

    #[test]
    fn a_binary_past_its_deadline_is_ended_with_everything_in_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let grandchild = dir.path().join("grandchild.pid");
        let binary = fixture(dir.path(), &format!("{RESULT}\nsleep 300 &\necho $! > {}\nwait", grandchild.display()));
        let started = Instant::now();
        let run = run_binary_to(dir.path(), &binary, &[], Duration::from_secs(1), Box::new(std::io::sink())).unwrap();
        assert!(run.status.is_none() && !run.passed(), "ended, not finished");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        assert_eq!(run.totals, TestTotals { passed: 2, failed: 0, ignored: 1 }, "what it printed still counts");
        assert_eq!(run.describe(Duration::from_secs(1)), "did not finish within 1 s and was ended");
        let pid = std::fs::read_to_string(&grandchild).unwrap().trim().to_string();
        let gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gone() {
            assert!(Instant::now() < deadline, "the test binary's child {pid} outlived it");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn a_binary_runs_in_its_package_directory_with_integration_on() {
        let dir = tempfile::tempdir().unwrap();
        let check = "[ \"$CLABS_INTEGRATION\" = 1 ] && [ \"$(pwd)\" = \"$CARGO_MANIFEST_DIR\" ] && [ \"$1\" = filter ]";
        let passing = fixture(dir.path(), &format!("{RESULT}\n{check}"));
        let quiet = || Box::new(std::io::sink());
        let run = run_binary_to(dir.path(), &passing, &["filter".into()], Duration::from_secs(30), quiet()).unwrap();
        assert!(run.passed(), "{:?}", run.status);
        let run = run_binary_to(dir.path(), &passing, &["other".into()], Duration::from_secs(30), quiet()).unwrap();
        assert!(!run.passed() && run.status.is_some(), "a failing binary is a failure, not a timeout");
        assert!(run.describe(Duration::from_secs(30)).starts_with("failed (exit status: 1)"));
    }

    #[test]
    fn the_lane_apart_reaches_no_engine_and_names_what_failed_there() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        std::fs::create_dir_all(&one).unwrap();
        std::fs::create_dir_all(&two).unwrap();
        let sees_no_engine = fixture(&one, &format!("{RESULT}\n[ \"$DOCKER_HOST\" = {NO_ENGINE} ]"));
        let failing = TestBinary { label: "fixture failing.sh".into(), ..fixture(&two, "exit 3") };
        let lane =
            run_apart(dir.path(), &[sees_no_engine, failing], &[], Duration::from_secs(30), std::io::sink()).unwrap();
        assert_eq!(lane.totals, TestTotals { passed: 2, failed: 0, ignored: 1 });
        assert_eq!(lane.failures, ["fixture failing.sh failed (exit status: 3) (it runs with no engine)"]);
    }

    #[test]
    fn unit_tests_and_the_named_integration_tests_run_apart_and_every_name_is_a_test_file() {
        let binary = |label: &str, rank| TestBinary {
            label: label.into(),
            exe: "x".into(),
            package: String::new(),
            manifest_dir: ".".into(),
            order: (String::new(), rank, String::new()),
        };
        assert!(binary("sandbox src/lib.rs", 0).runs_apart() && binary("xtask src/main.rs", 1).runs_apart());
        assert!(binary("xtask tests/tidy.rs", 2).runs_apart());
        assert!(!binary("xtask tests/lab3.rs", 2).runs_apart() && !binary("sandbox tests/proxy.rs", 2).runs_apart());
        // Each name is a package's test file, so the list cannot hold one that no longer runs.
        let root = crate::workspace_root();
        let manifest: toml::Value = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
        let packages: std::collections::BTreeMap<String, std::path::PathBuf> = manifest["workspace"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| root.join(m.as_str().unwrap()))
            .map(|dir| {
                let own: toml::Value = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().parse().unwrap();
                (own["package"]["name"].as_str().unwrap().to_string(), dir)
            })
            .collect();
        for entry in APART {
            let (package, file) = entry.split_once(' ').unwrap();
            let dir = packages.get(package).unwrap_or_else(|| panic!("{entry}: no package {package}"));
            assert!(file.starts_with("tests/") && dir.join(file).is_file(), "{entry}: no such test file");
        }
    }

    #[test]
    fn package_names_come_from_every_package_id_form() {
        assert_eq!(package_name_of("path+file:///work/main/xtask#0.1.0").as_deref(), Some("xtask"));
        assert_eq!(package_name_of("path+file:///work/main/labs/cache#web-cache@0.1.0").as_deref(), Some("web-cache"));
        assert_eq!(package_name_of("grading 0.1.0 (path+file:///work/main/grading)").as_deref(), Some("grading"));
    }

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
