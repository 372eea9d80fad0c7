//! The proxy in front of an instrumented upstream, over real sockets (integration: needs ports).

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use reverse_proxy::config::Config;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream that echoes the request headers it got, counts its connections, answers `/slow`
/// after 3 s, and switches `/ws` to an echo protocol.
async fn upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|mut request: Request<hyper::body::Incoming>| async move {
                    let path = request.uri().path().to_string();
                    if path == "/slow" {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    if path == "/ws" {
                        let upgrade = hyper::upgrade::on(&mut request);
                        tokio::spawn(async move {
                            let mut io = hyper_util::rt::TokioIo::new(upgrade.await.unwrap());
                            let mut buf = [0u8; 64];
                            let n = io.read(&mut buf).await.unwrap();
                            io.write_all(&buf[..n]).await.unwrap();
                        });
                        let response = http::Response::builder()
                            .status(101)
                            .header("upgrade", "echo")
                            .header("connection", "upgrade")
                            .body(http_body_util::Full::new(Bytes::new()))
                            .unwrap();
                        return Ok::<_, std::convert::Infallible>(response);
                    }
                    let mut lines = vec![format!("path={}", request.uri())];
                    for (name, value) in request.headers() {
                        lines.push(format!("{name}: {}", value.to_str().unwrap_or("?")));
                    }
                    Ok(http::Response::new(http_body_util::Full::new(Bytes::from(lines.join("\n")))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (port, connections)
}

struct Running {
    http: u16,
    https: u16,
    cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task).await.expect("graceful stop").unwrap();
    }
}

async fn start_proxy(upstream_port: u16) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (http, https) = (testkit::free_port(), testkit::free_port());
    let text = format!(
        "[listen]\nhttp = \"127.0.0.1:{http}\"\nhttps = \"127.0.0.1:{https}\"\n\
         [tls]\ncert = \"{d}/cert.pem\"\nkey = \"{d}/key.pem\"\nself_signed = [\"localhost\"]\n\
         [timeouts]\nresponse = \"1s\"\n\
         [[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:{upstream_port}\"\n\
         [[route]]\npath = \"/gone/\"\nupstream = \"http://127.0.0.1:{closed}\"\n\
         [[route]]\npath = \"/api/\"\nupstream = \"http://127.0.0.1:{upstream_port}\"\nstrip_prefix = true\n",
        d = dir.path().display(),
        closed = testkit::free_port()
    );
    let config = Config::parse(&text).unwrap();
    let tls = reverse_proxy::tls::server_config(config.tls.as_ref().unwrap()).unwrap();
    let http_listener = reverse_proxy::bind(config.listen.http).unwrap();
    let https_listener = reverse_proxy::bind(config.listen.https.unwrap()).unwrap();
    let proxy = Arc::new(reverse_proxy::Proxy::new(&config));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reverse_proxy::serve(proxy, http_listener, Some((https_listener, tls)), async {
        let _ = stopped.await;
    }));
    Running { http, https, cert: dir.path().join("cert.pem"), _dir: dir, stop: Some(stop), task }
}

/// A TLS connection to the proxy that trusts its self-signed certificate.
async fn tls_connect(running: &Running) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&running.cert).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", running.https)).await.unwrap();
    connector.connect("localhost".try_into().unwrap(), tcp).await.expect("TLS handshake with the proxy's certificate")
}

/// Sends GETs over one keep-alive HTTPS connection; returns (status, headers, body) per request.
async fn https_gets(
    running: &Running,
    requests: &[(&str, &[(&str, &str)])],
) -> Vec<(StatusCode, http::HeaderMap, String)> {
    let io = hyper_util::rt::TokioIo::new(tls_connect(running).await);
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io).await.unwrap();
    tokio::spawn(connection);
    let mut answers = Vec::new();
    for (path, headers) in requests {
        let mut builder = Request::builder().uri(*path).header("host", format!("localhost:{}", running.https));
        for (k, v) in *headers {
            builder = builder.header(*k, *v);
        }
        let response = sender.send_request(builder.body(Empty::new()).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned();
        answers.push((parts.status, parts.headers, body));
    }
    answers
}

