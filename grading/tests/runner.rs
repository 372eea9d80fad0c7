//! The runner: prerequisites, deadlines, order of results, checks that cannot run.

use grading::runner::{grade, StepRubric};
use grading::{GradeConfig, Rubric, Status, Vars};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn step(rubric: &str) -> StepRubric {
    let known: BTreeSet<String> = ["closed_port".to_string()].into_iter().collect();
    StepRubric {
        id: "s".into(),
        title: "S".into(),
        rubric: Rubric::parse(Path::new("r.toml"), rubric, &known).unwrap(),
    }
}

async fn run(rubric: &str, submission: &Path) -> grading::Report {
    run_with(rubric, submission, None, None).await
}

async fn run_with(
    rubric: &str,
    submission: &Path,
    start_failure: Option<grading::StartFailure>,
    deadline: Option<tokio::time::Instant>,
) -> grading::Report {
    let mut vars = Vars::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    vars.set("closed_port", closed.to_string());
    // The step of `step()` is "s": a failure of its services.
    let start_failures = start_failure.into_iter().map(|f| ("s".to_string(), f)).collect();
    let config =
        GradeConfig { vars, submission: submission.to_path_buf(), start_failures, deadline, ..Default::default() };
    grade("lab", "Lab", &[step(rubric)], &config).await
}

/// A file check, a TCP check that needs the running system, and one that depends on it.
const STATIC_AND_RUNNING: &str = r#"
[[check]]
id = "file"
title = "F"
points = 1
hint = "h"
file = { path = "here.txt" }
[[check]]
id = "port"
title = "P"
points = 1
hint = "h"
timeout = "2s"
tcp = { address = "127.0.0.1:{closed_port}" }
[[check]]
id = "after"
title = "A"
points = 1
hint = "h"
requires = ["port"]
tcp = { address = "127.0.0.1:{closed_port}" }
"#;

#[tokio::test]
async fn services_that_did_not_start_fail_the_running_checks_and_static_ones_still_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("here.txt"), "x").unwrap();
    let failure = grading::StartFailure { reason: "service db is unhealthy: no answer".into(), refused: false };
    let report = run_with(STATIC_AND_RUNNING, dir.path(), Some(failure), None).await;
    assert_eq!(
        summary(&report),
        [
            "file passed ",
            "port failed they did not start: service db is unhealthy: no answer",
            "after skipped requires port, which did not pass",
        ]
    );
    let refused =
        grading::StartFailure { reason: "refused: service `web` asks for privileged: true".into(), refused: true };
    let report = run_with(STATIC_AND_RUNNING, dir.path(), Some(refused), None).await;
    let statuses: Vec<_> = report.checks().map(|(_, c)| c.status).collect();
    assert_eq!(statuses, [Status::Passed, Status::Skipped, Status::Skipped]);
    assert!(report.checks().nth(1).unwrap().1.reason.as_deref().unwrap().contains("the sandbox refused"));
}

#[tokio::test]
async fn the_wall_clock_fails_running_checks_but_not_static_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("here.txt"), "x").unwrap();
    // The port check would poll for 2 s; the wall clock ends it after 300 ms.
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let report = run_with(STATIC_AND_RUNNING, dir.path(), None, Some(deadline)).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert_eq!(
        summary(&report),
        [
            "file passed ",
            "port failed the run's wall clock ran out while this check ran",
            "after skipped requires port, which did not pass",
        ]
    );
    // Past the wall clock, running checks are not started at all; files are still read.
    let past = tokio::time::Instant::now();
    let report = run_with(STATIC_AND_RUNNING, dir.path(), None, Some(past)).await;
    assert_eq!(
        summary(&report)[..2],
        ["file passed ", "port failed the run's wall clock ran out before this check ran"]
    );
}

