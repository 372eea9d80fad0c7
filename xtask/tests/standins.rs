//! The MariaDB stand-in honours the official image's contract, checked through the grader's own
//! `container` checks: first start (MYSQL_* spellings, *_FILE secrets, initdb scripts, healthcheck.sh),
//! a recreated container on the same named volume (data kept, new environment ignored), and the
//! known-bad start without a root password option. Integration: needs the engine.

mod common;

use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use common::*;
use grading::{Rubric, Status, Vars};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use xtask::engine::{self, Provision, LABEL};

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, text.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap()
}

/// Creates (and starts) a MariaDB stand-in container named `name` with `env`, the volume at /var/lib/mysql.
async fn start_db(docker: &bollard::Docker, run: &str, name: &str, volume: &str, env: &[&str], files: &[(&str, &str)]) {
    let labels: HashMap<String, String> =
        [(LABEL.to_string(), "true".to_string()), (TEST_LABEL.to_string(), run.to_string())].into_iter().collect();
    let body = ContainerCreateBody {
        image: Some("containerlabs/mariadb:10.11-standin".into()),
        env: Some(env.iter().map(|e| e.to_string()).collect()),
        labels: Some(labels),
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD".into(), "healthcheck.sh".into(), "--connect".into(), "--innodb_initialized".into()]),
            interval: Some(500_000_000),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            mounts: Some(vec![Mount {
                target: Some("/var/lib/mysql".into()),
                source: Some(volume.into()),
                typ: Some(MountType::VOLUME),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created =
        docker.create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body).await.unwrap();
    if !files.is_empty() {
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        docker.upload_to_container(&created.id, Some(options), bollard::body_full(tar_of(files).into())).await.unwrap();
    }
    docker.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();
}

async fn check(docker: &bollard::Docker, timeout: &str, kind: &str) -> (Status, String) {
    let text = format!("[[check]]\nid = \"c\"\ntitle = \"C\"\npoints = 1\nhint = \"h\"\ntimeout = \"{timeout}\"\ninterval = \"500ms\"\n[check.container]\n{kind}\n");
    let rubric = Rubric::parse(Path::new("r.toml"), &text, &BTreeSet::new()).unwrap();
    let ctx = grading::check::Context {
        vars: Vars::new(),
        submission: ".".into(),
        services: None,
        docker: Some(docker.clone()),
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
    let standin = xtask::images::STAND_INS.iter().find(|s| s.dir == "mariadb").unwrap();
    let (tag, dir) = (standin.tag, standin.dir);
    xtask::images::stand_in(&engine, &workspace(), tag, dir).await.unwrap();
    let docker = &engine.docker;
    let run = format!("clabs-db-{}", std::process::id());
    let _cleanup = CleanupLabelled { run: run.clone(), image_tags: vec![] };
    let volume = format!("{run}-data");
    let labels: HashMap<String, String> =
        [(LABEL.to_string(), "true".to_string()), (TEST_LABEL.to_string(), run.clone())].into_iter().collect();
    docker
        .create_volume(VolumeCreateRequest { name: Some(volume.clone()), labels: Some(labels), ..Default::default() })
        .await
        .unwrap();

    // First start: the MYSQL_* spellings, a *_FILE secret, and an initdb script.
    let first = format!("{run}-first");
    let env = [
        "MYSQL_ROOT_PASSWORD=rootpw",
        "MYSQL_DATABASE=appdb",
        "MARIADB_USER=app",
        "MARIADB_PASSWORD_FILE=/run/secrets/app_password",
    ];
    let files = [
        ("run/secrets/app_password", "apppw"),
        (
            "docker-entrypoint-initdb.d/01-seed.sql",
            "CREATE TABLE seeded (v varchar(20)); INSERT INTO seeded VALUES ('from-initdb');",
        ),
    ];
    start_db(docker, &run, &first, &volume, &env, &files).await;
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
    docker.remove_container(&first, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await.unwrap();
    let second = format!("{run}-second");
    start_db(docker, &run, &second, &volume, &["MARIADB_ROOT_PASSWORD=changed"], &[]).await;
    let again = format!("name = \"{second}\"\n{query}\nexpect = {{ running = true, healthy = true }}");
    let (status, detail) = check(docker, "60s", &again).await;
    assert_eq!(status, Status::Passed, "after recreating: {detail}");

    // Known-bad: no root password option on an empty volume - the stand-in refuses to start, and says why.
    let bad = format!("{run}-noroot");
    let empty = format!("{run}-empty");
    let labels: HashMap<String, String> =
        [(LABEL.to_string(), "true".to_string()), (TEST_LABEL.to_string(), run.clone())].into_iter().collect();
    docker
        .create_volume(VolumeCreateRequest { name: Some(empty.clone()), labels: Some(labels), ..Default::default() })
        .await
        .unwrap();
    start_db(docker, &run, &bad, &empty, &["MARIADB_DATABASE=appdb"], &[]).await;
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
    let _ =
        docker.remove_container(&bad, Some(RemoveContainerOptionsBuilder::default().force(true).v(true).build())).await;
    let _ = docker.remove_volume(&empty, None::<bollard::query_parameters::RemoveVolumeOptions>).await;
}
