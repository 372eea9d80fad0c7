//! `cargo xtask bench`: our servers against their peer, alternating A/B in one run.
//!
//! Machines here are noisy, so absolute figures mean little: each bench starts our server and nginx
//! (Debian's, configured as in the project's performance baseline) on loopback, gives them the same
//! work, runs `wrk -t2 -c64 --latency` against A then B, round after round, and reports the median
//! requests/s and p99 of each, and the ratio ours/nginx.
//!
//! - `static-site`: the same files (2 KB, 100 KB, 1 MB) from `static-site` and from nginx.
//! - `cache`: the portfolio app's timeline read with its Redis cache and without (same database).
//! - `reverse-proxy`: a 2 KB page from one upstream (an nginx file server), through `reverse-proxy`
//!   and through nginx's `proxy_pass` with a keep-alive upstream, over HTTP and over TLS.
//! - `lab3-up`: `check lab3 --up --solutions` against Compose doing the same work bare (its floor).

use anyhow::{bail, Context};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// File sizes benchmarked, as (name, bytes).
pub const SIZES: &[(&str, usize)] = &[("2KB", 2 * 1024), ("100KB", 100 * 1024), ("1MB", 1024 * 1024)];

/// One wrk run's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkResult {
    pub requests_per_second: f64,
    pub p99_ms: f64,
}

/// Reads `Requests/sec:` and the `99%` latency line from wrk's `--latency` output.
pub fn parse_wrk(output: &str) -> Option<WrkResult> {
    let requests_per_second =
        output.lines().find_map(|l| l.trim().strip_prefix("Requests/sec:"))?.trim().parse().ok()?;
    let p99 = output.lines().map(str::trim).find_map(|l| l.strip_prefix("99%"))?.trim();
    let p99_ms = if let Some(v) = p99.strip_suffix("us") {
        v.parse::<f64>().ok()? / 1000.0
    } else if let Some(v) = p99.strip_suffix("ms") {
        v.parse().ok()?
    } else if let Some(v) = p99.strip_suffix('s') {
        v.parse::<f64>().ok()? * 1000.0
    } else {
        return None;
    };
    Some(WrkResult { requests_per_second, p99_ms })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A server process the bench started; stopped (by its PID) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let child = &mut self.0;
        crate::process::stop_blocking(&[child.id()], Duration::from_secs(2), |_| matches!(child.try_wait(), Ok(None)));
        let _ = child.wait();
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs nginx and wrk from Debian's packages when missing and allowed (root).
fn ensure_tools() -> anyhow::Result<()> {
    if have("nginx") && have("wrk") {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !have("apt-get") {
        bail!("the bench needs nginx and wrk: install them (Debian: apt-get install nginx-light wrk)");
    }
    eprintln!("installing nginx-light and wrk ...");
    let status = Command::new("sh")
        .args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq nginx-light wrk >/dev/null",
        ])
        .status()?;
    if !status.success() {
        bail!("apt-get could not install nginx-light and wrk");
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(sandbox::ports::reserve()?)
}

fn wait_ready_for(port: u16, server: &mut Server, name: &str, patience: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + patience;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            bail!("{name} exited ({status}) before it listened");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{name} did not listen on {port} within {}s", patience.as_secs())
}

fn wait_ready(port: u16, server: &mut Server, name: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            bail!("{name} exited ({status}) before it was ready");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{name} did not answer on port {port}")
}

fn write_files(www: &Path) -> anyhow::Result<()> {
    let line = "<p>Container Labs benchmark page: the quick brown fox jumps over the lazy dog.</p>\n";
    for (name, size) in SIZES {
        let mut body = String::from("<!doctype html><title>bench</title>\n");
        while body.len() < *size {
            body.push_str(line);
        }
        body.truncate(*size);
        std::fs::write(www.join(format!("{name}.html")), body)?;
    }
    Ok(())
}

fn nginx_config(dir: &Path, servers: &str) -> String {
    let d = dir.display();
    format!(
        "worker_processes auto; pid {d}/nginx.pid; error_log {d}/error.log; daemon off;\n\
         events {{ worker_connections 4096; }}\n\
         http {{ access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_timeout 65;\n\
           types {{ text/html html; }}\n\
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
           uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           {servers} }}\n"
    )
}

fn wrk(url: &str, seconds: u32) -> anyhow::Result<WrkResult> {
    let output = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency", url])
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_wrk(&text).with_context(|| format!("cannot read wrk's output: {text}"))
}

pub async fn run(root: &Path, target: &str, seconds: u32, rounds: u32) -> anyhow::Result<()> {
    run_with(root, target, seconds, rounds, &BatchBench::default()).await
}

/// What `bench batch` grades: a lab, and how many copies of the course's answer.
#[derive(Debug, Clone)]
pub struct BatchBench {
    pub lab: String,
    pub submissions: usize,
}

impl Default for BatchBench {
    fn default() -> BatchBench {
        BatchBench { lab: "lab1".into(), submissions: 4 }
    }
}

pub async fn run_with(root: &Path, target: &str, seconds: u32, rounds: u32, batch: &BatchBench) -> anyhow::Result<()> {
    if !matches!(
        target,
        "static-site" | "reverse-proxy" | "cache" | "lab3-up" | "check-loop" | "batch" | "class" | "cold-start"
    ) {
        bail!(
            "unknown bench '{target}' (benches: static-site, reverse-proxy, cache, lab3-up, check-loop, batch, class, cold-start)"
        );
    }
    if target == "cold-start" {
        return bench_cold_start(root).await;
    }
    if target == "class" {
        return bench_class(root, batch.submissions).await;
    }
    if target == "batch" {
        return bench_batch(root, batch, rounds).await;
    }
    if target == "lab3-up" {
        return bench_lab3_up(root, rounds).await;
    }
    if target == "check-loop" {
        return bench_check_loop(root, rounds).await;
    }
    ensure_tools()?;
    if target == "cache" {
        return bench_cache(root, seconds, rounds).await;
    }
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["build", "--quiet", "--release", "-p", target])
        .status()?;
    if !status.success() {
        bail!("building {target} (release) failed");
    }
    let dir = tempfile::Builder::new().prefix("clabs-bench-").tempdir()?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    // nginx's workers run as nobody when started by root: they must be able to read the files.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    write_files(&www)?;
    println!("{target} vs nginx: wrk -t2 -c64 -d{seconds}s --latency, {rounds} A/B rounds per row, medians");
    println!(
        "{:<14} {:>12} {:>9} {:>12} {:>9} {:>8}  (per-round min-max)",
        "what", "ours req/s", "p99", "nginx req/s", "p99", "ratio"
    );
    if target == "static-site" {
        bench_static_site(root, dir.path(), seconds, rounds)
    } else {
        bench_reverse_proxy(root, dir.path(), seconds, rounds)
    }
}

