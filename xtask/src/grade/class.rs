//! What the instructor sees of a class once `grade` has run: `class.html` (one self-contained
//! page: the score distribution, each check's pass rate hardest first, the most common failure
//! messages grouped, the similar pairs, and each student with a link to their report, late and
//! not-graded rows marked), `similarity.csv`, and the gradebook in the import formats of
//! Canvas and Moodle (`canvas.csv`, `moodle.csv`; `cargo xtask publish` joins several labs').

use crate::grade::gradebook::{Row, StepColumns};
use crate::grade::roster::Entry;
use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Pairs at or above this share of their own (non-starter) lines are listed.
pub const DEFAULT_THRESHOLD: f64 = 0.8;
/// A pair is compared only when together they have this many lines of their own.
const MIN_LINES: usize = 6;

/// One pair of students whose graded files are near-identical.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    pub a: String,
    pub b: String,
    /// Shared lines over all lines of either (after normalising, the starter's lines removed).
    pub score: f64,
    /// The files (relative to the submission) that match at or above the threshold.
    pub files: Vec<String>,
}

/// The files of a step folder that similarity compares: compose files, nginx configurations,
/// Dockerfiles, run scripts and env files (never `solution/`).
pub fn graded_files(step_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![(PathBuf::new(), 0)];
    while let Some((relative, depth)) = stack.pop() {
        let Ok(read) = std::fs::read_dir(step_dir.join(&relative)) else { continue };
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = relative.join(&name);
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if depth < 2 && !matches!(name.as_str(), "solution" | "src" | "tests" | "app" | "site" | "certs") {
                    stack.push((path, depth + 1));
                }
            } else if kind.is_file() && graded_name(&name) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn graded_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.ends_with(".conf")
        || lower.ends_with(".template")
        || lower.starts_with("dockerfile")
        || lower.ends_with(".sh")
        || lower.ends_with(".yml")
        || lower.ends_with(".yaml")
        || lower.ends_with(".env")
        || lower == ".env.example"
        || lower.ends_with(".php")
}

/// Words every file of these kinds uses: kept as they are; any other name is renamed by the
/// order it first appears in, so a copy with other names normalises to the same lines.
const KEYWORDS: &[&str] = &[
    "services",
    "image",
    "build",
    "context",
    "environment",
    "env_file",
    "volumes",
    "networks",
    "ports",
    "depends_on",
    "condition",
    "service_healthy",
    "service_started",
    "healthcheck",
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "restart",
    "always",
    "unless-stopped",
    "command",
    "secrets",
    "file",
    "internal",
    "external",
    "container_name",
    "hostname",
    "labels",
    "cmd",
    "cmd-shell",
    "server",
    "listen",
    "ssl",
    "http2",
    "server_name",
    "location",
    "root",
    "index",
    "try_files",
    "uri",
    "proxy_pass",
    "proxy_set_header",
    "host",
    "return",
    "add_header",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_protocols",
    "include",
    "upstream",
    "error_page",
    "autoindex",
    "off",
    "on",
    "from",
    "run",
    "copy",
    "user",
    "expose",
    "workdir",
    "entrypoint",
    "arg",
    "env",
    "as",
    "docker",
    "network",
    "create",
    "volume",
    "rm",
    "-d",
    "-p",
    "-v",
    "-e",
    "--name",
    "--network",
    "--restart",
    "set",
    "exit",
    "if",
    "then",
    "fi",
    "echo",
    "https",
    "http",
    "localhost",
    "tcp",
    "true",
    "false",
];

