//! The HTTP check's client against a tiny raw server: request targets are sent exactly as written,
//! redirects are followed only when asked. Integration: needs a loopback port.

use grading::runner::{grade, StepRubric};
use grading::{GradeConfig, Rubric, Status, Vars};
use std::collections::BTreeSet;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Answers `/old` with 301 to `/new`, `/new` with "arrived", anything else by echoing its raw target.
async fn raw_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut request_line = String::new();
                stream.read_line(&mut request_line).await.unwrap();
                loop {
                    let mut header = String::new();
                    if stream.read_line(&mut header).await.unwrap() == 0 || header == "\r\n" {
                        break;
                    }
                }
                let target = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, extra, body) = match target.as_str() {
                    "/old" => ("301 Moved Permanently", "Location: /new\r\n", String::new()),
                    "/loop" => ("302 Found", "Location: /loop\r\n", String::new()),
                    "/new" => ("200 OK", "", "arrived".to_string()),
                    other => ("200 OK", "", format!("target={other}")),
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.get_mut().write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

async fn run_http(check: &str) -> grading::CheckReport {
    let port = raw_server().await;
    let rubric = format!(
        "[[check]]\nid = \"x\"\ntitle = \"X\"\npoints = 1\nhint = \"h\"\ntimeout = \"2s\"\n[check.http]\n{check}\n"
    );
    let known: BTreeSet<String> = ["port".to_string()].into_iter().collect();
    let rubric = Rubric::parse(Path::new("r.toml"), &rubric, &known).unwrap();
    let mut vars = Vars::new();
    vars.set("port", port.to_string());
    let config = GradeConfig { vars, submission: ".".into(), ..Default::default() };
    let report = grade("l", "L", &[StepRubric { id: "s".into(), title: "S".into(), rubric }], &config).await;
    report.steps[0].checks[0].clone()
}

#[tokio::test]
async fn targets_are_sent_as_written() {
    if !testkit::integration("targets_are_sent_as_written") {
        return;
    }
    for target in ["/../../etc/passwd", "/%2e%2e/x", "/a/./b?q=1"] {
        let check = format!(
            "url = \"http://127.0.0.1:{{port}}{target}\"\nexpect = {{ body_contains = [\"target={target}\"] }}"
        );
        let report = run_http(&check).await;
        assert_eq!(report.status, Status::Passed, "{target}: {report:?}");
    }
}

#[tokio::test]
async fn redirects_are_followed_only_when_asked() {
    if !testkit::integration("redirects_are_followed_only_when_asked") {
        return;
    }
    let followed = run_http("url = \"http://127.0.0.1:{port}/old\"\nfollow_redirects = true\nexpect = { status = 200, body_contains = [\"arrived\"] }").await;
    assert_eq!(followed.status, Status::Passed, "{followed:?}");
    let not_followed = run_http(
        "url = \"http://127.0.0.1:{port}/old\"\nexpect = { status = 301, header_contains = { location = \"/new\" } }",
    )
    .await;
    assert_eq!(not_followed.status, Status::Passed, "{not_followed:?}");
    let looping =
        run_http("url = \"http://127.0.0.1:{port}/loop\"\nfollow_redirects = true\nexpect = { status = 200 }").await;
    assert_eq!(looping.status, Status::Failed);
    assert!(looping.actual.as_deref().unwrap().contains("redirected more than 10 times"), "{looping:?}");
}

/// A server that answers every request with 500 and counts the requests.
async fn counting_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = stream.get_mut().write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, count)
}

/// A failing check of a system that is still changing asks until its deadline; of a settled one
/// (the caller saw every container up, healthy and not just started) it asks once more and answers.
#[tokio::test]
async fn a_failing_check_of_a_settled_system_answers_after_one_more_look() {
    if !testkit::integration("a_failing_check_of_a_settled_system_answers_after_one_more_look") {
        return;
    }
    for settled in [false, true] {
        let (port, count) = counting_server().await;
        let rubric = "[[check]]\nid = \"x\"\ntitle = \"X\"\npoints = 1\nhint = \"h\"\ntimeout = \"2s\"\ninterval = \"100ms\"\n[check.http]\nurl = \"http://127.0.0.1:{port}/\"\nexpect = { status = 200 }\n";
        let known: BTreeSet<String> = ["port".to_string()].into_iter().collect();
        let rubric = Rubric::parse(Path::new("r.toml"), rubric, &known).unwrap();
        let mut vars = Vars::new();
        vars.set("port", port.to_string());
        let config = GradeConfig { vars, submission: ".".into(), settled, ..Default::default() };
        let report = grade("l", "L", &[StepRubric { id: "s".into(), title: "S".into(), rubric }], &config).await;
        let check = &report.steps[0].checks[0];
        assert_eq!(check.status, Status::Failed, "{check:?}");
        assert!(check.actual.as_deref().unwrap().contains("500"), "{check:?}");
        let asked = count.load(std::sync::atomic::Ordering::SeqCst);
        if settled {
            assert_eq!(asked, 2, "settled: one attempt and one more");
        } else {
            assert!(asked > 5, "changing: it asked until its deadline, but only {asked} times");
        }
    }
}
