//! The `reverse-proxy` binary's start-up errors: one line, exit code 2.

use assert_cmd::cargo::cargo_bin_cmd;
use std::io::{BufRead, BufReader, Read, Write};
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

/// An upstream that answers every request on its own connection with `ok`.
fn close_upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = (&stream).write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            });
        }
    });
    port
}

#[test]
fn workers_share_one_port_which_a_second_proxy_cannot_take_and_stop_gracefully() {
    if !testkit::integration("workers_share_one_port_which_a_second_proxy_cannot_take_and_stop_gracefully") {
        return;
    }
    let upstream = close_upstream();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    // Port 0: the first worker picks a free port and the others join it.
    std::fs::write(
        &config,
        format!(
            "[listen]\nhttp = \"127.0.0.1:0\"\n[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:{upstream}\"\n"
        ),
    )
    .unwrap();
    let mut proxy = testkit::Process(
        std::process::Command::new(assert_cmd::cargo::cargo_bin!("reverse-proxy"))
            .arg("--config")
            .arg(&config)
            .args(["--workers", "3"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(proxy.0.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    assert!(banner.contains("(3 workers)"), "{banner}");
    let port: u16 = banner.split("127.0.0.1:").nth(1).and_then(|r| r.split('/').next()).unwrap().parse().unwrap();
    assert_ne!(port, 0, "{banner}");

    // Every connection, whichever worker takes it, is proxied.
    for _ in 0..30 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
    }

    // The workers' sockets share the port with each other, never with another program.
    let second = dir.path().join("second.toml");
    std::fs::write(
        &second,
        format!("[listen]\nhttp = \"127.0.0.1:{port}\"\n[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:1\"\n"),
    )
    .unwrap();
    let output = cargo_bin_cmd!("reverse-proxy").arg("--config").arg(&second).output().unwrap();
    assert_one_line_exit_2(&output, &format!("port {port} is already in use"));

    // SIGTERM: every worker stops and the process exits 0.
    let sent = std::process::Command::new("kill").args(["-TERM", &proxy.0.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let status = proxy.0.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("reverse-proxy: stopped"), "{rest}");
    assert!(!testkit::port_is_open(port));
}
