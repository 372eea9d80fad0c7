//! Lab 3: the compose step's static rules. Every check has a known-bad compose file - the lab's
//! own file with one habit broken, as students write it - that turns exactly that check red (or,
//! for a file that does not load, only `compose-valid`, with the rest skipped).
//!
//! These read files only (and ask the installed Compose, if any, to validate): no engine needed.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;

const COMPOSE: &str = "labs/compose/compose.yaml";
const ENV_EXAMPLE: &str = "labs/compose/.env.example";

/// A submission holding the lab's compose file and .env.example, each edited by `edit`.
fn submission(dir: &Path, edit: &dyn Fn(&mut String, &mut String)) {
    let (mut compose, mut env) = (
        std::fs::read_to_string(workspace().join(COMPOSE)).unwrap(),
        std::fs::read_to_string(workspace().join(ENV_EXAMPLE)).unwrap(),
    );
    edit(&mut compose, &mut env);
    std::fs::create_dir_all(dir.join("labs/compose")).unwrap();
    std::fs::write(dir.join(COMPOSE), compose).unwrap();
    std::fs::write(dir.join(ENV_EXAMPLE), env).unwrap();
}

/// Replaces `from` (which must be there) with `to`.
fn swap(text: &mut String, from: &str, to: &str) {
    assert!(text.contains(from), "{from:?} is not in the file");
    *text = text.replacen(from, to, 1);
}

/// Whether a check id is one of the compose step's static rules (the rest grade a running stack).
fn is_static(id: &str) -> bool {
    id.starts_with("compose-")
}

/// Grades lab 3's compose step of `dir` against a compose project nobody runs, so the runtime
/// checks never see a stack (not even a `lab3` stack a developer left up); returns (exit code,
/// failed static ids, skipped static ids, report). Every runtime check must fail or be skipped.
fn grade(dir: &Path) -> (i32, BTreeSet<String>, BTreeSet<String>, serde_json::Value) {
    let out = dir.join("report.json");
    let project = format!("clabs-static-{}-{}", std::process::id(), unique());
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--step", "compose", "--format", "json", "--var"])
        .arg(format!("project={project}"))
        .arg("--submission")
        .arg(dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap_or_default()).unwrap_or_default();
    for check in checks(&report).into_iter().filter(|c| !is_static(c["id"].as_str().unwrap_or_default())) {
        assert_ne!(check["status"], "passed", "a runtime check passed with no stack: {check}");
    }
    let ids = |status| ids_with_status(&report, status).into_iter().filter(|id| is_static(id)).collect();
    (output.status.code().unwrap_or(-1), ids("failed"), ids("skipped"), report)
}

/// A number no other call in this process gets.
fn unique() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Every check in a JSON report, across steps.
fn checks(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .collect()
}

type Edit = Box<dyn Fn(&mut String, &mut String) + Send + Sync>;

fn compose_edit(from: &'static str, to: &'static str) -> Edit {
    Box::new(move |compose, _| swap(compose, from, to))
}

