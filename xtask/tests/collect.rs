//! `cargo xtask collect`: the repositories a class can give, each with its row. Git only, no
//! engine: local `file://` repositories made here - one with a commit before and after the
//! deadline, an empty one, one with only late commits, one over the size limit, one with a
//! submodule and a Git LFS pointer, one whose hook would run on checkout, and hosts that are not
//! there. Bad input to the command itself is one line, exit 2, and nothing in `--out`.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use std::path::Path;
use std::process::Command;

const DEADLINE: &str = "2026-12-01T23:59:00Z";

fn git(dir: &Path, date: &str, args: &[&str]) -> String {
    common::git_at(dir, date, args)
}

fn repo(root: &Path, name: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, "2026-11-01T00:00:00Z", &["init", "-q"]);
    dir
}

fn commit(dir: &Path, date: &str, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, date, &["add", "-A"]);
    git(dir, date, &["commit", "-q", "-m", file]);
    git(dir, date, &["rev-parse", "HEAD"])
}

fn collect(roster: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    cargo_bin_cmd!("xtask")
        .args(["collect", "--roster"])
        .arg(roster)
        .args(["--deadline", DEADLINE, "--out"])
        .arg(out)
        .args(extra)
        .env("CLABS_TEST_TOKEN", "s3cret-t0ken")
        .output()
        .unwrap()
}

#[test]
fn every_repository_gets_its_row_and_nothing_of_one_runs() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let ada = repo(root, "ada");
    let on_time = commit(&ada, "2026-11-30T10:00:00Z", "index.html", "<title>mine</title>\n");
    commit(&ada, "2026-12-02T10:00:00Z", "index.html", "broken\n");
    commit(&ada, "2026-12-03T10:00:00Z", "index.html", "broken again\n");
    repo(root, "bea"); // no commit at all
    let cy = repo(root, "cy");
    commit(&cy, "2026-12-05T10:00:00Z", "index.html", "too late\n");
    let dee = repo(root, "dee");
    let noise: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dee.join("big.bin"), noise).unwrap();
    commit(&dee, "2026-11-30T10:00:00Z", "index.html", "big\n");
    // A submodule and an LFS pointer: graded as they are, with a note; nothing fetched.
    let eve = repo(root, "eve");
    let inner = repo(root, "inner");
    commit(&inner, "2026-11-30T10:00:00Z", "x", "x\n");
    git(&eve, "2026-11-30T10:00:00Z", &["submodule", "add", "-q", &format!("file://{}", inner.display()), "vendor"]);
    std::fs::write(eve.join(".gitattributes"), "*.png filter=lfs diff=lfs merge=lfs -text\n").unwrap();
    commit(
        &eve,
        "2026-11-30T10:00:00Z",
        "logo.png",
        "version https://git-lfs.github.com/spec/v1\noid sha256:0000000000000000000000000000000000000000000000000000000000000000\nsize 12345\n",
    );
    // A hook in the repository's own files never runs, even for an instructor whose git
    // configuration points hooks at the work tree (`core.hooksPath = .githooks`, a common
    // setting): collect reads no configuration of this machine.
    let fay = repo(root, "fay");
    std::fs::create_dir_all(fay.join(".githooks")).unwrap();
    let marker = root.join("hook-ran");
    let hook = fay.join(".githooks/post-checkout");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    commit(&fay, "2026-11-30T10:00:00Z", "index.html", "ok\n");
    let instructor = root.join("instructor.gitconfig");
    std::fs::write(&instructor, "[core]\n\thooksPath = .githooks\n").unwrap();
    // Known-bad: plain git with that configuration runs the repository's hook.
    let plain = Command::new("git")
        .env("GIT_CONFIG_GLOBAL", &instructor)
        .args(["clone", "-q"])
        .arg(&fay)
        .arg(root.join("plain-clone"))
        .status()
        .unwrap();
    assert!(plain.success() && marker.exists(), "the hook runs with plain git: the case is real");
    std::fs::remove_file(&marker).unwrap();

    let roster = root.join("roster.csv");
    std::fs::write(
        &roster,
        format!(
            "student,repository\nada,ada\nbea,bea\ncy,cy\ndee,dee\neve,eve\nfay,fay\ngil,file://{0}/nowhere.git\nhal,https://127.0.0.1:9/hal.git\n",
            root.display()
        ),
    )
    .unwrap();
    let out = root.join("class");
    let output = cargo_bin_cmd!("xtask")
        .args(["collect", "--roster"])
        .arg(&roster)
        .args(["--deadline", DEADLINE, "--max-size", "1", "--token-env", "CLABS_TEST_TOKEN", "--out"])
        .arg(&out)
        .env("CLABS_TEST_TOKEN", "s3cret-t0ken")
        .env("GIT_CONFIG_GLOBAL", &instructor)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{said}");
    let rows = common::rows_by_student(&out.join("roster.csv"));
    let status = |s: &str| (rows[s]["status"].as_str(), rows[s]["reason"].as_str());
    assert_eq!(rows["ada"]["commit"], on_time, "{said}");
    assert_eq!((rows["ada"]["late"].as_str(), rows["ada"]["committed"].as_str()), ("2", "2026-11-30T10:00:00Z"));
    assert_eq!(std::fs::read_to_string(out.join("ada/index.html")).unwrap(), "<title>mine</title>\n");
    assert_eq!(status("bea").0, "empty", "{said}");
    assert_eq!(status("cy"), ("no-commit", "no commit at or before the deadline (1 after it)"));
    assert_eq!(status("dee").0, "unfetched");
    assert!(status("dee").1.contains("over the size limit"), "{:?}", rows["dee"]);
    assert!(!out.join("dee").exists(), "nothing is kept of a repository over the limit");
    assert_eq!(status("eve").0, "collected");
    assert!(status("eve").1.contains("has submodules"), "{:?}", rows["eve"]);
    assert!(status("eve").1.contains("1 file(s) are Git LFS pointers, not fetched (logo.png)"), "{:?}", rows["eve"]);
    assert!(!out.join("eve/vendor/x").exists(), "the submodule was not fetched");
    assert_eq!(status("fay").0, "collected");
    assert!(!marker.exists(), "no hook of the repository ran");
    assert!(status("gil").1.starts_with("not found, or no access"), "{:?}", rows["gil"]);
    assert_eq!(status("hal").0, "unfetched");
    assert!(status("hal").1.contains("cannot be reached"), "{:?}", rows["hal"]);
    // The token reached git through its environment only: in no row, no message, no file.
    let roster_text = std::fs::read_to_string(out.join("roster.csv")).unwrap();
    for text in [&said, &roster_text] {
        assert!(!text.contains("s3cret-t0ken"), "the token leaked: {text}");
    }
    let config = std::fs::read_to_string(out.join("ada/.git/config")).unwrap();
    assert!(!config.contains("s3cret") && !config.contains("extraHeader"), "{config}");
    // Nothing left of the staging folder.
    let left: Vec<String> =
        std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!left.iter().any(|n| n.starts_with('.')), "{left:?}");

    // `grade --roster` reads it: a row for every student, the not-collected ones with the reason.
    let book = root.join("grades");
    let graded = cargo_bin_cmd!("xtask")
        .args(["grade", "lab1", "--step", "static-site", "--no-up", "--roster"])
        .arg(out.join("roster.csv"))
        .arg("--out")
        .arg(&book)
        .output()
        .unwrap();
    assert_eq!(graded.status.code(), Some(0), "{}", String::from_utf8_lossy(&graded.stderr));
    let gradebook = std::fs::read_to_string(book.join("gradebook.csv")).unwrap();
    assert_eq!(gradebook.lines().count(), 9, "{gradebook}");
    assert!(gradebook.lines().any(|l| l.starts_with("cy,") && l.contains(",no-commit,")), "{gradebook}");
    assert!(gradebook.lines().any(|l| l.starts_with("ada,") && l.contains(&format!(",{on_time},2,"))), "{gradebook}");
    for file in ["class.html", "similarity.csv", "canvas.csv", "moodle.csv"] {
        assert!(book.join(file).is_file(), "{file}");
    }
}