/// `cargo xtask bench cold-start`: the README's first command, `cargo xtask check lab3 --up
/// --solutions`, as a first run on this machine makes it, without touching what the machine has:
/// an empty cargo target folder (the launcher and the grader compiled from nothing) and a scratch
/// engine (an empty data root, its own socket and bridge, no iptables rules) on which every image
/// is made anew. The launcher runs as the `cargo xtask` alias runs it, so its prefetch makes the
/// engine's images while cargo compiles the grader; the bench prints what ran when, overlaps and
/// all. Installing the engine package is not part of the figure (the machine has it). Afterwards
/// the scratch engine is stopped and its folders and the target folder are removed.
async fn bench_cold_start(root: &Path) -> anyhow::Result<()> {
    let parent = crate::target_dir(root);
    std::fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let target = tempfile::Builder::new().prefix("clabs-cold-target-").tempdir_in(&parent)?;
    let began = std::time::Instant::now();
    eprintln!("starting a scratch engine (an empty data root) ...");
    let engine = crate::engine::scratch::ScratchEngine::start("10.215")?;
    let mut timeline = vec![Event::span("starting the scratch engine (empty data root)", 0.0, began.elapsed())];
    let measured = cold_start(root, &engine.host(), target.path(), began, &mut timeline);
    let total = began.elapsed().as_secs_f64();
    let log = engine.log();
    let kept_log = std::env::temp_dir().join("clabs-cold-dockerd.log");
    let _ = std::fs::copy(&log, &kept_log);
    drop(engine);
    drop(target);
    measured.with_context(|| format!("the scratch engine's log: {}", kept_log.display()))?;
    println!("cold start: an empty target folder, a scratch engine (empty data root), this machine's Debian mirror");
    println!("  {:<78} {:>7} {:>7} {:>7}", "what", "from", "to", "took");
    for event in &timeline {
        println!("{event}");
    }
    println!("  {:<78} {:>7} {:>7.1} {:>7.1}", "total", "", total, total);
    println!("installing the engine package (docker.io, docker-compose): not part of this figure");
    println!("removed the scratch engine (its data, images and bridge) and the target folder");
    Ok(())
}

/// One line of the cold start's timeline: what, from when and to when (seconds since the bench
/// began), either of which may be unknown.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    what: String,
    from: Option<f64>,
    to: Option<f64>,
}

impl Event {
    fn span(what: &str, from: f64, took: Duration) -> Event {
        Event { what: what.to_string(), from: Some(from), to: Some(from + took.as_secs_f64()) }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |t: Option<f64>| t.map(|t| format!("{t:.1}")).unwrap_or_default();
        let took = match (self.from, self.to) {
            (Some(from), Some(to)) => format!("{:.1}", to - from),
            _ => String::new(),
        };
        write!(f, "  {:<78} {:>7} {:>7} {:>7}", self.what, at(self.from), at(self.to), took)
    }
}

/// Compiles the launcher into the empty `target`, then runs it - `check lab3 --up --solutions`
/// on the engine at `host` - reading what it says as it says it; adds what ran when to `timeline`.
fn cold_start(
    root: &Path,
    host: &str,
    target: &Path,
    began: std::time::Instant,
    timeline: &mut Vec<Event>,
) -> anyhow::Result<()> {
    use std::io::BufRead;
    let at = |began: std::time::Instant| began.elapsed().as_secs_f64();
    let start = at(began);
    eprintln!("compiling the launcher into an empty target folder ...");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--quiet", "--package", "provision", "--bin", "xtask-launch"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("compiling the launcher failed (cargo's messages are above)");
    }
    timeline.push(Event { what: "compiling the launcher".into(), from: Some(start), to: Some(at(began)) });
    eprintln!("cargo xtask check lab3 --up --solutions, on the scratch engine ...");
    let (http, https) = (free_port()?, free_port()?);
    let launched = at(began);
    let mut child = Command::new(target.join("debug").join("xtask-launch"))
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .env("DOCKER_HOST", host)
        .env("NO_PROGRESS", "1")
        .args(["check", "lab3", "--up", "--solutions", "--images", "build", "--format", "json"])
        .args(["--var", &format!("http_port={http}"), "--var", &format!("https_port={https}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run the launcher")?;
    let stdout = child.stdout.take().expect("piped");
    let report = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::BufReader::new(stdout), &mut text);
        text
    });
    // Each line it says, with when it came.
    let mut said: Vec<(f64, String)> = Vec::new();
    for line in std::io::BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line.unwrap_or_default();
        eprintln!("{line}");
        said.push((at(began), line));
    }
    let status = child.wait()?;
    let ended = at(began);
    let report: serde_json::Value = serde_json::from_slice(&report.join().unwrap_or_default()).unwrap_or_default();
    if status.code() != Some(0) || report["score"] != report["max_score"] {
        let failed: Vec<String> = checks_of(&report)
            .filter(|c| c["status"] != "passed")
            .map(|c| {
                let why = c["actual"].as_str().or(c["reason"].as_str()).unwrap_or_default();
                format!("{} ({why})", c["id"].as_str().unwrap_or("?"))
            })
            .collect();
        bail!(
            "the cold run did not give the answer full marks ({}/{}), so the figure would time a failure; failed: {}",
            report["score"],
            report["max_score"],
            failed.join("; ")
        );
    }
    let prefetch = std::fs::read_to_string(provision::prefetch_log_in(target)).unwrap_or_default();
    timeline.extend(run_timeline(launched, ended, &said, &prefetch));
    Ok(())
}

