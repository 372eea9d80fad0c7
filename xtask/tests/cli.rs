//! The CLI as users meet it, driven through the real binary. Hermetic: a course of file checks
//! only, built in a temporary directory, so no port or process is needed.

use assert_cmd::cargo::cargo_bin_cmd;
use serde::Deserialize;
use std::path::Path;

/// A course with one lab of file checks: passing, failing, skipped (prerequisite failed), hidden.
fn demo_course() -> (tempfile::TempDir, tempfile::TempDir) {
    let course = tempfile::tempdir().unwrap();
    let step = course.path().join("labs/files");
    std::fs::create_dir_all(&step).unwrap();
    std::fs::write(
        course.path().join("labs/labs.toml"),
        r#"format_version = 1
[[lab]]
id = "demo"
title = "Demo lab"
summary = "File checks only"
vars = { greeting = "hello" }
[[lab.step]]
id = "files"
title = "Files & <things>"
dir = "labs/files"
"#,
    )
    .unwrap();
    std::fs::write(
        step.join("rubric.toml"),
        r#"
[[check]]
id = "present"
title = "present.txt exists"
points = 2
hint = "create present.txt"
file = { path = "present.txt" }

[[check]]
id = "greets"
title = "present.txt says {greeting}"
points = 1
hint = "write {greeting} in it"
requires = ["present"]
file = { path = "present.txt", contains = ["{greeting}"] }

[[check]]
id = "missing"
title = "missing.txt exists"
points = 3
hint = "create missing.txt"
file = { path = "missing.txt" }

[[check]]
id = "after-missing"
title = "missing.txt is long"
points = 1
hint = "h"
requires = ["missing"]
file = { path = "missing.txt", matches = ".{100}" }

[[check]]
id = "secret"
title = "A hidden requirement"
points = 2
hint = "secret hint"
visibility = "hidden"
file = { path = "present.txt", contains = ["nope"] }
"#,
    )
    .unwrap();
    let submission = tempfile::tempdir().unwrap();
    std::fs::write(submission.path().join("present.txt"), "hello world\n").unwrap();
    (course, submission)
}

