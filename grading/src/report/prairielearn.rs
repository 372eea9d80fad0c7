//! PrairieLearn's external grader `results.json` (written to `/grade/results/results.json`).
//!
//! `score` is a fraction (0 to 1); `gradable` is false only when the grader could not grade (the
//! student then loses no attempt); one test per check with `points` and `max_points`, its message
//! the expected, actual and hint (or why it was skipped). PrairieLearn rejects results over about
//! 1 MB, so every text is cut to a budget and the whole stays well under it.

use super::{Report, Status};
use serde_json::{json, Value};

/// Most characters of one test's message, and of the report's `output`.
const MESSAGE_LIMIT: usize = 2_000;
const OUTPUT_LIMIT: usize = 100_000;

/// Cuts `text` to `limit` characters, saying so.
fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let kept: String = text.chars().take(limit).collect();
    format!("{kept}\n... (cut: {} characters in all)", text.chars().count())
}

pub fn to_json(report: &Report) -> Value {
    let mut tests = Vec::new();
    for step in &report.steps {
        for check in &step.checks {
            let shows = check.visibility.shows_details();
            let message = match (check.status, shows) {
                (Status::Passed, _) => "passed".to_string(),
                (Status::Failed, true) => format!(
                    "expected: {}\nactual: {}\nhint: {}",
                    check.expected.as_deref().unwrap_or(""),
                    check.actual.as_deref().unwrap_or(""),
                    check.hint
                ),
                (Status::Failed, false) => "failed (a hidden check: its details are not shown)".to_string(),
                (Status::Skipped, _) => format!("skipped: {}", check.reason.as_deref().unwrap_or("")),
            };
            tests.push(json!({
                "name": format!("{} / {}", step.id, check.id),
                "description": if shows { check.title.clone() } else { format!("hidden check ({})", check.visibility.as_str()) },
                "points": check.score(),
                "max_points": check.max_score,
                "message": cut(&message, MESSAGE_LIMIT),
                "output": "",
            }));
        }
    }
    let max = report.max_score();
    let score = if max == 0 { 0.0 } else { f64::from(report.score()) / f64::from(max) };
    let message = match &report.error {
        Some(error) => format!("{} could not be graded: {error}", report.lab),
        None => format!("{}\n{}{}", report.summary_line(), report.not_run_text(), report.notes_text())
            .trim_end()
            .to_string(),
    };
    json!({
        "gradable": report.error.is_none(),
        "score": if report.error.is_some() { 0.0 } else { score },
        "message": cut(&message, MESSAGE_LIMIT),
        "output": cut(&super::tty::render(report, false), OUTPUT_LIMIT),
        "tests": tests,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot() {
        let text = serde_json::to_string_pretty(&super::to_json(&super::super::sample())).unwrap();
        expect_test::expect_file!["../../tests/snapshots/prairielearn.json"].assert_eq(&text);
    }

    #[test]
    fn long_texts_are_cut_to_fit() {
        let mut report = super::super::sample();
        report.steps[0].checks[1].actual = Some("x".repeat(50_000));
        let json = super::to_json(&report);
        let message = json["tests"][1]["message"].as_str().unwrap();
        assert!(message.len() < 2_100 && message.contains("(cut: "), "{}", message.len());
        assert!(serde_json::to_string(&json).unwrap().len() < 1_000_000);
    }
}
