//! `cargo xtask course export OUT`: the student repository - the starters, the handouts and
//! rubrics, the grader (so `cargo xtask check` runs there) and the student's grading workflow;
//! never the course's answers.
//!
//! What stays behind: every step's `solution/`, every crate's `tests/` and `benches/` (the test
//! suites hold complete answers as fixtures: other correct nginx configurations, compose files,
//! Dockerfiles - only `tests/snapshots/`, the report samples unit tests compare with, goes along),
//! this project's CI (`.ci/`, `ci.yml`) and the instructor's batch workflow. The
//! course's README gives way to the student's (`templates/student-README.md`, with the labs
//! table made from `labs.toml`).
//!
//! Before it returns, the export is searched for the answers: a file with the bytes of a
//! solution file (one that differs from the starter at its place) fails the export, which is
//! then removed - a leak is never written and left.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Paths (relative to the course, `/`-separated) never exported.
const LEFT_OUT: &[&str] =
    &["target", ".git", ".ci", ".github/workflows/ci.yml", ".github/workflows/grade-class.yml", "README.md"];

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub files: usize,
    pub bytes: u64,
}

/// Writes the student repository of `course` into `out` (new, or an empty folder).
pub fn export(course: &Path, out: &Path) -> anyhow::Result<Exported> {
    let curriculum = grading::Curriculum::load(course)?;
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not an empty folder: give a new folder to export into", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let written = write(course, out, &curriculum).and_then(|exported| {
        check_no_answers(course, out, &curriculum)?;
        check_nothing_needed_is_ignored(course, out, &curriculum)?;
        Ok(exported)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(out);
    }
    written
}

fn write(course: &Path, out: &Path, curriculum: &grading::Curriculum) -> anyhow::Result<Exported> {
    let mut exported = Exported { files: 0, bytes: 0 };
    for relative in files(course)? {
        let from = course.join(&relative);
        let to = out.join(&relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let meta = std::fs::symlink_metadata(&from)?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)
                .with_context(|| format!("cannot write {}", to.display()))?;
        } else {
            // `copy` keeps the permissions: scripts stay executable.
            exported.bytes += std::fs::copy(&from, &to).with_context(|| format!("cannot write {}", to.display()))?;
        }
        exported.files += 1;
    }
    let readme = student_readme(curriculum);
    exported.bytes += readme.len() as u64;
    exported.files += 1;
    std::fs::write(out.join("README.md"), readme).context("cannot write the student README")?;
    Ok(exported)
}

