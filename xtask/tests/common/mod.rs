//! Helpers for the xtask integration tests: the fixture server and report parsing.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::process::Command;

pub use testkit::{free_port, integration, port_is_open, wait_for_port, Process};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Builds `packages`' binaries once per call (cargo makes that a no-op when they are fresh;
/// `cargo test -p xtask` alone would not rebuild another package's binary); returns their directory.
pub fn binaries(packages: &[&str]) -> PathBuf {
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "-q"]);
    for package in packages {
        build.args(["-p", package]);
    }
    assert!(build.status().unwrap().success(), "building {packages:?} failed");
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The `bad-lab1` fixture binary, brought up to date once per test process.
pub fn bad_lab1() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| binaries(&["testkit"])).join("bad-lab1")
}

/// Starts `bad-lab1 --fault FAULT`; returns it with (site_port, app_port). The fixture binds the
/// ports it serves itself (port 0: the kernel's choice, taken at once) and says which, so no other
/// process can take one between its choice and its bind; a port its fault leaves unserved is a
/// held free one, where nothing listens.
pub fn start_fixture(fault: &str) -> (Process, u16, u16) {
    let port = |unserved: bool| if unserved { free_port() } else { 0 };
    let (site, app) = (port(fault == "no-site"), port(fault == "no-app"));
    let child = Command::new(bad_lab1())
        .args(["--fault", fault, "--site-port", &site.to_string(), "--app-port", &app.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut process = Process(child);
    let output = process.0.stdout.take().expect("piped");
    let (site, app) =
        testkit::fixture_ports(output).unwrap_or_else(|| panic!("bad-lab1 --fault {fault} said no ports"));
    (process, site, app)
}

/// The ids of checks with `status` in our JSON report.
pub fn ids_with_status(report: &serde_json::Value, status: &str) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap().iter())
        .filter(|c| c["status"] == status)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts every check of `rubric` (a path in the workspace) is in `covered`: each has a known-bad variant.
pub fn assert_covers_rubric(rubric: &str, covered: &std::collections::BTreeSet<String>) {
    let text = std::fs::read_to_string(workspace().join(rubric)).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let ids: std::collections::BTreeSet<String> =
        table["check"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    let missing: Vec<&String> = ids.difference(covered).collect();
    assert!(missing.is_empty(), "{rubric}: checks without a known-bad variant: {missing:?}");
}

/// Every container created while it runs, inspected at once: what the sandbox let through.
/// Returns the `policy` violations seen (there must be none) and how many containers it saw. The
/// grader's own toolbox mounts one socket, its run's proxy (never the engine's): that is its job.
pub async fn watch_creates(stop: tokio::sync::oneshot::Receiver<()>) -> (Vec<String>, usize) {
    let docker = testkit::engine_endpoint().docker().unwrap();
    let filters: std::collections::HashMap<&str, Vec<&str>> =
        [("type", vec!["container"]), ("event", vec!["create"])].into_iter().collect();
    let options = bollard::query_parameters::EventsOptionsBuilder::default().filters(&filters).build();
    let mut events = futures_util::StreamExt::boxed(docker.events(Some(options)));
    let (mut violations, mut seen) = (Vec::new(), 0);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            event = futures_util::StreamExt::next(&mut events) => {
                let Some(Ok(event)) = event else { break };
                let Some(id) = event.actor.and_then(|a| a.id) else { continue };
                if let Ok(found) = docker.inspect_container(&id, None).await {
                    seen += 1;
                    let name = found.name.clone().unwrap_or_default();
                    let toolbox = found.config.and_then(|c| c.labels).unwrap_or_default().get("org.containerlabs.role").is_some_and(|r| r == "toolbox");
                    let host = serde_json::to_value(found.host_config.unwrap_or_default()).unwrap();
                    // Whatever a submission asked for, its ports are published on loopback only.
                    for (port, bindings) in host["PortBindings"].as_object().into_iter().flatten() {
                        for binding in bindings.as_array().into_iter().flatten() {
                            let ip = binding["HostIp"].as_str().unwrap_or_default();
                            if !toolbox && ip != "127.0.0.1" && ip != "::1" {
                                violations.push(format!("{name}: {port} published on {ip:?}, not loopback"));
                            }
                        }
                    }
                    let proxy_socket = |field: &str| {
                        let source = field.trim_start_matches("volumes: ").split(':').next().unwrap_or_default();
                        source.starts_with(&std::env::temp_dir().join("clabs-runs").display().to_string()) && source.ends_with("/docker.sock")
                    };
                    violations.extend(
                        policy::host_config(&host)
                            .into_iter()
                            .filter(|v| !(toolbox && v.rule == policy::Rule::EngineSocket && proxy_socket(&v.field)))
                            .map(|v| format!("{name}: {v}")),
                    );
                }
            }
        }
    }
    (violations, seen)
}