#[test]
fn bad_input_to_collect_is_one_line_exit_2_and_nothing_written() {
    let root = tempfile::tempdir().unwrap();
    let good = root.path().join("good.csv");
    std::fs::write(&good, "student,repository\nada,ada\n").unwrap();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("student,email\nada,a@x\n", vec![], "must name a `repository` column"),
        ("student,repository\nada,a\nada,b\n", vec![], "student 'ada' is in rows 2 and 3"),
        ("identifier,github_username\nada@x,ada\n", vec![], "give --org ORG and --prefix PREFIX"),
        ("", vec!["--deadline", "next friday"], "is not an RFC 3339 time"),
        ("", vec!["--token-env", "CLABS_NOT_SET_ANYWHERE"], "CLABS_NOT_SET_ANYWHERE is not set"),
    ];
    for (roster_text, extra, message) in cases {
        let roster = if roster_text.is_empty() {
            good.clone()
        } else {
            let path = root.path().join("roster.csv");
            std::fs::write(&path, roster_text).unwrap();
            path
        };
        let out = root.path().join("out");
        let mut command = cargo_bin_cmd!("xtask");
        command.args(["collect", "--roster"]).arg(&roster).arg("--out").arg(&out);
        if !extra.contains(&"--deadline") {
            command.args(["--deadline", DEADLINE]);
        }
        let output = command.args(&extra).output().unwrap();
        testkit::assert_one_line_exit_2(&output, message);
        assert!(!out.exists(), "{message}: nothing is written");
    }
    // An --out that holds something already is refused, and left as it was.
    let out = root.path().join("taken");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "keep").unwrap();
    testkit::assert_one_line_exit_2(&collect(&good, &out, &[]), "is not an empty folder");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

/// Ctrl-C while a clone hangs (a server that accepts and never answers): the clone is stopped,
/// `--out` is left empty, exit 2 with one line.
#[test]
fn ctrl_c_stops_the_clones_and_leaves_out_empty() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in server.incoming().take(4).flatten() {
            open.push(stream); // accepted, never answered
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let root = tempfile::tempdir().unwrap();
    let roster = root.path().join("roster.csv");
    std::fs::write(&roster, format!("student,repository\nada,http://127.0.0.1:{port}/ada.git\n")).unwrap();
    let out = root.path().join("class");
    let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["collect", "--roster"])
        .arg(&roster)
        .args(["--deadline", DEADLINE, "--out"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the clone is connected (its staging folder exists), then Ctrl-C.
    let started = std::time::Instant::now();
    while !out.join(".collecting").exists() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    testkit::assert_one_line_exit_2(&output, "interrupted: the clones were stopped");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "--out is left empty");
    let left = Command::new("pgrep").args(["-f", &format!("127.0.0.1:{port}")]).output().unwrap();
    assert!(left.stdout.is_empty(), "no clone is left running: {}", String::from_utf8_lossy(&left.stdout));
    drop(held);
}
