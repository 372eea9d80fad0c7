//! `cargo xtask grade`: a whole class's submissions into a gradebook.
//!
//! Each submission is graded by `cargo xtask check` in a process of its own (its own sandbox run
//! and run label, its own wall clock, killed by PID when it overruns), `--jobs` at once. Jobs never
//! see each other: each gets its own ports (the lab's `per_job.ports`, from the free ports of this
//! machine) and its own names (the lab's `per_job.names`, with the job's slot appended).
//! A broken, hostile or timed-out submission gets its row and its report; it never stops the batch.
//!
//! `OUT/` holds `gradebook.csv` (one row per student: status, total, each step, each check),
//! `reports/STUDENT.json`, `.txt` and `.html` (with provenance: who, which commit, which rubric, what graded
//! it, when), `summary.txt` and `summary.json` (each check's pass rate, hardest first), and
//! `logs/STUDENT.log` (the grader's messages); and what [`crate::grade::class`] makes of the class:
//! `class.html`, `similarity.csv`, `canvas.csv` and `moodle.csv`. A second run grades only what changed: a
//! submission whose commit (or, without git, its files), rubric and grader are as last time keeps
//! its report.

use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::grade::gradebook::{columns, gradebook_csv, parse_gradebook, row, write_outputs, Outcome, Row};
use crate::grade::roster::{read_roster, stem, Collected, Entry};

/// What `cargo xtask grade` was asked.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub course: PathBuf,
    pub lab: String,
    pub step: Option<String>,
    /// A folder with one submission folder per student (named after the student).
    pub submissions: Option<PathBuf>,
    /// A CSV roster with `student` and `path` columns (paths relative to the roster's folder).
    pub roster: Option<PathBuf>,
    pub out: PathBuf,
    pub jobs: usize,
    /// Each submission's wall clock (starting its services and grading them).
    pub timeout: Duration,
    pub up: bool,
    pub images: crate::engine::images::ImageSource,
    pub vars: Vec<String>,
    /// The engines to grade on (`DOCKER_HOST` values, each on this machine), `jobs` at once on
    /// each; none: the one the environment names.
    pub engines: Vec<String>,
    /// Grade only shard K of N (1-based): every N-th submission in the sorted list, from the K-th.
    pub shard: Option<(usize, usize)>,
    /// Instead of grading: merge these `--out` folders (one per shard) into `out`.
    pub merge: Vec<PathBuf>,
    /// Pairs of students at or above this similarity (0-1) are listed in `similarity.csv`.
    pub similarity: f64,
}

impl BatchOptions {
    /// `grade LAB --up --jobs JOBS --out OUT` with every other option at its default (no
    /// submissions yet: set `submissions` or `roster`).
    pub fn up(course: &Path, lab: &str, out: &Path, jobs: usize) -> BatchOptions {
        BatchOptions {
            course: course.to_path_buf(),
            lab: lab.to_string(),
            step: None,
            submissions: None,
            roster: None,
            out: out.to_path_buf(),
            jobs,
            timeout: crate::grade::check::DEFAULT_TIMEOUT,
            up: true,
            images: crate::engine::images::ImageSource::Auto,
            vars: Vec::new(),
            engines: Vec::new(),
            shard: None,
            merge: Vec::new(),
            similarity: crate::grade::class::DEFAULT_THRESHOLD,
        }
    }
}

/// `K/N` (1 <= K <= N): one shard of a batch split N ways.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let parsed = text.split_once('/').and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((k, n)) if k >= 1 && k <= n => Ok((k, n)),
        _ => Err(format!("`{text}` is not a shard: give K/N with 1 <= K <= N, e.g. 2/4")),
    }
}

/// The submissions of shard `k` of `n`: every n-th of the sorted list, from the k-th.
pub fn shard_of(list: Vec<Entry>, (k, n): (usize, usize)) -> Vec<Entry> {
    list.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, e)| e).collect()
}

