//! Test support shared by the workspace's integration tests.
//!
//! - The `bad-lab1` binary: a lab 1 site and app that get exactly one requirement wrong, chosen with
//!   `--fault` (the known-bad variants every grading check must have).
//! - [`integration`]: the one switch (`CLABS_INTEGRATION=1`, set by `cargo xtask test`) that turns on
//!   tests needing ports, processes or Docker.
//! - [`free_port`], [`Process`]: ports for parallel tests, and children that are stopped when dropped.
//! - [`EngineScope`]: the labels of what one test creates in the Docker engine, and the project's
//!   one reaper removing it when the test ends, however it ends.

use std::process::Child;
use std::time::Duration;

/// The `docker` CLI under a deadline (`timeout 120 docker ...`): a stuck engine makes a test
/// fail with exit status 124 instead of hanging it (the test runner then finds the engine stuck).
pub fn docker_cli() -> std::process::Command {
    let mut command = std::process::Command::new("timeout");
    command.args(["--kill-after=10", "120", "docker"]);
    command
}

/// What one test creates in the Docker engine: every container, network, volume and image it
/// makes carries the labels of a run of its own (owned by this test process), and the project's
/// reaper (`sandbox::reap`) removes them all when the scope is dropped - also after a failed
/// assertion. If the test process dies, the next grading run (or `cargo xtask test`) reaps it as
/// an orphan.
#[derive(Debug)]
pub struct EngineScope {
    run: sandbox::RunId,
    labels: std::collections::BTreeMap<String, String>,
}

impl Default for EngineScope {
    fn default() -> EngineScope {
        EngineScope::new()
    }
}

impl EngineScope {
    pub fn new() -> EngineScope {
        let run = sandbox::RunId::new();
        let labels = sandbox::labels::labels(&run, &sandbox::Owner::current());
        EngineScope { run, labels }
    }

    /// The run's id (12 hex digits): unique, for names.
    pub fn id(&self) -> &str {
        self.run.as_str()
    }

    pub fn labels(&self) -> &std::collections::BTreeMap<String, String> {
        &self.labels
    }

    /// `--label k=v` for each label, for the docker CLI.
    pub fn label_args(&self) -> Vec<String> {
        self.labels.iter().flat_map(|(k, v)| ["--label".to_string(), format!("{k}={v}")]).collect()
    }

    /// The label filter of everything in the scope (`org.containerlabs.run=<id>`).
    pub fn selector(&self) -> String {
        self.run.selector()
    }

    /// What is still in the engine with the scope's label, as "kind name".
    pub fn leftovers(&self) -> Vec<String> {
        block_on_engine(
            |docker, selector| async move { sandbox::reaper::leftovers(&docker, &selector, true).await },
            &self.selector(),
        )
        .and_then(Result::ok)
        .unwrap_or_default()
    }
}

impl Drop for EngineScope {
    fn drop(&mut self) {
        let reaped = block_on_engine(
            |docker, selector| async move { sandbox::reap(&docker, &selector, true).await },
            &self.selector(),
        );
        if let Some(Err(e)) = reaped {
            eprintln!("warning: {e}");
        }
    }
}

/// Removes everything carrying `label` with the project's reaper (a test's last resort, e.g. a
/// Compose project a failed `check --up` might have left); says so when something was left.
pub fn reap(label: &str) {
    let reaped = block_on_engine(|docker, label| async move { sandbox::reap(&docker, &label, false).await }, label);
    match reaped {
        Some(Ok(removed)) if removed.total() > 0 => eprintln!("removed {} objects labelled {label}", removed.total()),
        Some(Err(e)) => eprintln!("warning: {e}"),
        _ => {}
    }
}

/// The engine the tests use: `DOCKER_HOST`, else the default socket.
pub fn engine_endpoint() -> sandbox::Endpoint {
    let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    sandbox::Endpoint::parse(&endpoint).expect("DOCKER_HOST is unix:// or tcp://")
}

/// A sandbox run for a test that drives a tool through the policy proxy: what the tool makes
/// carries the run's labels, and finishing (or dropping) the run removes it. Needs a runtime
/// that keeps serving the proxy while the test waits (a multi-threaded one, when the test blocks).
pub async fn sandbox_run() -> sandbox::Run {
    sandbox::Run::start(sandbox::RunConfig::new(engine_endpoint())).await.expect("a sandbox run starts")
}

/// `unix://<socket>` of a run's proxy, for `DOCKER_HOST`.
pub fn proxy_host(run: &sandbox::Run) -> String {
    format!("unix://{}", run.proxy_socket().expect("the run's proxy listens").display())
}

