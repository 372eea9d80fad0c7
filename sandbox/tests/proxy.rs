//! The policy proxy and the reaper against the real engine, driven by the real docker CLI (and
//! bollard) through a run's socket: what is let through is labelled and capped, what breaks a
//! rule is refused with the engine's own error shape, other runs' objects are invisible or
//! refused, streams and upgraded connections work, and finishing (or dropping) the run leaves
//! nothing. Integration (`CLABS_INTEGRATION=1`, set by `cargo xtask test`): needs the engine and
//! the Debian base image `cargo xtask images` makes.

use sandbox::{Endpoint, IncidentKind, Run, RunConfig};
use std::path::Path;
use std::process::{Command, Output};

const IMAGE: &str = "containerlabs/debian:bookworm";

fn integration(test: &str) -> bool {
    let on = std::env::var("CLABS_INTEGRATION").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("{test}: integration test not run (needs CLABS_INTEGRATION=1; `cargo xtask test` sets it)");
    }
    on
}

fn endpoint() -> Endpoint {
    Endpoint::parse(&std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())).unwrap()
}

/// The docker CLI talking to `host` (a run's proxy, or the real engine), under a deadline.
fn docker(host: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["120", "docker"])
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn refused(output: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should be refused: {stderr}");
    assert!(stderr.contains("refused by the grader's sandbox"), "{stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} not in: {stderr}");
    }
}

