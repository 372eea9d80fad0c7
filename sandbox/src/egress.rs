//! A build's only way out: the package mirrors and registries the course names, nothing else.
//!
//! A `RUN` step of a submission's build is code of the submission. Left on the engine's default
//! bridge it reaches the grading host's own ports (through the bridge's gateway), private ranges
//! and any host on the internet. So the first build of a run makes the run's build network:
//!
//! - an *internal* Docker network of the run (`clabs-run-<id>-build`, the run's labels): the
//!   engine forwards nothing from it to anywhere else;
//! - on the host, at that network's gateway address, a forward proxy of the run that connects
//!   only to the hosts of [`crate::RunConfig::build_hosts`], on ports 80 and 443 (HTTP in
//!   absolute form, HTTPS by `CONNECT`); every other destination is answered 403 and noted for
//!   the report;
//! - two `iptables` rules of the run (comment `clabs-run-<id>`) on the host's `INPUT` chain: from
//!   the build network's bridge only the proxy's port is reachable, every other port of the host
//!   is rejected (an internal network still has the host as its gateway).
//!
//! Each build of the run is sent to that network with the standard proxy build arguments
//! (`http_proxy`, `https_proxy` and their upper-case forms, which Docker passes to `RUN` without an
//! `ARG` and leaves out of the image's history), so `apt-get`, `pip`, `npm` and `curl` work as
//! usual. Where the network cannot be made (an engine on another machine, no `iptables`, not
//! root), builds run as before on the default bridge and the report says so. The rules go with
//! the run: dropped with it, and removed by the reaper by their comment whatever happened.

use crate::labels::RunId;
use crate::Incident;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The mirrors the course's Debian base names in its apt sources: enough for any stand-in build.
pub const DEBIAN_MIRRORS: [&str; 2] = ["deb.debian.org", "security.debian.org"];

/// The rule id builds' refused destinations are reported under.
pub const RULE: &str = "build-egress";

/// The longest request head the proxy reads before judging it.
const MAX_HEAD: usize = 16 << 10;

