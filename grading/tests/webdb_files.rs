//! Lab 2 web-db's file rules, as its rubric states them (`labs/web-db/rubric.toml`): the
//! Dockerfile's (pinned base, non-root user, no secrets, EXPOSE, HEALTHCHECK) and the script's
//! (no password on the command line). The course's answer passes; other correct ways a student
//! writes them pass too; each known-bad variant fails exactly its check.

use grading::rubric::CheckKind;
use grading::runner::{grade, StepRubric};
use grading::{GradeConfig, Rubric, Vars};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn solution(file: &str) -> String {
    std::fs::read_to_string(workspace().join("labs/web-db/solution").join(file)).unwrap()
}

/// The checks of web-db's rubric that read files, graded on a submission holding `dockerfile`
/// and `script`: the ids of those that failed.
async fn failed(dockerfile: &str, script: &str) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let step = dir.path().join("labs/web-db");
    std::fs::create_dir_all(&step).unwrap();
    std::fs::write(step.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(step.join("run.sh"), script).unwrap();
    let path = workspace().join("labs/web-db/rubric.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let known: BTreeSet<String> = ["project", "web_port", "host", "probe"].iter().map(|s| s.to_string()).collect();
    let mut rubric = Rubric::parse(&path, &text, &known).unwrap();
    rubric.checks.retain(|c| matches!(c.kind, CheckKind::Dockerfile(_) | CheckKind::File(_)));
    assert_eq!(rubric.checks.len(), 6, "the five Dockerfile rules and the script's");
    let step = StepRubric { id: "web-db".into(), title: "web-db".into(), rubric };
    let config = GradeConfig { vars: Vars::new(), submission: dir.path().to_path_buf(), ..Default::default() };
    let report = grade("lab2", "Lab 2", &[step], &config).await;
    report.checks().filter(|(_, c)| c.status.as_str() == "failed").map(|(_, c)| c.id.clone()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn the_answer_and_other_correct_ways_pass() {
    let (dockerfile, script) = (solution("Dockerfile"), solution("run.sh"));
    assert_eq!(failed(&dockerfile, &script).await, set(&[]));
    // A multi-stage build on scratch, a numeric user, JSON-less HEALTHCHECK, an ARG-given pinned base.
    let staged = "ARG BASE=debian:12-slim\nFROM ${BASE} AS files\nRUN mkdir -p /data\nFROM scratch\nCOPY --from=files /data /data\nCOPY app/portfolio /portfolio\nUSER 10001:10001\nEXPOSE 5000/tcp\nHEALTHCHECK --interval=10s CMD /portfolio --healthcheck\nENTRYPOINT [\"/portfolio\"]\n";
    // Passwords from the environment by name, or from a file; --env= forms without secrets.
    let by_name = "set -eu\nexport MARIADB_ROOT_PASSWORD=\"$(cat ~/.db-root)\"\ndocker run -d --name webdb-db -e MARIADB_ROOT_PASSWORD -e MARIADB_DATABASE=portfolio \\\n  --env=MARIADB_USER=portfolio --env-file ./secrets.env mariadb:10.11\n";
    assert_eq!(failed(staged, by_name).await, set(&[]));
}

#[tokio::test]
async fn each_fault_fails_its_check() {
    let (good, script) = (solution("Dockerfile"), solution("run.sh"));
    let table: &[(&str, String, &[&str])] = &[
        ("unpinned", good.replace("debian:bookworm-slim", "debian"), &["webdb-dockerfile-base"]),
        ("latest", good.replace("debian:bookworm-slim", "debian:latest"), &["webdb-dockerfile-base"]),
        ("root", good.replace("USER portfolio\n", ""), &["webdb-dockerfile-user"]),
        ("root-by-id", good.replace("USER portfolio", "USER 0"), &["webdb-dockerfile-user"]),
        ("env-secret", good.replace("ENV PORT=5000", "ENV PORT=5000 MYSQL_PASSWORD=pw"), &["webdb-dockerfile-secrets"]),
        ("arg-secret", good.replace("ENV PORT=5000", "ARG DB_PASSWORD\nENV PORT=5000"), &["webdb-dockerfile-secrets"]),
        ("no-expose", good.replace("EXPOSE 5000\n", ""), &["webdb-dockerfile-expose"]),
        ("wrong-expose", good.replace("EXPOSE 5000", "EXPOSE 8080"), &["webdb-dockerfile-expose"]),
        (
            "no-healthcheck",
            good.lines().filter(|l| !l.starts_with("HEALTHCHECK")).collect::<Vec<_>>().join("\n"),
            &["webdb-dockerfile-healthcheck"],
        ),
        ("healthcheck-none", format!("{good}HEALTHCHECK NONE\n"), &["webdb-dockerfile-healthcheck"]),
        (
            "unparsable",
            "FROM\n".to_string(),
            &[
                "webdb-dockerfile-base",
                "webdb-dockerfile-user",
                "webdb-dockerfile-secrets",
                "webdb-dockerfile-expose",
                "webdb-dockerfile-healthcheck",
            ],
        ),
    ];
    for (name, dockerfile, expected) in table {
        assert_eq!(failed(dockerfile, &script).await, set(expected), "Dockerfile variant {name}");
    }
    for (name, line) in [
        ("-e", "docker run -d -e MARIADB_ROOT_PASSWORD=hunter2 mariadb:10.11"),
        ("--env=", "docker run -d --env=MYSQL_ROOT_PASSWORD='hunter2' mariadb:10.11"),
        ("--env quoted", "docker run -d --env \"MARIADB_PASSWORD=pw\" mariadb:10.11"),
        ("continued", "docker run -d --name webdb-db \\\n  -e DB_PASS=pw \\\n  mariadb:10.11"),
    ] {
        let script = format!("{script}\n{line}\n");
        assert_eq!(failed(&good, &script).await, set(&["webdb-script-secrets"]), "script variant {name}");
    }
}
