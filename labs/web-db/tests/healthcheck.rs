//! `portfolio --healthcheck`, the Compose healthcheck of the `FROM scratch` image: success only
//! when the app on `PORT` answers `/` with a 200.

use assert_cmd::cargo::cargo_bin_cmd;
use std::io::{Read, Write};
use std::net::TcpListener;

/// A one-shot server on a free loopback port answering its first request with `status`, the
/// status line split across two writes.
fn answer_once(status: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            // The status line arrives in two segments, as it may from any server: the check must
            // read to the end of the line, not judge the first segment.
            let _ = stream.write_all(b"HTTP/1.1 ");
            let _ = stream.flush();
            std::thread::sleep(std::time::Duration::from_millis(100));
            let _ = write!(stream, "{status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

fn healthcheck(port: u16) -> std::process::Output {
    cargo_bin_cmd!("portfolio").arg("--healthcheck").env("PORT", port.to_string()).output().unwrap()
}

#[test]
fn healthy_only_when_the_page_answers_200() {
    assert!(healthcheck(answer_once("200 OK")).status.success());

    let sick = healthcheck(answer_once("500 Internal Server Error"));
    assert!(!sick.status.success());
    assert!(String::from_utf8_lossy(&sick.stderr).contains("500"), "{sick:?}");

    let nothing = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = healthcheck(nothing);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("nothing answers on port"), "{down:?}");
}
