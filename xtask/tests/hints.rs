//! Every hint points the student at their own work: it names the TODO of the starter it is about,
//! as `TODO(root)` or `(TODO tls, TODO certificate)`, and every TODO it names is one the lab's
//! starter files have. The few checks whose starter has nothing to do (the starter already has
//! it right) are listed here with why. Hermetic: reads files only.

mod common;

use common::workspace;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Checks with no TODO to name, and why.
const NO_TODO: &[(&str, &str)] = &[
    ("single-confined", "the starter's `docker run` adds no privilege: only something added breaks it"),
    ("webdb-db-tag", "the starter's run.sh already runs mariadb:10.11"),
    ("webdb-web-tag", "the starter's run.sh already builds and runs portfolio:0.1.0"),
];

/// The TODO tags in a lab's starter files: every file of its steps' folders but the handout,
/// the rubric, the crate's code and tests, and the solution.
fn starter_tags(step_dirs: &[&Path]) -> BTreeSet<String> {
    fn walk(dir: &Path, top: &Path, tags: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if dir == top && matches!(name.as_str(), "solution" | "src" | "tests" | "target") {
                    continue;
                }
                walk(&path, top, tags);
            } else if !(dir == top && matches!(name.as_str(), "README.md" | "rubric.toml" | "Cargo.toml")) {
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                tags.extend(todo_tags(&text, false));
            }
        }
    }
    let mut tags = BTreeSet::new();
    for dir in step_dirs {
        walk(dir, dir, &mut tags);
    }
    tags
}

/// The tags of `TODO(tag)`, and with `prose` also of `TODO tag` (a hint's "(TODO tls, TODO
/// certificate)").
fn todo_tags(text: &str, prose: bool) -> Vec<String> {
    let tag = |rest: &str| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>();
    let mut found = Vec::new();
    for (at, _) in text.match_indices("TODO") {
        let rest = &text[at + 4..];
        if let Some(inner) = rest.strip_prefix('(') {
            found.push(tag(inner));
        } else if let Some(word) = rest.strip_prefix(' ').filter(|_| prose) {
            found.push(tag(word));
        }
    }
    found.retain(|t| !t.is_empty());
    found
}

#[test]
fn every_hint_names_a_todo_of_its_starter() {
    let root = workspace();
    let curriculum = grading::Curriculum::load(&root).unwrap();
    let mut wrong = Vec::new();
    let (mut total, mut naming) = (0, 0);
    let exempt: BTreeMap<&str, &str> = NO_TODO.iter().copied().collect();
    for lab in &curriculum.labs {
        let dirs: Vec<std::path::PathBuf> = lab.steps.iter().map(|s| root.join(&s.dir)).collect();
        let tags = starter_tags(&dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>());
        for dir in &dirs {
            let rubric: toml::Table =
                toml::from_str(&std::fs::read_to_string(dir.join("rubric.toml")).unwrap()).unwrap();
            for check in rubric["check"].as_array().unwrap() {
                total += 1;
                let id = check["id"].as_str().unwrap();
                let hint = check["hint"].as_str().unwrap_or_default();
                let named = todo_tags(hint, true);
                let unknown: Vec<&String> = named.iter().filter(|t| !tags.contains(*t)).collect();
                match (named.is_empty(), exempt.contains_key(id)) {
                    (true, true) => {}
                    (true, false) => wrong.push(format!("{}: {id} names no TODO: {hint}", lab.id)),
                    (false, true) => wrong.push(format!("{id} names a TODO now: take it off NO_TODO")),
                    (false, false) if !unknown.is_empty() => {
                        wrong.push(format!("{}: {id} names {unknown:?}, which no starter file of the lab has", lab.id))
                    }
                    (false, false) => naming += 1,
                }
            }
        }
    }
    println!("{naming} of {total} hints name a TODO of their starter; {} have none to name", NO_TODO.len());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(naming + NO_TODO.len(), total);
}

#[test]
fn tags_are_read_in_both_forms() {
    assert_eq!(todo_tags("TODO(root): x (TODO tls, TODO certificate)", true), ["root", "tls", "certificate"]);
    assert_eq!(todo_tags("# TODO(front-door): publish it; TODO later", false), ["front-door"]);
}
