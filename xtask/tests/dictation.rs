//! The chapters teach rather than dictate: in labs 2 and 3, at most a quarter of the significant
//! lines of each solution file appear verbatim in its step's chapter (the handout, its checks
//! list with every hint included). Lab 1 may stay a guided tutorial: its figures are printed,
//! not held. Hermetic: reads files only.
//!
//! A significant line is one that says something of the answer: not blank, not a comment, not
//! only brackets, not a bare key (`volumes:`) or a bare block (`server {`). Lines are compared
//! with their whitespace collapsed, anywhere in the chapter (a code block, a table, a hint).
//! Made files are left out: certificates, keys, images.

mod common;

use common::workspace;
use std::path::Path;

/// The most of a solution file's significant lines its chapter may show, in labs 2 and 3.
const MOST: f64 = 0.25;

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn significant(line: &str) -> Option<String> {
    let line = collapse(line);
    let words: Vec<&str> = line.split(' ').collect();
    let comment = ["#", "//", "<!--", "--", ";"].iter().any(|c| line.starts_with(c));
    let brackets = line.chars().all(|c| "{}()[];,<>/ ".contains(c));
    let bare_key = words.len() == 1 && line.ends_with(':');
    let bare_block = words.len() == 2 && words[1] == "{";
    (!line.is_empty() && !comment && !brackets && !bare_key && !bare_block).then_some(line)
}

fn files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, found);
        } else if !path.extension().is_some_and(|e| matches!(e.to_str(), Some("crt" | "key" | "pem" | "svg" | "png"))) {
            found.push(path);
        }
    }
}

/// (shown, significant) of `solution` in `chapter`.
fn shown(solution: &str, chapter: &str) -> (usize, usize) {
    let chapter = collapse(chapter);
    let lines: Vec<String> = solution.lines().filter_map(significant).collect();
    (lines.iter().filter(|l| chapter.contains(l.as_str())).count(), lines.len())
}

#[test]
fn chapters_show_at_most_a_quarter_of_each_solution_file() {
    let root = workspace();
    let curriculum = grading::Curriculum::load(&root).unwrap();
    let mut over = Vec::new();
    for lab in &curriculum.labs {
        for step in &lab.steps {
            let dir = root.join(&step.dir);
            let chapter = std::fs::read_to_string(dir.join("README.md")).unwrap();
            let mut solution = Vec::new();
            if dir.join("solution").is_dir() {
                files(&dir.join("solution"), &mut solution);
            }
            solution.sort();
            for file in solution {
                let Ok(text) = std::fs::read_to_string(&file) else { continue };
                let (shown, of) = shown(&text, &chapter);
                if of == 0 {
                    continue;
                }
                let share = shown as f64 / of as f64;
                let name = file.strip_prefix(&root).unwrap().display().to_string();
                let held = lab.id != "lab1";
                println!(
                    "{name}: {shown} of {of} significant lines in the chapter ({:.0}%){}",
                    share * 100.0,
                    if held { "" } else { " - lab 1, a guided tutorial: not held" }
                );
                if held && share > MOST {
                    over.push(format!("{name}: {shown} of {of} ({:.0}%)", share * 100.0));
                }
            }
        }
    }
    assert!(over.is_empty(), "chapters that dictate more than a quarter of a solution file: {over:?}");
}

#[test]
fn what_counts_as_significant() {
    for line in ["", "   # a comment", "}", "volumes:", "server {", "];", "<!-- note -->"] {
        assert_eq!(significant(line), None, "{line:?}");
    }
    for line in ["restart: unless-stopped", "location / {", "listen 8443 ssl;", "  - wordpress:/var/www/html"] {
        assert!(significant(line).is_some(), "{line:?}");
    }
    assert_eq!(shown("listen 8443   ssl;\n# no\nroot /srv;\n", "write `listen 8443 ssl;` there"), (1, 2));
}