/// What the launcher's run said (`said`: each line and when it came, in seconds since the bench
/// began; it was started at `launched` and ended at `ended`) and its prefetch's log, as a
/// timeline: the grader's compile, the prefetch's steps beside it (its log counts from its own
/// start, which the launcher announces), and the grader's phases, each ending when it said so.
fn run_timeline(launched: f64, ended: f64, said: &[(f64, String)], prefetch: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let when = |prefix: &str| said.iter().find(|(_, l)| l.starts_with(prefix)).map(|(t, l)| (*t, l.clone()));
    let compiled = when("compiling the grader: ");
    let grader_from = compiled.as_ref().map(|(t, _)| *t).unwrap_or(launched);
    events.push(Event { what: "compiling the grader".into(), from: Some(launched), to: compiled.map(|(t, _)| t) });
    if let Some((prefetch_from, _)) = when("meanwhile, making sure of ") {
        events.push(Event { what: "beside it, the launcher's prefetch:".into(), from: Some(prefetch_from), to: None });
        let mut building: Vec<(String, f64)> = Vec::new();
        for line in prefetch.lines() {
            let Some((seconds, what)) = line.trim_start().split_once(" s  ") else { continue };
            let Ok(seconds) = seconds.trim().parse::<f64>() else { continue };
            let t = prefetch_from + seconds;
            if let Some(tag) = what.strip_prefix("building image ").map(|r| r.trim_end_matches(" ...")) {
                building.push((tag.to_string(), t));
            } else if what.starts_with("making the Debian base") {
                building.push(("the Debian base".into(), t));
            } else if let Some((thing, how)) = what.rsplit_once(": ") {
                if what.starts_with("Step ") {
                    continue;
                }
                let from = building.iter().find(|(b, _)| b == thing).map(|(_, f)| *f);
                events.push(Event { what: format!("  {thing}: {how}"), from, to: Some(t) });
            } else if what == "done" {
                events.push(Event { what: "  the prefetch ended".into(), from: None, to: Some(t) });
            }
        }
    }
    events.push(Event {
        what: "check lab3 --up --solutions (the grader)".into(),
        from: Some(grader_from),
        to: Some(ended),
    });
    // Its phases end with `[k/N] name: 12.3 s`, after the parts that ran at once: `  the images: 9.1 s`.
    let mut parts = Vec::new();
    for (t, line) in said.iter().filter(|(t, _)| *t >= grader_from) {
        let Some((name, seconds)) = line.trim_start().rsplit_once(": ") else { continue };
        let Ok(seconds) = seconds.trim_end_matches(" s").parse::<f64>() else { continue };
        let event = |indent: &str| Event { what: format!("{indent}{name}"), from: Some(t - seconds), to: Some(*t) };
        if line.starts_with('[') {
            events.push(event("  "));
            events.append(&mut parts);
        } else if line.starts_with("  ") && !line.starts_with("   ") {
            parts.push(event("      "));
        }
    }
    events
}