/// The course's files that go to students, relative to `course`, sorted.
pub fn files(course: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let dir = course.join(&relative);
        let read = std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in read {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if left_out(course, &path) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
        // A crate's test suites stay behind, but not the report snapshots its unit tests read.
        let snapshots = relative.join("tests").join("snapshots");
        if left_out(course, &relative.join("tests")) && course.join(&snapshots).is_dir() {
            stack.push(snapshots);
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `relative` (a path in `course`) stays behind: see the module's documentation.
fn left_out(course: &Path, relative: &Path) -> bool {
    let text = relative.to_string_lossy().replace('\\', "/");
    if LEFT_OUT.contains(&text.as_str()) {
        return true;
    }
    let name = relative.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = relative.parent().unwrap_or(Path::new(""));
    match name.as_str() {
        "solution" => true,
        // A crate's test suites and benchmarks (a folder beside its Cargo.toml).
        "tests" | "benches" => course.join(parent).join("Cargo.toml").is_file(),
        _ => false,
    }
}

/// The student README: the template with the list of labs and their steps.
fn student_readme(curriculum: &grading::Curriculum) -> String {
    let mut labs = String::new();
    for lab in &curriculum.labs {
        labs.push_str(&format!("**{}: {}**\n\n", lab.id, lab.title));
        for step in &lab.steps {
            let dir = step.dir.display();
            labs.push_str(&format!("- [{}]({dir}/README.md) (`--step {}`, in `{dir}/`)\n", step.title, step.id));
        }
        labs.push('\n');
    }
    include_str!("../../templates/student-README.md").replace("{{labs}}", labs.trim_end())
}

/// Fails when a file of `out` has the bytes of one of the course's answers: a solution file
/// that differs from the starter at its place (one equal to its starter gives nothing away).
pub fn check_no_answers(course: &Path, out: &Path, curriculum: &grading::Curriculum) -> anyhow::Result<()> {
    let mut answers: BTreeMap<Vec<u8>, PathBuf> = BTreeMap::new();
    for lab in &curriculum.labs {
        for step in &lab.steps {
            let solution = course.join(&step.dir).join("solution");
            let Ok(found) = walk_files(&solution) else { continue };
            for file in found {
                let relative = file.strip_prefix(&solution).expect("walked under it");
                let bytes = std::fs::read(&file)?;
                let starter = std::fs::read(course.join(&step.dir).join(relative)).ok();
                if starter.as_deref() != Some(bytes.as_slice()) && !bytes.iter().all(u8::is_ascii_whitespace) {
                    answers.insert(bytes, file.strip_prefix(course).unwrap_or(&file).to_path_buf());
                }
            }
        }
    }
    for file in walk_files(out)? {
        if std::fs::symlink_metadata(&file)?.file_type().is_symlink() {
            continue;
        }
        if let Some(answer) = answers.get(&std::fs::read(&file)?) {
            bail!(
                "{} is the course's answer {}: the export would give it away (nothing was exported)",
                file.strip_prefix(out).unwrap_or(&file).display(),
                answer.display()
            );
        }
        let relative = file.strip_prefix(out).unwrap_or(&file);
        if relative.components().any(|c| c.as_os_str() == "solution") {
            bail!("{} is in a solution folder: the export would give it away", relative.display());
        }
    }
    Ok(())
}

/// Files a chapter tells the student to create and never to commit: their passwords.
const KEPT_OUT_OF_GIT: &[&str] = &[".env"];

/// The files finished work needs in the student's repository, `/`-separated from its root:
/// every file a step's solution places, and every file of the lab folders a chapter names
/// (`labs/reverse-proxy/certs/localhost.crt`) - the secrets files of [`KEPT_OUT_OF_GIT`] aside.
pub fn needed_files(course: &Path, curriculum: &grading::Curriculum) -> anyhow::Result<Vec<String>> {
    let mut needed = std::collections::BTreeSet::new();
    let path_in_text = regex::Regex::new(r"labs/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.[A-Za-z0-9]+").expect("a valid pattern");
    for lab in &curriculum.labs {
        for step in &lab.steps {
            let solution = course.join(&step.dir).join("solution");
            for file in walk_files(&solution).unwrap_or_default() {
                let relative = file.strip_prefix(&solution).expect("walked under it");
                needed.insert(step.dir.join(relative).to_string_lossy().replace('\\', "/"));
            }
            let chapter = std::fs::read_to_string(course.join(&step.dir).join("README.md")).unwrap_or_default();
            for found in path_in_text.find_iter(&chapter) {
                if !found.as_str().split('/').any(|part| part == "solution") {
                    needed.insert(found.as_str().to_string());
                }
            }
        }
    }
    needed.retain(|path| !KEPT_OUT_OF_GIT.iter().any(|kept| path.rsplit('/').next() == Some(kept)));
    Ok(needed.into_iter().collect())
}

/// Fails when the exported `.gitignore` would keep out of git a file finished work needs (see
/// [`needed_files`]): a student who commits with `git add -A` would push work without it, and
/// lose its points when graded from git. Git itself says what it ignores
/// (`git check-ignore --no-index`, with no global excludes).
pub fn check_nothing_needed_is_ignored(
    course: &Path,
    out: &Path,
    curriculum: &grading::Curriculum,
) -> anyhow::Result<()> {
    let needed = needed_files(course, curriculum)?;
    let ignored = ignored_by_git(out, &needed)?;
    if let Some((pattern, path)) = ignored.first() {
        bail!(
            "the exported .gitignore ignores {path} ({pattern}), a file finished work needs: a student's `git add -A` \
             would leave it out ({} such file(s)); take the line out of .gitignore (nothing was exported)",
            ignored.len()
        );
    }
    Ok(())
}

/// Which of `paths` (relative to `tree`) git would ignore there, with the pattern that does it.
pub fn ignored_by_git(tree: &Path, paths: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    use std::io::Write;
    let git_dir = tempfile::Builder::new().prefix("clabs-ignore-").tempdir().context("cannot make a folder")?;
    let init = std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(git_dir.path())
        .status()
        .context("cannot run git (is it installed?)")?;
    if !init.success() {
        bail!("git init failed in {}", git_dir.path().display());
    }
    let mut child = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir.path())
        .arg("--work-tree")
        .arg(tree)
        .args(["-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", "--stdin", "-v"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run git check-ignore")?;
    child.stdin.take().expect("piped").write_all((paths.join("\n") + "\n").as_bytes())?;
    let output = child.wait_with_output()?;
    // 0: some are ignored; 1: none is; anything else: git could not tell.
    if !matches!(output.status.code(), Some(0 | 1)) {
        bail!("git check-ignore failed in {}", tree.display());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (source, path) = line.split_once('\t')?;
            let pattern = source.splitn(3, ':').nth(2).unwrap_or(source);
            // With -v, a path a negation (`!pattern`) matched last is shown too: it is kept.
            (!pattern.starts_with('!')).then(|| (pattern.to_string(), path.to_string()))
        })
        .collect())
}

/// Every file under `dir` (links included, not followed).
fn walk_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("cannot read {}", folder.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

/// `cargo xtask export gradescope <lab>`: Gradescope's autograder zip - `setup.sh` and
/// `run_autograder` at its root (see `templates/gradescope/`), and the grader in `grader/`: the
/// student repository (no solutions: a submission's code runs on that machine too, and could
/// read them).
pub fn gradescope(course: &Path, lab: &str, out: &Path) -> anyhow::Result<Exported> {
    let curriculum = grading::Curriculum::load(course)?;
    curriculum.lab(lab).map_err(anyhow::Error::msg)?;
    if out.exists() {
        bail!("{} exists: give another file name (or remove it)", out.display());
    }
    let staging = tempfile::Builder::new().prefix("clabs-gradescope-").tempdir().context("cannot make a folder")?;
    let grader = staging.path().join("grader");
    export(course, &grader)?;
    let file = std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let written = write_zip(file, lab, &grader);
    if written.is_err() {
        let _ = std::fs::remove_file(out);
    }
    written
}

fn write_zip(file: std::fs::File, lab: &str, grader: &Path) -> anyhow::Result<Exported> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(file);
    let options = |mode: u32| {
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).unix_permissions(mode)
    };
    let mut exported = Exported { files: 0, bytes: 0 };
    for (name, text) in [
        ("setup.sh", include_str!("../../templates/gradescope/setup.sh")),
        ("run_autograder", include_str!("../../templates/gradescope/run_autograder")),
    ] {
        let text = text.replace("{{lab}}", lab);
        zip.start_file(name, options(0o755))?;
        zip.write_all(text.as_bytes())?;
        exported.files += 1;
        exported.bytes += text.len() as u64;
    }
    let mut found = walk_files(grader)?;
    found.sort();
    for path in found {
        let name = format!("grader/{}", path.strip_prefix(grader).expect("walked under it").display());
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            zip.add_symlink(name, std::fs::read_link(&path)?.display().to_string(), options(0o777))?;
        } else {
            let bytes = std::fs::read(&path)?;
            let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            zip.start_file(name, options(mode))?;
            zip.write_all(&bytes)?;
            exported.bytes += bytes.len() as u64;
        }
        exported.files += 1;
    }
    zip.finish()?;
    Ok(exported)
}
