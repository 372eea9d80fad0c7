//! The run's own copy of a submission: what its commands and containers see, never the original.

use std::path::Path;

/// The most a submission may hold (beyond it, the run refuses to start).
pub const MAX_BYTES: u64 = 2 << 30;

/// Copies `from` into `to` (which must not exist): directories, regular files with their modes,
/// and symlinks as symlinks (never followed: a link out of the submission stays a link, and the
/// proxy judges where a bind through it really leads). The top-level `target/` (build output) and
/// `.git/` are left out; sockets, devices and pipes too. Returns the bytes copied.
pub fn copy_submission(from: &Path, to: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf(), true)];
    while let Some((source, target, top)) = pending.pop() {
        for entry in std::fs::read_dir(&source)? {
            let entry = entry?;
            let name = entry.file_name();
            if top && (name == "target" || name == ".git") {
                continue;
            }
            let (from, to) = (entry.path(), target.join(&name));
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            } else if kind.is_dir() {
                std::fs::create_dir(&to)?;
                pending.push((from, to, false));
            } else if kind.is_file() {
                bytes += std::fs::copy(&from, &to)?;
                if bytes > MAX_BYTES {
                    return Err(std::io::Error::other(format!(
                        "the submission holds over {} GiB (without target/ and .git/)",
                        MAX_BYTES >> 30
                    )));
                }
            }
        }
    }
    Ok(bytes)
}

/// Gives everything under `path` to `uid:gid` (symlinks themselves, not what they point to).
pub fn chown_all(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if path.is_symlink() || !path.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        chown_all(&entry?.path(), uid, gid)?;
    }
    Ok(())
}

/// The user the submission's copy belongs to and the toolbox runs as: `nobody` when the grader
/// is root, else the grader's own user.
pub(crate) fn sandbox_user() -> (u32, u32) {
    #[allow(unsafe_code)]
    // SAFETY: getuid(2) and getgid(2) cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid == 0 {
        (65534, 65534)
    } else {
        (uid, gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_and_links_but_not_build_output() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("labs/web/site")).unwrap();
        std::fs::write(from.path().join("labs/web/site/index.html"), "<h1>hi</h1>").unwrap();
        std::fs::create_dir_all(from.path().join("target/debug")).unwrap();
        std::fs::write(from.path().join("target/debug/big"), vec![0u8; 1000]).unwrap();
        std::fs::create_dir_all(from.path().join("labs/target")).unwrap();
        std::os::unix::fs::symlink("/etc", from.path().join("labs/escape")).unwrap();
        let to = tempfile::tempdir().unwrap();
        let copy = to.path().join("copy");
        let bytes = copy_submission(from.path(), &copy).unwrap();
        assert_eq!(bytes, 11);
        assert_eq!(std::fs::read_to_string(copy.join("labs/web/site/index.html")).unwrap(), "<h1>hi</h1>");
        assert!(!copy.join("target").exists());
        assert!(copy.join("labs/target").is_dir(), "only the top-level target/ is build output");
        assert_eq!(std::fs::read_link(copy.join("labs/escape")).unwrap(), Path::new("/etc"));
    }
}
