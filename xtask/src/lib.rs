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
pub mod hand;
pub mod hint;
pub mod images;
pub mod pool;
pub mod process;
pub mod progress;
pub mod provenance;
pub mod services;
pub mod tasks;
pub mod updown;
pub mod watch;

use std::path::PathBuf;

/// This workspace's root (where `cargo xtask` was built from).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// An error that means "could not do what was asked" (exit code 2), with a message that says why.
pub type Result<T> = anyhow::Result<T>;