/// A run with a small submission: a site folder, a Dockerfile, and a symlink out of it.
async fn run_with_submission(dir: &Path) -> Run {
    std::fs::create_dir_all(dir.join("site")).unwrap();
    std::fs::write(dir.join("site/index.html"), "<h1>hello</h1>").unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {IMAGE}\nCOPY site /site\nVOLUME /cache\nCMD [\"sleep\", \"600\"]\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("escape")).unwrap();
    let config = RunConfig { submission: Some(dir.to_path_buf()), ..RunConfig::new(endpoint()) };
    Run::start(config).await.unwrap()
}

// The proxy is served by the runtime's other thread while the test waits for the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_labels_caps_and_refuses_and_the_run_leaves_nothing() {
    if !integration("the_proxy_labels_caps_and_refuses_and_the_run_leaves_nothing") {
        return;
    }
    let submission = tempfile::tempdir().unwrap();
    let run = run_with_submission(submission.path()).await;
    let proxy = format!("unix://{}", run.proxy_socket().unwrap().display());
    let real = endpoint().uri();
    let copy = run.submission().unwrap().to_path_buf();
    let name = |short: &str| format!("clabs-proxy-{}-{short}", run.id());
    let label = |id: &str, key: &str| {
        ok(&docker(&real, &["inspect", "-f", &format!("{{{{index .Config.Labels \"{key}\"}}}}"), id]))
    };

    // A plain container: let through, labelled with the run, capped, logs capped.
    let plain = name("plain");
    ok(&docker(
        &proxy,
        &["run", "-d", "--name", &plain, "--memory", "8g", "--pids-limit", "-1", IMAGE, "sleep", "600"],
    ));
    assert_eq!(label(&plain, "org.containerlabs.run"), run.id().as_str());
    let caps = ok(&docker(&real, &["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.LogConfig.Config}}", &plain]));
    assert_eq!(caps, "1073741824 512 1000000000 map[max-file:2 max-size:10240k]");

    // Streams and upgraded connections: attach (`run` without -d), exec, logs.
    let attached = ok(&docker(&proxy, &["run", "--name", &name("attached"), IMAGE, "echo", "through the proxy"]));
    assert_eq!(attached, "through the proxy");
    assert_eq!(ok(&docker(&proxy, &["exec", &plain, "sh", "-c", "echo exec works"])), "exec works");
    assert_eq!(ok(&docker(&proxy, &["logs", &name("attached")])), "through the proxy");

    // Refused before the engine sees them, each naming its rule; nothing of theirs is created.
    for (args, words) in [
        (vec!["--privileged"], vec!["privileged: true", "no-privileged"]),
        (vec!["--cap-add", "SYS_ADMIN"], vec!["cap_add: SYS_ADMIN", "no-added-capabilities"]),
        (vec!["--network", "host"], vec!["network_mode: host", "no-host-namespaces"]),
        (vec!["--pid", "host"], vec!["pid: host"]),
        (vec!["--security-opt", "seccomp=unconfined"], vec!["security_opt: seccomp=unconfined"]),
        (vec!["--device", "/dev/null"], vec!["devices: /dev/null", "no-devices"]),
        (vec!["-v", "/var/run/docker.sock:/var/run/docker.sock"], vec!["no-engine-socket"]),
        (vec!["-v", "/etc:/host-etc:ro"], vec!["volumes: /etc", "no-host-paths"]),
        (vec!["--mount", &format!("type=bind,source={}/../..,target=/up", copy.display())], vec!["no-host-paths"]),
        (vec!["-v", &format!("{}/escape:/x", copy.display())], vec!["which leads to /etc", "no-host-paths"]),
        (vec!["--log-driver", "syslog"], vec!["local-logs"]),
    ] {
        let bad = name("bad");
        let mut full = vec!["run", "-d", "--name", &bad];
        full.extend(args.iter().copied());
        full.extend([IMAGE, "true"]);
        refused(&docker(&proxy, &full), &words);
        assert!(!docker(&real, &["inspect", &bad]).status.success(), "{args:?}: nothing was created");
    }
    // A bind of the submission's own files is fine.
    ok(&docker(
        &proxy,
        &[
            "run",
            "-d",
            "--name",
            &name("site"),
            "-v",
            &format!("{}/site:/site:ro", copy.display()),
            IMAGE,
            "sleep",
            "600",
        ],
    ));
    // Endpoints the labs do not need.
    refused(&docker(&proxy, &["swarm", "init"]), &["lab-endpoints-only"]);
    refused(&docker(&proxy, &["container", "prune", "-f"]), &["lab-endpoints-only"]);
    refused(&docker(&proxy, &["volume", "prune", "-f"]), &["lab-endpoints-only"]);
    refused(&docker(&proxy, &["tag", IMAGE, "containerlabs/debian:hijacked"]), &["lab-endpoints-only"]);
    refused(&docker(&proxy, &["exec", "--privileged", &plain, "true"]), &["no-privileged"]);

    // Someone else's container: invisible through the proxy, and never touched.
    let other = name("not-the-runs");
    ok(&docker(
        &real,
        &[
            "run",
            "-d",
            "--name",
            &other,
            "--label",
            &format!("org.containerlabs.run={}", "0123456789ab"),
            "--label",
            "org.containerlabs.managed=true",
            IMAGE,
            "sleep",
            "600",
        ],
    ));
    let listed = ok(&docker(&proxy, &["ps", "-a", "--format", "{{.Names}}"]));
    assert!(listed.contains(&plain) && !listed.contains(&other), "{listed}");
    let inspected = docker(&proxy, &["inspect", &other]);
    assert!(String::from_utf8_lossy(&inspected.stderr).contains("No such"), "{inspected:?}");
    refused(&docker(&proxy, &["rm", "-f", &other]), &["own-objects-only"]);
    refused(
        &docker(
            &proxy,
            &["run", "-d", "--name", &name("joins"), "--network", &format!("container:{other}"), IMAGE, "true"],
        ),
        &["own-objects-only"],
    );
    assert!(docker(&real, &["inspect", &other]).status.success(), "the other container is still there");

    // Anonymous volumes (asked for, and the image's own) become volumes of the run, named like anonymous ones.
    ok(&docker(&proxy, &["build", "-q", "-t", "clabs-web:1", &copy.display().to_string()]));
    let built = ok(&docker(&proxy, &["run", "-d", "--name", &name("built"), "-v", "/scratch", "clabs-web:1"]));
    let volumes = ok(&docker(&real, &["inspect", "-f", "{{range .Mounts}}{{.Name}} {{end}}", &built]));
    let volumes: Vec<&str> = volumes.split_whitespace().collect();
    assert_eq!(volumes.len(), 2, "/scratch and the image's /cache: {volumes:?}");
    for volume in &volumes {
        assert_eq!(volume.len(), 64, "{volume}");
        let run_label =
            ok(&docker(&real, &["volume", "inspect", "-f", "{{index .Labels \"org.containerlabs.run\"}}", volume]));
        assert_eq!(run_label, run.id().as_str());
    }
    // The build is the run's: its tag is in the run's namespace, never the name it asked for.
    assert!(!docker(&real, &["image", "inspect", "clabs-web:1"]).status.success(), "no shared tag");
    let image = format!("clabs-run-{}/clabs-web:1", run.id());
    assert_eq!(label(&built, "org.containerlabs.run"), run.id().as_str());
    assert_eq!(
        ok(&docker(&real, &["image", "inspect", "-f", "{{index .Config.Labels \"org.containerlabs.run\"}}", &image])),
        run.id().as_str()
    );
    assert_eq!(ok(&docker(&proxy, &["exec", &built, "cat", "/site/index.html"])), "<h1>hello</h1>");

    let incidents = run.incidents();
    assert!(incidents.iter().all(|i| i.kind == IncidentKind::Refused));
    assert!(
        incidents.iter().any(|i| i.to_string()
            == format!("refused: container `{}` asks for privileged: true (rule no-privileged)", name("bad"))),
        "{incidents:#?}"
    );

    // Finishing the run removes what it made - and nothing else.
    let removed = run.finish().await.unwrap();
    assert_eq!(
        (removed.containers, removed.volumes, removed.images),
        (4, 2, 1),
        "plain, attached, site, built; /scratch, /cache; the build"
    );
    let selector = format!("label=org.containerlabs.run={}", run.id());
    assert_eq!(ok(&docker(&real, &["ps", "-aq", "--filter", &selector])), "");
    assert_eq!(ok(&docker(&real, &["volume", "ls", "-q", "--filter", &selector])), "");
    assert_eq!(ok(&docker(&real, &["images", "-q", "--filter", &selector])), "");
    assert!(!run.dir().exists(), "the run's directory is gone");
    assert!(docker(&real, &["inspect", &other]).status.success(), "the other container is still there");
    sandbox::reap(&endpoint().docker().unwrap(), "org.containerlabs.run=0123456789ab", false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_dropped_unfinished_is_reaped() {
    if !integration("a_run_dropped_unfinished_is_reaped") {
        return;
    }
    let run = Run::start(RunConfig::new(endpoint())).await.unwrap();
    let proxy = format!("unix://{}", run.proxy_socket().unwrap().display());
    ok(&docker(&proxy, &["volume", "create", &format!("clabs-drop-{}", run.id())]));
    ok(&docker(&proxy, &["network", "create", &format!("clabs-drop-{}", run.id())]));
    ok(&docker(&proxy, &["run", "-d", "--network", &format!("clabs-drop-{}", run.id()), IMAGE, "sleep", "600"]));
    let (selector, dir) = (run.id().selector(), run.dir().to_path_buf());
    drop(run);
    let left = sandbox::reaper::leftovers(&endpoint().docker().unwrap(), &selector, true).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(!dir.exists());
}

// Two reapers on one run at once (a dead grader's sentinel and another grader's orphan sweep):
// each waits out what the other is removing; both finish, and nothing is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reapers_on_one_run_both_finish() {
    if !integration("two_reapers_on_one_run_both_finish") {
        return;
    }
    let real = endpoint().uri();
    let label = format!("org.containerlabs.run=race{}", std::process::id());
    let network = format!("clabs-race-{}", std::process::id());
    // The project's label too, so `cargo xtask clean` finds what a failed run of this test leaves.
    let managed = "org.containerlabs.managed=true";
    ok(&docker(&real, &["network", "create", "--label", &label, "--label", managed, &network]));
    for n in 0..6 {
        let name = format!("clabs-race-{}-{n}", std::process::id());
        let volume = format!("{name}-data");
        ok(&docker(&real, &["volume", "create", "--label", &label, "--label", managed, &volume]));
        ok(&docker(
            &real,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                &label,
                "--label",
                managed,
                "--network",
                &network,
                "-v",
                &format!("{volume}:/data"),
                IMAGE,
                "sleep",
                "600",
            ],
        ));
    }
    let docker = endpoint().docker().unwrap();
    let (first, second) = tokio::join!(sandbox::reap(&docker, &label, false), sandbox::reap(&docker, &label, false));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.containers + second.containers, 6, "{first:?} {second:?}");
    assert_eq!(first.networks + second.networks, 1, "{first:?} {second:?}");
    assert_eq!(first.volumes + second.volumes, 6, "{first:?} {second:?}");
    assert!(sandbox::reaper::leftovers(&docker, &label, false).await.unwrap().is_empty());
}
