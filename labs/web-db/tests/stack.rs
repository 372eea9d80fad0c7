//! The two-container stack end to end: a post survives recreating the web container, recreating the
//! database container, and `down` then `up`; the grader's container checks pass on it. The stack
//! tool talks to a sandbox run's policy proxy, so all it makes carries the run's labels and goes
//! with the run. Integration: needs the engine and the images `cargo xtask test` builds.

use std::collections::BTreeSet;
use std::path::Path;
use web_db::stack::{self, Role, Stack};

fn http(port: u16, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn post(port: u16, body: &str) -> String {
    http(port, &format!("POST /api/timeline_post HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()))
}

fn timeline(port: u16) -> String {
    http(port, "GET /api/timeline_post HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

async fn container_check(docker: &bollard::Docker, kind: &str) -> (grading::Status, String) {
    let text = format!("[[check]]\nid = \"c\"\ntitle = \"C\"\npoints = 1\nhint = \"h\"\ntimeout = \"10s\"\n[check.container]\n{kind}\n");
    let rubric = grading::Rubric::parse(Path::new("r.toml"), &text, &BTreeSet::new()).unwrap();
    let ctx = grading::check::Context {
        vars: grading::Vars::new(),
        submission: ".".into(),
        docker: Some(docker.clone()),
        ..Default::default()
    };
    let report = grading::runner::run_check(&rubric.checks[0], &ctx).await;
    (report.status, format!("expected {:?}, got {:?}", report.expected, report.actual))
}

#[tokio::test(flavor = "current_thread")]
async fn posts_survive_recreating_each_container_and_down_up() {
    if !testkit::integration("posts_survive_recreating_each_container_and_down_up") {
        return;
    }
    let run = testkit::sandbox_run().await;
    let socket = run.proxy_socket().unwrap();
    let docker =
        bollard::Docker::connect_with_unix(&socket.to_string_lossy(), 120, bollard::API_DEFAULT_VERSION).unwrap();
    let stack = Stack {
        project: format!("clabs-wd-{}", run.id()),
        web_port: testkit::free_port(),
        web_image: "containerlabs/portfolio:0.1.0".into(),
        db_image: "containerlabs/mariadb:10.11-standin".into(),
        db_root_password: "root-secret".into(),
        db_password: "app-secret".into(),
    };
    let port = stack.web_port;
    stack::up(&docker, &stack).await.unwrap();

    let created = post(port, "name=Ada&email=ada%40example.test&content=hello+from+the+test");
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    assert!(created.contains("\"content\":\"hello from the test\""), "{created}");
    for (body, reason) in [
        ("email=a%40b&content=x", "Invalid name"),
        ("name=A&email=nope&content=x", "Invalid email"),
        ("name=A&email=a%40b", "Invalid content"),
    ] {
        let answer = post(port, body);
        assert!(answer.starts_with("HTTP/1.1 400") && answer.ends_with(reason), "{body}: {answer}");
    }

    let db = stack.container(Role::Db);
    let web = stack.container(Role::Web);
    let lab_requirements = format!(
        "name = \"{db}\"\nexpect = {{ running = true, healthy = true, explicit_tag = true, not_published = [\"3306/tcp\"], \
         mounts = {{ \"/var/lib/mysql\" = \"named-volume\" }}, shares_network_with = [\"{web}\"], confined = true }}"
    );
    let (status, detail) = container_check(&docker, &lab_requirements).await;
    assert_eq!(status, grading::Status::Passed, "{detail}");
    let web_requirements = format!("name = \"{web}\"\nexpect = {{ running = true, explicit_tag = true, published = [\"5000/tcp\"], confined = true }}");
    let (status, detail) = container_check(&docker, &web_requirements).await;
    assert_eq!(status, grading::Status::Passed, "{detail}");

    stack::recreate(&docker, &stack, Role::Web).await.unwrap();
    assert!(timeline(port).contains("hello from the test"), "after recreating the web container");
    stack::recreate(&docker, &stack, Role::Db).await.unwrap();
    assert!(timeline(port).contains("hello from the test"), "after recreating the database container");
    stack::down(&docker, &stack, false).await.unwrap();
    assert!(
        stack::status(&docker, &stack).await.iter().any(|l| l.ends_with("-db-data: present")),
        "down keeps the volume"
    );
    stack::up(&docker, &stack).await.unwrap();
    assert!(timeline(port).contains("hello from the test"), "after down and up");
    stack::down(&docker, &stack, true).await.unwrap();
    assert!(
        stack::status(&docker, &stack).await.iter().any(|l| l.ends_with("-db-data: absent")),
        "down --volumes removes it"
    );
    run.finish().await.unwrap();
}
