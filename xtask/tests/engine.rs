//! The Docker engine and the project's images: built without a registry, reused when unchanged,
//! run unprivileged with a published port, and removed by label. Integration: needs the engine
//! that `cargo xtask test` provides.

mod common;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use common::*;
use std::collections::HashMap;
use xtask::engine::images::{self, Built};
use xtask::engine::{self, Provision};

#[tokio::test(flavor = "current_thread")]
async fn a_scratch_image_is_built_once_runs_unprivileged_and_is_removed_by_label() {
    if !integration("a_scratch_image_is_built_once_runs_unprivileged_and_is_removed_by_label") {
        return;
    }
    let engine = engine::ensure(Provision::Never).await.expect("cargo xtask test provides an engine");
    let image = images::catalogue(&workspace()).into_iter().find(|i| i.package == "static-site").unwrap();
    let binary = images::static_binary(&workspace(), &image.package, &image.bin).unwrap();
    images::build(&engine, &image, &binary).await.unwrap();
    assert_eq!(
        images::build(&engine, &image, &binary).await.unwrap(),
        Built::Cached,
        "unchanged inputs reuse the image"
    );

    let scope = testkit::EngineScope::new();
    let run_id = format!("engine-test-{}", scope.id());
    let port = free_port();
    let labels: HashMap<String, String> = scope.labels().clone().into_iter().collect();
    let bindings = HashMap::from([(
        "8080/tcp".to_string(),
        Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(port.to_string()) }]),
    )]);
    let body = ContainerCreateBody {
        image: Some(image.tag.clone()),
        labels: Some(labels),
        host_config: Some(HostConfig { port_bindings: Some(bindings), ..Default::default() }),
        ..Default::default()
    };
    let created = engine
        .docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&run_id).build()), body)
        .await
        .unwrap();
    engine.docker.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();

    let inspected = engine.docker.inspect_container(&created.id, None).await.unwrap();
    assert_eq!(inspected.config.and_then(|c| c.user).as_deref(), Some(images::RUN_AS), "runs as nobody");
    let host = inspected.host_config.unwrap();
    assert_ne!(host.privileged, Some(true));
    assert_ne!(host.network_mode.as_deref(), Some("host"));

    wait_for_port(port);
    let mut page = String::new();
    for _ in 0..100 {
        if let Ok(text) = fetch(port).await {
            page = text;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(page.contains("<title>Container Labs - the course's ready image</title>"), "{page}");

    drop(scope);
    assert!(engine.docker.inspect_container(&created.id, None).await.is_err(), "the reaper removed the container");
}

async fn fetch(port: u16) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text)
}