/// How long a connection to an allowed host may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The run's build network with its proxy and host rules; dropping it stops the proxy and removes
/// the rules (the reaper removes the network, by the run's label).
#[derive(Debug)]
pub(crate) struct Egress {
    /// The network builds run on.
    pub network: String,
    /// `http://<gateway>:<port>`, what the builds' proxy variables say.
    pub proxy_url: String,
    run: RunId,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Egress {
    fn drop(&mut self) {
        self.task.abort();
        remove_rules(Some(&self.run));
    }
}

/// The comment every host rule of `run` carries.
fn comment(run: &RunId) -> String {
    format!("clabs-run-{run}")
}

/// The build network's bridge: `clb` and the run's id (15 characters, Linux's limit).
fn bridge(run: &RunId) -> String {
    format!("clb{run}")
}

/// Makes the run's build network, its proxy and its host rules (see the module's documentation).
pub(crate) async fn start(
    docker: &bollard::Docker,
    run: &RunId,
    labels: &BTreeMap<String, String>,
    hosts: Arc<Vec<String>>,
    incidents: Arc<Mutex<Vec<Incident>>>,
) -> Result<Egress, String> {
    let network = format!("clabs-run-{run}-build");
    let options: std::collections::HashMap<String, String> =
        [("com.docker.network.bridge.name".to_string(), bridge(run))].into_iter().collect();
    let create = bollard::models::NetworkCreateRequest {
        name: network.clone(),
        driver: Some("bridge".into()),
        internal: Some(true),
        labels: Some(labels.clone().into_iter().collect()),
        options: Some(options),
        ..Default::default()
    };
    docker.create_network(create).await.map_err(|e| format!("the engine could not make the build network: {e}"))?;
    let inspected = docker
        .inspect_network(&network, None::<bollard::query_parameters::InspectNetworkOptions>)
        .await
        .map_err(|e| format!("the engine could not describe the build network: {e}"))?;
    let gateway: Ipv4Addr = inspected
        .ipam
        .and_then(|ipam| ipam.config)
        .into_iter()
        .flatten()
        .find_map(|config| config.gateway?.parse().ok())
        .ok_or("the build network has no IPv4 gateway")?;
    let listener = tokio::net::TcpListener::bind((gateway, 0))
        .await
        .map_err(|e| format!("cannot listen on the build network's gateway {gateway}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    add_rules(run, port)?;
    let task = tokio::spawn(serve(listener, hosts, incidents));
    Ok(Egress { network, proxy_url: format!("http://{gateway}:{port}"), run: run.clone(), task })
}

/// From the build network's bridge the host answers on `port` only.
fn add_rules(run: &RunId, port: u16) -> Result<(), String> {
    let (bridge, comment) = (bridge(run), comment(run));
    let tagged = ["-m", "comment", "--comment", comment.as_str()];
    let reject: Vec<&str> =
        ["-w", "-I", "INPUT", "1", "-i", bridge.as_str()].into_iter().chain(tagged).chain(["-j", "REJECT"]).collect();
    iptables("iptables", &reject)?;
    let port = port.to_string();
    let accept: Vec<&str> = ["-w", "-I", "INPUT", "1", "-i", bridge.as_str(), "-p", "tcp", "--dport", port.as_str()]
        .into_iter()
        .chain(tagged)
        .chain(["-j", "ACCEPT"])
        .collect();
    if let Err(why) = iptables("iptables", &accept) {
        remove_rules(Some(run));
        return Err(why);
    }
    // The bridge has an IPv6 link-local address too, wherever IPv6 is on: nothing of it.
    let _ = iptables("ip6tables", &reject);
    Ok(())
}

fn iptables(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program} to confine builds to the package mirrors: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!("{program} refused the build network's rules: {}", stderr.lines().next().unwrap_or("no reason given")))
}

/// Removes the host rules of `run` (every run's with `None`), by their comment; quietly where
/// there are none or `iptables` is missing.
pub fn remove_rules(run: Option<&RunId>) {
    let wanted = |line: &str| match run {
        Some(run) => line.contains(&format!("--comment {}", comment(run))),
        None => line.contains("--comment clabs-run-"),
    };
    for program in ["iptables", "ip6tables"] {
        for line in input_rules(program).iter().filter(|l| wanted(l)) {
            let Some(rule) = line.strip_prefix("-A ") else { continue };
            let mut args = vec!["-w", "-D"];
            args.extend(rule.split_whitespace());
            let _ = Command::new(program).args(&args).output();
        }
    }
}

/// The host's `INPUT` rules as `program -S` lists them (none where it cannot run).
fn input_rules(program: &str) -> Vec<String> {
    Command::new(program)
        .args(["-w", "-S", "INPUT"])
        .output()
        .map(|listed| String::from_utf8_lossy(&listed.stdout).lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The runs that have host rules (for the reaper: a run whose grader is gone).
pub fn runs_with_rules() -> Vec<RunId> {
    let mut runs: Vec<RunId> = input_rules("iptables")
        .iter()
        .filter_map(|line| line.split("--comment clabs-run-").nth(1))
        .filter_map(|rest| RunId::parse(rest.split_whitespace().next().unwrap_or_default()))
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

/// What a build asked the proxy for.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `CONNECT host:port`: a tunnel (HTTPS).
    Tunnel { host: String, port: u16 },
    /// `GET http://host[:port]/...`: a plain request, forwarded as it is.
    Plain { host: String, port: u16 },
}

impl Target {
    fn host(&self) -> (&str, u16) {
        match self {
            Target::Tunnel { host, port } | Target::Plain { host, port } => (host, *port),
        }
    }
}

/// Reads the destination from a request line: `CONNECT deb.debian.org:443 HTTP/1.1`,
/// `GET http://deb.debian.org/debian/dists/bookworm/InRelease HTTP/1.1`.
fn target(request_line: &str) -> Result<Target, String> {
    let mut words = request_line.split_whitespace();
    let (method, uri) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_host(uri, 443)?;
        return Ok(Target::Tunnel { host, port });
    }
    let Some(rest) = uri.strip_prefix("http://").or_else(|| uri.strip_prefix("HTTP://")) else {
        return Err(format!("`{uri}` (only http:// addresses and CONNECT go through this proxy)"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = split_host(authority, 80)?;
    Ok(Target::Plain { host, port })
}

/// `host:port` (or `host`, `[v6]:port`) -> lower-case host without a trailing dot, and port.
fn split_host(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse().map_err(|_| format!("`{authority}` (not a port)"))?)
        }
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(format!("`{authority}` (no host)"));
    }
    Ok((host, port))
}

/// Whether `host:port` is one of the course's mirrors: the name itself, or under an entry that
/// starts with a dot (`.debian.org`), on port 80 or 443. An address is never one.
fn allowed(hosts: &[String], host: &str, port: u16) -> bool {
    if !matches!(port, 80 | 443) || host.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    hosts.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        match entry.strip_prefix('.') {
            Some(domain) => host == domain || host.ends_with(&entry),
            None => host == entry,
        }
    })
}