/// The submissions: the folders of `submissions` (hidden ones aside), or the roster's rows.
pub fn entries(options: &BatchOptions) -> anyhow::Result<Vec<Entry>> {
    let mut list = match (&options.submissions, &options.roster) {
        (Some(dir), None) => {
            let read = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read the submissions folder {}", dir.display()))?;
            let mut list = Vec::new();
            for entry in read {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !entry.path().is_dir() {
                    continue;
                }
                list.push(Entry {
                    stem: stem(&name),
                    student: name,
                    path: entry.path(),
                    collected: Collected::default(),
                });
            }
            list
        }
        (None, Some(roster)) => read_roster(roster)?,
        _ => bail!("give --submissions DIR (one folder per student) or --roster FILE.csv (student,path)"),
    };
    if list.is_empty() {
        bail!("no submissions to grade: the folder has no submission folders, or the roster no rows");
    }
    list.sort_by(|a, b| a.student.cmp(&b.student));
    let mut seen = BTreeMap::new();
    for entry in &list {
        if let Some(other) = seen.insert(entry.stem.to_lowercase(), entry.student.clone()) {
            bail!(
                "students '{other}' and '{}' would share a report file ({}): name them apart in the roster",
                entry.student,
                entry.stem
            );
        }
    }
    Ok(list)
}

/// The variables that keep job `slot`'s run apart from the others', as the lab's `per_job`
/// declares them: a free port for each of its ports (none of `taken`, which grows), and the
/// job's slot appended to each of its names. `given` are the `--var` values the instructor set,
/// which the names build on.
pub fn isolation(
    lab: &grading::Lab,
    given: &[String],
    slot: usize,
    taken: &mut BTreeSet<u16>,
) -> anyhow::Result<Vec<String>> {
    let given: BTreeMap<&str, &str> = given.iter().filter_map(|v| v.split_once('=')).collect();
    let mut vars = Vec::new();
    for (name, default) in &lab.vars {
        let value = given.get(name.as_str()).copied().unwrap_or(default);
        if lab.per_job.ports.contains(name) {
            vars.push(format!("{name}={}", free_port(taken)?));
        } else if lab.per_job.names.contains(name) {
            vars.push(format!("{name}={value}-j{slot}"));
        }
    }
    Ok(vars)
}

/// A port nothing listens on now, none this batch handed out already, and none another grader
/// on this machine holds ([`sandbox::ports`]: below the ephemeral range, where no outgoing
/// connection can take it before the job publishes it).
fn free_port(taken: &mut BTreeSet<u16>) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let port = sandbox::ports::reserve().context("cannot find a free port")?;
        if taken.insert(port) {
            return Ok(port);
        }
    }
    bail!("cannot find a free port")
}

/// What a submission's report depends on: its commit (or, outside git, its files), the rubric,
/// the grader, and what was asked. Equal keys: the report from last time still holds.
fn key(entry: &Entry, options: &BatchOptions, rubric_hash: &str) -> String {
    let content = match crate::grade::provenance::git_commit(&entry.path) {
        Some(commit) => format!("git:{commit}"),
        None => format!("files:{:016x}", fingerprint(&entry.path)),
    };
    format!(
        "{content}\n{rubric_hash}\n{}\nstep={}\nup={}\n",
        crate::grade::provenance::grader_version(),
        options.step.as_deref().unwrap_or("all"),
        options.up
    )
}

/// A hash of a folder's paths, links and file contents (`.git` aside; at most 256 MiB read).
fn fingerprint(dir: &Path) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let mut budget: u64 = 256 << 20;
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(folder) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&folder) else { continue };
        for entry in read.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() && entry.file_name() != ".git" {
                stack.push(path);
            } else if !kind.is_dir() {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        feed(file.strip_prefix(dir).unwrap_or(&file).to_string_lossy().as_bytes());
        if let Ok(target) = std::fs::read_link(&file) {
            feed(target.to_string_lossy().as_bytes());
        } else if let Ok(bytes) = std::fs::read(&file) {
            let take = (bytes.len() as u64).min(budget) as usize;
            budget -= take as u64;
            feed(&bytes[..take]);
        }
    }
    hash
}

