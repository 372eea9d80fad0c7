//! The gradebook: one row per student from their JSON report (status, total, each step, each
//! check), written as `gradebook.csv`, read back from a shard's, and the class summary (each
//! check's pass rate, hardest first) as `summary.txt` and `summary.json`.

use crate::grade::roster::Entry;
use anyhow::Context;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// How one submission's grading ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Graded now (exit 0 or 1).
    Graded,
    /// Its report from an earlier run still holds: nothing it depends on changed.
    Unchanged,
    /// The grader could not grade it (exit 2): the report says why.
    Error(String),
    /// It ran past its wall clock and was stopped.
    TimedOut,
    /// `collect` found nothing to grade (its roster's status and reason say why).
    NotCollected,
}

/// A check's gradebook column: its id, title and points.
pub type CheckColumn = (String, String, u32);
/// A step's id and its checks' columns, in the rubric's order.
pub type StepColumns = (String, Vec<CheckColumn>);

/// One gradebook row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub student: String,
    pub submission: String,
    /// graded, refused (the sandbox refused or stopped something of it), error, timeout.
    pub status: String,
    pub score: Option<u32>,
    pub max_score: Option<u32>,
    pub steps: BTreeMap<String, u32>,
    pub checks: BTreeMap<String, u32>,
    /// The commit graded and the commits after the deadline (from `collect`).
    pub commit: String,
    pub late: Option<usize>,
    pub note: String,
}

/// A row from a student's JSON report (or the reason there is none).
pub fn row(entry: &Entry, report: Option<&Value>, outcome: &Outcome) -> Row {
    let mut row = Row {
        student: entry.student.clone(),
        submission: entry.path.display().to_string(),
        status: "graded".into(),
        score: None,
        max_score: None,
        steps: BTreeMap::new(),
        checks: BTreeMap::new(),
        commit: entry.collected.commit.clone(),
        late: entry.collected.late,
        note: String::new(),
    };
    match (outcome, report) {
        (Outcome::NotCollected, _) => {
            row.status = entry.collected.status.clone();
            row.note = entry.collected.reason.clone();
        }
        (Outcome::TimedOut, _) => {
            row.status = "timeout".into();
            row.note = "it ran past its wall clock and was stopped".into();
        }
        (Outcome::Error(why), _) => {
            row.status = "error".into();
            row.note = why.clone();
        }
        (_, None) => {
            row.status = "error".into();
            row.note = "no report was written".into();
        }
        (_, Some(report)) => {
            row.score = report["score"].as_u64().map(|s| s as u32);
            row.max_score = report["max_score"].as_u64().map(|s| s as u32);
            for step in report["steps"].as_array().into_iter().flatten() {
                let id = step["id"].as_str().unwrap_or_default().to_string();
                let checks = step["checks"].as_array().cloned().unwrap_or_default();
                if id == "sandbox" {
                    row.status = "refused".into();
                    let what: Vec<String> =
                        checks.iter().filter_map(|c| c["title"].as_str().map(str::to_string)).collect();
                    row.note = format!("the sandbox refused or stopped: {}", what.join("; "));
                    continue;
                }
                row.steps.insert(id, step["score"].as_u64().unwrap_or(0) as u32);
                for check in checks {
                    let id = check["id"].as_str().unwrap_or_default().to_string();
                    row.checks.insert(id, check["score"].as_u64().unwrap_or(0) as u32);
                }
            }
        }
    }
    row
}

/// The gradebook's step and check columns for `selection`, in the rubric's order.
pub fn columns(selection: &crate::selection::Selection) -> Vec<StepColumns> {
    selection
        .steps
        .iter()
        .map(|s| (s.id.clone(), s.rubric.checks.iter().map(|c| (c.id.clone(), c.title.clone(), c.points)).collect()))
        .collect()
}

