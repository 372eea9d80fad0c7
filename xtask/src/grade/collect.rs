//! `cargo xtask collect`: a class's repositories, as they were at the deadline.
//!
//! Each student's repository is cloned into `OUT/<student>` (https, ssh or `file://`) and the last
//! commit whose committer date is at or before the deadline is checked out (detached); later
//! commits are counted as `late`, never graded. `OUT/roster.csv` records, per student, the
//! folder, the repository, the commit, its date, the late count, a status and the reason: it is
//! the roster `cargo xtask grade --roster` reads (a student whose repository could not be
//! collected gets a gradebook row with the reason, and is not graded).
//!
//! Nothing of a repository runs: a fresh clone with no hook (an empty template and
//! `core.hooksPath=/dev/null`), no submodule, no Git LFS (no filter is configured: a pointer
//! stays a pointer), no system or user git configuration (which could name programs), no
//! prompt. Each clone has a size and a time limit; the clone's processes are stopped (their
//! process group, started here) when it overruns. A checkout with a symlink that leads out of it
//! is refused (the grader reads the files). A private https repository's token comes from an
//! environment variable the instructor names, and reaches git only through its environment
//! (`GIT_CONFIG_*`): never a command line, a file or a log.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The process groups of the clones running now (each clone leads its own), so Ctrl-C can stop them.
static RUNNING: std::sync::Mutex<std::collections::BTreeSet<u32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Set once `--out` was found new or empty and made ours: only then does Ctrl-C clear it.
static CLAIMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set by Ctrl-C: no further repository is started.
static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ctrl-C: stops every clone running (their process groups, started here) and removes what this
/// collect wrote into `out` (a new or empty folder when it began): nothing half-written is left.
pub fn interrupt(out: &Path) -> anyhow::Error {
    STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
    for group in RUNNING.lock().map(|r| r.clone()).unwrap_or_default() {
        crate::process::signal_group(group, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(200));
    if !CLAIMED.load(std::sync::atomic::Ordering::SeqCst) {
        return anyhow::anyhow!("interrupted before anything was written");
    }
    if let Ok(read) = std::fs::read_dir(out) {
        for entry in read.flatten() {
            let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
        }
    }
    anyhow::anyhow!("interrupted: the clones were stopped and {} left empty; run collect again", out.display())
}

/// What `cargo xtask collect` was asked.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub roster: PathBuf,
    /// RFC 3339, e.g. 2026-12-01T23:59:00+01:00.
    pub deadline: String,
    pub out: PathBuf,
    pub jobs: usize,
    /// GitHub Classroom rosters: the organisation and the assignment's repository prefix.
    pub org: Option<String>,
    pub prefix: Option<String>,
    /// The environment variable holding a token for private https repositories.
    pub token_env: Option<String>,
    /// Each repository's limit, in bytes (what the clone holds on disk).
    pub max_bytes: u64,
    /// Each repository's wall clock.
    pub timeout: Duration,
}

/// One student to collect: their name and where their repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub student: String,
    /// Empty when the roster has no repository for the student (the reason says why).
    pub repository: String,
    pub reason: String,
}

/// What collecting one repository gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Collected {
    pub student: String,
    pub repository: String,
    /// The folder (relative to OUT), when there is a checkout to grade.
    pub path: String,
    pub commit: String,
    /// The commit's committer date (RFC 3339, UTC).
    pub committed: String,
    /// Commits after the deadline (not graded).
    pub late: usize,
    /// collected (graded), unfetched (no repository, no access, over a limit), empty (no commit),
    /// no-commit (none at or before the deadline), refused (the checkout is unsafe to grade).
    pub status: String,
    /// Why it is not collected, or what is worth knowing (submodules, LFS pointers).
    pub reason: String,
}

