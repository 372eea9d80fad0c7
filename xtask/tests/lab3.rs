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

/// Grades lab 3's compose step of `dir`; returns (exit code, failed ids, skipped ids, report).
fn grade(dir: &Path) -> (i32, BTreeSet<String>, BTreeSet<String>, serde_json::Value) {
    let out = dir.join("report.json");
    let output = cargo_bin_cmd!("xtask")
        .args(["check", "lab3", "--step", "compose", "--format", "json", "--submission"])
        .arg(dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap_or_default()).unwrap_or_default();
    let ids = |status| ids_with_status(&report, status).into_iter().collect();
    (output.status.code().unwrap_or(-1), ids("failed"), ids("skipped"), report)
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
        ("undeclared-volume", compose_edit("  redis:\n\nnetworks:", "\nnetworks:"), &["compose-valid"]),
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
        let expected_code = if expected.is_empty() { 0 } else { 1 };
        if failed != expected || code != expected_code {
            wrong.push(format!("{name}: exit {code}, failed {failed:?}, expected {expected:?}\n{report:#}"));
        }
        // A file that does not load fails only compose-valid; the rest is skipped, not failed twice.
        if expected.contains("compose-valid") && skipped.len() + 1 != checks(&report).len() {
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
    assert_covers_rubric("labs/compose/rubric.toml", &covered);
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
