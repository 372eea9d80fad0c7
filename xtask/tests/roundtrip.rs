//! The class round trip, as a course runs it: `course export` -> a template repository -> a bare
//! "remote" per student (`file://`) -> each student's clone, where the work is written, then
//! committed and pushed as a student does (`git add -A`, the exported `.gitignore` in force) ->
//! `collect` at a deadline -> `grade` labs 1, 2 and 3 with `--up`, each two at a time, all three at once.
//!
//! The class: `alice` finished every lab (the course's answers) and then, after the deadline,
//! pushed a commit that breaks her site; `bob` did lab 1 and lab 2's reverse proxy only; `carol`
//! never touched the starter and `dora` only deleted its TODO comments (each scores at most a tenth
//! of every step); `ben` did lab 3 only, in another correct way than ours (other
//! service names, `docker-compose.yml`, one MariaDB, secrets files, Memcached, and a Caddy front
//! door built `FROM debian:bookworm` through the build's mirror proxy). Two more rows are
//! repositories the class could not give: one that does not exist, one with a link out of it.
//!
//! Alice and ben get full marks where they did the work; bob's checks are alice's where he did
//! the step and carol's (the starter's) where he did not - he loses exactly what is missing; the
//! late commit is counted and not graded. Integration: the engine and images `cargo xtask test`
//! provides; about six minutes.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::path::{Path, PathBuf};

const DEADLINE: &str = "2026-12-01T23:59:00Z";
const BEFORE: &str = "2026-11-30T18:00:00Z";
const AFTER: &str = "2026-12-02T09:00:00Z";

fn git(dir: &Path, date: &str, args: &[&str]) -> String {
    common::git_at(dir, date, args)
}

/// A student's repository: a bare remote made from the template, cloned, worked in by `work`,
/// committed with `git add -A` and pushed before the deadline. Returns the remote and the clone.
fn student(root: &Path, template: &Path, name: &str, work: impl FnOnce(&Path)) -> (PathBuf, PathBuf) {
    let remote = root.join("remotes").join(format!("{name}.git"));
    let clone = root.join("laptops").join(name);
    std::fs::create_dir_all(remote.parent().unwrap()).unwrap();
    std::fs::create_dir_all(clone.parent().unwrap()).unwrap();
    git(root, BEFORE, &["clone", "-q", "--bare", &template.display().to_string(), &remote.display().to_string()]);
    git(root, BEFORE, &["clone", "-q", &format!("file://{}", remote.display()), &clone.display().to_string()]);
    work(&clone);
    git(&clone, BEFORE, &["add", "-A"]);
    if !git(&clone, BEFORE, &["status", "--porcelain"]).is_empty() {
        git(&clone, BEFORE, &["commit", "-q", "-m", "my work"]);
        git(&clone, BEFORE, &["push", "-q", "origin", "HEAD"]);
    }
    (remote, clone)
}

