//! Lab 1 end to end: the reference scores full marks, and every check has a known-bad variant
//! that turns exactly that check red; a newcomer following lab 1's chapters from a fresh student
//! repository reaches full marks. Integration tests: they need ports, processes and the engine.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Grades lab 1 against whatever listens on the two ports; returns (exit code, JSON report, stderr).
/// The submission is the course's solutions unless `extra` names one (`--submission`, or
/// `--workspace` for the starter files as they are), graded as a copy. The board's configuration
/// names the lab's port (`PORT=3000`); with `--up` the grader runs it on the test's app port, as it
/// does when it grades side by side. The site's container, if `--up` makes one, has a name of this
/// test's own.
fn grade(site: u16, app: u16, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    let starter = extra.iter().position(|a| a == "--workspace").map(|i| extra.remove(i)).is_some();
    let copy = tempfile::tempdir().unwrap();
    if !starter {
        let given = extra.iter().position(|a| a == "--submission").map(|i| {
            extra.remove(i);
            PathBuf::from(extra.remove(i))
        });
        let solutions = given.is_none().then(|| xtask::selection::solutions(&workspace(), "lab1").unwrap());
        let from = given.unwrap_or_else(|| solutions.as_ref().unwrap().path().to_path_buf());
        let copied = std::process::Command::new("cp").arg("-a").arg(from.join(".")).arg(copy.path()).status().unwrap();
        assert!(copied.success());
        extra.extend(["--submission".to_string(), copy.path().display().to_string()]);
    }
    let container = format!("site_container=clabs-lab1-site-{}-{site}", std::process::id());
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab1", "--format", "json", "--out"])
        .arg(out.path())
        .args(["--var", &format!("site_port={site}"), "--var", &format!("app_port={app}"), "--var", &container])
        .args(&extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    let report = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (output.status.code().unwrap_or(-1), report, stderr)
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Runs the fixture with `fault`, grades it, and asserts exactly `failed` fail.
fn check_fault(fault: &str, failed: &[&str], extra: &[&str]) {
    let (_server, site, app) = start_fixture(fault);
    let (code, report, stderr) = grade(site, app, extra);
    assert_ne!(report, serde_json::Value::Null, "{fault}: no report; stderr: {stderr}");
    let got: BTreeSet<String> = ids_with_status(&report, "failed").into_iter().collect();
    assert_eq!(
        got,
        set(failed),
        "fault {fault}: failed checks differ\n{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    // Without --up the restart check cannot run: it is skipped, never failed or passed.
    let skipped = ids_with_status(&report, "skipped");
    if extra.is_empty() {
        assert!(skipped.contains(&"app-state-survives-restart".to_string()), "{fault}: {skipped:?}");
    }
    assert_eq!(code, 1, "{fault}: a report with a failed or skipped check exits 1");
    for check in report["steps"].as_array().unwrap().iter().flat_map(|s| s["checks"].as_array().unwrap()) {
        if check["status"] == "failed" {
            assert!(check["expected"].as_str().is_some_and(|e| !e.is_empty()), "{fault}: {check}");
            assert!(check["actual"].as_str().is_some_and(|a| !a.is_empty()), "{fault}: {check}");
        }
    }
}

#[test]
fn each_fault_fails_exactly_its_checks() {
    if !integration("each_fault_fails_exactly_its_checks") {
        return;
    }
    let table: &[(&str, &[&str])] = &[
        ("none", &[]),
        ("no-title", &["site-index-title"]),
        ("css-as-text", &["site-content-type"]),
        ("html-as-text", &["site-html-type"]),
        ("soft-404", &["site-404"]),
        ("bare-404", &["site-own-404"]),
        ("no-cache-control", &["site-cache-control"]),
        ("traversal", &["site-no-traversal"]),
        ("encoded-traversal", &["site-no-encoded-traversal"]),
        ("no-site", &["site-answers", "site-still-answers"]),
        ("no-app", &["app-answers"]),
        ("info-without-version", &["app-info-fields"]),
        ("post-broken", &["app-posts-message"]),
        ("accepts-empty", &["app-rejects-empty"]),
        ("accepts-oversized", &["app-rejects-oversized"]),
    ];
    let covered: BTreeSet<&str> = table.iter().map(|(fault, _)| *fault).chain(["forgets"]).collect();
    assert_eq!(covered, testkit::FAULTS.iter().copied().collect(), "every fixture fault is in the table");
    std::thread::scope(|scope| {
        for (fault, failed) in table {
            scope.spawn(move || check_fault(fault, failed, &[]));
        }
    });
}

#[test]
fn a_submission_without_a_title_fails_the_file_check() {
    if !integration("a_submission_without_a_title_fails_the_file_check") {
        return;
    }
    let submission = workspace().join("xtask/tests/fixtures/submissions/lab1-untitled");
    check_fault("none", &["site-index-file"], &["--submission", submission.to_str().unwrap()]);
}

/// The held-out finding: a site folder holding links out of the web root (nginx serves
/// /etc/passwd through one). The page itself is fine; the links fail their own check only.
#[test]
fn a_site_with_links_out_of_it_fails_site_no_links_out() {
    if !integration("a_site_with_links_out_of_it_fails_site_no_links_out") {
        return;
    }
    let submission = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    let site = submission.path().join("labs/static-site/site");
    std::os::unix::fs::symlink("/etc/passwd", site.join("passwd.txt")).unwrap();
    std::os::unix::fs::symlink("../../../..", site.join("files")).unwrap();
    check_fault("none", &["site-no-links-out"], &["--submission", submission.path().to_str().unwrap()]);
}

/// What a real site must not expose, two faults in one submission, each failing its own check:
/// a dotfile and an editor's backup left in the web root, and a server block that lists folders.
#[test]
fn hidden_files_in_the_web_root_and_folder_listings_fail_their_checks() {
    if !integration("hidden_files_in_the_web_root_and_folder_listings_fail_their_checks") {
        return;
    }
    let submission = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    let site = submission.path().join("labs/static-site/site");
    std::fs::write(site.join(".env"), "DB_PASSWORD=hunter2\n").unwrap();
    std::fs::write(site.join("about.html~"), "<html></html>\n").unwrap();
    let conf = submission.path().join("labs/static-site/nginx/site.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("    index index.html;\n", "    index index.html;\n    autoindex on;\n"))
        .unwrap();
    let path = submission.path().display().to_string();
    check_fault("none", &["site-no-hidden-files", "site-no-listing"], &["--submission", &path]);
}

/// The board's configuration as packaged (port 80, no data file), graded by hand: its two file
/// checks fail, whatever runs on the ports.
#[test]
fn a_board_configuration_left_as_packaged_fails_its_file_checks() {
    if !integration("a_board_configuration_left_as_packaged_fails_its_file_checks") {
        return;
    }
    let submission = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    std::fs::copy(workspace().join("labs/app-port/board.env"), submission.path().join("labs/app-port/board.env"))
        .unwrap();
    let path = submission.path().display().to_string();
    check_fault("none", &["app-config-port", "app-config-data"], &["--submission", &path]);
}

#[test]
fn a_stopped_site_fails_only_site_still_answers_in_the_app_step() {
    if !integration("a_stopped_site_fails_only_site_still_answers_in_the_app_step") {
        return;
    }
    let (_server, site, app) = start_fixture("no-site");
    let (_, report, _) = grade(site, app, &["--step", "app-port"]);
    assert_eq!(ids_with_status(&report, "failed"), vec!["site-still-answers"]);
}

#[test]
fn the_reference_scores_full_marks_with_up_and_leaves_nothing_running() {
    if !integration("the_reference_scores_full_marks_with_up_and_leaves_nothing_running") {
        return;
    }
    let (site, app) = (free_port(), free_port());
    let (code, report, stderr) = grade(site, app, &["--up"]);
    assert_eq!(code, 0, "stderr: {stderr}\nreport: {report}");
    assert_eq!(report["score"], report["max_score"]);
    assert_eq!(ids_with_status(&report, "passed").len(), 22);
    assert!(!port_is_open(site) && !port_is_open(app), "--up stops what it started");
    // The starter files as a fresh clone has them: the server block still listens on port 80 and
    // the board's configuration keeps port 80, so neither starts (by hand, neither would answer
    // where the lab looks) and every check of the running system fails with why, or waits on one
    // that does: no points. Each failure names a TODO.
    let (code, report, stderr) = grade(site, app, &["--up", "--workspace"]);
    assert_eq!(code, 1, "stderr: {stderr}\nreport: {report}");
    assert_eq!(report["score"], 0, "{report:#}");
    let failed: BTreeSet<String> = ids_with_status(&report, "failed").into_iter().collect();
    let expected = ["site-index-file", "site-answers", "app-config-port", "app-config-data", "app-answers"];
    assert_eq!(failed, expected.iter().map(|s| s.to_string()).collect(), "{report:#}");
    for check in report["steps"].as_array().unwrap().iter().flat_map(|s| s["checks"].as_array().unwrap()) {
        let id = check["id"].as_str().unwrap();
        if check["status"] == "failed" {
            assert!(check["hint"].as_str().unwrap().contains("TODO("), "{check}");
        }
        if id == "site-answers" {
            assert!(check["actual"].as_str().unwrap().contains("listens on port 80, and the lab asks for"), "{check}");
        }
        if id == "app-answers" {
            assert!(check["actual"].as_str().unwrap().contains("sets PORT=80"), "{check}");
        }
    }
    assert!(!port_is_open(site) && !port_is_open(app), "--up stops what it started");
    // The course's answer with a board that keeps messages in memory only: its restart loses them.
    let forgetful = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    std::fs::write(forgetful.path().join("labs/app-port/board.env"), "PORT=3000\n").unwrap();
    let path = forgetful.path().display().to_string();
    let (code, report, stderr) = grade(site, app, &["--up", "--submission", &path]);
    assert_eq!(code, 1, "stderr: {stderr}\nreport: {report}");
    assert_eq!(ids_with_status(&report, "failed"), ["app-config-data", "app-state-survives-restart"], "{report:#}");
    let name = format!("name=clabs-lab1-site-{}-{site}", std::process::id());
    let left = testkit::docker_cli().args(["ps", "-aq", "--filter", &name]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "", "the site's container is removed");
}

/// Lab 1 done by hand, as a student would: nginx (Debian's package, in a container the test
/// starts) with the course's server block and site, and the board started with its configuration.
/// Graded without --up, with --allow-restarts: full marks - the restart check stops the board and
/// starts it again as it was.
#[test]
fn lab1_done_by_hand_gets_full_marks_without_up() {
    if !integration("lab1_done_by_hand_gets_full_marks_without_up") {
        return;
    }
    let submission = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    let step = submission.path().join("labs/static-site");
    // nginx's workers are not root: they must be able to read the site.
    let status = std::process::Command::new("chmod").args(["-R", "a+rX"]).arg(submission.path()).status().unwrap();
    assert!(status.success());
    let scope = testkit::EngineScope::new();
    let port = free_port();
    let mut run: Vec<String> = vec!["run".into(), "-d".into()];
    run.extend(scope.label_args());
    run.extend(["-p".into(), format!("127.0.0.1:{port}:8080"), "-v".into()]);
    run.push(format!("{}:/var/www/portfolio:ro", step.join("site").display()));
    run.push("-v".into());
    run.push(format!("{}:/etc/nginx/conf.d/default.conf:ro", step.join("nginx/site.conf").display()));
    run.push("containerlabs/nginx:1.27-standin".into());
    let started = testkit::docker_cli().args(&run).output().unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    wait_for_port(port);
    // The board, by hand: the course's configuration, on this test's port, its data in a folder here.
    let app = free_port();
    let board = tempfile::tempdir().unwrap();
    let config = step.parent().unwrap().join("app-port/board.env");
    std::fs::write(&config, format!("PORT={app}\nDATA_FILE=data/messages.jsonl\n")).unwrap();
    let started = std::process::Command::new(binaries(&["app-port"]).join("app-port"))
        .arg("--config")
        .arg(&config)
        .current_dir(board.path())
        .env_remove("PORT")
        .env_remove("DATA_FILE")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _board = Process(started);
    wait_for_port(app);
    let path = submission.path().display().to_string();
    // A board configured for another port than the lab's: the grader is told which.
    let board_port = format!("board_port={app}");
    let (code, report, stderr) = grade(port, app, &["--allow-restarts", "--submission", &path, "--var", &board_port]);
    // The board the grader started again is this test's to stop.
    let restarted = xtask::grade::hand::listener(app);
    if let Some(pid) = restarted {
        xtask::process::signal(pid, libc::SIGTERM);
    }
    assert_eq!(code, 0, "stderr: {stderr}\nreport: {report:#}");
    assert_eq!(report["score"], report["max_score"]);
    assert!(stderr.contains("restarted app: pid"), "{stderr}");
    assert!(restarted.is_some(), "the board runs again after its restart");
    assert!(board.path().join("data/messages.jsonl").exists(), "in the folder it was started in");
}

#[test]
fn grading_twice_gives_the_same_result() {
    if !integration("grading_twice_gives_the_same_result") {
        return;
    }
    let (_server, site, app) = start_fixture("soft-404");
    let strip = |mut report: serde_json::Value| {
        report["duration_ms"] = 0.into();
        // When, and the copy of the submission each grading makes: the rest of whose and what stays.
        for key in ["started_at", "finished_at", "student", "submission"] {
            report["provenance"][key] = serde_json::Value::Null;
        }
        for step in report["steps"].as_array_mut().unwrap() {
            for check in step["checks"].as_array_mut().unwrap() {
                check["duration_ms"] = 0.into();
            }
        }
        report
    };
    let first = strip(grade(site, app, &[]).1);
    let second = strip(grade(site, app, &[]).1);
    assert_eq!(first, second);
}

#[test]
fn up_refuses_a_busy_port_with_one_clear_line() {
    if !integration("up_refuses_a_busy_port_with_one_clear_line") {
        return;
    }
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = holder.local_addr().unwrap().port();
    let app = free_port();
    let (code, _, stderr) = grade(busy, app, &["--up"]);
    assert_eq!(code, 2);
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(error[0].contains(&format!("127.0.0.1:{busy} is already in use")), "{stderr}");
    assert!(!port_is_open(app), "nothing was started");
}

#[test]
fn ctrl_c_during_up_stops_everything_and_exits_2() {
    if !integration("ctrl_c_during_up_stops_everything_and_exits_2") {
        return;
    }
    // A course whose only check waits 60 s, so the interrupt lands mid-grading, deterministically.
    let course = tempfile::tempdir().unwrap();
    let site = free_port();
    let closed = free_port();
    std::fs::create_dir_all(course.path().join("labs/slow")).unwrap();
    std::fs::write(
        course.path().join("labs/labs.toml"),
        format!(
            "format_version = 1\n[[lab]]\nid = \"slow\"\ntitle = \"Slow\"\nsummary = \"s\"\nvars = {{ port = \"{site}\" }}\nper_job = {{ ports = [\"port\"] }}\n\
             [[lab.step]]\nid = \"wait\"\ntitle = \"Wait\"\ndir = \"labs/slow\"\n\
             [[lab.service]]\nname = \"site\"\npackage = \"static-site\"\nargs = [\"--bind\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"--root\", \"{{submission}}/labs/static-site/site\"]\nready = \"127.0.0.1:{{port}}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        course.path().join("labs/slow/rubric.toml"),
        format!("[[check]]\nid = \"never\"\ntitle = \"Never\"\npoints = 1\nhint = \"h\"\ntimeout = \"60s\"\n[check.tcp]\naddress = \"127.0.0.1:{closed}\"\n"),
    )
    .unwrap();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("xtask"));
    command.arg("--course").arg(course.path()).args(["check", "slow", "--up", "--submission"]).arg(workspace());
    command.stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    // Once the service answers, the grader is starting or running its 60 s check: interrupt it.
    // (It builds the server first: on a fresh checkout, beside other tests' builds, that takes a while.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !port_is_open(site) {
        assert!(std::time::Instant::now() < deadline, "the service never answered on {site}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    xtask::process::signal(child.id(), libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: interrupted: stopped everything --up had started"), "{stderr}");
    assert!(!port_is_open(site), "the service --up started is gone");
}

#[test]
fn up_then_down_starts_and_stops_the_services() {
    if !integration("up_then_down_starts_and_stops_the_services") {
        return;
    }
    // A copy of the course, so the state file lives in a temporary target/ of its own.
    let course = tempfile::tempdir().unwrap();
    for file in ["labs/labs.toml", "labs/static-site/rubric.toml", "labs/app-port/rubric.toml"] {
        std::fs::create_dir_all(course.path().join(file).parent().unwrap()).unwrap();
        std::fs::copy(workspace().join(file), course.path().join(file)).unwrap();
    }
    let (site, app) = (free_port(), free_port());
    let xtask = || {
        let mut command = cargo_bin_cmd!("xtask");
        command.arg("--course").arg(course.path());
        command
    };
    // Whatever happens below, stop what `up` started.
    struct Down<'a>(&'a std::path::Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = cargo_bin_cmd!("xtask").arg("--course").arg(self.0).args(["down", "lab1"]).output();
        }
    }
    let _down = Down(course.path());
    // The course's answers, the board configured for the lab's port (run on this test's).
    let submission = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    std::fs::write(submission.path().join("labs/app-port/board.env"), "PORT=3000\nDATA_FILE=m.jsonl\n").unwrap();
    let output = xtask()
        .args(["up", "lab1", "--submission"])
        .arg(submission.path())
        .args(["--var", &format!("site_port={site}"), "--var", &format!("app_port={app}")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&format!("--var site_port={site}")), "{stdout}");
    assert!(port_is_open(site) && port_is_open(app), "up leaves the services running");
    let again = xtask().args(["up", "lab1"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("lab1 is already up"));
    let output = xtask().args(["down", "lab1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    // The app is a process of the course's; the site is nginx in a container of the run.
    assert!(stdout.contains("app: stopped") && stdout.contains("site: removed"), "{stdout}");
    assert!(!port_is_open(site) && !port_is_open(app), "down stops them");
    assert!(!course.path().join("target/clabs/lab1.json").exists());
    let output = xtask().args(["down", "lab1"]).output().unwrap();
    assert!(output.status.success() && String::from_utf8_lossy(&output.stdout).contains("nothing to stop"));
}

// A newcomer follows lab 1's chapters of the course book, from a fresh student repository to full
// marks, as far as the steps can be scripted: every file a chapter's tasks show in full (a code
// block marked `file=PATH`) is written as shown, and every `cargo xtask check ... --up` a task
// gives is run - its output must hold the result the chapter says it shows. The tasks done by
// hand on this machine (`sudo apt-get`, a system nginx) are what `--up` does in the sandbox.

#[test]
fn a_newcomer_following_lab_1s_chapters_reaches_full_marks() {
    if !integration("a_newcomer_following_lab_1s_chapters_reaches_full_marks") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let repo = out.path().join("student");
    let output = cargo_bin_cmd!("xtask").args(["course", "export"]).arg(&repo).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (site_port, app_port) = (free_port().to_string(), free_port().to_string());
    let mut written = Vec::new();
    let mut graded = Vec::new();
    for chapter in ["labs/static-site/README.md", "labs/app-port/README.md"] {
        let text = std::fs::read_to_string(repo.join(chapter)).unwrap();
        let blocks = task_blocks(&text);
        for (i, block) in blocks.iter().enumerate() {
            if let Some(path) = file_of(block) {
                std::fs::write(repo.join(path), &block.text).unwrap_or_else(|e| panic!("{chapter}: {path}: {e}"));
                written.push(path.to_string());
                continue;
            }
            if !block.info.starts_with("sh") {
                continue;
            }
            for command in block.text.lines().map(|l| l.split(" #").next().unwrap().trim()) {
                let Some(args) = command.strip_prefix("cargo xtask ") else { continue };
                if !(args.starts_with("check ") && args.split_whitespace().any(|a| a == "--up")) {
                    continue;
                }
                // As the chapter says, on ports of the test's own.
                let output = cargo_bin_cmd!("xtask")
                    .args(args.split_whitespace())
                    .arg("--submission")
                    .arg(&repo)
                    .args(["--var", &format!("site_port={site_port}"), "--var", &format!("app_port={app_port}")])
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&output.stdout);
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert_eq!(output.status.code(), Some(0), "{chapter}: `{command}`:\n{stdout}\n{stderr}");
                // The output the chapter shows next (a `text` block): the same, but for the time taken.
                let shown = blocks.get(i + 1).filter(|b| b.info.trim() == "text").expect("the output it shows");
                for line in shown.text.lines().filter(|l| !l.trim().is_empty()) {
                    let without_time = line.rsplit_once(" in ").map_or(line, |(before, _)| before);
                    assert!(stdout.contains(without_time), "{chapter}: `{command}` shows {line:?}:\n{stdout}");
                }
                graded.push(command.to_string());
            }
        }
    }
    assert_eq!(
        written,
        [
            "labs/static-site/site/index.html",
            "labs/static-site/site/404.html",
            "labs/static-site/nginx/site.conf",
            "labs/app-port/board.env"
        ],
        "the files the chapters give"
    );
    assert_eq!(graded, ["cargo xtask check lab1 --step static-site --up", "cargo xtask check lab1 --up"]);
    assert!(Path::new(&repo).join("labs/static-site/site/style.css").is_file(), "the starter's stylesheet is kept");
}

/// One fenced code block of a chapter's `## Tasks`: its info string and text (indent removed).
#[derive(Debug)]
struct Block {
    info: String,
    text: String,
}

fn task_blocks(chapter: &str) -> Vec<Block> {
    let tasks = chapter.split("\n## Tasks\n").nth(1).expect("a Tasks section");
    let tasks = tasks.split("\n## ").next().unwrap();
    let mut blocks = Vec::new();
    let mut lines = tasks.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else { continue };
        let indent = line.len() - trimmed.len();
        let mut text = String::new();
        for line in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            text.push_str(line.get(indent..).unwrap_or(line.trim_start()));
            text.push('\n');
        }
        blocks.push(Block { info: info.to_string(), text });
    }
    blocks
}

/// `file=PATH` in a block's info string.
fn file_of(block: &Block) -> Option<&str> {
    block.info.split_whitespace().find_map(|word| word.strip_prefix("file="))
}
