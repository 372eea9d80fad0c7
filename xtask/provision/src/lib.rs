//! What a first run needs before the grader is compiled, and `cargo xtask`'s launcher.
//!
//! On a fresh machine the README's first command waits on three things that do not depend on each
//! other: cargo compiling the grader (`xtask`), installing and starting the Docker engine, and
//! making the images (the Debian base by debootstrap, then the stand-ins on it). This crate holds
//! the second and third - [`engine`] (find an engine, or install and start Debian's) and
//! [`images`] (the catalogue, the base, the stand-ins and the toolbox, built with the `docker`
//! CLI) - with few and light dependencies, so that the launcher (`src/bin/xtask-launch.rs`, what
//! the `cargo xtask` alias runs) compiles in seconds and starts them ([`prefetch`]) while cargo
//! compiles the grader. The grader uses the same code, so what the launcher made is what it would
//! have made: it finds the images ready (their input hashes match) and waits on [`Lock`]s for
//! what is still being made.

pub mod engine;
pub mod images;
pub mod prefetch;

use std::path::{Path, PathBuf};

/// The workspace this crate was built in (the grader's, whose `labs/` and `images/` are read).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("xtask/provision is in the workspace").to_path_buf()
}

/// The grader's cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir(grader: &Path) -> PathBuf {
    target_dir_of(grader, std::env::var_os("CARGO_TARGET_DIR").as_deref())
}

/// `CARGO_TARGET_DIR` as cargo reads it: relative to where cargo runs (the grader), else `target`.
pub fn target_dir_of(grader: &Path, cargo_target_dir: Option<&std::ffi::OsStr>) -> PathBuf {
    match cargo_target_dir {
        Some(dir) if !dir.is_empty() => grader.join(dir),
        _ => grader.join("target"),
    }
}

/// The folder under the target directory where the grader keeps its locks and logs.
pub fn state_dir(grader: &Path) -> PathBuf {
    target_dir(grader).join("clabs")
}

/// Whether the binary at `binary` is newer than everything cargo would rebuild it for, by its
/// dep-info file (`<binary>.d`, which cargo writes for build systems to read: every file of the
/// workspace that went into it) and the manifests, lock file and cargo configuration of the
/// workspace at `root`. `false` whenever in doubt (no binary or dep-info, a listed file gone,
/// `RUSTFLAGS` set): then cargo decides.
pub fn binary_is_fresh(binary: &Path, root: &Path) -> bool {
    let built = match std::fs::metadata(binary).and_then(|m| m.modified()) {
        Ok(time) => time,
        Err(_) => return false,
    };
    if std::env::var_os("RUSTFLAGS").is_some() || std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_some() {
        return false;
    }
    let mut dep_info = binary.as_os_str().to_owned();
    dep_info.push(".d");
    let Ok(text) = std::fs::read_to_string(PathBuf::from(dep_info)) else { return false };
    let Some((_, deps)) = text.lines().next().and_then(|l| l.split_once(": ")) else { return false };
    // Paths are separated by spaces; a space inside one is written `\ `.
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => current.push(chars.next().expect("peeked")),
            ' ' => inputs.extend((!current.is_empty()).then(|| PathBuf::from(std::mem::take(&mut current)))),
            c => current.push(c),
        }
    }
    inputs.extend((!current.is_empty()).then(|| PathBuf::from(current)));
    if inputs.is_empty() {
        return false;
    }
    let mut manifests: std::collections::BTreeSet<PathBuf> =
        ["Cargo.toml", "Cargo.lock", ".cargo/config.toml"].iter().map(|f| root.join(f)).collect();
    for input in &inputs {
        // The manifest of the package each file belongs to.
        for dir in input.ancestors().skip(1).take_while(|d| d.starts_with(root) && *d != root) {
            if dir.join("Cargo.toml").is_file() {
                manifests.insert(dir.join("Cargo.toml"));
                break;
            }
        }
    }
    let older = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|t| t <= built);
    inputs.iter().all(|i| older(i)) && manifests.iter().all(|m| !m.exists() || older(m))
}