/// Runs a container with `labels` (a run's: the run reaps it) publishing `port` on a free loopback
/// port; returns that port.
fn run_container(
    name: &str,
    image: &str,
    port: u16,
    env: &[&str],
    labels: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<u16> {
    let host = free_port()?;
    let publish = format!("127.0.0.1:{host}:{port}");
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["run", "-d", "--name", name, "-p", &publish];
    for label in &labels {
        args.extend(["--label", label]);
    }
    for e in env {
        args.extend(["-e", e]);
    }
    args.push(image);
    let output = Command::new("docker").args(&args).output().context("cannot run docker")?;
    if !output.status.success() {
        bail!("cannot start {name}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(host)
}

/// `cargo xtask bench cache`: the portfolio app's timeline read (50 posts) with its Redis cache
/// and without, same database, same run, alternating. MariaDB and Redis are the project's
/// stand-in containers, published on loopback for the bench only, and removed afterwards.
async fn bench_cache(root: &Path, seconds: u32, rounds: u32) -> anyhow::Result<()> {
    let engine = crate::engine::ensure(crate::engine::Provision::IfMissing).await?;
    for image in ["mariadb", "redis"] {
        let standin = crate::engine::images::stand_ins().iter().find(|s| s.dir == image).expect("stand-in");
        crate::engine::images::stand_in(&engine, root, &standin.tag, &standin.dir).await?;
    }
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["build", "--quiet", "--release", "-p", "web-db", "--bin", "portfolio"])
        .status()?;
    if !status.success() {
        bail!("building portfolio (release) failed");
    }
    // A run of its own: its label is on both containers, and the run removes them however the bench ends.
    let run = sandbox::Run::start(sandbox::RunConfig::new(engine.sandbox_endpoint())).await?;
    let (db, redis) = (format!("clabs-bench-db-{}", run.id()), format!("clabs-bench-redis-{}", run.id()));
    let db_port = run_container(
        &db,
        "containerlabs/mariadb:10.11-standin",
        3306,
        &[
            "MARIADB_ROOT_PASSWORD=bench-root",
            "MARIADB_DATABASE=portfolio",
            "MARIADB_USER=portfolio",
            "MARIADB_PASSWORD=bench",
        ],
        run.labels(),
    )?;
    let redis_port = run_container(&redis, "containerlabs/redis:7.0-standin", 6379, &[], run.labels())?;
    let start = |port: u16, cached: bool| -> anyhow::Result<Server> {
        let mut command = Command::new(root.join("target/release/portfolio"));
        command
            .env("MYSQL_HOST", format!("127.0.0.1:{db_port}"))
            .env("MYSQL_USER", "portfolio")
            .env("MYSQL_PASSWORD", "bench")
            .env("MYSQL_DATABASE", "portfolio")
            .env("PORT", port.to_string())
            .stderr(Stdio::null());
        if cached {
            command.env("REDIS_HOST", "127.0.0.1").env("REDIS_PORT", redis_port.to_string());
        }
        Ok(Server(command.spawn().context("cannot start portfolio")?))
    };
    let (cached_port, plain_port) = (free_port()?, free_port()?);
    eprintln!("starting MariaDB and Redis (the first MariaDB start takes a few seconds) ...");
    let mut cached = start(cached_port, true)?;
    wait_ready_for(cached_port, &mut cached, "portfolio (cached)", Duration::from_secs(120))?;
    let mut plain = start(plain_port, false)?;
    wait_ready_for(plain_port, &mut plain, "portfolio (uncached)", Duration::from_secs(120))?;
    for i in 0..50 {
        let body = format!("name=Bench&email=bench%40example.test&content=post+number+{i}+of+the+cache+bench");
        let request = format!(
            "POST /api/timeline_post HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", plain_port))?;
        stream.write_all(request.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        if !answer.starts_with("HTTP/1.1 200") {
            bail!("seeding the timeline failed: {}", answer.lines().next().unwrap_or_default());
        }
    }
    println!("portfolio GET /api/timeline_post (50 posts): Redis cache-aside vs the database alone");
    println!("wrk -t2 -c64 -d{seconds}s --latency, {rounds} A/B rounds, medians");
    println!(
        "{:<14} {:>12} {:>9} {:>12} {:>9} {:>8}  (per-round min-max)",
        "what", "cached req/s", "p99", "db req/s", "p99", "ratio"
    );
    let compared = compare(
        "timeline",
        &format!("http://127.0.0.1:{cached_port}/api/timeline_post"),
        &format!("http://127.0.0.1:{plain_port}/api/timeline_post"),
        seconds,
        rounds,
    );
    drop((cached, plain));
    run.finish().await?;
    compared
}

/// `grade` of K copies of the course's answer at `--jobs 1` and `--jobs 2`, alternating which goes
/// first each round; submissions per hour, medians, and their ratio. Every row must get full
/// marks, or the figures would time failures.
async fn bench_batch(root: &Path, bench: &BatchBench, rounds: u32) -> anyhow::Result<()> {
    if bench.submissions == 0 {
        bail!("--submissions must be at least 1");
    }
    let answer = crate::selection::solutions(root, &bench.lab)?;
    let class = tempfile::tempdir()?;
    for i in 0..bench.submissions {
        let copied =
            Command::new("cp").arg("-a").arg(answer.path()).arg(class.path().join(format!("s{i:02}"))).status()?;
        if !copied.success() {
            bail!("cannot copy the course's answer");
        }
    }
    println!(
        "{}: grade --up of {} copies of the course's answer, --jobs 1 against --jobs 2, {rounds} rounds alternating",
        bench.lab, bench.submissions
    );
    let mut rates: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [1, 2] } else { [2, 1] };
        for jobs in order {
            let out = tempfile::tempdir()?;
            let options = crate::grade::batch::BatchOptions {
                submissions: Some(class.path().to_path_buf()),
                ..crate::grade::batch::BatchOptions::up(root, &bench.lab, out.path(), jobs)
            };
            let start = std::time::Instant::now();
            crate::grade::batch::run(options).await?;
            let secs = start.elapsed().as_secs_f64();
            let gradebook = std::fs::read_to_string(out.path().join("gradebook.csv"))?;
            let mut reader = csv::Reader::from_reader(gradebook.as_bytes());
            for record in reader.records() {
                let record = record?;
                if record.get(2) != Some("graded") || record.get(3) != record.get(4) {
                    bail!(
                        "a copy of the answer did not get full marks, so the figures would time a failure: {record:?}"
                    );
                }
            }
            let per_hour = bench.submissions as f64 * 3600.0 / secs;
            println!("  round {}: --jobs {jobs}: {secs:.1} s, {per_hour:.0} submissions/hour", round + 1);
            rates.entry(jobs).or_default().push(per_hour);
        }
    }
    let mut ratios: Vec<f64> = rates[&2].iter().zip(&rates[&1]).map(|(two, one)| two / one).collect();
    let (low, mid, high) = spread(&mut ratios);
    let one = median(rates.get_mut(&1).expect("jobs 1 ran"));
    let two = median(rates.get_mut(&2).expect("jobs 2 ran"));
    println!(
        "median: --jobs 1 {one:.0}/hour, --jobs 2 {two:.0}/hour: {:.2}x; per round {low:.2}x-{high:.2}x (median {mid:.2}x)",
        two / one
    );
    Ok(())
}

