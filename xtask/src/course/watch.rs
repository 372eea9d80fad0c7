//! `cargo xtask watch <lab> [--step S]`: the student's loop. Grades (as `check` without `--up`),
//! then watches the step folders; when a file there changes - or, with `--interval`, when that
//! much time has passed, for a live system that changes without a file - grades again and shows
//! what changed since the last run, and the next check to fix with its hint.

use grading::{Report, Status};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub course: PathBuf,
    pub lab: String,
    pub step: Option<String>,
    pub submission: PathBuf,
    pub vars: Vec<String>,
    /// Also grade again this often (live systems change without a file changing).
    pub interval: Option<Duration>,
}

/// How often the folders are looked at.
const POLL: Duration = Duration::from_millis(250);

/// How long a check of the running system waits for it (it is up already, or it is not).
const PATIENCE: Duration = Duration::from_millis(500);

pub async fn watch(options: WatchOptions) -> anyhow::Result<ExitCode> {
    let selection = crate::selection::select(
        &options.course,
        &options.lab,
        options.step.as_deref(),
        &options.vars,
        Some(&options.submission),
    )?;
    let folders: Vec<PathBuf> = selection
        .steps
        .iter()
        .filter_map(|s| selection.lab().steps.iter().find(|d| d.id == s.id))
        .map(|d| selection.submission.join(&d.dir))
        .collect();
    let shown: Vec<String> =
        folders.iter().map(|f| f.strip_prefix(&selection.submission).unwrap_or(f).display().to_string()).collect();
    let mut files = snapshot(&folders);
    let mut last: Option<BTreeMap<String, Status>> = None;
    let mut why = String::from("first run");
    loop {
        let graded = crate::grade::check::grade_quietly(
            &options.course,
            &options.lab,
            options.step.as_deref(),
            &options.vars,
            &options.submission,
            PATIENCE,
        )
        .await;
        println!("\n[{}] {why}", clock());
        match graded {
            Ok(report) => {
                print!("{}", describe(&report, last.as_ref()));
                last = Some(statuses(&report));
            }
            Err(e) => println!("cannot grade: {e:#}"),
        }
        println!("watching {} (Ctrl-C to stop) ...", shown.join(", "));
        let since = std::time::Instant::now();
        why = loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
            let now = snapshot(&folders);
            if now != files {
                let changed = changed(&files, &now, &selection.submission);
                files = now;
                break format!("{changed} changed");
            }
            if options.interval.is_some_and(|every| since.elapsed() >= every) {
                break "regrading (--interval)".to_string();
            }
        };
    }
}

fn clock() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second())
}

fn statuses(report: &Report) -> BTreeMap<String, Status> {
    report.checks().map(|(_, c)| (c.id.clone(), c.status)).collect()
}

/// What changed since `before` (nothing on the first run), the score, and the next check to fix.
pub fn describe(report: &Report, before: Option<&BTreeMap<String, Status>>) -> String {
    let mut out = String::new();
    if let Some(before) = before {
        let moved = |to: Status| -> Vec<String> {
            report
                .checks()
                .filter(|(_, c)| c.status == to && before.get(&c.id).is_some_and(|was| *was != to))
                .map(|(_, c)| c.id.clone())
                .collect()
        };
        let (passes, fails) = (moved(Status::Passed), moved(Status::Failed));
        if passes.is_empty() && fails.is_empty() {
            out.push_str("  no check changed\n");
        }
        if !passes.is_empty() {
            out.push_str(&format!("  now passes: {}\n", passes.join(", ")));
        }
        if !fails.is_empty() {
            out.push_str(&format!("  now fails: {}\n", fails.join(", ")));
        }
    }
    out.push_str(&format!("{}\n", report.summary_line()));
    if let Some(error) = &report.error {
        out.push_str(&format!("could not grade: {error}\n"));
    }
    match report.checks().find(|(_, c)| c.status == Status::Failed) {
        Some((step, check)) => {
            out.push_str(&format!("next: {} / {} - {}\n", step.id, check.id, check.title));
            if check.visibility.shows_details() {
                if let Some(expected) = &check.expected {
                    out.push_str(&format!("  expected: {expected}\n"));
                }
                if let Some(actual) = &check.actual {
                    out.push_str(&format!("  actual:   {actual}\n"));
                }
            }
            out.push_str(&format!("  hint:     {}\n", check.hint));
        }
        None if report.full_marks() => out.push_str("every check passes: full marks\n"),
        None => {}
    }
    out
}

/// Every file under the folders, with its size and modification time.
fn snapshot(folders: &[PathBuf]) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let mut files = BTreeMap::new();
    let mut stack: Vec<PathBuf> = folders.to_vec();
    while let Some(folder) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&folder) else { continue };
        for entry in read.filter_map(Result::ok) {
            let name = entry.file_name();
            if matches!(name.to_str(), Some("target" | ".git" | "solution")) {
                continue;
            }
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files.insert(entry.path(), (meta.len(), meta.modified().ok()));
            }
        }
    }
    files
}

/// The files that differ between two snapshots, named from the submission's root.
fn changed(
    before: &BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
    now: &BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
    root: &Path,
) -> String {
    let mut names: Vec<String> = now
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path.clone())
        .chain(before.keys().filter(|path| !now.contains_key(*path)).cloned())
        .map(|path| path.strip_prefix(root).unwrap_or(&path).display().to_string())
        .collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [] => "a file".to_string(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}
