//! The `container` check kind against real containers: one good container passes every
//! expectation, and each known-bad container fails exactly the expectation it breaks.
//! Containers that would be dangerous to run (privileged, Docker socket, host network) are only
//! created, never started. Integration: needs the engine `cargo xtask test` provides.

mod common;

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount, MountType, NetworkCreateRequest, PortBinding, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use common::*;
use grading::{Rubric, Status, Vars};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use xtask::engine::{self, Provision};

struct Fixture {
    docker: bollard::Docker,
    run: String,
    image: String,
    /// Everything the test makes carries the scope's labels; the reaper removes it at the end.
    scope: testkit::EngineScope,
}

impl Fixture {
    fn labels(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut labels: HashMap<String, String> = self.scope.labels().clone().into_iter().collect();
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        labels
    }

    fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.run)
    }

    async fn container(&self, short: &str, body: ContainerCreateBody, start: bool) {
        let body = ContainerCreateBody {
            image: body.image.or(Some(self.image.clone())),
            labels: Some(body.labels.unwrap_or_else(|| self.labels(&[]))),
            ..body
        };
        let options = CreateContainerOptionsBuilder::default().name(&self.name(short)).build();
        let created = self.docker.create_container(Some(options), body).await.unwrap();
        if start {
            self.docker
                .start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>)
                .await
                .unwrap();
        }
    }
}

/// Runs one container check (TOML of the kind table's body) with a deadline; returns (status, expected, actual).
/// A failing check polls until its deadline, so the known-bad cases get a short one.
async fn run(docker: &bollard::Docker, run_id: &str, timeout: &str, kind: &str) -> (Status, String, String) {
    let text = format!("[[check]]\nid = \"c\"\ntitle = \"C\"\npoints = 1\nhint = \"h\"\ntimeout = \"{timeout}\"\ninterval = \"250ms\"\n[check.container]\n{kind}\n");
    let known: BTreeSet<String> = ["run".to_string()].into_iter().collect();
    let rubric = Rubric::parse(Path::new("r.toml"), &text, &known).unwrap();
    let mut vars = Vars::new();
    vars.set("run", run_id);
    let ctx =
        grading::check::Context { vars, submission: ".".into(), docker: Some(docker.clone()), ..Default::default() };
    let report = grading::runner::run_check(&rubric.checks[0], &ctx).await;
    (report.status, report.expected.unwrap_or_default(), report.actual.unwrap_or_default())
}