/// Every container, volume and network id in the engine.
pub fn engine_objects() -> std::collections::BTreeSet<String> {
    let mut all = std::collections::BTreeSet::new();
    for args in [&["ps", "-aq", "--no-trunc"][..], &["volume", "ls", "-q"], &["network", "ls", "-q", "--no-trunc"]] {
        let output = testkit::docker_cli().args(args).output().unwrap();
        all.extend(String::from_utf8_lossy(&output.stdout).split_whitespace().map(|s| format!("{} {s}", args[0])));
    }
    all
}

/// A CSV with a `student` column (a gradebook, a collected roster), as rows by student, each a
/// map from column to value.
pub fn rows_by_student(
    path: &std::path::Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let row: std::collections::BTreeMap<String, String> =
                headers.iter().zip(r.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect();
            (row["student"].clone(), row)
        })
        .collect()
}

/// Runs `git ARGS` in `dir` as a student would, dated `date` (author and committer; RFC 3339), with
/// no configuration of this machine; returns its output, trimmed. A failure fails the test.
pub fn git_at(dir: &std::path::Path, date: &str, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .args(["-c", "user.name=Student", "-c", "user.email=student@example.test", "-c", "init.defaultBranch=main"])
        .args(["-c", "protocol.file.allow=always"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Writes the course's answer of each of `steps` into `checkout` (a student's clone laid out like
/// the course): each step's `solution/` files at their places, as a student who did the work has
/// them. A step whose answer lives in another step's files (lab 3's cache) has no `solution/`.
pub fn write_answers(checkout: &std::path::Path, steps: &[&str]) {
    let curriculum = grading::Curriculum::load(&workspace()).unwrap();
    for step in curriculum.labs.iter().flat_map(|l| &l.steps).filter(|s| steps.contains(&s.id.as_str())) {
        let solution = workspace().join(&step.dir).join("solution");
        if !solution.is_dir() {
            continue;
        }
        let status = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", solution.display()))
            .arg(checkout.join(&step.dir))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// The checks of `report` that did not pass, a line each with why: put last in a failing
/// assertion's message, where a log cut short to its end still shows it.
pub fn why(report: &serde_json::Value) -> String {
    let mut lines = vec!["-- checks not passed:".to_string()];
    for check in
        report["steps"].as_array().into_iter().flatten().flat_map(|s| s["checks"].as_array().into_iter().flatten())
    {
        if check["status"] != "passed" {
            let text = |key: &str| check[key].as_str().map(str::to_string).unwrap_or_else(|| check[key].to_string());
            lines.push(format!(
                "{} {}: {} | expected {} | actual {}",
                text("status"),
                text("id"),
                text("reason"),
                text("expected"),
                text("actual")
            ));
        }
    }
    if let Some(error) = report["error"].as_str() {
        lines.push(format!("error: {error}"));
    }
    lines.join("\n")
}

/// Renders `page` in headless Chromium (Debian's `chromium`; `cargo xtask test` installs it) at
/// `width`x`height` CSS pixels and returns the screenshot's RGB pixels, row by row; the PNG is
/// kept at `keep`.
pub fn screenshot(page: &std::path::Path, width: u32, height: u32, keep: &std::path::Path) -> Vec<[u8; 3]> {
    let profile = tempfile::tempdir().unwrap();
    if let Some(dir) = keep.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let output = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", keep.display()))
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .expect("chromium (Debian's package) runs the browser tests: apt-get install chromium");
    assert!(output.status.success() && keep.is_file(), "chromium: {}", String::from_utf8_lossy(&output.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(keep).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    buffer[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect()
}

/// `#rrggbb` as bytes.
pub fn rgb(hex: &str) -> [u8; 3] {
    let byte = |i: usize| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap();
    [byte(0), byte(1), byte(2)]
}