/// Grades every submission; writes the gradebook, reports and summary. Exit 0 when the batch ran
/// (whatever the submissions' grades); 2 when it could not start or was interrupted.
pub async fn run(options: BatchOptions) -> anyhow::Result<ExitCode> {
    let selection =
        crate::selection::select(&options.course, &options.lab, options.step.as_deref(), &options.vars, None)?;
    if !options.merge.is_empty() {
        return merge(&options, &selection);
    }
    let lab = selection.lab().clone();
    let rubric_hash = crate::grade::provenance::rubric_hash(&options.course, &lab);
    let mut list = entries(&options)?;
    if let Some(shard) = options.shard {
        list = shard_of(list, shard);
    }
    if options.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    for dir in ["reports", "logs"] {
        std::fs::create_dir_all(options.out.join(dir))
            .with_context(|| format!("cannot create {}", options.out.join(dir).display()))?;
    }
    // The engines, and on each the images the lab starts (made once, copied to the others).
    // Without --up nothing runs; one engine named by the environment is the child's to find.
    // The lab's images are made here, once, before any job starts: two jobs never build one image.
    let engines: Vec<Option<String>> = if options.up && !options.engines.is_empty() {
        let engines = crate::grade::pool::connect(&options.engines).await?;
        crate::grade::pool::share_images(&engines, &crate::workspace_root(), &selection, options.images).await?;
        engines.into_iter().map(|e| Some(e.endpoint)).collect()
    } else {
        if options.up {
            let engine = crate::engine::ensure(crate::engine::Provision::IfMissing).await?;
            crate::grade::pool::share_images(&[engine], &crate::workspace_root(), &selection, options.images).await?;
        }
        vec![None]
    };
    let exe = std::env::current_exe().context("cannot find the grader's own program")?;
    let started = Instant::now();
    let progress = Progress::new(list.len());
    // Slot s runs on engine s % engines: the first jobs spread over the engines.
    let slot_count = options.jobs * engines.len();
    let slots = Arc::new(Mutex::new((0..slot_count).rev().collect::<Vec<usize>>()));
    let taken = Arc::new(Mutex::new(BTreeSet::new()));
    let running: Arc<Mutex<BTreeSet<u32>>> = Arc::new(Mutex::new(BTreeSet::new()));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(slot_count));
    let engines = Arc::new(engines);
    let mut tasks = tokio::task::JoinSet::new();
    for entry in list.clone() {
        let (options, exe, rubric_hash, engines) = (options.clone(), exe.clone(), rubric_hash.clone(), engines.clone());
        let (slots, taken, running, semaphore, lab) =
            (slots.clone(), taken.clone(), running.clone(), semaphore.clone(), lab.clone());
        let progress = progress.clone();
        tasks.spawn(async move {
            if entry.collected.not_gradable() {
                let outcome = Outcome::NotCollected;
                progress.finish(&entry.student, &outcome, Duration::ZERO);
                return (entry, outcome);
            }
            let _permit = semaphore.acquire_owned().await.expect("semaphore open");
            progress.start(&entry.student);
            let key = key(&entry, &options, &rubric_hash);
            let key_file = options.out.join("reports").join(format!("{}.key", entry.stem));
            let report_file = options.out.join("reports").join(format!("{}.json", entry.stem));
            if std::fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str()) && reusable(&report_file) {
                progress.finish(&entry.student, &Outcome::Unchanged, Duration::ZERO);
                return (entry, Outcome::Unchanged);
            }
            let _ = std::fs::remove_file(&key_file);
            let slot = slots.lock().expect("slots").pop().expect("a slot per permit");
            let vars = {
                let mut taken = taken.lock().expect("ports");
                isolation(&lab, &options.vars, slot, &mut taken)
            };
            let began = Instant::now();
            let outcome = match vars {
                Ok(vars) => {
                    let engine = engines[slot % engines.len()].as_deref();
                    grade_one(&exe, &options, &entry, &vars, engine, &running).await
                }
                Err(e) => Outcome::Error(format!("{e:#}")),
            };
            slots.lock().expect("slots").push(slot);
            if matches!(outcome, Outcome::Graded) {
                let _ = std::fs::write(&key_file, &key);
            }
            progress.finish(&entry.student, &outcome, began.elapsed());
            (entry, outcome)
        });
    }
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut interrupted = false;
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(Ok((entry, outcome))) => { outcomes.insert(entry.student, outcome); }
                Some(Err(e)) => eprintln!("warning: a grading task failed: {e}"),
                None => break,
            },
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                eprintln!("interrupted: stopping the submissions being graded (each run removes what it made) ...");
                tasks.abort_all();
                stop_all(&running).await;
            }
        }
    }
    progress.done();
    let rows = write_gradebook(&options, &selection, &list, &outcomes)?;
    let graded = outcomes.values().filter(|o| matches!(o, Outcome::Graded)).count();
    let unchanged = outcomes.values().filter(|o| matches!(o, Outcome::Unchanged)).count();
    eprintln!(
        "{} submissions in {:.0} s: {graded} graded, {unchanged} unchanged since the last run, {} could not be graded; gradebook: {}",
        rows,
        started.elapsed().as_secs_f64(),
        outcomes.values().filter(|o| matches!(o, Outcome::Error(_) | Outcome::TimedOut)).count(),
        options.out.join("gradebook.csv").display()
    );
    if interrupted {
        bail!("interrupted: the gradebook holds the submissions graded before Ctrl-C; run again to grade the rest");
    }
    Ok(ExitCode::SUCCESS)
}