/// Writes `gradebook.csv`, `summary.txt` and `summary.json` into `out`.
pub fn write_outputs(out: &Path, steps: &[StepColumns], rows: &[Row]) -> anyhow::Result<()> {
    let path = out.join("gradebook.csv");
    std::fs::write(&path, gradebook_csv(steps, rows)?).with_context(|| format!("cannot write {}", path.display()))?;
    let (text, json) = summary(steps, rows);
    std::fs::write(out.join("summary.txt"), text)?;
    std::fs::write(out.join("summary.json"), serde_json::to_string_pretty(&json)? + "\n")?;
    Ok(())
}

/// The rows of a gradebook written by [`gradebook_csv`] with `steps`' columns.
pub fn parse_gradebook(text: &str, steps: &[StepColumns]) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let field = |name: &str| column(name).and_then(|i| record.get(i)).unwrap_or_default().to_string();
        let number = |name: &str| field(name).parse::<u32>().ok();
        let score = number("score");
        let graded = score.is_some();
        rows.push(Row {
            student: field("student"),
            submission: field("submission"),
            status: field("status"),
            score,
            max_score: number("max_score"),
            steps: steps
                .iter()
                .filter(|_| graded)
                .filter_map(|(id, _)| Some((id.clone(), number(&format!("step:{id}"))?)))
                .collect(),
            checks: steps
                .iter()
                .flat_map(|(_, checks)| checks.iter())
                .filter(|_| graded)
                .filter_map(|(id, _, _)| Some((id.clone(), number(id)?)))
                .collect(),
            commit: field("commit"),
            late: number("late").map(|n| n as usize),
            note: field("note"),
        });
    }
    Ok(rows)
}