/// Parses an RFC 3339 deadline into Unix seconds.
pub fn parse_deadline(text: &str) -> anyhow::Result<i64> {
    let at = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
        anyhow::anyhow!(
            "--deadline `{text}` is not an RFC 3339 time: give a date, a time and an offset, e.g. 2026-12-01T23:59:00+01:00 or 2026-12-01T22:59:00Z"
        )
    })?;
    Ok(at.unix_timestamp())
}

/// The roster's students and their repositories: a plain `student,repository` CSV, GitHub
/// Classroom's roster export (`identifier,github_username,...`: the repository is
/// `https://github.com/ORG/PREFIX-<github_username>`, so `org` and `prefix` are needed) or its
/// assignment export (`roster_identifier`, `github_username`, `student_repository_url`).
pub fn read_roster(roster: &Path, org: Option<&str>, prefix: Option<&str>) -> anyhow::Result<Vec<Wanted>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(roster)
        .with_context(|| format!("cannot read the roster {}", roster.display()))?;
    let headers = reader.headers().with_context(|| format!("{}: no header row", roster.display()))?.clone();
    let column = |names: &[&str]| names.iter().find_map(|n| headers.iter().position(|h| h.eq_ignore_ascii_case(n)));
    let student = column(&["student", "roster_identifier", "identifier", "name"]);
    let username = column(&["github_username", "username"]);
    let repository = column(&["repository", "repo", "url", "student_repository_url"]);
    let has = headers.iter().collect::<Vec<_>>().join(", ");
    if student.is_none() && username.is_none() {
        bail!("{}: the header must name a `student` column (or Classroom's `identifier`/`github_username`); it has: {has}", roster.display());
    }
    if repository.is_none() {
        if username.is_none() {
            bail!(
                "{}: the header must name a `repository` column (or Classroom's `github_username`); it has: {has}",
                roster.display()
            );
        }
        if org.is_none() || prefix.is_none() {
            bail!(
                "{} is a GitHub Classroom roster (no repository column): give --org ORG and --prefix PREFIX (repositories ORG/PREFIX-<github username>)",
                roster.display()
            );
        }
    }
    let base = roster.parent().unwrap_or(Path::new("."));
    let mut list: Vec<Wanted> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.with_context(|| format!("{}: row {line} is not CSV", roster.display()))?;
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or_default().to_string();
        let login = field(username);
        let name = Some(field(student)).filter(|s| !s.is_empty()).unwrap_or_else(|| login.clone());
        if name.is_empty() {
            bail!("{}: row {line} names no student", roster.display());
        }
        if let Some(first) = seen.insert(name.to_lowercase(), line) {
            bail!("{}: student '{name}' is in rows {first} and {line}: one row per student", roster.display());
        }
        let mut wanted = Wanted { student: name, repository: field(repository), reason: String::new() };
        if repository.is_none() {
            match (org, prefix) {
                (Some(org), Some(prefix)) if !login.is_empty() => {
                    wanted.repository = format!("https://github.com/{org}/{prefix}-{login}");
                }
                _ => wanted.reason = "no GitHub account is linked to this roster entry: no repository".into(),
            }
        } else if wanted.repository.is_empty() {
            wanted.reason = "the roster gives no repository".into();
        } else if !wanted.repository.contains("://") && !wanted.repository.contains('@') {
            // A local path: relative to the roster, as a file:// URL.
            let path = Path::new(&wanted.repository);
            let path = if path.is_absolute() { path.to_path_buf() } else { base.join(path) };
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            wanted.repository = format!("file://{}", path.display());
        }
        list.push(wanted);
    }
    if list.is_empty() {
        bail!("{}: the roster has no rows", roster.display());
    }
    Ok(list)
}