#[test]
fn compose_known_bad_variants() {
    let table: Vec<(&str, Edit, &[&str])> = vec![
        ("reference", Box::new(|_, _| {}), &[]),
        ("not-compose", compose_edit("services:\n", "servics:\n"), &["compose-valid"]),
        ("undeclared-volume", compose_edit("  portfolio-db:\n\nnetworks:", "\nnetworks:"), &["compose-valid"]),
        (
            "env-example-missing-variable",
            Box::new(|compose, env| {
                swap(compose, "${WORDPRESS_PORT:-8088}", "${WORDPRESS_PORT}");
                swap(env, "WORDPRESS_PORT=8088\n", "");
            }),
            &["compose-env-example"],
        ),
        (
            "inline-password",
            compose_edit(
                "MARIADB_PASSWORD: ${NEXTCLOUD_DB_PASSWORD:?copy .env.example to .env and set it}",
                "MARIADB_PASSWORD: hunter2",
            ),
            &["compose-no-inline-secrets"],
        ),
        (
            "password-default",
            compose_edit(
                "MARIADB_ROOT_PASSWORD: ${WORDPRESS_DB_ROOT_PASSWORD:?copy .env.example to .env and set it}",
                "MARIADB_ROOT_PASSWORD: ${WORDPRESS_DB_ROOT_PASSWORD:-hunter2}",
            ),
            &["compose-no-inline-secrets"],
        ),
        (
            "latest-tag",
            compose_edit("${REDIS_IMAGE:-redis:7.0}", "${REDIS_IMAGE:-redis:latest}"),
            &["compose-explicit-tags"],
        ),
        ("no-tag", compose_edit("${NEXTCLOUD_IMAGE:-nextcloud:28-apache}", "nextcloud"), &["compose-explicit-tags"]),
        (
            "db-bind-mount",
            compose_edit("- wordpress-db:/var/lib/mysql", "- ./wordpress-db:/var/lib/mysql"),
            &["compose-state-volumes"],
        ),
        (
            "app-anonymous-volume",
            compose_edit("- wordpress:/var/www/html", "- /var/www/html"),
            &["compose-state-volumes"],
        ),
        (
            "app-data-in-container-layer",
            compose_edit("    volumes:\n      - nextcloud:/var/www/html\n", ""),
            &["compose-state-volumes"],
        ),
        (
            "db-published",
            compose_edit(
                "      - wordpress-db:/var/lib/mysql\n",
                "      - wordpress-db:/var/lib/mysql\n    ports:\n      - \"3306:3306\"\n",
            ),
            &["compose-db-not-published"],
        ),
        (
            "db-on-frontend",
            compose_edit(
                "      - nextcloud-db:/var/lib/mysql\n    networks: [backend]",
                "      - nextcloud-db:/var/lib/mysql\n    networks: [backend, frontend]",
            ),
            &["compose-db-backend-only"],
        ),
        (
            "app-unpublished",
            compose_edit("    ports:\n      - \"127.0.0.1:${NEXTCLOUD_PORT:-8089}:80\"\n", ""),
            &["compose-apps-published"],
        ),
        (
            "db-without-healthcheck",
            compose_edit(
                "    healthcheck:\n      test: [\"CMD\", \"healthcheck.sh\", \"--connect\", \"--innodb_initialized\"]\n      interval: 5s\n      timeout: 5s\n      retries: 30\n      start_period: 10s\n\n  wordpress:",
                "\n  wordpress:",
            ),
            &["compose-healthchecks"],
        ),
        (
            "depends-started-only",
            compose_edit(
                "    depends_on:\n      wordpress-db:\n        condition: service_healthy\n",
                "    depends_on: [wordpress-db]\n",
            ),
            &["compose-depends-healthy"],
        ),
        (
            "no-restart",
            compose_edit(
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: unless-stopped\n",
                "    image: ${REDIS_IMAGE:-redis:7.0}\n",
            ),
            &["compose-restart"],
        ),
        (
            "privileged",
            compose_edit(
                "    image: ${WORDPRESS_IMAGE:-wordpress:6.1-apache}\n",
                "    image: ${WORDPRESS_IMAGE:-wordpress:6.1-apache}\n    privileged: true\n",
            ),
            &["compose-no-privileged"],
        ),
        (
            "cap-sys-admin",
            compose_edit(
                "    image: ${REDIS_IMAGE:-redis:7.0}\n",
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    cap_add: [SYS_ADMIN]\n",
            ),
            &["compose-no-privileged"],
        ),
        (
            "docker-socket",
            compose_edit(
                "      - nextcloud:/var/www/html\n",
                "      - nextcloud:/var/www/html\n      - /var/run/docker.sock:/var/run/docker.sock\n",
            ),
            &["compose-no-docker-socket"],
        ),
        (
            "host-network",
            compose_edit(
                "      - redis:/data\n    networks: [backend]\n",
                "      - redis:/data\n    network_mode: host\n",
            ),
            &["compose-no-host-namespaces"],
        ),
        (
            "cap-sys-boot",
            compose_edit(
                "    image: ${REDIS_IMAGE:-redis:7.0}\n",
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    cap_add: [SYS_BOOT]\n",
            ),
            &["compose-no-privileged"],
        ),
        (
            "privileged-behind-an-anchor",
            Box::new(|compose, _| {
                swap(compose, "services:\n", "x-hardened: &hardened\n  privileged: true\n\nservices:\n");
                swap(
                    compose,
                    "    image: ${REDIS_IMAGE:-redis:7.0}\n",
                    "    <<: *hardened\n    image: ${REDIS_IMAGE:-redis:7.0}\n",
                );
            }),
            &["compose-no-privileged"],
        ),
        (
            "privileged-behind-extends",
            Box::new(|compose, _| {
                swap(
                    compose,
                    "services:\n",
                    "services:\n  base:\n    image: ${REDIS_IMAGE:-redis:7.0}\n    privileged: true\n    profiles: [never]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n    restart: unless-stopped\n    networks: [backend]\n\n",
                );
                swap(compose, "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: unless-stopped\n    command:", "    extends: base\n    restart: unless-stopped\n    command:");
            }),
            &["compose-no-privileged"],
        ),
        (
            "host-path",
            compose_edit("      - redis:/data\n", "      - redis:/data\n      - /etc:/host-etc:ro\n"),
            &["compose-no-host-paths"],
        ),
        (
            "bind-climbing-out",
            compose_edit("      - redis:/data\n", "      - redis:/data\n      - ../../..:/up:ro\n"),
            &["compose-no-host-paths"],
        ),
        (
            "host-pid",
            compose_edit(
                "    image: ${REDIS_IMAGE:-redis:7.0}\n",
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    pid: host\n",
            ),
            &["compose-no-host-namespaces"],
        ),
    ];
    let mut covered = BTreeSet::new();
    let mut wrong = Vec::new();
    // Graded four at a time: Compose v1 takes seconds to validate a file.
    let graded: Vec<_> = std::thread::scope(|scope| {
        let chunks: Vec<_> = table
            .chunks(table.len().div_ceil(4))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(_, edit, _)| {
                            let dir = tempfile::tempdir().unwrap();
                            submission(dir.path(), edit.as_ref());
                            grade(dir.path())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|c| c.join().unwrap()).collect()
    });
    for ((name, _, expected), (code, failed, skipped, report)) in table.iter().zip(graded) {
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        // Exit 1 even for the reference: the runtime checks find no stack.
        if failed != expected || code != 1 {
            wrong.push(format!("{name}: exit {code}, failed {failed:?}, expected {expected:?}\n{report:#}"));
        }
        // A file that does not load fails only compose-valid; the rest is skipped, not failed twice.
        let statics = checks(&report).into_iter().filter(|c| is_static(c["id"].as_str().unwrap_or_default())).count();
        if expected.contains("compose-valid") && skipped.len() + 1 != statics {
            wrong.push(format!("{name}: the other checks should be skipped: {skipped:?}"));
        }
        // Every failure says what was expected and what was found.
        for check in checks(&report).into_iter().filter(|c| c["status"] == "failed") {
            if check["expected"].as_str().unwrap_or_default().is_empty()
                || check["actual"].as_str().unwrap_or_default().is_empty()
            {
                wrong.push(format!("{name}: {} fails without expected/actual: {check}", check["id"]));
            }
        }
        covered.extend(expected);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    // Every static rule has its variant here; the runtime checks have theirs in the running-stack table.
    let missing: Vec<String> = rubric_ids("labs/compose/rubric.toml")
        .into_iter()
        .filter(|id| is_static(id) && !covered.contains(id))
        .collect();
    assert!(missing.is_empty(), "static rules without a known-bad variant: {missing:?}");
}

/// The ids of a rubric's checks.
fn rubric_ids(rubric: &str) -> BTreeSet<String> {
    toml::from_str::<toml::Table>(&std::fs::read_to_string(workspace().join(rubric)).unwrap()).unwrap()["check"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_missing_compose_file_fails_compose_valid_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("labs/compose")).unwrap();
    let (code, failed, _, report) = grade(dir.path());
    assert_eq!(code, 1);
    assert_eq!(failed, ["compose-valid".to_string()].into_iter().collect());
    let valid = checks(&report).into_iter().find(|c| c["id"] == "compose-valid").unwrap();
    assert!(valid["actual"].as_str().unwrap().contains("compose.yaml does not exist"), "{valid}");
}

// ---------------------------------------------------------------------------------------------
// The running stack: `check lab3 --up` on the lab's compose file and on known-bad variants of it.
// A variant is a submission of its own (`--submission`): `--up` runs the course's `stack` tool on
// its compose file, in the sandbox. Each run gets its own project and ports
// and must leave nothing labelled with its project behind. Integration: needs the engine and the
// stand-ins `cargo xtask test` provides.

/// One `--up` stack at a time: two cores do not bring up several seven-container stacks in time.
static ONE_STACK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A submission holding a variant of the lab's compose file (and its .env.example), in a
/// directory of its own, removed when dropped; `--submission` names it.
struct Variant {
    dir: tempfile::TempDir,
}

impl Variant {
    fn new(_name: &str, edit: &dyn Fn(&mut String, &mut String)) -> Variant {
        let dir = tempfile::tempdir().unwrap();
        submission(dir.path(), edit);
        Variant { dir }
    }

    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }
}

