//! The hostile-submission suite: submissions that ask the engine for what no lab needs, or run
//! away with what they are given, graded with `check --up` on a course of one lab whose step runs
//! the submission's own script (`up.sh`) in the sandbox (`tests/fixtures/hostile/`).
//!
//! Each is refused before it runs, or contained within its limits; its report names the rule
//! (a failed check of the `sandbox` step, no points) and exits 1; the engine holds exactly what it
//! held before; no container the sandbox let through ever had a privilege a rule forbids; the run's
//! directory is gone and no grader or sentinel process is left. A grader killed mid-run is reaped
//! by its sentinel; a submission's `build.rs` never runs. Integration: needs the engine and the
//! images `cargo xtask test` builds.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One test at a time: each compares the engine, and the grader processes, before and after.
static ENGINE: Mutex<()> = Mutex::new(());

fn fixtures() -> PathBuf {
    workspace().join("xtask/tests/fixtures/hostile")
}

/// What a case must come to: the `sandbox` step's checks (by rule) and the page check's status.
struct Case {
    name: &'static str,
    rules: &'static [&'static str],
    page: &'static str,
}

const CASES: &[Case] = &[
    Case { name: "privileged", rules: &["no-privileged"], page: "skipped" },
    Case { name: "engine-socket", rules: &["no-engine-socket"], page: "skipped" },
    Case { name: "root-bind", rules: &["no-engine-socket"], page: "skipped" },
    Case { name: "bind-dotdot", rules: &["no-host-paths"], page: "skipped" },
    Case { name: "bind-symlink", rules: &["no-host-paths"], page: "skipped" },
    Case { name: "host-network", rules: &["no-host-namespaces"], page: "skipped" },
    Case { name: "host-pid", rules: &["no-host-namespaces"], page: "skipped" },
    Case { name: "host-ipc", rules: &["no-host-namespaces"], page: "skipped" },
    Case { name: "cap-sys-admin", rules: &["no-added-capabilities"], page: "skipped" },
    Case { name: "cap-all", rules: &["no-added-capabilities"], page: "skipped" },
    Case { name: "device", rules: &["no-devices"], page: "skipped" },
    Case { name: "seccomp-unconfined", rules: &["default-security-profiles"], page: "skipped" },
    Case { name: "volume-bind-in-disguise", rules: &["no-host-paths"], page: "skipped" },
    Case { name: "privileged-anchor", rules: &["no-privileged"], page: "skipped" },
    Case { name: "privileged-extends", rules: &["no-privileged"], page: "skipped" },
    // Asked for something refused, then went on: the page is served, the refusal still costs full marks.
    Case { name: "curl-socket", rules: &["no-privileged"], page: "passed" },
    Case { name: "other-runs-container", rules: &["own-objects-only"], page: "passed" },
    // Contained: held at a cap, or stopped at it.
    Case { name: "fork-bomb", rules: &["pids"], page: "passed" },
    Case { name: "memory-hog", rules: &["memory"], page: "passed" },
    Case { name: "disk-writer", rules: &["disk"], page: "passed" },
    Case { name: "output-flood", rules: &["output"], page: "passed" },
    // Published on every interface (0.0.0.0, -P): bound to loopback instead, the page still served,
    // nothing to fault (publishing is what the lab asks for); the watcher sees no other address.
    Case { name: "publish-everywhere", rules: &[], page: "passed" },
    // A build that tries to reach the grading machine, the internet by address, and a host the course
    // does not name through the build's proxy: it builds only if all of that fails (and the Debian
    // mirror answers), so the page is served; the refused host is reported.
    Case { name: "build-escape", rules: &["build-egress"], page: "passed" },
    // Ended by the run's wall clock (--timeout 20): its checks fail, saying so.
    Case { name: "never-ends", rules: &[], page: "failed" },
];