/// `bench class`: the class round trip at size - `course export` as a template, N students'
/// `file://` repositories (every other one with labs 1 and 2 done, the rest the starter), each
/// committed and pushed, then `collect` and `grade` of labs 1 and 2 at `--jobs 2`. Prints each
/// phase's time; every finished student must get full marks, or the figures would time a failure.
async fn bench_class(root: &Path, students: usize) -> anyhow::Result<()> {
    if students == 0 {
        bail!("--submissions must be at least 1");
    }
    let dir = tempfile::Builder::new().prefix("clabs-bench-class-").tempdir()?;
    let git = |cwd: &Path, args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("git")
            .current_dir(cwd)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_COMMITTER_DATE", "2026-11-30T12:00:00Z")
            .args(["-c", "user.name=Student", "-c", "user.email=s@example.test", "-c", "init.defaultBranch=main"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("git {args:?} failed in {}", cwd.display());
        }
        Ok(())
    };
    let started = std::time::Instant::now();
    let template = dir.path().join("template");
    crate::course::export::export(root, &template)?;
    git(&template, &["init", "-q"])?;
    git(&template, &["add", "-A"])?;
    git(&template, &["commit", "-q", "-m", "starters"])?;
    let curriculum = grading::Curriculum::load(root)?;
    let done: Vec<&grading::Step> = ["lab1", "lab2"]
        .iter()
        .flat_map(|lab| curriculum.lab(lab).map(|l| l.steps.iter()).into_iter().flatten())
        .collect();
    let mut roster = String::from("student,repository\n");
    for i in 0..students {
        let name = format!("s{i:02}");
        let remote = dir.path().join("remotes").join(format!("{name}.git"));
        let clone = dir.path().join("laptops").join(&name);
        std::fs::create_dir_all(remote.parent().expect("a folder"))?;
        git(dir.path(), &["clone", "-q", "--bare", &template.display().to_string(), &remote.display().to_string()])?;
        git(dir.path(), &["clone", "-q", &remote.display().to_string(), &clone.display().to_string()])?;
        if i % 2 == 0 {
            for step in &done {
                let solution = root.join(&step.dir).join("solution");
                if solution.is_dir() {
                    let copied = Command::new("cp")
                        .arg("-a")
                        .arg(format!("{}/.", solution.display()))
                        .arg(clone.join(&step.dir))
                        .status()?;
                    if !copied.success() {
                        bail!("cannot copy {}", solution.display());
                    }
                }
            }
            git(&clone, &["add", "-A"])?;
            git(&clone, &["commit", "-q", "-m", "my work"])?;
            git(&clone, &["push", "-q", "origin", "HEAD"])?;
        }
        roster.push_str(&format!("{name},file://{}\n", remote.display()));
    }
    std::fs::write(dir.path().join("roster.csv"), roster)?;
    println!(
        "class of {students} (every other one finished labs 1 and 2): repositories made in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let class = dir.path().join("class");
    let start = std::time::Instant::now();
    crate::grade::collect::run(&crate::grade::collect::CollectOptions {
        roster: dir.path().join("roster.csv"),
        deadline: "2026-12-01T23:59:00Z".into(),
        out: class.clone(),
        jobs: 4,
        org: None,
        prefix: None,
        token_env: None,
        max_bytes: 500 << 20,
        timeout: std::time::Duration::from_secs(300),
    })?;
    let collect_secs = start.elapsed().as_secs_f64();
    println!("collect --jobs 4: {collect_secs:.1} s");
    let mut total = collect_secs;
    for lab in ["lab1", "lab2"] {
        let out = dir.path().join(format!("grades-{lab}"));
        let options = crate::grade::batch::BatchOptions {
            roster: Some(class.join("roster.csv")),
            ..crate::grade::batch::BatchOptions::up(root, lab, &out, 2)
        };
        let start = std::time::Instant::now();
        crate::grade::batch::run(options).await?;
        let secs = start.elapsed().as_secs_f64();
        total += secs;
        let mut reader = csv::Reader::from_path(out.join("gradebook.csv"))?;
        let (mut full, mut rows) = (0, 0);
        for record in reader.records() {
            let record = record?;
            rows += 1;
            let student: usize = record[0].trim_start_matches('s').parse().unwrap_or(1);
            let is_full = &record[2] == "graded" && record.get(3) == record.get(4);
            if student % 2 == 0 && !is_full {
                bail!(
                    "{lab}: a finished student did not get full marks, so the figures would time a failure: {record:?}"
                );
            }
            full += usize::from(is_full);
        }
        println!(
            "grade {lab} --up --jobs 2: {secs:.1} s for {rows} students ({:.1} s each; {full} full marks)",
            secs / rows.max(1) as f64
        );
    }
    println!("collect + grade of labs 1 and 2: {total:.1} s ({:.1} min)", total / 60.0);
    Ok(())
}

/// `cargo xtask bench lab3-up`: the grader's `check lab3 --up --solutions` against its floor -
/// what Compose itself takes to do the same work on the same file, bare: `up --wait` (healthy),
/// WordPress installed and a post published, a file put in Nextcloud, the same recreate sequence
/// the persistence checks run (WordPress and Nextcloud, their databases, down and up), both read
/// back with `curl`, `down --volumes`. Alternating A/B each round (which goes first alternates
/// too); per round the ratio grader/bare, then min-median-max. Every grader run must get full
/// marks, or the figure would time a failure.
async fn bench_lab3_up(root: &Path, rounds: u32) -> anyhow::Result<()> {
    let (compose, images) = lab3_bench_setup(root).await?;
    // The course's answer, as `--solutions` grades it; the bare run uses its .env.example as .env.
    let answer = crate::selection::solutions(root, "lab3")?;
    let dir = answer.path().join("labs/compose");
    std::fs::copy(dir.join(".env.example"), dir.join(".env")).context("cannot write the bare run's .env")?;
    let xtask = std::env::current_exe().context("cannot find the xtask binary")?;
    println!("lab 3: check lab3 --up --solutions (the grader) against Compose doing the same work bare; {rounds} rounds, alternating");
    let (mut bare, mut graded, mut ratios) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let grader_first = round % 2 == 1;
        let mut times = [0.0, 0.0];
        for which in if grader_first { [1, 0] } else { [0, 1] } {
            let project = format!("clabsbench{}r{round}{which}", std::process::id());
            let (http, https) = (free_port()?, free_port()?);
            times[which] = if which == 0 {
                bare_lab3(&BareStack::new(&compose, &dir, &project, (http, https), &images))?
            } else {
                let mut check = Command::new(&xtask);
                check.current_dir(root).args(["check", "lab3", "--up", "--solutions", "--images", "build"]);
                check.args(["--format", "json", "--var", &format!("project={project}")]);
                check.args(["--var", &format!("http_port={http}"), "--var", &format!("https_port={https}")]);
                let start = std::time::Instant::now();
                let output = check.output().context("cannot run check lab3 --up")?;
                let secs = start.elapsed().as_secs_f64();
                let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
                if output.status.code() != Some(0) || report["score"] != report["max_score"] {
                    bail!(
                        "the grader did not give the answer full marks ({}/{}), so the figure would time a failure: {}",
                        report["score"],
                        report["max_score"],
                        String::from_utf8_lossy(&output.stderr).trim()
                    );
                }
                secs
            };
        }
        let ratio = times[1] / times[0];
        eprintln!("round {}: bare {:.1} s, grader {:.1} s: {ratio:.2}x", round + 1, times[0], times[1]);
        bare.push(times[0]);
        graded.push(times[1]);
        ratios.push(ratio);
    }
    println!("{:<34} {:>8} {:>8} {:>8}", "seconds", "min", "median", "max");
    for (what, values) in [("bare Compose (the floor)", &mut bare), ("check lab3 --up --solutions", &mut graded)] {
        let (low, mid, high) = spread(values);
        println!("{what:<34} {low:>8.1} {mid:>8.1} {high:>8.1}");
    }
    let (low, mid, high) = spread(&mut ratios);
    println!("{:<34} {low:>7.2}x {mid:>7.2}x {high:>7.2}x", "grader / bare (per round)");
    Ok(())
}

/// Min, median and max of `values` (sorted in place).
fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[0], values[values.len() / 2], values[values.len() - 1])
}

/// A lab 3 stack run by Compose directly (no grader, no sandbox), taken down with its volumes
/// when dropped.
struct BareStack<'a> {
    compose: &'a [String],
    dir: &'a Path,
    project: String,
    https: u16,
    env: Vec<(String, String)>,
}

