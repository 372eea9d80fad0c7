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

/// The modules of one crate's `src` (a file, or a folder with its files), each with the modules of
/// the same crate it names through `crate::` in its code (not its tests or comments).
fn module_imports(src: &Path) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut files = Vec::new();
    rust_sources(src, &mut files);
    let mut imports: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for path in files {
        let relative = path.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        let module = relative.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        if matches!(module.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        let named = imports.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let heads: Vec<&str> = match rest.strip_prefix('{') {
                // `crate::{a::X, b}`: the first segment of each path in the group.
                Some(group) => {
                    let group = &group[..group.find("};").or_else(|| group.find('}')).unwrap_or(group.len())];
                    let mut depth = 0;
                    let mut heads = vec![group.trim_start()];
                    for (i, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            ',' if depth == 0 => heads.push(group[i + 1..].trim_start()),
                            _ => {}
                        }
                    }
                    heads
                }
                None => vec![rest],
            };
            for head in heads {
                let name: String = head.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != module && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                    named.insert(name);
                }
            }
        }
    }
    imports
}

/// A circle of imports among `imports`' modules, if there is one: `a -> b -> a`.
fn import_circle(imports: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>) -> Option<String> {
    fn visit<'a>(
        module: &'a str,
        imports: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(at) = path.iter().position(|m| *m == module) {
            let mut circle = path[at..].to_vec();
            circle.push(module);
            return Some(circle.join(" -> "));
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in imports.get(module).into_iter().flatten().filter(|m| imports.contains_key(*m)) {
            if let Some(circle) = visit(next, imports, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        None
    }
    let mut done = std::collections::BTreeSet::new();
    imports.keys().find_map(|m| visit(m, imports, &mut Vec::new(), &mut done))
}

/// No crate's modules import each other in a circle: each crate reads bottom-up (`grading`:
/// vars, then check, rubric, report, runner, topology; `xtask`: process and course below the
/// commands).
#[test]
fn no_crate_has_an_import_circle() {
    let root = root();
    let mut crates: Vec<PathBuf> =
        ["grading", "xtask", "sandbox", "policy", "testkit"].iter().map(|c| root.join(c)).collect();
    crates.extend(
        std::fs::read_dir(root.join("labs")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("src").is_dir()),
    );
    let mut circles = Vec::new();
    for dir in &crates {
        let imports = module_imports(&dir.join("src"));
        if let Some(circle) = import_circle(&imports) {
            circles.push(format!("{}: {circle}", dir.strip_prefix(&root).unwrap().display()));
        }
    }
    assert!(circles.is_empty(), "modules that import each other in a circle:\n{}", circles.join("\n"));
    // The scan can fail: a circle written out is one it finds.
    let made: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = [
        ("report".to_string(), ["check".to_string()].into()),
        ("check".to_string(), ["rubric".to_string()].into()),
        ("rubric".to_string(), ["report".to_string()].into()),
    ]
    .into();
    assert_eq!(import_circle(&made).as_deref(), Some("check -> rubric -> report -> check"));
    let grading = module_imports(&root.join("grading/src"));
    assert!(grading["runner"].contains("report") && grading["report"].contains("rubric"), "{grading:?}");
}