/// A file's lines normalised: comments and blank lines gone, whitespace collapsed, lower case,
/// every name that is not a keyword renamed `n1`, `n2`... by first appearance.
pub fn normalise(text: &str) -> Vec<String> {
    let word = regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_.-]*").expect("a valid pattern");
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = match line.trim_start().starts_with("#!") {
            true => line,
            false => line.split(" #").next().unwrap_or(line),
        };
        let line = if line.trim_start().starts_with('#') || line.trim_start().starts_with("//") { "" } else { line };
        let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if collapsed.is_empty() {
            continue;
        }
        let renamed = word.replace_all(&collapsed, |m: &regex::Captures<'_>| {
            let w = &m[0];
            if KEYWORDS.contains(&w) {
                w.to_string()
            } else {
                let next = format!("n{}", names.len() + 1);
                names.entry(w.to_string()).or_insert(next).clone()
            }
        });
        lines.push(renamed.into_owned());
    }
    lines
}

/// Each student's lines per file, with what the starter gave everyone removed.
fn own_lines(root: &Path, step_dirs: &[PathBuf], starter: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = BTreeMap::new();
    for dir in step_dirs {
        for relative in graded_files(&root.join(dir)) {
            let path = dir.join(&relative);
            let Ok(text) = std::fs::read_to_string(root.join(&path)) else { continue };
            let given: BTreeSet<String> = std::fs::read_to_string(starter.join(&path))
                .map(|t| normalise(&t).into_iter().collect())
                .unwrap_or_default();
            let own: BTreeSet<String> = normalise(&text).into_iter().filter(|l| !given.contains(l)).collect();
            files.insert(path.display().to_string(), own);
        }
    }
    files
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> (f64, usize) {
    let union = a.union(b).count();
    if union == 0 {
        return (0.0, 0);
    }
    (a.intersection(b).count() as f64 / union as f64, union)
}

/// The pairs of `submissions` (student, folder) whose graded files in `step_dirs` are
/// near-identical (at or above `threshold`), once normalised and without the starter's lines
/// (`starter`: the course, whose step folders hold the starter files). Highest score first.
pub fn similar_pairs(
    submissions: &[(String, PathBuf)],
    step_dirs: &[PathBuf],
    starter: &Path,
    threshold: f64,
) -> Vec<Similar> {
    let lines: Vec<(String, BTreeMap<String, BTreeSet<String>>)> =
        submissions.iter().map(|(s, root)| (s.clone(), own_lines(root, step_dirs, starter))).collect();
    let mut pairs = Vec::new();
    for (i, (a, fa)) in lines.iter().enumerate() {
        for (b, fb) in &lines[i + 1..] {
            let all_a: BTreeSet<String> =
                fa.iter().flat_map(|(f, l)| l.iter().map(move |l| format!("{f}\t{l}"))).collect();
            let all_b: BTreeSet<String> =
                fb.iter().flat_map(|(f, l)| l.iter().map(move |l| format!("{f}\t{l}"))).collect();
            // The same file under another name still compares: lines are keyed by kind of file.
            let (score, union) = jaccard(&by_kind(&all_a), &by_kind(&all_b));
            if union < MIN_LINES || score < threshold {
                continue;
            }
            let files = fa
                .iter()
                .filter_map(|(file, own)| {
                    let best = fb
                        .values()
                        .map(|other| jaccard(own, other))
                        .filter(|(_, n)| *n > 0)
                        .map(|(s, _)| s)
                        .fold(0.0, f64::max);
                    (best >= threshold).then(|| file.clone())
                })
                .collect();
            pairs.push(Similar { a: a.clone(), b: b.clone(), score, files });
        }
    }
    pairs.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b)));
    pairs
}

/// `file\tline` keyed by the file's kind instead of its name (compose.yaml and
/// docker-compose.yml are one kind).
fn by_kind(lines: &BTreeSet<String>) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| {
            let (file, line) = l.split_once('\t').unwrap_or(("", l));
            let name = file.rsplit('/').next().unwrap_or(file).to_lowercase();
            let kind = if name.ends_with(".yml") || name.ends_with(".yaml") {
                "compose"
            } else if name.starts_with("dockerfile") {
                "dockerfile"
            } else if name.ends_with(".conf") || name.ends_with(".template") {
                "nginx"
            } else {
                name.as_str()
            };
            let folder = file.rsplit_once('/').map(|(d, _)| d.split('/').take(2).collect::<Vec<_>>().join("/"));
            format!("{}:{kind}\t{line}", folder.unwrap_or_default())
        })
        .collect()
}