#[tokio::test]
async fn https_forwards_with_headers_and_hsts_and_keeps_upstreams_alive() {
    if !testkit::integration("https_forwards_with_headers_and_hsts_and_keeps_upstreams_alive") {
        return;
    }
    let (port, connections) = upstream().await;
    let running = start_proxy(port).await;
    let mut requests: Vec<(&str, &[(&str, &str)])> = vec![(
        "/hello?x=1",
        &[("x-forwarded-for", "203.0.113.9"), ("connection", "keep-alive, x-private"), ("x-private", "1")],
    )];
    for _ in 0..20 {
        requests.push(("/again", &[]));
    }
    let answers = https_gets(&running, &requests).await;
    let (status, headers, body) = &answers[0];
    assert_eq!(*status, StatusCode::OK);
    assert_eq!(headers["strict-transport-security"], "max-age=63072000");
    for expected in [
        "path=/hello?x=1".to_string(),
        format!("host: localhost:{}", running.https),
        "x-forwarded-for: 203.0.113.9, 127.0.0.1".to_string(),
        "x-real-ip: 127.0.0.1".to_string(),
        "x-forwarded-proto: https".to_string(),
    ] {
        assert!(body.lines().any(|l| l == expected), "{expected:?} not in:\n{body}");
    }
    assert!(!body.contains("x-private"), "headers named in Connection are hop-by-hop:\n{body}");
    assert!(answers.iter().all(|(s, _, _)| *s == StatusCode::OK));
    assert!(
        connections.load(Ordering::SeqCst) <= 2,
        "21 requests used {} upstream connections",
        connections.load(Ordering::SeqCst)
    );
    let stripped = https_gets(&running, &[("/api/messages", &[])]).await;
    assert!(stripped[0].2.starts_with("path=/messages"), "{}", stripped[0].2);
    running.stop().await;
}

#[tokio::test]
async fn plain_http_redirects_to_https() {
    if !testkit::integration("plain_http_redirects_to_https") {
        return;
    }
    let (port, _) = upstream().await;
    let running = start_proxy(port).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", running.http)).await.unwrap();
    stream
        .write_all(
            format!("GET /a/b?c=1 HTTP/1.1\r\nHost: example.test:{}\r\nConnection: close\r\n\r\n", running.http)
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    assert!(answer.contains(&format!("location: https://example.test:{}/a/b?c=1", running.https)), "{answer}");
    running.stop().await;
}

#[tokio::test]
async fn unreachable_upstreams_get_502_and_slow_ones_504() {
    if !testkit::integration("unreachable_upstreams_get_502_and_slow_ones_504") {
        return;
    }
    let (port, _) = upstream().await;
    let running = start_proxy(port).await;
    let answers = https_gets(&running, &[("/gone/x", &[]), ("/slow", &[])]).await;
    assert_eq!(answers[0].0, StatusCode::BAD_GATEWAY);
    assert!(answers[0].2.contains("502 Bad gateway"), "{}", answers[0].2);
    assert_eq!(answers[0].1["content-type"], "text/html; charset=utf-8");
    assert_eq!(answers[1].0, StatusCode::GATEWAY_TIMEOUT);
    assert!(answers[1].2.contains("504 Gateway timeout"));
    running.stop().await;
}

#[tokio::test]
async fn upgrades_pass_through() {
    if !testkit::integration("upgrades_pass_through") {
        return;
    }
    let (port, _) = upstream().await;
    let running = start_proxy(port).await;
    let mut tls = tls_connect(&running).await;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: localhost:{}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        running.https
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tls.write_all(b"ping through the proxy").await.unwrap();
    let mut echoed = [0u8; 22];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(&echoed, b"ping through the proxy");
    running.stop().await;
}

#[tokio::test]
async fn the_lab_1_apps_live_chat_works_through_the_proxy_over_wss() {
    if !testkit::integration("the_lab_1_apps_live_chat_works_through_the_proxy_over_wss") {
        return;
    }
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let store = app_port::store::Store::open(&dir.path().join("messages.jsonl")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app_port::router(Arc::new(std::sync::Mutex::new(store)))).await.unwrap()
    });
    let running = start_proxy(app_port).await;
    // /api/ is routed with the prefix stripped, like /app/ in the lab's proxy.toml.
    let url = format!("wss://localhost:{}/api/api/live", running.https);
    let (mut socket, answer) =
        tokio_tungstenite::client_async(url.as_str(), tls_connect(&running).await).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
    let posted = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{app_port}/api/messages"))
        .json(&serde_json::json!({ "author": "ada", "text": "through TLS" }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 201);
    let frame = loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            break serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    };
    assert_eq!(frame["message"]["text"], "through TLS", "{frame}");
    drop(socket);
    running.stop().await;
}