fn check_demo(format: &str) -> (i32, String, String) {
    let (course, submission) = demo_course();
    let output = cargo_bin_cmd!("xtask")
        .arg("--course")
        .arg(course.path())
        .args(["check", "demo", "--format", format, "--submission"])
        .arg(submission.path())
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn bare_xtask_lists_the_tasks() {
    let output = cargo_bin_cmd!("xtask").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for task in ["check <lab>", "up <lab>", "down <lab>", "doctor", "bench", "test", "lint", "ci"] {
        assert!(text.contains(task), "{task} missing from:\n{text}");
    }
    let mut listed = std::collections::BTreeSet::new();
    for task in text.lines().filter(|l| l.starts_with("  ")).filter_map(|l| l.split_whitespace().next()) {
        assert!(listed.insert(task), "{task} is listed twice:\n{text}");
    }
}

/// Runs the CLI and asserts exit code 2 with exactly one `error:` line containing `expected`.
fn check_error(args: &[&str], course: Option<&Path>, expected: &str) {
    let mut command = cargo_bin_cmd!("xtask");
    if let Some(course) = course {
        command.arg("--course").arg(course);
    }
    let output = command.args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line expected, got:\n{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_gives_one_line_and_exit_2() {
    check_error(&["check", "lab9"], None, "unknown lab 'lab9' (labs: lab1, lab2, lab3)");
    check_error(
        &["check", "lab1", "--step", "nope"],
        None,
        "lab 'lab1' has no step 'nope' (steps: static-site, app-port)",
    );
    check_error(
        &["check", "lab1", "--submission", "/no/such/dir"],
        None,
        "submission directory '/no/such/dir' does not exist",
    );
    check_error(
        &["check", "lab1", "--var", "colour=red"],
        None,
        "lab1 has no variable 'colour' (variables: app_port, board_port, host, nginx_image, site_container, site_listen, site_port)",
    );
    check_error(&["check", "lab1", "--var", "site_port"], None, "--var 'site_port' is not name=value");
    check_error(&["down", "lab9"], None, "unknown lab 'lab9'");
    check_error(&["bench", "everything"], None, "unknown bench 'everything'");

    let (course, _) = demo_course();
    check_error(&["check", "demo", "--up"], Some(course.path()), "demo (files) has nothing to start with --up");

    let rubric = course.path().join("labs/files/rubric.toml");
    std::fs::write(&rubric, "[[check]]\nid = \"x\"\ntitle = \"X\"\npoints = \"many\"\n").unwrap();
    check_error(
        &["check", "demo"],
        Some(course.path()),
        "rubric.toml is malformed: line 4: invalid type: string \"many\", expected u32",
    );

    std::fs::write(course.path().join("labs/labs.toml"), "format_version = 1\n[[lab]\n").unwrap();
    check_error(&["check", "demo"], Some(course.path()), "labs.toml is malformed: line 2:");

    std::fs::remove_file(course.path().join("labs/labs.toml")).unwrap();
    check_error(&["check", "demo"], Some(course.path()), "cannot read");
}

#[test]
fn terminal_report_shows_why_and_hides_hidden_details() {
    let (code, stdout, _) = check_demo("tty");
    assert_eq!(code, 1, "some checks fail");
    assert!(!stdout.contains('\x1b'), "no colour when not on a terminal");
    assert!(stdout.contains("PASS greets"), "{stdout}");
    assert!(stdout.contains("present.txt says hello"), "titles expand variables: {stdout}");
    assert!(stdout.contains("expected: a file missing.txt"), "{stdout}");
    assert!(stdout.contains("actual:   missing.txt does not exist"), "{stdout}");
    assert!(stdout.contains("hint:     create missing.txt"), "{stdout}");
    assert!(stdout.contains("skipped: requires missing, which did not pass"), "{stdout}");
    assert!(!stdout.contains("secret hint") && !stdout.contains("A hidden requirement"), "{stdout}");
    assert!(stdout.contains("Score 3/9 points (33%): 2 passed, 2 failed, 1 skipped"), "{stdout}");
}

#[test]
fn json_report_has_format_version_and_every_check() {
    let (code, stdout, _) = check_demo("json");
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["format_version"], 1);
    assert_eq!((report["score"].as_u64(), report["max_score"].as_u64()), (Some(3), Some(9)));
    let statuses: Vec<&str> =
        report["steps"][0]["checks"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["passed", "passed", "failed", "skipped", "failed"]);
}

/// Gradescope's results.json, as its documentation describes it: unknown fields are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GradescopeResults {
    score: f64,
    execution_time: u64,
    output: String,
    output_format: OutputFormat,
    visibility: Visibility,
    stdout_visibility: Visibility,
    tests: Vec<GradescopeTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GradescopeTest {
    score: f64,
    max_score: f64,
    status: TestStatus,
    name: String,
    number: String,
    output: String,
    output_format: OutputFormat,
    tags: Vec<String>,
    visibility: Visibility,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Visibility {
    Hidden,
    AfterDueDate,
    AfterPublished,
    Visible,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum TestStatus {
    Passed,
    Failed,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutputFormat {
    Text,
    Html,
    SimpleFormat,
    Md,
    Ansi,
}

#[test]
fn gradescope_results_follow_gradescope_format() {
    let (code, stdout, _) = check_demo("gradescope");
    assert_eq!(code, 1);
    let results: GradescopeResults = serde_json::from_str(&stdout).unwrap();
    assert_eq!(results.tests.len(), 5);
    let sum: f64 = results.tests.iter().map(|t| t.score).sum();
    assert_eq!(results.score, sum, "the total is the sum of the tests");
    for test in &results.tests {
        assert!(test.score <= test.max_score);
        assert_eq!(test.status == TestStatus::Passed, test.score == test.max_score, "{test:?}");
    }
    assert_eq!(results.tests[4].visibility, Visibility::Hidden);
    assert!(results.tests[2]
        .output
        .contains("expected: a file missing.txt\nactual: missing.txt does not exist\nhint: create missing.txt"));
    assert!(results.tests[3].output.starts_with("skipped: requires missing"));
}

#[test]
fn junit_report_is_well_formed_and_consistent() {
    let (code, stdout, _) = check_demo("junit");
    assert_eq!(code, 1);
    let doc = roxmltree::Document::parse(&stdout).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let number =
        |node: roxmltree::Node<'_, '_>, attr: &str| -> usize { node.attribute(attr).unwrap().parse().unwrap() };
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert!(suites.iter().all(|s| s.tag_name().name() == "testsuite"));
    let mut totals = (0, 0, 0);
    for suite in &suites {
        let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
        let failures = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("failure"))).count();
        let skipped = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("skipped"))).count();
        assert_eq!(
            (number(*suite, "tests"), number(*suite, "failures"), number(*suite, "skipped")),
            (cases.len(), failures, skipped)
        );
        for case in &cases {
            assert!(case.attribute("classname").is_some() && case.attribute("name").is_some());
            case.attribute("time").unwrap().parse::<f64>().expect("time is seconds");
            let allowed = ["properties", "failure", "skipped", "error", "system-out", "system-err"];
            assert!(case.children().filter(|n| n.is_element()).all(|n| allowed.contains(&n.tag_name().name())));
        }
        totals = (totals.0 + cases.len(), totals.1 + failures, totals.2 + skipped);
    }
    assert_eq!((number(root, "tests"), number(root, "failures"), number(root, "skipped")), totals);
    assert_eq!(totals, (5, 2, 1));
    let title = suites[0].descendants().find(|n| n.attribute("name") == Some("title")).unwrap();
    assert_eq!(title.attribute("value"), Some("Files & <things>"), "escaped and read back intact");
}

#[test]
fn out_writes_the_report_to_a_file_and_creates_its_directory() {
    let (course, submission) = demo_course();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("nested/results.json");
    let output = cargo_bin_cmd!("xtask")
        .arg("--course")
        .arg(course.path())
        .args(["check", "demo", "--format", "gradescope", "--submission"])
        .arg(submission.path())
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("demo: 3/9 points; report written to"));
    serde_json::from_str::<GradescopeResults>(&std::fs::read_to_string(file).unwrap()).unwrap();
}