/// The launcher's prefetch's log, in the grader's state folder.
pub fn prefetch_log(grader: &Path) -> PathBuf {
    prefetch_log_in(&target_dir(grader))
}

/// The prefetch's log of a grader whose target directory is `target`.
pub fn prefetch_log_in(target: &Path) -> PathBuf {
    target.join("clabs").join("prefetch.log")
}

/// An advisory `flock` on a file, held until dropped: two processes that make the same thing (the
/// launcher's prefetch and the grader, a batch's jobs, two `check --up`s) take turns instead of
/// making it twice. The kernel lets it go when the process ends, however it ends.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] std::fs::File);

impl Lock {
    /// Takes the lock on `path`, creating the file (and its folder); when another process holds
    /// it, `waiting` is called once and the lock is waited for.
    pub fn acquire(path: &Path, waiting: impl FnOnce()) -> anyhow::Result<Lock> {
        use anyhow::Context;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_ok() {
            return Ok(Lock(file));
        }
        waiting();
        loop {
            match flock(&file, libc::LOCK_EX) {
                Ok(()) => return Ok(Lock(file)),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
            }
        }
    }
}

fn flock(file: &std::fs::File, operation: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    #[allow(unsafe_code)]
    // SAFETY: flock(2) on a descriptor the caller owns; it touches no memory.
    let done = unsafe { libc::flock(file.as_raw_fd(), operation) } == 0;
    if done {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_go_where_cargo_target_dir_says() {
        let grader = Path::new("/course");
        assert_eq!(target_dir_of(grader, None), PathBuf::from("/course/target"));
        assert_eq!(target_dir_of(grader, Some("".as_ref())), PathBuf::from("/course/target"));
        assert_eq!(target_dir_of(grader, Some("/cache/t".as_ref())), PathBuf::from("/cache/t"));
        assert_eq!(target_dir_of(grader, Some("out".as_ref())), PathBuf::from("/course/out"));
    }

    #[test]
    fn a_binary_is_fresh_only_while_every_input_and_manifest_is_older() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let later = |path: &str| {
            let file = std::fs::File::options().write(true).open(root.join(path)).unwrap();
            file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
        };
        write("Cargo.toml", "[workspace]");
        write("tool/Cargo.toml", "[package]");
        write("tool/src/main.rs", "fn main() {}");
        write("tool/src/a b.rs", "");
        let binary = root.join("target/debug/tool");
        assert!(!binary_is_fresh(&binary, root), "no binary yet");
        write("target/debug/tool", "binary");
        assert!(!binary_is_fresh(&binary, root), "no dep-info");
        let deps = format!(
            "{}: {} {}\n",
            binary.display(),
            root.join("tool/src/main.rs").display(),
            root.join("tool/src/a\\ b.rs").display()
        );
        write("target/debug/tool.d", &deps);
        let binary_file = std::fs::File::options().write(true).open(&binary).unwrap();
        binary_file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(2)).unwrap();
        assert!(binary_is_fresh(&binary, root));
        for changed in ["tool/src/a b.rs", "tool/Cargo.toml", "Cargo.toml"] {
            write(changed, "changed");
            later(changed);
            assert!(!binary_is_fresh(&binary, root), "{changed} changed");
            let file = std::fs::File::options().write(true).open(root.join(changed)).unwrap();
            file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60)).unwrap();
            assert!(binary_is_fresh(&binary, root), "{changed} older again");
        }
        std::fs::remove_file(root.join("tool/src/main.rs")).unwrap();
        assert!(!binary_is_fresh(&binary, root), "a listed file is gone");
    }

    #[test]
    fn a_held_lock_makes_the_second_taker_wait_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.lock");
        let first = Lock::acquire(&path, || panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let waited = std::cell::Cell::new(false);
                let _second = Lock::acquire(&path, || waited.set(true)).unwrap();
                tx.send(waited.get()).unwrap();
            })
        };
        assert!(rx.recv_timeout(std::time::Duration::from_millis(300)).is_err(), "it waits while the first is held");
        drop(first);
        assert!(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap(), "and was told it waited");
        waiter.join().unwrap();
    }
}
