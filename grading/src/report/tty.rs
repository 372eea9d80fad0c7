//! The terminal report: per check a mark, points, title; for failures expected, actual and a hint.
//!
//! Colour only when asked (the caller decides from `isatty` and `NO_COLOR`). Hidden checks show
//! their points but not their details, so a student always sees a true total.

use super::{CheckReport, Report, Status};
use std::fmt::Write;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn red(&self, t: &str) -> String {
        self.wrap("31", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
}

pub fn render(report: &Report, color: bool) -> String {
    let p = Paint { on: color };
    let mut out = String::new();
    let _ = writeln!(out, "{}", p.bold(&format!("{} - {}", report.lab, report.title)));
    if let Some(who) = &report.provenance {
        let commit = who.commit.as_deref().map(|c| format!(" at {}", &c[..c.len().min(12)])).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}",
            p.dim(&format!(
                "{}: {}{commit}; graded by {} (rubric {}) from {} to {}",
                who.student, who.submission, who.grader_version, who.rubric_hash, who.started_at, who.finished_at
            ))
        );
    }
    let id_width = report.checks().map(|(_, c)| c.id.len()).max().unwrap_or(0);
    for step in &report.steps {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}  {}",
            p.bold(&format!("{} - {}", step.id, step.title)),
            points(step.score(), step.max_score())
        );
        for check in &step.checks {
            render_check(&mut out, &p, check, id_width);
        }
    }
    let _ = writeln!(out);
    if !report.not_run.is_empty() {
        let _ = write!(out, "{}", p.yellow(&report.not_run_text()));
        let _ = writeln!(out);
    }
    if !report.notes.is_empty() {
        let _ = write!(out, "{}", report.notes_text());
        let _ = writeln!(out);
    }
    if let Some(error) = &report.error {
        let _ = writeln!(out, "{} {error}", p.red("could not grade:"));
    }
    let (passed, failed, skipped) =
        (report.count(Status::Passed), report.count(Status::Failed), report.count(Status::Skipped));
    let verdict = match report.max_score() {
        // Everything was set aside (no engine here): no score to speak of, and no 100% either.
        0 if !report.not_run.is_empty() => "0/0 points (nothing could be graded here)".to_string(),
        0 => "0/0 points (100%)".to_string(),
        max => format!("{}/{max} points ({}%)", report.score(), report.score() * 100 / max),
    };
    let verdict = if report.full_marks() { p.green(&verdict) } else { p.red(&verdict) };
    let _ = writeln!(
        out,
        "{} {verdict}: {passed} passed, {failed} failed, {skipped} skipped in {:.1}s",
        p.bold("Score"),
        report.duration.as_secs_f64()
    );
    out
}

fn render_check(out: &mut String, p: &Paint, check: &CheckReport, id_width: usize) {
    let (mark, id) = match check.status {
        Status::Passed => (p.green("PASS"), check.id.clone()),
        Status::Failed => (p.red("FAIL"), check.id.clone()),
        Status::Skipped => (p.yellow("SKIP"), check.id.clone()),
    };
    let shows = check.visibility.shows_details();
    let title = if shows { check.title.clone() } else { format!("(hidden check, {})", check.visibility.as_str()) };
    let _ = writeln!(out, "  {mark} {id:<id_width$}  {}  {title}", points(check.score(), check.max_score));
    let indent = " ".repeat(7);
    match check.status {
        Status::Passed => {}
        Status::Skipped => {
            let _ = writeln!(out, "{indent}{}", p.dim(&format!("skipped: {}", check.reason.as_deref().unwrap_or(""))));
        }
        Status::Failed if shows => {
            let _ = writeln!(out, "{indent}expected: {}", check.expected.as_deref().unwrap_or(""));
            let _ = writeln!(out, "{indent}actual:   {}", check.actual.as_deref().unwrap_or(""));
            let _ = writeln!(out, "{indent}{}", p.yellow(&format!("hint:     {}", check.hint)));
        }
        Status::Failed => {}
    }
}

fn points(score: u32, max: u32) -> String {
    format!("{score:>2}/{max:<2}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_plain() {
        expect_test::expect_file!["../../tests/snapshots/report.txt"]
            .assert_eq(&super::render(&super::super::sample(), false));
    }

    #[test]
    fn colour_only_when_asked() {
        let sample = super::super::sample();
        assert!(!super::render(&sample, false).contains('\x1b'));
        assert!(super::render(&sample, true).contains("\x1b[31mFAIL\x1b[0m"));
    }
}
