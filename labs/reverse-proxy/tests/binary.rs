//! The `reverse-proxy` binary's start-up errors: one line, exit code 2.

use assert_cmd::cargo::cargo_bin_cmd;
use testkit::assert_one_line_exit_2;

#[test]
fn config_problems_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let output = cargo_bin_cmd!("reverse-proxy").arg("--config").arg(&missing).output().unwrap();
    assert_one_line_exit_2(&output, "cannot read config");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[listen]\nhttp = \"127.0.0.1:0\"\n[[route]]\npath = \"/\"\nupstream = \"ftp://x\"\n")
        .unwrap();
    let output = cargo_bin_cmd!("reverse-proxy").arg("--config").arg(&bad).output().unwrap();
    assert_one_line_exit_2(&output, "upstream 'ftp://x' must start with http://");
    std::fs::write(&bad, "[listen]\nhttp = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\n[tls]\ncert = \"/no/cert.pem\"\nkey = \"/no/key.pem\"\n[[route]]\npath = \"/\"\nupstream = \"http://x:1\"\n").unwrap();
    let output = cargo_bin_cmd!("reverse-proxy").arg("--config").arg(&bad).output().unwrap();
    assert_one_line_exit_2(&output, "cannot read the certificate '/no/cert.pem'");
}

#[test]
fn a_busy_port_is_one_line_and_exit_2() {
    if !testkit::integration("a_busy_port_is_one_line_and_exit_2") {
        return;
    }
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    std::fs::write(
        &config,
        format!("[listen]\nhttp = \"127.0.0.1:{port}\"\n[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:1\"\n"),
    )
    .unwrap();
    let output = cargo_bin_cmd!("reverse-proxy").arg("--config").arg(&config).output().unwrap();
    assert_one_line_exit_2(&output, &format!("port {port} is already in use"));
}
