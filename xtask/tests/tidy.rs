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
    "\"image\", \"rm\"",
    "\"network\", \"rm\"",
    "\"down\"",
    "single_image::remove(",
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
    // The lab tools' own `down` (and a container that died at once, removed so the student's next
    // `up` can take its name): what a student runs. The grader stops their services with `stop`
    // (see `the_graders_stops_stop_and_leave_removal_to_the_reaper`).
    ("labs/static-site/src/bin/site-nginx.rs", "`site-nginx down`, the lab tool's own"),
    ("labs/reverse-proxy/src/bin/proxy-nginx.rs", "`proxy-nginx down`, the lab tool's own"),
    ("labs/single-image/src/main.rs", "`single-image rm`, the lab's own `docker rm`"),
    ("labs/compose/src/lib.rs", "`stack down` and `cycle`, the lab's own Compose operations"),
    ("labs/compose/src/main.rs", "`stack down` and `cycle`, the lab's own Compose operations"),
    // A rebuild of one of the course's images (`containerlabs/...`) removes, by id and never by
    // force, the image it took the tag from: the grader made it, nothing tags or uses it.
    ("xtask/provision/src/images.rs", "the course's own image a rebuild replaced (`retire`)"),
    // `bench lab3-up`'s baseline is Compose by itself, `down --volumes` included: what it measures.
    ("xtask/src/bench.rs", "the bare Compose run `bench lab3-up` measures"),
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

/// The grader stops the services it started with their `stop` command, which stops and removes
/// nothing (`stop`, not `down`); the run's reaper then removes all they made, Compose's
/// containers, networks and volumes included. So no service's stop is a second removal path.
#[test]
fn the_graders_stops_stop_and_leave_removal_to_the_reaper() {
    let text = std::fs::read_to_string(root().join("labs/labs.toml")).unwrap();
    let labs: toml::Value = toml::from_str(&text).unwrap();
    let mut stops = Vec::new();
    fn find<'a>(value: &'a toml::Value, stops: &mut Vec<&'a toml::Value>) {
        match value {
            toml::Value::Table(table) => {
                stops.extend(table.get("stop"));
                table.values().for_each(|v| find(v, stops));
            }
            toml::Value::Array(list) => list.iter().for_each(|v| find(v, stops)),
            _ => {}
        }
    }
    find(&labs, &mut stops);
    assert!(stops.len() >= 4, "the services' stop commands were found ({})", stops.len());
    let removing: Vec<String> = stops
        .iter()
        .filter(|stop| {
            let args: Vec<&str> = stop.as_array().unwrap().iter().filter_map(toml::Value::as_str).collect();
            args.iter().any(|a| matches!(*a, "down" | "rm" | "remove" | "--volumes" | "-v"))
        })
        .map(|stop| stop.to_string())
        .collect();
    assert!(removing.is_empty(), "service stops that remove (stop them; the reaper removes):\n{}", removing.join("\n"));
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

/// The modules of one crate's `src`, each with the modules of the same crate it names through
/// `crate::` or `super::` in its code (not its tests or comments). A module is a file at the top
/// (`check`) or a file of a folder (`check::compose`, its own folder's files with it): so a
/// circle between two files of one folder is found as well as one between folders.
fn module_imports(src: &Path) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut files = Vec::new();
    rust_sources(src, &mut files);
    // `a::b` when `src/a/b.rs` is a file (the module of a folder's file), else `a`.
    let node = |path: &[&str]| -> String {
        match path {
            [a, b, ..] if src.join(a).join(format!("{b}.rs")).is_file() => format!("{a}::{b}"),
            [a, ..] => a.to_string(),
            [] => String::new(),
        }
    };
    let mut imports: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for path in files {
        let relative = path.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
        let parts: Vec<&str> = relative.trim_end_matches(".rs").split('/').collect();
        if matches!(parts[0], "lib" | "main" | "bin") {
            continue;
        }
        let module = node(&parts);
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut named = std::collections::BTreeSet::new();
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parts[..parts.len() - 1].to_vec())] {
            for (at, _) in code.match_indices(prefix) {
                if prefix == "super::" && code[..at].ends_with(':') {
                    continue;
                }
                let rest = &code[at + prefix.len()..];
                let paths: Vec<&str> = match rest.strip_prefix('{') {
                    // `crate::{a::X, b}`: each path of the group.
                    Some(group) => {
                        let group = &group[..group.find("};").or_else(|| group.find('}')).unwrap_or(group.len())];
                        let mut depth = 0;
                        let mut paths = vec![group.trim_start()];
                        for (i, c) in group.char_indices() {
                            match c {
                                '{' => depth += 1,
                                '}' => depth -= 1,
                                ',' if depth == 0 => paths.push(group[i + 1..].trim_start()),
                                _ => {}
                            }
                        }
                        paths
                    }
                    None => vec![rest],
                };
                for path in paths {
                    let segments: Vec<&str> = path
                        .split("::")
                        .map(|s| s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or(""))
                        .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                        .collect();
                    let full: Vec<&str> = base.iter().copied().chain(segments).collect();
                    if !full.is_empty() {
                        named.insert(node(&full));
                    }
                }
            }
        }
        named.remove(&module);
        named.remove("self");
        imports.entry(module).or_default().extend(named);
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
        ["grading", "xtask", "xtask/provision", "sandbox", "policy", "testkit"].iter().map(|c| root.join(c)).collect();
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
    // A folder's files are modules of their own: the Compose model reads Dockerfiles.
    assert!(grading["check::compose"].contains("check::dockerfile"), "{grading:?}");
}