/// What carries `com.docker.compose.project=<project>`: containers, volumes, networks.
fn project_leftovers(project: &str) -> Vec<String> {
    let label = format!("label=com.docker.compose.project={project}");
    let mut left = Vec::new();
    for (kind, args) in
        [("container", &["ps", "-aq"][..]), ("volume", &["volume", "ls", "-q"]), ("network", &["network", "ls", "-q"])]
    {
        let output = testkit::docker_cli().args(args).args(["--filter", &label]).output().unwrap();
        left.extend(String::from_utf8_lossy(&output.stdout).split_whitespace().map(|id| format!("{kind} {id}")));
    }
    left
}

/// Every volume in the engine.
fn volume_names() -> BTreeSet<String> {
    let output = testkit::docker_cli().args(["volume", "ls", "-q"]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_string).collect()
}

/// Removes everything of `project` when dropped, with the project's reaper (a failed assertion
/// must not leave a stack, even if the grader under test left one).
struct RemoveProject(String);

impl Drop for RemoveProject {
    fn drop(&mut self) {
        testkit::reap(&format!("com.docker.compose.project={}", self.0));
    }
}

/// `check lab3 --up` with its own project and ports (and `extra` arguments); returns
/// (exit code, failed ids, report, stderr) after asserting the engine holds nothing of the project.
fn grade_up(test: &str, extra: &[&str]) -> (i32, BTreeSet<String>, serde_json::Value, String) {
    let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
    grade_up_alone(test, extra)
}

