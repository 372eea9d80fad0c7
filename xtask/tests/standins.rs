//! The MariaDB stand-in honours the official image's contract, checked through the grader's own
//! `container` checks: first start (MYSQL_* spellings, *_FILE secrets, initdb scripts, healthcheck.sh,
//! a command of server options),
//! a recreated container on the same named volume (data kept, new environment ignored), and the
//! known-bad start without a root password option. The containers are testcontainers' and carry
//! the test's scope labels (volumes too), so the project's reaper removes whatever is left.
//! Integration: needs the engine.

mod common;

use bollard::models::VolumeCreateRequest;
use common::*;
use grading::{Rubric, Status, Vars};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use testcontainers::core::{Healthcheck, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use xtask::engine::{self, Provision};

/// Starts a MariaDB stand-in container named `name` with `env` and `files`, the volume at
/// /var/lib/mysql, through testcontainers, labelled with the test's scope; waits until it is
/// healthy when `healthy` (a container that refuses to start has nothing to wait for).
async fn start_db(
    scope: &testkit::EngineScope,
    name: &str,
    volume: &str,
    env: &[(&str, &str)],
    files: &[(&str, &str)],
    command: &[&str],
    healthy: bool,
) -> ContainerAsync<GenericImage> {
    let mut image = GenericImage::new("containerlabs/mariadb", "10.11-standin");
    if healthy {
        image = image.with_wait_for(WaitFor::healthcheck());
    }
    let mut request = image
        .with_container_name(name)
        .with_labels(scope.labels().clone())
        .with_mount(Mount::volume_mount(volume, "/var/lib/mysql"))
        .with_health_check(
            // A start period, as the official image's users give one: while the entrypoint runs
            // the initdb scripts on a server with no network, --connect fails, and three such
            // failures would call the container unhealthy before the real server starts.
            Healthcheck::cmd(["healthcheck.sh", "--connect", "--innodb_initialized"])
                .with_interval(std::time::Duration::from_millis(500))
                .with_start_period(std::time::Duration::from_secs(60)),
        )
        .with_startup_timeout(std::time::Duration::from_secs(120))
        // testcontainers publishes every exposed port by default: the contract says nothing is.
        .with_host_config_modifier(|host| host.publish_all_ports = Some(false));
    for (key, value) in env {
        request = request.with_env_var(*key, *value);
    }
    for (path, text) in files {
        request = request.with_copy_to(format!("/{path}"), text.as_bytes().to_vec());
    }
    if !command.is_empty() {
        request = request.with_cmd(command.iter().map(|c| c.to_string()));
    }
    request.start().await.unwrap()
}

/// A named volume of the test's scope.
async fn volume(docker: &bollard::Docker, scope: &testkit::EngineScope, name: &str) {
    let labels: HashMap<String, String> = scope.labels().clone().into_iter().collect();
    docker
        .create_volume(VolumeCreateRequest { name: Some(name.to_string()), labels: Some(labels), ..Default::default() })
        .await
        .unwrap();
}

async fn check(docker: &bollard::Docker, timeout: &str, kind: &str) -> (Status, String) {
    let text = format!("[[check]]\nid = \"c\"\ntitle = \"C\"\npoints = 1\nhint = \"h\"\ntimeout = \"{timeout}\"\ninterval = \"500ms\"\n[check.container]\n{kind}\n");
    let rubric = Rubric::parse(Path::new("r.toml"), &text, &BTreeSet::new()).unwrap();
    let ctx = grading::check::Context {
        vars: Vars::new(),
        submission: ".".into(),
        docker: Some(docker.clone()),
        ..Default::default()
    };
    let report = grading::runner::run_check(&rubric.checks[0], &ctx).await;
    (report.status, format!("expected {:?}, got {:?}", report.expected, report.actual))
}

#[tokio::test(flavor = "current_thread")]
async fn the_mariadb_stand_in_honours_the_official_contract() {
    if !integration("the_mariadb_stand_in_honours_the_official_contract") {
        return;
    }
    let engine = engine::ensure(Provision::Never).await.expect("cargo xtask test provides an engine");
    let standin = xtask::engine::images::stand_ins().iter().find(|s| s.dir == "mariadb").unwrap();
    let (tag, dir) = (standin.tag.as_str(), standin.dir.as_str());
    xtask::engine::images::stand_in(&engine, &workspace(), tag, dir).await.unwrap();
    let docker = &engine.docker;
    let scope = testkit::EngineScope::new();
    let run = format!("clabs-db-{}", scope.id());
    let data = format!("{run}-data");
    volume(docker, &scope, &data).await;

    // First start: the MYSQL_* spellings, a *_FILE secret, and an initdb script.
    let first = format!("{run}-first");
    let env = [
        ("MYSQL_ROOT_PASSWORD", "rootpw"),
        ("MYSQL_DATABASE", "appdb"),
        ("MARIADB_USER", "app"),
        ("MARIADB_PASSWORD_FILE", "/run/secrets/app_password"),
    ];
    let files = [
        ("run/secrets/app_password", "apppw"),
        (
            "docker-entrypoint-initdb.d/01-seed.sql",
            "CREATE TABLE seeded (v varchar(20)); INSERT INTO seeded VALUES ('from-initdb');",
        ),
    ];
    // A command of options goes to the server, as in the official image (widely copied Nextcloud
    // examples start MariaDB so).
    let options = ["--transaction-isolation=READ-COMMITTED", "--binlog-format=ROW"];
    let first_container = start_db(&scope, &first, &data, &env, &files, &options, true).await;
    let isolation = format!("name = \"{first}\"\nexec = {{ command = [\"mariadb\", \"-uapp\", \"-papppw\", \"-h127.0.0.1\", \"-N\", \"-e\", \"SELECT @@tx_isolation\"], output_contains = \"READ-COMMITTED\" }}");
    let (status, detail) = check(docker, "30s", &isolation).await;
    assert_eq!(status, Status::Passed, "the server got the command's options: {detail}");
    let query = "exec = { command = [\"mariadb\", \"-uapp\", \"-papppw\", \"-h127.0.0.1\", \"appdb\", \"-N\", \"-e\", \"SELECT v FROM seeded\"], output_contains = \"from-initdb\" }";
    let everything = format!("name = \"{first}\"\n{query}\nexpect = {{ running = true, healthy = true, mounts = {{ \"/var/lib/mysql\" = \"named-volume\" }}, not_published = [\"3306/tcp\"] }}");
    let (status, detail) = check(docker, "60s", &everything).await;
    assert_eq!(status, Status::Passed, "first start: {detail}");
    let root_without_password = format!(
        "name = \"{first}\"\nexec = {{ command = [\"mariadb\", \"-uroot\", \"-h127.0.0.1\", \"-e\", \"SELECT 1\"] }}"
    );
    let (status, detail) = check(docker, "1s", &root_without_password).await;
    assert_eq!(status, Status::Failed, "root needs its password over TCP: {detail}");

    // Recreate on the same volume with a different environment: the data stays, the environment is ignored.
    first_container.rm().await.unwrap();
    let second = format!("{run}-second");
    let _second = start_db(&scope, &second, &data, &[("MARIADB_ROOT_PASSWORD", "changed")], &[], &[], true).await;
    let again = format!("name = \"{second}\"\n{query}\nexpect = {{ running = true, healthy = true }}");
    let (status, detail) = check(docker, "60s", &again).await;
    assert_eq!(status, Status::Passed, "after recreating: {detail}");

    // Known-bad: no root password option on an empty volume - the stand-in refuses to start, and says why.
    let bad = format!("{run}-noroot");
    let empty = format!("{run}-empty");
    volume(docker, &scope, &empty).await;
    let _bad = start_db(&scope, &bad, &empty, &[("MARIADB_DATABASE", "appdb")], &[], &[], false).await;
    for _ in 0..100 {
        if !docker.inspect_container(&bad, None).await.unwrap().state.and_then(|s| s.running).unwrap_or(false) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let refused = format!("name = \"{bad}\"\nexpect = {{ running = true }}");
    let (status, detail) = check(docker, "1s", &refused).await;
    assert_eq!(status, Status::Failed, "{detail}");
    assert!(detail.contains("exit code 1"), "{detail}");
    let says_why =
        format!("name = \"{bad}\"\nexpect = {{ logs_contain = [\"the root password option is not specified\"] }}");
    assert_eq!(check(docker, "5s", &says_why).await.0, Status::Passed);
}