/// Collects the class into `options.out` (new, or an empty folder); writes `roster.csv`.
pub fn run(options: &CollectOptions) -> anyhow::Result<Vec<Collected>> {
    let deadline = parse_deadline(&options.deadline)?;
    let wanted = read_roster(&options.roster, options.org.as_deref(), options.prefix.as_deref())?;
    if options.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let token = match &options.token_env {
        Some(name) => match std::env::var(name) {
            Ok(token) if !token.trim().is_empty() => Some(token.trim().to_string()),
            _ => bail!("--token-env {name}: the environment variable {name} is not set (export it, holding the token)"),
        },
        None => None,
    };
    let out = &options.out;
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not an empty folder: give a new folder to collect into", out.display());
    }
    // The stems are checked before anything is written: two students never share a folder.
    let mut stems = BTreeMap::new();
    for w in &wanted {
        if let Some(other) = stems.insert(crate::grade::roster::stem(&w.student).to_lowercase(), w.student.clone()) {
            bail!(
                "students '{other}' and '{}' would share a folder ({}): name them apart in the roster",
                w.student,
                crate::grade::roster::stem(&w.student)
            );
        }
    }
    let staging = out.join(".collecting");
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", out.display()))?;
    CLAIMED.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let queue = std::sync::Mutex::new(wanted.into_iter().enumerate().collect::<Vec<_>>());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs {
            scope.spawn(|| loop {
                if STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Some((index, w)) = queue.lock().expect("queue").pop() else { break };
                let one = collect_one(&w, deadline, options, token.as_deref(), &staging);
                if STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
                    break; // stopped by Ctrl-C: nothing of it is reported or kept
                }
                eprintln!("  {:<24} {}", w.student, describe(&one));
                results.lock().expect("results").push((index, one));
            });
        }
    });
    let _ = std::fs::remove_dir_all(&staging);
    if STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
        bail!("interrupted");
    }
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(index, _)| *index);
    let collected: Vec<Collected> = results.into_iter().map(|(_, c)| c).collect();
    let path = out.join("roster.csv");
    std::fs::write(&path, roster_csv(&collected)?).with_context(|| format!("cannot write {}", path.display()))?;
    let ok = collected.iter().filter(|c| c.status == "collected").count();
    let late: usize = collected.iter().map(|c| c.late).sum();
    eprintln!(
        "{} repositories in {:.0} s: {ok} collected, {} not ({late} commits after the deadline left out); grade with: cargo xtask grade LAB --roster {}",
        collected.len(),
        started.elapsed().as_secs_f64(),
        collected.len() - ok,
        path.display()
    );
    Ok(collected)
}

fn describe(c: &Collected) -> String {
    match c.status.as_str() {
        "collected" => format!(
            "{} ({}){}{}",
            &c.commit[..c.commit.len().min(12)],
            c.committed,
            if c.late > 0 { format!(", {} late commit(s) left out", c.late) } else { String::new() },
            if c.reason.is_empty() { String::new() } else { format!("; {}", c.reason) }
        ),
        status => format!("{status}: {}", c.reason),
    }
}

