//! The `tls` check and `https://` HTTP checks against an in-process TLS server with generated
//! certificates: each bad certificate or server fails exactly its expectation.
//! Integration: needs loopback ports.

use grading::runner::{grade, StepRubric};
use grading::{CheckReport, GradeConfig, Rubric, Status, Vars};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Cert {
    names: Vec<&'static str>,
    /// Validity as (not_before, not_after) offsets from now, in days.
    days: (i64, i64),
}

const GOOD: Cert = Cert { names: vec![], days: (-1, 365) };

/// Starts a TLS server (answering any request with "ok") and returns its port.
async fn tls_server(cert: Cert, versions: &[&'static rustls::SupportedProtocolVersion]) -> u16 {
    let names: Vec<String> = if cert.names.is_empty() {
        vec!["localhost".into()]
    } else {
        cert.names.iter().map(|s| s.to_string()).collect()
    };
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    let now = time_now();
    params.not_before = now + rcgen_days(cert.days.0);
    params.not_after = now + rcgen_days(cert.days.1);
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let chain = vec![CertificateDer::from(certificate.der().to_vec())];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn rcgen_days(days: i64) -> time::Duration {
    time::Duration::days(days)
}

async fn run(port: u16, kind: &str) -> CheckReport {
    let rubric = format!("[[check]]\nid = \"x\"\ntitle = \"X\"\npoints = 1\nhint = \"h\"\ntimeout = \"2s\"\ninterval = \"500ms\"\n{kind}\n");
    let known: BTreeSet<String> = ["port".to_string()].into_iter().collect();
    let rubric = Rubric::parse(Path::new("r.toml"), &rubric, &known).unwrap();
    let mut vars = Vars::new();
    vars.set("port", port.to_string());
    let config = GradeConfig { vars, submission: ".".into(), ..Default::default() };
    grade("l", "L", &[StepRubric { id: "s".into(), title: "S".into(), rubric }], &config).await.steps[0].checks[0]
        .clone()
}

const BOTH: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
const ONLY_13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn tls_check(expect: &str) -> String {
    format!("[check.tls]\naddress = \"127.0.0.1:{{port}}\"\nserver_name = \"localhost\"\nexpect = {{ {expect} }}")
}

#[tokio::test]
async fn a_good_certificate_passes() {
    if !testkit::integration("a_good_certificate_passes") {
        return;
    }
    let port = tls_server(GOOD, BOTH).await;
    let report = run(port, &tls_check("min_days_left = 30, accepts = [\"1.2\", \"1.3\"]")).await;
    assert_eq!(report.status, Status::Passed, "{report:?}");
}

#[tokio::test]
async fn each_bad_certificate_or_server_fails_its_expectation() {
    if !testkit::integration("each_bad_certificate_or_server_fails_its_expectation") {
        return;
    }
    let cases: Vec<(Cert, &[&rustls::SupportedProtocolVersion], &str, &str, &str)> = vec![
        (
            Cert { names: vec!["example.test"], days: (-1, 365) },
            BOTH,
            "",
            "a certificate for localhost",
            "the certificate is for example.test",
        ),
        (Cert { names: vec![], days: (-30, -1) }, BOTH, "", "a certificate valid now", "it expired on"),
        (Cert { names: vec![], days: (1, 30) }, BOTH, "", "a certificate valid now", "it is not valid before"),
        (
            Cert { names: vec![], days: (-1, 5) },
            BOTH,
            "min_days_left = 30",
            "at least 30 days before the certificate expires",
            "4 days left",
        ),
        (GOOD, ONLY_13, "accepts = [\"1.2\"]", "TLS 1.2 accepted", "a TLS 1.2-only handshake failed"),
        (GOOD, BOTH, "refuses = [\"1.2\"]", "TLS 1.2 refused", "the server accepted a TLS 1.2-only handshake"),
    ];
    for (cert, versions, expect, expected, actual) in cases {
        let port = tls_server(cert, versions).await;
        let report = run(port, &tls_check(expect)).await;
        assert_eq!(report.status, Status::Failed, "{expect}: {report:?}");
        assert_eq!(report.expected.as_deref(), Some(expected), "{report:?}");
        assert!(report.actual.as_deref().unwrap().starts_with(actual), "{report:?}");
    }
    // And the right server for "refuses": TLS 1.3 only.
    let port = tls_server(GOOD, ONLY_13).await;
    assert_eq!(run(port, &tls_check("refuses = [\"1.2\"]")).await.status, Status::Passed);
}

#[tokio::test]
async fn https_http_checks_work_whatever_the_certificate() {
    if !testkit::integration("https_http_checks_work_whatever_the_certificate") {
        return;
    }
    let port = tls_server(Cert { names: vec!["example.test"], days: (-30, -1) }, BOTH).await;
    let report = run(
        port,
        "[check.http]\nurl = \"https://localhost:{port}/\"\nexpect = { status = 200, body_contains = [\"ok\"] }",
    )
    .await;
    assert_eq!(report.status, Status::Passed, "the tls check judges certificates, the http check does not: {report:?}");
}

#[tokio::test]
async fn nothing_listening_is_a_clear_failure() {
    if !testkit::integration("nothing_listening_is_a_clear_failure") {
        return;
    }
    let port = testkit::free_port();
    let report = run(port, &tls_check("")).await;
    assert_eq!(report.status, Status::Failed);
    assert!(report.actual.as_deref().unwrap().contains("connection refused"), "{report:?}");
}
