//! `single-image` against the engine, through a sandbox run's policy proxy (so what it makes
//! carries the run's labels and goes with the run), with the project's static-site image (`cargo
//! xtask test` builds it first). Integration: needs the engine.

use assert_cmd::cargo::cargo_bin_cmd;
use testkit::{assert_one_line_exit_2, free_port, integration};

const IMAGE: &str = "containerlabs/static-site:0.1.0";

// The proxy is served by the runtime's other thread while the test waits for the tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_logs_and_rm_like_docker_run_and_refuse_the_usual_mistakes() {
    if !integration("run_logs_and_rm_like_docker_run_and_refuse_the_usual_mistakes") {
        return;
    }
    let run = testkit::sandbox_run().await;
    let host = testkit::proxy_host(&run);
    let single_image =
        |args: &[&str]| cargo_bin_cmd!("single-image").env("DOCKER_HOST", &host).args(args).output().unwrap();
    let name = format!("clabs-si-{}", run.id());
    let other = format!("{name}-other");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");

    let output = single_image(&["run", IMAGE, "--name", &name, "-p", &publish, "-e", "GREETING=hi", "--pull", "never"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        get(port).contains("<title>Container Labs - the course's ready image</title>"),
        "the published port serves the site"
    );
    let logs = single_image(&["logs", &name]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("static-site: serving /site"));

    assert_one_line_exit_2(
        &single_image(&["run", IMAGE, "--name", &name, "--pull", "never"]),
        &format!("a container named {name} already exists"),
    );
    assert_one_line_exit_2(
        &single_image(&["run", IMAGE, "--name", &other, "-p", &publish, "--pull", "never"]),
        &format!("host port {port} is already published by container {name}"),
    );
    assert_one_line_exit_2(
        &single_image(&["run", "containerlabs/no-such-image:1.0", "--name", &other, "--pull", "never"]),
        "is not here and --pull never forbids pulling it",
    );

    let output = single_image(&["rm", &name]);
    assert!(output.status.success());
    let left = testkit::docker_cli().args(["ps", "-aq", "--filter", &format!("name=^{name}$")]).output().unwrap();
    assert!(left.stdout.is_empty(), "rm removed it");
    run.finish().await.unwrap();
}

/// One plain HTTP GET of `/` on a loopback port.
fn get(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page
}