#[test]
fn a_class_pushes_is_collected_at_the_deadline_and_graded_as_it_pushed() {
    if !integration("a_class_pushes_is_collected_at_the_deadline_and_graded_as_it_pushed") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    // The instructor's template repository: the course export, committed.
    let template = root.join("template");
    let export = cargo_bin_cmd!("xtask").args(["course", "export"]).arg(&template).output().unwrap();
    assert_eq!(export.status.code(), Some(0), "{}", String::from_utf8_lossy(&export.stderr));
    git(&template, "2026-11-01T09:00:00Z", &["init", "-q"]);
    git(&template, "2026-11-01T09:00:00Z", &["add", "-A"]);
    git(&template, "2026-11-01T09:00:00Z", &["commit", "-q", "-m", "Lab starters"]);

    let lab1 = ["static-site", "app-port"];
    let lab2 = ["reverse-proxy", "single-image", "web-db"];
    let lab3 = ["compose", "cache"];
    let all: Vec<&str> = lab1.iter().chain(&lab2).chain(&lab3).copied().collect();
    let (alice, alice_clone) = student(root, &template, "alice", |clone| write_answers(clone, &all));
    let graded_commit = git(&alice_clone, BEFORE, &["rev-parse", "HEAD"]);
    // After the deadline: a commit that breaks the site. It is counted, never graded.
    std::fs::write(alice_clone.join("labs/static-site/nginx/site.conf"), "server { listen 8080; root /nowhere; }\n")
        .unwrap();
    std::fs::remove_file(alice_clone.join("labs/static-site/site/index.html")).unwrap();
    git(&alice_clone, AFTER, &["commit", "-q", "-am", "oops"]);
    git(&alice_clone, AFTER, &["push", "-q", "origin", "HEAD"]);
    let (bob, _) =
        student(root, &template, "bob", |clone| write_answers(clone, &["static-site", "app-port", "reverse-proxy"]));
    let (carol, _) = student(root, &template, "carol", |_| {});
    // The starter with its TODO comments deleted and nothing else done: no more points than carol's.
    let (dora, _) = student(root, &template, "dora", |clone| delete_todo_comments(&clone.join("labs")));
    let (ben, _) = student(root, &template, "ben", |clone| {
        write_answers(clone, &lab3);
        another_correct_stack(&clone.join("labs/compose"));
    });
    // The certificate of lab 2 and of lab 3 went to git with `git add -A` (the old .gitignore
    // kept lab 2's on the student's laptop).
    let pushed = git(&alice, BEFORE, &["ls-tree", "-r", "--name-only", &graded_commit]);
    for needed in ["labs/reverse-proxy/certs/localhost.key", "labs/compose/certs/tls.key", "labs/compose/.env.example"]
    {
        assert!(pushed.lines().any(|l| l == needed), "{needed} was pushed: {pushed}");
    }
    // A repository with a link out of it: refused by collect, never graded.
    let (mallory, mallory_clone) = student(root, &template, "mallory", |clone| {
        std::os::unix::fs::symlink("/etc/passwd", clone.join("labs/static-site/site/passwd.html")).unwrap();
    });
    let _ = mallory_clone;

    let roster = root.join("roster.csv");
    let url = |remote: &Path| format!("file://{}", remote.display());
    std::fs::write(
        &roster,
        format!(
            "student,repository\nalice,{}\nbob,{}\ncarol,{}\ndora,{}\nben,{}\nerin,file://{}/remotes/erin.git\nmallory,{}\n",
            url(&alice),
            url(&bob),
            url(&carol),
            url(&dora),
            url(&ben),
            root.display(),
            url(&mallory)
        ),
    )
    .unwrap();
    let class = root.join("class");
    let collect = cargo_bin_cmd!("xtask")
        .args(["collect", "--roster"])
        .arg(&roster)
        .args(["--deadline", DEADLINE, "--jobs", "2", "--out"])
        .arg(&class)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&collect.stderr);
    assert_eq!(collect.status.code(), Some(0), "{said}");
    let collected = rows_by_student(&class.join("roster.csv"));
    assert_eq!(collected["alice"]["commit"], graded_commit, "the last commit before the deadline: {said}");
    assert_eq!(collected["alice"]["late"], "1", "{said}");
    assert_eq!(collected["carol"]["status"], "collected", "{said}");
    assert_eq!(collected["erin"]["status"], "unfetched", "{said}");
    assert!(collected["erin"]["reason"].contains("not found"), "{:?}", collected["erin"]);
    assert_eq!(collected["mallory"]["status"], "refused", "{said}");
    assert!(collected["mallory"]["reason"].contains("passwd.html -> /etc/passwd"), "{:?}", collected["mallory"]);
    assert!(
        std::fs::read_to_string(class.join("alice/labs/static-site/site/index.html")).is_ok(),
        "the checkout is the commit before the deadline"
    );
    for hook in ["alice/.git/hooks", "carol/.git/hooks"] {
        let hooks = std::fs::read_dir(class.join(hook)).map(|d| d.count()).unwrap_or(0);
        assert_eq!(hooks, 0, "{hook}: a fresh clone with no hook");
    }

    // Bob did no step of lab 3: his lab 3 would be carol's untouched starter again, so lab 3 is
    // graded from the roster without him (one stack less to bring up).
    let roster_text = std::fs::read_to_string(class.join("roster.csv")).unwrap();
    let without_bob: String =
        roster_text.lines().filter(|l| !l.starts_with("bob,")).map(|l| format!("{l}\n")).collect();
    std::fs::write(class.join("roster-lab3.csv"), without_bob).unwrap();
    let before = engine_objects();
    // The three labs are graded at once, as an instructor may (each two at a time): runs of
    // different labs share the engine, the images and the machine's ports without meeting.
    let started = std::time::Instant::now();
    let grading: Vec<(&str, std::process::Child)> = ["lab1", "lab2", "lab3"]
        .into_iter()
        .map(|lab| {
            let roster = if lab == "lab3" { "roster-lab3.csv" } else { "roster.csv" };
            let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("xtask"))
                .args(["grade", lab, "--jobs", "2", "--roster"])
                .arg(class.join(roster))
                .arg("--out")
                .arg(root.join("grades").join(lab))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (lab, child)
        })
        .collect();
    for (lab, child) in grading {
        let out = root.join("grades").join(lab);
        let output = child.wait_with_output().unwrap();
        let logs = |s: &str| std::fs::read_to_string(out.join(format!("reports/{s}.txt"))).unwrap_or_default();
        let context = format!(
            "{}\n{}\n{}\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(out.join("gradebook.csv")).unwrap_or_default(),
            logs("alice"),
            logs("ben"),
            logs("carol")
        );
        assert_eq!(output.status.code(), Some(0), "{lab}: {context}");
        eprintln!("{lab}: the class graded two at a time, beside the other labs, in {:.0?}", started.elapsed());
        let book = rows_by_student(&out.join("gradebook.csv"));
        let full = |s: &str| book[s]["score"] == book[s]["max_score"] && book[s]["status"] == "graded";
        assert!(full("alice"), "{lab}: the finished student gets full marks: {context}");
        assert_eq!(book["alice"]["late"], "1", "{lab}");
        assert_eq!(book["alice"]["commit"], graded_commit, "{lab}");
        assert!(!full("carol"), "{lab}: the starter does not: {context}");
        // No free points: the untouched starter, and the starter with its TODO comments deleted,
        // score at most a tenth of each step.
        for student in ["carol", "dora"] {
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(out.join(format!("reports/{student}.json"))).unwrap())
                    .unwrap();
            for step in report["steps"].as_array().unwrap() {
                let (score, max) = (step["score"].as_f64().unwrap(), step["max_score"].as_f64().unwrap());
                eprintln!("{lab} {student} {}: {score}/{max}", step["id"]);
                assert!(score * 10.0 <= max, "{lab} {student}: step {} scores {score}/{max}: {context}", step["id"]);
            }
        }
        assert_eq!(full("ben"), lab == "lab3", "{lab}: ben did lab 3 only, in his own way: {context}");
        assert_eq!((book["erin"]["status"].as_str(), book["erin"]["score"].as_str()), ("unfetched", ""), "{lab}");
        assert_eq!(book["mallory"]["status"], "refused", "{lab}");
        assert!(book["mallory"]["note"].contains("symlink out of the repository"), "{lab}");
        // Bob loses exactly the checks of the steps he did not do: where he did the step, his
        // checks are alice's; where not, carol's (the starter's).
        let curriculum = grading::Curriculum::load(&workspace()).unwrap();
        let bobs_steps = if lab == "lab3" { &[][..] } else { &curriculum.lab(lab).unwrap().steps[..] };
        for step in bobs_steps {
            let done = ["static-site", "app-port", "reverse-proxy"].contains(&step.id.as_str());
            let like = if done { "alice" } else { "carol" };
            let rubric: toml::Value =
                toml::from_str(&std::fs::read_to_string(workspace().join(&step.dir).join("rubric.toml")).unwrap())
                    .unwrap();
            let checks = rubric["check"].as_array().unwrap();
            assert!(!checks.is_empty());
            for check in checks {
                let id = check["id"].as_str().unwrap();
                assert_eq!(book["bob"][id], book[like][id], "{lab} {}: bob's {id} is {like}'s: {context}", step.id);
            }
        }
        // The untouched starter falls short in every step. Lab 2's, run as it is, fails exactly on
        // the starters' own faults (no HTTPS, a container with no name, the Dockerfile's and the
        // script's rules, a database with no healthcheck, an app not published: what needs those
        // is skipped), each failed check's hint naming its TODO.
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("reports/carol.json")).unwrap()).unwrap();
        let mut failed = std::collections::BTreeSet::new();
        for step in report["steps"].as_array().unwrap() {
            let checks = step["checks"].as_array().unwrap();
            assert!(
                checks.iter().any(|c| c["status"] == "failed"),
                "{lab}: step {} of the starter fails nothing: {context}",
                step["id"]
            );
            for check in checks.iter().filter(|c| c["status"] == "failed") {
                failed.insert(check["id"].as_str().unwrap().to_string());
                // A check that failed on a fault of its own names the TODO about it (those that
                // could not run since the services did not start share the start's reason).
                let own = !check["actual"].as_str().unwrap_or_default().starts_with("they did not start");
                if lab == "lab2" && own {
                    assert!(check["hint"].as_str().unwrap().contains("TODO("), "{check}");
                }
            }
        }
        if lab == "lab2" {
            let expected: std::collections::BTreeSet<String> = [
                "proxy-https-answers",
                "single-running",
                "webdb-dockerfile-base",
                "webdb-dockerfile-user",
                "webdb-dockerfile-secrets",
                "webdb-dockerfile-expose",
                "webdb-dockerfile-healthcheck",
                "webdb-script-secrets",
                "webdb-db-healthy",
                "webdb-web-published",
            ]
            .map(String::from)
            .into();
            assert_eq!(failed, expected, "lab2: the starter's failures: {context}");
        }
        assert!(out.join("class.html").is_file() && out.join("similarity.csv").is_file(), "{lab}: the class's pages");
        let similar = std::fs::read_to_string(out.join("similarity.csv")).unwrap();
        if lab == "lab1" {
            assert!(similar.contains("alice,bob,1.00"), "alice and bob handed in the same lab 1: {similar}");
        }
        assert!(
            !similar.contains("bob,carol") && !similar.contains("alice,carol"),
            "the starter is no one's copy: {similar}"
        );
    }
    assert_eq!(engine_objects(), before, "grading the class leaves nothing in the engine");
}