pub fn similarity_csv(pairs: &[Similar]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["student_a", "student_b", "score", "files"])?;
    for p in pairs {
        writer.write_record([p.a.as_str(), p.b.as_str(), &format!("{:.2}", p.score), &p.files.join(" ")])?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

/// A failure message with what varies between runs taken out (ports, numbers, ids, temp paths),
/// so the same mistake groups together.
pub fn normalise_message(text: &str) -> String {
    let temp = regex::Regex::new(r"/tmp/[^\s:,)]*").expect("a valid pattern");
    let hex = regex::Regex::new(r"\b[0-9a-f]{12,64}\b").expect("a valid pattern");
    let number = regex::Regex::new(r"\d+").expect("a valid pattern");
    let text = temp.replace_all(text, "/tmp/…");
    let text = hex.replace_all(&text, "<id>");
    let text = number.replace_all(&text, "N");
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 160 {
        text.chars().take(159).collect::<String>() + "…"
    } else {
        text
    }
}

/// One grouped failure: a check, its normalised message, and who got it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub check: String,
    pub message: String,
    pub students: Vec<String>,
}

/// The failures of the class's reports, grouped by check and normalised message; most common first.
pub fn failures(reports: &[(String, Value)]) -> Vec<Failure> {
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (student, report) in reports {
        for step in report["steps"].as_array().into_iter().flatten() {
            for check in step["checks"].as_array().into_iter().flatten() {
                if check["status"] != "failed" {
                    continue;
                }
                let said = check["actual"].as_str().or(check["reason"].as_str()).unwrap_or("failed");
                let key = (check["id"].as_str().unwrap_or_default().to_string(), normalise_message(said));
                groups.entry(key).or_default().push(student.clone());
            }
        }
    }
    let mut list: Vec<Failure> =
        groups.into_iter().map(|((check, message), students)| Failure { check, message, students }).collect();
    list.sort_by(|a, b| b.students.len().cmp(&a.students.len()).then(a.check.cmp(&b.check)));
    list
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The class page.
pub fn class_html(
    lab: &str,
    steps: &[StepColumns],
    rows: &[Row],
    stems: &BTreeMap<String, String>,
    failures: &[Failure],
    pairs: &[Similar],
) -> String {
    let (_, summary) = crate::grade::gradebook::summary(steps, rows);
    let graded: Vec<&Row> = rows.iter().filter(|r| r.score.is_some()).collect();
    // The score distribution: ten bins of the percentage (100% in the last).
    let mut bins = [0usize; 10];
    for row in &graded {
        if let (Some(s), Some(m)) = (row.score, row.max_score) {
            let pct = if m == 0 { 100.0 } else { f64::from(s) * 100.0 / f64::from(m) };
            bins[((pct / 10.0) as usize).min(9)] += 1;
        }
    }
    let tallest = bins.iter().copied().max().unwrap_or(0).max(1);
    let mut histogram = String::new();
    for (i, n) in bins.iter().enumerate() {
        let height = n * 160 / tallest;
        histogram.push_str(&format!(
            "<div class=\"bin\" title=\"{lo}-{hi}%: {n}\"><span class=\"n\">{n}</span><div class=\"bar\" style=\"height:{height}px\"></div><span class=\"label\">{lo}-{hi}%</span></div>",
            lo = i * 10,
            hi = if i == 9 { 100 } else { i * 10 + 9 },
        ));
    }
    let mut rates = String::new();
    for check in summary["checks"].as_array().into_iter().flatten() {
        let rate = check["pass_rate"].as_f64().unwrap_or(0.0);
        let width = (rate * 300.0).round() as u32;
        rates.push_str(&format!(
            "<tr><td><code>{}</code></td><td><div class=\"rate\"><div class=\"pass\" style=\"width:{width}px\"></div><div class=\"fail\" style=\"width:{}px\"></div></div></td><td>{}/{} ({:.0}%)</td><td>{}</td></tr>",
            esc(check["id"].as_str().unwrap_or_default()),
            300 - width,
            check["passed"],
            check["graded"],
            rate * 100.0,
            esc(check["title"].as_str().unwrap_or_default())
        ));
    }
    let mut common = String::new();
    for f in failures.iter().take(25) {
        common.push_str(&format!(
            "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            f.students.len(),
            esc(&f.check),
            esc(&f.message),
            esc(&f.students.join(", "))
        ));
    }
    let mut similar = String::new();
    for p in pairs {
        similar.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td><td>{}</td></tr>",
            esc(&p.a),
            esc(&p.b),
            p.score,
            esc(&p.files.join(", "))
        ));
    }
    let mut students = String::new();
    for row in rows {
        let stem = stems.get(&row.student).cloned().unwrap_or_else(|| crate::grade::roster::stem(&row.student));
        let name = if row.score.is_some() || row.status == "error" || row.status == "timeout" {
            format!("<a href=\"reports/{}.html\">{}</a>", esc(&stem), esc(&row.student))
        } else {
            esc(&row.student)
        };
        let mut marks = String::new();
        if let Some(late) = row.late.filter(|n| *n > 0) {
            marks.push_str(&format!(" <span class=\"mark late\">{late} late</span>"));
        }
        if row.status != "graded" {
            marks.push_str(&format!(" <span class=\"mark bad\">{}</span>", esc(&row.status)));
        }
        let score = match (row.score, row.max_score) {
            (Some(s), Some(m)) => format!("{s}/{m}"),
            _ => "-".into(),
        };
        students.push_str(&format!(
            "<tr><td>{name}{marks}</td><td class=\"num\">{score}</td><td>{}</td></tr>",
            esc(&row.note)
        ));
    }
    let none = "<tr><td colspan=\"4\">none</td></tr>";
    if common.is_empty() {
        common.push_str(none);
    }
    if similar.is_empty() {
        similar.push_str(none);
    }
    let mean = summary["mean_score"].as_f64().map(|m| format!("{m:.1}")).unwrap_or_else(|| "-".into());
    let median = summary["median_score"].as_u64().map(|m| m.to_string()).unwrap_or_else(|| "-".into());
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{lab}: the class</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; background: #ffffff; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 0.2rem 0.6rem; border-bottom: 1px solid #d0d7de; text-align: left; vertical-align: top; }}
.num {{ text-align: right; }}
.histogram {{ display: flex; align-items: flex-end; gap: 6px; height: 210px; }}
.bin {{ display: flex; flex-direction: column; align-items: center; width: 56px; }}
.bin .bar {{ width: 40px; background: #1f6feb; }}
.bin .label, .bin .n {{ font-size: 0.72rem; }}
.rate {{ display: flex; height: 14px; }} .rate .pass {{ background: #1a7f37; }} .rate .fail {{ background: #cf222e; }}
.mark {{ font-size: 0.75rem; padding: 0 0.35rem; border-radius: 0.5rem; color: #ffffff; }}
.late {{ background: #9a6700; }} .bad {{ background: #8250df; }}
</style></head>
<body>
<h1>{lab}: the class</h1>
<p>{} submissions, {} graded; mean score {mean}, median {median}.</p>
<h2>Score distribution</h2>
<div class="histogram" id="histogram">{histogram}</div>
<h2>Pass rate per check (hardest first)</h2>
<table id="rates">{rates}</table>
<h2>Most common failures</h2>
<table id="failures"><tr><th>students</th><th>check</th><th>what the grader saw</th><th>who</th></tr>{common}</table>
<h2>Similar submissions</h2>
<table id="similar"><tr><th>student</th><th>student</th><th>score</th><th>files</th></tr>{similar}</table>
<h2>Students</h2>
<table id="students"><tr><th>student</th><th>score</th><th>note</th></tr>{students}</table>
</body></html>
"#,
        rows.len(),
        graded.len(),
    )
}

/// What `grade` writes beside the gradebook: the class page, the similar pairs, and the
/// gradebook for Canvas and Moodle.
pub fn write(
    out: &Path,
    selection: &crate::selection::Selection,
    steps: &[StepColumns],
    rows: &[Row],
    list: &[Entry],
    threshold: f64,
) -> anyhow::Result<()> {
    let stems: BTreeMap<String, String> = list.iter().map(|e| (e.student.clone(), e.stem.clone())).collect();
    let mut reports = Vec::new();
    for row in rows {
        let Some(stem) = stems.get(&row.student) else { continue };
        let file = out.join("reports").join(format!("{stem}.json"));
        if let Some(report) = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            reports.push((row.student.clone(), report));
        }
    }
    let graded: BTreeSet<&str> = rows.iter().filter(|r| r.score.is_some()).map(|r| r.student.as_str()).collect();
    let submissions: Vec<(String, PathBuf)> = list
        .iter()
        .filter(|e| graded.contains(e.student.as_str()))
        .map(|e| (e.student.clone(), e.path.clone()))
        .collect();
    let step_dirs: Vec<PathBuf> = selection
        .lab()
        .steps
        .iter()
        .filter(|s| selection.step_ids().contains(&s.id.as_str()))
        .map(|s| s.dir.clone())
        .collect();
    let pairs = similar_pairs(&submissions, &step_dirs, &selection.curriculum.root, threshold);
    std::fs::write(out.join("similarity.csv"), similarity_csv(&pairs)?)?;
    let page = class_html(&selection.lab_id, steps, rows, &stems, &failures(&reports), &pairs);
    std::fs::write(out.join("class.html"), page)?;
    let lab = selection.lab();
    let max = steps.iter().flat_map(|(_, c)| c.iter().map(|(_, _, p)| *p)).sum::<u32>();
    let column = LmsColumn { name: format!("{}: {}", lab.id, lab.title), max };
    let scores: BTreeMap<String, Option<u32>> = rows.iter().map(|r| (r.student.clone(), r.score)).collect();
    std::fs::write(out.join("canvas.csv"), canvas_csv(&[(column.clone(), scores.clone())])?)?;
    std::fs::write(out.join("moodle.csv"), moodle_csv(&[(column, scores)])?)?;
    Ok(())
}

/// One graded item of an LMS gradebook: its name and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct LmsColumn {
    pub name: String,
    pub max: u32,
}

type LmsLab = (LmsColumn, BTreeMap<String, Option<u32>>);

fn students_of(labs: &[LmsLab]) -> BTreeSet<String> {
    labs.iter().flat_map(|(_, scores)| scores.keys().cloned()).collect()
}

/// Canvas's gradebook import: `Student, ID, SIS User ID, SIS Login ID, Section`, then one column
/// per assignment (a new name makes a new assignment on import), and a `Points Possible` row.
/// The roster's student goes in `Student` and `SIS Login ID` (Canvas matches on the login).
/// No score (not graded): an empty cell, which Canvas leaves as it was.
pub fn canvas_csv(labs: &[LmsLab]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> =
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"].iter().map(|s| s.to_string()).collect();
    header.extend(labs.iter().map(|(c, _)| c.name.clone()));
    writer.write_record(&header)?;
    let mut points = vec!["Points Possible".to_string(), String::new(), String::new(), String::new(), String::new()];
    points.extend(labs.iter().map(|(c, _)| c.max.to_string()));
    writer.write_record(&points)?;
    for student in students_of(labs) {
        let mut record = vec![student.clone(), String::new(), String::new(), student.clone(), String::new()];
        record.extend(
            labs.iter().map(|(_, s)| s.get(&student).copied().flatten().map(|n| n.to_string()).unwrap_or_default()),
        );
        writer.write_record(&record)?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

/// Moodle's grade import (Grades > Import > CSV file): a column that identifies the user - here
/// `Username`, and `Email address` when the roster's student is an address - mapped on import,
/// and one column per grade item. Not graded: an empty cell (Moodle skips it).
pub fn moodle_csv(labs: &[LmsLab]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec!["Username".into(), "Email address".into()];
    header.extend(labs.iter().map(|(c, _)| c.name.clone()));
    writer.write_record(&header)?;
    for student in students_of(labs) {
        let email = if student.contains('@') { student.clone() } else { String::new() };
        let mut record = vec![student.clone(), email];
        record.extend(
            labs.iter().map(|(_, s)| s.get(&student).copied().flatten().map(|n| n.to_string()).unwrap_or_default()),
        );
        writer.write_record(&record)?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

/// `cargo xtask publish --out DIR GRADES...`: several labs' `grade --out` folders (each with
/// the `canvas.csv` grade wrote for its lab) into one Canvas and one Moodle file, one column per lab.
pub fn publish(grades: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    if grades.is_empty() {
        bail!("give the `grade --out` folders to publish (one per lab)");
    }
    let mut labs: Vec<LmsLab> = Vec::new();
    for dir in grades {
        let path = dir.join("canvas.csv");
        let mut reader = csv::ReaderBuilder::new().from_path(&path).with_context(|| {
            format!("cannot read {} (is {} a `grade --out` folder?)", path.display(), dir.display())
        })?;
        let headers = reader.headers()?.clone();
        let (Some(name), 6) = (headers.get(5), headers.len()) else {
            bail!("{} is not a lab's canvas.csv (written by `grade`)", path.display());
        };
        let mut column = LmsColumn { name: name.to_string(), max: 0 };
        let mut scores = BTreeMap::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("{} is not CSV", path.display()))?;
            if &record[0] == "Points Possible" {
                column.max = record[5].parse().unwrap_or(0);
            } else {
                scores.insert(record[3].to_string(), record[5].parse::<u32>().ok());
            }
        }
        if labs.iter().any(|(c, _)| c.name == column.name) {
            bail!("{} and another folder grade the same lab ({}): give one folder per lab", dir.display(), column.name);
        }
        labs.push((column, scores));
    }
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not an empty folder: give a new folder to publish into", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("canvas.csv"), canvas_csv(&labs)?)?;
    std::fs::write(out.join("moodle.csv"), moodle_csv(&labs)?)?;
    eprintln!(
        "{} labs, {} students: {} and {}",
        labs.len(),
        students_of(&labs).len(),
        out.join("canvas.csv").display(),
        out.join("moodle.csv").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTER: &str = "services:\n  # TODO(db): the database\n  web:\n    image: wordpress:6.1-apache\n";
    const MINE: &str = "services:\n  web:\n    image: wordpress:6.1-apache\n    environment:\n      WORDPRESS_DB_HOST: db\n      WORDPRESS_DB_USER: wp\n    depends_on: [db]\n  db:\n    image: mariadb:10.11\n    volumes: [dbdata:/var/lib/mysql]\n    healthcheck:\n      test: [\"CMD\", \"healthcheck.sh\", \"--connect\"]\nvolumes:\n  dbdata:\n";

    fn class(students: &[(&str, &str)]) -> (tempfile::TempDir, Vec<(String, PathBuf)>) {
        let dir = tempfile::tempdir().unwrap();
        let starter = dir.path().join("course/labs/compose");
        std::fs::create_dir_all(&starter).unwrap();
        std::fs::write(starter.join("compose.yaml"), STARTER).unwrap();
        let mut list = Vec::new();
        for (name, text) in students {
            let step = dir.path().join(name).join("labs/compose");
            std::fs::create_dir_all(&step).unwrap();
            std::fs::write(step.join("compose.yaml"), text).unwrap();
            list.push((name.to_string(), dir.path().join(name)));
        }
        (dir, list)
    }

    #[test]
    fn copied_and_renamed_pairs_are_found_and_a_shared_starter_is_not() {
        // A copy with other spacing and comments; a copy with every name changed; two students
        // who left the starter alone; one who wrote their own.
        let spaced = MINE.replace("    image: mariadb", "    # the database\n    image:   mariadb");
        let renamed =
            MINE.replace("web", "blog").replace("db", "database").replace("dbdata", "store").replace("wp", "blogger");
        let own = "services:\n  web:\n    image: wordpress:6.1-apache\n    ports: [\"127.0.0.1:8000:80\"]\n    environment: { WORDPRESS_DB_HOST: mysql, WORDPRESS_DB_NAME: site }\n  mysql:\n    image: mariadb:10.11\n    restart: always\n    environment: { MARIADB_RANDOM_ROOT_PASSWORD: \"1\" }\n";
        let (dir, list) = class(&[
            ("ada", MINE),
            ("bea", &spaced),
            ("cy", &renamed),
            ("dee", STARTER),
            ("eve", STARTER),
            ("fin", own),
        ]);
        let pairs =
            similar_pairs(&list, &[PathBuf::from("labs/compose")], &dir.path().join("course"), DEFAULT_THRESHOLD);
        let found: Vec<(&str, &str)> = pairs.iter().map(|p| (p.a.as_str(), p.b.as_str())).collect();
        assert!(found.contains(&("ada", "bea")), "a copy with other spacing and comments: {pairs:?}");
        assert!(found.contains(&("ada", "cy")), "a copy with other names: {pairs:?}");
        assert!(!found.contains(&("dee", "eve")), "sharing the starter is not copying: {pairs:?}");
        assert!(!found.iter().any(|(a, b)| *a == "fin" || *b == "fin"), "one's own work: {pairs:?}");
        assert_eq!(pairs[0].files, vec!["labs/compose/compose.yaml".to_string()]);
        let csv = similarity_csv(&pairs).unwrap();
        assert!(csv.starts_with("student_a,student_b,score,files\nada,bea,1.00,labs/compose/compose.yaml\n"), "{csv}");
    }

    #[test]
    fn failure_messages_group_once_what_varies_is_taken_out() {
        let report = |port: u32| {
            serde_json::json!({"steps": [{"checks": [
                {"id": "site-answers", "status": "failed", "actual": format!("nothing listens on 127.0.0.1:{port}")},
                {"id": "site-title", "status": "passed", "actual": null},
            ]}]})
        };
        let list = failures(&[("ada".into(), report(40001)), ("bob".into(), report(40002))]);
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].message, "nothing listens on N.N.N.N:N");
        assert_eq!(list[0].students, vec!["ada".to_string(), "bob".to_string()]);
    }

    #[test]
    fn lms_files_have_the_columns_their_imports_read() {
        let lab1 = (
            LmsColumn { name: "lab1: Serve a site".into(), max: 36 },
            BTreeMap::from([("ada@uni.test".to_string(), Some(36)), ("bob".to_string(), None)]),
        );
        let lab2 = (
            LmsColumn { name: "lab2: Containers".into(), max: 49 },
            BTreeMap::from([("ada@uni.test".to_string(), Some(40))]),
        );
        let canvas = canvas_csv(&[lab1.clone(), lab2.clone()]).unwrap();
        assert_eq!(
            canvas,
            "Student,ID,SIS User ID,SIS Login ID,Section,lab1: Serve a site,lab2: Containers\nPoints Possible,,,,,36,49\nada@uni.test,,,ada@uni.test,,36,40\nbob,,,bob,,,\n"
        );
        let moodle = moodle_csv(&[lab1, lab2]).unwrap();
        assert_eq!(
            moodle,
            "Username,Email address,lab1: Serve a site,lab2: Containers\nada@uni.test,ada@uni.test,36,40\nbob,,,\n"
        );
    }
}