impl BareStack<'_> {
    fn new<'a>(
        compose: &'a [String],
        dir: &'a Path,
        project: &str,
        ports: (u16, u16),
        images: &[(&str, String)],
    ) -> BareStack<'a> {
        let mut env: Vec<(String, String)> = images.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        env.push(("HTTP_PORT".into(), ports.0.to_string()));
        env.push(("HTTPS_PORT".into(), ports.1.to_string()));
        BareStack { compose, dir, project: project.to_string(), https: ports.1, env }
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = Command::new(&self.compose[0])
            .args(&self.compose[1..])
            .current_dir(self.dir)
            .args(["-p", &self.project])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .context("cannot run compose")?;
        if !output.status.success() {
            bail!("compose {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }

    /// `curl -k` of `https://<host>.localhost:<https><path>`; its body.
    fn curl(&self, host: &str, path: &str, args: &[&str]) -> anyhow::Result<String> {
        let (name, https) = (format!("{host}.localhost"), self.https);
        let output = Command::new("curl")
            .args(["-sk", "--max-time", "60", "--resolve", &format!("{name}:{https}:127.0.0.1")])
            .args(args)
            .arg(format!("https://{name}:{https}{path}"))
            .output()
            .context("cannot run curl")?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Drop for BareStack<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["down", "--volumes", "--remove-orphans"]);
    }
}

/// Lab 3's work done bare, by Compose and `curl`, timed whole; the stack is removed however it ends.
fn bare_lab3(stack: &BareStack<'_>) -> anyhow::Result<f64> {
    let start = std::time::Instant::now();
    stack.run(&["up", "-d", "--wait"])?;
    let probe = format!("bench-probe-{}", std::process::id());
    let form = "weblog_title=Bench&user_name=admin&admin_password=bench-wp-pass&admin_password2=bench-wp-pass&pw_weak=1&admin_email=b%40example.test&blog_public=0";
    let installed = stack.curl("wordpress", "/wp-admin/install.php?step=2", &["--data", form])?;
    if !installed.to_ascii_lowercase().contains("success!") {
        bail!("the bare run could not install WordPress");
    }
    let post = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>wp.newPost</methodName><params><param><value><int>1</int></value></param><param><value><string>admin</string></value></param><param><value><string>bench-wp-pass</string></value></param><param><value><struct><member><name>post_title</name><value><string>Bench</string></value></member><member><name>post_content</name><value><string>{probe}</string></value></member><member><name>post_status</name><value><string>publish</string></value></member></struct></value></param></params></methodCall>"
    );
    let posted = stack.curl("wordpress", "/xmlrpc.php", &["-H", "content-type: text/xml", "--data", &post])?;
    if posted.contains("faultCode") || !posted.contains("<string>") {
        bail!("the bare run could not publish a post: {}", posted.trim());
    }
    let file = format!("/remote.php/dav/files/admin/{probe}.txt");
    let auth = ["-u", "admin:change-me-admin"];
    let put = stack.curl(
        "nextcloud",
        &file,
        &[&auth[..], &["-X", "PUT", "--data-binary", &probe, "-w", "%{http_code}"]].concat(),
    )?;
    if !put.ends_with("201") && !put.ends_with("204") {
        bail!("the bare run could not put a file in Nextcloud: {}", put.trim());
    }
    stack.run(&["up", "-d", "--wait", "--no-deps", "--force-recreate", "wordpress", "nextcloud"])?;
    stack.run(&["up", "-d", "--wait", "--no-deps", "--force-recreate", "wordpress-db", "nextcloud-db"])?;
    stack.run(&["down"])?;
    stack.run(&["up", "-d", "--wait"])?;
    if !stack.curl("wordpress", &format!("/?s={probe}"), &[])?.contains(&probe) {
        bail!("the bare run's post did not survive");
    }
    if !stack.curl("nextcloud", &file, &auth)?.contains(&probe) {
        bail!("the bare run's file did not survive");
    }
    stack.run(&["down", "--volumes"])?;
    Ok(start.elapsed().as_secs_f64())
}

