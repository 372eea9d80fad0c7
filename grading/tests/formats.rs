//! Each platform writer's output against the platform's documented shape
//! (`../shared/reference/grading-formats.md`): the fields it reads, their types, their allowed
//! values - for a report with every status, a hidden check, and one that could not be graded.

use grading::report::{classroom, gradescope, prairielearn, sample};
use serde_json::Value;

fn reports() -> Vec<grading::Report> {
    let mut not_graded = sample();
    not_graded.error = Some("the engine stopped answering".into());
    vec![sample(), not_graded, without_engine()]
}

/// A report from a machine with no Docker engine: two checks set aside.
fn without_engine() -> grading::Report {
    let mut report = sample();
    for (id, points) in [("single-running", 2), ("single-http", 1)] {
        report.not_run.push(grading::NotRun {
            step: "single-image".into(),
            id: id.into(),
            title: format!("{id}'s title"),
            points,
            why: "it reads the containers' state from a Docker engine (this machine has none)".into(),
        });
    }
    report
}

#[test]
fn checks_not_run_here_are_said_and_out_of_the_total() {
    let report = without_engine();
    let gradescope = gradescope::to_json(&report);
    let output = gradescope["output"].as_str().unwrap();
    assert!(output.contains("Not run here: 2 checks (3 points)"), "{output}");
    assert!(output.contains("single-image / single-running (2 points): it reads"), "{output}");
    let tests = gradescope["tests"].as_array().unwrap();
    assert!(tests.iter().all(|t| !t["name"].as_str().unwrap().contains("single-")), "not tests: {gradescope:#}");
    let sum: f64 = tests.iter().map(|t| t["score"].as_f64().unwrap()).sum();
    assert_eq!(gradescope["score"].as_f64(), Some(sum), "the total is what ran");
    let ours = grading::report::json::to_json(&report);
    assert_eq!(ours["not_run"][1]["id"], "single-http");
    assert_eq!(ours["max_score"], grading::report::json::to_json(&sample())["max_score"]);
    assert!(grading::report::json::to_json(&sample()).get("not_run").is_none(), "absent when nothing was set aside");
    let text = grading::report::tty::render(&report, false);
    assert!(text.contains("Not run here") && text.contains("single-http (1 point)"), "{text}");
    let prairielearn = prairielearn::to_json(&report);
    assert!(prairielearn["message"].as_str().unwrap().contains("Not run here"), "{prairielearn:#}");
}

fn number(v: &Value) -> bool {
    v.is_number()
}

/// A field's name and what its value must be.
type Field<'a> = (&'a str, fn(&Value) -> bool);

/// Fails with the path of the first field that breaks `shape`.
fn fields(value: &Value, shape: &[Field<'_>], at: &str) {
    let object = value.as_object().unwrap_or_else(|| panic!("{at} is not an object: {value}"));
    for (name, ok) in shape {
        let field = object.get(*name).unwrap_or_else(|| panic!("{at}.{name} is missing: {value}"));
        assert!(ok(field), "{at}.{name} has the wrong type or value: {field}");
    }
}

#[test]
fn gradescope_results_have_gradescopes_shape() {
    for report in reports() {
        let json = gradescope::to_json(&report);
        fields(
            &json,
            &[("score", number), ("execution_time", number), ("output", Value::is_string), ("tests", Value::is_array)],
            "results",
        );
        assert!(matches!(json["output_format"].as_str(), Some("text" | "html" | "simple_format" | "md" | "ansi")));
        for visibility in [&json["visibility"], &json["stdout_visibility"]] {
            assert!(matches!(visibility.as_str(), Some("hidden" | "after_due_date" | "after_published" | "visible")));
        }
        for (i, test) in json["tests"].as_array().unwrap().iter().enumerate() {
            let at = format!("tests[{i}]");
            fields(
                test,
                &[
                    ("score", number),
                    ("max_score", number),
                    ("name", Value::is_string),
                    ("output", Value::is_string),
                    ("tags", Value::is_array),
                ],
                &at,
            );
            assert!(matches!(test["status"].as_str(), Some("passed" | "failed")), "{at}");
            assert!(
                matches!(
                    test["visibility"].as_str(),
                    Some("hidden" | "after_due_date" | "after_published" | "visible")
                ),
                "{at}"
            );
            assert!(test["score"].as_f64() <= test["max_score"].as_f64(), "{at}");
        }
    }
}

#[test]
fn prairielearn_results_have_prairielearns_shape() {
    for report in reports() {
        let json = prairielearn::to_json(&report);
        fields(
            &json,
            &[
                ("score", number),
                ("gradable", Value::is_boolean),
                ("message", Value::is_string),
                ("output", Value::is_string),
                ("tests", Value::is_array),
            ],
            "results",
        );
        let score = json["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score), "score is a fraction: {score}");
        assert_eq!(json["gradable"], report.error.is_none(), "not gradable exactly when the grader failed");
        for (i, test) in json["tests"].as_array().unwrap().iter().enumerate() {
            let at = format!("tests[{i}]");
            fields(
                test,
                &[
                    ("name", Value::is_string),
                    ("description", Value::is_string),
                    ("points", number),
                    ("max_points", number),
                    ("message", Value::is_string),
                    ("output", Value::is_string),
                ],
                &at,
            );
            assert!(test["points"].as_f64() <= test["max_points"].as_f64(), "{at}");
        }
        assert!(serde_json::to_string(&json).unwrap().len() < 1_000_000, "under PrairieLearn's size limit");
    }
}

#[test]
fn classroom_results_have_the_runner_shape() {
    for report in reports() {
        let json = classroom::to_json(&report);
        assert_eq!(json["version"], 1);
        assert!(matches!(json["status"].as_str(), Some("pass" | "fail" | "error")));
        fields(&json, &[("max_score", number), ("tests", Value::is_array)], "result");
        let mut sum = 0;
        for (i, test) in json["tests"].as_array().unwrap().iter().enumerate() {
            let at = format!("tests[{i}]");
            fields(
                test,
                &[
                    ("name", Value::is_string),
                    ("score", number),
                    ("message", Value::is_string),
                    ("test_code", Value::is_string),
                    ("filename", Value::is_string),
                    ("line_no", number),
                    ("duration", number),
                ],
                &at,
            );
            assert!(matches!(test["status"].as_str(), Some("pass" | "fail" | "error")), "{at}");
            sum += test["score"].as_u64().unwrap();
        }
        assert_eq!(sum, u64::from(report.score()), "the reporter's sum is the report's score");
        assert_eq!(json["max_score"], report.max_score());
    }
}