/// A report from an earlier run that can stand: it parses and the grader was not at fault.
fn reusable(report: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(report) else { return false };
    serde_json::from_str::<Value>(&text).is_ok_and(|v| v["error"].is_null())
}

/// Grades one submission in a process of its own; stops it (SIGTERM, then SIGKILL) when it
/// overruns its wall clock, with time to take down what it started.
async fn grade_one(
    exe: &Path,
    options: &BatchOptions,
    entry: &Entry,
    vars: &[String],
    engine: Option<&str>,
    running: &Mutex<BTreeSet<u32>>,
) -> Outcome {
    let reports = options.out.join("reports");
    let log_path = options.out.join("logs").join(format!("{}.log", entry.stem));
    let Ok(mut log) = std::fs::File::create(&log_path) else {
        return Outcome::Error(format!("cannot write {}", log_path.display()));
    };
    let mut command = tokio::process::Command::new(exe);
    if let Some(engine) = engine {
        use std::io::Write;
        let _ = writeln!(log, "grading on engine {engine}");
        command.env("DOCKER_HOST", engine);
    }
    command
        .arg("--course")
        .arg(&options.course)
        .args(["check", &options.lab, "--format", "json", "--out"])
        .arg(reports.join(format!("{}.json", entry.stem)))
        .arg("--text-out")
        .arg(reports.join(format!("{}.txt", entry.stem)))
        .arg("--html-out")
        .arg(reports.join(format!("{}.html", entry.stem)))
        .args(["--student", &entry.student, "--submission"])
        .arg(&entry.path)
        .args(["--timeout", &options.timeout.as_secs().to_string()]);
    if options.up {
        command.args(["--up", "--images", images_arg(options.images)]);
    }
    if let Some(step) = &options.step {
        command.args(["--step", step]);
    }
    let given: BTreeMap<&str, &str> = options.vars.iter().filter_map(|v| v.split_once('=')).collect();
    let isolated: BTreeSet<&str> = vars.iter().filter_map(|v| v.split_once('=')).map(|(k, _)| k).collect();
    for (name, value) in given.iter().filter(|(k, _)| !isolated.contains(*k)) {
        command.args(["--var", &format!("{name}={value}")]);
    }
    for var in vars {
        command.args(["--var", var]);
    }
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        // Its own process group: Ctrl-C on the terminal reaches the batch, which stops it in order.
        .process_group(0)
        .kill_on_drop(false);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::Error(format!("cannot start the grader: {e}")),
    };
    let pid = child.id().unwrap_or_default();
    running.lock().expect("running").insert(pid);
    // The check's own wall clock ends its grading; this one is for a grader that does not end.
    let limit = options.timeout + Duration::from_secs(120);
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            stop(pid, &mut child).await;
            running.lock().expect("running").remove(&pid);
            return Outcome::TimedOut;
        }
    };
    running.lock().expect("running").remove(&pid);
    match status.and_then(|s| s.code()) {
        Some(0 | 1) => Outcome::Graded,
        Some(code) => {
            let report = std::fs::read_to_string(reports.join(format!("{}.json", entry.stem)))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok());
            let why = report.as_ref().and_then(|r| r["error"].as_str()).map(str::to_string);
            Outcome::Error(
                why.unwrap_or_else(|| format!("the grader ended with exit code {code}: see {}", log_path.display())),
            )
        }
        None => Outcome::Error(format!("the grader was killed: see {}", log_path.display())),
    }
}