/// The images and tools a lab 3 bench needs; returns (compose command, image variables).
async fn lab3_bench_setup(root: &Path) -> anyhow::Result<(Vec<String>, Vec<(&'static str, String)>)> {
    let engine = crate::engine::ensure(crate::engine::Provision::IfMissing).await?;
    let Some(compose) = crate::engine::compose_command() else {
        bail!("the bench needs Docker Compose v2 (cargo xtask engine installs it)");
    };
    let version = Command::new(&compose[0]).args(&compose[1..]).args(["version", "--short"]).output()?;
    if !String::from_utf8_lossy(&version.stdout).trim().trim_start_matches('v').starts_with('2') {
        bail!("the bench's bare run needs Compose v2 (`up --wait`); this machine has {}", compose.join(" "));
    }
    let stand_in = |official: &str| -> String {
        crate::engine::images::stand_ins()
            .iter()
            .find(|s| s.official == official)
            .map_or(official, |s| s.tag.as_str())
            .to_string()
    };
    let images = vec![
        ("MARIADB_IMAGE", stand_in("mariadb:10.11")),
        ("WORDPRESS_IMAGE", stand_in("wordpress:6.1-apache")),
        ("NEXTCLOUD_IMAGE", stand_in("nextcloud:28-apache")),
        ("REDIS_IMAGE", stand_in("redis:7.0")),
        ("NGINX_IMAGE", stand_in("nginx:1.27")),
    ];
    let tags: Vec<String> = images.iter().map(|(_, tag)| tag.clone()).collect();
    crate::engine::images::ensure(&engine, root, &tags, crate::engine::images::ImageSource::Build, true).await?;
    Ok((compose, images))
}

/// `cargo xtask bench check-loop`: the student's loop - `check lab3` on a lab 3 stack the student
/// brought up (bare Compose, the course's answer with two faults: no HSTS, the cache published),
/// once it is up, healthy and WordPress is installed. Each round times
/// `check lab3` and, as the peer in the same run, `docker compose ps` on the same stack; prints
/// both with min-median-max. Each `check` must report exactly those faults.
async fn bench_check_loop(root: &Path, rounds: u32) -> anyhow::Result<()> {
    let (compose, images) = lab3_bench_setup(root).await?;
    let answer = crate::selection::solutions(root, "lab3")?;
    let dir = answer.path().join("labs/compose");
    std::fs::copy(dir.join(".env.example"), dir.join(".env")).context("cannot write the stack's .env")?;
    // As in the course's repository: the real .env is kept out of git.
    std::fs::write(answer.path().join(".gitignore"), ".env\n").context("cannot write .gitignore")?;
    let edit = |file: &str, from: &str, to: &str| -> anyhow::Result<()> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)?;
        if !text.contains(from) {
            bail!("the answer's {file} has no {from:?} to change");
        }
        std::fs::write(&path, text.replacen(from, to, 1)).map_err(Into::into)
    };
    edit("nginx/default.conf.template", "    add_header Strict-Transport-Security \"max-age=63072000\" always;\n", "")?;
    edit("compose.yaml", "      - redis:/data\n", "      - redis:/data\n    ports:\n      - \"127.0.0.1::6379\"\n")?;
    let project = format!("clabsloop{}", std::process::id());
    let (http, https) = (free_port()?, free_port()?);
    let stack = BareStack::new(&compose, &dir, &project, (http, https), &images);
    eprintln!("bringing the stack up with Compose ...");
    stack.run(&["up", "-d", "--wait"])?;
    // As a student would have: WordPress installed through its page.
    let form = "weblog_title=Loop&user_name=admin&admin_password=clabs-wp-admin-pass&admin_password2=clabs-wp-admin-pass&pw_weak=1&admin_email=b%40example.test&blog_public=0";
    stack.curl("wordpress", "/wp-admin/install.php?step=2", &["--data", form])?;
    std::thread::sleep(Duration::from_secs(6));
    let xtask = std::env::current_exe().context("cannot find the xtask binary")?;
    let expected = ["cache-not-published", "front-door-hsts"];
    println!(
        "check lab3 on a running lab 3 stack with {} failing checks, against `compose ps` on it; {rounds} rounds",
        expected.len()
    );
    let (mut checks, mut peers) = (vec![], vec![]);
    let mut last = serde_json::Value::Null;
    for round in 0..rounds {
        let start = std::time::Instant::now();
        let output = Command::new(&xtask)
            .current_dir(root)
            .args(["check", "lab3", "--format", "json", "--submission"])
            .arg(answer.path())
            .args(["--var", &format!("project={project}"), "--var", &format!("http_port={http}")])
            .args(["--var", &format!("https_port={https}"), "--var", "nc_password=change-me-admin"])
            .output()
            .context("cannot run check lab3")?;
        let took = start.elapsed().as_secs_f64();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let mut failed: Vec<String> = checks_of(&report)
            .filter(|c| c["status"] == "failed")
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect();
        failed.sort();
        if failed != expected {
            bail!("check lab3 failed {failed:?}, not {expected:?}: the figure would time something else");
        }
        let start = std::time::Instant::now();
        stack.run(&["ps"])?;
        let peer = start.elapsed().as_secs_f64();
        eprintln!("round {}: check lab3 {took:.2} s, compose ps {peer:.2} s", round + 1);
        checks.push(took);
        peers.push(peer);
        last = report;
    }
    println!("{:<28} {:>8} {:>8} {:>8}", "seconds", "min", "median", "max");
    for (what, values) in [("check lab3", &mut checks), ("compose ps (peer)", &mut peers)] {
        let (low, mid, high) = spread(values);
        println!("{what:<28} {low:>8.2} {mid:>8.2} {high:>8.2}");
    }
    // Where the last round's time went: the checks that took longest, and the grading as a whole
    // (the rest of the wall time is starting the grader and reading the course).
    let mut slowest: Vec<(u64, &str)> = checks_of(&last)
        .map(|c| (c["duration_ms"].as_u64().unwrap_or_default(), c["id"].as_str().unwrap_or_default()))
        .collect();
    slowest.sort_by(|a, b| b.cmp(a));
    let named: Vec<String> = slowest.iter().take(5).map(|(ms, id)| format!("{id} {ms} ms")).collect();
    println!("last round: grading {} ms; slowest checks: {}", last["duration_ms"], named.join(", "));
    drop(stack);
    Ok(())
}

/// Every check of a JSON report, step after step.
fn checks_of(report: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    report["steps"].as_array().into_iter().flatten().flat_map(|s| s["checks"].as_array().into_iter().flatten())
}

/// Runs the A/B rounds for one row and prints it.
fn compare(label: &str, ours: &str, nginx: &str, seconds: u32, rounds: u32) -> anyhow::Result<()> {
    let (mut ours_rps, mut ours_p99, mut nginx_rps, mut nginx_p99) = (vec![], vec![], vec![], vec![]);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        // Which goes first alternates, so a machine warming up or slowing down favours neither.
        let (a, b) = if round % 2 == 0 {
            let a = wrk(ours, seconds)?;
            (a, wrk(nginx, seconds)?)
        } else {
            let b = wrk(nginx, seconds)?;
            (wrk(ours, seconds)?, b)
        };
        ours_rps.push(a.requests_per_second);
        ours_p99.push(a.p99_ms);
        nginx_rps.push(b.requests_per_second);
        nginx_p99.push(b.p99_ms);
        ratios.push(a.requests_per_second / b.requests_per_second);
    }
    let (o, n) = (median(&mut ours_rps), median(&mut nginx_rps));
    let (low, mid, high) = spread(&mut ratios);
    println!(
        "{label:<14} {o:>12.0} {:>7.2}ms {n:>12.0} {:>7.2}ms {mid:>7.2}x  ({low:.2}-{high:.2})",
        median(&mut ours_p99),
        median(&mut nginx_p99),
    );
    Ok(())
}

fn start_nginx(dir: &Path, servers: &str, port_to_wait: u16) -> anyhow::Result<Server> {
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, servers))?;
    let mut nginx = Server(
        Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nginx")?,
    );
    wait_ready(port_to_wait, &mut nginx, "nginx")?;
    Ok(nginx)
}

fn bench_static_site(root: &Path, dir: &Path, seconds: u32, rounds: u32) -> anyhow::Result<()> {
    let www = dir.join("www");
    let ours_port = free_port()?;
    let mut ours = Server(
        Command::new(root.join("target/release/static-site"))
            .args(["--bind", "127.0.0.1", "--port", &ours_port.to_string(), "--root"])
            .arg(&www)
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start static-site")?,
    );
    wait_ready(ours_port, &mut ours, "static-site")?;
    let nginx_port = free_port()?;
    let _nginx =
        start_nginx(dir, &format!("server {{ listen 127.0.0.1:{nginx_port}; root {}; }}", www.display()), nginx_port)?;
    for (name, _) in SIZES {
        let path = format!("/{name}.html");
        compare(
            name,
            &format!("http://127.0.0.1:{ours_port}{path}"),
            &format!("http://127.0.0.1:{nginx_port}{path}"),
            seconds,
            rounds,
        )?;
    }
    Ok(())
}

