//! JUnit XML in the de-facto shape CI dashboards read.
//!
//! `<testsuites>` is the lab, one `<testsuite>` per step, one `<testcase>` per check
//! (`classname` = `lab.step`, `name` = `id: title`). A failed check has a `<failure>` whose message is
//! the expected vs actual; a skipped check has `<skipped message=...>`. JUnit has no place for points,
//! so each testcase carries `<properties>` `points` and `max_points`, and each suite `score` and `max_score`.

use super::{Report, Status};
use std::fmt::Write;

pub fn render(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let seconds = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64());
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        escape(&report.lab),
        report.checks().count(),
        report.count(Status::Failed),
        report.count(Status::Skipped),
        seconds(report.duration)
    );
    for step in &report.steps {
        let failures = step.checks.iter().filter(|c| c.status == Status::Failed).count();
        let skipped = step.checks.iter().filter(|c| c.status == Status::Skipped).count();
        let time: std::time::Duration = step.checks.iter().map(|c| c.duration).sum();
        let classname = format!("{}.{}", report.lab, step.id);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
            escape(&classname),
            step.checks.len(),
            seconds(time)
        );
        let _ = writeln!(out, "    <properties>");
        let _ = writeln!(out, "      <property name=\"title\" value=\"{}\"/>", escape(&step.title));
        let _ = writeln!(out, "      <property name=\"score\" value=\"{}\"/>", step.score());
        let _ = writeln!(out, "      <property name=\"max_score\" value=\"{}\"/>", step.max_score());
        let _ = writeln!(out, "    </properties>");
        for check in &step.checks {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
                escape(&classname),
                escape(&format!("{}: {}", check.id, check.title)),
                seconds(check.duration)
            );
            let _ = writeln!(out, "      <properties>");
            let _ = writeln!(out, "        <property name=\"points\" value=\"{}\"/>", check.score());
            let _ = writeln!(out, "        <property name=\"max_points\" value=\"{}\"/>", check.max_score);
            let _ = writeln!(out, "        <property name=\"visibility\" value=\"{}\"/>", check.visibility.as_str());
            let _ = writeln!(out, "      </properties>");
            match check.status {
                Status::Passed => {}
                Status::Failed => {
                    let expected = check.expected.as_deref().unwrap_or("");
                    let actual = check.actual.as_deref().unwrap_or("");
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"check-failed\">expected: {}\nactual: {}\nhint: {}</failure>",
                        escape(&format!("expected {expected}; got {actual}")),
                        escape(expected),
                        escape(actual),
                        escape(&check.hint)
                    );
                }
                Status::Skipped => {
                    let _ =
                        writeln!(out, "      <skipped message=\"{}\"/>", escape(check.reason.as_deref().unwrap_or("")));
                }
            }
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot() {
        expect_test::expect_file!["../../tests/snapshots/junit.xml"].assert_eq(&super::render(&super::super::sample()));
    }

    #[test]
    fn escaping() {
        assert_eq!(super::escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;?");
    }
}
