//! A newcomer follows lab 1's chapters of the course book, from a fresh student repository to full
//! marks, as far as the steps can be scripted: every file a chapter's tasks show in full (a code
//! block marked `file=PATH`) is written as shown, and every `cargo xtask check ... --up` a task
//! gives is run - its output must hold the result the chapter says it shows. The tasks done by
//! hand on this machine (`sudo apt-get`, a system nginx) are what `--up` does in the sandbox.
//! Needs the engine: integration.

mod common;

use assert_cmd::cargo::cargo_bin_cmd;
use common::*;
use std::path::Path;

/// One fenced code block of a chapter's `## Tasks`: its info string and text (indent removed).
#[derive(Debug)]
struct Block {
    info: String,
    text: String,
}

fn task_blocks(chapter: &str) -> Vec<Block> {
    let tasks = chapter.split("\n## Tasks\n").nth(1).expect("a Tasks section");
    let tasks = tasks.split("\n## ").next().unwrap();
    let mut blocks = Vec::new();
    let mut lines = tasks.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else { continue };
        let indent = line.len() - trimmed.len();
        let mut text = String::new();
        for line in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            text.push_str(line.get(indent..).unwrap_or(line.trim_start()));
            text.push('\n');
        }
        blocks.push(Block { info: info.to_string(), text });
    }
    blocks
}

/// `file=PATH` in a block's info string.
fn file_of(block: &Block) -> Option<&str> {
    block.info.split_whitespace().find_map(|word| word.strip_prefix("file="))
}

#[test]
fn a_newcomer_following_lab_1s_chapters_reaches_full_marks() {
    if !integration("a_newcomer_following_lab_1s_chapters_reaches_full_marks") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let repo = out.path().join("student");
    let output = cargo_bin_cmd!("xtask").args(["course", "export"]).arg(&repo).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (site_port, app_port) = (free_port().to_string(), free_port().to_string());
    let mut written = Vec::new();
    let mut graded = Vec::new();
    for chapter in ["labs/static-site/README.md", "labs/app-port/README.md"] {
        let text = std::fs::read_to_string(repo.join(chapter)).unwrap();
        let blocks = task_blocks(&text);
        for (i, block) in blocks.iter().enumerate() {
            if let Some(path) = file_of(block) {
                std::fs::write(repo.join(path), &block.text).unwrap_or_else(|e| panic!("{chapter}: {path}: {e}"));
                written.push(path.to_string());
                continue;
            }
            if !block.info.starts_with("sh") {
                continue;
            }
            for command in block.text.lines().map(|l| l.split(" #").next().unwrap().trim()) {
                let Some(args) = command.strip_prefix("cargo xtask ") else { continue };
                if !(args.starts_with("check ") && args.split_whitespace().any(|a| a == "--up")) {
                    continue;
                }
                // As the chapter says, on ports of the test's own.
                let output = cargo_bin_cmd!("xtask")
                    .args(args.split_whitespace())
                    .arg("--submission")
                    .arg(&repo)
                    .args(["--var", &format!("site_port={site_port}"), "--var", &format!("app_port={app_port}")])
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&output.stdout);
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert_eq!(output.status.code(), Some(0), "{chapter}: `{command}`:\n{stdout}\n{stderr}");
                // The output the chapter shows next (a `text` block): the same, but for the time taken.
                let shown = blocks.get(i + 1).filter(|b| b.info.trim() == "text").expect("the output it shows");
                for line in shown.text.lines().filter(|l| !l.trim().is_empty()) {
                    let without_time = line.rsplit_once(" in ").map_or(line, |(before, _)| before);
                    assert!(stdout.contains(without_time), "{chapter}: `{command}` shows {line:?}:\n{stdout}");
                }
                graded.push(command.to_string());
            }
        }
    }
    assert_eq!(
        written,
        [
            "labs/static-site/site/index.html",
            "labs/static-site/site/404.html",
            "labs/static-site/nginx/site.conf",
            "labs/app-port/board.env"
        ],
        "the files the chapters give"
    );
    assert_eq!(graded, ["cargo xtask check lab1 --step static-site --up", "cargo xtask check lab1 --up"]);
    assert!(Path::new(&repo).join("labs/static-site/site/style.css").is_file(), "the starter's stylesheet is kept");
}
