//! Rubrics: one TOML file per lab step listing its checks.
//!
//! ```toml
//! [[check]]
//! id = "site-answers"              # the word to grep for: unique within the rubric
//! title = "The site accepts TCP connections on its port"
//! points = 2
//! hint = "Start the server; `ss -ltnp` shows what listens where"
//! requires = []                     # ids of checks that must pass first (else: skipped)
//! visibility = "visible"            # or "hidden", "after_due_date", "after_published"
//! timeout = "3s"                    # deadline for the whole check (default 3s)
//! interval = "200ms"                # poll interval until the deadline (default 200ms)
//! [check.tcp]                       # exactly one kind table: file, tcp, http, tls, container, persistence
//! address = "127.0.0.1:{site_port}"
//! ```
//!
//! Loading validates everything that can be validated without a running system: unique ids,
//! known prerequisites without cycles, non-empty titles and hints, regular expressions that compile,
//! JSON pointers that are well formed, and placeholders that name known variables.

use crate::check::{
    ComposeCheck, ContainerCheck, CountersCheck, DockerfileCheck, FileCheck, HttpCheck, PersistenceCheck, TcpCheck,
    TlsCheck,
};
use crate::duration;
use crate::error::LoadError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Default deadline for one check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(200);

/// The checks of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Rubric {
    pub checks: Vec<Check>,
}

/// Who sees a check's details (the score always counts towards the total the student sees).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Visible,
    Hidden,
    AfterDueDate,
    AfterPublished,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Visible => "visible",
            Visibility::Hidden => "hidden",
            Visibility::AfterDueDate => "after_due_date",
            Visibility::AfterPublished => "after_published",
        }
    }

    /// Whether a student's own run shows the check's details (expected/actual, hint).
    pub fn shows_details(self) -> bool {
        self == Visibility::Visible
    }
}

/// One requirement, graded by one check kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub id: String,
    pub title: String,
    pub points: u32,
    pub hint: String,
    pub visibility: Visibility,
    pub requires: Vec<String>,
    pub timeout: Duration,
    pub interval: Duration,
    pub kind: CheckKind,
}

pub use crate::check::CheckKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRubric {
    #[serde(default, rename = "check")]
    checks: Vec<RawCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: String,
    title: String,
    points: u32,
    hint: String,
    #[serde(default)]
    visibility: Visibility,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default, with = "duration::serde_opt")]
    timeout: Option<Duration>,
    #[serde(default, with = "duration::serde_opt")]
    interval: Option<Duration>,
    file: Option<FileCheck>,
    dockerfile: Option<DockerfileCheck>,
    tcp: Option<TcpCheck>,
    http: Option<HttpCheck>,
    tls: Option<TlsCheck>,
    container: Option<ContainerCheck>,
    persistence: Option<PersistenceCheck>,
    compose: Option<ComposeCheck>,
    counters: Option<CountersCheck>,
}

impl RawCheck {
    fn into_check(self) -> Result<Check, String> {
        let mut kinds = Vec::new();
        if let Some(c) = self.file {
            kinds.push(CheckKind::File(c));
        }
        if let Some(c) = self.dockerfile {
            kinds.push(CheckKind::Dockerfile(Box::new(c)));
        }
        if let Some(c) = self.tcp {
            kinds.push(CheckKind::Tcp(c));
        }
        if let Some(c) = self.http {
            kinds.push(CheckKind::Http(Box::new(c)));
        }
        if let Some(c) = self.tls {
            kinds.push(CheckKind::Tls(c));
        }
        if let Some(c) = self.container {
            kinds.push(CheckKind::Container(Box::new(c)));
        }
        if let Some(c) = self.persistence {
            kinds.push(CheckKind::Persistence(Box::new(c)));
        }
        if let Some(c) = self.compose {
            kinds.push(CheckKind::Compose(Box::new(c)));
        }
        if let Some(c) = self.counters {
            kinds.push(CheckKind::Counters(Box::new(c)));
        }
        let kind = match kinds.len() {
            1 => kinds.pop().expect("one kind"),
            0 => {
                return Err(format!(
                    "check '{}' has no kind: add one of [check.file], [check.tcp], [check.http], [check.tls], [check.container], [check.persistence], [check.compose], [check.counters]",
                    self.id
                ))
            }
            _ => {
                let names: Vec<_> = kinds.iter().map(CheckKind::name).collect();
                return Err(format!("check '{}' has several kinds ({}): keep one", self.id, names.join(", ")));
            }
        };
        Ok(Check {
            id: self.id,
            title: self.title,
            points: self.points,
            hint: self.hint,
            visibility: self.visibility,
            requires: self.requires,
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            interval: self.interval.unwrap_or(DEFAULT_INTERVAL),
            kind,
        })
    }
}