#[tokio::test(flavor = "current_thread")]
async fn each_bad_container_fails_exactly_its_expectation() {
    if !integration("each_bad_container_fails_exactly_its_expectation") {
        return;
    }
    let engine = engine::ensure(Provision::Never).await.expect("cargo xtask test provides an engine");
    let image =
        xtask::engine::images::catalogue(&workspace()).into_iter().find(|i| i.package == "static-site").unwrap();
    let binary = xtask::engine::images::static_binary(&workspace(), &image.package, &image.bin).unwrap();
    xtask::engine::images::build(&engine, &image, &binary).await.unwrap();
    let scope = testkit::EngineScope::new();
    let run_id = format!("clabs-ct-{}", scope.id());
    let f = Fixture { docker: engine.docker.clone(), run: run_id.clone(), image: image.tag.clone(), scope };
    let docker = &f.docker;

    let network = f.name("net");
    docker
        .create_network(NetworkCreateRequest {
            name: network.clone(),
            labels: Some(f.labels(&[])),
            ..Default::default()
        })
        .await
        .unwrap();
    let volume = f.name("data");
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(f.labels(&[])),
            ..Default::default()
        })
        .await
        .unwrap();
    let port = free_port();
    let healthcheck = HealthConfig {
        test: Some(vec!["CMD".into(), "/app".into(), "--version".into()]),
        interval: Some(300_000_000),
        ..Default::default()
    };
    let volume_mount = |source: Option<String>, typ: MountType| Mount {
        target: Some("/data".into()),
        source,
        typ: Some(typ),
        ..Default::default()
    };

    // The good container, and the peer it shares a network with.
    f.container(
        "good",
        ContainerCreateBody {
            healthcheck: Some(healthcheck.clone()),
            labels: Some(f.labels(&[
                ("com.docker.compose.project", &run_id),
                ("com.docker.compose.service", "web"),
                ("com.docker.compose.container-number", "1"),
                ("com.docker.compose.oneoff", "False"),
            ])),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                port_bindings: Some(HashMap::from([(
                    "8080/tcp".to_string(),
                    Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(port.to_string()) }]),
                )])),
                mounts: Some(vec![volume_mount(Some(volume.clone()), MountType::VOLUME)]),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        true,
    )
    .await;
    f.container(
        "peer",
        ContainerCreateBody {
            host_config: Some(HostConfig { network_mode: Some(network.clone()), ..Default::default() }),
            ..Default::default()
        },
        true,
    )
    .await;
    // The known-bad ones.
    f.container("stopped", ContainerCreateBody::default(), false).await;
    f.container("bare", ContainerCreateBody::default(), true).await;
    // A `latest` image of the scope's own (the reaper removes it, and its tag with it).
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {}\n", image.tag)).unwrap();
    let latest = format!("clabs-ct-{}/static-site:latest", f.scope.id());
    let mut build: Vec<String> = vec!["build".into(), "-q".into(), "-t".into(), latest.clone()];
    build.extend(f.scope.label_args());
    build.push(context.path().display().to_string());
    let built = testkit::docker_cli().args(&build).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    f.container("latest", ContainerCreateBody { image: Some(latest.clone()), ..Default::default() }, false).await;
    f.container(
        "anon",
        ContainerCreateBody {
            host_config: Some(HostConfig {
                mounts: Some(vec![volume_mount(None, MountType::VOLUME)]),
                ..Default::default()
            }),
            ..Default::default()
        },
        false,
    )
    .await;
    let host_dir = tempfile::tempdir().unwrap();
    let bind = Some(host_dir.path().display().to_string());
    f.container(
        "bind",
        ContainerCreateBody {
            host_config: Some(HostConfig {
                mounts: Some(vec![volume_mount(bind, MountType::BIND)]),
                ..Default::default()
            }),
            ..Default::default()
        },
        false,
    )
    .await;
    f.container(
        "privileged",
        ContainerCreateBody {
            host_config: Some(HostConfig { privileged: Some(true), ..Default::default() }),
            ..Default::default()
        },
        false,
    )
    .await;
    for (suffix, host_config) in [
        ("pidhost", HostConfig { pid_mode: Some("host".into()), ..Default::default() }),
        ("sysadmin", HostConfig { cap_add: Some(vec!["SYS_ADMIN".into()]), ..Default::default() }),
        ("sysboot", HostConfig { cap_add: Some(vec!["SYS_BOOT".into()]), ..Default::default() }),
        ("unconfined", HostConfig { security_opt: Some(vec!["seccomp=unconfined".into()]), ..Default::default() }),
    ] {
        f.container(suffix, ContainerCreateBody { host_config: Some(host_config), ..Default::default() }, false).await;
    }
    let socket = Mount {
        target: Some("/var/run/docker.sock".into()),
        source: Some("/var/run/docker.sock".into()),
        typ: Some(MountType::BIND),
        ..Default::default()
    };
    f.container(
        "socket",
        ContainerCreateBody {
            host_config: Some(HostConfig { mounts: Some(vec![socket]), ..Default::default() }),
            ..Default::default()
        },
        false,
    )
    .await;
    f.container(
        "hostnet",
        ContainerCreateBody {
            host_config: Some(HostConfig { network_mode: Some("host".into()), ..Default::default() }),
            ..Default::default()
        },
        false,
    )
    .await;
    let restart = RestartPolicy { name: Some(RestartPolicyNameEnum::ALWAYS), maximum_retry_count: None };
    f.container(
        "crashing",
        ContainerCreateBody {
            cmd: Some(vec!["--root".into(), "/nope".into()]),
            host_config: Some(HostConfig { restart_policy: Some(restart), ..Default::default() }),
            ..Default::default()
        },
        true,
    )
    .await;

    // The crash-looping fixture is only a fixture once Docker has restarted it: wait for that.
    for _ in 0..200 {
        let crashing = docker.inspect_container(&f.name("crashing"), None).await.unwrap();
        if crashing.restart_count.unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let everything = "name = \"{run}-good\"\nwait_for = { command = [\"/app\", \"--version\"] }\n\
        exec = { command = [\"/app\", \"--version\"], output_contains = \"static-site\" }\n\
        expect = { running = true, healthy = true, max_restarts = 0, explicit_tag = true, restarts_itself = true, published = [\"8080/tcp\"], not_published = [\"3000/tcp\"], \
        mounts = { \"/data\" = \"named-volume\" }, shares_network_with = [\"{run}-peer\"], confined = true, logs_contain = [\"serving /site\"] }";
    let (status, expected, actual) = run(docker, &run_id, "20s", everything).await;
    assert_eq!(status, Status::Passed, "the good container: expected {expected}, got {actual}");
    let by_compose = "compose = { project = \"{run}\", service = \"web\" }\nexpect = { running = true }";
    assert_eq!(run(docker, &run_id, "5s", by_compose).await.0, Status::Passed, "found by compose labels");

    let cases: &[(&str, &str, &str)] = &[
        ("name = \"{run}-stopped\"\nexpect = { running = true }", "running", "is created"),
        ("name = \"{run}-bare\"\nexpect = { healthy = true }", "healthy", "has no healthcheck"),
        (
            "name = \"{run}-latest\"\nexpect = { explicit_tag = true }",
            "an image pinned to a version",
            "/static-site:latest uses latest",
        ),
        (
            "name = \"{run}-bare\"\nexpect = { published = [\"8080/tcp\"] }",
            "8080/tcp published on the host",
            "does not publish 8080/tcp",
        ),
        (
            "name = \"{run}-good\"\nexpect = { not_published = [\"8080/tcp\"] }",
            "8080/tcp not published",
            "publishes 8080/tcp on the host (127.0.0.1)",
        ),
        (
            "name = \"{run}-bare\"\nexpect = { mounts = { \"/data\" = \"named-volume\" } }",
            "a named volume at /data",
            "nothing is mounted at /data",
        ),
        (
            "name = \"{run}-anon\"\nexpect = { mounts = { \"/data\" = \"named-volume\" } }",
            "a named volume at /data",
            "an anonymous volume at /data",
        ),
        (
            "name = \"{run}-bind\"\nexpect = { mounts = { \"/data\" = \"named-volume\" } }",
            "a named volume at /data",
            "a bind mount of",
        ),
        (
            "name = \"{run}-bare\"\nexpect = { shares_network_with = [\"{run}-peer\"] }",
            "a user-defined network shared with",
            "is on bridge",
        ),
        (
            "name = \"{run}-privileged\"\nexpect = { confined = true }",
            "root on the host",
            "privileged: true (rule no-privileged)",
        ),
        (
            "name = \"{run}-socket\"\nexpect = { confined = true }",
            "never mount it",
            "volumes: /var/run/docker.sock:/var/run/docker.sock (rule no-engine-socket)",
        ),
        (
            "name = \"{run}-hostnet\"\nexpect = { confined = true }",
            "own network",
            "network_mode: host (rule no-host-namespaces)",
        ),
        (
            "name = \"{run}-pidhost\"\nexpect = { confined = true }",
            "own network, PID",
            "pid: host (rule no-host-namespaces)",
        ),
        (
            "name = \"{run}-sysadmin\"\nexpect = { confined = true }",
            "beyond Docker's defaults",
            "cap_add: SYS_ADMIN (rule no-added-capabilities)",
        ),
        (
            "name = \"{run}-sysboot\"\nexpect = { confined = true }",
            "beyond Docker's defaults",
            "cap_add: SYS_BOOT (rule no-added-capabilities)",
        ),
        (
            "name = \"{run}-unconfined\"\nexpect = { confined = true }",
            "keep the default profiles",
            "security_opt: seccomp=unconfined (rule default-security-profiles)",
        ),
        ("name = \"{run}-crashing\"\nexpect = { max_restarts = 0 }", "at most 0 restarts", "restarted"),
        (
            "name = \"{run}-bare\"\nexpect = { restarts_itself = true }",
            "a restart policy: always, unless-stopped or on-failure",
            "has restart policy no",
        ),
        (
            "name = \"{run}-good\"\nexpect = { logs_contain = [\"no such line\"] }",
            "logs containing \"no such line\"",
            "last log lines",
        ),
        (
            "name = \"{run}-good\"\nexec = { command = [\"/app\", \"--no-such-flag\"] }",
            "to exit with 0",
            "it exited with 2",
        ),
        (
            // Never ready: the check says what it waited for; ready, then a fault: judged once.
            "name = \"{run}-good\"\nwait_for = { command = [\"/app\", \"--no-such-flag\"] }\nexpect = { running = true }",
            "ready first: `/app --no-such-flag` to exit with 0",
            "(waited ",
        ),
        (
            "name = \"{run}-good\"\nwait_for = { command = [\"/app\", \"--no-such-flag\"], what = \"the app to settle\" }\nexpect = { running = true }",
            "-good: the app to settle first",
            "not after ",
        ),
        (
            "name = \"{run}-good\"\nwait_for = { command = [\"/app\", \"--version\"] }\nexpect = { running = false }",
            "not running",
            "is running",
        ),
        ("name = \"{run}-gone\"\nexpect = { running = true }", "to exist", "no container named"),
        (
            "compose = { project = \"{run}\", service = \"db\" }\nexpect = { running = true }",
            "to exist",
            "no container for service db",
        ),
    ];
    for (kind, expected_part, actual_part) in cases {
        // An exec starts a process in the container, which on a loaded machine can take longer than
        // an inspect: give its first attempt room. (A failing check retries until its deadline; an
        // attempt the deadline cuts off gives way to the last finished one, so the report is the
        // exit code however the attempts fall.)
        let timeout = if kind.contains("exec =") || kind.contains("wait_for =") { "5s" } else { "1s" };
        let (status, expected, actual) = run(docker, &run_id, timeout, kind).await;
        assert_eq!(status, Status::Failed, "{kind}");
        assert!(expected.contains(expected_part), "{kind}\nexpected: {expected}");
        assert!(actual.contains(actual_part), "{kind}\nactual: {actual}");
    }
}
