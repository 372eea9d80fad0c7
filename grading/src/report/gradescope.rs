//! Gradescope's autograder `results.json`.
//!
//! One test per check, named `step / id: title`, numbered `step.check`; tags are the step id.
//! Hidden checks keep Gradescope's own visibility values so students see them only when the
//! instructor allows; the top-level `score` is always the sum, so totals are never hidden.
//! Checks the machine could not run (no Docker engine: Gradescope's autograder) are not tests:
//! the top-level output lists them, each with its points and why.

use super::{Report, Status};
use crate::rubric::Visibility;
use serde_json::{json, Value};

pub fn to_json(report: &Report) -> Value {
    let mut tests = Vec::new();
    for (s, step) in report.steps.iter().enumerate() {
        for (c, check) in step.checks.iter().enumerate() {
            let output = match check.status {
                Status::Passed => "passed".to_string(),
                Status::Failed => format!(
                    "expected: {}\nactual: {}\nhint: {}",
                    check.expected.as_deref().unwrap_or(""),
                    check.actual.as_deref().unwrap_or(""),
                    check.hint
                ),
                Status::Skipped => format!("skipped: {}", check.reason.as_deref().unwrap_or("")),
            };
            tests.push(json!({
                "name": format!("{} / {}: {}", step.id, check.id, check.title),
                "number": format!("{}.{}", s + 1, c + 1),
                "score": check.score(),
                "max_score": check.max_score,
                "status": if check.status == Status::Passed { "passed" } else { "failed" },
                "output": output,
                "output_format": "text",
                "tags": [step.id],
                "visibility": gradescope_visibility(check.visibility),
            }));
        }
    }
    json!({
        "score": report.score(),
        "execution_time": report.duration.as_secs_f64().ceil() as u64,
        "output": match &report.error {
            Some(error) => format!("{}: could not be graded: {error}", report.lab),
            None => format!("{}\n{}{}", report.summary_line(), report.not_run_text(), report.notes_text()).trim_end().to_string(),
        },
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    })
}

fn gradescope_visibility(visibility: Visibility) -> &'static str {
    // Gradescope's own words are ours.
    visibility.as_str()
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot() {
        let text = serde_json::to_string_pretty(&super::to_json(&super::super::sample())).unwrap();
        expect_test::expect_file!["../../tests/snapshots/gradescope.json"].assert_eq(&text);
    }
}