impl Rubric {
    /// Reads and validates a rubric file. `known_vars` are the variable names its strings may use.
    pub fn load(path: &Path, known_vars: &BTreeSet<String>) -> Result<Rubric, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_path_buf(), source })?;
        Rubric::parse(path, &text, known_vars)
    }

    /// Parses and validates rubric text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str, known_vars: &BTreeSet<String>) -> Result<Rubric, LoadError> {
        let raw: RawRubric = toml::from_str(text).map_err(|e| LoadError::parse(path, text, e))?;
        let checks = raw
            .checks
            .into_iter()
            .map(RawCheck::into_check)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| LoadError::invalid(path, m))?;
        let rubric = Rubric { checks };
        rubric.validate(known_vars).map_err(|m| LoadError::invalid(path, m))?;
        Ok(rubric)
    }

    fn validate(&self, known_vars: &BTreeSet<String>) -> Result<(), String> {
        if self.checks.is_empty() {
            return Err("the rubric has no checks: add at least one [[check]]".into());
        }
        let mut ids = BTreeSet::new();
        for check in &self.checks {
            let id = &check.id;
            if !is_slug(id) {
                return Err(format!("check id '{id}' must be lowercase letters, digits and '-'"));
            }
            if !ids.insert(id.as_str()) {
                return Err(format!("check id '{id}' appears twice"));
            }
            if check.title.trim().is_empty() {
                return Err(format!("check '{id}' has an empty title"));
            }
            if check.hint.trim().is_empty() {
                return Err(format!("check '{id}' has an empty hint: say what to try when it fails"));
            }
            if check.points == 0 {
                return Err(format!("check '{id}' is worth 0 points"));
            }
            if check.interval.is_zero() || check.timeout < check.interval {
                return Err(format!("check '{id}': the interval must be non-zero and no longer than the timeout"));
            }
            check.kind.kind().validate().map_err(|m| format!("check '{id}': {m}"))?;
            for text in check.kind.kind().strings().into_iter().chain([check.title.as_str(), check.hint.as_str()]) {
                for name in crate::vars::placeholders(text) {
                    if !known_vars.contains(name) && !crate::vars::BUILTIN.contains(&name) {
                        let known: Vec<_> =
                            known_vars.iter().map(String::as_str).chain(crate::vars::BUILTIN.iter().copied()).collect();
                        return Err(format!(
                            "check '{id}' uses unknown variable {{{name}}} (known: {})",
                            known.join(", ")
                        ));
                    }
                }
            }
        }
        for check in &self.checks {
            for required in &check.requires {
                if !ids.contains(required.as_str()) {
                    return Err(format!("check '{}' requires unknown check '{required}'", check.id));
                }
            }
        }
        if let Some(cycle) = self.find_cycle() {
            return Err(format!("prerequisites form a cycle: {}", cycle.join(" -> ")));
        }
        Ok(())
    }

    fn find_cycle(&self) -> Option<Vec<String>> {
        let requires: BTreeMap<&str, &[String]> =
            self.checks.iter().map(|c| (c.id.as_str(), c.requires.as_slice())).collect();
        fn visit<'a>(
            id: &'a str,
            requires: &BTreeMap<&'a str, &'a [String]>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(pos) = path.iter().position(|p| *p == id) {
                let mut cycle: Vec<String> = path[pos..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            if done.contains(id) {
                return None;
            }
            path.push(id);
            for next in requires.get(id).copied().unwrap_or_default() {
                if let Some(cycle) = visit(next, requires, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(id);
            None
        }
        let mut done = BTreeSet::new();
        for check in &self.checks {
            if let Some(cycle) = visit(&check.id, &requires, &mut Vec::new(), &mut done) {
                return Some(cycle);
            }
        }
        None
    }

    /// Total points available.
    pub fn max_points(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }
}

/// One step to grade: its id and title, and its rubric.
#[derive(Debug, Clone)]
pub struct StepRubric {
    pub id: String,
    pub title: String,
    pub rubric: Rubric,
}

/// Ids are grep-able slugs: `site-answers`, `app-info-fields`.
pub(crate) fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    fn vars() -> BTreeSet<String> {
        ["site_port".to_string()].into_iter().collect()
    }

    /// Parses `text` and renders either a summary of the checks or the error.
    fn check(text: &str, expected: Expect) {
        let got = match Rubric::parse(Path::new("rubric.toml"), text, &vars()) {
            Ok(r) => r
                .checks
                .iter()
                .map(|c| {
                    format!(
                        "{} {} {}pt {:?} {:?}/{:?} requires={:?}",
                        c.id,
                        c.kind.name(),
                        c.points,
                        c.visibility,
                        c.timeout,
                        c.interval,
                        c.requires
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error: {e}"),
        };
        expected.assert_eq(&got);
    }

    const TCP: &str = r#"
[[check]]
id = "site-answers"
title = "Site answers"
points = 2
hint = "start it"
[check.tcp]
address = "127.0.0.1:{site_port}"
"#;

    #[test]
    fn minimal_rubric_gets_defaults() {
        check(TCP, expect![[r#"site-answers tcp 2pt Visible 3s/200ms requires=[]"#]]);
    }

    #[test]
    fn every_field() {
        check(
            &format!(
                "{TCP}\n{}",
                r#"
[[check]]
id = "index"
title = "Index page"
points = 3
hint = "h"
visibility = "hidden"
requires = ["site-answers"]
timeout = "10s"
interval = "1s"
[check.http]
url = "http://127.0.0.1:{site_port}/"
expect = { status = 200, body_regex = "<title>[^<]{1,80}</title>", json_equals = { "/a" = 1 } }
"#
            ),
            expect![[r#"
                site-answers tcp 2pt Visible 3s/200ms requires=[]
                index http 3pt Hidden 10s/1s requires=["site-answers"]"#]],
        );
    }

    #[test]
    fn malformed_and_invalid_rubrics() {
        check(
            "[[check]\n",
            expect!["error: rubric.toml is malformed: line 1: invalid table header expected `.`, `]]`"],
        );
        check(
            &TCP.replace("points = 2", "points = 2\ncolour = \"red\""),
            expect!["error: rubric.toml is malformed: line 6: unknown field `colour`, expected one of `id`, `title`, `points`, `hint`, `visibility`, `requires`, `timeout`, `interval`, `file`, `dockerfile`, `tcp`, `http`, `tls`, `container`, `persistence`, `compose`, `counters`"],
        );
        check("", expect![[r#"error: rubric.toml is invalid: the rubric has no checks: add at least one [[check]]"#]]);
        check(
            &format!("{TCP}{TCP}"),
            expect![[r#"error: rubric.toml is invalid: check id 'site-answers' appears twice"#]],
        );
        check(
            &TCP.replace("hint = \"start it\"", "hint = \" \""),
            expect![[
                r#"error: rubric.toml is invalid: check 'site-answers' has an empty hint: say what to try when it fails"#
            ]],
        );
        check(
            &TCP.replace("[check.tcp]\naddress = \"127.0.0.1:{site_port}\"", ""),
            expect!["error: rubric.toml is invalid: check 'site-answers' has no kind: add one of [check.file], [check.tcp], [check.http], [check.tls], [check.container], [check.persistence], [check.compose], [check.counters]"],
        );
        check(
            &TCP.replace("{site_port}", "{app_port}"),
            expect![[
                r#"error: rubric.toml is invalid: check 'site-answers' uses unknown variable {app_port} (known: site_port, submission, probe)"#
            ]],
        );
        check(
            &TCP.replace("points = 2", "points = 2\nrequires = [\"nope\"]"),
            expect![[r#"error: rubric.toml is invalid: check 'site-answers' requires unknown check 'nope'"#]],
        );
        check(
            &TCP.replace("points = 2", "points = 2\ntimeout = \"soon\""),
            expect!["error: rubric.toml is malformed: line 6: duration 'soon' does not start with a number"],
        );
        check(
            &TCP.replace("id = \"site-answers\"", "id = \"Site Answers\""),
            expect![[
                r#"error: rubric.toml is invalid: check id 'Site Answers' must be lowercase letters, digits and '-'"#
            ]],
        );
    }

    #[test]
    fn prerequisite_cycles_are_rejected() {
        let text = r#"
[[check]]
id = "a"
title = "A"
points = 1
hint = "h"
requires = ["b"]
tcp = { address = "x:1" }
[[check]]
id = "b"
title = "B"
points = 1
hint = "h"
requires = ["a"]
tcp = { address = "x:1" }
"#;
        check(text, expect![[r#"error: rubric.toml is invalid: prerequisites form a cycle: a -> b -> a"#]]);
    }

    #[test]
    fn bad_regex_and_pointer_are_rejected_at_load() {
        let http = |expect: &str| {
            format!(
                "[[check]]\nid = \"x\"\ntitle = \"X\"\npoints = 1\nhint = \"h\"\n[check.http]\nurl = \"http://h:1/\"\nexpect = {{ {expect} }}\n"
            )
        };
        check(
            &http("body_regex = \"(unclosed\""),
            expect![[
                r#"error: rubric.toml is invalid: check 'x': body_regex '(unclosed' does not compile: unclosed group"#
            ]],
        );
        check(
            &http("json_present = [\"success\"]"),
            expect![[
                r#"error: rubric.toml is invalid: check 'x': JSON pointer 'success' must be empty or start with '/'"#
            ]],
        );
        check(
            &http("status = 99"),
            expect![[r#"error: rubric.toml is invalid: check 'x': status 99 is not an HTTP status (100-599)"#]],
        );
    }
}
