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
//! `logs/STUDENT.log` (the grader's messages); and what [`crate::class`] makes of the class:
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
    pub images: crate::images::ImageSource,
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
            timeout: crate::check::DEFAULT_TIMEOUT,
            up: true,
            images: crate::images::ImageSource::Auto,
            vars: Vec::new(),
            engines: Vec::new(),
            shard: None,
            merge: Vec::new(),
            similarity: crate::class::DEFAULT_THRESHOLD,
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

/// One student's submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub student: String,
    /// The student's name made safe as a file name (reports/STEM.json).
    pub stem: String,
    pub path: PathBuf,
    /// What `collect` found (its roster's columns), when the roster came from it.
    pub collected: Collected,
}

/// A roster row's `collect` columns: the commit graded, the commits after the deadline, and
/// whether there is anything to grade (`status` other than `collected`: the reason says why).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Collected {
    pub commit: String,
    pub late: Option<usize>,
    pub status: String,
    pub reason: String,
}

impl Collected {
    /// Nothing to grade: collect could not fetch it, or refused it.
    pub fn not_gradable(&self) -> bool {
        !self.status.is_empty() && self.status != "collected"
    }
}

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

/// A file name for `student`: letters, digits, `.`, `-` and `_` kept, the rest `_`.
pub fn stem(student: &str) -> String {
    let stem: String = student
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let stem = stem.trim_start_matches('.').to_string();
    if stem.is_empty() {
        "_".to_string()
    } else {
        stem
    }
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

/// A roster: CSV with a header naming `student` and `path` (in any order). The columns `collect`
/// adds (`commit`, `late`, `status`, `reason`) are read too; other columns are ignored.
pub fn read_roster(roster: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(roster)
        .with_context(|| format!("cannot read the roster {}", roster.display()))?;
    let headers = reader.headers().with_context(|| format!("{}: no header row", roster.display()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(student), Some(path)) = (column("student"), column("path")) else {
        bail!(
            "{}: the header must name a `student` and a `path` column (it has: {})",
            roster.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let base = roster.parent().unwrap_or(Path::new("."));
    let mut list = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {} is not CSV", roster.display(), line + 2))?;
        let name = record.get(student).unwrap_or_default().to_string();
        let dir = record.get(path).unwrap_or_default();
        let field = |name: &str| column(name).and_then(|i| record.get(i)).unwrap_or_default().to_string();
        let collected = Collected {
            commit: field("commit"),
            late: field("late").parse().ok(),
            status: field("status"),
            reason: field("reason"),
        };
        if name.is_empty() || (dir.is_empty() && !collected.not_gradable()) {
            bail!("{}: row {} needs a student and a path", roster.display(), line + 2);
        }
        let dir = Path::new(dir);
        let dir = if dir.is_absolute() { dir.to_path_buf() } else { base.join(dir) };
        list.push(Entry { stem: stem(&name), student: name, path: dir, collected });
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

/// A port nothing listens on now, and none this batch handed out already.
fn free_port(taken: &mut BTreeSet<u16>) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port")?;
        let port = listener.local_addr()?.port();
        if taken.insert(port) {
            return Ok(port);
        }
    }
    bail!("cannot find a free port")
}

/// What a submission's report depends on: its commit (or, outside git, its files), the rubric,
/// the grader, and what was asked. Equal keys: the report from last time still holds.
fn key(entry: &Entry, options: &BatchOptions, rubric_hash: &str) -> String {
    let content = match crate::provenance::git_commit(&entry.path) {
        Some(commit) => format!("git:{commit}"),
        None => format!("files:{:016x}", fingerprint(&entry.path)),
    };
    format!(
        "{content}\n{rubric_hash}\n{}\nstep={}\nup={}\n",
        crate::provenance::grader_version(),
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
    let selection = crate::course::select(&options.course, &options.lab, options.step.as_deref(), &options.vars, None)?;
    if !options.merge.is_empty() {
        return merge(&options, &selection);
    }
    let lab = selection.lab().clone();
    let rubric_hash = crate::provenance::rubric_hash(&options.course, &lab);
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
        let engines = crate::pool::connect(&options.engines).await?;
        crate::pool::share_images(&engines, &crate::workspace_root(), &selection, options.images).await?;
        engines.into_iter().map(|e| Some(e.endpoint)).collect()
    } else {
        if options.up {
            let engine = crate::engine::ensure(crate::engine::Provision::IfMissing).await?;
            crate::pool::share_images(&[engine], &crate::workspace_root(), &selection, options.images).await?;
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

fn images_arg(source: crate::images::ImageSource) -> &'static str {
    match source {
        crate::images::ImageSource::Auto => "auto",
        crate::images::ImageSource::Pull => "pull",
        crate::images::ImageSource::Build => "build",
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

/// Writes `gradebook.csv`, `summary.txt` and `summary.json`; returns the number of rows.
fn write_gradebook(
    options: &BatchOptions,
    selection: &crate::course::Selection,
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
    crate::class::write(&options.out, selection, &steps, &rows, list, options.similarity)?;
    Ok(rows.len())
}

/// The gradebook's step and check columns for `selection`, in the rubric's order.
fn columns(selection: &crate::course::Selection) -> Vec<StepColumns> {
    selection
        .steps
        .iter()
        .map(|s| (s.id.clone(), s.rubric.checks.iter().map(|c| (c.id.clone(), c.title.clone(), c.points)).collect()))
        .collect()
}

fn write_outputs(out: &Path, steps: &[StepColumns], rows: &[Row]) -> anyhow::Result<()> {
    let path = out.join("gradebook.csv");
    std::fs::write(&path, gradebook_csv(steps, rows)?).with_context(|| format!("cannot write {}", path.display()))?;
    let (text, json) = summary(steps, rows);
    std::fs::write(out.join("summary.txt"), text)?;
    std::fs::write(out.join("summary.json"), serde_json::to_string_pretty(&json)? + "\n")?;
    Ok(())
}

/// `--merge A --merge B ...`: the shards' `--out` folders (the same lab, step and rubric) into one
/// gradebook, its reports and logs, and the class summary over every row - what one batch of
/// the whole class would have written.
fn merge(options: &BatchOptions, selection: &crate::course::Selection) -> anyhow::Result<ExitCode> {
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
    crate::class::write(&options.out, selection, &steps, &rows, &list, options.similarity)?;
    eprintln!(
        "{} shards merged: {} submissions; gradebook: {}",
        options.merge.len(),
        rows.len(),
        options.out.join("gradebook.csv").display()
    );
    Ok(ExitCode::SUCCESS)
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
    fn stems_are_safe_file_names() {
        assert_eq!(stem("ada"), "ada");
        assert_eq!(stem("Ada Lovelace"), "Ada_Lovelace");
        assert_eq!(stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(stem(".hidden"), "hidden");
        assert_eq!(stem(""), "_");
    }

    #[test]
    fn rosters_name_students_and_their_folders() {
        let dir = tempfile::tempdir().unwrap();
        let roster = dir.path().join("roster.csv");
        std::fs::write(&roster, "email,Student,path\nx@y,\"Lovelace, Ada\", subs/ada \nz@y,bob,/abs/bob\n").unwrap();
        let list = read_roster(&roster).unwrap();
        assert_eq!(list[0].student, "Lovelace, Ada");
        assert_eq!(list[0].path, dir.path().join("subs/ada"));
        assert_eq!(list[1].path, PathBuf::from("/abs/bob"));
        std::fs::write(&roster, "name,dir\nada,a\n").unwrap();
        assert!(read_roster(&roster).unwrap_err().to_string().contains("must name a `student` and a `path` column"));
        std::fs::write(&roster, "student,path\nada,\n").unwrap();
        assert!(read_roster(&roster).unwrap_err().to_string().contains("row 2 needs a student and a path"));
    }

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

    fn entry(name: &str) -> Entry {
        Entry {
            student: name.into(),
            stem: stem(name),
            path: PathBuf::from(format!("subs/{name}")),
            collected: Collected::default(),
        }
    }

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
            row(&entry("ada"), Some(&report), &Outcome::Graded),
            row(&entry("bob"), Some(&refused), &Outcome::Unchanged),
            row(&entry("cy"), None, &Outcome::Error("submission 'subs/cy' is empty: nothing to grade".into())),
            row(&entry("di"), None, &Outcome::TimedOut),
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

    #[test]
    fn shards_split_the_sorted_class_and_cover_it_once() {
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let class: Vec<Entry> = ["ada", "bob", "cy", "di", "eve"].iter().map(|s| entry(s)).collect();
        let shards: Vec<Vec<String>> =
            (1..=2).map(|k| shard_of(class.clone(), (k, 2)).into_iter().map(|e| e.student).collect()).collect();
        assert_eq!(shards, [vec!["ada", "cy", "eve"], vec!["bob", "di"]]);
        assert!(shard_of(class[..1].to_vec(), (2, 2)).is_empty(), "a shard may be empty");
    }
}
