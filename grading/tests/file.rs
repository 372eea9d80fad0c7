//! `file` checks on a real folder: `no_links_out` finds every symbolic link that leads out of a
//! web root - absolute, relative, dangling, to a folder - and lets links inside it be;
//! `no_names_matching` finds what a web root must not serve; `not_matches` on a folder reads
//! each of its files.

use grading::runner::{grade, StepRubric};
use grading::{GradeConfig, Rubric, Vars};
use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::Path;

const RUBRIC: &str = r#"
[[check]]
id = "no-links-out"
title = "Nothing in the site leads outside it"
points = 1
hint = "h"
file = { path = "site", no_links_out = true }
"#;

/// Grades `RUBRIC` on `submission`: (status, actual).
async fn judge(submission: &Path) -> (String, String) {
    judge_with(RUBRIC, submission).await
}

/// Grades the one check of `rubric` on `submission`: (status, actual).
async fn judge_with(rubric: &str, submission: &Path) -> (String, String) {
    let step = StepRubric {
        id: "s".into(),
        title: "S".into(),
        rubric: Rubric::parse(Path::new("r.toml"), rubric, &BTreeSet::new()).unwrap(),
    };
    let config = GradeConfig { vars: Vars::new(), submission: submission.to_path_buf(), ..Default::default() };
    let report = grade("lab", "Lab", &[step], &config).await;
    let (_, check) = report.checks().next().unwrap();
    (check.status.as_str().to_string(), check.actual.clone().unwrap_or_default())
}

/// A site with a page, a folder, and links that stay inside it (one of them dangling).
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("img")).unwrap();
    std::fs::write(site.join("index.html"), "<title>t</title>").unwrap();
    symlink("index.html", site.join("home.html")).unwrap();
    symlink("../index.html", site.join("img/up.html")).unwrap();
    symlink(site.join("img"), site.join("pictures")).unwrap();
    symlink("img/not-yet.png", site.join("later.png")).unwrap();
    dir
}

#[tokio::test]
async fn links_inside_the_folder_pass() {
    let dir = site();
    assert_eq!(judge(dir.path()).await, ("passed".to_string(), String::new()));
}

#[tokio::test]
async fn every_link_out_fails_and_is_named() {
    let dir = site();
    let site = dir.path().join("site");
    symlink("/etc/passwd", site.join("passwd")).unwrap();
    symlink("../../../../../../etc", site.join("img/etc")).unwrap();
    symlink("/", site.join("disk")).unwrap();
    symlink("/etc/no-such-file-here", site.join("dangling")).unwrap();
    symlink("../outside.txt", site.join("next-door")).unwrap();
    let (status, actual) = judge(dir.path()).await;
    assert_eq!(status, "failed");
    assert_eq!(
        actual,
        "5 links lead outside: site/dangling -> /etc/no-such-file-here, site/disk -> /, site/img/etc -> \
         ../../../../../../etc, site/next-door -> ../outside.txt, site/passwd -> /etc/passwd"
    );
}

#[tokio::test]
async fn the_folder_must_be_a_folder_of_the_submission() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(judge(dir.path()).await, ("failed".to_string(), "site does not exist".to_string()));
    symlink("/etc", dir.path().join("site")).unwrap();
    assert_eq!(judge(dir.path()).await, ("failed".to_string(), "site is itself a symbolic link (to /etc)".to_string()));
}

#[test]
fn no_links_out_is_about_a_folder() {
    let rubric = RUBRIC.replace("no_links_out = true", "no_links_out = true, contains = [\"x\"]");
    let error = Rubric::parse(Path::new("r.toml"), &rubric, &BTreeSet::new()).unwrap_err().to_string();
    assert!(error.contains("no_links_out is about a folder"), "{error}");
}

#[tokio::test]
async fn hidden_and_backup_files_in_a_web_root_are_named() {
    let rubric = RUBRIC.replace(
        "file = { path = \"site\", no_links_out = true }",
        "file = { path = \"site\", no_names_matching = '^\\.|~$|(?i)\\.(bak|swp)$' }",
    );
    let dir = site();
    assert_eq!(judge_with(&rubric, dir.path()).await, ("passed".to_string(), String::new()));
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join(".git/objects")).unwrap();
    std::fs::write(site.join("img/.env"), "X=1").unwrap();
    std::fs::write(site.join("index.html~"), "").unwrap();
    std::fs::write(site.join("index.HTML.BAK"), "").unwrap();
    let (status, actual) = judge_with(&rubric, dir.path()).await;
    assert_eq!(status, "failed");
    // A hidden folder is named once, not everything in it.
    assert_eq!(actual, "4 served from it: site/.git/, site/img/.env, site/index.HTML.BAK, site/index.html~");
}

#[tokio::test]
async fn not_matches_on_a_folder_reads_each_file() {
    let rubric = RUBRIC.replace(
        "file = { path = \"site\", no_links_out = true }",
        "file = { path = \"conf\", not_matches = '^\\s*autoindex\\s+on' }",
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("a.conf"), "server {\n  listen 80;\n}\n").unwrap();
    assert_eq!(judge_with(&rubric, dir.path()).await, ("passed".to_string(), String::new()));
    std::fs::write(conf.join("b.conf"), "server {\n  autoindex off;\n  location /x/ {\n    autoindex on;\n  }\n}\n")
        .unwrap();
    assert_eq!(
        judge_with(&rubric, dir.path()).await,
        ("failed".to_string(), "conf/b.conf line 4: autoindex on;".to_string())
    );
}

/// `matches` says what it found, not only that the pattern missed: each `explain` in order, then
/// an empty file, then "nothing in it matches"; the expected side in the rubric's words.
#[tokio::test]
async fn a_missed_pattern_says_what_was_found() {
    const TITLE: &str = r#"
[[check]]
id = "title"
title = "The page has a title"
points = 1
hint = "h"
[check.file]
path = "index.html"
matches = "(?is)<title>[^<]*\\S[^<]*</title>"
matches_means = "a <title> that has text in it"
explain = [
  { when = "(?is)<title>\\s*</title>", actual = "the title is empty" },
  { when = "\\S", actual = "the page has no <title>" },
]
"#;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("index.html");
    for (text, status, actual) in [
        ("<head><title>Ada</title></head>", "passed", ""),
        ("<head><title> </title></head>", "failed", "the title is empty"),
        ("<head></head>", "failed", "the page has no <title>"),
        ("", "failed", "index.html is empty"),
    ] {
        std::fs::write(&page, text).unwrap();
        assert_eq!(judge_with(TITLE, dir.path()).await, (status.to_string(), actual.to_string()), "{text:?}");
    }
    // Without explain: the pattern missed, said so.
    let plain = TITLE.split("matches_means").next().unwrap();
    std::fs::write(&page, "<head></head>").unwrap();
    assert_eq!(judge_with(plain, dir.path()).await.1, "nothing in index.html matches");
    // An explain with no pattern to explain is a rubric error.
    let orphan = TITLE.replace("matches = \"(?is)<title>[^<]*\\\\S[^<]*</title>\"\n", "");
    assert!(Rubric::parse(Path::new("r.toml"), &orphan, &BTreeSet::new()).is_err());
}
