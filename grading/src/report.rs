//! Grading results and the writers that present them.
//!
//! The [`Report`] is the single source every writer reads: [`tty`] for people, [`json`] for tools
//! (our own format, versioned), [`junit`] for CI dashboards and [`gradescope`] for Gradescope's
//! autograder. Scores are derived from check statuses, never stored twice.

pub mod classroom;
pub mod gradescope;
pub mod html;
pub mod json;
pub mod junit;
pub mod prairielearn;
pub mod tty;

use crate::check::Mismatch;
use crate::rubric::{Check, Visibility};
use std::time::Duration;

/// What a check of the running system expected when the services it looks at did not start.
pub const NOT_STARTED: &str = "the submission's services running";

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One graded lab (or the selected steps of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub lab: String,
    pub title: String,
    pub steps: Vec<StepReport>,
    pub duration: Duration,
    /// Why the lab could not be graded (exit code 2): the grader's or the machine's fault, never
    /// the submission's. Every check is then skipped as not run.
    pub error: Option<String>,
    /// Whose work this is and what graded it (set by the caller that knows).
    pub provenance: Option<Provenance>,
    /// Checks this machine cannot run (no Docker engine: `check --no-engine` on a course
    /// platform). Not graded here and not failed: they are out of this report's total.
    pub not_run: Vec<NotRun>,
    /// What was running while it was graded (containers, networks, volumes, ports), when an
    /// engine was there to ask: the HTML report draws it.
    pub topology: Option<crate::picture::Topology>,
    /// What the grader changed on the way and let through (a port published on loopback only):
    /// not faults, said so that nothing of the run is hidden from the student.
    pub notes: Vec<String>,
}

fn plural(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A check set aside on this machine, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRun {
    pub step: String,
    pub id: String,
    pub title: String,
    pub points: u32,
    pub why: String,
}

impl Report {
    /// The checks set aside, in lines: `  step / id (N points): why`, after a heading - empty when none.
    /// The notes, as text for a student (empty when there are none).
    pub fn notes_text(&self) -> String {
        if self.notes.is_empty() {
            return String::new();
        }
        let mut text = "Changed by the grader's sandbox (not a fault, nothing to fix):\n".to_string();
        for note in &self.notes {
            text.push_str(&format!("  {note}\n"));
        }
        text
    }

    pub fn not_run_text(&self) -> String {
        if self.not_run.is_empty() {
            return String::new();
        }
        let points: u32 = self.not_run.iter().map(|n| n.points).sum();
        let mut text = format!(
            "Not run here: {} checks ({}) - not graded on this machine, not failed:\n",
            self.not_run.len(),
            plural(points, "point")
        );
        for n in &self.not_run {
            text.push_str(&format!("  {} / {} ({}): {}\n", n.step, n.id, plural(n.points, "point"), n.why));
        }
        text
    }
}

/// Whose report it is and what graded it: enough to tell two reports of one submission apart,
/// and to know whether a submission must be graded again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    pub student: String,
    /// The submission's folder, as given.
    pub submission: String,
    /// The submission's git commit (HEAD), when it is a git checkout.
    pub commit: Option<String>,
    /// A hash of the course files that decide the grade: the lab's rubrics and `labs/labs.toml`.
    pub rubric_hash: String,
    pub grader_version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    pub id: String,
    pub title: String,
    pub max_score: u32,
    pub status: Status,
    pub visibility: Visibility,
    pub hint: String,
    /// What the check wanted (failed checks).
    pub expected: Option<String>,
    /// What it saw instead (failed checks).
    pub actual: Option<String>,
    /// Why a skipped check did not run.
    pub reason: Option<String>,
    pub duration: Duration,
}

impl CheckReport {
    fn base(check: &Check, status: Status, duration: Duration) -> CheckReport {
        CheckReport {
            id: check.id.clone(),
            title: check.title.clone(),
            max_score: check.points,
            status,
            visibility: check.visibility,
            hint: check.hint.clone(),
            expected: None,
            actual: None,
            reason: None,
            duration,
        }
    }

    pub fn passed(check: &Check, duration: Duration) -> CheckReport {
        CheckReport::base(check, Status::Passed, duration)
    }

    pub fn failed(check: &Check, mismatch: Mismatch, duration: Duration) -> CheckReport {
        CheckReport {
            expected: Some(mismatch.expected),
            actual: Some(mismatch.actual),
            ..CheckReport::base(check, Status::Failed, duration)
        }
    }

    pub fn skipped(check: &Check, reason: String, duration: Duration) -> CheckReport {
        CheckReport { reason: Some(reason), ..CheckReport::base(check, Status::Skipped, duration) }
    }

    /// Points earned: all or nothing per check.
    pub fn score(&self) -> u32 {
        if self.status == Status::Passed {
            self.max_score
        } else {
            0
        }
    }
}