#[test]
fn out_gets_a_report_on_exit_2_too_that_says_why_and_runs_nothing() {
    let (course, _) = demo_course();
    let out = tempfile::tempdir().unwrap();
    let missing = out.path().join("no-such-submission");
    for (format, file) in [("json", "report.json"), ("gradescope", "results.json")] {
        let file = out.path().join(file);
        let output = cargo_bin_cmd!("xtask")
            .arg("--course")
            .arg(course.path())
            .args(["check", "demo", "--format", format, "--submission"])
            .arg(&missing)
            .arg("--out")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if format == "json" {
            assert!(report["error"].as_str().unwrap().contains("does not exist"), "{report:#}");
            assert_eq!((report["score"].as_u64(), report["max_score"].as_u64()), (Some(0), Some(9)), "{report:#}");
            assert_eq!(report["counts"]["skipped"], 5, "every check, not run: {report:#}");
            assert!(report["steps"][0]["checks"][0]["reason"].as_str().unwrap().starts_with("not run: "));
        } else {
            serde_json::from_value::<GradescopeResults>(report.clone()).unwrap();
            assert!(report["output"].as_str().unwrap().contains("could not be graded"), "{report:#}");
            assert_eq!(report["score"], 0);
        }
    }
    // Not even the lab: still a report, with the error.
    let file = out.path().join("unknown.json");
    let output = cargo_bin_cmd!("xtask")
        .arg("--course")
        .arg(course.path())
        .args(["check", "nolab", "--format", "json", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(report["error"].as_str().unwrap().contains("unknown lab 'nolab'"), "{report:#}");
}

#[test]
fn the_curriculum_and_every_rubric_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let curriculum = grading::Curriculum::load(root).unwrap();
    let problems = curriculum.validate();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `labs/images.toml` proved against `labs.toml`, as rustlings' `dev check` proves its
/// exercises: every official image a lab names (its `*_image` variables, its services' images)
/// has a stand-in whose folder under `images/` has a Dockerfile, and every image family a lab's
/// roles pick among (its `*_images` variables) is a family of one of the catalogue's roles.
#[test]
fn the_image_catalogue_covers_every_lab() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let catalogue = xtask::engine::images::catalogue_of_images();
    let curriculum = grading::Curriculum::load(root).unwrap();
    let families: Vec<&String> = catalogue.roles.values().flatten().collect();
    // The project's own images (built from the course's code) and placeholders are not official.
    let ours: Vec<String> = xtask::engine::images::catalogue(root).into_iter().map(|i| i.tag).collect();
    let official_of_ours = |image: &str| ours.iter().any(|o| o == image) || image.contains('{');
    let mut problems = Vec::new();
    let (mut images, mut family_count) = (0, 0);
    for lab in &curriculum.labs {
        let named = lab
            .vars
            .iter()
            .filter(|(name, image)| name.ends_with("_image") && !official_of_ours(image))
            .map(|(_, image)| image.clone())
            .chain(lab.services.iter().flat_map(|s| s.images.clone()).filter(|i| !official_of_ours(i)));
        for image in named {
            images += 1;
            match catalogue.stand_ins.iter().find(|s| s.official == image) {
                None => problems.push(format!("{}: {image} has no stand-in", lab.id)),
                Some(s) if !s.dir.is_empty() && !root.join("images").join(&s.dir).join("Dockerfile").is_file() => {
                    problems.push(format!("{}: the stand-in of {image} has no images/{}/Dockerfile", lab.id, s.dir))
                }
                Some(_) => {}
            }
        }
        for (name, value) in lab.vars.iter().filter(|(name, _)| name.ends_with("_images")) {
            for family in value.split([' ', ',']).filter(|f| !f.is_empty()) {
                family_count += 1;
                if !families.iter().any(|f| f.as_str() == family) {
                    problems.push(format!("{}: {name} names {family}, which no role of labs/images.toml has", lab.id));
                }
            }
        }
    }
    assert!(
        images > 5 && family_count > 10,
        "the scan found what the labs name ({images} images, {family_count} families)"
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(root.join("images").join(&catalogue.toolbox.dir).join("Dockerfile").is_file());
    // The parser refuses what the catalogue must not hold.
    let good = std::fs::read_to_string(root.join("labs/images.toml")).unwrap();
    assert!(xtask::engine::images::parse_catalogue(&good).is_ok());
    for (bad, why) in [
        (
            good.replace("tag = \"containerlabs/nginx:1.27-standin\"", "tag = \"nginx:1.27\""),
            "a stand-in under the official name",
        ),
        (good.replace("dir = \"redis\"", "dir = \"redis\"\nsize = 1"), "an unknown key"),
        (good.replace("official = \"redis:7.0\"", "official = \"mariadb:10.11\""), "one official image twice"),
    ] {
        assert!(xtask::engine::images::parse_catalogue(&bad).is_err(), "{why}");
    }
}