/// `check hostile --up` on one fixture submission; returns (exit code, report, stderr).
fn grade(case: &str, project: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let output = cargo_bin_cmd!("xtask")
        .arg("--course")
        .arg(fixtures().join("course"))
        .args(["check", "hostile", "--up", "--format", "json", "--out"])
        .arg(out.path())
        .arg("--submission")
        .arg(fixtures().join("submissions").join(case))
        .args(["--var", &format!("project={project}"), "--var", &format!("web_port={}", free_port())])
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_str(&std::fs::read_to_string(out.path()).unwrap_or_default()).unwrap_or_default();
    (output.status.code().unwrap_or(-1), report, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    report["steps"]
        .as_array()?
        .iter()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .find(|c| c["id"] == id)
}

/// The rules the report's `sandbox` step names (its checks are `sandbox-<rule>`).
fn sandbox_rules(report: &serde_json::Value) -> BTreeSet<String> {
    report["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["id"] == "sandbox")
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .map(|c| {
            c["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("sandbox-")
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
                .to_string()
        })
        .collect()
}

/// Processes still running this test's xtask binary (a grader, or a sentinel that stayed), once
/// those on their way out (a sentinel that just reaped) have had a few seconds to go.
fn xtask_processes() -> Vec<u32> {
    let xtask = std::fs::canonicalize(assert_cmd::cargo::cargo_bin!("xtask")).unwrap();
    let running = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == xtask))
            .collect()
    };
    for _ in 0..100 {
        if running().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    running()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The lock orders tests that each have a runtime of their own: held across awaits on purpose.
#[allow(clippy::await_holding_lock)]
async fn every_hostile_submission_is_refused_or_contained_and_leaves_nothing() {
    if !integration("every_hostile_submission_is_refused_or_contained_and_leaves_nothing") {
        return;
    }
    let _one = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let scope = testkit::EngineScope::new();
    let id = scope.id().to_string();
    // The container `other-runs-container` tries to remove: not the run's, so it must stay.
    let victim = format!("h{id}other-runs-container-victim");
    let mut create: Vec<String> = vec!["create".into(), "--name".into(), victim.clone()];
    create.extend(scope.label_args());
    create.extend(["containerlabs/debian:bookworm".into(), "true".into()]);
    assert!(testkit::docker_cli().args(&create).output().unwrap().status.success());
    let before = engine_objects();
    let runs_before: BTreeSet<_> = std::fs::read_dir(std::env::temp_dir().join("clabs-runs"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let watcher = tokio::spawn(watch_creates(stopped));
    // Where `build-escape` tries to get out: a port of this machine that a listener counts
    // connections on, and the address of a host this machine itself reaches (the Debian mirror's).
    let probe = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let probe_port = probe.local_addr().unwrap().port().to_string();
    probe.set_nonblocking(true).unwrap();
    let mirror =
        std::net::ToSocketAddrs::to_socket_addrs("deb.debian.org:80").ok().and_then(|mut a| a.find(|a| a.is_ipv4()));
    let probe_ip = match mirror {
        Some(address) if std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(5)).is_ok() => {
            address.ip().to_string()
        }
        _ => {
            eprintln!("note: deb.debian.org does not answer from here; build-escape's direct try proves less");
            "192.0.2.1".to_string()
        }
    };

    // The control first: a well-behaved submission gets full marks through the same sandbox.
    let (code, report, stderr) = grade("well-behaved", &format!("h{id}well-behaved"), &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert!(sandbox_rules(&report).is_empty(), "{report:#}");

    // Three at a time: two cores, and each mostly waits on the engine.
    let results = Arc::new(Mutex::new(Vec::new()));
    for chunk in CASES.chunks(3) {
        std::thread::scope(|threads| {
            for case in chunk {
                let (results, id) = (results.clone(), id.clone());
                let probe = [format!("probe_tcp={probe_port}"), format!("probe_ip={probe_ip}")];
                threads.spawn(move || {
                    let mut extra = vec!["--var", &probe[0], "--var", &probe[1]];
                    if case.name == "never-ends" {
                        extra.extend(["--timeout", "20"]);
                    }
                    let graded = grade(case.name, &format!("h{id}{}", case.name), &extra);
                    results.lock().unwrap().push((case, graded));
                });
            }
        });
    }
    let _ = stop.send(());
    let (violations, seen) = watcher.await.unwrap();

    let mut wrong = Vec::new();
    for (case, (code, report, stderr)) in results.lock().unwrap().iter() {
        let rules = sandbox_rules(report);
        let expected: BTreeSet<String> = case.rules.iter().map(|r| r.to_string()).collect();
        let page = check(report, "serve-page").map(|c| c["status"].as_str().unwrap_or_default()).unwrap_or("missing");
        // Full marks only for a case the sandbox contained without a fault.
        let want = if expected.is_empty() && case.page == "passed" { 0 } else { 1 };
        if *code != want || rules != expected || page != case.page {
            wrong.push(format!(
                "{}: exit {code}, sandbox rules {rules:?} (expected {expected:?}), serve-page {page} (expected {})\n{stderr}\n{report:#}",
                case.name, case.page
            ));
        }
        // Every failure says what the rule is, for the student.
        for failed in report["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["id"] == "sandbox")
            .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        {
            if failed["hint"].as_str().unwrap_or_default().is_empty()
                || failed["actual"].as_str().unwrap_or_default().is_empty()
            {
                wrong.push(format!("{}: a sandbox check without a reason or a hint: {failed}", case.name));
            }
        }
    }
    // What the sandbox moved to loopback is said in the report, as a note (no fault, no points);
    // a submission that asked for loopback has no note.
    assert!(report.get("notes").is_none(), "well-behaved: {report:#}");
    let everywhere =
        results.lock().unwrap().iter().find(|(c, _)| c.name == "publish-everywhere").map(|(_, g)| g.1.clone()).unwrap();
    let notes: Vec<&str> = everywhere["notes"].as_array().into_iter().flatten().filter_map(|n| n.as_str()).collect();
    assert!(
        notes.len() == 1
            && notes[0].starts_with("adjusted: ")
            && notes[0].contains("8080/tcp on every interface")
            && notes[0].contains("published on 127.0.0.1 only"),
        "{everywhere:#}"
    );
    // No build reached this machine's port; the refused host is named; the run's host rules are gone.
    let reached: Vec<_> = std::iter::from_fn(|| probe.accept().ok().map(|(_, from)| from)).collect();
    assert!(reached.is_empty(), "a build reached this machine's port {probe_port} from {reached:?}");
    let escape =
        results.lock().unwrap().iter().find(|(c, _)| c.name == "build-escape").map(|(_, g)| g.1.clone()).unwrap();
    let refused = check(&escape, "sandbox-build-egress").map(|c| c["actual"].to_string()).unwrap_or_default();
    assert!(refused.contains("a connection to crates.io:443"), "{escape:#}");
    let rules = std::process::Command::new("iptables").args(["-w", "-S", "INPUT"]).output().unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(!rules.contains("clabs-run-"), "a run's host rules were left:\n{rules}");
    let never = results.lock().unwrap().iter().find(|(c, _)| c.name == "never-ends").map(|(_, g)| g.1.clone()).unwrap();
    let page = check(&never, "serve-page").unwrap();
    assert!(page["actual"].as_str().unwrap().contains("within the run's wall clock (20 s)"), "{page}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));

    // Nothing the sandbox let through was ever privileged, on the host's namespaces, and so on.
    assert!(violations.is_empty(), "containers that existed with forbidden settings: {violations:?}");
    assert!(seen > CASES.len(), "the watcher saw the runs' containers ({seen})");
    // The engine holds exactly what it held before; the victim is untouched; no run directory or process is left.
    assert_eq!(engine_objects(), before, "the engine changed");
    assert!(testkit::docker_cli().args(["inspect", &victim]).output().unwrap().status.success());
    let runs_after: BTreeSet<_> = std::fs::read_dir(std::env::temp_dir().join("clabs-runs"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert_eq!(runs_after, runs_before, "a run's directory was left");
    assert_eq!(xtask_processes(), Vec::<u32>::new(), "a grader or sentinel process was left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The lock orders tests that each have a runtime of their own: held across awaits on purpose.
#[allow(clippy::await_holding_lock)]
async fn a_grader_killed_mid_run_is_reaped_by_its_sentinel() {
    if !integration("a_grader_killed_mid_run_is_reaped_by_its_sentinel") {
        return;
    }
    let _one = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let mut grader = std::process::Command::new(assert_cmd::cargo::cargo_bin!("xtask"))
        .arg("--course")
        .arg(fixtures().join("course"))
        .args(["check", "hostile", "--up", "--submission"])
        .arg(fixtures().join("submissions/never-ends"))
        .args(["--var", &format!("project=hkill{}", std::process::id()), "--var", &format!("web_port={}", free_port())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Its run, found by the owner label of its toolbox once the submission's command runs.
    let docker = testkit::engine_endpoint().docker().unwrap();
    let owned_by = format!(":{}:", grader.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let run = loop {
        assert!(std::time::Instant::now() < deadline, "the grader's toolbox never appeared");
        let filters: std::collections::HashMap<&str, Vec<&str>> =
            [("label", vec!["org.containerlabs.role=toolbox"])].into_iter().collect();
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default().filters(&filters).build();
        let found = docker.list_containers(Some(options)).await.unwrap().into_iter().find_map(|c| {
            let labels = c.labels.unwrap_or_default();
            labels.get("org.containerlabs.owner").filter(|o| o.contains(&owned_by))?;
            labels.get("org.containerlabs.run").cloned()
        });
        if let Some(run) = found {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    grader.kill().unwrap();
    grader.wait().unwrap();
    let selector = format!("org.containerlabs.run={run}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let left = sandbox::reaper::leftovers(&docker, &selector, true).await.unwrap();
        let dir = std::env::temp_dir().join("clabs-runs").join(&run);
        if left.is_empty() && !dir.exists() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sentinel did not reap run {run}: {left:?}, dir {}",
            dir.exists()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(xtask_processes(), Vec::<u32>::new(), "the sentinel is gone too");
}

#[test]
fn a_submissions_build_script_never_runs() {
    if !integration("a_submissions_build_script_never_runs") {
        return;
    }
    let _one = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let marker = std::env::temp_dir().join("clabs-buildrs-pwned");
    let _ = std::fs::remove_file(&marker);
    let submission = fixtures().join("buildrs");
    // The fixture is real: building it writes the file.
    let target = tempfile::tempdir().unwrap();
    let built = std::process::Command::new(env!("CARGO"))
        .current_dir(&submission)
        .args(["build", "--quiet", "--offline"])
        .env("CARGO_TARGET_DIR", target.path())
        .status()
        .unwrap();
    assert!(built.success() && marker.exists(), "building the fixture runs its build.rs");
    std::fs::remove_file(&marker).unwrap();
    // `--up` starts the course's own servers with the submission's files, and builds nothing of it.
    let (site, app) = (free_port(), free_port());
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab1", "--up", "--format", "json", "--submission"])
        .arg(&submission)
        .args(["--var", &format!("site_port={site}"), "--var", &format!("app_port={app}")])
        .args(["--var", &format!("site_container=clabs-lab1-site-buildrs-{}", std::process::id())])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(0 | 1)), "graded: {stderr}");
    assert!(!marker.exists(), "the submission's build.rs ran: {stderr}");
    assert!(!submission.join("target").exists(), "nothing was built in the submission");
}