/// `roster.csv`: what `grade --roster` reads (`student`, `path`) and what collect found.
pub fn roster_csv(collected: &[Collected]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["student", "path", "repository", "commit", "committed", "late", "status", "reason"])?;
    for c in collected {
        let late = c.late.to_string();
        writer.write_record([
            c.student.as_str(),
            c.path.as_str(),
            c.repository.as_str(),
            c.commit.as_str(),
            c.committed.as_str(),
            late.as_str(),
            c.status.as_str(),
            c.reason.as_str(),
        ])?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

/// A git command that runs nothing of the repository and asks nothing of anyone.
fn git(token: Option<&str>, https: bool) -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=20")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["-c", "core.hooksPath=/dev/null", "-c", "protocol.ext.allow=never", "-c", "core.symlinks=true"])
        .stdin(Stdio::null());
    let mut config: Vec<(&str, String)> = Vec::new();
    if let (Some(token), true) = (token, https) {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        config.push(("http.extraHeader", format!("Authorization: Basic {basic}")));
    }
    command.env("GIT_CONFIG_COUNT", config.len().to_string());
    for (i, (key, value)) in config.into_iter().enumerate() {
        command.env(format!("GIT_CONFIG_KEY_{i}"), key).env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
    command
}

fn collect_one(
    wanted: &Wanted,
    deadline: i64,
    options: &CollectOptions,
    token: Option<&str>,
    staging: &Path,
) -> Collected {
    let mut c = Collected {
        student: wanted.student.clone(),
        repository: wanted.repository.clone(),
        status: "unfetched".into(),
        reason: wanted.reason.clone(),
        ..Collected::default()
    };
    if !c.reason.is_empty() {
        return c;
    }
    let stem = crate::grade::roster::stem(&wanted.student);
    let clone = staging.join(&stem);
    let result = fetch(wanted, deadline, options, token, &clone, &mut c);
    match result {
        Ok(()) if c.status == "collected" || c.status == "refused" => {
            let to = options.out.join(&stem);
            match std::fs::rename(&clone, &to) {
                Ok(()) => {
                    if c.status == "collected" {
                        c.path = stem;
                    }
                }
                Err(e) => {
                    c.status = "unfetched".into();
                    c.reason = format!("cannot move the clone into place: {e}");
                }
            }
        }
        Ok(()) => {}
        Err(e) => {
            c.status = "unfetched".into();
            let mut reason = format!("{e:#}");
            if let Some(token) = token {
                reason = reason.replace(token, "***");
            }
            c.reason = reason;
        }
    }
    let _ = std::fs::remove_dir_all(&clone);
    c
}

fn fetch(
    wanted: &Wanted,
    deadline: i64,
    options: &CollectOptions,
    token: Option<&str>,
    clone: &Path,
    c: &mut Collected,
) -> anyhow::Result<()> {
    let https = wanted.repository.starts_with("https://");
    let mut command = git(token, https);
    command
        .args(["clone", "--quiet", "--no-checkout", "--no-hardlinks", "--template=", "--"])
        .arg(&wanted.repository)
        .arg(clone)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    bounded(command, clone, options)?;
    let head = git(None, false).arg("-C").arg(clone).args(["rev-parse", "--verify", "-q", "HEAD"]).output()?;
    if !head.status.success() {
        c.status = "empty".into();
        c.reason = "the repository has no commit".into();
        return Ok(());
    }
    let log =
        git(None, false).arg("-C").arg(clone).args(["log", "--date-order", "--format=%H %ct", "HEAD"]).output()?;
    let mut best: Option<(i64, String)> = None;
    let mut late = 0;
    for line in String::from_utf8_lossy(&log.stdout).lines() {
        let Some((hash, at)) = line.split_once(' ') else { continue };
        let Ok(at) = at.parse::<i64>() else { continue };
        if at > deadline {
            late += 1;
        } else if best.as_ref().is_none_or(|(b, _)| at > *b) {
            best = Some((at, hash.to_string()));
        }
    }
    c.late = late;
    let Some((at, commit)) = best else {
        c.status = "no-commit".into();
        c.reason = format!("no commit at or before the deadline ({late} after it)");
        return Ok(());
    };
    c.commit = commit.clone();
    c.committed = OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.to_string());
    let checkout = git(None, false)
        .arg("-C")
        .arg(clone)
        .args(["checkout", "--quiet", "--detach", &commit])
        .stderr(Stdio::piped())
        .output()?;
    if !checkout.status.success() {
        bail!("cannot check out {commit}: {}", String::from_utf8_lossy(&checkout.stderr).trim());
    }
    if let Some(size) = too_big(clone, options.max_bytes) {
        bail!("over the size limit once checked out ({} MB > {} MB)", size >> 20, options.max_bytes >> 20);
    }
    let scan = scan(clone)?;
    if let Some(escape) = scan.escapes.first() {
        c.status = "refused".into();
        c.reason = format!(
            "{escape}: a symlink out of the repository (the grader reads the files; {} such link(s)); not graded",
            scan.escapes.len()
        );
        return Ok(());
    }
    let mut notes = Vec::new();
    if scan.submodules {
        notes.push("has submodules (.gitmodules): they were not fetched".to_string());
    }
    if let Some(first) = scan.lfs.first() {
        notes.push(format!("{} file(s) are Git LFS pointers, not fetched ({first})", scan.lfs.len()));
    }
    c.reason = notes.join("; ");
    c.status = "collected".into();
    Ok(())
}

