//! GitHub Classroom's autograding runner result: `{version: 1, status, max_score, tests}`, which
//! Classroom's grading reporter reads (base64-encoded, from the runner step's `result` output)
//! and sums into the "Autograding Tests" check run ("Points X/Y"). One test per check, its score
//! the check's points (Classroom has no partial credit inside a test, so per-check tests give it).

use super::{Report, Status};
use serde_json::{json, Value};

pub fn to_json(report: &Report) -> Value {
    let tests: Vec<Value> = report
        .checks()
        .map(|(step, check)| {
            let shows = check.visibility.shows_details();
            let message = match check.status {
                Status::Passed => String::new(),
                Status::Failed if shows => format!(
                    "expected: {}; actual: {}; hint: {}",
                    check.expected.as_deref().unwrap_or(""),
                    check.actual.as_deref().unwrap_or(""),
                    check.hint
                ),
                Status::Failed => "failed (a hidden check)".to_string(),
                Status::Skipped => format!("skipped: {}", check.reason.as_deref().unwrap_or("")),
            };
            json!({
                "name": format!("{} / {}: {}", step.id, check.id, if shows { check.title.as_str() } else { "hidden check" }),
                "status": if check.status == Status::Passed { "pass" } else { "fail" },
                "score": check.score(),
                "message": message,
                "test_code": format!("cargo xtask check {} --step {}", report.lab, step.id),
                "filename": "",
                "line_no": 0,
                "duration": check.duration.as_millis() as u64,
            })
        })
        .collect();
    let status = match (&report.error, report.full_marks()) {
        (Some(_), _) => "error",
        (None, true) => "pass",
        (None, false) => "fail",
    };
    json!({
        "version": 1,
        "status": status,
        "max_score": report.max_score(),
        "tests": tests,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot() {
        let text = serde_json::to_string_pretty(&super::to_json(&super::super::sample())).unwrap();
        expect_test::expect_file!["../../tests/snapshots/classroom.json"].assert_eq(&text);
    }
}
