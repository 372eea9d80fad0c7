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
    let config = GradeConfig {
        vars,
        submission: ".".into(),
        services: None,
        docker: None,
        start_failures: Default::default(),
        deadline: None,
        may_recreate: false,
    };
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