/// Lab 3 done in other correct ways than ours, written over the answer's folder `step`: other
/// service names, the file named docker-compose.yml, one MariaDB holding both databases (made by
/// an initdb script that logs in as root), passwords as compose secrets read through `*_FILE`, and
/// Memcached as Nextcloud's cache.
/// Deletes every comment line that holds a `TODO(` under `dir`, with the comment lines that carry
/// it on (more indented after the comment's mark), and nothing else: `#`, `//` and `<!-- -->`.
fn delete_todo_comments(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            delete_todo_comments(&path);
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        if !text.contains("TODO(") {
            continue;
        }
        fn comment(line: &str) -> Option<&str> {
            let line = line.trim_start();
            ["#", "//", "<!--"].iter().find_map(|mark| line.strip_prefix(mark))
        }
        let mut kept = Vec::new();
        let mut carrying = false;
        for line in text.lines() {
            match comment(line) {
                Some(rest) if rest.contains("TODO(") => carrying = true,
                Some(rest) if carrying && rest.starts_with("  ") => {}
                _ => {
                    carrying = false;
                    kept.push(line);
                }
            }
        }
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    }
}

fn another_correct_stack(step: &Path) {
    std::fs::remove_file(step.join("compose.yaml")).unwrap();
    std::fs::write(step.join("docker-compose.yml"), ALTERNATIVE).unwrap();
    std::fs::write(step.join(".env.example"), "DOMAIN=localhost\nHTTP_PORT=9080\nHTTPS_PORT=9443\nADMIN=admin\n")
        .unwrap();
    // His front door is Caddy, built from Debian's package: no nginx configuration at all.
    std::fs::remove_dir_all(step.join("nginx")).unwrap();
    for folder in ["secrets", "initdb", "nextcloud", "door"] {
        std::fs::create_dir_all(step.join(folder)).unwrap();
    }
    for (name, value) in [
        ("db_root", "root-secret"),
        ("blog_db", "blog-secret"),
        ("files_db", "files-secret"),
        // Not the grader's default admin password: the checks log in with what this file says.
        ("files_admin", "files-admin-secret"),
    ] {
        std::fs::write(step.join("secrets").join(name), value).unwrap();
    }
    std::fs::write(
        step.join("initdb/10-second-database.sh"),
        "mariadb -uroot -p\"$MARIADB_ROOT_PASSWORD\" -e \"CREATE DATABASE files; CREATE USER 'files'@'%' IDENTIFIED BY '$(cat /run/secrets/files_db)'; GRANT ALL ON files.* TO 'files'@'%';\"\n",
    )
    .unwrap();
    std::fs::write(step.join("door/Dockerfile"), DOOR_DOCKERFILE).unwrap();
    std::fs::write(step.join("door/Caddyfile"), CADDYFILE).unwrap();
    std::fs::write(
        step.join("nextcloud/memcache.config.php"),
        "<?php\n$CONFIG = ['memcache.distributed' => '\\OC\\Memcache\\Memcached', 'memcached_servers' => [['cache', 11211]]];\n",
    )
    .unwrap();
}