async fn serve(listener: tokio::net::TcpListener, hosts: Arc<Vec<String>>, incidents: Arc<Mutex<Vec<Incident>>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(relay(stream, hosts.clone(), incidents.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One connection of a build: judged by its first request's destination, then relayed both ways.
async fn relay(mut client: tokio::net::TcpStream, hosts: Arc<Vec<String>>, incidents: Arc<Mutex<Vec<Incident>>>) {
    let mut head = Vec::with_capacity(1024);
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > MAX_HEAD || !matches!(client.read_buf(&mut head).await, Ok(n) if n > 0) {
            return;
        }
    };
    let request_line = String::from_utf8_lossy(&head[..end]).lines().next().unwrap_or_default().to_string();
    let target = match target(&request_line) {
        Ok(target) => target,
        Err(why) => return refuse(&mut client, &incidents, &why).await,
    };
    let (host, port) = target.host();
    if !allowed(&hosts, host, port) {
        return refuse(&mut client, &incidents, &format!("a connection to {host}:{port}")).await;
    }
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host, port))).await;
    let Ok(Ok(mut upstream)) = connected else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        return;
    };
    let sent = match target {
        Target::Tunnel { .. } => {
            let established = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
            // Anything the client sent after the CONNECT's head is the tunnel's first bytes.
            match established {
                Ok(()) => upstream.write_all(&head[end..]).await,
                Err(e) => Err(e),
            }
        }
        Target::Plain { .. } => upstream.write_all(&head).await,
    };
    if sent.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

async fn refuse(client: &mut tokio::net::TcpStream, incidents: &Mutex<Vec<Incident>>, what: &str) {
    let incident = Incident {
        kind: crate::IncidentKind::Refused,
        subject: "a build".into(),
        rule: RULE.into(),
        detail: what.to_string(),
        explanation: "a build reaches only the package mirrors and registries the course names (labs.toml's \
                      build_hosts): not the grading machine, not other hosts"
            .into(),
    };
    let body = format!("containerlabs: {}: {}\n", incident.detail, incident.explanation);
    let answer = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(answer.as_bytes()).await;
    let mut incidents = incidents.lock().expect("incidents lock");
    if !incidents.contains(&incident) {
        incidents.push(incident);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_names_its_destination() {
        assert_eq!(target("CONNECT pypi.org:443 HTTP/1.1"), Ok(Target::Tunnel { host: "pypi.org".into(), port: 443 }));
        assert_eq!(
            target("GET http://deb.debian.org/debian/dists/bookworm/InRelease HTTP/1.1"),
            Ok(Target::Plain { host: "deb.debian.org".into(), port: 80 })
        );
        assert_eq!(
            target("GET http://user@Deb.Debian.Org.:8080/x HTTP/1.1"),
            Ok(Target::Plain { host: "deb.debian.org".into(), port: 8080 })
        );
        assert_eq!(target("CONNECT [::1]:22 HTTP/1.1"), Ok(Target::Tunnel { host: "::1".into(), port: 22 }));
        assert!(target("GET /local HTTP/1.1").is_err());
        assert!(target("CONNECT :443 HTTP/1.1").is_err());
    }

    #[test]
    fn only_the_named_hosts_on_web_ports_are_allowed() {
        let hosts = vec!["deb.debian.org".to_string(), ".pythonhosted.org".to_string()];
        assert!(allowed(&hosts, "deb.debian.org", 80));
        assert!(allowed(&hosts, "deb.debian.org", 443));
        assert!(allowed(&hosts, "files.pythonhosted.org", 443));
        assert!(allowed(&hosts, "pythonhosted.org", 443));
        // Known bad: another port of an allowed host, a look-alike, an address, another host.
        assert!(!allowed(&hosts, "deb.debian.org", 22));
        assert!(!allowed(&hosts, "evil-deb.debian.org.example", 80));
        assert!(!allowed(&hosts, "xpythonhosted.org", 443));
        assert!(!allowed(&hosts, "203.0.113.80", 80));
        assert!(!allowed(&hosts, "172.17.0.1", 443));
        assert!(!allowed(&hosts, "crates.io", 443));
    }

    #[test]
    fn a_bridge_name_fits_linux() {
        let run = RunId::new();
        assert_eq!(bridge(&run).len(), 15);
    }
}
