//! `cargo xtask`: the project's task runner - thin glue over the `grading` engine and the labs.
//!
//! `main.rs` parses arguments; each task lives in its own module: [`check`] (grade a lab),
//! [`services`] (start, restart and stop what `--up` runs), [`updown`] (`up` / `down` to explore a
//! lab), [`doctor`] (what this machine has), [`bench`] (our servers against nginx) and [`tasks`]
//! (`test`, `lint`, `ci`); [`batch`] grades a class on the engines of [`pool`];
//! [`export`] writes the student repository; [`book`] builds the course book from the handouts.

pub mod batch;
pub mod bench;
pub mod book;
pub mod check;
pub mod class;
pub mod collect;
pub mod course;
pub mod doctor;
pub mod engine;
pub mod export;
pub mod gradebook;
pub mod hand;
pub mod hint;
pub mod images;
pub mod pool;
pub mod process;
pub mod progress;
pub mod provenance;
pub mod roster;
pub mod services;
pub mod tasks;
pub mod updown;
pub mod watch;

use std::path::{Path, PathBuf};

/// This workspace's root (where `cargo xtask` was built from).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// The grader's cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir(grader: &Path) -> PathBuf {
    target_dir_of(grader, std::env::var_os("CARGO_TARGET_DIR").as_deref())
}

/// `CARGO_TARGET_DIR` as cargo reads it: relative to where cargo runs (the grader), else `target`.
fn target_dir_of(grader: &Path, cargo_target_dir: Option<&std::ffi::OsStr>) -> PathBuf {
    match cargo_target_dir {
        Some(dir) if !dir.is_empty() => grader.join(dir),
        _ => grader.join("target"),
    }
}

/// An error that means "could not do what was asked" (exit code 2), with a message that says why.
pub type Result<T> = anyhow::Result<T>;

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
}
