//! Lab 2 end to end: every lab 2 check has a known-bad variant that turns exactly that check red.
//! (The reference's full marks under `--up` and the untouched starters are judged in the class
//! round trip, `roundtrip.rs`.)
//!
//! The variants are what students really build: proxy configurations, containers made with
//! `docker run` by hand, and two fixtures for app faults no configuration can cause. Everything
//! made in the engine carries the labels of a test's own scope (`testkit::EngineScope`), and the
//! project's reaper removes it by them when the test ends (also when it fails). Integration: needs
//! the engine and images `cargo xtask test` provides.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const STATIC_IMAGE: &str = "containerlabs/static-site:0.1.0";
const WEB_IMAGE: &str = "containerlabs/portfolio:0.1.0";
const DB_IMAGE: &str = "containerlabs/mariadb:10.11-standin";

/// Grades lab 2 (`args` choose the step and variables); returns (exit code, JSON report, stderr).
fn grade(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab2", "--format", "json", "--out"])
        .arg(out.path())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    (output.status.code().unwrap_or(-1), serde_json::from_str(&text).unwrap_or(serde_json::Value::Null), stderr)
}

fn failed(report: &serde_json::Value) -> BTreeSet<String> {
    ids_with_status(report, "failed").into_iter().collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// A run id unique to this test process and `test`.
fn run_id(test: &str) -> String {
    format!("clabs-t{}-{test}", std::process::id())
}

/// `tag` as a new image of `scope` (the reaper removes it, and the tag with it): `image` with the
/// scope's labels, e.g. a `latest` tag for a known-bad variant, never a tag on a shared image.
fn labelled_tag(scope: &testkit::EngineScope, image: &str, tag: &str) {
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {image}\n")).unwrap();
    let mut args: Vec<String> = vec!["build".into(), "-q".into(), "-t".into(), tag.into()];
    args.extend(scope.label_args());
    args.push(context.path().display().to_string());
    let built = docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
}

fn docker(args: &[&str]) -> std::process::Output {
    testkit::docker_cli().args(args).output().unwrap()
}

fn exists(kind: &str, name: &str) -> bool {
    docker(&[kind, "inspect", name]).status.success()
}

// ---------------------------------------------------------------------------------------------
// --up: the whole lab, and what it must never do

// A fresh clone's lab 2 under --up (every step falls short, exactly on the starters' own
// faults, each hint naming its TODO) is judged in the class round trip (`roundtrip.rs`): the
// untouched starter is one of the class it grades.

#[test]
fn up_never_adopts_a_container_it_did_not_create() {
    if !integration("up_never_adopts_a_container_it_did_not_create") {
        return;
    }
    let project = run_id("adopt");
    let scope = testkit::EngineScope::new();
    let web = format!("{project}-web");
    let mut create: Vec<String> = vec!["create".into(), "--name".into(), web.clone()];
    create.extend(scope.label_args());
    create.push(WEB_IMAGE.into());
    let created = docker(&create.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let var = format!("project={project}");
    let port = format!("web_port={}", free_port());
    let (code, _, stderr) = grade(&["--step", "web-db", "--up", "--var", &var, "--var", &port]);
    assert_eq!(code, 2, "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&format!("a container named {web} already exists")), "{stderr}");
    assert!(exists("container", &web), "the student's container is left alone");
    assert!(!exists("container", &format!("{project}-db")), "nothing was started");
}

#[test]
fn ctrl_c_during_up_removes_every_container_network_and_volume() {
    if !integration("ctrl_c_during_up_removes_every_container_network_and_volume") {
        return;
    }
    let project = run_id("ctrlc");
    let var = format!("project={project}");
    let port = format!("web_port={}", free_port());
    let mut command = Command::new(assert_cmd::cargo::cargo_bin!("xtask"));
    command.args(["check", "lab2", "--step", "web-db", "--up", "--var", &var, "--var", &port]);
    command.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::null());
    let child = command.spawn().unwrap();
    // Interrupt as soon as the database container exists: mid-start, the hardest moment.
    let db = format!("{project}-db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !exists("container", &db) {
        assert!(std::time::Instant::now() < deadline, "the database container never appeared");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    xtask::process::signal(child.id(), libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    for name in [format!("{project}-web"), db] {
        assert!(!exists("container", &name), "container {name} is removed");
    }
    assert!(!exists("volume", &format!("{project}-db-data")), "the volume is removed");
    assert!(!exists("network", &format!("{project}-net")), "the network is removed");
}

// ---------------------------------------------------------------------------------------------
// reverse-proxy: one proxy configuration per check

/// The lab 1 site and app on fresh ports, for proxies to front.
struct Upstreams {
    _site: Process,
    _app: Process,
    site: u16,
    app: u16,
    _data: tempfile::TempDir,
}

fn upstreams(bin: &Path) -> Upstreams {
    let (site, app) = (free_port(), free_port());
    let data = tempfile::tempdir().unwrap();
    let site_process = Command::new(bin.join("static-site"))
        .args(["--bind", "127.0.0.1", "--port", &site.to_string(), "--root"])
        .arg(workspace().join("labs/static-site/solution/site"))
        .spawn()
        .unwrap();
    let app_process = Command::new(bin.join("app-port"))
        .args(["--bind", "127.0.0.1", "--port", &app.to_string(), "--data"])
        .arg(data.path().join("messages.jsonl"))
        .spawn()
        .unwrap();
    let upstreams = Upstreams { _site: Process(site_process), _app: Process(app_process), site, app, _data: data };
    wait_for_port(site);
    wait_for_port(app);
    upstreams
}

/// Writes a certificate for `names` valid from `from` to `until` (years) into `dir`.
fn certificate(dir: &Path, names: &[&str], from: i32, until: i32) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Runs the proxy with `config` (which `variant` may change), grades the step; returns the failed checks.
fn grade_proxy(bin: &Path, up: &Upstreams, variant: &str) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let (http, https) = (free_port(), free_port());
    let now = 2026;
    let (cert, key) = match variant {
        "wrong-name" => certificate(dir.path(), &["wrong.example"], now - 1, now + 5),
        "expired" => certificate(dir.path(), &["localhost"], 2020, 2021),
        _ => certificate(dir.path(), &["localhost", "127.0.0.1"], now - 1, now + 5),
    };
    let site_route = format!("[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:{}\"\n", up.site);
    let app_route =
        format!("[[route]]\npath = \"/app/\"\nupstream = \"http://127.0.0.1:{}\"\nstrip_prefix = true\n", up.app);
    let mut config = String::new();
    match variant {
        "no-redirect" => config.push_str("redirect_http = false\n"),
        "no-hsts" => config.push_str("hsts = false\n"),
        "no-forwarded" => config.push_str("forwarded_headers = false\n"),
        _ => {}
    }
    config.push_str(&format!(
        "[listen]\nhttp = \"127.0.0.1:{http}\"\nhttps = \"127.0.0.1:{https}\"\n[tls]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    ));
    if variant != "no-site-route" {
        config.push_str(&site_route);
    }
    if variant != "no-app-route" {
        config.push_str(&app_route);
    }
    let config_path = dir.path().join("proxy.toml");
    std::fs::write(&config_path, config).unwrap();
    let _proxy = Process(Command::new(bin.join("reverse-proxy")).arg("--config").arg(&config_path).spawn().unwrap());
    wait_for_port(https);
    let vars = [
        format!("http_port={http}"),
        format!("https_port={https}"),
        format!("site_port={}", up.site),
        format!("app_port={}", up.app),
    ];
    let mut args = vec!["--step", "reverse-proxy"];
    for var in &vars {
        args.extend(["--var", var.as_str()]);
    }
    let (code, report, stderr) = grade(&args);
    assert!(code == 0 || code == 1, "{variant}: exit {code}: {stderr}");
    failed(&report)
}

#[test]
fn proxy_known_bad_variants() {
    if !integration("proxy_known_bad_variants") {
        return;
    }
    let bin = binaries(&["static-site", "app-port", "reverse-proxy"]);
    let up = upstreams(&bin);
    let table: &[(&str, &[&str])] = &[
        ("good", &[]),
        ("wrong-name", &["proxy-tls-name"]),
        ("expired", &["proxy-tls-valid"]),
        ("no-redirect", &["proxy-redirect"]),
        ("no-site-route", &["proxy-site"]),
        ("no-app-route", &["proxy-app"]),
        ("no-hsts", &["proxy-hsts"]),
        ("no-forwarded", &["proxy-forwarded"]),
    ];
    for (variant, expected) in table {
        assert_eq!(grade_proxy(&bin, &up, variant), set(expected), "proxy variant {variant}");
    }
    // A proxy that is not there fails the first check; every other one is skipped, not failed.
    let closed = format!("https_port={}", free_port());
    let (_, report, _) = grade(&["--step", "reverse-proxy", "--var", &closed]);
    assert_eq!(failed(&report), set(&["proxy-https-answers"]));
    let mut covered: BTreeSet<String> = table.iter().flat_map(|(_, ids)| ids.iter().map(|s| s.to_string())).collect();
    covered.insert("proxy-https-answers".into()); // the closed port above
    covered.insert("proxy-websocket".into()); // nginx_front_door_faults_fail_their_checks
    assert_covers_rubric("labs/reverse-proxy/rubric.toml", &covered);
}

// ---------------------------------------------------------------------------------------------
// reverse-proxy with nginx: front doors made by hand, graded without --up

const NGINX_IMAGE: &str = "containerlabs/nginx:1.27-standin";
const APP_IMAGE: &str = "containerlabs/app-port:0.1.0";

/// A front door a student made by hand on "one server": the course's site server (with the
/// course's finished site) and board, and nginx with `conf` and the files of `certs` (mounted at
/// /etc/ssl/lab), sharing one network namespace; nginx's ports 80 and 443 published on fresh
/// ports. Returns (http, https) once nginx answers.
fn hand_front_door(scope: &testkit::EngineScope, name: &str, conf: &str, certs: &Path) -> (u16, u16) {
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("conf.d");
    std::fs::create_dir(&conf_dir).unwrap();
    std::fs::write(conf_dir.join("front.conf"), conf).unwrap();
    let (http, https) = (free_port(), free_port());
    let labels = scope.label_args().join(" ");
    let site = workspace().join("labs/static-site/solution/site");
    let script = format!(
        "set -e
docker run -d --name {name} {labels} -p 127.0.0.1:{http}:80 -p 127.0.0.1:{https}:443 -e PORT=8080 -e SITE_ROOT=/site -v {site}:/site:ro {STATIC_IMAGE}
docker run -d --name {name}-app {labels} --network container:{name} --tmpfs /data:uid=65534,gid=65534 -e PORT=3000 {APP_IMAGE}
docker run -d --name {name}-nginx {labels} --network container:{name} -v {conf}:/etc/nginx/conf.d:ro -v {certs}:/etc/ssl/lab:ro {NGINX_IMAGE}",
        site = site.display(),
        conf = conf_dir.display(),
        certs = certs.display(),
    );
    let made = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert!(made.status.success(), "{name}: {}", String::from_utf8_lossy(&made.stderr));
    // The published port accepts before nginx inside does: wait for an HTTP answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        use std::io::{Read, Write};
        let answered = std::net::TcpStream::connect(("127.0.0.1", http)).ok().and_then(|mut stream| {
            stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).ok()?;
            stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
            let mut byte = [0u8; 1];
            (stream.read(&mut byte).ok()? > 0).then_some(())
        });
        if answered.is_some() {
            break;
        }
        let logs = docker(&["logs", &format!("{name}-nginx")]);
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: nginx never answered: {}",
            String::from_utf8_lossy(&logs.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    (http, https)
}

fn grade_front_door(http: u16, https: u16) -> (i32, serde_json::Value, String) {
    let vars = [format!("http_port={http}"), format!("https_port={https}")];
    grade(&["--step", "reverse-proxy", "--var", &vars[0], "--var", &vars[1]])
}

/// Lab 2's front door done by hand with nginx, written otherwise than the course's answer (ports
/// 80 and 443 inside, other file names and folders, headers at server level, `localhost` for an
/// upstream's host name), gets full marks without --up.
#[test]
fn a_hand_made_nginx_front_door_gets_full_marks_without_up() {
    if !integration("a_hand_made_nginx_front_door_gets_full_marks_without_up") {
        return;
    }
    let scope = testkit::EngineScope::new();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path(), &["localhost", "127.0.0.1"], 2025, 2031);
    std::fs::rename(&cert, certs.path().join("front.crt")).unwrap();
    std::fs::rename(&key, certs.path().join("front.key")).unwrap();
    let conf = "server {
    listen 80 default_server;
    location / { return 301 https://$host$request_uri; }
}
server {
    listen 443 ssl http2 default_server;
    server_name localhost;
    ssl_certificate /etc/ssl/lab/front.crt;
    ssl_certificate_key /etc/ssl/lab/front.key;
    add_header Strict-Transport-Security \"max-age=63072000; includeSubDomains\" always;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection \"upgrade\";
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto https;
    location / { proxy_pass http://127.0.0.1:8080; }
    location ^~ /app/ { proxy_pass http://127.0.0.1:3000/; }
}
";
    let (http, https) = hand_front_door(&scope, &format!("{}-good", run_id("front")), conf, certs.path());
    let (code, report, stderr) = grade_front_door(http, https);
    assert_eq!(code, 0, "{stderr}\n{report:#}\n{}", why(&report));
    assert_eq!(report["score"], report["max_score"], "{report:#}\n{}", why(&report));
}

/// nginx's usual mistakes, one front door each judging several checks: a certificate for another
/// name, no redirect, no HSTS, no WebSocket headers; and, alone, the proxy_set_header inheritance
/// pitfall (a location with headers of its own loses the server's X-Forwarded-*).
#[test]
fn nginx_front_door_faults_fail_their_checks() {
    if !integration("nginx_front_door_faults_fail_their_checks") {
        return;
    }
    let scope = testkit::EngineScope::new();
    let certs = tempfile::tempdir().unwrap();
    certificate(certs.path(), &["wrong.example"], 2025, 2031);
    let careless = "server { listen 80; location / { proxy_pass http://127.0.0.1:8080; } }
server {
    listen 443 ssl;
    ssl_certificate /etc/ssl/lab/cert.pem;
    ssl_certificate_key /etc/ssl/lab/key.pem;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    location / { proxy_pass http://127.0.0.1:8080; }
    location /app/ { proxy_pass http://127.0.0.1:3000/; }
}
";
    let (http, https) = hand_front_door(&scope, &format!("{}-careless", run_id("front")), careless, certs.path());
    let (code, report, stderr) = grade_front_door(http, https);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        failed(&report),
        set(&["proxy-tls-name", "proxy-redirect", "proxy-hsts", "proxy-websocket"]),
        "{stderr}\n{report:#}"
    );
    let good_certs = tempfile::tempdir().unwrap();
    certificate(good_certs.path(), &["localhost"], 2025, 2031);
    let pitfall = "server { listen 80; return 301 https://$host$request_uri; }
server {
    listen 443 ssl;
    ssl_certificate /etc/ssl/lab/cert.pem;
    ssl_certificate_key /etc/ssl/lab/key.pem;
    add_header Strict-Transport-Security \"max-age=31536000\" always;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    location / { proxy_pass http://127.0.0.1:8080; }
    location /app/ {
        proxy_pass http://127.0.0.1:3000/;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection upgrade;
    }
}
";
    let (http, https) = hand_front_door(&scope, &format!("{}-pitfall", run_id("front")), pitfall, good_certs.path());
    let (_, report, stderr) = grade_front_door(http, https);
    assert_eq!(failed(&report), set(&["proxy-forwarded"]), "{stderr}\n{report:#}\n{}", why(&report));
}

/// Every check in `rubric` is among `covered` (has a known-bad variant in the test's table).

// ---------------------------------------------------------------------------------------------
// single-image: one `docker run` per check

#[test]
fn single_image_known_bad_variants() {
    if !integration("single_image_known_bad_variants") {
        return;
    }
    let run = run_id("single");
    let scope = testkit::EngineScope::new();
    let latest = "containerlabs/static-site:latest".to_string();
    labelled_tag(&scope, STATIC_IMAGE, &latest);
    let table: &[(&str, &[&str], &[&str])] = &[
        ("good", &["run", "-d", "--restart", "unless-stopped"], &[]),
        ("on-failure", &["run", "-d", "--restart", "on-failure:3"], &[]),
        ("stopped", &["create", "--restart", "always"], &["single-running"]),
        ("latest", &["run", "-d", "--restart", "always", "--image", &latest], &["single-tag"]),
        ("unpublished", &["run", "-d", "--restart", "always", "--no-publish"], &["single-published"]),
        ("no-restart", &["run", "-d"], &["single-restarts"]),
        // Our own static server as nobody, with one capability too many: the check reads the configuration.
        ("cap-add", &["run", "-d", "--restart", "always", "--cap-add", "SYS_ADMIN"], &["single-confined"]),
        ("wrong-port", &["run", "-d", "--restart", "always", "-e", "PORT=9090"], &["single-http"]),
    ];
    let mut covered = BTreeSet::new();
    for (variant, how, expected) in table {
        let name = format!("{run}-{variant}");
        let port = free_port();
        let mut args: Vec<String> = Vec::new();
        let mut image = STATIC_IMAGE.to_string();
        let mut publish = true;
        let mut rest = how.iter();
        while let Some(arg) = rest.next() {
            match *arg {
                "--image" => image = rest.next().unwrap().to_string(),
                "--no-publish" => publish = false,
                other => args.push(other.to_string()),
            }
        }
        args.extend(["--name".into(), name.clone()]);
        args.extend(scope.label_args());
        if publish {
            args.extend(["-p".into(), format!("127.0.0.1:{port}:8080")]);
        }
        args.push(image);
        let made = docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(made.status.success(), "{variant}: {}", String::from_utf8_lossy(&made.stderr));
        if publish && *variant != "stopped" && *variant != "wrong-port" {
            wait_for_port(port);
        }
        let vars = [format!("single_name={name}"), format!("single_port={port}")];
        let (_, report, stderr) =
            grade(&["--step", "single-image", "--var", vars[0].as_str(), "--var", vars[1].as_str()]);
        assert_eq!(failed(&report), set(expected), "single-image variant {variant}: {stderr}\n{report}");
        covered.extend(expected.iter().map(|s| s.to_string()));
    }
    assert_covers_rubric("labs/single-image/rubric.toml", &covered);
}

// ---------------------------------------------------------------------------------------------
// web-db: stacks made by hand with `docker run`, one mistake each

/// A web + database pair as a student would make it with the docker CLI, with knobs for the
/// mistakes the rubric must catch. `script` is the shell text that brings it up.
#[derive(Clone)]
struct HandStack {
    project: String,
    /// `--label k=v ...` of the test's scope.
    labels: String,
    web_port: u16,
    user_network: bool,
    db_health: bool,
    db_volume: DbVolume,
    db_publish: Option<u16>,
    db_image: String,
    web_image: String,
    web_publish: bool,
    /// The web container with its image's healthcheck (`--no-healthcheck` otherwise).
    web_health: bool,
}

#[derive(Clone)]
enum DbVolume {
    Named,
    Bind(PathBuf),
    /// Nothing mounted: the image's anonymous volume, new with every container.
    None,
}

impl HandStack {
    fn new(run: &str, scope: &testkit::EngineScope, variant: &str) -> HandStack {
        HandStack {
            project: format!("{run}-{variant}"),
            labels: scope.label_args().join(" "),
            web_port: free_port(),
            user_network: true,
            db_health: true,
            db_volume: DbVolume::Named,
            db_publish: None,
            db_image: DB_IMAGE.into(),
            web_image: WEB_IMAGE.into(),
            web_publish: true,
            web_health: true,
        }
    }

    fn labels(&self) -> String {
        self.labels.clone()
    }

    fn db_run(&self) -> String {
        let p = &self.project;
        let mut cmd = format!("docker run -d --name {p}-db {} -e MARIADB_ROOT_PASSWORD=root -e MARIADB_DATABASE=portfolio -e MARIADB_USER=portfolio -e MARIADB_PASSWORD=pw", self.labels());
        if self.user_network {
            cmd += &format!(" --network {p}-net");
        }
        if self.db_health {
            cmd += " --health-cmd 'healthcheck.sh --connect --innodb_initialized' --health-interval 1s --health-retries 60";
        }
        match &self.db_volume {
            DbVolume::Named => cmd += &format!(" -v {p}-db-data:/var/lib/mysql"),
            DbVolume::Bind(dir) => cmd += &format!(" -v {}:/var/lib/mysql", dir.display()),
            DbVolume::None => {}
        }
        if let Some(port) = self.db_publish {
            cmd += &format!(" -p 127.0.0.1:{port}:3306");
        }
        format!("{cmd} {}", self.db_image)
    }

    /// Waits until the database answers (by its healthcheck when it has one, else by asking it).
    fn db_wait(&self) -> String {
        let p = &self.project;
        if self.db_health {
            format!("until [ \"$(docker inspect -f '{{{{.State.Health.Status}}}}' {p}-db)\" = healthy ]; do sleep 0.3; done")
        } else {
            format!("until docker exec {p}-db healthcheck.sh --connect --innodb_initialized; do sleep 0.3; done")
        }
    }

    fn web_run(&self) -> String {
        let p = &self.project;
        let mut cmd = format!("docker run -d --name {p}-web {} -e MYSQL_HOST={p}-db -e MYSQL_USER=portfolio -e MYSQL_PASSWORD=pw -e MYSQL_DATABASE=portfolio", self.labels());
        if self.user_network {
            cmd += &format!(" --network {p}-net");
        } else {
            // The default bridge has no name resolution: a legacy link is how it still works.
            cmd += &format!(" --link {p}-db");
        }
        if self.web_publish {
            cmd += &format!(" -p 127.0.0.1:{}:5000", self.web_port);
        }
        if !self.web_health {
            cmd += " --no-healthcheck";
        }
        format!("{cmd} {}", self.web_image)
    }

    fn script_up(&self) -> String {
        let p = &self.project;
        let mut steps = Vec::new();
        if self.user_network {
            steps.push(format!("docker network create {} {p}-net", self.labels()));
        }
        if matches!(self.db_volume, DbVolume::Named) {
            steps.push(format!("docker volume create {} {p}-db-data", self.labels()));
        }
        steps.extend([self.db_run(), self.db_wait(), self.web_run()]);
        format!("set -e; {}", steps.join(" >/dev/null; "))
    }

    fn script_down(&self) -> String {
        let p = &self.project;
        format!("docker rm -fv {p}-web {p}-db; docker network rm {p}-net; docker volume rm {p}-db-data; true")
    }

    fn up(&self) {
        let output = Command::new("sh").arg("-c").arg(self.script_up()).output().unwrap();
        assert!(output.status.success(), "{}: {}", self.project, String::from_utf8_lossy(&output.stderr));
    }

    /// The stack as a command service (its script runs in a sandbox, through the run's proxy);
    /// the persistence check recreates its containers by name.
    fn as_service(&self, log: &Path) -> xtask::stage::services::ServiceSpec {
        let sh = |script: String| vec!["-c".to_string(), script];
        xtask::stage::services::ServiceSpec {
            name: "webdb".into(),
            step: None,
            program: None,
            args: vec![],
            command: Some(xtask::stage::services::CommandSpec {
                program: "sh".into(),
                start: sh(self.script_up()),
                stop: sh(self.script_down()),
                restart: Default::default(),
                creates: grading::curriculum::Creates {
                    containers: vec![format!("{}-web", self.project), format!("{}-db", self.project)],
                    networks: vec![format!("{}-net", self.project)],
                    volumes: vec![format!("{}-db-data", self.project)],
                    compose_project: None,
                },
            }),
            images: vec![],
            env: Default::default(),
            ready: format!("127.0.0.1:{}", self.web_port),
            ports: vec![],
            log: log.to_path_buf(),
        }
    }

    fn vars(&self) -> [String; 2] {
        [format!("project={}", self.project), format!("web_port={}", self.web_port)]
    }
}

/// Grades the web-db step of the course's answer (its Dockerfile and script pass their rules)
/// against the stack `vars` name.
fn grade_web_db(vars: &[String]) -> (serde_json::Value, String) {
    let mut args = vec!["--step", "web-db", "--solutions"];
    for var in vars {
        args.extend(["--var", var.as_str()]);
    }
    let (code, report, stderr) = grade(&args);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    (report, stderr)
}

#[test]
fn web_db_known_bad_variants() {
    if !integration("web_db_known_bad_variants") {
        return;
    }
    let run = run_id("webdb");
    let scope = testkit::EngineScope::new();
    let latest_web = "containerlabs/portfolio:latest".to_string();
    let latest_db = "containerlabs/mariadb:latest".to_string();
    labelled_tag(&scope, WEB_IMAGE, &latest_web);
    labelled_tag(&scope, DB_IMAGE, &latest_db);
    let bind_dir = tempfile::tempdir().unwrap();
    let variant = |name: &str, change: &dyn Fn(&mut HandStack)| {
        let mut stack = HandStack::new(&run, &scope, name);
        change(&mut stack);
        stack
    };
    // Persistence is skipped without --up or --allow-restarts (the grader recreates only what it
    // started, or what it may); it has its own test below.
    let table: Vec<(HandStack, &[&str])> = vec![
        (variant("good", &|_| {}), &[]),
        (variant("nohealth", &|s| s.db_health = false), &["webdb-db-healthy"]),
        (variant("dbpub", &|s| s.db_publish = Some(free_port())), &["webdb-db-not-published"]),
        (variant("bind", &|s| s.db_volume = DbVolume::Bind(bind_dir.path().to_path_buf())), &["webdb-db-volume"]),
        (variant("dblatest", &|s| s.db_image = latest_db.clone()), &["webdb-db-tag"]),
        (variant("weblatest", &|s| s.web_image = latest_web.clone()), &["webdb-web-tag"]),
        (variant("webunpub", &|s| s.web_publish = false), &["webdb-web-published"]),
        (variant("webnohealth", &|s| s.web_health = false), &["webdb-web-healthy"]),
        (variant("bridge", &|s| s.user_network = false), &["webdb-network"]),
    ];
    std::thread::scope(|scope| {
        for (stack, _) in &table {
            scope.spawn(|| stack.up());
        }
    });
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for (stack, expected) in &table {
        let (report, stderr) = grade_web_db(&stack.vars());
        assert_eq!(failed(&report), set(expected), "web-db variant {}: {stderr}\n{report}", stack.project);
        covered.extend(expected.iter().map(|s| s.to_string()));
    }
    // App faults no container setting causes: the good stack's containers, a faulty app on the web port.
    let good = &table[0].0;
    let fixture_bin = binaries(&["testkit"]);
    // (A real app with a wrong database password never starts serving: it waits for the database.)
    for (fault, expected) in [
        ("no-timeline-page", "webdb-timeline-page"),
        ("no-validation", "webdb-validation"),
        ("post-broken", "webdb-post"),
    ] {
        let port = free_port();
        let _app = Process(
            Command::new(fixture_bin.join("bad-portfolio"))
                .args(["--fault", fault, "--port", &port.to_string()])
                .spawn()
                .unwrap(),
        );
        wait_for_port(port);
        let vars = [format!("project={}", good.project), format!("web_port={port}")];
        let (report, stderr) = grade_web_db(&vars);
        assert_eq!(failed(&report), set(&[expected]), "fixture fault {fault}: {stderr}\n{report}");
        covered.insert(expected.to_string());
    }
    covered.insert("webdb-persistence".into()); // persistence_needs_the_database_on_a_volume
                                                // The Dockerfile's rules and the script's: grading/tests (dockerfile.rs, file.rs), and the
                                                // untouched starters (the_untouched_lab2_starters_fall_short_in_every_step).
    for id in ["base", "user", "secrets", "expose", "healthcheck"] {
        covered.insert(format!("webdb-dockerfile-{id}"));
    }
    covered.insert("webdb-script-secrets".into());
    assert_covers_rubric("labs/web-db/rubric.toml", &covered);
}

/// Grades the web-db step with `stack` started as a command service in a run's sandbox, the
/// grader allowed to recreate its containers, so persistence runs too; the run is reaped afterwards.
async fn grade_with_persistence(stack: &HandStack) -> grading::Report {
    let state = tempfile::tempdir().unwrap();
    let engine = xtask::engine::ensure(xtask::engine::Provision::Never).await.unwrap();
    let run = Arc::new(sandbox::Run::start(sandbox::RunConfig::new(engine.sandbox_endpoint())).await.unwrap());
    let services = Arc::new(
        xtask::stage::services::Services::start(
            vec![stack.as_service(&state.path().join("webdb.log"))],
            xtask::stage::services::Lifetime::TiedToGrader,
            Some(run.clone()),
            xtask::engine::images::toolbox_tag(),
        )
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap(),
    );
    let selection = xtask::selection::select(&workspace(), "lab2", Some("web-db"), &stack.vars(), None).unwrap();
    let answer = xtask::selection::solutions(&workspace(), "lab2").unwrap();
    let config = grading::GradeConfig {
        vars: selection.vars.clone(),
        submission: answer.path().to_path_buf(),
        services: Some(services.clone() as Arc<dyn grading::ServiceControl>),
        docker: Some(engine.docker.clone()),
        may_recreate: true,
        ..Default::default()
    };
    let report = grading::runner::grade("lab2", "Lab 2", &selection.steps, &config).await;
    services.stop_all().await;
    run.finish().await.unwrap();
    report
}

#[tokio::test]
async fn persistence_needs_the_database_on_a_volume() {
    if !integration("persistence_needs_the_database_on_a_volume") {
        return;
    }
    let run = run_id("persist");
    let scope = testkit::EngineScope::new();
    let good = HandStack::new(&run, &scope, "kept");
    let mut bad = HandStack::new(&run, &scope, "lost");
    bad.db_volume = DbVolume::None;
    let failed_ids = |report: &grading::Report| -> BTreeSet<String> {
        let json = grading::report::json::to_json(report);
        failed(&json)
    };
    let report = grade_with_persistence(&good).await;
    assert!(report.full_marks(), "{}", grading::report::tty::render(&report, false));
    let report = grade_with_persistence(&bad).await;
    assert_eq!(
        failed_ids(&report),
        set(&["webdb-db-volume", "webdb-persistence"]),
        "{}",
        grading::report::tty::render(&report, false)
    );
    let rendered = grading::report::tty::render(&report, false);
    assert!(rendered.contains(&format!("after recreating {0}-web, then recreating {0}-db", bad.project)), "{rendered}");
    for project in [&good.project, &bad.project] {
        assert!(!exists("container", &format!("{project}-db")), "stop removed the stack");
    }
}
