//! Our own JSON format (`format_version` 1): everything in the report, for tools and dashboards.

use super::Report;
use serde_json::{json, Value};

pub const FORMAT_VERSION: u32 = 1;

pub fn to_json(report: &Report) -> Value {
    let steps: Vec<Value> = report
        .steps
        .iter()
        .map(|step| {
            let checks: Vec<Value> = step
                .checks
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "title": c.title,
                        "status": c.status.as_str(),
                        "score": c.score(),
                        "max_score": c.max_score,
                        "visibility": c.visibility.as_str(),
                        "expected": c.expected,
                        "actual": c.actual,
                        "reason": c.reason,
                        "hint": c.hint,
                        "duration_ms": c.duration.as_millis() as u64,
                    })
                })
                .collect();
            json!({ "id": step.id, "title": step.title, "score": step.score(), "max_score": step.max_score(), "checks": checks })
        })
        .collect();
    let mut value = json!({
        "format_version": FORMAT_VERSION,
        "lab": report.lab,
        "title": report.title,
        "score": report.score(),
        "max_score": report.max_score(),
        "full_marks": report.full_marks(),
        "counts": {
            "passed": report.count(super::Status::Passed),
            "failed": report.count(super::Status::Failed),
            "skipped": report.count(super::Status::Skipped),
        },
        "duration_ms": report.duration.as_millis() as u64,
        "error": report.error,
        "provenance": report.provenance.as_ref().map(|p| json!({
            "student": p.student,
            "submission": p.submission,
            "commit": p.commit,
            "rubric_hash": p.rubric_hash,
            "grader_version": p.grader_version,
            "started_at": p.started_at,
            "finished_at": p.finished_at,
        })),
        "steps": steps,
    });
    // Only where a machine set checks aside (`--no-engine`): reports elsewhere keep their shape.
    if !report.not_run.is_empty() {
        value["not_run"] = report
            .not_run
            .iter()
            .map(|n| json!({ "step": n.step, "id": n.id, "title": n.title, "points": n.points, "why": n.why }))
            .collect();
    }
    if !report.notes.is_empty() {
        value["notes"] = json!(report.notes);
    }
    value
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot() {
        let text = serde_json::to_string_pretty(&super::to_json(&super::super::sample())).unwrap();
        expect_test::expect_file!["../../tests/snapshots/report.json"].assert_eq(&text);
    }
}