fn summary(report: &grading::Report) -> Vec<String> {
    report
        .checks()
        .map(|(_, c)| {
            format!("{} {} {}", c.id, c.status.as_str(), c.reason.clone().or(c.actual.clone()).unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
async fn failed_prerequisites_skip_their_dependents_transitively() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("here.txt"), "x").unwrap();
    let rubric = r#"
[[check]]
id = "a"
title = "A"
points = 1
hint = "h"
file = { path = "gone.txt" }
[[check]]
id = "b"
title = "B"
points = 1
hint = "h"
requires = ["a"]
file = { path = "here.txt" }
[[check]]
id = "c"
title = "C"
points = 1
hint = "h"
requires = ["b"]
file = { path = "here.txt" }
[[check]]
id = "d"
title = "D"
points = 2
hint = "h"
file = { path = "here.txt" }
"#;
    let report = run(rubric, dir.path()).await;
    assert_eq!(
        summary(&report),
        [
            "a failed gone.txt does not exist",
            "b skipped requires a, which did not pass",
            "c skipped requires b, which did not pass",
            "d passed ",
        ]
    );
    assert_eq!((report.score(), report.max_score()), (2, 5));
    assert!(!report.full_marks());
}

#[tokio::test]
async fn a_failing_poll_gives_up_at_its_deadline_with_the_last_reason() {
    let rubric = r#"
[[check]]
id = "closed"
title = "Closed"
points = 1
hint = "h"
timeout = "400ms"
interval = "100ms"
tcp = { address = "127.0.0.1:{closed_port}" }
"#;
    let started = Instant::now();
    let report = run(rubric, Path::new(".")).await;
    let elapsed = started.elapsed();
    let check = &report.steps[0].checks[0];
    assert_eq!(check.status, Status::Failed);
    assert!(check.actual.as_deref().unwrap().contains("connection refused"), "{check:?}");
    assert!(elapsed >= Duration::from_millis(300), "it polled until near its deadline: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "and not much past it: {elapsed:?}");
}

#[tokio::test]
async fn checks_that_restart_services_are_skipped_without_up() {
    let rubric = r#"
[[check]]
id = "survives"
title = "Survives"
points = 3
hint = "h"
[check.persistence]
write = { method = "POST", url = "http://127.0.0.1:{closed_port}/w" }
restart = ["app"]
read = { url = "http://127.0.0.1:{closed_port}/r" }
"#;
    let report = run(rubric, Path::new(".")).await;
    assert_eq!(summary(&report), ["survives skipped needs --up: the grader restarts only services it started itself"]);
}

#[tokio::test]
async fn many_slow_checks_run_concurrently() {
    // Ten checks that each poll a closed port for 500 ms finish together, not one after another.
    let mut rubric = String::new();
    for i in 0..10 {
        rubric.push_str(&format!(
            "[[check]]\nid = \"c{i}\"\ntitle = \"C\"\npoints = 1\nhint = \"h\"\ntimeout = \"500ms\"\ninterval = \"100ms\"\ntcp = {{ address = \"127.0.0.1:{{closed_port}}\" }}\n"
        ));
    }
    let started = Instant::now();
    let report = run(&rubric, Path::new(".")).await;
    assert_eq!(report.count(Status::Failed), 10);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let ids: Vec<&str> = report.checks().map(|(_, c)| c.id.as_str()).collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"], "results keep rubric order");
}

/// A rubric of one check that polls `/` on `port` for a 200 every 100 ms until `timeout`.
fn page_check(port: u16, timeout: &str) -> String {
    format!(
        "[[check]]\nid = \"page\"\ntitle = \"Page\"\npoints = 1\nhint = \"h\"\ntimeout = \"{timeout}\"\ninterval = \"100ms\"\n\
         http = {{ url = \"http://127.0.0.1:{port}/\", expect = {{ status = 200 }} }}\n"
    )
}

#[tokio::test]
async fn a_poll_cut_off_by_its_deadline_reports_the_last_finished_answer() {
    if !testkit::integration("a_poll_cut_off_by_its_deadline_reports_the_last_finished_answer") {
        return;
    }
    // The first request gets a 404 at once; every later one is read and never answered. So the
    // attempt under way at the deadline is always cut off, and the report must still be the 404
    // (the answer the submission gave), not "no answer before the deadline" - which attempt
    // happens to be running when the deadline comes must not change the report.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        for served in 0.. {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            if served == 0 {
                let answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone";
                let _ = stream.write_all(answer.as_bytes()).await;
            } else {
                held.push(stream);
            }
        }
    });
    let report = run(&page_check(port, "800ms"), Path::new(".")).await;
    let check = &report.steps[0].checks[0];
    assert_eq!(check.status, Status::Failed);
    let actual = check.actual.as_deref().unwrap_or_default();
    assert!(actual.contains("404"), "the finished answer, not the cut-off one: {check:?}");
    assert!(!actual.contains("deadline"), "{check:?}");
}

#[tokio::test]
async fn a_poll_that_never_finishes_says_the_deadline_came_first() {
    if !testkit::integration("a_poll_that_never_finishes_says_the_deadline_came_first") {
        return;
    }
    // A server that accepts and never answers: no attempt finishes, so the cut-off is the report.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            held.push(listener.accept().await.unwrap().0);
        }
    });
    let report = run(&page_check(port, "500ms"), Path::new(".")).await;
    let check = &report.steps[0].checks[0];
    assert_eq!(check.status, Status::Failed);
    assert!(check.actual.as_deref().unwrap_or_default().contains("before the deadline"), "{check:?}");
}

/// Rules on files answer at once, pass or fail: a file does not change while it is graded, so a
/// failing compose rule with a long deadline does not wait for it (it did: every failing
/// `compose-*` rule of a lab 3 `check` reported after its whole deadline).
#[tokio::test]
async fn a_failing_rule_on_files_answers_at_once_whatever_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), "services:\n  web:\n    image: nginx\n    privileged: true\n")
        .unwrap();
    let rubric = r#"
[[check]]
id = "no-privileged"
title = "P"
points = 1
hint = "h"
timeout = "60s"
[check.compose]
file = "compose.yaml"
rule = "no-privileged"
[[check]]
id = "file"
title = "F"
points = 1
hint = "h"
timeout = "60s"
file = { path = "gone.txt" }
"#;
    let started = Instant::now();
    let report = run(rubric, dir.path()).await;
    let statuses: Vec<_> = report.checks().map(|(_, c)| c.status).collect();
    assert_eq!(statuses, [Status::Failed, Status::Failed], "{}", summary(&report).join("\n"));
    // Far below the 60 s deadline either would have polled until.
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}