/// The gradebook: student, submission, status, score, max, percent, each step, each check, note.
pub fn gradebook_csv(steps: &[StepColumns], rows: &[Row]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> =
        ["student", "submission", "status", "score", "max_score", "percent"].iter().map(|s| s.to_string()).collect();
    header.extend(steps.iter().map(|(id, _)| format!("step:{id}")));
    header.extend(steps.iter().flat_map(|(_, checks)| checks.iter().map(|(id, _, _)| id.clone())));
    header.extend(["commit".to_string(), "late".to_string(), "note".to_string()]);
    writer.write_record(&header)?;
    for row in rows {
        let number = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        let percent = match (row.score, row.max_score) {
            (Some(s), Some(m)) if m > 0 => format!("{:.1}", f64::from(s) * 100.0 / f64::from(m)),
            _ => String::new(),
        };
        let mut record = vec![
            row.student.clone(),
            row.submission.clone(),
            row.status.clone(),
            number(row.score),
            number(row.max_score),
            percent,
        ];
        let graded = row.score.is_some();
        record.extend(
            steps.iter().map(|(id, _)| if graded { number(row.steps.get(id).copied()) } else { String::new() }),
        );
        record.extend(steps.iter().flat_map(|(_, checks)| {
            checks.iter().map(|(id, _, _)| if graded { number(row.checks.get(id).copied()) } else { String::new() })
        }));
        record.push(row.commit.clone());
        record.push(row.late.map(|n| n.to_string()).unwrap_or_default());
        record.push(row.note.clone());
        writer.write_record(&record)?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

/// Each check's pass rate over the graded submissions, hardest first: what the class got wrong.
pub fn summary(steps: &[StepColumns], rows: &[Row]) -> (String, Value) {
    let graded: Vec<&Row> = rows.iter().filter(|r| r.score.is_some()).collect();
    let mut checks: Vec<(String, String, String, usize)> = steps
        .iter()
        .flat_map(|(step, checks)| {
            checks.iter().map(|(id, title, points)| {
                let passed = graded
                    .iter()
                    .filter(|r| {
                        r.checks.get(id).copied().unwrap_or(0) == *points && *points > 0
                            || *points == 0 && r.checks.contains_key(id)
                    })
                    .count();
                (step.clone(), id.clone(), title.clone(), passed)
            })
        })
        .collect();
    checks.sort_by(|a, b| a.3.cmp(&b.3).then(a.1.cmp(&b.1)));
    let n = graded.len();
    let mut text = format!(
        "{} submissions: {} graded, {} could not be graded\n\nPass rate per check (hardest first):\n",
        rows.len(),
        n,
        rows.len() - n
    );
    let width = checks.iter().map(|c| c.1.len()).max().unwrap_or(0);
    for (_, id, title, passed) in &checks {
        let rate = if n == 0 { 0.0 } else { *passed as f64 * 100.0 / n as f64 };
        text.push_str(&format!("  {id:<width$}  {passed:>4}/{n:<4} {rate:>5.1}%  {title}\n"));
    }
    let mut scores: Vec<u32> = graded.iter().filter_map(|r| r.score).collect();
    scores.sort_unstable();
    let median = scores.get(scores.len() / 2).copied();
    let mean = if scores.is_empty() { None } else { Some(scores.iter().sum::<u32>() as f64 / scores.len() as f64) };
    if let (Some(median), Some(mean)) = (median, mean) {
        text.push_str(&format!("\nScores: mean {mean:.1}, median {median}\n"));
    }
    let json = serde_json::json!({
        "submissions": rows.len(),
        "graded": n,
        "not_graded": rows.len() - n,
        "mean_score": mean,
        "median_score": median,
        "checks": checks.iter().map(|(step, id, title, passed)| serde_json::json!({
            "step": step, "id": id, "title": title, "passed": passed, "graded": n,
            "pass_rate": if n == 0 { 0.0 } else { *passed as f64 / n as f64 },
        })).collect::<Vec<_>>(),
    });
    (text, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradebook_rows_and_the_class_summary() {
        let report = grading::report::json::to_json(&grading::report::sample());
        let steps: Vec<StepColumns> = report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let checks = s["checks"].as_array().unwrap().iter().map(|c| {
                    (
                        c["id"].as_str().unwrap().to_string(),
                        c["title"].as_str().unwrap().to_string(),
                        c["max_score"].as_u64().unwrap() as u32,
                    )
                });
                (s["id"].as_str().unwrap().to_string(), checks.collect())
            })
            .collect();
        let mut refused = report.clone();
        refused["steps"].as_array_mut().unwrap().push(serde_json::json!({"id": "sandbox", "score": 0, "checks": [{"id": "sandbox-privileged", "title": "refused: privileged", "score": 0}]}));
        let rows = vec![
            row(&Entry::named("ada"), Some(&report), &Outcome::Graded),
            row(&Entry::named("bob"), Some(&refused), &Outcome::Unchanged),
            row(&Entry::named("cy"), None, &Outcome::Error("submission 'subs/cy' is empty: nothing to grade".into())),
            row(&Entry::named("di"), None, &Outcome::TimedOut),
        ];
        assert_eq!(
            rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
            ["graded", "refused", "error", "timeout"]
        );
        assert!(rows[1].note.contains("refused: privileged"));
        let csv = gradebook_csv(&steps, &rows).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5, "{csv}");
        assert!(lines[0].starts_with("student,submission,status,score,max_score,percent,step:"), "{csv}");
        let score = report["score"].as_u64().unwrap();
        let max = report["max_score"].as_u64().unwrap();
        assert!(lines[1].starts_with(&format!("ada,subs/ada,graded,{score},{max},")), "{csv}");
        assert!(lines[3].starts_with("cy,subs/cy,error,,,,"), "{csv}");
        assert!(lines[3].ends_with(",submission 'subs/cy' is empty: nothing to grade"), "{csv}");
        let (text, json) = summary(&steps, &rows);
        assert_eq!((json["graded"].as_u64(), json["not_graded"].as_u64()), (Some(2), Some(2)));
        let first = &json["checks"][0];
        assert_eq!(first["passed"], 0, "the hardest check comes first: {json:#}");
        assert!(text.contains("0/2"), "{text}");
        // A gradebook read back is the rows it was written from (what --merge builds on).
        let read = parse_gradebook(&csv, &steps).unwrap();
        assert_eq!(read.len(), rows.len());
        for (read, row) in read.iter().zip(&rows) {
            assert_eq!(
                (&read.student, &read.status, read.score, read.max_score),
                (&row.student, &row.status, row.score, row.max_score)
            );
            assert_eq!((&read.steps, &read.note), (&row.steps, &row.note));
        }
        assert_eq!(summary(&steps, &read), (text, json), "the summary of the rows read back is the same");
    }
}