fn images_arg(source: crate::engine::images::ImageSource) -> &'static str {
    match source {
        crate::engine::images::ImageSource::Auto => "auto",
        crate::engine::images::ImageSource::Pull => "pull",
        crate::engine::images::ImageSource::Build => "build",
    }
}

/// SIGTERM (the grader then takes down what it started), and SIGKILL if it does not end.
async fn stop(pid: u32, child: &mut tokio::process::Child) {
    crate::process::stop(&[pid], GRADER_GRACE, |_| matches!(child.try_wait(), Ok(None))).await;
    let _ = child.wait().await;
}

/// Stops every grader still running (SIGTERM, then SIGKILL after a minute), by PID.
async fn stop_all(running: &Mutex<BTreeSet<u32>>) {
    let pids: Vec<u32> = running.lock().expect("running").iter().copied().collect();
    crate::process::stop(&pids, GRADER_GRACE, crate::process::alive).await;
}

/// How long a grader gets to take down what it started before it is killed.
const GRADER_GRACE: Duration = Duration::from_secs(60);

/// Writes `gradebook.csv`, `summary.txt` and `summary.json`; returns the number of rows.
fn write_gradebook(
    options: &BatchOptions,
    selection: &crate::selection::Selection,
    list: &[Entry],
    outcomes: &BTreeMap<String, Outcome>,
) -> anyhow::Result<usize> {
    let mut rows = Vec::new();
    for entry in list {
        let Some(outcome) = outcomes.get(&entry.student) else { continue };
        let file = options.out.join("reports").join(format!("{}.json", entry.stem));
        let report = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
        rows.push(row(entry, report.as_ref(), outcome));
    }
    let steps = columns(selection);
    write_outputs(&options.out, &steps, &rows)?;
    crate::grade::class::write(&options.out, selection, &steps, &rows, list, options.similarity)?;
    Ok(rows.len())
}

/// `--merge A --merge B ...`: the shards' `--out` folders (the same lab, step and rubric) into one
/// gradebook, its reports and logs, and the class summary over every row - what one batch of
/// the whole class would have written.
fn merge(options: &BatchOptions, selection: &crate::selection::Selection) -> anyhow::Result<ExitCode> {
    let steps = columns(selection);
    let header = gradebook_csv(&steps, &[])?;
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for dir in &options.merge {
        let path = dir.join("gradebook.csv");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read {} (is {} a `grade --out` folder?)", path.display(), dir.display())
        })?;
        if text.lines().next() != header.lines().next() {
            bail!(
                "{} has other columns than {} {}'s rubric here: it was graded with another step, rubric or grader",
                path.display(),
                selection.lab_id,
                options.step.as_deref().unwrap_or("(every step)")
            );
        }
        for row in parse_gradebook(&text, &steps).with_context(|| format!("{} is not a gradebook", path.display()))? {
            if let Some(first) = rows.get(&row.student) {
                bail!("student '{}' is in two shards ({} and {})", row.student, first.submission, path.display());
            }
            rows.insert(row.student.clone(), row);
        }
    }
    for sub in ["reports", "logs"] {
        std::fs::create_dir_all(options.out.join(sub))
            .with_context(|| format!("cannot create {}", options.out.join(sub).display()))?;
        for dir in &options.merge {
            let Ok(read) = std::fs::read_dir(dir.join(sub)) else { continue };
            for file in read.filter_map(Result::ok).filter(|f| f.path().is_file()) {
                let to = options.out.join(sub).join(file.file_name());
                std::fs::copy(file.path(), &to).with_context(|| format!("cannot write {}", to.display()))?;
            }
        }
    }
    let rows: Vec<Row> = rows.into_values().collect();
    write_outputs(&options.out, &steps, &rows)?;
    let list: Vec<Entry> = rows
        .iter()
        .map(|r| Entry {
            student: r.student.clone(),
            stem: stem(&r.student),
            path: PathBuf::from(&r.submission),
            collected: Collected::default(),
        })
        .collect();
    crate::grade::class::write(&options.out, selection, &steps, &rows, &list, options.similarity)?;
    eprintln!(
        "{} shards merged: {} submissions; gradebook: {}",
        options.merge.len(),
        rows.len(),
        options.out.join("gradebook.csv").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A progress bar with ETA on a terminal; one plain line per submission otherwise.
#[derive(Clone)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: Arc<Mutex<usize>>,
}