/// Runs `work` against the engine (`DOCKER_HOST`, else the default socket) on a thread of its
/// own, so it works inside or outside an async test.
fn block_on_engine<T, F, Fut>(work: F, selector: &str) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(bollard::Docker, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    let selector = selector.to_string();
    std::thread::spawn(move || {
        let docker = engine_endpoint().docker().ok()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        Some(runtime.block_on(work(docker, selector)))
    })
    .join()
    .ok()
    .flatten()
}

/// Whether integration tests should run (`cargo xtask test` sets `CLABS_INTEGRATION=1`).
/// Tests that need it print why they did nothing and return.
pub fn integration(test: &str) -> bool {
    let on = std::env::var("CLABS_INTEGRATION").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("{test}: integration test not run (needs CLABS_INTEGRATION=1; `cargo xtask test` sets it)");
    }
    on
}

/// A port that was free a moment ago, on every address, and that no other Container Labs process
/// on this machine holds: [`sandbox::ports::reserve`], which `grade --jobs` uses too (`cargo
/// xtask test` runs two lanes of test binaries at once, and each may start graders).
pub fn free_port() -> u16 {
    sandbox::ports::reserve().expect("a free port")
}

/// Waits until something accepts connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10s");
}

/// Whether anything accepts connections on `127.0.0.1:port`.
pub fn port_is_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A child process that is killed and reaped when dropped, even when the test fails.
#[derive(Debug)]
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every fault `bad-portfolio` can have; each makes one lab 2 web-db check fail.
pub const PORTFOLIO_FAULTS: &[&str] = &["none", "no-timeline-page", "no-validation", "post-broken"];

/// Every fault `bad-lab1` can have; each should make specific lab 1 checks fail.
pub const FAULTS: &[&str] = &[
    "none",
    "no-title",
    "css-as-text",
    "html-as-text",
    "soft-404",
    "bare-404",
    "no-cache-control",
    "traversal",
    "encoded-traversal",
    "no-site",
    "no-app",
    "info-without-version",
    "post-broken",
    "accepts-empty",
    "accepts-oversized",
    "forgets",
];

/// Asserts the contract for bad input: exit code 2 and one line on stderr that contains `expected`.
pub fn assert_one_line_exit_2(output: &std::process::Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected:\n{stderr}");
    assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `%XX` decoding, for the fixtures' paths and forms (invalid escapes are kept as they are).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(byte) =
                std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fixture's answer.
pub type Answer = http::Response<http_body_util::Full<bytes::Bytes>>;

/// A fixture's listener on `127.0.0.1:port`; port 0 takes one the kernel chooses, bound at once,
/// so no other process can take it between choosing and binding ([`fixture_ports`]).
pub async fn listen(port: u16) -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind fixture port")
}

/// Serves HTTP/1.1 on `127.0.0.1:port` for ever, answering each request with
/// `handle(method, path and query, body)`.
pub async fn serve<F>(port: u16, handle: F)
where
    F: Fn(&http::Method, &str, &[u8]) -> Answer + Send + Sync + 'static,
{
    serve_on(listen(port).await, handle).await
}

/// [`serve`] on a listener already bound.
pub async fn serve_on<F>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(&http::Method, &str, &[u8]) -> Answer + Send + Sync + 'static,
{
    use http_body_util::BodyExt;
    let handle = std::sync::Arc::new(handle);
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let handle = handle.clone();
                async move {
                    let method = request.method().clone();
                    let path = request.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(handle(&method, &path, &body))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The line a fixture prints on standard output once both its ports are bound.
pub const PORTS_LINE: &str = "fixture ports:";

/// Reads a fixture's [`PORTS_LINE`] (`fixture ports: site=S app=A`) from its output: (site, app).
pub fn fixture_ports(output: impl std::io::Read) -> Option<(u16, u16)> {
    use std::io::BufRead;
    let line = std::io::BufReader::new(output).lines().map_while(Result::ok).find(|l| l.starts_with(PORTS_LINE))?;
    let mut ports = line[PORTS_LINE.len()..].split_whitespace().filter_map(|part| part.split_once('='));
    let mut next = |name: &str| ports.next().filter(|(key, _)| *key == name)?.1.parse().ok();
    Some((next("site")?, next("app")?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_fixtures_ports_are_read_from_its_line() {
        let said = "something first\nfixture ports: site=41234 app=41235\nlater\n";
        assert_eq!(super::fixture_ports(said.as_bytes()), Some((41234, 41235)));
        assert_eq!(super::fixture_ports("fixture ports: app=1 site=2\n".as_bytes()), None, "in its order");
        assert_eq!(super::fixture_ports("no line\n".as_bytes()), None);
    }
}