fn bench_reverse_proxy(root: &Path, dir: &Path, seconds: u32, rounds: u32) -> anyhow::Result<()> {
    let www = dir.join("www");
    let (upstream, nginx_http, nginx_tls) = (free_port()?, free_port()?, free_port()?);
    let (ours_http, ours_tls, ours_tls_plain) = (free_port()?, free_port()?, free_port()?);
    // Ours, once over HTTP only and once with TLS (its certificate is generated on first start
    // and then used by nginx too, so both do the same handshake work).
    let route = format!("[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:{upstream}\"\n");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(dir.join("http.toml"), format!("[listen]\nhttp = \"127.0.0.1:{ours_http}\"\n{route}"))?;
    std::fs::write(
        dir.join("tls.toml"),
        format!(
            "[listen]\nhttp = \"127.0.0.1:{ours_tls_plain}\"\nhttps = \"127.0.0.1:{ours_tls}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nself_signed = [\"localhost\"]\n{route}",
            cert.display(),
            key.display()
        ),
    )?;
    let proxy = root.join("target/release/reverse-proxy");
    let mut ours_plain =
        Server(Command::new(&proxy).arg("--config").arg(dir.join("http.toml")).stderr(Stdio::null()).spawn()?);
    wait_ready(ours_http, &mut ours_plain, "reverse-proxy (http)")?;
    let mut ours_secure =
        Server(Command::new(&proxy).arg("--config").arg(dir.join("tls.toml")).stderr(Stdio::null()).spawn()?);
    wait_ready(ours_tls, &mut ours_secure, "reverse-proxy (tls)")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    let proxy_block = "location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; \
                       proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr; \
                       proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }";
    let servers = format!(
        "server {{ listen 127.0.0.1:{upstream}; root {}; }}\n\
         upstream backend {{ server 127.0.0.1:{upstream}; keepalive 128; }}\n\
         server {{ listen 127.0.0.1:{nginx_http}; {proxy_block} }}\n\
         server {{ listen 127.0.0.1:{nginx_tls} ssl; ssl_certificate {}; ssl_certificate_key {}; ssl_protocols TLSv1.2 TLSv1.3; {proxy_block} }}",
        www.display(),
        cert.display(),
        key.display()
    );
    let _nginx = start_nginx(dir, &servers, nginx_tls)?;
    let page = "/2KB.html";
    compare(
        "HTTP 2KB",
        &format!("http://127.0.0.1:{ours_http}{page}"),
        &format!("http://127.0.0.1:{nginx_http}{page}"),
        seconds,
        rounds,
    )?;
    compare(
        "TLS 2KB",
        &format!("https://127.0.0.1:{ours_tls}{page}"),
        &format!("https://127.0.0.1:{nginx_tls}{page}"),
        seconds,
        rounds,
    )?;
    let direct = wrk(&format!("http://127.0.0.1:{upstream}{page}"), seconds)?;
    println!("(the upstream answering directly: {:.0} req/s, p99 {:.2}ms)", direct.requests_per_second, direct.p99_ms);
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_cold_start_timeline_puts_the_prefetch_beside_the_compile_and_each_phase_where_it_ended() {
        let said: Vec<(f64, String)> = [
            (12.0, "compiling the grader (xtask; from nothing, about 80 s on two cores) ..."),
            (12.1, "meanwhile, making sure of the engine and the 7 images the command needs (log: x); the compile takes about twice as long beside them"),
            (100.0, "compiling the grader: 90.0 s"),
            (150.0, "  the course's programs: 40.0 s"),
            (160.0, "  the images: 50.0 s"),
            (160.5, "[1/5] making the programs and images: 60.0 s"),
            (200.0, "[2/5] checking: 30.5 s"),
        ]
        .into_iter()
        .map(|(t, l)| (t, l.to_string()))
        .collect();
        let prefetch = "    0.0 s  the engine: answering at unix:///x\n    0.1 s  making the Debian base with debootstrap (about half a minute) ...\n   35.1 s  the Debian base: built\n   35.2 s  building image containerlabs/redis:7.0-standin ...\n   36.0 s  Step 1/4 : FROM containerlabs/debian:bookworm\n   40.2 s  containerlabs/redis:7.0-standin: built\n   40.3 s  done\n";
        let lines: Vec<String> = run_timeline(10.0, 205.0, &said, prefetch)
            .iter()
            .map(|e| e.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        expect_test::expect![[r#"
            [
                "compiling the grader 10.0 100.0 90.0",
                "beside it, the launcher's prefetch: 12.1",
                "the engine: answering at unix:///x 12.1",
                "the Debian base: built 12.2 47.2 35.0",
                "containerlabs/redis:7.0-standin: built 47.3 52.3 5.0",
                "the prefetch ended 52.4",
                "check lab3 --up --solutions (the grader) 100.0 205.0 105.0",
                "[1/5] making the programs and images 100.5 160.5 60.0",
                "the course's programs 110.0 150.0 40.0",
                "the images 110.0 160.0 50.0",
                "[2/5] checking 169.5 200.0 30.5",
            ]
        "#]]
        .assert_debug_eq(&lines);
    }

    use super::*;

    #[test]
    fn reads_wrk_output() {
        let output = "Running 5s test @ http://127.0.0.1:1/2KB.html\n  2 threads and 64 connections\n  Latency Distribution\n     50%    1.50ms\n     75%    2.00ms\n     90%    3.00ms\n     99%  770.00us\n  177500 requests in 5.00s, 400.00MB read\nRequests/sec:  35500.12\nTransfer/sec:     80.00MB\n";
        assert_eq!(parse_wrk(output), Some(WrkResult { requests_per_second: 35500.12, p99_ms: 0.77 }));
        assert_eq!(parse_wrk(&output.replace("770.00us", "1.20s")).map(|r| r.p99_ms), Some(1200.0));
        assert_eq!(parse_wrk("garbage"), None);
    }
}