/// Runs a clone within the size and time limits; stops its process group when it overruns.
fn bounded(mut command: Command, clone: &Path, options: &CollectOptions) -> anyhow::Result<()> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut child = command.process_group(0).spawn().context("cannot run git (is it installed?)")?;
    RUNNING.lock().expect("running").insert(child.id());
    let _forget = Forget(child.id());
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let mut last_size = Instant::now();
    let stop = |child: &mut std::process::Child| {
        // The clone's own process group (git, its transport, index-pack): started here.
        crate::process::signal_group(child.id(), libc::SIGKILL);
        let _ = child.wait();
    };
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > options.timeout {
            stop(&mut child);
            bail!("the clone took longer than its {} s limit", options.timeout.as_secs());
        }
        if last_size.elapsed() > Duration::from_millis(250) {
            last_size = Instant::now();
            if let Some(size) = too_big(clone, options.max_bytes) {
                stop(&mut child);
                bail!("over the size limit ({} MB and growing > {} MB)", size >> 20, options.max_bytes >> 20);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = reader.join().unwrap_or_default();
    if !status.success() {
        if stderr.trim().is_empty() {
            bail!("git clone failed ({status}) and said nothing");
        }
        bail!("{}", clone_failure(&stderr));
    }
    Ok(())
}

/// Takes a finished clone's group off [`RUNNING`].
struct Forget(u32);

impl Drop for Forget {
    fn drop(&mut self) {
        if let Ok(mut running) = RUNNING.lock() {
            running.remove(&self.0);
        }
    }
}

/// git's reason, in one line: not found, no access, or what git said.
fn clone_failure(stderr: &str) -> String {
    let text = stderr.to_lowercase();
    let said = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("git clone failed").trim();
    let said = said.strip_prefix("fatal: ").unwrap_or(said);
    if text.contains("not found")
        || text.contains("does not appear to be a git repository")
        || text.contains("does not exist")
    {
        format!("not found, or no access: {said}")
    } else if text.contains("could not read username")
        || text.contains("authentication failed")
        || text.contains("permission denied")
    {
        format!("no access (a private repository needs --token-env): {said}")
    } else if text.contains("could not resolve host")
        || text.contains("unable to access")
        || text.contains("connection")
    {
        format!("the host cannot be reached: {said}")
    } else {
        format!("git clone failed: {said}")
    }
}

/// The folder's size when it is over `limit`.
fn too_big(dir: &Path, limit: u64) -> Option<u64> {
    let mut size = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&folder) else { continue };
        for entry in read.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                size += meta.len();
            }
        }
    }
    (size > limit).then_some(size)
}

/// What a checkout holds that matters before grading it.
#[derive(Debug, Default)]
pub struct Scan {
    /// Symlinks that lead out of the checkout (`path -> target`).
    pub escapes: Vec<String>,
    pub submodules: bool,
    /// Files that are Git LFS pointers.
    pub lfs: Vec<String>,
}

/// Scans a checkout (its `.git` aside).
pub fn scan(root: &Path) -> anyhow::Result<Scan> {
    let mut found = Scan { submodules: root.join(".gitmodules").exists(), ..Scan::default() };
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if path == Path::new(".git") {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                if leaves(&relative, &target) {
                    found.escapes.push(format!("{} -> {}", path.display(), target.display()));
                }
            } else if kind.is_dir() {
                stack.push(path);
            } else if entry.metadata()?.len() < 1024 {
                let head = std::fs::read(entry.path()).unwrap_or_default();
                if head.starts_with(b"version https://git-lfs.github.com/spec/") {
                    found.lfs.push(path.display().to_string());
                }
            }
        }
    }
    found.escapes.sort();
    found.lfs.sort();
    Ok(found)
}

