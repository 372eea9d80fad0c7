//! The `static-site` binary on a real socket (integration: needs ports).

use std::process::{Command, Stdio};
use testkit::{free_port, integration, wait_for_port, Process};

fn static_site() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("static-site"))
}

#[test]
fn a_busy_port_is_one_line_and_exit_2() {
    if !integration("a_busy_port_is_one_line_and_exit_2") {
        return;
    }
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let output = static_site().args(["--bind", "127.0.0.1", "--port", &port.to_string()]).output().unwrap();
    testkit::assert_one_line_exit_2(&output, &format!("port {port} is already in use"));
}

#[test]
fn sigterm_stops_it_gracefully() {
    if !integration("sigterm_stops_it_gracefully") {
        return;
    }
    let port = free_port();
    let child = static_site()
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut process = Process(child);
    wait_for_port(port);
    let body = reqwest::blocking_get(port);
    assert!(body.contains("<title>"), "{body}");
    std::process::Command::new("kill").args(["-TERM", &process.0.id().to_string()]).status().unwrap();
    let status = process.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(process.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("static-site: stopped"), "{stderr}");
}

mod reqwest {
    /// One GET with reqwest on a throwaway runtime.
    pub fn blocking_get(port: u16) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            ::reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap().text().await.unwrap()
        })
    }
}
