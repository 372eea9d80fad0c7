//! `cargo xtask`: the project's task runner - thin glue over the `grading` engine and the labs.
//!
//! `main.rs` parses arguments; the library is grouped by what a user does: [`grade`] (`check`, a
//! class's `collect` and `grade`), [`course`] (the book, hints, `watch`, `up`/`down`, `export`),
//! [`stage`] (the one owner of a lab's bring-up, and the services it starts), [`engine`] (a Docker
//! engine, the images, `doctor`), [`bench`] and [`tasks`] (`test`, `lint`). Below them:
//! [`selection`] (a lab, its steps and variables, the submission), [`process`] (the one owner of
//! signals) and [`progress`].

pub mod bench;
pub mod course;
pub mod engine;
pub mod grade;
pub mod process;
pub mod progress;
pub mod selection;
pub mod stage;
pub mod tasks;

use std::path::{Path, PathBuf};

/// This workspace's root (where `cargo xtask` was built from).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// The grader's cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir(grader: &Path) -> PathBuf {
    provision::target_dir(grader)
}

/// An error that means "could not do what was asked" (exit code 2), with a message that says why.
pub type Result<T> = anyhow::Result<T>;
