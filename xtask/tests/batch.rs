//! `cargo xtask grade`: a class of four - the course's answer, an untouched starter, a hostile
//! submission and an empty folder - graded two at a time into one gradebook; graded again, the
//! second run grades nothing that did not change and writes the same gradebook. Integration:
//! needs the engine and images `cargo xtask test` provides.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;

/// What the engine holds: containers, networks and volumes, by id.
fn engine_objects() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for args in [&["ps", "-aq", "--no-trunc"][..], &["network", "ls", "-q", "--no-trunc"], &["volume", "ls", "-q"]] {
        let out = testkit::docker_cli().args(args).output().unwrap();
        all.extend(String::from_utf8_lossy(&out.stdout).lines().map(|l| format!("{} {l}", args[0])));
    }
    all
}

fn copy_tree(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

/// The tests that compare the engine before and after hold this: each would see the other's
/// containers come and go.
static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn grade(class: &Path, out: &Path) -> std::process::Output {
    cargo_bin_cmd!("xtask")
        .args(["grade", "lab2", "--step", "single-image", "--jobs", "2", "--submissions"])
        .arg(class)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_class_is_graded_two_at_a_time_into_one_gradebook_and_again_only_what_changed() {
    if !integration("a_class_is_graded_two_at_a_time_into_one_gradebook_and_again_only_what_changed") {
        return;
    }
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let class = tempfile::tempdir().unwrap();
    let answer = xtask::selection::solutions(&workspace(), "lab2").unwrap();
    copy_tree(answer.path(), &class.path().join("ada"));
    std::fs::create_dir(class.path().join("bob")).unwrap();
    copy_tree(&workspace().join("labs"), &class.path().join("bob/labs"));
    copy_tree(answer.path(), &class.path().join("eve"));
    let script = class.path().join("eve/labs/single-image/run.sh");
    let text = std::fs::read_to_string(&script).unwrap();
    std::fs::write(&script, text.replace("docker run -d", "docker run -d --privileged")).unwrap();
    std::fs::create_dir(class.path().join("zed")).unwrap();
    let before = engine_objects();

    let out = tempfile::tempdir().unwrap();
    let first = grade(class.path(), out.path());
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(0), "{stderr}");
    let gradebook = std::fs::read_to_string(out.path().join("gradebook.csv")).unwrap();
    let rows: Vec<Vec<String>> =
        gradebook.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), 4, "{gradebook}");
    let (ada, bob, eve, zed) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    assert_eq!((ada[0].as_str(), ada[2].as_str()), ("ada", "graded"), "{gradebook}");
    assert_eq!(ada[3], ada[4], "the answer gets full marks: {gradebook}");
    let number = |text: &str| text.parse::<u32>().unwrap();
    assert_eq!(bob[2], "graded", "{gradebook}");
    assert!(number(&bob[3]) < number(&bob[4]), "the starter gets less: {gradebook}");
    assert_eq!(eve[2], "refused", "{gradebook}");
    assert!(gradebook.contains("privileged"), "the refusal says what: {gradebook}");
    assert_eq!((zed[2].as_str(), zed[3].as_str()), ("error", ""), "{gradebook}");
    assert!(gradebook.contains("is empty: nothing to grade"), "{gradebook}");
    // Every student has a report saying whose it is and what graded it, as JSON and as text.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("reports/ada.json")).unwrap()).unwrap();
    let provenance = &report["provenance"];
    assert_eq!(provenance["student"], "ada");
    assert!(provenance["rubric_hash"].as_str().unwrap().starts_with("fnv1a64:"), "{provenance}");
    assert!(provenance["started_at"].as_str().unwrap().ends_with('Z'), "{provenance}");
    for student in ["ada", "bob", "eve", "zed"] {
        assert!(out.path().join(format!("reports/{student}.txt")).is_file(), "{student}'s human report");
        let page = std::fs::read_to_string(out.path().join(format!("reports/{student}.html"))).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains(student), "{student}'s HTML report");
    }
    let summary = std::fs::read_to_string(out.path().join("summary.txt")).unwrap();
    assert!(summary.contains("single-restarts"), "{summary}");
    // The engine is as it was: every run took away what it made.
    assert_eq!(engine_objects(), before, "the batch leaves nothing in the engine");

    let second = grade(class.path(), out.path());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("3 unchanged since the last run"), "only the error row is tried again: {stderr}");
    assert_eq!(std::fs::read_to_string(out.path().join("gradebook.csv")).unwrap(), gradebook, "the same gradebook");
    assert_eq!(engine_objects(), before);
}

