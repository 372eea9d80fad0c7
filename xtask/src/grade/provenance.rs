//! Whose work a report is about and what graded it (`grading::Provenance`): the student, the
//! submission and its git commit, a hash of the course files that decide the grade, the grader's
//! version, and when. Nothing of the submission runs to find out: its commit is read from the
//! files under `.git` (a `git` command would honour the submission's own `.git/config`, whose
//! hooks and `core.fsmonitor` run programs).

use std::path::Path;

/// The commit checked out in `dir` (its HEAD), read from `.git` without running git.
pub fn git_commit(dir: &Path) -> Option<String> {
    let dot_git = dir.join(".git");
    // A worktree or submodule: `.git` is a file naming the real folder.
    let git_dir = if dot_git.is_file() {
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let target = text.trim().strip_prefix("gitdir:")?.trim().to_string();
        let target = Path::new(&target);
        if target.is_absolute() {
            target.to_path_buf()
        } else {
            dir.join(target)
        }
    } else {
        dot_git
    };
    let head = read_small(&git_dir.join("HEAD"))?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_hash(head).then(|| head.to_string());
    };
    if reference.contains("..") || !reference.starts_with("refs/") {
        return None;
    }
    if let Some(hash) = read_small(&git_dir.join(reference)) {
        let hash = hash.trim();
        return is_hash(hash).then(|| hash.to_string());
    }
    // A common directory (worktrees) or packed refs.
    let common =
        read_small(&git_dir.join("commondir")).map(|c| git_dir.join(c.trim())).unwrap_or_else(|| git_dir.clone());
    if let Some(hash) = read_small(&common.join(reference)) {
        let hash = hash.trim();
        return is_hash(hash).then(|| hash.to_string());
    }
    let packed = read_small(&common.join("packed-refs"))?;
    packed.lines().find_map(|line| {
        let (hash, name) = line.split_once(' ')?;
        (name.trim() == reference && is_hash(hash)).then(|| hash.to_string())
    })
}

fn is_hash(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A small file's text (at most 1 MiB): a hostile `.git` cannot make the grader read a disk.
fn read_small(path: &Path) -> Option<String> {
    use std::io::Read;
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(1 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}

/// A hash of what decides a lab's grade in `course`: `labs/labs.toml` and the rubric of each of
/// the lab's steps, in order. Equal course files give equal hashes on every machine.
pub fn rubric_hash(course: &Path, lab: &grading::Lab) -> String {
    let mut bytes = Vec::new();
    let mut add = |name: &str, path: &Path| {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&std::fs::read(path).unwrap_or_default());
        bytes.push(0);
    };
    add("labs/labs.toml", &course.join("labs/labs.toml"));
    for step in &lab.steps {
        let rubric = step.dir.join("rubric.toml");
        add(&rubric.display().to_string(), &course.join(&rubric));
    }
    format!("fnv1a64:{:016x}", fnv1a(&bytes))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Now, as RFC 3339 in UTC to the second (`2026-11-30T10:00:00Z`).
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The grader's version: the xtask crate's.
pub fn grader_version() -> String {
    format!("container-labs {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_read_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        let hash = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        assert_eq!(git_commit(dir.path()), None, "no such branch yet");
        std::fs::write(git.join("packed-refs"), format!("# pack-refs\n{hash} refs/heads/main\n")).unwrap();
        assert_eq!(git_commit(dir.path()).as_deref(), Some(hash), "packed");
        let newer = "89abcdef0123456789abcdef0123456789abcdef";
        std::fs::write(git.join("refs/heads/main"), format!("{newer}\n")).unwrap();
        assert_eq!(git_commit(dir.path()).as_deref(), Some(newer), "loose ref first");
        std::fs::write(git.join("HEAD"), format!("{hash}\n")).unwrap();
        assert_eq!(git_commit(dir.path()).as_deref(), Some(hash), "detached");
        std::fs::write(git.join("HEAD"), "ref: ../../../etc/passwd\n").unwrap();
        assert_eq!(git_commit(dir.path()), None, "refs stay under refs/");
        assert_eq!(git_commit(&dir.path().join("nowhere")), None);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let now = now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
