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

/// The reference solution's folder: copied over `labs/compose/` it is a full-marks submission.
const SOLUTION: &str = "labs/compose/solution";

/// The files of a lab 3 submission a variant may change (the rest are the solution's).
struct Files {
    compose: String,
    env: String,
    nginx: String,
    /// The real `.env` and the submission's root `.gitignore`, when a case writes them.
    dotenv: Option<String>,
    gitignore: Option<String>,
    /// More files of the step's folder (a file the compose file includes or extends): path, text.
    extra: Vec<(&'static str, String)>,
}

/// A submission in `dir`: the solution's files (compose file, .env.example, nginx template,
/// certificate) under `labs/compose/`, each of the three texts edited by `edit`.
fn submission(dir: &Path, edit: &dyn Fn(&mut Files)) {
    let solution = workspace().join(SOLUTION);
    let read = |name: &str| std::fs::read_to_string(solution.join(name)).unwrap();
    let mut files = Files {
        compose: read("compose.yaml"),
        env: read(".env.example"),
        nginx: read("nginx/default.conf.template"),
        dotenv: None,
        gitignore: None,
        extra: Vec::new(),
    };
    edit(&mut files);
    let step = dir.join("labs/compose");
    std::fs::create_dir_all(step.join("nginx")).unwrap();
    std::fs::create_dir_all(step.join("certs")).unwrap();
    std::fs::write(step.join("compose.yaml"), files.compose).unwrap();
    std::fs::write(step.join(".env.example"), files.env).unwrap();
    std::fs::write(step.join("nginx/default.conf.template"), files.nginx).unwrap();
    if let Some(dotenv) = files.dotenv {
        std::fs::write(step.join(".env"), dotenv).unwrap();
    }
    if let Some(gitignore) = files.gitignore {
        std::fs::write(dir.join(".gitignore"), gitignore).unwrap();
    }
    for (path, text) in files.extra {
        std::fs::write(step.join(path), text).unwrap();
    }
    for cert in ["tls.crt", "tls.key"] {
        std::fs::copy(solution.join("certs").join(cert), step.join("certs").join(cert)).unwrap();
    }
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
    // Beside the submission, never in it (the workspace itself is graded as the starter).
    let out = tempfile::NamedTempFile::new().unwrap();
    let out = out.path();
    let project = format!("clabs-static-{}-{}", std::process::id(), unique());
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--step", "compose", "--format", "json", "--var"])
        .arg(format!("project={project}"))
        .args(["--var", &format!("https_port={}", free_port()), "--var", &format!("http_port={}", free_port())])
        .arg("--submission")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap_or_default()).unwrap_or_default();
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

type Edit = Box<dyn Fn(&mut Files) + Send + Sync>;

/// A privileged debugging service of the `debug` profile, put before the top-level `volumes:`.
const DEBUG_TOOL: &str = "  debug:\n    image: busybox:1.36\n    profiles: [debug]\n    privileged: true\n    restart: unless-stopped\n    command: [\"sleep\", \"infinity\"]\n    healthcheck:\n      test: [\"CMD\", \"pidof\", \"sleep\"]\n      interval: 5s\n    networks: [backend]\n\nvolumes:\n";

fn compose_edit(from: &'static str, to: &'static str) -> Edit {
    Box::new(move |files| swap(&mut files.compose, from, to))
}

#[test]
fn compose_known_bad_variants() {
    let wp_db_health = "    healthcheck:\n      test: [\"CMD\", \"healthcheck.sh\", \"--connect\", \"--innodb_initialized\"]\n      interval: 5s\n      timeout: 5s\n      retries: 30\n      start_period: 10s\n\n  nextcloud:";
    let table: Vec<(&str, Edit, &[&str])> = vec![
        ("reference", Box::new(|_| {}), &[]),
        ("not-compose", compose_edit("services:\n", "servics:\n"), &["compose-valid"]),
        ("undeclared-volume", compose_edit("  redis:\n\nnetworks:", "\nnetworks:"), &["compose-valid"]),
        (
            "env-example-missing-variable",
            Box::new(|files| {
                swap(&mut files.compose, "${NEXTCLOUD_ADMIN_USER:-admin}", "${NEXTCLOUD_ADMIN_USER}");
                swap(&mut files.env, "NEXTCLOUD_ADMIN_USER=admin\n", "");
            }),
            &["compose-env-example"],
        ),
        // The real .env, with no .gitignore to keep it out of `git add -A`; then kept out, by the
        // root's .gitignore as the course's repository has it.
        (
            "env-about-to-be-committed",
            Box::new(|files| files.dotenv = Some(files.env.replace("change-me", "s3cret-real"))),
            &["compose-env-not-committed"],
        ),
        (
            "env-ignored",
            Box::new(|files| {
                files.dotenv = Some(files.env.clone());
                files.gitignore = Some("/target\n.env\n".into());
            }),
            &[],
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
        ("latest-tag", compose_edit("${REDIS_IMAGE:-redis:7.0}", "${REDIS_IMAGE:-redis:latest}"), &["compose-explicit-tags"]),
        ("no-tag", compose_edit("${NEXTCLOUD_IMAGE:-nextcloud:28-apache}", "nextcloud"), &["compose-explicit-tags"]),
        // A tag that names no version moves just as `latest` does.
        ("floating-tag", compose_edit("${NGINX_IMAGE:-nginx:1.27}", "nginx:stable"), &["compose-explicit-tags"]),
        (
            "db-bind-mount",
            compose_edit("- wordpress-db:/var/lib/mysql", "- ./wordpress-db:/var/lib/mysql"),
            &["compose-state-volumes"],
        ),
        ("app-anonymous-volume", compose_edit("- wordpress:/var/www/html", "- /var/www/html"), &["compose-state-volumes"]),
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
            "db-beside-the-front-door",
            compose_edit(
                "      - nextcloud-db:/var/lib/mysql\n    networks: [backend]",
                "      - nextcloud-db:/var/lib/mysql\n    networks: [backend, frontend]",
            ),
            &["compose-db-isolated"],
        ),
        (
            "front-door-unpublished",
            compose_edit(
                "    ports:\n      - \"127.0.0.1:${HTTP_PORT:-9080}:80\"\n      - \"127.0.0.1:${HTTPS_PORT:-9443}:443\"\n",
                "",
            ),
            &["compose-front-door-published"],
        ),
        (
            "db-without-healthcheck",
            Box::new(move |files| swap(&mut files.compose, wp_db_health, "\n  nextcloud:")),
            &["compose-healthchecks"],
        ),
        // A healthcheck that cannot fail is no healthcheck, and waiting for it waits for nothing.
        (
            "db-healthcheck-cannot-fail",
            compose_edit(
                "      test: [\"CMD\", \"healthcheck.sh\", \"--connect\", \"--innodb_initialized\"]",
                "      test: [\"CMD\", \"true\"]",
            ),
            &["compose-healthchecks", "compose-depends-healthy"],
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
            "depends-on-the-wrong-service",
            compose_edit(
                "    depends_on:\n      wordpress-db:\n        condition: service_healthy\n",
                "    depends_on:\n      nextcloud-db:\n        condition: service_healthy\n",
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
            "cap-sys-boot",
            compose_edit(
                "    image: ${REDIS_IMAGE:-redis:7.0}\n",
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    cap_add: [SYS_BOOT]\n",
            ),
            &["compose-no-privileged"],
        ),
        (
            "privileged-behind-an-anchor",
            Box::new(|files| {
                swap(&mut files.compose, "services:\n", "x-hardened: &hardened\n  privileged: true\n\nservices:\n");
                swap(
                    &mut files.compose,
                    "    image: ${REDIS_IMAGE:-redis:7.0}\n",
                    "    <<: *hardened\n    image: ${REDIS_IMAGE:-redis:7.0}\n",
                );
            }),
            &["compose-no-privileged"],
        ),
        (
            "privileged-behind-extends",
            Box::new(|files| {
                swap(
                    &mut files.compose,
                    "services:\n",
                    "services:\n  base:\n    image: ${REDIS_IMAGE:-redis:7.0}\n    privileged: true\n    restart: unless-stopped\n    networks: [backend]\n\n",
                );
                swap(
                    &mut files.compose,
                    "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: unless-stopped\n    command:",
                    "    extends: base\n    restart: unless-stopped\n    command:",
                );
            }),
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
            compose_edit("      - redis:/data\n    networks: [backend]\n", "      - redis:/data\n    network_mode: host\n"),
            &["compose-no-host-namespaces"],
        ),
        (
            "host-pid",
            compose_edit("    image: ${REDIS_IMAGE:-redis:7.0}\n", "    image: ${REDIS_IMAGE:-redis:7.0}\n    pid: host\n"),
            &["compose-no-host-namespaces"],
        ),
        // The whole host holds the engine's socket: both rules it breaks report it.
        (
            "root-of-the-host",
            compose_edit("      - redis:/data\n", "      - redis:/data\n      - /:/host:ro\n"),
            &["compose-no-docker-socket", "compose-no-host-paths"],
        ),
        // More correct ways to write the same stack: YAML anchors, the list form of environment,
        // the long volume syntax, deploy's restart policy, a healthcheck as one shell string,
        // and another front door (Caddy) and database (MySQL) the roles allow.
        (
            "anchors-for-restart",
            Box::new(|files| {
                swap(&mut files.compose, "services:\n", "x-always: &always unless-stopped\n\nservices:\n");
                swap(
                    &mut files.compose,
                    "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: unless-stopped\n",
                    "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: *always\n",
                );
            }),
            &[],
        ),
        (
            "environment-as-a-list",
            compose_edit(
                "      WORDPRESS_DB_HOST: wordpress-db:3306\n      WORDPRESS_DB_USER: wordpress\n      WORDPRESS_DB_PASSWORD: ${WORDPRESS_DB_PASSWORD:?copy .env.example to .env and set it}\n      WORDPRESS_DB_NAME: wordpress\n",
                "      - WORDPRESS_DB_HOST=wordpress-db:3306\n      - WORDPRESS_DB_USER=wordpress\n      - WORDPRESS_DB_PASSWORD=${WORDPRESS_DB_PASSWORD:?copy .env.example to .env and set it}\n      - WORDPRESS_DB_NAME=wordpress\n",
            ),
            &[],
        ),
        (
            "long-volume-syntax",
            compose_edit(
                "      - wordpress-db:/var/lib/mysql\n",
                "      - type: volume\n        source: wordpress-db\n        target: /var/lib/mysql\n",
            ),
            &[],
        ),
        (
            "deploy-restart-policy",
            compose_edit(
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: unless-stopped\n",
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    deploy:\n      restart_policy:\n        condition: any\n",
            ),
            &[],
        ),
        (
            "healthcheck-as-a-string",
            compose_edit(
                "      test: [\"CMD-SHELL\", \"curl -so /dev/null http://localhost/ || exit 1\"]",
                "      test: curl -so /dev/null http://localhost/ || exit 1",
            ),
            &[],
        ),
        ("caddy-front-door", compose_edit("${NGINX_IMAGE:-nginx:1.27}", "caddy:2.7"), &[]),
        ("mysql-database", compose_edit("    image: ${MARIADB_IMAGE:-mariadb:10.11}\n", "    image: mysql:8.0\n"), &[]),
        // More faults, each failing its own rule: a probe made to always succeed, restart "no",
        // a database published in the long syntax, a password in the list form, the socket's folder.
        (
            "healthcheck-or-true",
            compose_edit(
                "      test: [\"CMD-SHELL\", \"curl -fso /dev/null http://localhost/status.php || exit 1\"]",
                "      test: [\"CMD-SHELL\", \"curl -fso /dev/null http://localhost/status.php || true\"]",
            ),
            &["compose-healthchecks"],
        ),
        (
            "restart-no",
            compose_edit(
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: unless-stopped\n",
                "    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: \"no\"\n",
            ),
            &["compose-restart"],
        ),
        (
            "db-published-long-syntax",
            compose_edit(
                "      - nextcloud-db:/var/lib/mysql\n",
                "      - nextcloud-db:/var/lib/mysql\n    ports:\n      - target: 3306\n        published: 13306\n",
            ),
            &["compose-db-not-published"],
        ),
        (
            "password-in-the-list-form",
            compose_edit(
                "      WORDPRESS_DB_HOST: wordpress-db:3306\n      WORDPRESS_DB_USER: wordpress\n      WORDPRESS_DB_PASSWORD: ${WORDPRESS_DB_PASSWORD:?copy .env.example to .env and set it}\n      WORDPRESS_DB_NAME: wordpress\n",
                "      - WORDPRESS_DB_HOST=wordpress-db:3306\n      - WORDPRESS_DB_USER=wordpress\n      - WORDPRESS_DB_PASSWORD=hunter2\n      - WORDPRESS_DB_NAME=wordpress\n",
            ),
            &["compose-no-inline-secrets"],
        ),
        (
            "the-sockets-folder",
            compose_edit("      - redis:/data\n", "      - redis:/data\n      - /var/run:/host-run\n"),
            &["compose-no-docker-socket", "compose-no-host-paths"],
        ),
        // Compose v2's top-level name: (the grader names the project itself; -p wins).
        ("top-level-name", compose_edit("services:\n", "name: my-stack\n\nservices:\n"), &[]),
        // A debugging tool behind a profile (as Compose's documentation shows it): `up` does not
        // start it, so nothing of it is judged; once COMPOSE_PROFILES in the environment starts
        // it, its privileged flag fails the rule about it, and nothing else.
        ("debug-tool-behind-a-profile", compose_edit("\nvolumes:\n", DEBUG_TOOL), &[]),
        (
            "debug-tool-profile-started",
            Box::new(|files| {
                swap(&mut files.compose, "\nvolumes:\n", DEBUG_TOOL);
                files.env.push_str("COMPOSE_PROFILES=debug\n");
            }),
            &["compose-no-privileged"],
        ),
        // Correct alternatives: the database renamed, its old name kept as a network alias (Docker's
        // DNS answers for it); WordPress reaching its database through a link's alias.
        (
            "renamed-with-an-alias",
            Box::new(|files| {
                swap(&mut files.compose, "  wordpress-db:\n    image:", "  wp-database:\n    image:");
                swap(
                    &mut files.compose,
                    "      - wordpress-db:/var/lib/mysql\n    networks: [backend]",
                    "      - wordpress-db:/var/lib/mysql\n    networks:\n      backend:\n        aliases: [wordpress-db]",
                );
                swap(&mut files.compose, "      wordpress-db:\n        condition", "      wp-database:\n        condition");
            }),
            &[],
        ),
        // Other front doors a class uses: Apache httpd, Traefik (with its file provider: no socket).
        ("httpd-front-door", compose_edit("${NGINX_IMAGE:-nginx:1.27}", "httpd:2.4"), &[]),
        ("traefik-front-door", compose_edit("${NGINX_IMAGE:-nginx:1.27}", "traefik:v2.11"), &[]),
        // Compose v2's include: the cache in a file of its own, with the network it needs declared
        // as the main file declares it (Compose refuses a conflicting one).
        (
            "cache-in-an-included-file",
            Box::new(|files| {
                let start = files.compose.find("  redis:\n    image:").unwrap();
                let end = start + files.compose[start..].find("\n\n").unwrap() + 2;
                let block = files.compose[start..end].to_string();
                files.compose.replace_range(start..end, "");
                swap(&mut files.compose, "services:\n", "include:\n  - cache.yaml\n\nservices:\n");
                swap(&mut files.compose, "  nextcloud-db:\n  redis:\n", "  nextcloud-db:\n");
                let cache = format!(
                    "services:\n{block}volumes:\n  redis:\n\nnetworks:\n  backend:\n    internal: true\n"
                );
                files.extra.push(("cache.yaml", cache));
            }),
            &[],
        ),
        // A restart policy shared through `extends` from a file of common settings.
        (
            "restart-through-extends",
            Box::new(|files| {
                swap(
                    &mut files.compose,
                    "  redis:\n    image: ${REDIS_IMAGE:-redis:7.0}\n    restart: unless-stopped\n",
                    "  redis:\n    extends:\n      file: common.yaml\n      service: always-up\n    image: ${REDIS_IMAGE:-redis:7.0}\n",
                );
                files.extra.push(("common.yaml", "services:\n  always-up:\n    restart: unless-stopped\n".into()));
            }),
            &[],
        ),
        // Forms from Docker's own examples (docker/awesome-compose: wordpress-mysql/compose.yaml,
        // nextcloud-redis-mariadb/docker-compose.yaml), which students copy: the database's
        // environment as a list under the MYSQL_* names the MariaDB image also reads, with
        // `expose:` (not a publication); the server options of the Nextcloud sample as one
        // string; Redis's command as a string; `links:` to the database and the cache.
        (
            "public-forms-wordpress-mysql",
            compose_edit(
                "    environment:\n      MARIADB_ROOT_PASSWORD: ${WORDPRESS_DB_ROOT_PASSWORD:?copy .env.example to .env and set it}\n      MARIADB_DATABASE: wordpress\n      MARIADB_USER: wordpress\n      MARIADB_PASSWORD: ${WORDPRESS_DB_PASSWORD:?copy .env.example to .env and set it}\n",
                "    environment:\n      - MYSQL_ROOT_PASSWORD=${WORDPRESS_DB_ROOT_PASSWORD:?copy .env.example to .env and set it}\n      - MYSQL_DATABASE=wordpress\n      - MYSQL_USER=wordpress\n      - MYSQL_PASSWORD=${WORDPRESS_DB_PASSWORD:?copy .env.example to .env and set it}\n    expose:\n      - 3306\n      - 33060\n",
            ),
            &[],
        ),
        (
            "public-forms-nextcloud-redis-mariadb",
            Box::new(|files| {
                swap(
                    &mut files.compose,
                    "    environment:\n      MARIADB_ROOT_PASSWORD: ${NEXTCLOUD_DB_ROOT_PASSWORD",
                    "    command: --transaction-isolation=READ-COMMITTED --binlog-format=ROW\n    environment:\n      MARIADB_ROOT_PASSWORD: ${NEXTCLOUD_DB_ROOT_PASSWORD",
                );
                swap(
                    &mut files.compose,
                    "    command: [\"redis-server\", \"--save\", \"60\", \"1\"]\n",
                    "    command: redis-server --save 60 1 --loglevel warning\n",
                );
                swap(&mut files.compose, "      REDIS_HOST: redis\n", "      REDIS_HOST: redis\n    links:\n      - nextcloud-db\n      - redis\n");
            }),
            &[],
        ),
        // The same samples' faults, as copied: the app published on the host's port 80 (around the
        // front door's TLS), and a tag that follows Alpine's newest Redis.
        (
            "public-app-published",
            compose_edit(
                "      - nextcloud:/var/www/html\n",
                "      - nextcloud:/var/www/html\n    ports:\n      - 80:80\n",
            ),
            &["compose-apps-not-published"],
        ),
        ("public-alpine-tag", compose_edit("${REDIS_IMAGE:-redis:7.0}", "redis:alpine"), &["compose-explicit-tags"]),
        ("host-path", compose_edit("      - redis:/data\n", "      - redis:/data\n      - /etc:/host-etc:ro\n"), &["compose-no-host-paths"]),
        (
            "bind-climbing-out",
            compose_edit("      - ./certs:/etc/nginx/certs:ro\n", "      - ./certs:/etc/nginx/certs:ro\n      - ../../..:/up:ro\n"),
            &["compose-no-host-paths"],
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
        // Exit 1 even for the reference where an engine answers: the runtime checks find no
        // stack. Where none does, they are not run, and the file's rules decide.
        let runtime_graded = checks(&report).into_iter().any(|c| !is_static(c["id"].as_str().unwrap_or_default()));
        let code_expected = if expected.is_empty() && !runtime_graded { 0 } else { 1 };
        if failed != expected || code != code_expected {
            wrong.push(format!(
                "{name}: exit {code}, failed {failed:?}, expected {expected:?}\n{report:#}\n{}",
                why(&report)
            ));
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

/// A student's laptop without Docker: `check` grades the file's rules, lists every check that
/// needs an engine as not run, says so in one line, and exits by what it graded; `--up` still
/// needs an engine and says so (exit 2).
#[test]
fn with_no_engine_the_file_rules_are_graded_and_the_rest_listed_as_not_run() {
    let dead = tempfile::tempdir().unwrap();
    let host = format!("unix://{}", dead.path().join("docker.sock").display());
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--solutions", "--format", "json"])
        .env("DOCKER_HOST", &host)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(output.status.code(), Some(0), "{stderr}\n{report:#}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with("no Docker engine answers")).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("listed as not run") && said[0].contains("cargo xtask engine"), "{stderr}");
    let mut graded: BTreeSet<String> = ids_with_status(&report, "passed").into_iter().collect();
    graded.extend(ids_with_status(&report, "failed"));
    graded.extend(ids_with_status(&report, "skipped"));
    let not_run: BTreeSet<String> =
        report["not_run"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
    let mut all = rubric_ids("labs/compose/rubric.toml");
    all.extend(rubric_ids("labs/cache/rubric.toml"));
    let statics: BTreeSet<String> = all.iter().filter(|id| is_static(id)).cloned().collect();
    // Every file rule graded (and passed: these are the course's answers), every other check
    // not run, each saying why.
    assert_eq!(ids_with_status(&report, "passed").into_iter().collect::<BTreeSet<_>>(), statics, "{report:#}");
    assert_eq!(graded, statics, "{report:#}");
    assert_eq!(not_run, all.difference(&statics).cloned().collect(), "{report:#}");
    for entry in report["not_run"].as_array().unwrap() {
        assert!(entry["why"].as_str().unwrap().contains("Docker engine"), "{entry}");
    }
    let up = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--up", "--solutions", "--format", "json"])
        .env("DOCKER_HOST", &host)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert_eq!(up.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no Docker engine answers"), "{stderr}");
}

/// The compose rules each stage of the chapter says pass by then (its "Passing now:" lines), in order.
fn stages_of_the_chapter() -> Vec<(String, BTreeSet<String>)> {
    let chapter = std::fs::read_to_string(workspace().join("labs/compose/README.md")).unwrap();
    let mut stages = Vec::new();
    for section in chapter.split("\n### ").skip(1) {
        let title = section.lines().next().unwrap_or_default().to_string();
        let Some(at) = section.find("\nPassing now: ") else { continue };
        let paragraph = section[at + 1..].split("\n\n").next().unwrap_or_default();
        let ids = paragraph.split('`').skip(1).step_by(2).filter(|id| is_static(id)).map(str::to_string).collect();
        stages.push((title, ids));
    }
    stages
}

/// The chapter builds the stack up stage by stage, and each stage says which of the file's rules
/// pass by then. One student's file at the end of each stage (the starter with that stage's
/// TODOs done, `fixtures/lab3-stages/`) is graded: exactly those pass, and the rest fail or are
/// skipped as not yet about anything.
#[test]
fn each_stage_of_the_chapter_passes_what_it_says() {
    let stages = stages_of_the_chapter();
    let fixtures = workspace().join("xtask/tests/fixtures/lab3-stages");
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(&fixtures).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    files.sort();
    assert!(stages.len() >= 6, "the chapter's stages say what passes: {stages:?}");
    assert_eq!(files.len(), stages.len(), "a student's file for every stage that says what passes");
    let starter = workspace().join("labs/compose");
    let mut before = BTreeSet::new();
    for ((title, said), stage) in stages.iter().zip(&files) {
        let dir = tempfile::tempdir().unwrap();
        let step = dir.path().join("labs/compose");
        for folder in ["nginx", "certs"] {
            std::fs::create_dir_all(step.join(folder)).unwrap();
            for entry in std::fs::read_dir(starter.join(folder)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), step.join(folder).join(entry.file_name())).unwrap();
            }
        }
        for name in ["compose.yaml", ".env.example"] {
            std::fs::copy(stage.join(name), step.join(name)).unwrap();
        }
        let (_, failed, skipped, report) = grade(dir.path());
        let passed: BTreeSet<String> =
            ids_with_status(&report, "passed").into_iter().filter(|id| is_static(id)).collect();
        assert_eq!(
            &passed,
            said,
            "stage {title} ({}): passed, failed {failed:?}, skipped {skipped:?}",
            stage.display()
        );
        // What passed stays passed: a stage undoes nothing of the one before.
        assert!(before.is_subset(&passed), "stage {title} lost {:?}", before.difference(&passed).collect::<Vec<_>>());
        before = passed;
    }
    let all: BTreeSet<String> = rubric_ids("labs/compose/rubric.toml").into_iter().filter(|id| is_static(id)).collect();
    assert_eq!(before, all, "the last stage passes every rule of the file");
}

#[test]
fn a_missing_compose_file_fails_compose_valid_with_the_names_compose_looks_for() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("labs/compose")).unwrap();
    let (code, failed, _, report) = grade(dir.path());
    assert_eq!(code, 1);
    assert_eq!(failed, ["compose-valid".to_string()].into_iter().collect());
    let valid = checks(&report).into_iter().find(|c| c["id"] == "compose-valid").unwrap();
    assert!(
        valid["expected"]
            .as_str()
            .unwrap()
            .contains("compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml"),
        "{valid}"
    );
    assert!(valid["actual"].as_str().unwrap().contains("compose.yaml does not exist"), "{valid}");
}

/// The layout contract: the untouched starter in the workspace falls short in every step, and
/// each check it fails names a TODO that is in the starter's files; the solution copied over it
/// gets full marks (`full_marks_for_the_solutions...` below runs that with the stack).
#[test]
fn the_untouched_starter_fails_with_hints_that_point_at_its_todos() {
    let starter = workspace().join("labs/compose");
    let mut todos = String::new();
    for file in ["compose.yaml", ".env.example", "nginx/default.conf.template", "certs/README.md"] {
        todos.push_str(&std::fs::read_to_string(starter.join(file)).unwrap());
    }
    let (code, failed, _, report) = grade(&workspace());
    assert_eq!(code, 1);
    assert!(!failed.is_empty(), "{report:#}\n{}", why(&report));
    // No free points: the starter as it is, and with only its TODO comments deleted, score at most
    // a tenth of the step (rules about services it does not have yet are skipped, not passed).
    let score = |report: &serde_json::Value| (report["score"].as_u64().unwrap(), report["max_score"].as_u64().unwrap());
    let (got, max) = score(&report);
    assert!(got * 10 <= max, "the untouched starter scores {got}/{max}\n{}", why(&report));
    let stripped = tempfile::tempdir().unwrap();
    let step = stripped.path().join("labs/compose");
    std::fs::create_dir_all(&step).unwrap();
    for file in ["compose.yaml", ".env.example"] {
        let text = std::fs::read_to_string(starter.join(file)).unwrap();
        let kept: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
        std::fs::write(step.join(file), kept.join("\n")).unwrap();
    }
    let (_, _, _, bare) = grade(stripped.path());
    let (got, max) = score(&bare);
    assert!(got * 10 <= max, "the starter without its comments scores {got}/{max}\n{}", why(&bare));
    for check in checks(&report).into_iter().filter(|c| c["status"] == "failed") {
        let hint = check["hint"].as_str().unwrap();
        let named: Vec<&str> =
            hint.match_indices("TODO ").map(|(at, _)| hint[at + 5..].split([',', ')']).next().unwrap()).collect();
        assert!(!named.is_empty(), "{} names no TODO: {hint}", check["id"]);
        for todo in named {
            assert!(
                todos.contains(&format!("TODO({todo})")),
                "{} names TODO {todo}, which the starter lacks",
                check["id"]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The running stack: `check lab3 --up` on a submission of its own (the solution with one thing
// changed) in the sandbox. Each run gets its own project and ports and must leave nothing labelled
// with its project behind. Integration: needs the engine and the stand-ins `cargo xtask test` provides.

/// One `--up` stack at a time: two cores do not bring up several seven-container stacks in time.
static ONE_STACK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A submission holding a variant of the solution, in a directory of its own, removed when
/// dropped; `--submission` names it.
struct Variant {
    dir: tempfile::TempDir,
}

impl Variant {
    fn new(edit: &dyn Fn(&mut Files)) -> Variant {
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
    let (http, https) = (free_port().to_string(), free_port().to_string());
    let out = tempfile::NamedTempFile::new().unwrap();
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--up", "--format", "json", "--out"])
        .arg(out.path())
        .args(["--var", &format!("project={project}")])
        .args(["--var", &format!("http_port={http}"), "--var", &format!("https_port={https}")])
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

// The solutions' full marks with `--up`, another correct stack's, and the untouched starter's
// failing every step are judged in the class round trip (`roundtrip.rs`): one `--up` run of the
// class judges them all.

/// A student who brought the stack up by hand with Compose reaches full marks without `--up`:
/// with `--allow-restarts` the persistence checks recreate their containers, and their volumes stay.
#[test]
fn a_stack_brought_up_by_hand_reaches_full_marks_without_up() {
    if !integration("a_stack_brought_up_by_hand_reaches_full_marks_without_up") {
        return;
    }
    let _one = ONE_STACK.lock().unwrap_or_else(|e| e.into_inner());
    let project = format!("clabs{}byhand", std::process::id());
    let _remove = RemoveProject(project.clone());
    let dir = tempfile::tempdir().unwrap();
    submission(dir.path(), &|_| {});
    let step = dir.path().join("labs/compose");
    std::fs::copy(step.join(".env.example"), step.join(".env")).unwrap();
    // As in the course's repository: the real .env is kept out of git.
    std::fs::write(dir.path().join(".gitignore"), ".env\n").unwrap();
    let (http, https) = (free_port().to_string(), free_port().to_string());
    // As a student without a registry would: the stand-ins named in the environment.
    let stand_in = |official: &str| {
        xtask::engine::images::stand_ins().iter().find(|s| s.official == official).unwrap().tag.as_str()
    };
    // Compose v1, where the machine has it (`cargo xtask test` installs both): the grader's --up
    // runs v2, what students use, and a stack a student started with v1 is still graded in full.
    let v1 = std::process::Command::new("docker-compose").arg("version").output().is_ok_and(|o| o.status.success());
    let compose = if v1 {
        vec!["docker-compose".to_string()]
    } else {
        xtask::engine::compose_command().expect("cargo xtask test installs Compose")
    };
    let up = std::process::Command::new(&compose[0])
        .args(&compose[1..])
        .current_dir(&step)
        .args(["-p", &project, "up", "-d"])
        .env("HTTP_PORT", &http)
        .env("HTTPS_PORT", &https)
        .env("MARIADB_IMAGE", stand_in("mariadb:10.11"))
        .env("WORDPRESS_IMAGE", stand_in("wordpress:6.1-apache"))
        .env("NEXTCLOUD_IMAGE", stand_in("nextcloud:28-apache"))
        .env("REDIS_IMAGE", stand_in("redis:7.0"))
        .env("NGINX_IMAGE", stand_in("nginx:1.27"))
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let volumes_before = volume_names();
    let out = tempfile::NamedTempFile::new().unwrap();
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--allow-restarts", "--format", "json", "--out"])
        .arg(out.path())
        .arg("--submission")
        .arg(dir.path())
        .args(["--var", &format!("project={project}"), "--var", &format!("http_port={http}")])
        .args(["--var", &format!("https_port={https}"), "--var", "nc_password=change-me-admin"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path()).unwrap()).unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{report:#}\n{}",
        why(&report),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["counts"]["skipped"], 0, "{report:#}\n{}", why(&report));
    // The student's named volumes are all still there (anonymous ones: none in this stack).
    let after = volume_names();
    assert!(
        volumes_before.iter().all(|v| after.contains(v)),
        "a volume of the student's went: {volumes_before:?} -> {after:?}"
    );
    // Without the permission, off a terminal, the checks that recreate are skipped, saying how to
    // allow them. Without --var project=, the project started in the submission's labs/compose is
    // the one graded (no project "lab3" runs).
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--step", "compose", "--format", "json", "--submission"])
        .arg(dir.path())
        .args(["--var", &format!("http_port={http}")])
        .args(["--var", &format!("https_port={https}"), "--var", "nc_password=change-me-admin"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("grading Compose project '{project}', started in ")), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(ids_with_status(&report, "failed"), Vec::<String>::new(), "{report:#}\n{}", why(&report));
    let survives = checks(&report).into_iter().find(|c| c["id"] == "wordpress-post-survives").unwrap().clone();
    assert_eq!(survives["status"], "skipped", "{survives}");
    assert!(survives["reason"].as_str().unwrap().contains("--allow-restarts"), "{survives}");
}

#[test]
fn running_stack_known_bad_variants() {
    if !integration("running_stack_known_bad_variants") {
        return;
    }
    let no_health = |compose: &mut String, service: &str| {
        let start = compose.find(&format!("\n  {service}:\n")).unwrap();
        let at = start + compose[start..].find("    healthcheck:\n").unwrap();
        let rest = &compose[at + "    healthcheck:\n".len()..];
        let end = at + "    healthcheck:\n".len() + rest.find("\n\n").map_or(rest.len(), |n| n + 1);
        compose.replace_range(at..end, "");
    };
    // Several faults that do not touch each other share one stack: the slow part is bringing it up.
    let table: Vec<(&str, &[&str], Edit, &[&str])> = vec![
        (
            "front-door-app-and-cache-faults",
            &[],
            Box::new(|files| {
                // No redirect (port 80 proxies), no HSTS, and the cache published.
                swap(
                    &mut files.nginx,
                    "    return 301 https://$host:${HTTPS_PORT}$request_uri;\n",
                    "    location / { proxy_pass http://wordpress:80; }\n",
                );
                files.nginx =
                    files.nginx.replace("    add_header Strict-Transport-Security \"max-age=63072000\" always;\n", "");
                swap(
                    &mut files.compose,
                    "      - redis:/data\n",
                    "      - redis:/data\n    ports:\n      - \"127.0.0.1::6379\"\n",
                );
                // WordPress with the wrong database password; no cache wired in to Nextcloud. None
                // of these touches another: each fails its own check in the same stack.
                swap(
                    &mut files.compose,
                    "      WORDPRESS_DB_PASSWORD: ${WORDPRESS_DB_PASSWORD:?copy .env.example to .env and set it}\n",
                    "      WORDPRESS_DB_PASSWORD: ${NEXTCLOUD_DB_PASSWORD:?copy .env.example to .env and set it}\n",
                );
                swap(&mut files.compose, "      REDIS_HOST: redis\n", "");
            }),
            &[
                "front-door-redirects",
                "front-door-hsts",
                "cache-not-published",
                "wordpress-answers",
                "cache-nextcloud-configured",
            ],
        ),
        (
            "cache-host-typo",
            &["--step", "cache"],
            Box::new(|files| {
                // Nextcloud is configured with a cache host that is no service: configured, but its
                // requests fail (and so would the compose step's file check: hence this step only).
                swap(&mut files.compose, "      REDIS_HOST: redis\n", "      REDIS_HOST: cache\n");
            }),
            &["cache-in-use"],
        ),
        (
            "certificate-for-the-wrong-names",
            &["--step", "compose"],
            Box::new(|files| {
                // The front door serves a certificate of its own making for localhost only.
                swap(
                    &mut files.compose,
                    "      - ./certs:/etc/nginx/certs:ro\n",
                    "      - ./other-certs:/etc/nginx/certs:ro\n",
                );
            }),
            &["front-door-tls"],
        ),
        (
            "read-only-blog-db-and-no-nextcloud-admin",
            &["--step", "compose"],
            Box::new(|files| {
                // WordPress's database refuses writes; Nextcloud has no admin, so it never installs.
                swap(
                    &mut files.compose,
                    "    restart: unless-stopped\n    environment:\n      MARIADB_ROOT_PASSWORD: ${WORDPRESS_DB_ROOT_PASSWORD",
                    "    restart: unless-stopped\n    command: [\"mariadbd\", \"--read-only\"]\n    environment:\n      MARIADB_ROOT_PASSWORD: ${WORDPRESS_DB_ROOT_PASSWORD",
                );
                swap(&mut files.compose, "      NEXTCLOUD_ADMIN_USER: ${NEXTCLOUD_ADMIN_USER:-admin}\n", "");
            }),
            &["wordpress-install", "nextcloud-installed"],
        ),
        (
            "no-healthchecks",
            &[],
            Box::new(move |files| {
                for service in ["wordpress-db", "nextcloud-db", "wordpress", "nextcloud", "redis"] {
                    no_health(&mut files.compose, service);
                }
                files.compose = files.compose.replace("condition: service_healthy", "condition: service_started");
            }),
            &[
                "compose-healthchecks",
                "compose-depends-healthy",
                "stack-databases-healthy",
                "stack-wordpress-healthy",
                "stack-nextcloud-healthy",
                "cache-healthy",
            ],
        ),
        (
            "state-in-containers",
            &["--step", "compose"],
            Box::new(|files| {
                // A post lives in the database: an anonymous volume there is a new, empty one after
                // down and up (Compose carries anonymous volumes over a recreate, not over down/up).
                swap(&mut files.compose, "      - wordpress-db:/var/lib/mysql\n", "      - /var/lib/mysql\n");
                swap(&mut files.compose, "    volumes:\n      - nextcloud-db:/var/lib/mysql\n", "");
            }),
            &["compose-state-volumes", "wordpress-post-survives", "nextcloud-file-survives"],
        ),
    ];
    let mut covered = BTreeSet::new();
    let mut wrong = Vec::new();
    for (name, args, edit, expected) in &table {
        let variant = Variant::new(edit.as_ref());
        if *name == "certificate-for-the-wrong-names" {
            let certs = variant.dir.path().join("labs/compose/other-certs");
            std::fs::create_dir_all(&certs).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
            std::fs::write(certs.join("tls.crt"), cert.pem()).unwrap();
            std::fs::write(certs.join("tls.key"), key.serialize_pem()).unwrap();
        }
        let mut extra: Vec<&str> = args.to_vec();
        let path = variant.path();
        extra.extend(["--submission", &path]);
        let (code, failed, report, stderr) = grade_up(name, &extra);
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        if code != 1 || failed != expected {
            wrong.push(format!(
                "{name}: exit {code}, failed {failed:?}, expected {expected:?}\n{stderr}\n{report:#}\n{}",
                why(&report)
            ));
        }
        covered.extend(expected);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    // With the static table above, every check of both rubrics has a known-bad variant.
    covered.extend(rubric_ids("labs/compose/rubric.toml").into_iter().filter(|id| is_static(id)));
    assert_covers_rubric("labs/compose/rubric.toml", &covered);
    assert_covers_rubric("labs/cache/rubric.toml", &covered);
}

/// The solution with one dangerous line: `check lab3 --up` grades it (exit 1) and its report
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
            compose_edit(
                "      - nextcloud:/var/www/html\n",
                "      - nextcloud:/var/www/html\n      - /var/run/docker.sock:/var/run/docker.sock\n",
            ),
            "refused: service `nextcloud` asks for volumes: /var/run/docker.sock:/var/run/docker.sock (rule no-engine-socket)",
        ),
    ];
    for (name, edit, refusal) in table {
        let variant = Variant::new(edit.as_ref());
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
        assert_eq!(code, 1, "{name}: {stderr}\n{report:#}\n{}", why(&report));
        let sandbox = checks(&report)
            .into_iter()
            .filter(|c| c["id"].as_str().unwrap_or_default().starts_with("sandbox-"))
            .map(|c| c["actual"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>();
        assert_eq!(sandbox, [refusal], "{name}: {report:#}\n{}", why(&report));
        // The static rules still judge the file; the checks of the running stack are skipped, saying why.
        assert!(
            failed.contains(if name == "privileged" { "compose-no-privileged" } else { "compose-no-docker-socket" }),
            "{failed:?}"
        );
        let healthy = checks(&report).into_iter().find(|c| c["id"] == "stack-databases-healthy").unwrap();
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
        .args(["check", "lab3", "--up", "--solutions", "--var", &format!("project={project}")])
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
    // The front door's HTTP port is taken (the ready port, HTTPS, is free): the machine's fault, refused first.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port().to_string();
    let (code, _, report, stderr) = grade_up("taken", &["--solutions", "--var", &format!("http_port={taken}")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
    // With --out, exit 2 still writes a report: every check not run, and the error.
    assert!(report["error"].as_str().unwrap_or_default().contains("already in use"), "{report:#}\n{}", why(&report));
    let all: usize = report["steps"].as_array().unwrap().iter().map(|s| s["checks"].as_array().unwrap().len()).sum();
    assert_eq!(report["counts"]["skipped"], all);
    // A compose file that is not YAML: the student's fault, graded. The static rules judge the file,
    // the checks of the running stack fail with Compose's complaint as their reason.
    let broken = Variant::new(&|files| files.compose.push_str("\n  - [unclosed\n"));
    let (code, failed, report, stderr) = grade_up("broken", &["--submission", &broken.path()]);
    assert_eq!(code, 1, "{stderr}\n{report:#}\n{}", why(&report));
    assert!(failed.contains("compose-valid"), "{failed:?}");
    let stack_check = checks(&report).into_iter().find(|c| c["id"] == "stack-databases-healthy").unwrap();
    let actual = stack_check["actual"].as_str().unwrap_or_default();
    assert!(actual.contains("did not start") && (actual.contains("yaml") || actual.contains("YAML")), "{stack_check}");
    // A database that never gets healthy: `up` stops waiting as soon as it turns unhealthy, and
    // says which, with its last log lines.
    let sick = Variant::new(&|files| {
        swap(
            &mut files.compose,
            "      test: [\"CMD\", \"healthcheck.sh\", \"--connect\", \"--innodb_initialized\"]\n      interval: 5s\n      timeout: 5s\n      retries: 30\n      start_period: 10s\n",
            "      test: [\"CMD\", \"false\"]\n      interval: 1s\n      timeout: 5s\n      retries: 2\n",
        )
    });
    let pages = tempfile::tempdir().unwrap();
    let html = pages.path().join("sick.html");
    let (code, _, report, stderr) =
        grade_up("sick", &["--submission", &sick.path(), "--html-out", &html.display().to_string()]);
    assert_eq!(code, 1, "{stderr}\n{report:#}\n{}", why(&report));
    let stack_check = checks(&report).into_iter().find(|c| c["id"] == "stack-wordpress-healthy").unwrap();
    let actual = stack_check["actual"].as_str().unwrap_or_default();
    assert!(actual.contains("wordpress-db is unhealthy") && actual.contains("last log lines"), "{stack_check}");
    the_html_report_marks_the_sick_database(&html);
}

/// The HTML report of the sick stack: its picture has the database that never got healthy marked
/// at fault (and not its healthy neighbours), and a real browser draws that mark. The same
/// page with the marks taken out draws none of the fault colour: the mark is what shows.
fn the_html_report_marks_the_sick_database(html: &Path) {
    let page = std::fs::read_to_string(html).unwrap();
    let containers: Vec<&str> =
        page.split("<g class=\"container").skip(1).map(|g| g.split('>').next().unwrap()).collect();
    let db = containers
        .iter()
        .find(|g| g.contains("wordpress-db"))
        .unwrap_or_else(|| panic!("no database drawn: {containers:?}"));
    assert!(db.starts_with(" fault\"") && db.contains("data-state=\"fault\""), "{db}");
    assert!(page.contains("unhealthy"), "the picture says why");
    // Its healthy neighbours (the other database, the cache) are not marked: only what is at fault.
    assert!(containers.iter().any(|g| g.contains("data-state=\"ok\"")), "{containers:?}");
    let fault = rgb(grading::report::html::FAULT);
    let shots = workspace().join("target/test-artifacts");
    let pixels = screenshot(html, 1400, 1000, &shots.join("lab3-sick-report.png"));
    let marked = pixels.iter().filter(|p| **p == fault).count();
    assert!(marked > 500, "the browser drew {marked} pixels of the fault colour (see {})", shots.display());
    let unmarked = pages_without_marks(&page, html);
    let pixels = screenshot(&unmarked, 1400, 1000, &shots.join("lab3-sick-report-unmarked.png"));
    assert_eq!(pixels.iter().filter(|p| **p == fault).count(), 0, "only the marks use the fault colour");
}

fn pages_without_marks(page: &str, html: &Path) -> std::path::PathBuf {
    let plain = page
        .replace("class=\"container fault\"", "class=\"container\"")
        .replace("<tr class=\"fault\">", "<tr class=\"ok\">");
    let path = html.with_file_name("unmarked.html");
    std::fs::write(&path, plain).unwrap();
    path
}