impl StepReport {
    pub fn score(&self) -> u32 {
        self.checks.iter().map(CheckReport::score).sum()
    }

    pub fn max_score(&self) -> u32 {
        self.checks.iter().map(|c| c.max_score).sum()
    }
}

impl Report {
    pub fn score(&self) -> u32 {
        self.steps.iter().map(StepReport::score).sum()
    }

    pub fn max_score(&self) -> u32 {
        self.steps.iter().map(StepReport::max_score).sum()
    }

    pub fn checks(&self) -> impl Iterator<Item = (&StepReport, &CheckReport)> {
        self.steps.iter().flat_map(|s| s.checks.iter().map(move |c| (s, c)))
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks().filter(|(_, c)| c.status == status).count()
    }

    /// One line for platforms' summaries: `lab1: 28/34 points (17 passed, 1 failed, 2 skipped)`,
    /// and `, 11 not run here` when checks were set aside (no engine).
    pub fn summary_line(&self) -> String {
        let not_run =
            if self.not_run.is_empty() { String::new() } else { format!(", {} not run here", self.not_run.len()) };
        format!(
            "{}: {}/{} points ({} passed, {} failed, {} skipped{not_run})",
            self.lab,
            self.score(),
            self.max_score(),
            self.count(Status::Passed),
            self.count(Status::Failed),
            self.count(Status::Skipped)
        )
    }

    /// Full marks: the exit code is 0 only then.
    pub fn full_marks(&self) -> bool {
        self.error.is_none() && self.checks().all(|(_, c)| c.status == Status::Passed)
    }

    /// The report of a lab that could not be graded: every check of `steps` skipped as not run,
    /// and the error, so a gradebook gets a row that says why instead of a hole.
    pub fn not_graded(lab: &str, title: &str, steps: &[crate::rubric::StepRubric], error: String) -> Report {
        let reason = format!("not run: {error}");
        Report {
            lab: lab.to_string(),
            title: title.to_string(),
            steps: steps
                .iter()
                .map(|step| StepReport {
                    id: step.id.clone(),
                    title: step.title.clone(),
                    checks: step
                        .rubric
                        .checks
                        .iter()
                        .map(|c| CheckReport::skipped(c, reason.clone(), Duration::ZERO))
                        .collect(),
                })
                .collect(),
            duration: Duration::ZERO,
            error: Some(error),
            provenance: None,
            not_run: Vec::new(),
            notes: Vec::new(),
            topology: None,
        }
    }
}

/// A fixed report for the writers' snapshot tests: one of each status, a hidden check, odd characters.
#[doc(hidden)]
pub fn sample() -> Report {
    let check = |id: &str, title: &str, points, status, visibility| CheckReport {
        id: id.into(),
        title: title.into(),
        max_score: points,
        status,
        visibility,
        hint: format!("hint for {id}"),
        expected: None,
        actual: None,
        reason: None,
        duration: Duration::from_millis(12),
    };
    let mut failed =
        check("site-content-type", "Pages are served as text/html", 2, Status::Failed, Visibility::Visible);
    failed.expected = Some("content-type containing \"text/html\"".into());
    failed.actual = Some("content-type: application/octet-stream & <weird>".into());
    let mut skipped =
        check("app-info-fields", "/api/info says success and a version", 2, Status::Skipped, Visibility::Visible);
    skipped.reason = Some("requires app-answers, which did not pass".into());
    let mut hidden = check("site-no-traversal", "Traversal is refused", 3, Status::Failed, Visibility::Hidden);
    hidden.expected = Some("status one of 400, 403, 404".into());
    hidden.actual = Some("GET http://127.0.0.1:8080/../../etc/passwd answered 200".into());
    Report {
        provenance: Some(Provenance {
            student: "ada".into(),
            submission: "submissions/ada".into(),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            rubric_hash: "fnv1a64:00112233aabbccdd".into(),
            grader_version: "0.1.0".into(),
            started_at: "2026-11-30T10:00:00Z".into(),
            finished_at: "2026-11-30T10:00:01Z".into(),
        }),
        lab: "lab1".into(),
        title: "Serve a site, and an app beside it".into(),
        duration: Duration::from_millis(1234),
        steps: vec![
            StepReport {
                id: "static-site".into(),
                title: "A static site".into(),
                checks: vec![
                    check("site-answers", "The site accepts connections", 2, Status::Passed, Visibility::Visible),
                    failed,
                    hidden,
                ],
            },
            StepReport { id: "app-port".into(), title: "An app on port 3000".into(), checks: vec![skipped] },
        ],
        error: None,
        not_run: Vec::new(),
        notes: Vec::new(),
        topology: None,
    }
}
