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

#[test]
fn every_cleanup_goes_through_the_reaper() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut sources = Vec::new();
    rust_sources(&root, &mut sources);
    let mut found = Vec::new();
    for path in &sources {
        let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        // The project's code, not its tests: a test may remove something as the action it tests
        // (its own clean-up goes through `testkit::EngineScope`, that is the reaper).
        if !relative.contains("/src/")
            || relative.starts_with("xtask/tests")
            || ALLOWED.iter().any(|(p, _)| *p == relative)
        {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(removal) = REMOVALS.iter().find(|r| line.contains(*r)) {
                found.push(format!("{relative}:{}: {removal}", number + 1));
            }
        }
    }
    assert!(sources.len() > 50, "the scan found the sources ({})", sources.len());
    assert!(found.is_empty(), "removals outside the reaper (call sandbox::reap instead):\n{}", found.join("\n"));
    // The scan can fail: the reaper itself holds removals it would report.
    let reaper = std::fs::read_to_string(root.join("sandbox/src/reaper.rs")).unwrap();
    assert!(REMOVALS.iter().any(|r| reaper.contains(r)));
}

/// Where a signal may be sent from, and why: one module sends them for the whole project.
const SIGNALLERS: &[(&str, &str)] = &[
    ("xtask/src/process.rs", "the one module that signals and stops what the project started"),
    ("labs/static-site/src/bin/site-nginx.rs", "the lab tool stops the nginx it started (a crate of its own)"),
];

#[test]
fn every_signal_goes_through_the_process_module() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut sources = Vec::new();
    rust_sources(&root, &mut sources);
    let mut found = Vec::new();
    for path in &sources {
        let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if !relative.contains("/src/") || SIGNALLERS.iter().any(|(p, _)| *p == relative) {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if !line.trim_start().starts_with("//") && line.contains("libc::kill(") {
                found.push(format!("{relative}:{}", number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "signals sent outside xtask::process (use process::signal or process::stop):\n{}",
        found.join("\n")
    );
    let module = std::fs::read_to_string(root.join("xtask/src/process.rs")).unwrap();
    assert!(module.contains("libc::kill("), "the scan can fail: the module holds what it looks for");
}

/// Every label key is written once, in `policy/src/labels.rs`; the rest of the code names it.
#[test]
fn label_keys_are_defined_once() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut sources = Vec::new();
    rust_sources(&root, &mut sources);
    let mut found = Vec::new();
    for path in &sources {
        let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if !relative.contains("/src/") || relative == "policy/src/labels.rs" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        // A module's own tests may spell a label out, as a reader would see it.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            if !line.trim_start().starts_with("//") && line.contains("\"org.containerlabs.") {
                found.push(format!("{relative}:{}", number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "label keys written outside policy/src/labels.rs (use policy::labels):\n{}",
        found.join("\n")
    );
}
