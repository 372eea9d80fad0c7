//! `cargo xtask course export`: the student repository holds no answer, and in a fresh clone of
//! it the commands its README gives run. A course with an answer in the wrong place is refused
//! and leaves nothing. A newcomer in labs 2 and 3 runs what the chapters show (lab 1's newcomer,
//! whose runs need an engine, is in `lab1.rs`). None of it reaches the Docker engine. The fresh
//! clone builds the grader (minutes): integration.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn export(course: &Path, out: &Path) -> std::process::Output {
    cargo_bin_cmd!("xtask").arg("--course").arg(course).args(["course", "export"]).arg(out).output().unwrap()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

/// The course's answers: every solution file that differs from the starter at its place.
fn answers(course: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut answers = Vec::new();
    for step in std::fs::read_dir(course.join("labs")).unwrap().flatten() {
        let solution = step.path().join("solution");
        if !solution.is_dir() {
            continue;
        }
        for file in files(&solution) {
            let bytes = std::fs::read(&file).unwrap();
            let starter = std::fs::read(step.path().join(file.strip_prefix(&solution).unwrap())).ok();
            if starter.as_deref() != Some(bytes.as_slice()) {
                answers.push((file, bytes));
            }
        }
    }
    answers
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Course", "-c", "user.email=course@example.test", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_student_repository_has_no_answer() {
    let out = tempfile::tempdir().unwrap();
    let repo = out.path().join("student");
    let output = export(&workspace(), &repo);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let exported = files(&repo);
    let answers = answers(&workspace());
    assert!(answers.len() >= 10, "the course has its answers: {}", answers.len());
    for file in &exported {
        let relative = file.strip_prefix(&repo).unwrap();
        assert!(!relative.components().any(|c| c.as_os_str() == "solution"), "{}", relative.display());
        assert!(
            !relative.starts_with("xtask/tests") && !relative.starts_with("labs/compose/tests"),
            "{}",
            relative.display()
        );
        let Ok(bytes) = std::fs::read(file) else { continue };
        for (answer, content) in &answers {
            assert!(&bytes != content, "{} is the answer {}", relative.display(), answer.display());
        }
    }
    // What a student needs is there: every step's handout, rubric and starter files.
    for path in [
        "labs/labs.toml",
        "labs/static-site/site/index.html",
        "labs/single-image/run.sh",
        "labs/web-db/Dockerfile",
        "labs/compose/compose.yaml",
        "labs/reverse-proxy/nginx/proxy.conf",
        ".github/workflows/grade.yml",
        "images/static-site/site/index.html",
    ] {
        assert!(repo.join(path).is_file(), "{path} is exported");
    }
    assert!(repo.join("grading/tests/snapshots/report.json").is_file(), "the unit tests' snapshots go along");
    for path in
        [".ci/run", ".github/workflows/ci.yml", ".github/workflows/grade-class.yml", "grading/tests/webdb_files.rs"]
    {
        assert!(!repo.join(path).exists(), "{path} stays with the course");
    }
    // A second export into the same folder is refused: one line, exit 2.
    testkit::assert_one_line_exit_2(&export(&workspace(), &repo), "is not an empty folder");
}

/// A known-bad course: an answer copied beside the starter (not in `solution/`). The export
/// refuses it, says which file, and writes nothing.
#[test]
fn an_answer_outside_solution_folders_is_refused_and_nothing_is_written() {
    let course = tempfile::tempdir().unwrap();
    for item in ["Cargo.toml", "labs"] {
        let status = Command::new("cp").arg("-a").arg(workspace().join(item)).arg(course.path()).status().unwrap();
        assert!(status.success());
    }
    std::fs::copy(
        workspace().join("labs/single-image/solution/run.sh"),
        course.path().join("labs/single-image/run.answer.sh"),
    )
    .unwrap();
    let out = course.path().join("export");
    let output = export(course.path(), &out);
    testkit::assert_one_line_exit_2(&output, "labs/single-image/run.answer.sh is the course's answer");
    assert!(!out.exists(), "nothing is left of a refused export");
}