/// The front door's image: Debian's Caddy package, fetched through the build's mirror proxy.
const DOOR_DOCKERFILE: &str = "FROM debian:bookworm
RUN apt-get update \\
 && apt-get install -y --no-install-recommends caddy \\
 && rm -rf /var/lib/apt/lists/*
COPY Caddyfile /etc/caddy/Caddyfile
EXPOSE 80 443
CMD [\"caddy\", \"run\", \"--config\", \"/etc/caddy/Caddyfile\", \"--adapter\", \"caddyfile\"]
";

/// TLS with the course's certificate, a redirect from plain HTTP, HSTS, a site per name.
const CADDYFILE: &str = "{
\tadmin off
\tauto_https disable_redirects
\tskip_install_trust
}

http:// {
\tredir https://{host}:{$HTTPS_PORT}{uri} permanent
}

wordpress.{$DOMAIN}:443 {
\ttls /etc/caddy/certs/tls.crt /etc/caddy/certs/tls.key
\theader Strict-Transport-Security \"max-age=63072000\"
\treverse_proxy blog:80
}

nextcloud.{$DOMAIN}:443 {
\ttls /etc/caddy/certs/tls.crt /etc/caddy/certs/tls.key
\theader Strict-Transport-Security \"max-age=63072000\"
\trequest_body {
\t\tmax_size 512MB
\t}
\treverse_proxy files:80
}
";

const ALTERNATIVE: &str = r#"
services:
  door:
    build: ./door
    restart: always
    environment: { DOMAIN: "${DOMAIN}", HTTPS_PORT: "${HTTPS_PORT}" }
    ports: ["127.0.0.1:${HTTP_PORT}:80", "127.0.0.1:${HTTPS_PORT}:443"]
    volumes: ["./certs:/etc/caddy/certs:ro"]
    networks: [edge]
    depends_on: { blog: { condition: service_healthy }, files: { condition: service_healthy } }
  blog:
    image: wordpress:6.1-apache
    restart: always
    environment:
      WORDPRESS_DB_HOST: db
      WORDPRESS_DB_USER: blog
      WORDPRESS_DB_PASSWORD_FILE: /run/secrets/blog_db
      WORDPRESS_DB_NAME: blog
    secrets: [blog_db]
    volumes: ["blog-html:/var/www/html"]
    networks: [edge, inside]
    depends_on: { db: { condition: service_healthy } }
    healthcheck: { test: ["CMD-SHELL", "curl -so /dev/null http://localhost/"], interval: 5s, retries: 30 }
  files:
    image: nextcloud:28-apache
    restart: always
    environment:
      MYSQL_HOST: db
      MYSQL_DATABASE: files
      MYSQL_USER: files
      MYSQL_PASSWORD_FILE: /run/secrets/files_db
      NEXTCLOUD_ADMIN_USER: ${ADMIN}
      NEXTCLOUD_ADMIN_PASSWORD_FILE: /run/secrets/files_admin
      NEXTCLOUD_TRUSTED_DOMAINS: files.${DOMAIN} nextcloud.${DOMAIN} localhost
      OVERWRITEPROTOCOL: https
    secrets: [files_db, files_admin]
    volumes: ["files-html:/var/www/html", "./nextcloud/memcache.config.php:/var/www/html/config/memcache.config.php:ro"]
    networks: [edge, inside]
    depends_on: { db: { condition: service_healthy }, cache: { condition: service_started } }
    healthcheck: { test: ["CMD-SHELL", "curl -fso /dev/null http://localhost/status.php"], interval: 5s, retries: 60 }
  db:
    image: mariadb:10.11
    restart: always
    environment:
      MARIADB_ROOT_PASSWORD_FILE: /run/secrets/db_root
      MARIADB_DATABASE: blog
      MARIADB_USER: blog
      MARIADB_PASSWORD_FILE: /run/secrets/blog_db
    secrets: [db_root, blog_db, files_db]
    volumes: ["db-data:/var/lib/mysql", "./initdb:/docker-entrypoint-initdb.d:ro"]
    networks: [inside]
    healthcheck: { test: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"], interval: 5s, retries: 30, start_period: 10s }
  cache:
    image: memcached:1.6
    restart: always
    command: ["memcached", "--memory-limit=64"]
    networks: [inside]
    healthcheck: { test: ["CMD-SHELL", "bash -c 'exec 3<>/dev/tcp/127.0.0.1/11211 && printf \"version\\r\\n\" >&3 && head -c7 <&3 | grep -q VERSION'"], interval: 5s, retries: 30 }
secrets:
  db_root: { file: ./secrets/db_root }
  blog_db: { file: ./secrets/blog_db }
  files_db: { file: ./secrets/files_db }
  files_admin: { file: ./secrets/files_admin }
volumes:
  blog-html:
  files-html:
  db-data:
networks:
  edge:
  inside: { internal: true }
"#;