/// [`grade_up`] for a caller that holds [`ONE_STACK`] already.
fn grade_up_alone(test: &str, extra: &[&str]) -> (i32, BTreeSet<String>, serde_json::Value, String) {
    let project = format!("clabs{}{}", std::process::id(), test.replace(['-', '_'], ""));
    let _remove = RemoveProject(project.clone());
    let volumes_before = volume_names();
    let (wordpress, nextcloud, portfolio) = (free_port().to_string(), free_port().to_string(), free_port().to_string());
    let out = tempfile::NamedTempFile::new().unwrap();
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--up", "--format", "json", "--out"])
        .arg(out.path())
        .args(["--var", &format!("project={project}")])
        .args(["--var", &format!("wordpress_port={wordpress}")])
        .args(["--var", &format!("nextcloud_port={nextcloud}")])
        .args(["--var", &format!("portfolio_port={portfolio}")])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path()).unwrap_or_default()).unwrap_or_default();
    let left = project_leftovers(&project);
    assert!(left.is_empty(), "{test}: --up left {left:?} behind\n{stderr}");
    // Anonymous volumes carry no project label: compare every volume name before and after.
    let new: Vec<String> = volume_names().difference(&volumes_before).cloned().collect();
    assert!(new.is_empty(), "{test}: --up left volumes {new:?} behind\n{stderr}");
    // Exit 2 writes a report too, with every check skipped as not run.
    let failed =
        if report.is_object() { ids_with_status(&report, "failed").into_iter().collect() } else { BTreeSet::new() };
    (output.status.code().unwrap_or(-1), failed, report, stderr)
}