/// A known-bad course: its `.gitignore` ignores the folder lab 2's certificate goes in (what it
/// did before). A student's `git add -A` would push lab 2 without it; the export refuses, names
/// the file and the pattern, and writes nothing. Git's own negation is understood too.
#[test]
fn a_gitignore_that_ignores_finished_work_is_refused_and_nothing_is_written() {
    let course = tempfile::tempdir().unwrap();
    for item in ["Cargo.toml", "labs", ".gitignore"] {
        let status = Command::new("cp").arg("-a").arg(workspace().join(item)).arg(course.path()).status().unwrap();
        assert!(status.success());
    }
    let ignore = course.path().join(".gitignore");
    let course_ignore = std::fs::read_to_string(&ignore).unwrap();
    std::fs::write(&ignore, format!("{course_ignore}/labs/reverse-proxy/certs/\n")).unwrap();
    let out = course.path().join("export");
    let output = export(course.path(), &out);
    testkit::assert_one_line_exit_2(
        &output,
        "ignores labs/reverse-proxy/certs/localhost.crt (/labs/reverse-proxy/certs/), a file finished work needs",
    );
    assert!(!out.exists(), "nothing is left of a refused export");
    // Ignoring every *.key but not lab 2's (a negation) is fine: git decides, not a guess.
    std::fs::write(&ignore, format!("{course_ignore}*.key\n*.crt\n!labs/**/certs/*\n")).unwrap();
    let output = export(course.path(), &out);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

/// In a fresh clone of the student repository, each command of the README's "Start here" block
/// runs: the grader builds, and the untouched starters are graded (exit 1, hints naming TODOs),
/// never refused as an error (exit 2).
#[test]
fn in_a_fresh_clone_the_readme_commands_run() {
    if !integration("in_a_fresh_clone_the_readme_commands_run") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let repo = out.path().join("student");
    let output = export(&workspace(), &repo);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "The course"]);
    git(out.path(), &["clone", "-q", "student", "clone"]);
    let clone = out.path().join("clone");

    let readme = std::fs::read_to_string(clone.join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a sh block");
    let commands: Vec<&str> =
        block.lines().map(|l| l.split('#').next().unwrap().trim()).filter(|l| !l.is_empty()).collect();
    assert!(commands.len() >= 3 && commands.iter().all(|c| c.starts_with("cargo xtask ")), "{commands:?}");
    // The clone's own build: its programs in a target folder of their own (never over this
    // workspace's `xtask`), its intermediate artifacts beside this build's (cargo's build-dir), so
    // the crates.io dependencies compiled for this build are not compiled again.
    let build_dir = std::env::current_exe().unwrap().ancestors().nth(3).unwrap().to_path_buf();
    let target = out.path().join("target");
    for command in commands {
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&clone)
            .args(&args)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_BUILD_BUILD_DIR", &build_dir)
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        match args.get(1) {
            Some(&"doctor") => assert_eq!(output.status.code(), Some(0), "{command}: {stdout}\n{stderr}"),
            _ => {
                assert_eq!(output.status.code(), Some(1), "{command}: the starter is graded: {stdout}\n{stderr}");
                assert!(stdout.contains("TODO("), "{command}: hints name the TODOs: {stdout}");
            }
        }
    }
}

/// Extracts `zip` into `to` as Gradescope does (file modes kept: the scripts stay executable).
fn unzip(zip: &Path, to: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    archive.extract(to).unwrap();
    names
}