/// Whether a link in folder `dir` (relative to the checkout) to `target` leads out of it: an
/// absolute target, or one whose `..` climb above the checkout's root (followed lexically).
fn leaves(dir: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return true;
    }
    let mut depth = dir.components().count() as i64;
    for part in target.components() {
        match part {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_rfc_3339() {
        assert_eq!(parse_deadline("2026-12-01T23:59:00Z").unwrap(), 1_796_169_540);
        assert_eq!(parse_deadline("2026-12-02T00:59:00+01:00").unwrap(), 1_796_169_540);
        for bad in ["2026-12-01", "tomorrow", "2026-12-01 23:59", ""] {
            assert!(parse_deadline(bad).unwrap_err().to_string().contains("is not an RFC 3339 time"), "{bad}");
        }
    }

    #[test]
    fn links_out_of_the_checkout_are_found_lexically() {
        assert!(leaves(Path::new("labs"), Path::new("/etc/passwd")));
        assert!(leaves(Path::new("labs"), Path::new("../../x")));
        assert!(leaves(Path::new(""), Path::new("a/../../b")));
        assert!(!leaves(Path::new("labs/a"), Path::new("../b/c")));
        assert!(!leaves(Path::new("labs"), Path::new("site/index.html")));
    }

    fn roster(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn rosters_plain_and_github_classroom() {
        let (_d, plain) =
            roster("student,repository\nada,https://example.test/ada.git\nbob,git@example.test:bob.git\n");
        let list = read_roster(&plain, None, None).unwrap();
        assert_eq!(list[0].repository, "https://example.test/ada.git");
        assert_eq!(list[1].repository, "git@example.test:bob.git");
        // Classroom's roster export: identifier, github_username, github_id, name.
        let (_d, classroom) =
            roster("\"identifier\",\"github_username\",\"github_id\",\"name\"\n\"ada@uni.test\",\"ada-l\",\"1\",\"Ada\"\n\"bob@uni.test\",\"\",\"\",\"\"\n");
        let message = read_roster(&classroom, None, None).unwrap_err().to_string();
        assert!(message.contains("give --org ORG and --prefix PREFIX"), "{message}");
        let list = read_roster(&classroom, Some("uni-web"), Some("lab-1")).unwrap();
        assert_eq!(list[0].student, "ada@uni.test");
        assert_eq!(list[0].repository, "https://github.com/uni-web/lab-1-ada-l");
        assert!(list[1].reason.contains("no GitHub account is linked"), "{:?}", list[1]);
        // Classroom's assignment export names each repository.
        let (_d, grades) = roster("assignment_name,github_username,roster_identifier,student_repository_url\nlab1,ada-l,ada@uni.test,https://github.com/uni-web/lab-1-ada-l\n");
        let list = read_roster(&grades, None, None).unwrap();
        assert_eq!(
            (list[0].student.as_str(), list[0].repository.as_str()),
            ("ada@uni.test", "https://github.com/uni-web/lab-1-ada-l")
        );
    }

    #[test]
    fn bad_rosters_say_what_is_wrong() {
        let (_d, path) = roster("name,email\nada,ada@x\n");
        let message = read_roster(&path, None, None).unwrap_err().to_string();
        assert!(
            message.contains("must name a `repository` column") && message.contains("it has: name, email"),
            "{message}"
        );
        let (_d, path) = roster("student,repository\nada,a.git\nAda,b.git\n");
        let message = read_roster(&path, None, None).unwrap_err().to_string();
        assert!(message.contains("student 'Ada' is in rows 2 and 3"), "{message}");
        let (_d, path) = roster("student,repository\n");
        assert!(read_roster(&path, None, None).unwrap_err().to_string().contains("has no rows"));
    }
}
