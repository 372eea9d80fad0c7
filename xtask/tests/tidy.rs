//! Source rules a reader relies on (rust-analyzer's `tidy`, in small): every removal of an engine
//! object goes through the one reaper (`sandbox/src/reaper.rs`), and every signal through one
//! module (`xtask/src/process.rs`). Hermetic: reads files only.

use std::path::{Path, PathBuf};

/// Calls and docker CLI arguments that remove containers, networks, volumes or images. (Messages
/// that tell a user to run `docker rm` are advice, not removals.)
const REMOVALS: &[&str] = &[
    "remove_container(",
    "remove_network(",
    "remove_volume(",
    "remove_image(",
    "prune_",
    "\"rm\", \"-f",
    "\"rmi\"",
    "\"volume\", \"rm\"",
    "\"network\", \"rm\"",
];

/// Where a removal may be, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("sandbox/src/reaper.rs", "the one reaper"),
    // The lab tools remove a container (`docker rm`) or a stack (`down`) because the lab teaches
    // it: a student's operation, not the grader's cleanup (runs reap whatever they leave).
    ("labs/single-image/src/lib.rs", "`single-image rm`, the lab's own `docker rm`"),
    ("labs/web-db/src/stack.rs", "`web-db recreate` and `down`, the lab's own operations"),
    // A persistence check recreates a container (same config, same volumes): the removal is half
    // of a replacement the student allowed (or `--up` made), not a cleanup.
    ("grading/src/check/recreate.rs", "a persistence check's recreate: remove, then create the same container"),
];

fn rust_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && name != ".git" && name != "fixtures" {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The workspace's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every line of the project's code (`*/src/*.rs`, comments left out) for which `hit` says
/// something, as `path:line: what`, skipping the files `skip` names. With `code_only`, a file's
/// own tests (after `#[cfg(test)]`) are left out too. Also returns how many files were read.
fn scan(skip: impl Fn(&str) -> bool, code_only: bool, hit: impl Fn(&str) -> Option<String>) -> (Vec<String>, usize) {
    let root = root();
    let mut sources = Vec::new();
    rust_sources(&root, &mut sources);
    let mut found = Vec::new();
    for path in &sources {
        let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if !relative.contains("/src/") || skip(&relative) {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let text = if code_only { text.split("#[cfg(test)]").next().unwrap_or_default().to_string() } else { text };
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(what) = hit(line) {
                found.push(format!("{relative}:{}: {what}", number + 1));
            }
        }
    }
    (found, sources.len())
}

#[test]
fn every_cleanup_goes_through_the_reaper() {
    // The project's code, not its tests: a test may remove something as the action it tests
    // (its own clean-up goes through `testkit::EngineScope`, that is the reaper).
    let (found, read) = scan(
        |relative| relative.starts_with("xtask/tests") || ALLOWED.iter().any(|(p, _)| *p == relative),
        false,
        |line| REMOVALS.iter().find(|r| line.contains(*r)).map(|r| r.to_string()),
    );
    assert!(read > 50, "the scan found the sources ({read})");
    assert!(found.is_empty(), "removals outside the reaper (call sandbox::reap instead):\n{}", found.join("\n"));
    // The scan can fail: the reaper itself holds removals it would report.
    let reaper = std::fs::read_to_string(root().join("sandbox/src/reaper.rs")).unwrap();
    assert!(REMOVALS.iter().any(|r| reaper.contains(r)));
}

/// Where a signal may be sent from, and why: one module sends them for the whole project.
const SIGNALLERS: &[(&str, &str)] = &[
    ("xtask/src/process.rs", "the one module that signals and stops what the project started"),
    ("labs/static-site/src/bin/site-nginx.rs", "the lab tool stops the nginx it started (a crate of its own)"),
];

#[test]
fn every_signal_goes_through_the_process_module() {
    let (found, _) = scan(
        |relative| SIGNALLERS.iter().any(|(p, _)| *p == relative),
        false,
        |line| line.contains("libc::kill(").then(|| "libc::kill".to_string()),
    );
    assert!(
        found.is_empty(),
        "signals sent outside xtask::process (use process::signal or process::stop):\n{}",
        found.join("\n")
    );
    let module = std::fs::read_to_string(root().join("xtask/src/process.rs")).unwrap();
    assert!(module.contains("libc::kill("), "the scan can fail: the module holds what it looks for");
}

/// Every label key is written once, in `policy/src/labels.rs`; the rest of the code names it (a
/// module's own tests may spell a label out, as a reader would see it).
#[test]
fn label_keys_are_defined_once() {
    let (found, _) = scan(
        |relative| relative == "policy/src/labels.rs",
        true,
        |line| line.contains("\"org.containerlabs.").then(|| "a label key".to_string()),
    );
    assert!(
        found.is_empty(),
        "label keys written outside policy/src/labels.rs (use policy::labels):\n{}",
        found.join("\n")
    );
    let labels = std::fs::read_to_string(root().join("policy/src/labels.rs")).unwrap();
    assert!(labels.contains("\"org.containerlabs."), "the scan can fail: the module holds what it looks for");
}