/// Gradescope's machine, as far as the autograder can tell: `source/` (the zip), `submission/`,
/// `results/`. Runs `run_autograder` on `submission` and returns results.json.
fn autograde(zip: &Path, submission: &Path) -> serde_json::Value {
    let root = tempfile::tempdir().unwrap();
    let names = unzip(zip, &root.path().join("source"));
    assert!(names.iter().any(|n| n == "setup.sh") && names.iter().any(|n| n == "run_autograder"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("/solution/") || n.starts_with("grader/xtask/tests")), "{names:?}");
    let status = Command::new("cp").arg("-a").arg(submission).arg(root.path().join("submission")).status().unwrap();
    assert!(status.success());
    let output = Command::new(root.path().join("source/run_autograder"))
        .env("AUTOGRADER_ROOT", root.path())
        // The grader built here stands in for the one setup.sh builds on Gradescope.
        .env("CLABS_XTASK", env!("CARGO_BIN_EXE_xtask"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let results = std::fs::read_to_string(root.path().join("results/results.json")).unwrap_or_default();
    serde_json::from_str(&results).unwrap_or_else(|e| panic!("results.json: {e}: {results}\n{stderr}"))
}

fn total(results: &serde_json::Value) -> (f64, f64) {
    let tests = results["tests"].as_array().unwrap();
    (
        tests.iter().map(|t| t["score"].as_f64().unwrap()).sum(),
        tests.iter().map(|t| t["max_score"].as_f64().unwrap()).sum(),
    )
}

/// The Gradescope autograder for lab 1 grades it whole without an engine (the student's server
/// block in this machine's nginx); lab 2's grades the files, and lists what needs an engine as
/// not run, with its points.
#[test]
fn the_gradescope_autograder_grades_what_runs_without_an_engine() {
    if !integration("the_gradescope_autograder_grades_what_runs_without_an_engine") {
        return;
    }
    xtask::engine::install_tool("nginx", "nginx-light", "lab 1 without an engine").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zip = |lab: &str| {
        let zip = dir.path().join(format!("{lab}.zip"));
        let output = cargo_bin_cmd!("xtask").args(["export", "gradescope", lab, "--out"]).arg(&zip).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        zip
    };

    let lab1 = zip("lab1");
    let answer = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    let results = autograde(&lab1, answer.path());
    let (score, max) = total(&results);
    assert_eq!((results["score"].as_f64(), score, max), (Some(36.0), 36.0, 36.0), "{results:#}");
    assert!(!results["output"].as_str().unwrap().contains("Not run here"), "lab 1 runs whole: {results:#}");
    let starter = tempfile::tempdir().unwrap();
    let status = Command::new("cp").arg("-a").arg(workspace().join("labs")).arg(starter.path()).status().unwrap();
    assert!(status.success());
    let results = autograde(&lab1, starter.path());
    let (score, max) = total(&results);
    assert!(score < max && results["score"].as_f64() == Some(score), "{results:#}");
    let outputs: Vec<&str> = results["tests"].as_array().unwrap().iter().filter_map(|t| t["output"].as_str()).collect();
    assert!(outputs.iter().any(|o| o.contains("TODO(")), "hints name the TODOs: {outputs:?}");

    let lab2 = zip("lab2");
    let answer = xtask::selection::solutions(&workspace(), "lab2").unwrap();
    let results = autograde(&lab2, answer.path());
    let output = results["output"].as_str().unwrap();
    assert!(
        output.contains("Not run here:") && output.contains("single-image / single-running (2 points)"),
        "{output}"
    );
    let names: Vec<&str> = results["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.contains("webdb-dockerfile-user")), "the Dockerfile's rules run: {names:?}");
    assert!(!names.iter().any(|n| n.contains("single-running")), "{names:?}");
    let (score, max) = total(&results);
    assert_eq!((score, results["score"].as_f64()), (max, Some(max)), "the answer passes what runs: {results:#}");
}

/// A newcomer in labs 2 and 3, their work done (the course's answers laid over the starters of a
/// fresh student repository): every `check` the chapters show runs in their repository as
/// written - those that grade what needs no engine pass on a machine without one, and none names
/// what a student repository lacks (`--solutions`) - and every score a chapter quotes for an
/// `--up` run is the whole of what that run grades. (The `--up` runs themselves are graded through
/// git in `roundtrip.rs`, for two students of every lab.)
#[test]
fn a_newcomer_in_labs_2_and_3_runs_what_the_chapters_show_and_reads_true_scores() {
    let out = tempfile::tempdir().unwrap();
    let repo = out.path().join("student");
    let output = cargo_bin_cmd!("xtask").args(["course", "export"]).arg(&repo).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let root = workspace();
    let curriculum = grading::Curriculum::load(&root).unwrap();
    let dead = format!("unix://{}", out.path().join("no-engine.sock").display());
    let mut ran = Vec::new();
    let mut quoted = Vec::new();
    for lab in curriculum.labs.iter().filter(|l| matches!(l.id.as_str(), "lab2" | "lab3")) {
        for step in &lab.steps {
            let solution = root.join(&step.dir).join("solution");
            if solution.is_dir() {
                copy_into(&solution, &repo.join(&step.dir));
            }
        }
        for step in &lab.steps {
            let chapter = std::fs::read_to_string(repo.join(&step.dir).join("README.md")).unwrap();
            let tasks = chapter.split("\n## Tasks\n").nth(1).expect("a Tasks section");
            let tasks = tasks.split("\n## ").next().unwrap();
            // Commands as typed: a line of a block (up to its comment), or inline code (which may
            // wrap), each with where it is in the tasks.
            let mut commands: Vec<(usize, String)> = Vec::new();
            let mut in_block = false;
            let mut offset = 0;
            for line in tasks.split_inclusive('\n') {
                if line.trim_start().starts_with("```") {
                    in_block = !in_block;
                } else if in_block {
                    let typed = line.split(" #").next().unwrap().trim();
                    if typed.starts_with("cargo xtask check ") {
                        commands.push((offset, typed.split_whitespace().collect::<Vec<_>>().join(" ")));
                    }
                }
                offset += line.len();
            }
            let prose: String = {
                // Inline code outside blocks, across line ends.
                let mut text = String::new();
                let mut in_block = false;
                for line in tasks.split_inclusive('\n') {
                    if line.trim_start().starts_with("```") {
                        in_block = !in_block;
                        text.push_str(&" ".repeat(line.len()));
                    } else if in_block {
                        text.push_str(&" ".repeat(line.len()));
                    } else {
                        text.push_str(line);
                    }
                }
                text
            };
            let mut at = 0;
            for (i, span) in prose.split('`').enumerate() {
                let flat = span.split_whitespace().collect::<Vec<_>>().join(" ");
                if i % 2 == 1 && flat.starts_with("cargo xtask check ") {
                    commands.push((at, flat));
                }
                at += span.len() + 1;
            }
            commands.sort();
            assert!(!commands.is_empty(), "{}: its tasks show no check", step.id);
            for (at, command) in commands {
                let args: Vec<&str> = command.split_whitespace().skip(2).collect();
                assert!(!args.contains(&"--solutions"), "{}: `{command}` needs the instructor's course", step.id);
                assert_eq!(args.get(1), Some(&lab.id.as_str()), "{}: `{command}`", step.id);
                let graded_step = args.iter().position(|a| *a == "--step").map(|i| args[i + 1]);
                if args.contains(&"--up") {
                    // The score it quotes next is the whole of the run.
                    let Some((_, rest)) = tasks[at..].split_once("Score ") else { continue };
                    let score = rest.split(" points").next().unwrap();
                    let steps: Vec<&grading::Step> =
                        lab.steps.iter().filter(|s| graded_step.is_none_or(|id| s.id == id)).collect();
                    let most: u32 = steps.iter().map(|s| curriculum.rubric(lab, s).unwrap().max_points()).sum();
                    assert_eq!(score, format!("{most}/{most}"), "{}: `{command}` quotes Score {score}", step.id);
                    quoted.push(command);
                    continue;
                }
                let output = cargo_bin_cmd!("xtask")
                    .args(&args)
                    .arg("--submission")
                    .arg(&repo)
                    .args(["--format", "json"])
                    .env("DOCKER_HOST", &dead)
                    .output()
                    .unwrap();
                let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert_eq!(output.status.code(), Some(0), "{}: `{command}`:\n{stderr}\n{report:#}", step.id);
                assert!(stderr.contains("no Docker engine answers"), "{}: `{command}`: {stderr}", step.id);
                ran.push(command);
            }
        }
    }
    ran.dedup();
    quoted.dedup();
    eprintln!("ran, with no engine: {ran:?}\nscores read against the rubrics: {quoted:?}");
    assert!(ran.len() >= 4 && quoted.len() >= 4, "ran {ran:?}, quoted {quoted:?}");
}

/// Copies the files under `from` into `to`, over what is there.
fn copy_into(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_into(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