#[tokio::test(flavor = "current_thread")]
async fn images_are_pulled_from_a_registry_that_answers_and_stand_ins_replace_official_images_when_none_does() {
    if !integration(
        "images_are_pulled_from_a_registry_that_answers_and_stand_ins_replace_official_images_when_none_does",
    ) {
        return;
    }
    let engine = engine::ensure(Provision::Never).await.expect("cargo xtask test provides an engine");
    let root = workspace();
    // Everything this test makes - the pushed image and each pull of it - carries the scope's labels.
    let scope = testkit::EngineScope::new();

    // A real registry (Debian's docker-registry, which `cargo xtask test` installs) on a loopback port.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        ),
    )
    .unwrap();
    let _registry = Process(
        std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry (cargo xtask test installs it: apt-get install docker-registry)"),
    );
    wait_for_port(port);
    let remote = format!("127.0.0.1:{port}/clabs-pull-test/tiny:1");
    let docker = |args: &[&str]| {
        let output = testkit::docker_cli().args(args).output().unwrap();
        assert!(output.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY hello /hello\n").unwrap();
    std::fs::write(context.join("hello"), "hello\n").unwrap();
    let mut build: Vec<String> = vec!["build".into(), "-q".into(), "-t".into(), remote.clone()];
    build.extend(scope.label_args());
    build.push(context.display().to_string());
    docker(&build.iter().map(String::as_str).collect::<Vec<_>>());
    docker(&["push", &remote]);
    docker(&["rmi", &remote]);
    assert!(engine.docker.inspect_image(&remote).await.is_err());

    // Not here, but a registry answers: pulled, and nothing is replaced.
    for source in [images::ImageSource::Auto, images::ImageSource::Pull] {
        let replaced = images::ensure_tags(&engine, &root, std::slice::from_ref(&remote), source).await.unwrap();
        assert!(replaced.is_empty(), "{replaced:?}");
        assert!(engine.docker.inspect_image(&remote).await.is_ok(), "{remote} was not pulled");
        docker(&["rmi", &remote]);
    }
    // `build` never pulls: an image without a stand-in is then an error saying what to do.
    let error = images::ensure_tags(&engine, &root, std::slice::from_ref(&remote), images::ImageSource::Build)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("has no stand-in"), "{error}");

    // No registry answers (a closed port): one line saying so.
    let unreachable = format!("127.0.0.1:{}/clabs-pull-test/none:1", free_port());
    let error = images::ensure_tags(&engine, &root, std::slice::from_ref(&unreachable), images::ImageSource::Auto)
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with(&format!("cannot pull {unreachable}:")), "{error}");
    assert!(!error.to_string().contains('\n'), "{error}");

    // An official image with a stand-in: `build` builds the stand-in and says to use it instead.
    let mariadb = images::stand_ins().iter().find(|s| s.official == "mariadb:10.11").unwrap();
    if engine.docker.inspect_image(&mariadb.official).await.is_err() {
        let replaced = images::ensure_tags(&engine, &root, &[mariadb.official.to_string()], images::ImageSource::Build)
            .await
            .unwrap();
        assert_eq!(replaced, [(mariadb.official.to_string(), mariadb.tag.to_string())]);
        assert!(
            engine.docker.inspect_image(&mariadb.official).await.is_err(),
            "the stand-in must not take the official name"
        );
    }
}

/// Resumes a paused containerd shim, even when an assertion failed (the test's scope, dropped
/// after it, then removes the container).
struct Resume {
    shim: u32,
}

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-CONT", &self.shim.to_string()]).status();
    }
}

/// A removal that hangs holds its container's lock, as in dockerd 20.10's libnetwork deadlock
/// (moby/moby#46661). Pausing our own container's shim makes `docker rm -f` hang the same way:
/// the engine must then count as stuck, naming the container, and as well again once it resumes.
#[tokio::test(flavor = "current_thread")]
async fn an_engine_that_stops_answering_about_a_container_counts_as_stuck() {
    if !integration("an_engine_that_stops_answering_about_a_container_counts_as_stuck") {
        return;
    }
    let engine = engine::ensure(Provision::Never).await.expect("cargo xtask test provides an engine");
    let scope = testkit::EngineScope::new();
    let name = format!("engine-test-{}-stuck", scope.id());
    let started = testkit::docker_cli()
        .args(["run", "-d", "--name", &name])
        .args(scope.label_args())
        .args(["--network", "none", "containerlabs/debian:bookworm", "sleep", "infinity"])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let inspect = testkit::docker_cli().args(["inspect", "-f", "{{.State.Pid}}", &name]).output().unwrap();
    let pid = String::from_utf8_lossy(&inspect.stdout).trim().to_string();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let shim: u32 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{shim}/comm")).unwrap();
    assert!(comm.starts_with("containerd-shim"), "the container's parent is {comm}");
    let _resume = Resume { shim };

    assert_eq!(
        sandbox::stuck::stuck(&engine.docker, std::time::Duration::from_secs(5)).await,
        None,
        "a healthy engine"
    );
    assert!(std::process::Command::new("kill").args(["-STOP", &shim.to_string()]).status().unwrap().success());
    let mut removal =
        testkit::docker_cli().args(["rm", "-f", &name]).stdout(std::process::Stdio::null()).spawn().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let why = sandbox::stuck::stuck(&engine.docker, std::time::Duration::from_secs(3)).await;
    assert_eq!(why.as_deref(), Some(format!("inspecting container {name} took over 3 s").as_str()));

    assert!(std::process::Command::new("kill").args(["-CONT", &shim.to_string()]).status().unwrap().success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while removal.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "docker rm -f still hangs after the shim resumed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sandbox::stuck::stuck(&engine.docker, std::time::Duration::from_secs(5)).await, None, "well again");
}