#[test]
fn bad_batch_input_is_one_line_and_exit_2() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = cargo_bin_cmd!("xtask")
        .args(["grade", "lab2", "--submissions"])
        .arg(empty.path())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    testkit::assert_one_line_exit_2(&output, "no submissions to grade");
    let roster = empty.path().join("roster.csv");
    std::fs::write(&roster, "name,folder\nada,a\n").unwrap();
    let output = cargo_bin_cmd!("xtask")
        .args(["grade", "lab2", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    testkit::assert_one_line_exit_2(&output, "the header must name a `student` and a `path` column");
}

/// A second Docker engine on this machine, as an instructor would add one (see
/// [`xtask::engine::scratch`]), with what the test asks of it.
struct SecondEngine(xtask::engine::scratch::ScratchEngine);

impl SecondEngine {
    fn start() -> SecondEngine {
        SecondEngine(xtask::engine::scratch::ScratchEngine::start("10.213").unwrap())
    }

    fn host(&self) -> String {
        self.0.host()
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        testkit::docker_cli().args(args).env("DOCKER_HOST", self.host()).output().unwrap()
    }

    /// Containers, volumes and networks other than the three every engine has.
    fn objects(&self) -> Vec<String> {
        let mut all = Vec::new();
        for args in [
            &["ps", "-a", "--format", "{{.Names}}"][..],
            &["volume", "ls", "-q"],
            &["network", "ls", "--format", "{{.Name}}"],
        ] {
            let out = self.docker(args);
            all.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !matches!(*l, "bridge" | "host" | "none"))
                    .map(|l| format!("{} {l}", args[0])),
            );
        }
        all
    }
}

/// One queue over two engines: the lab's images are made on the first and copied to the second,
/// each engine grades a submission, and both are left as they were. Then the same class in two
/// shards, merged: the gradebook and the summary are the unsharded batch's.
#[test]
fn a_class_graded_over_two_engines_and_in_two_shards_gets_one_gradebook() {
    if !integration("a_class_graded_over_two_engines_and_in_two_shards_gets_one_gradebook") {
        return;
    }
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let second = SecondEngine::start();
    let first = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let class = tempfile::tempdir().unwrap();
    let answer = xtask::selection::solutions(&workspace(), "lab2").unwrap();
    copy_tree(answer.path(), &class.path().join("ada"));
    std::fs::create_dir(class.path().join("bob")).unwrap();
    copy_tree(&workspace().join("labs"), &class.path().join("bob/labs"));
    let before = engine_objects();
    let grade = |out: &Path, extra: &[&str]| {
        let output = cargo_bin_cmd!("xtask")
            .args(["grade", "lab2", "--step", "single-image", "--submissions"])
            .arg(class.path())
            .arg("--out")
            .arg(out)
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        stderr
    };

    let out = tempfile::tempdir().unwrap();
    let stderr = grade(out.path(), &["--jobs", "1", "--engine", &first, "--engine", &second.host()]);
    assert!(stderr.contains(&format!("to engine {}", second.host())), "the images are copied: {stderr}");
    let gradebook = std::fs::read_to_string(out.path().join("gradebook.csv")).unwrap();
    let rows: Vec<Vec<&str>> = gradebook.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{gradebook}");
    assert_eq!((rows[0][0], rows[0][2], rows[0][3], rows[0][4]), ("ada", "graded", "10", "10"), "{gradebook}");
    assert_eq!((rows[1][0], rows[1][2]), ("bob", "graded"), "{gradebook}");
    assert!(rows[1][3].parse::<u32>().unwrap() < 10, "{gradebook}");
    let engines: BTreeSet<String> = ["ada", "bob"]
        .iter()
        .map(|s| {
            std::fs::read_to_string(out.path().join(format!("logs/{s}.log")))
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: BTreeSet<String> =
        [first.clone(), second.host()].iter().map(|h| format!("grading on engine {h}")).collect();
    assert_eq!(engines, expected, "one submission on each engine");
    // And the second engine did run it (its own record of what it started).
    let events = second.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "event=start",
        "--format",
        "{{.Actor.Attributes.image}}",
    ]);
    let events = String::from_utf8_lossy(&events.stdout);
    assert!(events.contains("containerlabs/static-site"), "the second engine ran the submission: {events:?}");
    assert_eq!(engine_objects(), before, "the first engine is as it was");
    assert_eq!(second.objects(), Vec::<String>::new(), "the second engine is as it was");

    // Two shards on one engine, merged.
    let shards = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    grade(shards[0].path(), &["--shard", "1/2"]);
    grade(shards[1].path(), &["--shard", "2/2"]);
    let merged = tempfile::tempdir().unwrap();
    let output = cargo_bin_cmd!("xtask")
        .args(["grade", "lab2", "--step", "single-image", "--out"])
        .arg(merged.path())
        .arg("--merge")
        .arg(shards[0].path())
        .arg("--merge")
        .arg(shards[1].path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    for file in ["gradebook.csv", "summary.json", "summary.txt"] {
        let read = |dir: &Path| std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(read(merged.path()), read(out.path()), "{file}: the shards merged are the whole batch");
    }
    for file in ["ada.json", "ada.txt", "bob.json", "bob.txt"] {
        assert!(merged.path().join("reports").join(file).is_file(), "{file} is merged");
    }
    // A shard of another step does not merge: one line, exit 2.
    let output = cargo_bin_cmd!("xtask")
        .args(["grade", "lab2", "--out"])
        .arg(merged.path().join("again"))
        .arg("--merge")
        .arg(shards[0].path())
        .output()
        .unwrap();
    testkit::assert_one_line_exit_2(&output, "has other columns");
    assert_eq!(engine_objects(), before);
}