#[test]
fn check_lab3_up_gives_the_reference_full_marks_and_leaves_nothing() {
    if !integration("check_lab3_up_gives_the_reference_full_marks_and_leaves_nothing") {
        return;
    }
    let (code, failed, report, stderr) = grade_up("full", &[]);
    assert_eq!(code, 0, "failed {failed:?}\n{stderr}\n{report:#}");
    assert_eq!(report["score"], report["max_score"], "{report:#}");
    assert_eq!(report["counts"]["skipped"], 0, "{report:#}");
}

#[test]
fn running_stack_known_bad_variants() {
    if !integration("running_stack_known_bad_variants") {
        return;
    }
    let no_health = |compose: &mut String, service: &str, retries: &str| {
        let start = compose.find(&format!("\n  {service}:\n")).unwrap();
        let at = start + compose[start..].find("    healthcheck:\n").unwrap();
        let end = at
            + compose[at..].find(&format!("      retries: {retries}\n")).unwrap()
            + format!("      retries: {retries}\n").len();
        let end = if compose[end..].starts_with("      start_period: 10s\n") {
            end + "      start_period: 10s\n".len()
        } else {
            end
        };
        compose.replace_range(at..end, "");
    };
    let table: Vec<(&str, &[&str], Edit, &[&str])> = vec![
        (
            "redis-not-wired",
            &["--step", "cache"],
            compose_edit("      REDIS_HOST: redis\n", ""),
            &["cache-nextcloud-locking", "cache-in-use"],
        ),
        (
            "portfolio-not-wired",
            &["--step", "cache"],
            compose_edit("      REDIS_HOST: redis\n      CACHE_TTL_SECONDS: \"60\"\n", "      CACHE_TTL_SECONDS: \"60\"\n"),
            &["cache-portfolio-aside"],
        ),
        (
            "redis-published",
            &["--step", "cache"],
            compose_edit("      - redis:/data\n", "      - redis:/data\n    ports:\n      - \"127.0.0.1::6379\"\n"),
            &["cache-redis-not-published"],
        ),
        (
            "redis-without-healthcheck",
            &["--step", "cache"],
            Box::new(move |compose, _| {
                no_health(compose, "redis", "30");
                // Nextcloud and the portfolio both wait for it.
                *compose = compose.replace(
                    "      redis:\n        condition: service_healthy\n",
                    "      redis:\n        condition: service_started\n",
                );
            }),
            &["cache-redis-healthy"],
        ),
        (
            "no-healthchecks",
            &["--step", "compose"],
            Box::new(move |compose, _| {
                for (service, retries) in
                    [("wordpress-db", "30"), ("nextcloud-db", "30"), ("wordpress", "30"), ("nextcloud", "60")]
                {
                    no_health(compose, service, retries);
                }
                *compose = compose.replace("condition: service_healthy", "condition: service_started");
            }),
            &[
                "compose-healthchecks",
                "compose-depends-healthy",
                "stack-wordpress-db-healthy",
                "stack-nextcloud-db-healthy",
                "stack-wordpress-healthy",
                "stack-nextcloud-healthy",
            ],
        ),
        (
            "wordpress-wrong-db-password",
            &["--step", "compose"],
            compose_edit(
                "      WORDPRESS_DB_PASSWORD: ${WORDPRESS_DB_PASSWORD:?copy .env.example to .env and set it}\n",
                "      WORDPRESS_DB_PASSWORD: ${NEXTCLOUD_DB_PASSWORD:?copy .env.example to .env and set it}\n",
            ),
            &["wordpress-answers"],
        ),
        (
            "wordpress-db-read-only",
            &["--step", "compose"],
            compose_edit(
                "    restart: unless-stopped\n    environment:\n      MARIADB_ROOT_PASSWORD: ${WORDPRESS_DB_ROOT_PASSWORD",
                "    restart: unless-stopped\n    command: [\"mariadbd\", \"--read-only\"]\n    environment:\n      MARIADB_ROOT_PASSWORD: ${WORDPRESS_DB_ROOT_PASSWORD",
            ),
            &["wordpress-install"],
        ),
        (
            "nextcloud-not-installed",
            &["--step", "compose"],
            compose_edit("      NEXTCLOUD_ADMIN_USER: ${NEXTCLOUD_ADMIN_USER:-admin}\n", ""),
            &["nextcloud-installed"],
        ),
        (
            "state-in-containers",
            &["--step", "compose"],
            Box::new(|compose, _| {
                // A post lives in the database: an anonymous volume there is a new, empty one after
                // down and up (Compose carries anonymous volumes over a recreate, not over down/up).
                swap(compose, "      - wordpress-db:/var/lib/mysql\n", "      - /var/lib/mysql\n");
                swap(compose, "    volumes:\n      - nextcloud-db:/var/lib/mysql\n", "");
            }),
            &["compose-state-volumes", "wordpress-post-survives", "nextcloud-file-survives"],
        ),
    ];
    let mut covered = BTreeSet::new();
    let mut wrong = Vec::new();
    for (name, args, edit, expected) in &table {
        let variant = Variant::new(name, edit.as_ref());
        let mut extra: Vec<&str> = args.to_vec();
        let path = variant.path();
        extra.extend(["--submission", &path]);
        let (code, failed, report, stderr) = grade_up(name, &extra);
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        if code != 1 || failed != expected {
            wrong.push(format!("{name}: exit {code}, failed {failed:?}, expected {expected:?}\n{stderr}\n{report:#}"));
        }
        covered.extend(expected);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    // With the static table above, every check of both rubrics has a known-bad variant.
    covered.extend(rubric_ids("labs/compose/rubric.toml").into_iter().filter(|id| is_static(id)));
    assert_covers_rubric("labs/compose/rubric.toml", &covered);
    assert_covers_rubric("labs/cache/rubric.toml", &covered);
}

/// The reference with one dangerous line: `check lab3 --up` grades it (exit 1) and its report
/// names the refusal; the sandbox never lets the container exist; the engine is as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The lock orders tests that each have a runtime of their own: held across awaits on purpose.
#[allow(clippy::await_holding_lock)]
async fn up_refuses_a_privileged_service_or_the_engine_socket_and_grades_the_rest() {
    if !integration("up_refuses_a_privileged_service_or_the_engine_socket_and_grades_the_rest") {
        return;
    }
    let table: [(&str, Edit, &str); 2] = [
        (
            "privileged",
            compose_edit(
                "    image: ${WORDPRESS_IMAGE:-wordpress:6.1-apache}\n",
                "    image: ${WORDPRESS_IMAGE:-wordpress:6.1-apache}\n    privileged: true\n",
            ),
            "refused: service `wordpress` asks for privileged: true (rule no-privileged)",
        ),
        (
            "socket",
            compose_edit("      - nextcloud:/var/www/html\n", "      - nextcloud:/var/www/html\n      - /var/run/docker.sock:/var/run/docker.sock\n"),
            "refused: service `nextcloud` asks for volumes: /var/run/docker.sock:/var/run/docker.sock (rule no-engine-socket)",
        ),
    ];
    for (name, edit, refusal) in table {
        let variant = Variant::new(name, edit.as_ref());
        // No other stack of this binary while the engine is compared before and after.
        let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
        let before = engine_objects();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let watcher = tokio::spawn(watch_creates(stopped));
        let path = variant.path();
        let (code, failed, report, stderr) =
            tokio::task::block_in_place(|| grade_up_alone(&format!("refused{name}"), &["--submission", &path]));
        let _ = stop.send(());
        let (violations, _) = watcher.await.unwrap();
        assert_eq!(code, 1, "{name}: {stderr}\n{report:#}");
        let sandbox =
            checks(&report).into_iter().find(|c| c["id"].as_str().unwrap_or_default().starts_with("sandbox-")).cloned();
        assert_eq!(sandbox.as_ref().and_then(|c| c["actual"].as_str()), Some(refusal), "{name}: {report:#}");
        // The static rules still judge the file; the checks of the running stack are skipped, saying why.
        assert!(
            failed.contains(if name == "privileged" { "compose-no-privileged" } else { "compose-no-docker-socket" }),
            "{failed:?}"
        );
        let healthy = checks(&report).into_iter().find(|c| c["id"] == "stack-wordpress-db-healthy").unwrap();
        assert_eq!(healthy["status"], "skipped", "{healthy}");
        assert!(healthy["reason"].as_str().unwrap().contains(refusal), "{healthy}");
        assert!(violations.is_empty(), "{name}: containers with forbidden settings existed: {violations:?}");
        assert_eq!(engine_objects(), before, "{name}: the engine changed");
    }
}

#[test]
fn up_refuses_a_project_that_exists_and_leaves_it_alone() {
    if !integration("up_refuses_a_project_that_exists_and_leaves_it_alone") {
        return;
    }
    let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
    let project = format!("clabs{}held", std::process::id());
    let scope = testkit::EngineScope::new();
    let volume = format!("{project}_wordpress");
    let created = testkit::docker_cli()
        .args(["volume", "create", "--label", &format!("com.docker.compose.project={project}")])
        .args(scope.label_args())
        .arg(&volume)
        .output()
        .unwrap();
    assert!(created.status.success());
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--up", "--var", &format!("project={project}")])
        .output()
        .unwrap();
    // Refused before any image is built or pulled: one error line.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("building image"), "{stderr}");
    assert!(errors[0].contains(&format!("Compose project {project} already exists (volume {volume})")), "{stderr}");
    let still = testkit::docker_cli().args(["volume", "inspect", &volume]).output().unwrap();
    assert!(still.status.success(), "the volume --up did not create must stay");
}

#[test]
fn up_with_a_taken_port_exits_2_and_a_broken_file_or_a_sick_database_is_graded() {
    if !integration("up_with_a_taken_port_exits_2_and_a_broken_file_or_a_sick_database_is_graded") {
        return;
    }
    // WordPress's port is taken (Nextcloud's, the ready port, is free): the machine's fault, refused first.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port().to_string();
    let (code, _, report, stderr) = grade_up("taken", &["--var", &format!("wordpress_port={taken}")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
    // With --out, exit 2 still writes a report: every check not run, and the error.
    assert!(report["error"].as_str().unwrap_or_default().contains("already in use"), "{report:#}");
    assert_eq!(
        report["counts"]["skipped"],
        report["steps"].as_array().unwrap().iter().map(|s| s["checks"].as_array().unwrap().len()).sum::<usize>()
    );
    // A compose file that is not YAML: the student's fault, graded. The static rules judge the file,
    // the checks of the running stack fail with Compose's complaint as their reason.
    let broken = Variant::new("broken", &|compose, _| compose.push_str("\n  - [unclosed\n"));
    let (code, failed, report, stderr) = grade_up("broken", &["--submission", &broken.path()]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert!(failed.contains("compose-valid"), "{failed:?}");
    let stack_check = checks(&report).into_iter().find(|c| c["id"] == "stack-wordpress-db-healthy").unwrap();
    let actual = stack_check["actual"].as_str().unwrap_or_default();
    assert!(actual.contains("did not start") && (actual.contains("yaml") || actual.contains("YAML")), "{stack_check}");
    // A database that never gets healthy: `up` stops waiting as soon as it turns unhealthy, and says which.
    let sick = Variant::new("sick", &|compose, _| {
        swap(
            compose,
            "      test: [\"CMD\", \"healthcheck.sh\", \"--connect\", \"--innodb_initialized\"]\n      interval: 5s\n      timeout: 5s\n      retries: 30\n      start_period: 10s\n",
            "      test: [\"CMD\", \"false\"]\n      interval: 1s\n      timeout: 5s\n      retries: 2\n",
        )
    });
    let (code, _, report, stderr) = grade_up("sick", &["--submission", &sick.path()]);
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    let stack_check = checks(&report).into_iter().find(|c| c["id"] == "stack-wordpress-healthy").unwrap();
    assert!(stack_check["actual"].as_str().unwrap_or_default().contains("wordpress-db is unhealthy"), "{stack_check}");
}