impl Progress {
    fn new(total: usize) -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style =
                indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} ETA {eta} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar
        });
        Progress { bar, total, done: Arc::new(Mutex::new(0)) }
    }

    fn start(&self, student: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("grading {student}"));
        }
    }

    fn finish(&self, student: &str, outcome: &Outcome, took: Duration) {
        let done = {
            let mut done = self.done.lock().expect("progress");
            *done += 1;
            *done
        };
        let what = match outcome {
            Outcome::Graded => format!("graded in {:.1} s", took.as_secs_f64()),
            Outcome::Unchanged => "unchanged since the last run".to_string(),
            Outcome::Error(why) => format!("could not be graded: {why}"),
            Outcome::TimedOut => "stopped at its wall clock".to_string(),
            Outcome::NotCollected => "not graded: collect found nothing to grade".to_string(),
        };
        match &self.bar {
            Some(bar) => {
                bar.println(format!("{student}: {what}"));
                bar.inc(1);
            }
            None => eprintln!("[{done}/{}] {student}: {what}", self.total),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_job_gets_its_own_ports_and_names() {
        let curriculum = grading::Curriculum::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap();
        let lab = curriculum.lab("lab2").unwrap();
        let mut taken = BTreeSet::new();
        let one = isolation(lab, &["project=lab".to_string()], 1, &mut taken).unwrap();
        let two = isolation(lab, &[], 2, &mut taken).unwrap();
        assert!(
            one.contains(&"project=lab-j1".to_string()) && two.contains(&"project=webdb-j2".to_string()),
            "{one:?} {two:?}"
        );
        assert!(one.contains(&"single_name=portfolio-site-j1".to_string()), "{one:?}");
        assert!(one.contains(&"proxy_container=clabs-lab2-proxy-j1".to_string()), "{one:?}");
        let port = |list: &[String]| list.iter().find_map(|v| v.strip_prefix("web_port=").map(str::to_string)).unwrap();
        assert_ne!(port(&one), port(&two));
        assert!(!one.iter().any(|v| v.starts_with("host=") || v.starts_with("mariadb_image=")));
        // What lab 1's board.env must say stays; where the board runs moves.
        let lab1 = isolation(curriculum.lab("lab1").unwrap(), &[], 3, &mut taken).unwrap();
        assert!(lab1.iter().any(|v| v.starts_with("app_port=")) && !lab1.iter().any(|v| v.starts_with("board_port=")));
        // The ports a student's nginx configuration names inside its namespace stay, and so does the
        // name the certificate is made for.
        assert!(!one.iter().any(|v| v.starts_with("site_port=") || v.starts_with("app_port=")), "{one:?}");
        assert!(!one.iter().any(|v| v.starts_with("proxy_name=")), "{one:?}");
        let lab3 = isolation(curriculum.lab("lab3").unwrap(), &[], 4, &mut taken).unwrap();
        assert!(lab3.contains(&"project=lab3-j4".to_string()), "{lab3:?}");
        assert_eq!(lab3.len(), 3, "{lab3:?}");
    }

    #[test]
    fn shards_split_the_sorted_class_and_cover_it_once() {
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let class: Vec<Entry> = ["ada", "bob", "cy", "di", "eve"].iter().map(|s| Entry::named(s)).collect();
        let shards: Vec<Vec<String>> =
            (1..=2).map(|k| shard_of(class.clone(), (k, 2)).into_iter().map(|e| e.student).collect()).collect();
        assert_eq!(shards, [vec!["ada", "cy", "eve"], vec!["bob", "di"]]);
        assert!(shard_of(class[..1].to_vec(), (2, 2)).is_empty(), "a shard may be empty");
    }
}
